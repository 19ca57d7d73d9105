// vpcep: the command-line client of vpcepd. It talks to the daemon over HTTP only (the VPCEP v1
// API under /v1/{project}), prints readable tables by default and the API's JSON with --json.
// Exit codes: 0 success, 1 an API or network failure, 2 a usage error (nothing was sent).
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import Table from 'cli-table3';
import fs from 'node:fs';
import { isIP } from 'node:net';
import { BANDWIDTH_MAX_MBPS, BANDWIDTH_MIN_MBPS } from '../model/bandwidth.js';
import { DEFAULTS } from '../model/defaults.js';
import { DomainError } from '../model/errors.js';
import { PROVISIONING_DELAY_MAX_MS } from '../model/provisioning-faults.js';
import { parseScopeKey, parseToxic, TOXIC_TYPES } from '../model/toxics.js';
import { ENDPOINT_STATUSES, SERVICE_STATUSES, TCP_PROXY_VALUES } from '../model/types.js';
import { isIpv4, parseCidr } from '../net/cidr.js';
import { traceRows } from './trace-text.js';
import { version } from '../version.js';
import { waitReady } from './wait.js';
import { boundedFetch, jsonOf } from './bounded-fetch.js';
import { isLocalAddress, resolveFrom } from './resolve.js';

const DEFAULT_URL = 'http://127.0.0.1:9480';

interface Globals {
  url: string;
  token?: string;
  project?: string;
  json?: boolean;
  quiet?: boolean;
  /** where --url came from: 'env' for VPCEP_URL (a message names what the user set) */
  urlSource?: string;
}

type Json = any; // API bodies: printed, not trusted
type Query = Record<string, string | number | undefined>;

/** A failure to report as `vpcep: <message>` with an exit code; never a stack trace. */
class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

// -- the request helper and the output helpers

/** the longest a Node timer waits: 2^31-1 ms (24.8 days); a longer one fires at once, with a warning */
const MAX_SECONDS = Math.floor((2 ** 31 - 1) / 1000); // 2147483 s

/** how long one API call may take before the CLI gives up on it: 30 s, or VPCEP_CLI_TIMEOUT seconds */
function requestTimeoutMs(): number {
  const v = process.env.VPCEP_CLI_TIMEOUT;
  if (v === undefined || v === '') return 30_000;
  const s = Number(v);
  if (!(s > 0 && s <= MAX_SECONDS)) throw new CliError(`invalid VPCEP_CLI_TIMEOUT ${JSON.stringify(v)}: expected seconds, more than 0 and at most ${MAX_SECONDS}`, 2);
  return s * 1000;
}

/** One API call: returns the parsed JSON body (undefined for 204), or throws a CliError. */
async function api(g: Globals, method: string, path: string, body?: unknown, query: Query = {}): Promise<Json> {
  if (!g.project) throw new CliError('no project id: pass --project ID or set VPCEP_PROJECT (vpcepd logs the project ids of its accounts at start)', 2);
  checkUrlAndToken(g);
  // an id of . or .. is a dot segment that URL parsing resolves away (.. reached the parent path,
  // answered "no such API"); no percent-encoding survives it either
  const segments = path.split('?')[0]!.split('/').slice(1);
  const dots = [g.project, ...segments].find((x) => x === '.' || x === '..');
  if (dots) throw new CliError(`invalid id ${JSON.stringify(dots)}: . and .. are not ids`, 2);
  // an empty id (EP=$(vpcep -q ...) that failed) left an empty segment, answered "no such API"
  if (segments.includes('')) throw new CliError('invalid id "": an id is not empty', 2);
  const timeoutMs = requestTimeoutMs();
  const url = new URL(`${g.url.replace(/\/+$/, '')}/v1/${encodeURIComponent(g.project)}${path}`);
  for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
  const headers: Record<string, string> = {};
  if (g.token !== undefined) headers['x-auth-token'] = g.token;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  let text: string;
  try {
    ({ res, text } = await boundedFetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }, timeoutMs));
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (e as Error).message;
    throw new CliError(`cannot reach vpcepd at ${g.url}: ${why} (is the daemon running? see --url or VPCEP_URL)`);
  }
  const parsed = (text ? jsonOf(text) : undefined) as Json;
  if (!res.ok) {
    if (parsed && typeof parsed.error_code === 'string') throw new CliError(`${parsed.error_code}: ${parsed.error_msg}`);
    throw new CliError(`HTTP ${res.status} ${res.statusText} from ${url.origin}${text ? `: ${excerpt(text)}` : ''} ${NOT_VPCEPD}`);
  }
  if (text && parsed === undefined) throw new CliError(`unexpected non-JSON answer from ${url.origin}: ${excerpt(text)} ${NOT_VPCEPD}`);
  return parsed;
}

const NOT_VPCEPD = '(is --url a vpcepd?)';

/** --url (or VPCEP_URL) is an http or https URL without credentials and the token one header line, else a usage error before anything is sent */
function checkUrlAndToken(g: Globals): void {
  let url: URL | undefined;
  try {
    url = new URL(g.url);
  } catch {
    // reported below
  }
  const urlSetting = g.urlSource === 'env' ? 'VPCEP_URL' : '--url';
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new CliError(`invalid ${urlSetting} ${JSON.stringify(g.url)}: expected e.g. ${DEFAULT_URL}`, 2);
  }
  // fetch() refuses a URL with credentials, which read as an unreachable daemon (the parser finds
  // them in http:/u:p@h and http:\\u:p@h too)
  if (url.username !== '' || url.password !== '') {
    throw new CliError(`invalid ${urlSetting}: it holds a user or password (user:password@); vpcepd's API takes its token by --token or VPCEP_TOKEN`, 2);
  }
  // the API's path goes after the URL's: a query or fragment (an empty one too: `/?`) would come before it
  if (g.url.includes('?') || g.url.includes('#')) {
    throw new CliError(`invalid ${urlSetting} ${JSON.stringify(g.url)}: a query (?) or fragment (#) has no place in it; expected e.g. ${DEFAULT_URL}`, 2);
  }
  // a header value is one line of visible characters: fetch() refused it as if the daemon were unreachable
  if (g.token !== undefined && !/^[\x20-\x7e]*$/.test(g.token)) {
    throw new CliError('invalid --token (or VPCEP_TOKEN): it holds a newline, a control or a non-ASCII character', 2);
  }
}

/** the start of a body that is not the API's (an HTML page), on one line */
const excerpt = (text: string): string => {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 200 ? `${line.slice(0, 200)}...` : line;
};

/** a message on one line: control characters (a newline, a terminal escape, C1's CSI too) written as JSON writes them */
const oneLine = (message: string): string => message.replace(/[\u0000-\u001f\u007f-\u009f]/g, escaped);

/** a control character as JSON writes it (\n, \u001b), and those JSON leaves as they are (DEL, C1) as \uXXXX */
function escaped(c: string): string {
  const j = JSON.stringify(c).slice(1, -1);
  return j !== c ? j : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

type Cell = string | number | boolean | null | undefined;

/** a table cell: control characters but the line break (a terminal escape another account wrote into a shared record) written as JSON writes them */
const cellText = (c: Cell): string => (c === null || c === undefined ? '' : String(c).replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g, escaped));

/** Prints a table: with `head` one row per record, without it a FIELD/VALUE listing. */
function table(rows: Cell[][], head?: string[]): void {
  const t = new Table({ ...(head ? { head } : {}), style: { head: [], border: [], compact: true } });
  t.push(...rows.map((r) => r.map(cellText)));
  console.log(t.toString());
}

/** the most items the API answers in one page (its limit's bound) */
const PAGE = DEFAULTS.api.maxListLimit;

/**
 * A list call: the page asked for when --limit or --offset is given, else every item, page by
 * page (the API answers 10 by default: a list that stopped there hid the rest without a word)
 */
async function listed(g: Globals, path: string, key: string, o: { limit?: number; offset?: number }, query: Query = {}): Promise<Json> {
  if (o.limit !== undefined || o.offset !== undefined) return api(g, 'GET', path, undefined, { ...query, limit: o.limit, offset: o.offset });
  const items: Json[] = [];
  for (;;) {
    const page = await api(g, 'GET', path, undefined, { ...query, limit: PAGE, offset: items.length });
    if (!Array.isArray(page?.[key]) || typeof page.total_count !== 'number') return page; // not vpcepd's: out() says so
    items.push(...page[key]);
    if (page[key].length === 0 || items.length >= page.total_count) return { [key]: items, total_count: page.total_count };
  }
}

const pageOptions = (c: Command): Command => c
  .option('--limit <n>', `at most this many, 0-${PAGE} (default: all, page by page)`, wholeNumber(PAGE))
  .option('--offset <n>', 'skip this many', wholeNumber(DEFAULTS.api.maxListOffset));

/** --quiet prints only a created resource's id (nothing else); --json the body as is; otherwise `human` prints it. */
function out(g: Globals, body: Json, human: (b: Json) => void, created = false): void {
  if (g.quiet) {
    if (created && body?.id) console.log(body.id);
  } else if (g.json) {
    if (body !== undefined) console.log(JSON.stringify(body, null, 2));
  } else {
    try {
      human(body);
    } catch (e) {
      // the body lacks what vpcepd's answers carry: another server answered JSON
      if (e instanceof TypeError) throw new CliError(`the answer from ${g.url} is not the vpcepd API's (${e.message}) ${NOT_VPCEPD}`);
      throw e;
    }
  }
}

const ports = (p: Json[] = []): string => p.map((m) => `${m.client_port}:${m.server_port}`).join(',');
const list = (v: unknown): string => (Array.isArray(v) ? v.join(',') : v === undefined ? '' : String(v));

function showService(s: Json): void {
  table([
    ['id', s.id], ['name', s.service_name], ['status', s.status], ['server_type', s.server_type],
    ['port_id', s.port_id], ['vpc_id', s.vpc_id], ['ports', ports(s.ports)], ['approval', s.approval_enabled ? 'on' : 'off'],
    ['tcp_proxy', s.tcp_proxy],
    // README "Bandwidth": each endpoint connection's default; absent: no limit
    ['bandwidth', s.bandwidth === undefined || s.bandwidth === null ? 'none (no limit)' : `${s.bandwidth} Mbit/s`],
    ...(s.custom_domain_name ? [
      ['custom_domain', `${s.custom_domain_name} (${s.custom_domain_verification.state})`],
      ['verification', `TXT ${s.custom_domain_verification.name}.<domain> ${JSON.stringify(s.custom_domain_verification.value)}`],
    ] : []),
    ['description', s.description], ['created_at', s.created_at], ['updated_at', s.updated_at],
    ...(s.error ? [['error', s.error.map((e: Json) => `${e.error_code}: ${e.error_message}`).join('; ')]] : []),
  ]);
}

function showEndpoint(e: Json): void {
  table([
    ['id', e.id], ['service_id', e.endpoint_service_id], ['service', e.endpoint_service_name], ['status', e.status],
    ['ip', e.ip], ['host_ip', e.host_ip], ['ports', e.service_type === 'gateway' ? `${list(e.ports)} (on the service's public addresses)` : list(e.ports)], ['snat_ip', e.snat_ip], ['marker_id', e.marker_id], ['vpc_id', e.vpc_id], ['subnet_id', e.subnet_id],
    ...(e.enis?.length > 1 ? [['enis', e.enis.map((n: Json) => `${n.zone} ${n.subnet_id} ${n.ip} (${n.host_ip})`).join('\n')]] : []),
    ['whitelist', list(e.whitelist)], ['enable_whitelist', e.enable_whitelist], ['dns_names', list(e.dns_names)],
    ...(e.service_type === 'gateway' ? [['routetables', list(e.routetables)], ['policy_statement', e.policy_statement ? JSON.stringify(e.policy_statement) : 'default (allow all)']] : []),
    ['description', e.description], ['created_at', e.created_at], ['updated_at', e.updated_at],
    ...(e.error ? [['error', e.error.map((x: Json) => `${x.error_code}: ${x.error_message}`).join('; ')]] : []),
  ]);
}

const connections = (b: Json): void => table(
  b.connections.map((c: Json) => [c.id, c.marker_id, c.domain_id, c.status, c.bandwidth === undefined ? '-' : `${c.bandwidth} (${c.bandwidth_source})`, c.created_at]),
  ['ENDPOINT_ID', 'MARKER_ID', 'DOMAIN_ID', 'STATUS', 'BANDWIDTH_MBPS', 'CREATED_AT'],
);

// -- flag parsers: a bad value is a usage error (exit 2) before any request

function portMapping(value: string, previous: Json[] = []): Json[] {
  const m = /^(\d{1,5}):(\d{1,5})$/.exec(value);
  const [c, s] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
  if (!m || c < 1 || c > 65535 || s < 1 || s > 65535) {
    throw new InvalidArgumentError('expected CLIENT:SERVER, two ports from 1 to 65535 (e.g. 80:8080)');
  }
  return [...previous, { client_port: c, server_port: s, protocol: 'TCP' }];
}

/**
 * a DNS name: 1-253 characters (a trailing dot besides), labels of 1-63 letters, digits, -, _ or *
 * (Node's resolver refused a space, a quote or a control character as EBADNAME, which read as the
 * DNS server's failure)
 */
function dnsName(value: string): string {
  const name = value.replace(/\.$/, '');
  const labels = name.split('.');
  if (name.length === 0 || name.length > 253 || labels.some((l) => !/^[A-Za-z0-9_*-]{1,63}$/.test(l))) {
    throw new InvalidArgumentError('expected a DNS name: labels of 1 to 63 letters, digits, -, _ or * joined by dots, 253 characters in all');
  }
  return value;
}

/** a DNS server as Node's resolver takes it: IPv4[:PORT] or [IPv6]:PORT, the port 1-65535 */
function dnsServer(value: string): string {
  const m = /^(?:(\d{1,3}(?:\.\d{1,3}){3})|\[([0-9a-fA-F:.]+)\])(?::(\d{1,5}))?$/.exec(value);
  const port = m?.[3] === undefined ? 53 : Number(m[3]);
  if (!m || !(m[1] ? isIpv4(m[1]) : isIP(m[2]!) === 6) || port < 1 || port > 65535) {
    throw new InvalidArgumentError('expected HOST:PORT, an IPv4 address (or [IPv6]) and a port from 1 to 65535, e.g. 127.0.0.1:5353');
  }
  return value;
}

/** an option's IPv4 address (the DNS client's own source) */
function ipv4Address(value: string): string {
  if (!isIpv4(value)) throw new InvalidArgumentError('expected an IPv4 address (e.g. 127.2.1.50)');
  return value;
}

/** a --timeout: whole seconds a timer can wait, from FROM */
const seconds = (from: number) => (value: string): number => {
  if (!/^\d{1,7}$/.test(value) || Number(value) < from || Number(value) > MAX_SECONDS) throw new InvalidArgumentError(`expected whole seconds from ${from} to ${MAX_SECONDS}`);
  return Number(value);
};

/** a share from 0 to 1, in decimals (a toxic's toxicity) */
function share(value: string): number {
  if (!/^\d*\.?\d+$/.test(value) || Number(value) > 1) throw new InvalidArgumentError('expected a number from 0 to 1, e.g. 0.5');
  return Number(value);
}

/** a TCP port: 1-65535 (FROM 0 for a source port) */
const tcpPort = (from: number) => (value: string): number => {
  const n = Number(value);
  if (!/^\d{1,5}$/.test(value) || n < from || n > 65535) throw new InvalidArgumentError(`expected a port from ${from} to 65535`);
  return n;
};

/** an IPv4 address */
function ipv4(value: string): string {
  if (!isIpv4(value)) throw new InvalidArgumentError('expected an IPv4 address (e.g. 10.0.1.50)');
  return value;
}

/** a whole number from 0 to MAX, the API's bound (a page's size or start, a delay in ms) */
const wholeNumber = (max: number) => (value: string): number => {
  if (!/^\d+$/.test(value) || Number(value) > max) throw new InvalidArgumentError(`expected an integer from 0 to ${max}`);
  return Number(value);
};

/** a bandwidth in Mbit/s (100-10240) */
const mbps = (value: string): number => {
  const n = Number(value);
  if (!/^\d{1,9}$/.test(value) || n < BANDWIDTH_MIN_MBPS || n > BANDWIDTH_MAX_MBPS) throw new InvalidArgumentError(`expected Mbit/s (${BANDWIDTH_MIN_MBPS}-${BANDWIDTH_MAX_MBPS})`);
  return n;
};
/** a bandwidth in Mbit/s, or NONE (the word given; kept as it is: commander reads a parser's null as absent) */
const bandwidth = (none: string) => (value: string): number | string => {
  if (value === none) return none;
  try {
    return mbps(value);
  } catch {
    throw new InvalidArgumentError(`expected Mbit/s (${BANDWIDTH_MIN_MBPS}-${BANDWIDTH_MAX_MBPS}) or ${none}`);
  }
};
/** the API's bandwidth field: the number, or null for the word */
const mbpsOrNull = (v: number | string): number | null => (typeof v === 'number' ? v : null);

const csv = (value: string): string[] => value.split(',').map((s) => s.trim()).filter(Boolean);

/** a toxic's scope as the API takes it (an empty id in it, as a failed EP=$(vpcep -q ...) leaves, was sent) */
function toxicScope(value: string): string {
  try {
    parseScopeKey(value);
  } catch (e) {
    if (e instanceof DomainError) throw new InvalidArgumentError(e.message);
    throw e;
  }
  return value;
}

/** a proxy's name: <endpoint id>:<port> */
function proxyName(value: string): string {
  const m = /^(.+):(\d{1,5})$/.exec(value);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new InvalidArgumentError('expected <endpoint id>:<port>, the port 1-65535 (vpcep proxy list names them)');
  return value;
}

/** an endpoint whitelist entry: an IPv4 address or CIDR */
function whitelistEntry(value: string): string {
  const r = parseCidr(value, { allowBare: true });
  if (!r.ok) throw new InvalidArgumentError(`expected IPv4 addresses or CIDRs (e.g. 10.0.1.0/24): ${r.reason}`);
  return value;
}
const whitelist = (value: string): string[] => csv(value).map(whitelistEntry);
const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** a JSON file's content, or a usage error */
function readJsonFile(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new CliError(`cannot read JSON from ${file}: ${(err as Error).message}`, 2);
  }
}

/** a domain id becomes iam:domain::<id>; `*` and full iam:domain:: strings pass as they are */
const permission = (d: string): string => (d === '*' || d.startsWith('iam:domain::') ? d : `iam:domain::${d}`);

// -- the commands

export function buildProgram(): Command {
  const program = new Command('vpcep')
    .description('command-line client of vpcepd, the VPC endpoint simulator (Huawei VPCEP v1 API)')
    .addOption(new Option('--url <url>', 'vpcepd base URL').env('VPCEP_URL').default(DEFAULT_URL))
    .addOption(new Option('--token <token>', 'X-Auth-Token of the calling account').env('VPCEP_TOKEN'))
    .addOption(new Option('--project <id>', 'project id of the calling account').env('VPCEP_PROJECT'))
    .option('--json', 'print the API\'s JSON body instead of a table')
    .option('-q, --quiet', 'print only the new id on creates, nothing else on success (for scripts: no jq needed)')
    .version(version(), '-V, --version', 'print the version')
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', `
Examples:
  export VPCEP_URL=http://127.0.0.1:9480 VPCEP_TOKEN=provider-secret VPCEP_PROJECT=0605767f3e00d5762fbdc01fc3b5e3c2
  vpcep wait --timeout 30                        # until vpcepd is ready (exit 0), else exit 1
  vpcep vpc list                                 # your VPCs, subnets, backend ports and their 127.k addresses
  SVC=$(vpcep -q service create --port-id port-web --vpc-id vpc-app --server-type VM --port 8000:8080)
  vpcep service permit $SVC c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0
  vpcep --json endpoint show EP_ID              # the API's JSON

Exit codes: 0 success, 1 an API or network failure (or vpcep wait timed out), 2 a usage error,
3 vpcep wait: the daemon answers but a listener failed.`);

  // each action gets the global options and its own
  const run = <A extends unknown[]>(fn: (g: Globals, opts: Json, ...args: A) => Promise<void>) =>
    async function (this: Command, ...args: unknown[]): Promise<void> {
      const g = { ...this.optsWithGlobals(), urlSource: this.getOptionValueSourceWithGlobals('url') } as Globals;
      await fn(g, this.opts(), ...(args.slice(0, this.registeredArguments.length) as A));
    };

  // -- endpoint services (provider side)
  const service = program.command('service').description('endpoint services (provider side)');
  const S = '/vpc-endpoint-services';

  service.command('create').description('create an endpoint service')
    .requiredOption('--port-id <id>', 'backend port id')
    .requiredOption('--vpc-id <id>', 'VPC of the backend port')
    .addOption(new Option('--server-type <type>', 'backend type').choices(['VM', 'LB']).makeOptionMandatory())
    .requiredOption('--port <client:server>', 'port mapping, repeatable', portMapping)
    .option('--name <name>', 'service name (up to 16 of A-Z a-z 0-9 _ -)')
    .option('--no-approval', 'connect endpoints without the provider\'s approval')
    .addOption(new Option('--tcp-proxy <mode>', 'client information passing').choices(TCP_PROXY_VALUES))
    .option('--description <text>', 'description')
    .option('--bandwidth <mbps>', 'default bandwidth of each endpoint connection, Mbit/s (100-10240; default: no limit)', mbps)
    .addHelpText('after', `
Examples:
  vpcep service create --port-id port-web --vpc-id vpc-app --server-type VM --port 8000:8080 --name web
  SVC=$(vpcep -q service create --port-id port-web --vpc-id vpc-app --server-type VM --port 8000:8080 --no-approval)`)
    .action(run(async (g, o) => {
      // JSON.stringify leaves out the fields that are undefined.
      const body = {
        port_id: o.portId, vpc_id: o.vpcId, server_type: o.serverType, ports: o.port, service_name: o.name,
        approval_enabled: o.approval === false ? false : undefined, tcp_proxy: o.tcpProxy, description: o.description, bandwidth: o.bandwidth,
      };
      out(g, await api(g, 'POST', S, body), showService, true);
    }));

  pageOptions(service.command('list').description('list your endpoint services'))
    .option('--name <name>', 'only services whose name contains this')
    .addOption(new Option('--status <status>', 'only services in this status').choices(SERVICE_STATUSES))
    .action(run(async (g, o) => {
      const q = { endpoint_service_name: o.name, status: o.status };
      out(g, await listed(g, S, 'endpoint_services', o, q), (b) => table(
        b.endpoint_services.map((s: Json) => [s.id, s.service_name, s.status, s.server_type, ports(s.ports), s.approval_enabled ? 'on' : 'off', s.connection_count]),
        ['ID', 'NAME', 'STATUS', 'SERVER_TYPE', 'PORTS', 'APPROVAL', 'CONNECTIONS'],
      ));
    }));

  service.command('show').description('show an endpoint service').argument('<id>')
    .action(run(async (g, _o, id: string) => out(g, await api(g, 'GET', `${S}/${encodeURIComponent(id)}`), showService)));

  service.command('modify').description('modify an endpoint service').argument('<id>')
    .option('--name <name>', 'new service name')
    .addOption(new Option('--approval <on|off>', 'whether connections need approval').choices(['on', 'off']))
    .option('--port <client:server>', 'port mapping, repeatable; replaces the whole list', portMapping)
    .addOption(new Option('--tcp-proxy <mode>', 'client information passing').choices(TCP_PROXY_VALUES))
    .option('--description <text>', 'description')
    .option('--custom-domain <name>', 'the service\'s own domain name for consumers (pending until verified; "none" removes it)')
    .option('--bandwidth <mbps|none>', 'default bandwidth of each endpoint connection, Mbit/s (100-10240), or none', bandwidth('none'))
    .action(run(async (g, o, id: string) => {
      const body = {
        ...(o.customDomain !== undefined ? { custom_domain_name: o.customDomain === 'none' ? null : o.customDomain } : {}),
        ...(o.bandwidth !== undefined ? { bandwidth: mbpsOrNull(o.bandwidth) } : {}),
        ...(o.name !== undefined ? { service_name: o.name } : {}),
        ...(o.approval !== undefined ? { approval_enabled: o.approval === 'on' } : {}),
        ...(o.port !== undefined ? { ports: o.port } : {}),
        ...(o.tcpProxy !== undefined ? { tcp_proxy: o.tcpProxy } : {}),
        ...(o.description !== undefined ? { description: o.description } : {}),
      };
      if (Object.keys(body).length === 0) throw new CliError('nothing to modify: give --name, --approval, --port, --tcp-proxy, --description, --custom-domain or --bandwidth', 2);
      out(g, await api(g, 'PUT', `${S}/${encodeURIComponent(id)}`, body), showService);
    }));

  service.command('verify-domain').description('verify the service\'s custom domain name by its TXT record in the public zone (see `vpcep dns record`)').argument('<id>')
    .action(run(async (g, _o, id: string) => out(g, await api(g, 'POST', `${S}/${encodeURIComponent(id)}/custom-domain/verify`), showService)));

  service.command('delete').description('delete an endpoint service').argument('<id>')
    .action(run(async (g, _o, id: string) => {
      out(g, await api(g, 'DELETE', `${S}/${encodeURIComponent(id)}`), () => console.log(`deleted endpoint service ${id}`));
    }));

  pageOptions(service.command('connections').description('list the endpoints connected to a service').argument('<id>'))
    .action(run(async (g, o, id: string) => out(g, await listed(g, `${S}/${encodeURIComponent(id)}/connections`, 'connections', o), connections)));

  for (const [name, action, verb] of [['accept', 'receive', 'accepted'], ['reject', 'reject', 'rejected']] as const) {
    service.command(name).description(`${name} an endpoint's connection to your service`)
      .argument('<service-id>').argument('<endpoint-id>')
      .action(run(async (g, _o, serviceId: string, endpointId: string) => {
        const body = { action, endpoints: [endpointId] };
        out(g, await api(g, 'POST', `${S}/${encodeURIComponent(serviceId)}/connections/action`, body), (b) => {
          console.log(`${verb} endpoint ${endpointId} (status ${b.connections[0]?.status ?? 'unknown'})`);
        });
      }));
  }

  service.command('bandwidth').description('set the bandwidth of an endpoint connection of your service, live (Alibaba\'s, vpcep-sim\'s route)')
    .argument('<service-id>').argument('<endpoint-id>').argument('<mbps|default>', 'Mbit/s (100-10240), or default: the service\'s', bandwidth('default'))
    .action(run(async (g, _o, serviceId: string, endpointId: string, mbps: number | string) => {
      const body = { connections: [{ id: endpointId, bandwidth: mbpsOrNull(mbps) }] };
      out(g, await api(g, 'PUT', `${S}/${encodeURIComponent(serviceId)}/connections/bandwidth`, body), connections);
    }));

  pageOptions(service.command('permissions').description('list the accounts allowed to connect to a service').argument('<id>'))
    .action(run(async (g, o, id: string) => {
      out(g, await listed(g, `${S}/${encodeURIComponent(id)}/permissions`, 'permissions', o), (b) => table(
        b.permissions.map((p: Json) => [p.id, p.permission, p.created_at]),
        ['ID', 'PERMISSION', 'CREATED_AT'],
      ));
    }));

  for (const [name, action, verb] of [['permit', 'add', 'permitted'], ['unpermit', 'remove', 'removed']] as const) {
    service.command(name)
      .description(`${action === 'add' ? 'add accounts to' : 'remove accounts from'} the service's whitelist: domain ids, iam:domain::<id> or *`)
      .argument('<id>').argument('<domain...>')
      .action(run(async (g, _o, id: string, domains: string[]) => {
        const body = { action, permissions: domains.map(permission) };
        out(g, await api(g, 'POST', `${S}/${encodeURIComponent(id)}/permissions/action`, body), (b) => {
          for (const p of b.permissions as string[]) console.log(`${verb} ${p}`);
        });
      }));
  }

  pageOptions(service.command('public').description('list the public (operator-run) services'))
    .action(run(async (g, o) => {
      out(g, await listed(g, `${S}/public`, 'endpoint_services', o), (b) => table(
        b.endpoint_services.map((s: Json) => [s.id, s.service_name, s.service_type, s.owner,
          s.error ? `${s.status}: ${s.error.map((e: Json) => `${e.error_code}: ${e.error_message}`).join('; ')}` : s.status]),
        ['ID', 'NAME', 'TYPE', 'OWNER', 'STATUS'],
      ));
    }));

  // -- endpoints (consumer side)
  const endpoint = program.command('endpoint').description('VPC endpoints (consumer side)');
  const E = '/vpc-endpoints';

  endpoint.command('create').description('create an endpoint to a service')
    .requiredOption('--service-id <id>', 'endpoint service id')
    .requiredOption('--vpc-id <id>', 'your VPC')
    .option('--subnet-id <id>', 'subnet of the endpoint')
    .option('--port-ip <ip>', 'fixed private IP in the subnet', ipv4)
    .option('--subnet-ids <id,...>', 'an ENI in each of these subnets, at most one per zone (instead of --subnet-id)', csv)
    .option('--whitelist <cidr,...>', 'comma-separated IPs or CIDRs allowed to use the endpoint', whitelist)
    .option('--enable-whitelist', 'enforce the whitelist')
    .option('--enable-dns', 'private DNS: its private domain name, and the service\'s verified custom domain name in your VPC')
    .option('--routetable <id>', 'gateway endpoints: a route table to inject the route into (repeatable; default: the VPC\'s default table)', collect)
    .option('--policy <file>', 'gateway endpoints: a JSON file with the policy_statement array')
    .option('--description <text>', 'description')
    .addHelpText('after', `
Examples:
  vpcep endpoint create --service-id SVC_ID --vpc-id vpc-client --subnet-id subnet-a
  EP=$(vpcep -q endpoint create --service-id SVC_ID --vpc-id vpc-client --subnet-id subnet-a --port-ip 10.0.1.9)
  vpcep endpoint create --service-id OBS_ID --vpc-id vpc-client --routetable rtb-a --policy policy.json`)
    .action(run(async (g, o) => {
      const body = {
        endpoint_service_id: o.serviceId, vpc_id: o.vpcId, subnet_id: o.subnetId, port_ip: o.portIp, subnet_ids: o.subnetIds,
        whitelist: o.whitelist, enable_whitelist: o.enableWhitelist ? true : undefined, enable_dns: o.enableDns ? true : undefined, description: o.description,
        routetables: o.routetable, policy_statement: o.policy === undefined ? undefined : readJsonFile(o.policy),
      };
      out(g, await api(g, 'POST', E, body), showEndpoint, true);
    }));

  pageOptions(endpoint.command('list').description('list your endpoints'))
    .option('--vpc-id <id>', 'only endpoints in this VPC')
    .addOption(new Option('--status <status>', 'only endpoints in this status').choices(ENDPOINT_STATUSES))
    .action(run(async (g, o) => {
      const q = { vpc_id: o.vpcId, status: o.status };
      out(g, await listed(g, E, 'endpoints', o, q), (b) => table(
        b.endpoints.map((e: Json) => [e.id, e.endpoint_service_name, e.status, e.ip, e.host_ip, e.marker_id]),
        ['ID', 'SERVICE', 'STATUS', 'IP', 'HOST_IP', 'MARKER_ID'],
      ));
    }));

  endpoint.command('show').description('show an endpoint').argument('<id>')
    .action(run(async (g, _o, id: string) => out(g, await api(g, 'GET', `${E}/${encodeURIComponent(id)}`), showEndpoint)));

  endpoint.command('delete').description('delete an endpoint').argument('<id>')
    .action(run(async (g, _o, id: string) => {
      out(g, await api(g, 'DELETE', `${E}/${encodeURIComponent(id)}`), () => console.log(`deleted endpoint ${id}`));
    }));

  for (const action of ['add', 'remove'] as const) {
    endpoint.command(`${action}-subnets`).description(`${action} ENIs (zones) of an interface endpoint, live${action === 'remove' ? ': their connections are cut' : ''}`)
      .argument('<id>').argument('<subnet-ids>', 'comma-separated subnet ids', csv)
      .action(run(async (g, _o, id: string, subnetIds: string[]) => {
        out(g, await api(g, 'POST', `${E}/${encodeURIComponent(id)}/subnets/action`, { action, subnet_ids: subnetIds }), showEndpoint);
      }));
  }

  endpoint.command('whitelist').description('replace an endpoint\'s whitelist and/or turn it on or off')
    .argument('<id>').argument('[cidr...]', 'IPs or CIDRs; they replace the whole list', (v: string, prev: string[] = []) => [...prev, whitelistEntry(v)])
    .option('--clear', 'empty the whitelist')
    .addOption(new Option('--enable', 'enforce the whitelist').conflicts('disable'))
    .option('--disable', 'stop enforcing the whitelist')
    .action(run(async (g, o, id: string, cidrs: string[]) => {
      if (o.clear && cidrs.length) throw new CliError('give CIDRs or --clear, not both', 2);
      const body = {
        ...(cidrs.length || o.clear ? { whitelist: o.clear ? [] : cidrs } : {}),
        ...(o.enable || o.disable ? { enable_whitelist: Boolean(o.enable) } : {}),
      };
      if (Object.keys(body).length === 0) throw new CliError('nothing to change: give CIDRs, --clear, --enable or --disable', 2);
      out(g, await api(g, 'PUT', `${E}/${encodeURIComponent(id)}`, body), showEndpoint);
    }));

  endpoint.command('routetables').description('replace the route tables a gateway endpoint injects its route into')
    .argument('<id>').argument('[table...]', 'route table ids (none: remove the endpoint\'s routes)')
    .action(run(async (g, _o, id: string, tables: string[]) => {
      out(g, await api(g, 'PUT', `${E}/${encodeURIComponent(id)}/routetables`, { routetables: tables }), showEndpoint);
    }));

  endpoint.command('policy').description('replace a gateway endpoint\'s policy')
    .argument('<id>').argument('<file>', 'a JSON file with the policy_statement array')
    .action(run(async (g, _o, id: string, file: string) => {
      out(g, await api(g, 'PUT', `${E}/${encodeURIComponent(id)}/policy`, { policy_statement: readJsonFile(file) }), showEndpoint);
    }));

  // -- route tables and the path tracer
  const rt = program.command('routetable').description('route tables of your VPCs');
  const showTable = (b: Json): void => {
    const t = b.routetable;
    console.log(`${t.id}  vpc ${t.vpc_id}${t.default ? '  (default)' : ''}  subnets: ${list(t.subnets.map((x: Json) => x.id)) || '-'}`);
    table(t.routes.map((r: Json) => [r.destination, r.type, r.nexthop, r.owner]), ['DESTINATION', 'TYPE', 'NEXTHOP', 'OWNER']);
  };
  rt.command('list').description('list your route tables').option('--vpc-id <id>', 'only this VPC\'s tables')
    .action(run(async (g, o) => {
      out(g, await api(g, 'GET', '/routetables', undefined, { vpc_id: o.vpcId }), (b) => table(
        b.routetables.map((t: Json) => [t.id, t.vpc_id, t.default ? 'yes' : '', list(t.subnets.map((x: Json) => x.id)), t.routes.length]),
        ['ID', 'VPC', 'DEFAULT', 'SUBNETS', 'ROUTES'],
      ));
    }));
  rt.command('show').description('show a route table and its routes').argument('<id>')
    .action(run(async (g, _o, id: string) => out(g, await api(g, 'GET', `/routetables/${encodeURIComponent(id)}`), showTable)));
  rt.command('add').description('add a user route').argument('<id>').argument('<destination>', 'a CIDR')
    .addOption(new Option('--type <type>', 'route type').choices(['igw', 'blackhole']).makeOptionMandatory())
    .action(run(async (g, o, id: string, destination: string) => {
      const body = { routetable: { routes: { add: [{ destination, type: o.type }] } } };
      out(g, await api(g, 'PUT', `/routetables/${encodeURIComponent(id)}`, body), showTable);
    }));
  rt.command('del').description('delete a user route').argument('<id>').argument('<destination>', 'the route\'s CIDR')
    .action(run(async (g, _o, id: string, destination: string) => {
      const body = { routetable: { routes: { del: [{ destination }] } } };
      out(g, await api(g, 'PUT', `/routetables/${encodeURIComponent(id)}`, body), showTable);
    }));

  program.command('trace').description('trace how a connection from a VPC (or on premises) to an address would be decided')
    .option('--vpc-id <id>', 'the client\'s VPC (omitted: an on-premises client, outside every VPC)')
    .requiredOption('--source <ip>', 'the client\'s private IP', ipv4)
    .requiredOption('--destination <ip>', 'the destination IP (e.g. an OBS-style service address)', ipv4)
    .requiredOption('--port <port>', 'the destination port', tcpPort(1))
    .option('--source-port <port>', 'the client\'s source port (a network ACL\'s outbound rules read it; omitted: an ephemeral one)', tcpPort(0))
    .addHelpText('after', `
Examples:
  vpcep trace --vpc-id vpc-client --source 10.0.1.50 --destination 10.0.1.2 --port 80     # a client of your VPC to your endpoint's private IP
  vpcep trace --vpc-id vpc-0123 --source 10.0.1.50 --destination 10.0.1.4 --port 443 --source-port 1000   # a client at source port 1000 (network ACLs)
  vpcep trace --source 127.0.0.1 --destination 127.2.1.2 --port 80                         # an on-premises client to the endpoint's host address
  vpcep trace --vpc-id vpc-app --source 10.0.1.50 --destination 100.125.0.10 --port 80    # a route to a public service (a gateway endpoint's)
  vpcep --json trace ...                                                                     # the whole trace, every field`)
    .action(run(async (g, o) => {
      const body = { vpc_id: o.vpcId, source_ip: o.source, destination_ip: o.destination, destination_port: o.port, source_port: o.sourcePort };
      out(g, await api(g, 'POST', '/trace', body), (b) => table(traceRows(b.trace)));
    }));

  // -- the caller's VPCs
  program.command('vpc').description('your VPCs').command('list')
    .description('list your VPCs with their subnets, backend ports and loopback number k (addresses at 127.k.c.d)')
    .action(run(async (g) => {
      out(g, await api(g, 'GET', '/vpcs'), (b) => table(
        b.vpcs.map((v: Json) => [
          v.id, v.cidr, `${v.number} (${v.host_prefix}.c.d)`,
          v.subnets.map((x: Json) => `${x.id} ${x.cidr} ${x.zone ?? ''}`.trimEnd()).join('\n'),
          v.ports.map((p: Json) => `${p.id} ${p.ip} ${p.type} -> ${p.target}`).join('\n'),
        ]),
        ['VPC', 'CIDR', 'K', 'SUBNETS', 'PORTS (ID IP TYPE -> REAL ADDRESS)'],
      ));
    }));

  // -- the fleet's nodes (README "Fleet")
  program.command('nodes').description('list the fleet\'s live nodes: name, API address, ENIs, connections, lease age, leader, config digest')
    .action(run(async (g) => out(g, await api(g, 'GET', '/sim/nodes'), (b) => table(b.nodes.map((n: Json) => [
      `${n.name}${n.self ? ' (this)' : ''}`, n.address, String(n.enis), String(n.connections),
      n.lease_age_s === null ? '-' : `${n.lease_age_s} s`, n.leader ? 'leader' : '',
      n.config === null || n.config === undefined ? '-' : `${n.config}${n.same_config === false ? ' (differs)' : ''}`,
    ]), ['NAME', 'ADDRESS', 'ENIS', 'CONNECTIONS', 'LEASE AGE', 'ROLE', 'CONFIG']))));

  // -- zones and a simulated outage (any account: the zones are the region's)
  const zonesTable = (b: Json) => table(b.zones.map((z: Json) => [z.zone, z.state]), ['ZONE', 'STATE']);
  program.command('zones').description('list the region\'s zones and whether each is up')
    .action(run(async (g) => out(g, await api(g, 'GET', '/sim/zones'), zonesTable)));
  const zone = program.command('zone').description('take a zone down (a simulated outage) or bring it back up');
  zone.command('down').description('take a zone down: its endpoint ENIs refuse connections and their live ones are cut').argument('<zone>')
    .action(run(async (g, _o, name: string) => out(g, await api(g, 'POST', `/sim/zones/${encodeURIComponent(name)}/down`), zonesTable)));
  zone.command('up').description('bring a zone back up: its ENIs accept connections again').argument('<zone>')
    .action(run(async (g, _o, name: string) => out(g, await api(g, 'POST', `/sim/zones/${encodeURIComponent(name)}/up`), zonesTable)));

  // -- toxics (README "Fault injection"): a scope is port:<endpoint id>:<port>, endpoint:<id>, service:<id>, zone:<zone> or all
  const toxicRow = (t: Json): Cell[] => [t.scope, t.name, t.type, t.stream, t.toxicity,
    Object.entries(t.attributes ?? {}).map(([k, v]) => `${k}=${String(v)}`).join(' ')];
  const toxicHead = ['SCOPE', 'NAME', 'TYPE', 'STREAM', 'TOXICITY', 'ATTRIBUTES'];
  const toxics = program.command('toxics').description('Toxiproxy\'s toxics on your endpoints, their ports and your services, or on a zone or the whole data plane');
  toxics.command('list').description('list the toxics you may see: your endpoints\' and services\', and those of zones and the whole data plane')
    .action(run(async (g) => out(g, await api(g, 'GET', '/sim/toxics'), (b) => table(b.toxics.map(toxicRow), toxicHead))));
  toxics.command('add').description('add a toxic: new connections of its scope are relayed through it, and live ones already relayed through toxics')
    .requiredOption('--scope <scope>', 'port:<endpoint id>:<port>, endpoint:<id>, service:<id>, zone:<zone> or all')
    .addOption(new Option('--type <type>', 'the toxic\'s type').choices(TOXIC_TYPES).makeOptionMandatory())
    .option('--stream <stream>', 'upstream (client to backend) or downstream (backend to client)', 'downstream')
    .option('--toxicity <share>', 'the share of connections it applies to, 0-1', share)
    .option('--name <name>', 'its name (default <type>_<stream>)')
    .option('--attribute <key=value>', 'an attribute, e.g. latency=100 (repeat the option)', (v: string, all: Record<string, number>) => {
      const m = /^([a-z_]+)=(-?\d+)$/.exec(v);
      if (!m) throw new InvalidArgumentError(`${v}: expected key=integer, e.g. latency=100`);
      return { ...all, [m[1]!]: Number(m[2]) };
    }, {})
    .addHelpText('after', `
Examples:
  vpcep toxics add --scope endpoint:EP_ID --type latency --attribute latency=100 --attribute jitter=20   # every port of an endpoint, backend to client
  vpcep toxics add --scope port:EP_ID:80 --type bandwidth --stream upstream --attribute rate=100       # one port, client to backend, 100 KB/s
  vpcep toxics add --scope zone:sim-1a --type reset_peer --toxicity 0.1 --attribute timeout=0         # one connection in ten of a zone reset
  vpcep toxics remove endpoint:EP_ID latency_downstream`)
    .action(run(async (g, o) => {
      const toxic = { type: o.type, stream: o.stream, ...(o.toxicity === undefined ? {} : { toxicity: o.toxicity }), ...(o.name ? { name: o.name } : {}), attributes: o.attribute };
      // what the API would refuse (an attribute past its ceiling, a bad scope) is a usage error: the model's own rules
      try {
        parseScopeKey(o.scope);
        parseToxic(toxic);
      } catch (e) {
        if (e instanceof DomainError) throw new CliError(e.message, 2);
        throw e;
      }
      const body = { scope: o.scope, ...toxic };
      out(g, await api(g, 'POST', '/sim/toxics', body), (t) => table([toxicRow(t)], toxicHead));
    }));
  toxics.command('remove').description('remove a toxic: new connections no longer meet it, live ones relayed through it are re-linked')
    .argument('<scope>', 'as toxics add --scope', toxicScope).argument('<name>')
    .action(run(async (g, _o, scope: string, name: string) => {
      await api(g, 'DELETE', `/sim/toxics/${encodeURIComponent(scope)}/${encodeURIComponent(name)}`);
      if (!g.quiet && !g.json) console.log(`removed ${name} from ${scope}`);
    }));
  // -- proxies (README "Fault injection"): your accepted endpoints' listeners, <endpoint id>:<port>
  const proxyRow = (p: Json): Cell[] => [p.name, p.listen, p.upstream, p.enabled ? 'yes' : 'no', p.toxics.length];
  const proxyHead = ['NAME', 'LISTEN', 'UPSTREAM', 'ENABLED', 'TOXICS'];
  const proxy = program.command('proxy').description('your endpoints\' listeners as Toxiproxy\'s proxies: list them, take one down and back');
  proxy.command('list').description('the proxies of your accepted endpoints, one per terminal port')
    .action(run(async (g) => out(g, await api(g, 'GET', '/sim/proxies'), (b) => table(b.proxies.map(proxyRow), proxyHead))));
  for (const [verb, what] of [['disable', 'take a proxy down: its listener closes, new connections are refused'], ['enable', 'bring a proxy back: its listener binds again']] as const) {
    proxy.command(verb).description(what).argument('<name>', '<endpoint id>:<port>', proxyName)
      .action(run(async (g, _o, name: string) => out(g, await api(g, 'POST', `/sim/proxies/${encodeURIComponent(name)}/${verb}`), (b) => table([proxyRow(b.proxy)], proxyHead))));
  }
  // -- provisioning faults (README "Provisioning faults")
  const faultsTable = (b: Json) => table([[b.faults.provisioning_delay_ms, b.faults.fail_next_activation.join(',') || '-']], ['PROVISIONING_DELAY_MS', 'FAIL_NEXT_ACTIVATION']);
  const faults = program.command('faults').description('provisioning faults: the activation delay, activation failures on demand');
  faults.command('show').description('the activation delay and your services whose next activation fails')
    .action(run(async (g) => out(g, await api(g, 'GET', '/sim/faults'), faultsTable)));
  faults.command('delay').description('each endpoint activation waits this long from now on (creating/pending meanwhile)').argument('<ms>', `milliseconds, 0-${PROVISIONING_DELAY_MAX_MS} (0: none)`, wholeNumber(PROVISIONING_DELAY_MAX_MS))
    .action(run(async (g, _o, ms: number) => out(g, await api(g, 'PUT', '/sim/faults', { provisioning_delay_ms: ms }), faultsTable)));
  faults.command('fail-activation').description('an endpoint\'s activation fails: now when creating, at its acceptance when pending').argument('<endpoint-id>')
    .option('--message <text>', 'the error message it fails with')
    .action(run(async (g, o, id: string) => {
      out(g, await api(g, 'POST', `/sim/endpoints/${encodeURIComponent(id)}/fail-activation`, { message: o.message }), (b) => console.log(`endpoint ${id}: ${b.status}`));
    }));
  faults.command('fail-next').description('the next endpoint activation of your service fails (one shot)').argument('<service-id>')
    .option('--message <text>', 'the error message it fails with')
    .action(run(async (g, o, id: string) => out(g, await api(g, 'POST', `/sim/endpoint-services/${encodeURIComponent(id)}/fail-next-activation`, { message: o.message }), faultsTable)));

  // -- readiness
  program.command('wait').description('wait until vpcepd answers and is ready (GET /ready), for scripts')
    .option('--timeout <seconds>', 'give up after this long (exit 1); 0: one check, which waits for its answer as any call does (VPCEP_CLI_TIMEOUT)', seconds(0), 30)
    .addHelpText('after', `
Exit codes: 0 ready; 1 not ready in time (the last answer or network error is printed);
3 the daemon answers but a public service's listeners cannot bind (the reasons are printed).

Example:
  vpcepd --config quickstart.yaml --data-dir /tmp/vpcep & vpcep wait --timeout 30 || exit 1`)
    .action(run(async (g, o) => {
      checkUrlAndToken(g);
      const r = await waitReady(g.url, o.timeout * 1000, requestTimeoutMs());
      if (r.failed.length) {
        throw new CliError(`vpcepd at ${g.url} is up, but not ready: ${r.failed.map((f) => `${f.service}: ${f.error_code}: ${f.error_msg}`).join('; ')}`, 3);
      }
      if (!r.ready) throw new CliError(`vpcepd at ${g.url} is not ready${o.timeout === 0 ? '' : ` after ${o.timeout} s`}: ${r.last}`);
      if (!g.quiet && !g.json) console.log(`vpcepd at ${g.url} is ready`);
    }));

  // -- vpcep-sim's public zone: the TXT records that prove providers' domains (any account)
  const dnsCmd = program.command('dns').description('vpcep-sim\'s public DNS zone');
  const record = dnsCmd.command('record').description('records of the public zone (TXT: a domain\'s verification)');
  const recordsTable = (b: Json) => table(b.records.map((r: Json) => [r.name, r.type, r.value, r.source]), ['NAME', 'TYPE', 'VALUE', 'SOURCE']);
  record.command('list').description('list the public zone\'s records')
    .action(run(async (g) => out(g, await api(g, 'GET', '/sim/dns/records'), recordsTable)));
  record.command('add').description('publish a TXT record (services waiting for it are verified)').argument('<name>').argument('<value>')
    .action(run(async (g, _o, name: string, value: string) => out(g, await api(g, 'POST', '/sim/dns/records', { name, type: 'TXT', value }), (b) => console.log(`published ${b.record.name} TXT ${JSON.stringify(b.record.value)}`))));
  record.command('remove').description('remove your records of a name (--value: only that one)').argument('<name>').option('--value <text>', 'only the record with this value')
    .action(run(async (g, o, name: string) => {
      const q = new URLSearchParams({ name, ...(o.value !== undefined ? { value: o.value } : {}) });
      out(g, await api(g, 'DELETE', `/sim/dns/records?${q}`), () => console.log(`removed ${name}`));
    }));

  // -- names, as a VPC's client resolves them
  program.command('resolve').description('resolve a name with vpcepd\'s DNS server as a client at --from sees it (its VPC\'s view)')
    .argument('<name>', 'a DNS name', dnsName)
    .option('--from <address>', 'the client\'s host address: 127.k.c.d is VPC k; another address: the public view', ipv4Address, '127.0.0.1')
    .addOption(new Option('--server <host:port>', 'vpcepd\'s DNS server (dns.listen)').env('VPCEP_DNS').default('127.0.0.1:5353').argParser(dnsServer))
    .option('--timeout <seconds>', 'give up after this long (exit 1)', seconds(1), 5)
    .addHelpText('after', `
Exit codes: 0 the name has addresses in that view; 1 it has none (NXDOMAIN, NODATA) or no answer came
(said on stderr; --json prints the answer either way); 2 a usage error, such as a --from that is
not an address of this host.

Example:
  vpcep resolve vpce-0a1b2c3d4e5f67890-1a2b3c4d.vpce-svc-0123456789abcdef0.us-east-1.vpce.amazonaws.com --from 127.2.1.50`)
    .action(run(async (g, o, name: string) => {
      if (!(await isLocalAddress(o.from))) {
        const [, , c, d] = (o.from as string).split('.');
        throw new CliError(`--from ${o.from} is not an address of this host: give the client's host address, 127.k.c.d in VPC k (${o.from} of VPC k is 127.k.${c}.${d}; vpcep vpc list shows k)`, 2);
      }
      let r;
      try {
        r = await resolveFrom(name, o.from, o.server, o.timeout * 1000);
      } catch (err) {
        throw new CliError((err as Error).message);
      }
      if (g.json) console.log(JSON.stringify(r, null, 2));
      else if (r.answers.length && !g.quiet) table(r.answers.map((a) => [r.name, 'A', a.ttl, a.address]), ['NAME', 'TYPE', 'TTL', 'ADDRESS']);
      if (!r.answers.length) {
        if (!g.json) process.stderr.write(`vpcep: ${oneLine(r.name)}: ${r.status} (as seen from ${r.from})\n`);
        process.exitCode = 1;
      }
    }));

  // -- quotas
  program.command('quota').description('show your quotas and their usage')
    .action(run(async (g) => {
      out(g, await api(g, 'GET', '/quotas'), (b) => table(
        b.quotas.resources.map((r: Json) => [r.type, r.used, r.quota]),
        ['TYPE', 'USED', 'QUOTA'],
      ));
    }));

  withHelpCommand(program);
  return program;
}

/**
 * `help [command...]` on a command and each of its groups, in place of commander's: for a command
 * it does not know, commander's printed the whole help, exit 2, without a word of what was wrong
 */
function withHelpCommand(parent: Command): void {
  for (const c of parent.commands) if (c.commands.length) withHelpCommand(c);
  parent.helpCommand(false);
  parent.command('help').description('display help for command').argument('[command...]', 'a command and its subcommands')
    .action((names: string[]) => {
      let c = parent;
      for (const name of names) {
        const sub = c.commands.find((x) => x.name() === name);
        if (!sub) c.error(`error: unknown command '${name}'`, { code: 'commander.unknownCommand' });
        c = sub!;
      }
      c.help();
    });
}

/**
 * A reader gone early (`vpcep --help | head -1`) ends the output quietly: it has what it wanted.
 * Any other failure to write (a full disk) fails the command, or a script would take the lost
 * output for success. console.log ignores its write errors; commander's help and version write to
 * process.stdout directly and crashed on the unhandled 'error' (an EPIPE stack trace, exit 1).
 */
function watchStdout(): void {
  // a closed stderr (`vpcep bogus 2>&1 | head -1`) has no one left to tell: the exit code says it
  process.stderr.on('error', () => {});
  let said = false;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED' || said) return;
    said = true;
    process.stderr.write(`vpcep: cannot write the output: ${err.code ?? err.message}\n`);
    process.exitCode = 1;
  });
}

/** Runs the CLI on a full argv (node, script, args...) and sets process.exitCode. */
export async function main(argv: string[]): Promise<void> {
  watchStdout();
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander has printed the message or the help already
      process.exitCode = e.exitCode === 0 ? 0 : 2;
    } else if (e instanceof CliError) {
      process.stderr.write(`vpcep: ${oneLine(e.message)}\n`);
      process.exitCode = e.exitCode;
    } else {
      process.stderr.write(`vpcep: unexpected error: ${oneLine(e instanceof Error ? e.message : String(e))}\n`);
      process.exitCode = 1;
    }
  }
}

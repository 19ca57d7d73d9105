// The config file's schema and its rules. Pure: takes the parsed document, returns a validated
// Config or throws ConfigError naming the path of every bad key and why.
import { closest, distance } from 'fastest-levenshtein';
import { z } from 'zod';
import {
  cidrContains, cidrsOverlap, cidrCovers, intToIp, ipToInt, isIpv4, lastAddress, parseCidr, SNAT_RANGE, type Cidr,
} from '../net/cidr.js';
import { MAX_VPC_NUMBER, MAX_VPC_PREFIX } from '../net/loopback.js';
import { DEFAULTS } from './defaults.js';
import {
  healthSettingsOutOfRange, NLB_HEALTH_DEFAULTS, NLB_UNHEALTHY_TERMINATION, unhealthyTerminationProblem, type HealthSettings, type UnhealthyTermination,
} from './health.js';
import { ON_PREMISES_VALUES, type OnPremises } from './isolation.js';
import { PROVISIONING_DELAY_MAX_MS } from './provisioning-faults.js';
import type { AwsAccessKey } from './types.js';
import { parseStoreSpec, STORE_DURABILITIES, type StoreDurability, type StoreSpec } from './store-spec.js';
import { defaultZones, zonesProblem } from './zones.js';

const NAME = /^[A-Za-z0-9_-]{1,64}$/;
/** listeners the public gateway services may need in all (addresses x ports) */
const MAX_PUBLIC_LISTENERS = 4096;
const ID = /^[A-Za-z0-9_-]{1,64}$/;
const HEX_ID = /^[A-Za-z0-9]{1,64}$/;
const AWS_ACCOUNT_ID = /^\d{12}$/;

const idField = z.string().regex(ID, 'must be 1-64 characters of A-Z a-z 0-9 _ -');
const portNumber = z.number().int().min(1).max(65535);
const quotaNumber = z.number().int().min(0).max(1_000_000_000);

/** an SNS topic's ARN (a connection notification's ConnectionNotificationArn) */
const SNS_TOPIC_ARN = /^arn:aws:sns:[a-z]{2}-[a-z]+-\d{1,2}:\d{12}:[A-Za-z0-9_-]{1,256}$/;

function isWebhookUrl(text: string): boolean {
  try {
    const u = new URL(text);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}

const routeSpec = z.strictObject({
  destination: z.string(),
  type: z.enum(['igw', 'blackhole'], { message: 'must be igw or blackhole (local and gateway_endpoint routes are managed by vpcep-sim)' }),
  nexthop: z.string().max(64).optional(),
});

/** a node's name in a fleet (fleet.node_name, vpcepd --node-name) */
export const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
export const NODE_NAME_RULE = 'must be 1-63 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit';

const schema = z.strictObject({
  region: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'must be 1-32 characters of a-z 0-9 -').optional(),
  listen: z.string().optional(),
  store: z.string().optional(),
  store_durability: z.enum(STORE_DURABILITIES, { message: 'must be process (an acknowledged write survives a crash of the daemon) or power (also an OS crash or a power cut)' }).optional(),
  zones: z.array(z.string()).optional(),
  dataplane: z.strictObject({
    snat: z.enum(['auto', 'kernel', 'logical']).optional(),
    backend_connect_timeout_ms: z.number().int().min(1).max(600_000).optional(),
    idle_timeout_ms: z.number().int().min(1).max(86_400_000).optional(),
    drain_timeout_ms: z.number().int().min(0).max(3_600_000).optional(),
    max_connections: z.number().int().min(1).max(10_000_000).optional(),
    on_premises: z.enum(ON_PREMISES_VALUES, { message: 'must be allow or deny' }).optional(),
    socket_buffer_bytes: z.number().int().min(0).max(64 * 1024 * 1024).optional(),
    snat_ports: z.string().regex(/^\d{1,5}-\d{1,5}$/, 'must be a port range LOW-HIGH, e.g. 1024-65535').optional(),
    deregistration_delay_s: z.number().int().min(0).max(3600).optional(),
    health_check: z.strictObject({
      interval: z.number().optional(),
      timeout: z.number().optional(),
      healthy_threshold: z.number().optional(),
      unhealthy_threshold: z.number().optional(),
    }).optional(),
    unhealthy_connection_termination: z.strictObject({
      enabled: z.boolean().optional(),
      draining_interval: z.number().optional(),
    }).optional(),
  }).optional(),
  api: z.strictObject({
    max_pipelined_requests: z.number().int().min(1).max(1024).optional(),
    max_connections: z.number().int().min(1).max(65_536).optional(),
    request_timeout_ms: z.number().int().min(1).max(3_600_000).optional(),
    headers_timeout_ms: z.number().int().min(1).max(3_600_000).optional(),
    idle_timeout_ms: z.number().int().min(1).max(3_600_000).optional(),
    keep_alive_timeout_ms: z.number().int().min(1).max(3_600_000).optional(),
  }).optional(),
  flow_logs: z.strictObject({
    destination: z.enum(['off', 'stdout', 'file']).optional(),
    file: z.string().min(1).max(4096).optional(),
    aggregation_interval_s: z.union([z.literal(60), z.literal(600)], { message: 'must be 60 or 600 (AWS\'s maximum aggregation intervals)' }).optional(),
    max_file_bytes: z.number().int().min(1024).max(2 ** 40).optional(),
    rotate_every: z.enum(['never', 'hourly', 'daily']).optional(),
    max_files: z.number().int().min(1).max(10_000).optional(),
    buffer_bytes: z.number().int().min(65_536).max(1024 * 1024 * 1024).optional(),
  }).optional(),
  dns: z.strictObject({
    listen: z.string().optional(),
    enabled: z.boolean().optional(),
    ttl: z.number().int().min(0, 'must be 0-86400 (seconds)').max(86_400, 'must be 0-86400 (seconds)').optional(),
    forward: z.boolean().optional(),
    forwarders: z.array(z.string().regex(/^\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?$/, 'must be an IPv4 address, or IPv4:PORT')).min(1).max(8).nullable().optional(),
    public_records: z.array(z.strictObject({
      name: z.string().min(1).max(253).regex(/^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?\.?$/, 'must be a DNS name (labels of a-z 0-9 - _)'),
      type: z.literal('TXT', { message: 'must be TXT (the public zone holds domain verification records)' }),
      value: z.string().refine((v) => new TextEncoder().encode(v).length <= 255, 'must be 255 bytes at most (one TXT string)'),
    })).max(1000).optional(),
  }).optional(),
  faults: z.strictObject({
    listen: z.string().optional(),
    enabled: z.boolean().optional(),
    /** ms an endpoint's activation waits before it turns accepted (AWS pending -> available); 0: none */
    provisioning_delay_ms: z.number().int().min(0).max(PROVISIONING_DELAY_MAX_MS).optional(),
  }).optional(),
  fleet: z.strictObject({
    /** the TTL (s) of each node's lease on etcd: a node that dies is gone (its ENIs placed elsewhere) after it */
    lease_ttl_seconds: z.number().int().min(1).max(300).optional(),
    node_name: z.string().regex(NODE_NAME, NODE_NAME_RULE).optional(),
  }).optional(),
  metrics: z.strictObject({
    token: z.string().min(16, 'must be at least 16 characters').max(256).regex(/^\S*$/, 'must not contain spaces').optional(),
  }).optional(),
  accounts: z.array(z.strictObject({
    name: z.string().regex(NAME, 'must be 1-64 characters of A-Z a-z 0-9 _ -'),
    domain_id: z.string().regex(HEX_ID, 'must be 1-64 characters of A-Z a-z 0-9').optional(),
    project_id: z.string().regex(HEX_ID, 'must be 1-64 characters of A-Z a-z 0-9').optional(),
    token: z.string().min(8, 'must be at least 8 characters').max(256)
      .regex(/^\S(.*\S)?$/, 'must not be blank, nor begin or end with whitespace (an HTTP header loses it)'),
    aws: z.strictObject({
      account_id: z.string({ message: 'must be 12 digits as a string: quote it ("111111111111") so that YAML keeps its leading zeros' })
        .regex(AWS_ACCOUNT_ID, 'must be 12 digits (an AWS account id)').optional(),
      access_key_id: z.string().regex(/^[A-Z0-9]{16,128}$/, 'must be 16-128 characters of A-Z 0-9 (an AWS access key id)').optional(),
      secret_access_key: z.string().min(8, 'must be at least 8 characters').max(256).regex(/^\S*$/, 'must not contain whitespace').optional(),
    }).optional(),
    quotas: z.strictObject({
      endpoint_service: quotaNumber.optional(),
      endpoint: quotaNumber.optional(),
      connections_per_endpoint: quotaNumber.optional(),
      vpc: quotaNumber.optional(),
      dns_records: quotaNumber.optional(),
    }).optional(),
  })).optional(),
  vpcs: z.array(z.strictObject({
    id: idField.optional(),
    account: z.string(),
    cidr: z.string(),
    subnets: z.array(z.strictObject({
      id: idField.optional(),
      cidr: z.string(),
      zone: z.string().optional(),
    })).optional(),
    ports: z.array(z.strictObject({
      id: idField.optional(),
      subnet: z.string(),
      ip: z.string(),
      type: z.enum(['VM', 'LB']).optional(),
      target: z.string().optional(),
    })).optional(),
    route_tables: z.array(z.strictObject({
      id: idField.optional(),
      default: z.boolean().optional(),
      subnets: z.array(z.string()).optional(),
      routes: z.array(routeSpec).optional(),
    })).optional(),
  })).optional(),
  aws: z.strictObject({
    sns_topics: z.array(z.strictObject({
      arn: z.string().regex(SNS_TOPIC_ARN, 'must be an SNS topic ARN: arn:aws:sns:<region>:<12-digit account>:<name of 1-256 A-Z a-z 0-9 _ ->'),
      url: z.string().max(2048).refine(isWebhookUrl, 'must be an http:// or https:// URL (the webhook the topic\'s messages are POSTed to)'),
      // the AWS accounts whose notifications may publish to it (the topic's policy); by default its own
      accounts: z.array(z.string().regex(AWS_ACCOUNT_ID, 'must be 12 digits (an AWS account id)')).max(1000).optional(),
    })).optional(),
  }).optional(),
  public_services: z.array(z.strictObject({
    name: z.string().regex(/^[A-Za-z0-9_-]{1,16}$/, 'must be 1-16 characters of A-Z a-z 0-9 _ -'),
    service_type: z.enum(['gateway', 'interface']),
    prefix_list: z.strictObject({ id: idField, cidrs: z.array(z.string()).min(1) }).optional(),
    ports: z.array(z.strictObject({
      port: portNumber,
      target: z.string().optional(),
      /** several backends, each in a zone (interface services): one chosen per connection */
      backends: z.array(z.strictObject({ target: z.string(), zone: z.string().optional() })).optional(),
    })).min(1),
  })).optional(),
});

export type RawConfig = z.infer<typeof schema>;

/** the keys the config file accepts at PATH (`['vpcs', 0, 'subnets', 1]`): none where PATH leads to no object */
function keysAt(path: readonly PropertyKey[]): string[] {
  let s: z.ZodType = schema;
  const unwrap = () => {
    while (s instanceof z.ZodOptional || s instanceof z.ZodArray) s = (s instanceof z.ZodOptional ? s.unwrap() : s.element) as z.ZodType;
  };
  for (const seg of path) {
    unwrap();
    if (typeof seg === 'number') continue;
    if (!(s instanceof z.ZodObject)) return [];
    const next = (s.shape as Record<string, z.ZodType>)[String(seg)];
    if (!next) return [];
    s = next;
  }
  unwrap();
  return s instanceof z.ZodObject ? Object.keys(s.shape as Record<string, z.ZodType>) : [];
}

/** the known key a mistyped KEY most likely meant: within 2 edits (1 for keys of 4 letters or fewer), else null */
function closestKey(key: string, known: readonly string[]): string | null {
  if (!known.length) return null;
  const best = closest(key, known as string[]);
  return distance(key, best) <= (key.length <= 4 ? 1 : 2) ? best : null;
}

/** every key the config file accepts, by path (`vpcs[].subnets[].zone`), with its schema */
function configKeys(): Array<[string, z.ZodType]> {
  const walk = (s: z.ZodType, at: string): Array<[string, z.ZodType]> => {
    if (s instanceof z.ZodOptional) return walk(s.unwrap() as z.ZodType, at);
    if (s instanceof z.ZodArray) return walk(s.element as z.ZodType, `${at}[]`);
    if (!(s instanceof z.ZodObject)) return [];
    return Object.entries(s.shape as Record<string, z.ZodType>).flatMap(([k, v]): Array<[string, z.ZodType]> => {
      const path = at === '' ? k : `${at}.${k}`;
      return [[path, v], ...walk(v, path)];
    });
  };
  return walk(schema, '');
}

/** every key path the config file accepts (`vpcs[].subnets[].zone`): the README's reference is checked against it */
export function configKeyPaths(): string[] {
  return configKeys().map(([path]) => path);
}

/** the number keys the schema bounds at both ends, with their bounds: the README's reference is checked against them */
export function configNumberRanges(): Array<{ path: string; min: number; max: number }> {
  return configKeys().flatMap(([path, s]) => {
    const n = s instanceof z.ZodOptional ? s.unwrap() as z.ZodType : s;
    if (!(n instanceof z.ZodNumber) || n.minValue === null || n.maxValue === null) return [];
    const { minValue: min, maxValue: max } = n;
    return Math.abs(min) < Number.MAX_SAFE_INTEGER && Math.abs(max) < Number.MAX_SAFE_INTEGER ? [{ path, min, max }] : [];
  });
}

export interface AccountSpec {
  readonly name: string;
  readonly domain_id?: string;
  readonly project_id?: string;
  readonly token?: string;
  readonly quotas: { endpoint_service: number; endpoint: number; connections_per_endpoint: number; vpc: number; dns_records: number };
  /** the AWS identity; an access key's id and secret come together */
  readonly aws?: { readonly account_id?: string; readonly access_key?: AwsAccessKey };
}

export interface VpcSpec {
  readonly id?: string;
  readonly account: string;
  readonly cidr: string;
  /** zone: one of the config's zones (Config.zones); absent: the first */
  readonly subnets: ReadonlyArray<{ id?: string; cidr: string; zone?: string }>;
  readonly ports: ReadonlyArray<{ id?: string; subnet: string; ip: string; type: 'VM' | 'LB'; target?: string }>;
  readonly route_tables: ReadonlyArray<{
    id?: string; default: boolean; subnets: readonly string[];
    routes: ReadonlyArray<{ destination: string; type: 'igw' | 'blackhole'; nexthop?: string }>;
  }>;
}

export interface PublicServiceSpec {
  readonly name: string;
  readonly service_type: 'gateway' | 'interface';
  readonly prefix_list?: { id: string; cidrs: readonly string[] };
  /** target: the first backend's (the one-target shorthand's only one); backends: every one, each in its zone (null: every zone) */
  readonly ports: ReadonlyArray<{ port: number; target: string; backends?: ReadonlyArray<{ target: string; zone: string | null }> }>;
}

export interface Config {
  readonly region: string;
  /** the region's availability zones (src/model/zones.ts): `<region>a`, `<region>b`, `<region>c` unless given */
  readonly zones: readonly string[];
  readonly listen: { host: string; port: number };
  /** where the state lives (src/model/store-spec.ts): the data dir's SQLite file, or etcd */
  readonly store: StoreSpec;
  /** what an acknowledged write survives on SQLite: a crash of the daemon, or also of the OS (store-spec.ts) */
  readonly storeDurability: StoreDurability;
  readonly dataplane: {
    readonly snat: 'auto' | 'kernel' | 'logical';
    readonly backendConnectTimeoutMs: number;
    readonly idleTimeoutMs: number;
    readonly drainTimeoutMs: number;
    readonly maxConnections: number;
    /** clients outside every VPC (the host, 127.0.0.1): allowed to every endpoint, or refused */
    readonly onPremises: OnPremises;
    readonly socketBufferBytes: number;
    /** the source ports each endpoint's SNAT address hands out (both ends included) */
    readonly snatPorts: { readonly low: number; readonly high: number };
    /** seconds a backend removed from a port-backed service keeps its live connections (0-3600) */
    readonly deregistrationDelayS: number;
    /** the health checks of port-backed services without their own (AWS's NLB defaults unless set) */
    readonly healthCheck: HealthSettings;
    /** what happens to the connections of a backend that turns unhealthy, for services without their own (AWS's NLB default: reset at once) */
    readonly unhealthyTermination: UnhealthyTermination;
  };
  readonly api: {
    readonly maxPipelinedRequests: number;
    readonly maxConnections: number;
    readonly requestTimeoutMs: number;
    readonly headersTimeoutMs: number;
    readonly idleTimeoutMs: number;
    readonly keepAliveTimeoutMs: number;
  };
  /** connection flow logs (src/telemetry/flow-log.ts) */
  readonly flowLogs: FlowLogConfig;
  /** the embedded DNS server (src/dns/) */
  readonly dns: DnsConfig;
  /** Toxiproxy's HTTP API over the data plane's toxics (src/api/toxiproxy/, README "Fault injection"), and the provisioning faults (src/control/provisioning-faults.ts) */
  readonly faults: { readonly enabled: boolean; readonly listen: { readonly host: string; readonly port: number }; readonly provisioningDelayMs: number };
  /** without a token, per-endpoint series are served to no one */
  readonly metrics: { readonly token?: string };
  /** the nodes sharing an etcd store (src/store/fleet.ts, README "Fleet"); the name defaults to <host name>-<node id> */
  readonly fleet: { readonly leaseTtlS: number; readonly nodeName?: string };
  /** empty: the daemon runs with the one `default` account */
  readonly accounts: readonly AccountSpec[];
  readonly vpcs: readonly VpcSpec[];
  readonly public_services: readonly PublicServiceSpec[];
  /** connection notifications: each SNS topic ARN, the webhook its messages go to, and the AWS accounts that may name it */
  readonly aws: { readonly snsTopics: readonly { readonly arn: string; readonly url: string; readonly accounts: readonly string[] }[] };
}

export interface DnsConfig {
  readonly enabled: boolean;
  /** UDP and TCP */
  readonly listen: { readonly host: string; readonly port: number };
  /** the TTL of every answer (s) */
  readonly ttlS: number;
  /** names under no zone vpcep-sim serves: to the host's resolvers (true), else NXDOMAIN */
  readonly forward: boolean;
  /** where forwarded queries go (HOST or HOST:PORT); absent: the host's resolvers (/etc/resolv.conf) */
  readonly forwarders?: readonly string[];
  /** the public zone's records from the start (where providers prove their domains: TXT) */
  readonly publicRecords: readonly { readonly name: string; readonly type: 'TXT'; readonly value: string }[];
}

export interface FlowLogConfig {
  readonly destination: 'off' | 'stdout' | 'file';
  /** relative to the data dir unless absolute */
  readonly file: string;
  readonly aggregationIntervalS: 60 | 600;
  readonly maxFileBytes: number;
  readonly rotateEvery: 'never' | 'hourly' | 'daily';
  readonly maxFiles: number;
  readonly bufferBytes: number;
}

export class ConfigError extends Error {
  readonly problems: readonly string[];
  /** one problem: one line; several: one per line under the first. HEADING: what is wrong with SOURCE */
  constructor(source: string, problems: string[], heading = 'invalid configuration') {
    super(problems.length === 1 ? `${source}: ${heading}: ${problems[0]}` : `${source}: ${heading}:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** a key's path as the problems name it: vpcs[0].subnets[1].cidr, (top level) */
export function pathText(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out || '(top level)';
}

export function parseListen(text: string): { host: string; port: number } | null {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}|localhost):(\d{1,5})$/.exec(text);
  if (!m) return null;
  const host = m[1] === 'localhost' ? '127.0.0.1' : m[1]!;
  const port = Number(m[2]);
  if (!isIpv4(host) || port < 0 || port > 65535) return null;
  return { host, port };
}

/** two of the daemon's listeners on one address (port 0 is a free port each: never the same); 0.0.0.0 is every address of its port */
export function sameListen(a: { host: string; port: number }, b: { host: string; port: number }): boolean {
  return a.port !== 0 && a.port === b.port && (a.host === b.host || a.host === '0.0.0.0' || b.host === '0.0.0.0');
}

/** host:port of a public service's real server */
export function parseTarget(text: string): { host: string; port: number } | null {
  const r = parseListen(text);
  return r && r.port > 0 ? r : null;
}

/** Validates a parsed config document; `source` names the file in every message. */
export function validateConfig(raw: unknown, source: string): Config {
  const parsed = schema.safeParse(raw ?? {});
  if (!parsed.success) {
    throw new ConfigError(source, parsed.error.issues.map((i) => {
      if (i.code === 'unrecognized_keys') {
        const known = keysAt(i.path);
        const guesses = i.keys.map((k) => closestKey(k, known)).filter((g): g is string => g !== null);
        const guess = guesses.length ? ` (did you mean ${guesses.map((g) => JSON.stringify(g)).join(', ')}?)` : '';
        const hint = i.path.length ? '' : ` (known keys: ${Object.keys(schema.shape).join(', ')})`;
        return `${pathText(i.path)}: unknown key ${i.keys.map((k) => JSON.stringify(k)).join(', ')}${guess}${hint}`;
      }
      return `${pathText(i.path)}: ${i.message}`;
    }));
  }
  const c = parsed.data;
  const problems: string[] = [];
  const bad = (path: string, why: string) => problems.push(`${path}: ${why}`);

  const listenText = c.listen ?? DEFAULTS.listen;
  const listen = parseListen(listenText);
  if (!listen) bad('listen', `${JSON.stringify(listenText)} is not HOST:PORT with an IPv4 host`);
  const store = parseStoreSpec(c.store ?? 'sqlite');
  if (typeof store === 'string') bad('store', store);
  const A = DEFAULTS.api;
  const api = {
    maxPipelinedRequests: c.api?.max_pipelined_requests ?? A.maxPipelinedRequests,
    maxConnections: c.api?.max_connections ?? A.maxConnections,
    requestTimeoutMs: c.api?.request_timeout_ms ?? A.requestTimeoutMs,
    headersTimeoutMs: c.api?.headers_timeout_ms ?? A.headersTimeoutMs,
    idleTimeoutMs: c.api?.idle_timeout_ms ?? A.idleTimeoutMs,
    keepAliveTimeoutMs: c.api?.keep_alive_timeout_ms ?? A.keepAliveTimeoutMs,
  };
  // node:http refuses a headers timeout longer than the request timeout
  if (api.headersTimeoutMs > api.requestTimeoutMs) bad('api.headers_timeout_ms', `${api.headersTimeoutMs} is longer than request_timeout_ms (${api.requestTimeoutMs})`);

  const accounts: AccountSpec[] = (c.accounts ?? []).map((a, i) => ({
    name: a.name, domain_id: a.domain_id, project_id: a.project_id, token: a.token,
    quotas: { ...DEFAULTS.quotas, ...a.quotas },
    ...(a.aws ? { aws: awsSpec(a.aws, `accounts[${i}].aws`, bad) } : {}),
  }));
  const accountNames = new Set<string>();
  const seenUnique = new Map<string, string>();
  const unique = (space: string, value: string | undefined, path: string) => {
    if (value === undefined) return;
    const key = `${space}:${value}`;
    const first = seenUnique.get(key);
    // a secret is named by where it is, never shown
    if (first) bad(path, space === 'token' ? `the same token as ${first}` : `duplicate ${space} ${JSON.stringify(value)} (first at ${first})`);
    else seenUnique.set(key, path);
  };
  accounts.forEach((a, i) => {
    unique('account name', a.name, `accounts[${i}].name`);
    unique('domain_id', a.domain_id, `accounts[${i}].domain_id`);
    unique('project_id', a.project_id, `accounts[${i}].project_id`);
    unique('token', a.token, `accounts[${i}].token`);
    unique('AWS account_id', a.aws?.account_id, `accounts[${i}].aws.account_id`);
    unique('AWS access_key_id', a.aws?.access_key?.id, `accounts[${i}].aws.access_key_id`);
    accountNames.add(a.name);
  });
  if (accounts.length === 0) accountNames.add('default');
  // the metrics token reads every tenant's series: an account's token must not be it
  unique('token', c.metrics?.token, 'metrics.token');

  const region = c.region ?? DEFAULTS.region;
  const zones = c.zones ?? defaultZones(region);
  const zonesBad = zonesProblem(region, zones);
  if (zonesBad) bad('zones', zonesBad);

  const vpcs: VpcSpec[] = [];
  /** the VPCs without an id by their natural key, account and CIDR (the inventory's key for their generated id) */
  const vpcKeys = new Map<string, string>();
  if ((c.vpcs ?? []).length > MAX_VPC_NUMBER) bad('vpcs', `at most ${MAX_VPC_NUMBER} VPCs fit the loopback addressing`);
  (c.vpcs ?? []).forEach((v, vi) => {
    const at = `vpcs[${vi}]`;
    unique('id', v.id, `${at}.id`);
    if (!accountNames.has(v.account)) bad(`${at}.account`, `no account named ${JSON.stringify(v.account)}`);
    const vc = parseCidr(v.cidr, { strict: true });
    let vpcCidr: Cidr | null = null;
    if (!vc.ok) bad(`${at}.cidr`, vc.reason);
    else if (vc.cidr.prefix < MAX_VPC_PREFIX) bad(`${at}.cidr`, `${v.cidr} is wider than /16: a VPC must be /16 or longer to map onto 127.k.0.0/16`);
    else if (cidrsOverlap(vc.cidr, SNAT_RANGE)) bad(`${at}.cidr`, `${v.cidr} overlaps 198.19.128.0/17, the range endpoints SNAT into`);
    else vpcCidr = vc.cidr;
    if (v.id === undefined && vc.ok) {
      // both would be kept under one id: the second VPC replaced the first, its subnets and ports with it
      const key = `${v.account} ${vc.cidr.text}`;
      const first = vpcKeys.get(key);
      if (first) bad(`${at}`, `a second VPC of account ${JSON.stringify(v.account)} with CIDR ${vc.cidr.text} and no id (first at ${first}): without an id a VPC is known by its account and CIDR; give each an id`);
      else vpcKeys.set(key, at);
    }

    const subnetCidrs = new Map<string, Cidr>();
    const subnets = (v.subnets ?? []).map((s, si) => {
      const sat = `${at}.subnets[${si}]`;
      unique('id', s.id, `${sat}.id`);
      if (s.zone !== undefined && !zonesBad && !zones.includes(s.zone)) {
        bad(`${sat}.zone`, `unknown zone ${JSON.stringify(s.zone)}: the region's zones are ${zones.join(', ')} (top-level key zones)`);
      }
      const sc = parseCidr(s.cidr, { strict: true });
      if (!sc.ok) { bad(`${sat}.cidr`, sc.reason); return s; }
      if (sc.cidr.prefix > 29) { bad(`${sat}.cidr`, `${s.cidr} is too small: a subnet needs /29 or wider`); return s; }
      if (vpcCidr && !cidrCovers(vpcCidr, sc.cidr)) { bad(`${sat}.cidr`, `${s.cidr} is outside its VPC ${v.cidr}`); return s; }
      for (const [other, oc] of subnetCidrs) {
        if (cidrsOverlap(oc, sc.cidr)) bad(`${sat}.cidr`, `${s.cidr} overlaps subnet ${other} of the same VPC`);
      }
      subnetCidrs.set(s.id ?? s.cidr, sc.cidr);
      return s;
    });
    const subnetRef = (ref: string) => subnets.find((s) => s.id === ref || (s.id === undefined && s.cidr === ref));

    const portIps = new Set<string>();
    const ports = (v.ports ?? []).map((p, pi) => {
      const pat = `${at}.ports[${pi}]`;
      unique('id', p.id, `${pat}.id`);
      const s = subnetRef(p.subnet);
      if (!s) bad(`${pat}.subnet`, `no subnet ${JSON.stringify(p.subnet)} in this VPC`);
      if (!isIpv4(p.ip)) bad(`${pat}.ip`, `${JSON.stringify(p.ip)} is not an IPv4 address`);
      else if (s) {
        const sc = subnetCidrs.get(s.id ?? s.cidr);
        const ip = ipToInt(p.ip);
        if (sc && !cidrContains(sc, ip)) bad(`${pat}.ip`, `${p.ip} is outside subnet ${s.cidr}`);
        else if (sc && reservedReason(sc, ip)) bad(`${pat}.ip`, `${p.ip} is ${reservedReason(sc, ip)} of subnet ${s.cidr}`);
      }
      if (portIps.has(p.ip)) bad(`${pat}.ip`, `${p.ip} is used by another port of this VPC`);
      portIps.add(p.ip);
      if (p.target !== undefined && !isIpv4(p.target)) bad(`${pat}.target`, `${JSON.stringify(p.target)} is not an IPv4 address`);
      return { id: p.id, subnet: p.subnet, ip: p.ip, type: p.type ?? 'VM', target: p.target };
    });

    const tables = (v.route_tables ?? []).map((t, ti) => {
      const tat = `${at}.route_tables[${ti}]`;
      unique('id', t.id, `${tat}.id`);
      (t.subnets ?? []).forEach((ref, ri) => {
        if (!subnetRef(ref)) bad(`${tat}.subnets[${ri}]`, `no subnet ${JSON.stringify(ref)} in this VPC`);
        unique(`route table association of subnet in ${at}`, ref, `${tat}.subnets[${ri}]`);
      });
      // the rules of the route-table API (src/control/route-tables.ts changeUserRoutes): one route per
      // destination (two made the list's order decide), none inside the VPC's CIDR
      const destinations = new Set<string>();
      const vpcCidr = parseCidr(v.cidr);
      (t.routes ?? []).forEach((r, ri) => {
        const rc = parseCidr(r.destination, { strict: true });
        if (!rc.ok) {
          bad(`${tat}.routes[${ri}].destination`, rc.reason);
          return;
        }
        if (destinations.has(rc.cidr.text)) bad(`${tat}.routes[${ri}].destination`, `a second route to ${rc.cidr.text} in this table`);
        destinations.add(rc.cidr.text);
        if (vpcCidr.ok && cidrCovers(vpcCidr.cidr, rc.cidr)) {
          bad(`${tat}.routes[${ri}].destination`, `${rc.cidr.text} lies inside the VPC's ${vpcCidr.cidr.text}: such a route only supports interface and instance targets (EC2's rule), not ${r.type}`);
        }
      });
      return { id: t.id, default: t.default ?? false, subnets: t.subnets ?? [], routes: t.routes ?? [] };
    });
    if (tables.filter((t) => t.default).length > 1) bad(`${at}.route_tables`, 'more than one default route table');
    vpcs.push({ id: v.id, account: v.account, cidr: v.cidr, subnets, ports, route_tables: tables });
  });

  const publicServices: PublicServiceSpec[] = [];
  let publicListeners = 0;
  const publicLow16: Array<{ lo: number; hi: number; at: string }> = [];
  (c.public_services ?? []).forEach((p, i) => {
    const at = `public_services[${i}]`;
    unique('public service name', p.name, `${at}.name`);
    if (p.service_type === 'gateway' && !p.prefix_list) bad(`${at}.prefix_list`, 'a gateway service needs a prefix_list');
    if (p.service_type === 'interface' && p.prefix_list) bad(`${at}.prefix_list`, 'only gateway services have a prefix_list');
    p.prefix_list?.cidrs.forEach((text, ci) => {
      const cat = `${at}.prefix_list.cidrs[${ci}]`;
      const pc = parseCidr(text, { strict: true });
      if (!pc.ok) { bad(cat, pc.reason); return; }
      if (pc.cidr.prefix < MAX_VPC_PREFIX) { bad(cat, `${text} is wider than /16: public prefixes map onto 127.255.0.0/16`); return; }
      // Public addresses live at 127.255.c.d: two prefixes collide when their low 16 bits overlap.
      const lo = pc.cidr.base & 0xffff;
      const hi = lastAddress(pc.cidr) & 0xffff;
      for (const o of publicLow16) {
        if (lo <= o.hi && o.lo <= hi) bad(cat, `${text} collides with ${o.at} at 127.255.${lo >> 8}.${lo & 255}`);
      }
      publicLow16.push({ lo, hi, at: cat });
    });
    unique('prefix list id', p.prefix_list?.id, `${at}.prefix_list.id`);
    // The daemon listens on every public address of a gateway service, for every port.
    for (const text of p.prefix_list?.cidrs ?? []) {
      const pc = parseCidr(text, { strict: true });
      if (pc.ok) publicListeners += 2 ** (32 - pc.cidr.prefix) * p.ports.length;
    }
    if (publicListeners > MAX_PUBLIC_LISTENERS) {
      bad(`${at}.prefix_list`, `public services would need ${publicListeners} listeners (addresses x ports); at most ${MAX_PUBLIC_LISTENERS}: use longer prefixes`);
    }
    const portsSeen = new Set<number>();
    const ports = p.ports.map((pt, pi) => {
      const pat = `${at}.ports[${pi}]`;
      if (portsSeen.has(pt.port)) bad(`${pat}.port`, `duplicate port ${pt.port}`);
      portsSeen.add(pt.port);
      const backends = publicBackends(pt, pat, p.service_type, zonesBad ? null : zones, bad);
      return { port: pt.port, target: backends[0]?.target ?? '', ...(pt.backends ? { backends } : {}) };
    });
    publicServices.push({ name: p.name, service_type: p.service_type, prefix_list: p.prefix_list, ports });
  });

  const F = DEFAULTS.flowLogs;
  const flowLogs: FlowLogConfig = {
    destination: c.flow_logs?.destination ?? F.destination,
    file: c.flow_logs?.file ?? F.file,
    aggregationIntervalS: c.flow_logs?.aggregation_interval_s ?? F.aggregationIntervalS,
    maxFileBytes: c.flow_logs?.max_file_bytes ?? F.maxFileBytes,
    rotateEvery: c.flow_logs?.rotate_every ?? F.rotateEvery,
    maxFiles: c.flow_logs?.max_files ?? F.maxFiles,
    bufferBytes: c.flow_logs?.buffer_bytes ?? F.bufferBytes,
  };
  // kept with destination off (turning flow logs off keeps the file in the config); stdout has no file
  if (c.flow_logs?.file !== undefined && flowLogs.destination === 'stdout') bad('flow_logs.file', 'applies to destination: file only');
  if (flowLogs.destination === 'file' && /[\\/]$/.test(flowLogs.file)) bad('flow_logs.file', `${JSON.stringify(flowLogs.file)} names a directory: name the file`);

  const dnsListenText = c.dns?.listen ?? DEFAULTS.dns.listen;
  const dnsListen = parseListen(dnsListenText);
  if (!dnsListen) bad('dns.listen', `${JSON.stringify(dnsListenText)} is not HOST:PORT with an IPv4 host`);
  else if (listen && sameListen(dnsListen, listen)) {
    bad('dns.listen', `${dnsListenText} is the API's listen address: DNS over TCP and the API cannot share a port`);
  }

  // the pattern let 300.1.1.1 and port 99999 through: such a resolver was asked nothing, and the client no answer
  (c.dns?.forwarders ?? []).forEach((f, i) => {
    const [host, port] = f.split(':') as [string, string | undefined];
    const n = port === undefined ? 53 : Number(port);
    if (!isIpv4(host) || n < 1 || n > 65535) bad(`dns.forwarders[${i}]`, `${JSON.stringify(f)} is not an IPv4 address, or IPv4:PORT with a port 1-65535`);
  });

  const faultsListenText = c.faults?.listen ?? DEFAULTS.faults.listen;
  const faultsListen = parseListen(faultsListenText);
  if (!faultsListen) bad('faults.listen', `${JSON.stringify(faultsListenText)} is not HOST:PORT with an IPv4 host`);
  else if (listen && sameListen(faultsListen, listen)) {
    bad('faults.listen', `${faultsListenText} is the API's listen address: Toxiproxy's API needs a port of its own`);
  }

  let snatPorts: { low: number; high: number } | undefined;
  if (c.dataplane?.snat_ports !== undefined) {
    const [low, high] = c.dataplane.snat_ports.split('-').map(Number) as [number, number];
    // ports below 1024 are the host's services' own; a backend sees 198.19.x.y:port, never one of them
    if (low < 1024 || high > 65535 || low > high) bad('dataplane.snat_ports', `${c.dataplane.snat_ports}: LOW-HIGH with 1024 <= LOW <= HIGH <= 65535`);
    else snatPorts = { low, high };
  }

  (c.aws?.sns_topics ?? []).forEach((t, i) => unique('SNS topic arn', t.arn, `aws.sns_topics[${i}].arn`));

  const h = c.dataplane?.health_check;
  const healthCheck: HealthSettings = Object.freeze({
    interval_s: h?.interval ?? NLB_HEALTH_DEFAULTS.interval_s,
    timeout_s: h?.timeout ?? NLB_HEALTH_DEFAULTS.timeout_s,
    healthy_threshold: h?.healthy_threshold ?? NLB_HEALTH_DEFAULTS.healthy_threshold,
    unhealthy_threshold: h?.unhealthy_threshold ?? NLB_HEALTH_DEFAULTS.unhealthy_threshold,
  });
  const badHealth = healthSettingsOutOfRange(healthCheck);
  if (badHealth) bad('dataplane.health_check', badHealth.replace(/_s\b/g, ''));
  const ut = c.dataplane?.unhealthy_connection_termination;
  const unhealthyTermination: UnhealthyTermination = Object.freeze({
    enabled: ut?.enabled ?? NLB_UNHEALTHY_TERMINATION.enabled,
    draining_interval_s: ut?.draining_interval ?? NLB_UNHEALTHY_TERMINATION.draining_interval_s,
  });
  const badTermination = unhealthyTerminationProblem(unhealthyTermination);
  if (badTermination) bad('dataplane.unhealthy_connection_termination', badTermination);

  if (problems.length) throw new ConfigError(source, problems);
  return {
    region,
    zones,
    listen: listen!,
    store: store as StoreSpec,
    storeDurability: c.store_durability ?? DEFAULTS.storeDurability,
    dataplane: {
      snat: c.dataplane?.snat ?? DEFAULTS.dataplane.snat,
      backendConnectTimeoutMs: c.dataplane?.backend_connect_timeout_ms ?? DEFAULTS.dataplane.backendConnectTimeoutMs,
      idleTimeoutMs: c.dataplane?.idle_timeout_ms ?? DEFAULTS.dataplane.idleTimeoutMs,
      drainTimeoutMs: c.dataplane?.drain_timeout_ms ?? DEFAULTS.dataplane.drainTimeoutMs,
      maxConnections: c.dataplane?.max_connections ?? DEFAULTS.dataplane.maxConnections,
      onPremises: c.dataplane?.on_premises ?? DEFAULTS.dataplane.onPremises,
      socketBufferBytes: c.dataplane?.socket_buffer_bytes ?? DEFAULTS.dataplane.socketBufferBytes,
      snatPorts: snatPorts ?? DEFAULTS.dataplane.snatPorts,
      deregistrationDelayS: c.dataplane?.deregistration_delay_s ?? DEFAULTS.dataplane.deregistrationDelayS,
      healthCheck,
      unhealthyTermination,
    },
    api,
    flowLogs,
    dns: {
      enabled: c.dns?.enabled ?? DEFAULTS.dns.enabled,
      listen: dnsListen!,
      ttlS: c.dns?.ttl ?? DEFAULTS.dns.ttlS,
      forward: c.dns?.forward ?? DEFAULTS.dns.forward,
      ...(c.dns?.forwarders ? { forwarders: c.dns.forwarders } : {}),
      publicRecords: (c.dns?.public_records ?? []).map((r) => ({ name: r.name.toLowerCase().replace(/\.$/, ''), type: r.type, value: r.value })),
    },
    faults: { enabled: c.faults?.enabled ?? DEFAULTS.faults.enabled, listen: faultsListen!, provisioningDelayMs: c.faults?.provisioning_delay_ms ?? 0 },
    metrics: { token: c.metrics?.token },
    fleet: { leaseTtlS: c.fleet?.lease_ttl_seconds ?? DEFAULTS.fleet.leaseTtlS, ...(c.fleet?.node_name ? { nodeName: c.fleet.node_name } : {}) },
    accounts,
    vpcs,
    public_services: publicServices,
    aws: { snsTopics: (c.aws?.sns_topics ?? []).map((t) => ({ arn: t.arn, url: t.url, accounts: t.accounts ?? [t.arn.split(':')[4]!] })) },
  };
}

/**
 * A public service port's backends: `target` (one, in every zone) or `backends` (interface
 * services: each HOST:PORT once, each in a zone of the region, or none in any). ZONES null: the
 * zones key is itself bad (already reported).
 */
function publicBackends(
  pt: { target?: string; backends?: ReadonlyArray<{ target: string; zone?: string }> }, at: string, serviceType: 'gateway' | 'interface',
  zones: readonly string[] | null, bad: (path: string, why: string) => void,
): Array<{ target: string; zone: string | null }> {
  if ((pt.target === undefined) === (pt.backends === undefined)) {
    bad(at, 'give either target (one backend) or backends (several, each in a zone)');
    return [];
  }
  if (pt.target !== undefined) {
    if (!parseTarget(pt.target)) bad(`${at}.target`, `${JSON.stringify(pt.target)} is not HOST:PORT with an IPv4 host`);
    return [{ target: pt.target, zone: null }];
  }
  const list = pt.backends!;
  // a gateway endpoint has no ENI, so no zone: its routes lead to one target per port
  if (serviceType === 'gateway') bad(`${at}.backends`, 'a gateway service takes one target per port (gateway endpoints have no zones): use target');
  if (list.length === 0) bad(`${at}.backends`, 'at least one backend');
  const zoned = list.filter((b) => b.zone !== undefined).length;
  const seen = new Set<string>();
  list.forEach((b, bi) => {
    const bat = `${at}.backends[${bi}]`;
    if (!parseTarget(b.target)) bad(`${bat}.target`, `${JSON.stringify(b.target)} is not HOST:PORT with an IPv4 host`);
    else if (seen.has(b.target)) bad(`${bat}.target`, `${b.target} is a backend of this port already`);
    seen.add(b.target);
    if (b.zone === undefined && zoned > 0) bad(`${bat}.zone`, 'missing: the other backends of this port name their zones, so each one must (a backend in no zone would take every zone\'s flows)');
    if (b.zone !== undefined && zones !== null && !zones.includes(b.zone)) {
      bad(`${bat}.zone`, `unknown zone ${JSON.stringify(b.zone)}: the region's zones are ${zones.join(', ')} (top-level key zones)`);
    }
  });
  return list.map((b) => ({ target: b.target, zone: b.zone ?? null }));
}

/** an account's `aws` section: the key's id and secret go together, or neither is given */
function awsSpec(
  aws: { account_id?: string; access_key_id?: string; secret_access_key?: string }, at: string, bad: (path: string, why: string) => void,
): NonNullable<AccountSpec['aws']> {
  const { account_id, access_key_id: id, secret_access_key: secret } = aws;
  if (id !== undefined && secret === undefined) bad(`${at}.secret_access_key`, 'missing: access_key_id and secret_access_key go together');
  if (id === undefined && secret !== undefined) bad(`${at}.access_key_id`, 'missing: access_key_id and secret_access_key go together');
  return { account_id, ...(id !== undefined && secret !== undefined ? { access_key: { id, secret } } : {}) };
}

/** Why an address of a subnet cannot be handed out, or null: network, gateway (first host) or broadcast. */
export function reservedReason(subnet: Cidr, ip: number): string | null {
  if (ip === subnet.base) return 'the network address';
  if (ip === subnet.base + 1) return 'the gateway address';
  if (ip === lastAddress(subnet)) return 'the broadcast address';
  return null;
}

export function gatewayOf(subnet: Cidr): string {
  return intToIp(subnet.base + 1);
}

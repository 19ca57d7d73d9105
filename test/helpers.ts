// Shared test fixtures: a daemon in-process or as a child process, on a temporary data dir and a
// free port, and a small API client over real HTTP.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, createHmac, type BinaryLike } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { TestRunner } from 'vitest';
import { DAEMON_NODE_FLAGS } from '../bench/lib/vpcep.mjs';
import { startDaemon, type Daemon, type DaemonOptions } from '../src/daemon.js';
import type { ChangeEvent } from '../src/model/events.js';
import type { Change, Store } from '../src/store/store.js';
import { createLogger } from '../src/telemetry/logger.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const PROVIDER = {
  name: 'provider',
  domain_id: '1564ec50ef2a47c791ea5536353ed4b9',
  project_id: '0605767f3e00d5762fbdc01fc3b5e3c2',
  token: 'provider-secret',
};
export const CONSUMER = {
  name: 'consumer',
  domain_id: 'c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0',
  project_id: 'a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1',
  token: 'consumer-secret',
};

/** reads the per-endpoint series of GET /metrics (config metrics.token) */
export const METRICS_TOKEN = 'metrics-secret-0123456789';

/** a data plane for control-plane tests without sockets: every event it is sent is kept in `events`, each answered ok */
export function recordingDataPlane() {
  const events: ChangeEvent[] = [];
  return {
    events,
    apply: async (e: ChangeEvent) => { events.push(e); return { ok: true as const }; },
    endpointConnections: () => 0, admissionOf: () => null, publicListening: () => false,
    daemonLoad: () => ({ active: 0, maxConnections: 1, fdBudget: 100, listeners: 0, onPremises: 'allow' as const }),
  };
}

/** Two accounts: a provider with a backend port, and a consumer with a VPC of two subnets. */
export function twoAccountConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    region: 'sim-1',
    metrics: { token: METRICS_TOKEN },
    accounts: [PROVIDER, CONSUMER],
    vpcs: [
      {
        id: 'vpc-app', account: 'provider', cidr: '192.168.0.0/16',
        subnets: [{ id: 'subnet-app', cidr: '192.168.24.0/24' }],
        ports: [
          { id: 'port-web', subnet: 'subnet-app', ip: '192.168.24.246', type: 'VM', target: '127.0.0.1' },
          { id: 'port-lb', subnet: 'subnet-app', ip: '192.168.24.10', type: 'LB' },
        ],
      },
      {
        id: 'vpc-client', account: 'consumer', cidr: '10.0.0.0/16',
        subnets: [{ id: 'subnet-a', cidr: '10.0.1.0/24' }, { id: 'subnet-b', cidr: '10.0.2.0/29' }],
      },
      {
        id: 'vpc-provider-client', account: 'provider', cidr: '10.0.0.0/16',
        subnets: [{ id: 'subnet-pc', cidr: '10.0.1.0/24' }],
      },
    ],
    ...overrides,
  };
}

/**
 * twoAccountConfig with the provider alone and its VPCs: with no AWS key configured, the AWS
 * dialect is lenient only with one account (any credentials act as it)
 */
export function oneAccountConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const c = twoAccountConfig();
  return { ...c, accounts: [PROVIDER], vpcs: (c.vpcs as Array<{ account: string }>).filter((v) => v.account === 'provider'), ...overrides };
}

/**
 * twoAccountConfig's VPCs in two zones: the provider's port-web in sim-1a and port-web-b (reaching
 * 127.0.0.2) in sim-1b, the consumer's subnet-a in sim-1a and subnet-b in sim-1b
 */
export function twoZoneVpcs(config: Record<string, unknown>): Array<Record<string, unknown>> {
  return (config.vpcs as Array<Record<string, unknown>>).map((v) => v.id === 'vpc-app' ? {
    ...v,
    subnets: [{ id: 'subnet-app', cidr: '192.168.24.0/24', zone: 'sim-1a' }, { id: 'subnet-app-b', cidr: '192.168.25.0/24', zone: 'sim-1b' }],
    ports: [
      { id: 'port-web', subnet: 'subnet-app', ip: '192.168.24.246', type: 'VM', target: '127.0.0.1' },
      { id: 'port-web-b', subnet: 'subnet-app-b', ip: '192.168.25.246', type: 'VM', target: '127.0.0.2' },
    ],
  } : v.id === 'vpc-client' ? { ...v, subnets: [{ id: 'subnet-a', cidr: '10.0.1.0/24', zone: 'sim-1a' }, { id: 'subnet-b', cidr: '10.0.2.0/29', zone: 'sim-1b' }] } : v);
}

/** a store in memory for a control plane under unit test: it keeps nothing; each commit is handed to ON (when given) */
export function memoryStore(on: (changes: readonly Change[]) => void = () => undefined): Store {
  let revision = 0;
  return {
    location: 'memory',
    load: async () => ({ revision, documents: new Map(), versions: new Map() }),
    commit: async (changes) => { on(changes); return ++revision; },
    watch: () => ({ cancel: async () => undefined }),
    close: async () => undefined,
  };
}

/** the temporary dirs made by this test file, removed after it (test/file-guard.ts) */
const madeDirs = new Set<string>();

export function tempDir(prefix = 'vpcep-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  madeDirs.add(dir);
  return dir;
}

/**
 * Removes the temporary dirs the file made (a fleet test's etcd data dir is 62 MB: a few hundred
 * runs filled /tmp and slowed the disk under a benchmark), unless VPCEP_KEEP_TEST_DIRS=1 keeps them
 * to be read after a failure. One it cannot remove is left, as tmp dirs are.
 */
export function removeTempDirs(): void {
  if (process.env.VPCEP_KEEP_TEST_DIRS === '1') return;
  for (const dir of madeDirs) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // left for the system's tmp cleaner
    }
    madeDirs.delete(dir);
  }
}

export function writeConfig(dir: string, config: unknown, name = 'config.yaml'): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, name.endsWith('.json') ? JSON.stringify(config) : YAML.stringify(config));
  return file;
}

export interface ApiResult {
  status: number;
  body: any;
}

export class ApiClient {
  constructor(readonly url: string, readonly token: string | undefined, readonly project: string) {}

  async request(method: string, pathAndQuery: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResult> {
    const h: Record<string, string> = { ...headers };
    if (this.token !== undefined) h['x-auth-token'] = this.token;
    let payload: string | undefined;
    if (body !== undefined) {
      payload = typeof body === 'string' ? body : JSON.stringify(body);
      h['content-type'] ??= 'application/json';
    }
    const res = await fetch(`${this.url}/v1/${this.project}${pathAndQuery}`, { method, headers: h, body: payload });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch { /* keep the text */ }
    return { status: res.status, body: parsed };
  }

  get(p: string) { return this.request('GET', p); }
  post(p: string, body?: unknown) { return this.request('POST', p, body); }
  put(p: string, body?: unknown) { return this.request('PUT', p, body); }
  delete(p: string) { return this.request('DELETE', p); }
}

export interface TestDaemon {
  readonly url: string;
  readonly dataDir: string;
  readonly daemon: Daemon;
  readonly provider: ApiClient;
  readonly consumer: ApiClient;
  client(token: string | undefined, project: string): ApiClient;
  stop(): Promise<void>;
}

/** A daemon in this process on a free port, with the two-account config unless told otherwise. */
export async function startTestDaemon(config: Record<string, unknown> = twoAccountConfig(), dataDir = tempDir(), o: Pick<DaemonOptions, 'dataPlaneClock'> & Partial<Pick<DaemonOptions, 'log'>> = {}): Promise<TestDaemon> {
  const configFile = writeConfig(dataDir, { metrics: { token: METRICS_TOKEN }, ...config });
  const daemon = await startDaemon({
    configFile,
    dataDir: path.join(dataDir, 'data'),
    listen: { host: '127.0.0.1', port: 0 },
    // an ephemeral DNS port unless the test's config names one: two daemons never contend for 5353
    ...((config as { dns?: { listen?: string } }).dns?.listen === undefined ? { dnsListen: { host: '127.0.0.1', port: 0 } } : {}),
    log: createLogger('silent'),
    ...o,
  });
  const url = `http://127.0.0.1:${daemon.address.port}`;
  const client = (token: string | undefined, project: string) => new ApiClient(url, token, project);
  liveDaemons.add(daemon);
  // a test may stop the daemon itself (d.daemon.stop()): then it is not left running either
  const stopDaemon = daemon.stop.bind(daemon);
  daemon.stop = (drainTimeoutMs?: number) => { liveDaemons.delete(daemon); return stopDaemon(drainTimeoutMs); };
  return {
    url,
    dataDir,
    daemon,
    provider: client(PROVIDER.token, PROVIDER.project_id),
    consumer: client(CONSUMER.token, CONSUMER.project_id),
    client,
    stop: () => daemon.stop(200),
  };
}

/** the in-process test daemons not stopped yet, and the child ones not exited */
const liveDaemons = new Set<Daemon>();
const liveChildren = new Set<ChildDaemon>();

/**
 * Stops the in-process daemons and kills the child ones a test file left running; what it found,
 * in words ("" when nothing). The files of a group share one process (vitest.config.ts, isolate:
 * false): a daemon left running holds its host addresses and relay threads' connections under
 * the next files.
 */
export async function stopLeftDaemons(): Promise<string> {
  const left: string[] = [];
  for (const d of [...liveDaemons]) {
    left.push(`an in-process daemon (API ${d.address.host}:${d.address.port})`);
    await d.stop(0).catch(() => undefined);
  }
  liveDaemons.clear();
  for (const c of [...liveChildren]) {
    // one the test killed (onTestFinished) may not have exited yet: it is not left running
    if (!c.proc.killed) left.push(`a child vpcepd (pid ${c.proc.pid}, ${c.url})`);
    c.proc.kill('SIGKILL');
    await c.exited;
  }
  return left.join(', ');
}

/**
 * Skips the running test, naming why, when a listener of a test daemon could not bind a port below
 * 1024 (PrivilegedPort): the tests' services listen on port 80, which a normal user may not bind.
 * Run as root (as CI does) that is a failure of its own, so nothing is skipped.
 */
export function skipWithoutPortPrivilege(): void {
  if (process.getuid?.() === 0) return;
  let reason: string | undefined;
  for (const d of liveDaemons) {
    reason ??= [...d.control.allEndpoints(), ...d.control.publicServices()].find((r) => r.error?.name === 'PrivilegedPort')?.error!.message;
  }
  // a child vpcepd logs the reason of each listener that failed
  for (const c of liveChildren) reason ??= /cannot listen on [^"]*?: permission denied: ports below 1024 need root or CAP_NET_BIND_SERVICE/.exec(c.output())?.[0];
  if (reason) TestRunner.getCurrentTest()?.context.skip(`needs root or CAP_NET_BIND_SERVICE: ${reason}`);
}

/** A fake clock for the data plane: `advance(ms)` moves it; the test calls `dataPlane.sweep()` itself. */
export class FakeClock {
  t = 1_000;
  readonly now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
  /** the daemon option: this clock, no sweep timer */
  get option(): NonNullable<DaemonOptions['dataPlaneClock']> {
    return { now: this.now, sweepIntervalMs: 0 };
  }
}

/**
 * Polls until `fn` returns a truthy value, or fails after `ms`: every 10 ms at first, then less often
 * (half again as long each time, at most every 100 ms), so a wait of seconds (a health check's
 * interval, a fleet's lease) does not ask hundreds of times (at 10 ms throughout,
 * unhealthy-termination.test.ts took 15.7 s of CPU alone, 10.2 s with this; backends-zones 18.9, 16.9).
 */
export async function waitFor<T>(fn: () => Promise<T> | T, ms = 5_000, what = 'condition'): Promise<NonNullable<T>> {
  const until = Date.now() + ms;
  for (let pause = 10; ; pause = Math.min(100, pause * 1.5)) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > until) {
      skipWithoutPortPrivilege();
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, pause));
  }
}

export const SERVICE_BODY = {
  port_id: 'port-web',
  vpc_id: 'vpc-app',
  server_type: 'VM',
  ports: [{ client_port: 80, server_port: 8080, protocol: 'TCP' }],
  service_name: 'web',
};

/** Creates a service as the provider and waits until it is available. */
export async function createAvailableService(d: TestDaemon, body: Record<string, unknown> = SERVICE_BODY): Promise<any> {
  const r = await d.provider.post('/vpc-endpoint-services', body);
  if (r.status !== 200) throw new Error(`create service: ${r.status} ${JSON.stringify(r.body)}`);
  return waitFor(async () => {
    const s = await d.provider.get(`/vpc-endpoint-services/${r.body.id}`);
    return s.body.status === 'available' ? s.body : null;
  }, 5_000, 'service available');
}

/** Creates an endpoint as CLIENT (the consumer by default) and waits until it is accepted. */
export async function createAcceptedEndpoint(client: ApiClient, body: Record<string, unknown>): Promise<any> {
  const r = await client.post('/vpc-endpoints', body);
  if (r.status !== 200) throw new Error(`create endpoint: ${r.status} ${JSON.stringify(r.body)}`);
  return waitFor(async () => {
    const e = await client.get(`/vpc-endpoints/${r.body.id}`);
    // at once, with the reason (e.g. EndPoint.0011: port 80 as a normal user), not a timeout
    if (e.body.status === 'failed') {
      skipWithoutPortPrivilege();
      throw new Error(`endpoint failed: ${JSON.stringify(e.body.error)}`);
    }
    return e.body.status === 'accepted' ? e.body : null;
  }, 5_000, 'endpoint accepted');
}

export interface ChildDaemon {
  readonly proc: ChildProcess;
  readonly url: string;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** node's flags for vpcepd, read from bin/vpcepd.js's first line where the benchmarks read them */
export { DAEMON_NODE_FLAGS };

/** vpcepd as a child process (the built bin/vpcepd.js), run through `wrapper` when given; resolves once GET / answers (within WAITMS). */
export async function spawnDaemon(args: string[], env: Record<string, string> = {}, port?: number, wrapper: string[] = [], waitMs = 15_000): Promise<ChildDaemon> {
  const p = port ?? (await freePort());
  const command = [...wrapper, process.execPath, ...DAEMON_NODE_FLAGS, path.join(ROOT, 'bin/vpcepd.js'), '--listen', `127.0.0.1:${p}`, ...args];
  const proc = spawn(command[0]!, command.slice(1), {
    env: { ...process.env, VPCEP_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (b) => { out += b; });
  proc.stderr!.on('data', (b) => { out += b; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('exit', (code, signal) => resolve({ code, signal }));
  });
  const url = `http://127.0.0.1:${p}`;
  const child = { proc, url, output: () => out, exited };
  liveChildren.add(child);
  let gone = false;
  void exited.then(() => { gone = true; liveChildren.delete(child); });
  try {
    await waitFor(async () => {
      if (gone) return true;
      try {
        return (await fetch(`${url}/`)).status === 200;
      } catch {
        return false;
      }
    }, waitMs, `vpcepd to answer on ${url}\n${out}`);
  } catch (err) {
    // the test never gets the child to stop: one that did not answer in time is not left running
    proc.kill('SIGKILL');
    throw err;
  }
  return child;
}

export async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** One sample of the Prometheus text format. */
export interface MetricSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
  /** the sample's line as scraped */
  readonly line: string;
}

export function parseMetrics(text: string): MetricSample[] {
  const out: MetricSample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]), line });
  }
  return out;
}

/** GET {url}/metrics with the metrics token (every series, rendered now), parsed */
export async function scrapeMetrics(url: string): Promise<MetricSample[]> {
  const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`);
  return parseMetrics(await res.text());
}

/** the value of the sample of `name` with exactly these labels, or undefined when there is none */
export async function metricValue(url: string, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const want = Object.entries(labels);
  return (await scrapeMetrics(url)).find((x) => x.name === name
    && Object.keys(x.labels).length === want.length
    && want.every(([k, v]) => x.labels[k] === v))?.value;
}

type HashData = string | ArrayBuffer | ArrayBufferView;
const hashBytes = (d: HashData): BinaryLike => (typeof d === 'string' ? d : d instanceof ArrayBuffer ? new Uint8Array(d) : new Uint8Array(d.buffer, d.byteOffset, d.byteLength));

/** node:crypto's SHA-256 and HMAC in the shape @smithy/signature-v4 takes (`sha256:`), to sign requests the SDK clients never make */
export class NodeSha256 {
  private readonly h;
  constructor(secret?: HashData) {
    this.h = secret ? createHmac('sha256', hashBytes(secret)) : createHash('sha256');
  }
  update(data: HashData): void {
    this.h.update(hashBytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return this.h.digest();
  }
  reset(): void {}
}

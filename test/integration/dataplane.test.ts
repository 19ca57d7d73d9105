// The TCP data plane over real loopback sockets: in-process daemons (and a few child processes),
// real clients bound to simulated addresses (127.k.c.d), real backends on 127.0.0.1.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import net, { type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { V2ProxyProtocol } from 'proxy-protocol-js';
import { relayChoice } from '../../src/dataplane/native-relay.js';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import {
  metricValue,
  ApiClient, CONSUMER, FakeClock, PROVIDER, ROOT, SERVICE_BODY, freePort, spawnDaemon, startTestDaemon, tempDir, twoAccountConfig,
  waitFor, writeConfig, type ChildDaemon, type TestDaemon,
} from '../helpers.js';
import { fullListener } from './backends.js';

// ---- resources, all released after each test ---------------------------------------------------

const sockets = new Set<Socket>();
const servers = new Set<Server>();
const daemons = new Set<TestDaemon>();
const procs = new Set<ChildProcess>();

afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  await Promise.all([...servers].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  servers.clear();
  for (const d of daemons) await d.stop();
  daemons.clear();
  for (const p of procs) {
    if (p.exitCode === null && p.signalCode === null) {
      const gone = new Promise((resolve) => p.once('exit', resolve));
      p.kill('SIGKILL');
      await gone;
    }
  }
  procs.clear();
});

const randomPort = () => 20_000 + Math.floor(Math.random() * 20_000);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function daemon(dataplane?: Record<string, unknown>, dataDir?: string, clock?: FakeClock): Promise<TestDaemon> {
  const d = await startTestDaemon(twoAccountConfig(dataplane ? { dataplane } : {}), dataDir, clock ? { dataPlaneClock: clock.option } : {});
  daemons.add(d);
  return d;
}

// ---- backends -----------------------------------------------------------------------------------

interface Backend {
  readonly server: Server;
  readonly port: number;
  /** every connection the backend accepted, in order */
  readonly conns: Socket[];
}

const echo = (s: Socket) => { s.pipe(s); };

/** a backend on 127.0.0.1 at a random port of 20000-40000 */
async function startBackend(onConnection: (s: Socket) => void = echo, allowHalfOpen = false): Promise<Backend> {
  for (let attempt = 0; ; attempt++) {
    const port = randomPort();
    const server = net.createServer({ allowHalfOpen });
    const b: Backend = { server, port, conns: [] };
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('error', () => undefined);
      b.conns.push(s);
      onConnection(s);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => { server.removeListener('error', reject); resolve(); });
      });
      servers.add(server);
      return b;
    } catch (err) {
      if (attempt > 20) throw err;
    }
  }
}

/** a port of 20000-40000 on 127.0.0.1 with nothing listening */
async function deadPort(): Promise<number> {
  const b = await startBackend();
  servers.delete(b.server);
  await new Promise<void>((resolve) => b.server.close(() => resolve()));
  return b.port;
}

// ---- clients ------------------------------------------------------------------------------------

class Client {
  readonly sock: Socket;
  readonly startedAt = performance.now();
  received = Buffer.alloc(0);
  /** the first error code the socket saw */
  error: string | null = null;
  endedAt: number | null = null;
  closedAt: number | null = null;
  /** 'connected', or the error code that ended the connect */
  readonly settled: Promise<string>;
  readonly closed: Promise<number>;

  constructor(host: string, port: number, o: { localAddress?: string; allowHalfOpen?: boolean } = {}) {
    this.sock = net.connect({ host, port, localAddress: o.localAddress, allowHalfOpen: o.allowHalfOpen ?? false });
    sockets.add(this.sock);
    this.settled = new Promise((resolve) => {
      this.sock.once('connect', () => resolve('connected'));
      this.sock.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
    this.sock.on('error', (e: NodeJS.ErrnoException) => { this.error ??= e.code ?? e.message; });
    this.sock.on('data', (b: Buffer) => { this.received = Buffer.concat([this.received, b]); });
    this.sock.on('end', () => { this.endedAt = performance.now(); });
    this.closed = new Promise((resolve) => this.sock.once('close', () => {
      this.closedAt = performance.now();
      resolve(this.closedAt);
    }));
  }

  get text(): string {
    return this.received.toString();
  }

  /** writes `msg` and expects it back (an echo backend) */
  async roundTrip(msg: string, ms = 2_000): Promise<void> {
    const before = this.received.length;
    this.sock.write(msg);
    await waitFor(() => this.received.length >= before + Buffer.byteLength(msg) || this.closedAt !== null, ms, `the echo of ${msg}`);
    expect(this.received.subarray(before).toString()).toBe(msg);
  }

  async waitClosed(ms = 3_000): Promise<number> {
    await waitFor(() => this.closedAt !== null, ms, 'the client socket to close');
    return this.closedAt!;
  }
}

async function connected(host: string, port: number, o: { localAddress?: string; allowHalfOpen?: boolean } = {}): Promise<Client> {
  const c = new Client(host, port, o);
  expect(await c.settled).toBe('connected');
  return c;
}

/** a connection through which bytes round-trip */
async function relays(host: string, port: number, o: { localAddress?: string } = {}): Promise<Client> {
  const c = await connected(host, port, o);
  await c.roundTrip(`ping-${Math.random().toString(36).slice(2)}`);
  return c;
}

/** an accepted endpoint of a fresh service and two connections relayed through it (the idle-timeout tests' one idle, one busy) */
async function twoRelayed(d: TestDaemon): Promise<{ ep: any; idle: Client; busy: Client }> {
  const backend = await startBackend();
  const P = randomPort();
  const svc = await publish(d, [[P, backend.port]]);
  const ep = await acceptedEndpoint(d, svc.id);
  return { ep, idle: await relays(ep.host_ip, P), busy: await relays(ep.host_ip, P) };
}

async function expectRefused(host: string, port: number): Promise<void> {
  const c = new Client(host, port);
  expect(await c.settled).toBe('ECONNREFUSED');
}

// ---- API helpers --------------------------------------------------------------------------------

interface Api {
  readonly url: string;
  readonly provider: ApiClient;
  readonly consumer: ApiClient;
}

/** an available service on port-web (whose real address is 127.0.0.1), open to the consumer */
async function publish(d: Api, ports: Array<[client: number, server: number]>, extra: Record<string, unknown> = {}): Promise<any> {
  const r = await d.provider.post('/vpc-endpoint-services', {
    ...SERVICE_BODY,
    approval_enabled: false,
    ports: ports.map(([client_port, server_port]) => ({ client_port, server_port, protocol: 'TCP' })),
    ...extra,
  });
  expect(r.status).toBe(200);
  const svc = await waitFor(async () => {
    const s = await d.provider.get(`/vpc-endpoint-services/${r.body.id}`);
    return s.body.status === 'available' ? s.body : null;
  }, 5_000, 'service available');
  const perm = await d.provider.post(`/vpc-endpoint-services/${svc.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] });
  expect(perm.status).toBe(200);
  return svc;
}

async function createEndpoint(d: Api, serviceId: string, extra: Record<string, unknown> = {}): Promise<any> {
  const r = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: serviceId, vpc_id: 'vpc-client', subnet_id: 'subnet-a', ...extra });
  expect(r.status).toBe(200);
  return r.body;
}

async function waitEndpoint(d: Api, id: string, status: string, ms = 5_000): Promise<any> {
  return waitFor(async () => {
    const r = await d.consumer.get(`/vpc-endpoints/${id}`);
    return r.body.status === status ? r.body : null;
  }, ms, `endpoint ${id} to be ${status}`);
}

async function acceptedEndpoint(d: Api, serviceId: string, extra: Record<string, unknown> = {}): Promise<any> {
  const e = await createEndpoint(d, serviceId, extra);
  return waitEndpoint(d, e.id, 'accepted');
}

// ---- /metrics -----------------------------------------------------------------------------------

const metric = metricValue;

const closedBy = (url: string, endpointId: string, reason: string) =>
  metric(url, 'vpcep_endpoint_closed_connections_total', { endpoint_id: endpointId, reason });
const rejected = (url: string, endpointId: string, reason: string) =>
  metric(url, 'vpcep_endpoint_rejected_connections_total', { endpoint_id: endpointId, reason });

/** vpcepd as a child under `ulimit -n limit`, with the two-account config; its output is kept */
async function lowLimitDaemon(limit: number): Promise<{ api: Api; url: string; proc: ChildProcess; output: () => string }> {
  const dir = tempDir();
  const config = writeConfig(dir, twoAccountConfig());
  const port = await freePort();
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const cmd = `ulimit -n ${limit} && exec ${q(process.execPath)} ${q(path.join(ROOT, 'bin/vpcepd.js'))} --listen 127.0.0.1:${port} --config ${q(config)} --data-dir ${q(path.join(dir, 'data'))}`;
  const proc = spawn('sh', ['-c', cmd], { env: { ...process.env, VPCEP_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  procs.add(proc);
  let out = '';
  proc.stdout!.on('data', (b) => { out += b; });
  proc.stderr!.on('data', (b) => { out += b; });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => {
    if (proc.exitCode !== null) throw new Error(`vpcepd exited: ${out}`);
    try { return (await fetch(`${url}/`)).status === 200; } catch { return false; }
  }, 15_000, `vpcepd under ulimit -n ${limit}`);
  const api: Api = {
    url,
    provider: new ApiClient(url, PROVIDER.token, PROVIDER.project_id),
    consumer: new ApiClient(url, CONSUMER.token, CONSUMER.project_id),
  };
  return { api, url, proc, output: () => out };
}

// =================================================================================================

describe('endpoint lifecycle on the data plane', () => {
  it('creating -> accepted only once listening: the first connect after accepted relays', async () => {
    const d = await daemon();
    const backend = await startBackend();
    const P = randomPort();
    const svc = await publish(d, [[P, backend.port]]);

    const t0 = performance.now();
    const created = await createEndpoint(d, svc.id);
    expect(created.status).toBe('creating');
    expect(created.host_ip).toBe('127.2.1.2');
    const ep = await waitEndpoint(d, created.id, 'accepted');
    // accepted means listening: the very first connect is admitted and relayed
    const c = new Client(ep.host_ip, P);
    expect(await c.settled).toBe('connected');
    await c.roundTrip('first bytes');
    const ms = performance.now() - t0;
    console.log(`creating -> first round trip through the endpoint: ${ms.toFixed(1)} ms`);
    expect(backend.conns.length).toBe(1);
  });

  it('reject cuts live flows before answering, releases the listener and the SNAT address; receive restores both', async () => {
    const d = await daemon();
    const backend = await startBackend();
    const P = randomPort();
    const svc = await publish(d, [[P, backend.port]], { approval_enabled: true });
    const created = await createEndpoint(d, svc.id);
    expect(created.status).toBe('pendingAcceptance');
    expect(created.snat_ip).toBeNull();
    const recv = await d.provider.post(`/vpc-endpoint-services/${svc.id}/connections/action`, { action: 'receive', endpoints: [created.id] });
    expect(recv.status).toBe(200);
    const ep = await waitEndpoint(d, created.id, 'accepted');
    expect(ep.snat_ip).toMatch(/^198\.19\.\d+\.\d+$/);
    const live = await relays(ep.host_ip, P);
    // in kernel SNAT mode the backend sees the endpoint's SNAT address as the source
    const kernel = (await metric(d.url, 'vpcep_dataplane_info', { snat_mode: 'kernel', relay: relayChoice().relay, relay_io: relayChoice().io ?? 'none' })) === 1;
    if (kernel) expect(backend.conns[0]!.remoteAddress).toBe(ep.snat_ip);

    const t0 = performance.now();
    const rej = await d.provider.post(`/vpc-endpoint-services/${svc.id}/connections/action`, { action: 'reject', endpoints: [ep.id] });
    const apiMs = performance.now() - t0;
    expect(rej.status).toBe(200);
    expect(rej.body.connections[0].status).toBe('rejected');
    const closedAt = await live.waitClosed(1_000);
    expect(closedAt - t0).toBeLessThanOrEqual(apiMs + 100);
    expect(live.error).toBe('ECONNRESET');
    await expectRefused(ep.host_ip, P);
    const after = await d.consumer.get(`/vpc-endpoints/${ep.id}`);
    expect(after.body.status).toBe('rejected');
    expect(after.body.snat_ip).toBeNull();

    const again = await d.provider.post(`/vpc-endpoint-services/${svc.id}/connections/action`, { action: 'receive', endpoints: [ep.id] });
    expect(again.status).toBe(200);
    const back = await waitEndpoint(d, ep.id, 'accepted');
    expect(back.snat_ip).toMatch(/^198\.19\.\d+\.\d+$/);
    await relays(back.host_ip, P);
    if (kernel) expect(backend.conns.at(-1)!.remoteAddress).toBe(back.snat_ip);
  });

  it('delete cuts live flows before answering and releases the listener', async () => {
    const d = await daemon();
    const backend = await startBackend();
    const P = randomPort();
    const svc = await publish(d, [[P, backend.port]]);
    const ep = await acceptedEndpoint(d, svc.id);
    const live = await relays(ep.host_ip, P);

    const t0 = performance.now();
    const del = await d.consumer.delete(`/vpc-endpoints/${ep.id}`);
    const apiMs = performance.now() - t0;
    expect(del.status).toBe(204);
    const closedAt = await live.waitClosed(1_000);
    expect(closedAt - t0).toBeLessThanOrEqual(apiMs + 100);
    expect(live.error).toBe('ECONNRESET');
    await expectRefused(ep.host_ip, P);
    expect((await d.consumer.get(`/vpc-endpoints/${ep.id}`)).status).toBe(404);
  });

  it('a port-mapping change is live when the PUT returns: the new port relays, the old one refuses', async () => {
    const d = await daemon();
    const backend = await startBackend();
    const P = randomPort();
    let Q = randomPort();
    while (Q === P) Q = randomPort();
    const svc = await publish(d, [[P, backend.port]]);
    const ep = await acceptedEndpoint(d, svc.id);
    const old = await relays(ep.host_ip, P);

    const t0 = performance.now();
    const put = await d.provider.put(`/vpc-endpoint-services/${svc.id}`, { ports: [{ client_port: Q, server_port: backend.port, protocol: 'TCP' }] });
    const apiMs = performance.now() - t0;
    expect(put.status).toBe(200);
    expect(put.body.ports).toEqual([{ client_port: Q, server_port: backend.port, protocol: 'TCP' }]);
    await relays(ep.host_ip, Q);
    await expectRefused(ep.host_ip, P);
    // a connection on a removed terminal port goes with it
    const closedAt = await old.waitClosed(1_000);
    expect(closedAt - t0).toBeLessThanOrEqual(apiMs + 100);
    await waitFor(async () => (await closedBy(d.url, ep.id, 'cut')) === 1, 2_000, 'the cut counted');
    expect((await d.consumer.get(`/vpc-endpoints/${ep.id}`)).body.status).toBe('accepted');
  });

  it('whitelist: only listed simulated sources are relayed; a PUT widens it for new connections only', async () => {
    const d = await daemon();
    const backend = await startBackend();
    const P = randomPort();
    const svc = await publish(d, [[P, backend.port]]);
    const ep = await acceptedEndpoint(d, svc.id, { enable_whitelist: true, whitelist: ['10.0.1.50'] });
    expect(ep.enable_whitelist).toBe(true);

    const a = await relays(ep.host_ip, P, { localAddress: '127.2.1.50' });
    expect(backend.conns.length).toBe(1);

    const b = new Client(ep.host_ip, P, { localAddress: '127.2.1.51' });
    await b.waitClosed(1_000);
    expect(b.error).toBe('ECONNRESET');
    expect(b.received.length).toBe(0);
    await sleep(50);
    expect(backend.conns.length).toBe(1);
    expect(await rejected(d.url, ep.id, 'whitelist')).toBe(1);

    const put = await d.consumer.put(`/vpc-endpoints/${ep.id}`, { whitelist: ['10.0.1.50', '10.0.1.51'] });
    expect(put.status).toBe(200);
    expect(put.body.status).toBe('accepted');
    await relays(ep.host_ip, P, { localAddress: '127.2.1.51' });
    expect(backend.conns.length).toBe(2);
    // the live connection of .50 was not touched
    expect(a.closedAt).toBeNull();
    expect(a.error).toBeNull();
    await a.roundTrip('still open');
    expect(await rejected(d.url, ep.id, 'whitelist')).toBe(1);
  });
});

// =================================================================================================

describe('PROXY protocol v2', () => {
  interface Capture { conn: Socket; bytes: Buffer }

  /** a backend that keeps every byte each connection sent */
  async function captureBackend(): Promise<{ backend: Backend; captures: Capture[] }> {
    const captures: Capture[] = [];
    const backend = await startBackend((s) => {
      const c: Capture = { conn: s, bytes: Buffer.alloc(0) };
      captures.push(c);
      s.on('data', (b: Buffer) => { c.bytes = Buffer.concat([c.bytes, b]); });
    });
    return { backend, captures };
  }

  it('proxy_open: the header parses with proxy-protocol-js, carries the simulated addresses and the endpoint TLVs', async () => {
    const d = await daemon();
    const { backend, captures } = await captureBackend();
    const P = randomPort();
    const svc = await publish(d, [[P, backend.port]], { tcp_proxy: 'proxy_open' });
    expect(svc.tcp_proxy).toBe('proxy_open');
    const ep = await acceptedEndpoint(d, svc.id);

    const c = await connected(ep.host_ip, P, { localAddress: '127.2.1.50' });
    const clientPort = c.sock.localPort!;
    c.sock.write('PAYLOAD');
    await waitFor(() => captures[0] && captures[0].bytes.length >= 16 && captures[0].bytes.length >= 16 + captures[0].bytes.readUInt16BE(14) + 7, 2_000, 'header and payload');
    const bytes = captures[0]!.bytes;
    const headerLength = 16 + bytes.readUInt16BE(14);
    expect(bytes.subarray(headerLength).toString()).toBe('PAYLOAD');

    const parsed = V2ProxyProtocol.parse(new Uint8Array(bytes.subarray(0, headerLength)));
    const addr = parsed.proxyAddress as any;
    expect(addr.sourceAddress.address).toEqual([10, 0, 1, 50]);
    expect(addr.sourcePort).toBe(clientPort);
    expect(addr.destinationAddress.address).toEqual(ep.ip.split('.').map(Number));
    expect(addr.destinationPort).toBe(P);

    // the TLVs, walked by hand
    const data = Buffer.from(parsed.data!);
    const tlvs: Array<{ type: number; value: Buffer }> = [];
    for (let o = 0; o < data.length;) {
      expect(o + 3).toBeLessThanOrEqual(data.length);
      const len = data.readUInt16BE(o + 1);
      expect(o + 3 + len).toBeLessThanOrEqual(data.length);
      tlvs.push({ type: data[o]!, value: data.subarray(o + 3, o + 3 + len) });
      o += 3 + len;
    }
    expect(tlvs.map((t) => t.type)).toEqual([0xea, 0xe1]);
    expect(tlvs[0]!.value).toEqual(Buffer.concat([Buffer.from([0x01]), Buffer.from(ep.id, 'ascii')]));
    const marker = Buffer.alloc(4);
    marker.writeUInt32BE(ep.marker_id);
    expect(tlvs[1]!.value).toEqual(marker);

    // and the backend's answer comes back unchanged
    captures[0]!.conn.write('REPLY');
    await waitFor(() => c.text === 'REPLY', 2_000, 'the reply');
  });

  it('close: nothing precedes the payload', async () => {
    const d = await daemon();
    const { backend, captures } = await captureBackend();
    const P = randomPort();
    const svc = await publish(d, [[P, backend.port]], { tcp_proxy: 'close' });
    const ep = await acceptedEndpoint(d, svc.id);
    const c = await connected(ep.host_ip, P, { localAddress: '127.2.1.50' });
    c.sock.end('PAYLOAD');
    await waitFor(() => captures[0]?.conn.readableEnded, 2_000, 'the backend to read to the end');
    expect(captures[0]!.bytes.toString()).toBe('PAYLOAD');
  });

  it('toa_open is refused with EndPoint.3080 naming the supported values', async () => {
    const d = await daemon();
    const r = await d.provider.post('/vpc-endpoint-services', {
      ...SERVICE_BODY, ports: [{ client_port: randomPort(), server_port: randomPort(), protocol: 'TCP' }], tcp_proxy: 'toa_open',
    });
    expect(r.status).toBe(400);
    expect(r.body.error_code).toBe('EndPoint.3080');
    for (const v of ['close', 'proxy_open', 'open', 'proxy_vni']) expect(r.body.error_msg).toMatch(new RegExp(`\\b${v}\\b`));
    expect(r.body.error_msg).toMatch(/supported/);
    expect((await d.provider.get('/vpc-endpoint-services')).body.total_count).toBe(0);
  });
});

// =================================================================================================

describe('backend failures and connection behaviour', () => {
  it('backend down: the client is reset promptly, counted as backend_unreachable, the daemon keeps serving', async () => {
    const d = await daemon();
    const B = await deadPort();
    const P = randomPort();
    const svc = await publish(d, [[P, B]]);
    const ep = await acceptedEndpoint(d, svc.id);

    const c = new Client(ep.host_ip, P);
    const closedAt = await c.waitClosed(2_000);
    expect(closedAt - c.startedAt).toBeLessThan(1_000);
    expect(c.error).toBe('ECONNRESET');
    expect(c.received.length).toBe(0);
    expect(await rejected(d.url, ep.id, 'backend_unreachable')).toBe(1);
    expect(await closedBy(d.url, ep.id, 'backend_failed')).toBe(1);
    expect(await metric(d.url, 'vpcep_endpoint_active_connections', { endpoint_id: ep.id })).toBe(0);
    expect((await fetch(`${d.url}/`)).status).toBe(200);
    expect((await d.consumer.get(`/vpc-endpoints/${ep.id}`)).body.status).toBe('accepted');
  });

  it('backend slow: a connect that never completes is cut after backend_connect_timeout_ms (driven by the clock and sweep hook)', async () => {
    const clock = new FakeClock();
    const d = await daemon({ backend_connect_timeout_ms: 5_000 }, undefined, clock);
    // a listener that never accepts, its accept queue full: the relay's connect hangs (before, the
    // test picked a free port for Python to bind, and another test could take it in between)
    const hole = await fullListener();
    onTestFinished(() => hole.close());
    const B = hole.port;

    const P = randomPort();
    const svc = await publish(d, [[P, B]]);
    const ep = await acceptedEndpoint(d, svc.id);
    const c = new Client(ep.host_ip, P);
    expect(await c.settled).toBe('connected');
    await waitFor(async () => (await metric(d.url, 'vpcep_endpoint_active_connections', { endpoint_id: ep.id })) === 1, 2_000, 'the connect under way');
    clock.advance(4_999);
    d.daemon.dataPlane.sweep(); // not yet past the deadline
    await sleep(50);
    expect(c.closedAt).toBeNull();
    clock.advance(2);
    d.daemon.dataPlane.sweep();
    await c.waitClosed(3_000);
    expect(c.error).toBe('ECONNRESET');
    expect(await rejected(d.url, ep.id, 'backend_timeout')).toBe(1);
    expect(await closedBy(d.url, ep.id, 'backend_failed')).toBe(1);
    expect(await metric(d.url, 'vpcep_endpoint_active_connections', { endpoint_id: ep.id })).toBe(0);
  });

  it('half-close: the client FIN reaches the backend, whose answer and FIN come back', async () => {
    const d = await daemon();
    let backendGot = '';
    let backendEndAt = 0;
    const backend = await startBackend((s) => {
      s.on('data', (b: Buffer) => { backendGot += b.toString(); });
      s.on('end', () => {
        backendEndAt = performance.now();
        s.end('bye');
      });
    }, true);
    const P = randomPort();
    const svc = await publish(d, [[P, backend.port]]);
    const ep = await acceptedEndpoint(d, svc.id);

    const c = await connected(ep.host_ip, P, { allowHalfOpen: true });
    let finishedAt = 0;
    c.sock.on('finish', () => { finishedAt = performance.now(); });
    let byeAt = 0;
    c.sock.on('data', () => { if (c.text === 'bye') byeAt = performance.now(); });
    c.sock.write('hello');
    c.sock.end();
    await waitFor(() => c.endedAt !== null, 2_000, 'the FIN from the backend');
    expect(backendGot).toBe('hello');
    expect(c.text).toBe('bye');
    expect(finishedAt).toBeGreaterThan(0);
    expect(finishedAt).toBeLessThan(backendEndAt);
    expect(backendEndAt).toBeLessThan(byeAt);
    expect(byeAt).toBeLessThanOrEqual(c.endedAt!);
    await c.waitClosed(1_000);
    expect(c.error).toBeNull();
  });

  it('a backend that speaks first (a banner before any client byte) reaches the client, then the exchange goes on', async () => {
    const d = await daemon();
    const backend = await startBackend((s) => {
      s.write('220 ready\r\n');
      s.on('data', (b: Buffer) => s.write(`250 ${b.toString().trim()}\r\n`));
    });
    const P = randomPort();
    const svc = await publish(d, [[P, backend.port]]);
    const ep = await acceptedEndpoint(d, svc.id);
    const c = await connected(ep.host_ip, P);
    await waitFor(() => c.text === '220 ready\r\n', 2_000, 'the banner, with nothing sent');
    c.sock.write('HELO x\r\n');
    await waitFor(() => c.text === '220 ready\r\n250 HELO x\r\n', 2_000, 'the answer');
    c.sock.end();
    await c.waitClosed(2_000);
    expect(c.error).toBeNull();
  });

  it('resets are counted by the side that reset: client_reset, backend_reset', async () => {
    const d = await daemon();
    // the backend echoes, and resets the connection that sends "reset"
    const backend = await startBackend((s) => s.on('data', (b: Buffer) => (String(b) === 'reset' ? s.resetAndDestroy() : s.write(b))));
    const P = randomPort();
    const svc = await publish(d, [[P, backend.port]]);
    const ep = await acceptedEndpoint(d, svc.id);

    const a = await relays(ep.host_ip, P);
    a.sock.resetAndDestroy();
    await waitFor(async () => (await closedBy(d.url, ep.id, 'client_reset')) === 1, 2_000, 'the client reset counted');
    const b = await relays(ep.host_ip, P);
    b.sock.write('reset');
    await b.waitClosed(2_000);
    expect(b.error).toBe('ECONNRESET');
    await waitFor(async () => (await closedBy(d.url, ep.id, 'backend_reset')) === 1, 2_000, 'the backend reset counted');
    expect(await closedBy(d.url, ep.id, 'client_reset')).toBe(1);
    expect(await closedBy(d.url, ep.id, 'done') ?? 0).toBe(0);
  });

  it('a client that sends FIN then RST while the backend is silent frees its cap slot, SNAT port and descriptors at the next sweep, not after the idle timeout', async () => {
    const clock = new FakeClock();
    const d = await daemon(undefined, undefined, clock); // idle_timeout_ms: 350 s, never reached: the clock stays put
    let backendEnded = false;
    const backend = await startBackend((s) => { s.resume(); s.on('end', () => { backendEnded = true; }); }, true); // silent, never closes
    const P = randomPort();
    const svc = await publish(d, [[P, backend.port]]);
    const ep = await acceptedEndpoint(d, svc.id);
    // this process's sockets by inode (not pipes: the native relay keeps the ones it used in its
    // pool). Not a count: the native relay makes backend sockets ahead, and the API's keep-alive
    // connections come and go, so a count after the close could exceed the one before it
    const sockets = () => new Set(fs.readdirSync('/proc/self/fd').flatMap((f) => {
      try {
        const l = fs.readlinkSync(`/proc/self/fd/${f}`);
        return l.startsWith('socket:') ? [l] : [];
      } catch { return []; }
    }));
    const before = sockets();

    const c = await connected(ep.host_ip, P, { allowHalfOpen: true });
    await waitFor(() => backend.conns.length === 1, 2_000, 'the backend connection');
    // the connection's: the client's, the daemon's accepted one, the backend's accepted one, and the
    // daemon's to the backend unless it was made ahead. Only sockets bound or connected (listed by
    // inode in /proc/net/tcp): the native relay may make its next batch of backend sockets ahead
    // right then, for later connections (unbound, they stay open; once, in CI, they failed the wait)
    const bound = new Set(fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1).flatMap((l) => {
      const inode = l.trim().split(/\s+/)[9];
      return inode && inode !== '0' ? [`socket:[${inode}]`] : [];
    }));
    const opened = [...sockets()].filter((x) => !before.has(x) && bound.has(x));
    expect(opened.length).toBeGreaterThanOrEqual(3);
    c.sock.end();
    await waitFor(() => backendEnded, 2_000, 'the FIN to reach the backend');
    c.sock.resetAndDestroy();
    await c.waitClosed();
    await waitFor(async () => {
      d.daemon.dataPlane.sweep();
      return (await metric(d.url, 'vpcep_endpoint_active_connections', { endpoint_id: ep.id })) === 0;
    }, 2_000, 'the connection to be freed');
    expect(await metric(d.url, 'vpcep_endpoint_snat_ports_in_use', { endpoint_id: ep.id })).toBe(0);
    expect(await metric(d.url, 'vpcep_active_connections')).toBe(0);
    expect(await closedBy(d.url, ep.id, 'client_reset')).toBe(1);
    backend.conns[0]!.destroy(); // the test's own end of the backend connection (it no longer reads either)
    await waitFor(() => { const now = sockets(); return opened.every((x) => !now.has(x)); }, 2_000, 'the daemon\'s sockets of the connection to close');
  });

  it('idle timeout: an idle connection is closed, a trickling one stays open (driven by the clock and sweep hook)', async () => {
    const clock = new FakeClock();
    const d = await daemon({ idle_timeout_ms: 300_000 }, undefined, clock);
    const { ep, idle, busy } = await twoRelayed(d);
    d.daemon.dataPlane.sweep(); // both were active: their idle time starts now
    clock.advance(200_000);
    await busy.roundTrip('trickle');
    d.daemon.dataPlane.sweep(); // 200 s idle: under the timeout, nothing closes
    await sleep(50);
    expect(idle.closedAt).toBeNull();
    clock.advance(200_000);
    d.daemon.dataPlane.sweep(); // idle: 400 s; busy: 200 s
    await idle.waitClosed(3_000);
    expect(idle.error).toBeNull();
    await busy.roundTrip('still alive');
    expect(busy.closedAt).toBeNull();
    await waitFor(async () => (await closedBy(d.url, ep.id, 'idle')) === 1, 2_000, 'the idle one counted');
    busy.sock.end();
    await busy.waitClosed(2_000);
    await waitFor(async () => (await closedBy(d.url, ep.id, 'done')) === 1, 2_000, 'the busy one counted as done');
    expect(await closedBy(d.url, ep.id, 'idle')).toBe(1);
  });

  // the fast path's connections: the relay threads time them on the real clock (the sweep skips
  // them); until 2026-12-06 the daemon passed its real clock on as if injected, so the threads never did
  const threadsTime = relayChoice().relay === 'native' && (process.env.VPCEP_FAST_ACCEPT ?? '').trim().toLowerCase() !== 'off';
  it.runIf(threadsTime)('idle timeout in a daemon on the real clock: with the event loop\'s sweep off, the relay threads close an idle connection (counted idle); a trickling one stays open', async () => {
    // 1 s: the trickle (every 100 ms) keeps its connection open even when the test's process is held up for most of a second
    const d = await startTestDaemon(twoAccountConfig({ dataplane: { idle_timeout_ms: 1_000 } }), undefined, { dataPlaneClock: { sweepIntervalMs: 0 } });
    daemons.add(d);
    const { ep, idle, busy } = await twoRelayed(d);
    const trickle = setInterval(() => busy.sock.write('t'), 100);
    try {
      await idle.waitClosed(5_000);
      expect(idle.error).toBeNull();
      await waitFor(async () => (await closedBy(d.url, ep.id, 'idle')) === 1, 3_000, 'the idle one counted');
      await sleep(1_200);
      expect(busy.closedAt).toBeNull();
    } finally {
      clearInterval(trickle);
    }
  });

  it('a listener that cannot bind fails only its endpoint; another endpoint of the service works', async () => {
    const d = await daemon();
    const backend = await startBackend();
    const P = randomPort();
    const squatter = net.createServer();
    await new Promise<void>((resolve, reject) => {
      squatter.once('error', reject);
      squatter.listen(P, '127.2.1.77', () => resolve());
    });
    servers.add(squatter);

    const svc = await publish(d, [[P, backend.port]]);
    const created = await createEndpoint(d, svc.id, { port_ip: '10.0.1.77' });
    expect(created.host_ip).toBe('127.2.1.77');
    const failed = await waitEndpoint(d, created.id, 'failed');
    expect(failed.error).toHaveLength(1);
    expect(failed.error[0].error_code).toBe('EndPoint.0012');
    expect(failed.error[0].error_message).toMatch(/address in use/);
    expect(failed.error[0].error_message).toContain(`127.2.1.77:${P}`);
    expect(failed.snat_ip).toBeNull();

    const other = await acceptedEndpoint(d, svc.id);
    expect(other.host_ip).not.toBe('127.2.1.77');
    await relays(other.host_ip, P);
    expect(backend.conns.length).toBe(1);
  });

  it('restores live endpoints on start-up without any API call', async () => {
    const dataDir = tempDir();
    const first = await daemon(undefined, dataDir);
    const backend = await startBackend();
    const P = randomPort();
    const svc = await publish(first, [[P, backend.port]]);
    const ep = await acceptedEndpoint(first, svc.id);
    const c = await relays(ep.host_ip, P);
    c.sock.destroy();
    daemons.delete(first);
    await first.stop();
    await expectRefused(ep.host_ip, P);

    await daemon(undefined, dataDir);
    await relays(ep.host_ip, P);
    expect(backend.conns.length).toBe(2);
  });
});

// =================================================================================================

describe('vpcepd as a process', () => {
  function track(c: ChildDaemon): ChildDaemon {
    procs.add(c.proc);
    return c;
  }

  it('SIGTERM drains: new connections refused, held ones relay until the drain timeout, then exit 0', async () => {
    // long enough that a loaded machine (CI, the JS relay) sees the refusal and the round trip before the cut
    const DRAIN_MS = 2_000;
    const dir = tempDir();
    const config = writeConfig(dir, twoAccountConfig({ dataplane: { drain_timeout_ms: DRAIN_MS } }));
    const child = track(await spawnDaemon(['--config', config, '--data-dir', path.join(dir, 'data')]));
    const api: Api = {
      url: child.url,
      provider: new ApiClient(child.url, PROVIDER.token, PROVIDER.project_id),
      consumer: new ApiClient(child.url, CONSUMER.token, CONSUMER.project_id),
    };
    const backend = await startBackend();
    const P = randomPort();
    const svc = await publish(api, [[P, backend.port]]);
    const ep = await acceptedEndpoint(api, svc.id);
    const held = await relays(ep.host_ip, P);

    const sigAt = performance.now();
    child.proc.kill('SIGTERM');
    await waitFor(async () => {
      const probe = new Client(ep.host_ip, P);
      const r = await probe.settled;
      probe.sock.destroy();
      return r === 'ECONNREFUSED';
    }, DRAIN_MS / 2, 'new connections to be refused');
    await held.roundTrip('still relaying');
    expect(held.closedAt).toBeNull();

    const exit = await child.exited;
    const exitAt = performance.now();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(exitAt - sigAt).toBeGreaterThanOrEqual(DRAIN_MS - 50);
    const cutAt = await held.waitClosed(1_000);
    expect(cutAt - sigAt).toBeGreaterThanOrEqual(DRAIN_MS - 50);
    expect(held.error).toBe('ECONNRESET');
    const drained = child.output().split('\n').find((l) => l.includes('"data plane drained"'));
    expect(drained).toBeDefined();
    expect(JSON.parse(drained!).cut).toBe(1);
  });

  it('an open-file limit that leaves no descriptor for a listener and a connection is warned about at start (it was an info line with a negative budget, the daemon ready and relaying nothing)', async () => {
    const { output } = await lowLimitDaemon(200);
    const warning = output().split('\n').find((l) => l.includes('"data plane: the open-file limit leaves no descriptor'));
    expect(warning, output()).toBeDefined();
    expect(JSON.parse(warning!)).toMatchObject({ level: 40, fd_limit: 200 });
    const enough = await lowLimitDaemon(1024);
    expect(enough.output()).not.toContain('"data plane: the open-file limit leaves no descriptor');
  });

  it('listeners count in the descriptor budget: with 600 listeners under ulimit -n 1024, every admitted connection relays and fd_limit refusals start exactly where the budget is used', async () => {
    const { api, url, output } = await lowLimitDaemon(1024);
    const backend = await startBackend(); // echoes and holds every connection
    const P = 20_000 + Math.floor(Math.random() * 40_000);
    const svc = await publish(api, Array.from({ length: 50 }, (_, i): [number, number] => [P + i, backend.port]));
    const endpoints = [];
    for (let i = 0; i < 12; i++) endpoints.push(await acceptedEndpoint(api, svc.id));
    const listeners = 12 * 50;
    const budgetLine = output().split('\n').find((l) => l.includes('"data plane: descriptor budget'));
    const budget: number = JSON.parse(budgetLine!).fd_budget;
    // admitted while active * 2 + listeners + 2 <= budget
    const capacity = Math.floor((budget - listeners - 2) / 2) + 1;
    expect(capacity).toBeGreaterThan(10);

    const n = capacity + 300; // past what the descriptors really allow when listeners are left out
    const clients: Client[] = [];
    for (let i = 0; i < n; i++) {
      const c = new Client(endpoints[i % 12].host_ip, P + (i % 50));
      clients.push(c);
      void c.settled.then((r) => { if (r === 'connected') c.sock.write('x'); });
    }
    await waitFor(() => clients.every((c) => c.received.length > 0 || c.closedAt !== null), 10_000, 'every client relayed or refused');
    const relayed = clients.filter((c) => c.text === 'x' && c.closedAt === null).length;
    console.log(`ulimit -n 1024, ${listeners} listeners, descriptor budget ${budget}: ${relayed} of ${n} relayed (capacity ${capacity})`);
    expect(relayed).toBe(capacity);
    let fdRefusals = 0;
    for (const ep of endpoints) fdRefusals += (await rejected(url, ep.id, 'fd_limit')) ?? 0;
    expect(fdRefusals).toBe(n - capacity);
    expect(await metric(url, 'vpcep_active_connections')).toBe(capacity);
  });

  it('under a low open-file limit: refuses with fd_limit, never crashes, relays again afterwards', async () => {
    const { api, url, proc } = await lowLimitDaemon(300);
    const backend = await startBackend(); // echoes and holds every connection
    const P = randomPort();
    const svc = await publish(api, [[P, backend.port]]);
    const ep = await acceptedEndpoint(api, svc.id);

    const clients = Array.from({ length: 400 }, () => new Client(ep.host_ip, P));
    for (const c of clients) void c.settled.then((r) => { if (r === 'connected') c.sock.write('x'); });
    await waitFor(() => clients.every((c) => c.received.length > 0 || c.closedAt !== null), 10_000, 'every client relayed or refused');
    const admitted = clients.filter((c) => c.text === 'x' && c.closedAt === null).length;
    const refused = clients.filter((c) => c.received.length === 0 && c.closedAt !== null).length;
    console.log(`ulimit -n 300: ${admitted} admitted, ${refused} refused of 400`);
    expect(admitted + refused).toBe(400);
    expect(admitted).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);

    expect(proc.exitCode).toBeNull();
    expect((await fetch(`${url}/`)).status).toBe(200);
    const fdRefusals = await rejected(url, ep.id, 'fd_limit');
    expect(fdRefusals).toBeGreaterThan(0);
    expect(fdRefusals).toBe(refused);
    expect(await metric(url, 'vpcep_endpoint_active_connections', { endpoint_id: ep.id })).toBe(admitted);

    for (const c of clients) c.sock.destroy();
    await waitFor(async () => (await metric(url, 'vpcep_active_connections')) === 0, 5_000, 'every relayed connection to close');
    await relays(ep.host_ip, P);
    expect(proc.exitCode).toBeNull();
    expect((await fetch(`${url}/`)).status).toBe(200);
  });
});

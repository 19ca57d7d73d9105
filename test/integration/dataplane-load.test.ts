// The TCP data plane under load, over real loopback sockets with an in-process daemon per
// describe: byte-exact bulk transfer both ways, kernel SNAT source addresses, the per-endpoint
// connection cap (exact admission at 3,000), a 5,000-client connect storm against the cap, and
// counters back to zero after 10,000 connect/close cycles.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import net, { type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { relayChoice } from '../../src/dataplane/native-relay.js';
import { canBindSnat } from '../../src/dataplane/snat-mode.js';
import { cidrContains, ipToInt, SNAT_RANGE } from '../../src/net/cidr.js';
import {
  createAvailableService, CONSUMER, SERVICE_BODY, scrapeMetrics, startTestDaemon, twoAccountConfig, type MetricSample, type TestDaemon,
} from '../helpers.js';
import { echo, hashSink, hold, randomPort, startBackend, type TestBackend } from './backends.js';

const MiB = 1024 * 1024;
const CAP = 3000; // connections_per_endpoint default (000_9af245a83013c30f.txt 1.4)
const kernelSnat = await canBindSnat();
const inCi = process.env.CI === 'true';

// ---- sockets, servers and daemons to close ------------------------------------------------------

const clients = new Set<Socket>();
afterEach(async () => {
  const closing = [...clients].map((s) => (s.closed ? Promise.resolve() : once(s, 'close').then(() => undefined, () => undefined)));
  for (const s of clients) s.destroy();
  await Promise.all(closing);
  clients.clear();
});

/** the daemons and backends of a describe, closed in afterAll */
function harness(dataplane: Record<string, unknown> = {}) {
  const h = {
    daemons: [] as TestDaemon[],
    backends: [] as TestBackend[],
    async daemon(extra: Record<string, unknown> = {}): Promise<TestDaemon> {
      const d = await startTestDaemon(twoAccountConfig({
        dataplane: { backend_connect_timeout_ms: 5_000, idle_timeout_ms: 300_000, drain_timeout_ms: 500, ...dataplane, ...extra },
      }));
      h.daemons.push(d);
      return d;
    },
    async backend(handler: (s: Socket) => void, allowHalfOpen = false): Promise<TestBackend> {
      const b = await startBackend(handler, { allowHalfOpen, backlog: 4096 });
      h.backends.push(b);
      return b;
    },
  };
  afterAll(async () => {
    for (const s of clients) s.destroy();
    await Promise.all(h.backends.splice(0).map((b) => b.close()));
    for (const d of h.daemons.splice(0)) await d.stop();
  });
  return h;
}

// ---- endpoints -------------------------------------------------------------------------------

/** a service on port-web (target 127.0.0.1) with these mappings, and a consumer endpoint to it, accepted */
async function liveEndpoint(d: TestDaemon, ports: Array<{ client_port: number; server_port: number }>): Promise<any> {
  const svc = await createAvailableService(d, {
    ...SERVICE_BODY,
    service_name: 'load',
    approval_enabled: false,
    ports: ports.map((p) => ({ ...p, protocol: 'TCP' })),
  });
  const perm = await d.provider.post(`/vpc-endpoint-services/${svc.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] });
  expect(perm.status).toBe(200);
  const ep = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: svc.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
  expect(ep.status).toBe(200);
  expect(ep.body.status).toBe('creating');
  const live = await poll(async () => {
    const r = await d.consumer.get(`/vpc-endpoints/${ep.body.id}`);
    if (r.body.status === 'failed') throw new Error(`endpoint failed: ${JSON.stringify(r.body.error)}`);
    return r.body.status === 'accepted' ? r.body : null;
  }, 5_000, 'endpoint accepted');
  expect(live.host_ip).toBe('127.2.1.2');
  return live;
}

/** a terminal port different from the backend ports */
function terminalPort(...avoid: number[]): number {
  for (;;) {
    const p = randomPort();
    if (!avoid.includes(p)) return p;
  }
}

// ---- metrics ---------------------------------------------------------------------------------

type Sample = MetricSample;
const scrape = (d: TestDaemon): Promise<Sample[]> => scrapeMetrics(d.url);

/** the value of the one sample of `name` whose labels include `labels`, or undefined */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const hits = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (hits.length > 1) throw new Error(`${hits.length} samples of ${name} ${JSON.stringify(labels)}`);
  return hits[0]?.value;
}

/** the per-endpoint figures this file checks */
async function endpointFigures(d: TestDaemon, id: string) {
  const m = await scrape(d);
  const rejected: Record<string, number> = {};
  for (const s of m) if (s.name === 'vpcep_endpoint_rejected_connections_total' && s.labels.endpoint_id === id) rejected[s.labels.reason!] = s.value;
  return {
    active: value(m, 'vpcep_endpoint_active_connections', { endpoint_id: id }),
    connections: value(m, 'vpcep_endpoint_connections_total', { endpoint_id: id }),
    received: value(m, 'vpcep_endpoint_received_bytes_total', { endpoint_id: id }),
    sent: value(m, 'vpcep_endpoint_sent_bytes_total', { endpoint_id: id }),
    daemonActive: value(m, 'vpcep_active_connections'),
    rejected,
  };
}

// ---- small utilities -------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** polls `fn` every 25 ms until it returns a truthy value; the error names what was awaited and the last value seen */
async function poll<T>(fn: () => Promise<T> | T, ms: number, what: string, describeLast?: () => unknown): Promise<NonNullable<T>> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}${describeLast ? `: ${JSON.stringify(describeLast())}` : ''}`);
    await sleep(25);
  }
}

interface Dialed {
  readonly sock: Socket;
  /** settles on 'connect' (the kernel's handshake, before the daemon decides) */
  readonly connected: Promise<void>;
  /** how it ended: the error code, or null for a close without an error */
  readonly ended: Promise<string | null>;
  state: 'connecting' | 'connected' | 'reset' | 'closed';
  error: string | null;
}

/** a client connection that records how it ends */
function dial(host: string, port: number): Dialed {
  const sock = net.connect({ host, port });
  clients.add(sock);
  const c: Dialed = {
    sock,
    state: 'connecting',
    error: null,
    connected: new Promise<void>((resolve, reject) => {
      sock.once('connect', () => resolve());
      sock.once('close', () => reject(new Error(`closed before connecting (${c.error})`)));
    }),
    ended: new Promise<string | null>((resolve) => {
      sock.once('close', () => {
        clients.delete(sock);
        c.state = c.error ? 'reset' : 'closed';
        resolve(c.error);
      });
    }),
  };
  c.connected.then(() => { if (c.state === 'connecting') c.state = 'connected'; }, () => undefined);
  sock.on('error', (err: NodeJS.ErrnoException) => { c.error ??= err.code ?? err.message; });
  return c;
}

/** a deterministic pseudo-random MiB (xorshift32) */
function pseudoRandomMiB(seed: number): Buffer {
  const b = Buffer.allocUnsafe(MiB);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < MiB; i += 4) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    b.writeUInt32LE(x, i);
  }
  return b;
}

/** chunk i of a stream: the base MiB with i written at its start and its end */
function chunkOf(base: Buffer, i: number): Buffer {
  const c = Buffer.allocUnsafe(MiB);
  base.copy(c);
  c.writeUInt32LE(i, 0);
  c.writeUInt32LE(~i >>> 0, MiB - 4);
  return c;
}

/** resolves on 'drain'; rejects if the socket closes first (no listener is left behind) */
function drained(sock: Socket, chunks: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = () => { sock.off('close', onClose); resolve(); };
    const onClose = () => { sock.off('drain', onDrain); reject(new Error(`socket closed after ${chunks} chunks`)); };
    sock.once('drain', onDrain);
    sock.once('close', onClose);
  });
}

/** writes `count` chunks to `sock`, hashing them, honouring backpressure; returns the hex digest */
async function streamChunks(sock: Socket, base: Buffer, count: number): Promise<string> {
  const h = createHash('sha256');
  for (let i = 0; i < count; i++) {
    const c = chunkOf(base, i);
    h.update(c);
    if (!sock.write(c)) await drained(sock, i + 1);
  }
  return h.digest('hex');
}

// ---- 1. bytes ----------------------------------------------------------------------------------

describe('data plane load: bytes through an endpoint', () => {
  const h = harness();
  const UP = 1024; // MiB: 1 GiB from the client
  const DOWN = 256; // MiB from the backend
  let ep: any;
  let sink: TestBackend;
  let source: TestBackend;
  let sourceDigest: Promise<string>;
  let upPort: number;
  let downPort: number;

  beforeAll(async () => {
    const d = await h.daemon();
    sink = await h.backend(hashSink, true);
    let resolveDigest!: (hex: string) => void;
    sourceDigest = new Promise((r) => { resolveDigest = r; });
    const downBase = pseudoRandomMiB(0xdecafbad);
    source = await h.backend((s) => {
      void streamChunks(s, downBase, DOWN).then((hex) => { s.end(); resolveDigest(hex); }, () => undefined);
    });
    upPort = terminalPort(sink.port, source.port);
    downPort = terminalPort(sink.port, source.port, upPort);
    ep = await liveEndpoint(d, [{ client_port: upPort, server_port: sink.port }, { client_port: downPort, server_port: source.port }]);
  });

  it('relays 1 GiB client -> backend byte-exact (sha256), then 256 MiB backend -> client', async () => {
    const d = h.daemons[0]!;
    // Up: 1 GiB, then a half-close; the sink answers with the digest of what it received.
    const up = dial(ep.host_ip, upPort);
    await up.connected;
    const reply: Buffer[] = [];
    up.sock.on('data', (b: Buffer) => reply.push(b));
    const upEnd = once(up.sock, 'end');
    const t0 = performance.now();
    const sent = await streamChunks(up.sock, pseudoRandomMiB(0x5eed1234), UP);
    up.sock.end();
    await upEnd;
    const seconds = (performance.now() - t0) / 1000;
    console.log(`1 GiB client -> backend through the endpoint: ${seconds.toFixed(2)} s, ${(UP * MiB / 1e6 / seconds).toFixed(0)} MB/s`);
    expect(Buffer.concat(reply).toString()).toBe(sent);
    expect(await up.ended).toBeNull();
    expect(sink.accepted).toBe(1);

    // Down: 256 MiB from the backend, hashed on both sides.
    const down = dial(ep.host_ip, downPort);
    await down.connected;
    const got = createHash('sha256');
    let gotBytes = 0;
    down.sock.on('data', (b: Buffer) => { got.update(b); gotBytes += b.length; });
    const t1 = performance.now();
    await once(down.sock, 'end');
    const downSeconds = (performance.now() - t1) / 1000;
    console.log(`256 MiB backend -> client through the endpoint: ${downSeconds.toFixed(2)} s, ${(DOWN * MiB / 1e6 / downSeconds).toFixed(0)} MB/s`);
    expect(gotBytes).toBe(DOWN * MiB);
    expect(got.digest('hex')).toBe(await sourceDigest);
    down.sock.end();
    expect(await down.ended).toBeNull();
    expect(source.accepted).toBe(1);

    // Both connections are gone and the byte counters are exact.
    const f = await poll(async () => {
      const x = await endpointFigures(d, ep.id);
      return x.active === 0 ? x : null;
    }, 5_000, 'active 0');
    expect(f).toMatchObject({ active: 0, daemonActive: 0, connections: 2, received: UP * MiB, sent: DOWN * MiB + 64, rejected: {} });
    expect(sink.open + source.open).toBe(0);
  }, 60_000);
});

// ---- 2. kernel SNAT --------------------------------------------------------------------------

describe('data plane load: kernel SNAT source address', () => {
  const h = harness();

  it.runIf(inCi)('CI runs with kernel SNAT available (root or CAP_NET_ADMIN)', () => {
    expect(kernelSnat, 'CI=true but 198.19.128.0/17 cannot be bound: CI runs as root and must run the kernel SNAT test (the AnyIP route "local 198.19.128.0/17 dev lo" is installed by test/global-setup.ts)').toBe(true);
  });

  it.runIf(kernelSnat)('the backend sees the endpoint\'s snat_ip, inside 198.19.128.0/17; metrics say kernel/js', async () => {
    const d = await h.daemon({ snat: 'kernel' });
    const backend = await h.backend(echo);
    const port = terminalPort(backend.port);
    const ep = await liveEndpoint(d, [{ client_port: port, server_port: backend.port }]);
    expect(cidrContains(SNAT_RANGE, ipToInt(ep.snat_ip))).toBe(true);

    const c = dial(ep.host_ip, port);
    await c.connected;
    c.sock.write('ping');
    const [echoed] = await once(c.sock, 'data');
    expect(String(echoed)).toBe('ping');
    expect(backend.remotes).toEqual([ep.snat_ip]);
    expect(cidrContains(SNAT_RANGE, ipToInt(backend.remotes[0]!))).toBe(true);

    const m = await scrape(d);
    expect(m.filter((s) => s.name === 'vpcep_dataplane_info').map((s) => s.line)).toEqual([`vpcep_dataplane_info{snat_mode="kernel",relay="${relayChoice().relay}",relay_io="${relayChoice().io ?? 'none'}"} 1`]);
    expect(value(m, 'vpcep_endpoint_active_connections', { endpoint_id: ep.id })).toBe(1);
    c.sock.end();
    expect(await c.ended).toBeNull();
  });

  it.runIf(kernelSnat)('a SNAT source port held by a socket elsewhere: the connection still goes out from the snat_ip, on another port', async () => {
    const d = await h.daemon({ snat: 'kernel' });
    const sources: string[] = [];
    const backend = await h.backend((s) => { sources.push(`${s.remoteAddress}:${s.remotePort}`); echo(s); });
    const port = terminalPort(backend.port);
    const ep = await liveEndpoint(d, [{ client_port: port, server_port: backend.port }]);
    // The endpoint's pool hands out 1024 first; a listening socket there conflicts with any bind
    // (SO_REUSEADDR or not). The JS relay takes the pool's next port, the native one the kernel's.
    const blocker = net.createServer();
    await new Promise<void>((resolve, reject) => blocker.once('error', reject).listen(1024, ep.snat_ip, resolve));
    try {
      const c = dial(ep.host_ip, port);
      await c.connected;
      c.sock.write('ping');
      const [echoed] = await once(c.sock, 'data');
      expect(String(echoed)).toBe('ping');
      expect(sources).toHaveLength(1);
      const [address, sourcePort] = sources[0]!.split(':');
      expect(address).toBe(ep.snat_ip);
      expect(Number(sourcePort)).not.toBe(1024);
      const m = await scrape(d);
      expect(value(m, 'vpcep_endpoint_snat_ports_in_use', { endpoint_id: ep.id })).toBe(1);
      expect(value(m, 'vpcep_endpoint_active_connections', { endpoint_id: ep.id })).toBe(1);
      c.sock.end();
      expect(await c.ended).toBeNull();
    } finally {
      blocker.close();
    }
  });
});

// ---- 3. the cap --------------------------------------------------------------------------------

/** opens `n` clients in batches, each batch connected before the next */
async function openClients(host: string, port: number, n: number, batch = 200): Promise<Dialed[]> {
  const out: Dialed[] = [];
  while (out.length < n) {
    const group = Array.from({ length: Math.min(batch, n - out.length) }, () => dial(host, port));
    await Promise.all(group.map((c) => c.connected));
    out.push(...group);
  }
  return out;
}

describe('data plane load: the per-endpoint cap of 3,000', () => {
  const h = harness();

  it('admits exactly 3,000, resets the 3,001st at once, and admits again after one closes', async () => {
    const d = await h.daemon();
    const backend = await h.backend(hold);
    const port = terminalPort(backend.port);
    const ep = await liveEndpoint(d, [{ client_port: port, server_port: backend.port }]);

    const held = await openClients(ep.host_ip, port, CAP);
    let last: unknown;
    await poll(async () => {
      const x = await endpointFigures(d, ep.id);
      last = { backend: backend.open, accepted: backend.accepted, ...x };
      return backend.open === CAP && x.active === CAP;
    }, 40_000, 'the backend to hold 3,000 and the active gauge at 3000', () => last); // a wait, not a speed test: the JS relay under four test groups on 2 cores once held 1,603 after 15 s
    let f = await endpointFigures(d, ep.id);
    expect(f).toMatchObject({ active: CAP, connections: CAP, daemonActive: CAP, rejected: {} });
    expect(d.daemon.dataPlane.activeConnections).toBe(CAP);

    // The 3,001st: the kernel completes the handshake, the daemon resets it without a backend connection.
    const extra = dial(ep.host_ip, port);
    const t0 = performance.now();
    const how = await Promise.race([extra.ended, sleep(2_000).then(() => 'still open after 2 s')]);
    expect(how).toBe('ECONNRESET');
    expect(performance.now() - t0).toBeLessThan(1_000);
    await sleep(200);
    expect(backend.accepted).toBe(CAP);
    expect(backend.open).toBe(CAP);
    f = await endpointFigures(d, ep.id);
    expect(f).toMatchObject({ active: CAP, connections: CAP, daemonActive: CAP, rejected: { cap: 1 } });
    expect(held.every((c) => c.state === 'connected')).toBe(true);

    // One leaves: active 2,999, and the next one is admitted.
    held[0]!.sock.end();
    expect(await held[0]!.ended).toBeNull();
    await poll(async () => backend.open === CAP - 1 && (await endpointFigures(d, ep.id)).active === CAP - 1, 5_000, 'active 2999');
    const next = dial(ep.host_ip, port);
    await next.connected;
    await poll(async () => backend.open === CAP && (await endpointFigures(d, ep.id)).active === CAP, 5_000, 'active back at 3000');
    await sleep(100);
    expect(next.state).toBe('connected');
    expect(backend.accepted).toBe(CAP + 1);
    f = await endpointFigures(d, ep.id);
    expect(f).toMatchObject({ active: CAP, connections: CAP + 1, daemonActive: CAP, rejected: { cap: 1 } });
  }, 70_000);
});

// ---- 4. a storm --------------------------------------------------------------------------------

describe('data plane load: 5,000 clients racing for 3,000 places', () => {
  const h = harness();

  it('admits exactly 3,000 and resets exactly 2,000', async () => {
    const d = await h.daemon();
    const backend = await h.backend(hold);
    const port = terminalPort(backend.port);
    const ep = await liveEndpoint(d, [{ client_port: port, server_port: backend.port }]);
    const STORM = 5000;

    const storm = Array.from({ length: STORM }, () => dial(ep.host_ip, port));
    const resets = () => storm.filter((c) => c.state === 'reset').length;
    let last: unknown;
    await poll(async () => {
      last = { backend: backend.open, states: tally(storm.map((c) => c.state)), ...(await endpointFigures(d, ep.id)) };
      return backend.open === CAP && resets() === STORM - CAP;
    }, 25_000, 'the backend to hold 3,000 and 2,000 clients reset', () => last);
    await sleep(300); // nothing more moves
    expect(tally(storm.map((c) => c.state))).toEqual({ connected: CAP, reset: STORM - CAP });
    expect(tally(storm.filter((c) => c.state === 'reset').map((c) => c.error ?? 'none'))).toEqual({ ECONNRESET: STORM - CAP });
    expect(backend.open).toBe(CAP);
    expect(backend.accepted).toBe(CAP);
    const f = await endpointFigures(d, ep.id);
    expect(f).toMatchObject({ active: CAP, connections: CAP, daemonActive: CAP, rejected: { cap: STORM - CAP } });
    expect(d.daemon.dataPlane.activeConnections).toBe(CAP);

    // Everyone leaves: back to zero.
    for (const c of storm) c.sock.destroy();
    await poll(async () => backend.open === 0 && (await endpointFigures(d, ep.id)).active === 0, 10_000, 'active 0 after the storm');
    expect(d.daemon.dataPlane.activeConnections).toBe(0);
  }, 45_000);
});

// ---- 5. counters back to zero ------------------------------------------------------------------
// Last in the file: in kernel SNAT mode each of its 10,000 backend connections leaves a TIME_WAIT
// socket on the endpoint's SNAT address for 60 s, and the kernel does not hand such ports out to
// a bind() of port 0, so the tests above would otherwise start with ~10,000 fewer source ports.

describe('data plane load: counters back to zero after 10,000 connect/close cycles', () => {
  const h = harness();

  it('50 workers x connect, 16 bytes echoed, close: every gauge returns to 0, 10,000 counted', async () => {
    const d = await h.daemon();
    const backend = await h.backend(echo);
    const port = terminalPort(backend.port);
    const ep = await liveEndpoint(d, [{ client_port: port, server_port: backend.port }]);
    const CYCLES = 10_000;
    const WORKERS = 50;
    let started = 0;
    let echoedOk = 0;
    const failures: string[] = [];

    const cycle = async (i: number): Promise<void> => {
      const c = dial(ep.host_ip, port);
      await c.connected;
      const payload = Buffer.alloc(16);
      payload.write(`cycle ${i}`.padEnd(16, '.'));
      const echoed = new Promise<Buffer>((resolve, reject) => {
        const parts: Buffer[] = [];
        let n = 0;
        c.sock.on('data', (b: Buffer) => {
          parts.push(b);
          n += b.length;
          if (n >= 16) resolve(Buffer.concat(parts));
        });
        c.sock.once('close', () => reject(new Error(`closed after ${n} bytes (${c.error})`)));
      });
      c.sock.write(payload);
      const back = await echoed;
      if (back.equals(payload)) echoedOk++;
      else failures.push(`cycle ${i}: echoed ${JSON.stringify(back.toString())}`);
      c.sock.end();
      const how = await c.ended;
      if (how !== null) failures.push(`cycle ${i}: ended with ${how}`);
    };
    const worker = async () => {
      while (started < CYCLES) {
        const i = started++;
        await cycle(i).catch((err: Error) => { failures.push(`cycle ${i}: ${err.message}`); });
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: WORKERS }, worker));
    console.log(`10,000 connect/echo/close cycles: ${((performance.now() - t0) / 1000).toFixed(2)} s`);
    expect(failures.slice(0, 5)).toEqual([]);
    expect(echoedOk).toBe(CYCLES);

    const f = await poll(async () => {
      const x = await endpointFigures(d, ep.id);
      return x.active === 0 && x.daemonActive === 0 && d.daemon.dataPlane.activeConnections === 0 && backend.open === 0 ? x : null;
    }, 10_000, 'every gauge at 0', () => ({ dataPlane: d.daemon.dataPlane.activeConnections, backend: backend.open }));
    expect(f).toEqual({ active: 0, daemonActive: 0, connections: CYCLES, received: 16 * CYCLES, sent: 16 * CYCLES, rejected: {} });
    expect(d.daemon.dataPlane.activeConnections).toBe(0);
    expect(backend.accepted).toBe(CYCLES);
    expect(backend.open).toBe(0);
  }, 60_000);
});

function tally(xs: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}

// The native relay's fast path (issue 16) over real loopback sockets, a data plane in this process:
// the relay threads accept, admit, connect and relay by the rules TypeScript compiled; the cap
// stays exact under a storm of connections spread over the threads; refusals, opens and closes
// reach the endpoint's counters in the threads' batches, the bytes through per-endpoint counters
// the threads keep; a live change (a whitelist, a bandwidth
// limit, which the threads' token buckets apply: the endpoint stays on the fast path) applies to
// the next connection; a removal cuts the connections the threads opened; connections opened and
// closed before the threads' timed report are counted from one brief event each. With the JS relay
// (test:js-relay) the same behaviour holds on the event loop's path, and the fast path's own
// counter is not asserted. A public service's listener (gateway routing) is decided on the threads
// too, its cap as exact.
import net, { type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TcpDataPlane } from '../../src/dataplane/data-plane.js';
import { EndpointRuntime } from '../../src/dataplane/endpoint-runtime.js';
import { relayChoice, loadNativeRelay } from '../../src/dataplane/native-relay.js';
import type { LiveEndpoint } from '../../src/model/events.js';
import type { RoutingView } from '../../src/model/routing.js';
import type { ToxicRule } from '../../src/model/toxics.js';
import { cidrOf } from '../../src/net/cidr.js';
import { targetKey } from '../../src/model/health.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { waitFor } from '../helpers.js';
import { echo, randomPort, startBackend } from './backends.js';

const cleanup: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

const native = () => (relayChoice().relay === 'native' ? loadNativeRelay() : null);
const fastAccepted = () => native()?.fastFigures().accepted ?? 0;

function plane(o: { idleTimeoutMs?: number; sweepIntervalMs?: number; snatMode?: 'logical' | 'kernel'; snatPorts?: { low: number; high: number }; maxConnections?: number } = {}): TcpDataPlane {
  const dp = new TcpDataPlane({
    snatMode: o.snatMode ?? 'logical', connectTimeoutMs: 3_000, idleTimeoutMs: o.idleTimeoutMs ?? 600_000, maxConnections: o.maxConnections ?? 100_000, socketBufferBytes: 0, vpcs: [],
    log: createLogger('silent'), observeConnect: () => undefined, forget: () => undefined,
    ...(o.sweepIntervalMs !== undefined ? { sweepIntervalMs: o.sweepIntervalMs } : {}),
    ...(o.snatPorts ? { snatPorts: o.snatPorts } : {}),
  });
  cleanup.push(() => dp.close());
  return dp;
}

function spec(id: string, port: number, backendPort: number, o: Partial<LiveEndpoint> = {}): LiveEndpoint {
  return {
    id, marker_id: 1, service_id: 'svc-1', ip: '10.0.1.5', host_ip: '127.0.0.1', vpc_id: 'vpc-x', vpc_number: 200,
    vpc_cidr: '10.0.0.0/16', snat_ip: '', tcp_proxy: 'close', enable_whitelist: false, whitelist: [], connection_cap: 100_000,
    enis: [{ zone: 'sim-1a', ip: '10.0.1.5', host_ip: '127.0.0.1' }], zone_affinity: false,
    backends: [{ client_port: port, host: '127.0.0.1', port: backendPort, targets: [{ key: targetKey('127.0.0.1', backendPort), host: '127.0.0.1', port: backendPort, zone: null }], health: null, drain_ms: 0 }],
    ...o,
  };
}

/** a connection: whether it echoed (admitted and relayed) or was reset; kept open when admitted. FROM: the client's host address */
async function attempt(port: number, host = '127.0.0.1', from?: string): Promise<{ ok: boolean; socket: Socket }> {
  const socket = net.connect({ host, port, ...(from ? { localAddress: from } : {}) });
  cleanup.push(() => socket.destroy());
  socket.on('error', () => undefined);
  const ok = await new Promise<boolean>((resolve) => {
    const t = setTimeout(() => resolve(false), 5_000);
    socket.once('connect', () => socket.write('x'));
    socket.once('data', () => { clearTimeout(t); resolve(true); });
    socket.once('close', () => { clearTimeout(t); resolve(false); });
  });
  return { ok, socket };
}

const figures = (dp: TcpDataPlane, id: string) => dp.stats().find((e) => e.id === id)!;

/**
 * until the relay threads hold no connection: their counts are the process's, and the test
 * before's connections, cut when its data plane closed, leave the threads on their own time
 */
async function threadsEmpty(): Promise<void> {
  const sum = () => native()!.testHooks.testThreadLoads().reduce((a, b) => a + b, 0);
  await waitFor(() => sum() === 0 || null, 5_000, 'the earlier connections to leave the threads');
}

/** an echo backend and a data plane with endpoint ID in front of it, capped at CAP connections */
async function cappedEndpoint(id: string, cap: number) {
  const b = await startBackend(echo);
  cleanup.push(() => b.close());
  const dp = plane();
  const port = randomPort();
  expect((await dp.apply({ kind: 'endpoint', id, live: spec(id, port, b.port, { connection_cap: cap }) })).ok).toBe(true);
  return { b, dp, port };
}

describe('the fast path: accept, admit, connect and relay on the relay threads', () => {
  it('the cap is exact under a storm spread over the threads: 25 of 300 concurrent clients relay, 275 are refused as cap; the counts come back to 0', async () => {
    const { b, dp, port } = await cappedEndpoint('ep-cap', 25);
    const before = fastAccepted();
    const results = await Promise.all(Array.from({ length: 300 }, () => attempt(port)));
    const admitted = results.filter((r) => r.ok);
    expect(admitted.length).toBe(25);
    const f = await waitFor(() => {
      const x = figures(dp, 'ep-cap');
      return x.rejected.cap === 275 ? x : null;
    }, 5_000, 'the refusals to be counted');
    expect(f).toMatchObject({ active: 25, connections: 25 });
    expect(b.accepted).toBe(25);
    if (native()) expect(fastAccepted() - before).toBe(300);
    for (const r of admitted) r.socket.destroy();
    await waitFor(() => figures(dp, 'ep-cap').active === 0 || null, 5_000, 'the connections to close');
    expect(dp.activeConnections).toBe(0);
    // the slots are free again: the next 25 relay
    const again = await Promise.all(Array.from({ length: 25 }, () => attempt(port)));
    expect(again.every((r) => r.ok)).toBe(true);
    for (const r of again) r.socket.destroy();
  });

  it.skipIf(!native() || native()!.threads < 2)('a burst of kept-alive clients is spread over the relay threads (the thread that wakes first accepts the burst and hands the surplus over), each relaying', async () => {
    const { dp, port } = await cappedEndpoint('ep-spread', 1_000);
    const relay = native()!;
    await threadsEmpty();
    const base = relay.testHooks.testThreadLoads();
    const held = await Promise.all(Array.from({ length: 20 }, () => attempt(port)));
    expect(held.every((r) => r.ok)).toBe(true);
    const loads = relay.testHooks.testThreadLoads().map((n, i) => n - base[i]!);
    expect(loads.reduce((a, b) => a + b, 0)).toBe(20);
    // within Worker::Spread's slack (2) of each other, plus one in flight
    expect(Math.max(...loads) - Math.min(...loads), JSON.stringify(loads)).toBeLessThanOrEqual(3);
    // every connection relays on whichever thread holds it
    for (const [i, r] of held.entries()) {
      r.socket.write(`again ${i}`);
      const got = await new Promise<string>((resolve) => r.socket.once('data', (d) => resolve(String(d))));
      expect(got).toBe(`again ${i}`);
    }
    for (const r of held) r.socket.destroy();
    await waitFor(() => figures(dp, 'ep-spread').active === 0 || null, 5_000, 'the connections to close');
  });

  it('a gateway endpoint\'s cap is exact under a storm: 25 of 300 clients of a routed subnet relay (the service sees their private addresses), 275 are refused as cap, a blackholed subnet is refused; the threads decide all', async () => {
    const b = await startBackend(echo);
    cleanup.push(() => b.close());
    const dp = plane();
    const port = randomPort();
    const local = { destination: '10.0.0.0/16', type: 'local' as const, owner: 'system' as const };
    const view: RoutingView = {
      vpcs: [{
        id: 'vpc-g', number: 3, cidr: '10.0.0.0/16', domainId: 'dom-g',
        subnets: [{ id: 'subnet-a', cidr: '10.0.1.0/24', zone: 'z-a' }, { id: 'subnet-b', cidr: '10.0.2.0/24', zone: 'z-b' }],
        tables: [
          { id: 'rtb-a', default: true, subnets: ['subnet-a'], routes: [local, { destination: 'pl-s3', type: 'gateway_endpoint', nexthop: 'vpce-g', owner: 'endpoint' }] },
          { id: 'rtb-b', default: false, subnets: ['subnet-b'], routes: [local, { destination: '54.123.160.0/24', type: 'blackhole', owner: 'user' }] },
        ],
      }],
      services: [{ id: 'svc-s3', name: 's3', prefixListId: 'pl-s3', prefixes: [cidrOf('54.123.160.9/32')], targets: [{ port, host: '127.0.0.1', hostPort: b.port }] }],
      endpoints: [{ id: 'vpce-g', serviceId: 'svc-s3', status: 'accepted', policy: null, cap: 25, accountId: 'dom-g', actionPrefix: 's3' }],
    };
    expect((await dp.apply({ kind: 'routing', id: 'routing', view })).ok).toBe(true);
    const before = fastAccepted();
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => attempt(port, '127.255.160.9', `127.3.1.${10 + (i % 200)}`)));
    const admitted = results.filter((r) => r.ok);
    expect(admitted.length).toBe(25);
    const f = await waitFor(() => {
      const x = figures(dp, 'vpce-g');
      return x?.rejected.cap === 275 ? x : null;
    }, 5_000, 'the refusals to be counted');
    expect(f).toMatchObject({ active: 25, connections: 25 });
    expect(b.accepted).toBe(25);
    // 002_05e46307768ae273.txt: behind a gateway endpoint the service sees the client's private address (in host form)
    expect(b.remotes.every((r) => /^127\.3\.1\.\d+$/.test(r.replace(/^::ffff:/, '')))).toBe(true);
    expect((await attempt(port, '127.255.160.9', '127.3.2.7')).ok).toBe(false);
    await waitFor(() => dp.routeDecisions.blackhole === 1 || null, 5_000, 'the blackhole decision to be counted');
    if (native()) expect(fastAccepted() - before).toBe(301);
    for (const r of admitted) r.socket.destroy();
    await waitFor(() => figures(dp, 'vpce-g').active === 0 || null, 5_000, 'the connections to close');
    expect(dp.activeConnections).toBe(0);
    const again = await Promise.all(Array.from({ length: 25 }, (_, i) => attempt(port, '127.255.160.9', `127.3.1.${10 + i}`)));
    expect(again.every((r) => r.ok)).toBe(true);
  });

  it('live changes apply to the next connection: a whitelist refuses (counted), a bandwidth limit stays on the threads, a removal cuts what the threads opened', async () => {
    const b = await startBackend(echo);
    cleanup.push(() => b.close());
    const dp = plane();
    const port = randomPort();
    const base = spec('ep-live', port, b.port);
    expect((await dp.apply({ kind: 'endpoint', id: 'ep-live', live: base })).ok).toBe(true);
    const held = await attempt(port);
    expect(held.ok).toBe(true);

    // an on-premises client is never whitelisted
    expect((await dp.apply({ kind: 'endpoint', id: 'ep-live', live: { ...base, enable_whitelist: true, whitelist: ['10.0.0.0/16'] } })).ok).toBe(true);
    expect((await attempt(port)).ok).toBe(false);
    await waitFor(() => figures(dp, 'ep-live').rejected.whitelist === 1 || null, 5_000, 'the whitelist refusal to be counted');

    const before = fastAccepted();
    expect((await dp.apply({ kind: 'endpoint', id: 'ep-live', live: { ...base, bandwidth_mbps: 100 } })).ok).toBe(true);
    expect((await attempt(port)).ok).toBe(true);
    // regression: a bandwidth limit took the endpoint back to the event loop; the threads' buckets apply it now
    if (native()) expect(fastAccepted()).toBe(before + 1);
    expect((await dp.apply({ kind: 'endpoint', id: 'ep-live', live: base })).ok).toBe(true);
    expect((await attempt(port)).ok).toBe(true);
    if (native()) expect(fastAccepted()).toBe(before + 2);

    const closed = new Promise<void>((r) => held.socket.once('close', () => r()));
    expect((await dp.apply({ kind: 'endpoint', id: 'ep-live', live: null })).ok).toBe(true);
    await closed;
    await waitFor(() => dp.activeConnections === 0 || null, 5_000, 'every connection to be cut');
    const f = figures(dp, 'ep-live');
    expect(f.closed.cut).toBe(3);
    // one byte each way per relayed connection, the threads' (read from their per-endpoint counters) and the event loop's alike
    expect({ received: f.receivedBytes, sent: f.sentBytes }).toEqual({ received: 3, sent: 3 });
  });

  it('one SNAT port pool per endpoint: a connection on the event loop\'s path right after one on the threads\' (and back) binds a port of its own and relays (regression: the two paths had a pool each, both lowest first; the second met the first one\'s TIME_WAIT, EADDRNOTAVAIL, and its client was reset)', async () => {
    const sources: number[] = [];
    const b = await startBackend((s) => { sources.push(s.remotePort!); echo(s); });
    cleanup.push(() => b.close());
    const dp = plane({ snatMode: 'kernel' });
    const port = randomPort();
    // kernel SNAT: the backend connection binds the endpoint's SNAT address and a port of its pool
    expect((await dp.apply({ kind: 'endpoint', id: 'ep-ports', live: spec('ep-ports', port, b.port, { snat_ip: '127.0.0.3' }) })).ok).toBe(true);
    // a toxic covering the port takes the endpoint's new connections to the event loop's path (a
    // latency of 0: it changes no byte); none brings them back to the threads
    const toxic: ToxicRule = { scope: { kind: 'port', endpoint: 'ep-ports', port }, toxic: { name: 'path', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 0, jitter: 0 } } };
    const accepted = fastAccepted();
    for (let i = 0; i < 3; i++) {
      for (const onLoop of [false, true]) {
        expect((await dp.apply({ kind: 'faults', id: 'faults', toxics: onLoop ? [toxic] : [], disabled: [] })).ok).toBe(true);
        const a = await attempt(port);
        expect({ round: i, onLoop, relayed: a.ok }).toEqual({ round: i, onLoop, relayed: true });
        // closed at once: its backend side lingers in TIME_WAIT on its source port
        a.socket.destroy();
      }
    }
    if (native() && process.env.VPCEP_FAST_ACCEPT !== 'off') expect(fastAccepted() - accepted).toBe(3);
    expect(sources).toHaveLength(6);
    expect(new Set(sources).size).toBe(6);
    await waitFor(() => dp.activeConnections === 0 || null, 5_000, 'every connection closed');
    expect(figures(dp, 'ep-ports')).toMatchObject({ snatPorts: 0, rejected: { snat_exhausted: 0, backend_unreachable: 0 } });
  });

  it('an endpoint of 2 SNAT ports carries 6 connections one after the other: the ports given back are taken again (the queue of them made at the first)', async () => {
    const b = await startBackend(echo);
    cleanup.push(() => b.close());
    const dp = plane({ snatPorts: { low: 40100, high: 40101 } });
    const port = randomPort();
    expect((await dp.apply({ kind: 'endpoint', id: 'ep-reuse', live: spec('ep-reuse', port, b.port) })).ok).toBe(true);
    const accepted = fastAccepted();
    for (let i = 0; i < 6; i++) {
      const a = await attempt(port);
      expect({ connection: i, relayed: a.ok }).toEqual({ connection: i, relayed: true });
      a.socket.destroy();
      await waitFor(() => dp.activeConnections === 0 || null, 5_000, `connection ${i} closed`);
    }
    if (native() && process.env.VPCEP_FAST_ACCEPT !== 'off') expect(fastAccepted() - accepted).toBe(6);
    expect(figures(dp, 'ep-reuse')).toMatchObject({ snatPorts: 0, rejected: { snat_exhausted: 0 } });
  });

  it.runIf(loadNativeRelay() !== null && relayChoice().relay === 'native' && process.env.VPCEP_FAST_ACCEPT !== 'off')('the idle timeout runs on the relay threads: with the event loop\'s sweep off, an idle connection is closed (counted idle) and a trickling one stays', async () => {
    const b = await startBackend(echo);
    cleanup.push(() => b.close());
    const dp = plane({ idleTimeoutMs: 400, sweepIntervalMs: 0 });
    const port = randomPort();
    expect((await dp.apply({ kind: 'endpoint', id: 'ep-idle', live: spec('ep-idle', port, b.port) })).ok).toBe(true);
    const idle = await attempt(port);
    const busy = await attempt(port);
    expect(idle.ok && busy.ok).toBe(true);
    const idleClosed = new Promise<void>((r) => idle.socket.once('close', () => r()));
    let busyClosed = false;
    busy.socket.once('close', () => { busyClosed = true; });
    const trickle = setInterval(() => busy.socket.write('t'), 50);
    try {
      await idleClosed;
      await waitFor(() => figures(dp, 'ep-idle').closed.idle === 1 || null, 5_000, 'the idle close to be counted');
      await new Promise((r) => setTimeout(r, 600));
      expect(busyClosed).toBe(false);
      expect(figures(dp, 'ep-idle')).toMatchObject({ active: 1 });
    } finally {
      clearInterval(trickle);
    }
  });

  // an NLB listener's tcp.idle_timeout.seconds reaches the data plane as Backend.idle_timeout_ms;
  // the control plane keeps AWS's floor of 60 s, the data plane takes any ms: 1 s here, so that
  // the threads' own check (the real clock, the event loop's sweep off) is seen without a minute's wait;
  // the trickle writes every 50 ms, well inside it even on a loaded machine
  it.runIf(loadNativeRelay() !== null && relayChoice().relay === 'native' && process.env.VPCEP_FAST_ACCEPT !== 'off')('a listener\'s own idle timeout runs on the relay threads: its idle connection is closed (counted idle) while a trickling one stays; another port keeps the daemon\'s; a live change reaches open connections', async () => {
    const b = await startBackend(echo);
    cleanup.push(() => b.close());
    const dp = plane({ idleTimeoutMs: 600_000, sweepIntervalMs: 0 });
    const [short, plain] = [randomPort(), randomPort()];
    const base = spec('ep-listener-idle', short, b.port);
    const withIdle = (ports: readonly number[]): LiveEndpoint => ({
      ...base,
      backends: [short, plain].map((p) => ({ ...base.backends[0]!, client_port: p, ...(ports.includes(p) ? { idle_timeout_ms: 1_000 } : {}) })),
    });
    expect((await dp.apply({ kind: 'endpoint', id: 'ep-listener-idle', live: withIdle([short]) })).ok).toBe(true);
    const idle = await attempt(short);
    const busy = await attempt(short);
    const other = await attempt(plain);
    expect(idle.ok && busy.ok && other.ok).toBe(true);
    const closed = (c: { socket: Socket }) => { let yes = false; c.socket.once('close', () => { yes = true; }); return () => yes; };
    const [idleClosed, busyClosed, otherClosed] = [closed(idle), closed(busy), closed(other)];
    const trickle = setInterval(() => busy.socket.write('t'), 50);
    try {
      await waitFor(() => idleClosed() || null, 5_000, 'the idle connection of the 1 s listener to close');
      await waitFor(() => figures(dp, 'ep-listener-idle').closed.idle === 1 || null, 5_000, 'the idle close to be counted');
      // past the timeout and a check of the threads (every 750 ms here)
      await new Promise((r) => setTimeout(r, 2_000));
      expect({ busy: busyClosed(), other: otherClosed() }).toEqual({ busy: false, other: false });
      // the other port's listener gets the same timeout: its open connection follows
      expect((await dp.apply({ kind: 'endpoint', id: 'ep-listener-idle', live: withIdle([short, plain]) })).ok).toBe(true);
      await waitFor(() => otherClosed() || null, 5_000, 'the other port\'s idle connection to close after the change');
      await waitFor(() => figures(dp, 'ep-listener-idle').closed.idle === 2 || null, 5_000, 'its close to be counted idle');
      expect(busyClosed()).toBe(false);
    } finally {
      clearInterval(trickle);
    }
  });

  // the threads' load and timeouts are the process's, one copy: a data plane closed after a newer
  // one was made (tests make one per case) once wrote its own back from its connections' late closes,
  // and the newer plane's idle timeout became the closed one's 400 ms
  it.runIf(loadNativeRelay() !== null && relayChoice().relay === 'native' && process.env.VPCEP_FAST_ACCEPT !== 'off')('a closed data plane\'s late closes leave the threads\' timeouts as the newer plane wrote them', async () => {
    const b = await startBackend(echo);
    cleanup.push(() => b.close());
    const old = plane({ idleTimeoutMs: 400, sweepIntervalMs: 0 });
    const port = randomPort();
    expect((await old.apply({ kind: 'endpoint', id: 'ep-old-plane', live: spec('ep-old-plane', port, b.port) })).ok).toBe(true);
    const held = await attempt(port);
    expect(held.ok).toBe(true);
    const closed = new Promise<void>((r) => held.socket.once('close', () => r()));
    const globals = native()!.globals;
    plane({ idleTimeoutMs: 600_000, sweepIntervalMs: 0 });
    const idleWord = globals[6];
    expect(idleWord).toBe(600_000);
    old.close();
    await closed;
    // the old plane's close report reaches the JS thread within the threads' report window
    await new Promise((r) => setTimeout(r, 200));
    expect(globals[6]).toBe(600_000);
  });

  it('timed reports: connections a relay thread opened and closed while the JS thread was busy are counted from one brief event each, with no object made; a scrape takes what the threads hold', async () => {
    // an echo backend and 20 clients (connect, write, echo, close one after the other) in a worker
    // thread, so that this thread can be kept busy while they run
    const state = new Int32Array(new SharedArrayBuffer(8));
    const worker = new Worker(`
      const net = require('node:net');
      const { parentPort, workerData } = require('node:worker_threads');
      const state = workerData.state;
      const server = net.createServer((s) => { s.on('data', (d) => s.write(d)); s.on('end', () => s.end()); s.on('error', () => undefined); });
      server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
      const cycle = (port) => new Promise((resolve) => {
        const c = net.connect({ host: '127.0.0.1', port }, () => c.write('x'));
        c.on('data', () => c.end());
        c.on('error', () => resolve(false));
        c.on('close', () => resolve(true));
      });
      parentPort.on('message', async (port) => {
        let ok = 0;
        for (let i = 0; i < 20; i++) if (await cycle(port)) ok++;
        Atomics.store(state, 1, ok);
        Atomics.store(state, 0, 1);
        Atomics.notify(state, 0);
      });
    `, { eval: true, workerData: { state } });
    cleanup.push(() => worker.terminate());
    const backendPort = await new Promise<number>((resolve) => worker.once('message', resolve));
    const dp = plane();
    const port = randomPort();
    expect((await dp.apply({ kind: 'endpoint', id: 'ep-brief', live: spec('ep-brief', port, backendPort) })).ok).toBe(true);
    const briefs = vi.spyOn(EndpointRuntime.prototype, 'fastBrief');
    const adopted = vi.spyOn(EndpointRuntime.prototype, 'adopt');
    cleanup.push(() => vi.restoreAllMocks());
    worker.postMessage(port);
    if (native()) {
      // this thread waits (blocked) until the 20 cycles are over: the relay threads accept, relay
      // and close them on their own, and hold their reports until this thread takes them
      expect(Atomics.wait(state, 0, 0, 20_000)).toBe('ok');
    } else {
      await waitFor(() => Atomics.load(state, 0) === 1, 20_000, 'the 20 cycles');
    }
    expect(Atomics.load(state, 1)).toBe(20);
    // the scrape takes the reports the threads still hold (no waiting for their timer)
    const f = await waitFor(() => {
      const x = figures(dp, 'ep-brief');
      return x.closed.done === 20 ? x : null;
    }, 5_000, 'the 20 closes to be counted');
    expect(f).toMatchObject({ active: 0, connections: 20, receivedBytes: 20, sentBytes: 20 });
    expect(dp.totals.connections).toBe(20);
    if (native()) {
      expect(briefs).toHaveBeenCalledTimes(20);
      expect(adopted).not.toHaveBeenCalled();
      expect(loadNativeRelay()!.size).toBe(0);
    }
  });

  it('a storm of refused clients is counted exactly and reaches TypeScript in the threads\' timed reports, not a wake of the JS thread per refusal (regression: each refusal was reported at once)', async () => {
    const b = await startBackend(echo);
    cleanup.push(() => b.close());
    const dp = plane();
    const port = randomPort();
    // an on-premises client is never whitelisted: every client is refused on the threads
    expect((await dp.apply({ kind: 'endpoint', id: 'ep-storm', live: spec('ep-storm', port, b.port, { enable_whitelist: true, whitelist: ['10.0.0.0/16'] }) })).ok).toBe(true);
    const refused = () => new Promise<void>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.on('error', () => undefined);
      socket.once('close', () => resolve());
    });
    const clients = 1_000;
    const inFlight = 4;
    const reports0 = native()?.fastFigures().reports ?? 0;
    const started = performance.now();
    await Promise.all(Array.from({ length: inFlight }, async () => {
      for (let i = 0; i < clients / inFlight; i++) await refused();
    }));
    const ms = performance.now() - started;
    const reports = (native()?.fastFigures().reports ?? 0) - reports0;
    // read at once after the last client's reset: a read takes what the threads hold
    expect(figures(dp, 'ep-storm').rejected.whitelist).toBe(clients);
    expect(dp.totals.rejected.whitelist).toBe(clients);
    expect(figures(dp, 'ep-storm').connections).toBe(0);
    if (native()) {
      // at most one report per 10 ms window and thread (native/relay.cc kReportUs), however many refusals it holds
      expect(reports).toBeLessThanOrEqual(native()!.threads * (Math.ceil(ms / 10) + 1));
    }
  });

  // a toxic on one port of an endpoint put that port on the event loop's path and left the others
  // on the threads: each path admitted a whole cap (5 + 5 of a cap of 5); and the event loop's
  // admission did not see the threads' connections not reported yet (their 10 ms window)
  it('the cap holds across the two paths: with a toxic on one port, the endpoint\'s other ports leave the threads too (5 of a cap of 5, whichever port first); an admission on the event loop counts what the threads opened and have not reported', async () => {
    const b = await startBackend(echo);
    cleanup.push(() => b.close());
    const dp = plane();
    const [fastPort, toxicPort] = [randomPort(), randomPort()];
    const base = spec('ep-two-paths', fastPort, b.port, { connection_cap: 5 });
    const live = { ...base, backends: [fastPort, toxicPort].map((p) => ({ ...base.backends[0]!, client_port: p })) };
    expect((await dp.apply({ kind: 'endpoint', id: 'ep-two-paths', live })).ok).toBe(true);
    const toxic = { name: 'lat', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 0 } } as const;
    await dp.apply({ kind: 'faults', toxics: [{ scope: { kind: 'port', endpoint: 'ep-two-paths', port: toxicPort }, toxic }], disabled: [] } as never);
    for (const order of [[toxicPort, fastPort], [fastPort, toxicPort]]) {
      const held = [];
      for (const p of order) for (let i = 0; i < 5; i++) held.push(await attempt(p));
      expect(held.map((h) => h.ok), `ports ${order.join(' then ')}`).toEqual([true, true, true, true, true, false, false, false, false, false]);
      for (const h of held) h.socket.destroy();
      await waitFor(() => figures(dp, 'ep-two-paths').active === 0 || null, 5_000, 'the connections to close');
    }
    // the toxic gone, both ports are back on the threads (native): the cap of 5 still holds across them
    await dp.apply({ kind: 'faults', toxics: [], disabled: [] } as never);
    const held = [];
    for (const p of [fastPort, toxicPort]) for (let i = 0; i < 5; i++) held.push(await attempt(p));
    expect(held.filter((h) => h.ok)).toHaveLength(5);
    for (const h of held) h.socket.destroy();
  });

  it('the daemon\'s max_connections holds across the two paths: 4 to an endpoint on the threads, then 4 to one on the event loop (a toxic), back to back: 4 relay (the event loop\'s admission counts what the threads have not reported)', async () => {
    const b = await startBackend(echo);
    cleanup.push(() => b.close());
    // the threads' own count is the process's: the earlier tests' connections leave it first
    if (native()) await threadsEmpty();
    const dp = plane({ maxConnections: 4 });
    const [fastPort, toxicPort] = [randomPort(), randomPort()];
    expect((await dp.apply({ kind: 'endpoint', id: 'ep-threads', live: spec('ep-threads', fastPort, b.port) })).ok).toBe(true);
    expect((await dp.apply({ kind: 'endpoint', id: 'ep-loop', live: { ...spec('ep-loop', toxicPort, b.port), marker_id: 2 } })).ok).toBe(true);
    const toxic = { name: 'lat', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 0 } } as const;
    await dp.apply({ kind: 'faults', toxics: [{ scope: { kind: 'endpoint', endpoint: 'ep-loop' }, toxic }], disabled: [] } as never);
    for (let round = 0; round < 3; round++) {
      const held = [];
      for (const p of [fastPort, toxicPort]) for (let i = 0; i < 4; i++) held.push(await attempt(p));
      expect(held.filter((h) => h.ok), `round ${round}`).toHaveLength(4);
      for (const h of held) h.socket.destroy();
      await waitFor(() => dp.activeConnections === 0 || null, 5_000, 'the connections to close');
    }
  });

  it('a fast connection handed to a toxic live is released on the threads once it closes: the cap counts it once, its bytes on the toxic path count', async () => {
    const { dp, port } = await cappedEndpoint('ep-hand', 1);
    const first = await attempt(port);
    expect(first.ok).toBe(true);
    const toxic = { name: 'lat', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 1 } } as const;
    await dp.apply({ kind: 'faults', toxics: [{ scope: { kind: 'endpoint', endpoint: 'ep-hand' }, toxic }], disabled: [] } as never);
    // on the toxic path now: its bytes count there
    const echoed = new Promise((resolve) => first.socket.once('data', resolve));
    first.socket.write('yz');
    await echoed;
    first.socket.destroy();
    await waitFor(() => figures(dp, 'ep-hand').active === 0, 5_000, 'the handed-over connection closed');
    expect(figures(dp, 'ep-hand')).toMatchObject({ connections: 1, receivedBytes: 3, sentBytes: 3 });
    await dp.apply({ kind: 'faults', toxics: [], disabled: [] } as never);
    // back on the fast path (native): the cap of 1 admits the next client
    const second = await attempt(port);
    expect(second.ok).toBe(true);
    expect(figures(dp, 'ep-hand').rejected.cap).toBe(0);
    if (native()) expect(native()!.fastFigures().open).toBe(1);
  });
  it.skipIf(!native())('the relay threads\' busy turns (what the memory release reads) grow with relayed traffic and stand still while the connections are held idle', async () => {
    const relay = native()!;
    await threadsEmpty();
    const { dp, port } = await cappedEndpoint('ep-turns', 100);
    const held = await Promise.all(Array.from({ length: 4 }, () => attempt(port)));
    expect(held.every((r) => r.ok)).toBe(true);
    const before = relay.busyTurns();
    for (let i = 0; i < 50; i++) {
      const r = held[i % held.length]!;
      r.socket.write(`m${i}`);
      await new Promise((resolve) => r.socket.once('data', resolve));
    }
    const after = relay.busyTurns();
    // each message wakes a thread at least twice: the client's bytes, then the echo
    expect(after - before).toBeGreaterThanOrEqual(100);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const idle = relay.busyTurns();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(relay.busyTurns() - idle).toBe(0);
    for (const r of held) r.socket.destroy();
    await waitFor(() => figures(dp, 'ep-turns').active === 0 || null, 5_000, 'the connections to close');
  });
});

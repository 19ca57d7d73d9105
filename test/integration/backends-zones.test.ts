// Several backends per service, in zones (issue 13), over real loopback sockets: a data plane in
// this process fed LiveEndpoint specs (zone rules, failover and fail open on a zone outage, the
// kill of one of three backends under a steady load with real health checks at AWS's minimum
// interval, flow distribution over 10,000 connections, draining on an injected clock), and a real
// daemon through both dialects (the Huawei API's backend list, bad input, smooth and forced
// migration; the AWS SDK's DescribeTargetHealth states and a deregistration that drains a live
// transfer). Both relays (test:js-relay).
import {
  CreateListenerCommand, CreateLoadBalancerCommand, CreateTargetGroupCommand, DeregisterTargetsCommand, DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client, ModifyTargetGroupAttributesCommand, RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { CreateVpcEndpointServiceConfigurationCommand, EC2Client } from '@aws-sdk/client-ec2';
import { afterEach, describe, expect, it } from 'vitest';
import { TcpDataPlane } from '../../src/dataplane/data-plane.js';
import type { BackendTargetSpec, LiveEndpoint } from '../../src/model/events.js';
import { targetKey, type HealthSettings, type ProbeTarget } from '../../src/model/health.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { CONSUMER, PROVIDER, metricValue, startTestDaemon, tempDir, twoAccountConfig, waitFor, type TestDaemon } from '../helpers.js';
import { echo, heldConnection, ping, randomPort, startBackend, type TestBackend } from './backends.js';

const cleanup: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function backend(host = '127.0.0.1', port?: number): Promise<TestBackend> {
  const b = await startBackend(echo, { host, port });
  cleanup.push(() => b.close());
  return b;
}

const target = (b: TestBackend, zone: string | null): BackendTargetSpec => ({ key: targetKey(b.host, b.port), host: b.host, port: b.port, zone });

/** a data plane in this process (logical SNAT), its clock the test's when given */
function plane(now?: () => number): TcpDataPlane {
  const dp = new TcpDataPlane({
    snatMode: 'logical', connectTimeoutMs: 3_000, idleTimeoutMs: 600_000, maxConnections: 100_000, socketBufferBytes: 0, vpcs: [],
    log: createLogger('silent'), observeConnect: () => undefined, forget: () => undefined,
    ...(now ? { now, sweepIntervalMs: 0 } : {}),
  });
  cleanup.push(() => dp.close());
  return dp;
}

let nextId = 0;
function spec(port: number, targets: BackendTargetSpec[], o: { zone?: string; crossZone?: boolean; affinity?: boolean; health?: HealthSettings | null; drainMs?: number; id?: string } = {}): LiveEndpoint {
  return {
    id: o.id ?? `ep-${++nextId}`, marker_id: 1, service_id: 'svc-1', ip: '10.0.1.5', host_ip: '127.0.0.1', vpc_id: 'vpc-x', vpc_number: 200,
    vpc_cidr: '10.0.0.0/16', snat_ip: '', tcp_proxy: 'close', enable_whitelist: false, whitelist: [], connection_cap: 100_000,
    enis: [{ zone: o.zone ?? 'sim-1a', ip: '10.0.1.5', host_ip: '127.0.0.1' }], zone_affinity: o.affinity ?? false,
    backends: [{
      client_port: port, host: targets[0]!.host, port: targets[0]!.port, targets, cross_zone: o.crossZone ?? false,
      health: o.health ?? null, drain_ms: o.drainMs ?? 0,
    }],
  };
}

/** N pings, CONCURRENCY at a time; the number that failed */
async function pings(port: number, n: number, concurrency = 50): Promise<number> {
  let failed = 0;
  let left = n;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (left-- > 0) if (!(await ping(port))) failed++;
  }));
  return failed;
}

/** a connection held open through the local endpoint, that echoes on demand */
const held = (port: number) => heldAt('127.0.0.1', port);

const accepted = (...bs: TestBackend[]) => bs.map((b) => b.accepted);

describe('backend choice in zones (data plane, real sockets)', () => {
  it('keeps flows in the ENI zone with cross-zone off, spreads them with it on, and zone affinity overrides it', async () => {
    const [a1, a2, b1] = [await backend('127.0.0.1'), await backend('127.0.0.2'), await backend('127.0.0.3')];
    const dp = plane();
    const targets = [target(a1, 'sim-1a'), target(a2, 'sim-1a'), target(b1, 'sim-1b')];
    const [p1, p2, p3] = [randomPort(), randomPort() + 1, randomPort() + 2];
    expect((await dp.apply({ kind: 'endpoint', id: 'zonal', live: spec(p1, targets, { id: 'zonal' }) })).ok).toBe(true);
    expect((await dp.apply({ kind: 'endpoint', id: 'cross', live: spec(p2, targets, { id: 'cross', crossZone: true }) })).ok).toBe(true);
    expect((await dp.apply({ kind: 'endpoint', id: 'affine', live: spec(p3, targets, { id: 'affine', crossZone: true, affinity: true, zone: 'sim-1b' }) })).ok).toBe(true);

    expect(await pings(p1, 60, 10)).toBe(0);
    expect(b1.accepted).toBe(0);
    expect(a1.accepted).toBeGreaterThan(0);
    expect(a2.accepted).toBeGreaterThan(0);
    expect(dp.choices.same_zone).toBe(60);

    const before = accepted(a1, a2, b1);
    expect(await pings(p2, 60, 10)).toBe(0);
    const after = accepted(a1, a2, b1);
    for (let i = 0; i < 3; i++) expect(after[i]!).toBeGreaterThan(before[i]!);
    expect(dp.choices.cross_zone).toBe(60);

    expect(await pings(p3, 30, 10)).toBe(0);
    expect(accepted(a1, a2)).toEqual(after.slice(0, 2));
    expect(b1.accepted).toBe(after[2]! + 30);
  });

  it('an endpoint event touches only its own backends: the prober hears of a change of the targets, not of every event (refreshBackends walked every live endpoint per event)', async () => {
    const [a1, a2] = [await backend('127.0.0.1'), await backend('127.0.0.2')];
    const told: string[][] = [];
    const prober = {
      state: () => 'initial' as const, reason: () => null, onChange: () => undefined, close: () => undefined,
      set: (ts: ReadonlyArray<{ key: string }>) => { told.push(ts.map((t) => t.key).sort()); },
    };
    const dp = new TcpDataPlane({
      snatMode: 'logical', connectTimeoutMs: 3_000, idleTimeoutMs: 600_000, maxConnections: 100_000, socketBufferBytes: 0, vpcs: [],
      log: createLogger('silent'), observeConnect: () => undefined, forget: () => undefined, healthProber: () => prober,
    });
    cleanup.push(() => dp.close());
    const health: HealthSettings = { interval_s: 5, timeout_s: 2, healthy_threshold: 2, unhealthy_threshold: 2 };
    const [k1, k2] = [targetKey(a1.host, a1.port), targetKey(a2.host, a2.port)];
    const base = randomPort();
    for (let i = 0; i < 20; i++) {
      expect((await dp.apply({ kind: 'endpoint', id: `many-${i}`, live: spec(base + i, [target(a1, 'sim-1a')], { id: `many-${i}`, health }) })).ok).toBe(true);
    }
    expect(told).toEqual([[k1]]);
    expect(await ping(base + 7)).toBe(true);
    // one endpoint gains a target: the union; it goes: its own target is no longer probed, the shared one is
    expect((await dp.apply({ kind: 'endpoint', id: 'many-0', live: spec(base, [target(a1, 'sim-1a'), target(a2, 'sim-1a')], { id: 'many-0', health }) })).ok).toBe(true);
    expect(told.at(-1)).toEqual([k1, k2]);
    expect((await dp.apply({ kind: 'endpoint', id: 'many-0', live: null, deleted: true })).ok).toBe(true);
    expect(told.at(-1)).toEqual([k1]);
    expect(told).toHaveLength(3);
    // an endpoint gone says nothing of its service's backends: their counters stay (they went, and came back at 0)
    expect(dp.backends().map((b) => b.key).sort()).toEqual([k1, k2].sort());
    // a live endpoint's spec without it: it left the service, its counters go
    expect((await dp.apply({ kind: 'endpoint', id: 'many-1', live: spec(base + 1, [target(a1, 'sim-1a')], { id: 'many-1', health }) })).ok).toBe(true);
    expect(dp.backends().map((b) => b.key)).toEqual([k1]);
    // every endpoint gone: nothing probed; the service's backend counters stay while it exists
    for (let i = 1; i < 20; i++) expect((await dp.apply({ kind: 'endpoint', id: `many-${i}`, live: null, deleted: true })).ok).toBe(true);
    expect(told.at(-1)).toEqual([]);
    expect(told).toHaveLength(4);
    expect(dp.backends().map((b) => b.key)).toEqual([k1]);
    // the service gone: they go with it
    expect((await dp.apply({ kind: 'service', id: 'svc-1', available: false })).ok).toBe(true);
    expect(dp.backends()).toEqual([]);
  });

  it('a backend behind two services is probed at the shorter interval whichever was written last, and as the one left once the other\'s endpoint goes (before: the last written share\'s settings, kept after its endpoint was deleted)', async () => {
    const [b, c] = [await backend('127.0.0.12'), await backend('127.0.0.13')];
    let told: ReadonlyArray<ProbeTarget> = [];
    const prober = {
      state: () => 'initial' as const, reason: () => null, onChange: () => undefined, close: () => undefined,
      set: (ts: readonly ProbeTarget[]) => { told = ts; },
    };
    const dp = new TcpDataPlane({
      snatMode: 'logical', connectTimeoutMs: 3_000, idleTimeoutMs: 600_000, maxConnections: 100_000, socketBufferBytes: 0, vpcs: [],
      log: createLogger('silent'), observeConnect: () => undefined, forget: () => undefined, healthProber: () => prober,
    });
    cleanup.push(() => dp.close());
    const fast: HealthSettings = { interval_s: 5, timeout_s: 2, healthy_threshold: 2, unhealthy_threshold: 2 };
    const slow: HealthSettings = { interval_s: 300, timeout_s: 2, healthy_threshold: 10, unhealthy_threshold: 10 };
    const targets = [target(b, 'sim-1a'), target(c, 'sim-1a')];
    const live = (id: string, service: string, port: number, health: HealthSettings) => ({ ...spec(port, targets, { id, health }), service_id: service });
    const settings = () => Object.fromEntries(told.map((t) => [t.key, t.settings]));
    const both = (h: HealthSettings) => ({ [targets[0]!.key]: h, [targets[1]!.key]: h });
    const base = randomPort();
    // the fast service first, then the slow one: still fast
    expect((await dp.apply({ kind: 'endpoint', id: 'ep-fast', live: live('ep-fast', 'svc-fast', base, fast) })).ok).toBe(true);
    expect((await dp.apply({ kind: 'endpoint', id: 'ep-slow', live: live('ep-slow', 'svc-slow', base + 1, slow) })).ok).toBe(true);
    expect(settings()).toEqual(both(fast));
    // the slow one's endpoint goes: fast, as the one left asks
    expect((await dp.apply({ kind: 'endpoint', id: 'ep-slow', live: null, deleted: true })).ok).toBe(true);
    expect(settings()).toEqual(both(fast));
    // the other order: slow written last is still probed fast; the fast one's endpoint goes: slow, as the one left asks
    expect((await dp.apply({ kind: 'endpoint', id: 'ep-slow', live: live('ep-slow', 'svc-slow', base + 1, slow) })).ok).toBe(true);
    expect(settings()).toEqual(both(fast));
    expect((await dp.apply({ kind: 'endpoint', id: 'ep-fast', live: null, deleted: true })).ok).toBe(true);
    expect(settings()).toEqual(both(slow));
    expect((await dp.apply({ kind: 'endpoint', id: 'ep-fast', live: live('ep-fast', 'svc-fast', base, fast) })).ok).toBe(true);
    expect(settings()).toEqual(both(fast));
    expect(told).toHaveLength(2);
  });

  it('a service\'s one backend, not probed, counts healthy while an endpoint relays to it, as it takes every flow (before: initial forever, vpcep_zone_backends{state="healthy"} 0 for its zone)', async () => {
    const a = await backend('127.0.0.1');
    const dp = plane();
    const port = randomPort();
    expect((await dp.apply({ kind: 'endpoint', id: 'one', live: spec(port, [target(a, 'sim-1a')], { id: 'one', health: null }) })).ok).toBe(true);
    expect(await ping(port)).toBe(true);
    expect(dp.probedTargets()).toEqual(new Set());
    expect(dp.backends().map((b) => [b.key, b.state, b.takesNew])).toEqual([[target(a, null).key, 'healthy', true]]);
    // no live endpoint relays to it: it takes nothing, and no probe answered: initial
    expect((await dp.apply({ kind: 'endpoint', id: 'one', live: null, deleted: true })).ok).toBe(true);
    expect(dp.backends().map((b) => [b.key, b.state, b.takesNew])).toEqual([[target(a, null).key, 'initial', false]]);
  });

  it('a zone outage: its backends\' connections are cut, flows fail over to the other zones; all down: fail open, and those connects fail', async () => {
    const [a1, b1] = [await backend('127.0.0.1'), await backend('127.0.0.2')];
    const dp = plane();
    const port = randomPort();
    // the ENI sits in sim-1c, where no backend is (its own zone down would refuse, zone_down): flows fail over to sim-1a and sim-1b by hash
    await dp.apply({ kind: 'endpoint', id: 'ep', live: spec(port, [target(a1, 'sim-1a'), target(b1, 'sim-1b')], { id: 'ep', zone: 'sim-1c' }) });
    const lives: Array<Awaited<ReturnType<typeof held>>> = [];
    for (let i = 0; i < 40 && a1.open === 0; i++) lives.push(await held(port));
    expect(a1.open).toBeGreaterThanOrEqual(1);
    const acceptedA = a1.accepted;
    const failover = dp.choices.failover;

    await dp.apply({ kind: 'zones', id: 'zones', down: ['sim-1a'] });
    await waitFor(() => a1.open === 0, 5_000, 'the connections to the down zone\'s backend cut');
    expect(await pings(port, 20, 5)).toBe(0);
    expect(a1.accepted).toBe(acceptedA);
    expect(dp.choices.failover - failover).toBe(20);

    await dp.apply({ kind: 'zones', id: 'zones', down: ['sim-1a', 'sim-1b'] });
    const unreachable = dp.totals.rejected.backend_unreachable;
    expect(await pings(port, 10, 5)).toBe(10);
    expect(dp.choices.fail_open).toBe(10);
    expect(dp.totals.rejected.backend_unreachable - unreachable).toBe(10);
    expect(dp.totals.rejected.zone_down).toBe(0);

    await dp.apply({ kind: 'zones', id: 'zones', down: [] });
    expect(await pings(port, 10, 5)).toBe(0);
    expect(a1.accepted + b1.accepted).toBeGreaterThanOrEqual(acceptedA + 30);
  });

  it('spreads 10,000 short connections over three healthy backends within 10% of even', async () => {
    const bs = [await backend('127.0.0.1'), await backend('127.0.0.2'), await backend('127.0.0.3')];
    const dp = plane();
    const port = randomPort();
    await dp.apply({ kind: 'endpoint', id: 'ep', live: spec(port, bs.map((b) => target(b, null)), { id: 'ep' }) });
    expect(await pings(port, 10_000, 100)).toBe(0);
    const n = bs.map((b) => b.accepted);
    expect(n.reduce((a, b) => a + b, 0)).toBe(10_000);
    for (const x of n) expect(Math.abs(x - 10_000 / 3) / (10_000 / 3)).toBeLessThan(0.1);
  }, 60_000);

  it('drains a removed backend: its live connection flows until the delay ends, then is cut; new flows go elsewhere', async () => {
    const [a1, a2] = [await backend('127.0.0.1'), await backend('127.0.0.2')];
    let t = 1_000;
    const dp = plane(() => t);
    const port = randomPort();
    const both = [target(a1, null), target(a2, null)];
    await dp.apply({ kind: 'endpoint', id: 'ep', live: spec(port, both, { id: 'ep', drainMs: 300_000 }) });
    // connections until one lands on each backend
    const conns: Array<Awaited<ReturnType<typeof heldAt>>> = [];
    while (a1.open === 0 || a2.open === 0) conns.push(await held(port));
    const before = a1.accepted;
    await dp.apply({ kind: 'endpoint', id: 'ep', live: spec(port, [target(a2, null)], { id: 'ep', drainMs: 300_000 }) });
    expect(dp.endpointBackends('ep').find((b) => b.key === both[0]!.key)).toMatchObject({ draining: true });
    expect(await pings(port, 20, 5)).toBe(0);
    expect(a1.accepted).toBe(before);
    t += 299_000;
    dp.sweep();
    for (const c of conns) expect(await c.alive()).toBe(true);
    t += 1_000;
    dp.sweep();
    await waitFor(() => a1.open === 0, 5_000, 'the drained connections to be cut');
    expect(a2.open).toBeGreaterThan(0);
    expect(dp.endpointBackends('ep').map((b) => b.key)).toEqual([both[1]!.key]);
  });

  it('kill one of three backends under a steady load: after the unhealthy threshold no new connection fails and it gets none; back, it takes traffic again', async () => {
    // AWS's shortest health checks: every 5 s, unhealthy after 2 failures, healthy after 2 successes
    const health: HealthSettings = { interval_s: 5, timeout_s: 2, healthy_threshold: 2, unhealthy_threshold: 2 };
    const bs = [await backend('127.0.0.1'), await backend('127.0.0.2'), await backend('127.0.0.3')];
    const dp = plane();
    const [cross, zonal] = [randomPort(), randomPort() + 1];
    const targets = [target(bs[0]!, 'sim-1a'), target(bs[1]!, 'sim-1b'), target(bs[2]!, 'sim-1c')];
    // one endpoint spreads over every zone; the other is zonal in sim-1a, whose only backend dies (a whole zone)
    await dp.apply({ kind: 'endpoint', id: 'cross', live: spec(cross, targets, { id: 'cross', crossZone: true, health }) });
    await dp.apply({ kind: 'endpoint', id: 'zonal', live: spec(zonal, targets, { id: 'zonal', health }) });
    // initial counts as eligible while none is healthy: no need to wait for the first probes

    let stop = false;
    const failedAt: number[] = [];
    const load = (async () => {
      while (!stop) {
        // a connection is new after the mark when it started after it: one chosen just before may fail just after
        for (const p of [cross, zonal]) {
          const started = Date.now();
          if (!(await ping(p))) failedAt.push(started);
        }
        await sleep(10);
      }
    })();
    const port0 = bs[0]!.port;
    await bs[0]!.close();
    await waitFor(() => dp.targetHealth(targets[0]!.key)?.state === 'unhealthy', 15_000, 'the dead backend unhealthy');
    const marked = Date.now();
    expect(dp.targetHealth(targets[0]!.key)?.reason).toBe('Target.FailedHealthChecks');
    const failover = dp.choices.failover;
    await sleep(1_000);
    expect(failedAt.filter((x) => x > marked)).toEqual([]);
    expect(dp.choices.failover).toBeGreaterThan(failover);

    const back = await backend('127.0.0.1', port0);
    await waitFor(() => dp.targetHealth(targets[0]!.key)?.state === 'healthy', 15_000, 'the backend healthy again');
    await waitFor(() => back.accepted > 5, 5_000, 'the backend to take traffic again');
    stop = true;
    await load;
    expect(failedAt.filter((x) => x > marked)).toEqual([]);
  }, 45_000);

  it('a new target still initial (never passed a check) gets no new connection while another is healthy: a dead one no longer resets half the flows', async () => {
    // its first probe fails (nothing listens), the second is 300 s away: it stays initial all along
    const health: HealthSettings = { interval_s: 300, timeout_s: 10, healthy_threshold: 2, unhealthy_threshold: 2 };
    const live = await backend('127.0.0.1');
    const deadPort = randomPort();
    const deadTarget: BackendTargetSpec = { key: targetKey('127.0.0.2', deadPort), host: '127.0.0.2', port: deadPort, zone: 'sim-1a' };
    const dp = plane();
    const port = randomPort();
    const targets = [target(live, 'sim-1a'), deadTarget];
    await dp.apply({ kind: 'endpoint', id: 'ep', live: spec(port, targets, { id: 'ep', health }) });
    await waitFor(() => dp.targetHealth(targets[0]!.key)?.state === 'healthy', 5_000, 'the live target healthy');
    expect(dp.targetHealth(deadTarget.key)?.state).toBe('initial');
    const unreachable = dp.totals.rejected.backend_unreachable;
    expect(await pings(port, 20, 5)).toBe(0);
    expect(live.accepted).toBeGreaterThanOrEqual(20);
    expect(dp.totals.rejected.backend_unreachable).toBe(unreachable);
    // vpcep_backend_up reads the same rule, port by port: another port of the service whose one target is initial takes its flows
    const otherPort = randomPort();
    const lonePort = randomPort();
    const lone: BackendTargetSpec = { key: targetKey('127.0.0.3', lonePort), host: '127.0.0.3', port: lonePort, zone: 'sim-1a' };
    await dp.apply({ kind: 'endpoint', id: 'ep2', live: spec(otherPort, [lone], { id: 'ep2', health }) });
    const takes = () => new Map(dp.backends().map((b) => [b.key, b.takesNew]));
    expect(takes()).toEqual(new Map([[targets[0]!.key, true], [deadTarget.key, false], [lone.key, true]]));
    await dp.apply({ kind: 'endpoint', id: 'ep2', live: null });
    // none healthy (the live one gone from the list): the initial one takes flows again (fail open's rule left as it was)
    await dp.apply({ kind: 'endpoint', id: 'ep', live: spec(port, [deadTarget], { id: 'ep', health }) });
    expect(await pings(port, 4, 2)).toBe(4);
  });
});

// ---- a real daemon, both dialects ----------------------------------------------------------------

/** the two-account config with three VM ports of vpc-app reaching 127.0.0.1, .2 and .3, and a fourth reaching 127.0.0.1 again */
function config(): Record<string, unknown> {
  const base = twoAccountConfig() as { vpcs: Array<Record<string, unknown>> };
  const vpcs = base.vpcs.map((v) => v.id === 'vpc-provider-client'
    ? { ...v, ports: [{ id: 'port-pc', subnet: 'subnet-pc', ip: '10.0.1.9', type: 'VM', target: '127.0.0.4' }] }
    : v.id !== 'vpc-app' ? v : {
    ...v,
    ports: [
      { id: 'port-web', subnet: 'subnet-app', ip: '192.168.24.246', type: 'VM', target: '127.0.0.1' },
      { id: 'port-web2', subnet: 'subnet-app', ip: '192.168.24.247', type: 'VM', target: '127.0.0.2' },
      { id: 'port-web3', subnet: 'subnet-app', ip: '192.168.24.248', type: 'VM', target: '127.0.0.3' },
      // port-web's real server again: never a second backend of a service that has port-web
      { id: 'port-web-again', subnet: 'subnet-app', ip: '192.168.24.249', type: 'VM', target: '127.0.0.1' },
    ],
  });
  const aws = (id: string, k: string) => ({ account_id: id, access_key_id: k, secret_access_key: `${k}-secret-0123` });
  return {
    ...base, vpcs,
    accounts: [{ ...PROVIDER, aws: aws('111111111111', 'AKIAPROVIDERZONES001') }, { ...CONSUMER, aws: aws('222222222222', 'AKIACONSUMERZONES001') }],
  };
}

async function daemon(): Promise<TestDaemon> {
  const d = await startTestDaemon(config(), tempDir());
  cleanup.push(() => d.stop());
  return d;
}

/** the consumer's accepted endpoint on a service of the provider */
async function connect(d: TestDaemon, serviceId: string, extra: Record<string, unknown> = {}): Promise<any> {
  await waitFor(async () => (await d.provider.get(`/vpc-endpoint-services/${serviceId}`)).body.status === 'available', 5_000, 'service available');
  await d.provider.post(`/vpc-endpoint-services/${serviceId}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] });
  const r = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: serviceId, vpc_id: 'vpc-client', subnet_id: 'subnet-a', ...extra });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return waitFor(async () => {
    const e = await d.consumer.get(`/vpc-endpoints/${r.body.id}`);
    return e.body.status === 'accepted' ? e.body : null;
  }, 5_000, 'endpoint accepted');
}

describe('several backends per service (real daemon)', () => {
  it('Huawei API: a backend list, bad input refused with nothing changed, zone affinity, smooth and forced migration', async () => {
    const d = await daemon();
    const port = randomPort();
    const bs = [await backend('127.0.0.1', port), await backend('127.0.0.2', port), await backend('127.0.0.3', port)];
    const body = { vpc_id: 'vpc-app', server_type: 'VM', ports: [{ client_port: port, server_port: port, protocol: 'TCP' }], approval_enabled: false };
    // bad input: unknown port, a port twice, two ports of one real server, a port of another VPC, port_id not the first, an out-of-range delay, neither
    for (const [bad, status, code] of [
      [{ backends: [{ port_id: 'port-web' }, { port_id: 'port-nope' }] }, 404, 'EndPoint.4012'],
      [{ backends: [{ port_id: 'port-web' }, { port_id: 'port-web' }] }, 400, 'EndPoint.0002'],
      // two ports of one real server were one backend to the data plane, in the last one's zone
      [{ backends: [{ port_id: 'port-web' }, { port_id: 'port-web-again' }] }, 400, 'EndPoint.0002'],
      [{ backends: [{ port_id: 'port-web' }, { port_id: 'port-pc' }] }, 404, 'EndPoint.4012'],
      [{ port_id: 'port-web2', backends: [{ port_id: 'port-web' }] }, 400, 'EndPoint.0002'],
      [{ backends: [{ port_id: 'port-web' }], deregistration_delay: 4000 }, 400, 'EndPoint.0002'],
      [{ backends: [] }, 400, 'EndPoint.3003'],
      [{}, 400, 'EndPoint.3003'],
    ] as const) {
      const r = await d.provider.post('/vpc-endpoint-services', { ...body, ...bad });
      expect([r.status, r.body.error_code], JSON.stringify(bad)).toEqual([status, code]);
    }
    expect((await d.provider.get('/vpc-endpoint-services')).body.endpoint_services).toEqual([]);

    const svc = await d.provider.post('/vpc-endpoint-services', { ...body, backends: [{ port_id: 'port-web' }, { port_id: 'port-web2' }], deregistration_delay: 0 });
    expect(svc.status, JSON.stringify(svc.body)).toBe(200);
    expect([svc.body.port_id, svc.body.backends]).toEqual(['port-web', [{ port_id: 'port-web' }, { port_id: 'port-web2' }]]);
    const ep = await connect(d, svc.body.id, { zone_affinity: true });
    expect(ep.zone_affinity).toBe(true);
    const shown = (await d.provider.get(`/vpc-endpoint-services/${svc.body.id}`)).body;
    expect(shown.backend_health.map((h: any) => [h.port_id, h.zone])).toEqual([['port-web', 'sim-1a'], ['port-web2', 'sim-1a']]);
    expect(['initial', 'healthy']).toContain(shown.backend_health[0].state);

    // connections over both backends
    // (a backend's own counts include the health probes' connects: the data plane's per-backend counts say where flows went)
    const active = async (host: string) => (await metricValue(d.url, 'vpcep_backend_active_connections', { service_id: svc.body.id, backend: `${host}:${port}`, zone: 'sim-1a' })) ?? 0;
    const conns: Array<Awaited<ReturnType<typeof heldAt>>> = [];
    for (let i = 0; i < 100 && (await active('127.0.0.1') === 0 || await active('127.0.0.2') === 0); i++) conns.push(await heldAt(ep.host_ip, port));
    const open0 = await active('127.0.0.1');
    expect(open0).toBeGreaterThan(0);
    expect(await active('127.0.0.2')).toBeGreaterThan(0);

    // bad migrations: nothing changes
    for (const [bad, status] of [
      [{ from_port_id: 'port-web3', to_port_id: 'port-web', mode: 'smooth' }, 404],
      [{ from_port_id: 'port-web', to_port_id: 'port-web2', mode: 'smooth' }, 400],
      [{ from_port_id: 'port-web', to_port_id: 'port-web3', mode: 'gently' }, 400],
    ] as const) {
      expect((await d.provider.post(`/vpc-endpoint-services/${svc.body.id}/backends/migrate`, bad)).status, JSON.stringify(bad)).toBe(status);
    }
    // to the real server of a backend that stays (port-web's): refused as at create
    const twice = await d.provider.post(`/vpc-endpoint-services/${svc.body.id}/backends/migrate`, { from_port_id: 'port-web2', to_port_id: 'port-web-again', mode: 'smooth' });
    expect([twice.status, twice.body.error_code, twice.body.error_msg]).toEqual([400, 'EndPoint.0002', expect.stringMatching(/ports port-web and port-web-again reach the same real server \(target 127\.0\.0\.1\)/)]);
    expect((await d.provider.get(`/vpc-endpoint-services/${svc.body.id}`)).body.backends).toEqual([{ port_id: 'port-web' }, { port_id: 'port-web2' }]);

    // smooth: web -> web3; the connections to web stay, new ones go to web2 and web3
    const smooth = await d.provider.post(`/vpc-endpoint-services/${svc.body.id}/backends/migrate`, { from_port_id: 'port-web', to_port_id: 'port-web3', mode: 'smooth' });
    expect(smooth.status, JSON.stringify(smooth.body)).toBe(200);
    expect(smooth.body.backends).toEqual([{ port_id: 'port-web3' }, { port_id: 'port-web2' }]);
    const before0 = bs[0]!.accepted;
    for (let i = 0; i < 20; i++) expect(await ping(port, ep.host_ip)).toBe(true);
    expect(bs[0]!.accepted).toBe(before0);
    expect(bs[2]!.accepted).toBeGreaterThan(0);
    for (const c of conns) expect(await c.alive()).toBe(true);

    // forced: web2 -> web; the connections to web2 are cut before the answer, the others flow on
    const forced = await d.provider.post(`/vpc-endpoint-services/${svc.body.id}/backends/migrate`, { from_port_id: 'port-web2', to_port_id: 'port-web', mode: 'forced' });
    expect(forced.status, JSON.stringify(forced.body)).toBe(200);
    expect(forced.body.backends).toEqual([{ port_id: 'port-web3' }, { port_id: 'port-web' }]);
    await waitFor(() => bs[1]!.open === 0, 5_000, 'web2\'s connections cut');
    expect(await active('127.0.0.1')).toBe(open0);
    const cut = (await Promise.all(conns.map((c) => c.alive()))).filter((a) => !a).length;
    expect(cut).toBe(conns.length - open0);

    // the metrics: per backend (service, backend, zone), per zone, choices by reason
    const labels = (host: string) => ({ service_id: svc.body.id, backend: `${host}:${port}`, zone: 'sim-1a' });
    // (the backends' own accept counts include the health probes: the data plane's counts are compared with each other)
    expect(await metricValue(d.url, 'vpcep_backend_active_connections', labels('127.0.0.1'))).toBe(open0);
    expect(await metricValue(d.url, 'vpcep_backend_up', labels('127.0.0.1'))).toBe(1);
    const relayed = conns.length + 20;
    const perBackend = await Promise.all(['127.0.0.1', '127.0.0.3'].map((h) => metricValue(d.url, 'vpcep_backend_connections_total', labels(h))));
    expect(perBackend[1]).toBeGreaterThan(0);
    expect(await metricValue(d.url, 'vpcep_zone_backend_connections_total', { zone: 'sim-1a' })).toBe(relayed);
    // zone affinity in the ENI's zone, where every backend is: each choice same_zone
    expect(await metricValue(d.url, 'vpcep_backend_choices_total', { reason: 'same_zone' })).toBe(relayed);
    expect(perBackend[0]).toBe(open0);

    // the path tracer chooses as the data plane does: trace a new connection by its source port,
    // through the provider's own endpoint (its owner sees the backend chosen), and through the
    // consumer's, which names the service and its port and no backend
    const opens = () => Promise.all(bs.map((b) => active(b.host)));
    const made = await d.provider.post('/vpc-endpoints', { endpoint_service_id: svc.body.id, vpc_id: 'vpc-provider-client', subnet_id: 'subnet-pc', zone_affinity: true });
    expect(made.status, JSON.stringify(made.body)).toBe(200);
    const mine = await waitFor(async () => {
      const e = (await d.provider.get(`/vpc-endpoints/${made.body.id}`)).body;
      return e.status === 'accepted' ? e : null;
    }, 5_000, 'the provider\'s endpoint accepted');
    for (const [api, at] of [[d.provider, mine], [d.consumer, ep]] as const) {
      const was = await opens();
      const probe = await heldAt(at.host_ip, port);
      const reached = bs[(await opens()).findIndex((n, i) => n > was[i]!)]!;
      const t = await api.post('/trace', { source_ip: '127.0.0.1', destination_ip: at.host_ip, destination_port: port, source_port: probe.socket.localPort });
      expect(t.status, JSON.stringify(t.body)).toBe(200);
      if (api === d.provider) {
        expect(t.body.trace.backend).toMatchObject({ target: `${reached.host}:${port}`, zone: 'sim-1a', reason: 'same_zone' });
      } else {
        expect(t.body.trace.backend).toEqual({ target: `${ep.endpoint_service_name}:${port}`, chosen_by: expect.stringMatching(/^a backend of service /) });
        expect(JSON.stringify(t.body)).not.toContain(`${reached.host}:${port}`);
      }
    }
  }, 40_000);

  it('Huawei API: backends shared by a 5 s service and a 300 s one written after it are probed every 5 s: a killed one turns unhealthy for the fast service (before: the slow one\'s settings, healthy for minutes)', async () => {
    const d = await daemon();
    const port = randomPort();
    const bs = [await backend('127.0.0.2', port), await backend('127.0.0.3', port)];
    const service = async (client: number, health_check: Record<string, number>) => {
      const r = await d.provider.post('/vpc-endpoint-services', {
        vpc_id: 'vpc-app', server_type: 'VM', ports: [{ client_port: client, server_port: port, protocol: 'TCP' }], approval_enabled: false,
        backends: [{ port_id: 'port-web2' }, { port_id: 'port-web3' }], health_check,
      });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      await connect(d, r.body.id);
      return r.body.id as string;
    };
    const fast = await service(randomPort(), { interval: 5, timeout: 2, healthy_threshold: 2, unhealthy_threshold: 2 });
    await service(randomPort(), { interval: 300, timeout: 2, healthy_threshold: 10, unhealthy_threshold: 10 });
    const health = async () => (await d.provider.get(`/vpc-endpoint-services/${fast}`)).body.backend_health.map((h: any) => h.state);
    await waitFor(async () => (await health()).every((s: string) => s === 'healthy'), 12_000, 'both backends healthy');
    await bs[1]!.close();
    await waitFor(async () => (await health())[1] === 'unhealthy', 15_000, 'the killed backend unhealthy for the 5 s service');
    expect(await metricValue(d.url, 'vpcep_health_probes_total', { result: 'failed' })).toBeGreaterThanOrEqual(2);
  }, 40_000);

  it('AWS SDK: DescribeTargetHealth shows initial/healthy, unhealthy after a kill, and draining after a deregistration that keeps a live transfer to the end of the delay', async () => {
    const d = await daemon();
    const o = { endpoint: d.url, region: 'us-east-1', credentials: { accessKeyId: 'AKIAPROVIDERZONES001', secretAccessKey: 'AKIAPROVIDERZONES001-secret-0123' }, maxAttempts: 1 };
    const elb = new ElasticLoadBalancingV2Client(o);
    const ec2 = new EC2Client(o);
    const bport = randomPort();
    const bs = [await backend('127.0.0.1', bport), await backend('127.0.0.2', bport)];
    const listen = randomPort();
    const lb = (await elb.send(new CreateLoadBalancerCommand({ Name: 'zones-nlb', Type: 'network', Scheme: 'internal', Subnets: ['subnet-app'] }))).LoadBalancers![0]!;
    const tg = (await elb.send(new CreateTargetGroupCommand({
      Name: 'zones-tg', Protocol: 'TCP', Port: bport, VpcId: 'vpc-app', TargetType: 'ip',
      HealthCheckIntervalSeconds: 5, HealthCheckTimeoutSeconds: 2, HealthyThresholdCount: 2, UnhealthyThresholdCount: 2,
    }))).TargetGroups![0]!;
    await elb.send(new RegisterTargetsCommand({ TargetGroupArn: tg.TargetGroupArn, Targets: [{ Id: '127.0.0.1', AvailabilityZone: 'all' }, { Id: '127.0.0.2', AvailabilityZone: 'all' }] }));
    // cut at the delay's end: connection termination on (AWS's default, off, lets them flow on: aws-elbv2.test.ts)
    await elb.send(new ModifyTargetGroupAttributesCommand({ TargetGroupArn: tg.TargetGroupArn, Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: '2' }, { Key: 'deregistration_delay.connection_termination.enabled', Value: 'true' }] }));
    await elb.send(new CreateListenerCommand({ LoadBalancerArn: lb.LoadBalancerArn, Protocol: 'TCP', Port: listen, DefaultActions: [{ Type: 'forward', TargetGroupArn: tg.TargetGroupArn }] }));
    const states = async () => (await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: tg.TargetGroupArn }))).TargetHealthDescriptions!
      .map((h) => [h.Target?.Id, h.TargetHealth?.State, h.TargetHealth?.Reason, h.HealthCheckPort]);
    // a listener forwards to them: probed from registration, as an NLB does, with no endpoint service yet (before: unused, Target.NotInUse)
    expect((await states()).map((s) => s[1])).not.toContain('unused');
    await waitFor(async () => JSON.stringify(await states()) === JSON.stringify([['127.0.0.1', 'healthy', undefined, String(bport)], ['127.0.0.2', 'healthy', undefined, String(bport)]]), 12_000, 'both targets healthy before any endpoint');
    // a backend port of another VPC (port-pc is vpc-provider-client's) is no instance of the group's VPC: InvalidTarget, nothing registered
    const vmTg = (await elb.send(new CreateTargetGroupCommand({ Name: 'zones-vm-tg', Protocol: 'TCP', Port: bport, VpcId: 'vpc-app', TargetType: 'instance' }))).TargetGroups![0]!;
    const other = await elb.send(new RegisterTargetsCommand({ TargetGroupArn: vmTg.TargetGroupArn, Targets: [{ Id: 'port-web' }, { Id: 'port-pc' }] })).catch((e) => e);
    expect([other.name, other.$metadata?.httpStatusCode, other.message]).toEqual(['InvalidTargetException', 400, 'target port-pc: not an instance (a VM port) of VPC vpc-app']);
    expect((await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: vmTg.TargetGroupArn }))).TargetHealthDescriptions).toEqual([]);

    const svc = await ec2.send(new CreateVpcEndpointServiceConfigurationCommand({ NetworkLoadBalancerArns: [lb.LoadBalancerArn!], AcceptanceRequired: false }));
    const ep = await connect(d, svc.ServiceConfiguration!.ServiceId!);
    await waitFor(async () => (await states()).every((s) => s[1] === 'healthy'), 12_000, 'both targets healthy');

    // a live transfer on each backend
    const svcId = svc.ServiceConfiguration!.ServiceId!;
    const active = async (host: string) => (await metricValue(d.url, 'vpcep_backend_active_connections', { service_id: svcId, backend: `${host}:${bport}`, zone: 'none' })) ?? 0;
    const conns: Array<Awaited<ReturnType<typeof heldAt>>> = [];
    for (let i = 0; i < 100 && (await active('127.0.0.1') === 0 || await active('127.0.0.2') === 0); i++) conns.push(await heldAt(ep.host_ip, listen));
    expect(await active('127.0.0.1')).toBeGreaterThan(0);
    await elb.send(new DeregisterTargetsCommand({ TargetGroupArn: tg.TargetGroupArn, Targets: [{ Id: '127.0.0.1' }] }));
    const deregistered = Date.now();
    expect(await states()).toEqual([['127.0.0.2', 'healthy', undefined, String(bport)], ['127.0.0.1', 'draining', 'Target.DeregistrationInProgress', String(bport)]]);
    const before = bs[0]!.accepted;
    for (let i = 0; i < 10; i++) expect(await ping(listen, ep.host_ip)).toBe(true);
    expect(bs[0]!.accepted).toBe(before);
    // the transfers to the draining backend still flow (the delay is 2 s), then are cut
    if (Date.now() - deregistered < 1_500) for (const c of conns) expect(await c.alive()).toBe(true);
    await waitFor(() => bs[0]!.open === 0, 8_000, 'the draining connections cut');
    expect(Date.now() - deregistered).toBeGreaterThanOrEqual(1_900);
    expect(await active('127.0.0.2')).toBeGreaterThan(0);
    await waitFor(async () => (await states()).length === 1, 5_000, 'the draining entry gone');

    // the last target dies: unhealthy after the threshold; fail open keeps sending it flows (which fail)
    await bs[1]!.close();
    await waitFor(async () => (await states())[0]![1] === 'unhealthy', 15_000, 'the dead target unhealthy');
    expect((await states())[0]![2]).toBe('Target.FailedHealthChecks');
  }, 45_000);
});

/** a held connection to host:port, destroyed after the test */
const heldAt = (host: string, port: number) => heldConnection(host, port, { onOpen: (s) => cleanup.push(() => s.destroy()) });

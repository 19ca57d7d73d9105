// A backend turning unhealthy, over real loopback sockets (issue 13): AWS's target-group
// attributes target_health_state.unhealthy.connection_termination.enabled (default true: its live
// connections are reset at once, close reason `unhealthy`) and ...draining_interval_seconds (with
// termination off: they flow for the interval, AWS's `unhealthy.draining`, then are reset unless it
// turned healthy again). A data plane in this process with a prober the test drives and an injected
// clock (no waiting on real probes); then a real daemon through both dialects, a backend that stops
// accepting but keeps its connections, probed at AWS's shortest interval. Both relays (test:js-relay).
import {
  CreateListenerCommand, CreateLoadBalancerCommand, CreateTargetGroupCommand, DescribeTargetGroupAttributesCommand, DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client, ModifyTargetGroupAttributesCommand, RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { CreateVpcEndpointServiceConfigurationCommand, EC2Client } from '@aws-sdk/client-ec2';
import { afterEach, describe, expect, it } from 'vitest';
import { TcpDataPlane } from '../../src/dataplane/data-plane.js';
import type { BackendTargetSpec, LiveEndpoint } from '../../src/model/events.js';
import { targetKey, type HealthProber, type HealthSettings, type ProbeReason, type ProbeState, type ProbeTarget } from '../../src/model/health.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { CONSUMER, PROVIDER, createAcceptedEndpoint, metricValue, startTestDaemon, tempDir, twoAccountConfig, waitFor, type TestDaemon } from '../helpers.js';
import { echo, heldConnection, ping, randomPort, startBackend, type TestBackend } from './backends.js';

const cleanup: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** a prober the test drives: mark() changes a target's state as the health checker would */
class DrivenProber implements HealthProber {
  private readonly states = new Map<string, ProbeState>();
  private readonly listeners: Array<(key: string, state: ProbeState, reason: ProbeReason | null) => void> = [];
  state(key: string): ProbeState { return this.states.get(key) ?? 'initial'; }
  reason(key: string): ProbeReason | null { return this.state(key) === 'unhealthy' ? 'Target.FailedHealthChecks' : null; }
  set(_targets: readonly ProbeTarget[]): void {}
  onChange(l: (key: string, state: ProbeState, reason: ProbeReason | null) => void): void { this.listeners.push(l); }
  close(): void {}
  mark(key: string, state: ProbeState): void {
    this.states.set(key, state);
    for (const l of this.listeners) l(key, state, this.reason(key));
  }
}

const HEALTH: HealthSettings = { interval_s: 5, timeout_s: 2, healthy_threshold: 2, unhealthy_threshold: 2 };

async function backend(host: string, port?: number): Promise<TestBackend> {
  const b = await startBackend(echo, { host, port });
  cleanup.push(() => b.close());
  return b;
}

const target = (b: TestBackend): BackendTargetSpec => ({ key: targetKey(b.host, b.port), host: b.host, port: b.port, zone: null });

function plane(prober: DrivenProber, now: () => number): TcpDataPlane {
  const dp = new TcpDataPlane({
    snatMode: 'logical', connectTimeoutMs: 3_000, idleTimeoutMs: 600_000, maxConnections: 10_000, socketBufferBytes: 0, vpcs: [],
    log: createLogger('silent'), observeConnect: () => undefined, forget: () => undefined, now, sweepIntervalMs: 0, healthProber: () => prober,
  });
  cleanup.push(() => dp.close());
  return dp;
}

/** a driven prober, a data plane on the test's clock (`clock.t`, ms; swept by hand) and two echo backends, at 127.0.0.1 and .2 */
async function rig(): Promise<{ prober: DrivenProber; clock: { t: number }; dp: TcpDataPlane; a: TestBackend; b: TestBackend; port: number }> {
  const prober = new DrivenProber();
  const clock = { t: 1_000 };
  const dp = plane(prober, () => clock.t);
  return { prober, clock, dp, a: await backend('127.0.0.1'), b: await backend('127.0.0.2'), port: randomPort() };
}

function spec(id: string, port: number, targets: BackendTargetSpec[], unhealthyCutMs: number | undefined): LiveEndpoint {
  return {
    id, marker_id: 1, service_id: 'svc-1', ip: '10.0.1.5', host_ip: '127.0.0.1', vpc_id: 'vpc-x', vpc_number: 200,
    vpc_cidr: '10.0.0.0/16', snat_ip: '', tcp_proxy: 'close', enable_whitelist: false, whitelist: [], connection_cap: 10_000,
    enis: [{ zone: 'sim-1a', ip: '10.0.1.5', host_ip: '127.0.0.1' }],
    backends: [{
      client_port: port, host: targets[0]!.host, port: targets[0]!.port, targets, cross_zone: true, health: HEALTH, drain_ms: 0,
      ...(unhealthyCutMs !== undefined ? { unhealthy_cut_ms: unhealthyCutMs } : {}),
    }],
  };
}

/** a held connection to host:port that echoes on demand */
const heldAt = (host: string, port: number) => heldConnection(host, port, { onOpen: (sock) => cleanup.push(() => sock.destroy()) });

/** held connections through the endpoint until each backend has at least one */
async function spread(port: number, bs: TestBackend[]): Promise<Array<Awaited<ReturnType<typeof heldAt>>>> {
  const conns: Array<Awaited<ReturnType<typeof heldAt>>> = [];
  for (let i = 0; i < 200 && bs.some((b) => b.open === 0); i++) conns.push(await heldAt('127.0.0.1', port));
  for (const b of bs) expect(b.open).toBeGreaterThan(0);
  return conns;
}

describe('connections of a backend that turns unhealthy (data plane, real sockets)', () => {
  it('termination on (AWS\'s default): its live connections are reset at once, counted as closed `unhealthy`; the other backend\'s flow on', async () => {
    const { prober, dp, a, b, port } = await rig();
    expect((await dp.apply({ kind: 'endpoint', id: 'ep', live: spec('ep', port, [target(a), target(b)], 0) })).ok).toBe(true);
    const conns = await spread(port, [a, b]);
    const onA = a.open;
    const onB = b.open;

    prober.mark(target(a).key, 'unhealthy');
    await waitFor(() => a.open === 0, 5_000, 'the unhealthy backend\'s connections reset');
    await waitFor(() => dp.totals.closed.unhealthy === onA, 5_000, 'the closes counted as unhealthy');
    expect(b.open).toBe(onB);
    const alive = await Promise.all(conns.map((c) => c.alive()));
    expect(alive.filter((x) => x).length).toBe(onB);
    expect(dp.stats().find((s) => s.id === 'ep')!.closed.unhealthy).toBe(onA);
    expect(dp.totals.closed.cut).toBe(0);
    // new connections go to the healthy one only
    const before = a.accepted;
    for (let i = 0; i < 10; i++) await heldAt('127.0.0.1', port);
    expect(a.accepted).toBe(before);
  });

  it('cuts at the turn only: a new reason of a backend already unhealthy leaves fail open\'s connections to it', async () => {
    const { prober, dp, a, b, port } = await rig();
    await dp.apply({ kind: 'endpoint', id: 'ep', live: spec('ep', port, [target(a), target(b)], 0) });
    prober.mark(target(a).key, 'unhealthy');
    prober.mark(target(b).key, 'unhealthy');
    // every backend unhealthy: fail open spreads new connections over both
    const conns = await spread(port, [a, b]);
    expect(dp.choices.fail_open).toBe(conns.length);
    prober.mark(target(a).key, 'unhealthy');
    prober.mark(target(b).key, 'unhealthy');
    for (const c of conns) expect(await c.alive()).toBe(true);
    expect(dp.totals.closed.unhealthy).toBe(0);
  });

  it('termination off with a draining interval: they flow for the interval (unhealthy.draining), healthy again they stay; unhealthy past it, they are reset', async () => {
    const { prober, clock, dp, a, b, port } = await rig();
    await dp.apply({ kind: 'endpoint', id: 'ep', live: spec('ep', port, [target(a), target(b)], 60_000) });
    const conns = await spread(port, [a, b]);
    const onA = a.open;
    const key = target(a).key;

    prober.mark(key, 'unhealthy');
    expect(dp.targetHealth(key)).toMatchObject({ state: 'unhealthy', unhealthyDraining: true });
    clock.t += 59_000;
    dp.sweep();
    for (const c of conns) expect(await c.alive()).toBe(true);
    // back healthy within the interval: nothing is cut, even past it
    prober.mark(key, 'healthy');
    expect(dp.targetHealth(key)?.unhealthyDraining).toBeUndefined();
    clock.t += 120_000;
    dp.sweep();
    expect(a.open).toBe(onA);

    prober.mark(key, 'unhealthy');
    clock.t += 59_999;
    dp.sweep();
    expect(a.open).toBe(onA);
    clock.t += 1;
    dp.sweep();
    await waitFor(() => a.open === 0, 5_000, 'the connections reset once the interval ended');
    await waitFor(() => dp.totals.closed.unhealthy === onA, 5_000, 'counted as unhealthy');
    expect(b.open).toBeGreaterThan(0);
  });

  it('unhealthy.draining only while there are connections to wait for: none at the turn, unhealthy at once; the last one ending, unhealthy then (before: unhealthy.draining for the whole interval)', async () => {
    const { prober, clock, dp, a, b, port } = await rig();
    await dp.apply({ kind: 'endpoint', id: 'ep', live: spec('ep', port, [target(a), target(b)], 60_000) });
    const key = target(a).key;
    prober.mark(target(b).key, 'healthy');
    prober.mark(key, 'unhealthy');
    expect(dp.targetHealth(key)).toEqual({ state: 'unhealthy', reason: 'Target.FailedHealthChecks' });
    prober.mark(key, 'healthy');

    const conns = await spread(port, [a, b]);
    prober.mark(key, 'unhealthy');
    expect(dp.targetHealth(key)).toMatchObject({ state: 'unhealthy', unhealthyDraining: true });
    for (const c of conns) c.socket.destroy();
    await waitFor(() => a.open === 0 && dp.endpointBackends('ep').every((s) => s.active === 0), 5_000, 'every connection ended');
    expect(dp.targetHealth(key)).toEqual({ state: 'unhealthy', reason: 'Target.FailedHealthChecks' });
    // a fail-open connection after it (every backend unhealthy) is not cut at the old interval's end
    prober.mark(target(b).key, 'unhealthy');
    const late = await heldAt('127.0.0.1', port);
    clock.t += 60_000;
    dp.sweep();
    expect(await late.alive()).toBe(true);
    expect(dp.totals.closed.unhealthy).toBe(0);
  });

  it('a deregistration during unhealthy.draining starts the deregistration delay instead (AWS)', async () => {
    const { prober, clock, dp, a, b, port } = await rig();
    const withBoth = spec('ep', port, [target(a), target(b)], 60_000);
    await dp.apply({ kind: 'endpoint', id: 'ep', live: withBoth });
    const conns = await spread(port, [a, b]);
    const onA = a.open;
    prober.mark(target(a).key, 'unhealthy');
    // deregistered with a 300 s delay: the interval's end no longer cuts them, the delay's does
    const withB = spec('ep', port, [target(b)], 60_000);
    await dp.apply({ kind: 'endpoint', id: 'ep', live: { ...withB, backends: [{ ...withB.backends[0]!, drain_ms: 300_000 }] } });
    clock.t += 60_000;
    dp.sweep();
    for (const c of conns) expect(await c.alive()).toBe(true);
    expect(dp.totals.closed.unhealthy).toBe(0);
    clock.t += 240_000;
    dp.sweep();
    await waitFor(() => a.open === 0, 5_000, 'the deregistered backend\'s connections cut at the end of the delay');
    await waitFor(() => dp.totals.closed.cut === onA, 5_000, 'counted as cut (deregistration), not unhealthy');
    expect(dp.totals.closed.unhealthy).toBe(0);
  });

  it('termination off without an interval (and a spec that says nothing): the connections flow on', async () => {
    const { prober, clock, dp, a, b } = await rig();
    const [p1, p2] = [randomPort(), randomPort() + 1];
    await dp.apply({ kind: 'endpoint', id: 'off', live: spec('off', p1, [target(a), target(b)], -1) });
    const conns = await spread(p1, [a, b]);
    await dp.apply({ kind: 'endpoint', id: 'unset', live: spec('unset', p2, [target(a), target(b)], undefined) });
    conns.push(...await spread(p2, [a, b]));
    prober.mark(target(a).key, 'unhealthy');
    clock.t += 3_600_000;
    dp.sweep();
    for (const c of conns) expect(await c.alive()).toBe(true);
    expect(dp.totals.closed.unhealthy).toBe(0);
  });
});

// ---- a real daemon, both dialects ----------------------------------------------------------------

function config(): Record<string, unknown> {
  const base = twoAccountConfig() as { vpcs: Array<Record<string, unknown>> };
  const vpcs = base.vpcs.map((v) => v.id !== 'vpc-app' ? v : {
    ...v,
    ports: [
      { id: 'port-web', subnet: 'subnet-app', ip: '192.168.24.246', type: 'VM', target: '127.0.0.1' },
      { id: 'port-web2', subnet: 'subnet-app', ip: '192.168.24.247', type: 'VM', target: '127.0.0.2' },
    ],
  });
  const aws = (id: string, k: string) => ({ account_id: id, access_key_id: k, secret_access_key: `${k}-secret-0123` });
  return {
    ...base, vpcs,
    accounts: [{ ...PROVIDER, aws: aws('111111111111', 'AKIAPROVIDERUNHEAL01') }, { ...CONSUMER, aws: aws('222222222222', 'AKIACONSUMERUNHEAL01') }],
  };
}

async function daemon(): Promise<TestDaemon> {
  const d = await startTestDaemon(config(), tempDir());
  cleanup.push(() => d.stop());
  return d;
}

async function connect(d: TestDaemon, serviceId: string): Promise<any> {
  await waitFor(async () => (await d.provider.get(`/vpc-endpoint-services/${serviceId}`)).body.status === 'available', 5_000, 'service available');
  await d.provider.post(`/vpc-endpoint-services/${serviceId}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] });
  return createAcceptedEndpoint(d.consumer, { endpoint_service_id: serviceId, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
}

/** the backend stops accepting (its probes fail) but keeps the connections it has (close()'s callback waits for them: not awaited) */
const stopAccepting = async (b: TestBackend) => {
  b.server.close();
  await waitFor(() => !b.server.listening, 2_000, 'the backend no longer listening');
};

describe('connection termination through the APIs (real daemon)', () => {
  it('ELBv2: the attributes\' defaults, AWS\'s range and rule (ValidationError, nothing changed); a target turning unhealthy loses its connections; the per-backend and per-zone metrics, fail open counted', async () => {
    const d = await daemon();
    const o = { endpoint: d.url, region: 'us-east-1', credentials: { accessKeyId: 'AKIAPROVIDERUNHEAL01', secretAccessKey: 'AKIAPROVIDERUNHEAL01-secret-0123' }, maxAttempts: 1 };
    const elb = new ElasticLoadBalancingV2Client(o);
    const ec2 = new EC2Client(o);
    const bport = randomPort();
    const bs = [await backend('127.0.0.1', bport), await backend('127.0.0.2', bport)];
    const listen = randomPort();
    const lb = (await elb.send(new CreateLoadBalancerCommand({ Name: 'term-nlb', Type: 'network', Scheme: 'internal', Subnets: ['subnet-app'] }))).LoadBalancers![0]!;
    const tg = (await elb.send(new CreateTargetGroupCommand({
      Name: 'term-tg', Protocol: 'TCP', Port: bport, VpcId: 'vpc-app', TargetType: 'ip',
      HealthCheckIntervalSeconds: 5, HealthCheckTimeoutSeconds: 2, HealthyThresholdCount: 2, UnhealthyThresholdCount: 2,
    }))).TargetGroups![0]!;
    const arn = tg.TargetGroupArn!;
    const attrs = async () => Object.fromEntries((await elb.send(new DescribeTargetGroupAttributesCommand({ TargetGroupArn: arn }))).Attributes!
      .filter((a) => a.Key!.startsWith('target_health_state.unhealthy.')).map((a) => [a.Key, a.Value]));
    const DEFAULTS = { 'target_health_state.unhealthy.connection_termination.enabled': 'true', 'target_health_state.unhealthy.draining_interval_seconds': '0' };
    expect(await attrs()).toEqual(DEFAULTS);
    for (const bad of [
      [{ Key: 'target_health_state.unhealthy.draining_interval_seconds', Value: '30' }],
      [{ Key: 'target_health_state.unhealthy.connection_termination.enabled', Value: 'false' }, { Key: 'target_health_state.unhealthy.draining_interval_seconds', Value: '360001' }],
      [{ Key: 'target_health_state.unhealthy.connection_termination.enabled', Value: 'yes' }],
    ]) {
      const err = await elb.send(new ModifyTargetGroupAttributesCommand({ TargetGroupArn: arn, Attributes: bad })).catch((e) => e);
      expect([err.name, err.$metadata?.httpStatusCode], JSON.stringify(bad)).toEqual(['ValidationError', 400]);
    }
    expect(await attrs()).toEqual(DEFAULTS);

    await elb.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: [{ Id: '127.0.0.1', AvailabilityZone: 'all' }, { Id: '127.0.0.2', AvailabilityZone: 'all' }] }));
    await elb.send(new CreateListenerCommand({ LoadBalancerArn: lb.LoadBalancerArn, Protocol: 'TCP', Port: listen, DefaultActions: [{ Type: 'forward', TargetGroupArn: arn }] }));
    const svc = await ec2.send(new CreateVpcEndpointServiceConfigurationCommand({ NetworkLoadBalancerArns: [lb.LoadBalancerArn!], AcceptanceRequired: false }));
    const ep = await connect(d, svc.ServiceConfiguration!.ServiceId!);
    const states = async () => Object.fromEntries((await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn }))).TargetHealthDescriptions!
      .map((h) => [h.Target!.Id!, h.TargetHealth!.State]));
    await waitFor(async () => Object.values(await states()).every((s) => s === 'healthy'), 12_000, 'both targets healthy');
    const conns: Array<Awaited<ReturnType<typeof heldAt>>> = [];
    for (let i = 0; i < 100 && bs.some((b) => b.open === 0); i++) conns.push(await heldAt(ep.host_ip, listen));
    const onA = bs[0]!.open;
    expect(onA).toBeGreaterThan(0);

    // the default: web stops accepting; once unhealthy its connections are reset, web2's flow on
    await stopAccepting(bs[0]!);
    await waitFor(async () => (await states())['127.0.0.1'] === 'unhealthy', 15_000, 'the target unhealthy');
    await waitFor(() => bs[0]!.open === 0, 5_000, 'its connections reset');
    expect(await metricValue(d.url, 'vpcep_closed_connections_total', { reason: 'unhealthy' })).toBe(onA);
    expect((await Promise.all(conns.map((c) => c.alive()))).filter((x) => x).length).toBe(bs[1]!.open);

    // termination off with an interval: web2 stops accepting, shows unhealthy.draining, and keeps its connections
    await elb.send(new ModifyTargetGroupAttributesCommand({ TargetGroupArn: arn, Attributes: [
      { Key: 'target_health_state.unhealthy.connection_termination.enabled', Value: 'false' },
      { Key: 'target_health_state.unhealthy.draining_interval_seconds', Value: '3600' },
    ] }));
    expect(await attrs()).toEqual({ 'target_health_state.unhealthy.connection_termination.enabled': 'false', 'target_health_state.unhealthy.draining_interval_seconds': '3600' });
    const onB = bs[1]!.open;
    await stopAccepting(bs[1]!);
    await waitFor(async () => (await states())['127.0.0.2'] === 'unhealthy.draining', 15_000, 'the target unhealthy.draining');
    expect(bs[1]!.open).toBe(onB);
    expect(await metricValue(d.url, 'vpcep_closed_connections_total', { reason: 'unhealthy' })).toBe(onA);

    // the metrics per backend and per zone (IP targets outside the VPC: zone none): both unhealthy, so
    // fail open sends a new connection to one of them, whose connect fails and is counted
    const svcId = svc.ServiceConfiguration!.ServiceId!;
    const labels = (host: string) => ({ service_id: svcId, backend: `${host}:${bport}`, zone: 'none' });
    expect(await metricValue(d.url, 'vpcep_backend_up', labels('127.0.0.1'))).toBe(0);
    expect(await metricValue(d.url, 'vpcep_zone_backends', { zone: 'none', state: 'unhealthy' })).toBe(2);
    // the states with no backend are shown as 0 (the series was gone: an alert on healthy == 0 never fired)
    for (const state of ['healthy', 'initial', 'zone_down']) expect(await metricValue(d.url, 'vpcep_zone_backends', { zone: 'none', state })).toBe(0);
    const failures = async () => ((await metricValue(d.url, 'vpcep_backend_failures_total', labels('127.0.0.1'))) ?? 0)
      + ((await metricValue(d.url, 'vpcep_backend_failures_total', labels('127.0.0.2'))) ?? 0);
    const failed = await failures();
    expect(await ping(listen, ep.host_ip)).toBe(false);
    await waitFor(async () => (await failures()) === failed + 1, 5_000, 'the failed connect counted on its backend');
    expect(await metricValue(d.url, 'vpcep_backend_choices_total', { reason: 'fail_open' })).toBeGreaterThanOrEqual(1);
  }, 45_000);

  it('Huawei API: unhealthy_connection_termination on a port-backed service, checked (EndPoint.0002, nothing changed), shown, and applied', async () => {
    const d = await daemon();
    const port = randomPort();
    const bs = [await backend('127.0.0.1', port), await backend('127.0.0.2', port)];
    const body = {
      vpc_id: 'vpc-app', server_type: 'VM', ports: [{ client_port: port, server_port: port, protocol: 'TCP' }], approval_enabled: false,
      backends: [{ port_id: 'port-web' }, { port_id: 'port-web2' }], health_check: { interval: 5, timeout: 2, healthy_threshold: 2, unhealthy_threshold: 2 },
    };
    for (const bad of [{ draining_interval: 30 }, { enabled: false, draining_interval: 360_001 }, { enabled: 'no' }, { draining: 1 }]) {
      const r = await d.provider.post('/vpc-endpoint-services', { ...body, unhealthy_connection_termination: bad });
      expect([r.status, r.body.error_code], JSON.stringify(bad)).toEqual([400, 'EndPoint.0002']);
      expect(r.body.error_msg).toMatch(/unhealthy_connection_termination/);
    }
    expect((await d.provider.get('/vpc-endpoint-services')).body.endpoint_services).toEqual([]);

    const svc = await d.provider.post('/vpc-endpoint-services', body);
    expect(svc.status, JSON.stringify(svc.body)).toBe(200);
    expect(svc.body.unhealthy_connection_termination).toBeUndefined();
    const ep = await connect(d, svc.body.id);
    const health = async () => (await d.provider.get(`/vpc-endpoint-services/${svc.body.id}`)).body.backend_health.map((h: any) => h.state);
    await waitFor(async () => (await health()).every((s: string) => s === 'healthy'), 12_000, 'both backends healthy');
    const conns: Array<Awaited<ReturnType<typeof heldAt>>> = [];
    for (let i = 0; i < 100 && bs.some((b) => b.open === 0); i++) conns.push(await heldAt(ep.host_ip, port));

    // turned off: a backend that stops accepting keeps its connections once unhealthy
    const off = await d.provider.put(`/vpc-endpoint-services/${svc.body.id}`, { unhealthy_connection_termination: { enabled: false } });
    expect(off.status, JSON.stringify(off.body)).toBe(200);
    expect(off.body.unhealthy_connection_termination).toEqual({ enabled: false, draining_interval: 0 });
    const bad = await d.provider.put(`/vpc-endpoint-services/${svc.body.id}`, { unhealthy_connection_termination: { enabled: true, draining_interval: 10 } });
    expect([bad.status, bad.body.error_code]).toEqual([400, 'EndPoint.0002']);
    expect((await d.provider.get(`/vpc-endpoint-services/${svc.body.id}`)).body.unhealthy_connection_termination).toEqual({ enabled: false, draining_interval: 0 });
    const onA = bs[0]!.open;
    await stopAccepting(bs[0]!);
    await waitFor(async () => (await health())[0] === 'unhealthy', 15_000, 'web unhealthy');
    expect(bs[0]!.open).toBe(onA);

    // on again (the config's default, AWS's): web2 stops accepting, its connections are reset once unhealthy
    await d.provider.put(`/vpc-endpoint-services/${svc.body.id}`, { unhealthy_connection_termination: { enabled: true } });
    const onB = bs[1]!.open;
    await stopAccepting(bs[1]!);
    await waitFor(async () => (await health())[1] === 'unhealthy', 15_000, 'web2 unhealthy');
    await waitFor(() => bs[1]!.open === 0, 5_000, 'web2\'s connections reset');
    expect(bs[0]!.open).toBe(onA);
    expect(await metricValue(d.url, 'vpcep_closed_connections_total', { reason: 'unhealthy' })).toBe(onB);
  }, 45_000);

  it('Huawei API: backend_health shows unhealthy.draining during the draining interval, as DescribeTargetHealth does', async () => {
    const d = await daemon();
    const port = randomPort();
    const bs = [await backend('127.0.0.1', port), await backend('127.0.0.2', port)];
    const svc = await d.provider.post('/vpc-endpoint-services', {
      vpc_id: 'vpc-app', server_type: 'VM', ports: [{ client_port: port, server_port: port, protocol: 'TCP' }], approval_enabled: false,
      backends: [{ port_id: 'port-web' }, { port_id: 'port-web2' }], health_check: { interval: 5, timeout: 2, healthy_threshold: 2, unhealthy_threshold: 2 },
      unhealthy_connection_termination: { enabled: false, draining_interval: 3600 },
    });
    expect(svc.status, JSON.stringify(svc.body)).toBe(200);
    const ep = await connect(d, svc.body.id);
    const health = async () => (await d.provider.get(`/vpc-endpoint-services/${svc.body.id}`)).body.backend_health;
    await waitFor(async () => (await health()).every((h: any) => h.state === 'healthy'), 12_000, 'both backends healthy');
    for (let i = 0; i < 100 && bs.some((b) => b.open === 0); i++) await heldAt(ep.host_ip, port);
    const onA = bs[0]!.open;
    await stopAccepting(bs[0]!);
    await waitFor(async () => (await health())[0].state !== 'healthy', 15_000, 'web no longer healthy');
    // the connections wait out the interval: the state says so, with the probes' reason
    expect(await health()).toEqual([
      { port_id: 'port-web', zone: 'sim-1a', state: 'unhealthy.draining', reason: 'Target.FailedHealthChecks' },
      { port_id: 'port-web2', zone: 'sim-1a', state: 'healthy', reason: null },
    ]);
    expect(bs[0]!.open).toBe(onA);
  }, 45_000);
});

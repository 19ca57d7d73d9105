// Network load balancers as endpoint-service backends, through the AWS SDK v3 clients over real
// HTTP against a real daemon (issue 12, "ELBv2"): NLB + target group + TCP listener, an endpoint
// service configuration on the NLB, a consumer's endpoint carrying real bytes to the target, the
// PROXY v2 header with the vpce id in TLV 0xEA/0x01 (parsed here independently), deregistration
// cutting new connections, ELBv2-shaped errors, isolation between accounts, and a restart.
import { Resolver } from 'node:dns/promises';
import net, { type Socket } from 'node:net';
import {
  CreateSecurityGroupCommand, CreateVpcEndpointCommand, CreateVpcEndpointServiceConfigurationCommand, DeleteVpcEndpointServiceConfigurationsCommand,
  DescribeNetworkInterfacesCommand, DescribeVpcEndpointConnectionsCommand, DescribeVpcEndpointServiceConfigurationsCommand, DescribeVpcEndpointsCommand, EC2Client,
  ModifyVpcEndpointCommand, ModifyVpcEndpointServiceConfigurationCommand, ModifyVpcEndpointServicePermissionsCommand, RejectVpcEndpointConnectionsCommand,
} from '@aws-sdk/client-ec2';
import {
  AddTagsCommand, CreateListenerCommand, CreateLoadBalancerCommand, CreateTargetGroupCommand, DeleteListenerCommand,
  DeleteLoadBalancerCommand, DeleteTargetGroupCommand, DeregisterTargetsCommand, DescribeCapacityReservationCommand,
  DescribeListenerAttributesCommand, DescribeListenersCommand, DescribeLoadBalancerAttributesCommand, DescribeLoadBalancersCommand,
  DescribeTagsCommand, DescribeTargetGroupAttributesCommand, DescribeTargetGroupsCommand, DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client, ModifyListenerAttributesCommand, ModifyListenerCommand, ModifyLoadBalancerAttributesCommand, ModifyTargetGroupAttributesCommand, RegisterTargetsCommand, RemoveTagsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { afterEach, describe, expect, it } from 'vitest';
import { CONSUMER, FakeClock, PROVIDER, metricValue, startTestDaemon, tempDir, twoAccountConfig, waitFor, type TestDaemon } from '../helpers.js';
import { randomPort } from './backends.js';

const PROVIDER_KEY = { accessKeyId: 'AKIAPROVIDERELB00001', secretAccessKey: 'provider-elb-secret-0123' };
const CONSUMER_KEY = { accessKeyId: 'AKIACONSUMERELB00001', secretAccessKey: 'consumer-elb-secret-0123' };
const PROVIDER_ID = '111111111111';
const CONSUMER_ID = '222222222222';

function config(dataplane?: Record<string, unknown>): Record<string, unknown> {
  const base = twoAccountConfig(dataplane ? { dataplane } : {});
  const aws = (id: string, k: typeof PROVIDER_KEY) => ({ account_id: id, access_key_id: k.accessKeyId, secret_access_key: k.secretAccessKey });
  return { ...base, accounts: [{ ...PROVIDER, aws: aws(PROVIDER_ID, PROVIDER_KEY) }, { ...CONSUMER, aws: aws(CONSUMER_ID, CONSUMER_KEY) }] };
}

function clients(d: TestDaemon, credentials: typeof PROVIDER_KEY) {
  const o = { endpoint: d.url, region: 'us-east-1', credentials, maxAttempts: 1 };
  return { elb: new ElasticLoadBalancingV2Client(o), ec2: new EC2Client(o) };
}

// ---- a backend that records what it reads (the PROXY header, then the bytes) and echoes the bytes

interface Recorder {
  readonly port: number;
  /** everything each connection delivered, in order of acceptance */
  readonly received: Buffer[];
  close(): Promise<void>;
}

async function recorder(host: string, port = randomPort()): Promise<Recorder> {
  const received: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server = net.createServer((s) => {
    const i = received.push(Buffer.alloc(0)) - 1;
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    let echoed = 0;
    s.on('data', (b) => {
      const all = Buffer.concat([received[i]!, b]);
      received[i] = all;
      // echo what follows the PROXY header (if any): everything from the first `ping-`
      const from = all.indexOf('ping-');
      if (from < 0) return;
      s.write(all.subarray(from + echoed));
      echoed = all.length - from;
    });
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
  return {
    port, received,
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

/** what the last connection that sent bytes delivered (the target group's health probes connect and send nothing) */
const lastReceived = (r: Recorder): Buffer => r.received.filter((b) => b.length > 0).at(-1)!;

/** connects, sends `ping-…`, and resolves with the echo, or with the socket's error code */
function exchange(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const msg = `ping-${Math.random().toString(36).slice(2)}`;
    const s = net.connect({ host, port });
    let got = '';
    const timer = setTimeout(() => { s.destroy(); resolve(`timeout: ${got}`); }, 3_000);
    s.on('connect', () => s.write(msg));
    s.on('data', (b) => {
      got += b.toString();
      if (got.length >= msg.length) {
        clearTimeout(timer);
        s.destroy();
        resolve(got === msg ? 'echoed' : `wrong echo: ${got}`);
      }
    });
    s.on('error', (e: NodeJS.ErrnoException) => { clearTimeout(timer); resolve(e.code ?? e.message); });
  });
}

/** a connection kept open after its first echo: more round trips, and when it closed (an idle close is a FIN: no error) */
async function held(host: string, port: number) {
  const s = net.connect({ host, port });
  cleanup.push(async () => { s.destroy(); });
  let got = '';
  let error: string | null = null;
  s.on('data', (b) => { got += b.toString(); });
  s.on('error', (e: NodeJS.ErrnoException) => { error = e.code ?? e.message; });
  const closed = () => waitFor(() => s.closed || null, 3_000, `the connection to ${host}:${port} to close`);
  const roundTrip = async () => {
    const msg = `ping-${Math.random().toString(36).slice(2)}`;
    const from = got.length;
    s.write(msg);
    await waitFor(() => got.slice(from) === msg || null, 3_000, `the echo of ${msg} (${error ?? 'no error'})`);
  };
  await roundTrip();
  return { sock: s, roundTrip, closed, isClosed: () => s.closed, error: () => error };
}

/** PROXY v2 read here from the spec (haproxy proxy-protocol.txt 2.2), not with src/net/proxy-v2.ts */
function parseProxyV2(b: Buffer): { command: number; family: number; tlvs: Array<{ type: number; value: Buffer }>; rest: Buffer } {
  expect(b.subarray(0, 12).equals(Buffer.from('0d0a0d0a000d0a515549540a', 'hex'))).toBe(true);
  const len = b.readUInt16BE(14);
  const tlvs: Array<{ type: number; value: Buffer }> = [];
  for (let o = 16 + 12; o < 16 + len;) {
    const l = b.readUInt16BE(o + 1);
    tlvs.push({ type: b[o]!, value: b.subarray(o + 3, o + 3 + l) });
    o += 3 + l;
  }
  return { command: b[12]!, family: b[13]!, tlvs, rest: b.subarray(16 + len) };
}

async function awsError(p: Promise<unknown>): Promise<{ name: string; status: number | undefined; message: string }> {
  try {
    await p;
  } catch (err) {
    // the SDK names a modeled ELBv2 error `<Code>Exception`; the wire's code is in Error.Code
    const e = err as { name: string; message: string; Error?: { Code?: string }; Code?: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.Error?.Code ?? e.Code ?? e.name, status: e.$metadata?.httpStatusCode, message: e.message };
  }
  throw new Error('the call succeeded');
}

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function daemon(dataDir = tempDir(), dataplane?: Record<string, unknown>, clock?: FakeClock): Promise<TestDaemon> {
  const d = await startTestDaemon(config(dataplane), dataDir, clock ? { dataPlaneClock: clock.option } : {});
  cleanup.push(() => d.stop());
  return d;
}

/** a daemon and both accounts' clients, closed after the test */
async function twoAccounts() {
  const d = await daemon();
  const provider = clients(d, PROVIDER_KEY);
  const consumer = clients(d, CONSUMER_KEY);
  cleanup.push(async () => { for (const c of [provider.ec2, provider.elb, consumer.ec2, consumer.elb]) c.destroy(); });
  return { d, provider, consumer };
}

/** the provider's NLB in subnet-app with a TCP target group on TARGET and a listener on LISTEN */
async function stack(elb: ElasticLoadBalancingV2Client, name: string, target: { id: string; port: number }, listen: number) {
  const lb = (await elb.send(new CreateLoadBalancerCommand({ Name: name, Type: 'network', Scheme: 'internal', Subnets: ['subnet-app'] }))).LoadBalancers![0]!;
  const tg = (await elb.send(new CreateTargetGroupCommand({ Name: `${name}-tg`, Protocol: 'TCP', Port: target.port, VpcId: 'vpc-app', TargetType: 'ip' }))).TargetGroups![0]!;
  // an IP outside the VPC (192.168.0.0/16) takes AvailabilityZone all, as AWS requires
  const outside = !target.id.startsWith('192.168.');
  await elb.send(new RegisterTargetsCommand({ TargetGroupArn: tg.TargetGroupArn, Targets: [{ Id: target.id, Port: target.port, ...(outside ? { AvailabilityZone: 'all' } : {}) }] }));
  const listener = (await elb.send(new CreateListenerCommand({
    LoadBalancerArn: lb.LoadBalancerArn, Protocol: 'TCP', Port: listen, DefaultActions: [{ Type: 'forward', TargetGroupArn: tg.TargetGroupArn }],
  }))).Listeners![0]!;
  return { lb, tg, listener };
}

/** a daemon with two of the provider's NLBs (assoc-a, assoc-b), each with its target group (127.0.0.1:9) and a listener */
async function twoStacks() {
  const d = await daemon();
  const { elb } = clients(d, PROVIDER_KEY);
  cleanup.push(async () => elb.destroy());
  const a = await stack(elb, 'assoc-a', { id: '127.0.0.1', port: 9 }, 18120);
  const b = await stack(elb, 'assoc-b', { id: '127.0.0.1', port: 9 }, 18121);
  return { d, elb, a, b, tgArn: a.tg.TargetGroupArn! };
}

/** an endpoint service on the NLB (acceptance off), open to the consumer; the consumer's endpoint, accepted */
async function publishAndConnect(d: TestDaemon, ec2: EC2Client, lbArn: string): Promise<{ serviceId: string; endpoint: any }> {
  const created = await ec2.send(new CreateVpcEndpointServiceConfigurationCommand({
    NetworkLoadBalancerArns: [lbArn], AcceptanceRequired: false,
    TagSpecifications: [{ ResourceType: 'vpc-endpoint-service', Tags: [{ Key: 'team', Value: 'web' }] }],
  }));
  const serviceId = created.ServiceConfiguration!.ServiceId!;
  await waitFor(async () => (await d.provider.get(`/vpc-endpoint-services/${serviceId}`)).body.status === 'available', 5_000, 'service available');
  const perm = await d.provider.post(`/vpc-endpoint-services/${serviceId}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] });
  expect(perm.status, JSON.stringify(perm.body)).toBe(200);
  const r = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: serviceId, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  const endpoint = await waitFor(async () => {
    const e = await d.consumer.get(`/vpc-endpoints/${r.body.id}`);
    return e.body.status === 'accepted' ? e.body : null;
  }, 5_000, 'endpoint accepted');
  return { serviceId, endpoint };
}

describe('network load balancers behind endpoint services (AWS SDK, real daemon)', () => {
  it('one real server in two target groups behind two listeners: each group\'s deregistration rules apply to its own listener\'s connections (one backend by address gave both the first group\'s); connection termination off (AWS\'s default) lets them flow on', async () => {
    const d = await daemon();
    const { elb, ec2 } = clients(d, PROVIDER_KEY);
    const backend = await recorder('127.0.0.1');
    cleanup.push(() => backend.close());
    const { lb, tg } = await stack(elb, 'two-tg', { id: '127.0.0.1', port: backend.port }, 18180);
    const tg2 = (await elb.send(new CreateTargetGroupCommand({ Name: 'two-tg-2', Protocol: 'TCP', Port: backend.port, VpcId: 'vpc-app', TargetType: 'ip' }))).TargetGroups![0]!;
    await elb.send(new RegisterTargetsCommand({ TargetGroupArn: tg2.TargetGroupArn, Targets: [{ Id: '127.0.0.1', Port: backend.port, AvailabilityZone: 'all' }] }));
    await elb.send(new CreateListenerCommand({ LoadBalancerArn: lb.LoadBalancerArn, Protocol: 'TCP', Port: 18181, DefaultActions: [{ Type: 'forward', TargetGroupArn: tg2.TargetGroupArn }] }));
    const { endpoint } = await publishAndConnect(d, ec2, lb.LoadBalancerArn!);
    const one = await held(endpoint.host_ip, 18180);
    const two = await held(endpoint.host_ip, 18181);
    // both delays 0; the first group terminates connections at the delay's end, the second does not
    // (AWS's default, deregistration_delay.connection_termination.enabled false): deregistered from
    // both, the first listener's connection is cut at once, the second's flows on with its target gone
    await elb.send(new ModifyTargetGroupAttributesCommand({ TargetGroupArn: tg.TargetGroupArn, Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: '0' }, { Key: 'deregistration_delay.connection_termination.enabled', Value: 'true' }] }));
    await elb.send(new ModifyTargetGroupAttributesCommand({ TargetGroupArn: tg2.TargetGroupArn, Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: '0' }] }));
    await elb.send(new DeregisterTargetsCommand({ TargetGroupArn: tg.TargetGroupArn, Targets: [{ Id: '127.0.0.1', Port: backend.port, AvailabilityZone: 'all' }] }));
    await elb.send(new DeregisterTargetsCommand({ TargetGroupArn: tg2.TargetGroupArn, Targets: [{ Id: '127.0.0.1', Port: backend.port, AvailabilityZone: 'all' }] }));
    await one.closed();
    await new Promise((r) => setTimeout(r, 300));
    await two.roundTrip();
    expect(two.isClosed()).toBe(false);
    expect((await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: tg2.TargetGroupArn }))).TargetHealthDescriptions).toEqual([]);
    // no new connection goes to it
    expect(await exchange(endpoint.host_ip, 18181)).not.toBe('echoed');
  });

  it('one address in two target groups is health-checked by each group with its own HealthCheckPort, whichever listener comes first; each listener\'s connections follow their own group\'s check (one probe by address, the first group\'s, steered both)', async () => {
    const d = await daemon();
    const { elb, ec2 } = clients(d, PROVIDER_KEY);
    cleanup.push(async () => { elb.destroy(); ec2.destroy(); });
    // S (127.0.0.1) and T (127.0.0.2) on one traffic port per load balancer; the health port Q
    // answers on 127.0.0.2 only: a group checking Q finds S unhealthy and T healthy, a group
    // checking the traffic port finds both healthy
    const pair = async () => {
      const s = await recorder('127.0.0.1');
      cleanup.push(() => s.close());
      const t = await recorder('127.0.0.2', s.port);
      cleanup.push(() => t.close());
      return [s, t] as const;
    };
    const [s1, t1] = await pair();
    const [s2, t2] = await pair();
    const q = await recorder('127.0.0.2');
    cleanup.push(() => q.close());
    const group = async (name: string, port: number, healthPort?: number) => {
      const tg = (await elb.send(new CreateTargetGroupCommand({
        Name: name, Protocol: 'TCP', Port: port, VpcId: 'vpc-app', TargetType: 'ip',
        HealthCheckIntervalSeconds: 5, HealthCheckTimeoutSeconds: 2, HealthyThresholdCount: 2, UnhealthyThresholdCount: 2,
        ...(healthPort ? { HealthCheckPort: String(healthPort) } : {}),
      }))).TargetGroups![0]!;
      await elb.send(new RegisterTargetsCommand({ TargetGroupArn: tg.TargetGroupArn, Targets: ['127.0.0.1', '127.0.0.2'].map((Id) => ({ Id, Port: port, AvailabilityZone: 'all' })) }));
      return tg.TargetGroupArn!;
    };
    const listen = async (lb: string, port: number, tg: string) => elb.send(new CreateListenerCommand({ LoadBalancerArn: lb, Protocol: 'TCP', Port: port, DefaultActions: [{ Type: 'forward', TargetGroupArn: tg }] }));
    const nlb = async (name: string) => (await elb.send(new CreateLoadBalancerCommand({ Name: name, Type: 'network', Scheme: 'internal', Subnets: ['subnet-app'] }))).LoadBalancers![0]!.LoadBalancerArn!;
    // the first load balancer's listeners: the traffic-port group first; the second's: the Q group first
    const lb1 = await nlb('hc-first');
    const a1 = await group('hc-a1', s1.port);
    const b1 = await group('hc-b1', s1.port, q.port);
    await listen(lb1, 18190, a1);
    await listen(lb1, 18191, b1);
    const lb2 = await nlb('hc-second');
    const a2 = await group('hc-a2', s2.port);
    const b2 = await group('hc-b2', s2.port, q.port);
    await listen(lb2, 18192, b2);
    await listen(lb2, 18193, a2);
    const health = async (tg: string) => (await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: tg }))).TargetHealthDescriptions!
      .map((x) => [x.Target!.Id, x.HealthCheckPort, x.TargetHealth!.State, x.TargetHealth!.Reason ?? null]).sort((x, y) => String(x[0]).localeCompare(String(y[0])));
    const expected = (traffic: number, checked: number) => checked === traffic
      ? [['127.0.0.1', String(traffic), 'healthy', null], ['127.0.0.2', String(traffic), 'healthy', null]]
      : [['127.0.0.1', String(checked), 'unhealthy', 'Target.FailedHealthChecks'], ['127.0.0.2', String(checked), 'healthy', null]];
    const want = [[a1, expected(s1.port, s1.port)], [b1, expected(s1.port, q.port)], [b2, expected(s2.port, q.port)], [a2, expected(s2.port, s2.port)]] as const;
    const seen = async () => Promise.all(want.map(async ([tg]) => health(tg)));
    await waitFor(async () => JSON.stringify(await seen()) === JSON.stringify(want.map(([, rows]) => rows)), 20_000, 'each group showing its own check')
      .catch(async (err) => { expect(await seen()).toEqual(want.map(([, rows]) => rows)); throw err; });
    // connections: through a traffic-port group's listener some reach S; through a Q group's, none does
    const { endpoint } = await publishAndConnect(d, ec2, lb1);
    const { endpoint: endpoint2 } = await publishAndConnect(d, ec2, lb2);
    const reached = async (host: string, port: number, s: Recorder, t: Recorder) => {
      const before = [s, t].map((r) => r.received.filter((b) => b.length > 0).length);
      for (let i = 0; i < 16; i++) expect(await exchange(host, port)).toBe('echoed');
      const after = [s, t].map((r) => r.received.filter((b) => b.length > 0).length);
      return { s: after[0]! - before[0]!, t: after[1]! - before[1]! };
    };
    expect((await reached(endpoint.host_ip, 18191, s1, t1)).s).toBe(0);
    expect((await reached(endpoint2.host_ip, 18192, s2, t2)).s).toBe(0);
    expect((await reached(endpoint.host_ip, 18190, s1, t1)).s).toBeGreaterThan(0);
    expect((await reached(endpoint2.host_ip, 18193, s2, t2)).s).toBeGreaterThan(0);
  });

  it('carries real bytes from a consumer endpoint to the NLB target, with PROXY v2 carrying the vpce id, and follows the targets', async () => {
    const d = await daemon();
    const { elb, ec2 } = clients(d, PROVIDER_KEY);
    const backend = await recorder('127.0.0.1');
    cleanup.push(() => backend.close());
    const { lb, tg, listener } = await stack(elb, 'web-nlb', { id: '127.0.0.1', port: backend.port }, 18080);
    expect(lb.LoadBalancerArn).toMatch(new RegExp(`^arn:aws:elasticloadbalancing:us-east-1:${PROVIDER_ID}:loadbalancer/net/web-nlb/[0-9a-f]{16}$`));
    expect(lb.State?.Code).toBe('active');
    expect(lb.Type).toBe('network');
    expect(lb.VpcId).toBe('vpc-app');
    expect(tg.TargetGroupArn).toMatch(new RegExp(`:${PROVIDER_ID}:targetgroup/web-nlb-tg/[0-9a-f]{16}$`));
    expect(listener.ListenerArn).toMatch(new RegExp(`:listener/net/web-nlb/${lb.LoadBalancerArn!.split('/').pop()}/[0-9a-f]{16}$`));
    expect(listener.DefaultActions?.[0]?.TargetGroupArn).toBe(tg.TargetGroupArn);

    // in use by a listener: probed from registration, as an NLB does, before any endpoint service
    // exists (`aws elbv2 wait target-in-service` returns); before, unused (Target.NotInUse) until an endpoint relayed
    const rows = async () => (await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: tg.TargetGroupArn }))).TargetHealthDescriptions
      ?.map((h) => [h.Target?.Id, h.Target?.Port, h.TargetHealth?.State, h.TargetHealth?.Reason]);
    await waitFor(async () => JSON.stringify(await rows()) === JSON.stringify([['127.0.0.1', backend.port, 'healthy', undefined]]), 15_000, 'the target healthy with no endpoint service yet');

    const { serviceId, endpoint } = await publishAndConnect(d, ec2, lb.LoadBalancerArn!);
    expect(serviceId).toMatch(/^vpce-svc-[0-9a-f]{17}$/);
    const huawei = (await d.provider.get(`/vpc-endpoint-services/${serviceId}`)).body;
    expect(huawei.server_type).toBe('LB');
    expect(huawei.service_name).toBe(`com.amazonaws.vpce.us-east-1.${serviceId}`);
    expect(huawei.ports).toEqual([{ client_port: 18080, server_port: backend.port, protocol: 'TCP' }]);

    // real bytes, no PROXY header
    expect(await exchange(endpoint.host_ip, 18080)).toBe('echoed');
    expect(lastReceived(backend).subarray(0, 5).toString()).toBe('ping-');

    // proxy_protocol_v2.enabled on the target group: the next connection starts with the header
    const attrs = await elb.send(new ModifyTargetGroupAttributesCommand({ TargetGroupArn: tg.TargetGroupArn, Attributes: [{ Key: 'proxy_protocol_v2.enabled', Value: 'true' }] }));
    expect(attrs.Attributes?.find((a) => a.Key === 'proxy_protocol_v2.enabled')?.Value).toBe('true');
    expect(await exchange(endpoint.host_ip, 18080)).toBe('echoed');
    const h = parseProxyV2(lastReceived(backend));
    expect([h.command, h.family]).toEqual([0x21, 0x11]);
    const vpce = h.tlvs.find((t) => t.type === 0xea);
    expect(vpce?.value[0]).toBe(0x01);
    expect(vpce?.value.subarray(1).toString('ascii')).toBe(endpoint.id);
    expect(h.rest.subarray(0, 5).toString()).toBe('ping-');

    // deregistered with no delay: new connections fail (the listener stays, resetting them); registered again: they work (draining: test/integration/backends-zones.test.ts)
    await elb.send(new ModifyTargetGroupAttributesCommand({ TargetGroupArn: tg.TargetGroupArn, Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: '0' }] }));
    await elb.send(new DeregisterTargetsCommand({ TargetGroupArn: tg.TargetGroupArn, Targets: [{ Id: '127.0.0.1', Port: backend.port, AvailabilityZone: 'all' }] }));
    expect(await exchange(endpoint.host_ip, 18080)).toBe('ECONNRESET');
    expect((await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: tg.TargetGroupArn }))).TargetHealthDescriptions).toEqual([]);
    await elb.send(new RegisterTargetsCommand({ TargetGroupArn: tg.TargetGroupArn, Targets: [{ Id: '127.0.0.1', Port: backend.port, AvailabilityZone: 'all' }] }));
    expect(await exchange(endpoint.host_ip, 18080)).toBe('echoed');

    // an IP target inside the VPC is reached at its host address: 192.168.24.50 in vpc-app (number 1) -> 127.1.24.50
    const inside = await recorder('127.1.24.50');
    cleanup.push(() => inside.close());
    const tg2 = (await elb.send(new CreateTargetGroupCommand({ Name: 'inside-tg', Protocol: 'TCP', Port: inside.port, VpcId: 'vpc-app', TargetType: 'ip' }))).TargetGroups![0]!;
    await elb.send(new RegisterTargetsCommand({ TargetGroupArn: tg2.TargetGroupArn, Targets: [{ Id: '192.168.24.50' }] }));
    expect((await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: tg2.TargetGroupArn }))).TargetHealthDescriptions?.[0]?.TargetHealth)
      .toMatchObject({ State: 'unused', Reason: 'Target.NotInUse' });
    const l2 = (await elb.send(new CreateListenerCommand({
      LoadBalancerArn: lb.LoadBalancerArn, Protocol: 'TCP', Port: 18081, DefaultActions: [{ Type: 'forward', TargetGroupArn: tg2.TargetGroupArn }],
    }))).Listeners![0]!;
    expect(await exchange(endpoint.host_ip, 18081)).toBe('echoed');
    expect(inside.received.filter((b) => b.length > 0)).toHaveLength(1);
    expect((await d.provider.get(`/vpc-endpoint-services/${serviceId}`)).body.ports.map((p: any) => p.client_port)).toEqual([18080, 18081]);
    await elb.send(new DeleteListenerCommand({ ListenerArn: l2.ListenerArn }));
    expect(await exchange(endpoint.host_ip, 18081)).toBe('ECONNREFUSED');
    expect(await exchange(endpoint.host_ip, 18080)).toBe('echoed');

    // ModifyListener (Terraform's in-place update of an aws_lb_listener's port or default action;
    // was InvalidAction): the same listener moves to 18082 and forwards to the inside target group
    const moved = (await elb.send(new ModifyListenerCommand({
      ListenerArn: listener.ListenerArn, Port: 18082, Protocol: 'TCP', DefaultActions: [{ Type: 'forward', TargetGroupArn: tg2.TargetGroupArn }],
    }))).Listeners![0]!;
    expect(moved).toMatchObject({ ListenerArn: listener.ListenerArn, Port: 18082, Protocol: 'TCP' });
    expect(moved.DefaultActions?.[0]?.TargetGroupArn).toBe(tg2.TargetGroupArn);
    expect(await exchange(endpoint.host_ip, 18080)).toBe('ECONNREFUSED');
    expect(await exchange(endpoint.host_ip, 18082)).toBe('echoed');
    expect(inside.received.filter((b) => b.length > 0)).toHaveLength(2);
    // a port another listener of the load balancer has: DuplicateListener, nothing changed
    const l3 = (await elb.send(new CreateListenerCommand({
      LoadBalancerArn: lb.LoadBalancerArn, Protocol: 'TCP', Port: 18083, DefaultActions: [{ Type: 'forward', TargetGroupArn: tg.TargetGroupArn }],
    }))).Listeners![0]!;
    expect(await awsError(elb.send(new ModifyListenerCommand({ ListenerArn: listener.ListenerArn, Port: 18083 })))).toMatchObject({ name: 'DuplicateListener', status: 400 });
    expect((await elb.send(new DescribeListenersCommand({ ListenerArns: [listener.ListenerArn!] }))).Listeners![0]!.Port).toBe(18082);
    await elb.send(new DeleteListenerCommand({ ListenerArn: l3.ListenerArn }));
  });

  it('a target group serves one load balancer: another\'s CreateListener or ModifyListener forwarding to it is TargetGroupAssociationLimit (it answered 200); its own listeners may share it', async () => {
    const { elb, a, b, tgArn } = await twoStacks();
    const created = await awsError(elb.send(new CreateListenerCommand({ LoadBalancerArn: b.lb.LoadBalancerArn, Protocol: 'TCP', Port: 18122, DefaultActions: [{ Type: 'forward', TargetGroupArn: tgArn }] })));
    expect(created).toEqual({ name: 'TargetGroupAssociationLimit', status: 400, message: `The following target groups cannot be associated with more than one load balancer: ${tgArn}` });
    const modified = await awsError(elb.send(new ModifyListenerCommand({ ListenerArn: b.listener.ListenerArn, DefaultActions: [{ Type: 'forward', TargetGroupArn: tgArn }] })));
    expect([modified.name, modified.status]).toEqual(['TargetGroupAssociationLimit', 400]);
    expect((await elb.send(new DescribeListenersCommand({ LoadBalancerArn: b.lb.LoadBalancerArn }))).Listeners!.map((l) => [l.Port, l.DefaultActions![0]!.TargetGroupArn])).toEqual([[18121, b.tg.TargetGroupArn]]);
    const second = (await elb.send(new CreateListenerCommand({ LoadBalancerArn: a.lb.LoadBalancerArn, Protocol: 'TCP', Port: 18123, DefaultActions: [{ Type: 'forward', TargetGroupArn: tgArn }] }))).Listeners![0]!;
    await elb.send(new DeleteListenerCommand({ ListenerArn: second.ListenerArn }));
  });

  it('DeleteLoadBalancer with deletion protection on is OperationNotPermitted, worded as AWS words it (was InvalidConfigurationRequest)', async () => {
    const { elb, b } = await twoStacks();
    await elb.send(new ModifyLoadBalancerAttributesCommand({ LoadBalancerArn: b.lb.LoadBalancerArn, Attributes: [{ Key: 'deletion_protection.enabled', Value: 'true' }] }));
    expect(await awsError(elb.send(new DeleteLoadBalancerCommand({ LoadBalancerArn: b.lb.LoadBalancerArn })))).toEqual({
      name: 'OperationNotPermitted', status: 400, message: `Load balancer '${b.lb.LoadBalancerArn}' cannot be deleted because deletion protection is enabled`,
    });
    await elb.send(new ModifyLoadBalancerAttributesCommand({ LoadBalancerArn: b.lb.LoadBalancerArn, Attributes: [{ Key: 'deletion_protection.enabled', Value: 'false' }] }));
    await elb.send(new DeleteLoadBalancerCommand({ LoadBalancerArn: b.lb.LoadBalancerArn }));
  });

  it('takes 50 tags per resource, ELBv2\'s quota (it stopped at 20), then TooManyTags', async () => {
    const { elb, a, tgArn } = await twoStacks();
    const tags = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ Key: `k${from + i}`, Value: 'v' }));
    await elb.send(new AddTagsCommand({ ResourceArns: [tgArn, a.lb.LoadBalancerArn!], Tags: tags(0, 30) }));
    await elb.send(new AddTagsCommand({ ResourceArns: [tgArn], Tags: tags(30, 20) }));
    expect((await elb.send(new DescribeTagsCommand({ ResourceArns: [tgArn] }))).TagDescriptions![0]!.Tags).toHaveLength(50);
    expect(await awsError(elb.send(new AddTagsCommand({ ResourceArns: [tgArn], Tags: tags(50, 1) })))).toMatchObject({ name: 'TooManyTags', status: 400 });
  });

  it('target group health takes a count off or 1 to the maximum number of targets and a percentage off or 1-100 (any value was taken); integers are stored canonical (007 was kept as 007)', async () => {
    const { elb, tgArn } = await twoStacks();
    // unhealthy_state_routing's count has no off; anything else ValidationError, nothing changed
    const health = 'target_group_health.';
    for (const [key, value] of [
      [`${health}dns_failover.minimum_healthy_targets.count`, 'xyz'], [`${health}dns_failover.minimum_healthy_targets.count`, '0'],
      [`${health}dns_failover.minimum_healthy_targets.percentage`, '150'], [`${health}dns_failover.minimum_healthy_targets.percentage`, 'abc'],
      [`${health}unhealthy_state_routing.minimum_healthy_targets.count`, 'off'], [`${health}unhealthy_state_routing.minimum_healthy_targets.count`, '-1'],
      [`${health}unhealthy_state_routing.minimum_healthy_targets.percentage`, '101'],
    ] as const) {
      expect(await awsError(elb.send(new ModifyTargetGroupAttributesCommand({ TargetGroupArn: tgArn, Attributes: [{ Key: key, Value: value }] }))), `${key}=${value}`).toMatchObject({ name: 'ValidationError', status: 400 });
    }
    const changes = [
      { Key: `${health}dns_failover.minimum_healthy_targets.count`, Value: '2' }, { Key: `${health}dns_failover.minimum_healthy_targets.percentage`, Value: '050' },
      { Key: `${health}unhealthy_state_routing.minimum_healthy_targets.count`, Value: '1' }, { Key: `${health}unhealthy_state_routing.minimum_healthy_targets.percentage`, Value: 'off' },
      { Key: 'deregistration_delay.timeout_seconds', Value: '007' },
    ];
    await elb.send(new ModifyTargetGroupAttributesCommand({ TargetGroupArn: tgArn, Attributes: changes }));
    const stored = new Map((await elb.send(new DescribeTargetGroupAttributesCommand({ TargetGroupArn: tgArn }))).Attributes!.map((x) => [x.Key, x.Value]));
    expect(changes.map((c) => stored.get(c.Key))).toEqual(['2', '50', '1', 'off', '7']);
  });

  it('RegisterTargets of an IP outside the VPC needs AvailabilityZone all (ELBv2 API reference, TargetDescription; it was taken without)', async () => {
    const { elb, tgArn } = await twoStacks();
    for (const target of [{ Id: '127.0.0.3' }, { Id: '127.0.0.3', AvailabilityZone: 'us-east-1a' }]) {
      const e = await awsError(elb.send(new RegisterTargetsCommand({ TargetGroupArn: tgArn, Targets: [target] })));
      expect([e.name, e.status], JSON.stringify(target)).toEqual(['ValidationError', 400]);
    }
    await elb.send(new RegisterTargetsCommand({ TargetGroupArn: tgArn, Targets: [{ Id: '127.0.0.3', AvailabilityZone: 'all' }, { Id: '192.168.24.60' }] }));
    expect((await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: tgArn }))).TargetHealthDescriptions!.map((t) => t.Target!.Id).sort()).toEqual(['127.0.0.1', '127.0.0.3', '192.168.24.60']);
  });

  it('DescribeTargetGroups takes one of LoadBalancerArn, TargetGroupArns, Names: two are ValidationError (Names with TargetGroupArns answered "not found" for a group that exists; TargetGroupArns ignored LoadBalancerArn)', async () => {
    const { elb, a, tgArn } = await twoStacks();
    for (const both of [{ Names: ['assoc-a-tg'], TargetGroupArns: [tgArn] }, { TargetGroupArns: [tgArn], LoadBalancerArn: a.lb.LoadBalancerArn }, { Names: ['assoc-a-tg'], LoadBalancerArn: a.lb.LoadBalancerArn }]) {
      expect(await awsError(elb.send(new DescribeTargetGroupsCommand(both))), JSON.stringify(both)).toMatchObject({ name: 'ValidationError', status: 400 });
    }
    expect((await elb.send(new DescribeTargetGroupsCommand({ Names: ['assoc-a-tg'] }))).TargetGroups!.map((t) => t.TargetGroupArn)).toEqual([tgArn]);
  });

  it('Marker is an opaque key: deleting what a page listed skips nothing after it and leaves the marker valid (it was an offset: tb was never listed, then marker 2 was a ValidationError); a malformed marker is ValidationError', async () => {
    const d = await daemon();
    const { elb } = clients(d, PROVIDER_KEY);
    cleanup.push(async () => elb.destroy());
    const arn: Record<string, string> = {};
    for (const name of ['web', 'ta', 'tb', 'tc']) {
      arn[name] = (await elb.send(new CreateTargetGroupCommand({ Name: name, Protocol: 'TCP', Port: 80, VpcId: 'vpc-app', TargetType: 'ip' }))).TargetGroups![0]!.TargetGroupArn!;
    }
    const groups = async (Marker?: string) => {
      const r = await elb.send(new DescribeTargetGroupsCommand({ PageSize: 2, Marker }));
      return { names: r.TargetGroups!.map((t) => t.TargetGroupName), next: r.NextMarker };
    };
    const first = await groups();
    expect(first.names).toEqual(['web', 'ta']);
    expect(first.next).toBeDefined();
    expect(first.next).not.toMatch(/^\d+$/);
    await elb.send(new DeleteTargetGroupCommand({ TargetGroupArn: arn.ta }));
    expect(await groups(first.next)).toEqual({ names: ['tb', 'tc'], next: undefined });
    await elb.send(new DeleteTargetGroupCommand({ TargetGroupArn: arn.web }));
    await elb.send(new DeleteTargetGroupCommand({ TargetGroupArn: arn.tb }));
    expect(await groups(first.next)).toEqual({ names: ['tc'], next: undefined });
    for (const bad of ['2', 'not-a-marker!', 'x'.repeat(3000)]) {
      expect(await awsError(elb.send(new DescribeTargetGroupsCommand({ PageSize: 2, Marker: bad }))), bad.slice(0, 20)).toMatchObject({ name: 'ValidationError', status: 400 });
    }

    // load balancers and listeners page the same way
    const lbs: string[] = [];
    for (const name of ['lb-1', 'lb-2', 'lb-3']) {
      lbs.push((await elb.send(new CreateLoadBalancerCommand({ Name: name, Type: 'network', Scheme: 'internal', Subnets: ['subnet-app'] }))).LoadBalancers![0]!.LoadBalancerArn!);
    }
    const p1 = await elb.send(new DescribeLoadBalancersCommand({ PageSize: 1 }));
    expect(p1.LoadBalancers!.map((x) => x.LoadBalancerName)).toEqual(['lb-1']);
    await elb.send(new DeleteLoadBalancerCommand({ LoadBalancerArn: lbs[0] }));
    const p2 = await elb.send(new DescribeLoadBalancersCommand({ PageSize: 1, Marker: p1.NextMarker }));
    expect(p2.LoadBalancers!.map((x) => x.LoadBalancerName)).toEqual(['lb-2']);
    const p3 = await elb.send(new DescribeLoadBalancersCommand({ PageSize: 1, Marker: p2.NextMarker }));
    expect([p3.LoadBalancers!.map((x) => x.LoadBalancerName), p3.NextMarker]).toEqual([['lb-3'], undefined]);
    const listeners: string[] = [];
    for (const port of [18131, 18132, 18133]) {
      listeners.push((await elb.send(new CreateListenerCommand({ LoadBalancerArn: lbs[1], Protocol: 'TCP', Port: port, DefaultActions: [{ Type: 'forward', TargetGroupArn: arn.tc }] }))).Listeners![0]!.ListenerArn!);
    }
    const l1 = await elb.send(new DescribeListenersCommand({ LoadBalancerArn: lbs[1], PageSize: 1 }));
    expect(l1.Listeners!.map((x) => x.Port)).toEqual([18131]);
    await elb.send(new DeleteListenerCommand({ ListenerArn: listeners[0] }));
    const l2 = await elb.send(new DescribeListenersCommand({ LoadBalancerArn: lbs[1], PageSize: 1, Marker: l1.NextMarker }));
    expect(l2.Listeners!.map((x) => x.Port)).toEqual([18132]);
    // at most 20 ARNs or names (the ELBv2 API reference; 25 answered 25, the same one repeated)
    for (const input of [{ LoadBalancerArns: Array(21).fill(lbs[1]) }, { Names: Array(21).fill('lb-2') }]) {
      const tooMany = await elb.send(new DescribeLoadBalancersCommand(input)).catch((e) => e);
      expect([tooMany.name, tooMany.$metadata?.httpStatusCode]).toEqual(['ValidationError', 400]);
    }
    // a request's own list keeps its order
    const named = await elb.send(new DescribeLoadBalancersCommand({ Names: ['lb-3', 'lb-2'], PageSize: 1 }));
    expect(named.LoadBalancers!.map((x) => x.LoadBalancerName)).toEqual(['lb-3']);
    expect((await elb.send(new DescribeLoadBalancersCommand({ Names: ['lb-3', 'lb-2'], PageSize: 1, Marker: named.NextMarker }))).LoadBalancers!.map((x) => x.LoadBalancerName)).toEqual(['lb-2']);
  });

  it('answers the reads Terraform makes, pages, tags, and refuses mistakes in ELBv2 shape (4xx, nothing changed)', async () => {
    const d = await daemon();
    const { elb, ec2 } = clients(d, PROVIDER_KEY);
    const { lb, tg, listener } = await stack(elb, 'nlb-a', { id: '127.0.0.1', port: 9 }, 18090);
    const nlbB = await stack(elb, 'nlb-b', { id: '127.0.0.1', port: 9 }, 18090);
    const lbAttrs = await elb.send(new DescribeLoadBalancerAttributesCommand({ LoadBalancerArn: lb.LoadBalancerArn }));
    expect(lbAttrs.Attributes?.find((a) => a.Key === 'deletion_protection.enabled')?.Value).toBe('false');
    const tgAttrs = await elb.send(new DescribeTargetGroupAttributesCommand({ TargetGroupArn: tg.TargetGroupArn }));
    expect(tgAttrs.Attributes?.find((a) => a.Key === 'proxy_protocol_v2.enabled')?.Value).toBe('false');
    // AWS's defaults by target type: preserve_client_ip off for ip targets of TCP, on for instance targets
    expect(tgAttrs.Attributes?.find((a) => a.Key === 'preserve_client_ip.enabled')?.Value).toBe('false');
    const byInstance = (await elb.send(new CreateTargetGroupCommand({ Name: 'by-instance', Protocol: 'TCP', Port: 80, VpcId: 'vpc-app', TargetType: 'instance' }))).TargetGroups![0]!;
    expect((await elb.send(new DescribeTargetGroupAttributesCommand({ TargetGroupArn: byInstance.TargetGroupArn }))).Attributes?.find((a) => a.Key === 'preserve_client_ip.enabled')?.Value).toBe('true');
    await elb.send(new DeleteTargetGroupCommand({ TargetGroupArn: byInstance.TargetGroupArn }));
    expect((await elb.send(new DescribeListenerAttributesCommand({ ListenerArn: listener.ListenerArn }))).Attributes).toEqual([{ Key: 'tcp.idle_timeout.seconds', Value: '350' }]);
    // ModifyListenerAttributes (Terraform's tcp_idle_timeout_seconds on an aws_lb_listener; was InvalidAction): stored and echoed, AWS's range 60-6000
    const idle = [{ Key: 'tcp.idle_timeout.seconds', Value: '600' }];
    expect((await elb.send(new ModifyListenerAttributesCommand({ ListenerArn: listener.ListenerArn, Attributes: idle }))).Attributes).toEqual(idle);
    expect((await elb.send(new DescribeListenerAttributesCommand({ ListenerArn: listener.ListenerArn }))).Attributes).toEqual(idle);
    for (const bad of [{ Key: 'tcp.idle_timeout.seconds', Value: '59' }, { Key: 'routing.http.response.server.enabled', Value: 'true' }]) {
      expect(await awsError(elb.send(new ModifyListenerAttributesCommand({ ListenerArn: listener.ListenerArn, Attributes: [bad] })))).toMatchObject({ name: 'ValidationError', status: 400 });
    }
    expect((await elb.send(new DescribeListenerAttributesCommand({ ListenerArn: listener.ListenerArn }))).Attributes).toEqual(idle);
    expect((await elb.send(new DescribeCapacityReservationCommand({ LoadBalancerArn: lb.LoadBalancerArn }))).$metadata.httpStatusCode).toBe(200);
    expect((await elb.send(new DescribeListenersCommand({ LoadBalancerArn: lb.LoadBalancerArn }))).Listeners?.map((l) => l.Port)).toEqual([18090]);
    const tgs = await elb.send(new DescribeTargetGroupsCommand({ LoadBalancerArn: lb.LoadBalancerArn }));
    expect(tgs.TargetGroups?.map((t) => [t.TargetGroupName, t.LoadBalancerArns])).toEqual([['nlb-a-tg', [lb.LoadBalancerArn]]]);

    // an instance target is a VM port of the VPC (port-web); anything else is not an instance here
    const vmTg = (await elb.send(new CreateTargetGroupCommand({ Name: 'vm-tg', Protocol: 'TCP', Port: 8080, VpcId: 'vpc-app', TargetType: 'instance' }))).TargetGroups![0]!;
    await elb.send(new RegisterTargetsCommand({ TargetGroupArn: vmTg.TargetGroupArn, Targets: [{ Id: 'port-web' }] }));
    expect((await awsError(elb.send(new RegisterTargetsCommand({ TargetGroupArn: vmTg.TargetGroupArn, Targets: [{ Id: 'i-0123456789abcdef0' }] })))).name).toBe('InvalidTarget');
    expect((await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: vmTg.TargetGroupArn }))).TargetHealthDescriptions?.map((x) => [x.Target?.Id, x.Target?.Port])).toEqual([['port-web', 8080]]);
    await elb.send(new DeleteTargetGroupCommand({ TargetGroupArn: vmTg.TargetGroupArn }));

    // paging
    const first = await elb.send(new DescribeLoadBalancersCommand({ PageSize: 1 }));
    expect(first.LoadBalancers?.map((x) => x.LoadBalancerName)).toEqual(['nlb-a']);
    const second = await elb.send(new DescribeLoadBalancersCommand({ PageSize: 1, Marker: first.NextMarker }));
    expect(second.LoadBalancers?.map((x) => x.LoadBalancerName)).toEqual(['nlb-b']);
    expect(second.NextMarker).toBeUndefined();

    // tags on each kind
    await elb.send(new AddTagsCommand({ ResourceArns: [lb.LoadBalancerArn!, tg.TargetGroupArn!, listener.ListenerArn!], Tags: [{ Key: 'env', Value: 'test' }] }));
    await elb.send(new RemoveTagsCommand({ ResourceArns: [tg.TargetGroupArn!], TagKeys: ['env'] }));
    const tags = await elb.send(new DescribeTagsCommand({ ResourceArns: [lb.LoadBalancerArn!, tg.TargetGroupArn!, listener.ListenerArn!] }));
    expect(tags.TagDescriptions?.map((t) => t.Tags)).toEqual([[{ Key: 'env', Value: 'test' }], [], [{ Key: 'env', Value: 'test' }]]);

    // mistakes: ELBv2 codes, HTTP 400, nothing changed (a spare target group: nlb-b's serves nlb-b only)
    const spare = (await elb.send(new CreateTargetGroupCommand({ Name: 'spare-tg', Protocol: 'TCP', Port: 9, VpcId: 'vpc-app', TargetType: 'ip' }))).TargetGroups![0]!;
    const refusals = [
      [await awsError(elb.send(new DescribeLoadBalancersCommand({ Names: ['nope'] }))), 'LoadBalancerNotFound'],
      [await awsError(elb.send(new CreateLoadBalancerCommand({ Name: 'alb', Type: 'application', Subnets: ['subnet-app'] }))), null],
      [await awsError(elb.send(new CreateLoadBalancerCommand({ Name: 'nlb-a', Type: 'network', Subnets: ['subnet-app'] }))), 'DuplicateLoadBalancerName'],
      [await awsError(elb.send(new CreateLoadBalancerCommand({ Name: 'bad_name', Type: 'network', Subnets: ['subnet-app'] }))), 'ValidationError'],
      [await awsError(elb.send(new CreateLoadBalancerCommand({ Name: 'x', Type: 'network', Subnets: ['subnet-a'] }))), null],
      [await awsError(elb.send(new DeleteTargetGroupCommand({ TargetGroupArn: tg.TargetGroupArn }))), 'ResourceInUse'],
      [await awsError(elb.send(new CreateListenerCommand({ LoadBalancerArn: lb.LoadBalancerArn, Protocol: 'TCP', Port: 18090, DefaultActions: [{ Type: 'forward', TargetGroupArn: spare.TargetGroupArn }] }))), 'DuplicateListener'],
      [await awsError(elb.send(new RegisterTargetsCommand({ TargetGroupArn: tg.TargetGroupArn, Targets: [{ Id: 'i-notanip' }] }))), 'InvalidTarget'],
      [await awsError(elb.send(new RegisterTargetsCommand({ TargetGroupArn: tg.TargetGroupArn, Targets: [{ Id: '0.0.0.0' }] }))), 'InvalidTarget'],
      [await awsError(elb.send(new RegisterTargetsCommand({ TargetGroupArn: tg.TargetGroupArn, Targets: [{ Id: '255.255.255.255' }] }))), 'InvalidTarget'],
      [await awsError(elb.send(new RegisterTargetsCommand({ TargetGroupArn: tg.TargetGroupArn, Targets: [{ Id: '127.0.0.1', AvailabilityZone: 'mars' }] }))), 'ValidationError'],
      [await awsError(elb.send(new DescribeTargetGroupsCommand({ TargetGroupArns: ['arn:aws:elasticloadbalancing:us-east-1:111111111111:targetgroup/none/0123456789abcdef'] }))), 'TargetGroupNotFound'],
      [await awsError(elb.send(new DescribeListenersCommand({ ListenerArns: ['not-an-arn'] }))), 'ValidationError'],
      [await awsError(elb.send(new ModifyTargetGroupAttributesCommand({ TargetGroupArn: tg.TargetGroupArn, Attributes: [{ Key: 'no.such.key', Value: 'x' }] }))), 'ValidationError'],
      [await awsError(elb.send(new AddTagsCommand({ ResourceArns: [lb.LoadBalancerArn!], Tags: [{ Key: 'k'.repeat(129), Value: 'v' }] }))), 'ValidationError'],
      [await awsError(elb.send(new AddTagsCommand({ ResourceArns: [lb.LoadBalancerArn!], Tags: [{ Key: 'aws:x', Value: 'v' }] }))), 'ValidationError'],
      [await awsError(elb.send(new CreateLoadBalancerCommand({ Name: 'tagged', Type: 'network', Subnets: ['subnet-app'], Tags: [{ Key: 'big', Value: 'v'.repeat(257) }] }))), 'ValidationError'],
    ] as const;
    for (const [e, code] of refusals) {
      expect(e.status, `${e.name}: ${e.message}`).toBeGreaterThanOrEqual(400);
      expect(e.status, `${e.name}: ${e.message}`).toBeLessThan(500);
      if (code) expect(e.name, e.message).toBe(code);
    }
    await elb.send(new DeleteTargetGroupCommand({ TargetGroupArn: spare.TargetGroupArn }));
    expect((await elb.send(new DescribeLoadBalancersCommand({}))).LoadBalancers?.map((x) => x.LoadBalancerName)).toEqual(['nlb-a', 'nlb-b']);
    // one subnet per zone: the consumer's subnet-a and subnet-b are both in sim-1a (AWS's InvalidConfigurationRequest), nothing made
    const consumer = clients(d, CONSUMER_KEY);
    const twoInOne = await awsError(consumer.elb.send(new CreateLoadBalancerCommand({ Name: 'two-in-one', Type: 'network', Subnets: ['subnet-a', 'subnet-b'] })));
    expect([twoInOne.name, twoInOne.status]).toEqual(['InvalidConfigurationRequest', 400]);
    expect(twoInOne.message).toMatch(/cannot be attached to multiple subnets in the same Availability Zone: subnets subnet-a and subnet-b are both in zone/);
    expect((await consumer.elb.send(new DescribeLoadBalancersCommand({}))).LoadBalancers).toEqual([]);

    // an NLB that backs an endpoint service cannot go; the service can, then the NLB
    const svc = (await ec2.send(new CreateVpcEndpointServiceConfigurationCommand({ NetworkLoadBalancerArns: [lb.LoadBalancerArn!], AcceptanceRequired: false }))).ServiceConfiguration!;
    expect(svc.NetworkLoadBalancerArns).toEqual([lb.LoadBalancerArn]);
    expect(svc.AcceptanceRequired).toBe(false);
    // a second NLB of the service may not listen on a port the first listens on: the endpoints' port
    // would have two listeners (it was taken, and one silently took the other's connections)
    const third = (await elb.send(new CreateLoadBalancerCommand({ Name: 'nlb-c', Type: 'network', Subnets: ['subnet-app'] }))).LoadBalancers![0]!;
    // its own target group: one serves the listeners of one load balancer
    const thirdTg = (await elb.send(new CreateTargetGroupCommand({ Name: 'nlb-c-tg', Protocol: 'TCP', Port: 9, VpcId: 'vpc-app', TargetType: 'ip' }))).TargetGroups![0]!;
    await ec2.send(new ModifyVpcEndpointServiceConfigurationCommand({ ServiceId: svc.ServiceId, AddNetworkLoadBalancerArns: [third.LoadBalancerArn!] }));
    const clash = await awsError(elb.send(new CreateListenerCommand({ LoadBalancerArn: third.LoadBalancerArn, Protocol: 'TCP', Port: 18090, DefaultActions: [{ Type: 'forward', TargetGroupArn: thirdTg.TargetGroupArn }] })));
    expect([clash.name, clash.status]).toEqual(['DuplicateListener', 400]);
    expect(clash.message).toMatch(/load balancer nlb-a has a listener on port 18090, and both back endpoint service/);
    expect((await elb.send(new DescribeListenersCommand({ LoadBalancerArn: third.LoadBalancerArn }))).Listeners).toEqual([]);
    const elsewhere = (await elb.send(new CreateListenerCommand({ LoadBalancerArn: third.LoadBalancerArn, Protocol: 'TCP', Port: 18091, DefaultActions: [{ Type: 'forward', TargetGroupArn: thirdTg.TargetGroupArn }] }))).Listeners![0]!;
    const moved = await awsError(elb.send(new ModifyListenerCommand({ ListenerArn: elsewhere.ListenerArn, Port: 18090 })));
    expect([moved.name, moved.status]).toEqual(['DuplicateListener', 400]);
    expect((await d.provider.get(`/vpc-endpoint-services/${svc.ServiceId}`)).body.ports.map((p: any) => p.client_port).sort()).toEqual([18090, 18091]);
    await elb.send(new DeleteListenerCommand({ ListenerArn: elsewhere.ListenerArn }));
    await ec2.send(new ModifyVpcEndpointServiceConfigurationCommand({ ServiceId: svc.ServiceId, RemoveNetworkLoadBalancerArns: [third.LoadBalancerArn!] }));
    await elb.send(new DeleteLoadBalancerCommand({ LoadBalancerArn: third.LoadBalancerArn }));
    expect((await awsError(elb.send(new DeleteLoadBalancerCommand({ LoadBalancerArn: lb.LoadBalancerArn })))).name).toBe('ResourceInUse');
    // through the Huawei API its ports are the listeners': a port list is refused, nothing changes
    const put = await d.provider.put(`/vpc-endpoint-services/${svc.ServiceId}`, { ports: [{ client_port: 1234, server_port: 9, protocol: 'TCP' }] });
    expect([put.status, put.body.error_code]).toEqual([400, 'EndPoint.0002']);
    expect((await d.provider.get(`/vpc-endpoint-services/${svc.ServiceId}`)).body.ports.map((p: any) => p.client_port)).toEqual([18090]);
    const other = (await elb.send(new DescribeLoadBalancersCommand({ Names: ['nlb-b'] }))).LoadBalancers![0]!;
    await ec2.send(new ModifyVpcEndpointServiceConfigurationCommand({ ServiceId: svc.ServiceId, AcceptanceRequired: true, AddNetworkLoadBalancerArns: [other.LoadBalancerArn!], RemoveNetworkLoadBalancerArns: [lb.LoadBalancerArn!] }));
    const shown = (await d.provider.get(`/vpc-endpoint-services/${svc.ServiceId}`)).body;
    expect([shown.approval_enabled, shown.ports.map((p: any) => p.client_port)]).toEqual([true, [18090]]);
    await elb.send(new DeleteListenerCommand({ ListenerArn: listener.ListenerArn }));
    await elb.send(new DeleteTargetGroupCommand({ TargetGroupArn: tg.TargetGroupArn }));
    await elb.send(new DeleteLoadBalancerCommand({ LoadBalancerArn: lb.LoadBalancerArn }));
    const del = await ec2.send(new DeleteVpcEndpointServiceConfigurationsCommand({ ServiceIds: [svc.ServiceId!, 'vpce-svc-0123456789abcdef0'] }));
    expect(del.Unsuccessful?.map((u) => [u.ResourceId, u.Error?.Code])).toEqual([['vpce-svc-0123456789abcdef0', 'InvalidVpcEndpointService.NotFound']]);
    expect((await elb.send(new DescribeLoadBalancersCommand({}))).LoadBalancers?.map((x) => x.LoadBalancerName)).toEqual(['nlb-b']);
  });

  // tcp.idle_timeout.seconds is 60 s at least (AWS's range, the control plane's rule): the data
  // plane's injected clock (FakeClock, its sweep driven here) moves past it instead of a minute's
  // wait. The relay threads' own check on the real clock is fast-accept.test.ts's (any ms there).
  it('a create repeated with the same settings answers what the first made, unchanged, nothing more made (AWS: "each call succeeds"); other settings are DuplicateLoadBalancerName, DuplicateTargetGroupName, DuplicateListener (before: every repeat was refused)', async () => {
    const { provider: { elb } } = await twoAccounts();
    const lbInput = { Name: 'again', Type: 'network' as const, Scheme: 'internal' as const, Subnets: ['subnet-app'], Tags: [{ Key: 'first', Value: '1' }] };
    const lb = (await elb.send(new CreateLoadBalancerCommand(lbInput))).LoadBalancers![0]!;
    const tgInput = { Name: 'again-tg', Protocol: 'TCP' as const, Port: 8080, VpcId: 'vpc-app', TargetType: 'ip' as const, HealthCheckIntervalSeconds: 10 };
    const tg = (await elb.send(new CreateTargetGroupCommand(tgInput))).TargetGroups![0]!;
    const lsInput = { LoadBalancerArn: lb.LoadBalancerArn, Protocol: 'TCP' as const, Port: 18095, DefaultActions: [{ Type: 'forward' as const, TargetGroupArn: tg.TargetGroupArn }] };
    const listener = (await elb.send(new CreateListenerCommand(lsInput))).Listeners![0]!;

    // the same settings, the subnet as a mapping, the health check's defaults spelt out, other tags (not compared, not applied)
    const again = await elb.send(new CreateLoadBalancerCommand({ ...lbInput, Subnets: undefined, SubnetMappings: [{ SubnetId: 'subnet-app' }], IpAddressType: 'ipv4', Tags: [{ Key: 'second', Value: '2' }] }));
    expect(again.LoadBalancers).toEqual([lb]);
    expect((await elb.send(new CreateTargetGroupCommand({ ...tgInput, HealthCheckTimeoutSeconds: 9, HealthCheckPort: 'traffic-port' }))).TargetGroups).toEqual([{ ...tg, LoadBalancerArns: [lb.LoadBalancerArn] }]);
    expect((await elb.send(new CreateListenerCommand(lsInput))).Listeners).toEqual([listener]);
    expect((await elb.send(new DescribeLoadBalancersCommand({}))).LoadBalancers?.map((x) => x.LoadBalancerArn)).toEqual([lb.LoadBalancerArn]);
    expect((await elb.send(new DescribeTargetGroupsCommand({}))).TargetGroups?.map((x) => x.TargetGroupArn)).toEqual([tg.TargetGroupArn]);
    expect((await elb.send(new DescribeListenersCommand({ LoadBalancerArn: lb.LoadBalancerArn }))).Listeners?.map((x) => x.ListenerArn)).toEqual([listener.ListenerArn]);
    expect((await elb.send(new DescribeTagsCommand({ ResourceArns: [lb.LoadBalancerArn!] }))).TagDescriptions?.[0]?.Tags).toEqual([{ Key: 'first', Value: '1' }]);

    // other settings: the Duplicate* codes, HTTP 400, nothing made
    const tg2 = (await elb.send(new CreateTargetGroupCommand({ ...tgInput, Name: 'other-tg' }))).TargetGroups![0]!;
    const refusals = [
      [await awsError(elb.send(new CreateLoadBalancerCommand({ ...lbInput, Scheme: 'internet-facing' }))), 'DuplicateLoadBalancerName'],
      [await awsError(elb.send(new CreateLoadBalancerCommand({ ...lbInput, IpAddressType: 'dualstack' }))), 'DuplicateLoadBalancerName'],
      [await awsError(elb.send(new CreateTargetGroupCommand({ ...tgInput, Port: 8081 }))), 'DuplicateTargetGroupName'],
      [await awsError(elb.send(new CreateTargetGroupCommand({ ...tgInput, HealthCheckIntervalSeconds: 30 }))), 'DuplicateTargetGroupName'],
      [await awsError(elb.send(new CreateListenerCommand({ ...lsInput, DefaultActions: [{ Type: 'forward', TargetGroupArn: tg2.TargetGroupArn }] }))), 'DuplicateListener'],
    ] as const;
    for (const [e, code] of refusals) expect([e.name, e.status], e.message).toEqual([code, 400]);
    expect((await elb.send(new DescribeLoadBalancersCommand({}))).LoadBalancers?.map((x) => x.LoadBalancerArn)).toEqual([lb.LoadBalancerArn]);
    expect((await elb.send(new DescribeTargetGroupsCommand({}))).TargetGroups?.map((x) => x.TargetGroupName)).toEqual(['again-tg', 'other-tg']);
    expect((await elb.send(new DescribeListenersCommand({ LoadBalancerArn: lb.LoadBalancerArn }))).Listeners?.map((x) => x.DefaultActions?.[0]?.TargetGroupArn)).toEqual([tg.TargetGroupArn]);
  });

  it('an NLB listener\'s tcp.idle_timeout.seconds closes idle connections of its endpoints (counted idle), open and new, while one with traffic stays; a listener without it keeps the daemon\'s idle_timeout_ms', async () => {
    const clock = new FakeClock();
    const d = await daemon(tempDir(), { idle_timeout_ms: 300_000 }, clock);
    const { elb, ec2 } = clients(d, PROVIDER_KEY);
    cleanup.push(async () => { elb.destroy(); ec2.destroy(); });
    const backend = await recorder('127.0.0.1');
    cleanup.push(() => backend.close());
    const timed = await stack(elb, 'timed-nlb', { id: '127.0.0.1', port: backend.port }, 18110);
    const plain = await stack(elb, 'plain-nlb', { id: '127.0.0.1', port: backend.port }, 18111);
    const a = (await publishAndConnect(d, ec2, timed.lb.LoadBalancerArn!)).endpoint;
    const b = (await publishAndConnect(d, ec2, plain.lb.LoadBalancerArn!)).endpoint;
    const idleClosed = (id: string) => metricValue(d.url, 'vpcep_endpoint_closed_connections_total', { endpoint_id: id, reason: 'idle' });

    const open = await held(a.host_ip, 18110); // open before the change: it follows the change
    const idle60 = [{ Key: 'tcp.idle_timeout.seconds', Value: '60' }];
    expect((await elb.send(new ModifyListenerAttributesCommand({ ListenerArn: timed.listener.ListenerArn, Attributes: idle60 }))).Attributes).toEqual(idle60);
    const fresh = await held(a.host_ip, 18110);
    const busy = await held(a.host_ip, 18110);
    const other = await held(b.host_ip, 18111);
    d.daemon.dataPlane.sweep(); // all were active: their idle time starts now
    clock.advance(45_000);
    await busy.roundTrip();
    d.daemon.dataPlane.sweep(); // 45 s: under the listener's 60 s
    clock.advance(20_000);
    d.daemon.dataPlane.sweep(); // 65 s idle (busy: 20 s)
    await Promise.all([open.closed(), fresh.closed()]);
    expect([open.error(), fresh.error()]).toEqual([null, null]);
    await waitFor(async () => (await idleClosed(a.id)) === 2 || null, 3_000, 'both idle closes counted');
    await busy.roundTrip();
    expect({ busy: busy.isClosed(), other: other.isClosed() }).toEqual({ busy: false, other: false });
    await other.roundTrip();
    d.daemon.dataPlane.sweep(); // the sweep sees its traffic: its idle time starts now

    // the endpoint of the listener without the attribute: the daemon's 300 s
    busy.sock.end();
    await busy.closed();
    clock.advance(250_000);
    d.daemon.dataPlane.sweep(); // 250 s since its round trip
    await new Promise((r) => setTimeout(r, 50));
    expect(other.isClosed()).toBe(false);
    clock.advance(60_000);
    d.daemon.dataPlane.sweep(); // 310 s
    await other.closed();
    expect(other.error()).toBeNull();
    await waitFor(async () => (await idleClosed(b.id)) === 1 || null, 3_000, 'its idle close counted');
    expect(await idleClosed(a.id)).toBe(2);
  });

  it('keeps accounts apart and keeps everything across a restart', async () => {
    const dataDir = tempDir();
    let d = await startTestDaemon(config(), dataDir);
    let stopped = false;
    cleanup.push(async () => { if (!stopped) await d.stop(); });
    const provider = clients(d, PROVIDER_KEY);
    const backend = await recorder('127.0.0.1');
    cleanup.push(() => backend.close());
    const { lb, tg } = await stack(provider.elb, 'kept-nlb', { id: '127.0.0.1', port: backend.port }, 18100);
    const { serviceId, endpoint } = await publishAndConnect(d, provider.ec2, lb.LoadBalancerArn!);
    expect(await exchange(endpoint.host_ip, 18100)).toBe('echoed');

    // the consumer sees none of the provider's load-balancer world, and cannot touch its service
    const consumer = clients(d, CONSUMER_KEY);
    expect((await consumer.elb.send(new DescribeLoadBalancersCommand({}))).LoadBalancers).toEqual([]);
    expect((await consumer.elb.send(new DescribeTargetGroupsCommand({}))).TargetGroups).toEqual([]);
    expect((await awsError(consumer.elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: tg.TargetGroupArn })))).name).toBe('TargetGroupNotFound');
    expect((await awsError(consumer.elb.send(new DeregisterTargetsCommand({ TargetGroupArn: tg.TargetGroupArn, Targets: [{ Id: '127.0.0.1' }] })))).name).toBe('TargetGroupNotFound');
    expect((await awsError(consumer.ec2.send(new CreateVpcEndpointServiceConfigurationCommand({ NetworkLoadBalancerArns: [lb.LoadBalancerArn!] })))).name).toBe('InvalidParameterValue');
    const del = await consumer.ec2.send(new DeleteVpcEndpointServiceConfigurationsCommand({ ServiceIds: [serviceId] }));
    expect(del.Unsuccessful?.[0]?.Error?.Code).toBe('InvalidVpcEndpointService.NotFound');
    expect(await exchange(endpoint.host_ip, 18100)).toBe('echoed');

    await d.stop();
    stopped = true;
    d = await startTestDaemon(config(), dataDir);
    stopped = false;
    const again = clients(d, PROVIDER_KEY);
    const lbs = await again.elb.send(new DescribeLoadBalancersCommand({}));
    expect(lbs.LoadBalancers?.map((x) => x.LoadBalancerArn)).toEqual([lb.LoadBalancerArn]);
    expect((await again.elb.send(new DescribeListenersCommand({ LoadBalancerArn: lb.LoadBalancerArn }))).Listeners?.map((l) => l.Port)).toEqual([18100]);
    expect((await again.elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: tg.TargetGroupArn }))).TargetHealthDescriptions?.map((x) => x.Target?.Id)).toEqual(['127.0.0.1']);
    await waitFor(async () => (await d.consumer.get(`/vpc-endpoints/${endpoint.id}`)).body.status === 'accepted', 5_000, 'endpoint accepted after restart');
    expect(await exchange(endpoint.host_ip, 18100)).toBe('echoed');
  });

  it('the Huawei private name of an endpoint to a service made through the EC2 API carries the service id (it carried amazonaws, one zone for every such service), answered by the DNS server, after a restart too', async () => {
    const dataDir = tempDir();
    let d = await startTestDaemon(config(), dataDir);
    let stopped = false;
    cleanup.push(async () => { if (!stopped) await d.stop(); });
    const provider = clients(d, PROVIDER_KEY);
    cleanup.push(async () => { provider.ec2.destroy(); provider.elb.destroy(); });
    const shown: { name: string; host: string }[] = [];
    for (const [name, listen] of [['dns-a', 18130], ['dns-b', 18131]] as const) {
      const { lb } = await stack(provider.elb, name, { id: '127.0.0.1', port: 9 }, listen);
      const { serviceId, endpoint } = await publishAndConnect(d, provider.ec2, lb.LoadBalancerArn!);
      const on = await d.consumer.put(`/vpc-endpoints/${endpoint.id}`, { enable_dns: true });
      expect(on.status, JSON.stringify(on.body)).toBe(200);
      const dnsNames = (await d.consumer.get(`/vpc-endpoints/${endpoint.id}`)).body.dns_names;
      expect(dnsNames).toEqual([`${endpoint.id.slice(0, 8)}.${serviceId}.vpcep.sim-1.internal`]);
      shown.push({ name: dnsNames[0], host: endpoint.host_ip });
    }
    const answers = async () => {
      const k = d.daemon.control.routing().vpcs.get('vpc-client')!.number;
      const r = new Resolver({ timeout: 3_000, tries: 1 });
      r.setLocalAddress(`127.${k}.1.50`);
      r.setServers([`127.0.0.1:${d.daemon.dnsAddress!.port}`]);
      return Promise.all(shown.map((x) => r.resolve4(x.name)));
    };
    expect(await answers()).toEqual(shown.map((x) => [x.host]));

    await d.stop();
    stopped = true;
    d = await startTestDaemon(config(), dataDir);
    stopped = false;
    for (const x of shown) await waitFor(async () => (await d.consumer.get('/vpc-endpoints')).body.endpoints.some((e: any) => e.dns_names?.[0] === x.name && e.status === 'accepted'), 5_000, 'endpoint back');
    expect(await answers()).toEqual(shown.map((x) => [x.host]));
  });

  it('reads as AWS writes them: the ENI\'s groups, the connection\'s NLB, service-region; a service awaiting acceptance is not deleted', async () => {
    const { d, provider, consumer } = await twoAccounts();
    const { lb } = await stack(provider.elb, 'read-nlb', { id: '127.0.0.1', port: randomPort() }, 18120);
    const service = (await provider.ec2.send(new CreateVpcEndpointServiceConfigurationCommand({ NetworkLoadBalancerArns: [lb.LoadBalancerArn!], AcceptanceRequired: true }))).ServiceConfiguration!;
    await waitFor(async () => (await d.provider.get(`/vpc-endpoint-services/${service.ServiceId}`)).body.status === 'available', 5_000, 'service available');
    await provider.ec2.send(new ModifyVpcEndpointServicePermissionsCommand({ ServiceId: service.ServiceId, AddAllowedPrincipals: [`arn:aws:iam::${CONSUMER_ID}:root`] }));
    const sg = await consumer.ec2.send(new CreateSecurityGroupCommand({ VpcId: 'vpc-client', GroupName: 'clients', Description: 'endpoint clients' }));
    const vpce = (await consumer.ec2.send(new CreateVpcEndpointCommand({
      VpcEndpointType: 'Interface', VpcId: 'vpc-client', ServiceName: service.ServiceName, SubnetIds: ['subnet-a'], SecurityGroupIds: [sg.GroupId!],
    }))).VpcEndpoint!;
    expect(vpce.State).toBe('pendingAcceptance');

    // the endpoint's ENI carries the endpoint's security groups, and the group filters find it by them
    const enis = (await consumer.ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: vpce.NetworkInterfaceIds }))).NetworkInterfaces!;
    expect(enis.map((n) => n.Groups)).toEqual([[{ GroupId: sg.GroupId, GroupName: 'clients' }]]);
    const byGroup = (name: string, value: string) => consumer.ec2.send(new DescribeNetworkInterfacesCommand({ Filters: [{ Name: name, Values: [value] }] }));
    expect((await byGroup('group-id', sg.GroupId!)).NetworkInterfaces?.map((n) => n.NetworkInterfaceId)).toEqual(vpce.NetworkInterfaceIds);
    expect((await byGroup('group-name', 'clients')).NetworkInterfaces?.map((n) => n.NetworkInterfaceId)).toEqual(vpce.NetworkInterfaceIds);
    expect((await byGroup('group-name', 'default')).NetworkInterfaces).toEqual([]);

    // DescribeVpcEndpoints takes the service-region filter of aws-ec2-api.md 2.2
    const inRegion = async (region: string) => (await consumer.ec2.send(new DescribeVpcEndpointsCommand({ Filters: [{ Name: 'service-region', Values: [region] }] }))).VpcEndpoints?.map((e) => e.VpcEndpointId);
    expect(await inRegion('us-east-1')).toEqual([vpce.VpcEndpointId]);
    expect(await inRegion('us-west-2')).toEqual([]);

    // the provider's connection names the service's load balancer
    const connections = (await provider.ec2.send(new DescribeVpcEndpointConnectionsCommand({}))).VpcEndpointConnections!;
    expect(connections.map((c) => [c.VpcEndpointId, c.VpcEndpointState, c.NetworkLoadBalancerArns])).toEqual([[vpce.VpcEndpointId, 'pendingAcceptance', [lb.LoadBalancerArn]]]);

    // an endpoint awaiting acceptance keeps the service (aws-ec2-api.md 2.2): an unsuccessful item, nothing changed
    const refused = await provider.ec2.send(new DeleteVpcEndpointServiceConfigurationsCommand({ ServiceIds: [service.ServiceId!] }));
    expect(refused.Unsuccessful?.map((u) => [u.ResourceId, u.Error?.Code])).toEqual([[service.ServiceId, 'ExistingVpcEndpointConnections']]);
    expect((await d.provider.get(`/vpc-endpoint-services/${service.ServiceId}`)).body.status).toBe('available');
    const before = (await consumer.ec2.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [vpce.VpcEndpointId!] }))).VpcEndpoints![0]!;
    expect([before.State, before.ServiceName]).toEqual(['pendingAcceptance', service.ServiceName]);
    // rejected, it no longer does; the endpoint keeps the service's name once the service is gone
    await provider.ec2.send(new RejectVpcEndpointConnectionsCommand({ ServiceId: service.ServiceId, VpcEndpointIds: [vpce.VpcEndpointId!] }));
    expect((await provider.ec2.send(new DeleteVpcEndpointServiceConfigurationsCommand({ ServiceIds: [service.ServiceId!] }))).Unsuccessful).toEqual([]);
    await waitFor(async () => (await d.provider.get(`/vpc-endpoint-services/${service.ServiceId}`)).status === 404, 5_000, 'service gone');
    const after = (await consumer.ec2.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [vpce.VpcEndpointId!] }))).VpcEndpoints![0]!;
    expect(after.ServiceName).toBe(service.ServiceName);
  });

  it('IPv4 in one region: other address types and regions are refused, never answered and dropped; SubnetConfiguration places an added ENI', async () => {
    const { d, provider, consumer } = await twoAccounts();
    const { lb } = await stack(provider.elb, 'v4-nlb', { id: '127.0.0.1', port: randomPort() }, 18130);
    const arns = [lb.LoadBalancerArn!];
    const create = (more: Record<string, unknown>) => provider.ec2.send(new CreateVpcEndpointServiceConfigurationCommand({ NetworkLoadBalancerArns: arns, AcceptanceRequired: false, ...more }));
    for (const more of [{ SupportedIpAddressTypes: ['ipv4', 'ipv6'] }, { SupportedRegions: ['us-west-2'] }]) {
      const e = await awsError(create(more));
      expect([e.name, e.status], JSON.stringify(more)).toEqual(['InvalidParameterValue', 400]);
    }
    expect((await provider.ec2.send(new DescribeVpcEndpointServiceConfigurationsCommand({}))).ServiceConfigurations).toEqual([]);
    // what vpcep-sim has anyway: taken
    const service = (await create({ SupportedIpAddressTypes: ['ipv4'], SupportedRegions: ['us-east-1'] })).ServiceConfiguration!;
    expect(service.SupportedIpAddressTypes).toEqual(['ipv4']);
    // the region it has, which Terraform reads supported_regions from (it was never answered)
    expect((await provider.ec2.send(new DescribeVpcEndpointServiceConfigurationsCommand({ ServiceIds: [service.ServiceId!] }))).ServiceConfigurations?.[0])
      .toMatchObject({ SupportedRegions: [{ Region: 'us-east-1', ServiceState: 'Available' }], RemoteAccessEnabled: false });
    for (const more of [{ AddSupportedIpAddressTypes: ['ipv6'] }, { RemoveSupportedIpAddressTypes: ['ipv4'] }, { AddSupportedRegions: ['eu-west-1'] }, { RemoveSupportedRegions: ['us-east-1'] }]) {
      const e = await awsError(provider.ec2.send(new ModifyVpcEndpointServiceConfigurationCommand({ ServiceId: service.ServiceId, AcceptanceRequired: true, ...more })));
      expect([e.name, e.status], JSON.stringify(more)).toEqual(['InvalidParameterValue', 400]);
    }
    // nothing changed by the refused calls
    expect((await provider.ec2.send(new DescribeVpcEndpointServiceConfigurationsCommand({ ServiceIds: [service.ServiceId!] }))).ServiceConfigurations?.[0]?.AcceptanceRequired).toBe(false);
    await waitFor(async () => (await d.provider.get(`/vpc-endpoint-services/${service.ServiceId}`)).body.status === 'available', 5_000, 'service available');
    await provider.ec2.send(new ModifyVpcEndpointServicePermissionsCommand({ ServiceId: service.ServiceId, AddAllowedPrincipals: [`arn:aws:iam::${CONSUMER_ID}:root`] }));
    const endpoint = { VpcEndpointType: 'Interface' as const, VpcId: 'vpc-client', ServiceName: service.ServiceName, SubnetIds: ['subnet-a'] };
    expect((await awsError(consumer.ec2.send(new CreateVpcEndpointCommand({ ...endpoint, ServiceRegion: 'us-west-2' })))).name).toBe('InvalidParameterValue');
    const vpce = (await consumer.ec2.send(new CreateVpcEndpointCommand({ ...endpoint, ServiceRegion: 'us-east-1', SubnetConfigurations: [{ SubnetId: 'subnet-a', Ipv4: '10.0.1.77' }] }))).VpcEndpoint!;
    expect((await consumer.ec2.send(new DescribeVpcEndpointsCommand({}))).VpcEndpoints?.map((e) => e.VpcEndpointId)).toEqual([vpce.VpcEndpointId]);
    const addresses = async () => (await consumer.ec2.send(new DescribeNetworkInterfacesCommand({ Filters: [{ Name: 'vpc-id', Values: ['vpc-client'] }] })))
      .NetworkInterfaces!.map((n) => [n.SubnetId, n.PrivateIpAddress]).sort();
    expect(await addresses()).toEqual([['subnet-a', '10.0.1.77']]);
    // an ENI's address is not changed, a subnet neither there nor added is named: refused, nothing changed
    for (const configs of [[{ SubnetId: 'subnet-a', Ipv4: '10.0.1.78' }], [{ SubnetId: 'subnet-b', Ipv4: '10.0.2.5' }]]) {
      const e = await awsError(consumer.ec2.send(new ModifyVpcEndpointCommand({ VpcEndpointId: vpce.VpcEndpointId, SubnetConfigurations: configs })));
      expect([e.name, e.status], JSON.stringify(configs)).toEqual(['InvalidParameterValue', 400]);
    }
    expect(await addresses()).toEqual([['subnet-a', '10.0.1.77']]);
    // a subnet added with its address (in place of subnet-a: one subnet per zone, both are in sim-1a)
    await consumer.ec2.send(new ModifyVpcEndpointCommand({
      VpcEndpointId: vpce.VpcEndpointId, RemoveSubnetIds: ['subnet-a'], AddSubnetIds: ['subnet-b'], SubnetConfigurations: [{ SubnetId: 'subnet-b', Ipv4: '10.0.2.5' }],
    }));
    expect(await addresses()).toEqual([['subnet-b', '10.0.2.5']]);
  });
});

// What one node of a fleet changes reaches the node that serves an endpoint (README "Fleet"): two
// vpcepd as child processes on one real etcd (test/integration/etcd.ts). The endpoint's owner is
// found by the path tracer, and every change is made through the other node: a zone taken down
// and up, the activation delay, a service's ports, a security group's rule, a network ACL. Before, each was the
// answering node's own (zones, delay) or reached the owner only when the endpoint's own document
// was written again (ports, rules). A backend's health, probed only by the owner, reads the same
// through the other node (before, it showed the backend unused there), and the other node's DNS
// server answers following it. The tests share two nodes (a service of their own each, every
// endpoint and service deleted after each test); the DNS test starts two of its own.
import {
  AttachInternetGatewayCommand, AuthorizeSecurityGroupIngressCommand, CreateInternetGatewayCommand, CreateSecurityGroupCommand, CreateVpcCommand, DescribeInternetGatewaysCommand, DescribeVpcsCommand, CreateVpcEndpointCommand, CreateVpcEndpointServiceConfigurationCommand, DescribeVpcEndpointsCommand,
  RevokeSecurityGroupIngressCommand, CreateSubnetCommand, CreateNetworkAclCommand, CreateNetworkAclEntryCommand, DescribeNetworkAclsCommand,
  ReplaceNetworkAclAssociationCommand, ReplaceNetworkAclEntryCommand, CreateRouteTableCommand, DeleteRouteTableCommand, DeleteNetworkAclCommand, DeleteVpcCommand,
  DeleteSubnetCommand, DescribeSubnetsCommand, DeleteSecurityGroupCommand, DescribeSecurityGroupsCommand, DeleteVpcEndpointsCommand, DetachInternetGatewayCommand,
  DeleteInternetGatewayCommand, type EC2Client,
} from '@aws-sdk/client-ec2';
import {
  CreateListenerCommand, CreateLoadBalancerCommand, CreateTargetGroupCommand, DeleteListenerCommand, DeleteLoadBalancerCommand, DeleteTargetGroupCommand, DeregisterTargetsCommand, DescribeLoadBalancersCommand,
  DescribeTargetGroupsCommand, DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client, ModifyListenerCommand,
  ModifyTargetGroupAttributesCommand, RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { Resolver } from 'node:dns/promises';
import { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { CONSUMER, metricValue, PROVIDER, tempDir, twoAccountConfig, twoZoneVpcs, waitFor, writeConfig } from '../helpers.js';
import { attempt, AWS_KEYS, ec2Clients, refused } from './aws-sdk.js';
import { echo, heldConnection, randomPort, startBackend, type TestBackend } from './backends.js';
import { describeWithEtcd, type TestEtcd } from './etcd.js';
import { openService, spawnNode, withLogs, type FleetNode } from './fleet-nodes.js';

type Node = FleetNode;

interface Fleet {
  readonly a: Node;
  readonly b: Node;
  readonly service: string;
  /** the store's key prefix of this fleet */
  readonly prefix: string;
}

let etcd: TestEtcd;
let backend: TestBackend;
/** nodes a test started for itself: stopped after it */
const started: Node[] = [];
/** the two nodes most tests share (their services and endpoints deleted after each test): a fleet is two daemons' starts */
let shared: { a: Node; b: Node; prefix: string } | undefined;
let prefixes = 0;
let services = 0;
/** the consumer's client address (vpc-client, 10.0.1.50) */
const CLIENT = '127.2.1.50';

async function startNode(configFile: string, name: string, args: readonly string[] = []): Promise<Node> {
  const node = await spawnNode(configFile, name, args);
  started.push(node);
  return node;
}

/**
 * the shared two nodes on a prefix of their own (AWS keys too), both seeing each other, and a new
 * service (with SERVICE's fields) open to the consumer
 */
async function fleetOfTwo(service: Record<string, unknown> = {}): Promise<Fleet> {
  if (!shared) {
    const prefix = `f${++prefixes}`;
    const base = twoAccountConfig({
      store: `${etcd.url}/${prefix}`, fleet: { lease_ttl_seconds: 2 }, dns: { enabled: false },
      accounts: [{ ...PROVIDER, aws: AWS_KEYS.provider }, { ...CONSUMER, aws: AWS_KEYS.consumer }],
    }) as { vpcs: Array<{ id: string; ports: unknown[] }> };
    // a second port of the provider's, in port-web's zone: the target of a backend's migration
    const vpcs = base.vpcs.map((v) => (v.id !== 'vpc-app' ? v : { ...v, ports: [...v.ports, { id: 'port-web2', subnet: 'subnet-app', ip: '192.168.24.247', type: 'VM', target: '127.0.0.2' }] }));
    const configFile = writeConfig(tempDir(), { ...base, vpcs });
    const a = await spawnNode(configFile, `${prefix}-a`);
    shared = { a, b: await spawnNode(configFile, `${prefix}-b`), prefix };
    for (const n of [shared.a, shared.b]) await waitFor(async () => (await n.consumer.get('/sim/nodes')).body.nodes?.length === 2, 15_000, `${n.name} to see both nodes`);
  }
  const { a, b, prefix } = shared;
  const svc = await a.provider.post('/vpc-endpoint-services', {
    port_id: 'port-web', vpc_id: 'vpc-app', server_type: 'VM', service_name: `s${++services}`, approval_enabled: false,
    ports: [{ client_port: 80, server_port: backend.port, protocol: 'TCP' }], ...service,
  });
  expect(svc.status, JSON.stringify(svc.body)).toBe(200);
  for (const n of [a, b]) await waitFor(async () => (await n.provider.get(`/vpc-endpoint-services/${svc.body.id}`)).body.status === 'available', 10_000, `${n.name} to see the service`);
  expect((await a.provider.post(`/vpc-endpoint-services/${svc.body.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] })).status).toBe(200);
  return { a, b, service: svc.body.id, prefix };
}

/**
 * after a test on the shared nodes: no activation delay, every endpoint and service deleted and
 * gone from both nodes (so the next test's endpoints are placed on two empty nodes, least loaded first)
 */
async function emptyShared(): Promise<void> {
  if (!shared) return;
  const { a, b } = shared;
  expect((await a.provider.put('/sim/faults', { provisioning_delay_ms: 0 })).status).toBe(200);
  const ids = async (n: Node, path: string, key: string) => {
    const lists = await Promise.all([n.provider, n.consumer].map((c) => c.get(`${path}?limit=1000`)));
    return lists.flatMap((l) => (l.body[key] as Array<{ id: string }>).map((x) => x.id));
  };
  for (const id of await ids(a, '/vpc-endpoints', 'endpoints')) {
    for (const c of [a.consumer, a.provider]) if ((await c.delete(`/vpc-endpoints/${id}`)).status === 204) break;
  }
  for (const n of [a, b]) await withLogs([a, b], waitFor(async () => (await ids(n, '/vpc-endpoints', 'endpoints')).length === 0, 20_000, `${n.name} to show no endpoint left`));
  for (const id of await ids(a, '/vpc-endpoint-services', 'endpoint_services')) {
    const r = await a.provider.delete(`/vpc-endpoint-services/${id}`);
    expect(r.status, JSON.stringify(r.body)).toBe(204);
  }
  for (const n of [a, b]) await withLogs([a, b], waitFor(async () => (await ids(n, '/vpc-endpoint-services', 'endpoint_services')).length === 0, 20_000, `${n.name} to show no service left`));
}

/** the node that serves the endpoint's address (the path tracer's node), and the other */
async function ownerOf(f: Fleet, ip: string): Promise<{ owner: Node; other: Node }> {
  const t = await f.a.consumer.post('/trace', { vpc_id: 'vpc-client', source_ip: '10.0.1.50', destination_ip: ip, destination_port: 80 });
  expect(t.status, JSON.stringify(t.body)).toBe(200);
  const name = t.body.trace.node.name as string;
  return name === f.a.name ? { owner: f.a, other: f.b } : { owner: f.b, other: f.a };
}

/** an endpoint of the service made through N, relaying: its body */
async function liveEndpoint(f: Fleet, n: Node): Promise<{ id: string; ip: string; host_ip: string; enis: Array<{ zone: string }> }> {
  const r = await n.consumer.post('/vpc-endpoints', { endpoint_service_id: f.service, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  await waitFor(async () => (await attempt(r.body.host_ip, 80, CLIENT)) === 'relay', 15_000, `endpoint ${r.body.id} to relay`);
  return r.body;
}

/** a connection from the consumer's client address through HOST:80 to the echoing backend */
const heldFrom = (host: string) => heldConnection(host, 80, { localAddress: CLIENT });

/** a service on port-web and port-web2, probed every 5 s (two in a row change a state) */
const TWO_BACKENDS = {
  backends: [{ port_id: 'port-web' }, { port_id: 'port-web2' }],
  health_check: { interval: 5, timeout: 2, healthy_threshold: 2, unhealthy_threshold: 2 },
};

/** a service on port-web (zone sim-1a) and port-web-b (sim-1b), probed as TWO_BACKENDS is */
const TWO_ZONES = { ...TWO_BACKENDS, backends: [{ port_id: 'port-web' }, { port_id: 'port-web-b' }] };

/** the service's backend_health through N: port id -> state */
async function healthOn(f: Fleet, n: Node): Promise<Record<string, string>> {
  const r = await n.provider.get(`/vpc-endpoint-services/${f.service}`);
  return Object.fromEntries((r.body.backend_health as Array<{ port_id: string; state: string }>).map((h) => [h.port_id, h.state]));
}

/** the provider's ELBv2 client against NODE, without retries */
function elbClient(n: Node): ElasticLoadBalancingV2Client {
  const k = AWS_KEYS.provider;
  return new ElasticLoadBalancingV2Client({ region: 'us-east-1', endpoint: n.child.url, maxAttempts: 1, credentials: { accessKeyId: k.access_key_id, secretAccessKey: k.secret_access_key } });
}

/**
 * MAKE and REMOVE sent at once (through two nodes): exactly one answers OK, the other is refused as
 * if it had come after it (MADELOST: what the make answers once the thing it names is gone;
 * REMOVELOST: what the removal answers once the make is in). The make's answer, or undefined.
 */
async function oneWins<T>(what: string, make: Promise<T>, remove: Promise<unknown>, madeLost: string, removeLost: string): Promise<T | undefined> {
  const [made, removed] = await Promise.allSettled([make, remove]);
  const lost = [made, removed].filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  expect(lost.map((r) => (r.reason as { name?: string }).name), what).toEqual([made.status === 'rejected' ? madeLost : removeLost]);
  return made.status === 'fulfilled' ? made.value : undefined;
}

/** until CHECK holds through both nodes' clients, within 10 s */
async function onBoth(nodes: readonly Node[], what: string, check: () => Promise<boolean>): Promise<void> {
  await withLogs(nodes, waitFor(async () => check().catch(() => false), 10_000, what));
}

describeWithEtcd('a fleet follows what another node changes', (e) => {
  etcd = e;
  beforeAll(async () => { backend = await startBackend(echo); }, 30_000);
  afterEach(async () => {
    for (const n of started.splice(0)) n.child.proc.kill('SIGKILL');
    await emptyShared();
  }, 60_000);
  afterAll(async () => {
    for (const n of shared ? [shared.a, shared.b] : []) n.child.proc.kill('SIGKILL');
    await backend?.close();
  });

  it('a zone taken down through one node is down on the node serving the endpoint (its ENI refuses, GET /sim/zones says so); up again, it relays', async () => {
    const f = await fleetOfTwo();
    const ep = await liveEndpoint(f, f.a);
    const { owner, other } = await ownerOf(f, ep.ip);
    const zone = ep.enis[0]!.zone;
    const stateOn = async (n: Node) => ((await n.consumer.get('/sim/zones')).body.zones as Array<{ zone: string; state: string }>).find((z) => z.zone === zone)!.state;
    expect((await other.consumer.post(`/sim/zones/${zone}/down`)).status).toBe(200);
    try {
      await withLogs([f.a, f.b], waitFor(async () => (await stateOn(owner)) === 'down', 10_000, `${owner.name} to show zone ${zone} down`));
      await withLogs([f.a, f.b], waitFor(async () => (await attempt(ep.host_ip, 80, CLIENT)) === 'ECONNRESET', 10_000, `the ENI on ${owner.name} to refuse`));
    } finally {
      expect((await other.consumer.post(`/sim/zones/${zone}/up`)).status).toBe(200);
    }
    await withLogs([f.a, f.b], waitFor(async () => (await stateOn(owner)) === 'up', 10_000, `${owner.name} to show zone ${zone} up`));
    await withLogs([f.a, f.b], waitFor(async () => (await attempt(ep.host_ip, 80, CLIENT)) === 'relay', 10_000, `the ENI on ${owner.name} to relay again`));
  }, 120_000);

  it('the activation delay set through one node delays an activation on the other: the new endpoint placed there stays creating through it', async () => {
    const f = await fleetOfTwo();
    const first = await liveEndpoint(f, f.a);
    // the next endpoint goes to the least loaded node: the one without the first
    const { owner: loaded, other: idle } = await ownerOf(f, first.ip);
    const set = await loaded.provider.put('/sim/faults', { provisioning_delay_ms: 4_000 });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    await withLogs([f.a, f.b], waitFor(async () => (await idle.provider.get('/sim/faults')).body.faults.provisioning_delay_ms === 4_000, 10_000, `${idle.name} to follow the delay`));
    const r = await loaded.consumer.post('/vpc-endpoints', { endpoint_service_id: f.service, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    await new Promise((res) => setTimeout(res, 1_500));
    for (const n of [idle, loaded]) expect((await n.consumer.get(`/vpc-endpoints/${r.body.id}`)).body.status).toBe('creating');
    await withLogs([f.a, f.b], waitFor(async () => (await attempt(r.body.host_ip, 80, CLIENT)) === 'relay', 20_000, 'the endpoint to relay after the delay'));
    expect((await ownerOf(f, r.body.ip)).owner.name).toBe(idle.name);
    // the owner binds, then stores it accepted: the other node sees that once its watch brings it
    await waitFor(async () => (await loaded.consumer.get(`/vpc-endpoints/${r.body.id}`)).body.status === 'accepted', 10_000, `${loaded.name} to see it accepted`);
  }, 120_000);

  it('the failure switches armed through one node fail the activation the other runs, once: fail-next-activation, and fail-activation before an acceptance', async () => {
    const f = await fleetOfTwo();
    const first = await liveEndpoint(f, f.a);
    // the next endpoints go to the least loaded node: the one without the first
    const { owner: loaded, other: idle } = await ownerOf(f, first.ip);
    const failuresOn = async (n: Node) => (await metricValue(n.child.url, 'vpcep_provisioning_faults_total', { fault: 'failure' })) ?? 0;
    const [idleBefore, loadedBefore] = [await failuresOn(idle), await failuresOn(loaded)];
    const armed = await loaded.provider.post(`/sim/endpoint-services/${f.service}/fail-next-activation`, { message: 'the next one fails' });
    expect(armed.status, JSON.stringify(armed.body)).toBe(200);
    const failing = await loaded.consumer.post('/vpc-endpoints', { endpoint_service_id: f.service, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
    expect(failing.status, JSON.stringify(failing.body)).toBe(200);
    await withLogs([f.a, f.b], waitFor(async () => (await loaded.consumer.get(`/vpc-endpoints/${failing.body.id}`)).body.status === 'failed', 15_000, 'the endpoint to fail'));
    expect(JSON.stringify((await idle.consumer.get(`/vpc-endpoints/${failing.body.id}`)).body.error)).toContain('the next one fails');
    // failed by its owner, which took the switch: no node holds it any more
    expect(await failuresOn(idle)).toBe(idleBefore + 1);
    expect(await failuresOn(loaded)).toBe(loadedBefore);
    for (const n of [loaded, idle]) await waitFor(async () => (await n.provider.get('/sim/faults')).body.faults.fail_next_activation.length === 0, 10_000, `${n.name} to see the switch taken`);

    // a service that needs acceptance: its endpoint's activation fails at its acceptance, on its owner
    const approved = await loaded.provider.post('/vpc-endpoint-services', {
      port_id: 'port-web', vpc_id: 'vpc-app', server_type: 'VM', service_name: 'approved', approval_enabled: true,
      ports: [{ client_port: 80, server_port: backend.port, protocol: 'TCP' }],
    });
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    for (const n of [loaded, idle]) await waitFor(async () => (await n.provider.get(`/vpc-endpoint-services/${approved.body.id}`)).body.status === 'available', 10_000, `${n.name} to see the service`);
    expect((await loaded.provider.post(`/vpc-endpoint-services/${approved.body.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] })).status).toBe(200);
    const waiting = await loaded.consumer.post('/vpc-endpoints', { endpoint_service_id: approved.body.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
    expect(waiting.status, JSON.stringify(waiting.body)).toBe(200);
    const { owner, other } = await ownerOf(f, waiting.body.ip);
    await waitFor(async () => (await other.consumer.get(`/vpc-endpoints/${waiting.body.id}`)).body.status === 'pendingAcceptance', 10_000, `${other.name} to see the endpoint`);
    const own = await other.consumer.post(`/sim/endpoints/${waiting.body.id}/fail-activation`, { message: 'its own failure' });
    expect(own.status, JSON.stringify(own.body)).toBe(200);
    const before = await failuresOn(owner);
    const accepted = await other.provider.post(`/vpc-endpoint-services/${approved.body.id}/connections/action`, { action: 'receive', endpoints: [waiting.body.id] });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(200);
    await withLogs([f.a, f.b], waitFor(async () => (await owner.consumer.get(`/vpc-endpoints/${waiting.body.id}`)).body.status === 'failed', 15_000, `the endpoint to fail on ${owner.name}`));
    expect(JSON.stringify((await owner.consumer.get(`/vpc-endpoints/${waiting.body.id}`)).body.error)).toContain('its own failure');
    expect(await failuresOn(owner)).toBe(before + 1);
  }, 120_000);

  it("a service's new port, changed through one node, is served by the node serving its endpoint", async () => {
    const f = await fleetOfTwo();
    const ep = await liveEndpoint(f, f.a);
    const { owner, other } = await ownerOf(f, ep.ip);
    expect(await attempt(ep.host_ip, 81, CLIENT)).not.toBe('relay');
    const r = await other.provider.put(`/vpc-endpoint-services/${f.service}`, { ports: [{ client_port: 81, server_port: backend.port, protocol: 'TCP' }] });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    await withLogs([f.a, f.b], waitFor(async () => (await attempt(ep.host_ip, 81, CLIENT)) === 'relay', 10_000, `${owner.name} to serve port 81`));
    await withLogs([f.a, f.b], waitFor(async () => (await attempt(ep.host_ip, 80, CLIENT)) !== 'relay', 10_000, `${owner.name} to close port 80`));
  }, 120_000);

  it("an NLB's listener moved and its target deregistered through one node (ELBv2) reach the node serving the endpoint of its service; DescribeTargetHealth through the other node shows the owner's probe (before: unused)", async () => {
    const f = await fleetOfTwo();
    const elb = elbClient(f.a);
    const lb = (await elb.send(new CreateLoadBalancerCommand({ Name: 'nlb-moved', Type: 'network', Scheme: 'internal', Subnets: ['subnet-app'] }))).LoadBalancers![0]!;
    const tg = (await elb.send(new CreateTargetGroupCommand({ Name: 'nlb-tg', Protocol: 'TCP', Port: backend.port, VpcId: 'vpc-app', TargetType: 'ip' }))).TargetGroups![0]!;
    const target = { Id: '127.0.0.1', Port: backend.port, AvailabilityZone: 'all' };
    await elb.send(new RegisterTargetsCommand({ TargetGroupArn: tg.TargetGroupArn, Targets: [target] }));
    await elb.send(new ModifyTargetGroupAttributesCommand({ TargetGroupArn: tg.TargetGroupArn, Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: '0' }] }));
    const listener = (await elb.send(new CreateListenerCommand({
      LoadBalancerArn: lb.LoadBalancerArn, Protocol: 'TCP', Port: 18080, DefaultActions: [{ Type: 'forward', TargetGroupArn: tg.TargetGroupArn }],
    }))).Listeners![0]!;
    elb.destroy();
    const ec2 = ec2Clients(f.a.child.url, { provider: AWS_KEYS.provider });
    const made = await ec2.provider.send(new CreateVpcEndpointServiceConfigurationCommand({ NetworkLoadBalancerArns: [lb.LoadBalancerArn!], AcceptanceRequired: false }));
    ec2.provider.destroy();
    const service = made.ServiceConfiguration!.ServiceId!;
    await waitFor(async () => (await f.a.provider.get(`/vpc-endpoint-services/${service}`)).body.status === 'available', 10_000, 'the NLB service');
    expect((await f.a.provider.post(`/vpc-endpoint-services/${service}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] })).status).toBe(200);
    const r = await f.a.consumer.post('/vpc-endpoints', { endpoint_service_id: service, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    await withLogs([f.a, f.b], waitFor(async () => (await attempt(r.body.host_ip, 18080, CLIENT)) === 'relay', 15_000, 'the endpoint to relay to the NLB target'));
    const { owner, other } = await ownerOf(f, r.body.ip);
    const otherElb = elbClient(other);
    try {
      const states = async () => (await otherElb.send(new DescribeTargetHealthCommand({ TargetGroupArn: tg.TargetGroupArn }))).TargetHealthDescriptions!.map((d) => d.TargetHealth!.State);
      await withLogs([f.a, f.b], waitFor(async () => JSON.stringify(await states()) === '["healthy"]', 10_000, `DescribeTargetHealth through ${other.name} to show the target healthy`));
      await otherElb.send(new ModifyListenerCommand({ ListenerArn: listener.ListenerArn, Port: 18081 }));
      await withLogs([f.a, f.b], waitFor(async () => (await attempt(r.body.host_ip, 18081, CLIENT)) === 'relay', 10_000, `${owner.name} to serve the listener's new port`));
      await otherElb.send(new DeregisterTargetsCommand({ TargetGroupArn: tg.TargetGroupArn, Targets: [target] }));
      await withLogs([f.a, f.b], waitFor(async () => (await attempt(r.body.host_ip, 18081, CLIENT)) !== 'relay', 10_000, `${owner.name} to stop relaying to the deregistered target`));
      await otherElb.send(new RegisterTargetsCommand({ TargetGroupArn: tg.TargetGroupArn, Targets: [target] }));
      await withLogs([f.a, f.b], waitFor(async () => (await attempt(r.body.host_ip, 18081, CLIENT)) === 'relay', 10_000, `${owner.name} to relay to the target registered again`));
    } finally {
      otherElb.destroy();
    }
  }, 120_000);

  it("CreateVpcEndpoint retried through the other node with its ClientToken answers the first endpoint (before: a token was the answering node's, the retry made a second); one token through both nodes at once makes one endpoint, or one service configuration, route table or network ACL", async () => {
    const f = await fleetOfTwo();
    const a = ec2Clients(f.a.child.url, AWS_KEYS).consumer;
    const b = ec2Clients(f.b.child.url, AWS_KEYS).consumer;
    try {
      const name = `com.amazonaws.vpce.us-east-1.${f.service}`;
      const input = { VpcEndpointType: 'Interface' as const, VpcId: 'vpc-client', ServiceName: name, SubnetIds: ['subnet-a'], ClientToken: 'fleet-token' };
      const ids = async (c: typeof a) => (await c.send(new DescribeVpcEndpointsCommand({ Filters: [{ Name: 'service-name', Values: [name] }] }))).VpcEndpoints!.map((x) => x.VpcEndpointId).sort();
      const made = (await a.send(new CreateVpcEndpointCommand(input))).VpcEndpoint!;
      // at once, before B's watch may have brought the endpoint: B's commit loses the token's claim and answers it
      const again = (await b.send(new CreateVpcEndpointCommand(input))).VpcEndpoint!;
      expect(again.VpcEndpointId).toBe(made.VpcEndpointId);
      for (const c of [a, b]) expect(await ids(c)).toEqual([made.VpcEndpointId]);
      expect(await refused(b.send(new CreateVpcEndpointCommand({ ...input, SubnetIds: ['subnet-b'] })))).toMatchObject({ code: 'IdempotentParameterMismatch', status: 400 });

      // one new token through both nodes at the same instant: one endpoint, both answered with it
      const race = { ...input, ClientToken: 'race-token', SubnetIds: ['subnet-b'] };
      const both = await Promise.all([a, b].map((c) => c.send(new CreateVpcEndpointCommand(race))));
      expect(new Set(both.map((o) => o.VpcEndpoint!.VpcEndpointId)).size).toBe(1);
      const all = [made.VpcEndpointId, both[0]!.VpcEndpoint!.VpcEndpointId].sort();
      for (const c of [a, b]) await withLogs([f.a, f.b], waitFor(async () => JSON.stringify(await ids(c)) === JSON.stringify(all), 10_000, 'two endpoints on both nodes'));

      // a service configuration's token likewise, through both nodes at once
      const [elbA, elbB] = [elbClient(f.a), elbClient(f.b)];
      const lb = (await elbA.send(new CreateLoadBalancerCommand({ Name: 'nlb-token', Type: 'network', Scheme: 'internal', Subnets: ['subnet-app'] }))).LoadBalancers![0]!;
      await withLogs([f.a, f.b], waitFor(async () => (await elbB.send(new DescribeLoadBalancersCommand({ Names: ['nlb-token'] })).catch(() => ({ LoadBalancers: [] }))).LoadBalancers!.length === 1, 10_000, 'the NLB on B'));
      elbA.destroy();
      elbB.destroy();
      const providers = [ec2Clients(f.a.child.url, AWS_KEYS).provider, ec2Clients(f.b.child.url, AWS_KEYS).provider];
      const serviceInput = { NetworkLoadBalancerArns: [lb.LoadBalancerArn!], AcceptanceRequired: false, ClientToken: 'service-token' };
      const services = await Promise.all(providers.map((c) => c.send(new CreateVpcEndpointServiceConfigurationCommand(serviceInput))));
      expect(new Set(services.map((o) => o.ServiceConfiguration!.ServiceId)).size).toBe(1);
      for (const c of providers) c.destroy();

      // a route table's and a network ACL's token likewise (before: echoed, not kept: one each per node)
      const vpc = (await a.send(new CreateVpcCommand({ CidrBlock: '10.90.0.0/16' }))).Vpc!.VpcId!;
      await withLogs([f.a, f.b], waitFor(async () => ((await b.send(new DescribeVpcsCommand({ VpcIds: [vpc] })).catch(() => ({ Vpcs: [] }))).Vpcs ?? []).length === 1, 10_000, 'the VPC on B'));
      const tables = await Promise.all([a, b].map((c) => c.send(new CreateRouteTableCommand({ VpcId: vpc, ClientToken: 'table-token' }))));
      expect(new Set(tables.map((o) => o.RouteTable!.RouteTableId)).size).toBe(1);
      const acls = await Promise.all([a, b].map((c) => c.send(new CreateNetworkAclCommand({ VpcId: vpc, ClientToken: 'acl-token' }))));
      expect(new Set(acls.map((o) => o.NetworkAcl!.NetworkAclId)).size).toBe(1);
      // the fixture's account keeps its VPC quota for the tests after this one
      await a.send(new DeleteRouteTableCommand({ RouteTableId: tables[0]!.RouteTable!.RouteTableId }));
      await a.send(new DeleteNetworkAclCommand({ NetworkAclId: acls[0]!.NetworkAcl!.NetworkAclId }));
      await a.send(new DeleteVpcCommand({ VpcId: vpc }));
    } finally {
      a.destroy();
      b.destroy();
    }
  }, 120_000);

  it("a security group's rule revoked through one node refuses connections on the node serving the endpoint", async () => {
    const f = await fleetOfTwo();
    const ec2 = ec2Clients(f.a.child.url, { consumer: AWS_KEYS.consumer });
    const sg = await ec2.consumer.send(new CreateSecurityGroupCommand({ VpcId: 'vpc-client', GroupName: 'clients', Description: 'the clients' }));
    const rule = { GroupId: sg.GroupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 80, ToPort: 80, IpRanges: [{ CidrIp: '10.0.1.0/24' }] }] };
    await ec2.consumer.send(new AuthorizeSecurityGroupIngressCommand(rule));
    const made = (await ec2.consumer.send(new CreateVpcEndpointCommand({
      VpcEndpointType: 'Interface', VpcId: 'vpc-client', ServiceName: `com.amazonaws.vpce.us-east-1.${f.service}`, SubnetIds: ['subnet-a'], SecurityGroupIds: [sg.GroupId!],
    }))).VpcEndpoint!;
    ec2.consumer.destroy();
    const ep = (await f.a.consumer.get(`/vpc-endpoints/${made.VpcEndpointId}`)).body;
    await withLogs([f.a, f.b], waitFor(async () => (await attempt(ep.host_ip, 80, CLIENT)) === 'relay', 15_000, 'the endpoint to relay'));
    const { owner, other } = await ownerOf(f, ep.ip);
    const otherEc2 = ec2Clients(other.child.url, { consumer: AWS_KEYS.consumer });
    await otherEc2.consumer.send(new RevokeSecurityGroupIngressCommand(rule));
    otherEc2.consumer.destroy();
    await withLogs([f.a, f.b], waitFor(async () => (await attempt(ep.host_ip, 80, CLIENT)) === 'ECONNRESET', 10_000, `${owner.name} to refuse by the group's rules`));
  }, 120_000);
  it("a network ACL's rules and a subnet's association changed through one node refuse and admit connections on the node serving the endpoint", async () => {
    const f = await fleetOfTwo();
    const ec2 = ec2Clients(f.a.child.url, { consumer: AWS_KEYS.consumer });
    const vpc = (await ec2.consumer.send(new CreateVpcCommand({ CidrBlock: '10.44.0.0/16' }))).Vpc!.VpcId!;
    const subnet = (await ec2.consumer.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.44.1.0/24' }))).Subnet!.SubnetId!;
    const made = (await ec2.consumer.send(new CreateVpcEndpointCommand({
      VpcEndpointType: 'Interface', VpcId: vpc, ServiceName: `com.amazonaws.vpce.us-east-1.${f.service}`, SubnetIds: [subnet],
    }))).VpcEndpoint!;
    ec2.consumer.destroy();
    // its ENI's host address 127.k.1.x; a client 10.44.1.50 of the VPC binds 127.k.1.50
    const ep = (await f.a.consumer.get(`/vpc-endpoints/${made.VpcEndpointId}`)).body;
    const host = String(ep.host_ip);
    const client = host.replace(/\.\d+$/, '.50');
    await withLogs([f.a, f.b], waitFor(async () => (await attempt(host, 80, client)) === 'relay', 15_000, 'the endpoint to relay'));
    const t = (await f.a.consumer.post('/trace', { vpc_id: vpc, source_ip: '10.44.1.50', destination_ip: ep.ip, destination_port: 80 })).body.trace;
    const other = t.node.name === f.a.name ? f.b : f.a;
    const otherEc2 = ec2Clients(other.child.url, { consumer: AWS_KEYS.consumer });
    // through the other node: an ACL with no rule (the * rule denies) takes the subnet
    const acl = (await otherEc2.consumer.send(new CreateNetworkAclCommand({ VpcId: vpc }))).NetworkAcl!.NetworkAclId!;
    const [def] = (await otherEc2.consumer.send(new DescribeNetworkAclsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc] }, { Name: 'default', Values: ['true'] }] }))).NetworkAcls!;
    await otherEc2.consumer.send(new ReplaceNetworkAclAssociationCommand({ AssociationId: def!.Associations![0]!.NetworkAclAssociationId, NetworkAclId: acl }));
    await withLogs([f.a, f.b], waitFor(async () => (await attempt(host, 80, client)) === 'ECONNRESET', 10_000, 'the owner to refuse by the subnet\'s ACL'));
    // rules allowing it in and its answers out, through the other node again: relayed
    await otherEc2.consumer.send(new CreateNetworkAclEntryCommand({ NetworkAclId: acl, RuleNumber: 100, Egress: true, Protocol: '-1', RuleAction: 'allow', CidrBlock: '10.44.0.0/16' }));
    await otherEc2.consumer.send(new CreateNetworkAclEntryCommand({ NetworkAclId: acl, RuleNumber: 100, Egress: false, Protocol: '-1', RuleAction: 'allow', CidrBlock: '10.44.0.0/16' }));
    await withLogs([f.a, f.b], waitFor(async () => (await attempt(host, 80, client)) === 'relay', 10_000, 'the owner to admit by the new rule'));
    await otherEc2.consumer.send(new ReplaceNetworkAclEntryCommand({ NetworkAclId: acl, RuleNumber: 100, Egress: false, Protocol: '-1', RuleAction: 'deny', CidrBlock: '10.44.0.0/16' }));
    await withLogs([f.a, f.b], waitFor(async () => (await attempt(host, 80, client)) === 'ECONNRESET', 10_000, 'the owner to refuse by the replaced rule'));
    otherEc2.consumer.destroy();
  }, 120_000);

  it('a service deleted through one node that had not yet seen an endpoint made on it through the other (a race): the node serving the endpoint fails it as its service\'s (EndPoint.2003) and closes its ENI', async () => {
    const f = await fleetOfTwo();
    const ep = await liveEndpoint(f, f.a);
    // the deleting node's commit when the endpoint had not reached it: the service's document alone
    // goes (finishServiceDeletion fails the endpoints it knows in the same commit)
    const client = new Etcd3({ hosts: `http://${etcd.endpoint}` });
    try {
      await client.delete().key(`${f.prefix}/service/${f.service}`);
    } finally {
      client.close();
    }
    for (const n of [f.a, f.b]) {
      const failed = await withLogs([f.a, f.b], waitFor(async () => {
        const e = (await n.consumer.get(`/vpc-endpoints/${ep.id}`)).body;
        return e.status === 'failed' ? e : null;
      }, 10_000, `${n.name} to show the endpoint failed`));
      expect(failed.error).toEqual([{ error_code: 'EndPoint.2003', error_message: `endpoint service ${f.service} was deleted` }]);
    }
    await withLogs([f.a, f.b], waitFor(async () => (await attempt(ep.host_ip, 80, CLIENT)) !== 'relay', 10_000, 'the ENI to stop relaying'));
  }, 120_000);
  it("a backend's health probed by the node serving the endpoint shows through the other node (backend_health): before, the other showed it unused", async () => {
    // a second backend on port-web2's address, the shared one's port
    const second = await startBackend(echo, { host: '127.0.0.2', port: backend.port });
    try {
      const f = await fleetOfTwo(TWO_BACKENDS);
      const ep = await liveEndpoint(f, f.a);
      const { other } = await ownerOf(f, ep.ip);
      await withLogs([f.a, f.b], waitFor(async () => JSON.stringify(await healthOn(f, other)) === JSON.stringify({ 'port-web': 'healthy', 'port-web2': 'healthy' }), 20_000, `${other.name} to show both backends healthy`));
      await second.close();
      await withLogs([f.a, f.b], waitFor(async () => JSON.stringify(await healthOn(f, other)) === JSON.stringify({ 'port-web': 'healthy', 'port-web2': 'unhealthy' }), 25_000, `${other.name} to show port-web2 unhealthy`));
    } finally {
      await second.close();
    }
  }, 120_000);

  it("a backend's migration through one node is applied by its mode on the node serving the endpoint: smooth leaves the old backend's connections, forced cuts them (not the deregistration delay)", async () => {
    for (const [mode, delay] of [['smooth', 1], ['forced', 300]] as const) {
      const f = await fleetOfTwo({ deregistration_delay: delay });
      const ep = await liveEndpoint(f, f.a);
      const { other } = await ownerOf(f, ep.ip);
      const held = await heldFrom(ep.host_ip);
      const r = await other.provider.post(`/vpc-endpoint-services/${f.service}/backends/migrate`, { from_port_id: 'port-web', to_port_id: 'port-web2', mode });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      if (mode === 'smooth') {
        // past the deregistration delay of 1 s, which the owner applied before
        await new Promise((res) => setTimeout(res, 3_000));
        expect(await held.alive()).toBe(true);
      } else {
        await withLogs([f.a, f.b], waitFor(async () => !(await held.alive()), 10_000, 'the old backend\'s connection cut'));
      }
      held.socket.destroy();
    }
  }, 120_000);
  it("the path tracer through a node that does not probe a service's backends chooses as the node serving the endpoint does: never a backend the fleet knows unhealthy", async () => {
    const second = await startBackend(echo, { host: '127.0.0.2', port: backend.port });
    try {
      const f = await fleetOfTwo(TWO_BACKENDS);
      // the provider's own endpoint, the only one of the service: its owner alone probes the backends
      const made = await f.a.provider.post('/vpc-endpoints', { endpoint_service_id: f.service, vpc_id: 'vpc-provider-client', subnet_id: 'subnet-pc' });
      expect(made.status, JSON.stringify(made.body)).toBe(200);
      const trace = (n: Node, sourcePort: number) => n.provider.post('/trace', {
        vpc_id: 'vpc-provider-client', source_ip: '10.0.1.50', destination_ip: made.body.ip, destination_port: 80, source_port: sourcePort,
      });
      const served = await withLogs([f.a, f.b], waitFor(async () => (await trace(f.a, 1)).body.trace?.node?.name as string | undefined, 15_000, 'the endpoint placed'));
      const other = served === f.a.name ? f.b : f.a;
      await withLogs([f.a, f.b], waitFor(async () => JSON.stringify(await healthOn(f, other)) === JSON.stringify({ 'port-web': 'healthy', 'port-web2': 'healthy' }), 20_000, `${other.name} to show both backends healthy`));
      // both backends healthy: some flows go to each (the flow hash of the source port)
      const chosen = async () => new Set(await Promise.all(Array.from({ length: 16 }, async (_, i) => {
        const t = await trace(other, 1000 + i);
        expect(t.status, JSON.stringify(t.body)).toBe(200);
        return t.body.trace.backend.target as string;
      })));
      expect(await chosen()).toEqual(new Set([`127.0.0.1:${backend.port}`, `127.0.0.2:${backend.port}`]));
      await second.close();
      await withLogs([f.a, f.b], waitFor(async () => JSON.stringify(await healthOn(f, other)) === JSON.stringify({ 'port-web': 'healthy', 'port-web2': 'unhealthy' }), 25_000, `${other.name} to show port-web2 unhealthy`));
      expect(await chosen()).toEqual(new Set([`127.0.0.1:${backend.port}`]));
    } finally {
      await second.close();
    }
  }, 120_000);
  it("the DNS server of a node that does not probe a service's backends answers following the fleet's health: an ENI whose backends failed leaves its answers", async () => {
    const port = randomPort();
    const zoneA = await startBackend(echo, { host: '127.0.0.1', port });
    const zoneB = await startBackend(echo, { host: '127.0.0.2', port });
    try {
      // two zones on both sides: port-web in sim-1a, port-web-b in sim-1b; the client's subnets a and b likewise
      const prefix = `f${++prefixes}`;
      const base = twoAccountConfig({ store: `${etcd.url}/${prefix}`, fleet: { lease_ttl_seconds: 2 }, dns: { listen: '127.0.0.1:0', ttl: 1 } });
      const vpcs = twoZoneVpcs(base);
      const configFile = writeConfig(tempDir(), { ...base, vpcs });
      const dnsPorts = new Map<Node, number>();
      for (const name of ['a', 'b']) {
        const dnsPort = randomPort();
        dnsPorts.set(await startNode(configFile, `${prefix}-${name}`, ['--dns-listen', `127.0.0.1:${dnsPort}`]), dnsPort);
      }
      const [a, b] = [...dnsPorts.keys()] as [Node, Node];
      for (const n of [a, b]) await waitFor(async () => (await n.consumer.get('/sim/nodes')).body.nodes?.length === 2, 15_000, `${n.name} to see both nodes`);
      const f = { a, b, prefix, service: await openService(a, `s${prefix}`, port, TWO_ZONES) };
      const ep = await a.consumer.post('/vpc-endpoints', { endpoint_service_id: f.service, vpc_id: 'vpc-client', subnet_ids: ['subnet-a', 'subnet-b'], enable_dns: true, zone_affinity: true });
      expect(ep.status, JSON.stringify(ep.body)).toBe(200);
      await withLogs([a, b], waitFor(async () => (await attempt(ep.body.enis[0].host_ip, 80, CLIENT)) === 'relay', 15_000, 'the endpoint to relay'));
      const { owner, other } = await ownerOf(f, ep.body.ip);
      const [eniA, eniB] = ['sim-1a', 'sim-1b'].map((z) => ep.body.enis.find((n: { zone: string }) => n.zone === z).host_ip as string);
      const name = ep.body.dns_names[0] as string;
      /** the addresses NAME resolves to through N's DNS server, from the client's address in subnet-a */
      const lookup = (n: Node) => {
        const r = new Resolver({ timeout: 3_000, tries: 1 });
        r.setLocalAddress(CLIENT);
        r.setServers([`127.0.0.1:${dnsPorts.get(n)}`]);
        return r.resolve4(name).then((addrs) => addrs.join(','), (err: NodeJS.ErrnoException) => err.code ?? err.message);
      };
      await withLogs([a, b], waitFor(async () => JSON.stringify(await healthOn(f, other)) === JSON.stringify({ 'port-web': 'healthy', 'port-web-b': 'healthy' }), 20_000, `${other.name} to show both backends healthy`));
      // the client's own zone first, from either node
      for (const n of [owner, other]) expect(await lookup(n)).toBe(`${eniA},${eniB}`);
      // zone a's backend dies: the owner's probes find it; the other node's answers leave ENI a too
      await zoneA.close();
      await withLogs([a, b], waitFor(async () => (await lookup(owner)) === eniB, 30_000, `${owner.name}'s DNS to leave ENI a out`));
      // before, the other node read only its own probes (none): it answered ENI a still
      await withLogs([a, b], waitFor(async () => (await lookup(other)) === eniB, 10_000, `${other.name}'s DNS to leave ENI a out`));
    } finally {
      await zoneA.close();
      await zoneB.close();
    }
  }, 120_000);
  it('a load balancer made in a subnet through one node while the other deletes the subnet: one of them wins, the other is refused (before, both answered OK: a load balancer in a deleted subnet)', async () => {
    const f = await fleetOfTwo();
    const ec2a = ec2Clients(f.a.child.url, AWS_KEYS).provider;
    const ec2b = ec2Clients(f.b.child.url, AWS_KEYS).provider;
    const elb = elbClient(f.a);
    try {
      for (let round = 0; round < 4; round++) {
        const vpc = (await ec2a.send(new CreateVpcCommand({ CidrBlock: `10.${80 + round}.0.0/16` }))).Vpc!.VpcId!;
        const subnet = (await ec2a.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: `10.${80 + round}.1.0/24` }))).Subnet!.SubnetId!;
        await withLogs([f.a, f.b], waitFor(async () => ((await ec2b.send(new DescribeSubnetsCommand({ SubnetIds: [subnet] })).catch(() => ({ Subnets: [] }))).Subnets ?? []).length === 1,
          10_000, 'the other node to see the subnet'));
        const [made, deleted] = await Promise.allSettled([
          elb.send(new CreateLoadBalancerCommand({ Name: `race-${round}`, Type: 'network', Scheme: 'internal', Subnets: [subnet] })),
          ec2b.send(new DeleteSubnetCommand({ SubnetId: subnet })),
        ]);
        expect([made.status, deleted.status].filter((x) => x === 'fulfilled'), `round ${round}`).toHaveLength(1);
        const lost = (made.status === 'rejected' ? made : deleted) as PromiseRejectedResult;
        expect((lost.reason as { name?: string }).name).toBe(made.status === 'rejected' ? 'SubnetNotFoundException' : 'DependencyViolation');
        if (made.status === 'fulfilled') {
          await elb.send(new DeleteLoadBalancerCommand({ LoadBalancerArn: made.value.LoadBalancers![0]!.LoadBalancerArn }));
          await ec2a.send(new DeleteSubnetCommand({ SubnetId: subnet }));
        }
        await ec2a.send(new DeleteVpcCommand({ VpcId: vpc }));
      }
    } finally {
      ec2a.destroy();
      ec2b.destroy();
      elb.destroy();
    }
  }, 120_000);

  it('two internet gateways attached to one VPC through both nodes at the same instant: one is attached, the other refused (Resource.AlreadyAssociated); before, both were', async () => {
    const f = await fleetOfTwo();
    const a = ec2Clients(f.a.child.url, AWS_KEYS).consumer;
    const b = ec2Clients(f.b.child.url, AWS_KEYS).consumer;
    try {
      for (let round = 0; round < 4; round++) {
        const vpc = (await a.send(new CreateVpcCommand({ CidrBlock: `172.${20 + round}.0.0/16` }))).Vpc!.VpcId!;
        const gateways = [
          (await a.send(new CreateInternetGatewayCommand({}))).InternetGateway!.InternetGatewayId!,
          (await b.send(new CreateInternetGatewayCommand({}))).InternetGateway!.InternetGatewayId!,
        ];
        // both nodes know the VPC and both gateways before the race
        for (const c of [a, b]) {
          await withLogs([f.a, f.b], waitFor(async () => ((await c.send(new DescribeInternetGatewaysCommand({ Filters: [{ Name: 'internet-gateway-id', Values: gateways }] }))).InternetGateways ?? []).length === 2
            && ((await c.send(new DescribeVpcsCommand({ VpcIds: [vpc] })).catch(() => ({ Vpcs: [] }))).Vpcs ?? []).length === 1, 10_000, 'both nodes to see the VPC and the gateways'));
        }
        const results = await Promise.allSettled([a, b].map((c, i) => c.send(new AttachInternetGatewayCommand({ InternetGatewayId: gateways[i], VpcId: vpc }))));
        expect(results.filter((r) => r.status === 'fulfilled'), `round ${round}`).toHaveLength(1);
        const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
        expect((lost.reason as { name?: string }).name).toBe('Resource.AlreadyAssociated');
        const attached = async (c: typeof a) => ((await c.send(new DescribeInternetGatewaysCommand({ Filters: [{ Name: 'attachment.vpc-id', Values: [vpc] }] }))).InternetGateways ?? []).length;
        for (const c of [a, b]) await withLogs([f.a, f.b], waitFor(async () => (await attached(c)) === 1, 10_000, 'one gateway attached, seen by both nodes'));
      }
    } finally {
      a.destroy();
      b.destroy();
    }
  }, 120_000);

  it('an endpoint made through one node while the other deletes its security group, its subnet or its VPC: one of them wins, the other is refused, and no endpoint names what is gone (before, both answered OK: an endpoint whose group was deleted admitted everyone)', async () => {
    const f = await fleetOfTwo();
    const nodes = [f.a, f.b];
    // the provider's own network and endpoints (the consumer's VPC quota is taken by the tests before)
    const [a, b] = [ec2Clients(f.a.child.url, AWS_KEYS).provider, ec2Clients(f.b.child.url, AWS_KEYS).provider];
    const ServiceName = `com.amazonaws.vpce.us-east-1.${f.service}`;
    const endpointsIn = async (c: EC2Client, vpc: string) => (await c.send(new DescribeVpcEndpointsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc] }] }))).VpcEndpoints ?? [];
    const create = (vpc: string, more: { SubnetIds?: string[]; SecurityGroupIds?: string[] }) => b.send(new CreateVpcEndpointCommand({ VpcEndpointType: 'Interface', VpcId: vpc, ServiceName, ...more }));
    /** the endpoint made deleted, and gone from both nodes */
    const removeEndpoint = async (id: string, vpc: string) => {
      await a.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [id] }));
      await onBoth(nodes, `endpoint ${id} gone from both nodes`, async () => (await endpointsIn(a, vpc)).length === 0 && (await endpointsIn(b, vpc)).length === 0);
    };
    try {
      for (let round = 0; round < 3; round++) {
        const at = `round ${round}`;
        const vpc = (await a.send(new CreateVpcCommand({ CidrBlock: `10.${100 + round}.0.0/16` }))).Vpc!.VpcId!;
        const subnet = (await a.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: `10.${100 + round}.1.0/24` }))).Subnet!.SubnetId!;
        const sg = (await a.send(new CreateSecurityGroupCommand({ VpcId: vpc, GroupName: `race-${round}`, Description: 'race' }))).GroupId!;
        await onBoth(nodes, 'the other node to see the subnet and the group', async () => (await b.send(new DescribeSecurityGroupsCommand({ GroupIds: [sg] }))).SecurityGroups?.length === 1
          && (await b.send(new DescribeSubnetsCommand({ SubnetIds: [subnet] }))).Subnets?.length === 1);

        const withGroup = await oneWins(`${at}: the group`, create(vpc, { SubnetIds: [subnet], SecurityGroupIds: [sg] }), a.send(new DeleteSecurityGroupCommand({ GroupId: sg })),
          'InvalidGroup.NotFound', 'DependencyViolation');
        if (withGroup) {
          for (const c of [a, b]) expect((await c.send(new DescribeSecurityGroupsCommand({ GroupIds: [sg] }))).SecurityGroups, at).toHaveLength(1);
          await removeEndpoint(withGroup.VpcEndpoint!.VpcEndpointId!, vpc);
          await a.send(new DeleteSecurityGroupCommand({ GroupId: sg }));
        }
        for (const c of [a, b]) expect(await endpointsIn(c, vpc), at).toEqual([]);

        const inSubnet = await oneWins(`${at}: the subnet`, create(vpc, { SubnetIds: [subnet] }), a.send(new DeleteSubnetCommand({ SubnetId: subnet })),
          'InvalidSubnetID.NotFound', 'DependencyViolation');
        if (inSubnet) {
          for (const c of [a, b]) expect((await c.send(new DescribeSubnetsCommand({ SubnetIds: [subnet] }))).Subnets, at).toHaveLength(1);
          await removeEndpoint(inSubnet.VpcEndpoint!.VpcEndpointId!, vpc);
          await a.send(new DeleteSubnetCommand({ SubnetId: subnet }));
        }
        for (const c of [a, b]) expect(await endpointsIn(c, vpc), at).toEqual([]);

        // an endpoint without subnets, in the VPC alone
        const inVpc = await oneWins(`${at}: the VPC`, create(vpc, {}), a.send(new DeleteVpcCommand({ VpcId: vpc })), 'InvalidVpcID.NotFound', 'DependencyViolation');
        if (inVpc) {
          for (const c of [a, b]) expect((await c.send(new DescribeVpcsCommand({ VpcIds: [vpc] }))).Vpcs, at).toHaveLength(1);
          await removeEndpoint(inVpc.VpcEndpoint!.VpcEndpointId!, vpc);
          await a.send(new DeleteVpcCommand({ VpcId: vpc }));
        }
        for (const c of [a, b]) expect(await endpointsIn(c, vpc), at).toEqual([]);
      }
    } finally {
      a.destroy();
      b.destroy();
    }
  }, 120_000);

  it('a security group made in a VPC or an internet gateway attached to it through one node while the other deletes the VPC, a service made on a load balancer or a listener forwarding to a target group while the other deletes it: one of them wins, the other is refused (before, both answered OK: a group and a gateway in a deleted VPC, a service without its load balancer, a listener forwarding to nothing)', async () => {
    const f = await fleetOfTwo();
    const nodes = [f.a, f.b];
    const [a, b] = [ec2Clients(f.a.child.url, AWS_KEYS).provider, ec2Clients(f.b.child.url, AWS_KEYS).provider];
    const [elbA, elbB] = [elbClient(f.a), elbClient(f.b)];
    const newVpc = async (cidr: string) => {
      const vpc = (await a.send(new CreateVpcCommand({ CidrBlock: cidr }))).Vpc!.VpcId!;
      await onBoth(nodes, 'the other node to see the VPC', async () => (await b.send(new DescribeVpcsCommand({ VpcIds: [vpc] }))).Vpcs?.length === 1);
      return vpc;
    };
    try {
      // the listeners' load balancer, in the provider's config VPC
      const lb = (await elbA.send(new CreateLoadBalancerCommand({ Name: 'race-listeners', Type: 'network', Scheme: 'internal', Subnets: ['subnet-app'] }))).LoadBalancers![0]!.LoadBalancerArn!;
      for (let round = 0; round < 3; round++) {
        const at = `round ${round}`;
        let vpc = await newVpc(`172.${30 + round}.0.0/16`);
        const group = await oneWins(`${at}: a group in the VPC`, b.send(new CreateSecurityGroupCommand({ VpcId: vpc, GroupName: 'race', Description: 'race' })), a.send(new DeleteVpcCommand({ VpcId: vpc })),
          'InvalidVpcID.NotFound', 'DependencyViolation');
        if (group) {
          await a.send(new DeleteSecurityGroupCommand({ GroupId: group.GroupId }));
          await a.send(new DeleteVpcCommand({ VpcId: vpc }));
        } else {
          expect((await b.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc] }] }))).SecurityGroups, at).toEqual([]);
        }

        vpc = await newVpc(`172.${30 + round}.0.0/16`);
        const igw = (await b.send(new CreateInternetGatewayCommand({}))).InternetGateway!.InternetGatewayId!;
        const attached = await oneWins(`${at}: a gateway attached to the VPC`, b.send(new AttachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: vpc })), a.send(new DeleteVpcCommand({ VpcId: vpc })),
          'InvalidVpcID.NotFound', 'DependencyViolation');
        if (attached) {
          await a.send(new DetachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: vpc }));
          await a.send(new DeleteVpcCommand({ VpcId: vpc }));
        }
        // never attached to a VPC that is gone: it can be deleted (before: DependencyViolation for good)
        await (attached ? a : b).send(new DeleteInternetGatewayCommand({ InternetGatewayId: igw }));

        const backing = (await elbA.send(new CreateLoadBalancerCommand({ Name: `race-service-${round}`, Type: 'network', Scheme: 'internal', Subnets: ['subnet-app'] }))).LoadBalancers![0]!.LoadBalancerArn!;
        const tg = (await elbA.send(new CreateTargetGroupCommand({ Name: `race-${round}`, Protocol: 'TCP', Port: 80, VpcId: 'vpc-app', TargetType: 'ip' }))).TargetGroups![0]!.TargetGroupArn!;
        await onBoth(nodes, 'the other node to see the load balancer and the target group', async () => (await elbB.send(new DescribeLoadBalancersCommand({ LoadBalancerArns: [backing] }))).LoadBalancers?.length === 1
          && (await elbB.send(new DescribeTargetGroupsCommand({ TargetGroupArns: [tg] }))).TargetGroups?.length === 1);
        // a service made goes after the test, with the others
        await oneWins(`${at}: a service on the load balancer`, b.send(new CreateVpcEndpointServiceConfigurationCommand({ NetworkLoadBalancerArns: [backing], AcceptanceRequired: false })),
          elbA.send(new DeleteLoadBalancerCommand({ LoadBalancerArn: backing })), 'InvalidParameterValue', 'ResourceInUseException');
        const listener = await oneWins(`${at}: a listener forwarding to the target group`,
          elbB.send(new CreateListenerCommand({ LoadBalancerArn: lb, Protocol: 'TCP', Port: 80 + round, DefaultActions: [{ Type: 'forward', TargetGroupArn: tg }] })),
          elbA.send(new DeleteTargetGroupCommand({ TargetGroupArn: tg })), 'TargetGroupNotFoundException', 'ResourceInUseException');
        if (listener) {
          await elbA.send(new DeleteListenerCommand({ ListenerArn: listener.Listeners![0]!.ListenerArn }));
          await elbA.send(new DeleteTargetGroupCommand({ TargetGroupArn: tg }));
        }
      }
      await elbA.send(new DeleteLoadBalancerCommand({ LoadBalancerArn: lb }));
    } finally {
      for (const c of [a, b, elbA, elbB]) c.destroy();
    }
  }, 120_000);
});

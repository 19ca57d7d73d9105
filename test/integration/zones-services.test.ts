// Services in zones (issue 13), one real daemon, real sockets: an operator-run public service
// whose config port has a backend list, each in a zone (each ENI's flows stay in its zone with
// zone affinity; an endpoint in a zone the service is not in refused in both dialects, nothing
// changed); a port-backed service that leaves a zone (its backend there removed) and an NLB that
// leaves one (ELBv2 SetSubnets; two subnets of one zone refused, InvalidConfigurationRequest): the
// endpoint's ENI in that zone stays, its flows go to another zone's backend (counted as failover),
// the NLB's target there is `unused`, and no new ENI may be made there. Both relays (test:js-relay).
import {
  CreateVpcEndpointCommand, CreateVpcEndpointServiceConfigurationCommand, DescribeVpcEndpointsCommand, EC2Client,
} from '@aws-sdk/client-ec2';
import {
  CreateListenerCommand, CreateLoadBalancerCommand, CreateTargetGroupCommand, DescribeLoadBalancersCommand, DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client, RegisterTargetsCommand, SetSubnetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMER, PROVIDER, metricValue, startTestDaemon, tempDir, twoAccountConfig, waitFor, type TestDaemon } from '../helpers.js';
import { AWS_KEYS, attempt, ec2Clients, refused } from './aws-sdk.js';
import { echo, ping, randomPort, startBackend, type TestBackend } from './backends.js';

let d: TestDaemon;
let ec2: Record<keyof typeof AWS_KEYS, EC2Client>;
/** the public service's port and the provider service's; each backend pair listens on its port at 127.0.0.1 (zone a) and 127.0.0.2 (zone b) */
const pubPort = randomPort();
const svcPort = pubPort + 1;
/** the NLB's targets' port (port-a and port-b, instances) and its listener's */
const nlbTargetPort = pubPort + 2;
const nlbPort = pubPort + 3;
const backends: TestBackend[] = [];

const config = () => twoAccountConfig({
  accounts: [{ ...PROVIDER, aws: AWS_KEYS.provider }, { ...CONSUMER, aws: AWS_KEYS.consumer }],
  vpcs: [
    {
      id: 'vpc-app', account: 'provider', cidr: '192.168.0.0/16',
      subnets: [
        { id: 'subnet-app', cidr: '192.168.24.0/24' }, { id: 'subnet-app-b', cidr: '192.168.25.0/24', zone: 'sim-1b' },
        { id: 'subnet-app-a2', cidr: '192.168.26.0/24', zone: 'sim-1a' },
      ],
      ports: [
        { id: 'port-a', subnet: 'subnet-app', ip: '192.168.24.10', type: 'VM', target: '127.0.0.1' },
        { id: 'port-b', subnet: 'subnet-app-b', ip: '192.168.25.10', type: 'VM', target: '127.0.0.2' },
      ],
    },
    {
      id: 'vpc-client', account: 'consumer', cidr: '10.0.0.0/16',
      subnets: [
        { id: 'subnet-a', cidr: '10.0.1.0/24' }, { id: 'subnet-b', cidr: '10.0.2.0/24', zone: 'sim-1b' }, { id: 'subnet-c', cidr: '10.0.3.0/24', zone: 'sim-1c' },
      ],
    },
  ],
  public_services: [{
    name: 'kv', service_type: 'interface',
    ports: [{ port: pubPort, backends: [{ target: `127.0.0.1:${pubPort}`, zone: 'sim-1a' }, { target: `127.0.0.2:${pubPort}`, zone: 'sim-1b' }] }],
  }],
});

beforeAll(async () => {
  for (const port of [pubPort, svcPort, nlbTargetPort]) for (const host of ['127.0.0.1', '127.0.0.2']) backends.push(await startBackend(echo, { host, port }));
  d = await startTestDaemon(config(), tempDir());
  ec2 = ec2Clients(d.url, AWS_KEYS);
});

afterAll(async () => {
  for (const c of Object.values(ec2 ?? {})) c.destroy();
  await d?.stop();
  for (const b of backends) await b.close();
});

/**
 * N pings through an ENI of an endpoint of SERVICE; the connections the data plane relayed meanwhile
 * to its backend in sim-1a (127.0.0.1) and in sim-1b (127.0.0.2) (the backends' own accept counts
 * would include health probes)
 */
async function spread(service: string, hostIp: string, port: number, n: number): Promise<[number, number]> {
  // an NLB's listener relays to its targets' port; a port-backed service's and a public one's ports are their backends' too
  const backendPort = port === nlbPort ? nlbTargetPort : port;
  const relayed = () => Promise.all([['127.0.0.1', 'sim-1a'], ['127.0.0.2', 'sim-1b']].map(async ([host, zone]) =>
    (await metricValue(d.url, 'vpcep_backend_connections_total', { service_id: service, backend: `${host}:${backendPort}`, zone: zone! })) ?? 0));
  const before = await relayed();
  for (let i = 0; i < n; i++) expect(await ping(port, hostIp)).toBe(true);
  const after = await relayed();
  return [after[0]! - before[0]!, after[1]! - before[1]!];
}

async function accepted(id: string): Promise<any> {
  return waitFor(async () => {
    const r = await d.consumer.get(`/vpc-endpoints/${id}`);
    return r.body.status === 'accepted' ? r.body : null;
  }, 5_000, `endpoint ${id} accepted`);
}

const eniIn = (e: any, zone: string) => e.enis.find((n: any) => n.zone === zone).host_ip as string;
const endpointCount = async () => (await d.consumer.get('/vpc-endpoints?limit=1000')).body.total_count as number;

describe('a public service whose config port lists backends in zones', () => {
  let id = '';

  it('is in its backends\' zones: each ENI\'s flows go to its zone\'s backend with zone affinity', async () => {
    const pub = (await d.consumer.get('/vpc-endpoint-services/public')).body.endpoint_services;
    id = pub.find((s: { service_name: string }) => s.service_name === 'sim-1.kv').id;
    const r = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: id, vpc_id: 'vpc-client', subnet_ids: ['subnet-a', 'subnet-b'], zone_affinity: true });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const e = await accepted(r.body.id);
    expect(await spread(id, eniIn(e, 'sim-1a'), pubPort, 10)).toEqual([10, 0]);
    expect(await spread(id, eniIn(e, 'sim-1b'), pubPort, 10)).toEqual([0, 10]);
    expect(await metricValue(d.url, 'vpcep_zone_backend_connections_total', { zone: 'sim-1b' })).toBe(10);
  });

  it('refuses an ENI in a zone it is not in, in both dialects, nothing changed', async () => {
    const before = await endpointCount();
    const r = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: id, vpc_id: 'vpc-client', subnet_ids: ['subnet-a', 'subnet-c'] });
    expect([r.status, r.body.error_code]).toEqual([400, 'EndPoint.0002']);
    expect(r.body.error_msg).toMatch(/subnet subnet-c is in zone sim-1c, where endpoint service .* is not \(its zones: sim-1a, sim-1b\)/);
    const aws = await refused(ec2.consumer.send(new CreateVpcEndpointCommand({
      VpcEndpointType: 'Interface', VpcId: 'vpc-client', ServiceName: 'com.amazonaws.us-east-1.kv', SubnetIds: ['subnet-c'],
    })));
    // the zones as AWS shows them (the Huawei API's sim-1c is us-east-1c)
    expect(aws).toMatchObject({ code: 'InvalidParameterValue', status: 400, message: expect.stringMatching(/subnet subnet-c is in zone us-east-1c, where endpoint service .* is not \(its zones: us-east-1a, us-east-1b\)/) });
    expect(await endpointCount()).toBe(before);
    expect((await ec2.consumer.send(new DescribeVpcEndpointsCommand({}))).VpcEndpoints!.filter((x) => x.SubnetIds!.includes('subnet-c'))).toEqual([]);
  });
});

describe('a service that leaves a zone its endpoint has an ENI in', () => {
  it('keeps the ENI; its flows fail over to the zones the service is still in (counted); no new ENI there', async () => {
    const svc = await d.provider.post('/vpc-endpoint-services', {
      vpc_id: 'vpc-app', server_type: 'VM', ports: [{ client_port: svcPort, server_port: svcPort, protocol: 'TCP' }], approval_enabled: false,
      backends: [{ port_id: 'port-a' }, { port_id: 'port-b' }], deregistration_delay: 0,
    });
    expect(svc.status, JSON.stringify(svc.body)).toBe(200);
    await waitFor(async () => (await d.provider.get(`/vpc-endpoint-services/${svc.body.id}`)).body.status === 'available', 5_000, 'service available');
    await d.provider.post(`/vpc-endpoint-services/${svc.body.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] });
    const r = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: svc.body.id, vpc_id: 'vpc-client', subnet_ids: ['subnet-a', 'subnet-b'], zone_affinity: true });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const e = await accepted(r.body.id);
    expect(await spread(svc.body.id, eniIn(e, 'sim-1b'), svcPort, 10)).toEqual([0, 10]);

    // the provider removes its zone-b backend: the service is in sim-1a only now
    const put = await d.provider.put(`/vpc-endpoint-services/${svc.body.id}`, { backends: [{ port_id: 'port-a' }] });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    const after = (await d.consumer.get(`/vpc-endpoints/${e.id}`)).body;
    expect([after.status, after.enis]).toEqual(['accepted', e.enis]);
    const failover = (await metricValue(d.url, 'vpcep_backend_choices_total', { reason: 'failover' })) ?? 0;
    expect(await spread(svc.body.id, eniIn(e, 'sim-1b'), svcPort, 10)).toEqual([10, 0]);
    expect(await metricValue(d.url, 'vpcep_backend_choices_total', { reason: 'failover' })).toBe(failover + 10);
    expect(await spread(svc.body.id, eniIn(e, 'sim-1a'), svcPort, 5)).toEqual([5, 0]);

    // an ENI may not be made in the zone it left: a new endpoint there, or removing and adding it back
    const again = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: svc.body.id, vpc_id: 'vpc-client', subnet_ids: ['subnet-b'] });
    expect([again.status, again.body.error_code]).toEqual([400, 'EndPoint.0002']);
    expect(again.body.error_msg).toMatch(/subnet subnet-b is in zone sim-1b, where endpoint service .* is not \(its zones: sim-1a\)/);
    const removed = await d.consumer.post(`/vpc-endpoints/${e.id}/subnets/action`, { action: 'remove', subnet_ids: ['subnet-b'] });
    expect(removed.status, JSON.stringify(removed.body)).toBe(200);
    const add = await d.consumer.post(`/vpc-endpoints/${e.id}/subnets/action`, { action: 'add', subnet_ids: ['subnet-b'] });
    expect([add.status, add.body.error_code]).toEqual([400, 'EndPoint.0002']);
    expect((await d.consumer.get(`/vpc-endpoints/${e.id}`)).body.enis.map((n: any) => n.zone)).toEqual(['sim-1a']);
  });
});

describe('an NLB that leaves a zone (ELBv2 SetSubnets)', () => {
  it('one subnet per zone (InvalidConfigurationRequest, nothing changed); the zone it leaves: its targets unused, the ENI there kept and failing over, no new ENI there', async () => {
    const o = { endpoint: d.url, region: 'us-east-1', credentials: { accessKeyId: AWS_KEYS.provider.access_key_id, secretAccessKey: AWS_KEYS.provider.secret_access_key }, maxAttempts: 1 };
    const elb = new ElasticLoadBalancingV2Client(o);
    const lb = (await elb.send(new CreateLoadBalancerCommand({ Name: 'two-zones', Type: 'network', Scheme: 'internal', Subnets: ['subnet-app', 'subnet-app-b'] }))).LoadBalancers![0]!;
    const tg = (await elb.send(new CreateTargetGroupCommand({ Name: 'two-zones-tg', Protocol: 'TCP', Port: nlbTargetPort, VpcId: 'vpc-app', TargetType: 'instance' }))).TargetGroups![0]!;
    await elb.send(new RegisterTargetsCommand({ TargetGroupArn: tg.TargetGroupArn, Targets: [{ Id: 'port-a' }, { Id: 'port-b' }] }));
    await elb.send(new CreateListenerCommand({ LoadBalancerArn: lb.LoadBalancerArn, Protocol: 'TCP', Port: nlbPort, DefaultActions: [{ Type: 'forward', TargetGroupArn: tg.TargetGroupArn }] }));
    const svc = (await ec2.provider.send(new CreateVpcEndpointServiceConfigurationCommand({ NetworkLoadBalancerArns: [lb.LoadBalancerArn!], AcceptanceRequired: false }))).ServiceConfiguration!;
    const sid = svc.ServiceId!;
    await waitFor(async () => (await d.provider.get(`/vpc-endpoint-services/${sid}`)).body.status === 'available', 5_000, 'service available');
    await d.provider.post(`/vpc-endpoint-services/${sid}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] });
    const r = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: sid, vpc_id: 'vpc-client', subnet_ids: ['subnet-a', 'subnet-b'] });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const e = await accepted(r.body.id);
    // cross-zone off (the NLB default): each ENI's flows stay in its zone
    expect(await spread(sid, eniIn(e, 'sim-1a'), nlbPort, 6)).toEqual([6, 0]);
    expect(await spread(sid, eniIn(e, 'sim-1b'), nlbPort, 6)).toEqual([0, 6]);

    const zonesOf = async () => (await elb.send(new DescribeLoadBalancersCommand({ LoadBalancerArns: [lb.LoadBalancerArn!] }))).LoadBalancers![0]!
      .AvailabilityZones!.map((z) => [z.ZoneName, z.SubnetId]);
    const twoOfOne = await elb.send(new SetSubnetsCommand({ LoadBalancerArn: lb.LoadBalancerArn, Subnets: ['subnet-app', 'subnet-app-a2'] })).catch((x) => x);
    expect([twoOfOne.name, twoOfOne.$metadata?.httpStatusCode]).toEqual(['InvalidConfigurationRequestException', 400]);
    expect(twoOfOne.message).toMatch(/subnets subnet-app and subnet-app-a2 are both in zone us-east-1a/);
    expect(await zonesOf()).toEqual([['us-east-1a', 'subnet-app'], ['us-east-1b', 'subnet-app-b']]);

    // it leaves sim-1b: port-b gets no traffic (unused), the ENI in sim-1b stays and fails over to sim-1a
    const set = await elb.send(new SetSubnetsCommand({ LoadBalancerArn: lb.LoadBalancerArn, Subnets: ['subnet-app'] }));
    expect(set.AvailabilityZones!.map((z) => [z.ZoneName, z.SubnetId])).toEqual([['us-east-1a', 'subnet-app']]);
    const health = (await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: tg.TargetGroupArn }))).TargetHealthDescriptions!
      .find((h) => h.Target!.Id === 'port-b')!.TargetHealth!;
    expect([health.State, health.Reason, health.Description]).toEqual(['unused', 'Target.NotInUse', 'Target is in an Availability Zone that is not enabled for the load balancer']);
    expect((await d.consumer.get(`/vpc-endpoints/${e.id}`)).body.enis).toEqual(e.enis);
    const failover = (await metricValue(d.url, 'vpcep_backend_choices_total', { reason: 'failover' })) ?? 0;
    expect(await spread(sid, eniIn(e, 'sim-1b'), nlbPort, 6)).toEqual([6, 0]);
    expect(await metricValue(d.url, 'vpcep_backend_choices_total', { reason: 'failover' })).toBe(failover + 6);
    const refusedEni = await refused(ec2.consumer.send(new CreateVpcEndpointCommand({
      VpcEndpointType: 'Interface', VpcId: 'vpc-client', ServiceName: svc.ServiceName, SubnetIds: ['subnet-b'],
    })));
    expect(refusedEni).toMatchObject({ code: 'InvalidParameterValue', status: 400, message: expect.stringMatching(/zone us-east-1b, where endpoint service .* is not \(its zones: us-east-1a\)/) });

    // sim-1a down: the ENI in sim-1b is up, its one target in use in the down zone; fail open chooses
    // it and the connection is reset before any connect. The trace says so (it said relay)
    expect((await d.consumer.post('/sim/zones/sim-1a/down', undefined)).status).toBe(200);
    const k = d.daemon.control.routing().vpcs.get('vpc-client')!.number;
    const eniB = e.enis.find((n: any) => n.zone === 'sim-1b');
    const t = (await d.consumer.post('/trace', { vpc_id: 'vpc-client', source_ip: '10.0.2.5', destination_ip: eniB.ip, destination_port: nlbPort })).body.trace;
    expect(t).toMatchObject({ verdict: 'refuse', outcome: 'reset', refusal: 'backend_unreachable', eni: { zone: 'sim-1b', zone_up: true } });
    const unreachable = async () => (await metricValue(d.url, 'vpcep_rejected_connections_total', { reason: 'backend_unreachable' })) ?? 0;
    const before = await unreachable();
    expect(await attempt(eniB.host_ip, nlbPort, `127.${k}.2.5`)).toMatch(/^(reset|closed|ECONNRESET)$/);
    await waitFor(async () => (await unreachable()) === before + 1, 2_000, 'backend_unreachable counted');
    expect((await d.consumer.post('/sim/zones/sim-1a/up', undefined)).status).toBe(200);
    expect((await d.consumer.post('/trace', { vpc_id: 'vpc-client', source_ip: '10.0.2.5', destination_ip: eniB.ip, destination_port: nlbPort })).body.trace.outcome).toBe('relay');
    elb.destroy();
  });
});

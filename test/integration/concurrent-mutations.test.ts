// Calls sent at once must keep every rule that holds for calls sent one at a time: a mutation may
// prepare while an earlier one's batch is still on its way to disk, so what it checks (a quota, a
// unique name, a route table already taken, the version of a document) must see that batch. Found
// by a robustness hunt against a real daemon (2026-12-05): each case below passed calls at once that
// the same calls one at a time refuse.
import {
  CreateSecurityGroupCommand, CreateSubnetCommand, CreateVpcCommand, CreateVpcEndpointCommand, DeleteSecurityGroupCommand, DescribeSecurityGroupsCommand,
  DescribeVpcEndpointsCommand, ModifyVpcEndpointCommand, type EC2Client,
} from '@aws-sdk/client-ec2';
import { CreateLoadBalancerCommand, CreateTargetGroupCommand, DescribeLoadBalancersCommand, DescribeTargetGroupsCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMER, PROVIDER, SERVICE_BODY, createAcceptedEndpoint, createAvailableService, startTestDaemon, twoAccountConfig, type TestDaemon } from '../helpers.js';
import { AWS_KEYS, ec2Clients } from './aws-sdk.js';

const config = () => twoAccountConfig({
  // every commit waits for its fsync: a batch is on its way to disk long enough for the calls after it to prepare meanwhile
  store_durability: 'power',
  region: 'us-east-1',
  accounts: [{ ...PROVIDER, aws: AWS_KEYS.provider, quotas: { endpoint_service: 5 } }, { ...CONSUMER, aws: AWS_KEYS.consumer }],
  vpcs: [
    {
      id: 'vpc-app', account: 'provider', cidr: '192.168.0.0/16',
      subnets: [{ id: 'subnet-app', cidr: '192.168.24.0/24' }],
      ports: [{ id: 'port-web', subnet: 'subnet-app', ip: '192.168.24.246', type: 'VM', target: '127.0.0.1' }],
    },
    {
      id: 'vpc-client', account: 'consumer', cidr: '10.0.0.0/16',
      subnets: [{ id: 'subnet-a', cidr: '10.0.1.0/24' }],
      route_tables: [{ id: 'rtb-a', subnets: ['subnet-a'] }],
    },
  ],
  public_services: [
    { name: 'obs', service_type: 'gateway', prefix_list: { id: 'pl-obs', cidrs: ['100.125.0.0/24'] }, ports: [{ port: 18090, target: '127.0.0.1:19000' }] },
  ],
});

describe('mutations sent at once', () => {
  let d: TestDaemon;
  let ec2: Record<keyof typeof AWS_KEYS, EC2Client>;
  let elb: ElasticLoadBalancingV2Client;

  beforeAll(async () => {
    d = await startTestDaemon(config());
    ec2 = ec2Clients(d.url, AWS_KEYS);
    elb = new ElasticLoadBalancingV2Client({
      region: 'us-east-1', endpoint: d.url, maxAttempts: 1,
      credentials: { accessKeyId: AWS_KEYS.provider.access_key_id, secretAccessKey: AWS_KEYS.provider.secret_access_key },
    });
  });

  afterAll(async () => {
    for (const c of Object.values(ec2 ?? {})) c.destroy();
    elb?.destroy();
    await d?.stop();
  });

  it('the endpoint-service quota holds: 12 creates at once against a quota of 5 make exactly 5', async () => {
    const made = await Promise.all(Array.from({ length: 12 }, (_, i) => d.provider.post('/vpc-endpoint-services', {
      ...SERVICE_BODY, service_name: `q${i}`, ports: [{ client_port: 4000 + i, server_port: 8080, protocol: 'TCP' }],
    })));
    expect(made.filter((r) => r.status === 200)).toHaveLength(5);
    for (const r of made.filter((x) => x.status !== 200)) expect(r.body.error_code).toBe('EndPoint.2060');
    const quota = await d.provider.get('/quotas?type=endpoint_service');
    expect(quota.body.quotas.resources[0]).toMatchObject({ used: 5, quota: 5 });
    for (const r of made.filter((x) => x.status === 200)) expect((await d.provider.delete(`/vpc-endpoint-services/${r.body.id}`)).status).toBe(204);
  });

  it('names stay unique: 6 security groups, load balancers and target groups of one name at once make one of each (the creates of a load balancer or target group with the winner\'s settings answered with it)', async () => {
    const vpc = (await ec2.provider.send(new CreateVpcCommand({ CidrBlock: '10.70.0.0/16' }))).Vpc!.VpcId!;
    const subnet = (await ec2.provider.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.70.1.0/24' }))).Subnet!.SubnetId!;
    const groups = await Promise.allSettled(Array.from({ length: 6 }, () => ec2.provider.send(new CreateSecurityGroupCommand({ VpcId: vpc, GroupName: 'same', Description: 'd' }))));
    expect(groups.filter((g) => g.status === 'fulfilled')).toHaveLength(1);
    for (const g of groups) if (g.status === 'rejected') expect((g.reason as Error).name).toBe('InvalidGroup.Duplicate');
    const listed = await ec2.provider.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: ['same'] }] }));
    expect(listed.SecurityGroups).toHaveLength(1);

    // a create with the winner's settings answers its resource (ELBv2's creates are idempotent), one with other settings is refused
    const idempotent = <T>(results: Array<PromiseSettledResult<T>>, arn: (x: T) => string | undefined, code: string) => {
      const answered = results.flatMap((r) => (r.status === 'fulfilled' ? [arn(r.value)] : []));
      expect(answered).toHaveLength(3);
      expect(new Set(answered).size).toBe(1);
      for (const g of results) if (g.status === 'rejected') expect((g.reason as Error).name).toBe(code);
    };
    const lbs = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => elb.send(new CreateLoadBalancerCommand({ Name: 'same-lb', Type: 'network', Scheme: i % 2 ? 'internal' : 'internet-facing', Subnets: [subnet] }))));
    idempotent(lbs, (o) => o.LoadBalancers?.[0]?.LoadBalancerArn, 'DuplicateLoadBalancerNameException');
    expect((await elb.send(new DescribeLoadBalancersCommand({ Names: ['same-lb'] }))).LoadBalancers).toHaveLength(1);

    const tgs = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => elb.send(new CreateTargetGroupCommand({ Name: 'same-tg', Protocol: 'TCP', Port: 80 + (i % 2), VpcId: vpc, TargetType: 'ip' }))));
    idempotent(tgs, (o) => o.TargetGroups?.[0]?.TargetGroupArn, 'DuplicateTargetGroupNameException');
    const named = await elb.send(new DescribeTargetGroupsCommand({ Names: ['same-tg'] }));
    expect(named.TargetGroups).toHaveLength(1);
  });

  it('a route table routes to a gateway service through one endpoint: 6 creates at once on one table make one', async () => {
    const pub = await d.consumer.get('/vpc-endpoint-services/public');
    const obs = pub.body.endpoint_services.find((s: { service_name: string }) => s.service_name.endsWith('obs')).id;
    const made = await Promise.all(Array.from({ length: 6 }, () => d.consumer.post('/vpc-endpoints', { endpoint_service_id: obs, vpc_id: 'vpc-client', routetables: ['rtb-a'] })));
    expect(made.filter((r) => r.status === 200)).toHaveLength(1);
    for (const r of made.filter((x) => x.status !== 200)) expect(r.body.error_code).toBe('EndPoint.2039');
    const table = await d.consumer.get('/routetables/rtb-a');
    expect(table.body.routetable.routes.filter((r: { destination: string }) => r.destination === 'pl-obs')).toHaveLength(1);
  });

  it('a security group deleted while an endpoint is created with it, or has it added: one of the two is refused, never both made', async () => {
    const svc = await createAvailableService(d, { ...SERVICE_BODY, service_name: 'sg', approval_enabled: false, ports: [{ client_port: 5998, server_port: 8080, protocol: 'TCP' }] });
    expect((await d.provider.post(`/vpc-endpoint-services/${svc.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] })).status).toBe(200);
    const serviceName = `com.amazonaws.vpce.us-east-1.${svc.id}`;
    const groupsOf = async (id: string) => (await ec2.consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [id] }))).VpcEndpoints![0]!.Groups!.map((g) => g.GroupId);
    const exists = async (group: string) => ((await ec2.consumer.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-id', Values: [group] }] }))).SecurityGroups ?? []).length === 1;
    const base = (await ec2.consumer.send(new CreateVpcEndpointCommand({ VpcEndpointType: 'Interface', VpcId: 'vpc-client', ServiceName: serviceName, SubnetIds: ['subnet-a'] }))).VpcEndpoint!.VpcEndpointId!;
    for (let round = 0; round < 6; round++) {
      const group = (await ec2.consumer.send(new CreateSecurityGroupCommand({ VpcId: 'vpc-client', GroupName: `race-${round}`, Description: 'd' }))).GroupId!;
      // the delete first, the create (or the change) right behind it: each waits its turn in the queue
      const [del, use] = await Promise.allSettled([
        ec2.consumer.send(new DeleteSecurityGroupCommand({ GroupId: group })),
        round % 2 === 0
          ? ec2.consumer.send(new CreateVpcEndpointCommand({ VpcEndpointType: 'Interface', VpcId: 'vpc-client', ServiceName: serviceName, SubnetIds: ['subnet-a'], SecurityGroupIds: [group] }))
          : ec2.consumer.send(new ModifyVpcEndpointCommand({ VpcEndpointId: base, AddSecurityGroupIds: [group] })),
      ]);
      expect([del.status, use.status], `round ${round}`).not.toEqual(['fulfilled', 'fulfilled']);
      if (del.status === 'fulfilled') {
        expect((use as PromiseRejectedResult).reason.name).toBe('InvalidGroup.NotFound');
        expect(await exists(group)).toBe(false);
      } else {
        expect((del.reason as Error).name).toBe('DependencyViolation');
        expect(await exists(group)).toBe(true);
      }
      if (round % 2 === 1) expect((await groupsOf(base)).includes(group)).toBe(use.status === 'fulfilled');
    }
  });

  it('80 changes of one endpoint at once all land, in order, without a conflict', async () => {
    const svc = await createAvailableService(d, { ...SERVICE_BODY, service_name: 'put', approval_enabled: false, ports: [{ client_port: 5999, server_port: 8080, protocol: 'TCP' }] });
    expect((await d.provider.post(`/vpc-endpoint-services/${svc.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] })).status).toBe(200);
    const ep = await createAcceptedEndpoint(d.consumer, { endpoint_service_id: svc.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
    const puts = await Promise.all(Array.from({ length: 80 }, (_, k) => d.consumer.put(`/vpc-endpoints/${ep.id}`, { whitelist: [`10.9.9.${k}`], enable_whitelist: true })));
    expect(puts.map((r) => r.status)).toEqual(puts.map(() => 200));
    // the calls were answered in the order they were sent: the last one's whitelist is what is stored
    expect((await d.consumer.get(`/vpc-endpoints/${ep.id}`)).body.whitelist).toEqual(['10.9.9.79']);
  });
});

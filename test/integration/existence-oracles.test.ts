// What a caller can learn about other tenants (issue 10, item 4): nothing. An id the caller may not
// see answers as an unknown id does; the unauthenticated /metrics carries no endpoint or service id; the
// effective configuration names the caller's VPCs only, and no count of accounts or VPCs.
import * as EC2 from '@aws-sdk/client-ec2';
import * as ELB from '@aws-sdk/client-elastic-load-balancing-v2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configKeyPaths } from '../../src/model/config.js';
import {
  CONSUMER, METRICS_TOKEN, PROVIDER, SERVICE_BODY, createAvailableService, parseMetrics, skipWithoutPortPrivilege, startTestDaemon, twoAccountConfig, waitFor,
  type TestDaemon,
} from '../helpers.js';
import { AWS_KEYS, ec2Clients, refused } from './aws-sdk.js';

/** a third account with its own service, to which the consumer connects */
const THIRD = { name: 'third', domain_id: 'd3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3', project_id: 'e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3', token: 'third-secret' };
const THIRD_KEY = { account_id: '333333333333', access_key_id: 'AKIATHIRD00000000003', secret_access_key: 'third-secret-key-0123456789abcdef' };

function config(): Record<string, unknown> {
  const base = twoAccountConfig();
  return {
    ...base,
    accounts: [{ ...PROVIDER, aws: AWS_KEYS.provider }, { ...CONSUMER, aws: AWS_KEYS.consumer }, { ...THIRD, aws: THIRD_KEY }],
    vpcs: [
      ...(base.vpcs as unknown[]),
      {
        id: 'vpc-third', account: 'third', cidr: '172.20.0.0/16',
        subnets: [{ id: 'subnet-third', cidr: '172.20.1.0/24' }],
        ports: [{ id: 'port-third', subnet: 'subnet-third', ip: '172.20.1.10', type: 'VM', target: '127.0.0.1' }],
      },
    ],
  };
}

let d: TestDaemon;
/** the provider's service, the consumer's endpoint on it, and the consumer's endpoint on the third account's service */
let svc: string;
let epOnProvider: string;
let epOnThird: string;

async function endpointOn(serviceId: string, subnet: string): Promise<string> {
  const r = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: serviceId, vpc_id: 'vpc-client', subnet_id: subnet });
  expect(r.status).toBe(200);
  return r.body.id;
}

beforeAll(async () => {
  d = await startTestDaemon(config());
  const third = d.client(THIRD.token, THIRD.project_id);
  svc = (await createAvailableService(d, { ...SERVICE_BODY, approval_enabled: true })).id;
  expect((await d.provider.post(`/vpc-endpoint-services/${svc}/permissions/action`, { action: 'add', permissions: ['*'] })).status).toBe(200);
  const t = await third.post('/vpc-endpoint-services', { ...SERVICE_BODY, port_id: 'port-third', vpc_id: 'vpc-third', service_name: 'third' });
  expect(t.status).toBe(200);
  await waitFor(async () => (await third.get(`/vpc-endpoint-services/${t.body.id}`)).body.status === 'available', 5_000, 'third service');
  expect((await third.post(`/vpc-endpoint-services/${t.body.id}/permissions/action`, { action: 'add', permissions: ['*'] })).status).toBe(200);
  epOnProvider = await endpointOn(svc, 'subnet-a');
  epOnThird = await endpointOn(t.body.id, 'subnet-b');
});

afterAll(async () => {
  await d?.stop();
});

describe('existence oracles', () => {
  it('a connection action naming another tenant\'s endpoint answers 404 EndPoint.2006, as an unknown id does, and changes nothing', async () => {
    const unknown = await d.provider.post(`/vpc-endpoint-services/${svc}/connections/action`, { action: 'receive', endpoints: ['00000000-0000-4000-8000-000000000000'] });
    const other = await d.provider.post(`/vpc-endpoint-services/${svc}/connections/action`, { action: 'receive', endpoints: [epOnThird] });
    expect(unknown).toEqual({ status: 404, body: { error_code: 'EndPoint.2006', error_msg: 'endpoint 00000000-0000-4000-8000-000000000000 does not exist' } });
    expect(other).toEqual({ status: 404, body: { error_code: 'EndPoint.2006', error_msg: `endpoint ${epOnThird} does not exist` } });
    expect((await d.consumer.get(`/vpc-endpoints/${epOnThird}`)).body.status).toBe('pendingAcceptance');
    // an endpoint connected to the caller's service stays visible to it
    const own = await d.provider.post(`/vpc-endpoint-services/${svc}/connections/action`, { action: 'receive', endpoints: [epOnProvider] });
    expect(own.status).toBe(200);
    await waitFor(async () => (await d.consumer.get(`/vpc-endpoints/${epOnProvider}`)).body.status === 'accepted', 5_000, 'endpoint accepted');
  });

  it('the unauthenticated GET /metrics names no endpoint, service or backend: their series need the metrics token', async () => {
    skipWithoutPortPrivilege(); // the accepted endpoint of the test before
    const open = await (await fetch(`${d.url}/metrics`)).text();
    expect(open).toMatch(/^vpcep_active_connections \d+$/m);
    expect(parseMetrics(open).filter((s) => 'endpoint_id' in s.labels || 'service_id' in s.labels || 'backend' in s.labels)).toEqual([]);
    for (const id of [epOnProvider, epOnThird, svc]) expect(open).not.toContain(id);

    const withToken = await (await fetch(`${d.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
    expect(withToken).toContain(`vpcep_endpoint_connections_total{endpoint_id="${epOnProvider}"}`);
    // the service's backend (port-web's real address), as the operator's scraper sees it
    expect(withToken).toMatch(new RegExp(`^vpcep_backend_up\\{service_id="${svc}",backend="127\\.0\\.0\\.1:\\d+",zone="[^"]+"\\} 1$`, 'm'));
    expect(withToken).toMatch(/^vpcep_active_connections \d+$/m);

    for (const authorization of ['Bearer wrong-token-0123456789', `Basic ${METRICS_TOKEN}`, PROVIDER.token]) {
      const r = await fetch(`${d.url}/metrics`, { headers: { authorization } });
      expect(r.status).toBe(401);
      expect(await r.json()).toEqual({ error_code: 'EndPoint.0003', error_msg: expect.stringContaining('Bearer') });
    }
  });

  it('GET /sim/config names the caller\'s VPCs only, and neither how many accounts nor how many VPCs there are', async () => {
    const c = await d.consumer.get('/sim/config');
    expect(c.status).toBe(200);
    expect(c.body.vpcs).toEqual(['vpc-client']);
    expect(c.body).not.toHaveProperty('accounts');
    const text = JSON.stringify(c.body);
    for (const secret of ['vpc-app', 'vpc-third', 'vpc-provider-client', PROVIDER.name, THIRD.name, PROVIDER.token, METRICS_TOKEN]) {
      expect(text).not.toContain(secret);
    }
    expect((await d.provider.get('/sim/config')).body.vpcs).toEqual(['vpc-app', 'vpc-provider-client']);
    const anonymous = await d.client(undefined, CONSUMER.project_id).get('/sim/config');
    expect(anonymous.status).toBe(401);
  });

  it('GET /sim/config answers every key of the config file, in its spelling, with the values in effect: no secret, nothing of another tenant', async () => {
    const webhook = 'http://hook-user:hook-pa55word@127.0.0.1:9/hook';
    const consumerTopic = 'arn:aws:sns:us-east-1:222222222222:consumer-events';
    const base = config();
    const e = await startTestDaemon({
      ...base,
      zones: ['sim-1a', 'sim-1b'],
      accounts: [
        { ...PROVIDER, aws: AWS_KEYS.provider },
        { ...CONSUMER, aws: AWS_KEYS.consumer, quotas: { endpoint: 7 } },
        { ...THIRD, aws: THIRD_KEY },
      ],
      dataplane: { snat_ports: '2000-3000', idle_timeout_ms: 1234 },
      flow_logs: { destination: 'file', file: 'flows/f.log', max_files: 3, rotate_every: 'hourly' },
      dns: { ttl: 7, forward: true, forwarders: ['192.0.2.53:53'], public_records: [{ name: '_v.example.com', type: 'TXT', value: 'vpce:x' }] },
      faults: { enabled: true, listen: '127.0.0.1:0', provisioning_delay_ms: 25 },
      fleet: { node_name: 'gw-7' },
      public_services: [{ name: 'kv', service_type: 'interface', ports: [{ port: 6379, target: '127.0.0.1:16379' }] }],
      aws: {
        sns_topics: [
          { arn: consumerTopic, url: webhook, accounts: ['222222222222', '333333333333'] },
          { arn: 'arn:aws:sns:us-east-1:111111111111:provider-events', url: 'http://127.0.0.1:9/other' },
        ],
      },
    });
    try {
      const c = await e.consumer.get('/sim/config');
      expect(c.status).toBe(200);
      expect({ ...c.body, defaults: undefined }).toEqual({
        region: 'sim-1',
        zones: ['sim-1a', 'sim-1b'],
        listen: '127.0.0.1:0',
        store: 'sqlite',
        store_durability: 'process',
        dataplane: {
          snat: 'auto', backend_connect_timeout_ms: 5000, idle_timeout_ms: 1234, drain_timeout_ms: 30000, max_connections: 1000000,
          on_premises: 'allow', socket_buffer_bytes: 262144, snat_ports: '2000-3000', deregistration_delay_s: 300,
          health_check: { interval: 30, timeout: 10, healthy_threshold: 5, unhealthy_threshold: 2 },
          unhealthy_connection_termination: { enabled: true, draining_interval: 0 },
        },
        api: { max_pipelined_requests: 16, max_connections: 128, request_timeout_ms: 30000, headers_timeout_ms: 10000, idle_timeout_ms: 60000, keep_alive_timeout_ms: 10000 },
        flow_logs: { destination: 'file', file: 'flows/f.log', aggregation_interval_s: 600, max_file_bytes: 104857600, rotate_every: 'hourly', max_files: 3, buffer_bytes: 4194304 },
        dns: { enabled: true, listen: '127.0.0.1:0', ttl: 7, forward: true, forwarders: ['192.0.2.53:53'], public_records: [{ name: '_v.example.com', type: 'TXT', value: 'vpce:x' }] },
        faults: { enabled: true, listen: '127.0.0.1:0', provisioning_delay_ms: 25 },
        fleet: { lease_ttl_seconds: 5, node_name: 'gw-7' },
        metrics: {},
        account: {
          name: CONSUMER.name, domain_id: CONSUMER.domain_id, project_id: CONSUMER.project_id,
          quotas: { endpoint_service: 20, endpoint: 7, connections_per_endpoint: 3000, vpc: 5, dns_records: 1000 },
          aws: { account_id: AWS_KEYS.consumer.account_id, access_key_id: AWS_KEYS.consumer.access_key_id },
        },
        vpcs: ['vpc-client'],
        public_services: ['kv'],
        aws: { sns_topics: [{ arn: consumerTopic }] },
      });
      expect(c.body.defaults.dataplane.idleTimeoutMs).toBe(350_000);

      // every key of the file is there, or withheld: secrets, and the other tenants (the caller's
      // own account entry is `account`; VPCs and public services by id and name)
      const paths = (v: unknown, at: string): string[] => {
        if (Array.isArray(v)) return v.flatMap((x) => paths(x, `${at}[]`));
        if (v === null || typeof v !== 'object') return [];
        return Object.entries(v).flatMap(([k, x]) => [at ? `${at}.${k}` : k, ...paths(x, at ? `${at}.${k}` : k)]);
      };
      const withheld = /^(metrics\.token|accounts\[\]\.token|accounts\[\]\.aws\.secret_access_key|aws\.sns_topics\[\]\.(url|accounts)|vpcs\[\]\..*|public_services\[\]\..*)$/;
      const fileKeys = configKeyPaths().filter((k) => !withheld.test(k)).map((k) => k.replace(/^accounts(\[\])?/, 'account'));
      const shown = [...new Set(paths(c.body, ''))].filter((k) => k !== 'defaults' && !k.startsWith('defaults.'));
      expect(shown.sort()).toEqual([...new Set(fileKeys)].sort());

      const text = JSON.stringify(c.body);
      for (const secret of [
        CONSUMER.token, PROVIDER.token, THIRD.token, METRICS_TOKEN, AWS_KEYS.consumer.secret_access_key, AWS_KEYS.provider.secret_access_key,
        THIRD_KEY.secret_access_key, webhook, 'hook-pa55word', 'http://127.0.0.1:9/other',
        // the other tenants: names, ids, VPCs, AWS ids and keys
        PROVIDER.name, THIRD.name, PROVIDER.domain_id, PROVIDER.project_id, THIRD.domain_id, THIRD.project_id, 'vpc-app', 'vpc-provider-client', 'vpc-third',
        AWS_KEYS.provider.account_id, AWS_KEYS.provider.access_key_id, THIRD_KEY.account_id, THIRD_KEY.access_key_id,
      ]) expect(text).not.toContain(secret);
    } finally {
      await e.stop();
    }
  });
});

describe('existence oracles through the AWS APIs', () => {
  /** the SDK's answer to a call: its error (code, status, message) or what it answered */
  const outcome = (p: Promise<unknown>) => p.then((r) => ({ answered: JSON.stringify({ ...(r as object), $metadata: undefined }) }), () => refused(p));

  it('another account\'s ids (either dialect\'s) answer as unknown ids of the same shape do, for reads and writes, and change nothing', async () => {
    const o = { endpoint: d.url, region: 'us-east-1', maxAttempts: 1 };
    const cred = (k: { access_key_id: string; secret_access_key: string }) => ({ accessKeyId: k.access_key_id, secretAccessKey: k.secret_access_key });
    const { provider: ec2, third } = ec2Clients(d.url, { provider: AWS_KEYS.provider, third: THIRD_KEY });
    const elb = new ELB.ElasticLoadBalancingV2Client({ ...o, credentials: cred(AWS_KEYS.provider) });
    const elb3 = new ELB.ElasticLoadBalancingV2Client({ ...o, credentials: cred(THIRD_KEY) });
    // the provider's network, NLB and service through the AWS APIs
    const vpc = (await ec2.send(new EC2.CreateVpcCommand({ CidrBlock: '10.66.0.0/16' }))).Vpc!.VpcId!;
    const subnet = (await ec2.send(new EC2.CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.66.1.0/24' }))).Subnet!.SubnetId!;
    const sg = (await ec2.send(new EC2.CreateSecurityGroupCommand({ VpcId: vpc, GroupName: 'mine', Description: 'x' }))).GroupId!;
    const rtb = (await ec2.send(new EC2.CreateRouteTableCommand({ VpcId: vpc }))).RouteTable!.RouteTableId!;
    const lb = (await elb.send(new ELB.CreateLoadBalancerCommand({ Name: 'mine', Type: 'network', Scheme: 'internal', Subnets: [subnet] }))).LoadBalancers![0]!.LoadBalancerArn!;
    const tg = (await elb.send(new ELB.CreateTargetGroupCommand({ Name: 'mine', Protocol: 'TCP', Port: 80, VpcId: vpc, TargetType: 'ip' }))).TargetGroups![0]!.TargetGroupArn!;
    const listener = (await elb.send(new ELB.CreateListenerCommand({ LoadBalancerArn: lb, Protocol: 'TCP', Port: 8443, DefaultActions: [{ Type: 'forward', TargetGroupArn: tg }] }))).Listeners![0]!.ListenerArn!;
    const awsSvc = (await ec2.send(new EC2.CreateVpcEndpointServiceConfigurationCommand({ NetworkLoadBalancerArns: [lb] }))).ServiceConfiguration!.ServiceId!;
    const before = JSON.stringify(await Promise.all([
      ec2.send(new EC2.DescribeVpcsCommand({ VpcIds: [vpc] })), ec2.send(new EC2.DescribeSecurityGroupsCommand({ GroupIds: [sg] })),
      ec2.send(new EC2.DescribeVpcEndpointServiceConfigurationsCommand({})), ec2.send(new EC2.DescribeVpcEndpointServicePermissionsCommand({ ServiceId: awsSvc })),
      elb.send(new ELB.DescribeTargetGroupsCommand({ TargetGroupArns: [tg] })), elb.send(new ELB.DescribeTagsCommand({ ResourceArns: [lb, tg, listener] })),
    ]).then((rs) => rs.map((r) => ({ ...r, $metadata: undefined }))));

    /** an unknown id of the same shape: the same prefix, other hex digits */
    const unknown = (id: string) => id.replace(/[0-9a-f]{12}$/, '0badc0ffee00');
    const tagged = [{ Key: 'planted', Value: 'x' }];
    const calls: Array<[string, (id: string) => Promise<unknown>]> = [
      [vpc, (id) => third.send(new EC2.DescribeVpcsCommand({ VpcIds: [id] }))],
      [vpc, (id) => third.send(new EC2.DescribeVpcAttributeCommand({ VpcId: id, Attribute: 'enableDnsSupport' }))],
      [vpc, (id) => third.send(new EC2.CreateSubnetCommand({ VpcId: id, CidrBlock: '10.66.2.0/24' }))],
      [vpc, (id) => third.send(new EC2.CreateSecurityGroupCommand({ VpcId: id, GroupName: 'in-yours', Description: 'x' }))],
      [vpc, (id) => third.send(new EC2.ModifyVpcAttributeCommand({ VpcId: id, EnableDnsHostnames: { Value: true } }))],
      [vpc, (id) => third.send(new EC2.DeleteVpcCommand({ VpcId: id }))],
      [subnet, (id) => third.send(new EC2.DescribeSubnetsCommand({ SubnetIds: [id] }))],
      [subnet, (id) => third.send(new EC2.DeleteSubnetCommand({ SubnetId: id }))],
      [sg, (id) => third.send(new EC2.DescribeSecurityGroupsCommand({ GroupIds: [id] }))],
      [sg, (id) => third.send(new EC2.AuthorizeSecurityGroupIngressCommand({ GroupId: id, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 1, ToPort: 65535, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] }))],
      [sg, (id) => third.send(new EC2.DeleteSecurityGroupCommand({ GroupId: id }))],
      [rtb, (id) => third.send(new EC2.DescribeRouteTablesCommand({ RouteTableIds: [id] }))],
      [rtb, (id) => third.send(new EC2.CreateRouteCommand({ RouteTableId: id, DestinationCidrBlock: '0.0.0.0/0', GatewayId: 'igw-1' }))],
      [rtb, (id) => third.send(new EC2.DeleteRouteTableCommand({ RouteTableId: id }))],
      [awsSvc, (id) => third.send(new EC2.DescribeVpcEndpointServiceConfigurationsCommand({ ServiceIds: [id] }))],
      [awsSvc, (id) => third.send(new EC2.DescribeVpcEndpointServicesCommand({ ServiceNames: [`com.amazonaws.vpce.us-east-1.${id}`] }))],
      [awsSvc, (id) => third.send(new EC2.DescribeVpcEndpointServicePermissionsCommand({ ServiceId: id }))],
      [awsSvc, (id) => third.send(new EC2.ModifyVpcEndpointServicePermissionsCommand({ ServiceId: id, AddAllowedPrincipals: ['*'] }))],
      [awsSvc, (id) => third.send(new EC2.ModifyVpcEndpointServiceConfigurationCommand({ ServiceId: id, AcceptanceRequired: false }))],
      [awsSvc, (id) => third.send(new EC2.AcceptVpcEndpointConnectionsCommand({ ServiceId: id, VpcEndpointIds: [epOnProvider] }))],
      [awsSvc, (id) => third.send(new EC2.DeleteVpcEndpointServiceConfigurationsCommand({ ServiceIds: [id] }))],
      [awsSvc, (id) => third.send(new EC2.CreateVpcEndpointCommand({ VpcEndpointType: 'Interface', VpcId: 'vpc-third', ServiceName: `com.amazonaws.vpce.us-east-1.${id}`, SubnetIds: ['subnet-third'] }))],
      [svc, (id) => third.send(new EC2.DescribeVpcEndpointServiceConfigurationsCommand({ ServiceIds: [id] }))],
      [svc, (id) => third.send(new EC2.RejectVpcEndpointConnectionsCommand({ ServiceId: id, VpcEndpointIds: [epOnProvider] }))],
      [epOnProvider, (id) => third.send(new EC2.DescribeVpcEndpointsCommand({ VpcEndpointIds: [id] }))],
      [epOnProvider, (id) => third.send(new EC2.ModifyVpcEndpointCommand({ VpcEndpointId: id, ResetPolicy: true }))],
      [epOnProvider, (id) => third.send(new EC2.DeleteVpcEndpointsCommand({ VpcEndpointIds: [id] }))],
      [vpc, (id) => third.send(new EC2.CreateTagsCommand({ Resources: [id], Tags: tagged }))],
      [sg, (id) => third.send(new EC2.CreateTagsCommand({ Resources: [id], Tags: tagged }))],
      [awsSvc, (id) => third.send(new EC2.DeleteTagsCommand({ Resources: [id] }))],
      [lb, (id) => elb3.send(new ELB.DescribeLoadBalancersCommand({ LoadBalancerArns: [id] }))],
      [lb, (id) => elb3.send(new ELB.DescribeLoadBalancerAttributesCommand({ LoadBalancerArn: id }))],
      [lb, (id) => elb3.send(new ELB.ModifyLoadBalancerAttributesCommand({ LoadBalancerArn: id, Attributes: [{ Key: 'deletion_protection.enabled', Value: 'true' }] }))],
      [lb, (id) => elb3.send(new ELB.CreateListenerCommand({ LoadBalancerArn: id, Protocol: 'TCP', Port: 9443, DefaultActions: [{ Type: 'forward', TargetGroupArn: tg }] }))],
      [lb, (id) => elb3.send(new ELB.AddTagsCommand({ ResourceArns: [id], Tags: tagged }))],
      [lb, (id) => elb3.send(new ELB.DeleteLoadBalancerCommand({ LoadBalancerArn: id }))],
      [tg, (id) => elb3.send(new ELB.DescribeTargetGroupsCommand({ TargetGroupArns: [id] }))],
      [tg, (id) => elb3.send(new ELB.DescribeTargetHealthCommand({ TargetGroupArn: id }))],
      [tg, (id) => elb3.send(new ELB.RegisterTargetsCommand({ TargetGroupArn: id, Targets: [{ Id: '127.0.0.1', Port: 1, AvailabilityZone: 'all' }] }))],
      [tg, (id) => elb3.send(new ELB.ModifyTargetGroupAttributesCommand({ TargetGroupArn: id, Attributes: [{ Key: 'proxy_protocol_v2.enabled', Value: 'true' }] }))],
      [tg, (id) => elb3.send(new ELB.DeleteTargetGroupCommand({ TargetGroupArn: id }))],
      [listener, (id) => elb3.send(new ELB.DescribeListenersCommand({ ListenerArns: [id] }))],
      [listener, (id) => elb3.send(new ELB.DeleteListenerCommand({ ListenerArn: id }))],
    ];
    for (const [id, call] of calls) {
      const other = unknown(id);
      expect(other).not.toBe(id);
      const real = JSON.stringify(await outcome(call(id))).replaceAll(id, '<id>');
      const made = JSON.stringify(await outcome(call(other))).replaceAll(other, '<id>');
      expect(real, `${call.toString()} with ${id}`).toBe(made);
    }
    const after = JSON.stringify(await Promise.all([
      ec2.send(new EC2.DescribeVpcsCommand({ VpcIds: [vpc] })), ec2.send(new EC2.DescribeSecurityGroupsCommand({ GroupIds: [sg] })),
      ec2.send(new EC2.DescribeVpcEndpointServiceConfigurationsCommand({})), ec2.send(new EC2.DescribeVpcEndpointServicePermissionsCommand({ ServiceId: awsSvc })),
      elb.send(new ELB.DescribeTargetGroupsCommand({ TargetGroupArns: [tg] })), elb.send(new ELB.DescribeTagsCommand({ ResourceArns: [lb, tg, listener] })),
    ]).then((rs) => rs.map((r) => ({ ...r, $metadata: undefined }))));
    expect(after).toBe(before);
    skipWithoutPortPrivilege();
    expect((await d.consumer.get(`/vpc-endpoints/${epOnProvider}`)).body.status).toBe('accepted');
    for (const c of [ec2, third, elb, elb3]) c.destroy();
  });
});

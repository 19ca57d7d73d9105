// CreateVpcEndpoint's ClientToken is the domain's, kept on the endpoint's document (README "Supported
// actions"): a retry after a restart answers the endpoint the first call made (before, the token was
// the EC2 dialect's memory and a restart forgot it: the retry made a second endpoint); the same token
// with other parameters is IdempotentParameterMismatch; each account's tokens are its own; two calls
// with one token at once make one endpoint; a deleted endpoint's token is free again. The same for
// CreateVpcEndpointServiceConfiguration and CreateVpcEndpointConnectionNotification (before: their
// token was echoed only, every retry made another), and for CreateRouteTable and CreateNetworkAcl
// (before: echoed, not kept: a retry made a second table or ACL).
import {
  CreateNetworkAclCommand, CreateRouteTableCommand, CreateVpcCommand, CreateVpcEndpointCommand, CreateVpcEndpointConnectionNotificationCommand,
  CreateVpcEndpointServiceConfigurationCommand, DeleteNetworkAclCommand, DeleteVpcEndpointsCommand, DescribeNetworkAclsCommand, DescribeRouteTablesCommand,
  DescribeVpcEndpointConnectionNotificationsCommand, DescribeVpcEndpointsCommand, DescribeVpcEndpointServiceConfigurationsCommand, EC2Client,
  ModifyVpcEndpointServicePermissionsCommand,
} from '@aws-sdk/client-ec2';
import { CreateLoadBalancerCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CONSUMER, PROVIDER, SERVICE_BODY, startTestDaemon, tempDir, twoAccountConfig, waitFor, type TestDaemon } from '../helpers.js';
import { AWS_KEYS, ec2Clients, refused } from './aws-sdk.js';
import { echo, randomPort, startBackend, type TestBackend } from './backends.js';

const REGION = 'us-east-1';
const TOPIC = `arn:aws:sns:${REGION}:${AWS_KEYS.provider.account_id}:events`;
const CONFIG = twoAccountConfig({
  accounts: [{ ...PROVIDER, aws: AWS_KEYS.provider }, { ...CONSUMER, aws: AWS_KEYS.consumer }],
  // nothing listens there: no event is sent in these tests
  aws: { sns_topics: [{ arn: TOPIC, url: 'http://127.0.0.1:9/events' }] },
});

let backend: TestBackend;
const daemons = new Set<TestDaemon>();
const clients = new Set<EC2Client>();

beforeAll(async () => {
  backend = await startBackend(echo);
});

afterAll(async () => {
  for (const c of clients) c.destroy();
  for (const d of daemons) await d.stop();
  await backend?.close();
});

async function start(dir: string): Promise<{ d: TestDaemon; ec2: Record<keyof typeof AWS_KEYS, EC2Client> }> {
  const d = await startTestDaemon(CONFIG, dir);
  daemons.add(d);
  const ec2 = ec2Clients(d.url, AWS_KEYS, REGION);
  for (const c of Object.values(ec2)) clients.add(c);
  return { d, ec2 };
}

async function stop(d: TestDaemon): Promise<void> {
  daemons.delete(d);
  await d.stop();
}

/** the provider's service (no acceptance) open to the consumer: its AWS name */
async function openService(d: TestDaemon, ec2: Record<keyof typeof AWS_KEYS, EC2Client>): Promise<string> {
  const svc = await d.provider.post('/vpc-endpoint-services', { ...SERVICE_BODY, approval_enabled: false, ports: [{ client_port: randomPort(), server_port: backend.port, protocol: 'TCP' }] });
  expect(svc.status, JSON.stringify(svc.body)).toBe(200);
  await waitFor(async () => (await d.provider.get(`/vpc-endpoint-services/${svc.body.id}`)).body.status === 'available', 5_000, 'service available');
  await ec2.provider.send(new ModifyVpcEndpointServicePermissionsCommand({ ServiceId: svc.body.id, AddAllowedPrincipals: [`arn:aws:iam::${AWS_KEYS.consumer.account_id}:root`] }));
  return `com.amazonaws.vpce.${REGION}.${svc.body.id}`;
}

async function endpointsOf(ec2: EC2Client, serviceName: string): Promise<string[]> {
  const out = await ec2.send(new DescribeVpcEndpointsCommand({ Filters: [{ Name: 'service-name', Values: [serviceName] }] }));
  return out.VpcEndpoints!.map((e) => e.VpcEndpointId!).sort();
}

it('a ClientToken retried after a restart answers the first endpoint (before: a restart forgot it, a second endpoint)', async () => {
  const dir = tempDir();
  const first = await start(dir);
  const name = await openService(first.d, first.ec2);
  const input = { VpcEndpointType: 'Interface' as const, VpcId: 'vpc-client', ServiceName: name, SubnetIds: ['subnet-a'], ClientToken: 'restart-token' };
  const made = (await first.ec2.consumer.send(new CreateVpcEndpointCommand(input))).VpcEndpoint!;
  await stop(first.d);

  const second = await start(dir);
  const again = await second.ec2.consumer.send(new CreateVpcEndpointCommand(input));
  expect(again.VpcEndpoint!.VpcEndpointId).toBe(made.VpcEndpointId);
  expect(again.ClientToken).toBe('restart-token');
  expect(await endpointsOf(second.ec2.consumer, name)).toEqual([made.VpcEndpointId]);
  // the parameters are remembered too: other ones are still refused
  const other = await refused(second.ec2.consumer.send(new CreateVpcEndpointCommand({ ...input, SubnetIds: ['subnet-b'] })));
  expect(other).toMatchObject({ code: 'IdempotentParameterMismatch', status: 400 });
  expect(await endpointsOf(second.ec2.consumer, name)).toEqual([made.VpcEndpointId]);
  await stop(second.d);
});

it('each account\'s tokens are its own; one token at once twice makes one endpoint; a deleted endpoint\'s token is free', async () => {
  const { d, ec2 } = await start(tempDir());
  const name = await openService(d, ec2);
  const consumerInput = { VpcEndpointType: 'Interface' as const, VpcId: 'vpc-client', ServiceName: name, SubnetIds: ['subnet-a'], ClientToken: 'shared-token' };
  // two calls with one token at once, through one daemon: one endpoint, both answered with it
  const both = await Promise.all([0, 1, 2].map(() => ec2.consumer.send(new CreateVpcEndpointCommand(consumerInput))));
  const ids = new Set(both.map((o) => o.VpcEndpoint!.VpcEndpointId));
  expect(ids.size).toBe(1);
  const [id] = [...ids];
  expect(await endpointsOf(ec2.consumer, name)).toEqual([id]);
  // the provider's same token, other parameters: its own endpoint, no mismatch
  const providers = (await ec2.provider.send(new CreateVpcEndpointCommand({ ...consumerInput, VpcId: 'vpc-provider-client', SubnetIds: ['subnet-pc'] }))).VpcEndpoint!;
  expect(providers.VpcEndpointId).not.toBe(id);
  expect((await refused(ec2.consumer.send(new CreateVpcEndpointCommand({ ...consumerInput, PrivateDnsEnabled: false }))))).toMatchObject({ code: 'IdempotentParameterMismatch', status: 400 });

  // deleted and gone: the token makes a new endpoint (AWS documents no rule for an endpoint's token after its deletion)
  await ec2.consumer.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [id!] }));
  await waitFor(async () => !(await endpointsOf(ec2.consumer, name)).includes(id!), 5_000, 'endpoint gone');
  const fresh = (await ec2.consumer.send(new CreateVpcEndpointCommand(consumerInput))).VpcEndpoint!;
  expect(fresh.VpcEndpointId).not.toBe(id);
  await stop(d);
});

it('CreateVpcEndpointServiceConfiguration and CreateVpcEndpointConnectionNotification retried with their ClientToken after a restart answer the first (before: echoed only, a second)', async () => {
  const dir = tempDir();
  const first = await start(dir);
  const k = AWS_KEYS.provider;
  const elb = new ElasticLoadBalancingV2Client({ region: REGION, endpoint: first.d.url, maxAttempts: 1, credentials: { accessKeyId: k.access_key_id, secretAccessKey: k.secret_access_key } });
  const lb = (await elb.send(new CreateLoadBalancerCommand({ Name: 'nlb', Type: 'network', Scheme: 'internal', Subnets: ['subnet-app'] }))).LoadBalancers![0]!;
  elb.destroy();
  const serviceInput = { NetworkLoadBalancerArns: [lb.LoadBalancerArn!], AcceptanceRequired: false, ClientToken: 'service-token' };
  const service = (await first.ec2.provider.send(new CreateVpcEndpointServiceConfigurationCommand(serviceInput))).ServiceConfiguration!;
  const notificationInput = { ServiceId: service.ServiceId, ConnectionNotificationArn: TOPIC, ConnectionEvents: ['Connect'], ClientToken: 'notification-token' };
  const notification = (await first.ec2.provider.send(new CreateVpcEndpointConnectionNotificationCommand(notificationInput))).ConnectionNotification!;
  await stop(first.d);

  const { d, ec2 } = await start(dir);
  const service2 = await ec2.provider.send(new CreateVpcEndpointServiceConfigurationCommand(serviceInput));
  expect([service2.ServiceConfiguration!.ServiceId, service2.ClientToken]).toEqual([service.ServiceId, 'service-token']);
  const notification2 = await ec2.provider.send(new CreateVpcEndpointConnectionNotificationCommand(notificationInput));
  expect([notification2.ConnectionNotification!.ConnectionNotificationId, notification2.ClientToken]).toEqual([notification.ConnectionNotificationId, 'notification-token']);
  expect((await ec2.provider.send(new DescribeVpcEndpointServiceConfigurationsCommand({}))).ServiceConfigurations!.map((s) => s.ServiceId)).toEqual([service.ServiceId]);
  expect((await ec2.provider.send(new DescribeVpcEndpointConnectionNotificationsCommand({}))).ConnectionNotificationSet!.map((n) => n.ConnectionNotificationId)).toEqual([notification.ConnectionNotificationId]);
  expect(await refused(ec2.provider.send(new CreateVpcEndpointServiceConfigurationCommand({ ...serviceInput, AcceptanceRequired: true })))).toMatchObject({ code: 'IdempotentParameterMismatch', status: 400 });
  expect(await refused(ec2.provider.send(new CreateVpcEndpointConnectionNotificationCommand({ ...notificationInput, ConnectionEvents: ['Accept'] })))).toMatchObject({ code: 'IdempotentParameterMismatch', status: 400 });
  await stop(d);
});

it('CreateRouteTable and CreateNetworkAcl retried with their ClientToken answer the first, after a restart too (before: echoed, not kept: a second table, a second ACL); other parameters are IdempotentParameterMismatch; each account\'s tokens are its own', async () => {
  const dir = tempDir();
  const first = await start(dir);
  const vpc = (await first.ec2.consumer.send(new CreateVpcCommand({ CidrBlock: '10.80.0.0/16' }))).Vpc!.VpcId!;
  const otherVpc = (await first.ec2.consumer.send(new CreateVpcCommand({ CidrBlock: '10.81.0.0/16' }))).Vpc!.VpcId!;
  const tableInput = { VpcId: vpc, ClientToken: 'table-token' };
  const aclInput = { VpcId: vpc, ClientToken: 'acl-token', TagSpecifications: [{ ResourceType: 'network-acl' as const, Tags: [{ Key: 'Name', Value: 'kept' }] }] };
  // three at once through one daemon: one of each, every call answered with it
  const tables = await Promise.all([0, 1, 2].map(() => first.ec2.consumer.send(new CreateRouteTableCommand(tableInput))));
  expect(new Set(tables.map((o) => o.RouteTable!.RouteTableId)).size).toBe(1);
  expect(tables.map((o) => o.ClientToken)).toEqual(Array(3).fill('table-token'));
  const acls = await Promise.all([0, 1, 2].map(() => first.ec2.consumer.send(new CreateNetworkAclCommand(aclInput))));
  expect(new Set(acls.map((o) => o.NetworkAcl!.NetworkAclId)).size).toBe(1);
  const table = tables[0]!.RouteTable!;
  const acl = acls[0]!.NetworkAcl!;
  await stop(first.d);

  const { d, ec2 } = await start(dir);
  const table2 = await ec2.consumer.send(new CreateRouteTableCommand(tableInput));
  expect([table2.RouteTable, table2.ClientToken]).toEqual([table, 'table-token']);
  const acl2 = await ec2.consumer.send(new CreateNetworkAclCommand(aclInput));
  expect([acl2.NetworkAcl, acl2.ClientToken]).toEqual([acl, 'acl-token']);
  const inVpc = [{ Name: 'vpc-id', Values: [vpc] }];
  const tableIds = async () => ((await ec2.consumer.send(new DescribeRouteTablesCommand({ Filters: inVpc }))).RouteTables ?? []).filter((t) => !t.Associations?.some((a) => a.Main)).map((t) => t.RouteTableId);
  const aclIds = async () => ((await ec2.consumer.send(new DescribeNetworkAclsCommand({ Filters: inVpc }))).NetworkAcls ?? []).filter((a) => !a.IsDefault).map((a) => a.NetworkAclId);
  expect(await tableIds()).toEqual([table.RouteTableId]);
  expect(await aclIds()).toEqual([acl.NetworkAclId]);
  // the same token with other parameters
  expect(await refused(ec2.consumer.send(new CreateRouteTableCommand({ ...tableInput, VpcId: otherVpc })))).toMatchObject({ code: 'IdempotentParameterMismatch', status: 400 });
  expect(await refused(ec2.consumer.send(new CreateNetworkAclCommand({ ...aclInput, TagSpecifications: undefined })))).toMatchObject({ code: 'IdempotentParameterMismatch', status: 400 });
  expect(await tableIds()).toEqual([table.RouteTableId]);
  expect(await aclIds()).toEqual([acl.NetworkAclId]);
  // another account's same token: its own table
  const providerVpc = (await ec2.provider.send(new CreateVpcCommand({ CidrBlock: '10.82.0.0/16' }))).Vpc!.VpcId!;
  const providers = (await ec2.provider.send(new CreateRouteTableCommand({ ...tableInput, VpcId: providerVpc }))).RouteTable!;
  expect(providers.RouteTableId).not.toBe(table.RouteTableId);
  // deleted: the token makes a new ACL
  await ec2.consumer.send(new DeleteNetworkAclCommand({ NetworkAclId: acl.NetworkAclId }));
  const fresh = (await ec2.consumer.send(new CreateNetworkAclCommand(aclInput))).NetworkAcl!;
  expect(fresh.NetworkAclId).not.toBe(acl.NetworkAclId);
  await stop(d);
});

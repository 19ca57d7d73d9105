// Tags, managed prefix lists and connection notifications through @aws-sdk/client-ec2 over real
// HTTP against a real daemon (signatures verified): tags round-trip and show through the Huawei
// API, the public services' prefix lists as AWS-managed lists, notifications POSTed to real local
// HTTP receivers (one that answers, one that fails first, one that never answers) and kept across
// a restart, and every error as a 4xx that changes nothing.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  AcceptVpcEndpointConnectionsCommand, CreateTagsCommand, CreateVpcEndpointCommand, CreateVpcEndpointConnectionNotificationCommand, DeleteTagsCommand,
  DeleteVpcEndpointConnectionNotificationsCommand, DeleteVpcEndpointsCommand, DescribeManagedPrefixListsCommand, DescribeTagsCommand,
  DescribeVpcEndpointConnectionNotificationsCommand, EC2Client, GetManagedPrefixListEntriesCommand, ModifyVpcEndpointConnectionNotificationCommand,
  ModifyVpcEndpointServicePermissionsCommand, RejectVpcEndpointConnectionsCommand,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMER, PROVIDER, SERVICE_BODY, metricValue, startTestDaemon, tempDir, twoAccountConfig, waitFor, type TestDaemon } from '../helpers.js';
import { AWS_KEYS, ec2Clients, refused } from './aws-sdk.js';
import { echo, randomPort, startBackend, type TestBackend } from './backends.js';

const KEYS = {
  ...AWS_KEYS,
};
const REGION = 'us-east-1';
const PREFIX_LIST = 'pl-63a5400a';

/** a local webhook: what it was sent, and how it answers (`fail` first requests with a 500, or never) */
interface Receiver {
  readonly url: string;
  readonly got: { headers: http.IncomingHttpHeaders; body: string }[];
  fail: number;
  silent: boolean;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const r = { got: [], fail: 0, silent: false } as unknown as Receiver & { got: Receiver['got'] };
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => { body += c; });
    req.on('end', () => {
      r.got.push({ headers: req.headers, body });
      if (r.silent) return;
      if (r.fail > 0) {
        r.fail--;
        res.writeHead(500).end('not now');
        return;
      }
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  Object.assign(r, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  });
  return r;
}

const TOPIC = (name: string) => `arn:aws:sns:${REGION}:${KEYS.provider.account_id}:${name}`;

let d: TestDaemon;
let dataDir: string;
let config: Record<string, unknown>;
let backend: TestBackend;
let port: number;
const ec2: Record<keyof typeof KEYS, EC2Client> = {} as never;
const hooks: Record<'good' | 'flaky' | 'silent', Receiver> = {} as never;

beforeAll(async () => {
  backend = await startBackend(echo);
  for (const name of ['good', 'flaky', 'silent'] as const) hooks[name] = await startReceiver();
  hooks.silent.silent = true;
  port = randomPort();
  dataDir = tempDir();
  d = await startTestDaemon(config = twoAccountConfig({
    // 'good' lets the consumer's account publish too (its topic policy); the others only their own account
    aws: { sns_topics: Object.entries(hooks).map(([name, h]) => ({ arn: TOPIC(name), url: h.url, ...(name === 'good' ? { accounts: [KEYS.provider.account_id, KEYS.consumer.account_id] } : {}) })) },
    accounts: [{ ...PROVIDER, aws: KEYS.provider }, { ...CONSUMER, aws: KEYS.consumer }],
    public_services: [{
      name: 's3', service_type: 'gateway', prefix_list: { id: PREFIX_LIST, cidrs: ['100.125.0.8/29', '100.125.4.0/24'] },
      ports: [{ port: port + 1, target: `127.0.0.1:${backend.port}` }],
    }],
  }), dataDir);
  Object.assign(ec2, ec2Clients(d.url, KEYS, REGION));
});

afterAll(async () => {
  for (const c of Object.values(ec2)) c.destroy();
  await d?.stop();
  await backend?.close();
  for (const h of Object.values(hooks)) await h.close();
});

/** the provider's service through the Huawei API (approval on, client port `port`), allowed to the consumer */
async function providerService(): Promise<{ id: string; awsName: string }> {
  const r = await d.provider.post('/vpc-endpoint-services', {
    ...SERVICE_BODY, approval_enabled: true, ports: [{ client_port: port, server_port: backend.port, protocol: 'TCP' }],
  });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  await waitFor(async () => (await d.provider.get(`/vpc-endpoint-services/${r.body.id}`)).body.status === 'available', 5_000, 'service available');
  await ec2.provider.send(new ModifyVpcEndpointServicePermissionsCommand({ ServiceId: r.body.id, AddAllowedPrincipals: [`arn:aws:iam::${KEYS.consumer.account_id}:root`] }));
  return { id: r.body.id, awsName: `com.amazonaws.vpce.${REGION}.${r.body.id}` };
}

async function consumerEndpoint(serviceName: string, tags: Record<string, string> = {}): Promise<string> {
  const out = await ec2.consumer.send(new CreateVpcEndpointCommand({
    VpcEndpointType: 'Interface', VpcId: 'vpc-client', ServiceName: serviceName, SubnetIds: ['subnet-a'],
    ...(Object.keys(tags).length ? { TagSpecifications: [{ ResourceType: 'vpc-endpoint', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }] } : {}),
  }));
  return out.VpcEndpoint!.VpcEndpointId!;
}

async function tagsOf(client: EC2Client, id: string): Promise<Record<string, string>> {
  const out = await client.send(new DescribeTagsCommand({ Filters: [{ Name: 'resource-id', Values: [id] }] }));
  return Object.fromEntries((out.Tags ?? []).map((t) => [t.Key!, t.Value!]));
}

describe('CreateTags, DeleteTags, DescribeTags', () => {
  let service: { id: string; awsName: string };
  let vpce = '';

  beforeAll(async () => {
    service = await providerService();
    vpce = await consumerEndpoint(service.awsName, { Name: 'web' });
  });

  it('tags an endpoint (TagSpecifications and CreateTags) and shows them through both APIs', async () => {
    await ec2.consumer.send(new CreateTagsCommand({ Resources: [vpce], Tags: [{ Key: 'env', Value: 'test' }, { Key: 'team', Value: 'net' }] }));
    expect(await tagsOf(ec2.consumer, vpce)).toEqual({ Name: 'web', env: 'test', team: 'net' });
    const out = await ec2.consumer.send(new DescribeTagsCommand({ Filters: [{ Name: 'resource-id', Values: [vpce] }, { Name: 'key', Values: ['env'] }] }));
    expect(out.Tags).toEqual([{ ResourceId: vpce, ResourceType: 'vpc-endpoint', Key: 'env', Value: 'test' }]);
    // tag:<key>: every tag of the resources carrying env=test
    const byTag = await ec2.consumer.send(new DescribeTagsCommand({ Filters: [{ Name: 'tag:env', Values: ['test'] }] }));
    expect(byTag.Tags!.map((t) => `${t.ResourceId} ${t.Key}=${t.Value}`)).toEqual([`${vpce} Name=web`, `${vpce} env=test`, `${vpce} team=net`]);
    const none = await ec2.consumer.send(new DescribeTagsCommand({ Filters: [{ Name: 'tag:env', Values: ['prod'] }] }));
    expect(none.Tags).toEqual([]);
    const huawei = await d.consumer.get(`/vpc-endpoints/${vpce}`);
    expect(huawei.body.tags).toEqual(expect.arrayContaining([{ key: 'env', value: 'test' }, { key: 'team', value: 'net' }, { key: 'Name', value: 'web' }]));
  });

  it('tags a Huawei-made service and a Huawei tag shows through DescribeTags', async () => {
    await ec2.provider.send(new CreateTagsCommand({ Resources: [service.id], Tags: [{ Key: 'owner', Value: 'alice' }] }));
    const huawei = await d.provider.get(`/vpc-endpoint-services/${service.id}`);
    expect(huawei.body.tags).toEqual([{ key: 'owner', value: 'alice' }]);
    const r = await d.provider.post(`/endpoint_service/${service.id}/tags/action`, { action: 'create', tags: [{ key: 'cost', value: '42' }] });
    expect(r.status, JSON.stringify(r.body)).toBeLessThan(300);
    const out = await ec2.provider.send(new DescribeTagsCommand({ Filters: [{ Name: 'resource-type', Values: ['vpc-endpoint-service'] }] }));
    expect(out.Tags).toEqual([
      { ResourceId: service.id, ResourceType: 'vpc-endpoint-service', Key: 'cost', Value: '42' },
      { ResourceId: service.id, ResourceType: 'vpc-endpoint-service', Key: 'owner', Value: 'alice' },
    ]);
  });

  it('DeleteTags by key, by key and value, and all of them', async () => {
    await ec2.consumer.send(new DeleteTagsCommand({ Resources: [vpce], Tags: [{ Key: 'team', Value: 'other' }] }));
    expect(await tagsOf(ec2.consumer, vpce)).toEqual({ Name: 'web', env: 'test', team: 'net' });
    await ec2.consumer.send(new DeleteTagsCommand({ Resources: [vpce], Tags: [{ Key: 'team' }] }));
    expect(await tagsOf(ec2.consumer, vpce)).toEqual({ Name: 'web', env: 'test' });
    await ec2.consumer.send(new DeleteTagsCommand({ Resources: [vpce] }));
    expect(await tagsOf(ec2.consumer, vpce)).toEqual({});
    await ec2.consumer.send(new CreateTagsCommand({ Resources: [vpce], Tags: [{ Key: 'Name', Value: 'web' }] }));
  });

  it('a tag set through AWS whose key the Huawei create rule refuses (team/app) is deleted through the Huawei API (was EndPoint.3066)', async () => {
    await ec2.consumer.send(new CreateTagsCommand({ Resources: [vpce], Tags: [{ Key: 'team/app', Value: 'x!' }, { Key: 'a#b', Value: 'y' }] }));
    await ec2.provider.send(new CreateTagsCommand({ Resources: [service.id], Tags: [{ Key: 'team/app', Value: 'x' }] }));
    const byValue = await d.consumer.post(`/endpoint/${vpce}/tags/action`, { action: 'delete', tags: [{ key: 'team/app', value: 'x!' }] });
    expect(byValue.status, JSON.stringify(byValue.body)).toBe(204);
    const byKey = await d.consumer.post(`/endpoint/${vpce}/tags/action`, { action: 'delete', tags: [{ key: 'a#b' }] });
    expect(byKey.status, JSON.stringify(byKey.body)).toBe(204);
    expect(await tagsOf(ec2.consumer, vpce)).toEqual({ Name: 'web' });
    const ofService = await d.provider.post(`/endpoint_service/${service.id}/tags/action`, { action: 'delete', tags: [{ key: 'team/app', value: 'x' }] });
    expect(ofService.status, JSON.stringify(ofService.body)).toBe(204);
    expect(await tagsOf(ec2.provider, service.id)).not.toHaveProperty('team/app');
    // the create rule stays for creates
    const create = await d.consumer.post(`/endpoint/${vpce}/tags/action`, { action: 'create', tags: [{ key: 'team/app', value: 'x' }] });
    expect([create.status, create.body.error_code]).toEqual([400, 'EndPoint.3066']);
    expect((await d.consumer.post(`/endpoint/${vpce}/tags/action`, { action: 'delete', tags: [{ key: '' }] })).body.error_code).toBe('EndPoint.3066');
    expect((await d.consumer.post(`/endpoint/${vpce}/tags/action`, { action: 'delete', tags: [{ key: 'k'.repeat(129) }] })).body.error_code).toBe('EndPoint.3066');
  });

  it('pages DescribeTags with MaxResults and NextToken, nothing lost or repeated', async () => {
    const tags = Array.from({ length: 12 }, (_, i) => ({ Key: `k${String(i).padStart(2, '0')}`, Value: `v${i}` }));
    await ec2.consumer.send(new CreateTagsCommand({ Resources: [vpce], Tags: tags }));
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const out = await ec2.consumer.send(new DescribeTagsCommand({ MaxResults: 5, NextToken: token }));
      expect(out.Tags!.length).toBeLessThanOrEqual(5);
      seen.push(...out.Tags!.map((t) => t.Key!));
      token = out.NextToken;
      pages++;
    } while (token);
    expect(pages).toBe(3);
    expect(seen).toEqual(['Name', ...tags.map((t) => t.Key)]);
    await ec2.consumer.send(new DeleteTagsCommand({ Resources: [vpce], Tags: tags.map((t) => ({ Key: t.Key })) }));
  });

  it('refuses, as AWS words it and with a 4xx, what it cannot tag, and changes nothing', async () => {
    const before = await tagsOf(ec2.consumer, vpce);
    expect(await refused(ec2.consumer.send(new CreateTagsCommand({ Resources: [vpce, 'vpce-0123456789abcdef0'], Tags: [{ Key: 'x', Value: 'y' }] }))))
      .toMatchObject({ code: 'InvalidVpcEndpointId.NotFound', status: 400 });
    expect(await refused(ec2.consumer.send(new CreateTagsCommand({ Resources: ['vpce-svc-0123456789abcdef0'], Tags: [{ Key: 'x', Value: 'y' }] }))))
      .toMatchObject({ code: 'InvalidVpcEndpointServiceId.NotFound', status: 400 });
    // a config VPC's tags are the config's; an instance is nothing vpcep-sim has
    expect(await refused(ec2.consumer.send(new CreateTagsCommand({ Resources: ['vpc-client'], Tags: [{ Key: 'x', Value: 'y' }] }))))
      .toMatchObject({ code: 'UnauthorizedOperation', status: 403 });
    expect(await refused(ec2.consumer.send(new CreateTagsCommand({ Resources: ['i-0123456789abcdef0'], Tags: [{ Key: 'x', Value: 'y' }] }))))
      .toMatchObject({ code: 'InvalidID', status: 400 });
    // another account's service does not exist for the consumer
    expect(await refused(ec2.consumer.send(new CreateTagsCommand({ Resources: [service.id], Tags: [{ Key: 'x', Value: 'y' }] }))))
      .toMatchObject({ code: 'InvalidID', status: 400 });
    const many = Array.from({ length: 25 }, (_, i) => ({ Key: `many${i}`, Value: '' }));
    expect(await refused(ec2.consumer.send(new CreateTagsCommand({ Resources: [vpce], Tags: many }))))
      .toMatchObject({ code: 'TagLimitExceeded', status: 400 });
    expect(await refused(ec2.consumer.send(new CreateTagsCommand({ Resources: [vpce], Tags: [{ Key: 'aws:x', Value: 'y' }] }))))
      .toMatchObject({ code: 'InvalidParameterValue', status: 400 });
    expect(await refused(ec2.consumer.send(new DescribeTagsCommand({ Filters: [{ Name: 'colour', Values: ['red'] }] }))))
      .toMatchObject({ code: 'InvalidParameterValue', status: 400 });
    expect(await tagsOf(ec2.consumer, vpce)).toEqual(before);
    // TagSpecification on a create is held to CreateTags' rules: refused, nothing made
    const endpoints = async () => (await d.consumer.get('/vpc-endpoints')).body.endpoints.length;
    const count = await endpoints();
    for (const tag of [{ Key: 'k'.repeat(129), Value: 'v' }, { Key: 'aws:reserved', Value: 'v' }, { Key: 'big', Value: 'v'.repeat(257) }]) {
      expect(await refused(consumerEndpoint(service.awsName, { [tag.Key]: tag.Value }))).toMatchObject({ code: 'InvalidParameterValue', status: 400 });
    }
    // IPv4 only, a client token of at most 64 ASCII characters
    for (const [input, code] of [[{ IpAddressType: 'ipv6' }, 'InvalidParameter'], [{ DnsOptions: { DnsRecordIpType: 'bogus' } }, 'InvalidParameter'], [{ ClientToken: 't'.repeat(65) }, 'InvalidParameterValue']] as const) {
      const call = ec2.consumer.send(new CreateVpcEndpointCommand({ VpcEndpointType: 'Interface', VpcId: 'vpc-client', ServiceName: service.awsName, SubnetIds: ['subnet-a'], ...input } as never));
      expect(await refused(call), JSON.stringify(input)).toMatchObject({ code, status: 400 });
    }
    expect(await endpoints()).toBe(count);
    // the provider sees none of the consumer's tags
    expect((await ec2.provider.send(new DescribeTagsCommand({ Filters: [{ Name: 'resource-id', Values: [vpce] }] }))).Tags).toEqual([]);
  });
});

describe('DescribeManagedPrefixLists, GetManagedPrefixListEntries', () => {
  it('shows the public services\' prefix lists as AWS-managed lists', async () => {
    const out = await ec2.consumer.send(new DescribeManagedPrefixListsCommand({}));
    expect(out.PrefixLists).toEqual([{
      PrefixListId: PREFIX_LIST, AddressFamily: 'IPv4', State: 'create-complete', PrefixListArn: `arn:aws:ec2:${REGION}:aws:prefix-list/${PREFIX_LIST}`,
      PrefixListName: `com.amazonaws.${REGION}.s3`, Tags: [], OwnerId: 'AWS',
    }]);
    const byName = await ec2.consumer.send(new DescribeManagedPrefixListsCommand({ Filters: [{ Name: 'prefix-list-name', Values: [`com.amazonaws.${REGION}.s3`] }, { Name: 'owner-id', Values: ['AWS'] }] }));
    expect(byName.PrefixLists!.map((l) => l.PrefixListId)).toEqual([PREFIX_LIST]);
    const none = await ec2.consumer.send(new DescribeManagedPrefixListsCommand({ Filters: [{ Name: 'owner-id', Values: [KEYS.consumer.account_id] }] }));
    expect(none.PrefixLists).toEqual([]);
  });

  it('lists the entries, paged', async () => {
    const all = await ec2.consumer.send(new GetManagedPrefixListEntriesCommand({ PrefixListId: PREFIX_LIST }));
    expect(all.Entries).toEqual([{ Cidr: '100.125.0.8/29' }, { Cidr: '100.125.4.0/24' }]);
    const first = await ec2.consumer.send(new GetManagedPrefixListEntriesCommand({ PrefixListId: PREFIX_LIST, MaxResults: 1 }));
    expect(first.Entries).toEqual([{ Cidr: '100.125.0.8/29' }]);
    const second = await ec2.consumer.send(new GetManagedPrefixListEntriesCommand({ PrefixListId: PREFIX_LIST, MaxResults: 1, NextToken: first.NextToken }));
    expect(second).toMatchObject({ Entries: [{ Cidr: '100.125.4.0/24' }] });
    expect(second.NextToken).toBeUndefined();
  });

  it('refuses an unknown list or version with a 4xx', async () => {
    expect(await refused(ec2.consumer.send(new GetManagedPrefixListEntriesCommand({ PrefixListId: 'pl-00000000' }))))
      .toMatchObject({ code: 'InvalidPrefixListID.NotFound', status: 400 });
    expect(await refused(ec2.consumer.send(new DescribeManagedPrefixListsCommand({ PrefixListIds: ['pl-00000000'] }))))
      .toMatchObject({ code: 'InvalidPrefixListID.NotFound', status: 400 });
    expect(await refused(ec2.consumer.send(new GetManagedPrefixListEntriesCommand({ PrefixListId: PREFIX_LIST, TargetVersion: 7 }))))
      .toMatchObject({ code: 'InvalidPrefixListVersion', status: 400 });
  });
});

/** the SNS envelope and the event message of a delivery */
function delivery(x: { headers: http.IncomingHttpHeaders; body: string }) {
  const envelope = JSON.parse(x.body) as Record<string, string>;
  return { envelope, message: JSON.parse(envelope.Message!) as Record<string, string>, headers: x.headers };
}

describe('connection notifications', () => {
  let service: { id: string; awsName: string };
  let nfn = '';

  beforeAll(async () => {
    service = await providerService();
  });

  it('creates one on the provider\'s service and describes it', async () => {
    const out = await ec2.provider.send(new CreateVpcEndpointConnectionNotificationCommand({
      ServiceId: service.id, ConnectionNotificationArn: TOPIC('good'), ConnectionEvents: ['Connect', 'Accept', 'Reject', 'Delete'], ClientToken: 'tok-1',
    }));
    nfn = out.ConnectionNotification!.ConnectionNotificationId!;
    expect(nfn).toMatch(/^vpce-nfn-[0-9a-f]{17}$/);
    expect(out.ConnectionNotification).toEqual({
      ConnectionNotificationId: nfn, ServiceId: service.id, ConnectionNotificationType: 'Topic', ConnectionNotificationArn: TOPIC('good'),
      ConnectionEvents: ['Connect', 'Accept', 'Reject', 'Delete'], ConnectionNotificationState: 'Enabled', ServiceRegion: REGION,
    });
    const described = await ec2.provider.send(new DescribeVpcEndpointConnectionNotificationsCommand({ ConnectionNotificationId: nfn }));
    expect(described.ConnectionNotificationSet).toEqual([out.ConnectionNotification]);
    // the consumer sees none of the provider's
    expect((await ec2.consumer.send(new DescribeVpcEndpointConnectionNotificationsCommand({}))).ConnectionNotificationSet).toEqual([]);
  });

  it('POSTs Connect, Accept, Reject and Delete as SNS messages to the topic\'s webhook', async () => {
    const before = hooks.good.got.length;
    const a = await consumerEndpoint(service.awsName);
    await waitFor(() => hooks.good.got.length >= before + 1, 5_000, 'Connect delivered');
    await ec2.provider.send(new AcceptVpcEndpointConnectionsCommand({ ServiceId: service.id, VpcEndpointIds: [a] }));
    await waitFor(() => hooks.good.got.length >= before + 2, 5_000, 'Accept delivered');
    const b = await consumerEndpoint(service.awsName);
    await waitFor(() => hooks.good.got.length >= before + 3, 5_000, 'Connect of b delivered');
    await ec2.provider.send(new RejectVpcEndpointConnectionsCommand({ ServiceId: service.id, VpcEndpointIds: [b] }));
    await waitFor(() => hooks.good.got.length >= before + 4, 5_000, 'Reject delivered');
    await ec2.consumer.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [a] }));
    await waitFor(() => hooks.good.got.length >= before + 5, 5_000, 'Delete delivered');
    const got = hooks.good.got.slice(before).map(delivery);
    expect(got.map((g) => [g.message.eventType, g.message.vpcEndpointId])).toEqual([
      ['Connect', a], ['Accept', a], ['Connect', b], ['Reject', b], ['Delete', a],
    ]);
    const first = got[0]!;
    expect(first.headers['x-amz-sns-message-type']).toBe('Notification');
    expect(first.headers['x-amz-sns-topic-arn']).toBe(TOPIC('good'));
    expect(first.envelope).toMatchObject({ Type: 'Notification', TopicArn: TOPIC('good'), MessageId: first.headers['x-amz-sns-message-id'], SignatureVersion: '1' });
    expect(first.message).toMatchObject({
      eventType: 'Connect', vpcEndpointId: a, vpcEndpointOwner: KEYS.consumer.account_id, serviceId: service.id, serviceRegion: REGION,
      vpcEndpointState: 'pendingAcceptance', connectionNotificationId: nfn, connectionNotificationArn: TOPIC('good'),
    });
    expect(got[4]!.message.vpcEndpointState).toBe('deleted');
    await ec2.consumer.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [b] }));
    await waitFor(() => hooks.good.got.length >= before + 6, 5_000, 'Delete of b delivered');
  });

  it('ModifyVpcEndpointConnectionNotification narrows the events: only Connect is sent', async () => {
    const out = await ec2.provider.send(new ModifyVpcEndpointConnectionNotificationCommand({ ConnectionNotificationId: nfn, ConnectionEvents: ['Connect'] }));
    expect(out.ReturnValue).toBe(true);
    const before = hooks.good.got.length;
    const e = await consumerEndpoint(service.awsName);
    await waitFor(() => hooks.good.got.length >= before + 1, 5_000, 'Connect delivered');
    await ec2.consumer.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [e] }));
    await waitFor(async () => (await d.consumer.get(`/vpc-endpoints/${e}`)).status === 404, 5_000, 'endpoint gone');
    await d.daemon.control.settle();
    expect(hooks.good.got.slice(before).map((x) => delivery(x).message.eventType)).toEqual(['Connect']);
  });

  it('the consumer hears its own endpoint\'s Reject and Delete, and only those', async () => {
    const e = await consumerEndpoint(service.awsName);
    const mine = (await ec2.consumer.send(new CreateVpcEndpointConnectionNotificationCommand({
      VpcEndpointId: e, ConnectionNotificationArn: TOPIC('good'), ConnectionEvents: ['Reject', 'Delete'],
    }))).ConnectionNotification!;
    expect(mine).toMatchObject({ VpcEndpointId: e, ConnectionEvents: ['Reject', 'Delete'] });
    expect(mine.ServiceId).toBeUndefined();
    const heard = () => hooks.good.got.map(delivery).filter((x) => x.message.connectionNotificationId === mine.ConnectionNotificationId);
    await ec2.provider.send(new RejectVpcEndpointConnectionsCommand({ ServiceId: service.id, VpcEndpointIds: [e] }));
    await waitFor(() => heard().length >= 1, 5_000, 'Reject delivered');
    await ec2.consumer.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [e] }));
    await waitFor(() => heard().length >= 2, 5_000, 'Delete delivered');
    expect(heard().map((x) => [x.message.eventType, x.message.vpcEndpointId, x.message.vpcEndpointOwner])).toEqual([
      ['Reject', e, KEYS.consumer.account_id], ['Delete', e, KEYS.consumer.account_id],
    ]);
    // the provider does not see the consumer's notification
    const providers = (await ec2.provider.send(new DescribeVpcEndpointConnectionNotificationsCommand({}))).ConnectionNotificationSet!;
    expect(providers.map((n) => n.ConnectionNotificationId)).not.toContain(mine.ConnectionNotificationId);
    await ec2.consumer.send(new DeleteVpcEndpointConnectionNotificationsCommand({ ConnectionNotificationIds: [mine.ConnectionNotificationId!] }));
  });

  it('retries a webhook that fails first, with backoff, and counts it', async () => {
    const retriesBefore = (await metricValue(d.url, 'vpcep_notification_retries_total')) ?? 0;
    const deliveredBefore = (await metricValue(d.url, 'vpcep_notifications_total', { result: 'delivered' })) ?? 0;
    const flaky = (await ec2.provider.send(new CreateVpcEndpointConnectionNotificationCommand({
      ServiceId: service.id, ConnectionNotificationArn: TOPIC('flaky'), ConnectionEvents: ['Connect'],
    }))).ConnectionNotification!.ConnectionNotificationId!;
    hooks.flaky.fail = 2;
    const e = await consumerEndpoint(service.awsName);
    await waitFor(() => hooks.flaky.got.length >= 3, 10_000, 'the third attempt');
    const bodies = hooks.flaky.got.map((x) => delivery(x).message);
    expect(bodies.map((b) => [b.eventType, b.vpcEndpointId])).toEqual([['Connect', e], ['Connect', e], ['Connect', e]]);
    // the same message each time
    expect(new Set(hooks.flaky.got.map((x) => x.body)).size).toBe(1);
    await waitFor(async () => (await metricValue(d.url, 'vpcep_notifications_total', { result: 'delivered' })) === deliveredBefore + 2, 5_000, 'delivered counted');
    expect(await metricValue(d.url, 'vpcep_notification_retries_total')).toBe(retriesBefore + 2);
    await ec2.provider.send(new DeleteVpcEndpointConnectionNotificationsCommand({ ConnectionNotificationIds: [flaky] }));
    await ec2.consumer.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [e] }));
  });

  it('a webhook that never answers holds up neither the API nor the control plane', async () => {
    const silent = (await ec2.provider.send(new CreateVpcEndpointConnectionNotificationCommand({
      ServiceId: service.id, ConnectionNotificationArn: TOPIC('silent'), ConnectionEvents: ['Connect', 'Delete'],
    }))).ConnectionNotification!.ConnectionNotificationId!;
    const t0 = performance.now();
    const e = await consumerEndpoint(service.awsName);
    await waitFor(() => hooks.silent.got.length >= 1, 5_000, 'the silent webhook reached');
    await ec2.consumer.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [e] }));
    await waitFor(async () => (await d.consumer.get(`/vpc-endpoints/${e}`)).status === 404, 5_000, 'endpoint gone');
    const described = await ec2.provider.send(new DescribeVpcEndpointConnectionNotificationsCommand({}));
    // the whole round (create, delete, reads) takes far less than one attempt's 5 s timeout
    expect(performance.now() - t0).toBeLessThan(2_500);
    expect(described.ConnectionNotificationSet!.map((n) => n.ConnectionNotificationId)).toContain(silent);
    await ec2.provider.send(new DeleteVpcEndpointConnectionNotificationsCommand({ ConnectionNotificationIds: [silent] }));
  });

  it('refuses what is wrong with a 4xx, as AWS words it, and makes nothing', async () => {
    const count = async () => (await ec2.provider.send(new DescribeVpcEndpointConnectionNotificationsCommand({}))).ConnectionNotificationSet!.length;
    const before = await count();
    const unknownArn = TOPIC('not-in-the-config');
    const r = await refused(ec2.provider.send(new CreateVpcEndpointConnectionNotificationCommand({ ServiceId: service.id, ConnectionNotificationArn: unknownArn, ConnectionEvents: ['Connect'] })));
    expect(r).toMatchObject({ code: 'InvalidParameterValue', status: 400 });
    expect(r.message).toContain(unknownArn);
    expect(await refused(ec2.provider.send(new CreateVpcEndpointConnectionNotificationCommand({ ServiceId: service.id, ConnectionNotificationArn: TOPIC('good'), ConnectionEvents: ['Explode'] }))))
      .toMatchObject({ code: 'InvalidParameterValue', status: 400 });
    expect(await refused(ec2.provider.send(new CreateVpcEndpointConnectionNotificationCommand({ ConnectionNotificationArn: TOPIC('good'), ConnectionEvents: ['Connect'] }))))
      .toMatchObject({ code: 'MissingParameter', status: 400 });
    expect(await refused(ec2.provider.send(new CreateVpcEndpointConnectionNotificationCommand({ ServiceId: service.id, VpcEndpointId: 'vpce-0123456789abcdef0', ConnectionNotificationArn: TOPIC('good'), ConnectionEvents: ['Connect'] }))))
      .toMatchObject({ code: 'InvalidParameterCombination', status: 400 });
    // the provider's service does not exist for the consumer
    expect(await refused(ec2.consumer.send(new CreateVpcEndpointConnectionNotificationCommand({ ServiceId: service.id, ConnectionNotificationArn: TOPIC('good'), ConnectionEvents: ['Connect'] }))))
      .toMatchObject({ code: 'InvalidVpcEndpointServiceId.NotFound', status: 400 });
    expect(await refused(ec2.consumer.send(new CreateVpcEndpointConnectionNotificationCommand({ VpcEndpointId: 'vpce-0123456789abcdef0', ConnectionNotificationArn: TOPIC('good'), ConnectionEvents: ['Connect'] }))))
      .toMatchObject({ code: 'InvalidVpcEndpointId.NotFound', status: 400 });
    // another account's topic that does not let the consumer publish (aws.sns_topics[].accounts): refused, on create and on modify
    const consumerCount = async () => (await ec2.consumer.send(new DescribeVpcEndpointConnectionNotificationsCommand({}))).ConnectionNotificationSet!.length;
    const consumerBefore = await consumerCount();
    const ownEndpoint = await consumerEndpoint(service.awsName);
    const theirs = await refused(ec2.consumer.send(new CreateVpcEndpointConnectionNotificationCommand({ VpcEndpointId: ownEndpoint, ConnectionNotificationArn: TOPIC('flaky'), ConnectionEvents: ['Delete'] })));
    expect(theirs).toMatchObject({ code: 'InvalidParameterValue', status: 400 });
    expect(theirs.message).toContain(`${TOPIC('flaky')}) for parameter ConnectionNotificationArn is invalid: the topic ${TOPIC('flaky')} does not let this account publish to it`);
    const made = (await ec2.consumer.send(new CreateVpcEndpointConnectionNotificationCommand({ VpcEndpointId: ownEndpoint, ConnectionNotificationArn: TOPIC('good'), ConnectionEvents: ['Delete'] }))).ConnectionNotification!;
    expect(await refused(ec2.consumer.send(new ModifyVpcEndpointConnectionNotificationCommand({ ConnectionNotificationId: made.ConnectionNotificationId!, ConnectionNotificationArn: TOPIC('silent') }))))
      .toMatchObject({ code: 'InvalidParameterValue', status: 400 });
    expect((await ec2.consumer.send(new DescribeVpcEndpointConnectionNotificationsCommand({ ConnectionNotificationId: made.ConnectionNotificationId! }))).ConnectionNotificationSet![0]!.ConnectionNotificationArn).toBe(TOPIC('good'));
    await ec2.consumer.send(new DeleteVpcEndpointConnectionNotificationsCommand({ ConnectionNotificationIds: [made.ConnectionNotificationId!] }));
    expect(await consumerCount()).toBe(consumerBefore);
    await ec2.consumer.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [ownEndpoint] }));
    // its events delivered before the next test counts deliveries
    await waitFor(async () => (await d.consumer.get(`/vpc-endpoints/${ownEndpoint}`)).status === 404, 5_000, 'endpoint gone');
    await d.daemon.control.settle();
    expect(await refused(ec2.provider.send(new DescribeVpcEndpointConnectionNotificationsCommand({ ConnectionNotificationId: 'vpce-nfn-0123456789abcdef0' }))))
      .toMatchObject({ code: 'InvalidConnectionNotification', status: 400 });
    expect(await refused(ec2.consumer.send(new ModifyVpcEndpointConnectionNotificationCommand({ ConnectionNotificationId: nfn, ConnectionEvents: ['Accept'] }))))
      .toMatchObject({ code: 'InvalidConnectionNotification', status: 400 });
    expect(await refused(ec2.provider.send(new ModifyVpcEndpointConnectionNotificationCommand({ ConnectionNotificationId: nfn, ConnectionNotificationArn: unknownArn }))))
      .toMatchObject({ code: 'InvalidParameterValue', status: 400 });
    const del = await ec2.consumer.send(new DeleteVpcEndpointConnectionNotificationsCommand({ ConnectionNotificationIds: [nfn] }));
    expect(del.Unsuccessful).toEqual([{ ResourceId: nfn, Error: { Code: 'InvalidConnectionNotification', Message: expect.any(String) } }]);
    expect(await count()).toBe(before);
    const kept = (await ec2.provider.send(new DescribeVpcEndpointConnectionNotificationsCommand({ ConnectionNotificationId: nfn }))).ConnectionNotificationSet![0]!;
    expect(kept).toMatchObject({ ConnectionNotificationArn: TOPIC('good'), ConnectionEvents: ['Connect'] });
  });

  it('is kept across a restart, and delivers after it', async () => {
    await d.stop();
    d = await startTestDaemon(config, dataDir);
    Object.assign(ec2, ec2Clients(d.url, KEYS, REGION));
    const out = await ec2.provider.send(new DescribeVpcEndpointConnectionNotificationsCommand({ ConnectionNotificationId: nfn }));
    expect(out.ConnectionNotificationSet).toEqual([expect.objectContaining({ ConnectionNotificationId: nfn, ServiceId: service.id, ConnectionEvents: ['Connect'] })]);
    const before = hooks.good.got.length;
    const e = await consumerEndpoint(service.awsName);
    await waitFor(() => hooks.good.got.length >= before + 1, 5_000, 'Connect delivered after the restart');
    expect(delivery(hooks.good.got[before]!).message).toMatchObject({ eventType: 'Connect', vpcEndpointId: e });
    const del = await ec2.provider.send(new DeleteVpcEndpointConnectionNotificationsCommand({ ConnectionNotificationIds: [nfn] }));
    expect(del.Unsuccessful).toEqual([]);
    expect(await refused(ec2.provider.send(new DescribeVpcEndpointConnectionNotificationsCommand({ ConnectionNotificationId: nfn }))))
      .toMatchObject({ code: 'InvalidConnectionNotification', status: 400 });
  });
});

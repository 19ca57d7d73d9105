// Tags, managed prefix lists and connection notifications through @aws-sdk/client-ec2 over real
// HTTP against a real daemon (signatures verified): tags round-trip and show through the Huawei
// API, the public services' prefix lists as AWS-managed lists, and every error as a 4xx that
// changes nothing.
import {
  CreateTagsCommand, CreateVpcEndpointCommand, DeleteTagsCommand, DescribeManagedPrefixListsCommand, DescribeTagsCommand,
  EC2Client, GetManagedPrefixListEntriesCommand, ModifyVpcEndpointServicePermissionsCommand,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMER, PROVIDER, SERVICE_BODY, startTestDaemon, twoAccountConfig, waitFor, type TestDaemon } from '../helpers.js';
import { AWS_KEYS, ec2Clients, refused } from './aws-sdk.js';
import { echo, randomPort, startBackend, type TestBackend } from './backends.js';

const KEYS = {
  ...AWS_KEYS,
};
const REGION = 'us-east-1';
const PREFIX_LIST = 'pl-63a5400a';

let d: TestDaemon;
let backend: TestBackend;
let port: number;
const ec2: Record<keyof typeof KEYS, EC2Client> = {} as never;

beforeAll(async () => {
  backend = await startBackend(echo);
  port = randomPort();
  d = await startTestDaemon(twoAccountConfig({
    accounts: [{ ...PROVIDER, aws: KEYS.provider }, { ...CONSUMER, aws: KEYS.consumer }],
    public_services: [{
      name: 's3', service_type: 'gateway', prefix_list: { id: PREFIX_LIST, cidrs: ['100.125.0.8/29', '100.125.4.0/24'] },
      ports: [{ port: port + 1, target: `127.0.0.1:${backend.port}` }],
    }],
  }));
  Object.assign(ec2, ec2Clients(d.url, KEYS, REGION));
});

afterAll(async () => {
  for (const c of Object.values(ec2)) c.destroy();
  await d?.stop();
  await backend?.close();
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
    expect(await refused(ec2.consumer.send(new CreateTagsCommand({ Resources: ['vpc-client'], Tags: [{ Key: 'x', Value: 'y' }] }))))
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

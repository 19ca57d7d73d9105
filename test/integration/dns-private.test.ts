// Private DNS names end to end (issue 14, README "DNS"): the AWS flow through @aws-sdk/client-ec2
// (PrivateDnsName, its TXT record in vpcep-sim's public zone, verification failed then verified,
// PrivateDnsEnabled refused before, the name resolving in the consumer's VPC only and reaching
// the backend, RemovePrivateDnsName), Alibaba's custom service domain name through the
// Huawei-shaped API, and answers following health (an ENI whose backends all fail leaves the
// answers and comes back) and zone affinity (a client's own zone first), seen by Node's resolver
// and dig bound to VPC host addresses.
import { execFile, spawnSync } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import path from 'node:path';
import {
  CreateVpcEndpointCommand, DescribeVpcEndpointConnectionsCommand, DescribeVpcEndpointsCommand, DescribeVpcEndpointServiceConfigurationsCommand,
  DescribeVpcEndpointServicesCommand, ModifyVpcEndpointCommand, ModifyVpcEndpointServiceConfigurationCommand,
  StartVpcEndpointServicePrivateDnsVerificationCommand, type EC2Client,
} from '@aws-sdk/client-ec2';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DB_FILE } from '../../src/store/sqlite.js';
import { CONSUMER, PROVIDER, SERVICE_BODY, startTestDaemon, tempDir, twoAccountConfig, twoZoneVpcs, waitFor, type TestDaemon } from '../helpers.js';
import { AWS_KEYS, attempt, ec2Clients, refused } from './aws-sdk.js';
import { echo, randomPort, startBackend, type TestBackend } from './backends.js';

const IN_VPC = '127.2.1.50'; // vpc-client, subnet-a (sim-1a)
const IN_VPC_B = '127.2.2.5'; // vpc-client, subnet-b (sim-1b)
const OTHER_VPC = '127.3.1.50'; // vpc-provider-client
const REGION = 'us-east-1';
/** the operator's interface service kv (its own AWS name kv.us-east-1.amazonaws.com) and its backend's port */
const KV_PORT = randomPort();

let d: TestDaemon;
let ec2: Record<keyof typeof AWS_KEYS, EC2Client>;
let dnsPort: number;
const backends: TestBackend[] = [];

function config(): Record<string, unknown> {
  const base = twoAccountConfig();
  const vpcs = twoZoneVpcs(base);
  return {
    ...base, vpcs,
    // the consumer's share of the public zone is small here, so that a test can use it up
    accounts: [{ ...PROVIDER, aws: AWS_KEYS.provider }, { ...CONSUMER, aws: AWS_KEYS.consumer, quotas: { dns_records: 3 } }],
    dns: { listen: '127.0.0.1:0', ttl: 5, public_records: [{ name: 'preset.example.net', type: 'TXT', value: 'from the config' }] },
    public_services: [{ name: 'kv', service_type: 'interface', ports: [{ port: KV_PORT, target: `127.0.0.1:${KV_PORT}` }] }],
  };
}

beforeAll(async () => {
  d = await startTestDaemon(config());
  dnsPort = d.daemon.dnsAddress!.port;
  ec2 = ec2Clients(d.url, AWS_KEYS, REGION);
});

afterAll(async () => {
  for (const c of Object.values(ec2 ?? {})) c.destroy();
  await d?.stop();
  for (const b of backends) await b.close();
});

function resolver(from: string): Resolver {
  const r = new Resolver({ timeout: 3_000, tries: 1 });
  r.setLocalAddress(from);
  r.setServers([`127.0.0.1:${dnsPort}`]);
  return r;
}

/** the addresses a name resolves to from `from`, or the error code (ENOTFOUND: NXDOMAIN) */
const lookup = (name: string, from: string): Promise<string[] | string> => resolver(from).resolve4(name).then((a) => a, (e: NodeJS.ErrnoException) => e.code ?? e.message);

/** a provider's port-backed service whose clients reach `backends` (all at one port), the consumer allowed */
async function service(extra: Record<string, unknown>, port: number): Promise<string> {
  const r = await d.provider.post('/vpc-endpoint-services', { ...SERVICE_BODY, approval_enabled: false, ports: [{ client_port: port, server_port: port, protocol: 'TCP' }], ...extra });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  await waitFor(async () => (await d.provider.get(`/vpc-endpoint-services/${r.body.id}`)).body.status === 'available', 5_000, 'service available');
  expect((await d.provider.post(`/vpc-endpoint-services/${r.body.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] })).status).toBe(200);
  return r.body.id;
}

async function accepted(id: string): Promise<any> {
  return waitFor(async () => {
    const r = await d.consumer.get(`/vpc-endpoints/${id}`);
    return r.body.status === 'accepted' ? r.body : null;
  }, 5_000, 'endpoint accepted');
}

const configuration = async (id: string) => (await ec2.provider.send(new DescribeVpcEndpointServiceConfigurationsCommand({ ServiceIds: [id] }))).ServiceConfigurations![0]!;

describe('AWS: a service\'s private DNS name, verified by a TXT record in the public zone', () => {
  it('pendingVerification with AWS\'s TXT shapes; failed without the record, verified with it; the name answers in the consumer\'s VPC only and reaches the backend; removed, it goes', async () => {
    const port = randomPort();
    backends.push(await startBackend(echo, { host: '127.0.0.1', port }));
    const id = await service({}, port);
    const awsName = `com.amazonaws.vpce.${REGION}.${id}`;

    // bad names and combinations: 400, nothing changed
    for (const [params, code] of [
      [{ PrivateDnsName: 'API.Example.com' }, 'InvalidParameterValue'],
      [{ PrivateDnsName: 'localhost' }, 'InvalidParameterValue'],
      [{ PrivateDnsName: 'x.s3.amazonaws.com' }, 'InvalidParameterValue'],
      [{ PrivateDnsName: 'api.example.com', RemovePrivateDnsName: true }, 'InvalidParameterCombination'],
    ] as const) {
      expect(await refused(ec2.provider.send(new ModifyVpcEndpointServiceConfigurationCommand({ ServiceId: id, ...params }))), JSON.stringify(params)).toMatchObject({ code, status: 400 });
    }
    expect(await refused(ec2.provider.send(new StartVpcEndpointServicePrivateDnsVerificationCommand({ ServiceId: id })))).toMatchObject({ code: 'InvalidParameterValue', status: 400 });
    expect((await configuration(id)).PrivateDnsName).toBeUndefined();
    // another account's service does not exist for the caller
    expect((await refused(ec2.consumer.send(new ModifyVpcEndpointServiceConfigurationCommand({ ServiceId: id, PrivateDnsName: 'api.example.com' })))).status).toBe(400);

    expect((await ec2.provider.send(new ModifyVpcEndpointServiceConfigurationCommand({ ServiceId: id, PrivateDnsName: 'api.example.com' }))).Return).toBe(true);
    const pending = await configuration(id);
    expect(pending.PrivateDnsName).toBe('api.example.com');
    expect(pending.PrivateDnsNameConfiguration).toEqual({ State: 'pendingVerification', Type: 'TXT', Name: expect.stringMatching(/^_[a-z0-9]{12}$/), Value: expect.stringMatching(/^vpce:[A-Za-z0-9]{20}$/) });
    const txt = pending.PrivateDnsNameConfiguration!;
    // the consumer sees the name and its state; private DNS cannot be enabled before verification
    const detail = (await ec2.consumer.send(new DescribeVpcEndpointServicesCommand({ ServiceNames: [awsName] }))).ServiceDetails![0]!;
    expect([detail.PrivateDnsName, detail.PrivateDnsNameVerificationState, detail.PrivateDnsNames]).toEqual(['api.example.com', 'pendingVerification', [{ PrivateDnsName: 'api.example.com' }]]);
    const create = (dns?: boolean) => ec2.consumer.send(new CreateVpcEndpointCommand({
      VpcEndpointType: 'Interface', VpcId: 'vpc-client', ServiceName: awsName, SubnetIds: ['subnet-a'], ...(dns === undefined ? {} : { PrivateDnsEnabled: dns }),
    }));
    expect(await refused(create(true))).toMatchObject({ code: 'InvalidParameter', status: 400, message: expect.stringMatching(/^Private DNS can't be enabled/) });

    // verification without the record: failed; the record published (API) and verification again: verified
    await ec2.provider.send(new StartVpcEndpointServicePrivateDnsVerificationCommand({ ServiceId: id }));
    expect((await configuration(id)).PrivateDnsNameConfiguration?.State).toBe('failed');
    expect((await d.provider.post('/sim/dns/records', { name: `${txt.Name}.example.com`, type: 'TXT', value: txt.Value })).status).toBe(200);
    expect((await ec2.provider.send(new StartVpcEndpointServicePrivateDnsVerificationCommand({ ServiceId: id }))).ReturnValue).toBe(true);
    expect((await configuration(id)).PrivateDnsNameConfiguration?.State).toBe('verified');
    expect((await resolver('127.0.0.1').resolveTxt(`${txt.Name}.example.com`))).toEqual([[txt.Value]]);

    // an endpoint without private DNS: the name is not answered; ModifyVpcEndpoint turns it on
    const e = (await create(false)).VpcEndpoint!;
    expect(e.PrivateDnsEnabled).toBe(false);
    const live = await accepted(e.VpcEndpointId!);
    expect(await lookup('api.example.com', IN_VPC)).toBe('ENOTFOUND');
    expect((await ec2.consumer.send(new ModifyVpcEndpointCommand({ VpcEndpointId: e.VpcEndpointId!, PrivateDnsEnabled: true }))).Return).toBe(true);
    expect(await lookup('api.example.com', IN_VPC)).toEqual([live.host_ip]);
    expect(await lookup('api.example.com', OTHER_VPC)).toBe('ENOTFOUND');
    expect(await lookup('api.example.com', '127.0.0.1')).toBe('ENOTFOUND');
    // a client that resolves the name and connects reaches the backend
    const [address] = await resolver(IN_VPC).resolve4('api.example.com');
    expect(await attempt(address!, port, IN_VPC)).toBe('relay');
    // a second endpoint with private DNS for the same name in the same VPC: refused (the first keeps it)
    expect(await refused(create(true))).toMatchObject({ code: 'InvalidParameterValue', status: 400, message: expect.stringMatching(/conflicting DNS domain/) });

    // renamed: the new name answers the endpoint, the old one nothing
    const renamed = async (sid: string, name: string) => {
      await ec2.provider.send(new ModifyVpcEndpointServiceConfigurationCommand({ ServiceId: sid, PrivateDnsName: name }));
      const t = (await configuration(sid)).PrivateDnsNameConfiguration!;
      const zone = name.split('.').slice(1).join('.');
      expect((await d.provider.post('/sim/dns/records', { name: `${t.Name}.${zone}`, type: 'TXT', value: t.Value })).status).toBe(200);
      expect((await ec2.provider.send(new StartVpcEndpointServicePrivateDnsVerificationCommand({ ServiceId: sid }))).ReturnValue).toBe(true);
    };
    await renamed(id, 'api2.example.com');
    expect(await lookup('api2.example.com', IN_VPC)).toEqual([live.host_ip]);
    expect(await lookup('api.example.com', IN_VPC)).toBe('ENOTFOUND');
    // the old name is free in the VPC: another service named so gives it to an endpoint there (the
    // first endpoint's claim went with the name); the renamed one keeps its new name
    const port2 = randomPort();
    backends.push(await startBackend(echo, { host: '127.0.0.1', port: port2 }));
    const id2 = await service({}, port2);
    await renamed(id2, 'api.example.com');
    const e2 = (await ec2.consumer.send(new CreateVpcEndpointCommand({
      VpcEndpointType: 'Interface', VpcId: 'vpc-client', ServiceName: `com.amazonaws.vpce.${REGION}.${id2}`, SubnetIds: ['subnet-a'], PrivateDnsEnabled: true,
    }))).VpcEndpoint!;
    const live2 = await accepted(e2.VpcEndpointId!);
    expect(await lookup('api.example.com', IN_VPC)).toEqual([live2.host_ip]);
    expect(await refused(create(true))).toMatchObject({ code: 'InvalidParameterValue', message: expect.stringMatching(/conflicting DNS domain/) });
    // the first service renamed back to the name the second one's endpoint has in the VPC: its
    // endpoint's private DNS goes off (one endpoint per name per VPC: both answered it)
    await renamed(id, 'api.example.com');
    expect(await lookup('api.example.com', IN_VPC)).toEqual([live2.host_ip]);
    expect((await ec2.consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [e.VpcEndpointId!] }))).VpcEndpoints![0]!.PrivateDnsEnabled).toBe(false);

    // the name removed: no longer answered, gone from the configuration; a third endpoint with
    // private DNS to the service is no conflict any more (the name went with its claim)
    await ec2.provider.send(new ModifyVpcEndpointServiceConfigurationCommand({ ServiceId: id, RemovePrivateDnsName: true }));
    expect((await configuration(id)).PrivateDnsName).toBeUndefined();
    expect(await lookup('api2.example.com', IN_VPC)).toBe('ENOTFOUND');
    await renamed(id2, 'api2.example.com');
    const e3 = (await ec2.consumer.send(new CreateVpcEndpointCommand({
      VpcEndpointType: 'Interface', VpcId: 'vpc-client', ServiceName: `com.amazonaws.vpce.${REGION}.${id2}`, SubnetIds: ['subnet-a'], PrivateDnsEnabled: false,
    }))).VpcEndpoint!;
    await accepted(e3.VpcEndpointId!);
    expect((await ec2.consumer.send(new ModifyVpcEndpointCommand({ VpcEndpointId: e2.VpcEndpointId!, PrivateDnsEnabled: false }))).Return).toBe(true);
    expect((await ec2.consumer.send(new ModifyVpcEndpointCommand({ VpcEndpointId: e3.VpcEndpointId!, PrivateDnsEnabled: true }))).Return).toBe(true);
    expect(await lookup('api2.example.com', IN_VPC)).toEqual([(await accepted(e3.VpcEndpointId!)).host_ip]);
  });
});

describe('AWS: an operator\'s interface service\'s own name', () => {
  it('private DNS is on when PrivateDnsEnabled is absent (AWS\'s default); a second endpoint taking the name in one VPC is refused in both dialects, one without private DNS is not', async () => {
    backends.push(await startBackend(echo, { host: '127.0.0.1', port: KV_PORT }));
    const create = (dns?: boolean) => ec2.consumer.send(new CreateVpcEndpointCommand({
      VpcEndpointType: 'Interface', VpcId: 'vpc-client', ServiceName: `com.amazonaws.${REGION}.kv`, SubnetIds: ['subnet-a'], ...(dns === undefined ? {} : { PrivateDnsEnabled: dns }),
    }));
    const first = (await create()).VpcEndpoint!;
    expect(first.PrivateDnsEnabled).toBe(true);
    const live = await accepted(first.VpcEndpointId!);
    expect(await lookup(`kv.${REGION}.amazonaws.com`, IN_VPC)).toEqual([live.host_ip]);
    const count = async () => (await ec2.consumer.send(new DescribeVpcEndpointsCommand({}))).VpcEndpoints!.filter((e) => e.ServiceName === `com.amazonaws.${REGION}.kv`).length;
    // the name is the first endpoint's: a second one with private DNS, asked or by default, is refused; nothing is made
    for (const dns of [undefined, true]) {
      expect(await refused(create(dns)), String(dns)).toMatchObject({ code: 'InvalidParameterValue', status: 400, message: expect.stringMatching(/conflicting DNS domain/) });
    }
    const huawei = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: live.endpoint_service_id, vpc_id: 'vpc-client', subnet_id: 'subnet-a', enable_dns: true });
    expect([huawei.status, huawei.body.error_msg]).toEqual([400, expect.stringMatching(/conflicting DNS domain/)]);
    expect(await count()).toBe(1);
    // without private DNS: made, and the name still answers the first
    const second = (await create(false)).VpcEndpoint!;
    expect(second.PrivateDnsEnabled).toBe(false);
    expect(await refused(ec2.consumer.send(new ModifyVpcEndpointCommand({ VpcEndpointId: second.VpcEndpointId!, PrivateDnsEnabled: true })))).toMatchObject({ code: 'InvalidParameterValue' });
    // refused beside a subnet added: nothing changes (the subnet and its ENI were added before the refusal)
    expect(await refused(ec2.consumer.send(new ModifyVpcEndpointCommand({ VpcEndpointId: second.VpcEndpointId!, AddSubnetIds: ['subnet-b'], PrivateDnsEnabled: true }))))
      .toMatchObject({ code: 'InvalidParameterValue', message: expect.stringMatching(/conflicting DNS domain/) });
    const after = (await ec2.consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [second.VpcEndpointId!] }))).VpcEndpoints![0]!;
    expect([after.SubnetIds, after.NetworkInterfaceIds?.length, after.PrivateDnsEnabled]).toEqual([['subnet-a'], 1, false]);
    // the subnet alone is added, with the other settings in the same call
    expect((await ec2.consumer.send(new ModifyVpcEndpointCommand({ VpcEndpointId: second.VpcEndpointId!, AddSubnetIds: ['subnet-b'], PrivateDnsEnabled: false }))).Return).toBe(true);
    expect((await ec2.consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [second.VpcEndpointId!] }))).VpcEndpoints![0]!.SubnetIds).toEqual(['subnet-a', 'subnet-b']);
    expect(await lookup(`kv.${REGION}.amazonaws.com`, IN_VPC)).toEqual([live.host_ip]);
    expect(await count()).toBe(2);
  });
});

describe('Alibaba: a custom service domain name through the Huawei-shaped API', () => {
  it('set on the service, verified on publishing its record, answering in the VPC of the endpoint that turns it on', async () => {
    const port = randomPort();
    backends.push(await startBackend(echo, { host: '127.0.0.1', port }));
    const id = await service({ custom_domain_name: '*.shop.example.org' }, port);
    const shown = (await d.provider.get(`/vpc-endpoint-services/${id}`)).body;
    expect(shown.custom_domain_name).toBe('*.shop.example.org');
    expect(shown.custom_domain_verification).toMatchObject({ state: 'pendingVerification', type: 'TXT' });
    const bad = await d.provider.put(`/vpc-endpoint-services/${id}`, { custom_domain_name: 'Shop.example.org' });
    expect([bad.status, bad.body.error_code]).toEqual([400, 'EndPoint.0002']);
    const badRecord = await d.provider.post('/sim/dns/records', { name: 'x.example.org', type: 'A', value: '1.2.3.4' });
    expect(badRecord.status).toBe(400);
    const ep = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: id, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
    const live = await accepted(ep.body.id);
    // published at the parent domain, the way a provider without underscores does: the waiting name is verified at once
    const v = shown.custom_domain_verification;
    expect((await d.provider.post('/sim/dns/records', { name: 'shop.example.org', type: 'TXT', value: v.value })).status).toBe(200);
    expect((await d.provider.get(`/vpc-endpoint-services/${id}`)).body.custom_domain_verification.state).toBe('verified');
    expect((await d.consumer.get(`/vpc-endpoint-services/describe?id=${id}`)).body).toMatchObject({ custom_domain_name: '*.shop.example.org', custom_domain_state: 'verified' });
    expect(await lookup('eu.shop.example.org', IN_VPC)).toBe('ENOTFOUND');
    expect((await d.consumer.put(`/vpc-endpoints/${ep.body.id}`, { enable_dns: true })).status).toBe(200);
    expect(await lookup('eu.shop.example.org', IN_VPC)).toEqual([live.host_ip]);
    expect(await lookup('eu.shop.example.org', OTHER_VPC)).toBe('ENOTFOUND');
    // the public zone lists the config's record and the API's; only one's own records can be removed
    const records = (await d.consumer.get('/sim/dns/records')).body.records;
    expect(records).toEqual(expect.arrayContaining([{ name: 'preset.example.net', type: 'TXT', value: 'from the config', source: 'config' }, { name: 'shop.example.org', type: 'TXT', value: v.value, source: 'api' }]));
    expect((await d.consumer.delete('/sim/dns/records?name=shop.example.org')).status).toBe(404);
    expect((await d.consumer.delete('/sim/dns/records?name=preset.example.net')).status).toBe(404);
    expect((await d.provider.delete('/sim/dns/records?name=shop.example.org')).status).toBe(204);
  });
});

describe('the public zone\'s records of one name', () => {
  it('at most 32 per name (the 33rd refused, changing nothing); all 32 answer over TCP, the UDP answer is truncated for it', async () => {
    const value = (i: number) => `${'v'.repeat(246)}${String(i).padStart(4, '0')}`;
    for (let i = 0; i < 32; i++) expect((await d.provider.post('/sim/dns/records', { name: 'many.example.com', type: 'TXT', value: value(i) })).status).toBe(200);
    const over = await d.provider.post('/sim/dns/records', { name: 'many.example.com', type: 'TXT', value: value(32) });
    expect([over.status, over.body.error_code]).toEqual([403, 'EndPoint.2060']);
    expect(over.body.error_msg).toMatch(/at most 32 records/);
    const listed = (await d.provider.get('/sim/dns/records')).body.records.filter((r: { name: string }) => r.name === 'many.example.com');
    expect(listed).toHaveLength(32);
    const r = resolver('127.0.0.1');
    // Node's resolver (c-ares) asks over UDP and, truncated, again over TCP
    expect((await r.resolveTxt('many.example.com')).map((t) => t.join('')).sort()).toEqual(Array.from({ length: 32 }, (_, i) => value(i)));
    expect((await d.provider.delete('/sim/dns/records?name=many.example.com')).status).toBe(204);
  });
});

describe('the public zone is shared: no account crowds the others out', () => {
  const records = async (name: string) => (await d.provider.get('/sim/dns/records')).body.records.filter((r: { name: string }) => r.name === name);

  it('a name that holds another account\'s records is refused until they are removed, changing nothing', async () => {
    expect((await d.consumer.post('/sim/dns/records', { name: '_claim.example.com', type: 'TXT', value: 'consumer' })).status).toBe(200);
    const taken = await d.provider.post('/sim/dns/records', { name: '_CLAIM.example.com.', type: 'TXT', value: 'provider' });
    expect([taken.status, taken.body.error_code]).toEqual([400, 'EndPoint.0002']);
    expect(taken.body.error_msg).toMatch(/_claim\.example\.com holds records another account published/);
    expect(await records('_claim.example.com')).toEqual([{ name: '_claim.example.com', type: 'TXT', value: 'consumer', source: 'api' }]);
    // the very record that is there already: nothing to add, nothing refused
    expect((await d.provider.post('/sim/dns/records', { name: '_claim.example.com', type: 'TXT', value: 'consumer' })).status).toBe(200);
    // a name left empty is the caller's mistake, not a record that is not there
    expect((await d.consumer.delete('/sim/dns/records?name=')).status).toBe(400);
    expect((await d.consumer.delete('/sim/dns/records?name=_claim.example.com')).status).toBe(204);
    expect((await d.provider.post('/sim/dns/records', { name: '_claim.example.com', type: 'TXT', value: 'provider' })).status).toBe(200);
    expect(await records('_claim.example.com')).toEqual([{ name: '_claim.example.com', type: 'TXT', value: 'provider', source: 'api' }]);
    expect((await d.provider.delete('/sim/dns/records?name=_claim.example.com')).status).toBe(204);
  });

  it('an account publishes at most its dns_records quota (3 here); the others keep publishing', async () => {
    for (let i = 0; i < 3; i++) expect((await d.consumer.post('/sim/dns/records', { name: `q${i}.example.com`, type: 'TXT', value: 'v' })).status).toBe(200);
    const over = await d.consumer.post('/sim/dns/records', { name: 'q3.example.com', type: 'TXT', value: 'v' });
    expect([over.status, over.body.error_code]).toEqual([403, 'EndPoint.2060']);
    expect(over.body.error_msg).toMatch(/at most 3 records of the public zone per account/);
    expect(await records('q3.example.com')).toEqual([]);
    expect((await d.provider.post('/sim/dns/records', { name: 'q3.example.com', type: 'TXT', value: 'v' })).status).toBe(200);
    // one removed, one more fits
    expect((await d.consumer.delete('/sim/dns/records?name=q0.example.com')).status).toBe(204);
    expect((await d.consumer.post('/sim/dns/records', { name: 'q4.example.com', type: 'TXT', value: 'v' })).status).toBe(200);
    for (const n of ['q1', 'q2', 'q4']) expect((await d.consumer.delete(`/sim/dns/records?name=${n}.example.com`)).status).toBe(204);
    expect((await d.provider.delete('/sim/dns/records?name=q3.example.com')).status).toBe(204);
  });
});

describe('answers follow health and zone affinity', () => {
  const hasDig = spawnSync('dig', ['-v'], { stdio: 'ignore' }).status === 0;
  if (!hasDig && process.env.CI !== 'true') console.warn('dns-private.test.ts: dig (Debian bind9-dnsutils) is not installed: the dig check is skipped');
  const dig = (from: string, name: string) => new Promise<string>((resolve) => {
    execFile('dig', ['-p', String(dnsPort), '@127.0.0.1', '+time=3', '+tries=1', '-b', from, '+short', name], { encoding: 'utf8', timeout: 15_000 }, (_err, out) => resolve(out));
  });

  it('a client gets its own zone\'s ENI first; an ENI whose backends all fail leaves the answers within one health interval and comes back', async () => {
    const port = randomPort();
    const a = await startBackend(echo, { host: '127.0.0.1', port });
    backends.push(a, await startBackend(echo, { host: '127.0.0.2', port }));
    // AWS's shortest health checks: every 5 s, unhealthy after 2 failures, healthy after 2 successes
    const id = await service({ backends: [{ port_id: 'port-web' }, { port_id: 'port-web-b' }], health_check: { interval: 5, timeout: 2, healthy_threshold: 2, unhealthy_threshold: 2 } }, port);
    const ep = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: id, vpc_id: 'vpc-client', subnet_ids: ['subnet-a', 'subnet-b'], enable_dns: true, zone_affinity: true });
    expect(ep.status, JSON.stringify(ep.body)).toBe(200);
    const live = await accepted(ep.body.id);
    const [eniA, eniB] = ['sim-1a', 'sim-1b'].map((z) => live.enis.find((n: any) => n.zone === z).host_ip);
    const name = live.dns_names[0];
    expect(await lookup(name, IN_VPC)).toEqual([eniA, eniB]);
    expect(await lookup(name, IN_VPC_B)).toEqual([eniB, eniA]);
    if (hasDig || process.env.CI === 'true') expect((await dig(IN_VPC_B, name)).trim().split('\n')).toEqual([eniB, eniA]);

    const healthOf = async (portId: string) => (await d.provider.get(`/vpc-endpoint-services/${id}`)).body.backend_health.find((h: any) => h.port_id === portId)?.state;
    await waitFor(async () => (await healthOf('port-web')) === 'healthy', 15_000, 'backend a healthy');
    // the backend of zone a dies: once the checker marks it unhealthy, ENI a leaves the answers within one interval (5 s)
    await a.close();
    let unhealthyAt = 0;
    let goneAt = 0;
    await waitFor(async () => {
      if (!unhealthyAt && (await healthOf('port-web')) === 'unhealthy') unhealthyAt = Date.now();
      if (!goneAt && JSON.stringify(await lookup(name, IN_VPC)) === JSON.stringify([eniB])) goneAt = Date.now();
      return unhealthyAt && goneAt;
    }, 30_000, 'ENI a out of the answers');
    expect(goneAt - unhealthyAt).toBeLessThanOrEqual(5_000);
    expect(await lookup(name, IN_VPC_B)).toEqual([eniB]);
    // back: healthy after two successes, and in the answers again
    backends.push(await startBackend(echo, { host: '127.0.0.1', port }));
    await waitFor(async () => JSON.stringify(await lookup(name, IN_VPC)) === JSON.stringify([eniA, eniB]), 30_000, 'ENI a back in the answers');
    expect(await healthOf('port-web')).toBe('healthy');
    // a zone down takes its ENI out at once; every zone of the endpoint down: all its ENIs answer (fail open), refused at connect
    try {
      expect((await d.consumer.post('/sim/zones/sim-1a/down')).status).toBe(200);
      expect(await lookup(name, IN_VPC)).toEqual([eniB]);
      expect((await d.consumer.post('/sim/zones/sim-1b/down')).status).toBe(200);
      expect(await lookup(name, IN_VPC)).toEqual([eniA, eniB]);
    } finally {
      for (const z of ['sim-1a', 'sim-1b']) await d.consumer.post(`/sim/zones/${z}/up`);
    }
    expect(await lookup(name, IN_VPC)).toEqual([eniA, eniB]);
  }, 90_000);
});

describe('the private DNS name in DnsEntries and dns_names; published records kept across a restart', () => {
  /** the daemon stopped and started again on its data dir */
  async function restart(): Promise<void> {
    await d.stop();
    for (const c of Object.values(ec2)) c.destroy();
    d = await startTestDaemon(config(), d.dataDir);
    dnsPort = d.daemon.dnsAddress!.port;
    ec2 = ec2Clients(d.url, AWS_KEYS, REGION);
  }

  it('DescribeVpcEndpoints lists the verified name in the endpoint\'s private hosted zone, Huawei\'s dns_names too; the record answers and verifies after a restart, and is removed for good', async () => {
    const port = randomPort();
    backends.push(await startBackend(echo, { host: '127.0.0.1', port }));
    const id = await service({}, port);
    await ec2.provider.send(new ModifyVpcEndpointServiceConfigurationCommand({ ServiceId: id, PrivateDnsName: 'kept.example.com' }));
    const txt = (await configuration(id)).PrivateDnsNameConfiguration!;
    const record = { name: `${txt.Name}.kept.example.com`, type: 'TXT', value: txt.Value! };
    expect((await d.provider.post('/sim/dns/records', record)).status).toBe(200);
    expect((await configuration(id)).PrivateDnsNameConfiguration?.State).toBe('verified');

    const made = (await ec2.consumer.send(new CreateVpcEndpointCommand({
      VpcEndpointType: 'Interface', VpcId: 'vpc-client', ServiceName: `com.amazonaws.vpce.${REGION}.${id}`, SubnetIds: ['subnet-a'], PrivateDnsEnabled: true,
    }))).VpcEndpoint!;
    const live = await accepted(made.VpcEndpointId!);
    const entries = async () => (await ec2.consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [made.VpcEndpointId!] }))).VpcEndpoints![0]!.DnsEntries!;
    const own = [
      { DnsName: expect.stringMatching(new RegExp(`^${made.VpcEndpointId}-[0-9a-f]{8}\\.${id}\\.${REGION}\\.vpce\\.amazonaws\\.com$`)), HostedZoneId: 'Z7HUB22UULQXV' },
      { DnsName: expect.stringMatching(new RegExp(`^${made.VpcEndpointId}-[0-9a-f]{8}-${REGION}a\\.`)), HostedZoneId: 'Z7HUB22UULQXV' },
    ];
    const withName = await entries();
    expect(withName).toEqual([...own, { DnsName: 'kept.example.com', HostedZoneId: expect.stringMatching(/^Z[A-Z2-7]{20}$/) }]);
    // the provider's view of the connection: the endpoint's own names, not the consumer's private hosted zone
    const connection = (await ec2.provider.send(new DescribeVpcEndpointConnectionsCommand({ Filters: [{ Name: 'vpc-endpoint-id', Values: [made.VpcEndpointId!] }] }))).VpcEndpointConnections![0]!;
    expect(connection.DnsEntries).toEqual(own);
    expect(live.dns_names).toEqual([expect.stringMatching(/\.vpcep\.[a-z0-9-]+\.internal$/), 'kept.example.com']);
    expect(await lookup('kept.example.com', IN_VPC)).toEqual([live.host_ip]);
    // the name is the apex of its private hosted zone: its SOA in the answer (it was only in the authority section, with no answer)
    expect(await resolver(IN_VPC).resolveSoa('kept.example.com')).toMatchObject({ nsname: 'ns.vpcep-sim.invalid' });
    // and the names above it exist: NODATA, not NXDOMAIN (RFC 8020: nothing below)
    expect(await lookup('example.com', IN_VPC)).toBe('ENODATA');
    // private DNS off: the name leaves both lists (and the answers)
    await ec2.consumer.send(new ModifyVpcEndpointCommand({ VpcEndpointId: made.VpcEndpointId!, PrivateDnsEnabled: false }));
    expect(await entries()).toEqual(own);
    expect((await d.consumer.get(`/vpc-endpoints/${made.VpcEndpointId}`)).body.dns_names).toBeUndefined();
    // no address; the name exists all the same, for its verification record is below it: NODATA, not NXDOMAIN (RFC 8020)
    expect(await lookup('kept.example.com', IN_VPC)).toBe('ENODATA');
    await ec2.consumer.send(new ModifyVpcEndpointCommand({ VpcEndpointId: made.VpcEndpointId!, PrivateDnsEnabled: true }));

    await restart();
    const listed = async () => (await d.consumer.get('/sim/dns/records')).body.records.filter((r: any) => r.name === record.name);
    expect(await listed()).toEqual([{ ...record, source: 'api' }]);
    expect(await resolver('127.0.0.1').resolveTxt(record.name)).toEqual([[record.value]]);
    // verification looks the kept record up; the same record again is still one record
    expect((await ec2.provider.send(new StartVpcEndpointServicePrivateDnsVerificationCommand({ ServiceId: id }))).ReturnValue).toBe(true);
    expect((await configuration(id)).PrivateDnsNameConfiguration?.State).toBe('verified');
    expect((await d.provider.post('/sim/dns/records', record)).status).toBe(200);
    expect(await listed()).toHaveLength(1);
    await accepted(made.VpcEndpointId!);
    expect((await entries()).at(-1)?.DnsName).toBe('kept.example.com');
    expect(await lookup('kept.example.com', IN_VPC)).toEqual([live.host_ip]);
    // only its publisher removes it, and removed it stays gone after the next restart
    expect((await d.consumer.delete(`/sim/dns/records?name=${record.name}`)).status).toBe(404);
    expect((await d.provider.delete(`/sim/dns/records?name=${record.name}`)).status).toBe(204);
    await restart();
    expect(await listed()).toEqual([]);
    expect(await resolver('127.0.0.1').resolveTxt(record.name).catch((e: NodeJS.ErrnoException) => e.code)).toBe('ENOTFOUND');
  }, 60_000);

  it('a malformed stored record stops the start with a message naming it', async () => {
    const dir = tempDir();
    await (await startTestDaemon(config(), dir)).stop();
    const db = new Database(path.join(dir, 'data', DB_FILE));
    db.prepare('INSERT INTO documents (kind, id, body) VALUES (?, ?, ?)').run('dnsrecord', 'r1', JSON.stringify({ name: 'Not A Name', type: 'TXT', value: 'v', owner: PROVIDER.name }));
    db.close();
    await expect(startTestDaemon(config(), dir)).rejects.toThrow(/the stored dnsrecord r1 is malformed \(name "Not A Name": labels of 1-63/);
  });
});

// vpcepd on a shared etcd store (--store etcd://..., config `store`; issue 17), against a real etcd
// (test/integration/etcd.ts): both dialects served; etcd stopped while running: writes answer 503
// in each dialect's shape, reads answer from the last known state, the data plane keeps relaying,
// and writes work again once etcd is back, without a restart; two daemons on one etcd keep an
// account's quota exact (50 creates racing through both against a quota of 20: exactly 20 win) and
// share the public zone's published records, whose rules (a name one account's, 32 records a name,
// an account's quota) hold for records sent at once through three daemons, as does a route table's
// one route per gateway service;
// an unreachable etcd at start and a data dir of the other store are clear start-up errors.
import { spawn } from 'node:child_process';
import path from 'node:path';
import {
  AttachInternetGatewayCommand, CreateInternetGatewayCommand, CreateVpcCommand, CreateVpcEndpointCommand, CreateSecurityGroupCommand, CreateTagsCommand, DeleteSecurityGroupCommand, DescribeSecurityGroupsCommand, DescribeVpcEndpointsCommand,
} from '@aws-sdk/client-ec2';
import { CreateLoadBalancerCommand, CreateTargetGroupCommand, DescribeLoadBalancersCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon } from '../../src/daemon.js';
import { createLogger } from '../../src/telemetry/logger.js';
import {
  CONSUMER, PROVIDER, ROOT, SERVICE_BODY, createAvailableService, freePort, skipWithoutPortPrivilege, spawnDaemon, startTestDaemon, tempDir, twoAccountConfig, waitFor, writeConfig, type TestDaemon,
} from '../helpers.js';
import { AWS_KEYS, attempt, ec2Clients, refused } from './aws-sdk.js';
import { echo, startBackend, type TestBackend } from './backends.js';
import { describeWithEtcd, type TestEtcd } from './etcd.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

let etcd: TestEtcd;
let backend: TestBackend;
let prefixes = 0;

/** the two-account config with AWS keys, on etcd under a prefix of its own */
function etcdConfig(prefix: string, endpointQuota = 50): Record<string, unknown> {
  return twoAccountConfig({
    store: `${etcd.url}/${prefix}`,
    accounts: [
      { ...PROVIDER, aws: AWS_KEYS.provider },
      { ...CONSUMER, aws: AWS_KEYS.consumer, quotas: { endpoint_service: 10, endpoint: endpointQuota } },
    ],
  });
}

async function daemonOnEtcd(prefix: string, quota?: number): Promise<TestDaemon> {
  const d = await startTestDaemon(etcdConfig(prefix, quota));
  cleanups.push(() => d.stop());
  return d;
}

/** N daemons on CONFIG (one store: a fleet), stopped after the test */
async function daemonsOn(config: Record<string, unknown>, n: number): Promise<TestDaemon[]> {
  const nodes: TestDaemon[] = [];
  for (let i = 0; i < n; i++) {
    const d = await startTestDaemon(config);
    cleanups.push(() => d.stop());
    nodes.push(d);
  }
  return nodes;
}

/** the consumer's ELBv2 client against URL, without retries */
function elbClient(url: string): ElasticLoadBalancingV2Client {
  const k = AWS_KEYS.consumer;
  return new ElasticLoadBalancingV2Client({ region: 'us-east-1', endpoint: url, maxAttempts: 1, credentials: { accessKeyId: k.access_key_id, secretAccessKey: k.secret_access_key } });
}

async function openService(d: TestDaemon, name: string): Promise<any> {
  const svc = await createAvailableService(d, {
    ...SERVICE_BODY, service_name: name, approval_enabled: false, ports: [{ client_port: 80, server_port: backend.port, protocol: 'TCP' }],
  });
  const allowed = await d.provider.post(`/vpc-endpoint-services/${svc.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] });
  expect(allowed.status).toBe(200);
  return svc;
}

describeWithEtcd('vpcepd on etcd', (e) => {
  etcd = e;
  beforeAll(async () => { backend = await startBackend(echo); }, 30_000);
  afterAll(async () => { await backend?.close(); });

  it('serves both dialects; with etcd stopped writes answer 503 in each shape, reads and the data plane go on; back, it writes again without a restart', async () => {
    const d = await daemonOnEtcd(`d${++prefixes}`);
    const ec2 = ec2Clients(d.url, AWS_KEYS);
    const svc = await openService(d, 'web');
    const ep = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: svc.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
    expect(ep.status, JSON.stringify(ep.body)).toBe(200);
    await d.daemon.control.settle();
    skipWithoutPortPrivilege(); // its port 80
    expect((await d.consumer.get(`/vpc-endpoints/${ep.body.id}`)).body.status).toBe('accepted');
    const described = await ec2.consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [ep.body.id] }));
    expect(described.VpcEndpoints?.map((e) => [e.VpcEndpointId, e.State])).toEqual([[ep.body.id, 'available']]);
    expect(await attempt(ep.body.host_ip, 80, '127.2.1.50')).toBe('relay');

    await etcd.stop();
    cleanups.push(() => etcd.start());
    const huawei = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: svc.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
    expect(huawei.status).toBe(503);
    expect(huawei.body.error_code).toBe('EndPoint.0030');
    expect(huawei.body.error_msg).toMatch(/store at etcd:\/\/127\.0\.0\.1:\d+ is unreachable/);
    const aws = await refused(ec2.consumer.send(new CreateTagsCommand({ Resources: [ep.body.id], Tags: [{ Key: 'k', Value: 'v' }] })));
    expect(aws).toMatchObject({ code: 'ServiceUnavailable', status: 503 });
    // reads from the last known state, and the data plane relays what it has
    const list = await d.consumer.get('/vpc-endpoints');
    expect(list.status).toBe(200);
    expect(list.body.endpoints.map((e: { id: string }) => e.id)).toEqual([ep.body.id]);
    expect(await attempt(ep.body.host_ip, 80, '127.2.1.50')).toBe('relay');

    await etcd.start();
    let again: any;
    const deadline = Date.now() + 30_000;
    do {
      again = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: svc.id, vpc_id: 'vpc-client', subnet_id: 'subnet-b' });
      if (again.status === 200) break;
      expect(again.status, JSON.stringify(again.body)).toBe(503);
      await new Promise((r) => setTimeout(r, 500));
    } while (Date.now() < deadline);
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    await d.daemon.control.settle();
    expect(await attempt(again.body.host_ip, 80, '127.2.1.50')).toBe('relay');
  }, 90_000);

  it('two daemons on one etcd: 50 creates racing through both against a quota of 20, exactly 20 succeed', async () => {
    const prefix = `d${++prefixes}`;
    const a = await daemonOnEtcd(prefix, 20);
    const svc = await openService(a, 'shared');
    const b = await daemonOnEtcd(prefix, 20);
    // B read A's service from etcd at start
    expect((await b.provider.get(`/vpc-endpoint-services/${svc.id}`)).body.status).toBe('available');
    // a record published in the public zone through A is B's too (stored: kind dnsrecord); removed through B, it goes on A
    const record = { name: 'shared.example.com', type: 'TXT', value: 'published through a' };
    expect((await a.provider.post('/sim/dns/records', record)).status).toBe(200);
    const listed = async (d: TestDaemon) => (await d.provider.get('/sim/dns/records')).body.records.some((r: { name: string }) => r.name === record.name);
    await waitFor(() => listed(b), 10_000, 'B to see A\'s record');
    expect((await b.provider.delete(`/sim/dns/records?name=${record.name}`)).status).toBe(204);
    await waitFor(async () => !(await listed(a)), 10_000, 'A to see the record go');
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) =>
      (i % 2 ? b : a).consumer.post('/vpc-endpoints', { endpoint_service_id: svc.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a' })));
    const won = results.filter((r) => r.status === 200);
    const lost = results.filter((r) => r.status !== 200);
    expect(won).toHaveLength(20);
    for (const r of lost) expect(['EndPoint.0031', 'EndPoint.2037'].includes(r.body.error_code) || r.body.error_msg?.includes('quota'), JSON.stringify(r.body)).toBe(true);
    // no private IP and no SNAT address twice
    expect(new Set(won.map((r) => r.body.ip)).size).toBe(20);
    expect(new Set(won.map((r) => r.body.host_ip)).size).toBe(20);
    await a.daemon.control.settle();
    await b.daemon.control.settle();
    // every one of them relays, through the daemon it is placed on: one placed on the other daemon is
    // brought up there once that daemon's watch delivers it, which settle() does not wait for
    for (const r of won) {
      await waitFor(async () => (await attempt(r.body.host_ip, 80, '127.2.1.50')) === 'relay', 10_000, `${r.body.id} to relay`);
    }
    // each daemon follows the store: a read on either shows the 20, whichever daemon made them
    const ids = won.map((r) => r.body.id).sort();
    for (const d of [a, b]) {
      await waitFor(async () => (await d.consumer.get('/vpc-endpoints?limit=100')).body.endpoints?.length === 20, 10_000, 'the other daemon\'s endpoints');
      expect((await d.consumer.get('/vpc-endpoints?limit=100')).body.endpoints.map((e: { id: string }) => e.id).sort()).toEqual(ids);
    }
    // deleted through B, an endpoint A made and serves stops relaying on A, and its quota slot is free again
    const ofA = won.find((r) => results.indexOf(r) % 2 === 0)!;
    // a toxic put on it through A goes with it (the toxics are stored: every daemon drops it)
    expect((await a.consumer.post('/sim/toxics', { scope: `endpoint:${ofA.body.id}`, type: 'latency', attributes: { latency: 1 } })).status).toBe(200);
    expect((await b.consumer.delete(`/vpc-endpoints/${ofA.body.id}`)).status).toBe(204);
    await waitFor(async () => (await a.consumer.get(`/vpc-endpoints/${ofA.body.id}`)).status === 404, 10_000, 'A to see the delete');
    await waitFor(async () => (await a.consumer.get('/sim/toxics')).body.toxics?.length === 0, 10_000, 'A to drop the deleted endpoint\'s toxic');
    await waitFor(async () => (await attempt(ofA.body.host_ip, 80, '127.2.1.50')) !== 'relay', 10_000, 'A to close its listener');
    await a.daemon.control.settle();
    const more = await a.consumer.post('/vpc-endpoints', { endpoint_service_id: svc.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
    expect(more.status, JSON.stringify(more.body)).toBe(200);
    expect((await b.consumer.post('/vpc-endpoints', { endpoint_service_id: svc.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a' })).status).not.toBe(200);
  }, 90_000);

  it('two daemons on one etcd keep the service quota and unique names: services, security groups, load balancers and target groups raced through both', async () => {
    const prefix = `d${++prefixes}`;
    const a = await daemonOnEtcd(prefix);
    const b = await daemonOnEtcd(prefix);
    // the provider's service quota (the default, 20): 30 creates, 15 through each daemon, at once
    const services = await Promise.all(Array.from({ length: 30 }, (_, i) =>
      (i % 2 ? b : a).provider.post('/vpc-endpoint-services', { ...SERVICE_BODY, service_name: `q${i}`, ports: [{ client_port: 1000 + i, server_port: 80, protocol: 'TCP' }] })));
    const made = services.filter((r) => r.status === 200);
    for (const r of services.filter((x) => x.status !== 200)) expect(['EndPoint.2060', 'EndPoint.0031'], JSON.stringify(r.body)).toContain(r.body.error_code);
    expect(made.length).toBeLessThanOrEqual(20);
    expect(made.length).toBeGreaterThan(0);
    await waitFor(async () => (await b.provider.get('/vpc-endpoint-services?limit=100')).body.total_count === made.length, 10_000, 'B to see every service');
    const quota = (await a.provider.get('/quotas')).body.quotas.resources.find((q: { type: string }) => q.type === 'endpoint_service');
    expect(quota.used).toBeLessThanOrEqual(quota.quota);
    // one name, raced through both: one of each kind is made
    const ec2 = { a: ec2Clients(a.url, AWS_KEYS).consumer, b: ec2Clients(b.url, AWS_KEYS).consumer };
    const elb = { a: elbClient(a.url), b: elbClient(b.url) };
    cleanups.push(() => { for (const c of [...Object.values(ec2), ...Object.values(elb)]) c.destroy(); });
    // the losers answer the group name's own refusal, as if they had seen the winner (before: some
    // answered ServiceUnavailable, the store's conflict, when their node had not yet seen the winning claim)
    const race = async (make: (side: 'a' | 'b') => Promise<unknown>) => {
      const results = await Promise.allSettled([make('a'), make('b'), make('a'), make('b')]);
      return { made: results.filter((r) => r.status === 'fulfilled').length, refused: results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).name] : [])) };
    };
    expect(await race((x) => ec2[x].send(new CreateSecurityGroupCommand({ VpcId: 'vpc-client', GroupName: 'raced', Description: 'raced' }))))
      .toEqual({ made: 1, refused: Array(3).fill('InvalidGroup.Duplicate') });
    // ELBv2's creates are idempotent: the losers with the winner's settings answer its load balancer
    // or target group (one ARN), those with other settings the name's refusal, once their node holds
    // the winner's batch (before: every loser was refused, the same settings too)
    const answered = async (make: (side: 'a' | 'b', i: number) => Promise<string | undefined>) => {
      const results = await Promise.allSettled([make('a', 0), make('b', 1), make('a', 2), make('b', 3)]);
      const arns = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      return { answered: arns.length, arns: new Set(arns).size, refused: results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).name] : [])) };
    };
    const tg = (x: 'a' | 'b', name: string, port: number) =>
      elb[x].send(new CreateTargetGroupCommand({ Name: name, Protocol: 'TCP', Port: port, VpcId: 'vpc-client', TargetType: 'ip' })).then((o) => o.TargetGroups![0]!.TargetGroupArn);
    const lb = (x: 'a' | 'b', name: string, scheme: 'internal' | 'internet-facing') =>
      elb[x].send(new CreateLoadBalancerCommand({ Name: name, Type: 'network', Scheme: scheme, Subnets: ['subnet-a'] })).then((o) => o.LoadBalancers![0]!.LoadBalancerArn);
    expect(await answered((x) => tg(x, 'raced-tg', 80))).toEqual({ answered: 4, arns: 1, refused: [] });
    expect(await answered((x) => lb(x, 'raced-lb', 'internal'))).toEqual({ answered: 4, arns: 1, refused: [] });
    // each node's calls with settings of their own: the winner's two answered, the other node's refused
    expect(await answered((x, i) => tg(x, 'raced-tg2', 80 + (i % 2)))).toEqual({ answered: 2, arns: 1, refused: Array(2).fill('DuplicateTargetGroupNameException') });
    expect(await answered((x, i) => lb(x, 'raced-lb2', i % 2 ? 'internal' : 'internet-facing')))
      .toEqual({ answered: 2, arns: 1, refused: Array(2).fill('DuplicateLoadBalancerNameException') });
    await waitFor(async () => (await elb.b.send(new DescribeLoadBalancersCommand({}))).LoadBalancers?.length === 2, 10_000, 'B to see the two load balancers');
    // the name is free again once its holder is gone
    const groups = await ec2.b.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: ['raced'] }] }));
    await waitFor(async () => ((await ec2.b.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: ['raced'] }] }))).SecurityGroups ?? []).length === 1, 10_000, 'B to see the group');
    const id = (groups.SecurityGroups?.[0] ?? (await ec2.a.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: ['raced'] }] }))).SecurityGroups![0]!).GroupId!;
    await ec2.a.send(new DeleteSecurityGroupCommand({ GroupId: id }));
    await waitFor(async () => {
      try {
        await ec2.b.send(new CreateSecurityGroupCommand({ VpcId: 'vpc-client', GroupName: 'raced', Description: 'again' }));
        return true;
      } catch {
        return false;
      }
    }, 10_000, 'the name free again through B');
  }, 90_000);

  it('a service deleted through one daemon while an endpoint is created on it through the other: the endpoint fails as its service\'s (EndPoint.2003), never as vpcep-sim\'s own fault', async () => {
    const prefix = `d${++prefixes}`;
    const a = await daemonOnEtcd(prefix);
    const b = await daemonOnEtcd(prefix);
    let raced = 0;
    for (let i = 0; i < 8 && raced < 2; i++) {
      const svc = await openService(a, `race${i}`);
      await waitFor(async () => (await b.provider.get(`/vpc-endpoint-services/${svc.id}`)).body.status === 'available', 10_000, 'B to see the service');
      const [created, deleted] = await Promise.all([
        b.consumer.post('/vpc-endpoints', { endpoint_service_id: svc.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a' }),
        a.provider.delete(`/vpc-endpoint-services/${svc.id}`),
      ]);
      if (created.status === 200 && deleted.status === 204) {
        raced++;
        // both answered: the endpoint cannot relay, and says why in its service's terms
        const ended = await waitFor(async () => {
          const e = (await b.consumer.get(`/vpc-endpoints/${created.body.id}`)).body;
          return e.status === 'failed' ? e : null;
        }, 10_000, 'the endpoint failed');
        expect(ended.error).toEqual([{ error_code: 'EndPoint.2003', error_message: `endpoint service ${svc.id} was deleted` }]);
      }
      if (created.status === 200) await b.consumer.delete(`/vpc-endpoints/${created.body.id}`);
      if (deleted.status !== 204) {
        await waitFor(async () => [204, 404].includes((await a.provider.delete(`/vpc-endpoint-services/${svc.id}`)).status), 10_000, 'the service deleted');
      }
    }
    // the race is the point: both answered in at least one try (a hunt saw it in 12 of 12)
    expect(raced).toBeGreaterThan(0);
  }, 90_000);

  it("a name or a VPC that another writer claimed, before this daemon saw the document that holds it, is refused as the name's or the VPC's (InvalidGroup.Duplicate, Resource.AlreadyAssociated); before, ServiceUnavailable", async () => {
    // the other writer's claims alone, put in etcd as a node's commit would write them: the group and
    // the gateway that hold them are not (yet) there, as when the winner's documents are on their way
    const prefix = `c${++prefixes}`;
    const d = await daemonOnEtcd(prefix);
    const ec2 = ec2Clients(d.url, AWS_KEYS).consumer;
    const client = new Etcd3({ hosts: `http://${etcd.endpoint}` });
    cleanups.push(() => { ec2.destroy(); client.close(); });
    const claim = (id: string, holder: string) => client.put(`${prefix}/claim/${id}`).value(JSON.stringify({ schema: 1, body: { holder } }));
    await claim('sg-name/vpc-client/taken', 'securitygroup/sg-0123456789abcdef0');
    const vpc = (await ec2.send(new CreateVpcCommand({ CidrBlock: '172.30.0.0/16' }))).Vpc!.VpcId!;
    const igw = (await ec2.send(new CreateInternetGatewayCommand({}))).InternetGateway!.InternetGatewayId!;
    await claim(`igw-vpc/${vpc}`, 'internetgateway/igw-0123456789abcdef0');
    // what changes nothing: the daemon's revision, once its watch brought the claims (still for 300 ms)
    let seen = -1;
    await waitFor(async () => {
      const before = d.daemon.control.revision;
      await new Promise((r) => setTimeout(r, 300));
      seen = d.daemon.control.revision;
      return seen === before;
    }, 10_000, 'the daemon\'s revision to hold still');
    const revision = seen;
    expect(await refused(ec2.send(new CreateSecurityGroupCommand({ VpcId: 'vpc-client', GroupName: 'taken', Description: 'x' }))))
      .toMatchObject({ code: 'InvalidGroup.Duplicate', status: 400 });
    expect(await refused(ec2.send(new AttachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: vpc }))))
      .toMatchObject({ code: 'Resource.AlreadyAssociated', status: 400 });
    expect(d.daemon.control.revision).toBe(revision);
  }, 60_000);

  it("the public zone's rules hold across three daemons: a name is one account's (EndPoint.0002), holds 32 records, and an account publishes its quotas.dns_records (EndPoint.2060); before, records sent at once through several daemons passed each", async () => {
    const prefix = `d${++prefixes}`;
    const config = twoAccountConfig({
      store: `${etcd.url}/${prefix}`,
      accounts: [PROVIDER, { ...CONSUMER, quotas: { dns_records: 40 } }],
    });
    const nodes = await daemonsOn(config, 3);
    const [a, b] = nodes as [TestDaemon, TestDaemon, TestDaemon];
    const records = async (d: TestDaemon, name: (n: string) => boolean) =>
      (await d.provider.get('/sim/dns/records')).body.records.filter((r: { name: string }) => name(r.name)).length;
    const everywhere = (name: (n: string) => boolean, n: number, what: string) =>
      Promise.all(nodes.map((d) => waitFor(async () => (await records(d, name)) === n, 10_000, what)));
    // two accounts publishing first at one name at once, through two daemons: one owns it (before: both 200, 10 of 10 rounds)
    let providers = 0;
    for (let i = 0; i < 10; i++) {
      const name = `owned${i}.example.com`;
      const [p, c] = await Promise.all([
        a.provider.post('/sim/dns/records', { name, type: 'TXT', value: 'provider' }),
        b.consumer.post('/sim/dns/records', { name, type: 'TXT', value: 'consumer' }),
      ]);
      expect([p.status, c.status].sort(), JSON.stringify([p.body, c.body])).toEqual([200, 400]);
      expect((p.status === 400 ? p : c).body.error_code).toBe('EndPoint.0002');
      if (p.status === 200) providers++;
      // the consumer's go: its quota below is counted from none
      else expect((await b.consumer.delete(`/sim/dns/records?name=${name}`)).status).toBe(204);
    }
    await everywhere((n) => n.startsWith('owned'), providers, 'every daemon to hold the provider\'s names alone');
    // 45 records to one name, at once through the three: 32 stored (before: 33-34)
    const many = await Promise.all(Array.from({ length: 45 }, (_, i) =>
      nodes[i % 3]!.provider.post('/sim/dns/records', { name: 'many.example.com', type: 'TXT', value: `v${i}` })));
    for (const r of many.filter((x) => x.status !== 200)) expect(['EndPoint.2060', 'EndPoint.0031'], JSON.stringify(r.body)).toContain(r.body.error_code);
    const stored = many.filter((r) => r.status === 200).length;
    expect(stored).toBeLessThanOrEqual(32);
    await everywhere((n) => n === 'many.example.com', stored, 'every daemon to hold the name\'s records');
    // the consumer's quota of 40: 30 published, then 20 new names at once through the three (before: 42 stored)
    for (let i = 0; i < 30; i++) expect((await a.consumer.post('/sim/dns/records', { name: `q${i}.consumer.example`, type: 'TXT', value: 'v' })).status).toBe(200);
    const quota = await Promise.all(Array.from({ length: 20 }, (_, i) =>
      nodes[i % 3]!.consumer.post('/sim/dns/records', { name: `r${i}.consumer.example`, type: 'TXT', value: 'v' })));
    for (const r of quota.filter((x) => x.status !== 200)) expect(['EndPoint.2060', 'EndPoint.0031'], JSON.stringify(r.body)).toContain(r.body.error_code);
    const published = 30 + quota.filter((r) => r.status === 200).length;
    expect(published).toBeLessThanOrEqual(40);
    await everywhere((n) => n.endsWith('.consumer.example'), published, 'every daemon to hold the consumer\'s records');
  }, 90_000);

  it('a route table routes to a gateway service through one endpoint across daemons (EndPoint.2039, RouteAlreadyExists); before, creates at once through several daemons made two routes', async () => {
    const prefix = `d${++prefixes}`;
    const config = twoAccountConfig({
      store: `${etcd.url}/${prefix}`,
      region: 'us-east-1',
      accounts: [{ ...PROVIDER, aws: AWS_KEYS.provider }, { ...CONSUMER, aws: AWS_KEYS.consumer }],
      vpcs: [{ id: 'vpc-client', account: 'consumer', cidr: '10.0.0.0/16', subnets: [{ id: 'subnet-a', cidr: '10.0.1.0/24' }], route_tables: [{ id: 'rtb-a', subnets: ['subnet-a'] }] }],
      public_services: [{ name: 's3', service_type: 'gateway', prefix_list: { id: 'pl-s3', cidrs: ['100.125.0.0/24'] }, ports: [{ port: await freePort(), target: '127.0.0.1:9' }] }],
    });
    const nodes = await daemonsOn(config, 3);
    const [a, b] = nodes as [TestDaemon, TestDaemon, TestDaemon];
    const s3 = (await a.consumer.get('/vpc-endpoint-services/public')).body.endpoint_services.find((s: { service_name: string }) => s.service_name.endsWith('s3')).id;
    const routes = async (d: TestDaemon) =>
      (await d.consumer.get('/routetables/rtb-a')).body.routetable.routes.filter((r: { destination: string }) => r.destination === 'pl-s3').length;
    const gone = async (id: string) => {
      for (const d of nodes) await waitFor(async () => [404, 204].includes((await d.consumer.delete(`/vpc-endpoints/${id}`)).status), 10_000, `${id} deleted`);
      for (const d of nodes) await waitFor(async () => (await routes(d)) === 0, 10_000, 'the route gone everywhere');
    };
    for (let i = 0; i < 5; i++) {
      const made = await Promise.all([a, b].map((d) => d.consumer.post('/vpc-endpoints', { endpoint_service_id: s3, vpc_id: 'vpc-client', routetables: ['rtb-a'] })));
      expect(made.map((r) => r.status).sort(), JSON.stringify(made.map((r) => r.body))).toEqual([200, 409]);
      expect(made.find((r) => r.status === 409)!.body.error_code).toBe('EndPoint.2039');
      for (const d of nodes) await waitFor(async () => (await routes(d)) === 1, 10_000, 'one route on every daemon');
      await gone(made.find((r) => r.status === 200)!.body.id);
    }
    const ec2 = nodes.map((d) => ec2Clients(d.url, AWS_KEYS).consumer);
    cleanups.push(() => { for (const c of ec2) c.destroy(); });
    const results = await Promise.allSettled(ec2.map((c) => c.send(new CreateVpcEndpointCommand({
      VpcEndpointType: 'Gateway', VpcId: 'vpc-client', ServiceName: 'com.amazonaws.us-east-1.s3', RouteTableIds: ['rtb-a'],
    }))));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect((r.reason as Error).name).toBe('RouteAlreadyExists');
    for (const d of nodes) await waitFor(async () => (await routes(d)) === 1, 10_000, 'one route on every daemon');
  }, 90_000);

  it('a data dir of the SQLite store is refused on etcd, and the other way round', async () => {
    const dir = tempDir();
    const sqlite = await startTestDaemon(twoAccountConfig(), dir);
    await sqlite.stop();
    const configFile = writeConfig(dir, etcdConfig(`d${++prefixes}`), 'etcd.yaml');
    await expect(startDaemon({ configFile, dataDir: path.join(dir, 'data'), listen: { host: '127.0.0.1', port: 0 }, dnsListen: { host: '127.0.0.1', port: 0 }, log: createLogger('silent') }))
      .rejects.toThrow(/data dir .* belongs to the store sqlite, not etcd:\/\/.*give this daemon a data dir of its own/);
    const onEtcd = tempDir();
    const e = await startTestDaemon(etcdConfig(`d${++prefixes}`), onEtcd);
    await e.stop();
    const back = writeConfig(onEtcd, twoAccountConfig(), 'sqlite.yaml');
    await expect(startDaemon({ configFile: back, dataDir: path.join(onEtcd, 'data'), listen: { host: '127.0.0.1', port: 0 }, dnsListen: { host: '127.0.0.1', port: 0 }, log: createLogger('silent') }))
      .rejects.toThrow(/belongs to the store etcd:\/\/.*, not sqlite/);
  }, 60_000);
});

describe('vpcepd --store', () => {
  it('an unreachable etcd at start is a clear start-up error naming the address', async () => {
    // not spawnDaemon: its wait for GET / is shorter than the 10 s vpcepd waits for etcd on a loaded machine
    const proc = spawn(process.execPath, [path.join(ROOT, 'bin/vpcepd.js'), '--listen', `127.0.0.1:${await freePort()}`,
      '--data-dir', path.join(tempDir(), 'data'), '--store', 'etcd://127.0.0.1:9'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (b) => { out += b; });
    proc.stderr.on('data', (b) => { out += b; });
    const code = await new Promise((resolve) => proc.once('exit', resolve));
    expect(code).toBe(1);
    expect(out).toMatch(/vpcepd: cannot start: cannot reach etcd at 127\.0\.0\.1:9 within 10 s/);
  }, 60_000);

  it('a malformed --store is a usage error', async () => {
    const d = await spawnDaemon(['--data-dir', path.join(tempDir(), 'data'), '--store', 'etcd://nohost']);
    expect((await d.exited).code).toBe(2);
    expect(d.output()).toMatch(/--store "nohost" in etcd:\/\/nohost is not host:port/);
  });
});

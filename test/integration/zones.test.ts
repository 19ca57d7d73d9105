// Zones (issue 13): an interface endpoint with one ENI per zone, each relaying on its own host
// address; zones added and removed live (a removed zone's connections cut before the answer,
// another zone's live transfer untouched); bad input in both dialects, nothing changed; a zone
// taken down on demand (its ENI refuses zone_down and its live connection is cut, the others
// relay) and brought back; a restart keeps the ENIs and the outage. Real sockets, the Huawei API
// and @aws-sdk/client-ec2; both relays (npm run test:js-relay).
import net from 'node:net';
import {
  CreateVpcEndpointCommand, DescribeAvailabilityZonesCommand, DescribeNetworkInterfacesCommand, DescribeVpcEndpointsCommand, EC2Client,
  ModifyVpcEndpointCommand,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMER, PROVIDER, SERVICE_BODY, createAvailableService, scrapeMetrics, startTestDaemon, tempDir, twoAccountConfig, waitFor, type TestDaemon } from '../helpers.js';
import { AWS_KEYS, attempt, ec2Clients, refused } from './aws-sdk.js';
import { echo, randomPort, startBackend, type TestBackend } from './backends.js';

const dir = tempDir();
let d: TestDaemon;
let backend: TestBackend;
let port: number;
let k: number;
let ec2: Record<keyof typeof AWS_KEYS, EC2Client>;
/** the public interface service `zonal` (in every zone) */
let zonalId: string;
const open: net.Socket[] = [];

/** the consumer's VPC has a subnet in each zone, and a second one in zone a */
const config = () => twoAccountConfig({
  accounts: [{ ...PROVIDER, aws: AWS_KEYS.provider }, { ...CONSUMER, aws: AWS_KEYS.consumer }],
  vpcs: [
    {
      id: 'vpc-app', account: 'provider', cidr: '192.168.0.0/16',
      subnets: [{ id: 'subnet-app', cidr: '192.168.24.0/24' }],
      ports: [{ id: 'port-web', subnet: 'subnet-app', ip: '192.168.24.246', type: 'VM', target: '127.0.0.1' }],
    },
    {
      id: 'vpc-client', account: 'consumer', cidr: '10.0.0.0/16',
      subnets: [
        { id: 'subnet-a', cidr: '10.0.1.0/24' }, { id: 'subnet-b', cidr: '10.0.2.0/24', zone: 'sim-1b' },
        { id: 'subnet-c', cidr: '10.0.3.0/24', zone: 'sim-1c' }, { id: 'subnet-a2', cidr: '10.0.4.0/24', zone: 'sim-1a' },
      ],
    },
  ],
  public_services: [{ name: 'zonal', service_type: 'interface', ports: [{ port, target: `127.0.0.1:${backend.port}` }] }],
});

async function start(): Promise<void> {
  d = await startTestDaemon(config(), dir);
  k = d.daemon.control.routing().vpcs.get('vpc-client')!.number;
  ec2 = ec2Clients(d.url, AWS_KEYS);
  const pub = (await d.consumer.get('/vpc-endpoint-services/public')).body.endpoint_services;
  zonalId = pub.find((s: { service_name: string }) => s.service_name === 'sim-1.zonal').id;
}

beforeAll(async () => {
  backend = await startBackend(echo);
  port = randomPort();
  await start();
});

afterAll(async () => {
  for (const s of open) s.destroy();
  for (const c of Object.values(ec2 ?? {})) c.destroy();
  await d?.stop();
  await backend?.close();
});

/** a client of vpc-client (10.0.1.50, host address 127.k.1.50) to an ENI's host address */
const client = () => `127.${k}.1.50`;

/** an echo session held open through an ENI: `roundTrip` sends and waits for the echo; `closed` resolves when the daemon ends it */
async function session(hostIp: string): Promise<{ roundTrip(text: string): Promise<string>; closed: Promise<string> }> {
  const s = net.connect({ host: hostIp, port, localAddress: client() });
  open.push(s);
  let buffered = '';
  let waiter: (() => void) | null = null;
  s.on('data', (b) => { buffered += String(b); waiter?.(); });
  const closed = new Promise<string>((resolve) => {
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    s.on('close', () => resolve('closed'));
  });
  await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('error', reject); });
  return {
    closed,
    roundTrip: async (text) => {
      buffered = '';
      s.write(text);
      await Promise.race([
        new Promise<void>((resolve) => { waiter = () => { if (buffered.length >= text.length) resolve(); }; }),
        closed,
      ]);
      return buffered;
    },
  };
}

async function accepted(id: string): Promise<any> {
  return waitFor(async () => {
    const r = await d.consumer.get(`/vpc-endpoints/${id}`);
    return r.body.status === 'accepted' ? r.body : null;
  }, 5_000, `endpoint ${id} accepted`);
}

async function endpointCount(): Promise<number> {
  return (await d.consumer.get('/vpc-endpoints?limit=1000')).body.total_count;
}

describe('an endpoint with one ENI per zone (Huawei API)', () => {
  let ep: any;

  it('is created in three subnets of three zones and relays on each ENI', async () => {
    const r = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: zonalId, vpc_id: 'vpc-client', subnet_ids: ['subnet-a', 'subnet-b', 'subnet-c'] });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    ep = await accepted(r.body.id);
    expect(ep.enis.map((n: any) => [n.zone, n.subnet_id])).toEqual([['sim-1a', 'subnet-a'], ['sim-1b', 'subnet-b'], ['sim-1c', 'subnet-c']]);
    // the legacy fields are the first ENI's
    expect({ subnet_id: ep.subnet_id, ip: ep.ip, host_ip: ep.host_ip }).toEqual({ subnet_id: 'subnet-a', ip: ep.enis[0].ip, host_ip: ep.enis[0].host_ip });
    for (const n of ep.enis) {
      expect(n.id).toMatch(/^eni-[0-9a-f]{17}$/);
      expect(n.host_ip).toBe(`127.${k}.${n.ip.split('.').slice(2).join('.')}`);
      expect(await attempt(n.host_ip, port, client())).toBe('relay');
    }
    const zones = (await scrapeMetrics(d.url)).filter((s) => s.name === 'vpcep_zone_connections_total');
    for (const z of ['sim-1a', 'sim-1b', 'sim-1c']) expect(zones.find((s) => s.labels.zone === z)?.value).toBeGreaterThanOrEqual(1);
    const vpc = (await d.consumer.get('/vpcs')).body.vpcs.find((v: any) => v.id === 'vpc-client');
    expect(vpc.subnets.map((s: any) => s.zone)).toEqual(['sim-1a', 'sim-1b', 'sim-1c', 'sim-1a']);
  });

  it('removing a zone cuts its connections before the answer; another zone\'s live transfer keeps flowing', async () => {
    const [, b, c] = ep.enis;
    const onB = await session(b.host_ip);
    const onC = await session(c.host_ip);
    expect(await onB.roundTrip('before')).toBe('before');
    expect(await onC.roundTrip('before')).toBe('before');
    const r = await d.consumer.post(`/vpc-endpoints/${ep.id}/subnets/action`, { action: 'remove', subnet_ids: ['subnet-c'] });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.enis.map((n: any) => n.zone)).toEqual(['sim-1a', 'sim-1b']);
    // cut before the API answered: the close is already on its way
    expect(await Promise.race([onC.closed, new Promise((resolve) => setTimeout(() => resolve('still open'), 2_000))])).not.toBe('still open');
    expect(await onB.roundTrip('x'.repeat(64 * 1024))).toHaveLength(64 * 1024);
    expect(await attempt(c.host_ip, port, client())).toBe('ECONNREFUSED');
    expect(await attempt(b.host_ip, port, client())).toBe('relay');
  });

  it('adding a zone binds its ENI before the answer', async () => {
    const r = await d.consumer.post(`/vpc-endpoints/${ep.id}/subnets/action`, { action: 'add', subnet_ids: ['subnet-c'] });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const c = r.body.enis.find((n: any) => n.zone === 'sim-1c');
    expect(await attempt(c.host_ip, port, client())).toBe('relay');
    ep = r.body;
  });

  it('bad input: a clear EndPoint error, nothing changed', async () => {
    const before = await endpointCount();
    const provider = await createAvailableService(d, { ...SERVICE_BODY, approval_enabled: false, ports: [{ client_port: port + 1, server_port: backend.port, protocol: 'TCP' }] });
    await d.provider.post(`/vpc-endpoint-services/${provider.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] });
    const cases: Array<[string, unknown, RegExp]> = [
      ['two subnets of one zone', { endpoint_service_id: zonalId, vpc_id: 'vpc-client', subnet_ids: ['subnet-a', 'subnet-a2'] }, /subnets subnet-a and subnet-a2 are both in zone sim-1a/],
      ['a subnet in a zone the service is not in', { endpoint_service_id: provider.id, vpc_id: 'vpc-client', subnet_ids: ['subnet-a', 'subnet-b'] }, /subnet subnet-b is in zone sim-1b, where endpoint service .* is not \(its zones: sim-1a\)/],
      ['an unknown subnet', { endpoint_service_id: zonalId, vpc_id: 'vpc-client', subnet_ids: ['subnet-a', 'subnet-zz'] }, /subnet subnet-zz does not exist/],
      ['subnet_ids with subnet_id', { endpoint_service_id: zonalId, vpc_id: 'vpc-client', subnet_id: 'subnet-a', subnet_ids: ['subnet-b'] }, /subnet_ids replaces subnet_id/],
    ];
    for (const [what, body, message] of cases) {
      const r = await d.consumer.post('/vpc-endpoints', body);
      expect(r.status, what).toBe(what === 'an unknown subnet' ? 404 : 400);
      expect(r.body.error_msg, what).toMatch(message);
      expect(r.body.error_code, what).toMatch(/^EndPoint\.\d{4}$/);
    }
    const action = (body: unknown) => d.consumer.post(`/vpc-endpoints/${ep.id}/subnets/action`, body);
    expect((await action({ action: 'add', subnet_ids: ['subnet-a2'] })).body).toMatchObject({ error_code: 'EndPoint.0002', error_msg: expect.stringMatching(/both in zone sim-1a/) });
    expect((await action({ action: 'remove', subnet_ids: ['subnet-a2'] })).body).toMatchObject({ error_code: 'EndPoint.0023', error_msg: expect.stringMatching(/no ENI in subnet subnet-a2/) });
    expect((await action({ action: 'remove', subnet_ids: ['subnet-a', 'subnet-b', 'subnet-c'] })).body.error_msg).toMatch(/keeps at least one subnet/);
    expect((await action({ action: 'move', subnet_ids: ['subnet-a'] })).status).toBe(400);
    expect(await endpointCount()).toBe(before);
    expect((await d.consumer.get(`/vpc-endpoints/${ep.id}`)).body.enis).toEqual(ep.enis);
  });
});

/** an interface endpoint with no ENI, made through the EC2 API (kept across the restart below) */
let idle = '';

describe('zones through the EC2 API', () => {
  let vpce = '';

  it('CreateVpcEndpoint takes SubnetId.N (and SubnetConfiguration.N.Ipv4); Describe shows every ENI, zonal DNS names and AZs', async () => {
    const out = await ec2.consumer.send(new CreateVpcEndpointCommand({
      VpcEndpointType: 'Interface', VpcId: 'vpc-client', ServiceName: 'com.amazonaws.us-east-1.zonal', SubnetIds: ['subnet-a', 'subnet-b'],
      SubnetConfigurations: [{ SubnetId: 'subnet-b', Ipv4: '10.0.2.77' }],
    }));
    vpce = out.VpcEndpoint!.VpcEndpointId!;
    await waitFor(async () => (await ec2.consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [vpce] }))).VpcEndpoints![0]!.State as string === 'available', 5_000, 'available');
    const e = (await ec2.consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [vpce] }))).VpcEndpoints![0]!;
    expect(e.SubnetIds).toEqual(['subnet-a', 'subnet-b']);
    expect(e.NetworkInterfaceIds).toHaveLength(2);
    const names = e.DnsEntries!.map((x) => x.DnsName!);
    // regional, two zonal and (private DNS on by default for an operator's service, as AWS) its own name
    expect(names).toHaveLength(4);
    expect(names[3]).toBe('zonal.us-east-1.amazonaws.com');
    expect(names[1]).toMatch(new RegExp(`^${vpce}-[0-9a-f]{8}-us-east-1a\\.zonal\\.us-east-1\\.vpce\\.amazonaws\\.com$`));
    expect(names[2]).toContain('-us-east-1b.');
    const enis = (await ec2.consumer.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: e.NetworkInterfaceIds }))).NetworkInterfaces!
      .sort((x, y) => x.SubnetId!.localeCompare(y.SubnetId!));
    expect(enis.map((n) => [n.AvailabilityZone, n.SubnetId, n.RequesterManaged])).toEqual([['us-east-1a', 'subnet-a', true], ['us-east-1b', 'subnet-b', true]]);
    expect(enis[1]!.PrivateIpAddress).toBe('10.0.2.77');
    expect(await attempt(`127.${k}.2.77`, port, client())).toBe('relay');
  });

  it('ModifyVpcEndpoint AddSubnetIds and RemoveSubnetIds change the zones live', async () => {
    await ec2.consumer.send(new ModifyVpcEndpointCommand({ VpcEndpointId: vpce, AddSubnetIds: ['subnet-c'], RemoveSubnetIds: ['subnet-b'] }));
    const e = (await ec2.consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [vpce] }))).VpcEndpoints![0]!;
    expect(e.SubnetIds).toEqual(['subnet-a', 'subnet-c']);
    expect(await attempt(`127.${k}.2.77`, port, client())).toBe('ECONNREFUSED');
    const c = (await ec2.consumer.send(new DescribeNetworkInterfacesCommand({ Filters: [{ Name: 'subnet-id', Values: ['subnet-c'] }] }))).NetworkInterfaces!
      .find((n) => n.Description === `VPC Endpoint Interface ${vpce}`)!;
    expect(c.AvailabilityZone).toBe('us-east-1c');
    expect(await attempt(`127.${k}.${c.PrivateIpAddress!.split('.').slice(2).join('.')}`, port, client())).toBe('relay');
  });

  it('bad input: DuplicateSubnetsInSameZone (AWS\'s code) for two subnets of one zone or one twice, InvalidParameterValue with a clear message, nothing changed', async () => {
    const before = await endpointCount();
    const create = (subnets: string[]) => refused(ec2.consumer.send(new CreateVpcEndpointCommand({
      VpcEndpointType: 'Interface', VpcId: 'vpc-client', ServiceName: 'com.amazonaws.us-east-1.zonal', SubnetIds: subnets,
    })));
    expect(await create(['subnet-a', 'subnet-a2'])).toMatchObject({ code: 'DuplicateSubnetsInSameZone', status: 400, message: expect.stringMatching(/both in zone/) });
    expect(await create(['subnet-a', 'subnet-a'])).toMatchObject({ code: 'DuplicateSubnetsInSameZone', status: 400, message: expect.stringMatching(/subnet-a is given twice/) });
    expect(await create(['subnet-a', 'subnet-nope'])).toMatchObject({ code: 'InvalidSubnetID.NotFound', status: 400 });
    const modify = (o: Record<string, string[]>) => refused(ec2.consumer.send(new ModifyVpcEndpointCommand({ VpcEndpointId: vpce, ...o })));
    expect(await modify({ AddSubnetIds: ['subnet-a2'] })).toMatchObject({ code: 'DuplicateSubnetsInSameZone', status: 400, message: expect.stringMatching(/both in zone us-east-1a/) });
    expect(await modify({ RemoveSubnetIds: ['subnet-b'] })).toMatchObject({ code: 'InvalidParameterValue', message: expect.stringMatching(/not a subnet of VPC endpoint/) });
    expect(await endpointCount()).toBe(before);
    expect((await ec2.consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [vpce] }))).VpcEndpoints![0]!.SubnetIds).toEqual(['subnet-a', 'subnet-c']);
  });

  it('ModifyVpcEndpoint at once: the same AddSubnetIds eight times all succeed (the second was "given twice"), the same RemoveSubnetIds eight times one succeeds and seven answer as one after it would (InvalidParameterValue, not InvalidSubnetID.NotFound)', async () => {
    const modify = (o: Record<string, string[]>) => ec2.consumer.send(new ModifyVpcEndpointCommand({ VpcEndpointId: vpce, ...o })).then(() => 'OK', (e: { name: string }) => e.name);
    for (let round = 0; round < 2; round++) {
      expect(await Promise.all(Array.from({ length: 8 }, () => modify({ AddSubnetIds: ['subnet-b'] })))).toEqual(Array(8).fill('OK'));
      const removed = await Promise.all(Array.from({ length: 8 }, () => modify({ RemoveSubnetIds: ['subnet-b'] })));
      expect(removed.filter((r) => r === 'OK'), removed.join(' ')).toHaveLength(1);
      expect(removed.filter((r) => r !== 'OK')).toEqual(Array(7).fill('InvalidParameterValue'));
    }
    expect((await ec2.consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [vpce] }))).VpcEndpoints![0]!.SubnetIds).toEqual(['subnet-a', 'subnet-c']);
  });

  it('an Interface endpoint made without subnets, as AWS allows (Terraform\'s aws_vpc_endpoint_subnet_association adds them): available with no ENI; AddSubnetId relays; removing its last subnet closes it', async () => {
    // a second endpoint to the service in the VPC: without private DNS (the first one has its name)
    const made = (await ec2.consumer.send(new CreateVpcEndpointCommand({ VpcEndpointType: 'Interface', VpcId: 'vpc-client', ServiceName: 'com.amazonaws.us-east-1.zonal', PrivateDnsEnabled: false }))).VpcEndpoint!;
    idle = made.VpcEndpointId!;
    const describe = async () => (await ec2.consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [idle] }))).VpcEndpoints![0]!;
    await waitFor(async () => (await describe()).State as string === 'available', 5_000, 'the endpoint without subnets available');
    expect(await describe()).toMatchObject({ SubnetIds: [], NetworkInterfaceIds: [] });
    // the association's create: AddSubnetId, Return true; the ENI relays at once
    const add = await ec2.consumer.send(new ModifyVpcEndpointCommand({ VpcEndpointId: idle, AddSubnetIds: ['subnet-b'], SubnetConfigurations: [{ SubnetId: 'subnet-b', Ipv4: '10.0.2.90' }] }));
    expect(add.Return).toBe(true);
    expect(await describe()).toMatchObject({ State: 'available', SubnetIds: ['subnet-b'] });
    expect(await attempt(`127.${k}.2.90`, port, client())).toBe('relay');
    // its destroy: RemoveSubnetId of the last subnet; the listeners close before the answer
    await ec2.consumer.send(new ModifyVpcEndpointCommand({ VpcEndpointId: idle, RemoveSubnetIds: ['subnet-b'] }));
    expect(await describe()).toMatchObject({ State: 'available', SubnetIds: [], NetworkInterfaceIds: [] });
    expect(await attempt(`127.${k}.2.90`, port, client())).toBe('ECONNREFUSED');
    // the Huawei API shows it without ENI or address, and still wants a subnet for its own creates and keeps one on its own removals
    expect((await d.consumer.get(`/vpc-endpoints/${idle}`)).body).toMatchObject({ status: 'accepted', enis: [], ip: null });
    const r = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: zonalId, vpc_id: 'vpc-client' });
    expect(r.status).toBe(400);
  });
});

describe('a zone outage on demand', () => {
  let ep: any;

  it('a zone down: its ENI refuses (zone_down, counted) and its live connection is cut; the others relay; back up, it accepts again', async () => {
    const r = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: zonalId, vpc_id: 'vpc-client', subnet_ids: ['subnet-a', 'subnet-b'] });
    ep = await accepted(r.body.id);
    const [a, b] = ep.enis;
    const onA = await session(a.host_ip);
    const onB = await session(b.host_ip);
    expect(await onB.roundTrip('hi')).toBe('hi');
    // an unauthenticated caller is refused and learns nothing
    const anon = await d.client(undefined, CONSUMER.project_id).post('/sim/zones/sim-1b/down');
    expect(anon.status).toBe(401);
    expect(JSON.stringify(anon.body)).not.toContain('sim-1');
    const down = await d.consumer.post('/sim/zones/sim-1b/down');
    expect(down.status, JSON.stringify(down.body)).toBe(200);
    expect(down.body.zones).toEqual([{ zone: 'sim-1a', state: 'up' }, { zone: 'sim-1b', state: 'down' }, { zone: 'sim-1c', state: 'up' }]);
    expect(await Promise.race([onB.closed, new Promise((resolve) => setTimeout(() => resolve('still open'), 2_000))])).not.toBe('still open');
    expect(await attempt(b.host_ip, port, client())).toBe('ECONNRESET');
    expect(await onA.roundTrip('still here')).toBe('still here');
    expect(await attempt(a.host_ip, port, client())).toBe('relay');
    const m = await scrapeMetrics(d.url);
    expect(m.find((s) => s.name === 'vpcep_zone_up' && s.labels.zone === 'sim-1b')?.value).toBe(0);
    expect(m.find((s) => s.name === 'vpcep_zone_up' && s.labels.zone === 'sim-1a')?.value).toBe(1);
    expect(m.find((s) => s.name === 'vpcep_endpoint_rejected_connections_total' && s.labels.endpoint_id === ep.id && s.labels.reason === 'zone_down')?.value).toBe(1);
    expect(m.find((s) => s.name === 'vpcep_rejected_connections_total' && s.labels.reason === 'zone_down')?.value).toBeGreaterThanOrEqual(1);
    const azs = (await ec2.consumer.send(new DescribeAvailabilityZonesCommand({}))).AvailabilityZones!;
    expect(azs.map((z) => [z.ZoneName, z.ZoneId, z.State])).toEqual([['us-east-1a', 'use1-az1', 'available'], ['us-east-1b', 'use1-az2', 'impaired'], ['us-east-1c', 'use1-az3', 'available']]);
    const t = (await d.consumer.post('/trace', { vpc_id: 'vpc-client', source_ip: '10.0.1.50', destination_ip: b.ip, destination_port: port })).body.trace;
    expect(t).toMatchObject({ refusal: 'zone_down', eni: { zone: 'sim-1b', host_ip: b.host_ip, zone_up: false } });
    expect((await d.consumer.post('/sim/zones/sim-1q/down')).body).toMatchObject({ error_code: 'EndPoint.0002', error_msg: expect.stringMatching(/unknown zone "sim-1q"/) });
  });

  it('a restart keeps the ENIs and the zone down; back up, the zone\'s ENI accepts again', async () => {
    for (const c of Object.values(ec2)) c.destroy();
    await d.stop();
    await start();
    const after = (await d.consumer.get(`/vpc-endpoints/${ep.id}`)).body;
    expect(after.enis).toEqual(ep.enis);
    // an endpoint without ENIs comes back up as it was: nothing to bind
    await waitFor(async () => (await d.consumer.get(`/vpc-endpoints/${idle}`)).body.status === 'accepted', 5_000, 'the endpoint without ENIs accepted after the restart');
    expect((await d.consumer.get(`/vpc-endpoints/${idle}`)).body.enis).toEqual([]);
    expect((await d.consumer.get('/sim/zones')).body.zones.find((z: any) => z.zone === 'sim-1b').state).toBe('down');
    const [a, b] = ep.enis;
    await waitFor(async () => (await attempt(a.host_ip, port, client())) === 'relay', 5_000, 'zone a relays after the restart');
    expect(await attempt(b.host_ip, port, client())).toBe('ECONNRESET');
    expect((await d.consumer.post('/sim/zones/sim-1b/up')).status).toBe(200);
    expect(await attempt(b.host_ip, port, client())).toBe('relay');
  });
});

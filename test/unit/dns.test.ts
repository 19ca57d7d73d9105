// The DNS server without sockets: the `dns` config keys, the names of src/model/dns-names.ts, and
// answer() on hand-made packets over a name index built from a fake control-plane state.
import dnsPacket from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { ConfigError, validateConfig } from '../../src/model/config.js';
import { answer } from '../../src/dns/answer.js';
import { reachesSocket } from '../../src/net/loopback.js';
import { Views, type DnsSource } from '../../src/dns/views.js';
import {
  alibabaEndpointDnsNames, awsEndpointDnsNames, endpointDnsNames, huaweiEndpointDnsNames, privateDnsNameProblem, privateDnsVerified, type PublicRecord,
} from '../../src/model/dns-names.js';
import type { Backend } from '../../src/model/events.js';
import { NLB_HEALTH_DEFAULTS, type HealthView, type ProbeState } from '../../src/model/health.js';
import type { Endpoint, EndpointService, PrivateDnsName } from '../../src/model/types.js';

function problems(doc: unknown): string[] {
  try {
    validateConfig(doc, 'test.yaml');
  } catch (err) {
    return [...(err as ConfigError).problems];
  }
  return [];
}

describe('dns config', () => {
  it('defaults: on, 127.0.0.1:5353, 60 s, no forwarding', () => {
    expect(validateConfig({}, 'test.yaml').dns).toEqual({ enabled: true, listen: { host: '127.0.0.1', port: 5353 }, ttlS: 60, forward: false, publicRecords: [] });
    expect(validateConfig({
      dns: { listen: '127.0.0.2:53', ttl: 5, forward: true, enabled: false, forwarders: ['127.0.0.9:5300', '10.0.0.2'], public_records: [{ name: '_ab.Example.COM.', type: 'TXT', value: 'vpce:x' }] },
    }, 'test.yaml').dns).toEqual({
      enabled: false, listen: { host: '127.0.0.2', port: 53 }, ttlS: 5, forward: true, forwarders: ['127.0.0.9:5300', '10.0.0.2'],
      publicRecords: [{ name: '_ab.example.com', type: 'TXT', value: 'vpce:x' }],
    });
  });

  it('refuses a bad listen, a TTL out of range, the API\'s own address and unknown keys, naming the path', () => {
    expect(problems({ dns: { listen: 'localhost' } })).toEqual(['dns.listen: "localhost" is not HOST:PORT with an IPv4 host']);
    expect(problems({ dns: { ttl: 86_401 } })).toEqual(['dns.ttl: must be 0-86400 (seconds)']);
    expect(problems({ dns: { ttl: -1 } })).toEqual(['dns.ttl: must be 0-86400 (seconds)']);
    expect(problems({ listen: '127.0.0.1:9480', dns: { listen: '127.0.0.1:9480' } })[0]).toMatch(/^dns\.listen: 127\.0\.0\.1:9480 is the API's listen address/);
    expect(problems({ dns: { port: 53 } })).toEqual(['dns: unknown key "port"']);
    expect(problems({ dns: { forward: 'yes' } })[0]).toMatch(/^dns\.forward: /);
    expect(problems({ dns: { forwarders: ['resolver.example'] } })).toEqual(['dns.forwarders[0]: must be an IPv4 address, or IPv4:PORT']);
    expect(problems({ dns: { public_records: [{ name: 'a.example.com', type: 'A', value: '1.2.3.4' }] } })[0]).toMatch(/^dns\.public_records\[0\]\.type: must be TXT/);
  });
});

const C = { configRegion: 'sim-1', awsRegion: 'us-east-1' };
const SERVICE: EndpointService = {
  id: 'vpce-svc-0123456789abcdef0', service_name: 'sim-1.web.8d1e5c5f-1111-2222-3333-444455556666',
} as EndpointService;
const ENDPOINT = {
  id: 'vpce-0a1b2c3d4e5f67890', service_id: SERVICE.id, service_name: SERVICE.service_name, service_type: 'interface',
  enable_dns: true, host_ip: '127.2.1.7', status: 'accepted', vpc_id: 'vpc-client', subnet_id: 'subnet-a',
  enis: [{ id: 'eni-0a1b2c3d4e5f67890', zone: 'sim-1a', subnet_id: 'subnet-a', ip: '10.0.1.7', host_ip: '127.2.1.7' }],
} as unknown as Endpoint;

describe('the names of an endpoint', () => {
  it('AWS: a regional name and one per zone, in the AWS zone names; stable across calls', () => {
    const names = awsEndpointDnsNames(ENDPOINT, SERVICE, ['sim-1a', 'sim-1b'], C);
    expect(names.map((n) => n.name)).toEqual([
      expect.stringMatching(/^vpce-0a1b2c3d4e5f67890-[0-9a-f]{8}\.vpce-svc-0123456789abcdef0\.us-east-1\.vpce\.amazonaws\.com$/),
      expect.stringMatching(/^vpce-0a1b2c3d4e5f67890-[0-9a-f]{8}-us-east-1a\.vpce-svc-0123456789abcdef0\.us-east-1\.vpce\.amazonaws\.com$/),
      expect.stringMatching(/^vpce-0a1b2c3d4e5f67890-[0-9a-f]{8}-us-east-1b\.vpce-svc-0123456789abcdef0\.us-east-1\.vpce\.amazonaws\.com$/),
    ]);
    expect(names.map((n) => n.zone)).toEqual([undefined, 'sim-1a', 'sim-1b']);
    expect(awsEndpointDnsNames(ENDPOINT, SERVICE, ['sim-1a', 'sim-1b'], C)).toEqual(names);
    expect(awsEndpointDnsNames({ ...ENDPOINT, service_type: 'gateway' }, SERVICE, ['sim-1a'], C)).toEqual([]);
  });

  it('Huawei: one private name with enable_dns, none without; Alibaba: endpoint and zone domain names', () => {
    expect(huaweiEndpointDnsNames(ENDPOINT, 'sim-1')).toEqual([{ name: '0a1b2c3d.web.vpcep.sim-1.internal', kind: 'huawei', scope: 'vpc' }]);
    expect(huaweiEndpointDnsNames({ ...ENDPOINT, enable_dns: false }, 'sim-1')).toEqual([]);
    // the service's label: its name, else its id (an unnamed service's; one made through the EC2 API, whose name's second label was amazonaws)
    const label = (service_name: string) => huaweiEndpointDnsNames({ ...ENDPOINT, service_name }, 'sim-1')[0]!.name.split('.')[1];
    expect(label(`sim-1.${SERVICE.id}`)).toBe(SERVICE.id);
    expect(label(`com.amazonaws.vpce.us-east-1.${SERVICE.id}`)).toBe(SERVICE.id);
    expect(label('sim-1.obs')).toBe('obs');
    const ali = alibabaEndpointDnsNames(ENDPOINT, ['sim-1a'], 'sim-1').map((n) => n.name);
    expect(ali).toEqual([
      expect.stringMatching(/^ep-[0-9a-f]{17}\.epsrv-[0-9a-f]{17}\.sim-1\.privatelink\.aliyuncs\.com$/),
      expect.stringMatching(/^ep-[0-9a-f]{17}-sim-1a\.epsrv-[0-9a-f]{17}\.sim-1\.privatelink\.aliyuncs\.com$/),
    ]);
  });

  it('private DNS of a public interface service: its AWS name, in the endpoint\'s VPC only', () => {
    const publicService = { id: 'x', service_name: 'sim-1.sqs', public: { targets: [] } } as unknown as EndpointService;
    const names = endpointDnsNames({ ...ENDPOINT, service_name: 'sim-1.sqs' }, publicService, [], C);
    expect(names.find((n) => n.kind === 'aws_private')).toEqual({ name: 'sqs.us-east-1.amazonaws.com', kind: 'aws_private', scope: 'vpc' });
    expect(names.find((n) => n.kind === 'aws_endpoint')?.name).toMatch(/\.sqs\.us-east-1\.vpce\.amazonaws\.com$/);
  });
});

describe('forwarders that are this server', () => {
  it('a socket on 0.0.0.0:PORT gets what comes to any address of the host on PORT (127.0.0.1:5353 was asked beside 0.0.0.0:5353, a loop); one on an address, what comes to it', () => {
    const every = { host: '0.0.0.0', port: 5353 };
    for (const host of ['127.0.0.1', '127.9.9.9', '0.0.0.0', '10.1.2.3']) expect([host, reachesSocket({ host, port: 5353 }, every, ['10.1.2.3'])]).toEqual([host, true]);
    expect(reachesSocket({ host: '10.1.2.4', port: 5353 }, every, ['10.1.2.3'])).toBe(false);
    expect(reachesSocket({ host: '127.0.0.1', port: 53 }, every, [])).toBe(false);
    const one = { host: '127.0.0.1', port: 5353 };
    expect([reachesSocket({ host: '127.0.0.1', port: 5353 }, one, []), reachesSocket({ host: '0.0.0.0', port: 5353 }, one, [])]).toEqual([true, true]);
    expect(reachesSocket({ host: '127.0.0.2', port: 5353 }, one, [])).toBe(false);
  });
});

// ---- answer() ------------------------------------------------------------------------------------

type FakeSource = DnsSource & { revision: number; healthRevision: number };

function source(endpoints: Endpoint[], down: ReadonlySet<string> = new Set(), more: Partial<DnsSource> = {}): FakeSource {
  return {
    revision: 1,
    healthRevision: 0,
    allEndpoints: () => endpoints,
    allServices: () => [SERVICE],
    endpointZones: (e) => e.enis.map((n) => n.zone),
    zoneDown: (zone) => down.has(zone),
    vpcNumbers: () => [1, 2, 3],
    endpointBackends: () => [],
    health: null,
    // 127.2.1.x: subnet-a (sim-1a); 127.2.2.x: subnet-b (sim-1b)
    clientZone: (host) => (host.startsWith('127.2.1.') ? 'sim-1a' : host.startsWith('127.2.2.') ? 'sim-1b' : null),
    publicRecords: () => [],
    ...more,
  };
}

const OPTIONS = { ttlS: 60, forward: false, udp: true };
// extra: any field of a packet, its additionals of any type (dns-packet's typings leave OPT out)
const q = (name: string, type = 'A', extra: Record<string, unknown> = {}) =>
  dnsPacket.encode({ type: 'query', id: 77, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: type as 'A', name }], ...extra } as dnsPacket.Packet);
const HUAWEI = '0a1b2c3d.web.vpcep.sim-1.internal';

/** a record as dns-packet decodes it, any type (its typings leave `data` off OPT's) */
interface Rec { name: string; type: string; class?: string; ttl?: number; data?: any; udpPayloadSize?: number; flags?: number; options?: any[] }
type Decoded = Omit<dnsPacket.DecodedPacket, 'answers' | 'authorities' | 'additionals'> & {
  answers?: Rec[]; authorities?: Rec[]; additionals?: Rec[]; rcode: string; opcode: string; flag_aa: boolean; flag_tc: boolean;
};

/** the daemon's answer, decoded; a test that expects it to forward asks askForward() */
function ask(query: Buffer, from: string, views = new Views(source([ENDPOINT]), 'sim-1', 16), o = OPTIONS) {
  const d = answer(query, from, views.current(), o);
  if ('forward' in d) throw new Error('forwarded, not answered');
  return { ...d, packet: d.reply ? dnsPacket.decode(d.reply) as Decoded : null };
}

const askForward = (query: Buffer, from: string, views = new Views(source([ENDPOINT]), 'sim-1', 16), o = OPTIONS) => answer(query, from, views.current(), o);

describe('answer()', () => {
  it('a private name: the address in its VPC, NXDOMAIN in another and on premises; the question echoed in its case', () => {
    const inVpc = ask(q(HUAWEI.toUpperCase()), '127.2.9.9');
    expect(inVpc.packet?.rcode).toBe('NOERROR');
    expect(inVpc.packet?.flag_aa).toBe(true);
    expect(inVpc.packet?.questions?.[0]?.name).toBe(HUAWEI.toUpperCase());
    expect(inVpc.packet?.answers?.map((a) => [a.name, a.type, a.ttl, a.data])).toEqual([[HUAWEI.toUpperCase(), 'A', 60, '127.2.1.7']]);
    expect(ask(q(HUAWEI), '127.3.0.1').packet?.rcode).toBe('NXDOMAIN');
    expect(ask(q(HUAWEI), '127.0.0.1').packet?.rcode).toBe('NXDOMAIN');
    // 127.9.x.x: no VPC 9, so the public view
    expect(ask(q(HUAWEI), '127.9.0.1').packet?.rcode).toBe('NXDOMAIN');
  });

  it('negative answers carried no SOA, so no resolver cached them: NODATA and NXDOMAIN under our zones carry the zone\'s, its TTL and minimum dns.ttl (RFC 2308 3, 5)', () => {
    type Soa = { name: string; type: string; ttl: number; data: { minimum: number } };
    const nodata = ask(q(HUAWEI.toUpperCase(), 'AAAA'), '127.2.9.9').packet!;
    expect([nodata.rcode, nodata.flag_aa, nodata.answers?.length]).toEqual(['NOERROR', true, 0]);
    // its owner points at the question's suffix: the apex in the client's letter case
    expect((nodata.authorities as Soa[]).map((r) => [r.name, r.type, r.ttl, r.data.minimum])).toEqual([['VPCEP.SIM-1.INTERNAL', 'SOA', 60, 60]]);
    const nx = ask(q('zzz.vpce.amazonaws.com'), '127.0.0.1', undefined, { ...OPTIONS, ttlS: 30 }).packet!;
    expect([nx.rcode, nx.flag_aa]).toEqual(['NXDOMAIN', true]);
    expect((nx.authorities as Soa[]).map((r) => [r.name, r.type, r.ttl, r.data.minimum])).toEqual([['vpce.amazonaws.com', 'SOA', 30, 30]]);
    // a private name asked from another VPC: NXDOMAIN with its zone's SOA too
    expect((ask(q(HUAWEI), '127.3.0.1').packet!.authorities as Soa[]).map((r) => r.name)).toEqual(['vpcep.sim-1.internal']);
    // outside our zones (forwarding off): not authoritative, no SOA
    const outside = ask(q('www.example.com'), '127.0.0.1').packet!;
    expect([outside.rcode, outside.flag_aa, outside.authorities?.length]).toEqual(['NXDOMAIN', false, 0]);
    // an answer with records has none
    expect(ask(q(HUAWEI), '127.2.9.9').packet!.authorities?.length).toBe(0);
  });

  it('the apex of our zones and the names above an endpoint\'s were NXDOMAIN, denying every name below them (RFC 8020): NODATA, in the views that have names below; SOA at the apex', () => {
    const apex = ask(q('Vpcep.sim-1.internal', 'SOA'), '127.0.0.1').packet!;
    expect([apex.rcode, apex.flag_aa]).toEqual(['NOERROR', true]);
    expect(apex.answers?.map((r) => [r.name, r.type])).toEqual([['Vpcep.sim-1.internal', 'SOA']]);
    for (const zone of ['vpce.amazonaws.com', 'us-east-1.amazonaws.com', 'privatelink.aliyuncs.com']) {
      expect(ask(q(zone, 'ANY'), '127.0.0.1').packet!.answers?.map((r) => r.type)).toEqual(['SOA']);
      expect(ask(q(zone), '127.0.0.1').packet!.rcode).toBe('NOERROR');
    }
    // web.vpcep.sim-1.internal holds the endpoint's private name in VPC 2 only
    const inVpc = ask(q('web.vpcep.sim-1.internal'), '127.2.9.9').packet!;
    expect([inVpc.rcode, inVpc.answers?.length, inVpc.authorities?.map((r) => r.type)]).toEqual(['NOERROR', 0, ['SOA']]);
    expect(ask(q('web.vpcep.sim-1.internal'), '127.3.0.1').packet!.rcode).toBe('NXDOMAIN');
    // the AWS regional name's parents, in every view
    const regional = awsEndpointDnsNames(ENDPOINT, SERVICE, ['sim-1a'], C)[0]!.name;
    for (let n = regional.slice(regional.indexOf('.') + 1); n !== 'vpce.amazonaws.com'; n = n.slice(n.indexOf('.') + 1)) {
      expect([n, ask(q(n), '127.0.0.1').packet!.rcode]).toEqual([n, 'NOERROR']);
    }
    expect(ask(q('nothing.vpce-svc-0123456789abcdef0.us-east-1.vpce.amazonaws.com'), '127.0.0.1').packet!.rcode).toBe('NXDOMAIN');
    // the root too (it was NXDOMAIN: the root's key and the one the parents were marked under differed)
    for (const type of ['SOA', 'NS', 'A']) expect([type, ask(q('.', type), '127.0.0.1').packet!.rcode]).toEqual([type, 'NOERROR']);
  });

  it('the SOA serial of a view moves only with what it answers (it was the store\'s revision: every write of any account, counted from outside every VPC), and never back', () => {
    const src = source([ENDPOINT]);
    const views = new Views(src, 'sim-1', 16);
    const serial = (from: string): number => ask(q('vpcep.sim-1.internal', 'SOA'), from, views).packet!.answers![0]!.data.serial;
    const serials = () => ['127.0.0.1', '127.2.9.9', '127.3.0.1'].map(serial);
    const [pub, own, other] = serials();
    // a write that changes no name (a tag, a security group): the same serials
    src.revision++;
    expect(serials()).toEqual([pub, own, other]);
    // the endpoint's Huawei name (VPC 2's only) goes: VPC 2's serial moves, the others' do not
    src.allEndpoints = () => [{ ...ENDPOINT, enable_dns: false } as Endpoint];
    src.revision++;
    const [pub2, own2, other2] = serials();
    expect([pub2, other2]).toEqual([pub, other]);
    expect(own2).toBeGreaterThan(own!);
    // the endpoint gone (its public names too): every view's serial moves, none goes back
    src.allEndpoints = () => [];
    src.revision++;
    const [pub3, own3, other3] = serials();
    expect(pub3).toBeGreaterThan(pub!);
    expect(own3).toBeGreaterThan(own2!);
    expect(other3).toBeGreaterThan(other!);
    expect(ask(q('vpcep.sim-1.internal', 'SOA'), '127.9.0.1', views).packet!.answers![0]!.data.serial).toBe(pub3);
  });

  it('a burst of changes does not run the serial so far ahead of the clock that a restart takes it back (in seconds, 40 changes did)', async () => {
    const src = source([ENDPOINT]);
    const views = new Views(src, 'sim-1', 16);
    const serial = (v: Views): number => ask(q('vpcep.sim-1.internal', 'SOA'), '127.0.0.1', v).packet!.answers![0]!.data.serial;
    for (let i = 0; i < 40; i++) {
      src.publicRecords = () => [{ name: `t${i}.example.com`, type: 'TXT', value: `w${i}` }];
      src.revision++;
      serial(views);
    }
    const before = serial(views);
    // a restart (a new index of the same names) after less time than a daemon takes to start
    await new Promise((r) => setTimeout(r, 450));
    const after = serial(new Views(src, 'sim-1', 16));
    expect(((after - before) >>> 0) < 2 ** 31, `${before} -> ${after}`).toBe(true);
  });

  it('the query\'s DO bit (EDNS) and CD bit were dropped from the answer: copied, as BIND does (RFC 3225 3, RFC 4035 3.1.6)', () => {
    const opt = { type: 'OPT' as const, name: '.', udpPayloadSize: 4096, flags: dnsPacket.DNSSEC_OK };
    const withBoth = ask(q(HUAWEI, 'A', { flags: dnsPacket.RECURSION_DESIRED | dnsPacket.CHECKING_DISABLED, additionals: [opt] }), '127.2.9.9').packet!;
    expect([withBoth.rcode, withBoth.flag_cd, (withBoth.additionals?.[0] as { flag_do?: boolean }).flag_do]).toEqual(['NOERROR', true, true]);
    const nx = ask(q('zzz.vpce.amazonaws.com', 'A', { flags: dnsPacket.CHECKING_DISABLED, additionals: [opt] }), '127.0.0.1').packet!;
    expect([nx.rcode, nx.flag_cd, (nx.additionals?.[0] as { flag_do?: boolean }).flag_do]).toEqual(['NXDOMAIN', true, true]);
    const neither = ask(q(HUAWEI, 'A', { additionals: [{ ...opt, flags: 0 }] }), '127.2.9.9').packet!;
    expect([neither.flag_cd, (neither.additionals?.[0] as { flag_do?: boolean }).flag_do]).toEqual([false, false]);
  });

  it('another opcode: NOTIMP with the question and our OPT when it reads as a query (RFC 6891 6.1.1), a bare header when not', () => {
    const notify = q(HUAWEI, 'SOA', { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096 }] });
    notify[2] = (notify[2]! & 0x87) | (4 << 3); // opcode 4 (NOTIFY)
    const r = ask(notify, '127.0.0.1').packet!;
    expect([r.rcode, r.opcode, r.questions?.map((x) => x.name), r.additionals?.map((x) => x.type)]).toEqual(['NOTIMP', 'NOTIFY', [HUAWEI], ['OPT']]);
    // an UPDATE with its records: not read, NOTIMP as before (not FORMERR)
    const update = dnsPacket.encode({ type: 'query', id: 8, questions: [{ type: 'SOA', name: 'vpce.amazonaws.com' }], answers: [{ type: 'A', name: 'x.vpce.amazonaws.com', data: '1.2.3.4' }] });
    update[2] = (update[2]! & 0x87) | (5 << 3);
    const u = ask(update, '127.0.0.1').packet!;
    expect([u.rcode, u.questions?.length]).toEqual(['NOTIMP', 0]);
  });

  it('a name is its labels\' bytes: a label holding dots, or a byte outside ASCII that lower-cases to a letter, is no name of ours', () => {
    // the question's name written label by label, each label's bytes as given
    const wire = (labels: Buffer[], type = 1) => Buffer.concat([
      Buffer.from([0, 77, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels.flatMap((l) => [Buffer.from([l.length]), l]), Buffer.from([0, 0, type, 0, 1]),
    ]);
    const labels = (name: string) => name.split('.').map((l) => Buffer.from(l));
    expect(ask(wire(labels(HUAWEI)), '127.2.9.9').packet?.rcode).toBe('NOERROR');
    // one label `0a1b2c3d.web.vpcep.sim-1.internal`, then its first two labels as one: dns-packet joined them into the name
    expect(ask(wire([Buffer.from(HUAWEI)]), '127.2.9.9').packet).toMatchObject({ rcode: 'NXDOMAIN', flag_aa: false, answers: [] });
    const twoInOne = ask(wire([Buffer.from('0a1b2c3d.web'), ...labels('vpcep.sim-1.internal')]), '127.2.9.9').packet;
    // still under vpcep.sim-1.internal: authoritative NXDOMAIN
    expect(twoInOne).toMatchObject({ rcode: 'NXDOMAIN', flag_aa: true, answers: [] });
    // U+212A KELVIN SIGN in place of the k of an Alibaba name (every view): JavaScript's lower case of it is k
    const ali = alibabaEndpointDnsNames(ENDPOINT, ['sim-1a'], 'sim-1')[0]!.name;
    expect(ask(wire(labels(ali.toUpperCase())), '127.0.0.1').packet?.answers?.map((a) => a.data)).toEqual(['127.2.1.7']);
    expect(ask(wire(labels(ali.replace('privatelink', 'privatelin\u212a'))), '127.0.0.1').packet)
      .toMatchObject({ rcode: 'NXDOMAIN', answers: [] });
  });

  it('EDNS: an OPT record is answered with ours; endpoints under one name answer all their addresses, up to the cap', () => {
    const withOpt = ask(q(HUAWEI, 'A', { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096 } as never] }), '127.2.0.1');
    expect(withOpt.packet?.additionals?.[0]?.type).toBe('OPT');
    expect(withOpt.packet?.answers).toHaveLength(1);
    // 20 endpoints whose Huawei names coincide (the same first 8 characters, the same service)
    const many = Array.from({ length: 20 }, (_, i) => ({
      ...ENDPOINT, id: `vpce-0a1b2c3d4e5f678${(90 + i).toString()}`, host_ip: `127.2.1.${10 + i}`,
      enis: [{ ...ENDPOINT.enis[0]!, host_ip: `127.2.1.${10 + i}` }],
    }));
    const views = new Views(source(many), 'sim-1', 16);
    const r = ask(q(HUAWEI), '127.2.0.1', views).packet;
    expect(r?.answers?.map((a) => a.data)).toEqual(many.slice(0, 16).map((e) => e.host_ip));
    expect(r?.flag_tc).toBe(false);
  });

  it('a record whose data length runs past the message, or an EDNS option past its record: FORMERR; well-formed options are answered', () => {
    const head = (additionals: number) => Buffer.from([0, 77, 1, 0, 0, 1, 0, 0, 0, 0, 0, additionals]);
    const question = q(HUAWEI).subarray(12);
    // an OPT record (root, type 41, 1232 bytes) carrying `data`
    const opt = (data: number[], length = data.length) => Buffer.from([0, 0, 41, 4, 0xd0, 0, 0, 0, 0, length >> 8, length & 255, ...data]);
    const cookie = [0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8];
    expect(ask(Buffer.concat([head(1), question, opt(cookie)]), '127.2.9.9').packet).toMatchObject({ rcode: 'NOERROR', answers: [{ data: '127.2.1.7' }] });
    // a cookie saying 80 bytes where 2 follow
    expect(ask(Buffer.concat([head(1), question, opt([0, 10, 0, 80, 1, 2])]), '127.2.9.9').rcode).toBe('FORMERR');
    // an option header cut short, and an OPT whose data length runs past the message
    expect(ask(Buffer.concat([head(1), question, opt([0, 10, 0])]), '127.2.9.9').rcode).toBe('FORMERR');
    expect(ask(Buffer.concat([head(1), question, opt(cookie, 40)]), '127.2.9.9').rcode).toBe('FORMERR');
    // an A record saying 50 bytes of data where 4 follow (dns-packet reads 4 whatever the length)
    expect(ask(Buffer.concat([head(1), question, Buffer.from([0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 50, 1, 2, 3, 4])]), '127.2.9.9').rcode).toBe('FORMERR');
  });

  it('a question name pointing into the header: FORMERR (it was echoed pointing at our flags, a reply no client could read)', () => {
    const head = Buffer.from([0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    // "a" then a pointer to offset 2 (the query's flags, 01 00: a label of one byte, then the root)
    const intoHeader = ask(Buffer.concat([head, Buffer.from([1, 0x61, 0xc0, 2, 0, 1, 0, 1])]), '127.2.9.9');
    expect([intoHeader.rcode, intoHeader.packet?.id]).toEqual(['FORMERR', 7]);
    // the same name written out: answered
    expect(ask(Buffer.concat([head, Buffer.from([1, 0x61, 1, 0, 0, 0, 1, 0, 1])]), '127.2.9.9').rcode).toBe('NXDOMAIN');
  });

  it('bytes after the records the header counts: FORMERR (they were ignored, the query answered as if it ended before them)', () => {
    const head = (additionals: number) => Buffer.from([0, 78, 1, 0, 0, 1, 0, 0, 0, 0, 0, additionals]);
    const question = q(HUAWEI).subarray(12);
    const opt = Buffer.from([0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0]);
    expect(ask(Buffer.concat([head(0), question]), '127.2.9.9').rcode).toBe('NOERROR');
    expect(ask(Buffer.concat([head(0), question, Buffer.from([0])]), '127.2.9.9').rcode).toBe('FORMERR');
    expect(ask(Buffer.concat([head(0), question, opt]), '127.2.9.9').rcode).toBe('FORMERR');
    expect(ask(Buffer.concat([head(1), question, opt]), '127.2.9.9').rcode).toBe('NOERROR');
    expect(ask(Buffer.concat([head(1), question, opt, Buffer.from('junk')]), '127.2.9.9').rcode).toBe('FORMERR');
  });

  it('TXT records of one name over 65,535 bytes: truncated (TC, no records) over TCP as over UDP, never a reply the 2-byte frame cannot carry', () => {
    const texts = (n: number) => Array.from({ length: n }, (_, i) => ({ name: 'many.example.com', type: 'TXT' as const, value: `${'z'.repeat(246)}${String(i).padStart(4, '0')}`, owner: null }));
    const over = new Views(source([ENDPOINT], new Set(), { publicRecords: () => texts(270) }), 'sim-1', 16);
    const tcp = ask(q('many.example.com', 'TXT'), '127.0.0.1', over, { ...OPTIONS, udp: false });
    expect(tcp.reply!.length).toBeLessThanOrEqual(0xffff);
    expect(tcp.packet?.flag_tc).toBe(true);
    expect(tcp.packet?.answers).toHaveLength(0);
    // under the limit, TCP carries them all where UDP truncates
    const under = new Views(source([ENDPOINT], new Set(), { publicRecords: () => texts(32) }), 'sim-1', 16);
    expect(ask(q('many.example.com', 'TXT'), '127.0.0.1', under, { ...OPTIONS, udp: false }).packet?.answers).toHaveLength(32);
    expect(ask(q('many.example.com', 'TXT'), '127.0.0.1', under).packet?.flag_tc).toBe(true);
  });

  it('forwarding: only names under no zone of ours, only when on', () => {
    expect(askForward(q('www.example.com'), '127.0.0.1', undefined, { ...OPTIONS, forward: true })).toEqual({ forward: true, vpc: false });
    expect(ask(q('zzz.vpce.amazonaws.com'), '127.0.0.1', undefined, { ...OPTIONS, forward: true }).packet?.rcode).toBe('NXDOMAIN');
    const off = ask(q('www.example.com'), '127.0.0.1');
    expect(off.packet?.rcode).toBe('NXDOMAIN');
    expect(off.packet?.flag_aa).toBe(false);
  });

  it('zones: a name of every zone answers the ENIs of the zones up (all of them when none is), a zonal name its zone\'s ENI', () => {
    const two = { ...ENDPOINT, enis: [ENDPOINT.enis[0]!, { id: 'eni-0b', zone: 'sim-1b', subnet_id: 'subnet-b', ip: '10.0.2.7', host_ip: '127.2.2.7' }] } as Endpoint;
    const [regional, zonalA, zonalB] = awsEndpointDnsNames(two, SERVICE, ['sim-1a', 'sim-1b'], C).map((n) => n.name);
    const addresses = (name: string, down: string[]) => ask(q(name), '127.2.0.1', new Views(source([two], new Set(down)), 'sim-1', 16)).packet?.answers?.map((a) => a.data);
    expect(addresses(regional!, [])).toEqual(['127.2.1.7', '127.2.2.7']);
    expect(addresses(regional!, ['sim-1a'])).toEqual(['127.2.2.7']);
    expect(addresses(regional!, ['sim-1a', 'sim-1b'])).toEqual(['127.2.1.7', '127.2.2.7']);
    expect(addresses(zonalA!, [])).toEqual(['127.2.1.7']);
    expect(addresses(zonalB!, ['sim-1a'])).toEqual(['127.2.2.7']);
  });

  it('the index is rebuilt when the revision moves, not before', () => {
    const s = source([ENDPOINT]);
    const views = new Views(s, 'sim-1', 16);
    const first = views.current();
    expect(views.current()).toBe(first);
    s.revision++;
    expect(views.current()).not.toBe(first);
  });
});

// ---- health, zone affinity, private DNS names ------------------------------------------------------

const TWO_ZONES = {
  ...ENDPOINT, enis: [ENDPOINT.enis[0]!, { id: 'eni-0b', zone: 'sim-1b', subnet_id: 'subnet-b', ip: '10.0.2.7', host_ip: '127.2.2.7' }],
} as Endpoint;
const [REGIONAL, ZONAL_A] = awsEndpointDnsNames(TWO_ZONES, SERVICE, ['sim-1a', 'sim-1b'], C).map((n) => n.name);
/** one terminal port, a backend in each zone, cross-zone load balancing off */
const ZONAL_BACKENDS: Backend[] = [{
  client_port: 80, host: '127.1.1.10', port: 8080, cross_zone: false, health: NLB_HEALTH_DEFAULTS,
  targets: [{ key: 'a', host: '127.1.1.10', port: 8080, zone: 'sim-1a' }, { key: 'b', host: '127.1.2.10', port: 8080, zone: 'sim-1b' }],
}];

function healthOf(states: Record<string, ProbeState>): HealthView {
  return { state: (k) => states[k] ?? 'initial', reason: () => null };
}

const addressesOf = (views: Views, name: string, from = '127.2.9.9') => ask(q(name), from, views).packet?.answers?.map((a) => a.data);

describe('answers follow health and zones', () => {
  it('an ENI whose backends are all unhealthy leaves the answers of the name of every zone and comes back when they recover; its zonal name stays', () => {
    const states: Record<string, ProbeState> = { a: 'healthy', b: 'healthy' };
    const s = source([TWO_ZONES], new Set(), { endpointBackends: () => ZONAL_BACKENDS, health: healthOf(states) });
    const failOpen: string[][] = [];
    const views = new Views(s, 'sim-1', 16, (ids) => failOpen.push([...ids]));
    expect(addressesOf(views, REGIONAL!)).toEqual(['127.2.1.7', '127.2.2.7']);
    states.a = 'unhealthy';
    s.healthRevision++;
    expect(addressesOf(views, REGIONAL!)).toEqual(['127.2.2.7']);
    expect(addressesOf(views, ZONAL_A!)).toEqual(['127.2.1.7']);
    states.a = 'healthy';
    s.healthRevision++;
    expect(addressesOf(views, REGIONAL!)).toEqual(['127.2.1.7', '127.2.2.7']);
    expect(failOpen).toEqual([]);
  });

  it('every ENI without a healthy backend: all of them answer (fail open), and the views say so once', () => {
    const states: Record<string, ProbeState> = { a: 'unhealthy', b: 'unhealthy' };
    const s = source([TWO_ZONES], new Set(), { endpointBackends: () => ZONAL_BACKENDS, health: healthOf(states) });
    const failOpen: string[][] = [];
    const views = new Views(s, 'sim-1', 16, (ids) => failOpen.push([...ids]));
    expect(addressesOf(views, REGIONAL!)).toEqual(['127.2.1.7', '127.2.2.7']);
    s.revision++;
    views.current();
    expect(failOpen).toEqual([[TWO_ZONES.id]]);
    states.b = 'healthy';
    s.healthRevision++;
    expect(addressesOf(views, REGIONAL!)).toEqual(['127.2.2.7']);
    expect(failOpen).toEqual([[TWO_ZONES.id], []]);
  });

  it('cross-zone load balancing on: an ENI keeps answering while any zone has a healthy backend', () => {
    const states: Record<string, ProbeState> = { a: 'unhealthy', b: 'healthy' };
    const crossZone = [{ ...ZONAL_BACKENDS[0]!, cross_zone: true }];
    const views = new Views(source([TWO_ZONES], new Set(), { endpointBackends: () => crossZone, health: healthOf(states) }), 'sim-1', 16);
    expect(addressesOf(views, REGIONAL!)).toEqual(['127.2.1.7', '127.2.2.7']);
    // a backend in a zone down is not eligible either
    const down = new Views(source([TWO_ZONES], new Set(['sim-1b']), { endpointBackends: () => crossZone, health: healthOf(states) }), 'sim-1', 16);
    expect(addressesOf(down, REGIONAL!)).toEqual(['127.2.1.7']);
  });

  it('zone affinity: a client gets its own zone\'s ENI first; without it, or outside every subnet, the ENIs\' order', () => {
    const affine = { ...TWO_ZONES, zone_affinity: true } as Endpoint;
    const views = new Views(source([affine]), 'sim-1', 16);
    expect(addressesOf(views, REGIONAL!, '127.2.2.50')).toEqual(['127.2.2.7', '127.2.1.7']);
    expect(addressesOf(views, REGIONAL!, '127.2.1.50')).toEqual(['127.2.1.7', '127.2.2.7']);
    expect(addressesOf(views, REGIONAL!, '127.0.0.1')).toEqual(['127.2.1.7', '127.2.2.7']);
    expect(addressesOf(new Views(source([TWO_ZONES]), 'sim-1', 16), REGIONAL!, '127.2.2.50')).toEqual(['127.2.1.7', '127.2.2.7']);
  });
});

describe('private DNS names and the public zone', () => {
  const named = (state: PrivateDnsName['state'], name = 'api.example.com'): EndpointService =>
    ({ ...SERVICE, private_dns: { name, state, txt_name: '_abc123', txt_value: 'vpce:xyz' } });

  it('a verified name answers in the VPC of an endpoint with private DNS, only there; unverified or private DNS off: not served', () => {
    const views = (s: EndpointService, e: Endpoint = ENDPOINT) => new Views({ ...source([e]), allServices: () => [s] }, 'sim-1', 16);
    expect(addressesOf(views(named('verified')), 'api.example.com', '127.2.9.9')).toEqual(['127.2.1.7']);
    expect(ask(q('api.example.com'), '127.3.0.1', views(named('verified'))).packet?.rcode).toBe('NXDOMAIN');
    expect(askForward(q('api.example.com'), '127.3.0.1', views(named('verified')), { ...OPTIONS, forward: true })).toEqual({ forward: true, vpc: true });
    expect(ask(q('api.example.com'), '127.2.9.9', views(named('pendingVerification'))).packet?.rcode).toBe('NXDOMAIN');
    expect(ask(q('api.example.com'), '127.2.9.9', views(named('failed'))).packet?.rcode).toBe('NXDOMAIN');
    expect(ask(q('api.example.com'), '127.2.9.9', views(named('verified'), { ...ENDPOINT, enable_dns: false } as Endpoint)).packet?.rcode).toBe('NXDOMAIN');
    // a wildcard answers one label under it
    const wild = views(named('verified', '*.example.com'));
    expect(addressesOf(wild, 'eu.example.com')).toEqual(['127.2.1.7']);
    expect(ask(q('example.com'), '127.2.9.9', wild).packet?.rcode).toBe('NOERROR');
  });

  type Soa = { name: string; type: string };
  const soaOf = (records: Rec[] | undefined) => (records as Soa[] | undefined)?.map((r) => [r.name, r.type]);
  const privateViews = (name: string, records: PublicRecord[] = []) =>
    new Views({ ...source([ENDPOINT], new Set(), { publicRecords: () => records }), allServices: () => [named('verified', name)] }, 'sim-1', 16);

  it('a wildcard name\'s parent was NXDOMAIN in its VPC, denying the names below it that answer (RFC 8020), and without aa and its SOA: it is the apex of the wildcard\'s private zone', () => {
    for (const records of [[], [{ name: '_abc123.example.com', type: 'TXT' as const, value: 'vpce:xyz' }]]) {
      const wild = privateViews('*.example.com', records);
      const soa = ask(q('example.com', 'SOA'), '127.2.9.9', wild).packet!;
      expect([soa.rcode, soa.flag_aa, soaOf(soa.answers)]).toEqual(['NOERROR', true, [['example.com', 'SOA']]]);
      expect(soaOf(ask(q('example.com', 'ANY'), '127.2.9.9', wild).packet!.answers)).toEqual([['example.com', 'SOA']]);
      const a = ask(q('Example.com'), '127.2.9.9', wild).packet!;
      expect([a.rcode, a.flag_aa, a.answers?.length, soaOf(a.authorities)]).toEqual(['NOERROR', true, 0, [['Example.com', 'SOA']]]);
      // the wildcard answers one label under it: a name below that is in its zone, and not there
      const below = ask(q('b.eu.example.com'), '127.2.9.9', wild, { ...OPTIONS, forward: true }).packet!;
      expect([below.rcode, below.flag_aa, soaOf(below.authorities)]).toEqual(['NXDOMAIN', true, [['example.com', 'SOA']]]);
      // another VPC has no such zone: not authoritative (NODATA while the public record lies below)
      const other = ask(q('example.com', 'SOA'), '127.3.0.1', wild).packet!;
      expect([other.rcode, other.flag_aa, other.answers?.length, other.authorities?.length]).toEqual([records.length ? 'NOERROR' : 'NXDOMAIN', false, 0, 0]);
    }
  });

  it('a missing name under a private DNS name was NXDOMAIN without aa and SOA (no resolver caches that, RFC 2308 3, 5), or forwarded: its private zone answers it in the VPC, NODATA above a name below', () => {
    const views = privateViews('api.example.com', [{ name: '_t.x.api.example.com', type: 'TXT', value: 'vpce:xyz' }]);
    for (const forward of [false, true]) {
      const nx = ask(q('nothing.api.example.com'), '127.2.9.9', views, { ...OPTIONS, forward }).packet!;
      expect([nx.rcode, nx.flag_aa, nx.answers?.length, soaOf(nx.authorities)]).toEqual(['NXDOMAIN', true, 0, [['api.example.com', 'SOA']]]);
      // x.api.example.com holds a public record below it: it exists (RFC 8020)
      const between = ask(q('x.api.example.com'), '127.2.9.9', views, { ...OPTIONS, forward }).packet!;
      expect([between.rcode, between.flag_aa, between.answers?.length, soaOf(between.authorities)]).toEqual(['NOERROR', true, 0, [['api.example.com', 'SOA']]]);
    }
    // another VPC and on premises: not the zone's views, forwarded or NXDOMAIN without authority, as before
    expect(askForward(q('nothing.api.example.com'), '127.3.0.1', views, { ...OPTIONS, forward: true })).toEqual({ forward: true, vpc: true });
    const outside = ask(q('nothing.api.example.com'), '127.0.0.1', views).packet!;
    expect([outside.rcode, outside.flag_aa, outside.authorities?.length]).toEqual(['NXDOMAIN', false, 0]);
  });

  it('the public zone\'s TXT records answer in every view; verification finds the record at _name.domain, the domain or a parent', () => {
    const records = [{ name: '_abc123.example.com', type: 'TXT' as const, value: 'vpce:xyz' }];
    const views = new Views(source([ENDPOINT], new Set(), { publicRecords: () => records }), 'sim-1', 16);
    const r = ask(q('_abc123.example.com', 'TXT'), '127.0.0.1', views).packet;
    expect(r?.rcode).toBe('NOERROR');
    expect(r?.answers?.map((a) => [a.type, (a.data as Buffer[]).map(String)])).toEqual([['TXT', ['vpce:xyz']]]);
    expect(ask(q('_abc123.example.com', 'A'), '127.2.0.1', views).packet?.answers).toEqual([]);
    const p = { name: 'api.example.com', txt_name: '_abc123', txt_value: 'vpce:xyz' };
    expect(privateDnsVerified(p, records)).toBe(true);
    expect(privateDnsVerified({ ...p, name: '*.example.com' }, records)).toBe(true);
    expect(privateDnsVerified(p, [{ name: 'api.example.com', type: 'TXT', value: 'vpce:xyz' }])).toBe(true);
    expect(privateDnsVerified(p, [{ ...records[0]!, value: 'vpce:other' }])).toBe(false);
    expect(privateDnsVerified(p, [{ name: '_abc123.com', type: 'TXT', value: 'vpce:xyz' }])).toBe(false);
  });

  it('a private DNS name must be a lower-case domain outside the cloud\'s own zones', () => {
    expect(privateDnsNameProblem('api.example.com')).toBeNull();
    expect(privateDnsNameProblem('*.example.com')).toBeNull();
    expect(privateDnsNameProblem('API.example.com')).toBe('must be lower case');
    expect(privateDnsNameProblem('localhost')).toMatch(/two labels/);
    expect(privateDnsNameProblem('a..example.com')).toMatch(/label ""/);
    expect(privateDnsNameProblem(`${'a'.repeat(64)}.example.com`)).toMatch(/1-63/);
    expect(privateDnsNameProblem('s3.us-east-1.amazonaws.com')).toMatch(/amazonaws\.com/);
  });
});

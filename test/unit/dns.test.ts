// The DNS server without sockets: the `dns` config keys, the names of src/model/dns-names.ts, and
// answer() on hand-made packets over a name index built from a fake control-plane state.
import dnsPacket from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { ConfigError, validateConfig } from '../../src/model/config.js';
import { answer } from '../../src/dns/answer.js';
import { Views, type DnsSource } from '../../src/dns/views.js';
import { alibabaEndpointDnsNames, awsEndpointDnsNames, endpointDnsNames, huaweiEndpointDnsNames } from '../../src/model/dns-names.js';
import type { Endpoint, EndpointService } from '../../src/model/types.js';

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
    expect(validateConfig({}, 'test.yaml').dns).toEqual({ enabled: true, listen: { host: '127.0.0.1', port: 5353 }, ttlS: 60, forward: false });
    expect(validateConfig({ dns: { listen: '127.0.0.2:53', ttl: 5, forward: true, enabled: false } }, 'test.yaml').dns)
      .toEqual({ enabled: false, listen: { host: '127.0.0.2', port: 53 }, ttlS: 5, forward: true });
  });

  it('refuses a bad listen, a TTL out of range, the API\'s own address and unknown keys, naming the path', () => {
    expect(problems({ dns: { listen: 'localhost' } })).toEqual(['dns.listen: "localhost" is not HOST:PORT with an IPv4 host']);
    expect(problems({ dns: { ttl: 86_401 } })).toEqual(['dns.ttl: must be 0-86400 (seconds)']);
    expect(problems({ dns: { ttl: -1 } })).toEqual(['dns.ttl: must be 0-86400 (seconds)']);
    expect(problems({ listen: '127.0.0.1:9480', dns: { listen: '127.0.0.1:9480' } })[0]).toMatch(/^dns\.listen: 127\.0\.0\.1:9480 is the API's listen address/);
    expect(problems({ dns: { port: 53 } })).toEqual(['dns: unknown key "port"']);
    expect(problems({ dns: { forward: 'yes' } })[0]).toMatch(/^dns\.forward: /);
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
    expect(huaweiEndpointDnsNames(ENDPOINT, 'sim-1')).toEqual([{ name: 'vpce-0a1.web.vpcep.sim-1.internal', kind: 'huawei', scope: 'vpc' }]);
    expect(huaweiEndpointDnsNames({ ...ENDPOINT, enable_dns: false }, 'sim-1')).toEqual([]);
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

// ---- answer() ------------------------------------------------------------------------------------

function source(endpoints: Endpoint[], down: ReadonlySet<string> = new Set()): DnsSource & { revision: number } {
  return {
    revision: 1,
    allEndpoints: () => endpoints,
    allServices: () => [SERVICE],
    endpointZones: (e) => e.enis.map((n) => n.zone),
    zoneDown: (zone) => down.has(zone),
    vpcNumbers: () => [1, 2, 3],
  };
}

const OPTIONS = { ttlS: 60, forward: false, udp: true };
const q = (name: string, type = 'A', extra: Partial<dnsPacket.Packet> = {}) =>
  dnsPacket.encode({ type: 'query', id: 77, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: type as 'A', name }], ...extra });
const HUAWEI = 'vpce-0a1.web.vpcep.sim-1.internal';

function ask(query: Buffer, from: string, views = new Views(source([ENDPOINT]), 'sim-1', 16), o = OPTIONS) {
  const d = answer(query, from, views.current(), o);
  if ('forward' in d) return { forward: true as const };
  return { ...d, packet: d.reply ? dnsPacket.decode(d.reply) as dnsPacket.DecodedPacket & { rcode: string; flag_aa: boolean; flag_tc: boolean } : null };
}

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

  it('forwarding: only names under no zone of ours, only when on', () => {
    expect(ask(q('www.example.com'), '127.0.0.1', undefined, { ...OPTIONS, forward: true })).toEqual({ forward: true });
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

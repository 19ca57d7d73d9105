// The embedded DNS server end to end (README "DNS"): real clients (Node's dns.Resolver bound to a
// VPC's host address, dig, raw UDP and TCP sockets), views per VPC, the names the Huawei and AWS
// APIs show resolving to the endpoint and reaching its backend, bad queries, a flood, forwarding,
// the metrics and `vpcep resolve`.
import { execFile, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import net from 'node:net';
import path from 'node:path';
import { DescribeVpcEndpointsCommand } from '@aws-sdk/client-ec2';
import dnsPacket from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon } from '../../src/daemon.js';
import { canBindSnat } from '../../src/dataplane/snat-mode.js';
import { DnsServer } from '../../src/dns/server.js';
import { Views, type DnsSource } from '../../src/dns/views.js';
import { alibabaEndpointDnsNames } from '../../src/model/dns-names.js';
import { createLogger } from '../../src/telemetry/logger.js';
import {
  CONSUMER, PROVIDER, ROOT, SERVICE_BODY, metricValue, spawnDaemon, startTestDaemon, tempDir, twoAccountConfig, waitFor, writeConfig, type TestDaemon,
} from '../helpers.js';
import { AWS_KEYS, attempt, ec2Clients } from './aws-sdk.js';
import { echo, randomPort, startBackend, type TestBackend } from './backends.js';
import { asRoot, rootOnly } from './disk.js';

const IN_VPC = '127.2.1.50'; // vpc-client (the consumer's, VPC number 2)
const OTHER_VPC = '127.3.1.50'; // vpc-provider-client (VPC number 3)
const PUBLIC = '127.0.0.1'; // outside every VPC
const TTL = 30;

let d: TestDaemon;
let backend: TestBackend;
let server: string;
let port: number;
let endpoint: { id: string; host_ip: string; dns_names: string[] };
let servicePort: number;
let serviceId: string;

function config(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const base = twoAccountConfig();
  return {
    ...base,
    accounts: [{ ...PROVIDER, aws: AWS_KEYS.provider }, { ...CONSUMER, aws: AWS_KEYS.consumer }],
    dns: { listen: '127.0.0.1:0', ttl: TTL },
    public_services: [{
      name: 's3', service_type: 'gateway', prefix_list: { id: 'pl-s3', cidrs: ['100.126.0.0/30'] },
      ports: [{ port: randomPort(), target: '127.0.0.1:9' }],
    }],
    ...extra,
  };
}

beforeAll(async () => {
  backend = await startBackend(echo);
  d = await startTestDaemon(config());
  port = d.daemon.dnsAddress!.port;
  server = `127.0.0.1:${port}`;
  servicePort = randomPort();
  const svc = await d.provider.post('/vpc-endpoint-services', {
    ...SERVICE_BODY, approval_enabled: false, ports: [{ client_port: servicePort, server_port: backend.port, protocol: 'TCP' }],
  });
  expect(svc.status).toBe(200);
  serviceId = svc.body.id;
  await waitFor(async () => (await d.provider.get(`/vpc-endpoint-services/${svc.body.id}`)).body.status === 'available', 5_000, 'service available');
  expect((await d.provider.post(`/vpc-endpoint-services/${svc.body.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] })).status).toBe(200);
  const ep = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: svc.body.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a', enable_dns: true });
  expect(ep.status).toBe(200);
  endpoint = await waitFor(async () => {
    const r = await d.consumer.get(`/vpc-endpoints/${ep.body.id}`);
    return r.body.status === 'accepted' ? r.body : null;
  }, 5_000, 'endpoint accepted');
});

afterAll(async () => {
  await d?.stop();
  await backend?.close();
});

/** a command's exit status and output, without blocking this process (the daemon runs in it) */
function run(file: string, args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: 'utf8', timeout: 15_000 }, (err, stdout, stderr) => {
      resolve({ status: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

function resolver(from: string): Resolver {
  const r = new Resolver({ timeout: 3_000, tries: 1 });
  r.setLocalAddress(from);
  r.setServers([server]);
  return r;
}

/**
 * A UDP socket and a TCP server on one port of 127.0.0.1, as a DNS server listens: the port is the
 * UDP socket's, and the TCP listen tries again with another while the test files running beside
 * this one hold that port over TCP
 */
async function udpAndTcpOnOnePort(onConnection: (c: net.Socket) => void): Promise<{ udp: dgram.Socket; tcp: net.Server }> {
  for (let attempt = 1; ; attempt++) {
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    const tcp = net.createServer(onConnection);
    const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      tcp.once('error', resolve);
      tcp.listen(udp.address().port, '127.0.0.1', () => resolve(undefined));
    });
    if (!err) return { udp, tcp };
    udp.close();
    if (err.code !== 'EADDRINUSE' || attempt === 10) throw err;
  }
}

/** the error code of a resolution that must fail (ENOTFOUND: NXDOMAIN, ENODATA: NOERROR without records) */
async function failure(p: Promise<unknown>): Promise<string> {
  return p.then(() => 'resolved', (e: NodeJS.ErrnoException) => e.code ?? e.message);
}

describe('names per view, with Node\'s resolver', () => {
  it('the Huawei dns_names resolve in the endpoint\'s VPC to its host address, with the configured TTL', async () => {
    expect(endpoint.dns_names).toHaveLength(1);
    const answers = await resolver(IN_VPC).resolve4(endpoint.dns_names[0]!, { ttl: true });
    expect(answers).toEqual([{ address: endpoint.host_ip, ttl: TTL }]);
  });

  it('a client that resolves the endpoint\'s name and connects to it reaches the backend', async () => {
    const [address] = await resolver(IN_VPC).resolve4(endpoint.dns_names[0]!);
    expect(await attempt(address!, servicePort, IN_VPC)).toBe('relay');
    expect(backend.accepted).toBeGreaterThan(0);
  });

  it('the Huawei private name is NXDOMAIN in another VPC and on premises', async () => {
    expect(await failure(resolver(OTHER_VPC).resolve4(endpoint.dns_names[0]!))).toBe('ENOTFOUND');
    expect(await failure(resolver(PUBLIC).resolve4(endpoint.dns_names[0]!))).toBe('ENOTFOUND');
  });

  it('the AWS DnsEntries (regional and zonal) resolve to the endpoint: the names DescribeVpcEndpoints shows', async () => {
    const { consumer } = ec2Clients(d.url, AWS_KEYS);
    const out = await consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [endpoint.id] }));
    const names = out.VpcEndpoints![0]!.DnsEntries!.map((e) => e.DnsName!);
    expect(names).toHaveLength(2);
    expect(names[0]).toMatch(/^[0-9a-f-]+-[0-9a-f]{8}\.[0-9a-f-]+\.us-east-1\.vpce\.amazonaws\.com$/);
    expect(names[1]).toMatch(/^[0-9a-f-]+-[0-9a-f]{8}-us-east-1a\.[0-9a-f-]+\.us-east-1\.vpce\.amazonaws\.com$/);
    for (const n of names) {
      expect(await resolver(IN_VPC).resolve4(n)).toEqual([endpoint.host_ip]);
      // AWS's endpoint names are in a public zone: the same answer everywhere (the data plane still isolates)
      expect(await resolver(OTHER_VPC).resolve4(n)).toEqual([endpoint.host_ip]);
    }
    // a DNS name is case-insensitive
    expect(await resolver(IN_VPC).resolve4(names[0]!.toUpperCase())).toEqual([endpoint.host_ip]);
  });

  it('the Alibaba endpoint and zone domain names resolve in every view', async () => {
    const names = alibabaEndpointDnsNames({ id: endpoint.id, service_id: (endpoint as unknown as { endpoint_service_id: string }).endpoint_service_id, service_type: 'interface' }, ['sim-1a'], 'sim-1');
    expect(names.map((n) => n.kind)).toEqual(['alibaba_endpoint', 'alibaba_zonal']);
    for (const n of names) expect(await resolver(PUBLIC).resolve4(n.name)).toEqual([endpoint.host_ip]);
  });

  it('a public gateway service answers its prefix list\'s host addresses under its AWS name', async () => {
    const answers = await resolver(PUBLIC).resolve4('s3.us-east-1.amazonaws.com');
    expect(answers).toEqual(['127.255.0.1', '127.255.0.2']);
    expect(await resolver(IN_VPC).resolve4('s3.us-east-1.amazonaws.com')).toEqual(answers);
  });

  it('AAAA and TXT of a known name: NOERROR without records; unknown names: NXDOMAIN', async () => {
    expect(await failure(resolver(IN_VPC).resolve6(endpoint.dns_names[0]!))).toBe('ENODATA');
    expect(await failure(resolver(IN_VPC).resolveTxt(endpoint.dns_names[0]!))).toBe('ENODATA');
    expect(await failure(resolver(IN_VPC).resolve4('nothing.vpce.amazonaws.com'))).toBe('ENOTFOUND');
    expect(await failure(resolver(PUBLIC).resolve4('www.example.com'))).toBe('ENOTFOUND');
  });

  it('the zone apex answers its SOA, the name above the endpoint\'s exists in its VPC (ENODATA, was ENOTFOUND: RFC 8020 reads NXDOMAIN as no name below)', async () => {
    const zone = 'vpcep.sim-1.internal';
    expect(await resolver(IN_VPC).resolveSoa(zone)).toMatchObject({ nsname: 'ns.vpcep-sim.invalid', minttl: TTL });
    const parent = endpoint.dns_names[0]!.slice(endpoint.dns_names[0]!.indexOf('.') + 1);
    expect(await failure(resolver(IN_VPC).resolve4(parent))).toBe('ENODATA');
    expect(await failure(resolver(OTHER_VPC).resolve4(parent))).toBe('ENOTFOUND');
    expect(await failure(resolver(PUBLIC).resolve4(zone))).toBe('ENODATA');
    // the names above our zones have names below them too (forwarding off): NODATA, the root included
    for (const above of ['internal', 'sim-1.internal', 'amazonaws.com', 'com']) expect(await failure(resolver(PUBLIC).resolve4(above))).toBe('ENODATA');
    expect(await failure(resolver(PUBLIC).resolve4('other.amazonaws.net'))).toBe('ENOTFOUND');
  });

  it('a deleted endpoint\'s names go with it', async () => {
    const ep = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: serviceId, vpc_id: 'vpc-client', subnet_id: 'subnet-a', enable_dns: true });
    expect(ep.status).toBe(200);
    const live = await waitFor(async () => {
      const r = await d.consumer.get(`/vpc-endpoints/${ep.body.id}`);
      return r.body.status === 'accepted' ? r.body : null;
    }, 5_000, 'second endpoint accepted');
    expect(await resolver(IN_VPC).resolve4(live.dns_names[0])).toEqual([live.host_ip]);
    expect((await d.consumer.delete(`/vpc-endpoints/${ep.body.id}`)).status).toBe(204);
    await waitFor(async () => (await failure(resolver(IN_VPC).resolve4(live.dns_names[0]))) === 'ENOTFOUND', 5_000, 'the name gone');
  });
});

describe('dig bound to a VPC\'s host address', () => {
  const hasDig = spawnSync('dig', ['-v'], { stdio: 'ignore' }).status === 0;
  if (!hasDig && process.env.CI !== 'true') console.warn('dns.test.ts: dig (Debian bind9-dnsutils) is not installed: the dig tests are skipped');
  const digIt = hasDig || process.env.CI === 'true' ? it : it.skip;
  // asynchronous: the daemon answering runs in this process
  const dig = async (...args: string[]) => (await run('dig', ['-p', String(port), '@127.0.0.1', '+time=3', '+tries=1', ...args])).stdout;

  digIt('answers the endpoint\'s name in its VPC, over UDP and TCP', async () => {
    expect((await dig('-b', IN_VPC, '+short', endpoint.dns_names[0]!)).trim()).toBe(endpoint.host_ip);
    expect((await dig('-b', IN_VPC, '+tcp', '+short', endpoint.dns_names[0]!)).trim()).toBe(endpoint.host_ip);
    const full = await dig('-b', IN_VPC, endpoint.dns_names[0]!);
    expect(full).toMatch(/status: NOERROR/);
    expect(full).toMatch(/flags: qr aa rd/);
    expect(full).toMatch(new RegExp(`\\s${TTL}\\s+IN\\s+A\\s+${endpoint.host_ip.replace(/\./g, '\\.')}`));
  });

  digIt('EDNS version 1: BADVERS, with our OPT of version 0; AXFR over TCP: NOTIMP', async () => {
    const badvers = await dig('-b', IN_VPC, '+edns=1', '+noednsnegotiation', endpoint.dns_names[0]!);
    expect(badvers).toMatch(/status: BADVERS/);
    expect(badvers).toMatch(/EDNS: version: 0/);
    expect(await dig('-b', IN_VPC, 'vpce.amazonaws.com', 'AXFR')).toMatch(/Transfer failed/);
  });

  digIt('negative answers carry the zone\'s SOA with dns.ttl, for resolvers to cache them (RFC 2308); none outside our zones', async () => {
    const soa = new RegExp(`AUTHORITY SECTION:\\n${'vpcep.sim-1.internal.'.replace(/\./g, '\\.')}\\s+${TTL}\\s+IN\\s+SOA\\s+ns\\.vpcep-sim\\.invalid\\. hostmaster\\.vpcep-sim\\.invalid\\. \\d+ 3600 600 86400 ${TTL}\\n`);
    expect(await dig('-b', IN_VPC, endpoint.dns_names[0]!, 'AAAA')).toMatch(soa);
    expect(await dig('-b', OTHER_VPC, endpoint.dns_names[0]!)).toMatch(soa);
    expect(await dig('-b', OTHER_VPC, '+tcp', endpoint.dns_names[0]!)).toMatch(soa);
    expect(await dig('-b', PUBLIC, 'www.example.com')).toMatch(/AUTHORITY: 0,/);
  });

  digIt('another opcode with EDNS: NOTIMP with the question and our OPT (it was bare, and dig took the server for one without EDNS)', async () => {
    const status = await dig('+opcode=status', 's3.us-east-1.amazonaws.com');
    expect(status).toMatch(/status: NOTIMP/);
    expect(status).toMatch(/QUERY: 1, ANSWER: 0, AUTHORITY: 0, ADDITIONAL: 1/);
    expect(status).toMatch(/EDNS: version: 0, flags:; udp: 1232/);
    expect(status).not.toMatch(/retry with '\+noedns'/);
  });

  digIt('NXDOMAIN from another VPC; NOERROR with no answer for AAAA', async () => {
    expect(await dig('-b', OTHER_VPC, endpoint.dns_names[0]!)).toMatch(/status: NXDOMAIN/);
    const aaaa = await dig('-b', IN_VPC, endpoint.dns_names[0]!, 'AAAA');
    expect(aaaa).toMatch(/status: NOERROR/);
    expect(aaaa).toMatch(/ANSWER: 0/);
  });
});

// ---- raw packets -------------------------------------------------------------------------------

function query(name: string, type = 'A', id = 4242): Buffer {
  return dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: type as 'A', name }] });
}

/** sends datagrams from `from` and collects the replies until `quietMs` pass without one */
/** sends PACKETS at once; the replies: the ANSWERED expected, and any more that come QUIETMS after them */
async function udpExchange(packets: Buffer[], answered: number, from = IN_VPC, quietMs = 300): Promise<Buffer[]> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, from, resolve));
  const replies: Buffer[] = [];
  let last = Date.now();
  s.on('message', (m) => { replies.push(m); last = Date.now(); });
  for (const p of packets) s.send(p, port, '127.0.0.1');
  // on a loaded machine a reply may come later than the quiet period after the queries
  await waitFor(() => replies.length >= answered, 10_000, `${answered} replies`);
  await waitFor(() => Date.now() - last > quietMs, 10_000, 'the replies');
  s.close();
  return replies;
}

const byId = (a: (string | number)[], b: (string | number)[]) => Number(a[0]) - Number(b[0]);
/** a decoded message, its records of any type (dns-packet's typings leave `data` off OPT's) */
type Decoded = Omit<dnsPacket.DecodedPacket, 'answers' | 'additionals'> & {
  rcode: string; id: number; flag_cd: boolean;
  answers?: Array<{ name: string; type: string; ttl?: number; data?: any }>;
  additionals?: Array<{ name: string; type: string; data?: any; udpPayloadSize?: number; options?: unknown[]; flag_do?: boolean }>;
};
const decode = (b: Buffer) => dnsPacket.decode(b) as unknown as Decoded;

describe('bad queries get DNS errors, never a crash', () => {
  it('a header without its question: FORMERR with the query\'s id; a truncated name: FORMERR', async () => {
    const headerOnly = Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    const truncated = Buffer.concat([query('abc.vpce.amazonaws.com', 'A', 0x5678).subarray(0, 20)]);
    const replies = (await udpExchange([headerOnly, truncated], 2)).map(decode);
    expect(replies.map((r) => [r.id, r.rcode]).sort(byId)).toEqual([[0x1234, 'FORMERR'], [0x5678, 'FORMERR']]);
  });

  it('a name over 255 bytes: FORMERR; garbage shorter than a header and responses: no answer at all', async () => {
    const label = Buffer.alloc(64, 0x61);
    label[0] = 63;
    const huge = Buffer.concat([Buffer.from([0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), label, label, label, label, label, Buffer.from([0, 0, 1, 0, 1])]);
    const response = Buffer.from(query('x.vpce.amazonaws.com', 'A', 9));
    response[2] = response[2]! | 0x80;
    const formerr = async () => (await metricValue(d.url, 'vpcep_dns_queries_total', { view: 'vpc', kind: 'malformed', result: 'FORMERR' })) ?? 0;
    const before = await formerr();
    const replies = (await udpExchange([huge, Buffer.from([1, 2, 3]), response, query(endpoint.dns_names[0]!, 'A', 11)], 2)).map(decode);
    expect(replies.map((r) => [r.id, r.rcode]).sort(byId)).toEqual([[7, 'FORMERR'], [11, 'NOERROR']]);
    // the metric counts answers: the FORMERR sent, not the two datagrams answered nothing (each was counted FORMERR)
    expect(await formerr()).toBe(before + 1);
  });

  it('an unknown type: NOERROR without records; another opcode: NOTIMP; another class: REFUSED', async () => {
    const unknownType = query(endpoint.dns_names[0]!, 'UNKNOWN_65000', 21);
    const status = Buffer.from(query(endpoint.dns_names[0]!, 'A', 22));
    status[2] = (status[2]! & 0x87) | (2 << 3); // opcode 2 (STATUS)
    const chaos = dnsPacket.encode({ type: 'query', id: 23, questions: [{ type: 'TXT', class: 'CH', name: 'version.bind' }] });
    const replies = new Map((await udpExchange([unknownType, status, chaos], 3)).map(decode).map((r) => [r.id, r] as const));
    expect(replies.get(21)?.rcode).toBe('NOERROR');
    expect(replies.get(21)?.answers).toEqual([]);
    expect(replies.get(22)?.rcode).toBe('NOTIMP');
    expect(replies.get(23)?.rcode).toBe('REFUSED');
  });

  it('EDNS (RFC 6891): two OPT records or one not owned by the root: FORMERR; version 1: BADVERS; AXFR and IXFR: NOTIMP', async () => {
    const opt = (over: Record<string, unknown> = {}) => ({ type: 'OPT', name: '.', udpPayloadSize: 1232, ...over }) as never;
    const withOpts = (id: number, additionals: never[]) => dnsPacket.encode({ type: 'query', id, questions: [{ type: 'A', name: endpoint.dns_names[0]! }], additionals });
    // an OPT record owned by `x.` instead of the root (dns-packet writes none such): its first byte, the root, replaced
    const rooted = withOpts(32, [opt()]);
    const notRoot = Buffer.concat([rooted.subarray(0, rooted.length - 11), Buffer.from([1, 0x78, 0]), rooted.subarray(rooted.length - 10)]);
    const replies = new Map((await udpExchange([
      withOpts(31, [opt(), opt()]),
      notRoot,
      withOpts(33, [opt({ ednsVersion: 1 })]),
      withOpts(34, [opt()]),
      query('vpce.amazonaws.com', 'AXFR', 35),
      query('vpce.amazonaws.com', 'IXFR', 36),
      // a real IXFR carries the client's SOA in its authority section (RFC 1995 3): NOTIMP too, not FORMERR
      dnsPacket.encode({
        type: 'query', id: 37, questions: [{ type: 'IXFR', name: 'vpce.amazonaws.com' }],
        authorities: [{ type: 'SOA', name: 'vpce.amazonaws.com', ttl: 0, data: { mname: 'ns.x', rname: 'h.x', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 1 } }],
      } as never),
      // an authority record in any other query stays malformed
      dnsPacket.encode({ type: 'query', id: 38, questions: [{ type: 'A', name: 'vpce.amazonaws.com' }], authorities: [{ type: 'A', name: 'x.', ttl: 0, data: '1.2.3.4' }] } as never),
    ], 8)).map(decode).map((r) => [r.id, r] as const));
    expect(replies.get(31)?.rcode).toBe('FORMERR');
    expect(replies.get(32)?.rcode).toBe('FORMERR');
    // BADVERS is 16: 0 in the header, 1 in the upper bits our OPT record carries; no answer
    const badvers = replies.get(33)!;
    expect(badvers.rcode).toBe('NOERROR');
    expect(badvers.answers).toEqual([]);
    expect(badvers.additionals).toEqual([expect.objectContaining({ type: 'OPT', extendedRcode: 1, ednsVersion: 0 })]);
    expect(replies.get(34)?.answers).toHaveLength(1);
    expect(replies.get(34)?.additionals).toEqual([expect.objectContaining({ type: 'OPT', extendedRcode: 0 })]);
    expect(replies.get(35)?.rcode).toBe('NOTIMP');
    expect(replies.get(36)?.rcode).toBe('NOTIMP');
    expect(replies.get(37)?.rcode).toBe('NOTIMP');
    expect(replies.get(38)?.rcode).toBe('FORMERR');
  });

  it('TCP: several queries on one connection, answered in frames; a frame whose length lies does not hold up others', async () => {
    const frame = (q: Buffer) => Buffer.concat([Buffer.from([q.length >> 8, q.length & 255]), q]);
    const liar = net.connect({ host: '127.0.0.1', port, localAddress: IN_VPC });
    await new Promise((resolve) => liar.once('connect', resolve));
    liar.write(Buffer.concat([Buffer.from([0x01, 0x2c]), query('x.vpce.amazonaws.com').subarray(0, 20)])); // says 300, sends 20
    const s = net.connect({ host: '127.0.0.1', port, localAddress: IN_VPC });
    const got: Buffer[] = [];
    let buffered = Buffer.alloc(0);
    s.on('data', (b: Buffer) => {
      buffered = Buffer.concat([buffered, b]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        got.push(buffered.subarray(2, 2 + buffered.readUInt16BE(0)));
        buffered = buffered.subarray(2 + buffered.readUInt16BE(0));
      }
    });
    s.write(Buffer.concat([frame(query(endpoint.dns_names[0]!, 'A', 31)), frame(query('nothing.vpce.amazonaws.com', 'A', 32)), frame(query(endpoint.dns_names[0]!, 'AAAA', 33))]));
    await waitFor(() => got.length === 3, 5_000, 'three answers on one TCP connection');
    const byId = new Map(got.map(decode).map((r) => [r.id, r]));
    expect(byId.get(31)?.answers?.map((a) => a.data)).toEqual([endpoint.host_ip]);
    expect(byId.get(32)?.rcode).toBe('NXDOMAIN');
    expect(byId.get(33)?.rcode).toBe('NOERROR');
    s.destroy();
    liar.destroy();
  });

  it('a flood of 10,000 queries (good, garbage, huge): every reply a proper DNS answer, and the server answers after', async () => {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => s.bind(0, IN_VPC, resolve));
    const rcodes = new Map<string, number>();
    let replies = 0;
    s.on('message', (m) => {
      replies++;
      const r = decode(m);
      rcodes.set(r.rcode, (rcodes.get(r.rcode) ?? 0) + 1);
    });
    const good = query(endpoint.dns_names[0]!, 'A', 1);
    const bad = Buffer.from([0, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0]);
    for (let i = 0; i < 10_000; i += 250) {
      for (let j = 0; j < 250; j++) s.send(j % 5 === 0 ? bad : good, port, '127.0.0.1');
      await new Promise((resolve) => setImmediate(resolve));
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    s.close();
    // UDP may drop under load; what comes back is an answer or FORMERR, nothing else
    expect(replies).toBeGreaterThan(0);
    expect([...rcodes.keys()].every((k) => k === 'NOERROR' || k === 'FORMERR')).toBe(true);
    expect(await resolver(IN_VPC).resolve4(endpoint.dns_names[0]!)).toEqual([endpoint.host_ip]);
  });
});

describe('what one client can cost the server', () => {
  // a server of its own, with a short idle timeout and a cap of 4 connections (the daemon's are 10 s and 64)
  const IDLE_MS = 600;
  let small: DnsServer;
  let smallPort: number;
  const empty: DnsSource = {
    revision: 0, healthRevision: 0, allEndpoints: () => [], allServices: () => [], endpointZones: () => [], zoneDown: () => false,
    vpcNumbers: () => [], endpointBackends: () => [], health: null, clientZone: () => null, publicRecords: () => [],
  };
  beforeAll(async () => {
    small = await DnsServer.start({
      listen: { host: '127.0.0.1', port: 0 }, ttlS: TTL, forward: false, forwardTimeoutMs: 2_000, tcpIdleTimeoutMs: IDLE_MS, tcpMaxConnections: 4,
      views: new Views(empty, 'sim-1', 16), log: { info: () => undefined, warn: () => undefined },
    });
    smallPort = small.address.port;
  });
  afterAll(async () => { await small?.close(); });

  /** a server forwarding to 127.0.0.1:upstreamPort, and a resolver asking it */
  async function forwarder(upstreamPort: number): Promise<{ fwd: DnsServer; r: Resolver }> {
    const fwd = await DnsServer.start({
      listen: { host: '127.0.0.1', port: 0 }, ttlS: TTL, forward: true, upstreams: [`127.0.0.1:${upstreamPort}`], forwardTimeoutMs: 2_000,
      tcpIdleTimeoutMs: IDLE_MS, tcpMaxConnections: 4, views: new Views(empty, 'sim-1', 16), log: { info: () => undefined, warn: () => undefined },
    });
    const r = new Resolver({ timeout: 3_000, tries: 1 });
    r.setServers([`127.0.0.1:${fwd.address.port}`]);
    return { fwd, r };
  }

  const frame = (q: Buffer) => Buffer.concat([Buffer.from([q.length >> 8, q.length & 255]), q]);
  /** a connection to the small server, and whether and when the server closed it */
  async function connect(): Promise<{ s: net.Socket; closedAt: () => number | null }> {
    const s = net.connect({ host: '127.0.0.1', port: smallPort });
    let closedAt: number | null = null;
    s.on('error', () => undefined);
    s.on('close', () => { closedAt = Date.now(); });
    await new Promise((resolve) => s.once('connect', resolve));
    return { s, closedAt: () => closedAt };
  }
  /** whether a new connection gets its query answered */
  async function answered(): Promise<boolean> {
    const { s } = await connect();
    const got = new Promise<boolean>((resolve) => {
      s.once('data', () => resolve(true));
      s.once('close', () => resolve(false));
      setTimeout(() => resolve(false), 2_000);
    });
    s.write(frame(query('x.vpce.amazonaws.com', 'A', 5)));
    const ok = await got;
    s.destroy();
    return ok;
  }

  // a UDP datagram from source port 0 to 127.0.0.1:PORT carrying the query HEX, through a raw socket (root only)
  const FROM_PORT_0 = `
import socket, struct, sys
q = bytes.fromhex(sys.argv[2]); port = int(sys.argv[1]); n = 8 + len(q)
def csum(b):
    b += b'\\0' * (len(b) % 2); t = sum(struct.unpack('!%dH' % (len(b) // 2), b)); t = (t >> 16) + (t & 0xffff); return ~(t + (t >> 16)) & 0xffff
a = socket.inet_aton('127.0.0.1'); c = csum(a + a + struct.pack('!BBHHHHH', 0, 17, n, 0, port, n, 0) + q)
socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP).sendto(struct.pack('!HHHH', 0, port, n, c) + q, ('127.0.0.1', 0))
`;
  it.skipIf(!asRoot)(rootOnly('a datagram from source port 0 is dropped: dgram\'s send threw on it, and the daemon died', 'send it from a raw socket'), async () => {
    // the daemon runs in this process here: what killed vpcepd is an uncaught exception of this one
    const uncaught: Error[] = [];
    const onUncaught = (err: Error) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    const sent = await run('python3', ['-c', FROM_PORT_0, String(smallPort), query('x.vpce.amazonaws.com', 'A', 6).toString('hex')]);
    expect(sent).toMatchObject({ status: 0, stderr: '' });
    await new Promise((resolve) => setTimeout(resolve, 200));
    process.off('uncaughtException', onUncaught);
    expect(uncaught.map((e) => e.message)).toEqual([]);
    const s = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
    const reply = new Promise<Buffer>((resolve) => s.once('message', resolve));
    s.send(query('x.vpce.amazonaws.com', 'A', 7), smallPort, '127.0.0.1');
    expect(decode(await reply)).toMatchObject({ id: 7, rcode: 'NXDOMAIN' });
    s.close();
  });

  it('a forwarded query takes its answer from the resolver asked only: a reply with its id from another socket is ignored', async () => {
    const upstream = dgram.createSocket('udp4');
    const spoofer = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => upstream.bind(0, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => spoofer.bind(0, '127.0.0.1', resolve));
    const reply = (q: dnsPacket.DecodedPacket, address: string) => dnsPacket.encode({
      type: 'response', id: q.id, flags: dnsPacket.RECURSION_AVAILABLE, questions: q.questions,
      answers: [{ type: 'A', name: q.questions![0]!.name, ttl: 5, data: address }],
    });
    const ids: number[] = [];
    upstream.on('message', (m, r) => {
      const q = dnsPacket.decode(m);
      ids.push(q.id!);
      // another process, knowing the forwarding socket's port and the id, answers first
      spoofer.send(reply(q, '192.0.2.66'), r.port, r.address);
      setTimeout(() => {
        try {
          upstream.send(reply(q, '192.0.2.7'), r.port, r.address);
        } catch { /* closed: the test is over */ }
      }, 100);
    });
    const { fwd, r } = await forwarder(upstream.address().port);
    try {
      for (const name of ['a.example.com', 'b.example.com', 'c.example.com']) expect(await r.resolve4(name)).toEqual(['192.0.2.7']);
      // not a counter's next values
      expect(ids).toHaveLength(3);
      expect(ids[1]! - ids[0]! === 1 && ids[2]! - ids[1]! === 1).toBe(false);
    } finally {
      await fwd.close();
      upstream.close();
      spoofer.close();
    }
  });

  it('a TCP client\'s forwarded query whose UDP answer came truncated is asked again over TCP (it got the truncated answer, TC over TCP, with no way to the rest)', async () => {
    const texts = Array.from({ length: 30 }, (_, i) => `${'x'.repeat(100)}${i}`);
    const response = (q: dnsPacket.DecodedPacket, all: boolean) => dnsPacket.encode({
      type: 'response', id: q.id, flags: dnsPacket.RECURSION_AVAILABLE | (all ? 0 : dnsPacket.TRUNCATED_RESPONSE), questions: q.questions,
      answers: (all ? texts : texts.slice(0, 4)).map((t) => ({ type: 'TXT' as const, name: q.questions![0]!.name, ttl: 5, data: t })),
    });
    // the upstream: UDP answers truncated, TCP (the same port) in full
    const { udp: udpUpstream, tcp: tcpUpstream } = await udpAndTcpOnOnePort((c) => c.on('data', (chunk) => {
      c.end(frame(response(dnsPacket.streamDecode(chunk) as dnsPacket.DecodedPacket, true)));
    }));
    udpUpstream.on('message', (m, r) => udpUpstream.send(response(dnsPacket.decode(m) as dnsPacket.DecodedPacket, false), r.port, r.address));
    const { fwd, r } = await forwarder(udpUpstream.address().port);
    try {
      // Node's resolver retries over TCP on TC, as every stub does
      expect((await r.resolveTxt('big.example.net')).map((t) => t.join(''))).toEqual(texts);
    } finally {
      await fwd.close();
      udpUpstream.close();
      tcpUpstream.close();
    }
  });

  it('no upstream answer in time: SERVFAIL with the question and the query\'s CD bit, and our own OPT record (1232, no options), not the client\'s echoed', async () => {
    const silent = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    const { fwd } = await forwarder((silent.address() as { port: number }).port);
    try {
      const q = dnsPacket.encode({
        type: 'query', id: 91, flags: dnsPacket.RECURSION_DESIRED | dnsPacket.CHECKING_DISABLED, questions: [{ type: 'A', name: 'slow.example.net' }],
        additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4000, flags: dnsPacket.DNSSEC_OK, options: [{ code: 10, data: Buffer.alloc(8, 1) }] } as never],
      });
      const c = dgram.createSocket('udp4');
      const got = new Promise<Buffer>((resolve) => c.once('message', resolve));
      c.send(q, fwd.address.port, '127.0.0.1');
      const reply = decode(await got);
      c.close();
      expect([reply.id, reply.rcode, reply.flag_cd, reply.questions]).toEqual([91, 'SERVFAIL', true, [{ type: 'A', class: 'IN', name: 'slow.example.net' }]]);
      expect(reply.additionals).toEqual([expect.objectContaining({ type: 'OPT', udpPayloadSize: 1232, options: [], flag_do: true })]);
    } finally {
      await fwd.close();
      silent.close();
    }
  });

  it('a TCP client that sends its query and then its FIN (half-close) still gets the forwarded answer, then the end', async () => {
    const upstream = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => upstream.bind(0, '127.0.0.1', resolve));
    // an upstream that takes its time: the answer comes after the client's FIN
    upstream.on('message', (m, r) => setTimeout(() => {
      const q = dnsPacket.decode(m);
      upstream.send(dnsPacket.encode({ type: 'response', id: q.id, flags: dnsPacket.RECURSION_AVAILABLE, questions: q.questions, answers: [{ type: 'A', name: q.questions![0]!.name, ttl: 5, data: '192.0.2.7' }] }), r.port, r.address);
    }, 100));
    const { fwd } = await forwarder((upstream.address() as { port: number }).port);
    try {
      const s = net.connect({ host: '127.0.0.1', port: fwd.address.port });
      const chunks: Buffer[] = [];
      s.on('data', (b: Buffer) => chunks.push(b));
      const ended = new Promise<void>((resolve) => s.on('end', resolve));
      await new Promise((resolve) => s.once('connect', resolve));
      s.end(frame(query('up.example.net', 'A', 77)));
      await ended;
      const got = Buffer.concat(chunks);
      const answer = decode(got.subarray(2, 2 + got.readUInt16BE(0)));
      expect([answer.id, answer.answers?.map((a) => a.data)]).toEqual([77, ['192.0.2.7']]);
      s.destroy();
    } finally {
      await fwd.close();
      upstream.close();
    }
  });

  /** a server on 0.0.0.0:PORT (a free one) forwarding to UPSTREAMS(PORT), its warnings kept */
  async function onEveryAddress(upstreams: (port: number) => string[]): Promise<{ fwd: DnsServer; warned: string[] }> {
    const warned: string[] = [];
    for (let attempt = 1; ; attempt++) {
      const listen = { host: '0.0.0.0', port: randomPort() };
      try {
        const fwd = await DnsServer.start({
          listen, ttlS: TTL, forward: true, upstreams: upstreams(listen.port), forwardTimeoutMs: 2_000, tcpIdleTimeoutMs: IDLE_MS, tcpMaxConnections: 4,
          views: new Views(empty, 'sim-1', 16), log: { info: () => undefined, warn: (_o, msg) => warned.push(msg) },
        });
        return { fwd, warned };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt === 10) throw err;
      }
    }
  }
  /** the forwarded queries a server counted, by rcode */
  const forwardedCounts = (fwd: DnsServer) => Object.fromEntries(fwd.queryCounts().filter((c) => c.kind === 'forwarded').map((c) => [c.result, c.count]));

  it('a forwarder that is this server (127.0.0.1:PORT beside dns.listen 0.0.0.0:PORT) was asked: each query went round 1,025 times, filling the table of waiting queries; it is skipped, said at start, and the next one asked', async () => {
    const upstream = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => upstream.bind(0, '127.0.0.1', resolve));
    upstream.on('message', (m, r) => {
      const q = dnsPacket.decode(m);
      upstream.send(dnsPacket.encode({ type: 'response', id: q.id, flags: dnsPacket.RECURSION_AVAILABLE, questions: q.questions, answers: [{ type: 'A', name: q.questions![0]!.name, ttl: 5, data: '192.0.2.7' }] }), r.port, r.address);
    });
    const { fwd, warned } = await onEveryAddress((port) => [`127.0.0.1:${port}`, `0.0.0.0:${port}`, `127.0.0.1:${upstream.address().port}`]);
    const alone = await onEveryAddress((port) => [`127.0.0.9:${port}`]);
    try {
      expect(warned).toEqual(['dns: a forwarder is this server (a loop): skipped', 'dns: a forwarder is this server (a loop): skipped']);
      const r = new Resolver({ timeout: 3_000, tries: 1 });
      r.setServers([`127.0.0.1:${fwd.address.port}`]);
      expect(await r.resolve4('www.example.net')).toEqual(['192.0.2.7']);
      expect(forwardedCounts(fwd)).toEqual({ NOERROR: 1 });
      // no forwarder left: SERVFAIL at once, one query counted
      expect(alone.warned).toEqual(['dns: a forwarder is this server (a loop): skipped', 'dns: no forwarder to ask: names under no zone of ours are SERVFAIL']);
      r.setServers([`127.0.0.1:${alone.fwd.address.port}`]);
      expect(await failure(r.resolve4('www.example.net'))).toBe('ESERVFAIL');
      expect(forwardedCounts(alone.fwd)).toEqual({ SERVFAIL: 1 });
    } finally {
      await fwd.close();
      await alone.fwd.close();
      upstream.close();
    }
  });

  it.skipIf(!asRoot)(rootOnly('a forwarder that leads back to this server through an address made local by a route (the kernel SNAT mode\'s 198.19.128.0/17) is not forwarded to again: the query came back, SERVFAIL, once', 'have the SNAT range made local'), async () => {
    // the daemon of this file runs in kernel SNAT mode as root: its route makes the range local, no interface has it
    expect(await canBindSnat()).toBe(true);
    const { fwd, warned } = await onEveryAddress((port) => [`198.19.255.53:${port}`]);
    try {
      expect(warned).toEqual([]);
      const r = new Resolver({ timeout: 3_000, tries: 1 });
      r.setServers([`127.0.0.1:${fwd.address.port}`]);
      expect(await failure(r.resolve4('www.example.net'))).toBe('ESERVFAIL');
      // the client's query and its copy come back: not 1,025
      expect(forwardedCounts(fwd)).toEqual({ SERVFAIL: 2 });
      expect(warned).toEqual(['dns: a forwarded query came back to this server (a loop): SERVFAIL (logged once)']);
    } finally {
      await fwd.close();
    }
  });

  it('connections trickling a frame a byte at a time are closed after the idle timeout, as silent ones: they cannot hold the listener', async () => {
    expect(await answered()).toBe(true);
    const start = Date.now();
    const slow = await Promise.all(Array.from({ length: 4 }, () => connect()));
    for (const c of slow) c.s.write(Buffer.from([0x01, 0x00])); // a frame of 256 bytes announced
    const trickle = setInterval(() => { for (const c of slow) if (c.closedAt() === null) c.s.write(Buffer.from([0])); }, 100);
    try {
      await waitFor(() => slow.every((c) => c.closedAt() !== null), 5_000, 'the trickling connections closed by the server');
    } finally {
      clearInterval(trickle);
      for (const c of slow) c.s.destroy();
    }
    // every byte restarted the socket's own timeout: they stayed open, and the fifth connection was closed at accept
    for (const c of slow) expect(c.closedAt()! - start).toBeLessThan(IDLE_MS + 1_000);
    expect(await answered()).toBe(true);
  });

  it('a client that pipelines queries and never reads the answers is no longer read: what the server buffers for it stays bounded', async () => {
    // the connections of the test before gone (a connection over the cap is closed at accept)
    await waitFor(() => answered(), 5_000, 'the server answering');
    const { s, closedAt } = await connect();
    const queries = Buffer.concat(Array.from({ length: 2_000 }, (_, i) => frame(query('x.vpce.amazonaws.com', 'A', i))));
    let written = 0;
    let stalled = false;
    const until = Date.now() + 4_000;
    while (Date.now() < until && closedAt() === null) {
      if (s.write(queries)) { written += queries.length; continue; }
      written += queries.length;
      // no drain within a second: the server has stopped reading
      const drained = await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(false), 1_000);
        s.once('drain', () => { clearTimeout(t); resolve(true); });
      });
      if (!drained) { stalled = true; break; }
    }
    // before, the server read on and kept every answer in memory (hundreds of MB in 15 s)
    expect(stalled || closedAt() !== null).toBe(true);
    expect(written).toBeLessThan(64 * 2 ** 20);
    // then it closes the connection as idle: no complete query read for the timeout (read on, so
    // that this side sees the close behind the answers its buffers hold). Reading resumes the
    // server, which first answers every query the kernel's buffers still hold (up to about 8 MB,
    // 200,000 queries): 1.4 s on an idle machine, more than 5 s with CI's four test groups on two cores
    s.on('data', () => undefined);
    await waitFor(() => closedAt() !== null, 30_000, 'the connection closed by the server');
    s.destroy();
    expect(await answered()).toBe(true);
  }, 50_000);
});

describe('metrics and the CLI', () => {
  it('vpcep_dns_queries_total counts queries by view, kind and result', async () => {
    await resolver(PUBLIC).resolve4('s3.us-east-1.amazonaws.com');
    expect(await metricValue(d.url, 'vpcep_dns_queries_total', { view: 'vpc', kind: 'huawei', result: 'NOERROR' })).toBeGreaterThan(0);
    expect(await metricValue(d.url, 'vpcep_dns_queries_total', { view: 'public', kind: 'huawei', result: 'NXDOMAIN' })).toBeUndefined();
    expect(await metricValue(d.url, 'vpcep_dns_queries_total', { view: 'public', kind: 'unknown', result: 'NXDOMAIN' })).toBeGreaterThan(0);
    expect(await metricValue(d.url, 'vpcep_dns_queries_total', { view: 'public', kind: 'aws_public_service', result: 'NOERROR' })).toBeGreaterThan(0);
    expect(await metricValue(d.url, 'vpcep_dns_queries_total', { view: 'vpc', kind: 'malformed', result: 'FORMERR' })).toBeGreaterThan(0);
  });

  it('vpcep resolve answers as the VPC of --from sees it', async () => {
    const cli = (...args: string[]) => run(process.execPath, [path.join(ROOT, 'bin/vpcep.js'), 'resolve', ...args, '--server', server]);
    const inVpc = await cli(endpoint.dns_names[0]!, '--from', IN_VPC);
    expect(inVpc.status).toBe(0);
    expect(inVpc.stdout).toContain(endpoint.host_ip);
    const other = await cli(endpoint.dns_names[0]!, '--from', OTHER_VPC);
    expect(other.status).toBe(1);
    expect(other.stderr).toContain('NXDOMAIN'); // a failure: on stderr, nothing on stdout
    const json = await cli('--json', 's3.us-east-1.amazonaws.com');
    expect(JSON.parse(json.stdout)).toMatchObject({ status: 'NOERROR', from: PUBLIC, answers: [{ address: '127.255.0.1', ttl: TTL }, { address: '127.255.0.2', ttl: TTL }] });
  });
});

describe('start-up and forwarding', () => {
  it('a busy DNS port is a start-up error naming the address (in-process and vpcepd)', async () => {
    const dir = tempDir();
    const busy = `127.0.0.1:${port}`;
    const err = await startDaemon({
      configFile: writeConfig(dir, twoAccountConfig({ dns: { listen: busy } })), dataDir: path.join(dir, 'data'),
      listen: { host: '127.0.0.1', port: 0 }, log: createLogger('silent'),
    }).then(() => null, (e: Error) => e);
    expect(err?.message).toContain(`dns.listen ${busy} (UDP): address already in use`);
    const child = await spawnDaemon(['--data-dir', path.join(tempDir(), 'data')], { VPCEP_DNS_LISTEN: busy });
    expect((await child.exited).code).toBe(1);
    expect(child.output()).toContain(`vpcepd: cannot start: dns.listen ${busy} (UDP): address already in use`);
    expect(child.output()).toContain('set dns.listen (flag --dns-listen, env VPCEP_DNS_LISTEN) to a free address, or dns.enabled: false');
  });

  it('dns.forward sends names under no zone of ours to dns.forwarders (a second DNS server here), and keeps ours; dns.enabled false runs no server', async () => {
    const upstream = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => upstream.bind(0, '127.0.0.1', resolve));
    const asked: string[] = [];
    upstream.on('message', (m, r) => {
      const q = dnsPacket.decode(m);
      asked.push(q.questions![0]!.name);
      upstream.send(dnsPacket.encode({
        type: 'response', id: q.id, flags: dnsPacket.RECURSION_AVAILABLE, questions: q.questions,
        answers: [{ type: 'A', name: q.questions![0]!.name, ttl: 5, data: '192.0.2.7' }],
      }), r.port, r.address);
    });
    const dir = tempDir();
    const fwd = await startDaemon({
      configFile: writeConfig(dir, twoAccountConfig({ dns: { listen: '127.0.0.1:0', forward: true, forwarders: [`127.0.0.1:${upstream.address().port}`] } })),
      dataDir: path.join(dir, 'data'), listen: { host: '127.0.0.1', port: 0 }, log: createLogger('silent'),
    });
    try {
      const r = new Resolver({ timeout: 3_000, tries: 1 });
      r.setServers([`127.0.0.1:${fwd.dnsAddress!.port}`]);
      expect(await r.resolve4('www.example.com')).toEqual(['192.0.2.7']);
      expect(await failure(r.resolve4('nothing.vpce.amazonaws.com'))).toBe('ENOTFOUND');
      expect(asked).toEqual(['www.example.com']);
    } finally {
      await fwd.stop(100);
      upstream.close();
    }
    const off = await startTestDaemon(twoAccountConfig({ dns: { enabled: false } }));
    try {
      expect(off.daemon.dnsAddress).toBeNull();
    } finally {
      await off.stop();
    }
  });
});

// The one routing decision (src/model/routing.ts), pure: indexRouting + explain (decide() in words) against
// hand-built route tables. 002_05e46307768ae273.txt "Routing for gateway endpoints": longest prefix
// match, a user route with an identical prefix wins over the endpoint route, and the two worked
// examples (0.0.0.0/0 to an igw beside the endpoint route; 54.123.165.0/24 to an igw inside the
// endpoint's prefix list 54.123.160.0/19).
import { describe, expect, it } from 'vitest';
import {
  indexRouting, explain, serviceAt, type GatewayEndpointRouting, type PublicServiceRouting, type RoutingInput, type TableInput,
} from '../../src/model/routing.js';
import { validatePolicy } from '../../src/model/policy.js';

/** the Huawei dialect's policy rules: no Principal required */
const HUAWEI = { requirePrincipal: false };
import type { Route } from '../../src/model/types.js';
import { cidrOf, ipToInt } from '../../src/net/cidr.js';

// ---- fixtures --------------------------------------------------------------------------------

const LOCAL: Route = { destination: '10.0.0.0/16', type: 'local', owner: 'system' };
const S3_ROUTE: Route = { destination: 'pl-1a2b3c4d', type: 'gateway_endpoint', nexthop: 'vpce-11bb22cc', owner: 'endpoint' };
const igw = (destination: string, owner: Route['owner'] = 'user'): Route => ({ destination, type: 'igw', nexthop: 'igw-1a2b3c4d', owner });
const blackhole = (destination: string, owner: Route['owner'] = 'user'): Route => ({ destination, type: 'blackhole', owner });

/** the S3-like service of the AWS examples: prefix list pl-1a2b3c4d = 54.123.160.0/19, port 443 */
const S3: PublicServiceRouting = {
  id: 'svc-s3', name: 'sim-1.s3', prefixListId: 'pl-1a2b3c4d', prefixes: [cidrOf('54.123.160.0/19')],
  targets: [{ port: 443, host: '127.0.0.1', hostPort: 9443 }],
};
/** another public service (no endpoint to it): reached through the igw only */
const OTHER: PublicServiceRouting = {
  id: 'svc-other', name: 'sim-1.other', prefixListId: 'pl-other', prefixes: [cidrOf('52.94.0.0/24'), cidrOf('52.95.0.0/24')],
  targets: [{ port: 443, host: '127.0.0.1', hostPort: 9444 }, { port: 80, host: '127.0.0.1', hostPort: 9080 }],
};

const ENDPOINT: GatewayEndpointRouting = { id: 'vpce-11bb22cc', serviceId: 'svc-s3', status: 'accepted', policy: null, cap: 10, accountId: 'dom1', actionPrefix: 's3' };

interface Fixture {
  /** routes of the VPC's default table (rtb-main); subnet-b (10.0.2.0/24) uses it */
  main?: Route[];
  /** routes of rtb-a, associated with subnet-a (10.0.1.0/24); omitted: no rtb-a at all */
  a?: Route[];
  endpoints?: GatewayEndpointRouting[];
  services?: PublicServiceRouting[];
}

function view(f: Fixture) {
  const tables: TableInput[] = [{ id: 'rtb-main', default: true, subnets: [], routes: f.main ?? [LOCAL] }];
  if (f.a) tables.push({ id: 'rtb-a', default: false, subnets: ['subnet-a'], routes: f.a });
  const input: RoutingInput = {
    vpcs: [{
      id: 'vpc-1', number: 3, cidr: '10.0.0.0/16', domainId: 'dom1',
      subnets: [{ id: 'subnet-a', cidr: '10.0.1.0/24', zone: 'sim-1b' }, { id: 'subnet-b', cidr: '10.0.2.0/24' }],
      tables,
    }],
    services: f.services ?? [S3, OTHER],
    endpoints: f.endpoints ?? [ENDPOINT],
  };
  return indexRouting(input);
}

const decide = (f: Fixture | ReturnType<typeof view>, src: string, dst: string, port = 443, active: (id: string) => number = () => 0) =>
  explain('vpcs' in f ? f : view(f), { vpcId: 'vpc-1', sourceIp: ipToInt(src), destinationIp: ipToInt(dst), destinationPort: port }, active);

// =============================================================================================

describe('indexRouting', () => {
  it('expands a prefix list into one LPM entry per CIDR and keeps the table\'s routes', () => {
    const v = view({ main: [LOCAL, { destination: 'pl-other', type: 'gateway_endpoint', nexthop: 'vpce-x', owner: 'endpoint' }] });
    const vpc = v.vpcs.get('vpc-1')!;
    const t = vpc.tables.get('rtb-main')!;
    expect(t.routes).toEqual([LOCAL, { destination: 'pl-other', type: 'gateway_endpoint', nexthop: 'vpce-x', owner: 'endpoint' }]);
    expect(t.lpm.size).toBe(3);
    expect(t.lpm.get(cidrOf('52.94.0.0/24'))).toEqual([{ destination: 'pl-other', cidr: cidrOf('52.94.0.0/24'), type: 'gateway_endpoint', nexthop: 'vpce-x', owner: 'endpoint' }]);
    expect(t.lpm.get(cidrOf('52.95.0.0/24'))).toEqual([{ destination: 'pl-other', cidr: cidrOf('52.95.0.0/24'), type: 'gateway_endpoint', nexthop: 'vpce-x', owner: 'endpoint' }]);
    expect(v.vpcByNumber.get(3)).toBe(vpc);
    expect(vpc.defaultTable).toBe('rtb-main');
  });

  it('a subnet takes its associated table, else the VPC default; it keeps its zone (the toxics\' zone scope of routed connections)', () => {
    const vpc = view({ a: [LOCAL] }).vpcs.get('vpc-1')!;
    expect(vpc.subnets.map((s) => ({ id: s.id, tableId: s.tableId, associated: s.associated, zone: s.zone }))).toEqual([
      { id: 'subnet-a', tableId: 'rtb-a', associated: true, zone: 'sim-1b' },
      { id: 'subnet-b', tableId: 'rtb-main', associated: false, zone: null },
    ]);
  });

  it('serviceAt: the service owning an address and port, else null', () => {
    const v = view({});
    expect(serviceAt(v, ipToInt('54.123.170.1'), 443)?.id).toBe('svc-s3');
    expect(serviceAt(v, ipToInt('54.123.170.1'), 80)).toBeNull();
    expect(serviceAt(v, ipToInt('52.95.0.9'), 80)?.id).toBe('svc-other');
    expect(serviceAt(v, ipToInt('54.123.192.1'), 443)).toBeNull();
  });
});

describe('explain: the AWS worked examples', () => {
  it('example 1: 0.0.0.0/0 to an igw beside the endpoint route: the service\'s prefix goes through the endpoint, other traffic to the igw', () => {
    const v = view({ main: [LOCAL, igw('0.0.0.0/0'), S3_ROUTE] });

    const toS3 = decide(v, '10.0.2.5', '54.123.170.9');
    expect(toS3.target_type).toBe('gateway_endpoint');
    expect(toS3.verdict).toBe('relay');
    expect(toS3.reason).toBe('relayed through gateway endpoint vpce-11bb22cc');
    expect(toS3.candidates).toEqual([
      { destination: 'pl-1a2b3c4d', matched: '54.123.160.0/19', type: 'gateway_endpoint', nexthop: 'vpce-11bb22cc', owner: 'endpoint' },
      { destination: '0.0.0.0/0', matched: '0.0.0.0/0', type: 'igw', nexthop: 'igw-1a2b3c4d', owner: 'user' },
    ]);
    expect(toS3.winner).toEqual({
      destination: 'pl-1a2b3c4d', matched: '54.123.160.0/19', type: 'gateway_endpoint', nexthop: 'vpce-11bb22cc', owner: 'endpoint',
      why: 'longest prefix /19, more specific than /0',
    });
    expect(toS3.endpoint).toEqual({ id: 'vpce-11bb22cc', status: 'accepted' });
    expect(toS3.service).toEqual({ id: 'svc-s3', name: 'sim-1.s3', target: '127.0.0.1:9443' });
    expect(toS3.backend_source).toBe('10.0.2.5 (host address 127.3.2.5)');
    expect(toS3.policy).toEqual({ allowed: true, statement: null, reason: 'no policy: the default policy allows all' });
    expect(toS3.cap).toEqual({ active: 0, cap: 10, headroom: 10 });

    // Another service, and the edges just outside the /19: the igw.
    for (const dst of ['52.94.0.7', '54.123.159.255', '54.123.192.0']) {
      const d = decide(v, '10.0.2.5', dst);
      expect(d.target_type, dst).toBe('igw');
      expect(d.winner, dst).toEqual({ destination: '0.0.0.0/0', matched: '0.0.0.0/0', type: 'igw', nexthop: 'igw-1a2b3c4d', owner: 'user', why: 'longest prefix /0' });
      expect(d.candidates, dst).toEqual([{ destination: '0.0.0.0/0', matched: '0.0.0.0/0', type: 'igw', nexthop: 'igw-1a2b3c4d', owner: 'user' }]);
      expect(d.endpoint, dst).toBeNull();
      expect(d.policy, dst).toBeNull();
    }
    const other = decide(v, '10.0.2.5', '52.94.0.7');
    expect(other.verdict).toBe('relay');
    expect(other.service).toEqual({ id: 'svc-other', name: 'sim-1.other', target: '127.0.0.1:9444' });
    expect(other.reason).toBe('relayed as internet traffic');
    expect(other.backend_source).toBe('the daemon\'s own address (internet traffic, after NAT)');
    // The igw carries traffic to addresses no simulated service owns, but nothing answers there.
    const nowhere = decide(v, '10.0.2.5', '54.123.192.0');
    expect(nowhere.verdict).toBe('refuse');
    expect(nowhere.service).toBeNull();
    expect(nowhere.reason).toBe('no service listens on 54.123.192.0:443');
  });

  it('example 2: a user route 54.123.165.0/24 to the igw inside the prefix list 54.123.160.0/19 takes 54.123.165.x; the rest of the /19 uses the endpoint', () => {
    const v = view({ main: [LOCAL, igw('54.123.165.0/24'), S3_ROUTE] });

    for (const dst of ['54.123.165.0', '54.123.165.7', '54.123.165.255']) {
      const d = decide(v, '10.0.2.5', dst);
      expect(d.target_type, dst).toBe('igw');
      expect(d.verdict, dst).toBe('relay');
      expect(d.winner, dst).toEqual({
        destination: '54.123.165.0/24', matched: '54.123.165.0/24', type: 'igw', nexthop: 'igw-1a2b3c4d', owner: 'user',
        why: 'longest prefix /24, more specific than /19',
      });
      expect(d.candidates, dst).toEqual([
        { destination: '54.123.165.0/24', matched: '54.123.165.0/24', type: 'igw', nexthop: 'igw-1a2b3c4d', owner: 'user' },
        { destination: 'pl-1a2b3c4d', matched: '54.123.160.0/19', type: 'gateway_endpoint', nexthop: 'vpce-11bb22cc', owner: 'endpoint' },
      ]);
      expect(d.endpoint, dst).toBeNull();
      expect(d.backend_source, dst).toBe('the daemon\'s own address (internet traffic, after NAT)');
    }
    for (const dst of ['54.123.160.0', '54.123.164.255', '54.123.166.0', '54.123.191.255']) {
      const d = decide(v, '10.0.2.5', dst);
      expect(d.target_type, dst).toBe('gateway_endpoint');
      expect(d.verdict, dst).toBe('relay');
      expect(d.winner?.why, dst).toBe('longest prefix /19');
      expect(d.candidates, dst).toEqual([
        { destination: 'pl-1a2b3c4d', matched: '54.123.160.0/19', type: 'gateway_endpoint', nexthop: 'vpce-11bb22cc', owner: 'endpoint' },
      ]);
    }
    // Outside the /19 and the /24: no route at all (this table has no default route).
    const out = decide(v, '10.0.2.5', '54.123.192.1');
    expect(out.target_type).toBe('none');
    expect(out.verdict).toBe('refuse');
    expect(out.candidates).toEqual([]);
    expect(out.winner).toBeNull();
  });

  it('example 2, continued: deleting the /24 igw route sends all of the /19 through the endpoint', () => {
    const d = decide({ main: [LOCAL, S3_ROUTE] }, '10.0.2.5', '54.123.165.7');
    expect(d.target_type).toBe('gateway_endpoint');
    expect(d.verdict).toBe('relay');
  });
});

describe('explain: longest prefix match', () => {
  it('a more specific user route wins over the prefix list (igw and blackhole alike)', () => {
    const viaIgw = decide({ main: [LOCAL, S3_ROUTE, igw('54.123.170.9/32')] }, '10.0.2.5', '54.123.170.9');
    expect(viaIgw.target_type).toBe('igw');
    expect(viaIgw.winner?.why).toBe('longest prefix /32, more specific than /19');

    const dropped = decide({ main: [LOCAL, S3_ROUTE, blackhole('54.123.170.0/23')] }, '10.0.2.5', '54.123.171.1');
    expect(dropped.target_type).toBe('blackhole');
    expect(dropped.verdict).toBe('refuse');
    expect(dropped.reason).toBe('blackhole route 54.123.170.0/23');
    expect(dropped.winner?.why).toBe('longest prefix /23, more specific than /19');
    // ... and only inside its own prefix
    expect(decide({ main: [LOCAL, S3_ROUTE, blackhole('54.123.170.0/23')] }, '10.0.2.5', '54.123.172.1').target_type).toBe('gateway_endpoint');
  });

  it('a less specific user route loses to the prefix list', () => {
    const d = decide({ main: [LOCAL, blackhole('54.0.0.0/8'), S3_ROUTE] }, '10.0.2.5', '54.123.161.1');
    expect(d.target_type).toBe('gateway_endpoint');
    expect(d.verdict).toBe('relay');
    expect(d.winner?.why).toBe('longest prefix /19, more specific than /8');
    expect(d.candidates.map((c) => c.matched)).toEqual(['54.123.160.0/19', '54.0.0.0/8']);
  });

  it('a user route with an identical prefix wins over the endpoint route, whatever the order of the routes', () => {
    for (const routes of [[LOCAL, S3_ROUTE, igw('54.123.160.0/19')], [LOCAL, igw('54.123.160.0/19'), S3_ROUTE]]) {
      const d = decide({ main: routes }, '10.0.2.5', '54.123.161.1');
      expect(d.target_type).toBe('igw');
      expect(d.verdict).toBe('relay');
      expect(d.winner).toEqual({
        destination: '54.123.160.0/19', matched: '54.123.160.0/19', type: 'igw', nexthop: 'igw-1a2b3c4d', owner: 'user',
        why: expect.stringMatching(/^longest prefix \/19 \(identical prefix: a user route wins over an? endpoint route\)$/),
      });
      expect(d.candidates).toEqual([
        { destination: '54.123.160.0/19', matched: '54.123.160.0/19', type: 'igw', nexthop: 'igw-1a2b3c4d', owner: 'user' },
        { destination: 'pl-1a2b3c4d', matched: '54.123.160.0/19', type: 'gateway_endpoint', nexthop: 'vpce-11bb22cc', owner: 'endpoint' },
      ]);
    }
    // A blackhole at the identical prefix wins too; so does a route from the config file.
    expect(decide({ main: [LOCAL, S3_ROUTE, blackhole('54.123.160.0/19')] }, '10.0.2.5', '54.123.161.1').target_type).toBe('blackhole');
    const cfg = decide({ main: [LOCAL, S3_ROUTE, blackhole('54.123.160.0/19', 'config')] }, '10.0.2.5', '54.123.161.1');
    expect(cfg.target_type).toBe('blackhole');
    expect(cfg.winner?.owner).toBe('config');
  });

  it('the identical-prefix tie and a shorter route together: why names both', () => {
    const d = decide({ main: [LOCAL, igw('0.0.0.0/0'), S3_ROUTE, blackhole('54.123.160.0/19')] }, '10.0.2.5', '54.123.161.1');
    expect(d.target_type).toBe('blackhole');
    expect(d.winner?.why).toMatch(/^longest prefix \/19 \(identical prefix: a user route wins over an? endpoint route\), more specific than \/0$/);
    expect(d.candidates.map((c) => `${c.owner}:${c.matched}`)).toEqual(['user:54.123.160.0/19', 'endpoint:54.123.160.0/19', 'user:0.0.0.0/0']);
  });

  it('a prefix list of several CIDRs routes every one of them', () => {
    const pl: Route = { destination: 'pl-other', type: 'gateway_endpoint', nexthop: 'vpce-o', owner: 'endpoint' };
    const ep: GatewayEndpointRouting = { id: 'vpce-o', serviceId: 'svc-other', status: 'accepted', policy: null, cap: 5, accountId: 'dom1', actionPrefix: 'other' };
    const v = view({ main: [LOCAL, pl], endpoints: [ep] });
    for (const dst of ['52.94.0.1', '52.95.0.254']) {
      const d = decide(v, '10.0.2.9', dst, 80);
      expect(d.target_type, dst).toBe('gateway_endpoint');
      expect(d.verdict, dst).toBe('relay');
      expect(d.service, dst).toEqual({ id: 'svc-other', name: 'sim-1.other', target: '127.0.0.1:9080' });
    }
    expect(decide(v, '10.0.2.9', '52.96.0.1', 80).target_type).toBe('none');
  });
});

describe('explain: tables, refusals and the decision record', () => {
  it('no route: verdict refuse, target none, no winner', () => {
    const d = decide({}, '10.0.2.5', '54.123.161.1');
    expect(d).toEqual({
      vpc_id: 'vpc-1', source_ip: '10.0.2.5', destination_ip: '54.123.161.1', destination_port: 443,
      subnet: { id: 'subnet-b', cidr: '10.0.2.0/24' },
      route_table: { id: 'rtb-main', chosen_by: 'VPC default' },
      candidates: [], winner: null, target_type: 'none',
      service: { id: 'svc-s3', name: 'sim-1.s3', target: '127.0.0.1:9443' },
      endpoint: null, policy: null, cap: null, backend_source: null, isolation: null,
      verdict: 'refuse', reason: 'no route to 54.123.161.1 in rtb-main',
    });
  });

  it('blackhole: refuse', () => {
    const d = decide({ main: [LOCAL, blackhole('0.0.0.0/0')] }, '10.0.2.5', '54.123.161.1');
    expect(d.target_type).toBe('blackhole');
    expect(d.verdict).toBe('refuse');
    expect(d.reason).toBe('blackhole route 0.0.0.0/0');
    expect(d.endpoint).toBeNull();
    expect(d.backend_source).toBeNull();
  });

  it('a subnet\'s associated table wins over the default table', () => {
    // rtb-a (subnet-a) has the endpoint route; rtb-main (subnet-b) has none.
    const v = view({ main: [LOCAL], a: [LOCAL, S3_ROUTE] });
    const a = decide(v, '10.0.1.50', '54.123.161.1');
    expect(a.subnet).toEqual({ id: 'subnet-a', cidr: '10.0.1.0/24' });
    expect(a.route_table).toEqual({ id: 'rtb-a', chosen_by: 'subnet association' });
    expect(a.target_type).toBe('gateway_endpoint');
    expect(a.verdict).toBe('relay');
    expect(a.backend_source).toBe('10.0.1.50 (host address 127.3.1.50)');
    const b = decide(v, '10.0.2.50', '54.123.161.1');
    expect(b.subnet).toEqual({ id: 'subnet-b', cidr: '10.0.2.0/24' });
    expect(b.route_table).toEqual({ id: 'rtb-main', chosen_by: 'VPC default' });
    expect(b.target_type).toBe('none');
    expect(b.verdict).toBe('refuse');
    // The other way round: the default table routes, the associated one does not.
    // Only the subnet's own table counts: the /19 of rtb-main does not beat the /8 of rtb-a for subnet-a.
    const w = view({ main: [LOCAL, S3_ROUTE], a: [LOCAL, blackhole('54.0.0.0/8')] });
    expect(decide(w, '10.0.2.50', '54.123.161.1').target_type).toBe('gateway_endpoint');
    const wa = decide(w, '10.0.1.50', '54.123.161.1');
    expect(wa.route_table).toEqual({ id: 'rtb-a', chosen_by: 'subnet association' });
    expect(wa.target_type).toBe('blackhole');
    expect(wa.candidates).toEqual([{ destination: '54.0.0.0/8', matched: '54.0.0.0/8', type: 'blackhole', owner: 'user' }]);
    // ... nor does the default table fill in when the associated table has no route at all.
    const n = view({ main: [LOCAL, igw('0.0.0.0/0')], a: [LOCAL] });
    expect(decide(n, '10.0.1.50', '54.123.161.1')).toMatchObject({ target_type: 'none', verdict: 'refuse', reason: 'no route to 54.123.161.1 in rtb-a' });
    expect(decide(n, '10.0.2.50', '54.123.161.1')).toMatchObject({ target_type: 'igw', verdict: 'relay' });
  });

  it('a destination inside the VPC takes the local route: refused (not a public service)', () => {
    const d = decide({ main: [LOCAL, igw('0.0.0.0/0')] }, '10.0.2.5', '10.0.1.7');
    expect(d.target_type).toBe('local');
    expect(d.verdict).toBe('refuse');
    expect(d.winner).toEqual({ destination: '10.0.0.0/16', matched: '10.0.0.0/16', type: 'local', owner: 'system', why: 'longest prefix /16, more specific than /0' });
  });

  it('a source in no subnet, or an unknown VPC: refuse with no table', () => {
    const v = view({ main: [LOCAL, S3_ROUTE] });
    const d = decide(v, '10.0.9.1', '54.123.161.1');
    expect(d.subnet).toBeNull();
    expect(d.route_table).toBeNull();
    expect(d.target_type).toBe('none');
    expect(d.verdict).toBe('refuse');
    expect(d.reason).toBe('10.0.9.1 is in no subnet of VPC vpc-1');
    const u = explain(v, { vpcId: 'vpc-nope', sourceIp: ipToInt('10.0.2.1'), destinationIp: ipToInt('54.123.161.1'), destinationPort: 443 }, () => 0);
    expect(u.verdict).toBe('refuse');
    expect(u.target_type).toBe('none');
    expect(u.reason).toBe('no VPC vpc-nope');
  });

  it('through the endpoint: a port the service does not have is refused', () => {
    const d = decide({ main: [LOCAL, S3_ROUTE] }, '10.0.2.5', '54.123.161.1', 80);
    expect(d.target_type).toBe('gateway_endpoint');
    expect(d.service).toBeNull();
    expect(d.verdict).toBe('refuse');
    expect(d.reason).toBe('no port 80 on the endpoint\'s service');
  });

  it('an endpoint route whose endpoint is gone, or not accepted: refuse', () => {
    expect(decide({ main: [LOCAL, S3_ROUTE], endpoints: [] }, '10.0.2.5', '54.123.161.1')).toMatchObject({
      target_type: 'gateway_endpoint', endpoint: null, verdict: 'refuse', reason: 'endpoint vpce-11bb22cc is gone',
    });
    expect(decide({ main: [LOCAL, S3_ROUTE], endpoints: [{ ...ENDPOINT, status: 'creating' }] }, '10.0.2.5', '54.123.161.1')).toMatchObject({
      target_type: 'gateway_endpoint', endpoint: { id: 'vpce-11bb22cc', status: 'creating' }, verdict: 'refuse', reason: 'endpoint vpce-11bb22cc is creating',
    });
  });

  it('the endpoint policy: an explicit Deny on the source refuses, the others pass', () => {
    const policy = validatePolicy([
      { Effect: 'Allow', Action: '*', Resource: '*' },
      { Effect: 'Deny', Action: '*', Resource: '*', Condition: { IpAddress: { 'vpcep:SourceIp': '10.0.1.50/32' } } },
    ], HUAWEI);
    const v = view({ a: [LOCAL, S3_ROUTE], endpoints: [{ ...ENDPOINT, policy }] });
    const denied = decide(v, '10.0.1.50', '54.123.161.1');
    expect(denied.target_type).toBe('gateway_endpoint');
    expect(denied.verdict).toBe('refuse');
    expect(denied.policy).toEqual({ allowed: false, statement: 1, reason: 'statement 1 (Deny) matches: source 10.0.1.50 in 10.0.1.50/32' });
    expect(denied.reason).toBe('policy: statement 1 (Deny) matches: source 10.0.1.50 in 10.0.1.50/32');
    const allowed = decide(v, '10.0.1.51', '54.123.161.1');
    expect(allowed.verdict).toBe('relay');
    expect(allowed.policy).toEqual({ allowed: true, statement: 0, reason: 'statement 0 (Allow) matches every connection' });
  });

  it('the policy sees the VPC and its account', () => {
    const policy = validatePolicy([{ Effect: 'Allow', Action: '*', Resource: '*', Condition: { StringEquals: { 'vpcep:SourceVpc': 'vpc-1', 'vpcep:PrincipalAccount': 'dom1' } } }], HUAWEI);
    expect(decide({ main: [LOCAL, S3_ROUTE], endpoints: [{ ...ENDPOINT, policy }] }, '10.0.2.5', '54.123.161.1').verdict).toBe('relay');
    const other = validatePolicy([{ Effect: 'Allow', Action: '*', Resource: '*', Condition: { StringEquals: { 'vpcep:PrincipalAccount': 'dom2' } } }], HUAWEI);
    const d = decide({ main: [LOCAL, S3_ROUTE], endpoints: [{ ...ENDPOINT, policy: other }] }, '10.0.2.5', '54.123.161.1');
    expect(d.verdict).toBe('refuse');
    expect(d.policy?.statement).toBeNull();
  });

  it('the cap: refused at the cap, relayed below it; headroom reported', () => {
    const v = view({ main: [LOCAL, S3_ROUTE] });
    const below = decide(v, '10.0.2.5', '54.123.161.1', 443, () => 9);
    expect(below.cap).toEqual({ active: 9, cap: 10, headroom: 1 });
    expect(below.verdict).toBe('relay');
    const at = decide(v, '10.0.2.5', '54.123.161.1', 443, (id) => (id === 'vpce-11bb22cc' ? 10 : 0));
    expect(at.cap).toEqual({ active: 10, cap: 10, headroom: 0 });
    expect(at.verdict).toBe('refuse');
    expect(at.reason).toBe('the endpoint holds its cap of 10 connections');
  });
});

// The agreement of the two route deciders (issue 16): src/model/routing.ts decide(), which the
// event loop's path calls for every connection to a public service, and the relay threads'
// decision from the routes compiled by src/dataplane/fast-routes.ts (native/relay.cc
// FastRouteDecision, through the addon's fastRouteDecide() test entry), on a table with every route
// target and every refusal a public listener can meet, and on every source address of a subnet
// whose endpoint policy allows some and denies others.
import { describe, expect, it } from 'vitest';
import { decide, indexRouting, ROUTE_REFUSALS, type RouteRefusal, type RouteTarget, type RoutingView } from '../../src/model/routing.js';
import type { PolicyStatement } from '../../src/model/policy.js';
import { cidrOf, ipToInt } from '../../src/net/cidr.js';
import { hostNumber, simulatedAddress } from '../../src/net/loopback.js';
import { compileRoutes, ROUTE_TARGETS } from '../../src/dataplane/fast-routes.js';
import { loadNativeRelay } from '../../src/dataplane/native-relay.js';

const relay = loadNativeRelay();
const inCi = process.env.CI === 'true';

const SERVICE_IP = ipToInt('100.125.0.10');
const PORT = 80;
const ALL: PolicyStatement = { Effect: 'Allow', Principal: '*', Action: ['*'], Resource: ['*'] };

/** the first half of subnet-a allowed, one address of it denied, and VPC 2 denied by a StringNotEquals */
const POLICY: PolicyStatement[] = [
  { ...ALL, Condition: { IpAddress: { 'vpcep:SourceIp': ['10.0.1.0/25', '10.0.1.192/28'] } } },
  { ...ALL, Effect: 'Deny', Condition: { IpAddress: { 'vpcep:SourceIp': ['10.0.1.7/32'] } } },
];

const local = (cidr: string) => ({ destination: cidr, type: 'local' as const, owner: 'system' as const });
const viaEndpoint = (id: string) => ({ destination: 'pl-obs', type: 'gateway_endpoint' as const, nexthop: id, owner: 'endpoint' as const });

/** VPC 1 (10.0.0.0/16): a subnet per route table; VPC 2 (100.125.0.0/16) holds the service's address in its local route */
const VIEW: RoutingView = {
  vpcs: [
    {
      id: 'vpc-1', number: 1, cidr: '10.0.0.0/16', domainId: 'acct-a',
      subnets: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((x, i) => ({ id: `subnet-${x}`, cidr: `10.0.${i + 1}.0/24`, zone: `z-${x}` })),
      tables: [
        { id: 'rtb-main', default: true, subnets: ['subnet-b'], routes: [local('10.0.0.0/16')] },
        { id: 'rtb-a', default: false, subnets: ['subnet-a'], routes: [local('10.0.0.0/16'), viaEndpoint('gwe-policy')] },
        { id: 'rtb-c', default: false, subnets: ['subnet-c'], routes: [local('10.0.0.0/16'), viaEndpoint('gwe-policy'), { destination: '100.125.0.0/24', type: 'blackhole', owner: 'user' }] },
        { id: 'rtb-d', default: false, subnets: ['subnet-d'], routes: [local('10.0.0.0/16'), { destination: '0.0.0.0/0', type: 'igw', owner: 'user' }] },
        { id: 'rtb-e', default: false, subnets: ['subnet-e'], routes: [local('10.0.0.0/16'), viaEndpoint('gwe-gone')] },
        { id: 'rtb-f', default: false, subnets: ['subnet-f'], routes: [local('10.0.0.0/16'), viaEndpoint('gwe-pending')] },
        { id: 'rtb-g', default: false, subnets: ['subnet-g'], routes: [local('10.0.0.0/16'), viaEndpoint('gwe-other')] },
        { id: 'rtb-h', default: false, subnets: ['subnet-h'], routes: [local('10.0.0.0/16'), viaEndpoint('gwe-open'), { destination: '0.0.0.0/0', type: 'igw', owner: 'user' }] },
      ],
    },
    {
      id: 'vpc-2', number: 2, cidr: '100.125.0.0/16', domainId: 'acct-b',
      subnets: [{ id: 'subnet-x', cidr: '100.125.0.0/16' }],
      tables: [{ id: 'rtb-x', default: true, subnets: [], routes: [local('100.125.0.0/16'), viaEndpoint('gwe-open')] }],
    },
  ],
  services: [
    { id: 'svc-obs', name: 'obs', prefixListId: 'pl-obs', prefixes: [cidrOf('100.125.0.0/16')], targets: [{ port: PORT, host: '127.0.0.1', hostPort: 9000 }] },
    { id: 'svc-dns', name: 'dns', prefixListId: 'pl-dns', prefixes: [cidrOf('100.126.0.0/16')], targets: [{ port: 53, host: '127.0.0.1', hostPort: 9053 }] },
  ],
  endpoints: [
    { id: 'gwe-policy', serviceId: 'svc-obs', status: 'accepted', policy: POLICY, cap: 5, accountId: 'acct-a', actionPrefix: 'obs' },
    { id: 'gwe-open', serviceId: 'svc-obs', status: 'accepted', policy: null, cap: 5, accountId: 'acct-a', actionPrefix: 'obs' },
    { id: 'gwe-pending', serviceId: 'svc-obs', status: 'pendingAcceptance', policy: null, cap: 5, accountId: 'acct-a', actionPrefix: 'obs' },
    { id: 'gwe-other', serviceId: 'svc-dns', status: 'accepted', policy: null, cap: 5, accountId: 'acct-a', actionPrefix: 'dns' },
  ],
};

interface Case {
  name: string;
  /** the client's host address (127.k.c.d: VPC k) */
  client: string;
  active?: number;
  target: RouteTarget;
  refusal: RouteRefusal | null;
}

const CASES: Case[] = [
  { name: 'gateway_endpoint: relayed through the endpoint (policy allows the source)', client: '127.1.1.5', target: 'gateway_endpoint', refusal: null },
  { name: 'policy: the source is outside the Allow', client: '127.1.1.130', target: 'gateway_endpoint', refusal: 'policy' },
  { name: 'policy: an explicit Deny of one allowed address', client: '127.1.1.7', target: 'gateway_endpoint', refusal: 'policy' },
  { name: 'policy: the second Allow range', client: '127.1.1.200', target: 'gateway_endpoint', refusal: null },
  { name: 'cap: 5 open of 5', client: '127.1.1.5', active: 5, target: 'gateway_endpoint', refusal: 'cap' },
  { name: 'cap: 4 open of 5 admits', client: '127.1.1.5', active: 4, target: 'gateway_endpoint', refusal: null },
  { name: 'policy before cap', client: '127.1.1.130', active: 5, target: 'gateway_endpoint', refusal: 'policy' },
  { name: 'no_route: the default table has only the local route', client: '127.1.2.9', target: 'none', refusal: 'no_route' },
  { name: 'blackhole: a longer blackhole prefix wins over the endpoint route', client: '127.1.3.9', target: 'blackhole', refusal: 'blackhole' },
  { name: 'igw: the internet gateway', client: '127.1.4.9', target: 'igw', refusal: null },
  { name: 'endpoint_gone: the route names an endpoint that is no more', client: '127.1.5.9', target: 'gateway_endpoint', refusal: 'endpoint_gone' },
  { name: 'not_accepted: the endpoint awaits acceptance', client: '127.1.6.9', target: 'gateway_endpoint', refusal: 'not_accepted' },
  { name: 'no_port: the endpoint is another service\'s', client: '127.1.7.9', target: 'gateway_endpoint', refusal: 'no_port' },
  { name: 'an endpoint route wins over igw (the longer prefix)', client: '127.1.8.9', target: 'gateway_endpoint', refusal: null },
  { name: 'no_subnet: the source is in no subnet of its VPC', client: '127.1.200.9', target: 'none', refusal: 'no_subnet' },
  { name: 'local: the VPC\'s own CIDR holds the service address', client: '127.2.3.4', target: 'local', refusal: 'local' },
  { name: 'a client outside every VPC reaches the service as internet traffic', client: '127.0.0.1', target: 'igw', refusal: null },
  { name: 'a VPC number no VPC has is outside every VPC', client: '127.9.0.1', target: 'igw', refusal: null },
];

const index = indexRouting(VIEW);
const compiled = compileRoutes(index, SERVICE_IP, PORT, { handle: 1, capLeft: 100 }, (id) => ({ handle: 2, capLeft: VIEW.endpoints.find((e) => e.id === id)!.cap }), 7)!;

/** what the event loop's path decides (GatewayPlane.accept: a client outside every VPC goes to the internet gateway) */
function decideTs(client: number, active: number): { target: RouteTarget; refusal: RouteRefusal | null; endpoint: string } {
  const vpc = index.vpcByNumber.get(hostNumber(client));
  if (vpc === undefined) return { target: 'igw', refusal: null, endpoint: '' };
  const d = decide(index, { vpcId: vpc.id, sourceIp: simulatedAddress(vpc.cidr.base, client & 0xffff), destinationIp: SERVICE_IP, destinationPort: PORT }, () => active);
  return { target: d.target, refusal: d.refusal, endpoint: d.target === 'igw' && d.refusal === null ? '' : d.endpoint?.status === 'accepted' ? d.endpoint.id : '-' };
}

/** what the threads decide, with the entry named as decideTs names it */
function decideNative(client: number, active: number): { target: RouteTarget; refusal: RouteRefusal | null; endpoint: string } {
  const n = relay!.fastRouteDecide(compiled.words, client, active);
  return { target: ROUTE_TARGETS[n.target]!, refusal: n.refusal < 0 ? null : ROUTE_REFUSALS[n.refusal]!, endpoint: n.entry < 0 ? '-' : compiled.entries[n.entry]! };
}

describe.skipIf(relay === null && !inCi)('the fast path: the threads route a public listener\'s clients as decide() does', () => {
  it('the addon is built (CI must build it)', () => {
    expect(relay).not.toBeNull();
  });

  it.each(CASES)('$name', (c) => {
    const client = ipToInt(c.client);
    const ts = decideTs(client, c.active ?? 0);
    expect({ target: ts.target, refusal: ts.refusal }, 'the table says what decide() decides').toEqual({ target: c.target, refusal: c.refusal });
    expect(decideNative(client, c.active ?? 0)).toEqual(ts);
  });

  it('every route target and every refusal a public listener can meet is in the table (no_vpc and no_service cannot: the listener exists for a service, the VPC is found by its number)', () => {
    expect(new Set(CASES.map((c) => c.target))).toEqual(new Set(ROUTE_TARGETS));
    const met = new Set(CASES.map((c) => c.refusal).filter((r) => r !== null));
    expect(ROUTE_REFUSALS.filter((r) => !met.has(r))).toEqual(['no_vpc', 'no_service']);
    // an address no service serves at that port has no listener: nothing compiled
    expect(compileRoutes(index, ipToInt('100.125.0.10'), 81, { handle: 1, capLeft: 1 }, () => ({ handle: 2, capLeft: 1 }), 1)).toBeNull();
  });

  it('every source address of a subnet whose policy allows some: the same verdict, address by address', () => {
    const verdicts = new Map<string, number>();
    for (let x = 0; x < 256; x++) {
      const client = ipToInt(`127.1.1.${x}`);
      const ts = decideTs(client, 0);
      expect(decideNative(client, 0), `127.1.1.${x}`).toEqual(ts);
      verdicts.set(String(ts.refusal), (verdicts.get(String(ts.refusal)) ?? 0) + 1);
    }
    // 10.0.1.0/25 less .7, and 10.0.1.192/28: 127 + 16 allowed, the rest refused by the policy
    expect(Object.fromEntries(verdicts)).toEqual({ null: 143, policy: 113 });
  });
});

describe('compiling the public listeners of one view', () => {
  it('works out a policy\'s allowed ranges once per subnet for every listener (a policy of a thousand CIDRs took seconds of the event loop when it ran again for each of 256 listeners); the words are the same', () => {
    const ranges = new Map<string, number[]>();
    const handles = (id: string) => ({ handle: 2, capLeft: VIEW.endpoints.find((e) => e.id === id)!.cap });
    const first = compileRoutes(index, SERVICE_IP, PORT, { handle: 1, capLeft: 100 }, handles, 7, ranges)!;
    expect(first.words).toEqual(compiled.words);
    const worked = ranges.size;
    expect(worked).toBeGreaterThan(0);
    // another address of the prefix list: the same subnets and endpoints, nothing worked out again
    const other = ipToInt('100.125.0.11');
    const second = compileRoutes(index, other, PORT, { handle: 1, capLeft: 100 }, handles, 7, ranges)!;
    expect(ranges.size).toBe(worked);
    expect(second.words).toEqual(compileRoutes(index, other, PORT, { handle: 1, capLeft: 100 }, handles, 7)!.words);
  });
});

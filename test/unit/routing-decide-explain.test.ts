// decide() (the data path: integers in, a target or a refusal reason out, no text) and explain()
// (the path tracer: the same decision in words) cannot disagree: one table of cases, one per
// refusal reason plus the two relays, run through both. src/model/routing.ts.
import { describe, expect, it } from 'vitest';
import {
  indexRouting, decide, explain, routeRefusalReason, ROUTE_REFUSALS,
  type PublicServiceRouting, type RouteRefusal, type RouteTarget,
} from '../../src/model/routing.js';
import { validatePolicy } from '../../src/model/policy.js';
import type { RefusalReason } from '../../src/model/admission.js';
import type { Route } from '../../src/model/types.js';
import { cidrOf, ipToInt } from '../../src/net/cidr.js';

const LOCAL: Route = { destination: '10.0.0.0/16', type: 'local', owner: 'system' };
const S3_ROUTE: Route = { destination: 'pl-s3', type: 'gateway_endpoint', nexthop: 'vpce-s3', owner: 'endpoint' };
const S3: PublicServiceRouting = {
  id: 'svc-s3', name: 'sim-1.s3', prefixListId: 'pl-s3', prefixes: [cidrOf('54.123.160.0/19')],
  targets: [{ port: 443, host: '127.0.0.1', hostPort: 9443 }],
};
const OTHER: PublicServiceRouting = {
  id: 'svc-other', name: 'sim-1.other', prefixListId: 'pl-other', prefixes: [cidrOf('52.94.0.0/24')],
  targets: [{ port: 443, host: '127.0.0.1', hostPort: 9444 }],
};
const DENY_ALL = validatePolicy([{ Effect: 'Deny', Action: ['*'], Resource: ['*'] }, { Effect: 'Allow', Action: ['*'], Resource: ['*'] }], { requirePrincipal: false });

/** one VPC, a table per subnet: a, the S3 endpoint and the igw; b, a pending endpoint; c, one with a policy; d, one that is gone; e, no route */
function view() {
  const subnets = ['a', 'b', 'c', 'd', 'e'].map((x, n) => ({ id: `subnet-${x}`, cidr: `10.0.${n + 1}.0/24` }));
  return indexRouting({
    vpcs: [{
      id: 'vpc-1', number: 3, cidr: '10.0.0.0/16', domainId: 'dom1', subnets,
      tables: [
        { id: 'rtb-main', default: true, subnets: ['subnet-a'], routes: [LOCAL, S3_ROUTE, { destination: '0.0.0.0/0', type: 'igw', nexthop: 'igw-1', owner: 'user' }, { destination: '52.94.0.128/25', type: 'blackhole', owner: 'user' }] },
        { id: 'rtb-b', default: false, subnets: ['subnet-b'], routes: [LOCAL, { ...S3_ROUTE, nexthop: 'vpce-pending' }] },
        { id: 'rtb-c', default: false, subnets: ['subnet-c'], routes: [LOCAL, { ...S3_ROUTE, nexthop: 'vpce-policy' }] },
        { id: 'rtb-d', default: false, subnets: ['subnet-d'], routes: [LOCAL, { ...S3_ROUTE, nexthop: 'vpce-gone' }, { destination: '52.94.0.0/24', type: 'gateway_endpoint', nexthop: 'vpce-s3', owner: 'endpoint' }] },
        { id: 'rtb-e', default: false, subnets: ['subnet-e'], routes: [] },
      ],
    }],
    services: [S3, OTHER],
    endpoints: [
      { id: 'vpce-s3', serviceId: 'svc-s3', status: 'accepted', policy: null, cap: 2, accountId: 'dom1', actionPrefix: 's3' },
      { id: 'vpce-pending', serviceId: 'svc-s3', status: 'pendingAcceptance', policy: DENY_ALL, cap: 2, accountId: 'dom1', actionPrefix: 's3' },
      { id: 'vpce-policy', serviceId: 'svc-s3', status: 'accepted', policy: DENY_ALL, cap: 2, accountId: 'dom1', actionPrefix: 's3' },
    ],
  });
}

interface Case {
  readonly name: string;
  readonly vpc?: string;
  readonly src: string;
  readonly dst: string;
  readonly port?: number;
  readonly active?: number;
  readonly target: RouteTarget;
  readonly refusal: RouteRefusal | null;
  /** the reason the data plane counts it by */
  readonly counted: RefusalReason | null;
  readonly reason: string | RegExp;
}

const CASES: readonly Case[] = [
  { name: 'relayed through the endpoint', src: '10.0.1.5', dst: '54.123.170.9', target: 'gateway_endpoint', refusal: null, counted: null, reason: 'relayed through gateway endpoint vpce-s3' },
  { name: 'relayed to the internet', src: '10.0.1.5', dst: '52.94.0.7', target: 'igw', refusal: null, counted: null, reason: 'relayed as internet traffic' },
  { name: 'no such VPC', vpc: 'vpc-nope', src: '10.0.1.5', dst: '54.123.170.9', target: 'none', refusal: 'no_vpc', counted: 'not_accepted', reason: 'no VPC vpc-nope' },
  { name: 'a source in no subnet', src: '10.0.99.5', dst: '54.123.170.9', target: 'none', refusal: 'no_subnet', counted: 'not_accepted', reason: '10.0.99.5 is in no subnet of VPC vpc-1' },
  { name: 'no route', src: '10.0.5.5', dst: '54.123.170.9', target: 'none', refusal: 'no_route', counted: 'not_accepted', reason: 'no route to 54.123.170.9 in rtb-e' },
  { name: 'a blackhole route', src: '10.0.1.5', dst: '52.94.0.200', target: 'blackhole', refusal: 'blackhole', counted: 'not_accepted', reason: 'blackhole route 52.94.0.128/25' },
  { name: 'the local route', src: '10.0.1.5', dst: '10.0.2.9', target: 'local', refusal: 'local', counted: 'not_accepted', reason: '10.0.2.9 is inside the VPC (local route): not a public service' },
  { name: 'the igw to no service', src: '10.0.1.5', dst: '8.8.8.8', target: 'igw', refusal: 'no_service', counted: 'not_accepted', reason: 'no service listens on 8.8.8.8:443' },
  { name: 'the endpoint is gone', src: '10.0.4.5', dst: '54.123.170.9', target: 'gateway_endpoint', refusal: 'endpoint_gone', counted: 'not_accepted', reason: 'endpoint vpce-gone is gone' },
  { name: 'no such port on the endpoint\'s service', src: '10.0.1.5', dst: '54.123.170.9', port: 80, target: 'gateway_endpoint', refusal: 'no_port', counted: 'not_accepted', reason: 'no port 80 on the endpoint\'s service' },
  { name: 'another service behind the endpoint\'s route', src: '10.0.4.5', dst: '52.94.0.7', target: 'gateway_endpoint', refusal: 'no_port', counted: 'not_accepted', reason: 'no port 443 on the endpoint\'s service' },
  // its policy denies too: the status decides first, in the counter as in the words
  { name: 'the endpoint is not accepted', src: '10.0.2.5', dst: '54.123.170.9', target: 'gateway_endpoint', refusal: 'not_accepted', counted: 'not_accepted', reason: 'endpoint vpce-pending is pendingAcceptance' },
  { name: 'the policy denies', src: '10.0.3.5', dst: '54.123.170.9', target: 'gateway_endpoint', refusal: 'policy', counted: 'policy', reason: /^policy: statement 0 \(Deny\) matches/ },
  { name: 'the endpoint holds its cap', src: '10.0.1.5', dst: '54.123.170.9', active: 2, target: 'gateway_endpoint', refusal: 'cap', counted: 'cap', reason: 'the endpoint holds its cap of 2 connections' },
];

describe('decide() and explain() agree', () => {
  const v = view();
  it.each(CASES)('$name', (c) => {
    const input = { vpcId: c.vpc ?? 'vpc-1', sourceIp: ipToInt(c.src), destinationIp: ipToInt(c.dst), destinationPort: c.port ?? 443 };
    const active = () => c.active ?? 0;
    const o = decide(v, input, active);
    const d = explain(v, input, active);
    expect(o.target).toBe(c.target);
    expect(o.refusal).toBe(c.refusal);
    expect(routeRefusalReason(o)).toBe(c.counted);
    expect(d.target_type).toBe(o.target);
    expect(d.verdict).toBe(o.refusal === null ? 'relay' : 'refuse');
    expect(d.endpoint?.id ?? null).toBe(o.endpoint?.id ?? null);
    expect(d.service?.id ?? null).toBe(o.service?.id ?? null);
    expect(d.winner?.destination ?? null).toBe(o.route?.destination ?? null);
    expect(d.winner?.matched ?? null).toBe(o.route?.cidr.text ?? null);
    if (typeof c.reason === 'string') expect(d.reason).toBe(c.reason);
    else expect(d.reason).toMatch(c.reason);
    // the policy and the cap the tracer shows are the ones that decided
    if (o.refusal === 'policy') expect(d.policy?.allowed).toBe(false);
    if (o.refusal === 'cap') expect(d.cap?.headroom).toBe(0);
    if (o.refusal === null && o.target === 'gateway_endpoint') expect(d.cap!.headroom).toBeGreaterThan(0);
  });

  it('the table holds every refusal reason', () => {
    expect(new Set(CASES.map((c) => c.refusal).filter((r) => r !== null))).toEqual(new Set(ROUTE_REFUSALS));
  });

  it('decide() asks for the live count only when the cap decides', () => {
    const asked: string[] = [];
    const active = (id: string) => { asked.push(id); return 0; };
    decide(v, { vpcId: 'vpc-1', sourceIp: ipToInt('10.0.2.5'), destinationIp: ipToInt('54.123.170.9'), destinationPort: 443 }, active);
    decide(v, { vpcId: 'vpc-1', sourceIp: ipToInt('10.0.1.5'), destinationIp: ipToInt('52.94.0.7'), destinationPort: 443 }, active);
    expect(asked).toEqual([]);
    decide(v, { vpcId: 'vpc-1', sourceIp: ipToInt('10.0.1.5'), destinationIp: ipToInt('54.123.170.9'), destinationPort: 443 }, active);
    expect(asked).toEqual(['vpce-s3']);
  });
});

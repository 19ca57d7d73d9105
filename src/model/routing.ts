// Gateway endpoints route by the VPC's route tables (002_05e46307768ae273.txt "Routing for
// gateway endpoints"): the client's subnet picks its table (its association, else the VPC's
// default), the longest prefix that holds the destination wins, and at an identical prefix a
// user route wins over an endpoint route. `decideRoute` is the one function that decides: the
// data plane calls it for every connection to a public service, the path tracer calls it too, so
// the two cannot disagree.
import { cidrContains, cidrOf, intToIp, type Cidr } from '../net/cidr.js';
import { PrefixTable } from '../net/lpm.js';
import type { RouteTraceInput } from './path-trace.js';
import { evaluatePolicy, type PolicyStatement } from './policy.js';
import type { Route, RouteType } from './types.js';

export interface RouteEntry {
  /** a CIDR, or a prefix-list id for an endpoint route */
  readonly destination: string;
  /** the CIDR this entry matches (a prefix list yields one entry per CIDR) */
  readonly cidr: Cidr;
  readonly type: RouteType;
  readonly nexthop?: string;
  readonly owner: Route['owner'];
}

export interface TableRouting {
  readonly id: string;
  readonly default: boolean;
  readonly routes: readonly Route[];
  readonly lpm: PrefixTable<RouteEntry[]>;
}

export interface VpcRouting {
  readonly id: string;
  readonly number: number;
  readonly cidr: Cidr;
  /** the owning account's domain id: the principal of its connections */
  readonly domainId: string;
  /** zone: the subnet's (a routed connection's zone for the toxics' zone scope); null: not given */
  readonly subnets: ReadonlyArray<{ id: string; cidr: Cidr; tableId: string; associated: boolean; zone: string | null }>;
  readonly tables: ReadonlyMap<string, TableRouting>;
  readonly defaultTable: string;
}

export interface PublicServiceRouting {
  readonly id: string;
  readonly name: string;
  readonly prefixListId: string;
  readonly prefixes: readonly Cidr[];
  /** port -> the real server behind it */
  readonly targets: ReadonlyMap<number, { host: string; port: number }>;
}

export interface GatewayEndpointRouting {
  readonly id: string;
  readonly serviceId: string;
  readonly status: string;
  readonly policy: readonly PolicyStatement[] | null;
  readonly cap: number;
}

export interface RoutingView {
  readonly vpcs: ReadonlyMap<string, VpcRouting>;
  readonly vpcByNumber: ReadonlyMap<number, VpcRouting>;
  readonly services: readonly PublicServiceRouting[];
  readonly endpoints: ReadonlyMap<string, GatewayEndpointRouting>;
}

/** What one table's routes look like before prefix lists are expanded. */
export interface TableInput {
  readonly id: string;
  readonly default: boolean;
  readonly subnets: readonly string[];
  readonly routes: readonly Route[];
}

export interface RoutingInput {
  readonly vpcs: ReadonlyArray<{
    id: string; number: number; cidr: string; domainId: string;
    subnets: ReadonlyArray<{ id: string; cidr: string; zone?: string }>;
    tables: readonly TableInput[];
  }>;
  readonly services: readonly PublicServiceRouting[];
  readonly endpoints: readonly GatewayEndpointRouting[];
}

const OWNER_RANK: Record<Route['owner'], number> = { system: 0, config: 1, user: 1, endpoint: 2 };

export function buildRoutingView(input: RoutingInput): RoutingView {
  const prefixLists = new Map(input.services.map((s) => [s.prefixListId, s.prefixes]));
  const vpcs = new Map<string, VpcRouting>();
  for (const v of input.vpcs) {
    const tables = new Map<string, TableRouting>();
    for (const t of v.tables) {
      const lpm = new PrefixTable<RouteEntry[]>();
      for (const r of t.routes) {
        const cidrs = prefixLists.get(r.destination) ?? [cidrOf(r.destination)];
        for (const cidr of cidrs) {
          const list = lpm.get(cidr) ?? [];
          list.push({ destination: r.destination, cidr, type: r.type, nexthop: r.nexthop, owner: r.owner });
          // At an identical prefix: local first, then user routes, then endpoint routes.
          list.sort((a, b) => OWNER_RANK[a.owner] - OWNER_RANK[b.owner]);
          lpm.set(cidr, list);
        }
      }
      tables.set(t.id, { id: t.id, default: t.default, routes: t.routes, lpm });
    }
    const defaultTable = v.tables.find((t) => t.default)!.id;
    const associated = (subnet: string) => v.tables.find((t) => t.subnets.includes(subnet))?.id;
    vpcs.set(v.id, {
      id: v.id, number: v.number, cidr: cidrOf(v.cidr), domainId: v.domainId,
      subnets: v.subnets.map((s) => ({ id: s.id, cidr: cidrOf(s.cidr), tableId: associated(s.id) ?? defaultTable, associated: associated(s.id) !== undefined, zone: s.zone ?? null })),
      tables, defaultTable,
    });
  }
  return {
    vpcs,
    vpcByNumber: new Map([...vpcs.values()].map((v) => [v.number, v])),
    services: input.services,
    endpoints: new Map(input.endpoints.map((e) => [e.id, e])),
  };
}

export type RouteTarget = 'gateway_endpoint' | 'igw' | 'local' | 'blackhole' | 'none';

export interface RouteDecision {
  readonly vpc_id: string;
  readonly source_ip: string;
  readonly destination_ip: string;
  readonly destination_port: number;
  readonly subnet: { id: string; cidr: string } | null;
  readonly route_table: { id: string; chosen_by: 'subnet association' | 'VPC default' } | null;
  /** every route whose destination holds the address, the winner first */
  readonly candidates: ReadonlyArray<{ destination: string; matched: string; type: RouteType; nexthop?: string; owner: string }>;
  readonly winner: { destination: string; matched: string; type: RouteType; nexthop?: string; owner: string; why: string } | null;
  readonly target_type: RouteTarget;
  /** the public service that owns the destination address and port, if any */
  readonly service: { id: string; name: string; target: string } | null;
  readonly endpoint: { id: string; status: string } | null;
  readonly policy: { allowed: boolean; statement: number | null; reason: string } | null;
  readonly cap: { active: number; cap: number; headroom: number } | null;
  /** what the backend sees as the source: the client's private address through an endpoint */
  readonly backend_source: string | null;
  /** the VPC isolation rule, when it decided (interface endpoints, on-premises clients) */
  readonly isolation: { allowed: boolean; rule: string } | null;
  readonly verdict: 'relay' | 'refuse';
  readonly reason: string;
}

export interface DecideInput {
  readonly vpcId: string;
  readonly sourceIp: number;
  readonly destinationIp: number;
  readonly destinationPort: number;
}

/** the public service that serves an address and port, or null */
export function serviceAt(view: RoutingView, ip: number, port: number): PublicServiceRouting | null {
  for (const s of view.services) {
    if (s.targets.has(port) && s.prefixes.some((c) => cidrContains(c, ip))) return s;
  }
  return null;
}

/**
 * Decides one connection: which route carries it and whether it is relayed. `active` tells the
 * live connection count of an endpoint (the cap's headroom).
 */
export function decideRoute(view: RoutingView, input: DecideInput, active: (endpointId: string) => number): RouteDecision {
  const base = {
    vpc_id: input.vpcId,
    source_ip: intToIp(input.sourceIp),
    destination_ip: intToIp(input.destinationIp),
    destination_port: input.destinationPort,
    isolation: null,
  };
  const service = serviceAt(view, input.destinationIp, input.destinationPort);
  const serviceInfo = service ? { id: service.id, name: service.name, target: targetText(service, input.destinationPort) } : null;
  const empty = { candidates: [], winner: null, endpoint: null, policy: null, cap: null, backend_source: null, service: serviceInfo };
  const vpc = view.vpcs.get(input.vpcId);
  if (!vpc) {
    return { ...base, ...empty, subnet: null, route_table: null, target_type: 'none', verdict: 'refuse', reason: `no VPC ${input.vpcId}` };
  }
  const subnet = vpc.subnets.find((s) => cidrContains(s.cidr, input.sourceIp));
  if (!subnet) {
    return { ...base, ...empty, subnet: null, route_table: null, target_type: 'none', verdict: 'refuse', reason: `${base.source_ip} is in no subnet of VPC ${vpc.id}` };
  }
  const table = vpc.tables.get(subnet.tableId)!;
  const routeTable = { id: table.id, chosen_by: subnet.associated ? 'subnet association' as const : 'VPC default' as const };
  const matches = table.lpm.matches(input.destinationIp);
  const candidates = matches.flatMap((m) => m.value.map((r) => ({
    destination: r.destination, matched: r.cidr.text, type: r.type, owner: r.owner, ...(r.nexthop ? { nexthop: r.nexthop } : {}),
  })));
  const common = { ...base, subnet: { id: subnet.id, cidr: subnet.cidr.text }, route_table: routeTable, candidates, service: serviceInfo };
  const best = matches[0]?.value[0];
  if (!best) {
    return { ...common, winner: null, target_type: 'none', endpoint: null, policy: null, cap: null, backend_source: null, verdict: 'refuse', reason: `no route to ${base.destination_ip} in ${table.id}` };
  }
  const tied = matches[0]!.value.length > 1;
  const article = (owner: string) => (owner === 'endpoint' ? 'an' : 'a');
  const why = `longest prefix /${best.cidr.prefix}${tied ? ` (identical prefix: ${article(best.owner)} ${best.owner} route wins over ${matches[0]!.value.slice(1).map((r) => `${article(r.owner)} ${r.owner} route`).join(', ')})` : ''}${matches.length > 1 ? `, more specific than ${matches.slice(1).map((m) => `/${m.prefix}`).join(', ')}` : ''}`;
  const winner = { destination: best.destination, matched: best.cidr.text, type: best.type, owner: best.owner, why, ...(best.nexthop ? { nexthop: best.nexthop } : {}) };
  const decided = { ...common, winner };
  switch (best.type) {
    case 'blackhole':
      return { ...decided, target_type: 'blackhole', endpoint: null, policy: null, cap: null, backend_source: null, verdict: 'refuse', reason: `blackhole route ${best.destination}` };
    case 'local':
      return { ...decided, target_type: 'local', endpoint: null, policy: null, cap: null, backend_source: null, verdict: 'refuse', reason: `${base.destination_ip} is inside the VPC (local route): not a public service` };
    case 'igw':
      if (!service) return { ...decided, target_type: 'igw', endpoint: null, policy: null, cap: null, backend_source: null, verdict: 'refuse', reason: `no service listens on ${base.destination_ip}:${input.destinationPort}` };
      return { ...decided, target_type: 'igw', endpoint: null, policy: null, cap: null, backend_source: 'the daemon\'s own address (internet traffic, after NAT)', verdict: 'relay', reason: 'relayed as internet traffic' };
    case 'gateway_endpoint':
      break;
  }
  const ep = best.nexthop ? view.endpoints.get(best.nexthop) : undefined;
  if (!ep) {
    return { ...decided, target_type: 'gateway_endpoint', endpoint: null, policy: null, cap: null, backend_source: null, verdict: 'refuse', reason: `endpoint ${best.nexthop} is gone` };
  }
  const endpoint = { id: ep.id, status: ep.status };
  if (!service || service.id !== ep.serviceId) {
    return { ...decided, target_type: 'gateway_endpoint', endpoint, policy: null, cap: null, backend_source: null, verdict: 'refuse', reason: `no port ${input.destinationPort} on the endpoint's service` };
  }
  const policy = ep.policy
    ? evaluatePolicy(ep.policy, { sourceIp: input.sourceIp, sourceVpc: vpc.id, principalAccount: vpc.domainId })
    : { allowed: true, decidedBy: null, reason: 'no policy: the default policy allows all' };
  const policyInfo = { allowed: policy.allowed, statement: policy.decidedBy, reason: policy.reason };
  const n = active(ep.id);
  const cap = { active: n, cap: ep.cap, headroom: Math.max(0, ep.cap - n) };
  const backendSource = hostSource(vpc, input.sourceIp);
  const at = { ...decided, target_type: 'gateway_endpoint' as const, endpoint, policy: policyInfo, cap, backend_source: backendSource };
  if (ep.status !== 'accepted') return { ...at, verdict: 'refuse', reason: `endpoint ${ep.id} is ${ep.status}` };
  if (!policy.allowed) return { ...at, verdict: 'refuse', reason: `policy: ${policy.reason}` };
  if (cap.headroom === 0) return { ...at, verdict: 'refuse', reason: `the endpoint holds its cap of ${ep.cap} connections` };
  return { ...at, verdict: 'relay', reason: `relayed through gateway endpoint ${ep.id}` };
}

function targetText(s: PublicServiceRouting, port: number): string {
  const t = s.targets.get(port)!;
  return `${t.host}:${t.port}`;
}

/** the client's private address, as the backend sees it through a gateway endpoint */
function hostSource(vpc: VpcRouting, ip: number): string {
  return `${intToIp(ip)} (host address 127.${vpc.number}.${(ip >>> 8) & 255}.${ip & 255})`;
}

const NOTHING_ROUTED = { subnet: null, route_table: null, candidates: [], winner: null, policy: null } as const;

/**
 * A client outside every VPC to a public address: gateway endpoints serve their VPC's route tables
 * only, so it reaches a public service as internet traffic (as the data plane relays it).
 */
export function decideOnPremisesToPublic(view: RoutingView, input: Omit<DecideInput, 'vpcId'>): RouteTraceInput {
  const service = serviceAt(view, input.destinationIp, input.destinationPort);
  const base = {
    vpc_id: null, source_ip: intToIp(input.sourceIp), destination_ip: intToIp(input.destinationIp), destination_port: input.destinationPort,
    ...NOTHING_ROUTED, endpoint: null, cap: null, isolation: null,
  };
  if (!service) return { ...base, target_type: 'none', service: null, backend_source: null, verdict: 'refuse', reason: `no service listens on ${base.destination_ip}:${input.destinationPort}` };
  return {
    ...base, target_type: 'igw', service: { id: service.id, name: service.name, target: targetText(service, input.destinationPort) },
    backend_source: 'the daemon\'s own address (internet traffic, after NAT)', verdict: 'relay',
    reason: 'an on-premises client (outside every VPC) reaches a public service as internet traffic',
  };
}

// Gateway endpoints route by the VPC's route tables (002_05e46307768ae273.txt "Routing for
// gateway endpoints"): the client's subnet picks its table (its association, else the VPC's
// default), the longest prefix that holds the destination wins, and at an identical prefix a
// user route wins over an endpoint route. `decide` is the one function that decides: the data
// plane calls it for every connection to a public service (integers in, no text built); the path
// tracer calls `explain`, which words decide()'s outcome, so the two cannot disagree.
// The control plane hands the data plane a RoutingView: plain data (no Map, class or function, so
// that it survives structuredClone and JSON, as a fleet node would receive it from the store); each
// side indexes it once per view (indexRouting: prefix tables, maps, compiled policies) to decide by.
import { cidrContains, cidrOf, intToIp, type Cidr } from '../net/cidr.js';
import { PrefixTable } from '../net/lpm.js';
import type { RouteTraceInput } from './path-trace.js';
import type { RefusalReason } from './admission.js';
import { compilePolicy, evaluatePolicy, policyVerdict, type CompiledPolicy, type PolicyStatement, type PolicyVerdict } from './policy.js';
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

/** a port of a public service and the real server behind it */
export interface PublicTarget {
  readonly port: number;
  readonly host: string;
  readonly hostPort: number;
}

export interface PublicServiceRouting {
  readonly id: string;
  readonly name: string;
  readonly prefixListId: string;
  readonly prefixes: readonly Cidr[];
  readonly targets: readonly PublicTarget[];
}

/** a public service indexed: port -> the real server behind it */
export interface PublicServiceIndex extends PublicServiceRouting {
  readonly byPort: ReadonlyMap<number, { readonly host: string; readonly port: number }>;
}

export interface GatewayEndpointRouting {
  readonly id: string;
  readonly serviceId: string;
  readonly status: string;
  readonly policy: readonly PolicyStatement[] | null;
  readonly cap: number;
  /** its owner's account id (domain_id): its flow log records' account-id */
  readonly accountId: string;
  /** its service's action prefix (`s3`, `obs`: the public service's name): statements of other services' actions apply to none of its connections */
  readonly actionPrefix: string;
}

/** a gateway endpoint indexed: its policy compiled once per view (policyVerdict per connection) */
export interface GatewayEndpointIndex extends GatewayEndpointRouting {
  readonly compiledPolicy: CompiledPolicy | null;
}

/** a RoutingView indexed for decide(): made once per view (indexRouting), never sent */
export interface RoutingIndex {
  readonly vpcs: ReadonlyMap<string, VpcRouting>;
  readonly vpcByNumber: ReadonlyMap<number, VpcRouting>;
  readonly services: readonly PublicServiceIndex[];
  readonly endpoints: ReadonlyMap<string, GatewayEndpointIndex>;
}

/** What one table's routes look like before prefix lists are expanded. */
export interface TableInput {
  readonly id: string;
  readonly default: boolean;
  readonly subnets: readonly string[];
  readonly routes: readonly Route[];
}

/**
 * The routes, public services and gateway endpoints as plain data (arrays, records, numbers and
 * texts): what the control plane sends the data plane (ChangeEvent 'routing').
 */
export interface RoutingView {
  readonly vpcs: ReadonlyArray<{
    readonly id: string; readonly number: number; readonly cidr: string; readonly domainId: string;
    readonly subnets: ReadonlyArray<{ readonly id: string; readonly cidr: string; readonly zone?: string }>;
    readonly tables: readonly TableInput[];
  }>;
  readonly services: readonly PublicServiceRouting[];
  readonly endpoints: readonly GatewayEndpointRouting[];
}

/** what indexRouting() takes: the plain view */
export type RoutingInput = RoutingView;

const OWNER_RANK: Record<Route['owner'], number> = { system: 0, config: 1, user: 1, endpoint: 2 };

/** indexes a plain view for decide() and explain(): prefix tables per route table, maps, compiled policies */
export function indexRouting(input: RoutingView): RoutingIndex {
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
    services: input.services.map((s) => ({ ...s, byPort: new Map(s.targets.map((t) => [t.port, { host: t.host, port: t.hostPort }])) })),
    endpoints: new Map(input.endpoints.map((e) => [e.id, { ...e, compiledPolicy: e.policy === null ? null : compilePolicy(e.policy, e.actionPrefix) }])),
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
export function serviceAt(view: RoutingIndex, ip: number, port: number): PublicServiceIndex | null {
  for (const s of view.services) {
    if (s.byPort.has(port) && s.prefixes.some((c) => cidrContains(c, ip))) return s;
  }
  return null;
}

/**
 * Why decide() refuses a connection, one value per refusal; explain() words each one. The order of
 * the checks: the client's VPC and subnet, the route, then (a gateway endpoint route) the
 * endpoint, the service's port, the endpoint's status, its policy and its cap.
 */
export type RouteRefusal =
  | 'no_vpc' | 'no_subnet' | 'no_route' | 'blackhole' | 'local' | 'no_service'
  | 'endpoint_gone' | 'no_port' | 'not_accepted' | 'policy' | 'cap';

export const ROUTE_REFUSALS: readonly RouteRefusal[] = [
  'no_vpc', 'no_subnet', 'no_route', 'blackhole', 'local', 'no_service', 'endpoint_gone', 'no_port', 'not_accepted', 'policy', 'cap',
];

/**
 * What decide() answers: the target and, when refused, the reason; with the objects of the view
 * it decided by (no text), which explain() words. `active` is the endpoint's live connection count
 * when the cap was checked, else -1.
 */
export interface RouteOutcome {
  readonly target: RouteTarget;
  readonly refusal: RouteRefusal | null;
  readonly vpc: VpcRouting | null;
  readonly subnet: VpcRouting['subnets'][number] | null;
  readonly table: TableRouting | null;
  /** the winning route (the longest prefix, then the owner's rank) */
  readonly route: RouteEntry | null;
  /** the public service that owns the destination address and port, if any */
  readonly service: PublicServiceIndex | null;
  readonly endpoint: GatewayEndpointIndex | null;
  /** the policy's verdict, no text (explain() words it with evaluatePolicy) */
  readonly policy: PolicyVerdict | null;
  readonly active: number;
}

function outcome(
  target: RouteTarget, refusal: RouteRefusal | null, vpc: VpcRouting | null, subnet: RouteOutcome['subnet'], table: TableRouting | null,
  route: RouteEntry | null, service: PublicServiceIndex | null, endpoint: GatewayEndpointIndex | null = null,
  policy: PolicyVerdict | null = null, active = -1,
): RouteOutcome {
  return { target, refusal, vpc, subnet, table, route, service, endpoint, policy, active };
}

/**
 * Decides one connection on the data path: which route carries it and whether it is relayed.
 * Integers in, no text built (explain() words the same outcome for the path tracer). `active`
 * tells the live connection count of an endpoint (the cap's headroom).
 */
export function decide(view: RoutingIndex, input: DecideInput, active: (endpointId: string) => number): RouteOutcome {
  const service = serviceAt(view, input.destinationIp, input.destinationPort);
  const vpc = view.vpcs.get(input.vpcId);
  if (vpc === undefined) return outcome('none', 'no_vpc', null, null, null, null, service);
  let subnet: RouteOutcome['subnet'] = null;
  for (const s of vpc.subnets) {
    if (cidrContains(s.cidr, input.sourceIp)) { subnet = s; break; }
  }
  if (subnet === null) return outcome('none', 'no_subnet', vpc, null, null, null, service);
  const table = vpc.tables.get(subnet.tableId)!;
  // the longest prefix holding the destination; at an identical prefix the entries are sorted by owner
  const best = table.lpm.lookup(input.destinationIp)?.value[0];
  if (best === undefined) return outcome('none', 'no_route', vpc, subnet, table, null, service);
  switch (best.type) {
    case 'blackhole': return outcome('blackhole', 'blackhole', vpc, subnet, table, best, service);
    case 'local': return outcome('local', 'local', vpc, subnet, table, best, service);
    case 'igw': return outcome('igw', service === null ? 'no_service' : null, vpc, subnet, table, best, service);
    case 'gateway_endpoint': break;
  }
  const ep = best.nexthop === undefined ? undefined : view.endpoints.get(best.nexthop);
  if (ep === undefined) return outcome('gateway_endpoint', 'endpoint_gone', vpc, subnet, table, best, service);
  if (service === null || service.id !== ep.serviceId) return outcome('gateway_endpoint', 'no_port', vpc, subnet, table, best, service, ep);
  if (ep.status !== 'accepted') return outcome('gateway_endpoint', 'not_accepted', vpc, subnet, table, best, service, ep);
  const policy = ep.compiledPolicy === null ? null : policyVerdict(ep.compiledPolicy, { sourceIp: input.sourceIp, sourceVpc: vpc.id, principalAccount: vpc.domainId });
  if (policy !== null && !policy.allowed) return outcome('gateway_endpoint', 'policy', vpc, subnet, table, best, service, ep, policy);
  const n = active(ep.id);
  return outcome('gateway_endpoint', n >= ep.cap ? 'cap' : null, vpc, subnet, table, best, service, ep, policy, n);
}

/** the reason the data plane counts a refused route by (vpcep_endpoint_rejected_connections_total{reason}), or null when relayed */
export function routeRefusalReason(o: Pick<RouteOutcome, 'refusal'>): RefusalReason | null {
  switch (o.refusal) {
    case null: return null;
    case 'policy': return 'policy';
    case 'cap': return 'cap';
    default: return 'not_accepted';
  }
}

/**
 * The path tracer's record of one route decision: decide()'s outcome in words, with every route
 * that holds the destination. The verdict, target, endpoint and reason are decide()'s, so the
 * tracer and the data plane cannot disagree.
 */
export function explain(view: RoutingIndex, input: DecideInput, active: (endpointId: string) => number): RouteDecision {
  return explainOutcome(input, decide(view, input, active), active);
}

/** decide()'s outcome `o` for `input`, in words */
export function explainOutcome(input: DecideInput, o: RouteOutcome, active: (endpointId: string) => number): RouteDecision {
  const sourceIp = intToIp(input.sourceIp);
  const destinationIp = intToIp(input.destinationIp);
  const port = input.destinationPort;
  const service = o.service === null ? null : { id: o.service.id, name: o.service.name, target: targetText(o.service, port) };
  const { vpc, subnet, table, route: best } = o;
  const matches = table === null ? [] : table.lpm.matches(input.destinationIp);
  const candidates = matches.flatMap((m) => m.value.map((r) => ({
    destination: r.destination, matched: r.cidr.text, type: r.type, owner: r.owner, ...(r.nexthop ? { nexthop: r.nexthop } : {}),
  })));
  let winner: RouteDecision['winner'] = null;
  if (best !== null) {
    const tied = matches[0]!.value.length > 1;
    const article = (owner: string) => (owner === 'endpoint' ? 'an' : 'a');
    const why = `longest prefix /${best.cidr.prefix}${tied ? ` (identical prefix: ${article(best.owner)} ${best.owner} route wins over ${matches[0]!.value.slice(1).map((r) => `${article(r.owner)} ${r.owner} route`).join(', ')})` : ''}${matches.length > 1 ? `, more specific than ${matches.slice(1).map((m) => `/${m.prefix}`).join(', ')}` : ''}`;
    winner = { destination: best.destination, matched: best.cidr.text, type: best.type, owner: best.owner, why, ...(best.nexthop ? { nexthop: best.nexthop } : {}) };
  }
  const ep = o.endpoint;
  // Past the endpoint's service, the trace shows its policy and cap even when its status refused first.
  const reached = ep !== null && o.refusal !== 'no_port';
  let policy: RouteDecision['policy'] = null;
  let cap: RouteDecision['cap'] = null;
  if (reached && vpc !== null) {
    // the text is the tracer's: evaluatePolicy words the verdict decide() took (a unit test holds the two to agreement)
    const p = ep.policy ? evaluatePolicy(ep.policy, { sourceIp: input.sourceIp, sourceVpc: vpc.id, principalAccount: vpc.domainId }, ep.actionPrefix) : null;
    policy = p === null
      ? { allowed: true, statement: null, reason: 'no policy: the default policy allows all' }
      : { allowed: p.allowed, statement: p.decidedBy, reason: p.reason };
    const n = o.active >= 0 ? o.active : active(ep.id);
    cap = { active: n, cap: ep.cap, headroom: Math.max(0, ep.cap - n) };
  }
  let backendSource: string | null = null;
  if (o.target === 'igw' && o.refusal === null) backendSource = 'the daemon\'s own address (internet traffic, after NAT)';
  else if (reached && vpc !== null) backendSource = hostSource(vpc, input.sourceIp);
  return {
    vpc_id: input.vpcId,
    source_ip: sourceIp,
    destination_ip: destinationIp,
    destination_port: port,
    subnet: subnet === null ? null : { id: subnet.id, cidr: subnet.cidr.text },
    route_table: table === null ? null : { id: table.id, chosen_by: subnet!.associated ? 'subnet association' : 'VPC default' },
    candidates,
    winner,
    target_type: o.target,
    service,
    endpoint: ep === null ? null : { id: ep.id, status: ep.status },
    policy,
    cap,
    backend_source: backendSource,
    isolation: null,
    verdict: o.refusal === null ? 'relay' : 'refuse',
    reason: reasonText(input, o, policy),
  };
}

function reasonText(input: DecideInput, o: RouteOutcome, policy: RouteDecision['policy']): string {
  const ip = () => intToIp(input.destinationIp);
  switch (o.refusal) {
    case 'no_vpc': return `no VPC ${input.vpcId}`;
    case 'no_subnet': return `${intToIp(input.sourceIp)} is in no subnet of VPC ${o.vpc!.id}`;
    case 'no_route': return `no route to ${ip()} in ${o.table!.id}`;
    case 'blackhole': return `blackhole route ${o.route!.destination}`;
    case 'local': return `${ip()} is inside the VPC (local route): not a public service`;
    case 'no_service': return `no service listens on ${ip()}:${input.destinationPort}`;
    case 'endpoint_gone': return `endpoint ${o.route!.nexthop} is gone`;
    case 'no_port': return `no port ${input.destinationPort} on the endpoint's service`;
    case 'not_accepted': return `endpoint ${o.endpoint!.id} is ${o.endpoint!.status}`;
    case 'policy': return `policy: ${policy!.reason}`;
    case 'cap': return `the endpoint holds its cap of ${o.endpoint!.cap} connections`;
    case null: return o.target === 'igw' ? 'relayed as internet traffic' : `relayed through gateway endpoint ${o.endpoint!.id}`;
  }
}

function targetText(s: PublicServiceIndex, port: number): string {
  const t = s.byPort.get(port)!;
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
export function decideOnPremisesToPublic(view: RoutingIndex, input: Omit<DecideInput, 'vpcId'>): RouteTraceInput {
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

// Route tables as accounts read and change them and the gateway endpoints whose routes they
// carry. Every change reaches the data plane as a new routing view before the caller
// gets an answer.
import { DEFAULTS } from '../model/defaults.js';
import type { CreateEndpointCommand, SetChange } from '../model/commands.js';
import { DomainError } from '../model/errors.js';
import { validatePolicy, type PolicyOptions } from '../model/policy.js';
import { applySetChange, applyTags } from '../model/rules.js';
import { LIVE_ENDPOINT_STATUSES, type Account, type Endpoint, type EndpointService, type Vpc } from '../model/types.js';
import { routeClaim } from './claims.js';
import { checkRouteGateway } from './internet-gateways.js';
import { endpointParents } from './network.js';
import { changeUserRoutes, composeTable, endpointRoutes, tableOf, type RouteChange, type RouteTableView } from './route-tables.js';
import { now, type ControlState } from './state.js';
import { pushRouting } from './transitions.js';

export function routeTables(st: ControlState, caller: Account): RouteTableView[] {
  const byEndpoints = endpointRoutes(st.endpoints.values(), st.services);
  return [...st.vpcs.values()].filter((v) => v.account === caller.name).flatMap((v) => v.route_tables.map((t) =>
    composeTable(v, t, st.userRoutes.get(t.id) ?? [], byEndpoints.get(t.id) ?? [])));
}

export function routeTable(st: ControlState, caller: Account, id: string): RouteTableView {
  const t = routeTables(st, caller).find((x) => x.id === id);
  if (!t) throw new DomainError('RouteTableNotFound', `route table ${id} does not exist`);
  return t;
}

export async function updateRouteTable(st: ControlState, caller: Account, id: string, change: RouteChange): Promise<RouteTableView> {
  await st.serial(async () => {
    const table = routeTable(st, caller, id);
    const vpc = st.vpcs.get(table.vpc_id);
    for (const a of change.add ?? []) if (a.type === 'igw' && a.nexthop && vpc) checkRouteGateway(st, caller, vpc, id, a.nexthop);
    const next = changeUserRoutes(table, st.userRoutes.get(id) ?? [], change);
    await st.commit([{ kind: 'routetable', id, value: { id, routes: next } }], () => st.userRoutes.set(id, next));
  });
  // New connections follow the new routes once the data plane has the view: before we answer.
  await pushRouting(st);
  return routeTable(st, caller, id);
}

/** the route tables a gateway endpoint names: each a table of its VPC, none already routing to the service */
function checkRouteTables(st: ControlState, vpc: Vpc, serviceId: string, endpointId: string | null, tables: readonly string[]): string[] {
  const ids = [...new Set(tables)];
  const own = [...st.vpcs.values()].filter((v) => v.account === vpc.account);
  for (const id of ids) {
    if (!vpc.route_tables.some((t) => t.id === id)) {
      // Another account's table does not exist for the caller.
      if (tableOf(own, id)) throw new DomainError('InvalidRouteTable', `route table ${id} is not a table of VPC ${vpc.id}`);
      throw new DomainError('RouteTableNotFound', `route table ${id} does not exist`);
    }
    // 002_05e46307768ae273.txt: one route per service in a table, so one endpoint per service per table.
    // the endpoints of creates still landing too: two at once must not both take the table
    const other = [...st.endpointsLanding()].find((e) => e.id !== endpointId && e.service_id === serviceId
      && LIVE_ENDPOINT_STATUSES.has(e.status) && e.routetables.includes(id));
    if (other) throw new DomainError('RouteTableTaken', `route table ${id} already routes to this service through endpoint ${other.id}`);
    // an endpoint of another node (a fleet) holding the route, whose batch this node has not seen yet (its claim learnt from a conflict)
    const claim = st.claims.held.get(routeClaim(id, serviceId));
    if (claim && claim.holder !== `endpoint/${endpointId}`) throw new DomainError('RouteTableTaken', `route table ${id} already routes to this service through another endpoint`);
  }
  return ids;
}

/** the fields of an interface endpoint's ENI, as the refusals name them */
const ENI_FIELDS = { subnetId: 'subnet_id', ip: 'port_ip', whitelist: 'whitelist', whitelistEnabled: 'enable_whitelist', securityGroups: 'SecurityGroupId', zoneAffinity: 'zone_affinity' } as const;

/** 000_9af245a83013c30f.txt 4.2: a gateway endpoint has no ENI: fields of one are refused, on create and on update alike */
export function refuseEniFields<K extends keyof typeof ENI_FIELDS>(cmd: Partial<Record<K, unknown>>, fields: readonly K[]): void {
  for (const field of fields) {
    if (cmd[field] !== undefined) throw new DomainError('InvalidParameter', `${ENI_FIELDS[field]} applies to interface endpoints only: a gateway endpoint has no ENI`);
  }
}

/**
 * A gateway endpoint has no private domain name (its clients reach the service's public addresses
 * through their route tables): enable_dns true is refused, as AWS refuses PrivateDnsEnabled on a
 * Gateway endpoint; it showed dns_names no view answered.
 */
export function refusePrivateDns(dns: boolean | undefined): void {
  if (dns) throw new DomainError('InvalidParameter', 'enable_dns applies to interface endpoints only: a gateway endpoint has no private domain name');
}

/** 000_9af245a83013c30f.txt 4.2: a gateway endpoint has no ENI, only routes in route tables */
export async function newGatewayEndpoint(st: ControlState, caller: Account, s: EndpointService, vpc: Vpc, cmd: CreateEndpointCommand, policyOptions: PolicyOptions): Promise<Endpoint> {
  refuseEniFields(cmd, ['subnetId', 'ip', 'whitelist', 'whitelistEnabled', 'securityGroups', 'zoneAffinity']);
  refusePrivateDns(cmd.dns);
  // Without route tables, the route goes into the VPC's default table (Huawei), or nowhere (AWS).
  const byDefault = cmd.noDefaultRouteTable ? [] : [vpc.route_tables.find((t) => t.default)!.id];
  const wanted = cmd.routeTables?.length ? cmd.routeTables : byDefault;
  const routetables = checkRouteTables(st, vpc, s.id, null, wanted);
  const policy = cmd.policy === undefined ? null : validatePolicy(cmd.policy, policyOptions, cmd.policyDocument?.length);
  if (st.usage(caller).endpoint >= caller.quotas.endpoint) {
    throw new DomainError('QuotaExceeded', `quota exceeded: at most ${caller.quotas.endpoint} endpoints per account`);
  }
  const id = st.newEndpointId(cmd.id);
  const t = now();
  const e: Endpoint = {
    id, owner: caller.name, service_id: s.id, service_name: s.service_name, service_type: 'gateway',
    vpc_id: vpc.id, enis: [], subnet_id: null, ip: null, host_ip: null, snat_ip: null, marker_id: st.newMarkerId(),
    status: s.approval_enabled ? 'pendingAcceptance' : 'creating',
    enable_dns: false, whitelist: [], enable_whitelist: false, routetables, policy_statement: policy,
    ...(policy !== null && cmd.policyDocument !== undefined ? { policy_document: cmd.policyDocument } : {}),
    ...(cmd.clientToken ? { client_token: cmd.clientToken } : {}),
    description: cmd.description ?? '', tags: applyTags([], 'create', cmd.tags ?? [], DEFAULTS.limits.tagsPerResource),
    created_at: t, updated_at: t,
  };
  // its VPC's document holds the route tables: one deleted through another node meanwhile refuses it on the retry
  await st.commit([{ kind: 'endpoint', id, value: e }], () => st.endpoints.set(id, e), { requires: endpointParents(e) });
  return e;
}

/** TABLES: the endpoint's tables from now on, or tables added and removed (applied to its tables as they are then) */
export async function setEndpointRouteTables(st: ControlState, caller: Account, id: string, tables: readonly string[] | SetChange): Promise<Endpoint> {
  await st.serial(async () => {
    const e = st.ownEndpoint(caller, id);
    if (e.service_type !== 'gateway') throw new DomainError('InvalidParameter', 'routetables apply to gateway endpoints only');
    if (e.status === 'deleting') throw new DomainError('BeingDeleted', `endpoint ${id} is being deleted`);
    const wanted = 'add' in tables ? applySetChange(e.routetables, tables) : tables;
    const ids = checkRouteTables(st, st.vpcs.get(e.vpc_id)!, e.service_id, e.id, wanted);
    const next = { ...e, routetables: ids, updated_at: now() };
    await st.commit([{ kind: 'endpoint', id, value: next }], () => st.endpoints.set(id, next), { requires: endpointParents(next) });
  });
  await pushRouting(st);
  return st.endpoints.get(id)!;
}

/** POLICY (null: none); DOCUMENT: its whole document as written, kept to be shown back as given (the EC2 API's) */
export async function setEndpointPolicy(st: ControlState, caller: Account, id: string, policy: unknown, policyOptions: PolicyOptions, document?: string): Promise<Endpoint> {
  await st.serial(async () => {
    const e = st.ownEndpoint(caller, id);
    if (e.service_type !== 'gateway') throw new DomainError('InvalidParameter', 'policy_statement applies to gateway endpoints only');
    if (e.status === 'deleting') throw new DomainError('BeingDeleted', `endpoint ${id} is being deleted`);
    // null: no policy (everyone), what an endpoint created without one has
    const statements = policy === null ? null : validatePolicy(policy, policyOptions, document?.length);
    const { policy_document: _was, ...rest } = e;
    const next: Endpoint = { ...rest, policy_statement: statements, ...(statements !== null && document !== undefined ? { policy_document: document } : {}), updated_at: now() };
    await st.commit([{ kind: 'endpoint', id, value: next }], () => st.endpoints.set(id, next));
  });
  await pushRouting(st);
  return st.endpoints.get(id)!;
}

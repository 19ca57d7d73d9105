// The VPCs' route tables as the API shows and changes them: the local route (system), routes
// declared in the config, routes added through the API (user; kept in the store), and the routes
// gateway endpoints inject (derived from the endpoints, never stored twice). Builds the routing
// view the data plane and the path tracer decide by.
import { DomainError } from '../model/errors.js';
import { type GatewayEndpointRouting, type PublicServiceRouting, type RoutingView } from '../model/routing.js';
import type { Account, Endpoint, EndpointService, InternetGateway, Route, RouteTable, Vpc } from '../model/types.js';
import { zoneOfSubnet } from '../model/zones.js';
import { cidrCovers, cidrOf, parseCidr } from '../net/cidr.js';

/** A route table as the API shows it: its routes from every owner. */
export interface RouteTableView extends RouteTable {
  readonly vpc_id: string;
}

export interface RouteChange {
  readonly add?: ReadonlyArray<{ destination: string; type: string; nexthop?: string }>;
  readonly del?: ReadonlyArray<{ destination: string }>;
}

const MAX_USER_ROUTES = 200;

/** Endpoint routes: one per table a live gateway endpoint names, to its service's prefix list. */
export function endpointRoutes(endpoints: Iterable<Endpoint>, services: ReadonlyMap<string, EndpointService>): Map<string, Route[]> {
  const out = new Map<string, Route[]>();
  for (const e of endpoints) {
    if (e.service_type !== 'gateway' || (e.status !== 'creating' && e.status !== 'accepted')) continue;
    const pl = services.get(e.service_id)?.public?.prefix_list;
    if (!pl) continue;
    for (const t of e.routetables) {
      const list = out.get(t) ?? [];
      list.push({ destination: pl.id, type: 'gateway_endpoint', nexthop: e.id, owner: 'endpoint' });
      out.set(t, list);
    }
  }
  return out;
}

export function tableOf(vpcs: Iterable<Vpc>, id: string): { vpc: Vpc; table: RouteTable } | null {
  for (const vpc of vpcs) {
    const table = vpc.route_tables.find((t) => t.id === id);
    if (table) return { vpc, table };
  }
  return null;
}

/** every route of a table: system and config (inventory), user (API), endpoint (derived) */
export function composeTable(vpc: Vpc, table: RouteTable, user: readonly Route[], byEndpoints: readonly Route[]): RouteTableView {
  return { ...table, vpc_id: vpc.id, routes: [...table.routes, ...user, ...byEndpoints] };
}

/** Validates a route-table change against the table's routes; returns the new user routes. */
export function changeUserRoutes(table: RouteTableView, user: readonly Route[], change: RouteChange): Route[] {
  let next = [...user];
  for (const [i, d] of (change.del ?? []).entries()) {
    const cidr = parseCidr(d.destination, { strict: true });
    const text = cidr.ok ? cidr.cidr.text : d.destination;
    const found = table.routes.find((r) => r.destination === text);
    if (!found) throw new DomainError('RouteNotFound', `routes.del[${i}]: no route to ${d.destination} in ${table.id}`);
    // the local route in EC2's words, which Terraform's aws_route destroy matches to drop an imported one
    if (found.owner !== 'user') {
      throw new DomainError('RouteManaged', `routes.del[${i}]: ${found.owner === 'system' ? `cannot remove local route ${found.destination} in route table ${table.id}` : managedWhy(found)}`);
    }
    next = next.filter((r) => r.destination !== text);
  }
  for (const [i, a] of (change.add ?? []).entries()) {
    if (a.type !== 'igw' && a.type !== 'blackhole') {
      throw new DomainError(a.type === 'local' || a.type === 'gateway_endpoint' ? 'RouteManaged' : 'InvalidParameter',
        `routes.add[${i}].type: ${a.type === 'local' || a.type === 'gateway_endpoint' ? `${a.type} routes are managed by vpcep-sim` : 'must be igw or blackhole'}`);
    }
    const cidr = parseCidr(a.destination, { strict: true });
    if (!cidr.ok) throw new DomainError('InvalidParameter', `routes.add[${i}].destination: ${cidr.reason}`);
    const clash = [...table.routes.filter((r) => !user.includes(r)), ...next].find((r) => r.destination === cidr.cidr.text);
    if (clash) {
      throw new DomainError(clash.owner === 'user' ? 'RouteExists' : 'RouteManaged',
        `routes.add[${i}].destination: ${table.id} already has a route to ${cidr.cidr.text}${clash.owner === 'user' ? '' : ` (${managedWhy(clash)})`}`);
    }
    // inside the VPC, a route more specific than the local one may only lead to an interface or an
    // instance (EC2's rule), neither of which this API adds
    const local = table.routes.find((r) => r.type === 'local' && cidrCovers(cidrOf(r.destination), cidr.cidr));
    if (local) {
      throw new DomainError('InvalidParameter', `routes.add[${i}]: route target is not supported: ${cidr.cidr.text} lies inside the VPC's ${local.destination}, and such a route only supports interface and instance targets, not ${a.type}`);
    }
    next.push({ destination: cidr.cidr.text, type: a.type, ...(a.nexthop ? { nexthop: a.nexthop } : {}), owner: 'user' });
  }
  if (next.length > MAX_USER_ROUTES) throw new DomainError('InvalidParameter', `at most ${MAX_USER_ROUTES} user routes per table`);
  return next;
}

function managedWhy(r: Route): string {
  switch (r.owner) {
    case 'system': return `the local route ${r.destination} cannot be changed`;
    case 'config': return `the route to ${r.destination} is declared in the config file`;
    case 'endpoint': return `the route to ${r.destination} belongs to gateway endpoint ${r.nexthop}: change it through the endpoint`;
    default: return `the route to ${r.destination} is a user route`;
  }
}

export interface ViewInput {
  readonly vpcs: Iterable<Vpc>;
  readonly accounts: ReadonlyMap<string, Account>;
  readonly services: ReadonlyMap<string, EndpointService>;
  readonly endpoints: ReadonlyMap<string, Endpoint>;
  readonly userRoutes: ReadonlyMap<string, readonly Route[]>;
  readonly capOf: (owner: string) => number;
  /** the region's zones: a subnet without its own sits in the first */
  readonly zones: readonly string[];
  /** the internet gateways made through the EC2 API, by id */
  readonly internetGateways: ReadonlyMap<string, InternetGateway>;
}

/**
 * A route of a VPC made through the API to an internet gateway that is no longer attached to it
 * (detached, or deleted) leads nowhere: AWS shows it blackhole, and the data plane drops by it so.
 */
function withDetachedGateways(vpc: Vpc, routes: readonly Route[], gateways: ReadonlyMap<string, InternetGateway>): readonly Route[] {
  const detached = (r: Route) => gatewayDetached(vpc, r, gateways);
  return routes.some(detached) ? routes.map((r) => (detached(r) ? { ...r, type: 'blackhole' as const } : r)) : routes;
}

/** whether R, a route of VPC (one made through the API), leads to an internet gateway no longer attached to it, or gone */
export function gatewayDetached(vpc: Vpc | undefined, r: Route, gateways: ReadonlyMap<string, InternetGateway>): boolean {
  return vpc?.origin === 'api' && r.type === 'igw' && !!r.nexthop?.startsWith('igw-') && gateways.get(r.nexthop)?.vpc_id !== vpc.id;
}

/** a public service's action prefix: its name, the last label of `<region>.<name>` (`s3`, `obs`), lower case */
function actionPrefixOf(serviceName: string): string {
  return serviceName.slice(serviceName.lastIndexOf('.') + 1).toLowerCase();
}

export function routingView(i: ViewInput): RoutingView {
  const byEndpoints = endpointRoutes(i.endpoints.values(), i.services);
  const services: PublicServiceRouting[] = [];
  for (const s of i.services.values()) {
    const pl = s.public?.prefix_list;
    if (!pl || s.service_type !== 'gateway') continue;
    services.push({
      id: s.id, name: s.service_name, prefixListId: pl.id, prefixes: pl.cidrs.map(cidrOf),
      targets: s.public!.targets.map((t) => {
        const [host, port] = t.target.split(':');
        return { port: t.port, host: host!, hostPort: Number(port) };
      }),
    });
  }
  const endpoints: GatewayEndpointRouting[] = [];
  for (const e of i.endpoints.values()) {
    if (e.service_type !== 'gateway') continue;
    endpoints.push({
      id: e.id, serviceId: e.service_id, status: e.status, cap: i.capOf(e.owner), accountId: i.accounts.get(e.owner)?.domain_id ?? '',
      actionPrefix: actionPrefixOf(i.services.get(e.service_id)?.service_name ?? ''),
      policy: (e.policy_statement as GatewayEndpointRouting['policy']) ?? null,
    });
  }
  // plain data (the data plane indexes it: model/routing.ts indexRouting)
  return {
    vpcs: [...i.vpcs].map((v) => ({
      id: v.id, number: v.number, cidr: v.cidr, domainId: i.accounts.get(v.account)?.domain_id ?? '',
      subnets: v.subnets.map((s) => ({ id: s.id, cidr: s.cidr, zone: zoneOfSubnet(s, i.zones) })),
      tables: v.route_tables.map((t) => ({
        ...t, routes: [...t.routes, ...withDetachedGateways(v, i.userRoutes.get(t.id) ?? [], i.internetGateways), ...(byEndpoints.get(t.id) ?? [])],
      })),
    })),
    services,
    endpoints,
  };
}

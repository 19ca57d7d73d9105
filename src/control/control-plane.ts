// The control plane: applies API requests to the model, persists them, and tells the data plane.
// Mutations run one at a time (a promise queue), and each is written to the store as one atomic
// batch before the in-memory state changes and before the caller gets an answer.
import { randomInt, randomUUID } from 'node:crypto';
import { DEFAULTS } from '../model/defaults.js';
import { ApiError } from '../model/errors.js';
import type { ChangeEvent, DataPlane, LiveEndpoint } from '../model/events.js';
import type {
  CreateEndpointBody, CreateServiceBody, ListQuery, ModifyServiceBody, UpdateEndpointBody,
} from '../model/requests.js';
import { page } from '../model/requests.js';
import {
  allocatePrivateIp, applyTags, checkConnectionAction, fullServiceName, mayConnect, normaliseWhitelist,
  validatePermission,
} from '../model/rules.js';
import {
  LIVE_ENDPOINT_STATUSES, type Account, type Endpoint, type EndpointService, type Permission, type Tag, type Vpc,
} from '../model/types.js';
import { cidrOf, ipToInt } from '../net/cidr.js';
import { hostAddress } from '../net/loopback.js';
import { allocateSnatIp } from '../net/snat-pool.js';
import type { Change, Store } from '../store/store.js';
import { validatePolicy } from '../model/policy.js';
import { decideRoute, type RouteDecision, type RoutingView } from '../model/routing.js';
import type { Route } from '../model/types.js';
import { isIpv4 } from '../net/cidr.js';
import type { Inventory } from './inventory.js';
import { changeUserRoutes, composeTable, endpointRoutes, routingView, tableOf, type RouteChange, type RouteTableView } from './route-tables.js';

export interface ControlLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface ControlOptions {
  readonly region: string;
  readonly store: Store;
  readonly dataPlane: DataPlane;
  readonly inventory: Inventory;
  readonly services: Iterable<EndpointService>;
  readonly endpoints: Iterable<Endpoint>;
  /** the user routes added through the API, by route table id */
  readonly userRoutes?: Iterable<{ id: string; routes: Route[] }>;
  readonly log: ControlLogger;
}

const now = () => new Date().toISOString();

export class ControlPlane {
  readonly region: string;
  private readonly store: Store;
  private readonly dataPlane: DataPlane;
  private readonly log: ControlLogger;
  private readonly accountsByToken = new Map<string, Account>();
  private readonly accountsByName = new Map<string, Account>();
  private readonly vpcs = new Map<string, Vpc>();
  private readonly services = new Map<string, EndpointService>();
  private readonly endpoints = new Map<string, Endpoint>();
  private readonly userRoutes = new Map<string, Route[]>();
  private tail: Promise<unknown> = Promise.resolve();
  /** data-plane round trips under way, so that shutdown can wait for them */
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(o: ControlOptions) {
    this.region = o.region;
    this.store = o.store;
    this.dataPlane = o.dataPlane;
    this.log = o.log;
    for (const a of o.inventory.accounts) {
      this.accountsByToken.set(a.token, a);
      this.accountsByName.set(a.name, a);
    }
    for (const v of o.inventory.vpcs) this.vpcs.set(v.id, v);
    for (const s of o.services) this.services.set(s.id, s);
    for (const e of o.endpoints) this.endpoints.set(e.id, e);
    for (const t of o.userRoutes ?? []) this.userRoutes.set(t.id, t.routes);
  }

  // ---- lookups -------------------------------------------------------------------------------

  accountByToken(token: string): Account | undefined {
    return this.accountsByToken.get(token);
  }

  accountByName(name: string): Account | undefined {
    return this.accountsByName.get(name);
  }

  allServices(): IterableIterator<EndpointService> {
    return this.services.values();
  }

  allEndpoints(): IterableIterator<Endpoint> {
    return this.endpoints.values();
  }

  /** a service the caller owns; EndPoint.3046 for an operator-run one, else EndPoint.2003 (another account's service does not exist for it) */
  ownService(caller: Account, id: string): EndpointService {
    const s = this.services.get(id);
    if (s?.public) throw new ApiError('OperatorOwned', `endpoint service ${id} is an operator-run public service: accounts cannot change it`);
    if (!s || s.owner !== caller.name) throw new ApiError('ServiceNotFound', `endpoint service ${id} does not exist`);
    return s;
  }

  ownEndpoint(caller: Account, id: string): Endpoint {
    const e = this.endpoints.get(id);
    if (!e || e.owner !== caller.name) throw new ApiError('EndpointNotFound', `endpoint ${id} does not exist`);
    return e;
  }

  listServices(caller: Account, q: ListQuery): { items: EndpointService[]; total: number } {
    const name = q.name?.toLowerCase();
    return page([...this.services.values()].filter((s) => s.owner === caller.name
      && (q.id === undefined || s.id === q.id)
      && (q.status === undefined || s.status === q.status)
      && (name === undefined || s.service_name.toLowerCase().includes(name))), q);
  }

  listEndpoints(caller: Account, q: ListQuery): { items: Endpoint[]; total: number } {
    const name = q.name?.toLowerCase();
    return page([...this.endpoints.values()].filter((e) => e.owner === caller.name
      && (q.id === undefined || e.id === q.id)
      && (q.vpcId === undefined || e.vpc_id === q.vpcId)
      && (q.status === undefined || e.status === q.status)
      && (name === undefined || e.service_name.toLowerCase().includes(name))), q);
  }

  /** the endpoints connected to a provider's own service */
  listConnections(caller: Account, serviceId: string, q: ListQuery): { items: Endpoint[]; total: number } {
    const s = this.ownService(caller, serviceId);
    return page([...this.endpoints.values()].filter((e) => e.service_id === s.id
      && (q.id === undefined || e.id === q.id)
      && (q.markerId === undefined || e.marker_id === q.markerId)
      && (q.status === undefined || e.status === q.status)), q);
  }

  publicServices(): EndpointService[] {
    return [...this.services.values()].filter((s) => s.public);
  }

  /** a service summary for a consumer: only services it may connect to are visible */
  describeService(caller: Account, by: { id?: string; name?: string }): EndpointService {
    const s = [...this.services.values()].find((x) => (by.id !== undefined ? x.id === by.id : x.service_name === by.name));
    if (!s || !mayConnect(s, caller)) {
      throw new ApiError('ServiceNotFound', `endpoint service ${by.id ?? by.name} does not exist`);
    }
    return s;
  }

  connectionCount(serviceId: string): number {
    let n = 0;
    for (const e of this.endpoints.values()) if (e.service_id === serviceId && LIVE_ENDPOINT_STATUSES.has(e.status)) n++;
    return n;
  }

  usage(caller: Account): { endpoint_service: number; endpoint: number } {
    let services = 0;
    let endpoints = 0;
    for (const s of this.services.values()) if (s.owner === caller.name) services++;
    for (const e of this.endpoints.values()) if (e.owner === caller.name) endpoints++;
    return { endpoint_service: services, endpoint: endpoints };
  }

  domainOf(accountName: string): string {
    return this.accountsByName.get(accountName)?.domain_id ?? '';
  }

  projectOf(accountName: string): string {
    return this.accountsByName.get(accountName)?.project_id ?? '';
  }

  // ---- endpoint services ---------------------------------------------------------------------

  async createService(caller: Account, body: CreateServiceBody): Promise<EndpointService> {
    const service = await this.serial(async () => {
      const vpc = this.vpcs.get(body.vpc_id);
      if (!vpc || vpc.account !== caller.name) throw new ApiError('VpcNotFound', `VPC ${body.vpc_id} does not exist`);
      const port = vpc.ports.find((p) => p.id === body.port_id);
      if (!port) throw new ApiError('PortNotFound', `port ${body.port_id} does not exist in VPC ${vpc.id}`);
      if (port.type !== body.server_type) {
        throw new ApiError('InvalidServerType', `server_type ${body.server_type} does not match port ${port.id}, which is of type ${port.type}`);
      }
      checkUniqueClientPorts(body.ports);
      checkTcpProxy(body.tcp_proxy);
      if (this.usage(caller).endpoint_service >= caller.quotas.endpoint_service) {
        throw new ApiError('QuotaExceeded', `quota exceeded: at most ${caller.quotas.endpoint_service} endpoint services per account`);
      }
      const id = randomUUID();
      const t = now();
      const s: EndpointService = {
        id,
        owner: caller.name,
        service_name: fullServiceName(this.region, body.service_name, id),
        service_type: 'interface',
        server_type: body.server_type,
        port_id: port.id,
        vpc_id: vpc.id,
        // huawei-vpcep-api.md: approval is on unless the request turns it off.
        approval_enabled: body.approval_enabled ?? true,
        status: 'creating',
        ports: body.ports.map((p) => ({ client_port: p.client_port, server_port: p.server_port, protocol: 'TCP' })),
        tcp_proxy: (body.tcp_proxy ?? 'close') as EndpointService['tcp_proxy'],
        description: body.description ?? '',
        tags: applyTags([], 'create', body.tags ?? [], DEFAULTS.limits.tagsPerResource),
        permissions: [],
        created_at: t,
        updated_at: t,
      };
      await this.commit([{ kind: 'service', id, value: s }], () => this.services.set(id, s));
      return s;
    });
    this.track(this.bringServiceUp(service.id));
    return service;
  }

  async modifyService(caller: Account, id: string, body: ModifyServiceBody): Promise<EndpointService> {
    const { service, reapply } = await this.serial(async () => {
      const s = this.ownService(caller, id);
      this.checkMutable(s);
      if (body.ports) checkUniqueClientPorts(body.ports);
      checkTcpProxy(body.tcp_proxy);
      const next: EndpointService = {
        ...s,
        ...(body.approval_enabled !== undefined ? { approval_enabled: body.approval_enabled } : {}),
        ...(body.service_name !== undefined ? { service_name: fullServiceName(this.region, body.service_name, s.id) } : {}),
        ...(body.ports ? { ports: body.ports.map((p) => ({ client_port: p.client_port, server_port: p.server_port, protocol: 'TCP' as const })) } : {}),
        ...(body.tcp_proxy !== undefined ? { tcp_proxy: body.tcp_proxy as EndpointService['tcp_proxy'] } : {}),
        ...(body.description !== undefined ? { description: body.description } : {}),
        updated_at: now(),
      };
      const changes: Change[] = [{ kind: 'service', id, value: next }];
      const renamed: Endpoint[] = [];
      if (next.service_name !== s.service_name) {
        for (const e of this.endpoints.values()) {
          if (e.service_id !== id) continue;
          const r = { ...e, service_name: next.service_name };
          renamed.push(r);
          changes.push({ kind: 'endpoint', id: e.id, value: r });
        }
      }
      await this.commit(changes, () => {
        this.services.set(id, next);
        for (const r of renamed) this.endpoints.set(r.id, r);
      });
      const dataPathChanged = body.ports !== undefined || (body.tcp_proxy !== undefined && body.tcp_proxy !== s.tcp_proxy);
      return { service: next, reapply: dataPathChanged };
    });
    // A port-mapping or tcp_proxy change reaches every live endpoint of the service before we answer.
    if (reapply) {
      const live = [...this.endpoints.values()].filter((e) => e.service_id === id && LIVE_ENDPOINT_STATUSES.has(e.status));
      await Promise.all(live.map((e) => this.pushEndpoint(e.id)));
    }
    return this.services.get(id) ?? service;
  }

  async deleteService(caller: Account, id: string): Promise<void> {
    await this.serial(async () => {
      const s = this.ownService(caller, id);
      if (s.status === 'deleting') throw new ApiError('BeingDeleted', `endpoint service ${id} is being deleted`);
      const inUse = this.connectionCount(id);
      if (inUse > 0) {
        throw new ApiError('ServiceInUse', `endpoint service ${id} has ${inUse} endpoint(s) in accepted or creating status: reject or delete them first`);
      }
      const deleting = { ...s, status: 'deleting' as const, updated_at: now() };
      await this.commit([{ kind: 'service', id, value: deleting }], () => this.services.set(id, deleting));
    });
    await this.finishServiceDeletion(id);
  }

  async permissions(caller: Account, id: string): Promise<readonly Permission[]> {
    return this.ownService(caller, id).permissions;
  }

  async changePermissions(caller: Account, id: string, action: 'add' | 'remove', entries: readonly string[]): Promise<string[]> {
    return this.serial(async () => {
      const s = this.ownService(caller, id);
      this.checkMutable(s);
      const wanted = entries.map(validatePermission);
      let list = [...s.permissions];
      if (action === 'add') {
        const t = now();
        for (const p of wanted) if (!list.some((x) => x.permission === p)) list.push({ id: randomUUID(), permission: p, created_at: t });
        if (list.length > DEFAULTS.limits.servicePermissions) {
          throw new ApiError('InvalidPermission', `at most ${DEFAULTS.limits.servicePermissions} whitelist records per service`);
        }
      } else {
        list = list.filter((x) => !wanted.includes(x.permission));
      }
      const next = { ...s, permissions: list, updated_at: now() };
      await this.commit([{ kind: 'service', id, value: next }], () => this.services.set(id, next));
      return wanted;
    });
  }

  async connectionAction(caller: Account, serviceId: string, action: 'receive' | 'reject', endpointId: string): Promise<Endpoint> {
    const changed = await this.serial(async () => {
      const s = this.ownService(caller, serviceId);
      const e = this.endpoints.get(endpointId);
      if (!e) throw new ApiError('EndpointNotFound', `endpoint ${endpointId} does not exist`);
      if (e.service_id !== s.id) throw new ApiError('NotOfService', `endpoint ${endpointId} does not belong to endpoint service ${s.id}`);
      checkConnectionAction(action, e.status);
      if (action === 'receive' && s.status !== 'available') throw new ApiError('ServiceUnavailable', `endpoint service ${s.id} is ${s.status}`);
      const next: Endpoint = action === 'receive'
        ? { ...e, status: 'creating', snat_ip: e.snat_ip ?? this.newSnatIp(), updated_at: now(), error: undefined }
        : { ...e, status: 'rejected', snat_ip: null, updated_at: now(), error: undefined };
      await this.commit([{ kind: 'endpoint', id: e.id, value: next }], () => this.endpoints.set(e.id, next));
      return next;
    });
    if (action === 'receive') this.track(this.bringEndpointUp(endpointId));
    // 000_9af245a83013c30f.txt 3.5: a rejected endpoint loses its connections; wait until it has.
    else if (changed.service_type === 'gateway') await this.pushRouting();
    else await this.applyToDataPlane({ kind: 'endpoint', id: endpointId, live: null });
    return this.endpoints.get(endpointId) ?? changed;
  }

  // ---- route tables and the path tracer ------------------------------------------------------

  routeTables(caller: Account): RouteTableView[] {
    const byEndpoints = endpointRoutes(this.endpoints.values(), this.services);
    return [...this.vpcs.values()].filter((v) => v.account === caller.name).flatMap((v) => v.route_tables.map((t) =>
      composeTable(v, t, this.userRoutes.get(t.id) ?? [], byEndpoints.get(t.id) ?? [])));
  }

  routeTable(caller: Account, id: string): RouteTableView {
    const t = this.routeTables(caller).find((x) => x.id === id);
    if (!t) throw new ApiError('RouteTableNotFound', `route table ${id} does not exist`);
    return t;
  }

  async updateRouteTable(caller: Account, id: string, change: RouteChange): Promise<RouteTableView> {
    await this.serial(async () => {
      const table = this.routeTable(caller, id);
      const next = changeUserRoutes(table, this.userRoutes.get(id) ?? [], change);
      await this.commit([{ kind: 'routetable', id, value: { id, routes: next } }], () => this.userRoutes.set(id, next));
    });
    // New connections follow the new routes once the data plane has the view: before we answer.
    await this.pushRouting();
    return this.routeTable(caller, id);
  }

  routing(): RoutingView {
    return routingView({
      vpcs: this.vpcs.values(),
      accounts: this.accountsByName,
      services: this.services,
      endpoints: this.endpoints,
      userRoutes: this.userRoutes,
      capOf: (owner) => this.accountsByName.get(owner)?.quotas.connections_per_endpoint ?? DEFAULTS.quotas.connections_per_endpoint,
    });
  }

  /** the path tracer: the same decision the data plane makes for a connection */
  trace(caller: Account, q: { vpc_id: string; source_ip: string; destination_ip: string; destination_port: number }): RouteDecision {
    const vpc = this.vpcs.get(q.vpc_id);
    if (!vpc || vpc.account !== caller.name) throw new ApiError('VpcNotFound', `VPC ${q.vpc_id} does not exist`);
    if (!isIpv4(q.source_ip)) throw new ApiError('InvalidParameter', `source_ip: ${JSON.stringify(q.source_ip)} is not an IPv4 address`);
    if (!isIpv4(q.destination_ip)) throw new ApiError('InvalidParameter', `destination_ip: ${JSON.stringify(q.destination_ip)} is not an IPv4 address`);
    return decideRoute(this.routing(), {
      vpcId: vpc.id, sourceIp: ipToInt(q.source_ip), destinationIp: ipToInt(q.destination_ip), destinationPort: q.destination_port,
    }, (id) => this.dataPlane.endpointConnections(id));
  }

  private async pushRouting(): Promise<{ ok: true } | { ok: false; reason: string }> {
    return this.applyToDataPlane({ kind: 'routing', id: 'routing', view: this.routing() });
  }

  /** the route tables a gateway endpoint names: each a table of its VPC, none already routing to the service */
  private checkRouteTables(vpc: Vpc, serviceId: string, endpointId: string | null, tables: readonly string[]): string[] {
    const ids = [...new Set(tables)];
    const own = [...this.vpcs.values()].filter((v) => v.account === vpc.account);
    for (const id of ids) {
      if (!vpc.route_tables.some((t) => t.id === id)) {
        // Another account's table does not exist for the caller.
        if (tableOf(own, id)) throw new ApiError('InvalidRouteTable', `route table ${id} is not a table of VPC ${vpc.id}`);
        throw new ApiError('RouteTableNotFound', `route table ${id} does not exist`);
      }
      // 002_05e46307768ae273.txt: one route per service in a table, so one endpoint per service per table.
      const other = [...this.endpoints.values()].find((e) => e.id !== endpointId && e.service_id === serviceId
        && LIVE_ENDPOINT_STATUSES.has(e.status) && e.routetables.includes(id));
      if (other) throw new ApiError('RouteTableTaken', `route table ${id} already routes to this service through endpoint ${other.id}`);
    }
    return ids;
  }

  async setEndpointRouteTables(caller: Account, id: string, tables: readonly string[]): Promise<Endpoint> {
    await this.serial(async () => {
      const e = this.ownEndpoint(caller, id);
      if (e.service_type !== 'gateway') throw new ApiError('InvalidParameter', 'routetables apply to gateway endpoints only');
      if (e.status === 'deleting') throw new ApiError('BeingDeleted', `endpoint ${id} is being deleted`);
      const ids = this.checkRouteTables(this.vpcs.get(e.vpc_id)!, e.service_id, e.id, tables);
      const next = { ...e, routetables: ids, updated_at: now() };
      await this.commit([{ kind: 'endpoint', id, value: next }], () => this.endpoints.set(id, next));
    });
    await this.pushRouting();
    return this.endpoints.get(id)!;
  }

  async setEndpointPolicy(caller: Account, id: string, policy: unknown): Promise<Endpoint> {
    await this.serial(async () => {
      const e = this.ownEndpoint(caller, id);
      if (e.service_type !== 'gateway') throw new ApiError('InvalidParameter', 'policy_statement applies to gateway endpoints only');
      if (e.status === 'deleting') throw new ApiError('BeingDeleted', `endpoint ${id} is being deleted`);
      const next = { ...e, policy_statement: validatePolicy(policy), updated_at: now() };
      await this.commit([{ kind: 'endpoint', id, value: next }], () => this.endpoints.set(id, next));
    });
    await this.pushRouting();
    return this.endpoints.get(id)!;
  }

  // ---- endpoints -----------------------------------------------------------------------------

  async createEndpoint(caller: Account, body: CreateEndpointBody): Promise<Endpoint> {
    const endpoint = await this.serial(async () => {
      const s = this.services.get(body.endpoint_service_id);
      if (!s || s.status === 'deleting') {
        throw new ApiError('ServiceNotFound', `endpoint service ${body.endpoint_service_id} does not exist`);
      }
      // 000_9af245a83013c30f.txt 3.6: another account needs a whitelist record to connect.
      if (!mayConnect(s, caller)) {
        throw new ApiError('NotWhitelisted', `account ${caller.domain_id} is not in the whitelist of endpoint service ${s.id}`);
      }
      if (s.status !== 'available') throw new ApiError('ServiceUnavailable', `endpoint service ${s.id} is ${s.status}`);
      const vpc = this.vpcs.get(body.vpc_id);
      if (!vpc || vpc.account !== caller.name) throw new ApiError('VpcNotFound', `VPC ${body.vpc_id} does not exist`);
      if (s.service_type === 'gateway') return this.newGatewayEndpoint(caller, s, vpc, body);
      if (body.routetables !== undefined || body.policy_statement !== undefined) {
        throw new ApiError('InvalidParameter', 'routetables and policy_statement apply to gateway endpoints only');
      }
      if (body.subnet_id === undefined) throw new ApiError('InvalidSubnetId', 'subnet_id is required for an interface endpoint');
      const subnet = vpc.subnets.find((x) => x.id === body.subnet_id);
      if (!subnet) {
        const elsewhere = [...this.vpcs.values()].some((v) => v.account === caller.name && v.subnets.some((x) => x.id === body.subnet_id));
        if (elsewhere) throw new ApiError('NetworkNotInVpc', `subnet ${body.subnet_id} does not belong to VPC ${vpc.id}`);
        throw new ApiError('SubnetNotFound', `subnet ${body.subnet_id} does not exist`);
      }
      const ip = allocatePrivateIp(cidrOf(subnet.cidr), this.usedIps(vpc), body.port_ip);
      const whitelist = normaliseWhitelist(body.whitelist ?? []);
      if (this.usage(caller).endpoint >= caller.quotas.endpoint) {
        throw new ApiError('QuotaExceeded', `quota exceeded: at most ${caller.quotas.endpoint} endpoints per account`);
      }
      const id = randomUUID();
      const t = now();
      const e: Endpoint = {
        id,
        owner: caller.name,
        service_id: s.id,
        service_name: s.service_name,
        service_type: s.service_type,
        vpc_id: vpc.id,
        subnet_id: subnet.id,
        ip,
        host_ip: hostAddress(vpc.number, ipToInt(ip)),
        snat_ip: s.approval_enabled ? null : this.newSnatIp(),
        marker_id: this.newMarkerId(),
        // huawei-vpcep-api.md "Statuses": approval on -> pendingAcceptance, off -> creating.
        status: s.approval_enabled ? 'pendingAcceptance' : 'creating',
        enable_dns: body.enable_dns ?? false,
        whitelist,
        enable_whitelist: body.enable_whitelist ?? false,
        routetables: [],
        description: body.description ?? '',
        tags: applyTags([], 'create', body.tags ?? [], DEFAULTS.limits.tagsPerResource),
        created_at: t,
        updated_at: t,
      };
      await this.commit([{ kind: 'endpoint', id, value: e }], () => this.endpoints.set(id, e));
      return e;
    });
    if (endpoint.status === 'creating') this.track(this.bringEndpointUp(endpoint.id));
    return endpoint;
  }

  /** 000_9af245a83013c30f.txt 4.2: a gateway endpoint has no ENI, only routes in route tables */
  private async newGatewayEndpoint(caller: Account, s: EndpointService, vpc: Vpc, body: CreateEndpointBody): Promise<Endpoint> {
    for (const field of ['subnet_id', 'port_ip', 'whitelist', 'enable_whitelist'] as const) {
      if (body[field] !== undefined) throw new ApiError('InvalidParameter', `${field} applies to interface endpoints only: a gateway endpoint has no ENI`);
    }
    // Without routetables, the route goes into the VPC's default table.
    const wanted = body.routetables?.length ? body.routetables : [vpc.route_tables.find((t) => t.default)!.id];
    const routetables = this.checkRouteTables(vpc, s.id, null, wanted);
    const policy = body.policy_statement === undefined ? null : validatePolicy(body.policy_statement);
    if (this.usage(caller).endpoint >= caller.quotas.endpoint) {
      throw new ApiError('QuotaExceeded', `quota exceeded: at most ${caller.quotas.endpoint} endpoints per account`);
    }
    const id = randomUUID();
    const t = now();
    const e: Endpoint = {
      id, owner: caller.name, service_id: s.id, service_name: s.service_name, service_type: 'gateway',
      vpc_id: vpc.id, subnet_id: null, ip: null, host_ip: null, snat_ip: null, marker_id: this.newMarkerId(),
      status: s.approval_enabled ? 'pendingAcceptance' : 'creating',
      enable_dns: body.enable_dns ?? false, whitelist: [], enable_whitelist: false, routetables, policy_statement: policy,
      description: body.description ?? '', tags: applyTags([], 'create', body.tags ?? [], DEFAULTS.limits.tagsPerResource),
      created_at: t, updated_at: t,
    };
    await this.commit([{ kind: 'endpoint', id, value: e }], () => this.endpoints.set(id, e));
    return e;
  }

  async updateEndpoint(caller: Account, id: string, body: UpdateEndpointBody): Promise<Endpoint> {
    const next = await this.serial(async () => {
      const e = this.ownEndpoint(caller, id);
      if (e.status === 'deleting') throw new ApiError('BeingDeleted', `endpoint ${id} is being deleted`);
      const n: Endpoint = {
        ...e,
        ...(body.whitelist !== undefined ? { whitelist: normaliseWhitelist(body.whitelist) } : {}),
        ...(body.enable_whitelist !== undefined ? { enable_whitelist: body.enable_whitelist } : {}),
        updated_at: now(),
      };
      await this.commit([{ kind: 'endpoint', id, value: n }], () => this.endpoints.set(id, n));
      return n;
    });
    if (next.status === 'accepted') await this.pushEndpoint(id);
    return this.endpoints.get(id) ?? next;
  }

  async deleteEndpoint(caller: Account, id: string): Promise<void> {
    await this.serial(async () => {
      const e = this.ownEndpoint(caller, id);
      if (e.status === 'deleting') throw new ApiError('BeingDeleted', `endpoint ${id} is being deleted`);
      const n: Endpoint = { ...e, status: 'deleting', snat_ip: null, updated_at: now() };
      await this.commit([{ kind: 'endpoint', id, value: n }], () => this.endpoints.set(id, n));
    });
    await this.finishEndpointDeletion(id);
  }

  async tag(caller: Account, kind: 'endpoint_service' | 'endpoint', id: string, action: 'create' | 'delete', tags: ReadonlyArray<{ key: string; value?: string }>): Promise<void> {
    await this.serial(async () => {
      if (kind === 'endpoint_service') {
        const s = this.ownService(caller, id);
        const next = { ...s, tags: applyTags(s.tags, action, tags, DEFAULTS.limits.tagsPerResource), updated_at: now() };
        await this.commit([{ kind: 'service', id, value: next }], () => this.services.set(id, next));
      } else {
        const e = this.ownEndpoint(caller, id);
        const next = { ...e, tags: applyTags(e.tags, action, tags, DEFAULTS.limits.tagsPerResource), updated_at: now() };
        await this.commit([{ kind: 'endpoint', id, value: next }], () => this.endpoints.set(id, next));
      }
    });
  }

  tagsOf(caller: Account, kind: 'endpoint_service' | 'endpoint'): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>();
    const items: Iterable<{ owner: string; tags: readonly Tag[] }> = kind === 'endpoint_service' ? this.services.values() : this.endpoints.values();
    for (const r of items) {
      if (r.owner !== caller.name) continue;
      for (const t of r.tags) {
        if (!out.has(t.key)) out.set(t.key, new Set());
        out.get(t.key)!.add(t.value);
      }
    }
    return out;
  }

  // ---- start-up and shutdown -----------------------------------------------------------------

  /**
   * Brings the data plane to the stored state after a start or a crash: services and endpoints
   * that were on their way up are finished, live endpoints are restored, half-done deletions are
   * completed.
   */
  async reconcile(): Promise<void> {
    const routed = await this.pushRouting();
    if (!routed.ok) this.log.warn({ reason: routed.reason }, 'data plane could not take the routing view');
    for (const s of [...this.services.values()]) {
      if (s.status === 'creating') await this.bringServiceUp(s.id);
      else if (s.status === 'deleting') await this.finishServiceDeletion(s.id);
      else if (s.status === 'available') await this.applyToDataPlane({ kind: 'service', id: s.id, available: true });
    }
    for (const e of [...this.endpoints.values()]) {
      if (e.status === 'creating' || e.status === 'accepted') await this.bringEndpointUp(e.id);
      else if (e.status === 'deleting') await this.finishEndpointDeletion(e.id);
    }
  }

  /** waits for mutations and data-plane round trips under way */
  async settle(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
    await this.tail.catch(() => undefined);
  }

  // ---- internals -----------------------------------------------------------------------------

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private track(p: Promise<unknown>): void {
    this.inFlight.add(p);
    p.catch((err) => this.log.warn({ err }, 'data-plane transition failed')).finally(() => this.inFlight.delete(p));
  }

  /** durable first, then visible */
  private async commit(changes: readonly Change[], apply: () => void): Promise<void> {
    await this.store.commit(changes);
    apply();
  }

  private checkMutable(s: EndpointService): void {
    if (s.status === 'deleting') throw new ApiError('BeingDeleted', `endpoint service ${s.id} is being deleted`);
  }

  private usedIps(vpc: Vpc): Set<string> {
    const used = new Set(vpc.ports.map((p) => p.ip));
    for (const e of this.endpoints.values()) if (e.vpc_id === vpc.id && e.ip) used.add(e.ip);
    return used;
  }

  private newMarkerId(): number {
    const taken = new Set([...this.endpoints.values()].map((e) => e.marker_id));
    for (;;) {
      const m = randomInt(1, 2 ** 31 - 1);
      if (!taken.has(m)) return m;
    }
  }

  private newSnatIp(): string {
    const used = new Set<string>();
    for (const e of this.endpoints.values()) if (e.snat_ip) used.add(e.snat_ip);
    const ip = allocateSnatIp(used);
    if (!ip) throw new ApiError('QuotaExceeded', 'every SNAT address of 198.19.128.0/17 is in use');
    return ip;
  }

  private liveSpec(e: Endpoint): LiveEndpoint | null {
    const s = this.services.get(e.service_id);
    const vpc = this.vpcs.get(e.vpc_id);
    if (!s || s.status !== 'available' || !vpc || !e.ip || !e.host_ip || !e.snat_ip) return null;
    const account = this.accountsByName.get(e.owner);
    return {
      id: e.id,
      marker_id: e.marker_id,
      service_id: s.id,
      ip: e.ip,
      host_ip: e.host_ip,
      vpc_id: e.vpc_id,
      vpc_number: vpc.number,
      vpc_cidr: vpc.cidr,
      snat_ip: e.snat_ip,
      tcp_proxy: s.tcp_proxy,
      backends: this.backendsOf(s),
      enable_whitelist: e.enable_whitelist,
      whitelist: e.whitelist,
      connection_cap: account?.quotas.connections_per_endpoint ?? DEFAULTS.quotas.connections_per_endpoint,
    };
  }

  /** the real address each terminal port relays to */
  backendsOf(s: EndpointService): LiveEndpoint['backends'] {
    if (s.public) {
      return s.public.targets.map((t) => {
        const [host, port] = t.target.split(':');
        return { client_port: t.port, host: host!, port: Number(port) };
      });
    }
    const vpc = s.vpc_id ? this.vpcs.get(s.vpc_id) : undefined;
    const port = vpc?.ports.find((p) => p.id === s.port_id);
    if (!vpc || !port) return [];
    const host = port.target ?? hostAddress(vpc.number, ipToInt(port.ip));
    return s.ports.map((m) => ({ client_port: m.client_port, host, port: m.server_port }));
  }

  private async applyToDataPlane(event: ChangeEvent): Promise<{ ok: true } | { ok: false; reason: string }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<{ ok: false; reason: string }>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, reason: `the data plane did not answer within ${DEFAULTS.api.dataPlaneAckTimeoutMs} ms` }), DEFAULTS.api.dataPlaneAckTimeoutMs);
    });
    try {
      return await Promise.race([this.dataPlane.apply(event), timeout]);
    } catch (err) {
      return { ok: false, reason: (err as Error).message };
    } finally {
      clearTimeout(timer);
    }
  }

  private async bringServiceUp(id: string): Promise<void> {
    const ack = await this.applyToDataPlane({ kind: 'service', id, available: true });
    await this.serial(async () => {
      const s = this.services.get(id);
      if (!s || s.status !== 'creating') return;
      const next: EndpointService = ack.ok
        ? { ...s, status: 'available', updated_at: now() }
        : { ...s, status: 'failed', updated_at: now(), error: { error_code: 'EndPoint.0001', error_message: ack.reason } };
      await this.commit([{ kind: 'service', id, value: next }], () => this.services.set(id, next));
    });
  }

  /** creating -> accepted on the data plane's ok; accepted stays accepted (restore); else failed */
  private async bringEndpointUp(id: string): Promise<void> {
    const e = this.endpoints.get(id);
    if (!e) return;
    const live = e.service_type === 'gateway' ? null : this.liveSpec(e);
    const ack = e.service_type === 'gateway'
      ? await this.pushRouting()
      : live
        ? await this.applyToDataPlane({ kind: 'endpoint', id, live })
        : { ok: false as const, reason: `endpoint service ${e.service_id} is not available` };
    await this.serial(async () => {
      const cur = this.endpoints.get(id);
      if (!cur || (cur.status !== 'creating' && cur.status !== 'accepted')) return;
      if (ack.ok && cur.status === 'accepted') return;
      const next: Endpoint = ack.ok
        ? { ...cur, status: 'accepted', updated_at: now(), error: undefined }
        : { ...cur, status: 'failed', snat_ip: null, updated_at: now(), error: { error_code: 'EndPoint.0001', error_message: ack.reason } };
      if (!ack.ok) this.log.warn({ endpoint_id: id, reason: ack.reason }, 'endpoint failed');
      await this.commit([{ kind: 'endpoint', id, value: next }], () => this.endpoints.set(id, next));
    });
    // A gateway endpoint's routes carry traffic once the view says accepted.
    if (e.service_type === 'gateway') await this.pushRouting();
  }

  /** sends a live endpoint's current spec; a data-plane failure turns it failed */
  private async pushEndpoint(id: string): Promise<void> {
    const e = this.endpoints.get(id);
    if (!e) return;
    if (e.service_type === 'gateway') {
      await this.pushRouting();
      return;
    }
    const live = this.liveSpec(e);
    const ack = await this.applyToDataPlane({ kind: 'endpoint', id, live });
    if (ack.ok) return;
    await this.serial(async () => {
      const cur = this.endpoints.get(id);
      if (!cur || !LIVE_ENDPOINT_STATUSES.has(cur.status)) return;
      const next: Endpoint = { ...cur, status: 'failed', snat_ip: null, updated_at: now(), error: { error_code: 'EndPoint.0001', error_message: ack.reason } };
      await this.commit([{ kind: 'endpoint', id, value: next }], () => this.endpoints.set(id, next));
    });
    await this.applyToDataPlane({ kind: 'endpoint', id, live: null });
  }

  private async finishEndpointDeletion(id: string): Promise<void> {
    const gateway = this.endpoints.get(id)?.service_type === 'gateway';
    // A deleting gateway endpoint's routes are already out of the view: push it first.
    const ack = gateway ? await this.pushRouting() : await this.applyToDataPlane({ kind: 'endpoint', id, live: null });
    if (!ack.ok) this.log.warn({ endpoint_id: id, reason: ack.reason }, 'data plane did not confirm the endpoint teardown');
    await this.serial(async () => {
      if (this.endpoints.get(id)?.status !== 'deleting') return;
      await this.commit([{ kind: 'endpoint', id, value: null }], () => this.endpoints.delete(id));
    });
  }

  private async finishServiceDeletion(id: string): Promise<void> {
    await this.applyToDataPlane({ kind: 'service', id, available: false });
    await this.serial(async () => {
      if (this.services.get(id)?.status !== 'deleting') return;
      // Endpoints left waiting on the service (pending, rejected, failed) can never connect now.
      const orphans = [...this.endpoints.values()].filter((e) => e.service_id === id && e.status !== 'deleting');
      const changes: Change[] = [{ kind: 'service', id, value: null }];
      const next = orphans.map((e): Endpoint => ({
        ...e, status: 'failed', snat_ip: null, updated_at: now(),
        error: { error_code: 'EndPoint.2003', error_message: `endpoint service ${id} was deleted` },
      }));
      for (const e of next) changes.push({ kind: 'endpoint', id: e.id, value: e });
      await this.commit(changes, () => {
        this.services.delete(id);
        for (const e of next) this.endpoints.set(e.id, e);
      });
    });
  }
}

/**
 * TOA (a TCP option carrying the client's address) needs packet rewriting, which a socket relay
 * cannot do; the PROXY protocol modes carry the same information in the payload.
 */
function checkTcpProxy(mode: string | undefined): void {
  if (mode === 'toa_open') {
    throw new ApiError('Unsupported', 'tcp_proxy toa_open needs packet rewriting (the TOA TCP option), which this socket relay cannot do; supported: close, proxy_open, open, proxy_vni (open and proxy_vni send the PROXY v2 header)');
  }
}

/** 000_9af245a83013c30f.txt 2.3: a terminal port appears once in a service's mappings. */
function checkUniqueClientPorts(ports: ReadonlyArray<{ client_port: number }>): void {
  const seen = new Set<number>();
  for (const p of ports) {
    if (seen.has(p.client_port)) throw new ApiError('PortConflict', `port conflict: client_port ${p.client_port} appears twice`);
    seen.add(p.client_port);
  }
}

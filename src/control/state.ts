// What the control plane holds (accounts, VPCs, services, endpoints, user routes) and the lookups
// and allocations its parts share. Mutations run one at a time (a promise queue), and each is
// written to the store as one atomic batch before the in-memory state changes and before the
// caller gets an answer.
import { randomInt, randomUUID } from 'node:crypto';
import { DEFAULTS } from '../model/defaults.js';
import { DomainError } from '../model/errors.js';
import type { DataPlane } from '../model/events.js';
import { NLB_HEALTH_DEFAULTS, NLB_UNHEALTHY_TERMINATION, type HealthSettings, type UnhealthyTermination } from '../model/health.js';
import type { LoadBalancer, TargetGroup } from '../model/load-balancers.js';
import type { OnPremises } from '../model/isolation.js';
import { connectionEventsOf, type ConnectionEvent, type ConnectionNotification } from '../model/notifications.js';
import type { RoutingView } from '../model/routing.js';
import {
  LIVE_ENDPOINT_STATUSES, type Account, type Endpoint, type EndpointService, type Route, type SecurityGroup, type Vpc,
} from '../model/types.js';
import { defaultZones } from '../model/zones.js';
import { allocateSnatIp } from '../net/snat-pool.js';
import { StoreFull, type Change, type Store } from '../store/store.js';
import { endpointWithEnis } from './documents.js';
import type { Inventory } from './inventory.js';
import { routingView } from './route-tables.js';

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
  /** the stored connection notifications, and the topics the config declares for them */
  readonly notifications?: Iterable<ConnectionNotification>;
  readonly notificationTopics?: ReadonlySet<string>;
  /** network load balancers and target groups (src/model/load-balancers.ts) */
  readonly loadBalancers?: Iterable<LoadBalancer>;
  readonly targetGroups?: Iterable<TargetGroup>;
  /** the VPCs and security groups made through an API (src/control/network.ts) */
  readonly apiVpcs?: Iterable<Vpc>;
  readonly securityGroups?: Iterable<SecurityGroup>;
  readonly log: ControlLogger;
  /** clients outside every VPC: allowed or refused by interface endpoints (the path tracer says which) */
  readonly onPremises?: OnPremises;
  /** the region's zones (src/model/zones.ts; default: defaultZones(region)) and those down now (meta `zones_down`) */
  readonly zones?: readonly string[];
  readonly zonesDown?: Iterable<string>;
  /** seconds a backend removed from a port-backed service keeps its connections (default 300, AWS's) */
  readonly deregistrationDelayS?: number;
  /** the health checks of a port-backed service without its own (config dataplane.health_check; AWS's NLB defaults) */
  readonly healthCheck?: HealthSettings;
  /** the connections of a backend turning unhealthy, for port-backed and public services without their own (AWS's NLB default: reset) */
  readonly unhealthyTermination?: UnhealthyTermination;
}

export const now = () => new Date().toISOString();

export class ControlState {
  readonly region: string;
  readonly dataPlane: DataPlane;
  readonly log: ControlLogger;
  readonly onPremises: OnPremises;
  readonly zones: readonly string[];
  /** the zones taken down on demand (zones.ts setZoneDown) */
  readonly zonesDown: Set<string>;
  readonly deregistrationDelayS: number;
  readonly healthDefaults: HealthSettings;
  readonly unhealthyTermination: UnhealthyTermination;
  readonly accountsByToken = new Map<string, Account>();
  readonly accountsByName = new Map<string, Account>();
  readonly vpcs = new Map<string, Vpc>();
  readonly services = new Map<string, EndpointService>();
  readonly endpoints = new Map<string, Endpoint>();
  readonly userRoutes = new Map<string, Route[]>();
  readonly notifications = new Map<string, ConnectionNotification>();
  readonly notificationTopics: ReadonlySet<string>;
  /** told each connection event after its change is stored and visible (never awaited: a listener cannot hold a mutation up) */
  readonly connectionListeners: ((e: ConnectionEvent) => void)[] = [];
  readonly loadBalancers = new Map<string, LoadBalancer>();
  readonly targetGroups = new Map<string, TargetGroup>();
  readonly securityGroups = new Map<string, SecurityGroup>();
  /** every loopback number ever handed out, by VPC id (meta `vpc_numbers`): config VPCs' and API VPCs' */
  vpcNumbers: Readonly<Record<string, number>>;
  /** counts the commits made visible (the DNS server's view cache compares it) */
  revision = 0;
  private readonly store: Store;
  private tail: Promise<unknown> = Promise.resolve();
  /** data-plane round trips under way, so that shutdown can wait for them */
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(o: ControlOptions) {
    this.region = o.region;
    this.store = o.store;
    this.dataPlane = o.dataPlane;
    this.log = o.log;
    this.deregistrationDelayS = o.deregistrationDelayS ?? DEFAULTS.dataplane.deregistrationDelayS;
    this.onPremises = o.onPremises ?? 'allow';
    this.zones = o.zones ?? defaultZones(o.region);
    this.zonesDown = new Set([...(o.zonesDown ?? [])].filter((z) => this.zones.includes(z)));
    this.healthDefaults = o.healthCheck ?? NLB_HEALTH_DEFAULTS;
    this.unhealthyTermination = o.unhealthyTermination ?? NLB_UNHEALTHY_TERMINATION;
    for (const a of o.inventory.accounts) {
      if (a.token) this.accountsByToken.set(a.token, a);
      this.accountsByName.set(a.name, a);
    }
    for (const v of o.inventory.vpcs) this.vpcs.set(v.id, v);
    for (const v of o.apiVpcs ?? []) if (!this.vpcs.has(v.id)) this.vpcs.set(v.id, v);
    for (const g of o.securityGroups ?? []) this.securityGroups.set(g.id, g);
    this.vpcNumbers = o.inventory.vpcNumbers ?? {};
    for (const s of o.services) this.services.set(s.id, s);
    for (const e of o.endpoints) this.endpoints.set(e.id, endpointWithEnis(e, this.vpcs, this.zones));
    for (const t of o.userRoutes ?? []) this.userRoutes.set(t.id, t.routes);
    for (const n of o.notifications ?? []) this.notifications.set(n.id, n);
    this.notificationTopics = o.notificationTopics ?? new Set();
    for (const lb of o.loadBalancers ?? []) this.loadBalancers.set(lb.id, lb);
    for (const tg of o.targetGroups ?? []) this.targetGroups.set(tg.id, tg);
  }

  // ---- the mutation queue --------------------------------------------------------------------

  serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  track(p: Promise<unknown>): void {
    this.inFlight.add(p);
    p.catch((err) => this.log.warn({ err }, 'data-plane transition failed')).finally(() => this.inFlight.delete(p));
  }

  /** durable first, then visible */
  async commit(changes: readonly Change[], apply: () => void): Promise<void> {
    try {
      await this.store.commit(changes);
    } catch (err) {
      if (err instanceof StoreFull) throw new DomainError('StoreFull', err.message);
      throw err;
    }
    const before = changes.filter((c) => c.kind === 'endpoint').map((c) => ({ id: c.id, e: this.endpoints.get(c.id) }));
    apply();
    this.revision++;
    for (const b of before) this.emitConnectionEvents(b.e, this.endpoints.get(b.id));
  }

  private emitConnectionEvents(before: Endpoint | undefined, after: Endpoint | undefined): void {
    const events = connectionEventsOf(before, after);
    if (!events.length || !this.connectionListeners.length) return;
    const at = now();
    for (const event of events) {
      for (const listener of this.connectionListeners) {
        try {
          listener({ event, endpoint: (after ?? before)!, at });
        } catch (err) {
          this.log.warn({ err, event, endpoint_id: (after ?? before)!.id }, 'connection event listener failed');
        }
      }
    }
  }

  /** waits for mutations and data-plane round trips under way */
  async settle(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
    await this.tail.catch(() => undefined);
  }

  // ---- shared lookups ------------------------------------------------------------------------

  /** a service the caller owns; OperatorOwned for an operator-run one, else ServiceNotFound (another account's service does not exist for it) */
  ownService(caller: Account, id: string): EndpointService {
    const s = this.services.get(id);
    if (s?.public) throw new DomainError('OperatorOwned', `endpoint service ${id} is an operator-run public service: accounts cannot change it`);
    if (!s || s.owner !== caller.name) throw new DomainError('ServiceNotFound', `endpoint service ${id} does not exist`);
    return s;
  }

  ownEndpoint(caller: Account, id: string): Endpoint {
    const e = this.endpoints.get(id);
    if (!e || e.owner !== caller.name) throw new DomainError('EndpointNotFound', `endpoint ${id} does not exist`);
    return e;
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

  /** the connections one endpoint of the account may hold at once */
  capOf(owner: string): number {
    return this.accountsByName.get(owner)?.quotas.connections_per_endpoint ?? DEFAULTS.quotas.connections_per_endpoint;
  }

  routing(): RoutingView {
    return routingView({
      vpcs: this.vpcs.values(),
      accounts: this.accountsByName,
      services: this.services,
      endpoints: this.endpoints,
      userRoutes: this.userRoutes,
      capOf: (owner) => this.capOf(owner),
    });
  }

  // ---- allocations ---------------------------------------------------------------------------

  /** the dialect's id for a new endpoint when it gives one (AWS: `vpce-` + 17 hex), checked unique; else a UUID */
  newEndpointId(wanted?: string): string {
    if (wanted === undefined) return randomUUID();
    if (this.endpoints.has(wanted)) throw new DomainError('InvalidParameter', `endpoint id ${wanted} is already taken`);
    return wanted;
  }

  newMarkerId(): number {
    const taken = new Set([...this.endpoints.values()].map((e) => e.marker_id));
    for (;;) {
      const m = randomInt(1, 2 ** 31 - 1);
      if (!taken.has(m)) return m;
    }
  }

  newSnatIp(): string {
    const used = new Set<string>();
    for (const e of this.endpoints.values()) if (e.snat_ip) used.add(e.snat_ip);
    const ip = allocateSnatIp(used);
    if (!ip) throw new DomainError('QuotaExceeded', 'every SNAT address of 198.19.128.0/17 is in use');
    return ip;
  }
}

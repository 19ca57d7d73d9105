// What the control plane holds (accounts, VPCs, services, endpoints, user routes) and the lookups
// and allocations its parts share. Mutations prepare one at a time (a promise queue), and each is
// written to the store as one atomic batch before the in-memory state changes and before the
// caller gets an answer. The queue moves on once a mutation has handed its batch to the store, not
// once the batch is on disk (issue 12/17): the batch carries compare-and-swap expectations (the
// version of every document it writes, as this node read it, and its allocations as claims:
// claims.ts), so a mutation prepared against state that a batch still in flight changes fails with
// StoreConflict, and runs again once that batch is applied (bounded retries).
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomInt, randomUUID } from 'node:crypto';
import { DEFAULTS } from '../model/defaults.js';
import { MAX_RECORDS_PER_NAME, normalRecordName, type PublicRecord, type PublishedRecord } from '../model/dns-names.js';
import { DomainError } from '../model/errors.js';
import type { DataPlane } from '../model/events.js';
import { NLB_HEALTH_DEFAULTS, NLB_UNHEALTHY_TERMINATION, type HealthSettings, type PublishedTargetHealth, type UnhealthyTermination } from '../model/health.js';
import type { LoadBalancer, TargetGroup } from '../model/load-balancers.js';
import type { OnPremises } from '../model/isolation.js';
import { ProvisioningFaults } from '../model/provisioning-faults.js';
import { connectionEventsOf, type ConnectionEvent, type ConnectionNotification } from '../model/notifications.js';
import type { RoutingView } from '../model/routing.js';
import { NO_FAULTS, type FaultVerdict, type InjectedFaults } from '../model/toxics.js';
import {
  LIVE_ENDPOINT_STATUSES, type Account, type Endpoint, type EndpointService, type InternetGateway, type NetworkAcl, type Route, type SecurityGroup, type Vpc,
} from '../model/types.js';
import { defaultZones } from '../model/zones.js';
import { cidrContains, cidrOf, intToIp, ipToInt, lastAddress, SNAT_RANGE } from '../net/cidr.js';
import { leastLoaded, loads, type Placed } from '../model/placement.js';
import type { Fleet } from '../store/fleet.js';
import { keyOf, StoreConflict, StoreFull, StoreUnavailable, type Batch, type Change, type Expectation, type Kind, type KindExpectation, type Snapshot, type Store, type StoreObserver } from '../store/store.js';
import {
  ANSWERED_CLAIMS, Claims, ipClaim, loadBalancerNameClaim, markerClaim, privateNameKey, recordNameClaim, recordQuotaClaim, serviceQuotaClaim, type PrivateNames, snatClaim, targetGroupLoadBalancerClaim, targetGroupNameClaim, tokenClaim, tokenDocument, type ClaimedDocument,
} from './claims.js';
import { upgradedEndpoint } from './documents.js';
import { EndpointMap, LowestFree } from './endpoint-index.js';
import { RETIRED_VPC_NUMBERS, type Inventory } from './inventory.js';
import { routingView } from './route-tables.js';

export interface ControlLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
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
  /** the config's SNS topics: each ARN and the AWS accounts that may name it */
  readonly notificationTopics?: ReadonlyMap<string, ReadonlySet<string>>;
  /** network load balancers and target groups (src/model/load-balancers.ts) */
  readonly loadBalancers?: Iterable<LoadBalancer>;
  readonly targetGroups?: Iterable<TargetGroup>;
  /** the VPCs and security groups made through an API (src/control/network.ts) */
  readonly apiVpcs?: Iterable<Vpc>;
  readonly securityGroups?: Iterable<SecurityGroup>;
  /** the internet gateways made through the EC2 API (stored: kind `internetgateway`) */
  readonly internetGateways?: Iterable<InternetGateway>;
  /** the network ACLs made through the EC2 API and the default ones changed (stored: kind `networkacl`) */
  readonly networkAcls?: Iterable<NetworkAcl>;
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
  /** the public zone's records from the config (dns.public_records): where providers prove their domains */
  readonly publicRecords?: readonly PublicRecord[];
  /** the records published through the API (stored: kind `dnsrecord`), by store id */
  readonly publishedRecords?: Iterable<[string, PublishedRecord]>;
  /** the probe states the fleet's nodes published (stored: kind `targethealth`) */
  readonly fleetHealth?: Iterable<PublishedTargetHealth>;
  /** ms each endpoint activation waits before it is brought up (config faults.provisioning_delay_ms; default 0) */
  readonly provisioningDelayMs?: number;
  /** the toxics and proxies taken down stored (kind `fault`, id FAULTS_DOCUMENT; faults.ts) */
  readonly injectedFaults?: InjectedFaults;
  /** the failure switches stored (meta FAILURE_SWITCHES): endpoint or service id -> message */
  readonly failureSwitches?: { readonly endpoint?: Readonly<Record<string, string>>; readonly service?: Readonly<Record<string, string>> };
  /** on a shared store: this daemon's node id (its data dir's), recorded on the endpoints it serves */
  readonly nodeId?: string;
  /** the nodes sharing the store and their leader (src/store/fleet.ts); absent: this node alone */
  readonly fleet?: Fleet;
  /** what the store held at start: each document's version, the claims (kind `claim`) and the revision */
  readonly stored?: {
    readonly versions: ReadonlyMap<string, number>;
    readonly claims: ReadonlyMap<string, unknown>;
    readonly revision: number;
  };
  /** the connections of a backend turning unhealthy, for port-backed and public services without their own (AWS's NLB default: reset) */
  readonly unhealthyTermination?: UnhealthyTermination;
  /** told each retry after a lost compare-and-swap, each watched batch applied and each relist (the store metrics) */
  readonly storeObserver?: StoreObserver;
}

/** what a watched batch changed (ControlState.applyWatched) */
export interface Watched {
  /** the endpoints this daemon serves that changed, and those placed elsewhere that it served */
  readonly endpoints: readonly string[];
  /** every other document that changed but claims: services, load balancers, security groups, meta... */
  readonly documents: ReadonlyArray<{ readonly kind: Kind; readonly id: string }>;
}

/** the meta document of the activation delay set through the API (`{ms}`; provisioning-faults.ts) */
export const PROVISIONING_DELAY = 'provisioning_delay';

/** the meta documents of the failure switches armed (provisioning-faults.ts): endpoint or service id -> message */
export const FAILURE_SWITCHES = { endpoint: 'fail_activation', service: 'fail_next_activation' } as const;

/** the one document (kind `fault`) of the toxics and the proxies taken down (faults.ts) */
export const FAULTS_DOCUMENT = 'toxics';

/** a mutation in the queue: released once its batch is handed to the store (pipelined) or has landed */
interface Section {
  release(): void;
  readonly pipelined: boolean;
}

/** a change computed from the state as it is, to commit inside the serial section that computed it */
export interface TagPlan {
  readonly changes: Change[];
  readonly apply: () => void;
}

/** what a commit checks beyond the documents it writes (ControlState.commit) */
export interface CommitOptions {
  /**
   * Documents the batch names without writing them (an endpoint's VPC and security groups): each is
   * expected at the version this node knows, so that one deleted through another node meanwhile
   * fails the batch, and the mutation runs again and is refused. One this node has not stored
   * (a config VPC, its virtual default group) requires nothing. Nothing is written: two creates
   * naming one VPC do not conflict with each other.
   */
  readonly requires?: ReadonlyArray<{ readonly kind: Kind; readonly id: string }>;
  /**
   * Kinds whose every document the mutation looked at for dependents (a deletion of a subnet, VPC
   * or security group, among the endpoints): on a store this node follows, the batch fails when
   * another writer wrote one of them that this node has not seen yet, and runs again once it has.
   */
  readonly scanned?: readonly Kind[];
}

export interface SerialOptions {
  /**
   * A create of endpoints, or an endpoint's activation (creating -> accepted or failed): it may
   * prepare while earlier such batches land, and the next one may prepare while its own lands.
   * What they check against each other (the quota, addresses, route tables and private DNS names)
   * sees the endpoints in flight (ControlState.endpointsLanding, the claims), and an activation
   * changes nothing a create checks but whether an endpoint is live. Any other mutation prepares
   * once every batch in flight has landed, and lets the next one go once its own has: it reads
   * what calls before it wrote, whatever it checks.
   */
  readonly pipelined?: boolean;
}
const sections = new AsyncLocalStorage<Section>();
/** times a mutation runs again after losing a compare-and-swap, before StoreConflict answers */
const CONFLICT_RETRIES = 8;
/** the first retries wait for this node's copy to catch up with the documents that conflicted, each at most this long */
const CATCH_UP_ATTEMPTS = 3;
const CATCH_UP_MS = 1_000;

/** a conflict the client sees: what changed, not the store's keys (they are the store's, not the API's) */
function conflictError(err: StoreConflict): DomainError {
  const kinds = [...new Set(err.keys.map((k) => k.split('/')[0]))].join(', ');
  return new DomainError('StoreConflict', `another change to the same resources (${kinds || 'documents'}) landed first: retry the request`);
}

export const now = () => new Date().toISOString();

/** the SNAT range's pool: 198.19.128.0/17 without its network and broadcast addresses */
const snatPool = () => new LowestFree(SNAT_RANGE.base + 1, lastAddress(SNAT_RANGE) - 1);

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
  /** provisioning faults: the activation delay and the failures asked for (src/control/provisioning-faults.ts) */
  readonly faults: ProvisioningFaults;
  readonly unhealthyTermination: UnhealthyTermination;
  readonly accountsByToken = new Map<string, Account>();
  readonly accountsByName = new Map<string, Account>();
  readonly vpcs = new Map<string, Vpc>();
  readonly services = new Map<string, EndpointService>();
  /** the endpoints, indexed by owner, service and the addresses they hold (endpoint-index.ts) */
  readonly endpoints = new EndpointMap();
  readonly userRoutes = new Map<string, Route[]>();
  readonly notifications = new Map<string, ConnectionNotification>();
  readonly notificationTopics: ReadonlyMap<string, ReadonlySet<string>>;
  /**
   * told each endpoint and service once its deletion is committed, and ('ports') each service once a
   * change that may have taken terminal ports from its endpoints is (faults.ts drops the toxics that name them)
   */
  readonly removalListeners: ((kind: 'endpoint' | 'service' | 'ports', id: string) => Promise<void>)[] = [];
  /** told each connection event after its change is stored and visible (never awaited: a listener cannot hold a mutation up) */
  readonly connectionListeners: ((e: ConnectionEvent) => void)[] = [];
  readonly loadBalancers = new Map<string, LoadBalancer>();
  readonly targetGroups = new Map<string, TargetGroup>();
  readonly securityGroups = new Map<string, SecurityGroup>();
  /** internet gateways made through the EC2 API, by id (internet-gateways.ts) */
  readonly internetGateways = new Map<string, InternetGateway>();
  /** stored network ACLs, by id (network-acls.ts) */
  readonly networkAcls = new Map<string, NetworkAcl>();
  /** the public zone's records published through the API, by store id (private-dns.ts PublicZone) */
  readonly publishedRecords = new Map<string, PublishedRecord>();
  /** how many of the config's records of the public zone each name holds */
  private readonly configuredRecords = new Map<string, number>();
  /** the toxics and the proxies taken down, as stored (faults.ts) */
  injectedFaults: InjectedFaults;
  /** each fleet node's probe states as it last published them, by node id (fleet-health.ts) */
  readonly fleetHealth = new Map<string, PublishedTargetHealth>();
  /** each fleet node's verdict on the faults document it last tried, by node id (fault-verdicts.ts) */
  readonly faultVerdicts = new Map<string, FaultVerdict>();
  /** every loopback number ever handed out, by VPC id (meta `vpc_numbers`): config VPCs' and API VPCs' */
  vpcNumbers: Readonly<Record<string, number>>;
  /** the numbers of deleted API VPCs, each with when it was retired (ms; meta `vpc_numbers_retired`) */
  retiredVpcNumbers: Readonly<Record<string, number>>;
  /** counts the commits made visible (the DNS server's view cache compares it) */
  revision = 0;
  /** the store's revision this state reflects (its own commits, and watched batches once wired) */
  storeRevision = 0;
  /**
   * the revision through which the watch has brought every batch into memory (follow.ts), others'
   * and this node's own; undefined: this node follows no watch (SQLite: it alone writes). Not
   * storeRevision: a node's own commit raises that past others' earlier batches still on their way.
   */
  watchedThrough: number | undefined;
  private readonly store: Store;
  private tail: Promise<unknown> = Promise.resolve();
  /** each document's version as this node knows it, by `kind/id` (the expectation of its next write) */
  private readonly versions: Map<string, number>;
  /** the versions are the store's (ControlOptions.stored): a document this node does not know is expected absent */
  private readonly strict: boolean;
  readonly claims: Claims;
  /** endpoints in commits under way: allocations and quota counts see them */
  private readonly pendingEndpoints = new Map<string, Endpoint | null>();
  private readonly committing = new Set<Promise<unknown>>();
  /** batches that lost a compare-and-swap, and mutations that ran again (metrics) */
  conflicts = 0;
  readonly storeObserver: StoreObserver | undefined;
  readonly nodeId: string | undefined;
  /**
   * a fleet node's public gateway services whose listeners it could not bind, with the reason: on
   * one machine another node holds them. Kept here, not in the store: written there, the nodes
   * stored failed and available in turn for good (about 217 etcd writes a second)
   */
  readonly publicUnbound = new Map<string, string>();
  readonly fleet: Fleet | undefined;
  /** keys of the commits under way, and watched batches that touched them, applied once those commits land */
  private readonly committingKeys = new Map<string, number>();
  private deferred: Batch[] = [];
  /** data-plane round trips under way, so that shutdown can wait for them */
  private readonly inFlight = new Set<Promise<unknown>>();
  /** endpoints whose bind on this node is being tried again (placement.ts), and whether one changed meanwhile */
  readonly binding = new Map<string, { again: boolean }>();
  /** the lowest free address of the SNAT range and of each subnet (by `<vpc id> <cidr>`) */
  private snatPool = snatPool();
  private readonly ipPools = new Map<string, LowestFree>();

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
    this.faults = new ProvisioningFaults(o.provisioningDelayMs ?? 0);
    this.faults.setSwitches('endpoint', o.failureSwitches?.endpoint ?? {});
    this.faults.setSwitches('service', o.failureSwitches?.service ?? {});
    this.unhealthyTermination = o.unhealthyTermination ?? NLB_UNHEALTHY_TERMINATION;
    for (const a of o.inventory.accounts) {
      if (a.token) this.accountsByToken.set(a.token, a);
      this.accountsByName.set(a.name, a);
    }
    for (const v of o.inventory.vpcs) this.vpcs.set(v.id, v);
    for (const v of o.apiVpcs ?? []) if (!this.vpcs.has(v.id)) this.vpcs.set(v.id, v);
    for (const g of o.securityGroups ?? []) this.securityGroups.set(g.id, g);
    for (const g of o.internetGateways ?? []) this.internetGateways.set(g.id, g);
    for (const a of o.networkAcls ?? []) this.networkAcls.set(a.id, a);
    this.vpcNumbers = o.inventory.vpcNumbers ?? {};
    this.retiredVpcNumbers = o.inventory.retiredVpcNumbers ?? {};
    for (const s of o.services) this.services.set(s.id, s);
    for (const e of o.endpoints) this.endpoints.set(e.id, upgradedEndpoint(e, this.vpcs, this.zones));
    for (const t of o.userRoutes ?? []) this.userRoutes.set(t.id, t.routes);
    for (const n of o.notifications ?? []) this.notifications.set(n.id, n);
    this.notificationTopics = o.notificationTopics ?? new Map();
    for (const lb of o.loadBalancers ?? []) this.loadBalancers.set(lb.id, lb);
    for (const tg of o.targetGroups ?? []) this.targetGroups.set(tg.id, tg);
    for (const [id, r] of o.publishedRecords ?? []) this.publishedRecords.set(id, r);
    for (const r of o.publicRecords ?? []) this.configuredRecords.set(normalRecordName(r.name), (this.configuredRecords.get(normalRecordName(r.name)) ?? 0) + 1);
    this.injectedFaults = o.injectedFaults ?? NO_FAULTS;
    for (const h of o.fleetHealth ?? []) this.fleetHealth.set(h.node, h);
    this.nodeId = o.nodeId;
    this.storeObserver = o.storeObserver;
    this.fleet = o.fleet;
    this.versions = new Map(o.stored?.versions ?? []);
    this.strict = o.stored !== undefined;
    this.storeRevision = o.stored?.revision ?? 0;
    this.claims = new Claims([...(o.stored?.claims ?? [])].map(([id, v]) => [id, (v as { holder: string }).holder, this.versions.get(keyOf('claim', id)) ?? -1]), o.nodeId !== undefined);
    this.endpoints.onRelease = (pool, ip) => this.released(pool, ip);
    this.claims.held.onRelease = (id) => {
      if (id.startsWith('snat/')) this.released('snat', id.slice(5));
      else if (id.startsWith('ip/')) this.released(id.slice(3, id.lastIndexOf('/')), id.slice(id.lastIndexOf('/') + 1));
    };
  }

  // ---- the mutation queue --------------------------------------------------------------------

  serial<T>(fn: () => Promise<T>, o: SerialOptions = {}, attempt = 0): Promise<T> {
    let release!: () => void;
    let handed = false;
    const released = new Promise<void>((resolve) => { release = resolve; });
    const pipelined = o.pipelined === true;
    const section: Section = { release: () => { handed = true; release(); }, pipelined };
    // batches of earlier mutations still on their way to disk: what they wrote is not visible yet
    let behind = false;
    const go = async () => {
      if (!pipelined) await this.commitsLanded();
      behind = this.committing.size > 0;
      return sections.run(section, fn);
    };
    const run = this.tail.then(go, go);
    // the next mutation prepares once this one has handed its batch to the store, or is done
    this.tail = Promise.race([released, run.catch(() => undefined)]);
    return run.catch(async (err: unknown) => {
      if (!(err instanceof StoreConflict)) {
        // refused on what it read while earlier batches were landing (a service still `creating`
        // whose `available` is on its way to disk): read again once they landed, once
        if (!(err instanceof DomainError) || !behind || handed || attempt > 0) throw err;
        await this.commitsLanded();
        return this.serial(fn, o, attempt + 1);
      }
      this.conflicts++;
      if (attempt >= CONFLICT_RETRIES) throw conflictError(err);
      this.storeObserver?.retried();
      // what the mutation read is refreshed by the batches in flight landing (and the claims it learnt)
      await this.commitsLanded();
      if (attempt < CATCH_UP_ATTEMPTS) await this.caughtUp(err);
      return this.serial(fn, o, attempt + 1);
    });
  }

  /**
   * Until this node's copy holds each document the store had changed at a lost compare-and-swap
   * (the watch, or a listing, brings it), for at most CATCH_UP_MS. For a few seconds after etcd
   * restarts, a node's writes go through before its watch resumes: its retries ran at once against
   * the same stale copy and answered StoreConflict after eight. Claims are left out: the claims
   * learn a lost one at once (claims.ts); but a client token's or an ELBv2 name's, whose retry
   * answers the resource that holds it, or a public zone's name's slot, whose retry refuses another
   * account's name (ANSWERED_CLAIMS): what holds it comes in the claim's batch.
   */
  private async caughtUp(err: StoreConflict): Promise<void> {
    const { current, through } = err;
    if (!current) return;
    const waited = (k: string) => !k.startsWith('claim/') || ANSWERED_CLAIMS.some((c) => k.startsWith(`claim/${c}`));
    // a kind's expectation: the watch past its newest document (this node's own too: its copy has
    // that already, but the bound the retry expects is the watch's)
    const behind = () => (through !== undefined && (this.watchedThrough ?? through) < through)
      || [...current].some(([k, v]) => waited(k) && (v === 0 ? this.versions.has(k) : (this.versions.get(k) ?? 0) < v));
    const until = Date.now() + CATCH_UP_MS;
    while (behind() && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 10));
  }

  /** once every batch handed to the store has landed (or failed) */
  async commitsLanded(): Promise<void> {
    while (this.committing.size) await Promise.allSettled([...this.committing]);
  }

  track(p: Promise<unknown>): void {
    this.inFlight.add(p);
    // a refusal of the domain's own (etcd unreachable while an activation commits: converge tries
    // again) is a condition with its message, not a fault in vpcepd: no stack trace in the log
    p.catch((err) => this.log.warn(err instanceof DomainError ? { error: err.name, err: err.message } : { err }, 'data-plane transition failed'))
      .finally(() => this.inFlight.delete(p));
  }

  /**
   * durable first, then visible. Every document written is expected at the version this node
   * knows (absent: 0), the endpoints' allocations are claimed (claims.ts); a lost compare-and-swap
   * throws StoreConflict, which serial() answers by running the mutation again. Answers the
   * store's revision of the batch. O: documents it requires unchanged, kinds it scanned (CommitOptions).
   */
  async commit(changes: readonly Change[], apply: () => void, o: CommitOptions = {}): Promise<number> {
    const all = [...changes];
    const expect: Expectation[] = [];
    for (const c of changes) {
      const version = this.versions.get(keyOf(c.kind, c.id)) ?? (this.strict ? 0 : undefined);
      if (version !== undefined) expect.push({ kind: c.kind, id: c.id, version });
    }
    for (const r of o.requires ?? []) {
      const version = this.versions.get(keyOf(r.kind, r.id));
      if (version !== undefined && !expect.some((x) => x.kind === r.kind && x.id === r.id)) expect.push({ kind: r.kind, id: r.id, version });
    }
    const through = this.watchedThrough;
    const kinds: KindExpectation[] = through === undefined ? [] : (o.scanned ?? []).map((kind) => ({ kind, through }));
    const claimed: string[] = [];
    const section = sections.getStore();
    // a service of the batch gives its endpoints' private DNS names after it (a name changed or removed)
    const batchServices = new Map(changes.filter((c) => c.kind === 'service').map((c) => [c.id, (c.value ?? undefined) as EndpointService | undefined]));
    const privateNames: PrivateNames = {
      before: (e) => privateNameKey(this.services.get(e.service_id)),
      after: (e) => privateNameKey(batchServices.has(e.service_id) ? batchServices.get(e.service_id) : this.services.get(e.service_id)),
    };
    try {
      for (const c of changes) {
        const other = this.claimedDocument(c);
        if (other) {
          const plan = this.claims.planDocument(other);
          all.push(...plan.changes);
          expect.push(...plan.expect);
          claimed.push(...plan.ids);
        }
        if (c.kind !== 'endpoint') continue;
        const before = this.pendingEndpoints.has(c.id) ? this.pendingEndpoints.get(c.id) ?? undefined : this.endpoints.get(c.id);
        const after = (c.value ?? undefined) as Endpoint | undefined;
        const owner = (after ?? before)?.owner;
        const quota = owner ? this.accountsByName.get(owner)?.quotas.endpoint ?? DEFAULTS.quotas.endpoint : 0;
        const plan = this.claims.plan(c.id, before, after, quota, privateNames);
        all.push(...plan.changes);
        expect.push(...plan.expect);
        claimed.push(...plan.ids);
      }
    } catch (err) {
      this.claims.settle(claimed);
      throw err;
    }
    // Only the batch of endpoints of a create or an activation lets the queue move on while it
    // lands (SerialOptions); any other batch lands first: the next mutation would read the state
    // before it (a quota of services, a unique name, the version it expects of a document).
    const pipelined = section?.pipelined === true && changes.every((c) => c.kind === 'endpoint' && c.value !== null);
    for (const c of changes) if (c.kind === 'endpoint') this.pendingEndpoints.set(c.id, c.value as Endpoint | null);
    const keys = all.map((c) => keyOf(c.kind, c.id));
    for (const k of keys) this.committingKeys.set(k, (this.committingKeys.get(k) ?? 0) + 1);
    const landing = this.store.commit(all, expect, kinds);
    this.committing.add(landing);
    if (pipelined) section?.release();
    let revision: number;
    try {
      revision = await landing;
    } catch (err) {
      // watched batches that waited for this commit go into memory now (the retry reads them)
      queueMicrotask(() => this.applyDeferred());
      if (err instanceof StoreConflict) {
        this.claims.learn(err.keys);
        if (!section) throw conflictError(err);
        throw err;
      }
      if (err instanceof StoreFull) throw new DomainError('StoreFull', err.message);
      if (err instanceof StoreUnavailable) throw new DomainError('StoreUnavailable', err.message);
      throw err;
    } finally {
      if (!pipelined) section?.release();
      this.claims.settle(claimed);
      for (const c of changes) if (c.kind === 'endpoint' && this.pendingEndpoints.get(c.id) === c.value) this.pendingEndpoints.delete(c.id);
      this.committing.delete(landing);
      for (const k of keys) {
        const n = this.committingKeys.get(k)! - 1;
        if (n) this.committingKeys.set(k, n);
        else this.committingKeys.delete(k);
      }
    }
    this.storeRevision = Math.max(this.storeRevision, revision);
    for (const c of all) {
      if (c.value === null) this.versions.delete(keyOf(c.kind, c.id));
      else this.versions.set(keyOf(c.kind, c.id), revision);
    }
    this.claims.committed(all, revision);
    const before = changes.filter((c) => c.kind === 'endpoint').map((c) => ({ id: c.id, e: this.endpoints.get(c.id) }));
    apply();
    this.revision++;
    for (const b of before) this.emitConnectionEvents(b.e, this.endpoints.get(b.id));
    this.applyDeferred();
    return revision;
  }

  /**
   * writes a document this node alone writes (its published probe states: fleet-health.ts) outside
   * the mutation queue, with no expectation: no other writer races it, and memory learns it from the watch
   */
  async writeOwn(change: Change): Promise<void> {
    await this.store.commit([change]);
  }

  // ---- other writers' batches (a shared store: follow.ts) ------------------------------------

  /** whether another daemon sharing the store serves this endpoint */
  servedElsewhere(id: string): boolean {
    return this.placedElsewhere(this.pendingEndpoints.get(id) ?? this.endpoints.get(id));
  }

  /** whether an endpoint (one not stored yet too) is placed on another daemon sharing the store */
  placedElsewhere(e: Endpoint | null | undefined): boolean {
    return this.nodeId !== undefined && e?.node !== undefined && e.node !== this.nodeId;
  }

  /** the node a new interface endpoint is placed on: the least loaded live node (issue 17); none on SQLite */
  placeNew(): string | undefined {
    if (this.nodeId === undefined) return undefined;
    const live = new Set((this.fleet?.nodes() ?? []).map((n) => n.id));
    live.add(this.nodeId);
    // a walk of every endpoint, on a fleet only, where etcd's round trip dwarfs it
    return leastLoaded(loads(placedOf([...this.endpointsLanding()]), [...live])) ?? this.nodeId;
  }

  /**
   * The endpoint OWNER made with a client token, as the commits under way leave it, and whether
   * its commit is still under way; undefined: none (a walk of the account's endpoints only)
   */
  endpointOfToken(owner: string, token: string): { endpoint: Endpoint; landing: boolean } | undefined {
    for (const e of this.pendingEndpoints.values()) if (e?.owner === owner && e.client_token?.token === token) return { endpoint: e, landing: true };
    for (const id of this.endpoints.idsOf(owner)) {
      const e = this.endpoints.get(id)!;
      if (e.client_token?.token === token && !this.pendingEndpoints.has(id)) return { endpoint: e, landing: false };
    }
    return undefined;
  }

  /** every endpoint as it is once the commits under way land: new ones in, deleted ones out */
  *endpointsLanding(): Iterable<Endpoint> {
    for (const e of this.endpoints.values()) if (!this.pendingEndpoints.has(e.id)) yield e;
    for (const e of this.pendingEndpoints.values()) if (e) yield e;
  }

  /**
   * A committed batch seen by the watch: what this daemon does not know yet (another writer's
   * documents, newer than its version) goes into memory. Keys of its own commits under way wait
   * for them. Returns the endpoints this daemon serves that changed, those placed elsewhere that
   * it served (follow.ts tears them down), and the other documents that changed (follow.ts
   * re-applies what depends on them).
   */
  applyWatched(b: Batch): Watched {
    const ours: string[] = [];
    const documents: Array<{ kind: Kind; id: string }> = [];
    let changed = false;
    for (const c of b.changes) {
      const key = keyOf(c.kind, c.id);
      if (this.committingKeys.has(key)) {
        this.deferred.push({ revision: b.revision, changes: [c] });
        continue;
      }
      if ((this.versions.get(key) ?? 0) >= b.revision) continue;
      if (c.value === null && !this.versions.has(key) && !this.known(c.kind, c.id)) continue;
      changed = true;
      const servedHere = c.kind === 'endpoint' && this.endpoints.has(c.id) && !this.servedElsewhere(c.id);
      if (c.value === null) this.versions.delete(key);
      else this.versions.set(key, b.revision);
      this.setDocument(c);
      if (c.kind === 'endpoint' && (servedHere || !this.servedElsewhere(c.id))) ours.push(c.id);
      else if (c.kind !== 'endpoint' && c.kind !== 'claim') documents.push({ kind: c.kind, id: c.id });
      // another writer finished a deletion: this daemon's listeners forget it too (never awaited here)
      if (c.value === null && (c.kind === 'endpoint' || c.kind === 'service')) this.track(this.removed(c.kind, c.id));
    }
    if (changed) {
      this.revision++;
      this.storeRevision = Math.max(this.storeRevision, b.revision);
      this.storeObserver?.watched();
    }
    if (this.watchedThrough !== undefined) this.watchedThrough = Math.max(this.watchedThrough, b.revision);
    return { endpoints: ours, documents };
  }

  private applyDeferred(): void {
    if (!this.deferred.length || this.committingKeys.size) return;
    const waiting = this.deferred;
    this.deferred = [];
    for (const b of waiting) this.watchedListener?.(this.applyWatched(b));
  }

  /** told what another writer changed of what this daemon serves (follow.ts reacts on the data plane) */
  watchedListener: ((changed: Watched) => void) | undefined;

  private known(kind: Kind, id: string): boolean {
    return kind === 'claim' ? this.claims.held.has(id) : kind === 'endpoint' ? this.endpoints.has(id) : kind === 'service' ? this.services.has(id)
      : kind === 'dnsrecord' ? this.publishedRecords.has(id) : false;
  }

  /** one document of another writer into memory */
  private setDocument(c: Change): void {
    const put = <T>(m: Map<string, T>, v: T | null) => (v === null ? m.delete(c.id) : m.set(c.id, v));
    switch (c.kind) {
      case 'endpoint': return void put(this.endpoints, c.value === null ? null : upgradedEndpoint(c.value as Endpoint, this.vpcs, this.zones));
      case 'service': return void put(this.services, c.value as EndpointService | null);
      case 'notification': return void put(this.notifications, c.value as ConnectionNotification | null);
      case 'loadbalancer': return void put(this.loadBalancers, c.value as LoadBalancer | null);
      case 'targetgroup': return void put(this.targetGroups, c.value as TargetGroup | null);
      case 'securitygroup': return void put(this.securityGroups, c.value as SecurityGroup | null);
      case 'internetgateway': return void put(this.internetGateways, c.value as InternetGateway | null);
      case 'networkacl': return void put(this.networkAcls, c.value as NetworkAcl | null);
      case 'apivpc': return void put(this.vpcs, c.value as Vpc | null);
      case 'dnsrecord': return void put(this.publishedRecords, c.value as PublishedRecord | null);
      case 'targethealth': return void put(this.fleetHealth, c.value as PublishedTargetHealth | null);
      case 'faultverdict': return void put(this.faultVerdicts, c.value as FaultVerdict | null);
      case 'routetable': return void put(this.userRoutes, c.value === null ? null : (c.value as { routes: Route[] }).routes);
      case 'claim': return this.claims.committed([c], this.versions.get(keyOf('claim', c.id)) ?? -1);
      case 'meta': return this.setMeta(c.id, c.value);
      case 'fault':
        if (c.id === FAULTS_DOCUMENT) this.injectedFaults = (c.value as InjectedFaults | null) ?? NO_FAULTS;
        return undefined;
      // accounts and config VPCs come from the config every daemon reads at start
      default: return undefined;
    }
  }

  /**
   * a meta document another writer changed: the zones down, the activation delay, the failure
   * switches and the VPC numbers are the region's, so every node follows them (the others are written at start from
   * the config, which every node reads)
   */
  private setMeta(id: string, value: unknown): void {
    if (value === null) return;
    if (id === 'zones_down') {
      this.zonesDown.clear();
      for (const z of Object.keys(value as Record<string, number>)) if (this.zones.includes(z)) this.zonesDown.add(z);
    } else if (id === PROVISIONING_DELAY) {
      this.faults.delayMs = (value as { ms: number }).ms;
    } else if (id === FAILURE_SWITCHES.endpoint || id === FAILURE_SWITCHES.service) {
      this.faults.setSwitches(id === FAILURE_SWITCHES.endpoint ? 'endpoint' : 'service', value as Record<string, string>);
    } else if (id === 'vpc_numbers') {
      this.vpcNumbers = value as Record<string, number>;
    } else if (id === RETIRED_VPC_NUMBERS) {
      this.retiredVpcNumbers = value as Record<string, number>;
    }
  }

  /** the documents (`kind/id`) this node knows that SNAP does not hold */
  missingFrom(snap: Snapshot): string[] {
    return [...this.versions.keys()].filter((k) => !snap.versions.has(k));
  }

  /** after a compaction, a lost watch or a reset store: memory as the store holds it now (the caller reconciles the data plane) */
  replaceFrom(snap: Snapshot): void {
    const docs = snap.documents;
    const reset = <T>(m: Map<string, T>, kind: Kind, f: (v: unknown) => T = (v) => v as T) => {
      m.clear();
      for (const [id, v] of docs.get(kind) ?? []) m.set(id, f(v));
    };
    reset(this.endpoints, 'endpoint', (v) => upgradedEndpoint(v as Endpoint, this.vpcs, this.zones));
    reset(this.services, 'service');
    reset(this.notifications, 'notification');
    reset(this.loadBalancers, 'loadbalancer');
    reset(this.targetGroups, 'targetgroup');
    reset(this.securityGroups, 'securitygroup');
    reset(this.internetGateways, 'internetgateway');
    reset(this.networkAcls, 'networkacl');
    reset(this.userRoutes, 'routetable', (v) => (v as { routes: Route[] }).routes);
    reset(this.publishedRecords, 'dnsrecord');
    reset(this.fleetHealth, 'targethealth');
    reset(this.faultVerdicts, 'faultverdict');
    // the config's VPCs stay (every node reads them from its config); an API VPC the store no longer holds goes
    for (const k of this.missingFrom(snap)) if (k.startsWith('apivpc/')) this.vpcs.delete(k.slice('apivpc/'.length));
    for (const [id, v] of docs.get('apivpc') ?? []) this.vpcs.set(id, v as Vpc);
    for (const [id, v] of docs.get('meta') ?? []) this.setMeta(id, v);
    this.injectedFaults = (docs.get('fault')?.get(FAULTS_DOCUMENT) as InjectedFaults | undefined) ?? NO_FAULTS;
    this.versions.clear();
    for (const [k, v] of snap.versions) this.versions.set(k, v);
    this.claims.held.clear();
    for (const [id, v] of docs.get('claim') ?? []) this.claims.held.set(id, { holder: (v as { holder: string }).holder, version: snap.versions.get(keyOf('claim', id)) ?? -1 });
    this.storeRevision = snap.revision;
    if (this.watchedThrough !== undefined) this.watchedThrough = snap.revision;
    this.revision++;
    // the pools' cursors start over: what the store holds now may have let addresses go
    this.snatPool = snatPool();
    this.ipPools.clear();
  }

  /** tells the removal listeners (outside the mutation queue: a listener may queue its own mutation); one that fails is logged */
  async removed(kind: 'endpoint' | 'service' | 'ports', id: string): Promise<void> {
    for (const listener of this.removalListeners) {
      try {
        await listener(kind, id);
      } catch (err) {
        this.log.warn({ err, kind, id }, 'removal listener failed');
      }
    }
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

  /** set once the daemon stops: work that waits for the store (a removal tried again) gives up, for the next start to finish */
  stopping = false;

  /** waits for mutations and data-plane round trips under way */
  async settle(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
    await this.tail.catch(() => undefined);
    await this.commitsLanded();
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
    for (const id of this.endpoints.idsOfService(serviceId)) if (LIVE_ENDPOINT_STATUSES.has(this.endpoints.get(id)!.status)) n++;
    return n;
  }

  /**
   * what a change of a service, security group, load balancer, target group, internet gateway or
   * published record claims (claims.ts): a new service its slot of the account's quota, a group its
   * name in its VPC, a load balancer or target group its name in its account, an attached gateway
   * its VPC, a new record its slots of its name's records and of its account's; a
   * service, notification, network ACL or route table (its VPC's document) made with a client token
   * that token in its account; null for other kinds
   */
  private claimedDocument(c: Change): ClaimedDocument | null {
    const value = c.value as { owner?: string; name?: string; vpc_id?: string } | null;
    switch (c.kind) {
      case 'service': {
        const s = c.value as EndpointService | null;
        if (!s || this.services.has(c.id) || s.public) return s ? null : { holder: `service/${c.id}` };
        const account = this.accountsByName.get(s.owner);
        const count = account?.quotas.endpoint_service ?? DEFAULTS.quotas.endpoint_service;
        let from = 0;
        for (const x of this.services.values()) if (x.owner === s.owner) from++;
        return {
          holder: `service/${c.id}`, values: s.client_token ? [tokenClaim('service', s.owner, s.client_token.token)] : [],
          quotas: [{ slot: (n) => serviceQuotaClaim(s.owner, n), count, from, exceeded: `quota exceeded: at most ${count} endpoint services per account` }],
        };
      }
      case 'notification': return tokenDocument(c, this.notifications);
      case 'networkacl': return tokenDocument(c, this.networkAcls);
      // a VPC's document holds its route tables: the tokens of those made with one
      case 'apivpc': {
        const v = c.value as Vpc | null;
        return { holder: `apivpc/${c.id}`, values: v?.route_tables.flatMap((t) => (t.client_token ? [tokenClaim('routetable', v.account, t.client_token.token)] : [])) };
      }
      // the loser of two writers racing for a name or a VPC is refused as if it had seen the winner
      case 'securitygroup': return {
        holder: `securitygroup/${c.id}`, values: value ? [`sg-name/${value.vpc_id}/${value.name}`] : undefined,
        taken: () => new DomainError('DuplicateGroupName', `The security group '${value?.name}' already exists for VPC '${value?.vpc_id}'`),
      };
      // the loser of a race for a name answers the winner's load balancer or target group, or refuses
      // by its settings, once its batch is here (caughtUp); past that, StoreConflict: try again
      // and each target group its listeners forward to: two nodes giving one group to two load
      // balancers at once never both win (the loser refused as if it had seen the winner)
      case 'loadbalancer': {
        const lb = c.value as LoadBalancer | null;
        const groups = lb ? [...new Set(lb.listeners.map((l) => l.target_group_id))] : [];
        return {
          holder: `loadbalancer/${c.id}`, values: lb ? [loadBalancerNameClaim(lb.owner, lb.name), ...groups.map(targetGroupLoadBalancerClaim)] : undefined,
          taken: (claim) => {
            const tg = groups.find((g) => targetGroupLoadBalancerClaim(g) === claim);
            return tg === undefined ? null : new DomainError('TargetGroupAssociationLimit', `The following target groups cannot be associated with more than one load balancer: ${this.targetGroups.get(tg)?.name ?? tg}`);
          },
        };
      }
      case 'targetgroup': return { holder: `targetgroup/${c.id}`, values: value ? [targetGroupNameClaim(value.owner!, value.name!)] : undefined };
      // a record of the public zone: its slot of its name's records (after the config's there) and of
      // its account's quota (private-dns.ts PublicZone); two nodes publishing at once never pass either,
      // nor do two accounts both publish first at one name (both take its slot 0: claims.ts)
      case 'dnsrecord': {
        const r = c.value as PublishedRecord | null;
        if (!r) return { holder: `dnsrecord/${c.id}` };
        if (this.publishedRecords.has(c.id)) return null;
        let atName = 0;
        let own = 0;
        for (const x of this.publishedRecords.values()) {
          if (x.name === r.name) atName++;
          if (x.owner === r.owner) own++;
        }
        const perName = MAX_RECORDS_PER_NAME - (this.configuredRecords.get(r.name) ?? 0);
        const quota = this.accountsByName.get(r.owner)?.quotas.dns_records ?? DEFAULTS.quotas.dns_records;
        return {
          holder: `dnsrecord/${c.id}`, values: [], quotas: [
            { slot: (n) => recordNameClaim(r.name, n), count: perName, from: atName, exceeded: `a name of the public zone holds at most ${MAX_RECORDS_PER_NAME} records` },
            { slot: (n) => recordQuotaClaim(r.owner, n), count: quota, from: own, exceeded: `quota exceeded: at most ${quota} records of the public zone per account` },
          ],
        };
      }
      // a VPC has at most one internet gateway: two nodes attaching two at once never both win
      case 'internetgateway': return {
        holder: `internetgateway/${c.id}`, values: value ? (value.vpc_id ? [`igw-vpc/${value.vpc_id}`] : []) : undefined,
        taken: () => new DomainError('GatewayAlreadyAttached', `Network ${value?.vpc_id} already has an internet gateway attached`),
      };
      default: return null;
    }
  }

  /** the service's endpoints awaiting acceptance */
  pendingCount(serviceId: string): number {
    let n = 0;
    for (const id of this.endpoints.idsOfService(serviceId)) if (this.endpoints.get(id)!.status === 'pendingAcceptance') n++;
    return n;
  }

  usage(caller: Account): { endpoint_service: number; endpoint: number } {
    let services = 0;
    for (const s of this.services.values()) if (s.owner === caller.name) services++;
    let endpoints = this.endpoints.idsOf(caller.name).size;
    // the commits under way: a new endpoint counts, a deleted one no longer does
    for (const [id, e] of this.pendingEndpoints) {
      const was = this.endpoints.get(id);
      if (!was && e?.owner === caller.name) endpoints++;
      else if (was && !e && was.owner === caller.name) endpoints--;
    }
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
      zones: this.zones,
      internetGateways: this.internetGateways,
    });
  }

  // ---- allocations ---------------------------------------------------------------------------

  /** the dialect's id for a new endpoint when it gives one (AWS: `vpce-` + 17 hex), checked unique; else a UUID */
  newEndpointId(wanted?: string): string {
    if (wanted === undefined) return randomUUID();
    if (this.endpoints.has(wanted) || this.pendingEndpoints.has(wanted)) throw new DomainError('InvalidParameter', `endpoint id ${wanted} is already taken`);
    return wanted;
  }

  newMarkerId(): number {
    // the index and the commits under way: no walk of every endpoint
    for (;;) {
      const m = randomInt(1, 2 ** 31 - 1);
      if (this.claims.taken(markerClaim(m)) || this.endpoints.hasMarker(m)) continue;
      let taken = false;
      for (const e of this.pendingEndpoints.values()) if (e?.marker_id === m) taken = true;
      if (!taken) return m;
    }
  }

  /**
   * The lowest SNAT address of 198.19.128.0/17 no endpoint and no claim holds (never the network or
   * broadcast address); on a fleet (a node id) a free one at random, so that racing nodes rarely
   * pick the same (newPrivateIp and the quota slot likewise).
   */
  newSnatIp(): string {
    const used = (i: number) => {
      const ip = intToIp(i);
      if (this.claims.taken(snatClaim(ip)) || this.endpoints.hasSnatIp(ip)) return true;
      for (const e of this.pendingEndpoints.values()) if (e?.snat_ip === ip) return true;
      return false;
    };
    const found = this.nodeId === undefined ? this.snatPool.find(used) : this.snatPool.spread(used);
    if (found === null) throw new DomainError('QuotaExceeded', 'every SNAT address of 198.19.128.0/17 is in use');
    return intToIp(found);
  }

  /**
   * The lowest free private IP of SUBNET (its network, router and last addresses never; RESERVED
   * neither) in VPC: not a port's, not an ENI's of an endpoint (stored, or in a commit under way),
   * not claimed by another writer, not in TAKEN (this request's other ENIs); null when it is full.
   */
  newPrivateIp(vpc: Vpc, subnetCidr: string, reserved: ReadonlySet<string>, taken: ReadonlySet<string>): string | null {
    const key = `${vpc.id} ${subnetCidr}`;
    let pool = this.ipPools.get(key);
    if (!pool) {
      const c = cidrOf(subnetCidr);
      this.ipPools.set(key, (pool = new LowestFree(c.base + 2, lastAddress(c) - 1)));
    }
    let ports: Set<string> | undefined;
    const used = (i: number) => {
      const ip = intToIp(i);
      if (reserved.has(ip) || taken.has(ip) || this.endpoints.hasIp(vpc.id, ip) || this.claims.taken(ipClaim(vpc.id, ip))) return true;
      ports ??= new Set(vpc.ports.map((p) => p.ip));
      if (ports.has(ip)) return true;
      for (const e of this.pendingEndpoints.values()) if (e?.vpc_id === vpc.id && e.enis.some((n) => n.ip === ip)) return true;
      return false;
    };
    const found = this.nodeId === undefined ? pool.find(used) : pool.spread(used);
    return found === null ? null : intToIp(found);
  }

  /** whether IP of VPC is an ENI's (stored or in a commit under way) or claimed by another writer (a requested address) */
  ipInUse(vpcId: string, ip: string): boolean {
    if (this.endpoints.hasIp(vpcId, ip) || this.claims.taken(ipClaim(vpcId, ip))) return true;
    for (const e of this.pendingEndpoints.values()) if (e?.vpc_id === vpcId && e.enis.some((n) => n.ip === ip)) return true;
    return false;
  }

  /** an address may be free again: the pools' cursors move back to it */
  private released(pool: string, ip: string): void {
    const n = ipToInt(ip);
    if (pool === 'snat') return this.snatPool.released(n);
    for (const [key, p] of this.ipPools) if (key.startsWith(`${pool} `) && cidrContains(cidrOf(key.slice(pool.length + 1)), n)) p.released(n);
  }
}

/** the interface endpoints as placement counts them (gateway endpoints have no ENI: every node routes them) */
export function* placedOf(endpoints: Iterable<Endpoint>): Generator<Placed> {
  for (const e of endpoints) if (e.service_type === 'interface') yield { id: e.id, node: e.node, enis: e.enis.length, pinned: e.status === 'creating' };
}

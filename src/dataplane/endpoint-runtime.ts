// One live interface endpoint on the data plane: a listener per ENI (one per zone) and terminal
// port on the ENI's host address, its admission gate, its connections and its counters; each
// connection's backend chosen among the port's targets by the ENI's zone and their health.
import { bytesPerSecond } from '../model/bandwidth.js';
import { chooseBackend, choiceIndex, choiceReason, CHOICE_REASONS, compileChoice, flowHash, NO_CHOICE, type ChoiceInputs, type ChoiceReason, type ChoiceRules } from '../model/backend-choice.js';
import type { Backend, BackendTargetSpec, LiveAclRule, LiveEndpoint, LiveEni } from '../model/events.js';
import { targetKey, type ProbeState } from '../model/health.js';
import { PROXY_V2_MODES } from '../model/types.js';
import { cidrOf, intToIp, ipToInt, type Cidr } from '../net/cidr.js';
import { encodeProxyV2 } from '../net/proxy-v2.js';
import { SnatPortPool } from '../net/snat-pool.js';
import type { ToxicLink } from './toxics/link.js';
import { flowOrigin, type FlowLog, type FlowOrigin } from '../telemetry/flow-log.js';
import { bindFailure, type BindFailure } from './bind-failure.js';
import { admit, REFUSAL_REASONS, type AclGateRule, type DaemonLoad, type EndpointGate, type GateRule, type NetworkAclGate, type RefusalReason } from './admission.js';
import { Phase, type BackendTarget, type CloseReason, type ConnectionOwner, type FastBrief, type FastOpened, type ListenerSink, type LiveConnection, type PendingClient, type RouteKey, type TcpListener } from './connection.js';
import { compileGate, type FastLoad } from './fast-path.js';
import type { NativeRelay } from './native-relay.js';
import { ThreadSnatPorts, type SnatPorts } from './thread-snat-ports.js';

/** What every endpoint shares: the data plane's settings, load, clock and instruments. */
export interface DataPlaneContext {
  readonly snatMode: 'kernel' | 'logical';
  /** the source ports each endpoint's SNAT address hands out; none left: snat_exhausted */
  readonly snatPorts: { readonly low: number; readonly high: number };
  readonly connectTimeoutMs: number;
  readonly load: DaemonLoad;
  now(): number;
  /** the simulated address of a client's host address (integers: the PROXY header, the flow logs) */
  simulatedSourceIp(hostIp: number): number;
  /** the VPC number of a client's host address, or null for a client outside every VPC */
  clientVpc(ip: number): number | null;
  /** listens on host:port, the listener counted in the descriptor budget while open */
  listen(host: string, port: number, sink: ListenerSink): Promise<TcpListener>;
  /** ZONE: the ENI's zone it came in through (null: a routed connection) */
  connectionOpened(zone: string | null): void;
  connectionClosed(reason: CloseReason): void;
  /** an endpoint's counters, kept across its runtimes until it is deleted */
  tally(endpointId: string): EndpointTally;
  observeConnect(endpointId: string, seconds: number): void;
  /** `err`: the exception, when handling the client threw (reason `error`) */
  refused(endpointId: string, reason: RefusalReason, client: string, err?: unknown): void;
  /** the connection flow log, or null when off (nothing built, nothing called) */
  readonly flowLog: FlowLog | null;
  /** whether a zone is down (a simulated outage, ChangeEvent 'zones'); null: a backend outside every zone, never down */
  zoneDown(zone: string | null): boolean;
  /** what backend choice reads: the health view and the zones down */
  readonly choice: ChoiceInputs;
  /** backend choices by reason, daemon-wide */
  readonly choices: Record<ChoiceReason, number>;
  /** a service's backend's counters, shared by every endpoint of the service */
  backendStats(serviceId: string, key: string, zone: string | null): BackendStats;
  /** connections relayed to backends by zone (null: outside every zone), daemon-wide since start */
  readonly backendZoneConnections: Map<string | null, number>;
  /** the toxics a new connection of this endpoint, port and zone is relayed through; null: none covers it (the plain relay) */
  toxicLink(endpoint: string, service: string, port: number, zone: string): ToxicLink | null;
  /** whether Toxiproxy's API took the proxy of this endpoint's port down (its listeners closed) */
  proxyDisabled(endpoint: string, port: number): boolean;
  /** the native relay whose threads accept, admit and connect compiled endpoints (the fast path); null: none */
  readonly fastRelay?: NativeRelay | null;
  /** the data plane's count of the threads' connections it has heard of (absent without the fast path) */
  readonly fastLoad?: FastLoad;
  /** the daemon's load changed (the threads' copy of it is written) */
  loadChanged?(): void;
  /** whether some toxic covers new connections of this endpoint, port and zone (nothing made) */
  toxicCovers?(endpoint: string, service: string, port: number, zone: string): boolean;
}

/** one backend's counters (per service): the metrics read them at scrape time */
export interface BackendStats {
  readonly service: string;
  readonly key: string;
  zone: string | null;
  active: number;
  connections: number;
  /** connects that failed (unreachable, timed out, reset) */
  failures: number;
}

/** a backend this runtime relays to, or still drains: its connections and counters */
interface BackendSlot {
  /** its address (targetKey: host:port), as the metrics name it */
  readonly key: string;
  /** the key its probe state is kept under (its port's target group's probe of it; else `key`) */
  probeKey: string;
  zone: string | null;
  readonly stats: BackendStats;
  readonly conns: Set<LiveConnection>;
  /** the terminal port it serves: that port's drain_ms and unhealthy_cut_ms apply */
  readonly clientPort: number;
  draining: boolean;
  /** when a draining backend's connections are cut (ctx.now() ms; Infinity: when they end) */
  cutAt: number;
  /** when the connections of a backend that turned unhealthy are cut (its port's unhealthy_cut_ms later; Infinity: not pending, or none left to cut) */
  unhealthyCutAt: number;
}

/**
 * An endpoint's backends, by terminal port and address: a real server behind two listeners (a
 * target in two target groups of one NLB) is two slots, each drained and cut by its own group's
 * rules; one slot by address made a deregistration from one group keep the other's port's
 * connections and theirs alike. Two lookups per connection, no key made.
 */
class Slots {
  private readonly byPort = new Map<number, Map<string, BackendSlot>>();

  get(port: number, key: string): BackendSlot | undefined {
    return this.byPort.get(port)?.get(key);
  }

  set(slot: BackendSlot): void {
    let m = this.byPort.get(slot.clientPort);
    if (m === undefined) this.byPort.set(slot.clientPort, m = new Map());
    m.set(slot.key, slot);
  }

  delete(slot: BackendSlot): void {
    const m = this.byPort.get(slot.clientPort);
    if (m === undefined || m.get(slot.key) !== slot) return;
    m.delete(slot.key);
    if (m.size === 0) this.byPort.delete(slot.clientPort);
  }

  *values(): IterableIterator<BackendSlot> {
    for (const m of this.byPort.values()) yield* m.values();
  }

  /** the slots whose health one probe says (an address on every terminal port whose group probes it so): at a change of state, not per connection */
  withProbeKey(probeKey: string): BackendSlot[] {
    const out: BackendSlot[] = [];
    for (const m of this.byPort.values()) {
      for (const s of m.values()) if (s.probeKey === probeKey) out.push(s);
    }
    return out;
  }
}

/** Per-endpoint counters: the metrics read them at scrape time. */
export interface EndpointCounters {
  connections: number;
  readonly rejected: Record<RefusalReason, number>;
  /** bytes of closed connections; live ones are added at read time */
  receivedBytes: number;
  sentBytes: number;
  /** admitted connections that ended, by how */
  readonly closed: Record<CloseReason, number>;
}

/**
 * What outlives an endpoint's runtime for as long as the endpoint exists (a reject and a re-accept
 * included): its counters, and the connections still closing after a cut, whose bytes count once closed.
 */
export interface EndpointTally {
  readonly counters: EndpointCounters;
  readonly connections: Set<LiveConnection>;
  /** the fast path's endpoint handles of its runtimes: the bytes of the threads' connections, counted there (dropped at its deletion) */
  readonly fast: Array<{ readonly relay: NativeRelay; readonly handle: number }>;
}

/**
 * counters at zero, every reason present, in the order of REFUSAL_REASONS and CLOSE_REASONS (a unit
 * test holds them to it): object literals, whose fields sit inside the object with one shape shared
 * by every endpoint; built from the lists, each endpoint's had a dictionary of its own
 */
export function newCounters(): EndpointCounters {
  return {
    connections: 0,
    rejected: {
      cap: 0, whitelist: 0, policy: 0, not_accepted: 0, daemon_limit: 0, fd_limit: 0, snat_exhausted: 0,
      backend_unreachable: 0, backend_timeout: 0, backend_error: 0, vpc: 0, on_premises: 0, security_group: 0, error: 0, zone_down: 0, network_acl: 0,
    },
    receivedBytes: 0,
    sentBytes: 0,
    closed: { done: 0, idle: 0, cut: 0, unhealthy: 0, client_reset: 0, backend_reset: 0, backend_failed: 0, error: 0 },
  };
}

export function newTally(): EndpointTally {
  return { counters: newCounters(), connections: new Set(), fast: [] };
}

/** bytes so far: closed connections plus what live ones have moved */
export function tallyBytes(t: EndpointTally): { received: number; sent: number } {
  const b = { received: t.counters.receivedBytes, sent: t.counters.sentBytes };
  // the relay threads' connections: one pair of counters per handle, no walk over them
  for (const f of t.fast) {
    const s = f.relay.fastEndpointStats(f.handle);
    if (s !== null) {
      b.received += s.received;
      b.sent += s.sent;
    }
  }
  for (const c of t.connections) {
    if (c.threadPort !== true) c.addBytes(b);
    else if (c.offThreads === true) c.addBytesOffThreads!(b);
  }
  return b;
}

/**
 * what the toxics' scopes see of a routed connection (README "Fault injection"): its gateway
 * endpoint ('' on the internet path), the public service, and the zone of the client's subnet ('':
 * a client outside every VPC, in no zone)
 */
export interface RoutedScope {
  readonly endpoint: string;
  readonly service: string;
  readonly zone: string;
}

/**
 * A listener of one ENI and terminal port; a connection accepted there belongs to the ENI's zone.
 * It is its own sink (methods on the prototype): no closures, no key text per listener.
 */
class Listener implements ListenerSink {
  /** the socket, once bound (null while binding) */
  server: TcpListener | null = null;
  /** false once closed: a client the relay still hands over is refused (not_accepted) */
  open = true;
  /** the ENI's simulated address as an integer (the PROXY header's destination) and its host address (the flow hash's) */
  readonly eniIp: number;
  readonly eniHostIp: number;
  /** the backend's targets (one for a one-backend spec) and the choice rules, set on every update */
  targets: readonly BackendTargetSpec[];
  rules: ChoiceRules;
  /** the rules of its ENI's subnet's network ACL, both directions, set on every update; null: not enforced */
  acl: NetworkAclGate | null;

  constructor(readonly owner: EndpointRuntime, readonly eni: LiveEni, readonly port: number, public backend: Backend, spec: LiveEndpoint) {
    this.eniIp = ipToInt(eni.ip);
    this.eniHostIp = ipToInt(eni.host_ip);
    this.targets = targetsOf(backend);
    this.rules = rulesOf(spec, backend, eni.zone);
    this.acl = aclOf(eni);
  }

  onClient(client: PendingClient): void {
    this.owner.accept(client, this);
  }

  // Accept errors (EMFILE, ...) are counted, never fatal.
  onAcceptError(reason: 'fd_limit' | 'backend_error' | 'error', err?: unknown): void {
    this.owner.acceptFailed(reason, err);
  }

  /** the fast path: a relay thread admitted and connected a client here */
  onFastOpened(opened: FastOpened): void {
    this.owner.adopt(opened, this);
  }

  /** the fast path: a relay thread refused a client here */
  onFastRefused(code: number, ip: number, _port: number, target: number, choiceReason: number): void {
    this.owner.fastRefused(this, code, ip, target, choiceReason);
  }

  /** the fast path: a relay thread opened and closed a client here before reporting it */
  onFastBrief(brief: FastBrief): void {
    this.owner.fastBrief(brief, this);
  }

  close(): void {
    this.open = false;
    this.server?.close();
  }
}

/** the targets a terminal port's connections go to: its target group's, or its one host and port */
export function targetsOf(b: Backend): readonly BackendTargetSpec[] {
  return b.targets ?? [{ key: targetKey(b.host, b.port), host: b.host, port: b.port, zone: null }];
}

/** the choice rules of a terminal port's connections on the ENI in ZONE */
function rulesOf(spec: LiveEndpoint, b: Backend, zone: string): ChoiceRules {
  return { zone, crossZone: b.cross_zone ?? true, zoneAffinity: spec.zone_affinity === true };
}

/** the update's listeners are keyed by host address and port: each ENI listens on every terminal port */
const listenerKey = (host: string, port: number): string => `${host}:${port}`;

/** what an endpoint whose listeners set no idle timeout holds: one shared empty map */
const NO_IDLE_TIMEOUTS: ReadonlyMap<number, number> = new Map();

/** the terminal ports whose NLB listener sets an idle timeout, and that timeout (ms) */
function idleByPort(spec: LiveEndpoint): ReadonlyMap<number, number> {
  const set = spec.backends.filter((b) => b.idle_timeout_ms !== undefined);
  return set.length === 0 ? NO_IDLE_TIMEOUTS : new Map(set.map((b) => [b.client_port, b.idle_timeout_ms!]));
}

/** what an endpoint without whitelist entries holds: one shared empty list */
const NO_CIDRS: readonly Cidr[] = Object.freeze([]);

function whitelistOf(spec: LiveEndpoint): readonly Cidr[] {
  return spec.whitelist.length === 0 ? NO_CIDRS : spec.whitelist.map(cidrOf);
}

function aclOf(eni: LiveEni): NetworkAclGate | null {
  const acl = eni.network_acl;
  return acl ? { inbound: acl.inbound.map(aclRuleOf), outbound: acl.outbound.map(aclRuleOf) } : null;
}

function aclRuleOf(r: LiveAclRule): AclGateRule {
  return { cidr: cidrOf(r.cidr), from: r.from_port, to: r.to_port, allow: r.allow };
}

function gateRules(spec: LiveEndpoint): GateRule[] | null {
  return spec.security_rules ? spec.security_rules.map((r) => ({ cidr: cidrOf(r.cidr), from: r.from_port, to: r.to_port })) : null;
}

/** client addresses a runtime remembers for its flow log records */
const FLOW_SOURCES_KEPT = 1024;

export class EndpointRuntime implements EndpointGate, ConnectionOwner {
  spec: LiveEndpoint;
  active: number;
  cap: number;
  whitelistEnabled: boolean;
  whitelist: readonly Cidr[];
  securityRules: GateRule[] | null;
  readonly vpcNumber: number;
  readonly vpcBase: number;
  /** each connection's bandwidth limit, bytes/s (0: none) */
  rate: number;
  readonly tally: EndpointTally;
  /** this endpoint's connections, those of an earlier runtime still closing included */
  readonly connections: Set<LiveConnection>;
  readonly counters: EndpointCounters;
  /** one per ENI and terminal port (a few: a linear search finds one) */
  private listeners: Listener[] = [];
  /** the listener (ENI, zone) each live connection came in through: cut with its ENI or its zone; made at the first connection */
  private via: Map<LiveConnection, Listener> | null = null;
  /** what the toxics' scopes see of each routed connection (a toxic added live finds it by them); made at the first one */
  private scopes: Map<LiveConnection, RoutedScope> | null = null;
  /** its SNAT address's source ports: with the fast path on, the threads' pool of its handle (one pool for both paths) */
  private readonly ports: SnatPorts;
  private readonly ctx: DataPlaneContext;
  private closing: boolean;
  /** stopped listening for a drain: connections the threads report late are let finish, not cut */
  private draining = false;
  /** the fields of its flow log records that do not change per connection (null: flow logs off) */
  flowOrigin: FlowOrigin | null;
  /** flow logs: client host addresses already mapped to simulated ones in text (clients come back); made at the first record */
  private flowSources: Map<number, string> | null = null;
  /** its backends by terminal port and address, draining ones included, and the backend of each connection */
  private readonly slots = new Slots();
  /** made at the first connection to a backend */
  private slotOf: Map<LiveConnection, BackendSlot> | null = null;
  /** the fast path: the relay threads' handle of this endpoint (its cap count, its one SNAT port pool), 0: no fast path (the JS relay, VPCEP_FAST_ACCEPT=off) */
  private fastHandle = 0;
  /** fast-path connections reported and not closed (the rest of `active` is the event loop's) */
  private fastOpen = 0;
  /** listeners the threads accept on now */
  private fastListeners = 0;
  /** the idle timeout (ms) of each terminal port whose NLB listener sets one (Backend.idle_timeout_ms); the rest have the daemon's */
  private idleByPort: ReadonlyMap<number, number>;

  constructor(spec: LiveEndpoint, ctx: DataPlaneContext, tally: EndpointTally = newTally()) {
    this.spec = spec;
    this.ctx = ctx;
    const relay = ctx.fastRelay;
    if (relay) {
      // the handle now, not at the first compile: every port of the endpoint comes from its one pool
      this.fastHandle = relay.fastEndpoint(ctx.snatPorts.low, ctx.snatPorts.high);
      tally.fast.push({ relay, handle: this.fastHandle });
      this.ports = new ThreadSnatPorts(relay, this.fastHandle, ctx.snatPorts.low, ctx.snatPorts.high);
    } else {
      this.ports = new SnatPortPool(ctx.snatPorts.low, ctx.snatPorts.high);
    }
    this.active = 0;
    this.cap = spec.connection_cap;
    this.whitelistEnabled = spec.enable_whitelist;
    this.whitelist = whitelistOf(spec);
    this.securityRules = gateRules(spec);
    this.vpcNumber = spec.vpc_number;
    this.vpcBase = cidrOf(spec.vpc_cidr).base;
    this.rate = bytesPerSecond(spec.bandwidth_mbps);
    this.tally = tally;
    this.connections = tally.connections;
    this.counters = tally.counters;
    this.closing = false;
    this.idleByPort = idleByPort(spec);
    // the endpoint is the interface that records; a gateway endpoint has none in the client's VPC
    this.flowOrigin = ctx.flowLog && flowOrigin({ account: spec.account_id, iface: spec.host_ip && spec.id, endpoint: spec.id, snatAddr: spec.snat_ip });
  }

  /**
   * Brings the listeners to the spec: binds new terminal ports, closes removed ones (cutting their
   * connections), and points kept ones at their new backend. All or nothing for new ports.
   */
  async update(spec: LiveEndpoint): Promise<{ ok: true } | ({ ok: false } & BindFailure)> {
    const wanted = new Map<string, { eni: LiveEni; backend: Backend }>();
    for (const eni of spec.enis) for (const b of spec.backends) if (!this.ctx.proxyDisabled(spec.id, b.client_port)) wanted.set(listenerKey(eni.host_ip, b.client_port), { eni, backend: b });
    const added: Listener[] = [];
    for (const { eni, backend } of wanted.values()) {
      if (this.listenerAt(eni.host_ip, backend.client_port) !== undefined) continue;
      const l = new Listener(this, eni, backend.client_port, backend, spec);
      try {
        l.server = await this.ctx.listen(eni.host_ip, l.port, l);
        added.push(l);
      } catch (err) {
        for (const a of added) a.close();
        return { ok: false, ...bindFailure(err, eni.host_ip, backend.client_port) };
      }
    }
    // closed or drained while it bound (a teardown, a SIGTERM): what it bound is not kept listening
    if (this.closing) {
      for (const a of added) a.close();
      return { ok: true };
    }
    // the change applies to every connection the relay threads opened so far: their held reports first
    this.ctx.fastRelay?.report();
    const kept: Listener[] = [];
    for (const l of [...this.listeners, ...added]) {
      const w = wanted.get(listenerKey(l.eni.host_ip, l.port));
      if (w) {
        l.backend = w.backend;
        l.targets = targetsOf(w.backend);
        l.rules = rulesOf(spec, w.backend, l.eni.zone);
        l.acl = aclOf(w.eni);
        kept.push(l);
      } else {
        l.close();
        if (this.via !== null) for (const [c, at] of this.via) if (at === l) c.cut();
      }
    }
    this.listeners = kept;
    this.spec = spec;
    this.cap = spec.connection_cap;
    this.whitelistEnabled = spec.enable_whitelist;
    this.whitelist = whitelistOf(spec);
    this.securityRules = gateRules(spec);
    // the sweep reads it at each check: a changed listener idle timeout applies to live connections too
    this.idleByPort = idleByPort(spec);
    this.updateSlots(spec, new Map(spec.backends.map((x) => [x.client_port, x])));
    // a new bandwidth limit applies to the open connections too, not only to new ones
    const rate = bytesPerSecond(spec.bandwidth_mbps);
    const reshape = rate !== this.rate;
    if (reshape) {
      this.rate = rate;
      for (const c of this.connections) c.shape(rate);
    }
    this.compileFast();
    // the threads' connections not reported yet take it too (after the new rules are published)
    if (reshape && this.fastHandle !== 0) this.ctx.fastRelay?.fastShape(this.fastHandle, rate);
    return { ok: true };
  }

  /** the idle timeout (ms) of the connections through terminal port PORT: its listener's, else DAEMON_MS */
  idleTimeoutMs(port: number, daemonMs: number): number {
    return this.idleByPort.get(port) ?? daemonMs;
  }

  /**
   * The fast path (README "The data plane"): hands each listener to the relay threads with its
   * admission compiled (a bandwidth limit included: the threads' token buckets apply it), or takes
   * it back to the event loop when some rule needs a per-connection decision here: a toxic covering
   * the port, flow logs (or VPCEP_FAST_ACCEPT=off).
   * Called on every change its rules read: the spec, backend health, zones, toxics, its closing.
   */
  compileFast(): void {
    const relay = this.ctx.fastRelay;
    if (!relay) return;
    const ctx = this.ctx;
    const eligible = (l: Listener): boolean => l.server?.fast !== undefined && !this.closing && ctx.flowLog === null
      && ctx.toxicCovers?.(this.spec.id, this.spec.service_id, l.port, l.eni.zone) === false;
    // all or none: with one listener on the event loop's path (a toxic on one port), the threads
    // and the event loop would each admit up to the cap (README "Admission": one path counts it)
    const all = !this.listeners.some((l) => l.server !== undefined && !eligible(l));
    let n = 0;
    for (const l of this.listeners) {
      const fast = l.server?.fast;
      if (!fast) continue;
      if (!all) {
        fast.off();
        continue;
      }
      const kernel = ctx.snatMode === 'kernel';
      const rules = compileGate({
        refuseAll: null,
        zoneDown: ctx.zoneDown(l.eni.zone),
        capLeft: this.cap - (this.active - this.fastOpen),
        vpcNumber: this.vpcNumber,
        vpcBase: this.vpcBase,
        port: l.port,
        eniHostIp: l.eniHostIp,
        sourceIp: kernel && this.spec.snat_ip ? ipToInt(this.spec.snat_ip) : 0,
        whitelistEnabled: this.whitelistEnabled,
        whitelist: this.whitelist,
        securityRules: this.securityRules,
        networkAcl: l.acl,
        targets: l.targets.map((t) => ({ ip: ipToInt(t.host), port: t.port, zoneDown: ctx.zoneDown(t.zone) })),
        choice: compileChoice(l.targets, l.rules, ctx.choice),
        rate: this.rate,
        idleTimeoutMs: l.backend.idle_timeout_ms ?? 0,
      });
      const preamble = (l.backend.proxy_v2 ?? PROXY_V2_MODES.has(this.spec.tcp_proxy))
        ? encodeProxyV2({ sourceIp: 0, sourcePort: 0, destinationIp: l.eniIp, destinationPort: l.port, endpointId: this.spec.id, markerId: this.spec.marker_id })
        : null;
      if (fast.compile(this.fastHandle, rules, preamble)) n++;
    }
    this.fastListeners = n;
  }

  /**
   * A gateway endpoint's or the internet path's part in a public listener's compiled routes
   * (src/dataplane/fast-routes.ts): its handle and its cap less its connections on the event
   * loop's path; null without the fast path, or once closing.
   */
  fastRouteEntry(): { handle: number; capLeft: number } | null {
    if (this.fastHandle === 0 || this.closing) return null;
    return { handle: this.fastHandle, capLeft: this.cap - (this.active - this.fastOpen) };
  }

  /** a connection of this endpoint on the event loop's path closed (a gateway's compiled cap share grows): set by the gateway */
  onSlowClosed: (() => void) | null = null;

  /**
   * The fast path: a relay thread routed, admitted and connected a client of a public listener
   * through this runtime (a gateway endpoint or the internet path); counted and tracked as
   * relayRouted() and start() do, with its ROUTE and SCOPE (live route changes and toxics find it).
   */
  adoptRouted(opened: FastOpened, port: number, route: RouteKey, scope: RoutedScope): LiveConnection {
    const ctx = this.ctx;
    this.active++;
    this.fastOpen++;
    if (this.ctx.fastLoad) this.ctx.fastLoad.live++;
    this.counters.connections++;
    ctx.connectionOpened(null);
    const conn = opened.adopt(this, port, ctx.now(), ctx.connectTimeoutMs, this.rate, route);
    this.connections.add(conn);
    if (conn.phase !== Phase.Closed) (this.scopes ??= new Map()).set(conn, scope);
    if (this.closing) conn.cut();
    return conn;
  }

  /** the fast path: a relay thread admitted and connected a client on listener L; it is counted and tracked as start() does */
  adopt(opened: FastOpened, l: Listener): void {
    const ctx = this.ctx;
    const target = l.targets[opened.target];
    const port = l.port;
    this.active++;
    this.fastOpen++;
    if (this.ctx.fastLoad) this.ctx.fastLoad.live++;
    const slot = this.countFastOpen(l, target, opened.choiceReason);
    const conn = opened.adopt(this, port, ctx.now(), ctx.connectTimeoutMs, this.rate);
    this.connections.add(conn);
    (this.via ??= new Map()).set(conn, l);
    if (slot !== null && conn.phase !== Phase.Closed) {
      slot.conns.add(conn);
      (this.slotOf ??= new Map()).set(conn, slot);
      slot.stats.active++;
    }
    // admitted by rules that changed before this report arrived: what the change cuts, this is cut too
    if (((this.closing || !l.open) && !this.draining) || ctx.zoneDown(l.eni.zone) || (target !== undefined && ctx.zoneDown(target.zone)) || slot === null || slot.draining) conn.cut();
  }

  /** what adopt() and fastBrief() count of a connection the threads opened on L to TARGET: its slot, if it has one */
  private countFastOpen(l: Listener, target: BackendTargetSpec | undefined, choiceReason: number): BackendSlot | null {
    const ctx = this.ctx;
    this.counters.connections++;
    ctx.connectionOpened(l.eni.zone);
    if (target === undefined) return null;
    ctx.choices[CHOICE_REASONS[choiceReason] ?? 'same_zone']++;
    const slot = this.slots.get(l.backend.client_port, target.key) ?? null;
    if (slot !== null) {
      slot.stats.connections++;
      ctx.backendZoneConnections.set(slot.zone, (ctx.backendZoneConnections.get(slot.zone) ?? 0) + 1);
    }
    return slot;
  }

  /**
   * The fast path: a connection a relay thread opened and closed within one report window, on
   * listener L: counted as adopt() and onClosed() count one, with no object, set or map entry
   * made for it (README "The data plane": timed reports).
   */
  fastBrief(b: FastBrief, l: Listener): void {
    const ctx = this.ctx;
    const slot = this.countFastOpen(l, l.targets[b.target], b.choiceReason);
    if (b.connectSeconds !== null) ctx.observeConnect(this.spec.id, b.connectSeconds);
    if (b.failure !== null) {
      if (slot !== null) slot.stats.failures++;
      this.counters.rejected[b.failure]++;
      ctx.refused(this.spec.id, b.failure, intToIp(b.remoteIp));
    }
    this.counters.closed[b.closed]++;
    ctx.connectionClosed(b.closed);
  }

  /** the fast path: a relay thread refused a client on listener L (the reason's index in REFUSAL_REASONS) */
  fastRefused(l: Listener, code: number, ip: number, target: number, choiceReason: number): void {
    const reason = REFUSAL_REASONS[code] ?? 'error';
    // a backend chosen (fail open into a down zone): the choice and the backend's failure count, as accept() counts them
    if (target > 0) {
      this.ctx.choices[CHOICE_REASONS[choiceReason] ?? 'fail_open']++;
      const t = l.targets[target - 1];
      const slot = t === undefined ? undefined : this.slots.get(l.backend.client_port, t.key);
      if (slot !== undefined) slot.stats.failures++;
    }
    this.counters.rejected[reason]++;
    this.ctx.refused(this.spec.id, reason, intToIp(ip));
  }

  /**
   * Backends of the new spec get a slot; one no longer in it drains: no new connection, its live
   * ones flow for the removing spec's drain_ms (0: cut now; -1: until they end), then are cut.
   */
  private updateSlots(spec: LiveEndpoint, wanted: ReadonlyMap<number, Backend>): void {
    const now = this.ctx.now();
    const keep = new Set<BackendSlot>();
    for (const l of this.listeners) {
      for (const t of l.targets) {
        let slot = this.slots.get(l.backend.client_port, t.key);
        if (slot) {
          slot.zone = t.zone;
          slot.probeKey = t.probe_key ?? t.key;
          slot.stats.zone = t.zone;
          slot.draining = false;
          slot.cutAt = Infinity;
        } else {
          slot = {
            key: t.key, probeKey: t.probe_key ?? t.key, zone: t.zone, stats: this.ctx.backendStats(spec.service_id, t.key, t.zone), conns: new Set(),
            clientPort: l.backend.client_port, draining: false, cutAt: Infinity, unhealthyCutAt: Infinity,
          };
          this.slots.set(slot);
        }
        keep.add(slot);
      }
    }
    for (const slot of [...this.slots.values()]) {
      if (keep.has(slot) || slot.draining) continue;
      const ms = wanted.get(slot.clientPort)?.drain_ms ?? 0;
      slot.draining = true;
      slot.cutAt = ms < 0 ? Infinity : now + ms;
      // AWS: a deregistration during unhealthy.draining starts the deregistration delay instead
      slot.unhealthyCutAt = Infinity;
      if (ms === 0 || slot.conns.size === 0) this.cutSlot(slot);
    }
  }

  /** cuts a backend's connections and forgets it */
  private cutSlot(slot: BackendSlot): void {
    this.slots.delete(slot);
    for (const c of [...slot.conns]) c.cut();
  }

  /** draining backends whose delay ended are cut, and unhealthy ones whose draining interval ended (the data plane's sweep) */
  sweepDrains(now: number): void {
    for (const slot of this.slots.values()) {
      if (slot.draining && now >= slot.cutAt) this.cutSlot(slot);
      else if (now >= slot.unhealthyCutAt) this.cutUnhealthy(slot);
    }
  }

  /**
   * A probed backend's state changed (the health checker's onChange): turned unhealthy, its live
   * connections are cut as its terminal port's unhealthy_cut_ms says (at once, after the draining
   * interval, or never); healthy again before then, they stay. A draining backend is left to its
   * deregistration delay. Returns the connections cut now.
   */
  targetHealthChanged(probeKey: string, state: ProbeState, now: number): number {
    if (this.fastListeners > 0) this.compileFast();
    let n = 0;
    for (const slot of this.slots.withProbeKey(probeKey)) n += this.slotHealthChanged(slot, state, now);
    return n;
  }

  /** targetHealthChanged for one terminal port's slot of the backend */
  private slotHealthChanged(slot: BackendSlot, state: ProbeState, now: number): number {
    if (slot.draining) return 0;
    if (state !== 'unhealthy') {
      slot.unhealthyCutAt = Infinity;
      return 0;
    }
    if (slot.unhealthyCutAt !== Infinity) return 0;
    const ms = this.spec.backends.find((b) => b.client_port === slot.clientPort)?.unhealthy_cut_ms ?? -1;
    if (ms < 0) return 0;
    if (ms > 0) {
      // no connection to wait for: unhealthy at once, not unhealthy.draining for the interval
      if (slot.conns.size > 0) slot.unhealthyCutAt = now + ms;
      return 0;
    }
    return this.cutUnhealthy(slot);
  }

  /** whether a backend's connections wait out the draining interval after it turned unhealthy (AWS's `unhealthy.draining`) */
  unhealthyDraining(probeKey: string): boolean {
    return this.slots.withProbeKey(probeKey).some((slot) => slot.unhealthyCutAt !== Infinity);
  }

  /** cuts the live connections of a backend that turned unhealthy (close reason `unhealthy`); the slot stays */
  private cutUnhealthy(slot: BackendSlot): number {
    slot.unhealthyCutAt = Infinity;
    const n = slot.conns.size;
    for (const c of [...slot.conns]) c.cut('unhealthy');
    return n;
  }

  /**
   * A simulated outage: the connections that came in on an ENI of a zone that is down now, or go to
   * a backend in one, are cut; the count (each connection once)
   */
  cutDownZones(): number {
    const ctx = this.ctx;
    if (this.fastListeners > 0) this.compileFast();
    let n = 0;
    if (this.via === null) return 0;
    for (const [c, l] of [...this.via]) {
      if (ctx.zoneDown(l.eni.zone) || ctx.zoneDown(this.slotOf?.get(c)?.zone ?? null)) {
        c.cut();
        n++;
      }
    }
    return n;
  }


  /** the backends it relays to or drains, by key: draining or not, and live connections (tests, the tracer) */
  backendSlots(): Array<{ key: string; zone: string | null; draining: boolean; active: number }> {
    return [...this.slots.values()].map((s) => ({ key: s.key, zone: s.zone, draining: s.draining, active: s.conns.size }));
  }

  /** the targets of every terminal port, to probe */
  get targets(): Iterable<{ backend: Backend; targets: readonly BackendTargetSpec[] }> {
    return this.listeners;
  }

  /** closes every listener and cuts every connection (reject, delete, failure) */
  close(): void {
    this.closing = true;
    for (const l of this.listeners) l.close();
    this.listeners = [];
    for (const c of [...this.connections]) c.cut();
    // the threads cut the fast connections not reported yet too (the handle stays in the tally for its bytes)
    if (this.fastHandle !== 0) this.ctx.fastRelay?.fastCut(this.fastHandle);
  }

  /** stops accepting, leaving live connections to finish (a drain) */
  stopListening(): void {
    this.closing = true;
    this.draining = true;
    for (const l of this.listeners) l.close();
    this.listeners = [];
  }

  /** bytes so far: closed connections plus what live ones have moved */
  bytes(): { received: number; sent: number } {
    return tallyBytes(this.tally);
  }

  /** the listener of an ENI's host address and terminal port, if bound */
  private listenerAt(host: string, port: number): Listener | undefined {
    for (const l of this.listeners) if (l.port === port && l.eni.host_ip === host) return l;
    return undefined;
  }

  /** a listener could not accept a connection (its sink's onAcceptError) */
  acceptFailed(reason: 'fd_limit' | 'backend_error' | 'error', err?: unknown): void {
    this.counters.rejected[reason]++;
    this.ctx.refused(this.spec.id, reason, 'accept', err);
  }

  /** a client connected to one of its listeners (the listener's onClient) */
  accept(client: PendingClient, at: Listener): void {
    const ctx = this.ctx;
    const listener = at.open ? at : undefined;
    const port = at.port;
    let reason = this.closing || !listener ? 'not_accepted' as const
      : ctx.zoneDown(listener.eni.zone) ? 'zone_down' as const
        : this.admitBesideThreads((gate, load) => admit(gate, load, client.remoteIp, ctx.clientVpc(client.remoteIp), port, listener.acl, client.remotePort));
    let snatPort = 0;
    if (reason === null) {
      snatPort = this.ports.take();
      if (snatPort === 0) reason = 'snat_exhausted';
    }
    if (reason !== null) {
      this.counters.rejected[reason]++;
      ctx.refused(this.spec.id, reason, client.remoteAddress);
      if (ctx.flowLog !== null) ctx.flowLog.rejected(this.flowOrigin!, this.flowSource(client, null), client.remotePort, listener?.eni.ip ?? this.spec.ip, port, reason);
      client.reset();
      return;
    }
    const l = listener!;
    const eni = l.eni;
    const backend = l.backend;
    const c = chooseBackend(l.targets, l.rules, ctx.choice, flowHash(client.remoteIp, client.remotePort, l.eniHostIp, port));
    const target = c === NO_CHOICE ? null : l.targets[choiceIndex(c)]!;
    if (target !== null) ctx.choices[choiceReason(c)]++;
    const slot = target === null ? null : this.slots.get(backend.client_port, target.key) ?? null;
    if (target === null || ctx.zoneDown(target.zone)) {
      // no target (the last ones drain), or fail open chose a backend of a down zone: no connect can succeed
      this.ports.give(snatPort);
      if (slot !== null) slot.stats.failures++;
      this.counters.rejected.backend_unreachable++;
      ctx.refused(this.spec.id, 'backend_unreachable', client.remoteAddress);
      if (ctx.flowLog !== null) ctx.flowLog.rejected(this.flowOrigin!, this.flowSource(client, null), client.remotePort, eni.ip, port, 'backend_unreachable');
      client.reset();
      return;
    }
    const preamble = (backend.proxy_v2 ?? PROXY_V2_MODES.has(this.spec.tcp_proxy))
      ? encodeProxyV2({
        sourceIp: ctx.simulatedSourceIp(client.remoteIp),
        sourcePort: client.remotePort,
        destinationIp: l.eniIp,
        destinationPort: port,
        endpointId: this.spec.id,
        markerId: this.spec.marker_id,
      })
      : null;
    const kernel = ctx.snatMode === 'kernel';
    this.start(client, port, { host: target.host, port: target.port, localAddress: kernel ? this.spec.snat_ip : undefined, bindPoolPort: kernel, preamble }, snatPort, null, l, slot);
  }

  /**
   * Relays a connection the gateway already routed here: the daemon's limits and the endpoint's
   * cap apply (no whitelist; isolation and policies decided by the route: a VPC's route tables
   * lead to its own gateway endpoints only). SCOPE: what the toxics' scopes see of it (README
   * "Fault injection"). Returns the refusal, or null when relayed.
   */
  relayRouted(client: PendingClient, port: number, target: BackendTarget, route: RouteKey, scope: RoutedScope): RefusalReason | null {
    const reason = this.closing ? 'not_accepted' as const : this.admitBesideThreads((gate, load) => admit(gate, load, 0, this.vpcNumber, port));
    const snatPort = reason === null ? this.ports.take() : 0;
    const refusal = reason ?? (snatPort === 0 ? 'snat_exhausted' as const : null);
    if (refusal !== null) {
      this.counters.rejected[refusal]++;
      this.ctx.refused(this.spec.id, refusal, client.remoteAddress);
      if (this.ctx.flowLog !== null) this.ctx.flowLog.rejected(this.flowOrigin!, this.flowSource(client, route), client.remotePort, intToIp(route.destinationIp), port, refusal);
      client.reset();
      return refusal;
    }
    this.start(client, port, target, snatPort, route, null, null, scope);
    return null;
  }

  /**
   * A toxic was added or changed (README "Fault injection"): each live connection on the plain
   * relay that one now applies to is handed over to the toxic path, as Toxiproxy adds a new toxic
   * to every link of its proxy. LINK: its link, or null when none applies. Hand-overs that
   * complete later (the native relay's) are added to PENDING. Returns how many.
   */
  toxify(link: (endpoint: string, service: string, port: number, zone: string) => ToxicLink | null, pending: Promise<void>[] = []): number {
    let n = 0;
    for (const c of this.connections) {
      if (!c.plain) continue;
      const via = this.via?.get(c);
      const scope = via === undefined ? this.scopes?.get(c) : undefined;
      const l = via !== undefined ? link(this.spec.id, this.spec.service_id, c.listenPort, via.eni.zone)
        : scope !== undefined ? link(scope.endpoint, scope.service, c.listenPort, scope.zone) : null;
      if (l === null) continue;
      const later = c.toxify(l);
      if (later) pending.push(later);
      n++;
    }
    return n;
  }

  /** connections of this endpoint whose route no longer leads here are cut */
  cutWhere(stillRouted: (route: RouteKey) => boolean): number {
    let n = 0;
    for (const c of [...this.connections]) {
      if (c.route && !stillRouted(c.route)) {
        c.cut();
        n++;
      }
    }
    return n;
  }

  /**
   * An admission on the event loop's path while the relay threads admit too: the counts with the
   * connections the threads opened and have not reported yet (their timed reports wait up to 10
   * ms), read from the threads' own counts (the endpoint's atomic, the threads' open total)
   */
  private admitBesideThreads(decide: (gate: EndpointGate, load: DataPlaneContext['load']) => RefusalReason | null): RefusalReason | null {
    const relay = this.ctx.fastRelay;
    if (!relay) return decide(this, this.ctx.load);
    const endpointAhead = this.fastHandle === 0 ? 0 : Math.max(0, (relay.fastEndpointStats(this.fastHandle)?.active ?? 0) - this.fastOpen);
    const daemonAhead = Math.max(0, relay.fastFigures().open - (this.ctx.fastLoad?.live ?? 0));
    if (endpointAhead === 0 && daemonAhead === 0) return decide(this, this.ctx.load);
    const gate: EndpointGate = Object.create(this, { active: { value: this.active + endpointAhead } });
    return decide(gate, { ...this.ctx.load, active: this.ctx.load.active + daemonAhead });
  }

  /** VIA: the listener (ENI) it came in through, SLOT its backend; both null for a routed connection, which has its SCOPE */
  private start(client: PendingClient, port: number, target: BackendTarget, snatPort: number, route: RouteKey | null, via: Listener | null, slot: BackendSlot | null = null, scope: RoutedScope | null = null): void {
    this.active++;
    this.counters.connections++;
    this.ctx.connectionOpened(via?.eni.zone ?? null);
    const toxics = via !== null ? this.ctx.toxicLink(this.spec.id, this.spec.service_id, port, via.eni.zone)
      : scope !== null ? this.ctx.toxicLink(scope.endpoint, scope.service, port, scope.zone) : null;
    const conn = client.relay(this, port, target, this.ctx.now(), this.ctx.connectTimeoutMs, snatPort, route, toxics);
    this.connections.add(conn);
    if (this.rate > 0) conn.shape(this.rate);
    if (via !== null) (this.via ??= new Map()).set(conn, via);
    else if (scope !== null && conn.phase !== Phase.Closed) (this.scopes ??= new Map()).set(conn, scope);
    if (slot !== null && conn.phase !== Phase.Closed) {
      slot.conns.add(conn);
      (this.slotOf ??= new Map()).set(conn, slot);
      slot.stats.active++;
      slot.stats.connections++;
      this.ctx.backendZoneConnections.set(slot.zone, (this.ctx.backendZoneConnections.get(slot.zone) ?? 0) + 1);
    }
    const flow = this.ctx.flowLog;
    if (flow !== null) {
      const dst = route === null ? via?.eni.ip ?? this.spec.ip : intToIp(route.destinationIp);
      flow.opened(conn, this.flowOrigin!, this.flowSource(client, route), client.remotePort, dst, port, Boolean(this.spec.snat_ip));
    }
  }

  /** the client's simulated address: its route's source (a gateway connection from a VPC), else mapped from its host address */
  private flowSource(client: PendingClient, route: RouteKey | null): string {
    if (route !== null && route.vpcId !== '') return intToIp(route.sourceIp);
    const ip = client.remoteIp;
    const sources = (this.flowSources ??= new Map());
    let source = sources.get(ip);
    if (source === undefined) {
      if (sources.size >= FLOW_SOURCES_KEPT) sources.clear();
      sources.set(ip, (source = intToIp(this.ctx.simulatedSourceIp(ip))));
    }
    return source;
  }

  onBackendConnected(_conn: LiveConnection, seconds: number): void {
    this.ctx.observeConnect(this.spec.id, seconds);
  }

  onBackendFailed(conn: LiveConnection, reason: RefusalReason): void {
    const slot = this.slotOf?.get(conn);
    if (slot !== undefined) slot.stats.failures++;
    this.counters.rejected[reason]++;
    this.ctx.refused(this.spec.id, reason, conn.remoteAddress);
    if (this.ctx.flowLog !== null) this.ctx.flowLog.failed(conn, reason);
  }

  nextSnatPort(conn: LiveConnection): number {
    const port = this.ports.take();
    // The port that was held elsewhere goes to the back of the queue.
    if (port !== 0) this.ports.give(conn.snatPort);
    return port;
  }

  onClosed(conn: LiveConnection): void {
    if (!this.connections.delete(conn)) return;
    this.via?.delete(conn);
    this.scopes?.delete(conn);
    const slot = this.slotOf?.get(conn);
    if (slot !== undefined) {
      this.slotOf!.delete(conn);
      slot.conns.delete(conn);
      slot.stats.active--;
      if (slot.conns.size === 0) {
        if (slot.draining) this.slots.delete(slot);
        // the last connection of an unhealthy backend's draining ended: unhealthy.draining ends with it
        else slot.unhealthyCutAt = Infinity;
      }
    }
    this.active--;
    // a relay thread's connection: its bytes are in its handle's counters already
    if (conn.threadPort !== true) {
      this.counters.receivedBytes += conn.receivedBytes;
      this.counters.sentBytes += conn.sentBytes;
    } else if (conn.offThreads === true) {
      // handed off the threads (a toxic): what it moved since
      const b = { received: 0, sent: 0 };
      conn.addBytesOffThreads!(b);
      this.counters.receivedBytes += b.received;
      this.counters.sentBytes += b.sent;
    }
    const reason = conn.closeReason ?? 'done';
    this.counters.closed[reason]++;
    if (conn.threadPort === true) {
      this.fastOpen--;
      if (this.ctx.fastLoad) this.ctx.fastLoad.live--;
      // handed off the threads: they held its count and port until now
      if (conn.offThreads === true && this.fastHandle !== 0) this.ctx.fastRelay?.fastDone(this.fastHandle, conn.snatPort);
    } else {
      this.ports.give(conn.snatPort);
      // an event loop connection closing while the threads admit: their cap's share grows
      if (this.fastListeners > 0) this.compileFast();
      this.onSlowClosed?.();
    }
    this.ctx.connectionClosed(reason);
    if (this.ctx.flowLog !== null) this.ctx.flowLog.closed(conn);
  }

  /** SNAT source ports held by live connections (the threads' and the event loop's: one pool) */
  get snatPortsInUse(): number {
    return this.ports.inUse;
  }

  /** SNAT source ports left for new connections */
  get snatPortsFree(): number {
    return this.ports.left;
  }

  /** the network ACL rules the listeners of the ENI at HOST admit by (the path tracer's); null: none enforced */
  networkAclAt(host: string): NetworkAclGate | null {
    for (const l of this.listeners) if (l.eni.host_ip === host) return l.acl;
    return null;
  }

  /** the terminal ports whose listeners are bound on every ENI (none once closing) */
  get boundPorts(): number[] {
    if (this.closing) return [];
    const out: number[] = [];
    for (const b of this.spec.backends) {
      if (this.spec.enis.every((e) => this.listenerAt(e.host_ip, b.client_port) !== undefined)) out.push(b.client_port);
    }
    return out;
  }
}

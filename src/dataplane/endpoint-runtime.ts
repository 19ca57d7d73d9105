// One live interface endpoint on the data plane: a listener per ENI (one per zone) and terminal
// port on the ENI's host address, its admission gate, its connections and its counters.
import type { Backend, LiveEndpoint, LiveEni } from '../model/events.js';
import { PROXY_V2_MODES } from '../model/types.js';
import { cidrOf, intToIp, type Cidr } from '../net/cidr.js';
import { encodeProxyV2 } from '../net/proxy-v2.js';
import { SnatPortPool } from '../net/snat-pool.js';
import { flowOrigin, type FlowLog, type FlowOrigin } from '../telemetry/flow-log.js';
import { bindFailure, type BindFailure } from './bind-failure.js';
import { admit, REFUSAL_REASONS, type DaemonLoad, type EndpointGate, type GateRule, type RefusalReason } from './admission.js';
import { CLOSE_REASONS, type BackendTarget, type CloseReason, type ConnectionOwner, type ListenerSink, type LiveConnection, type PendingClient, type RouteKey, type TcpListener } from './connection.js';

/** What every endpoint shares: the data plane's settings, load, clock and instruments. */
export interface DataPlaneContext {
  readonly snatMode: 'kernel' | 'logical';
  /** the source ports each endpoint's SNAT address hands out; none left: snat_exhausted */
  readonly snatPorts: { readonly low: number; readonly high: number };
  readonly connectTimeoutMs: number;
  readonly load: DaemonLoad;
  now(): number;
  /** the simulated address of a client's host address, for the PROXY header */
  simulatedSource(host: string): string;
  /** the VPC number of a client's host address, or null for a client outside every VPC */
  clientVpc(host: string): number | null;
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
}

/** counters at zero, every reason present */
export function newCounters(): EndpointCounters {
  return {
    connections: 0,
    rejected: Object.fromEntries(REFUSAL_REASONS.map((r) => [r, 0])) as Record<RefusalReason, number>,
    receivedBytes: 0,
    sentBytes: 0,
    closed: Object.fromEntries(CLOSE_REASONS.map((r) => [r, 0])) as Record<CloseReason, number>,
  };
}

export function newTally(): EndpointTally {
  return { counters: newCounters(), connections: new Set() };
}

/** bytes so far: closed connections plus what live ones have moved */
export function tallyBytes(t: EndpointTally): { received: number; sent: number } {
  let received = t.counters.receivedBytes;
  let sent = t.counters.sentBytes;
  for (const c of t.connections) {
    received += c.receivedBytes;
    sent += c.sentBytes;
  }
  return { received, sent };
}

/** a listener of one ENI and terminal port; a connection accepted there belongs to the ENI's zone */
interface Listener {
  readonly server: TcpListener;
  readonly eni: LiveEni;
  readonly port: number;
  backend: Backend;
}

/** listeners are keyed by host address and port: each ENI listens on every terminal port */
const listenerKey = (host: string, port: number): string => `${host}:${port}`;

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
  whitelist: Cidr[];
  securityRules: GateRule[] | null;
  readonly vpcNumber: number;
  readonly vpcBase: number;
  readonly tally: EndpointTally;
  /** this endpoint's connections, those of an earlier runtime still closing included */
  readonly connections: Set<LiveConnection>;
  readonly counters: EndpointCounters;
  private readonly listeners = new Map<string, Listener>();
  /** the listener (ENI, zone) each live connection came in through: cut with its ENI or its zone */
  private readonly via = new Map<LiveConnection, Listener>();
  private readonly ports: SnatPortPool;
  private readonly ctx: DataPlaneContext;
  private closing: boolean;
  /** the fields of its flow log records that do not change per connection (null: flow logs off) */
  flowOrigin: FlowOrigin | null;
  /** flow logs: client host addresses already mapped to simulated ones (clients come back) */
  private readonly flowSources = new Map<string, string>();

  constructor(spec: LiveEndpoint, ctx: DataPlaneContext, tally: EndpointTally = newTally()) {
    this.spec = spec;
    this.ctx = ctx;
    this.ports = new SnatPortPool(ctx.snatPorts.low, ctx.snatPorts.high);
    this.active = 0;
    this.cap = spec.connection_cap;
    this.whitelistEnabled = spec.enable_whitelist;
    this.whitelist = spec.whitelist.map(cidrOf);
    this.securityRules = gateRules(spec);
    this.vpcNumber = spec.vpc_number;
    this.vpcBase = cidrOf(spec.vpc_cidr).base;
    this.tally = tally;
    this.connections = tally.connections;
    this.counters = tally.counters;
    this.closing = false;
    // the endpoint is the interface that records; a gateway endpoint has none in the client's VPC
    this.flowOrigin = ctx.flowLog && flowOrigin({ account: spec.account_id, iface: spec.host_ip && spec.id, endpoint: spec.id, snatAddr: spec.snat_ip });
  }

  /**
   * Brings the listeners to the spec: binds new terminal ports, closes removed ones (cutting their
   * connections), and points kept ones at their new backend. All or nothing for new ports.
   */
  async update(spec: LiveEndpoint): Promise<{ ok: true } | ({ ok: false } & BindFailure)> {
    const wanted = new Map<string, { eni: LiveEni; backend: Backend }>();
    for (const eni of spec.enis) for (const b of spec.backends) wanted.set(listenerKey(eni.host_ip, b.client_port), { eni, backend: b });
    const added: Array<[string, Listener]> = [];
    for (const [key, { eni, backend }] of wanted) {
      if (this.listeners.has(key)) continue;
      try {
        const port = backend.client_port;
        added.push([key, { server: await this.listen(eni, port), eni, port, backend }]);
      } catch (err) {
        for (const [, l] of added) l.server.close();
        return { ok: false, ...bindFailure(err, eni.host_ip, backend.client_port) };
      }
    }
    for (const [key, l] of added) this.listeners.set(key, l);
    for (const [key, l] of this.listeners) {
      const w = wanted.get(key);
      if (w) l.backend = w.backend;
      else {
        l.server.close();
        this.listeners.delete(key);
        for (const [c, at] of this.via) if (at === l) c.cut();
      }
    }
    this.spec = spec;
    this.cap = spec.connection_cap;
    this.whitelistEnabled = spec.enable_whitelist;
    this.whitelist = spec.whitelist.map(cidrOf);
    this.securityRules = gateRules(spec);
    this.zonesChanged();
    return { ok: true };
  }

  /** the connections of ENIs in a zone that is down now are cut (a simulated outage) */
  zonesChanged(): number {
    let n = 0;
    for (const [c, l] of this.via) {
      if (this.ctx.zoneDown(l.eni.zone)) {
        c.cut();
        n++;
      }
    }
    return n;
  }

  /** the zone of a live connection's ENI (null: a routed connection of a gateway endpoint): what backend choice may read */
  zoneOf(conn: LiveConnection): string | null {
    return this.via.get(conn)?.eni.zone ?? null;
  }

  /** closes every listener and cuts every connection (reject, delete, failure) */
  close(): void {
    this.closing = true;
    for (const l of this.listeners.values()) l.server.close();
    this.listeners.clear();
    for (const c of [...this.connections]) c.cut();
  }

  /** stops accepting, leaving live connections to finish (a drain) */
  stopListening(): void {
    this.closing = true;
    for (const l of this.listeners.values()) l.server.close();
    this.listeners.clear();
  }

  /** bytes so far: closed connections plus what live ones have moved */
  bytes(): { received: number; sent: number } {
    return tallyBytes(this.tally);
  }

  private listen(eni: LiveEni, port: number): Promise<TcpListener> {
    const key = listenerKey(eni.host_ip, port);
    return this.ctx.listen(eni.host_ip, port, {
      onClient: (client) => this.accept(client, key),
      // Accept errors (EMFILE, ...) are counted, never fatal.
      onAcceptError: (reason, err) => {
        this.counters.rejected[reason]++;
        this.ctx.refused(this.spec.id, reason, 'accept', err);
      },
    });
  }

  private accept(client: PendingClient, key: string): void {
    const ctx = this.ctx;
    const host = client.remoteAddress;
    const listener = this.listeners.get(key);
    const port = listener?.port ?? 0;
    let reason = this.closing || !listener ? 'not_accepted' as const
      : ctx.zoneDown(listener.eni.zone) ? 'zone_down' as const
        : admit(this, ctx.load, host, ctx.clientVpc(host), port);
    let snatPort = 0;
    if (reason === null) {
      snatPort = this.ports.take();
      if (snatPort === 0) reason = 'snat_exhausted';
    }
    if (reason !== null) {
      this.counters.rejected[reason]++;
      ctx.refused(this.spec.id, reason, host);
      if (ctx.flowLog !== null) ctx.flowLog.rejected(this.flowOrigin!, this.flowSource(client, null), client.remotePort, listener?.eni.ip ?? this.spec.ip, port, reason);
      client.reset();
      return;
    }
    const eni = listener!.eni;
    const backend = this.backendFor(listener!, eni.zone);
    const preamble = (backend.proxy_v2 ?? PROXY_V2_MODES.has(this.spec.tcp_proxy))
      ? encodeProxyV2({
        sourceIp: ctx.simulatedSource(host),
        sourcePort: client.remotePort,
        destinationIp: eni.ip,
        destinationPort: port,
        endpointId: this.spec.id,
        markerId: this.spec.marker_id,
      })
      : null;
    const kernel = ctx.snatMode === 'kernel';
    this.start(client, port, { host: backend.host, port: backend.port, localAddress: kernel ? this.spec.snat_ip : undefined, bindPoolPort: kernel, preamble }, snatPort, null, listener!);
  }

  /** where a connection accepted on LISTENER, an ENI in ZONE, relays to (backend choice by zone reads `zone`) */
  private backendFor(listener: Listener, _zone: string): Backend {
    return listener.backend;
  }

  /**
   * Relays a connection the gateway already routed here: the daemon's limits and the endpoint's
   * cap apply (no whitelist; isolation and policies decided by the route: a VPC's route tables
   * lead to its own gateway endpoints only). Returns the refusal, or null when relayed.
   */
  relayRouted(client: PendingClient, port: number, target: BackendTarget, route: RouteKey): RefusalReason | null {
    const reason = this.closing ? 'not_accepted' as const : admit(this, this.ctx.load, '', this.vpcNumber, port);
    const snatPort = reason === null ? this.ports.take() : 0;
    const refusal = reason ?? (snatPort === 0 ? 'snat_exhausted' as const : null);
    if (refusal !== null) {
      this.counters.rejected[refusal]++;
      this.ctx.refused(this.spec.id, refusal, client.remoteAddress);
      if (this.ctx.flowLog !== null) this.ctx.flowLog.rejected(this.flowOrigin!, this.flowSource(client, route), client.remotePort, intToIp(route.destinationIp), port, refusal);
      client.reset();
      return refusal;
    }
    this.start(client, port, target, snatPort, route, null);
    return null;
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

  /** VIA: the listener (ENI) it came in through; null for a routed connection */
  private start(client: PendingClient, port: number, target: BackendTarget, snatPort: number, route: RouteKey | null, via: Listener | null): void {
    this.active++;
    this.counters.connections++;
    this.ctx.connectionOpened(via?.eni.zone ?? null);
    const conn = client.relay(this, port, target, this.ctx.now(), this.ctx.connectTimeoutMs, snatPort, route);
    this.connections.add(conn);
    if (via !== null) this.via.set(conn, via);
    const flow = this.ctx.flowLog;
    if (flow !== null) {
      const dst = route === null ? via?.eni.ip ?? this.spec.ip : intToIp(route.destinationIp);
      flow.opened(conn, this.flowOrigin!, this.flowSource(client, route), client.remotePort, dst, port, this.spec.snat_ip ? snatPort : 0);
    }
  }

  /** the client's simulated address: its route's source (a gateway connection from a VPC), else mapped from its host address */
  private flowSource(client: PendingClient, route: RouteKey | null): string {
    if (route !== null && route.vpcId !== '') return intToIp(route.sourceIp);
    const host = client.remoteAddress;
    let source = this.flowSources.get(host);
    if (source === undefined) {
      if (this.flowSources.size >= FLOW_SOURCES_KEPT) this.flowSources.clear();
      this.flowSources.set(host, (source = this.ctx.simulatedSource(host)));
    }
    return source;
  }

  onBackendConnected(_conn: LiveConnection, seconds: number): void {
    this.ctx.observeConnect(this.spec.id, seconds);
  }

  onBackendFailed(conn: LiveConnection, reason: RefusalReason): void {
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
    this.via.delete(conn);
    this.active--;
    this.counters.receivedBytes += conn.receivedBytes;
    this.counters.sentBytes += conn.sentBytes;
    const reason = conn.closeReason ?? 'done';
    this.counters.closed[reason]++;
    this.ports.give(conn.snatPort);
    this.ctx.connectionClosed(reason);
    if (this.ctx.flowLog !== null) this.ctx.flowLog.closed(conn);
  }

  /** SNAT source ports held by live connections */
  get snatPortsInUse(): number {
    return this.ports.inUse;
  }

  /** SNAT source ports left for new connections */
  get snatPortsFree(): number {
    return this.ports.left;
  }

  /** the terminal ports whose listeners are bound on every ENI (none once closing) */
  get boundPorts(): number[] {
    if (this.closing) return [];
    const out: number[] = [];
    for (const b of this.spec.backends) {
      if (this.spec.enis.every((e) => this.listeners.has(listenerKey(e.host_ip, b.client_port)))) out.push(b.client_port);
    }
    return out;
  }
}

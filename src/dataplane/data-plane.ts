// The TCP data plane: applies the control plane's change events to live endpoints, runs the one
// coarse timer that finds connect timeouts and idle connections, and keeps the daemon-wide load.
import { anyHealthy, CHOICE_REASONS, eligible, type ChoiceInputs, type ChoiceReason } from '../model/backend-choice.js';
import type { Ack, ChangeEvent, DataPlane, LiveAdmission, LiveEndpoint } from '../model/events.js';
import { sharedProbe, type HealthProber, type ProbeReason, type ProbeState, type ProbeTarget } from '../model/health.js';
import { clientVpcOf, type OnPremises } from '../model/isolation.js';
import { cidrOf } from '../net/cidr.js';
import { hostNumber, simulatedAddress } from '../net/loopback.js';
import type { FlowLog } from '../telemetry/flow-log.js';
import type { Logger } from '../telemetry/logger.js';
import type { EndpointFigures, InternetFigures } from '../telemetry/metrics.js';
import { REFUSAL_REASONS, type DaemonLoad, type RefusalReason } from './admission.js';
import { Phase } from './connection.js';
import {
  EndpointRuntime, newCounters, newTally, tallyBytes, targetsOf, type BackendStats, type DataPlaneContext, type EndpointCounters, type EndpointTally,
} from './endpoint-runtime.js';
import { FD_RESERVE, openFileLimit } from './fd-limit.js';
import { GatewayPlane } from './gateway.js';
import { DataPlaneFaults } from './toxics/faults.js';
import { HealthChecker, type HealthFigures } from './health-checker.js';
import { listenTcp } from './listener.js';
import type { ListenerSink, TcpListener } from './connection.js';
import { setJsSocketBuffer } from './js-relay.js';
import { activeRelay, type NativeRelay } from './native-relay.js';
import { writeLoad, writeVpcs, type FastLoad } from './fast-path.js';

export interface TcpDataPlaneOptions {
  readonly snatMode: 'kernel' | 'logical';
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxConnections: number;
  /** clients outside every VPC (the host, 127.0.0.1): allowed or refused */
  readonly onPremises?: OnPremises;
  /** descriptors kept free of connections for the API, the store and the logs (default FD_RESERVE) */
  readonly fdReserve?: number;
  /** SO_RCVBUF/SO_SNDBUF of relayed sockets; 0: the kernel's autotuning */
  readonly socketBufferBytes: number;
  /** the source ports of each endpoint's SNAT address (default 1024-65535) */
  readonly snatPorts?: { readonly low: number; readonly high: number };
  /** every VPC's loopback number and CIDR, to map client host addresses back to simulated ones */
  readonly vpcs: ReadonlyArray<{ number: number; cidr: string }>;
  readonly log: Logger;
  /** records one backend connect time */
  readonly observeConnect: (endpointId: string, seconds: number) => void;
  /** forgets an endpoint's instruments when it is deleted */
  readonly forget: (endpointId: string) => void;
  /** how often the summary line is logged (ms); 0 turns it off */
  readonly summaryIntervalMs?: number;
  /** the clock of connect deadlines and idle times (ms); tests inject one and call sweep() */
  readonly now?: () => number;
  /** how often the timer sweeps (ms); default a quarter of the shortest timeout, 25 ms to 1 s; 0: only sweep() */
  readonly sweepIntervalMs?: number;
  /** connection flow logs; absent or null: off */
  readonly flowLog?: FlowLog | null;
  /**
   * makes the prober of the backends, told which zones are down (their backends are unreachable);
   * absent: a HealthChecker (src/dataplane/health-checker.ts); null: backends are not probed (all eligible)
   */
  /** records one health-check probe's result and time (the metrics' histogram) */
  readonly observeHealthProbe?: (result: string, seconds: number) => void;
  readonly healthProber?: ((unreachable: (zone: string | null) => boolean) => HealthProber) | null;
}

export class TcpDataPlane implements DataPlane {
  private readonly runtimes = new Map<string, EndpointRuntime>();
  /** every endpoint's counters, live or not, kept until the endpoint is deleted */
  private readonly tallies = new Map<string, EndpointTally>();
  /** daemon-wide, since start (connections, refusals and closes by reason): they survive endpoint churn */
  private readonly allTotals: EndpointCounters = newCounters();
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly vpcBases = new Map<number, number>();
  private readonly o: TcpDataPlaneOptions;
  private readonly load = { active: 0, maxConnections: 0, fdBudget: 0, listeners: 0, onPremises: 'allow' as OnPremises };
  /** the threads' connections this data plane has heard of and not seen close (its own: a closed plane's, in tests, counted in none) */
  private readonly fastLoad: FastLoad = { live: 0 };
  private readonly ctx: DataPlaneContext;
  private readonly sweepTimer: NodeJS.Timeout | null;
  private readonly now: () => number;
  private readonly summaryTimer: NodeJS.Timeout | null;
  private readonly idleMs: number;
  private readonly gateway: GatewayPlane;
  private readonly flowLog: FlowLog | null;
  /** the zones down now (ChangeEvent 'zones') */
  private readonly zonesDown = new Set<string>();
  /** the toxics and the proxies taken down (ChangeEvent 'faults') */
  readonly faults = new DataPlaneFaults();
  /** connections accepted on ENIs, by zone, since start (vpcep_zone_connections_total) */
  private readonly zoneCounts = new Map<string, number>();
  /** probes the backends of live endpoints; null: none runs */
  private readonly prober: HealthProber | null;
  /** the keys probed now (a key not probed has no health to show) */
  private probed = new Set<string>();
  /** the probed keys unhealthy now: their connections were cut (or scheduled) at the turn */
  private readonly unhealthy = new Set<string>();
  /** backend choices by reason, daemon-wide */
  private readonly choiceCounts: Record<ChoiceReason, number> = Object.fromEntries(CHOICE_REASONS.map((r) => [r, 0])) as Record<ChoiceReason, number>;
  /** connections relayed to backends by the backend's zone, since start (vpcep_zone_backend_connections_total) */
  private readonly backendZoneCounts = new Map<string | null, number>();
  /** each service's backends' counters, by service and key ("service key") */
  private readonly backendStats = new Map<string, BackendStats>();
  /** the "service key"s of backendStats, by service */
  private readonly statsByService = new Map<string, Set<string>>();
  /** what each live endpoint adds to the backends in use and the targets probed (refreshBackends) */
  private readonly shares = new Map<string, BackendShare>();
  /** live endpoints using each backend ("service key") */
  private readonly usedBy = new Map<string, number>();
  /**
   * the target each share asks probed, by key and share id: the prober gets sharedProbe's of each
   * key (one kept per key, the last share's, made a backend behind two services probed with the
   * settings written last, and kept them after that service's endpoint went)
   */
  private readonly probedBy = new Map<string, Map<string, ProbeTarget>>();
  /** backends that left their service, whose counters go once they hold no connection */
  private readonly unused = new Set<string>();
  /** when a running drain cuts what is left (performance.now() ms) */
  private drainUntil = Infinity;
  /** the native relay whose threads accept compiled endpoints (the fast path); null: off (VPCEP_FAST_ACCEPT=off, or the JS relay) */
  private readonly fastRelay: NativeRelay | null;
  /** the relay threads run the connect and idle timeouts of their connections (the sweep skips them) */
  private readonly threadsTime: boolean;
  /**
   * closed: its connections' late closes no longer write the threads' load and timeouts (the
   * process's, one copy for every data plane: a later plane's, in tests, stays as that plane wrote it)
   */
  private closed = false;
  private summary = { opened: 0, refused: Object.fromEntries(REFUSAL_REASONS.map((r) => [r, 0])) as Record<RefusalReason, number>, idle: 0 };

  constructor(o: TcpDataPlaneOptions) {
    this.o = o;
    this.idleMs = o.idleTimeoutMs;
    this.flowLog = o.flowLog ?? null;
    const now = (this.now = o.now ?? (() => performance.now()));
    this.load.maxConnections = o.maxConnections;
    this.load.onPremises = o.onPremises ?? 'allow';
    const fdLimit = openFileLimit();
    const fdReserve = o.fdReserve ?? FD_RESERVE;
    const pooledFds = activeRelay()?.pooledFds ?? 0;
    this.load.fdBudget = fdLimit - fdReserve - pooledFds;
    o.log.info({ fd_limit: fdLimit, fd_reserve: fdReserve, pooled_fds: pooledFds, fd_budget: this.load.fdBudget }, 'data plane: descriptor budget (listeners and connections)');
    // a listener and one connection (three descriptors) do not fit: the daemon is ready and relays nothing
    if (this.load.fdBudget < 3) {
      o.log.warn({ fd_limit: fdLimit, fd_budget: this.load.fdBudget, needs_at_least: fdLimit - this.load.fdBudget + 3 },
        'data plane: the open-file limit leaves no descriptor for a listener and its connections: every connection is refused (fd_limit); raise it (ulimit -n)');
    }
    activeRelay()?.socketBuffer(o.socketBufferBytes);
    setJsSocketBuffer(o.socketBufferBytes);
    for (const v of o.vpcs) this.vpcBases.set(v.number, cidrOf(v.cidr).base);
    const load = this.load;
    const fastLoad = this.fastLoad;
    const isVpc = (k: number) => this.vpcBases.has(k);
    const summary = this.summary;
    const totals = this.allTotals;
    const zoneConnections = this.zoneCounts;
    const zoneDown = (zone: string | null) => zone !== null && this.zonesDown.has(zone);
    const makeProber = o.healthProber === undefined ? (unreachable: (zone: string | null) => boolean) => new HealthChecker({ unreachable, log: o.log, observe: o.observeHealthProbe }) : o.healthProber;
    this.prober = makeProber === null ? null : makeProber(zoneDown);
    // a backend turning unhealthy: its connections are cut as its target group or service says
    // (once, at the turn: a new reason of an unhealthy backend is no turn, and fail open's connections to it stay)
    const unhealthy = this.unhealthy;
    this.prober?.onChange((key, state) => {
      if (state === 'unhealthy' && unhealthy.has(key)) return;
      if (state === 'unhealthy') unhealthy.add(key);
      else unhealthy.delete(key);
      let cut = 0;
      // every connection the threads opened so far is cut or kept: their held reports first
      this.fastRelay?.report();
      for (const r of this.runtimes.values()) cut += r.targetHealthChanged(key, state, now());
      if (cut > 0) o.log.info({ backend: key, cut }, 'backend unhealthy: its connections cut (connection termination)');
    });
    const choice: ChoiceInputs = { health: this.prober, zoneDown };
    const fastRelay = (this.fastRelay = (process.env.VPCEP_FAST_ACCEPT ?? '').trim().toLowerCase() === 'off' ? null : activeRelay());
    // the relay threads time their own connections on the real clock; on an injected one (tests) the sweep does
    const threadsTime = (this.threadsTime = fastRelay !== null && o.now === undefined);
    // the threads' copy of the daemon's load: the connections on the event loop's path, the limits
    const loadChanged = fastRelay === null ? () => undefined : () => {
      if (this.closed) return;
      writeLoad(fastRelay.globals, {
        maxConnections: load.maxConnections, fdBudget: load.fdBudget, listeners: load.listeners, slowActive: load.active - fastLoad.live, onPremisesAllowed: load.onPremises === 'allow',
        connectTimeoutMs: threadsTime ? o.connectTimeoutMs : 0, idleTimeoutMs: threadsTime ? o.idleTimeoutMs : 0,
      });
    };
    if (fastRelay !== null) {
      loadChanged();
      writeVpcs(fastRelay.globals, this.vpcBases);
    }
    this.ctx = {
      snatMode: o.snatMode,
      snatPorts: o.snatPorts ?? { low: 1024, high: 65535 },
      connectTimeoutMs: o.connectTimeoutMs,
      load,
      now,
      simulatedSourceIp: (ip) => this.simulatedSourceIp(ip),
      clientVpc: (ip) => clientVpcOf(ip, isVpc),
      listen: (host, port, sink) => countedListener(load, host, port, sink, loadChanged),
      fastRelay,
      fastLoad,
      loadChanged,
      connectionOpened: (zone) => {
        load.active++;
        loadChanged();
        summary.opened++;
        totals.connections++;
        if (zone !== null) zoneConnections.set(zone, (zoneConnections.get(zone) ?? 0) + 1);
      },
      connectionClosed: (reason) => {
        load.active--;
        loadChanged();
        totals.closed[reason]++;
        if (reason === 'idle') summary.idle++;
      },
      tally: (id) => this.tallyOf(id),
      observeConnect: o.observeConnect,
      flowLog: this.flowLog,
      zoneDown,
      choice,
      choices: this.choiceCounts,
      backendZoneConnections: this.backendZoneCounts,
      backendStats: (service, key, zone) => this.statsOf(service, key, zone),
      toxicLink: (endpoint, service, port, zone) => this.faults.linkFor(endpoint, service, port, zone),
      toxicCovers: (endpoint, service, port, zone) => this.faults.covers(endpoint, service, port, zone),
      proxyDisabled: (endpoint, port) => this.faults.proxyDisabled(endpoint, port),
      refused: (endpointId, reason, client, err) => {
        summary.refused[reason]++;
        totals.rejected[reason]++;
        if (err === undefined) o.log.debug({ endpoint_id: endpointId, reason, client }, 'connection refused');
        else o.log.error({ endpoint_id: endpointId, reason, err }, 'connection reset: handling it threw');
      },
    };
    this.gateway = new GatewayPlane(this.ctx, o.maxConnections);
    // One coarse timer for every connection: a quarter of the shortest timeout, 25 ms to 1 s.
    const tick = o.sweepIntervalMs ?? Math.min(1000, Math.max(25, Math.min(o.connectTimeoutMs, o.idleTimeoutMs) / 4));
    this.sweepTimer = tick > 0 ? setInterval(() => this.sweep(), tick).unref() : null;
    const every = o.summaryIntervalMs ?? 60_000;
    this.summaryTimer = every > 0 ? setInterval(() => this.logSummary(), every).unref() : null;
  }

  // The daemon-wide counts, read after the relay threads' held reports (timed reports) are in.
  get totals(): EndpointCounters {
    this.fastRelay?.report();
    return this.allTotals;
  }

  get choices(): Record<ChoiceReason, number> {
    this.fastRelay?.report();
    return this.choiceCounts;
  }

  get zoneConnections(): Map<string, number> {
    this.fastRelay?.report();
    return this.zoneCounts;
  }

  get backendZoneConnections(): Map<string | null, number> {
    this.fastRelay?.report();
    return this.backendZoneCounts;
  }

  get activeConnections(): number {
    this.fastRelay?.report();
    return this.load.active;
  }

  endpointConnections(endpointId: string): number {
    this.fastRelay?.report();
    return this.runtimes.get(endpointId)?.active ?? this.gateway.active(endpointId);
  }

  // the path tracer's inputs: the counts after the threads' held reports, as a connection would meet them
  admissionOf(endpointId: string): LiveAdmission | null {
    this.fastRelay?.report();
    const r = this.runtimes.get(endpointId);
    if (!r) return null;
    return { gate: r, networkAclAt: (host) => r.networkAclAt(host), load: this.daemonLoad(), ports: r.boundPorts, snatPortsFree: r.snatPortsFree, snatMode: this.o.snatMode };
  }

  daemonLoad(): DaemonLoad {
    this.fastRelay?.report();
    return { ...this.load };
  }

  publicListening(publicIp: number, port: number): boolean {
    return this.gateway.listening(publicIp, port);
  }

  zoneDown(zone: string | null): boolean {
    return this.ctx.zoneDown(zone);
  }

  targetHealth(key: string): { state: ProbeState; reason: ProbeReason | null; unhealthyDraining?: boolean } | null {
    if (this.prober === null || !this.probed.has(key)) return null;
    const state = this.prober.state(key);
    const unhealthyDraining = state === 'unhealthy' && [...this.runtimes.values()].some((r) => r.unhealthyDraining(key));
    return { state, reason: this.prober.reason(key), ...(unhealthyDraining ? { unhealthyDraining } : {}) };
  }

  probedTargets(): Iterable<string> {
    return this.prober === null ? [] : this.probed;
  }

  /** tells `listener` each change of a backend's probe state (the DNS server's answers follow health); none without a prober */
  onHealthChange(listener: () => void): void {
    this.prober?.onChange(listener);
  }

  /** every backend's counters, with its probe state (not probed: healthy while a live endpoint relays to it, else initial) and whether its zone is down */
  backends(): Array<BackendStats & { state: ProbeState; zoneDown: boolean; takesNew: boolean }> {
    this.fastRelay?.report();
    this.pruneUnused();
    // what a new connection may go to, port by port, as chooseBackend decides it (an initial
    // target takes none while a target of its port is healthy); a backend no live endpoint uses
    // takes none either
    const takes = new Set<string>();
    // the probe state of each backend in use: its target group's probe of it; probed by two groups
    // (one address behind two listeners), the worse state
    const states = new Map<string, ProbeState>();
    const stateOf = (key: string, unprobed: ProbeState): ProbeState => (this.prober !== null && this.probed.has(key) ? this.prober.state(key) : unprobed);
    for (const r of this.runtimes.values()) {
      for (const backend of r.spec.backends) {
        const targets = targetsOf(backend);
        const healthy = anyHealthy(targets, this.ctx.choice);
        for (const t of targets) {
          const id = `${r.spec.service_id} ${t.key}`;
          if (eligible(t, this.ctx.choice, healthy)) takes.add(id);
          // one a live endpoint relays to and nothing probes (a service's one backend takes every
          // flow, so it is not probed) is up, as the data plane takes it (`initial` was forever)
          const state = stateOf(t.probe_key ?? t.key, 'healthy');
          const was = states.get(id);
          if (was === undefined || WORSE[state] > WORSE[was]) states.set(id, state);
        }
      }
    }
    return [...this.backendStats.entries()].map(([id, b]) => ({
      ...b, state: states.get(id) ?? stateOf(b.key, 'initial'), zoneDown: this.ctx.zoneDown(b.zone),
      takesNew: takes.has(id),
    }));
  }

  /** the backends an endpoint relays to or drains (tests) */
  endpointBackends(endpointId: string): ReturnType<EndpointRuntime['backendSlots']> {
    this.fastRelay?.report();
    return this.runtimes.get(endpointId)?.backendSlots() ?? [];
  }

  private statsOf(service: string, key: string, zone: string | null): BackendStats {
    const id = `${service} ${key}`;
    let b = this.backendStats.get(id);
    if (!b) {
      this.backendStats.set(id, (b = { service, key, zone, active: 0, connections: 0, failures: 0 }));
      let ids = this.statsByService.get(service);
      if (!ids) this.statsByService.set(service, (ids = new Set()));
      ids.add(id);
    }
    return b;
  }

  /** the health checker's counts (probes by result, targets by state), read by the metrics at scrape time */
  healthFigures(): HealthFigures | null {
    return this.prober instanceof HealthChecker ? this.prober.figures() : null;
  }

  /**
   * An endpoint event changes what that endpoint adds to the backends in use and the targets
   * probed, and nothing else: its old share is taken out and its new one put in (an event costs
   * O(its own backends), not O(every live endpoint)). The prober is told the union only when it
   * changed. A backend's counters stay while it is its service's, live endpoint or not (a counter
   * that went back to 0 at a reject and a re-accept broke rate()): they go once it left the
   * service (a live endpoint's spec no longer names it) and they hold no connection, or with the
   * service (apply: 'service' not available).
   */
  private refreshBackends(id: string): void {
    const r = this.runtimes.get(id);
    this.replaceShare(id, r ? shareOf(r) : null);
  }

  /** puts NEXT in for the share of ID (an endpoint's, or the listeners' probes: LISTENER_PROBES) */
  private replaceShare(id: string, next: BackendShare | null): void {
    const prev = this.shares.get(id);
    if (next) this.shares.set(id, next);
    else this.shares.delete(id);
    for (const u of next?.used ?? []) this.usedBy.set(u, (this.usedBy.get(u) ?? 0) + 1);
    // each key the share asks or asked probed: how it is probed before the change, to tell the prober only of one
    const was = new Map<string, ProbeTarget | null>();
    for (const t of prev?.probes ?? []) if (!was.has(t.key)) was.set(t.key, this.probeOf(t.key));
    for (const t of next?.probes ?? []) if (!was.has(t.key)) was.set(t.key, this.probeOf(t.key));
    for (const t of prev?.probes ?? []) {
      const asks = this.probedBy.get(t.key)!;
      asks.delete(id);
      if (asks.size === 0) this.probedBy.delete(t.key);
    }
    for (const t of next?.probes ?? []) {
      let asks = this.probedBy.get(t.key);
      if (!asks) this.probedBy.set(t.key, (asks = new Map()));
      asks.set(id, t);
    }
    let changed = false;
    for (const [key, before] of was) {
      const after = this.probeOf(key);
      if (before === null || after === null ? before !== after : !sameProbe(before, after)) changed = true;
    }
    for (const u of prev?.used ?? []) {
      const n = this.usedBy.get(u)! - 1;
      if (n > 0) this.usedBy.set(u, n);
      else this.usedBy.delete(u);
    }
    // a live endpoint's spec names every backend of its service now: the service's others no live
    // endpoint uses left it (an endpoint not live or deleted says nothing of its service's backends)
    if (next?.service !== undefined) {
      for (const u of this.statsByService.get(next.service) ?? []) if (!this.usedBy.has(u)) this.unused.add(u);
    }
    this.pruneUnused();
    if (this.prober === null || !changed) return;
    this.probed = new Set(this.probedBy.keys());
    for (const key of this.unhealthy) if (!this.probed.has(key)) this.unhealthy.delete(key);
    this.prober.set([...this.probedBy.values()].map((asks) => sharedProbe(asks.values())!));
  }

  /** how KEY is probed now: the target of the share that asks it probed soonest (null: none asks) */
  private probeOf(key: string): ProbeTarget | null {
    const asks = this.probedBy.get(key);
    return asks === undefined ? null : sharedProbe(asks.values());
  }

  /** the counters of backends that left their service go once they hold no connection (at the next event or read) */
  private pruneUnused(): void {
    for (const u of this.unused) {
      if (this.usedBy.has(u)) this.unused.delete(u);
      else if ((this.backendStats.get(u)?.active ?? 0) === 0) this.dropStats(u);
    }
  }

  /** a backend's counters go (its series with them) */
  private dropStats(u: string): void {
    const b = this.backendStats.get(u);
    this.backendStats.delete(u);
    this.unused.delete(u);
    const ids = b && this.statsByService.get(b.service);
    if (ids?.delete(u) && ids.size === 0) this.statsByService.delete(b!.service);
  }

  /** route decisions of connections to public services, by target type */
  get routeDecisions(): Readonly<Record<string, number>> {
    return this.gateway.decisions;
  }

  /** an endpoint's counters go, and its series with them */
  private dropTally(id: string): void {
    const t = this.tallies.get(id);
    if (t === undefined) return;
    for (const f of t.fast) f.relay.fastEndpointDrop(f.handle);
    this.tallies.delete(id);
    this.o.forget(id);
  }

  /** an endpoint's tally, made on its first runtime */
  private tallyOf(id: string): EndpointTally {
    let t = this.tallies.get(id);
    if (!t) this.tallies.set(id, (t = newTally()));
    return t;
  }

  apply(event: ChangeEvent): Promise<Ack> {
    // closed (the daemon stops): a change still on its way (an activation the API took before the
    // SIGTERM) binds nothing after the drain; what the store records, the next start brings up
    if (this.closed) return Promise.resolve({ ok: true });
    if (event.kind === 'service') {
      // a service gone (its endpoints are failed and cut next): its backends' counters go with it
      if (!event.available) {
        for (const u of this.statsByService.get(event.id) ?? []) this.dropStats(u);
      }
      return Promise.resolve({ ok: true });
    }
    if (event.kind === 'zones') {
      this.zonesDown.clear();
      for (const z of event.down) this.zonesDown.add(z);
      // a zone down: its ENIs' live connections are cut now (new ones are refused at accept, zone_down),
      // and so are the connections to its backends, unreachable now
      let cut = 0;
      this.fastRelay?.report();
      for (const r of this.runtimes.values()) cut += r.cutDownZones();
      if (event.down.length) this.o.log.info({ zones_down: event.down, cut }, 'zones down: their ENIs refuse connections, their backends are unreachable');
      return Promise.resolve({ ok: true });
    }
    if (event.kind === 'faults') return this.applyFaults(event.toxics, event.disabled);
    if (event.kind === 'probes') {
      this.replaceShare(LISTENER_PROBES, { used: [], probes: [...event.targets] });
      return Promise.resolve({ ok: true });
    }
    if (event.kind === 'routing') {
      const view = event.view;
      // VPCs come and go through the API: the view names every VPC there is now (isolation,
      // simulated sources), over those the data plane started with
      this.vpcBases.clear();
      for (const v of this.o.vpcs) this.vpcBases.set(v.number, cidrOf(v.cidr).base);
      for (const v of view.vpcs) this.vpcBases.set(v.number, cidrOf(v.cidr).base);
      if (this.fastRelay !== null) writeVpcs(this.fastRelay.globals, this.vpcBases);
      const prev = this.queues.get('routing') ?? Promise.resolve();
      const next = prev.then(() => this.gateway.apply(view));
      this.queues.set('routing', next.catch(() => undefined));
      return next;
    }
    // Events of one endpoint apply in order; different endpoints proceed independently.
    const prev = this.queues.get(event.id) ?? Promise.resolve();
    const live = event.live;
    const deleted = event.deleted === true;
    const next = prev.then(() => this.applyEndpoint(event.id, live, deleted)).finally(() => this.refreshBackends(event.id));
    const tail = next.catch(() => undefined);
    this.queues.set(event.id, tail);
    void tail.then(() => { if (this.queues.get(event.id) === tail) this.queues.delete(event.id); });
    return next;
  }

  /** the figures of every endpoint that was live once and is not deleted (live or not now), read by the metrics at scrape time */
  stats(): EndpointFigures[] {
    this.fastRelay?.report();
    const out: EndpointFigures[] = [];
    for (const [id, t] of this.tallies) {
      const b = tallyBytes(t);
      const r = this.runtimes.get(id) ?? this.gateway.runtimes.get(id);
      out.push({
        id,
        active: t.connections.size,
        connections: t.counters.connections,
        rejected: t.counters.rejected,
        closed: t.counters.closed,
        receivedBytes: b.received,
        sentBytes: b.sent,
        snatPorts: r?.snatPortsInUse ?? 0,
      });
    }
    return out;
  }

  /** the internet path's figures (connections to public services routed igw or from outside every VPC) */
  get internet(): InternetFigures {
    const r = this.gateway.internet;
    const b = r.bytes();
    return { active: r.active, connections: r.counters.connections, receivedBytes: b.received, sentBytes: b.sent };
  }

  /** SIGTERM: stop accepting, let live connections finish for up to `timeoutMs`, then cut the rest */
  async drain(timeoutMs: number): Promise<{ drained: number; cut: number }> {
    for (const r of this.runtimes.values()) r.stopListening();
    this.gateway.stopListening();
    const before = this.liveConnections();
    const start = performance.now();
    this.drainUntil = start + timeoutMs;
    let logged = start;
    while (this.liveConnections() > 0 && performance.now() < this.drainUntil) {
      await new Promise((r) => setTimeout(r, 50));
      const t = performance.now();
      const live = this.liveConnections();
      if (t - logged >= 1000 && live > 0) {
        logged = t;
        this.o.log.info({ active: live, closed: before - live, left_ms: Math.max(0, Math.round(this.drainUntil - t)) }, 'draining: connections still open');
      }
    }
    const cut = this.liveConnections();
    this.close();
    return { drained: before - cut, cut };
  }

  /** ends a drain now: the connections still open are cut (a second SIGTERM); the live count */
  endDrain(): number {
    this.drainUntil = 0;
    return this.liveConnections();
  }

  /** connections open now: those TypeScript counts, with the relay threads' own count for theirs (some not reported yet: timed reports) */
  private liveConnections(): number {
    if (this.fastRelay === null) return this.load.active;
    this.fastRelay.report();
    return this.load.active - this.fastLoad.live + this.fastRelay.fastFigures().open;
  }

  close(): void {
    this.closed = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.summaryTimer) clearInterval(this.summaryTimer);
    this.prober?.close();
    for (const r of this.runtimes.values()) r.close();
    this.runtimes.clear();
    this.gateway.close();
  }

  /**
   * New toxics apply to new connections, re-link live ones on the toxic path and hand live plain
   * ones they apply to over to it (Toxiproxy adds a toxic to every live link); a proxy enabled or
   * disabled brings its endpoint's listeners to the spec again (in the endpoint's queue), a bind
   * that fails is the answer
   */
  private async applyFaults(toxics: Parameters<DataPlaneFaults['apply']>[0], disabled: readonly string[]): Promise<Ack> {
    const changed = this.faults.apply(toxics, disabled);
    if (this.faults.anyNew) {
      const link = (endpoint: string, service: string, port: number, zone: string) => this.faults.linkFor(endpoint, service, port, zone, true);
      const handing: Promise<void>[] = [];
      this.fastRelay?.report();
      for (const r of [...this.runtimes.values(), ...this.gateway.allRuntimes()]) r.toxify(link, handing);
      // the answer waits for the relay threads to let the live connections go (bounded): a byte
      // written after it meets the toxic
      if (handing.length) await settleWithin(Promise.all(handing), HANDOVER_WAIT_MS);
    }
    // a toxic's scope decides which listeners the relay threads may accept on (the fast path)
    if (this.fastRelay !== null) {
      for (const r of this.runtimes.values()) r.compileFast();
      this.gateway.compileFast();
    }
    const acks = await Promise.all([...changed].map((id) => {
      const r = this.runtimes.get(id);
      if (!r) return { ok: true } as Ack;
      const next = (this.queues.get(id) ?? Promise.resolve()).then(() => r.update(r.spec));
      this.queues.set(id, next.catch(() => undefined));
      return next;
    }));
    return acks.find((a) => !a.ok) ?? { ok: true };
  }

  private async applyEndpoint(id: string, live: LiveEndpoint | null, deleted: boolean): Promise<Ack> {
    const current = this.runtimes.get(id);
    if (!live) {
      if (current) {
        current.close();
        this.runtimes.delete(id);
        this.o.log.info({ endpoint_id: id }, 'endpoint down: listeners closed, connections cut');
      }
      // Its counters stay while it exists, so that a cut or a reject can be scraped; they go with it.
      if (deleted) this.dropTally(id);
      return { ok: true };
    }
    const first = !this.tallies.has(id);
    const runtime = current ?? new EndpointRuntime(live, this.ctx, this.tallyOf(id));
    const result = await runtime.update(live);
    if (!result.ok) {
      if (!current) runtime.close();
      // never live (its first listeners could not bind): no series yet (README "Metrics")
      if (first) this.dropTally(id);
      return result;
    }
    if (!current) {
      this.runtimes.set(id, runtime);
      this.o.log.info({ endpoint_id: id, host_ips: live.enis.map((e) => e.host_ip), ports: live.backends.map((b) => b.client_port), snat_ip: live.snat_ip }, 'endpoint live');
    }
    return { ok: true };
  }

  /** a client's simulated address: inside a VPC mapped from its host address 127.k.c.d, else its own (0: not IPv4) */
  private simulatedSourceIp(ip: number): number {
    const k = hostNumber(ip);
    const base = k === 0 ? undefined : this.vpcBases.get(k);
    return base === undefined ? ip >>> 0 : simulatedAddress(base, ip & 0xffff);
  }

  /** finds connects past their deadline and idle connections (each by its port's idle timeout), on the data plane's clock */
  sweep(): void {
    const now = this.now();
    const idleMs = this.idleMs;
    this.fastRelay?.report();
    for (const r of this.runtimes.values()) r.sweepDrains(now);
    const threadsTime = this.threadsTime;
    for (const r of [...this.runtimes.values(), ...this.gateway.allRuntimes()]) {
      for (const c of r.connections) {
        // the fast path's connections: their timeouts run on the relay threads
        if (threadsTime && c.threadPort === true && c.offThreads !== true) continue;
        if (c.phase === Phase.Connecting) {
          if (now > c.deadline) c.fail('backend_timeout');
          continue;
        }
        if (c.takeActivity()) {
          c.lastActive = now;
        } else if (now - c.lastActive > r.idleTimeoutMs(c.listenPort, idleMs) && c.phase === Phase.Open) {
          c.closeIdle();
          continue;
        }
        c.probe();
      }
    }
    if (this.flowLog !== null) this.flowLog.sweep(now);
  }

  private logSummary(): void {
    const s = this.summary;
    const refused = Object.values(s.refused).reduce((a, b) => a + b, 0);
    if (s.opened === 0 && refused === 0 && s.idle === 0) return;
    const reasons = Object.fromEntries(Object.entries(s.refused).filter(([, n]) => n > 0));
    this.o.log.info({ active: this.load.active, endpoints: this.runtimes.size, opened: s.opened, refused: reasons, idle_closed: s.idle }, 'data plane summary');
    s.opened = 0;
    s.idle = 0;
    for (const k of REFUSAL_REASONS) s.refused[k] = 0;
  }
}

/** how long a toxic's answer waits for the relay threads to hand its live connections over */
const HANDOVER_WAIT_MS = 2_000;

/** waits for WORK, at most MS (a hand-over the thread never reports does not hold the API) */
async function settleWithin(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work, new Promise<void>((resolve) => { timer = setTimeout(resolve, ms); })]);
  clearTimeout(timer);
}

/** a probe state's weight where one backend has several (unhealthy over healthy over initial) */
const WORSE: Readonly<Record<ProbeState, number>> = { initial: 0, healthy: 1, unhealthy: 2 };

/** the share of the targets the load balancers' listeners forward to (no endpoint's id looks like it) */
const LISTENER_PROBES = ' listeners';

/** what one live endpoint adds to the backends in use ("service key") and the targets probed */
interface BackendShare {
  /** the endpoint's service, whose backends USED are all of (none: the listeners' probes) */
  readonly service?: string;
  readonly used: string[];
  readonly probes: ProbeTarget[];
}

function shareOf(r: EndpointRuntime): BackendShare {
  const used: string[] = [];
  const probes: ProbeTarget[] = [];
  const seen = new Set<string>();
  // every backend of the service, a port taken down through Toxiproxy's API (no listener) too
  for (const backend of r.spec.backends) {
    for (const t of targetsOf(backend)) {
      const id = `${r.spec.service_id} ${t.key}`;
      if (!seen.has(id)) {
        seen.add(id);
        used.push(id);
      }
    }
  }
  const probed = new Set<string>();
  for (const { backend, targets } of r.targets) {
    for (const t of targets) {
      const key = t.probe_key ?? t.key;
      if (backend.health && !probed.has(key)) {
        probed.add(key);
        probes.push({ key, host: t.host, port: t.probe_port ?? t.port, zone: t.zone, settings: backend.health });
      }
    }
  }
  return { service: r.spec.service_id, used, probes };
}

function sameProbe(a: ProbeTarget, b: ProbeTarget): boolean {
  return a.host === b.host && a.port === b.port && a.zone === b.zone && (a.settings === b.settings || JSON.stringify(a.settings) === JSON.stringify(b.settings));
}

/** a listener counted in the descriptor budget while it is open (an object with its method on the prototype: no closure per listener) */
class CountedListener implements TcpListener {
  private open = true;
  readonly fast: TcpListener['fast'];

  constructor(private readonly load: { listeners: number }, private readonly server: TcpListener, private readonly changed: () => void) {
    this.fast = server.fast;
    load.listeners++;
    changed();
  }

  close(): void {
    if (this.open) {
      this.open = false;
      this.load.listeners--;
      this.changed();
    }
    this.server.close();
  }
}

async function countedListener(load: { listeners: number }, host: string, port: number, sink: ListenerSink, changed: () => void): Promise<TcpListener> {
  return new CountedListener(load, await listenTcp(host, port, sink), changed);
}

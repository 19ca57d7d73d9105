// Gateway endpoints on the data plane: listeners on the public services' host addresses
// (127.255.c.d for a public a.b.c.d), and for each connection the route decision of
// src/model/routing.ts, decide() (the path tracer words the same decision with explain()): through
// a gateway endpoint (its status, policy and cap), to the internet gateway, or refused. With the
// native relay's fast path each listener's decisions are compiled (src/dataplane/fast-routes.ts)
// and the relay threads route, admit and connect its clients; TypeScript hears of them after.
import type { Ack, FailedServices } from '../model/events.js';
import { REFUSAL_REASONS } from '../model/admission.js';
import { decide, indexRouting, routeRefusalReason, serviceAt, type RouteTarget, type RoutingIndex, type RoutingView } from '../model/routing.js';
import { cidrContains, intToIp, lastAddress } from '../net/cidr.js';
import { hostAddress, hostNumber, PUBLIC_NUMBER, simulatedAddress } from '../net/loopback.js';
import { flowOrigin } from '../telemetry/flow-log.js';
import { bindFailure, type BindFailure } from './bind-failure.js';
import type { DataPlaneContext } from './endpoint-runtime.js';
import { EndpointRuntime, type EndpointTally, type RoutedScope } from './endpoint-runtime.js';
import type { FastOpened, PendingClient, RouteKey, TcpListener } from './connection.js';
import { compileRoutes, ROUTE_TARGETS } from './fast-routes.js';

/** compiled route versions whose entries a late report may still name */
const VERSIONS_KEPT = 16;

interface PublicListener {
  readonly server: TcpListener;
  readonly publicIp: number;
  readonly port: number;
  /** the fast path: the version the threads decide by now (0: the event loop decides), and each recent version's entries (0: the internet path) */
  version: number;
  readonly entries: Map<number, readonly EndpointRuntime[]>;
  /** the public service it serves, as compiled ('' : not compiled) */
  serviceId: string;
}

/** the runtime of a gateway endpoint or of the internet path: no listeners of its own */
function routedRuntime(id: string, cap: number, ctx: DataPlaneContext, tally?: EndpointTally, accountId = ''): EndpointRuntime {
  return new EndpointRuntime({
    id, account_id: accountId, marker_id: 0, service_id: '', ip: '0.0.0.0', host_ip: '', enis: [], vpc_id: '', vpc_number: 0, vpc_cidr: '0.0.0.0/0',
    snat_ip: '', tcp_proxy: 'close', backends: [], enable_whitelist: false, whitelist: [], connection_cap: cap,
  }, ctx, tally);
}

export class GatewayPlane {
  /** the routing view indexed once per view (the event carries plain data) */
  private view: RoutingIndex | null = null;
  private readonly listeners = new Map<string, PublicListener>();
  /** gateway endpoints' runtimes, by endpoint id */
  readonly runtimes = new Map<string, EndpointRuntime>();
  /** connections routed to the internet gateway */
  readonly internet: EndpointRuntime;
  readonly decisions: Record<RouteTarget, number> = { gateway_endpoint: 0, igw: 0, local: 0, blackhole: 0, none: 0 };
  private readonly ctx: DataPlaneContext;
  /** the fast path: the last compiled routes' version (16 bits, never 0) and how many listeners the threads accept on */
  private routeVersion = 0;
  private fastListeners = 0;
  private compilePending = false;
  /** a routed runtime's event-loop connection closed: the threads' cap shares grow (one compile for the closes of a tick's callbacks) */
  private readonly slowClosed = (): void => {
    if (this.fastListeners === 0 || this.compilePending) return;
    this.compilePending = true;
    queueMicrotask(() => {
      this.compilePending = false;
      this.compileFast();
    });
  };

  constructor(ctx: DataPlaneContext, maxConnections: number) {
    this.ctx = ctx;
    this.internet = routedRuntime('internet', maxConnections, ctx);
    this.internet.onSlowClosed = this.slowClosed;
    // the internet path is no endpoint: its records name none
    if (ctx.flowLog !== null) this.internet.flowOrigin = flowOrigin({});
  }

  active(endpointId: string): number {
    return this.runtimes.get(endpointId)?.active ?? 0;
  }

  /** active(), bound once: decide() takes it for every connection */
  private readonly activeOf = (endpointId: string): number => this.active(endpointId);

  /** whether a public address and port has its listener bound */
  listening(publicIp: number, port: number): boolean {
    return this.listeners.has(`${publicIp}:${port}`);
  }

  /**
   * takes a new routing view: listeners follow the public services, live connections their routes.
   * A listener that cannot bind fails its service (named in the ack), not the view: the others run,
   * and the next view tries it again.
   */
  async apply(plain: RoutingView): Promise<Ack> {
    const view = indexRouting(plain);
    const wanted = new Map<string, { publicIp: number; port: number; serviceId: string }>();
    for (const s of view.services) {
      for (const prefix of s.prefixes) {
        for (let ip = prefix.base; ip <= lastAddress(prefix); ip++) {
          for (const port of s.byPort.keys()) wanted.set(`${ip}:${port}`, { publicIp: ip, port, serviceId: s.id });
        }
      }
    }
    for (const [key, l] of this.listeners) {
      if (!wanted.has(key)) {
        l.server.close();
        this.listeners.delete(key);
      }
    }
    const failed = new Map<string, BindFailure>();
    for (const [key, w] of wanted) {
      if (this.listeners.has(key) || failed.has(w.serviceId)) continue;
      try {
        const l: PublicListener = { publicIp: w.publicIp, port: w.port, server: null!, version: 0, entries: new Map(), serviceId: '' };
        (l as { server: TcpListener }).server = await this.listen(l);
        this.listeners.set(key, l);
      } catch (err) {
        failed.set(w.serviceId, bindFailure(err, hostOfPublic(w.publicIp), w.port, 'a public service'));
      }
    }
    this.view = view;
    // Endpoints that are gone lose their connections; the others keep the ones still routed to them.
    for (const [id, r] of this.runtimes) {
      const ep = view.endpoints.get(id);
      if (!ep || ep.status !== 'accepted') {
        r.close();
        this.runtimes.delete(id);
        continue;
      }
      r.cap = ep.cap;
      r.cutWhere((route) => this.routedThrough(view, route, id));
    }
    this.internet.cutWhere((route) => this.routedThrough(view, route, ''));
    this.compileFast();
    return { ok: true, failedServices: failed satisfies FailedServices };
  }

  /**
   * Whether a live connection's ROUTE still leads through gateway endpoint ENDPOINTID ('': the
   * internet path) under VIEW (a policy change does not cut what it admitted). 002_05e46307768ae273.txt:
   * when an endpoint takes over (or a route goes), connections that used the internet path from a
   * VPC are disconnected too; clients outside every VPC stay.
   */
  private routedThrough(view: RoutingIndex, route: RouteKey, endpointId: string): boolean {
    if (endpointId === '') return route.vpcId === '' || decide(view, route, this.activeOf).target === 'igw';
    const d = decide(view, route, this.activeOf);
    return d.target === 'gateway_endpoint' && d.endpoint?.id === endpointId && d.refusal !== 'policy';
  }

  /**
   * The fast path (README "Gateway endpoints"): each public listener's route decisions compiled for
   * the relay threads, or taken back to the event loop when some rule needs TypeScript per
   * connection (flow logs, a toxic covering the service's port, VPCEP_FAST_ACCEPT=off). Called on
   * every change decide() reads (a routing view: routes, endpoints, their policies and caps), on
   * toxics, and when a routed connection on the event loop's path closes (the caps' shares).
   */
  compileFast(): void {
    const ctx = this.ctx;
    const view = this.view;
    if (!ctx.fastRelay || view === null) return;
    this.routeVersion = (this.routeVersion % 0xffff) + 1;
    const version = this.routeVersion;
    const zones = new Set<string>(['']);
    for (const v of view.vpcs.values()) for (const s of v.subnets) zones.add(s.zone ?? '');
    const internet = this.internet.fastRouteEntry();
    const ranges = new Map<string, number[]>();
    const candidates = [...this.listeners.values()].filter((l) => l.server.fast).map((l) => {
      const compiled = ctx.flowLog !== null || internet === null ? null
        : compileRoutes(view, l.publicIp, l.port, internet, (id) => this.runtimeOf(id)?.fastRouteEntry() ?? null, version, ranges);
      const service = serviceAt(view, l.publicIp, l.port);
      const covered = compiled === null || service === null
        || compiled.entries.some((id) => [...zones].some((z) => ctx.toxicCovers?.(id, service.id, l.port, z) !== false));
      return { l, compiled, service, covered };
    });
    // all or none per gateway endpoint: one of its listeners on the event loop's path, and the
    // threads and the event loop would each admit up to its cap. (The internet path, '', is on
    // both: its cap is the daemon's max_connections, counted on both paths as the daemon's is.)
    const slowEntries = new Set<string>();
    for (const c of candidates) if (c.covered) for (const id of c.compiled?.entries ?? []) if (id !== '') slowEntries.add(id);
    let n = 0;
    for (const { l, compiled, service, covered } of candidates) {
      const fast = l.server.fast!;
      if (covered || compiled!.entries.some((id) => slowEntries.has(id)) || !routeOnThreads(fast, compiled!.words)) {
        if (l.version !== 0) fast.off();
        l.version = 0;
        continue;
      }
      l.version = version;
      l.serviceId = service!.id;
      l.entries.set(version, compiled!.entries.map((id) => (id === '' ? this.internet : this.runtimes.get(id)!)));
      if (l.entries.size > VERSIONS_KEPT) l.entries.delete(l.entries.keys().next().value!);
      n++;
    }
    this.fastListeners = n;
  }

  /** the fast path: a relay thread routed, admitted and connected a client of listener L (target: version << 12 | entry) */
  private fastOpened(l: PublicListener, opened: FastOpened): void {
    const version = opened.target >>> 12;
    const entry = opened.target & 0xfff;
    const r = l.entries.get(version)?.[entry] ?? this.internet;
    const view = this.view!;
    const vpc = view.vpcByNumber.get(hostNumber(opened.remoteIp));
    const route: RouteKey = vpc === undefined
      ? { vpcId: '', sourceIp: 0, destinationIp: l.publicIp, destinationPort: l.port }
      : { vpcId: vpc.id, sourceIp: simulatedAddress(vpc.cidr.base, opened.remoteIp & 0xffff), destinationIp: l.publicIp, destinationPort: l.port };
    const zone = vpc?.subnets.find((s) => cidrContains(s.cidr, route.sourceIp))?.zone ?? '';
    const endpointId = r === this.internet ? '' : r.spec.id;
    this.decisions[endpointId === '' ? 'igw' : 'gateway_endpoint']++;
    const conn = r.adoptRouted(opened, l.port, route, { endpoint: endpointId, service: l.serviceId, zone });
    // decided by routes that changed before this report arrived: what the change cuts, this is cut too
    if (version !== l.version && !this.routedThrough(view, route, endpointId)) conn.cut();
  }

  /** the fast path: a relay thread refused a client of listener L (target: (version << 16 | entry + 1) << 3 | route target, up to 35 bits) */
  private fastRefused(l: PublicListener, code: number, ip: number, _port: number, target: number): void {
    const reason = REFUSAL_REASONS[code] ?? 'error';
    this.decisions[ROUTE_TARGETS[target % 8] ?? 'none']++;
    const entry = (Math.floor(target / 8) % 0x10000) - 1;
    const r = entry < 0 ? undefined : l.entries.get(Math.floor(target / 0x80000))?.[entry];
    if (r !== undefined) r.counters.rejected[reason]++;
    this.ctx.refused(r?.spec.id ?? 'gateway', reason, intToIp(ip));
  }

  close(): void {
    for (const l of this.listeners.values()) l.server.close();
    this.listeners.clear();
    for (const r of this.runtimes.values()) r.close();
    this.internet.close();
  }

  /** every runtime with connections: the gateway endpoints' and the internet path's */
  allRuntimes(): EndpointRuntime[] {
    return [...this.runtimes.values(), this.internet];
  }

  stopListening(): void {
    for (const l of this.listeners.values()) l.server.close();
    this.listeners.clear();
  }

  private listen(l: PublicListener): Promise<TcpListener> {
    const { publicIp, port } = l;
    return this.ctx.listen(hostOfPublic(publicIp), port, {
      onClient: (client) => this.accept(client, publicIp, port),
      onFastOpened: (opened) => this.fastOpened(l, opened),
      onFastRefused: (code, ip, remotePort, target) => this.fastRefused(l, code, ip, remotePort, target),
      // Accept errors (EMFILE, ...) are counted, never fatal.
      onAcceptError: (reason, err) => {
        this.internet.counters.rejected[reason]++;
        this.ctx.refused('internet', reason, 'accept', err);
      },
    });
  }

  private accept(client: PendingClient, publicIp: number, port: number): void {
    const view = this.view!;
    const host = client.remoteAddress;
    const k = hostNumber(client.remoteIp);
    const vpc = k !== 0 && k !== PUBLIC_NUMBER ? view.vpcByNumber.get(k) : undefined;
    if (!vpc) {
      // A client outside every VPC reaches a public service as internet traffic.
      this.decisions.igw++;
      this.relayInternet(client, publicIp, port);
      return;
    }
    const route: RouteKey = {
      vpcId: vpc.id, sourceIp: simulatedAddress(vpc.cidr.base, client.remoteIp & 0xffff), destinationIp: publicIp, destinationPort: port,
    };
    const d = decide(view, route, this.activeOf);
    this.decisions[d.target]++;
    const reason = routeRefusalReason(d);
    if (reason !== null) {
      const r = d.endpoint ? this.runtimeOf(d.endpoint.id) : undefined;
      if (r) r.counters.rejected[reason]++;
      this.ctx.refused(d.endpoint?.id ?? 'gateway', reason, host);
      if (this.ctx.flowLog !== null) {
        this.ctx.flowLog.rejected(r?.flowOrigin ?? flowOrigin({ endpoint: d.endpoint?.id, account: d.endpoint?.accountId }), intToIp(route.sourceIp), client.remotePort, intToIp(publicIp), port, reason);
      }
      client.reset();
      return;
    }
    if (d.target === 'igw') {
      this.relayInternet(client, publicIp, port, route, d.subnet?.zone ?? '');
      return;
    }
    const r = this.runtimeOf(d.endpoint!.id)!;
    const t = d.service!.byPort.get(port)!;
    const scope: RoutedScope = { endpoint: d.endpoint!.id, service: d.service!.id, zone: d.subnet?.zone ?? '' };
    // 002_05e46307768ae273.txt: behind a gateway endpoint the service sees the client's private
    // address; on one host that is the client's host address 127.k.c.d, bound as the source.
    r.relayRouted(client, port, { host: t.host, port: t.port, localAddress: host.replace(/^::ffff:/, ''), bindPoolPort: false, preamble: null }, route, scope);
  }

  /** a gateway endpoint's runtime, made on its first connection (relayed or refused) */
  private runtimeOf(endpointId: string): EndpointRuntime | undefined {
    let r = this.runtimes.get(endpointId);
    const ep = this.view?.endpoints.get(endpointId);
    if (!r && ep && ep.status === 'accepted') {
      this.runtimes.set(endpointId, (r = routedRuntime(endpointId, ep.cap, this.ctx, this.ctx.tally(endpointId), ep.accountId)));
      r.onSlowClosed = this.slowClosed;
    }
    return r;
  }

  /** ZONE: the client's subnet's ('' outside every VPC) */
  private relayInternet(client: PendingClient, publicIp: number, port: number, route: RouteKey | null = null, zone = ''): void {
    const s = serviceAt(this.view!, publicIp, port);
    const t = s?.byPort.get(port);
    if (!t) {
      client.reset();
      return;
    }
    this.internet.relayRouted(client, port, { host: t.host, port: t.port, localAddress: undefined, bindPoolPort: false, preamble: null },
      route ?? { vpcId: '', sourceIp: 0, destinationIp: publicIp, destinationPort: port }, { endpoint: '', service: s!.id, zone });
  }
}

/** hands a listener's compiled routes to the threads; false when they cannot take them (an endpoint's handle dropped with its deletion before the routing view that removes it) */
function routeOnThreads(fast: NonNullable<TcpListener['fast']>, words: Uint32Array): boolean {
  try {
    return fast.route(words);
  } catch {
    return false;
  }
}

/** public a.b.c.d lives at 127.255.c.d */
const hostOfPublic = (ip: number): string => hostAddress(PUBLIC_NUMBER, ip);


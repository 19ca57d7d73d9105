// The instruments of the metrics declared in metric-table.ts, and where they read their figures.
import { Readable } from 'node:stream';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import client from 'prom-client';
import { ConnectHistograms, EndpointSeriesCache, gzipOf, type EndpointSeriesFigures } from './endpoint-series.js';
import { declared, type EndpointInfo, type MetricName } from './metric-table.js';
import { storeMetrics } from './store-metrics.js';
import { DEFAULTS } from '../model/defaults.js';
import type { ProbeState } from '../model/health.js';
import type { StoreObserver } from '../store/store.js';

/**
 * the per-endpoint series in the text format, after PREFIX (the daemon-wide series), as a stream
 * of the chunks kept rendered between scrapes (endpoint-series.ts)
 */
export interface EndpointSeries {
  /** GZIP: the chunks as one gzip member made of their kept deflate pieces (the reply's Content-Encoding: gzip) */
  metrics(prefix?: string, gzip?: boolean): Promise<Buffer | Readable>;
}

export interface StatusCounts {
  services: Record<string, number>;
  endpoints: Record<string, number>;
}

/** One endpoint's data-plane figures, read at scrape time. */
export type EndpointFigures = EndpointSeriesFigures;

/** one backend of a service, read at scrape time */
/** vpcep_zone_backends' states: a backend's probe state, or zone_down while its zone is down */
const ZONE_BACKEND_STATES = ['initial', 'healthy', 'unhealthy', 'zone_down'] as const;

export interface BackendFigures {
  readonly service: string;
  readonly key: string;
  readonly zone: string | null;
  readonly state: ProbeState;
  readonly zoneDown: boolean;
  /** whether a new connection may go to it now, as the backend choice decides (port by port) */
  readonly takesNew: boolean;
  readonly active: number;
  readonly connections: number;
  readonly failures: number;
}

export interface DataPlaneFigures {
  readonly active: number;
  /** every backend of the live endpoints' services (absent: none) */
  readonly backends?: readonly BackendFigures[];
  /** backend choices by reason (absent: none) */
  readonly choices?: Readonly<Record<string, number>>;
  /** connections relayed to backends by zone since start (null: outside every zone) */
  readonly backendZoneConnections?: ReadonlyMap<string | null, number>;
  readonly endpoints: readonly EndpointFigures[];
  /** connections to public services by the target type of their route */
  readonly routeDecisions: Readonly<Record<string, number>>;
  /** connections to public services over the internet path (route igw, or a client outside every VPC) */
  readonly internet: InternetFigures;
  readonly totals: DataPlaneTotals;
  /** the native relay's own figures; absent with the JS relay */
  readonly relay?: {
    readonly pipeBytes: number;
    readonly pipesUndersized: number;
    readonly staleEvents: number;
    readonly fastAccepted: number;
    readonly socketsAhead: number;
    readonly stuckThreads: number;
  };
}

/** Daemon-wide figures since start, which survive endpoint churn. */
export interface DataPlaneTotals {
  connections: number;
  readonly rejected: Record<string, number>;
  readonly closed: Record<string, number>;
}

/** The internet path's figures, daemon-wide (no endpoint carries them). */
export interface InternetFigures {
  readonly active: number;
  readonly connections: number;
  readonly receivedBytes: number;
  readonly sentBytes: number;
}

/** Why the API refused or cut a connection (vpcep_api_refused_total): see src/api/limits.ts */
export const API_REFUSAL_REASONS = ['max_connections', 'pipelining', 'timeout', 'backoff'] as const;
export type ApiRefusalReason = (typeof API_REFUSAL_REASONS)[number];

/** what the health checker counts (src/dataplane/health-checker.ts figures()): probes by result, targets by state */
export interface HealthFigures {
  readonly probes: Readonly<Record<string, number>>;
  readonly targets: Readonly<Record<string, number>>;
}

/** what the connection notification deliverer counts (src/notify/webhooks.ts) */
export interface NotificationFigures {
  readonly delivered: number;
  readonly failed: number;
  readonly retries: number;
}

export interface Metrics {
  /** daemon-wide series: served to anyone */
  readonly registry: client.Registry;
  /** per-endpoint series (label endpoint_id): served only with the metrics token */
  readonly endpointRegistry: EndpointSeries;
  readonly apiRequests: client.Counter<'method' | 'route' | 'code'>;
  readonly apiRefused: client.Counter<'reason'>;
  /** the store's metrics, pushed at the event (store.observe() and the control plane's storeObserver) */
  readonly store: StoreObserver;
  /** where the status gauges read their figures at scrape time */
  setStatusSource(fn: () => StatusCounts): void;
  /** where the data-plane metrics read their figures at scrape time */
  setDataPlaneSource(fn: () => DataPlaneFigures, info: { snat_mode: string; relay: string; relay_io: string }): void;
  /** where vpcep_endpoint_info reads every existing endpoint at scrape time */
  setEndpointSource(fn: () => Iterable<EndpointInfo>): void;
  observeConnect(endpointId: string, seconds: number): void;
  /** where the flow log counters read their figures at scrape time (unset: flow logs off, 0) */
  setFlowLogSource(fn: () => { records: number; dropped: number }): void;
  /** connection notification deliveries (src/notify/webhooks.ts) */
  setNotificationSource(fn: () => NotificationFigures): void;
  /** where the health-check series read their figures at scrape time (unset: none) */
  setHealthSource(fn: () => HealthFigures): void;
  /** one health-check probe's end (the checker's `observe` option) */
  observeHealthProbe(result: string, seconds: number): void;
  forgetEndpoint(endpointId: string): void;
  /** where the zone series read each zone, whether it is up and its ENIs' connections at scrape time */
  setZoneSource(fn: () => Iterable<ZoneFigures>): void;
  /** the fleet's nodes as this node sees them (src/control/nodes.ts) */
  setFleetSource(fn: () => FleetFigures): void;
  /** the toxics in force and what they did (src/dataplane/toxics/) */
  setToxicSource(fn: () => ToxicFigures): void;
  /** where the bandwidth and provisioning-fault series read their figures at scrape time (unset: 0) */
  setShapingSource(fn: () => ShapingFigures): void;
  /** the DNS server's query counters (src/dns/server.ts) */
  setDnsSource(fn: () => Iterable<{ view: string; kind: string; result: string; count: number }>): void;
}

export interface ToxicFigures {
  readonly active: Iterable<{ readonly type: string; readonly scope: string; readonly count: number }>;
  readonly applied: Readonly<Record<string, number>>;
  readonly delayedBytes: number;
  readonly resets: number;
}

/** bandwidth limits and provisioning faults (issue 15) */
export interface ShapingFigures {
  /** connections open with a bandwidth limit */
  readonly limited: number;
  /** seconds limited directions were held back, both relays */
  readonly throttledSeconds: number;
  /** provisioning faults injected since start */
  readonly faults: { readonly delay: number; readonly failure: number };
}

export interface FleetFigures {
  readonly nodes: ReadonlyArray<{ readonly name: string; readonly enis: number; readonly connections: number; readonly leader: boolean; readonly self: boolean; readonly same_config: boolean | null }>;
}

export interface ZoneFigures {
  readonly zone: string;
  readonly up: boolean;
  readonly connections: number;
}

/** a timer period that never ends in a daemon's life (2^31 - 1 ms, 24.8 days: setTimeout's longest) */
const UNUSED_SAMPLER_MS = 2 ** 31 - 1;

/**
 * `nodejs_eventloop_lag_{min,max,mean,stddev,p50,p90,p99}_seconds`, prom-client's names, from a
 * sampler of RESOLUTION ms: the delay past the sampler's period. Node's monitorEventLoopDelay
 * records the whole time between its timer's runs, period included, so prom-client's gauges read
 * its 10 ms idle, and 100 ms at the period this daemon samples at (one wake of an idle JS thread
 * in ten of prom-client's). Each figure of a scrape covers the samples since the one before.
 */
function eventLoopDelay(registry: client.Registry, resolution: number): void {
  const names = ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99'].map((f) => `nodejs_eventloop_lag_${f}_seconds`);
  for (const name of names) registry.removeSingleMetric(name);
  const h = monitorEventLoopDelay({ resolution });
  h.enable();
  const period = resolution / 1_000;
  const past = (ns: number) => Math.max(0, ns / 1e9 - period);
  const gauge = (name: string, help: string, collect?: () => void) => new client.Gauge({ name, help, registers: [registry], ...(collect ? { collect } : {}) });
  const figures: Array<[client.Gauge, () => number]> = [];
  // the first gauge's collect sets every one, then starts a new window (the registry asks them in order)
  const min = gauge('nodejs_eventloop_lag_min_seconds', 'The shortest event loop delay sampled since the last scrape (past the sampler\'s period).', () => {
    for (const [g, read] of figures) g.set(h.count === 0 ? 0 : read());
    h.reset();
  });
  figures.push(
    [min, () => past(h.min)],
    [gauge('nodejs_eventloop_lag_max_seconds', 'The longest event loop delay sampled since the last scrape (past the sampler\'s period).'), () => past(h.max)],
    [gauge('nodejs_eventloop_lag_mean_seconds', 'The mean event loop delay sampled since the last scrape (past the sampler\'s period).'), () => past(h.mean)],
    [gauge('nodejs_eventloop_lag_stddev_seconds', 'The standard deviation of the event loop delays sampled since the last scrape.'), () => h.stddev / 1e9],
    [gauge('nodejs_eventloop_lag_p50_seconds', 'The median event loop delay sampled since the last scrape (past the sampler\'s period).'), () => past(h.percentile(50))],
    [gauge('nodejs_eventloop_lag_p90_seconds', 'The 90th percentile of the event loop delays sampled since the last scrape (past the sampler\'s period).'), () => past(h.percentile(90))],
    [gauge('nodejs_eventloop_lag_p99_seconds', 'The 99th percentile of the event loop delays sampled since the last scrape (past the sampler\'s period).'), () => past(h.percentile(99))],
  );
}

export function createMetrics(build: { version: string }): Metrics {
  const registry = new client.Registry();
  // the per-backend series name every tenant's services and their backends' real addresses:
  // served with the metrics token only, ahead of the per-endpoint series
  const backendRegistry = new client.Registry();
  // prom-client's event-loop delay sampler is given a resolution that never fires (its gauges of
  // the histogram are replaced below); its nodejs_eventloop_lag_seconds (a setImmediate at scrape) stays
  client.collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: UNUSED_SAMPLER_MS });
  eventLoopDelay(registry, DEFAULTS.api.eventLoopSampleMs);
  // promtool's lint refuses gauges named *_total; each is its grouped gauge summed (sum(nodejs_active_handles)).
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);
  let source: () => StatusCounts = () => ({ services: {}, endpoints: {} });
  let dataPlane: () => DataPlaneFigures = () => ({
    active: 0, endpoints: [], routeDecisions: {}, internet: { active: 0, connections: 0, receivedBytes: 0, sentBytes: 0 }, totals: { connections: 0, rejected: {}, closed: {} },
  });
  let info: { snat_mode: string; relay: string; relay_io: string } | null = null;
  let endpoints: () => Iterable<EndpointInfo> = () => [];
  // One reading per scrape, shared by every collector, dropped when the render's turn ends. Every
  // existing endpoint has its info series; its figures only from its first time live (README
  // "Metrics"): one never live (pendingAcceptance, failed at activation) has none.
  let reading: { figures: DataPlaneFigures; endpoints: readonly EndpointFigures[]; info: EndpointInfo[] } | null = null;
  const read = () => {
    if (!reading) {
      const figures = dataPlane();
      reading = { figures, endpoints: figures.endpoints, info: [...endpoints()] };
      setImmediate(() => { reading = null; });
    }
    return reading;
  };

  new client.Gauge({
    ...declared('vpcep_build_info'),
    registers: [registry],
    collect() {
      this.reset();
      this.set({ version: build.version, node_version: process.version, relay: info?.relay ?? '' }, 1);
    },
  });
  /** an unlabelled counter whose value is read from its source at each scrape */
  const countedAtScrape = (name: Parameters<typeof declared>[0], read: () => number): void => {
    new client.Counter({ ...declared(name), registers: [registry], collect() { this.reset(); this.inc(read()); } });
  };
  const apiRequests = new client.Counter<'method' | 'route' | 'code'>({ ...declared('vpcep_api_requests_total'), registers: [registry] });
  const apiRefused = new client.Counter<'reason'>({ ...declared('vpcep_api_refused_total'), registers: [registry] });
  for (const reason of API_REFUSAL_REASONS) apiRefused.inc({ reason }, 0);
  const byStatus = (name: MetricName, pick: (c: StatusCounts) => Record<string, number>) => new client.Gauge({
    ...declared(name), registers: [registry],
    collect() {
      this.reset();
      for (const [status, n] of Object.entries(pick(source()))) this.set({ status }, n);
    },
  });
  byStatus('vpcep_endpoint_services', (c) => c.services);
  byStatus('vpcep_endpoints', (c) => c.endpoints);

  // Daemon-wide totals since start: they survive endpoint churn (every reason shown, zeros too).
  new client.Counter({
    ...declared('vpcep_connections_total'),
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read().figures.totals.connections);
    },
  });
  const totalByReason = (name: MetricName, pick: (t: DataPlaneTotals) => Readonly<Record<string, number>>) => new client.Counter({
    ...declared(name), registers: [registry],
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(pick(read().figures.totals))) this.inc({ reason }, n);
    },
  });
  totalByReason('vpcep_rejected_connections_total', (t) => t.rejected);
  totalByReason('vpcep_closed_connections_total', (t) => t.closed);

  // The data plane per endpoint (label endpoint_id only): written out by hand from its counters at
  // scrape time (endpoint-series.ts), so that the per-connection path does no label lookups. An
  // endpoint has its series from its first time live, live or not since (rejected, failed), until
  // it is deleted: totals never restart.
  const connectSeconds = new ConnectHistograms();
  const rendered = new EndpointSeriesCache();
  const endpointRegistry: EndpointSeries = {
    metrics: async (prefix = '', gzip = false) => {
      const backends = await backendRegistry.metrics();
      const r = read();
      const chunks = rendered.render(r.info, r.endpoints, connectSeconds, prefix + backends);
      // gzip: one Buffer (one member) of a twentieth of the text's size (hundreds of small writes cost more than
      // the copy); plain: the kept chunks as they are (a fresh multi-MiB Buffer pays a page fault per 4 KiB)
      return gzip ? gzipOf(chunks) : Readable.from(chunks.map((c) => c.bytes), { objectMode: false });
    },
  };
  // Backends: per service and backend, and per zone, read from the data plane's counters at scrape time.
  new client.Counter({
    ...declared('vpcep_backend_choices_total'), registers: [registry],
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(read().figures.choices ?? {})) this.inc({ reason }, n);
    },
  });
  const zoneLabel = (z: string | null) => z ?? 'none';
  const perBackend = (name: MetricName, value: (b: BackendFigures) => number, type: 'gauge' | 'counter', before?: (all: readonly BackendFigures[]) => void) => {
    const Metric = type === 'gauge' ? client.Gauge : client.Counter;
    new Metric({
      ...declared(name), registers: [backendRegistry],
      collect(this: client.Gauge | client.Counter) {
        this.reset();
        const all = read().figures.backends ?? [];
        before?.(all);
        for (const b of all) {
          const labels = { service_id: b.service, backend: b.key, zone: zoneLabel(b.zone) };
          if (this instanceof client.Gauge) this.set(labels, value(b));
          else this.inc(labels, value(b));
        }
      },
    });
  };
  // as the backend choice decides, port by port: a backend still initial takes new connections only
  // while no target of its port is healthy (README "Backends in zones")
  perBackend('vpcep_backend_up', (b) => (b.takesNew ? 1 : 0), 'gauge');
  perBackend('vpcep_backend_active_connections', (b) => b.active, 'gauge');
  perBackend('vpcep_backend_connections_total', (b) => b.connections, 'counter');
  perBackend('vpcep_backend_failures_total', (b) => b.failures, 'counter');
  new client.Gauge({
    ...declared('vpcep_zone_backends'), registers: [registry],
    collect() {
      this.reset();
      // every state of a zone with backends, zeros too: an alert on {state="healthy"} == 0 needs the series
      const zones = new Map<string, Record<(typeof ZONE_BACKEND_STATES)[number], number>>();
      for (const b of read().figures.backends ?? []) {
        const zone = zoneLabel(b.zone);
        const n = zones.get(zone) ?? { initial: 0, healthy: 0, unhealthy: 0, zone_down: 0 };
        n[b.zoneDown ? 'zone_down' : b.state]++;
        zones.set(zone, n);
      }
      for (const [zone, n] of zones) for (const state of ZONE_BACKEND_STATES) this.set({ zone, state }, n[state]);
    },
  });
  new client.Counter({
    ...declared('vpcep_zone_backend_connections_total'), registers: [registry],
    collect() {
      this.reset();
      for (const [zone, v] of read().figures.backendZoneConnections ?? []) this.inc({ zone: zoneLabel(zone) }, v);
    },
  });
  new client.Counter({
    ...declared('vpcep_route_decisions_total'),
    registers: [registry],
    collect() {
      this.reset();
      for (const [target_type, n] of Object.entries(read().figures.routeDecisions)) this.inc({ target_type }, n);
    },
  });
  new client.Gauge({
    ...declared('vpcep_internet_active_connections'),
    registers: [registry],
    collect() {
      this.set(read().figures.internet.active);
    },
  });
  new client.Counter({
    ...declared('vpcep_internet_connections_total'),
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read().figures.internet.connections);
    },
  });
  new client.Counter({
    ...declared('vpcep_internet_bytes_total'),
    registers: [registry],
    collect() {
      this.reset();
      const i = read().figures.internet;
      this.inc({ direction: 'received' }, i.receivedBytes);
      this.inc({ direction: 'sent' }, i.sentBytes);
    },
  });
  new client.Gauge({
    ...declared('vpcep_active_connections'),
    registers: [registry],
    collect() {
      this.set(read().figures.active);
    },
  });
  const relayFigure = (name: MetricName, pick: (r: NonNullable<DataPlaneFigures['relay']>) => number, type: 'gauge' | 'counter') => {
    const Metric = type === 'gauge' ? client.Gauge : client.Counter;
    new Metric({
      ...declared(name), registers: [registry],
      collect(this: client.Gauge | client.Counter) {
        this.reset();
        const r = read().figures.relay;
        if (!r) return;
        if (this instanceof client.Gauge) this.set(pick(r));
        else this.inc(pick(r));
      },
    });
  };
  relayFigure('vpcep_relay_pipe_size_bytes', (r) => r.pipeBytes, 'gauge');
  relayFigure('vpcep_relay_pipes_undersized_total', (r) => r.pipesUndersized, 'counter');
  relayFigure('vpcep_relay_stale_events_total', (r) => r.staleEvents, 'counter');
  relayFigure('vpcep_relay_fast_accepted_total', (r) => r.fastAccepted, 'counter');
  relayFigure('vpcep_relay_sockets_ahead', (r) => r.socketsAhead, 'gauge');
  relayFigure('vpcep_relay_stuck_threads', (r) => r.stuckThreads, 'gauge');
  new client.Gauge({
    ...declared('vpcep_dataplane_info'),
    registers: [registry],
    collect() {
      this.reset();
      if (info) this.set(info, 1);
    },
  });
  let flowLog = () => ({ records: 0, dropped: 0 });
  const flowLogFigure = (name: MetricName, pick: (f: { records: number; dropped: number }) => number) => new client.Counter({
    ...declared(name), registers: [registry],
    collect() {
      this.reset();
      this.inc(pick(flowLog()));
    },
  });
  flowLogFigure('vpcep_flow_log_records_total', (f) => f.records);
  flowLogFigure('vpcep_flow_log_dropped_records_total', (f) => f.dropped);
  let notificationFigures: () => NotificationFigures = () => ({ delivered: 0, failed: 0, retries: 0 });
  new client.Counter({
    ...declared('vpcep_notifications_total'), registers: [registry],
    collect() {
      this.reset();
      const f = notificationFigures();
      this.inc({ result: 'delivered' }, f.delivered);
      this.inc({ result: 'failed' }, f.failed);
    },
  });
  countedAtScrape('vpcep_notification_retries_total', () => notificationFigures().retries);
  let zones: () => Iterable<ZoneFigures> = () => [];
  new client.Gauge({
    ...declared('vpcep_zone_up'),
    registers: [registry],
    collect() {
      this.reset();
      for (const z of zones()) this.set({ zone: z.zone }, z.up ? 1 : 0);
    },
  });
  new client.Counter({
    ...declared('vpcep_zone_connections_total'),
    registers: [registry],
    collect() {
      this.reset();
      for (const z of zones()) this.inc({ zone: z.zone }, z.connections);
    },
  });
  let fleetSource: () => FleetFigures = () => ({ nodes: [] });
  // read once per scrape by the four fleet series (each reading walks every endpoint)
  let fleetReading: FleetFigures | null = null;
  const fleetFigures = (): FleetFigures => {
    if (!fleetReading) {
      fleetReading = fleetSource();
      setImmediate(() => { fleetReading = null; });
    }
    return fleetReading;
  };
  new client.Gauge({
    ...declared('vpcep_fleet_nodes'), registers: [registry],
    collect() {
      this.set(fleetFigures().nodes.length);
    },
  });
  new client.Gauge({
    ...declared('vpcep_fleet_leader'), registers: [registry],
    collect() {
      this.set(fleetFigures().nodes.some((n) => n.self && n.leader) ? 1 : 0);
    },
  });
  new client.Gauge({
    ...declared('vpcep_fleet_config_mismatch'), registers: [registry],
    collect() {
      this.set(fleetFigures().nodes.filter((n) => n.same_config === false).length);
    },
  });
  new client.Gauge({
    ...declared('vpcep_node_enis'), registers: [registry],
    collect() {
      this.reset();
      for (const n of fleetFigures().nodes) this.set({ node: n.name }, n.enis);
    },
  });
  new client.Gauge({
    ...declared('vpcep_node_connections'), registers: [registry],
    collect() {
      this.reset();
      for (const n of fleetFigures().nodes) this.set({ node: n.name }, n.connections);
    },
  });
  let shapingFigures: () => ShapingFigures = () => ({ limited: 0, throttledSeconds: 0, faults: { delay: 0, failure: 0 } });
  new client.Gauge({
    ...declared('vpcep_bandwidth_limited_connections'), registers: [registry],
    collect() {
      this.set(shapingFigures().limited);
    },
  });
  countedAtScrape('vpcep_bandwidth_throttled_seconds_total', () => shapingFigures().throttledSeconds);
  new client.Counter({
    ...declared('vpcep_provisioning_faults_total'), registers: [registry],
    collect() {
      this.reset();
      const f = shapingFigures().faults;
      this.inc({ fault: 'delay' }, f.delay);
      this.inc({ fault: 'failure' }, f.failure);
    },
  });
  let health: () => HealthFigures = () => ({ probes: {}, targets: {} });
  const healthFigure = (name: MetricName, pick: (h: HealthFigures) => Readonly<Record<string, number>>, label: 'result' | 'state', type: 'gauge' | 'counter') => {
    const Metric = type === 'gauge' ? client.Gauge : client.Counter;
    new Metric({
      ...declared(name), registers: [registry],
      collect(this: client.Gauge | client.Counter) {
        this.reset();
        for (const [value, n] of Object.entries(pick(health()))) {
          if (this instanceof client.Gauge) this.set({ [label]: value }, n);
          else this.inc({ [label]: value }, n);
        }
      },
    });
  };
  healthFigure('vpcep_health_probes_total', (h) => h.probes, 'result', 'counter');
  healthFigure('vpcep_health_targets', (h) => h.targets, 'state', 'gauge');
  const probeSeconds = new client.Histogram<'result'>({
    ...declared('vpcep_health_probe_seconds'),
    // loopback connects take well under a millisecond; timeouts are 2-120 s
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5, 30, 120],
    registers: [registry],
  });
  let dnsCounts: () => Iterable<{ view: string; kind: string; result: string; count: number }> = () => [];
  new client.Counter({
    ...declared('vpcep_dns_queries_total'), registers: [registry],
    collect() {
      this.reset();
      for (const c of dnsCounts()) this.inc({ view: c.view, kind: c.kind, result: c.result }, c.count);
    },
  });
  let toxics: () => ToxicFigures = () => ({ active: [], applied: {}, delayedBytes: 0, resets: 0 });
  new client.Gauge({
    ...declared('vpcep_toxics_active'), registers: [registry],
    collect() {
      this.reset();
      for (const a of toxics().active) this.set({ type: a.type, scope: a.scope }, a.count);
    },
  });
  new client.Counter({
    ...declared('vpcep_toxic_applied_connections_total'), registers: [registry],
    collect() {
      this.reset();
      for (const [type, n] of Object.entries(toxics().applied)) this.inc({ type }, n);
    },
  });
  countedAtScrape('vpcep_toxic_delayed_bytes_total', () => toxics().delayedBytes);
  countedAtScrape('vpcep_toxic_reset_connections_total', () => toxics().resets);

  return {
    registry,
    endpointRegistry,
    apiRequests,
    apiRefused,
    store: storeMetrics(registry),
    setStatusSource(fn) {
      source = fn;
    },
    setDataPlaneSource(fn, i) {
      dataPlane = fn;
      info = i;
    },
    setEndpointSource(fn) {
      endpoints = fn;
    },
    observeConnect(endpointId, seconds) {
      connectSeconds.observe(endpointId, seconds);
    },
    setFlowLogSource(fn) {
      flowLog = fn;
    },
    setNotificationSource(fn) {
      notificationFigures = fn;
    },
    setZoneSource(fn) {
      zones = fn;
    },
    setFleetSource(fn) {
      fleetSource = fn;
    },
    setShapingSource(fn) {
      shapingFigures = fn;
    },
    setHealthSource(fn) {
      health = fn;
    },
    observeHealthProbe(result, seconds) {
      probeSeconds.observe({ result }, seconds);
    },
    setDnsSource(fn) {
      dnsCounts = fn;
    },
    setToxicSource(fn) {
      toxics = fn;
    },
    forgetEndpoint(endpointId) {
      connectSeconds.forget(endpointId);
    },
  };
}

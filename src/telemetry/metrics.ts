// Every metric of vpcep-sim, declared once, with the one prefix `vpcep_` and small label sets.
import client from 'prom-client';

export interface StatusCounts {
  services: Record<string, number>;
  endpoints: Record<string, number>;
}

/** One endpoint's data-plane figures, read at scrape time. */
export interface EndpointFigures {
  readonly id: string;
  readonly active: number;
  readonly connections: number;
  readonly rejected: Readonly<Record<string, number>>;
  /** admitted connections that ended, by how */
  readonly closed: Readonly<Record<string, number>>;
  readonly receivedBytes: number;
  readonly sentBytes: number;
  /** SNAT source ports held by live connections (the SNAT tuples of the connection table) */
  readonly snatPorts: number;
}

export interface DataPlaneFigures {
  readonly active: number;
  readonly endpoints: readonly EndpointFigures[];
  /** connections to public services by the target type of their route */
  readonly routeDecisions: Readonly<Record<string, number>>;
  /** connections to public services over the internet path (route igw, or a client outside every VPC) */
  readonly internet: InternetFigures;
  /** the native relay's own figures; absent with the JS relay */
  readonly relay?: {
    readonly pipeBytes: number;
    readonly pipesUndersized: number;
    readonly staleEvents: number;
  };
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

export interface Metrics {
  /** daemon-wide series: served to anyone */
  readonly registry: client.Registry;
  /** per-endpoint series (label endpoint_id): served only with the metrics token */
  readonly endpointRegistry: client.Registry;
  readonly apiRequests: client.Counter<'method' | 'route' | 'code'>;
  readonly apiRefused: client.Counter<'reason'>;
  /** where the status gauges read their figures at scrape time */
  setStatusSource(fn: () => StatusCounts): void;
  /** where the data-plane metrics read their figures at scrape time */
  setDataPlaneSource(fn: () => DataPlaneFigures, info: { snat_mode: string; relay: string }): void;
  observeConnect(endpointId: string, seconds: number): void;
  /** where the flow log counters read their figures at scrape time (unset: flow logs off, 0) */
  setFlowLogSource(fn: () => { records: number; dropped: number }): void;
  forgetEndpoint(endpointId: string): void;
}

export function createMetrics(): Metrics {
  const registry = new client.Registry();
  const endpointRegistry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  let source: () => StatusCounts = () => ({ services: {}, endpoints: {} });
  let dataPlane: () => DataPlaneFigures = () => ({ active: 0, endpoints: [], routeDecisions: {}, internet: { active: 0, connections: 0, receivedBytes: 0, sentBytes: 0 } });
  let info: { snat_mode: string; relay: string } | null = null;

  const apiRequests = new client.Counter({
    name: 'vpcep_api_requests_total',
    help: 'Control API requests by method, route pattern and HTTP status code',
    labelNames: ['method', 'route', 'code'] as const,
    registers: [registry],
  });
  const apiRefused = new client.Counter({
    name: 'vpcep_api_refused_total',
    help: 'API connections refused at accept or cut, by reason',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  for (const reason of API_REFUSAL_REASONS) apiRefused.inc({ reason }, 0);
  const byStatus = (name: string, help: string, pick: (c: StatusCounts) => Record<string, number>) => new client.Gauge({
    name, help, labelNames: ['status'] as const, registers: [registry],
    collect() {
      this.reset();
      for (const [status, n] of Object.entries(pick(source()))) this.set({ status }, n);
    },
  });
  byStatus('vpcep_endpoint_services', 'Endpoint services by status', (c) => c.services);
  byStatus('vpcep_endpoints', 'Endpoints by status', (c) => c.endpoints);

  // The data plane: per endpoint (label endpoint_id only), read from its counters at scrape time
  // so that the per-connection path does no label lookups.
  const perEndpoint = (name: string, help: string, value: (e: EndpointFigures) => number, type: 'gauge' | 'counter') => {
    const Metric = type === 'gauge' ? client.Gauge : client.Counter;
    new Metric({
      name, help, labelNames: ['endpoint_id'] as const, registers: [endpointRegistry],
      collect(this: client.Gauge<'endpoint_id'> | client.Counter<'endpoint_id'>) {
        this.reset();
        for (const e of dataPlane().endpoints) {
          if (this instanceof client.Gauge) this.set({ endpoint_id: e.id }, value(e));
          else this.inc({ endpoint_id: e.id }, value(e));
        }
      },
    });
  };
  perEndpoint('vpcep_endpoint_active_connections', 'Connections open through an endpoint', (e) => e.active, 'gauge');
  perEndpoint('vpcep_endpoint_connections_total', 'Connections admitted by an endpoint', (e) => e.connections, 'counter');
  perEndpoint('vpcep_endpoint_received_bytes_total', 'Bytes received from clients of an endpoint', (e) => e.receivedBytes, 'counter');
  perEndpoint('vpcep_endpoint_sent_bytes_total', 'Bytes sent to clients of an endpoint', (e) => e.sentBytes, 'counter');
  perEndpoint('vpcep_endpoint_snat_ports_in_use', 'SNAT source ports of an endpoint held by live connections', (e) => e.snatPorts, 'gauge');
  const byReason = (name: string, help: string, pick: (e: EndpointFigures) => Readonly<Record<string, number>>) => new client.Counter({
    name, help, labelNames: ['endpoint_id', 'reason'] as const, registers: [endpointRegistry],
    collect() {
      this.reset();
      for (const e of dataPlane().endpoints) {
        for (const [reason, n] of Object.entries(pick(e))) if (n > 0) this.inc({ endpoint_id: e.id, reason }, n);
      }
    },
  });
  byReason('vpcep_endpoint_rejected_connections_total', 'Connections an endpoint refused or could not relay, by reason', (e) => e.rejected);
  byReason('vpcep_endpoint_closed_connections_total', 'Admitted connections of an endpoint that ended, by how', (e) => e.closed);
  const connectSeconds = new client.Histogram({
    name: 'vpcep_endpoint_backend_connect_seconds',
    help: 'Time to connect to the backend, per endpoint',
    labelNames: ['endpoint_id'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [endpointRegistry],
  });
  new client.Counter({
    name: 'vpcep_route_decisions_total',
    help: 'Connections to public services by the target type of the route that decided them',
    labelNames: ['target_type'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [target_type, n] of Object.entries(dataPlane().routeDecisions)) this.inc({ target_type }, n);
    },
  });
  new client.Gauge({
    name: 'vpcep_internet_active_connections',
    help: 'Connections open to public services over the internet path',
    registers: [registry],
    collect() {
      this.set(dataPlane().internet.active);
    },
  });
  new client.Counter({
    name: 'vpcep_internet_connections_total',
    help: 'Connections relayed to public services over the internet path',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(dataPlane().internet.connections);
    },
  });
  new client.Counter({
    name: 'vpcep_internet_bytes_total',
    help: 'Bytes of internet-path connections: received from clients, sent to clients',
    labelNames: ['direction'] as const,
    registers: [registry],
    collect() {
      this.reset();
      const i = dataPlane().internet;
      this.inc({ direction: 'received' }, i.receivedBytes);
      this.inc({ direction: 'sent' }, i.sentBytes);
    },
  });
  new client.Gauge({
    name: 'vpcep_active_connections',
    help: 'Connections open through the whole data plane',
    registers: [registry],
    collect() {
      this.set(dataPlane().active);
    },
  });
  const relayFigure = (name: string, help: string, pick: (r: NonNullable<DataPlaneFigures['relay']>) => number, type: 'gauge' | 'counter') => {
    const Metric = type === 'gauge' ? client.Gauge : client.Counter;
    new Metric({
      name, help, registers: [registry],
      collect(this: client.Gauge | client.Counter) {
        this.reset();
        const r = dataPlane().relay;
        if (!r) return;
        if (this instanceof client.Gauge) this.set(pick(r));
        else this.inc(pick(r));
      },
    });
  };
  relayFigure('vpcep_relay_pipe_size_bytes', 'Size the native relay gives each pipe (1 MiB, less under an unprivileged user\'s pipe quota)', (r) => r.pipeBytes, 'gauge');
  relayFigure('vpcep_relay_pipes_undersized_total', 'Pipes the kernel left smaller than vpcep_relay_pipe_size_bytes (the user\'s pipe quota spent)', (r) => r.pipesUndersized, 'counter');
  relayFigure('vpcep_relay_stale_events_total', 'Epoll events of the native relay naming a connection already closed, ignored', (r) => r.staleEvents, 'counter');
  new client.Gauge({
    name: 'vpcep_dataplane_info',
    help: 'The data plane that runs: SNAT mode and relay',
    labelNames: ['snat_mode', 'relay'] as const,
    registers: [registry],
    collect() {
      this.reset();
      if (info) this.set(info, 1);
    },
  });
  let flowLog = () => ({ records: 0, dropped: 0 });
  new client.Counter({
    name: 'vpcep_flow_log_records_total',
    help: 'Connection flow log records made (flow_logs), the dropped ones included',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(flowLog().records);
    },
  });
  new client.Counter({
    name: 'vpcep_flow_log_dropped_records_total',
    help: 'Connection flow log records dropped: the writer\'s buffer was full (a slow or full disk)',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(flowLog().dropped);
    },
  });
  const children = new Map<string, client.Histogram.Internal<'endpoint_id'>>();

  return {
    registry,
    endpointRegistry,
    apiRequests,
    apiRefused,
    setStatusSource(fn) {
      source = fn;
    },
    setDataPlaneSource(fn, i) {
      dataPlane = fn;
      info = i;
    },
    observeConnect(endpointId, seconds) {
      let h = children.get(endpointId);
      if (!h) children.set(endpointId, (h = connectSeconds.labels({ endpoint_id: endpointId })));
      h.observe(seconds);
    },
    setFlowLogSource(fn) {
      flowLog = fn;
    },
    forgetEndpoint(endpointId) {
      children.delete(endpointId);
      connectSeconds.remove({ endpoint_id: endpointId });
    },
  };
}

// Every metric of vpcep-sim, declared once, with the one prefix `vpcep_` and small label sets.
import client from 'prom-client';

export interface StatusCounts {
  services: Record<string, number>;
  endpoints: Record<string, number>;
}

export interface Metrics {
  readonly registry: client.Registry;
  readonly apiRequests: client.Counter<'method' | 'route' | 'code'>;
  /** where the status gauges read their figures at scrape time */
  setStatusSource(fn: () => StatusCounts): void;
}

export function createMetrics(): Metrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  let source: () => StatusCounts = () => ({ services: {}, endpoints: {} });

  const apiRequests = new client.Counter({
    name: 'vpcep_api_requests_total',
    help: 'Control API requests by method, route pattern and HTTP status code',
    labelNames: ['method', 'route', 'code'] as const,
    registers: [registry],
  });
  new client.Gauge({
    name: 'vpcep_endpoint_services',
    help: 'Endpoint services by status',
    labelNames: ['status'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [status, n] of Object.entries(source().services)) this.set({ status }, n);
    },
  });
  new client.Gauge({
    name: 'vpcep_endpoints',
    help: 'Endpoints by status',
    labelNames: ['status'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [status, n] of Object.entries(source().endpoints)) this.set({ status }, n);
    },
  });
  return {
    registry,
    apiRequests,
    setStatusSource(fn) {
      source = fn;
    },
  };
}

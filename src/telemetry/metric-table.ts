// Every metric of vpcep-sim, declared once: name (one prefix, `vpcep_`), type, labels, help, and
// whether it carries tenants' endpoints or services (served only with the metrics token). metrics.ts builds the
// instruments from this table; a test checks it against the README's Metrics table and a real scrape.

export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface MetricSpec {
  readonly name: string;
  readonly type: MetricType;
  readonly labels: readonly string[];
  readonly help: string;
  /** a tenant's (per endpoint, per service's backend): served only with `Authorization: Bearer <metrics.token>` */
  readonly token: boolean;
}

const m = (name: string, type: MetricType, labels: readonly string[], help: string, token = false): MetricSpec => ({ name, type, labels, help, token });

/** the labels of vpcep_endpoint_info, to join the per-endpoint series on */
export const ENDPOINT_INFO_LABELS = ['endpoint_id', 'service_id', 'service_name', 'vpc_id', 'account', 'project_id', 'ip', 'host_ip', 'snat_ip', 'zone'] as const;
export type EndpointInfo = Readonly<Record<(typeof ENDPOINT_INFO_LABELS)[number], string>>;

export const METRICS = [
  m('vpcep_build_info', 'gauge', ['version', 'node_version', 'relay'], 'vpcep-sim\'s version, the Node.js version and the relay that runs (always 1)'),
  m('vpcep_api_requests_total', 'counter', ['method', 'route', 'code'], 'Control API requests by method, route pattern (an AWS request: api:Action) and HTTP status code'),
  m('vpcep_api_refused_total', 'counter', ['reason'], 'API connections refused at accept or cut, by reason'),
  m('vpcep_endpoint_services', 'gauge', ['status'], 'Endpoint services by status'),
  m('vpcep_endpoints', 'gauge', ['status'], 'Endpoints by status'),
  m('vpcep_connections_total', 'counter', [], 'Connections admitted by the whole data plane since start'),
  m('vpcep_rejected_connections_total', 'counter', ['reason'], 'Connections the whole data plane refused or could not relay since start, by reason'),
  m('vpcep_closed_connections_total', 'counter', ['reason'], 'Admitted connections of the whole data plane that ended since start, by how'),
  m('vpcep_endpoint_info', 'gauge', ENDPOINT_INFO_LABELS, 'One series per endpoint that exists (always 1), to join the per-endpoint series on', true),
  m('vpcep_endpoint_active_connections', 'gauge', ['endpoint_id'], 'Connections open through an endpoint', true),
  m('vpcep_endpoint_connections_total', 'counter', ['endpoint_id'], 'Connections admitted by an endpoint', true),
  m('vpcep_endpoint_rejected_connections_total', 'counter', ['endpoint_id', 'reason'], 'Connections an endpoint refused or could not relay, by reason', true),
  m('vpcep_endpoint_closed_connections_total', 'counter', ['endpoint_id', 'reason'], 'Admitted connections of an endpoint that ended, by how', true),
  m('vpcep_endpoint_received_bytes_total', 'counter', ['endpoint_id'], 'Bytes received from clients of an endpoint', true),
  m('vpcep_endpoint_sent_bytes_total', 'counter', ['endpoint_id'], 'Bytes sent to clients of an endpoint', true),
  m('vpcep_endpoint_snat_ports_in_use', 'gauge', ['endpoint_id'], 'SNAT source ports of an endpoint held by live connections', true),
  m('vpcep_endpoint_backend_connect_seconds', 'histogram', ['endpoint_id'], 'Time to connect to the backend, per endpoint', true),
  m('vpcep_backend_choices_total', 'counter', ['reason'], 'Backend choices of new connections, by why the backend was chosen: same_zone, cross_zone, failover, fail_open'),
  m('vpcep_backend_up', 'gauge', ['service_id', 'backend', 'zone'], 'Whether a backend takes new connections, as the backend choice decides them port by port: 1 when its zone is up and it is healthy, or initial while no target of its port is healthy (a backend no live endpoint relays to takes none), else 0', true),
  m('vpcep_backend_active_connections', 'gauge', ['service_id', 'backend', 'zone'], 'Connections open to a backend of a service', true),
  m('vpcep_backend_connections_total', 'counter', ['service_id', 'backend', 'zone'], 'Connections relayed to a backend of a service', true),
  m('vpcep_backend_failures_total', 'counter', ['service_id', 'backend', 'zone'], 'Connects to a backend of a service that failed (unreachable, timed out, in a down zone)', true),
  m('vpcep_zone_backends', 'gauge', ['zone', 'state'], 'Backends of services by zone and state: initial, healthy, unhealthy, zone_down'),
  m('vpcep_zone_backend_connections_total', 'counter', ['zone'], 'Connections relayed to backends in a zone (zone none: outside every zone)'),
  m('vpcep_route_decisions_total', 'counter', ['target_type'], 'Connections to public services by the target type of the route that decided them'),
  m('vpcep_internet_connections_total', 'counter', [], 'Connections relayed to public services over the internet path'),
  m('vpcep_internet_active_connections', 'gauge', [], 'Connections open to public services over the internet path'),
  m('vpcep_internet_bytes_total', 'counter', ['direction'], 'Bytes of internet-path connections: received from clients, sent to clients'),
  m('vpcep_active_connections', 'gauge', [], 'Connections open through the whole data plane'),
  m('vpcep_dataplane_info', 'gauge', ['snat_mode', 'relay', 'relay_io'], 'The data plane that runs: SNAT mode, relay and how the native relay makes its calls (io_uring, syscalls; none for the JS relay) (always 1)'),
  m('vpcep_relay_pipe_size_bytes', 'gauge', [], 'Size the native relay gives each pipe (1 MiB, less under an unprivileged user\'s pipe quota)'),
  m('vpcep_relay_pipes_undersized_total', 'counter', [], 'Pipes the kernel left smaller than vpcep_relay_pipe_size_bytes (the user\'s pipe quota spent)'),
  m('vpcep_relay_stale_events_total', 'counter', [], 'Epoll events of the native relay naming a connection already closed, ignored'),
  m('vpcep_relay_sockets_ahead', 'gauge', [], 'Backend sockets the native relay threads hold made ahead through io_uring (descriptors open with no connection yet; 0 with direct calls)'),
  m('vpcep_relay_stuck_threads', 'gauge', [], 'Native relay threads dead, or with a command unanswered for more than 5 s (a thread is woken at once by one): their connections are stuck with them'),
  m('vpcep_relay_fast_accepted_total', 'counter', [], 'Connections the native relay threads accepted themselves (the fast path: accept, admit, connect and relay on one thread)'),
  m('vpcep_bandwidth_limited_connections', 'gauge', [], 'Connections open with a bandwidth limit (an endpoint connection\'s or its service\'s default), either relay'),
  m('vpcep_bandwidth_throttled_seconds_total', 'counter', [], 'Time directions of limited connections were held back by their bandwidth limit, summed over directions'),
  m('vpcep_provisioning_faults_total', 'counter', ['fault'], 'Provisioning faults injected: activations delayed (faults.provisioning_delay_ms), activations failed on demand'),
  m('vpcep_flow_log_records_total', 'counter', [], 'Connection flow log records made (flow_logs), the dropped ones included'),
  m('vpcep_flow_log_dropped_records_total', 'counter', [], 'Connection flow log records dropped: the writer\'s buffer was full (a slow or full disk), or no file could be opened'),
  m('vpcep_notifications_total', 'counter', ['result'], 'Connection notification messages by how their delivery ended: delivered, or failed after every retry or dropped past the messages that may wait'),
  m('vpcep_zone_up', 'gauge', ['zone'], 'Whether a zone of the region is up (1) or taken down on demand, a simulated outage (0)'),
  m('vpcep_zone_connections_total', 'counter', ['zone'], 'Connections admitted on endpoint ENIs in a zone since start'),
  m('vpcep_fleet_nodes', 'gauge', [], 'Live nodes of the fleet sharing the store, as this node sees them (1 on SQLite)'),
  m('vpcep_fleet_leader', 'gauge', [], 'Whether this node is the fleet\'s elected leader, which runs placement (1) or not (0); 1 on SQLite'),
  m('vpcep_fleet_config_mismatch', 'gauge', [], 'Live nodes whose config\'s fleet-wide part (accounts, quotas, VPCs, rules) differs from this node\'s: 0 when the fleet agrees'),
  m('vpcep_node_enis', 'gauge', ['node'], 'ENIs of interface endpoints placed on each live node, by node name'),
  m('vpcep_node_connections', 'gauge', ['node'], 'Open connections of each live node\'s data plane, by node name (another node\'s as it last published them)'),
  m('vpcep_health_probes_total', 'counter', ['result'], 'Health-check probes of backends by how they ended: success, failed (refused, reset, no route), timeout, zone_down (no connect), error (the checker\'s own trouble)'),
  m('vpcep_health_probe_seconds', 'histogram', ['result'], 'Time a health-check probe took, from its start to its end, by result'),
  m('vpcep_health_targets', 'gauge', ['state'], 'Backends the health checker probes, by state: initial, healthy, unhealthy'),
  m('vpcep_dns_queries_total', 'counter', ['view', 'kind', 'result'], 'DNS queries answered by the embedded server, by view (vpc, public), kind of name asked (aws_endpoint, huawei, ..., unknown, forwarded, malformed) and result (the rcode)'),
  m('vpcep_notification_retries_total', 'counter', [], 'Connection notification deliveries retried after a failed attempt (an error, a timeout, a status other than 2xx)'),
  m('vpcep_toxics_active', 'gauge', ['type', 'scope'], 'Toxics in force, by type and scope (port, endpoint, service, zone, all)'),
  m('vpcep_toxic_applied_connections_total', 'counter', ['type'], 'Connections a toxic applied to (its toxicity drawn per connection), by type'),
  m('vpcep_toxic_delayed_bytes_total', 'counter', [], 'Bytes a toxic held back before passing them on (latency, bandwidth, slicer)'),
  m('vpcep_toxic_reset_connections_total', 'counter', [], 'Connections reset by a reset_peer toxic'),
  m('vpcep_store_commit_seconds', 'histogram', ['outcome'], 'Time a commit took from the call to the store\'s answer (a group commit\'s wait included), by outcome: written, conflict'),
  m('vpcep_store_transactions_total', 'counter', [], 'Transactions the store wrote (SQLite groups the batches handed over while one is on its way to disk; etcd: one per batch)'),
  m('vpcep_store_batches_total', 'counter', [], 'Batches written in those transactions (divided by vpcep_store_transactions_total: batches per group commit)'),
  m('vpcep_store_conflicts_total', 'counter', [], 'Batches the store refused because a compare-and-swap expectation failed (another writer, or a batch in flight, changed a key first)'),
  m('vpcep_store_conflict_retries_total', 'counter', [], 'Mutations run again after their batch lost a compare-and-swap'),
  m('vpcep_store_watch_batches_total', 'counter', [], 'Committed batches of other writers applied from the store\'s watch (a shared store)'),
  m('vpcep_store_relists_total', 'counter', [], 'Times the state was listed again from the store after a compaction or a lost watch'),
  m('vpcep_store_reachable', 'gauge', [], 'Whether the store answered its last request (1) or not (0: etcd unreachable, writes answer 503)'),
] as const satisfies readonly MetricSpec[];

export type MetricName = (typeof METRICS)[number]['name'];

const BY_NAME = new Map<string, MetricSpec>(METRICS.map((s) => [s.name, s]));

/** the prom-client options of a declared metric: name, help, label names */
export function declared<L extends string = string>(name: MetricName): { name: string; help: string; labelNames: readonly L[] } {
  const s = BY_NAME.get(name)!;
  return { name: s.name, help: s.help, labelNames: s.labels as readonly L[] };
}

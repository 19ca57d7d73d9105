// The interface between the control plane and the data plane. The control plane sends the desired
// state of one resource at a time (level-triggered: the latest event for an id is the truth), and
// the data plane answers when that state is live, or why it could not be made so. A status only
// becomes stable (`available`, `accepted`) on the data plane's ok.
import type { DaemonLoad, EndpointGate, NetworkAclGate } from './admission.js';
import type { HealthSettings, ProbeReason, ProbeState, ProbeTarget } from './health.js';
import type { RoutingView } from './routing.js';
import type { ToxicRule } from './toxics.js';

/** One backend of a terminal port: a registered target of a load balancer, or a backend port of a service. */
export interface BackendTargetSpec {
  /** targetKey(host, port): names it in the health view and the metrics */
  readonly key: string;
  /** the real host address and port */
  readonly host: string;
  readonly port: number;
  /** the zone it sits in; null: outside every zone (an IP target outside the VPC: AvailabilityZone all), reached from any */
  readonly zone: string | null;
  /** the port its health checks connect to (a target group's HealthCheckPort); absent: `port`, the traffic port */
  readonly probe_port?: number;
  /** the key its probe state is kept and read under (a target group's target: groupProbeKey); absent: `key` */
  readonly probe_key?: string;
}

/** Where one terminal port of an endpoint relays to: several targets, one chosen per connection (src/model/backend-choice.ts). */
export interface Backend {
  readonly client_port: number;
  /** the first target's host address and port (one-backend readers: the gateway, the tracer's summary) */
  readonly host: string;
  readonly port: number;
  /** whether this port's connections start with a PROXY v2 header; absent: as the endpoint's tcp_proxy says */
  readonly proxy_v2?: boolean;
  /** every target, in a stable order (the flow hash picks by position); absent: the one host:port, zone null */
  readonly targets?: readonly BackendTargetSpec[];
  /** whether a connection may go to a target of another zone than its ENI's (load_balancing.cross_zone.enabled); absent: true */
  readonly cross_zone?: boolean;
  /** how its targets are probed; null or absent: not probed (always eligible) */
  readonly health?: HealthSettings | null;
  /**
   * how long a target removed by this spec keeps its live connections (ms): the deregistration
   * delay; 0 cuts them at once, -1 keeps them until they end (a smooth migration); absent: 0
   */
  readonly drain_ms?: number;
  /**
   * ms after a probed target turns unhealthy that its live connections are cut (close reason
   * `unhealthy`): 0 at once (AWS's connection termination), -1 or absent never (model/health.ts unhealthyCutMs)
   */
  readonly unhealthy_cut_ms?: number;
  /**
   * ms with no byte either way after which a connection through this port is closed (close reason
   * `idle`): its NLB listener's tcp.idle_timeout.seconds; absent: the daemon's idle_timeout_ms
   */
  readonly idle_timeout_ms?: number;
}

/** one ENI of a live endpoint: its zone, simulated private IP and the host address it listens on */
export interface LiveEni {
  readonly zone: string;
  readonly ip: string;
  readonly host_ip: string;
  /**
   * the TCP rules of its subnet's network ACL, each direction in rule-number order (src/model/admission.ts
   * NetworkAclGate); absent or null: not enforced (a config VPC's, or a default ACL never changed: allow all)
   */
  readonly network_acl?: { readonly inbound: readonly LiveAclRule[]; readonly outbound: readonly LiveAclRule[] } | null;
}

/** a TCP rule of a network ACL: inbound, sources in `cidr` to terminal ports; outbound, answers to `cidr` at source ports */
export interface LiveAclRule {
  readonly cidr: string;
  readonly from_port: number;
  readonly to_port: number;
  readonly allow: boolean;
}

/** Everything the data plane needs to run one interface endpoint, resolved by the control plane. */
export interface LiveEndpoint {
  readonly id: string;
  readonly marker_id: number;
  readonly service_id: string;
  /** the first ENI's simulated private IP and host address */
  readonly ip: string;
  readonly host_ip: string;
  /** every ENI, one per zone: each listens on its host address for every terminal port */
  readonly enis: readonly LiveEni[];
  readonly vpc_id: string;
  /** the VPC's loopback number and CIDR: whitelist entries are simulated addresses of this VPC */
  readonly vpc_number: number;
  readonly vpc_cidr: string;
  /** the endpoint's address in 198.19.128.0/17: backends see its connections from there */
  readonly snat_ip: string;
  readonly tcp_proxy: string;
  readonly backends: readonly Backend[];
  readonly enable_whitelist: boolean;
  readonly whitelist: readonly string[];
  readonly connection_cap: number;
  /** the ingress rules of its security groups (a default group admits its VPC's addresses); absent or null: not enforced */
  readonly security_rules?: ReadonlyArray<{ readonly cidr: string; readonly from_port: number; readonly to_port: number }> | null;
  /** the owner's account ID (domain_id): a flow log record's account-id */
  readonly account_id?: string;
  /** Alibaba's zone affinity: connections stay in the ENI's zone while it has an eligible backend, cross-zone or not */
  readonly zone_affinity?: boolean;
  /** each connection's bandwidth in Mbit/s, both ways (src/model/bandwidth.ts); absent or null: none */
  readonly bandwidth_mbps?: number | null;
}

export type ChangeEvent =
  /**
   * an endpoint's listeners should run as described, or (live: null) be torn down with their
   * connections; deleted: the endpoint is gone, and its counters with it
   */
  | { readonly kind: 'endpoint'; readonly id: string; readonly live: LiveEndpoint | null; readonly deleted?: boolean }
  /** a service is available to endpoints, or is gone */
  | { readonly kind: 'service'; readonly id: string; readonly available: boolean }
  /** the route tables, public services and gateway endpoints changed: route new connections by this view */
  | { readonly kind: 'routing'; readonly id: 'routing'; readonly view: RoutingView }
  /**
   * the zones taken down on demand (a simulated outage): their ENIs refuse connections and their
   * backends are unreachable; every other zone is up
   */
  | { readonly kind: 'zones'; readonly id: 'zones'; readonly down: readonly string[] }
  /**
   * the toxics of every scope (README "Fault injection"), and the proxies (`<endpoint id>:<port>`)
   * taken down through Toxiproxy's API: their listeners close until enabled again
   */
  | { readonly kind: 'faults'; readonly id: 'faults'; readonly toxics: readonly ToxicRule[]; readonly disabled: readonly string[] }
  /**
   * the targets of every target group a load balancer's listener forwards to: probed whether or
   * not an endpoint relays to them, as a network load balancer checks its targets from registration
   */
  | { readonly kind: 'probes'; readonly id: 'probes'; readonly targets: readonly ProbeTarget[] };

/** why a listener could not bind: a privileged port (EACCES) without the privilege, or any other bind failure */
export type ListenFailure = 'privileged_port' | 'listen_failed';

/** the error names a data-plane failure is refused by: a ListenFailure's, else SystemError (control/transitions.ts failureName) */
export const LISTEN_ERROR_NAMES = ['ListenFailed', 'PrivilegedPort', 'SystemError'] as const;
export type ListenErrorName = (typeof LISTEN_ERROR_NAMES)[number];

/** a routing view's public services whose listeners could not all bind, by service id */
export type FailedServices = ReadonlyMap<string, { readonly reason: string; readonly failure: ListenFailure }>;

export type Ack =
  | { readonly ok: true; readonly failedServices?: FailedServices }
  | { readonly ok: false; readonly reason: string; readonly failure?: ListenFailure };

export interface DataPlane {
  apply(event: ChangeEvent): Promise<Ack>;
  /** connections open through an endpoint now (the cap's headroom, for the path tracer) */
  endpointConnections(endpointId: string): number;
  /** what admission decides a new connection to a live interface endpoint by, now; null when it is not live */
  admissionOf(endpointId: string): LiveAdmission | null;
  /** the daemon-wide load admission counts, now */
  daemonLoad(): DaemonLoad;
  /** whether the listener of a public address (as uint32) and port is bound */
  publicListening(publicIp: number, port: number): boolean;
  /** whether a zone is down now (the tracer's backend choice); absent: none is */
  zoneDown?(zone: string | null): boolean;
  /** a backend's probe state now (DescribeTargetHealth); null: not probed (no live endpoint reaches it, or checks off) */
  targetHealth?(key: string): { readonly state: ProbeState; readonly reason: ProbeReason | null; readonly unhealthyDraining?: boolean } | null;
  /** the keys of the backends probed now (a fleet node publishes their states: control/fleet-health.ts) */
  probedTargets?(): Iterable<string>;
}

/** A live interface endpoint's admission inputs, read by the path tracer (it calls the same admit()). */
export interface LiveAdmission {
  readonly gate: EndpointGate;
  /** the network ACL rules of the ENI at a host address (its listeners'); null: not enforced */
  networkAclAt(host: string): NetworkAclGate | null;
  readonly load: DaemonLoad;
  /** the terminal ports whose listeners are bound */
  readonly ports: readonly number[];
  /** SNAT source ports left for new connections (none: snat_exhausted) */
  readonly snatPortsFree: number;
  readonly snatMode: 'kernel' | 'logical';
}

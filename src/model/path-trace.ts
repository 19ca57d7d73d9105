// What the path tracer answers, and the steps every trace shares: a route decision
// (src/model/routing.ts) completed by the admission the gateway plane applies to a relayed route
// (the same admit() as every listener), the daemon's headroom, the reason a refusal is counted by.
import { admit, type DaemonLoad, type RefusalReason } from './admission.js';
import type { ChoiceReason } from './backend-choice.js';
import type { ResourceError } from './errors.js';
import type { RouteDecision, RouteTarget } from './routing.js';

/** What the path tracer answers: a route decision, or the decision on an interface endpoint, for a client of a VPC or on premises. */
export type PathTrace = Omit<RouteDecision, 'vpc_id' | 'target_type' | 'service' | 'endpoint'> & {
  readonly vpc_id: string | null;
  readonly target_type: RouteTarget | 'interface_endpoint';
  readonly service: { id: string; name: string; target: string; status?: string } | null;
  readonly endpoint: { id: string; status: string; error?: string } | null;
  /** interface endpoints (absent on a route): the ENI the client connects to, its zone, and whether the zone is up */
  readonly eni?: { zone: string; ip: string; host_ip: string; zone_up: boolean };
  /**
   * interface endpoints (absent on a route): the node whose data plane serves the ENI (README
   * "Fleet"); `live`: its lease holds; `self`: the node that answers the trace, whose data plane the
   * listener, cap and daemon steps read
   */
  readonly node?: { id: string; name: string | null; address: string | null; live: boolean; self: boolean };
  /** what the client sees: relayed, reset, or refused by the kernel (nothing listens) */
  readonly outcome: 'relay' | 'reset' | 'connection_refused';
  /** the reason the data plane counts the refusal by (vpcep_endpoint_rejected_connections_total{reason}); null when relayed */
  readonly refusal: RefusalReason | null;
  /** the daemon-wide limit and the descriptor budget, as admission counts them */
  readonly daemon: DaemonHeadroom | null;
  /**
   * where the client connects (host_ip:port), and whether the data plane listens there; `error`:
   * why a public service's listener could not bind (each dialect renders it into `why`)
   */
  readonly listener: { address: string; bound: boolean; why: string | null; error?: ResourceError } | null;
  /** interface endpoints only (null on a route): the whitelist, the backend and the source it sees */
  readonly whitelist: { enabled: boolean; entries: readonly string[]; matched: string | null; rule: string } | null;
  /** interface endpoints with security groups (absent otherwise): the ingress rules, the one that admits the client, or why none does */
  readonly security_group?: { enforced: boolean; rules: readonly string[]; matched: string | null; rule: string };
  /**
   * interface endpoints whose ENI's subnet has a network ACL enforced (absent otherwise): its inbound
   * rules in order and the first holding the client and the port; its outbound rules and the first
   * holding the client and its source port (the one given, else the first ephemeral one); null: none (`*` denies)
   */
  readonly network_acl?: {
    enforced: boolean; rules: readonly string[]; matched: string | null;
    egress_rules: readonly string[]; egress_matched: string | null; source_port: number; rule: string;
  };
  /** the backend chosen for the flow: its zone (null: outside every zone) and the choice's reason, as the data plane decides */
  readonly backend: { target: string; chosen_by: string; zone?: string | null; reason?: ChoiceReason } | null;
  readonly source: { snat_ip: string; snat_mode: 'kernel' | 'logical' | null; proxy_v2: boolean; seen_as: string } | null;
  /** refusals the trace cannot predict: only a live connect knows them */
  readonly live_only: readonly RefusalReason[];
};

export interface DaemonHeadroom {
  readonly active: number;
  readonly max_connections: number;
  readonly headroom: number;
  readonly fd_budget: number;
  readonly fd_in_use: number;
  readonly fd_headroom_connections: number;
}

/** a route decision before admission: what explain() and decideOnPremisesToPublic answer */
export type RouteTraceInput = Omit<PathTrace, 'outcome' | 'refusal' | 'daemon' | 'whitelist' | 'listener' | 'backend' | 'source' | 'live_only'>;

/** Refusals only a live connect can know: the trace cannot predict them. */
export const LIVE_ONLY_REFUSALS: readonly RefusalReason[] = ['backend_unreachable', 'backend_timeout', 'backend_error', 'error'];
/** past a route, the SNAT source ports of a gateway endpoint's connections are the relay's to know too */
const ROUTE_LIVE_ONLY: readonly RefusalReason[] = ['snat_exhausted', ...LIVE_ONLY_REFUSALS];

/**
 * A route decision as the path tracer answers it. The client connects to the destination's host
 * address (127.255.c.d for a public a.b.c.d): where the gateway plane has no listener the kernel
 * refuses it, whatever the route. A relayed route still meets admission (the daemon-wide limit,
 * the descriptor budget, the endpoint's cap), as the gateway plane's relayRouted() applies it; no
 * isolation or whitelist past a route. `counted`: the reason the data plane counts the route's
 * refusal by (routing.ts routeRefusalReason of the same decide() outcome).
 */
export function routeTrace(d: RouteTraceInput, counted: RefusalReason | null, load: DaemonLoad, listener: NonNullable<PathTrace['listener']>): PathTrace {
  const at = { ...d, daemon: daemonHeadroom(load), whitelist: null, listener, backend: null, source: null, live_only: ROUTE_LIVE_ONLY };
  if (!listener.bound) {
    return { ...at, verdict: 'refuse', outcome: 'connection_refused', refusal: null, reason: d.verdict === 'refuse' ? d.reason : `${listener.address}: nothing listens: ${listener.why}` };
  }
  if (d.verdict === 'refuse') return { ...at, outcome: 'reset', refusal: counted ?? 'not_accepted' };
  // The internet path's own cap is dataplane.max_connections: the daemon-wide limit refuses first.
  const gate = { active: d.cap?.active ?? 0, cap: d.cap?.cap ?? Infinity, whitelistEnabled: false, whitelist: [], vpcNumber: 0, vpcBase: 0, securityRules: null };
  const refusal = admit(gate, load, 0, 0, 0);
  if (refusal === null) return { ...at, outcome: 'relay', refusal: null };
  return { ...at, verdict: 'refuse', outcome: 'reset', refusal, reason: loadRefusalText(refusal, load) ?? d.reason };
}

export function daemonHeadroom(load: DaemonLoad): DaemonHeadroom {
  // Each relayed connection holds two descriptors (the client's and the backend's); listeners one each.
  const fdInUse = load.active * 2 + load.listeners;
  return {
    active: load.active,
    max_connections: load.maxConnections,
    headroom: Math.max(0, load.maxConnections - load.active),
    fd_budget: load.fdBudget,
    fd_in_use: fdInUse,
    fd_headroom_connections: Math.max(0, Math.floor((load.fdBudget - fdInUse) / 2)),
  };
}

/** the words for a refusal by the daemon's load, or null for another reason */
export function loadRefusalText(r: RefusalReason, load: DaemonLoad): string | null {
  if (r === 'daemon_limit') return `the daemon holds dataplane.max_connections (${load.maxConnections}) connections`;
  if (r === 'fd_limit') return `the descriptor budget (${load.fdBudget}: the open-file limit less the reserve) has no room for two more`;
  return null;
}

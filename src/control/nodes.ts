// The fleet's status (issue 17: GET /sim/nodes, `vpcep nodes`, the per-node metrics): each live
// node with the ENIs it serves, its connections and its lease's age, and the leader. Counts only:
// no tenant's endpoint is named.
import type { Endpoint } from '../model/types.js';
import type { ControlState } from './state.js';

export interface NodeStatus {
  readonly id: string;
  readonly name: string;
  /** host:port of its API */
  readonly address: string;
  /** the interface endpoints placed on it, and their ENIs */
  readonly endpoints: number;
  readonly enis: number;
  /** its data plane's open connections (this node's now; another's as it last published them, every second) */
  readonly connections: number;
  /** seconds since its current lease was granted (null on SQLite: no lease) */
  readonly lease_age_s: number | null;
  readonly started_at: string;
  readonly leader: boolean;
  /** the node that answers */
  readonly self: boolean;
  /** the digest of its config's fleet-wide part, and whether it is the answering node's (null: a node of an older vpcepd, which publishes none) */
  readonly config: string | null;
  readonly same_config: boolean | null;
}

export interface FleetStatus {
  /** `etcd` (nodes with leases) or `single` (SQLite: this node alone) */
  readonly mode: 'etcd' | 'single';
  readonly lease_ttl_s: number | null;
  readonly leader: string | null;
  readonly nodes: readonly NodeStatus[];
}

/** the node an endpoint is served by: its `node`, or this one (SQLite: no placement) */
export const servingNode = (st: ControlState, e: Endpoint, self: string): string => e.node ?? st.nodeId ?? self;

export function fleetStatus(st: ControlState, nowMs = Date.now()): FleetStatus {
  const fleet = st.fleet;
  const records = fleet?.nodes() ?? [];
  const self = st.nodeId ?? records[0]?.id ?? '';
  const etcd = st.nodeId !== undefined;
  const counts = new Map<string, { endpoints: number; enis: number }>();
  for (const e of st.endpoints.values()) {
    if (e.service_type !== 'interface') continue;
    const n = servingNode(st, e, self);
    const c = counts.get(n) ?? { endpoints: 0, enis: 0 };
    c.endpoints++;
    c.enis += e.enis.length;
    counts.set(n, c);
  }
  const leader = fleet?.leader() ?? null;
  const mine = records.find((r) => r.id === self)?.config;
  return {
    mode: etcd ? 'etcd' : 'single',
    lease_ttl_s: etcd ? fleet?.leaseTtlS ?? null : null,
    leader,
    nodes: records.map((r) => ({
      id: r.id,
      name: r.name,
      address: r.api,
      endpoints: counts.get(r.id)?.endpoints ?? 0,
      enis: counts.get(r.id)?.enis ?? 0,
      connections: r.id === self ? st.dataPlane.daemonLoad().active : r.connections,
      lease_age_s: etcd ? Math.max(0, Math.round((nowMs - Date.parse(r.registered_at)) / 100) / 10) : null,
      started_at: r.started_at,
      leader: r.id === leader,
      self: r.id === self,
      config: r.config ?? null,
      same_config: r.config === undefined || mine === undefined ? null : r.config === mine,
    })),
  };
}

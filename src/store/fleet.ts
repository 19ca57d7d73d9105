// The fleet seam (issue 17): the nodes sharing one store, each registered with a lease, and which
// of them leads (runs placement: src/control/placement.ts). The control plane sees only this
// interface; etcd's leases and election sit behind it in etcd-fleet.ts. On SQLite the fleet is
// this one node, always live and always the leader (SoloFleet).

/** one node as it registers itself (the value of its leased record) */
export interface NodeRecord {
  /** the node id of its data dir (src/config/data-dir.ts) */
  readonly id: string;
  /** fleet.node_name or --node-name; default <host name>-<node id> */
  readonly name: string;
  /** host:port of its API */
  readonly api: string;
  /** when the daemon started, and when its current lease was granted (ISO 8601) */
  readonly started_at: string;
  readonly registered_at: string;
  /** the connections open on its data plane, as it last published them */
  readonly connections: number;
  /** the digest of its config's fleet-wide part (src/config/fleet-digest.ts); absent from an older vpcepd's record */
  readonly config?: string;
}

export interface Fleet {
  /** the live nodes (those whose lease holds), as last seen; this node among them once registered */
  nodes(): readonly NodeRecord[];
  /** the node id of the leader, as last seen (undefined: none elected yet, or etcd lost) */
  leader(): string | undefined;
  /** whether this node is the elected leader now */
  isLeader(): boolean;
  /** the lease's time to live (s) */
  readonly leaseTtlS: number;
  /** told when the live nodes or the leader change */
  onChange(fn: () => void): void;
  /** registers this node and campaigns; keeps both up (a lost lease or campaign starts again) */
  start(self: NodeRecord): Promise<void>;
  /** this node's connection count, published with its record when it changes */
  publish(connections: number): void;
  /** resigns and revokes this node's lease: the others see it leave at once */
  close(): Promise<void>;
}

/** the fleet of one node on SQLite: this node, live and leader */
export class SoloFleet implements Fleet {
  readonly leaseTtlS = 0;
  private self: NodeRecord | undefined;

  nodes(): readonly NodeRecord[] {
    return this.self ? [this.self] : [];
  }

  leader(): string | undefined {
    return this.self?.id;
  }

  isLeader(): boolean {
    return true;
  }

  onChange(): void {}

  async start(self: NodeRecord): Promise<void> {
    this.self = self;
  }

  publish(connections: number): void {
    if (this.self) this.self = { ...this.self, connections };
  }

  async close(): Promise<void> {}
}

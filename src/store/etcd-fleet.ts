// The fleet on etcd (issue 17): each node keeps a record `<prefix>.fleet/nodes/<id>` bound to an
// etcd lease (TTL fleet.lease_ttl_seconds, kept alive by the client every TTL/3): a node that dies
// (SIGKILL) stops the keepalives and etcd deletes its record once the TTL runs out. The leader is
// chosen by etcd's election (`<prefix>.fleet/election/leader`, its own lease of the same TTL).
// Nodes and leader are read every poll interval (TTL/4, at most 500 ms): a list of a few keys.
// A lease or campaign lost (etcd down longer than the keepalive tolerates, or restarted) starts
// again on its own once etcd answers: no node restarts. The poll reads the election's head key
// itself: when it is this node's campaign, the node leads even if the campaign's `elected` never
// came (etcd3 learns it from a watch, and a watch may miss its event across a reconnect).
import { Election, type Campaign, type IResponseHeader, type Lease, type Namespace } from 'etcd3';
import type { Fleet, NodeRecord } from './fleet.js';
import { StoreError } from './store.js';

export interface FleetLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

const RETRY_MS = 250;
/** how long a node that stops waits for etcd to take its leaving (the resign and the lease's revoke) */
const LEAVE_WAIT_MS = 1_000;

export class EtcdFleet implements Fleet {
  private self: NodeRecord | undefined;
  private lease: Lease | undefined;
  private campaignNow: Campaign | undefined;
  private readonly election: Election;
  /** the election's keys: the head (lowest create revision) leads */
  private readonly candidates: Namespace;
  private leading = false;
  private live: readonly NodeRecord[] = [];
  private leaderId: string | undefined;
  private readonly listeners: (() => void)[] = [];
  private closed = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly pollMs: number;
  /** the other nodes' configs this node has warned of (node id / digest) */
  private readonly warnedConfigs = new Set<string>();

  /**
   * REACHABLE is told, at every poll, whether etcd answered it within a poll's time: the store's
   * `vpcep_store_reachable` follows etcd's state even when this node makes no write or read
   * (it moved only with the store's own calls: 1 through an outage that none made, 0 long after).
   * SENT, before each poll, answers where the poll's answer header goes: the store tells from it
   * an etcd reset under the daemons (etcd.ts), without a write or a watched batch
   */
  constructor(
    private readonly ns: Namespace, readonly leaseTtlS: number, private readonly log: FleetLogger,
    private readonly reachable: (up: boolean) => void = () => undefined,
    private readonly sent: () => (header: IResponseHeader) => unknown = () => () => undefined,
  ) {
    this.election = ns.election('leader', leaseTtlS);
    this.candidates = ns.namespace(`${Election.prefix}/leader/`);
    this.pollMs = Math.min(500, (leaseTtlS * 1000) / 4);
  }

  nodes(): readonly NodeRecord[] {
    return this.live;
  }

  leader(): string | undefined {
    return this.leaderId;
  }

  isLeader(): boolean {
    // elected, and etcd's election names this node too (a campaign whose loss was not reported yet leads nothing)
    return this.leading && this.self !== undefined && this.leaderId === this.self.id;
  }

  onChange(fn: () => void): void {
    this.listeners.push(fn);
  }

  async start(self: NodeRecord): Promise<void> {
    await this.refuseTakenName(self);
    this.self = self;
    await this.register();
    this.campaign();
    await this.poll();
  }

  /**
   * Names tell nodes apart (`vpcep nodes`, the per-node metrics' `node` label): a second live
   * node of the same name was taken, and its series merged with the first's. Its own record (the
   * same data dir's id, a restart before its lease ran out) is no conflict.
   */
  private async refuseTakenName(self: NodeRecord): Promise<void> {
    let kvs: Record<string, string>;
    try {
      kvs = await this.ns.getAll().prefix('nodes/').strings();
    } catch {
      return; // etcd unreachable: registering retries until it answers
    }
    for (const other of records(kvs)) {
      if (other.name === self.name && other.id !== self.id) {
        throw new StoreError(`node name ${self.name} (fleet.node_name, flag --node-name, env VPCEP_NODE_NAME) is the name of a live node of this fleet ` +
          `(node ${other.id}, API ${other.api}): give each node a name of its own (a node that is gone frees its name within fleet.lease_ttl_seconds, ${this.leaseTtlS} s)`);
      }
    }
  }

  private later(fn: () => void, ms: number): void {
    if (this.closed) return;
    const t = setTimeout(() => { this.timers.delete(t); fn(); }, ms);
    t.unref();
    this.timers.add(t);
  }

  private changed(): void {
    for (const fn of this.listeners) {
      try {
        fn();
      } catch (err) {
        this.log.warn({ err }, 'fleet: a change listener failed');
      }
    }
  }

  /**
   * a new lease and this node's record on it; again when the lease is lost. A lease that cannot be
   * granted reports both its loss and the put's failure: one retry per lease, never two (each
   * retry's lease failing the same way doubled the loops while etcd was away: a storm of leases)
   */
  private async register(): Promise<void> {
    if (this.closed || !this.self) return;
    const lease = this.ns.lease(this.leaseTtlS);
    this.lease = lease;
    const again = (message: string, err: Error, ms: number) => {
      if (this.closed || this.lease !== lease) return;
      this.lease = undefined;
      lease.release();
      this.log.warn({ err: err.message }, message);
      this.later(() => void this.register(), ms);
    };
    lease.on('lost', (err) => again('fleet: this node\'s lease is lost: registering again', err, RETRY_MS));
    this.self = { ...this.self, registered_at: new Date().toISOString() };
    try {
      await lease.put(`nodes/${this.self.id}`).value(JSON.stringify(this.self)).exec();
      this.log.info({ node: this.self.id, name: this.self.name, lease_ttl_s: this.leaseTtlS }, 'fleet: node registered');
    } catch (err) {
      again('fleet: cannot register this node (etcd unreachable?): trying again', err as Error, RETRY_MS * 2);
    }
  }

  private campaign(): void {
    if (this.closed || !this.self) return;
    const c = this.election.campaign(this.self.id);
    this.campaignNow = c;
    c.on('elected', () => this.elected(c, 'campaign'));
    c.on('error', (err: Error) => {
      if (this.campaignNow !== c || this.closed) return;
      const was = this.leading;
      this.leading = false;
      this.campaignNow = undefined;
      this.log.warn({ err: err.message, was_leader: was }, 'fleet: the campaign failed: campaigning again');
      if (was) this.changed();
      this.later(() => this.campaign(), RETRY_MS * 2);
    });
  }

  private elected(c: Campaign, seen: 'campaign' | 'poll'): void {
    if (this.campaignNow !== c || this.leading) return;
    this.leading = true;
    this.log.info({ node: this.self?.id, seen }, 'fleet: this node leads (placement)');
    this.changed();
  }

  /** the election's head: the leader's value, and whether it is this node's running campaign */
  private async head(): Promise<{ leader: string | undefined; mine: Campaign | undefined; header: IResponseHeader }> {
    const c = this.campaignNow;
    const [r, key] = await Promise.all([
      this.candidates.getAll().sort('Create', 'Ascend').limit(1).exec(),
      c?.getCampaignKey().catch(() => undefined),
    ]);
    const kv = r.kvs[0];
    if (!kv) return { leader: undefined, mine: undefined, header: r.header };
    return { leader: kv.value.toString(), mine: c && key?.endsWith(`/${kv.key.toString()}`) ? c : undefined, header: r.header };
  }

  private async poll(): Promise<void> {
    if (this.closed) return;
    // a stopped etcd holds a request without an answer: unreachable once a poll's time has passed
    const slow = setTimeout(() => this.reachable(false), Math.max(1_000, 2 * this.pollMs));
    slow.unref();
    const answered = this.sent();
    try {
      const [kvs, { leader, mine, header }] = await Promise.all([this.ns.getAll().prefix('nodes/').strings(), this.head()]);
      clearTimeout(slow);
      this.reachable(true);
      answered(header);
      const live = records(kvs);
      live.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      this.warnOtherConfigs(live);
      const before = this.live.map((n) => n.id).join(',');
      this.live = live;
      const moved = leader !== this.leaderId;
      this.leaderId = leader;
      if (mine) this.elected(mine, 'poll');
      if (moved || before !== live.map((n) => n.id).join(',')) this.changed();
    } catch {
      // etcd unreachable: the last known fleet stands until it answers again
      clearTimeout(slow);
      this.reachable(false);
    }
    this.pollTimer = setTimeout(() => void this.poll(), this.pollMs);
    this.pollTimer.unref();
  }

  /** once per node and config: a live node whose config's fleet-wide part is not this node's */
  private warnOtherConfigs(live: readonly NodeRecord[]): void {
    const mine = this.self?.config;
    for (const n of live) {
      if (n.id === this.self?.id || n.config === undefined || mine === undefined || n.config === mine) continue;
      const key = `${n.id}/${n.config}`;
      if (this.warnedConfigs.has(key)) continue;
      this.warnedConfigs.add(key);
      this.log.warn({ node: n.id, name: n.name, config: n.config, this_config: mine },
        'fleet: a node runs another config than this one (accounts, quotas, VPCs or rules): each enforces its own on the shared state; give every node the same config');
    }
  }

  publish(connections: number): void {
    const lease = this.lease;
    if (!this.self || !lease || this.self.connections === connections) return;
    this.self = { ...this.self, connections };
    lease.put(`nodes/${this.self.id}`).value(JSON.stringify(this.self)).exec().catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.pollTimer);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const c = this.campaignNow;
    this.campaignNow = undefined;
    this.leading = false;
    // Courtesies: the others see this node gone at once instead of after the TTL. An etcd that
    // does not answer (stopped, cut off) held the stop, and a second SIGTERM, until it returned.
    const leaving = (async () => {
      await c?.resign().catch(() => undefined);
      await this.lease?.revoke().catch(() => undefined);
    })();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), LEAVE_WAIT_MS); });
    if (await Promise.race([leaving, late]) === 'late') {
      this.log.warn({ waited_ms: LEAVE_WAIT_MS, lease_ttl_s: this.leaseTtlS },
        'fleet: etcd did not answer this node\'s leaving: it goes without; the others see it gone when its lease runs out');
    }
    clearTimeout(timer);
  }
}

/** the node records of a listing of `nodes/`; a value that is not JSON (not a node's) is passed over */
function records(kvs: Record<string, string>): NodeRecord[] {
  const out: NodeRecord[] = [];
  for (const v of Object.values(kvs)) {
    try {
      out.push(JSON.parse(v) as NodeRecord);
    } catch {
      // a record that is not ours: ignored
    }
  }
  return out;
}

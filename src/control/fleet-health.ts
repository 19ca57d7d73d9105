// Target health across a fleet (README "Fleet"): each node probes only the backends of the
// endpoints it serves, so each publishes the probe states its data plane holds (kind
// `targethealth`, under its node id), and a node that does not probe a target answers
// DescribeTargetHealth and backend_health from what the live nodes probing it published.
import type { ProbeReason, ProbeState, PublishedTargetHealth } from '../model/health.js';
import type { ControlState } from './state.js';

type Published = PublishedTargetHealth['targets'][string];

/** a probe state's weight when several nodes probe one target: unhealthy over healthy over not known yet */
const WORSE: Readonly<Record<ProbeState, number>> = { initial: 0, healthy: 1, unhealthy: 2 };

/**
 * A target's probe state as the other live nodes that probe it published (null: none does). When
 * several do, the worst wins (unhealthy over healthy over initial), like a client whose connection
 * may land on any of them; among equals the lowest node id, so that every node answers alike. The
 * document of a node that left the fleet (stopped, or its lease lapsed) is not read.
 */
export function fleetTargetHealth(st: ControlState, key: string): { state: ProbeState; reason: ProbeReason | null; unhealthyDraining?: boolean } | null {
  if (st.nodeId === undefined || st.fleetHealth.size === 0) return null;
  let found: Published | undefined;
  const ids = (st.fleet?.nodes() ?? []).map((n) => n.id).filter((id) => id !== st.nodeId).sort();
  for (const id of ids) {
    const t = st.fleetHealth.get(id)?.targets[key];
    if (t && (found === undefined || WORSE[t.state] > WORSE[found.state])) found = t;
  }
  return found ? { state: found.state, reason: found.reason, ...(found.unhealthy_draining ? { unhealthyDraining: true } : {}) } : null;
}

/**
 * A target's probe state as this node knows it: its own data plane's when it probes the target,
 * else the fleet's (fleetTargetHealth); null: no node probes it. Every reader of target health
 * (the APIs, the path tracer's backend choice, the DNS answers that follow health) reads this.
 */
export function probeView(st: ControlState, key: string): { state: ProbeState; reason: ProbeReason | null; unhealthyDraining?: boolean } | null {
  return st.dataPlane.targetHealth?.(key) ?? fleetTargetHealth(st, key);
}

/** Publishes this node's probe states (on a fleet only), when they changed since its last write. */
export class TargetHealthPublisher {
  /** the document last written, as JSON (undefined: none yet) */
  private written: string | undefined;
  /** the write under way, if any (withdraw waits for it, so that it cannot land after the removal) */
  private writing: Promise<void> | undefined;
  private withdrawn = false;
  /** the last write failed: logged once until one succeeds */
  private failing = false;

  constructor(private readonly st: ControlState) {}

  /**
   * Called every DEFAULTS.fleet.healthPublishIntervalMs: at most one write per interval, none while
   * nothing changed or while no other node is live to read it (a fleet of one writes nothing).
   */
  async publish(): Promise<void> {
    const { st } = this;
    const node = st.nodeId;
    if (node === undefined || this.writing || this.withdrawn || !(st.fleet?.nodes() ?? []).some((n) => n.id !== node)) return;
    const doc: PublishedTargetHealth = { node, targets: this.probed() };
    const json = JSON.stringify(doc);
    if (json === this.written) return;
    this.writing = st.writeOwn({ kind: 'targethealth', id: node, value: doc }).then(() => {
      this.written = json;
      this.failing = false;
    }, (err: unknown) => {
      if (!this.failing) st.log.warn({ err: (err as Error).message }, 'fleet: publishing this node\'s target health failed (tried again at the next interval)');
      this.failing = true;
    }).finally(() => { this.writing = undefined; });
    await this.writing;
  }

  /** a clean stop: this node's document goes (the others stop reading it once it leaves the fleet anyway) */
  async withdraw(): Promise<void> {
    const node = this.st.nodeId;
    this.withdrawn = true;
    await this.writing;
    if (node === undefined || (this.written === undefined && !this.st.fleetHealth.has(node))) return;
    await this.st.writeOwn({ kind: 'targethealth', id: node, value: null }).catch(() => undefined);
  }

  /** the probe states this node's data plane holds now, by target key */
  private probed(): Record<string, Published> {
    const dp = this.st.dataPlane;
    const out: Record<string, Published> = {};
    for (const key of dp.probedTargets?.() ?? []) {
      const h = dp.targetHealth?.(key);
      if (h) out[key] = { state: h.state, reason: h.reason, ...(h.unhealthyDraining ? { unhealthy_draining: true } : {}) };
    }
    return out;
  }
}

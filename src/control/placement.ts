// ENI placement on a fleet (issue 17): the elected leader assigns every interface endpoint (all
// its ENIs) to a live node (src/model/placement.ts), through the store with compare-and-swap on
// the endpoint's document (its `node`), so that every node converges through its watch
// (follow.ts): the new owner binds, the old one tears down. A node's own data plane binds an
// endpoint it gained with a few retries while the old owner may still hold the address (one
// machine: the nodes share the loopback addresses).
import { plan, type Move } from '../model/placement.js';
import { LIVE_ENDPOINT_STATUSES, type Endpoint } from '../model/types.js';
import type { Fleet } from '../store/fleet.js';
import { placedOf, type ControlState } from './state.js';
import { applyToDataPlane, liveSpec, pushEndpoint } from './transitions.js';

/**
 * How a gained endpoint's bind is tried again while its address is still taken: every
 * GAIN_PAUSE_MS for GAIN_WAIT_MS (the old owner closing its listeners), then every
 * GAIN_SLOW_PAUSE_MS until GAIN_GIVE_UP_MS (an old owner frozen, by SIGSTOP or a stalled host: its
 * lease ran out, so its endpoints moved here, but its sockets stay open until it runs again and
 * sees that they moved). Only then does the endpoint turn failed, as a bind failure does on one node.
 */
const GAIN_WAIT_MS = 10_000;
const GAIN_PAUSE_MS = 300;
const GAIN_SLOW_PAUSE_MS = 1_000;
const GAIN_GIVE_UP_MS = 300_000;

/**
 * binds an endpoint this node serves (gained, or changed by another writer); a bind failure turns
 * it failed, as pushEndpoint does. One attempt per endpoint at a time: a change that comes while
 * its bind is tried again is bound by that attempt, from the endpoint as it is then.
 */
export async function bindOwned(st: ControlState, id: string): Promise<void> {
  const running = st.binding.get(id);
  if (running) {
    running.again = true;
    return;
  }
  const mine = { again: false };
  st.binding.set(id, mine);
  try {
    await bindRetrying(st, id, mine);
  } finally {
    st.binding.delete(id);
  }
}

async function bindRetrying(st: ControlState, id: string, mine: { again: boolean }): Promise<void> {
  const started = Date.now();
  let slow = false;
  for (let tries = 1; ; tries++) {
    const e = st.endpoints.get(id);
    if (!e || e.service_type !== 'interface' || st.servedElsewhere(id) || !LIVE_ENDPOINT_STATUSES.has(e.status)) break;
    const live = liveSpec(st, e);
    if (!live) break;
    mine.again = false;
    const ack = await applyToDataPlane(st, { kind: 'endpoint', id, live });
    if (ack.ok) {
      if (mine.again) continue;
      if (slow) st.log.info({ endpoint_id: id, waited_ms: Date.now() - started }, 'fleet: an endpoint\'s address is free again: bound');
      return;
    }
    const waited = Date.now() - started;
    if (ack.failure !== 'listen_failed' || waited >= GAIN_GIVE_UP_MS || st.stopping) break;
    if (tries === 1) st.log.info({ endpoint_id: id, reason: ack.reason }, 'fleet: an endpoint\'s address is still taken (its old owner stopping?): binding again');
    if (!slow && waited >= GAIN_WAIT_MS) {
      slow = true;
      st.log.warn({ endpoint_id: id, reason: ack.reason, give_up_s: GAIN_GIVE_UP_MS / 1000 },
        'fleet: an endpoint\'s address is still taken: its old owner may be frozen (its sockets open until it runs again), or another process holds it; binding again every second');
    }
    await new Promise((r) => setTimeout(r, slow ? GAIN_SLOW_PAUSE_MS : GAIN_PAUSE_MS));
  }
  if (!st.servedElsewhere(id)) await pushEndpoint(st, id);
}

/** one move, if the endpoint is still where the plan saw it: false when it moved or went meanwhile */
async function move(st: ControlState, m: Move): Promise<boolean> {
  return st.serial(async () => {
    const cur = st.endpoints.get(m.id);
    if (!cur || cur.node !== m.from || cur.service_type !== 'interface') return false;
    const next: Endpoint = { ...cur, node: m.to };
    await st.commit([{ kind: 'endpoint', id: m.id, value: next }], () => st.endpoints.set(m.id, next));
    st.log.info({ endpoint_id: m.id, from: m.from ?? null, to: m.to }, 'fleet: endpoint placed');
    return true;
  });
}

export interface PlacementLoop {
  /** runs one round now, when this node leads (tests; the loop runs it every interval) */
  round(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * The leader's loop: every INTERVALMS and whenever the fleet changes, the moves of plan() for the
 * live nodes. REACT brings a move to this node's own data plane (the watch does not echo its own
 * commits).
 */
export function placementLoop(st: ControlState, fleet: Fleet, intervalMs: number, react: (id: string) => void): PlacementLoop {
  let running: Promise<number> | undefined;
  let stopped = false;
  const round = (): Promise<number> => {
    if (running) return running;
    running = (async () => {
      if (stopped || !fleet.isLeader()) return 0;
      const live = fleet.nodes().map((n) => n.id);
      // the leader's own record not seen yet: the view of the fleet is not complete
      if (!live.length || (st.nodeId !== undefined && !live.includes(st.nodeId))) return 0;
      let moved = 0;
      for (const m of plan([...placedOf(st.endpoints.values())], live)) {
        if (stopped || !fleet.isLeader()) break;
        try {
          if (!(await move(st, m))) continue;
        } catch (err) {
          st.log.warn({ endpoint_id: m.id, err: (err as Error).message }, 'fleet: a placement did not commit (tried again next round)');
          continue;
        }
        moved++;
        if (m.from === st.nodeId || m.to === st.nodeId) react(m.id);
      }
      return moved;
    })().finally(() => { running = undefined; });
    return running;
  };
  const timer = setInterval(() => void round(), intervalMs);
  timer.unref();
  fleet.onChange(() => void round());
  return {
    round,
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}

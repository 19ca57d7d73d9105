// ENI placement over a fleet (issue 17), pure: which live node serves each interface endpoint.
// An endpoint is placed whole (all its ENIs on one node): its connection cap (3,000 by default) is
// then counted by one admission, exact with no split to agree on between nodes, and a zone's ENI
// never waits for another node to come up. Load is counted in ENIs. The leader's loop
// (src/control/placement.ts) applies the moves through the store with compare-and-swap.

export interface Placed {
  readonly id: string;
  /** the node that serves it now (absent: none recorded) */
  readonly node: string | undefined;
  /** its ENIs: the load it puts on a node */
  readonly enis: number;
  /**
   * still being brought up by its node: counted there, never moved to even out the load (the
   * gaining node would activate it while its node still holds the address); a node that is gone
   * loses it all the same
   */
  readonly pinned?: boolean;
}

export interface Move {
  readonly id: string;
  readonly from: string | undefined;
  readonly to: string;
}

/** ENIs per live node, each live node present */
export function loads(endpoints: Iterable<Placed>, live: readonly string[]): Map<string, number> {
  const out = new Map(live.map((n) => [n, 0]));
  for (const e of endpoints) if (e.node !== undefined && out.has(e.node)) out.set(e.node, out.get(e.node)! + Math.max(1, e.enis));
  return out;
}

/** the live node with the fewest ENIs (ties: the lowest id, so that every node picks the same) */
export function leastLoaded(load: ReadonlyMap<string, number>): string | undefined {
  let best: string | undefined;
  for (const [n, v] of load) if (best === undefined || v < load.get(best)! || (v === load.get(best)! && n < best)) best = n;
  return best;
}

/**
 * The moves that bring the endpoints to live nodes: every endpoint of a node that is not live (its
 * lease expired) goes to the least loaded live node; then, at most MAXREBALANCE endpoints move
 * from the most to the least loaded node while that narrows the gap (a move cuts the moved ENIs'
 * connections, so the fleet is balanced only where a node has at least two ENIs more than another).
 */
export function plan(endpoints: readonly Placed[], live: readonly string[], maxRebalance = 8): Move[] {
  if (!live.length) return [];
  const load = loads(endpoints, live);
  const moves: Move[] = [];
  const on = new Map<string, Placed[]>(live.map((n) => [n, []]));
  for (const e of [...endpoints].sort((a, b) => (a.id < b.id ? -1 : 1))) {
    if (e.node !== undefined && load.has(e.node)) {
      on.get(e.node)!.push(e);
      continue;
    }
    const to = leastLoaded(load)!;
    load.set(to, load.get(to)! + Math.max(1, e.enis));
    on.get(to)!.push(e);
    moves.push({ id: e.id, from: e.node, to });
  }
  for (let i = 0; i < maxRebalance; i++) {
    let most: string | undefined;
    for (const [n, v] of load) if (most === undefined || v > load.get(most)! || (v === load.get(most)! && n < most)) most = n;
    const least = leastLoaded(load)!;
    const gap = load.get(most!)! - load.get(least)!;
    // the smallest endpoint whose move narrows the gap
    const list = on.get(most!)!;
    let pick = -1;
    for (let j = 0; j < list.length; j++) {
      const size = Math.max(1, list[j]!.enis);
      if (!list[j]!.pinned && size < gap && (pick < 0 || size < Math.max(1, list[pick]!.enis))) pick = j;
    }
    if (pick < 0) break;
    const [e] = list.splice(pick, 1);
    const size = Math.max(1, e!.enis);
    load.set(most!, load.get(most!)! - size);
    load.set(least, load.get(least)! + size);
    on.get(least)!.push(e!);
    const earlier = moves.findIndex((m) => m.id === e!.id);
    if (earlier >= 0) moves[earlier] = { ...moves[earlier]!, to: least };
    else moves.push({ id: e!.id, from: e!.node, to: least });
  }
  return moves;
}

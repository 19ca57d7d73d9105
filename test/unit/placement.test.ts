// ENI placement over a fleet (src/model/placement.ts; README "Fleet"): a dead node's endpoints go
// to the least loaded live nodes, the load is evened out only where a move narrows the gap, an
// endpoint moves whole.
import { describe, expect, it } from 'vitest';
import { leastLoaded, loads, plan, type Placed } from '../../src/model/placement.js';

const ep = (id: string, node: string | undefined, enis = 1): Placed => ({ id, node, enis });

describe('placement', () => {
  it('places the endpoints of a node that is not live on the least loaded live nodes, evenly', () => {
    const endpoints = [ep('a1', 'a'), ep('a2', 'a'), ep('b1', 'b'), ep('c1', 'c'), ep('c2', 'c'), ep('c3', 'c'), ep('c4', 'c')];
    const moves = plan(endpoints, ['a', 'b']);
    expect(moves.map((m) => m.from)).toEqual(['c', 'c', 'c', 'c']);
    const after = endpoints.map((e) => ({ ...e, node: moves.find((m) => m.id === e.id)?.to ?? e.node }));
    expect([...loads(after, ['a', 'b']).values()].sort()).toEqual([3, 4]);
  });

  it('moves nothing when every node is live and no node has two ENIs more than another', () => {
    expect(plan([ep('1', 'a'), ep('2', 'a'), ep('3', 'b')], ['a', 'b'])).toEqual([]);
    expect(plan([ep('1', 'a', 3)], ['a', 'b'])).toEqual([]);
  });

  it('evens out a skew with the fewest moves that narrow the gap, at most the bound a round', () => {
    const skewed = Array.from({ length: 6 }, (_, i) => ep(`e${i}`, 'a'));
    const moves = plan(skewed, ['a', 'b', 'c']);
    expect(moves).toHaveLength(4);
    const after = skewed.map((e) => ({ ...e, node: moves.find((m) => m.id === e.id)?.to ?? e.node }));
    expect([...loads(after, ['a', 'b', 'c']).values()]).toEqual([2, 2, 2]);
    expect(plan(Array.from({ length: 40 }, (_, i) => ep(`e${i}`, 'a')), ['a', 'b'], 8)).toHaveLength(8);
  });

  it('never moves an endpoint still coming up on a live node, whatever its order; it counts there, and a node that is gone loses it', () => {
    const four = [{ ...ep('e0', 'a'), pinned: true }, ep('e1', 'a'), ep('e2', 'a'), ep('e3', 'a')];
    const moves = plan(four, ['a', 'b']);
    expect(moves).toHaveLength(2);
    expect(moves.map((m) => m.id)).not.toContain('e0');
    expect(plan([{ ...ep('p', 'gone'), pinned: true }], ['a'])).toEqual([{ id: 'p', from: 'gone', to: 'a' }]);
  });

  it('counts ENIs: a three-ENI endpoint weighs three, and moves whole', () => {
    const moves = plan([ep('big', 'gone', 3), ep('s1', 'a'), ep('s2', 'a')], ['a', 'b']);
    expect(moves).toEqual([{ id: 'big', from: 'gone', to: 'b' }]);
  });

  it('ties go to the lowest node id, so that every node picks the same; no live node: no move', () => {
    expect(leastLoaded(new Map([['b', 0], ['a', 0]]))).toBe('a');
    expect(plan([ep('x', 'gone')], [])).toEqual([]);
  });
});

// A fleet's target health (src/control/fleet-health.ts): a node answers a target it does not probe
// from what the other live nodes published (the worst of them), and publishes its own probe states
// only on a fleet with another live node, and only when they changed.
import { describe, expect, it } from 'vitest';
import { checkDocuments } from '../../src/control/documents.js';
import { fleetTargetHealth, probeView, TargetHealthPublisher } from '../../src/control/fleet-health.js';
import type { ControlState } from '../../src/control/state.js';
import type { ProbeState, PublishedTargetHealth } from '../../src/model/health.js';
import { emptyDocuments, StoreError, type Change } from '../../src/store/store.js';

/** the parts of a ControlState fleet-health.ts reads: node `self` among MEMBERS, each node's published states, a data plane probing PROBED */
function state(members: string[], published: PublishedTargetHealth[], probed: Record<string, ProbeState> = {}, self: string | null = 'n1') {
  const writes: Change[] = [];
  const st = {
    nodeId: self ?? undefined,
    fleet: { nodes: () => members.map((id) => ({ id })) },
    fleetHealth: new Map(published.map((p) => [p.node, p])),
    dataPlane: {
      probedTargets: () => Object.keys(probed),
      targetHealth: (k: string) => (probed[k] ? { state: probed[k], reason: probed[k] === 'unhealthy' ? 'Target.FailedHealthChecks' : null } : null),
    },
    log: { info: () => undefined, warn: () => undefined },
    writeOwn: async (c: Change) => { writes.push(c); },
  };
  return { st: st as unknown as ControlState, writes, probed };
}

const doc = (node: string, state: ProbeState, key = '127.0.0.2:80'): PublishedTargetHealth =>
  ({ node, targets: { [key]: { state, reason: state === 'unhealthy' ? 'Target.FailedHealthChecks' : null } } });

describe('fleetTargetHealth', () => {
  it('shows what another live node probing the target published; null when none does', () => {
    const { st } = state(['n1', 'n2'], [doc('n2', 'healthy')]);
    expect(fleetTargetHealth(st, '127.0.0.2:80')).toEqual({ state: 'healthy', reason: null });
    expect(fleetTargetHealth(st, '127.0.0.3:80')).toBeNull();
  });

  it('reads no document of a node that left the fleet, nor its own', () => {
    expect(fleetTargetHealth(state(['n1'], [doc('n2', 'unhealthy')]).st, '127.0.0.2:80')).toBeNull();
    expect(fleetTargetHealth(state(['n1', 'n2'], [doc('n1', 'unhealthy')]).st, '127.0.0.2:80')).toBeNull();
  });

  it('several nodes probing it: the worst wins (unhealthy over healthy over initial)', () => {
    const { st } = state(['n1', 'n2', 'n3', 'n4'], [doc('n2', 'healthy'), doc('n3', 'unhealthy'), doc('n4', 'initial')]);
    expect(fleetTargetHealth(st, '127.0.0.2:80')).toEqual({ state: 'unhealthy', reason: 'Target.FailedHealthChecks' });
    expect(fleetTargetHealth(state(['n1', 'n2', 'n4'], [doc('n2', 'healthy'), doc('n4', 'initial')]).st, '127.0.0.2:80')?.state).toBe('healthy');
  });

  it('off a fleet (no node id): null', () => {
    expect(fleetTargetHealth(state(['n1', 'n2'], [doc('n2', 'healthy')], {}, null).st, '127.0.0.2:80')).toBeNull();
  });
});

describe('probeView (what the APIs, the path tracer and DNS read)', () => {
  it("this node's own probe when it probes the target, else the fleet's, else null", () => {
    // n2 published it unhealthy, but this node probes it healthy: its own probe
    const { st } = state(['n1', 'n2'], [doc('n2', 'unhealthy')], { '127.0.0.2:80': 'healthy' });
    expect(probeView(st, '127.0.0.2:80')).toEqual({ state: 'healthy', reason: null });
    const other = state(['n1', 'n2'], [{ node: 'n2', targets: { '127.0.0.3:80': { state: 'unhealthy', reason: 'Target.FailedHealthChecks' } } }]);
    expect(probeView(other.st, '127.0.0.3:80')).toEqual({ state: 'unhealthy', reason: 'Target.FailedHealthChecks' });
    expect(probeView(other.st, '127.0.0.4:80')).toBeNull();
  });
});

describe('TargetHealthPublisher', () => {
  it('writes its probe states once per change, and only while another node is live', async () => {
    const alone = state(['n1'], [], { '127.0.0.2:80': 'healthy' });
    await new TargetHealthPublisher(alone.st).publish();
    expect(alone.writes).toEqual([]);

    const { st, writes, probed } = state(['n1', 'n2'], [], { '127.0.0.2:80': 'healthy' });
    const p = new TargetHealthPublisher(st);
    await p.publish();
    await p.publish();
    expect(writes).toEqual([{ kind: 'targethealth', id: 'n1', value: { node: 'n1', targets: { '127.0.0.2:80': { state: 'healthy', reason: null } } } }]);
    probed['127.0.0.2:80'] = 'unhealthy';
    await p.publish();
    expect(writes.length).toBe(2);
    expect((writes[1]!.value as PublishedTargetHealth).targets['127.0.0.2:80']!.state).toBe('unhealthy');
    await p.withdraw();
    expect(writes[2]).toEqual({ kind: 'targethealth', id: 'n1', value: null });
  });

  it('off a fleet (no node id): writes nothing', async () => {
    const { st, writes } = state(['n1', 'n2'], [], { '127.0.0.2:80': 'healthy' }, null);
    const p = new TargetHealthPublisher(st);
    await p.publish();
    await p.withdraw();
    expect(writes).toEqual([]);
  });
});

describe('checkDocuments on targethealth', () => {
  const withDoc = (id: string, d: unknown) => {
    const snap = emptyDocuments();
    snap.get('targethealth')!.set(id, d);
    return snap;
  };
  it('passes a node\'s probe states under its node id; refuses another id or a bad state', () => {
    expect(() => checkDocuments(withDoc('n1', doc('n1', 'healthy')), 'etcd')).not.toThrow();
    expect(() => checkDocuments(withDoc('n2', doc('n1', 'healthy')), 'etcd')).toThrow(StoreError);
    expect(() => checkDocuments(withDoc('n1', doc('n1', 'sick' as ProbeState)), 'etcd')).toThrow(/targets/);
  });
});

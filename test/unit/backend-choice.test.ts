import { describe, expect, it } from 'vitest';
import {
  anyHealthy, chooseBackend, choiceIndex, choiceReason, compileChoice, eligible, flowHash, NO_CHOICE, type ChoiceInputs, type ChoiceTarget,
} from '../../src/model/backend-choice.js';
import { ipToInt as ip } from '../../src/net/cidr.js';
import type { HealthView, ProbeState } from '../../src/model/health.js';

const T: ChoiceTarget[] = [
  { key: 'a1', zone: 'z-a' }, { key: 'a2', zone: 'z-a' }, { key: 'b1', zone: 'z-b' }, { key: 'c1', zone: 'z-c' },
];

function inputs(states: Record<string, ProbeState> = {}, down: string[] = []): ChoiceInputs {
  const health: HealthView = { state: (k) => states[k] ?? 'initial', reason: () => null };
  return { health, zoneDown: (z) => z !== null && down.includes(z) };
}

/** the keys a rule set sends flows to, over many hashes, with the reasons seen */
function spread(targets: ChoiceTarget[], rules: { zone: string | null; crossZone: boolean; zoneAffinity: boolean }, inp: ChoiceInputs) {
  const keys = new Map<string, number>();
  const reasons = new Set<string>();
  for (let h = 0; h < 400; h++) {
    const c = chooseBackend(targets, rules, inp, flowHash(ip('127.1.0.9'), 30000 + h, ip('127.1.0.5'), 80));
    const k = targets[choiceIndex(c)]!.key;
    keys.set(k, (keys.get(k) ?? 0) + 1);
    reasons.add(choiceReason(c));
  }
  return { keys: [...keys.keys()].sort(), reasons: [...reasons].sort() };
}

const zonal = { zone: 'z-a', crossZone: false, zoneAffinity: false };

describe('backend choice', () => {
  it('no target: NO_CHOICE', () => {
    expect(chooseBackend([], zonal, inputs(), 7)).toBe(NO_CHOICE);
  });

  it('cross-zone off: the ENI zone\'s eligible targets only (same_zone)', () => {
    expect(spread(T, zonal, inputs())).toEqual({ keys: ['a1', 'a2'], reasons: ['same_zone'] });
  });

  it('cross-zone on: every zone (cross_zone)', () => {
    expect(spread(T, { zone: 'z-a', crossZone: true, zoneAffinity: false }, inputs())).toEqual({ keys: ['a1', 'a2', 'b1', 'c1'], reasons: ['cross_zone'] });
  });

  it('zone affinity keeps flows in the ENI zone even with cross-zone on', () => {
    expect(spread(T, { zone: 'z-b', crossZone: true, zoneAffinity: true }, inputs())).toEqual({ keys: ['b1'], reasons: ['same_zone'] });
  });

  it('an unhealthy target gets nothing; initial and healthy are eligible while none is healthy', () => {
    const inp = inputs({ a1: 'unhealthy' });
    expect(spread(T, zonal, inp)).toEqual({ keys: ['a2'], reasons: ['same_zone'] });
    expect(eligible(T[0]!, inp, anyHealthy(T, inp))).toBe(false);
    expect(eligible(T[1]!, inp, anyHealthy(T, inp))).toBe(true);
  });

  it('a target still initial takes no new flow while another is healthy (it may be dead)', () => {
    const inp = inputs({ a2: 'healthy' });
    expect(anyHealthy(T, inp)).toBe(true);
    expect(eligible(T[0]!, inp, true)).toBe(false);
    expect(spread(T, zonal, inp)).toEqual({ keys: ['a2'], reasons: ['same_zone'] });
    expect(compileChoice(T, zonal, inp)).toEqual({ candidates: [1], reason: 'same_zone' });
    // the ENI zone's only healthy target elsewhere: its initial ones give way, the flows fail over
    expect(spread(T, zonal, inputs({ b1: 'healthy' }))).toEqual({ keys: ['b1'], reasons: ['failover'] });
    // a healthy target in a zone that is down does not count
    expect(spread(T, zonal, inputs({ b1: 'healthy' }, ['z-b']))).toEqual({ keys: ['a1', 'a2'], reasons: ['same_zone'] });
  });

  it('the ENI zone with no eligible target fails over to the other zones', () => {
    expect(spread(T, zonal, inputs({ a1: 'unhealthy', a2: 'unhealthy' }))).toEqual({ keys: ['b1', 'c1'], reasons: ['failover'] });
  });

  it('a down zone\'s targets are not eligible: failover', () => {
    expect(spread(T, zonal, inputs({}, ['z-a']))).toEqual({ keys: ['b1', 'c1'], reasons: ['failover'] });
    expect(spread(T, { zone: 'z-a', crossZone: true, zoneAffinity: false }, inputs({}, ['z-a', 'z-c']))).toEqual({ keys: ['b1'], reasons: ['cross_zone'] });
  });

  it('no eligible target anywhere: fail open over every target', () => {
    const all = inputs({ a1: 'unhealthy', a2: 'unhealthy', b1: 'unhealthy' }, ['z-c']);
    expect(spread(T, zonal, all)).toEqual({ keys: ['a1', 'a2', 'b1', 'c1'], reasons: ['fail_open'] });
  });

  it('a target outside every zone is local to every ENI', () => {
    const t: ChoiceTarget[] = [{ key: 'x', zone: null }, { key: 'b1', zone: 'z-b' }];
    expect(spread(t, zonal, inputs())).toEqual({ keys: ['x'], reasons: ['same_zone'] });
  });

  it('no ENI zone: every target, counted same_zone', () => {
    expect(spread(T, { zone: null, crossZone: false, zoneAffinity: false }, inputs())).toEqual({ keys: ['a1', 'a2', 'b1', 'c1'], reasons: ['same_zone'] });
  });

  it('no health view: every target is eligible', () => {
    expect(spread(T, zonal, { health: null, zoneDown: () => false })).toEqual({ keys: ['a1', 'a2'], reasons: ['same_zone'] });
  });

  it('a flow always lands on the same target while the set does not change', () => {
    const h = flowHash(ip('127.1.0.9'), 40001, ip('127.1.0.5'), 443);
    expect(chooseBackend(T, zonal, inputs(), h)).toBe(chooseBackend(T, zonal, inputs(), h));
    expect(flowHash(ip('127.1.0.9'), 40001, ip('127.1.0.5'), 443)).toBe(h);
    expect(flowHash(ip('127.1.0.9'), 40002, ip('127.1.0.5'), 443)).not.toBe(h);
  });

  it('the flow hash spreads consecutive client ports within 5% of even over three targets', () => {
    const t: ChoiceTarget[] = [{ key: 'a', zone: null }, { key: 'b', zone: null }, { key: 'c', zone: null }];
    const n = [0, 0, 0];
    for (let p = 20000; p < 50000; p++) n[choiceIndex(chooseBackend(t, zonal, inputs(), flowHash(ip('127.0.0.1'), p, ip('127.1.0.5'), 80)))]!++;
    for (const x of n) expect(Math.abs(x - 10000)).toBeLessThan(500);
  });
});

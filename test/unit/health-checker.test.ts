// The health checker's state machine, schedule and bounds, on a fake clock with a fake connect (no sockets).
import { describe, expect, it } from 'vitest';
import { HealthChecker, HEALTH_TICK_MS, type ProbeConnect } from '../../src/dataplane/health-checker.js';
import { NLB_HEALTH_DEFAULTS, targetKey, type HealthSettings, type ProbeTarget } from '../../src/model/health.js';

interface Call { host: string; port: number; done: (f: 'failed' | 'error' | null) => void; cancelled: boolean; answered: boolean }

/** a checker on a fake clock: `advance(ms)` moves time and sweeps every tick, as the timer would */
function rig(opts: { maxInFlight?: number; down?: Set<string> } = {}) {
  let t = 1_000_000;
  const calls: Call[] = [];
  const connect: ProbeConnect = (host, port, done) => {
    const c: Call = { host, port, done, cancelled: false, answered: false };
    calls.push(c);
    return { cancel() { c.cancelled = true; } };
  };
  const changes: Array<[string, string, string | null]> = [];
  const hc = new HealthChecker({
    now: () => t, timer: false, connect, maxInFlight: opts.maxInFlight,
    unreachable: (zone) => opts.down?.has(zone ?? '') ?? false,
  });
  hc.onChange((k, s, r) => changes.push([k, s, r]));
  const advance = (ms: number) => {
    for (let left = ms; left > 0; left -= HEALTH_TICK_MS) {
      t += Math.min(HEALTH_TICK_MS, left);
      hc.sweep();
    }
  };
  /** answers every open probe: null success, else the failure */
  const answer = (f: 'failed' | null) => {
    for (const c of calls.slice()) if (!c.answered && !c.cancelled) { c.answered = true; c.done(f); }
  };
  return { hc, calls, changes, advance, answer, now: () => t };
}

const S: HealthSettings = { interval_s: 10, timeout_s: 5, healthy_threshold: 3, unhealthy_threshold: 2 };
const target = (port: number, settings = S, zone: string | null = 'az-a'): ProbeTarget => ({ key: targetKey('127.0.0.1', port), host: '127.0.0.1', port, zone, settings });

/** runs probe rounds, answering each with `f`, and returns the state after each */
function rounds(r: ReturnType<typeof rig>, key: string, f: 'failed' | null, n: number): string[] {
  const seen: string[] = [];
  for (let i = 0; i < n; i++) {
    const before = r.calls.length;
    while (r.calls.length === before) r.advance(HEALTH_TICK_MS);
    r.answer(f);
    seen.push(r.hc.state(key));
  }
  return seen;
}

describe('HealthChecker state machine', () => {
  it('probes a new key at once and makes it healthy on a first success', () => {
    const r = rig();
    const t = target(9001);
    expect(r.hc.state(t.key)).toBe('initial');
    expect(r.hc.reason(t.key)).toBe('Elb.InitialHealthChecking');
    r.hc.set([t]);
    expect(r.calls).toHaveLength(1);
    expect(r.calls[0]).toMatchObject({ host: '127.0.0.1', port: 9001 });
    r.answer(null);
    expect(r.hc.state(t.key)).toBe('healthy');
    expect(r.hc.reason(t.key)).toBeNull();
    expect(r.changes).toEqual([[t.key, 'healthy', null]]);
  });

  it('keeps a new target initial until unhealthy_threshold failures in a row, then unhealthy', () => {
    const r = rig();
    const t = target(9002, { ...S, unhealthy_threshold: 4 });
    r.hc.set([t]);
    r.answer('failed');
    expect(rounds(r, t.key, 'failed', 3)).toEqual(['initial', 'initial', 'unhealthy']);
    expect(r.hc.reason(t.key)).toBe('Target.FailedHealthChecks');
    expect(r.changes).toEqual([[t.key, 'unhealthy', 'Target.FailedHealthChecks']]);
  });

  it('goes healthy -> unhealthy after exactly unhealthy_threshold failures and back after exactly healthy_threshold successes', () => {
    const r = rig();
    const t = target(9003);
    r.hc.set([t]);
    r.answer(null);
    expect(rounds(r, t.key, 'failed', 1)).toEqual(['healthy']);
    // a success in between starts the count again
    expect(rounds(r, t.key, null, 1)).toEqual(['healthy']);
    expect(rounds(r, t.key, 'failed', 2)).toEqual(['healthy', 'unhealthy']);
    expect(rounds(r, t.key, null, 2)).toEqual(['unhealthy', 'unhealthy']);
    expect(rounds(r, t.key, 'failed', 1)).toEqual(['unhealthy']);
    expect(rounds(r, t.key, null, 3)).toEqual(['unhealthy', 'unhealthy', 'healthy']);
    expect(r.changes.map((c) => c[1])).toEqual(['healthy', 'unhealthy', 'healthy']);
    expect(r.hc.figures().probes).toMatchObject({ success: 7, failed: 4 });
  });

  it('times a probe out after timeout_s on the sweep: Target.Timeout, the socket cancelled, a late answer ignored', () => {
    const r = rig();
    const t = target(9004);
    r.hc.set([t]);
    r.advance(S.timeout_s * 1000 - HEALTH_TICK_MS);
    expect(r.calls[0]!.cancelled).toBe(false);
    r.advance(HEALTH_TICK_MS);
    expect(r.calls[0]!.cancelled).toBe(true);
    r.calls[0]!.done(null); // the late answer of a cancelled probe
    expect(r.hc.state(t.key)).toBe('initial');
    expect(r.hc.figures().probes).toMatchObject({ timeout: 1, success: 0 });
    while (r.calls.length < 2) r.advance(HEALTH_TICK_MS);
    r.advance(S.timeout_s * 1000);
    expect(r.hc.state(t.key)).toBe('unhealthy');
    expect(r.hc.reason(t.key)).toBe('Target.Timeout');
  });

  it('fails the probes of a target in a zone down at once, with no connect', () => {
    const down = new Set<string>(['az-b']);
    const r = rig({ down });
    const a = target(9005, S, 'az-a');
    const b = target(9006, S, 'az-b');
    r.hc.set([a, b]);
    expect(r.calls.map((c) => c.port)).toEqual([9005]);
    r.answer(null);
    r.advance(S.interval_s * 1000 * 2);
    expect(r.calls.every((c) => c.port === 9005)).toBe(true);
    expect(r.hc.state(b.key)).toBe('unhealthy');
    expect(r.hc.reason(b.key)).toBe('Target.FailedHealthChecks');
    expect(r.hc.figures().probes.zone_down).toBeGreaterThanOrEqual(2);
    // the zone comes back: probes connect again
    down.clear();
    r.advance(S.interval_s * 1000);
    expect(r.calls.some((c) => c.port === 9006)).toBe(true);
  });
});

describe('HealthChecker schedule', () => {
  it('spreads the probes of many targets over the interval', () => {
    const n = 1000;
    const r = rig({ maxInFlight: n });
    r.hc.set(Array.from({ length: n }, (_, i) => target(10_000 + i)));
    expect(r.calls).toHaveLength(n); // the first probes at once
    r.answer(null);
    const start = r.now();
    const perSecond = new Map<number, number>();
    for (let s = 0; s < 20; s++) {
      const before = r.calls.length;
      r.advance(1000);
      r.answer(null);
      perSecond.set(s, r.calls.length - before);
    }
    // after the first round, every target once per 10 s, about n/10 a second (the phases by key hash)
    const steady = [...perSecond.entries()].filter(([s]) => s >= 10).map(([, c]) => c);
    expect(steady.reduce((a, b) => a + b, 0)).toBe(n);
    for (const c of steady) expect(c).toBeLessThan(n / 10 * 1.6);
    expect(r.now() - start).toBe(20_000);
  });

  it('never runs more than maxInFlight probes at once; the others wait their turn', () => {
    const r = rig({ maxInFlight: 10 });
    r.hc.set(Array.from({ length: 50 }, (_, i) => target(11_000 + i)));
    expect(r.calls).toHaveLength(10);
    expect(r.hc.figures().inFlight).toBe(10);
    // answering frees slots: the queued ones start at once
    r.answer(null);
    expect(r.calls).toHaveLength(20);
    // timeouts free them too
    r.advance(S.timeout_s * 1000);
    expect(r.calls).toHaveLength(30);
    expect(r.calls.filter((c) => !c.cancelled && !c.answered)).toHaveLength(10);
  });

  it('probes a key named by several targets once, at the shortest interval', () => {
    const r = rig();
    const slow = target(9007, { ...S, interval_s: 30 });
    const fast = target(9007, { ...S, interval_s: 10 });
    r.hc.set([slow, fast]);
    expect(r.calls).toHaveLength(1);
    r.answer(null);
    r.advance(60_000);
    r.answer(null);
    // 60 s at 10 s: 6 probes (one more or less by the phase), not 2 or 12
    expect(r.calls.length).toBeGreaterThanOrEqual(6);
    expect(r.calls.length).toBeLessThanOrEqual(7);
  });

  it('of equal intervals, probes a shared key with the settings that see a failure sooner, in either order (before: the first named)', () => {
    for (const order of ['lax first', 'strict first']) {
      const r = rig();
      const lax = target(9008, { ...S, unhealthy_threshold: 5 });
      const strict = target(9008, { ...S, unhealthy_threshold: 2 });
      r.hc.set(order === 'lax first' ? [lax, strict] : [strict, lax]);
      r.answer(null);
      expect(rounds(r, lax.key, 'failed', 2), order).toEqual(['healthy', 'unhealthy']);
    }
  });

  it('set() keeps the state of kept keys, forgets the others and cancels their probes', () => {
    const r = rig();
    const a = target(9008);
    const b = target(9009);
    r.hc.set([a, b]);
    r.answer(null);
    expect(r.hc.figures().targets).toEqual({ initial: 0, healthy: 2, unhealthy: 0 });
    r.advance(S.interval_s * 1000 * 2); // probes of both in flight at some point; leave the last ones open
    const open = r.calls.filter((c) => !c.answered && c.port === 9009);
    r.hc.set([a, { ...a, key: targetKey('127.0.0.1', 9010), port: 9010 }]);
    expect(r.hc.state(a.key)).toBe('healthy');
    expect(r.hc.state(b.key)).toBe('initial');
    for (const c of open) expect(c.cancelled).toBe(true);
    expect(r.hc.figures().targets).toEqual({ initial: 1, healthy: 1, unhealthy: 0 });
  });

  it('close() stops every probe and the schedule', () => {
    const r = rig();
    r.hc.set([target(9011)]);
    r.hc.close();
    expect(r.calls[0]!.cancelled).toBe(true);
    r.advance(NLB_HEALTH_DEFAULTS.interval_s * 1000 * 3);
    expect(r.calls).toHaveLength(1);
    expect(r.hc.figures().inFlight).toBe(0);
  });

  it('starts each due probe once when connects fail at once (a probe ending inside drain)', () => {
    let t = 0;
    const started: number[] = [];
    const hc = new HealthChecker({
      now: () => t, timer: false, maxInFlight: 2,
      connect: (_host, port) => { started.push(port); throw new Error('EMFILE'); },
    });
    hc.set(Array.from({ length: 5 }, (_, i) => target(12_000 + i)));
    expect(started.sort()).toEqual([12_000, 12_001, 12_002, 12_003, 12_004]);
    expect(hc.figures()).toMatchObject({ inFlight: 0, probes: { error: 5 } });
    t += S.interval_s * 1000 * 1.5;
    hc.sweep();
    expect(started).toHaveLength(10);
  });

  it('refuses a maxInFlight that is not a positive integer', () => {
    expect(() => new HealthChecker({ timer: false, maxInFlight: 0 })).toThrow(/maxInFlight/);
  });
});

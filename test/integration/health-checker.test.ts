// The health checker against real sockets: a listener that answers, one that closes and comes back,
// a blackholed one (a full accept queue drops the SYN) and a zone down on demand.
import { afterEach, describe, expect, it } from 'vitest';
import { HealthChecker } from '../../src/dataplane/health-checker.js';
import { targetKey, type HealthSettings, type ProbeState, type ProbeTarget } from '../../src/model/health.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { parseMetrics, waitFor } from '../helpers.js';
import { fullListener, startBackend, type TestBackend } from './backends.js';

// sub-second settings (the API keeps AWS's ranges; the checker takes what it is given)
const FAST: HealthSettings = { interval_s: 0.3, timeout_s: 0.25, healthy_threshold: 3, unhealthy_threshold: 2 };

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

function checker(unreachable?: (zone: string | null) => boolean, observe?: (result: string, seconds: number) => void) {
  const hc = new HealthChecker({ tickMs: 20, unreachable, observe });
  cleanup.push(() => hc.close());
  const changes: Array<{ key: string; state: ProbeState; reason: string | null; failed: number; success: number; timeout: number }> = [];
  hc.onChange((key, state, reason) => {
    const p = hc.figures().probes;
    changes.push({ key, state, reason, failed: p.failed, success: p.success, timeout: p.timeout });
  });
  return { hc, changes };
}

async function backend(port?: number): Promise<TestBackend> {
  const b = await startBackend((s) => s.destroy(), port === undefined ? {} : { port });
  cleanup.push(() => b.close());
  return b;
}

const targetOf = (b: { host: string; port: number }, zone: string | null = 'az-a', settings = FAST): ProbeTarget =>
  ({ key: targetKey(b.host, b.port), host: b.host, port: b.port, zone, settings });

describe('HealthChecker with real sockets', () => {
  it('marks a real listener healthy on its first probe, unhealthy after exactly the threshold once closed, healthy again after healthy_threshold', async () => {
    const b = await backend();
    const { hc, changes } = checker();
    const t = targetOf(b);
    hc.set([t]);
    await waitFor(() => hc.state(t.key) === 'healthy', 5_000, 'healthy');
    expect(changes[0]).toMatchObject({ state: 'healthy', reason: null, success: 1, failed: 0 });
    expect(b.accepted).toBeGreaterThanOrEqual(1);

    await b.close();
    await waitFor(() => hc.state(t.key) === 'unhealthy', 5_000, 'unhealthy');
    // one target only: the failures counted when it turned are its own, in a row
    expect(changes[1]).toMatchObject({ state: 'unhealthy', reason: 'Target.FailedHealthChecks', failed: FAST.unhealthy_threshold });

    const successBefore = changes[1]!.success;
    const back = await backend(b.port);
    await waitFor(() => hc.state(t.key) === 'healthy', 5_000, 'healthy again');
    expect(changes[2]).toMatchObject({ state: 'healthy', reason: null });
    expect(changes[2]!.success - successBefore).toBe(FAST.healthy_threshold);
    expect(back.accepted).toBeGreaterThanOrEqual(FAST.healthy_threshold);
  });

  it('times out a blackholed target (its accept queue full): Target.Timeout', async () => {
    const hole = await fullListener();
    cleanup.push(() => hole.close());
    const { hc, changes } = checker();
    const t = targetOf({ host: '127.0.0.1', port: hole.port }, 'az-a', { ...FAST, interval_s: 1, timeout_s: 0.3 });
    hc.set([t]);
    await waitFor(() => hc.state(t.key) === 'unhealthy', 8_000, 'unhealthy by timeout');
    expect(hc.reason(t.key)).toBe('Target.Timeout');
    expect(changes).toEqual([expect.objectContaining({ state: 'unhealthy', reason: 'Target.Timeout', timeout: 2, failed: 0 })]);
    expect(hc.figures().inFlight).toBeLessThanOrEqual(1);
  });

  it('fails the targets of a zone down without a connect, and probes them again once it is back', async () => {
    const b = await backend();
    const down = new Set(['az-b']);
    const { hc, changes } = checker((zone) => down.has(zone ?? ''));
    const t = targetOf(b, 'az-b');
    hc.set([t]);
    await waitFor(() => hc.state(t.key) === 'unhealthy', 5_000, 'unhealthy');
    expect(hc.reason(t.key)).toBe('Target.FailedHealthChecks');
    expect(b.accepted).toBe(0);
    expect(hc.figures().probes.zone_down).toBeGreaterThanOrEqual(2);
    down.clear();
    await waitFor(() => hc.state(t.key) === 'healthy', 5_000, 'healthy after the zone is back');
    expect(changes.map((c) => c.state)).toEqual(['unhealthy', 'healthy']);
    expect(changes[1]!.success).toBe(FAST.healthy_threshold);
    expect(b.accepted).toBeGreaterThanOrEqual(FAST.healthy_threshold);
  });

  it('set() keeps the states of kept keys; close() stops probing', async () => {
    const a = await backend();
    const { hc } = checker();
    const ta = targetOf(a);
    hc.set([ta]);
    await waitFor(() => hc.state(ta.key) === 'healthy', 5_000, 'healthy');
    const other = await backend();
    hc.set([ta, targetOf(other)]);
    expect(hc.state(ta.key)).toBe('healthy');
    expect(hc.state(targetKey(other.host, other.port))).toBe('initial');
    await waitFor(() => hc.state(targetKey(other.host, other.port)) === 'healthy', 5_000, 'the new one healthy');
    hc.close();
    const seen = a.accepted + other.accepted;
    await new Promise((r) => setTimeout(r, FAST.interval_s * 1000 * 4));
    expect(a.accepted + other.accepted).toBe(seen);
  });

  it('feeds the metrics: probes by result, their time, targets by state', async () => {
    const metrics = createMetrics({ version: '0.0.0' });
    const { hc } = checker(undefined, (r, s) => metrics.observeHealthProbe(r, s));
    metrics.setHealthSource(() => hc.figures());
    const up = await backend();
    const gone = await backend();
    await gone.close();
    hc.set([targetOf(up), targetOf(gone)]);
    await waitFor(() => hc.figures().targets.unhealthy === 1 && hc.figures().targets.healthy === 1, 5_000, 'one healthy, one unhealthy');
    hc.close();
    const samples = parseMetrics(await metrics.registry.metrics());
    const value = (name: string, labels: Record<string, string>) =>
      samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))?.value;
    const f = hc.figures();
    expect(value('vpcep_health_targets', { state: 'healthy' })).toBe(1);
    expect(value('vpcep_health_targets', { state: 'unhealthy' })).toBe(1);
    expect(value('vpcep_health_targets', { state: 'initial' })).toBe(0);
    expect(f.probes.failed).toBeGreaterThanOrEqual(FAST.unhealthy_threshold);
    expect(value('vpcep_health_probes_total', { result: 'success' })).toBe(f.probes.success);
    expect(value('vpcep_health_probes_total', { result: 'failed' })).toBe(f.probes.failed);
    expect(value('vpcep_health_probe_seconds_count', { result: 'success' })).toBe(f.probes.success);
    expect(value('vpcep_health_probe_seconds_count', { result: 'failed' })).toBe(f.probes.failed);
  });
});


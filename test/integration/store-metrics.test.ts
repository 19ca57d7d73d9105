// The store's metrics (issue 17), pushed at the event: commit latency by outcome, transactions and
// the batches they held (SQLite, one daemon: parallel changes of one service, which never conflict
// there); compare-and-swap conflicts and the mutations run again, other writers' batches applied
// from the watch, and whether the store answers (etcd: two daemons changing one service at once,
// etcd stopped and started again).
import { afterEach, describe, expect, it } from 'vitest';
import {
  SERVICE_BODY, createAvailableService, scrapeMetrics, startTestDaemon, twoAccountConfig, waitFor, type MetricSample, type TestDaemon,
} from '../helpers.js';
import { describeWithEtcd } from './etcd.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function daemon(config = twoAccountConfig()): Promise<TestDaemon> {
  const d = await startTestDaemon(config);
  cleanups.push(() => d.stop());
  return d;
}

/** the store's figures of one scrape (the daemon-wide series are rendered at most once a second: waitFor polls) */
async function figures(d: TestDaemon) {
  const s = await scrapeMetrics(d.url);
  const one = (name: string, labels: Record<string, string> = {}) => s.find((x: MetricSample) => x.name === name
    && Object.entries(labels).every(([k, v]) => x.labels[k] === v))?.value ?? NaN;
  return {
    written: one('vpcep_store_commit_seconds_count', { outcome: 'written' }),
    conflict: one('vpcep_store_commit_seconds_count', { outcome: 'conflict' }),
    transactions: one('vpcep_store_transactions_total'),
    batches: one('vpcep_store_batches_total'),
    conflicts: one('vpcep_store_conflicts_total'),
    retries: one('vpcep_store_conflict_retries_total'),
    watched: one('vpcep_store_watch_batches_total'),
    relists: one('vpcep_store_relists_total'),
    reachable: one('vpcep_store_reachable'),
  };
}

describe('store metrics on SQLite', () => {
  it('count commits, transactions and batches; parallel changes of one service land one after another, without a conflict', async () => {
    // power: each transaction waits for its fsync, so the parallel changes arrive while the batch
    // before is still on its way (with process a commit may land between two of the requests)
    const d = await daemon(twoAccountConfig({ store_durability: 'power' }));
    const before = await figures(d);
    // the start-up commit
    expect(before).toMatchObject({ reachable: 1, watched: 0, relists: 0 });
    expect(before.written).toBeGreaterThanOrEqual(1);
    expect(before.transactions).toBeGreaterThanOrEqual(1);
    const svc = await createAvailableService(d, { ...SERVICE_BODY, approval_enabled: false });
    // a change prepares once the batch before it has landed (only creates of endpoints overlap):
    // none is prepared against what is still on its way to disk, none loses its compare-and-swap
    const changes = await Promise.all(Array.from({ length: 6 }, (_, i) => d.provider.put(`/vpc-endpoint-services/${svc.id}`, { description: `change ${i}` })));
    expect(changes.map((c) => c.status)).toEqual(Array(6).fill(200));
    expect((await d.provider.get(`/vpc-endpoint-services/${svc.id}`)).body.description).toBe('change 5');
    const after = await waitFor(async () => {
      const f = await figures(d);
      return f.written >= before.written + 7 ? f : null;
    }, 5_000, 'the scrape to show the changes');
    expect(after.transactions).toBeGreaterThan(before.transactions);
    // a group commit holds one batch or more
    expect(after.batches).toBeGreaterThanOrEqual(after.transactions);
    expect(after).toMatchObject({ conflicts: 0, retries: 0, reachable: 1, watched: 0, relists: 0 });
    // no commit ended in a conflict: the outcome's series is not there (or 0)
    expect(after.conflict || 0).toBe(0);
  });
});

describeWithEtcd('store metrics on etcd', (etcd) => {
  it('count the batches applied from another daemon; reachable is 0 while etcd is gone and 1 once it answers again', async () => {
    const config = twoAccountConfig({ store: `${etcd.url}/metrics` });
    const a = await daemon(config);
    const b = await daemon(config);
    const start = await figures(b);
    expect(start.reachable).toBe(1);
    await createAvailableService(a, { ...SERVICE_BODY, approval_enabled: false });
    const seen = await waitFor(async () => {
      const f = await figures(b);
      return f.watched > start.watched ? f : null;
    }, 10_000, 'B to apply A\'s batches');
    expect(seen.relists).toBe(0);

    // changes of one service through both daemons at once: prepared against a version the other
    // daemon's batch has moved, one loses its compare-and-swap, is counted and runs again
    const shared = (await b.provider.get('/vpc-endpoint-services')).body.endpoint_services[0];
    const lost = await waitFor(async () => {
      const puts = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).provider.put(`/vpc-endpoint-services/${shared.id}`, { description: `change ${i}` })));
      expect(puts.map((r) => r.status)).toEqual(Array(8).fill(200));
      const [fa, fb] = [await figures(a), await figures(b)];
      return fa.conflicts + fb.conflicts > 0 ? { fa, fb } : null;
    }, 20_000, 'a conflict between the two daemons');
    for (const f of [lost.fa, lost.fb]) {
      expect(f.conflict || 0).toBe(f.conflicts);
      expect(f.retries).toBeLessThanOrEqual(f.conflicts);
    }
    expect(lost.fa.retries + lost.fb.retries).toBeGreaterThan(0);

    await etcd.stop();
    cleanups.push(() => etcd.start());
    expect((await b.provider.put('/vpc-endpoint-services/none', { description: 'x' })).status).toBe(404);
    const svc = (await b.provider.get('/vpc-endpoint-services')).body.endpoint_services[0];
    expect((await b.provider.put(`/vpc-endpoint-services/${svc.id}`, { description: 'etcd is gone' })).status).toBe(503);
    await waitFor(async () => (await figures(b)).reachable === 0, 5_000, 'reachable 0');

    await etcd.start();
    await waitFor(async () => (await b.provider.put(`/vpc-endpoint-services/${svc.id}`, { description: 'etcd is back' })).status === 200, 30_000, 'a write to work again');
    await waitFor(async () => (await figures(b)).reachable === 1, 5_000, 'reachable 1');
  }, 60_000);
});

// The store metrics' events without sockets (StoreObserver, issue 17): a real SQLite store reports
// each commit by outcome and each transaction with its batches; a control plane following the store
// reports other writers' batches it applied, and lists again (a relist) when its revision is
// compacted out of the store's change log.
import { describe, expect, it } from 'vitest';
import { ControlPlane } from '../../src/control/control-plane.js';
import { applyInventory } from '../../src/control/inventory.js';
import { validateConfig } from '../../src/model/config.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { StoreObserver } from '../../src/store/store.js';
import { recordingDataPlane, tempDir, twoAccountConfig, waitFor } from '../helpers.js';

function recorder() {
  const seen = { written: 0, conflict: 0, transactions: 0, batches: 0, reachable: [] as boolean[], retried: 0, watched: 0, relisted: 0 };
  const o: StoreObserver = {
    committed: (seconds, outcome) => {
      expect(seconds).toBeGreaterThanOrEqual(0);
      seen[outcome]++;
    },
    transaction: (n) => { seen.transactions++; seen.batches += n; },
    reachable: (up) => { seen.reachable.push(up); },
    retried: () => { seen.retried++; },
    watched: () => { seen.watched++; },
    relisted: () => { seen.relisted++; },
  };
  return { seen, o };
}

describe('the store observer', () => {
  it('hears each commit by outcome and each transaction with its batches (SQLite)', async () => {
    const store = SqliteStore.open(tempDir('vpcep-obs-'));
    const { seen, o } = recorder();
    store.observe(o);
    expect(seen.reachable).toEqual([true]);
    // three batches handed over at once: one transaction or more, every batch in one
    const revisions = await Promise.all([1, 2, 3].map((i) => store.commit([{ kind: 'meta', id: `k${i}`, value: i }], [{ kind: 'meta', id: `k${i}`, version: 0 }])));
    await expect(store.commit([{ kind: 'meta', id: 'k1', value: 9 }], [{ kind: 'meta', id: 'k1', version: 0 }])).rejects.toThrow(/changed under the commit/);
    expect(seen).toMatchObject({ written: 3, conflict: 1, batches: 4 });
    expect(seen.transactions).toBeGreaterThanOrEqual(2);
    expect(seen.transactions).toBeLessThanOrEqual(4);
    expect(new Set(revisions).size).toBe(3);
    await store.close();
  });

  it('a follower counts the batches of another writer it applies, and a relist when its revision is compacted', async () => {
    const store = SqliteStore.open(tempDir('vpcep-obs-'), { watchWindow: 2 });
    const c = validateConfig(twoAccountConfig(), 'c.yaml');
    const inv = applyInventory(c, (await store.load()).documents, { defaultToken: 'default-token-0123', source: 'c.yaml', now: '2026-01-01T00:00:00.000Z' });
    await store.commit(inv.changes);
    const loaded = await store.load();
    // other writers' batches past the change log's window of 2 revisions (documents of their kind's
    // shape: the relist checks them as a start does)
    for (let i = 0; i < 4; i++) await store.commit([{ kind: 'meta', id: `other${i}`, value: { n: i } }]);
    const { seen, o } = recorder();
    const control = new ControlPlane({
      region: 'sim-1', zones: c.zones, store, dataPlane: recordingDataPlane(), inventory: inv, services: inv.publicServices, endpoints: [],
      log: { info: () => undefined, warn: () => undefined, error: () => undefined },
      stored: { versions: loaded.versions, claims: loaded.documents.get('claim')!, revision: loaded.revision },
      storeObserver: o,
    });
    const follower = control.followStore(store);
    await waitFor(() => seen.relisted === 1, 5_000, 'a relist from a compacted revision');
    // another writer's batch after the relist: applied from the watch
    await store.commit([{ kind: 'routetable', id: 'rtb-other', value: { id: 'rtb-other', routes: [] } }]);
    await waitFor(() => seen.watched >= 1, 5_000, 'the batch applied');
    expect(seen.relisted).toBe(1);
    await follower.stop();
    await store.close();
  });
});

// The store's metrics (issue 17), pushed at the event by the store and the control plane on it
// (StoreObserver, src/store/store.ts): commit latency, transactions and the batches they held
// (SQLite's group commit), compare-and-swap conflicts and the mutations run again, other writers'
// batches applied from the watch, relists, and whether the store answers.
import client from 'prom-client';
import type { StoreObserver } from '../store/store.js';
import { declared } from './metric-table.js';

export function storeMetrics(registry: client.Registry): StoreObserver {
  const commitSeconds = new client.Histogram<'outcome'>({
    ...declared('vpcep_store_commit_seconds'),
    // an fsync on a local disk takes about a millisecond, an etcd transaction a few; a stalled disk or etcd seconds
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [registry],
  });
  const counter = (name: Parameters<typeof declared>[0]) => new client.Counter({ ...declared(name), registers: [registry] });
  const transactions = counter('vpcep_store_transactions_total');
  const batches = counter('vpcep_store_batches_total');
  const conflicts = counter('vpcep_store_conflicts_total');
  const retries = counter('vpcep_store_conflict_retries_total');
  const watched = counter('vpcep_store_watch_batches_total');
  const relists = counter('vpcep_store_relists_total');
  const reachable = new client.Gauge({ ...declared('vpcep_store_reachable'), registers: [registry] });
  for (const c of [transactions, batches, conflicts, retries, watched, relists]) c.inc(0);
  return {
    committed(seconds, outcome) {
      commitSeconds.observe({ outcome }, seconds);
      if (outcome === 'conflict') conflicts.inc();
    },
    transaction(n) {
      transactions.inc();
      batches.inc(n);
    },
    reachable(up) {
      reachable.set(up ? 1 : 0);
    },
    retried: () => retries.inc(),
    watched: () => watched.inc(),
    relisted: () => relists.inc(),
  };
}

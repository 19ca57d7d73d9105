// A store's snapshot without a store, for tests of what the inventory writes and reads back.
import type { Change, Kind, Documents } from '../../src/store/store.js';

/** the snapshot a store would hold after these changes */
export function snapshotOf(changes: readonly Change[], before?: Documents): Documents {
  const out = new Map<Kind, Map<string, unknown>>();
  for (const k of ['meta', 'account', 'vpc', 'service', 'endpoint'] as Kind[]) out.set(k, new Map(before?.get(k) ?? []));
  for (const c of changes) {
    if (!out.has(c.kind)) out.set(c.kind, new Map());
    if (c.value === null) out.get(c.kind)!.delete(c.id);
    else out.get(c.kind)!.set(c.id, JSON.parse(JSON.stringify(c.value)));
  }
  return out;
}

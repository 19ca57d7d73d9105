// A lost compare-and-swap on etcd while this node's copy is behind (README "The store: SQLite or
// etcd"): for a few seconds after etcd restarts, a node's writes go through before its watch has
// resumed, and its retries ran at once against the same stale copy, eight of them, then answered
// StoreConflict (409 EndPoint.0031). Two control planes on one real etcd, each with its own memory
// and no watch wired: the test hands B the batch its watch would deliver, 300 ms late.
import { expect, it } from 'vitest';
import type { Endpoint } from '../../src/model/types.js';
import { EtcdStore } from '../../src/store/etcd.js';
import { keyOf } from '../../src/store/store.js';
import { storedControl } from '../unit/stored-control.js';
import { describeWithEtcd } from './etcd.js';

describeWithEtcd('a retry after a lost compare-and-swap', (etcd) => {
  it('waits for the document that changed to reach this node\'s copy, then succeeds, keeping both changes', async () => {
    const open = () => EtcdStore.open({ endpoints: [etcd.endpoint], prefix: 'catch-up', connectTimeoutMs: 20_000 });
    const [sa, sb] = [await open(), await open()];
    try {
      const a = await storedControl(sa, 5);
      const made = await a.control.createEndpoint(a.consumer, { serviceId: a.pub.id, vpcId: 'vpc-client', subnetId: 'subnet-a' }, { requirePrincipal: false });
      await a.control.settle();
      // B loads the endpoint as it is now; then A changes it, and B's watch is behind
      const b = await storedControl(sb, 5);
      await a.control.updateEndpoint(a.consumer, made.id, { whitelistEnabled: true });
      const stored = await sa.load();
      const key = keyOf('endpoint', made.id);
      const late = setTimeout(() => {
        b.st.applyWatched({ revision: stored.versions.get(key)!, changes: [{ kind: 'endpoint', id: made.id, value: stored.documents.get('endpoint')!.get(made.id) as Endpoint }] });
      }, 300);
      try {
        const after = await b.control.updateEndpoint(b.consumer, made.id, { whitelist: ['10.0.0.0/8'] });
        // the code before: StoreConflict after eight retries within milliseconds
        expect(after.whitelist).toEqual(['10.0.0.0/8']);
        expect(after.enable_whitelist).toBe(true);
      } finally {
        clearTimeout(late);
      }
      const final = (await sa.load()).documents.get('endpoint')!.get(made.id) as Endpoint;
      expect(final).toMatchObject({ enable_whitelist: true, whitelist: ['10.0.0.0/8'] });
    } finally {
      await sa.close();
      await sb.close();
    }
  });
});

// The fleet's election on a real etcd (src/store/etcd-fleet.ts, issue 17): etcd3's campaign learns
// that it leads from a watch on the key before its own, and a watch may miss that delete across a
// reconnect (microsoft/etcd3 issues 31, 78, 114). A node must lead all the same once etcd's
// election names its campaign: its poll reads the election's head key. Here the second node's
// campaign never reports `elected` (its listener is taken away, as a missed event would leave it):
// once the first node leaves, the second leads within a few polls.
import { Etcd3 } from 'etcd3';
import { afterAll, expect, it } from 'vitest';
import { EtcdFleet } from '../../src/store/etcd-fleet.js';
import type { NodeRecord } from '../../src/store/fleet.js';
import { waitFor } from '../helpers.js';
import { describeWithEtcd } from './etcd.js';

const quiet = { info: () => undefined, warn: () => undefined };

function record(id: string): NodeRecord {
  const at = new Date().toISOString();
  return { id, name: id, api: '127.0.0.1:1', started_at: at, registered_at: at, connections: 0 };
}

describeWithEtcd('the fleet election on etcd', (etcd) => {
  const clients: Etcd3[] = [];
  afterAll(() => {
    for (const c of clients) c.close();
  });
  const fleetOn = (prefix: string): EtcdFleet => {
    const client = new Etcd3({ hosts: `http://${etcd.endpoint}` });
    clients.push(client);
    return new EtcdFleet(client.namespace(`${prefix}.fleet/`), 1, quiet);
  };

  it('a node whose campaign never reported `elected` leads once etcd names it: the first leaves, the second leads', async () => {
    const [a, b] = [fleetOn('missed'), fleetOn('missed')];
    await a.start(record('node-a'));
    await waitFor(() => a.isLeader(), 10_000, 'node-a to lead');
    await b.start(record('node-b'));
    // the event a missed watch never delivers: node-b hears of its election only from its poll
    (b as unknown as { campaignNow: { removeAllListeners(e: string): void } }).campaignNow.removeAllListeners('elected');
    await waitFor(() => b.nodes().length === 2, 5_000, 'node-b to see both nodes');
    expect(b.isLeader()).toBe(false);
    expect(b.leader()).toBe('node-a');

    await a.close();
    await waitFor(() => b.isLeader(), 5_000, 'node-b to lead after node-a resigned');
    expect(b.leader()).toBe('node-b');
    expect(b.nodes().map((n) => n.id)).toEqual(['node-b']);
    await b.close();
  }, 30_000);

  it('etcd away longer than the lease: one retry at a time, not a storm of leases; registered again once it answers', async () => {
    const warnings: string[] = [];
    const client = new Etcd3({ hosts: `http://${etcd.endpoint}` });
    clients.push(client);
    const f = new EtcdFleet(client.namespace('storm.fleet/'), 1, { info: () => undefined, warn: (_o, msg) => { warnings.push(msg); } });
    await f.start(record('node-s'));
    await waitFor(() => f.nodes().length === 1, 5_000, 'node-s registered');
    await etcd.stop();
    // 5 s away with a lease of 1 s: each failed lease both reports its loss and fails its put
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    const registering = warnings.filter((m) => /lease is lost|cannot register/.test(m)).length;
    // a retry every 250-500 ms: about 10-20 in 5 s (they doubled each round before: thousands)
    expect(registering).toBeGreaterThan(0);
    expect(registering).toBeLessThan(60);
    await etcd.start();
    // the client's circuit breaker refuses calls for a while after etcd came back: not yet
    const registered = async () => {
      try {
        return (await client.namespace('storm.fleet/').get('nodes/node-s').string()) !== null;
      } catch {
        return false;
      }
    };
    await waitFor(registered, 30_000, 'node-s registered again');
    const settled = warnings.length;
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(warnings.length - settled).toBeLessThan(5);
    await f.close();
  }, 60_000);
});

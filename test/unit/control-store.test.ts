// The control plane over a real Store (SQLite in a temporary dir, no sockets): allocations are
// claims written in the endpoint's own commit; mutations in flight together share transactions
// (group commit) without sharing an address; two control planes on one store (two writers, each
// with its own memory, as two daemons on one etcd) never both win an address or a quota slot: the
// loser learns the claim and prepares again; a mutation refused on what it read while earlier
// batches were landing reads again once they landed; what the data plane receives is plain data.
import { describe, expect, it } from 'vitest';
import { ControlPlane } from '../../src/control/control-plane.js';
import { applyInventory } from '../../src/control/inventory.js';
import { validateConfig } from '../../src/model/config.js';
import type { ChangeEvent } from '../../src/model/events.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { CONSUMER, PROVIDER, stubDataPlane, tempDir, twoAccountConfig } from '../helpers.js';

async function node(store: SqliteStore, endpointQuota: number) {
  const c = validateConfig(twoAccountConfig({
    accounts: [PROVIDER, { ...CONSUMER, quotas: { endpoint_service: 10, endpoint: endpointQuota } }],
    public_services: [{ name: 'pub', service_type: 'interface', ports: [{ port: 9999, target: '127.0.0.1:9' }] }],
  }), 'c.yaml');
  const first = await store.load();
  const inv = applyInventory(c, first.documents, { defaultToken: 'default-token-0123', source: 'c.yaml', now: '2026-01-01T00:00:00.000Z' });
  await store.commit(inv.changes);
  const loaded = await store.load();
  const events: ChangeEvent[] = [];
  const dataPlane = stubDataPlane((e) => events.push(e));
  const control = new ControlPlane({
    region: 'sim-1', zones: c.zones, store, dataPlane, inventory: inv, services: inv.publicServices, endpoints: [],
    log: { info: () => undefined, warn: () => undefined },
    stored: { versions: loaded.versions, claims: loaded.documents.get('claim')!, revision: loaded.revision },
  });
  return { control, events, consumer: control.accountByName('consumer')!, pub: control.publicServices()[0]! };
}

const create = (n: Awaited<ReturnType<typeof node>>) =>
  n.control.createEndpoint(n.consumer, { serviceId: n.pub.id, vpcId: 'vpc-client', subnetId: 'subnet-a' }, { requirePrincipal: false });

describe('the control plane over a store with claims', () => {
  it('8 creates in flight share transactions, each with its own address, SNAT address, marker and quota slot, all claimed', async () => {
    const store = SqliteStore.open(tempDir('vpcep-cs-'));
    const n = await node(store, 20);
    const before = store.commitGroups;
    store.stallCommitsForTest(100);
    const made = await Promise.all(Array.from({ length: 8 }, () => create(n)));
    await n.control.settle();
    const after = store.commitGroups;
    // 8 creates (and 8 activations) in fewer transactions than batches
    expect(after.batches - before.batches).toBeGreaterThanOrEqual(16);
    expect(after.groups - before.groups).toBeLessThan(after.batches - before.batches);
    expect(new Set(made.map((e) => e.ip)).size).toBe(8);
    expect(new Set(made.map((e) => e.snat_ip)).size).toBe(8);
    expect(new Set(made.map((e) => e.marker_id)).size).toBe(8);
    const claims = (await store.load()).documents.get('claim')!;
    for (const e of made) {
      expect(claims.get(`ip/vpc-client/${e.ip}`)).toEqual({ holder: `endpoint/${e.id}` });
      expect(claims.get(`snat/${e.snat_ip}`)).toEqual({ holder: `endpoint/${e.id}` });
      expect(claims.get(`marker/${e.marker_id}`)).toEqual({ holder: `endpoint/${e.id}` });
    }
    expect([...claims.keys()].filter((k) => k.startsWith('endpoint-quota/consumer/')).sort()).toEqual(Array.from({ length: 8 }, (_, i) => `endpoint-quota/consumer/${i}`).sort());
    // deleted, an endpoint lets its claims go
    await n.control.deleteEndpoint(n.consumer, made[0]!.id);
    await n.control.settle();
    const left = (await store.load()).documents.get('claim')!;
    expect([...left.values()].filter((v) => (v as { holder: string }).holder === `endpoint/${made[0]!.id}`)).toEqual([]);
    expect(left.size).toBe(claims.size - 4);
    // what the data plane received is plain data: the same after a JSON round trip
    const live = n.events.filter((e): e is Extract<ChangeEvent, { kind: 'endpoint' }> => e.kind === 'endpoint' && e.live !== null);
    expect(live.length).toBeGreaterThanOrEqual(8);
    for (const e of live) expect(JSON.parse(JSON.stringify(e))).toEqual(e);
    await store.close();
  });

  it('two writers with their own memory on one store: the second learns the first\'s claims and takes other values, and the quota holds', async () => {
    const store = SqliteStore.open(tempDir('vpcep-cs-'));
    const a = await node(store, 2);
    const b = await node(store, 2);
    const ea = await create(a);
    // B does not know A's endpoint: it picks the same first address and quota slot, loses, learns, and takes the next
    const eb = await create(b);
    expect(eb.ip).not.toBe(ea.ip);
    expect(eb.snat_ip).not.toBe(ea.snat_ip);
    // the account's quota of 2 is taken (one by each writer): a third create through either is refused
    await expect(create(a)).rejects.toMatchObject({ name: 'QuotaExceeded' });
    await expect(create(b)).rejects.toMatchObject({ name: 'QuotaExceeded' });
    const endpoints = (await store.load()).documents.get('endpoint')!;
    expect([...endpoints.keys()].sort()).toEqual([ea.id, eb.id].sort());
    await a.control.settle();
    await b.control.settle();
    await store.close();
  });
  it('an endpoint created while its service\'s `available` is still landing waits for it instead of finding the service creating', async () => {
    const store = SqliteStore.open(tempDir('vpcep-cs-'));
    const n = await node(store, 20);
    const provider = n.control.accountByName('provider')!;
    const svc = await n.control.createService(provider, {
      vpcId: 'vpc-app', portId: 'port-web', serverType: 'VM', ports: [{ clientPort: 80, serverPort: 8080 }], approvalRequired: false,
    });
    expect(svc.status).toBe('creating');
    store.stallCommitsForTest(150);
    // the service's activation has handed its `available` to the store, which holds it 150 ms
    await new Promise((r) => setTimeout(r, 20));
    const e = await n.control.createEndpoint(provider, { serviceId: svc.id, vpcId: 'vpc-provider-client', subnetId: 'subnet-pc' }, { requirePrincipal: false });
    expect(e.service_id).toBe(svc.id);
    await n.control.settle();
    expect([...n.control.allServices()].find((s) => s.id === svc.id)?.status).toBe('available');
  });
});

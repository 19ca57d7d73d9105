// The control plane over a real Store (SQLite in a temporary dir, no sockets): allocations are
// claims written in the endpoint's own commit; mutations in flight together share transactions
// (group commit) without sharing an address; two control planes on one store (two writers, each
// with its own memory, as two daemons on one etcd) never both win an address or a quota slot: the
// loser learns the claim and prepares again; a mutation refused on what it read while earlier
// batches were landing reads again once they landed; what the data plane receives is plain data.
import { describe, expect, it } from 'vitest';
import type { ChangeEvent } from '../../src/model/events.js';
import { placementLoop } from '../../src/control/placement.js';
import type { Fleet, NodeRecord } from '../../src/store/fleet.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { tempDir } from '../helpers.js';
import { storedControl } from './stored-control.js';

const node = storedControl;

/** the writers' work landed, then the store closed */
async function closeAll(store: SqliteStore, nodes: ReadonlyArray<Awaited<ReturnType<typeof node>>>): Promise<void> {
  for (const n of nodes) await n.control.settle();
  await store.close();
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
  it('two writers with their own memory: a second endpoint with private DNS for one name in one VPC is refused, as one writer refuses it (the name is a claim; both were made through two fleet nodes at once); one without is made', async () => {
    const store = SqliteStore.open(tempDir('vpcep-cs-'));
    const [a, b] = [await node(store, 10), await node(store, 10)];
    const withDns = (n: Awaited<ReturnType<typeof node>>) =>
      n.control.createEndpoint(n.consumer, { serviceId: n.pub.id, vpcId: 'vpc-client', subnetId: 'subnet-a', dns: true }, { requirePrincipal: false });
    const first = await withDns(a);
    await expect(withDns(b)).rejects.toMatchObject({ name: 'InvalidParameter', message: expect.stringMatching(/conflicting DNS domain/) });
    expect((await create(b)).enable_dns).toBe(false);
    const endpoints = [...(await store.load()).documents.get('endpoint')!.values()] as Array<{ id: string; enable_dns: boolean }>;
    expect(endpoints.filter((e) => e.enable_dns).map((e) => e.id)).toEqual([first.id]);
    await closeAll(store, [a, b]);
  });

  it('two writers with their own memory: a target group given to two load balancers at once serves the first only (TargetGroupAssociationLimit; the group is a claim)', async () => {
    const store = SqliteStore.open(tempDir('vpcep-cs-'));
    const maker = await node(store, 10);
    const provider = maker.control.accountByName('provider')!;
    const lb = (name: string) => maker.control.createLoadBalancer(provider, { name, type: 'network', scheme: 'internal', subnets: ['subnet-app'], dnsSuffix: 'elb.sim-1.amazonaws.com' });
    const [lb1, lb2] = [await lb('lb-one'), await lb('lb-two')];
    const tg = await maker.control.createTargetGroup(provider, { name: 'tg-shared', protocol: 'TCP', port: 8080, vpcId: 'vpc-app', targetType: 'ip' });
    await maker.control.settle();
    // two writers that both know the load balancers and the group, neither the other's listener
    const [a, b] = [await node(store, 10), await node(store, 10)];
    const listener = (n: Awaited<ReturnType<typeof node>>, id: string) =>
      n.control.createListener(n.control.accountByName('provider')!, { loadBalancerId: id, protocol: 'TCP', port: 80, targetGroupId: tg.id });
    await listener(a, lb1.id);
    await expect(listener(b, lb2.id)).rejects.toMatchObject({ name: 'TargetGroupAssociationLimit' });
    const lbs = [...(await store.load()).documents.get('loadbalancer')!.values()] as Array<{ name: string; listeners: unknown[] }>;
    expect(lbs.map((x) => [x.name, x.listeners.length]).sort()).toEqual([['lb-one', 1], ['lb-two', 0]]);
    await closeAll(store, [maker, a, b]);
  });

  it('two writers creating at once: with the lowest free values they collide on every create; as fleet nodes (a node id) they pick different values and rarely lose', async () => {
    /** two control planes with their own memory on one store, 12 creates in flight through each at once: the conflicts they met and what they made */
    const race = async (nodeIds: [string, string] | undefined) => {
      const store = SqliteStore.open(tempDir('vpcep-cs-'));
      const a = await node(store, 1000, nodeIds?.[0]);
      const b = await node(store, 1000, nodeIds?.[1]);
      const made = (await Promise.all([a, b].map((n) => Promise.all(Array.from({ length: 12 }, () => create(n)))))).flat();
      await a.control.settle();
      await b.control.settle();
      const conflicts = a.st.conflicts + b.st.conflicts;
      const slots = [...(await store.load()).documents.get('claim')!.keys()].filter((k) => k.startsWith('endpoint-quota/consumer/'));
      await store.close();
      return { conflicts, made, slots };
    };
    const lowest = await race(undefined);
    const fleet = await race(['node-a', 'node-b']);
    for (const r of [lowest, fleet]) {
      // exact either way: 24 endpoints, each its own address, SNAT address and quota slot
      expect(r.made.length).toBe(24);
      expect(new Set(r.made.map((e) => e.ip)).size).toBe(24);
      expect(new Set(r.made.map((e) => e.snat_ip)).size).toBe(24);
      expect(new Set(r.slots).size).toBe(24);
    }
    // the lowest free values: the two writers pick the same ones and every create of the later one loses at least once
    expect(lowest.conflicts).toBeGreaterThanOrEqual(12);
    // spread over a /24, the SNAT /17 and 1,000 quota slots, the fleet's picks rarely meet (under one pair expected; 0-4 in 15 runs at a quota of 200)
    expect(fleet.conflicts).toBeLessThanOrEqual(6);
    // not the lowest values: a fleet node's addresses are scattered over the subnet
    expect(fleet.made.map((e) => e.ip).some((ip) => Number(ip!.split('.')[3]) > 26)).toBe(true);
  });

  it('the leader\'s placement leaves an endpoint still creating on a live node where it is (its node binds it); one on a node that is gone moves', async () => {
    const store = SqliteStore.open(tempDir('vpcep-cs-'));
    const n = await node(store, 20, 'node-a');
    const made = await Promise.all(Array.from({ length: 4 }, () => create(n)));
    await n.control.settle();
    expect(made.every((e) => e.node === 'node-a')).toBe(true);
    // node-b joins: 4 ENIs against 0, two should move; one of them is still coming up on node-a
    const record = (id: string): NodeRecord => ({ id, name: id, api: '127.0.0.1:1', started_at: '', registered_at: '', connections: 0 });
    const fleet: Fleet = {
      nodes: () => [record('node-a'), record('node-b')], leader: () => 'node-a', isLeader: () => true, leaseTtlS: 5,
      onChange: () => undefined, start: async () => undefined, publish: () => undefined, close: async () => undefined,
    };
    const all = made.map((e) => e.id);
    for (const id of all) n.st.endpoints.set(id, { ...n.st.endpoints.get(id)!, status: id === all[0] ? 'creating' : 'accepted' });
    const loop = placementLoop(n.st, fleet, 60_000, () => undefined);
    expect(await loop.round()).toBe(2);
    const onB = () => all.filter((id) => n.st.endpoints.get(id)!.node === 'node-b');
    expect(onB()).toHaveLength(2);
    expect(onB()).not.toContain(all[0]);
    // still creating but on a node that is gone (node-c: no lease): it moves all the same
    n.st.endpoints.set(all[0]!, { ...n.st.endpoints.get(all[0]!)!, node: 'node-c' });
    expect(await loop.round()).toBeGreaterThanOrEqual(1);
    expect(['node-a', 'node-b']).toContain(n.st.endpoints.get(all[0]!)!.node);
    await loop.stop();
    await n.control.settle();
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

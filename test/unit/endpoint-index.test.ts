// The indexes a create reads instead of walking every endpoint and claim (src/control/endpoint-index.ts,
// ClaimMap in claims.ts): after creates (one at a time and in flight together), deletes,
// rejections (quota, an address in use) and a restart on the same store, each index says what a
// walk of the endpoints and claims says, and each new address is the lowest free one a walk finds.
import { describe, expect, it } from 'vitest';
import { ClaimMap } from '../../src/control/claims.js';
import { EndpointMap, LowestFree, SPREAD_PROBES } from '../../src/control/endpoint-index.js';
import { DomainError } from '../../src/model/errors.js';
import type { Endpoint } from '../../src/model/types.js';
import { cidrOf, intToIp, ipToInt } from '../../src/net/cidr.js';
import { allocateSnatIp } from '../../src/net/snat-pool.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { tempDir } from '../helpers.js';
import { storedControl } from './stored-control.js';

const QUOTA = 12;

const node = (store: SqliteStore) => storedControl(store, QUOTA);

type Node = Awaited<ReturnType<typeof node>>;

const create = (n: Node, ip?: string) =>
  n.control.createEndpoint(n.consumer, { serviceId: n.pub.id, vpcId: 'vpc-client', subnetId: 'subnet-a', ...(ip ? { ip } : {}) }, { requirePrincipal: false });

/** every index against a walk of the endpoints and the claims */
function agrees(n: Node): void {
  const all = [...n.st.endpoints.values()];
  const owners = new Set(all.map((e) => e.owner));
  for (const o of [...owners, 'nobody']) expect([...n.st.endpoints.idsOf(o)]).toEqual(all.filter((e) => e.owner === o).map((e) => e.id));
  for (const s of new Set([...all.map((e) => e.service_id), 'no-service'])) {
    expect([...n.st.endpoints.idsOfService(s)]).toEqual(all.filter((e) => e.service_id === s).map((e) => e.id));
  }
  expect(n.control.usage(n.consumer).endpoint).toBe(all.filter((e) => e.owner === 'consumer').length);
  // every value held is found, and values next to them that no one holds are not
  for (const e of all) {
    expect(n.st.endpoints.hasMarker(e.marker_id)).toBe(true);
    if (e.snat_ip) expect(n.st.endpoints.hasSnatIp(e.snat_ip)).toBe(true);
    for (const x of e.enis) expect(n.st.endpoints.hasIp(e.vpc_id, x.ip)).toBe(true);
  }
  const ips = new Set(all.flatMap((e) => e.enis.map((x) => `${e.vpc_id} ${x.ip}`)));
  const snat = new Set(all.map((e) => e.snat_ip).filter((x) => x !== null));
  for (let i = 0; i < 40; i++) {
    const ip = intToIp(ipToInt('10.0.1.0') + i);
    expect(n.st.endpoints.hasIp('vpc-client', ip)).toBe(ips.has(`vpc-client ${ip}`));
    const s = intToIp(ipToInt('198.19.128.0') + i);
    expect(n.st.endpoints.hasSnatIp(s)).toBe(snat.has(s));
  }
  const markers = new Set(all.map((e) => e.marker_id));
  for (const m of [1, 2, 3, 2 ** 31 - 2]) expect(n.st.endpoints.hasMarker(m)).toBe(markers.has(m));
  // the claims: by holder, and the quota slots of each account
  const held = [...n.st.claims.held];
  for (const e of all) expect(n.st.claims.held.heldBy(`endpoint/${e.id}`).sort()).toEqual(held.filter(([, c]) => c.holder === `endpoint/${e.id}`).map(([id]) => id).sort());
  expect(n.st.claims.held.slotsOf('consumer')).toBe(held.filter(([id]) => id.startsWith('endpoint-quota/consumer/')).length);
}

/** the lowest free private IP of subnet-a and SNAT address, by a walk */
function lowestFree(n: Node): { ip: string; snat: string } {
  const vpc = n.st.vpcs.get('vpc-client')!;
  const subnet = vpc.subnets.find((s) => s.id === 'subnet-a')!;
  const used = new Set([...vpc.ports.map((p) => p.ip), ...[...n.st.endpoints.values()].flatMap((e) => e.enis.map((x) => x.ip))]);
  const c = cidrOf(subnet.cidr);
  let ip = c.base + 2;
  while (used.has(intToIp(ip))) ip++;
  const snat = allocateSnatIp([...n.st.endpoints.values()].map((e) => e.snat_ip).filter((x) => x !== null))!;
  return { ip: intToIp(ip), snat };
}

describe('the create path\'s indexes', () => {
  it('EndpointMap: ids by owner and service, markers, SNAT addresses and IPs agree with a walk after sets, updates, deletes and a clear', () => {
    const m = new EndpointMap();
    const released: string[] = [];
    m.onRelease = (pool, ip) => released.push(`${pool} ${ip}`);
    const ep = (id: string, owner: string, ip: string, snat: string | null): Endpoint => ({
      id, owner, service_id: `svc-${owner}`, vpc_id: `vpc-${owner}`, marker_id: Number(id.slice(1)), snat_ip: snat,
      enis: [{ id: `eni-${id}`, zone: 'z', subnet_id: 's', ip, host_ip: '127.0.0.1' }],
    }) as unknown as Endpoint;
    m.set('e1', ep('e1', 'a', '10.0.0.4', '198.19.128.1'));
    m.set('e2', ep('e2', 'b', '10.0.0.5', '198.19.128.2'));
    m.set('e3', ep('e3', 'a', '10.0.0.6', null));
    // an update keeps the endpoint's place and swaps its values
    m.set('e1', ep('e1', 'a', '10.0.0.7', null));
    expect([...m.idsOf('a')]).toEqual(['e1', 'e3']);
    expect([...m.keys()]).toEqual(['e1', 'e2', 'e3']);
    expect(m.hasIp('vpc-a', '10.0.0.4')).toBe(false);
    expect(m.hasIp('vpc-a', '10.0.0.7')).toBe(true);
    expect(m.hasSnatIp('198.19.128.1')).toBe(false);
    expect(released).toEqual(['snat 198.19.128.1', 'vpc-a 10.0.0.4']);
    expect(m.delete('e2')).toBe(true);
    expect(m.delete('e2')).toBe(false);
    expect([...m.idsOf('b')]).toEqual([]);
    expect([...m.idsOfService('svc-a')]).toEqual(['e1', 'e3']);
    expect(m.hasMarker(2)).toBe(false);
    expect(m.hasMarker(3)).toBe(true);
    m.clear();
    expect([...m.idsOf('a')]).toEqual([]);
    expect(m.hasIp('vpc-a', '10.0.0.7')).toBe(false);
    expect(m.hasMarker(3)).toBe(false);
  });

  it('ClaimMap: the ids of each holder and the quota slots of each account agree with a walk; a claim let go is told', () => {
    const m = new ClaimMap();
    const let_go: string[] = [];
    m.onRelease = (id) => let_go.push(id);
    m.set('snat/198.19.128.1', { holder: 'endpoint/e1', version: 1 });
    m.set('endpoint-quota/consumer/0', { holder: 'endpoint/e1', version: 1 });
    m.set('endpoint-quota/consumer/1', { holder: '?', version: -1 });
    // learnt from a conflict, then read with its real holder
    m.set('endpoint-quota/consumer/1', { holder: 'endpoint/e2', version: 3 });
    m.set('endpoint-quota/consumer/10', { holder: 'endpoint/e3', version: 4 });
    expect(m.heldBy('endpoint/e1').sort()).toEqual(['endpoint-quota/consumer/0', 'snat/198.19.128.1']);
    expect(m.heldBy('?')).toEqual([]);
    expect(m.heldBy('endpoint/e2')).toEqual(['endpoint-quota/consumer/1']);
    expect(m.slotsOf('consumer')).toBe(3);
    m.delete('endpoint-quota/consumer/0');
    expect(m.slotsOf('consumer')).toBe(2);
    expect(m.heldBy('endpoint/e1')).toEqual(['snat/198.19.128.1']);
    expect(let_go).toEqual(['endpoint-quota/consumer/0']);
    m.clear();
    expect(m.slotsOf('consumer')).toBe(0);
    expect(m.heldBy('endpoint/e2')).toEqual([]);
  });

  it('LowestFree: the lowest free address from the cursor; a release moves it back; a release not told is found by a second pass', () => {
    const used = new Set([10, 11, 12, 14]);
    const p = new LowestFree(10, 16);
    expect(p.find((i) => used.has(i))).toBe(13);
    used.add(13);
    expect(p.find((i) => used.has(i))).toBe(15);
    used.add(15);
    used.delete(11);
    p.released(11);
    expect(p.find((i) => used.has(i))).toBe(11);
    used.add(11);
    // 12 let go without telling: found once the range above the cursor is full
    used.delete(12);
    used.add(16);
    expect(p.find((i) => used.has(i))).toBe(12);
    used.add(12);
    expect(p.find((i) => used.has(i))).toBeNull();
  });

  it('LowestFree.spread: a free address drawn at random, the lowest free one when every draw is taken, the cursor left where it was', () => {
    const used = new Set([10, 11, 12, 14]);
    const p = new LowestFree(10, 19);
    // draws 0.55 -> 15 (free)
    expect(p.spread((i) => used.has(i), () => 0.55)).toBe(15);
    // the top of the range is reachable and never passed
    expect(p.spread((i) => used.has(i), () => 0.9999)).toBe(19);
    // every draw lands on a taken address: the lowest free one
    const draws = [0, 0.1, 0.2, 0.4, 0, 0.1, 0.2, 0.4];
    expect(draws.length).toBe(SPREAD_PROBES);
    let d = 0;
    expect(p.spread((i) => used.has(i), () => draws[d++]!)).toBe(13);
    expect(d).toBe(SPREAD_PROBES);
    // a spread pick moves no cursor: the lowest free one is still found
    expect(p.find((i) => used.has(i))).toBe(13);
    for (let i = 10; i <= 19; i++) used.add(i);
    expect(p.spread((i) => used.has(i))).toBeNull();
  });

  it('over a store: after creates (one at a time and 4 in flight), deletes, refusals and a restart the indexes agree with a walk, and each address is the lowest free one', async () => {
    const dir = tempDir('vpcep-index-');
    const store = SqliteStore.open(dir);
    const n = await node(store);
    for (let i = 0; i < 3; i++) {
      const want = lowestFree(n);
      const e = await create(n);
      expect({ ip: e.ip, snat: e.snat_ip }).toEqual(want);
      agrees(n);
    }
    const four = await Promise.all(Array.from({ length: 4 }, () => create(n)));
    await n.control.settle();
    expect(new Set(four.map((e) => e.ip)).size).toBe(4);
    agrees(n);
    // deleted: its addresses are the lowest free again, and the next create takes them
    const gone = four[1]!;
    await n.control.deleteEndpoint(n.consumer, gone.id);
    await n.control.settle();
    agrees(n);
    expect(lowestFree(n)).toEqual({ ip: gone.ip, snat: gone.snat_ip });
    const again = await create(n);
    expect({ ip: again.ip, snat: again.snat_ip }).toEqual({ ip: gone.ip, snat: gone.snat_ip });
    agrees(n);
    // refused: an address in use, then the quota; nothing changes
    const taken = four[0]!.ip!;
    await expect(create(n, taken)).rejects.toMatchObject({ name: 'PortIpInUse' });
    agrees(n);
    const room = QUOTA - n.control.usage(n.consumer).endpoint;
    await Promise.all(Array.from({ length: room }, () => create(n)));
    await n.control.settle();
    const refused = await create(n).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(DomainError);
    expect((refused as DomainError).name).toBe('QuotaExceeded');
    agrees(n);
    expect(n.control.usage(n.consumer).endpoint).toBe(QUOTA);
    // two deleted, the restart: the indexes are rebuilt from the store, the lowest free addresses found
    const mine = n.control.listEndpoints(n.consumer);
    await n.control.deleteEndpoint(n.consumer, mine[2]!.id);
    await n.control.deleteEndpoint(n.consumer, mine[5]!.id);
    await n.control.settle();
    await store.close();
    const store2 = SqliteStore.open(dir);
    const m = await node(store2);
    expect(m.st.endpoints.size).toBe(QUOTA - 2);
    agrees(m);
    const want = lowestFree(m);
    const after = await create(m);
    expect({ ip: after.ip, snat: after.snat_ip }).toEqual(want);
    await m.control.settle();
    agrees(m);
    await store2.close();
  });
});

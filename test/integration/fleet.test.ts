// A fleet of three vpcepd on one real etcd (issue 17; README "Fleet"; test/integration/etcd.ts),
// each a child process with its own data dir and node name, leases of 2 s (fleet.lease_ttl_seconds):
// 50 creates racing through the three against a quota of 20: exactly 20 succeed, each placed at
// once on a node, live there (a connection through each ENI reaches the real backend), the nodes
// balanced; the tracer and `GET /sim/nodes` name the owner. The leader is SIGKILLed under traffic:
// its ENIs answer on the survivors within the lease TTL plus a margin, nothing acknowledged is lost,
// the quota stays exact. etcd restarted: the survivors register again and write again, no restart
// of their own. One of them stopped with SIGTERM: the last node serves every ENI.
// A node that joins takes its share of a loaded node's endpoints (torn down there, bound here).
import { execFile } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CONSUMER, PROVIDER, ROOT, scrapeMetrics, spawnDaemon, startTestDaemon, tempDir, twoAccountConfig, waitFor, writeConfig,
} from '../helpers.js';
import { attempt } from './aws-sdk.js';
import { echo, startBackend, type TestBackend } from './backends.js';
import { describeWithEtcd, type TestEtcd } from './etcd.js';
import { spawnNode, withLogs, type FleetNode } from './fleet-nodes.js';

const TTL_S = 2;
/** the margin a failover is allowed past the lease TTL on a loaded 2-core machine (the benchmark reports the real time) */
const FAILOVER_MARGIN_S = 13;

type Node = FleetNode;

let etcd: TestEtcd;
let backend: TestBackend;
/** every node started, killed after the tests */
const started: Node[] = [];

async function startNode(name: string, configFile: string): Promise<Node> {
  const node = await spawnNode(configFile, name);
  started.push(node);
  return node;
}

const fleetOf = async (n: Node) => (await n.consumer.get('/sim/nodes')).body;

/** a service on the backend, available and open to the consumer, made through N: its body */
async function openService(n: Node, name: string): Promise<{ id: string }> {
  const svc = await n.provider.post('/vpc-endpoint-services', {
    port_id: 'port-web', vpc_id: 'vpc-app', server_type: 'VM', service_name: name, approval_enabled: false,
    ports: [{ client_port: 80, server_port: backend.port, protocol: 'TCP' }],
  });
  expect(svc.status, JSON.stringify(svc.body)).toBe(200);
  await waitFor(async () => (await n.provider.get(`/vpc-endpoint-services/${svc.body.id}`)).body.status === 'available', 10_000, 'the service');
  expect((await n.provider.post(`/vpc-endpoint-services/${svc.body.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] })).status).toBe(200);
  return svc.body;
}

/** `vpcep nodes` against URL as the consumer: its stdout */
function vpcepNodes(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [path.join(ROOT, 'bin/vpcep.js'), '--url', url, '--token', CONSUMER.token, '--project', CONSUMER.project_id, 'nodes'],
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
  });
}

describe('the fleet of one node on SQLite', () => {
  it('GET /sim/nodes answers this node alone, leading, with its ENIs; the metrics say so; no token: 401', async () => {
    const d = await startTestDaemon(twoAccountConfig({ fleet: { node_name: 'solo' } }));
    try {
      const f = (await d.consumer.get('/sim/nodes')).body;
      expect(f).toMatchObject({ mode: 'single', lease_ttl_s: null, leader: 'local' });
      expect(f.nodes).toEqual([expect.objectContaining({ id: 'local', name: 'solo', address: d.url.slice('http://'.length), enis: 0, leader: true, self: true, lease_age_s: null })]);
      expect((await d.client(undefined, CONSUMER.project_id).get('/sim/nodes')).status).toBe(401);
      // a bad --node-name is a usage error
      const bad = await spawnDaemon(['--data-dir', path.join(tempDir(), 'data'), '--node-name', 'no spaces']);
      expect((await bad.exited).code).toBe(2);
      expect(bad.output()).toMatch(/--node-name "no spaces": must be 1-63 characters/);
      const m = await scrapeMetrics(d.url);
      expect(m.find((x) => x.name === 'vpcep_fleet_nodes')?.value).toBe(1);
      expect(m.find((x) => x.name === 'vpcep_fleet_leader')?.value).toBe(1);
      expect(m.find((x) => x.name === 'vpcep_node_enis')?.labels).toEqual({ node: 'solo' });
    } finally {
      await d.stop();
    }
  });
});

describeWithEtcd('a fleet of three vpcepd on one etcd', (e) => {
  etcd = e;
  beforeAll(async () => { backend = await startBackend(echo); }, 30_000);
  afterAll(async () => {
    for (const n of started) n.child.proc.kill('SIGKILL');
    await backend?.close();
  });

  it('public services on one machine: the node that binds their listeners serves them, the others log that they cannot and try again; the service stays available (the nodes stored failed and available in turn, ~217 etcd writes a second)', async () => {
    const publicServices = [{ name: 'obs', service_type: 'gateway', prefix_list: { id: 'pl-obs', cidrs: ['100.125.0.0/30'] }, ports: [{ port: 80, target: `127.0.0.1:${backend.port}` }] }];
    const configFile = writeConfig(tempDir(), twoAccountConfig({ store: `${etcd.url}/public`, fleet: { lease_ttl_seconds: TTL_S }, dns: { enabled: false }, public_services: publicServices }));
    const first = await startNode('pub-a', configFile);
    const second = await startNode('pub-b', configFile);
    const status = async (n: Node) => (await n.consumer.get('/vpc-endpoint-services/public')).body.endpoint_services.find((s: { service_name: string }) => s.service_name === 'sim-1.obs')?.status;
    // both running, the second's first bind tried
    await new Promise((r) => setTimeout(r, 2_000));
    const revision = async () => Number((await (await fetch(`${etcd.url.replace('etcd://', 'http://')}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('x').toString('base64') }) })).json()).header.revision);
    const before = await revision();
    await new Promise((r) => setTimeout(r, 3_000));
    // the nodes' own writes only (leases, health): no store write per bind attempt
    expect(await revision() - before).toBeLessThan(60);
    expect([await status(first), await status(second)]).toEqual(['available', 'available']);
    for (const n of [first, second]) expect(n.child.output()).not.toMatch(/public service failed/);
    expect(second.child.output().match(/listeners cannot bind on this node/g)?.length, second.child.output().slice(-3000)).toBe(1);
    for (const n of [first, second]) n.child.proc.kill('SIGKILL');
  }, 90_000);

  it('a node that joins takes its share: the leader moves endpoints off the loaded node, which tears them down, and the newcomer binds them on the same loopback addresses', async () => {
    const configFile = writeConfig(tempDir(), twoAccountConfig({ store: `${etcd.url}/join`, fleet: { lease_ttl_seconds: TTL_S }, dns: { enabled: false } }));
    const first = await startNode('join-a', configFile);
    const svc = { body: await openService(first, 'join') };
    const eps = [];
    for (let i = 0; i < 4; i++) {
      const r = await first.consumer.post('/vpc-endpoints', { endpoint_service_id: svc.body.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      eps.push(r.body);
    }
    for (const e of eps) await waitFor(async () => (await attempt(e.host_ip, 80, '127.2.1.50')) === 'relay', 15_000, `endpoint ${e.id} on join-a`);
    expect((await fleetOf(first)).nodes.map((n: { enis: number }) => n.enis)).toEqual([4]);

    const second = await startNode('join-b', configFile);
    await waitFor(async () => (await fleetOf(first)).nodes.map((n: { enis: number }) => n.enis).join() === '2,2', 20_000, 'two ENIs moved to join-b');
    const owners = [];
    for (const e of eps) {
      await waitFor(async () => (await attempt(e.host_ip, 80, '127.2.1.50')) === 'relay', 15_000, `endpoint ${e.id} to relay after the move`);
      owners.push((await second.consumer.post('/trace', { vpc_id: 'vpc-client', source_ip: '10.0.1.50', destination_ip: e.ip, destination_port: 80 })).body.trace.node.name);
      expect((await second.consumer.get(`/vpc-endpoints/${e.id}`)).body.status).toBe('accepted');
    }
    expect(owners.sort()).toEqual(['join-a', 'join-a', 'join-b', 'join-b']);
    for (const n of [first, second]) n.child.proc.kill('SIGKILL');
  }, 90_000);

  it("places endpoints on live nodes, fails over a SIGKILLed leader within the lease TTL, keeps the quota exact, rides out an etcd restart and hands a SIGTERMed node's ENIs over", async () => {
    const dir = tempDir();
    const configFile = writeConfig(dir, twoAccountConfig({
      store: `${etcd.url}/fleet`,
      fleet: { lease_ttl_seconds: TTL_S },
      dns: { enabled: false },
      accounts: [PROVIDER, { ...CONSUMER, quotas: { endpoint_service: 10, endpoint: 20 } }],
    }));
    // one at a time: the first writes the config's documents
    const nodes: Node[] = [];
    for (const name of ['node-a', 'node-b', 'node-c']) nodes.push(await startNode(name, configFile));
    const [a, b, c] = nodes as [Node, Node, Node];
    for (const n of nodes) {
      await waitFor(async () => {
        const f = await fleetOf(n);
        return f.nodes?.length === 3 && typeof f.leader === 'string';
      }, 15_000, `${n.name} to see three live nodes and a leader`);
    }
    const fleet = await fleetOf(a);
    expect(fleet.mode).toBe('etcd');
    expect(fleet.lease_ttl_s).toBe(TTL_S);
    expect(fleet.nodes.map((n: { name: string }) => n.name).sort()).toEqual(['node-a', 'node-b', 'node-c']);
    expect(fleet.nodes.filter((n: { leader: boolean }) => n.leader)).toHaveLength(1);
    // one leader across the fleet's metrics, three nodes seen by each; `vpcep nodes` lists them
    const scraped = await Promise.all(nodes.map((n) => scrapeMetrics(n.child.url)));
    expect(scraped.map((m) => m.find((x) => x.name === 'vpcep_fleet_nodes')?.value)).toEqual([3, 3, 3]);
    expect(scraped.reduce((sum, m) => sum + (m.find((x) => x.name === 'vpcep_fleet_leader')?.value ?? 0), 0)).toBe(1);
    const listed = await vpcepNodes(a.child.url);
    expect(listed).toMatch(/NAME.*ADDRESS.*ENIS.*CONNECTIONS.*LEASE AGE.*ROLE/);
    for (const name of ['node-a (this)', 'node-b', 'node-c']) expect(listed).toContain(name);
    expect(listed).toMatch(/leader/);

    const svc = { body: await openService(a, 'fleet') };
    // every node sees the service before the race
    for (const n of nodes) await waitFor(async () => (await n.provider.get(`/vpc-endpoint-services/${svc.body.id}`)).body.status === 'available', 10_000, `${n.name} to see the service`);

    // 50 creates racing through the three nodes against a quota of 20: exactly 20 succeed
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) =>
      nodes[i % 3]!.consumer.post('/vpc-endpoints', { endpoint_service_id: svc.body.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a' })));
    const won = results.filter((r) => r.status === 200).map((r) => r.body);
    expect(won).toHaveLength(20);
    for (const r of results.filter((x) => x.status !== 200)) expect(['EndPoint.0031', 'EndPoint.2037'].includes(r.body.error_code) || /quota/.test(r.body.error_msg), JSON.stringify(r.body)).toBe(true);
    expect(new Set(won.map((e) => e.host_ip)).size).toBe(20);

    // placed at once on the least loaded node (the leader evens out what racing creators skewed): 20 ENIs spread 7/7/6
    await waitFor(async () => (await fleetOf(b)).nodes.map((n: { enis: number }) => n.enis).sort().join() === '6,7,7', 20_000, 'the ENIs spread 7/7/6');
    await waitFor(async () => (await scrapeMetrics(c.child.url)).filter((x) => x.name === 'vpcep_node_enis').map((x) => x.value).sort().join() === '6,7,7', 10_000, 'vpcep_node_enis on node-c');
    // each is accepted and live on its owner: a connection through each ENI reaches the backend
    const ownerOf = new Map<string, string>();
    for (const e of won) {
      await waitFor(async () => (await attempt(e.host_ip, 80, '127.2.1.50')) === 'relay', 15_000, `endpoint ${e.id} to relay`);
      const t = await a.consumer.post('/trace', { vpc_id: 'vpc-client', source_ip: '10.0.1.50', destination_ip: e.ip, destination_port: 80 });
      expect(t.status, JSON.stringify(t.body)).toBe(200);
      expect(['node-a', 'node-b', 'node-c']).toContain(t.body.trace.node.name);
      expect(t.body.trace.node.live).toBe(true);
      ownerOf.set(e.id, t.body.trace.node.name);
    }
    for (const e of won) expect((await c.consumer.get(`/vpc-endpoints/${e.id}`)).body.status).toBe('accepted');
    for (const name of ['node-a', 'node-b', 'node-c']) expect([6, 7]).toContain([...ownerOf.values()].filter((o) => o === name).length);

    // under traffic: connections held open through every endpoint, then the leader is SIGKILLed
    const leaderName = (await fleetOf(a)).nodes.find((n: { leader: boolean }) => n.leader).name as string;
    const victim = nodes.find((n) => n.name === leaderName)!;
    const survivors = nodes.filter((n) => n !== victim);
    const held = await Promise.all(won.map((e) => new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: e.host_ip, port: 80, localAddress: '127.2.1.50' }, () => resolve(s));
      s.once('error', reject);
    })));
    const cut = held.map((s) => new Promise<void>((resolve) => { s.on('error', () => undefined); s.once('close', () => resolve()); }));
    const moved = won.filter((e) => ownerOf.get(e.id) === leaderName);
    expect(moved.length).toBeGreaterThan(0);
    const killedAt = Date.now();
    victim.child.proc.kill('SIGKILL');
    await victim.child.exited;
    // its ENIs answer on the survivors again within the TTL plus the margin
    await withLogs(survivors, Promise.all(moved.map((e) => waitFor(async () => (await attempt(e.host_ip, 80, '127.2.1.50')) === 'relay', (TTL_S + FAILOVER_MARGIN_S) * 1000, `endpoint ${e.id} to answer after the failover`))));
    const failoverS = (Date.now() - killedAt) / 1000;
    expect(failoverS).toBeLessThan(TTL_S + FAILOVER_MARGIN_S);
    // the victim's connections were cut with it; those through the survivors' ENIs still relay
    const kept = won.map((e, i) => ({ e, s: held[i]! })).filter(({ e }) => ownerOf.get(e.id) !== leaderName);
    for (const { s } of kept) {
      const echoed = new Promise<string>((resolve) => s.once('data', (d) => resolve(String(d))));
      s.write('still here');
      expect(await echoed).toBe('still here');
    }
    // every endpoint relays, each on a survivor, and the fleet shows two nodes, one of them leading
    for (const e of won) expect(await attempt(e.host_ip, 80, '127.2.1.50'), e.id).toBe('relay');
    const after = await fleetOf(survivors[0]!);
    expect(after.nodes.map((n: { name: string }) => n.name).sort()).toEqual(survivors.map((n) => n.name).sort());
    expect(after.nodes.reduce((sum: number, n: { enis: number }) => sum + n.enis, 0)).toBe(20);
    expect(survivors.map((n) => n.name)).toContain(after.nodes.find((n: { leader: boolean }) => n.leader)?.name);
    for (const e of moved) {
      const t = await survivors[1]!.consumer.post('/trace', { vpc_id: 'vpc-client', source_ip: '10.0.1.50', destination_ip: e.ip, destination_port: 80 });
      expect(survivors.map((n) => n.name)).toContain(t.body.trace.node.name);
    }
    // nothing acknowledged is lost: the 20, accepted, on both survivors; the quota is still exact
    for (const n of survivors) {
      const list = (await n.consumer.get('/vpc-endpoints?limit=100')).body.endpoints as Array<{ id: string; status: string }>;
      expect(list.map((e) => e.id).sort()).toEqual(won.map((e) => e.id).sort());
      expect(list.every((e) => e.status === 'accepted')).toBe(true);
    }
    const over = await survivors[0]!.consumer.post('/vpc-endpoints', { endpoint_service_id: svc.body.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
    expect(over.status).not.toBe(200);
    expect(over.body.error_code).toBe('EndPoint.2060'); // QuotaExceeded
    for (const s of held) s.destroy();
    await Promise.all(cut);

    // etcd restarted: the survivors register again and take writes, without a restart of their own
    await etcd.stop();
    await etcd.start();
    await waitFor(async () => {
      const f = await fleetOf(survivors[1]!);
      return f.nodes?.length === 2 && survivors.map((n) => n.name).includes(f.nodes.find((n: { leader: boolean }) => n.leader)?.name);
    }, 30_000, 'both survivors registered again, one leading');
    const answers: number[] = [];
    await waitFor(async () => {
      const freed = await survivors[1]!.consumer.delete(`/vpc-endpoints/${won[0].id}`);
      answers.push(freed.status);
      if (freed.status === 204) return true;
      // an attempt answered 503 while etcd came back may have landed all the same (etcd's outcome of
      // a request that timed out is unknown; the README says so): the endpoint gone is the write done
      return (await survivors[1]!.consumer.get(`/vpc-endpoints/${won[0].id}`)).status === 404;
    }, 30_000, 'a write after the etcd restart');
    expect(answers.every((s) => s < 500 || s === 503), answers.join(' ')).toBe(true);
    let again: { status: number; body: any } = { status: 0, body: null };
    await waitFor(async () => {
      again = await survivors[0]!.consumer.post('/vpc-endpoints', { endpoint_service_id: svc.body.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
      return again.status === 200;
    }, 30_000, 'a create once the quota slot is free');
    await waitFor(async () => (await attempt(again.body.host_ip, 80, '127.2.1.50')) === 'relay', 15_000, 'the new endpoint to relay');
    for (const n of survivors) expect(n.child.proc.exitCode).toBe(null);

    // a node stopped with SIGTERM leaves the fleet as it starts to drain: the last one serves every ENI
    const [stay, go] = survivors as [Node, Node];
    go.child.proc.kill('SIGTERM');
    expect((await go.child.exited).code).toBe(0);
    const live = [...won.slice(1), again.body];
    await withLogs([stay], Promise.all(live.map((e) => waitFor(async () => (await attempt(e.host_ip, 80, '127.2.1.50')) === 'relay', 15_000, `endpoint ${e.id} on ${stay.name}`))));
    const last = await fleetOf(stay);
    expect(last.nodes.map((n: { name: string; enis: number; leader: boolean }) => [n.name, n.enis, n.leader])).toEqual([[stay.name, 20, true]]);
  }, 150_000);
});

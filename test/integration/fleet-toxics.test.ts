// Toxiproxy's API on a fleet (README "Fault injection", "Fleet"): two vpcepd as child processes on
// one real etcd, each with its own Toxiproxy API (faults.listen). The endpoint's owner is found by
// the path tracer, and every toxic and proxy change is made through the other node's API. Before,
// toxics and disabled proxies were the answering node's memory: they did nothing on the owner, and
// the two nodes listed different toxics.
import net from 'node:net';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { freePort, tempDir, twoAccountConfig, waitFor, writeConfig } from '../helpers.js';
import { attempt } from './aws-sdk.js';
import { echo, startBackend, type TestBackend } from './backends.js';
import { describeWithEtcd, type TestEtcd } from './etcd.js';
import { openService, spawnNode, withLogs, type FleetNode } from './fleet-nodes.js';

/** a node and its Toxiproxy API's address */
interface Node extends FleetNode {
  readonly toxiproxy: string;
}

let etcd: TestEtcd;
let backend: TestBackend;
const started: Node[] = [];
let prefixes = 0;
/** the consumer's client address (vpc-client, 10.0.1.50) */
const CLIENT = '127.2.1.50';

/** a node on the fleet's PREFIX, with Toxiproxy's API on a port of its own */
async function startNode(prefix: string, name: string): Promise<Node> {
  const port = await freePort();
  const configFile = writeConfig(tempDir(), twoAccountConfig({
    store: `${etcd.url}/${prefix}`, fleet: { lease_ttl_seconds: 2 }, dns: { enabled: false },
    faults: { enabled: true, listen: `127.0.0.1:${port}` },
  }));
  const node = { ...(await spawnNode(configFile, name)), toxiproxy: `http://127.0.0.1:${port}` };
  started.push(node);
  return node;
}

async function toxiproxy(n: Node, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const r = await fetch(`${n.toxiproxy}${path}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }) });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

/** two nodes on a prefix of their own, an endpoint relaying through one of them: its owner, the other, the endpoint's host address and its proxy's name */
async function fleetWithEndpoint(): Promise<{ owner: Node; other: Node; hostIp: string; proxy: string }> {
  const prefix = `t${++prefixes}`;
  const a = await startNode(prefix, `${prefix}-a`);
  const b = await startNode(prefix, `${prefix}-b`);
  for (const n of [a, b]) await waitFor(async () => (await n.consumer.get('/sim/nodes')).body.nodes?.length === 2, 15_000, `${n.name} to see both nodes`);
  const service = await openService(a, `s${prefix}`, backend.port);
  const ep = await a.consumer.post('/vpc-endpoints', { endpoint_service_id: service, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
  expect(ep.status, JSON.stringify(ep.body)).toBe(200);
  await withLogs([a, b], waitFor(async () => (await attempt(ep.body.host_ip, 80, CLIENT)) === 'relay', 15_000, 'the endpoint to relay'));
  const t = await a.consumer.post('/trace', { vpc_id: 'vpc-client', source_ip: '10.0.1.50', destination_ip: ep.body.ip, destination_port: 80 });
  expect(t.status, JSON.stringify(t.body)).toBe(200);
  const [owner, other] = t.body.trace.node.name === a.name ? [a, b] : [b, a];
  const proxy = `${ep.body.id}:80`;
  // both nodes show the proxy (the other once its watch brought the endpoint accepted)
  for (const n of [owner, other]) await waitFor(async () => (await toxiproxy(n, 'GET', `/proxies/${proxy}`)).status === 200, 10_000, `${n.name} to show the proxy`);
  return { owner: owner!, other: other!, hostIp: ep.body.host_ip, proxy };
}

/** ms from a write to its echo through HOST:80, or the error's code */
function roundTrip(host: string): Promise<number | string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port: 80, localAddress: CLIENT });
    let sent = 0;
    const done = (r: number | string) => { s.destroy(); resolve(r); };
    s.on('connect', () => { sent = Date.now(); s.write('ping'); });
    s.on('data', () => done(Date.now() - sent));
    s.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
    s.on('close', () => done('closed'));
  });
}

/** each node's proxies as GET /proxies lists them, with their toxics */
async function listed(n: Node): Promise<unknown> {
  const r = await toxiproxy(n, 'GET', '/proxies');
  expect(r.status).toBe(200);
  return r.body;
}

describeWithEtcd('Toxiproxy\'s API on a fleet: toxics and proxies taken down through one node act on the node serving the endpoint', (e) => {
  etcd = e;
  beforeAll(async () => { backend = await startBackend(echo); }, 30_000);
  afterEach(() => {
    for (const n of started.splice(0)) n.child.proc.kill('SIGKILL');
  });
  afterAll(async () => { await backend?.close(); });

  it('a latency toxic added through the non-owner node delays traffic through the ENI on the owner; removed, it is gone; both nodes list the same', async () => {
    const { owner, other, hostIp, proxy } = await fleetWithEndpoint();
    const added = await toxiproxy(other, 'POST', `/proxies/${proxy}/toxics`, { name: 'slow', type: 'latency', stream: 'downstream', attributes: { latency: 700 } });
    expect(added.status, JSON.stringify(added.body)).toBe(200);
    await withLogs([owner, other], waitFor(async () => {
      const ms = await roundTrip(hostIp);
      return typeof ms === 'number' && ms >= 650;
    }, 10_000, `the ENI on ${owner.name} to delay by the toxic`));
    await waitFor(async () => (await toxiproxy(owner, 'GET', `/proxies/${proxy}/toxics`)).body?.length === 1, 10_000, `${owner.name} to list the toxic`);
    expect(await listed(owner)).toEqual(await listed(other));
    expect((await toxiproxy(owner, 'GET', `/proxies/${proxy}/toxics/slow`)).body).toMatchObject({ name: 'slow', type: 'latency', attributes: { latency: 700 } });
    // a second add of the same name through the owner meets the one added through the other: Toxiproxy's 409
    const again = await toxiproxy(owner, 'POST', `/proxies/${proxy}/toxics`, { name: 'slow', type: 'latency', attributes: { latency: 1 } });
    expect(again.status).toBe(409);

    expect((await toxiproxy(other, 'DELETE', `/proxies/${proxy}/toxics/slow`)).status).toBe(204);
    await withLogs([owner, other], waitFor(async () => {
      const ms = await roundTrip(hostIp);
      return typeof ms === 'number' && ms < 300;
    }, 10_000, `the ENI on ${owner.name} to relay without the toxic`));
    await waitFor(async () => (await toxiproxy(owner, 'GET', `/proxies/${proxy}/toxics`)).body?.length === 0, 10_000, `${owner.name} to drop the toxic`);
    expect(await listed(owner)).toEqual(await listed(other));
  }, 120_000);

  it('a proxy disabled through the non-owner node refuses on the owner; enabled, it relays; both nodes list the same', async () => {
    const { owner, other, hostIp, proxy } = await fleetWithEndpoint();
    const off = await toxiproxy(other, 'POST', `/proxies/${proxy}`, { enabled: false });
    expect(off.status, JSON.stringify(off.body)).toBe(200);
    expect(off.body.enabled).toBe(false);
    await withLogs([owner, other], waitFor(async () => (await attempt(hostIp, 80, CLIENT)) === 'ECONNREFUSED', 10_000, `the ENI on ${owner.name} to refuse`));
    await waitFor(async () => (await toxiproxy(owner, 'GET', `/proxies/${proxy}`)).body?.enabled === false, 10_000, `${owner.name} to show the proxy disabled`);
    expect(await listed(owner)).toEqual(await listed(other));

    const on = await toxiproxy(other, 'POST', `/proxies/${proxy}`, { enabled: true });
    expect(on.status, JSON.stringify(on.body)).toBe(200);
    await withLogs([owner, other], waitFor(async () => (await attempt(hostIp, 80, CLIENT)) === 'relay', 10_000, `the ENI on ${owner.name} to relay again`));
    await waitFor(async () => (await toxiproxy(owner, 'GET', `/proxies/${proxy}`)).body?.enabled === true, 10_000, `${owner.name} to show the proxy enabled`);
    expect(await listed(owner)).toEqual(await listed(other));
  }, 120_000);

  it('a proxy enabled again through the non-owner node while its port is taken on the owner answers the owner\'s refusal and stays disabled on both nodes; freed, enabled again it relays', async () => {
    const { owner, other, hostIp, proxy } = await fleetWithEndpoint();
    expect((await toxiproxy(other, 'POST', `/proxies/${proxy}`, { enabled: false })).status).toBe(200);
    await withLogs([owner, other], waitFor(async () => (await attempt(hostIp, 80, CLIENT)) === 'ECONNREFUSED', 10_000, `the ENI on ${owner.name} to refuse`));
    await waitFor(async () => (await toxiproxy(owner, 'GET', `/proxies/${proxy}`)).body?.enabled === false, 10_000, `${owner.name} to show the proxy disabled`);
    // another socket takes the listener's address on the owner's host while the proxy is down
    const squatter = net.createServer((c) => c.destroy());
    await new Promise<void>((resolve, reject) => {
      squatter.once('error', reject);
      squatter.listen({ host: hostIp, port: 80, exclusive: true }, resolve);
    });
    try {
      // what the owner answers itself: Toxiproxy's shape, 500, the bind's reason
      const direct = await toxiproxy(owner, 'POST', `/proxies/${proxy}`, { enabled: true });
      expect(direct.status, JSON.stringify(direct.body)).toBe(500);
      expect(direct.body).toEqual({ error: expect.stringContaining(`cannot listen on ${hostIp}:80: EADDRINUSE`), status: 500 });
      // before, the other node answered 200, stored enabled: true, and the owner's listener stayed unbound
      const through = await toxiproxy(other, 'POST', `/proxies/${proxy}`, { enabled: true });
      expect(through.status, JSON.stringify(through.body)).toBe(500);
      expect(through.body).toEqual(direct.body);
      for (const n of [owner, other]) expect((await toxiproxy(n, 'GET', `/proxies/${proxy}`)).body.enabled, `${n.name}'s proxy`).toBe(false);
      expect(await listed(owner)).toEqual(await listed(other));
      const said = owner.child.output().split('\n').find((l) => l.includes('stays taken down'));
      expect(said, owner.child.output()).toContain(proxy);
      expect(said).toContain('EADDRINUSE');
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
    const on = await toxiproxy(other, 'POST', `/proxies/${proxy}`, { enabled: true });
    expect(on.status, JSON.stringify(on.body)).toBe(200);
    expect(on.body.enabled).toBe(true);
    // answered once the owner took it: its listener relays at once
    expect(await attempt(hostIp, 80, CLIENT)).toBe('relay');
    for (const n of [owner, other]) expect((await toxiproxy(n, 'GET', `/proxies/${proxy}`)).body.enabled, `${n.name}'s proxy`).toBe(true);
  }, 120_000);

  it('POST /reset through the non-owner node removes the toxics and enables the proxies on the owner too', async () => {
    const { owner, other, hostIp, proxy } = await fleetWithEndpoint();
    expect((await toxiproxy(owner, 'POST', `/proxies/${proxy}/toxics`, { type: 'latency', attributes: { latency: 700 } })).status).toBe(200);
    expect((await toxiproxy(owner, 'POST', `/proxies/${proxy}`, { enabled: false })).status).toBe(200);
    await waitFor(async () => (await toxiproxy(other, 'GET', `/proxies/${proxy}`)).body?.enabled === false, 10_000, `${other.name} to show the proxy disabled`);
    expect((await toxiproxy(other, 'POST', '/reset')).status).toBe(204);
    await withLogs([owner, other], waitFor(async () => {
      const ms = await roundTrip(hostIp);
      return typeof ms === 'number' && ms < 300;
    }, 10_000, `the ENI on ${owner.name} to relay without the toxic`));
    for (const n of [owner, other]) {
      await waitFor(async () => {
        const p = (await toxiproxy(n, 'GET', `/proxies/${proxy}`)).body;
        return p?.enabled === true && p.toxics.length === 0;
      }, 10_000, `${n.name} to show the proxy reset`);
    }
  }, 120_000);
});

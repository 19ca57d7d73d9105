// Gateway endpoints end to end: the route-table API, endpoint routes, longest-prefix routing of
// real TCP connections to a public service (an OBS-style HTTP backend), endpoint policies, live
// route changes, the path tracer against the data plane, and restarts.
// 002_05e46307768ae273.txt "Routing for gateway endpoints"; addressing: a simulated a.b.c.d in VPC
// k is 127.k.c.d on the host, a public a.b.c.d is 127.255.c.d.
import http, { type Server as HttpServer } from 'node:http';
import net, { type Socket } from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CONSUMER, PROVIDER, metricValue, scrapeMetrics, startTestDaemon, tempDir, waitFor, type ApiClient, type TestDaemon } from '../helpers.js';
import { loadNativeRelay, relayChoice } from '../../src/dataplane/native-relay.js';
import { DB_FILE } from '../../src/store/sqlite.js';

/** whether the daemon's relay threads accept (the native relay's fast path): they decide the public listeners' routes */
const THREADS = relayChoice().relay === 'native' && loadNativeRelay() !== null && (process.env.VPCEP_FAST_ACCEPT ?? '').trim().toLowerCase() !== 'off';

// ---- resources -----------------------------------------------------------------------------------

const sockets = new Set<Socket>();
const daemons = new Set<TestDaemon>();
const backends = new Set<Obs>();

afterEach(() => {
  for (const s of sockets) s.destroy();
  sockets.clear();
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  for (const d of daemons) await d.stop();
  daemons.clear();
  for (const b of backends) await b.close();
  backends.clear();
});

const randomPort = () => 20_000 + Math.floor(Math.random() * 20_000);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- the OBS-style backend: HTTP 200 with the request's remote address as the body --------------

interface Obs {
  readonly server: HttpServer;
  readonly port: number;
  /** the remote address of every request, in order */
  readonly remotes: string[];
  close(): Promise<void>;
}

async function startObs(): Promise<Obs> {
  for (let attempt = 0; ; attempt++) {
    const remotes: string[] = [];
    const server = http.createServer((req, res) => {
      const remote = req.socket.remoteAddress ?? '';
      remotes.push(remote);
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(remote) });
      res.end(remote);
    });
    server.keepAliveTimeout = 60_000;
    const port = randomPort();
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: '127.0.0.1', port, exclusive: true }, () => { server.removeListener('error', reject); resolve(); });
      });
    } catch (err) {
      if (attempt > 20) throw err;
      continue;
    }
    const obs: Obs = {
      server, port, remotes,
      close: () => new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
    };
    backends.add(obs);
    return obs;
  }
}

// ---- clients -------------------------------------------------------------------------------------

type Outcome =
  | { kind: 'relayed'; status: number; body: string }
  | { kind: 'refused'; code: string }
  | { kind: 'other'; what: string };

/**
 * One HTTP request over a fresh TCP connection from `from` (a host address: the client's place in
 * the simulated world; undefined: the kernel picks) to host:port. relayed = the backend answered;
 * refused = the connection was reset or refused.
 */
function request(from: string | undefined, host: string, port: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, ...(from ? { localAddress: from } : {}) });
    sockets.add(s);
    let data = '';
    let done = false;
    const finish = (o: Outcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      sockets.delete(s);
      resolve(o);
    };
    const timer = setTimeout(() => finish({ kind: 'other', what: `timeout; got ${JSON.stringify(data)}` }), 5_000);
    s.setEncoding('latin1');
    s.on('connect', () => s.write(`GET /bucket/object HTTP/1.1\r\nHost: obs\r\nConnection: close\r\n\r\n`));
    s.on('data', (chunk: string) => { data += chunk; });
    s.on('error', (err: NodeJS.ErrnoException) => {
      if (data.length === 0 && (err.code === 'ECONNRESET' || err.code === 'ECONNREFUSED' || err.code === 'EPIPE')) finish({ kind: 'refused', code: err.code });
      else finish({ kind: 'other', what: `${err.code ?? err.message} after ${JSON.stringify(data)}` });
    });
    s.on('close', () => {
      const m = /^HTTP\/1\.1 (\d{3}) [^\r]*\r\n[\s\S]*?\r\n\r\n([\s\S]*)$/.exec(data);
      if (m) finish({ kind: 'relayed', status: Number(m[1]), body: m[2]! });
      else finish({ kind: 'other', what: `closed after ${JSON.stringify(data)}` });
    });
  });
}

/** a connection held open through the relay (one keep-alive request answered); resolves once answered */
function hold(from: string | undefined, host: string, port: number): Promise<{ socket: Socket; closed: Promise<{ at: number; error: string | null }> }> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, ...(from ? { localAddress: from } : {}) });
    sockets.add(s);
    let error: string | null = null;
    const closed = new Promise<{ at: number; error: string | null }>((r) => s.once('close', () => r({ at: performance.now(), error })));
    let data = '';
    s.setEncoding('latin1');
    s.on('error', (err: NodeJS.ErrnoException) => { error = err.code ?? err.message; reject(err); });
    s.on('connect', () => s.write('GET /held HTTP/1.1\r\nHost: obs\r\n\r\n'));
    const onData = (chunk: string) => {
      data += chunk;
      if (completeResponse(data) !== null) {
        s.removeListener('data', onData);
        s.resume();
        resolve({ socket: s, closed });
      }
    };
    s.on('data', onData);
  });
}

/** the status and body of a complete HTTP/1.1 response with a Content-Length, else null */
function completeResponse(data: string): { status: number; body: string } | null {
  const m = /^HTTP\/1\.1 (\d{3}) [^\r]*\r\n([\s\S]*?)\r\n\r\n([\s\S]*)$/.exec(data);
  const length = m && /(?:^|\r\n)content-length: *(\d+)/i.exec(m[2]!);
  if (!m || !length || m[3]!.length < Number(length[1])) return null;
  return { status: Number(m[1]), body: m[3]!.slice(0, Number(length[1])) };
}

/** one more request on a held connection: the body of the answer */
function askAgain(s: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    const onData = (chunk: Buffer | string) => {
      data += String(chunk);
      const r = completeResponse(data);
      if (r) {
        s.removeListener('data', onData);
        resolve(`${r.status} ${r.body}`);
      }
    };
    s.on('data', onData);
    s.once('close', () => reject(new Error(`closed after ${JSON.stringify(data)}`)));
    s.write('GET /again HTTP/1.1\r\nHost: obs\r\n\r\n');
  });
}

const relayedFrom = (body: string): Outcome => ({ kind: 'relayed', status: 200, body });
const RESET: Outcome = { kind: 'refused', code: 'ECONNRESET' };
const REFUSED: Outcome = { kind: 'refused', code: 'ECONNREFUSED' };

// ---- metrics -------------------------------------------------------------------------------------

const samples = scrapeMetrics;
const metric = metricValue;

/** vpcep_route_decisions_total by target_type, samples of value 0 left out */
async function decisions(url: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const s of await samples(url)) if (s.name === 'vpcep_route_decisions_total' && s.value !== 0) out[s.labels.target_type!] = s.value;
  return out;
}

// ---- the world -----------------------------------------------------------------------------------

const SERVICE_IP = '127.255.0.10';
const LOCAL_ROUTE = { destination: '10.0.0.0/16', type: 'local', nexthop: null, owner: 'system' };
const CONFIG_ROUTE = { destination: '198.51.100.0/24', type: 'blackhole', nexthop: null, owner: 'config' };

/**
 * vpc-client (consumer, 10.0.0.0/16): subnet-a (10.0.1.0/24) on rtb-a, subnet-b (10.0.2.0/24) on
 * the default rtb-main; vpc-second and vpc-bare (consumer); vpc-prov (provider); the public
 * gateway service obs: prefix list pl-obs = 100.125.0.0/24, port P -> 127.0.0.1:B.
 */
function gatewayConfig(P: number, B: number, consumerQuotas?: Record<string, number>): Record<string, unknown> {
  return {
    region: 'sim-1',
    accounts: [PROVIDER, consumerQuotas ? { ...CONSUMER, quotas: consumerQuotas } : CONSUMER],
    vpcs: [
      {
        id: 'vpc-client', account: 'consumer', cidr: '10.0.0.0/16',
        subnets: [{ id: 'subnet-a', cidr: '10.0.1.0/24' }, { id: 'subnet-b', cidr: '10.0.2.0/24' }],
        route_tables: [
          { id: 'rtb-main', default: true },
          { id: 'rtb-a', subnets: ['subnet-a'], routes: [{ destination: '198.51.100.0/24', type: 'blackhole' }] },
        ],
      },
      {
        id: 'vpc-second', account: 'consumer', cidr: '10.1.0.0/16',
        subnets: [{ id: 'subnet-s', cidr: '10.1.1.0/24' }],
        route_tables: [{ id: 'rtb-second', default: true }],
      },
      { id: 'vpc-bare', account: 'consumer', cidr: '10.2.0.0/16', subnets: [{ id: 'subnet-bare', cidr: '10.2.1.0/24' }] },
      {
        id: 'vpc-prov', account: 'provider', cidr: '192.168.0.0/16',
        subnets: [{ id: 'subnet-p', cidr: '192.168.1.0/24' }],
        route_tables: [{ id: 'rtb-prov', default: true }],
      },
    ],
    public_services: [{
      name: 'obs', service_type: 'gateway',
      prefix_list: { id: 'pl-obs', cidrs: ['100.125.0.0/24'] },
      ports: [{ port: P, target: `127.0.0.1:${B}` }],
    }],
  };
}

interface World {
  readonly d: TestDaemon;
  readonly obs: Obs;
  /** the public service's port */
  readonly P: number;
  /** the loopback number of vpc-client */
  readonly k: number;
  readonly serviceId: string;
  readonly dataDir: string;
  /** the host address of the simulated 10.0.c.d in vpc-client */
  host(c: number, d: number): string;
}

async function startWorld(dataDir = tempDir(), obs?: Obs, P?: number, consumerQuotas?: Record<string, number>): Promise<World> {
  const backend = obs ?? await startObs();
  for (let attempt = 0; ; attempt++) {
    const port = P ?? randomPort();
    let d: TestDaemon;
    try {
      d = await startTestDaemon(gatewayConfig(port, backend.port, consumerQuotas), dataDir);
    } catch (err) {
      // the public listeners' port may be taken on this host: another one
      if (P !== undefined || attempt > 5) throw err;
      continue;
    }
    daemons.add(d);
    const k = d.daemon.control.routing().vpcs.get('vpc-client')!.number;
    const pub = await d.consumer.get('/vpc-endpoint-services/public');
    expect(pub.status).toBe(200);
    const svc = pub.body.endpoint_services.find((s: any) => s.service_name === 'sim-1.obs');
    expect(svc).toMatchObject({ owner: 'operator', service_type: 'gateway', prefix_list: { id: 'pl-obs', cidrs: ['100.125.0.0/24'] } });
    return { d, obs: backend, P: port, k, serviceId: svc.id, dataDir, host: (c, x) => `127.${k}.${c}.${x}` };
  }
}

async function stopDaemon(d: TestDaemon): Promise<void> {
  daemons.delete(d);
  await d.stop();
}

/** creates a gateway endpoint to obs in vpc-client and waits until it is accepted */
async function gatewayEndpoint(w: World, extra: Record<string, unknown> = {}): Promise<any> {
  const r = await w.d.consumer.post('/vpc-endpoints', { endpoint_service_id: w.serviceId, vpc_id: 'vpc-client', ...extra });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return waitFor(async () => {
    const e = await w.d.consumer.get(`/vpc-endpoints/${r.body.id}`);
    return e.body.status === 'accepted' ? e.body : null;
  }, 5_000, 'gateway endpoint accepted');
}

async function table(api: ApiClient, id: string): Promise<any> {
  const r = await api.get(`/routetables/${id}`);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.routetable;
}

async function changeRoutes(api: ApiClient, id: string, routes: { add?: unknown[]; del?: unknown[] }): Promise<{ status: number; body: any }> {
  return api.put(`/routetables/${id}`, { routetable: { routes } });
}

const endpointRoute = (endpointId: string) => ({ destination: 'pl-obs', type: 'gateway_endpoint', nexthop: endpointId, owner: 'endpoint' });
const endpointRoutesOf = (t: any) => t.routes.filter((r: any) => r.type === 'gateway_endpoint');
const expectError = (r: { status: number; body: any }, status: number, code: string) => {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  expect(r.body.error_code, JSON.stringify(r.body)).toBe(code);
};

/** deletes every user route of the caller's tables */
async function clearUserRoutes(api: ApiClient): Promise<void> {
  for (const t of (await api.get('/routetables')).body.routetables) {
    const del = t.routes.filter((r: any) => r.owner === 'user').map((r: any) => ({ destination: r.destination }));
    if (del.length) expect((await changeRoutes(api, t.id, { del })).status).toBe(200);
  }
}

/** deletes every endpoint of the caller */
async function deleteEndpoints(api: ApiClient): Promise<void> {
  for (const e of (await api.get('/vpc-endpoints')).body.endpoints) expect((await api.delete(`/vpc-endpoints/${e.id}`)).status).toBe(204);
}

const ALLOW_ALL = { Effect: 'Allow', Action: ['*'], Resource: ['*'] };
const DENY_50 = { Effect: 'Deny', Action: ['*'], Resource: ['*'], Condition: { IpAddress: { 'vpcep:SourceIp': ['10.0.1.50/32'] } } };

// =================================================================================================

describe('the route-table API', () => {
  let w: World;
  beforeAll(async () => { w = await startWorld(); });
  afterEach(async () => {
    await deleteEndpoints(w.d.consumer);
    await clearUserRoutes(w.d.consumer);
  });

  it('GET /routetables lists the caller\'s tables in the Huawei shape; every VPC\'s default table has its local route', async () => {
    const r = await w.d.consumer.get('/routetables');
    expect(r.status).toBe(200);
    expect(Object.keys(r.body)).toEqual(['routetables']);
    const byId = new Map<string, any>(r.body.routetables.map((t: any) => [t.id, t]));
    expect([...byId.keys()].filter((id) => !id.startsWith('rtb-')).length).toBe(1); // vpc-bare's generated default table
    expect(byId.get('rtb-main')).toEqual({ id: 'rtb-main', vpc_id: 'vpc-client', default: true, subnets: [], routes: [LOCAL_ROUTE] });
    expect(byId.get('rtb-a')).toEqual({
      id: 'rtb-a', vpc_id: 'vpc-client', default: false, subnets: [{ id: 'subnet-a' }], routes: [LOCAL_ROUTE, CONFIG_ROUTE],
    });
    expect(byId.get('rtb-second')).toEqual({
      id: 'rtb-second', vpc_id: 'vpc-second', default: true, subnets: [],
      routes: [{ destination: '10.1.0.0/16', type: 'local', nexthop: null, owner: 'system' }],
    });
    expect(byId.has('rtb-prov')).toBe(false);
    for (const vpc of [{ id: 'vpc-client', cidr: '10.0.0.0/16' }, { id: 'vpc-second', cidr: '10.1.0.0/16' }, { id: 'vpc-bare', cidr: '10.2.0.0/16' }]) {
      const defaults = r.body.routetables.filter((t: any) => t.vpc_id === vpc.id && t.default);
      expect(defaults, vpc.id).toHaveLength(1);
      expect(defaults[0].routes, vpc.id).toContainEqual({ destination: vpc.cidr, type: 'local', nexthop: null, owner: 'system' });
    }
    expect(r.body.routetables).toHaveLength(4);
    // ?vpc_id= filters
    const one = await w.d.consumer.get('/routetables?vpc_id=vpc-client');
    expect(one.body.routetables.map((t: any) => t.id).sort()).toEqual(['rtb-a', 'rtb-main']);
    // The provider sees its own table only.
    const p = await w.d.provider.get('/routetables');
    expect(p.body).toEqual({ routetables: [{ id: 'rtb-prov', vpc_id: 'vpc-prov', default: true, subnets: [], routes: [{ destination: '192.168.0.0/16', type: 'local', nexthop: null, owner: 'system' }] }] });
  });

  it('GET /routetables/{id}: {"routetable": ...}; unknown or another account\'s table -> 404 EndPoint.4030', async () => {
    const r = await w.d.consumer.get('/routetables/rtb-a');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ routetable: { id: 'rtb-a', vpc_id: 'vpc-client', default: false, subnets: [{ id: 'subnet-a' }], routes: [LOCAL_ROUTE, CONFIG_ROUTE] } });
    expectError(await w.d.consumer.get('/routetables/rtb-nope'), 404, 'EndPoint.4030');
    expectError(await w.d.consumer.get('/routetables/rtb-prov'), 404, 'EndPoint.4030');
    expectError(await changeRoutes(w.d.consumer, 'rtb-prov', { add: [{ destination: '0.0.0.0/0', type: 'igw' }] }), 404, 'EndPoint.4030');
    expectError(await changeRoutes(w.d.consumer, 'rtb-nope', { add: [{ destination: '0.0.0.0/0', type: 'igw' }] }), 404, 'EndPoint.4030');
    expect(await table(w.d.provider, 'rtb-prov')).toEqual({ id: 'rtb-prov', vpc_id: 'vpc-prov', default: true, subnets: [], routes: [{ destination: '192.168.0.0/16', type: 'local', nexthop: null, owner: 'system' }] });
  });

  it('PUT /routetables/{id} adds and deletes user routes (igw, blackhole)', async () => {
    const r = await changeRoutes(w.d.consumer, 'rtb-main', {
      add: [{ destination: '0.0.0.0/0', type: 'igw', nexthop: 'igw-1' }, { destination: '100.125.0.10/32', type: 'blackhole' }],
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toEqual({
      routetable: {
        id: 'rtb-main', vpc_id: 'vpc-client', default: true, subnets: [],
        routes: [
          LOCAL_ROUTE,
          { destination: '0.0.0.0/0', type: 'igw', nexthop: 'igw-1', owner: 'user' },
          { destination: '100.125.0.10/32', type: 'blackhole', nexthop: null, owner: 'user' },
        ],
      },
    });
    expect(await table(w.d.consumer, 'rtb-main')).toEqual(r.body.routetable);
    const del = await changeRoutes(w.d.consumer, 'rtb-main', { del: [{ destination: '100.125.0.10/32' }] });
    expect(del.status).toBe(200);
    expect(del.body.routetable.routes).toEqual([LOCAL_ROUTE, { destination: '0.0.0.0/0', type: 'igw', nexthop: 'igw-1', owner: 'user' }]);
    // del and add in one call: a route's target changes
    const swap = await changeRoutes(w.d.consumer, 'rtb-main', { del: [{ destination: '0.0.0.0/0' }], add: [{ destination: '0.0.0.0/0', type: 'blackhole' }] });
    expect(swap.status, JSON.stringify(swap.body)).toBe(200);
    expect(swap.body.routetable.routes).toEqual([LOCAL_ROUTE, { destination: '0.0.0.0/0', type: 'blackhole', nexthop: null, owner: 'user' }]);
    expect((await changeRoutes(w.d.consumer, 'rtb-main', { del: [{ destination: '0.0.0.0/0' }] })).status).toBe(200);
    expect(await table(w.d.consumer, 'rtb-main')).toEqual({ id: 'rtb-main', vpc_id: 'vpc-client', default: true, subnets: [], routes: [LOCAL_ROUTE] });
  });

  it('bad user routes are refused and change nothing', async () => {
    const cases: Array<[unknown, number, string]> = [
      [{ add: [{ destination: '0.0.0.0/0', type: 'nat' }] }, 400, 'EndPoint.0002'],
      [{ add: [{ destination: '10.0.0.1/16', type: 'igw' }] }, 400, 'EndPoint.0002'], // host bits set
      [{ add: [{ destination: 'not-a-cidr', type: 'igw' }] }, 400, 'EndPoint.0002'],
      [{ add: [{ destination: '0.0.0.0/0', type: 'igw' }, { destination: '0.0.0.0/0', type: 'blackhole' }] }, 400, 'EndPoint.0002'], // twice
      [{ del: [{ destination: '203.0.113.0/24' }] }, 400, 'EndPoint.0002'], // no such route
      [{ add: [{ destination: '10.0.3.0/24', type: 'blackhole' }] }, 400, 'EndPoint.0002'], // inside the VPC: interface and instance targets only
      // the local route and routes from the config file are not the API's (EndPoint.2040)
      [{ add: [{ destination: '10.0.0.0/16', type: 'igw' }] }, 400, 'EndPoint.2040'],
      [{ add: [{ destination: '10.0.0.0/16', type: 'local' }] }, 400, 'EndPoint.2040'],
      [{ del: [{ destination: '10.0.0.0/16' }] }, 400, 'EndPoint.2040'],
      [{ add: [{ destination: '198.51.100.0/24', type: 'igw' }] }, 400, 'EndPoint.2040'],
      [{ del: [{ destination: '198.51.100.0/24' }] }, 400, 'EndPoint.2040'],
      // a valid add before a bad one: the whole change is refused
      [{ add: [{ destination: '0.0.0.0/0', type: 'igw' }], del: [{ destination: '10.0.0.0/16' }] }, 400, 'EndPoint.2040'],
    ];
    for (const [routes, status, code] of cases) {
      const r = await w.d.consumer.put('/routetables/rtb-a', { routetable: { routes } });
      expect(r.status, JSON.stringify(routes)).toBe(status);
      expect(r.body.error_code, `${JSON.stringify(routes)} -> ${JSON.stringify(r.body)}`).toBe(code);
    }
    expect(await table(w.d.consumer, 'rtb-a')).toEqual({ id: 'rtb-a', vpc_id: 'vpc-client', default: false, subnets: [{ id: 'subnet-a' }], routes: [LOCAL_ROUTE, CONFIG_ROUTE] });
  });

  it('a gateway endpoint injects its route into its route tables; PUT routetables adds and removes them; delete removes them', async () => {
    const e = await gatewayEndpoint(w, { routetables: ['rtb-a'] });
    expect(e).toMatchObject({ service_type: 'gateway', status: 'accepted', vpc_id: 'vpc-client', routetables: ['rtb-a'], policy_statement: null, ip: null, subnet_id: null });
    expect(await table(w.d.consumer, 'rtb-a')).toEqual({
      id: 'rtb-a', vpc_id: 'vpc-client', default: false, subnets: [{ id: 'subnet-a' }], routes: [LOCAL_ROUTE, CONFIG_ROUTE, endpointRoute(e.id)],
    });
    expect((await table(w.d.consumer, 'rtb-main')).routes).toEqual([LOCAL_ROUTE]);

    const both = await w.d.consumer.put(`/vpc-endpoints/${e.id}/routetables`, { routetables: ['rtb-a', 'rtb-main'] });
    expect(both.status, JSON.stringify(both.body)).toBe(200);
    expect(both.body.routetables).toEqual(['rtb-a', 'rtb-main']);
    expect(endpointRoutesOf(await table(w.d.consumer, 'rtb-a'))).toEqual([endpointRoute(e.id)]);
    expect((await table(w.d.consumer, 'rtb-main')).routes).toEqual([LOCAL_ROUTE, endpointRoute(e.id)]);

    const main = await w.d.consumer.put(`/vpc-endpoints/${e.id}/routetables`, { routetables: ['rtb-main'] });
    expect(main.status).toBe(200);
    expect(main.body.routetables).toEqual(['rtb-main']);
    expect((await table(w.d.consumer, 'rtb-a')).routes).toEqual([LOCAL_ROUTE, CONFIG_ROUTE]);
    expect((await table(w.d.consumer, 'rtb-main')).routes).toEqual([LOCAL_ROUTE, endpointRoute(e.id)]);
    expect((await w.d.consumer.get(`/vpc-endpoints/${e.id}`)).body.routetables).toEqual(['rtb-main']);

    // The endpoint's route is not the route-table API's to change (EndPoint.2040).
    expectError(await changeRoutes(w.d.consumer, 'rtb-main', { del: [{ destination: 'pl-obs' }] }), 400, 'EndPoint.2040');
    expectError(await changeRoutes(w.d.consumer, 'rtb-main', { add: [{ destination: 'pl-obs', type: 'gateway_endpoint', nexthop: e.id }] }), 400, 'EndPoint.2040');
    expectError(await changeRoutes(w.d.consumer, 'rtb-a', { add: [{ destination: '100.125.0.0/24', type: 'gateway_endpoint', nexthop: e.id }] }), 400, 'EndPoint.2040');
    expect((await table(w.d.consumer, 'rtb-main')).routes).toEqual([LOCAL_ROUTE, endpointRoute(e.id)]);

    const del = await w.d.consumer.delete(`/vpc-endpoints/${e.id}`);
    expect(del.status).toBe(204);
    const all = (await w.d.consumer.get('/routetables')).body.routetables;
    expect(all.flatMap(endpointRoutesOf)).toEqual([]);
    expect((await table(w.d.consumer, 'rtb-main')).routes).toEqual([LOCAL_ROUTE]);
  });

  it('an endpoint created with several tables (a repeat counts once) has one route in each', async () => {
    const e = await gatewayEndpoint(w, { routetables: ['rtb-a', 'rtb-main', 'rtb-a'] });
    expect(e.routetables).toEqual(['rtb-a', 'rtb-main']);
    expect((await table(w.d.consumer, 'rtb-a')).routes).toEqual([LOCAL_ROUTE, CONFIG_ROUTE, endpointRoute(e.id)]);
    expect((await table(w.d.consumer, 'rtb-main')).routes).toEqual([LOCAL_ROUTE, endpointRoute(e.id)]);
    // an endpoint of another VPC of the same account uses that VPC's tables only
    const other = await w.d.consumer.post('/vpc-endpoints', { endpoint_service_id: w.serviceId, vpc_id: 'vpc-second' });
    expect(other.status, JSON.stringify(other.body)).toBe(200);
    expect(other.body.routetables).toEqual(['rtb-second']);
    expect((await table(w.d.consumer, 'rtb-second')).routes).toEqual([
      { destination: '10.1.0.0/16', type: 'local', nexthop: null, owner: 'system' }, endpointRoute(other.body.id),
    ]);
    expect((await table(w.d.consumer, 'rtb-main')).routes).toEqual([LOCAL_ROUTE, endpointRoute(e.id)]);
  });

  it('no routetables given: the VPC\'s default table', async () => {
    const e = await gatewayEndpoint(w);
    expect(e.routetables).toEqual(['rtb-main']);
    expect((await table(w.d.consumer, 'rtb-main')).routes).toEqual([LOCAL_ROUTE, endpointRoute(e.id)]);
    expect(endpointRoutesOf(await table(w.d.consumer, 'rtb-a'))).toEqual([]);
    expect((await w.d.consumer.delete(`/vpc-endpoints/${e.id}`)).status).toBe(204);
    expect((await table(w.d.consumer, 'rtb-main')).routes).toEqual([LOCAL_ROUTE]);
  });

  it('one endpoint route per service per table (EndPoint.2039, 409); bad tables: 404 EndPoint.4030, another VPC\'s 400 EndPoint.1019', async () => {
    const first = await gatewayEndpoint(w, { routetables: ['rtb-a'] });
    const body = { endpoint_service_id: w.serviceId, vpc_id: 'vpc-client' };
    expectError(await w.d.consumer.post('/vpc-endpoints', { ...body, routetables: ['rtb-a'] }), 409, 'EndPoint.2039');
    expectError(await w.d.consumer.post('/vpc-endpoints', { ...body, routetables: ['rtb-main', 'rtb-a'] }), 409, 'EndPoint.2039');
    expectError(await w.d.consumer.post('/vpc-endpoints', { ...body, routetables: ['rtb-nope'] }), 404, 'EndPoint.4030');
    expectError(await w.d.consumer.post('/vpc-endpoints', { ...body, routetables: ['rtb-second'] }), 400, 'EndPoint.1019');
    expect((await w.d.consumer.get('/vpc-endpoints')).body.total_count).toBe(1);

    const second = await gatewayEndpoint(w, { routetables: ['rtb-main'] });
    expectError(await w.d.consumer.put(`/vpc-endpoints/${second.id}/routetables`, { routetables: ['rtb-main', 'rtb-a'] }), 409, 'EndPoint.2039');
    expectError(await w.d.consumer.put(`/vpc-endpoints/${second.id}/routetables`, { routetables: ['rtb-nope'] }), 404, 'EndPoint.4030');
    expectError(await w.d.consumer.put(`/vpc-endpoints/${second.id}/routetables`, { routetables: ['rtb-second'] }), 400, 'EndPoint.1019');
    // nothing changed
    expect((await w.d.consumer.get(`/vpc-endpoints/${second.id}`)).body.routetables).toEqual(['rtb-main']);
    expect((await w.d.consumer.get(`/vpc-endpoints/${first.id}`)).body.routetables).toEqual(['rtb-a']);
    expect(endpointRoutesOf(await table(w.d.consumer, 'rtb-a'))).toEqual([endpointRoute(first.id)]);
    expect(endpointRoutesOf(await table(w.d.consumer, 'rtb-main'))).toEqual([endpointRoute(second.id)]);
    // the same table again for the same endpoint is no conflict
    const same = await w.d.consumer.put(`/vpc-endpoints/${first.id}/routetables`, { routetables: ['rtb-a'] });
    expect(same.status).toBe(200);
    expect(same.body.routetables).toEqual(['rtb-a']);
    // once the first endpoint is gone, its table is free for the second
    expect((await w.d.consumer.delete(`/vpc-endpoints/${first.id}`)).status).toBe(204);
    const moved = await w.d.consumer.put(`/vpc-endpoints/${second.id}/routetables`, { routetables: ['rtb-main', 'rtb-a'] });
    expect(moved.status, JSON.stringify(moved.body)).toBe(200);
    expect(endpointRoutesOf(await table(w.d.consumer, 'rtb-a'))).toEqual([endpointRoute(second.id)]);
    expect((await w.d.consumer.delete(`/vpc-endpoints/${second.id}`)).status).toBe(204);
    expect((await w.d.consumer.get('/routetables')).body.routetables.flatMap(endpointRoutesOf)).toEqual([]);
  });

  it('another account\'s route table does not exist for the caller\'s endpoint: 404 EndPoint.4030, as for GET /routetables/{id}', async () => {
    const body = { endpoint_service_id: w.serviceId, vpc_id: 'vpc-client' };
    expectError(await w.d.consumer.post('/vpc-endpoints', { ...body, routetables: ['rtb-prov'] }), 404, 'EndPoint.4030');
    expect((await w.d.consumer.get('/vpc-endpoints')).body.total_count).toBe(0);
    const e = await gatewayEndpoint(w, { routetables: ['rtb-a'] });
    expectError(await w.d.consumer.put(`/vpc-endpoints/${e.id}/routetables`, { routetables: ['rtb-prov'] }), 404, 'EndPoint.4030');
    expect((await w.d.consumer.get(`/vpc-endpoints/${e.id}`)).body.routetables).toEqual(['rtb-a']);
  });

  it('another account cannot change a gateway endpoint\'s tables or policy (404 EndPoint.2006)', async () => {
    const e = await gatewayEndpoint(w, { routetables: ['rtb-a'] });
    expectError(await w.d.provider.put(`/vpc-endpoints/${e.id}/routetables`, { routetables: ['rtb-prov'] }), 404, 'EndPoint.2006');
    expectError(await w.d.provider.put(`/vpc-endpoints/${e.id}/policy`, { policy_statement: [ALLOW_ALL] }), 404, 'EndPoint.2006');
    expect((await w.d.consumer.get(`/vpc-endpoints/${e.id}`)).body).toMatchObject({ routetables: ['rtb-a'], policy_statement: null });
    expect((await w.d.consumer.delete(`/vpc-endpoints/${e.id}`)).status).toBe(204);
  });
});

// =================================================================================================

describe('forwarding over real sockets', () => {
  let w: World;
  let endpoint: any;
  beforeAll(async () => {
    w = await startWorld();
    endpoint = await gatewayEndpoint(w, { routetables: ['rtb-a'] });
  });

  it('a client in subnet-a reaches the service through the endpoint; the backend sees its private (host) address', async () => {
    expect(await request(w.host(1, 50), SERVICE_IP, w.P)).toEqual(relayedFrom(w.host(1, 50)));
    // every address of the prefix list serves
    expect(await request(w.host(1, 50), '127.255.0.255', w.P)).toEqual(relayedFrom(w.host(1, 50)));
    expect(await request(w.host(1, 7), '127.255.0.0', w.P)).toEqual(relayedFrom(w.host(1, 7)));
  });

  it('a client in subnet-b (rtb-main, no route) is refused with a reset', async () => {
    const before = w.obs.remotes.length;
    expect(await request(w.host(2, 20), SERVICE_IP, w.P)).toEqual(RESET);
    expect(w.obs.remotes.length).toBe(before);
  });

  it('a client outside every VPC reaches the service as internet traffic', async () => {
    expect(await request('127.0.0.1', SERVICE_IP, w.P)).toEqual(relayedFrom('127.0.0.1'));
    expect(await request(undefined, SERVICE_IP, w.P)).toEqual(relayedFrom('127.0.0.1'));
  });

  it('with 0.0.0.0/0 -> igw in rtb-main, subnet-b reaches the service as internet traffic; subnet-a still through the endpoint', async () => {
    const r = await changeRoutes(w.d.consumer, 'rtb-main', { add: [{ destination: '0.0.0.0/0', type: 'igw' }] });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(await request(w.host(2, 20), SERVICE_IP, w.P)).toEqual(relayedFrom('127.0.0.1'));
    expect(await request(w.host(1, 50), SERVICE_IP, w.P)).toEqual(relayedFrom(w.host(1, 50)));
    expect((await changeRoutes(w.d.consumer, 'rtb-main', { del: [{ destination: '0.0.0.0/0' }] })).status).toBe(200);
    expect(await request(w.host(2, 20), SERVICE_IP, w.P)).toEqual(RESET);
  });

  it('clients of other VPCs without routes, and a client in no subnet, are refused', async () => {
    const second = w.d.daemon.control.routing().vpcs.get('vpc-second')!.number;
    const prov = w.d.daemon.control.routing().vpcs.get('vpc-prov')!.number;
    expect(await request(`127.${second}.1.50`, SERVICE_IP, w.P)).toEqual(RESET);
    expect(await request(`127.${prov}.1.50`, SERVICE_IP, w.P)).toEqual(RESET);
    expect(await request(w.host(9, 9), SERVICE_IP, w.P)).toEqual(RESET); // 10.0.9.9: in vpc-client, in no subnet
  });

  it('a port the service does not have: refused', async () => {
    const Q = w.P === 40_000 ? w.P - 1 : w.P + 1;
    expect(await request(w.host(1, 50), SERVICE_IP, Q)).toEqual(REFUSED);
  });

  it('deleting the endpoint cuts its live connections and its route: subnet-a has no route any more', async () => {
    // (kept last in this group)
    const held = await hold(w.host(1, 40), SERVICE_IP, w.P);
    const t0 = performance.now();
    expect((await w.d.consumer.delete(`/vpc-endpoints/${endpoint.id}`)).status).toBe(204);
    const t1 = performance.now();
    const closed = await Promise.race([held.closed, sleep(t1 - t0 + 1_100).then(() => null)]);
    expect(closed, 'the held connection survived the endpoint').not.toBeNull();
    expect(closed!.at - t1).toBeLessThanOrEqual(100);
    expect(await request(w.host(1, 50), SERVICE_IP, w.P)).toEqual(RESET);
    expect(await metric(w.d.url, 'vpcep_endpoint_active_connections', { endpoint_id: endpoint.id })).toBeUndefined();
  });
});

describe('metrics of the gateway path', () => {
  it('vpcep_endpoint_connections_total counts the endpoint\'s connections; vpcep_route_decisions_total counts gateway_endpoint, igw and none exactly', async () => {
    const w = await startWorld();
    const e = await gatewayEndpoint(w, { routetables: ['rtb-a'] });
    const threadsBefore = (await metricValue(w.d.url, 'vpcep_relay_fast_accepted_total')) ?? 0;
    for (const x of [50, 51, 52]) expect(await request(w.host(1, x), SERVICE_IP, w.P)).toEqual(relayedFrom(w.host(1, x)));
    for (const x of [20, 21]) expect(await request(w.host(2, x), SERVICE_IP, w.P)).toEqual(RESET);
    expect(await request('127.0.0.1', SERVICE_IP, w.P)).toEqual(relayedFrom('127.0.0.1'));
    expect((await changeRoutes(w.d.consumer, 'rtb-main', { add: [{ destination: '0.0.0.0/0', type: 'igw' }] })).status).toBe(200);
    expect(await request(w.host(2, 20), SERVICE_IP, w.P)).toEqual(relayedFrom('127.0.0.1'));
    expect(await decisions(w.d.url)).toEqual({ gateway_endpoint: 3, igw: 2, none: 2 });
    // a blackhole is a decision of its own
    expect((await changeRoutes(w.d.consumer, 'rtb-a', { add: [{ destination: '100.125.0.10/32', type: 'blackhole' }] })).status).toBe(200);
    expect(await request(w.host(1, 50), SERVICE_IP, w.P)).toEqual(RESET);

    expect(await metric(w.d.url, 'vpcep_endpoint_connections_total', { endpoint_id: e.id })).toBe(3);
    expect(await decisions(w.d.url)).toEqual({ gateway_endpoint: 3, igw: 2, none: 2, blackhole: 1 });
    // issue 16: with the native relay the threads decided every one of the 8 (routed, relayed or refused), not the event loop
    if (THREADS) expect((await metricValue(w.d.url, 'vpcep_relay_fast_accepted_total'))! - threadsBefore).toBe(8);
    expect(await metric(w.d.url, 'vpcep_endpoint_active_connections', { endpoint_id: e.id })).toBe(0);
    await stopDaemon(w.d);
  });
});

describe('metrics of the internet path', () => {
  it('internet-path connections through gateway services appear in metrics: vpcep_internet_connections_total, _active_connections, _bytes_total{direction}', async () => {
    const w = await startWorld();
    const internet = async () => ({
      connections: await metric(w.d.url, 'vpcep_internet_connections_total'),
      active: await metric(w.d.url, 'vpcep_internet_active_connections'),
      received: await metric(w.d.url, 'vpcep_internet_bytes_total', { direction: 'received' }),
      sent: await metric(w.d.url, 'vpcep_internet_bytes_total', { direction: 'sent' }),
    });
    expect(await internet()).toEqual({ connections: 0, active: 0, received: 0, sent: 0 });
    const REQUEST = 'GET /bucket/object HTTP/1.1\r\nHost: obs\r\nConnection: close\r\n\r\n';
    // a client outside every VPC, and a VPC client whose route is igw
    expect(await request('127.0.0.1', SERVICE_IP, w.P)).toEqual(relayedFrom('127.0.0.1'));
    expect((await changeRoutes(w.d.consumer, 'rtb-main', { add: [{ destination: '0.0.0.0/0', type: 'igw' }] })).status).toBe(200);
    expect(await request(w.host(2, 20), SERVICE_IP, w.P)).toEqual(relayedFrom('127.0.0.1'));
    // through a gateway endpoint: the endpoint's series, not the internet's
    const e = await gatewayEndpoint(w, { routetables: ['rtb-a'] });
    expect(await request(w.host(1, 50), SERVICE_IP, w.P)).toEqual(relayedFrom(w.host(1, 50)));
    const held = await hold('127.0.0.1', SERVICE_IP, w.P);
    const during = await internet();
    expect(during.connections).toBe(3);
    expect(during.active).toBe(1);
    expect(during.received).toBe(2 * REQUEST.length + 'GET /held HTTP/1.1\r\nHost: obs\r\n\r\n'.length); // live bytes included
    expect(during.sent).toBeGreaterThan(0);
    expect(await metric(w.d.url, 'vpcep_endpoint_connections_total', { endpoint_id: e.id })).toBe(1);
    held.socket.destroy();
    await waitFor(async () => (await metric(w.d.url, 'vpcep_internet_active_connections')) === 0, 2_000, 'the held connection closed');
    const after = await internet();
    expect(after.connections).toBe(3);
    expect(after.received).toBe(during.received);
    expect(after.sent).toBe(during.sent);
    await stopDaemon(w.d);
  });

  it('a burst of routed connections held past the connect timeout: each stays open and answers again, none failed as backend_timeout', async () => {
    // On the relay threads a routed connection's opened event went out at once but its connected
    // one through the outbox, which an earlier batch's delivery could take first: TypeScript
    // dropped it, and at the connect deadline cut the connection, relaying, as backend_timeout
    // (46 of a burst of 50 in one run).
    const backend = await startObs();
    const P = randomPort();
    const d = await startTestDaemon({ ...gatewayConfig(P, backend.port), dataplane: { backend_connect_timeout_ms: 300 } });
    daemons.add(d);
    const held = await Promise.all(Array.from({ length: 50 }, () => hold('127.0.0.1', SERVICE_IP, P)));
    await sleep(1_200);
    expect(held.filter((h) => h.socket.destroyed)).toHaveLength(0);
    for (const h of held) expect(await askAgain(h.socket)).toBe('200 127.0.0.1');
    expect(await metric(d.url, 'vpcep_rejected_connections_total', { reason: 'backend_timeout' }) ?? 0).toBe(0);
    expect(await metric(d.url, 'vpcep_internet_active_connections')).toBe(50);
    for (const h of held) h.socket.destroy();
    await waitFor(async () => (await metric(d.url, 'vpcep_internet_active_connections')) === 0, 3_000, 'the held connections closed');
    await stopDaemon(d);
  });
});

// =================================================================================================

describe('endpoint policies', () => {
  let w: World;
  let e: any;
  beforeAll(async () => {
    w = await startWorld();
    e = await gatewayEndpoint(w, { routetables: ['rtb-a'] });
  });

  it('Allow * plus Deny vpcep:SourceIp 10.0.1.50/32: .50 is reset and counted (reason policy), .51 is relayed', async () => {
    const r = await w.d.consumer.put(`/vpc-endpoints/${e.id}/policy`, { policy_statement: [ALLOW_ALL, DENY_50] });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.policy_statement).toEqual([ALLOW_ALL, DENY_50]);
    expect((await w.d.consumer.get(`/vpc-endpoints/${e.id}`)).body.policy_statement).toEqual([ALLOW_ALL, DENY_50]);

    // the policy's first connection is a refusal: it is counted all the same
    expect(await request(w.host(1, 50), SERVICE_IP, w.P)).toEqual(RESET);
    expect(await metric(w.d.url, 'vpcep_endpoint_rejected_connections_total', { endpoint_id: e.id, reason: 'policy' })).toBe(1);
    expect(await request(w.host(1, 51), SERVICE_IP, w.P)).toEqual(relayedFrom(w.host(1, 51)));
    expect(await request(w.host(1, 50), SERVICE_IP, w.P)).toEqual(RESET);
    expect(await metric(w.d.url, 'vpcep_endpoint_rejected_connections_total', { endpoint_id: e.id, reason: 'policy' })).toBe(2);
    expect(await metric(w.d.url, 'vpcep_endpoint_connections_total', { endpoint_id: e.id })).toBe(1);
  });

  it('policy_statement null removes the policy: .50 is relayed again; the deny is put back', async () => {
    const r = await w.d.consumer.put(`/vpc-endpoints/${e.id}/policy`, { policy_statement: null });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect((await w.d.consumer.get(`/vpc-endpoints/${e.id}`)).body.policy_statement).toBeNull();
    expect(await request(w.host(1, 50), SERVICE_IP, w.P)).toEqual(relayedFrom(w.host(1, 50)));
    expect((await w.d.consumer.put(`/vpc-endpoints/${e.id}/policy`, { policy_statement: [ALLOW_ALL, DENY_50] })).status).toBe(200);
    expect(await request(w.host(1, 50), SERVICE_IP, w.P)).toEqual(RESET);
  });

  it('a Deny of another service\'s actions or resources refuses no connection through this (obs) endpoint; one of obs:* refuses every one', async () => {
    for (const deny of [{ Effect: 'Deny', Action: ['ec2:*'], Resource: ['*'] }, { Effect: 'Deny', Action: ['*'], Resource: ['arn:aws:dynamodb:us-east-1:111111111111:*'] }]) {
      expect((await w.d.consumer.put(`/vpc-endpoints/${e.id}/policy`, { policy_statement: [ALLOW_ALL, deny] })).status).toBe(200);
      expect(await request(w.host(1, 50), SERVICE_IP, w.P)).toEqual(relayedFrom(w.host(1, 50)));
    }
    expect((await w.d.consumer.put(`/vpc-endpoints/${e.id}/policy`, { policy_statement: [ALLOW_ALL, { Effect: 'Deny', Action: ['obs:*'], Resource: ['*'] }] })).status).toBe(200);
    expect(await request(w.host(1, 50), SERVICE_IP, w.P)).toEqual(RESET);
    expect((await w.d.consumer.put(`/vpc-endpoints/${e.id}/policy`, { policy_statement: [ALLOW_ALL, DENY_50] })).status).toBe(200);
  });

  it('the backend never sees a refused client; each refusal adds one to the policy counter', async () => {
    expect(await request(w.host(1, 51), SERVICE_IP, w.P)).toEqual(relayedFrom(w.host(1, 51)));
    const before = [...w.obs.remotes];
    const counted = await metric(w.d.url, 'vpcep_endpoint_rejected_connections_total', { endpoint_id: e.id, reason: 'policy' }) ?? 0;
    const admitted = await metric(w.d.url, 'vpcep_endpoint_connections_total', { endpoint_id: e.id });
    expect(await request(w.host(1, 50), SERVICE_IP, w.P)).toEqual(RESET);
    expect(await request(w.host(1, 50), SERVICE_IP, w.P)).toEqual(RESET);
    expect(await metric(w.d.url, 'vpcep_endpoint_rejected_connections_total', { endpoint_id: e.id, reason: 'policy' })).toBe(counted + 2);
    expect(await request(w.host(1, 51), SERVICE_IP, w.P)).toEqual(relayedFrom(w.host(1, 51)));
    expect(w.obs.remotes).toEqual([...before, w.host(1, 51)]);
    expect(await metric(w.d.url, 'vpcep_endpoint_connections_total', { endpoint_id: e.id })).toBe(admitted! + 1);
  });

  it('an invalid policy: 400 EndPoint.2048 and nothing changes', async () => {
    const bad: unknown[] = [
      [{ Effect: 'Maybe', Action: '*', Resource: '*' }],
      [],
      'Allow',
      [{ Effect: 'Allow', Action: '*', Resource: '*', Condition: { IpAddress: { 'aws:PrincipalArn': 'x' } } }],
      [{ Effect: 'Allow', Action: '*', Resource: '*', Condition: { IpAddress: { 'vpcep:SourceIp': '10.0.1.300' } } }],
      [{ Effect: 'Allow', NotAction: '*', Resource: '*' }],
    ];
    for (const policy of bad) {
      const r = await w.d.consumer.put(`/vpc-endpoints/${e.id}/policy`, { policy_statement: policy });
      expectError(r, 400, 'EndPoint.2048');
    }
    expect((await w.d.consumer.get(`/vpc-endpoints/${e.id}`)).body.policy_statement).toEqual([ALLOW_ALL, DENY_50]);
    expect(await request(w.host(1, 50), SERVICE_IP, w.P)).toEqual(RESET);
    expect(await request(w.host(1, 51), SERVICE_IP, w.P)).toEqual(relayedFrom(w.host(1, 51)));
    // an invalid policy at creation: no endpoint
    const before = (await w.d.consumer.get('/vpc-endpoints')).body.total_count;
    expectError(await w.d.consumer.post('/vpc-endpoints', {
      endpoint_service_id: w.serviceId, vpc_id: 'vpc-client', routetables: ['rtb-main'], policy_statement: [{ Effect: 'Allow' }],
    }), 400, 'EndPoint.2048');
    expect((await w.d.consumer.get('/vpc-endpoints')).body.total_count).toBe(before);
  });

  it('the endpoint JSON returns policy_statement in normalised form', async () => {
    const r = await w.d.consumer.put(`/vpc-endpoints/${e.id}/policy`, {
      policy_statement: [{ Sid: 'only50', Effect: 'Allow', Action: 'obs:*:*', Resource: 'obs:*:*:object:*', Condition: { IpAddress: { 'aws:VpcSourceIp': '10.0.1.50' } } }],
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const want = [{ Sid: 'only50', Effect: 'Allow', Action: ['obs:*:*'], Resource: ['obs:*:*:object:*'], Condition: { IpAddress: { 'vpcep:SourceIp': ['10.0.1.50/32'] } } }];
    expect(r.body.policy_statement).toEqual(want);
    expect((await w.d.consumer.get(`/vpc-endpoints/${e.id}`)).body.policy_statement).toEqual(want);
    const listed = (await w.d.consumer.get('/vpc-endpoints')).body.endpoints.find((x: any) => x.id === e.id);
    expect(listed.policy_statement).toEqual(want);
    // now only .50 passes (implicit deny for the others)
    expect(await request(w.host(1, 50), SERVICE_IP, w.P)).toEqual(relayedFrom(w.host(1, 50)));
    expect(await request(w.host(1, 51), SERVICE_IP, w.P)).toEqual(RESET);
  });
});

describe('policy fidelity with AWS (issue 10 item 16)', () => {
  it('aws:SourceIp through an endpoint never matches (the source is a private address): an Allow on it lets nothing through; aws:VpcSourceIp does', async () => {
    const w = await startWorld();
    const e = await gatewayEndpoint(w, { routetables: ['rtb-a'] });
    const put = (key: string) => w.d.consumer.put(`/vpc-endpoints/${e.id}/policy`, {
      policy_statement: [{ Effect: 'Allow', Principal: '*', Action: '*', Resource: '*', Condition: { IpAddress: { [key]: '10.0.1.0/24' } } }],
    });
    expect((await put('aws:SourceIp')).status).toBe(200);
    expect(await request(w.host(1, 50), SERVICE_IP, w.P)).toEqual(RESET);
    const t = await w.d.consumer.post('/trace', { vpc_id: 'vpc-client', source_ip: '10.0.1.50', destination_ip: '100.125.0.10', destination_port: w.P });
    expect(t.body.trace.policy.reason).toContain('aws:SourceIp is absent through an endpoint');
    expect((await put('aws:VpcSourceIp')).status).toBe(200);
    expect(await request(w.host(1, 50), SERVICE_IP, w.P)).toEqual(relayedFrom(w.host(1, 50)));
    await stopDaemon(w.d);
  });

  it('{"AWS": account id | arn:aws:iam::<id>:root} principals are accepted and matched against the client\'s account', async () => {
    const w = await startWorld();
    const e = await gatewayEndpoint(w, { routetables: ['rtb-a'] });
    const put = (aws: unknown) => w.d.consumer.put(`/vpc-endpoints/${e.id}/policy`, {
      policy_statement: [{ Effect: 'Allow', Principal: { AWS: aws }, Action: '*', Resource: '*' }],
    });
    // an AWS principal is an AWS account id, not a domain id (which was taken as that account)
    expectError(await put(`arn:aws:iam::${CONSUMER.domain_id}:root`), 400, 'EndPoint.2048');
    const r = await put(`arn:aws:iam::${w.d.daemon.control.awsIdOf(CONSUMER.name)}:root`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.policy_statement[0].Principal).toEqual({ ID: [CONSUMER.domain_id] });
    expect(await request(w.host(1, 50), SERVICE_IP, w.P)).toEqual(relayedFrom(w.host(1, 50)));
    expect((await put([w.d.daemon.control.awsIdOf(PROVIDER.name)])).status).toBe(200);
    expect(await request(w.host(1, 50), SERVICE_IP, w.P)).toEqual(RESET);
    expectError(await put('arn:aws:iam::123456789012:user/alice'), 400, 'EndPoint.2048');
    await stopDaemon(w.d);
  });

  it('a whitelist PUT on a gateway endpoint is refused as create refuses it (400 EndPoint.0002), and changes nothing', async () => {
    const w = await startWorld();
    const e = await gatewayEndpoint(w, { routetables: ['rtb-a'] });
    const created = await w.d.consumer.post('/vpc-endpoints', { endpoint_service_id: w.serviceId, vpc_id: 'vpc-client', routetables: ['rtb-main'], whitelist: ['10.0.1.0/24'] });
    expectError(created, 400, 'EndPoint.0002');
    for (const body of [{ whitelist: ['10.0.1.0/24'] }, { enable_whitelist: true }]) {
      const r = await w.d.consumer.put(`/vpc-endpoints/${e.id}`, body);
      expectError(r, 400, 'EndPoint.0002');
      expect(r.body.error_msg).toBe(created.body.error_msg.replace('whitelist', Object.keys(body)[0]!));
    }
    const after = (await w.d.consumer.get(`/vpc-endpoints/${e.id}`)).body;
    expect([after.whitelist, after.enable_whitelist]).toEqual([[], false]);
    await stopDaemon(w.d);
  });

  it('enable_dns true on a gateway endpoint is refused on create and update (it showed dns_names that no view answered); false is taken', async () => {
    const w = await startWorld();
    const created = await w.d.consumer.post('/vpc-endpoints', { endpoint_service_id: w.serviceId, vpc_id: 'vpc-client', routetables: ['rtb-main'], enable_dns: true });
    expectError(created, 400, 'EndPoint.0002');
    expect(created.body.error_msg).toMatch(/enable_dns applies to interface endpoints only/);
    expect((await w.d.consumer.get('/vpc-endpoints')).body.endpoints).toHaveLength(0);
    const e = await gatewayEndpoint(w, { routetables: ['rtb-a'], enable_dns: false });
    expectError(await w.d.consumer.put(`/vpc-endpoints/${e.id}`, { enable_dns: true }), 400, 'EndPoint.0002');
    expect((await w.d.consumer.put(`/vpc-endpoints/${e.id}`, { enable_dns: false })).status).toBe(200);
    const after = (await w.d.consumer.get(`/vpc-endpoints/${e.id}`)).body;
    expect([after.enable_dns, after.dns_names ?? []]).toEqual([false, []]);
    // one stored with enable_dns true by an earlier version: false in both APIs, and what is read is taken back
    await stopDaemon(w.d);
    const db = new Database(path.join(w.dataDir, 'data', DB_FILE));
    const row = db.prepare('SELECT body FROM documents WHERE kind = ? AND id = ?').get('endpoint', e.id) as { body: string };
    db.prepare('UPDATE documents SET body = ? WHERE kind = ? AND id = ?').run(JSON.stringify({ ...JSON.parse(row.body), enable_dns: true }), 'endpoint', e.id);
    db.close();
    const again = await startWorld(w.dataDir, w.obs, w.P);
    const read = (await again.d.consumer.get(`/vpc-endpoints/${e.id}`)).body;
    expect([read.enable_dns, Object.hasOwn(read, 'dns_names')]).toEqual([false, false]);
    expect((await again.d.consumer.put(`/vpc-endpoints/${e.id}`, { enable_dns: read.enable_dns })).status).toBe(200);
    await stopDaemon(again.d);
  });
});

describe('the connection cap of a gateway endpoint', () => {
  it('connections_per_endpoint caps the endpoint: the next one is reset and counted (reason cap); the tracer says so', async () => {
    const w = await startWorld(tempDir(), undefined, undefined, { connections_per_endpoint: 2 });
    const e = await gatewayEndpoint(w, { routetables: ['rtb-a'] });
    const held = await Promise.all([hold(w.host(1, 31), SERVICE_IP, w.P), hold(w.host(1, 32), SERVICE_IP, w.P)]);
    const t = await w.d.consumer.post('/trace', { vpc_id: 'vpc-client', source_ip: '10.0.1.33', destination_ip: '100.125.0.10', destination_port: w.P });
    expect(t.body.trace).toMatchObject({ cap: { active: 2, cap: 2, headroom: 0 }, verdict: 'refuse', reason: 'the endpoint holds its cap of 2 connections' });
    expect(await request(w.host(1, 33), SERVICE_IP, w.P)).toEqual(RESET);
    expect(await metric(w.d.url, 'vpcep_endpoint_rejected_connections_total', { endpoint_id: e.id, reason: 'cap' })).toBe(1);
    // the internet path is not the endpoint's: not capped by it
    expect(await request('127.0.0.1', SERVICE_IP, w.P)).toEqual(relayedFrom('127.0.0.1'));
    held[0]!.socket.destroy();
    await held[0]!.closed;
    await waitFor(async () => (await metric(w.d.url, 'vpcep_endpoint_active_connections', { endpoint_id: e.id })) === 1, 2_000, 'one connection left');
    expect(await request(w.host(1, 33), SERVICE_IP, w.P)).toEqual(relayedFrom(w.host(1, 33)));
    await stopDaemon(w.d);
  });
});

// =================================================================================================

describe('live route changes', () => {
  let w: World;
  let e: any;
  beforeAll(async () => {
    w = await startWorld();
    e = await gatewayEndpoint(w, { routetables: ['rtb-a'] });
  });
  // every test starts from: the endpoint on rtb-a, no user routes
  beforeEach(async () => {
    expect((await w.d.consumer.put(`/vpc-endpoints/${e.id}/routetables`, { routetables: ['rtb-a'] })).status).toBe(200);
    await clearUserRoutes(w.d.consumer);
  });

  it('a more specific blackhole for the service address takes effect for the next connection, and its deletion too', async () => {
    expect(await request(w.host(1, 50), SERVICE_IP, w.P)).toEqual(relayedFrom(w.host(1, 50)));
    expect((await changeRoutes(w.d.consumer, 'rtb-a', { add: [{ destination: '100.125.0.10/32', type: 'blackhole' }] })).status).toBe(200);
    expect(await request(w.host(1, 50), SERVICE_IP, w.P)).toEqual(RESET);
    // only that address
    expect(await request(w.host(1, 50), '127.255.0.11', w.P)).toEqual(relayedFrom(w.host(1, 50)));
    expect((await changeRoutes(w.d.consumer, 'rtb-a', { del: [{ destination: '100.125.0.10/32' }] })).status).toBe(200);
    expect(await request(w.host(1, 50), SERVICE_IP, w.P)).toEqual(relayedFrom(w.host(1, 50)));
  });

  it('a user route with the prefix list\'s exact prefix wins: igw for 100.125.0.0/24 sends subnet-a to the internet path', async () => {
    expect((await changeRoutes(w.d.consumer, 'rtb-a', { add: [{ destination: '100.125.0.0/24', type: 'igw' }] })).status).toBe(200);
    expect(await request(w.host(1, 50), SERVICE_IP, w.P)).toEqual(relayedFrom('127.0.0.1'));
    expect((await changeRoutes(w.d.consumer, 'rtb-a', { del: [{ destination: '100.125.0.0/24' }] })).status).toBe(200);
    expect(await request(w.host(1, 50), SERVICE_IP, w.P)).toEqual(relayedFrom(w.host(1, 50)));
  });

  it('an unrelated route change keeps the endpoint\'s live connections', async () => {
    const held = await hold(w.host(1, 60), SERVICE_IP, w.P);
    expect((await changeRoutes(w.d.consumer, 'rtb-main', { add: [{ destination: '0.0.0.0/0', type: 'igw' }] })).status).toBe(200);
    expect((await changeRoutes(w.d.consumer, 'rtb-a', { add: [{ destination: '100.125.0.99/32', type: 'blackhole' }] })).status).toBe(200);
    const settled = await Promise.race([held.closed.then(() => 'closed'), sleep(150).then(() => 'open')]);
    expect(settled).toBe('open');
    // and it still carries requests
    expect(await askAgain(held.socket)).toBe(`200 ${w.host(1, 60)}`);
    held.socket.destroy();
    expect((await changeRoutes(w.d.consumer, 'rtb-main', { del: [{ destination: '0.0.0.0/0' }] })).status).toBe(200);
    expect((await changeRoutes(w.d.consumer, 'rtb-a', { del: [{ destination: '100.125.0.99/32' }] })).status).toBe(200);
  });

  it('a blackhole over a held connection\'s destination cuts it', async () => {
    const held = await hold(w.host(1, 61), SERVICE_IP, w.P);
    const t0 = performance.now();
    expect((await changeRoutes(w.d.consumer, 'rtb-a', { add: [{ destination: '100.125.0.10/32', type: 'blackhole' }] })).status).toBe(200);
    const t1 = performance.now();
    const closed = await Promise.race([held.closed, sleep(t1 - t0 + 100 + 1_000).then(() => null)]);
    expect(closed, 'the held connection was not cut').not.toBeNull();
    expect(closed!.at - t1).toBeLessThanOrEqual(100);
    expect((await changeRoutes(w.d.consumer, 'rtb-a', { del: [{ destination: '100.125.0.10/32' }] })).status).toBe(200);
  });

  it('PUT routetables [] removes the endpoint\'s routes and cuts its live connections within the call time + 100 ms', async () => {
    const held = await Promise.all([hold(w.host(1, 70), SERVICE_IP, w.P), hold(w.host(1, 71), '127.255.0.20', w.P)]);
    expect(await metric(w.d.url, 'vpcep_endpoint_active_connections', { endpoint_id: e.id })).toBe(2);
    const t0 = performance.now();
    const r = await w.d.consumer.put(`/vpc-endpoints/${e.id}/routetables`, { routetables: [] });
    const t1 = performance.now();
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const deadline = sleep(t1 - t0 + 100 + 1_000).then(() => null);
    for (const h of held) {
      const closed = await Promise.race([h.closed, deadline]);
      expect(closed, 'a held connection was not cut').not.toBeNull();
      expect(closed!.at - t0).toBeLessThanOrEqual(t1 - t0 + 100);
    }
    expect(await metric(w.d.url, 'vpcep_endpoint_active_connections', { endpoint_id: e.id })).toBe(0);
    // no table routes to the endpoint any more
    expect(r.body.routetables).toEqual([]);
    expect((await w.d.consumer.get(`/vpc-endpoints/${e.id}`)).body.routetables).toEqual([]);
    expect((await w.d.consumer.get('/routetables')).body.routetables.flatMap(endpointRoutesOf)).toEqual([]);
    expect(await request(w.host(1, 50), SERVICE_IP, w.P)).toEqual(RESET);
    expect(await request(w.host(2, 50), SERVICE_IP, w.P)).toEqual(RESET);
    // and back
    expect((await w.d.consumer.put(`/vpc-endpoints/${e.id}/routetables`, { routetables: ['rtb-a'] })).status).toBe(200);
    expect(await request(w.host(1, 50), SERVICE_IP, w.P)).toEqual(relayedFrom(w.host(1, 50)));
  });

  it('moving the endpoint\'s route to another table cuts the connections of the table it left', async () => {
    const held = await hold(w.host(1, 72), SERVICE_IP, w.P);
    const t0 = performance.now();
    const r = await w.d.consumer.put(`/vpc-endpoints/${e.id}/routetables`, { routetables: ['rtb-main'] });
    const t1 = performance.now();
    expect(r.status).toBe(200);
    const closed = await Promise.race([held.closed, sleep(t1 - t0 + 1_100).then(() => null)]);
    expect(closed, 'the held connection was not cut').not.toBeNull();
    expect(closed!.at - t1).toBeLessThanOrEqual(100);
    expect(await request(w.host(2, 50), SERVICE_IP, w.P)).toEqual(relayedFrom(w.host(2, 50)));
    expect(await request(w.host(1, 50), SERVICE_IP, w.P)).toEqual(RESET);
    expect((await w.d.consumer.put(`/vpc-endpoints/${e.id}/routetables`, { routetables: ['rtb-a'] })).status).toBe(200);
  });

  it('an endpoint taking over a table switches routes: open internet-path connections of that table are disconnected (002_05e46307768ae273.txt)', async () => {
    expect((await changeRoutes(w.d.consumer, 'rtb-main', { add: [{ destination: '0.0.0.0/0', type: 'igw' }] })).status).toBe(200);
    const held = await hold(w.host(2, 80), SERVICE_IP, w.P);
    expect(w.obs.remotes.at(-1)).toBe('127.0.0.1'); // through the igw
    const t0 = performance.now();
    const r = await w.d.consumer.put(`/vpc-endpoints/${e.id}/routetables`, { routetables: ['rtb-a', 'rtb-main'] });
    const t1 = performance.now();
    expect(r.status).toBe(200);
    const closed = await Promise.race([held.closed, sleep(t1 - t0 + 1_100).then(() => null)]);
    expect((await w.d.consumer.put(`/vpc-endpoints/${e.id}/routetables`, { routetables: ['rtb-a'] })).status).toBe(200);
    expect((await changeRoutes(w.d.consumer, 'rtb-main', { del: [{ destination: '0.0.0.0/0' }] })).status).toBe(200);
    expect(closed, 'the internet-path connection survived the switch to the endpoint').not.toBeNull();
  });
});

// =================================================================================================

describe('the path tracer agrees with the data plane', () => {
  let w: World;
  let e: any;
  beforeAll(async () => {
    w = await startWorld();
    e = await gatewayEndpoint(w, { routetables: ['rtb-a'] });
  });

  it('POST /trace returns the whole decision', async () => {
    const r = await w.d.consumer.post('/trace', { vpc_id: 'vpc-client', source_ip: '10.0.1.50', destination_ip: '100.125.0.10', destination_port: w.P });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toEqual({
      trace: {
        vpc_id: 'vpc-client', source_ip: '10.0.1.50', destination_ip: '100.125.0.10', destination_port: w.P,
        subnet: { id: 'subnet-a', cidr: '10.0.1.0/24' },
        route_table: { id: 'rtb-a', chosen_by: 'subnet association' },
        candidates: [{ destination: 'pl-obs', matched: '100.125.0.0/24', type: 'gateway_endpoint', nexthop: e.id, owner: 'endpoint' }],
        winner: { destination: 'pl-obs', matched: '100.125.0.0/24', type: 'gateway_endpoint', nexthop: e.id, owner: 'endpoint', why: 'longest prefix /24' },
        target_type: 'gateway_endpoint',
        service: { id: w.serviceId, name: 'sim-1.obs', target: `127.0.0.1:${w.obs.port}` },
        endpoint: { id: e.id, status: 'accepted' },
        policy: { allowed: true, statement: null, reason: 'no policy: the default policy allows all' },
        cap: { active: 0, cap: 3000, headroom: 3000 },
        backend_source: `10.0.1.50 (host address ${w.host(1, 50)})`,
        isolation: null,
        verdict: 'relay',
        reason: `relayed through gateway endpoint ${e.id}`,
        outcome: 'relay', refusal: null,
        daemon: expect.objectContaining({ active: 0, max_connections: 1_000_000, headroom: 1_000_000 }),
        whitelist: null, listener: { address: `${SERVICE_IP}:${w.P}`, bound: true, why: null }, backend: null, source: null,
        live_only: ['snat_exhausted', 'backend_unreachable', 'backend_timeout', 'backend_error', 'error'],
      },
    });
    const b = await w.d.consumer.post('/trace', { vpc_id: 'vpc-client', source_ip: '10.0.2.9', destination_ip: '100.125.0.10', destination_port: w.P });
    expect(b.body.trace).toMatchObject({
      subnet: { id: 'subnet-b', cidr: '10.0.2.0/24' }, route_table: { id: 'rtb-main', chosen_by: 'VPC default' },
      candidates: [], winner: null, target_type: 'none', endpoint: null, policy: null, cap: null, backend_source: null,
      verdict: 'refuse', reason: 'no route to 100.125.0.10 in rtb-main', outcome: 'reset', refusal: 'not_accepted',
    });
  });

  it('the tracer counts the endpoint\'s live connections in cap', async () => {
    const held = await hold(w.host(1, 90), SERVICE_IP, w.P);
    const r = await w.d.consumer.post('/trace', { vpc_id: 'vpc-client', source_ip: '10.0.1.50', destination_ip: '100.125.0.10', destination_port: w.P });
    expect(r.body.trace.cap).toEqual({ active: 1, cap: 3000, headroom: 2999 });
    held.socket.destroy();
    await held.closed;
  });

  it('bad trace requests', async () => {
    const q = { vpc_id: 'vpc-client', source_ip: '10.0.1.50', destination_ip: '100.125.0.10', destination_port: w.P };
    expectError(await w.d.consumer.post('/trace', { ...q, vpc_id: 'vpc-nope' }), 404, 'EndPoint.2001');
    expectError(await w.d.consumer.post('/trace', { ...q, vpc_id: 'vpc-prov' }), 404, 'EndPoint.2001');
    expectError(await w.d.consumer.post('/trace', { ...q, source_ip: '10.0.1' }), 400, 'EndPoint.0002');
    expectError(await w.d.consumer.post('/trace', { ...q, destination_ip: 'obs' }), 400, 'EndPoint.0002');
    expectError(await w.d.consumer.post('/trace', { ...q, destination_port: 0 }), 400, 'EndPoint.0002');
    expectError(await w.d.consumer.post('/trace', { ...q, extra: 1 }), 400, 'EndPoint.0002');
  });

  it('for every case the trace\'s verdict is what a real connection does', async () => {
    const Q = w.P === 40_000 ? w.P - 1 : w.P + 1; // a port the service does not have
    const setIgw = async (on: boolean) => expect((await changeRoutes(w.d.consumer, 'rtb-main', on
      ? { add: [{ destination: '0.0.0.0/0', type: 'igw' }] } : { del: [{ destination: '0.0.0.0/0' }] })).status).toBe(200);
    const setBlackhole = async (on: boolean) => expect((await changeRoutes(w.d.consumer, 'rtb-a', on
      ? { add: [{ destination: '100.125.0.10/32', type: 'blackhole' }] } : { del: [{ destination: '100.125.0.10/32' }] })).status).toBe(200);
    const setPolicy = async (p: unknown[]) => expect((await w.d.consumer.put(`/vpc-endpoints/${e.id}/policy`, { policy_statement: p })).status).toBe(200);
    const ALLOW_50 = { Effect: 'Allow', Action: ['*'], Resource: ['*'], Condition: { IpAddress: { 'vpcep:SourceIp': ['10.0.1.50/32'] } } };

    interface Case { name: string; src: [number, number]; dst?: string; port?: 'P' | 'Q'; setup?: () => Promise<void>; want: 'relay' | 'refuse'; target: string }
    const cases: Case[] = [
      { name: 'subnet-a, endpoint route', src: [1, 50], want: 'relay', target: 'gateway_endpoint' },
      { name: 'subnet-a, other address of the prefix list', src: [1, 50], dst: '100.125.0.200', want: 'relay', target: 'gateway_endpoint' },
      { name: 'subnet-b, no route', src: [2, 20], want: 'refuse', target: 'none' },
      { name: 'in the VPC, in no subnet', src: [9, 9], want: 'refuse', target: 'none' },
      { name: 'subnet-a, a port the service does not have', src: [1, 50], port: 'Q', want: 'refuse', target: 'gateway_endpoint' },
      { name: 'subnet-b, igw route', setup: () => setIgw(true), src: [2, 20], want: 'relay', target: 'igw' },
      { name: 'subnet-b, igw route, a port the service does not have', src: [2, 20], port: 'Q', want: 'refuse', target: 'igw' },
      { name: 'subnet-a with the igw route in rtb-main: still the endpoint', src: [1, 50], want: 'relay', target: 'gateway_endpoint' },
      { name: 'subnet-a, blackhole /32', setup: () => setBlackhole(true), src: [1, 50], want: 'refuse', target: 'blackhole' },
      { name: 'subnet-a, blackhole /32, another address', src: [1, 50], dst: '100.125.0.11', want: 'relay', target: 'gateway_endpoint' },
      { name: 'subnet-b, blackhole in rtb-a only', src: [2, 20], want: 'relay', target: 'igw' },
      { name: 'subnet-a, policy denies .50', setup: async () => { await setBlackhole(false); await setPolicy([ALLOW_ALL, DENY_50]); }, src: [1, 50], want: 'refuse', target: 'gateway_endpoint' },
      { name: 'subnet-a, policy denies .50; .51 passes', src: [1, 51], want: 'relay', target: 'gateway_endpoint' },
      { name: 'subnet-a, policy allows .50 only', setup: () => setPolicy([ALLOW_50]), src: [1, 50], want: 'relay', target: 'gateway_endpoint' },
      { name: 'subnet-a, policy allows .50 only; .51 refused', src: [1, 51], want: 'refuse', target: 'gateway_endpoint' },
      { name: 'subnet-b, igw; the policy does not apply to the internet path', src: [2, 51], want: 'relay', target: 'igw' },
      { name: 'subnet-b, no route again', setup: () => setIgw(false), src: [2, 51], want: 'refuse', target: 'none' },
    ];
    const rows: string[] = [];
    for (const c of cases) {
      await c.setup?.();
      const dst = c.dst ?? '100.125.0.10';
      const port = c.port === 'Q' ? Q : w.P;
      const t = await w.d.consumer.post('/trace', { vpc_id: 'vpc-client', source_ip: `10.0.${c.src[0]}.${c.src[1]}`, destination_ip: dst, destination_port: port });
      expect(t.status, `${c.name}: ${JSON.stringify(t.body)}`).toBe(200);
      const from = w.host(c.src[0], c.src[1]);
      const got = await request(from, `127.255.${dst.split('.').slice(2).join('.')}`, port);
      const real = got.kind === 'relayed' ? 'relay' : got.kind === 'refused' ? 'refuse' : `other (${JSON.stringify(got)})`;
      rows.push(`${c.name}: trace ${t.body.trace.verdict} (${t.body.trace.target_type}: ${t.body.trace.reason}), real ${real}`);
      expect(t.body.trace.verdict, rows.at(-1)).toBe(real);
      expect(t.body.trace.verdict, rows.at(-1)).toBe(c.want);
      expect(t.body.trace.target_type, rows.at(-1)).toBe(c.target);
      if (got.kind === 'relayed') {
        expect(got.status).toBe(200);
        // what the backend saw is what the trace said it would see
        expect(got.body, rows.at(-1)).toBe(c.target === 'gateway_endpoint' ? from : '127.0.0.1');
        if (c.target === 'gateway_endpoint') expect(t.body.trace.backend_source).toBe(`10.0.${c.src[0]}.${c.src[1]} (host address ${from})`);
      } else {
        expect(got, rows.at(-1)).toEqual(port === Q ? REFUSED : RESET);
      }
    }
    expect(rows).toHaveLength(17);
  });
});

// =================================================================================================

describe('restart', () => {
  it('keeps user routes and gateway endpoints (which still route)', async () => {
    const dir = tempDir();
    const w = await startWorld(dir);
    const e = await gatewayEndpoint(w, { routetables: ['rtb-a'], policy_statement: [ALLOW_ALL, DENY_50] });
    const r = await changeRoutes(w.d.consumer, 'rtb-main', { add: [{ destination: '0.0.0.0/0', type: 'igw', nexthop: 'igw-main' }, { destination: '100.125.0.77/32', type: 'blackhole' }] });
    expect(r.status).toBe(200);
    const tablesBefore = (await w.d.consumer.get('/routetables')).body;
    expect(await request(w.host(1, 51), SERVICE_IP, w.P)).toEqual(relayedFrom(w.host(1, 51)));
    await stopDaemon(w.d);

    const again = await startWorld(dir, w.obs, w.P);
    expect(again.k).toBe(w.k);
    expect((await again.d.consumer.get('/routetables')).body).toEqual(tablesBefore);
    expect((await table(again.d.consumer, 'rtb-main')).routes).toEqual([
      LOCAL_ROUTE,
      { destination: '0.0.0.0/0', type: 'igw', nexthop: 'igw-main', owner: 'user' },
      { destination: '100.125.0.77/32', type: 'blackhole', nexthop: null, owner: 'user' },
    ]);
    expect((await table(again.d.consumer, 'rtb-a')).routes).toEqual([LOCAL_ROUTE, CONFIG_ROUTE, endpointRoute(e.id)]);
    const after = await waitFor(async () => {
      const x = await again.d.consumer.get(`/vpc-endpoints/${e.id}`);
      return x.body.status === 'accepted' ? x.body : null;
    }, 5_000, 'endpoint accepted after restart');
    expect(after).toMatchObject({ routetables: ['rtb-a'], policy_statement: [ALLOW_ALL, DENY_50] });
    // it still routes, and its policy still applies; the user routes too
    expect(await request(again.host(1, 51), SERVICE_IP, again.P)).toEqual(relayedFrom(again.host(1, 51)));
    expect(await request(again.host(1, 50), SERVICE_IP, again.P)).toEqual(RESET);
    expect(await request(again.host(2, 20), SERVICE_IP, again.P)).toEqual(relayedFrom('127.0.0.1'));
    expect(await request(again.host(2, 20), '127.255.0.77', again.P)).toEqual(RESET);
    await stopDaemon(again.d);
  });
});

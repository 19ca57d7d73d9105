// The control API under abuse (issue 10, item 2): pipelining without reading the replies, a body
// that never completes, more connections than the cap, and the back-off of an address that was
// cut. The daemon shares its event loop between the API and data-plane admission, so each test
// also checks what the attacker must not cost: memory, and new connections through an endpoint.
import fs from 'node:fs';
import net, { type Socket } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { createLogger } from '../../src/telemetry/logger.js';
import {
  ApiClient, CONSUMER, PROVIDER, SERVICE_BODY, metricValue, spawnDaemon, tempDir, twoAccountConfig, waitFor, writeConfig,
  type ChildDaemon,
} from '../helpers.js';
import { echo, randomPort, startBackend, type TestBackend } from './backends.js';

const sockets = new Set<Socket>();
const backends = new Set<TestBackend>();
const children = new Set<ChildDaemon>();
const daemons = new Set<Daemon>();

afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  for (const b of backends) await b.close();
  backends.clear();
  for (const c of children) {
    c.proc.kill('SIGKILL');
    await c.exited;
  }
  children.clear();
  for (const d of daemons) await d.stop(200);
  daemons.clear();
});

interface Api {
  readonly url: string;
  readonly provider: ApiClient;
  readonly consumer: ApiClient;
}

const apiAt = (url: string): Api => ({
  url, provider: new ApiClient(url, PROVIDER.token, PROVIDER.project_id), consumer: new ApiClient(url, CONSUMER.token, CONSUMER.project_id),
});

/** an in-process daemon with these `api:` limits (and more config), and a clock the test drives */
async function inProcess(api: Record<string, number>, now?: () => number, more: Record<string, unknown> = {}): Promise<Api & { daemon: Daemon }> {
  const dir = tempDir();
  const daemon = await startDaemon({
    configFile: writeConfig(dir, twoAccountConfig({ api, ...more })), dataDir: path.join(dir, 'data'),
    listen: { host: '127.0.0.1', port: 0 }, dnsListen: { host: '127.0.0.1', port: 0 }, log: createLogger('silent'), now,
  });
  daemons.add(daemon);
  return { ...apiAt(`http://127.0.0.1:${daemon.address.port}`), daemon };
}

/** an accepted endpoint of the consumer to an echo backend; its client address and port */
async function echoEndpoint(api: Api): Promise<{ host: string; port: number }> {
  const b = await startBackend(echo);
  backends.add(b);
  const port = randomPort();
  const svc = await api.provider.post('/vpc-endpoint-services', {
    ...SERVICE_BODY, approval_enabled: false, ports: [{ client_port: port, server_port: b.port, protocol: 'TCP' }],
  });
  expect(svc.status).toBe(200);
  await waitFor(async () => (await api.provider.get(`/vpc-endpoint-services/${svc.body.id}`)).body.status === 'available', 5_000, 'service available');
  expect((await api.provider.post(`/vpc-endpoint-services/${svc.body.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] })).status).toBe(200);
  const ep = await api.consumer.post('/vpc-endpoints', { endpoint_service_id: svc.body.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
  expect(ep.status).toBe(200);
  const live = await waitFor(async () => {
    const r = await api.consumer.get(`/vpc-endpoints/${ep.body.id}`);
    return r.body.status === 'accepted' ? r.body : null;
  }, 5_000, 'endpoint accepted');
  return { host: live.host_ip, port };
}

/** one new data-plane connection: connect from the consumer's subnet, echo a line, close */
async function throughEndpoint(to: { host: string; port: number }, msg: string): Promise<string> {
  const s = net.connect({ host: to.host, port: to.port, localAddress: '127.2.1.9' });
  sockets.add(s);
  let got = '';
  s.on('data', (b) => { got += b; });
  try {
    await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('error', reject); });
    s.write(msg);
    await waitFor(() => got.length >= msg.length || s.destroyed, 5_000, 'the echo through the endpoint');
    return got;
  } finally {
    s.destroy();
    sockets.delete(s);
  }
}

interface RawClient {
  readonly sock: Socket;
  data: string;
  closed: boolean;
  readonly closedP: Promise<void>;
}

/** a raw TCP client of the API from `localAddress` (the attacker is not 127.0.0.1, whose requests the test needs) */
async function raw(url: string, localAddress: string, paused = false): Promise<RawClient> {
  const { hostname, port } = new URL(url);
  const sock = net.connect({ host: hostname, port: Number(port), localAddress });
  sockets.add(sock);
  const c: RawClient = { sock, data: '', closed: false, closedP: new Promise((r) => sock.once('close', () => { c.closed = true; r(); })) };
  sock.on('error', () => undefined);
  sock.on('data', (b) => { c.data += b; });
  if (paused) sock.pause();
  await new Promise<void>((resolve) => { sock.once('connect', resolve); sock.once('close', resolve); });
  return c;
}

const rssBytes = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
const GET_METRICS = 'GET /metrics HTTP/1.1\r\nHost: vpcepd\r\n\r\n';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the API under abuse', () => {
  it('20 sockets pipelining GET /metrics without reading neither grow the daemon nor stall new data-plane connections: they are cut', async () => {
    const dir = tempDir();
    const config = writeConfig(dir, twoAccountConfig());
    const child = await spawnDaemon(['--config', config, '--data-dir', path.join(dir, 'data')]);
    children.add(child);
    const api = apiAt(child.url);
    const to = await echoEndpoint(api);
    expect(await throughEndpoint(to, 'before\n')).toBe('before\n');
    const rssBefore = rssBytes(child.proc.pid!);

    // The attack: 20 connections, each pushing 500 pipelined requests every 10 ms and never reading;
    // a cut connection is opened again at once, as a persistent attacker would.
    let stop = false;
    let cuts = 0;
    const burst = GET_METRICS.repeat(500);
    const attacker = async () => {
      while (!stop) {
        const c = await raw(child.url, '127.0.0.66', true);
        while (!stop && !c.closed) {
          c.sock.write(burst);
          await sleep(10);
        }
        if (c.closed) cuts++;
        c.sock.destroy();
        await sleep(5);
      }
    };
    const attackers = Array.from({ length: 20 }, attacker);
    let peak = rssBefore;
    const sampler = setInterval(() => { peak = Math.max(peak, rssBytes(child.proc.pid!)); }, 25);
    try {
      // While it runs, new connections through the endpoint are admitted and relayed.
      for (let i = 0; i < 20; i++) expect(await throughEndpoint(to, `during ${i}\n`)).toBe(`during ${i}\n`);
      await sleep(300);
    } finally {
      stop = true;
      clearInterval(sampler);
      await Promise.all(attackers);
    }
    expect(cuts).toBeGreaterThanOrEqual(20);
    expect(peak - rssBefore).toBeLessThan(150 * 1024 * 1024);
    expect(await metricValue(child.url, 'vpcep_api_refused_total', { reason: 'pipelining' })).toBeGreaterThanOrEqual(1);
    expect(await metricValue(child.url, 'vpcep_api_refused_total', { reason: 'backoff' })).toBeGreaterThanOrEqual(1);
    // the log says which address was cut, why and for how long: every client of that address meets resets meanwhile
    expect(child.output()).toMatch(/"remote_address":"127\.0\.0\.66","reason":"pipelining","refused_for_ms":\d+.*api: a connection was cut for abuse/);
    expect(await throughEndpoint(to, 'after\n')).toBe('after\n');
  });

  it('a client pipelining 20 requests and reading the replies is served in full, not cut', async () => {
    const api = await inProcess({});
    const c = await raw(api.url, '127.0.0.72');
    c.sock.write('GET / HTTP/1.1\r\nHost: vpcepd\r\n\r\n'.repeat(19) + 'GET / HTTP/1.1\r\nHost: vpcepd\r\nConnection: close\r\n\r\n');
    await waitFor(() => c.closed, 5_000, 'the last reply and the close');
    expect(c.data.match(/HTTP\/1\.1 200 /g)).toHaveLength(20);
    expect(await metricValue(api.url, 'vpcep_api_refused_total', { reason: 'pipelining' })).toBe(0);
  });

  it('a request whose body never completes is answered 408 in the API\'s shape and cut by the request timeout, not held', async () => {
    const api = await inProcess({ request_timeout_ms: 400, headers_timeout_ms: 200 });
    const before = await api.consumer.get('/vpc-endpoints');
    const c = await raw(api.url, '127.0.0.67');
    c.sock.write(`POST /v1/${CONSUMER.project_id}/vpc-endpoints HTTP/1.1\r\nHost: vpcepd\r\nX-Auth-Token: ${CONSUMER.token}\r\n`
      + 'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"vpc_id":');
    await waitFor(() => c.closed, 5_000, 'the slow request to be cut');
    const [head, body] = c.data.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 408 /);
    expect(JSON.parse(body!)).toEqual({ error_code: 'EndPoint.0002', error_msg: expect.stringContaining('timeout') });
    // headers that never complete: the same
    const h = await raw(api.url, '127.0.0.68');
    h.sock.write(`GET /v1/${CONSUMER.project_id}/vpc-endpoints HTTP/1.1\r\nHost: vpcepd\r\n`);
    await waitFor(() => h.closed, 5_000, 'the slow headers to be cut');
    expect(h.data).toMatch(/^HTTP\/1\.1 408 /);
    expect(await metricValue(api.url, 'vpcep_api_refused_total', { reason: 'timeout' })).toBe(2);
    expect(await api.consumer.get('/vpc-endpoints')).toEqual(before);
  });

  it('a connection opened and never used (a client\'s pool dialing ahead, as Go\'s does) is closed quietly at the headers timeout: no 408, no back-off for its address', async () => {
    const api = await inProcess({ request_timeout_ms: 400, headers_timeout_ms: 200 });
    const idle = await raw(api.url, '127.0.0.76');
    await waitFor(() => idle.closed, 5_000, 'the unused connection closed');
    expect(idle.data).toBe('');
    expect(await metricValue(api.url, 'vpcep_api_refused_total', { reason: 'timeout' })).toBe(0);
    // the same address connects again at once and is served (a strike refused it for a second)
    const next = await raw(api.url, '127.0.0.76');
    next.sock.write('GET / HTTP/1.1\r\nHost: vpcepd\r\nConnection: close\r\n\r\n');
    await waitFor(() => next.closed, 5_000, 'the answer and the close');
    expect(next.data).toMatch(/^HTTP\/1\.1 200 /);
    expect(await metricValue(api.url, 'vpcep_api_refused_total', { reason: 'backoff' })).toBe(0);
  });

  it('a connection over api.max_connections is refused at once, and a slot freed is usable again', async () => {
    const api = await inProcess({ max_connections: 4 });
    const held: RawClient[] = [];
    for (let i = 0; i < 4; i++) {
      const c = await raw(api.url, '127.0.0.70');
      c.sock.write('GET / HTTP/1.1\r\nHost: vpcepd\r\n\r\n');
      await waitFor(() => c.data.includes('"versions"'), 5_000, 'a held connection served');
      held.push(c);
    }
    const over = await raw(api.url, '127.0.0.70');
    over.sock.write('GET / HTTP/1.1\r\nHost: vpcepd\r\n\r\n');
    await waitFor(() => over.closed, 5_000, 'the fifth connection refused');
    expect(over.data).toBe('');
    held[0]!.sock.destroy();
    await waitFor(async () => {
      try {
        return (await fetch(`${api.url}/`)).status === 200;
      } catch {
        return false;
      }
    }, 5_000, 'a freed slot');
    for (const c of held.slice(1)) c.sock.destroy();
    await waitFor(async () => {
      try {
        return (await metricValue(api.url, 'vpcep_api_refused_total', { reason: 'max_connections' }))! >= 1;
      } catch {
        return false;
      }
    }, 5_000, 'the refusal counted');
  });

  it('Toxiproxy\'s API (faults.listen) is held to the same limits: connections over the cap refused at accept, slow headers cut with a 408 in its shape', async () => {
    const api = await inProcess({ max_connections: 4, request_timeout_ms: 400, headers_timeout_ms: 200 }, undefined, { faults: { enabled: true, listen: '127.0.0.1:0' } });
    const faults = `http://127.0.0.1:${api.daemon.faultsAddress!.port}`;
    // idle connections: it held any number (3,000 took 2,400 descriptors of the daemon for as long as they stayed)
    const held: RawClient[] = [];
    for (let i = 0; i < 6; i++) held.push(await raw(faults, '127.0.0.72'));
    await waitFor(() => held.filter((c) => c.closed).length >= 2, 5_000, 'the connections over the cap closed');
    for (const c of held) c.sock.destroy();
    // (raw sockets: a fetch that met a refusal at accept here never settled)
    const served = async (): Promise<boolean> => {
      const p = await raw(faults, '127.0.0.74');
      p.sock.write('GET /version HTTP/1.1\r\nHost: toxiproxy\r\n\r\n');
      await waitFor(() => p.closed || p.data.includes('\r\n\r\n'), 5_000, 'an answer or a close');
      p.sock.destroy();
      return p.data.startsWith('HTTP/1.1 200 ');
    };
    await waitFor(served, 5_000, 'Toxiproxy\'s API serving again');
    const slow = await raw(faults, '127.0.0.73');
    slow.sock.write('GET /proxies HTTP/1.1\r\nHost: toxiproxy\r\n');
    await waitFor(() => slow.closed, 5_000, 'the slow headers to be cut');
    const [head, body] = slow.data.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 408 /);
    expect(JSON.parse(body!)).toEqual({ error: expect.stringContaining('timeout'), status: 408 });
    expect(await metricValue(api.url, 'vpcep_api_refused_total', { reason: 'max_connections' })).toBeGreaterThanOrEqual(2);
  });

  it('an address whose connection was cut is refused for the back-off, then served again; others are served throughout', async () => {
    let clock = 1_000_000;
    const api = await inProcess({}, () => clock);
    const attacker = await raw(api.url, '127.0.0.71', true);
    attacker.sock.write(GET_METRICS.repeat(100));
    await waitFor(() => attacker.closed, 5_000, 'the pipelining connection cut');

    const again = await raw(api.url, '127.0.0.71');
    again.sock.write('GET / HTTP/1.1\r\nHost: vpcepd\r\n\r\n');
    await waitFor(() => again.closed, 5_000, 'the address refused during its back-off');
    expect(again.data).toBe('');
    expect((await fetch(`${api.url}/`)).status).toBe(200);
    expect(await metricValue(api.url, 'vpcep_api_refused_total', { reason: 'backoff' })).toBe(1);

    clock += 1_000; // the first back-off is 1 s
    const later = await raw(api.url, '127.0.0.71');
    later.sock.write('GET / HTTP/1.1\r\nHost: vpcepd\r\nConnection: close\r\n\r\n');
    await waitFor(() => later.closed, 5_000, 'the answer after the back-off');
    expect(later.data).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('the unauthenticated GET /metrics is rendered at most once per second, whatever the request rate', async () => {
    let clock = 1_000_000;
    const api = await inProcess({}, () => clock);
    const scrape = async () => (await fetch(`${api.url}/metrics`)).text();
    const first = await scrape();
    for (let i = 0; i < 20; i++) expect(await scrape()).toBe(first);
    clock += 1_000;
    const next = await scrape();
    expect(next).not.toBe(first);
    // the 21 scrapes in between were counted, and show now
    expect(next).toMatch(/^vpcep_api_requests_total\{method="GET",route="\/metrics",code="200"\} 21$/m);
  });
});

// Toxiproxy's Go client and toxiproxy-cli (issue 15): neither can be installed here, so this test
// sends, over plain HTTP, exactly the requests they send (read from Shopify/toxiproxy's
// client/client.go, proxy.go, toxic.go, api_error.go and cmd/cli/cli.go; README "Fault
// injection", "Client compatibility"), and checks what they parse from the answers:
// - every request: `User-Agent: toxiproxy-cli` and `Content-Type: application/json`, the body a
//   JSON text with Go's field order (struct order; a map's keys sorted), `Content-Length` when a
//   body is given (POST /reset sends an empty one), none on GET and DELETE;
// - a 2xx is success (its body decoded as JSON where the call returns something); any other status
//   must carry a JSON `{"error": string, "status": number}` (else the client fails to decode it);
// - a toxic update is PATCH (POST is Toxiproxy's deprecated alias); a proxy is saved whole
//   (POST /proxies/{name} with name, listen, upstream, enabled and its toxics as read);
// - the CLI sends attributes as JSON numbers and prints them as float64 (a non-number would panic).
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMER, SERVICE_BODY, createAcceptedEndpoint, createAvailableService, startTestDaemon, twoAccountConfig, waitFor, type TestDaemon } from '../helpers.js';
import { echo, randomPort, startBackend, type TestBackend } from './backends.js';

let d: TestDaemon;
let backend: TestBackend;
let apiPort: number;
let ep: { id: string; host_ip: string };
let port: number;
let name: string;

beforeAll(async () => {
  backend = await startBackend(echo);
  d = await startTestDaemon(twoAccountConfig({ faults: { enabled: true, listen: '127.0.0.1:0' } }));
  apiPort = d.daemon.faultsAddress!.port;
  port = randomPort();
  const svc = await createAvailableService(d, { ...SERVICE_BODY, approval_enabled: false, ports: [{ client_port: port, server_port: backend.port, protocol: 'TCP' }] });
  await d.provider.post(`/vpc-endpoint-services/${svc.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] });
  ep = await createAcceptedEndpoint(d.consumer, { endpoint_service_id: svc.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
  name = `${ep.id}:${port}`;
});

afterAll(async () => {
  await d?.stop();
  await backend?.close();
});

interface Answer { status: number; text: string; json: any }

/**
 * one request as the Go client's send() makes it: its two headers, BODY (already JSON text, Go's
 * field order) with a Content-Length, or no body at all (nil: GET, DELETE)
 */
function goSend(method: string, path: string, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { 'User-Agent': 'toxiproxy-cli', 'Content-Type': 'application/json' };
    if (body !== undefined) headers['Content-Length'] = Buffer.byteLength(body);
    const req = http.request({ host: '127.0.0.1', port: apiPort, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json: unknown;
        try {
          json = text === '' ? undefined : JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode!, text, json });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** what validateResponse() accepts: a 2xx */
const ok = (a: Answer): boolean => a.status >= 200 && a.status < 300;

/** what validateResponse() decodes from any other status: Toxiproxy's ApiError, both fields typed */
function expectApiError(a: Answer, status: number): void {
  expect({ status: a.status, body: a.json }).toEqual({ status, body: { error: expect.any(String), status } });
}

/** the fields the Go client's Proxy struct reads, with the Toxic struct's fields in each toxic */
function expectGoProxy(p: any): void {
  expect(p).toEqual({ name: expect.any(String), listen: expect.any(String), upstream: expect.any(String), enabled: expect.any(Boolean), toxics: expect.any(Array) });
  for (const t of p.toxics) expectGoToxic(t);
}

/** the Toxic struct: name, type, stream, toxicity (float32) and attributes whose values the CLI prints as float64 */
function expectGoToxic(t: any): void {
  expect(t).toEqual({ name: expect.any(String), type: expect.any(String), stream: expect.stringMatching(/^(up|down)stream$/), toxicity: expect.any(Number), attributes: expect.any(Object) });
  for (const v of Object.values(t.attributes)) expect(typeof v).toBe('number');
}

/** one echo through the endpoint: 'ok', or how the connection failed */
function echoOnce(): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host: ep.host_ip, port });
    s.setTimeout(5_000, () => { s.destroy(); resolve('timeout'); });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    s.on('connect', () => s.write('x'));
    s.on('data', () => { s.destroy(); resolve('ok'); });
  });
}

describe('Toxiproxy\'s Go client: each call\'s request and what it parses', () => {
  it('Version(): GET /version answers 2xx (the client returns the bytes)', async () => {
    const a = await goSend('GET', '/version');
    expect(ok(a)).toBe(true);
    expect(a.text).toMatch(/\d+\.\d+\.\d+/);
  });

  it('Proxies() and Proxy(name): GET /proxies (a map by name) and GET /proxies/{name}', async () => {
    const all = await goSend('GET', '/proxies');
    expect(ok(all)).toBe(true);
    expect(Object.keys(all.json)).toContain(name);
    for (const [k, p] of Object.entries<any>(all.json)) {
      expectGoProxy(p);
      expect(p.name).toBe(k);
    }
    const one = await goSend('GET', `/proxies/${encodeURIComponent(name)}`);
    expect(ok(one)).toBe(true);
    expectGoProxy(one.json);
    expect(one.json).toEqual({ name, listen: `${ep.host_ip}:${port}`, upstream: `127.0.0.1:${backend.port}`, enabled: true, toxics: [] });
    expectApiError(await goSend('GET', '/proxies/vpce-nope:80'), 404);
  });

  it('AddToxic, Toxics(), UpdateToxic (PATCH), RemoveToxic; a nil attributes map is null, an unset name ""', async () => {
    const p = `/proxies/${name}`;
    // Proxy.AddToxic("", "latency", "", 1, Attributes{"latency": 100}): stream omitted (omitempty), name ""
    const added = await goSend('POST', `${p}/toxics`, '{"name":"","type":"latency","toxicity":1,"attributes":{"latency":100}}');
    expect(ok(added)).toBe(true);
    expectGoToxic(added.json);
    expect(added.json).toEqual({ name: 'latency_downstream', type: 'latency', stream: 'downstream', toxicity: 1, attributes: { latency: 100, jitter: 0 } });
    // a nil Attributes map: JSON null
    const bare = await goSend('POST', `${p}/toxics`, '{"name":"bare","type":"timeout","stream":"upstream","toxicity":0,"attributes":null}');
    expect(ok(bare)).toBe(true);
    expect(bare.json).toEqual({ name: 'bare', type: 'timeout', stream: 'upstream', toxicity: 0, attributes: { timeout: 0 } });
    const list = await goSend('GET', `${p}/toxics`);
    expect(ok(list)).toBe(true);
    for (const t of list.json) expectGoToxic(t);
    expect(list.json.map((t: any) => t.name).sort()).toEqual(['bare', 'latency_downstream']);
    // UpdateToxic(name, 0.5, Attributes{"jitter": 10}): a map, keys sorted; toxicity left out when -1
    const upd = await goSend('PATCH', `${p}/toxics/latency_downstream`, '{"attributes":{"jitter":10},"toxicity":0.5}');
    expect(ok(upd)).toBe(true);
    expect(upd.json).toEqual({ name: 'latency_downstream', type: 'latency', stream: 'downstream', toxicity: 0.5, attributes: { latency: 100, jitter: 10 } });
    const keep = await goSend('PATCH', `${p}/toxics/latency_downstream`, '{"attributes":null}');
    expect(keep.json).toMatchObject({ toxicity: 0.5, attributes: { latency: 100, jitter: 10 } });
    expect(ok(await goSend('DELETE', `${p}/toxics/latency_downstream`))).toBe(true);
    expect(ok(await goSend('DELETE', `${p}/toxics/bare`))).toBe(true);
    expect((await goSend('GET', `${p}/toxics`)).json).toEqual([]);
    // their errors: Toxiproxy's codes, each with the ApiError body the client decodes
    expectApiError(await goSend('PATCH', `${p}/toxics/latency_downstream`, '{"attributes":{"jitter":1},"toxicity":1}'), 404);
    expectApiError(await goSend('DELETE', `${p}/toxics/latency_downstream`), 404);
    expectApiError(await goSend('POST', `${p}/toxics`, '{"name":"","type":"nope","toxicity":1,"attributes":null}'), 400);
    expectApiError(await goSend('POST', '/proxies/vpce-nope:80/toxics', '{"name":"","type":"latency","toxicity":1,"attributes":null}'), 404);
    expect((await goSend('GET', `${p}/toxics`)).json).toEqual([]);
  });

  it('Proxy.Save() of a proxy read (Disable, Enable): POST /proxies/{name} with the whole proxy, toxics included', async () => {
    const p = `/proxies/${name}`;
    expect(ok(await goSend('POST', `${p}/toxics`, '{"name":"lat","type":"latency","stream":"downstream","toxicity":1,"attributes":{"latency":1}}'))).toBe(true);
    const read = (await goSend('GET', p)).json;
    const save = (enabled: boolean): string => JSON.stringify({ name: read.name, listen: read.listen, upstream: read.upstream, enabled, toxics: read.toxics });
    const off = await goSend('POST', p, save(false));
    expect(ok(off)).toBe(true);
    expectGoProxy(off.json);
    expect(off.json.enabled).toBe(false);
    expect(await echoOnce()).toBe('ECONNREFUSED');
    // Toxiproxy takes PATCH for a proxy's update too
    const on = await goSend('PATCH', p, save(true));
    expect(ok(on)).toBe(true);
    expect(on.json).toEqual({ ...read, enabled: true });
    expect(await echoOnce()).toBe('ok');
    expect(ok(await goSend('DELETE', `${p}/toxics/lat`))).toBe(true);
  });

  it('CreateProxy, Populate and Delete: refused with the ApiError the client reports (proxies are endpoints); nothing changes', async () => {
    const before = (await goSend('GET', '/proxies')).json;
    expectApiError(await goSend('POST', '/proxies', '{"name":"x","listen":"127.0.0.1:0","upstream":"127.0.0.1:1","enabled":true,"toxics":null}'), 405);
    expectApiError(await goSend('POST', '/populate', '[{"name":"x","listen":"127.0.0.1:0","upstream":"127.0.0.1:1","enabled":true,"toxics":null}]'), 405);
    expectApiError(await goSend('DELETE', `/proxies/${name}`), 405);
    expect((await goSend('GET', '/proxies')).json).toEqual(before);
    expect(await echoOnce()).toBe('ok');
  });

  it('ResetState(): POST /reset with an empty body (Content-Length 0, Content-Type application/json)', async () => {
    expect(ok(await goSend('POST', `/proxies/${name}/toxics`, '{"name":"","type":"latency","stream":"upstream","toxicity":1,"attributes":{"latency":5}}'))).toBe(true);
    const p = (await goSend('GET', `/proxies/${name}`)).json;
    expect(ok(await goSend('POST', `/proxies/${name}`, JSON.stringify({ ...p, enabled: false })))).toBe(true);
    const a = await goSend('POST', '/reset', '');
    expect(ok(a)).toBe(true);
    expect((await goSend('GET', `/proxies/${name}`)).json).toEqual({ ...p, enabled: true, toxics: [] });
  });
});

describe('toxiproxy-cli: each command\'s requests', () => {
  it('list, inspect; toxic add (-n, -u, -a latency=100), update (PATCH, toxicity 1 by default), remove; toggle twice', async () => {
    // list: GET /proxies; inspect: GET /proxies/{name}
    expect(ok(await goSend('GET', '/proxies'))).toBe(true);
    expect(ok(await goSend('GET', `/proxies/${name}`))).toBe(true);
    // toxic add -t latency -n myToxic -u -a latency=100 -a jitter=50 <proxy>: Proxy() first, then the POST
    // (attributes parsed as float64: JSON numbers)
    expect(ok(await goSend('GET', `/proxies/${name}`))).toBe(true);
    const added = await goSend('POST', `/proxies/${name}/toxics`, '{"name":"myToxic","type":"latency","stream":"upstream","toxicity":1,"attributes":{"jitter":50,"latency":100}}');
    expect(ok(added)).toBe(true);
    expect(`Added ${added.json.stream} ${added.json.type} toxic '${added.json.name}'`).toBe('Added upstream latency toxic \'myToxic\'');
    // toxic add without -n, with --toxicity 0.25 and no -a: name "" (the default name), attributes {}
    const unnamed = await goSend('POST', `/proxies/${name}/toxics`, '{"name":"","type":"slow_close","stream":"downstream","toxicity":0.25,"attributes":{}}');
    expect(ok(unnamed)).toBe(true);
    expect(unnamed.json).toEqual({ name: 'slow_close_downstream', type: 'slow_close', stream: 'downstream', toxicity: 0.25, attributes: { delay: 0 } });
    // inspect prints each attribute as float64
    const shown = await goSend('GET', `/proxies/${name}`);
    expectGoProxy(shown.json);
    // toxic update -n myToxic -a jitter=25 <proxy>: toxicity 1.0 unless --toxicity
    expect(ok(await goSend('GET', `/proxies/${name}`))).toBe(true);
    const upd = await goSend('PATCH', `/proxies/${name}/toxics/myToxic`, '{"attributes":{"jitter":25},"toxicity":1}');
    expect(ok(upd)).toBe(true);
    expect(upd.json.name).toBe('myToxic');
    expect(upd.json.attributes).toEqual({ latency: 100, jitter: 25 });
    // a fractional attribute (-a latency=1.5) is bad input, as Toxiproxy's integer attributes make it; nothing changes
    expectApiError(await goSend('PATCH', `/proxies/${name}/toxics/myToxic`, '{"attributes":{"latency":1.5},"toxicity":1}'), 400);
    expectApiError(await goSend('PATCH', `/proxies/${name}/toxics/myToxic`, '{"attributes":{"latency":"slow"},"toxicity":1}'), 400);
    expect((await goSend('GET', `/proxies/${name}/toxics/myToxic`)).json.attributes).toEqual({ latency: 100, jitter: 25 });
    // toxic remove -n myToxic <proxy>
    expect(ok(await goSend('GET', `/proxies/${name}`))).toBe(true);
    expect(ok(await goSend('DELETE', `/proxies/${name}/toxics/myToxic`))).toBe(true);
    expect(ok(await goSend('DELETE', `/proxies/${name}/toxics/slow_close_downstream`))).toBe(true);
    // toggle <proxy>: Proxy(), then Save() with enabled flipped; twice
    for (const enabled of [false, true]) {
      const p = (await goSend('GET', `/proxies/${name}`)).json;
      const saved = await goSend('POST', `/proxies/${name}`, JSON.stringify({ name: p.name, listen: p.listen, upstream: p.upstream, enabled, toxics: p.toxics }));
      expect(ok(saved)).toBe(true);
      expect(saved.json.enabled).toBe(enabled);
    }
    await waitFor(async () => (await echoOnce()) === 'ok', 5_000, 'the proxy relaying again');
    // create, delete: the ApiError the CLI prints
    expectApiError(await goSend('POST', '/proxies', '{"name":"p","listen":"127.0.0.1:26379","upstream":"127.0.0.1:6379","enabled":true,"toxics":null}'), 405);
    expectApiError(await goSend('DELETE', `/proxies/${name}`), 405);
  });
});

// /metrics as Prometheus users read it: per-endpoint series kept while the endpoint exists, the
// info series to join on, daemon-wide totals that survive churn, the declared table, promtool's lint.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net, { type Socket } from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import zlib from 'node:zlib';
import { parser } from '@prometheus-io/lezer-promql';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { METRICS } from '../../src/telemetry/metric-table.js';
import {
  CONSUMER, METRICS_TOKEN, ROOT, SERVICE_BODY, metricValue, parseMetrics, scrapeMetrics, startTestDaemon, waitFor, type MetricSample, type TestDaemon,
} from '../helpers.js';
import { echo, randomPort, startBackend, type TestBackend } from './backends.js';

const daemons = new Set<TestDaemon>();
const backends = new Set<TestBackend>();
const sockets = new Set<Socket>();

afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  for (const d of daemons) await d.stop();
  daemons.clear();
  for (const b of backends) await b.close();
  backends.clear();
});

/** a daemon, an echo backend, and an endpoint service of one port (approval off unless told) open to the consumer */
async function world(approval = false): Promise<{ d: TestDaemon; port: number; serviceId: string }> {
  const d = await startTestDaemon();
  daemons.add(d);
  const b = await startBackend(echo);
  backends.add(b);
  const port = randomPort();
  const r = await d.provider.post('/vpc-endpoint-services', {
    ...SERVICE_BODY, approval_enabled: approval, ports: [{ client_port: port, server_port: b.port, protocol: 'TCP' }],
  });
  expect(r.status).toBe(200);
  await waitFor(async () => (await d.provider.get(`/vpc-endpoint-services/${r.body.id}`)).body.status === 'available', 5_000, 'service available');
  expect((await d.provider.post(`/vpc-endpoint-services/${r.body.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] })).status).toBe(200);
  return { d, port, serviceId: r.body.id };
}

async function endpointStatus(d: TestDaemon, id: string, status: string): Promise<any> {
  return waitFor(async () => {
    const r = await d.consumer.get(`/vpc-endpoints/${id}`);
    return r.body.status === status ? r.body : null;
  }, 5_000, `endpoint ${id} ${status}`);
}

/** connects from `localAddress`; resolves with the socket once `ping` came back, or null when reset */
async function roundTrip(host: string, port: number, localAddress: string): Promise<Socket | null> {
  const s = net.connect({ host, port, localAddress });
  sockets.add(s);
  return new Promise((resolve) => {
    s.on('error', () => resolve(null));
    s.on('close', () => resolve(null));
    s.once('data', () => resolve(s));
    s.write('ping');
  });
}

/** a daemon whose endpoint (whitelist 10.0.1.50) relayed one connection that ended, and refused one: every kind of series has samples */
async function relayedAndRefused(): Promise<TestDaemon> {
    const { d, port, serviceId } = await world();
    const created = await d.consumer.post('/vpc-endpoints', {
      endpoint_service_id: serviceId, vpc_id: 'vpc-client', subnet_id: 'subnet-a', enable_whitelist: true, whitelist: ['10.0.1.50'],
    });
    const ep = await endpointStatus(d, created.body.id, 'accepted');
    const relayed = await roundTrip(ep.host_ip, port, '127.2.1.50');
    expect(relayed).not.toBeNull();
    relayed!.end();
    expect(await roundTrip(ep.host_ip, port, '127.2.1.51')).toBeNull();
    await waitFor(async () => (await metricValue(d.url, 'vpcep_endpoint_closed_connections_total', { endpoint_id: ep.id, reason: 'done' })) === 1, 3_000, 'the close counted');
  return d;
}

const closedOf = (s: Socket) => new Promise<void>((resolve) => { if (s.destroyed) resolve(); else s.once('close', () => resolve()); });
const find = (samples: MetricSample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));

/** the metric names a PromQL expression selects, by Prometheus's own grammar (lezer-promql); throws on a syntax error */
function selectedMetrics(expr: string): string[] {
  const names: string[] = [];
  let error = false;
  parser.parse(expr).iterate({
    enter(n) {
      if (n.type.isError) error = true;
      const id = n.name === 'VectorSelector' ? n.node.getChild('Identifier') : null;
      if (id) names.push(expr.slice(id.from, id.to));
    },
  });
  if (error) throw new Error(`not PromQL: ${expr}`);
  return names;
}

/** every PromQL expression of the dashboard: the panels' targets, and the variables' label_values(SELECTOR, label) */
function dashboardQueries(): string[] {
  const dash = JSON.parse(fs.readFileSync(path.join(ROOT, 'dashboards/vpcep-sim.json'), 'utf8'));
  const exprs: string[] = dash.panels.flatMap((p: any) => (p.targets ?? []).map((t: any) => t.expr));
  for (const v of dash.templating.list) {
    if (v.type !== 'query') continue;
    const m = /^label_values\((.*), *\w+\)$/.exec(v.query.query);
    if (!m) throw new Error(`variable ${v.name}: not label_values(selector, label): ${v.query.query}`);
    exprs.push(m[1]!);
  }
  // Grafana's variables: the interval becomes a duration; $account and $endpoint sit inside strings
  return exprs.map((e) => e.replaceAll('$__rate_interval', '5m'));
}

/** the README's Metrics table, read as a user reads it: each row's metric and its labels and meaning columns */
function readmeMetricRows(): Map<string, { labels: string; meaning: string }> {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.split('<!-- metrics:start -->')[1]!.split('<!-- metrics:end -->')[0]!;
  return new Map([...section.matchAll(/^\| `(vpcep_\w+)`[^|]*\|[^|]*\|([^|]*)\|([^|]*)\|$/gm)].map((m) => [m[1]!, { labels: m[2]!, meaning: m[3]! }]));
}

/** the values a README row lists for its label: in the labels column, the words inside the parentheses; in the meaning column, those after its colon, explanations in parentheses left out */
function documentedValues(row: { labels: string; meaning: string }, column: 'labels' | 'meaning'): string[] {
  const text = column === 'labels' ? /\((.*)\)/.exec(row.labels)?.[1] ?? '' : row.meaning.replace(/\([^)]*\)/g, '').split(':').slice(1).join(':');
  return [...text.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!).sort();
}

describe('metrics Prometheus users can work with', () => {
  it('a cut and a reject stay scrapeable, totals do not restart after a re-accept, the info series joins, delete takes the series and not the daemon-wide totals', async () => {
    const { d, port, serviceId } = await world();
    const created = await d.consumer.post('/vpc-endpoints', {
      endpoint_service_id: serviceId, vpc_id: 'vpc-client', subnet_id: 'subnet-a', enable_whitelist: true, whitelist: ['10.0.1.50'],
    });
    expect(created.status).toBe(200);
    const ep = await endpointStatus(d, created.body.id, 'accepted');
    const held = await roundTrip(ep.host_ip, port, '127.2.1.50');
    expect(held).not.toBeNull();
    expect(await roundTrip(ep.host_ip, port, '127.2.1.51')).toBeNull(); // not in the whitelist

    const info = find(await scrapeMetrics(d.url), 'vpcep_endpoint_info', { endpoint_id: ep.id });
    expect(info.map((x) => x.labels)).toEqual([{
      endpoint_id: ep.id, service_id: serviceId, service_name: ep.endpoint_service_name, vpc_id: 'vpc-client', account: CONSUMER.name,
      project_id: CONSUMER.project_id, ip: ep.ip, host_ip: ep.host_ip, snat_ip: ep.snat_ip, zone: 'sim-1a',
    }]);

    const rej = await d.provider.post(`/vpc-endpoint-services/${serviceId}/connections/action`, { action: 'reject', endpoints: [ep.id] });
    expect(rej.status).toBe(200);
    await closedOf(held!);
    const id = { endpoint_id: ep.id };
    await waitFor(async () => (await metricValue(d.url, 'vpcep_endpoint_closed_connections_total', { ...id, reason: 'cut' })) === 1, 3_000, 'the cut counted');
    // rejected: still there, with every figure it had
    let s = await scrapeMetrics(d.url);
    expect(find(s, 'vpcep_endpoint_connections_total', id)[0]?.value).toBe(1);
    expect(find(s, 'vpcep_endpoint_rejected_connections_total', { ...id, reason: 'whitelist' })[0]?.value).toBe(1);
    expect(find(s, 'vpcep_endpoint_received_bytes_total', id)[0]?.value).toBe(4);
    expect(find(s, 'vpcep_endpoint_active_connections', id)[0]?.value).toBe(0);
    expect(find(s, 'vpcep_endpoint_info', id)[0]?.labels.snat_ip).toBe(''); // a rejected endpoint holds no SNAT address

    const again = await d.provider.post(`/vpc-endpoint-services/${serviceId}/connections/action`, { action: 'receive', endpoints: [ep.id] });
    expect(again.status).toBe(200);
    const back = await endpointStatus(d, ep.id, 'accepted');
    const second = await roundTrip(back.host_ip, port, '127.2.1.50');
    expect(second).not.toBeNull();
    second!.end();
    await closedOf(second!);
    await waitFor(async () => (await metricValue(d.url, 'vpcep_endpoint_closed_connections_total', { ...id, reason: 'done' })) === 1, 3_000, 'the close counted');
    s = await scrapeMetrics(d.url);
    expect(find(s, 'vpcep_endpoint_connections_total', id)[0]?.value).toBe(2); // not restarted at 0
    expect(find(s, 'vpcep_endpoint_received_bytes_total', id)[0]?.value).toBe(8);
    expect(find(s, 'vpcep_endpoint_closed_connections_total', { ...id, reason: 'cut' })[0]?.value).toBe(1);

    expect((await d.consumer.delete(`/vpc-endpoints/${ep.id}`)).status).toBe(204);
    s = await scrapeMetrics(d.url);
    expect(s.filter((x) => x.labels.endpoint_id === ep.id).map((x) => x.line)).toEqual([]);
    // daemon-wide totals by reason survive the endpoint
    expect(find(s, 'vpcep_connections_total')[0]?.value).toBe(2);
    expect(find(s, 'vpcep_closed_connections_total', { reason: 'cut' })[0]?.value).toBe(1);
    expect(find(s, 'vpcep_closed_connections_total', { reason: 'done' })[0]?.value).toBe(1);
    expect(find(s, 'vpcep_rejected_connections_total', { reason: 'whitelist' })[0]?.value).toBe(1);
    expect(find(s, 'vpcep_rejected_connections_total', { reason: 'cap' })[0]?.value).toBe(0);
  });

  it('an endpoint never live (awaiting acceptance, failed at its activation) has its info series and no per-endpoint series until its first time live (before: every one at 0, where the README says from the first time live)', async () => {
    const { d, serviceId } = await world(true);
    const perEndpoint = (s: MetricSample[], id: string) => s.filter((x) => x.labels.endpoint_id === id && x.name !== 'vpcep_endpoint_info').map((x) => x.name);
    const pending = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: serviceId, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
    expect(pending.body.status).toBe('pendingAcceptance');
    let s = await scrapeMetrics(d.url);
    expect(find(s, 'vpcep_endpoint_info', { endpoint_id: pending.body.id })).toHaveLength(1);
    expect(perEndpoint(s, pending.body.id)).toEqual([]);

    const armed = await d.provider.post(`/sim/endpoint-services/${serviceId}/fail-next-activation`, { message: 'the next one fails' });
    expect(armed.status, JSON.stringify(armed.body)).toBe(200);
    const failing = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: serviceId, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
    expect((await d.provider.post(`/vpc-endpoint-services/${serviceId}/connections/action`, { action: 'receive', endpoints: [failing.body.id] })).status).toBe(200);
    await endpointStatus(d, failing.body.id, 'failed');
    s = await scrapeMetrics(d.url);
    expect(find(s, 'vpcep_endpoint_info', { endpoint_id: failing.body.id })).toHaveLength(1);
    expect(perEndpoint(s, failing.body.id)).toEqual([]);

    // accepted: live, its series from 0
    expect((await d.provider.post(`/vpc-endpoint-services/${serviceId}/connections/action`, { action: 'receive', endpoints: [pending.body.id] })).status).toBe(200);
    await endpointStatus(d, pending.body.id, 'accepted');
    s = await scrapeMetrics(d.url);
    const id = { endpoint_id: pending.body.id };
    for (const name of ['vpcep_endpoint_connections_total', 'vpcep_endpoint_active_connections', 'vpcep_endpoint_received_bytes_total', 'vpcep_endpoint_sent_bytes_total', 'vpcep_endpoint_snat_ports_in_use']) {
      expect(find(s, name, id).map((x) => x.value), name).toEqual([0]);
    }
  });

  it("a service's per-backend counters go on across a reject and a re-accept of its only endpoint, and across its delete and a new endpoint; they go with the service (before: gone at the reject, back at 0)", async () => {
    const { d, port, serviceId } = await world();
    const backendSeries = async () => (await scrapeMetrics(d.url)).filter((x) => x.name === 'vpcep_backend_connections_total' && x.labels.service_id === serviceId).map((x) => x.value);
    const relay = async (hostIp: string, n: number) => {
      for (let i = 0; i < n; i++) {
        const s = await roundTrip(hostIp, port, '127.2.1.50');
        expect(s).not.toBeNull();
        s!.end();
        await closedOf(s!);
      }
    };
    const created = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: serviceId, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
    const ep = await endpointStatus(d, created.body.id, 'accepted');
    await relay(ep.host_ip, 5);
    expect(await backendSeries()).toEqual([5]);

    expect((await d.provider.post(`/vpc-endpoint-services/${serviceId}/connections/action`, { action: 'reject', endpoints: [ep.id] })).status).toBe(200);
    await endpointStatus(d, ep.id, 'rejected');
    expect(await backendSeries()).toEqual([5]);
    expect((await d.provider.post(`/vpc-endpoint-services/${serviceId}/connections/action`, { action: 'receive', endpoints: [ep.id] })).status).toBe(200);
    const back = await endpointStatus(d, ep.id, 'accepted');
    expect(await backendSeries()).toEqual([5]);
    await relay(back.host_ip, 1);
    expect(await backendSeries()).toEqual([6]);

    expect((await d.consumer.delete(`/vpc-endpoints/${ep.id}`)).status).toBe(204);
    await waitFor(async () => (await d.consumer.get(`/vpc-endpoints/${ep.id}`)).status === 404, 5_000, 'the endpoint gone');
    expect(await backendSeries()).toEqual([6]);
    const next = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: serviceId, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
    const ep2 = await endpointStatus(d, next.body.id, 'accepted');
    expect(await backendSeries()).toEqual([6]);
    await relay(ep2.host_ip, 1);
    expect(await backendSeries()).toEqual([7]);

    expect((await d.consumer.delete(`/vpc-endpoints/${ep2.id}`)).status).toBe(204);
    await waitFor(async () => (await d.consumer.get(`/vpc-endpoints/${ep2.id}`)).status === 404, 5_000, 'the endpoint gone');
    expect((await d.provider.delete(`/vpc-endpoint-services/${serviceId}`)).status).toBe(204);
    await waitFor(async () => (await d.provider.get(`/vpc-endpoint-services/${serviceId}`)).status === 404, 5_000, 'the service gone');
    expect(await backendSeries()).toEqual([]);
  });

  it('requests refused while routing (a bad percent-escape in the path, a path parameter over 100 characters) are counted with route "unmatched" and logged (before: neither)', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk, _enc, done) { lines.push(...String(chunk).split('\n').filter(Boolean)); done(); } });
    const d = await startTestDaemon(undefined, undefined, { log: pino({ level: 'debug' }, sink) });
    daemons.add(d);
    const count = async (code: string) => (await metricValue(d.url, 'vpcep_api_requests_total', { method: 'GET', route: 'unmatched', code })) ?? 0;
    const [bad0, long0] = [await count('400'), await count('414')];
    expect((await d.consumer.get('/vpc-endpoints/%E0%A4%A')).status).toBe(400);
    expect((await fetch(`${d.url}/%ZZ`)).status).toBe(400);
    expect((await d.consumer.get(`/vpc-endpoints/${'e'.repeat(101)}`)).status).toBe(414);
    expect(await count('400')).toBe(bad0 + 2);
    expect(await count('414')).toBe(long0 + 1);
    const logged = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'api request' && l.route === 'unmatched');
    expect(logged.map((l) => [l.method, l.code])).toEqual(expect.arrayContaining([['GET', 400], ['GET', 400], ['GET', 414]]));
    expect(logged.filter((l) => l.code === 400 || l.code === 414)).toHaveLength(3);
  });

  it('the per-endpoint series and the info series need the metrics token; vpcep_build_info is anyone\'s', async () => {
    const { d, serviceId } = await world();
    const created = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: serviceId, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
    await endpointStatus(d, created.body.id, 'accepted');
    const open = await (await fetch(`${d.url}/metrics`)).text();
    expect(open).not.toContain(created.body.id);
    expect(open).not.toContain('endpoint_id=');
    expect(open).toMatch(/^vpcep_build_info\{version="\d+\.\d+\.\d+",node_version="v\d+[^"]*",relay="(native|js)"\} 1$/m);
    const withToken = await (await fetch(`${d.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
    expect(withToken).toContain(`vpcep_endpoint_info{endpoint_id="${created.body.id}"`);
    // the scheme is case-insensitive; the token is not, nor a token with more after it
    const scrape = async (authorization: string) => {
      const r = await fetch(`${d.url}/metrics`, { headers: { authorization } });
      return { status: r.status, text: await r.text(), challenge: r.headers.get('www-authenticate') };
    };
    expect((await scrape(`bearer ${METRICS_TOKEN}`)).text).toContain(`vpcep_endpoint_info{endpoint_id="${created.body.id}"`);
    for (const wrong of [`Bearer ${METRICS_TOKEN.toUpperCase()}`, `Bearer ${METRICS_TOKEN}x`, `Basic ${METRICS_TOKEN}`, 'Bearer ', 'Bearer']) {
      const r = await scrape(wrong);
      // RFC 9110 15.5.2: a 401 carries a challenge (it had none)
      expect({ wrong, status: r.status, body: JSON.parse(r.text), challenge: r.challenge })
        .toEqual({ wrong, status: 401, body: { error_code: 'EndPoint.0003', error_msg: expect.any(String) }, challenge: 'Bearer realm="vpcep-sim metrics"' });
    }
  });

  it('a scrape in gzip when the scraper takes it (one member: curl --compressed reads it all), the same series as in plain text; plain otherwise', async () => {
    const { d, port, serviceId } = await world();
    const created = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: serviceId, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
    const ep = await endpointStatus(d, created.body.id, 'accepted');
    expect(await roundTrip(ep.host_ip, port, '127.2.1.50')).not.toBeNull();
    await waitFor(async () => (await metricValue(d.url, 'vpcep_endpoint_connections_total', { endpoint_id: ep.id })) === 1, 5_000, 'the connection counted');
    const get = (encoding?: string) => new Promise<{ headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
      const req = http.get(`${d.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}`, ...(encoding ? { 'accept-encoding': encoding } : {}) } }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (b: Buffer) => parts.push(b));
        res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(parts) }));
      });
      req.on('error', reject);
    });
    const perEndpoint = (text: string) => text.split('\n').filter((l) => l.includes('endpoint_id=') || l.startsWith('# HELP vpcep_endpoint_'));
    const plain = await get();
    expect(plain.headers['content-encoding']).toBeUndefined();
    const lines = perEndpoint(plain.body.toString('utf8'));
    expect(lines).toContain(`vpcep_endpoint_connections_total{endpoint_id="${ep.id}"} 1`);
    // twice: the second is made of the chunks kept from the first
    for (let i = 0; i < 2; i++) {
      const gz = await get('deflate, gzip;q=0.8');
      expect(gz.headers['content-encoding']).toBe('gzip');
      expect(gz.body.length).toBeLessThan(plain.body.length);
      expect(perEndpoint(zlib.gunzipSync(gz.body).toString('utf8'))).toEqual(lines);
    }
    expect((await get('gzip;q=0, identity')).headers['content-encoding']).toBeUndefined();
    // curl --compressed reads a reply's first gzip member only: the reply is one member, so it reads every series
    const viaCurl = await new Promise<string>((resolve, reject) => {
      execFile('curl', ['-sS', '--compressed', '-H', `Authorization: Bearer ${METRICS_TOKEN}`, `${d.url}/metrics`], { maxBuffer: 64 << 20 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
    });
    expect(perEndpoint(viaCurl)).toEqual(lines);
  });

  it('a real scrape is the declared table: every metric, its type, help and labels', async () => {
    const { d, port, serviceId } = await world();
    const created = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: serviceId, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
    const ep = await endpointStatus(d, created.body.id, 'accepted');
    expect(await roundTrip(ep.host_ip, port, '127.2.1.50')).not.toBeNull();
    const text = await (await fetch(`${d.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
    const families = new Map<string, { type?: string; help?: string }>();
    for (const m of text.matchAll(/^# (HELP|TYPE) (vpcep_\w+) (.*)$/gm)) {
      const f = families.get(m[2]!) ?? {};
      if (m[1] === 'HELP') f.help = m[3]; else f.type = m[3];
      families.set(m[2]!, f);
    }
    expect([...families.keys()].sort()).toEqual(METRICS.map((x) => x.name).sort());
    for (const spec of METRICS) expect(families.get(spec.name), spec.name).toEqual({ type: spec.type, help: spec.help });
    for (const x of (await scrapeMetrics(d.url)).filter((x) => x.name.startsWith('vpcep_'))) {
      const spec = METRICS.find((m) => x.name === m.name || (m.type === 'histogram' && /^(.*)_(bucket|sum|count)$/.exec(x.name)?.[1] === m.name))!;
      expect(spec, x.name).toBeDefined();
      const extra = spec.type === 'histogram' && x.name.endsWith('_bucket') ? ['le'] : [];
      expect(Object.keys(x.labels).sort(), x.line).toEqual([...spec.labels, ...extra].sort());
    }
  });

  it('the README\'s Metrics table is what a real scrape after traffic shows: every metric, the values the daemon-wide series list, prom-client\'s defaults less the *_total gauges', async () => {
    const rows = readmeMetricRows();
    expect(rows.size).toBeGreaterThan(50);
    const d = await relayedAndRefused();
    const text = await (await fetch(`${d.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
    const families = new Set([...text.matchAll(/^# TYPE (\w+) /gm)].map((m) => m[1]!));
    expect([...rows.keys()].filter((n) => !families.has(n)), 'in the README, not in the scrape').toEqual([]);
    expect([...families].filter((n) => n.startsWith('vpcep_') && !rows.has(n)), 'in the scrape, not in the README').toEqual([]);

    // series shown with every value from the start, zeros too: the values are the README's, no more, no fewer
    const samples = parseMetrics(text);
    const scraped = (name: string, label: string) => [...new Set(find(samples, name).map((x) => x.labels[label]!))].sort();
    const listed: Array<[metric: string, label: string, row: string, column: 'labels' | 'meaning']> = [
      ['vpcep_rejected_connections_total', 'reason', 'vpcep_endpoint_rejected_connections_total', 'meaning'],
      ['vpcep_closed_connections_total', 'reason', 'vpcep_endpoint_closed_connections_total', 'meaning'],
      ['vpcep_backend_choices_total', 'reason', 'vpcep_backend_choices_total', 'meaning'],
      ['vpcep_api_refused_total', 'reason', 'vpcep_api_refused_total', 'meaning'],
      ['vpcep_route_decisions_total', 'target_type', 'vpcep_route_decisions_total', 'meaning'],
      ['vpcep_health_probes_total', 'result', 'vpcep_health_probes_total', 'labels'],
      ['vpcep_health_targets', 'state', 'vpcep_health_targets', 'labels'],
      ['vpcep_notifications_total', 'result', 'vpcep_notifications_total', 'labels'],
      ['vpcep_provisioning_faults_total', 'fault', 'vpcep_provisioning_faults_total', 'labels'],
      ['vpcep_internet_bytes_total', 'direction', 'vpcep_internet_bytes_total', 'labels'],
    ];
    for (const [metric, label, row, column] of listed) {
      const values = documentedValues(rows.get(row)!, column);
      expect(values.length, `${row}: the README lists values`).toBeGreaterThan(1);
      expect(scraped(metric, label), `${metric}{${label}}`).toEqual(values);
    }

    // the row after the table: prom-client's process_* and nodejs_* series, less the three gauges named *_total
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const removed = /`nodejs_active_\{([a-z,]+)\}_total`/.exec(readme)![1]!.split(',');
    expect(removed).toEqual(['handles', 'requests', 'resources']);
    for (const r of removed) {
      expect(families.has(`nodejs_active_${r}_total`), `nodejs_active_${r}_total`).toBe(false);
      expect(families.has(`nodejs_active_${r}`), `nodejs_active_${r}`).toBe(true);
    }
    expect([...families].some((n) => n.startsWith('process_'))).toBe(true);
    expect([...families].every((n) => /^(vpcep|process|nodejs)_/.test(n)), [...families].join(' ')).toBe(true);
  });

  it('every query of the Grafana dashboard is PromQL and selects only metrics the daemon exports: declared, and in a real scrape', async () => {
    const queries = dashboardQueries();
    expect(queries.length).toBeGreaterThan(10);
    const used = new Set(queries.flatMap((q) => selectedMetrics(q)));
    const declared = new Set(METRICS.flatMap((m) => (m.type === 'histogram' ? ['_bucket', '_sum', '_count'] : ['']).map((x) => m.name + x)));
    expect([...used].filter((n) => !declared.has(n)), 'selected but not declared').toEqual([]);
    // the dashboard shows what the issue asks: connections and refusals by endpoint and reason, bytes, backend connect time, API requests
    for (const n of ['vpcep_endpoint_connections_total', 'vpcep_endpoint_rejected_connections_total', 'vpcep_rejected_connections_total',
      'vpcep_endpoint_received_bytes_total', 'vpcep_endpoint_sent_bytes_total', 'vpcep_endpoint_backend_connect_seconds_bucket', 'vpcep_api_requests_total', 'vpcep_endpoint_info']) {
      expect(used.has(n), n).toBe(true);
    }
    // a relayed connection that ended, and a refused one: every kind of series has samples
    const d = await relayedAndRefused();
    const scraped = new Set((await scrapeMetrics(d.url)).map((x) => x.name));
    expect([...used].filter((n) => !scraped.has(n)), 'selected but not in a scrape').toEqual([]);
  });

  it('the PromQL check can fail: a typo, a metric that does not exist', () => {
    expect(() => selectedMetrics('sum by (reason) (rate(vpcep_rejected_connections_total[5m])')).toThrow(/not PromQL/);
    expect(selectedMetrics('rate(vpcep_endpoint_conections_total[5m]) * on(endpoint_id) group_left vpcep_endpoint_info'))
      .toEqual(['vpcep_endpoint_conections_total', 'vpcep_endpoint_info']);
  });

  // CI installs Debian's prometheus package (.ci/run); elsewhere a missing promtool skips this test.
  const promtool = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;
  it.runIf(promtool || process.env.CI === 'true')('promtool check metrics finds nothing to say on a real scrape with every kind of series', async () => {
    const { d, port, serviceId } = await world();
    const created = await d.consumer.post('/vpc-endpoints', {
      endpoint_service_id: serviceId, vpc_id: 'vpc-client', subnet_id: 'subnet-a', enable_whitelist: true, whitelist: ['10.0.1.50'],
    });
    const ep = await endpointStatus(d, created.body.id, 'accepted');
    expect(await roundTrip(ep.host_ip, port, '127.2.1.50')).not.toBeNull();
    expect(await roundTrip(ep.host_ip, port, '127.2.1.51')).toBeNull();
    const text = await (await fetch(`${d.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
    expect(text).toContain('vpcep_endpoint_backend_connect_seconds_bucket');
    let out = '';
    let status = 0;
    try {
      out = execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (err) {
      const e = err as { status: number; stdout: string; stderr: string };
      status = e.status;
      out = `${e.stdout}${e.stderr}`;
    }
    expect(out.trim(), 'promtool check metrics').toBe('');
    expect(status).toBe(0);
  });
});

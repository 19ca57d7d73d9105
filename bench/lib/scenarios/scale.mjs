// 7. Scale: N endpoints (1,000; 100 with --smoke; --endpoints N) of one port each in one vpcepd,
// against HAProxy with N frontends and backends, each path started fresh every round. Figures:
// the relay's RSS before and with all N, its growth per endpoint (and again once each has carried
// connections: per-endpoint state made at first use) (vpcepd: one service and no
// endpoint before; HAProxy: the same config with one frontend), the time to make them live
// (vpcepd: N creates through the API, one at a time, until every one is accepted; HAProxy: its
// config loaded and every frontend bound), the API's create latency (all of them, and the last
// 1,000: does a create slow down as endpoints accumulate?), a metrics scrape (vpcepd's
// GET /metrics with the token, every per-endpoint series; HAProxy's Prometheus exporter), the
// connection rate of one client process spread round robin over all N and on one of them (their
// ratio says whether the per-connection path is O(1) in N), and a restart: vpcepd restores every
// endpoint from its store before the API answers; HAProxy loads its config again.
//
// The world's vpcepd and HAProxy step aside meanwhile (the scale daemon needs the same VPC and
// SNAT addresses): stopped at setup, started again at teardown.
import fs from 'node:fs';
import path from 'node:path';
import { haproxyConfig, HAPROXY_MAXCONN } from '../haproxy.mjs';
import { freePort, pickPorts, waitForPort } from '../net.mjs';
import { rootDir, libDir } from '../paths.mjs';
import { rssKiB, sleep, start, startWorker, stop, workerReady } from '../procs.mjs';
import { median } from '../stats.mjs';
import { processCpuSeconds } from '../cpu.mjs';
import { Vpcepd, METRICS_TOKEN, VPC_ID, SUBNET_ID } from '../vpcep.mjs';

/** endpoints accepted (vpcep_endpoints{status="accepted"}) */
const accepted = async (d) => (await d.metrics()).find((s) => s.name === 'vpcep_endpoints' && s.labels.status === 'accepted')?.value ?? 0;

const RATE_CONNECTIONS = 50;
/**
 * RSS is read once the relay has been idle this long, both alike: what `ps` shows of a server left
 * alone, not the leftovers of the burst just before (vpcepd gives back what a burst grew after a
 * quiet window of 5 s: src/memory-release.ts; read 1 s after, its figure swung with the GC's timing)
 */
const SETTLE_MS = 12_000;
/** --smoke checks that the scenario runs, in a minute: its memory figures are read after 1 s */
const settledRssKiB = async (env, pid) => {
  await sleep(env.opts.smoke ? 1_000 : SETTLE_MS);
  return rssKiB(pid);
};
const SCRAPES = 10;
const MAXCONN = 2000;
/** HAProxy's i-th scale frontend: 250 per /24 of 127.201/16 */
const FRONTEND_HOST = (i) => `127.201.${Math.floor(i / 250)}.${(i % 250) + 1}`;

const percentile = (xs, p) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length ? v[Math.min(v.length - 1, Math.floor(v.length * p))] : null;
};

/** SCRAPES scrapes one at a time: the median wall time, the size, and the server's CPU per scrape (steadier on a shared machine) */
async function scrapeAll(url, headers, pid) {
  const cpu0 = processCpuSeconds(pid);
  const times = [];
  let bytes = 0;
  for (let i = 0; i < SCRAPES; i++) {
    const t0 = performance.now();
    const res = await fetch(url, { headers });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
    times.push(performance.now() - t0);
    bytes = Buffer.byteLength(text);
  }
  return { ms: median(times), kib: bytes / 1024, cpuMs: ((processCpuSeconds(pid) - cpu0) * 1000) / SCRAPES };
}

export default {
  name: 'scale',
  title: (env) => `scale: ${env.scaleEndpoints.toLocaleString('en-US')} endpoints of one port (HAProxy: as many frontends and backends)`,
  paths: ['vpcep', 'haproxy'],
  figures: [
    { key: 'rss_base_mib', label: 'relay RSS, no endpoint (HAProxy: one frontend)', unit: 'MiB', better: 'lower', digits: 1 },
    { key: 'rss_mib', label: 'relay RSS with all N', unit: 'MiB', better: 'lower', digits: 1 },
    { key: 'kib_per_endpoint', label: 'memory per endpoint', unit: 'KiB', better: 'lower', digits: 1 },
    { key: 'kib_per_endpoint_used', label: 'memory per endpoint, each used (after the rate runs)', unit: 'KiB', better: 'lower', digits: 1 },
    { key: 'live_s', label: 'time to make them live', unit: 's', better: 'lower', digits: 2 },
    { key: 'create_p50_ms', label: 'API create p50', unit: 'ms', better: 'lower', digits: 2 },
    { key: 'create_p99_ms', label: 'API create p99', unit: 'ms', better: 'lower', digits: 2 },
    { key: 'create_p99_last_ms', label: 'API create p99 of the last 1,000 (with N-1,000 made)', unit: 'ms', better: 'lower', digits: 2 },
    { key: 'scrape_ms', label: 'metrics scrape, median of 10', unit: 'ms', better: 'lower', digits: 1 },
    { key: 'scrape_cpu_ms', label: 'metrics scrape, the relay\'s CPU per scrape', unit: 'ms', better: 'lower', digits: 1 },
    { key: 'scrape_kib', label: 'metrics scrape size', unit: 'KiB', better: 'lower', digits: 0 },
    { key: 'rate_spread', label: 'connections/s spread over all N', unit: 'conn/s', better: 'higher', digits: 0 },
    { key: 'rate_one', label: 'connections/s on one of them', unit: 'conn/s', better: 'higher', digits: 0 },
    { key: 'spread_over_one', label: 'spread / one (1.0: O(1) in N)', unit: '', better: 'higher', digits: 2 },
    { key: 'start_empty_s', label: 'start with no endpoint (HAProxy: one frontend) until it serves', unit: 's', better: 'lower', digits: 2 },
    { key: 'restore_s', label: 'restart until all N serve again', unit: 's', better: 'lower', digits: 2 },
  ],
  async setup(env) {
    this.env = env;
    this.n = env.scaleEndpoints;
    if (this.n > 8000) throw new Error('scale: at most 8,000 endpoints (one /19 subnet)');
    [this.port] = await pickPorts(1, ['127.0.0.1', FRONTEND_HOST(0), FRONTEND_HOST(this.n - 1)]);
    this.world = { vpcep: env.vpcep, haproxy: env.haproxy };
    await env.vpcep.stop();
    await env.haproxy.stop();
    // the first round's daemon, started here so that the run's refusal check has a daemon to ask
    env.vpcep = this.ready = await this.startDaemon(env);
    this.client = startWorker('rate client', path.join(libDir, 'workers/rate-client.mjs'), [], { log: path.join(env.dir, 'rate-client.log') });
    await workerReady(this.client);
    this.round = 0;
  },
  async teardown() {
    const env = this.env;
    if (!env) return;
    await stop(this.client);
    if (env.vpcep !== this.world.vpcep) await env.vpcep.stop();
    if (env.haproxy !== this.world.haproxy) await env.haproxy.stop();
    env.vpcep = this.world.vpcep;
    env.haproxy = this.world.haproxy;
    await env.vpcep.restart(env.endpoints.map((e) => e.id));
    await env.freshRelay('haproxy');
  },
  async rates(targets) {
    const ms = Math.max(1, this.env.opts.duration) * 1000;
    const spread = await this.client.request({ op: 'run', targets, concurrency: RATE_CONNECTIONS, ms }, ms + 60_000);
    const one = await this.client.request({ op: 'run', targets: [targets[0]], concurrency: RATE_CONNECTIONS, ms }, ms + 60_000);
    for (const [what, r] of [['spread', spread], ['one', one]]) {
      if (r.failed > Math.max(10, r.done * 0.001)) throw new Error(`rate (${what}): ${r.failed} failed of ${r.done + r.failed}: ${JSON.stringify(r.errors)}`);
    }
    const rate = (r) => (r.done * 1000) / r.ms;
    return { rate_spread: rate(spread), rate_one: rate(one), spread_over_one: rate(spread) / rate(one) };
  },
  /** a fresh vpcepd of its own data dir, for N endpoints in a /19 subnet */
  async startDaemon(env) {
    const dir = fs.mkdtempSync(path.join(env.dir, 'scale-vpcep-'));
    const t0 = performance.now();
    const d = await Vpcepd.start({ root: env.opts.scaleRoot ?? rootDir, dir, snat: env.opts.snat, relay: env.opts.relay, socketBuffer: env.opts.socketBuffer, endpoints: this.n, subnetCidr: '10.77.0.0/19' });
    this.emptyStartS = (performance.now() - t0) / 1000;
    return d;
  },
  async run(env, p) {
    this.step = 'start';
    try {
      return await (p === 'vpcep' ? this.runVpcep(env) : this.runHaproxy(env));
    } catch (err) {
      throw new Error(`${p}, ${this.step}: ${err.message}${err.cause ? ` (${err.cause.code ?? err.cause.message})` : ''}`);
    }
  },
  async runVpcep(env) {
    const n = this.n;
    let d = this.ready;
    this.ready = null;
    if (!d) {
      await env.vpcep.stop();
      env.vpcep = d = await this.startDaemon(env);
    }
    const svc = await d.createService([{ client_port: this.port, server_port: env.ports.http }]);
    const rss0 = await settledRssKiB(env, d.pid);
    this.step = 'creates';
    const posts = [];
    const eps = [];
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const p0 = performance.now();
      eps.push(await d.api('POST', '/vpc-endpoints', { endpoint_service_id: svc.id, vpc_id: VPC_ID, subnet_id: SUBNET_ID }));
      posts.push(performance.now() - p0);
    }
    await d.until(`${n} endpoints accepted`, async () => (await accepted(d)) === n, 60_000);
    const liveS = (performance.now() - t0) / 1000;
    const rss1 = await settledRssKiB(env, d.pid);
    // one at a time: the API takes 128 connections at once
    const hosts = [];
    for (const e of eps) hosts.push((await d.api('GET', `/vpc-endpoints/${e.id}`)).host_ip);
    this.step = 'scrape';
    const scrape = await scrapeAll(`${d.url}/metrics`, { authorization: `Bearer ${METRICS_TOKEN}` }, d.pid);
    this.step = 'rates';
    const rates = await this.rates(hosts.map((host) => ({ host, port: this.port })));
    const rss2 = await settledRssKiB(env, d.pid);
    this.step = 'restart';
    await d.stop();
    const r0 = performance.now();
    await d.spawn();
    const restoreS = (performance.now() - r0) / 1000;
    const restored = await accepted(d);
    if (restored !== n) throw new Error(`after the restart ${restored} of ${n} endpoints are accepted`);
    return {
      figures: {
        rss_base_mib: rss0 / 1024, rss_mib: rss1 / 1024, kib_per_endpoint: (rss1 - rss0) / n, kib_per_endpoint_used: (rss2 - rss0) / n, live_s: liveS,
        create_p50_ms: percentile(posts, 0.5), create_p99_ms: percentile(posts, 0.99), create_p99_last_ms: percentile(posts.slice(-1000), 0.99),
        scrape_ms: scrape.ms, scrape_cpu_ms: scrape.cpuMs, scrape_kib: scrape.kib, ...rates, start_empty_s: this.emptyStartS, restore_s: restoreS,
      },
      detail: { endpoints: n, rss_base_kib: rss0, rss_kib: rss1, creates: posts.length },
    };
  },
  async runHaproxy(env) {
    const n = this.n;
    const dir = fs.mkdtempSync(path.join(env.dir, 'scale-haproxy-'));
    const metricsPort = await freePort();
    const frontends = (count) => Array.from({ length: count }, (_, i) => ({ name: `s${i}`, bind: { host: FRONTEND_HOST(i), port: this.port }, server: { host: '127.0.0.1', port: env.ports.http } }));
    const prometheus = ['frontend prometheus', '  mode http', `  bind 127.0.0.1:${metricsPort}`, '  http-request use-service prometheus-exporter', ''].join('\n');
    const launch = async (count) => {
      const cfg = path.join(dir, `haproxy-${count}.cfg`);
      // maxconn 2,000 (the rate runs hold 50): 5,000 frontends and the default 9,100 would need more descriptors than the 20,000 a process gets
      fs.writeFileSync(cfg, `${haproxyConfig(frontends(count)).replaceAll(`maxconn ${HAPROXY_MAXCONN}`, `maxconn ${MAXCONN}`)}\n${prometheus}`);
      const t0 = performance.now();
      const proc = start('haproxy', 'haproxy', ['-f', cfg, '-db'], { log: path.join(dir, 'haproxy.log') });
      await waitForPort(FRONTEND_HOST(count - 1), this.port, 30_000, () => proc.gone);
      return { proc, seconds: (performance.now() - t0) / 1000, stop: () => stop(proc) };
    };
    if (env.haproxy !== this.world.haproxy) await env.haproxy.stop();
    const one = await launch(1);
    const rss0 = await settledRssKiB(env, one.proc.child.pid);
    await one.stop();
    const all = await launch(n);
    env.haproxy = all;
    const rss1 = await settledRssKiB(env, all.proc.child.pid);
    const scrape = await scrapeAll(`http://127.0.0.1:${metricsPort}/metrics`, {}, all.proc.child.pid);
    const rates = await this.rates(frontends(n).map((f) => f.bind));
    const rss2 = await settledRssKiB(env, all.proc.child.pid);
    await all.stop();
    const again = await launch(n);
    env.haproxy = again;
    return {
      figures: {
        rss_base_mib: rss0 / 1024, rss_mib: rss1 / 1024, kib_per_endpoint: (rss1 - rss0) / (n - 1), kib_per_endpoint_used: (rss2 - rss0) / (n - 1), live_s: all.seconds,
        create_p50_ms: null, create_p99_ms: null, create_p99_last_ms: null,
        scrape_ms: scrape.ms, scrape_cpu_ms: scrape.cpuMs, scrape_kib: scrape.kib, ...rates, start_empty_s: one.seconds, restore_s: again.seconds,
      },
      detail: { frontends: n, rss_base_kib: rss0, rss_kib: rss1 },
    };
  },
};

#!/usr/bin/env node
// What a scrape of GET /metrics with the metrics token costs at many endpoints: its time and size,
// and the daemon's RSS, on this build and, side by side in the same run, on another build
// (`--base DIR`: a checkout of an earlier commit with its dist/ built) as the anchor.
//
//   node bench/scrape.mjs [--endpoints 2000] [--scrapes 30] [--rounds 2] [--base DIR] [--relay js|native]
//
// Each daemon gets one service of one port and N endpoints in one VPC (a /20 subnet), and one
// connection through every endpoint (so every per-endpoint series, histogram included, has
// samples); then it is scraped SCRAPES times, one at a time, and stopped before the next daemon
// starts (data-plane addresses are host-wide: two daemons cannot hold the same VPC's), in rounds
// (this, base, this, base, ...). The figures per build are medians over the rounds, the ratios the
// median of the per-round ratios. The daemon's CPU time per scrape is the steadier figure on a
// shared machine; the wall time includes waiting for a core. Each scrape is timed twice: with
// fetch() until its text is decoded (scrape_ms_*: the scraper's gunzip and decoding included), and
// as Prometheus asks (Accept-Encoding: gzip) until the last byte arrives (wire_ms_median, wire_bytes:
// the exporter's part). The CPU per scrape counts both. Prints JSON and writes it under bench/results/.
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { commandLine } from './lib/cli.mjs';
import { Vpcepd, METRICS_TOKEN } from './lib/vpcep.mjs';
import { processCpuSeconds } from './lib/cpu.mjs';
import { atExit, installHandlers, rssKiB, stopAll } from './lib/procs.mjs';
import { median } from './lib/stats.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const USAGE = `usage: node bench/scrape.mjs [--endpoints N] [--scrapes S] [--rounds R] [--base DIR] [--relay js|native]

  --endpoints N  endpoints of the daemon, each with one connection made; default 2000 (at most 4000: one /20 subnet)
  --scrapes S    scrapes of GET /metrics per daemon, one at a time; default 30
  --rounds R     rounds, this build and the base in turn (with --base); default 2
  --base DIR     also measure the daemon of another built checkout (its dist/): the anchor
  --relay RELAY  vpcepd's relay (VPCEP_RELAY): js or native; default js
  -h, --help     this text`;
const line = commandLine('scrape', USAGE, {
  endpoints: { type: 'string' },
  scrapes: { type: 'string' },
  rounds: { type: 'string' },
  base: { type: 'string' },
  relay: { type: 'string' },
});
const N = line.int('endpoints', 2000, 1, 4000);
const SCRAPES = line.int('scrapes', 30, 1, 10_000);
const base = line.checkout('base');
const o = { relay: line.oneOf('relay', 'js', ['js', 'native']), base, rounds: line.int('rounds', 2, 1, 50) };
installHandlers('scrape');
const PORT = 18080;

const echo = net.createServer((s) => { s.on('error', () => {}); s.pipe(s); });
await new Promise((resolve) => echo.listen(0, '127.0.0.1', resolve));

async function through(host) {
  await new Promise((resolve, reject) => {
    const s = net.connect({ host, port: PORT }, () => s.write('x'));
    s.once('data', () => { s.end(); resolve(); });
    s.once('error', reject);
  });
}

/** a daemon of `root` with N endpoints, each with one connection made and closed */
async function setUp(name, root) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `vpcep-scrape-${name}-`));
  atExit(() => fs.rmSync(dir, { recursive: true, force: true }));
  const d = await Vpcepd.start({ root, dir, relay: o.relay, endpoints: N, subnetCidr: '10.77.0.0/20' });
  const svc = await d.createService([{ client_port: PORT, server_port: echo.address().port }]);
  const t0 = performance.now();
  for (let i = 0; i < N; i += 25) {
    const batch = await Promise.all(Array.from({ length: Math.min(25, N - i) }, () => d.createEndpoint(svc.id)));
    for (const e of batch) await through(e.host_ip);
  }
  console.error(`${name}: ${N} endpoints up and used in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const x = { name, root, d, times: [], wireTimes: [], bytes: 0, wireBytes: 0, lines: 0, rss: 0, cpuMs: 0 };
  const cpu0 = processCpuSeconds(d.pid);
  for (let i = 0; i < SCRAPES; i++) await scrape(x);
  x.cpuMs = ((processCpuSeconds(d.pid) - cpu0) * 1000) / SCRAPES;
  x.rss = rssKiB(d.pid);
  await d.stop();
  const { d: _, ...figures } = x;
  return figures;
}

async function scrape(x) {
  const t0 = performance.now();
  const res = await fetch(`${x.d.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  const text = await res.text();
  x.times.push(performance.now() - t0);
  x.bytes = Buffer.byteLength(text);
  x.lines = text.split('\n').filter((l) => l && !l.startsWith('#')).length;
  // as Prometheus asks (Accept-Encoding: gzip), until the last byte, without the scraper's decoding and parsing
  const w0 = performance.now();
  x.wireBytes = await new Promise((resolve, reject) => {
    http.get(`${x.d.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}`, 'accept-encoding': 'gzip' } }, (r) => {
      let n = 0;
      r.on('data', (b) => { n += b.length; });
      r.on('end', () => resolve(n));
    }).on('error', reject);
  });
  x.wireTimes.push(performance.now() - w0);
}

const ROUNDS = o.base ? o.rounds : 1;

try {
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    const runs = [await setUp('this', ROOT)];
    if (o.base) runs.push(await setUp('base', o.base));
    rounds.push(runs.map((x) => ({
      name: x.name, root: x.root, scrape_ms_median: +median(x.times).toFixed(1), scrape_ms_p90: +[...x.times].sort((p, q) => p - q)[Math.floor(x.times.length * 0.9)].toFixed(1),
      wire_ms_median: +median(x.wireTimes).toFixed(1), cpu_ms_per_scrape: +x.cpuMs.toFixed(1), bytes: x.bytes, wire_bytes: x.wireBytes, samples: x.lines, rss_kib: x.rss,
    })));
  }
  const keys = ['scrape_ms_median', 'scrape_ms_p90', 'wire_ms_median', 'cpu_ms_per_scrape', 'bytes', 'wire_bytes', 'samples', 'rss_kib'];
  const out = {
    endpoints: N, scrapes: SCRAPES, rounds: ROUNDS, relay: o.relay, cores: os.cpus().length,
    runs: rounds[0].map((first, i) => ({ name: first.name, root: first.root, ...Object.fromEntries(keys.map((k) => [k, +median(rounds.map((r) => r[i][k])).toFixed(1)])) })),
    per_round: rounds,
  };
  if (o.base) {
    out.this_over_base = Object.fromEntries(keys.map((k) => [k, +median(rounds.map((r) => r[0][k] / r[1][k])).toFixed(2)]));
  }
  console.log(JSON.stringify(out, null, 2));
  fs.mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
  fs.writeFileSync(path.join(ROOT, `bench/results/scrape-${new Date().toISOString().replace(/[:.]/g, '-')}.json`), JSON.stringify(out, null, 2));
} finally {
  await stopAll();
  echo.close();
}

#!/usr/bin/env node
// DNS benchmark (issue 14): queries per second and latency percentiles of vpcepd's embedded DNS
// server (src/dns/) against Debian's dnsmasq answering the same name from a static record, same
// machine, same run, same client. The name is a public gateway service's
// (`s3.us-east-1.amazonaws.com`, one A record); the client is this process: a closed loop of
// `--concurrency` UDP queries in flight over one socket, each answer checked (id and address).
// Rounds interleave the two servers; figures are the medians of the rounds, the ratio the median
// of the per-round ratios. `npm run build` first; dnsmasq from scripts/install-bench-tools.sh.
//   node bench/dns.mjs [--duration S] [--rounds N] [--concurrency C] [--smoke]
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { commandLine } from './lib/cli.mjs';
import { freePort, waitForPort } from './lib/net.mjs';
import { benchDir, rootDir } from './lib/paths.mjs';
import { atExit, installHandlers, start, stop, sleep, stopAll } from './lib/procs.mjs';
import { DAEMON_NODE_FLAGS } from './lib/vpcep.mjs';

const USAGE = `usage: npm run bench:dns -- [--smoke] [--duration S] [--rounds N] [--concurrency C]

  --duration S     seconds of each measured run; default 5 (smoke: 0.5)
  --rounds N       rounds, the two servers in turn; default 3 (smoke: 1)
  --concurrency C  queries in flight; default 32
  --smoke          one short round
  -h, --help       this text`;
const line = commandLine('bench:dns', USAGE, {
  duration: { type: 'string' },
  rounds: { type: 'string' },
  concurrency: { type: 'string' },
  smoke: { type: 'boolean', default: false },
});
const smoke = line.values.smoke;
const duration = line.number('duration', 5, 0.1, 600);
const roundsGiven = line.int('rounds', 3, 1, 50);
const durationS = smoke ? 0.5 : duration;
const rounds = smoke ? 1 : roundsGiven;
const concurrency = line.int('concurrency', 32, 1, 1024);
const NAME = 's3.us-east-1.amazonaws.com';
const ADDRESS = '127.255.0.1';

function dnsmasqPath() {
  for (const p of ['/usr/sbin/dnsmasq', '/sbin/dnsmasq']) if (fs.existsSync(p)) return p;
  const r = spawnSync('sh', ['-c', 'command -v dnsmasq'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

const dnsmasq = dnsmasqPath();
if (!dnsmasq) {
  console.error('bench:dns: dnsmasq is not installed (Debian: apt-get install dnsmasq; scripts/install-bench-tools.sh installs it)');
  process.exit(1);
}

installHandlers('bench:dns');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpcep-bench-dns-'));
atExit(() => fs.rmSync(dir, { recursive: true, force: true }));

/** a query for NAME, type A, recursion desired, with `id` */
function query(id) {
  const labels = NAME.split('.');
  const b = Buffer.alloc(12 + labels.reduce((n, l) => n + l.length + 1, 1) + 4);
  b.writeUInt16BE(id, 0);
  b.writeUInt16BE(0x0100, 2);
  b.writeUInt16BE(1, 4);
  let at = 12;
  for (const l of labels) { b[at++] = l.length; b.write(l, at, 'ascii'); at += l.length; }
  b[at++] = 0;
  b.writeUInt16BE(1, at);
  b.writeUInt16BE(1, at + 2);
  return b;
}

/** whether `reply` answers query `id` with ADDRESS (the last 4 bytes of its one A record) */
function good(reply, id) {
  if (reply.length < 16 || reply.readUInt16BE(0) !== id || (reply[3] & 0xf) !== 0 || reply.readUInt16BE(6) < 1) return false;
  const want = ADDRESS.split('.').map(Number);
  for (let i = 12; i + 6 <= reply.length; i++) {
    if (reply.readUInt16BE(i) === 4 && reply[i + 2] === want[0] && reply[i + 3] === want[1] && reply[i + 4] === want[2] && reply[i + 5] === want[3]) return true;
  }
  return false;
}

/** the closed-loop client: `concurrency` queries in flight for `seconds`; qps and latency percentiles (µs) */
async function load(port, seconds) {
  const s = dgram.createSocket('udp4');
  await new Promise((resolve) => s.bind(0, '127.0.0.1', resolve));
  const sentAt = new Map();
  const latencies = [];
  let nextId = 1;
  let bad = 0;
  let lost = 0;
  let running = true;
  const send = () => {
    const id = nextId;
    nextId = nextId === 0xffff ? 1 : nextId + 1;
    sentAt.set(id, process.hrtime.bigint());
    s.send(query(id), port, '127.0.0.1');
  };
  s.on('message', (m) => {
    const id = m.readUInt16BE(0);
    const t0 = sentAt.get(id);
    if (t0 === undefined) return;
    sentAt.delete(id);
    if (!good(m, id)) bad++;
    latencies.push(Number(process.hrtime.bigint() - t0) / 1000);
    if (running) send();
  });
  // a query lost (UDP) is replaced after 1 s, counted
  const sweep = setInterval(() => {
    const now = process.hrtime.bigint();
    for (const [id, t0] of sentAt) if (now - t0 > 1_000_000_000n) { sentAt.delete(id); lost++; if (running) send(); }
  }, 100);
  const t0 = performance.now();
  for (let i = 0; i < concurrency; i++) send();
  await sleep(seconds * 1000);
  running = false;
  const elapsed = (performance.now() - t0) / 1000;
  clearInterval(sweep);
  await sleep(50);
  s.close();
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies.length ? Math.round(latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]) : null;
  return { qps: Math.round(latencies.length / elapsed), p50_us: pct(0.5), p99_us: pct(0.99), answers: latencies.length, bad, lost };
}

async function startVpcepd() {
  const port = await freePort();
  const api = await freePort();
  const config = {
    region: 'sim-1',
    dns: { listen: `127.0.0.1:${port}` },
    public_services: [{ name: 's3', service_type: 'gateway', prefix_list: { id: 'pl-s3', cidrs: ['100.126.0.1/32'] }, ports: [{ port: await freePort(), target: '127.0.0.1:9' }] }],
  };
  const file = path.join(dir, 'vpcepd.json');
  fs.writeFileSync(file, JSON.stringify(config));
  const t = start('vpcepd', process.execPath, [...DAEMON_NODE_FLAGS, path.join(rootDir, 'bin/vpcepd.js'), '--config', file, '--data-dir', path.join(dir, 'data'), '--listen', `127.0.0.1:${api}`, '--dns-listen', `127.0.0.1:${port}`, '--log-level', 'warn'], { log: path.join(dir, 'vpcepd.log') });
  await waitForPort('127.0.0.1', api, 20_000, () => t.gone);
  return { t, port };
}

async function startDnsmasq() {
  const port = await freePort();
  const t = start('dnsmasq', dnsmasq, [
    '--keep-in-foreground', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--bind-interfaces',
    '--listen-address=127.0.0.1', `--port=${port}`, `--pid-file=${path.join(dir, 'dnsmasq.pid')}`, '--user=root',
    `--host-record=${NAME},${ADDRESS}`, '--local-ttl=60', '--log-facility=-',
  ], { log: path.join(dir, 'dnsmasq.log') });
  await waitForPort('127.0.0.1', port, 10_000, () => t.gone);
  return { t, port };
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

const perRound = [];
try {
  for (let r = 0; r < rounds; r++) {
    const round = {};
    for (const [name, starter] of [['vpcepd', startVpcepd], ['dnsmasq', startDnsmasq]]) {
      const server = await starter();
      await load(server.port, Math.min(0.3, durationS)); // warm-up
      round[name] = await load(server.port, durationS);
      await stop(server.t);
    }
    round.ratio_qps = Number((round.vpcepd.qps / round.dnsmasq.qps).toFixed(3));
    round.ratio_p99 = Number((round.vpcepd.p99_us / round.dnsmasq.p99_us).toFixed(3));
    perRound.push(round);
    console.log(`round ${r + 1}: vpcepd ${round.vpcepd.qps} q/s p99 ${round.vpcepd.p99_us} µs; dnsmasq ${round.dnsmasq.qps} q/s p99 ${round.dnsmasq.p99_us} µs; ratio ${round.ratio_qps}`);
  }
} finally {
  await stopAll();
}

const summary = {};
for (const name of ['vpcepd', 'dnsmasq']) {
  summary[name] = {
    qps: median(perRound.map((r) => r[name].qps)),
    p50_us: median(perRound.map((r) => r[name].p50_us)),
    p99_us: median(perRound.map((r) => r[name].p99_us)),
    bad: perRound.reduce((n, r) => n + r[name].bad, 0),
    lost: perRound.reduce((n, r) => n + r[name].lost, 0),
  };
}
summary.ratio_qps = median(perRound.map((r) => r.ratio_qps));
summary.ratio_p99 = median(perRound.map((r) => r.ratio_p99));
console.table({ vpcepd: summary.vpcepd, dnsmasq: summary.dnsmasq });
console.log(`vpcepd / dnsmasq: ${summary.ratio_qps} of the queries per second, p99 ${summary.ratio_p99}x`);
const bad = summary.vpcepd.bad + summary.dnsmasq.bad;
const dnsmasqVersion = spawnSync(dnsmasq, ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0];
const out = path.join(benchDir, 'results');
fs.mkdirSync(out, { recursive: true });
const file = path.join(out, `dns-${new Date().toISOString().replace(/[:.]/g, '-')}${smoke ? '-smoke' : ''}.json`);
fs.writeFileSync(file, JSON.stringify({
  when: new Date().toISOString(), smoke, node: process.version, dnsmasq: dnsmasqVersion,
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, loadavg: os.loadavg().map((x) => Number(x.toFixed(2))) },
  duration_s: durationS, rounds, concurrency, name: NAME, summary, rounds_figures: perRound,
}, null, 2));
console.log(`written ${path.relative(process.cwd(), file)}`);
if (bad) {
  console.error(`bench:dns: ${bad} answers were wrong`);
  process.exitCode = 1;
}

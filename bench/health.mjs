#!/usr/bin/env node
// What health checks cost: a HealthChecker (dist/dataplane/health-checker.js) in a process of its
// own probes N real backends (listeners in a second process, so each side keeps within the
// 20,000 open files of a process) every --interval seconds; a share of them (--dead) are closed
// so their probes fail and they turn unhealthy. The checker's CPU is read from /proc/<pid>/stat:
// idle first (the anchor: the same process with nothing to probe), then probing for --duration
// seconds, the first round (every target at once) included, and its steady state after the first
// interval. Issue 13's bar: 2,000 backends every 10 s under 5% of one core.
// `npm run bench:health -- [--smoke] [--backends N] [--duration S] [--interval S] [--dead FRACTION]`
import { fork } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { commandLine } from './lib/cli.mjs';

const self = fileURLToPath(import.meta.url);
const ROLE = process.env.VPCEP_BENCH_HEALTH_ROLE;

if (ROLE === 'backends') await backends();
else if (ROLE === 'checker') await checker();
else await main();

/** the listeners: one server per port on 127.0.0.1, each connection closed at once */
async function backends() {
  const [msg] = await once(process, 'message');
  const servers = [];
  for (let i = 0; i < msg.count; i++) {
    const s = net.createServer((sock) => sock.destroy());
    s.on('error', () => undefined);
    await new Promise((resolve, reject) => s.once('error', reject).listen({ host: '127.0.0.1', port: 0, backlog: 128 }, resolve));
    servers.push(s);
  }
  const ports = servers.map((s) => s.address().port);
  // every k-th listener closes: its port refuses, its target turns unhealthy
  const dead = new Set();
  const step = msg.dead > 0 ? Math.max(1, Math.round(1 / msg.dead)) : 0;
  if (step) for (let i = 0; i < servers.length; i += step) dead.add(i);
  await Promise.all([...dead].map((i) => new Promise((r) => servers[i].close(r))));
  process.send({ ports, dead: [...dead].map((i) => ports[i]) });
  await once(process, 'disconnect');
  process.exit(0);
}

/** the measured process: one HealthChecker, driven over IPC */
async function checker() {
  const { HealthChecker } = await import('../dist/dataplane/health-checker.js');
  const hc = new HealthChecker({});
  process.on('message', (m) => {
    if (m.kind === 'set') {
      hc.set(m.targets);
      process.send({ kind: 'set' });
    } else if (m.kind === 'figures') {
      const f = hc.figures();
      process.send({ kind: 'figures', figures: { probes: { ...f.probes }, targets: { ...f.targets }, inFlight: f.inFlight } });
    }
  });
  process.on('disconnect', () => { hc.close(); process.exit(0); });
  process.send({ kind: 'ready' });
}

function cpuSeconds(pid) {
  const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, USER_HZ 100
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}

async function main() {
  const USAGE = `usage: npm run bench:health -- [--smoke] [--backends N] [--duration SECONDS] [--interval SECONDS] [--dead FRACTION]

  --backends N        real backends probed; default 2000 (smoke 200)
  --duration SECONDS  how long the checker probes while measured; default 60 (smoke 5)
  --interval SECONDS  HealthCheckIntervalSeconds of every target (5-300); default 10
  --dead FRACTION     the share of backends closed (their probes refused), below 1; default 0.05
  --smoke             200 backends for 5 s
  -h, --help          this text`;
  const line = commandLine('bench:health', USAGE, {
    smoke: { type: 'boolean', default: false }, backends: { type: 'string' }, duration: { type: 'string' }, interval: { type: 'string' }, dead: { type: 'string' },
  });
  const smoke = line.values.smoke;
  const count = line.int('backends', smoke ? 200 : 2000, 1, 18_000);
  const duration = line.number('duration', smoke ? 5 : 60, 1, 3600);
  const interval = line.number('interval', 10, 5, 300);
  const deadShare = line.number('dead', 0.05, 0, 0.99);
  const anchorSeconds = smoke ? 1 : 10;
  const settings = { interval_s: interval, timeout_s: Math.min(10, Math.floor(interval / 2)), healthy_threshold: 5, unhealthy_threshold: 2 };

  const children = [];
  const spawnRole = (role) => {
    const c = fork(self, [], { env: { ...process.env, VPCEP_BENCH_HEALTH_ROLE: role }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(c);
    return c;
  };
  const stop = () => { for (const c of children) if (c.exitCode === null) c.kill('SIGKILL'); };
  process.on('SIGINT', () => { stop(); process.exit(130); });
  process.on('SIGTERM', () => { stop(); process.exit(143); });
  try {
    const back = spawnRole('backends');
    back.send({ count, dead: deadShare });
    const [{ ports, dead }] = await once(back, 'message');
    const targets = ports.map((port) => ({ key: `127.0.0.1:${port}`, host: '127.0.0.1', port, zone: null, settings }));

    const chk = spawnRole('checker');
    await once(chk, 'message');
    const ask = async (m, kind) => {
      chk.send(m);
      for (;;) {
        const [r] = await once(chk, 'message');
        if (r.kind === kind) return r;
      }
    };
    await sleep(500); // start-up settles
    const idle0 = cpuSeconds(chk.pid);
    await sleep(anchorSeconds * 1000);
    const idleCpu = (cpuSeconds(chk.pid) - idle0) / anchorSeconds;

    const t0 = performance.now();
    const c0 = cpuSeconds(chk.pid);
    await ask({ kind: 'set', targets }, 'set');
    let steady = null;
    if (duration > interval * 1.5) {
      await sleep(interval * 1000 - (performance.now() - t0));
      steady = { t: performance.now(), cpu: cpuSeconds(chk.pid), probes: sum((await ask({ kind: 'figures' }, 'figures')).figures.probes) };
    }
    await sleep(duration * 1000 - (performance.now() - t0));
    const t1 = performance.now();
    const c1 = cpuSeconds(chk.pid);
    const { figures } = await ask({ kind: 'figures' }, 'figures');
    const seconds = (t1 - t0) / 1000;
    const probes = sum(figures.probes);
    const result = {
      when: new Date().toISOString(), smoke, node: process.version,
      machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, load1: os.loadavg()[0] },
      backends: count, dead: dead.length, settings, duration_s: Math.round(seconds * 10) / 10,
      idle_cpu_percent: pct(idleCpu),
      cpu_percent: pct((c1 - c0) / seconds),
      steady_cpu_percent: steady ? pct((c1 - steady.cpu) / ((t1 - steady.t) / 1000)) : null,
      probes_per_s: Math.round(probes / seconds),
      steady_probes_per_s: steady ? Math.round((probes - steady.probes) / ((t1 - steady.t) / 1000)) : null,
      probes: figures.probes, states: figures.targets,
    };
    report(result);
    const out = path.join(path.dirname(self), 'results');
    fs.mkdirSync(out, { recursive: true });
    const file = path.join(out, `health-${result.when.replace(/[:.]/g, '-')}${smoke ? '-smoke' : ''}.json`);
    fs.writeFileSync(file, JSON.stringify(result, null, 2));
    console.log(`written ${path.relative(process.cwd(), file)}`);
    // every live backend healthy; the closed ones unhealthy once two of their probes have failed
    const wrong = figures.targets.healthy !== count - dead.length
      || (duration >= interval * 1.5 && figures.targets.unhealthy !== dead.length)
      || figures.probes.error > 0;
    if (wrong) {
      console.error('the state table is not what the backends are: see above');
      process.exitCode = 1;
    }
  } finally {
    stop();
  }
}

function sum(o) {
  return Object.values(o).reduce((a, b) => a + b, 0);
}

function pct(cores) {
  return Math.round(cores * 1000) / 10;
}

function report(r) {
  const rows = [
    ['backends (closed)', `${r.backends} (${r.dead})`],
    ['interval / timeout', `${r.settings.interval_s} s / ${r.settings.timeout_s} s`],
    ['measured', `${r.duration_s} s`],
    ['checker CPU, idle anchor', `${r.idle_cpu_percent}% of one core`],
    ['checker CPU, probing (first round included)', `${r.cpu_percent}% of one core`],
    ['checker CPU, steady (after the first interval)', r.steady_cpu_percent === null ? 'n/a (run shorter than 1.5 intervals)' : `${r.steady_cpu_percent}% of one core`],
    ['probes/s (steady)', `${r.probes_per_s} (${r.steady_probes_per_s ?? 'n/a'})`],
    ['probes by result', Object.entries(r.probes).map(([k, n]) => `${k} ${n}`).join(', ')],
    ['targets by state', Object.entries(r.states).map(([k, n]) => `${k} ${n}`).join(', ')],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  for (const [k, val] of rows) console.log(`${k.padEnd(w)}  ${val}`);
}

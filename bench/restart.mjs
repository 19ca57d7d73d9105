#!/usr/bin/env node
// Creates and restart at scale, without the load scenario's HAProxy side (issue 16): N endpoints
// of one port created through the API one at a time (the latency of each; p99 of all and of the
// last 1,000), then R restarts of the daemon on that store, each timed from the spawn until the
// API answers (every endpoint is restored before it does), with the daemon's CPU seconds by then
// (steadier than the wall time on a shared machine), at the log level of the load benchmark
// (warn); then one more restart at info, split into the start-up phases the daemon logs
// ("start-up: where the time went"; its 'endpoint live' lines cost that start some time). `npm run bench:restart -- [--endpoints N]
// [--restarts R] [--root DIR]` (DIR: another built checkout to time, e.g. the one before a change);
// `--keep DIR` keeps a copy of the data dir with the N endpoints, `--from DIR` restarts on a copy of
// one instead of creating (the creates take minutes), `--cpu-prof DIR` profiles each restarted daemon.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { commandLine } from './lib/cli.mjs';
import { atExit, installHandlers, stopAll } from './lib/procs.mjs';
import { processCpuSeconds } from './lib/cpu.mjs';
import { rootDir } from './lib/paths.mjs';
import { Vpcepd, VPC_ID, SUBNET_ID } from './lib/vpcep.mjs';

const USAGE = `usage: npm run bench:restart -- [--endpoints N] [--restarts R] [--root DIR] [--keep DIR] [--from DIR] [--cpu-prof DIR]

  --endpoints N  endpoints to create and restore; default 5000 (at most 8000: one /19 subnet)
  --restarts R   restarts timed; default 3
  --root DIR     the checkout whose dist/ runs (default: this one)
  --keep DIR     copy the data dir with the N endpoints to DIR (for --from)
  --from DIR     no creates: restart on a copy of a data dir kept with --keep
  --cpu-prof DIR the restarted daemons run under node --cpu-prof, their profiles written into DIR
  -h, --help     this text`;

const line = commandLine('bench:restart', USAGE, {
  endpoints: { type: 'string' }, restarts: { type: 'string' }, root: { type: 'string' }, keep: { type: 'string' }, from: { type: 'string' }, 'cpu-prof': { type: 'string' },
});
const n = line.int('endpoints', 5000, 1, 8000);
const restarts = line.int('restarts', 3, 1, 20);
const root = line.checkout('root') ?? rootDir;
const keep = line.values.keep === undefined ? null : path.resolve(line.values.keep);
const from = line.values.from === undefined ? null : path.resolve(line.values.from);
const cpuProf = line.values['cpu-prof'] === undefined ? null : path.resolve(line.values['cpu-prof']);
if (from && !fs.existsSync(path.join(from, 'vpcep.db'))) line.usage(`--from ${from}: no vpcep.db there (make one with --keep)`);

const percentile = (xs, p) => {
  const v = [...xs].sort((a, b) => a - b);
  return v[Math.min(v.length - 1, Math.floor(v.length * p))];
};
const ms = (x) => `${x.toFixed(2)} ms`;

installHandlers('bench:restart');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpcep-restart-'));
atExit(() => fs.rmSync(dir, { recursive: true, force: true }));
try {
  if (from) fs.cpSync(from, path.join(dir, 'vpcep-data'), { recursive: true });
  const d = await Vpcepd.start({ root, dir, relay: 'auto', endpoints: n, subnetCidr: '10.77.0.0/19' });
  if (cpuProf) d.args.unshift('--cpu-prof', '--cpu-prof-dir', cpuProf);
  const accepted = async () => (await d.metrics()).find((x) => x.name === 'vpcep_endpoints' && x.labels.status === 'accepted')?.value ?? 0;
  if (!from) await creates(d, accepted);
  if (keep) {
    await d.stop();
    fs.cpSync(path.join(dir, 'vpcep-data'), keep, { recursive: true });
    await d.spawn();
  }
  const restart = async () => {
    await d.stop();
    const size = fs.statSync(d.log).size;
    const r0 = performance.now();
    await d.spawn();
    const s = (performance.now() - r0) / 1000;
    const cpu = processCpuSeconds(d.pid);
    const again = await accepted();
    if (again !== n) throw new Error(`after the restart ${again} of ${n} endpoints are accepted`);
    return { s, cpu, log: fs.readFileSync(d.log, 'utf8').slice(size) };
  };
  const times = [];
  const cpus = [];
  for (let r = 0; r < restarts; r++) {
    const { s, cpu } = await restart();
    times.push(s);
    cpus.push(cpu);
    console.log(`restart ${r + 1}: ${s.toFixed(2)} s until the API answers with all ${n} restored; the daemon's CPU by then ${cpu.toFixed(2)} s`);
  }
  // the phases: the daemon logs them at info
  d.args[d.args.indexOf('--log-level') + 1] = 'info';
  const split = await restart();
  const line = split.log.split('\n').filter((l) => l.includes('where the time went')).at(-1);
  const phases = line ? Object.entries(JSON.parse(line)).filter(([k]) => k.endsWith('_ms')).map(([k, v]) => `${k.replace(/_ms$/, '')} ${v}`).join(', ') : 'none logged (a daemon before bench/restart.mjs)';
  console.log(`restart at log level info: ${split.s.toFixed(2)} s, CPU ${split.cpu.toFixed(2)} s; phases (ms): ${phases}`);
  console.log(`restart median: ${percentile(times, 0.5).toFixed(2)} s, CPU ${percentile(cpus, 0.5).toFixed(2)} s; load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')} (${os.cpus().length} cores)`);
  await d.stop();
} finally {
  await stopAll();
}

async function creates(d, accepted) {
  const svc = await d.createService([{ client_port: 7000, server_port: 9 }]);
  const posts = [];
  // the daemon's CPU at each tenth: its CPU per create as endpoints accumulate (steadier than latency on a shared machine)
  const cpuAt = [processCpuSeconds(d.pid)];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const p0 = performance.now();
    await d.api('POST', '/vpc-endpoints', { endpoint_service_id: svc.id, vpc_id: VPC_ID, subnet_id: SUBNET_ID });
    posts.push(performance.now() - p0);
    if ((i + 1) % Math.ceil(n / 10) === 0 || i === n - 1) cpuAt.push(processCpuSeconds(d.pid));
  }
  await d.until(`${n} endpoints accepted`, async () => (await accepted()) === n, 120_000);
  const createS = (performance.now() - t0) / 1000;
  console.log(`${n} creates one at a time: ${createS.toFixed(1)} s; p50 ${ms(percentile(posts, 0.5))}, p99 ${ms(percentile(posts, 0.99))}, p99 of the last 1,000 ${ms(percentile(posts.slice(-1000), 0.99))}, max ${ms(Math.max(...posts))}`);
  for (let k = 0; k < 10; k++) {
    const step = Math.ceil(n / 10);
    const slice = posts.slice(k * step, (k + 1) * step);
    const cpu = cpuAt[k + 1] === undefined ? '' : `, daemon CPU ${(((cpuAt[k + 1] - cpuAt[k]) * 1000) / slice.length).toFixed(2)} ms per create`;
    if (slice.length) console.log(`  creates ${k * step + 1}-${k * step + slice.length}: p50 ${ms(percentile(slice, 0.5))}, p99 ${ms(percentile(slice, 0.99))}${cpu}`);
  }
}

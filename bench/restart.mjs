#!/usr/bin/env node
// Creates and restart at scale, without the load scenario's HAProxy side (issue 16): N endpoints
// of one port created through the API one at a time (the latency of each; p99 of all and of the
// last 1,000), then R restarts of the daemon on that store, each timed from the spawn until the
// API answers (every endpoint is restored before it does) and split into the start-up phases the
// daemon logs ("start-up: where the time went"). `npm run bench:restart -- [--endpoints N]
// [--restarts R] [--root DIR]` (DIR: another built checkout to time, e.g. the one before a change).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { commandLine } from './lib/cli.mjs';
import { installHandlers, stopAll } from './lib/procs.mjs';
import { rootDir } from './lib/paths.mjs';
import { Vpcepd, VPC_ID, SUBNET_ID } from './lib/vpcep.mjs';

const USAGE = `usage: npm run bench:restart -- [--endpoints N] [--restarts R] [--root DIR]

  --endpoints N  endpoints to create and restore; default 5000 (at most 8000: one /19 subnet)
  --restarts R   restarts timed; default 3
  --root DIR     the checkout whose dist/ runs (default: this one)
  -h, --help     this text`;

const line = commandLine('bench:restart', USAGE, { endpoints: { type: 'string' }, restarts: { type: 'string' }, root: { type: 'string' } });
const n = Number(line.values.endpoints ?? 5000);
const restarts = Number(line.values.restarts ?? 3);
if (!Number.isInteger(n) || n < 1 || n > 8000) line.usage('--endpoints must be an integer from 1 to 8000');
if (!Number.isInteger(restarts) || restarts < 1 || restarts > 20) line.usage('--restarts must be an integer from 1 to 20');
const root = path.resolve(line.values.root ?? rootDir);

const percentile = (xs, p) => {
  const v = [...xs].sort((a, b) => a - b);
  return v[Math.min(v.length - 1, Math.floor(v.length * p))];
};
const ms = (x) => `${x.toFixed(2)} ms`;

installHandlers();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpcep-restart-'));
try {
  const d = await Vpcepd.start({ root, dir, relay: 'auto', endpoints: n, subnetCidr: '10.77.0.0/19' });
  // info: the daemon logs where its start-up time goes
  d.args[d.args.indexOf('--log-level') + 1] = 'info';
  const svc = await d.createService([{ client_port: 7000, server_port: 9 }]);
  const posts = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const p0 = performance.now();
    await d.api('POST', '/vpc-endpoints', { endpoint_service_id: svc.id, vpc_id: VPC_ID, subnet_id: SUBNET_ID });
    posts.push(performance.now() - p0);
  }
  const accepted = async () => (await d.metrics()).find((x) => x.name === 'vpcep_endpoints' && x.labels.status === 'accepted')?.value ?? 0;
  await d.until(`${n} endpoints accepted`, async () => (await accepted()) === n, 120_000);
  const createS = (performance.now() - t0) / 1000;
  console.log(`${n} creates one at a time: ${createS.toFixed(1)} s; p50 ${ms(percentile(posts, 0.5))}, p99 ${ms(percentile(posts, 0.99))}, p99 of the last 1,000 ${ms(percentile(posts.slice(-1000), 0.99))}, max ${ms(Math.max(...posts))}`);
  for (let k = 0; k < 10; k++) {
    const slice = posts.slice(Math.floor((k * n) / 10), Math.floor(((k + 1) * n) / 10));
    if (slice.length) console.log(`  creates ${Math.floor((k * n) / 10) + 1}-${Math.floor(((k + 1) * n) / 10)}: p50 ${ms(percentile(slice, 0.5))}, p99 ${ms(percentile(slice, 0.99))}`);
  }
  const times = [];
  for (let r = 0; r < restarts; r++) {
    await d.stop();
    const size = fs.statSync(d.log).size;
    const r0 = performance.now();
    await d.spawn();
    const s = (performance.now() - r0) / 1000;
    times.push(s);
    const again = await accepted();
    if (again !== n) throw new Error(`after the restart ${again} of ${n} endpoints are accepted`);
    const fresh = fs.readFileSync(d.log, 'utf8').slice(size).split('\n').filter((l) => l.includes('where the time went'));
    const phases = fresh.length ? JSON.parse(fresh.at(-1)) : null;
    const split = phases ? Object.entries(phases).filter(([k]) => k.endsWith('_ms')).map(([k, v]) => `${k.replace(/_ms$/, '')} ${v}`).join(', ') : 'no phases logged (a daemon before this bench)';
    console.log(`restart ${r + 1}: ${s.toFixed(2)} s until the API answers with all ${n} restored (${split} ms)`);
  }
  console.log(`restart median: ${percentile(times, 0.5).toFixed(2)} s; load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')} (${os.cpus().length} cores)`);
  await d.stop();
} finally {
  await stopAll();
  fs.rmSync(dir, { recursive: true, force: true });
}

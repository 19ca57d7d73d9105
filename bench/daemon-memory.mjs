#!/usr/bin/env node
// Where a vpcepd's memory per endpoint goes: `node bench/daemon-memory.mjs [--endpoints N] [--relay R] [--idle S] [--root DIR] [--snapshots DIR]`
// starts a daemon as the scale scenario does (bench/lib/scenarios/scale.mjs), one service, then N
// endpoints through the API, then one connection through each. At each step: the daemon's RSS and
// its V8 heap (GET /metrics: nodejs_heap_size_used_bytes after the scrape's own garbage is collected
// is not exact, so --snapshots DIR takes heap snapshots through --heapsnapshot-signal instead, to diff
// by constructor). --root DIR: the daemon of another built checkout. Run it in a network namespace of its own.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { commandLine } from './lib/cli.mjs';
import { rootDir } from './lib/paths.mjs';
import { atExit, installHandlers, rssByKind, rssKiB, sleep, stopAll } from './lib/procs.mjs';
import { Vpcepd, VPC_ID, SUBNET_ID } from './lib/vpcep.mjs';

const USAGE = `usage: node bench/daemon-memory.mjs [--endpoints N] [--relay R] [--idle S] [--root DIR] [--snapshots DIR]

  --endpoints N    endpoints created through the API; default 1000 (at most 8000: one /19 subnet)
  --relay R        vpcepd's relay (VPCEP_RELAY): native, js or auto; default native
  --idle S         seconds the daemon is left idle before each step is read; default 12
  --root DIR       the built checkout whose daemon runs; default this one
  --snapshots DIR  a heap snapshot of the daemon at each step into DIR (--heapsnapshot-signal)
  -h, --help       this text`;
const line = commandLine('daemon-memory', USAGE, { endpoints: { type: 'string' }, relay: { type: 'string' }, snapshots: { type: 'string' }, idle: { type: 'string' }, root: { type: 'string' } });
const v = line.values;
const n = line.int('endpoints', 1000, 1, 8000);
const idleS = line.number('idle', 12, 0, 3600);
const relay = line.oneOf('relay', 'native', ['native', 'js', 'auto']);
const root = line.checkout('root') ?? rootDir;
if (v.snapshots !== undefined && !fs.existsSync(v.snapshots)) line.usage(`--snapshots ${path.resolve(v.snapshots)}: no such directory`);
installHandlers('daemon-memory');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpcep-daemon-memory-'));
atExit(() => fs.rmSync(dir, { recursive: true, force: true }));
const backend = net.createServer((s) => s.end('ok')).listen(0, '127.0.0.1');
await new Promise((r) => backend.once('listening', r));
if (v.snapshots) process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${path.resolve(v.snapshots)}`;
const d = await Vpcepd.start({ root, dir, snat: 'auto', relay, endpoints: n, subnetCidr: '10.77.0.0/19' });
const port = 20000 + Math.floor(Math.random() * 20000);
const svc = await d.createService([{ client_port: port, server_port: backend.address().port }]);
let shots = 0;
// each step is read once the daemon has been idle IDLE seconds (12 by default: two of its quiet
// windows, src/memory-release.ts): what `ps` shows of a daemon left alone, not a burst's leftovers
async function step(name) {
  await sleep(idleS * 1000);
  if (v.snapshots) {
    const before = fs.readdirSync(v.snapshots).length;
    process.kill(d.pid, 'SIGUSR2');
    while (fs.readdirSync(v.snapshots).length === before) await sleep(200);
    await sleep(3000);
    shots++;
  }
  // the V8 heap as the daemon reports it (prom-client's default metrics; the scrape's own garbage included)
  const m = await d.metrics();
  const g = (name, labels = {}) => m.find((x) => x.name === name && Object.entries(labels).every(([k, val]) => x.labels[k] === val))?.value ?? 0;
  return { name, rss: rssKiB(d.pid), ...rssByKind(d.pid), heapTotal: g('nodejs_heap_size_total_bytes') / 1024, heapUsed: g('nodejs_heap_size_used_bytes') / 1024, external: g('nodejs_external_memory_bytes') / 1024, newSpace: g('nodejs_heap_space_size_total_bytes', { space: 'new' }) / 1024 };
}
const steps = [await step('no endpoint')];
const ids = [];
for (let i = 0; i < n; i++) ids.push((await d.api('POST', '/vpc-endpoints', { endpoint_service_id: svc.id, vpc_id: VPC_ID, subnet_id: SUBNET_ID })).id);
const accepted = async () => (await d.metrics()).find((x) => x.name === 'vpcep_endpoints' && x.labels.status === 'accepted')?.value ?? 0;
await d.until(`${n} endpoints accepted`, async () => (await accepted()) === n, 60_000);
await sleep(3000);
steps.push(await step('all live'));
const hosts = [];
for (const id of ids) hosts.push((await d.api('GET', `/vpc-endpoints/${id}`)).host_ip);
let failed = 0;
for (const host of hosts) {
  await new Promise((resolve) => {
    const s = net.connect({ host, port }, () => s.resume());
    s.on('error', () => failed++).on('close', resolve);
  });
}
if (failed) console.log(`${failed} connections failed`);
steps.push(await step('each used once'));
const per = (s, k) => ((s[k] - steps[0][k]) / n).toFixed(1).padStart(6);
console.log('KiB per endpoint   RSS  heap total  heap used  new space  external');
for (const s of steps) console.log(`${s.name.padEnd(16)} ${per(s, 'rss')}  ${per(s, 'heapTotal')}      ${per(s, 'heapUsed')}     ${per(s, 'newSpace')}    ${per(s, 'external')}   (RSS ${(s.rss / 1024).toFixed(1)} MiB)`);
// the RSS by kind of mapping (rssByKind: malloc's main arena, its thread arenas, stacks, files, the rest of the anonymous memory)
console.log('KiB per endpoint  malloc  arenas  stacks   files    anon');
for (const s of steps) console.log(`${s.name.padEnd(16)} ${per(s, 'malloc')}  ${per(s, 'arenas')}  ${per(s, 'stacks')}  ${per(s, 'files')}  ${per(s, 'anon')}`);
await d.stop();
backend.close();
await stopAll();

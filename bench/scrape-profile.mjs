#!/usr/bin/env node
// Where a scrape's CPU goes: `node bench/scrape-profile.mjs [--endpoints N] [--scrapes S] [--relay R] [--dir DIR]`
// starts a daemon as bench/scrape.mjs does (N endpoints, one connection through each) with
// `node --cpu-prof` into DIR, scrapes it S times, stops it, and prints the self time per function
// of the samples taken while the scrapes ran (the profile's last stretch, after a marker pause).
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { commandLine } from './lib/cli.mjs';
import { rootDir } from './lib/paths.mjs';
import { processCpuSeconds } from './lib/cpu.mjs';
import { atExit, installHandlers, stopAll } from './lib/procs.mjs';
import { Vpcepd, METRICS_TOKEN } from './lib/vpcep.mjs';

const USAGE = `usage: node bench/scrape-profile.mjs [--endpoints N] [--scrapes S] [--relay R] [--dir DIR]

  --endpoints N  endpoints of the daemon, each with one connection made; default 2000 (at most 4000: one /20 subnet)
  --scrapes S    scrapes of GET /metrics profiled; default 30
  --relay R      vpcepd's relay (VPCEP_RELAY): native, js or auto; default native
  --dir DIR      keep the daemon's .cpuprofile in DIR (default: a temporary directory, removed at the end)
  -h, --help     this text`;
const line = commandLine('scrape-profile', USAGE, { endpoints: { type: 'string' }, scrapes: { type: 'string' }, relay: { type: 'string' }, dir: { type: 'string' } });
const N = line.int('endpoints', 2000, 1, 4000);
const scrapes = line.int('scrapes', 30, 1, 10_000);
const o = { relay: line.oneOf('relay', 'native', ['native', 'js', 'auto']), dir: line.values.dir };
installHandlers('scrape-profile');
const temp = (prefix) => {
  const made = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  atExit(() => fs.rmSync(made, { recursive: true, force: true }));
  return made;
};
if (o.dir !== undefined) fs.mkdirSync(o.dir, { recursive: true });
const dir = o.dir === undefined ? temp('vpcep-scrape-prof-') : path.resolve(o.dir);
const PORT = 18080;
const echo = net.createServer((s) => { s.on('error', () => {}); s.pipe(s); });
await new Promise((resolve) => echo.listen(0, '127.0.0.1', resolve));
// Vpcepd.start's daemon, with --cpu-prof ahead of the script (NODE_OPTIONS may not carry it)
const d = await Vpcepd.start({ root: rootDir, dir: temp('vpcep-scrape-d-'), relay: o.relay, endpoints: N, subnetCidr: '10.77.0.0/20' });
await d.stop();
d.args = ['--cpu-prof', `--cpu-prof-dir=${dir}`, ...d.args];
await d.spawn();
const svc = await d.createService([{ client_port: PORT, server_port: echo.address().port }]);
for (let i = 0; i < N; i += 25) {
  const batch = await Promise.all(Array.from({ length: Math.min(25, N - i) }, () => d.createEndpoint(svc.id)));
  for (const e of batch) {
    await new Promise((resolve, reject) => {
      const s = net.connect({ host: e.host_ip, port: PORT }, () => s.write('x'));
      s.once('data', () => { s.end(); resolve(); });
      s.once('error', reject);
    });
  }
}
await new Promise((r) => setTimeout(r, 2000));
const cpu0 = processCpuSeconds(d.pid);
const t0 = performance.now();
// the profile's timestamps are the monotonic clock's µs, as process.hrtime's
const from = Number(process.hrtime.bigint() / 1000n);
let bytes = 0;
for (let i = 0; i < scrapes; i++) {
  const res = await fetch(`${d.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  bytes = (await res.text()).length;
}
const wallMs = performance.now() - t0;
const to = Number(process.hrtime.bigint() / 1000n);
const cpuMs = ((processCpuSeconds(d.pid) - cpu0) * 1000) / scrapes;
await d.stop();
echo.close();
const file = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => path.join(dir, f)).sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
const p = JSON.parse(fs.readFileSync(file, 'utf8'));
const byId = new Map(p.nodes.map((n) => [n.id, n]));
// the samples taken while the scrapes ran
let t = p.startTime;
const self = new Map();
let total = 0;
for (let i = 0; i < p.samples.length; i++) {
  t += p.timeDeltas[i];
  if (t < from || t > to) continue;
  const n = byId.get(p.samples[i]);
  const f = n.callFrame;
  const k = `${f.functionName || '(anonymous)'} ${path.basename(f.url)}:${f.lineNumber + 1}`;
  self.set(k, (self.get(k) ?? 0) + p.timeDeltas[i]);
  total += p.timeDeltas[i];
}
console.log(`${N} endpoints, ${scrapes} scrapes in ${wallMs.toFixed(0)} ms: ${cpuMs.toFixed(1)} ms CPU per scrape, ${(bytes / 1024).toFixed(0)} KiB${o.dir === undefined ? '' : `; profile ${file}`}`);
for (const [k, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`${(us / 1000).toFixed(1).padStart(8)} ms ${((us / total) * 100).toFixed(1).padStart(5)} %  ${k}`);
await stopAll();

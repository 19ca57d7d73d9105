#!/usr/bin/env node
// Precise effects of toxics (issue 15: ± 10%): vpcepd as a child process with Toxiproxy's API
// (faults.listen), one endpoint to an echo backend in this process, toxics set over Toxiproxy's
// HTTP API. Each effect is measured against its anchor in the same run: a latency toxic's added
// round-trip time (toxic minus no toxic), a bandwidth toxic's transfer rate, the time a timeout,
// slow_close or reset_peer takes, the share toxicity 0.5 applies to, and full speed after the
// toxic's removal (against a second endpoint of the service that no toxic ever touched, the two
// measured in turn, so that the machine's drift between phases cancels out).
// `npm run bench:faults -- [--smoke] [--relay native|js]`; exit 1 when an effect is more than 10%
// off (not with --smoke: CI's machine is shared), 2 on bad usage.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { cpuBetween, cpuSnapshot } from './lib/cpu.mjs';
import { freePort } from './lib/net.mjs';
import { rootDir } from './lib/paths.mjs';
import { commandLine } from './lib/cli.mjs';
import { atExit, installHandlers, stopAll } from './lib/procs.mjs';
import { median } from './lib/stats.mjs';
import { Vpcepd } from './lib/vpcep.mjs';

const USAGE = `usage: npm run bench:faults -- [--smoke] [--relay native|js]

  --relay RELAY  vpcepd's relay (VPCEP_RELAY): native or js; default native
  --smoke        every effect briefly; no exit 1 when one is off
  -h, --help     this text`;
const line = commandLine('bench:faults', USAGE, { smoke: { type: 'boolean', default: false }, relay: { type: 'string' } });
const v = { ...line.values, relay: line.oneOf('relay', 'native', ['native', 'js']) };
installHandlers('bench:faults');

const smoke = v.smoke;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpcep-bench-faults-'));
atExit(() => fs.rmSync(dir, { recursive: true, force: true }));
const echo = net.createServer((s) => { s.on('error', () => undefined); s.pipe(s); });
await new Promise((resolve) => echo.listen(0, '127.0.0.1', resolve));
const faultsPort = await freePort();
const d = await Vpcepd.start({ root: rootDir, dir, relay: v.relay, faults: { enabled: true, listen: `127.0.0.1:${faultsPort}` } });
const clientPort = await freePort();
const svc = await d.createService([{ client_port: clientPort, server_port: echo.address().port }]);
const ep = await d.createEndpoint(svc.id);
// the anchor of full speed: an endpoint of the same service no toxic covers
const untouched = await d.createEndpoint(svc.id);
const proxy = `${ep.id}:${clientPort}`;
const api = `http://127.0.0.1:${faultsPort}`;

async function toxiproxy(method, p, body) {
  const res = await fetch(`${api}${p}`, { method, ...(body ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}) });
  if (res.status >= 300) throw new Error(`${method} ${p}: ${res.status} ${await res.text()}`);
}
const addToxic = (t) => toxiproxy('POST', `/proxies/${proxy}/toxics`, { toxicity: 1, ...t });
const reset = () => toxiproxy('POST', '/reset');

/** a connection to the endpoint (TO: its host address): `read(n)` resolves once n more bytes arrived; `ended` with how it ended and when */
async function connect(to = ep) {
  const s = net.connect({ host: to.host_ip, port: clientPort });
  let got = 0;
  let want = Infinity;
  let wake = () => {};
  s.on('data', (b) => { got += b.length; if (got >= want) wake(); });
  const ended = new Promise((resolve) => {
    s.on('error', (e) => resolve({ how: e.code, at: performance.now() }));
    s.on('end', () => resolve({ how: 'end', at: performance.now() }));
    s.on('close', () => resolve({ how: 'close', at: performance.now() }));
  });
  await new Promise((resolve, reject) => s.once('connect', resolve).once('error', reject));
  return {
    s, ended,
    /** writes n bytes, resolves with the ms until all came back */
    async echo(n) {
      want = got + n;
      const t0 = performance.now();
      const back = new Promise((resolve) => { wake = resolve; });
      s.write(Buffer.alloc(n, 120));
      await back;
      return performance.now() - t0;
    },
  };
}

async function roundTrips(n) {
  const c = await connect();
  const out = [];
  for (let i = 0; i < n; i++) out.push(await c.echo(1));
  c.s.destroy();
  return median(out);
}

/** bytes per second of an echo of `bytes` through endpoint TO (the median of `times`, each on a new connection) */
async function rate(bytes, times = 1, to = ep) {
  const out = [];
  for (let i = 0; i < times; i++) {
    const c = await connect(to);
    const ms = await c.echo(bytes);
    c.s.destroy();
    out.push(bytes / (ms / 1000));
  }
  return median(out);
}

/** ms from a write until the connection ends, and how */
async function untilEnd(write = true) {
  const c = await connect();
  const t0 = performance.now();
  if (write) c.s.write('x');
  else c.s.end();
  const e = await c.ended;
  c.s.destroy();
  return { ms: e.at - t0, how: e.how };
}

const rows = [];
const cpuAtStart = cpuSnapshot();
const row = (effect, unit, expected, measured, note = '') => rows.push({ effect, unit, expected, measured, error: (measured - expected) / expected, note });

await reset();
const baseRtt = await roundTrips(smoke ? 10 : 50);
await addToxic({ type: 'latency', stream: 'downstream', attributes: { latency: 100 } });
row('latency 100 ms: round trip added', 'ms', 100, (await roundTrips(smoke ? 5 : 20)) - baseRtt, `anchor: ${baseRtt.toFixed(2)} ms without`);
await reset();

const bulk = smoke ? 8_000_000 : 50_000_000;
const pairs = smoke ? 2 : 5;
/**
 * the endpoint's echo throughput against the untouched one's: transfers in turn (endpoint and
 * untouched, then untouched and endpoint, ...: neither always goes first), each on a new
 * connection; the ratio of the medians, and the endpoint's median
 */
async function againstUntouched() {
  const mine = [];
  const anchor = [];
  for (let i = 0; i < pairs; i++) {
    if (i % 2 === 1) anchor.push(await rate(bulk, 1, untouched));
    mine.push(await rate(bulk));
    if (i % 2 === 0) anchor.push(await rate(bulk, 1, untouched));
  }
  return { ratio: median(mine) / median(anchor), speed: median(mine) };
}
/** connections the relay threads accepted themselves (the fast path), daemon-wide */
const fastAccepted = async () => (await d.metrics()).find((s) => s.name === 'vpcep_relay_fast_accepted_total')?.value ?? 0;
await rate(bulk); // warm-up: the first transfer of a process is slower
await rate(bulk, 1, untouched);
const before = await againstUntouched();
// 10 Mbit/s = 1,250 KB/s (Toxiproxy's KB: 1,000 bytes); a 5 s transfer (1 s smoke)
await addToxic({ type: 'bandwidth', stream: 'downstream', attributes: { rate: 1_250 } });
const seconds = smoke ? 1 : 5;
row('bandwidth 10 Mbit/s', 'Mbit/s', 10, (await rate(1_250_000 * seconds)) * 8 / 1e6, `${seconds} s of data`);
await reset();
const fastBefore = await fastAccepted();
const after = await againstUntouched();
const fastAfter = (await fastAccepted()) - fastBefore;
// after / before, each against the untouched endpoint in the same phase: the machine's drift between phases cancels out
row('bandwidth removed: full speed again', 'x of before', 1, after.ratio / before.ratio, `against an endpoint no toxic touched, in turn: ${before.ratio.toFixed(3)}x before the toxic, ${after.ratio.toFixed(3)}x after; ${(before.speed * 8 / 1e9).toFixed(2)} Gbit/s before, ${(after.speed * 8 / 1e9).toFixed(2)} after; ${fastAfter} of the ${pairs * 2} connections (both endpoints) after it accepted by the relay threads`);

await addToxic({ type: 'timeout', stream: 'downstream', attributes: { timeout: 500 } });
const t = await untilEnd();
row('timeout 500 ms: closed after', 'ms', 500, t.ms, t.how);
await reset();

await addToxic({ type: 'slow_close', stream: 'downstream', attributes: { delay: 300 } });
const sc = await untilEnd(false);
row('slow_close 300 ms: FIN after', 'ms', 300, sc.ms, sc.how);
await reset();

await addToxic({ type: 'reset_peer', stream: 'upstream', attributes: { timeout: 200 } });
const rp = await untilEnd();
row('reset_peer 200 ms: reset after', 'ms', 200, rp.ms, rp.how);
await reset();

const n = smoke ? 200 : 1_000;
await addToxic({ type: 'limit_data', stream: 'downstream', toxicity: 0.5, attributes: { bytes: 0 } });
let applied = 0;
for (let i = 0; i < n; i += 50) {
  await Promise.all(Array.from({ length: Math.min(50, n - i) }, async () => {
    const c = await connect();
    const first = await Promise.race([c.echo(1).then(() => 'echo'), c.ended.then(() => 'cut')]);
    if (first === 'cut') applied++;
    c.s.destroy();
  }));
}
row('toxicity 0.5: share of connections', 'share', 0.5, applied / n, `${n} connections (binomial sd ${(0.5 / Math.sqrt(n)).toFixed(3)})`);
await reset();

const cpu = cpuBetween(cpuAtStart, cpuSnapshot());
console.log(`## vpcep-sim fault injection: precise effects (relay ${v.relay}${smoke ? ', smoke' : ''})\n`);
console.log('| effect | unit | expected | measured | error | within 10% | note |');
console.log('| --- | --- | ---: | ---: | ---: | --- | --- |');
let off = 0;
for (const r of rows) {
  const ok = Math.abs(r.error) <= 0.1;
  if (!ok) off++;
  console.log(`| ${r.effect} | ${r.unit} | ${r.expected} | ${r.measured.toFixed(r.unit === 'share' || r.unit.startsWith('x') ? 3 : 1)} | ${(r.error * 100).toFixed(1)}% | ${ok ? 'yes' : 'NO'} | ${r.note} |`);
}
if (cpu) console.log(`\nbackground load (CPU used by other processes during the run): ${cpu.background_cores} cores of ${cpu.of_cores}${cpu.background_cores >= 0.25 ? ': the machine was shared, figures are noisier' : ''}`);
await d.stop();
echo.close();
await stopAll();
process.exit(off && !smoke ? 1 : 0);

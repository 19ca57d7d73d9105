#!/usr/bin/env node
// What a storm of refused clients costs the JS thread (issue 16: the relay threads report to
// TypeScript in batches): `node bench/refusal-storm.mjs [--seconds 3] [--rounds 3] [--concurrency 50]`
// runs a data plane of this build (dist/, native relay) in this process with one endpoint whose
// whitelist refuses every client (an on-premises client is never whitelisted), and a client
// process of its own (bench/lib/workers/rate-client.mjs) that keeps C connects in flight for S
// seconds, each refused (reset) by a relay thread. Per refusal: the JS thread's CPU (µs) and
// context switches (/proc/self/task/<pid>), the threads' reports (each a wake of the JS thread);
// and whether the endpoint counted every refusal the client saw. The load average is printed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { commandLine } from './lib/cli.mjs';
import { rootDir } from './lib/paths.mjs';
import { atExit, installHandlers, startWorker, stopAll } from './lib/procs.mjs';

const { values: v, usage } = commandLine('refusal-storm', 'usage: node bench/refusal-storm.mjs [--seconds 3] [--rounds 3] [--concurrency 50]', {
  seconds: { type: 'string', default: '3' },
  rounds: { type: 'string', default: '3' },
  concurrency: { type: 'string', default: '50' },
});
const [SECONDS, ROUNDS, CONCURRENCY] = [v.seconds, v.rounds, v.concurrency].map(Number);
if (![SECONDS, ROUNDS, CONCURRENCY].every((n) => Number.isInteger(n) && n > 0)) usage('--seconds, --rounds and --concurrency are positive integers');
const HZ = 100;
installHandlers('refusal-storm');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpcep-refusal-storm-'));
atExit(() => fs.rmSync(dir, { recursive: true, force: true }));

const { TcpDataPlane } = await import(path.join(rootDir, 'dist/dataplane/data-plane.js'));
const { relayChoice, loadNativeRelay } = await import(path.join(rootDir, 'dist/dataplane/native-relay.js'));
const { createLogger } = await import(path.join(rootDir, 'dist/telemetry/logger.js'));
if (relayChoice().relay !== 'native') throw new Error(`the native relay is needed (${relayChoice().why})`);

/** the JS thread's CPU ticks and context switches so far */
function jsThread() {
  const stat = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
  const status = fs.readFileSync(`/proc/self/task/${process.pid}/status`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const n = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)[1]);
  return { ticks: Number(f[11]) + Number(f[12]), switches: n('voluntary_ctxt_switches') + n('nonvoluntary_ctxt_switches') };
}

const dp = new TcpDataPlane({
  snatMode: 'logical', connectTimeoutMs: 3_000, idleTimeoutMs: 600_000, maxConnections: 100_000, socketBufferBytes: 0, vpcs: [],
  log: createLogger('silent'), observeConnect: () => undefined, forget: () => undefined,
});
const port = 36000 + Math.floor(Math.random() * 2000);
const ack = await dp.apply({ kind: 'endpoint', id: 'ep-storm', live: {
  id: 'ep-storm', marker_id: 1, service_id: 'svc-1', ip: '10.0.1.5', host_ip: '127.0.0.1', vpc_id: 'vpc-x', vpc_number: 200,
  vpc_cidr: '10.200.0.0/16', snat_ip: '', tcp_proxy: 'close', enable_whitelist: true, whitelist: ['10.200.0.0/16'], connection_cap: 100_000,
  enis: [{ zone: 'z-a', ip: '10.0.1.5', host_ip: '127.0.0.1' }], zone_affinity: false,
  backends: [{ client_port: port, host: '127.0.0.1', port: 9, targets: [{ key: '127.0.0.1:9', host: '127.0.0.1', port: 9, zone: null }], health: null, drain_ms: 0 }],
} });
if (!ack.ok) throw new Error(JSON.stringify(ack));
const client = startWorker('storm client', path.join(rootDir, 'bench/lib/workers/rate-client.mjs'), [], { log: path.join(dir, 'client.log') });
const relay = loadNativeRelay();
const refusals = () => dp.stats().find((e) => e.id === 'ep-storm').rejected.whitelist;

process.stdout.write(`refusal-storm: ${ROUNDS} rounds of ${SECONDS} s, ${CONCURRENCY} connects in flight; load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
for (let round = 1; round <= ROUNDS; round++) {
  const r0 = refusals();
  const reports0 = relay.fastFigures().reports;
  const t0 = jsThread();
  const out = await client.request({ op: 'run', targets: [{ host: '127.0.0.1', port }], concurrency: CONCURRENCY, ms: SECONDS * 1000 });
  const t1 = jsThread();
  const reports = relay.fastFigures().reports - reports0;
  const counted = refusals() - r0;
  const n = out.failed;
  process.stdout.write(`  round ${round}: ${n} clients refused (${Math.round(n / (out.ms / 1000))}/s), ${counted} counted${counted === n && out.done === 0 ? '' : ' (MISMATCH)'}; the JS thread per refusal: ${((t1.ticks - t0.ticks) / HZ / n * 1e6).toFixed(2)} µs CPU, ${((t1.switches - t0.switches) / n).toFixed(3)} context switches; ${Number.isNaN(reports) ? 'reports not counted by this build' : `${reports} reports (${(reports / n).toFixed(4)} per refusal)`}\n`);
}
process.stdout.write(`load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
await dp.close();
await stopAll();

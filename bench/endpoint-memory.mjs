#!/usr/bin/env node
// What one live endpoint costs the data plane, in the data plane alone (no control plane, no store,
// no API): `node --expose-gc bench/endpoint-memory.mjs [--endpoints N] [--relay js|native]` applies N
// endpoints of one port each (listeners on 127.201.c.d, as the scale scenario's) to a TcpDataPlane,
// then carries one connection through each, and prints the JS heap and the off-heap bytes (external:
// typed arrays, the addon's) per endpoint after a full GC at each step, with the process's RSS.
// Run it in a network namespace of its own (it binds N loopback addresses). --snapshots DIR writes a
// heap snapshot at each step (step-1: none, step-2: live, step-3: used).
import net from 'node:net';
import path from 'node:path';
import v8 from 'node:v8';
import { TcpDataPlane } from '../dist/dataplane/data-plane.js';
import { createLogger } from '../dist/telemetry/logger.js';
import { commandLine } from './lib/cli.mjs';

const USAGE = `usage: node --expose-gc bench/endpoint-memory.mjs [--endpoints N] [--relay js|native] [--snapshots DIR]

  --endpoints N    endpoints applied, each on a loopback address of its own; default 1000
  --relay RELAY    the data plane's relay (VPCEP_RELAY): js or native; default: the data plane's choice
  --snapshots DIR  a heap snapshot at each step into DIR (step-1: none, step-2: live, step-3: used)
  -h, --help       this text`;
const line = commandLine('endpoint-memory', USAGE, { endpoints: { type: 'string' }, relay: { type: 'string' }, snapshots: { type: 'string' } });
const v = line.values;
const n = line.int('endpoints', 1000, 1, 60_000);
if (v.relay !== undefined) process.env.VPCEP_RELAY = line.oneOf('relay', undefined, ['js', 'native']);
if (typeof globalThis.gc !== 'function') line.usage('run it with node --expose-gc');

const host = (i) => `127.201.${Math.floor(i / 250)}.${(i % 250) + 1}`;
const backend = net.createServer((s) => s.end('ok')).listen(0, '127.0.0.1');
await new Promise((r) => backend.once('listening', r));
const backendPort = backend.address().port;
const port = 20000 + Math.floor(Math.random() * 20000);

let step = 0;
async function measure() {
  for (let i = 0; i < 4; i++) {
    globalThis.gc();
    await new Promise((r) => setTimeout(r, 20));
  }
  // --snapshots DIR: a heap snapshot at each step, to diff by constructor
  if (v.snapshots) v8.writeHeapSnapshot(path.join(v.snapshots, `step-${++step}.heapsnapshot`));
  const m = process.memoryUsage();
  return { heap: m.heapUsed, external: m.external, rss: m.rss };
}

const dp = new TcpDataPlane({
  snatMode: 'logical', connectTimeoutMs: 3_000, idleTimeoutMs: 600_000, maxConnections: 100_000, socketBufferBytes: 0,
  vpcs: [{ number: 2, cidr: '10.77.0.0/16' }], log: createLogger('silent'), observeConnect: () => undefined, forget: () => undefined,
  healthProber: null, summaryIntervalMs: 0,
});
const spec = (i) => ({
  id: `ep-${String(i).padStart(8, '0')}-aaaa-bbbb-cccc-0123456789ab`, marker_id: i + 1, service_id: 'svc-1', ip: `10.77.${i >> 8}.${i & 255}`, host_ip: host(i),
  enis: [{ zone: 'sim-1a', ip: `10.77.${i >> 8}.${i & 255}`, host_ip: host(i) }], vpc_id: 'vpc-1', vpc_number: 2, vpc_cidr: '10.77.0.0/16',
  snat_ip: `198.19.${128 + (i >> 8)}.${(i & 255) + 1}`, tcp_proxy: 'close', backends: [{ client_port: port, host: '127.0.0.1', port: backendPort }],
  enable_whitelist: false, whitelist: [], connection_cap: 3000, security_rules: null, account_id: '0123456789abcdef0123456789abcdef', zone_affinity: false, bandwidth_mbps: null,
});

const before = await measure();
for (let i = 0; i < n; i++) {
  const ack = await dp.apply({ kind: 'endpoint', id: spec(i).id, live: spec(i) });
  if (!ack.ok) throw new Error(`endpoint ${i}: ${ack.reason}`);
}
const live = await measure();
for (let i = 0; i < n; i++) {
  await new Promise((resolve, reject) => {
    const s = net.connect({ host: host(i), port }, () => s.resume());
    s.on('error', reject).on('close', resolve);
  });
}
await new Promise((r) => setTimeout(r, 200));
const used = await measure();
const per = (a, b, k) => ((b[k] - a[k]) / n / 1024).toFixed(2);
console.log(`${n} endpoints, relay ${process.env.VPCEP_RELAY ?? 'default'} (${dp.activeConnections} connections left open)`);
console.log(`KiB per endpoint      heap   external  rss`);
console.log(`live                  ${per(before, live, 'heap').padStart(5)}  ${per(before, live, 'external').padStart(8)}  ${per(before, live, 'rss')}`);
console.log(`each used once        ${per(before, used, 'heap').padStart(5)}  ${per(before, used, 'external').padStart(8)}  ${per(before, used, 'rss')}`);
dp.close();
backend.close();

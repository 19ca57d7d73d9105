#!/usr/bin/env node
// The connection rate the relay threads' route decision and token buckets buy (issue 16):
// `node bench/gateway-rate.mjs [--seconds S] [--rounds N] [--concurrency C]` runs a data plane of
// this build (dist/, native relay) in this process and, in a client process of its own
// (bench/lib/workers/rate-client.mjs: connect, a GET with `Connection: close`, the answer, close),
// measures connections/s
//   - through a gateway endpoint (a VPC client routed by its subnet's table to a public service):
//     the event loop deciding each connection (VPCEP_FAST_ACCEPT=off) against the relay threads;
//   - through an interface endpoint with a per-connection bandwidth limit it never reaches
//     (10,240 Mbit/s): the event loop against the threads, beside the same endpoint with no limit
//     on the threads (the anchor).
// Variants interleave, their order turned every round; medians of per-round ratios; the machine's
// load average is printed (the figures are only comparable within one run).
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { commandLine } from './lib/cli.mjs';
import { rootDir as root } from './lib/paths.mjs';
import { atExit, installHandlers, startWorker, stopAll } from './lib/procs.mjs';

const USAGE = `usage: node bench/gateway-rate.mjs [--seconds S] [--rounds N] [--concurrency C]

  --seconds S      length of each run; default 3
  --rounds N       rounds, every variant once each, their order turned; default 3
  --concurrency C  connections in flight; default 50
  -h, --help       this text`;
const line = commandLine('gateway-rate', USAGE, { seconds: { type: 'string' }, rounds: { type: 'string' }, concurrency: { type: 'string' } });
const SECONDS = line.number('seconds', 3, 0.1, 600);
const ROUNDS = line.int('rounds', 3, 1, 50);
const CONCURRENCY = line.int('concurrency', 50, 1, 5000);
installHandlers('gateway-rate');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpcep-gateway-rate-'));
atExit(() => fs.rmSync(dir, { recursive: true, force: true }));

const { TcpDataPlane } = await import(path.join(root, 'dist/dataplane/data-plane.js'));
const { relayChoice } = await import(path.join(root, 'dist/dataplane/native-relay.js'));
const { createLogger } = await import(path.join(root, 'dist/telemetry/logger.js'));
const { cidrOf } = await import(path.join(root, 'dist/net/cidr.js'));
if (relayChoice().relay !== 'native') throw new Error(`the native relay is needed (${relayChoice().why})`);

// the backend: an HTTP answer and a close, in a process of its own
const backendProc = startWorker('backend', path.join(root, 'bench/lib/workers/http-close-backend.mjs'), [], { log: path.join(dir, 'backend.log') });
const { port: backendPort } = await backendProc.request({ op: 'listen' });
const client = startWorker('rate client', path.join(root, 'bench/lib/workers/rate-client.mjs'), [], { log: path.join(dir, 'client.log') });

const PUBLIC = '54.123.160.9';
const PUBLIC_HOST = '127.255.160.9';
const GATEWAY_PORT = 34000 + Math.floor(Math.random() * 2000);
const VIEW = {
  vpcs: [{
    id: 'vpc-b', number: 3, cidr: '10.0.0.0/16', domainId: 'dom-b',
    subnets: [{ id: 'subnet-a', cidr: '10.0.1.0/24', zone: 'z-a' }],
    tables: [{ id: 'rtb-a', default: true, subnets: ['subnet-a'], routes: [
      { destination: '10.0.0.0/16', type: 'local', owner: 'system' },
      { destination: '0.0.0.0/0', type: 'igw', owner: 'user' },
      { destination: 'pl-s3', type: 'gateway_endpoint', nexthop: 'vpce-s3', owner: 'endpoint' },
    ] }],
  }],
  services: [{ id: 'svc-s3', name: 's3', prefixListId: 'pl-s3', prefixes: [cidrOf(`${PUBLIC}/32`)], targets: [{ port: GATEWAY_PORT, host: '127.0.0.1', hostPort: backendPort }] }],
  endpoints: [{ id: 'vpce-s3', serviceId: 'svc-s3', status: 'accepted', policy: null, cap: 100_000 }],
};
/** VPC 3's clients 127.3.1.x: simulated 10.0.1.x, in subnet-a */
const gatewayTargets = Array.from({ length: 20 }, (_, i) => ({ host: PUBLIC_HOST, port: GATEWAY_PORT, localAddress: `127.3.1.${i + 10}` }));

function spec(id, port, bandwidth) {
  return {
    id, marker_id: 1, service_id: 'svc-1', ip: '10.0.1.5', host_ip: '127.0.0.1', vpc_id: 'vpc-x', vpc_number: 200,
    vpc_cidr: '10.200.0.0/16', snat_ip: '', tcp_proxy: 'close', enable_whitelist: false, whitelist: [], connection_cap: 100_000,
    enis: [{ zone: 'z-a', ip: '10.0.1.5', host_ip: '127.0.0.1' }], zone_affinity: false,
    backends: [{ client_port: port, host: '127.0.0.1', port: backendPort, targets: [{ key: `127.0.0.1:${backendPort}`, host: '127.0.0.1', port: backendPort, zone: null }], health: null, drain_ms: 0 }],
    ...(bandwidth ? { bandwidth_mbps: bandwidth } : {}),
  };
}

/** a data plane with the fast path on or off, set up for SCENARIO; where its clients go */
async function plane(fast, scenario) {
  process.env.VPCEP_FAST_ACCEPT = fast ? 'on' : 'off';
  const dp = new TcpDataPlane({
    snatMode: 'logical', connectTimeoutMs: 3_000, idleTimeoutMs: 600_000, maxConnections: 100_000, socketBufferBytes: 0, vpcs: [],
    log: createLogger('silent'), observeConnect: () => undefined, forget: () => undefined,
  });
  if (scenario === 'gateway') {
    const ack = await dp.apply({ kind: 'routing', view: VIEW });
    if (!ack.ok) throw new Error(JSON.stringify(ack));
    return { dp, targets: gatewayTargets };
  }
  const port = 36000 + Math.floor(Math.random() * 2000);
  const ack = await dp.apply({ kind: 'endpoint', id: 'ep-b', live: spec('ep-b', port, scenario === 'limited' ? 10_240 : 0) });
  if (!ack.ok) throw new Error(JSON.stringify(ack));
  return { dp, targets: [{ host: '127.0.0.1', port }] };
}

async function measure(fast, scenario) {
  const { dp, targets } = await plane(fast, scenario);
  try {
    await client.request({ op: 'run', targets, concurrency: 5, ms: 300 });
    const elu = performance.eventLoopUtilization();
    const r = await client.request({ op: 'run', targets, concurrency: CONCURRENCY, ms: SECONDS * 1000 }, SECONDS * 1000 + 60_000);
    const busy = performance.eventLoopUtilization(elu);
    if (r.failed > r.done / 100) throw new Error(`${scenario} fast=${fast}: ${r.failed} failed ${JSON.stringify(r.errors)}`);
    // the event loop's busy time per connection (what the threads take off it), µs
    return { rate: r.done / (r.ms / 1000), loopUs: (busy.active * 1000) / Math.max(1, r.done) };
  } finally {
    await dp.close();
    await new Promise((res) => setTimeout(res, 200));
  }
}

const VARIANTS = [
  ['gateway: event loop decides', false, 'gateway'],
  ['gateway: relay threads decide', true, 'gateway'],
  ['limited endpoint: event loop', false, 'limited'],
  ['limited endpoint: relay threads', true, 'limited'],
  ['no limit: relay threads (anchor)', true, 'plain'],
];
const rates = new Map(VARIANTS.map(([name]) => [name, []]));
const loops = new Map(VARIANTS.map(([name]) => [name, []]));
console.log(`load average before: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} (${os.cpus().length} CPUs); ${ROUNDS} rounds of ${SECONDS} s, ${CONCURRENCY} in flight`);
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse();
  for (const [name, fast, scenario] of order) {
    const m = await measure(fast, scenario);
    rates.get(name).push(m.rate);
    loops.get(name).push(m.loopUs);
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ratio = (a, b) => median(rates.get(a).map((x, i) => x / rates.get(b)[i]));
for (const [name] of VARIANTS) console.log(`${name.padEnd(34)} ${Math.round(median(rates.get(name))).toLocaleString('en-US').padStart(8)} conn/s  (rounds: ${rates.get(name).map((x) => Math.round(x)).join(', ')}); event loop ${median(loops.get(name)).toFixed(1)} µs busy per connection`);
console.log(`gateway, threads / event loop: ${ratio('gateway: relay threads decide', 'gateway: event loop decides').toFixed(2)}x`);
console.log(`limited endpoint, threads / event loop: ${ratio('limited endpoint: relay threads', 'limited endpoint: event loop').toFixed(2)}x; threads limited / no limit: ${ratio('limited endpoint: relay threads', 'no limit: relay threads (anchor)').toFixed(2)}x`);
console.log(`load average after: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
await stopAll();
process.exit(0);

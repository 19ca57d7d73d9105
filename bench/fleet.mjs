#!/usr/bin/env node
// The fleet benchmark (issue 17), black-box: a real etcd (a temporary data dir, free ports) and
// fleets of 1, 2 and 3 vpcepd processes on it (each its own --listen, --data-dir and DNS address;
// one config), an echo backend in this process, only the Huawei API and TCP. It measures
// (a) endpoint activation: from the create call's answer (and from its start) to the ENI relaying
//     bytes to the backend (connect + echo), one create at a time spread over the nodes;
// (b) failover: SIGKILL one node, probe every endpoint's ENI until each that stopped answering
//     answers again on a surviving node (kill -> answering: the lease runs out, the leader moves the
//     ENIs); an endpoint that never does within the timeout is reported, not a crash, and then the
//     killed node is started again on its data dir (what a supervisor gives) as the anchor.
// (c) API write latency: the same create workload (W writers) against one node on SQLite (the anchor,
//     in the same run), one node on etcd and three nodes on etcd with the writes spread.
// `npm run bench:fleet -- [--smoke] [--endpoints K] [--writes N] [--writers W] [--failover-timeout S]
// [--lease-ttl S] [--relay native|js]`; --lease-ttl writes fleet.lease_ttl_seconds (1-300) into the
// etcd nodes' config (default: the daemon's, 5 s); exit 2 on bad usage.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { commandLine } from './lib/cli.mjs';
import { startBenchEtcd } from './lib/etcd.mjs';
import { freePort } from './lib/net.mjs';
import { rootDir } from './lib/paths.mjs';
import { atExit, installHandlers, sleep, stop, stopAll } from './lib/procs.mjs';
import { median } from './lib/stats.mjs';
import { SUBNET_ID, VPC_ID, Vpcepd } from './lib/vpcep.mjs';

const USAGE = 'usage: npm run bench:fleet -- [--smoke] [--endpoints K] [--writes N] [--writers W] [--failover-timeout S] [--lease-ttl S] [--relay native|js]';
const { values: v, usage } = commandLine('bench:fleet', USAGE, {
  smoke: { type: 'boolean', default: false },
  endpoints: { type: 'string' },
  writes: { type: 'string' },
  writers: { type: 'string' },
  'failover-timeout': { type: 'string' },
  'lease-ttl': { type: 'string' },
  relay: { type: 'string', default: 'native' },
});
const count = (name, dflt) => {
  const x = v[name] === undefined ? dflt : Number(v[name]);
  if (!Number.isInteger(x) || x < 1) usage(`--${name} must be a positive integer, not ${JSON.stringify(v[name])}`);
  return x;
};
/** K: endpoints per fleet for activation and failover */
const K = count('endpoints', v.smoke ? 4 : 40);
const WRITES = count('writes', v.smoke ? 8 : 120);
const WRITERS = count('writers', 4);
/**
 * seconds the failover probes wait for an endpoint that stopped answering: longer than the default
 * 5 s lease even in the smoke, which then sees the failover; shorter, the anchor's restart of the
 * killed node races its lease running out (the leader moving the ENIs while the node binds them)
 */
const T = count('failover-timeout', v.smoke ? 10 : 20);
/** fleet.lease_ttl_seconds of the etcd nodes; null: the daemon's default */
const TTL = v['lease-ttl'] === undefined ? null : count('lease-ttl', 5);
if (TTL !== null && TTL > 300) usage(`--lease-ttl must be at most 300 (fleet.lease_ttl_seconds), not ${TTL}`);
if (!['native', 'js'].includes(v.relay)) usage(`--relay must be native or js, not ${JSON.stringify(v.relay)}`);
if (spawnSync('etcd', ['--version'], { stdio: 'ignore' }).status !== 0) {
  console.error('bench:fleet: etcd is not on PATH (apt-get install etcd-server)');
  process.exit(1);
}
installHandlers('bench:fleet');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpcep-bench-fleet-'));
atExit(() => fs.rmSync(dir, { recursive: true, force: true }));
const echo = net.createServer((s) => { s.on('error', () => undefined); s.pipe(s); });
await new Promise((resolve) => echo.listen(0, '127.0.0.1', resolve));
const clientPort = await freePort();
const now = () => performance.now();

/** nearest-rank percentile */
function pct(xs, p) {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)];
}

/** one connection: connect, send a byte, true once it comes back through the backend; false on refusal or after MS */
function probe(host, ms = 1_000) {
  return new Promise((resolve) => {
    const c = net.connect({ host, port: clientPort });
    const done = (ok) => { clearTimeout(timer); c.destroy(); resolve(ok); };
    const timer = setTimeout(() => done(false), ms);
    c.once('connect', () => c.write('x'));
    c.once('data', () => done(true));
    c.once('error', () => done(false));
    c.once('close', () => done(false));
  });
}

/** probes HOST every 5 ms until it answers: the time it did, or null after UNTIL */
async function answered(host, until) {
  for (;;) {
    if (await probe(host, 500)) return now();
    if (now() > until) return null;
    await sleep(5);
  }
}

let nodeCount = 0;
/** one vpcepd on its own data dir, API port and DNS port; STORE: --store (none: SQLite) */
async function startNode(store) {
  const nodeDir = path.join(dir, `node${++nodeCount}`);
  fs.mkdirSync(nodeDir);
  return Vpcepd.start({ root: rootDir, dir: nodeDir, relay: v.relay, endpoints: K + WRITES + 10, subnetCidr: '10.77.0.0/20', store, dnsPort: await freePort(),
    ...(store && TTL !== null ? { fleet: { lease_ttl_seconds: TTL } } : {}) });
}

/** N nodes: the first writes the config documents, the others start together (the start-up ids are compare-and-swap documents) */
async function startFleet(n, store) {
  const first = await startNode(store);
  return [first, ...await Promise.all(Array.from({ length: n - 1 }, () => startNode(store)))];
}

/** a service (approval off) on the first node, once every node sees it available */
async function openService(nodes) {
  const svc = await nodes[0].createService([{ client_port: clientPort, server_port: echo.address().port }]);
  for (const d of nodes) {
    await d.until(`service ${svc.id} on ${d.url}`, async () => (await d.api('GET', `/vpc-endpoint-services/${svc.id}`).catch(() => null))?.status === 'available');
  }
  return svc;
}

const createBody = (svc) => ({ endpoint_service_id: svc.id, vpc_id: VPC_ID, subnet_id: SUBNET_ID });

/** (a) K creates one at a time, spread over the nodes; each awaited until its ENI relays */
async function activation(nodes, svc) {
  const fromAnswer = [];
  const fromCall = [];
  const endpoints = [];
  for (let k = 0; k < K; k++) {
    const d = nodes[k % nodes.length];
    const t0 = now();
    const e = await d.api('POST', '/vpc-endpoints', createBody(svc));
    const t1 = now();
    const t2 = await answered(e.host_ip, t1 + 30_000);
    if (t2 === null) throw new Error(`endpoint ${e.id} (${e.host_ip}:${clientPort}) did not relay within 30 s of its create`);
    fromAnswer.push(t2 - t1);
    fromCall.push(t2 - t0);
    endpoints.push({ id: e.id, host: e.host_ip });
  }
  return { fromAnswer, fromCall, endpoints };
}

/** (b) SIGKILL the last node; probe every ENI until those that stopped answering answer again, or T s */
async function failover(nodes, endpoints) {
  const victim = nodes[nodes.length - 1];
  const tKill = now();
  victim.proc.child.kill('SIGKILL');
  await victim.proc.exited;
  const state = endpoints.map(() => ({ failed: false, back: null }));
  const until = tKill + T * 1000;
  for (let round = 0; ; round++) {
    await Promise.all(endpoints.map(async (e, i) => {
      const s = state[i];
      if (s.back !== null || (round > 0 && !s.failed)) return;
      const ok = await probe(e.host, 500);
      if (!ok) s.failed = true;
      else if (s.failed) s.back = now() - tKill;
    }));
    if (state.every((s) => !s.failed || s.back !== null) || now() > until) break;
    await sleep(10);
  }
  const failed = state.filter((s) => s.failed).length;
  const back = state.filter((s) => s.back !== null).map((s) => s.back);
  const dead = endpoints.filter((_, i) => state[i].failed && state[i].back === null);
  return { failed, back, never: dead.length, dead };
}

/** the anchor of (b): what a supervisor gives today, the killed node started again on its data dir: spawn -> each DEAD endpoint answering */
async function restartKilled(victim, dead) {
  const t0 = now();
  const up = victim.spawn();
  const times = await Promise.all(dead.map(async (e) => {
    const t = await answered(e.host, t0 + 60_000);
    return t === null ? null : t - t0;
  }));
  await up;
  return times;
}

/** (c) WRITES creates by WRITERS writers at once, the i-th to node i % n: each answered call's latency, and the refusals by answer */
async function writes(nodes, svc) {
  const latencies = [];
  const refused = new Map();
  let next = 0;
  const writer = async () => {
    while (next < WRITES) {
      const d = nodes[next++ % nodes.length];
      const t0 = now();
      try {
        await d.api('POST', '/vpc-endpoints', createBody(svc));
        latencies.push(now() - t0);
      } catch (err) {
        // e.g. 409 EndPoint.0031: the nodes' allocations kept colliding past the retries
        const code = /: (\d{3}) .*"error_code":"([^"]+)"/.exec(err.message);
        const key = code ? `${code[1]} ${code[2]}` : err.message.slice(0, 80);
        refused.set(key, (refused.get(key) ?? 0) + 1);
      }
    }
  };
  await Promise.all(Array.from({ length: WRITERS }, writer));
  return { latencies, refused };
}

const rows = [];
const row = (figure, setup, xs, note = '') => rows.push({ figure, setup, n: xs.length, p50: median(xs), p99: pct(xs, 0.99), note });

async function scenario(setup, n, store, { write = false, kill = false } = {}) {
  const nodes = await startFleet(n, store);
  const svc = await openService(nodes);
  const a = await activation(nodes, svc);
  row('activation, create answered -> ENI relays', setup, a.fromAnswer);
  row('activation, create called -> ENI relays', setup, a.fromCall);
  if (write) {
    const { latencies, refused } = await writes(nodes, svc);
    // the store metrics of the nodes since their start (the daemon-wide series are rendered at most once a second)
    await sleep(1_100);
    const m = (await Promise.all(nodes.map((d) => d.metrics()))).flat();
    const sum = (name) => m.filter((s) => s.name === name).reduce((a, s) => a + s.value, 0);
    row(`API write latency (create, ${WRITERS} writers)`, setup, latencies,
      [...[...refused].map(([k, n]) => `${n} of ${WRITES} refused: ${k}`),
        `since start: ${(sum('vpcep_store_batches_total') / sum('vpcep_store_transactions_total')).toFixed(2)} batches/transaction, ` +
        `${sum('vpcep_store_conflicts_total')} conflicts, ${sum('vpcep_store_conflict_retries_total')} retries`].join('; '));
  }
  if (kill) {
    const f = await failover(nodes, a.endpoints);
    const note = f.failed === 0 ? 'no endpoint stopped answering'
      : f.never ? `no failover (${f.never} of ${K} never answered within ${T} s)` : `${f.failed} of ${K} stopped answering, all answered again`;
    row('failover, SIGKILL -> answering again', setup, f.back, note);
    if (f.dead.length) {
      const times = await restartKilled(nodes[nodes.length - 1], f.dead);
      const never = times.filter((t) => t === null).length;
      row('anchor: killed node restarted -> its ENIs answer', setup, times.filter((t) => t !== null),
        `${f.dead.length} endpoint${f.dead.length === 1 ? '' : 's'}${never ? `, ${never} never answered within 60 s` : ''}`);
    }
  }
  await Promise.all(nodes.map((d) => stop(d.proc, 5_000)));
}

const started = now();
try {
  // the anchor: one node on SQLite, the same workload
  await scenario('SQLite, 1 node', 1, undefined, { write: true });
  const etcd = await startBenchEtcd({ dir });
  await scenario('etcd, 1 node', 1, `${etcd.url}/fleet1`, { write: true });
  await scenario('etcd, 2 nodes', 2, `${etcd.url}/fleet2`, { kill: true });
  await scenario('etcd, 3 nodes', 3, `${etcd.url}/fleet3`, { write: true, kill: true });
} finally {
  echo.close();
  await stopAll();
}

const fmt = (x) => (x === null || x === undefined ? '—' : x.toFixed(1));
const anchor = (figure, key) => rows.find((r) => r.figure === figure && r.setup === 'SQLite, 1 node')?.[key];
const ratio = (r, key) => {
  const a = anchor(r.figure, key);
  return r.setup === 'SQLite, 1 node' || !a || r[key] === null ? '' : `${(r[key] / a).toFixed(2)}x`;
};
const header = ['figure', 'setup', 'n', 'p50 ms', 'p99 ms', 'p50 / SQLite', 'p99 / SQLite', 'note'];
const cells = rows.map((r) => [r.figure, r.setup, String(r.n), fmt(r.p50), fmt(r.p99), ratio(r, 'p50'), ratio(r, 'p99'), r.note]);
const widths = header.map((h, i) => Math.max(3, h.length, ...cells.map((c) => c[i].length)));
const line = (c) => `| ${c.map((x, i) => (i >= 2 && i <= 6 ? x.padStart(widths[i]) : x.padEnd(widths[i]))).join(' | ')} |`;
console.log(`fleet benchmark${v.smoke ? ' (smoke)' : ''}: K=${K} endpoints per fleet, ${WRITES} creates by ${WRITERS} writers, failover timeout ${T} s, lease TTL ${TTL === null ? '5 s (the default)' : `${TTL} s`}, relay ${v.relay}; ` +
  `${os.cpus().length} cores, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; ${((now() - started) / 1000).toFixed(0)} s`);
console.log([line(header), `| ${widths.map((w, i) => (i >= 2 && i <= 6 ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`, ...cells.map(line)].join('\n'));

#!/usr/bin/env node
// New-connection latency through an endpoint while the API writes (each write a durable SQLite
// commit, synchronous=FULL), against the same without writes. Issue 10 item 7: commits on the event
// loop delayed admission. `node bench/store-writes.mjs [--count N] [--writers N] [--root DIR]`
// [--rate W] (--root: another checkout's build, e.g. /work/main, to compare; --rate: writes/s in
// all, for a comparison at the same write rate); starts its own vpcepd.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { commandLine } from './lib/cli.mjs';
import { rootDir } from './lib/paths.mjs';
import { atExit, installHandlers, sleep, start, stop, stopAll, tail } from './lib/procs.mjs';
import { daemonNodeFlags } from './lib/vpcep.mjs';

const USAGE = `usage: node bench/store-writes.mjs [--count N] [--writers N] [--rate W] [--root DIR]

  --count N    connections timed, one after another, without and then with the writes; default 2000
  --writers N  API writers in flight; default 8
  --rate W     writes/s in all (0: as fast as they go), to compare at the same write rate; default 0
  --root DIR   the built checkout whose daemon runs (e.g. /work/main, to compare); default this one
  -h, --help   this text`;
const line = commandLine('store-writes', USAGE, { count: { type: 'string' }, writers: { type: 'string' }, rate: { type: 'string' }, root: { type: 'string' } });
const count = line.int('count', 2000, 1, 1_000_000);
const writers = line.int('writers', 8, 1, 256);
const rate = line.number('rate', 0, 0, 1_000_000);
const root = line.checkout('root') ?? rootDir;
installHandlers('store-writes');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpcep-store-writes-'));
atExit(() => fs.rmSync(dir, { recursive: true, force: true }));
const token = 'bench-token-123';
const project = 'b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0';
fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({
  accounts: [{ name: 'bench', project_id: project, token }],
  vpcs: [{ id: 'vpc-b', account: 'bench', cidr: '10.9.0.0/16', subnets: [{ id: 'sn', cidr: '10.9.0.0/22' }],
    ports: [{ id: 'port-b', subnet: 'sn', ip: '10.9.0.10', target: '127.0.0.1' }] }],
}));
const apiPort = 20000 + Math.floor(Math.random() * 10000);
const daemon = start('vpcepd', process.execPath, [...daemonNodeFlags(root), path.join(root, 'bin/vpcepd.js'), '--config', path.join(dir, 'config.json'), '--data-dir', path.join(dir, 'data'), '--listen', `127.0.0.1:${apiPort}`, '--log-level', 'warn'], { log: path.join(dir, 'vpcepd.log') });
const url = `http://127.0.0.1:${apiPort}/v1/${project}`;
const call = async (method, p, body) => {
  const r = await fetch(url + p, { method, headers: { 'x-auth-token': token, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
  return r.status === 204 ? {} : r.json();
};
const backend = net.createServer((s) => s.pipe(s)).listen(0, '127.0.0.1');

/** COUNT connections one after another: connect, send a byte, wait for its echo */
async function latencies(host, port) {
  const out = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await new Promise((resolve, reject) => {
      const c = net.connect({ host, port }, () => c.write('x'));
      c.once('data', () => { out.push(performance.now() - t0); c.destroy(); resolve(); });
      c.once('error', reject);
    });
  }
  return out;
}

const q = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))].toFixed(1);
try {
  for (let i = 0; ; i++) {
    try { if ((await fetch(`http://127.0.0.1:${apiPort}/`)).ok) break; } catch { /* not yet */ }
    if (daemon.gone || i > 200) throw new Error(`vpcepd did not start:\n${tail(daemon.log)}`);
    await sleep(50);
  }
  const terminal = 30000 + Math.floor(Math.random() * 5000);
  const svc = await call('POST', '/vpc-endpoint-services', { port_id: 'port-b', vpc_id: 'vpc-b', server_type: 'VM', approval_enabled: false, ports: [{ client_port: terminal, server_port: backend.address().port }] });
  while ((await call('GET', `/vpc-endpoint-services/${svc.id}`)).status !== 'available') await sleep(5);
  const ep = await call('POST', '/vpc-endpoints', { endpoint_service_id: svc.id, vpc_id: 'vpc-b', subnet_id: 'sn' });
  while ((await call('GET', `/vpc-endpoints/${ep.id}`)).status !== 'accepted') await sleep(5);

  const idle = await latencies(ep.host_ip, terminal);
  // The writers run in their own process, so that they do not share this one's event loop.
  const t0 = performance.now();
  const load = start('writers', process.execPath, ['--input-type=module', '-e', `
    let writes = 0, writing = true;
    process.on('SIGTERM', () => { writing = false; });
    const gap = ${rate ? (1000 * writers) / rate : 0};
    const writer = async (w) => {
      let next = performance.now();
      for (let i = 0; writing; i++) {
        next += gap;
        const wait = next - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        await fetch(${JSON.stringify(`${url}/endpoint/${ep.id}/tags/action`)}, { method: 'POST',
          headers: { 'x-auth-token': ${JSON.stringify(token)}, 'content-type': 'application/json' },
          body: JSON.stringify({ action: i % 2 ? 'delete' : 'create', tags: [{ key: 'w' + w, value: 'v' }] }) });
        writes++;
      }
    };
    await Promise.all(Array.from({ length: ${writers} }, (_, w) => writer(w)));
    process.stdout.write(String(writes));
  `], { log: path.join(dir, 'writers.log') });
  await sleep(500);
  const busy = await latencies(ep.host_ip, terminal);
  await stop(load, 10_000);
  // the writers print their count last, at SIGTERM
  const writes = Number(fs.readFileSync(load.log, 'utf8').trim().split('\n').at(-1));
  const achieved = writes / ((performance.now() - t0) / 1000);
  console.log(`vpcepd of ${root}; ${count} connections each`);
  console.log(`new connection -> first byte, no API writes:           p50 ${q(idle, 0.5)} ms, p99 ${q(idle, 0.99)} ms`);
  console.log(`new connection -> first byte, ${achieved.toFixed(0)} writes/s (${writers} writers): p50 ${q(busy, 0.5)} ms, p99 ${q(busy, 0.99)} ms`);
} finally {
  backend.close();
  await stopAll();
}

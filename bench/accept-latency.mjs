#!/usr/bin/env node
// How long an interface endpoint takes from the create call to `accepted` with every listener
// bound (the data plane's target: under 100 ms), and to the first byte relayed through it.
// `node bench/accept-latency.mjs [--count N]`: starts its own vpcepd on loopback.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { commandLine } from './lib/cli.mjs';
import { rootDir as root } from './lib/paths.mjs';
import { atExit, installHandlers, start, stopAll, tail } from './lib/procs.mjs';
import { daemonNodeFlags } from './lib/vpcep.mjs';

const USAGE = `usage: npm run bench:accept -- [--count N]

  --count N   endpoints created, one at a time; default 30
  -h, --help  this text`;
const line = commandLine('bench:accept', USAGE, { count: { type: 'string' } });
const count = line.int('count', 30, 1, 1000);
installHandlers('bench:accept');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpcep-accept-'));
atExit(() => fs.rmSync(dir, { recursive: true, force: true }));
const token = 'bench-token-123';
const project = 'b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0';
fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({
  accounts: [{ name: 'bench', project_id: project, token, quotas: { endpoint: count + 5 } }],
  vpcs: [{ id: 'vpc-b', account: 'bench', cidr: '10.9.0.0/16', subnets: [{ id: 'sn', cidr: '10.9.0.0/22' }],
    ports: [{ id: 'port-b', subnet: 'sn', ip: '10.9.0.10', target: '127.0.0.1' }] }],
}));
const apiPort = 20000 + Math.floor(Math.random() * 10000);
const daemon = start('vpcepd', process.execPath, [...daemonNodeFlags(root), path.join(root, 'bin/vpcepd.js'), '--config', path.join(dir, 'config.json'), '--data-dir', path.join(dir, 'data'), '--listen', `127.0.0.1:${apiPort}`, '--log-level', 'warn'], { log: path.join(dir, 'vpcepd.log') });
const url = `http://127.0.0.1:${apiPort}/v1/${project}`;
const call = async (method, p, body) => (await fetch(url + p, { method, headers: { 'x-auth-token': token, 'content-type': 'application/json' }, body: body && JSON.stringify(body) })).json();
const backend = net.createServer((s) => s.pipe(s)).listen(0, '127.0.0.1');
try {
  for (let i = 0; ; i++) {
    try { if ((await fetch(`http://127.0.0.1:${apiPort}/`)).ok) break; } catch { /* not yet */ }
    if (daemon.gone || i > 200) throw new Error(`vpcepd did not start:\n${tail(daemon.log)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => backend.once('listening', r).listening && r());
  const terminal = 30000 + Math.floor(Math.random() * 5000);
  const svc = await call('POST', '/vpc-endpoint-services', { port_id: 'port-b', vpc_id: 'vpc-b', server_type: 'VM', approval_enabled: false, ports: [{ client_port: terminal, server_port: backend.address().port }] });
  while ((await call('GET', `/vpc-endpoint-services/${svc.id}`)).status !== 'available') await new Promise((r) => setTimeout(r, 5));
  const accepted = [];
  const firstByte = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const ep = await call('POST', '/vpc-endpoints', { endpoint_service_id: svc.id, vpc_id: 'vpc-b', subnet_id: 'sn' });
    while ((await call('GET', `/vpc-endpoints/${ep.id}`)).status !== 'accepted') await new Promise((r) => setTimeout(r, 1));
    accepted.push(performance.now() - t0);
    await new Promise((resolve, reject) => {
      const c = net.connect({ host: ep.host_ip, port: terminal }, () => c.write('x'));
      c.once('data', () => { firstByte.push(performance.now() - t0); c.destroy(); resolve(); });
      c.once('error', reject);
    });
  }
  const q = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))].toFixed(1);
  console.log(`endpoints: ${count}`);
  console.log(`create call -> accepted (listeners bound):  median ${q(accepted, 0.5)} ms, p95 ${q(accepted, 0.95)} ms, max ${q(accepted, 1)} ms`);
  console.log(`create call -> first byte relayed back:     median ${q(firstByte, 0.5)} ms, p95 ${q(firstByte, 0.95)} ms, max ${q(firstByte, 1)} ms`);
} finally {
  backend.close();
  await stopAll();
}

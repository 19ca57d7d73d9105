// Throughput of one endpoint with the JS relay and with the native relay, in the same run:
//   npm run build && node native/measure.mjs [--bytes 1G] [--rounds 2]
// An in-process vpcepd (dist/) with one endpoint to an iperf3 server on 127.0.0.1; iperf3 -c
// through the endpoint sends --bytes each way (client -> server, then -R), once per relay per round.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startDaemon } from '../dist/daemon.js';
import { selectRelay } from '../dist/dataplane/native-relay.js';
import { createLogger } from '../dist/telemetry/logger.js';

const { values: o } = parseArgs({ options: { bytes: { type: 'string', default: '1G' }, rounds: { type: 'string', default: '2' } } });
if (spawnSync('iperf3', ['--version']).status !== 0) {
  console.error('iperf3 is not installed');
  process.exit(2);
}

const provider = { name: 'provider', domain_id: '1564ec50ef2a47c791ea5536353ed4b9', project_id: '0605767f3e00d5762fbdc01fc3b5e3c2', token: 'provider-secret' };
const consumer = { name: 'consumer', domain_id: 'c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0', project_id: 'a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1', token: 'consumer-secret' };
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpcep-measure-'));
fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({
  region: 'sim-1',
  accounts: [provider, consumer],
  vpcs: [
    { id: 'vpc-app', account: 'provider', cidr: '192.168.0.0/16', subnets: [{ id: 'subnet-app', cidr: '192.168.24.0/24' }],
      ports: [{ id: 'port-web', subnet: 'subnet-app', ip: '192.168.24.246', type: 'VM', target: '127.0.0.1' }] },
    { id: 'vpc-client', account: 'consumer', cidr: '10.0.0.0/16', subnets: [{ id: 'subnet-a', cidr: '10.0.1.0/24' }] },
  ],
}));

const IPERF_PORT = 25201;
const CLIENT_PORT = 25202;
const daemon = await startDaemon({ configFile: path.join(dir, 'config.json'), dataDir: path.join(dir, 'data'), listen: { host: '127.0.0.1', port: 0 }, log: createLogger('silent') });
const url = `http://127.0.0.1:${daemon.address.port}`;
const server = spawn('iperf3', ['-s', '-p', String(IPERF_PORT), '-B', '127.0.0.1'], { stdio: 'ignore' });

async function api(who, method, p, body) {
  const res = await fetch(`${url}/v1/${who.project_id}${p}`, { method, headers: { 'x-auth-token': who.token, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
  return res.json();
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(fn) {
  for (let i = 0; i < 500; i++) { const v = await fn(); if (v) return v; await sleep(10); }
  throw new Error('timed out');
}

try {
  const svc = await api(provider, 'POST', '/vpc-endpoint-services', {
    port_id: 'port-web', vpc_id: 'vpc-app', server_type: 'VM', service_name: 'iperf', approval_enabled: false,
    ports: [{ client_port: CLIENT_PORT, server_port: IPERF_PORT, protocol: 'TCP' }],
  });
  await until(async () => (await api(provider, 'GET', `/vpc-endpoint-services/${svc.id}`)).status === 'available');
  await api(provider, 'POST', `/vpc-endpoint-services/${svc.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${consumer.domain_id}`] });
  const created = await api(consumer, 'POST', '/vpc-endpoints', { endpoint_service_id: svc.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
  const ep = await until(async () => { const e = await api(consumer, 'GET', `/vpc-endpoints/${created.id}`); return e.status === 'accepted' && e; });

  const iperf = (reverse) => new Promise((resolve, reject) => {
    const args = ['-c', ep.host_ip, '-p', String(CLIENT_PORT), '-n', o.bytes, '-J', ...(reverse ? ['-R'] : [])];
    const p = spawn('iperf3', args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (b) => { out += b; });
    p.on('exit', (code) => {
      try {
        const j = JSON.parse(out);
        if (j.error) return reject(new Error(j.error));
        resolve(j.end.sum_received.bits_per_second / 1e9);
      } catch (err) { reject(new Error(`iperf3 exited ${code}: ${err.message}`)); }
    });
  });

  const results = { js: { up: [], down: [] }, native: { up: [], down: [] } };
  for (let r = 0; r < Number(o.rounds); r++) {
    for (const relay of ['js', 'native']) {
      const choice = selectRelay(relay);
      if (choice.relay !== relay) throw new Error(`cannot run the ${relay} relay: ${choice.why}`);
      results[relay].up.push(await iperf(false));
      results[relay].down.push(await iperf(true));
      console.log(`round ${r + 1} ${relay.padEnd(6)} client->backend ${results[relay].up.at(-1).toFixed(2)} Gbit/s, backend->client ${results[relay].down.at(-1).toFixed(2)} Gbit/s`);
    }
  }
  const best = (xs) => Math.max(...xs).toFixed(2);
  console.log(`\n${o.bytes} per run through one endpoint, best of ${o.rounds} (Gbit/s):`);
  for (const relay of ['js', 'native']) console.log(`  ${relay.padEnd(6)} client->backend ${best(results[relay].up)}  backend->client ${best(results[relay].down)}`);
  const direct = await new Promise((resolve) => {
    const p = spawn('iperf3', ['-c', '127.0.0.1', '-p', String(IPERF_PORT), '-n', o.bytes, '-J'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (b) => { out += b; });
    p.on('exit', () => resolve(JSON.parse(out).end.sum_received.bits_per_second / 1e9));
  });
  console.log(`  direct (no endpoint) ${direct.toFixed(2)}`);
} finally {
  await daemon.stop(200);
  server.kill();
  fs.rmSync(dir, { recursive: true, force: true });
}

#!/usr/bin/env node
// Micro benchmarks of the functions on the per-connection and per-route path (benchmark.js).
// `npm run bench` (add `-- --smoke` for a run of a few seconds). Prints a table of ops/s with the
// relative margin of error and writes the figures as JSON under bench/results/.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Benchmark from 'benchmark';
import { admit } from '../dist/dataplane/admission.js';
import { cidrOf, intToIp, ipToInt } from '../dist/net/cidr.js';
import { parseHostAddress, simulatedAddress } from '../dist/net/loopback.js';
import { PrefixTable } from '../dist/net/lpm.js';
import { encodeProxyV2 } from '../dist/net/proxy-v2.js';
import { allocateSnatIp, SnatPortPool } from '../dist/net/snat-pool.js';
import { compilePolicy, evaluatePolicy, policyVerdict, validatePolicy } from '../dist/model/policy.js';
import { indexRouting, decide, explain } from '../dist/model/routing.js';
import { routeActive, routeInput, routingInput } from './routing-fixture.mjs';
import { EndpointRuntime } from '../dist/dataplane/endpoint-runtime.js';
import { NativeConnection } from '../dist/dataplane/native-connection.js';
import { FlowLog } from '../dist/telemetry/flow-log.js';
import { commandLine } from './lib/cli.mjs';

const USAGE = `usage: npm run bench -- [--smoke]

  --smoke     each function briefly: a run of a few seconds
  -h, --help  this text`;
const { smoke } = commandLine('bench', USAGE, { smoke: { type: 'boolean', default: false } }).values;
const here = path.dirname(fileURLToPath(import.meta.url));

let seed = 7;
const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
const randomIps = Array.from({ length: 4096 }, () => Math.floor(rand() * 2 ** 32) >>> 0);
let i = 0;
const nextIp = () => randomIps[(i = (i + 1) & 4095)];

// 10,000 routes of mixed lengths, plus a default route so every lookup finds one.
const table = new PrefixTable();
table.set(cidrOf('0.0.0.0/0'), 'igw');
while (table.size < 10_001) {
  const c = cidrOf(`${intToIp(Math.floor(rand() * 2 ** 32))}/${8 + Math.floor(rand() * 25)}`);
  table.set(c, c.text);
}

const usedSnat = new Set(Array.from({ length: 3000 }, (_, n) => intToIp(ipToInt('198.19.128.1') + n)));
const pool = new SnatPortPool();
const gate = {
  active: 1500, cap: 3000, whitelistEnabled: true, vpcNumber: 2, vpcBase: ipToInt('10.0.0.0'),
  whitelist: Array.from({ length: 20 }, (_, n) => cidrOf(`10.0.${n}.0/24`)),
  securityRules: null,
};
const load = { active: 1_000, maxConnections: 1_000_000, fdBudget: 19_000, listeners: 100, onPremises: 'allow' };
const clientHosts = Array.from({ length: 256 }, (_, n) => `127.2.${n % 20}.${n}`);
/** the same clients as the relay hands them to admission: integers */
const clientIps = clientHosts.map(ipToInt);
// A network ACL as AWS's guide has it, both directions: denies of other ranges numbered first, then
// the allow of the port in and of the ephemeral ports out (each rule read for an admitted client).
const aclRules = (from, to) => [
  ...['10.9.0.0/16', '10.8.0.0/16', '10.7.0.0/16'].map((c) => ({ cidr: cidrOf(c), from: 0, to: 65535, allow: false })),
  { cidr: cidrOf('10.0.0.0/16'), from, to, allow: true },
];
const acl = { inbound: aclRules(80, 80), outbound: aclRules(1024, 65535) };
const header = {
  sourceIp: ipToInt('10.0.1.50'), sourcePort: 40123, destinationIp: ipToInt('10.0.1.2'), destinationPort: 80,
  endpointId: '2c8902ac-e991-4a27-8e02-471bdcb3da14', markerId: 916444055,
};
// A policy of 5 statements: the Deny on a source range is checked before the Allow that admits.
const policy = validatePolicy([
  { Effect: 'Allow', Action: ['obs:*'], Resource: ['*'], Condition: { StringEquals: { 'vpcep:SourceVpc': ['vpc-a', 'vpc-b'] } } },
  { Effect: 'Deny', Action: ['*'], Resource: ['*'], Condition: { IpAddress: { 'vpcep:SourceIp': ['10.0.9.0/24', '10.0.8.0/24'] } } },
  { Effect: 'Deny', Action: ['*'], Resource: ['*'], Principal: { ID: ['0000aaaa'] } },
  { Effect: 'Allow', Action: ['obs:object:GetObject'], Resource: ['obs:*:*:object:bucket/*'] },
  { Effect: 'Allow', Action: ['*'], Resource: ['*'], Condition: { NotIpAddress: { 'vpcep:SourceIp': ['192.168.0.0/16'] } } },
], { requirePrincipal: false });
const compiledPolicy = compilePolicy(policy);
const policyRequest = { sourceIp: ipToInt('10.0.1.50'), sourceVpc: 'vpc-a', principalAccount: 'c0c0c0c0' };
let sink = 0;

const routingView = indexRouting(routingInput);

// One connection's whole TypeScript path with the native relay, the addon stubbed: admission,
// the SNAT port, the connection object and its backend addresses, then the close that frees both.
// The same with flow logs on: both records built and handed to a writer that keeps only their size.
const connLoad = { active: 0, maxConnections: 1_000_000, fdBudget: 19_000, listeners: 1, onPremises: 'allow' };
let flowBytes = 0;
const flowLog = new FlowLog({ aggregationIntervalS: 600, now: () => 0, writer: { write: (text) => { flowBytes += text.length; }, close: async () => {} } });
const endpointRuntime = (flow) => new EndpointRuntime({
  id: '2c8902ac-e991-4a27-8e02-471bdcb3da14', marker_id: 1, service_id: 'svc', ip: '10.0.1.2', host_ip: '127.2.1.2', vpc_id: 'vpc', vpc_number: 2,
  vpc_cidr: '10.0.0.0/16', snat_ip: '198.19.128.5', tcp_proxy: 'close', backends: [], enable_whitelist: false,
  whitelist: [], connection_cap: 3000, account_id: 'c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0',
}, {
  snatMode: 'kernel', snatPorts: { low: 1024, high: 65535 }, connectTimeoutMs: 5000, load: connLoad, now: () => 0, simulatedSourceIp: () => 0x0a000132,
  clientVpc: () => 2, listen: () => Promise.reject(new Error('no listeners in the benchmark')),
  connectionOpened: () => { connLoad.active++; }, connectionClosed: () => { connLoad.active--; },
  observeConnect: () => {}, refused: () => {}, flowLog: flow,
});
const runtime = endpointRuntime(null);
const loggedRuntime = endpointRuntime(flowLog);
const stubAddon = { open: () => 1, touched: () => false, bytes: () => null, cut: () => {}, close: () => {} };
let lastConn = null;
const pendingClient = {
  remoteAddress: '127.2.1.50', remoteIp: 0x7f020132, remotePort: 40123, reset: () => {},
  relay: (owner, listenPort, target, now, timeoutMs, snatPort, route) =>
    (lastConn = new NativeConnection(stubAddon, owner, 42, 0x7f020132, listenPort, target, now, timeoutMs, snatPort, route)),
};
const target = { host: '127.0.0.1', port: 8080, localAddress: '198.19.128.5', bindPoolPort: true, preamble: null };
const route = { vpcId: 'vpc', sourceIp: 0x0a000132, destinationIp: 0x0a000102, destinationPort: 80 };

const suite = new Benchmark.Suite();
const options = smoke ? { maxTime: 0.2, minSamples: 5 } : { maxTime: 3, minSamples: 30 };
suite
  .add('longest-prefix match, 10,000 routes', () => { sink ^= table.lookup(nextIp()).prefix; }, options)
  .add('SNAT address allocation, 3,000 in use', () => { sink ^= allocateSnatIp(usedSnat).length; }, options)
  .add('SNAT port take + give', () => { const p = pool.take(); pool.give(p); sink ^= p; }, options)
  .add('admission (cap and a 20-entry whitelist)', () => { sink ^= admit(gate, load, clientIps[(i = (i + 1) & 255)], 2, 80) === null ? 1 : 0; }, options)
  .add('the same with a network ACL of 4 inbound and 4 outbound rules', () => { sink ^= admit(gate, load, clientIps[(i = (i + 1) & 255)], 2, 80, acl, 40123) === null ? 1 : 0; }, options)
  .add('PROXY v2 header encode', () => { sink ^= encodeProxyV2(header).length; }, options)
  .add('gateway route decision: decide() (the data path)', () => { sink ^= decide(routingView, routeInput, routeActive).refusal === null ? 1 : 0; }, options)
  .add('the same decision in words: explain() (the path tracer)', () => { sink ^= explain(routingView, routeInput, routeActive).reason.length; }, options)
  .add('policy evaluation, 5 statements', () => { sink ^= evaluatePolicy(policy, policyRequest).allowed ? 1 : 0; }, options)
  .add('policy verdict, 5 statements compiled (the data path)', () => { sink ^= policyVerdict(compiledPolicy, policyRequest).allowed ? 1 : 0; }, options)
  .add('a connection through TypeScript: admit, SNAT port, set-up, close (addon stubbed)', () => {
    sink ^= runtime.relayRouted(pendingClient, 80, target, route) === null ? 1 : 0;
    lastConn.relayClosed(0, 0, 'done');
  }, options)
  .add('the same with flow logs on: two records built and written (writer stubbed)', () => {
    sink ^= loggedRuntime.relayRouted(pendingClient, 80, target, route) === null ? 1 : 0;
    lastConn.relayClosed(64, 200, 'done');
  }, options)
  .add('host address -> simulated address', () => {
    const p = parseHostAddress(clientHosts[(i = (i + 1) & 255)]);
    sink ^= simulatedAddress(0x0a000000, p.low16);
  }, options);

const results = [];
suite.on('cycle', (e) => {
  const b = e.target;
  results.push({ name: b.name, ops_per_sec: Math.round(b.hz), rme_percent: Number(b.stats.rme.toFixed(2)), samples: b.stats.sample.length });
});
suite.on('complete', () => {
  if (connLoad.active !== 0 || runtime.snatPortsInUse !== 0 || loggedRuntime.snatPortsInUse !== 0 || (flowLog.records > 0 && flowBytes === 0)) throw new Error('the connection benchmark leaked a connection or a port');
  const w = Math.max(...results.map((r) => r.name.length));
  console.log(`${'benchmark'.padEnd(w)}  ${'ops/s'.padStart(14)}  ${'± %'.padStart(6)}  samples`);
  for (const r of results) {
    console.log(`${r.name.padEnd(w)}  ${r.ops_per_sec.toLocaleString('en-US').padStart(14)}  ${r.rme_percent.toFixed(2).padStart(6)}  ${r.samples}`);
  }
  const out = path.join(here, 'results');
  fs.mkdirSync(out, { recursive: true });
  const file = path.join(out, `micro-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify({
    when: new Date().toISOString(), smoke, node: process.version,
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, memory_gib: Math.round(os.totalmem() / 2 ** 30) },
    results, sink,
  }, null, 2));
  console.log(`written ${path.relative(process.cwd(), file)}`);
});
suite.run();

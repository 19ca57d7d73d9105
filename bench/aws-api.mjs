#!/usr/bin/env node
// The AWS API through the SDK, side by side with moto's server (issue 12, "Speed"):
// `npm run bench:aws` (add `-- --smoke` for CI: a few calls, well under 30 s).
//
// Starts vpcepd (dist/, a temporary data dir, two accounts with AWS keys, quotas raised) and
// moto_server on free ports, builds the same world on both through @aws-sdk/client-ec2 and
// client-elastic-load-balancing-v2 (the provider's VPC, subnet, NLB, TCP target group and
// listener, its endpoint service allowing the consumer; the consumer's VPC and subnet), then
// measures on both, in rounds that alternate the servers (vpcep, moto, vpcep, ...):
//   CreateVpcEndpoint one call at a time and with --concurrency calls in flight;
//   DescribeVpcEndpoints returning --endpoints endpoints (one page of MaxResults=1000, and the
//     SDK's paginator with pages of 100);
//   DescribeVpcEndpointConnections as the provider (--endpoints connections).
// Each call's time is taken twice: through the SDK (signing, the request, parsing the answer) and
// on the wire (the request sent to the answer's last byte: the server's part); the CPU per call of
// the server and of this process (the SDK's own work, alike for every server). A call a server
// cannot answer is reported as failing (moto answers DescribeVpcEndpointConnections with an HTML
// HTTP 500), never a crash. vpcep-sim does the real work: every endpoint it creates listens on its
// host address, and at the end every one of them relays bytes to the NLB's target (checked).
// The anchor, in the same rounds: a server that does no work (bench/lib/workers/answer-at-once.mjs,
// a process of its own answering every call at once with vpcepd's own CreateVpcEndpoint answer)
// takes the create calls too; what the SDK and the loopback cost a call alone. Each server's time
// per call and wire p50 less the anchor's is its own share, printed in a third table.
// --durability both measures a second vpcepd with store_durability power in the same rounds; the
// price of a bare commit under each durability on this disk and the load average are printed.
// Prints a table, writes everything as JSON under bench/results/, stops every process it started.
// Exits 1 when a vpcep-sim call fails or an endpoint does not relay, 2 on bad usage.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  CreateSubnetCommand, CreateVpcCommand, CreateVpcEndpointCommand, CreateVpcEndpointServiceConfigurationCommand,
  DescribeVpcEndpointConnectionsCommand, DescribeVpcEndpointServiceConfigurationsCommand, DescribeVpcEndpointsCommand,
  EC2Client, ModifyVpcEndpointServicePermissionsCommand,
} from '@aws-sdk/client-ec2';
import {
  CreateListenerCommand, CreateLoadBalancerCommand, CreateTargetGroupCommand, ElasticLoadBalancingV2Client, RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import Database from 'better-sqlite3';
import { commandLine } from './lib/cli.mjs';
import { aborting, atExit, failed, installHandlers, start, startWorker, stopAll, sleep, tail } from './lib/procs.mjs';
import { freePort, pickPorts } from './lib/net.mjs';
import { benchDir, rootDir } from './lib/paths.mjs';
import { daemonEntry, daemonNodeFlags } from './lib/vpcep.mjs';

const REGION = 'us-east-1';
const KEYS = {
  provider: { account_id: '111111111111', access_key_id: 'AKIABENCHPROVIDER001', secret_access_key: 'bench-provider-secret-0123456789' },
  consumer: { account_id: '222222222222', access_key_id: 'AKIABENCHCONSUMER002', secret_access_key: 'bench-consumer-secret-0123456789' },
};
const CONSUMER_PROJECT = 'c0ffeec0ffeec0ffeec0ffeec0ffee00';
const CONSUMER_TOKEN = 'bench-consumer-token';
/** calls of each Describe row before the measured ones, on each server (the create rows: --warm-up) */
const WARM_UP = 2;

const USAGE = `usage: npm run bench:aws -- [--smoke] [--endpoints N] [--creates N] [--concurrency N] [--describes N] [--warm-up N] [--rounds N] [--durability D] [--no-moto] [--relay RELAY] [--cpu-prof DIR] [--baseline DIR] [--client-token]

  --endpoints N    endpoints in the consumer's VPC when describing (the creates included); default 1000 (smoke: 16)
  --creates N      measured CreateVpcEndpoint calls per mode (sequential, concurrent); default 200 (smoke: 4)
  --concurrency N  calls in flight in the concurrent mode; default 8
  --describes N    measured calls of each Describe; default 30 (smoke: 2)
  --warm-up N      CreateVpcEndpoint calls on each server before each create row's measured ones,
                   not counted: a fresh daemon's first few hundred pay for V8 compiling their code
                   (0 measures it cold); default 200 (smoke: 2)
  --rounds N       rounds, each server in turn (vpcep, moto, vpcep, ...); default 3 (smoke: 1)
  --durability D   vpcepd's store_durability: process (the default), power, or both (two vpcepd,
                   process and power, measured in the same rounds)
  --no-moto        vpcep-sim only
  --relay RELAY    vpcepd's relay (VPCEP_RELAY): js, native or auto; default auto
  --cpu-prof DIR   runs vpcepd under node --cpu-prof, its profile written into DIR when it stops
  --baseline DIR   also measures the daemon of another built checkout (its dist/), in the same
                   rounds: this code against that one (before and after a change)
  --client-token   every CreateVpcEndpoint carries a new ClientToken, as Terraform's do (the SDK
                   sends none unless asked): the create checks and stores it
  --smoke          a few calls of each: under 30 s
  -h, --help       this text`;

let usage;

function options() {
  const line = commandLine('bench:aws', USAGE, {
    endpoints: { type: 'string' }, creates: { type: 'string' }, 'warm-up': { type: 'string' }, concurrency: { type: 'string' }, describes: { type: 'string' },
    rounds: { type: 'string' }, relay: { type: 'string' }, durability: { type: 'string' }, 'cpu-prof': { type: 'string' }, baseline: { type: 'string' },
    'no-moto': { type: 'boolean', default: false }, smoke: { type: 'boolean', default: false }, 'client-token': { type: 'boolean', default: false },
  });
  const v = line.values;
  usage = line.usage;
  const int = (name, fallback, min, max) => {
    const x = v[name] === undefined ? fallback : Number(v[name]);
    if (!Number.isInteger(x) || x < min || x > max) usage(`--${name} must be an integer from ${min} to ${max}`);
    return x;
  };
  const smoke = v.smoke;
  const o = {
    smoke,
    endpoints: int('endpoints', smoke ? 16 : 1000, 1, 3000),
    creates: int('creates', smoke ? 4 : 200, 1, 3000),
    concurrency: int('concurrency', 8, 1, 64),
    describes: int('describes', smoke ? 2 : 30, 1, 10_000),
    warmUp: int('warm-up', smoke ? 2 : 200, 0, 3000),
    rounds: int('rounds', smoke ? 1 : 3, 1, 50),
    moto: !v['no-moto'],
    relay: v.relay ?? 'auto',
    durability: v.durability ?? 'process',
    cpuProf: v['cpu-prof'] === undefined ? null : path.resolve(v['cpu-prof']),
    baseline: line.checkout('baseline'),
    clientToken: v['client-token'],
  };
  if (!['js', 'native', 'auto'].includes(o.relay)) usage('--relay must be js, native or auto');
  if (!['process', 'power', 'both'].includes(o.durability)) usage('--durability must be process, power or both');
  const made = 2 * (o.creates + Math.max(1, o.warmUp));
  if (made > o.endpoints) usage(`--endpoints (${o.endpoints}) must hold the 2 x (--creates + --warm-up) endpoints the creates make (${made})`);
  if (o.creates < o.rounds || o.describes < o.rounds) usage('--creates and --describes must be at least --rounds');
  return o;
}

const say = (s) => process.stdout.write(`${s}\n`);

/** moto_server: on the PATH, else pyenv's shim (the machine image's Python) */
function motoServer() {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/root/.pyenv/shims']) {
    if (!dir) continue;
    const p = path.join(dir, 'moto_server');
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch { /* next */ }
  }
  return null;
}

// ---- the servers

function vpcepConfig(endpoints, durability) {
  return {
    region: REGION,
    store_durability: durability,
    accounts: [
      { name: 'provider', token: 'bench-provider-token', aws: KEYS.provider, quotas: { endpoint_service: 10 } },
      { name: 'consumer', project_id: CONSUMER_PROJECT, token: CONSUMER_TOKEN, aws: KEYS.consumer, quotas: { endpoint: endpoints + 10 } },
    ],
  };
}

async function untilAnswers(url, t, log, what) {
  const until = Date.now() + 30_000;
  for (;;) {
    if (t.gone) throw new Error(`${what} exited at start:\n${tail(log)}`);
    try {
      const r = await fetch(url);
      await r.arrayBuffer();
      if (r.status < 500) return;
    } catch { /* not yet */ }
    if (Date.now() > until) throw new Error(`${what} did not answer on ${url} within 30 s:\n${tail(log)}`);
    await sleep(50);
  }
}

async function startVpcepd(dir, o, { root = rootDir, name = 'vpcep-sim', key = 'vpcep', durability = o.durability } = {}) {
  dir = path.join(dir, key);
  fs.mkdirSync(dir);
  const config = path.join(dir, 'vpcepd.json');
  // a baseline built before store_durability knew only synchronous=FULL
  const cfg = vpcepConfig(o.endpoints, durability);
  if (key === 'baseline') delete cfg.store_durability;
  fs.writeFileSync(config, JSON.stringify(cfg, null, 2));
  const port = await freePort();
  const log = path.join(dir, 'vpcepd.log');
  const t = start('vpcepd', process.execPath, [
    ...(o.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', o.cpuProf] : []),
    ...daemonNodeFlags(root), path.join(root, 'bin/vpcepd.js'), '--config', config, '--data-dir', path.join(dir, 'vpcep-data'), '--listen', `127.0.0.1:${port}`, '--log-level', 'warn',
    // an ephemeral DNS port: the baseline daemon runs beside this one
    '--dns-listen', '127.0.0.1:0',
  ], { log, env: { ...process.env, VPCEP_RELAY: o.relay } });
  const url = `http://127.0.0.1:${port}`;
  await untilAnswers(`${url}/`, t, log, 'vpcepd');
  return { name, key, url, proc: t, log };
}

async function startMoto(dir, program) {
  const port = await freePort();
  const log = path.join(dir, 'moto.log');
  const t = start('moto_server', program, ['-H', '127.0.0.1', '-p', String(port)], { log });
  const url = `http://127.0.0.1:${port}`;
  await untilAnswers(`${url}/moto-api/`, t, log, 'moto_server');
  return { name: 'moto', key: 'moto', url, proc: t, log };
}

/**
 * The anchor: a server that does no work, answering every request at once with vpcepd's own
 * CreateVpcEndpoint answer (ANSWER, captured from a warm-up call), in a process of its own. What
 * the SDK and the loopback cost a call alone: the rest of a server's time per call is its own.
 */
async function startAnswerAtOnce(dir, answer) {
  const t = startWorker('answer-at-once', path.join(benchDir, 'lib/workers/answer-at-once.mjs'), [], { log: path.join(dir, 'answer-at-once.log') });
  const { port } = await t.request({ op: 'listen', body: answer.body, contentType: answer.contentType ?? 'text/xml' });
  return { name: 'no work (an answer at once)', key: 'noop', url: `http://127.0.0.1:${port}`, proc: t, log: path.join(dir, 'answer-at-once.log') };
}

/** CPU seconds (user + system) of a process and its live descendants (the pyenv shim execs python) */
function cpuSeconds(pid) {
  const stats = new Map();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const s = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      stats.set(Number(name), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) });
    } catch { /* gone */ }
  }
  let ticks = 0;
  const walk = (p) => {
    ticks += stats.get(p)?.ticks ?? 0;
    for (const [c, st] of stats) if (st.ppid === p) walk(c);
  };
  walk(pid);
  return ticks / 100;
}

/**
 * What one bare commit costs on this disk now, under each durability (the store's pragmas: WAL,
 * exclusive locking; synchronous NORMAL for process, FULL for power): the fsync's price in this run.
 */
function bareCommits(dir, n = 200) {
  const db = new Database(path.join(dir, 'bare-commits.db'));
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE documents (id TEXT PRIMARY KEY, body TEXT NOT NULL)');
    const put = db.prepare('INSERT OR REPLACE INTO documents (id, body) VALUES (?, ?)');
    const body = JSON.stringify({ endpoint: 'x'.repeat(1200) });
    const out = {};
    for (const [durability, synchronous] of [['process', 'NORMAL'], ['power', 'FULL']]) {
      db.pragma(`synchronous = ${synchronous}`);
      const ms = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        db.transaction(() => put.run(`e${i}`, body))();
        ms.push(performance.now() - t0);
      }
      out[durability] = { p50: quantile(ms, 0.5), p99: quantile(ms, 0.99) };
    }
    return out;
  } finally {
    db.close();
  }
}

// ---- the clients

function clients(server) {
  // kept-alive sockets are dropped after 4 s idle, before a server closes them (vpcepd after 10 s):
  // a request sent on a socket the server is closing fails, and there are no retries here
  const httpAgent = new http.Agent({ keepAlive: true, timeout: 4_000 });
  const make = (Client, key) => new Client({
    region: REGION, endpoint: server.url, maxAttempts: 1, requestHandler: { httpAgent },
    credentials: { accessKeyId: key.access_key_id, secretAccessKey: key.secret_access_key },
  });
  return {
    provider: make(EC2Client, KEYS.provider),
    consumer: make(EC2Client, KEYS.consumer),
    elb: make(ElasticLoadBalancingV2Client, KEYS.provider),
  };
}

/**
 * Sends one command and times it: `sdk`, the whole send (signing, the request, parsing the
 * answer); `wire`, from the request handed to the HTTP handler to the answer's last byte (a
 * middleware just above the handler reads the body whole; the SDK takes a body as bytes as well).
 */
async function timed(client, command) {
  const rec = { wire: null };
  command.middlewareStack.add((next) => async (args) => {
    const t0 = performance.now();
    const out = await next(args);
    const body = out.response?.body;
    if (body && typeof body[Symbol.asyncIterator] === 'function') {
      const parts = [];
      for await (const chunk of body) parts.push(chunk);
      out.response.body = Buffer.concat(parts);
    }
    rec.wire = performance.now() - t0;
    rec.answer = { body: out.response?.body, contentType: out.response?.headers?.['content-type'] };
    return out;
  }, { step: 'deserialize', priority: 'low', name: 'benchWireTimer' });
  const t0 = performance.now();
  const output = await client.send(command);
  return { output, sdk: performance.now() - t0, wire: rec.wire, answer: rec.answer };
}

/** a call's failure in a line: the SDK's error name, the HTTP status, the start of its message */
function failure(err) {
  const status = err?.$metadata?.httpStatusCode ?? err?.$response?.statusCode;
  return `${status ? `HTTP ${status}` : 'error'}: ${err?.name ?? 'Error'}: ${String(err?.message ?? err).split('\n')[0].slice(0, 160)}`;
}

// ---- the world, the same on both servers

async function prepare(server, c, echoPort, listenerPort) {
  const vpc = async (client, cidr, subnetCidr) => {
    const v = (await client.send(new CreateVpcCommand({ CidrBlock: cidr }))).Vpc.VpcId;
    const s = (await client.send(new CreateSubnetCommand({ VpcId: v, CidrBlock: subnetCidr }))).Subnet.SubnetId;
    return { vpcId: v, subnetId: s };
  };
  const provider = await vpc(c.provider, '10.1.0.0/16', '10.1.0.0/24');
  // a /20: 4,091 addresses for endpoints after AWS's five reserved
  const consumer = await vpc(c.consumer, '10.0.0.0/16', '10.0.0.0/20');
  const lb = (await c.elb.send(new CreateLoadBalancerCommand({ Name: 'bench-nlb', Type: 'network', Scheme: 'internal', Subnets: [provider.subnetId] }))).LoadBalancers[0].LoadBalancerArn;
  const tg = (await c.elb.send(new CreateTargetGroupCommand({ Name: 'bench-tg', Protocol: 'TCP', Port: echoPort, VpcId: provider.vpcId, TargetType: 'ip' }))).TargetGroups[0].TargetGroupArn;
  // the backend outside the VPC, as AWS allows for IP targets (availability zone "all")
  await c.elb.send(new RegisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: '127.0.0.1', Port: echoPort, AvailabilityZone: 'all' }] }));
  await c.elb.send(new CreateListenerCommand({ LoadBalancerArn: lb, Protocol: 'TCP', Port: listenerPort, DefaultActions: [{ Type: 'forward', TargetGroupArn: tg }] }));
  const svc = (await c.provider.send(new CreateVpcEndpointServiceConfigurationCommand({ NetworkLoadBalancerArns: [lb], AcceptanceRequired: false }))).ServiceConfiguration;
  const until = Date.now() + 20_000;
  for (let state = svc.ServiceState; state !== 'Available';) {
    if (Date.now() > until) throw new Error(`${server.name}: the endpoint service ${svc.ServiceId} is still ${state} after 20 s`);
    await sleep(25);
    state = (await c.provider.send(new DescribeVpcEndpointServiceConfigurationsCommand({ ServiceIds: [svc.ServiceId] }))).ServiceConfigurations[0].ServiceState;
  }
  await c.provider.send(new ModifyVpcEndpointServicePermissionsCommand({ ServiceId: svc.ServiceId, AddAllowedPrincipals: [`arn:aws:iam::${KEYS.consumer.account_id}:root`] }));
  return { serviceId: svc.ServiceId, serviceName: svc.ServiceName, ...consumer };
}

// ---- the measured calls

/** a new ClientToken per create with --client-token (Terraform sends one); set in main() */
let withClientToken = false;
const create = (w) => new CreateVpcEndpointCommand({
  VpcEndpointType: 'Interface', VpcId: w.vpcId, ServiceName: w.serviceName, SubnetIds: [w.subnetId], ...(withClientToken ? { ClientToken: randomUUID() } : {}),
});

/**
 * The calls of one row: each is { make(world) -> [client, command], check(output) -> items } and
 * runs `count` calls with `concurrency` in flight per round.
 */
function rows(o) {
  return [
    {
      key: 'create_seq', creates: true, label: 'CreateVpcEndpoint, one at a time', count: o.creates, concurrency: 1,
      call: (s) => [s.c.consumer, create(s.world)], items: (out) => (out.VpcEndpoint?.VpcEndpointId ? 1 : 0),
    },
    {
      key: 'create_conc', creates: true, label: `CreateVpcEndpoint, ${o.concurrency} in flight`, count: o.creates, concurrency: o.concurrency,
      call: (s) => [s.c.consumer, create(s.world)], items: (out) => (out.VpcEndpoint?.VpcEndpointId ? 1 : 0),
    },
    {
      key: 'fill', fill: true,
    },
    {
      key: 'describe_1000', label: `DescribeVpcEndpoints, ${o.endpoints.toLocaleString('en-US')} endpoints in one page (MaxResults=1000)`, count: o.describes, concurrency: 1,
      call: (s) => [s.c.consumer, new DescribeVpcEndpointsCommand({ MaxResults: 1000 })], items: (out) => out.VpcEndpoints?.length ?? 0, expect: Math.min(o.endpoints, 1000),
    },
    {
      key: 'describe_pages', label: `DescribeVpcEndpoints, the SDK's paginator with pages of 100, per page`, count: o.describes, concurrency: 1, paged: 100,
      items: (out) => out.VpcEndpoints?.length ?? 0, expect: o.endpoints,
    },
    {
      key: 'connections', label: `DescribeVpcEndpointConnections as the provider, ${o.endpoints.toLocaleString('en-US')} connections (MaxResults=1000)`, count: o.describes, concurrency: 1,
      call: (s) => [s.c.provider, new DescribeVpcEndpointConnectionsCommand({ MaxResults: 1000 })], items: (out) => out.VpcEndpointConnections?.length ?? 0, expect: Math.min(o.endpoints, 1000),
    },
  ];
}

/** per server and row: every call's times, the items answered, the wall time, the server's and this client's CPU, the first failure */
function emptyRecord() {
  return { sdk: [], wire: [], items: [], wallMs: 0, cpuS: 0, clientCpuS: 0, failed: null };
}

async function runBatch(s, row, n, rec) {
  let next = 0;
  const cpu0 = cpuSeconds(s.proc.child.pid);
  const client0 = process.cpuUsage();
  const t0 = performance.now();
  const worker = async () => {
    while (next < n && !rec.failed) {
      next++;
      try {
        if (row.paged) {
          // the SDK's own paginator (MaxResults = pageSize, then NextToken): every page is a call
          let token;
          let total = 0;
          do {
            const r = await timed(s.c.consumer, new DescribeVpcEndpointsCommand({ MaxResults: row.paged, NextToken: token }));
            rec.sdk.push(r.sdk);
            rec.wire.push(r.wire);
            rec.items.push(row.items(r.output));
            total += row.items(r.output);
            token = r.output.NextToken;
          } while (token);
          if (total !== row.expect) rec.note = `${total} endpoints in the walk, not ${row.expect}`;
        } else {
          const [client, command] = row.call(s);
          const r = await timed(client, command);
          rec.sdk.push(r.sdk);
          rec.wire.push(r.wire);
          rec.answer = r.answer;
          const items = row.items(r.output);
          rec.items.push(items);
          if (row.creates) s.created += items;
          if (row.expect !== undefined && items !== row.expect) rec.note = `answered ${items} items, not ${row.expect}`;
        }
      } catch (err) {
        // after Ctrl-C or SIGTERM a call fails because its server was stopped: not the row's failure
        if (aborting()) throw err;
        rec.failed = failure(err);
      }
    }
  };
  await Promise.all(Array.from({ length: row.concurrency }, worker));
  rec.wallMs += performance.now() - t0;
  const client = process.cpuUsage(client0);
  rec.clientCpuS += (client.user + client.system) / 1e6;
  rec.cpuS += cpuSeconds(s.proc.child.pid) - cpu0;
}

/** creates endpoints, `concurrency` in flight, until the consumer has `total`; returns the seconds it took */
async function fill(s, total, concurrency) {
  const t0 = performance.now();
  let have = s.created;
  const worker = async () => {
    while (have < total) {
      have++;
      await s.c.consumer.send(create(s.world));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  s.created = have;
  return (performance.now() - t0) / 1000;
}

// ---- the real work: every endpoint of vpcep-sim listens and relays

/** every endpoint available (EC2) and relaying bytes to the echo backend through its host address (Huawei API) */
async function checkDataPlane(s, listenerPort, expected) {
  const until = Date.now() + 60_000;
  let endpoints = [];
  for (;;) {
    endpoints = [];
    for (let offset = 0; ; offset += 1000) {
      const r = await fetch(`${s.url}/v1/${CONSUMER_PROJECT}/vpc-endpoints?limit=1000&offset=${offset}`, { headers: { 'x-auth-token': CONSUMER_TOKEN } });
      if (r.status !== 200) throw new Error(`GET /vpc-endpoints: ${r.status} ${await r.text()}`);
      const page = (await r.json()).endpoints;
      endpoints.push(...page);
      if (page.length < 1000) break;
    }
    if (endpoints.length === expected && endpoints.every((e) => e.status === 'accepted')) break;
    if (Date.now() > until) throw new Error(`${endpoints.filter((e) => e.status === 'accepted').length} of ${expected} endpoints accepted after 60 s`);
    await sleep(100);
  }
  const refused = [];
  let i = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (i < endpoints.length) {
      const e = endpoints[i++];
      // from an address of the consumer's VPC (10.0.15.200: the VPC's default security group admits its own addresses)
      const r = await echoThrough(e.host_ip, listenerPort, `127.${e.host_ip.split('.')[1]}.15.200`);
      if (r !== 'relay') refused.push(`${e.id} (${e.host_ip}:${listenerPort}): ${r}`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return { endpoints: endpoints.length, relayed: endpoints.length - refused.length, refused: refused.slice(0, 5), seconds: (performance.now() - t0) / 1000 };
}

function echoThrough(host, port, localAddress) {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port, localAddress });
    const done = (r) => { sock.destroy(); resolve(r); };
    sock.setTimeout(5_000, () => done('timeout'));
    sock.on('connect', () => sock.write('ping through the endpoint'));
    sock.on('data', (b) => done(String(b) === 'ping through the endpoint' ? 'relay' : `got ${String(b).slice(0, 40)}`));
    sock.on('error', (e) => done(e.code ?? e.message));
    sock.on('close', () => done('closed'));
  });
}

function echoServer() {
  return new Promise((resolve) => {
    const srv = net.createServer((sock) => { sock.on('error', () => {}); sock.pipe(sock); });
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });
}

// ---- figures and the table

function quantile(xs, q) {
  if (!xs.length) return null;
  const v = [...xs].sort((a, b) => a - b);
  return v[Math.min(v.length - 1, Math.ceil(q * v.length) - 1)];
}

function figures(rec, concurrency) {
  if (!rec) return null;
  const n = rec.sdk.length;
  return {
    calls: n,
    failed: rec.failed,
    note: rec.note ?? null,
    calls_per_s: n && rec.wallMs ? (n / rec.wallMs) * 1000 : null,
    concurrency,
    sdk_ms: { p50: quantile(rec.sdk, 0.5), p99: quantile(rec.sdk, 0.99), max: quantile(rec.sdk, 1) },
    wire_ms: { p50: quantile(rec.wire, 0.5), p99: quantile(rec.wire, 0.99) },
    server_cpu_ms_per_call: n ? (rec.cpuS * 1000) / n : null,
    // the SDK's own work per call (signing, serializing, parsing), the same whichever server answers
    client_cpu_ms_per_call: n ? (rec.clientCpuS * 1000) / n : null,
    items_per_call: n ? rec.items.reduce((a, b) => a + b, 0) / n : null,
  };
}

const num = (v, d = 1) => (v === null || v === undefined ? '—' : v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }));
const ratio = (a, b) => (typeof a === 'number' && typeof b === 'number' && b > 0 ? a / b : null);
const x = (v) => (v === null ? '—' : `${v.toFixed(v >= 10 ? 1 : 2)}x`);

function cell(f, what) {
  if (!f) return 'absent';
  if (f.failed && !f.calls) return `fails: ${f.failed.replace(/^warm-up: /, '').split(':')[0]}`;
  return what(f);
}

/** the same call answered with the same number of items (moto ignores MaxResults: its pages are not comparable) */
function comparable(a, b) {
  return a && b && !a.failed && !b.failed && a.calls && b.calls && Math.abs(a.items_per_call - b.items_per_call) <= 0.01 * Math.max(1, a.items_per_call);
}

/** a Markdown table, its first `left` columns aligned left, the figures right */
function grid(header, rows, left) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((l) => l[i].length)));
  const line = (cells) => `| ${cells.map((c, i) => (i >= left ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (i >= left ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

/**
 * Two tables: per call and server, calls/s, p50 and p99 through the SDK and on the wire, the
 * server's CPU per call and the items per call; then per call, how many times faster vpcep-sim is
 * than moto (and than the baseline), for the same call answered with the same items only.
 */
function markdown(results, servers, motoState) {
  const has = (k) => servers.some((s) => s.key === k);
  const keys = ['vpcep', ...(has('power') ? ['power'] : []), ...(has('baseline') ? ['baseline'] : []), 'moto', ...(has('noop') ? ['noop'] : [])];
  const title = { vpcep: has('power') ? 'vpcep-sim (process)' : 'vpcep-sim', power: 'vpcep-sim (power)', baseline: 'baseline', moto: 'moto', noop: 'no work' };
  const figuresRows = [];
  for (const r of results) {
    for (const k of keys) {
      const f = r[k];
      if (k === 'moto' && motoState === 'off') continue;
      if (k === 'noop' && !f) continue;
      if (k === 'moto' && motoState === 'absent') {
        figuresRows.push([r.label, title[k], 'absent', '', '', '', '', '', '', '']);
      } else if (!f || !f.calls) {
        figuresRows.push([r.label, title[k], f?.failed ? `fails: ${f.failed.replace(/^warm-up: /, '').split(':')[0]}` : '—', '', '', '', '', '', '', '']);
      } else {
        figuresRows.push([
          r.label, title[k], num(f.calls_per_s, f.calls_per_s < 10 ? 1 : 0), num(f.sdk_ms.p50), num(f.sdk_ms.p99), num(f.wire_ms.p50), num(f.wire_ms.p99),
          num(f.server_cpu_ms_per_call, 1), num(f.client_cpu_ms_per_call, 1), num(f.items_per_call, 0),
        ]);
      }
    }
  }
  const figuresTable = grid(['call', 'server', 'calls/s', 'SDK p50 ms', 'SDK p99 ms', 'wire p50 ms', 'wire p99 ms', 'server CPU ms/call', 'client CPU ms/call', 'items/call'], figuresRows, 2);
  const others = keys.filter((k) => k !== 'vpcep' && k !== 'noop' && !(k === 'moto' && motoState === 'off')).reverse();
  // with --durability both, the power daemon against moto too (its own row per call)
  const subjects = has('power') && others.includes('moto') ? ['vpcep', 'power'] : ['vpcep'];
  const ratioRows = results.flatMap((r) => subjects.map((subject) => {
    const v = r[subject];
    const row = [subjects.length > 1 ? `${r.label} (${title[subject]})` : r.label];
    for (const k of others) {
      if (k === subject) {
        row.push('', '', '', '');
        continue;
      }
      const f = r[k];
      const ok = comparable(v, f);
      const why = k === 'moto' && motoState !== 'present' ? motoState : f?.failed ? `${title[k]} fails` : 'not the same answer';
      row.push(ok ? x(ratio(v.calls_per_s, f.calls_per_s)) : why, ok ? x(ratio(f.sdk_ms.p99, v.sdk_ms.p99)) : '', ok ? x(ratio(f.wire_ms.p50, v.wire_ms.p50)) : '', ok ? x(ratio(f.wire_ms.p99, v.wire_ms.p99)) : '');
    }
    return row;
  }));
  const ratioHeader = ['call'];
  for (const k of others) ratioHeader.push(`calls/s vs ${title[k]}`, `SDK p99 vs ${title[k]}`, `wire p50 vs ${title[k]}`, `wire p99 vs ${title[k]}`);
  const ratios = others.length ? `\n\nHow many times faster vpcep-sim is:\n\n${grid(ratioHeader, ratioRows, 1)}` : '';
  return `${figuresTable}${ratios}${serversShare(results, keys.filter((k) => k !== 'noop' && !(k === 'moto' && motoState !== 'present')), title)}`;
}

/** a server's time per call and wire p50 (ms) less the no-work server's, on a row where it answered */
function shareOf(r, k) {
  const f = r[k];
  if (!f?.calls || f.failed || !r.noop?.calls || r.noop.failed) return null;
  return { per_call: 1000 / f.calls_per_s - 1000 / r.noop.calls_per_s, wire_p50: f.wire_ms.p50 - r.noop.wire_ms.p50 };
}

/**
 * A server's own share of a call: its time per call (1 / calls/s) and its wire p50 less those of
 * the server that does no work (what the SDK and the loopback cost alone), on the rows where that
 * anchor answered; then moto's share over vpcep-sim's.
 */
function serversShare(results, keys, title) {
  const body = [];
  for (const r of results) {
    if (!r.noop?.calls || r.noop.failed) continue;
    const shares = Object.fromEntries(keys.map((k) => [k, shareOf(r, k)]));
    const row = [r.label, `${num(1000 / r.noop.calls_per_s, 2)} / ${num(r.noop.wire_ms.p50, 2)}`];
    for (const k of keys) row.push(shares[k] ? `${num(shares[k].per_call, 2)} / ${num(shares[k].wire_p50, 2)}` : '—');
    const v = shares.vpcep;
    const m = shares.moto;
    row.push(v && m ? `${x(ratio(m.per_call, v.per_call))} / ${x(ratio(m.wire_p50, v.wire_p50))}` : '—');
    body.push(row);
  }
  if (!body.length) return '';
  const header = ['call', 'no work: ms per call / wire p50', ...keys.map((k) => `${title[k]}: beyond it`), 'moto / vpcep-sim'];
  return `\n\nThe server's own share of a call (ms): the time per call (1 / calls/s) and the wire p50 less the no-work server's (the SDK and the loopback alone):\n\n${grid(header, body, 1)}`;
}

// ---- main

async function main() {
  const o = options();
  withClientToken = o.clientToken;
  if (!fs.existsSync(daemonEntry())) {
    process.stderr.write(`bench:aws: ${path.relative(rootDir, daemonEntry())} is missing: run \`npm run build\` first\n`);
    process.exit(2);
  }
  installHandlers('bench:aws');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpcep-bench-aws-'));
  atExit(() => fs.rmSync(dir, { recursive: true, force: true }));
  const echo = await echoServer();
  atExit(() => new Promise((r) => echo.close(r)));
  // one listener port per server: two daemons number their VPCs alike, so their endpoints share host addresses
  const listenerPorts = await pickPorts(4, ['127.0.0.1']);

  const loadBefore = os.loadavg();
  const program = o.moto ? motoServer() : null;
  const motoState = !o.moto ? 'off' : program ? 'present' : 'absent';
  say(`bench:aws ${o.smoke ? '(smoke) ' : ''}— ${o.endpoints} endpoints, ${o.creates} creates per mode (concurrency ${o.concurrency}) after ${o.warmUp} not counted, ${o.describes} calls per Describe, ${o.rounds} round${o.rounds > 1 ? 's' : ''}${o.clientToken ? ', a ClientToken per create' : ''}`);
  if (motoState === 'absent') say('bench:aws: moto_server is absent (not on the PATH nor in /root/.pyenv/shims): measuring vpcep-sim only');
  if (motoState === 'off') say('bench:aws: --no-moto: measuring vpcep-sim only');

  const bare = bareCommits(dir);
  say(`a bare commit on this disk: process (synchronous=NORMAL) p50 ${bare.process.p50.toFixed(2)} ms, p99 ${bare.process.p99.toFixed(2)} ms; power (FULL, its fsync) p50 ${bare.power.p50.toFixed(2)} ms, p99 ${bare.power.p99.toFixed(2)} ms`);
  const servers = [await startVpcepd(dir, o, { durability: o.durability === 'both' ? 'process' : o.durability })];
  if (o.durability === 'both') servers.push(await startVpcepd(dir, o, { name: 'vpcep-sim (power)', key: 'power', durability: 'power' }));
  if (o.baseline) servers.push(await startVpcepd(dir, o, { root: o.baseline, name: `baseline (${o.baseline})`, key: 'baseline' }));
  if (program) servers.push(await startMoto(dir, program));
  const echoPort = echo.address().port;
  for (const s of servers) {
    s.c = clients(s);
    s.created = 0;
    const t0 = performance.now();
    s.listenerPort = listenerPorts[servers.indexOf(s)];
    s.world = await prepare(s, s.c, echoPort, s.listenerPort);
    s.prepareSeconds = (performance.now() - t0) / 1000;
    say(`${s.name}: ${s.url}, service ${s.world.serviceName}, consumer ${s.world.vpcId}/${s.world.subnetId} (${s.prepareSeconds.toFixed(1)} s)`);
  }
  const key = (s) => s.key;

  const results = [];
  const fills = {};
  // the anchor, started at the first create's warm-up (it answers with vpcepd's own answer); it
  // answers CreateVpcEndpoint only
  let noop = null;
  for (const row of rows(o)) {
    if (row.fill) {
      for (const s of servers.filter((x) => x.key !== 'noop')) {
        fills[key(s)] = { endpoints: o.endpoints, made: o.endpoints - s.created, seconds: await fill(s, o.endpoints, o.concurrency) };
        say(`${s.name}: ${o.endpoints} endpoints (${fills[key(s)].made} more made in ${fills[key(s)].seconds.toFixed(1)} s, ${o.concurrency} in flight, not measured)`);
      }
      continue;
    }
    const rowServers = servers.filter((s) => s.key !== 'noop' || row.creates);
    const recs = Object.fromEntries(rowServers.map((s) => [key(s), emptyRecord()]));
    // warm-up calls, not counted: the first calls of an action pay for its code's compilation; a
    // failure there is the row's failure. A create row's warm-up is at least one call: the anchor
    // answers with what it answered.
    for (const s of rowServers) {
      const warm = emptyRecord();
      await runBatch(s, { ...row, concurrency: 1 }, row.creates ? Math.max(1, o.warmUp) : WARM_UP, warm);
      if (warm.failed) recs[key(s)].failed = `warm-up: ${warm.failed}`;
      if (row.creates && s.key === 'vpcep' && !noop && warm.answer?.body) {
        noop = await startAnswerAtOnce(dir, warm.answer);
        noop.c = clients(noop);
        noop.world = s.world;
        noop.created = 0;
        servers.push(noop);
        rowServers.push(noop);
        recs.noop = emptyRecord();
        say(`${noop.name}: ${noop.url}, answering every call with vpcep-sim's CreateVpcEndpoint answer (${warm.answer.body.length} bytes)`);
      }
    }
    for (let round = 0; round < o.rounds; round++) {
      const n = Math.floor(row.count / o.rounds) + (round < row.count % o.rounds ? 1 : 0);
      // the order of the servers turns every round
      for (const s of [...rowServers.slice(round % rowServers.length), ...rowServers.slice(0, round % rowServers.length)]) {
        const rec = recs[key(s)];
        if (rec.failed) continue;
        await runBatch(s, row, n, rec);
      }
    }
    const r = {
      key: row.key, label: row.label, vpcep: figures(recs.vpcep, row.concurrency), power: figures(recs.power, row.concurrency),
      moto: figures(recs.moto, row.concurrency), baseline: figures(recs.baseline, row.concurrency), noop: figures(recs.noop, row.concurrency),
    };
    results.push(r);
    for (const s of rowServers) {
      const f = r[key(s)];
      say(`  ${row.label}: ${s.name} ${f.failed ? `FAILS (${f.failed}) ` : ''}${num(f.calls_per_s, 0)} calls/s, p50 ${num(f.sdk_ms.p50)} ms, p99 ${num(f.sdk_ms.p99)} ms (wire p50 ${num(f.wire_ms.p50)} ms)${f.note ? `; ${f.note}` : ''}`);
    }
  }

  // every vpcep-sim of this code (process and power) did the real work
  const dataPlanes = {};
  for (const s of servers.filter((x) => x.key === 'vpcep' || x.key === 'power')) {
    const d = dataPlanes[s.key] = await checkDataPlane(s, s.listenerPort, o.endpoints);
    say(`${s.name}: ${d.relayed} of ${d.endpoints} endpoints relayed bytes to the NLB's target through their own listener (${d.seconds.toFixed(1)} s)`);
  }
  const loadAfter = os.loadavg();
  say(`load average (1, 5, 15 min): ${loadBefore.map((v) => v.toFixed(2)).join(', ')} at the start, ${loadAfter.map((v) => v.toFixed(2)).join(', ')} at the end (${os.cpus().length} cores)`);

  say(`\n## The AWS API through @aws-sdk/client-ec2: vpcep-sim and moto_server${o.smoke ? ' (smoke)' : ''}\n`);
  say(markdown(results, servers, motoState));
  say('\nSDK: the whole send (signing, the request, parsing the answer, in this process); wire: the request sent to the answer\'s last byte (the server\'s part).');
  say('server CPU: the server process\'s user+system time over the calls (10 ms ticks); client CPU: this process\'s (the SDK\'s own work). Ratios only where both answered the same items.');

  const failures = [];
  for (const r of results) {
    if (r.vpcep.failed) failures.push(`vpcep-sim: ${r.label}: ${r.vpcep.failed}`);
    if (r.vpcep.note) failures.push(`vpcep-sim: ${r.label}: ${r.vpcep.note}`);
    if (r.moto?.failed) say(`moto: ${r.label}: ${r.moto.failed}`);
    if (r.moto?.note) say(`moto: ${r.label}: ${r.moto.note}`);
  }
  for (const [k, d] of Object.entries(dataPlanes)) {
    if (d.relayed !== o.endpoints) failures.push(`${k}: ${o.endpoints - d.relayed} endpoints did not relay: ${d.refused.join('; ')}`);
  }

  const out = path.join(benchDir, 'results');
  fs.mkdirSync(out, { recursive: true });
  const file = path.join(out, `aws-api-${new Date().toISOString().replace(/[:.]/g, '-')}${o.smoke ? '-smoke' : ''}.json`);
  const motoVersion = motoState === 'present' ? /moto[^\n]*/i.exec(fs.readFileSync(servers.find((s) => s.key === 'moto').log, 'utf8'))?.[0] ?? null : null;
  fs.writeFileSync(file, JSON.stringify({
    when: new Date().toISOString(), options: o, moto: motoState, moto_server: program, moto_log_first_line: motoVersion,
    node: process.version, machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, loadavg: os.loadavg().map((v) => Number(v.toFixed(2))) },
    prepare_seconds: Object.fromEntries(servers.map((s) => [key(s), s.prepareSeconds])), fill: fills, data_plane: dataPlanes, load_average: { start: loadBefore, end: loadAfter }, bare_commit_ms: bare, results,
    // each server's share of a call beyond the no-work server's (ms), per row where it answered
    share_ms: Object.fromEntries(results.filter((r) => r.noop?.calls).map((r) => [r.key, Object.fromEntries(['vpcep', 'power', 'baseline', 'moto'].map((k) => [k, shareOf(r, k)]))])),
    failures,
  }, null, 2));
  say(`written ${path.relative(process.cwd(), file)}`);

  for (const s of servers) for (const c of Object.values(s.c)) c.destroy();
  await stopAll();
  if (failures.length) {
    process.stderr.write(`bench:aws: FAILED\n  ${failures.join('\n  ')}\n`);
    process.exit(1);
  }
}

main().catch(failed);

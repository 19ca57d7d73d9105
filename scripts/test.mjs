#!/usr/bin/env node
// `npm test`: every test file once with the relay `auto` picks, then the data-plane files again
// with the JavaScript relay (VPCEP_RELAY=js). Test daemons listen on the same simulated host
// addresses (127.k.c.d), so two runs cannot share a network stack: where this process may make
// network namespaces (root with CAP_NET_ADMIN), the groups below run at once, each in a namespace
// of its own with only a loopback; elsewhere (or with VPCEP_TEST_SERIAL=1) one after another.
//
//   npm test                          every group
//   npm test -- js-relay              groups by name (main, terraform, waits, js-relay)
//   npm test -- <vitest arguments>    vitest itself, here, with those arguments (files, -t ...)
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';

/**
 * the files that relay data-plane traffic: they run a second time with the JavaScript relay (not the
 * DNS server's files, dns and dns-private, one connection each, nor store-etcd, whose data plane
 * meets the store only as every other file's does: their answers are the same whichever relay)
 */
const JS_RELAY_FILES = [
  'dataplane', 'dataplane-load', 'gateway', 'snat-logical', 'store-stall', 'store-dataplane', 'api-abuse',
  'isolation', 'native-hardening', 'metrics', 'trace-agreement', 'drain', 'bind-failures', 'flow-logs',
  'aws-privatelink', 'aws-elbv2', 'aws-network', 'aws-network-acls', 'zones', 'backends-zones', 'toxics', 'bandwidth', 'unhealthy-termination', 'zones-services',
  'fleet', 'fast-accept', 'fresh-endpoint', 'toxiproxy-go-client',
].map((f) => `test/integration/${f}.test.ts`);

/**
 * Terraform's provider mostly waits (its NLB waiter sleeps 30 s twice, a command takes ~12 s to start):
 * its files run beside the rest, and with them the AWS fuzz (2,300 signed requests, CPU and no waits),
 * which the provider's sleeps leave room for: in main it made that group the longest.
 */
const TERRAFORM = ['terraform', 'terraform-extras', 'aws-fuzz'].map((f) => `test/integration/${f}.test.ts`);
/**
 * Files that drive slow real clients, one command after another: the Terraform stack whose provider
 * sleeps a minute per subnet association (on create and on destroy), the aws CLI (a Python start of
 * 1-3 s a call) scripting a stack with its waiters and paging, and the README's quick starts run as
 * written (npm start, npx, the aws CLI): a fifth group beside the rest. The groups share 2 cores, so
 * the whole run is bounded by its CPU over two (about 1,100 s of CPU on 2026-12-06 night, 1,300 s
 * before the fleet's and the aws CLI's tests were made cheaper); the grouping only decides how close
 * to that bound the slowest group ends (README "Tests").
 */
const CLIENTS = ['terraform-network', 'aws-cli', 'readme-quickstart', 'aws-quickstart'].map((f) => `test/integration/${f}.test.ts`);

/**
 * Files that mostly wait (a fleet's leases, a SIGKILL and an etcd restart; CLI processes; health
 * checks, draining intervals and toxics' delays; signals and reloads of a real `npm start`; etcd
 * stopped and started; daemons started to be refused; the memory release's quiet windows): beside
 * the rest, so that no group runs past a few minutes. Each group's files share one worker's modules
 * (vitest.config.ts, isolate: false).
 */
const WAITS = [
  'fleet', 'cli', 'unhealthy-termination', 'backends-zones', 'toxics', 'rules', 'lifecycle', 'store-etcd', 'etcd-fleet',
  'store-startup', 'memory-release', 'fleet-follow', 'fleet-toxics',
].map((f) => `test/integration/${f}.test.ts`);

const GROUPS = [
  { name: 'main', env: {}, args: [...[...TERRAFORM, ...CLIENTS, ...WAITS].flatMap((f) => ['--exclude', f])] },
  { name: 'terraform', env: {}, args: TERRAFORM },
  { name: 'clients', env: {}, args: CLIENTS },
  { name: 'waits', env: {}, args: WAITS },
  { name: 'js-relay', env: { VPCEP_RELAY: 'js' }, args: JS_RELAY_FILES },
];

const vitest = ['node_modules/.bin/vitest', 'run'];

function main() {
  const argv = process.argv.slice(2);
  if (argv.some((a) => !GROUPS.some((g) => g.name === a))) return runHere(argv, {});
  const chosen = argv.length ? GROUPS.filter((g) => argv.includes(g.name)) : GROUPS;
  const parallel = chosen.length > 1 && process.env.VPCEP_TEST_SERIAL !== '1' && namespacesWork();
  return parallel ? runParallel(chosen) : runSerial(chosen);
}

/** whether `ip netns add` works here (root with CAP_NET_ADMIN and iproute2) */
function namespacesWork() {
  if (process.getuid?.() !== 0) return false;
  const probe = `vpcep-probe-${process.pid}`;
  const ok = spawnSync('ip', ['netns', 'add', probe], { stdio: 'ignore' }).status === 0;
  if (ok) spawnSync('ip', ['netns', 'delete', probe], { stdio: 'ignore' });
  return ok;
}

async function runHere(args, env) {
  const child = spawn(vitest[0], [...vitest.slice(1), ...args], { stdio: 'inherit', env: { ...process.env, ...env } });
  return new Promise((resolve) => child.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}

async function runSerial(groups) {
  console.log(`== test groups one after another: ${groups.map((g) => g.name).join(', ')}${process.env.VPCEP_TEST_SERIAL === '1' ? ' (VPCEP_TEST_SERIAL=1)' : groups.length > 1 ? ' (no network namespaces here: not root, or no CAP_NET_ADMIN)' : ''}`);
  let failed = 0;
  for (const g of groups) {
    const t0 = Date.now();
    const code = await runHere(g.args, g.env);
    console.log(`== ${g.name}: ${code === 0 ? 'passed' : `FAILED (exit ${code})`} in ${Math.round((Date.now() - t0) / 1000)} s`);
    if (code !== 0) failed++;
  }
  return failed ? 1 : 0;
}

async function runParallel(groups) {
  console.log(`== test groups at once, each in its own network namespace: ${groups.map((g) => g.name).join(', ')}`);
  const namespaces = [];
  const children = new Set();
  const cleanup = () => {
    for (const c of children) c.kill('SIGTERM');
    for (const ns of namespaces) spawnSync('ip', ['netns', 'delete', ns], { stdio: 'ignore' });
  };
  for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => { cleanup(); process.exit(130); });
  const summaries = [];
  try {
    const runs = groups.map((g) => {
      const ns = `vpcep-test-${process.pid}-${g.name}`;
      spawnSync('ip', ['netns', 'delete', ns], { stdio: 'ignore' });
      if (spawnSync('ip', ['netns', 'add', ns], { stdio: 'inherit' }).status !== 0) throw new Error(`ip netns add ${ns} failed`);
      namespaces.push(ns);
      spawnSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up'], { stdio: 'inherit' });
      const t0 = Date.now();
      const child = spawn('ip', ['netns', 'exec', ns, ...vitest, ...g.args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...g.env } });
      children.add(child);
      const tail = [];
      for (const stream of [child.stdout, child.stderr]) {
        createInterface({ input: stream }).on('line', (line) => {
          process.stdout.write(`[${g.name}] ${line}\n`);
          if (/^\s*(Test Files|Tests|Duration)\s/.test(line.replace(/\x1b\[[0-9;]*m/g, ''))) tail.push(line);
        });
      }
      return new Promise((resolve) => child.on('close', (code, signal) => {
        children.delete(child);
        const seconds = Math.round((Date.now() - t0) / 1000);
        summaries.push({ name: g.name, code: code ?? (signal ? 1 : 0), seconds, tail });
        resolve();
      }));
    });
    await Promise.all(runs);
  } finally {
    cleanup();
  }
  for (const s of summaries) {
    console.log(`== ${s.name}: ${s.code === 0 ? 'passed' : `FAILED (exit ${s.code})`} in ${s.seconds} s`);
    for (const l of s.tail) console.log(`   ${l.trim()}`);
  }
  return summaries.some((s) => s.code !== 0) ? 1 : 0;
}

process.exitCode = await main();

#!/usr/bin/env node
// Where a connection's cost goes, vpcepd against HAProxy: the world of `bench:load` (nginx behind
// one endpoint and one HAProxy frontend), bench:load's rate scenario (wrk, `Connection: close`)
// through each relay in turn, and per connection of each run:
//   - the relay's CPU (µs) and context switches, from /proc/<pid>/task/* (per thread name)
//   - its system calls by name: `perf stat -e syscalls:sys_enter_<name>,... -p PID` over a second run
//   - with --record: the top symbols of `perf record -e cpu-clock -g -p PID` (its relay threads')
//   - the whole path's: TCP segments (the namespace's /proc/net/snmp and netstat counters), and
//     the machine's CPU by /proc/stat field with the path's processes (nginx, the relay, wrk):
//     the connection rate follows what the whole path spends per connection, not the relay's alone
// Runs alternate vpcep, haproxy, vpcep, ... for --rounds; prints a table of per-connection
// figures (medians of the rounds). Needs perf with tracepoints (root); see bench/README.md.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { commandLine } from './lib/cli.mjs';
import { extendPath } from './lib/machine.mjs';
import { atExit, failed, installHandlers, run, sleep, stopAll } from './lib/procs.mjs';
import { cpuBetween, cpuSnapshot } from './lib/cpu.mjs';
import { median } from './lib/stats.mjs';
import { startWorld } from './lib/world.mjs';
import { wrk as wrkRun } from './lib/scenarios/rate.mjs';

/** connections made by one wrk run of bench:load's rate scenario */
const wrk = async (target, seconds) => (await wrkRun(target, seconds)).requests;

const USAGE = `usage: node bench/rate-profile.mjs [--seconds 5] [--rounds 3] [--record] [--relay native|js]

  --seconds S   length of each wrk run; default 5
  --rounds N    runs per relay, alternated; default 3
  --record      also perf record each relay's threads (cpu-clock, call graphs) and print the top symbols
  --relay R     vpcepd's relay (VPCEP_RELAY); default native
  --keep DIR    with --record, keep each relay's perf data as DIR/perf-<relay>.data (for perf report)`;

const HZ = 100;
const say = (s) => process.stdout.write(`${s}\n`);

function options() {
  const { values: v, usage } = commandLine('rate-profile', USAGE, {
    seconds: { type: 'string' },
    rounds: { type: 'string' },
    record: { type: 'boolean', default: false },
    relay: { type: 'string' },
    keep: { type: 'string' },
  });
  const seconds = Number(v.seconds ?? 5);
  const rounds = Number(v.rounds ?? 3);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 120) usage('--seconds must be an integer from 1 to 120');
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) usage('--rounds must be an integer from 1 to 20');
  const relay = v.relay ?? 'native';
  if (!['native', 'js'].includes(relay)) usage('--relay must be native or js');
  if (v.keep !== undefined && !v.record) usage('--keep needs --record');
  if (v.keep !== undefined) fs.mkdirSync(v.keep, { recursive: true });
  return { seconds, rounds, record: v.record, relay, keep: v.keep };
}

/** CPU ticks and context switches of each thread of PID, summed by thread name */
function threads(pid) {
  const out = {};
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const status = fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const n = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
      const name = String(pid) === tid ? 'main' : /^Name:\s+(.*)$/m.exec(status)[1];
      const t = (out[name] ??= { ticks: 0, switches: 0 });
      t.ticks += Number(f[11]) + Number(f[12]);
      t.switches += n('voluntary_ctxt_switches') + n('nonvoluntary_ctxt_switches');
    } catch { /* a thread gone meanwhile */ }
  }
  return out;
}

/** the namespace's TCP counters (/proc/net/snmp `Tcp:`, /proc/net/netstat `TcpExt:`) by name */
function tcpCounters() {
  const out = {};
  for (const file of ['/proc/net/snmp', '/proc/net/netstat']) {
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    for (let i = 0; i + 1 < lines.length; i++) {
      const [kind, ...names] = lines[i].split(' ');
      if (kind !== 'Tcp:' && kind !== 'TcpExt:') continue;
      const values = lines[i + 1].split(' ').slice(1);
      names.forEach((n, j) => { out[n] = Number(values[j]); });
      i++;
    }
  }
  return out;
}

/**
 * Where the whole path's CPU goes, in ticks: /proc/stat's fields (user, system, irq+softirq, idle,
 * steal) and the processes of the path: nginx's, the relay's, and wrk's (reaped by this process:
 * its children's times).
 */
function pathTicks(relayPid) {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const out = { 'machine user': f[0] + f[1], 'machine system': f[2], 'machine irq+softirq': f[5] + f[6], 'machine idle': f[3] + f[4], 'machine steal': f[7] ?? 0, nginx: 0 };
  const ticks = (pid) => {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const g = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return { comm: st.slice(st.indexOf('(') + 1, st.lastIndexOf(')')), own: Number(g[11]) + Number(g[12]), reaped: Number(g[13]) + Number(g[14]) };
  };
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const t = ticks(name);
      if (t.comm === 'nginx') out.nginx += t.own;
    } catch { /* gone meanwhile */ }
  }
  out.relay = ticks(relayPid).own;
  // the children this process reaped: wrk alone between the two readings (perf runs after them)
  out.wrk = ticks(process.pid).reaped;
  return out;
}

// The whole path's segments (wrk, the relay and nginx share the namespace): what each relay makes
// the kernel carry per connection, whoever's CPU pays for it.
const SEGMENTS = ['OutSegs', 'DelayedACKs', 'TCPPureAcks', 'TCPHPAcks', 'TCPHPHits', 'OutRsts', 'RetransSegs', 'TCPLossProbes'];

function threadDelta(a, b) {
  const out = {};
  for (const [name, t] of Object.entries(b)) out[name] = { ticks: t.ticks - (a[name]?.ticks ?? 0), switches: t.switches - (a[name]?.switches ?? 0) };
  return out;
}

// The system calls counted by name (the wildcard `syscalls:sys_enter_*` takes perf seconds to
// attach); raw_syscalls:sys_enter counts them all, so what the list misses shows as `other`.
const SYSCALLS = [
  'accept4', 'accept', 'socket', 'bind', 'connect', 'listen', 'setsockopt', 'getsockopt', 'getsockname', 'getpeername',
  'epoll_wait', 'epoll_pwait', 'epoll_ctl', 'close', 'shutdown', 'splice', 'recvfrom', 'sendto', 'recvmsg', 'sendmsg',
  'read', 'write', 'readv', 'writev', 'pipe2', 'fcntl', 'futex', 'ioctl', 'openat', 'mmap', 'munmap', 'madvise', 'brk',
  'mprotect', 'getrandom', 'sched_yield', 'clock_gettime', 'rt_sigprocmask', 'newfstatat', 'io_uring_enter',
];
const ATTACH_MS = 1500;

/** perf stat's counts of system calls (and the switches) of PID while `body` runs for `seconds` */
async function syscalls(pid, dir, seconds, body) {
  const out = path.join(dir, `perf-stat-${pid}-${Date.now()}.csv`);
  const events = ['raw_syscalls:sys_enter', ...SYSCALLS.map((s) => `syscalls:sys_enter_${s}`)].join(',');
  const perf = run('perf', ['stat', '-x', ',', '-o', out, '-e', events, '-p', String(pid), '--', 'sleep', String(seconds + ATTACH_MS / 1000 + 1)], { timeoutMs: (seconds + 30) * 1000 });
  await sleep(ATTACH_MS);  // attached before the load starts
  const result = await body();
  await perf;
  const counts = {};
  for (const line of fs.readFileSync(out, 'utf8').split('\n')) {
    const [value, , event] = line.split(',');
    if (!event || !/^\d+$/.test(value)) continue;
    counts[event.replace(/^syscalls:sys_enter_|^raw_syscalls:sys_/, '')] = Number(value);
  }
  counts.other = counts.enter - SYSCALLS.reduce((a, k) => a + (counts[k] ?? 0), 0);
  delete counts.enter;
  for (const k of Object.keys(counts)) if (counts[k] === 0) delete counts[k];
  return { result, counts };
}

/** the top symbols of `perf record` of PID's threads while `body` runs for `seconds` */
async function record(pid, dir, seconds, body, keep, tag) {
  const data = path.join(dir, `perf-${pid}-${Date.now()}.data`);
  const perf = run('perf', ['record', '-q', '-e', 'cpu-clock', '-g', '-o', data, '-p', String(pid), '--', 'sleep', String(seconds + ATTACH_MS / 1000 + 1)], { timeoutMs: (seconds + 60) * 1000 });
  await sleep(ATTACH_MS);
  const result = await body();
  await perf;
  if (keep) fs.copyFileSync(data, path.join(keep, `perf-${tag}.data`));
  const report = await run('perf', ['report', '-i', data, '--no-children', '--sort', 'comm,dso,sym', '--stdio', '-g', 'none', '--percent-limit', '0.7'], { timeoutMs: 120_000 });
  const dsos = await run('perf', ['report', '-i', data, '--no-children', '--sort', 'comm,dso', '--stdio', '-g', 'none', '--percent-limit', '0.5'], { timeoutMs: 120_000 });
  const top = [...dsos.stdout.split('\n').filter((l) => /^\s+\d+\.\d+%/.test(l)).map((l) => `by dso: ${l.trim().replace(/\s+/g, ' ')}`), ...report.stdout.split('\n').filter((l) => /^\s+\d+\.\d+%/.test(l)).slice(0, 30).map((l) => l.trim().replace(/\s+/g, ' '))];
  return { result, top };
}

async function main() {
  const opts = options();
  installHandlers('rate-profile');
  extendPath();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpcep-rate-profile-'));
  atExit(() => fs.rmSync(dir, { recursive: true, force: true }));
  say(`rate-profile: ${opts.rounds} rounds of ${opts.seconds} s per relay; machine ${os.cpus().length} cores, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const env = await startWorld({ dir, snat: 'auto', relay: opts.relay, socketBuffer: undefined, endpoints: 1, nginxWorkers: 1, log: (s) => say(`  ${s}`) });
  const relays = { vpcep: () => env.vpcep.pid, haproxy: () => env.haproxy.proc.child.pid };
  for (const p of Object.keys(relays)) await wrk(env.target(p, 'http'), 1);  // warm: JIT, caches

  const runs = { vpcep: [], haproxy: [] };
  for (let round = 0; round < opts.rounds; round++) {
    for (const [p, pidOf] of Object.entries(relays)) {
      const pid = pidOf();
      const target = env.target(p, 'http');
      // first a clean run: CPU and switches per thread, no tracer attached
      const t0 = threads(pid);
      const c0 = cpuSnapshot();
      const s0 = tcpCounters();
      const m0 = pathTicks(pid);
      const conns = await wrk(target, opts.seconds);
      const s1 = tcpCounters();
      const m1 = pathTicks(pid);
      const load = cpuBetween(c0, cpuSnapshot());
      const per = threadDelta(t0, threads(pid));
      const machine = Object.fromEntries(Object.keys(m1).map((k) => [k, m1[k] - m0[k]]));
      const segments = Object.fromEntries(SEGMENTS.map((k) => [k, (s1[k] ?? 0) - (s0[k] ?? 0)]));
      // then the syscall counts over a run of the same length
      const sc = await syscalls(pid, dir, opts.seconds, () => wrk(target, opts.seconds));
      const r = { conns, rate: conns / opts.seconds, background: load.background_cores, threads: per, machine, segments, syscalls: sc.counts, traced: sc.result };
      if (opts.record && round === 0) r.top = (await record(pid, dir, opts.seconds, () => wrk(target, opts.seconds), opts.keep, p)).top;
      runs[p].push(r);
      const cpuUs = Object.values(per).reduce((a, t) => a + t.ticks, 0) / HZ / conns * 1e6;
      const sw = Object.values(per).reduce((a, t) => a + t.switches, 0) / conns;
      const sys = Object.values(sc.counts).reduce((a, b) => a + b, 0) / sc.result;
      say(`  round ${round + 1} ${p}: ${Math.round(r.rate)} conn/s, ${cpuUs.toFixed(0)} µs CPU/conn, ${sw.toFixed(2)} switches/conn, ${sys.toFixed(1)} syscalls/conn (background ${load.background_cores} cores)`);
    }
  }

  say('');
  say('per connection, medians of the rounds:');
  const names = new Set();
  for (const p of Object.keys(runs)) for (const r of runs[p]) for (const k of Object.keys(r.syscalls)) names.add(k);
  const med = (p, f) => median(runs[p].map(f));
  const rows = [
    ['conn/s', (r) => r.rate, 0],
    ['CPU µs', (r) => Object.values(r.threads).reduce((a, t) => a + t.ticks, 0) / HZ / r.conns * 1e6, 1],
    ['context switches', (r) => Object.values(r.threads).reduce((a, t) => a + t.switches, 0) / r.conns, 2],
    ...SEGMENTS.map((k) => [`TCP ${k} (whole path)`, (r) => r.segments[k] / r.conns, 2]),
    ...Object.keys(runs.vpcep[0].machine).map((k) => [`${k} µs`, (r) => r.machine[k] / HZ / r.conns * 1e6, 1]),
    ['syscalls (all)', (r) => Object.values(r.syscalls).reduce((a, b) => a + b, 0) / r.traced, 2],
    ...[...names].sort().map((k) => [`  ${k}`, (r) => (r.syscalls[k] ?? 0) / r.traced, 2]),
  ];
  say(`${'figure'.padEnd(28)} ${'vpcep'.padStart(9)} ${'haproxy'.padStart(9)}`);
  for (const [label, f, digits] of rows) {
    const v = med('vpcep', f);
    const h = med('haproxy', f);
    if (v < 0.005 && h < 0.005) continue;
    say(`${label.padEnd(28)} ${v.toFixed(digits).padStart(9)} ${h.toFixed(digits).padStart(9)}`);
  }
  for (const p of Object.keys(runs)) {
    say(`\n${p}: CPU µs and switches per connection by thread (median)`);
    const tnames = new Set(runs[p].flatMap((r) => Object.keys(r.threads)));
    for (const t of tnames) {
      const cpu = median(runs[p].map((r) => (r.threads[t]?.ticks ?? 0) / HZ / r.conns * 1e6));
      const sw = median(runs[p].map((r) => (r.threads[t]?.switches ?? 0) / r.conns));
      if (cpu >= 0.5 || sw >= 0.005) say(`  ${t.padEnd(20)} ${cpu.toFixed(1).padStart(7)} µs ${sw.toFixed(2).padStart(6)} switches`);
    }
    if (runs[p][0].top) say(`\n${p}: perf record, top symbols (cpu-clock, self)\n  ${runs[p][0].top.join('\n  ')}`);
  }
  await stopAll();
}

main().catch(failed);

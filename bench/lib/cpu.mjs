// CPU accounting around each run, from /proc: how much CPU the whole machine used (user, nice,
// system), how much of it was this benchmark's own process tree (this process, its children and
// theirs, and the children it has reaped: wrk, iperf3), and so how much went to something else
// on the machine (other users' jobs): the background. A run with a large background is suspect.
import fs from 'node:fs';
import os from 'node:os';

const HZ = 100; // USER_HZ: the unit of /proc/*/stat times on Linux

function machineBusyTicks() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal ...: irq and softirq time cannot be told apart by owner
  return { busy: f[0] + f[1] + f[2], steal: f[7] ?? 0 };
}

function readStat(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // after the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
    return { ppid: Number(f[1]), own: Number(f[11]) + Number(f[12]), reaped: Number(f[13]) + Number(f[14]) };
  } catch {
    return null;
  }
}

/** CPU ticks of this process and every descendant alive now, plus what this process has reaped */
function treeTicks() {
  const stats = new Map();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(name);
    if (st) stats.set(Number(name), st);
  }
  const children = new Map();
  for (const [pid, st] of stats) {
    if (!children.has(st.ppid)) children.set(st.ppid, []);
    children.get(st.ppid).push(pid);
  }
  let total = 0;
  const stack = [process.pid];
  while (stack.length) {
    const pid = stack.pop();
    const st = stats.get(pid);
    if (st) total += st.own + (pid === process.pid ? st.reaped : 0);
    stack.push(...(children.get(pid) ?? []));
  }
  return total;
}

export function cpuSnapshot() {
  return { at: performance.now(), machine: machineBusyTicks(), tree: treeTicks() };
}

/** the CPU used between two snapshots, in cores (1.0 = one core busy the whole time) */
export function cpuBetween(a, b) {
  const seconds = (b.at - a.at) / 1000;
  if (seconds <= 0) return null;
  const cores = (ticks) => Math.round((ticks / HZ / seconds) * 100) / 100;
  const machine = b.machine.busy - a.machine.busy;
  const own = b.tree - a.tree;
  return {
    machine_cores: cores(machine),
    own_cores: cores(own),
    background_cores: cores(Math.max(0, machine - own)),
    steal_cores: cores(b.machine.steal - a.machine.steal),
    of_cores: os.cpus().length,
  };
}

/**
 * Context switches (voluntary and not) of one process's threads so far: `main`, its first thread
 * (vpcepd's JavaScript thread), and `others` (vpcepd's relay threads and Node's helpers); null when
 * it is gone. Threads that ended before are not counted (the relays' threads live as long as they do).
 */
export function processSwitches(pid) {
  let tids;
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return null;
  }
  const out = { main: 0, others: 0 };
  for (const tid of tids) {
    let status;
    try {
      status = fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
    } catch {
      continue;
    }
    const n = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
    out[String(pid) === tid ? 'main' : 'others'] += n('voluntary_ctxt_switches') + n('nonvoluntary_ctxt_switches');
  }
  return out;
}

/** CPU seconds (user + system) one process has used so far */
export function processCpuSeconds(pid) {
  const st = readStat(pid);
  return st ? st.own / HZ : null;
}

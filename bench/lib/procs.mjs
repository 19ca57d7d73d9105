// Child processes of the benchmarks: every one is started here, in its own process group
// (detached), and remembered, so that the end of the run, Ctrl-C, SIGTERM or an error stops all of
// them and their own children (nginx's workers) by process group id, and nothing is left behind.
import { spawn, fork } from 'node:child_process';
import fs from 'node:fs';
import { once } from 'node:events';

/** @typedef {{ name: string, child: import('node:child_process').ChildProcess, exited: Promise<{code: number|null, signal: string|null}>, log: string, gone: boolean, stopSignal: string }} Tracked */

/** @type {Set<Tracked>} */
const live = new Set();
const cleanups = [];
let handlersInstalled = false;
let stopping = null;
let aborted = false;
/** the running script's name in its messages (`bench:dns`): installHandlers() sets it */
let scriptName = 'bench';

/** true once Ctrl-C, SIGTERM or an uncaught error has started the teardown: start nothing new */
export function aborting() {
  return aborted;
}

function track(name, child, log, stopSignal) {
  /** @type {Tracked} */
  const t = { name, child, log, gone: false, stopSignal, exited: null };
  t.exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => { t.gone = true; live.delete(t); resolve({ code, signal }); });
    child.once('error', (err) => { t.gone = true; live.delete(t); t.error = err; resolve({ code: -1, signal: null }); });
  });
  live.add(t);
  return t;
}

/**
 * Starts a program in its own process group with stdout and stderr appended to `log`.
 * `stopSignal`: what stop() sends first (SIGTERM unless told).
 */
export function start(name, command, args, { log, env, stopSignal = 'SIGTERM', cwd } = {}) {
  const fd = fs.openSync(log, 'a');
  const child = spawn(command, args, { detached: true, stdio: ['ignore', fd, fd], env: env ?? process.env, cwd });
  fs.closeSync(fd);
  return track(name, child, log, stopSignal);
}

/**
 * Forks a Node worker (a .mjs of bench/lib/workers) in its own process group with an IPC channel;
 * the worker exits by itself when the channel closes (this process gone).
 */
export function startWorker(name, modulePath, args, { log } = {}) {
  const fd = fs.openSync(log, 'a');
  const child = fork(modulePath, args, { detached: true, stdio: ['ignore', fd, fd, 'ipc'], serialization: 'advanced' });
  fs.closeSync(fd);
  const t = track(name, child, log, 'SIGTERM');
  t.request = makeRequester(child);
  return t;
}

/** request/response over a worker's IPC channel: send({id, ...}), the worker answers {id, ...} */
function makeRequester(child) {
  let next = 1;
  const waiting = new Map();
  child.on('message', (m) => {
    const w = waiting.get(m?.id);
    if (!w) return;
    waiting.delete(m.id);
    if (m.error) w.reject(new Error(m.error));
    else {
      const { id, ...answer } = m;
      w.resolve(answer);
    }
  });
  child.once('exit', (code, signal) => {
    for (const w of waiting.values()) w.reject(new Error(`worker exited (${code ?? signal}) before answering`));
    waiting.clear();
  });
  return (message, timeoutMs = 120_000) => new Promise((resolve, reject) => {
    const id = next++;
    const timer = setTimeout(() => { waiting.delete(id); reject(new Error(`worker did not answer ${message.op} within ${timeoutMs} ms`)); }, timeoutMs);
    waiting.set(id, {
      resolve: (v) => { clearTimeout(timer); resolve(v); },
      reject: (e) => { clearTimeout(timer); reject(e); },
    });
    child.send({ ...message, id });
  });
}

/** runs a program to its end, capturing its output; rejects on a non-zero exit or the timeout */
export async function run(command, args, { timeoutMs = 120_000, env, allowFailure = false } = {}) {
  const child = spawn(command, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
  const t = track(command, child, null, 'SIGTERM');
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b) => { stdout += b; });
  child.stderr.on('data', (b) => { stderr += b; });
  const timer = setTimeout(() => killGroup(t, 'SIGKILL'), timeoutMs);
  const { code, signal } = await t.exited;
  clearTimeout(timer);
  if (t.error) throw new Error(`${command}: ${t.error.message}`);
  if ((code !== 0 || signal) && !allowFailure) {
    throw new Error(`${command} ${args.join(' ')} exited ${signal ?? code}${signal === 'SIGKILL' ? ` (timeout ${timeoutMs} ms)` : ''}\n${stderr.trim() || stdout.trim().slice(-2000)}`);
  }
  return { code, signal, stdout, stderr };
}

function killGroup(t, signal) {
  if (t.gone || !t.child.pid) return;
  try {
    process.kill(-t.child.pid, signal);
  } catch {
    try { t.child.kill(signal); } catch { /* gone */ }
  }
}

/** stops one process (its group): its stop signal, then SIGKILL after `graceMs` */
export async function stop(t, graceMs = 3_000) {
  if (!t || t.gone) return;
  killGroup(t, t.stopSignal);
  const timer = setTimeout(() => killGroup(t, 'SIGKILL'), graceMs);
  await t.exited;
  clearTimeout(timer);
}

/** a cleanup to run at the end (temporary files), after the processes are stopped */
export function atExit(fn) {
  cleanups.push(fn);
}

/** stops every process still running, in reverse order of start, then runs the cleanups */
export function stopAll(graceMs = 3_000) {
  stopping ??= (async () => {
    const all = [...live].reverse();
    await Promise.all(all.map((t) => stop(t, graceMs)));
    for (const fn of cleanups.splice(0).reverse()) {
      try { await fn(); } catch { /* best effort */ }
    }
  })();
  return stopping;
}

/** the processes still running (for a leftover check) */
export function running() {
  return [...live].map((t) => ({ name: t.name, pid: t.child.pid }));
}

/**
 * Ctrl-C, SIGTERM, an uncaught error: stop everything, then exit. On any exit, whatever is still
 * running is killed synchronously (SIGKILL to its group). `name` (`bench:dns`) prefixes the
 * messages. An error after Ctrl-C or SIGTERM is the teardown's doing (a socket closed under a
 * call): it prints nothing.
 */
export function installHandlers(name) {
  scriptName = name;
  if (handlersInstalled) return;
  handlersInstalled = true;
  const bail = (code, why) => {
    if (aborted) return;
    aborted = true;
    process.stderr.write(`\n${scriptName}: ${why}: stopping every process it started\n`);
    const hard = setTimeout(() => process.exit(code), 10_000);
    hard.unref();
    stopAll(1_500).finally(() => process.exit(code));
  };
  const crashed = (why) => (err) => {
    if (aborted) return;
    process.stderr.write(`${scriptName}: ${err?.stack ?? err}\n`);
    bail(1, why);
  };
  process.on('SIGINT', () => bail(130, 'interrupted (SIGINT)'));
  process.on('SIGTERM', () => bail(143, 'terminated (SIGTERM)'));
  process.on('SIGHUP', () => bail(129, 'hung up (SIGHUP)'));
  process.on('uncaughtException', crashed('uncaught error'));
  process.on('unhandledRejection', crashed('unhandled rejection'));
  process.on('exit', () => { for (const t of live) killGroup(t, 'SIGKILL'); });
}

/**
 * The end of a script whose main() rejected: the error, every process stopped, exit 1. After
 * Ctrl-C or SIGTERM it does nothing: the error is the teardown's doing, and the teardown exits.
 */
export async function failed(err) {
  if (aborted) return;
  process.stderr.write(`${scriptName}: ${err?.stack ?? err}\n`);
  await stopAll();
  process.exit(1);
}

/** waits for a process to print `pattern` into its log, or to exit (an error) */
export async function waitForLog(t, pattern, timeoutMs = 10_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const text = fs.existsSync(t.log) ? fs.readFileSync(t.log, 'utf8') : '';
    if (pattern.test(text)) return text;
    if (t.gone) throw new Error(`${t.name} exited before it was ready:\n${tail(t.log)}`);
    if (Date.now() > until) throw new Error(`${t.name} was not ready within ${timeoutMs} ms:\n${tail(t.log)}`);
    await sleep(50);
  }
}

/** the last lines of a log file */
export function tail(file, lines = 20) {
  if (!file || !fs.existsSync(file)) return '(no log)';
  return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

/** resolves when a worker sends {ready: true} (its first message) */
export async function workerReady(t, timeoutMs = 10_000) {
  const timer = setTimeout(() => killGroup(t, 'SIGKILL'), timeoutMs);
  try {
    const [m] = await Promise.race([
      once(t.child, 'message'),
      t.exited.then(() => { throw new Error(`${t.name} exited before it was ready:\n${tail(t.log)}`); }),
    ]);
    if (!m?.ready) throw new Error(`${t.name}: unexpected first message ${JSON.stringify(m)}`);
    return m;
  } finally {
    clearTimeout(timer);
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** RSS of a process in KiB (VmRSS of /proc/<pid>/status) */
export function rssKiB(pid) {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

const ARENA_SPAN = 64 * 1024 * 1024; // glibc's HEAP_MAX_SIZE on 64-bit: a thread arena's reservation, aligned to it

/**
 * A process's resident memory by kind, in KiB, from /proc/<pid>/smaps: `malloc` the main arena's
 * [heap] (brk), `arenas` glibc's thread arenas (anonymous, 64 MiB-aligned reservations), `stacks`
 * threads' stacks (anonymous, right above a guard page) and the main stack, `files` mapped files
 * (code, libraries), `anon` the rest of the anonymous memory (V8's heap spaces, its code, large
 * mmap()ed blocks of malloc). The kinds are read from the mappings' shapes: a heuristic, for
 * finding where growth goes, not an exact account.
 */
export function rssByKind(pid) {
  const maps = [];
  let cur = null;
  for (const line of fs.readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      cur = { start: BigInt(`0x${head[1]}`), end: BigInt(`0x${head[2]}`), perms: head[3], name: head[4], rss: 0 };
      maps.push(cur);
    } else if (cur && line.startsWith('Rss:')) cur.rss = Number(/(\d+)/.exec(line)[1]);
  }
  const kinds = { malloc: 0, arenas: 0, stacks: 0, files: 0, anon: 0 };
  const span = BigInt(ARENA_SPAN);
  maps.forEach((m, i) => {
    const prev = maps[i - 1];
    const next = maps[i + 1];
    let kind = 'anon';
    if (m.name === '[heap]') kind = 'malloc';
    else if (m.name === '[stack]') kind = 'stacks';
    else if (m.name.startsWith('/')) kind = 'files';
    else if (m.name) kind = 'anon';
    else if (m.start % span === 0n && (m.end - m.start === span || (next?.start === m.end && next.perms.startsWith('---') && next.end - m.start === span))) kind = 'arenas';
    else if (prev?.end === m.start && prev.perms.startsWith('---') && !prev.name && prev.end - prev.start <= 65536n && m.perms.startsWith('rw')) kind = 'stacks';
    kinds[kind] += m.rss;
  });
  return kinds;
}

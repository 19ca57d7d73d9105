// The daemon's lifecycle with real processes: signals through a real `npm start`, the parent-death
// watch, SIGHUP reloads (a good file, a bad one, one that needs a restart), and `vpcep wait`.
// The drain is in drain.test.ts (it relays, so it runs with both relays).
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { CONSUMER, DAEMON_NODE_FLAGS, METRICS_TOKEN, PROVIDER, ROOT, SERVICE_BODY, freePort, spawnDaemon, tempDir, twoAccountConfig, waitFor, writeConfig, type ChildDaemon } from '../helpers.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function track(proc: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  cleanups.push(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
  });
  return exited;
}

async function daemon(args: string[], env: Record<string, string> = {}): Promise<ChildDaemon> {
  const d = await spawnDaemon(args, env);
  void track(d.proc);
  return d;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** the pid in the daemon's "vpcepd ready" log line */
function readyPid(output: string): number | undefined {
  const line = output.split('\n').find((l) => l.includes('"vpcepd ready"'));
  return line ? (JSON.parse(line) as { pid: number }).pid : undefined;
}

/** the log lines with this msg */
const logged = (output: string, msg: string): any[] => output.split('\n').filter((l) => l.includes(`"msg":"${msg}`)).map((l) => JSON.parse(l));

async function refused(url: string): Promise<boolean> {
  try {
    await fetch(`${url}/`);
    return false;
  } catch {
    return true;
  }
}

/** `npm start -- ARGS` in the project, as a script runs it: its output kept, the daemon's pid once ready */
async function npmStart(args: string[]): Promise<{ npm: ChildProcess; url: string; daemonPid: number; output: () => string; exited: Promise<unknown> }> {
  const port = await freePort();
  const npm = spawn('npm', ['start', '--', '--listen', `127.0.0.1:${port}`, ...args], {
    cwd: ROOT, env: { ...process.env, VPCEP_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  npm.stdout!.on('data', (b) => { out += b; });
  npm.stderr!.on('data', (b) => { out += b; });
  const exited = track(npm);
  const daemonPid = await waitFor(() => readyPid(out), 20_000, `npm start to bring vpcepd up\n${out}`);
  cleanups.push(() => { if (alive(daemonPid)) process.kill(daemonPid, 'SIGKILL'); });
  return { npm, url: `http://127.0.0.1:${port}`, daemonPid, output: () => out, exited };
}

/** the AnyIP route of the kernel SNAT mode, as `ip route` shows it ('' when absent) */
function snatRoute(): Promise<string> {
  return new Promise((resolve) => execFile('ip', ['route', 'show', 'table', 'local', '198.19.128.0/17'], (_e, out) => resolve(String(out ?? '').trim())));
}

function configDir(config: Record<string, unknown> = twoAccountConfig()): { dir: string; file: string } {
  const dir = tempDir('vpcep-life-');
  return { dir, file: writeConfig(dir, config) };
}

describe('signals through npm start', () => {
  it('kill $! of `npm start ... &` (SIGTERM to npm) reaches the daemon: it drains, stops and frees its port', async () => {
    const { dir, file } = configDir();
    const s = await npmStart(['--config', file, '--data-dir', path.join(dir, 'data')]);
    expect(s.npm.pid).not.toBe(s.daemonPid);
    // npm start runs node with the flags of bin/vpcepd.js's first line ("garbage collection on one thread" below)
    expect(fs.readFileSync(`/proc/${s.daemonPid}/cmdline`, 'utf8').split('\0').slice(1, 1 + DAEMON_NODE_FLAGS.length)).toEqual(DAEMON_NODE_FLAGS);
    s.npm.kill('SIGTERM');
    await s.exited;
    await waitFor(() => !alive(s.daemonPid), 10_000, 'the daemon to exit after npm got SIGTERM');
    expect(s.output()).toContain('"msg":"stopped"');
    expect(await refused(s.url)).toBe(true);
  });

  it('npm killed by a signal it does not forward (SIGKILL, SIGHUP): the daemon sees its parent gone and stops cleanly', async () => {
    for (const signal of ['SIGKILL', 'SIGHUP'] as const) {
      const { dir, file } = configDir();
      const s = await npmStart(['--config', file, '--data-dir', path.join(dir, 'data')]);
      s.npm.kill(signal);
      await s.exited;
      await waitFor(() => !alive(s.daemonPid), 10_000, `the daemon to exit after npm got ${signal}`);
      expect(await refused(s.url)).toBe(true);
    }
  });
});

const root = process.getuid?.() === 0;

/** vpcepd in network namespace NS (ip netns exec), on FILE's config; resolves once it is ready */
async function daemonIn(ns: string, file: string, dataDir: string): Promise<{ proc: ChildProcess; output: () => string; exited: Promise<unknown> }> {
  const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, ...DAEMON_NODE_FLAGS, path.join(ROOT, 'bin/vpcepd.js'), '--listen', `127.0.0.1:${await freePort()}`, '--config', file, '--data-dir', dataDir], {
    env: { ...process.env, VPCEP_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (b) => { out += b; });
  proc.stderr!.on('data', (b) => { out += b; });
  const exited = track(proc);
  cleanups.push(() => { if (proc.exitCode === null) proc.kill('SIGKILL'); });
  await waitFor(() => out.includes('"msg":"vpcepd ready"') || null, 20_000, `vpcepd in ${ns} to be ready\n${out}`);
  return { proc, output: () => out, exited };
}

describe('the SNAT route is the network namespace\'s', () => {
  // two daemons on one machine (the nodes of a fleet): the one that installed the route once
  // removed it at SIGTERM under the other, whose every endpoint then reset its clients
  it.skipIf(!root)(`the daemon that installed it leaves it while another vpcepd of the namespace runs, and removes it when none does; one that found it never removes it${root ? '' : ' (skipped: needs root for a network namespace)'}`, async () => {
    const ns = `vpcep-route-${process.pid}`;
    execFileSync('ip', ['netns', 'add', ns]);
    cleanups.push(() => { execFileSync('ip', ['netns', 'del', ns]); });
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    const route = () => execFileSync('ip', ['-n', ns, 'route', 'show', 'table', 'local', '198.19.128.0/17']).toString().trim();
    const { dir, file } = configDir();
    const stop = async (d: { proc: ChildProcess; exited: Promise<unknown> }) => {
      d.proc.kill('SIGTERM');
      await d.exited;
    };
    // the installer stops first: the other still runs, the route stays; the other found it, and leaves it
    const first = await daemonIn(ns, file, path.join(dir, 'one'));
    expect(first.output()).toContain('installed the route');
    const second = await daemonIn(ns, file, path.join(dir, 'two'));
    expect(second.output()).toContain('198.19.128.0/17 is already local on this host');
    await stop(first);
    expect(route()).toContain('198.19.128.0/17');
    await stop(second);
    expect(route()).toContain('198.19.128.0/17');
    // the installer stops last: removed
    execFileSync('ip', ['-n', ns, 'route', 'del', 'local', '198.19.128.0/17', 'dev', 'lo']);
    const third = await daemonIn(ns, file, path.join(dir, 'three'));
    expect(third.output()).toContain('installed the route');
    const fourth = await daemonIn(ns, file, path.join(dir, 'four'));
    await stop(fourth);
    expect(route()).toContain('198.19.128.0/17');
    await stop(third);
    expect(route()).toBe('');
  });
});

describe('SIGTERM while an endpoint is being made', () => {
  // the create's commit answered after the store's close had begun: the answer let go of the store's
  // thread, the process ended before the thread's exit (no `stopped`, no clean-up, the SNAT route
  // left); and the activation bound its listener after the drain
  it('the daemon still stops with its last steps (`stopped`, exit 0), and binds nothing after the drain', async () => {
    for (const delayMs of [0, 5, 10, 20, 40]) {
      const { dir, file } = configDir();
      const d = await daemon(['--config', file, '--data-dir', path.join(dir, 'data')]);
      const as = (who: typeof PROVIDER) => (method: string, p: string, body?: unknown) => fetch(`${d.url}/v1/${who.project_id}${p}`, {
        method, headers: { 'x-auth-token': who.token, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: await r.json().catch(() => null) }));
      const svc = (await as(PROVIDER)('POST', '/vpc-endpoint-services', { ...SERVICE_BODY, approval_enabled: false })).body;
      await waitFor(async () => (await as(PROVIDER)('GET', `/vpc-endpoint-services/${svc.id}`)).body.status === 'available' || null, 5_000, 'service available');
      expect((await as(PROVIDER)('POST', `/vpc-endpoint-services/${svc.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] })).status).toBe(200);
      const create = as(CONSUMER)('POST', '/vpc-endpoints', { endpoint_service_id: svc.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a' }).catch(() => null);
      await new Promise((r) => setTimeout(r, delayMs));
      d.proc.kill('SIGTERM');
      expect((await d.exited).code, `SIGTERM ${delayMs} ms after the create\n${d.output()}`).toBe(0);
      await create;
      const out = d.output();
      expect(logged(out, 'stopped'), `SIGTERM ${delayMs} ms after the create`).toHaveLength(1);
      const drained = out.indexOf('"msg":"data plane drained"');
      expect(out.indexOf('"msg":"endpoint live"', drained), `SIGTERM ${delayMs} ms after the create: a listener bound after the drain`).toBe(-1);
    }
  }, 60_000);
});

describe('SIGKILL during a provisioning delay', () => {
  // the endpoint came back accepted at the next start (converge brought it up without the faults),
  // and the switch stayed armed for the next endpoint of the service
  it('the endpoint waiting out the delay still takes the armed fail-next switch at the next start: failed, the switch used', async () => {
    const { dir, file } = configDir();
    const args = ['--config', file, '--data-dir', path.join(dir, 'data')];
    const d = await daemon(args);
    const as = (url: string, who: typeof PROVIDER) => (method: string, p: string, body?: unknown) => fetch(`${url}/v1/${who.project_id}${p}`, {
      method, headers: { 'x-auth-token': who.token, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
    }).then(async (r) => ({ status: r.status, body: await r.json().catch(() => null) }));
    const svc = (await as(d.url, PROVIDER)('POST', '/vpc-endpoint-services', { ...SERVICE_BODY, approval_enabled: false })).body;
    await waitFor(async () => (await as(d.url, PROVIDER)('GET', `/vpc-endpoint-services/${svc.id}`)).body.status === 'available' || null, 5_000, 'service available');
    expect((await as(d.url, PROVIDER)('POST', `/vpc-endpoint-services/${svc.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] })).status).toBe(200);
    expect((await as(d.url, PROVIDER)('PUT', '/sim/faults', { provisioning_delay_ms: 60_000 })).status).toBe(200);
    expect((await as(d.url, PROVIDER)('POST', `/sim/endpoint-services/${svc.id}/fail-next-activation`, { message: 'armed before the crash' })).status).toBe(200);
    const e = (await as(d.url, CONSUMER)('POST', '/vpc-endpoints', { endpoint_service_id: svc.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a' })).body;
    expect(e.status).toBe('creating');
    d.proc.kill('SIGKILL');
    await d.exited;
    const again = await daemon(args);
    const after = await waitFor(async () => {
      const r = (await as(again.url, CONSUMER)('GET', `/vpc-endpoints/${e.id}`)).body;
      return r.status === 'creating' ? null : r;
    }, 10_000, 'the endpoint to leave creating');
    expect(after).toMatchObject({ status: 'failed', error: [{ error_message: 'armed before the crash' }] });
    expect((await as(again.url, PROVIDER)('GET', '/sim/faults')).body.faults.fail_next_activation).toEqual([]);
    again.proc.kill('SIGTERM');
    await again.exited;
  }, 40_000);
});

/** whether PID has a handler for SIGNAL (its bit in /proc/PID/status SigCgt) */
function catches(pid: number, signal: number): boolean {
  try {
    const mask = /^SigCgt:\s*([0-9a-f]+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!;
    return (BigInt(`0x${mask}`) >> BigInt(signal - 1) & 1n) === 1n;
  } catch {
    return false;
  }
}

/**
 * bin/vpcepd.js as a child, not waited for: SIGNAL is sent at the first moment SIGHUP is caught (node
 * itself catches SIGTERM and SIGINT from its start, to re-raise them: their bits say nothing)
 */
async function spawnEarly(signal: 'SIGHUP' | 'SIGTERM'): Promise<{ exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>; output: () => string; url: string; }> {
  const { dir, file } = configDir();
  const port = await freePort();
  const proc = spawn(process.execPath, [...DAEMON_NODE_FLAGS, path.join(ROOT, 'bin/vpcepd.js'), '--listen', `127.0.0.1:${port}`, '--config', file, '--data-dir', path.join(dir, 'data')], {
    env: { ...process.env, VPCEP_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (b) => { out += b; });
  proc.stderr!.on('data', (b) => { out += b; });
  const exited = track(proc);
  const t0 = performance.now();
  // before node runs the script no handler can exist; from its first line on, one must
  while (!catches(proc.pid!, 1)) {
    if (performance.now() - t0 > 10_000) throw new Error('SIGHUP never caught');
    await new Promise((r) => setTimeout(r, 1));
  }
  proc.kill(signal);
  return { exited, output: () => out, url: `http://127.0.0.1:${port}` };
}

describe('signals while starting', () => {
  it('a SIGHUP while the bundle still loads neither ends the daemon nor is lost: it comes up, then reads the config file again', async () => {
    // before, the handlers were installed in main(), after the bundle was read (0.3-0.8 s): a SIGHUP
    // then ended the daemon (exit 129, no log line); one after it was ignored while starting
    const d = await spawnEarly('SIGHUP');
    await waitFor(() => logged(d.output(), 'config reloaded').length === 1, 15_000, `the daemon up and the config read again\n${d.output()}`);
    const lines = d.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l).msg);
    // held while starting, acted on once ready
    expect(lines.indexOf('SIGHUP while starting: the config file is read again once started')).toBeLessThan(lines.indexOf('vpcepd ready'));
    expect(lines.indexOf('vpcepd ready')).toBeLessThan(lines.indexOf('config reloaded: nothing changed'));
    expect((await fetch(`${d.url}/ready`)).status).toBe(200);
    process.kill(readyPid(d.output())!, 'SIGTERM');
    expect((await d.exited).code).toBe(0);
  });

  it('a SIGTERM while the bundle still loads: the daemon starts, then stops cleanly (exit 0)', async () => {
    const d = await spawnEarly('SIGTERM');
    expect((await d.exited).code).toBe(0);
    const lines = d.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l).msg);
    expect(lines).toContain('stop requested while starting: vpcepd stops once started');
    expect(lines.indexOf('vpcepd ready')).toBeLessThan(lines.indexOf('stopped'));
  });
});

describe('SIGHUP reloads the config file', () => {
  it('applies metrics.token and drain_timeout_ms; refuses a bad file and a change that needs a restart, keeping the running state', async () => {
    const { dir, file } = configDir();
    const d = await daemon(['--config', file, '--data-dir', path.join(dir, 'data')]);
    const pid = d.proc.pid!;
    const scrape = async (token: string) => (await fetch(`${d.url}/metrics`, { headers: { authorization: `Bearer ${token}` } })).status;
    expect(await scrape(METRICS_TOKEN)).toBe(200);

    // a good file: the new scrape token works at once, the old one no longer
    const rotated = 'rotated-metrics-token-0123456789';
    writeConfig(dir, twoAccountConfig({ metrics: { token: rotated }, dataplane: { drain_timeout_ms: 1234 } }));
    process.kill(pid, 'SIGHUP');
    await waitFor(() => logged(d.output(), 'config reloaded').length === 1, 5_000, 'the reload');
    expect(logged(d.output(), 'config reloaded')[0].applied).toEqual(['dataplane.drain_timeout_ms', 'metrics.token']);
    expect(await scrape(rotated)).toBe(200);
    expect(await scrape(METRICS_TOKEN)).toBe(401);

    // a bad file (an unknown key): refused, logged, the running config kept
    fs.writeFileSync(file, YAML.stringify({ ...twoAccountConfig({ metrics: { token: METRICS_TOKEN } }), bogus: 1 }));
    process.kill(pid, 'SIGHUP');
    await waitFor(() => logged(d.output(), 'config reload refused').length === 1, 5_000, 'the refusal');
    expect(JSON.stringify(logged(d.output(), 'config reload refused')[0].problems)).toContain('bogus');
    expect(await scrape(rotated)).toBe(200);

    // a change only a restart applies (a VPC's CIDR, the region): refused, naming the keys
    const moved = twoAccountConfig({ metrics: { token: METRICS_TOKEN }, region: 'sim-2' });
    fs.writeFileSync(file, YAML.stringify(moved));
    process.kill(pid, 'SIGHUP');
    await waitFor(() => logged(d.output(), 'config reload refused').length === 2, 5_000, 'the second refusal');
    expect(JSON.stringify(logged(d.output(), 'config reload refused')[1].problems)).toContain('region: changed, but only a restart applies it');
    expect(await scrape(rotated)).toBe(200);

    // SIGHUP never ends the daemon: it is still ready, and SIGTERM stops it with the reloaded drain timeout
    expect((await fetch(`${d.url}/ready`)).status).toBe(200);
    d.proc.kill('SIGTERM');
    expect((await d.exited).code).toBe(0);
    expect(logged(d.output(), 'draining: readiness')[0].drain_timeout_ms).toBe(1234);
    // the SNAT route it installed (as root, kernel mode) is gone with it
    if (d.output().includes('installed the route')) expect(await snatRoute()).toBe('');
  });
});

/** `node bin/vpcep.js ARGS`: exit code and output */
function vpcep(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(ROOT, 'bin/vpcep.js'), ...args], { env: { ...process.env, VPCEP_URL: '' }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

describe('vpcep wait', () => {
  it('waits for a daemon started after it, then exits 0', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const waiting = vpcep(['--url', url, 'wait', '--timeout', '30']);
    const { dir, file } = configDir();
    const proc = spawn(process.execPath, [path.join(ROOT, 'bin/vpcepd.js'), '--listen', `127.0.0.1:${port}`, '--config', file, '--data-dir', path.join(dir, 'data')], { stdio: 'ignore' });
    track(proc);
    const r = await waiting;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('is ready');
  });

  it('gives up after its timeout with exit 1 and the last error', async () => {
    const port = await freePort();
    const r = await vpcep(['--url', `http://127.0.0.1:${port}`, 'wait', '--timeout', '1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not ready after 1 s: ECONNREFUSED/);
  });
});

describe('garbage collection on one thread', () => {
  /** vpcepd started by COMMAND until it answers, then stopped: its log and its process's command line */
  async function startStop(command: string[]): Promise<{ logs: Array<Record<string, unknown>>; cmdline: string[] }> {
    const { dir, file } = configDir();
    const port = await freePort();
    const proc = spawn(command[0]!, [...command.slice(1), '--listen', `127.0.0.1:${port}`, '--config', file, '--data-dir', path.join(dir, 'data')], {
      // the first line's `env node` finds the node running this test
      env: { ...process.env, VPCEP_LOG_LEVEL: 'info', PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = track(proc);
    let out = '';
    proc.stdout!.on('data', (b) => { out += b; });
    proc.stderr!.on('data', (b) => { out += b; });
    await waitFor(async () => {
      try {
        return (await fetch(`http://127.0.0.1:${port}/`)).status === 200;
      } catch {
        return false;
      }
    }, 15_000, `vpcepd on port ${port}\n${out}`);
    const cmdline = fs.readFileSync(`/proc/${proc.pid}/cmdline`, 'utf8').split('\0');
    proc.kill('SIGTERM');
    expect(await exited).toEqual({ code: 0, signal: null });
    const logs = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    return { logs, cmdline };
  }

  it('bin/vpcepd.js run as a program starts node with --single-threaded-gc and says so; without the flag the log says what it costs', async () => {
    const own = await startStop([path.join(ROOT, 'bin/vpcepd.js')]);
    expect(DAEMON_NODE_FLAGS).toEqual(['--single-threaded-gc']);
    expect(own.cmdline.slice(1, 3)).toEqual(['--single-threaded-gc', path.join(ROOT, 'bin/vpcepd.js')]);
    expect(own.logs.find((l) => 'gc' in l)).toMatchObject({ level: 30, gc: 'single-threaded', msg: 'garbage collection: on the JavaScript thread alone' });

    const bare = await startStop([process.execPath, path.join(ROOT, 'bin/vpcepd.js')]);
    expect(bare.cmdline).not.toContain('--single-threaded-gc');
    const native = bare.logs.find((l) => 'relay' in l)?.relay === 'native';
    const said = bare.logs.find((l) => 'gc' in l);
    expect(said?.gc).toBe('parallel');
    // with the native relay a warning naming the flag; the JavaScript relay relays on the thread the helpers shorten pauses for
    if (native) expect(said).toMatchObject({ level: 40, msg: expect.stringContaining('node --single-threaded-gc') });
    else expect(said).toMatchObject({ level: 30, msg: "garbage collection: on V8's helper threads" });
  });
});

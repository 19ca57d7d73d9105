// A real etcd for the tests (Debian's etcd-server; .ci/run installs it): started on a temporary data
// dir and free loopback ports, stopped (and restartable on the same data dir) by the test. Where
// etcd is absent the tests say so and skip; under CI=true they are mandatory (they fail instead).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { etcdArgs, etcdEnv, etcdHealthy } from '../../bench/lib/etcd.mjs';
import { tempDir, waitFor } from '../helpers.js';
import { randomPort } from './backends.js';

export const HAVE_ETCD = spawnSync('etcd', ['--version'], { stdio: 'ignore' }).status === 0;
export const RUN_ETCD = HAVE_ETCD || process.env.CI === 'true';
export const ETCD_SKIP_REASON = 'skipped: etcd is not on PATH (apt-get install etcd-server; CI=true makes this test mandatory)';

export interface TestEtcd {
  /** host:port of the client URL */
  readonly endpoint: string;
  readonly url: string;
  readonly dataDir: string;
  output(): string;
  /** SIGTERM and wait; start() runs it again on the same data dir and ports (when stopped) */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** SIGSTOP: etcd holds its connections and answers nothing, as a hung or cut-off etcd; thaw() is SIGCONT */
  freeze(): void;
  thaw(): void;
}

export async function startEtcd(): Promise<TestEtcd> {
  // Ports below Linux's ephemeral range (randomPort): a port free a moment ago in that range can be
  // taken by an outgoing connection of the tests before etcd binds it (once in CI: etcd never
  // answered). A port another listener holds ends etcd at once: the first start tries others.
  for (let attempt = 1; ; attempt++) {
    const etcd = etcdOn(tempDir('vpcep-etcd-'), randomPort(), randomPort());
    try {
      await etcd.start();
      return etcd;
    } catch (err) {
      if (attempt === 3 || !/address already in use/.test(etcd.output())) throw err;
    }
  }
}

function etcdOn(dataDir: string, client: number, peer: number): TestEtcd {
  const endpoint = `127.0.0.1:${client}`;
  let proc: ChildProcess | undefined;
  let out = '';
  const run = async () => {
    if (proc && proc.exitCode === null && proc.signalCode === null) return;
    const p = spawn('etcd', etcdArgs({ dataDir, clientPort: client, peerPort: peer }), { stdio: ['ignore', 'pipe', 'pipe'], env: etcdEnv() });
    proc = p;
    p.stdout!.on('data', (b) => { out += b; });
    p.stderr!.on('data', (b) => { out += b; });
    const exited = () => p.exitCode !== null || p.signalCode !== null;
    try {
      await waitFor(async () => exited() || etcdHealthy(endpoint), 20_000, `etcd to answer on ${endpoint}`);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${out.slice(-2000)}`);
    }
    if (exited()) throw new Error(`etcd ended (${p.exitCode ?? p.signalCode}) before it answered on ${endpoint}:\n${out.slice(-2000)}`);
  };
  return {
    endpoint,
    url: `etcd://${endpoint}`,
    dataDir,
    output: () => out,
    stop: async () => {
      const p = proc;
      if (!p || p.exitCode !== null || p.signalCode !== null) return;
      const gone = new Promise((resolve) => p.once('exit', resolve));
      p.kill('SIGTERM');
      await gone;
    },
    start: run,
    freeze: () => { proc?.kill('SIGSTOP'); },
    thaw: () => { proc?.kill('SIGCONT'); },
  };
}

/**
 * A describe block of tests that need a real etcd, started for the block and stopped after it (its
 * afterAll runs after the block's own, which may still be using etcd). ETCD is the block's etcd: its
 * fields and methods answer once the block's tests run. Where etcd is absent (and CI is not true) the
 * block is one skipped test named after the reason, so the run says why; under CI=true it runs, and
 * fails without etcd.
 */
export function describeWithEtcd(name: string, body: (etcd: TestEtcd) => void): void {
  if (!RUN_ETCD) {
    describe(name, () => {
      it.skip(ETCD_SKIP_REASON, () => {});
    });
    return;
  }
  let started: TestEtcd | undefined;
  const the = (): TestEtcd => {
    if (!started) throw new Error('etcd is started before the tests of a describeWithEtcd block, not while it is being declared');
    return started;
  };
  const etcd: TestEtcd = {
    get endpoint() { return the().endpoint; },
    get url() { return the().url; },
    get dataDir() { return the().dataDir; },
    output: () => the().output(),
    stop: () => the().stop(),
    start: () => the().start(),
    freeze: () => the().freeze(),
    thaw: () => the().thaw(),
  };
  describe(`${name} (a real etcd on a temporary data dir)`, () => {
    beforeAll(async () => { started = await startEtcd(); }, 30_000);
    afterAll(async () => { await started?.stop(); });
    body(etcd);
  });
}

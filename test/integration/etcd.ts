// A real etcd for the tests (Debian's etcd-server; .ci/run installs it): started on a temporary data
// dir and free loopback ports, stopped (and restartable on the same data dir) by the test. Where
// etcd is absent the tests say so and skip; under CI=true they are mandatory (they fail instead).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { etcdArgs, etcdEnv, etcdHealthy } from '../../bench/lib/etcd.mjs';
import { freePort, tempDir, waitFor } from '../helpers.js';

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
}

export async function startEtcd(): Promise<TestEtcd> {
  const dataDir = tempDir('vpcep-etcd-');
  const [client, peer] = [await freePort(), await freePort()];
  const endpoint = `127.0.0.1:${client}`;
  let proc: ChildProcess | undefined;
  let out = '';
  const run = async () => {
    if (proc && proc.exitCode === null && proc.signalCode === null) return;
    proc = spawn('etcd', etcdArgs({ dataDir, clientPort: client, peerPort: peer }), { stdio: ['ignore', 'pipe', 'pipe'], env: etcdEnv() });
    proc.stdout!.on('data', (b) => { out += b; });
    proc.stderr!.on('data', (b) => { out += b; });
    await waitFor(() => etcdHealthy(endpoint), 20_000, `etcd to answer on ${endpoint}\n${out.slice(-2000)}`);
  };
  await run();
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
  };
  describe(`${name} (a real etcd on a temporary data dir)`, () => {
    beforeAll(async () => { started = await startEtcd(); }, 30_000);
    afterAll(async () => { await started?.stop(); });
    body(etcd);
  });
}

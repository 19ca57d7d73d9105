// A real etcd for the tests (Debian's etcd-server; .ci/run installs it): started on a temporary data
// dir and free loopback ports, stopped (and restartable on the same data dir) by the test. Where
// etcd is absent the tests say so and skip; under CI=true they are mandatory (they fail instead).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
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

async function healthy(endpoint: string): Promise<boolean> {
  try {
    const r = await fetch(`http://${endpoint}/health`);
    return r.status === 200 && (await r.json() as { health?: string }).health === 'true';
  } catch {
    return false;
  }
}

export async function startEtcd(): Promise<TestEtcd> {
  const dataDir = tempDir('vpcep-etcd-');
  const [client, peer] = [await freePort(), await freePort()];
  const endpoint = `127.0.0.1:${client}`;
  let proc: ChildProcess | undefined;
  let out = '';
  const run = async () => {
    if (proc && proc.exitCode === null && proc.signalCode === null) return;
    proc = spawn('etcd', [
      '--name', 'test', '--data-dir', dataDir,
      '--listen-client-urls', `http://${endpoint}`, '--advertise-client-urls', `http://${endpoint}`,
      '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-cluster', `test=http://127.0.0.1:${peer}`,
      // the daemon's first commit writes every config document in one transaction
      '--max-txn-ops', '10000',
    ], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ETCD_UNSUPPORTED_ARCH: process.arch === 'x64' ? '' : process.arch } });
    proc.stdout!.on('data', (b) => { out += b; });
    proc.stderr!.on('data', (b) => { out += b; });
    await waitFor(() => healthy(endpoint), 20_000, `etcd to answer on ${endpoint}\n${out.slice(-2000)}`);
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

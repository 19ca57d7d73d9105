// A single-member etcd on loopback (Debian's etcd-server), shared by the tests
// (test/integration/etcd.ts, which restarts it on the same data dir) and the fleet benchmark
// (bench/fleet.mjs): its command line, its environment and its health probe.

/** etcd's arguments: one member NAME on DATADIR, clients on 127.0.0.1:CLIENTPORT, peers on PEERPORT */
export function etcdArgs({ name = 'test', dataDir, clientPort, peerPort }) {
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  return [
    '--name', name, '--data-dir', dataDir,
    '--listen-client-urls', client, '--advertise-client-urls', client,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `${name}=${peer}`,
    // a daemon's first commit writes every config document in one transaction
    '--max-txn-ops', '10000',
  ];
}

/** the environment etcd runs in (it refuses an architecture other than amd64 unless told) */
export function etcdEnv(env = process.env) {
  return { ...env, ETCD_UNSUPPORTED_ARCH: process.arch === 'x64' ? '' : process.arch };
}

/** true once etcd at host:port answers its /health with health "true" */
export async function etcdHealthy(endpoint) {
  try {
    const r = await fetch(`http://${endpoint}/health`);
    return r.status === 200 && (await r.json()).health === 'true';
  } catch {
    return false;
  }
}

/**
 * etcd for a benchmark: a fresh data dir under DIR, free ports, tracked by procs.mjs (stopped with
 * everything else at the end, on Ctrl-C or an error); resolves once healthy, with its host:port.
 */
export async function startBenchEtcd({ dir }) {
  const { freePort } = await import('./net.mjs');
  const { start, sleep, stop, tail } = await import('./procs.mjs');
  const path = await import('node:path');
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const endpoint = `127.0.0.1:${clientPort}`;
  const log = path.join(dir, 'etcd.log');
  const proc = start('etcd', 'etcd', etcdArgs({ name: 'bench', dataDir: path.join(dir, 'etcd-data'), clientPort, peerPort }), { log, env: etcdEnv() });
  const until = Date.now() + 20_000;
  while (!(await etcdHealthy(endpoint))) {
    if (proc.gone || Date.now() > until) throw new Error(`etcd did not answer on ${endpoint}:\n${tail(log)}`);
    await sleep(100);
  }
  return { endpoint, url: `etcd://${endpoint}`, stop: () => stop(proc) };
}

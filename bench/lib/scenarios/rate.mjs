// 2. Connection rate: wrk, 50 connections, each request with `Connection: close`, so every
// request is a new TCP connection: connect, a ~64-byte GET, nginx's small answer, close.
// Figure: requests (= connections) per second.
import { run } from '../procs.mjs';

export const RATE_CONNECTIONS = 50;
export const WRK_THREADS = 2;

function parseWrk(out) {
  const num = (re) => { const m = re.exec(out); return m ? Number(m[1]) : null; };
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    requests: num(/(\d+) requests in/),
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    non2xx: num(/Non-2xx or 3xx responses: (\d+)/) ?? 0,
    socket_errors: errs ? { connect: +errs[1], read: +errs[2], write: +errs[3], timeout: +errs[4] } : { connect: 0, read: 0, write: 0, timeout: 0 },
  };
}

export async function wrk(target, seconds) {
  const url = `http://${target.host}:${target.port}/`;
  const r = await run('wrk', ['-t', String(WRK_THREADS), '-c', String(RATE_CONNECTIONS), '-d', `${seconds}s`, '--timeout', '5s', '-H', 'Connection: close', url], { timeoutMs: (seconds + 30) * 1000 });
  const w = parseWrk(r.stdout);
  if (w.rps === null || w.requests === null) throw new Error(`cannot read wrk's output:\n${r.stdout}`);
  return w;
}

export default {
  name: 'rate',
  title: `connection rate (wrk -t ${WRK_THREADS} -c ${RATE_CONNECTIONS}, Connection: close, nginx return 200)`,
  paths: ['vpcep', 'haproxy', 'direct'],
  figures: [
    { key: 'conn_per_s', label: 'connections/s (connect, request, response, close)', unit: 'conn/s', better: 'higher', digits: 0 },
  ],
  /** one short unrecorded run per path, so that no path meets a cold JIT or cold caches first */
  async warmup(env) {
    if (env.opts.smoke) return;
    for (const path of this.paths) await wrk(env.target(path, 'http'), 1);
  },
  async run(env, path) {
    const seconds = Math.max(1, Math.round(env.opts.duration));
    const w = await wrk(env.target(path, 'http'), seconds);
    const errors = w.non2xx + Object.values(w.socket_errors).reduce((a, b) => a + b, 0);
    // a handful of errors at the very end of a run (wrk stopping mid-connection) is normal
    if (errors > Math.max(10, w.requests * 0.001)) {
      throw new Error(`wrk through ${path}: ${errors} errors in ${w.requests} requests (${JSON.stringify(w.socket_errors)}, non-2xx ${w.non2xx})`);
    }
    return { figures: { conn_per_s: w.rps }, detail: { seconds, ...w } };
  },
};

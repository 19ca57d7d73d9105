// 3. Latency at a fixed rate: a paced client (its own Node process, process.hrtime) sends
// RATE requests/s of 64 bytes over CONNECTIONS kept-alive connections to nginx and records the
// latency of every one. Figures: p50, p99, p99.9 in microseconds.
// The three paths are measured in one run of the client, interleaved in SLICE_MS slices (vpcep,
// haproxy, direct, vpcep, ...): on two shared cores the tail is made by stalls of the machine,
// and a stall then falls on every path alike instead of on whichever path ran at that moment.
import path from 'node:path';
import { startWorker, stop, workerReady } from '../procs.mjs';
import { libDir } from '../paths.mjs';

export const LATENCY_RATE = 2000;
export const LATENCY_CONNECTIONS = 20;
export const SLICE_MS = 100;

export default {
  name: 'latency',
  title: `latency at ${LATENCY_RATE} req/s over ${LATENCY_CONNECTIONS} kept-alive connections (64-byte GET, nginx return 200), the paths interleaved in ${SLICE_MS} ms slices`,
  paths: ['vpcep', 'haproxy', 'direct'],
  figures: [
    { key: 'p50_us', label: 'latency p50', unit: 'µs', better: 'lower', digits: 0 },
    { key: 'p99_us', label: 'latency p99', unit: 'µs', better: 'lower', digits: 0 },
    { key: 'p999_us', label: 'latency p99.9', unit: 'µs', better: 'lower', digits: 0 },
  ],
  async setup(env) {
    /** every round's latencies per path, for the percentiles pooled over the rounds */
    this.samples = new Map();
    this.client = startWorker('paced client', path.join(libDir, 'workers/paced-client.mjs'), [], { log: path.join(env.dir, 'paced-client.log') });
    await workerReady(this.client);
  },
  async teardown() {
    await stop(this.client);
  },
  /** the client's JIT warmed on the direct path, unrecorded */
  async warmup(env) {
    await this.measure(env, ['direct'], env.opts.smoke ? 300 : 1000);
  },
  measure(env, paths, durationMs, samples = false) {
    return this.client.request({
      op: 'run', targets: paths.map((p) => env.target(p, 'http')), connections: LATENCY_CONNECTIONS, rate: LATENCY_RATE,
      durationMs, warmupMs: env.opts.smoke ? 200 : 500, sliceMs: SLICE_MS, samples,
    }, durationMs * paths.length + 30_000);
  },
  /** one round: every path, interleaved; duration per path */
  async runRound(env, paths) {
    const { results } = await this.measure(env, paths, Math.round(env.opts.duration * 1000), true);
    return Object.fromEntries(paths.map((p, i) => {
      const { samples, ...r } = results[i];
      if (r.errors || r.unanswered) throw new Error(`paced client through ${p}: ${r.errors} socket errors, ${r.unanswered} unanswered`);
      if (r.achieved_rps < LATENCY_RATE * 0.95) throw new Error(`paced client through ${p}: ${r.achieved_rps.toFixed(0)} req/s recorded, below 95% of ${LATENCY_RATE}`);
      this.samples.set(p, [...(this.samples.get(p) ?? []), ...samples]);
      return [p, { figures: { p50_us: r.p50_us, p99_us: r.p99_us, p999_us: r.p999_us }, detail: r }];
    }));
  },
  /**
   * The tail of every round's requests together: a round's p99 is made by a few stalls of a few
   * ms (a slice where 5+ requests took over 1 ms), so the median of three rounds' ratios swings
   * with where the stalls fell; pooled, each percentile rests on all the rounds' requests.
   */
  pooled() {
    const q = (sorted, x) => sorted[Math.min(sorted.length - 1, Math.ceil(x * sorted.length) - 1)];
    const [v, h] = ['vpcep', 'haproxy'].map((p) => (this.samples.get(p) ?? []).sort((a, b) => a - b));
    if (!v?.length || !h?.length) return null;
    const figures = Object.fromEntries([['p50', 0.5], ['p99', 0.99], ['p999', 0.999]].map(([k, x]) => [k, { vpcep_us: q(v, x), haproxy_us: q(h, x), ratio: Math.round((q(v, x) / q(h, x)) * 1000) / 1000 }]));
    const f = (k) => `${figures[k].ratio.toFixed(2)}x (${figures[k].vpcep_us.toLocaleString('en-US')} / ${figures[k].haproxy_us.toLocaleString('en-US')} µs)`;
    return { figures, requests: v.length, note: `latency pooled over every round (${v.length.toLocaleString('en-US')} requests per path), vpcep/haproxy: p50 ${f('p50')}, p99 ${f('p99')}, p99.9 ${f('p999')}` };
  },
};

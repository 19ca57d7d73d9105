// 6. The control API under abuse (issue 10, item 2): the latency of new data-plane connections
// through the endpoint, without and then during an attack on the API (20 connections pipelining
// GET /metrics without reading the replies, from their own process). A probe opens a new
// connection every PROBE_INTERVAL_MS on a fixed schedule (open loop: a slow one does not hold the
// next back) and times connect -> a GET with Connection: close -> the first byte of the answer.
// Figures: p50 and p99 in milliseconds, quiet and under attack.
import net from 'node:net';
import path from 'node:path';
import { sleep, startWorker, stop, workerReady } from '../procs.mjs';
import { libDir } from '../paths.mjs';

export const ATTACK_SOCKETS = 20;
export const PROBE_INTERVAL_MS = 10;
const PROBE_TIMEOUT_MS = 60_000;
const GET = Buffer.from('GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n', 'latin1');

/** one new connection: ms from connect() to the answer's first byte, or null when it failed */
function probeOnce(t) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const sock = net.connect({ host: t.host, port: t.port });
    const timer = setTimeout(() => done(null), PROBE_TIMEOUT_MS);
    const done = (v) => { clearTimeout(timer); sock.destroy(); resolve(v); };
    sock.once('connect', () => sock.write(GET));
    sock.once('data', () => done(Number(process.hrtime.bigint() - t0) / 1e6));
    sock.once('error', () => done(null));
    sock.once('close', () => done(null));
  });
}

async function probe(t, durationMs) {
  const runs = [];
  const t0 = performance.now();
  for (let k = 0; performance.now() - t0 < durationMs; k++) {
    runs.push(probeOnce(t));
    const due = t0 + (k + 1) * PROBE_INTERVAL_MS;
    await sleep(Math.max(0, due - performance.now()));
  }
  const all = await Promise.all(runs);
  const ok = all.filter((x) => x !== null).sort((a, b) => a - b);
  const at = (q) => (ok.length ? ok[Math.min(ok.length - 1, Math.floor(q * ok.length))] : null);
  return { probes: all.length, failed: all.length - ok.length, p50_ms: at(0.5), p99_ms: at(0.99), max_ms: ok.at(-1) ?? null };
}

export default {
  name: 'api-abuse',
  title: `new data-plane connections (one every ${PROBE_INTERVAL_MS} ms, connect to first byte) without and during ${ATTACK_SOCKETS} API connections pipelining GET /metrics unread`,
  paths: ['vpcep'],
  figures: [
    { key: 'quiet_p50_ms', label: 'new connection p50, API quiet', unit: 'ms', better: 'lower', digits: 2 },
    { key: 'quiet_p99_ms', label: 'new connection p99, API quiet', unit: 'ms', better: 'lower', digits: 2 },
    { key: 'attack_p50_ms', label: 'new connection p50, API attacked', unit: 'ms', better: 'lower', digits: 2 },
    { key: 'attack_p99_ms', label: 'new connection p99, API attacked', unit: 'ms', better: 'lower', digits: 2 },
  ],
  async setup(env) {
    this.attacker = startWorker('api attacker', path.join(libDir, 'workers/api-attacker.mjs'), [], { log: path.join(env.dir, 'api-attacker.log') });
    await workerReady(this.attacker);
  },
  async teardown() {
    await stop(this.attacker);
  },
  async run(env) {
    const t = env.target('vpcep', 'http');
    const ms = Math.round(env.opts.duration * 1000);
    const quiet = await probe(t, ms);
    await this.attacker.request({ op: 'start', url: env.vpcep.url, sockets: ATTACK_SOCKETS, localAddress: '127.0.0.66' });
    let attacked;
    let attack;
    try {
      await sleep(200);
      attacked = await probe(t, ms);
    } finally {
      attack = await this.attacker.request({ op: 'stop' }, PROBE_TIMEOUT_MS);
    }
    if (quiet.failed || attacked.failed) throw new Error(`probes failed: ${quiet.failed} quiet, ${attacked.failed} under attack`);
    return {
      figures: { quiet_p50_ms: quiet.p50_ms, quiet_p99_ms: quiet.p99_ms, attack_p50_ms: attacked.p50_ms, attack_p99_ms: attacked.p99_ms },
      detail: { quiet, attacked, attack },
    };
  },
};

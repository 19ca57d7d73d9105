// Worker: an HTTP/1.1 client that sends requests at a fixed rate over kept-alive connections and
// records the latency of every one (process.hrtime.bigint, nanoseconds). Request (IPC):
//   {op: 'run', targets: [{host, port}, ...], connections, rate, durationMs, warmupMs, sliceMs}
// Several targets are measured in one run, interleaved: the timeline is cut into slices of
// sliceMs and slice i belongs to target i mod targets.length, so a stall of the machine (another
// process, the hypervisor, a GC) lands on every target alike instead of on whichever path ran
// at that moment. Each target has its own `connections` kept-alive connections and gets the
// whole `rate` during its slices; durationMs is the recorded time of each target.
// The schedule is fixed in advance: request k is due at t0 + k/rate and goes out on the next
// connection of its slice's target. A timer wakes every millisecond and sends every request that
// is due; a request whose connection still waits for an answer is pipelined behind it, so a slow
// answer never holds back the schedule. Latency runs from the write to the last byte of the
// response. How late each request left against its schedule (the client's own lag) is reported
// too: it shows whether the client kept the rate. Requests due during the warm-up (at the start
// of each target's timeline) are not recorded.
import net from 'node:net';

/** a GET of exactly 64 bytes */
function request64() {
  const head = 'GET / HTTP/1.1\r\nHost: bench\r\nX-Pad: ';
  const end = '\r\n\r\n';
  const r = head + 'x'.repeat(64 - head.length - end.length) + end;
  if (r.length !== 64) throw new Error('request is not 64 bytes');
  return Buffer.from(r, 'latin1');
}
const REQUEST = request64();
const HEADER_END = Buffer.from('\r\n\r\n');

class Conn {
  constructor(sock, onResponse) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    /** sent and not answered yet: {sentAt, record} in order */
    this.pending = [];
    this.onResponse = onResponse;
    sock.setNoDelay(true);
    sock.on('data', (b) => this.data(b));
  }

  send(record, dueAt, slice = -1) {
    const sentAt = process.hrtime.bigint();
    this.pending.push({ sentAt, record, dueAt, slice });
    this.sock.write(REQUEST);
    return sentAt;
  }

  data(b) {
    const now = process.hrtime.bigint();
    this.buf = this.buf.length ? Buffer.concat([this.buf, b]) : b;
    for (;;) {
      const end = this.buf.indexOf(HEADER_END);
      if (end < 0) return;
      const head = this.buf.subarray(0, end).toString('latin1');
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      const total = end + 4 + (m ? Number(m[1]) : 0);
      if (this.buf.length < total) return;
      if (!head.startsWith('HTTP/1.1 200')) throw new Error(`unexpected response ${JSON.stringify(head.slice(0, 40))}`);
      this.buf = this.buf.subarray(total);
      const p = this.pending.shift();
      if (p) this.onResponse(p, now);
    }
  }
}

function connect(host, port) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`connect to ${host}:${port}: no answer in 10 s`)); }, 10_000);
    s.once('connect', () => { clearTimeout(timer); s.off('error', reject); resolve(s); });
    s.once('error', (err) => { clearTimeout(timer); reject(err); });
  });
}

function percentile(sorted, q) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

async function connectAll(host, port, connections, onResponse, state) {
  const conns = [];
  try {
    for (let i = 0; i < connections; i++) {
      const c = new Conn(await connect(host, port), onResponse);
      c.sock.on('error', () => { state.errors++; });
      c.sock.on('close', () => { if (!state.stopped) state.errors++; });
      conns.push(c);
    }
    // one request on each connection first, so every path starts with warm connections
    await Promise.all(conns.map((c, i) => new Promise((resolve, reject) => {
      const before = c.onResponse;
      const closed = () => reject(new Error(`connection ${i} to ${host}:${port} closed before its first answer`));
      c.sock.once('close', closed);
      c.onResponse = () => { c.onResponse = before; c.sock.off('close', closed); resolve(); };
      c.send(false, process.hrtime.bigint());
    })));
  } catch (err) {
    for (const c of conns) c.sock.destroy();
    throw err;
  }
  return conns;
}

/** a slice with at least this many requests over 1 ms had a stall (a path or the machine stopped for a while) */
const STALL_REQUESTS = 5;

function summary(t, durationMs, samples) {
  const { latencies, lags } = t;
  latencies.sort((a, b) => a - b);
  lags.sort((a, b) => a - b);
  const measured = latencies.length;
  return {
    sent: t.sent,
    recorded: measured,
    unanswered: t.conns.reduce((n, c) => n + c.pending.length, 0),
    errors: t.state.errors,
    achieved_rps: measured / (durationMs / 1000),
    p50_us: percentile(latencies, 0.5),
    p99_us: percentile(latencies, 0.99),
    p999_us: percentile(latencies, 0.999),
    max_us: latencies[latencies.length - 1],
    mean_us: latencies.reduce((a, b) => a + b, 0) / Math.max(1, measured),
    lag_p50_us: percentile(lags, 0.5),
    lag_p99_us: percentile(lags, 0.99),
    lag_max_us: lags[lags.length - 1],
    slices: t.slices.size,
    stall_slices: [...t.slow.values()].filter((n) => n >= STALL_REQUESTS).length,
    // every recorded latency in whole µs, sorted: pooled percentiles over rounds (bench:load)
    ...(samples ? { samples: latencies.map((x) => Math.round(x)) } : {}),
  };
}

async function runPaced({ targets, connections, rate, durationMs, warmupMs, sliceMs, samples = false }) {
  const ts = [];
  try {
    for (const { host, port } of targets) {
      // slices: the recorded slices; slow: requests over 1 ms per slice
      const t = { latencies: [], lags: [], sent: 0, state: { errors: 0, stopped: false }, conns: [], next: 0, slices: new Set(), slow: new Map() };
      t.conns = await connectAll(host, port, connections, (p, now) => {
        if (!p.record) return;
        const us = Number(now - p.sentAt) / 1e3;
        t.latencies.push(us);
        if (us > 1000) t.slow.set(p.slice, (t.slow.get(p.slice) ?? 0) + 1);
        t.lags.push(Number(p.sentAt - p.dueAt) / 1e3);
      }, t.state);
      ts.push(t);
    }
  } catch (err) {
    for (const t of ts) { t.state.stopped = true; for (const c of t.conns) c.sock.destroy(); }
    throw err;
  }

  const n = ts.length;
  const intervalNs = 1e9 / rate;
  const sliceNs = BigInt(Math.round(Math.max(1, sliceMs ?? durationMs) * 1e6));
  // every target's own timeline is warm-up then durationMs; slices interleave the timelines
  const total = Math.round((rate * (warmupMs + durationMs) * n) / 1000);
  const t0 = process.hrtime.bigint() + 2_000_000n;
  const due = (k) => t0 + BigInt(Math.round(k * intervalNs));
  let k = 0;
  await new Promise((resolve) => {
    const tick = () => {
      const now = process.hrtime.bigint();
      while (k < total && due(k) <= now) {
        const at = due(k);
        const slice = (at - t0) / sliceNs;
        const t = ts[Number(slice % BigInt(n))];
        // this target's own clock: the slices it had before this one, plus the time into this one
        const ownNs = (slice / BigInt(n)) * sliceNs + (at - t0) % sliceNs;
        const record = ownNs >= BigInt(warmupMs) * 1_000_000n;
        if (record) t.slices.add(Number(slice));
        t.conns[t.next++ % connections].send(record, at, Number(slice));
        t.sent++;
        k++;
      }
      if (k >= total) return resolve();
      const waitMs = Number(due(k) - process.hrtime.bigint()) / 1e6;
      setTimeout(tick, Math.max(0, Math.floor(waitMs)));
    };
    tick();
  });
  // the last answers: up to 5 s
  const until = Date.now() + 5_000;
  while (ts.some((t) => t.conns.some((c) => c.pending.length)) && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  const results = ts.map((t) => summary(t, durationMs, samples));
  for (const t of ts) { t.state.stopped = true; for (const c of t.conns) c.sock.destroy(); }
  return { results };
}

process.on('message', async (m) => {
  try {
    if (m.op !== 'run') throw new Error(`unknown op ${m.op}`);
    process.send({ id: m.id, ...(await runPaced(m)) });
  } catch (err) {
    process.send({ id: m.id, error: err.stack ?? err.message });
  }
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
process.send({ ready: true });

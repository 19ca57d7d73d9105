// Worker: an HTTP/1.1 client that sends requests at a fixed rate over kept-alive connections and
// records the latency of every one (process.hrtime.bigint, nanoseconds). Request (IPC):
//   {op: 'run', host, port, connections, rate, durationMs, warmupMs}
// The schedule is fixed in advance: request k is due at t0 + k/rate and goes out on connection
// k mod connections. A timer wakes every millisecond and sends every request that is due; a
// request whose connection still waits for an answer is pipelined behind it, so a slow answer
// never holds back the schedule. Latency runs from the write to the last byte of the response.
// How late each request left against its schedule (the client's own lag) is reported too: it
// shows whether the client kept the rate. Requests due during the warm-up are not recorded.
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

  send(record, dueAt) {
    const sentAt = process.hrtime.bigint();
    this.pending.push({ sentAt, record, dueAt });
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

async function runPaced({ host, port, connections, rate, durationMs, warmupMs }) {
  const latencies = [];
  const lags = [];
  let answered = 0;
  let errors = 0;
  let stopped = false;
  const conns = [];
  const onResponse = (p, now) => {
    answered++;
    if (p.record) {
      latencies.push(Number(now - p.sentAt) / 1e3); // µs
      lags.push(Number(p.sentAt - p.dueAt) / 1e3);
    }
  };
  try {
    for (let i = 0; i < connections; i++) {
      const c = new Conn(await connect(host, port), onResponse);
      c.sock.on('error', () => { errors++; });
      c.sock.on('close', () => { if (!stopped) errors++; });
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
    stopped = true;
    for (const c of conns) c.sock.destroy();
    throw err;
  }

  const intervalNs = 1e9 / rate;
  const total = Math.round((rate * (warmupMs + durationMs)) / 1000);
  const warmupCount = Math.round((rate * warmupMs) / 1000);
  const t0 = process.hrtime.bigint() + 2_000_000n;
  const due = (k) => t0 + BigInt(Math.round(k * intervalNs));
  let k = 0;
  await new Promise((resolve) => {
    const tick = () => {
      const now = process.hrtime.bigint();
      while (k < total && due(k) <= now) {
        conns[k % connections].send(k >= warmupCount, due(k));
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
  while (conns.some((c) => c.pending.length) && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  const unanswered = conns.reduce((n, c) => n + c.pending.length, 0);
  stopped = true;
  for (const c of conns) c.sock.destroy();

  latencies.sort((a, b) => a - b);
  lags.sort((a, b) => a - b);
  const measured = latencies.length;
  const seconds = durationMs / 1000;
  return {
    sent: total,
    recorded: measured,
    unanswered,
    errors,
    achieved_rps: measured / seconds,
    p50_us: percentile(latencies, 0.5),
    p99_us: percentile(latencies, 0.99),
    p999_us: percentile(latencies, 0.999),
    max_us: latencies[latencies.length - 1],
    mean_us: latencies.reduce((a, b) => a + b, 0) / Math.max(1, measured),
    lag_p50_us: percentile(lags, 0.5),
    lag_p99_us: percentile(lags, 0.99),
    lag_max_us: lags[lags.length - 1],
  };
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

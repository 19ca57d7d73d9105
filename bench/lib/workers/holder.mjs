// Worker: a client process that opens many TCP connections and holds them. Requests (IPC):
//   {op: 'open', host, port, n, batch}  opens n connections, `batch` at a time (each batch
//                                       connected before the next); answers {connected, failed, ms}
//   {op: 'storm', host, port, n}        starts n connects at once; answers at once
//   {op: 'states'}                      {connecting, connected, reset, closed, errors: {code: n}}
//   {op: 'close'}                       destroys every connection; answers once all are closed
// Exits when its parent goes (the IPC channel closes).
import net from 'node:net';
import { serveOps } from './ipc.mjs';

/** @type {Set<{sock: net.Socket, state: string, error: string|null}>} */
const conns = new Set();

function dial(host, port) {
  const c = { sock: net.connect({ host, port }), state: 'connecting', error: null };
  c.connected = new Promise((resolve) => {
    c.sock.once('connect', () => { if (c.state === 'connecting') c.state = 'connected'; resolve(true); });
    c.sock.once('close', () => resolve(false));
  });
  c.sock.on('error', (err) => { c.error ??= err.code ?? err.message; });
  c.sock.once('close', () => { c.state = c.error ? 'reset' : 'closed'; });
  c.sock.resume();
  conns.add(c);
  return c;
}

async function open({ host, port, n, batch = 200 }) {
  const t0 = performance.now();
  let connected = 0;
  let failed = 0;
  const errors = {};
  for (let done = 0; done < n;) {
    const group = Array.from({ length: Math.min(batch, n - done) }, () => dial(host, port));
    const ok = await Promise.all(group.map((c) => c.connected));
    for (let i = 0; i < group.length; i++) {
      if (ok[i]) connected++;
      else { failed++; errors[group[i].error ?? 'closed'] = (errors[group[i].error ?? 'closed'] ?? 0) + 1; }
    }
    done += group.length;
  }
  return { connected, failed, errors, ms: performance.now() - t0 };
}

function states() {
  const out = { connecting: 0, connected: 0, reset: 0, closed: 0, errors: {} };
  for (const c of conns) {
    out[c.state]++;
    if (c.error) out.errors[c.error] = (out.errors[c.error] ?? 0) + 1;
  }
  return out;
}

async function closeAll() {
  const closing = [];
  for (const c of conns) {
    if (!c.sock.closed) closing.push(new Promise((r) => c.sock.once('close', r)));
    c.sock.destroy();
  }
  await Promise.all(closing);
  const n = conns.size;
  conns.clear();
  return { closed: n };
}

serveOps({
  open,
  storm(m) {
    for (let i = 0; i < m.n; i++) dial(m.host, m.port);
    return { started: m.n };
  },
  states,
  close: closeAll,
});

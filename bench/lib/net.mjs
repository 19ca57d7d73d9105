// Loopback helpers: free ports and readiness probes.
import net from 'node:net';
import { sleep } from './procs.mjs';

/** ports this process handed out: never twice (one may not be bound yet when the next is asked for) */
const handedOut = new Set();

/**
 * a free port on HOST below Linux's ephemeral range (32768-60999): a port the kernel hands out
 * for port 0 is one an outgoing connection (an etcd client's, a health check's) may take before
 * the daemon it was meant for binds it (a CI run's bench:fleet met EADDRINUSE so)
 */
export async function freePort(host = '127.0.0.1') {
  for (;;) {
    const [p] = await pickPorts(1, [host]);
    if (handedOut.has(p)) continue;
    handedOut.add(p);
    return p;
  }
}

/** true when `port` can be bound on `host` now */
function bindable(host, port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ host, port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/**
 * `count` distinct ports in 20000-32767 (below Linux's ephemeral range, so no outgoing socket
 * takes them meanwhile), each bindable on every host given.
 */
export async function pickPorts(count, hosts) {
  const out = [];
  while (out.length < count) {
    const p = 20_000 + Math.floor(Math.random() * 12_768);
    if (out.includes(p)) continue;
    let ok = true;
    for (const h of hosts) if (!(await bindable(h, p))) { ok = false; break; }
    if (ok) out.push(p);
  }
  return out;
}

/** resolves once a TCP connection to host:port succeeds (then closes it) */
export async function waitForPort(host, port, ms = 10_000, isGone = () => false) {
  const until = Date.now() + ms;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect({ host, port });
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (isGone()) throw new Error(`nothing listens on ${host}:${port}: the process exited`);
    if (Date.now() > until) throw new Error(`nothing listens on ${host}:${port} after ${ms} ms`);
    await sleep(50);
  }
}

/** one HTTP/1.1 GET with Connection: close over a raw socket: the whole response (bytes) */
export function rawGet(host, port, pathname = '/') {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    const parts = [];
    s.on('data', (b) => parts.push(b));
    s.once('error', reject);
    s.once('end', () => { s.destroy(); resolve(Buffer.concat(parts)); });
    s.once('connect', () => s.write(`GET ${pathname} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n`));
  });
}

// Worker: an abusive client of vpcepd's control API (issue 10, item 2). Each of `sockets`
// connections pushes 500 pipelined `GET /metrics` every 10 ms and never reads a reply; a
// connection that is cut or refused is opened again at once, as a persistent attacker would.
// Requests (IPC):
//   {op: 'start', url, sockets, localAddress}  starts the attack; answers at once
//   {op: 'stop'}                               stops it; answers {connections, cut, bytes}
// Exits when its parent goes (the IPC channel closes).
import net from 'node:net';
import { serveOps } from './ipc.mjs';

const BURST = Buffer.from('GET /metrics HTTP/1.1\r\nHost: vpcepd\r\n\r\n'.repeat(500), 'latin1');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let running = false;
let loops = [];
const stats = { connections: 0, cut: 0, bytes: 0 };

async function attacker(host, port, localAddress) {
  while (running) {
    const sock = net.connect({ host, port, localAddress });
    stats.connections++;
    sock.on('error', () => undefined);
    sock.pause(); // never read a reply
    let closed = false;
    sock.once('close', () => { closed = true; });
    while (running && !closed) {
      if (sock.writable) {
        sock.write(BURST);
        stats.bytes += BURST.length;
      }
      await sleep(10);
    }
    if (closed) stats.cut++;
    sock.destroy();
    await sleep(5);
  }
}

serveOps({
  start(m) {
    const { hostname, port } = new URL(m.url);
    running = true;
    loops = Array.from({ length: m.sockets }, () => attacker(hostname, Number(port), m.localAddress));
    return { started: m.sockets };
  },
  async stop() {
    running = false;
    await Promise.all(loops);
    return { ...stats };
  },
});

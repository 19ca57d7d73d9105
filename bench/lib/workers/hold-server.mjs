// Worker: a TCP server on HOST PORT that accepts connections and holds them, reading and
// discarding whatever comes, until the peer closes. Answers {op: 'count'} with {open, accepted}.
// Exits when its parent goes (the IPC channel closes).
import net from 'node:net';

const [host, portText] = process.argv.slice(2);
const sockets = new Set();
let accepted = 0;
const server = net.createServer((s) => {
  accepted++;
  sockets.add(s);
  s.on('error', () => undefined);
  s.on('close', () => sockets.delete(s));
  s.resume();
});
server.on('error', (err) => {
  if (!server.listening) {
    process.stderr.write(`hold server: cannot listen on ${host}:${portText}: ${err.message}\n`);
    process.exit(1);
  }
});
server.listen({ host, port: Number(portText), backlog: 4096, exclusive: true }, () => process.send({ ready: true }));

process.on('message', (m) => {
  if (m.op === 'count') process.send({ id: m.id, open: sockets.size, accepted });
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));

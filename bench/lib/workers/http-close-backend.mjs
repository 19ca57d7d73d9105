// Worker: a backend that answers any request with a short HTTP response and closes (a new
// connection per request, as `Connection: close` asks). Requests (IPC):
//   {op: 'listen'}  listens on 127.0.0.1 (a free port); answers {port}
// Exits when its parent goes (the IPC channel closes).
import net from 'node:net';
import { serveOps } from './ipc.mjs';

const ANSWER = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');

function listen() {
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    s.once('data', () => s.end(ANSWER));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', 4096, () => resolve({ port: server.address().port })));
}

serveOps({ listen });

// Worker: an HTTP server that does no work. It reads each request whole and answers it at once
// with the same bytes (bench:aws's anchor: vpcepd's own CreateVpcEndpoint answer), kept alive.
// Requests (IPC):
//   {op: 'listen', body, contentType}  listens on 127.0.0.1 (a free port); answers {port}
// Exits when its parent goes (the IPC channel closes).
import http from 'node:http';
import { serveOps } from './ipc.mjs';

function listen({ body, contentType }) {
  const answer = Buffer.from(body);
  const server = http.createServer((req, res) => {
    req.on('error', () => undefined);
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': contentType, 'content-length': answer.length });
      res.end(answer);
    });
  });
  // longer than the bench's agent keeps an idle socket (4 s), as vpcepd's 10 s
  server.keepAliveTimeout = 10_000;
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ port: server.address().port })));
}

serveOps({ listen });

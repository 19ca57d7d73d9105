// Worker: a connection-rate client over many targets. Requests (IPC):
//   {op: 'run', targets: [{host, port}], concurrency, ms}  keeps `concurrency` connections in
//       flight for `ms`, each a new connection to the next target in turn (round robin): connect,
//       a GET with `Connection: close`, the answer to its end, close; answers {done, failed, ms, errors}
// Exits when its parent goes (the IPC channel closes).
import net from 'node:net';
import { serveOps } from './ipc.mjs';

const REQUEST = Buffer.from('GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n');

function once(target) {
  return new Promise((resolve) => {
    const s = net.connect(target);
    let got = 0;
    let error = null;
    s.once('connect', () => s.write(REQUEST));
    s.on('data', (b) => { got += b.length; });
    s.on('error', (err) => { error = err.code ?? err.message; });
    s.once('close', () => resolve(error ?? (got > 0 ? null : 'empty')));
  });
}

async function run({ targets, concurrency, ms }) {
  const t0 = performance.now();
  const until = t0 + ms;
  let next = 0;
  let done = 0;
  let failed = 0;
  const errors = {};
  const loop = async () => {
    while (performance.now() < until) {
      const err = await once(targets[next++ % targets.length]);
      if (err === null) done++;
      else { failed++; errors[err] = (errors[err] ?? 0) + 1; }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return { done, failed, ms: performance.now() - t0, errors };
}

serveOps({ run });

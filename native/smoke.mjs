// A quick check of the addon alone, without the daemon: loopback sockets handed to the relay.
//   node native/smoke.mjs
// client <-> [accepted socket | relay | backend socket] <-> echo/hash server
import { createHash, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import net from 'node:net';
import assert from 'node:assert/strict';

const addon = createRequire(import.meta.url)('../build/Release/vpcep_relay.node');
const closes = new Map();
const waiters = new Map();
addon.init((id, received, sent, reason) => {
  closes.set(id, { received, sent, reason });
  waiters.get(id)?.();
}, 2);
const closed = (id) => closes.has(id) ? Promise.resolve() : new Promise((r) => waiters.set(id, r));

const listen = (server) => new Promise((r) => server.listen(0, '127.0.0.1', () => r(server.address().port)));

/** a relayed pair: returns the client socket and the relay id */
async function relayed(backendHandler, preamble = null) {
  const backendServer = net.createServer({ allowHalfOpen: true }, (s) => { s.on('error', () => {}); backendHandler(s); });
  const bport = await listen(backendServer);
  const front = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
  const fport = await listen(front);
  const accepted = new Promise((r) => front.once('connection', r));
  const client = net.connect({ port: fport, host: '127.0.0.1', allowHalfOpen: true });
  const inner = await accepted;
  const backend = net.connect({ port: bport, host: '127.0.0.1', allowHalfOpen: true });
  await new Promise((r) => backend.once('connect', r));
  backend.pause();
  const id = addon.open(inner._handle.fd, backend._handle.fd, preamble);
  assert.ok(id > 0);
  inner.destroy();
  backend.destroy();
  front.close();
  backendServer.close();
  return { client, id };
}

// 1. 64 MiB both ways through an echo, byte-exact.
{
  const { client, id } = await relayed((s) => s.pipe(s));
  const data = randomBytes(64 * 1024 * 1024);
  const want = createHash('sha256').update(data).digest('hex');
  const h = createHash('sha256');
  let got = 0;
  client.on('data', (b) => { h.update(b); got += b.length; if (got === data.length) client.end(); });
  const t0 = performance.now();
  client.write(data);
  await closed(id);
  const ms = performance.now() - t0;
  assert.equal(got, data.length);
  assert.equal(h.digest('hex'), want);
  assert.deepEqual(closes.get(id), { received: data.length, sent: data.length, reason: 'done' });
  console.log(`echo 64 MiB: ok, ${(ms).toFixed(0)} ms, close ${JSON.stringify(closes.get(id))}`);
}

// 2. preamble then payload, half-close, answer after the FIN.
{
  const { client, id } = await relayed((s) => {
    let got = '';
    s.on('data', (b) => { got += b; });
    s.on('end', () => s.end(`got:${got}`));
  }, Buffer.from('HDR|'));
  let answer = '';
  client.on('data', (b) => { answer += b; });
  client.end('payload');
  await new Promise((r) => client.once('end', r));
  await closed(id);
  assert.equal(answer, 'got:HDR|payload');
  assert.equal(closes.get(id).reason, 'done');
  console.log(`preamble + half-close: ok, ${JSON.stringify(closes.get(id))}`);
}

// 3. backend reset -> client reset.
{
  const { client, id } = await relayed((s) => { s.once('data', () => s.resetAndDestroy()); });
  const err = new Promise((r) => client.once('error', r));
  client.write('x');
  assert.equal((await err).code, 'ECONNRESET');
  await closed(id);
  assert.equal(closes.get(id).reason, 'backend_reset');
  console.log(`reset propagation: ok, ${JSON.stringify(closes.get(id))}`);
}

// 4. cut -> client reset; stats before.
{
  const { client, id } = await relayed((s) => s.pipe(s));
  client.write('abc');
  await new Promise((r) => client.once('data', r));
  const st = addon.stats(id);
  assert.equal(st[0], 3);
  assert.equal(st[1], 3);
  assert.equal(addon.touched(id), true);
  assert.equal(addon.touched(id), false);
  const err = new Promise((r) => client.once('error', r));
  addon.cut(id);
  assert.equal((await err).code, 'ECONNRESET');
  await closed(id);
  assert.equal(closes.get(id).reason, 'cut');
  assert.equal(addon.stats(id), undefined);
  console.log(`cut: ok, ${JSON.stringify(closes.get(id))}`);
}

// 5. graceful close -> client sees FIN.
{
  const { client, id } = await relayed((s) => s.pipe(s));
  const ended = new Promise((r) => client.once('end', r));
  addon.close(id);
  await ended;
  await closed(id);
  assert.equal(closes.get(id).reason, 'closed');
  console.log(`close: ok, ${JSON.stringify(closes.get(id))}`);
}
console.log('smoke: all ok');

// A toxic link's pump (src/dataplane/toxics/link.ts) on real loopback sockets: what it queues while
// a toxic holds its data (bandwidth 0) is bounded in chunks, not only in bytes. A client writing a
// byte at a time queued 256K chunks per connection (about 100 times their bytes in memory), and
// their release held the event loop 10 s and more.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Pump } from '../../src/dataplane/toxics/link.js';
import type { Transform } from '../../src/dataplane/toxics/transforms.js';
import { waitFor } from '../helpers.js';

const closers: Array<() => void> = [];
afterEach(() => { for (const c of closers.splice(0)) c(); });

/** a connected pair of sockets: the client's end and the server's */
async function pair(): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  client.setNoDelay(true);
  const peer = await accepted;
  closers.push(() => { client.destroy(); peer.destroy(); server.close(); });
  return [client, peer];
}

describe('a toxic link\'s pump', () => {
  it('pauses its source after about a thousand small chunks held, not after 256 KiB of them', async () => {
    const [client, from] = await pair();
    const [to] = await pair();
    const aborted = new AbortController();
    closers.push(() => aborted.abort());
    const pump = new Pump(from, to, aborted.signal);
    // a stage that holds every chunk, as bandwidth 0 does until the toxic is removed
    const hold: Transform = { push: () => new Promise(() => undefined), end: async () => undefined, stop: () => undefined, removed: () => undefined } as unknown as Transform;
    pump.stages = [hold];
    pump.start();
    // 3,000 writes of one byte, each its own segment (a pause between them)
    for (let i = 0; i < 3_000 && !from.isPaused(); i++) {
      client.write('x');
      await new Promise((r) => setImmediate(r));
    }
    await waitFor(() => from.isPaused(), 5_000, 'the source paused');
    // 256 KiB of one-byte chunks was 262,144 of them; now each counts 257 bytes: about a thousand
    expect(pump.chunks).toBeLessThanOrEqual(1_100);
  });
});

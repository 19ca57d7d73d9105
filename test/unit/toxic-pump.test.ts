// A toxic link's pump (src/dataplane/toxics/link.ts) on real loopback sockets: what it queues while
// a toxic holds its data (bandwidth 0) is bounded in chunks, not only in bytes. A client writing a
// byte at a time queued 256K chunks per connection (about 100 times their bytes in memory), and
// their release held the event loop 10 s and more. Its stages form a pipeline, as Toxiproxy's
// toxics each in its goroutine: latencies add up, bandwidths each cap the rate.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Pump, toxicMemory } from '../../src/dataplane/toxics/link.js';
import { makeTransform, type ToxicHost, type Transform } from '../../src/dataplane/toxics/transforms.js';
import { parseToxic } from '../../src/model/toxics.js';
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

  /** a pump from a fresh pair of sockets to another with the toxics given, started (CLOSE: the link's close), aborted after the test */
  async function linked(toxics: object[], close: () => void = () => undefined) {
    const [client, from] = await pair();
    const [to, far] = await pair();
    const aborted = new AbortController();
    closers.push(() => aborted.abort());
    const host: ToxicHost = { close, reset: () => undefined, signal: aborted.signal };
    const pump = new Pump(from, to, aborted.signal, close);
    pump.stages = toxics.map((t) => makeTransform(parseToxic(t), host, { passed: 0 }));
    pump.start();
    return { client, from, to, far, pump, aborted };
  }

  /** a linked pump; what its far end reads, and when it has N bytes */
  async function piped(toxics: object[]): Promise<{ client: net.Socket; got: () => Buffer; when: (n: number) => Promise<number> }> {
    const { client, far } = await linked(toxics);
    const chunks: Buffer[] = [];
    let size = 0;
    far.on('data', (b: Buffer) => { chunks.push(b); size += b.length; });
    const t0 = performance.now();
    return { client, got: () => Buffer.concat(chunks), when: async (n) => { await waitFor(() => size >= n || null, 20_000, `${n} bytes`); return performance.now() - t0; } };
  }

  it('limit_data\'s close goes behind the bytes it let through: a latency after it holds them, then the link closes (it closed at once: the client got none)', async () => {
    let size = 0;
    /** the bytes written towards the client when the link closed */
    let closedWith: number | null = null;
    const { client, to, far } = await linked([{ type: 'limit_data', name: 'lim', attributes: { bytes: 10 } }, { type: 'latency', name: 'lat', attributes: { latency: 200 } }],
      () => { closedWith ??= to.bytesWritten; });
    far.on('data', (b: Buffer) => { size += b.length; });
    const t0 = performance.now();
    client.write(randomBytes(100));
    await waitFor(() => closedWith !== null, 5_000, 'the link closed');
    expect(closedWith).toBe(10);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(180);
    await waitFor(() => size === 10 || null, 5_000, 'the 10 bytes at the far end');
  });

  it('adds up latencies: each holds a chunk its delay after it left the one before (two of 300 ms held it 300)', async () => {
    const p = await piped([{ type: 'latency', name: 'a', attributes: { latency: 300 } }, { type: 'latency', name: 'b', attributes: { latency: 300 } }]);
    const data = randomBytes(200_000);
    p.client.write(data);
    expect(await p.when(data.length)).toBeGreaterThanOrEqual(550);
    expect(p.got().equals(data)).toBe(true);
  });

  /** a pump with the toxics given whose link's close is timed: the client's end, and when the link closed (null: not yet) */
  async function closing(toxics: object[]): Promise<{ client: net.Socket; closedAt: () => number | null }> {
    let closedAt: number | null = null;
    const { client } = await linked(toxics, () => { closedAt ??= performance.now(); });
    return { client, closedAt: () => closedAt };
  }

  it('limit_data\'s close meets the toxics after it: a slow_close holds it its delay (the close skipped it)', async () => {
    const p = await closing([{ type: 'limit_data', name: 'ld', attributes: { bytes: 1_000 } }, { type: 'slow_close', name: 'sc', attributes: { delay: 500 } }]);
    const t0 = performance.now();
    p.client.write(randomBytes(5_000));
    await waitFor(() => p.closedAt() !== null, 5_000, 'the link closed');
    expect(p.closedAt()! - t0).toBeGreaterThanOrEqual(490);
  });

  it('timeout\'s close at the stream\'s end meets the toxics after it: a slow_close holds it its delay (it closed the link at once)', async () => {
    const p = await closing([{ type: 'timeout', name: 'to', attributes: { timeout: 0 } }, { type: 'slow_close', name: 'sc', attributes: { delay: 500 } }]);
    p.client.write('dropped');
    const t0 = performance.now();
    p.client.end();
    await waitFor(() => p.closedAt() !== null, 5_000, 'the link closed');
    expect(p.closedAt()! - t0).toBeGreaterThanOrEqual(490);
  });

  it('a latency is a delay, not a rate limit: 3 MB through latency 300 ms take about 300 ms more, not 3.6 s (its queue held 256 KiB)', async () => {
    const p = await piped([{ type: 'latency', name: 'lat', attributes: { latency: 300 } }]);
    const data = randomBytes(3_000_000);
    p.client.write(data);
    const took = await p.when(data.length);
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(1_500);
    expect(p.got().equals(data)).toBe(true);
  });

  /** a latency of MS whose client stopped reading, BYTES written into it, WAITMS after its source paused */
  async function stalledLatency(ms: number, bytes: number, waitMs: number) {
    const link = await linked([{ type: 'latency', name: 'lat', attributes: { latency: ms } }]);
    link.far.pause();
    link.client.write(randomBytes(bytes));
    await waitFor(() => link.from.isPaused(), 10_000, 'the source paused');
    await new Promise((r) => setTimeout(r, waitMs));
    return { ...link, sockets: [link.client, link.from, link.to, link.far] };
  }

  it('a latency\'s large queue is bounded daemon-wide: past toxicMemory.cap its lane holds the pump\'s 256 KiB, and what a closed connection held is let go (1,024 chunks per latency and connection had no bound: 3,000 connections could hold 96 GiB)', async () => {
    const before = toxicMemory.held;
    const cap = toxicMemory.cap;
    toxicMemory.cap = 1024 * 1024;
    closers.push(() => { toxicMemory.cap = cap; });
    const { pump, aborted, sockets } = await stalledLatency(200, 48_000_000, 300);
    // the cap and what the lanes hold at the pump's bounds: 1 MiB + 256 KiB + 256 KiB and a chunk each (64 KiB reads)
    expect(toxicMemory.held - before).toBeLessThan(2 * 1024 * 1024);
    expect(pump.chunks).toBeLessThan(64);
    aborted.abort();
    for (const x of sockets) x.destroy();
    await waitFor(() => toxicMemory.held === before || null, 5_000, 'the held bytes let go');
  });

  it('a connection closed while its latency waits on a client that stopped reading gives its count back (the latency\'s lane waited for room for good: 30 MiB a connection stayed counted)', async () => {
    const before = toxicMemory.held;
    const { aborted, sockets } = await stalledLatency(300, 60_000_000, 1_000);
    expect(toxicMemory.held - before).toBeGreaterThan(8 * 1024 * 1024);
    aborted.abort();
    for (const x of sockets) x.destroy();
    await waitFor(() => toxicMemory.held === before || null, 5_000, 'the held bytes let go');
  });

  it('latency and bandwidth in series run at the bandwidth\'s rate plus the latency (latency 500 then 1,000 KB/s took 9 s for 3 MB, the other order 4.2 s)', async () => {
    for (const [first, second, most] of [
      [{ type: 'latency', name: 'lat', attributes: { latency: 500 } }, { type: 'bandwidth', name: 'bw', attributes: { rate: 1_000 } }, 4_500],
      [{ type: 'bandwidth', name: 'bw', attributes: { rate: 1_000 } }, { type: 'latency', name: 'lat', attributes: { latency: 500 } }, 4_500],
    ] as const) {
      const p = await piped([first, second]);
      const data = randomBytes(3_000_000);
      p.client.write(data);
      const took = await p.when(data.length);
      expect(took).toBeGreaterThanOrEqual(3_000);
      expect(took).toBeLessThan(most);
      expect(p.got().equals(data)).toBe(true);
    }
  });

  it('a bandwidth makes up its timer\'s lateness, as Toxiproxy offsets its next sleep (1.5 MB in 1,000-byte pieces at 500 KB/s took 4 s, not 3: each piece started from the late wake-up)', async () => {
    const p = await piped([{ type: 'slicer', name: 'sl', attributes: { average_size: 1_000 } }, { type: 'bandwidth', name: 'bw', attributes: { rate: 500 } }]);
    const data = randomBytes(1_500_000);
    p.client.write(data);
    const took = await p.when(data.length);
    expect(took).toBeGreaterThanOrEqual(2_950);
    expect(took).toBeLessThan(3_700);
    expect(p.got().equals(data)).toBe(true);
  });

  it('pipelines bandwidths: each caps the rate, the lowest wins (two of 100 KB/s made 50 KB/s: their holds added up)', async () => {
    for (const rates of [[100, 100], [200, 100], [100, 200]]) {
      const p = await piped(rates.map((rate, i) => ({ type: 'bandwidth', name: `bw${i}`, attributes: { rate } })));
      const data = randomBytes(100_000);
      p.client.write(data);
      const took = await p.when(data.length);
      expect(took).toBeGreaterThanOrEqual(950);
      expect(took).toBeLessThan(1_800);
      expect(p.got().equals(data)).toBe(true);
    }
  });
});

// Bandwidth per endpoint connection (src/model/bandwidth.ts) on the JS relay: a token bucket per
// direction of a limited connection. Each chunk read from the source is charged; a source that
// runs short is paused (Node stops reading the socket once its buffer fills, and TCP's window
// holds the sender) until a timer says the bucket has refilled. The bucket may go into debt by one
// read (a chunk is charged after it is read), which the next wait pays back: the average rate is
// exact. A connection without a limit has no bucket and pays one null check per chunk.
import type { Socket } from 'node:net';

/** What the shaping metrics read (vpcep_bandwidth_*): pushed at the event, never summed at scrape. */
export const shaping = {
  /** open connections with a bandwidth limit, either relay */
  limitedConnections: 0,
  /** ms the JS relay's limited directions were held back (the native relay counts its own) */
  jsThrottledMs: 0,
};

/** the bucket's depth: 50 ms of the rate, at least 16 KiB (one read never waits for a fraction of itself) */
export function burstOf(rate: number): number {
  return Math.max(rate / 20, 16 * 1024);
}

/** once short, a source waits until the bucket holds 10 ms of the rate again (one timer per ~10 ms, not per chunk) */
function quantumOf(rate: number): number {
  return Math.min(rate / 100, burstOf(rate));
}

export class Throttle {
  /** bytes per second */
  rate: number;
  tokens: number;
  /** when the bucket was last refilled (performance.now(), ms) */
  private last: number;
  private timer: NodeJS.Timeout | null;
  /** when the source was paused by this throttle, or -1 */
  private heldSince: number;
  private readonly source: Socket;
  private readonly dest: Socket;

  constructor(source: Socket, dest: Socket, rate: number) {
    this.source = source;
    this.dest = dest;
    this.rate = rate;
    this.tokens = burstOf(rate);
    this.last = performance.now();
    this.timer = null;
    this.heldSince = -1;
  }

  /** a new rate, live: the bucket keeps what it holds (up to the new depth); a held source waits by the new rate */
  setRate(rate: number): void {
    this.refill();
    this.rate = rate;
    this.tokens = Math.min(this.tokens, burstOf(rate));
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
      this.arm();
    }
  }

  /** BYTES were read from the source: charged; when the bucket runs dry the source is held */
  charge(bytes: number): void {
    this.refill();
    this.tokens -= bytes;
    if (this.tokens >= 0) return;
    this.source.pause();
    if (this.heldSince < 0) this.heldSince = this.last;
    if (this.timer === null) this.arm();
  }

  /** the limit is lifted, live: a held source reads again */
  lift(): void {
    const held = this.timer !== null;
    this.stop();
    if (held && !this.dest.writableNeedDrain && !this.source.destroyed) this.source.resume();
  }

  /** the connection closed: no timer is left behind */
  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.release();
  }

  private refill(): void {
    const now = performance.now();
    this.tokens = Math.min(burstOf(this.rate), this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
  }

  private arm(): void {
    const ms = Math.max(1, Math.ceil(((quantumOf(this.rate) - this.tokens) * 1000) / this.rate));
    this.timer = setTimeout(onRefilled, ms, this);
  }

  /** the timer fired: the source reads again, unless the bucket is still short (a read made in debt) */
  tick(): void {
    this.timer = null;
    this.refill();
    if (this.tokens < 0) {
      this.arm();
      return;
    }
    this.release();
    // A destination still full resumes the source itself when it drains (pipe()).
    if (!this.dest.writableNeedDrain && !this.source.destroyed) this.source.resume();
  }

  private release(): void {
    if (this.heldSince < 0) return;
    shaping.jsThrottledMs += performance.now() - this.heldSince;
    this.heldSince = -1;
  }
}

function onRefilled(t: Throttle): void {
  t.tick();
}

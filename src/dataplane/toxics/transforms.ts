// One small transform per toxic type, with Toxiproxy's semantics (its toxics/*.go; the behaviour,
// not the code): each takes a chunk of its stream as it arrived and passes it on (emit) later,
// sliced, truncated or not at all; a few act on the whole connection (close, reset).
import { setImmediate as nextTurn, setTimeout as sleepFor } from 'node:timers/promises';
import type { Toxic, ToxicType } from '../../model/toxics.js';

/** what a transform may do to its connection */
export interface ToxicHost {
  /** closes both sides (a FIN each way, once written data is flushed): Toxiproxy closing a link */
  close(): void;
  /** resets both sides (SO_LINGER 0): reset_peer */
  reset(): void;
  /** aborted when the connection closes, before its transforms are stopped: pending sleeps end and the pumps stop */
  readonly signal: AbortSignal;
}

/**
 * The link closed behind what a stage passed on (limit_data's close): it travels down the stages
 * after the chunks before it, as Toxiproxy's closed channel does, and closes the link at the end
 */
export const CLOSE_LINK = Symbol('close the link');

export type Emit = (buf: Buffer | typeof CLOSE_LINK) => Promise<void>;

/** what a stage's queue holds before the stage before it waits (its bytes count CHUNK_COST a chunk more) */
export interface QueueBound {
  readonly chunks: number;
  readonly bytes: number;
}

/**
 * A latency's queue: the chunks on their way through it. Toxiproxy's latency toxic buffers 1024
 * chunks "in order to prevent added latency from limiting the proxy bandwidth" (CREATING.md; its
 * reads are of at most 32 KiB): a delay, not a rate. The pump's 256 KiB a stage made it one: 256 KiB
 * per latency period (latency 300 ms passed 3 MB in 3.6 s).
 */
const LATENCY_QUEUE: QueueBound = { chunks: 1024, bytes: 32 * 1024 * 1024 };

export interface Transform {
  readonly toxic: Toxic;
  /** its queue's bound, when not the pump's (256 KiB) */
  readonly queue?: QueueBound;
  /** a chunk that left the stage before at AT (performance.now() ms; at the first stage, when it arrived) */
  push(buf: Buffer, at: number, emit: Emit): Promise<void>;
  /**
   * the stream ended, or a stage before closed the link (CLOSE_LINK): resolves when that may pass
   * on; to CLOSE_LINK when the link closes behind it instead (timeout)
   */
  end(): Promise<void | typeof CLOSE_LINK>;
  /**
   * removed, changed (or every toxic reset), or the connection closed: timers cleared, and what it
   * holds passes on at once, in order (Toxiproxy interrupts the toxic, which outputs what it holds);
   * a chunk pushed after passes at once
   */
  stop(): void;
  /** removed from its live connection, after stop() (Toxiproxy's Cleanup: timeout closes the link) */
  removed(): void;
}

/**
 * What a toxic keeps on a connection across its updates (Toxiproxy's stub state, made when the
 * toxic is added and kept while it is updated): limit_data's bytes passed so far
 */
export interface ToxicState {
  passed: number;
}

/** daemon-wide figures, read by the metrics at scrape time (pushed at the event) */
export const toxicFigures = {
  /** bytes a toxic held back (latency, bandwidth, slicer) */
  delayedBytes: 0,
  /** connections reset by reset_peer */
  resets: 0,
  /** connections each type applied to (toxicity drawn) */
  applied: { latency: 0, bandwidth: 0, slow_close: 0, timeout: 0, reset_peer: 0, slicer: 0, limit_data: 0 } as Record<ToxicType, number>,
};

/** sleeps MS unless SIGNAL aborts first (then rejects: the pump stops) */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return ms <= 0 ? Promise.resolve() : sleepFor(ms, undefined, { signal });
}

/**
 * Holds data MS (Infinity: until stopped) unless the toxic is stopped first: then it resolves at
 * once, so that what the toxic holds passes on (Toxiproxy's latency.go: `case <-stub.Interrupt:
 * // Exit fast without applying latency`). Rejects when the connection closed (the pump stops):
 * its link aborts CLOSED, then stops every transform.
 */
export function hold(ms: number, stopped: AbortSignal, closed: AbortSignal): Promise<void> {
  if (ms <= 0 || stopped.aborted) return closed.aborted ? Promise.reject(closed.reason) : Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = ms === Infinity ? null : setTimeout(done, ms);
    stopped.addEventListener('abort', done, { once: true });
    function done(): void {
      if (timer !== null) clearTimeout(timer);
      stopped.removeEventListener('abort', done);
      if (closed.aborted) reject(closed.reason);
      else resolve();
    }
  });
}

const now = () => performance.now();

/**
 * each chunk held latency ± jitter ms after it left the stage before, so that two latencies add up
 * (Toxiproxy's latency.go waits from the chunk's timestamp, then moves it on by its wait); order kept
 */
class Latency implements Transform {
  readonly queue = LATENCY_QUEUE;
  private readonly stopped = new AbortController();
  constructor(readonly toxic: Toxic, private readonly host: ToxicHost) {}
  async push(buf: Buffer, at: number, emit: Emit): Promise<void> {
    const { latency = 0, jitter = 0 } = this.toxic.attributes;
    const delay = latency + (jitter > 0 ? Math.round((Math.random() * 2 - 1) * jitter) : 0);
    const wait = at + delay - now();
    if (wait > 0 && !this.stopped.signal.aborted) {
      toxicFigures.delayedBytes += buf.length;
      await hold(wait, this.stopped.signal, this.host.signal);
    }
    await emit(buf);
  }
  async end(): Promise<void> {}
  stop(): void {
    this.stopped.abort();
  }
  removed(): void {}
}

/**
 * rate KB/s (1 KB = 1,000 bytes: rate bytes per ms), passed in pieces of at most 100 ms; 0: nothing
 * passes until the toxic is removed or changed (Toxiproxy's bandwidth.go; Testcontainers' setConnectionCut)
 */
class Bandwidth implements Transform {
  /** when the link is free again (ms): a schedule, so that timer lateness does not add up */
  private free = 0;
  /**
   * how late the last piece's timer woke (ms, at most a piece's 100): the next piece is scheduled
   * from that much earlier, as Toxiproxy's bandwidth.go offsets its next sleep by the error. Each
   * piece started from the late wake-up: 1,000 KB/s passed 3 MB in 3.1 s, not 3.0
   */
  private late = 0;
  private readonly stopped = new AbortController();
  constructor(readonly toxic: Toxic, private readonly host: ToxicHost) {}
  async push(buf: Buffer, _at: number, emit: Emit): Promise<void> {
    const rate = this.toxic.attributes.rate ?? 0;
    const stopped = this.stopped.signal;
    if (stopped.aborted) return emit(buf);
    if (rate <= 0) {
      toxicFigures.delayedBytes += buf.length;
      await hold(Infinity, stopped, this.host.signal);
      return emit(buf);
    }
    const piece = rate * 100;
    for (let off = 0; off < buf.length; off += piece) {
      // stopped: the rest of the chunk in one piece (Toxiproxy's bandwidth.go on its interrupt)
      if (stopped.aborted) return emit(buf.subarray(off));
      const part = buf.subarray(off, Math.min(buf.length, off + piece));
      const t = now();
      // a link idle since, or waiting on the stage after it, starts afresh: no burst
      this.free = Math.max(t - this.late, this.free) + part.length / rate;
      toxicFigures.delayedBytes += part.length;
      await hold(this.free - t, stopped, this.host.signal);
      this.late = Math.min(100, Math.max(0, now() - this.free));
      await emit(part);
    }
  }
  async end(): Promise<void> {}
  stop(): void {
    this.stopped.abort();
  }
  removed(): void {}
}

/** the end of the stream (the FIN), or the close of a toxic before it (limit_data's), held delay ms (Toxiproxy's slow_close.go: its input channel closed) */
class SlowClose implements Transform {
  private readonly stopped = new AbortController();
  constructor(readonly toxic: Toxic, private readonly host: ToxicHost) {}
  push(buf: Buffer, _at: number, emit: Emit): Promise<void> {
    return emit(buf);
  }
  end(): Promise<void> {
    return hold(this.toxic.attributes.delay ?? 0, this.stopped.signal, this.host.signal);
  }
  stop(): void {
    this.stopped.abort();
  }
  removed(): void {}
}

/**
 * No data passes; the connection is closed after timeout ms (0: never, data dropped), when its
 * stream ends, or when the toxic is removed (Toxiproxy's timeout.go: its Cleanup closes the link, so
 * a removal never lets the stream go on with bytes missing)
 */
class Timeout implements Transform {
  private timer: NodeJS.Timeout | null = null;
  constructor(readonly toxic: Toxic, private readonly host: ToxicHost) {
    const ms = toxic.attributes.timeout ?? 0;
    if (ms > 0) this.timer = setTimeout(() => host.close(), ms);
  }
  async push(): Promise<void> {}
  /** the close travels through the toxics after it (a slow_close holds it), as Toxiproxy's closed output channel does; it closed the link at once */
  async end(): Promise<typeof CLOSE_LINK> {
    return CLOSE_LINK;
  }
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
  }
  removed(): void {
    this.host.close();
  }
}

/** on the stream's first data: timeout ms later, the connection is reset (RST both ways); that data does not pass */
class ResetPeer implements Transform {
  constructor(readonly toxic: Toxic, private readonly host: ToxicHost) {}
  async push(): Promise<void> {
    await sleep(this.toxic.attributes.timeout ?? 0, this.host.signal);
    toxicFigures.resets++;
    this.host.reset();
    return new Promise(() => {});
  }
  async end(): Promise<void> {}
  stop(): void {}
  removed(): void {}
}

/** how long a slicer without delay writes before it lets the event loop turn (ms) */
const SLICER_TURN_MS = 2;

/** chunks sliced into writes of average_size ± size_variation bytes, delay µs apart */
class Slicer implements Transform {
  private readonly stopped = new AbortController();
  constructor(readonly toxic: Toxic, private readonly host: ToxicHost) {}
  async push(buf: Buffer, _at: number, emit: Emit): Promise<void> {
    const { average_size: avg = 1, size_variation: variation = 0, delay = 0 } = this.toxic.attributes;
    const stopped = this.stopped.signal;
    // Without a delay each write resolves as a microtask: slices of one byte would hold the event
    // loop (every tenant's API, DNS) for seconds per megabyte. The loop turns every few ms.
    let turnAt = now() + SLICER_TURN_MS;
    for (let off = 0; off < buf.length;) {
      // stopped: the remainder in one piece (Toxiproxy's slicer.go on its interrupt)
      if (stopped.aborted) return emit(buf.subarray(off));
      const size = Math.max(1, avg + (variation > 0 ? Math.floor((Math.random() * 2 - 1) * variation) : 0));
      const part = buf.subarray(off, off + size);
      off += part.length;
      await emit(part);
      if (off >= buf.length) break;
      if (delay > 0) {
        if (!stopped.aborted) toxicFigures.delayedBytes += buf.length - off;
        await hold(delay / 1000, stopped, this.host.signal);
      } else if (now() >= turnAt) {
        await nextTurn();
        this.host.signal.throwIfAborted();
        turnAt = now() + SLICER_TURN_MS;
      }
    }
  }
  async end(): Promise<void> {}
  stop(): void {
    this.stopped.abort();
  }
  removed(): void {}
}

/**
 * bytes pass, then the connection is closed; counted from the toxic's addition, an update keeping
 * the count (Toxiproxy's limit_data.go: bytes - state.bytesTransmitted, closed at once when none are left)
 */
class LimitData implements Transform {
  constructor(readonly toxic: Toxic, private readonly host: ToxicHost, private readonly state: ToxicState) {
    // the link is closed as the toxic starts when nothing is left to pass (a host's close runs after this constructor)
    if (this.left <= 0) queueMicrotask(() => { if (!host.signal.aborted) host.close(); });
  }
  private get left(): number {
    return (this.toxic.attributes.bytes ?? 0) - this.state.passed;
  }
  private closing = false;
  async push(buf: Buffer, _at: number, emit: Emit): Promise<void> {
    const left = this.left;
    if (left > 0) {
      const part = buf.length <= left ? buf : buf.subarray(0, left);
      this.state.passed += part.length;
      await emit(part);
    }
    // the close goes behind the bytes it let through: a latency after it held them, and a close at
    // once cut the link with them still held (the client got none)
    if (this.left <= 0 && !this.closing) {
      this.closing = true;
      await emit(CLOSE_LINK);
    }
  }
  async end(): Promise<void> {}
  stop(): void {}
  removed(): void {}
}

const MAKERS: Record<ToxicType, new (t: Toxic, host: ToxicHost, state: ToxicState) => Transform> = {
  latency: Latency,
  bandwidth: Bandwidth,
  slow_close: SlowClose,
  timeout: Timeout,
  reset_peer: ResetPeer,
  slicer: Slicer,
  limit_data: LimitData,
};

/** T's transform on a connection, with the state it keeps there across its updates */
export function makeTransform(t: Toxic, host: ToxicHost, state: ToxicState): Transform {
  return new MAKERS[t.type](t, host, state);
}

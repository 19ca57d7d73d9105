// A connection some toxic's scope covers, relayed through its toxics in JS: one pump per
// direction (upstream: client -> backend; downstream: backend -> client) runs the chunks through
// the direction's transforms in order, each transform at its own pace (a pipeline). Toxicity is drawn once per connection and toxic, as
// Toxiproxy draws it per link; a change of the toxics re-links the live connection (a toxic kept
// unchanged keeps its state: limit_data's count, bandwidth's schedule).
import type { Socket } from 'node:net';
import { scopeKey, type Toxic, type ToxicRule, type ToxicStream, type ToxicTarget } from '../../model/toxics.js';
import { CLOSE_LINK, makeTransform, toxicFigures, type Emit, type ToxicHost, type ToxicState, type Transform } from './transforms.js';

/**
 * bytes a stage's queue holds before the stage before it waits, and takes again below the low
 * mark (a latency's holds more: transforms.ts LATENCY_QUEUE); the pump's source pauses while the
 * first stage's queue is full, or while its own inbox holds more (the stages changing)
 */
const HIGH_WATER = 256 * 1024;
const LOW_WATER = 64 * 1024;
/**
 * what a queued chunk costs beside its bytes (its Buffer and queue entry), counted against the
 * marks: a client writing one byte at a time through a toxic that holds them (bandwidth 0) queued
 * 256K chunks per connection, about 100 times their bytes in memory, and their release, one chunk
 * at a time, held the event loop 10 s and more; now at most about a thousand chunks per direction
 */
const CHUNK_COST = 256;

/** one toxic on this connection: whether its toxicity applied, its transform once started, and what it keeps across updates */
interface Linked {
  readonly toxic: Toxic;
  readonly json: string;
  readonly on: boolean;
  transform: Transform | null;
  readonly state: ToxicState;
}

/** what a link needs of its connection */
export interface LinkedConnection {
  readonly client: Socket;
  readonly backend: Socket;
  /** both sides closed gracefully (FIN after what is written) */
  toxicClose(): void;
  /** both sides reset */
  toxicReset(): void;
  /** no toxic is left on it (each removed): it may leave the toxic path (a native connection goes back to splice) */
  linkBare(): void;
}

export class ToxicLink implements ToxicHost {
  readonly target: ToxicTarget;
  private readonly toxics = new Map<string, Linked>();
  private readonly abort = new AbortController();
  private conn: LinkedConnection | null = null;
  private up: Pump | null = null;
  private down: Pump | null = null;
  private readonly links: Set<ToxicLink>;
  /** a toxic closed or reset it */
  private ended = false;

  /**
   * LINKS: the data plane's live links (re-linked on a change), this one added until it stops.
   * DRAWN: the toxics a live plain connection already drew off (unchanged since it did): off again,
   * not drawn a second time (Toxiproxy draws once per link and toxic, again on an update).
   */
  constructor(target: ToxicTarget, rules: readonly ToxicRule[], links: Set<ToxicLink>, drawn: ReadonlySet<string> | null = null) {
    this.target = target;
    this.links = links;
    links.add(this);
    this.relink(rules, drawn);
  }

  /** whether some toxic's toxicity applied to this connection (else it needs no toxic path) */
  get applies(): boolean {
    for (const l of this.toxics.values()) if (l.on) return true;
    return false;
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  close(): void {
    this.ended = true;
    this.conn?.toxicClose();
  }

  reset(): void {
    this.ended = true;
    this.conn?.toxicReset();
  }

  /** the toxics of its scopes now: new ones drawn (but those in DRAWN), removed or changed ones stopped */
  relink(rules: readonly ToxicRule[], drawn: ReadonlySet<string> | null = null): void {
    const seen = new Set<string>();
    for (const r of rules) {
      const key = ruleKey(r);
      seen.add(key);
      const json = JSON.stringify(r.toxic);
      const was = this.toxics.get(key);
      if (was && was.json === json) continue;
      was?.transform?.stop();
      // Toxiproxy: applies when rand < toxicity (1 always, 0 never), drawn again on an update
      const on = drawn?.has(key) !== true && Math.random() < r.toxic.toxicity;
      // an update keeps the toxic's state on the link (Toxiproxy's stub state: limit_data's count)
      const state = was !== undefined && was.toxic.type === r.toxic.type ? was.state : { passed: 0 };
      const linked: Linked = { toxic: r.toxic, json, on, transform: null, state };
      this.toxics.set(key, linked);
      if (on) toxicFigures.applied[r.toxic.type]++;
      if (on && this.conn) linked.transform = makeTransform(r.toxic, this, state);
    }
    for (const [key, l] of this.toxics) {
      if (seen.has(key)) continue;
      l.transform?.stop();
      this.toxics.delete(key);
      l.transform?.removed();
    }
    this.restage();
    // a toxic that closed it as it left (timeout) leaves nothing to hand back to splice
    if (this.toxics.size === 0 && !this.ended) this.conn?.linkBare();
  }

  /** no toxic on it, and nothing queued in its pumps either way */
  get idle(): boolean {
    return this.toxics.size === 0 && (this.up?.idle ?? true) && (this.down?.idle ?? true);
  }

  /** the backend is connected: the pumps start */
  start(conn: LinkedConnection): void {
    this.conn = conn;
    for (const l of this.toxics.values()) if (l.on) l.transform = makeTransform(l.toxic, this, l.state);
    this.up = new Pump(conn.client, conn.backend, this.signal, () => this.close());
    this.down = new Pump(conn.backend, conn.client, this.signal, () => this.close());
    this.restage();
    this.up.start();
    this.down.start();
  }

  /** the connection closed: pending sleeps ended (aborted first: what the transforms held is not passed on), timers cleared */
  stop(): void {
    this.links.delete(this);
    this.abort.abort();
    for (const l of this.toxics.values()) l.transform?.stop();
  }

  private stagesOf(stream: ToxicStream): Transform[] {
    const out: Transform[] = [];
    for (const l of this.toxics.values()) if (l.transform !== null && l.toxic.stream === stream) out.push(l.transform);
    return out;
  }

  private restage(): void {
    if (this.up) this.up.stages = this.stagesOf('upstream');
    if (this.down) this.down.stages = this.stagesOf('downstream');
  }
}

/** a toxic's key on a connection: its scope and name */
export function ruleKey(r: ToxicRule): string {
  return `${scopeKey(r.scope)}/${r.toxic.name}`;
}

/** a chunk on its way: its bytes (null: the stream's end) and when it left the stage before (for the first, when it arrived) */
interface Chunk {
  /** null: the stream's end; CLOSE_LINK: the link closed behind the chunks before it */
  readonly buf: Buffer | null | typeof CLOSE_LINK;
  readonly at: number;
}

const cost = (c: Chunk): number => (c.buf instanceof Buffer ? c.buf.length : 0) + CHUNK_COST;
const PASSED = Promise.resolve();

/**
 * Bytes held in every pump's lanes, and the most a latency's large queue may take of them: past it
 * a latency's lane holds the pump's 256 KiB like any other (Toxiproxy's 1,024 chunks per latency
 * and connection have no daemon-wide bound: 3,000 connections could hold 96 GiB)
 */
export const toxicMemory = { held: 0, cap: 256 * 1024 * 1024 };

/**
 * One direction: chunks queued as they arrive (with their time), then passed through the stages in
 * a pipeline, as Toxiproxy runs each toxic in its own goroutine between channels: each stage has
 * its queue and takes its next chunk once it passed the last one on, so that bandwidths each cap the
 * rate (in series they held their pieces one after the other: two of 100 KB/s made 50), and a chunk's
 * time at a stage is when it left the one before, so that each latency adds its own (the second of
 * two had nothing left to wait). When the stages change, the chunks already in them leave first (a
 * toxic removed or changed passes what it held at once): no chunk overtakes another. (exported for its tests)
 */
export class Pump {
  /** the stages chunks meet from now on */
  private current: Transform[] = [];
  private readonly inbox: Chunk[] = [];
  /** the lanes chunks are in (the writer last), and the stages they were made for */
  private lanes: Lane[] = [];
  private laid: Transform[] | null = null;
  /** chunks in the lanes */
  private inLanes = 0;
  /** bytes, and CHUNK_COST a chunk, in the inbox: over HIGH_WATER the source pauses */
  private queued = 0;
  /**
   * the first lane is full: the source pauses until it has room. One budget for the whole pump
   * (256 KiB in the inbox and every lane) left a stage in series with a latency starved while the
   * latency held its chunks: latency 500 ms then bandwidth 1,000 KB/s passed 3 MB in 9 s, not 3.5
   */
  private blocked = false;
  private ended = false;

  /** CLOSE: closes the link once what went before has been written (limit_data's close, at the end of the stages) */
  constructor(private readonly src: Socket, private readonly dst: Socket, readonly signal: AbortSignal, private readonly close: () => void = () => dst.end()) {}

  get stages(): Transform[] {
    return this.current;
  }

  /** the same stages again (a relink that left this direction alone) change nothing */
  set stages(next: Transform[]) {
    if (next.length !== this.current.length || next.some((t, i) => t !== this.current[i])) this.current = next;
  }

  get idle(): boolean {
    return this.inbox.length === 0 && this.inLanes === 0;
  }

  /** the chunks queued, those in the stages included */
  get chunks(): number {
    return this.inbox.length + this.inLanes;
  }

  start(): void {
    this.src.on('data', (buf: Buffer) => {
      this.arrive({ buf, at: performance.now() });
      if (this.blocked || this.queued > HIGH_WATER) this.src.pause();
    });
    this.src.on('end', () => this.arrive({ buf: null, at: performance.now() }));
    this.src.resume();
  }

  private arrive(c: Chunk): void {
    this.inbox.push(c);
    this.queued += cost(c);
    this.feed();
  }

  /** the inbox into the first lane while it has room; stages changed: once the lanes of the old ones are empty */
  private feed(): void {
    while (this.inbox.length && !this.blocked && !this.signal.aborted) {
      if (this.laid !== this.current) {
        if (this.inLanes > 0) return;
        this.laid = this.current;
        let next = new Lane(this, null, null);
        this.lanes = [next];
        for (let i = this.current.length - 1; i >= 0; i--) this.lanes.unshift(next = new Lane(this, this.current[i]!, next));
      }
      const c = this.inbox.shift()!;
      this.queued -= cost(c);
      const room = this.lanes[0]!.put(c);
      if (room !== PASSED) {
        this.blocked = true;
        void room.then(() => {
          this.blocked = false;
          this.feed();
        });
      }
    }
    if (!this.blocked && this.queued < LOW_WATER && this.src.isPaused() && !this.src.destroyed) this.src.resume();
  }

  /** a chunk entered a lane */
  entered(): void {
    this.inLanes++;
  }

  /** a chunk left a lane (passed on, written or dropped) */
  left(): void {
    this.inLanes--;
    if (this.inLanes === 0) this.feed();
  }

  /** the writer's chunk: written (resolves once the destination drained), the end passed on, or the link closed */
  write(buf: Buffer | null | typeof CLOSE_LINK): Promise<void> {
    const dst = this.dst;
    if (buf === CLOSE_LINK) {
      this.close();
      return PASSED;
    }
    if (buf === null) {
      if (!this.ended) {
        this.ended = true;
        dst.end();
      }
      return PASSED;
    }
    if (dst.destroyed || dst.writableEnded) return PASSED;
    if (dst.write(buf)) return PASSED;
    return new Promise((resolve) => {
      const done = () => {
        dst.off('drain', done);
        dst.off('close', done);
        resolve();
      };
      dst.on('drain', done);
      dst.on('close', done);
    });
  }
}

/**
 * One stage's queue (the writer's: no transform): chunks taken one at a time, passed on to the next
 * lane as the transform emits them; a stage emitting into a next lane over its bound (HIGH_WATER, a
 * latency's LATENCY_QUEUE) waits until it is under LOW_WATER (a latency's: under its bound), so
 * that a slicer's slices queue behind a bandwidth in bounded numbers
 */
class Lane {
  private readonly queue: Chunk[] = [];
  private bytes = 0;
  private running = false;
  private room: (() => void) | null = null;
  private readonly emit: Emit;
  /** full over these; room again under LOW (bytes) and MAX_CHUNKS */
  private readonly high: number;
  private readonly low: number;
  private readonly maxChunks: number;
  /**
   * the next lane is full and this one waits to emit: its bound is the pump's 256 KiB meanwhile, so
   * that a latency's 32 MiB holds what is on its way, never what a client that stopped reading left
   */
  private stalled = false;

  constructor(private readonly pump: Pump, private readonly transform: Transform | null, private readonly next: Lane | null) {
    this.emit = (buf) => {
      const room = next!.put({ buf, at: performance.now() });
      if (room === PASSED) return room;
      this.stalled = true;
      return room.then(() => { this.stalled = false; });
    };
    const bound = transform?.queue;
    this.high = bound?.bytes ?? HIGH_WATER;
    this.low = bound?.bytes ?? LOW_WATER;
    this.maxChunks = bound?.chunks ?? Infinity;
  }

  /** the bytes this lane holds before the stage before it waits: its own bound, the pump's while it waits to emit or the daemon's toxics hold their cap */
  private bound(): number {
    return this.stalled || toxicMemory.held > toxicMemory.cap ? HIGH_WATER : this.high;
  }

  /** a chunk queued; resolves when there is room for the next (PASSED at once) */
  put(c: Chunk): Promise<void> {
    this.queue.push(c);
    this.bytes += cost(c);
    // counted before the lane runs: a lane of a closed connection lets its queue go at once
    toxicMemory.held += cost(c);
    this.pump.entered();
    if (!this.running) {
      this.running = true;
      this.run().catch(() => undefined);
    }
    if (this.pump.signal.aborted || (this.bytes <= this.bound() && this.queue.length <= this.maxChunks)) return PASSED;
    return new Promise((resolve) => { this.room = resolve; });
  }

  /** rejects when the connection closed during a transform's hold (the lane stops) */
  private async run(): Promise<void> {
    const signal = this.pump.signal;
    // not running from the moment the loop ends, in the same turn: a chunk the stage before put in
    // a microtask after it (a .finally() on the promise ran later) found it running and stayed
    let c: Chunk | null = null;
    try {
      while (this.queue.length && !signal.aborted) {
        c = this.queue.shift()!;
        const t = this.transform;
        if (t === null) await this.pump.write(c.buf);
        else if (c.buf instanceof Buffer) await t.push(c.buf, c.at, this.emit);
        else {
          // the stream's end or the link's close alike: Toxiproxy's toxics see one closed channel
          // (a slow_close after limit_data holds its close; it skipped straight past)
          const closes = await t.end();
          await this.next!.put(closes === CLOSE_LINK ? { buf: CLOSE_LINK, at: c.at } : c);
        }
        this.bytes -= cost(c);
        toxicMemory.held -= cost(c);
        c = null;
        if (this.room !== null && this.bytes < Math.min(this.low, this.bound()) && this.queue.length < this.maxChunks) {
          this.room();
          this.room = null;
        }
        this.pump.left();
      }
    } finally {
      this.running = false;
      // the connection closed: what this lane held is let go, and the lane before it, waiting for
      // room here, goes on to let its own go (it waited for good: its count was never given back)
      if (signal.aborted || c !== null) {
        for (const left of c === null ? this.queue : [c, ...this.queue]) toxicMemory.held -= cost(left);
        this.queue.length = 0;
        this.bytes = 0;
        this.room?.();
        this.room = null;
      }
    }
  }
}

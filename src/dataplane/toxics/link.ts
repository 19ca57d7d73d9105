// A connection some toxic's scope covers, relayed through its toxics in JS: one pump per
// direction (upstream: client -> backend; downstream: backend -> client) runs each chunk through
// the direction's transforms in order. Toxicity is drawn once per connection and toxic, as
// Toxiproxy draws it per link; a change of the toxics re-links the live connection (a toxic kept
// unchanged keeps its state: limit_data's count, bandwidth's schedule).
import type { Socket } from 'node:net';
import { scopeKey, type Toxic, type ToxicRule, type ToxicStream, type ToxicTarget } from '../../model/toxics.js';
import { makeTransform, toxicFigures, type ToxicHost, type ToxicState, type Transform } from './transforms.js';

/** bytes queued in a pump before its source is paused, and resumed below the low mark */
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
    this.up = new Pump(conn.client, conn.backend, this.signal);
    this.down = new Pump(conn.backend, conn.client, this.signal);
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

/** one direction: chunks queued as they arrive (with their time), passed through the stages one at a time (exported for its tests) */
export class Pump {
  stages: Transform[] = [];
  private readonly queue: Array<{ buf: Buffer | null; at: number }> = [];
  private queued = 0;
  private running = false;
  private ended = false;

  constructor(private readonly src: Socket, private readonly dst: Socket, private readonly signal: AbortSignal) {}

  get idle(): boolean {
    return this.queue.length === 0 && !this.running;
  }

  /** the chunks queued, the one in the stages included */
  get chunks(): number {
    return this.queue.length + (this.running ? 1 : 0);
  }

  start(): void {
    this.src.on('data', (buf: Buffer) => {
      this.queue.push({ buf, at: performance.now() });
      this.queued += buf.length + CHUNK_COST;
      if (this.queued > HIGH_WATER) this.src.pause();
      this.kick();
    });
    this.src.on('end', () => {
      this.queue.push({ buf: null, at: performance.now() });
      this.kick();
    });
    this.src.resume();
  }

  private kick(): void {
    if (this.running) return;
    this.running = true;
    this.run().catch(() => undefined).finally(() => { this.running = false; });
  }

  private async run(): Promise<void> {
    while (this.queue.length && !this.signal.aborted) {
      const { buf, at } = this.queue.shift()!;
      const stages = this.stages;
      if (buf === null) {
        for (const s of stages) await s.end();
        if (!this.ended) {
          this.ended = true;
          this.dst.end();
        }
        continue;
      }
      await this.through(stages, 0, buf, at);
      this.queued -= buf.length + CHUNK_COST;
      if (this.queued < LOW_WATER && this.src.isPaused() && !this.src.destroyed) this.src.resume();
    }
  }

  private through(stages: Transform[], i: number, buf: Buffer, at: number): Promise<void> {
    if (i === stages.length) return this.write(buf);
    return stages[i]!.push(buf, at, (b) => this.through(stages, i + 1, b, at));
  }

  private write(buf: Buffer): Promise<void> {
    const dst = this.dst;
    if (dst.destroyed || dst.writableEnded) return Promise.resolve();
    if (dst.write(buf)) return Promise.resolve();
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

// The etcd v3 store (issue 17): several vpcepd share one state. A key per document,
// `<prefix>/<kind>/<id>`, holding {"schema": N, "body": ...}; a commit is one etcd transaction whose
// compares are the expectations (a key's mod revision, 0 for absent; a kind's: every key under its
// prefix last written at or before a revision), so two daemons racing on the same key never both win; the store's revision is etcd's, a document's version its mod revision;
// watch is etcd's watch from a revision, a compacted revision signalled so that the caller lists
// again. An etcd reset under the daemons (restarted empty, restored from an older snapshot: its
// revisions start again below those already seen, or another cluster answers) is seen in the
// headers of its answers and signalled the same way; the next listing says so (Snapshot.reset).
// Client: `etcd3` (gRPC over @grpc/grpc-js; README "Dependencies and why").
import { Etcd3, type IKeyValue, type IRequestOp, type IResponseHeader, type Watcher } from 'etcd3';
import {
  DOCUMENT_SCHEMA, emptyDocuments, keyOf, openEnvelope, StoreConflict, StoreError, StoreUnavailable,
  type Batch, type Change, type Expectation, type Kind, type KindExpectation, type Snapshot, type Store, type StoreObserver, type Watch, type WatchHandlers,
} from './store.js';
import { EtcdFleet, type FleetLogger } from './etcd-fleet.js';

export interface EtcdOptions {
  /** host:port of each member */
  readonly endpoints: readonly string[];
  /** the keys' prefix (default `vpcep`): several simulations may share one etcd */
  readonly prefix?: string;
  /** how long a start waits for etcd before giving up (ms) */
  readonly connectTimeoutMs?: number;
  /** how long one request waits (ms) before the write answers 503 */
  readonly requestTimeoutMs?: number;
}

const td = new TextDecoder();

export class EtcdStore implements Store {
  readonly location: string;
  private readonly client: Etcd3;
  private readonly prefix: string;
  private readonly watchers = new Set<Watcher>();
  /** each running watch's way to say it is lost (a reset of the store ends every watch) */
  private readonly losers = new Set<(reason: string) => void>();
  private readonly resets: ResetDetector;
  private verifying = false;

  private constructor(o: EtcdOptions) {
    this.location = `etcd://${o.endpoints.join(',')}`;
    this.prefix = `${o.prefix ?? 'vpcep'}/`;
    this.resets = new ResetDetector(this.location, (reason) => {
      for (const lost of [...this.losers]) lost(reason);
    });
    const timeout = o.requestTimeoutMs ?? 5_000;
    this.client = new Etcd3({
      hosts: o.endpoints.map((e) => `http://${e}`),
      dialTimeout: timeout,
      // a deadline on every unary call (a write answers 503 promptly when etcd is gone), none on watch streams
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
    });
  }

  /** connects, or a StoreError naming the address after CONNECTTIMEOUTMS */
  static async open(o: EtcdOptions): Promise<EtcdStore> {
    const store = new EtcdStore(o);
    const wait = o.connectTimeoutMs ?? 10_000;
    const deadline = Date.now() + wait;
    let last = '';
    for (;;) {
      try {
        const answered = store.resets.sent();
        answered((await store.client.kv.range({ key: Buffer.from(store.prefix), limit: 1 }, { deadline: Date.now() + Math.max(200, Math.min(2_000, deadline - Date.now())) })).header);
        return store;
      } catch (err) {
        last = (err as Error).message;
      }
      if (Date.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    store.client.close();
    throw new StoreError(`cannot reach etcd at ${o.endpoints.join(',')} within ${wait / 1000} s (${last}); start etcd, or check --store`);
  }

  private key(kind: Kind, id: string): Buffer {
    return Buffer.from(`${this.prefix}${kind}/${id}`);
  }

  /** kind and id of a stored key, or null for a key of another prefix */
  private parse(key: Buffer): { kind: string; id: string } | null {
    const k = td.decode(key);
    if (!k.startsWith(this.prefix)) return null;
    const rest = k.slice(this.prefix.length);
    const slash = rest.indexOf('/');
    return slash < 0 ? null : { kind: rest.slice(0, slash), id: rest.slice(slash + 1) };
  }

  private open(kind: string, id: string, value: Buffer): unknown {
    let env: { schema?: unknown; body?: unknown };
    try {
      env = JSON.parse(td.decode(value)) as typeof env;
    } catch {
      throw new StoreError(`${this.location}: document ${kind}/${id} is not valid JSON`);
    }
    return openEnvelope(this.location, kind, id, typeof env.schema === 'number' ? env.schema : NaN, JSON.stringify(env.body ?? null));
  }

  private observer: StoreObserver | undefined;

  observe(o: StoreObserver): void {
    this.observer = o;
    o.reachable(true);
  }

  private unavailable(err: unknown): Error {
    if (err instanceof StoreConflict || err instanceof StoreError) return err;
    this.observer?.reachable(false);
    return new StoreUnavailable(this.location, (err as Error).message);
  }

  async load(): Promise<Snapshot> {
    const documents = emptyDocuments();
    const versions = new Map<string, number>();
    let res;
    // a listing sent before a reset was seen may be the old store's: listed again
    for (;;) {
      const answered = this.resets.sent();
      try {
        res = await this.client.kv.range({ key: Buffer.from(this.prefix), range_end: rangeEnd(this.prefix) });
      } catch (err) {
        throw this.unavailable(err);
      }
      if (answered(res.header)) break;
    }
    this.observer?.reachable(true);
    for (const kv of res.kvs) {
      const k = this.parse(kv.key);
      if (!k) continue;
      const value = this.open(k.kind, k.id, kv.value);
      documents.get(k.kind as Kind)!.set(k.id, value);
      versions.set(keyOf(k.kind as Kind, k.id), Number(kv.mod_revision));
    }
    return { revision: Number(res.header.revision), documents, versions, reset: this.resets.taken() };
  }

  async commit(changes: readonly Change[], expectations: readonly Expectation[] = [], kinds: readonly KindExpectation[] = []): Promise<number> {
    // serialised before anything is sent: a bad value fails the batch whole
    const success: IRequestOp[] = changes.map((c) => (c.value === null
      ? { request_delete_range: { key: this.key(c.kind, c.id) } }
      : { request_put: { key: this.key(c.kind, c.id), value: Buffer.from(JSON.stringify({ schema: DOCUMENT_SCHEMA, body: c.value })) } }));
    // a kind's expectation: every key under <prefix><kind>/ last written at or before THROUGH
    const kindRange = (k: KindExpectation) => ({ key: this.key(k.kind, ''), range_end: rangeEnd(`${this.prefix}${k.kind}/`) });
    const t0 = performance.now();
    const answered = this.resets.sent();
    try {
      const res = await this.client.kv.txn({
        compare: [
          ...expectations.map((x) => ({ key: this.key(x.kind, x.id), target: 'Mod' as const, result: 'Equal' as const, mod_revision: x.version })),
          ...kinds.map((k) => ({ ...kindRange(k), target: 'Mod' as const, result: 'Less' as const, mod_revision: k.through + 1 })),
        ],
        success,
        // on a failed compare: the expected keys as they are now, to name those that changed, and
        // the newest key of each kind expected
        failure: [
          ...expectations.map((x) => ({ request_range: { key: this.key(x.kind, x.id) } })),
          ...kinds.map((k) => ({ request_range: { ...kindRange(k), sort_order: 'Descend' as const, sort_target: 'Mod' as const, limit: 1, keys_only: true } })),
        ],
      });
      answered(res.header);
      const o = this.observer;
      if (o) {
        o.reachable(true);
        o.committed((performance.now() - t0) / 1000, res.succeeded ? 'written' : 'conflict');
        if (res.succeeded) o.transaction(1);
      }
      if (res.succeeded) return Number(res.header.revision);
      const current = new Map<string, number>();
      expectations.forEach((x, i) => {
        const now = Number(res.responses[i]?.response_range?.kvs[0]?.mod_revision ?? 0);
        if (now !== x.version) current.set(keyOf(x.kind, x.id), now);
      });
      let through: number | undefined;
      kinds.forEach((k, i) => {
        const newest = res.responses[expectations.length + i]?.response_range?.kvs[0];
        const at = Number(newest?.mod_revision ?? 0);
        if (!newest || at <= k.through) return;
        const key = this.parse(newest.key);
        if (key) current.set(keyOf(key.kind as Kind, key.id), at);
        through = Math.max(through ?? 0, at);
      });
      throw new StoreConflict(current.size ? [...current.keys()] : expectations.map((x) => keyOf(x.kind, x.id)), current, through);
    } catch (err) {
      throw this.unavailable(err);
    }
  }

  watch(from: number, on: WatchHandlers): Watch {
    let watcher: Watcher | undefined;
    let cancelled = false;
    let at = from;
    const deliver = (b: Batch) => {
      if (cancelled) return;
      // etcd's revisions never go back: a batch at or below one delivered is a reset's (or a repeat)
      if (b.revision <= at) return void this.verify(at);
      at = b.revision;
      try {
        on.batch(b);
      } catch {
        // the watcher's callback threw: its problem, reported by its caller
      }
    };
    /** ENDED: etcd cancelled the watch itself (etcd3 forgot it then: a cancel of ours, answered, made etcd3 throw from its stream and the daemon die) */
    const lost = (reason: string, ended = false) => {
      if (cancelled) return;
      cancelled = true;
      this.losers.delete(lost);
      if (watcher && ended) {
        this.watchers.delete(watcher);
        watcher = undefined;
      } else if (watcher) {
        this.watchers.delete(watcher);
        void watcher.cancel().catch(() => undefined);
      }
      try {
        on.compacted(reason);
      } catch {
        // as above
      }
    };
    this.losers.add(lost);
    /** an answer of the watch whose revision is below what it delivered: another member behind, or etcd reset */
    const below = (header: IResponseHeader) => {
      if (!cancelled && Number(header.revision) < at) void this.verify(at);
    };
    void this.client.watch().prefix(this.prefix).startRevision(String(from + 1)).create().then((w) => {
      watcher = w;
      if (cancelled) return void w.cancel().catch(() => undefined);
      this.watchers.add(w);
      // etcd3 creates the watch again after a lost stream (etcd restarted): the answer's header says where etcd is
      w.on('connected', (res: { header: IResponseHeader }) => below(res.header));
      w.on('data', (res) => {
        below(res.header);
        if (Number(res.compact_revision) > 0) return lost(`revision ${from} is compacted (now from ${res.compact_revision}): list again`);
        // the events of one transaction share its revision: one batch each
        let batch: { revision: number; changes: Change[] } | null = null;
        for (const ev of res.events) {
          const kv = ev.kv as IKeyValue;
          const k = this.parse(kv.key);
          if (!k) continue;
          const revision = Number(kv.mod_revision);
          if (batch && batch.revision !== revision) deliver(batch);
          if (!batch || batch.revision !== revision) batch = { revision, changes: [] };
          let value: unknown = null;
          if (ev.type !== 'Delete') {
            try {
              value = this.open(k.kind, k.id, kv.value);
            } catch (err) {
              return lost((err as Error).message);
            }
            // a put of a null body (another client's) is not a deletion: the listing reports the document
            if (value === null) return lost(`${this.location}: document ${k.kind}/${k.id} is null`);
          }
          batch.changes.push({ kind: k.kind as Kind, id: k.id, value });
        }
        if (batch) deliver(batch);
      });
      // etcd cancels a watch whose start revision is compacted (3.4 gives no reason): list again either way
      w.on('error', (err) => lost(`revision ${from} is compacted, or etcd cancelled the watch (${err.message}): list again`, true));
    }, (err: Error) => lost(`the watch could not start: ${err.message}`));
    return {
      // No batch is delivered once cancelled, whatever etcd does: its answer to the cancel is not
      // waited for (an etcd that does not answer held a stop until it returned)
      cancel: async () => {
        cancelled = true;
        this.losers.delete(lost);
        if (watcher) {
          this.watchers.delete(watcher);
          void watcher.cancel().catch(() => undefined);
        }
      },
    };
  }

  /**
   * the fleet of the daemons sharing this store (etcd-fleet.ts): its keys under `<prefix>.fleet/`,
   * outside the documents' range (a load or a watch never sees them)
   */
  fleet(leaseTtlS: number, log: FleetLogger): EtcdFleet {
    return new EtcdFleet(this.client.namespace(`${this.prefix.slice(0, -1)}.fleet/`), leaseTtlS, log, (up) => this.observer?.reachable(up), () => this.resets.sent());
  }

  /**
   * a linearizable read, its revision held against FLOOR, a revision the store had already reached:
   * below it, etcd was reset (every watch is told); a member behind answers at or past it
   */
  private async verify(floor: number): Promise<void> {
    // one at a time: the batches a reset store sends a watch each ask
    if (this.verifying) return;
    this.verifying = true;
    const answered = this.resets.sent(floor);
    try {
      answered((await this.client.kv.range({ key: Buffer.from(this.prefix), range_end: rangeEnd(this.prefix), count_only: true })).header);
    } catch {
      // etcd unreachable: its next answer tells
    } finally {
      this.verifying = false;
    }
  }

  /** test hook: compacts etcd's history up to REVISION */
  async compactForTest(revision: number): Promise<void> {
    await this.client.kv.compact({ revision, physical: true });
  }

  async close(): Promise<void> {
    // closing the client ends its watches: nothing is waited for from an etcd that may not answer
    this.watchers.clear();
    this.client.close();
  }
}

/**
 * Whether etcd's answers show the store reset under this daemon: another cluster answers (its id
 * changed), or a revision below one already seen (etcd restarted empty, or restored from an older
 * backup; its revisions never go back otherwise). An answer is held against the highest revision
 * seen when its request was sent: answers to requests under way come back in any order.
 */
class ResetDetector {
  private cluster: string | undefined;
  private highest = 0;
  /** raised by each reset: an answer to a request sent before it is not held against the new store */
  private epoch = 0;
  /** the last reset no listing has reported yet */
  private pending: string | undefined;

  constructor(private readonly location: string, private readonly reset: (reason: string) => void) {}

  /**
   * before a request: what its answer's header goes to, which answers false when a reset was seen
   * since the request was sent (the answer may be the old store's). FLOOR: a revision the store had
   * reached before, when the caller knows a higher one than the answers so far
   */
  sent(floor = 0): (header: IResponseHeader) => boolean {
    const epoch = this.epoch;
    const below = Math.max(this.highest, floor);
    return (header) => {
      if (epoch !== this.epoch) return false;
      const revision = Number(header.revision);
      const why = this.cluster !== undefined && header.cluster_id !== this.cluster ? `its cluster id changed from ${this.cluster} to ${header.cluster_id}`
        : revision < below ? `its revision went back from ${below} to ${revision}` : undefined;
      this.cluster = header.cluster_id;
      if (!why) {
        this.highest = Math.max(this.highest, revision);
        return true;
      }
      this.epoch++;
      this.highest = revision;
      this.pending = `etcd at ${this.location} was reset (restarted empty, or restored from an older backup): ${why}`;
      this.reset(`${this.pending}: list again`);
      return true;
    };
  }

  /** the reset seen since the last listing, once */
  taken(): string | undefined {
    const p = this.pending;
    this.pending = undefined;
    return p;
  }
}

/** the end of etcd's range of every key starting with PREFIX */
function rangeEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix);
  b[b.length - 1]! += 1;
  return b;
}

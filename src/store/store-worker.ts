// The SQLite store's own thread: a worker with the one connection to the database after start-up
// (WAL, synchronous=NORMAL or FULL: the store's durability). It runs each group of batches as one
// transaction and answers once it is committed (FULL: on disk), so a slow or stalled disk delays the writes' answers, never the main thread that admits
// data-plane connections and answers reads.
//
// Group commit: the batches handed over while a transaction is on its way to disk wait and go
// into the next transaction together, one fsync for all of them. Inside it each batch is checked
// against its expectations in order under a savepoint, and gets a revision of its own; a batch
// whose expectation fails is rolled back alone (a conflict), the others commit.
//
// locking_mode=EXCLUSIVE before the first WAL access keeps the WAL index in the worker's heap
// instead of a mmap'd -shm file (sqlite.org/wal.html "Use of WAL without shared memory"): a page
// fault on a frozen filesystem blocks while holding the process's memory-map lock, which would
// stall every thread of the process, the main one included. mmap_size=0 for the same reason.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** one document write: kind, id, JSON body (null: delete) */
export type Row = readonly [kind: string, id: string, body: string | null];
/** one expectation: kind, id, version (0: absent) */
export type Expect = readonly [kind: string, id: string, version: number];
/** one stored document: kind, id, JSON body, version, schema */
export type StoredRow = readonly [kind: string, id: string, body: string, version: number, schema: number];

export type BatchResult = { readonly revision: number } | { readonly conflict: readonly string[] };
export interface Loaded { readonly rows: StoredRow[]; readonly revision: number }
export interface Since { readonly compacted: boolean; readonly batches: Array<{ revision: number; rows: Row[] }> }

// Plain JavaScript run with `eval: true`: the same code under tsc's dist/ and vitest's src/.
const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
let db;
try {
  db = new Database(workerData.file, { fileMustExist: true });
  db.pragma('locking_mode = EXCLUSIVE');
  db.pragma('mmap_size = 0');
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = ' + workerData.synchronous);
  // each batch runs under a savepoint, whose sub-journal (the pages' contents before it) is a
  // temporary file by default: written page by page at every commit, it doubled the writes
  db.pragma('temp_store = MEMORY');
} catch (err) {
  // a plain Error: the worker's error event carries its message (a SqliteError's arrived empty)
  throw new Error(workerData.file + ': ' + (err.code ? err.code + ': ' : '') + err.message);
}
const all = db.prepare('SELECT kind, id, body, version, schema FROM documents');
const rev = db.prepare('SELECT value, compacted FROM revision');
const setRev = db.prepare('UPDATE revision SET value = ?');
const compact = db.prepare('UPDATE revision SET compacted = ? WHERE compacted < ?');
const trim = db.prepare('DELETE FROM changes WHERE revision <= ?');
const versionOf = db.prepare('SELECT version FROM documents WHERE kind = ? AND id = ?').pluck();
const put = db.prepare('INSERT INTO documents (kind, id, body, version, schema) VALUES (?, ?, ?, ?, ?) ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body, version = excluded.version, schema = excluded.schema');
const del = db.prepare('DELETE FROM documents WHERE kind = ? AND id = ?');
const log = db.prepare('INSERT INTO changes (revision, seq, kind, id, body) VALUES (?, ?, ?, ?, ?)');
const since = db.prepare('SELECT revision, kind, id, body FROM changes WHERE revision > ? ORDER BY revision, seq');
class Conflict { constructor(keys) { this.keys = keys; } }
const one = db.transaction((b, revision) => {
  const failed = [];
  for (const [kind, id, version] of b.expects) if ((versionOf.get(kind, id) ?? 0) !== version) failed.push(kind + '/' + id);
  if (failed.length) throw new Conflict(failed);
  let seq = 0;
  for (const [kind, id, body] of b.rows) {
    body === null ? del.run(kind, id) : put.run(kind, id, body, revision, workerData.schema);
    log.run(revision, seq++, kind, id, body);
  }
});
const group = db.transaction((batches) => {
  let { value: revision } = rev.get();
  const results = batches.map((b) => {
    try {
      one(b, revision + 1);
      return { revision: ++revision };
    } catch (err) {
      if (err instanceof Conflict) return { conflict: err.keys };
      throw err;
    }
  });
  setRev.run(revision);
  const keepFrom = revision - workerData.window;
  if (keepFrom > 0) { trim.run(keepFrom); compact.run(keepFrom, keepFrom); }
  return results;
});
const pause = new Int32Array(new SharedArrayBuffer(4));
parentPort.on('message', (m) => {
  if (m.stallMs) return void Atomics.wait(pause, 0, 0, m.stallMs);
  if (m.close) {
    db.close();
    return void parentPort.close();
  }
  try {
    if (m.batches) return void parentPort.postMessage({ seq: m.seq, results: group(m.batches) });
    if (m.pragma) return void parentPort.postMessage({ seq: m.seq, pragma: db.pragma(m.pragma, { simple: true }) });
    if (m.since !== undefined) {
      const r = rev.get();
      if (m.since < r.compacted) return void parentPort.postMessage({ seq: m.seq, since: { compacted: true, batches: [] } });
      const batches = [];
      for (const [revision, kind, id, body] of since.raw().all(m.since)) {
        if (!batches.length || batches[batches.length - 1].revision !== revision) batches.push({ revision, rows: [] });
        batches[batches.length - 1].rows.push([kind, id, body]);
      }
      return void parentPort.postMessage({ seq: m.seq, since: { compacted: false, batches } });
    }
    const loaded = db.transaction(() => ({ rows: all.raw().all(), revision: rev.get().value }))();
    parentPort.postMessage({ seq: m.seq, loaded });
  } catch (err) {
    parentPort.postMessage({ seq: m.seq, error: { code: err.code, message: err.message } });
  }
});
`;

interface Reply {
  seq: number;
  results?: BatchResult[];
  loaded?: Loaded;
  since?: Since;
  pragma?: unknown;
  error?: StoreFailure;
}

interface Waiter {
  resolve(reply: Reply): void;
  reject(err: Error): void;
}

export interface StoreFailure {
  readonly code?: string;
  readonly message: string;
}

interface Queued {
  readonly rows: readonly Row[];
  readonly expects: readonly Expect[];
  resolve(r: BatchResult): void;
  reject(err: Error): void;
}

export interface WorkerOptions {
  /** revisions of the change log kept for watchers */
  readonly window: number;
  /** the schema version written with every document */
  readonly schema: number;
  /** SQLite's synchronous setting of the commits: NORMAL (a crash of the process loses nothing) or FULL (nor an OS crash) */
  readonly synchronous: 'NORMAL' | 'FULL';
}

export class StoreWorker {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, Waiter>();
  private seq = 0;
  private dead: Error | undefined;
  /** batches waiting for the transaction on its way to disk (group commit) */
  private queued: Queued[] = [];
  private writing = false;
  /** close() asked: the worker stays referenced until it exits */
  private closing = false;
  /** transactions made, and batches in them (metrics, tests) */
  groups = 0;
  batches = 0;
  /** told each transaction's batch count once it is written (metrics) */
  onTransaction: ((batches: number) => void) | undefined;

  constructor(file: string, private readonly failure: (f: StoreFailure) => Error, o: WorkerOptions) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(SOURCE, { eval: true, workerData: { file, driver, window: o.window, schema: o.schema, synchronous: o.synchronous } });
    // Referenced only while a request waits: an idle store does not keep the process alive.
    this.worker.unref();
    this.worker.on('message', (m: Reply) => {
      const w = this.waiting.get(m.seq);
      this.waiting.delete(m.seq);
      // closing: held until it exits (a commit's answer that came after close() must not let the
      // process end first: the daemon stopped without its last steps, its SNAT route left)
      if (!this.waiting.size && !this.closing) this.worker.unref();
      if (m.error) w?.reject(this.failure(m.error));
      else w?.resolve(m);
    });
    // A worker that dies fails what waits and every later request: nothing is acknowledged unwritten.
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(`the store's worker thread exited (code ${code})`)));
  }

  private fail(err: Error): void {
    this.dead ??= err;
    for (const w of this.waiting.values()) w.reject(this.failure({ message: err.message }));
    this.waiting.clear();
    for (const q of this.queued) q.reject(this.failure({ message: err.message }));
    this.queued = [];
  }

  private request(message: object): Promise<Reply> {
    if (this.dead) return Promise.reject(this.failure({ message: this.dead.message }));
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      if (!this.waiting.size) this.worker.ref();
      this.waiting.set(seq, { resolve, reject });
      this.worker.postMessage({ seq, ...message });
    });
  }

  /** every document and the revision, read in one transaction */
  async load(): Promise<Loaded> {
    return (await this.request({ load: true })).loaded!;
  }

  /** the batches after revision FROM, or compacted when the change log no longer reaches back to it */
  async since(from: number): Promise<Since> {
    return (await this.request({ since: from })).since!;
  }

  /** a setting of the worker's connection as SQLite reports it (synchronous, temp_store, ...) */
  async pragma(name: 'synchronous' | 'temp_store' | 'journal_mode' | 'locking_mode'): Promise<unknown> {
    return (await this.request({ pragma: name })).pragma;
  }

  /** resolves once the batch is committed on disk (or refused by an expectation); batches commit in the order of the calls */
  commit(rows: readonly Row[], expects: readonly Expect[]): Promise<BatchResult> {
    if (this.dead) return Promise.reject(this.failure({ message: this.dead.message }));
    return new Promise((resolve, reject) => {
      this.queued.push({ rows, expects, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    if (this.writing || !this.queued.length) return;
    const group = this.queued;
    this.queued = [];
    this.writing = true;
    this.groups++;
    this.batches += group.length;
    this.request({ batches: group.map((q) => ({ rows: q.rows, expects: q.expects })) }).then(
      (reply) => {
        this.onTransaction?.(group.length);
        group.forEach((q, i) => q.resolve(reply.results![i]!));
      },
      (err: Error) => group.forEach((q) => q.reject(err)),
    ).finally(() => {
      this.writing = false;
      this.pump();
    });
  }

  /** test hook: the worker blocks for MS before its next request, as on a stalled disk */
  stallForTest(ms: number): void {
    this.worker.postMessage({ stallMs: ms });
  }

  /** after the requests under way */
  async close(): Promise<void> {
    if (this.dead) return;
    const exited = new Promise((resolve) => this.worker.once('exit', resolve));
    this.closing = true;
    this.worker.ref();
    this.worker.postMessage({ close: true });
    await exited;
  }
}

// The SQLite store's own thread: a worker with the one connection to the database after start-up
// (WAL, synchronous=FULL). It runs each batch as one transaction and answers once it is on disk,
// so a slow or stalled disk delays the writes' answers, never the main thread that admits
// data-plane connections and answers reads.
//
// locking_mode=EXCLUSIVE before the first WAL access keeps the WAL index in the worker's heap
// instead of a mmap'd -shm file (sqlite.org/wal.html "Use of WAL without shared memory"): a page
// fault on a frozen filesystem blocks while holding the process's memory-map lock, which would
// stall every thread of the process, the main one included. mmap_size=0 for the same reason.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** one document write: kind, id, JSON body (null: delete) */
export type Row = readonly [kind: string, id: string, body: string | null];

// Plain JavaScript run with `eval: true`: the same code under tsc's dist/ and vitest's src/.
const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('locking_mode = EXCLUSIVE');
db.pragma('mmap_size = 0');
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
const all = db.prepare('SELECT kind, id, body FROM documents');
const put = db.prepare('INSERT INTO documents (kind, id, body) VALUES (?, ?, ?) ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body');
const del = db.prepare('DELETE FROM documents WHERE kind = ? AND id = ?');
const batch = db.transaction((rows) => {
  for (const [kind, id, body] of rows) body === null ? del.run(kind, id) : put.run(kind, id, body);
});
const pause = new Int32Array(new SharedArrayBuffer(4));
parentPort.on('message', (m) => {
  if (m.stallMs) return void Atomics.wait(pause, 0, 0, m.stallMs);
  if (m.close) {
    db.close();
    return void parentPort.close();
  }
  try {
    if (m.rows) batch(m.rows);
    parentPort.postMessage({ seq: m.seq, rows: m.rows ? undefined : all.raw().all() });
  } catch (err) {
    parentPort.postMessage({ seq: m.seq, error: { code: err.code, message: err.message } });
  }
});
`;

interface Waiter {
  resolve(rows: Row[] | undefined): void;
  reject(err: Error): void;
}

export interface StoreFailure {
  readonly code?: string;
  readonly message: string;
}

export class StoreWorker {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, Waiter>();
  private seq = 0;
  private dead: Error | undefined;

  constructor(file: string, private readonly failure: (f: StoreFailure) => Error) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(SOURCE, { eval: true, workerData: { file, driver } });
    // Referenced only while a request waits: an idle store does not keep the process alive.
    this.worker.unref();
    this.worker.on('message', (m: { seq: number; rows?: Row[]; error?: StoreFailure }) => {
      const w = this.waiting.get(m.seq);
      this.waiting.delete(m.seq);
      if (!this.waiting.size) this.worker.unref();
      if (m.error) w?.reject(this.failure(m.error));
      else w?.resolve(m.rows);
    });
    // A worker that dies fails what waits and every later request: nothing is acknowledged unwritten.
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => this.fail(new Error(`the store's worker thread exited (code ${code})`)));
  }

  private fail(err: Error): void {
    this.dead ??= err;
    for (const w of this.waiting.values()) w.reject(this.failure({ message: err.message }));
    this.waiting.clear();
  }

  private request(rows: readonly Row[] | undefined): Promise<Row[] | undefined> {
    if (this.dead) return Promise.reject(this.failure({ message: this.dead.message }));
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      if (!this.waiting.size) this.worker.ref();
      this.waiting.set(seq, { resolve, reject });
      this.worker.postMessage({ seq, rows });
    });
  }

  /** every document as [kind, id, body] */
  async load(): Promise<Row[]> {
    return (await this.request(undefined))!;
  }

  /** resolves once the batch is committed on disk; batches are committed in the order of the calls */
  async commit(rows: readonly Row[]): Promise<void> {
    await this.request(rows);
  }

  /** test hook: the worker blocks for MS before its next request, as on a stalled disk */
  stallForTest(ms: number): void {
    this.worker.postMessage({ stallMs: ms });
  }

  /** after the requests under way */
  async close(): Promise<void> {
    if (this.dead) return;
    const exited = new Promise((resolve) => this.worker.once('exit', resolve));
    this.worker.ref();
    this.worker.postMessage({ close: true });
    await exited;
  }
}

// The SQLite store (better-sqlite3): one file in the data dir, WAL journal with synchronous=FULL
// so that a commit is on disk before the API answers, and the schema versioned by user_version.
// After the start-up checks, reads and commits run in a worker thread (store-worker.ts), off the
// thread that admits connections.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { StoreWorker, type Row, type StoreFailure } from './store-worker.js';
import { fsyncDir } from './durable-file.js';
import { KINDS, StoreError, StoreFull, type Change, type Kind, type Snapshot, type Store } from './store.js';

/** Each entry migrates the schema from version i to i + 1. Append, never edit. */
const MIGRATIONS: ReadonlyArray<(db: Database.Database) => void> = [
  (db) => {
    db.exec(`CREATE TABLE documents (
      kind TEXT NOT NULL,
      id   TEXT NOT NULL,
      body TEXT NOT NULL,
      PRIMARY KEY (kind, id)
    ) WITHOUT ROWID`);
  },
];
export const SCHEMA_VERSION = MIGRATIONS.length;
export const DB_FILE = 'vpcep.db';

/** A database is created whole (create()): an existing file without the schema is never reset silently. */
function schemaless(file: string, what: string): StoreError {
  return new StoreError(`${file}: ${what}. vpcepd never resets a database it did not create: ` +
    'move the file aside to start afresh, or restore it from a backup.');
}

/** SQLite says SQLITE_FULL, or an I/O error whose cause is ENOSPC (a WAL append that found no space) */
function isDiskFull(f: StoreFailure): boolean {
  return f.code === 'SQLITE_FULL' || (f.code?.startsWith('SQLITE_IOERR') === true && /no space|full/i.test(f.message));
}

function migrate(db: Database.Database, from: number): void {
  for (let v = from; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      MIGRATIONS[v]!(db);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

/** A new database: built whole as <file>.new, then renamed into place, so that FILE is never half-made. */
function create(file: string): void {
  const tmp = `${file}.new`;
  try {
    for (const leftover of [tmp, `${tmp}-wal`, `${tmp}-shm`, `${tmp}-journal`]) fs.rmSync(leftover, { force: true });
    const db = new Database(tmp);
    try {
      migrate(db, 0);
      db.pragma('journal_mode = WAL');
    } finally {
      db.close();
    }
    fs.renameSync(tmp, file);
    fsyncDir(path.dirname(file));
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw new StoreError(`${file}: cannot create the database: ${(err as Error).message}`);
  }
}

export class SqliteStore implements Store {
  readonly location: string;
  private readonly worker: StoreWorker;

  private constructor(file: string) {
    this.location = file;
    this.worker = new StoreWorker(file, (f) => (isDiskFull(f) ? new StoreFull(path.dirname(file)) : Object.assign(new Error(f.message), { code: f.code })));
  }

  /** opens <dataDir>/vpcep.db (the data dir exists), creating it only when the file is absent */
  static open(dataDir: string): SqliteStore {
    const file = path.join(dataDir, DB_FILE);
    if (!fs.existsSync(file)) create(file);
    let db: Database.Database | undefined;
    try {
      // Read before any pragma writes: a file vpcepd did not make is left exactly as it was.
      if (fs.statSync(file).size === 0) throw schemaless(file, 'the file is empty (0 bytes)');
      db = new Database(file, { fileMustExist: true });
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) {
        throw new StoreError(`${file}: schema version ${version} is newer than this vpcepd understands (${SCHEMA_VERSION}); use a newer vpcepd`);
      }
      if (version === 0) throw schemaless(file, 'the database has no vpcep schema');
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      migrate(db, version);
      const check = db.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new StoreError(`${file}: the database fails its integrity check (${String(check)})`);
      db.close();
      return new SqliteStore(file);
    } catch (err) {
      db?.close();
      if (err instanceof StoreError) throw err;
      throw new StoreError(`${file}: cannot open the database: ${(err as Error).message}. ` +
        'vpcepd never resets a database it cannot read: move the file aside to start afresh.');
    }
  }

  async load(): Promise<Snapshot> {
    const out = new Map<Kind, Map<string, unknown>>(KINDS.map((k) => [k, new Map()]));
    for (const [kind, id, body] of await this.worker.load()) {
      const bucket = out.get(kind as Kind);
      if (!bucket) throw new StoreError(`${this.location}: unknown document kind ${JSON.stringify(kind)}`);
      try {
        bucket.set(id, JSON.parse(body!));
      } catch {
        throw new StoreError(`${this.location}: document ${kind}/${id} is not valid JSON`);
      }
    }
    return out;
  }

  /** serialised here (a bad value fails the whole batch before anything is sent), committed by the worker */
  async commit(changes: readonly Change[]): Promise<void> {
    if (!changes.length) return;
    const rows: Row[] = changes.map((c) => [c.kind, c.id, c.value === null ? null : JSON.stringify(c.value)]);
    await this.worker.commit(rows);
  }

  /** test hook: commits wait MS longer, as on a stalled disk */
  stallCommitsForTest(ms: number): void {
    this.worker.stallForTest(ms);
  }

  async close(): Promise<void> {
    await this.worker.close();
  }
}

// The SQLite store (better-sqlite3): one file in the data dir, WAL journal, and the schema
// versioned by user_version. Durability as configured (store_durability): synchronous=NORMAL, a
// commit is in the OS's page cache before the API answers and survives a crash of the daemon;
// synchronous=FULL, it is on disk before the API answers and survives an OS crash or a power cut.
// After the start-up checks, reads and commits run in a worker thread (store-worker.ts), off the
// thread that admits connections. Revisions, versions and compare-and-swap as store.ts states them:
// a row per document with the revision of its last write, a change log of the last WATCH_WINDOW
// revisions for watchers, commits grouped while one is on its way to disk.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { StoreWorker, type Loaded, type Row, type StoreFailure, type StoredRow } from './store-worker.js';
import { fsyncDir } from './durable-file.js';
import { DEFAULTS } from '../model/defaults.js';
import { SQLITE_SYNCHRONOUS, type StoreDurability } from '../model/store-spec.js';
import {
  DOCUMENT_SCHEMA, emptyDocuments, keyOf, openEnvelope, StoreConflict, StoreError, StoreFull,
  type Batch, type Change, type Expectation, type StoreObserver, type Kind, type Snapshot, type Store, type Watch, type WatchHandlers,
} from './store.js';

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
  // issue 17: a version per document (the revision of its last write), its schema, the global
  // revision and a change log for watchers; documents written before count as revision 1
  (db) => {
    db.exec(`ALTER TABLE documents ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
      ALTER TABLE documents ADD COLUMN schema INTEGER NOT NULL DEFAULT 1;
      CREATE TABLE revision (value INTEGER NOT NULL, compacted INTEGER NOT NULL);
      INSERT INTO revision (value, compacted) VALUES (1, 1);
      CREATE TABLE changes (
        revision INTEGER NOT NULL,
        seq      INTEGER NOT NULL,
        kind     TEXT NOT NULL,
        id       TEXT NOT NULL,
        body     TEXT,
        PRIMARY KEY (revision, seq)
      ) WITHOUT ROWID`);
  },
];
/** SQLite's quick_check findings, one per line (up to 100 of them): the first three and a count of the rest */
function firstLines(text: string): string {
  const lines = text.split('\n').filter((l) => l && !l.startsWith('*** in database'));
  const more = lines.length - 3;
  return lines.slice(0, 3).join('; ') + (more > 0 ? `; and ${more} more finding${more === 1 ? '' : 's'}` : '');
}

/** revisions of the change log kept for watchers; a watcher further behind lists again */
export const WATCH_WINDOW = 10_000;
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

/** free space under which an I/O error at open is taken for a full disk */
const FULL_BELOW_BYTES = 1024 * 1024;

const isIoError = (err: unknown) => /^SQLITE_(IOERR|CANTOPEN)/.test(String((err as { code?: unknown }).code ?? ''));

/** bytes this user may still write under DIR (root may use the blocks kept for it); Infinity when unknown */
function spaceLeft(dir: string): number {
  try {
    const s = fs.statfsSync(dir);
    return (process.getuid?.() === 0 ? s.bfree : s.bavail) * s.bsize;
  } catch {
    return Infinity;
  }
}

function migrate(db: Database.Database, from: number): void {
  for (let v = from; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      MIGRATIONS[v]!(db);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

/**
 * A new database: built whole as <file>.new, then renamed into place, so that FILE is never
 * half-made. The write-ahead log of a database removed after a crash is refused, not paired with the
 * new file (SQLite would replay its pages into it: the removed data back, or a corrupt file);
 * an empty one, or a shared-memory index alone, holds nothing and goes.
 */
function create(file: string): void {
  const tmp = `${file}.new`;
  const wal = `${file}-wal`;
  if ((fs.statSync(wal, { throwIfNoEntry: false })?.size ?? 0) > 0) {
    throw new StoreError(`${file} is absent but its write-ahead log ${wal} is there (a database removed after a crash): vpcepd will not pair it with a new database; ` +
      `move ${wal} and ${file}-shm aside to start afresh, or put the database back`);
  }
  try {
    for (const orphan of [wal, `${file}-shm`]) fs.rmSync(orphan, { force: true });
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

/** PRAGMA synchronous's numbers (sqlite.org/pragma.html#pragma_synchronous) */
const SQLITE_LEVEL = { NORMAL: 1, FULL: 2 } as const;

interface Watcher {
  readonly on: WatchHandlers;
  /** the last revision delivered */
  at: number;
  /** batches committed while the watcher catches up from the change log */
  held: Batch[] | null;
  cancelled: boolean;
}

export interface SqliteOptions {
  /** revisions of the change log kept for watchers (default WATCH_WINDOW) */
  readonly watchWindow?: number;
  /** what an acknowledged commit survives (default DEFAULTS.storeDurability): see store-spec.ts */
  readonly durability?: StoreDurability;
}

export class SqliteStore implements Store {
  readonly location: string;
  private readonly worker: StoreWorker;
  private readonly watchers = new Set<Watcher>();

  /** the documents as open() read them, for the first load() if nothing was committed since */
  private first: Loaded | undefined;

  private constructor(file: string, o: SqliteOptions, first?: Loaded) {
    this.location = file;
    this.first = first;
    this.worker = new StoreWorker(
      file,
      (f) => (isDiskFull(f) ? new StoreFull(path.dirname(file)) : Object.assign(new Error(f.message), { code: f.code })),
      { window: o.watchWindow ?? WATCH_WINDOW, schema: DOCUMENT_SCHEMA, synchronous: SQLITE_SYNCHRONOUS[o.durability ?? DEFAULTS.storeDurability] },
    );
  }

  /** opens <dataDir>/vpcep.db (the data dir exists), creating it only when the file is absent */
  static open(dataDir: string, o: SqliteOptions = {}): SqliteStore {
    const file = path.join(dataDir, DB_FILE);
    if (!fs.existsSync(file)) create(file);
    let db: Database.Database | undefined;
    try {
      // Read before any pragma writes: a file vpcepd did not make is left exactly as it was.
      if (fs.statSync(file).size === 0) throw schemaless(file, 'the file is empty (0 bytes)');
      // read-only, it opens and reads here and fails only in the store's thread, at its first write
      // its write-ahead log and index too (a root run's, left by a SIGKILL): the first write failed in the store's thread, a stack trace
      for (const part of [file, `${file}-wal`, `${file}-shm`]) {
        try {
          fs.accessSync(part, fs.constants.R_OK | fs.constants.W_OK);
        } catch (err) {
          if (part !== file && (err as NodeJS.ErrnoException).code === 'ENOENT') continue;
          throw new StoreError(`${part}: the database${part === file ? '' : '\'s ' + (part.endsWith('-wal') ? 'write-ahead log' : 'shared-memory index')} is not writable by this user (uid ${process.getuid?.() ?? '?'}): vpcepd writes its state there; give it write access, or use another --data-dir`);
        }
      }
      db = new Database(file, { fileMustExist: true });
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) {
        throw new StoreError(`${file}: schema version ${version} is newer than this vpcepd understands (${SCHEMA_VERSION}); use a newer vpcepd`);
      }
      if (version === 0) throw schemaless(file, 'the database has no vpcep schema');
      db.pragma('journal_mode = WAL');
      // the migrations and the start-up checks: on disk before the daemon goes on, whatever the durability
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      migrate(db, version);
      const check = db.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new StoreError(`${file}: the database fails its integrity check (${firstLines(String(check))}). ` +
        'vpcepd never resets a database it cannot read: move the file aside to start afresh.');
      checkTables(db, file);
      // the first load, read here while the worker thread starts: a start does not wait for the
      // worker to boot, read every document and copy them across (issue 16: a restart's time)
      const first = readAll(db);
      db.close();
      return new SqliteStore(file, o, first);
    } catch (err) {
      db?.close();
      if (err instanceof StoreError) throw err;
      const dir = path.dirname(file);
      if (isDiskFull({ code: (err as { code?: string }).code, message: (err as Error).message }) || (isIoError(err) && spaceLeft(dir) < FULL_BELOW_BYTES)) {
        // opening writes (the WAL and its index): on a full disk that is an I/O error, and the
        // database itself is whole, so the remedy is space, not moving the file aside
        throw new StoreError(`${file}: cannot open the database: ${(err as Error).message}: the disk is full: free space under ${dir} (the database is left as it was)`);
      }
      throw new StoreError(`${file}: cannot open the database: ${(err as Error).message}. ` +
        'vpcepd never resets a database it cannot read: move the file aside to start afresh.');
    }
  }

  async load(): Promise<Snapshot> {
    const documents = emptyDocuments();
    const versions = new Map<string, number>();
    const primed = this.first;
    this.first = undefined;
    const { rows, revision } = primed ?? await this.worker.load();
    for (const [kind, id, body, version, schema] of rows) {
      // checked first: an unknown kind is a start-up error, not a document skipped
      const value = openEnvelope(this.location, kind, id, schema, body);
      documents.get(kind as Kind)!.set(id, value);
      versions.set(keyOf(kind as Kind, id), version);
    }
    return { revision, documents, versions };
  }

  private observer: StoreObserver | undefined;

  observe(o: StoreObserver): void {
    this.observer = o;
    this.worker.onTransaction = (batches) => o.transaction(batches);
    // a file in the data dir: reachable while the daemon runs (a full disk is StoreFull, counted by the API)
    o.reachable(true);
  }

  /** serialised here (a bad value fails the whole batch before anything is sent), committed by the worker */
  async commit(changes: readonly Change[], expectations: readonly Expectation[] = []): Promise<number> {
    this.first = undefined;
    const rows: Row[] = changes.map((c) => [c.kind, c.id, c.value === null ? null : JSON.stringify(c.value)]);
    const t0 = performance.now();
    const result = await this.worker.commit(rows, expectations.map((x) => [x.kind, x.id, x.version]));
    this.observer?.committed((performance.now() - t0) / 1000, 'conflict' in result ? 'conflict' : 'written');
    if ('conflict' in result) throw new StoreConflict(result.conflict);
    if (rows.length) this.publish({ revision: result.revision, changes });
    return result.revision;
  }

  watch(from: number, on: WatchHandlers): Watch {
    const w: Watcher = { on, at: from, held: [], cancelled: false };
    this.watchers.add(w);
    void this.worker.since(from).then((since) => {
      if (w.cancelled) return;
      const held = w.held!;
      w.held = null;
      if (since.compacted) {
        this.watchers.delete(w);
        return void deliver(() => on.compacted(`revision ${from} is compacted: list again`));
      }
      for (const b of since.batches) this.send(w, { revision: b.revision, changes: b.rows.map(changeOfRow) });
      for (const b of held) this.send(w, b);
    }, (err: Error) => {
      this.watchers.delete(w);
      if (!w.cancelled) deliver(() => on.compacted(`the change log cannot be read: ${err.message}`));
    });
    return {
      cancel: async () => {
        w.cancelled = true;
        this.watchers.delete(w);
      },
    };
  }

  private publish(b: Batch): void {
    for (const w of this.watchers) {
      if (w.held) w.held.push(b);
      else this.send(w, b);
    }
  }

  private send(w: Watcher, b: Batch): void {
    if (w.cancelled || b.revision <= w.at) return;
    w.at = b.revision;
    deliver(() => w.on.batch(b));
  }

  /** transactions written and the batches they held (group commit) */
  get commitGroups(): { groups: number; batches: number } {
    return { groups: this.worker.groups, batches: this.worker.batches };
  }

  /** the durability the commits run with, as SQLite reports it on the worker's connection */
  async durability(): Promise<StoreDurability> {
    const level = await this.worker.pragma('synchronous');
    const found = (Object.keys(SQLITE_SYNCHRONOUS) as StoreDurability[]).find((d) => SQLITE_LEVEL[SQLITE_SYNCHRONOUS[d]] === level);
    if (!found) throw new StoreError(`${this.location}: unexpected synchronous=${level}`);
    return found;
  }

  /** test hook: a setting of the commits' connection */
  settingForTest(name: 'temp_store' | 'journal_mode' | 'locking_mode'): Promise<unknown> {
    return this.worker.pragma(name);
  }

  /** test hook: commits wait MS longer, as on a stalled disk */
  stallCommitsForTest(ms: number): void {
    this.worker.stallForTest(ms);
  }

  async close(): Promise<void> {
    this.watchers.clear();
    await this.worker.close();
  }
}

/** every document and the revision, in one read transaction (the worker's load, on this connection) */
/** the tables the store's thread writes, and the one row of revision: a file that lacks them is not a vpcep database, or a damaged one */
function checkTables(db: Database.Database, file: string): void {
  const tables = new Set(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]);
  const missing = ['documents', 'revision', 'changes'].filter((t) => !tables.has(t));
  const rows = missing.includes('revision') ? 1 : (db.prepare('SELECT count(*) FROM revision').pluck().get() as number);
  if (missing.length || rows !== 1) {
    const what = missing.length ? `lacks the table${missing.length > 1 ? 's' : ''} ${missing.join(', ')}` : `has ${rows} revision rows, not one`;
    throw new StoreError(`${file}: the database ${what} of its schema version ${SCHEMA_VERSION} (damaged, or not vpcepd's). ` +
      'vpcepd never resets a database it cannot read: move the file aside to start afresh.');
  }
}

function readAll(db: Database.Database): Loaded {
  return db.transaction(() => ({
    rows: db.prepare('SELECT kind, id, body, version, schema FROM documents').raw().all() as StoredRow[],
    revision: (db.prepare('SELECT value FROM revision').get() as { value: number }).value,
  }))();
}

function changeOfRow([kind, id, body]: Row): Change {
  return { kind: kind as Kind, id, value: body === null ? null : JSON.parse(body) };
}

/** a watcher's own failure never reaches the store */
function deliver(fn: () => void): void {
  try {
    fn();
  } catch {
    // the watcher's callback threw: its problem, reported by its caller
  }
}

// The SQLite store (better-sqlite3): one file in the data dir, WAL journal with synchronous=FULL
// so that a commit is on disk before the API answers, and the schema versioned by user_version.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { KINDS, StoreError, type Change, type Kind, type Snapshot, type Store } from './store.js';

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

export class SqliteStore implements Store {
  readonly location: string;
  private readonly db: Database.Database;
  private readonly put: Database.Statement;
  private readonly del: Database.Statement;
  private readonly batch: (changes: readonly Change[]) => void;

  private constructor(file: string, db: Database.Database) {
    this.location = file;
    this.db = db;
    this.put = db.prepare('INSERT INTO documents (kind, id, body) VALUES (?, ?, ?) ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body');
    this.del = db.prepare('DELETE FROM documents WHERE kind = ? AND id = ?');
    this.batch = db.transaction((changes: readonly Change[]) => {
      for (const c of changes) {
        if (c.value === null) this.del.run(c.kind, c.id);
        else this.put.run(c.kind, c.id, JSON.stringify(c.value));
      }
    });
  }

  static open(dataDir: string): SqliteStore {
    try {
      fs.mkdirSync(dataDir, { recursive: true });
    } catch (err) {
      throw new StoreError(`cannot create the data dir ${dataDir}: ${(err as Error).message}`);
    }
    const file = path.join(dataDir, DB_FILE);
    let db: Database.Database | undefined;
    try {
      db = new Database(file);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) {
        throw new StoreError(`${file}: schema version ${version} is newer than this vpcepd understands (${SCHEMA_VERSION}); use a newer vpcepd`);
      }
      for (let v = version; v < SCHEMA_VERSION; v++) {
        db.transaction(() => {
          MIGRATIONS[v]!(db!);
          db!.pragma(`user_version = ${v + 1}`);
        })();
      }
      const check = db.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new StoreError(`${file}: the database fails its integrity check (${String(check)})`);
      return new SqliteStore(file, db);
    } catch (err) {
      db?.close();
      if (err instanceof StoreError) throw err;
      throw new StoreError(`${file}: cannot open the database: ${(err as Error).message}. ` +
        'vpcepd never resets a database it cannot read: move the file aside to start afresh.');
    }
  }

  async load(): Promise<Snapshot> {
    const out = new Map<Kind, Map<string, unknown>>(KINDS.map((k) => [k, new Map()]));
    const rows = this.db.prepare('SELECT kind, id, body FROM documents').all() as Array<{ kind: string; id: string; body: string }>;
    for (const r of rows) {
      const bucket = out.get(r.kind as Kind);
      if (!bucket) throw new StoreError(`${this.location}: unknown document kind ${JSON.stringify(r.kind)}`);
      try {
        bucket.set(r.id, JSON.parse(r.body));
      } catch {
        throw new StoreError(`${this.location}: document ${r.kind}/${r.id} is not valid JSON`);
      }
    }
    return out;
  }

  async commit(changes: readonly Change[]): Promise<void> {
    if (changes.length) this.batch(changes);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

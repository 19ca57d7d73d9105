import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { DB_FILE, SCHEMA_VERSION, SqliteStore } from '../../src/store/sqlite.js';
import { StoreError } from '../../src/store/store.js';
import { tempDir } from '../helpers.js';

const dir = () => tempDir('vpcep-store-');

describe('SQLite store', () => {
  it('keeps committed documents across a reopen, and deletes with value null', async () => {
    const d = dir();
    const s = SqliteStore.open(d);
    await s.commit([
      { kind: 'service', id: 'a', value: { n: 1 } },
      { kind: 'service', id: 'b', value: { n: 2 } },
      { kind: 'endpoint', id: 'a', value: { n: 3 } },
    ]);
    await s.commit([{ kind: 'service', id: 'b', value: null }, { kind: 'service', id: 'a', value: { n: 9 } }]);
    await s.close();
    const again = SqliteStore.open(d);
    const snap = await again.load();
    expect([...snap.documents.get('service')!]).toEqual([['a', { n: 9 }]]);
    expect(snap.documents.get('endpoint')!.get('a')).toEqual({ n: 3 });
    await again.close();
  });

  it('the first load, read at open while the worker starts, is what the worker reads; a commit before it is seen', async () => {
    const d = dir();
    const s = SqliteStore.open(d);
    await s.commit([{ kind: 'service', id: 'a', value: { n: 1 } }, { kind: 'endpoint', id: 'e', value: { n: 2 } }]);
    await s.close();
    const again = SqliteStore.open(d);
    const first = await again.load();
    const second = await again.load();
    expect(first).toEqual(second);
    expect(first.revision).toBeGreaterThan(0);
    await again.close();
    // a commit between the open and the first load: the load is the worker's, with it
    const third = SqliteStore.open(d);
    const revision = await third.commit([{ kind: 'service', id: 'b', value: { n: 3 } }]);
    const snap = await third.load();
    expect(snap.revision).toBe(revision);
    expect(snap.documents.get('service')!.get('b')).toEqual({ n: 3 });
    await third.close();
  });

  it('applies a batch whole or not at all', async () => {
    const d = dir();
    const s = SqliteStore.open(d);
    await s.commit([{ kind: 'service', id: 'keep', value: { v: 1 } }]);
    // The second document cannot be serialised: the first must not land either.
    await expect(s.commit([
      { kind: 'service', id: 'keep', value: { v: 2 } },
      { kind: 'service', id: 'bad', value: { big: 1n } },
    ])).rejects.toThrow();
    const snap = await s.load();
    expect([...snap.documents.get('service')!]).toEqual([['keep', { v: 1 }]]);
    await s.close();
  });

  it('runs in WAL mode and records the schema version', async () => {
    const d = dir();
    await SqliteStore.open(d).close();
    const db = new Database(path.join(d, DB_FILE));
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    db.close();
  });

  it('commits with synchronous=NORMAL by default (durability process) and FULL with durability power', async () => {
    const byDefault = SqliteStore.open(dir());
    expect(await byDefault.durability()).toBe('process');
    await byDefault.close();
    for (const durability of ['process', 'power'] as const) {
      const s = SqliteStore.open(dir(), { durability });
      expect(await s.durability()).toBe(durability);
      await s.commit([{ kind: 'service', id: 'a', value: { durability } }]);
      expect((await s.load()).documents.get('service')!.get('a')).toEqual({ durability });
      await s.close();
    }
  });

  it('keeps the savepoints\' sub-journals in memory, the WAL index in the thread\'s heap', async () => {
    const s = SqliteStore.open(dir());
    // temp_store 2 = MEMORY: as a temporary file, the sub-journal doubled a commit's writes
    expect(await s.settingForTest('temp_store')).toBe(2);
    expect(await s.settingForTest('journal_mode')).toBe('wal');
    expect(await s.settingForTest('locking_mode')).toBe('exclusive');
    await s.close();
  });

  it('refuses a file that is not a database, and leaves it as it was', () => {
    const d = dir();
    const file = path.join(d, DB_FILE);
    fs.writeFileSync(file, 'this is not a database '.repeat(200));
    const before = fs.readFileSync(file);
    expect(() => SqliteStore.open(d)).toThrow(StoreError);
    expect(() => SqliteStore.open(d)).toThrow(/vpcep\.db: cannot open the database: .*never resets/);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
  });

  it('refuses a database written by a newer schema', () => {
    const d = dir();
    const db = new Database(path.join(d, DB_FILE));
    db.pragma(`user_version = ${SCHEMA_VERSION + 5}`);
    db.close();
    expect(() => SqliteStore.open(d)).toThrow(/schema version \d+ is newer than this vpcepd understands/);
  });

  it('a zero-byte vpcep.db is a start-up error, not silently reinitialised', () => {
    const d = dir();
    const file = path.join(d, DB_FILE);
    fs.writeFileSync(file, '');
    const before = fs.statSync(file);
    expect(() => SqliteStore.open(d)).toThrow(/vpcep\.db: the file is empty \(0 bytes\)\. vpcepd never resets/);
    const after = fs.statSync(file);
    expect(after.size).toBe(0);
    expect(after.mtimeMs).toBe(before.mtimeMs);
    expect(fs.readdirSync(d)).toEqual([DB_FILE]);
  });

  it('a schema-less SQLite file (user_version 0, no table) is a start-up error, not silently reinitialised', () => {
    const d = dir();
    const file = path.join(d, DB_FILE);
    const db = new Database(file);
    db.pragma('page_size = 4096');
    db.exec('VACUUM');
    db.close();
    const bytes = fs.readFileSync(file);
    const before = fs.statSync(file);
    expect(() => SqliteStore.open(d)).toThrow(/vpcep\.db: the database has no vpcep schema/);
    expect(fs.readFileSync(file).equals(bytes)).toBe(true);
    expect(fs.statSync(file).mtimeMs).toBe(before.mtimeMs);
  });

  it('creates a database whole, only when the file is absent, and leaves no temporary file', async () => {
    const d = dir();
    fs.writeFileSync(path.join(d, `${DB_FILE}.new`), 'a half-made leftover of a crash');
    await SqliteStore.open(d).close();
    expect(fs.readdirSync(d).filter((f) => f.startsWith(`${DB_FILE}.new`))).toEqual([]);
    const db = new Database(path.join(d, DB_FILE), { fileMustExist: true });
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    db.close();
  });

  it('a stalled commit does not hold the event loop, and resolves only once written, in order', async () => {
    const d = dir();
    const s = SqliteStore.open(d);
    s.stallCommitsForTest(300);
    const order: string[] = [];
    const first = s.commit([{ kind: 'service', id: 'a', value: { n: 1 } }]).then(() => order.push('a'));
    const second = s.commit([{ kind: 'service', id: 'a', value: { n: 2 } }]).then(() => order.push('b'));
    // The loop turns while the disk stalls: a timer fires before either commit is acknowledged.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(order).toEqual([]);
    await Promise.all([first, second]);
    expect(order).toEqual(['a', 'b']);
    expect((await s.load()).documents.get('service')!.get('a')).toEqual({ n: 2 });
    await s.close();
  });
});

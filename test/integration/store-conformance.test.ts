// One conformance suite for every Store (src/store/store.ts), run against the SQLite store and the
// etcd store alike: revisions and versions, compare-and-swap won exactly once by N racing commits,
// absent-expectation claims, a conflict failing only its own commit, watch order, a compacted watch
// telling the caller to list again, validation on load, and durability (SQLite: SIGKILL of the
// writing process; etcd: an etcd restart).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { Etcd3 } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { EtcdStore } from '../../src/store/etcd.js';
import { STORE_DURABILITIES } from '../../src/model/store-spec.js';
import { DB_FILE, SqliteStore } from '../../src/store/sqlite.js';
import { StoreConflict, StoreError, type Batch, type Store } from '../../src/store/store.js';
import { ROOT, tempDir, waitFor } from '../helpers.js';
import { describeWithEtcd, type TestEtcd } from './etcd.js';

interface Subject {
  /** a fresh, empty store */
  open(): Promise<Store>;
  /** a store on which revisions up to the current one minus a few are compacted */
  compacted(s: Store): Promise<number>;
  /** writes a document of schema 99 under kind/id behind the store's back */
  corrupt(s: Store, kind: string, id: string): Promise<void>;
  /** a store on the same data */
  reopen(s: Store): Promise<Store>;
}

let etcd: TestEtcd | undefined;
let prefixes = 0;

const sqlite: Subject = {
  open: async () => SqliteStore.open(tempDir('vpcep-conf-'), { watchWindow: 3 }),
  compacted: async (s) => {
    for (let i = 0; i < 6; i++) await s.commit([{ kind: 'meta', id: 'n', value: i }]);
    return (await s.load()).revision - 5;
  },
  corrupt: async (s, kind, id) => {
    const file = s.location;
    await s.close();
    const db = new Database(file);
    db.prepare('INSERT INTO documents (kind, id, body, version, schema) VALUES (?, ?, ?, 1, 99)').run(kind, id, '{}');
    db.close();
  },
  reopen: async (s) => {
    await s.close();
    return SqliteStore.open(path.dirname(s.location));
  },
};

const etcdSubject: Subject = {
  open: async () => EtcdStore.open({ endpoints: [etcd!.endpoint], prefix: `conf${++prefixes}`, connectTimeoutMs: 5_000 }),
  compacted: async (s) => {
    for (let i = 0; i < 6; i++) await s.commit([{ kind: 'meta', id: 'n', value: i }]);
    const now = (await s.load()).revision;
    await (s as EtcdStore).compactForTest(now - 1);
    return now - 5;
  },
  corrupt: async (s, kind, id) => {
    const c = new Etcd3({ hosts: `http://${etcd!.endpoint}` });
    await c.put(`conf${prefixes}/${kind}/${id}`).value(JSON.stringify({ schema: 99, body: {} }));
    c.close();
  },
  reopen: async (s) => {
    await s.close();
    return EtcdStore.open({ endpoints: [etcd!.endpoint], prefix: `conf${prefixes}`, connectTimeoutMs: 20_000 });
  },
};

function conformance(name: string, subject: () => Subject): void {
  describe(`Store conformance: ${name}`, () => {
    it('raises the revision with each commit; a document\'s version is the revision of its last write', async () => {
      const s = await subject().open();
      const r0 = (await s.load()).revision;
      const r1 = await s.commit([{ kind: 'service', id: 'a', value: { n: 1 } }, { kind: 'service', id: 'b', value: { n: 1 } }]);
      const r2 = await s.commit([{ kind: 'service', id: 'a', value: { n: 2 } }]);
      const r3 = await s.commit([{ kind: 'service', id: 'b', value: null }]);
      expect(r1).toBeGreaterThan(r0);
      expect(r2).toBeGreaterThan(r1);
      expect(r3).toBeGreaterThan(r2);
      const snap = await s.load();
      expect(snap.revision).toBe(r3);
      expect(snap.documents.get('service')).toEqual(new Map([['a', { n: 2 }]]));
      expect(snap.versions.get('service/a')).toBe(r2);
      expect(snap.versions.has('service/b')).toBe(false);
      await s.close();
    });

    it('compare-and-swap: of 20 racing commits expecting the same version exactly one wins, the others name the key', async () => {
      const s = await subject().open();
      const v = await s.commit([{ kind: 'account', id: 'quota', value: { used: 0 } }]);
      const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) =>
        s.commit([{ kind: 'account', id: 'quota', value: { used: 1, by: i } }, { kind: 'endpoint', id: `e${i}`, value: { i } }], [{ kind: 'account', id: 'quota', version: v }])));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(lost).toHaveLength(19);
      for (const r of lost) {
        expect(r.reason).toBeInstanceOf(StoreConflict);
        expect((r.reason as StoreConflict).keys).toEqual(['account/quota']);
      }
      // the losers wrote nothing, not even their other document
      const snap = await s.load();
      expect(snap.documents.get('endpoint')!.size).toBe(1);
      const winner = (snap.documents.get('account')!.get('quota') as { by: number }).by;
      expect([...snap.documents.get('endpoint')!.keys()]).toEqual([`e${winner}`]);
      await s.close();
    });

    it('absent expectations are claims: one of 10 racing writers takes a value, a freed value can be taken again', async () => {
      const s = await subject().open();
      const claim = (who: number) => s.commit([{ kind: 'claim', id: 'ip/10.0.0.5', value: { holder: `e${who}` } }], [{ kind: 'claim', id: 'ip/10.0.0.5', version: 0 }]);
      const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => claim(i)));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      await expect(claim(99)).rejects.toThrow(StoreConflict);
      const { versions } = await s.load();
      await s.commit([{ kind: 'claim', id: 'ip/10.0.0.5', value: null }], [{ kind: 'claim', id: 'ip/10.0.0.5', version: versions.get('claim/ip/10.0.0.5')! }]);
      await expect(claim(100)).resolves.toBeGreaterThan(0);
      await s.close();
    });

    it('watch delivers the committed batches after a revision, in order, deletes as null', async () => {
      const s = await subject().open();
      const from = await s.commit([{ kind: 'service', id: 'early', value: { n: 0 } }]);
      const seen: Batch[] = [];
      const w = s.watch(from, { batch: (b) => seen.push(b), compacted: (why) => { throw new Error(why); } });
      const revs: number[] = [];
      for (let i = 1; i <= 5; i++) revs.push(await s.commit([{ kind: 'service', id: `s${i}`, value: { n: i } }, { kind: 'meta', id: 'last', value: i }]));
      revs.push(await s.commit([{ kind: 'service', id: 'early', value: null }]));
      await waitFor(() => seen.length === 6, 10_000, 'six batches');
      expect(seen.map((b) => b.revision)).toEqual(revs);
      expect(seen[0]!.changes).toEqual(expect.arrayContaining([{ kind: 'service', id: 's1', value: { n: 1 } }, { kind: 'meta', id: 'last', value: 1 }]));
      expect(seen[5]!.changes).toEqual([{ kind: 'service', id: 'early', value: null }]);
      await w.cancel();
      // a watch from an older revision replays what came after it
      const replay: Batch[] = [];
      const again = s.watch(revs[2]!, { batch: (b) => replay.push(b), compacted: (why) => { throw new Error(why); } });
      await waitFor(() => replay.length === 3, 10_000, 'three replayed batches');
      expect(replay.map((b) => b.revision)).toEqual(revs.slice(3));
      await again.cancel();
      await s.close();
    });

    it('a watch from a compacted revision is told to list again', async () => {
      const s = await subject().open();
      const old = await subject().compacted(s);
      let why = '';
      const w = s.watch(old, { batch: () => undefined, compacted: (reason) => { why = reason; } });
      await waitFor(() => why !== '', 10_000, 'the compacted signal');
      expect(why).toMatch(/compacted/);
      await w.cancel();
      await s.close();
    });

    it('a watch from a compacted revision beside a live one is told to list again, and the live one goes on (etcd3 threw "Failed to find watcher" from its stream for the cancel of a watch etcd had cancelled: the daemon died)', async () => {
      const s = await subject().open();
      const live: number[] = [];
      const first = s.watch((await s.load()).revision, { batch: (b) => live.push(b.revision), compacted: (why) => { throw new Error(why); } });
      // the live watch in place first (etcd3 takes a cancelled creation for the first watch still waiting for its id)
      const before = await s.commit([{ kind: 'meta', id: 'before', value: 1 }]);
      await waitFor(() => live.includes(before) || null, 10_000, 'the live watch in place');
      const old = await subject().compacted(s);
      let why = '';
      const w = s.watch(old, { batch: () => undefined, compacted: (reason) => { why = reason; } });
      await waitFor(() => why !== '', 10_000, 'the compacted signal');
      expect(why).toMatch(/compacted/);
      // a while for etcd's answer to a cancel of that watch, which etcd3 no longer knows
      await new Promise((r) => setTimeout(r, 500));
      const rev = await s.commit([{ kind: 'meta', id: 'after', value: 1 }]);
      await waitFor(() => live.includes(rev) || null, 10_000, 'the live watch carries on');
      await w.cancel();
      await first.cancel();
      await s.close();
    });

    it('refuses a document of an unknown schema on load, naming kind and id', async () => {
      const s = await subject().open();
      await s.commit([{ kind: 'service', id: 'fine', value: {} }]);
      await subject().corrupt(s, 'endpoint', 'from-the-future');
      const again = name === 'sqlite' ? await subject().reopen(s) : s;
      await expect(again.load()).rejects.toThrow(StoreError);
      await expect(again.load()).rejects.toThrow(/endpoint\/from-the-future has schema version 99/);
      await again.close();
    });
  });
}

conformance('sqlite', () => sqlite);

describe('Store conformance: sqlite durability', () => {
  it.each(STORE_DURABILITIES)('every commit acknowledged before a SIGKILL of the writing process is there after it, group commits included (durability %s)', async (durability) => {
    const dir = tempDir('vpcep-conf-kill-');
    // a child that commits as fast as it can, 8 in flight (grouped), and prints each acknowledged id
    const script = `
      import { SqliteStore } from ${JSON.stringify(path.join(ROOT, 'dist/store/sqlite.js'))};
      const s = SqliteStore.open(${JSON.stringify(dir)}, { durability: ${JSON.stringify(durability)} });
      if ((await s.durability()) !== ${JSON.stringify(durability)}) throw new Error('not the durability asked for');
      let n = 0;
      const writer = async () => { for (;;) { const id = 'e' + (n++); await s.commit([{ kind: 'endpoint', id, value: { id } }], [{ kind: 'endpoint', id, version: 0 }]); process.stdout.write(id + '\\n'); } };
      for (let i = 0; i < 8; i++) void writer();
    `;
    // a file, not `-e`: --input-type=module would reach the store's eval'd worker too
    const file = path.join(dir, 'writer.mjs');
    fs.writeFileSync(file, script);
    const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (b) => { out += b; });
    await waitFor(() => out.split('\n').length > 300, 30_000, '300 acknowledged commits');
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const acked = out.split('\n').slice(0, -1);
    const s = SqliteStore.open(dir);
    const stored = (await s.load()).documents.get('endpoint')!;
    for (const id of acked) expect(stored.has(id), id).toBe(true);
    expect(stored.size).toBeGreaterThanOrEqual(acked.length);
    expect(s.location).toBe(path.join(dir, DB_FILE));
    await s.close();
  });
});

describeWithEtcd('Store conformance: etcd', (e) => {
  etcd = e;

  conformance('etcd', () => etcdSubject);

  it('an acknowledged write survives an etcd restart', async () => {
    const s = await etcdSubject.open();
    const rev = await s.commit([{ kind: 'endpoint', id: 'kept', value: { ok: true } }]);
    await s.close();
    await etcd!.stop();
    await etcd!.start();
    const again = await EtcdStore.open({ endpoints: [etcd!.endpoint], prefix: `conf${prefixes}`, connectTimeoutMs: 20_000 });
    const snap = await again.load();
    expect(snap.documents.get('endpoint')!.get('kept')).toEqual({ ok: true });
    expect(snap.versions.get('endpoint/kept')).toBe(rev);
    await again.close();
  });

  it('an unreachable etcd at start is a clear error naming the address', async () => {
    await expect(EtcdStore.open({ endpoints: ['127.0.0.1:9'], connectTimeoutMs: 1_000 })).rejects.toThrow(/cannot reach etcd at 127\.0\.0\.1:9 within 1 s/);
  });
});

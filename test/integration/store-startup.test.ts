// vpcepd as a child process refusing what would be unsafe to start on: the token file, the data
// dir, the database file and its documents. Each refusal is exit 1 with one clear line, no stack.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { DB_FILE, SqliteStore } from '../../src/store/sqlite.js';
import { freePort, spawnDaemon, tempDir, type ChildDaemon } from '../helpers.js';
import { asRoot, rootOnly, tmpfs } from './disk.js';

const running: ChildDaemon[] = [];
async function start(args: string[], env: Record<string, string> = {}): Promise<ChildDaemon> {
  const d = await spawnDaemon(args, env);
  running.push(d);
  return d;
}
afterEach(async () => {
  for (const d of running.splice(0)) {
    if (d.proc.exitCode === null && d.proc.signalCode === null) {
      d.proc.kill('SIGKILL');
      await d.exited;
    }
  }
});

/** starts vpcepd on DATA expecting a refusal; returns its output */
export async function refused(data: string, env: Record<string, string> = { VPCEP_TOKEN: '' }, args: string[] = []): Promise<string> {
  const d = await start(['--data-dir', data, ...args], env);
  const { code } = await d.exited;
  const out = d.output();
  expect(code, out).toBe(1);
  expect(out).not.toMatch(/\n\s+at /);
  return out;
}

describe('the default account\'s token file', () => {
  it.each([['empty', ''], ['whitespace', ' \n\t\n'], ['short', 'abc123\n']])(
    'a token file that is %s is refused at start, not an empty-header credential',
    async (_what, content) => {
      const data = tempDir();
      const file = path.join(data, 'token');
      fs.writeFileSync(file, content);
      const out = await refused(data);
      expect(out).toContain(`the token file ${file} is`);
      expect(out).toContain('remove it to have a new token generated');
      expect(fs.readFileSync(file, 'utf8')).toBe(content);
    },
  );

  it('a token path that is a directory is a one-line start-up error, not a stack trace', async () => {
    const data = tempDir();
    fs.mkdirSync(path.join(data, 'token'));
    const out = await refused(data);
    expect(out).toContain(`cannot read the token file ${path.join(data, 'token')} (EISDIR)`);
  });

  it('a VPCEP_TOKEN that is blank, short or wrapped in white space is a usage error (exit 2), not a credential no header can carry', async () => {
    for (const token of ['   ', 'x', ' spaced token ']) {
      const d = await start(['--data-dir', tempDir()], { VPCEP_TOKEN: token });
      const { code } = await d.exited;
      expect([code, d.output()]).toEqual([2, expect.stringContaining('VPCEP_TOKEN must be 8-256 characters, and not begin or end with white space')]);
    }
  });

  it('a metrics token equal to the default account\'s token (VPCEP_TOKEN) is refused in one line, as an account\'s is', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'metrics.yaml');
    fs.writeFileSync(file, 'metrics: { token: same-token-0123456789 }\n');
    const out = await refused(path.join(dir, 'data'), { VPCEP_TOKEN: 'same-token-0123456789' }, ['--config', file]);
    expect(out).toContain(`vpcepd: cannot start: ${file}: invalid configuration: metrics.token: the same token as the default account's (VPCEP_TOKEN or <data-dir>/token)\n`);
  });

  it('a config file that cannot be read says so in one line (it is no invalid configuration)', async () => {
    const dir = tempDir();
    const out = await refused(path.join(dir, 'data'), { VPCEP_TOKEN: '' }, ['--config', path.join(dir, 'missing.yaml')]);
    expect(out).toMatch(new RegExp(`vpcepd: cannot start: ${path.join(dir, 'missing.yaml').replace(/[.]/g, '\\.')}: cannot read the config file: ENOENT[^\n]*\n`));
    expect(out).not.toContain('invalid configuration');
  });

  it.skipIf(!asRoot)(rootOnly('a full disk at first start leaves no empty token file behind, and says so in one line', 'mount a small tmpfs'), async () => {
    const disk = tmpfs('64k');
    try {
      disk.fill();
      const out = await refused(disk.dir);
      expect(out).toContain(`cannot write the token file ${path.join(disk.dir, 'token')} (ENOSPC)`);
      expect(fs.readdirSync(disk.dir)).toEqual(['filler']);
      // with the token given, the data dir's own files: the disk named as the cause, not the directory
      const given = await refused(disk.dir, { VPCEP_TOKEN: 'a-token-of-16-chars' });
      expect(given).toMatch(/\(ENOSPC\): the disk is full: free space under /);
      expect(given).not.toContain('give --data-dir a directory');
    } finally {
      disk.unmount();
    }
  });
});

describe('the data dir', () => {
  it.skipIf(!asRoot)(rootOnly('a restart on a full disk says the disk is full, not that the database is unreadable, and the same data dir starts once space is back', 'mount a small tmpfs'), async () => {
    const disk = tmpfs('4m');
    try {
      const data = path.join(disk.dir, 'data');
      const first = await start(['--data-dir', data], { VPCEP_TOKEN: '' });
      first.proc.kill('SIGTERM');
      expect((await first.exited).code).toBe(0);
      const db = fs.readFileSync(path.join(data, DB_FILE));
      disk.fill();
      const out = await refused(data);
      expect(out).toContain(`the disk is full: free space under ${data} (the database is left as it was)`);
      expect(out).not.toContain('move the file aside');
      expect(fs.readFileSync(path.join(data, DB_FILE))).toEqual(db);
      disk.free();
      const again = await start(['--data-dir', data], { VPCEP_TOKEN: '' });
      expect((await fetch(`${again.url}/`)).status).toBe(200);
    } finally {
      for (const d of running.splice(0)) {
        d.proc.kill('SIGKILL');
        await d.exited;
      }
      disk.unmount();
    }
  });

  it.each([
    ['a damaged record, with a newline and a terminal escape', 'sqlite\n\u001b[31mRED\nline3', /belongs to the store "sqlite\\n\\u001b\[31mRED\\nline3", not sqlite \(.*\/store\)/],
    ['an empty record', '', /\/store is empty: it names the store the data dir belongs to/],
  ])('the data dir\'s store record: %s is refused in one line that shows it quoted', async (_what, content, message) => {
    const data = tempDir();
    fs.writeFileSync(path.join(data, 'store'), content);
    const out = await refused(data);
    expect(out).toMatch(message);
    expect(out).not.toContain('\u001b');
    expect(fs.readFileSync(path.join(data, 'store'), 'utf8')).toBe(content);
  });

  it('the API and DNS on one address by flags (or variables): refused naming both settings, not blamed on another process', async () => {
    const port = await freePort();
    const d = await spawnDaemon(['--data-dir', tempDir()], { VPCEP_TOKEN: '', VPCEP_DNS_LISTEN: `127.0.0.1:${port}` }, port);
    running.push(d);
    expect((await d.exited).code).toBe(1);
    const out = d.output();
    expect(out).toContain(`dns.listen (flag --dns-listen, env VPCEP_DNS_LISTEN) 127.0.0.1:${port} is also listen (flag --listen, env VPCEP_LISTEN), the API's`);
    expect(out).not.toContain('EADDRINUSE');
  });

  it('--data-dir /proc/nope fails fast with a clear message instead of spinning', async () => {
    const out = await refused('/proc/nope/data');
    expect(out).toContain('the data dir /proc/nope/data is not a writable directory');
  });

  it('a data dir that is a file is refused', async () => {
    const file = path.join(tempDir(), 'plain');
    fs.writeFileSync(file, 'x');
    const out = await refused(file);
    expect(out).toContain(`the data dir ${file} is not a writable directory (ENOTDIR)`);
  });

  it('a second vpcepd on a data dir in use is refused in one line naming the first (it advised moving the live database aside, or both failed); one SIGKILLed leaves it to the next start; a clean stop frees it', async () => {
    const data = tempDir();
    const first = await start(['--data-dir', data], { VPCEP_TOKEN: '' });
    const out = await refused(data);
    expect(out).toContain(`vpcepd: cannot start: the data dir ${data} is in use by another vpcepd (pid ${first.proc.pid}, ${path.join(data, 'vpcepd.pid')})`);
    expect(out).not.toContain('move the file aside');
    first.proc.kill('SIGKILL');
    await first.exited;
    // its pid file stays: the next daemon sees its process gone and takes the data dir
    expect(fs.readlinkSync(path.join(data, 'vpcepd.pid'))).toBe(String(first.proc.pid));
    const second = await start(['--data-dir', data], { VPCEP_TOKEN: '' });
    expect(fs.readlinkSync(path.join(data, 'vpcepd.pid'))).toBe(String(second.proc.pid));
    second.proc.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
    expect(() => fs.lstatSync(path.join(data, 'vpcepd.pid'))).toThrow();
  });

  it('a pid file naming a live process that is no vpcepd (its pid reused after a SIGKILL or a reboot) is taken over; a directory in its place is named', async () => {
    const data = tempDir();
    fs.symlinkSync(String(process.pid), path.join(data, 'vpcepd.pid'));
    const d = await start(['--data-dir', data], { VPCEP_TOKEN: '' });
    expect(d.proc.exitCode, d.output()).toBe(null);
    expect(fs.readlinkSync(path.join(data, 'vpcepd.pid'))).toBe(String(d.proc.pid));
    d.proc.kill('SIGTERM');
    await d.exited;
    const other = tempDir();
    fs.mkdirSync(path.join(other, 'vpcepd.pid'));
    expect(await refused(other)).toContain(`vpcepd: cannot start: ${path.join(other, 'vpcepd.pid')} is a directory: remove it`);
  });

  it('a pid file naming a live vpcepd of another data dir (a pid reused after a reboot by the other daemon) is taken over: it named that daemon as the holder', async () => {
    const other = await start(['--data-dir', tempDir()], { VPCEP_TOKEN: '' });
    const data = tempDir();
    fs.symlinkSync(String(other.proc.pid), path.join(data, 'vpcepd.pid'));
    const d = await start(['--data-dir', data], { VPCEP_TOKEN: '' });
    expect(d.proc.exitCode, d.output()).toBe(null);
    expect(fs.readlinkSync(path.join(data, 'vpcepd.pid'))).toBe(String(d.proc.pid));
    // the one that holds it is still named
    expect(await refused(data)).toContain(`is in use by another vpcepd (pid ${d.proc.pid}`);
  });

  it.skipIf(!asRoot)(rootOnly('a second vpcepd on the data dir in use reached by a bind mount is refused, naming the first, whose pid file stays (paths differ: it was taken for a leftover, its pid file removed)', 'bind-mount a directory'), async () => {
    const data = tempDir();
    const bound = tempDir();
    execFileSync('mount', ['--bind', data, bound]);
    try {
      const first = await start(['--data-dir', data], { VPCEP_TOKEN: '' });
      expect(await refused(bound)).toContain(`is in use by another vpcepd (pid ${first.proc.pid}`);
      expect(fs.readlinkSync(path.join(data, 'vpcepd.pid'))).toBe(String(first.proc.pid));
      first.proc.kill('SIGTERM');
      await first.exited;
    } finally {
      execFileSync('umount', [bound]);
    }
  });

  it('two vpcepd started at once on one empty data dir: one runs, the other is refused in one line (they raced for the new database: stack traces, both failed)', async () => {
    for (let round = 0; round < 3; round++) {
      const data = tempDir();
      const both = await Promise.all([start(['--data-dir', data], { VPCEP_TOKEN: '' }), start(['--data-dir', data], { VPCEP_TOKEN: '' })]);
      await new Promise((r) => setTimeout(r, 300));
      const running = both.filter((d) => d.proc.exitCode === null);
      const stopped = both.filter((d) => d.proc.exitCode !== null);
      expect([running.length, stopped.length], both.map((d) => d.output()).join('\n')).toEqual([1, 1]);
      expect(stopped[0]!.proc.exitCode).toBe(1);
      expect(stopped[0]!.output()).toContain('is in use by another vpcepd');
      expect(stopped[0]!.output()).not.toMatch(/\n\s+at /);
    }
  });

  it('an empty --data-dir is a usage error (exit 2), not the current directory', async () => {
    const d = await start(['--data-dir', '']);
    const { code } = await d.exited;
    expect(code, d.output()).toBe(2);
    expect(d.output()).toContain('vpcepd: --data-dir must name a directory (it is empty)');
  });
});

describe('the database file', () => {
  it('a zero-byte vpcep.db stops vpcepd at start (never a silent reset), the file untouched', async () => {
    const data = tempDir();
    const file = path.join(data, DB_FILE);
    fs.writeFileSync(file, '');
    const before = fs.statSync(file).mtimeMs;
    const out = await refused(data, { VPCEP_TOKEN: 'a-token-of-16-chars' });
    expect(out).toContain(`${file}: the file is empty (0 bytes). vpcepd never resets a database it did not create`);
    expect(fs.statSync(file).size).toBe(0);
    expect(fs.statSync(file).mtimeMs).toBe(before);
  });
});

describe('the write-ahead log of a removed database', () => {
  it('is refused in one line naming it, never paired with a new database (SQLite replayed it into the new file: the removed data back, or a corrupt file); an empty one goes', async () => {
    const data = tempDir();
    const wal = path.join(data, `${DB_FILE}-wal`);
    fs.writeFileSync(wal, Buffer.alloc(4096, 7));
    const out = await refused(data, { VPCEP_TOKEN: 'a-token-of-16-chars' });
    expect(out).toContain(`vpcepd: cannot start: ${path.join(data, DB_FILE)} is absent but its write-ahead log ${wal} is there`);
    expect(fs.existsSync(path.join(data, DB_FILE))).toBe(false);
    expect(fs.statSync(wal).size).toBe(4096);
    // an empty log and an index alone hold nothing: the new database is made without them
    fs.writeFileSync(wal, '');
    fs.writeFileSync(path.join(data, `${DB_FILE}-shm`), Buffer.alloc(32768, 1));
    const d = await start(['--data-dir', data], { VPCEP_TOKEN: 'a-token-of-16-chars' });
    expect(d.proc.exitCode, d.output()).toBe(null);
    expect(fs.existsSync(path.join(data, DB_FILE))).toBe(true);
  });
});

describe('a corrupt database file', () => {
  it('fails its integrity check in a few lines (SQLite lists up to 100 findings), the file untouched', async () => {
    const data = tempDir();
    await SqliteStore.open(data).close();
    const file = path.join(data, DB_FILE);
    const db = new Database(file);
    const put = db.prepare('INSERT INTO documents (kind, id, body) VALUES (?, ?, ?)');
    db.transaction(() => { for (let i = 0; i < 2000; i++) put.run('claim', `c${i}`, JSON.stringify({ holder: 'x'.repeat(200) })); })();
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    // garbage inside many leaf pages: cell offsets out of range, fragmentation miscounted
    const fd = fs.openSync(file, 'r+');
    for (let page = 3; page < 120; page += 3) fs.writeSync(fd, Buffer.alloc(200, 0x13), 0, 200, page * 4096 + 40);
    fs.closeSync(fd);
    const before = fs.readFileSync(file);
    const out = await refused(data, { VPCEP_TOKEN: 'a-token-of-16-chars' });
    const line = out.split('\n').find((l) => l.startsWith('vpcepd: cannot start'))!;
    expect(line).toMatch(/vpcep\.db: the database fails its integrity check \([^;\n]+; [^;\n]+; [^;\n]+; and \d+ more findings\)\. vpcepd never resets a database it cannot read: move the file aside/);
    expect(out.split('\n').filter((l) => /page \d+/.test(l))).toHaveLength(1);
    expect(fs.readFileSync(file).equals(before)).toBe(true);
  });
});

/** vpcepd on DATA as the user nobody (65534), expecting a refusal in one line: its output */
async function refusedAsNobody(data: string): Promise<string> {
  const unprivileged = await spawnDaemon(['--data-dir', data, '--dns-listen', '127.0.0.1:0'], { VPCEP_TOKEN: 'a-token-of-16-chars' }, undefined, ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']);
  running.push(unprivileged);
  const { code } = await unprivileged.exited;
  const out = unprivileged.output();
  expect(code, out).toBe(1);
  expect(out).not.toMatch(/\n\s+at /);
  return out;
}

describe('the data dir\'s pid file and another user\'s vpcepd', () => {
  it.skipIf(!asRoot)(rootOnly('a pid file naming another user\'s live vpcepd, whose open files cannot be read, is taken over when its --data-dir names another dir, refused with the reason when nothing says (it said "in use" as if that daemon held it)', 'run the daemon as another user'), async () => {
    // its data dir by VPCEP_DATA_DIR: nothing another user can read says which dir it holds
    const silent = await start([], { VPCEP_TOKEN: '', VPCEP_DATA_DIR: tempDir() });
    const data = tempDir();
    fs.chownSync(data, 65534, 65534);
    fs.symlinkSync(String(silent.proc.pid), path.join(data, 'vpcepd.pid'));
    const out = await refusedAsNobody(data);
    expect(out).toContain(`the data dir ${data} names another user's vpcepd (pid ${silent.proc.pid}, ${path.join(data, 'vpcepd.pid')}), whose open files this user cannot read`);
    expect(out).toContain(`if it does not, remove ${path.join(data, 'vpcepd.pid')}`);
    expect(fs.readlinkSync(path.join(data, 'vpcepd.pid'))).toBe(String(silent.proc.pid));
    // its --data-dir, absolute in its command line, names another dir: a leftover pid file, taken over
    const named = await start(['--data-dir', tempDir()], { VPCEP_TOKEN: '' });
    const other = tempDir();
    fs.chownSync(other, 65534, 65534);
    fs.symlinkSync(String(named.proc.pid), path.join(other, 'vpcepd.pid'));
    const taker = await spawnDaemon(['--data-dir', other, '--dns-listen', '127.0.0.1:0'], { VPCEP_TOKEN: 'a-token-of-16-chars' }, undefined, ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']);
    running.push(taker);
    expect(taker.proc.exitCode, taker.output()).toBe(null);
    expect(fs.readlinkSync(path.join(other, 'vpcepd.pid'))).toBe(String(taker.proc.pid));
  });
});

describe('a read-only database file', () => {
  it.skipIf(!asRoot)(rootOnly('a vpcep.db its user cannot write stops vpcepd at start in one line naming the file (it failed in the store\'s thread: a stack trace, no reason)', 'run the daemon as another user'), async () => {
    const data = tempDir();
    await SqliteStore.open(data).close();
    const file = path.join(data, DB_FILE);
    fs.chmodSync(file, 0o444);
    for (const f of [data, ...fs.readdirSync(data).map((n) => path.join(data, n))]) fs.chownSync(f, 65534, 65534);
    expect(await refusedAsNobody(data)).toContain(`vpcepd: cannot start: ${file}: the database is not writable by this user (uid 65534)`);
  });
});

describe('a write-ahead log its user cannot write', () => {
  it.skipIf(!asRoot)(rootOnly('a vpcep.db-wal owned by another user (a root run\'s) stops vpcepd at start in one line naming it (a stack trace from the store\'s thread)', 'run the daemon as another user'), async () => {
    const data = tempDir();
    await SqliteStore.open(data).close();
    for (const f of [data, ...fs.readdirSync(data).map((n) => path.join(data, n))]) fs.chownSync(f, 65534, 65534);
    const wal = path.join(data, `${DB_FILE}-wal`);
    fs.writeFileSync(wal, '', { mode: 0o644 });
    expect(await refusedAsNobody(data)).toContain(`vpcepd: cannot start: ${wal}: the database's write-ahead log is not writable by this user (uid 65534)`);
  });
});

describe('stored documents', () => {
  it.each([
    ['null', 'null', /the stored endpoint e1 is malformed \(Invalid input: expected object, received null\)/i],
    ['malformed', JSON.stringify({ id: 'e1', status: 'bogus' }), /the stored endpoint e1 is malformed \(owner: .*status: /],
  ])('a %s stored document is a start-up error naming its kind and id, not a stack trace', async (_what, body, message) => {
    const data = tempDir();
    await SqliteStore.open(data).close();
    const db = new Database(path.join(data, DB_FILE));
    db.prepare('INSERT INTO documents (kind, id, body) VALUES (?, ?, ?)').run('endpoint', 'e1', body);
    db.close();
    const out = await refused(data, { VPCEP_TOKEN: 'a-token-of-16-chars' });
    expect(out).toMatch(message);
  });
});

describe('a database that is not whole', () => {
  it.each([
    ['a document of a kind vpcepd has not', (db: Database.Database) => db.prepare('INSERT INTO documents (kind, id, body) VALUES (?, ?, ?)').run('widget', 'w1', '{}'),
      /unknown document kind "widget" \(widget\/w1\)/],
    ['no changes table', (db: Database.Database) => db.exec('DROP TABLE changes'), /the database lacks the table changes of its schema version \d+ \(damaged, or not vpcepd's\)/],
    ['no revision row', (db: Database.Database) => db.exec('DELETE FROM revision'), /the database has 0 revision rows, not one/],
  ])('%s: a start-up error in one line, not a skipped document or a stack trace', async (_what, damage, message) => {
    const data = tempDir();
    await SqliteStore.open(data).close();
    const db = new Database(path.join(data, DB_FILE));
    damage(db);
    db.close();
    const out = await refused(data, { VPCEP_TOKEN: 'a-token-of-16-chars' });
    expect(out).toMatch(message);
    expect(out.split('\n').filter((l) => l.startsWith('vpcepd: cannot start'))).toHaveLength(1);
  });
});


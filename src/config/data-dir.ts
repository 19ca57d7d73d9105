// The data dir and the default account's token file in it. Every failure here is a one-line
// start-up error naming the path and what to do, never a stack trace.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomically } from '../store/durable-file.js';
import { DB_FILE } from '../store/sqlite.js';
import type { Logger } from '../telemetry/logger.js';
import { holdsFile, processFacts, vpcepdAlive, type FileIdentity } from '../pids.js';

/** shorter than this, a token file is refused: a generated token has 32 characters */
export const MIN_TOKEN_FILE_LENGTH = 16;

/** A data dir or token file vpcepd cannot use. */
export class DataDirError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataDirError';
  }
}

const reason = (err: unknown) => (err as NodeJS.ErrnoException).code ?? (err as Error).message;

/** what to do about a write that failed: free space when the disk is full, else another directory */
const remedy = (err: unknown, dir: string) => ((err as NodeJS.ErrnoException).code === 'ENOSPC'
  ? `the disk is full: free space under ${dir}`
  : 'give --data-dir a directory vpcepd may write');

/**
 * Makes sure DIR is a writable directory, creating the missing levels one at a time
 * (a recursive mkdir under /proc retries ENOENT forever).
 */
export function ensureDataDir(dir: string): void {
  const missing: string[] = [];
  let at = path.resolve(dir);
  while (!fs.existsSync(at)) {
    missing.unshift(at);
    at = path.dirname(at);
  }
  try {
    for (const d of missing) fs.mkdirSync(d);
    const abs = path.resolve(dir);
    if (!fs.statSync(abs).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    fs.accessSync(abs, fs.constants.W_OK | fs.constants.X_OK);
  } catch (err) {
    throw new DataDirError(`the data dir ${dir} is not a writable directory (${reason(err)}): ${remedy(err, dir)}`);
  }
}

/**
 * what the vpcepd holding DIR has open: the dir itself (held from the start), or its database (a
 * vpcepd from before it held the dir), by identity: a bind mount reaches them by another path
 */
function heldFiles(dir: string): FileIdentity[] {
  return [dir, path.join(dir, DB_FILE)].flatMap((f) => {
    const st = fs.statSync(f, { throwIfNoEntry: false });
    return st ? [{ dev: st.dev, ino: st.ino }] : [];
  });
}

function statOrNull(file: string): fs.Stats | null {
  try {
    return fs.statSync(file);
  } catch {
    return null;
  }
}

/** the file that says which vpcepd holds the data dir: a symbolic link to its pid */
export const LOCK_FILE = 'vpcepd.pid';

/**
 * Takes DIR for this process: <dir>/vpcepd.pid, a symbolic link whose target is the pid (made in
 * one step, its pid inside it: no daemon starting at the same time reads it empty, and it needs no
 * data block on a full disk), or a DataDirError naming the live vpcepd that holds it (two daemons
 * on one data dir both failed, or one moved the other's live database aside on the advice of
 * "database is locked"). One whose process is gone (SIGKILL) is taken over. Returns the release.
 */
export function lockDataDir(dir: string): () => void {
  const file = path.join(dir, LOCK_FILE);
  // held open while this process holds the dir: a pid file naming a vpcepd that does not hold it (a
  // pid reused after a reboot by the vpcepd of another data dir) is a leftover, taken over
  let held: number | undefined;
  const release = () => {
    try {
      if (fs.readlinkSync(file) === String(process.pid)) fs.rmSync(file, { force: true });
    } catch {
      // gone already
    }
    if (held !== undefined) fs.closeSync(held);
    held = undefined;
  };
  try {
    // opened before the pid file is made: a daemon starting meanwhile that reads the pid file finds
    // the dir held (opened after, a start in between took the live daemon's pid file over)
    held = fs.openSync(dir, 'r');
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        fs.symlinkSync(String(process.pid), file);
        return release;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      if (fs.lstatSync(file).isDirectory()) {
        throw new DataDirError(`${file} is a directory: remove it (vpcepd keeps there the pid of the daemon that uses the data dir)`);
      }
      let holder = NaN;
      try {
        holder = Number(fs.readlinkSync(file));
      } catch {
        // not a link (a file someone made): taken over
      }
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && vpcepdAlive(holder)) {
        const files = heldFiles(dir);
        let holds = holdsFile(holder, files);
        const facts = holds === undefined ? processFacts(holder) : undefined;
        // its open files closed to us: its --data-dir argument, when absolute, says which dir it holds
        // (a dir of that name that is gone or unreadable says nothing: the daemon may hold this one renamed)
        const named = facts?.dataDir !== undefined && path.isAbsolute(facts.dataDir) ? statOrNull(facts.dataDir) : null;
        if (named) holds = files.some((f) => f.dev === named.dev && f.ino === named.ino);
        if (holds === undefined) {
          const whose = facts?.uid !== undefined && facts.uid !== process.getuid?.()
            ? 'another user\'s vpcepd'
            : 'a vpcepd of this user that is not dumpable (a node given file capabilities with setcap is not)';
          throw new DataDirError(`the data dir ${dir} names ${whose} (pid ${holder}, ${file}), whose open files this user cannot read to tell whether it uses this dir: ` +
            `if it does not, remove ${file}; else give this daemon a data dir of its own (--data-dir), or stop that one`);
        }
        if (holds) throw new DataDirError(`the data dir ${dir} is in use by another vpcepd (pid ${holder}, ${file}): give this daemon a data dir of its own (--data-dir), or stop that one`);
      }
      // its daemon is gone, its pid another program's now, or it is this process (restarted in place): taken over
      fs.rmSync(file, { force: true });
    }
    throw new DataDirError(`the data dir ${dir} is being taken by another vpcepd starting at the same time (${file}): give each daemon a data dir of its own`);
  } catch (err) {
    if (held !== undefined) fs.closeSync(held);
    held = undefined;
    if (err instanceof DataDirError) throw err;
    throw new DataDirError(`cannot write ${file} (${reason(err)}): ${remedy(err, dir)}`);
  }
}

/**
 * The default account's token: GIVEN (VPCEP_TOKEN), else the one kept in <data-dir>/token, else a
 * new one written there. An empty or short token file is refused: it would make an empty or
 * guessable X-Auth-Token a credential.
 */
export function defaultToken(dataDir: string, given: string | undefined, log: Logger): string {
  if (given !== undefined) {
    if (!given.trim()) throw new DataDirError('VPCEP_TOKEN is blank: give a token, or unset it to use <data-dir>/token');
    return given;
  }
  const file = path.join(dataDir, 'token');
  if (fs.existsSync(file)) {
    let token: string;
    try {
      token = fs.readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new DataDirError(`cannot read the token file ${file} (${reason(err)}): make it a readable file, or remove it to have a new token generated`);
    }
    if (token.length < MIN_TOKEN_FILE_LENGTH) {
      throw new DataDirError(`the token file ${file} is ${token ? `shorter than ${MIN_TOKEN_FILE_LENGTH} characters` : 'empty'}: ` +
        'remove it to have a new token generated, or write a token of at least 16 characters in it');
    }
    return token;
  }
  const token = randomBytes(24).toString('base64url');
  try {
    writeFileAtomically(file, `${token}\n`);
  } catch (err) {
    throw new DataDirError(`cannot write the token file ${file} (${reason(err)}): free space in ${dataDir}, or set VPCEP_TOKEN`);
  }
  log.info({ token, file }, 'generated the default account\'s token');
  return token;
}

/** this daemon's node id on a shared store: kept in <data-dir>/node, made on first use */
export function nodeId(dir: string): string {
  const file = path.join(dir, 'node');
  try {
    const id = fs.readFileSync(file, 'utf8').trim();
    if (/^[0-9a-f]{12}$/.test(id)) return id;
    throw new DataDirError(`${file} does not hold a node id (12 hex digits): remove it to have a new one made`);
  } catch (err) {
    if (err instanceof DataDirError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new DataDirError(`cannot read ${file} (${reason(err)})`);
  }
  const id = randomBytes(6).toString('hex');
  try {
    writeFileAtomically(file, `${id}\n`);
  } catch (err) {
    throw new DataDirError(`cannot write ${file} (${reason(err)}): ${remedy(err, path.dirname(file))}`);
  }
  return id;
}

/** the file of the data dir naming the store it belongs to */
export const STORE_MARKER = 'store';

/**
 * Records in DIR which store it belongs to (SPEC, as text), or refuses a data dir of another
 * store: a node on SQLite and a node on etcd never share one by mistake. A data dir without the
 * record but with a database belongs to SQLite (it predates the record).
 */
export function claimDataDirStore(dir: string, spec: string, hasDatabase: boolean): void {
  const file = path.join(dir, STORE_MARKER);
  let recorded: string | undefined;
  try {
    recorded = fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new DataDirError(`cannot read ${file} (${reason(err)})`);
  }
  if (recorded === '') {
    throw new DataDirError(`${file} is empty: it names the store the data dir belongs to (sqlite, or etcd://...); ` +
      'write the store there, or remove the file if this daemon\'s store is the data dir\'s');
  }
  recorded ??= hasDatabase ? 'sqlite' : undefined;
  const kindOf = (s: string) => s.replace(/^etcd:\/\/[^/]*/, 'etcd://');
  if (recorded !== undefined && kindOf(recorded) !== kindOf(spec)) {
    // the record as read, quoted and cut where it is not one short printable line (a damaged file)
    const shown = /^[\x20-\x7e]{1,200}$/.test(recorded) ? recorded : JSON.stringify(recorded.slice(0, 200));
    throw new DataDirError(`the data dir ${dir} belongs to the store ${shown}, not ${spec} (${file}): ` +
      'give this daemon a data dir of its own (--data-dir), or the store the data dir was made with (--store)');
  }
  if (recorded === spec) return;
  try {
    writeFileAtomically(file, `${spec}\n`);
  } catch (err) {
    throw new DataDirError(`cannot write ${file} (${reason(err)}): ${remedy(err, path.dirname(file))}`);
  }
}

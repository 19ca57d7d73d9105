// Processes by pid, from /proc: whether one lives, whether it is a vpcepd, and the other vpcepd of
// this network namespace (the holder of a data dir: src/config/data-dir.ts; the daemons that share
// the SNAT route: src/dataplane/snat-mode.ts).
import fs from 'node:fs';

/** true when PID is a live process, ours to signal or not (EPERM: it lives, another user's) */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** a vpcepd's command line: node running bin/vpcepd.js, dist/vpcepd.js, the bundle dist/bundle/vpcepd.mjs, or an installed `vpcepd` */
const VPCEPD = /(^|\/)vpcepd(\.m?js)?$/;

/** PID's arguments (/proc/<pid>/cmdline, readable by any user); throws when it cannot be read */
function commandLine(pid: number | string): string[] {
  return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
}

/**
 * true when PID is a live vpcepd (a pid reused by another program after a SIGKILL or a reboot is
 * not); a command line that cannot be read (hidepid) counts as one: the safe side
 */
export function vpcepdAlive(pid: number): boolean {
  if (!processAlive(pid)) return false;
  try {
    return commandLine(pid).some((arg) => VPCEPD.test(arg));
  } catch {
    return true;
  }
}

/** a file's identity, whatever path reaches it (a bind mount, a symbolic link) */
export interface FileIdentity {
  readonly dev: number;
  readonly ino: number;
}

/**
 * whether PID has one of FILES open (a vpcepd holds its data dir open: src/config/data-dir.ts),
 * compared by device and inode; undefined when its fds cannot be read (another user's process)
 */
export function holdsFile(pid: number, files: readonly FileIdentity[]): boolean | undefined {
  let fds: string[];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return undefined;
  }
  for (const fd of fds) {
    try {
      const st = fs.statSync(`/proc/${pid}/fd/${fd}`);
      if (files.some((f) => f.dev === st.dev && f.ino === st.ino)) return true;
    } catch {
      // closed meanwhile
    }
  }
  return false;
}

/**
 * what a process tells of itself to anyone (its /proc/<pid>/fd may be closed to us: another user's,
 * or one not dumpable, as a node given file capabilities with setcap is): its owner's uid and its
 * --data-dir argument as given (undefined: none, or unreadable)
 */
export function processFacts(pid: number): { uid: number | undefined; dataDir: string | undefined } {
  let uid: number | undefined;
  let dataDir: string | undefined;
  try {
    uid = fs.statSync(`/proc/${pid}`).uid;
    const args = commandLine(pid);
    for (let i = 0; i < args.length; i++) {
      if (args[i] === '--data-dir') dataDir = args[i + 1];
      else if (args[i]!.startsWith('--data-dir=')) dataDir = args[i]!.slice('--data-dir='.length);
    }
  } catch {
    // gone meanwhile
  }
  return { uid, dataDir };
}

/** the other live vpcepd processes in this process's network namespace (those whose namespace can be read: root reads every one) */
export function otherVpcepdInNetns(): number[] {
  let mine: number;
  try {
    mine = fs.statSync('/proc/self/ns/net').ino;
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (fs.statSync(`/proc/${name}/ns/net`).ino !== mine) continue;
      if (commandLine(name).some((arg) => VPCEPD.test(arg))) out.push(Number(name));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return out;
}

// Files that survive a crash whole: written aside, fsynced, renamed into place, the directory fsynced.
import fs from 'node:fs';
import path from 'node:path';

/** makes a rename or a new file in DIR durable */
export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** writes FILE atomically (mode 0600): <file>.new, fsync, rename, fsync of the directory */
export function writeFileAtomically(file: string, text: string): void {
  const tmp = `${file}.new`;
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'w', 0o600);
    fs.writeFileSync(fd, text);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
    fsyncDir(path.dirname(file));
  } catch (err) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

// Real small or frozen filesystems for the store's failure tests (needs root: mount, fsfreeze).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { tempDir } from '../helpers.js';

export const asRoot = process.getuid?.() === 0;

/** TITLE, and why it is skipped when this process is not root (vitest lists a skipped test by its name) */
export const rootOnly = (title: string, why: string): string => (asRoot ? title : `${title} (skipped: needs root to ${why})`);

export interface Disk {
  readonly dir: string;
  /** fills every free byte with <dir>/filler */
  fill(): void;
  /** removes the filler */
  free(): void;
  unmount(): void;
}

function disk(dir: string, cleanup: () => void): Disk {
  const filler = path.join(dir, 'filler');
  return {
    dir,
    fill() {
      const fd = fs.openSync(filler, 'a');
      const block = Buffer.alloc(4096);
      try {
        for (;;) fs.writeSync(fd, block);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      } finally {
        fs.closeSync(fd);
      }
      // a last byte-sized write, so that not even a partial block is left
      try {
        fs.appendFileSync(filler, Buffer.alloc(1));
      } catch { /* full */ }
    },
    free() {
      fs.rmSync(filler, { force: true });
    },
    unmount: cleanup,
  };
}

/** a tmpfs of SIZE (e.g. '64k', '2m') mounted on a new temporary directory */
export function tmpfs(size: string): Disk {
  const dir = tempDir('vpcep-tmpfs-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  return disk(dir, () => execFileSync('umount', ['-l', dir]));
}

/** an ext4 image of SIZE_MB on a loop device (fsfreeze needs a real filesystem) */
export function ext4(sizeMb: number): Disk & { freeze(): void; thaw(): void } {
  const base = tempDir('vpcep-ext4-');
  const img = path.join(base, 'img');
  const dir = path.join(base, 'mnt');
  fs.mkdirSync(dir);
  execFileSync('truncate', ['-s', `${sizeMb}M`, img]);
  execFileSync('mkfs.ext4', ['-q', img]);
  execFileSync('mount', ['-o', 'loop', img, dir]);
  let frozen = false;
  const d = disk(dir, () => {
    if (frozen) execFileSync('fsfreeze', ['-u', dir]);
    execFileSync('umount', [dir]);
    fs.rmSync(base, { recursive: true, force: true });
  });
  return {
    ...d,
    freeze() { execFileSync('fsfreeze', ['-f', dir]); frozen = true; },
    thaw() { execFileSync('fsfreeze', ['-u', dir]); frozen = false; },
  };
}

/** connects from a consumer-VPC address, sends a line and resolves with the echo */
export function roundTrip(host: string, port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, localAddress: '127.2.1.50' }, () => s.write(text));
    let got = '';
    s.on('data', (b) => {
      got += b;
      if (got.length >= text.length) {
        s.destroy();
        resolve(got);
      }
    });
    s.on('error', reject);
  });
}

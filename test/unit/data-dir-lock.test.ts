// lockDataDir's order: the data dir is held open before the pid file names this process, so a
// daemon starting in between, which reads the pid file and looks for the dir among the named
// process's open files, finds it held (it was opened after: a start in between took the live
// daemon's pid file over, and the first daemon then failed on SQLite's "database is locked").
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { lockDataDir, LOCK_FILE } from '../../src/config/data-dir.js';
import { holdsFile } from '../../src/pids.js';
import { tempDir } from '../helpers.js';

afterEach(() => { vi.restoreAllMocks(); });

describe('lockDataDir', () => {
  it('holds the data dir open from the moment its pid file exists', () => {
    const dir = tempDir();
    const { dev, ino } = fs.statSync(dir);
    const seen: (boolean | undefined)[] = [];
    const symlink = fs.symlinkSync;
    vi.spyOn(fs, 'symlinkSync').mockImplementation((target, file) => {
      symlink(target, file);
      // what a start in this instant sees: the pid file names this process; does it hold the dir?
      seen.push(holdsFile(process.pid, [{ dev, ino }]));
    });
    const release = lockDataDir(dir);
    try {
      expect(fs.readlinkSync(path.join(dir, LOCK_FILE))).toBe(String(process.pid));
      expect(seen).toEqual([true]);
    } finally {
      release();
    }
    expect(holdsFile(process.pid, [{ dev, ino }])).toBe(false);
    expect(fs.existsSync(path.join(dir, LOCK_FILE))).toBe(false);
  });
});

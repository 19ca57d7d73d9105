// A benchmark script interrupted: Ctrl-C (SIGINT) stops every process it started (each in a process
// group of its own, so the terminal's signal does not reach them) and removes its temporary
// directory (bench/lib/procs.mjs installHandlers() and atExit()), saying so under its own name.
// bench:dns is the fast one with two servers of its own: vpcepd and dnsmasq.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, tempDir, waitFor } from '../helpers.js';

/** the processes (pid) whose command line names `dir`: what a script started there */
function startedIn(dir: string): number[] {
  const out: number[] = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir)) out.push(Number(pid));
    } catch {
      // gone
    }
  }
  return out;
}

const hasDnsmasq = ['/usr/sbin/dnsmasq', '/sbin/dnsmasq'].some((p) => fs.existsSync(p));
// under CI=true it runs, and fails where dnsmasq is absent (.ci/run installs it)
const skip = !hasDnsmasq && process.env.CI !== 'true';
if (skip) console.warn('bench-teardown.test.ts: dnsmasq (Debian dnsmasq) is not installed: the bench:dns interruption case is skipped');

describe('bench scripts: Ctrl-C', () => {
  it.skipIf(skip)('bench:dns interrupted leaves no vpcepd, no dnsmasq and no temporary dir, and names itself (it had no handlers: both stayed, and the dir)', async () => {
    const tmp = tempDir('vpcep-bench-int-');
    const child = spawn(process.execPath, [path.join(ROOT, 'bench/dns.mjs'), '--duration', '30', '--rounds', '1'], {
      cwd: ROOT, env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (b) => { stderr += b; });
    const exited = new Promise<{ code: number | null, signal: string | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    try {
      // vpcepd started on the script's temporary dir, then up and queried (it starts within a second)
      await waitFor(() => startedIn(tmp).length > 0, 20_000, 'vpcepd started');
      await new Promise((r) => setTimeout(r, 2_500));
      expect(stderr).toBe('');
      child.kill('SIGINT');
      expect(await exited).toEqual({ code: 130, signal: null });
      expect(stderr).toContain('bench:dns: interrupted (SIGINT): stopping every process it started');
      expect(stderr).not.toContain('bench:load');
      expect(stderr).not.toMatch(/\n\s+at /);
      expect(startedIn(tmp)).toEqual([]);
      expect(fs.readdirSync(tmp)).toEqual([]);
    } finally {
      for (const pid of [child.pid!, ...startedIn(tmp)]) {
        try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      }
    }
  });
});

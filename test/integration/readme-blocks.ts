// README blocks run verbatim: the fenced blocks marked `<!-- test: <tag> NAME -->` taken from
// README.md as they are, run with bash in a temporary directory that looks like a checkout, as a
// reader's shell would run them (aws-quickstart.test.ts, readme-quickstart.test.ts).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ROOT } from '../helpers.js';

/** the fenced blocks of README.md marked `<!-- test: <tag> NAME -->` (the block right after the comment), by NAME */
export function markedBlocks(tag: string, readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')): Map<string, string> {
  const blocks = new Map<string, string>();
  const lines = readme.split('\n');
  const marker = new RegExp(`^<!-- test: ${tag} (\\S+) -->$`);
  for (let i = 0; i < lines.length; i++) {
    const name = marker.exec(lines[i]!)?.[1];
    if (name === undefined) continue;
    if (!/^```\w*$/.test(lines[i + 1] ?? '')) throw new Error(`README.md:${i + 1}: the marker ${name} is not followed by a fenced block`);
    const end = lines.findIndex((l, j) => j > i + 1 && l === '```');
    if (end < 0) throw new Error(`README.md:${i + 2}: the block ${name} is not closed`);
    if (blocks.has(name)) throw new Error(`README.md:${i + 1}: a second block ${name}`);
    blocks.set(name, lines.slice(i + 2, end).join('\n') + '\n');
  }
  return blocks;
}

/** whether something accepts connections on host:port */
export function listening(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/**
 * makes `dir` look like a checkout to `npm start` and `npx vpcep`: the built tree linked in, with
 * `scripts`, whose npm-lifecycle.mjs npm runs at the first npx (without it, npm's `prepare` failed
 * and so did every `npx vpcep` of the blocks, unseen: `npm error` on stderr, the block going on)
 */
export function linkCheckout(dir: string): void {
  for (const f of ['package.json', 'bin', 'dist', 'build', 'node_modules', 'scripts']) fs.symlinkSync(path.join(ROOT, f), path.join(dir, f));
}

/** the reader's environment: this one's, less the vpcep settings it carries (the relay choice stays) and any `drop`ped */
export function readerEnv(drop?: RegExp): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^VPCEP_(?!RELAY$)/.test(k) && !drop?.test(k)) env[k] = v;
  }
  return env;
}

/**
 * runs `bash FILE` in `dir`, in a process group of its own killed after `ms`; `kill` ends what the
 * block left running, once the caller has checked that it left nothing (the ports free)
 */
export async function runBash(dir: string, file: string, env: Record<string, string>, ms: number): Promise<{ code: number | null; stdout: string; stderr: string; kill: () => void }> {
  const sh = spawn('bash', [file], { cwd: dir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  sh.stdout.on('data', (b) => { stdout += b; });
  sh.stderr.on('data', (b) => { stderr += b; });
  const kill = () => { try { process.kill(-sh.pid!, 'SIGKILL'); } catch { /* the block stopped everything it started */ } };
  const timer = setTimeout(kill, ms);
  const code = await new Promise<number | null>((resolve) => sh.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, stdout, stderr, kill };
}

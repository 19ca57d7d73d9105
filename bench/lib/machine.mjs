// The machine and tool versions the figures were taken on, and the tools the benchmark needs.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const TOOLS = ['haproxy', 'iperf3', 'wrk', 'nginx'];

function which(cmd) {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin']) {
    if (!dir) continue;
    const p = path.join(dir, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch { /* next */ }
  }
  return null;
}

export function missingTools() {
  return TOOLS.filter((t) => !which(t));
}

/** makes sure /usr/sbin is on the PATH (haproxy and nginx live there) */
export function extendPath() {
  const parts = (process.env.PATH ?? '').split(':');
  for (const d of ['/usr/sbin', '/sbin']) if (!parts.includes(d)) parts.push(d);
  process.env.PATH = parts.join(':');
}

/** the first line a command prints (stdout, else stderr: nginx -v writes there), whatever its exit code */
function firstLine(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return `${r.stdout ?? ''}\n${r.stderr ?? ''}`.split('\n').map((l) => l.trim()).find(Boolean) ?? 'unknown';
}

function memTotalGiB() {
  return Math.round((os.totalmem() / 2 ** 30) * 10) / 10;
}

function openFilesLimit() {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
  return m ? { soft: m[1], hard: m[2] } : null;
}

export function describeMachine() {
  const cpus = os.cpus();
  return {
    cores: cpus.length,
    cpu_model: cpus[0]?.model?.trim() ?? 'unknown',
    memory_gib: memTotalGiB(),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    haproxy: firstLine('haproxy', ['-v']),
    iperf3: firstLine('iperf3', ['--version']),
    wrk: firstLine('wrk', ['-v']),
    nginx: firstLine('nginx', ['-v']),
    open_files: openFilesLimit(),
    loadavg_at_start: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

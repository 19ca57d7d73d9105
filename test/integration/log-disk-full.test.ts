// vpcepd's log (stdout) on a full disk (needs root: a small tmpfs): lines that cannot be written
// wait in the logger's buffer, never a crash nor a stall of the API; once there is room they go out
// with the next line. Before, the first failed write was an 'error' event nobody listened to: the
// daemon stopped answering, then died (found by a robustness hunt).
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiClient, PROVIDER, spawnDaemon, tempDir, twoAccountConfig, waitFor, writeConfig, type ChildDaemon } from '../helpers.js';
import { asRoot, rootOnly, tmpfs, type Disk } from './disk.js';

let daemon: ChildDaemon | undefined;
let disk: Disk | undefined;
afterEach(async () => {
  if (daemon && daemon.proc.exitCode === null && daemon.proc.signalCode === null) {
    daemon.proc.kill('SIGKILL');
    await daemon.exited;
  }
  disk?.unmount();
  daemon = undefined;
  disk = undefined;
});

describe('the log on a full disk', () => {
  it.skipIf(!asRoot)(rootOnly('the daemon answers on while stdout cannot be written, and writes the held lines once it can', 'mount a small tmpfs'), async () => {
    disk = tmpfs('1m');
    const log = path.join(disk.dir, 'vpcepd.log');
    const config = writeConfig(tempDir(), twoAccountConfig());
    // stdout and stderr appended to a file on the small disk, as a service manager or `> file` does
    daemon = await spawnDaemon(['--config', config, '--data-dir', path.join(tempDir(), 'data'), '--dns-listen', '127.0.0.1:0'], {}, undefined,
      ['sh', '-c', `exec "$0" "$@" >>${log} 2>&1`]);
    const provider = new ApiClient(daemon.url, PROVIDER.token, PROVIDER.project_id);
    disk.fill();
    // each zone change logs a line (about 130 bytes): more than the log file's last page has room for
    for (let i = 0; i < 80; i++) {
      const r = await provider.post(`/sim/zones/sim-1a/${i % 2 ? 'up' : 'down'}`, {});
      expect(r.status, JSON.stringify(r.body)).toBe(200);
    }
    expect((await fetch(`${daemon.url}/ready`)).status).toBe(200);
    const count = (what: RegExp) => (fs.readFileSync(log, 'utf8').match(what) ?? []).length;
    // at most what the log file's last page had room for
    expect(count(/zone (down|up)/g)).toBeLessThan(80);
    disk.free();
    // a change (the zone is up after the 80th) logs the next line, which carries the held ones out: none lost
    expect((await provider.post('/sim/zones/sim-1a/down', {})).status).toBe(200);
    await waitFor(() => count(/"msg":"zone down \(simulated outage\)"/g) === 41 && count(/"msg":"zone up"/g) === 40, 10_000, `the held lines written:\n${fs.readFileSync(log, 'utf8').slice(-2000)}`);
    expect(daemon.proc.exitCode).toBe(null);
  }, 60_000);
});

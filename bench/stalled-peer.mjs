// Kernel memory a stalled peer pins per relayed connection: N clients each push --push MiB through
// one endpoint into a backend that never reads, until nothing moves; then the socket memory of
// every socket on the path (ss -tm: skmem r + w + f, in this network namespace) is summed, per
// connection, and that of the relay's own two sockets apart. Payload parked in the relay's pipes
// is not in ss: it is reported as pushed minus what the sockets hold, with the pipe size.
//
//   node bench/stalled-peer.mjs [--relay native|js] [--socket-buffer BYTES] [--connections N] [--push MIB]
//
// Needs dist/ (npm run build). --socket-buffer 0: the kernel autotunes (the behaviour before
// dataplane.socket_buffer_bytes); omitted: vpcepd's default.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { commandLine } from './lib/cli.mjs';
import { rootDir } from './lib/paths.mjs';
import { atExit, failed, installHandlers, sleep, stopAll } from './lib/procs.mjs';
import { Vpcepd } from './lib/vpcep.mjs';

const USAGE = `usage: node bench/stalled-peer.mjs [--relay native|js] [--socket-buffer BYTES] [--connections N] [--push MIB]

  --relay RELAY          vpcepd's relay (VPCEP_RELAY): native or js; default native
  --socket-buffer BYTES  vpcepd's dataplane.socket_buffer_bytes (0: the kernel autotunes); default: vpcepd's
  --connections N        clients, each through the endpoint to the stalled backend; default 20
  --push MIB             MiB each client writes; default 32
  -h, --help             this text`;
const line = commandLine('stalled-peer', USAGE, {
  relay: { type: 'string' },
  'socket-buffer': { type: 'string' },
  connections: { type: 'string' },
  push: { type: 'string' },
});
const relay = line.oneOf('relay', 'native', ['native', 'js']);
const N = line.int('connections', 20, 1, 3000);
const PUSH = line.number('push', 32, 0.25, 4096) * 1024 * 1024;
const socketBuffer = line.int('socket-buffer', undefined, 0, 2 ** 31 - 1);

/** every TCP socket of this namespace: local, peer, pid of its owner (when one is named), memory (r + w + f) */
function sockets() {
  const out = execFileSync('ss', ['-tmnpH'], { encoding: 'utf8' });
  const rows = [];
  const lines = out.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^\S+\s+\d+\s+\d+\s+(\S+)\s+(\S+)(.*)$/.exec(lines[i]);
    if (!m) continue;
    let rest = m[3];
    // skmem may be on the same line or the next
    if (!rest.includes('skmem') && lines[i + 1]?.includes('skmem')) rest += lines[++i];
    const mem = /skmem:\(r(\d+),rb\d+,t\d+,tb\d+,f(\d+),w(\d+)/.exec(rest);
    const pid = /pid=(\d+)/.exec(rest);
    rows.push({ local: m[1], peer: m[2], pid: pid ? Number(pid[1]) : 0, bytes: mem ? Number(mem[1]) + Number(mem[2]) + Number(mem[3]) : 0 });
  }
  return rows;
}

async function main() {
  installHandlers('stalled-peer');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vpcep-stalled-'));
  atExit(() => fs.rmSync(dir, { recursive: true, force: true }));
  const held = [];
  const backend = net.createServer((s) => { s.pause(); held.push(s); });
  await new Promise((r) => backend.listen(0, '127.0.0.1', r));
  const backendPort = backend.address().port;
  const vpcep = await Vpcepd.start({ root: rootDir, dir, relay, socketBuffer, endpoints: 1 });
  try {
    const info = await vpcep.dataPlaneInfo();
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    const svc = await vpcep.createService([{ client_port: port, server_port: backendPort }]);
    const ep = await vpcep.createEndpoint(svc.id);
    const chunk = Buffer.alloc(256 * 1024, 7);
    const clients = await Promise.all(Array.from({ length: N }, () => new Promise((resolve, reject) => {
      const c = net.connect({ host: ep.host_ip, port }, () => resolve(c));
      c.once('error', reject);
    })));
    // Each client writes until PUSH is queued (its own socket then holds what the path refused).
    for (const c of clients) {
      c.on('error', () => undefined);
      for (let sent = 0; sent < PUSH; sent += chunk.length) c.write(chunk);
    }
    // Settle: until the bytes the clients' kernels accepted stop growing.
    const accepted = () => clients.reduce((a, c) => a + c.bytesWritten - c.writableLength, 0);
    let last = -1;
    for (let still = 0; still < 5;) {
      await sleep(200);
      const now = accepted();
      still = now === last ? still + 1 : 0;
      last = now;
    }
    const all = sockets();
    const hostPort = `${ep.host_ip}:${port}`;
    const relayPid = vpcep.pid;
    const relaySockets = all.filter((s) => s.pid === relayPid && !s.local.endsWith(`:${new URL(vpcep.url).port}`));
    const pathSockets = all.filter((s) => s.pid === relayPid || s.local === hostPort || s.peer === hostPort
      || s.local.endsWith(`:${backendPort}`) || s.peer.endsWith(`:${backendPort}`));
    const kib = (b) => Math.round(b / 1024);
    const pathBytes = pathSockets.reduce((a, s) => a + s.bytes, 0);
    const relayBytes = relaySockets.reduce((a, s) => a + s.bytes, 0);
    const metrics = await (await fetch(`${vpcep.url}/metrics`)).text();
    const figure = (name) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(metrics)?.[1] ?? NaN);
    const pipeBytes = figure('vpcep_relay_pipe_size_bytes');
    const result = {
      relay: info.relay,
      socket_buffer_bytes: socketBuffer ?? 'default',
      connections: N,
      accepted_by_path_kib_per_conn: kib(accepted() / N),
      kernel_socket_memory_kib_per_conn: { whole_path: kib(pathBytes / N), relay_sockets: kib(relayBytes / N) },
      // the JS relay has no pipes (its vpcep_relay_* read 0)
      pipe_size_bytes: pipeBytes || null,
      pipes_undersized: pipeBytes ? figure('vpcep_relay_pipes_undersized_total') : null,
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    for (const c of clients) c.destroy();
  } finally {
    for (const s of held) s.destroy();
    backend.close();
    await stopAll();
  }
}

main().catch(failed);

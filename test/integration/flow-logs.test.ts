// Connection flow logs (flow_logs) through a real daemon: real clients bound to simulated addresses,
// a real echo backend, the records read back by an independent parser of AWS's flow log format
// (aws-flow-log.py, a Python child process). Runs with both relays (test:js-relay).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net, { type Server, type Socket } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FLOW_LOG_FORMAT } from '../../src/telemetry/flow-log.js';
import {
  CONSUMER, FakeClock, SERVICE_BODY, metricValue, spawnDaemon, startTestDaemon, tempDir, twoAccountConfig, waitFor, writeConfig,
  ApiClient, PROVIDER, type ChildDaemon, type TestDaemon,
} from '../helpers.js';
import { asRoot, ext4, rootOnly, tmpfs, type Disk } from './disk.js';

const PARSER = path.join(path.dirname(new URL(import.meta.url).pathname), 'aws-flow-log.py');

const sockets = new Set<Socket>();
const servers = new Set<Server>();
const daemons = new Set<TestDaemon>();
const disks = new Set<Disk>();
const children = new Set<ChildDaemon>();

afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  for (const d of daemons) await d.stop();
  daemons.clear();
  await Promise.all([...servers].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  servers.clear();
  for (const c of children) {
    if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
    await c.exited;
  }
  children.clear();
  for (const d of disks) d.unmount();
  disks.clear();
});

interface FlowRecord {
  version: number; 'account-id': string | null; 'interface-id': string | null; srcaddr: string; dstaddr: string;
  srcport: number; dstport: number; protocol: number; packets: number | null; bytes: number; start: number; end: number;
  action: string; 'log-status': string; 'vpcep-endpoint-id': string; 'vpcep-snat-addr': string; 'vpcep-snat-port': string;
  'vpcep-reason': string; _file: string;
}

/** the records of FILES as the independent parser reads them (it fails on any malformed line) */
function parse(files: string[]): FlowRecord[] {
  return JSON.parse(execFileSync('python3', [PARSER, FLOW_LOG_FORMAT, ...files], { encoding: 'utf8' }));
}

/** lines written so far in the flow log files of DIR */
const linesWritten = (dir: string) => flowFiles(dir).reduce((n, f) => n + fs.readFileSync(f, 'latin1').split('\n').length - 1, 0);

/** waits until every record made is written or dropped (the writer hands its batch over every second) */
async function settled(d: TestDaemon, dir: string): Promise<{ made: number; dropped: number }> {
  return waitFor(async () => {
    const made = (await metricValue(d.url, 'vpcep_flow_log_records_total'))!;
    const dropped = (await metricValue(d.url, 'vpcep_flow_log_dropped_records_total'))!;
    return linesWritten(dir) + dropped === made ? { made, dropped } : null;
  }, 8_000, 'every record written or dropped');
}

/** every flow log file of DIR, oldest first (pino-roll numbers them flow.1.log, flow.2.log, ...) */
function flowFiles(dir: string): string[] {
  const n = (f: string) => Number(/\.(\d+)\.log$/.exec(f)?.[1] ?? -1);
  return fs.readdirSync(dir).filter((f) => n(f) >= 0).sort((a, b) => n(a) - n(b)).map((f) => path.join(dir, f));
}

async function echoBackend(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const server = net.createServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
      s.pipe(s);
    });
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (ok) {
      servers.add(server);
      return port;
    }
  }
}

/** a port with nothing listening */
async function deadPort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

type Api = Pick<TestDaemon, 'provider' | 'consumer'>;

async function daemon(flowLogs: Record<string, unknown>, clock?: FakeClock): Promise<TestDaemon> {
  const d = await startTestDaemon(twoAccountConfig({ flow_logs: flowLogs }), tempDir(), clock ? { dataPlaneClock: clock.option } : {});
  daemons.add(d);
  return d;
}

/** an accepted endpoint of a service whose terminal ports relay to the given backend ports */
async function endpoint(d: Api, ports: Array<[number, number]>, extra: Record<string, unknown> = {}): Promise<any> {
  const s = await d.provider.post('/vpc-endpoint-services', {
    ...SERVICE_BODY, approval_enabled: false, ports: ports.map(([client_port, server_port]) => ({ client_port, server_port, protocol: 'TCP' })),
  });
  expect(s.status).toBe(200);
  await waitFor(async () => (await d.provider.get(`/vpc-endpoint-services/${s.body.id}`)).body.status === 'available', 5_000, 'service available');
  await d.provider.post(`/vpc-endpoint-services/${s.body.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] });
  const e = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: s.body.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a', ...extra });
  expect(e.status).toBe(200);
  return waitFor(async () => {
    const r = await d.consumer.get(`/vpc-endpoints/${e.body.id}`);
    return r.body.status === 'accepted' ? r.body : null;
  }, 5_000, 'endpoint accepted');
}

/** the host address of simulated 10.0.0.0 + 256 + N in the endpoint's VPC (N < 255: 10.0.1.N at 127.k.1.N) */
const clientHost = (ep: any, n: number) => `127.${ep.host_ip.split('.')[1]}.${1 + (n >> 8)}.${n & 255}`;

class Client {
  readonly sock: Socket;
  received = 0;
  closed = false;
  readonly settled: Promise<string>;
  constructor(ep: any, n: number, port: number) {
    this.sock = net.connect({ host: ep.host_ip, port, localAddress: clientHost(ep, n) });
    sockets.add(this.sock);
    this.sock.on('error', () => undefined);
    this.sock.on('data', (b: Buffer) => { this.received += b.length; });
    this.sock.on('close', () => { this.closed = true; });
    this.settled = new Promise((resolve) => {
      this.sock.once('connect', () => resolve('connected'));
      this.sock.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
  }
  async echo(text: string): Promise<void> {
    const want = this.received + text.length;
    this.sock.write(text);
    await waitFor(() => this.received >= want, 3_000, 'the echo');
  }
  async end(): Promise<void> {
    this.sock.end();
    await waitFor(() => this.closed, 3_000, 'the close');
  }
}

const nowS = () => Math.floor(Date.now() / 1000);

/** N connections from clientHost FROM, FROM+1, ..., GROUP at a time, each relaying a line and closed by the client */
async function connections(ep: any, from: number, n: number, group = 25): Promise<void> {
  for (let i = 0; i < n; i += group) {
    await Promise.all(Array.from({ length: Math.min(group, n - i) }, async (_, j) => {
      const c = new Client(ep, from + i + j, 80);
      expect(await c.settled).toBe('connected');
      await c.echo(`connection ${i + j}`);
      await c.end();
    }));
  }
}

describe('connection flow logs (flow_logs)', () => {
  it('writes AWS version 2 records plus vpcep fields: ACCEPT both directions with the bytes of each, REJECT for whitelist and backend refusals', async () => {
    const dir = tempDir('vpcep-flow-');
    const file = path.join(dir, 'flow.log');
    const d = await daemon({ destination: 'file', file });
    const echo = await echoBackend();
    const ep = await endpoint(d, [[80, echo], [81, await deadPort()]], { enable_whitelist: true, whitelist: ['10.0.1.5'] });
    const t0 = nowS();

    const ok = new Client(ep, 5, 80);
    expect(await ok.settled).toBe('connected');
    await ok.echo('hello, flow logs'); // 16 bytes each way
    const localPort = ok.sock.localPort!;
    await ok.end();
    const refused = new Client(ep, 6, 80); // not whitelisted
    await waitFor(() => refused.closed, 3_000, 'the reset');
    const failed = new Client(ep, 5, 81); // the backend is down
    await waitFor(() => failed.closed, 3_000, 'the reset');
    await waitFor(() => d.daemon.dataPlane.activeConnections === 0, 3_000, 'every connection closed');
    await d.stop(); // flushes and closes the file
    daemons.delete(d);
    const t1 = nowS();

    const records = parse(flowFiles(dir));
    expect(records).toHaveLength(4);
    for (const r of records) {
      expect(r).toMatchObject({ version: 2, 'account-id': CONSUMER.domain_id, 'interface-id': ep.id, protocol: 6, packets: null, 'log-status': 'OK', 'vpcep-endpoint-id': ep.id });
      expect(r.start).toBeGreaterThanOrEqual(t0);
      expect(r.end).toBeLessThanOrEqual(t1);
      expect(r['vpcep-snat-addr']).toMatch(/^198\.19\.\d+\.\d+$/);
    }
    const [ingress, egress] = records.filter((r) => r.action === 'ACCEPT');
    expect(ingress).toMatchObject({ srcaddr: '10.0.1.5', dstaddr: ep.ip, srcport: localPort, dstport: 80, bytes: 16, 'vpcep-reason': 'done' });
    expect(egress).toMatchObject({ srcaddr: ep.ip, dstaddr: '10.0.1.5', srcport: 80, dstport: localPort, bytes: 16, 'vpcep-reason': 'done' });
    expect(Number(ingress!['vpcep-snat-port'])).toBeGreaterThan(0);
    expect(egress!['vpcep-snat-port']).toBe(ingress!['vpcep-snat-port']);
    const rejects = records.filter((r) => r.action === 'REJECT');
    expect(rejects.map((r) => [r.srcaddr, r.dstaddr, r.dstport, r.bytes, r['vpcep-reason']])).toEqual(expect.arrayContaining([
      ['10.0.1.6', ep.ip, 80, 0, 'whitelist'],
      ['10.0.1.5', ep.ip, 81, 0, 'backend_unreachable'],
    ]));
    expect(rejects.find((r) => r['vpcep-reason'] === 'whitelist')!['vpcep-snat-port']).toBe('-');
  });

  it.skipIf(!asRoot)(rootOnly('vpcep-snat-port is the port the backend saw: a pool port another socket holds (the next one on the JS relay, the kernel\'s choice on the native one), and the pool port a failed connect went out from (it named the held pool port, and - on a failed connect)', 'kernel SNAT: bind the SNAT addresses'), async () => {
    const dir = tempDir('vpcep-flow-');
    const d = await startTestDaemon(twoAccountConfig({ flow_logs: { destination: 'file', file: path.join(dir, 'flow.log') }, dataplane: { snat: 'kernel', snat_ports: '41000-41009' } }), tempDir());
    daemons.add(d);
    const seen: Array<[string, number]> = [];
    const backend = net.createServer((s) => {
      sockets.add(s);
      seen.push([s.remoteAddress!, s.remotePort!]);
      s.on('error', () => undefined);
      s.pipe(s);
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    servers.add(backend);
    const ep = await endpoint(d, [[80, (backend.address() as net.AddressInfo).port], [81, await deadPort()]]);
    // other sockets hold the pool's first two ports (the pool hands out 41000, then 41001) on the endpoint's SNAT address
    for (const port of [41000, 41001]) {
      const squatter = net.createServer().listen(port, ep.snat_ip);
      await new Promise((r) => squatter.once('listening', r));
      servers.add(squatter);
    }
    const ok = new Client(ep, 5, 80);
    expect(await ok.settled).toBe('connected');
    await ok.echo('held port');
    await ok.end();
    const failed = new Client(ep, 6, 81);
    await waitFor(() => failed.closed, 3_000, 'the reset');
    await waitFor(() => d.daemon.dataPlane.activeConnections === 0, 3_000, 'every connection closed');
    await d.stop();
    daemons.delete(d);
    expect(seen).toHaveLength(1);
    expect(seen[0]![0]).toBe(ep.snat_ip);
    expect([41000, 41001]).not.toContain(seen[0]![1]);
    const records = parse(flowFiles(dir));
    const accepted = records.filter((r) => r.action === 'ACCEPT');
    expect(accepted).toHaveLength(2);
    for (const r of accepted) expect(r['vpcep-snat-port']).toBe(String(seen[0]![1]));
    const reject = records.find((r) => r['vpcep-reason'] === 'backend_unreachable')!;
    expect(reject).toMatchObject({ action: 'REJECT', srcaddr: '10.0.1.6', dstport: 81 });
    // the port its SYN went out from: not a held one (the native relay's failed connect named the pool's, held, port)
    expect(reject['vpcep-snat-port']).toMatch(/^\d+$/);
    expect(['41000', '41001']).not.toContain(reject['vpcep-snat-port']);
  });

  it('a long connection gets a record per aggregation interval (60 s) with the bytes of that window (clock and sweep hook)', async () => {
    const clock = new FakeClock();
    const dir = tempDir('vpcep-flow-');
    const d = await daemon({ destination: 'file', file: path.join(dir, 'flow.log'), aggregation_interval_s: 60 }, clock);
    const ep = await endpoint(d, [[80, await echoBackend()]]);
    const c = new Client(ep, 7, 80);
    expect(await c.settled).toBe('connected');
    await c.echo('abcd');
    d.daemon.dataPlane.sweep(); // a window not yet over: nothing
    clock.advance(59_000);
    d.daemon.dataPlane.sweep();
    clock.advance(2_000);
    d.daemon.dataPlane.sweep(); // 61 s: the first window's records
    await c.echo('0123456789');
    clock.advance(30_000);
    await c.end();
    await waitFor(() => d.daemon.dataPlane.activeConnections === 0, 3_000, 'the connection closed');
    await d.stop();
    daemons.delete(d);

    const records = parse(flowFiles(dir));
    expect(records.map((r) => [r.srcaddr === ep.ip ? 'egress' : 'ingress', r.bytes, r.end - r.start, r['vpcep-reason']])).toEqual([
      ['ingress', 4, 61, '-'], ['egress', 4, 61, '-'],
      ['ingress', 10, 30, 'done'], ['egress', 10, 30, 'done'],
    ]);
    expect(records[2]!.start).toBe(records[0]!.end);
  });

  it('rotates the file by size: every file parses, no record lost or cut', async () => {
    const dir = tempDir('vpcep-flow-');
    const d = await daemon({ destination: 'file', file: path.join(dir, 'flow.log'), max_file_bytes: 4096, max_files: 100 });
    const ep = await endpoint(d, [[80, await echoBackend()]]);
    // 4 x 100 records of about 190 bytes: each more than a batch (16 KiB), written at once, taking its file past 4,096 bytes
    for (let phase = 0; phase < 4; phase++) {
      const before = flowFiles(dir).length;
      await connections(ep, 10 + 50 * phase, 50);
      await waitFor(() => flowFiles(dir).length > before, 5_000, 'a file rolled');
    }
    await waitFor(() => d.daemon.dataPlane.activeConnections === 0, 3_000, 'every connection closed');
    await d.stop();
    daemons.delete(d);
    const files = flowFiles(dir);
    expect(files.length).toBeGreaterThan(2);
    // flow.log itself is never written: the records go to flow.1.log, flow.2.log, ... (README "Config reference")
    expect(fs.readdirSync(dir).sort()).toEqual(files.map((_, i) => `flow.${i + 1}.log`).sort());
    const records = parse(files);
    expect(records).toHaveLength(400);
    expect(new Set(records.map((r) => `${r.srcaddr}>${r.dstaddr}`)).size).toBe(400);
    // a file is rolled once a write takes it past max_file_bytes (pino-roll: by a batch or two)
    for (const f of files) expect(fs.statSync(f).size).toBeLessThan(4096 + 2 * 65_536);
  });

  it('max_files holds across restarts: a daemon removes the files of the runs before it beyond max_files', async () => {
    const dir = tempDir('vpcep-flow-');
    const flowLogs = { destination: 'file', file: path.join(dir, 'flow.log'), max_file_bytes: 4096, max_files: 2 };
    // a file of another name in the directory is left alone
    fs.writeFileSync(path.join(dir, 'notes.1.log'), 'kept\n');
    for (let run = 0; run < 3; run++) {
      const d = await daemon(flowLogs);
      const ep = await endpoint(d, [[80, await echoBackend()]]);
      // each run rolls its file three times (50 connections: about 19 KB of records, a roll each)
      for (let phase = 0; phase < 3; phase++) {
        const last = flowFiles(dir).at(-1);
        await connections(ep, 10 + 50 * phase, 50);
        await waitFor(() => flowFiles(dir).at(-1) !== last, 5_000, 'a file rolled');
      }
      // the current file and the max_files before it (before, each run left its own three for good)
      const ours = () => flowFiles(dir).map((f) => path.basename(f)).filter((f) => f.startsWith('flow.'));
      await waitFor(() => ours().length === 3, 3_000, `max_files + 1 files, not ${ours()}`);
      await d.stop();
      daemons.delete(d);
    }
    expect(fs.readFileSync(path.join(dir, 'notes.1.log'), 'utf8')).toBe('kept\n');
  });

  it('the directory removed while written: the file is opened again and later records reach it', async () => {
    const dir = path.join(tempDir('vpcep-flow-'), 'logs');
    const d = await daemon({ destination: 'file', file: path.join(dir, 'flow.log') });
    const ep = await endpoint(d, [[80, await echoBackend()]]);
    await connections(ep, 10, 5);
    await settled(d, dir);
    fs.rmSync(dir, { recursive: true });
    // the next tick finds the file gone (before, records went on into the removed file, until a
    // rotation at max_file_bytes, 100 MiB by default)
    await waitFor(() => fs.existsSync(dir) && flowFiles(dir).length === 1, 3_000, 'the file made again');
    await connections(ep, 100, 5);
    await waitFor(() => linesWritten(dir) === 10, 3_000, 'the later records written to it');
    expect(parse(flowFiles(dir)).filter((r) => r.dstport === 80).map((r) => r.srcaddr).sort()).toEqual(['10.0.1.100', '10.0.1.101', '10.0.1.102', '10.0.1.103', '10.0.1.104']);
  });

  it('the directory removed and a file put in its way: the records of the outage are dropped and counted, not written into the removed file; the removal logged once; the file made again once it can be', async () => {
    const dir = tempDir('vpcep-flow-');
    const logs = path.join(dir, 'logs');
    const { child, ep } = await fileLogDaemon(dir, path.join(logs, 'flow.log'));
    const lines = () => child.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    const removed = () => lines().filter((l) => l.msg.startsWith('flow logs: the file was removed while written'));
    const metric = async (name: string) => (await metricValue(child.url, name))!;
    await connections(ep, 10, 1);
    await waitFor(() => fs.existsSync(logs) && linesWritten(logs) === 2, 5_000, 'the first 2 records written');
    fs.rmSync(logs, { recursive: true });
    fs.writeFileSync(logs, 'in the way\n');
    await waitFor(() => removed().length === 1, 5_000, 'the removal seen');
    await connections(ep, 20, 3);
    // before, the outage's records went on into the removed file, uncounted
    await waitFor(async () => (await metric('vpcep_flow_log_dropped_records_total')) === 6, 5_000, 'the 6 records of the outage dropped and counted');
    expect(await metric('vpcep_flow_log_records_total')).toBe(8);
    expect(lines().filter((l) => l.msg.startsWith('flow logs: cannot open the file'))).toHaveLength(1);
    // before, the removal was logged again every second while the file could not be opened
    await new Promise((r) => setTimeout(r, 2_500));
    expect(removed()).toHaveLength(1);
    fs.rmSync(logs);
    await waitFor(() => fs.existsSync(logs) && flowFiles(logs).length === 1, 5_000, 'the file made again');
    await connections(ep, 30, 1);
    await waitFor(() => linesWritten(logs) === 2, 5_000, 'the later records written');
    expect(parse(flowFiles(logs)).map((r) => r.srcaddr).sort()).toEqual([ep.ip, '10.0.1.30']);
    expect(await metric('vpcep_flow_log_dropped_records_total')).toBe(6);
    child.proc.kill('SIGTERM');
    expect((await child.exited).code).toBe(0);
  });

  it.skipIf(!asRoot)(rootOnly('a full disk that recovers: the records kept are written in batches, each file rotated once it reaches max_file_bytes, none left empty', 'mount a small tmpfs'), async () => {
    const disk = tmpfs('256k');
    disks.add(disk);
    const d = await daemon({ destination: 'file', file: path.join(disk.dir, 'flow.log'), max_file_bytes: 20_000, max_files: 100, buffer_bytes: 65_536 });
    const ep = await endpoint(d, [[80, await echoBackend()]]);
    await connections(ep, 10, 20);
    await settled(d, disk.dir);
    disk.fill();
    // 600 records of about 190 bytes: the buffer keeps 64 KiB of them
    await connections(ep, 300, 300);
    await waitFor(() => d.daemon.dataPlane.activeConnections === 0, 3_000, 'every connection closed');
    disk.free();
    const { dropped } = await settled(d, disk.dir);
    await d.stop();
    daemons.delete(d);
    const files = flowFiles(disk.dir);
    // before, the whole 64 KiB went into one file (82-86 KB), then two rotations each left an empty file
    expect(files.length).toBeGreaterThan(1);
    for (const f of files) {
      expect(fs.statSync(f).size).toBeGreaterThan(0);
      expect(fs.statSync(f).size).toBeLessThan(20_000 + 16_384); // rotated after the batch (16 KiB at most) that reached max_file_bytes
    }
    expect(parse(files)).toHaveLength(640 - dropped);
  });

  it.skipIf(!asRoot)(rootOnly('a full disk: records beyond the buffer are dropped and counted, connections still relay, the daemon stays up', 'mount a small tmpfs'), async () => {
    const disk = tmpfs('256k');
    disks.add(disk);
    const d = await daemon({ destination: 'file', file: path.join(disk.dir, 'flow.log'), buffer_bytes: 65_536 });
    const ep = await endpoint(d, [[80, await echoBackend()]]);
    disk.fill();
    // 600 records of about 190 bytes: more than the 64 KiB buffer holds
    await connections(ep, 300, 300);
    await waitFor(() => d.daemon.dataPlane.activeConnections === 0, 3_000, 'every connection closed');
    const dropped = await metricValue(d.url, 'vpcep_flow_log_dropped_records_total');
    const made = await metricValue(d.url, 'vpcep_flow_log_records_total');
    expect(made).toBe(600);
    expect(dropped).toBeGreaterThan(0);
    expect(dropped).toBeLessThan(600);
    // the disk has room again: what the buffer kept is written (retried every second), whole records only
    disk.free();
    const before = await settled(d, disk.dir);
    expect(before.dropped).toBeGreaterThanOrEqual(dropped!);
    const c = new Client(ep, 5, 80);
    expect(await c.settled).toBe('connected');
    await c.echo('after the disk was freed');
    await c.end();
    await waitFor(() => d.daemon.dataPlane.activeConnections === 0, 3_000, 'the connection closed');
    // nothing dropped any more
    expect(await settled(d, disk.dir)).toEqual({ made: 602, dropped: before.dropped });
    await d.stop();
    daemons.delete(d);
    const records = parse(flowFiles(disk.dir));
    expect(records.length).toBe(602 - before.dropped);
    expect(records.filter((r) => r.srcaddr === '10.0.1.5')).toHaveLength(1);
  });

  it.skipIf(!asRoot)(rootOnly('a frozen disk (fsfreeze): connections relay while the writer is stuck, what overflows is dropped and counted, the rest written after the thaw', 'freeze an ext4 loop device (mount, fsfreeze)'), async () => {
    const disk = ext4(16);
    disks.add(disk);
    const d = await daemon({ destination: 'file', file: path.join(disk.dir, 'flow.log'), buffer_bytes: 65_536 });
    const ep = await endpoint(d, [[80, await echoBackend()]]);
    await connections(ep, 10, 10);
    disk.freeze();
    // 600 records: the first batch's write blocks in the kernel; the buffer takes 64 KiB, the rest is dropped
    await connections(ep, 300, 300);
    await waitFor(() => d.daemon.dataPlane.activeConnections === 0, 3_000, 'every connection closed');
    expect(await metricValue(d.url, 'vpcep_flow_log_dropped_records_total')).toBeGreaterThan(0);
    expect(await metricValue(d.url, 'vpcep_flow_log_records_total')).toBe(620);
    disk.thaw();
    const { dropped } = await settled(d, disk.dir);
    await d.stop();
    daemons.delete(d);
    const records = parse(flowFiles(disk.dir));
    expect(records.length).toBe(620 - dropped);
  });

  /** a daemon of its own (its exit watched) whose flow log goes to FILE, with an endpoint to an echo backend on port 80 */
  async function fileLogDaemon(dir: string, file: string) {
    const config = writeConfig(dir, twoAccountConfig({ flow_logs: { destination: 'file', file } }));
    const child = await spawnDaemon(['--config', config, '--data-dir', path.join(dir, 'data')]);
    children.add(child);
    const api = { provider: new ApiClient(child.url, PROVIDER.token, PROVIDER.project_id), consumer: new ApiClient(child.url, CONSUMER.token, CONSUMER.project_id) };
    return { child, ep: await endpoint(api, [[80, await echoBackend()]]) };
  }

  it('a file that cannot be opened (a file where its directory goes): no crash, the records dropped and counted, the failure logged, the file opened once it can be', async () => {
    const dir = tempDir('vpcep-flow-');
    const logs = path.join(dir, 'logs');
    fs.writeFileSync(logs, 'in the way\n');
    const config = writeConfig(dir, twoAccountConfig({ flow_logs: { destination: 'file', file: path.join(logs, 'flow.log') } }));
    const child = await spawnDaemon(['--config', config, '--data-dir', path.join(dir, 'data')]);
    children.add(child);
    const api = { provider: new ApiClient(child.url, PROVIDER.token, PROVIDER.project_id), consumer: new ApiClient(child.url, CONSUMER.token, CONSUMER.project_id) };
    const ep = await endpoint(api, [[80, await echoBackend()]]);
    await connections(ep, 10, 3);
    // handed over within a second: before, the SonicBoom that never opened threw at its first write (fd -1) and the daemon died
    await waitFor(async () => (await metricValue(child.url, 'vpcep_flow_log_dropped_records_total')) === 6, 5_000, 'the 6 records dropped');
    expect(await metricValue(child.url, 'vpcep_flow_log_records_total')).toBe(6);
    const lines = () => child.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    expect(lines().filter((l) => l.msg.startsWith('flow logs: cannot open the file'))).toHaveLength(1); // once a minute
    // opening is tried every second: the directory can be made now
    fs.rmSync(logs);
    await waitFor(() => fs.existsSync(logs) && flowFiles(logs).length === 1, 5_000, 'the file opened');
    await connections(ep, 20, 2);
    await waitFor(() => linesWritten(logs) === 4, 5_000, 'the later records written');
    expect(lines().some((l) => l.msg === 'flow logs: the file is open')).toBe(true);
    expect(child.proc.exitCode).toBe(null);
    child.proc.kill('SIGTERM');
    expect((await child.exited).code).toBe(0);
  });

  it('a file under /proc (mkdir answers ENOENT below a directory that exists): the failure logged, the records dropped and counted, not lost unsaid', async () => {
    const dir = tempDir('vpcep-flow-');
    const { child, ep } = await fileLogDaemon(dir, '/proc/nope/flow.log');
    await connections(ep, 10, 3);
    // before, Node's recursive mkdir spun for good: records counted as made, none dropped, no error logged
    await waitFor(async () => (await metricValue(child.url, 'vpcep_flow_log_dropped_records_total')) === 6, 5_000, 'the 6 records dropped');
    expect(child.output()).toContain('flow logs: cannot open the file');
    child.proc.kill('SIGTERM');
    expect((await child.exited).code).toBe(0);
  });

  it('destination stdout: records on the daemon\'s standard output beside its JSON log lines, written at SIGTERM', async () => {
    const dir = tempDir('vpcep-flow-');
    const config = writeConfig(dir, twoAccountConfig({ flow_logs: { destination: 'stdout', aggregation_interval_s: 60 } }));
    const child = await spawnDaemon(['--config', config, '--data-dir', path.join(dir, 'data')]);
    children.add(child);
    const api = { provider: new ApiClient(child.url, PROVIDER.token, PROVIDER.project_id), consumer: new ApiClient(child.url, CONSUMER.token, CONSUMER.project_id) };
    const ep = await endpoint(api, [[80, await echoBackend()]]);
    await connections(ep, 20, 3);
    child.proc.kill('SIGTERM');
    expect((await child.exited).code).toBe(0);
    const lines = child.output().split('\n').filter((l) => l !== '');
    const recordLines = lines.filter((l) => !l.startsWith('{'));
    expect(lines.some((l) => l.startsWith('{') && JSON.parse(l).msg === 'flow logs on')).toBe(true);
    const file = path.join(dir, 'stdout-records.log');
    fs.writeFileSync(file, `${recordLines.join('\n')}\n`);
    const records = parse([file]);
    expect(records).toHaveLength(6);
    expect(records.every((r) => r.action === 'ACCEPT' && r['vpcep-endpoint-id'] === ep.id)).toBe(true);
  });

  it('gateway endpoints: a routed connection is recorded with the public destination and the gateway endpoint, no interface; one refused without a route, REJECT', async () => {
    const dir = tempDir('vpcep-flow-');
    const backend = await echoBackend();
    const P = 20_000 + Math.floor(Math.random() * 20_000);
    const d = await startTestDaemon(twoAccountConfig({
      flow_logs: { destination: 'file', file: path.join(dir, 'flow.log') },
      public_services: [{ name: 'obs', service_type: 'gateway', prefix_list: { id: 'pl-obs', cidrs: ['100.125.0.0/24'] }, ports: [{ port: P, target: `127.0.0.1:${backend}` }] }],
    }), tempDir());
    daemons.add(d);
    const k = d.daemon.control.routing().vpcs.get('vpc-client')!.number;
    const connect = (low: number) => {
      const s = net.connect({ host: '127.255.0.5', port: P, localAddress: `127.${k}.1.${low}` });
      sockets.add(s);
      s.on('error', () => undefined);
      s.resume(); // the echo is read, so that the close comes
      return s;
    };
    // no route to 100.125.0.0/24 yet: refused
    const refused = connect(8);
    await new Promise((r) => refused.once('close', r));

    const svc = (await d.consumer.get('/vpc-endpoint-services/public')).body.endpoint_services.find((s: any) => s.service_name === 'sim-1.obs');
    const created = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: svc.id, vpc_id: 'vpc-client' });
    expect(created.status).toBe(200);
    await waitFor(async () => (await d.consumer.get(`/vpc-endpoints/${created.body.id}`)).body.status === 'accepted', 5_000, 'gateway endpoint accepted');
    const routed = connect(7);
    await new Promise((r) => routed.once('connect', r));
    routed.end('through the gateway endpoint'); // 28 bytes, echoed
    await new Promise((r) => routed.once('close', r));
    await waitFor(() => d.daemon.dataPlane.activeConnections === 0, 3_000, 'every connection closed');
    await d.stop();
    daemons.delete(d);

    const records = parse(flowFiles(dir));
    // account-id: the gateway endpoint owner's (none for a refusal no endpoint made)
    expect(records.map((r) => [r.action, r['account-id'], r.srcaddr, r.dstaddr, r.dstport === P || r.srcport === P, r.bytes, r['interface-id'], r['vpcep-endpoint-id'], r['vpcep-snat-addr'], r['vpcep-reason']])).toEqual([
      ['REJECT', null, '10.0.1.8', '100.125.0.5', true, 0, null, '-', '-', 'not_accepted'],
      ['ACCEPT', CONSUMER.domain_id, '10.0.1.7', '100.125.0.5', true, 28, null, created.body.id, '-', 'done'],
      ['ACCEPT', CONSUMER.domain_id, '100.125.0.5', '10.0.1.7', true, 28, null, created.body.id, '-', 'done'],
    ]);
  });

  it('off by default: no file, no records, the metrics at 0', async () => {
    const dir = tempDir('vpcep-flow-');
    const d = await startTestDaemon(twoAccountConfig(), dir);
    daemons.add(d);
    const ep = await endpoint(d, [[80, await echoBackend()]]);
    const c = new Client(ep, 5, 80);
    expect(await c.settled).toBe('connected');
    await c.echo('nothing logged');
    await c.end();
    expect(await metricValue(d.url, 'vpcep_flow_log_records_total')).toBe(0);
    expect(fs.existsSync(path.join(dir, 'data', 'flow-logs'))).toBe(false);
  });
});

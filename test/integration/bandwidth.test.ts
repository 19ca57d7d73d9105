// Bandwidth per endpoint connection (issue 15; README "Bandwidth"): Alibaba's range refused in
// Huawei's shape, the service's default and the provider's per-connection limit, enforced both
// ways by the relay that runs (this file runs again with VPCEP_RELAY=js), changed live on open
// connections, counted in /metrics; with the native relay the threads accept and shape a limited
// endpoint's connections (the fast path). Transfers are sized to take >= 1 s at 100 Mbit/s (Alibaba's
// minimum): the bounds are "at least the limit's effect, less than twice it".
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMER, SERVICE_BODY, metricValue, startTestDaemon, waitFor, type TestDaemon } from '../helpers.js';
import { randomPort, startBackend, type TestBackend } from './backends.js';
import { loadNativeRelay, relayChoice } from '../../src/dataplane/native-relay.js';

/** 100 Mbit/s in bytes/s */
const RATE = 100e6 / 8;
/** 16 MB: 1.28 s at 100 Mbit/s (the bucket's 50 ms burst aside) */
const SIZE = 16e6;
const LIMITED_S = SIZE / RATE;
/**
 * the most a limited transfer may take: four times its time at the limit. The JS relay took 3.3 s
 * of 1.28 in one CI run (four groups on 2 cores); the lower bound (0.9x) is what shows the limit holds
 */
const SLOWEST_S = LIMITED_S * 4;

/** whether the daemon's relay threads accept (the native relay's fast path): its endpoints stay there with a limit */
const THREADS = relayChoice().relay === 'native' && loadNativeRelay() !== null && (process.env.VPCEP_FAST_ACCEPT ?? '').trim().toLowerCase() !== 'off';

let d: TestDaemon;
let backend: TestBackend;

/**
 * The backend: a client that sends "DOWN n\n" is sent n bytes then a FIN; any other client is an
 * upload, answered with the byte count once it half-closes.
 */
function sink(socket: net.Socket): void {
  let count = 0;
  let first = true;
  socket.on('data', (b: Buffer) => {
    if (first && b.toString('latin1', 0, 5) === 'DOWN ') {
      first = false;
      const n = Number(b.toString('latin1').slice(5).trim());
      writeBytes(socket, n, () => socket.end());
      return;
    }
    first = false;
    count += b.length;
  });
  socket.on('end', () => { if (!socket.writableEnded) socket.end(`${count}`); });
}

const CHUNK = Buffer.alloc(64 * 1024, 0x61);

/** writes n bytes with backpressure, then calls done */
function writeBytes(socket: net.Socket, n: number, done: () => void): void {
  let left = n;
  const more = (): void => {
    while (left > 0) {
      const c = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
      left -= c.length;
      if (!socket.write(c)) return void socket.once('drain', more);
    }
    done();
  };
  more();
}

function connect(host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, allowHalfOpen: true });
    s.once('connect', () => resolve(s)).once('error', reject);
  });
}

/** uploads n bytes on an open connection and half-closes; seconds until the backend's count comes back (checked) */
async function upload(s: net.Socket, n: number): Promise<number> {
  const t0 = performance.now();
  let answer = '';
  s.on('data', (b: Buffer) => { answer += b.toString(); });
  const ended = new Promise<void>((resolve, reject) => s.once('end', resolve).once('error', reject));
  writeBytes(s, n, () => s.end());
  await ended;
  expect(Number(answer)).toBe(n);
  return (performance.now() - t0) / 1000;
}

/** asks the backend for n bytes on an open connection; seconds until all came and the FIN */
async function download(s: net.Socket, n: number): Promise<number> {
  const t0 = performance.now();
  let got = 0;
  s.on('data', (b: Buffer) => { got += b.length; });
  const ended = new Promise<void>((resolve, reject) => s.once('end', resolve).once('error', reject));
  s.write(`DOWN ${n}\n`);
  await ended;
  s.end();
  expect(got).toBe(n);
  return (performance.now() - t0) / 1000;
}

let nextPort = randomPort();

/** a service of its own (body extras, e.g. bandwidth) and an accepted endpoint of the consumer's; where to connect */
async function endpoint(extra: Record<string, unknown> = {}): Promise<{ serviceId: string; endpointId: string; host: string; port: number }> {
  const port = nextPort++;
  const svc = await d.provider.post('/vpc-endpoint-services', {
    ...SERVICE_BODY, service_name: `bw${port}`, approval_enabled: false, ports: [{ client_port: port, server_port: backend.port, protocol: 'TCP' }], ...extra,
  });
  expect(svc.status, JSON.stringify(svc.body)).toBe(200);
  await waitFor(async () => (await d.provider.get(`/vpc-endpoint-services/${svc.body.id}`)).body.status === 'available');
  await d.provider.post(`/vpc-endpoint-services/${svc.body.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] });
  const ep = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: svc.body.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
  expect(ep.status, JSON.stringify(ep.body)).toBe(200);
  const up = await waitFor(async () => {
    const r = await d.consumer.get(`/vpc-endpoints/${ep.body.id}`);
    return r.body.status === 'accepted' ? r.body : null;
  }, 5_000, 'endpoint accepted');
  return { serviceId: svc.body.id, endpointId: ep.body.id, host: up.host_ip, port };
}

const setBandwidth = (serviceId: string, endpointId: string, bandwidth: number | null) =>
  d.provider.put(`/vpc-endpoint-services/${serviceId}/connections/bandwidth`, { connections: [{ id: endpointId, bandwidth }] });

beforeAll(async () => {
  backend = await startBackend(sink, { allowHalfOpen: true });
  d = await startTestDaemon();
});

afterAll(async () => {
  await d?.stop();
  await backend?.close();
});

describe('bandwidth per endpoint connection', () => {
  it('refuses a limit outside Alibaba\'s 100-10,240 Mbit/s in Huawei\'s shape, and changes nothing', async () => {
    for (const bandwidth of [99, 10_241, 150.5, -1, '200']) {
      const r = await d.provider.post('/vpc-endpoint-services', { ...SERVICE_BODY, service_name: 'bwbad', bandwidth });
      expect(r.status, String(bandwidth)).toBe(400);
      expect(r.body.error_code).toBe('EndPoint.0002');
      expect(r.body.error_msg).toMatch(/^bandwidth: must be/);
    }
    expect((await d.provider.get('/vpc-endpoint-services')).body.endpoint_services.some((s: any) => s.service_name.includes('bwbad'))).toBe(false);
    const e = await endpoint();
    const bad = await setBandwidth(e.serviceId, e.endpointId, 50);
    expect(bad.status).toBe(400);
    expect(bad.body.error_msg).toMatch(/from 100 to 10240/);
    // not a connection of this service, or the consumer asking: not found, nothing set
    expect((await setBandwidth(e.serviceId, 'no-such-endpoint', 200)).status).toBe(404);
    const consumerTry = await d.consumer.put(`/vpc-endpoint-services/${e.serviceId}/connections/bandwidth`, { connections: [{ id: e.endpointId, bandwidth: 200 }] });
    expect(consumerTry.status).toBe(404);
    const conns = await d.provider.get(`/vpc-endpoint-services/${e.serviceId}/connections`);
    expect(conns.body.connections[0].bandwidth).toBeUndefined();
    const modify = await d.provider.put(`/vpc-endpoint-services/${e.serviceId}`, { bandwidth: 10_241 });
    expect(modify.status).toBe(400);
    expect((await d.provider.get(`/vpc-endpoint-services/${e.serviceId}`)).body.bandwidth).toBeUndefined();
  });

  it('holds both directions to the service\'s default: 100 Mbit/s each way, counted in /metrics', async () => {
    const e = await endpoint({ bandwidth: 100 });
    const conns = await d.provider.get(`/vpc-endpoint-services/${e.serviceId}/connections`);
    expect(conns.body.connections[0]).toMatchObject({ bandwidth: 100, bandwidth_source: 'service' });
    const threadsBefore = (await metricValue(d.url, 'vpcep_relay_fast_accepted_total')) ?? 0;
    const [up, down] = await Promise.all([connect(e.host, e.port), connect(e.host, e.port)]);
    await waitFor(async () => (await metricValue(d.url, 'vpcep_bandwidth_limited_connections')) === 2, 5_000, 'two limited connections counted');
    // regression: a limited endpoint left the fast path; the relay threads accept and shape its connections now
    if (THREADS) expect((await metricValue(d.url, 'vpcep_relay_fast_accepted_total'))! - threadsBefore).toBe(2);
    const throttledBefore = (await metricValue(d.url, 'vpcep_bandwidth_throttled_seconds_total')) ?? 0;
    const [upS, downS] = await Promise.all([upload(up, SIZE), download(down, SIZE)]);
    expect(upS).toBeGreaterThanOrEqual(LIMITED_S * 0.9);
    expect(upS).toBeLessThan(SLOWEST_S);
    expect(downS).toBeGreaterThanOrEqual(LIMITED_S * 0.9);
    expect(downS).toBeLessThan(SLOWEST_S);
    up.destroy();
    down.destroy();
    await waitFor(async () => (await metricValue(d.url, 'vpcep_bandwidth_limited_connections')) === 0, 5_000, 'limited connections gone');
    // two directions each held about LIMITED_S; on CI's loaded cores the JS relay's counted 1.05 s of
    // the 1.28 asked (time spent waiting for a core is not held back): half still proves they count
    expect((await metricValue(d.url, 'vpcep_bandwidth_throttled_seconds_total'))! - throttledBefore).toBeGreaterThan(LIMITED_S / 2);
  });

  it('applies the provider\'s per-connection limit to open connections, and lifts it live', async () => {
    const e = await endpoint();
    const s = await connect(e.host, e.port);
    // no limit: a transfer of 4x the size is far under the limited time
    const free = await download(s, SIZE);
    s.destroy();
    const open = await connect(e.host, e.port);
    const set = await setBandwidth(e.serviceId, e.endpointId, 100);
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(set.body.connections[0]).toMatchObject({ id: e.endpointId, bandwidth: 100, bandwidth_source: 'connection' });
    const limited = await upload(open, SIZE);
    expect(limited).toBeGreaterThanOrEqual(LIMITED_S * 0.9);
    expect(limited).toBeLessThan(SLOWEST_S);
    expect(free).toBeLessThan(limited / 2);
    // lifted while a 4x transfer is held to the limit (5.1 s at 100 Mbit/s): it ends long before
    const held = await connect(e.host, e.port);
    const t0 = performance.now();
    const transfer = download(held, 4 * SIZE);
    await new Promise((r) => setTimeout(r, 300));
    const lift = await setBandwidth(e.serviceId, e.endpointId, null);
    expect(lift.status).toBe(200);
    expect(lift.body.connections[0].bandwidth).toBeUndefined();
    await transfer;
    expect((performance.now() - t0) / 1000).toBeLessThan((4 * LIMITED_S) / 2);
    held.destroy();
  });

  it('a service\'s default changed live reaches its open connections; a connection\'s own limit wins', async () => {
    const e = await endpoint();
    const open = await connect(e.host, e.port);
    const m = await d.provider.put(`/vpc-endpoint-services/${e.serviceId}`, { bandwidth: 100 });
    expect(m.status, JSON.stringify(m.body)).toBe(200);
    expect(m.body.bandwidth).toBe(100);
    const limited = await download(open, SIZE);
    expect(limited).toBeGreaterThanOrEqual(LIMITED_S * 0.9);
    expect(limited).toBeLessThan(SLOWEST_S);
    open.destroy();
    // the connection's own 10,240 Mbit/s over the service's 100: 16 MB well under the limited time
    expect((await setBandwidth(e.serviceId, e.endpointId, 10_240)).status).toBe(200);
    const fast = await connect(e.host, e.port);
    expect(await download(fast, SIZE)).toBeLessThan(LIMITED_S / 2);
    fast.destroy();
    // null: no default any more
    const cleared = await d.provider.put(`/vpc-endpoint-services/${e.serviceId}`, { bandwidth: null });
    expect(cleared.status).toBe(200);
    expect(cleared.body.bandwidth).toBeUndefined();
  });
});

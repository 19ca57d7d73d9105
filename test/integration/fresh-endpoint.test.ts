// A freshly made endpoint serves once the API says so (README "The data plane": the answer means
// the endpoint serves), on either path: each new endpoint is connected at once after the API
// answers, then again at once after a toxic takes it to the event loop's path, and after the
// toxic's removal puts it back on the relay threads. Regression: with the native relay's fast
// path, the threads and the event loop had a SNAT port pool each, both lowest first, and the
// first connection on the second path bound the port the first path's connection had just closed:
// its connect to the same backend met that one's TIME_WAIT (EADDRNOTAVAIL) and its client was
// reset (bench:faults met it on a fresh endpoint). Kernel SNAT binds those ports; with logical
// SNAT (no privileges) nothing is bound and the test holds trivially (fast-accept.test.ts pins
// the same with a bound SNAT address without privileges).
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMER, SERVICE_BODY, createAcceptedEndpoint, createAvailableService, startTestDaemon, twoAccountConfig, type TestDaemon } from '../helpers.js';
import { echo, randomPort, startBackend, type TestBackend } from './backends.js';

let d: TestDaemon;
let backend: TestBackend;
let api: string;
let serviceId: string;
let port: number;

beforeAll(async () => {
  backend = await startBackend(echo);
  d = await startTestDaemon(twoAccountConfig({ faults: { enabled: true, listen: '127.0.0.1:0' } }));
  api = `http://127.0.0.1:${d.daemon.faultsAddress!.port}`;
  port = randomPort();
  const svc = await createAvailableService(d, { ...SERVICE_BODY, approval_enabled: false, ports: [{ client_port: port, server_port: backend.port, protocol: 'TCP' }] });
  serviceId = svc.id;
  await d.provider.post(`/vpc-endpoint-services/${svc.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] });
});

afterAll(async () => {
  await d?.stop();
  await backend?.close();
});

/** one echo through the endpoint at HOST: 'ok', or how the connection ended */
function echoOnce(host: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.setTimeout(5_000, () => { s.destroy(); resolve('timeout'); });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    s.on('connect', () => s.write('x'));
    s.on('data', () => { s.destroy(); resolve('ok'); });
    s.on('end', () => resolve('end'));
  });
}

async function toxiproxy(method: string, path: string, body?: unknown): Promise<void> {
  const res = await fetch(`${api}${path}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  expect(res.status, `${method} ${path}`).toBeLessThan(300);
}

describe('a fresh endpoint relays its first connections at once, on either path', () => {
  it('four new endpoints, each connected at once after the API answers, after a toxic is added and after it is removed', async () => {
    const results: string[] = [];
    for (let i = 0; i < 4; i++) {
      const ep = await createAcceptedEndpoint(d.consumer, { endpoint_service_id: serviceId, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
      results.push(`${i} fresh ${await echoOnce(ep.host_ip)}`);
      // any toxic on its port takes the endpoint's new connections to the event loop's path
      await toxiproxy('POST', `/proxies/${ep.id}:${port}/toxics`, { type: 'latency', attributes: { latency: 1 } });
      results.push(`${i} toxic ${await echoOnce(ep.host_ip)}`);
      await toxiproxy('POST', '/reset');
      results.push(`${i} removed ${await echoOnce(ep.host_ip)}`);
    }
    expect(results).toEqual(Array.from({ length: 4 }, (_, i) => [`${i} fresh ok`, `${i} toxic ok`, `${i} removed ok`]).flat());
  });
});

// A stalled disk (fsfreeze on a real ext4 loop device) under the data dir: store commits wait for
// it in their worker thread, while the main thread goes on admitting and relaying new data-plane
// connections and answering reads. Run with both relays (test:js-relay).
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { CONSUMER, SERVICE_BODY, createAvailableService, startTestDaemon, waitFor, type TestDaemon } from '../helpers.js';
import { echo, startBackend, type TestBackend } from './backends.js';
import { asRoot, ext4, rootOnly, roundTrip } from './disk.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** a consumer endpoint, accepted, to a service whose port 80 relays to BACKEND */
export async function liveEndpoint(d: TestDaemon, backend: TestBackend): Promise<any> {
  const svc = await createAvailableService(d, {
    ...SERVICE_BODY, service_name: 'stall', approval_enabled: false, ports: [{ client_port: 80, server_port: backend.port, protocol: 'TCP' }],
  });
  expect((await d.provider.post(`/vpc-endpoint-services/${svc.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] })).status).toBe(200);
  const ep = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: svc.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
  expect(ep.status).toBe(200);
  return waitFor(async () => {
    const r = await d.consumer.get(`/vpc-endpoints/${ep.body.id}`);
    if (r.body.status === 'failed') throw new Error(`endpoint failed: ${JSON.stringify(r.body.error)}`);
    return r.body.status === 'accepted' ? r.body : null;
  }, 5_000, 'endpoint accepted');
}

describe.skipIf(!asRoot)(rootOnly('a stalled disk', 'freeze an ext4 loop device (mount, fsfreeze)'), () => {
  it('a frozen disk does not freeze new data-plane connections: they are admitted and relayed while a write waits for the disk', async () => {
    const disk = ext4(64);
    cleanups.push(() => disk.unmount());
    // Should the main thread block on the disk (the defect), nothing in this process could thaw it.
    const watchdog: ChildProcess = spawn('sh', ['-c', `sleep 10; fsfreeze -u ${disk.dir}`], { stdio: 'ignore' });
    cleanups.push(() => { watchdog.kill(); });
    const backend = await startBackend(echo);
    cleanups.push(() => backend.close());
    const d = await startTestDaemon(undefined, disk.dir);
    cleanups.push(() => d.stop());
    const ep = await liveEndpoint(d, backend);

    disk.freeze();
    const answered: string[] = [];
    const write = d.consumer.post(`/endpoint/${ep.id}/tags/action`, { action: 'create', tags: [{ key: 'k', value: 'v' }] })
      .then((r) => { answered.push(`write ${r.status}`); return r; });
    await new Promise((resolve) => setTimeout(resolve, 300)); // the write reaches its commit
    for (let i = 0; i < 5; i++) expect(await roundTrip(ep.host_ip, 80, `hello ${i}`)).toBe(`hello ${i}`);
    expect((await d.consumer.get(`/vpc-endpoints/${ep.id}`)).body.tags).toEqual([]);
    // Durable first, then answered: the write is still waiting for the disk.
    expect(answered).toEqual([]);

    disk.thaw();
    expect((await write).status).toBe(204);
    expect((await d.consumer.get(`/vpc-endpoints/${ep.id}`)).body.tags).toEqual([{ key: 'k', value: 'v' }]);
  });
});

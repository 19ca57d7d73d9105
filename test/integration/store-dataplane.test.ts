// Store and data plane converge: a commit that fails after the data plane acted (a full disk)
// leaves no endpoint relaying while it is stored as creating, and the periodic reconcile brings
// both together once the disk has room. Run with both relays (test:js-relay).
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ChangeEvent } from '../../src/model/events.js';
import { CONSUMER, SERVICE_BODY, createAvailableService, startTestDaemon, waitFor } from '../helpers.js';
import { echo, startBackend } from './backends.js';
import { asRoot, rootOnly, roundTrip, tmpfs } from './disk.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const refused = (host: string, port: number) => new Promise<boolean>((resolve) => {
  const s = net.connect({ host, port, localAddress: '127.2.1.50' });
  s.on('connect', () => { s.destroy(); resolve(false); });
  s.on('error', () => resolve(true));
});

describe.skipIf(!asRoot)(rootOnly('store and data plane converge', 'mount a small tmpfs'), () => {
  it('a disk full between the data plane acting and the commit leaves no endpoint relaying while creating, and the reconcile finishes it', async () => {
    const disk = tmpfs('2m');
    cleanups.push(() => disk.unmount());
    const backend = await startBackend(echo);
    cleanups.push(() => backend.close());
    const d = await startTestDaemon(undefined, disk.dir);
    cleanups.push(() => d.stop());
    const svc = await createAvailableService(d, {
      ...SERVICE_BODY, service_name: 'conv', approval_enabled: false, ports: [{ client_port: 80, server_port: backend.port, protocol: 'TCP' }],
    });
    expect((await d.provider.post(`/vpc-endpoint-services/${svc.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] })).status).toBe(200);

    // The disk fills up just as the data plane brings the endpoint up: its 'accepted' cannot be stored.
    const dataPlane = d.daemon.dataPlane;
    const apply = dataPlane.apply.bind(dataPlane);
    let filled = false;
    dataPlane.apply = async (event: ChangeEvent) => {
      const ack = await apply(event);
      if (event.kind === 'endpoint' && event.live && !filled) {
        filled = true;
        disk.fill();
      }
      return ack;
    };
    const ep = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: svc.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
    expect(ep.status, JSON.stringify(ep.body)).toBe(200);
    await waitFor(() => filled, 5_000, 'the endpoint to reach the data plane');
    await d.daemon.control.settle();
    const during = (await d.consumer.get(`/vpc-endpoints/${ep.body.id}`)).body;
    expect(during.status, JSON.stringify(during.error)).toBe('creating');
    expect(await refused(ep.body.host_ip, 80)).toBe(true);
    // The service is still in use by the creating endpoint, and says so.
    expect((await d.provider.delete(`/vpc-endpoint-services/${svc.id}`)).status).toBe(409);

    // A reconcile while the disk is full changes nothing and leaves nothing relaying.
    await d.daemon.control.converge();
    expect((await d.consumer.get(`/vpc-endpoints/${ep.body.id}`)).body.status).toBe('creating');
    expect(await refused(ep.body.host_ip, 80)).toBe(true);

    disk.free();
    await d.daemon.control.converge();
    expect((await d.consumer.get(`/vpc-endpoints/${ep.body.id}`)).body.status).toBe('accepted');
    expect(await roundTrip(ep.body.host_ip, 80, 'after')).toBe('after');
    expect((await d.consumer.delete(`/vpc-endpoints/${ep.body.id}`)).status).toBe(204);
    expect((await d.provider.delete(`/vpc-endpoint-services/${svc.id}`)).status).toBe(204);
  });
});

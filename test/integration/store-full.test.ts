// A full disk under the data dir: the API says so (507 EndPoint.0009), changes nothing, and works
// again once space is freed.
import path from 'node:path';
import { CreateVpcEndpointCommand } from '@aws-sdk/client-ec2';
import { afterEach, describe, expect, it } from 'vitest';
import { StoreFull, type Store } from '../../src/store/store.js';
import { CONSUMER, PROVIDER, SERVICE_BODY, createAcceptedEndpoint, createAvailableService, startTestDaemon, twoAccountConfig, waitFor, type TestDaemon } from '../helpers.js';
import { AWS_KEYS, ec2Clients, refused } from './aws-sdk.js';
import { asRoot, rootOnly, tmpfs, type Disk } from './disk.js';

let d: TestDaemon | undefined;
let disk: Disk | undefined;
afterEach(async () => {
  await d?.stop();
  disk?.unmount();
  d = undefined;
  disk = undefined;
});

describe.skipIf(!asRoot)(rootOnly('a full disk', 'mount a small tmpfs'), () => {
  it('a create on a full disk answers 507 "the store is full", not 500 "system error", and changes nothing', async () => {
    disk = tmpfs('2m');
    d = await startTestDaemon(undefined, disk.dir);
    const first = await createAvailableService(d);
    const before = (await d.provider.get('/vpc-endpoint-services')).body;

    disk.fill();
    const r = await d.provider.post('/vpc-endpoint-services', { ...SERVICE_BODY, service_name: 'second' });
    expect(r.status).toBe(507);
    expect(r.body).toEqual({ error_code: 'EndPoint.0009', error_msg: `the store is full: ${path.join(disk.dir, 'data')}` });
    const tag = await d.provider.post(`/endpoint_service/${first.id}/tags/action`, { action: 'create', tags: [{ key: 'k', value: 'v' }] });
    expect(tag.status).toBe(507);
    expect((await d.provider.get('/vpc-endpoint-services')).body).toEqual(before);

    disk.free();
    const again = await d.provider.post('/vpc-endpoint-services', { ...SERVICE_BODY, service_name: 'second' });
    expect(again.status).toBe(200);
  });

  it('a CreateVpcEndpoint the full disk refuses leaves nothing listening: the listener bound before its one commit is closed', async () => {
    disk = tmpfs('2m');
    d = await startTestDaemon(twoAccountConfig({ accounts: [{ ...PROVIDER, aws: AWS_KEYS.provider }, { ...CONSUMER, aws: AWS_KEYS.consumer }] }), disk.dir);
    const svc = await createAvailableService(d, { ...SERVICE_BODY, approval_enabled: false });
    expect((await d.provider.post(`/vpc-endpoint-services/${svc.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] })).status).toBe(200);
    const { consumer } = ec2Clients(d.url, AWS_KEYS);
    const create = () => consumer.send(new CreateVpcEndpointCommand({
      VpcEndpointType: 'Interface', VpcId: 'vpc-client', ServiceName: `com.amazonaws.vpce.us-east-1.${svc.id}`, SubnetIds: ['subnet-a'],
    }));
    try {
      const listeners = d.daemon.dataPlane.daemonLoad().listeners;
      disk.fill();
      expect(await refused(create())).toMatchObject({ code: 'InsufficientCapacity', status: 507 });
      expect(d.daemon.dataPlane.daemonLoad().listeners).toBe(listeners);
      expect((await d.consumer.get('/vpc-endpoints')).body.endpoints).toEqual([]);

      // the same address again once there is room: bound, stored and answered available
      disk.free();
      const made = (await create()).VpcEndpoint!;
      expect(made.State).toBe('available');
      expect(d.daemon.dataPlane.daemonLoad().listeners).toBe(listeners + 1);
    } finally {
      consumer.destroy();
    }
  });
});

describe('a deletion the store takes halfway', () => {
  it('a DELETE whose removal the store refuses (a full disk) is answered as taken: deleting, listeners closed, removed once the store writes again', async () => {
    d = await startTestDaemon(twoAccountConfig());
    const svc = await createAvailableService(d, { ...SERVICE_BODY, approval_enabled: false });
    expect((await d.provider.post(`/vpc-endpoint-services/${svc.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] })).status).toBe(200);
    const ep = await createAcceptedEndpoint(d.consumer, { endpoint_service_id: svc.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
    const listeners = d.daemon.dataPlane.daemonLoad().listeners;
    // the store refuses the removal (the second of a deletion's two commits) three times, as a full disk would
    const store = (d.daemon.control as unknown as { st: { store: Store } }).st.store;
    const commit = store.commit.bind(store);
    let refusals = 3;
    store.commit = (changes, expects) => (changes.some((c) => c.kind === 'endpoint' && c.value === null) && refusals-- > 0
      ? Promise.reject(new StoreFull('/full-disk')) : commit(changes, expects));
    const r = await d.consumer.delete(`/vpc-endpoints/${ep.id}`);
    // it was answered 507 "nothing changed" while the endpoint was deleting and its listener closed
    expect(r.status, JSON.stringify(r.body)).toBe(204);
    expect((await d.consumer.get(`/vpc-endpoints/${ep.id}`)).body.status).toBe('deleting');
    expect(d.daemon.dataPlane.daemonLoad().listeners).toBe(listeners - 1);
    await waitFor(async () => (await d!.consumer.get(`/vpc-endpoints/${ep.id}`)).status === 404, 15_000, 'the endpoint removed once the store writes again');
    expect(refusals).toBe(-1);
  });
});

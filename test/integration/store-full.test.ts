// A full disk under the data dir: the API says so (507 EndPoint.0009), changes nothing, and works
// again once space is freed.
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SERVICE_BODY, createAvailableService, startTestDaemon, type TestDaemon } from '../helpers.js';
import { asRoot, tmpfs, type Disk } from './disk.js';

let d: TestDaemon | undefined;
let disk: Disk | undefined;
afterEach(async () => {
  await d?.stop();
  disk?.unmount();
  d = undefined;
  disk = undefined;
});

describe.skipIf(!asRoot)('a full disk', () => {
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
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAvailableService, startTestDaemon, waitFor, CONSUMER, type TestDaemon } from '../helpers.js';

describe('smoke: the quick start over real HTTP', () => {
  let d: TestDaemon;
  beforeEach(async () => { d = await startTestDaemon(); });
  afterEach(async () => { await d.stop(); });

  it('a provider publishes a service, whitelists a consumer, approves its endpoint', async () => {
    const svc = await createAvailableService(d);
    expect(svc.service_name).toBe(`sim-1.web.${svc.id}`);
    expect(svc.approval_enabled).toBe(true);
    const denied = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: svc.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
    expect(denied.status).toBe(403);
    expect(denied.body.error_code).toBe('EndPoint.2012');
    const perm = await d.provider.post(`/vpc-endpoint-services/${svc.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] });
    expect(perm.status).toBe(200);
    const ep = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: svc.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
    expect(ep.status).toBe(200);
    expect(ep.body.status).toBe('pendingAcceptance');
    expect(ep.body.ip).toBe('10.0.1.2');
    expect(ep.body.host_ip).toBe('127.2.1.2');
    const acc = await d.provider.post(`/vpc-endpoint-services/${svc.id}/connections/action`, { action: 'receive', endpoints: [ep.body.id] });
    expect(acc.status).toBe(200);
    await waitFor(async () => (await d.consumer.get(`/vpc-endpoints/${ep.body.id}`)).body.status === 'accepted');
  });
});

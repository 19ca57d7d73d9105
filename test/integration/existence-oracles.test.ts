// What a caller can learn about other tenants (issue 10, item 4): nothing. An id the caller may not
// see answers as an unknown id does; the unauthenticated /metrics carries no endpoint or service id; the
// effective configuration names the caller's VPCs only, and no count of accounts or VPCs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CONSUMER, METRICS_TOKEN, PROVIDER, SERVICE_BODY, createAvailableService, parseMetrics, startTestDaemon, twoAccountConfig, waitFor,
  type TestDaemon,
} from '../helpers.js';

/** a third account with its own service, to which the consumer connects */
const THIRD = { name: 'third', domain_id: 'd3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3', project_id: 'e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3', token: 'third-secret' };

function config(): Record<string, unknown> {
  const base = twoAccountConfig();
  return {
    ...base,
    accounts: [PROVIDER, CONSUMER, THIRD],
    vpcs: [
      ...(base.vpcs as unknown[]),
      {
        id: 'vpc-third', account: 'third', cidr: '172.20.0.0/16',
        subnets: [{ id: 'subnet-third', cidr: '172.20.1.0/24' }],
        ports: [{ id: 'port-third', subnet: 'subnet-third', ip: '172.20.1.10', type: 'VM', target: '127.0.0.1' }],
      },
    ],
  };
}

let d: TestDaemon;
/** the provider's service, the consumer's endpoint on it, and the consumer's endpoint on the third account's service */
let svc: string;
let epOnProvider: string;
let epOnThird: string;

async function endpointOn(serviceId: string, subnet: string): Promise<string> {
  const r = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: serviceId, vpc_id: 'vpc-client', subnet_id: subnet });
  expect(r.status).toBe(200);
  return r.body.id;
}

beforeAll(async () => {
  d = await startTestDaemon(config());
  const third = d.client(THIRD.token, THIRD.project_id);
  svc = (await createAvailableService(d, { ...SERVICE_BODY, approval_enabled: true })).id;
  expect((await d.provider.post(`/vpc-endpoint-services/${svc}/permissions/action`, { action: 'add', permissions: ['*'] })).status).toBe(200);
  const t = await third.post('/vpc-endpoint-services', { ...SERVICE_BODY, port_id: 'port-third', vpc_id: 'vpc-third', service_name: 'third' });
  expect(t.status).toBe(200);
  await waitFor(async () => (await third.get(`/vpc-endpoint-services/${t.body.id}`)).body.status === 'available', 5_000, 'third service');
  expect((await third.post(`/vpc-endpoint-services/${t.body.id}/permissions/action`, { action: 'add', permissions: ['*'] })).status).toBe(200);
  epOnProvider = await endpointOn(svc, 'subnet-a');
  epOnThird = await endpointOn(t.body.id, 'subnet-b');
});

afterAll(async () => {
  await d?.stop();
});

describe('existence oracles', () => {
  it('a connection action naming another tenant\'s endpoint answers 404 EndPoint.2006, as an unknown id does, and changes nothing', async () => {
    const unknown = await d.provider.post(`/vpc-endpoint-services/${svc}/connections/action`, { action: 'receive', endpoints: ['00000000-0000-4000-8000-000000000000'] });
    const other = await d.provider.post(`/vpc-endpoint-services/${svc}/connections/action`, { action: 'receive', endpoints: [epOnThird] });
    expect(unknown).toEqual({ status: 404, body: { error_code: 'EndPoint.2006', error_msg: 'endpoint 00000000-0000-4000-8000-000000000000 does not exist' } });
    expect(other).toEqual({ status: 404, body: { error_code: 'EndPoint.2006', error_msg: `endpoint ${epOnThird} does not exist` } });
    expect((await d.consumer.get(`/vpc-endpoints/${epOnThird}`)).body.status).toBe('pendingAcceptance');
    // an endpoint connected to the caller's service stays visible to it
    const own = await d.provider.post(`/vpc-endpoint-services/${svc}/connections/action`, { action: 'receive', endpoints: [epOnProvider] });
    expect(own.status).toBe(200);
    await waitFor(async () => (await d.consumer.get(`/vpc-endpoints/${epOnProvider}`)).body.status === 'accepted', 5_000, 'endpoint accepted');
  });

  it('the unauthenticated GET /metrics names no endpoint, service or backend: their series need the metrics token', async () => {
    const open = await (await fetch(`${d.url}/metrics`)).text();
    expect(open).toMatch(/^vpcep_active_connections \d+$/m);
    expect(parseMetrics(open).filter((s) => 'endpoint_id' in s.labels || 'service_id' in s.labels || 'backend' in s.labels)).toEqual([]);
    for (const id of [epOnProvider, epOnThird, svc]) expect(open).not.toContain(id);

    const withToken = await (await fetch(`${d.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
    expect(withToken).toContain(`vpcep_endpoint_connections_total{endpoint_id="${epOnProvider}"}`);
    // the service's backend (port-web's real address), as the operator's scraper sees it
    expect(withToken).toMatch(new RegExp(`^vpcep_backend_up\\{service_id="${svc}",backend="127\\.0\\.0\\.1:\\d+",zone="[^"]+"\\} 1$`, 'm'));
    expect(withToken).toMatch(/^vpcep_active_connections \d+$/m);

    for (const authorization of ['Bearer wrong-token-0123456789', `Basic ${METRICS_TOKEN}`, PROVIDER.token]) {
      const r = await fetch(`${d.url}/metrics`, { headers: { authorization } });
      expect(r.status).toBe(401);
      expect(await r.json()).toEqual({ error_code: 'EndPoint.0003', error_msg: expect.stringContaining('Bearer') });
    }
  });

  it('GET /sim/config names the caller\'s VPCs only, and neither how many accounts nor how many VPCs there are', async () => {
    const c = await d.consumer.get('/sim/config');
    expect(c.status).toBe(200);
    expect(c.body.vpcs).toEqual(['vpc-client']);
    expect(c.body).not.toHaveProperty('accounts');
    const text = JSON.stringify(c.body);
    for (const secret of ['vpc-app', 'vpc-third', 'vpc-provider-client', PROVIDER.name, THIRD.name, PROVIDER.token, METRICS_TOKEN]) {
      expect(text).not.toContain(secret);
    }
    expect((await d.provider.get('/sim/config')).body.vpcs).toEqual(['vpc-app', 'vpc-provider-client']);
    const anonymous = await d.client(undefined, CONSUMER.project_id).get('/sim/config');
    expect(anonymous.status).toBe(401);
  });
});

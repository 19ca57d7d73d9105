// Every rule of the control plane, over real HTTP against an in-process daemon: one `it` per rule,
// each asserting exact statuses, error codes and fields (huawei-vpcep-api.md).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ApiClient, CONSUMER, PROVIDER, SERVICE_BODY, createAvailableService, startTestDaemon, twoAccountConfig, waitFor,
  type ApiResult, type TestDaemon,
} from '../helpers.js';

const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** a third account, with a VPC of its own, for "any account" rules */
const OTHER = {
  name: 'other',
  domain_id: 'd0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0',
  project_id: 'b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2',
  token: 'other-secret',
};

function threeAccountConfig(): Record<string, unknown> {
  const base = twoAccountConfig();
  return {
    ...base,
    accounts: [PROVIDER, CONSUMER, OTHER],
    vpcs: [
      ...(base.vpcs as unknown[]),
      { id: 'vpc-other', account: 'other', cidr: '172.16.0.0/16', subnets: [{ id: 'subnet-o', cidr: '172.16.1.0/24' }] },
    ],
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function expectError(r: ApiResult, status: number, code: string): void {
  expect({ status: r.status, code: r.body?.error_code }).toEqual({ status, code });
  expect(typeof r.body.error_msg).toBe('string');
}

/** the consumer's endpoint body in vpc-client */
function epBody(serviceId: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { endpoint_service_id: serviceId, vpc_id: 'vpc-client', subnet_id: 'subnet-a', ...extra };
}

async function createEp(client: ApiClient, body: Record<string, unknown>): Promise<any> {
  const r = await client.post('/vpc-endpoints', body);
  if (r.status !== 200) throw new Error(`create endpoint: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

async function permit(d: TestDaemon, serviceId: string, permission = `iam:domain::${CONSUMER.domain_id}`): Promise<void> {
  const r = await d.provider.post(`/vpc-endpoint-services/${serviceId}/permissions/action`, { action: 'add', permissions: [permission] });
  if (r.status !== 200) throw new Error(`add permission: ${r.status} ${JSON.stringify(r.body)}`);
}

async function waitEndpoint(client: ApiClient, id: string, status: string): Promise<any> {
  return waitFor(async () => {
    const r = await client.get(`/vpc-endpoints/${id}`);
    return r.body?.status === status ? r.body : null;
  }, 5_000, `endpoint ${id} to become ${status}`);
}

async function connection(d: TestDaemon, serviceId: string, action: 'receive' | 'reject', endpointId: string): Promise<ApiResult> {
  return d.provider.post(`/vpc-endpoint-services/${serviceId}/connections/action`, { action, endpoints: [endpointId] });
}

/** a service the consumer may connect to */
async function permittedService(d: TestDaemon, body: Record<string, unknown> = SERVICE_BODY): Promise<any> {
  const svc = await createAvailableService(d, body);
  await permit(d, svc.id);
  return svc;
}

// ---- 1. quotas ---------------------------------------------------------------------------------

describe('rule 1: quotas', () => {
  let d: TestDaemon;
  beforeEach(async () => {
    d = await startTestDaemon(twoAccountConfig({
      accounts: [
        { ...PROVIDER, quotas: { endpoint_service: 2, endpoint: 3 } },
        { ...CONSUMER, quotas: { endpoint_service: 2, endpoint: 3 } },
      ],
    }));
  });
  afterEach(async () => { await d.stop(); });

  it('the endpoint_service quota refuses the next create with 403 EndPoint.2060', async () => {
    await createAvailableService(d);
    await createAvailableService(d, { ...SERVICE_BODY, service_name: 'web2' });
    const r = await d.provider.post('/vpc-endpoint-services', { ...SERVICE_BODY, service_name: 'web3' });
    expectError(r, 403, 'EndPoint.2060');
    const list = await d.provider.get('/vpc-endpoint-services');
    expect(list.body.total_count).toBe(2);
  });

  it('the endpoint quota refuses the next create with 403 EndPoint.2060, and a deletion frees a slot', async () => {
    const svc = await permittedService(d);
    const eps = [];
    for (let i = 0; i < 3; i++) eps.push(await createEp(d.consumer, epBody(svc.id)));
    const r = await d.consumer.post('/vpc-endpoints', epBody(svc.id));
    expectError(r, 403, 'EndPoint.2060');
    expect((await d.consumer.get('/vpc-endpoints')).body.total_count).toBe(3);
    expect((await d.consumer.delete(`/vpc-endpoints/${eps[0].id}`)).status).toBe(204);
    expect((await d.consumer.post('/vpc-endpoints', epBody(svc.id))).status).toBe(200);
  });

  it('GET /quotas reports used and quota of both types, and ?type=endpoint filters', async () => {
    const svc = await permittedService(d);
    await createEp(d.consumer, epBody(svc.id));
    await createEp(d.consumer, epBody(svc.id));
    const p = await d.provider.get('/quotas');
    expect(p.status).toBe(200);
    expect(p.body).toEqual({ quotas: { resources: [
      { type: 'endpoint_service', used: 1, quota: 2 },
      { type: 'endpoint', used: 0, quota: 3 },
    ] } });
    const c = await d.consumer.get('/quotas');
    expect(c.body).toEqual({ quotas: { resources: [
      { type: 'endpoint_service', used: 0, quota: 2 },
      { type: 'endpoint', used: 2, quota: 3 },
    ] } });
    const f = await d.consumer.get('/quotas?type=endpoint');
    expect(f.status).toBe(200);
    expect(f.body).toEqual({ quotas: { resources: [{ type: 'endpoint', used: 2, quota: 3 }] } });
    const s = await d.provider.get('/quotas?type=endpoint_service');
    expect(s.body).toEqual({ quotas: { resources: [{ type: 'endpoint_service', used: 1, quota: 2 }] } });
  });

  it('the default quotas are 20 endpoint services and 50 endpoints', async () => {
    const fresh = await startTestDaemon(twoAccountConfig());
    try {
      const r = await fresh.consumer.get('/quotas');
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ quotas: { resources: [
        { type: 'endpoint_service', used: 0, quota: 20 },
        { type: 'endpoint', used: 0, quota: 50 },
      ] } });
    } finally {
      await fresh.stop();
    }
  });
});

// ---- 2. service name ---------------------------------------------------------------------------

describe('rule 2: service name', () => {
  let d: TestDaemon;
  beforeEach(async () => { d = await startTestDaemon(); });
  afterEach(async () => { await d.stop(); });

  it('is stored as <region>.<name>.<id>', async () => {
    const svc = await createAvailableService(d);
    expect(svc.service_name).toBe(`sim-1.web.${svc.id}`);
    expect(svc.id).toMatch(UUID);
  });

  it('is stored as <region>.<id> without a name', async () => {
    const { service_name: _, ...body } = SERVICE_BODY;
    const svc = await createAvailableService(d, body);
    expect(svc.service_name).toBe(`sim-1.${svc.id}`);
  });

  it('a rename through PUT changes service_name and the endpoints\' endpoint_service_name', async () => {
    const svc = await permittedService(d);
    const ep = await createEp(d.consumer, epBody(svc.id));
    expect(ep.endpoint_service_name).toBe(`sim-1.web.${svc.id}`);
    const put = await d.provider.put(`/vpc-endpoint-services/${svc.id}`, { service_name: 'api' });
    expect(put.status).toBe(200);
    expect(put.body.service_name).toBe(`sim-1.api.${svc.id}`);
    expect((await d.provider.get(`/vpc-endpoint-services/${svc.id}`)).body.service_name).toBe(`sim-1.api.${svc.id}`);
    expect((await d.consumer.get(`/vpc-endpoints/${ep.id}`)).body.endpoint_service_name).toBe(`sim-1.api.${svc.id}`);
    const list = await d.consumer.get('/vpc-endpoints');
    expect(list.body.endpoints.map((e: any) => e.endpoint_service_name)).toEqual([`sim-1.api.${svc.id}`]);
  });
});

// ---- 3. approval -------------------------------------------------------------------------------

describe('rule 3: approval (on by default)', () => {
  let d: TestDaemon;
  beforeEach(async () => { d = await startTestDaemon(); });
  afterEach(async () => { await d.stop(); });

  it('an endpoint of a service created without approval_enabled is pendingAcceptance', async () => {
    const svc = await permittedService(d);
    expect(svc.approval_enabled).toBe(true);
    const ep = await createEp(d.consumer, epBody(svc.id));
    expect(ep.status).toBe('pendingAcceptance');
    // the account's state (Huawei: active or frozen), whatever the endpoint's
    expect(ep.active_status).toEqual(['active']);
    // every field the reference's response lists, an interface endpoint's routetables and policy_statement too (the latter was left out)
    for (const field of ['id', 'service_type', 'status', 'ip', 'marker_id', 'endpoint_service_id', 'endpoint_service_name', 'enable_dns', 'subnet_id', 'vpc_id',
      'created_at', 'updated_at', 'project_id', 'tags', 'whitelist', 'enable_whitelist', 'routetables', 'description', 'policy_statement', 'active_status']) {
      expect(Object.hasOwn(ep, field), field).toBe(true);
    }
    expect([ep.routetables, ep.policy_statement]).toEqual([[], null]);
    expect(Object.hasOwn((await d.consumer.get(`/vpc-endpoints/${ep.id}`)).body, 'policy_statement')).toBe(true);
    await sleep(50);
    expect((await d.consumer.get(`/vpc-endpoints/${ep.id}`)).body.status).toBe('pendingAcceptance');
    const conns = await d.provider.get(`/vpc-endpoint-services/${svc.id}/connections`);
    expect(conns.body.connections.map((c: any) => [c.id, c.status])).toEqual([[ep.id, 'pendingAcceptance']]);
  });

  it('with approval_enabled false an endpoint goes creating -> accepted', async () => {
    const svc = await permittedService(d, { ...SERVICE_BODY, approval_enabled: false });
    expect(svc.approval_enabled).toBe(false);
    const ep = await createEp(d.consumer, epBody(svc.id));
    expect(ep.status).toBe('creating');
    const done = await waitEndpoint(d.consumer, ep.id, 'accepted');
    expect(done.active_status).toEqual(['active']);
  });

  it('receive: pendingAcceptance -> creating -> accepted', async () => {
    const svc = await permittedService(d);
    const ep = await createEp(d.consumer, epBody(svc.id));
    const r = await connection(d, svc.id, 'receive', ep.id);
    expect(r.status).toBe(200);
    expect(r.body.connections).toHaveLength(1);
    expect(r.body.connections[0].id).toBe(ep.id);
    expect(r.body.connections[0].status).toBe('creating');
    expect(r.body.connections[0].domain_id).toBe(CONSUMER.domain_id);
    await waitEndpoint(d.consumer, ep.id, 'accepted');
  });

  it('reject: pendingAcceptance -> rejected', async () => {
    const svc = await permittedService(d);
    const ep = await createEp(d.consumer, epBody(svc.id));
    const r = await connection(d, svc.id, 'reject', ep.id);
    expect(r.status).toBe(200);
    expect(r.body.connections[0].id).toBe(ep.id);
    expect(r.body.connections[0].status).toBe('rejected');
    expect((await d.consumer.get(`/vpc-endpoints/${ep.id}`)).body.status).toBe('rejected');
  });

  it('reject after accepted -> rejected', async () => {
    const svc = await permittedService(d);
    const ep = await createEp(d.consumer, epBody(svc.id));
    await connection(d, svc.id, 'receive', ep.id);
    await waitEndpoint(d.consumer, ep.id, 'accepted');
    const r = await connection(d, svc.id, 'reject', ep.id);
    expect(r.status).toBe(200);
    expect(r.body.connections[0].status).toBe('rejected');
    const got = (await d.consumer.get(`/vpc-endpoints/${ep.id}`)).body;
    expect(got.status).toBe('rejected');
    expect(got.active_status).toEqual(['active']);
  });

  it('receive of a rejected endpoint -> accepted again', async () => {
    const svc = await permittedService(d);
    const ep = await createEp(d.consumer, epBody(svc.id));
    expect((await connection(d, svc.id, 'reject', ep.id)).body.connections[0].status).toBe('rejected');
    const r = await connection(d, svc.id, 'receive', ep.id);
    expect(r.status).toBe(200);
    expect(r.body.connections[0].status).toBe('creating');
    await waitEndpoint(d.consumer, ep.id, 'accepted');
  });

  it('receive of an accepted endpoint is refused with 409 EndPoint.2014 (already connected, huawei-vpcep-api.md Errors)', async () => {
    const svc = await permittedService(d, { ...SERVICE_BODY, approval_enabled: false });
    const ep = await createEp(d.consumer, epBody(svc.id));
    await waitEndpoint(d.consumer, ep.id, 'accepted');
    const r = await connection(d, svc.id, 'receive', ep.id);
    expectError(r, 409, 'EndPoint.2014');
    expect((await d.consumer.get(`/vpc-endpoints/${ep.id}`)).body.status).toBe('accepted');
  });
});

// ---- 4. whitelist (permissions) ----------------------------------------------------------------

describe('rule 4: service whitelist (permissions)', () => {
  let d: TestDaemon;
  let other: ApiClient;
  const otherEp = (id: string) => ({ endpoint_service_id: id, vpc_id: 'vpc-other', subnet_id: 'subnet-o' });
  beforeEach(async () => {
    d = await startTestDaemon(threeAccountConfig());
    other = d.client(OTHER.token, OTHER.project_id);
  });
  afterEach(async () => { await d.stop(); });

  it('another account without a permission is refused with 403 EndPoint.2012', async () => {
    const svc = await createAvailableService(d);
    expectError(await d.consumer.post('/vpc-endpoints', epBody(svc.id)), 403, 'EndPoint.2012');
    expectError(await other.post('/vpc-endpoints', otherEp(svc.id)), 403, 'EndPoint.2012');
    expect((await d.consumer.get('/vpc-endpoints')).body.total_count).toBe(0);
  });

  it('iam:domain::<domain_id> lets that account (and only it) connect', async () => {
    const svc = await createAvailableService(d);
    const add = await d.provider.post(`/vpc-endpoint-services/${svc.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] });
    expect(add.status).toBe(200);
    expect(add.body).toEqual({ permissions: [`iam:domain::${CONSUMER.domain_id}`] });
    const ok = await d.consumer.post('/vpc-endpoints', epBody(svc.id));
    expect(ok.status).toBe(200);
    expect(ok.body.endpoint_service_id).toBe(svc.id);
    expectError(await other.post('/vpc-endpoints', otherEp(svc.id)), 403, 'EndPoint.2012');
  });

  it('* lets any account connect', async () => {
    const svc = await createAvailableService(d);
    await permit(d, svc.id, '*');
    const a = await d.consumer.post('/vpc-endpoints', epBody(svc.id));
    const b = await other.post('/vpc-endpoints', otherEp(svc.id));
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(b.body.vpc_id).toBe('vpc-other');
    expect(b.body.ip).toBe('172.16.1.2');
  });

  it('iam:domain::* lets any account connect; a domain id with asterisks is a pattern', async () => {
    const svc = await createAvailableService(d);
    // a pattern that matches the consumer's domain (c0c0...) and not the other's
    await permit(d, svc.id, `iam:domain::c0c0*`);
    expect((await d.consumer.post('/vpc-endpoints', epBody(svc.id))).status).toBe(200);
    expectError(await other.post('/vpc-endpoints', otherEp(svc.id)), 403, 'EndPoint.2012');
    expect((await other.get(`/vpc-endpoint-services/describe?id=${svc.id}`)).status).toBe(404);
    await permit(d, svc.id, 'iam:domain::*');
    expect((await other.get(`/vpc-endpoint-services/describe?id=${svc.id}`)).status).toBe(200);
    expect((await other.post('/vpc-endpoints', otherEp(svc.id))).status).toBe(200);
  });

  it('removing the permission stops new endpoints; existing ones stay', async () => {
    const svc = await permittedService(d);
    const ep = await createEp(d.consumer, epBody(svc.id));
    const rm = await d.provider.post(`/vpc-endpoint-services/${svc.id}/permissions/action`, { action: 'remove', permissions: [`iam:domain::${CONSUMER.domain_id}`] });
    expect(rm.status).toBe(200);
    expect((await d.provider.get(`/vpc-endpoint-services/${svc.id}/permissions`)).body).toEqual({ permissions: [], total_count: 0 });
    expectError(await d.consumer.post('/vpc-endpoints', epBody(svc.id)), 403, 'EndPoint.2012');
    const kept = await d.consumer.get(`/vpc-endpoints/${ep.id}`);
    expect(kept.status).toBe(200);
    expect(kept.body.status).toBe('pendingAcceptance');
    expect((await d.consumer.get('/vpc-endpoints')).body.total_count).toBe(1);
  });

  it('the owner never needs a permission (its own endpoint in vpc-provider-client)', async () => {
    const svc = await createAvailableService(d);
    const r = await d.provider.post('/vpc-endpoints', { endpoint_service_id: svc.id, vpc_id: 'vpc-provider-client', subnet_id: 'subnet-pc' });
    expect(r.status).toBe(200);
    expect(r.body.endpoint_service_id).toBe(svc.id);
    expect(r.body.vpc_id).toBe('vpc-provider-client');
    expect(r.body.status).toBe('pendingAcceptance');
    expect((await d.provider.get(`/vpc-endpoint-services/${svc.id}/permissions`)).body.total_count).toBe(0);
  });

  it('the permissions list shows id, permission, permission_type, created_at', async () => {
    const svc = await createAvailableService(d);
    const add = await d.provider.post(`/vpc-endpoint-services/${svc.id}/permissions/action`, {
      action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`, '*'],
    });
    expect(add.status).toBe(200);
    const r = await d.provider.get(`/vpc-endpoint-services/${svc.id}/permissions`);
    expect(r.status).toBe(200);
    expect(r.body.total_count).toBe(2);
    expect(r.body.permissions.map((p: any) => p.permission).sort()).toEqual(['*', `iam:domain::${CONSUMER.domain_id}`]);
    for (const p of r.body.permissions) {
      expect(Object.keys(p).sort()).toEqual(['created_at', 'id', 'permission', 'permission_type']);
      expect(p.id).toMatch(UUID);
      expect(p.permission_type).toBe('domainId');
      expect(p.created_at).toMatch(TIME);
    }
  });

  it('the permissions list takes the permission filter (any case) and sort_dir, sorted by creation, newest first by default', async () => {
    const svc = await createAvailableService(d);
    await permit(d, svc.id, 'iam:domain::first0');
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // created_at has seconds
    await permit(d, svc.id, 'iam:domain::second0');
    const list = async (query: string) => (await d.provider.get(`/vpc-endpoint-services/${svc.id}/permissions${query}`)).body;
    expect((await list('')).permissions.map((p: any) => p.permission)).toEqual(['iam:domain::second0', 'iam:domain::first0']);
    expect((await list('?sort_dir=asc')).permissions.map((p: any) => p.permission)).toEqual(['iam:domain::first0', 'iam:domain::second0']);
    const second = await list('?permission=SECOND');
    expect([second.permissions.map((p: any) => p.permission), second.total_count]).toEqual([['iam:domain::second0'], 1]);
  });

  it('add is idempotent', async () => {
    const svc = await createAvailableService(d);
    const perm = `iam:domain::${CONSUMER.domain_id}`;
    await permit(d, svc.id, perm);
    const first = (await d.provider.get(`/vpc-endpoint-services/${svc.id}/permissions`)).body;
    const again = await d.provider.post(`/vpc-endpoint-services/${svc.id}/permissions/action`, { action: 'add', permissions: [perm] });
    expect(again.status).toBe(200);
    const second = (await d.provider.get(`/vpc-endpoint-services/${svc.id}/permissions`)).body;
    expect(second.total_count).toBe(1);
    expect(second.permissions).toEqual(first.permissions);
  });
});

// ---- 5. isolation ------------------------------------------------------------------------------

describe('rule 5: isolation between accounts', () => {
  let d: TestDaemon;
  beforeEach(async () => { d = await startTestDaemon(); });
  afterEach(async () => { await d.stop(); });

  it('the consumer\'s list of services does not include the provider\'s', async () => {
    await permittedService(d);
    const c = await d.consumer.get('/vpc-endpoint-services');
    expect(c.status).toBe(200);
    expect(c.body).toEqual({ endpoint_services: [], total_count: 0 });
    expect((await d.provider.get('/vpc-endpoint-services')).body.total_count).toBe(1);
  });

  it('the consumer cannot see, modify or delete the provider\'s service (404 EndPoint.2003)', async () => {
    const svc = await permittedService(d);
    expectError(await d.consumer.get(`/vpc-endpoint-services/${svc.id}`), 404, 'EndPoint.2003');
    expectError(await d.consumer.put(`/vpc-endpoint-services/${svc.id}`, { description: 'mine now' }), 404, 'EndPoint.2003');
    expectError(await d.consumer.delete(`/vpc-endpoint-services/${svc.id}`), 404, 'EndPoint.2003');
    const still = await d.provider.get(`/vpc-endpoint-services/${svc.id}`);
    expect(still.status).toBe(200);
    expect(still.body.description).toBe('');
  });

  it('the provider cannot see the consumer\'s endpoint (404 EndPoint.2006)', async () => {
    const svc = await permittedService(d);
    const ep = await createEp(d.consumer, epBody(svc.id));
    expectError(await d.provider.get(`/vpc-endpoints/${ep.id}`), 404, 'EndPoint.2006');
    expectError(await d.provider.delete(`/vpc-endpoints/${ep.id}`), 404, 'EndPoint.2006');
    expect((await d.provider.get('/vpc-endpoints')).body).toEqual({ endpoints: [], total_count: 0 });
  });

  it('the provider\'s connections list shows the consumer\'s endpoint with only id, marker_id, domain_id, status, description, created_at, updated_at', async () => {
    const svc = await permittedService(d);
    const ep = await createEp(d.consumer, epBody(svc.id, { description: 'the web tier' }));
    const r = await d.provider.get(`/vpc-endpoint-services/${svc.id}/connections`);
    expect(r.status).toBe(200);
    expect(r.body.total_count).toBe(1);
    const [c] = r.body.connections;
    expect(Object.keys(c).sort()).toEqual(['created_at', 'description', 'domain_id', 'id', 'marker_id', 'status', 'updated_at']);
    expect(c).toEqual({
      id: ep.id, marker_id: ep.marker_id, domain_id: CONSUMER.domain_id, status: 'pendingAcceptance', description: 'the web tier',
      created_at: ep.created_at, updated_at: ep.updated_at,
    });
    // the action's answer carries it too
    const accepted = await d.provider.post(`/vpc-endpoint-services/${svc.id}/connections/action`, { action: 'receive', endpoints: [ep.id] });
    expect(accepted.body.connections[0].description).toBe('the web tier');
  });
});

// ---- 6. deletion -------------------------------------------------------------------------------

describe('rule 6: deletion', () => {
  let d: TestDaemon;
  beforeEach(async () => { d = await startTestDaemon(); });
  afterEach(async () => { await d.stop(); });

  it('a service with an accepted endpoint cannot be deleted (409 EndPoint.3006)', async () => {
    const svc = await permittedService(d, { ...SERVICE_BODY, approval_enabled: false });
    const ep = await createEp(d.consumer, epBody(svc.id));
    await waitEndpoint(d.consumer, ep.id, 'accepted');
    expectError(await d.provider.delete(`/vpc-endpoint-services/${svc.id}`), 409, 'EndPoint.3006');
    const s = await d.provider.get(`/vpc-endpoint-services/${svc.id}`);
    expect(s.status).toBe(200);
    expect(s.body.status).toBe('available');
  });

  it('after its endpoint is deleted (204, then 404 EndPoint.2006) the service can be deleted (204, then 404)', async () => {
    const svc = await permittedService(d, { ...SERVICE_BODY, approval_enabled: false });
    const ep = await createEp(d.consumer, epBody(svc.id));
    await waitEndpoint(d.consumer, ep.id, 'accepted');
    const del = await d.consumer.delete(`/vpc-endpoints/${ep.id}`);
    expect(del.status).toBe(204);
    expect(del.body).toBeUndefined();
    expectError(await d.consumer.get(`/vpc-endpoints/${ep.id}`), 404, 'EndPoint.2006');
    const sdel = await d.provider.delete(`/vpc-endpoint-services/${svc.id}`);
    expect(sdel.status).toBe(204);
    expectError(await d.provider.get(`/vpc-endpoint-services/${svc.id}`), 404, 'EndPoint.2003');
    expect((await d.provider.get('/vpc-endpoint-services')).body.total_count).toBe(0);
  });

  it('a service whose only endpoint is pendingAcceptance can be deleted; the endpoint becomes failed with an error', async () => {
    const svc = await permittedService(d);
    const ep = await createEp(d.consumer, epBody(svc.id));
    expect(ep.status).toBe('pendingAcceptance');
    expect(ep.error).toBeUndefined();
    expect((await d.provider.delete(`/vpc-endpoint-services/${svc.id}`)).status).toBe(204);
    expectError(await d.provider.get(`/vpc-endpoint-services/${svc.id}`), 404, 'EndPoint.2003');
    const got = await d.consumer.get(`/vpc-endpoints/${ep.id}`);
    expect(got.status).toBe(200);
    expect(got.body.status).toBe('failed');
    expect(got.body.error).toHaveLength(1);
    expect(got.body.error[0].error_code).toBe('EndPoint.2003');
    expect(got.body.error[0].error_message).toContain(svc.id);
  });
});

// ---- 7. public services ------------------------------------------------------------------------

describe('rule 7: operator-run public services', () => {
  let d: TestDaemon;
  let dnsId: string;
  beforeEach(async () => {
    d = await startTestDaemon(twoAccountConfig({
      public_services: [{ name: 'dns', service_type: 'interface', ports: [{ port: 53, target: '127.0.0.1:5353' }] }],
    }));
    dnsId = (await d.consumer.get('/vpc-endpoint-services/public')).body.endpoint_services[0].id;
  });
  afterEach(async () => { await d.stop(); });

  it('GET /vpc-endpoint-services/public lists it as sim-1.dns owned by operator', async () => {
    const r = await d.consumer.get('/vpc-endpoint-services/public');
    expect(r.status).toBe(200);
    expect(r.body.total_count).toBe(1);
    const [s] = r.body.endpoint_services;
    expect(s).toEqual({
      id: dnsId, owner: 'operator', service_name: 'sim-1.dns', service_type: 'interface', created_at: s.created_at, is_charge: false, status: 'available',
    });
    expect(s.id).toMatch(UUID);
    expect(s.created_at).toMatch(TIME);
    expect((await d.provider.get('/vpc-endpoint-services/public')).body.endpoint_services.map((x: any) => x.id)).toEqual([dnsId]);
  });

  it('the public list takes the list filters and sorting Huawei\'s SDK sends: endpoint_service_name (any case), id, sort_dir', async () => {
    await d.stop();
    d = await startTestDaemon(twoAccountConfig({
      public_services: [
        { name: 'dns', service_type: 'interface', ports: [{ port: 53, target: '127.0.0.1:5353' }] },
        { name: 'obs', service_type: 'interface', ports: [{ port: 443, target: '127.0.0.1:8443' }] },
      ],
    }));
    const names = async (query: string) => {
      const r = await d.consumer.get(`/vpc-endpoint-services/public${query}`);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      return [r.body.endpoint_services.map((x: any) => x.service_name), r.body.total_count];
    };
    expect(await names('?endpoint_service_name=OBS')).toEqual([['sim-1.obs'], 1]);
    expect(await names('?endpoint_service_name=nomatch')).toEqual([[], 0]);
    const all = (await d.consumer.get('/vpc-endpoint-services/public')).body.endpoint_services;
    const obs = all.find((x: any) => x.service_name === 'sim-1.obs');
    expect(await names(`?id=${obs.id}`)).toEqual([['sim-1.obs'], 1]);
    const asc = (await names('?sort_key=create_at&sort_dir=asc'))[0];
    expect((await names('?sort_key=create_at&sort_dir=desc'))[0]).toEqual([...asc].reverse());
    expect(await names('?limit=1&offset=1')).toEqual([[expect.any(String)], 2]);
  });

  it('an account cannot GET, PUT or DELETE it by id (403 EndPoint.3046)', async () => {
    for (const c of [d.consumer, d.provider]) {
      expectError(await c.get(`/vpc-endpoint-services/${dnsId}`), 403, 'EndPoint.3046');
      expectError(await c.put(`/vpc-endpoint-services/${dnsId}`, { description: 'x' }), 403, 'EndPoint.3046');
      expectError(await c.delete(`/vpc-endpoint-services/${dnsId}`), 403, 'EndPoint.3046');
      expectError(await c.post(`/vpc-endpoint-services/${dnsId}/permissions/action`, { action: 'add', permissions: ['*'] }), 403, 'EndPoint.3046');
    }
    expect((await d.consumer.get('/vpc-endpoint-services/public')).body.total_count).toBe(1);
  });

  it('any account can connect to it without a permission, and it is accepted without approval', async () => {
    const ep = await d.consumer.post('/vpc-endpoints', epBody(dnsId));
    expect(ep.status).toBe(200);
    expect(ep.body.endpoint_service_name).toBe('sim-1.dns');
    expect(ep.body.status).toBe('creating');
    await waitEndpoint(d.consumer, ep.body.id, 'accepted');
    const pe = await d.provider.post('/vpc-endpoints', { endpoint_service_id: dnsId, vpc_id: 'vpc-provider-client', subnet_id: 'subnet-pc' });
    expect(pe.status).toBe(200);
    await waitEndpoint(d.provider, pe.body.id, 'accepted');
  });
});

// ---- 8. private IP -----------------------------------------------------------------------------

describe('rule 8: private IP assignment', () => {
  let d: TestDaemon;
  beforeEach(async () => {
    d = await startTestDaemon(twoAccountConfig({
      accounts: [PROVIDER, { ...CONSUMER, quotas: { endpoint: 100 } }],
    }));
  });
  afterEach(async () => { await d.stop(); });

  it('addresses are assigned from .2 upwards (never the network .0 or the gateway .1)', async () => {
    const svc = await permittedService(d);
    const ips = [];
    for (let i = 0; i < 3; i++) ips.push((await createEp(d.consumer, epBody(svc.id))).ip);
    expect(ips).toEqual(['10.0.1.2', '10.0.1.3', '10.0.1.4']);
  });

  it('port_ip is honoured; reserved, used and foreign addresses are refused', async () => {
    const svc = await permittedService(d);
    const ep = await createEp(d.consumer, epBody(svc.id, { port_ip: '10.0.1.77' }));
    expect(ep.ip).toBe('10.0.1.77');
    expect(ep.host_ip).toBe('127.2.1.77');
    expectError(await d.consumer.post('/vpc-endpoints', epBody(svc.id, { port_ip: '10.0.1.77' })), 409, 'EndPoint.2042');
    expectError(await d.consumer.post('/vpc-endpoints', epBody(svc.id, { port_ip: '10.0.1.0' })), 400, 'EndPoint.2041');
    expectError(await d.consumer.post('/vpc-endpoints', epBody(svc.id, { port_ip: '10.0.1.1' })), 400, 'EndPoint.2041');
    expectError(await d.consumer.post('/vpc-endpoints', epBody(svc.id, { port_ip: '10.0.1.255' })), 400, 'EndPoint.2041');
    expectError(await d.consumer.post('/vpc-endpoints', epBody(svc.id, { port_ip: '10.0.2.3' })), 400, 'EndPoint.2043');
    expect((await d.consumer.get('/vpc-endpoints')).body.total_count).toBe(1);
  });

  it('the provider\'s backend port IPs are never handed out', async () => {
    const svc = await createAvailableService(d);
    const body = { endpoint_service_id: svc.id, vpc_id: 'vpc-app', subnet_id: 'subnet-app' };
    expectError(await d.provider.post('/vpc-endpoints', { ...body, port_ip: '192.168.24.10' }), 409, 'EndPoint.2042');
    expectError(await d.provider.post('/vpc-endpoints', { ...body, port_ip: '192.168.24.246' }), 409, 'EndPoint.2042');
    const ips = [];
    for (let i = 0; i < 9; i++) ips.push((await createEp(d.provider, body)).ip);
    expect(ips).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 11].map((n) => `192.168.24.${n}`));
    expect(ips).not.toContain('192.168.24.10');
  });

  it('a /29 subnet has exactly 5 assignable addresses (.2-.6); the 6th endpoint is refused with EndPoint.2061', async () => {
    const svc = await permittedService(d);
    const eps = [];
    for (let i = 0; i < 5; i++) eps.push(await createEp(d.consumer, epBody(svc.id, { subnet_id: 'subnet-b' })));
    expect(eps.map((e) => e.ip)).toEqual(['10.0.2.2', '10.0.2.3', '10.0.2.4', '10.0.2.5', '10.0.2.6']);
    expectError(await d.consumer.post('/vpc-endpoints', epBody(svc.id, { subnet_id: 'subnet-b' })), 409, 'EndPoint.2061');
    expectError(await d.consumer.post('/vpc-endpoints', epBody(svc.id, { subnet_id: 'subnet-b', port_ip: '10.0.2.7' })), 400, 'EndPoint.2041');
  });

  it('host_ip is 127.<vpc number>.<c>.<d>', async () => {
    const svc = await permittedService(d);
    const a = await createEp(d.consumer, epBody(svc.id));
    const b = await createEp(d.consumer, epBody(svc.id, { subnet_id: 'subnet-b' }));
    const c = await createEp(d.provider, { endpoint_service_id: svc.id, vpc_id: 'vpc-provider-client', subnet_id: 'subnet-pc' });
    const p = await createEp(d.provider, { endpoint_service_id: svc.id, vpc_id: 'vpc-app', subnet_id: 'subnet-app' });
    expect([a.ip, a.host_ip]).toEqual(['10.0.1.2', '127.2.1.2']);
    expect([b.ip, b.host_ip]).toEqual(['10.0.2.2', '127.2.2.2']);
    expect([c.ip, c.host_ip]).toEqual(['10.0.1.2', '127.3.1.2']);
    expect([p.ip, p.host_ip]).toEqual(['192.168.24.2', '127.1.24.2']);
  });
});

// ---- 9. marker_id ------------------------------------------------------------------------------

describe('rule 9: marker_id', () => {
  let d: TestDaemon;
  beforeEach(async () => { d = await startTestDaemon(); });
  afterEach(async () => { await d.stop(); });

  it('is a unique integer across endpoints', async () => {
    const svc = await permittedService(d);
    const markers: number[] = [];
    for (let i = 0; i < 6; i++) markers.push((await createEp(d.consumer, epBody(svc.id))).marker_id);
    markers.push((await createEp(d.provider, { endpoint_service_id: svc.id, vpc_id: 'vpc-provider-client', subnet_id: 'subnet-pc' })).marker_id);
    for (const m of markers) {
      expect(Number.isInteger(m)).toBe(true);
      expect(m).toBeGreaterThan(0);
    }
    expect(new Set(markers).size).toBe(7);
    const conns = await d.provider.get(`/vpc-endpoint-services/${svc.id}/connections?limit=100`);
    expect(conns.body.connections.map((c: any) => c.marker_id).sort()).toEqual([...markers].sort());
  });
});

// ---- 10. lists ---------------------------------------------------------------------------------

describe('rule 10: lists', () => {
  let d: TestDaemon;
  beforeEach(async () => { d = await startTestDaemon(); });
  afterEach(async () => { await d.stop(); });

  async function threeServices(): Promise<string[]> {
    const ids = [];
    for (const name of ['alpha', 'beta', 'Gamma']) {
      ids.push((await createAvailableService(d, { ...SERVICE_BODY, service_name: name })).id);
      await sleep(5);
    }
    return ids;
  }
  const ids = (r: ApiResult, key: string) => r.body[key].map((x: any) => x.id);

  it('services: limit/offset paging and total_count', async () => {
    const [a, b, c] = await threeServices();
    const p1 = await d.provider.get('/vpc-endpoint-services?limit=2&offset=0&sort_dir=asc');
    expect(p1.status).toBe(200);
    expect(p1.body.total_count).toBe(3);
    expect(ids(p1, 'endpoint_services')).toEqual([a, b]);
    const p2 = await d.provider.get('/vpc-endpoint-services?limit=2&offset=2&sort_dir=asc');
    expect(p2.body.total_count).toBe(3);
    expect(ids(p2, 'endpoint_services')).toEqual([c]);
    const p3 = await d.provider.get('/vpc-endpoint-services?offset=5');
    expect(p3.body).toEqual({ endpoint_services: [], total_count: 3 });
  });

  it('services: sort_dir asc/desc by create_at (desc by default)', async () => {
    const [a, b, c] = await threeServices();
    expect(ids(await d.provider.get('/vpc-endpoint-services?sort_key=create_at&sort_dir=asc'), 'endpoint_services')).toEqual([a, b, c]);
    expect(ids(await d.provider.get('/vpc-endpoint-services?sort_key=create_at&sort_dir=desc'), 'endpoint_services')).toEqual([c, b, a]);
    expect(ids(await d.provider.get('/vpc-endpoint-services'), 'endpoint_services')).toEqual([c, b, a]);
  });

  it('services: filter by status, endpoint_service_name (fuzzy, case-insensitive) and id', async () => {
    const [a, , c] = await threeServices();
    const avail = await d.provider.get('/vpc-endpoint-services?status=available');
    expect(avail.body.total_count).toBe(3);
    expect(await d.provider.get('/vpc-endpoint-services?status=deleting').then((r) => r.body)).toEqual({ endpoint_services: [], total_count: 0 });
    const gam = await d.provider.get('/vpc-endpoint-services?endpoint_service_name=GAM');
    expect(gam.body.total_count).toBe(1);
    expect(ids(gam, 'endpoint_services')).toEqual([c]);
    const alp = await d.provider.get('/vpc-endpoint-services?endpoint_service_name=lPh');
    expect(ids(alp, 'endpoint_services')).toEqual([a]);
    const byId = await d.provider.get(`/vpc-endpoint-services?id=${a}`);
    expect(byId.body.total_count).toBe(1);
    expect(byId.body.endpoint_services[0].service_name).toBe(`sim-1.alpha.${a}`);
    expect(byId.body.endpoint_services[0].domain_id).toBe(PROVIDER.domain_id);
    expect(byId.body.endpoint_services[0].connection_count).toBe(0);
  });

  it('endpoints: paging, sort_dir, and filters by status, endpoint_service_name and id', async () => {
    const web = await permittedService(d, { ...SERVICE_BODY, approval_enabled: false });
    const db = await permittedService(d, { ...SERVICE_BODY, service_name: 'db' });
    const e1 = await createEp(d.consumer, epBody(web.id));
    await sleep(5);
    const e2 = await createEp(d.consumer, epBody(db.id));
    await sleep(5);
    const e3 = await createEp(d.consumer, epBody(db.id));
    await waitEndpoint(d.consumer, e1.id, 'accepted');
    const all = await d.consumer.get('/vpc-endpoints?sort_dir=asc');
    expect(all.body.total_count).toBe(3);
    expect(ids(all, 'endpoints')).toEqual([e1.id, e2.id, e3.id]);
    expect(ids(await d.consumer.get('/vpc-endpoints?sort_dir=desc'), 'endpoints')).toEqual([e3.id, e2.id, e1.id]);
    const page = await d.consumer.get('/vpc-endpoints?sort_dir=asc&limit=1&offset=1');
    expect(page.body.total_count).toBe(3);
    expect(ids(page, 'endpoints')).toEqual([e2.id]);
    const pending = await d.consumer.get('/vpc-endpoints?status=pendingAcceptance&sort_dir=asc');
    expect(pending.body.total_count).toBe(2);
    expect(ids(pending, 'endpoints')).toEqual([e2.id, e3.id]);
    expect(ids(await d.consumer.get('/vpc-endpoints?status=accepted'), 'endpoints')).toEqual([e1.id]);
    const byName = await d.consumer.get('/vpc-endpoints?endpoint_service_name=WEB');
    expect(byName.body.total_count).toBe(1);
    expect(ids(byName, 'endpoints')).toEqual([e1.id]);
    const byId = await d.consumer.get(`/vpc-endpoints?id=${e3.id}`);
    expect(byId.body.total_count).toBe(1);
    expect(ids(byId, 'endpoints')).toEqual([e3.id]);
  });

  it('endpoints: filter by vpc_id', async () => {
    const svc = await createAvailableService(d);
    const inApp = await createEp(d.provider, { endpoint_service_id: svc.id, vpc_id: 'vpc-app', subnet_id: 'subnet-app' });
    const inPc = await createEp(d.provider, { endpoint_service_id: svc.id, vpc_id: 'vpc-provider-client', subnet_id: 'subnet-pc' });
    const a = await d.provider.get('/vpc-endpoints?vpc_id=vpc-app');
    expect(a.body.total_count).toBe(1);
    expect(a.body.endpoints.map((e: any) => [e.id, e.vpc_id])).toEqual([[inApp.id, 'vpc-app']]);
    const b = await d.provider.get('/vpc-endpoints?vpc_id=vpc-provider-client');
    expect(b.body.endpoints.map((e: any) => [e.id, e.vpc_id])).toEqual([[inPc.id, 'vpc-provider-client']]);
    expect((await d.provider.get('/vpc-endpoints')).body.total_count).toBe(2);
  });

  it('a filter of another list is ignored as an unknown parameter is, never checked and then not applied', async () => {
    const svc = await createAvailableService(d);
    const eps = [await createEp(d.provider, { endpoint_service_id: svc.id, vpc_id: 'vpc-app', subnet_id: 'subnet-app' }),
      await createEp(d.provider, { endpoint_service_id: svc.id, vpc_id: 'vpc-provider-client', subnet_id: 'subnet-pc' })];
    // marker_id filters the connections only: on the endpoints it was checked (x refused) and a valid value listed all
    for (const q of [`marker_id=${eps[0]!.marker_id}`, 'marker_id=x']) {
      const r = await d.provider.get(`/vpc-endpoints?${q}`);
      expect([r.status, r.body.total_count]).toEqual([200, 2]);
    }
    const c = await d.provider.get(`/vpc-endpoint-services/${svc.id}/connections?marker_id=${eps[0]!.marker_id}`);
    expect(c.body.connections.map((x: any) => x.id)).toEqual([eps[0]!.id]);
    // a whitelist record has no status: a service status was refused there, a valid one listed all
    await d.provider.post(`/vpc-endpoint-services/${svc.id}/permissions/action`, { action: 'add', permissions: ['iam:domain::abc123'] });
    for (const q of ['status=accepted', 'status=available']) {
      const r = await d.provider.get(`/vpc-endpoint-services/${svc.id}/permissions?${q}`);
      expect([r.status, r.body.total_count]).toEqual([200, 1]);
    }
    // a list's own filter is still checked
    expect((await d.provider.get(`/vpc-endpoint-services/${svc.id}/connections?marker_id=x`)).body.error_code).toBe('EndPoint.0002');
  });
});

// ---- 11. describe ------------------------------------------------------------------------------

describe('rule 11: describe', () => {
  let d: TestDaemon;
  beforeEach(async () => { d = await startTestDaemon(); });
  afterEach(async () => { await d.stop(); });

  it('returns the summary to a permitted consumer, by id and by endpoint_service_name', async () => {
    const svc = await permittedService(d);
    const want = { id: svc.id, service_name: svc.service_name, service_type: 'interface', created_at: svc.created_at, is_charge: false };
    const byId = await d.consumer.get(`/vpc-endpoint-services/describe?id=${svc.id}`);
    expect(byId.status).toBe(200);
    expect(byId.body).toEqual(want);
    const byName = await d.consumer.get(`/vpc-endpoint-services/describe?endpoint_service_name=${encodeURIComponent(svc.service_name)}`);
    expect(byName.status).toBe(200);
    expect(byName.body).toEqual(want);
  });

  it('answers 404 EndPoint.2003 to a consumer without a permission', async () => {
    const svc = await createAvailableService(d);
    expectError(await d.consumer.get(`/vpc-endpoint-services/describe?id=${svc.id}`), 404, 'EndPoint.2003');
    expectError(await d.consumer.get(`/vpc-endpoint-services/describe?endpoint_service_name=${encodeURIComponent(svc.service_name)}`), 404, 'EndPoint.2003');
  });
});

// ---- 12. tags ----------------------------------------------------------------------------------

describe('rule 12: tags', () => {
  let d: TestDaemon;
  beforeEach(async () => { d = await startTestDaemon(); });
  afterEach(async () => { await d.stop(); });

  it('create then delete through /endpoint_service/{id}/tags/action (204); the service\'s tags reflect it', async () => {
    const svc = await createAvailableService(d);
    const c = await d.provider.post(`/endpoint_service/${svc.id}/tags/action`, { action: 'create', tags: [{ key: 'env', value: 'prod' }, { key: 'team', value: 'net' }] });
    expect(c.status).toBe(204);
    expect((await d.provider.get(`/vpc-endpoint-services/${svc.id}`)).body.tags).toEqual([{ key: 'env', value: 'prod' }, { key: 'team', value: 'net' }]);
    const del = await d.provider.post(`/endpoint_service/${svc.id}/tags/action`, { action: 'delete', tags: [{ key: 'env', value: 'prod' }] });
    expect(del.status).toBe(204);
    expect((await d.provider.get(`/vpc-endpoint-services/${svc.id}`)).body.tags).toEqual([{ key: 'team', value: 'net' }]);
  });

  it('GET /endpoint_service/tags lists the keys and their values', async () => {
    const a = await createAvailableService(d);
    const b = await createAvailableService(d, { ...SERVICE_BODY, service_name: 'web2' });
    await d.provider.post(`/endpoint_service/${a.id}/tags/action`, { action: 'create', tags: [{ key: 'env', value: 'prod' }, { key: 'team', value: 'net' }] });
    await d.provider.post(`/endpoint_service/${b.id}/tags/action`, { action: 'create', tags: [{ key: 'env', value: 'dev' }] });
    const r = await d.provider.get('/endpoint_service/tags');
    expect(r.status).toBe(200);
    const got = r.body.tags.map((t: any) => ({ key: t.key, values: [...t.values].sort() })).sort((x: any, y: any) => x.key.localeCompare(y.key));
    expect(got).toEqual([{ key: 'env', values: ['dev', 'prod'] }, { key: 'team', values: ['net'] }]);
    expect((await d.consumer.get('/endpoint_service/tags')).body).toEqual({ tags: [] });
  });

  it('more than 20 tags in total is refused with EndPoint.3067', async () => {
    const svc = await createAvailableService(d);
    const twenty = Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: `v${i}` }));
    expect((await d.provider.post(`/endpoint_service/${svc.id}/tags/action`, { action: 'create', tags: twenty })).status).toBe(204);
    expectError(await d.provider.post(`/endpoint_service/${svc.id}/tags/action`, { action: 'create', tags: [{ key: 'k20', value: 'v20' }] }), 400, 'EndPoint.3067');
    const tags = (await d.provider.get(`/vpc-endpoint-services/${svc.id}`)).body.tags;
    expect(tags).toHaveLength(20);
    expect(tags.map((t: any) => t.key)).not.toContain('k20');
  });
});

// ---- 13. modify --------------------------------------------------------------------------------

describe('rule 13: modify a service', () => {
  let d: TestDaemon;
  beforeEach(async () => { d = await startTestDaemon(); });
  afterEach(async () => { await d.stop(); });

  it('PUT ports replaces the list; response and GET agree', async () => {
    const svc = await createAvailableService(d, { ...SERVICE_BODY, ports: [{ client_port: 80, server_port: 8080, protocol: 'TCP' }, { client_port: 81, server_port: 8081, protocol: 'TCP' }] });
    const r = await d.provider.put(`/vpc-endpoint-services/${svc.id}`, { ports: [{ client_port: 443, server_port: 8443, protocol: 'TCP' }] });
    expect(r.status).toBe(200);
    expect(r.body.ports).toEqual([{ client_port: 443, server_port: 8443, protocol: 'TCP' }]);
    const g = await d.provider.get(`/vpc-endpoint-services/${svc.id}`);
    expect(g.body.ports).toEqual([{ client_port: 443, server_port: 8443, protocol: 'TCP' }]);
    expect(g.body).toEqual(r.body);
  });

  it('PUT approval_enabled false: response and GET agree, and new endpoints need no approval', async () => {
    const svc = await permittedService(d);
    const r = await d.provider.put(`/vpc-endpoint-services/${svc.id}`, { approval_enabled: false });
    expect(r.status).toBe(200);
    expect(r.body.approval_enabled).toBe(false);
    expect((await d.provider.get(`/vpc-endpoint-services/${svc.id}`)).body.approval_enabled).toBe(false);
    const ep = await createEp(d.consumer, epBody(svc.id));
    expect(ep.status).toBe('creating');
    await waitEndpoint(d.consumer, ep.id, 'accepted');
  });

  it('PUT description: response and GET agree, other fields unchanged, updated_at is set', async () => {
    const svc = await createAvailableService(d);
    await sleep(1_100);
    const r = await d.provider.put(`/vpc-endpoint-services/${svc.id}`, { description: 'the web tier' });
    expect(r.status).toBe(200);
    expect(r.body.description).toBe('the web tier');
    expect(r.body.updated_at).toMatch(TIME);
    expect(r.body.updated_at > svc.updated_at).toBe(true);
    expect(r.body.created_at).toBe(svc.created_at);
    const g = await d.provider.get(`/vpc-endpoint-services/${svc.id}`);
    expect(g.body).toEqual(r.body);
    expect(g.body.ports).toEqual(svc.ports);
    expect(g.body.service_name).toBe(svc.service_name);
    expect(g.body.approval_enabled).toBe(true);
  });
});

// ---- 14. endpoint whitelist --------------------------------------------------------------------

describe('rule 14: endpoint whitelist', () => {
  let d: TestDaemon;
  beforeEach(async () => { d = await startTestDaemon(); });
  afterEach(async () => { await d.stop(); });

  it('PUT replaces the list, shown as given (a bare IP stays bare: Terraform compares), matched as blocks; enable_whitelist toggles', async () => {
    const svc = await permittedService(d, { ...SERVICE_BODY, approval_enabled: false });
    const ep = await createEp(d.consumer, epBody(svc.id, { whitelist: ['10.9.0.0/16'], enable_whitelist: true }));
    expect([ep.whitelist, ep.enable_whitelist]).toEqual([['10.9.0.0/16'], true]);
    await waitEndpoint(d.consumer, ep.id, 'accepted');
    // a second spelling of a block given already is left out
    const r1 = await d.consumer.put(`/vpc-endpoints/${ep.id}`, { whitelist: ['192.168.1.5', '172.16.0.0/12', '192.168.1.5/32', '172.16.9.9/12'] });
    expect(r1.status).toBe(200);
    expect(r1.body.whitelist).toEqual(['192.168.1.5', '172.16.0.0/12']);
    expect(r1.body.enable_whitelist).toBe(true);
    const g1 = (await d.consumer.get(`/vpc-endpoints/${ep.id}`)).body;
    expect([g1.whitelist, g1.enable_whitelist]).toEqual([['192.168.1.5', '172.16.0.0/12'], true]);
    const r2 = await d.consumer.put(`/vpc-endpoints/${ep.id}`, { enable_whitelist: false });
    expect(r2.status).toBe(200);
    expect([r2.body.whitelist, r2.body.enable_whitelist]).toEqual([['192.168.1.5', '172.16.0.0/12'], false]);
    const r3 = await d.consumer.put(`/vpc-endpoints/${ep.id}`, { enable_whitelist: true });
    expect(r3.body.enable_whitelist).toBe(true);
    const g3 = (await d.consumer.get(`/vpc-endpoints/${ep.id}`)).body;
    expect([g3.whitelist, g3.enable_whitelist, g3.status]).toEqual([['192.168.1.5', '172.16.0.0/12'], true, 'accepted']);
  });
});

// ---- 15. versions and metrics ------------------------------------------------------------------

describe('rule 15: versions and metrics', () => {
  let d: TestDaemon;
  beforeEach(async () => { d = await startTestDaemon(); });
  afterEach(async () => { await d.stop(); });

  it('GET / without auth returns versions[0] id v1, status CURRENT', async () => {
    const res = await fetch(`${d.url}/`);
    expect(res.status).toBe(200);
    const body = await res.json() as any;
    expect(body.versions).toHaveLength(1);
    expect(body.versions[0].id).toBe('v1');
    expect(body.versions[0].status).toBe('CURRENT');
    // Huawei's ListSpecifiedVersionDetails: GET /v1 alone, no auth; another version does not exist
    const one = await fetch(`${d.url}/v1`);
    expect(one.status).toBe(200);
    expect(await one.json()).toEqual({ version: body.versions[0] });
    expect(await (await fetch(`${d.url}/v2`)).json()).toEqual({ error_code: 'EndPoint.0005', error_msg: 'no such API: GET /v2' });
  });

  it('GET /metrics counts API requests by route pattern and resources by status', async () => {
    const a = await permittedService(d, { ...SERVICE_BODY, approval_enabled: false });
    await createAvailableService(d, { ...SERVICE_BODY, service_name: 'web2' });
    const first = await createEp(d.consumer, epBody(a.id));
    const second = await createEp(d.consumer, epBody(a.id));
    await waitEndpoint(d.consumer, first.id, 'accepted');
    await waitEndpoint(d.consumer, second.id, 'accepted');
    // approval back on: the next endpoint waits in pendingAcceptance
    await d.provider.put(`/vpc-endpoint-services/${a.id}`, { approval_enabled: true });
    const pending = await createEp(d.consumer, epBody(a.id));
    expect(pending.status).toBe('pendingAcceptance');
    const res = await fetch(`${d.url}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    const line = (re: RegExp) => text.split('\n').find((l) => re.test(l));
    const posts = line(/^vpcep_api_requests_total\{method="POST",route="\/v1\/:project_id\/vpc-endpoint-services",code="200"\} /);
    expect(posts).toBeDefined();
    expect(Number(posts!.split(' ').pop())).toBe(2);
    expect(text).toMatch(/^vpcep_endpoint_services\{status="available"\} 2$/m);
    expect(text).toMatch(/^vpcep_endpoints\{status="accepted"\} 2$/m);
    expect(text).toMatch(/^vpcep_endpoints\{status="pendingAcceptance"\} 1$/m);
    expect(text).toMatch(/^vpcep_endpoints\{status="rejected"\} 0$/m);
  });
});

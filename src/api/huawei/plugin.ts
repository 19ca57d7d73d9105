// Huawei's VPCEP v1 REST API as a fastify plugin: parse -> neutral command -> control plane ->
// serialize, and nothing else. Every error leaves as {"error_code": its code, "error_msg": "..."}
// with its status (errors.ts); no stack trace ever reaches a client.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ControlPlane } from '../../control/control-plane.js';
import type { ProxyView } from '../../control/faults.js';
import { DomainError } from '../../model/errors.js';
import type { PolicyOptions } from '../../model/policy.js';
import { parseScopeKey, scopeKey, type ToxicRule } from '../../model/toxics.js';
import type { Account } from '../../model/types.js';
import { requestError } from '../framework-errors.js';
import { huaweiError, HuaweiRequestError } from './errors.js';
import { pageConnections, pageEndpoints, pagePermissions, pageServices, parseListQuery } from './lists.js';
import {
  connectionActionBody, connectionBandwidthBody, createEndpointBody, createEndpointCommand, createServiceBody, createServiceCommand, endpointPolicyBody,
  endpointRouteTablesBody, endpointSubnetsActionBody, migrateBackendBody, migrateBackendCommand, modifyServiceBody, modifyServiceCommand, parseBody, parseNoBody, permissionActionBody, routeTableBody, tagActionBody,
  publicRecordBody, simFailBody, simFaultsBody, traceBody, traceQuery, updateEndpointBody, updateEndpointCommand,
} from './requests.js';
import {
  connectionJson, endpointJson, permissionJson, publicServiceJson, routeTableJson, serviceJson, serviceSummaryJson, traceJson, vpcJson,
  type SerializeContext,
} from './serialize.js';

declare module 'fastify' {
  interface FastifyRequest {
    account: Account | null;
  }
}

export interface HuaweiOptions {
  readonly control: ControlPlane;
  readonly log: { error(obj: object, msg: string): void };
  /** the effective configuration as the caller may see it, served read-only (tokens left out) */
  effectiveConfig(caller: Account): unknown;
  /** GET / answers 503 unless ready */
  phase(): 'starting' | 'ready' | 'draining';
}

type Params = { project_id: string; id: string; resource_type: string; resource_id: string; zone: string; state: string; name: string; '*': string };
type Req = FastifyRequest<{ Params: Params; Querystring: Record<string, unknown>; Body: unknown }>;

/** huawei-vpcep-api.md line 65: policy_statement has no Principal; absent means everyone */
const HUAWEI_POLICY: PolicyOptions = { requirePrincipal: false };

const VERSIONS = {
  versions: [{
    id: 'v1', links: [], version: '', status: 'CURRENT', updated: '2026-11-01T00:00:00Z', min_version: '',
  }],
};

/** answers an error in Huawei's shape */
export function sendHuaweiError(reply: FastifyReply, e: DomainError | HuaweiRequestError): void {
  const { status, body } = huaweiError(e);
  void reply.code(status).send(body);
}

/** the error handler of Huawei's routes: an unexpected fault is logged and answered as SystemError */
export function huaweiErrorHandler(log: HuaweiOptions['log']) {
  return (err: FastifyError, req: FastifyRequest, reply: FastifyReply): void => {
    const known = err instanceof HuaweiRequestError ? err : requestError(err);
    if (!known) log.error({ err, method: req.method, url: req.url }, 'unexpected error in the control API');
    sendHuaweiError(reply, known ?? new DomainError('SystemError'));
  };
}

export async function huaweiApi(app: FastifyInstance, o: HuaweiOptions): Promise<void> {
  app.setErrorHandler(huaweiErrorHandler(o.log));
  app.decorateRequest('account', null);

  app.get('/', async (_req, reply) => {
    const phase = o.phase();
    if (phase !== 'ready') return sendHuaweiError(reply, new DomainError('NotReady', phase === 'starting' ? 'starting up' : 'vpcepd is stopping'));
    return VERSIONS;
  });
  // Huawei's ListSpecifiedVersionDetails: one version, no auth
  app.get('/v1', async () => ({ version: VERSIONS.versions[0] }));

  await app.register(async (v1) => v1Routes(v1, o), { prefix: '/v1/:project_id' });
}

function v1Routes(v1: FastifyInstance, o: HuaweiOptions): void {
  const { control } = o;
  const ctx: SerializeContext = {
    region: control.region,
    projectOf: (a) => control.projectOf(a),
    domainOf: (a) => control.domainOf(a),
    connectionCount: (id) => control.connectionCount(id),
    servicePorts: (id) => control.servicePorts(id),
    serviceOf: (id) => control.serviceById(id),
    bandwidthOf: (e) => control.bandwidthOf(e),
    backendHealth: (s) => control.serviceBackendHealth(s).map((r) => ({ port_id: r.id, zone: r.zone, state: r.state, reason: r.reason })),
  };
  const caller = (req: Req): Account => req.account!;

  // Authentication before the body is read: an unknown caller learns nothing else.
  v1.addHook('onRequest', async (req: FastifyRequest<{ Params: Partial<Params> }>) => {
    const token = req.headers['x-auth-token'];
    const account = typeof token === 'string' ? control.accountByToken(token) : undefined;
    if (!account) throw new DomainError('AuthFailed', 'authentication failed: missing or unknown X-Auth-Token');
    if (req.params.project_id !== account.project_id) {
      throw new HuaweiRequestError('InvalidProjectId', `project ${req.params.project_id} is not the caller's project`);
    }
    req.account = account;
    // a repeated query key is refused, never reduced to one of its values or dropped
    for (const [key, v] of Object.entries(req.query as Record<string, unknown>)) {
      if (Array.isArray(v)) throw new DomainError('InvalidParameter', `query parameter ${key} is given ${v.length} times: give it once`);
    }
  });

  // -- endpoint services (provider side)
  v1.post('/vpc-endpoint-services', async (req: Req) => {
    const body = parseBody(createServiceBody, req.body);
    return serviceJson(await control.createService(caller(req), createServiceCommand(body)), ctx);
  });
  v1.get('/vpc-endpoint-services', async (req: Req) => {
    const r = pageServices(control.listServices(caller(req)), parseListQuery(req.query, 'service'));
    return { endpoint_services: r.items.map((s) => serviceJson(s, ctx, true)), total_count: r.total };
  });
  v1.get('/vpc-endpoint-services/public', async (req: Req) => {
    // filtered, sorted and paged as the caller's own list (endpoint_service_name, id, status, sort_key, sort_dir)
    const r = pageServices(control.publicServices(), parseListQuery(req.query, 'service'));
    return { endpoint_services: r.items.map(publicServiceJson), total_count: r.total };
  });
  v1.get('/vpc-endpoint-services/describe', async (req: Req) => {
    const id = req.query.id;
    const name = req.query.endpoint_service_name;
    if (typeof id !== 'string' && typeof name !== 'string') {
      throw new DomainError('InvalidParameter', 'give id or endpoint_service_name');
    }
    return serviceSummaryJson(control.describeService(caller(req), typeof id === 'string' ? { id } : { name: name as string }));
  });
  v1.get('/vpc-endpoint-services/:id', async (req: Req) => serviceJson(control.ownService(caller(req), req.params.id), ctx));
  v1.put('/vpc-endpoint-services/:id', async (req: Req) => {
    control.ownService(caller(req), req.params.id);
    const body = parseBody(modifyServiceBody, req.body);
    return serviceJson(await control.modifyService(caller(req), req.params.id, modifyServiceCommand(body)), ctx);
  });
  // vpcep-sim's: Alibaba's migration of a zone's backend (smooth: old connections end on their own; forced: cut)
  v1.post('/vpc-endpoint-services/:id/backends/migrate', async (req: Req) => {
    control.ownService(caller(req), req.params.id);
    const body = parseBody(migrateBackendBody, req.body);
    return serviceJson(await control.migrateBackend(caller(req), req.params.id, migrateBackendCommand(body)), ctx);
  });
  // vpcep-sim's: verify the custom service domain name by its TXT record in the public zone (AWS's StartVpcEndpointServicePrivateDnsVerification)
  v1.post('/vpc-endpoint-services/:id/custom-domain/verify', async (req: Req) => {
    parseNoBody(req.body);
    return serviceJson(await control.startPrivateDnsVerification(caller(req), req.params.id), ctx);
  });
  v1.delete('/vpc-endpoint-services/:id', async (req: Req, reply: FastifyReply) => {
    await control.deleteService(caller(req), req.params.id);
    return reply.code(204).send();
  });
  v1.get('/vpc-endpoint-services/:id/connections', async (req: Req) => {
    const q = parseListQuery(req.query, 'connection');
    const r = pageConnections(control.listConnections(caller(req), req.params.id), q);
    return { connections: r.items.map((e) => connectionJson(e, ctx)), total_count: r.total };
  });
  v1.post('/vpc-endpoint-services/:id/connections/action', async (req: Req) => {
    control.ownService(caller(req), req.params.id);
    const body = parseBody(connectionActionBody, req.body);
    const action = body.action === 'receive' ? 'accept' : 'reject';
    const e = await control.connectionAction(caller(req), req.params.id, action, body.endpoints[0]!);
    return { connections: [connectionJson(e, ctx)] };
  });
  // vpcep-sim's: Alibaba's bandwidth per endpoint connection (UpdateVpcEndpointConnectionAttribute), in
  // the shape of Huawei's PUT .../connections/description; applies to open connections too
  v1.put('/vpc-endpoint-services/:id/connections/bandwidth', async (req: Req) => {
    control.ownService(caller(req), req.params.id);
    const body = parseBody(connectionBandwidthBody, req.body);
    const changed = await control.setConnectionBandwidth(caller(req), req.params.id, body.connections.map((c) => ({ endpointId: c.id, bandwidthMbps: c.bandwidth })));
    return { connections: changed.map((e) => connectionJson(e, ctx)) };
  });
  v1.get('/vpc-endpoint-services/:id/permissions', async (req: Req) => {
    const r = pagePermissions(await control.permissions(caller(req), req.params.id), parseListQuery(req.query, 'permission'));
    return { permissions: r.items.map(permissionJson), total_count: r.total };
  });
  v1.post('/vpc-endpoint-services/:id/permissions/action', async (req: Req) => {
    control.ownService(caller(req), req.params.id);
    const body = parseBody(permissionActionBody, req.body);
    // a Huawei entry names the account: removing it removes every entry of the account, however the AWS API named it
    const entries = body.permissions.map((permission) => ({ permission }));
    return { permissions: await control.changePermissions(caller(req), req.params.id, body.action, entries) };
  });

  // -- endpoints (consumer side)
  v1.post('/vpc-endpoints', async (req: Req) => {
    const body = parseBody(createEndpointBody, req.body);
    return endpointJson(await control.createEndpoint(caller(req), createEndpointCommand(body), HUAWEI_POLICY), ctx);
  });
  v1.get('/vpc-endpoints', async (req: Req) => {
    const r = pageEndpoints(control.listEndpoints(caller(req)), parseListQuery(req.query, 'endpoint'));
    return { endpoints: r.items.map((e) => endpointJson(e, ctx)), total_count: r.total };
  });
  v1.get('/vpc-endpoints/:id', async (req: Req) => endpointJson(control.ownEndpoint(caller(req), req.params.id), ctx));
  v1.put('/vpc-endpoints/:id', async (req: Req) => {
    control.ownEndpoint(caller(req), req.params.id);
    const body = parseBody(updateEndpointBody, req.body);
    return endpointJson(await control.updateEndpoint(caller(req), req.params.id, updateEndpointCommand(body)), ctx);
  });
  v1.delete('/vpc-endpoints/:id', async (req: Req, reply: FastifyReply) => {
    await control.deleteEndpoint(caller(req), req.params.id);
    return reply.code(204).send();
  });

  // vpcep-sim's extension: add or remove an interface endpoint's ENIs (zones) live
  v1.post('/vpc-endpoints/:id/subnets/action', async (req: Req) => {
    control.ownEndpoint(caller(req), req.params.id);
    const body = parseBody(endpointSubnetsActionBody, req.body);
    const cmd = body.action === 'add' ? { add: body.subnet_ids.map((subnetId) => ({ subnetId })), remove: [] } : { add: [], remove: body.subnet_ids };
    return endpointJson(await control.changeEndpointSubnets(caller(req), req.params.id, cmd), ctx);
  });

  v1.put('/vpc-endpoints/:id/routetables', async (req: Req) => {
    control.ownEndpoint(caller(req), req.params.id);
    const body = parseBody(endpointRouteTablesBody, req.body);
    return endpointJson(await control.setEndpointRouteTables(caller(req), req.params.id, body.routetables), ctx);
  });
  v1.put('/vpc-endpoints/:id/policy', async (req: Req) => {
    control.ownEndpoint(caller(req), req.params.id);
    const body = parseBody(endpointPolicyBody, req.body);
    return endpointJson(await control.setEndpointPolicy(caller(req), req.params.id, body.policy_statement, HUAWEI_POLICY), ctx);
  });

  // -- the caller's VPCs, subnets and backend ports (vpcep-sim's inventory; only the caller's own)
  v1.get('/vpcs', async (req: Req) => ({ vpcs: control.vpcs(caller(req)).map((v) => vpcJson(v, control.zones())) }));

  // -- route tables (the shape of Huawei's VPC route tables) and the path tracer
  v1.get('/routetables', async (req: Req) => {
    const vpcId = req.query.vpc_id;
    const all = control.routeTables(caller(req)).filter((t) => typeof vpcId !== 'string' || t.vpc_id === vpcId);
    return { routetables: all.map(routeTableJson) };
  });
  v1.get('/routetables/:id', async (req: Req) => ({ routetable: routeTableJson(control.routeTable(caller(req), req.params.id)) }));
  v1.put('/routetables/:id', async (req: Req) => {
    control.routeTable(caller(req), req.params.id);
    const body = parseBody(routeTableBody, req.body);
    return { routetable: routeTableJson(await control.updateRouteTable(caller(req), req.params.id, body.routetable.routes)) };
  });
  v1.post('/trace', async (req: Req) => ({ trace: traceJson(control.trace(caller(req), traceQuery(parseBody(traceBody, req.body)))) }));

  // -- quotas and tags
  v1.get('/quotas', async (req: Req) => {
    const type = req.query.type;
    if (type !== undefined && type !== 'endpoint_service' && type !== 'endpoint') {
      throw new DomainError('InvalidParameter', 'type must be endpoint_service or endpoint');
    }
    const a = caller(req);
    const used = control.usage(a);
    const resources = (['endpoint_service', 'endpoint'] as const)
      .filter((t) => type === undefined || t === type)
      .map((t) => ({ type: t, used: used[t], quota: a.quotas[t] }));
    return { quotas: { resources } };
  });
  v1.post('/:resource_type/:resource_id/tags/action', async (req: Req, reply: FastifyReply) => {
    const kind = resourceType(req.params.resource_type);
    if (kind === 'endpoint_service') control.ownService(caller(req), req.params.resource_id);
    else control.ownEndpoint(caller(req), req.params.resource_id);
    const body = parseBody(tagActionBody, req.body);
    await control.tag(caller(req), kind, req.params.resource_id, body.action, body.tags);
    return reply.code(204).send();
  });
  v1.get('/:resource_type/tags', async (req: Req) => {
    const tags = control.tagsOf(caller(req), resourceType(req.params.resource_type));
    return { tags: [...tags].map(([key, values]) => ({ key, values: [...values] })) };
  });

  // -- the simulator's own: the effective configuration, read-only
  v1.get('/sim/config', async (req: Req) => o.effectiveConfig(caller(req)));
  // zones and a simulated outage on demand: the region's, not an account's, so any authenticated
  // account may read and change them (a simulator's tenants are one team's tests; README "Zones")
  v1.get('/sim/zones', async (req: Req) => {
    caller(req);
    return { zones: zonesJson(control.zoneStates()) };
  });
  // the fleet's nodes (README "Fleet"): the region's, like the zones; counts only, no tenant's endpoint named
  v1.get('/sim/nodes', async (req: Req) => {
    caller(req);
    return control.nodes();
  });
  // provisioning faults (README "Provisioning faults"): the activation delay is the region's (any
  // account, like the zones); a failure is asked for on one's own endpoint or service
  v1.get('/sim/faults', async (req: Req) => ({ faults: control.provisioningFaults(caller(req)) }));
  v1.put('/sim/faults', async (req: Req) => {
    const body = parseBody(simFaultsBody, req.body);
    await control.setProvisioningDelay(body.provisioning_delay_ms);
    return { faults: control.provisioningFaults(caller(req)) };
  });
  v1.post('/sim/endpoints/:id/fail-activation', async (req: Req) => {
    const body = req.body === undefined ? {} : parseBody(simFailBody, req.body);
    return endpointJson(await control.failEndpointActivation(caller(req), req.params.id, body.message), ctx);
  });
  v1.post('/sim/endpoint-services/:id/fail-next-activation', async (req: Req) => {
    const body = req.body === undefined ? {} : parseBody(simFailBody, req.body);
    await control.failNextActivation(caller(req), req.params.id, body.message);
    return { faults: control.provisioningFaults(caller(req)) };
  });
  v1.post('/sim/zones/:zone/:state', async (req: Req) => {
    caller(req);
    const state = req.params.state;
    if (state !== 'down' && state !== 'up') throw new DomainError('NotFound', `POST /sim/zones/{zone}/down or /up, not ${JSON.stringify(state.slice(0, 16))}`);
    parseNoBody(req.body);
    return { zones: zonesJson(await control.setZoneDown(req.params.zone, state === 'down')) };
  });
  // vpcep-sim's public zone: where a provider publishes the TXT record proving its domain (README "DNS");
  // the internet's, so any authenticated account may read and publish; each removes only its own
  v1.get('/sim/dns/records', async (req: Req) => {
    caller(req);
    return { records: control.publicRecords().map((r) => ({ name: r.name, type: r.type, value: r.value, source: r.owner === null ? 'config' : 'api' })) };
  });
  v1.post('/sim/dns/records', async (req: Req) => {
    const body = parseBody(publicRecordBody, req.body);
    const r = await control.publishRecord(caller(req), body);
    return { record: { name: r.name, type: r.type, value: r.value } };
  });
  v1.delete('/sim/dns/records', async (req: Req, reply: FastifyReply) => {
    const { name, value } = req.query;
    if (typeof name !== 'string' || name === '') throw new DomainError('InvalidParameter', 'name is required (the record\'s name; value: only that value)');
    await control.unpublishRecord(caller(req), name, typeof value === 'string' ? value : undefined);
    return reply.code(204).send();
  });
  // toxics (README "Fault injection"): on the caller's own endpoints, their ports and its services;
  // on a zone or the whole data plane, as a zone outage, any account
  v1.get('/sim/toxics', async (req: Req) => ({ toxics: control.faults.visibleTo(caller(req)).map(toxicJson) }));
  v1.post('/sim/toxics', async (req: Req) => {
    const body = req.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new DomainError('InvalidParameter', 'the body must be a JSON object: {"scope": ..., "type": ..., "attributes": {...}}');
    const { scope: key, ...fields } = body as Record<string, unknown>;
    const scope = control.faults.ownScope(caller(req), parseScopeKey(key));
    return toxicJson({ scope, toxic: await control.faults.add(scope, fields) });
  });
  // {scope}/{name} as one wildcard: a name runs to 256 characters, past the router's 100 of a
  // parameter, and may hold a '/' (percent-encoded); a scope key never does
  v1.put('/sim/toxics/*', async (req: Req) => {
    const [key, name] = scopeAndName(req.params['*']);
    const scope = control.faults.ownScope(caller(req), parseScopeKey(key));
    return toxicJson({ scope, toxic: await control.faults.update(scope, name, req.body) });
  });
  v1.delete('/sim/toxics/*', async (req: Req, reply: FastifyReply) => {
    const [key, name] = scopeAndName(req.params['*']);
    const scope = control.faults.ownScope(caller(req), parseScopeKey(key));
    await control.faults.remove(scope, name);
    return reply.code(204).send();
  });
  // proxies (README "Fault injection"): the listeners of the caller's own accepted endpoints, one per
  // terminal port (`<endpoint id>:<port>`, Toxiproxy's names), taken down (connections refused) and back
  v1.get('/sim/proxies', async (req: Req) => ({ proxies: control.faults.proxiesOwnedBy(caller(req)).map(proxyJson) }));
  v1.post('/sim/proxies/:name/:state', async (req: Req) => {
    const state = req.params.state;
    if (state !== 'disable' && state !== 'enable') throw new DomainError('NotFound', `POST /sim/proxies/{name}/disable or /enable, not ${JSON.stringify(state.slice(0, 16))}`);
    parseNoBody(req.body);
    const who = caller(req);
    const p = control.faults.ownProxy(who, req.params.name);
    return { proxy: proxyJson(await control.faults.setEnabled(p.name, state === 'enable', who)) };
  });
}

/** a proxy as vpcep-sim's API shows it: Toxiproxy's fields and its endpoint and port */
function proxyJson(p: ProxyView): Record<string, unknown> {
  return { name: p.name, endpoint_id: p.endpoint, port: p.port, listen: p.listen, upstream: p.upstream, enabled: p.enabled, toxics: p.toxics };
}

/** a toxic's path after /sim/toxics/, decoded: its scope key (no '/' in one) and its name (the rest) */
function scopeAndName(path: string): [string, string] {
  const i = path.indexOf('/');
  return i < 0 ? [path, ''] : [path.slice(0, i), path.slice(i + 1)];
}

/** a toxic as vpcep-sim's API shows it: its scope's key and Toxiproxy's fields */
function toxicJson(r: ToxicRule): Record<string, unknown> {
  return { scope: scopeKey(r.scope), ...r.toxic };
}

function zonesJson(states: ReadonlyArray<{ zone: string; up: boolean }>): Array<{ zone: string; state: 'up' | 'down' }> {
  return states.map((z) => ({ zone: z.zone, state: z.up ? 'up' : 'down' }));
}

function resourceType(t: string): 'endpoint_service' | 'endpoint' {
  if (t === 'endpoint_service' || t === 'endpoint') return t;
  throw new DomainError('NotFound', `resource_type must be endpoint_service or endpoint, not ${JSON.stringify(t)}`);
}

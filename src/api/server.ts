// The HTTP control API (fastify): parse -> control plane -> serialize, and nothing else. Every
// error leaves as {"error_code":"EndPoint.NNNN","error_msg":"..."} with its status; no stack trace
// ever reaches a client.
import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { ControlPlane } from '../control/control-plane.js';
import { DEFAULTS } from '../model/defaults.js';
import { ApiError } from '../model/errors.js';
import {
  connectionActionBody, createEndpointBody, createServiceBody, endpointPolicyBody, endpointRouteTablesBody, modifyServiceBody,
  parseBody, parseListQuery, permissionActionBody, routeTableBody, tagActionBody, traceBody, updateEndpointBody,
} from '../model/requests.js';
import type { PolicyOptions } from '../model/policy.js';
import type { Account } from '../model/types.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { Logger } from '../telemetry/logger.js';
import { ApiGuard, renderedAtMostEvery, type ApiLimits } from './limits.js';
import {
  connectionJson, endpointJson, permissionJson, publicServiceJson, routeTableJson, serviceJson, serviceSummaryJson, vpcJson, type SerializeContext,
} from './serialize.js';

declare module 'fastify' {
  interface FastifyRequest {
    account: Account | null;
  }
}

export interface ApiOptions {
  readonly control: ControlPlane;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly bodyLimitBytes: number;
  readonly limits: ApiLimits;
  /** the bearer token that reads the per-endpoint series of GET /metrics (now: a reload may change it); none: no one reads them */
  metricsToken(): string | undefined;
  /** the clock of the API's back-off and /metrics cache (ms); tests drive it */
  readonly now?: () => number;
  /** the effective configuration as the caller may see it, served read-only (tokens left out) */
  effectiveConfig(caller: Account): unknown;
  /** GET / and GET /ready answer 503 unless ready; while draining, writes are refused (EndPoint.0013) */
  phase(): 'starting' | 'ready' | 'draining';
}

type Params = { project_id: string; id: string; resource_type: string; resource_id: string };
type Req = FastifyRequest<{ Params: Params; Querystring: Record<string, unknown>; Body: unknown }>;

/** huawei-vpcep-api.md line 65: policy_statement has no Principal; absent means everyone */
const HUAWEI_POLICY: PolicyOptions = { requirePrincipal: false };

const VERSIONS = {
  versions: [{
    id: 'v1', links: [], version: '', status: 'CURRENT', updated: '2026-11-01T00:00:00Z', min_version: '',
  }],
};

export function buildApi(o: ApiOptions): FastifyInstance {
  const { control, metrics } = o;
  const guard = new ApiGuard({ limits: o.limits, now: o.now, refused: (reason) => metrics.apiRefused.inc({ reason }) });
  const app = Fastify({
    bodyLimit: o.bodyLimitBytes, logger: false, onProtoPoisoning: 'error', onConstructorPoisoning: 'error', return503OnClosing: true,
    serverFactory: guard.serverFactory,
    clientErrorHandler: guard.clientError,
    // errors met while routing, before any hook: a bad URL encoding, an id over 100 characters
    frameworkErrors: (err, _req, reply: FastifyReply) => {
      const e = err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? new ApiError('UriTooLong')
        : new ApiError('InvalidParameter', err.code === 'FST_ERR_BAD_URL' ? 'bad URL encoding in the path' : err.message);
      void reply.code(e.status).send(e.toBody());
    },
  });
  const ctx: SerializeContext = {
    region: control.region,
    projectOf: (a) => control.projectOf(a),
    domainOf: (a) => control.domainOf(a),
    connectionCount: (id) => control.connectionCount(id),
    servicePorts: (id) => control.servicePorts(id),
  };
  const caller = (req: Req): Account => req.account!;

  app.decorateRequest('account', null);
  // JSON only: a text/plain body is a 415 like any other media type.
  app.removeContentTypeParser('text/plain');
  // An empty body with a JSON content type is no body: the Huawei SDKs send the header on every
  // call, GET and DELETE included. A write that needs a body says so in parseBody.
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (body === '') done(null, undefined);
    else json(req, body as string, done);
  });

  app.setErrorHandler((err: Error & { code?: string; statusCode?: number }, req, reply) => {
    let e: ApiError;
    if (err instanceof ApiError) e = err;
    else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') e = new ApiError('BodyTooLarge');
    else if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') e = new ApiError('UnsupportedMediaType');
    else if (err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') e = new ApiError('InvalidParameter', 'the request body is empty: a JSON object is expected');
    else if (err instanceof SyntaxError || err.code === 'FST_ERR_CTP_INVALID_JSON_BODY') e = new ApiError('InvalidParameter', `malformed JSON: ${err.message}`);
    else if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) e = new ApiError('InvalidParameter', err.message);
    else {
      o.log.error({ err, method: req.method, url: req.url }, 'unexpected error in the control API');
      e = new ApiError('SystemError');
    }
    void reply.code(e.status).send(e.toBody());
  });
  app.setNotFoundHandler((req, reply) => {
    const e = new ApiError('NotFound', `no such API: ${req.method} ${req.url.split('?')[0]}`);
    void reply.code(e.status).send(e.toBody());
  });
  app.addHook('onResponse', async (req, reply) => {
    metrics.apiRequests.inc({ method: req.method, route: req.routeOptions.url ?? 'unmatched', code: String(reply.statusCode) });
    o.log.debug({ method: req.method, route: req.routeOptions.url, code: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'api request');
  });

  // While the daemon drains, reads and /metrics answer to the end; writes would start what is stopping.
  app.addHook('onRequest', async (req) => {
    if (o.phase() === 'draining' && req.method !== 'GET' && req.method !== 'HEAD') throw new ApiError('NotReady');
  });
  app.get('/', async (_req, reply) => {
    const phase = o.phase();
    if (phase !== 'ready') return reply.code(503).send(new ApiError('NotReady', phase === 'starting' ? 'starting up' : 'vpcepd is stopping').toBody());
    return VERSIONS;
  });
  // Readiness for scripts (vpcep wait): ready, or why not; operator-run services whose listeners
  // could not bind make the daemon not ready (the tenants' own endpoints say so in their status).
  app.get('/ready', async (_req, reply) => {
    const failed = control.publicServices().filter((s) => s.status === 'failed')
      .map((s) => ({ service: s.service_name, error_code: s.error?.error_code, error_msg: s.error?.error_message }));
    const phase = o.phase();
    const status = phase !== 'ready' ? phase : failed.length ? 'failed' : 'ready';
    return reply.code(status === 'ready' ? 200 : 503).send({ status, failed });
  });
  // Anyone may read the daemon-wide series (rendered at most once per second); the per-endpoint
  // series (endpoint ids and their traffic, every tenant's) need the metrics token.
  const publicMetrics = renderedAtMostEvery(DEFAULTS.api.metricsCacheMs, () => metrics.registry.metrics(), o.now);
  app.get('/metrics', async (req, reply) => {
    const auth = req.headers.authorization;
    reply.type(metrics.registry.contentType);
    if (auth === undefined) return publicMetrics();
    const token = o.metricsToken();
    const metricsToken = token === undefined ? undefined : Buffer.from(`Bearer ${token}`);
    const given = Buffer.from(auth);
    if (!metricsToken || given.length !== metricsToken.length || !timingSafeEqual(given, metricsToken)) {
      throw new ApiError('AuthFailed', 'authentication failed: GET /metrics takes Authorization: Bearer <metrics.token>');
    }
    return (await metrics.registry.metrics()) + (await metrics.endpointRegistry.metrics());
  });

  void app.register(async (v1) => {
    // Authentication before the body is read: an unknown caller learns nothing else.
    v1.addHook('onRequest', async (req: FastifyRequest<{ Params: Partial<Params> }>) => {
      const token = req.headers['x-auth-token'];
      const account = typeof token === 'string' ? control.accountByToken(token) : undefined;
      if (!account) throw new ApiError('AuthFailed');
      if (req.params.project_id !== account.project_id) {
        throw new ApiError('InvalidProjectId', `project ${req.params.project_id} is not the caller's project`);
      }
      req.account = account;
      // a repeated query key is refused, never reduced to one of its values or dropped
      for (const [key, v] of Object.entries(req.query as Record<string, unknown>)) {
        if (Array.isArray(v)) throw new ApiError('InvalidParameter', `query parameter ${key} is given ${v.length} times: give it once`);
      }
    });

    // -- endpoint services (provider side)
    v1.post('/vpc-endpoint-services', async (req: Req) => {
      const body = parseBody(createServiceBody, req.body);
      return serviceJson(await control.createService(caller(req), body), ctx);
    });
    v1.get('/vpc-endpoint-services', async (req: Req) => {
      const r = control.listServices(caller(req), parseListQuery(req.query, 'service'));
      return { endpoint_services: r.items.map((s) => serviceJson(s, ctx, true)), total_count: r.total };
    });
    v1.get('/vpc-endpoint-services/public', async (req: Req) => {
      const q = parseListQuery(req.query, 'service');
      const all = control.publicServices();
      return { endpoint_services: all.slice(q.offset, q.offset + q.limit).map(publicServiceJson), total_count: all.length };
    });
    v1.get('/vpc-endpoint-services/describe', async (req: Req) => {
      const id = req.query.id;
      const name = req.query.endpoint_service_name;
      if (typeof id !== 'string' && typeof name !== 'string') {
        throw new ApiError('InvalidParameter', 'give id or endpoint_service_name');
      }
      return serviceSummaryJson(control.describeService(caller(req), typeof id === 'string' ? { id } : { name: name as string }));
    });
    v1.get('/vpc-endpoint-services/:id', async (req: Req) => serviceJson(control.ownService(caller(req), req.params.id), ctx));
    v1.put('/vpc-endpoint-services/:id', async (req: Req) => {
      control.ownService(caller(req), req.params.id);
      const body = parseBody(modifyServiceBody, req.body);
      return serviceJson(await control.modifyService(caller(req), req.params.id, body), ctx);
    });
    v1.delete('/vpc-endpoint-services/:id', async (req: Req, reply: FastifyReply) => {
      await control.deleteService(caller(req), req.params.id);
      return reply.code(204).send();
    });
    v1.get('/vpc-endpoint-services/:id/connections', async (req: Req) => {
      const r = control.listConnections(caller(req), req.params.id, parseListQuery(req.query, 'connection'));
      return { connections: r.items.map((e) => connectionJson(e, ctx)), total_count: r.total };
    });
    v1.post('/vpc-endpoint-services/:id/connections/action', async (req: Req) => {
      control.ownService(caller(req), req.params.id);
      const body = parseBody(connectionActionBody, req.body);
      const e = await control.connectionAction(caller(req), req.params.id, body.action, body.endpoints[0]!);
      return { connections: [connectionJson(e, ctx)] };
    });
    v1.get('/vpc-endpoint-services/:id/permissions', async (req: Req) => {
      const q = parseListQuery(req.query, 'service');
      const all = await control.permissions(caller(req), req.params.id);
      return { permissions: all.slice(q.offset, q.offset + q.limit).map(permissionJson), total_count: all.length };
    });
    v1.post('/vpc-endpoint-services/:id/permissions/action', async (req: Req) => {
      control.ownService(caller(req), req.params.id);
      const body = parseBody(permissionActionBody, req.body);
      return { permissions: await control.changePermissions(caller(req), req.params.id, body.action, body.permissions) };
    });

    // -- endpoints (consumer side)
    v1.post('/vpc-endpoints', async (req: Req) => {
      const body = parseBody(createEndpointBody, req.body);
      return endpointJson(await control.createEndpoint(caller(req), body, HUAWEI_POLICY), ctx);
    });
    v1.get('/vpc-endpoints', async (req: Req) => {
      const r = control.listEndpoints(caller(req), parseListQuery(req.query, 'endpoint'));
      return { endpoints: r.items.map((e) => endpointJson(e, ctx)), total_count: r.total };
    });
    v1.get('/vpc-endpoints/:id', async (req: Req) => endpointJson(control.ownEndpoint(caller(req), req.params.id), ctx));
    v1.put('/vpc-endpoints/:id', async (req: Req) => {
      control.ownEndpoint(caller(req), req.params.id);
      const body = parseBody(updateEndpointBody, req.body);
      return endpointJson(await control.updateEndpoint(caller(req), req.params.id, body), ctx);
    });
    v1.delete('/vpc-endpoints/:id', async (req: Req, reply: FastifyReply) => {
      await control.deleteEndpoint(caller(req), req.params.id);
      return reply.code(204).send();
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
    v1.get('/vpcs', async (req: Req) => ({ vpcs: control.vpcs(caller(req)).map(vpcJson) }));

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
    v1.post('/trace', async (req: Req) => ({ trace: control.trace(caller(req), parseBody(traceBody, req.body)) }));

    // -- quotas and tags
    v1.get('/quotas', async (req: Req) => {
      const type = req.query.type;
      if (type !== undefined && type !== 'endpoint_service' && type !== 'endpoint') {
        throw new ApiError('InvalidParameter', 'type must be endpoint_service or endpoint');
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
  }, { prefix: '/v1/:project_id' });

  return app;
}

function resourceType(t: string): 'endpoint_service' | 'endpoint' {
  if (t === 'endpoint_service' || t === 'endpoint') return t;
  throw new ApiError('NotFound', `resource_type must be endpoint_service or endpoint, not ${JSON.stringify(t)}`);
}

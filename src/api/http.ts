// The one HTTP server (fastify): the limits every client is held to, readiness, /metrics, and
// the dialects' plugins (src/api/huawei, src/api/aws), each parsing its requests into the
// control plane's neutral commands and answering in its own shape. No stack trace ever reaches a
// client.
import { isUtf8 } from 'node:buffer';
import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { ControlPlane } from '../control/control-plane.js';
import { DEFAULTS } from '../model/defaults.js';
import { DomainError } from '../model/errors.js';
import type { Account } from '../model/types.js';
import { percentDecoded } from '../net/percent-decode.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { Logger } from '../telemetry/logger.js';
import { awsApi, awsConstraintStrategy, awsErrorHandler, awsErrorText, isAwsRequest, sendAwsError } from './aws/plugin.js';
import { routingError } from './framework-errors.js';
import { huaweiErrorText } from './huawei/errors.js';
import { huaweiApi, huaweiErrorHandler, sendHuaweiError } from './huawei/plugin.js';
import { resourceErrorJson } from './huawei/serialize.js';
import { ApiGuard, renderedAtMostEvery, type ApiLimits, type RawAnswer, type RequestHead } from './limits.js';


/** a request whose route has a path parameter matched by an empty segment (`/vpc-endpoints/`) */
const emptyParameter = (req: FastifyRequest): boolean => Object.values((req.params ?? {}) as Record<string, string>).includes('');

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
  /** GET / and GET /ready answer 503 unless ready; while draining, writes are refused (NotReady) */
  phase(): 'starting' | 'ready' | 'draining';
}

/** how a dialect answers an error: on a reply, from an error handler, or as raw text on a socket node:http refused */
interface ErrorDialect {
  send(reply: FastifyReply, e: DomainError): void;
  readonly onError: (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => void;
  text(e: DomainError, req?: RequestHead): RawAnswer;
}

export function buildApi(o: ApiOptions): FastifyInstance {
  const { control, metrics } = o;
  const huawei: ErrorDialect = { send: sendHuaweiError, onError: huaweiErrorHandler(o.log), text: huaweiErrorText };
  const aws: ErrorDialect = { send: sendAwsError, onError: awsErrorHandler(o.log), text: awsErrorText };
  /**
   * The dialect that answers the errors of a request no dialect's route took (an unknown route, a
   * refusal while routing, /metrics, a drain): AWS's for a request that speaks AWS (a SigV4
   * signature, `Action=` in the query, a form-encoded POST), Huawei's for every other.
   */
  const dialectOf = (req: FastifyRequest): ErrorDialect => (isAwsRequest(req) ? aws : huawei);
  const guard = new ApiGuard({
    limits: o.limits, now: o.now, log: o.log, refused: (reason) => metrics.apiRefused.inc({ reason }),
    // a request node:http could not parse is answered in the dialect its head speaks, as far as it
    // arrived (no request line: the default one); one whose body did not arrive in time by its own
    answer: (e, req) => (req && isAwsRequest(req) ? aws : huawei).text(e, req),
  });
  /** a request answered: counted and logged (fastify's onResponse hook, and refusals while routing, which run no hook) */
  const answered = (req: FastifyRequest, reply: FastifyReply): void => {
    // an AWS request's route is `/` for every action: its label names the action instead
    const route = req.awsAction || (emptyParameter(req) ? undefined : req.routeOptions.url) || 'unmatched';
    metrics.apiRequests.inc({ method: req.method, route, code: String(reply.statusCode) });
    o.log.debug({ method: req.method, route, code: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'api request');
  };
  const app = Fastify({
    // closing (the last moment of the drain): a request still coming on a kept-alive connection is
    // answered by the dialect as during the drain (reads served, writes EndPoint.0013 / ServiceUnavailable),
    // not with fastify's own 503 body, in neither dialect's shape
    bodyLimit: o.bodyLimitBytes, logger: false, onProtoPoisoning: 'error', onConstructorPoisoning: 'error', return503OnClosing: false,
    serverFactory: guard.serverFactory,
    // GET / is Huawei's version list, and AWS's when the request speaks AWS (src/api/aws/plugin.ts)
    routerOptions: { constraints: { [awsConstraintStrategy.name]: awsConstraintStrategy } },
    clientErrorHandler: guard.clientError,
    frameworkErrors: (err, req, reply: FastifyReply) => {
      dialectOf(req).send(reply, routingError(err));
      answered(req, reply);
    },
  });

  // JSON only: a text/plain body is a 415 like any other media type.
  app.removeContentTypeParser('text/plain');
  // An empty body with a JSON content type is no body: the Huawei SDKs send the header on every
  // call, GET and DELETE included. A write that needs a body says so in parseBody.
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, bytes, done) => {
    // the body is read as UTF-8 (RFC 8259 8.1): a UTF-16 one was refused as malformed JSON, and a
    // UTF-8 one labelled otherwise was taken; bytes that are not UTF-8 were stored as U+FFFD
    const charset = CHARSET.exec(req.headers['content-type'] ?? '')?.[1];
    if (charset !== undefined && !/^utf-?8$/i.test(charset)) {
      done(new DomainError('UnsupportedMediaType', `request body must be application/json in UTF-8, not charset ${JSON.stringify(charset)}`));
    } else if (!isUtf8(bytes as Buffer)) {
      done(new DomainError('UnsupportedMediaType', 'request body must be application/json in UTF-8: it holds bytes that are not UTF-8'));
    } else if ((bytes as Buffer).length === 0) done(null, undefined);
    else {
      const body = (bytes as Buffer).toString();
      json(req, body, (err, value) => {
        // fastify's parser refuses __proto__ and constructor.prototype keys with the words of malformed JSON
        if (err && isJson(body)) done(new DomainError('InvalidParameter', 'the body holds a forbidden key: __proto__ or constructor.prototype'));
        // an escaped lone surrogate (\ud800) is valid JSON but no Unicode text: stored, it came back as JSON jq refuses
        else if (!err && /\\u[dD][89a-fA-F]/.test(body) && !wellFormed(value)) done(new DomainError('InvalidParameter', 'the body holds a lone surrogate (\\ud800-\\udfff without its pair): not Unicode text'));
        else done(err, value);
      });
    }
  });

  app.setErrorHandler((err: FastifyError, req, reply) => dialectOf(req).onError(err, req, reply));
  // The router's query parser keeps a malformed percent-escape as the text it is: a filter then
  // looked for that text, found nothing, and answered an empty list for what was a client's mistake
  app.addHook('onRequest', async (req) => {
    const q = req.url.indexOf('?');
    if (q >= 0 && req.url.includes('%', q) && percentDecoded(req.url.slice(q + 1)) === undefined) {
      throw new DomainError('InvalidParameter', 'the query string holds an invalid percent-escape (% and two hex digits, of UTF-8)');
    }
  });
  // a path parameter is never empty: /vpc-endpoints/ is no route (it was read as the endpoint '', "does not exist")
  app.addHook('onRequest', async (req) => {
    if (emptyParameter(req)) throw new DomainError('NotFound', `no such API: ${req.method} ${req.url.split('?')[0]}`);
  });
  app.setNotFoundHandler((req, reply) => {
    dialectOf(req).send(reply, new DomainError('NotFound', `no such API: ${req.method} ${req.url.split('?')[0]}`));
  });
  app.addHook('onResponse', async (req, reply) => answered(req, reply));

  // While the daemon drains, reads and /metrics answer to the end; writes would start what is stopping.
  // AWS's reads are POSTs too: its plugin refuses the actions that are not reads itself.
  app.addHook('onRequest', async (req) => {
    if (o.phase() === 'draining' && req.method !== 'GET' && req.method !== 'HEAD' && !isAwsRequest(req)) throw new DomainError('NotReady');
  });
  // Readiness for scripts (vpcep wait): ready, or why not; operator-run services whose listeners
  // could not bind make the daemon not ready (the tenants' own endpoints say so in their status).
  app.get('/ready', async (_req, reply) => {
    const failed = control.publicServices().filter((s) => s.status === 'failed')
      .map((s) => {
        const error = s.error ? resourceErrorJson(s.error) : undefined;
        return { service: s.service_name, error_code: error?.error_code, error_msg: error?.error_message };
      });
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
    const metricsToken = token === undefined ? undefined : Buffer.from(token);
    // the scheme in any case (RFC 9110 11.1: `bearer` was refused where Bearer was taken)
    const bearer = /^bearer +(.*)$/is.exec(auth);
    const given = Buffer.from(bearer?.[1] ?? '');
    if (!bearer || !metricsToken || given.length !== metricsToken.length || !timingSafeEqual(given, metricsToken)) {
      // RFC 9110 15.5.2: a 401 carries the challenge of the scheme it takes
      reply.header('www-authenticate', 'Bearer realm="vpcep-sim metrics"');
      throw new DomainError('AuthFailed', 'authentication failed: GET /metrics takes Authorization: Bearer <metrics.token>');
    }
    // a stream of chunks of bytes kept between scrapes: one string of every line was flattened and encoded
    // per scrape, and one fresh multi-MiB Buffer paid a page fault per 4 KiB (src/telemetry/endpoint-series.ts)
    // gzip when the scraper takes it (Prometheus does): the chunks' deflate pieces are kept with them
    const gzip = acceptsGzip(req.headers['accept-encoding']);
    if (gzip) reply.header('content-encoding', 'gzip');
    reply.header('vary', 'accept-encoding');
    return metrics.endpointRegistry.metrics(await metrics.registry.metrics(), gzip);
  });

  // -- the dialects. Huawei's VPCEP v1 REST answers GET / and /v1/{project_id}/...; AWS's Query
  // APIs (src/api/aws) answer a form-encoded POST / or a GET / with Action= in the query string,
  // signed with SigV4 (the credential scope's service, ec2, elasticloadbalancing or sts, picks the API).
  void app.register(awsApi, { control, log: o.log, now: o.now, phase: o.phase });
  void app.register(huaweiApi, { control, log: o.log, effectiveConfig: o.effectiveConfig, phase: o.phase });

  return app;
}

/** whether an Accept-Encoding header takes gzip (RFC 9110 12.5.3: a coding listed with q=0 is refused) */
export function acceptsGzip(header: string | string[] | undefined): boolean {
  const text = Array.isArray(header) ? header.join(',') : header;
  if (!text) return false;
  for (const item of text.split(',')) {
    const [coding, ...params] = item.split(';').map((x) => x.trim().toLowerCase());
    if (coding !== 'gzip' && coding !== 'x-gzip') continue;
    const q = params.find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  }
  return false;
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** a Content-Type's charset parameter (RFC 9110 8.3.1), its value quoted or not */
const CHARSET = /;\s*charset\s*=\s*"?([^";\s]*)/i;

/** a surrogate without its pair (by code unit: no `u` flag) */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** whether every string (and key) in a parsed JSON value is well-formed Unicode (no lone surrogate) */
function wellFormed(v: unknown): boolean {
  if (typeof v === 'string') return !LONE_SURROGATE.test(v);
  if (Array.isArray(v)) return v.every(wellFormed);
  if (v !== null && typeof v === 'object') return Object.entries(v).every(([k, x]) => !LONE_SURROGATE.test(k) && wellFormed(x));
  return true;
}

// Toxiproxy's HTTP API (its v2 routes) on its own port (faults.listen): a dialect that parses and
// serializes only; the rules are the control plane's (src/control/faults.ts). Every endpoint
// listener is a proxy named `<endpoint id>:<port>`; toxics added here have the port's scope.
// No account token (Toxiproxy has none): an operator's port, 127.0.0.1 by default, showing every
// tenant's endpoint listeners (README "Fault injection").
import { isUtf8 } from 'node:buffer';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { ControlPlane } from '../../control/control-plane.js';
import type { ProxyView } from '../../control/faults.js';
import { DomainError } from '../../model/errors.js';
import { routingError } from '../framework-errors.js';
import { ApiGuard, type ApiLimits } from '../limits.js';
import type { Logger } from '../../telemetry/logger.js';
import type { ApiRefusalReason } from '../../telemetry/metrics.js';
import { parseProxyName, type Toxic, type ToxicScope } from '../../model/toxics.js';
import { toxiproxyError } from './errors.js';

export interface ToxiproxyApiOptions {
  readonly control: ControlPlane;
  readonly version: string;
  /** a request body's limit (bytes) */
  readonly bodyLimitBytes: number;
  /** the main API's limits (connections at once, timeouts, pipelining): without them one client held any number of idle sockets here, out of the data plane's descriptors */
  readonly limits: ApiLimits;
  /** counts a refused or cut connection */
  refused(reason: ApiRefusalReason): void;
  /** says why a connection was cut or refused */
  readonly log?: Logger;
}

type Req = FastifyRequest<{ Params: Record<string, string> }>;

function proxyJson(p: ProxyView): Record<string, unknown> {
  return { name: p.name, listen: p.listen, upstream: p.upstream, enabled: p.enabled, toxics: p.toxics.map(toxicJson) };
}

function toxicJson(t: Toxic): Record<string, unknown> {
  return { name: t.name, type: t.type, stream: t.stream, toxicity: t.toxicity, attributes: t.attributes };
}

/** a body as Toxiproxy reads one: JSON whatever its content type, empty meaning none */
function parseJson(_req: FastifyRequest, bytes: Buffer, done: (err: Error | null, value?: unknown) => void): void {
  // bytes that are not UTF-8 were read as U+FFFD and taken
  if (!isUtf8(bytes)) return done(new DomainError('InvalidParameter', 'bad request body: not UTF-8'));
  const body = bytes.toString();
  if (body.trim() === '') return done(null, undefined);
  try {
    done(null, JSON.parse(body));
  } catch {
    done(new DomainError('InvalidParameter', 'bad request body: not JSON'));
  }
}

export function buildToxiproxyApi(o: ToxiproxyApiOptions): FastifyInstance {
  const faults = o.control.faults;
  const guard = new ApiGuard({
    limits: o.limits, refused: o.refused, log: o.log,
    answer: (e) => {
      const { status, body } = toxiproxyError(e);
      return { status, contentType: 'application/json', body: JSON.stringify(body) };
    },
  });
  const app = Fastify({
    // closing: a request still coming is answered as before, never with fastify's own 503 body (not Toxiproxy's shape)
    bodyLimit: o.bodyLimitBytes, logger: false, onProtoPoisoning: 'error', onConstructorPoisoning: 'error', return503OnClosing: false,
    serverFactory: guard.serverFactory,
    // a request node:http cannot take (malformed, headers too large, too slow): Toxiproxy's shape, not fastify's
    clientErrorHandler: guard.clientError,
    // a toxic's name is up to 256 characters (src/model/toxics.ts), 512 UTF-16 units once decoded
    routerOptions: { maxParamLength: 512 },
    // a bad URL encoding or a name over 512 characters: Toxiproxy's shape, not fastify's
    frameworkErrors: (err, _req, reply: FastifyReply) => {
      const { status, body } = toxiproxyError(routingError(err));
      void reply.code(status).send(body);
    },
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, parseJson);
  app.setErrorHandler((err: FastifyError, _req: FastifyRequest, reply: FastifyReply) => {
    const e = err instanceof DomainError ? err
      : err.statusCode === 413 ? new DomainError('BodyTooLarge')
        : err.statusCode !== undefined && err.statusCode < 500 ? new DomainError('InvalidParameter', `bad request: ${err.message}`)
          : new DomainError('SystemError');
    const { status, body } = toxiproxyError(e);
    void reply.code(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    const { status, body } = toxiproxyError(new DomainError('NotFound', `no route ${req.method} ${req.url.slice(0, 100)}`));
    void reply.code(status).send(body);
  });

  /** the port scope of a proxy that exists */
  const portScope = (name: string): ToxicScope => {
    const p = parseProxyName(name);
    faults.proxy(name);
    return { kind: 'port', endpoint: p!.endpoint, port: p!.port };
  };
  const notHere = (what: string): never => {
    throw new DomainError('Unsupported', `${what}: proxies are vpcep-sim's endpoint listeners; create or delete endpoints through the Huawei or AWS API`);
  };

  app.get('/version', async (_req, reply) => reply.type('text/plain; charset=utf-8').send(o.version));
  app.get('/proxies', async () => Object.fromEntries(faults.proxies().map((p) => [p.name, proxyJson(p)])));
  app.post('/proxies', async () => notHere('cannot create a proxy'));
  app.post('/populate', async () => notHere('cannot populate proxies'));
  app.get('/proxies/:proxy', async (req: Req) => proxyJson(faults.proxy(req.params.proxy!)));
  // Toxiproxy takes an update by POST or PATCH (its Go client and toxiproxy-cli send PATCH for a toxic)
  const updateProxy = async (req: Req): Promise<Record<string, unknown>> => {
    const name = req.params.proxy!;
    const p = faults.proxy(name);
    const body = req.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new DomainError('InvalidParameter', 'bad request body: a JSON object {"enabled": true|false}');
    const b = body as Record<string, unknown>;
    for (const k of Object.keys(b)) {
      // Toxiproxy's Go client saves the whole proxy, its toxics included: they are read elsewhere, as Toxiproxy does
      if (k === 'enabled' || k === 'toxics') continue;
      if ((k === 'name' && b[k] === p.name) || (k === 'listen' && b[k] === p.listen) || (k === 'upstream' && b[k] === p.upstream)) continue;
      if (k === 'name' || k === 'listen' || k === 'upstream') throw new DomainError('InvalidParameter', `a proxy's ${k} cannot change: it is the endpoint's`);
      throw new DomainError('InvalidParameter', `unknown field ${JSON.stringify(k.slice(0, 32))}: enabled`);
    }
    if (b.enabled === undefined) return proxyJson(p);
    if (typeof b.enabled !== 'boolean') throw new DomainError('InvalidParameter', 'enabled must be true or false');
    return proxyJson(await faults.setEnabled(name, b.enabled, null));
  };
  app.post('/proxies/:proxy', updateProxy);
  app.patch('/proxies/:proxy', updateProxy);
  app.delete('/proxies/:proxy', async (req: Req) => {
    faults.proxy(req.params.proxy!);
    return notHere('cannot delete a proxy');
  });
  app.get('/proxies/:proxy/toxics', async (req: Req) => faults.toxics(portScope(req.params.proxy!)).map(toxicJson));
  app.post('/proxies/:proxy/toxics', async (req: Req) => toxicJson(await faults.add(portScope(req.params.proxy!), req.body)));
  app.get('/proxies/:proxy/toxics/:toxic', async (req: Req) => toxicJson(faults.toxic(portScope(req.params.proxy!), req.params.toxic!)));
  const updateToxic = async (req: Req): Promise<Record<string, unknown>> => toxicJson(await faults.update(portScope(req.params.proxy!), req.params.toxic!, req.body));
  app.post('/proxies/:proxy/toxics/:toxic', updateToxic);
  app.patch('/proxies/:proxy/toxics/:toxic', updateToxic);
  app.delete('/proxies/:proxy/toxics/:toxic', async (req: Req, reply: FastifyReply) => {
    await faults.remove(portScope(req.params.proxy!), req.params.toxic!);
    return reply.code(204).send();
  });
  app.post('/reset', async (_req, reply: FastifyReply) => {
    await faults.reset();
    return reply.code(204).send();
  });
  return app;
}

// AWS's Query APIs (EC2, ELBv2, STS) as a fastify plugin on the one port (issue 12, "One world,
// two dialects"): a form-encoded `POST /` or a `GET /` with `Action=` in its query string, signed
// with SigV4. Authenticate (auth.ts), parse the form (query.ts), look the action up (tables.ts),
// refuse a name AWS's API has not for it (parameters.ts), answer DryRun, call the handler,
// serialize (xml.ts). Every error leaves in the API's XML shape
// with its code and status (errors.ts) and the request id in the body and in `x-amzn-requestid`;
// no stack trace ever reaches a client.
import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import type { ControlPlane } from '../../control/control-plane.js';
import { DomainError } from '../../model/errors.js';
import { requestError } from '../framework-errors.js';
import type { RawAnswer, RequestHead } from '../limits.js';
import { AwsRequestError, type AwsApi, type AwsCall } from './actions.js';
import { API_VERSIONS, apiOfVersion, AwsAuthenticator, claimedApi } from './auth.js';
import { awsZone } from './ec2-base.js';
import { awsErrorBody, awsErrorOf, isAwsAnswerable, type AwsAnswerable } from './errors.js';
import { awsRegion } from './ids.js';
import { refuseUnknownParameters } from './parameters.js';
import { QueryParams, QueryParseError } from './query.js';
import type { SignedRequest } from './sigv4.js';
import { AWS_ACTIONS } from './tables.js';
import { ec2Response, ELBV2_NAMESPACE, queryResponse, REQUEST_ID_HEADER, STS_NAMESPACE, XML_CONTENT_TYPE } from './xml.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** the AWS request id, set as soon as the request is known to be AWS's */
    awsRequestId: string;
    /** the API the request was authenticated for */
    awsApi: AwsApi | null;
    /** the metrics' route label of an AWS request: `<api>:<Action>` once the action is known (`<api>:unknown` for one that is not) */
    awsAction: string;
  }
}

export interface AwsOptions {
  readonly control: ControlPlane;
  readonly log: { error(obj: object, msg: string): void };
  /** the clock SigV4's skew window is measured on (ms); tests drive it */
  readonly now?: () => number;
  /** while the daemon drains, only the reads are answered */
  phase(): 'starting' | 'ready' | 'draining';
}

/** AWS's reads by name: the actions a draining daemon still answers */
const READ_ACTION = /^(?:Describe|Get|List)[A-Z]/;

/** the route constraint that sends a request to this dialect rather than to Huawei's `GET /` */
export const AWS_CONSTRAINT = 'awsQuery';

function splitUrl(url: string | undefined): { path: string; query: string } {
  const u = url ?? '/';
  const q = u.indexOf('?');
  return q < 0 ? { path: u, query: '' } : { path: u.slice(0, q), query: u.slice(q + 1) };
}

const QUERY_MARK = /(?:^|&)(?:Action|X-Amz-Algorithm)=/;

/**
 * Whether a request speaks AWS: a SigV4 Authorization header, `Action=` or a presigned signature
 * in the query string, or a form-encoded POST. Huawei's requests carry none of these.
 */
export function isAwsRequest(req: RequestHead): boolean {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && auth.startsWith('AWS4-HMAC-SHA256')) return true;
  if (QUERY_MARK.test(splitUrl(req.url).query)) return true;
  const type = req.headers['content-type'];
  return req.method === 'POST' && typeof type === 'string' && type.toLowerCase().startsWith('application/x-www-form-urlencoded');
}

/** fastify's constraint strategy: `aws` for AWS's requests; the rest take the unconstrained routes */
type ConstraintStrategy = NonNullable<NonNullable<FastifyServerOptions['routerOptions']>['constraints']>[string];
type RouteHandler = ReturnType<ReturnType<ConstraintStrategy['storage']>['get']>;

export const awsConstraintStrategy: ConstraintStrategy = {
  name: AWS_CONSTRAINT,
  storage() {
    const handlers = new Map<unknown, NonNullable<RouteHandler>>();
    return {
      get: (value) => handlers.get(value) ?? null,
      set: (value, handler) => { handlers.set(value, handler); },
    };
  },
  // any other value matches no constrained route: the request takes the unconstrained ones (Huawei's)
  deriveConstraint: (req) => (isAwsRequest(req) ? 'aws' : 'other'),
  mustMatchWhenDerived: false,
  validate(value) {
    if (value !== 'aws') throw new TypeError(`the ${AWS_CONSTRAINT} constraint takes 'aws'`);
  },
};

/** a domain message with each config zone's name (`sim-1b`) as AWS shows it (`us-east-1b`), as a word */
function zoneRenamer(call: Pick<AwsCall, 'region' | 'control'>): (message: string) => string {
  const names = new Map(call.control.zones().map((z) => [z, awsZone(call, z).name] as const));
  const renamed = [...names].filter(([z, aws]) => z !== aws).map(([z]) => z);
  if (!renamed.length) return (m) => m;
  const escaped = renamed.map((z) => z.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const pattern = new RegExp(`(?<![\\w-])(${escaped.join('|')})(?![\\w-])`, 'g');
  return (m) => m.replace(pattern, (z) => names.get(z) ?? z);
}

function signedRequest(req: FastifyRequest): SignedRequest {
  const { path, query } = splitUrl(req.url);
  return { method: req.method, path, query, headers: req.headers, rawHeaders: req.raw.rawHeaders, body: Buffer.isBuffer(req.body) ? req.body : '' };
}

function versionOf(raw: string): string | undefined {
  try {
    return new URLSearchParams(raw).get('Version') ?? undefined;
  } catch {
    return undefined;
  }
}

/** the API whose shape answers a request's errors: the one it was authenticated for, else the one it claims */
function apiOf(req: FastifyRequest): AwsApi {
  if (req.awsApi) return req.awsApi;
  const signed = signedRequest(req);
  // the parameters of a POST are in its form body (the SDKs'), a GET's in its query string
  const raw = req.method === 'POST' && typeof signed.body !== 'string' && signed.body.length > 0 ? signed.body.toString() : signed.query;
  return claimedApi(signed) ?? apiOfVersion(versionOf(raw));
}

/** answers an error in the request's API's shape */
export function sendAwsError(reply: FastifyReply, e: AwsAnswerable): void {
  const req = reply.request;
  const api = apiOf(req);
  const requestId = req.awsRequestId || randomUUID();
  const answer = awsErrorOf(api, e);
  const { contentType, body } = awsErrorBody(api, answer, requestId);
  void reply.code(answer.status).header(REQUEST_ID_HEADER, requestId).type(contentType).send(body);
}

/**
 * a refusal node:http made before any route (a timeout, headers too large): in the shape of the API
 * its head claims (the credential scope, else the query's Version), EC2's when no head came; the
 * request id in the header too, as on every answer
 */
export function awsErrorText(e: DomainError, req?: RequestHead): RawAnswer {
  let api: AwsApi = 'ec2';
  if (req) {
    const { path, query } = splitUrl(req.url);
    api = claimedApi({ method: req.method ?? 'GET', path, query, headers: req.headers as SignedRequest['headers'], body: '' }) ?? apiOfVersion(versionOf(query));
  }
  const answer = awsErrorOf(api, e);
  const requestId = randomUUID();
  return { status: answer.status, ...awsErrorBody(api, answer, requestId), headers: { [REQUEST_ID_HEADER]: requestId } };
}

/**
 * the error handler of AWS's requests: an unexpected fault is logged and answered as InternalError;
 * RENAME puts the domain's words into AWS's (a zone's config name as AWS shows it)
 */
export function awsErrorHandler(log: AwsOptions['log'], rename: (message: string) => string = (m) => m) {
  return (err: FastifyError, req: FastifyRequest, reply: FastifyReply): void => {
    let known: AwsAnswerable | null = isAwsAnswerable(err) ? err : requestError(err);
    if (known instanceof DomainError && known.name === 'UnsupportedMediaType') {
      known = new DomainError('UnsupportedMediaType', 'the request body must be application/x-www-form-urlencoded');
    } else if (known instanceof DomainError) {
      const message = rename(known.message);
      if (message !== known.message) known = new DomainError(known.name, message);
    }
    if (!known) log.error({ err, method: req.method, url: req.url }, 'unexpected error in the AWS API');
    sendAwsError(reply, known ?? new DomainError('SystemError'));
  };
}

export async function awsApi(app: FastifyInstance, o: AwsOptions): Promise<void> {
  const { control } = o;
  const auth = new AwsAuthenticator(control, o.now);
  const region = awsRegion(control.region);
  app.decorateRequest('awsRequestId', '');
  app.decorateRequest('awsApi', null);
  app.decorateRequest('awsAction', '');
  app.setErrorHandler(awsErrorHandler(o.log, zoneRenamer({ region, control })));
  // SigV4 signs the body's bytes: keep them as they came. Only forms: anything else is a 415 here.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const handler = async (req: FastifyRequest, reply: FastifyReply) => {
    const requestId = randomUUID();
    req.awsRequestId = requestId;
    const signed = signedRequest(req);
    // the parameters travel in the body of a POST, in the query string of a GET
    const raw = req.method === 'POST' && signed.body.length > 0 ? signed.body.toString() : signed.query;
    const { api, caller } = auth.authenticate(signed, () => versionOf(raw));
    req.awsApi = api;
    // bytes that are not UTF-8 were read as U+FFFD and stored so (a form's own are percent-escaped)
    if (raw !== signed.query && typeof signed.body !== 'string' && !isUtf8(signed.body)) throw new QueryParseError('InvalidParameterValue', 'the form body is not UTF-8');
    const params = QueryParams.parse(raw, api === 'ec2' ? 'ec2' : 'query');
    const version = params.string('Version');
    if (version !== undefined && version !== API_VERSIONS[api]) {
      throw new AwsRequestError('NoSuchVersion', `The requested version (${version.slice(0, 40)}) of service ${api} does not exist. This endpoint answers ${API_VERSIONS[api]}.`);
    }
    const action = params.action;
    if (o.phase() === 'draining' && !READ_ACTION.test(action)) throw new DomainError('NotReady', 'vpcepd is stopping: only reads (Describe*, Get*, List*) are answered');
    const table = AWS_ACTIONS[api];
    // one series per implemented action: a bounded label whatever the client sends
    req.awsAction = `${api}:${Object.hasOwn(table, action) ? action : 'unknown'}`;
    if (!Object.hasOwn(table, action)) {
      throw new AwsRequestError('InvalidAction', api === 'ec2'
        ? `The action ${action.slice(0, 100)} is not valid for this web service.`
        : `Could not find operation ${action.slice(0, 100)} for version ${API_VERSIONS[api]}`);
    }
    refuseUnknownParameters(api, action, params.root);
    // aws-ec2-api.md §1.3: after authentication and the action's lookup, before anything changes
    if (api === 'ec2' && params.bool('DryRun') === true) {
      throw new AwsRequestError('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', 412);
    }
    const call: AwsCall = { api, action, caller, accountId: caller.aws_account_id, region, params, control, requestId };
    const output = await table[action]!(call);
    const body = api === 'ec2'
      ? ec2Response(action, requestId, output)
      : queryResponse(action, api === 'sts' ? STS_NAMESPACE : ELBV2_NAMESPACE, requestId, output);
    // as bytes: a string answer is measured for its Content-Length, then encoded again to be written
    // (each a walk over ~1.2 MB for 1,000 endpoints)
    return reply.header(REQUEST_ID_HEADER, requestId).type(XML_CONTENT_TYPE).send(Buffer.from(body));
  };
  app.route({ method: ['GET', 'POST'], url: '/', constraints: { [AWS_CONSTRAINT]: 'aws' }, handler });
}

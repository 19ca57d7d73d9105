// AWS Signature Version 4, verified on the server side (aws-ec2-api.md §6): the `Authorization:
// AWS4-HMAC-SHA256 Credential=AKID/yyyymmdd/region/service/aws4_request, SignedHeaders=...,
// Signature=...` header the SDKs, the CLI and Terraform send, and the same signature carried in the
// query string (`X-Amz-Algorithm`, `X-Amz-Credential`, ...: presigned URLs).
//
// The signing math is node:crypto's HMAC-SHA256, written here rather than taken from a library
// (measured on this machine, one EC2 request): `@smithy/signature-v4` is async and costs ~35 µs just
// to sign; `aws4` (~11 µs) is a signer, not a verifier: it adds `Content-Type`/`Content-Length` to
// what it signs when they are absent (the CLI signs neither `content-length` nor anything but
// `content-type;host;x-amz-date`), reads `X-Amz-Date` only when allowed to modify headers, and
// trusts `X-Amz-Content-Sha256` instead of the body, so verifying with it means patching its
// internals per request. The canonical request below is the whole difference and is checked
// against the SDK's real signatures and @smithy/signature-v4 in test/unit/aws-wire.test.ts.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** what the verifier needs of one HTTP request, as it came off the wire */
export interface SignedRequest {
  readonly method: string;
  /** the path without the query string, as received (still percent-encoded) */
  readonly path: string;
  /** the raw query string without `?`; '' when there is none */
  readonly query: string;
  /** node's `IncomingHttpHeaders`: lower-case names */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  /**
   * node's `rawHeaders` (name, value, name, value, ...): a header sent twice is signed as its values
   * joined by ',' (node's `headers` joins them with ', ' or keeps only the first); absent: `headers`
   */
  readonly rawHeaders?: readonly string[];
  /** the raw body bytes */
  readonly body: Uint8Array | string;
}

export type SigV4FailureReason = 'missing' | 'incomplete' | 'unknownKey' | 'signatureMismatch' | 'expired';

/** each failure's AWS code and HTTP status (AWS common errors; EC2's AuthFailure is 401, §1.3) */
export const SIGV4_FAILURES = {
  missing: { code: 'MissingAuthenticationToken', status: 403 },
  incomplete: { code: 'IncompleteSignature', status: 400 },
  // EC2 says AuthFailure for an unknown key; STS and ELBv2 say InvalidClientTokenId (403): the
  // dialect may rename it per service.
  unknownKey: { code: 'AuthFailure', status: 401 },
  signatureMismatch: { code: 'SignatureDoesNotMatch', status: 403 },
  expired: { code: 'RequestExpired', status: 400 },
} as const satisfies Record<SigV4FailureReason, { code: string; status: number }>;

export type SigV4FailureCode = (typeof SIGV4_FAILURES)[SigV4FailureReason]['code'];

export interface SigV4Failure {
  readonly ok: false;
  readonly reason: SigV4FailureReason;
  readonly code: SigV4FailureCode;
  readonly status: number;
  readonly message: string;
}

/** the credential scope a request claims, read without verifying anything */
export interface CredentialScope {
  readonly ok: true;
  readonly accessKeyId: string;
  /** yyyymmdd */
  readonly date: string;
  readonly region: string;
  readonly service: string;
  /** where the signature travels */
  readonly signedBy: 'header' | 'query';
}

export interface SigV4Verified {
  readonly ok: true;
  readonly accessKeyId: string;
  readonly region: string;
  readonly service: string;
}

export type SigV4Result = SigV4Verified | SigV4Failure;

export interface SigV4VerifierOptions {
  /** the secret of an access key id; undefined when the key is unknown */
  secretFor(accessKeyId: string): string | undefined;
  /** the clock (ms since the epoch); tests drive it */
  readonly now?: () => number;
  /** how far X-Amz-Date may be from now (ms); AWS allows 15 minutes */
  readonly maxSkewMs?: number;
  /** derived signing keys kept (one per secret, day, region and service) */
  readonly keyCacheSize?: number;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';
const MAX_SKEW_MS = 15 * 60_000; // 15 min
const MAX_PRESIGN_EXPIRES_S = 7 * 24 * 3600; // 7 days, as for presigned URLs
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const HEX64 = /^[0-9a-f]{64}$/;
const SCOPE_DATE = /^\d{8}$/;
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

function fail(reason: SigV4FailureReason, message: string): SigV4Failure {
  const { code, status } = SIGV4_FAILURES[reason];
  return { ok: false, reason, code, status, message };
}

function header(req: SignedRequest, name: string): string | undefined {
  const v = req.headers[name];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v.join(',');
}

/** a signed header's canonical value: each value sent trimmed, inner runs of spaces made one, joined by ',' */
function canonicalHeaderValue(req: SignedRequest, name: string): string {
  const raw = req.rawHeaders;
  if (raw === undefined) return header(req, name)!.trim().replace(/\s+/g, ' ');
  const values: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.length === name.length && raw[i]!.toLowerCase() === name) values.push(raw[i + 1]!.trim().replace(/\s+/g, ' '));
  }
  return values.join(',');
}

const QUERY_AMZ_DATE = /(?:^|&)X-Amz-Date=(\d{8}T\d{6}Z)(?:&|$)/;

/**
 * The date a header-signed request is signed at: its X-Amz-Date header, else an X-Amz-Date query
 * parameter, else a Date header in the same ISO 8601 basic form (AWS takes all three)
 */
function signingDate(req: SignedRequest): string | undefined {
  const amzDate = header(req, 'x-amz-date');
  if (amzDate !== undefined) return amzDate;
  const inQuery = QUERY_AMZ_DATE.exec(req.query);
  if (inQuery) return inQuery[1];
  const date = header(req, 'date');
  return date !== undefined && AMZ_DATE.test(date) ? date : undefined;
}

/** the parts of a signature, wherever it travels */
export interface SignatureParts {
  readonly scope: CredentialScope;
  readonly signedHeaders: readonly string[];
  readonly signature: string;
  /** X-Amz-Date, yyyymmddThhmmssZ */
  readonly amzDate: string;
  /** presigned with X-Amz-Expires: seconds the signature is valid from amzDate; null: AWS's 15-minute window either way */
  readonly expiresS: number | null;
  /** presigned: the query pairs (decoded) without X-Amz-Signature */
  readonly queryPairs: readonly (readonly [string, string])[] | null;
}

function parseCredential(value: string, signedBy: 'header' | 'query'): CredentialScope | SigV4Failure {
  const parts = value.split('/');
  if (parts.length !== 5) {
    return fail('incomplete', `Credential must have the form <access key id>/<yyyymmdd>/<region>/<service>/aws4_request, got '${value.slice(0, 120)}'`);
  }
  const [accessKeyId, date, region, service, terminal] = parts as [string, string, string, string, string];
  if (!accessKeyId) return fail('incomplete', 'Credential has an empty access key id');
  if (!SCOPE_DATE.test(date)) return fail('incomplete', `Credential date '${date.slice(0, 20)}' is not yyyymmdd`);
  if (!region || !service) return fail('incomplete', 'Credential has an empty region or service');
  if (terminal !== 'aws4_request') return fail('incomplete', `Credential must end with aws4_request, got '${terminal.slice(0, 20)}'`);
  return { ok: true, accessKeyId, date, region, service, signedBy };
}

function parseSignedHeaders(value: string): string[] | SigV4Failure {
  const names = value.split(';');
  for (let i = 0; i < names.length; i++) {
    const n = names[i]!;
    if (!HEADER_NAME.test(n)) return fail('incomplete', `SignedHeaders holds an invalid header name '${n.slice(0, 40)}'`);
    if (i > 0 && names[i - 1]! >= n) return fail('incomplete', 'SignedHeaders must be lower-case names sorted without repeats');
  }
  if (!names.includes('host')) return fail('incomplete', "SignedHeaders must include 'host'");
  return names;
}

interface AuthorizationFields {
  readonly credential: string;
  readonly signedHeaders: string;
  readonly signature: string;
}

function parseAuthorizationHeader(value: string): AuthorizationFields | SigV4Failure {
  const space = value.indexOf(' ');
  const algorithm = space < 0 ? value : value.slice(0, space);
  if (algorithm !== ALGORITHM) {
    return fail('incomplete', `Authorization must use ${ALGORITHM}, got '${algorithm.slice(0, 40)}'`);
  }
  const fields = new Map<string, string>();
  for (const piece of value.slice(space + 1).split(',')) {
    const p = piece.trim();
    const eq = p.indexOf('=');
    if (eq <= 0) return fail('incomplete', `Authorization field '${p.slice(0, 40)}' is not name=value`);
    const name = p.slice(0, eq);
    if (fields.has(name)) return fail('incomplete', `Authorization repeats ${name.slice(0, 40)}`);
    fields.set(name, p.slice(eq + 1));
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (credential === undefined || signedHeaders === undefined || signature === undefined) {
    return fail('incomplete', 'Authorization header requires Credential, SignedHeaders and Signature');
  }
  return { credential, signedHeaders, signature };
}

/** splits a raw query string into decoded pairs (percent-escapes only: `+` stays `+`, as SigV4 signs it) */
function queryPairs(query: string): (readonly [string, string])[] | SigV4Failure {
  const out: (readonly [string, string])[] = [];
  if (query === '') return out;
  for (const piece of query.split('&')) {
    if (piece === '') continue;
    const eq = piece.indexOf('=');
    try {
      out.push(eq < 0 ? [decodeURIComponent(piece), ''] : [decodeURIComponent(piece.slice(0, eq)), decodeURIComponent(piece.slice(eq + 1))]);
    } catch {
      return fail('incomplete', 'the query string holds an invalid percent-escape');
    }
  }
  return out;
}

/** reads the signature's parts from the Authorization header or from the query string */
export function signatureParts(req: SignedRequest): SignatureParts | SigV4Failure {
  const authorization = header(req, 'authorization');
  if (authorization !== undefined) {
    const a = parseAuthorizationHeader(authorization);
    if ('ok' in a) return a;
    const scope = parseCredential(a.credential, 'header');
    if (!scope.ok) return scope;
    const signedHeaders = parseSignedHeaders(a.signedHeaders);
    if (!Array.isArray(signedHeaders)) return signedHeaders;
    if (!HEX64.test(a.signature)) return fail('incomplete', 'Signature must be 64 lower-case hex digits');
    const amzDate = signingDate(req);
    if (amzDate === undefined) return fail('incomplete', 'the request has no X-Amz-Date header (nor an X-Amz-Date parameter, nor a Date header in its yyyymmddThhmmssZ form)');
    return { scope, signedHeaders, signature: a.signature, amzDate, expiresS: null, queryPairs: null };
  }
  // cheap test before splitting the query: presigned requests carry X-Amz-Algorithm
  if (!req.query.includes('X-Amz-Algorithm=')) {
    return fail('missing', 'Request is missing Authentication Token');
  }
  const pairs = queryPairs(req.query);
  if (!Array.isArray(pairs)) return pairs;
  const p = new Map<string, string>();
  const rest: (readonly [string, string])[] = [];
  for (const [k, v] of pairs) {
    if (k.startsWith('X-Amz-')) {
      if (p.has(k)) return fail('incomplete', `the query string repeats ${k}`);
      p.set(k, v);
    }
    if (k !== 'X-Amz-Signature') rest.push([k, v]);
  }
  const algorithm = p.get('X-Amz-Algorithm');
  if (algorithm !== ALGORITHM) return fail('incomplete', `X-Amz-Algorithm must be ${ALGORITHM}`);
  const credential = p.get('X-Amz-Credential');
  const signed = p.get('X-Amz-SignedHeaders');
  const signature = p.get('X-Amz-Signature');
  const amzDate = p.get('X-Amz-Date');
  if (credential === undefined || signed === undefined || signature === undefined || amzDate === undefined) {
    return fail('incomplete', 'a presigned request requires X-Amz-Credential, X-Amz-SignedHeaders, X-Amz-Signature and X-Amz-Date');
  }
  const scope = parseCredential(credential, 'query');
  if (!scope.ok) return scope;
  const signedHeaders = parseSignedHeaders(signed);
  if (!Array.isArray(signedHeaders)) return signedHeaders;
  if (!HEX64.test(signature)) return fail('incomplete', 'X-Amz-Signature must be 64 lower-case hex digits');
  const expires = p.get('X-Amz-Expires');
  let expiresS: number | null = null;
  if (expires !== undefined) {
    if (!/^\d{1,7}$/.test(expires) || Number(expires) < 1 || Number(expires) > MAX_PRESIGN_EXPIRES_S) {
      return fail('incomplete', `X-Amz-Expires must be 1 to ${MAX_PRESIGN_EXPIRES_S} seconds`);
    }
    expiresS = Number(expires);
  }
  return { scope, signedHeaders, signature, amzDate, expiresS, queryPairs: rest };
}

/**
 * The credential scope a request claims, WITHOUT verifying the signature (lenient mode: any
 * credentials act as the default account; the scope's service still picks the API).
 */
export function readCredentialScope(req: SignedRequest): CredentialScope | SigV4Failure {
  const parts = signatureParts(req);
  return 'scope' in parts ? parts.scope : parts;
}

function amzDateMs(amzDate: string): number | null {
  const m = AMZ_DATE.exec(amzDate);
  if (!m) return null;
  const [month, day, hour, minute, second] = [+m[2]!, +m[3]!, +m[4]!, +m[5]!, +m[6]!];
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return null;
  const ms = Date.UTC(+m[1]!, month - 1, day, hour, minute, second);
  // Date.UTC rolls 20260231 over into March: refuse a day the month does not have
  return new Date(ms).getUTCDate() === day ? ms : null;
}

/** yyyymmddThhmmssZ, as AWS writes times in its signature errors */
function basicIso(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]|\.\d{3}/g, '');
}

/** RFC 3986 unreserved characters stay, everything else is %XX upper-case (SigV4's UriEncode) */
function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function canonicalPath(path: string): string {
  if (path === '/' || path === '') return '/';
  // non-S3 services: remove dot segments, then encode each (already encoded) segment once more
  const out: string[] = [];
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(uriEncode(seg));
  }
  return `/${out.join('/')}${path.endsWith('/') && out.length > 0 ? '/' : ''}`;
}

function canonicalQuery(pairs: readonly (readonly [string, string])[]): string {
  if (pairs.length === 0) return '';
  const encoded = pairs.map(([k, v]) => [uriEncode(k), uriEncode(v)] as const);
  encoded.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return encoded.map(([k, v]) => `${k}=${v}`).join('&');
}

function hmac(key: Uint8Array | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

export class SigV4Verifier {
  private readonly secretFor: (accessKeyId: string) => string | undefined;
  private readonly now: () => number;
  private readonly maxSkewMs: number;
  private readonly keyCacheSize: number;
  /** derived signing keys by secret, day, region and service */
  private readonly keys = new Map<string, Buffer>();

  constructor(options: SigV4VerifierOptions) {
    this.secretFor = options.secretFor;
    this.now = options.now ?? Date.now;
    this.maxSkewMs = options.maxSkewMs ?? MAX_SKEW_MS;
    this.keyCacheSize = options.keyCacheSize ?? 1024;
  }

  /** PARTS: the request's signatureParts() when the caller read them already (its credential scope picks the API) */
  verify(req: SignedRequest, parts: SignatureParts | SigV4Failure = signatureParts(req)): SigV4Result {
    if (!('scope' in parts)) return parts;
    const { scope, amzDate } = parts;
    const dateMs = amzDateMs(amzDate);
    if (dateMs === null) return fail('incomplete', `X-Amz-Date '${amzDate.slice(0, 40)}' is not yyyymmddThhmmssZ`);
    if (amzDate.slice(0, 8) !== scope.date) {
      return fail('signatureMismatch', `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${scope.date}' != '${amzDate.slice(0, 8)}'`);
    }
    for (const name of parts.signedHeaders) {
      if (req.headers[name] === undefined) return fail('incomplete', `signed header '${name}' is missing from the request`);
    }
    const secret = this.secretFor(scope.accessKeyId);
    if (secret === undefined) return fail('unknownKey', 'AWS was not able to validate the provided access credentials');

    const now = this.now();
    if (dateMs - now > this.maxSkewMs) {
      return fail('expired', `Signature not yet current: ${amzDate} is still later than ${basicIso(now + this.maxSkewMs)} (${basicIso(now)} + ${this.maxSkewMs / 60_000} min.)`);
    }
    if (parts.expiresS !== null) {
      if (now > dateMs + parts.expiresS * 1000) return fail('expired', `Request has expired: signed ${amzDate}, valid ${parts.expiresS} s`);
    } else if (now - dateMs > this.maxSkewMs) {
      return fail('expired', `Signature expired: ${amzDate} is now earlier than ${basicIso(now - this.maxSkewMs)} (${basicIso(now)} - ${this.maxSkewMs / 60_000} min.)`);
    }

    const pairs = parts.queryPairs ?? queryPairs(req.query);
    if ('ok' in pairs) return pairs;
    let canonicalHeaders = '';
    for (const name of parts.signedHeaders) canonicalHeaders += `${name}:${canonicalHeaderValue(req, name)}\n`;
    const bodyHash = req.body.length === 0 ? EMPTY_SHA256 : createHash('sha256').update(req.body).digest('hex');
    const canonicalRequest = `${req.method}\n${canonicalPath(req.path)}\n${canonicalQuery(pairs)}\n${canonicalHeaders}\n${parts.signedHeaders.join(';')}\n${bodyHash}`;
    const scopeText = `${scope.date}/${scope.region}/${scope.service}/aws4_request`;
    const stringToSign = `${ALGORITHM}\n${amzDate}\n${scopeText}\n${createHash('sha256').update(canonicalRequest, 'utf8').digest('hex')}`;
    const expected = hmac(this.signingKey(secret, scope), stringToSign);
    if (!timingSafeEqual(expected, Buffer.from(parts.signature, 'hex'))) {
      return fail('signatureMismatch', 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.');
    }
    return { ok: true, accessKeyId: scope.accessKeyId, region: scope.region, service: scope.service };
  }

  private signingKey(secret: string, scope: CredentialScope): Buffer {
    const id = `${scope.date}/${scope.region}/${scope.service}/${secret}`;
    let key = this.keys.get(id);
    if (key === undefined) {
      key = hmac(hmac(hmac(hmac(`AWS4${secret}`, scope.date), scope.region), scope.service), 'aws4_request');
      // a day's keys replace the last day's: dropping all at the bound is enough
      if (this.keys.size >= this.keyCacheSize) this.keys.clear();
      this.keys.set(id, key);
    }
    return key;
  }
}

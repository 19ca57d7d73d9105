// Toxics: Toxiproxy's faults (its types, attributes, streams and toxicity), placed on a scope of
// the data plane: one endpoint port (a Toxiproxy proxy), an endpoint, every endpoint of a service,
// a zone, or the whole data plane. Plain data from end to end: the control plane keeps them, the
// data plane receives them in a ChangeEvent ('faults') and applies them per connection.
import { DomainError } from './errors.js';
import type { ListenErrorName } from './events.js';

export const TOXIC_TYPES = ['latency', 'bandwidth', 'slow_close', 'timeout', 'reset_peer', 'slicer', 'limit_data'] as const;
export type ToxicType = (typeof TOXIC_TYPES)[number];

/** upstream: client -> backend; downstream: backend -> client (Toxiproxy's default) */
export type ToxicStream = 'upstream' | 'downstream';

export interface Toxic {
  readonly name: string;
  readonly type: ToxicType;
  readonly stream: ToxicStream;
  /** the share of connections it applies to, drawn per connection (Toxiproxy's per link) */
  readonly toxicity: number;
  readonly attributes: Readonly<Record<string, number>>;
}

export type ToxicScope =
  | { readonly kind: 'port'; readonly endpoint: string; readonly port: number }
  | { readonly kind: 'endpoint'; readonly endpoint: string }
  | { readonly kind: 'service'; readonly service: string }
  | { readonly kind: 'zone'; readonly zone: string }
  | { readonly kind: 'all' };

export type ScopeKind = ToxicScope['kind'];
export const SCOPE_KINDS: readonly ScopeKind[] = ['port', 'endpoint', 'service', 'zone', 'all'];

/**
 * toxics one scope holds at most (Toxiproxy has no such cap; here every add re-links the live
 * connections of its scope and the zones and the whole data plane are any account's, so without
 * one a client adding toxics of new names grew the daemon without end)
 */
export const MAX_TOXICS_PER_SCOPE = 64;

/** one toxic on one scope, as published to the data plane */
export interface ToxicRule {
  readonly scope: ToxicScope;
  readonly toxic: Toxic;
}

/** every toxic (in the order added) and the proxies taken down: what the control plane stores and publishes */
export interface InjectedFaults {
  readonly toxics: readonly ToxicRule[];
  readonly disabled: readonly string[];
}

export const NO_FAULTS: InjectedFaults = { toxics: [], disabled: [] };

/** why a proxy enabled again stays taken down: its listener could not bind (the data plane's ListenFailure, by its error name) */
export type ProxyRefusal = { readonly proxy: string; readonly name: ListenErrorName; readonly message: string };

/**
 * a fleet node's verdict on the faults document as it last tried it (stored: kind `faultverdict`,
 * under its node id): the document's revision, and the proxies it serves that it could not enable
 */
export interface FaultVerdict {
  readonly node: string;
  readonly revision: number;
  readonly refused: readonly ProxyRefusal[];
}

/**
 * what a connection is, for the scopes: its endpoint, service, terminal port and ENI's zone; a
 * routed one (src/dataplane/gateway.ts): its gateway endpoint ('' on the internet path), the public
 * service, its port and the zone of the client's subnet ('' outside every VPC)
 */
export interface ToxicTarget {
  readonly endpoint: string;
  readonly service: string;
  readonly port: number;
  readonly zone: string;
}

const bad = (why: string): never => {
  throw new DomainError('InvalidParameter', why);
};

export function scopeCovers(s: ToxicScope, t: ToxicTarget): boolean {
  switch (s.kind) {
    case 'port': return s.endpoint === t.endpoint && s.port === t.port;
    case 'endpoint': return s.endpoint === t.endpoint;
    case 'service': return s.service === t.service;
    case 'zone': return s.zone === t.zone;
    case 'all': return true;
  }
}

/** a scope's key: toxic names are unique per scope (per proxy, as in Toxiproxy) */
export function scopeKey(s: ToxicScope): string {
  switch (s.kind) {
    case 'port': return `port:${s.endpoint}:${s.port}`;
    case 'endpoint': return `endpoint:${s.endpoint}`;
    case 'service': return `service:${s.service}`;
    case 'zone': return `zone:${s.zone}`;
    case 'all': return 'all';
  }
}

/** a scope from its key (vpcep-sim's API: `port:<endpoint id>:<port>`, `endpoint:<id>`, `service:<id>`, `zone:<zone>`, `all`), else InvalidParameter */
export function parseScopeKey(text: unknown): ToxicScope {
  const t = typeof text === 'string' ? text : '';
  const id = '([A-Za-z0-9_.-]{1,80})';
  let m: RegExpExecArray | null;
  if (t === 'all') return { kind: 'all' };
  if ((m = new RegExp(`^port:${id}:(\\d{1,5})$`).exec(t)) && Number(m[2]) >= 1 && Number(m[2]) <= 65535) return { kind: 'port', endpoint: m[1]!, port: Number(m[2]) };
  if ((m = new RegExp(`^endpoint:${id}$`).exec(t))) return { kind: 'endpoint', endpoint: m[1]! };
  if ((m = new RegExp(`^service:${id}$`).exec(t))) return { kind: 'service', service: m[1]! };
  if ((m = new RegExp(`^zone:${id}$`).exec(t))) return { kind: 'zone', zone: m[1]! };
  return bad(`scope must be port:<endpoint id>:<port>, endpoint:<id>, service:<id>, zone:<zone> or all, not ${JSON.stringify(text)?.slice(0, 64)}`);
}

/** a Toxiproxy proxy's name: `<endpoint id>:<port>` */
export function proxyName(endpoint: string, port: number): string {
  return `${endpoint}:${port}`;
}

/** the endpoint id of a proxy's name (proxyName's inverse; a name with no port: the name) */
export function proxyEndpoint(name: string): string {
  const i = name.lastIndexOf(':');
  return i > 0 ? name.slice(0, i) : name;
}

/** the endpoint and port of a proxy name, or null */
export function parseProxyName(name: string): { endpoint: string; port: number } | null {
  const m = /^([A-Za-z0-9-]{1,80}):(\d{1,5})$/.exec(name);
  if (!m) return null;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? { endpoint: m[1]!, port } : null;
}

const HOUR_MS = 3_600_000;

/**
 * Each type's attributes: the ceiling (vpcep-sim's: an attribute past it is a typo, not a test) and
 * Toxiproxy's default (0: an attribute left out is zero, as in Toxiproxy). Integers, at least 0.
 */
export const TOXIC_ATTRIBUTES: Readonly<Record<ToxicType, Readonly<Record<string, { readonly max: number; readonly unit: string }>>>> = {
  latency: { latency: { max: HOUR_MS, unit: 'ms' }, jitter: { max: HOUR_MS, unit: 'ms' } },
  // Toxiproxy's KB/s (1 KB = 1,000 bytes); 0: nothing passes until the toxic is removed or changed
  bandwidth: { rate: { max: 10_000_000, unit: 'KB/s' } },
  slow_close: { delay: { max: HOUR_MS, unit: 'ms' } },
  // 0: data is dropped and the connection never closed
  timeout: { timeout: { max: HOUR_MS, unit: 'ms' } },
  reset_peer: { timeout: { max: HOUR_MS, unit: 'ms' } },
  slicer: {
    average_size: { max: 1_048_576, unit: 'bytes' },
    size_variation: { max: 1_048_576, unit: 'bytes' },
    delay: { max: 60_000_000, unit: 'µs' },
  },
  limit_data: { bytes: { max: 2 ** 50, unit: 'bytes' } },
};

/**
 * names: any string, as Toxiproxy takes, but 1-256 characters (code points) with no control
 * character and well-formed (a lone surrogate cannot be percent-encoded into a toxic's URL), and
 * not `.` or `..`: a URL parser (WHATWG's: fetch, browsers, the CLI) resolves such a path segment
 * away, percent-encoded too, so no such client could remove the toxic it made
 */
const NAME = /^[^\p{Cc}\p{Cs}]{1,256}$/u;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkAttributes(type: ToxicType, input: unknown, base: Readonly<Record<string, number>>): Record<string, number> {
  const spec = TOXIC_ATTRIBUTES[type];
  // null: none given (Toxiproxy's Go client sends a nil map as null)
  if (input !== undefined && input !== null && !isObject(input)) bad('attributes must be an object');
  const out: Record<string, number> = {};
  for (const key of Object.keys(spec)) out[key] = base[key] ?? 0;
  for (const [key, v] of Object.entries((input ?? {}) as Record<string, unknown>)) {
    // own names only: `constructor`, `toString` or `__proto__` are Object.prototype's, no attribute
    const a = Object.hasOwn(spec, key) ? spec[key] : undefined;
    if (!a) bad(`unknown attribute ${JSON.stringify(key.slice(0, 32))} of a ${type} toxic: ${Object.keys(spec).join(', ')}`);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > a!.max) {
      bad(`attribute ${key} of a ${type} toxic must be an integer 0-${a!.max} (${a!.unit}), not ${shown(v)}`);
    }
    out[key] = v as number;
  }
  if (type === 'slicer' && out.average_size === 0) bad('attribute average_size of a slicer toxic must be at least 1 (bytes)');
  if (type === 'slicer' && out.size_variation! >= out.average_size!) bad('attribute size_variation of a slicer toxic must be less than average_size');
  return out;
}

function checkToxicity(v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) bad(`toxicity must be a number 0-1, not ${shown(v)}`);
  return v as number;
}

/** a refused value as the client wrote it: JSON, but 1e400 is Infinity (JSON.stringify wrote it null) */
const shown = (v: unknown): string => (typeof v === 'number' ? String(v) : JSON.stringify(v)?.slice(0, 32) ?? String(v));

/**
 * A toxic from a request's body (Toxiproxy's fields: name, type, stream, toxicity, attributes),
 * with Toxiproxy's defaults (stream downstream, toxicity 1, name `<type>_<stream>`); InvalidParameter
 * naming what is wrong.
 */
export function parseToxic(input: unknown): Toxic {
  if (!isObject(input)) return bad('the body must be a JSON object: {"type": ..., "stream": ..., "attributes": {...}}');
  for (const k of Object.keys(input)) {
    if (!['name', 'type', 'stream', 'toxicity', 'attributes'].includes(k)) bad(`unknown field ${JSON.stringify(k.slice(0, 32))}: name, type, stream, toxicity, attributes`);
  }
  const type = input.type;
  if (typeof type !== 'string' || !(TOXIC_TYPES as readonly string[]).includes(type)) {
    bad(`invalid toxic type ${JSON.stringify(type)?.slice(0, 32)}: ${TOXIC_TYPES.join(', ')}`);
  }
  // Toxiproxy's stream.ParseDirection lower-cases first: `UPSTREAM` and .NET's `UpStream` are upstream
  const stream = typeof input.stream === 'string' ? input.stream.toLowerCase() : input.stream ?? 'downstream';
  if (stream !== 'upstream' && stream !== 'downstream') bad(`stream must be upstream or downstream, not ${JSON.stringify(stream)?.slice(0, 32)}`);
  const name = input.name === undefined || input.name === '' ? `${type as string}_${stream as string}` : input.name;
  if (typeof name !== 'string' || !NAME.test(name)) bad('name must be a string of 1-256 characters, no control characters');
  if (name === '.' || name === '..') bad('name must not be . or .. (a URL parser resolves such a path segment away: the toxic could not be reached)');
  return {
    name: name as string,
    type: type as ToxicType,
    stream: stream as ToxicStream,
    toxicity: input.toxicity === undefined ? 1 : checkToxicity(input.toxicity),
    attributes: checkAttributes(type as ToxicType, input.attributes, {}),
  };
}

/**
 * An update of a toxic (Toxiproxy's POST or PATCH /proxies/{proxy}/toxics/{toxic}): toxicity and attributes
 * given replace theirs, the others are kept; its name, type and stream cannot change.
 */
export function updateToxic(t: Toxic, input: unknown): Toxic {
  if (!isObject(input)) return bad('the body must be a JSON object: {"toxicity": ..., "attributes": {...}}');
  for (const k of ['name', 'type', 'stream'] as const) {
    const given = k === 'stream' && typeof input[k] === 'string' ? input[k].toLowerCase() : input[k];
    if (given !== undefined && given !== t[k]) bad(`a toxic's ${k} cannot change (${JSON.stringify(t[k])}): remove it and add another`);
  }
  for (const k of Object.keys(input)) {
    if (!['name', 'type', 'stream', 'toxicity', 'attributes'].includes(k)) bad(`unknown field ${JSON.stringify(k.slice(0, 32))}: toxicity, attributes`);
  }
  return {
    ...t,
    toxicity: input.toxicity === undefined ? t.toxicity : checkToxicity(input.toxicity),
    attributes: checkAttributes(t.type, input.attributes, t.attributes),
  };
}

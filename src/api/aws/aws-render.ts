// What the EC2 reads of the AWS dialect share (aws-ec2-api.md §1.2, §1.5, §2.2): the domain's
// statuses in AWS's words, the names and derived ids AWS shows for things the domain keeps under
// its own ids, tags, and the `Filter.N` / `MaxResults` / `NextToken` of every Describe action
// (the keyed paging under NextToken serves ELBv2's Marker too).
import { createHash } from 'node:crypto';
import { awsServiceDnsBase } from '../../model/dns-names.js';
import type { EndpointService, EndpointStatus, ServiceStatus, Tag } from '../../model/types.js';
import { AwsRequestError } from './actions.js';
import { applyFilters as filterRecords } from './filters.js';
import { endpointServiceName, publicServiceName, type IdShape } from './ids.js';
import type { QueryFilter, QueryParams } from './query.js';
import type { XmlFields, XmlValue } from './xml.js';

// ---- states (§1.5)

const ENDPOINT_STATES: Readonly<Record<EndpointStatus, string>> = {
  pendingAcceptance: 'pendingAcceptance',
  creating: 'pending',
  accepted: 'available',
  rejected: 'rejected',
  failed: 'failed',
  deleting: 'deleting',
};

const SERVICE_STATES: Readonly<Record<ServiceStatus, string>> = {
  creating: 'Pending',
  available: 'Available',
  deleting: 'Deleting',
  failed: 'Failed',
};

/** an endpoint's status as AWS words it: lowerCamel (`pendingAcceptance`, `available`, ...) */
export function endpointState(status: EndpointStatus): string {
  return ENDPOINT_STATES[status];
}

/** a service's status as AWS words it: Capitalized (`Pending`, `Available`, ...) */
export function serviceState(status: ServiceStatus): string {
  return SERVICE_STATES[status];
}

/** `Interface` or `Gateway` */
export function awsType(t: 'interface' | 'gateway'): 'Interface' | 'Gateway' {
  return t === 'interface' ? 'Interface' : 'Gateway';
}

// ---- names and derived ids

/**
 * A service's name on the AWS wire: an account's `com.amazonaws.vpce.<region>.<service id>`, an
 * operator's public one `com.amazonaws.<region>.<name>` (its stored name is `<config region>.<name>`).
 */
export function awsServiceName(s: EndpointService, region: string, configRegion: string): string {
  if (!s.public) return endpointServiceName(region, s.id);
  const prefix = `${configRegion}.`;
  return publicServiceName(region, s.service_name.startsWith(prefix) ? s.service_name.slice(prefix.length) : s.service_name);
}

/** the DNS name AWS gives a service's endpoints: `<service id or name>.<region>.vpce.amazonaws.com` */
export function baseEndpointDnsName(s: EndpointService, region: string, configRegion: string): string {
  return awsServiceDnsBase(s, region, configRegion);
}

const DERIVED_IDS_KEPT = 100_000;
const derivedIds = new Map<string, string>();

/**
 * An id AWS shows for what the domain has no id of its own (an endpoint's ENI, a VPC's default
 * security group, ...): `<prefix>-` + 17 hex of a hash of what it belongs to, the same at every call
 * and across restarts.
 */
export function derivedId(prefix: string, of: string): string {
  const key = `${prefix}\0${of}`;
  let id = derivedIds.get(key);
  if (id === undefined) {
    id = `${prefix}-${createHash('sha256').update(key).digest('hex').slice(0, 17)}`;
    // a Describe of 1,000 endpoints derives 2,000 ids at every call: keep them (bounded; a full table starts over)
    if (derivedIds.size >= DERIVED_IDS_KEPT) derivedIds.clear();
    derivedIds.set(key, id);
  }
  return id;
}

/** `tagSet` items */
export function tagSet(tags: readonly Tag[]): XmlValue[] {
  return tags.map((t) => ({ key: t.key, value: t.value }));
}

/**
 * AWS's rules for a tag (EC2's CreateTags, DeleteTags and TagSpecification; ELBv2's Tags): a key of
 * 1-128 characters, not `aws:` when made; a value at most 256. REFUSE: the API's error (EC2's
 * InvalidParameterValue unless told)
 */
export function checkTag(key: string, value: string | undefined, creating: boolean,
  refuse: (message: string) => AwsRequestError = (m) => new AwsRequestError('InvalidParameterValue', m)): void {
  if (key.length < 1 || key.length > 128) throw refuse(`Tag key must be 1 to 128 characters: '${key.slice(0, 130)}'`);
  if (creating && key.toLowerCase().startsWith('aws:')) throw refuse(`Tag keys starting with 'aws:' are reserved for internal use`);
  if (value !== undefined && value.length > 256) throw refuse(`Tag value must be at most 256 characters (key '${key.slice(0, 128)}')`);
}

/** the tags of `TagSpecification.N` for one resource type, each checked as CreateTags checks it; another type is refused (AWS: InvalidParameterValue) */
export function tagsOfSpecifications(params: QueryParams, resourceType: string): Tag[] {
  const out: Tag[] = [];
  for (const spec of params.tagSpecifications()) {
    if (spec.resourceType !== resourceType) {
      throw new AwsRequestError('InvalidParameterValue', `'${spec.resourceType}' is not a valid taggable resource type for this operation: use ${resourceType}`);
    }
    for (const t of spec.tags) checkTag(t.key, t.value, true);
    out.push(...spec.tags);
  }
  return out;
}

// ---- filters

/** what a filter name reads of an item: its values (an item matches when one of them matches one of the filter's) */
export type FilterTable<T> = Readonly<Record<string, (item: T) => readonly (string | boolean | null | undefined)[] | string | boolean | null | undefined>>;

/** filters EC2 documents on what vpcep-sim has not (IPv6, NAT gateways, attachments...): taken, matching no item */
export function absent(...names: string[]): FilterTable<unknown> {
  return Object.fromEntries(names.map((n) => [n, () => null]));
}

function texts(v: ReturnType<FilterTable<unknown>[string]>): string[] {
  const list = Array.isArray(v) ? v : [v];
  return list.filter((x) => x !== null && x !== undefined).map(String);
}

/**
 * EC2's Filter.N (filters.ts: filters AND, values OR, `*`/`?` wildcards, an unknown name refused)
 * by a table of readers; `tag:<key>` and `tag-key` too when `tags` is given.
 */
export function applyFilters<T>(items: readonly T[], filters: readonly QueryFilter[], table: FilterTable<T>, tags?: (item: T) => readonly Tag[]): T[] {
  const tagFilters = tags ? filters.map((f) => f.name).filter((n) => n === 'tag-key' || (n.startsWith('tag:') && n.length > 4)) : [];
  return filterRecords(items, filters, [...Object.keys(table), ...tagFilters], (item) => {
    const values: Record<string, string[]> = {};
    for (const name of Object.keys(table)) values[name] = texts(table[name]!(item));
    for (const name of tagFilters) {
      const own = tags!(item);
      values[name] = name === 'tag-key' ? own.map((t) => t.key) : own.filter((t) => t.key === name.slice(4)).map((t) => t.value);
    }
    return values;
  });
}

// ---- paging

export interface Page<T> {
  readonly items: T[];
  /** absent on the last page */
  readonly nextToken?: string;
}

export interface PageOptions {
  /** the lowest MaxResults the action takes (AWS: 5 for most Describe* of PrivateLink) */
  readonly min?: number;
  /** above it, AWS answers this many (§2.2: at most 1,000) */
  readonly max?: number;
}

/**
 * One page of `items`, ordered by `key`: `MaxResults` (absent: everything) and `NextToken` (the
 * opaque key of the last item of the previous page, so that deletions in between skip nothing).
 */
export function page<T>(items: readonly T[], key: (item: T) => string, params: QueryParams, o: PageOptions = {}): Page<T> {
  const { min = 5, max = 1000 } = o;
  const limit = params.int('MaxResults', { min, max: 2 ** 31 - 1 });
  const { items: out, next } = keyedPage(items, key, params.action, params.string('NextToken'), limit === undefined ? undefined : Math.min(limit, max),
    (token) => new AwsRequestError('InvalidNextToken', `The token '${token.slice(0, 64)}' is invalid`));
  return { items: out, ...(next !== undefined ? { nextToken: next } : {}) };
}

/**
 * One page of `items` ordered by `key` (of an item and its index), after the item whose key `token` carries (absent or empty:
 * from the first), `size` of them (undefined: all); `next`, the token of the page after, absent on
 * the last. A token is opaque to the client and names a key, not a position: items deleted between
 * two pages skip nothing (EC2's NextToken, ELBv2's Marker). It names its `action` too: another
 * action's token is not one of this listing's. `malformed`: the dialect's refusal of a token that is
 * not one of these.
 */
export function keyedPage<T>(items: readonly T[], key: (item: T, index: number) => string, action: string, token: string | undefined, size: number | undefined,
  malformed: (token: string) => Error): { items: T[]; next: string | undefined } {
  // each item's key read once (a sort compares each item ~log n times)
  const sorted = items.map((item, i) => ({ k: key(item, i), item })).sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
  let start = 0;
  if (token !== undefined && token !== '') {
    const after = readToken(token, action);
    if (after === undefined) throw malformed(token);
    start = sorted.findIndex((x) => x.k > after);
    if (start < 0) start = sorted.length;
  }
  const n = size ?? sorted.length;
  const out = sorted.slice(start, start + n);
  const more = start + n < sorted.length && out.length > 0;
  return { items: out.map((x) => x.item), next: more ? makeToken(action, out[out.length - 1]!.k) : undefined };
}

const TOKEN_PREFIX = 'vpcep1:';

function makeToken(action: string, key: string): string {
  return Buffer.from(`${TOKEN_PREFIX}${action}:${key}`).toString('base64url');
}

/** the key a token of ACTION's carries; undefined when it is not one of ours, or another action's */
function readToken(token: string, action: string): string | undefined {
  const text = /^[A-Za-z0-9_-]{1,2048}$/.test(token) ? Buffer.from(token, 'base64url').toString() : '';
  const prefix = `${TOKEN_PREFIX}${action}:`;
  return text.startsWith(prefix) ? text.slice(prefix.length) : undefined;
}

/**
 * The ids of `<Name>.N` that are missing from `known`: refused with `code` as EC2 does for Describe*
 * by id, or with the shape's `.Malformed` code when one of them cannot be an id of that kind.
 */
export function requireIds(ids: readonly string[], known: ReadonlySet<string>, code: string, what: string, shape?: IdShape): void {
  const missing = ids.filter((id) => !known.has(id));
  if (!missing.length) return;
  const malformed = shape ? missing.find((id) => !shape.wellFormed(id)) : undefined;
  if (malformed !== undefined) throw malformedId(shape!, what, malformed);
  throw new AwsRequestError(code, `The ${what} ${missing.map((m) => `'${m}'`).join(', ')} does not exist`);
}

/** `<Kind>.Malformed` for an id that cannot be of its kind */
export function malformedId(shape: IdShape, what: string, id: string): AwsRequestError {
  return new AwsRequestError(shape.code, `The ${what} '${id.slice(0, 100)}' is malformed`);
}

/** one refused item of a batch action: its `unsuccessful` error; 'done' when the refusal means it is already done; null when it fails the whole request */
export type ItemRefusal = { readonly code: string; readonly message: string } | 'done' | null;

/**
 * Runs a batch action (DeleteVpcEndpoints, Accept/RejectVpcEndpointConnections) item by item:
 * the items it refuses go into `unsuccessful` (§1.2), the others are done.
 */
export async function eachItem(ids: readonly string[], parameter: string, run: (id: string) => Promise<unknown>, refusal: (err: unknown, id: string) => ItemRefusal): Promise<{ unsuccessful: XmlFields[] }> {
  if (!ids.length) throw new AwsRequestError('MissingParameter', `The request must contain the parameter ${parameter}`);
  const unsuccessful: XmlFields[] = [];
  for (const id of new Set(ids)) {
    try {
      await run(id);
    } catch (err) {
      const r = refusal(err, id);
      if (r === null) throw err;
      if (r !== 'done') unsuccessful.push({ error: { code: r.code, message: r.message }, resourceId: id });
    }
  }
  return { unsuccessful };
}

// The shapes of API request bodies and list queries, and how a bad one maps to an EndPoint code.
// Pure: no I/O. Unknown fields are refused by name; every field's failure has its own code
// (huawei-vpcep-api.md "Errors").
import { z } from 'zod';
import { DEFAULTS } from './defaults.js';
import { ApiError, type ErrorName } from './errors.js';
import { ENDPOINT_STATUSES, SERVICE_STATUSES, TCP_PROXY_VALUES } from './types.js';

const L = DEFAULTS.limits;

const description = z.string().max(L.descriptionLength, `at most ${L.descriptionLength} characters`)
  .refine((s) => !/[<>]/.test(s), 'must not contain < or >');

const tagKey = z.string().regex(/^[\p{L}\p{N}_.:=+\-@ ]{1,128}$/u, `1-${L.tagKeyLength} letters, digits, spaces or _ . : = + - @`);
const tagValue = z.string().regex(/^[\p{L}\p{N}_.:/=+\-@ ]{0,255}$/u, `0-${L.tagValueLength} letters, digits, spaces or _ . : / = + - @`);
const tag = z.strictObject({ key: tagKey, value: tagValue.optional() });
const tags = z.array(tag).max(L.tagsPerResource, `at most ${L.tagsPerResource} tags`);

const port = z.number().int().min(1).max(65535);
const portMapping = z.strictObject({
  client_port: port,
  server_port: port,
  protocol: z.literal('TCP', { message: 'must be TCP' }).optional(),
});
const portMappings = z.array(portMapping)
  .min(1, 'at least one port mapping')
  .max(L.portMappings, `at most ${L.portMappings} port mappings`);

const serviceName = z.string().regex(/^[A-Za-z0-9_-]{1,16}$/, 'at most 16 characters of A-Z a-z 0-9 _ -');
const tcpProxy = z.enum(TCP_PROXY_VALUES as [string, ...string[]], { message: `one of ${TCP_PROXY_VALUES.join(', ')}` });
const id = z.string().min(1).max(64);

export const createServiceBody = z.strictObject({
  port_id: id,
  vpc_id: id,
  server_type: z.enum(['VM', 'LB'], { message: 'must be VM or LB' }),
  ports: portMappings,
  service_name: serviceName.optional(),
  approval_enabled: z.boolean().optional(),
  service_type: z.literal('interface', { message: 'only interface services can be created by accounts; gateway services are operator-run' }).optional(),
  tcp_proxy: tcpProxy.optional(),
  description: description.optional(),
  tags: tags.optional(),
});
export type CreateServiceBody = z.infer<typeof createServiceBody>;

export const modifyServiceBody = z.strictObject({
  approval_enabled: z.boolean().optional(),
  service_name: serviceName.optional(),
  ports: portMappings.optional(),
  tcp_proxy: tcpProxy.optional(),
  description: description.optional(),
});
export type ModifyServiceBody = z.infer<typeof modifyServiceBody>;

const whitelistEntry = z.string().max(18);
const whitelist = z.array(whitelistEntry).max(L.endpointWhitelist, `at most ${L.endpointWhitelist} entries`);

export const createEndpointBody = z.strictObject({
  endpoint_service_id: id,
  vpc_id: id,
  subnet_id: id.optional(),
  port_ip: z.string().max(15).optional(),
  enable_dns: z.boolean().optional(),
  whitelist: whitelist.optional(),
  enable_whitelist: z.boolean().optional(),
  routetables: z.array(id).max(20).optional(),
  policy_statement: z.array(z.unknown()).optional(),
  description: description.optional(),
  tags: tags.optional(),
});
export type CreateEndpointBody = z.infer<typeof createEndpointBody>;

export const updateEndpointBody = z.strictObject({
  whitelist: whitelist.optional(),
  enable_whitelist: z.boolean().optional(),
});
export type UpdateEndpointBody = z.infer<typeof updateEndpointBody>;

export const connectionActionBody = z.strictObject({
  action: z.enum(['receive', 'reject'], { message: 'must be receive or reject' }),
  endpoints: z.array(id).min(1, 'name one endpoint id').max(1, 'only one endpoint per call'),
});

export const permissionActionBody = z.strictObject({
  action: z.enum(['add', 'remove'], { message: 'must be add or remove' }),
  permissions: z.array(z.string().max(80)).min(1, 'at least one permission').max(50, 'at most 50 permissions per call'),
});

export const tagActionBody = z.strictObject({
  action: z.enum(['create', 'delete'], { message: 'must be create or delete' }),
  tags: z.array(tag).min(1, 'at least one tag').max(L.tagsPerResource, `at most ${L.tagsPerResource} tags`),
});

const routeSpec = z.strictObject({ destination: z.string().max(64), type: z.string().max(32), nexthop: z.string().max(64).optional() });
export const routeTableBody = z.strictObject({
  routetable: z.strictObject({
    routes: z.strictObject({
      add: z.array(routeSpec).max(50).optional(),
      del: z.array(z.strictObject({ destination: z.string().max(64) })).max(50).optional(),
    }),
  }),
});

export const endpointRouteTablesBody = z.strictObject({ routetables: z.array(id).max(20) });
export const endpointPolicyBody = z.strictObject({ policy_statement: z.unknown() });

export const traceBody = z.strictObject({
  /** absent: an on-premises client, outside every VPC */
  vpc_id: id.optional(),
  source_ip: z.string().max(15),
  destination_ip: z.string().max(15),
  destination_port: port,
});

/** Which error a failure of a given top-level field carries. */
function codeFor(path: ReadonlyArray<PropertyKey>, issue: z.core.$ZodIssue): ErrorName {
  const [field, , sub] = path;
  const tooBig = issue.code === 'too_big' && path.length === 1;
  switch (field) {
    case 'ports':
      if (tooBig) return 'PortLimit';
      return sub === 'protocol' ? 'InvalidProtocol' : 'InvalidPort';
    case 'service_name': return 'InvalidServiceNameFormat';
    case 'server_type': return 'InvalidServerType';
    case 'port_id': return 'InvalidPortId';
    case 'vpc_id': return 'InvalidVpcId';
    case 'subnet_id': return 'InvalidSubnetId';
    case 'port_ip': return 'InvalidPortIp';
    case 'whitelist': return tooBig ? 'WhitelistLimit' : 'InvalidWhitelist';
    case 'permissions': return tooBig ? 'BatchLimit' : 'InvalidPermission';
    case 'tags': return tooBig ? 'TagLimit' : 'InvalidTag';
    case 'action': return 'InvalidAction';
    case 'endpoints': return tooBig ? 'OneEndpointOnly' : 'InvalidParameter';
    case 'routetables': return 'InvalidRouteTable';
    default: return 'InvalidParameter';
  }
}

function pathText(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out;
}

function valueAt(body: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let v = body;
  for (const k of path) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}

const article = (type: string): string => `${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}`;

/** Parses a request body against its schema, or throws the ApiError of its first problem. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  if (body === undefined) throw new ApiError('InvalidParameter', 'the request body is empty: a JSON object is expected');
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ApiError('InvalidParameter', 'the request body must be a JSON object');
  }
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const where = issue.path.length ? ` in ${pathText(issue.path)}` : '';
    throw new ApiError('InvalidParameter', `unknown field ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}${where}`);
  }
  const where = pathText(issue.path);
  let message = issue.message;
  // zod leaves the input out of its issues: look the field up to tell absent from mistyped
  if (issue.code === 'invalid_type') message = valueAt(body, issue.path) === undefined ? 'is required' : `must be ${article(issue.expected)}`;
  throw new ApiError(codeFor(issue.path, issue), `${where || 'body'}: ${message}`);
}

export interface ListQuery {
  readonly limit: number;
  readonly offset: number;
  readonly sortKey: 'created_at' | 'updated_at';
  readonly sortDir: 'asc' | 'desc';
  readonly status?: string;
  readonly id?: string;
  readonly name?: string;
  readonly vpcId?: string;
  readonly markerId?: number;
}

type QueryInput = Record<string, unknown>;

function single(q: QueryInput, key: string): string | undefined {
  const v = q[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new ApiError('InvalidParameter', `query parameter ${key} must be given once`);
  return v;
}

/** Parses the common list query: limit, offset, sort_key, sort_dir and the filters. */
export function parseListQuery(q: QueryInput, kind: 'service' | 'endpoint' | 'connection'): ListQuery {
  const limitText = single(q, 'limit');
  const offsetText = single(q, 'offset');
  const sortKey = single(q, 'sort_key') ?? 'create_at';
  const sortDir = single(q, 'sort_dir') ?? 'desc';
  const limit = limitText === undefined ? DEFAULTS.api.listLimit : Number(limitText);
  if (limitText !== undefined && (!/^\d{1,4}$/.test(limitText) || limit > DEFAULTS.api.maxListLimit)) throw new ApiError('InvalidLimit');
  const offset = offsetText === undefined ? 0 : Number(offsetText);
  if (offsetText !== undefined && (!/^\d{1,9}$/.test(offsetText))) throw new ApiError('InvalidOffset');
  // huawei-vpcep-api.md: the API spells the keys create_at and update_at.
  if (sortKey !== 'create_at' && sortKey !== 'update_at') throw new ApiError('InvalidSortKey');
  if (sortDir !== 'asc' && sortDir !== 'desc') throw new ApiError('InvalidSortDir');
  const status = single(q, 'status');
  const statuses: readonly string[] = kind === 'service' ? SERVICE_STATUSES : ENDPOINT_STATUSES;
  if (status !== undefined && !statuses.includes(status)) {
    throw new ApiError('InvalidStatus', `invalid status: one of ${statuses.join(', ')}`);
  }
  const markerText = single(q, 'marker_id');
  if (markerText !== undefined && !/^\d{1,10}$/.test(markerText)) throw new ApiError('InvalidParameter', 'marker_id must be an integer');
  const name = single(q, 'endpoint_service_name');
  return {
    limit,
    offset,
    sortKey: sortKey === 'create_at' ? 'created_at' : 'updated_at',
    sortDir,
    status,
    id: single(q, 'id'),
    name,
    vpcId: single(q, 'vpc_id'),
    markerId: markerText === undefined ? undefined : Number(markerText),
  };
}

/** Sorts (stably, by the key then id) and pages a list. */
export function page<T extends { created_at: string; updated_at: string; id: string }>(
  items: readonly T[], q: ListQuery,
): { items: T[]; total: number } {
  const dir = q.sortDir === 'asc' ? 1 : -1;
  const sorted = [...items].sort((a, b) => {
    const k = a[q.sortKey] < b[q.sortKey] ? -1 : a[q.sortKey] > b[q.sortKey] ? 1 : 0;
    return (k || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) * dir;
  });
  return { items: q.limit === 0 ? [] : sorted.slice(q.offset, q.offset + q.limit), total: items.length };
}

// Huawei's list calls: the query (limit, offset, sort_key, sort_dir and the filters), and the
// filtering, sorting and paging of the whole lists the control plane answers with.
import { DEFAULTS } from '../../model/defaults.js';
import { ENDPOINT_STATUSES, SERVICE_STATUSES, type Endpoint, type EndpointService, type Permission } from '../../model/types.js';
import { HuaweiRequestError } from './errors.js';

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
  /** a whitelist record's text, a substring in any case (GET .../permissions) */
  readonly permission?: string;
}

type QueryInput = Record<string, unknown>;

function single(q: QueryInput, key: string): string | undefined {
  const v = q[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new HuaweiRequestError('InvalidParameter', `query parameter ${key} must be given once`);
  return v;
}

/** the lists and the filters each takes: any other parameter is ignored, as an unknown one is (never checked, then not applied) */
type ListKind = 'service' | 'endpoint' | 'connection' | 'permission';
const FILTERS: Readonly<Record<ListKind, ReadonlySet<string>>> = {
  service: new Set(['id', 'status', 'endpoint_service_name']),
  endpoint: new Set(['id', 'status', 'endpoint_service_name', 'vpc_id']),
  connection: new Set(['id', 'status', 'marker_id']),
  permission: new Set(['permission']),
};

/** Parses a list's query: limit, offset, sort_key, sort_dir and the filters of that list. */
export function parseListQuery(q: QueryInput, kind: ListKind): ListQuery {
  const limitText = single(q, 'limit');
  const offsetText = single(q, 'offset');
  const sortKey = single(q, 'sort_key') ?? 'create_at';
  const sortDir = single(q, 'sort_dir') ?? 'desc';
  const limit = limitText === undefined ? DEFAULTS.api.listLimit : Number(limitText);
  if (limitText !== undefined && (!/^\d{1,4}$/.test(limitText) || limit > DEFAULTS.api.maxListLimit)) throw new HuaweiRequestError('InvalidLimit');
  const offset = offsetText === undefined ? 0 : Number(offsetText);
  if (offsetText !== undefined && (!/^\d{1,9}$/.test(offsetText) || offset > DEFAULTS.api.maxListOffset)) throw new HuaweiRequestError('InvalidOffset');
  // huawei-vpcep-api.md: the API spells the keys create_at and update_at.
  if (sortKey !== 'create_at' && sortKey !== 'update_at') throw new HuaweiRequestError('InvalidSortKey');
  if (sortDir !== 'asc' && sortDir !== 'desc') throw new HuaweiRequestError('InvalidSortDir');
  const filter = (key: string) => (FILTERS[kind].has(key) ? single(q, key) : undefined);
  const status = filter('status');
  const statuses: readonly string[] = kind === 'service' ? SERVICE_STATUSES : ENDPOINT_STATUSES;
  if (status !== undefined && !statuses.includes(status)) {
    throw new HuaweiRequestError('InvalidStatus', `invalid status: one of ${statuses.join(', ')}`);
  }
  const markerText = filter('marker_id');
  if (markerText !== undefined && !/^\d{1,10}$/.test(markerText)) throw new HuaweiRequestError('InvalidParameter', 'marker_id must be an integer');
  return {
    limit,
    offset,
    sortKey: sortKey === 'create_at' ? 'created_at' : 'updated_at',
    sortDir,
    status,
    id: filter('id'),
    name: filter('endpoint_service_name'),
    vpcId: filter('vpc_id'),
    markerId: markerText === undefined ? undefined : Number(markerText),
    permission: filter('permission'),
  };
}

/** Sorts (stably, by the key then id) and pages a list; an item without updated_at sorts by created_at. */
function page<T extends { created_at: string; updated_at?: string; id: string }>(
  items: readonly T[], q: ListQuery,
): { items: T[]; total: number } {
  const dir = q.sortDir === 'asc' ? 1 : -1;
  const key = (x: T) => x[q.sortKey] ?? x.created_at;
  const sorted = [...items].sort((a, b) => {
    const k = key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;
    return (k || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) * dir;
  });
  return { items: q.limit === 0 ? [] : sorted.slice(q.offset, q.offset + q.limit), total: items.length };
}

/** GET /vpc-endpoint-services: the caller's services by id, status and name (a substring, any case) */
export function pageServices(all: readonly EndpointService[], q: ListQuery): { items: EndpointService[]; total: number } {
  const name = q.name?.toLowerCase();
  return page(all.filter((s) => (q.id === undefined || s.id === q.id)
    && (q.status === undefined || s.status === q.status)
    && (name === undefined || s.service_name.toLowerCase().includes(name))), q);
}

/** GET /vpc-endpoints: the caller's endpoints by id, VPC, status and service name */
export function pageEndpoints(all: readonly Endpoint[], q: ListQuery): { items: Endpoint[]; total: number } {
  const name = q.name?.toLowerCase();
  return page(all.filter((e) => (q.id === undefined || e.id === q.id)
    && (q.vpcId === undefined || e.vpc_id === q.vpcId)
    && (q.status === undefined || e.status === q.status)
    && (name === undefined || e.service_name.toLowerCase().includes(name))), q);
}

/** GET /vpc-endpoint-services/{id}/connections: by endpoint id, marker id and status */
export function pageConnections(all: readonly Endpoint[], q: ListQuery): { items: Endpoint[]; total: number } {
  return page(all.filter((e) => (q.id === undefined || e.id === q.id)
    && (q.markerId === undefined || e.marker_id === q.markerId)
    && (q.status === undefined || e.status === q.status)), q);
}

/** GET .../permissions: a service's whitelist records by their text (a substring, any case), sorted by creation */
export function pagePermissions(all: readonly Permission[], q: ListQuery): { items: Permission[]; total: number } {
  const text = q.permission?.toLowerCase();
  return page(all.filter((p) => text === undefined || p.permission.toLowerCase().includes(text)), q);
}

// The shape of every stored document, by kind, checked once when the daemon loads the store: a
// document that is null or malformed (a hand edit, a bad restore) stops the start with a message
// naming the kind, the id and the problem, instead of a stack trace at first use.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ERROR_NAMES, type ErrorName, type ResourceError } from '../model/errors.js';
import { LISTEN_ERROR_NAMES } from '../model/events.js';
import { recordProblem } from '../model/dns-names.js';
import { IP_ADDRESS_TYPES } from '../model/load-balancers.js';
import { CONNECTION_EVENTS } from '../model/notifications.js';
import { TOXIC_TYPES } from '../model/toxics.js';
import { ENDPOINT_STATUSES, SERVICE_STATUSES, TCP_PROXY_VALUES, type Endpoint, type Vpc } from '../model/types.js';
import { zoneOfSubnet } from '../model/zones.js';
import { KINDS, StoreError, type Documents, type Kind } from '../store/store.js';

const str = z.string();
const tag = z.looseObject({ key: str, value: str });
/** a resource's error by name; before issue 12 vpcepd stored Huawei's code instead (upgradeDocuments reads it back) */
const legacyError = z.looseObject({ error_code: str, error_message: str });
const resourceError = z.union([z.looseObject({ name: z.enum(ERROR_NAMES as [ErrorName, ...ErrorName[]]), message: str }), legacyError]).optional();
const serviceType = z.enum(['interface', 'gateway']);
const clientToken = z.looseObject({ token: str, digest: str }).optional();
const times = { created_at: str, updated_at: str };
const route = z.looseObject({ destination: str, type: z.enum(['local', 'igw', 'blackhole', 'gateway_endpoint']), nexthop: str.optional(), owner: str });

const vpcDocument = z.looseObject({
  id: str, account: str, cidr: str, number: z.number().int(),
  subnets: z.array(z.looseObject({ id: str, cidr: str, gateway_ip: str })),
  ports: z.array(z.looseObject({ id: str, subnet_id: str, ip: str, type: z.enum(['VM', 'LB']) })),
  route_tables: z.array(z.looseObject({ id: str, default: z.boolean(), subnets: z.array(str), routes: z.array(route), client_token: clientToken })),
});
const toxicScope = z.discriminatedUnion('kind', [
  z.looseObject({ kind: z.literal('port'), endpoint: str, port: z.number().int() }),
  z.looseObject({ kind: z.literal('endpoint'), endpoint: str }),
  z.looseObject({ kind: z.literal('service'), service: str }),
  z.looseObject({ kind: z.literal('zone'), zone: str }),
  z.looseObject({ kind: z.literal('all') }),
]);
const toxic = z.looseObject({
  name: str, type: z.enum(TOXIC_TYPES), stream: z.enum(['upstream', 'downstream']), toxicity: z.number().min(0).max(1), attributes: z.record(str, z.number()),
});
const sgRule = z.looseObject({ protocol: z.enum(['tcp', '-1']), from_port: z.number().int(), to_port: z.number().int(), cidr: str, id: str.optional(), description: z.string().optional() });

const SCHEMAS: Record<Kind, z.ZodType> = {
  meta: z.record(str, z.union([str, z.number()])),
  account: z.looseObject({
    // absent in data dirs written before AWS ids: the inventory generates one and stores it
    name: str, domain_id: str, project_id: str, aws_account_id: z.string().regex(/^\d{12}$/).optional(),
    // vpc, dns_records: absent in data dirs written before those quotas (the config's are the ones used)
    quotas: z.looseObject({ endpoint_service: z.number(), endpoint: z.number(), connections_per_endpoint: z.number(), vpc: z.number().optional(), dns_records: z.number().optional() }),
  }),
  vpc: vpcDocument,
  service: z.looseObject({
    id: str, owner: str, service_name: str, service_type: serviceType,
    server_type: z.enum(['VM', 'LB', 'operator']), port_id: str.nullable(), vpc_id: str.nullable(), load_balancers: z.array(str).optional(),
    approval_enabled: z.boolean(), status: z.enum(SERVICE_STATUSES),
    ports: z.array(z.looseObject({ client_port: z.number().int(), server_port: z.number().int(), protocol: z.literal('TCP') })),
    tcp_proxy: z.enum(TCP_PROXY_VALUES), description: str, tags: z.array(tag),
    permissions: z.array(z.looseObject({ id: str, permission: str, principal: str.optional(), created_at: str })),
    client_token: clientToken,
    error: resourceError, ...times,
  }),
  endpoint: z.looseObject({
    id: str, owner: str, service_id: str, service_name: str, service_type: serviceType, vpc_id: str,
    subnet_id: str.nullable(), ip: str.nullable(), host_ip: str.nullable(), snat_ip: str.nullable(),
    marker_id: z.number().int(), status: z.enum(ENDPOINT_STATUSES), enable_dns: z.boolean(),
    whitelist: z.array(str), enable_whitelist: z.boolean(), routetables: z.array(str), security_groups: z.array(str).optional(),
    policy_statement: z.array(z.unknown()).nullable().optional(), policy_document: z.string().optional(), description: str, tags: z.array(tag),
    // absent in documents written before issue 13: one ENI, the legacy fields' (upgradedEndpoint)
    enis: z.array(z.looseObject({ id: str, zone: str, subnet_id: str, ip: str, host_ip: str })).optional(),
    // absent in documents written before client tokens were stored, and on endpoints made without one
    client_token: clientToken,
    error: resourceError, ...times,
  }),
  routetable: z.looseObject({ id: str, routes: z.array(route) }),
  notification: z.looseObject({
    id: str, owner: str, service_id: str.nullable(), endpoint_id: str.nullable(), topic: str,
    events: z.array(z.enum(CONNECTION_EVENTS)), enabled: z.boolean(), client_token: clientToken, ...times,
  }),
  loadbalancer: z.looseObject({
    id: str, owner: str, name: str, type: z.literal('network'), scheme: z.enum(['internal', 'internet-facing']), vpc_id: str, ip_address_type: z.enum(IP_ADDRESS_TYPES).optional(),
    subnets: z.array(str), state: str, dns_name: str, attributes: z.record(str, str),
    listeners: z.array(z.looseObject({ id: str, protocol: z.literal('TCP'), port: z.number().int(), target_group_id: str, tags: z.array(tag) })),
    tags: z.array(tag), ...times,
  }),
  targetgroup: z.looseObject({
    id: str, owner: str, name: str, protocol: z.literal('TCP'), port: z.number().int(), vpc_id: str,
    target_type: z.enum(['ip', 'instance']), attributes: z.record(str, str), health_check: z.looseObject({ protocol: str }),
    targets: z.array(z.looseObject({ id: str, port: z.number().int() })), tags: z.array(tag), ...times,
  }),
  // VPCs made through an API (CreateVpc), with their subnets and route tables (src/control/network.ts)
  apivpc: vpcDocument,
  securitygroup: z.looseObject({
    id: str, owner: str, vpc_id: str, name: str, description: str, default: z.boolean(),
    ingress: z.array(sgRule), egress: z.array(sgRule), tags: z.array(tag),
  }),
  // an internet gateway made through the EC2 API (internet-gateways.ts)
  internetgateway: z.looseObject({ id: str, owner: str, vpc_id: str.nullable(), tags: z.array(tag) }),
  // a network ACL made through the EC2 API, or a VPC's default one once changed (network-acls.ts)
  networkacl: z.looseObject({
    id: str, owner: str, vpc_id: str, default: z.boolean(), tags: z.array(tag), client_token: clientToken,
    entries: z.array(z.looseObject({ rule_number: z.number().int(), egress: z.boolean(), protocol: str, action: z.enum(['allow', 'deny']), cidr: str })),
  }),
  // an allocation held inside a commit (issue 17): the key is the allocated value, the document who holds it
  claim: z.looseObject({ holder: str }),
  // a record of the public zone published through the API (private-dns.ts PublicZone), kept under the hash of its name, type and value
  dnsrecord: z.looseObject({ name: str, type: z.literal('TXT'), value: str, owner: str }).superRefine((r, ctx) => {
    const bad = recordProblem(r.name, r.value);
    if (bad) ctx.addIssue({ code: 'custom', message: bad });
  }),
  // the toxics of Toxiproxy's API and the proxies taken down, one document for the region (faults.ts)
  fault: z.looseObject({ toxics: z.array(z.looseObject({ scope: toxicScope, toxic })), disabled: z.array(str) }),
  // a fleet node's probe states (fleet-health.ts), kept under its node id
  targethealth: z.looseObject({
    node: str, targets: z.record(str, z.looseObject({ state: z.enum(['initial', 'healthy', 'unhealthy']), reason: str.nullable(), unhealthy_draining: z.boolean().optional() })),
  }),
  // a fleet node's verdict on the faults document it last tried (fault-verdicts.ts), kept under its node id
  faultverdict: z.looseObject({
    node: str, revision: z.number().int(), refused: z.array(z.looseObject({ proxy: str, name: z.enum(LISTEN_ERROR_NAMES), message: str })),
  }),
};

/**
 * The snapshot with documents of an older vpcepd in today's shape: a service's or endpoint's
 * `error` stored as {error_code, error_message} (a Huawei code, before issue 12) becomes
 * {name, message}; `nameOfCode` is the dialect's reverse lookup (an unknown code: SystemError).
 * The store keeps the old document until the resource next changes; every load upgrades it again.
 */
export function upgradeDocuments(
  snap: Documents, nameOfCode: (code: string) => ErrorName | undefined, zoneOfAwsName: (name: string) => string | undefined = () => undefined,
): Documents {
  const out = new Map(snap);
  // subnets made through the EC2 API before issue 13 kept AWS's zone name (`availability_zone`): the domain's zone now
  const vpcs = snap.get('apivpc');
  if (vpcs) {
    const next = new Map(vpcs);
    for (const [id, doc] of vpcs) {
      const v = doc as { subnets?: Array<{ availability_zone?: string; zone?: string }> };
      if (!v.subnets?.some((x) => x.availability_zone !== undefined)) continue;
      next.set(id, {
        ...v,
        subnets: v.subnets.map(({ availability_zone: aws, ...rest }) => {
          const zone = rest.zone ?? (aws !== undefined ? zoneOfAwsName(aws) : undefined);
          return zone !== undefined ? { ...rest, zone } : rest;
        }),
      });
    }
    out.set('apivpc', next);
  }
  for (const kind of ['service', 'endpoint'] as const) {
    const docs = snap.get(kind);
    if (!docs) continue;
    const next = new Map(docs);
    for (const [id, doc] of docs) {
      // most documents have no error: no parse (a failed one costs its issues) per document at start
      const stored = (doc as { error?: unknown } | null)?.error;
      if (stored === undefined || stored === null) continue;
      const old = legacyError.safeParse(stored);
      if (!old.success) continue;
      const error: ResourceError = { name: nameOfCode(old.data.error_code) ?? 'SystemError', message: old.data.error_message };
      next.set(id, { ...(doc as object), error });
    }
    out.set(kind, next);
  }
  return out;
}

/**
 * Checks exactly as strict as a kind's schema, by hand, for the kinds stored by the thousand: a
 * claim (four per endpoint: 20,000 zod parses at 5,000 endpoints were a third of a restart's
 * check, issue 16). A document one does not pass is parsed by its schema, for the message.
 */
const QUICK_CHECKS: Partial<Record<Kind, (doc: unknown) => boolean>> = {
  claim: (doc) => typeof doc === 'object' && doc !== null && !Array.isArray(doc) && typeof (doc as { holder?: unknown }).holder === 'string',
};

/** the field of a document that is its key's id, for the kinds stored under their own id or name */
const KEYED_BY: Partial<Record<Kind, string>> = {
  account: 'name', vpc: 'id', service: 'id', endpoint: 'id', routetable: 'id', notification: 'id',
  loadbalancer: 'id', targetgroup: 'id', apivpc: 'id', securitygroup: 'id', internetgateway: 'id', networkacl: 'id', targethealth: 'node', faultverdict: 'node',
};

/** throws a StoreError naming the first document of SNAP that does not have its kind's shape */
export function checkDocuments(snap: Documents, location: string, at: 'start' | 'follow' = 'start'): void {
  for (const kind of KINDS) for (const [id, doc] of snap.get(kind) ?? []) checkDocument(kind, id, doc, location, at);
}

/**
 * throws a StoreError naming the document when DOC does not have its kind's shape. AT says what
 * refuses it: the start, or a running daemon following a shared store (another client wrote it).
 */
export function checkDocument(kind: Kind, id: string, doc: unknown, location: string, at: 'start' | 'follow'): void {
  if (QUICK_CHECKS[kind]?.(doc)) return;
  const r = SCHEMAS[kind].safeParse(doc);
  // vpcepd stores a resource under its own id (an account under its name): a copy under another key
  // would be a second resource holding the first one's addresses and answering for another id
  const field = KEYED_BY[kind];
  const own = r.success && field ? (r.data as Record<string, unknown>)[field] : id;
  if (r.success && own === id) return;
  const problems = r.success ? `its ${field} is ${JSON.stringify(own)}, not the key's` : r.error.issues.map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`).join('; ');
  throw new StoreError(`${location}: the stored ${kind} ${id} is malformed (${problems}); ` + (at === 'start'
    ? 'vpcepd does not start on it: restore the database from a backup, or move it aside to start afresh'
    : 'this node keeps what it knew and follows the store again once the document is fixed or deleted'));
}

/** the id an ENI stored before issue 13 had (the EC2 API derived it from the endpoint's id): kept, so that answers do not change */
export function legacyEniId(endpointId: string): string {
  return `eni-${createHash('sha256').update(`eni\0${endpointId}`).digest('hex').slice(0, 17)}`;
}

/**
 * An endpoint as an earlier version stored it, in today's shape: one stored before issue 13 (no
 * `enis`): an interface endpoint with an address has one ENI, its legacy fields', in its subnet's
 * zone, a gateway endpoint none; a gateway endpoint stored with enable_dns (refused since
 * 2026-12-07: it has no private domain name) has it off.
 */
export function upgradedEndpoint(e: Endpoint, vpcs: ReadonlyMap<string, Vpc>, zones: readonly string[]): Endpoint {
  if (e.service_type === 'gateway' && e.enable_dns) return upgradedEndpoint({ ...e, enable_dns: false }, vpcs, zones);
  if (Array.isArray(e.enis)) return e;
  if (e.service_type !== 'interface' || !e.subnet_id || !e.ip || !e.host_ip) return { ...e, enis: [] };
  const subnet = vpcs.get(e.vpc_id)?.subnets.find((x) => x.id === e.subnet_id);
  const zone = subnet ? zoneOfSubnet(subnet, zones) : zones[0]!;
  return { ...e, enis: [{ id: legacyEniId(e.id), zone, subnet_id: e.subnet_id, ip: e.ip, host_ip: e.host_ip }] };
}

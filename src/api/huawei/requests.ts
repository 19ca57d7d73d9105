// The shapes of Huawei's request bodies, how a bad one maps to an error name, and how a good one
// becomes the control plane's neutral command (src/model/commands.ts). Pure: no I/O. Unknown
// fields are refused by name; every field's failure has its own code (huawei-vpcep-api.md "Errors").
import { z } from 'zod';
import type {
  CreateEndpointCommand, CreateServiceCommand, MigrateBackendCommand, ModifyServiceCommand, PortMappingInput, TraceQuery, UpdateEndpointCommand,
} from '../../model/commands.js';
import { BANDWIDTH_MAX_MBPS, BANDWIDTH_MIN_MBPS } from '../../model/bandwidth.js';
import { DEFAULTS } from '../../model/defaults.js';
import { privateDnsNameProblem } from '../../model/dns-names.js';
import { PROVISIONING_DELAY_MAX_MS } from '../../model/provisioning-faults.js';
import { HEALTH_RANGES, type HealthSettings, type UnhealthyTermination } from '../../model/health.js';
import { TCP_PROXY_VALUES, type TcpProxy } from '../../model/types.js';
import { HuaweiRequestError, type HuaweiErrorName } from './errors.js';

const L = DEFAULTS.limits;

const description = z.string().max(L.descriptionLength, `at most ${L.descriptionLength} characters`)
  .refine((s) => !/[<>]/.test(s), 'must not contain < or >');

const tagKey = z.string().regex(/^[\p{L}\p{N}_.:=+\-@ ]{1,128}$/u, `1-${L.tagKeyLength} letters, digits, spaces or _ . : = + - @`);
const tagValue = z.string().regex(/^[\p{L}\p{N}_.:/=+\-@ ]{0,255}$/u, `0-${L.tagValueLength} letters, digits, spaces or _ . : / = + - @`);
const tag = z.strictObject({ key: tagKey, value: tagValue.optional() });
/** at most N characters (code points, as the create rule's counts them) */
const codePoints = (max: number) => (s: string) => [...s].length <= max;
/**
 * A tag a delete names: any key a resource can carry, one set through the EC2 API included
 * (`team/app`: 1-128 characters of any kind), and any value (the EC2 API's go to 256): a delete
 * matches what is there, the create rule is for creates.
 */
const tagToDelete = z.strictObject({
  key: z.string().min(1, `1-${L.tagKeyLength} characters`).refine(codePoints(L.tagKeyLength), `1-${L.tagKeyLength} characters`),
  value: z.string().refine(codePoints(256), 'at most 256 characters').optional(),
});
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
const tcpProxy = z.enum(TCP_PROXY_VALUES as [TcpProxy, ...TcpProxy[]], { message: `one of ${TCP_PROXY_VALUES.join(', ')}` });
const id = z.string().min(1).max(64);

/** vpcep-sim extensions: several backend ports (each in its subnet's zone), and how long a removed one drains (s) */
const backends = z.array(z.strictObject({ port_id: id })).min(1, 'at least one backend port').max(64, 'at most 64 backend ports');
const deregistrationDelay = z.number().int().min(0, '0-3600 seconds').max(3600, '0-3600 seconds');
/** vpcep-sim's extension: a port-backed service's health checks, in seconds and counts, AWS's ranges */
const inRange = (k: keyof typeof HEALTH_RANGES) => {
  const [lo, hi] = HEALTH_RANGES[k];
  return z.number().int(`must be an integer from ${lo} to ${hi}`).min(lo, `must be from ${lo} to ${hi}`).max(hi, `must be from ${lo} to ${hi}`);
};
const healthCheck = z.strictObject({
  interval: inRange('interval_s').optional(),
  timeout: inRange('timeout_s').optional(),
  healthy_threshold: inRange('healthy_threshold').optional(),
  unhealthy_threshold: inRange('unhealthy_threshold').optional(),
});
type HealthCheckBody = z.infer<typeof healthCheck>;
/** vpcep-sim's: Alibaba's bandwidth per endpoint connection, Mbit/s (src/model/bandwidth.ts) */
const bandwidthRange = `an integer from ${BANDWIDTH_MIN_MBPS} to ${BANDWIDTH_MAX_MBPS} (Mbit/s)`;
const bandwidth = z.number().int(`must be ${bandwidthRange}`).min(BANDWIDTH_MIN_MBPS, `must be ${bandwidthRange}`).max(BANDWIDTH_MAX_MBPS, `must be ${bandwidthRange}`);
/** vpcep-sim's extension: AWS's target_health_state.unhealthy.* for a port-backed service's backends */
const unhealthyTermination = z.strictObject({
  enabled: z.boolean().optional(),
  draining_interval: z.number().int('must be an integer from 0 to 360000').min(0, 'must be from 0 to 360000').max(360_000, 'must be from 0 to 360000').optional(),
});
type UnhealthyTerminationBody = z.infer<typeof unhealthyTermination>;
const unhealthyTerminationInput = (t: UnhealthyTerminationBody | undefined): Partial<UnhealthyTermination> | undefined => t && {
  enabled: t.enabled, draining_interval_s: t.draining_interval,
};

/** Alibaba's custom service domain name: the domain's rule (privateDnsNameProblem), its refusal naming this field */
const customDomainName = z.string().max(255).superRefine((v, ctx) => {
  const problem = v.length <= 255 ? privateDnsNameProblem(v) : null;
  if (problem !== null) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v.slice(0, 80))}: ${problem}` });
});

export const createServiceBody = z.strictObject({
  port_id: id.optional(),
  backends: backends.optional(),
  deregistration_delay: deregistrationDelay.optional(),
  vpc_id: id,
  server_type: z.enum(['VM', 'LB'], { message: 'must be VM or LB' }),
  ports: portMappings,
  service_name: serviceName.optional(),
  approval_enabled: z.boolean().optional(),
  service_type: z.literal('interface', { message: 'only interface services can be created by accounts; gateway services are operator-run' }).optional(),
  tcp_proxy: tcpProxy.optional(),
  description: description.optional(),
  tags: tags.optional(),
  health_check: healthCheck.optional(),
  /** vpcep-sim's: Alibaba's custom service domain name (AWS's PrivateDnsName), to verify by a TXT record */
  custom_domain_name: customDomainName.optional(),
  bandwidth: bandwidth.optional(),
  unhealthy_connection_termination: unhealthyTermination.optional(),
});
export type CreateServiceBody = z.infer<typeof createServiceBody>;

export const modifyServiceBody = z.strictObject({
  backends: backends.optional(),
  deregistration_delay: deregistrationDelay.optional(),
  approval_enabled: z.boolean().optional(),
  service_name: serviceName.optional(),
  ports: portMappings.optional(),
  tcp_proxy: tcpProxy.optional(),
  description: description.optional(),
  health_check: healthCheck.optional(),
  /** vpcep-sim's: a new custom service domain name, or null to remove it */
  custom_domain_name: customDomainName.nullable().optional(),
  /** null: no default any more */
  bandwidth: bandwidth.nullable().optional(),
  unhealthy_connection_termination: unhealthyTermination.optional(),
});
export type ModifyServiceBody = z.infer<typeof modifyServiceBody>;

const whitelistEntry = z.string().max(18);
const whitelist = z.array(whitelistEntry).max(L.endpointWhitelist, `at most ${L.endpointWhitelist} entries`);

export const createEndpointBody = z.strictObject({
  endpoint_service_id: id,
  vpc_id: id,
  subnet_id: id.optional(),
  port_ip: z.string().max(15).optional(),
  // vpcep-sim's extension (README "Zones"): an ENI in each subnet, at most one per zone
  subnet_ids: z.array(id).min(1).max(26).optional(),
  enable_dns: z.boolean().optional(),
  whitelist: whitelist.optional(),
  enable_whitelist: z.boolean().optional(),
  routetables: z.array(id).max(20).optional(),
  policy_statement: z.array(z.unknown()).optional(),
  description: description.optional(),
  tags: tags.optional(),
  zone_affinity: z.boolean().optional(),
});
export type CreateEndpointBody = z.infer<typeof createEndpointBody>;

/** vpcep-sim's extension: ENIs (zones) added to or removed from an interface endpoint, live */
export const endpointSubnetsActionBody = z.strictObject({
  action: z.enum(['add', 'remove']),
  subnet_ids: z.array(id).min(1).max(26),
});

export const updateEndpointBody = z.strictObject({
  whitelist: whitelist.optional(),
  enable_whitelist: z.boolean().optional(),
  zone_affinity: z.boolean().optional(),
  /** vpcep-sim's: private DNS (the service's custom domain name in the VPC) turned on or off after creation */
  enable_dns: z.boolean().optional(),
});

/** vpcep-sim's: a record published in the public zone (the TXT record that proves a domain) */
export const publicRecordBody = z.strictObject({
  name: z.string().min(1).max(253),
  type: z.literal('TXT', { message: 'must be TXT' }),
  value: z.string().max(255),
});

/** vpcep-sim's route for Alibaba's migration of a zone's backend (smooth or forced) */
export const migrateBackendBody = z.strictObject({
  from_port_id: id,
  to_port_id: id,
  mode: z.enum(['smooth', 'forced'], { message: 'must be smooth or forced' }),
});
export type UpdateEndpointBody = z.infer<typeof updateEndpointBody>;

export const connectionActionBody = z.strictObject({
  action: z.enum(['receive', 'reject'], { message: 'must be receive or reject' }),
  endpoints: z.array(id).min(1, 'name one endpoint id').max(1, 'only one endpoint per call'),
});

/**
 * vpcep-sim's route for Alibaba's UpdateVpcEndpointConnectionAttribute, in the shape of Huawei's
 * PUT .../connections/description: each connection (endpoint id) and its bandwidth (null: the
 * service's default)
 */
export const connectionBandwidthBody = z.strictObject({
  connections: z.array(z.strictObject({ id, bandwidth: bandwidth.nullable() })).min(1, 'name at least one connection').max(50, 'at most 50 connections per call'),
});

/** the simulator's provisioning faults: the activation delay from now on */
export const simFaultsBody = z.strictObject({
  provisioning_delay_ms: z.number().int(`must be an integer from 0 to ${PROVISIONING_DELAY_MAX_MS} (ms)`)
    .min(0, `must be from 0 to ${PROVISIONING_DELAY_MAX_MS} (ms)`).max(PROVISIONING_DELAY_MAX_MS, `must be from 0 to ${PROVISIONING_DELAY_MAX_MS} (ms)`),
});

/** a provisioning failure asked for: its message (absent: a default one) */
export const simFailBody = z.strictObject({ message: z.string().min(1).max(255).optional() });

const emptyBody = z.strictObject({});

export const permissionActionBody = z.strictObject({
  action: z.enum(['add', 'remove'], { message: 'must be add or remove' }),
  permissions: z.array(z.string().max(80)).min(1, 'at least one permission').max(50, 'at most 50 permissions per call'),
});

export const tagActionBody = z.strictObject({
  action: z.enum(['create', 'delete'], { message: 'must be create or delete' }),
  tags: z.array(tagToDelete).min(1, 'at least one tag').max(L.tagsPerResource, `at most ${L.tagsPerResource} tags`),
}).superRefine((b, ctx) => {
  // a create's tags follow the create rule; a delete's only name what is there (tagToDelete)
  if (b.action !== 'create') return;
  b.tags.forEach((t, i) => {
    for (const issue of tag.safeParse(t).error?.issues ?? []) ctx.addIssue({ code: 'custom', message: issue.message, path: ['tags', i, ...issue.path] });
  });
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
  /** vpcep-sim's: the client's source port, which the backend choice's flow hash reads (absent: 0) */
  source_port: z.number().int().min(0).max(65535).optional(),
});

/** Which error a failure of a given top-level field carries. */
function codeFor(path: ReadonlyArray<PropertyKey>, issue: z.core.$ZodIssue): HuaweiErrorName {
  const [field, , sub] = path;
  const tooBig = issue.code === 'too_big' && path.length === 1;
  switch (field) {
    case 'ports':
      if (tooBig) return 'PortLimit';
      // huawei-vpcep-api.md "Errors": 3004 invalid port (the client's), 3043 invalid service port (the backend's)
      return sub === 'protocol' ? 'InvalidProtocol' : sub === 'server_port' ? 'InvalidServicePort' : 'InvalidPort';
    case 'service_name': return 'InvalidServiceNameFormat';
    case 'server_type': return 'InvalidServerType';
    case 'port_id': case 'backends': case 'from_port_id': case 'to_port_id': return 'InvalidPortId';
    case 'vpc_id': return 'InvalidVpcId';
    case 'subnet_id': case 'subnet_ids': return 'InvalidSubnetId';
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

/** Parses a request body against its schema, or throws the HuaweiRequestError of its first problem. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  if (body === undefined) throw new HuaweiRequestError('InvalidParameter', 'the request body is empty: a JSON object is expected');
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new HuaweiRequestError('InvalidParameter', 'the request body must be a JSON object');
  }
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const where = issue.path.length ? ` in ${pathText(issue.path)}` : '';
    throw new HuaweiRequestError('InvalidParameter', `unknown field ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}${where}`);
  }
  const where = pathText(issue.path);
  let message = issue.message;
  // zod leaves the input out of its issues: look the field up to tell absent from mistyped
  const value = valueAt(body, issue.path);
  if (issue.code === 'invalid_type') message = value === undefined ? 'is required' : `must be ${article(issue.expected)}`;
  // a field of fixed values (server_type, action): absent or not a string is said as for any field
  else if (issue.code === 'invalid_value' && typeof value !== 'string') message = value === undefined ? 'is required' : 'must be a string';
  throw new HuaweiRequestError(codeFor(issue.path, issue), `${where || 'body'}: ${message}`);
}

/**
 * the body of an action that takes none: absent, or `{}` (what an SDK sends for no fields); any
 * other is refused as every route refuses what it does not know, not ignored while the action runs
 */
export function parseNoBody(body: unknown): void {
  if (body !== undefined) parseBody(emptyBody, body);
}

// ---- bodies -> commands ----------------------------------------------------------------------

const portMappingInputs = (ports: ReadonlyArray<{ client_port: number; server_port: number }>): PortMappingInput[] =>
  ports.map((p) => ({ clientPort: p.client_port, serverPort: p.server_port }));

const healthSettingsInput = (h: HealthCheckBody | undefined): Partial<HealthSettings> | undefined => h && {
  interval_s: h.interval, timeout_s: h.timeout, healthy_threshold: h.healthy_threshold, unhealthy_threshold: h.unhealthy_threshold,
};

export function createServiceCommand(b: CreateServiceBody): CreateServiceCommand {
  if (b.port_id === undefined && b.backends === undefined) throw new HuaweiRequestError('InvalidPortId', 'port_id: is required');
  return {
    vpcId: b.vpc_id, portId: b.port_id ?? b.backends![0]!.port_id, serverType: b.server_type, name: b.service_name, approvalRequired: b.approval_enabled,
    ports: portMappingInputs(b.ports), tcpProxy: b.tcp_proxy, description: b.description, tags: b.tags,
    backendPortIds: b.backends?.map((x) => x.port_id), deregistrationDelayS: b.deregistration_delay, healthCheck: healthSettingsInput(b.health_check),
    ...(b.custom_domain_name !== undefined ? { privateDnsName: b.custom_domain_name } : {}),
    bandwidthMbps: b.bandwidth,
    unhealthyTermination: unhealthyTerminationInput(b.unhealthy_connection_termination),
  };
}

export function modifyServiceCommand(b: ModifyServiceBody): ModifyServiceCommand {
  return {
    approvalRequired: b.approval_enabled, name: b.service_name, ports: b.ports && portMappingInputs(b.ports),
    tcpProxy: b.tcp_proxy, description: b.description, healthCheck: healthSettingsInput(b.health_check),
    backendPortIds: b.backends?.map((x) => x.port_id), deregistrationDelayS: b.deregistration_delay, bandwidthMbps: b.bandwidth,
    ...(b.custom_domain_name !== undefined ? { privateDnsName: b.custom_domain_name } : {}),
    unhealthyTermination: unhealthyTerminationInput(b.unhealthy_connection_termination),
  };
}

export function migrateBackendCommand(b: z.infer<typeof migrateBackendBody>): MigrateBackendCommand {
  return { fromPortId: b.from_port_id, toPortId: b.to_port_id, mode: b.mode };
}

export function createEndpointCommand(b: CreateEndpointBody): CreateEndpointCommand {
  if (b.subnet_ids !== undefined && (b.subnet_id !== undefined || b.port_ip !== undefined)) {
    throw new HuaweiRequestError('InvalidParameter', 'subnet_ids replaces subnet_id and port_ip: give one form (subnet_ids allocates each ENI\'s IP)');
  }
  return {
    ...(b.subnet_ids !== undefined ? { subnets: b.subnet_ids.map((subnetId) => ({ subnetId })) } : {}),
    serviceId: b.endpoint_service_id, vpcId: b.vpc_id, subnetId: b.subnet_id, ip: b.port_ip, dns: b.enable_dns,
    whitelist: b.whitelist, whitelistEnabled: b.enable_whitelist, routeTables: b.routetables, policy: b.policy_statement,
    description: b.description, tags: b.tags, zoneAffinity: b.zone_affinity,
  };
}

export function updateEndpointCommand(b: UpdateEndpointBody): UpdateEndpointCommand {
  return { whitelist: b.whitelist, whitelistEnabled: b.enable_whitelist, zoneAffinity: b.zone_affinity, dns: b.enable_dns };
}

export function traceQuery(b: z.infer<typeof traceBody>): TraceQuery {
  return { vpcId: b.vpc_id, sourceIp: b.source_ip, destinationIp: b.destination_ip, destinationPort: b.destination_port, sourcePort: b.source_port };
}

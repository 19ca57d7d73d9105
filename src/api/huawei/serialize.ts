// Domain records -> the JSON shapes of Huawei's VPCEP v1 API (huawei-vpcep-api.md "Response").
import { huaweiEndpointDnsNames, servicePrivateDnsNames } from '../../model/dns-names.js';
import { zoneOfSubnet } from '../../model/zones.js';
import type { ResourceError } from '../../model/errors.js';
import type { HealthSettings } from '../../model/health.js';
import type { PathTrace } from '../../model/path-trace.js';
import type { Endpoint, EndpointService, Permission, Vpc } from '../../model/types.js';
import { ipToInt } from '../../net/cidr.js';
import { hostAddress } from '../../net/loopback.js';
import { huaweiCode } from './errors.js';

/** a backend's health as the Huawei API shows it (vpcep-sim's backend_health) */
export interface BackendHealthJson {
  readonly port_id: string;
  readonly zone: string | null;
  readonly state: string;
  readonly reason: string | null;
}

export interface SerializeContext {
  readonly region: string;
  /** a port-backed service's backends with their health (none for other services) */
  backendHealth?(s: EndpointService): readonly BackendHealthJson[];
  projectOf(account: string): string;
  domainOf(account: string): string;
  connectionCount(serviceId: string): number;
  /** a service by id (an endpoint's dns_names carry its custom domain name) */
  serviceOf?(id: string): EndpointService | undefined;
  /** the terminal ports an endpoint of the service listens on */
  servicePorts(serviceId: string): number[];
  /** the bandwidth an endpoint's connections get (Mbit/s): its own, else its service's default; null: none */
  bandwidthOf?(e: Endpoint): number | null;
}

/** vpcep-sim's: a connection's bandwidth and whether it is its own (true) or its service's default */
function bandwidthJson(e: Endpoint, ctx: SerializeContext): Record<string, unknown> {
  const mbps = ctx.bandwidthOf ? ctx.bandwidthOf(e) : e.bandwidth_mbps ?? null;
  return mbps === null ? {} : { bandwidth: mbps, bandwidth_source: e.bandwidth_mbps !== undefined ? 'connection' : 'service' };
}

/** vpcep-sim's extension: a service's own health checks, as its requests name them */
function healthCheckJson(h: HealthSettings): Record<string, number> {
  return { interval: h.interval_s, timeout: h.timeout_s, healthy_threshold: h.healthy_threshold, unhealthy_threshold: h.unhealthy_threshold };
}

export function serviceJson(s: EndpointService, ctx: SerializeContext, inList = false): Record<string, unknown> {
  return {
    id: s.id,
    port_id: s.port_id,
    vpc_id: s.vpc_id,
    service_name: s.service_name,
    service_type: s.service_type,
    server_type: s.server_type,
    approval_enabled: s.approval_enabled,
    status: s.status,
    ports: s.ports,
    tcp_proxy: s.tcp_proxy,
    ...(s.health_check ? { health_check: healthCheckJson(s.health_check) } : {}),
    // vpcep-sim's: the default bandwidth of its endpoint connections (Mbit/s); absent: none
    ...(s.bandwidth_mbps !== undefined ? { bandwidth: s.bandwidth_mbps } : {}),
    ...(s.unhealthy_termination
      ? { unhealthy_connection_termination: { enabled: s.unhealthy_termination.enabled, draining_interval: s.unhealthy_termination.draining_interval_s } }
      : {}),
    // vpcep-sim's: several backend ports, how long a removed one drains, each one's health
    ...(s.port_id !== null ? {
      backends: (s.backends ?? [{ port_id: s.port_id }]).map((b) => ({ port_id: b.port_id })),
      ...(s.deregistration_delay_s !== undefined ? { deregistration_delay: s.deregistration_delay_s } : {}),
      ...(ctx.backendHealth ? { backend_health: ctx.backendHealth(s) } : {}),
    } : {}),
    // vpcep-sim's: Alibaba's custom service domain name and the TXT record that proves it (AWS's PrivateDnsNameConfiguration)
    ...(s.private_dns ? {
      custom_domain_name: s.private_dns.name,
      custom_domain_verification: { state: s.private_dns.state, type: 'TXT', name: s.private_dns.txt_name, value: s.private_dns.txt_value },
    } : {}),
    description: s.description,
    tags: s.tags,
    project_id: ctx.projectOf(s.owner),
    created_at: apiTime(s.created_at),
    updated_at: apiTime(s.updated_at),
    ...(s.error ? { error: [resourceErrorJson(s.error)] } : {}),
    ...(inList ? { domain_id: ctx.domainOf(s.owner), connection_count: ctx.connectionCount(s.id) } : {}),
  };
}

export function publicServiceJson(s: EndpointService): Record<string, unknown> {
  return {
    id: s.id,
    owner: 'operator',
    service_name: s.service_name,
    service_type: s.service_type,
    created_at: apiTime(s.created_at),
    is_charge: false,
    ...(s.public?.prefix_list ? { prefix_list: s.public.prefix_list } : {}),
    // vpcep-sim's: a gateway service whose listeners cannot bind is failed, with the reason
    status: s.status,
    ...(s.error ? { error: [resourceErrorJson(s.error)] } : {}),
  };
}

/** a consumer's summary of a service (describe) */
export function serviceSummaryJson(s: EndpointService): Record<string, unknown> {
  return {
    id: s.id,
    service_name: s.service_name,
    service_type: s.service_type,
    created_at: apiTime(s.created_at),
    is_charge: false,
    // vpcep-sim's: a consumer sees the custom service domain name and whether it is verified (it answers only then)
    ...(s.private_dns ? { custom_domain_name: s.private_dns.name, custom_domain_state: s.private_dns.state } : {}),
  };
}

/**
 * an endpoint's private names (enable_dns): Huawei's own, then the service's custom domain name once
 * verified, as the DNS server answers them in the endpoint's VPC (src/model/dns-names.ts)
 */
function endpointDnsNamesJson(e: Endpoint, ctx: SerializeContext): string[] {
  const s = ctx.serviceOf?.(e.service_id);
  return [...huaweiEndpointDnsNames(e, ctx.region), ...(s ? servicePrivateDnsNames(e, s) : [])].map((n) => n.name);
}

export function endpointJson(e: Endpoint, ctx: SerializeContext): Record<string, unknown> {
  return {
    id: e.id,
    service_type: e.service_type,
    status: e.status,
    // Huawei: the account's state (`active` or `frozen`), not the endpoint's: no account here is frozen
    active_status: ['active'],
    ip: e.ip,
    host_ip: e.host_ip,
    ports: ctx.servicePorts(e.service_id),
    snat_ip: e.snat_ip,
    marker_id: e.marker_id,
    endpoint_service_id: e.service_id,
    endpoint_service_name: e.service_name,
    enable_dns: e.enable_dns,
    ...(e.enable_dns ? { dns_names: endpointDnsNamesJson(e, ctx) } : {}),
    vpc_id: e.vpc_id,
    subnet_id: e.subnet_id,
    // vpcep-sim's extension: every ENI, one per zone (subnet_id, ip and host_ip are the first one's)
    enis: e.enis.map((n) => ({ id: n.id, zone: n.zone, subnet_id: n.subnet_id, ip: n.ip, host_ip: n.host_ip })),
    whitelist: e.whitelist,
    enable_whitelist: e.enable_whitelist,
    ...(e.service_type === 'interface' ? { zone_affinity: e.zone_affinity === true } : {}),
    routetables: e.routetables,
    // in every endpoint's response, as routetables (huawei-vpcep-api.md: the response lists both); an interface endpoint's is null
    policy_statement: e.policy_statement ?? null,
    description: e.description,
    tags: e.tags,
    project_id: ctx.projectOf(e.owner),
    created_at: apiTime(e.created_at),
    updated_at: apiTime(e.updated_at),
    ...(e.error ? { error: [resourceErrorJson(e.error)] } : {}),
  };
}

/** What a provider sees of an endpoint connected to its service, and no more. */
export function connectionJson(e: Endpoint, ctx: SerializeContext): Record<string, unknown> {
  return {
    id: e.id,
    marker_id: e.marker_id,
    domain_id: ctx.domainOf(e.owner),
    status: e.status,
    // huawei-vpcep-api.md: a connection carries the endpoint's description
    description: e.description,
    // vpcep-sim's: the connection's bandwidth (Mbit/s), its own or else its service's default; absent: none
    ...bandwidthJson(e, ctx),
    created_at: apiTime(e.created_at),
    updated_at: apiTime(e.updated_at),
  };
}

export function permissionJson(p: Permission): Record<string, unknown> {
  return { id: p.id, permission: p.permission, permission_type: 'domainId', created_at: apiTime(p.created_at) };
}

/** a resource's `error` entry: why the data plane could not bring it up */
export function resourceErrorJson(e: ResourceError): { error_code: string; error_message: string } {
  return { error_code: huaweiCode(e.name), error_message: e.message };
}

/** a trace as the API shows it: a public listener's bind failure is told in `why` (and the reason that quotes it), with its code */
export function traceJson(t: PathTrace): Record<string, unknown> {
  if (!t.listener?.error) return t;
  const { error, ...listener } = t.listener;
  const why = `${listener.why}: ${huaweiCode(error.name)}: ${error.message}`;
  const quoted = `${listener.address}: nothing listens: ${listener.why}`;
  return { ...t, reason: t.reason === quoted ? `${listener.address}: nothing listens: ${why}` : t.reason, listener: { ...listener, why } };
}

/** UTC YYYY-MM-DDTHH:MM:SSZ, as the API shows times. */
export function apiTime(iso: string): string {
  return `${iso.slice(0, 19)}Z`;
}

/** a VPC of the caller with its subnets and backend ports, and the loopback number k of its host addresses (127.k.c.d) */
export function vpcJson(v: Vpc, zones: readonly string[]): Record<string, unknown> {
  const hostOf = (ip: string) => hostAddress(v.number, ipToInt(ip));
  return {
    id: v.id,
    cidr: v.cidr,
    number: v.number,
    host_prefix: `127.${v.number}`,
    // zone: vpcep-sim's extension (README "Zones")
    subnets: v.subnets.map((s) => ({ id: s.id, cidr: s.cidr, zone: zoneOfSubnet(s, zones) })),
    ports: v.ports.map((p) => ({ id: p.id, subnet_id: p.subnet_id, ip: p.ip, type: p.type, host_ip: hostOf(p.ip), target: p.target ?? hostOf(p.ip) })),
  };
}

export function routeTableJson(t: { id: string; vpc_id: string; default: boolean; subnets: readonly string[]; routes: readonly { destination: string; type: string; nexthop?: string; owner: string }[] }): Record<string, unknown> {
  return {
    id: t.id,
    vpc_id: t.vpc_id,
    default: t.default,
    subnets: t.subnets.map((id) => ({ id })),
    routes: t.routes.map((r) => ({ destination: r.destination, type: r.type, nexthop: r.nexthop ?? null, owner: r.owner })),
  };
}

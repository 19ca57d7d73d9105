// Network load balancers as the backend of an endpoint service (issue 12, "ELBv2"): a load
// balancer in subnets of one VPC, its TCP listeners (the listener port is an endpoint's terminal
// port), target groups and their targets (the target's port is the service port). What the store
// keeps; each dialect renders ids, ARNs and names (src/api/aws/elbv2.ts).
import { healthSettingsOutOfRange, unhealthyTerminationProblem, type HealthSettings, type UnhealthyTermination } from './health.js';
import type { Tag } from './types.js';

/** ELBv2's target-group attributes and their defaults on a TCP target group of a network load balancer */
export const TARGET_GROUP_ATTRIBUTES: Readonly<Record<string, string>> = {
  'deregistration_delay.timeout_seconds': '300',
  'deregistration_delay.connection_termination.enabled': 'false',
  'proxy_protocol_v2.enabled': 'false',
  // AWS: on for instance targets, off for IP targets of TCP (targetGroupAttributeDefaults)
  'preserve_client_ip.enabled': 'false',
  'stickiness.enabled': 'false',
  'stickiness.type': 'source_ip',
  'load_balancing.cross_zone.enabled': 'use_load_balancer_configuration',
  'target_health_state.unhealthy.connection_termination.enabled': 'true',
  'target_health_state.unhealthy.draining_interval_seconds': '0',
  'target_group_health.dns_failover.minimum_healthy_targets.count': 'off',
  'target_group_health.dns_failover.minimum_healthy_targets.percentage': 'off',
  'target_group_health.unhealthy_state_routing.minimum_healthy_targets.count': '1',
  'target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage': 'off',
};

/** a new target group's attributes: AWS's defaults for its target type (preserve_client_ip.enabled is on for instance targets only) */
export function targetGroupAttributeDefaults(targetType: string): Record<string, string> {
  return { ...TARGET_GROUP_ATTRIBUTES, 'preserve_client_ip.enabled': targetType === 'instance' ? 'true' : 'false' };
}

/** a network load balancer's attributes and their defaults */
export const LOAD_BALANCER_ATTRIBUTES: Readonly<Record<string, string>> = {
  'access_logs.s3.enabled': 'false',
  'access_logs.s3.bucket': '',
  'access_logs.s3.prefix': '',
  'deletion_protection.enabled': 'false',
  'load_balancing.cross_zone.enabled': 'false',
  'dns_record.client_routing_policy': 'any_availability_zone',
  'zonal_shift.config.enabled': 'false',
};

export const TCP_IDLE_TIMEOUT = 'tcp.idle_timeout.seconds';

/** a TCP listener's one attribute and AWS's default (what DescribeListenerAttributes shows when none was stored) */
export const LISTENER_ATTRIBUTES: Readonly<Record<string, string>> = { [TCP_IDLE_TIMEOUT]: '350' };
export const LISTENER_ATTRIBUTE_RANGES: Readonly<Record<string, readonly [number, number]>> = { [TCP_IDLE_TIMEOUT]: [60, 6000] };

/**
 * The idle timeout (ms) of the connections through a listener: what ModifyListenerAttributes
 * stored, or null when nothing was: then the daemon's dataplane.idle_timeout_ms applies (350 s by
 * default, AWS's default too), as it does to every endpoint of a service without load balancers.
 */
export function listenerIdleTimeoutMs(l: Listener): number | null {
  const raw = l.attributes?.[TCP_IDLE_TIMEOUT];
  const s = raw === undefined ? NaN : Number(raw);
  return Number.isInteger(s) && s > 0 ? s * 1000 : null;
}

export const PROXY_PROTOCOL_V2 = 'proxy_protocol_v2.enabled';

export type LoadBalancerType = 'network';
export type TargetType = 'ip' | 'instance';
/** ELBv2 CreateLoadBalancer's IpAddressType values; IPv6 is not simulated: each relays IPv4 alike */
export const IP_ADDRESS_TYPES = ['ipv4', 'dualstack', 'dualstack-without-public-ipv4'] as const;
export type IpAddressType = (typeof IP_ADDRESS_TYPES)[number];

export interface Listener {
  /** 16 hex digits (the last part of its ARN) */
  readonly id: string;
  readonly protocol: 'TCP';
  /** an endpoint's terminal port */
  readonly port: number;
  /** the default action: forward to this target group */
  readonly target_group_id: string;
  /** what ModifyListenerAttributes stored (absent: LISTENER_ATTRIBUTES' defaults) */
  readonly attributes?: Readonly<Record<string, string>>;
  readonly tags: readonly Tag[];
}

export interface LoadBalancer {
  /** 16 hex digits (the last part of its ARN) */
  readonly id: string;
  readonly owner: string;
  readonly name: string;
  readonly type: LoadBalancerType;
  /** both behave alike: vpcep-sim has no internet side, endpoints reach it from their VPCs */
  readonly scheme: 'internal' | 'internet-facing';
  readonly vpc_id: string;
  readonly subnets: readonly string[];
  /** as the create asked (absent: ipv4) */
  readonly ip_address_type?: IpAddressType;
  readonly state: 'active';
  readonly dns_name: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly listeners: readonly Listener[];
  readonly tags: readonly Tag[];
  readonly created_at: string;
  readonly updated_at: string;
}

export interface Target {
  /** an IPv4 address (target type ip) or a VM port id of the VPC (target type instance) */
  readonly id: string;
  /** the service port: the target's own, else the target group's */
  readonly port: number;
}

export interface HealthCheck {
  readonly protocol: string;
  readonly port: string;
  readonly enabled: boolean;
  readonly interval_seconds: number;
  readonly timeout_seconds: number;
  readonly healthy_threshold: number;
  readonly unhealthy_threshold: number;
  readonly path?: string;
  readonly matcher?: string;
}

export const DEFAULT_HEALTH_CHECK: HealthCheck = {
  protocol: 'TCP', port: 'traffic-port', enabled: true, interval_seconds: 30, timeout_seconds: 10,
  healthy_threshold: 5, unhealthy_threshold: 2,
};

/** the probe settings of a target group's health check */
export function healthSettingsOfCheck(h: HealthCheck): HealthSettings {
  return { interval_s: h.interval_seconds, timeout_s: h.timeout_seconds, healthy_threshold: h.healthy_threshold, unhealthy_threshold: h.unhealthy_threshold };
}

/**
 * What is wrong with a target group's health check, or null: TCP probes only (HTTP and HTTPS
 * checks are not simulated), the port `traffic-port` or 1-65535, always enabled (AWS: checks of
 * ip and instance targets cannot be turned off), the figures in AWS's ranges.
 */
export function healthCheckProblem(h: HealthCheck): string | null {
  if (h.protocol === 'HTTP' || h.protocol === 'HTTPS') {
    return `HealthCheckProtocol ${h.protocol}: vpcep-sim simulates TCP health checks only (a connect to the target, no request sent)`;
  }
  if (h.protocol !== 'TCP') return `HealthCheckProtocol ${h.protocol.slice(0, 20)} must be TCP, HTTP or HTTPS`;
  if (h.port !== 'traffic-port' && !(/^\d{1,5}$/.test(h.port) && Number(h.port) >= 1 && Number(h.port) <= 65535)) {
    return `HealthCheckPort ${h.port.slice(0, 20)} must be traffic-port or a port 1-65535`;
  }
  if (!h.enabled) return 'HealthCheckEnabled false: health checks of ip and instance targets cannot be disabled';
  const bad = healthSettingsOutOfRange(healthSettingsOfCheck(h));
  return bad && `health check ${bad}`;
}

/**
 * the attributes that take one of a few values, checked when modified (ELBv2 API reference,
 * TargetGroupAttribute and LoadBalancerAttribute: a network load balancer's values)
 */
export const TARGET_GROUP_ATTRIBUTE_CHOICES: Readonly<Record<string, readonly string[]>> = {
  'load_balancing.cross_zone.enabled': ['true', 'false', 'use_load_balancer_configuration'],
  'stickiness.type': ['source_ip'],
};
export const LOAD_BALANCER_ATTRIBUTE_CHOICES: Readonly<Record<string, readonly string[]>> = {
  'dns_record.client_routing_policy': ['availability_zone_affinity', 'partial_availability_zone_affinity', 'any_availability_zone'],
};

/** AWS's quota of targets per target group (NLB quotas: "Targets per target group per Region", 1,000) */
export const MAX_TARGETS_PER_TARGET_GROUP = 1000;

/**
 * the target-group attributes with a numeric range (inclusive), checked when modified (stored in
 * canonical form: 007 is 7); those of TARGET_GROUP_ATTRIBUTES_OFF take `off` too. Target group
 * health's counts: 1 to the maximum number of targets; its percentages 1-100 (ELBv2's
 * TargetGroupAttribute).
 */
export const TARGET_GROUP_ATTRIBUTE_RANGES: Readonly<Record<string, readonly [number, number]>> = {
  'deregistration_delay.timeout_seconds': [0, 3600],
  'target_health_state.unhealthy.draining_interval_seconds': [0, 360_000],
  'target_group_health.dns_failover.minimum_healthy_targets.count': [1, MAX_TARGETS_PER_TARGET_GROUP],
  'target_group_health.dns_failover.minimum_healthy_targets.percentage': [1, 100],
  'target_group_health.unhealthy_state_routing.minimum_healthy_targets.count': [1, MAX_TARGETS_PER_TARGET_GROUP],
  'target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage': [1, 100],
};
/** the ranged target-group attributes that also take `off` (unhealthy_state_routing's count does not) */
export const TARGET_GROUP_ATTRIBUTES_OFF: ReadonlySet<string> = new Set([
  'target_group_health.dns_failover.minimum_healthy_targets.count',
  'target_group_health.dns_failover.minimum_healthy_targets.percentage',
  'target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage',
]);

export const UNHEALTHY_TERMINATION = 'target_health_state.unhealthy.connection_termination.enabled';
export const UNHEALTHY_DRAINING = 'target_health_state.unhealthy.draining_interval_seconds';

/** what a target group does to the connections of a target that turns unhealthy (AWS's defaults: reset at once) */
export function unhealthyTerminationOf(tg: TargetGroup): UnhealthyTermination {
  const n = Number(tg.attributes[UNHEALTHY_DRAINING] ?? '0');
  return { enabled: tg.attributes[UNHEALTHY_TERMINATION] !== 'false', draining_interval_s: Number.isInteger(n) && n >= 0 ? n : 0 };
}

/** AWS's rule across the two attributes: a draining interval only with termination off; null when fine */
export function targetGroupAttributesProblem(attributes: Readonly<Record<string, string>>): string | null {
  const bad = unhealthyTerminationProblem({ enabled: attributes[UNHEALTHY_TERMINATION] !== 'false', draining_interval_s: Number(attributes[UNHEALTHY_DRAINING] ?? '0') });
  return bad && `attribute ${UNHEALTHY_DRAINING} ${bad.replace(/^draining_interval: /, '').replace('connection termination off (enabled: false)', `${UNHEALTHY_TERMINATION} false`)}`;
}

export interface TargetGroup {
  readonly id: string;
  readonly owner: string;
  readonly name: string;
  readonly protocol: 'TCP';
  readonly port: number;
  readonly vpc_id: string;
  readonly target_type: TargetType;
  readonly attributes: Readonly<Record<string, string>>;
  readonly health_check: HealthCheck;
  readonly targets: readonly Target[];
  /** deregistered targets whose connections still flow until the deregistration delay ends (until: ISO time) */
  readonly draining?: ReadonlyArray<Target & { readonly until: string }>;
  readonly tags: readonly Tag[];
  readonly created_at: string;
  readonly updated_at: string;
}

export const DEREGISTRATION_DELAY = 'deregistration_delay.timeout_seconds';
export const CROSS_ZONE = 'load_balancing.cross_zone.enabled';

/** a target group's deregistration delay in seconds (0-3600, default 300) */
/**
 * How long a deregistered target's live connections flow before they are cut (ms), as the data
 * plane's drain_ms: AWS cuts them at the delay's end only with `deregistration_delay.
 * connection_termination.enabled` true; false (its default) lets them flow until they end (-1)
 */
export function deregistrationDrainMs(tg: TargetGroup): number {
  return tg.attributes['deregistration_delay.connection_termination.enabled'] === 'true' ? deregistrationDelayOf(tg) * 1000 : -1;
}

export function deregistrationDelayOf(tg: TargetGroup): number {
  const n = Number(tg.attributes[DEREGISTRATION_DELAY] ?? '300');
  return Number.isInteger(n) && n >= 0 ? n : 300;
}

/** the targets of a target group still draining at AT (ms since the epoch) */
export function drainingTargets(tg: TargetGroup, at = Date.now()): ReadonlyArray<Target & { readonly until: string }> {
  return (tg.draining ?? []).filter((d) => Date.parse(d.until) > at);
}

/** whether a target group spreads over every zone: its own setting, else its load balancer's (default false, AWS's NLB default) */
export function crossZoneOf(lb: LoadBalancer, tg: TargetGroup): boolean {
  const own = tg.attributes[CROSS_ZONE];
  if (own === 'true' || own === 'false') return own === 'true';
  return lb.attributes[CROSS_ZONE] === 'true';
}

/** whether a target group's backends get the PROXY v2 header */
export function proxyProtocolOn(tg: TargetGroup): boolean {
  return tg.attributes[PROXY_PROTOCOL_V2] === 'true';
}

// ELBv2's creates are idempotent (ELBv2 API reference, CreateLoadBalancer: "If you attempt to
// create multiple load balancers with the same settings, each call succeeds"; CreateTargetGroup
// and CreateListener alike): what a create sets, compared between a second create and the resource
// that holds its name (a listener: its port). Tags are not compared: a second create answers the
// first's resource as it is.

/** a load balancer's settings: type, scheme, subnets (in any order), IP address type */
export function loadBalancerSettings(lb: LoadBalancer): unknown {
  return { type: lb.type, scheme: lb.scheme, subnets: [...lb.subnets].sort(), ip_address_type: lb.ip_address_type ?? 'ipv4' };
}

/** a target group's settings: protocol, port, VPC, target type, health check (AWS's defaults filling what the create left out) */
export function targetGroupSettings(tg: TargetGroup): unknown {
  return { protocol: tg.protocol, port: tg.port, vpc_id: tg.vpc_id, target_type: tg.target_type, health_check: tg.health_check };
}

/** a listener's settings (its load balancer aside): port, protocol, default action */
export function listenerSettings(l: Listener): unknown {
  return { port: l.port, protocol: l.protocol, target_group_id: l.target_group_id };
}

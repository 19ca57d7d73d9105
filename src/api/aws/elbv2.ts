// The ELBv2 actions (query protocol, results in <XResult>; aws-ec2-api.md §1.4, §2.4): network load
// balancers, target groups and their targets, TCP listeners, attributes, tags, and the reads
// Terraform makes on every refresh. The domain (src/control/load-balancers.ts) keeps ids; ARNs
// are rendered here from the owner's account id, the region, the name and the stored id.
import { zoneOfSubnet } from '../../model/zones.js';
import { availabilityZones, awsZone } from './ec2-base.js';
import type { ElbResourceRef, TagInput, TargetInput } from '../../model/commands.js';
import { DomainError } from '../../model/errors.js';
import { HEALTH_RANGES } from '../../model/health.js';
import { LISTENER_ATTRIBUTES, type HealthCheck, type Listener, type LoadBalancer, type TargetGroup } from '../../model/load-balancers.js';
import type { Tag } from '../../model/types.js';
import { isIpv4 } from '../../net/cidr.js';
import { AwsRequestError, type ActionTable, type AwsCall } from './actions.js';
import { checkTag, keyedPage } from './aws-render.js';
import { isElbName, listenerArn, loadBalancerArn, parseElbArn, targetGroupArn, type ElbArn } from './ids.js';
import type { QueryParams } from './query.js';
import type { XmlFields, XmlValue } from './xml.js';

const invalid = (message: string): AwsRequestError => new AwsRequestError('ValidationError', message);

// ---- ARNs <-> stored ids ---------------------------------------------------------------------

export function loadBalancerArnOf(call: AwsCall, lb: LoadBalancer): string {
  return loadBalancerArn(call.region, call.accountId, lb.name, lb.id);
}

function tgArn(call: AwsCall, tg: TargetGroup): string {
  return targetGroupArn(call.region, call.accountId, tg.name, tg.id);
}

function lsArn(call: AwsCall, lb: LoadBalancer, l: Listener): string {
  return listenerArn(call.region, call.accountId, lb.name, lb.id, l.id);
}

function parseArnOf<K extends ElbArn['kind']>(kind: K, arn: string, param: string): Extract<ElbArn, { kind: K }> {
  const a = parseElbArn(arn);
  if (!a || a.kind !== kind) throw invalid(`'${arn.slice(0, 200)}' is not a valid ${kind === 'loadbalancer' ? 'load balancer' : kind === 'targetgroup' ? 'target group' : 'listener'} ARN (${param})`);
  return a as Extract<ElbArn, { kind: K }>;
}

/** the caller's load balancer an ARN names: another account's, another region's or a stale name is not found */
export function loadBalancerOfArn(call: AwsCall, arn: string, param = 'LoadBalancerArn'): LoadBalancer {
  const a = parseArnOf('loadbalancer', arn, param);
  if (a.type !== 'net') throw new AwsRequestError('LoadBalancerNotFound', `load balancer '${arn}' not found: vpcep-sim has network load balancers only`);
  const lb = a.account === call.accountId && a.region === call.region ? call.control.listLoadBalancers(call.caller).find((x) => x.id === a.id) : undefined;
  if (!lb || lb.name !== a.name) throw new AwsRequestError('LoadBalancerNotFound', `load balancer '${arn}' not found`);
  return lb;
}

function targetGroupOfArn(call: AwsCall, arn: string, param = 'TargetGroupArn'): TargetGroup {
  const a = parseArnOf('targetgroup', arn, param);
  const tg = a.account === call.accountId && a.region === call.region ? call.control.listTargetGroups(call.caller).find((x) => x.id === a.id) : undefined;
  if (!tg || tg.name !== a.name) throw new AwsRequestError('TargetGroupNotFound', `target group '${arn}' not found`);
  return tg;
}

function listenerOfArn(call: AwsCall, arn: string, param = 'ListenerArn'): { lb: LoadBalancer; listener: Listener } {
  const a = parseArnOf('listener', arn, param);
  const lb = a.account === call.accountId && a.region === call.region ? call.control.listLoadBalancers(call.caller).find((x) => x.id === a.loadBalancerId) : undefined;
  const listener = lb?.name === a.loadBalancerName ? lb.listeners.find((l) => l.id === a.id) : undefined;
  if (!lb || !listener) throw new AwsRequestError('ListenerNotFound', `listener '${arn}' not found`);
  return { lb, listener };
}

// ---- shapes ----------------------------------------------------------------------------------

const tagsOut = (tags: readonly Tag[]): XmlValue => tags.map((t) => ({ Key: t.key, Value: t.value }));

/** a load balancer subnet's zone, as AWS names it */
function zoneOf(call: AwsCall, lb: LoadBalancer, subnetId: string): string {
  const subnet = call.control.vpcs(call.caller).find((v) => v.id === lb.vpc_id)?.subnets.find((x) => x.id === subnetId);
  return awsZone(call, subnet ? zoneOfSubnet(subnet, call.control.zones()) : call.control.zones()[0]!).name;
}

function loadBalancerOut(call: AwsCall, lb: LoadBalancer): XmlFields {
  return {
    LoadBalancerArn: loadBalancerArnOf(call, lb),
    DNSName: lb.dns_name,
    CanonicalHostedZoneId: 'Z26RNL4JYFTOTI',
    CreatedTime: lb.created_at,
    LoadBalancerName: lb.name,
    Scheme: lb.scheme,
    VpcId: lb.vpc_id,
    State: { Code: lb.state },
    Type: lb.type,
    AvailabilityZones: lb.subnets.map((s) => ({ ZoneName: zoneOf(call, lb, s), SubnetId: s, LoadBalancerAddresses: [] })),
    IpAddressType: lb.ip_address_type ?? 'ipv4',
  };
}

function targetGroupOut(call: AwsCall, tg: TargetGroup): XmlFields {
  const h: HealthCheck = tg.health_check;
  return {
    TargetGroupArn: tgArn(call, tg),
    TargetGroupName: tg.name,
    Protocol: tg.protocol,
    Port: tg.port,
    VpcId: tg.vpc_id,
    HealthCheckProtocol: h.protocol,
    HealthCheckPort: h.port,
    HealthCheckEnabled: h.enabled,
    HealthCheckIntervalSeconds: h.interval_seconds,
    HealthCheckTimeoutSeconds: h.timeout_seconds,
    HealthyThresholdCount: h.healthy_threshold,
    UnhealthyThresholdCount: h.unhealthy_threshold,
    HealthCheckPath: h.path,
    Matcher: h.matcher === undefined ? undefined : { HttpCode: h.matcher },
    LoadBalancerArns: call.control.loadBalancersOfTargetGroup(tg.id).map((lb) => loadBalancerArnOf(call, lb)),
    TargetType: tg.target_type,
    IpAddressType: 'ipv4',
  };
}

function listenerOut(call: AwsCall, lb: LoadBalancer, l: Listener): XmlFields {
  const tg = call.control.listTargetGroups(call.caller).find((x) => x.id === l.target_group_id);
  const target = tg ? tgArn(call, tg) : undefined;
  return {
    ListenerArn: lsArn(call, lb, l),
    LoadBalancerArn: loadBalancerArnOf(call, lb),
    Port: l.port,
    Protocol: l.protocol,
    DefaultActions: [{
      Type: 'forward',
      TargetGroupArn: target,
      ForwardConfig: { TargetGroups: [{ TargetGroupArn: target, Weight: 1 }], TargetGroupStickinessConfig: { Enabled: false } },
    }],
  };
}

const attributesOut = (attrs: Readonly<Record<string, string>>): XmlValue => Object.entries(attrs).map(([Key, Value]) => ({ Key, Value }));

// ---- reading parameters ----------------------------------------------------------------------

function name(p: QueryParams, param: string): string {
  const n = p.requiredString(param);
  if (!isElbName(n)) throw invalid(`${param} '${n.slice(0, 64)}' must have 1-32 letters, digits and hyphens, no hyphen first or last, and not start with internal-`);
  return n;
}

function port(p: QueryParams, param: string, required: boolean): number | undefined {
  const v = p.int(param, { min: 1, max: 65535 });
  if (v === undefined && required) throw new AwsRequestError('ValidationError', `${param} is required`);
  return v;
}

/** `Tags.member.N`, each checked as AWS checks a tag (ValidationError) */
function tagsIn(p: QueryParams): TagInput[] {
  return p.tags('Tags').map((t) => {
    checkTag(t.key, t.value, true, invalid);
    return { key: t.key, value: t.value };
  });
}

function attributesIn(p: QueryParams): Array<{ key: string; value: string }> {
  const list = p.structList('Attributes').map((a) => ({ key: a.requiredString('Key'), value: a.string('Value') ?? '' }));
  if (list.length === 0) throw invalid('Attributes must name at least one attribute');
  return list;
}

function targetsIn(call: AwsCall): TargetInput[] {
  const zones = new Set(['all', ...availabilityZones(call).map((z) => z.name)]);
  const list = call.params.structList('Targets').map((t) => {
    // taken as given but checked: a zone of the region, or all (a target outside the VPC)
    const zone = t.string('AvailabilityZone');
    if (zone !== undefined && !zones.has(zone)) throw invalid(`The Availability Zone '${zone.slice(0, 64)}' is not valid: ${[...zones].join(', ')}`);
    return { id: t.requiredString('Id'), port: t.int('Port', { min: 1, max: 65535 }), ...(zone !== undefined ? { zone } : {}) };
  });
  if (list.length === 0) throw invalid('Targets must name at least one target');
  return list;
}

/** the health-check parameters given (ranges as AWS's; protocol, port and enabled checked by the domain) */
function healthCheckIn(p: QueryParams): Partial<HealthCheck> {
  const range = (k: keyof typeof HEALTH_RANGES) => ({ min: HEALTH_RANGES[k][0], max: HEALTH_RANGES[k][1] });
  const hc: Partial<HealthCheck> = {
    protocol: p.string('HealthCheckProtocol'),
    port: p.string('HealthCheckPort'),
    enabled: p.bool('HealthCheckEnabled'),
    interval_seconds: p.int('HealthCheckIntervalSeconds', range('interval_s')),
    timeout_seconds: p.int('HealthCheckTimeoutSeconds', range('timeout_s')),
    healthy_threshold: p.int('HealthyThresholdCount', range('healthy_threshold')),
    unhealthy_threshold: p.int('UnhealthyThresholdCount', range('unhealthy_threshold')),
    path: p.string('HealthCheckPath'),
    matcher: p.string('Matcher.HttpCode') ?? p.string('Matcher.GrpcCode'),
  };
  return Object.fromEntries(Object.entries(hc).filter(([, v]) => v !== undefined));
}

/**
 * PageSize 1-400; Marker opaque, the key of the last item of the page before (EC2's NextToken,
 * aws-render.ts keyedPage): items deleted between two pages skip nothing. KEY orders the items;
 * `byPosition` keeps the order a request's own list of ARNs or names gave.
 */
function page<T>(p: QueryParams, items: readonly T[], key: (item: T, index: number) => string): { items: readonly T[]; next: string | undefined } {
  const size = p.int('PageSize', { min: 1, max: 400 }) ?? 400;
  const marker = p.string('Marker');
  const notValid = (m: string) => invalid(`Marker '${m.slice(0, 40)}' is not valid`);
  if (marker === '') throw notValid(marker);
  return keyedPage(items, key, p.action, marker, size, notValid);
}

const byPosition = (_: unknown, index: number): string => String(index).padStart(9, '0');
const byCreationKey = (x: { created_at: string; id: string }): string => `${x.created_at} ${x.id}`;

/** the items NAMES asks for, in its order; a name of none: the NotFound code */
function byNames<T extends { name: string }>(list: readonly T[], names: readonly string[], code: string, what: string): T[] {
  return names.map((n) => {
    const x = list.find((y) => y.name === n);
    if (!x) throw new AwsRequestError(code, `${what} '${n.slice(0, 64)}' not found`);
    return x;
  });
}

// ---- load balancers --------------------------------------------------------------------------

/** Subnets.member.N and SubnetMappings.member.N.SubnetId: at least one */
/** `Subnets` or `SubnetMappings` (not both, as AWS); a mapping's PrivateIPv4Address is taken, not simulated, and must be an IPv4 address */
function subnetsIn(p: QueryParams): string[] {
  const mappings = p.structList('SubnetMappings');
  const listed = p.stringList('Subnets');
  if (listed.length && mappings.length) throw invalid('give either Subnets or SubnetMappings, not both');
  mappings.forEach((m, i) => {
    const ip = m.string('PrivateIPv4Address');
    if (ip !== undefined && !isIpv4(ip)) throw invalid(`SubnetMappings.member.${i + 1}.PrivateIPv4Address '${ip.slice(0, 40)}' is not an IPv4 address`);
  });
  const subnets = [...listed, ...mappings.map((m) => m.requiredString('SubnetId'))];
  if (subnets.length === 0) throw invalid('a network load balancer needs Subnets or SubnetMappings');
  return subnets;
}

async function createLoadBalancer(call: AwsCall): Promise<XmlFields> {
  const p = call.params;
  const subnets = subnetsIn(p);
  const lb = await call.control.createLoadBalancer(call.caller, {
    name: name(p, 'Name'),
    // AWS's defaults: an application load balancer, internet-facing
    type: p.string('Type') ?? 'application',
    scheme: p.string('Scheme') ?? 'internet-facing',
    subnets,
    ipAddressType: p.string('IpAddressType'),
    dnsSuffix: `elb.${call.region}.amazonaws.com`,
    tags: tagsIn(p),
  });
  return { LoadBalancers: [loadBalancerOut(call, lb)] };
}

function describeLoadBalancers(call: AwsCall): XmlFields {
  const p = call.params;
  const arns = p.stringList('LoadBalancerArns');
  const names = p.stringList('Names');
  if (arns.length && names.length) throw invalid('LoadBalancerArns and Names cannot be given together');
  // the ELBv2 API reference: up to 20 load balancers in a single call
  if (arns.length > 20 || names.length > 20) throw invalid(`${arns.length ? 'LoadBalancerArns' : 'Names'} names at most 20 load balancers`);
  let list = call.control.listLoadBalancers(call.caller);
  if (arns.length) list = arns.map((a) => loadBalancerOfArn(call, a, 'LoadBalancerArns'));
  if (names.length) list = byNames(list, names, 'LoadBalancerNotFound', 'load balancer');
  const { items, next } = page(p, list, arns.length || names.length ? byPosition : byCreationKey);
  return { LoadBalancers: items.map((lb) => loadBalancerOut(call, lb)), NextMarker: next };
}

/** a load balancer that does not exist (any more) is no error, as AWS documents */
async function deleteLoadBalancer(call: AwsCall): Promise<XmlFields> {
  const arn = call.params.requiredString('LoadBalancerArn');
  let lb: LoadBalancer;
  try {
    lb = loadBalancerOfArn(call, arn);
  } catch (err) {
    if (err instanceof AwsRequestError && err.code === 'LoadBalancerNotFound') return {};
    throw err;
  }
  await call.control.deleteLoadBalancer(call.caller, lb.id).catch((err: unknown) => {
    // AWS's message names the ARN, which only the dialect renders
    if (err instanceof DomainError && err.name === 'DeletionProtected') {
      throw new DomainError('DeletionProtected', `Load balancer '${loadBalancerArnOf(call, lb)}' cannot be deleted because deletion protection is enabled`);
    }
    throw err;
  });
  return {};
}

/** SetSubnets: the zones it is in from now on, one subnet each (AWS: two of one zone are InvalidConfigurationRequest) */
async function setSubnets(call: AwsCall): Promise<XmlFields> {
  const lb = loadBalancerOfArn(call, call.params.requiredString('LoadBalancerArn'));
  const next = await call.control.setLoadBalancerSubnets(call.caller, lb.id, subnetsIn(call.params));
  const out = loadBalancerOut(call, next);
  return { AvailabilityZones: out.AvailabilityZones, IpAddressType: out.IpAddressType };
}

function describeLoadBalancerAttributes(call: AwsCall): XmlFields {
  const lb = loadBalancerOfArn(call, call.params.requiredString('LoadBalancerArn'));
  return { Attributes: attributesOut(lb.attributes) };
}

async function modifyLoadBalancerAttributes(call: AwsCall): Promise<XmlFields> {
  const lb = loadBalancerOfArn(call, call.params.requiredString('LoadBalancerArn'));
  const next = await call.control.modifyLoadBalancerAttributes(call.caller, lb.id, attributesIn(call.params));
  return { Attributes: attributesOut(next.attributes) };
}

/** Terraform reads it on every refresh of an aws_lb: no capacity reservation, none pending */
function describeCapacityReservation(call: AwsCall): XmlFields {
  loadBalancerOfArn(call, call.params.requiredString('LoadBalancerArn'));
  return { DecreaseRequestsRemaining: 3, CapacityReservationState: [] };
}

// ---- target groups and targets ---------------------------------------------------------------

async function createTargetGroup(call: AwsCall): Promise<XmlFields> {
  const p = call.params;
  const targetType = p.string('TargetType') ?? 'instance';
  const tg = await call.control.createTargetGroup(call.caller, {
    name: name(p, 'Name'),
    protocol: p.string('Protocol') ?? 'TCP',
    port: port(p, 'Port', true)!,
    vpcId: p.requiredString('VpcId'),
    targetType,
    healthCheck: healthCheckIn(p),
    tags: tagsIn(p),
  });
  return { TargetGroups: [targetGroupOut(call, tg)] };
}

/** ModifyTargetGroup: the health check's settings (the domain checks them together, AWS's ranges) */
async function modifyTargetGroup(call: AwsCall): Promise<XmlFields> {
  const tg = targetGroupOfArn(call, call.params.requiredString('TargetGroupArn'));
  const next = await call.control.modifyTargetGroup(call.caller, tg.id, healthCheckIn(call.params));
  return { TargetGroups: [targetGroupOut(call, next)] };
}

function describeTargetGroups(call: AwsCall): XmlFields {
  const p = call.params;
  const arns = p.stringList('TargetGroupArns');
  const names = p.stringList('Names');
  const lbArnParam = p.string('LoadBalancerArn');
  // ELBv2 API reference, DescribeTargetGroups: a load balancer ARN, target group ARNs or names, one of them
  const given = [lbArnParam !== undefined && 'LoadBalancerArn', arns.length > 0 && 'TargetGroupArns', names.length > 0 && 'Names'].filter(Boolean);
  if (given.length > 1) throw invalid(`${given.join(', ')} cannot be given together`);
  let list = call.control.listTargetGroups(call.caller);
  if (lbArnParam !== undefined) {
    const lb = loadBalancerOfArn(call, lbArnParam);
    const used = new Set(lb.listeners.map((l) => l.target_group_id));
    list = list.filter((tg) => used.has(tg.id));
  }
  if (arns.length) list = arns.map((a) => targetGroupOfArn(call, a, 'TargetGroupArns'));
  if (names.length) list = byNames(list, names, 'TargetGroupNotFound', 'target group');
  const { items, next } = page(p, list, arns.length || names.length ? byPosition : byCreationKey);
  return { TargetGroups: items.map((tg) => targetGroupOut(call, tg)), NextMarker: next };
}

async function deleteTargetGroup(call: AwsCall): Promise<XmlFields> {
  const tg = targetGroupOfArn(call, call.params.requiredString('TargetGroupArn'));
  await call.control.deleteTargetGroup(call.caller, tg.id);
  return {};
}

function describeTargetGroupAttributes(call: AwsCall): XmlFields {
  return { Attributes: attributesOut(targetGroupOfArn(call, call.params.requiredString('TargetGroupArn')).attributes) };
}

async function modifyTargetGroupAttributes(call: AwsCall): Promise<XmlFields> {
  const tg = targetGroupOfArn(call, call.params.requiredString('TargetGroupArn'));
  const next = await call.control.modifyTargetGroupAttributes(call.caller, tg.id, attributesIn(call.params));
  return { Attributes: attributesOut(next.attributes) };
}

async function registerTargets(call: AwsCall): Promise<XmlFields> {
  const tg = targetGroupOfArn(call, call.params.requiredString('TargetGroupArn'));
  await call.control.registerTargets(call.caller, tg.id, targetsIn(call));
  return {};
}

async function deregisterTargets(call: AwsCall): Promise<XmlFields> {
  const tg = targetGroupOfArn(call, call.params.requiredString('TargetGroupArn'));
  await call.control.deregisterTargets(call.caller, tg.id, targetsIn(call));
  return {};
}

/**
 * Each target's state from the data plane's health checks (src/control/target-health.ts):
 * initial, healthy, unhealthy, draining after a deregistration, unused when not registered or not
 * in use (or not probed yet: no endpoint relays to it), with AWS's reasons and descriptions.
 */
function describeTargetHealth(call: AwsCall): XmlFields {
  const p = call.params;
  const tg = targetGroupOfArn(call, p.requiredString('TargetGroupArn'));
  const asked = p.structList('Targets').map((t) => ({ id: t.requiredString('Id'), port: t.int('Port', { min: 1, max: 65535 }) }));
  return {
    TargetHealthDescriptions: call.control.targetHealth(call.caller, tg.id, asked).map((r) => ({
      Target: { Id: r.id, Port: r.port, AvailabilityZone: r.zone === null ? 'all' : awsZone(call, r.zone).name },
      HealthCheckPort: tg.health_check.port === 'traffic-port' ? String(r.port) : tg.health_check.port,
      TargetHealth: r.reason === null ? { State: r.state } : { State: r.state, Reason: r.reason, Description: r.description ?? undefined },
    })),
  };
}

// ---- listeners -------------------------------------------------------------------------------

/** `DefaultActions`: one forward to one target group (named once or twice, as a ForwardConfig repeats it); undefined when not given */
function forwardTargetGroup(call: AwsCall, required: boolean): TargetGroup | undefined {
  const actions = call.params.structList('DefaultActions');
  if (actions.length === 0 && !required) return undefined;
  if (actions.length !== 1) throw invalid('a listener of vpcep-sim has exactly one default action: forward to one target group');
  const a = actions[0]!;
  const type = a.requiredString('Type');
  if (type !== 'forward') throw new AwsRequestError('ValidationError', `default action type ${type.slice(0, 40)}: vpcep-sim's listeners forward only`);
  const forward = a.struct('ForwardConfig')?.structList('TargetGroups').map((t) => t.requiredString('TargetGroupArn')) ?? [];
  const arns = [...new Set([...(a.string('TargetGroupArn') ? [a.string('TargetGroupArn')!] : []), ...forward])];
  if (arns.length !== 1) throw invalid('the forward action must name exactly one target group');
  return targetGroupOfArn(call, arns[0]!, 'DefaultActions.member.1.TargetGroupArn');
}

/** TargetGroupAssociationLimit as AWS words it, naming the target group's ARN (which only the dialect renders) */
function withTargetGroupArn(call: AwsCall, tg: TargetGroup | undefined): (err: unknown) => never {
  return (err) => {
    if (tg !== undefined && err instanceof DomainError && err.name === 'TargetGroupAssociationLimit') {
      throw new DomainError('TargetGroupAssociationLimit', `The following target groups cannot be associated with more than one load balancer: ${tgArn(call, tg)}`);
    }
    throw err;
  };
}

async function createListener(call: AwsCall): Promise<XmlFields> {
  const p = call.params;
  const lb = loadBalancerOfArn(call, p.requiredString('LoadBalancerArn'));
  const tg = forwardTargetGroup(call, true)!;
  const { lb: next, listener } = await call.control.createListener(call.caller, {
    loadBalancerId: lb.id, protocol: p.string('Protocol') ?? 'TCP', port: port(p, 'Port', true)!, targetGroupId: tg.id, tags: tagsIn(p),
  }).catch(withTargetGroupArn(call, tg));
  return { Listeners: [listenerOut(call, next, listener)] };
}

/** Port, Protocol and DefaultActions given replace the listener's (AlpnPolicy taken and ignored, as on create) */
async function modifyListener(call: AwsCall): Promise<XmlFields> {
  const p = call.params;
  const { listener } = listenerOfArn(call, p.requiredString('ListenerArn'));
  const tg = forwardTargetGroup(call, false);
  const { lb, listener: next } = await call.control.modifyListener(call.caller, listener.id, {
    port: port(p, 'Port', false), protocol: p.string('Protocol'), targetGroupId: tg?.id,
  }).catch(withTargetGroupArn(call, tg));
  return { Listeners: [listenerOut(call, lb, next)] };
}

function describeListeners(call: AwsCall): XmlFields {
  const p = call.params;
  const arns = p.stringList('ListenerArns');
  const lbArnParam = p.string('LoadBalancerArn');
  if (!arns.length && lbArnParam === undefined) throw invalid('LoadBalancerArn or ListenerArns is required');
  const list = arns.length
    ? arns.map((a) => listenerOfArn(call, a, 'ListenerArns'))
    : (() => {
      const lb = loadBalancerOfArn(call, lbArnParam!);
      return lb.listeners.map((listener) => ({ lb, listener }));
    })();
  // a listener's port is its own in its load balancer
  const { items, next } = page(p, list, arns.length ? byPosition : (x) => String(x.listener.port).padStart(5, '0'));
  return { Listeners: items.map((x) => listenerOut(call, x.lb, x.listener)), NextMarker: next };
}

async function deleteListener(call: AwsCall): Promise<XmlFields> {
  const { listener } = listenerOfArn(call, call.params.requiredString('ListenerArn'));
  await call.control.deleteListener(call.caller, listener.id);
  return {};
}

/** a TCP listener of a network load balancer has one attribute */
function describeListenerAttributes(call: AwsCall): XmlFields {
  const { listener } = listenerOfArn(call, call.params.requiredString('ListenerArn'));
  return { Attributes: attributesOut({ ...LISTENER_ATTRIBUTES, ...listener.attributes }) };
}

async function modifyListenerAttributes(call: AwsCall): Promise<XmlFields> {
  const { listener } = listenerOfArn(call, call.params.requiredString('ListenerArn'));
  const next = await call.control.modifyListenerAttributes(call.caller, listener.id, attributesIn(call.params));
  return { Attributes: attributesOut({ ...LISTENER_ATTRIBUTES, ...next.attributes }) };
}

// ---- tags ------------------------------------------------------------------------------------

interface Tagged { readonly ref: ElbResourceRef; readonly tags: readonly Tag[] }

function taggedOfArn(call: AwsCall, arn: string): Tagged {
  const kind = parseElbArn(arn)?.kind;
  if (kind === 'targetgroup') {
    const tg = targetGroupOfArn(call, arn, 'ResourceArns');
    return { ref: { kind: 'targetgroup', id: tg.id }, tags: tg.tags };
  }
  if (kind === 'listener') {
    const { lb, listener } = listenerOfArn(call, arn, 'ResourceArns');
    return { ref: { kind: 'listener', loadBalancerId: lb.id, id: listener.id }, tags: listener.tags };
  }
  if (kind === 'loadbalancer') {
    const lb = loadBalancerOfArn(call, arn, 'ResourceArns');
    return { ref: { kind: 'loadbalancer', id: lb.id }, tags: lb.tags };
  }
  throw invalid(`'${arn.slice(0, 200)}' is not a valid load balancer, target group or listener ARN`);
}

function resourceArns(p: QueryParams): string[] {
  const arns = p.stringList('ResourceArns');
  if (arns.length === 0) throw invalid('ResourceArns must name at least one resource');
  if (arns.length > 20) throw invalid('ResourceArns names at most 20 resources');
  return arns;
}

async function addTags(call: AwsCall): Promise<XmlFields> {
  const refs = resourceArns(call.params).map((a) => taggedOfArn(call, a).ref);
  const tags = tagsIn(call.params);
  if (tags.length === 0) throw invalid('Tags must name at least one tag');
  for (const ref of refs) await call.control.tagElb(call.caller, ref, 'create', tags);
  return {};
}

async function removeTags(call: AwsCall): Promise<XmlFields> {
  const refs = resourceArns(call.params).map((a) => taggedOfArn(call, a).ref);
  const keys = call.params.stringList('TagKeys');
  if (keys.length === 0) throw invalid('TagKeys must name at least one key');
  for (const ref of refs) await call.control.tagElb(call.caller, ref, 'delete', keys.map((key) => ({ key })));
  return {};
}

function describeTags(call: AwsCall): XmlFields {
  return { TagDescriptions: resourceArns(call.params).map((arn) => ({ ResourceArn: arn, Tags: tagsOut(taggedOfArn(call, arn).tags) })) };
}

export const ELBV2_LOAD_BALANCER_ACTIONS: ActionTable = {
  CreateLoadBalancer: createLoadBalancer,
  DescribeLoadBalancers: describeLoadBalancers,
  DeleteLoadBalancer: deleteLoadBalancer,
  SetSubnets: setSubnets,
  DescribeLoadBalancerAttributes: describeLoadBalancerAttributes,
  ModifyLoadBalancerAttributes: modifyLoadBalancerAttributes,
  DescribeCapacityReservation: describeCapacityReservation,
  CreateTargetGroup: createTargetGroup,
  DescribeTargetGroups: describeTargetGroups,
  ModifyTargetGroup: modifyTargetGroup,
  DeleteTargetGroup: deleteTargetGroup,
  DescribeTargetGroupAttributes: describeTargetGroupAttributes,
  ModifyTargetGroupAttributes: modifyTargetGroupAttributes,
  RegisterTargets: registerTargets,
  DeregisterTargets: deregisterTargets,
  DescribeTargetHealth: describeTargetHealth,
  CreateListener: createListener,
  ModifyListener: modifyListener,
  DescribeListeners: describeListeners,
  DeleteListener: deleteListener,
  DescribeListenerAttributes: describeListenerAttributes,
  ModifyListenerAttributes: modifyListenerAttributes,
  AddTags: addTags,
  RemoveTags: removeTags,
  DescribeTags: describeTags,
};

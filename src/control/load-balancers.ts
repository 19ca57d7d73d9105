// The provider's load-balancer requests (issue 12, "ELBv2"): network load balancers in subnets of
// one VPC, target groups and their targets, TCP listeners, attributes and tags. A change that
// moves a service's backend (a listener, a target, proxy_protocol_v2) reaches the live endpoints
// of every service the load balancer backs before the caller gets an answer.
import { randomBytes } from 'node:crypto';
import { DEFAULTS } from '../model/defaults.js';
import type {
  CreateListenerCommand, CreateLoadBalancerCommand, CreateTargetGroupCommand, ElbResourceRef, ModifyListenerCommand, TagInput, TargetInput,
} from '../model/commands.js';
import { DomainError } from '../model/errors.js';
import {
  DEFAULT_HEALTH_CHECK, deregistrationDelayOf, drainingTargets, healthCheckProblem, IP_ADDRESS_TYPES, LISTENER_ATTRIBUTE_RANGES, LISTENER_ATTRIBUTES, LOAD_BALANCER_ATTRIBUTE_CHOICES, LOAD_BALANCER_ATTRIBUTES, TARGET_GROUP_ATTRIBUTE_CHOICES, TARGET_GROUP_ATTRIBUTE_RANGES, TARGET_GROUP_ATTRIBUTES, TARGET_GROUP_ATTRIBUTES_OFF, targetGroupAttributeDefaults, targetGroupAttributesProblem,
  listenerSettings, loadBalancerSettings, targetGroupSettings, type HealthCheck, type IpAddressType, type Listener, type LoadBalancer, type Target, type TargetGroup,
} from '../model/load-balancers.js';
import { applyTags, sameSettings } from '../model/rules.js';
import { LIVE_ENDPOINT_STATUSES, type Account, type EndpointService, type Tag, type Vpc } from '../model/types.js';
import { cidrContains, cidrOf, ipToInt, isIpv4, isUnicastHost } from '../net/cidr.js';
import type { Change } from '../store/store.js';
import { loadBalancedShape, subnetZone } from './lb-backends.js';
import { inVpc } from './network.js';
import { now, type ControlState } from './state.js';
import { pushEndpoint, pushProbes } from './transitions.js';

/** the 16 hex digits that end an ELBv2 ARN */
const newElbId = (): string => randomBytes(8).toString('hex');

// ---- lookups (another account's resource does not exist for the caller) ----------------------

export function ownLoadBalancer(st: ControlState, caller: Account, id: string): LoadBalancer {
  const lb = st.loadBalancers.get(id);
  if (!lb || lb.owner !== caller.name) throw new DomainError('LoadBalancerNotFound', `load balancer ${id} does not exist`);
  return lb;
}

export function ownTargetGroup(st: ControlState, caller: Account, id: string): TargetGroup {
  const tg = st.targetGroups.get(id);
  if (!tg || tg.owner !== caller.name) throw new DomainError('TargetGroupNotFound', `target group ${id} does not exist`);
  return tg;
}

export function ownListener(st: ControlState, caller: Account, id: string): { lb: LoadBalancer; listener: Listener } {
  for (const lb of st.loadBalancers.values()) {
    if (lb.owner !== caller.name) continue;
    const listener = lb.listeners.find((l) => l.id === id);
    if (listener) return { lb, listener };
  }
  throw new DomainError('ListenerNotFound', `listener ${id} does not exist`);
}

/** the services a load balancer backs */
export function servicesOf(st: ControlState, lbId: string): EndpointService[] {
  return [...st.services.values()].filter((s) => s.load_balancers?.includes(lbId));
}

// ---- load balancers --------------------------------------------------------------------------

export async function createLoadBalancer(st: ControlState, caller: Account, cmd: CreateLoadBalancerCommand): Promise<LoadBalancer> {
  return st.serial(async () => {
    if (cmd.type !== 'network') {
      throw new DomainError('Unsupported', `load balancer type ${cmd.type}: vpcep-sim simulates network load balancers only (type network)`);
    }
    if (cmd.scheme !== 'internal' && cmd.scheme !== 'internet-facing') throw new DomainError('InvalidParameter', `scheme ${cmd.scheme}: internal or internet-facing`);
    if (cmd.subnets.length === 0) throw new DomainError('InvalidParameter', 'a network load balancer needs at least one subnet');
    let vpcId: string | null = null;
    for (const sid of cmd.subnets) {
      const vpc = [...st.vpcs.values()].find((v) => v.account === caller.name && v.subnets.some((n) => n.id === sid));
      if (!vpc) throw new DomainError('SubnetNotFound', `subnet ${sid} does not exist`);
      if (vpcId !== null && vpc.id !== vpcId) throw new DomainError('InvalidSubnetId', `subnets ${cmd.subnets.join(', ')} are not all in one VPC`);
      vpcId = vpc.id;
    }
    if (new Set(cmd.subnets).size !== cmd.subnets.length) throw new DomainError('InvalidSubnetId', 'a subnet appears twice');
    checkOneSubnetPerZone(st, st.vpcs.get(vpcId!)!, cmd.subnets);
    const ipAddressType = cmd.ipAddressType ?? 'ipv4';
    if (!(IP_ADDRESS_TYPES as readonly string[]).includes(ipAddressType)) {
      throw new DomainError('InvalidParameter', `IP address type ${ipAddressType.slice(0, 40)}: ${IP_ADDRESS_TYPES.join(', ')}`);
    }
    const id = newElbId();
    const t = now();
    const lb: LoadBalancer = {
      id, owner: caller.name, name: cmd.name, type: 'network', scheme: cmd.scheme, vpc_id: vpcId!, subnets: [...cmd.subnets],
      ...(ipAddressType !== 'ipv4' ? { ip_address_type: ipAddressType as IpAddressType } : {}),
      state: 'active', dns_name: `${cmd.name}-${id}.${cmd.dnsSuffix}`, attributes: { ...LOAD_BALANCER_ATTRIBUTES },
      listeners: [], tags: applyTags([], 'create', cmd.tags ?? [], DEFAULTS.limits.elbTagsPerResource), created_at: t, updated_at: t,
    };
    // idempotent: the same settings answer the load balancer of that name, unchanged
    const named = [...st.loadBalancers.values()].find((x) => x.owner === caller.name && x.name === cmd.name);
    if (named) return sameSettings(named, lb, loadBalancerSettings, () => new DomainError('DuplicateLoadBalancerName', `a load balancer named ${cmd.name} exists with other settings`));
    await st.commit([{ kind: 'loadbalancer', id, value: lb }, ...inVpc(st.vpcs.get(vpcId!)!)], () => st.loadBalancers.set(id, lb));
    return lb;
  });
}

/** AWS: "A load balancer cannot be attached to multiple subnets in the same Availability Zone" (ZoneTaken) */
function checkOneSubnetPerZone(st: ControlState, vpc: Vpc, subnets: readonly string[]): void {
  const seen = new Map<string, string>();
  for (const id of subnets) {
    const zone = subnetZone(st, vpc, id);
    if (zone === null) continue;
    const other = seen.get(zone);
    if (other !== undefined) {
      throw new DomainError('ZoneTaken', `A load balancer cannot be attached to multiple subnets in the same Availability Zone: subnets ${other} and ${id} are both in zone ${zone}`);
    }
    seen.set(zone, id);
  }
}

/**
 * SetSubnets: the subnets (zones) it is in from now on, each of its VPC, one per zone. Its
 * services' zones follow (a new ENI must be in one of them); an endpoint's ENI in a zone it leaves
 * stays, its flows failing over to the other zones' targets (README "Zones").
 */
export async function setLoadBalancerSubnets(st: ControlState, caller: Account, id: string, subnets: readonly string[]): Promise<LoadBalancer> {
  const lb = await st.serial(async () => {
    const lb = ownLoadBalancer(st, caller, id);
    if (subnets.length === 0) throw new DomainError('InvalidParameter', 'a network load balancer needs at least one subnet');
    const vpc = st.vpcs.get(lb.vpc_id)!;
    for (const sid of subnets) {
      if (!vpc.subnets.some((n) => n.id === sid)) throw new DomainError('SubnetNotFound', `subnet ${sid} does not exist in VPC ${lb.vpc_id}, the load balancer's`);
    }
    if (new Set(subnets).size !== subnets.length) throw new DomainError('InvalidSubnetId', 'a subnet appears twice');
    checkOneSubnetPerZone(st, vpc, subnets);
    const next: LoadBalancer = { ...lb, subnets: [...subnets], updated_at: now() };
    await st.commit([{ kind: 'loadbalancer', id, value: next }, ...inVpc(vpc)], () => st.loadBalancers.set(id, next));
    return next;
  });
  // the targets of the zones it left get no new connection (theirs drain), those of the zones it joined take flows
  await pushServices(st, [id]);
  return lb;
}

/** its listeners go with it; refused while an endpoint service uses it (ResourceInUse) or deletion protection is on (DeletionProtected) */
export async function deleteLoadBalancer(st: ControlState, caller: Account, id: string): Promise<void> {
  await st.serial(async () => {
    const lb = ownLoadBalancer(st, caller, id);
    const users = servicesOf(st, id);
    if (users.length) throw new DomainError('DependencyViolation', `load balancer ${lb.name} is the backend of endpoint service ${users[0]!.id}`);
    if (lb.attributes['deletion_protection.enabled'] === 'true') {
      throw new DomainError('DeletionProtected', `load balancer ${lb.name} cannot be deleted because deletion protection is enabled`);
    }
    await st.commit([{ kind: 'loadbalancer', id, value: null }], () => st.loadBalancers.delete(id));
  });
  // its listeners' targets are probed no more (unless another listener forwards to them)
  await pushProbes(st);
}

/**
 * the attributes it knows (the AWS defaults); an unknown key, a bad boolean, a value not among a
 * key's `choices` or outside its range: InvalidParameter, nothing changes
 */
function nextAttributes(
  current: Readonly<Record<string, string>>, known: Readonly<Record<string, string>>, changes: ReadonlyArray<{ key: string; value: string }>,
  o: { ranges?: Readonly<Record<string, readonly [number, number]>>; off?: ReadonlySet<string>; choices?: Readonly<Record<string, readonly string[]>> } = {},
): Record<string, string> {
  const { ranges = {}, off = new Set<string>(), choices = {} } = o;
  const out = { ...current };
  for (const { key, value } of changes) {
    // own keys only: `constructor` or `toString` is `in` every object, and its range was a function
    if (!Object.hasOwn(known, key)) throw new DomainError('InvalidParameter', `attribute key ${key} is not recognized; known: ${Object.keys(known).join(', ')}`);
    const allowed = Object.hasOwn(choices, key) ? choices[key]! : key.endsWith('.enabled') ? ['true', 'false'] : undefined;
    if (allowed && !allowed.includes(value)) {
      throw new DomainError('InvalidParameter', `attribute ${key} must be ${allowed.length === 2 ? allowed.join(' or ') : `one of ${allowed.join(', ')}`}, not ${value.slice(0, 40)}`);
    }
    const range = Object.hasOwn(ranges, key) ? ranges[key] : undefined;
    if (range && off.has(key) && value === 'off') {
      out[key] = value;
      continue;
    }
    if (range && !(/^\d{1,10}$/.test(value) && Number(value) >= range[0] && Number(value) <= range[1])) {
      throw new DomainError('InvalidParameter', `attribute ${key} must be ${off.has(key) ? 'off or ' : ''}an integer from ${range[0]} to ${range[1]}, not ${value.slice(0, 40)}`);
    }
    // an integer in its canonical form (007 is stored and shown as 7)
    out[key] = range ? String(Number(value)) : value;
  }
  return out;
}

/** load_balancing.cross_zone.enabled reaches the live endpoints of its service before the answer */
export async function modifyLoadBalancerAttributes(st: ControlState, caller: Account, id: string, changes: ReadonlyArray<{ key: string; value: string }>): Promise<LoadBalancer> {
  const lb = await st.serial(async () => {
    const lb = ownLoadBalancer(st, caller, id);
    const next = { ...lb, attributes: nextAttributes(lb.attributes, LOAD_BALANCER_ATTRIBUTES, changes, { choices: LOAD_BALANCER_ATTRIBUTE_CHOICES }), updated_at: now() };
    await st.commit([{ kind: 'loadbalancer', id, value: next }], () => st.loadBalancers.set(id, next));
    return next;
  });
  await pushServices(st, [id]);
  return lb;
}

// ---- target groups ---------------------------------------------------------------------------

export async function createTargetGroup(st: ControlState, caller: Account, cmd: CreateTargetGroupCommand): Promise<TargetGroup> {
  return st.serial(async () => {
    if (cmd.protocol !== 'TCP') throw new DomainError('Unsupported', `protocol ${cmd.protocol}: vpcep-sim's network load balancers relay TCP only`);
    if (cmd.targetType !== 'ip' && cmd.targetType !== 'instance') {
      throw new DomainError('Unsupported', `target type ${cmd.targetType}: ip or instance (an instance is a VM port of the VPC)`);
    }
    const vpc = st.vpcs.get(cmd.vpcId);
    if (!vpc || vpc.account !== caller.name) throw new DomainError('VpcNotFound', `VPC ${cmd.vpcId} does not exist`);
    const id = newElbId();
    const t = now();
    const given = cmd.healthCheck ?? {};
    // an interval at or under the default timeout (10 s) without a timeout: one second less, not an error
    const timeout = given.timeout_seconds ?? (given.interval_seconds !== undefined && given.interval_seconds <= DEFAULT_HEALTH_CHECK.timeout_seconds
      ? Math.max(2, given.interval_seconds - 1) : DEFAULT_HEALTH_CHECK.timeout_seconds);
    const tg: TargetGroup = {
      id, owner: caller.name, name: cmd.name, protocol: 'TCP', port: cmd.port, vpc_id: vpc.id, target_type: cmd.targetType,
      attributes: targetGroupAttributeDefaults(cmd.targetType), health_check: checkedHealthCheck({ ...DEFAULT_HEALTH_CHECK, ...given, timeout_seconds: timeout }, given),
      targets: [], tags: applyTags([], 'create', cmd.tags ?? [], DEFAULTS.limits.elbTagsPerResource), created_at: t, updated_at: t,
    };
    // idempotent: the same settings answer the target group of that name, unchanged
    const named = [...st.targetGroups.values()].find((x) => x.owner === caller.name && x.name === cmd.name);
    if (named) return sameSettings(named, tg, targetGroupSettings, () => new DomainError('DuplicateTargetGroupName', `a target group named ${cmd.name} exists with other settings`));
    await st.commit([{ kind: 'targetgroup', id, value: tg }, ...inVpc(vpc)], () => st.targetGroups.set(id, tg));
    return tg;
  });
}

/** the listeners that forward to a target group */
export function listenersTo(st: ControlState, tgId: string): Array<{ lb: LoadBalancer; listener: Listener }> {
  const out: Array<{ lb: LoadBalancer; listener: Listener }> = [];
  for (const lb of st.loadBalancers.values()) for (const listener of lb.listeners) if (listener.target_group_id === tgId) out.push({ lb, listener });
  return out;
}

export async function deleteTargetGroup(st: ControlState, caller: Account, id: string): Promise<void> {
  await st.serial(async () => {
    const tg = ownTargetGroup(st, caller, id);
    const users = listenersTo(st, id);
    if (users.length) throw new DomainError('DependencyViolation', `target group ${tg.name} is the default action of a listener of load balancer ${users[0]!.lb.name}`);
    await st.commit([{ kind: 'targetgroup', id, value: null }], () => st.targetGroups.delete(id));
  });
}

export async function modifyTargetGroupAttributes(st: ControlState, caller: Account, id: string, changes: ReadonlyArray<{ key: string; value: string }>): Promise<TargetGroup> {
  return changeTargetGroup(st, caller, id, (tg) => {
    const attributes = nextAttributes(tg.attributes, TARGET_GROUP_ATTRIBUTES, changes, { ranges: TARGET_GROUP_ATTRIBUTE_RANGES, off: TARGET_GROUP_ATTRIBUTES_OFF, choices: TARGET_GROUP_ATTRIBUTE_CHOICES });
    const bad = targetGroupAttributesProblem(attributes);
    if (bad) throw new DomainError('InvalidParameter', bad);
    return { ...tg, attributes };
  });
}

/**
 * a health check as given, or InvalidParameter naming what is wrong; GIVEN's path or matcher, which
 * only HTTP and HTTPS checks take (AWS: "Health check paths are not supported for TCP health
 * checks"), InvalidConfiguration: taken and stored unused, a stack that set them failed on AWS only
 */
function checkedHealthCheck(h: HealthCheck, given: Partial<HealthCheck>): HealthCheck {
  const bad = healthCheckProblem(h);
  if (bad) throw new DomainError('InvalidParameter', bad);
  if (given.path !== undefined) throw new DomainError('InvalidConfiguration', `Health check paths are not supported for ${h.protocol} health checks`);
  if (given.matcher !== undefined) throw new DomainError('InvalidConfiguration', `Health check matchers are not supported for ${h.protocol} health checks`);
  return h;
}

/** ModifyTargetGroup: the health check's fields given replace the stored ones, all checked together */
export async function modifyTargetGroup(st: ControlState, caller: Account, id: string, healthCheck: Partial<HealthCheck>): Promise<TargetGroup> {
  return changeTargetGroup(st, caller, id, (tg) => ({ ...tg, health_check: checkedHealthCheck({ ...tg.health_check, ...healthCheck }, healthCheck) }));
}

/** an ip target is an IPv4 address (inside the VPC: its host address; outside: as it is); an instance target a VM port of the VPC */
function checkTarget(st: ControlState, tg: TargetGroup, t: TargetInput): void {
  if (t.port !== undefined && (!Number.isInteger(t.port) || t.port < 1 || t.port > 65535)) {
    throw new DomainError('InvalidTarget', `target ${t.id}: port ${t.port} is not from 1 to 65535`);
  }
  if (tg.target_type === 'ip') {
    if (!isIpv4(t.id)) throw new DomainError('InvalidTarget', `target ${t.id}: the target group ${tg.name} has target type ip: an IPv4 address`);
    if (!isUnicastHost(t.id)) throw new DomainError('InvalidTarget', `target ${t.id}: not an address a host can have (this network, multicast, reserved or broadcast)`);
    // ELBv2 API reference, TargetDescription.AvailabilityZone: "If the IP address is outside the
    // VPC, this parameter is required"; there, all is the only value it takes
    const vpc = st.vpcs.get(tg.vpc_id);
    if (vpc && !cidrContains(cidrOf(vpc.cidr), ipToInt(t.id)) && t.zone !== 'all') {
      throw new DomainError('InvalidParameter', t.zone === undefined
        ? `target ${t.id} is outside VPC ${vpc.id} (${vpc.cidr}): its AvailabilityZone is required, and must be all`
        : `target ${t.id} is outside VPC ${vpc.id} (${vpc.cidr}): its AvailabilityZone must be all, not ${t.zone.slice(0, 64)}`);
    }
    return;
  }
  const vpc = st.vpcs.get(tg.vpc_id);
  if (!vpc?.ports.some((p) => p.id === t.id && p.type === 'VM')) {
    throw new DomainError('InvalidTarget', `target ${t.id}: not an instance (a VM port) of VPC ${tg.vpc_id}`);
  }
}

export async function registerTargets(st: ControlState, caller: Account, id: string, targets: readonly TargetInput[]): Promise<TargetGroup> {
  return changeTargetGroup(st, caller, id, (tg) => {
    const list: Target[] = [...tg.targets];
    for (const t of targets) {
      checkTarget(st, tg, t);
      const port = t.port ?? tg.port;
      if (!list.some((x) => x.id === t.id && x.port === port)) list.push({ id: t.id, port });
    }
    // a draining target registered again is in service again
    const draining = tg.draining?.filter((d) => !list.some((x) => x.id === d.id && x.port === d.port));
    return { ...tg, targets: list, draining };
  });
}

/**
 * A target that is not registered is no error (as in AWS). A deregistered target drains: no new
 * connection, its live ones flow for deregistration_delay.timeout_seconds, then are cut
 * (DescribeTargetHealth: draining, Target.DeregistrationInProgress).
 */
export async function deregisterTargets(st: ControlState, caller: Account, id: string, targets: readonly TargetInput[]): Promise<TargetGroup> {
  return changeTargetGroup(st, caller, id, (tg) => {
    const gone = (x: Target) => targets.some((t) => t.id === x.id && (t.port ?? tg.port) === x.port);
    const delay = deregistrationDelayOf(tg);
    const until = new Date(Date.now() + delay * 1000).toISOString();
    const inUse = listenersTo(st, tg.id).length > 0;
    const added = delay > 0 && inUse ? tg.targets.filter(gone).map((t) => ({ ...t, until })) : [];
    const kept = (tg.draining ?? []).filter((d) => !added.some((a) => a.id === d.id && a.port === d.port));
    return { ...tg, targets: tg.targets.filter((x) => !gone(x)), draining: [...kept, ...added] };
  });
}


async function changeTargetGroup(st: ControlState, caller: Account, id: string, change: (tg: TargetGroup) => TargetGroup): Promise<TargetGroup> {
  const { tg, lbs } = await st.serial(async () => {
    const cur = ownTargetGroup(st, caller, id);
    const changed = change(cur);
    // draining entries whose delay ended are forgotten at the next change
    const next = { ...changed, draining: changed.draining && drainingTargets(changed), updated_at: now() };
    const lbs = [...new Set(listenersTo(st, id).map((u) => u.lb.id))];
    await commitWithServices(st, [{ kind: 'targetgroup', id, value: next }], lbs, () => st.targetGroups.set(id, next));
    return { tg: next, lbs };
  });
  await pushServices(st, lbs);
  return tg;
}

// ---- listeners -------------------------------------------------------------------------------

/** a listener's rules: TCP, a target group of the load balancer's VPC, a port no other listener of it has */
function checkListener(st: ControlState, caller: Account, lb: LoadBalancer, protocol: string, port: number, targetGroupId: string, self?: string): void {
  if (protocol !== 'TCP') throw new DomainError('Unsupported', `listener protocol ${protocol}: vpcep-sim's network load balancers listen on TCP only`);
  const tg = ownTargetGroup(st, caller, targetGroupId);
  if (tg.vpc_id !== lb.vpc_id) throw new DomainError('InvalidParameter', `target group ${tg.name} is in VPC ${tg.vpc_id}, load balancer ${lb.name} in ${lb.vpc_id}`);
  // AWS: a target group of a network load balancer serves one load balancer (its listeners may share it)
  const other = listenersTo(st, tg.id).find((u) => u.lb.id !== lb.id);
  if (other) throw new DomainError('TargetGroupAssociationLimit', `The following target groups cannot be associated with more than one load balancer: ${tg.name} (a listener of load balancer ${other.lb.name} forwards to it)`);
  if (lb.listeners.some((l) => l.port === port && l.id !== self)) throw duplicateListener(lb, port);
  // a listener's port is the terminal port of every endpoint of the services it backs: another of
  // their load balancers listening there would be a second listener on the endpoints' port
  for (const s of servicesOf(st, lb.id)) {
    for (const other of s.load_balancers ?? []) {
      const o = other === lb.id ? undefined : st.loadBalancers.get(other);
      if (o?.listeners.some((l) => l.port === port)) {
        throw new DomainError('PortConflict', `port conflict: load balancer ${o.name} has a listener on port ${port}, and both back endpoint service ${s.id}, whose endpoints listen on one port once`);
      }
    }
  }
}

const duplicateListener = (lb: LoadBalancer, port: number): DomainError => new DomainError('DuplicateListener', `load balancer ${lb.name} has a listener on port ${port}`);

/**
 * commits LB with its listeners changed, and the services it backs; their live endpoints follow
 * before the answer. FORWARDSTO: the target group a listener made or changed forwards to, written
 * unchanged, so that its deletion through another node of a fleet at once conflicts on its document
 * (the one that runs again sees the other: DependencyViolation, or TargetGroupNotFound)
 */
async function commitListeners(st: ControlState, lb: LoadBalancer, listeners: readonly Listener[], forwardsTo?: string): Promise<LoadBalancer> {
  const next: LoadBalancer = { ...lb, listeners, updated_at: now() };
  const tg = forwardsTo === undefined ? undefined : st.targetGroups.get(forwardsTo);
  const changes: Change[] = [{ kind: 'loadbalancer', id: lb.id, value: next }, ...(tg ? [{ kind: 'targetgroup' as const, id: tg.id, value: tg }] : [])];
  await commitWithServices(st, changes, [lb.id], () => st.loadBalancers.set(lb.id, next));
  return next;
}

export async function createListener(st: ControlState, caller: Account, cmd: CreateListenerCommand): Promise<{ lb: LoadBalancer; listener: Listener }> {
  const out = await st.serial(async () => {
    const lb = ownLoadBalancer(st, caller, cmd.loadBalancerId);
    const onPort = lb.listeners.find((l) => l.port === cmd.port);
    // the port's listener is compared below, not refused
    checkListener(st, caller, lb, cmd.protocol, cmd.port, cmd.targetGroupId, onPort?.id);
    const listener: Listener = {
      id: newElbId(), protocol: 'TCP', port: cmd.port, target_group_id: cmd.targetGroupId,
      tags: applyTags([], 'create', cmd.tags ?? [], DEFAULTS.limits.elbTagsPerResource),
    };
    // idempotent: the same settings answer the listener on that port, unchanged
    if (onPort) return { lb, listener: sameSettings(onPort, listener, listenerSettings, () => duplicateListener(lb, cmd.port)), made: false };
    return { lb: await commitListeners(st, lb, [...lb.listeners, listener], cmd.targetGroupId), listener, made: true };
  });
  if (out.made) await pushServices(st, [out.lb.id]);
  return { lb: out.lb, listener: out.listener };
}

/** ModifyListener: what is given replaces the listener's port, protocol or target group, keeping its id and tags */
export async function modifyListener(st: ControlState, caller: Account, id: string, cmd: ModifyListenerCommand): Promise<{ lb: LoadBalancer; listener: Listener }> {
  const out = await st.serial(async () => {
    const { lb, listener: cur } = ownListener(st, caller, id);
    const port = cmd.port ?? cur.port;
    const targetGroupId = cmd.targetGroupId ?? cur.target_group_id;
    checkListener(st, caller, lb, cmd.protocol ?? cur.protocol, port, targetGroupId, id);
    const listener: Listener = { ...cur, port, target_group_id: targetGroupId };
    return { lb: await commitListeners(st, lb, lb.listeners.map((l) => (l.id === id ? listener : l)), targetGroupId), listener };
  });
  await pushServices(st, [out.lb.id]);
  await portsRemoved(st, out.lb.id);
  return out;
}

/**
 * ModifyListenerAttributes (LISTENER_ATTRIBUTES): tcp.idle_timeout.seconds becomes the idle timeout
 * of the connections through the listener's port (listenerIdleTimeoutMs), pushed to the live
 * endpoints of the services it backs before the answer
 */
export async function modifyListenerAttributes(st: ControlState, caller: Account, id: string, changes: ReadonlyArray<{ key: string; value: string }>): Promise<Listener> {
  const out = await st.serial(async () => {
    const { lb, listener: cur } = ownListener(st, caller, id);
    const listener: Listener = { ...cur, attributes: nextAttributes({ ...LISTENER_ATTRIBUTES, ...cur.attributes }, LISTENER_ATTRIBUTES, changes, { ranges: LISTENER_ATTRIBUTE_RANGES }) };
    const next: LoadBalancer = { ...lb, listeners: lb.listeners.map((l) => (l.id === id ? listener : l)), updated_at: now() };
    await st.commit([{ kind: 'loadbalancer', id: lb.id, value: next }], () => st.loadBalancers.set(lb.id, next));
    return { lb: next, listener };
  });
  await pushServices(st, [out.lb.id]);
  return out.listener;
}

export async function deleteListener(st: ControlState, caller: Account, id: string): Promise<void> {
  const lbId = await st.serial(async () => {
    const { lb } = ownListener(st, caller, id);
    await commitListeners(st, lb, lb.listeners.filter((l) => l.id !== id));
    return lb.id;
  });
  await pushServices(st, [lbId]);
  await portsRemoved(st, lbId);
}

// ---- tags ------------------------------------------------------------------------------------

export async function tagElb(st: ControlState, caller: Account, ref: ElbResourceRef, action: 'create' | 'delete', tags: readonly TagInput[]): Promise<void> {
  await st.serial(async () => {
    const apply = (cur: readonly Tag[]) => applyTags(cur, action, tags, DEFAULTS.limits.elbTagsPerResource);
    if (ref.kind === 'targetgroup') {
      const tg = ownTargetGroup(st, caller, ref.id);
      const next = { ...tg, tags: apply(tg.tags), updated_at: now() };
      await st.commit([{ kind: 'targetgroup', id: tg.id, value: next }], () => st.targetGroups.set(tg.id, next));
      return;
    }
    const lb = ref.kind === 'loadbalancer' ? ownLoadBalancer(st, caller, ref.id) : ownListener(st, caller, ref.id).lb;
    const next: LoadBalancer = ref.kind === 'loadbalancer'
      ? { ...lb, tags: apply(lb.tags), updated_at: now() }
      : { ...lb, listeners: lb.listeners.map((l) => (l.id === ref.id ? { ...l, tags: apply(l.tags) } : l)), updated_at: now() };
    await st.commit([{ kind: 'loadbalancer', id: lb.id, value: next }], () => st.loadBalancers.set(lb.id, next));
  });
}

// ---- the services the load balancers back ----------------------------------------------------

/**
 * Commits CHANGES together with the new port mappings and tcp_proxy of every service backed by
 * the load balancers LBS (computed after APPLY, so over the changed state); undone in memory if
 * the store refuses.
 */
async function commitWithServices(st: ControlState, changes: Change[], lbs: readonly string[], apply: () => void): Promise<void> {
  const before = { lbs: new Map(st.loadBalancers), tgs: new Map(st.targetGroups) };
  apply();
  const services: EndpointService[] = [];
  for (const s of st.services.values()) {
    if (!s.load_balancers?.some((id) => lbs.includes(id))) continue;
    services.push({ ...s, ...loadBalancedShape(st, s.load_balancers), updated_at: now() });
  }
  const restore = () => {
    st.loadBalancers.clear();
    for (const [k, v] of before.lbs) st.loadBalancers.set(k, v);
    st.targetGroups.clear();
    for (const [k, v] of before.tgs) st.targetGroups.set(k, v);
  };
  restore();
  await st.commit([...changes, ...services.map((s) => ({ kind: 'service' as const, id: s.id, value: s }))], () => {
    apply();
    for (const s of services) st.services.set(s.id, s);
  });
}

/** a listener's port gone or moved: the services behind LB forget what named their endpoints' proxies on it (faults.ts) */
async function portsRemoved(st: ControlState, lb: string): Promise<void> {
  for (const s of servicesOf(st, lb)) await st.removed('ports', s.id);
}

/**
 * sends every live endpoint of the services behind LBS its new spec, and the data plane the
 * targets the listeners forward to (pushProbes), before the caller's answer
 */
export async function pushServices(st: ControlState, lbs: readonly string[]): Promise<void> {
  const ids = new Set<string>();
  for (const id of lbs) for (const s of servicesOf(st, id)) ids.add(s.id);
  const live = [...st.endpoints.values()].filter((e) => ids.has(e.service_id) && LIVE_ENDPOINT_STATUSES.has(e.status));
  await Promise.all([...live.map((e) => pushEndpoint(st, e.id)), pushProbes(st)]);
}

// What a service backed by network load balancers relays to: each listener of its load balancers
// is a terminal port, every registered target of its target group a backend in its zone, chosen
// per connection (src/model/backend-choice.ts). An IP target inside the target group's VPC is
// reached at its host address (127.k.c.d), or at the real backend of a port declared at that IP;
// one outside it (127.0.0.1, another host) as it is; an instance target is a VM port of the VPC
// (its configured real address, else its host address).
import type { Backend, BackendTargetSpec } from '../model/events.js';
import { groupProbeKey, removedBackendDrainMs, targetKey, unhealthyCutMs, type HealthSettings, type ProbeTarget } from '../model/health.js';
import {
  crossZoneOf, deregistrationDrainMs, drainingTargets, healthSettingsOfCheck, listenerIdleTimeoutMs, proxyProtocolOn, unhealthyTerminationOf, type Listener, type LoadBalancer,
  type Target, type TargetGroup,
} from '../model/load-balancers.js';
import type { EndpointService, PortMapping, TcpProxy, Vpc } from '../model/types.js';
import { zoneOfSubnet } from '../model/zones.js';
import { cidrContains, cidrOf, ipToInt, isIpv4 } from '../net/cidr.js';
import { hostAddress } from '../net/loopback.js';
import { healthCheckPortOf, healthSettingsOf } from './health.js';
import type { ControlState } from './state.js';

/** the zone of a VPC's subnet, or null when the subnet is gone */
export function subnetZone(st: ControlState, vpc: Vpc, subnetId: string): string | null {
  const subnet = vpc.subnets.find((n) => n.id === subnetId);
  return subnet ? zoneOfSubnet(subnet, st.zones) : null;
}

/**
 * The zone of a target: an instance's port's subnet's; an IP target inside the VPC, the subnet
 * holding it (the first zone when none does); outside it, null (AWS's AvailabilityZone all).
 */
export function targetZone(st: ControlState, tg: TargetGroup, t: Target): string | null {
  const vpc = st.vpcs.get(tg.vpc_id);
  if (!vpc) return null;
  if (tg.target_type === 'instance') {
    const port = vpc.ports.find((p) => p.id === t.id);
    return port ? subnetZone(st, vpc, port.subnet_id) : null;
  }
  if (!isIpv4(t.id)) return null;
  const declared = vpc.ports.find((p) => p.ip === t.id);
  if (declared) return subnetZone(st, vpc, declared.subnet_id);
  const ip = ipToInt(t.id);
  if (!cidrContains(cidrOf(vpc.cidr), ip)) return null;
  const subnet = vpc.subnets.find((n) => cidrContains(cidrOf(n.cidr), ip));
  return subnet ? zoneOfSubnet(subnet, st.zones) : st.zones[0]!;
}

/** a target group's health checks as the prober runs them; null when they are off */
export function targetGroupHealth(tg: TargetGroup): HealthSettings | null {
  return tg.health_check.enabled ? healthSettingsOfCheck(tg.health_check) : null;
}

/** the targets of a target group that resolve, each with its key, zone and the key of its group's probe of it */
export function targetSpecs(st: ControlState, tg: TargetGroup, targets: readonly Target[] = tg.targets): BackendTargetSpec[] {
  const out: BackendTargetSpec[] = [];
  for (const t of targets) {
    const host = targetHost(st, tg, t);
    if (host === null) continue;
    const probePort = healthCheckPortOf(tg, t.port);
    out.push({
      key: targetKey(host, t.port), host, port: t.port, zone: targetZone(st, tg, t), ...(probePort !== t.port ? { probe_port: probePort } : {}),
      probe_key: groupProbeKey(host, t.port, tg.id),
    });
  }
  return out;
}

/** the real host address of a target, or null when it names nothing any more (a VM port gone from the VPC) */
export function targetHost(st: ControlState, tg: TargetGroup, t: Target): string | null {
  const vpc = st.vpcs.get(tg.vpc_id);
  if (!vpc) return null;
  if (tg.target_type === 'instance') {
    const port = vpc.ports.find((p) => p.id === t.id && p.type === 'VM');
    return port ? port.target ?? hostAddress(vpc.number, ipToInt(port.ip)) : null;
  }
  if (!isIpv4(t.id)) return null;
  // the address of a port declared with a real backend (`target`) reaches that backend, as its VM would
  const declared = vpc.ports.find((p) => p.ip === t.id && p.target);
  if (declared) return declared.target!;
  const ip = ipToInt(t.id);
  return cidrContains(cidrOf(vpc.cidr), ip) ? hostAddress(vpc.number, ip) : t.id;
}

/** every listener of the load balancers, with its load balancer and target group */
function* listenersOf(st: ControlState, loadBalancers: readonly string[]): Generator<{ port: number; listener: Listener; lb: LoadBalancer; tg: TargetGroup | undefined }> {
  for (const id of loadBalancers) {
    const lb = st.loadBalancers.get(id);
    for (const l of lb?.listeners ?? []) yield { port: l.port, listener: l, lb: lb!, tg: st.targetGroups.get(l.target_group_id) };
  }
}

/** the zones a load balancer is in: its subnets' */
export function loadBalancerZones(st: ControlState, lb: LoadBalancer): Set<string> {
  const vpc = st.vpcs.get(lb.vpc_id);
  const out = new Set<string>();
  for (const id of lb.subnets) {
    const zone = vpc ? subnetZone(st, vpc, id) : null;
    if (zone !== null) out.add(zone);
  }
  return out;
}

/**
 * The terminal port each listener opens and where it relays: every target of its target group
 * that resolves, in a zone of the load balancer or in none (AWS: a target in a zone the load
 * balancer is not in gets no traffic, DescribeTargetHealth `unused` Target.NotInUse)
 */
export function loadBalancerBackends(st: ControlState, s: EndpointService): Backend[] {
  const out: Backend[] = [];
  for (const { port, listener, lb, tg } of listenersOf(st, s.load_balancers ?? [])) {
    if (!tg) continue;
    const zones = loadBalancerZones(st, lb);
    const all = targetSpecs(st, tg);
    const targets = all.filter((t) => t.zone === null || zones.has(t.zone));
    // A listener whose targets all drain, sit in zones it is not in, or are none (none registered,
    // the last deregistered) keeps listening, resetting new connections: the connections of a
    // target deregistered without connection termination (AWS's default) flow on through it (a
    // listener gone cut them). host and port: the first target's, for the one-backend readers
    // (Toxiproxy's upstream, the tracer's summary); none at all: 0.0.0.0 at the group's port.
    const first = targets[0] ?? all[0] ?? targetSpecs(st, tg, drainingTargets(tg))[0];
    out.push({
      client_port: port, host: first?.host ?? '0.0.0.0', port: first?.port ?? tg.port, proxy_v2: proxyProtocolOn(tg), targets,
      cross_zone: crossZoneOf(lb, tg), health: targetGroupHealth(tg), drain_ms: deregistrationDrainMs(tg),
      unhealthy_cut_ms: unhealthyCutMs(unhealthyTerminationOf(tg)),
      ...idleTimeoutOf(listener),
    });
  }
  return out;
}

/**
 * What the load balancers' health checks probe, whether or not an endpoint relays through them:
 * every target of a target group a listener forwards to (with its health checks on), in a zone
 * of that listener's load balancer or in none. AWS checks them from registration, so that
 * DescribeTargetHealth (and `aws elbv2 wait target-in-service`) shows `healthy` before any
 * endpoint service exists; an endpoint's own backends are the same targets, probed once. Each
 * group probes its targets (groupProbeKey): one address in two groups is probed by each, with its settings.
 */
export function listenerProbes(st: ControlState): ProbeTarget[] {
  const out = new Map<string, ProbeTarget>();
  for (const lb of st.loadBalancers.values()) {
    const zones = loadBalancerZones(st, lb);
    for (const { tg } of listenersOf(st, [lb.id])) {
      const settings = tg ? targetGroupHealth(tg) : null;
      if (!tg || !settings) continue;
      for (const t of targetSpecs(st, tg)) {
        if (t.zone !== null && !zones.has(t.zone)) continue;
        const key = t.probe_key ?? t.key;
        if (!out.has(key)) out.set(key, { key, host: t.host, port: t.probe_port ?? t.port, zone: t.zone, settings });
      }
    }
  }
  return [...out.values()];
}

/** the listener's idle timeout when one was stored (absent: the daemon's idle_timeout_ms) */
function idleTimeoutOf(l: Listener): { idle_timeout_ms?: number } {
  const ms = listenerIdleTimeoutMs(l);
  return ms === null ? {} : { idle_timeout_ms: ms };
}

/** the service's port mappings and tcp_proxy as the load balancers now make them (the Huawei API shows these) */
export function loadBalancedShape(st: ControlState, loadBalancers: readonly string[]): { ports: PortMapping[]; tcp_proxy: TcpProxy } {
  const ports: PortMapping[] = [];
  let proxy = false;
  for (const { port, tg } of listenersOf(st, loadBalancers)) {
    ports.push({ client_port: port, server_port: tg?.targets[0]?.port ?? tg?.port ?? port, protocol: 'TCP' });
    if (tg && proxyProtocolOn(tg)) proxy = true;
  }
  return { ports, tcp_proxy: proxy ? 'proxy_open' : 'close' };
}

/** a port-backed service's backend ports: its list, else port_id alone */
export function backendPortIds(s: EndpointService): string[] {
  return s.backends ? s.backends.map((b) => b.port_id) : s.port_id ? [s.port_id] : [];
}

/** a port-backed service's backends as targets (a port gone from the VPC is left out) on one server port */
export function portTargets(st: ControlState, s: EndpointService, serverPort: number, portIds: readonly string[] = backendPortIds(s)): BackendTargetSpec[] {
  const vpc = s.vpc_id ? st.vpcs.get(s.vpc_id) : undefined;
  if (!vpc) return [];
  const out: BackendTargetSpec[] = [];
  for (const id of portIds) {
    const port = vpc.ports.find((p) => p.id === id);
    if (!port) continue;
    const host = port.target ?? hostAddress(vpc.number, ipToInt(port.ip));
    out.push({ key: targetKey(host, serverPort), host, port: serverPort, zone: subnetZone(st, vpc, port.subnet_id) });
  }
  return out;
}

/**
 * Each port of an operator-run public service: its one target (no zone, not probed), or its
 * config's backends, each in its zone, chosen as a port-backed service's are (any zone unless the
 * endpoint has zone affinity), probed with the config's dataplane.health_check when several.
 */
export function publicBackends(st: ControlState, s: EndpointService): Backend[] {
  const unhealthyCut = unhealthyCutMs(st.unhealthyTermination);
  return (s.public?.targets ?? []).map((t) => {
    const [host, port] = t.target.split(':');
    if (!t.backends) return { client_port: t.port, host: host!, port: Number(port) };
    const targets = t.backends.map((b): BackendTargetSpec => {
      const [h, p] = b.target.split(':');
      return { key: targetKey(h!, Number(p)), host: h!, port: Number(p), zone: b.zone };
    });
    const health = targets.length > 1 ? st.healthDefaults : null;
    return { client_port: t.port, host: host!, port: Number(port), targets, cross_zone: true, health, drain_ms: 0, unhealthy_cut_ms: unhealthyCut };
  });
}

/**
 * Each port mapping of a port-backed service, relaying to every backend port: any zone (the
 * endpoint's zone affinity keeps it in its own), a removed backend draining for the service's
 * deregistration delay. Several backends are probed (the service's health_check, else the config's); one alone is not
 * (it takes every flow whatever its state, fail open; and its backend sees no probe connections,
 * as before services had several).
 */
export function portBackends(st: ControlState, s: EndpointService): Backend[] {
  const out: Backend[] = [];
  const drainMs = removedBackendDrainMs(s, st.deregistrationDelayS);
  const health = backendPortIds(s).length > 1 ? healthSettingsOf(st, s) : null;
  const unhealthyCut = unhealthyCutMs(s.unhealthy_termination ?? st.unhealthyTermination);
  for (const m of s.ports) {
    const targets = portTargets(st, s, m.server_port);
    if (!targets.length) continue;
    out.push({
      client_port: m.client_port, host: targets[0]!.host, port: m.server_port, targets, cross_zone: true, health, drain_ms: drainMs, unhealthy_cut_ms: unhealthyCut,
    });
  }
  return out;
}

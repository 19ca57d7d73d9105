// The endpoint-service requests of a provider: create, modify and delete its services, manage
// their whitelists (permissions), and accept or reject the endpoints that connect to them.
import { randomUUID } from 'node:crypto';
import { DEFAULTS } from '../model/defaults.js';
import { checkBandwidth } from '../model/bandwidth.js';
import type { ConnectionAction, ConnectionBandwidth, CreateServiceCommand, DeleteServiceCommand, MigrateBackendCommand, PermissionEntry, ModifyServiceCommand, PortMappingInput } from '../model/commands.js';
import { DomainError } from '../model/errors.js';
import { applyTags, checkConnectionAction, fullServiceName, madeWithToken, samePermission, validatePermission } from '../model/rules.js';
import {
  LIVE_ENDPOINT_STATUSES, type Account, type DrainingBackend, type Endpoint, type EndpointService, type Permission, type PortMapping, type TcpProxy, type Vpc,
} from '../model/types.js';
import type { Change } from '../store/store.js';
import { checkedHealthSettings, checkedUnhealthyTermination } from './health.js';
import { privateNameKey } from './claims.js';
import { newPrivateDns, privateDnsConflict } from './private-dns.js';
import { backendPortIds, loadBalancedShape, subnetZone } from './lb-backends.js';
import { ownLoadBalancer, servicesOf } from './load-balancers.js';
import { activateEndpoint } from './provisioning-faults.js';
import { now, type ControlState } from './state.js';
import { applyToDataPlane, bringServiceUp, finishDeletion, pushEndpoint, pushRouting } from './transitions.js';

/** a load-balanced service's health checks are its target groups' (ModifyTargetGroup) */
const LB_HEALTH = 'health_check: a service backed by load balancers is probed by its target groups\' health checks (ELBv2 ModifyTargetGroup)';
const LB_TERMINATION = 'unhealthy_connection_termination: a service backed by load balancers takes its target groups\' target_health_state.unhealthy.* attributes (ELBv2 ModifyTargetGroupAttributes)';

export async function createService(st: ControlState, caller: Account, cmd: CreateServiceCommand): Promise<EndpointService> {
  let before: EndpointService | undefined;
  const service = await st.serial(async () => {
    before = cmd.clientToken && madeWithToken(st.services.values(), caller.name, cmd.clientToken);
    if (before) return before;
    const backend = cmd.loadBalancers ? loadBalancerBackend(st, caller, cmd.loadBalancers) : portBackend(st, caller, cmd);
    checkTcpProxy(cmd.tcpProxy);
    if (cmd.healthCheck && cmd.loadBalancers) throw new DomainError('InvalidParameter', LB_HEALTH);
    if (cmd.unhealthyTermination && cmd.loadBalancers) throw new DomainError('InvalidParameter', LB_TERMINATION);
    const health = cmd.healthCheck && { health_check: checkedHealthSettings(st.healthDefaults, cmd.healthCheck) };
    const bandwidth = cmd.bandwidthMbps !== undefined ? { bandwidth_mbps: checkBandwidth('bandwidth', cmd.bandwidthMbps) } : {};
    const termination = cmd.unhealthyTermination && { unhealthy_termination: checkedUnhealthyTermination(st.unhealthyTermination, cmd.unhealthyTermination) };
    if (st.usage(caller).endpoint_service >= caller.quotas.endpoint_service) {
      throw new DomainError('QuotaExceeded', `quota exceeded: at most ${caller.quotas.endpoint_service} endpoint services per account`);
    }
    const id = cmd.id ?? randomUUID();
    if (st.services.has(id)) throw new DomainError('InvalidParameter', `endpoint service ${id} exists`);
    const t = now();
    const s: EndpointService = {
      id,
      owner: caller.name,
      service_name: cmd.fullName ?? fullServiceName(st.region, cmd.name, id),
      service_type: 'interface',
      server_type: cmd.serverType,
      ...backend,
      ...health,
      ...(cmd.privateDnsName !== undefined ? { private_dns: newPrivateDns(cmd.privateDnsName, undefined) } : {}),
      ...bandwidth,
      ...termination,
      approval_enabled: cmd.approvalRequired ?? true,
      status: 'creating',
      description: cmd.description ?? '',
      tags: applyTags([], 'create', cmd.tags ?? [], DEFAULTS.limits.tagsPerResource),
      permissions: [],
      ...(cmd.clientToken ? { client_token: cmd.clientToken } : {}),
      created_at: t,
      updated_at: t,
    };
    await st.commit([{ kind: 'service', id, value: s }, ...backing(st, s.load_balancers ?? [])], () => st.services.set(id, s));
    return s;
  });
  if (before) return service;
  st.track(bringServiceUp(st, service.id));
  return service;
}

export async function modifyService(st: ControlState, caller: Account, id: string, cmd: ModifyServiceCommand): Promise<EndpointService> {
  const { service, reapply } = await st.serial(async () => {
    const s = st.ownService(caller, id);
    checkMutable(s);
    if (cmd.ports) checkUniqueClientPorts(cmd.ports);
    checkTcpProxy(cmd.tcpProxy);
    if (s.load_balancers && (cmd.ports || cmd.tcpProxy !== undefined)) {
      throw new DomainError('InvalidParameter', `endpoint service ${id} is backed by load balancers: its ports are their listeners, its PROXY protocol their target groups' proxy_protocol_v2.enabled`);
    }
    if (s.load_balancers && cmd.healthCheck) throw new DomainError('InvalidParameter', LB_HEALTH);
    const health = cmd.healthCheck && checkedHealthSettings(s.health_check ?? st.healthDefaults, cmd.healthCheck);
    if (cmd.bandwidthMbps !== undefined && cmd.bandwidthMbps !== null) checkBandwidth('bandwidth', cmd.bandwidthMbps);
    const bandwidthChange = cmd.bandwidthMbps !== undefined && (cmd.bandwidthMbps ?? undefined) !== s.bandwidth_mbps;
    if (s.load_balancers && cmd.unhealthyTermination) throw new DomainError('InvalidParameter', LB_TERMINATION);
    const termination = cmd.unhealthyTermination && checkedUnhealthyTermination(s.unhealthy_termination ?? st.unhealthyTermination, cmd.unhealthyTermination);
    const lbChange = cmd.addLoadBalancers?.length || cmd.removeLoadBalancers?.length;
    if (lbChange && !s.load_balancers) throw new DomainError('InvalidParameter', `endpoint service ${id} is not backed by load balancers`);
    const lbs = lbChange
      ? loadBalancerBackend(st, caller, [...new Set([...s.load_balancers!, ...cmd.addLoadBalancers ?? []])].filter((x) => !cmd.removeLoadBalancers?.includes(x)), id)
      : {};
    if (lbChange) for (const x of cmd.removeLoadBalancers ?? []) ownLoadBalancer(st, caller, x);
    const backendChange = cmd.backendPortIds !== undefined || cmd.deregistrationDelayS !== undefined;
    if (backendChange && (s.load_balancers || !s.vpc_id)) {
      throw new DomainError('InvalidParameter', `endpoint service ${id} is not backed by ports: backends and deregistration_delay apply to port-backed services (a load balancer's are its target groups')`);
    }
    const ports = cmd.backendPortIds ? backendPorts(st.vpcs.get(s.vpc_id!)!, s.server_type as 'VM' | 'LB', cmd.backendPortIds) : null;
    const delay = cmd.deregistrationDelayS ?? s.deregistration_delay_s ?? st.deregistrationDelayS;
    const removed = ports ? backendPortIds(s).filter((p) => !ports.includes(p)) : [];
    // an empty name is checked (refused) like any other: only null removes it
    const privateDns = typeof cmd.privateDnsName === 'string' ? newPrivateDns(cmd.privateDnsName, s.private_dns) : undefined;
    const { private_dns: _old, ...kept } = s;
    const next: EndpointService = {
      ...(cmd.privateDnsName === null ? kept : s),
      ...(privateDns ? { private_dns: privateDns } : {}),
      ...lbs,
      ...(ports ? { port_id: ports[0]!, backends: ports.map((port_id) => ({ port_id })), draining: drainingAfter(s, ports, removed, delay) } : {}),
      ...(cmd.deregistrationDelayS !== undefined ? { deregistration_delay_s: cmd.deregistrationDelayS } : {}),
      ...(cmd.approvalRequired !== undefined ? { approval_enabled: cmd.approvalRequired } : {}),
      ...(cmd.name !== undefined ? { service_name: fullServiceName(st.region, cmd.name, s.id) } : {}),
      ...(cmd.ports ? { ports: portMappings(cmd.ports) } : {}),
      ...(cmd.tcpProxy !== undefined ? { tcp_proxy: cmd.tcpProxy } : {}),
      ...(cmd.description !== undefined ? { description: cmd.description } : {}),
      ...(health ? { health_check: health } : {}),
      ...(cmd.bandwidthMbps !== undefined ? { bandwidth_mbps: cmd.bandwidthMbps ?? undefined } : {}),
      ...(termination ? { unhealthy_termination: termination } : {}),
      updated_at: now(),
    };
    const changes: Change[] = [{ kind: 'service', id, value: next }, ...backing(st, (cmd.addLoadBalancers ?? []).filter((x) => !s.load_balancers?.includes(x)))];
    const renamed: Endpoint[] = [];
    // endpoints renamed with the service, and those with private DNS when its private name changes
    // or goes (their claim of the name in their VPC moves with it: claims.ts). One whose VPC has
    // another endpoint with the new name loses private DNS: one endpoint per name per VPC, the
    // first keeps it (else both answered it, two services' addresses under one name)
    const newKey = privateNameKey(next);
    const privateNameChanged = newKey !== privateNameKey(s);
    const dnsOff: Endpoint[] = [];
    if (next.service_name !== s.service_name || privateNameChanged) {
      for (const e of st.endpoints.values()) {
        if (e.service_id !== id || (next.service_name === s.service_name && !e.enable_dns)) continue;
        const clash = privateNameChanged && newKey !== null && e.enable_dns && e.service_type === 'interface' && e.status !== 'deleting'
          && privateDnsConflict(st, e, newKey) !== null;
        const r = { ...e, service_name: next.service_name, ...(clash ? { enable_dns: false } : {}) };
        if (clash) dnsOff.push(r);
        renamed.push(r);
        changes.push({ kind: 'endpoint', id: e.id, value: r });
      }
    }
    await st.commit(changes, () => {
      st.services.set(id, next);
      for (const r of renamed) st.endpoints.set(r.id, r);
    });
    for (const e of dnsOff) {
      st.log.info({ endpoint_id: e.id, service_id: id, vpc_id: e.vpc_id }, 'private DNS turned off: another endpoint of its VPC has the service\'s new private DNS name');
    }
    const dataPathChanged = cmd.ports !== undefined || Boolean(lbChange) || bandwidthChange || (cmd.tcpProxy !== undefined && cmd.tcpProxy !== s.tcp_proxy) || backendChange
      || (health !== undefined && JSON.stringify(health) !== JSON.stringify(s.health_check))
      || (termination !== undefined && JSON.stringify(termination) !== JSON.stringify(s.unhealthy_termination));
    return { service: next, reapply: dataPathChanged };
  });
  // A port-mapping, tcp_proxy or health-check change reaches every live endpoint of the service before we answer.
  if (reapply) {
    const live = [...st.endpoints.values()].filter((e) => e.service_id === id && LIVE_ENDPOINT_STATUSES.has(e.status));
    await Promise.all(live.map((e) => pushEndpoint(st, e.id)));
  }
  // a port gone takes its endpoints' toxics and proxies taken down on it, as a deleted endpoint does its own
  if (cmd.ports || cmd.removeLoadBalancers?.length) await st.removed('ports', id);
  return st.services.get(id) ?? service;
}

export async function deleteService(st: ControlState, caller: Account, id: string, cmd: DeleteServiceCommand = {}): Promise<void> {
  await st.serial(async () => {
    const s = st.ownService(caller, id);
    if (s.status === 'deleting') throw new DomainError('BeingDeleted', `endpoint service ${id} is being deleted`);
    // 000_9af245a83013c30f.txt 3.4: only endpoints in Accepted or Creating block the deletion; a
    // pending, rejected or failed one turns failed with an error entry (finishServiceDeletion).
    const inUse = st.connectionCount(id);
    if (inUse > 0) {
      throw new DomainError('ServiceInUse', `endpoint service ${id} has ${inUse} endpoint(s) in accepted or creating status: reject or delete them first`);
    }
    const pending = cmd.pendingBlocks ? st.pendingCount(id) : 0;
    if (pending > 0) {
      throw new DomainError('ServiceInUse', `endpoint service ${id} has ${pending} endpoint(s) awaiting acceptance: reject or accept and delete them first`);
    }
    const deleting = { ...s, status: 'deleting' as const, updated_at: now() };
    await st.commit([{ kind: 'service', id, value: deleting }], () => st.services.set(id, deleting));
  });
  await finishDeletion(st, 'service', id);
}

export async function changePermissions(st: ControlState, caller: Account, id: string, action: 'add' | 'remove', entries: readonly PermissionEntry[]): Promise<string[]> {
  return st.serial(async () => {
    const s = st.ownService(caller, id);
    checkMutable(s);
    const wanted = entries.map((e) => ({ permission: validatePermission(e.permission), principal: e.principal }));
    // `*` and `iam:domain::*` are one entry (samePermission): adding one where the other is adds nothing, removing one removes either
    const named = (x: Permission, e: PermissionEntry) => samePermission(x.permission, e.permission) && (x.principal ?? null) === (e.principal ?? null);
    let list = [...s.permissions];
    if (action === 'add') {
      const t = now();
      for (const e of wanted) {
        if (!list.some((x) => named(x, e))) list.push({ id: randomUUID(), permission: e.permission, ...(e.principal ? { principal: e.principal } : {}), created_at: t });
      }
      if (list.length > DEFAULTS.limits.servicePermissions) {
        throw new DomainError('InvalidPermission', `at most ${DEFAULTS.limits.servicePermissions} whitelist records per service`);
      }
    } else {
      list = list.filter((x) => !wanted.some((e) => (e.principal === undefined ? samePermission(x.permission, e.permission) : named(x, e))));
    }
    const next = { ...s, permissions: list, updated_at: now() };
    await st.commit([{ kind: 'service', id, value: next }], () => st.services.set(id, next));
    return wanted.map((e) => e.permission);
  });
}

export async function connectionAction(st: ControlState, caller: Account, serviceId: string, action: ConnectionAction, endpointId: string): Promise<Endpoint> {
  const changed = await st.serial(async () => {
    const s = st.ownService(caller, serviceId);
    const e = st.endpoints.get(endpointId);
    if (!e) throw new DomainError('EndpointNotFound', `endpoint ${endpointId} does not exist`);
    // an endpoint the caller cannot see (not its own, not connected to one of its services) does not exist for it
    const visible = e.owner === caller.name || st.services.get(e.service_id)?.owner === caller.name;
    if (!visible) throw new DomainError('EndpointNotFound', `endpoint ${endpointId} does not exist`);
    if (e.service_id !== s.id) throw new DomainError('NotOfService', `endpoint ${endpointId} does not belong to endpoint service ${s.id}`);
    checkConnectionAction(action, e.status);
    if (action === 'accept' && s.status !== 'available') throw new DomainError('ServiceUnavailable', `endpoint service ${s.id} is ${s.status}`);
    const next: Endpoint = action === 'accept'
      ? { ...e, status: 'creating', snat_ip: e.snat_ip ?? st.newSnatIp(), updated_at: now(), error: undefined }
      : { ...e, status: 'rejected', snat_ip: null, updated_at: now(), error: undefined };
    await st.commit([{ kind: 'endpoint', id: e.id, value: next }], () => st.endpoints.set(e.id, next));
    return next;
  });
  // on a fleet the node the endpoint is placed on activates it, once its watch sees `creating` (follow.ts)
  if (action === 'accept') {
    if (!st.servedElsewhere(endpointId)) st.track(activateEndpoint(st, endpointId));
  }
  // 000_9af245a83013c30f.txt 3.5: a rejected endpoint loses its connections; wait until it has.
  else if (changed.service_type === 'gateway') await pushRouting(st);
  else await applyToDataPlane(st, { kind: 'endpoint', id: endpointId, live: null });
  return st.endpoints.get(endpointId) ?? changed;
}

/**
 * The provider sets the bandwidth of endpoint connections of its service (Alibaba's
 * UpdateVpcEndpointConnectionAttribute, 004_803ff88163687be8.txt 2.4.2): all checked, then stored
 * together; a live endpoint's connections, those open now included, take it before the answer.
 */
export async function setConnectionBandwidth(st: ControlState, caller: Account, serviceId: string, entries: readonly ConnectionBandwidth[]): Promise<Endpoint[]> {
  const changed = await st.serial(async () => {
    const s = st.ownService(caller, serviceId);
    checkMutable(s);
    const next: Endpoint[] = [];
    for (const x of entries) {
      const e = st.endpoints.get(x.endpointId);
      // an endpoint of another service (or unseen) does not exist for this service's provider
      if (!e || e.service_id !== s.id) throw new DomainError('EndpointNotFound', `endpoint ${x.endpointId} is not a connection of endpoint service ${s.id}`);
      if (e.status === 'deleting') throw new DomainError('BeingDeleted', `endpoint ${e.id} is being deleted`);
      if (x.bandwidthMbps !== null) checkBandwidth('bandwidth', x.bandwidthMbps);
      if (next.some((n) => n.id === e.id)) throw new DomainError('InvalidParameter', `endpoint ${e.id} appears twice`);
      next.push({ ...e, bandwidth_mbps: x.bandwidthMbps ?? undefined, updated_at: now() });
    }
    await st.commit(next.map((e) => ({ kind: 'endpoint' as const, id: e.id, value: e })), () => { for (const e of next) st.endpoints.set(e.id, e); });
    return next;
  });
  await Promise.all(changed.filter((e) => LIVE_ENDPOINT_STATUSES.has(e.status) && e.service_type === 'interface').map((e) => pushEndpoint(st, e.id)));
  return changed.map((e) => st.endpoints.get(e.id) ?? e);
}

type Backing = Pick<EndpointService, 'port_id' | 'vpc_id' | 'ports' | 'tcp_proxy'> & { load_balancers?: readonly string[] };

/** a VM NIC or a load balancer's port of the caller's VPC, with the port mappings asked for */
function portBackend(st: ControlState, caller: Account, cmd: CreateServiceCommand): Backing {
  const vpc = st.vpcs.get(cmd.vpcId);
  if (!vpc || vpc.account !== caller.name) throw new DomainError('VpcNotFound', `VPC ${cmd.vpcId} does not exist`);
  const ids = cmd.backendPortIds ?? [cmd.portId];
  if (cmd.backendPortIds && cmd.portId && cmd.portId !== ids[0]) {
    throw new DomainError('InvalidParameter', `port_id ${cmd.portId} must be the first of backends (${ids[0]}), or be left out`);
  }
  const ports = backendPorts(vpc, cmd.serverType, ids);
  checkUniqueClientPorts(cmd.ports);
  return {
    port_id: ports[0]!, vpc_id: vpc.id, ports: portMappings(cmd.ports), tcp_proxy: cmd.tcpProxy ?? 'close',
    ...(cmd.backendPortIds ? { backends: ports.map((port_id) => ({ port_id })) } : {}),
    ...(cmd.deregistrationDelayS !== undefined ? { deregistration_delay_s: cmd.deregistrationDelayS } : {}),
  };
}

/** backend ports: at least one, each a port of the VPC of the service's server type, none twice */
function backendPorts(vpc: Vpc, serverType: 'VM' | 'LB', ids: readonly string[]): string[] {
  if (ids.length === 0) throw new DomainError('InvalidParameter', 'backends: at least one backend port');
  if (ids.length > MAX_BACKENDS) throw new DomainError('InvalidParameter', `backends: at most ${MAX_BACKENDS} backend ports`);
  const seen = new Set<string>();
  /** the port of each config `target` met so far */
  const byTarget = new Map<string, string>();
  for (const id of ids) {
    if (seen.has(id)) throw new DomainError('InvalidParameter', `backends: port ${id} appears twice`);
    seen.add(id);
    const port = vpc.ports.find((p) => p.id === id);
    if (!port) throw new DomainError('PortNotFound', `port ${id} does not exist in VPC ${vpc.id}`);
    if (port.type !== serverType) {
      throw new DomainError('InvalidServerType', `server_type ${serverType} does not match port ${port.id}, which is of type ${port.type}`);
    }
    // The data plane knows a backend by its real address: two ports of one address (their config
    // `target`) were one backend, in the last one's zone (a zone down cut both; one metric series).
    if (port.target === undefined) continue;
    const same = byTarget.get(port.target);
    if (same !== undefined) {
      throw new DomainError('InvalidParameter', `backends: ports ${same} and ${port.id} reach the same real server (target ${port.target}): ` +
        'give each port its own target (every 127.0.0.0/8 address is this host\'s)');
    }
    byTarget.set(port.target, port.id);
  }
  return [...ids];
}

/** backend ports of one service, at most (each is probed, and each connection's choice walks them) */
const MAX_BACKENDS = 64;

/** the draining list after a backend change: REMOVED drain for DELAY seconds (0: none), one back in service stops draining */
function drainingAfter(s: EndpointService, ports: readonly string[], removed: readonly string[], delay: number): DrainingBackend[] {
  const at = Date.now();
  const kept = (s.draining ?? []).filter((d) => !ports.includes(d.port_id) && !removed.includes(d.port_id) && (d.until === null || Date.parse(d.until) > at));
  if (delay === 0) return kept;
  const until = new Date(at + delay * 1000).toISOString();
  return [...kept, ...removed.map((port_id) => ({ port_id, until }))];
}

/**
 * Alibaba's migration of a zone's backend (004_803ff88163687be8.txt 2.4): TO replaces FROM in the
 * same zone; new connections go to TO at once; FROM's live connections end on their own (smooth)
 * or are cut before the answer (forced).
 */
export async function migrateBackend(st: ControlState, caller: Account, id: string, cmd: MigrateBackendCommand): Promise<EndpointService> {
  const next = await st.serial(async () => {
    const s = st.ownService(caller, id);
    checkMutable(s);
    if (s.load_balancers || !s.vpc_id) throw new DomainError('InvalidParameter', `endpoint service ${id} is not backed by ports: migrate a load balancer's targets by registering and deregistering them`);
    const vpc = st.vpcs.get(s.vpc_id)!;
    const current = backendPortIds(s);
    const at = current.indexOf(cmd.fromPortId);
    if (at < 0) throw new DomainError('PortNotFound', `port ${cmd.fromPortId} is not a backend of endpoint service ${id}`);
    if (current.includes(cmd.toPortId)) throw new DomainError('InvalidParameter', `port ${cmd.toPortId} is a backend of endpoint service ${id} already`);
    const ports = backendPorts(vpc, s.server_type as 'VM' | 'LB', current.map((p, i) => (i === at ? cmd.toPortId : p)));
    const zoneOf = (pid: string) => subnetZone(st, vpc, vpc.ports.find((p) => p.id === pid)!.subnet_id);
    if (zoneOf(cmd.fromPortId) !== zoneOf(cmd.toPortId)) {
      throw new DomainError('InvalidParameter', `port ${cmd.toPortId} is in zone ${zoneOf(cmd.toPortId)}, port ${cmd.fromPortId} in ${zoneOf(cmd.fromPortId)}: a migration replaces a backend by one of the same zone`);
    }
    const updated = now();
    // the mode is stored with the change: the node serving each endpoint drains by it (a fleet's too)
    const n: EndpointService = {
      ...s, port_id: ports[0]!, backends: ports.map((port_id) => ({ port_id })),
      draining: drainingAfter(s, ports, [], 0), updated_at: updated, migration: { from_port_id: cmd.fromPortId, mode: cmd.mode, at: updated },
    };
    await st.commit([{ kind: 'service', id, value: n }], () => st.services.set(id, n));
    return n;
  });
  const live = [...st.endpoints.values()].filter((e) => e.service_id === id && LIVE_ENDPOINT_STATUSES.has(e.status));
  await Promise.all(live.map((e) => pushEndpoint(st, e.id)));
  return st.services.get(id) ?? next;
}

/**
 * Network load balancers of the caller, all in one VPC, none the backend of another service (as
 * in AWS, a load balancer backs one endpoint service): the ports are their listeners.
 */
function loadBalancerBackend(st: ControlState, caller: Account, ids: readonly string[], self?: string): Backing {
  if (ids.length === 0) throw new DomainError('InvalidParameter', 'an endpoint service needs at least one network load balancer');
  let vpcId: string | null = null;
  for (const id of ids) {
    const lb = ownLoadBalancer(st, caller, id);
    if (vpcId !== null && lb.vpc_id !== vpcId) throw new DomainError('InvalidParameter', 'the load balancers of an endpoint service must be in one VPC');
    vpcId = lb.vpc_id;
    const other = servicesOf(st, id).find((s) => s.id !== self);
    if (other) throw new DomainError('DependencyViolation', `load balancer ${lb.name} is the backend of endpoint service ${other.id}`);
  }
  if (new Set(ids).size !== ids.length) throw new DomainError('InvalidParameter', 'a load balancer appears twice');
  const shape = loadBalancedShape(st, ids);
  checkUniqueClientPorts(shape.ports.map((p) => ({ clientPort: p.client_port, serverPort: p.server_port })));
  return { port_id: null, vpc_id: vpcId, load_balancers: [...ids], ...shape };
}

/**
 * The load balancers a service is made on (or given), written unchanged: their deletion through
 * another node of a fleet at once conflicts on their documents, and the one that runs again sees
 * the other (DependencyViolation, or LoadBalancerNotFound)
 */
function backing(st: ControlState, ids: readonly string[]): Change[] {
  return ids.flatMap((id) => {
    const lb = st.loadBalancers.get(id);
    return lb ? [{ kind: 'loadbalancer' as const, id, value: lb }] : [];
  });
}

function checkMutable(s: EndpointService): void {
  if (s.status === 'deleting') throw new DomainError('BeingDeleted', `endpoint service ${s.id} is being deleted`);
}

/**
 * TOA (a TCP option carrying the client's address) needs packet rewriting, which a socket relay
 * cannot do; the PROXY protocol modes carry the same information in the payload.
 */
function checkTcpProxy(mode: TcpProxy | undefined): void {
  if (mode === 'toa_open') {
    throw new DomainError('Unsupported', 'tcp_proxy toa_open needs packet rewriting (the TOA TCP option), which this socket relay cannot do; supported: close, proxy_open, open, proxy_vni (open and proxy_vni send the PROXY v2 header)');
  }
}

/** 000_9af245a83013c30f.txt 2.3: a terminal port appears once in a service's mappings. */
function checkUniqueClientPorts(ports: readonly PortMappingInput[]): void {
  const seen = new Set<number>();
  for (const p of ports) {
    if (seen.has(p.clientPort)) throw new DomainError('PortConflict', `port conflict: the service's endpoints would listen on port ${p.clientPort} twice (two port mappings, or listeners of two of its load balancers)`);
    seen.add(p.clientPort);
  }
}

function portMappings(ports: readonly PortMappingInput[]): PortMapping[] {
  return ports.map((p) => ({ client_port: p.clientPort, server_port: p.serverPort, protocol: 'TCP' }));
}

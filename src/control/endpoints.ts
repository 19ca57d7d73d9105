// The endpoint requests of a consumer: create an endpoint (an interface endpoint here, a gateway
// endpoint in gateway-endpoints.ts), change its whitelist, delete it.
import { DEFAULTS } from '../model/defaults.js';
import type { ChangeEndpointSubnetsCommand, CreateEndpointCommand, SetChange, UpdateEndpointCommand } from '../model/commands.js';
import { DomainError } from '../model/errors.js';
import type { LiveEndpoint } from '../model/events.js';
import type { PolicyOptions } from '../model/policy.js';
import { applySetChange, applyTags, checkWhitelist, mayConnect, sameRequest } from '../model/rules.js';
import { LIVE_ENDPOINT_STATUSES, type Account, type ClientToken, type Endpoint, type Vpc } from '../model/types.js';
import { newGatewayEndpoint, refuseEniFields, refusePrivateDns } from './gateway-endpoints.js';
import { endpointParents } from './network.js';
import { checkPrivateDnsConflict } from './private-dns.js';
import { activateEndpoint, droppedSwitch } from './provisioning-faults.js';
import { now, type ControlState } from './state.js';
import { applyToDataPlane, failedEndpoint, finishDeletion, liveSpec, pushEndpoint } from './transitions.js';
import { newEnis, withEnis } from './zones.js';

/**
 * The endpoint CALLER made with the client token TOKEN before (undefined: none), once its commit
 * has landed; IdempotencyMismatch when it was made with other parameters. The token is kept on the
 * endpoint's document (the store keeps it over a restart, every node of a fleet holds it) and
 * claimed in its commit (claims.ts); it is free again once the endpoint is gone.
 */
export async function endpointOfToken(st: ControlState, caller: Account, token: ClientToken): Promise<Endpoint | undefined> {
  let made = st.endpointOfToken(caller.name, token.token);
  if (made?.landing) {
    await st.commitsLanded();
    made = st.endpointOfToken(caller.name, token.token);
  }
  return sameRequest(made?.endpoint, token);
}

export async function createEndpoint(st: ControlState, caller: Account, cmd: CreateEndpointCommand, policy: PolicyOptions): Promise<Endpoint> {
  let before: Endpoint | undefined;
  const endpoint = await st.serial(async () => {
    // checked in the mutation: two calls with one token at once make one endpoint
    before = cmd.clientToken ? await endpointOfToken(st, caller, cmd.clientToken) : undefined;
    if (before) return before;
    const s = st.services.get(cmd.serviceId);
    if (!s || s.status === 'deleting') {
      throw new DomainError('ServiceNotFound', `endpoint service ${cmd.serviceId} does not exist`);
    }
    // 000_9af245a83013c30f.txt 3.6: another account needs a whitelist record to connect.
    if (!mayConnect(s, caller)) {
      throw new DomainError('NotWhitelisted', `account ${caller.domain_id} is not in the whitelist of endpoint service ${s.id}`);
    }
    if (s.status !== 'available') throw new DomainError('ServiceUnavailable', `endpoint service ${s.id} is ${s.status}`);
    const vpc = st.vpcs.get(cmd.vpcId);
    if (!vpc || vpc.account !== caller.name) throw new DomainError('VpcNotFound', `VPC ${cmd.vpcId} does not exist`);
    if (s.service_type === 'gateway') return newGatewayEndpoint(st, caller, s, vpc, cmd, policy);
    if (cmd.routeTables !== undefined || cmd.policy !== undefined) {
      throw new DomainError('InvalidParameter', 'routetables and policy_statement apply to gateway endpoints only');
    }
    const choices = cmd.subnets ?? (cmd.subnetId !== undefined ? [{ subnetId: cmd.subnetId, ip: cmd.ip }] : []);
    // AWS makes an interface endpoint without subnets ([]: Terraform's aws_vpc_endpoint_subnet_association adds them)
    if (choices.length === 0 && cmd.subnets === undefined) throw new DomainError('InvalidSubnetId', 'subnet_id is required for an interface endpoint');
    const enis = newEnis(st, s, vpc, choices, [], caller.name);
    const whitelist = checkWhitelist(cmd.whitelist ?? []);
    if (st.usage(caller).endpoint >= caller.quotas.endpoint) {
      throw new DomainError('QuotaExceeded', `quota exceeded: at most ${caller.quotas.endpoint} endpoints per account`);
    }
    const id = st.newEndpointId(cmd.id);
    if (cmd.dns) checkPrivateDnsConflict(st, { id, vpc_id: vpc.id, service_id: s.id });
    const t = now();
    const e: Endpoint = withEnis({
      id,
      owner: caller.name,
      service_id: s.id,
      service_name: s.service_name,
      service_type: s.service_type,
      vpc_id: vpc.id,
      enis,
      subnet_id: null,
      ip: null,
      host_ip: null,
      snat_ip: s.approval_enabled ? null : st.newSnatIp(),
      marker_id: st.newMarkerId(),
      // huawei-vpcep-api.md "Statuses": approval on -> pendingAcceptance, off -> creating.
      status: s.approval_enabled ? 'pendingAcceptance' : 'creating',
      enable_dns: cmd.dns ?? false,
      whitelist,
      enable_whitelist: cmd.whitelistEnabled ?? false,
      ...(cmd.zoneAffinity !== undefined ? { zone_affinity: cmd.zoneAffinity } : {}),
      ...(cmd.securityGroups ? { security_groups: checkGroups(st, caller, vpc, cmd.securityGroups, cmd.defaultGroup) } : {}),
      routetables: [],
      // issue 17: placed at once on the least loaded live node, which brings it up (follow.ts)
      ...(st.nodeId !== undefined ? { node: st.placeNew() } : {}),
      ...(cmd.clientToken ? { client_token: cmd.clientToken } : {}),
      description: cmd.description ?? '',
      tags: applyTags([], 'create', cmd.tags ?? [], DEFAULTS.limits.tagsPerResource),
      created_at: t,
      updated_at: t,
    }, enis);
    const live = cmd.upBeforeAnswer ? upAtOnce(st, e) : null;
    if (live) return commitUp(st, e, live);
    // its VPC (subnets) and groups as read: one deleted through another node meanwhile refuses it on the retry
    await st.commit([{ kind: 'endpoint', id, value: e }], () => st.endpoints.set(id, e), { requires: endpointParents(e) });
    return e;
  }, { pipelined: true });
  if (before) return endpoint;
  if (endpoint.status === 'creating' && !st.servedElsewhere(endpoint.id)) st.track(activateEndpoint(st, endpoint.id));
  return endpoint;
}

/**
 * What a new endpoint that needs no acceptance runs on the data plane when it comes up with its
 * create: null when it goes the usual way (stored creating, activated after the answer) because
 * a provisioning fault is asked for, it is placed on another node, or its service cannot run it.
 */
function upAtOnce(st: ControlState, e: Endpoint): LiveEndpoint | null {
  if (e.status !== 'creating' || st.placedElsewhere(e) || !st.faults.quiet(e.service_id)) return null;
  return liveSpec(st, e);
}

/**
 * One commit for a create instead of two (creating, then accepted): the endpoint is stored accepted
 * while the data plane binds its listeners, and answered once both are done, so the bind costs the
 * answer no time of its own (the store's thread writes meanwhile). The bind runs in the microtasks
 * right after the hand-over, before the store's answer (a message of its thread, or etcd's over the
 * network) can come: the state shows it accepted only once it listens. A bind that fails turns it
 * failed before the answer, as an activation would; a commit that fails closes what was bound.
 */
async function commitUp(st: ControlState, e: Endpoint, live: LiveEndpoint): Promise<Endpoint> {
  const next: Endpoint = { ...e, status: 'accepted' };
  const bound = applyToDataPlane(st, { kind: 'endpoint', id: e.id, live });
  try {
    await st.commit([{ kind: 'endpoint', id: e.id, value: next }], () => st.endpoints.set(e.id, next), { requires: endpointParents(e) });
  } catch (err) {
    // nothing stored: its listeners close (serial() running the mutation again binds again)
    await bound;
    await applyToDataPlane(st, { kind: 'endpoint', id: e.id, live: null });
    throw err;
  }
  const ack = await bound;
  if (ack.ok) return next;
  st.log.warn({ endpoint_id: e.id, reason: ack.reason }, 'endpoint failed');
  const failed = failedEndpoint(next, ack);
  await st.commit([{ kind: 'endpoint', id: e.id, value: failed }], () => st.endpoints.set(e.id, failed));
  return failed;
}

/** endpoint E with CMD's settings, checked (updateEndpoint, and a change of subnets that carries one) */
function updated(st: ControlState, caller: Account, e: Endpoint, cmd: UpdateEndpointCommand): Endpoint {
  if (e.service_type === 'gateway') {
    refuseEniFields(cmd, ['whitelist', 'whitelistEnabled', 'securityGroups', 'zoneAffinity']);
    refusePrivateDns(cmd.dns);
  }
  if (cmd.dns && !e.enable_dns) checkPrivateDnsConflict(st, e);
  return {
    ...e,
    ...(cmd.zoneAffinity !== undefined ? { zone_affinity: cmd.zoneAffinity } : {}),
    ...(cmd.dns !== undefined ? { enable_dns: cmd.dns } : {}),
    ...(cmd.whitelist !== undefined ? { whitelist: checkWhitelist(cmd.whitelist) } : {}),
    ...(cmd.whitelistEnabled !== undefined ? { enable_whitelist: cmd.whitelistEnabled } : {}),
    ...(cmd.securityGroups !== undefined ? { security_groups: checkGroups(st, caller, st.vpcs.get(e.vpc_id)!, groupsAfter(e, cmd.securityGroups, cmd.defaultGroup), cmd.defaultGroup) } : {}),
    updated_at: now(),
  };
}

export async function updateEndpoint(st: ControlState, caller: Account, id: string, cmd: UpdateEndpointCommand): Promise<Endpoint> {
  const next = await st.serial(async () => {
    const e = st.ownEndpoint(caller, id);
    if (e.status === 'deleting') throw new DomainError('BeingDeleted', `endpoint ${id} is being deleted`);
    const n = updated(st, caller, e, cmd);
    await st.commit([{ kind: 'endpoint', id, value: n }], () => st.endpoints.set(id, n), { requires: endpointParents(n) });
    return n;
  });
  if (next.status === 'accepted') await pushEndpoint(st, id);
  return st.endpoints.get(id) ?? next;
}

/**
 * Adds ENIs in subnets (zones) to an interface endpoint and removes those of other subnets, live:
 * everything is checked first; an accepted endpoint's new listeners are bound (all or nothing) and
 * the removed ENIs' listeners closed, their connections cut, before the change is stored and
 * answered. Another zone's connections are untouched.
 */
export async function changeEndpointSubnets(st: ControlState, caller: Account, id: string, cmd: ChangeEndpointSubnetsCommand): Promise<Endpoint> {
  return st.serial(async () => {
    const e = st.ownEndpoint(caller, id);
    if (e.service_type !== 'interface') throw new DomainError('InvalidParameter', 'subnets apply to interface endpoints only');
    if (e.status === 'deleting') throw new DomainError('BeingDeleted', `endpoint ${id} is being deleted`);
    const s = st.services.get(e.service_id);
    const vpc = st.vpcs.get(e.vpc_id);
    if (!s || !vpc) throw new DomainError('InvalidState', `endpoint ${id} has lost its service or VPC`);
    const remove = new Set(cmd.remove);
    for (const subnetId of remove) {
      if (!e.enis.some((n) => n.subnet_id === subnetId)) throw new DomainError('NotEndpointSubnet', `endpoint ${id} has no ENI in subnet ${subnetId}`);
    }
    const kept = e.enis.filter((n) => !remove.has(n.subnet_id));
    const add = cmd.idempotentAdd ? cmd.add.filter((c) => !kept.some((n) => n.subnet_id === c.subnetId)) : cmd.add;
    const added = newEnis(st, s, vpc, add, kept, caller.name);
    const enis = [...kept, ...added];
    if (enis.length === 0 && !cmd.mayRemoveAll) throw new DomainError('InvalidParameter', `endpoint ${id} keeps at least one subnet: delete the endpoint instead`);
    const base = cmd.update ? updated(st, caller, e, cmd.update) : e;
    if (added.length === 0 && kept.length === e.enis.length && base === e) return e;
    const next: Endpoint = { ...withEnis(base, enis), updated_at: now() };
    // a live endpoint (accepted, or creating and on its way up) changes on the data plane first;
    // left without ENIs, its listeners close (null: it relays nothing)
    const running = LIVE_ENDPOINT_STATUSES.has(e.status);
    const live = running ? liveSpec(st, next) : null;
    if (live || (running && enis.length === 0)) {
      const ack = await applyToDataPlane(st, { kind: 'endpoint', id, live });
      if (!ack.ok) {
        // update() binds all or nothing: the endpoint still runs as it was
        throw new DomainError(ack.failure === 'privileged_port' ? 'PrivilegedPort' : 'ListenFailed', `endpoint ${id}: ${ack.reason}`);
      }
    }
    try {
      await st.commit([{ kind: 'endpoint', id, value: next }], () => st.endpoints.set(id, next), { requires: endpointParents(next) });
    } catch (err) {
      const before = running ? liveSpec(st, e) : null;
      if (before) await applyToDataPlane(st, { kind: 'endpoint', id, live: before });
      throw err;
    }
    return next;
  });
}

export async function deleteEndpoint(st: ControlState, caller: Account, id: string): Promise<void> {
  await st.serial(async () => {
    const e = st.ownEndpoint(caller, id);
    if (e.status === 'deleting') throw new DomainError('BeingDeleted', `endpoint ${id} is being deleted`);
    const n: Endpoint = { ...e, status: 'deleting', snat_ip: null, updated_at: now() };
    const dropped = droppedSwitch(st, id);
    await st.commit([{ kind: 'endpoint', id, value: n }, ...dropped], () => {
      st.endpoints.set(id, n);
      for (const c of dropped) st.faults.setSwitches('endpoint', c.value as Record<string, string>);
    });
  });
  await finishDeletion(st, 'endpoint', id);
}

/** the groups an endpoint has after GROUPS: them, or its groups (none kept: the VPC's default one) changed; at least one */
function groupsAfter(e: Endpoint, groups: readonly string[] | SetChange, defaultGroup: string | undefined): readonly string[] {
  if (!('add' in groups)) return groups;
  const current = e.security_groups?.length ? e.security_groups : defaultGroup !== undefined ? [defaultGroup] : [];
  const next = applySetChange(current, groups);
  if (!next.length) throw new DomainError('InvalidParameter', 'An interface endpoint keeps at least one security group');
  return next;
}

/**
 * An endpoint's security groups: each a stored group of the caller in the endpoint's VPC, or the
 * VPC's virtual default group while none is stored (DEFAULT_GROUP, the id the dialect shows for
 * it: kept and not enforced). Checked here, in the mutation, so that a group deleted by a call just
 * before is refused: a group that is not there would be dropped at enforcement and admit everyone.
 */
function checkGroups(st: ControlState, caller: Account, vpc: Vpc, ids: readonly string[], defaultGroup: string | undefined): string[] {
  for (const id of ids) {
    const g = st.securityGroups.get(id);
    if (g ? g.owner !== caller.name || g.vpc_id !== vpc.id : id !== defaultGroup) {
      throw new DomainError('SecurityGroupNotFound', `The security group '${id}' does not exist in VPC '${vpc.id}'`);
    }
  }
  return [...new Set(ids)];
}

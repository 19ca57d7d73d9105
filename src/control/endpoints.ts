// The endpoint requests of a consumer: create an endpoint (an interface endpoint here, a gateway
// endpoint in gateway-endpoints.ts), change its whitelist, delete it.
import { DEFAULTS } from '../model/defaults.js';
import type { CreateEndpointCommand, UpdateEndpointCommand } from '../model/commands.js';
import { DomainError } from '../model/errors.js';
import type { PolicyOptions } from '../model/policy.js';
import { allocatePrivateIp, applyTags, mayConnect, normaliseWhitelist } from '../model/rules.js';
import type { Account, Endpoint, Subnet, Vpc } from '../model/types.js';
import { cidrOf, intToIp, ipToInt } from '../net/cidr.js';
import { hostAddress } from '../net/loopback.js';
import { newGatewayEndpoint, refuseEniFields } from './gateway-endpoints.js';
import { now, type ControlState } from './state.js';
import { bringEndpointUp, finishEndpointDeletion, pushEndpoint } from './transitions.js';

export async function createEndpoint(st: ControlState, caller: Account, cmd: CreateEndpointCommand, policy: PolicyOptions): Promise<Endpoint> {
  const endpoint = await st.serial(async () => {
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
    if (cmd.subnetId === undefined) throw new DomainError('InvalidSubnetId', 'subnet_id is required for an interface endpoint');
    const subnet = vpc.subnets.find((x) => x.id === cmd.subnetId);
    if (!subnet) {
      const elsewhere = [...st.vpcs.values()].some((v) => v.account === caller.name && v.subnets.some((x) => x.id === cmd.subnetId));
      if (elsewhere) throw new DomainError('NetworkNotInVpc', `subnet ${cmd.subnetId} does not belong to VPC ${vpc.id}`);
      throw new DomainError('SubnetNotFound', `subnet ${cmd.subnetId} does not exist`);
    }
    if (subnet.aws_reserved && cmd.ip !== undefined && (cmd.ip === intToIp(cidrOf(subnet.cidr).base + 2) || cmd.ip === intToIp(cidrOf(subnet.cidr).base + 3))) {
      throw new DomainError('InvalidPortIp', `invalid port_ip ${cmd.ip}: AWS reserves the first four addresses of subnet ${subnet.cidr}`);
    }
    const ip = allocatePrivateIp(cidrOf(subnet.cidr), usedIps(st, vpc, subnet), cmd.ip);
    const whitelist = normaliseWhitelist(cmd.whitelist ?? []);
    if (st.usage(caller).endpoint >= caller.quotas.endpoint) {
      throw new DomainError('QuotaExceeded', `quota exceeded: at most ${caller.quotas.endpoint} endpoints per account`);
    }
    const id = st.newEndpointId(cmd.id);
    const t = now();
    const e: Endpoint = {
      id,
      owner: caller.name,
      service_id: s.id,
      service_name: s.service_name,
      service_type: s.service_type,
      vpc_id: vpc.id,
      subnet_id: subnet.id,
      ip,
      host_ip: hostAddress(vpc.number, ipToInt(ip)),
      snat_ip: s.approval_enabled ? null : st.newSnatIp(),
      marker_id: st.newMarkerId(),
      // huawei-vpcep-api.md "Statuses": approval on -> pendingAcceptance, off -> creating.
      status: s.approval_enabled ? 'pendingAcceptance' : 'creating',
      enable_dns: cmd.dns ?? false,
      whitelist,
      enable_whitelist: cmd.whitelistEnabled ?? false,
      ...(cmd.zoneAffinity !== undefined ? { zone_affinity: cmd.zoneAffinity } : {}),
      ...(cmd.securityGroups ? { security_groups: checkGroups(st, caller, vpc, cmd.securityGroups) } : {}),
      routetables: [],
      description: cmd.description ?? '',
      tags: applyTags([], 'create', cmd.tags ?? [], DEFAULTS.limits.tagsPerResource),
      created_at: t,
      updated_at: t,
    };
    await st.commit([{ kind: 'endpoint', id, value: e }], () => st.endpoints.set(id, e));
    return e;
  });
  if (endpoint.status === 'creating') st.track(bringEndpointUp(st, endpoint.id));
  return endpoint;
}

export async function updateEndpoint(st: ControlState, caller: Account, id: string, cmd: UpdateEndpointCommand): Promise<Endpoint> {
  const next = await st.serial(async () => {
    const e = st.ownEndpoint(caller, id);
    if (e.status === 'deleting') throw new DomainError('BeingDeleted', `endpoint ${id} is being deleted`);
    if (e.service_type === 'gateway') refuseEniFields(cmd, ['whitelist', 'whitelistEnabled', 'securityGroups', 'zoneAffinity']);
    const n: Endpoint = {
      ...e,
      ...(cmd.zoneAffinity !== undefined ? { zone_affinity: cmd.zoneAffinity } : {}),
      ...(cmd.whitelist !== undefined ? { whitelist: normaliseWhitelist(cmd.whitelist) } : {}),
      ...(cmd.whitelistEnabled !== undefined ? { enable_whitelist: cmd.whitelistEnabled } : {}),
      ...(cmd.securityGroups !== undefined ? { security_groups: checkGroups(st, caller, st.vpcs.get(e.vpc_id)!, cmd.securityGroups) } : {}),
      updated_at: now(),
    };
    await st.commit([{ kind: 'endpoint', id, value: n }], () => st.endpoints.set(id, n));
    return n;
  });
  if (next.status === 'accepted') await pushEndpoint(st, id);
  return st.endpoints.get(id) ?? next;
}

export async function deleteEndpoint(st: ControlState, caller: Account, id: string): Promise<void> {
  await st.serial(async () => {
    const e = st.ownEndpoint(caller, id);
    if (e.status === 'deleting') throw new DomainError('BeingDeleted', `endpoint ${id} is being deleted`);
    const n: Endpoint = { ...e, status: 'deleting', snat_ip: null, updated_at: now() };
    await st.commit([{ kind: 'endpoint', id, value: n }], () => st.endpoints.set(id, n));
  });
  await finishEndpointDeletion(st, id);
}

/**
 * An endpoint's security groups: a stored one must be the caller's and of the endpoint's VPC; an id
 * the domain has no group for (a config VPC's virtual default group, checked by the dialect) is
 * kept and not enforced.
 */
function checkGroups(st: ControlState, caller: Account, vpc: Vpc, ids: readonly string[]): string[] {
  for (const id of ids) {
    const g = st.securityGroups.get(id);
    if (g && (g.owner !== caller.name || g.vpc_id !== vpc.id)) throw new DomainError('SecurityGroupNotFound', `The security group '${id}' does not exist in VPC '${vpc.id}'`);
  }
  return [...new Set(ids)];
}

function usedIps(st: ControlState, vpc: Vpc, subnet: Subnet): Set<string> {
  const used = new Set(vpc.ports.map((p) => p.ip));
  for (const e of st.endpoints.values()) if (e.vpc_id === vpc.id && e.ip) used.add(e.ip);
  // AWS reserves the first four addresses and the last of a subnet made through its API (the
  // network, router and last are reserved for every subnet: rules.ts reservedReason)
  if (subnet.aws_reserved) {
    const base = cidrOf(subnet.cidr).base;
    for (const ip of [base + 2, base + 3]) used.add(intToIp(ip));
  }
  return used;
}

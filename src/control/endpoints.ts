// The endpoint requests of a consumer: create an endpoint (an interface endpoint here, a gateway
// endpoint in gateway-endpoints.ts), change its whitelist, delete it.
import { randomUUID } from 'node:crypto';
import { DEFAULTS } from '../model/defaults.js';
import { ApiError } from '../model/errors.js';
import type { PolicyOptions } from '../model/policy.js';
import type { CreateEndpointBody, UpdateEndpointBody } from '../model/requests.js';
import { allocatePrivateIp, applyTags, mayConnect, normaliseWhitelist } from '../model/rules.js';
import type { Account, Endpoint, Vpc } from '../model/types.js';
import { cidrOf, ipToInt } from '../net/cidr.js';
import { hostAddress } from '../net/loopback.js';
import { newGatewayEndpoint, refuseEniFields } from './gateway-endpoints.js';
import { now, type ControlState } from './state.js';
import { bringEndpointUp, finishEndpointDeletion, pushEndpoint } from './transitions.js';

export async function createEndpoint(st: ControlState, caller: Account, body: CreateEndpointBody, policy: PolicyOptions): Promise<Endpoint> {
  const endpoint = await st.serial(async () => {
    const s = st.services.get(body.endpoint_service_id);
    if (!s || s.status === 'deleting') {
      throw new ApiError('ServiceNotFound', `endpoint service ${body.endpoint_service_id} does not exist`);
    }
    // 000_9af245a83013c30f.txt 3.6: another account needs a whitelist record to connect.
    if (!mayConnect(s, caller)) {
      throw new ApiError('NotWhitelisted', `account ${caller.domain_id} is not in the whitelist of endpoint service ${s.id}`);
    }
    if (s.status !== 'available') throw new ApiError('ServiceUnavailable', `endpoint service ${s.id} is ${s.status}`);
    const vpc = st.vpcs.get(body.vpc_id);
    if (!vpc || vpc.account !== caller.name) throw new ApiError('VpcNotFound', `VPC ${body.vpc_id} does not exist`);
    if (s.service_type === 'gateway') return newGatewayEndpoint(st, caller, s, vpc, body, policy);
    if (body.routetables !== undefined || body.policy_statement !== undefined) {
      throw new ApiError('InvalidParameter', 'routetables and policy_statement apply to gateway endpoints only');
    }
    if (body.subnet_id === undefined) throw new ApiError('InvalidSubnetId', 'subnet_id is required for an interface endpoint');
    const subnet = vpc.subnets.find((x) => x.id === body.subnet_id);
    if (!subnet) {
      const elsewhere = [...st.vpcs.values()].some((v) => v.account === caller.name && v.subnets.some((x) => x.id === body.subnet_id));
      if (elsewhere) throw new ApiError('NetworkNotInVpc', `subnet ${body.subnet_id} does not belong to VPC ${vpc.id}`);
      throw new ApiError('SubnetNotFound', `subnet ${body.subnet_id} does not exist`);
    }
    const ip = allocatePrivateIp(cidrOf(subnet.cidr), usedIps(st, vpc), body.port_ip);
    const whitelist = normaliseWhitelist(body.whitelist ?? []);
    if (st.usage(caller).endpoint >= caller.quotas.endpoint) {
      throw new ApiError('QuotaExceeded', `quota exceeded: at most ${caller.quotas.endpoint} endpoints per account`);
    }
    const id = randomUUID();
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
      enable_dns: body.enable_dns ?? false,
      whitelist,
      enable_whitelist: body.enable_whitelist ?? false,
      routetables: [],
      description: body.description ?? '',
      tags: applyTags([], 'create', body.tags ?? [], DEFAULTS.limits.tagsPerResource),
      created_at: t,
      updated_at: t,
    };
    await st.commit([{ kind: 'endpoint', id, value: e }], () => st.endpoints.set(id, e));
    return e;
  });
  if (endpoint.status === 'creating') st.track(bringEndpointUp(st, endpoint.id));
  return endpoint;
}

export async function updateEndpoint(st: ControlState, caller: Account, id: string, body: UpdateEndpointBody): Promise<Endpoint> {
  const next = await st.serial(async () => {
    const e = st.ownEndpoint(caller, id);
    if (e.status === 'deleting') throw new ApiError('BeingDeleted', `endpoint ${id} is being deleted`);
    if (e.service_type === 'gateway') refuseEniFields(body, ['whitelist', 'enable_whitelist']);
    const n: Endpoint = {
      ...e,
      ...(body.whitelist !== undefined ? { whitelist: normaliseWhitelist(body.whitelist) } : {}),
      ...(body.enable_whitelist !== undefined ? { enable_whitelist: body.enable_whitelist } : {}),
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
    if (e.status === 'deleting') throw new ApiError('BeingDeleted', `endpoint ${id} is being deleted`);
    const n: Endpoint = { ...e, status: 'deleting', snat_ip: null, updated_at: now() };
    await st.commit([{ kind: 'endpoint', id, value: n }], () => st.endpoints.set(id, n));
  });
  await finishEndpointDeletion(st, id);
}

function usedIps(st: ControlState, vpc: Vpc): Set<string> {
  const used = new Set(vpc.ports.map((p) => p.ip));
  for (const e of st.endpoints.values()) if (e.vpc_id === vpc.id && e.ip) used.add(e.ip);
  return used;
}

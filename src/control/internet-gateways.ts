// Internet gateways made through the EC2 API (Terraform's aws_internet_gateway, a public subnet's
// default route): stored documents of their own (kind `internetgateway`), each account sees its
// own. A gateway is attached to at most one VPC made through the API, a VPC has at most one; a
// VPC with one attached cannot be deleted, nor an attached gateway. A route to a gateway
// (CreateRoute, gateway-endpoints.ts updateRouteTable) names one of the caller's attached to the
// table's VPC. A route to a gateway no longer attached is blackhole (route-tables.ts routingView).
import type { TagInput } from '../model/commands.js';
import { DEFAULTS } from '../model/defaults.js';
import { DomainError } from '../model/errors.js';
import { applyTags } from '../model/rules.js';
import type { Account, InternetGateway, Vpc } from '../model/types.js';
import type { Change } from '../store/store.js';
import { apiVpc, inVpc, ownVpc } from './network.js';
import type { ControlState, TagPlan } from './state.js';
import { pushRouting } from './transitions.js';

const igwChange = (g: InternetGateway): Change => ({ kind: 'internetgateway', id: g.id, value: g });

export function internetGateways(st: ControlState, caller: Account): InternetGateway[] {
  return [...st.internetGateways.values()].filter((g) => g.owner === caller.name);
}

/** the caller's gateway; another account's does not exist for it */
function ownGateway(st: ControlState, caller: Account, id: string): InternetGateway {
  const g = st.internetGateways.get(id);
  if (!g || g.owner !== caller.name) throw new DomainError('InternetGatewayNotFound', `The internetGateway ID '${id.slice(0, 64)}' does not exist`);
  return g;
}

/** the gateway attached to a VPC, if any */
export function gatewayOfVpc(st: ControlState, vpcId: string): InternetGateway | undefined {
  for (const g of st.internetGateways.values()) if (g.vpc_id === vpcId) return g;
  return undefined;
}

export async function createInternetGateway(st: ControlState, caller: Account, cmd: { id: string; tags?: readonly TagInput[] }): Promise<InternetGateway> {
  return st.serial(async () => {
    if (st.internetGateways.has(cmd.id)) throw new DomainError('InvalidParameter', `id ${cmd.id} is already taken`);
    const g: InternetGateway = { id: cmd.id, owner: caller.name, vpc_id: null, tags: applyTags([], 'create', cmd.tags ?? [], DEFAULTS.limits.tagsPerResource) };
    await st.commit([igwChange(g)], () => st.internetGateways.set(g.id, g));
    return g;
  });
}

export async function attachInternetGateway(st: ControlState, caller: Account, id: string, vpcId: string): Promise<InternetGateway> {
  const attached = await st.serial(async () => {
    const g = ownGateway(st, caller, id);
    const v = apiVpc(st, caller, vpcId, 'it has no internet gateway of the API');
    if (g.vpc_id !== null) throw new DomainError('GatewayAlreadyAttached', `resource ${id} is already attached to network ${g.vpc_id}`);
    const other = gatewayOfVpc(st, v.id);
    if (other) throw new DomainError('GatewayAlreadyAttached', `Network ${v.id} already has an internet gateway attached (${other.id})`);
    const next: InternetGateway = { ...g, vpc_id: v.id };
    // the VPC written unchanged: its deletion through another node at once conflicts (inVpc)
    await st.commit([igwChange(next), ...inVpc(v)], () => st.internetGateways.set(id, next));
    return next;
  });
  // routes to it lead to it again (model/routing.ts: public services' traffic relayed as internet traffic)
  await pushRouting(st);
  return attached;
}

/** routes to a detached gateway stay in their tables, blackhole (route-tables.ts routingView), as AWS shows them */
export async function detachInternetGateway(st: ControlState, caller: Account, id: string, vpcId: string): Promise<InternetGateway> {
  const detached = await st.serial(async () => {
    const g = ownGateway(st, caller, id);
    ownVpc(st, caller, vpcId);
    if (g.vpc_id !== vpcId) throw new DomainError('GatewayNotAttached', `resource ${id} is not attached to network ${vpcId}`);
    const next: InternetGateway = { ...g, vpc_id: null };
    await st.commit([igwChange(next)], () => st.internetGateways.set(id, next));
    return next;
  });
  await pushRouting(st);
  return detached;
}

export async function deleteInternetGateway(st: ControlState, caller: Account, id: string): Promise<void> {
  await st.serial(async () => {
    const g = ownGateway(st, caller, id);
    if (g.vpc_id !== null) throw new DomainError('DependencyViolation', `The internetGateway '${id}' has dependencies and cannot be deleted: attached to ${g.vpc_id}`);
    await st.commit([{ kind: 'internetgateway', id, value: null }], () => st.internetGateways.delete(id));
  });
}

/** a tag change of one of the caller's internet gateways, to commit (inside the caller's serial section) */
export function planInternetGatewayTags(st: ControlState, caller: Account, id: string, action: 'create' | 'delete', tags: readonly TagInput[]): TagPlan {
  const g = ownGateway(st, caller, id);
  const next: InternetGateway = { ...g, tags: applyTags(g.tags, action, tags, DEFAULTS.limits.tagsPerResource) };
  return { changes: [igwChange(next)], apply: () => st.internetGateways.set(id, next) };
}

/**
 * A new route of a VPC made through the API to GATEWAY: one of the caller's internet gateways,
 * attached to that VPC (AWS's CreateRoute). Config VPCs' igw routes are the config's and the
 * Huawei API's, whose gateways are not stored: not checked.
 */
export function checkRouteGateway(st: ControlState, caller: Account, vpc: Vpc, tableId: string, gateway: string): void {
  if (vpc.origin !== 'api') return;
  const g = st.internetGateways.get(gateway);
  if (!g || g.owner !== caller.name) throw new DomainError('GatewayNotFound', `The gateway ID '${gateway.slice(0, 64)}' does not exist`);
  if (g.vpc_id !== vpc.id) throw new DomainError('InvalidParameter', `route table ${tableId} and network gateway ${gateway} belong to different networks`);
}

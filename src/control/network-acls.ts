// Network ACLs (EC2's CreateNetworkAcl, its entries and associations; Terraform's aws_network_acl,
// aws_network_acl_rule, aws_network_acl_association, aws_default_network_acl). Each VPC has a
// default ACL, id derived from its VPC's, with AWS's rules (DEFAULT_ACL_ENTRIES) until they are
// changed: then it is stored (kind `networkacl`) like the ACLs made with CreateNetworkAcl, and
// deleted with its VPC. A subnet's association is kept on the subnet (`network_acl_id`, absent: the
// default ACL), in its VPC's document, so that two nodes of a fleet moving one subnet at once meet
// on that document's compare-and-swap; each change of an ACL that must still be there writes its
// document too. Config VPCs' ACLs are the config's: their default ACL is shown, never changed.
// Enforced on interface endpoints: the inbound rules of an ENI's subnet's ACL (the client to the
// port) and its outbound rules (the answers to the client's source port) admit or refuse each
// connection (network_acl) on both relays (enforcedAcl, src/model/admission.ts); a change reaches
// the endpoints of the VPC before the answer.
import { createHash } from 'node:crypto';
import type { CreateNetworkAclCommand, TagInput } from '../model/commands.js';
import { DEFAULTS } from '../model/defaults.js';
import { DomainError } from '../model/errors.js';
import { DEFAULT_ACL_ENTRIES, entryOf, putEntry, removeEntry, type NetworkAclEntryInput } from '../model/network-acls.js';
import { applyTags, madeWithToken } from '../model/rules.js';
import type { LiveEni } from '../model/events.js';
import type { Account, NetworkAcl, Vpc } from '../model/types.js';
import type { Change } from '../store/store.js';
import { apiVpc } from './network.js';
import type { ControlState, TagPlan } from './state.js';
import { pushEndpoint } from './transitions.js';

/** an ACL with the subnets associated with it */
export interface NetworkAclView extends NetworkAcl {
  readonly subnets: readonly string[];
}

/** a VPC's default ACL's id: `acl-` + 17 hex of a hash of the VPC's id (the id vpcep-sim showed before ACLs were stored) */
export function defaultNetworkAclId(vpcId: string): string {
  return `acl-${createHash('sha256').update(`acl\0${vpcId}`).digest('hex').slice(0, 17)}`;
}

const aclChange = (a: NetworkAcl): Change => ({ kind: 'networkacl', id: a.id, value: a });
const vpcChange = (v: Vpc): Change => ({ kind: 'apivpc', id: v.id, value: v });

/** the VPC's default ACL: stored once changed, else AWS's */
function defaultAcl(st: ControlState, v: Vpc): NetworkAcl {
  const id = defaultNetworkAclId(v.id);
  return st.networkAcls.get(id) ?? { id, owner: v.account, vpc_id: v.id, default: true, entries: DEFAULT_ACL_ENTRIES, tags: [] };
}

function viewOf(a: NetworkAcl, v: Vpc | undefined): NetworkAclView {
  const subnets = (v?.subnets ?? []).filter((s) => (s.network_acl_id ?? defaultNetworkAclId(v!.id)) === a.id).map((s) => s.id);
  return { ...a, subnets };
}

/** the caller's ACLs: each VPC's default one, and those made with CreateNetworkAcl */
export function networkAcls(st: ControlState, caller: Account): NetworkAclView[] {
  const out: NetworkAclView[] = [];
  for (const v of st.vpcs.values()) if (v.account === caller.name) out.push(viewOf(defaultAcl(st, v), v));
  for (const a of st.networkAcls.values()) if (a.owner === caller.name && !a.default) out.push(viewOf(a, st.vpcs.get(a.vpc_id)));
  return out;
}

/** the caller's ACL; another account's does not exist for it */
function ownAcl(st: ControlState, caller: Account, id: string): NetworkAcl {
  const stored = st.networkAcls.get(id);
  if (stored?.owner === caller.name) return stored;
  for (const v of st.vpcs.values()) if (v.account === caller.name && defaultNetworkAclId(v.id) === id) return defaultAcl(st, v);
  throw new DomainError('NetworkAclNotFound', `The networkAcl ID '${id.slice(0, 64)}' does not exist`);
}

/** the caller's ACL in a VPC made through the API, which may change */
function changeableAcl(st: ControlState, caller: Account, id: string): { acl: NetworkAcl; vpc: Vpc } {
  const acl = ownAcl(st, caller, id);
  return { acl, vpc: apiVpc(st, caller, acl.vpc_id, 'its network ACL is the config\'s') };
}

export async function createNetworkAcl(st: ControlState, caller: Account, cmd: CreateNetworkAclCommand): Promise<NetworkAclView> {
  return st.serial(async () => {
    const before = cmd.clientToken && madeWithToken(st.networkAcls.values(), caller.name, cmd.clientToken);
    if (before) return viewOf(before, st.vpcs.get(before.vpc_id)!);
    const v = apiVpc(st, caller, cmd.vpcId, 'its network ACLs are the config\'s');
    if (st.networkAcls.has(cmd.id)) throw new DomainError('InvalidParameter', `id ${cmd.id} is already taken`);
    // AWS's new ACL denies everything: no rules but the catch-all
    const a: NetworkAcl = {
      id: cmd.id, owner: caller.name, vpc_id: v.id, default: false, entries: [], tags: applyTags([], 'create', cmd.tags ?? [], DEFAULTS.limits.tagsPerResource),
      ...(cmd.clientToken ? { client_token: cmd.clientToken } : {}),
    };
    // the VPC's document is written unchanged: a VPC deleted at once through another node conflicts
    await st.commit([aclChange(a), vpcChange(v)], () => st.networkAcls.set(a.id, a));
    return viewOf(a, v);
  });
}

export async function deleteNetworkAcl(st: ControlState, caller: Account, id: string): Promise<void> {
  await st.serial(async () => {
    const { acl, vpc } = changeableAcl(st, caller, id);
    if (acl.default) throw new DomainError('DefaultNetworkAclUndeletable', `cannot delete default network ACL ${id}`);
    const subnets = viewOf(acl, vpc).subnets;
    if (subnets.length) throw new DomainError('DependencyViolation', `The networkAcl '${id}' has dependencies and cannot be deleted: associated with subnets ${subnets.join(', ')}`);
    await st.commit([{ kind: 'networkacl', id, value: null }], () => st.networkAcls.delete(id));
  });
}

/**
 * The TCP rules an ENI in SUBNET of VPC admits by, each direction in rule-number order: `-1` on
 * every port, `6` on its ports (other protocols carry no TCP); inbound ones hold the client and the
 * terminal port, outbound ones the client and its source port (the ENI's answers: ACLs are
 * stateless). null: not enforced, its ACL being AWS's allow-all default never changed, or a config VPC's.
 */
export function enforcedAcl(st: ControlState, vpc: Vpc, subnetId: string): LiveEni['network_acl'] {
  if (vpc.origin !== 'api') return null;
  const subnet = vpc.subnets.find((s) => s.id === subnetId);
  const acl = st.networkAcls.get(subnet?.network_acl_id ?? defaultNetworkAclId(vpc.id));
  if (!acl) return null;
  const tcp = acl.entries.filter((r) => r.protocol === '-1' || r.protocol === '6').sort((a, b) => a.rule_number - b.rule_number);
  const rules = (egress: boolean) => tcp.filter((r) => r.egress === egress)
    .map((r) => ({ cidr: r.cidr, from_port: r.from_port ?? 0, to_port: r.to_port ?? 65535, allow: r.action === 'allow' }));
  return { inbound: rules(false), outbound: rules(true) };
}

/** the interface endpoints of the VPC take its ACLs as they are now (before the answer: new connections follow at once) */
async function pushVpcEndpoints(st: ControlState, vpcId: string): Promise<void> {
  for (const e of st.endpoints.values()) if (e.vpc_id === vpcId && e.service_type === 'interface' && e.status === 'accepted') await pushEndpoint(st, e.id);
}

export type NetworkAclEntryChange =
  | { readonly op: 'create' | 'replace'; readonly entry: NetworkAclEntryInput }
  | { readonly op: 'delete'; readonly ruleNumber: number; readonly egress: boolean };

/** adds, replaces or deletes one rule (the default ACL is stored from its first change on) */
export async function changeNetworkAclEntry(st: ControlState, caller: Account, id: string, change: NetworkAclEntryChange): Promise<NetworkAclView> {
  const view = await st.serial(async () => {
    const { acl, vpc } = changeableAcl(st, caller, id);
    const next = change.op === 'delete' ? removeEntry(acl, change.ruleNumber, change.egress) : putEntry(acl, entryOf(change.entry), change.op);
    await st.commit([aclChange(next)], () => st.networkAcls.set(id, next));
    return viewOf(next, vpc);
  });
  await pushVpcEndpoints(st, view.vpc_id);
  return view;
}

/** the subnet's association moves to ACL `id` of its VPC (EC2's ReplaceNetworkAclAssociation) */
export async function associateNetworkAcl(st: ControlState, caller: Account, subnetId: string, id: string, from: { readonly acl: string; readonly id: string }): Promise<void> {
  const vpcId = await st.serial(async () => {
    const { acl, vpc } = changeableAcl(st, caller, id);
    const subnet = vpc.subnets.find((s) => s.id === subnetId);
    if (!subnet) throw new DomainError('InvalidParameter', `subnet ${subnetId} and network ACL ${id} belong to different networks`);
    // the association the caller named, checked where the change is made (concurrent replaces of one
    // association each answered OK with a new id, one of them left)
    if ((subnet.network_acl_id ?? defaultNetworkAclId(vpc.id)) !== from.acl) throw new DomainError('AssociationNotFound', `The association ID '${from.id.slice(0, 60)}' does not exist`);
    const next: Vpc = {
      ...vpc,
      subnets: vpc.subnets.map((s) => {
        if (s.id !== subnetId) return s;
        const { network_acl_id: _, ...rest } = s;
        return acl.default ? rest : { ...rest, network_acl_id: id };
      }),
    };
    // the ACL's document too (when it has one): an ACL deleted at once through another node conflicts
    const changes = st.networkAcls.has(id) ? [vpcChange(next), aclChange(acl)] : [vpcChange(next)];
    await st.commit(changes, () => st.vpcs.set(vpc.id, next));
    return vpc.id;
  });
  await pushVpcEndpoints(st, vpcId);
}

/** a tag change of one of the caller's network ACLs, to commit (inside the caller's serial section) */
export function planNetworkAclTags(st: ControlState, caller: Account, id: string, action: 'create' | 'delete', tags: readonly TagInput[]): TagPlan {
  const { acl } = changeableAcl(st, caller, id);
  const next: NetworkAcl = { ...acl, tags: applyTags(acl.tags, action, tags, DEFAULTS.limits.tagsPerResource) };
  return { changes: [aclChange(next)], apply: () => st.networkAcls.set(id, next) };
}

/** what a VPC's deletion must wait for (its ACLs made with CreateNetworkAcl), and the changes that delete its default ACL */
export function aclsOfDeletedVpc(st: ControlState, vpcId: string): { blocking: string[]; changes: Change[]; apply: () => void } {
  const blocking: string[] = [];
  const stored: string[] = [];
  for (const a of st.networkAcls.values()) {
    if (a.vpc_id !== vpcId) continue;
    if (a.default) stored.push(a.id);
    else blocking.push(a.id);
  }
  return {
    blocking,
    changes: stored.map((id): Change => ({ kind: 'networkacl', id, value: null })),
    apply: () => { for (const id of stored) st.networkAcls.delete(id); },
  };
}

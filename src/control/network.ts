// The network inventory made through an API (issue 12: "a stack is built through the API as
// Terraform does"): VPCs, their subnets and route tables, and security groups. Config VPCs stay the
// config's (src/control/inventory.ts): nothing here changes or deletes them, but security groups may
// be made in them. A VPC made here gets its loopback number like a config VPC (the lowest one never
// handed out, kept in meta `vpc_numbers` so that no later config VPC takes it) and is stored whole
// (kind `apivpc`: subnets and route tables inside); security groups are documents of their own.
import type {
  CreateRouteTableCommand, CreateSecurityGroupCommand, CreateSubnetCommand, CreateVpcCommand, RouteTableAssociation, SecurityGroupRuleChange, SecurityGroupRuleInput, TagInput, VpcAttributesInput,
} from '../model/commands.js';
import { gatewayOf } from '../model/config.js';
import { DEFAULTS } from '../model/defaults.js';
import { DomainError } from '../model/errors.js';
import { applyTags, sameRequest } from '../model/rules.js';
import { admitsMembers, type Account, type ClientToken, type Endpoint, type RouteTable, type SecurityGroup, type SecurityGroupRule, type Subnet, type Tag, type Vpc } from '../model/types.js';
import { cidrCovers, cidrOf, cidrsOverlap, parseCidr, SNAT_RANGE, type Cidr } from '../net/cidr.js';
import { MAX_VPC_NUMBER, MIN_VPC_NUMBER, pickVpcNumber } from '../net/loopback.js';
import type { Change, Kind } from '../store/store.js';
import { aclsOfDeletedVpc } from './network-acls.js';
import { RETIRED_VPC_NUMBERS } from './inventory.js';
import type { ControlState, TagPlan } from './state.js';
import { pushEndpoint, pushRouting } from './transitions.js';
import { checkZone } from './zones.js';

/** AWS: a VPC's or subnet's IPv4 block is /16 to /28 */
const MIN_PREFIX = 16;
const MAX_PREFIX = 28;

const tagsOf = (tags: readonly TagInput[] | undefined): Tag[] => applyTags([], 'create', tags ?? [], DEFAULTS.limits.tagsPerResource);

/** a VPC's (InvalidVpcRange) or subnet's (InvalidSubnetRange) block, /16 to /28 */
function blockOf(text: string, what: string, range: 'InvalidVpcRange' | 'InvalidSubnetRange'): Cidr {
  const p = parseCidr(text, { strict: true });
  if (!p.ok) throw new DomainError('InvalidParameter', `${what} ${JSON.stringify(text).slice(0, 60)}: ${p.reason}`);
  if (p.cidr.prefix < MIN_PREFIX || p.cidr.prefix > MAX_PREFIX) {
    throw new DomainError(range, `The CIDR '${p.cidr.text}' is invalid: the block range must be between a /${MAX_PREFIX} netmask and /${MIN_PREFIX} netmask`);
  }
  return p.cidr;
}

/** the caller's VPC; another account's does not exist for it */
export function ownVpc(st: ControlState, caller: Account, id: string): Vpc {
  const v = st.vpcs.get(id);
  if (!v || v.account !== caller.name) throw new DomainError('VpcNotFound', `The vpc ID '${id}' does not exist`);
  return v;
}

/** a VPC of the caller made through the API: config VPCs are the config's to change */
export function apiVpc(st: ControlState, caller: Account, id: string, doing: string): Vpc {
  const v = ownVpc(st, caller, id);
  if (v.origin !== 'api') {
    throw new DomainError('OperatorOwned', `VPC ${id} is declared in the config file: ${doing} there (only VPCs made through the API change through it)`);
  }
  return v;
}

function subnetOf(st: ControlState, caller: Account, id: string): { vpc: Vpc; subnet: Subnet } {
  for (const vpc of st.vpcs.values()) {
    if (vpc.account !== caller.name) continue;
    const subnet = vpc.subnets.find((s) => s.id === id);
    if (subnet) return { vpc, subnet };
  }
  throw new DomainError('SubnetNotFound', `The subnet ID '${id}' does not exist`);
}

function tableOfCaller(st: ControlState, caller: Account, id: string): { vpc: Vpc; table: RouteTable } {
  for (const vpc of st.vpcs.values()) {
    if (vpc.account !== caller.name) continue;
    const table = vpc.route_tables.find((t) => t.id === id);
    if (table) return { vpc, table };
  }
  throw new DomainError('RouteTableNotFound', `The routeTable ID '${id}' does not exist`);
}

function checkNewId(st: ControlState, id: string): void {
  const taken = st.vpcs.has(id) || st.securityGroups.has(id) || st.networkAcls.has(id)
    || [...st.vpcs.values()].some((v) => v.subnets.some((s) => s.id === id) || v.route_tables.some((t) => t.id === id));
  if (taken) throw new DomainError('InvalidParameter', `id ${id} is already taken`);
}

/**
 * the lowest loopback number never handed out (config VPCs' numbers stay theirs even while they are
 * out of the config; a deleted VPC's is retired), else the one retired longest ago (pickVpcNumber)
 */
function newVpcNumber(st: ControlState): { number: number; retired?: Record<string, number> } {
  const used = new Set([...Object.values(st.vpcNumbers), ...[...st.vpcs.values()].map((v) => v.number)]);
  const picked = pickVpcNumber(used, st.retiredVpcNumbers);
  if (picked === null) throw new DomainError('VpcLimitExceeded', `every loopback number ${MIN_VPC_NUMBER}-${MAX_VPC_NUMBER} is taken: no more VPCs in the region`);
  return picked;
}

const vpcChange = (v: Vpc): Change => ({ kind: 'apivpc', id: v.id, value: v });
const sgChange = (g: SecurityGroup): Change => ({ kind: 'securitygroup', id: g.id, value: g });

/**
 * A VPC made through the API, written unchanged with what is made in it or attached to it (a load
 * balancer or target group, one moved by SetSubnets, a security group, an internet gateway): its
 * deletion, or its subnet's, through another node of a fleet at once conflicts on the VPC's
 * document, and the one that runs again sees the other (DependencyViolation, or not found). A
 * config VPC is never deleted: nothing to write.
 */
export const inVpc = (v: Vpc): Change[] => (v.origin === 'api' ? [vpcChange(v)] : []);

/**
 * What an endpoint names without writing (ControlState.commit's requires): its VPC's document (its
 * subnets and route tables) and its security groups. The endpoints' create is pipelined: it must
 * not write them (two creates in one VPC would conflict); the deletion of a subnet, VPC or group
 * looks at every endpoint instead (scanned).
 */
export const endpointParents = (e: Endpoint): Array<{ kind: Kind; id: string }> => [
  { kind: 'apivpc', id: e.vpc_id }, ...(e.security_groups ?? []).map((id) => ({ kind: 'securitygroup' as const, id })),
];

/** a deletion that looked for dependents among the endpoints: one made meanwhile through another node fails its batch (ControlState.commit) */
const DEPENDENT_ENDPOINTS = { scanned: ['endpoint'] } as const;

// ---- VPCs ------------------------------------------------------------------------------------

export async function createVpc(st: ControlState, caller: Account, cmd: CreateVpcCommand): Promise<Vpc> {
  const vpc = await st.serial(async () => {
    const cidr = blockOf(cmd.cidr, 'CidrBlock', 'InvalidVpcRange');
    if (cidrsOverlap(cidr, SNAT_RANGE)) {
      throw new DomainError('CidrConflict', `CidrBlock ${cidr.text} overlaps ${SNAT_RANGE.text}, the range endpoints' connections come from`);
    }
    for (const id of [cmd.id, cmd.mainRouteTableId, cmd.defaultSecurityGroupId]) checkNewId(st, id);
    const tags = tagsOf(cmd.tags);
    // the account's quota: the region's loopback numbers are shared, one account must not take them all.
    // Exact on a fleet too: every create rewrites vpc_numbers, so a concurrent one loses its compare-and-swap and counts again
    let made = 0;
    for (const v of st.vpcs.values()) if (v.origin === 'api' && v.account === caller.name) made++;
    if (made >= caller.quotas.vpc) throw new DomainError('VpcLimitExceeded', `quota exceeded: at most ${caller.quotas.vpc} VPCs per account`);
    const { number, retired } = newVpcNumber(st);
    const v: Vpc = {
      id: cmd.id, account: caller.name, cidr: cidr.text, number, subnets: [], ports: [], origin: 'api',
      route_tables: [{ id: cmd.mainRouteTableId, default: true, subnets: [], routes: [{ destination: cidr.text, type: 'local', owner: 'system' }], tags: [] }],
      enable_dns_support: true, enable_dns_hostnames: false, tags,
    };
    // AWS's default group: all egress; its ingress (from its own members) has no CIDR form here
    const sg: SecurityGroup = {
      id: cmd.defaultSecurityGroupId, owner: caller.name, vpc_id: v.id, name: 'default', description: 'default VPC security group',
      default: true, ingress: [], egress: [{ protocol: '-1', from_port: 0, to_port: 65535, cidr: '0.0.0.0/0' }], tags: [],
    };
    const numbers = { ...st.vpcNumbers, [v.id]: number };
    await st.commit([
      vpcChange(v), sgChange(sg), { kind: 'meta', id: 'vpc_numbers', value: numbers },
      ...(retired ? [{ kind: 'meta', id: RETIRED_VPC_NUMBERS, value: retired } as Change] : []),
    ], () => {
      st.vpcs.set(v.id, v);
      st.securityGroups.set(sg.id, sg);
      st.vpcNumbers = numbers;
      if (retired) st.retiredVpcNumbers = retired;
    });
    return v;
  });
  // the data plane learns the VPC's number (isolation, simulated sources) with the routing view
  await pushRouting(st);
  return vpc;
}

export async function deleteVpc(st: ControlState, caller: Account, id: string): Promise<void> {
  await st.serial(async () => {
    const v = apiVpc(st, caller, id, 'remove it');
    const why: string[] = [];
    if (v.subnets.length) why.push(`subnets ${v.subnets.map((s) => s.id).join(', ')}`);
    const endpoints = [...st.endpoints.values()].filter((e) => e.vpc_id === id).map((e) => e.id);
    if (endpoints.length) why.push(`endpoints ${endpoints.join(', ')}`);
    const services = [...st.services.values()].filter((s) => s.vpc_id === id).map((s) => s.id);
    if (services.length) why.push(`endpoint services ${services.join(', ')}`);
    const tables = v.route_tables.filter((t) => !t.default).map((t) => t.id);
    if (tables.length) why.push(`route tables ${tables.join(', ')}`);
    const groups = [...st.securityGroups.values()].filter((g) => g.vpc_id === id && !g.default).map((g) => g.id);
    if (groups.length) why.push(`security groups ${groups.join(', ')}`);
    const gateways = [...st.internetGateways.values()].filter((g) => g.vpc_id === id).map((g) => g.id);
    if (gateways.length) why.push(`internet gateway ${gateways.join(', ')} attached`);
    // a load balancer or target group left behind would name a VPC that is gone (a service could still be made on it)
    const balancers = [...st.loadBalancers.values()].filter((lb) => lb.vpc_id === id).map((lb) => lb.name);
    if (balancers.length) why.push(`load balancers ${balancers.join(', ')}`);
    const targetGroups = [...st.targetGroups.values()].filter((tg) => tg.vpc_id === id).map((tg) => tg.name);
    if (targetGroups.length) why.push(`target groups ${targetGroups.join(', ')}`);
    const acls = aclsOfDeletedVpc(st, id);
    if (acls.blocking.length) why.push(`network ACLs ${acls.blocking.join(', ')}`);
    if (why.length) throw new DomainError('DependencyViolation', `The vpc '${id}' has dependencies and cannot be deleted: ${why.join('; ')}`);
    const defaults = [...st.securityGroups.values()].filter((g) => g.vpc_id === id);
    const numbers = { ...st.vpcNumbers };
    delete numbers[id];
    // its number is retired, not free: handed out again only once every other has been (pickVpcNumber)
    const retired = { ...st.retiredVpcNumbers, [v.number]: Date.now() };
    const changes: Change[] = [
      { kind: 'apivpc', id, value: null },
      ...defaults.map((g): Change => ({ kind: 'securitygroup', id: g.id, value: null })),
      ...v.route_tables.filter((t) => st.userRoutes.has(t.id)).map((t): Change => ({ kind: 'routetable', id: t.id, value: null })),
      ...acls.changes,
      { kind: 'meta', id: 'vpc_numbers', value: numbers },
      { kind: 'meta', id: RETIRED_VPC_NUMBERS, value: retired },
    ];
    await st.commit(changes, () => {
      st.vpcs.delete(id);
      acls.apply();
      for (const g of defaults) st.securityGroups.delete(g.id);
      for (const t of v.route_tables) st.userRoutes.delete(t.id);
      st.vpcNumbers = numbers;
      st.retiredVpcNumbers = retired;
    }, DEPENDENT_ENDPOINTS);
  });
  await pushRouting(st);
}

export async function modifyVpcAttributes(st: ControlState, caller: Account, id: string, a: VpcAttributesInput): Promise<Vpc> {
  return st.serial(async () => {
    const v = apiVpc(st, caller, id, 'its DNS attributes are fixed');
    const next: Vpc = {
      ...v,
      ...(a.enableDnsSupport !== undefined ? { enable_dns_support: a.enableDnsSupport } : {}),
      ...(a.enableDnsHostnames !== undefined ? { enable_dns_hostnames: a.enableDnsHostnames } : {}),
    };
    // AWS: hostnames need DNS support
    if (next.enable_dns_hostnames && next.enable_dns_support === false) {
      throw new DomainError('InvalidParameter', 'enableDnsHostnames requires enableDnsSupport');
    }
    await st.commit([vpcChange(next)], () => st.vpcs.set(id, next));
    return next;
  });
}

// ---- subnets ---------------------------------------------------------------------------------

export async function createSubnet(st: ControlState, caller: Account, cmd: CreateSubnetCommand): Promise<Subnet> {
  const subnet = await st.serial(async () => {
    const v = apiVpc(st, caller, cmd.vpcId, 'declare its subnets');
    const cidr = blockOf(cmd.cidr, 'CidrBlock', 'InvalidSubnetRange');
    if (!cidrCovers(cidrOf(v.cidr), cidr)) throw new DomainError('InvalidSubnetRange', `The CIDR '${cidr.text}' is invalid: it lies outside VPC ${v.id} (${v.cidr})`);
    const clash = v.subnets.find((s) => cidrsOverlap(cidrOf(s.cidr), cidr));
    if (clash) throw new DomainError('CidrConflict', `The CIDR '${cidr.text}' conflicts with subnet ${clash.id} (${clash.cidr})`);
    checkNewId(st, cmd.id);
    const subnet: Subnet = {
      id: cmd.id, cidr: cidr.text, gateway_ip: gatewayOf(cidr), zone: checkZone(st, cmd.zone ?? st.zones[0]!), aws_reserved: true, tags: tagsOf(cmd.tags),
    };
    const next: Vpc = { ...v, subnets: [...v.subnets, subnet] };
    await st.commit([vpcChange(next)], () => st.vpcs.set(v.id, next));
    return subnet;
  });
  // its clients route by its VPC's main table from now on: the data plane and the path tracer with them
  await pushRouting(st);
  return subnet;
}

export async function deleteSubnet(st: ControlState, caller: Account, id: string): Promise<void> {
  await st.serial(async () => {
    const { vpc } = subnetOf(st, caller, id);
    apiVpc(st, caller, vpc.id, 'remove its subnets');
    const why: string[] = [];
    const endpoints = [...st.endpoints.values()].filter((e) => e.enis.some((n) => n.subnet_id === id)).map((e) => e.id);
    if (endpoints.length) why.push(`endpoints ${endpoints.join(', ')}`);
    // a load balancer in it would stay in a subnet that is gone, and its services' zones with it
    const balancers = [...st.loadBalancers.values()].filter((lb) => lb.subnets.includes(id)).map((lb) => lb.name);
    if (balancers.length) why.push(`load balancers ${balancers.join(', ')}`);
    if (why.length) throw new DomainError('DependencyViolation', `The subnet '${id}' has dependencies and cannot be deleted: ${why.join('; ')}`);
    // AWS drops the subnet's route-table association with it
    const next: Vpc = {
      ...vpc,
      subnets: vpc.subnets.filter((s) => s.id !== id),
      route_tables: vpc.route_tables.map((t) => (t.subnets.includes(id) ? { ...t, subnets: t.subnets.filter((s) => s !== id) } : t)),
    };
    await st.commit([vpcChange(next)], () => st.vpcs.set(vpc.id, next), DEPENDENT_ENDPOINTS);
  });
  await pushRouting(st);
}

/** a subnet's attributes (EC2's ModifySubnetAttribute), of a VPC made through the API */
export async function modifySubnetAttributes(st: ControlState, caller: Account, id: string, a: { mapPublicIpOnLaunch?: boolean }): Promise<Subnet> {
  return st.serial(async () => {
    const { vpc, subnet } = subnetOf(st, caller, id);
    apiVpc(st, caller, vpc.id, 'its subnets\' attributes are the config\'s');
    const next: Subnet = { ...subnet, ...(a.mapPublicIpOnLaunch !== undefined ? { map_public_ip_on_launch: a.mapPublicIpOnLaunch } : {}) };
    const v: Vpc = { ...vpc, subnets: vpc.subnets.map((s) => (s.id === id ? next : s)) };
    await st.commit([vpcChange(v)], () => st.vpcs.set(vpc.id, v));
    return next;
  });
}

// ---- route tables ----------------------------------------------------------------------------

/** the route table CALLER made with the client token TOKEN (undefined: none); IdempotencyMismatch when made with other parameters */
function tableOfToken(st: ControlState, caller: Account, token: ClientToken): RouteTable | undefined {
  for (const v of st.vpcs.values()) {
    const t = v.account === caller.name ? v.route_tables.find((x) => x.client_token?.token === token.token) : undefined;
    if (t) return sameRequest(t, token);
  }
  return undefined;
}

export async function createRouteTable(st: ControlState, caller: Account, cmd: CreateRouteTableCommand): Promise<RouteTable> {
  let before: RouteTable | undefined;
  const table = await st.serial(async () => {
    before = cmd.clientToken && tableOfToken(st, caller, cmd.clientToken);
    if (before) return before;
    const v = apiVpc(st, caller, cmd.vpcId, 'declare its route tables');
    checkNewId(st, cmd.id);
    const t: RouteTable = {
      id: cmd.id, default: false, subnets: [], routes: [{ destination: v.cidr, type: 'local', owner: 'system' }], tags: tagsOf(cmd.tags),
      ...(cmd.clientToken ? { client_token: cmd.clientToken } : {}),
    };
    const next: Vpc = { ...v, route_tables: [...v.route_tables, t] };
    await st.commit([vpcChange(next)], () => st.vpcs.set(v.id, next));
    return t;
  });
  if (!before) await pushRouting(st);
  return table;
}

export async function deleteRouteTable(st: ControlState, caller: Account, id: string): Promise<void> {
  await st.serial(async () => {
    const { vpc, table } = tableOfCaller(st, caller, id);
    apiVpc(st, caller, vpc.id, 'remove its route tables');
    if (table.default) throw new DomainError('DependencyViolation', `The routeTable '${id}' is the main route table of ${vpc.id}: it goes with the VPC`);
    if (table.subnets.length) {
      throw new DomainError('DependencyViolation', `The routeTable '${id}' has dependencies and cannot be deleted: associated with ${table.subnets.join(', ')}`);
    }
    const gateways = [...st.endpoints.values()].filter((e) => e.routetables.includes(id) && e.status !== 'deleting').map((e) => e.id);
    if (gateways.length) throw new DomainError('DependencyViolation', `The routeTable '${id}' has dependencies and cannot be deleted: gateway endpoints ${gateways.join(', ')}`);
    const next: Vpc = { ...vpc, route_tables: vpc.route_tables.filter((t) => t.id !== id) };
    const changes: Change[] = [vpcChange(next), ...(st.userRoutes.has(id) ? [{ kind: 'routetable', id, value: null } as Change] : [])];
    await st.commit(changes, () => {
      st.vpcs.set(vpc.id, next);
      st.userRoutes.delete(id);
    }, DEPENDENT_ENDPOINTS);
  });
  await pushRouting(st);
}

/** a subnet takes its routes from TABLE instead of the one it had (the main table when none); null: back to the main table */
export async function associateRouteTable(st: ControlState, caller: Account, subnetId: string, tableId: string | null, from: RouteTableAssociation): Promise<void> {
  await st.serial(async () => {
    const { vpc } = subnetOf(st, caller, subnetId);
    apiVpc(st, caller, vpc.id, 'declare its associations');
    // what the caller read is checked where the change is made: concurrent calls each answered OK,
    // with association ids of which one was left (a lost update)
    // the table named first, as AWS checks the resources a request names before their state: a table
    // that does not exist was Resource.AlreadyAssociated on a subnet associated already
    if (tableId !== null) {
      const { vpc: tableVpc } = tableOfCaller(st, caller, tableId);
      if (tableVpc.id !== vpc.id) throw new DomainError('InvalidParameter', `route table ${tableId} and subnet ${subnetId} belong to different networks`);
    }
    const now = vpc.route_tables.find((t) => t.subnets.includes(subnetId))?.id ?? null;
    if (from.table === null && now !== null) {
      throw new DomainError('SubnetAlreadyAssociated', `the specified association for route table ${now} conflicts with an existing association`);
    }
    if (from.table !== null && now !== from.table) throw new DomainError('AssociationNotFound', `The association ID '${from.id.slice(0, 60)}' does not exist`);
    const next: Vpc = {
      ...vpc,
      route_tables: vpc.route_tables.map((t) => {
        const without = t.subnets.filter((s) => s !== subnetId);
        // the main table too: AWS lets a subnet be associated with it explicitly (an association of its own)
        return { ...t, subnets: t.id === tableId ? [...without, subnetId] : without };
      }),
    };
    await st.commit([vpcChange(next)], () => st.vpcs.set(vpc.id, next));
  });
  await pushRouting(st);
}

/**
 * TABLE becomes its VPC's main table (EC2's ReplaceRouteTableAssociation of the main association:
 * Terraform's aws_main_route_table_association); the one it replaces stays, an ordinary table the
 * VPC's deletion waits for, and the subnets without an association route by the new one.
 */
export async function replaceMainRouteTable(st: ControlState, caller: Account, tableId: string, vpcId: string): Promise<void> {
  await st.serial(async () => {
    const { vpc } = tableOfCaller(st, caller, tableId);
    apiVpc(st, caller, vpc.id, 'its main route table is the config\'s');
    if (vpc.id !== vpcId) throw new DomainError('InvalidParameter', `route table ${tableId} does not belong to ${vpcId}, the network of the main association`);
    const next: Vpc = { ...vpc, route_tables: vpc.route_tables.map((t) => (t.default === (t.id === tableId) ? t : { ...t, default: t.id === tableId })) };
    await st.commit([vpcChange(next)], () => st.vpcs.set(vpc.id, next));
  });
  await pushRouting(st);
}

// ---- tags ------------------------------------------------------------------------------------

/** the network resources that carry tags */
export type NetworkTagKind = 'vpc' | 'subnet' | 'route_table' | 'security_group' | 'security_group_rule';

/** adds or removes tags of a security group, or of a VPC, subnet or route table made through the API (a config VPC's are the config's) */
/** a tag change of one of the caller's VPCs, subnets, route tables or security groups, to commit (inside the caller's serial section) */
export function planNetworkTags(st: ControlState, caller: Account, kind: NetworkTagKind, id: string, action: 'create' | 'delete', tags: readonly TagInput[]): TagPlan {
  const retag = <T extends { readonly tags?: readonly Tag[] }>(x: T): T => ({ ...x, tags: applyTags(x.tags ?? [], action, tags, DEFAULTS.limits.tagsPerResource) });
  if (kind === 'security_group') {
    const g = retag(ownSecurityGroup(st, caller, id));
    return { changes: [sgChange(g)], apply: () => st.securityGroups.set(id, g) };
  }
  if (kind === 'security_group_rule') {
    // a rule is tagged in its group's document
    const g = securityGroups(st, caller).find((x) => x.ingress.some((r) => r.id === id) || x.egress.some((r) => r.id === id));
    if (!g) throw new DomainError('SecurityGroupRuleNotFound', `The security group rule '${id.slice(0, 100)}' does not exist`);
    const next: SecurityGroup = { ...g, ingress: g.ingress.map((r) => (r.id === id ? retag(r) : r)), egress: g.egress.map((r) => (r.id === id ? retag(r) : r)) };
    return { changes: [sgChange(next)], apply: () => st.securityGroups.set(g.id, next) };
  }
  const owner = kind === 'vpc' ? ownVpc(st, caller, id) : kind === 'subnet' ? subnetOf(st, caller, id).vpc : tableOfCaller(st, caller, id).vpc;
  const v = apiVpc(st, caller, owner.id, 'its tags are the config\'s');
  const next: Vpc = kind === 'vpc' ? retag(v)
    : kind === 'subnet' ? { ...v, subnets: v.subnets.map((x) => (x.id === id ? retag(x) : x)) }
      : { ...v, route_tables: v.route_tables.map((x) => (x.id === id ? retag(x) : x)) };
  return { changes: [vpcChange(next)], apply: () => st.vpcs.set(v.id, next) };
}

// ---- security groups -------------------------------------------------------------------------

export function ownSecurityGroup(st: ControlState, caller: Account, id: string): SecurityGroup {
  const g = st.securityGroups.get(id);
  if (!g || g.owner !== caller.name) throw new DomainError('SecurityGroupNotFound', `The security group '${id}' does not exist`);
  return g;
}

export function securityGroups(st: ControlState, caller: Account): SecurityGroup[] {
  return [...st.securityGroups.values()].filter((g) => g.owner === caller.name);
}

export async function createSecurityGroup(st: ControlState, caller: Account, cmd: CreateSecurityGroupCommand): Promise<SecurityGroup> {
  return st.serial(async () => {
    const v = ownVpc(st, caller, cmd.vpcId);
    if (cmd.name === 'default') throw new DomainError('ReservedGroupName', "The security group name 'default' is reserved");
    // AWS's rule: a name of that form would read as a group id where GroupId and GroupName are both taken
    if (cmd.name.startsWith('sg-')) throw new DomainError('InvalidParameter', `Group names may not be in the format sg-*: '${cmd.name.slice(0, 100)}'`);
    const same = [...st.securityGroups.values()].find((g) => g.vpc_id === v.id && g.name === cmd.name);
    if (same) throw new DomainError('DuplicateGroupName', `The security group '${cmd.name}' already exists for VPC '${v.id}'`);
    checkNewId(st, cmd.id);
    const g: SecurityGroup = {
      id: cmd.id, owner: caller.name, vpc_id: v.id, name: cmd.name, description: cmd.description, default: false,
      ingress: [], egress: [{ protocol: '-1', from_port: 0, to_port: 65535, cidr: '0.0.0.0/0' }], tags: tagsOf(cmd.tags),
    };
    await st.commit([sgChange(g), ...inVpc(v)], () => st.securityGroups.set(g.id, g));
    return g;
  });
}

export async function deleteSecurityGroup(st: ControlState, caller: Account, id: string): Promise<void> {
  await st.serial(async () => {
    const g = ownSecurityGroup(st, caller, id);
    if (g.default) {
      throw new DomainError('DefaultSecurityGroupUndeletable', `You cannot delete the 'default' security group in your VPC, but you can change its rules (${id} goes with ${g.vpc_id})`);
    }
    const users = [...st.endpoints.values()].filter((e) => e.security_groups?.includes(id)).map((e) => e.id);
    if (users.length) throw new DomainError('DependencyViolation', `resource ${id} has a dependent object: endpoints ${users.join(', ')}`);
    await st.commit([{ kind: 'securitygroup', id, value: null }], () => st.securityGroups.delete(id), DEPENDENT_ENDPOINTS);
  });
}

const ruleKey = (r: SecurityGroupRule) => `${r.protocol}|${r.from_port}|${r.to_port}|${r.cidr}`;

/** a rule as asked, checked: what it matches, with the id and description it carries */
function ruleOf(r: SecurityGroupRuleInput, i: number): SecurityGroupRule {
  const c = parseCidr(r.cidr, { strict: true });
  if (!c.ok) throw new DomainError('InvalidParameter', `IpPermissions ${i + 1}: CidrIp ${JSON.stringify(r.cidr).slice(0, 60)}: ${c.reason}`);
  if (r.description !== undefined && r.description.length > 255) {
    throw new DomainError('InvalidParameter', `IpPermissions ${i + 1}: a rule's description is at most 255 characters`);
  }
  const tags = r.tags?.length ? applyTags([], 'create', r.tags, DEFAULTS.limits.tagsPerResource) : [];
  const extra = { ...(r.id !== undefined ? { id: r.id } : {}), ...(r.description ? { description: r.description } : {}), ...(tags.length ? { tags } : {}) };
  if (r.protocol === '-1') return { protocol: '-1', from_port: 0, to_port: 65535, cidr: c.cidr.text, ...extra };
  const ok = (p: number) => Number.isInteger(p) && p >= 0 && p <= 65535;
  if (!ok(r.fromPort) || !ok(r.toPort) || r.fromPort > r.toPort) {
    throw new DomainError('InvalidParameter', `IpPermissions ${i + 1}: the port range ${r.fromPort}-${r.toPort} is not one of 0-65535, from <= to`);
  }
  return { protocol: 'tcp', from_port: r.fromPort, to_port: r.toPort, cidr: c.cidr.text, ...extra };
}

const ruleNotFound = (r: SecurityGroupRule) =>
  new DomainError('RuleNotFound', `The specified rule does not exist in this security group (${r.protocol} ${r.from_port}-${r.to_port} ${r.cidr})`);

const ruleText = (r: SecurityGroupRule) => `"peer: ${r.cidr}, ${r.protocol === '-1' ? 'ALL' : `TCP, from port: ${r.from_port}, to port: ${r.to_port}`}, ALLOW"`;

/**
 * adds (authorize) or removes (revoke) rules of one direction; all or nothing. Answers the group
 * and the rules added or removed, as the group holds them (a removed rule with its id and description)
 */
export async function changeRules(
  st: ControlState, caller: Account, id: string, direction: 'ingress' | 'egress', action: 'authorize' | 'revoke', rules: readonly SecurityGroupRuleInput[],
): Promise<{ group: SecurityGroup; changed: SecurityGroupRule[] }> {
  const done = await st.serial(async () => {
    const g = ownSecurityGroup(st, caller, id);
    if (!rules.length) throw new DomainError('InvalidParameter', 'IpPermissions: at least one rule is required');
    const asked = rules.map(ruleOf);
    const keys = new Map(g[direction].map((r) => [ruleKey(r), r]));
    const changed: SecurityGroupRule[] = [];
    for (const r of asked) {
      const k = ruleKey(r);
      if (action === 'authorize') {
        if (keys.has(k)) throw new DomainError('DuplicateRule', `the specified rule ${ruleText(r)} already exists`);
        keys.set(k, r);
        changed.push(r);
      } else {
        const had = keys.get(k);
        if (!had) throw ruleNotFound(r);
        keys.delete(k);
        changed.push(had);
      }
    }
    const next: SecurityGroup = { ...g, [direction]: [...keys.values()] };
    await st.commit([sgChange(next)], () => st.securityGroups.set(id, next));
    return { group: next, changed };
  });
  await pushGroupUsers(st, id);
  return done;
}

/**
 * A default group's rule "all traffic from its members" (AWS's, made with the group) revoked or
 * authorized again (Terraform's aws_default_security group revokes every rule, then authorizes its
 * own); other groups take no group-pair rules here.
 */
export async function changeMembersRule(st: ControlState, caller: Account, id: string, action: 'authorize' | 'revoke'): Promise<SecurityGroup> {
  const group = await st.serial(async () => {
    const g = ownSecurityGroup(st, caller, id);
    if (!g.default) throw new DomainError('InvalidParameter', `Only a VPC's default group has the rule "all traffic from its members" in vpcep-sim: rules of ${id} name IPv4 CIDR blocks`);
    const has = admitsMembers(g);
    if (action === 'authorize' && has) throw new DomainError('DuplicateRule', `the specified rule "peer: ${id}, ALL, ALLOW" already exists`);
    if (action === 'revoke' && !has) throw new DomainError('RuleNotFound', `The specified rule does not exist in this security group (all traffic from ${id})`);
    const next: SecurityGroup = { ...g, ingress_from_members: action === 'authorize' };
    await st.commit([sgChange(next)], () => st.securityGroups.set(id, next));
    return next;
  });
  await pushGroupUsers(st, id);
  return group;
}

/**
 * Replaces rules of a group in place (what a rule matches, its description), each keeping its
 * place and its id (the one it had, else the one FROM names, so a derived id stays the rule's);
 * all or nothing: a FROM the group has not is RuleNotFound, a TO that another rule already
 * matches DuplicateRule.
 */
export async function replaceRules(st: ControlState, caller: Account, id: string, changes: readonly SecurityGroupRuleChange[]): Promise<SecurityGroup> {
  const group = await st.serial(async () => {
    const g = ownSecurityGroup(st, caller, id);
    if (!changes.length) throw new DomainError('InvalidParameter', 'at least one rule is required');
    const lists = { ingress: [...g.ingress], egress: [...g.egress] };
    changes.forEach((c, i) => {
      const from = ruleOf(c.from, i);
      const list = lists[c.direction];
      const at = list.findIndex((r) => ruleKey(r) === ruleKey(from));
      if (at < 0) throw ruleNotFound(from);
      const old = list[at]!;
      const to = { ...ruleOf({ ...c.to, id: old.id ?? c.from.id ?? c.to.id }, i), ...(old.tags ? { tags: old.tags } : {}) };
      if (list.some((r, j) => j !== at && ruleKey(r) === ruleKey(to))) throw new DomainError('DuplicateRule', `the specified rule ${ruleText(to)} already exists`);
      list[at] = to;
    });
    const next: SecurityGroup = { ...g, ingress: lists.ingress, egress: lists.egress };
    await st.commit([sgChange(next)], () => st.securityGroups.set(id, next));
    return next;
  });
  await pushGroupUsers(st, id);
  return group;
}

/** new connections to the live endpoints of a group follow its new rules before the change is answered */
async function pushGroupUsers(st: ControlState, id: string): Promise<void> {
  for (const e of st.endpoints.values()) if (e.status === 'accepted' && e.security_groups?.includes(id)) await pushEndpoint(st, e.id);
}

// EC2's network inventory writes (issue 12: "a stack is built through the API as Terraform does"):
// VPCs, subnets, route tables and their associations and routes, security groups and their rules.
// Each maps to a neutral command of src/control/network.ts with the ids made here (`vpc-`,
// `subnet-`, `rtb-`, `sg-` + 17 hex); the reads are ec2-network.ts's, which show these resources
// with the config's. A VPC's default security group has the derived id the reads show for a config
// VPC's (ec2-network.ts defaultSecurityGroupId), so endpoints name it the same way in either VPC.
import type { SecurityGroupRuleInput } from '../../model/commands.js';
import type { SecurityGroup, SecurityGroupRule } from '../../model/types.js';
import { DomainError } from '../../model/errors.js';
import { parseCidr } from '../../net/cidr.js';
import { AwsRequestError, type ActionTable, type AwsCall } from './actions.js';
import { derivedId, tagsOfSpecifications } from './aws-render.js';
import { availabilityZones } from './ec2-base.js';
import { clientTokenOf } from './client-token.js';
import { callerSecurityGroups, defaultSecurityGroupId, membersRuleRow, routeTableXml, ruleIdOf, ruleRows, securityGroupRuleXml, securityGroupXml, subnetXml, vpcXml, type RuleRow } from './ec2-network.js';
import { newAwsId } from './ids.js';
import type { QueryParams } from './query.js';
import type { XmlFields } from './xml.js';

const done = (): XmlFields => ({ return: true });

/**
 * CreateVpc's and CreateSubnet's CidrBlock, CreateRoute's DestinationCidrBlock and a rule's CidrIp
 * (the EC2 model): "We modify the specified CIDR block to its canonical form; for example, if you
 * specify 100.68.0.18/18, we modify it to 100.68.0.0/18". What is no CIDR goes on as it came, for
 * the domain to refuse. DeleteRoute's must match the route's exactly, and ModifySecurityGroupRules'
 * CidrIpv4 is documented without it: they go on as they came.
 */
function canonicalCidr(p: QueryParams, name: string): string {
  const text = p.requiredString(name);
  const c = parseCidr(text);
  return c.ok ? c.cidr.text : text;
}

function refuseUnsupported(p: QueryParams, names: readonly string[]): void {
  for (const n of names) {
    if (p.has(n)) throw new AwsRequestError('InvalidParameterValue', `${n} is not supported by vpcep-sim (IPv4 CIDR blocks only)`);
  }
}

/** flags asking for what is not simulated: `true` is refused, `false` asks for nothing (Terraform's
 * aws_vpc sends AmazonProvidedIpv6CidrBlock=false on every CreateVpc) */
function refuseEnabled(p: QueryParams, names: readonly string[]): void {
  for (const n of names) {
    if (p.bool(n) === true) throw new AwsRequestError('InvalidParameterValue', `${n} is not supported by vpcep-sim (IPv4 CIDR blocks only)`);
  }
}

// ---- VPCs

async function createVpc(call: AwsCall): Promise<XmlFields> {
  const p = call.params;
  refuseEnabled(p, ['AmazonProvidedIpv6CidrBlock']);
  refuseUnsupported(p, ['Ipv4IpamPoolId', 'Ipv6IpamPoolId', 'Ipv6CidrBlock', 'Ipv6Pool']);
  const id = newAwsId('vpc');
  const v = await call.control.createVpc(call.caller, {
    id,
    mainRouteTableId: newAwsId('rtb'),
    defaultSecurityGroupId: defaultSecurityGroupId(id),
    cidr: canonicalCidr(p, 'CidrBlock'),
    tags: tagsOfSpecifications(p, 'vpc'),
  });
  return { vpc: vpcXml(v, call.accountId) };
}

async function deleteVpc(call: AwsCall): Promise<XmlFields> {
  await call.control.deleteVpc(call.caller, call.params.requiredString('VpcId'));
  return done();
}

/** one attribute per call, as AWS takes it: `EnableDnsSupport.Value` or `EnableDnsHostnames.Value` */
async function modifyVpcAttribute(call: AwsCall): Promise<XmlFields> {
  const p = call.params;
  const support = p.struct('EnableDnsSupport')?.bool('Value');
  const hostnames = p.struct('EnableDnsHostnames')?.bool('Value');
  refuseUnsupported(p, ['EnableNetworkAddressUsageMetrics']);
  if ((support === undefined) === (hostnames === undefined)) {
    throw new AwsRequestError('InvalidParameterCombination', 'Exactly one of EnableDnsSupport.Value and EnableDnsHostnames.Value must be given');
  }
  await call.control.modifyVpcAttributes(call.caller, p.requiredString('VpcId'), { enableDnsSupport: support, enableDnsHostnames: hostnames });
  return done();
}

// ---- subnets

/** the domain's zone of AvailabilityZone or AvailabilityZoneId: one of the config's zones; neither: the first */
function zoneOfRequest(call: AwsCall): string {
  const zones = availabilityZones(call);
  const name = call.params.string('AvailabilityZone');
  const zoneId = call.params.string('AvailabilityZoneId');
  if (name !== undefined && zoneId !== undefined) throw new AwsRequestError('InvalidParameterCombination', 'Give AvailabilityZone or AvailabilityZoneId, not both');
  if (name !== undefined) {
    if (!zones.some((z) => z.name === name)) throw new AwsRequestError('InvalidParameterValue', `Value (${name.slice(0, 60)}) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: ${zones.map((z) => z.name).join(', ')}.`);
    return zones.find((z) => z.name === name)!.zone;
  }
  if (zoneId !== undefined) {
    const z = zones.find((x) => x.id === zoneId);
    if (!z) throw new AwsRequestError('InvalidParameterValue', `Value (${zoneId.slice(0, 60)}) for parameter availabilityZoneId is invalid: one of ${zones.map((x) => x.id).join(', ')}`);
    return z.zone;
  }
  return zones[0]!.zone;
}

async function createSubnet(call: AwsCall): Promise<XmlFields> {
  const p = call.params;
  refuseEnabled(p, ['Ipv6Native']);
  refuseUnsupported(p, ['Ipv6CidrBlock', 'Ipv4IpamPoolId', 'Ipv6IpamPoolId', 'OutpostArn']);
  const vpcId = p.requiredString('VpcId');
  const subnet = await call.control.createSubnet(call.caller, {
    id: newAwsId('subnet'), vpcId, cidr: canonicalCidr(p, 'CidrBlock'), zone: zoneOfRequest(call), tags: tagsOfSpecifications(p, 'subnet'),
  });
  const vpc = call.control.vpcs(call.caller).find((v) => v.id === vpcId)!;
  return { subnet: subnetXml(call, { vpc, id: subnet.id, cidr: subnet.cidr, subnet }) };
}

/** the subnet attributes vpcep-sim does not simulate: a request to turn one on is refused (false asks for nothing) */
const UNSIMULATED_SUBNET_ATTRIBUTES = ['AssignIpv6AddressOnCreation', 'EnableDns64', 'EnableResourceNameDnsAAAARecordOnLaunch', 'EnableResourceNameDnsARecordOnLaunch', 'EnableLniAtDeviceIndex', 'MapCustomerOwnedIpOnLaunch'];

/** one attribute per call, as AWS takes it: `MapPublicIpOnLaunch.Value` is stored and shown */
async function modifySubnetAttribute(call: AwsCall): Promise<XmlFields> {
  const p = call.params;
  const id = p.requiredString('SubnetId');
  for (const n of UNSIMULATED_SUBNET_ATTRIBUTES) {
    if (p.struct(n)?.bool('Value') === true) throw new AwsRequestError('InvalidParameterValue', `${n} is not supported by vpcep-sim (IPv4, no instances)`);
  }
  refuseUnsupported(p, ['PrivateDnsHostnameTypeOnLaunch', 'CustomerOwnedIpv4Pool']);
  const map = p.struct('MapPublicIpOnLaunch')?.bool('Value');
  await call.control.modifySubnetAttributes(call.caller, id, { mapPublicIpOnLaunch: map });
  return done();
}

async function deleteSubnet(call: AwsCall): Promise<XmlFields> {
  await call.control.deleteSubnet(call.caller, call.params.requiredString('SubnetId'));
  return done();
}

// ---- route tables

async function createRouteTable(call: AwsCall): Promise<XmlFields> {
  const p = call.params;
  const token = clientTokenOf(p);
  const t = await call.control.createRouteTable(call.caller, {
    id: newAwsId('rtb'), vpcId: p.requiredString('VpcId'), tags: tagsOfSpecifications(p, 'route-table'), ...(token ? { clientToken: token } : {}),
  });
  // as it is now: a retry with the token answers the first call's table, its routes and associations since
  const view = call.control.routeTable(call.caller, t.id);
  return { routeTable: routeTableXml(call, view, call.control.vpcs(call.caller).find((v) => v.id === view.vpc_id)), ...(token ? { clientToken: token.token } : {}) };
}

async function deleteRouteTable(call: AwsCall): Promise<XmlFields> {
  await call.control.deleteRouteTable(call.caller, call.params.requiredString('RouteTableId'));
  return done();
}

/** the association ids the reads show (ec2-network.ts: derived from table and subnet) */
const associationId = (tableId: string, subnetId: string) => derivedId('rtbassoc', `${tableId}/${subnetId}`);

function associationOf(call: AwsCall, id: string): { tableId: string; subnetId: string | null } {
  for (const t of call.control.routeTables(call.caller)) {
    if (t.default && derivedId('rtbassoc', t.id) === id) return { tableId: t.id, subnetId: null };
    const subnetId = t.subnets.find((s) => associationId(t.id, s) === id);
    if (subnetId) return { tableId: t.id, subnetId };
  }
  throw new AwsRequestError('InvalidAssociationID.NotFound', `The association ID '${id.slice(0, 60)}' does not exist`);
}

async function associateRouteTable(call: AwsCall): Promise<XmlFields> {
  const p = call.params;
  refuseUnsupported(p, ['GatewayId']);
  const tableId = p.requiredString('RouteTableId');
  const subnetId = p.requiredString('SubnetId');
  // AWS: a subnet already associated explicitly is Resource.AlreadyAssociated (the domain checks it when the change is made)
  await call.control.associateRouteTable(call.caller, subnetId, tableId, { table: null });
  return { associationId: associationId(tableId, subnetId), associationState: { state: 'associated' } };
}

async function disassociateRouteTable(call: AwsCall): Promise<XmlFields> {
  const id = call.params.requiredString('AssociationId');
  const a = associationOf(call, id);
  if (a.subnetId === null) throw new AwsRequestError('InvalidParameterValue', 'The main route table association cannot be disassociated: replace it instead');
  await call.control.associateRouteTable(call.caller, a.subnetId, null, { table: a.tableId, id });
  return done();
}

async function replaceRouteTableAssociation(call: AwsCall): Promise<XmlFields> {
  const id = call.params.requiredString('AssociationId');
  const a = associationOf(call, id);
  const tableId = call.params.requiredString('RouteTableId');
  if (a.subnetId === null) {
    // the main association: the table becomes its VPC's main one; the association's id is derived from its table (the reads show it so)
    const vpcId = call.control.routeTables(call.caller).find((t) => t.id === a.tableId)!.vpc_id;
    await call.control.replaceMainRouteTable(call.caller, tableId, vpcId);
    return { newAssociationId: derivedId('rtbassoc', tableId), associationState: { state: 'associated' } };
  }
  await call.control.associateRouteTable(call.caller, a.subnetId, tableId, { table: a.tableId, id });
  return { newAssociationId: associationId(tableId, a.subnetId), associationState: { state: 'associated' } };
}

/** the targets vpcep-sim routes: an internet gateway; others (NAT, peering, instances, ...) it does not simulate */
const UNSUPPORTED_TARGETS = ['NatGatewayId', 'InstanceId', 'NetworkInterfaceId', 'VpcPeeringConnectionId', 'TransitGatewayId', 'LocalGatewayId',
  'CarrierGatewayId', 'EgressOnlyInternetGatewayId', 'VpcEndpointId', 'CoreNetworkArn', 'DestinationIpv6CidrBlock', 'DestinationPrefixListId'];

/** CreateRoute's and ReplaceRoute's target: an internet gateway (the domain checks it is the table's VPC's) */
function routeTarget(p: QueryParams): { type: 'igw'; nexthop: string } {
  refuseUnsupported(p, UNSUPPORTED_TARGETS);
  const gateway = p.requiredString('GatewayId');
  if (!gateway.startsWith('igw-')) throw new AwsRequestError('InvalidGatewayID.NotFound', `The gateway ID '${gateway.slice(0, 60)}' does not exist: vpcep-sim routes to internet gateways (igw-...) only`);
  return { type: 'igw', nexthop: gateway };
}

async function createRoute(call: AwsCall): Promise<XmlFields> {
  const p = call.params;
  const target = routeTarget(p);
  await call.control.updateRouteTable(call.caller, p.requiredString('RouteTableId'), { add: [{ destination: canonicalCidr(p, 'DestinationCidrBlock'), ...target }] });
  return done();
}

/**
 * ReplaceRoute: the route to DestinationCidrBlock (matched exactly, as DeleteRoute's) leads to the
 * gateway named instead, in one change (Terraform's aws_route changing its target in place; a route
 * left blackhole by a detached gateway pointed at the one attached now)
 */
async function replaceRoute(call: AwsCall): Promise<XmlFields> {
  const p = call.params;
  refuseUnsupported(p, ['LocalTarget']);
  const target = routeTarget(p);
  const destination = p.requiredString('DestinationCidrBlock');
  try {
    await call.control.updateRouteTable(call.caller, p.requiredString('RouteTableId'), { del: [{ destination }], add: [{ destination, ...target }] });
  } catch (e) {
    // EC2's words for a route that is not there (DeleteRoute's InvalidRoute.NotFound)
    if (e instanceof DomainError && e.name === 'RouteNotFound') {
      throw new AwsRequestError('InvalidParameterValue', `There is no route defined for '${destination.slice(0, 60)}' in the route table. Use CreateRoute instead.`);
    }
    throw e;
  }
  return done();
}

async function deleteRoute(call: AwsCall): Promise<XmlFields> {
  const p = call.params;
  refuseUnsupported(p, ['DestinationIpv6CidrBlock', 'DestinationPrefixListId']);
  await call.control.updateRouteTable(call.caller, p.requiredString('RouteTableId'), { del: [{ destination: p.requiredString('DestinationCidrBlock') }] });
  return done();
}

// ---- security groups

// CreateSecurityGroup (EC2 API reference): a group's name and description take these characters only
const GROUP_TEXT = /^[a-zA-Z0-9 ._\-:/()#,@[\]+=&;{}!$*]*$/;

function text(p: QueryParams, name: string): string {
  const v = p.requiredString(name);
  if (v.length > 255) throw new AwsRequestError('InvalidParameterValue', `${name} is longer than 255 characters`);
  if (!GROUP_TEXT.test(v)) throw new AwsRequestError('InvalidParameterValue', `${name} takes a-z, A-Z, 0-9, spaces and ._-:/()#,@[]+=&;{}!$* only`);
  return v;
}

async function createSecurityGroup(call: AwsCall): Promise<XmlFields> {
  const p = call.params;
  if (!p.has('VpcId')) throw new AwsRequestError('VPCIdNotSpecified', 'No default VPC for this user: give VpcId');
  const g = await call.control.createSecurityGroup(call.caller, {
    id: newAwsId('sg'), vpcId: p.requiredString('VpcId'), name: text(p, 'GroupName'), description: text(p, 'GroupDescription'),
    tags: tagsOfSpecifications(p, 'security-group'),
  });
  return { return: true, groupId: g.id, tagSet: g.tags.map((t) => ({ key: t.key, value: t.value })) };
}

/** GroupId, or GroupName among the caller's groups (AWS: a name is looked up in the default VPC; there is none, so in any VPC when unique) */
function groupIdOf(call: AwsCall): string {
  const p = call.params;
  const id = p.string('GroupId');
  if (id !== undefined) return id;
  const name = p.string('GroupName');
  if (name === undefined) throw new AwsRequestError('MissingParameter', 'The request must contain the parameter GroupId');
  const found = callerSecurityGroups(call).filter((g) => g.name === name);
  if (found.length !== 1) throw new AwsRequestError(found.length ? 'VPCIdNotSpecified' : 'InvalidGroup.NotFound', `The security group '${name.slice(0, 255)}' ${found.length ? 'is in several VPCs: give GroupId' : 'does not exist'}`);
  return found[0]!.id;
}

/**
 * GroupId (or GroupName) of a group the caller may change: a config VPC's default group, which the
 * reads show without a document, is the config's as its default ACL is (UnauthorizedOperation, 403,
 * the ACL's wording); it answered InvalidGroup.NotFound, which Terraform reads as "gone"
 */
function changeableGroupId(call: AwsCall, id = groupIdOf(call)): string {
  const g = callerSecurityGroups(call).find((x) => x.id === id);
  if (g?.default && !call.control.securityGroups(call.caller).some((x) => x.id === id)) {
    throw new DomainError('OperatorOwned', `VPC ${g.vpc_id} is declared in the config file: its default security group is the config's there (only VPCs made through the API change through it)`);
  }
  return id;
}

/** DeleteSecurityGroupResult: `return` and the deleted group's `groupId` */
async function deleteSecurityGroup(call: AwsCall): Promise<XmlFields> {
  const id = changeableGroupId(call);
  await call.control.deleteSecurityGroup(call.caller, id);
  return { return: true, groupId: id };
}

function port(p: QueryParams, name: string): number {
  const v = p.int(name, { min: -1, max: 65535 });
  if (v === undefined) throw new AwsRequestError('MissingParameter', `The request must contain the parameter ${p.wireName(name)} for a tcp rule`);
  return v;
}

/** the kinds of rule vpcep-sim never stores: its rules name IPv4 CIDR blocks only (group pairs are
 * `IpPermissions.N.Groups.M` on the wire, the model's UserIdGroupPairs; the member name kept too) */
const UNSTORED_RULE_KINDS = ['Groups', 'UserIdGroupPairs', 'Ipv6Ranges', 'PrefixListIds'] as const;

/** a rule's `IpProtocol`: tcp (or 6) or -1 (or all); vpcep-sim relays nothing else */
function protocolOf(p: QueryParams): 'tcp' | '-1' {
  const raw = p.requiredString('IpProtocol').toLowerCase();
  if (raw === 'tcp' || raw === '6') return 'tcp';
  if (raw === '-1' || raw === 'all') return '-1';
  throw new AwsRequestError('InvalidParameterValue', `Invalid value '${raw.slice(0, 20)}' for IP protocol: vpcep-sim relays TCP only (tcp, 6 or -1)`);
}

/** `IpPermissions.N` (or the older top-level IpProtocol/FromPort/ToPort/CidrIp): tcp or -1, by CIDR */
function rulesOf(p: QueryParams): SecurityGroupRuleInput[] {
  const perms = p.structList('IpPermissions');
  const sources = perms.length ? perms : p.has('IpProtocol') ? [p] : [];
  if (!sources.length) throw new AwsRequestError('MissingParameter', 'The request must contain the parameter IpPermissions');
  const out: SecurityGroupRuleInput[] = [];
  for (const perm of sources) {
    const protocol = protocolOf(perm);
    for (const other of UNSTORED_RULE_KINDS) {
      if (perm.structList(other).length) throw new AwsRequestError('InvalidParameterValue', `${other} is not supported by vpcep-sim: rules name IPv4 CIDR blocks (IpRanges)`);
    }
    const ranges: Array<{ cidr: string; description?: string }> = perm === p ? [{ cidr: canonicalCidr(p, 'CidrIp') }]
      : perm.structList('IpRanges').map((r) => ({ cidr: canonicalCidr(r, 'CidrIp'), description: r.string('Description') }));
    if (!ranges.length) throw new AwsRequestError('MissingParameter', 'The request must contain IpRanges with a CidrIp');
    const [fromPort, toPort] = protocol === 'tcp' ? [port(perm, 'FromPort'), port(perm, 'ToPort')] : [0, 65535];
    for (const r of ranges) out.push({ protocol, fromPort, toPort, cidr: r.cidr, ...(r.description ? { description: r.description } : {}) });
  }
  return out;
}

/** a rule as the domain takes it, from one it has (to name it by what it matches) */
function inputOf(r: SecurityGroupRule, id?: string): SecurityGroupRuleInput {
  return { protocol: r.protocol, fromPort: r.from_port, toPort: r.to_port, cidr: r.cidr, ...(id !== undefined ? { id } : {}), ...(r.description ? { description: r.description } : {}) };
}

/** the caller's group GROUPID (InvalidGroup.NotFound) */
function ownGroup(call: AwsCall, id: string): SecurityGroup {
  const g = callerSecurityGroups(call).find((x) => x.id === id);
  if (!g) throw new DomainError('SecurityGroupNotFound', `The security group '${id.slice(0, 64)}' does not exist`);
  return g;
}

/** `SecurityGroupRuleId.N` of a group, in one direction when given: its rows (InvalidSecurityGroupRuleId.NotFound) */
function rulesById(g: SecurityGroup, ids: readonly string[], direction?: 'ingress' | 'egress', members = false): RuleRow[] {
  const rows = ruleRows(g).filter((r) => direction === undefined || r.direction === direction);
  return ids.map((id) => {
    const row = rows.find((r) => r.id === id);
    if (!row) throw new AwsRequestError('InvalidSecurityGroupRuleId.NotFound', `The security group rule ID '${id.slice(0, 64)}' does not exist in security group '${g.id}'`);
    if (!row.rule && !members) throw new AwsRequestError('InvalidParameterValue', `The security group rule ID '${id}' is the default group's rule for its members: it can be revoked, not changed`);
    return row;
  });
}

/** revoking a kind of rule never stored revokes a rule the group does not have: AWS's answer for any
 * absent rule (Terraform revokes the default IPv6 egress rule ::/0 of every group it makes, and
 * takes InvalidPermission.NotFound as "there is none") */
function revokeUnstored(call: AwsCall, id: string): void {
  const asks = call.params.structList('IpPermissions').some((perm) => UNSTORED_RULE_KINDS.some((k) => perm.structList(k).length));
  if (!asks) return;
  ownGroup(call, id);
  throw new DomainError('RuleNotFound', 'The specified rule does not exist in this security group.');
}

/**
 * whether IpPermissions ask for a default group's rule "all traffic from its members": one
 * permission, protocol -1, the group itself as its one pair, nothing else (what the default group
 * shows, and Terraform's `self = true` sends)
 */
function asksMembersRule(p: QueryParams, id: string): boolean {
  const perms = p.structList('IpPermissions');
  if (perms.length !== 1) return false;
  const perm = perms[0]!;
  const pairs = perm.structList('Groups');
  return pairs.length === 1 && pairs[0]!.string('GroupId') === id && ['-1', 'all'].includes((perm.string('IpProtocol') ?? '').toLowerCase())
    && !perm.structList('IpRanges').length && !perm.structList('Ipv6Ranges').length && !perm.structList('PrefixListIds').length;
}

/**
 * a RevokedSecurityGroupRule (the EC2 model): the rule as DescribeSecurityGroupRules shows it, its
 * members only. No `unknownIpPermissionSet` goes with them: it lists what a default VPC's group did
 * not have, and there is no default VPC here (a non-default VPC's is InvalidPermission.NotFound)
 */
function revokedRuleXml(call: AwsCall, row: RuleRow): XmlFields {
  const x = securityGroupRuleXml(call, row);
  return {
    securityGroupRuleId: x.securityGroupRuleId, groupId: x.groupId, isEgress: x.isEgress, ipProtocol: x.ipProtocol, fromPort: x.fromPort, toPort: x.toPort,
    ...(row.rule ? { cidrIpv4: row.rule.cidr } : { referencedGroupId: row.group.id }), description: x.description,
  };
}

const revoked = (call: AwsCall, rows: readonly RuleRow[]): XmlFields => ({ return: true, revokedSecurityGroupRuleSet: rows.map((r) => revokedRuleXml(call, r)) });

function ruleAction(direction: 'ingress' | 'egress', action: 'authorize' | 'revoke') {
  return async (call: AwsCall): Promise<XmlFields> => {
    const id = changeableGroupId(call);
    if (direction === 'ingress' && asksMembersRule(call.params, id)) {
      const g = await call.control.changeSecurityGroupMembersRule(call.caller, id, action);
      return action === 'authorize'
        ? { return: true, securityGroupRuleSet: ruleRows(g).filter((r) => !r.rule).map((r) => securityGroupRuleXml(call, r)) }
        : revoked(call, [membersRuleRow(g)]);
    }
    if (action === 'authorize') {
      // each new rule gets its id here; the answer shows them (Terraform's rule resources read the id from it)
      // TagSpecification security-group-rule: each new rule carries them (they were dropped: Terraform's rule resources showed a change after every apply)
      const tags = tagsOfSpecifications(call.params, 'security-group-rule');
      const rules = rulesOf(call.params).map((r) => ({ ...r, id: newAwsId('sgr'), ...(tags.length ? { tags } : {}) }));
      const { group: g } = await call.control.changeSecurityGroupRules(call.caller, id, direction, action, rules);
      const ids = new Set(rules.map((r) => r.id));
      return { return: true, securityGroupRuleSet: ruleRows(g).filter((r) => ids.has(r.id)).map((r) => securityGroupRuleXml(call, r)) };
    }
    const ruleIds = call.params.stringList('SecurityGroupRuleId');
    if (ruleIds.length) {
      if (call.params.structList('IpPermissions').length) throw new AwsRequestError('InvalidParameterCombination', 'Give either IpPermissions or SecurityGroupRuleId, not both');
      const rows = rulesById(ownGroup(call, id), ruleIds, direction, true);
      const rules = rows.filter((r) => r.rule);
      if (rules.length) await call.control.changeSecurityGroupRules(call.caller, id, direction, action, rules.map((r) => inputOf(r.rule!)));
      // the default group's rule for its members, named by its id (Terraform's aws_default_security_group revokes every rule so)
      if (rows.some((r) => !r.rule)) await call.control.changeSecurityGroupMembersRule(call.caller, id, 'revoke');
      return revoked(call, rows);
    }
    revokeUnstored(call, id);
    const { group, changed } = await call.control.changeSecurityGroupRules(call.caller, id, direction, action, rulesOf(call.params));
    return revoked(call, changed.map((rule) => ({ group, direction, id: ruleIdOf(group, direction, rule), rule })));
  };
}

/** ModifySecurityGroupRules: `SecurityGroupRule.N.{SecurityGroupRuleId, SecurityGroupRule.{IpProtocol, FromPort, ToPort, CidrIpv4, Description}}`; each rule keeps its id */
async function modifySecurityGroupRules(call: AwsCall): Promise<XmlFields> {
  const g = ownGroup(call, changeableGroupId(call, call.params.requiredString('GroupId')));
  const updates = call.params.structList('SecurityGroupRule');
  if (!updates.length) throw new AwsRequestError('MissingParameter', 'The request must contain the parameter SecurityGroupRule');
  const changes = updates.map((u) => {
    const [row] = rulesById(g, [u.requiredString('SecurityGroupRuleId')]);
    const req = u.struct('SecurityGroupRule');
    if (!req) throw new AwsRequestError('MissingParameter', 'The request must contain the parameter SecurityGroupRule.N.SecurityGroupRule');
    for (const other of ['CidrIpv6', 'PrefixListId', 'ReferencedGroupId']) {
      if (req.has(other)) throw new AwsRequestError('InvalidParameterValue', `${other} is not supported by vpcep-sim: rules name IPv4 CIDR blocks (CidrIpv4)`);
    }
    const protocol = protocolOf(req);
    const [fromPort, toPort] = protocol === 'tcp' ? [port(req, 'FromPort'), port(req, 'ToPort')] : [0, 65535];
    const description = req.string('Description');
    const to: SecurityGroupRuleInput = { protocol, fromPort, toPort, cidr: req.requiredString('CidrIpv4'), ...(description ? { description } : {}) };
    return { direction: row!.direction, from: inputOf(row!.rule!, row!.id), to };
  });
  await call.control.replaceSecurityGroupRules(call.caller, g.id, changes);
  return done();
}

/**
 * UpdateSecurityGroupRuleDescriptionsIngress/Egress: the rules named by what they match
 * (`IpPermissions.N`, the descriptions in their `IpRanges`) or by id
 * (`SecurityGroupRuleDescription.N.{SecurityGroupRuleId, Description}`) take the new descriptions
 */
function updateDescriptions(direction: 'ingress' | 'egress') {
  return async (call: AwsCall): Promise<XmlFields> => {
    const g = ownGroup(call, changeableGroupId(call));
    const byId = call.params.structList('SecurityGroupRuleDescription');
    if (byId.length && call.params.has('IpPermissions')) {
      throw new AwsRequestError('InvalidParameterCombination', 'Give either IpPermissions or SecurityGroupRuleDescription, not both');
    }
    const changes = byId.length
      ? byId.map((d) => {
        const [row] = rulesById(g, [d.requiredString('SecurityGroupRuleId')], direction);
        const r = row!.rule!;
        return { direction, from: inputOf(r, row!.id), to: inputOf({ ...r, description: d.string('Description') }) };
      })
      : rulesOf(call.params).map((r) => ({ direction, from: r, to: r }));
    await call.control.replaceSecurityGroupRules(call.caller, g.id, changes);
    return done();
  };
}

export const EC2_INVENTORY_ACTIONS = {
  CreateVpc: createVpc,
  DeleteVpc: deleteVpc,
  ModifyVpcAttribute: modifyVpcAttribute,
  CreateSubnet: createSubnet,
  ModifySubnetAttribute: modifySubnetAttribute,
  DeleteSubnet: deleteSubnet,
  CreateRouteTable: createRouteTable,
  DeleteRouteTable: deleteRouteTable,
  AssociateRouteTable: associateRouteTable,
  DisassociateRouteTable: disassociateRouteTable,
  ReplaceRouteTableAssociation: replaceRouteTableAssociation,
  CreateRoute: createRoute,
  ReplaceRoute: replaceRoute,
  DeleteRoute: deleteRoute,
  CreateSecurityGroup: createSecurityGroup,
  DeleteSecurityGroup: deleteSecurityGroup,
  AuthorizeSecurityGroupIngress: ruleAction('ingress', 'authorize'),
  AuthorizeSecurityGroupEgress: ruleAction('egress', 'authorize'),
  RevokeSecurityGroupIngress: ruleAction('ingress', 'revoke'),
  RevokeSecurityGroupEgress: ruleAction('egress', 'revoke'),
  ModifySecurityGroupRules: modifySecurityGroupRules,
  UpdateSecurityGroupRuleDescriptionsIngress: updateDescriptions('ingress'),
  UpdateSecurityGroupRuleDescriptionsEgress: updateDescriptions('egress'),
} as const satisfies ActionTable;

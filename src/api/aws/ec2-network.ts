// EC2's network reads around endpoints (aws-ec2-api.md §2.1, §2.3, §4.2: what Terraform and the
// CLI read on every refresh): VPCs and their attributes, subnets, route tables with the gateway
// endpoints' routes, security groups (a config VPC's default one virtual), the ENIs of interface
// endpoints, and the public services' prefix lists (network ACLs: ec2-network-acls.ts). Ids the domain keeps (VPCs, subnets, route tables, prefix lists) are shown as they
// are; what it has no id for gets a stable derived one (aws-render.ts derivedId).
import type { RouteTableView } from '../../control/route-tables.js';
import { admitsMembers, type Endpoint, type Route, type SecurityGroup, type SecurityGroupRule, type Subnet, type Vpc } from '../../model/types.js';
import { cidrOf, lastAddress } from '../../net/cidr.js';
import { AwsRequestError, type ActionTable, type AwsCall } from './actions.js';
import { absent, applyFilters, awsServiceName, derivedId, page, requireIds, tagSet, type FilterTable } from './aws-render.js';
import { awsZone, type AvailabilityZone } from './ec2-base.js';
import { ID_SHAPES, type IdShape } from './ids.js';
import { zoneOfSubnet } from '../../model/zones.js';
import type { XmlFields } from './xml.js';

/** a VPC's default security group (the only one vpcep-sim knows) */
export function defaultSecurityGroupId(vpcId: string): string {
  return derivedId('sg', vpcId);
}

function ownerOf(call: AwsCall): string {
  return call.accountId;
}

/** the ids of `<name>.N`: each must be among `known`, else `code` (or the shape's Malformed code) */
function byIds<T>(call: AwsCall, name: string, items: readonly T[], id: (x: T) => string, code: string, what: string, shape?: IdShape): T[] {
  const ids = call.params.stringList(name);
  if (!ids.length) return [...items];
  requireIds(ids, new Set(items.map(id)), code, what, shape);
  return items.filter((x) => ids.includes(id(x)));
}

// ---- VPCs


export function vpcXml(v: Vpc, owner: string): XmlFields {
  return {
    vpcId: v.id,
    ownerId: owner,
    state: 'available',
    cidrBlock: v.cidr,
    cidrBlockAssociationSet: [{ associationId: derivedId('vpc-cidr-assoc', v.id), cidrBlock: v.cidr, cidrBlockState: { state: 'associated' } }],
    dhcpOptionsId: 'default',
    instanceTenancy: 'default',
    isDefault: false,
    tagSet: tagSet(v.tags ?? []),
  };
}

function describeVpcs(call: AwsCall): XmlFields {
  const vpcs = byIds(call, 'VpcId', call.control.vpcs(call.caller), (v) => v.id, 'InvalidVpcID.NotFound', 'vpc ID', ID_SHAPES.vpc);
  const table: FilterTable<Vpc> = {
    'vpc-id': (v) => v.id,
    'cidr': (v) => v.cidr,
    'cidr-block-association.cidr-block': (v) => v.cidr,
    'cidr-block-association.association-id': (v) => derivedId('vpc-cidr-assoc', v.id),
    'cidr-block-association.state': () => 'associated',
    'is-default': () => 'false',
    // the old camelCase name, which Terraform's data "aws_vpc" sends for default = true
    'isDefault': () => 'false',
    // no VPC has an IPv6 block: AWS's filters on one match none
    ...absent(
      'ipv6-cidr-block-association.ipv6-cidr-block', 'ipv6-cidr-block-association.ipv6-pool',
      'ipv6-cidr-block-association.association-id', 'ipv6-cidr-block-association.state',
    ),
    'state': () => 'available',
    'owner-id': () => ownerOf(call),
    'dhcp-options-id': () => 'default',
  };
  const out = page(applyFilters(vpcs, call.params.filters(), table, (v) => v.tags ?? []), (v) => v.id, call.params);
  return { vpcSet: out.items.map((v) => vpcXml(v, ownerOf(call))), nextToken: out.nextToken };
}

function ownVpc(call: AwsCall, id: string): Vpc {
  const v = call.control.vpcs(call.caller).find((x) => x.id === id);
  if (!v) throw new AwsRequestError('InvalidVpcID.NotFound', `The vpc ID '${id}' does not exist`);
  return v;
}

/** vpcep-sim's VPCs resolve names inside them (the embedded DNS) and have no usage metrics */
const VPC_ATTRIBUTES: Readonly<Record<string, boolean>> = {
  enableDnsSupport: true,
  enableDnsHostnames: true,
  enableNetworkAddressUsageMetrics: false,
};

function describeVpcAttribute(call: AwsCall): XmlFields {
  const v = ownVpc(call, call.params.requiredString('VpcId'));
  const attribute = call.params.requiredString('Attribute');
  if (!Object.hasOwn(VPC_ATTRIBUTES, attribute)) {
    throw new AwsRequestError('InvalidParameterValue', `Value (${attribute}) for parameter attribute is invalid. Valid: ${Object.keys(VPC_ATTRIBUTES).join(', ')}`);
  }
  // a VPC made through the API keeps what ModifyVpcAttribute set; a config VPC: vpcep-sim's fixed values
  const value = attribute === 'enableDnsSupport' ? v.enable_dns_support ?? VPC_ATTRIBUTES[attribute]!
    : attribute === 'enableDnsHostnames' ? v.enable_dns_hostnames ?? VPC_ATTRIBUTES[attribute]!
      : VPC_ATTRIBUTES[attribute]!;
  return { vpcId: v.id, [attribute]: { value } };
}

// ---- subnets

export interface SubnetRow {
  readonly vpc: Vpc;
  readonly id: string;
  readonly cidr: string;
  readonly subnet: Subnet;
}

/** a subnet's zone as AWS shows it (the config's `zone`, or the one it was made in through the API) */
export function zoneOf(call: AwsCall, s: Subnet): AvailabilityZone {
  return awsZone(call, zoneOfSubnet(s, call.control.zones()));
}

/** addresses an instance could still take: the subnet's, less AWS's five reserved ones and those in use */
function availableIps(call: AwsCall, row: SubnetRow): number {
  const c = cidrOf(row.cidr);
  const size = lastAddress(c) - c.base + 1;
  const used = row.vpc.ports.filter((p) => p.subnet_id === row.id).length
    + call.control.listEndpoints(call.caller).reduce((n, e) => n + (e.vpc_id === row.vpc.id ? e.enis.filter((x) => x.subnet_id === row.id).length : 0), 0);
  return Math.max(0, size - 5 - used);
}

function describeSubnets(call: AwsCall): XmlFields {
  const rows: SubnetRow[] = call.control.vpcs(call.caller).flatMap((vpc) => vpc.subnets.map((s) => ({ vpc, id: s.id, cidr: s.cidr, subnet: s })));
  const chosen = byIds(call, 'SubnetId', rows, (r) => r.id, 'InvalidSubnetID.NotFound', 'subnet ID', ID_SHAPES.subnet);
  const table: FilterTable<SubnetRow> = {
    'subnet-id': (r) => r.id,
    'vpc-id': (r) => r.vpc.id,
    'cidr-block': (r) => r.cidr,
    'cidr': (r) => r.cidr,
    'availability-zone': (r) => zoneOf(call, r.subnet).name,
    'availability-zone-id': (r) => zoneOf(call, r.subnet).id,
    'state': () => 'available',
    'owner-id': () => ownerOf(call),
    'default-for-az': () => 'false',
    'map-public-ip-on-launch': (r) => String(r.subnet.map_public_ip_on_launch ?? false),
    'subnet-arn': (r) => subnetArn(call, r.id),
    // EC2 still takes the older camelCase names, and Terraform's data "aws_subnet" sends them
    'availabilityZone': (r) => zoneOf(call, r.subnet).name,
    'availabilityZoneId': (r) => zoneOf(call, r.subnet).id,
    'cidrBlock': (r) => r.cidr,
    'defaultForAz': () => 'false',
    'available-ip-address-count': (r) => String(availableIps(call, r)),
    // no IPv6 here
    'ipv6-native': () => 'false',
    // no subnet has an IPv6 block, an Outpost, a customer-owned pool or a network card index
    ...absent(
      'ipv6-cidr-block-association.ipv6-cidr-block', 'ipv6-cidr-block-association.association-id',
      'ipv6-cidr-block-association.state', 'outpost-arn', 'customer-owned-ipv4-pool', 'enable-lni-at-device-index',
    ),
    'enable-dns64': () => 'false',
    'map-customer-owned-ip-on-launch': () => 'false',
    'private-dns-name-options-on-launch.hostname-type': () => 'ip-name',
    'private-dns-name-options-on-launch.enable-resource-name-dns-a-record': () => 'false',
    'private-dns-name-options-on-launch.enable-resource-name-dns-aaaa-record': () => 'false',
  };
  const out = page(applyFilters(chosen, call.params.filters(), table, (r) => r.subnet.tags ?? []), (r) => r.id, call.params);
  return { subnetSet: out.items.map((r) => subnetXml(call, r)), nextToken: out.nextToken };
}

function subnetArn(call: AwsCall, id: string): string {
  return `arn:aws:ec2:${call.region}:${ownerOf(call)}:subnet/${id}`;
}

export function subnetXml(call: AwsCall, r: SubnetRow): XmlFields {
  const zone = zoneOf(call, r.subnet);
  return {
    subnetId: r.id,
    subnetArn: subnetArn(call, r.id),
    state: 'available',
    vpcId: r.vpc.id,
    cidrBlock: r.cidr,
    ipv6CidrBlockAssociationSet: [],
    availableIpAddressCount: availableIps(call, r),
    availabilityZone: zone.name,
    availabilityZoneId: zone.id,
    defaultForAz: false,
    mapPublicIpOnLaunch: r.subnet.map_public_ip_on_launch ?? false,
    assignIpv6AddressOnCreation: false,
    ownerId: ownerOf(call),
    tagSet: tagSet(r.subnet.tags ?? []),
  };
}

// ---- route tables

/** `detached`: an igw route's gateway is a stored one no longer attached to the table's VPC (or gone): AWS shows the route blackhole */
function routeXml(r: Route, vpc: Vpc | undefined, detached = false): XmlFields {
  switch (r.type) {
    case 'local':
      return { destinationCidrBlock: r.destination, gatewayId: 'local', state: 'active', origin: 'CreateRouteTable' };
    case 'gateway_endpoint':
      // aws-ec2-api.md §3: the prefix list as destination, the vpce id as gateway
      return { destinationPrefixListId: r.destination, gatewayId: r.nexthop, state: 'active', origin: 'CreateRoute' };
    case 'blackhole':
      return { destinationCidrBlock: r.destination, state: 'blackhole', origin: r.owner === 'config' ? 'CreateRouteTable' : 'CreateRoute' };
    default:
      return {
        destinationCidrBlock: r.destination,
        gatewayId: r.nexthop ?? derivedId('igw', vpc?.id ?? ''),
        state: detached ? 'blackhole' : 'active',
        origin: r.owner === 'config' ? 'CreateRouteTable' : 'CreateRoute',
      };
  }
}

function describeRouteTables(call: AwsCall): XmlFields {
  const vpcs = new Map(call.control.vpcs(call.caller).map((v) => [v.id, v]));
  const detached = (r: Route, vpcId: string) => call.control.gatewayDetached(vpcId, r);
  const tables = byIds(call, 'RouteTableId', call.control.routeTables(call.caller), (t) => t.id, 'InvalidRouteTableID.NotFound', 'route table ID', ID_SHAPES.routeTable);
  const table: FilterTable<(typeof tables)[number]> = {
    'route-table-id': (t) => t.id,
    'vpc-id': (t) => t.vpc_id,
    'association.main': (t) => String(t.default),
    'association.subnet-id': (t) => t.subnets,
    'association.route-table-association-id': (t) => [...(t.default ? [derivedId('rtbassoc', t.id)] : []), ...t.subnets.map((s) => derivedId('rtbassoc', `${t.id}/${s}`))],
    // the GatewayId the route is shown with (an igw route made without a nexthop: its VPC's derived igw id)
    'route.gateway-id': (t) => t.routes.map((r) => routeXml(r, vpcs.get(t.vpc_id)).gatewayId as string | undefined),
    'route.vpc-endpoint-id': (t) => t.routes.filter((r) => r.type === 'gateway_endpoint').map((r) => r.nexthop),
    'route.destination-prefix-list-id': (t) => t.routes.filter((r) => r.type === 'gateway_endpoint').map((r) => r.destination),
    'route.destination-cidr-block': (t) => t.routes.filter((r) => r.type !== 'gateway_endpoint').map((r) => r.destination),
    'route.origin': (t) => t.routes.map((r) => String(routeXml(r, undefined).origin)),
    'route.state': (t) => t.routes.map((r) => String(routeXml(r, undefined, detached(r, t.vpc_id)).state)),
    'association.route-table-id': (t) => (t.default || t.subnets.length ? [t.id] : []),
    'owner-id': () => ownerOf(call),
    // no table is a gateway's (edge association), no route goes to IPv6, an instance, a NAT,
    // transit or egress-only gateway or a peering: AWS's filters on them match none
    ...absent(
      'association.gateway-id', 'route.destination-ipv6-cidr-block', 'route.egress-only-internet-gateway-id',
      'route.instance-id', 'route.nat-gateway-id', 'route.transit-gateway-id', 'route.vpc-peering-connection-id',
    ),
  };
  const out = page(applyFilters(tables, call.params.filters(), table, (t) => t.tags ?? []), (t) => t.id, call.params);
  return { routeTableSet: out.items.map((t) => routeTableXml(call, t, vpcs.get(t.vpc_id))), nextToken: out.nextToken };
}

/** a route table as DescribeRouteTables and CreateRouteTable show it (VPC: its VPC) */
export function routeTableXml(call: AwsCall, t: RouteTableView, vpc: Vpc | undefined): XmlFields {
  return {
    routeTableId: t.id,
    vpcId: t.vpc_id,
    ownerId: ownerOf(call),
    routeSet: t.routes.map((r) => routeXml(r, vpc, call.control.gatewayDetached(t.vpc_id, r))),
    associationSet: [
      ...(t.default ? [{ routeTableAssociationId: derivedId('rtbassoc', t.id), routeTableId: t.id, main: true, associationState: { state: 'associated' } }] : []),
      ...t.subnets.map((s) => ({ routeTableAssociationId: derivedId('rtbassoc', `${t.id}/${s}`), routeTableId: t.id, subnetId: s, main: false, associationState: { state: 'associated' } })),
    ],
    propagatingVgwSet: [],
    tagSet: tagSet(t.tags ?? []),
  };
}

// ---- security groups (each VPC's default one, virtual for config VPCs)

/** a config VPC's default group has no document: shown with a derived id, all traffic from its members */
function virtualDefaultGroup(v: Vpc, owner: string): SecurityGroup {
  return {
    id: defaultSecurityGroupId(v.id), owner, vpc_id: v.id, name: 'default', description: 'default VPC security group', default: true,
    ingress: [], egress: [{ protocol: '-1', from_port: 0, to_port: 65535, cidr: '0.0.0.0/0' }], tags: [],
  };
}

function permissionsXml(rules: readonly SecurityGroupRule[]): XmlFields[] {
  return rules.map((r) => ({
    ipProtocol: r.protocol,
    ...(r.protocol === 'tcp' ? { fromPort: r.from_port, toPort: r.to_port } : {}),
    groups: [], ipRanges: [{ cidrIp: r.cidr, ...(r.description ? { description: r.description } : {}) }], ipv6Ranges: [], prefixListIds: [],
  }));
}

// ---- security group rules, one by one (DescribeSecurityGroupRules; the rule resources of Terraform)

/** one rule of a group as EC2's SecurityGroupRule shows it; `rule` absent: a default group's "all traffic from its members" */
export interface RuleRow {
  readonly group: SecurityGroup;
  readonly direction: 'ingress' | 'egress';
  readonly id: string;
  readonly rule?: SecurityGroupRule;
}

/** a rule's id: the one it keeps, else one derived from its group, direction and what it matches */
export function ruleIdOf(g: SecurityGroup, direction: 'ingress' | 'egress', r: SecurityGroupRule): string {
  return r.id ?? derivedId('sgr', `${g.id}/${direction}/${r.protocol}/${r.from_port}-${r.to_port}/${r.cidr}`);
}

/** a default group's rule "all traffic from its members" (no CIDR form: no `rule`) */
export const membersRuleRow = (g: SecurityGroup): RuleRow => ({ group: g, direction: 'ingress', id: derivedId('sgr', `${g.id}/ingress/members`) });

export function ruleRows(g: SecurityGroup): RuleRow[] {
  return [
    ...(admitsMembers(g) ? [membersRuleRow(g)] : []),
    ...g.ingress.map((rule) => ({ group: g, direction: 'ingress' as const, id: ruleIdOf(g, 'ingress', rule), rule })),
    ...g.egress.map((rule) => ({ group: g, direction: 'egress' as const, id: ruleIdOf(g, 'egress', rule), rule })),
  ];
}

export function securityGroupRuleXml(call: AwsCall, row: RuleRow): XmlFields {
  const r = row.rule;
  const all = !r || r.protocol === '-1';
  return {
    securityGroupRuleId: row.id,
    groupId: row.group.id,
    groupOwnerId: ownerOf(call),
    isEgress: row.direction === 'egress',
    ipProtocol: all ? '-1' : 'tcp',
    fromPort: all ? -1 : r.from_port,
    toPort: all ? -1 : r.to_port,
    ...(r ? { cidrIpv4: r.cidr } : { referencedGroupInfo: { groupId: row.group.id, userId: ownerOf(call) } }),
    ...(r?.description ? { description: r.description } : {}),
    tagSet: tagSet(r?.tags ?? []),
    securityGroupRuleArn: `arn:aws:ec2:${call.region}:${ownerOf(call)}:security-group-rule/${row.id}`,
  };
}

function describeSecurityGroupRules(call: AwsCall): XmlFields {
  const rows = callerSecurityGroups(call).flatMap(ruleRows);
  const chosen = byIds(call, 'SecurityGroupRuleId', rows, (r) => r.id, 'InvalidSecurityGroupRuleId.NotFound', 'security group rule', ID_SHAPES.securityGroupRule);
  const table: FilterTable<RuleRow> = {
    'group-id': (r) => r.group.id,
    'security-group-rule-id': (r) => r.id,
  };
  const out = page(applyFilters(chosen, call.params.filters(), table, (r) => r.rule?.tags ?? []), (r) => r.id, call.params);
  return { securityGroupRuleSet: out.items.map((r) => securityGroupRuleXml(call, r)), nextToken: out.nextToken };
}

export function securityGroupXml(g: SecurityGroup, owner: string): XmlFields {
  // AWS's default group lets in all traffic from members of the group
  const members = admitsMembers(g) ? [{ ipProtocol: '-1', groups: [{ groupId: g.id, userId: owner }], ipRanges: [], ipv6Ranges: [], prefixListIds: [] }] : [];
  return {
    ownerId: owner,
    groupId: g.id,
    groupName: g.name,
    groupDescription: g.description,
    vpcId: g.vpc_id,
    ipPermissions: [...members, ...permissionsXml(g.ingress)],
    ipPermissionsEgress: permissionsXml(g.egress),
    tagSet: tagSet(g.tags),
  };
}

/** an interface endpoint's groups: those it was given, else (made before groups were kept, or through the Huawei API) its VPC's default one */
export function groupsOf(e: Endpoint): readonly string[] {
  return e.security_groups?.length ? e.security_groups : [defaultSecurityGroupId(e.vpc_id)];
}

/** the caller's groups: stored ones, and the virtual default group of each config VPC */
export function callerSecurityGroups(call: AwsCall): SecurityGroup[] {
  const stored = call.control.securityGroups(call.caller);
  const withDefault = new Set(stored.filter((g) => g.default).map((g) => g.vpc_id));
  const virtual = call.control.vpcs(call.caller).filter((v) => !withDefault.has(v.id)).map((v) => virtualDefaultGroup(v, call.caller.name));
  return [...virtual, ...stored];
}

/** the ports of the rules that have them, as IpPermissions shows them (an all-traffic rule has none) */
function portsOf(rules: readonly SecurityGroupRule[], end: 'from_port' | 'to_port'): string[] {
  return rules.filter((r) => r.protocol === 'tcp').map((r) => String(r[end]));
}

function describeSecurityGroups(call: AwsCall): XmlFields {
  const groups = callerSecurityGroups(call);
  let chosen = byIds(call, 'GroupId', groups, (g) => g.id, 'InvalidGroup.NotFound', 'security group', ID_SHAPES.securityGroup);
  const names = call.params.stringList('GroupName');
  const unknown = names.find((n) => !groups.some((g) => g.name === n));
  if (unknown !== undefined) throw new AwsRequestError('InvalidGroup.NotFound', `The security group '${unknown.slice(0, 255)}' does not exist`);
  if (names.length) chosen = chosen.filter((g) => names.includes(g.name));
  const table: FilterTable<SecurityGroup> = {
    'group-id': (g) => g.id,
    'group-name': (g) => g.name,
    'vpc-id': (g) => g.vpc_id,
    'owner-id': () => ownerOf(call),
    'description': (g) => g.description,
    'ip-permission.cidr': (g) => g.ingress.map((r) => r.cidr),
    'egress.ip-permission.cidr': (g) => g.egress.map((r) => r.cidr),
    // a default group's rule for its members is all traffic (-1) from the group itself
    'ip-permission.protocol': (g) => [...(g.default ? ['-1'] : []), ...g.ingress.map((r) => r.protocol)],
    'ip-permission.from-port': (g) => portsOf(g.ingress, 'from_port'),
    'ip-permission.to-port': (g) => portsOf(g.ingress, 'to_port'),
    'ip-permission.group-id': (g) => (g.default ? g.id : null),
    'egress.ip-permission.protocol': (g) => g.egress.map((r) => r.protocol),
    'egress.ip-permission.from-port': (g) => portsOf(g.egress, 'from_port'),
    'egress.ip-permission.to-port': (g) => portsOf(g.egress, 'to_port'),
    // a default group's rule names the group itself, in its own account
    'ip-permission.group-name': (g) => (g.default ? g.name : null),
    'ip-permission.user-id': (g) => (g.default ? ownerOf(call) : null),
    // rules here are IPv4 CIDRs (and the default group's own): AWS's filters on the others match none
    ...absent(
      'ip-permission.ipv6-cidr', 'ip-permission.prefix-list-id', 'egress.ip-permission.group-id',
      'egress.ip-permission.group-name', 'egress.ip-permission.ipv6-cidr', 'egress.ip-permission.prefix-list-id',
      'egress.ip-permission.user-id',
    ),
  };
  chosen = applyFilters(chosen, call.params.filters(), table, (g) => g.tags);
  const out = page(chosen, (g) => g.id, call.params);
  return { securityGroupInfo: out.items.map((g) => securityGroupXml(g, ownerOf(call))), nextToken: out.nextToken };
}

// ---- the ENIs of interface endpoints

function describeNetworkInterfaces(call: AwsCall): XmlFields {
  // EC2's reference: "You cannot specify this parameter and the network interface IDs parameter in the same request"
  if (call.params.has('MaxResults') && call.params.stringList('NetworkInterfaceId').length) {
    throw new AwsRequestError('InvalidParameterCombination', 'The parameter NetworkInterfaceIds cannot be used with the parameter MaxResults');
  }
  const zones = call.control.zones();
  const subnets = new Map(call.control.vpcs(call.caller).flatMap((v) => v.subnets.map((x) => [x.id, x] as const)));
  const enis = call.control.listEndpoints(call.caller)
    .filter((e) => e.service_type === 'interface' && e.status !== 'deleting')
    .flatMap((e) => e.enis.map((n) => ({ id: n.id, e, n, az: awsZone(call, subnets.has(n.subnet_id) ? zoneOfSubnet(subnets.get(n.subnet_id)!, zones) : n.zone) })));
  const chosen = byIds(call, 'NetworkInterfaceId', enis, (x) => x.id, 'InvalidNetworkInterfaceID.NotFound', 'network interface', ID_SHAPES.networkInterface);
  const description = (x: (typeof enis)[number]) => `VPC Endpoint Interface ${x.e.id}`;
  const groupNames = new Map(callerSecurityGroups(call).map((g) => [g.id, g.name]));
  const table: FilterTable<(typeof enis)[number]> = {
    'network-interface-id': (x) => x.id,
    'subnet-id': (x) => x.n.subnet_id,
    'vpc-id': (x) => x.e.vpc_id,
    'description': description,
    'interface-type': () => 'vpc_endpoint',
    'requester-managed': () => 'true',
    'private-ip-address': (x) => x.n.ip,
    'addresses.private-ip-address': (x) => x.n.ip,
    'status': () => 'in-use',
    'availability-zone': (x) => x.az.name,
    'availability-zone-id': (x) => x.az.id,
    'owner-id': () => ownerOf(call),
    'requester-id': () => 'amazon-aws',
    'addresses.primary': () => 'true',
    'source-dest-check': () => 'true',
    // an endpoint's ENIs carry the endpoint's groups
    'group-id': (x) => groupsOf(x.e),
    'group-name': (x) => groupsOf(x.e).map((id) => groupNames.get(id) ?? 'default'),
    // no instance owns an endpoint's ENI: filters on the attachment match none of them
    ...absent(
      'attachment.instance-owner-id', 'attachment.instance-id', 'attachment.attach-time', 'attachment.attachment-id',
      'attachment.delete-on-termination', 'attachment.device-index', 'attachment.status',
    ),
    // no public address, IPv6 address, MAC or DNS name is shown, no operator manages them
    ...absent(
      'association.allocation-id', 'association.association-id', 'association.ip-owner-id', 'association.public-ip',
      'association.public-dns-name', 'addresses.association.owner-id', 'addresses.association.public-ip',
      'ipv6-addresses.ipv6-address', 'mac-address', 'private-dns-name', 'operator.managed', 'operator.principal',
    ),
  };
  const out = page(applyFilters(chosen, call.params.filters(), table, () => []), (x) => x.id, call.params);
  return {
    networkInterfaceSet: out.items.map((x) => ({
      networkInterfaceId: x.id,
      subnetId: x.n.subnet_id,
      vpcId: x.e.vpc_id,
      availabilityZone: x.az.name,
      description: description(x),
      ownerId: ownerOf(call),
      requesterId: 'amazon-aws',
      requesterManaged: true,
      status: 'in-use',
      privateIpAddress: x.n.ip,
      privateIpAddressesSet: [{ privateIpAddress: x.n.ip, primary: true }],
      ipv6AddressesSet: [],
      interfaceType: 'vpc_endpoint',
      sourceDestCheck: true,
      groupSet: groupsOf(x.e).map((id) => ({ groupId: id, groupName: groupNames.get(id) ?? 'default' })),
      tagSet: [],
    })),
    nextToken: out.nextToken,
  };
}

// ---- the public services' prefix lists

function describePrefixLists(call: AwsCall): XmlFields {
  const lists = call.control.publicServices()
    .filter((s) => s.public?.prefix_list)
    .map((s) => ({ id: s.public!.prefix_list!.id, name: awsServiceName(s, call.region, call.control.region), cidrs: s.public!.prefix_list!.cidrs }));
  const chosen = byIds(call, 'PrefixListId', lists, (l) => l.id, 'InvalidPrefixListID.NotFound', 'prefix list ID');
  const table: FilterTable<(typeof lists)[number]> = {
    'prefix-list-id': (l) => l.id,
    'prefix-list-name': (l) => l.name,
  };
  const out = page(applyFilters(chosen, call.params.filters(), table), (l) => l.id, call.params);
  return {
    prefixListSet: out.items.map((l) => ({ prefixListId: l.id, prefixListName: l.name, cidrSet: [...l.cidrs] })),
    nextToken: out.nextToken,
  };
}

export const EC2_NETWORK_ACTIONS: ActionTable = {
  DescribeVpcs: describeVpcs,
  DescribeVpcAttribute: describeVpcAttribute,
  DescribeSubnets: describeSubnets,
  DescribeRouteTables: describeRouteTables,
  DescribeSecurityGroups: describeSecurityGroups,
  DescribeSecurityGroupRules: describeSecurityGroupRules,
  DescribeNetworkInterfaces: describeNetworkInterfaces,
  DescribePrefixLists: describePrefixLists,
};


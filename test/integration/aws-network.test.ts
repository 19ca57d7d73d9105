// The network inventory made through the EC2 API (issue 12: "a stack is built through the API as
// Terraform does"), with @aws-sdk/client-ec2 over real HTTP against a real daemon, signatures
// verified: VPCs, subnets, route tables and security groups made, read and torn down; every
// refusal a 4xx that changes nothing (DependencyViolation, conflicts, config VPCs); another account
// that sees none of it; and, in real vpcepd processes on one data dir, real bytes through an
// endpoint in an API-made VPC and subnet, isolated from other VPCs, again after a restart.
import path from 'node:path';
import {
  AssociateRouteTableCommand, AttachInternetGatewayCommand, AuthorizeSecurityGroupEgressCommand, AuthorizeSecurityGroupIngressCommand, CreateInternetGatewayCommand, DeleteInternetGatewayCommand, DetachInternetGatewayCommand, CreateRouteCommand, CreateRouteTableCommand, CreateSecurityGroupCommand,
  CreateSubnetCommand, CreateTagsCommand, CreateVpcCommand, CreateVpcEndpointCommand, DeleteRouteCommand, DeleteRouteTableCommand, DeleteSecurityGroupCommand,
  DeleteSubnetCommand, DeleteTagsCommand, DeleteVpcCommand, DeleteVpcEndpointsCommand, DescribeNetworkInterfacesCommand, DescribeRouteTablesCommand, DescribeTagsCommand,
  DescribeSecurityGroupRulesCommand, DescribeSecurityGroupsCommand, DescribeSubnetsCommand, DescribeVpcAttributeCommand, DescribeVpcEndpointsCommand, DescribeVpcsCommand,
  DisassociateRouteTableCommand, EC2Client, ModifyVpcAttributeCommand, ModifyVpcEndpointCommand, ModifyVpcEndpointServicePermissionsCommand,
  ModifySecurityGroupRulesCommand, ReplaceRouteTableAssociationCommand, CreateNetworkAclCommand, DescribeNetworkAclsCommand, ReplaceNetworkAclAssociationCommand, DeleteNetworkAclCommand, RevokeSecurityGroupEgressCommand, RevokeSecurityGroupIngressCommand,
  UpdateSecurityGroupRuleDescriptionsEgressCommand, UpdateSecurityGroupRuleDescriptionsIngressCommand,
} from '@aws-sdk/client-ec2';
import {
  CreateListenerCommand, CreateLoadBalancerCommand, CreateTargetGroupCommand, DeleteListenerCommand, DeleteLoadBalancerCommand, DeleteTargetGroupCommand,
  DescribeLoadBalancersCommand, ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ipToInt } from '../../src/net/cidr.js';
import { hostAddress } from '../../src/net/loopback.js';
import {
  ApiClient, CONSUMER, PROVIDER, SERVICE_BODY, metricValue, spawnDaemon, startTestDaemon, tempDir, twoAccountConfig, waitFor, writeConfig, type ChildDaemon, type TestDaemon,
} from '../helpers.js';
import { echo, randomPort, startBackend, type TestBackend } from './backends.js';
import { attempt, refused } from './aws-sdk.js';

const KEYS = {
  provider: { account_id: '111111111111', access_key_id: 'AKIAPROVIDER00000001', secret_access_key: 'provider-secret-key-0123456789abcdef' },
  consumer: { account_id: '222222222222', access_key_id: 'AKIACONSUMER00000002', secret_access_key: 'consumer-secret-key-0123456789abcdef' },
};
const REGION = 'us-east-1';
const config = () => twoAccountConfig({ accounts: [{ ...PROVIDER, aws: KEYS.provider }, { ...CONSUMER, aws: KEYS.consumer }] });

const client = (url: string, key: (typeof KEYS)[keyof typeof KEYS]) => new EC2Client({
  region: REGION, endpoint: url, maxAttempts: 1, credentials: { accessKeyId: key.access_key_id, secretAccessKey: key.secret_access_key },
});

describe('the network inventory through the EC2 API', () => {
  let d: TestDaemon;
  let consumer: EC2Client;
  let provider: EC2Client;

  beforeAll(async () => {
    d = await startTestDaemon(config());
    consumer = client(d.url, KEYS.consumer);
    provider = client(d.url, KEYS.provider);
  });

  afterAll(async () => {
    consumer?.destroy();
    provider?.destroy();
    await d?.stop();
  });

  /** what a test leaves whatever happens to it */
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  it('builds a VPC with a subnet, route table, routes and a security group, reads them back, and tears them down', async () => {
    const vpc = (await consumer.send(new CreateVpcCommand({
      CidrBlock: '10.20.0.0/16', TagSpecifications: [{ ResourceType: 'vpc', Tags: [{ Key: 'Name', Value: 'built' }] }],
    }))).Vpc!;
    expect(vpc.VpcId).toMatch(/^vpc-[0-9a-f]{17}$/);
    expect(vpc).toMatchObject({ CidrBlock: '10.20.0.0/16', State: 'available', OwnerId: KEYS.consumer.account_id, Tags: [{ Key: 'Name', Value: 'built' }] });
    const listed = await consumer.send(new DescribeVpcsCommand({ Filters: [{ Name: 'tag:Name', Values: ['built'] }] }));
    expect(listed.Vpcs!.map((v) => v.VpcId)).toEqual([vpc.VpcId]);
    // the VPC has a loopback number like a config VPC, different from every other
    const numbers = [...d.daemon.control.routing().vpcs.values()].map((v) => v.number);
    expect(new Set(numbers).size).toBe(numbers.length);
    expect(d.daemon.control.routing().vpcs.get(vpc.VpcId!)).toBeDefined();

    expect((await consumer.send(new DescribeVpcAttributeCommand({ VpcId: vpc.VpcId, Attribute: 'enableDnsHostnames' }))).EnableDnsHostnames?.Value).toBe(false);
    await consumer.send(new ModifyVpcAttributeCommand({ VpcId: vpc.VpcId, EnableDnsHostnames: { Value: true } }));
    expect((await consumer.send(new DescribeVpcAttributeCommand({ VpcId: vpc.VpcId, Attribute: 'enableDnsHostnames' }))).EnableDnsHostnames?.Value).toBe(true);

    const subnet = (await consumer.send(new CreateSubnetCommand({ VpcId: vpc.VpcId, CidrBlock: '10.20.1.0/24', AvailabilityZone: `${REGION}b` }))).Subnet!;
    expect(subnet.SubnetId).toMatch(/^subnet-[0-9a-f]{17}$/);
    // AWS: 256 less the five reserved addresses
    expect(subnet).toMatchObject({ VpcId: vpc.VpcId, CidrBlock: '10.20.1.0/24', AvailabilityZone: `${REGION}b`, AvailabilityZoneId: 'use1-az2', AvailableIpAddressCount: 251 });
    const subnets = await consumer.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc.VpcId!] }] }));
    expect(subnets.Subnets!.map((s) => [s.SubnetId, s.AvailabilityZone])).toEqual([[subnet.SubnetId, `${REGION}b`]]);

    const main = (await consumer.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc.VpcId!] }] }))).RouteTables!;
    expect(main).toHaveLength(1);
    expect(main[0]!.Associations).toEqual([expect.objectContaining({ Main: true })]);
    expect(main[0]!.Routes).toEqual([expect.objectContaining({ DestinationCidrBlock: '10.20.0.0/16', GatewayId: 'local' })]);

    const table = (await consumer.send(new CreateRouteTableCommand({ VpcId: vpc.VpcId }))).RouteTable!;
    expect(table.RouteTableId).toMatch(/^rtb-[0-9a-f]{17}$/);
    const assoc = await consumer.send(new AssociateRouteTableCommand({ RouteTableId: table.RouteTableId, SubnetId: subnet.SubnetId }));
    expect(assoc.AssociationId).toMatch(/^rtbassoc-[0-9a-f]{17}$/);
    expect(await refused(consumer.send(new AssociateRouteTableCommand({ RouteTableId: table.RouteTableId, SubnetId: subnet.SubnetId }))))
      .toMatchObject({ code: 'Resource.AlreadyAssociated', status: 400 });
    // a route to an internet gateway names one attached to the VPC (test/integration/aws-internet-gateways.test.ts)
    const igw = (await consumer.send(new CreateInternetGatewayCommand({}))).InternetGateway!.InternetGatewayId!;
    await consumer.send(new AttachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: vpc.VpcId }));
    await consumer.send(new CreateRouteCommand({ RouteTableId: table.RouteTableId, DestinationCidrBlock: '0.0.0.0/0', GatewayId: igw }));
    const read = (await consumer.send(new DescribeRouteTablesCommand({ RouteTableIds: [table.RouteTableId!] }))).RouteTables![0]!;
    expect(read.Associations).toEqual([expect.objectContaining({ RouteTableAssociationId: assoc.AssociationId, SubnetId: subnet.SubnetId, Main: false })]);
    expect(read.Routes!.map((r) => [r.DestinationCidrBlock, r.GatewayId])).toEqual([['10.20.0.0/16', 'local'], ['0.0.0.0/0', igw]]);
    // a second route to the same destination: RouteAlreadyExists, as EC2 answers (was InvalidParameterValue); nothing changed
    expect(await refused(consumer.send(new CreateRouteCommand({ RouteTableId: table.RouteTableId, DestinationCidrBlock: '0.0.0.0/0', GatewayId: igw }))))
      .toMatchObject({ code: 'RouteAlreadyExists', status: 400 });
    // inside the VPC's CIDR a route may lead only to an interface or an instance (EC2's
    // InvalidParameterValue "Route target is not supported"; it was taken)
    for (const inside of ['10.20.1.0/24', '10.20.7.9/32']) {
      const r = await refused(consumer.send(new CreateRouteCommand({ RouteTableId: table.RouteTableId, DestinationCidrBlock: inside, GatewayId: igw })));
      expect(r).toMatchObject({ code: 'InvalidParameterValue', status: 400 });
      expect(r.message).toMatch(/route target is not supported: .* only supports interface and instance targets/);
    }
    expect((await consumer.send(new DescribeRouteTablesCommand({ RouteTableIds: [table.RouteTableId!] }))).RouteTables![0]!.Routes).toEqual(read.Routes);
    // the route and association filters of EC2's DescribeRouteTables (were InvalidParameterValue)
    const filtered = async (Name: string, Values: string[]) => (await consumer.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc.VpcId!] }, { Name, Values }] })))
      .RouteTables!.map((t) => t.RouteTableId).sort();
    expect(await filtered('route.destination-cidr-block', ['0.0.0.0/0'])).toEqual([table.RouteTableId]);
    expect(await filtered('route.destination-cidr-block', ['10.20.0.0/16'])).toEqual([main[0]!.RouteTableId, table.RouteTableId].sort());
    expect(await filtered('route.origin', ['CreateRoute'])).toEqual([table.RouteTableId]);
    expect(await filtered('route.state', ['active'])).toHaveLength(2);
    expect(await filtered('association.route-table-id', [table.RouteTableId!])).toEqual([table.RouteTableId]);
    // an igw route made without a nexthop (through the Huawei API) is shown with its VPC's derived igw
    // id; route.gateway-id finds its table by that id (found none: it filtered on the missing nexthop)
    const mainRoutes = (routes: unknown) => d.consumer.put(`/routetables/${main[0]!.RouteTableId}`, { routetable: { routes } });
    expect((await mainRoutes({ add: [{ destination: '0.0.0.0/0', type: 'igw' }] })).status).toBe(200);
    const shownIgw = (await consumer.send(new DescribeRouteTablesCommand({ RouteTableIds: [main[0]!.RouteTableId!] }))).RouteTables![0]!.Routes!
      .find((r) => r.DestinationCidrBlock === '0.0.0.0/0')!.GatewayId!;
    expect(shownIgw).toMatch(/^igw-[0-9a-f]{17}$/);
    expect(await filtered('route.gateway-id', [shownIgw])).toEqual([main[0]!.RouteTableId]);
    expect(await filtered('route.gateway-id', [igw])).toEqual([table.RouteTableId]);
    expect(await filtered('route.gateway-id', ['local'])).toHaveLength(2);
    expect((await mainRoutes({ del: [{ destination: '0.0.0.0/0' }] })).status).toBe(200);
    // the routing view the data plane decides by has the subnet on the new table, with its igw route
    const routing = d.daemon.control.routing().vpcs.get(vpc.VpcId!)!;
    expect(routing.subnets.find((s) => s.id === subnet.SubnetId)?.tableId).toBe(table.RouteTableId);

    // a table in use, a VPC with subnets: DependencyViolation, nothing changed
    expect(await refused(consumer.send(new DeleteRouteTableCommand({ RouteTableId: table.RouteTableId }))))
      .toMatchObject({ code: 'DependencyViolation', status: 400 });
    expect(await refused(consumer.send(new DeleteVpcCommand({ VpcId: vpc.VpcId }))))
      .toMatchObject({ code: 'DependencyViolation', status: 400 });
    expect((await consumer.send(new DescribeVpcsCommand({ VpcIds: [vpc.VpcId!] }))).Vpcs).toHaveLength(1);

    const sg = await consumer.send(new CreateSecurityGroupCommand({ VpcId: vpc.VpcId, GroupName: 'web', Description: 'web servers' }));
    expect(sg.GroupId).toMatch(/^sg-[0-9a-f]{17}$/);
    expect(await refused(consumer.send(new CreateSecurityGroupCommand({ VpcId: vpc.VpcId, GroupName: 'web', Description: 'again' }))))
      .toMatchObject({ code: 'InvalidGroup.Duplicate', status: 400 });
    // it was made, named like a group id
    expect(await refused(consumer.send(new CreateSecurityGroupCommand({ VpcId: vpc.VpcId, GroupName: 'sg-web', Description: 'x' }))))
      .toMatchObject({ code: 'InvalidParameterValue', status: 400, message: "Group names may not be in the format sg-*: 'sg-web'" });
    const rule = { GroupId: sg.GroupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '10.0.0.0/8' }] }] };
    await consumer.send(new AuthorizeSecurityGroupIngressCommand(rule));
    expect(await refused(consumer.send(new AuthorizeSecurityGroupIngressCommand(rule)))).toMatchObject({ code: 'InvalidPermission.Duplicate', status: 400 });
    expect(await refused(consumer.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: sg.GroupId, IpPermissions: [{ IpProtocol: 'udp', FromPort: 53, ToPort: 53, IpRanges: [{ CidrIp: '10.0.0.0/8' }] }] }))))
      .toMatchObject({ code: 'InvalidParameterValue', status: 400 });
    const groups = (await consumer.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc.VpcId!] }] }))).SecurityGroups!;
    expect(groups.map((g) => g.GroupName).sort()).toEqual(['default', 'web']);
    const web = groups.find((g) => g.GroupName === 'web')!;
    expect(web.IpPermissions).toEqual([expect.objectContaining({ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '10.0.0.0/8' }] })]);
    expect(web.IpPermissionsEgress).toEqual([expect.objectContaining({ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] })]);
    await consumer.send(new RevokeSecurityGroupIngressCommand(rule));
    expect(await refused(consumer.send(new RevokeSecurityGroupIngressCommand(rule)))).toMatchObject({ code: 'InvalidPermission.NotFound', status: 400 });
    const defaultGroup = groups.find((g) => g.GroupName === 'default')!;
    expect(await refused(consumer.send(new DeleteSecurityGroupCommand({ GroupId: defaultGroup.GroupId }))))
      .toMatchObject({ code: 'CannotDelete', status: 400 });

    // tear down, as Terraform destroys
    await consumer.send(new DeleteRouteCommand({ RouteTableId: table.RouteTableId, DestinationCidrBlock: '0.0.0.0/0' }));
    // a route already gone: InvalidRoute.NotFound, which Terraform's aws_route destroy takes as done (was InvalidParameterValue)
    expect(await refused(consumer.send(new DeleteRouteCommand({ RouteTableId: table.RouteTableId, DestinationCidrBlock: '0.0.0.0/0' }))))
      .toMatchObject({ code: 'InvalidRoute.NotFound', status: 400 });
    // the local route: InvalidParameterValue in EC2's words, which Terraform's aws_route destroy matches
    expect(await refused(consumer.send(new DeleteRouteCommand({ RouteTableId: table.RouteTableId, DestinationCidrBlock: '10.20.0.0/16' }))))
      .toMatchObject({ code: 'InvalidParameterValue', status: 400, message: expect.stringContaining('cannot remove local route 10.20.0.0/16') });
    const replaced = await consumer.send(new ReplaceRouteTableAssociationCommand({ AssociationId: assoc.AssociationId, RouteTableId: table.RouteTableId }));
    expect(replaced.NewAssociationId).toBe(assoc.AssociationId);
    await consumer.send(new DisassociateRouteTableCommand({ AssociationId: assoc.AssociationId }));
    await consumer.send(new DeleteRouteTableCommand({ RouteTableId: table.RouteTableId }));
    // a subnet associated explicitly with the main table (AWS allows it): the association is shown and
    // can be disassociated (was answered with an id no read showed and Disassociate called NotFound)
    const mainId = main[0]!.RouteTableId!;
    const explicit = await consumer.send(new AssociateRouteTableCommand({ RouteTableId: mainId, SubnetId: subnet.SubnetId }));
    const mainRead = (await consumer.send(new DescribeRouteTablesCommand({ RouteTableIds: [mainId] }))).RouteTables![0]!;
    expect(mainRead.Associations).toEqual([
      expect.objectContaining({ Main: true }),
      expect.objectContaining({ Main: false, SubnetId: subnet.SubnetId, RouteTableAssociationId: explicit.AssociationId }),
    ]);
    expect(await refused(consumer.send(new AssociateRouteTableCommand({ RouteTableId: mainId, SubnetId: subnet.SubnetId }))))
      .toMatchObject({ code: 'Resource.AlreadyAssociated', status: 400 });
    expect(d.daemon.control.routing().vpcs.get(vpc.VpcId!)!.subnets.find((s) => s.id === subnet.SubnetId)).toMatchObject({ tableId: mainId, associated: true });
    await consumer.send(new DisassociateRouteTableCommand({ AssociationId: explicit.AssociationId }));
    expect((await consumer.send(new DescribeRouteTablesCommand({ RouteTableIds: [mainId] }))).RouteTables![0]!.Associations).toEqual([expect.objectContaining({ Main: true })]);
    await consumer.send(new DeleteSecurityGroupCommand({ GroupId: sg.GroupId }));
    await consumer.send(new DeleteSubnetCommand({ SubnetId: subnet.SubnetId }));
    // its internet gateway attached, the VPC still has a dependency
    expect(await refused(consumer.send(new DeleteVpcCommand({ VpcId: vpc.VpcId })))).toMatchObject({ code: 'DependencyViolation', status: 400 });
    await consumer.send(new DetachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: vpc.VpcId }));
    await consumer.send(new DeleteInternetGatewayCommand({ InternetGatewayId: igw }));
    await consumer.send(new DeleteVpcCommand({ VpcId: vpc.VpcId }));
    expect(await refused(consumer.send(new DescribeVpcsCommand({ VpcIds: [vpc.VpcId!] })))).toMatchObject({ code: 'InvalidVpcID.NotFound', status: 400 });
    expect(await refused(consumer.send(new DescribeSecurityGroupsCommand({ GroupIds: [defaultGroup.GroupId!] })))).toMatchObject({ code: 'InvalidGroup.NotFound', status: 400 });
    expect(d.daemon.control.routing().vpcs.get(vpc.VpcId!)).toBeUndefined();
  });

  it('every filter name EC2 documents for the reads is taken (one for what does not exist here matches none; Terraform\'s data "aws_vpc" sends isDefault); a name EC2 has not is refused; DescribeNetworkInterfaces refuses MaxResults beside ids, as EC2 documents', async () => {
    const vpc = (await consumer.send(new CreateVpcCommand({ CidrBlock: '10.21.0.0/16' }))).Vpc!.VpcId!;
    // gone whatever happens: the quota tests below count this account's VPCs
    cleanups.push(() => consumer.send(new DeleteVpcCommand({ VpcId: vpc })).then(() => undefined, () => undefined));
    const ids = async (send: Promise<object>, key: string, id: string) => ((await send as Record<string, unknown>)[key] as Array<Record<string, unknown>>).map((x) => x[id]);
    const vpcs = (Name: string, Values: string[]) => ids(consumer.send(new DescribeVpcsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc] }, { Name, Values }] })), 'Vpcs', 'VpcId');
    expect(await vpcs('isDefault', ['false'])).toEqual([vpc]);
    expect(await vpcs('isDefault', ['true'])).toEqual([]);
    expect(await vpcs('ipv6-cidr-block-association.state', ['associated'])).toEqual([]);
    const tables = (Name: string) => ids(consumer.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc] }, { Name, Values: ['*'] }] })), 'RouteTables', 'RouteTableId');
    for (const name of ['association.gateway-id', 'route.nat-gateway-id', 'route.vpc-peering-connection-id']) expect(await tables(name), name).toEqual([]);
    const groups = (Name: string, Values: string[]) => ids(consumer.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc] }, { Name, Values }] })), 'SecurityGroups', 'GroupName');
    expect(await groups('ip-permission.group-name', ['default'])).toEqual(['default']);
    expect(await groups('egress.ip-permission.prefix-list-id', ['*'])).toEqual([]);
    // (the ENI filters: where an endpoint has an ENI, below)
    expect((await consumer.send(new DescribeNetworkAclsCommand({ Filters: [{ Name: 'entry.ipv6-cidr', Values: ['::/0'] }] }))).NetworkAcls).toEqual([]);
    expect(await refused(consumer.send(new DescribeVpcsCommand({ Filters: [{ Name: 'is-default-vpc', Values: ['true'] }] })))).toMatchObject({ code: 'InvalidParameterValue', message: "The filter 'is-default-vpc' is invalid" });
    expect(await refused(consumer.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: ['eni-0123456789abcdef0'], MaxResults: 5 })))).toMatchObject({ code: 'InvalidParameterCombination', status: 400 });
  });

  it('the main association is replaced by another table of the VPC and back (Terraform\'s aws_main_route_table_association; was UnsupportedOperation)', async () => {
    const vpc = (await consumer.send(new CreateVpcCommand({ CidrBlock: '10.23.0.0/16' }))).Vpc!.VpcId!;
    const other = (await consumer.send(new CreateVpcCommand({ CidrBlock: '10.24.0.0/16' }))).Vpc!.VpcId!;
    const subnet = (await consumer.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.23.1.0/24' }))).Subnet!.SubnetId!;
    const mainOf = async (v: string) => (await consumer.send(new DescribeRouteTablesCommand({
      Filters: [{ Name: 'vpc-id', Values: [v] }, { Name: 'association.main', Values: ['true'] }],
    }))).RouteTables!;
    const [original] = await mainOf(vpc);
    const originalAssociation = original!.Associations!.find((a) => a.Main)!.RouteTableAssociationId!;
    const table = (await consumer.send(new CreateRouteTableCommand({ VpcId: vpc }))).RouteTable!.RouteTableId!;
    const elsewhere = (await consumer.send(new CreateRouteTableCommand({ VpcId: other }))).RouteTable!.RouteTableId!;
    expect(await refused(consumer.send(new ReplaceRouteTableAssociationCommand({ AssociationId: originalAssociation, RouteTableId: elsewhere }))))
      .toMatchObject({ code: 'InvalidParameterValue', status: 400 });

    const replaced = await consumer.send(new ReplaceRouteTableAssociationCommand({ AssociationId: originalAssociation, RouteTableId: table }));
    expect(replaced.NewAssociationId).toMatch(/^rtbassoc-[0-9a-f]{17}$/);
    const [now] = await mainOf(vpc);
    expect(now).toMatchObject({ RouteTableId: table, Associations: [expect.objectContaining({ Main: true, RouteTableAssociationId: replaced.NewAssociationId })] });
    // the subnet without an association routes by the new main table; the new main table cannot be deleted, the old one can be
    expect(d.daemon.control.routing().vpcs.get(vpc)!.subnets.find((x) => x.id === subnet)).toMatchObject({ tableId: table, associated: false });
    expect(await refused(consumer.send(new DeleteRouteTableCommand({ RouteTableId: table })))).toMatchObject({ code: 'DependencyViolation', status: 400 });

    // and back, by the association's new id (what Terraform keeps and restores on destroy)
    const back = await consumer.send(new ReplaceRouteTableAssociationCommand({ AssociationId: replaced.NewAssociationId, RouteTableId: original!.RouteTableId }));
    expect(back.NewAssociationId).toBe(originalAssociation);
    expect((await mainOf(vpc)).map((t) => t.RouteTableId)).toEqual([original!.RouteTableId]);
    expect(d.daemon.control.routing().vpcs.get(vpc)!.subnets.find((x) => x.id === subnet)).toMatchObject({ tableId: original!.RouteTableId });
    await consumer.send(new DeleteRouteTableCommand({ RouteTableId: table }));
    await consumer.send(new DeleteRouteTableCommand({ RouteTableId: elsewhere }));
    await consumer.send(new DeleteSubnetCommand({ SubnetId: subnet }));
    await consumer.send(new DeleteVpcCommand({ VpcId: vpc }));
    await consumer.send(new DeleteVpcCommand({ VpcId: other }));
  });

  it('refuses bad blocks, overlaps, the SNAT range and config VPCs with a 4xx, changing nothing', async () => {
    const before = (await consumer.send(new DescribeVpcsCommand({}))).Vpcs!.length;
    for (const [cidr, code] of [
      ['10.0.0.0/8', 'InvalidVpc.Range'], ['10.0.0.0/29', 'InvalidVpc.Range'], ['10.1.2.3/8', 'InvalidVpc.Range'],
      ['not-a-cidr', 'InvalidParameterValue'], ['198.19.0.0/16', 'InvalidSubnet.Conflict'], ['198.19.200.0/24', 'InvalidSubnet.Conflict'],
    ] as const) {
      expect(await refused(consumer.send(new CreateVpcCommand({ CidrBlock: cidr }))), cidr).toMatchObject({ code, status: 400 });
    }
    expect((await consumer.send(new DescribeVpcsCommand({}))).Vpcs!.length).toBe(before);

    const vpc = (await consumer.send(new CreateVpcCommand({ CidrBlock: '172.16.0.0/16' }))).Vpc!;
    await consumer.send(new CreateSubnetCommand({ VpcId: vpc.VpcId, CidrBlock: '172.16.0.0/24' }));
    for (const [cidr, code] of [['172.17.0.0/24', 'InvalidSubnet.Range'], ['172.16.0.128/25', 'InvalidSubnet.Conflict'], ['172.16.1.0/30', 'InvalidSubnet.Range']] as const) {
      expect(await refused(consumer.send(new CreateSubnetCommand({ VpcId: vpc.VpcId, CidrBlock: cidr }))), cidr).toMatchObject({ code, status: 400 });
    }
    expect(await refused(consumer.send(new CreateSubnetCommand({ VpcId: vpc.VpcId, CidrBlock: '172.16.2.0/24', AvailabilityZone: 'us-west-2a' }))))
      .toMatchObject({ code: 'InvalidParameterValue', status: 400 });
    expect((await consumer.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc.VpcId!] }] }))).Subnets).toHaveLength(1);

    // the config's VPCs are the config's
    expect(await refused(consumer.send(new DeleteVpcCommand({ VpcId: 'vpc-client' })))).toMatchObject({ code: 'UnauthorizedOperation', status: 403 });
    // the message said "declare its subnets there there"
    expect(await refused(consumer.send(new CreateSubnetCommand({ VpcId: 'vpc-client', CidrBlock: '10.0.9.0/24' })))).toMatchObject({
      code: 'UnauthorizedOperation', status: 403,
      message: 'VPC vpc-client is declared in the config file: declare its subnets there (only VPCs made through the API change through it)',
    });
    expect(await refused(consumer.send(new CreateRouteTableCommand({ VpcId: 'vpc-client' })))).toMatchObject({
      code: 'UnauthorizedOperation', status: 403,
      message: 'VPC vpc-client is declared in the config file: declare its route tables there (only VPCs made through the API change through it)',
    });
    // but a security group may be made in one
    const sg = await consumer.send(new CreateSecurityGroupCommand({ VpcId: 'vpc-client', GroupName: 'in-config-vpc', Description: 'x' }));
    await consumer.send(new DeleteSecurityGroupCommand({ GroupId: sg.GroupId }));

    // another account sees nothing and can change nothing
    expect(await refused(provider.send(new DescribeVpcsCommand({ VpcIds: [vpc.VpcId!] })))).toMatchObject({ code: 'InvalidVpcID.NotFound', status: 400 });
    expect(await refused(provider.send(new DeleteVpcCommand({ VpcId: vpc.VpcId })))).toMatchObject({ code: 'InvalidVpcID.NotFound', status: 400 });
    expect(await refused(provider.send(new CreateSubnetCommand({ VpcId: vpc.VpcId, CidrBlock: '172.16.3.0/24' })))).toMatchObject({ code: 'InvalidVpcID.NotFound', status: 400 });
    expect((await provider.send(new DescribeSubnetsCommand({}))).Subnets!.map((s) => s.VpcId)).not.toContain(vpc.VpcId);
    expect((await provider.send(new DescribeSecurityGroupsCommand({}))).SecurityGroups!.map((g) => g.VpcId)).not.toContain(vpc.VpcId);

    const subnet = (await consumer.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc.VpcId!] }] }))).Subnets![0]!;
    await consumer.send(new DeleteSubnetCommand({ SubnetId: subnet.SubnetId }));
    await consumer.send(new DeleteVpcCommand({ VpcId: vpc.VpcId }));
  });

  it('takes a CIDR with host bits set in its canonical form, as EC2 documents for CreateVpc, CreateSubnet, CreateRoute and a rule\'s CidrIp (was InvalidParameterValue "has host bits set")', async () => {
    const vpc = (await consumer.send(new CreateVpcCommand({ CidrBlock: '100.68.0.18/18' }))).Vpc!;
    expect(vpc.CidrBlock).toBe('100.68.0.0/18');
    expect((await consumer.send(new DescribeVpcsCommand({ VpcIds: [vpc.VpcId!] }))).Vpcs![0]!.CidrBlock).toBe('100.68.0.0/18');
    const subnet = (await consumer.send(new CreateSubnetCommand({ VpcId: vpc.VpcId, CidrBlock: '100.68.1.77/24' }))).Subnet!;
    expect(subnet.CidrBlock).toBe('100.68.1.0/24');
    const table = (await consumer.send(new CreateRouteTableCommand({ VpcId: vpc.VpcId }))).RouteTable!.RouteTableId!;
    const igw = (await consumer.send(new CreateInternetGatewayCommand({}))).InternetGateway!.InternetGatewayId!;
    await consumer.send(new AttachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: vpc.VpcId }));
    await consumer.send(new CreateRouteCommand({ RouteTableId: table, DestinationCidrBlock: '203.0.113.9/24', GatewayId: igw }));
    const routes = (await consumer.send(new DescribeRouteTablesCommand({ RouteTableIds: [table] }))).RouteTables![0]!.Routes!;
    expect(routes.map((r) => r.DestinationCidrBlock)).toEqual(['100.68.0.0/18', '203.0.113.0/24']);
    // DeleteRoute's must match the route's exactly (the EC2 model)
    expect(await refused(consumer.send(new DeleteRouteCommand({ RouteTableId: table, DestinationCidrBlock: '203.0.113.9/24' }))))
      .toMatchObject({ code: 'InvalidRoute.NotFound', status: 400 });
    await consumer.send(new DeleteRouteCommand({ RouteTableId: table, DestinationCidrBlock: '203.0.113.0/24' }));
    const sg = (await consumer.send(new CreateSecurityGroupCommand({ VpcId: vpc.VpcId, GroupName: 'canonical', Description: 'x' }))).GroupId!;
    const perm = (CidrIp: string) => ({ GroupId: sg, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp }] }] });
    await consumer.send(new AuthorizeSecurityGroupIngressCommand(perm('10.9.8.7/16')));
    expect((await consumer.send(new DescribeSecurityGroupsCommand({ GroupIds: [sg] }))).SecurityGroups![0]!.IpPermissions![0]!.IpRanges).toEqual([{ CidrIp: '10.9.0.0/16' }]);
    // the non-canonical form names the same rule: a duplicate, as EC2 documents, and revoked by it
    expect(await refused(consumer.send(new AuthorizeSecurityGroupIngressCommand(perm('10.9.0.1/16'))))).toMatchObject({ code: 'InvalidPermission.Duplicate', status: 400 });
    await consumer.send(new RevokeSecurityGroupIngressCommand(perm('10.9.255.255/16')));
    expect((await consumer.send(new DescribeSecurityGroupsCommand({ GroupIds: [sg] }))).SecurityGroups![0]!.IpPermissions ?? []).toEqual([]);
    await consumer.send(new DeleteSecurityGroupCommand({ GroupId: sg }));
    await consumer.send(new DetachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: vpc.VpcId }));
    await consumer.send(new DeleteInternetGatewayCommand({ InternetGatewayId: igw }));
    await consumer.send(new DeleteRouteTableCommand({ RouteTableId: table }));
    await consumer.send(new DeleteSubnetCommand({ SubnetId: subnet.SubnetId }));
    await consumer.send(new DeleteVpcCommand({ VpcId: vpc.VpcId }));
  });

  it('answers EC2\'s own codes for a VPC or subnet block out of range, a subnet outside its VPC, the default group\'s deletion and the name default (were InvalidParameterValue, InvalidSubnet.Conflict, DependencyViolation)', async () => {
    for (const cidr of ['10.10.0.0/29', '10.0.0.0/8']) {
      expect(await refused(consumer.send(new CreateVpcCommand({ CidrBlock: cidr }))), cidr).toMatchObject({ code: 'InvalidVpc.Range', status: 400 });
    }
    const vpc = (await consumer.send(new CreateVpcCommand({ CidrBlock: '10.10.0.0/24' }))).Vpc!.VpcId!;
    for (const cidr of ['10.10.0.0/29', '10.10.0.0/15', '10.10.1.0/24']) {
      expect(await refused(consumer.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: cidr }))), cidr).toMatchObject({ code: 'InvalidSubnet.Range', status: 400 });
    }
    expect((await refused(consumer.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.10.1.0/24' })))).message).toMatch(/^The CIDR '10\.10\.1\.0\/24' is invalid/);
    // overlapping another subnet stays InvalidSubnet.Conflict
    const subnet = (await consumer.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.10.0.0/25' }))).Subnet!.SubnetId!;
    expect(await refused(consumer.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.10.0.64/26' })))).toMatchObject({ code: 'InvalidSubnet.Conflict', status: 400 });
    const defaultGroup = (await consumer.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc] }, { Name: 'group-name', Values: ['default'] }] }))).SecurityGroups![0]!.GroupId!;
    expect(await refused(consumer.send(new DeleteSecurityGroupCommand({ GroupId: defaultGroup })))).toMatchObject({
      code: 'CannotDelete', status: 400, message: expect.stringContaining("You cannot delete the 'default' security group in your VPC, but you can change its rules"),
    });
    expect(await refused(consumer.send(new CreateSecurityGroupCommand({ VpcId: vpc, GroupName: 'default', Description: 'x' }))))
      .toMatchObject({ code: 'InvalidGroup.Reserved', status: 400, message: expect.stringContaining("'default' is reserved") });
    await consumer.send(new DeleteSubnetCommand({ SubnetId: subnet }));
    await consumer.send(new DeleteVpcCommand({ VpcId: vpc }));
  });

  it('DeleteSecurityGroup answers the group\'s GroupId, RevokeSecurityGroupIngress/Egress the RevokedSecurityGroupRules, as the EC2 model has them (were missing)', async () => {
    const vpc = (await consumer.send(new CreateVpcCommand({ CidrBlock: '172.24.0.0/16' }))).Vpc!.VpcId!;
    const sg = (await consumer.send(new CreateSecurityGroupCommand({ VpcId: vpc, GroupName: 'revoked', Description: 'x' }))).GroupId!;
    const added = (await consumer.send(new AuthorizeSecurityGroupIngressCommand({
      GroupId: sg, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 80, ToPort: 81, IpRanges: [{ CidrIp: '10.0.0.0/8', Description: 'web' }, { CidrIp: '10.1.0.0/16' }] }],
    }))).SecurityGroupRules!;
    const idOf = (cidr: string) => added.find((r) => r.CidrIpv4 === cidr)!.SecurityGroupRuleId!;
    // by what the rule matches: the rule as it was, with its id and description
    const bySpec = await consumer.send(new RevokeSecurityGroupIngressCommand({ GroupId: sg, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 80, ToPort: 81, IpRanges: [{ CidrIp: '10.0.0.0/8' }] }] }));
    expect(bySpec.Return).toBe(true);
    expect(bySpec.RevokedSecurityGroupRules).toEqual([{
      SecurityGroupRuleId: idOf('10.0.0.0/8'), GroupId: sg, IsEgress: false, IpProtocol: 'tcp', FromPort: 80, ToPort: 81, CidrIpv4: '10.0.0.0/8', Description: 'web',
    }]);
    // by id, in either direction
    const byId = await consumer.send(new RevokeSecurityGroupIngressCommand({ GroupId: sg, SecurityGroupRuleIds: [idOf('10.1.0.0/16')] }));
    expect(byId.RevokedSecurityGroupRules).toEqual([{ SecurityGroupRuleId: idOf('10.1.0.0/16'), GroupId: sg, IsEgress: false, IpProtocol: 'tcp', FromPort: 80, ToPort: 81, CidrIpv4: '10.1.0.0/16' }]);
    const egress = (await consumer.send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: [sg] }] }))).SecurityGroupRules!.find((r) => r.IsEgress)!;
    const out = await consumer.send(new RevokeSecurityGroupEgressCommand({ GroupId: sg, IpPermissions: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] }));
    expect(out.RevokedSecurityGroupRules).toEqual([{ SecurityGroupRuleId: egress.SecurityGroupRuleId, GroupId: sg, IsEgress: true, IpProtocol: '-1', FromPort: -1, ToPort: -1, CidrIpv4: '0.0.0.0/0' }]);
    // a default group's rule for its members names its group
    const defaultGroup = (await consumer.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc] }, { Name: 'group-name', Values: ['default'] }] }))).SecurityGroups![0]!.GroupId!;
    const members = await consumer.send(new RevokeSecurityGroupIngressCommand({ GroupId: defaultGroup, IpPermissions: [{ IpProtocol: '-1', UserIdGroupPairs: [{ GroupId: defaultGroup }] }] }));
    expect(members.RevokedSecurityGroupRules).toEqual([expect.objectContaining({ GroupId: defaultGroup, IsEgress: false, IpProtocol: '-1', ReferencedGroupId: defaultGroup })]);
    const deleted = await consumer.send(new DeleteSecurityGroupCommand({ GroupId: sg }));
    expect(deleted).toMatchObject({ Return: true, GroupId: sg });
    // by name too
    const named = (await consumer.send(new CreateSecurityGroupCommand({ VpcId: vpc, GroupName: 'by-name', Description: 'x' }))).GroupId!;
    expect((await consumer.send(new DeleteSecurityGroupCommand({ GroupName: 'by-name' }))).GroupId).toBe(named);
    await consumer.send(new DeleteVpcCommand({ VpcId: vpc }));
  });

  it('an account makes at most quotas.vpc VPCs (5, AWS\'s default): VpcLimitExceeded changes nothing, and another account still makes its own', async () => {
    const made: string[] = [];
    for (let i = 0; i < 5; i++) made.push((await consumer.send(new CreateVpcCommand({ CidrBlock: `172.30.${i}.0/24` }))).Vpc!.VpcId!);
    const before = (await consumer.send(new DescribeVpcsCommand({}))).Vpcs!.length;
    expect(await refused(consumer.send(new CreateVpcCommand({ CidrBlock: '172.30.9.0/24' })))).toMatchObject({ code: 'VpcLimitExceeded', status: 400 });
    expect((await consumer.send(new DescribeVpcsCommand({}))).Vpcs!.length).toBe(before);
    // the region's loopback numbers are left for the others
    const theirs = (await provider.send(new CreateVpcCommand({ CidrBlock: '172.31.0.0/24' }))).Vpc!.VpcId!;
    await provider.send(new DeleteVpcCommand({ VpcId: theirs }));
    // a slot freed is a slot again
    await consumer.send(new DeleteVpcCommand({ VpcId: made.pop() }));
    made.push((await consumer.send(new CreateVpcCommand({ CidrBlock: '172.30.9.0/24' }))).Vpc!.VpcId!);
    for (const id of made) await consumer.send(new DeleteVpcCommand({ VpcId: id }));
  });

  it('a deleted VPC\'s loopback number is retired, not handed to the next VPC (another account\'s): its 127.k addresses never land in another VPC', async () => {
    const numberOf = (id: string) => d.daemon.control.routing().vpcs.get(id)!.number;
    const mine = (await consumer.send(new CreateVpcCommand({ CidrBlock: '10.92.0.0/16' }))).Vpc!.VpcId!;
    const k = numberOf(mine);
    await consumer.send(new DeleteVpcCommand({ VpcId: mine }));
    const theirs = (await provider.send(new CreateVpcCommand({ CidrBlock: '10.93.0.0/16' }))).Vpc!.VpcId!;
    expect(numberOf(theirs)).toBeGreaterThan(k);
    const again = (await consumer.send(new CreateVpcCommand({ CidrBlock: '10.92.0.0/16' }))).Vpc!.VpcId!;
    expect(numberOf(again)).toBeGreaterThan(numberOf(theirs));
    await provider.send(new DeleteVpcCommand({ VpcId: theirs }));
    await consumer.send(new DeleteVpcCommand({ VpcId: again }));
  });

  it('CreateVpc with AmazonProvidedIpv6CidrBlock=false and CreateSubnet with Ipv6Native=false (Terraform sends them) ask for nothing; true is refused', async () => {
    expect(await refused(consumer.send(new CreateVpcCommand({ CidrBlock: '172.18.0.0/16', AmazonProvidedIpv6CidrBlock: true }))))
      .toMatchObject({ code: 'InvalidParameterValue', status: 400 });
    const vpc = (await consumer.send(new CreateVpcCommand({ CidrBlock: '172.18.0.0/16', AmazonProvidedIpv6CidrBlock: false }))).Vpc!;
    expect(vpc).toMatchObject({ CidrBlock: '172.18.0.0/16', State: 'available' });
    expect(await refused(consumer.send(new CreateSubnetCommand({ VpcId: vpc.VpcId, CidrBlock: '172.18.1.0/24', Ipv6Native: true }))))
      .toMatchObject({ code: 'InvalidParameterValue', status: 400 });
    expect((await consumer.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc.VpcId!] }] }))).Subnets).toEqual([]);
    const subnet = (await consumer.send(new CreateSubnetCommand({ VpcId: vpc.VpcId, CidrBlock: '172.18.1.0/24', Ipv6Native: false }))).Subnet!;
    expect(subnet).toMatchObject({ VpcId: vpc.VpcId, CidrBlock: '172.18.1.0/24' });
    await consumer.send(new DeleteSubnetCommand({ SubnetId: subnet.SubnetId }));
    await consumer.send(new DeleteVpcCommand({ VpcId: vpc.VpcId }));
  });

  it('revoking the default IPv6 egress rule of a new group, as Terraform\'s aws_security_group does, is InvalidPermission.NotFound (there is none)', async () => {
    const vpc = (await consumer.send(new CreateVpcCommand({ CidrBlock: '172.19.0.0/16' }))).Vpc!;
    const sg = await consumer.send(new CreateSecurityGroupCommand({ VpcId: vpc.VpcId, GroupName: 'tf', Description: 'as terraform' }));
    // Terraform's create: the IPv4 allow-all egress rule is revoked, then the IPv6 one, whose NotFound it ignores
    await consumer.send(new RevokeSecurityGroupEgressCommand({ GroupId: sg.GroupId, IpPermissions: [{ IpProtocol: '-1', FromPort: 0, ToPort: 0, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] }));
    const ipv6 = { IpProtocol: '-1', FromPort: 0, ToPort: 0, Ipv6Ranges: [{ CidrIpv6: '::/0' }] };
    expect(await refused(consumer.send(new RevokeSecurityGroupEgressCommand({ GroupId: sg.GroupId, IpPermissions: [ipv6] }))))
      .toMatchObject({ code: 'InvalidPermission.NotFound', status: 400 });
    expect(await refused(consumer.send(new RevokeSecurityGroupEgressCommand({ GroupId: 'sg-00000000000000000', IpPermissions: [ipv6] }))))
      .toMatchObject({ code: 'InvalidGroup.NotFound', status: 400 });
    // authorizing one is still refused as not simulated
    expect(await refused(consumer.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: sg.GroupId, IpPermissions: [ipv6] }))))
      .toMatchObject({ code: 'InvalidParameterValue', status: 400 });
    const [g] = (await consumer.send(new DescribeSecurityGroupsCommand({ GroupIds: [sg.GroupId!] }))).SecurityGroups!;
    expect(g!.IpPermissionsEgress ?? []).toEqual([]);
    expect(g!.IpPermissions ?? []).toEqual([]);
    await consumer.send(new DeleteSecurityGroupCommand({ GroupId: sg.GroupId }));
    await consumer.send(new DeleteVpcCommand({ VpcId: vpc.VpcId }));
  });

  it('security group rules have ids, as Terraform\'s rule resources need: Authorize answers them, DescribeSecurityGroupRules lists them, Revoke and Modify take them', async () => {
    const vpc = (await consumer.send(new CreateVpcCommand({ CidrBlock: '172.21.0.0/16' }))).Vpc!;
    const sg = await consumer.send(new CreateSecurityGroupCommand({ VpcId: vpc.VpcId, GroupName: 'rules', Description: 'rules' }));
    // aws_vpc_security_group_ingress_rule reads the new rule's id from the answer (the provider panicked on none)
    const added = await consumer.send(new AuthorizeSecurityGroupIngressCommand({
      GroupId: sg.GroupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 9620, ToPort: 9620, IpRanges: [{ CidrIp: '10.0.1.0/24', Description: 'first' }] }],
    }));
    expect(added.SecurityGroupRules).toEqual([expect.objectContaining({
      GroupId: sg.GroupId, IsEgress: false, IpProtocol: 'tcp', FromPort: 9620, ToPort: 9620, CidrIpv4: '10.0.1.0/24', Description: 'first', GroupOwnerId: KEYS.consumer.account_id,
    })]);
    const id = added.SecurityGroupRules![0]!.SecurityGroupRuleId!;
    expect(id).toMatch(/^sgr-[0-9a-f]{17}$/);
    // the description is the rule's: the group shows it too (an inline rule's description drifted before)
    const [g] = (await consumer.send(new DescribeSecurityGroupsCommand({ GroupIds: [sg.GroupId!] }))).SecurityGroups!;
    expect(g!.IpPermissions).toEqual([expect.objectContaining({ IpRanges: [{ CidrIp: '10.0.1.0/24', Description: 'first' }] })]);

    // aws_security_group_rule and the rule resources read the group's rules one by one; the default egress rule has an id too
    const rules = (await consumer.send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: [sg.GroupId!] }] }))).SecurityGroupRules!;
    expect(rules.map((r) => [r.IsEgress, r.IpProtocol, r.FromPort, r.ToPort, r.CidrIpv4]).sort()).toEqual([[false, 'tcp', 9620, 9620, '10.0.1.0/24'], [true, '-1', -1, -1, '0.0.0.0/0']]);
    const egressId = rules.find((r) => r.IsEgress)!.SecurityGroupRuleId!;
    expect(egressId).toMatch(/^sgr-[0-9a-f]{17}$/);
    expect((await consumer.send(new DescribeSecurityGroupRulesCommand({ SecurityGroupRuleIds: [egressId] }))).SecurityGroupRules!.map((r) => r.SecurityGroupRuleId)).toEqual([egressId]);
    expect(await refused(consumer.send(new DescribeSecurityGroupRulesCommand({ SecurityGroupRuleIds: ['sgr-00000000000000000'] }))))
      .toMatchObject({ code: 'InvalidSecurityGroupRuleId.NotFound', status: 400 });
    // another account sees none of them
    expect((await provider.send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: [sg.GroupId!] }] }))).SecurityGroupRules ?? []).toEqual([]);

    // an in-place change keeps the id (Terraform's update of aws_vpc_security_group_ingress_rule)
    await consumer.send(new ModifySecurityGroupRulesCommand({
      GroupId: sg.GroupId, SecurityGroupRules: [{ SecurityGroupRuleId: id, SecurityGroupRule: { IpProtocol: 'tcp', FromPort: 9630, ToPort: 9631, CidrIpv4: '10.0.2.0/24', Description: 'changed' } }],
    }));
    const [changed] = (await consumer.send(new DescribeSecurityGroupRulesCommand({ SecurityGroupRuleIds: [id] }))).SecurityGroupRules!;
    expect(changed).toMatchObject({ FromPort: 9630, ToPort: 9631, CidrIpv4: '10.0.2.0/24', Description: 'changed' });
    // aws_security_group_rule's description change, by what the rule matches
    await consumer.send(new UpdateSecurityGroupRuleDescriptionsIngressCommand({
      GroupId: sg.GroupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 9630, ToPort: 9631, IpRanges: [{ CidrIp: '10.0.2.0/24', Description: 'again' }] }],
    }));
    expect((await consumer.send(new DescribeSecurityGroupRulesCommand({ SecurityGroupRuleIds: [id] }))).SecurityGroupRules![0]).toMatchObject({ SecurityGroupRuleId: id, Description: 'again' });
    expect(await refused(consumer.send(new ModifySecurityGroupRulesCommand({
      GroupId: sg.GroupId, SecurityGroupRules: [{ SecurityGroupRuleId: 'sgr-00000000000000000', SecurityGroupRule: { IpProtocol: 'tcp', FromPort: 1, ToPort: 1, CidrIpv4: '10.0.0.0/8' } }],
    })))).toMatchObject({ code: 'InvalidSecurityGroupRuleId.NotFound', status: 400 });

    // revoked by id (the rule resources' delete); an ingress id given to RevokeSecurityGroupEgress is not found
    expect(await refused(consumer.send(new RevokeSecurityGroupEgressCommand({ GroupId: sg.GroupId, SecurityGroupRuleIds: [id] }))))
      .toMatchObject({ code: 'InvalidSecurityGroupRuleId.NotFound', status: 400 });
    await consumer.send(new RevokeSecurityGroupIngressCommand({ GroupId: sg.GroupId, SecurityGroupRuleIds: [id] }));
    await consumer.send(new RevokeSecurityGroupEgressCommand({ GroupId: sg.GroupId, SecurityGroupRuleIds: [egressId] }));
    expect((await consumer.send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: [sg.GroupId!] }] }))).SecurityGroupRules ?? []).toEqual([]);
    await consumer.send(new DeleteSecurityGroupCommand({ GroupId: sg.GroupId }));
    await consumer.send(new DeleteVpcCommand({ VpcId: vpc.VpcId }));
  });

  it('associations changed by calls at once: one succeeds, the others answer as they would one after it (each answered OK with an association id of which one was left: lost updates)', async () => {
    const outcome = (p: Promise<unknown>) => p.then(() => 'OK', (e: { name: string }) => e.name);
    const vpc = (await consumer.send(new CreateVpcCommand({ CidrBlock: '172.23.0.0/16' }))).Vpc!.VpcId!;
    const subnet = (await consumer.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '172.23.1.0/24' }))).Subnet!.SubnetId!;
    const tables: string[] = [];
    for (let i = 0; i < 4; i++) tables.push((await consumer.send(new CreateRouteTableCommand({ VpcId: vpc }))).RouteTable!.RouteTableId!);
    const associate = await Promise.all(tables.map((t) => outcome(consumer.send(new AssociateRouteTableCommand({ RouteTableId: t, SubnetId: subnet })))));
    expect(associate.filter((r) => r === 'OK'), associate.join(' ')).toHaveLength(1);
    expect(associate.filter((r) => r !== 'OK')).toEqual(Array(3).fill('Resource.AlreadyAssociated'));
    const associations = async () => (await consumer.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc] }] }))).RouteTables!
      .flatMap((t) => (t.Associations ?? []).filter((a) => a.SubnetId === subnet).map((a) => a.RouteTableAssociationId!));
    const [assoc] = await associations();
    // a replace and a disassociate of one association: one of them
    const both = await Promise.all([
      outcome(consumer.send(new ReplaceRouteTableAssociationCommand({ AssociationId: assoc, RouteTableId: tables.find((t) => !associate[tables.indexOf(t)]!.startsWith('O'))! }))),
      outcome(consumer.send(new DisassociateRouteTableCommand({ AssociationId: assoc }))),
    ]);
    expect(both.filter((r) => r === 'OK'), both.join(' ')).toHaveLength(1);
    expect(both.filter((r) => r !== 'OK')).toEqual(['InvalidAssociationID.NotFound']);
    const left = await associations();
    expect(left).toHaveLength(both[0] === 'OK' ? 1 : 0);
    if (left.length) {
      const gone = await Promise.all(Array.from({ length: 4 }, () => outcome(consumer.send(new DisassociateRouteTableCommand({ AssociationId: left[0] })))));
      expect(gone.filter((r) => r === 'OK'), gone.join(' ')).toHaveLength(1);
      expect(await associations()).toEqual([]);
    }
    // a subnet's network ACL association replaced three times at once: one
    const def = (await consumer.send(new DescribeNetworkAclsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc] }] }))).NetworkAcls![0]!;
    const aclAssoc = def.Associations!.find((a) => a.SubnetId === subnet)!.NetworkAclAssociationId!;
    const acls = [];
    for (let i = 0; i < 3; i++) acls.push((await consumer.send(new CreateNetworkAclCommand({ VpcId: vpc }))).NetworkAcl!.NetworkAclId!);
    const replaced = await Promise.all(acls.map((a) => outcome(consumer.send(new ReplaceNetworkAclAssociationCommand({ AssociationId: aclAssoc, NetworkAclId: a })))));
    expect(replaced.filter((r) => r === 'OK'), replaced.join(' ')).toHaveLength(1);
    expect(replaced.filter((r) => r !== 'OK')).toEqual(Array(2).fill('InvalidAssociationID.NotFound'));
    const now = (await consumer.send(new DescribeNetworkAclsCommand({ Filters: [{ Name: 'association.subnet-id', Values: [subnet] }] }))).NetworkAcls!;
    expect(now.map((a) => a.NetworkAclId)).toEqual([acls[replaced.indexOf('OK')]]);
    await consumer.send(new ReplaceNetworkAclAssociationCommand({ AssociationId: now[0]!.Associations![0]!.NetworkAclAssociationId, NetworkAclId: def.NetworkAclId }));
    for (const a of acls) await consumer.send(new DeleteNetworkAclCommand({ NetworkAclId: a }));
    await consumer.send(new DeleteSubnetCommand({ SubnetId: subnet }));
    for (const t of tables) await consumer.send(new DeleteRouteTableCommand({ RouteTableId: t }));
    await consumer.send(new DeleteVpcCommand({ VpcId: vpc }));
  });

  it('DeleteSubnet and DeleteVpc are DependencyViolation while a load balancer or target group is in them (both answered OK, leaving them in a deleted VPC and subnet), nothing changed', async () => {
    const elb = new ElasticLoadBalancingV2Client({
      region: REGION, endpoint: d.url, maxAttempts: 1, credentials: { accessKeyId: KEYS.consumer.access_key_id, secretAccessKey: KEYS.consumer.secret_access_key },
    });
    cleanups.push(async () => elb.destroy());
    const vpc = (await consumer.send(new CreateVpcCommand({ CidrBlock: '10.70.0.0/16' }))).Vpc!.VpcId!;
    const subnet = (await consumer.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.70.1.0/24' }))).Subnet!.SubnetId!;
    const lb = (await elb.send(new CreateLoadBalancerCommand({ Name: 'n3', Type: 'network', Scheme: 'internal', Subnets: [subnet] }))).LoadBalancers![0]!.LoadBalancerArn!;
    const tg = (await elb.send(new CreateTargetGroupCommand({ Name: 't3', Protocol: 'TCP', Port: 80, VpcId: vpc, TargetType: 'ip' }))).TargetGroups![0]!.TargetGroupArn!;
    const listener = (await elb.send(new CreateListenerCommand({
      LoadBalancerArn: lb, Protocol: 'TCP', Port: 80, DefaultActions: [{ Type: 'forward', TargetGroupArn: tg }],
    }))).Listeners![0]!.ListenerArn!;
    const subnetRefused = await refused(consumer.send(new DeleteSubnetCommand({ SubnetId: subnet })));
    expect(subnetRefused).toMatchObject({ code: 'DependencyViolation', status: 400 });
    expect(subnetRefused.message).toContain('load balancers n3');
    // the VPC names each dependent: its subnet, the load balancer and the target group
    const vpcRefused = await refused(consumer.send(new DeleteVpcCommand({ VpcId: vpc })));
    expect(vpcRefused).toMatchObject({ code: 'DependencyViolation', status: 400 });
    expect(vpcRefused.message).toMatch(/subnets .*load balancers n3; target groups t3/);
    expect((await consumer.send(new DescribeSubnetsCommand({ SubnetIds: [subnet] }))).Subnets!.map((s) => s.VpcId)).toEqual([vpc]);
    expect((await elb.send(new DescribeLoadBalancersCommand({ LoadBalancerArns: [lb] }))).LoadBalancers![0]).toMatchObject({ VpcId: vpc, State: { Code: 'active' } });

    // the load balancer gone, the subnet goes; the target group still holds the VPC
    await elb.send(new DeleteListenerCommand({ ListenerArn: listener }));
    await elb.send(new DeleteLoadBalancerCommand({ LoadBalancerArn: lb }));
    await consumer.send(new DeleteSubnetCommand({ SubnetId: subnet }));
    expect((await refused(consumer.send(new DeleteVpcCommand({ VpcId: vpc })))).message).toMatch(/: target groups t3$/);
    await elb.send(new DeleteTargetGroupCommand({ TargetGroupArn: tg }));
    await consumer.send(new DeleteVpcCommand({ VpcId: vpc }));
  });

  it('every change to a config VPC\'s default group is UnauthorizedOperation (403), worded as its default ACL\'s, nothing changed (it was InvalidGroup.NotFound, which Terraform reads as "gone")', async () => {
    const describe = async () => (await consumer.send(new DescribeSecurityGroupsCommand({
      Filters: [{ Name: 'vpc-id', Values: ['vpc-client'] }, { Name: 'group-name', Values: ['default'] }],
    }))).SecurityGroups!;
    const [group] = await describe();
    const id = group!.GroupId!;
    const rules = (await consumer.send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: [id] }] }))).SecurityGroupRules!;
    const members = rules.find((r) => !r.IsEgress)!.SecurityGroupRuleId!;
    const egress = rules.find((r) => r.IsEgress)!.SecurityGroupRuleId!;
    const permission = [{ IpProtocol: 'tcp', FromPort: 80, ToPort: 80, IpRanges: [{ CidrIp: '10.0.0.0/8' }] }];
    const calls = [
      new AuthorizeSecurityGroupIngressCommand({ GroupId: id, IpPermissions: permission }),
      new AuthorizeSecurityGroupEgressCommand({ GroupId: id, IpPermissions: permission }),
      new RevokeSecurityGroupIngressCommand({ GroupId: id, SecurityGroupRuleIds: [members] }),
      new RevokeSecurityGroupIngressCommand({ GroupId: id, IpPermissions: [{ IpProtocol: '-1', UserIdGroupPairs: [{ GroupId: id }] }] }),
      new RevokeSecurityGroupEgressCommand({ GroupId: id, SecurityGroupRuleIds: [egress] }),
      new DeleteSecurityGroupCommand({ GroupId: id }),
      new ModifySecurityGroupRulesCommand({ GroupId: id, SecurityGroupRules: [{ SecurityGroupRuleId: egress, SecurityGroupRule: { IpProtocol: '-1', CidrIpv4: '10.0.0.0/8' } }] }),
      new UpdateSecurityGroupRuleDescriptionsEgressCommand({ GroupId: id, IpPermissions: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'x' }] }] }),
    ];
    for (const call of calls) {
      expect(await refused(consumer.send(call as Parameters<EC2Client['send']>[0])), call.constructor.name).toEqual({
        code: 'UnauthorizedOperation', status: 403,
        message: 'VPC vpc-client is declared in the config file: its default security group is the config\'s there (only VPCs made through the API change through it)',
      });
    }
    expect(await refused(consumer.send(new DeleteSecurityGroupCommand({ GroupName: 'default' })))).toMatchObject({ code: 'UnauthorizedOperation', status: 403 });
    expect(await describe()).toEqual([group]);
  });

  it('AssociateRouteTable with a table that does not exist is InvalidRouteTableID.NotFound on a subnet associated already too (it was Resource.AlreadyAssociated naming the other table)', async () => {
    const vpc = (await consumer.send(new CreateVpcCommand({ CidrBlock: '172.24.0.0/16' }))).Vpc!.VpcId!;
    const subnet = (await consumer.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '172.24.1.0/24' }))).Subnet!.SubnetId!;
    const table = (await consumer.send(new CreateRouteTableCommand({ VpcId: vpc }))).RouteTable!.RouteTableId!;
    const missing = 'rtb-0123456789abcdef0';
    expect(await refused(consumer.send(new AssociateRouteTableCommand({ RouteTableId: missing, SubnetId: subnet })))).toMatchObject({ code: 'InvalidRouteTableID.NotFound', status: 400 });
    const assoc = (await consumer.send(new AssociateRouteTableCommand({ RouteTableId: table, SubnetId: subnet }))).AssociationId!;
    expect(await refused(consumer.send(new AssociateRouteTableCommand({ RouteTableId: missing, SubnetId: subnet })))).toMatchObject({ code: 'InvalidRouteTableID.NotFound', status: 400 });
    await consumer.send(new DisassociateRouteTableCommand({ AssociationId: assoc }));
    await consumer.send(new DeleteSubnetCommand({ SubnetId: subnet }));
    await consumer.send(new DeleteRouteTableCommand({ RouteTableId: table }));
    await consumer.send(new DeleteVpcCommand({ VpcId: vpc }));
  });

  it('a security group rule carries its own tags (Terraform\'s rule resources with tags or default_tags: they were dropped, a change after every apply): TagSpecification at Authorize, CreateTags and DeleteTags on its id, DescribeTags, kept by Modify', async () => {
    const vpc = (await consumer.send(new CreateVpcCommand({ CidrBlock: '172.22.0.0/16' }))).Vpc!;
    const sg = await consumer.send(new CreateSecurityGroupCommand({ VpcId: vpc.VpcId, GroupName: 'tagged-rules', Description: 'tagged rules' }));
    const added = await consumer.send(new AuthorizeSecurityGroupIngressCommand({
      GroupId: sg.GroupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '10.0.0.0/16' }] }],
      TagSpecifications: [{ ResourceType: 'security-group-rule', Tags: [{ Key: 'Name', Value: 'https' }] }],
    }));
    const id = added.SecurityGroupRules![0]!.SecurityGroupRuleId!;
    expect(added.SecurityGroupRules![0]!.Tags).toEqual([{ Key: 'Name', Value: 'https' }]);
    const read = async () => (await consumer.send(new DescribeSecurityGroupRulesCommand({ SecurityGroupRuleIds: [id] }))).SecurityGroupRules![0]!.Tags;
    expect(await read()).toEqual([{ Key: 'Name', Value: 'https' }]);
    await consumer.send(new CreateTagsCommand({ Resources: [id], Tags: [{ Key: 'team', Value: 'net' }] }));
    expect(await read()).toEqual([{ Key: 'Name', Value: 'https' }, { Key: 'team', Value: 'net' }]);
    const described = (await consumer.send(new DescribeTagsCommand({ Filters: [{ Name: 'resource-id', Values: [id] }] }))).Tags!;
    expect(described.map((t) => [t.ResourceType, t.Key, t.Value])).toEqual([['security-group-rule', 'Name', 'https'], ['security-group-rule', 'team', 'net']]);
    expect((await consumer.send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'tag:team', Values: ['net'] }] }))).SecurityGroupRules!.map((r) => r.SecurityGroupRuleId)).toEqual([id]);
    await consumer.send(new ModifySecurityGroupRulesCommand({
      GroupId: sg.GroupId, SecurityGroupRules: [{ SecurityGroupRuleId: id, SecurityGroupRule: { IpProtocol: 'tcp', FromPort: 8443, ToPort: 8443, CidrIpv4: '10.0.0.0/16' } }],
    }));
    expect(await read()).toEqual([{ Key: 'Name', Value: 'https' }, { Key: 'team', Value: 'net' }]);
    await consumer.send(new DeleteTagsCommand({ Resources: [id], Tags: [{ Key: 'Name' }] }));
    expect(await read()).toEqual([{ Key: 'team', Value: 'net' }]);
    // the group's own allow-all egress rule (an id derived from what it matches) keeps no tags: said so, not "does not exist"
    const egress = (await consumer.send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: [sg.GroupId!] }] }))).SecurityGroupRules!.find((r) => r.IsEgress)!;
    const onDerived = await refused(consumer.send(new CreateTagsCommand({ Resources: [egress.SecurityGroupRuleId!], Tags: [{ Key: 'x', Value: 'y' }] })));
    expect(onDerived).toMatchObject({ code: 'InvalidParameterValue', status: 400, message: expect.stringContaining('keeps no tags on it') });
    // another account's rule, an unknown one: not found; another resource type in the specification: refused
    expect(await refused(provider.send(new CreateTagsCommand({ Resources: [id], Tags: [{ Key: 'x', Value: 'y' }] })))).toMatchObject({ code: 'InvalidSecurityGroupRuleId.NotFound', status: 400 });
    expect(await refused(consumer.send(new CreateTagsCommand({ Resources: ['sgr-00000000000000000'], Tags: [{ Key: 'x', Value: 'y' }] })))).toMatchObject({ code: 'InvalidSecurityGroupRuleId.NotFound', status: 400 });
    expect(await refused(consumer.send(new AuthorizeSecurityGroupIngressCommand({
      GroupId: sg.GroupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 80, ToPort: 80, IpRanges: [{ CidrIp: '10.0.0.0/16' }] }],
      TagSpecifications: [{ ResourceType: 'security-group', Tags: [{ Key: 'a', Value: 'b' }] }],
    })))).toMatchObject({ code: 'InvalidParameterValue', status: 400 });
    await consumer.send(new RevokeSecurityGroupIngressCommand({ GroupId: sg.GroupId, SecurityGroupRuleIds: [id] }));
    await consumer.send(new DeleteSecurityGroupCommand({ GroupId: sg.GroupId }));
    await consumer.send(new DeleteVpcCommand({ VpcId: vpc.VpcId }));
  });

  it('DescribeSubnets takes the older camelCase filter names Terraform\'s data "aws_subnet" sends (availabilityZone, cidrBlock, defaultForAz)', async () => {
    const vpc = (await consumer.send(new CreateVpcCommand({ CidrBlock: '172.22.0.0/16' }))).Vpc!;
    const a = (await consumer.send(new CreateSubnetCommand({ VpcId: vpc.VpcId, CidrBlock: '172.22.1.0/24', AvailabilityZone: `${REGION}a` }))).Subnet!;
    const b = (await consumer.send(new CreateSubnetCommand({ VpcId: vpc.VpcId, CidrBlock: '172.22.2.0/24', AvailabilityZone: `${REGION}b` }))).Subnet!;
    const ids = async (filters: Array<{ Name: string; Values: string[] }>) => (await consumer.send(new DescribeSubnetsCommand({ Filters: filters }))).Subnets!.map((s) => s.SubnetId);
    expect(await ids([{ Name: 'vpc-id', Values: [vpc.VpcId!] }, { Name: 'availabilityZone', Values: [`${REGION}b`] }])).toEqual([b.SubnetId]);
    expect(await ids([{ Name: 'availabilityZoneId', Values: ['use1-az1'] }, { Name: 'vpc-id', Values: [vpc.VpcId!] }])).toEqual([a.SubnetId]);
    expect(await ids([{ Name: 'cidrBlock', Values: ['172.22.1.0/24'] }])).toEqual([a.SubnetId]);
    expect(await ids([{ Name: 'defaultForAz', Values: ['true'] }])).toEqual([]);
    expect(await ids([{ Name: 'subnet-arn', Values: [b.SubnetArn!] }])).toEqual([b.SubnetId]);
    await consumer.send(new DeleteSubnetCommand({ SubnetId: a.SubnetId }));
    await consumer.send(new DeleteSubnetCommand({ SubnetId: b.SubnetId }));
    await consumer.send(new DeleteVpcCommand({ VpcId: vpc.VpcId }));
  });

  it('takes the filters EC2 documents that a script reaches for: a subnet\'s available-ip-address-count, a group\'s ip-permission ports and protocol, a VPC\'s CIDR association (were InvalidParameterValue)', async () => {
    const vpc = (await consumer.send(new CreateVpcCommand({ CidrBlock: '172.23.0.0/16' }))).Vpc!;
    const a = (await consumer.send(new CreateSubnetCommand({ VpcId: vpc.VpcId, CidrBlock: '172.23.1.0/24' }))).Subnet!;
    const b = (await consumer.send(new CreateSubnetCommand({ VpcId: vpc.VpcId, CidrBlock: '172.23.2.0/28' }))).Subnet!;
    const inVpc = { Name: 'vpc-id', Values: [vpc.VpcId!] };
    const subnets = async (Name: string, Values: string[]) => (await consumer.send(new DescribeSubnetsCommand({ Filters: [inVpc, { Name, Values }] }))).Subnets!.map((s) => s.SubnetId);
    // a /28 has 16 addresses, less AWS's five reserved ones
    expect(await subnets('available-ip-address-count', ['11'])).toEqual([b.SubnetId]);
    expect(await subnets('available-ip-address-count', ['251'])).toEqual([a.SubnetId]);
    expect((await subnets('map-public-ip-on-launch', ['false'])).sort()).toEqual([a.SubnetId, b.SubnetId].sort());
    const sg = await consumer.send(new CreateSecurityGroupCommand({ VpcId: vpc.VpcId, GroupName: 'web', Description: 'web servers' }));
    await consumer.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: sg.GroupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '10.0.0.0/8' }] }] }));
    const groups = async (Name: string, Values: string[]) => (await consumer.send(new DescribeSecurityGroupsCommand({ Filters: [inVpc, { Name, Values }] }))).SecurityGroups!.map((g) => g.GroupName).sort();
    expect(await groups('ip-permission.from-port', ['443'])).toEqual(['web']);
    expect(await groups('ip-permission.to-port', ['443'])).toEqual(['web']);
    expect(await groups('ip-permission.protocol', ['tcp'])).toEqual(['web']);
    // the default group's rule: all traffic from its members
    expect(await groups('ip-permission.protocol', ['-1'])).toEqual(['default']);
    expect(await groups('egress.ip-permission.protocol', ['-1'])).toEqual(['default', 'web']);
    const vpcs = async (Name: string, Values: string[]) => (await consumer.send(new DescribeVpcsCommand({ Filters: [{ Name, Values }] }))).Vpcs!.map((v) => v.VpcId);
    expect(await vpcs('cidr-block-association.association-id', [vpc.CidrBlockAssociationSet![0]!.AssociationId!])).toEqual([vpc.VpcId]);
    expect(await vpcs('cidr-block-association.state', ['associated'])).toContain(vpc.VpcId);
    await consumer.send(new DeleteSecurityGroupCommand({ GroupId: sg.GroupId }));
    await consumer.send(new DeleteSubnetCommand({ SubnetId: a.SubnetId }));
    await consumer.send(new DeleteSubnetCommand({ SubnetId: b.SubnetId }));
    await consumer.send(new DeleteVpcCommand({ VpcId: vpc.VpcId }));
  });

  it('tags VPCs, subnets, route tables and security groups (Terraform\'s tag updates): CreateTags, DeleteTags, DescribeTags, kept across the API', async () => {
    const vpc = (await consumer.send(new CreateVpcCommand({ CidrBlock: '172.21.0.0/16', TagSpecifications: [{ ResourceType: 'vpc', Tags: [{ Key: 'Name', Value: 'v1' }] }] }))).Vpc!;
    const subnet = (await consumer.send(new CreateSubnetCommand({ VpcId: vpc.VpcId, CidrBlock: '172.21.1.0/24' }))).Subnet!;
    const table = (await consumer.send(new CreateRouteTableCommand({ VpcId: vpc.VpcId }))).RouteTable!;
    const sg = await consumer.send(new CreateSecurityGroupCommand({ VpcId: vpc.VpcId, GroupName: 'tagged', Description: 'tags' }));
    const defaultGroup = (await consumer.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc.VpcId!] }, { Name: 'group-name', Values: ['default'] }] }))).SecurityGroups![0]!;
    const ids = [vpc.VpcId!, subnet.SubnetId!, table.RouteTableId!, sg.GroupId!, defaultGroup.GroupId!];
    await consumer.send(new CreateTagsCommand({ Resources: ids, Tags: [{ Key: 'env', Value: 'test' }] }));
    const tagsOf = async (id: string) => (await consumer.send(new DescribeTagsCommand({ Filters: [{ Name: 'resource-id', Values: [id] }] }))).Tags!
      .map((t) => [t.ResourceType, t.Key, t.Value]);
    expect(await tagsOf(vpc.VpcId!)).toEqual([['vpc', 'Name', 'v1'], ['vpc', 'env', 'test']]);
    expect(await tagsOf(subnet.SubnetId!)).toEqual([['subnet', 'env', 'test']]);
    expect(await tagsOf(table.RouteTableId!)).toEqual([['route-table', 'env', 'test']]);
    expect(await tagsOf(sg.GroupId!)).toEqual([['security-group', 'env', 'test']]);
    expect(await tagsOf(defaultGroup.GroupId!)).toEqual([['security-group', 'env', 'test']]);
    // the Describe of each shows them
    expect((await consumer.send(new DescribeVpcsCommand({ VpcIds: [vpc.VpcId!] }))).Vpcs![0]!.Tags).toEqual([{ Key: 'Name', Value: 'v1' }, { Key: 'env', Value: 'test' }]);
    expect((await consumer.send(new DescribeSubnetsCommand({ SubnetIds: [subnet.SubnetId!] }))).Subnets![0]!.Tags).toEqual([{ Key: 'env', Value: 'test' }]);
    expect((await consumer.send(new DescribeRouteTablesCommand({ RouteTableIds: [table.RouteTableId!] }))).RouteTables![0]!.Tags).toEqual([{ Key: 'env', Value: 'test' }]);
    expect((await consumer.send(new DescribeSecurityGroupsCommand({ GroupIds: [sg.GroupId!] }))).SecurityGroups![0]!.Tags).toEqual([{ Key: 'env', Value: 'test' }]);
    expect((await consumer.send(new DescribeTagsCommand({ Filters: [{ Name: 'resource-type', Values: ['subnet'] }, { Name: 'key', Values: ['env'] }] }))).Tags!.map((t) => t.ResourceId))
      .toEqual([subnet.SubnetId]);
    await consumer.send(new DeleteTagsCommand({ Resources: ids, Tags: [{ Key: 'env' }] }));
    expect(await tagsOf(vpc.VpcId!)).toEqual([['vpc', 'Name', 'v1']]);
    for (const id of ids.slice(1)) expect(await tagsOf(id)).toEqual([]);
    // another account's, an unknown id: its NotFound, nothing changed
    expect(await refused(provider.send(new CreateTagsCommand({ Resources: [vpc.VpcId!], Tags: [{ Key: 'x', Value: 'y' }] })))).toMatchObject({ code: 'InvalidVpcID.NotFound', status: 400 });
    expect(await refused(consumer.send(new CreateTagsCommand({ Resources: [vpc.VpcId!, 'subnet-00000000000000000'], Tags: [{ Key: 'x', Value: 'y' }] }))))
      .toMatchObject({ code: 'InvalidSubnetID.NotFound', status: 400 });
    expect(await tagsOf(vpc.VpcId!)).toEqual([['vpc', 'Name', 'v1']]);
    // a config VPC's are the config's
    expect(await refused(consumer.send(new CreateTagsCommand({ Resources: ['vpc-client'], Tags: [{ Key: 'x', Value: 'y' }] })))).toMatchObject({ code: 'UnauthorizedOperation', status: 403 });
    expect(await refused(consumer.send(new CreateTagsCommand({ Resources: ['subnet-a'], Tags: [{ Key: 'x', Value: 'y' }] })))).toMatchObject({ code: 'UnauthorizedOperation', status: 403 });
    // one of them a config VPC's, after the caller's own: all or nothing (the own ones were tagged, then the error)
    expect(await refused(consumer.send(new CreateTagsCommand({ Resources: [vpc.VpcId!, subnet.SubnetId!, 'vpc-client'], Tags: [{ Key: 'x', Value: 'y' }] }))))
      .toMatchObject({ code: 'UnauthorizedOperation', status: 403 });
    expect([await tagsOf(vpc.VpcId!), await tagsOf(subnet.SubnetId!)]).toEqual([[['vpc', 'Name', 'v1']], []]);
    await consumer.send(new CreateTagsCommand({ Resources: [vpc.VpcId!], Tags: [{ Key: 'kept', Value: '1' }] }));
    expect(await refused(consumer.send(new DeleteTagsCommand({ Resources: [vpc.VpcId!, 'subnet-a'], Tags: [{ Key: 'kept' }] })))).toMatchObject({ code: 'UnauthorizedOperation', status: 403 });
    expect(await refused(consumer.send(new DeleteTagsCommand({ Resources: [vpc.VpcId!, 'vpc-client'] })))).toMatchObject({ code: 'UnauthorizedOperation', status: 403 });
    expect(await tagsOf(vpc.VpcId!)).toEqual([['vpc', 'Name', 'v1'], ['vpc', 'kept', '1']]);
    await consumer.send(new DeleteTagsCommand({ Resources: [vpc.VpcId!], Tags: [{ Key: 'kept' }] }));
    const configDefault = (await consumer.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'vpc-id', Values: ['vpc-client'] }, { Name: 'group-name', Values: ['default'] }] }))).SecurityGroups![0]!;
    expect(await refused(consumer.send(new CreateTagsCommand({ Resources: [configDefault.GroupId!], Tags: [{ Key: 'x', Value: 'y' }] })))).toMatchObject({ code: 'UnauthorizedOperation', status: 403 });
    await consumer.send(new DeleteSecurityGroupCommand({ GroupId: sg.GroupId }));
    await consumer.send(new DeleteRouteTableCommand({ RouteTableId: table.RouteTableId }));
    await consumer.send(new DeleteSubnetCommand({ SubnetId: subnet.SubnetId }));
    await consumer.send(new DeleteVpcCommand({ VpcId: vpc.VpcId }));
  });
});

describe('an endpoint in a VPC and subnet made through the API, in real vpcepd processes', () => {
  let backend: TestBackend;
  const children: ChildDaemon[] = [];

  beforeAll(async () => { backend = await startBackend(echo); });
  afterAll(async () => {
    for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGTERM');
    await Promise.all(children.map((c) => c.exited));
    await backend?.close();
  });

  it('relays real bytes, isolated from other VPCs, skips AWS\'s reserved addresses, and survives a restart', async () => {
    const dir = tempDir();
    // on_premises deny: a client the data plane does not know as one of a VPC's is refused, so the
    // relay below shows the data plane learned the VPC made at runtime (its number and CIDR)
    const file = writeConfig(dir, { ...config(), dataplane: { on_premises: 'deny' } });
    const start = async () => {
      const c = await spawnDaemon(['--config', file, '--data-dir', path.join(dir, 'data')]);
      children.push(c);
      return c;
    };
    const stop = async (c: ChildDaemon) => {
      c.proc.kill('SIGTERM');
      expect((await c.exited).code, c.output()).toBe(0);
    };
    const port = randomPort();
    let first = await start();
    const huawei = new ApiClient(first.url, PROVIDER.token, PROVIDER.project_id);
    const svc = await huawei.post('/vpc-endpoint-services', { ...SERVICE_BODY, approval_enabled: false, ports: [{ client_port: port, server_port: backend.port, protocol: 'TCP' }] });
    expect(svc.status, JSON.stringify(svc.body)).toBe(200);
    await waitFor(async () => (await huawei.get(`/vpc-endpoint-services/${svc.body.id}`)).body.status === 'available', 5_000, 'service available');
    let provider = client(first.url, KEYS.provider);
    await provider.send(new ModifyVpcEndpointServicePermissionsCommand({ ServiceId: svc.body.id, AddAllowedPrincipals: [`arn:aws:iam::${KEYS.consumer.account_id}:root`] }));
    provider.destroy();

    let consumer = client(first.url, KEYS.consumer);
    const vpc = (await consumer.send(new CreateVpcCommand({ CidrBlock: '10.77.0.0/16' }))).Vpc!;
    const subnet = (await consumer.send(new CreateSubnetCommand({ VpcId: vpc.VpcId, CidrBlock: '10.77.5.0/28' }))).Subnet!;
    const sg = await consumer.send(new CreateSecurityGroupCommand({ VpcId: vpc.VpcId, GroupName: 'kept', Description: 'survives restarts' }));
    // AWS reserves 10.77.5.0-3: asking for one of them is refused
    expect(await refused(consumer.send(new CreateVpcEndpointCommand({
      VpcEndpointType: 'Interface', VpcId: vpc.VpcId, ServiceName: `com.amazonaws.vpce.${REGION}.${svc.body.id}`,
      SubnetConfigurations: [{ SubnetId: subnet.SubnetId, Ipv4: '10.77.5.2' }],
    })))).toMatchObject({ code: 'InvalidParameterValue', status: 400 });
    const made = (await consumer.send(new CreateVpcEndpointCommand({
      VpcEndpointType: 'Interface', VpcId: vpc.VpcId, ServiceName: `com.amazonaws.vpce.${REGION}.${svc.body.id}`, SubnetIds: [subnet.SubnetId!],
    }))).VpcEndpoint!;
    await waitFor(async () => (await consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [made.VpcEndpointId!] }))).VpcEndpoints![0]!.State as string === 'available', 5_000, 'available');
    const ip = (await consumer.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: made.NetworkInterfaceIds }))).NetworkInterfaces![0]!.PrivateIpAddress!;
    expect(ip).toBe('10.77.5.4');
    // EC2's ENI filters on what an endpoint's ENI has (requester-id, addresses.primary, its zone's id) match it; on what it has not (an attachment, a MAC), none
    const eniIds = async (Name: string, Values: string[]) => (await consumer.send(new DescribeNetworkInterfacesCommand({
      Filters: [{ Name: 'network-interface-id', Values: made.NetworkInterfaceIds! }, { Name, Values }],
    }))).NetworkInterfaces!.map((n) => n.NetworkInterfaceId);
    const zoneId = (await consumer.send(new DescribeSubnetsCommand({ SubnetIds: [subnet.SubnetId!] }))).Subnets![0]!.AvailabilityZoneId!;
    for (const [name, value] of [['requester-id', 'amazon-aws'], ['addresses.primary', 'true'], ['availability-zone-id', zoneId]] as const) {
      expect(await eniIds(name, [value]), name).toEqual(made.NetworkInterfaceIds);
    }
    for (const name of ['attachment.status', 'mac-address', 'private-dns-name']) expect(await eniIds(name, ['*']), name).toEqual([]);
    expect(await refused(consumer.send(new DeleteVpcCommand({ VpcId: vpc.VpcId })))).toMatchObject({ code: 'DependencyViolation', status: 400 });
    expect(await refused(consumer.send(new DeleteSubnetCommand({ SubnetId: subnet.SubnetId })))).toMatchObject({ code: 'DependencyViolation', status: 400 });
    consumer.destroy();

    // the VPC's number: the config has three VPCs (1-3), so the API's first is the fourth
    const k = 4;
    const host = hostAddress(k, ipToInt(ip));
    expect(await attempt(host, port, `127.${k}.5.9`)).toBe('relay');
    // a client of another VPC (the config's first) reaches nothing there
    expect(await attempt(host, port, '127.1.24.9')).not.toBe('relay');

    // Security groups decide per connection: only 10.77.5.0/29 to the port, counted and traced
    const narrow = await consumer.send(new CreateSecurityGroupCommand({ VpcId: vpc.VpcId, GroupName: 'narrow', Description: 'a few clients' }));
    await consumer.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: narrow.GroupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: port, ToPort: port, IpRanges: [{ CidrIp: '10.77.5.0/29' }] }] }));
    const defaultGroup = made.Groups![0]!.GroupId!;
    expect(made.Groups).toEqual([{ GroupId: defaultGroup, GroupName: 'default' }]);
    await consumer.send(new ModifyVpcEndpointCommand({ VpcEndpointId: made.VpcEndpointId, AddSecurityGroupIds: [narrow.GroupId!], RemoveSecurityGroupIds: [defaultGroup] }));
    expect((await consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [made.VpcEndpointId!] }))).VpcEndpoints![0]!.Groups)
      .toEqual([{ GroupId: narrow.GroupId, GroupName: 'narrow' }]);
    const refusedBefore = (await metricValue(first.url, 'vpcep_endpoint_rejected_connections_total', { endpoint_id: made.VpcEndpointId!, reason: 'security_group' })) ?? 0;
    expect(await attempt(host, port, `127.${k}.5.9`)).toBe('ECONNRESET');
    expect(await attempt(host, port, `127.${k}.5.5`)).toBe('relay');
    expect(await metricValue(first.url, 'vpcep_endpoint_rejected_connections_total', { endpoint_id: made.VpcEndpointId!, reason: 'security_group' })).toBe(refusedBefore + 1);
    const tracer = new ApiClient(first.url, CONSUMER.token, CONSUMER.project_id);
    const traced = (await tracer.post('/trace', { vpc_id: vpc.VpcId, source_ip: '10.77.5.9', destination_ip: ip, destination_port: port })).body.trace;
    expect(traced).toMatchObject({ outcome: 'reset', refusal: 'security_group', security_group: { enforced: true, matched: null, rules: [`tcp ${port} from 10.77.5.0/29`] } });
    expect(await refused(consumer.send(new DeleteSecurityGroupCommand({ GroupId: narrow.GroupId })))).toMatchObject({ code: 'DependencyViolation', status: 400 });

    await stop(first);
    first = await start();
    consumer = client(first.url, KEYS.consumer);
    expect((await consumer.send(new DescribeVpcsCommand({ VpcIds: [vpc.VpcId!] }))).Vpcs![0]).toMatchObject({ CidrBlock: '10.77.0.0/16' });
    expect((await consumer.send(new DescribeSubnetsCommand({ SubnetIds: [subnet.SubnetId!] }))).Subnets![0]).toMatchObject({ CidrBlock: '10.77.5.0/28' });
    expect((await consumer.send(new DescribeSecurityGroupsCommand({ GroupIds: [sg.GroupId!] }))).SecurityGroups![0]).toMatchObject({ GroupName: 'kept' });
    await waitFor(async () => (await consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [made.VpcEndpointId!] }))).VpcEndpoints![0]!.State as string === 'available', 5_000, 'available again');
    await waitFor(async () => (await attempt(host, port, `127.${k}.5.5`)) === 'relay', 5_000, 'relays after the restart');
    // the group and its rule survive too: still enforced
    expect(await attempt(host, port, `127.${k}.5.9`)).toBe('ECONNRESET');
    expect(await attempt(host, port, '127.1.24.9')).not.toBe('relay');
    const second = (await consumer.send(new CreateVpcCommand({ CidrBlock: '10.78.0.0/16' }))).Vpc!;

    await consumer.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [made.VpcEndpointId!] }));
    await waitFor(async () => ((await consumer.send(new DescribeVpcEndpointsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc.VpcId!] }] }))).VpcEndpoints ?? []).length === 0, 5_000, 'endpoint gone');
    await consumer.send(new DeleteSecurityGroupCommand({ GroupId: sg.GroupId }));
    await consumer.send(new DeleteSecurityGroupCommand({ GroupId: narrow.GroupId }));
    await consumer.send(new DeleteSubnetCommand({ SubnetId: subnet.SubnetId }));
    await consumer.send(new DeleteVpcCommand({ VpcId: vpc.VpcId }));
    await consumer.send(new DeleteVpcCommand({ VpcId: second.VpcId }));
    expect((await consumer.send(new DescribeVpcsCommand({}))).Vpcs!.map((v) => v.VpcId)).toEqual(['vpc-client']);
    consumer.destroy();
    await stop(first);
  });
});

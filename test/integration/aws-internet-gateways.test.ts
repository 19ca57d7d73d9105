// What a platform engineer's ordinary Terraform network around PrivateLink needs beyond the
// endpoints, with @aws-sdk/client-ec2 over real HTTP against a real daemon, signatures verified:
// internet gateways as stored resources (aws_internet_gateway, an aws_route to one), a subnet's
// MapPublicIpOnLaunch (aws_subnet's map_public_ip_on_launch) and a default security group whose
// "all traffic from its members" rule is revoked and authorized again (aws_default_security_group),
// enforced on the endpoints using it.
// Every refusal is AWS's code and changes nothing; another account sees none of it; a restart keeps it.
import {
  AttachInternetGatewayCommand, AuthorizeSecurityGroupIngressCommand, CreateInternetGatewayCommand, CreateRouteCommand, CreateRouteTableCommand,
  CreateSecurityGroupCommand, CreateSubnetCommand, CreateTagsCommand, CreateVpcCommand, DeleteInternetGatewayCommand, DeleteRouteCommand, DeleteRouteTableCommand,
  CreateVpcEndpointCommand, DeleteSecurityGroupCommand, DeleteSubnetCommand, DeleteVpcCommand, DeleteVpcEndpointsCommand, DescribeInternetGatewaysCommand, DescribeRouteTablesCommand, DescribeSecurityGroupRulesCommand,
  DescribeSecurityGroupsCommand, DescribeSubnetsCommand, DescribeTagsCommand, DetachInternetGatewayCommand, EC2Client, ModifySubnetAttributeCommand,
  ReplaceRouteCommand, RevokeSecurityGroupIngressCommand,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROVIDER, CONSUMER, startTestDaemon, tempDir, twoAccountConfig, waitFor, type TestDaemon } from '../helpers.js';
import { AWS_KEYS, ec2Clients, refused } from './aws-sdk.js';
import { randomPort } from './backends.js';

const PUBLIC_PORT = randomPort();
const INTERFACE_PORT = PUBLIC_PORT + 1;
/** a public gateway service (its prefix 100.125.0.8/29): what an igw route leads to, as internet traffic */
const config = () => twoAccountConfig({
  accounts: [{ ...PROVIDER, aws: AWS_KEYS.provider }, { ...CONSUMER, aws: AWS_KEYS.consumer }],
  public_services: [
    { name: 's3', service_type: 'gateway', prefix_list: { id: 'pl-63a5400a', cidrs: ['100.125.0.8/29'] }, ports: [{ port: PUBLIC_PORT, target: '127.0.0.1:9' }] },
    { name: 'ec2', service_type: 'interface', ports: [{ port: INTERFACE_PORT, target: '127.0.0.1:9' }] },
  ],
});

describe('internet gateways, subnet attributes and the default group\'s members rule through the EC2 API', () => {
  const dir = tempDir();
  let d: TestDaemon;
  let consumer: EC2Client;
  let provider: EC2Client;

  const start = async () => {
    d = await startTestDaemon(config(), dir);
    ({ consumer, provider } = ec2Clients(d.url, AWS_KEYS));
  };
  const stop = async () => {
    consumer?.destroy();
    provider?.destroy();
    await d?.stop();
  };
  beforeAll(start);
  afterAll(stop);

  it('an internet gateway is made, attached, routed to, detached and deleted, with AWS\'s codes for each refusal; another account sees none of it', async () => {
    const vpc = (await consumer.send(new CreateVpcCommand({ CidrBlock: '10.30.0.0/16' }))).Vpc!.VpcId!;
    const other = (await consumer.send(new CreateVpcCommand({ CidrBlock: '10.31.0.0/16' }))).Vpc!.VpcId!;
    const made = (await consumer.send(new CreateInternetGatewayCommand({
      TagSpecifications: [{ ResourceType: 'internet-gateway', Tags: [{ Key: 'Name', Value: 'edge' }] }],
    }))).InternetGateway!;
    const igw = made.InternetGatewayId!;
    expect(igw).toMatch(/^igw-[0-9a-f]{17}$/);
    expect(made).toMatchObject({ OwnerId: AWS_KEYS.consumer.account_id, Attachments: [], Tags: [{ Key: 'Name', Value: 'edge' }] });

    // a route to it before it is attached names a gateway of another network; one to no gateway at all: InvalidGatewayID.NotFound
    const rtb = (await consumer.send(new CreateRouteTableCommand({ VpcId: vpc }))).RouteTable!.RouteTableId!;
    expect(await refused(consumer.send(new CreateRouteCommand({ RouteTableId: rtb, DestinationCidrBlock: '0.0.0.0/0', GatewayId: igw }))))
      .toMatchObject({ code: 'InvalidParameterValue', status: 400 });
    expect(await refused(consumer.send(new CreateRouteCommand({ RouteTableId: rtb, DestinationCidrBlock: '0.0.0.0/0', GatewayId: 'igw-00000000000000000' }))))
      .toMatchObject({ code: 'InvalidGatewayID.NotFound', status: 400 });
    // the Huawei-shaped route-table API checks the same in a VPC made through the EC2 API
    const huawei = await d.consumer.put(`/routetables/${rtb}`, { routetable: { routes: { add: [{ destination: '0.0.0.0/0', type: 'igw', nexthop: 'igw-00000000000000000' }] } } });
    expect([huawei.status, huawei.body.error_code]).toEqual([404, 'EndPoint.0005']);

    await consumer.send(new AttachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: vpc }));
    const byVpc = await consumer.send(new DescribeInternetGatewaysCommand({ Filters: [{ Name: 'attachment.vpc-id', Values: [vpc] }] }));
    expect(byVpc.InternetGateways!.map((g) => [g.InternetGatewayId, g.Attachments])).toEqual([[igw, [{ VpcId: vpc, State: 'available' }]]]);
    // attached once only, and one gateway per VPC
    expect(await refused(consumer.send(new AttachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: other }))))
      .toMatchObject({ code: 'Resource.AlreadyAssociated', status: 400 });
    const second = (await consumer.send(new CreateInternetGatewayCommand({}))).InternetGateway!.InternetGatewayId!;
    expect(await refused(consumer.send(new AttachInternetGatewayCommand({ InternetGatewayId: second, VpcId: vpc }))))
      .toMatchObject({ code: 'Resource.AlreadyAssociated', status: 400 });
    // another account's gateway does not exist for it
    expect(await refused(provider.send(new DescribeInternetGatewaysCommand({ InternetGatewayIds: [igw] }))))
      .toMatchObject({ code: 'InvalidInternetGatewayID.NotFound', status: 400 });
    expect((await provider.send(new DescribeInternetGatewaysCommand({}))).InternetGateways ?? []).toEqual([]);
    expect(await refused(provider.send(new DeleteInternetGatewayCommand({ InternetGatewayId: igw })))).toMatchObject({ code: 'InvalidInternetGatewayID.NotFound', status: 400 });

    // routed to: the route shows the gateway, active
    await consumer.send(new CreateRouteCommand({ RouteTableId: rtb, DestinationCidrBlock: '0.0.0.0/0', GatewayId: igw }));
    const route = async () => (await consumer.send(new DescribeRouteTablesCommand({ RouteTableIds: [rtb] }))).RouteTables![0]!.Routes!.find((r) => r.DestinationCidrBlock === '0.0.0.0/0');
    expect(await route()).toMatchObject({ GatewayId: igw, State: 'active', Origin: 'CreateRoute' });

    // tags, as on the other network resources
    await consumer.send(new CreateTagsCommand({ Resources: [igw], Tags: [{ Key: 'stage', Value: 'test' }] }));
    const tags = (await consumer.send(new DescribeTagsCommand({ Filters: [{ Name: 'resource-type', Values: ['internet-gateway'] }] }))).Tags!;
    expect(tags.map((t) => [t.ResourceId, t.Key, t.Value]).sort()).toEqual([[igw, 'Name', 'edge'], [igw, 'stage', 'test']]);

    // attached: neither it nor its VPC can be deleted
    expect(await refused(consumer.send(new DeleteInternetGatewayCommand({ InternetGatewayId: igw })))).toMatchObject({ code: 'DependencyViolation', status: 400 });
    await consumer.send(new DeleteRouteCommand({ RouteTableId: rtb, DestinationCidrBlock: '0.0.0.0/0' }));
    await consumer.send(new DeleteRouteTableCommand({ RouteTableId: rtb }));
    expect(await refused(consumer.send(new DeleteVpcCommand({ VpcId: vpc })))).toMatchObject({ code: 'DependencyViolation', status: 400 });

    // detached from the VPC it is attached to only; then deleted
    expect(await refused(consumer.send(new DetachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: other }))))
      .toMatchObject({ code: 'Gateway.NotAttached', status: 400 });
    await consumer.send(new DetachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: vpc }));
    expect((await consumer.send(new DescribeInternetGatewaysCommand({ InternetGatewayIds: [igw] }))).InternetGateways![0]!.Attachments).toEqual([]);
    await consumer.send(new DeleteInternetGatewayCommand({ InternetGatewayId: igw }));
    await consumer.send(new DeleteInternetGatewayCommand({ InternetGatewayId: second }));
    expect(await refused(consumer.send(new DescribeInternetGatewaysCommand({ InternetGatewayIds: [igw] })))).toMatchObject({ code: 'InvalidInternetGatewayID.NotFound', status: 400 });
    await consumer.send(new DeleteVpcCommand({ VpcId: vpc }));
    await consumer.send(new DeleteVpcCommand({ VpcId: other }));
  });

  it('a route to a gateway detached since is blackhole, for DescribeRouteTables and the data plane (the tracer) alike; gateways and attachments survive a restart', async () => {
    const vpc = (await consumer.send(new CreateVpcCommand({ CidrBlock: '10.32.0.0/16' }))).Vpc!.VpcId!;
    await consumer.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.32.1.0/24' }));
    const trace = async () => (await d.consumer.post('/trace', { vpc_id: vpc, source_ip: '10.32.1.50', destination_ip: '100.125.0.10', destination_port: PUBLIC_PORT })).body.trace;
    const igw = (await consumer.send(new CreateInternetGatewayCommand({}))).InternetGateway!.InternetGatewayId!;
    await consumer.send(new AttachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: vpc }));
    const [main] = (await consumer.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc] }] }))).RouteTables!;
    await consumer.send(new CreateRouteCommand({ RouteTableId: main!.RouteTableId, DestinationCidrBlock: '0.0.0.0/0', GatewayId: igw }));
    expect(await trace()).toMatchObject({ target_type: 'igw', verdict: 'relay' });
    await stop();
    await start();
    expect((await consumer.send(new DescribeInternetGatewaysCommand({ InternetGatewayIds: [igw] }))).InternetGateways![0]!.Attachments).toEqual([{ VpcId: vpc, State: 'available' }]);
    await consumer.send(new DetachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: vpc }));
    const routes = (await consumer.send(new DescribeRouteTablesCommand({ RouteTableIds: [main!.RouteTableId!] }))).RouteTables![0]!.Routes!;
    expect(routes.find((r) => r.DestinationCidrBlock === '0.0.0.0/0')).toMatchObject({ GatewayId: igw, State: 'blackhole' });
    expect(await trace()).toMatchObject({ target_type: 'blackhole' });
    // attached again, it leads to the gateway again
    await consumer.send(new AttachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: vpc }));
    expect(await trace()).toMatchObject({ target_type: 'igw', verdict: 'relay' });
    await consumer.send(new DetachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: vpc }));
    await consumer.send(new DeleteRouteCommand({ RouteTableId: main!.RouteTableId, DestinationCidrBlock: '0.0.0.0/0' }));
    await consumer.send(new DeleteInternetGatewayCommand({ InternetGatewayId: igw }));
    const [subnet] = (await consumer.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc] }] }))).Subnets!;
    await consumer.send(new DeleteSubnetCommand({ SubnetId: subnet!.SubnetId }));
    await consumer.send(new DeleteVpcCommand({ VpcId: vpc }));
  });

  it('ReplaceRoute points a route at another gateway in place (Terraform\'s aws_route changing gateway_id): a blackhole route leads to the gateway attached now; a route not there, a gateway of another network and the local route are refused, nothing changed', async () => {
    const vpc = (await consumer.send(new CreateVpcCommand({ CidrBlock: '10.34.0.0/16' }))).Vpc!.VpcId!;
    await consumer.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.34.1.0/24' }));
    const trace = async () => (await d.consumer.post('/trace', { vpc_id: vpc, source_ip: '10.34.1.50', destination_ip: '100.125.0.10', destination_port: PUBLIC_PORT })).body.trace;
    const [main] = (await consumer.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc] }] }))).RouteTables!;
    const rtb = main!.RouteTableId!;
    const route = async () => (await consumer.send(new DescribeRouteTablesCommand({ RouteTableIds: [rtb] }))).RouteTables![0]!.Routes!.find((r) => r.DestinationCidrBlock === '0.0.0.0/0');
    const first = (await consumer.send(new CreateInternetGatewayCommand({}))).InternetGateway!.InternetGatewayId!;
    const second = (await consumer.send(new CreateInternetGatewayCommand({}))).InternetGateway!.InternetGatewayId!;
    await consumer.send(new AttachInternetGatewayCommand({ InternetGatewayId: first, VpcId: vpc }));

    // no route to the destination yet: EC2's words, and nothing made
    expect(await refused(consumer.send(new ReplaceRouteCommand({ RouteTableId: rtb, DestinationCidrBlock: '0.0.0.0/0', GatewayId: first }))))
      .toMatchObject({ code: 'InvalidParameterValue', status: 400, message: "There is no route defined for '0.0.0.0/0' in the route table. Use CreateRoute instead." });
    expect(await route()).toBeUndefined();
    await consumer.send(new CreateRouteCommand({ RouteTableId: rtb, DestinationCidrBlock: '0.0.0.0/0', GatewayId: first }));

    // the second gateway is attached nowhere: a gateway of another network, the route unchanged
    expect(await refused(consumer.send(new ReplaceRouteCommand({ RouteTableId: rtb, DestinationCidrBlock: '0.0.0.0/0', GatewayId: second }))))
      .toMatchObject({ code: 'InvalidParameterValue', status: 400 });
    expect(await route()).toMatchObject({ GatewayId: first, State: 'active' });
    // the local route is the VPC's; a target vpcep-sim does not route to is refused
    expect(await refused(consumer.send(new ReplaceRouteCommand({ RouteTableId: rtb, DestinationCidrBlock: '10.34.0.0/16', GatewayId: first }))))
      .toMatchObject({ status: 400 });
    expect(await refused(consumer.send(new ReplaceRouteCommand({ RouteTableId: rtb, DestinationCidrBlock: '0.0.0.0/0', NatGatewayId: 'nat-00000000000000000' }))))
      .toMatchObject({ code: 'InvalidParameterValue', status: 400 });
    // another account's table does not exist for it
    expect(await refused(provider.send(new ReplaceRouteCommand({ RouteTableId: rtb, DestinationCidrBlock: '0.0.0.0/0', GatewayId: first }))))
      .toMatchObject({ code: 'InvalidRouteTableID.NotFound', status: 400 });

    // the first gateway detached: the route is blackhole; the second attached and the route replaced: it leads there, for the data plane too
    await consumer.send(new DetachInternetGatewayCommand({ InternetGatewayId: first, VpcId: vpc }));
    expect(await route()).toMatchObject({ GatewayId: first, State: 'blackhole' });
    expect(await trace()).toMatchObject({ target_type: 'blackhole' });
    await consumer.send(new AttachInternetGatewayCommand({ InternetGatewayId: second, VpcId: vpc }));
    await consumer.send(new ReplaceRouteCommand({ RouteTableId: rtb, DestinationCidrBlock: '0.0.0.0/0', GatewayId: second }));
    expect(await route()).toMatchObject({ GatewayId: second, State: 'active', Origin: 'CreateRoute' });
    expect(await trace()).toMatchObject({ target_type: 'igw', verdict: 'relay' });
    // one route still, and it survives a restart
    await stop();
    await start();
    const routes = (await consumer.send(new DescribeRouteTablesCommand({ RouteTableIds: [rtb] }))).RouteTables![0]!.Routes!;
    expect(routes.filter((r) => r.DestinationCidrBlock === '0.0.0.0/0')).toEqual([expect.objectContaining({ GatewayId: second, State: 'active' })]);

    await consumer.send(new DeleteRouteCommand({ RouteTableId: rtb, DestinationCidrBlock: '0.0.0.0/0' }));
    await consumer.send(new DetachInternetGatewayCommand({ InternetGatewayId: second, VpcId: vpc }));
    await consumer.send(new DeleteInternetGatewayCommand({ InternetGatewayId: first }));
    await consumer.send(new DeleteInternetGatewayCommand({ InternetGatewayId: second }));
    const [subnet] = (await consumer.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc] }] }))).Subnets!;
    await consumer.send(new DeleteSubnetCommand({ SubnetId: subnet!.SubnetId }));
    await consumer.send(new DeleteVpcCommand({ VpcId: vpc }));
  });

  it('ModifySubnetAttribute MapPublicIpOnLaunch is stored and shown (aws_subnet map_public_ip_on_launch); an attribute not simulated turned on is refused', async () => {
    const vpc = (await consumer.send(new CreateVpcCommand({ CidrBlock: '10.33.0.0/16' }))).Vpc!.VpcId!;
    const subnet = (await consumer.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.33.1.0/24' }))).Subnet!.SubnetId!;
    await consumer.send(new ModifySubnetAttributeCommand({ SubnetId: subnet, MapPublicIpOnLaunch: { Value: true } }));
    const [s] = (await consumer.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'map-public-ip-on-launch', Values: ['true'] }] }))).Subnets!;
    expect(s).toMatchObject({ SubnetId: subnet, MapPublicIpOnLaunch: true });
    expect(await refused(consumer.send(new ModifySubnetAttributeCommand({ SubnetId: subnet, AssignIpv6AddressOnCreation: { Value: true } }))))
      .toMatchObject({ code: 'InvalidParameterValue', status: 400 });
    expect(await refused(provider.send(new ModifySubnetAttributeCommand({ SubnetId: subnet, MapPublicIpOnLaunch: { Value: false } }))))
      .toMatchObject({ code: 'InvalidSubnetID.NotFound', status: 400 });
    await consumer.send(new ModifySubnetAttributeCommand({ SubnetId: subnet, MapPublicIpOnLaunch: { Value: false } }));
    expect((await consumer.send(new DescribeSubnetsCommand({ SubnetIds: [subnet] }))).Subnets![0]!.MapPublicIpOnLaunch).toBe(false);
    await consumer.send(new DeleteSubnetCommand({ SubnetId: subnet }));
    await consumer.send(new DeleteVpcCommand({ VpcId: vpc }));
  });

  it('a default group\'s rule for its members is revoked by id (aws_default_security_group revokes every rule) and authorized again as a self pair', async () => {
    const vpc = (await consumer.send(new CreateVpcCommand({ CidrBlock: '10.34.0.0/16' }))).Vpc!.VpcId!;
    const [g] = (await consumer.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc] }] }))).SecurityGroups!;
    const sg = g!.GroupId!;
    // an interface endpoint on the default group: its members rule lets in a client of the VPC, as the tracer says
    const subnet = (await consumer.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.34.1.0/24' }))).Subnet!.SubnetId!;
    const e = (await consumer.send(new CreateVpcEndpointCommand({ VpcEndpointType: 'Interface', VpcId: vpc, ServiceName: 'com.amazonaws.us-east-1.ec2', SubnetIds: [subnet] }))).VpcEndpoint!;
    expect(e.Groups).toEqual([{ GroupId: sg, GroupName: 'default' }]);
    const trace = async () => (await d.consumer.post('/trace', { vpc_id: vpc, source_ip: '10.34.1.50', destination_ip: '10.34.1.4', destination_port: INTERFACE_PORT })).body.trace;
    expect(await trace()).toMatchObject({ security_group: { enforced: true, matched: expect.any(String) } });
    const rules = async () => (await consumer.send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: [sg] }] }))).SecurityGroupRules!;
    const members = (await rules()).find((r) => r.ReferencedGroupInfo?.GroupId === sg)!;
    expect(members).toMatchObject({ IsEgress: false, IpProtocol: '-1' });

    await consumer.send(new RevokeSecurityGroupIngressCommand({ GroupId: sg, SecurityGroupRuleIds: [members.SecurityGroupRuleId!] }));
    expect((await rules()).filter((r) => !r.IsEgress)).toEqual([]);
    expect((await consumer.send(new DescribeSecurityGroupsCommand({ GroupIds: [sg] }))).SecurityGroups![0]!.IpPermissions).toEqual([]);
    expect(await refused(consumer.send(new RevokeSecurityGroupIngressCommand({ GroupId: sg, SecurityGroupRuleIds: [members.SecurityGroupRuleId!] }))))
      .toMatchObject({ code: 'InvalidSecurityGroupRuleId.NotFound', status: 400 });
    // revoked, the group lets no client of the VPC in
    expect(await trace()).toMatchObject({ refusal: 'security_group', security_group: { enforced: true, matched: null, rules: [] } });

    // `ingress { self = true, protocol = "-1" }`: the group itself as its one pair
    const self = { IpProtocol: '-1', UserIdGroupPairs: [{ GroupId: sg }] };
    const back = await consumer.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: sg, IpPermissions: [self] }));
    expect(back.SecurityGroupRules).toEqual([expect.objectContaining({ SecurityGroupRuleId: members.SecurityGroupRuleId, ReferencedGroupInfo: expect.objectContaining({ GroupId: sg }) })]);
    expect(await refused(consumer.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: sg, IpPermissions: [self] }))))
      .toMatchObject({ code: 'InvalidPermission.Duplicate', status: 400 });
    await consumer.send(new RevokeSecurityGroupIngressCommand({ GroupId: sg, IpPermissions: [self] }));
    expect((await rules()).filter((r) => !r.IsEgress)).toEqual([]);

    // another group's self pair is a group pair, which vpcep-sim does not store
    const mine = (await consumer.send(new CreateSecurityGroupCommand({ VpcId: vpc, GroupName: 'mine', Description: 'x' }))).GroupId!;
    expect(await refused(consumer.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: mine, IpPermissions: [{ IpProtocol: '-1', UserIdGroupPairs: [{ GroupId: mine }] }] }))))
      .toMatchObject({ code: 'InvalidParameterValue', status: 400 });
    await consumer.send(new DeleteSecurityGroupCommand({ GroupId: mine }));
    await consumer.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [e.VpcEndpointId!] }));
    await waitFor(() => consumer.send(new DeleteSubnetCommand({ SubnetId: subnet })).then(() => true, () => false), 5_000, 'the subnet deleted');
    await consumer.send(new DeleteVpcCommand({ VpcId: vpc }));
  });
});

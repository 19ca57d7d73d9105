// Terraform 1.11 with the AWS provider 5.100 drives a spawned vpcepd through
// examples/terraform/network-breadth, the network a platform engineer's stack builds around its
// endpoints (data sources for the region, zones, subnets and internet gateway; an internet gateway
// with a default route; the main table and default group adopted; network ACLs with inline and
// standalone rules, an ACL association, the default ACL adopted; one subnet association): applied,
// planned again with nothing to change, destroyed to nothing. A file of its own, in a test group of
// its own (scripts/test.mjs): the subnet association's provider code waits a minute before each
// ModifyVpcEndpoint, on create and on destroy, so the file mostly waits. Same skip and CI rules as
// terraform.test.ts.
import fs from 'node:fs';
import path from 'node:path';
import {
  DescribeInternetGatewaysCommand, DescribeNetworkAclsCommand, DescribeRouteTablesCommand, DescribeSecurityGroupsCommand, DescribeSubnetsCommand, DescribeVpcEndpointsCommand, DescribeVpcsCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, spawnDaemon, tempDir, writeConfig, type ChildDaemon } from '../helpers.js';
import { randomPort } from './backends.js';
import { ACCOUNTS, KEYS, RUN, TF_STEP_MS, TerraformDir, daemonLogOnFailure, sdkClients, seconds, skipWithoutTerraform } from './terraform-cli.js';

skipWithoutTerraform('Terraform, the network around PrivateLink');

const NETWORK_STACK = path.join(ROOT, 'examples/terraform/network-breadth/main.tf');
/**
 * the network stack's resources: VPC, three subnets, internet gateway, public table, its route and association, main table, default and endpoints' groups,
 * two endpoints, a subnet association; two network ACLs, a rule, an ACL association, the default ACL
 */
const NETWORK_RESOURCES = 19;

describe.runIf(RUN)('Terraform applies examples/terraform/network-breadth (the network around PrivateLink) against a spawned vpcepd', () => {
  let d: ChildDaemon;
  daemonLogOnFailure(() => d?.output() ?? '');
  let dir: string;
  let tf: TerraformDir;
  let clients: ReturnType<typeof sdkClients> | undefined;
  let consumer: EC2Client;
  let reads: Record<string, unknown> = {};

  beforeAll(async () => {
    dir = tempDir('vpcep-terraform-network-');
    tf = new TerraformDir(dir, TF_STEP_MS, () => d?.output() ?? '');
    const port = randomPort();
    const config = {
      accounts: ACCOUNTS,
      public_services: [
        { name: 's3', service_type: 'gateway', prefix_list: { id: 'pl-63a5400a', cidrs: ['100.125.0.8/29'] }, ports: [{ port: port + 1, target: '127.0.0.1:9' }] },
        { name: 'ec2', service_type: 'interface', ports: [{ port, target: '127.0.0.1:9' }] },
      ],
    };
    d = await spawnDaemon(['--config', writeConfig(dir, config), '--data-dir', path.join(dir, 'data')], { VPCEP_TOKEN: '' });
    clients = sdkClients(d.url);
    consumer = clients.ec2.consumer;
    fs.copyFileSync(NETWORK_STACK, path.join(dir, 'main.tf'));
    fs.writeFileSync(path.join(dir, 'terraform.tfvars.json'), JSON.stringify({
      endpoint: d.url, access_key: KEYS.consumer.access_key_id, secret_key: KEYS.consumer.secret_access_key,
    }, null, 2));
  }, 60_000);

  afterAll(async () => {
    clients?.close();
    if (d?.proc.exitCode === null) d.proc.kill('SIGTERM');
    await d?.exited;
    if (dir && tf && !tf.failed) fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('init installs the AWS provider offline from the mirror', async () => {
    tf.expectCode(await tf.run(['init', '-input=false']), 0, 'init');
  }, TF_STEP_MS);

  it('apply: an internet gateway routed to, the main table and default group adopted, a subnet association; the data sources read them back', async () => {
    const r = await tf.run(['apply', '-auto-approve', '-input=false']);
    tf.expectCode(r, 0, 'apply');
    console.log(`terraform apply (${NETWORK_RESOURCES} resources): ${seconds(r)}`);
    expect(r.stdout).toMatch(new RegExp(`Apply complete! Resources: ${NETWORK_RESOURCES} added, 0 changed, 0 destroyed`));
    const out = await tf.run(['output', '-json', 'reads']);
    tf.expectCode(out, 0, 'output');
    reads = JSON.parse(out.stdout) as Record<string, unknown>;
    const privateSubnets = reads.private_subnets as string[];
    expect(reads).toMatchObject({ region: 'us-east-1', zones: ['us-east-1a', 'us-east-1b'], igw_by_vpc: reads.igw });
    expect(reads.subnets).toEqual([...privateSubnets, String(reads.public_subnet)].sort());
    expect(reads.igw).toMatch(/^igw-[0-9a-f]{17}$/);

    const [igw] = (await consumer.send(new DescribeInternetGatewaysCommand({ InternetGatewayIds: [String(reads.igw)] }))).InternetGateways!;
    expect(igw!.Attachments).toEqual([{ VpcId: reads.vpc_id, State: 'available' }]);
    const [publicTable] = (await consumer.send(new DescribeRouteTablesCommand({ RouteTableIds: [String(reads.public_table)] }))).RouteTables!;
    expect(publicTable!.Routes).toContainEqual(expect.objectContaining({ DestinationCidrBlock: '0.0.0.0/0', GatewayId: reads.igw, State: 'active' }));
    expect(publicTable!.Associations).toEqual([expect.objectContaining({ SubnetId: reads.public_subnet })]);
    const [main] = (await consumer.send(new DescribeRouteTablesCommand({ RouteTableIds: [String(reads.main_table)] }))).RouteTables!;
    expect(main!.Associations).toEqual([expect.objectContaining({ Main: true })]);
    expect(main!.Tags).toEqual([{ Key: 'Name', Value: 'private (main)' }]);
    const [pub] = (await consumer.send(new DescribeSubnetsCommand({ SubnetIds: [String(reads.public_subnet)] }))).Subnets!;
    expect(pub!.MapPublicIpOnLaunch).toBe(true);
    // the default group as declared: its members (revoked, then authorized again) and all egress
    const [group] = (await consumer.send(new DescribeSecurityGroupsCommand({ GroupIds: [String(reads.default_group)] }))).SecurityGroups!;
    expect(group!.IpPermissions).toEqual([expect.objectContaining({ IpProtocol: '-1', UserIdGroupPairs: [expect.objectContaining({ GroupId: reads.default_group })] })]);
    expect(group!.IpPermissionsEgress).toEqual([expect.objectContaining({ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] })]);
    // the ACLs: the private subnets' with its inline rules, the public subnet's with its standalone rule, the default one declared and holding none
    const acls = new Map(((await consumer.send(new DescribeNetworkAclsCommand({ Filters: [{ Name: 'vpc-id', Values: [String(reads.vpc_id)] }] }))).NetworkAcls!).map((a) => [a.NetworkAclId, a]));
    const rulesOf = (id: unknown) => acls.get(String(id))!.Entries!.filter((e) => e.RuleNumber !== 32767).map((e) => [e.Egress, e.RuleNumber, e.Protocol, e.RuleAction, e.CidrBlock, e.PortRange?.From, e.PortRange?.To]);
    const subnetsOf = (id: unknown) => acls.get(String(id))!.Associations!.map((a) => a.SubnetId).sort();
    expect(rulesOf(reads.private_acl)).toEqual([[true, 100, '6', 'allow', '10.20.0.0/16', 1024, 65535], [false, 100, '6', 'allow', '10.20.0.0/16', 443, 443]]);
    expect(subnetsOf(reads.private_acl)).toEqual(privateSubnets);
    expect(rulesOf(reads.public_acl)).toEqual([[false, 100, '6', 'allow', '0.0.0.0/0', 443, 443]]);
    expect(subnetsOf(reads.public_acl)).toEqual([reads.public_subnet]);
    expect(acls.get(String(reads.default_acl))).toMatchObject({ IsDefault: true, Associations: [], Tags: [{ Key: 'Name', Value: 'default' }] });
    // the association placed the interface endpoint in the first private subnet; the gateway endpoint routes in both tables
    const endpoints = (await consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [String(reads.ec2_endpoint), String(reads.s3_endpoint)] }))).VpcEndpoints!;
    const byId = new Map(endpoints.map((e) => [e.VpcEndpointId, e]));
    expect(privateSubnets).toContain(reads.ec2_subnet);
    expect(byId.get(String(reads.ec2_endpoint))).toMatchObject({ State: 'available', SubnetIds: [reads.ec2_subnet] });
    expect(byId.get(String(reads.s3_endpoint))!.RouteTableIds!.sort()).toEqual([String(reads.main_table), String(reads.public_table)].sort());
  }, TF_STEP_MS);

  it('a second plan finds nothing to change', () => tf.planFindsNothing(), TF_STEP_MS);

  it('destroy leaves nothing of the stack the API can see', async () => {
    const r = await tf.run(['destroy', '-auto-approve', '-input=false', '-refresh=false']);
    tf.expectCode(r, 0, 'destroy');
    console.log(`terraform destroy (${NETWORK_RESOURCES} resources): ${seconds(r)}`);
    expect(r.stdout).toMatch(new RegExp(`Destroy complete! Resources: ${NETWORK_RESOURCES} destroyed`));
    expect((await consumer.send(new DescribeVpcsCommand({}))).Vpcs ?? []).toEqual([]);
    expect((await consumer.send(new DescribeInternetGatewaysCommand({}))).InternetGateways ?? []).toEqual([]);
    expect((await consumer.send(new DescribeSecurityGroupsCommand({}))).SecurityGroups ?? []).toEqual([]);
    expect((await consumer.send(new DescribeRouteTablesCommand({}))).RouteTables ?? []).toEqual([]);
    expect((await consumer.send(new DescribeNetworkAclsCommand({}))).NetworkAcls ?? []).toEqual([]);
    expect(((await consumer.send(new DescribeVpcEndpointsCommand({}))).VpcEndpoints ?? []).filter((e) => e.State as string !== 'deleted')).toEqual([]);
  }, TF_STEP_MS);
});

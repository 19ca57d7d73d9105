// Terraform 1.11 with the AWS provider 5.100 (a client no one here wrote) drives a spawned vpcepd
// through the README's example stack, examples/terraform/main.tf, as a user would: `init` offline
// from a filesystem mirror, `apply` of both accounts' networks (VPC, subnet, route table and its
// association, security group) and on them an NLB-backed endpoint service with a consumer's
// interface endpoint and a gateway endpoint with a route and a policy, real bytes through the
// interface endpoint to the backend (its security group refusing a client outside its rule), a
// second `plan -detailed-exitcode` that finds nothing to change, and `destroy` leaving nothing the
// API can see. The daemon's config declares the accounts and the public s3 service only. TF_LOG=DEBUG goes to a file whose tail is printed on
// a failure (the missing or wrong action is in it). Where terraform or the provider is absent the
// test skips under a name that says why; CI=true makes it mandatory (.ci/run).
import fs from 'node:fs';
import path from 'node:path';
import { DescribeRouteTablesCommand, DescribeSecurityGroupsCommand, DescribeSubnetsCommand, DescribeVpcEndpointServiceConfigurationsCommand, DescribeVpcEndpointsCommand, DescribeVpcsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { DescribeLoadBalancersCommand, DescribeTargetGroupsCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, CONSUMER, PROVIDER, ROOT, spawnDaemon, tempDir, writeConfig, type ChildDaemon } from '../helpers.js';
import { echo, randomPort, startBackend, type TestBackend } from './backends.js';
import { ACCOUNTS, KEYS, KEY_VARS, RUN, TF_STEP_MS, TerraformDir, daemonLogOnFailure, roundTrip, sdkClients, seconds, skipWithoutTerraform } from './terraform-cli.js';

const STACK = path.join(ROOT, 'examples/terraform/main.tf');
/** the stack's resources: 7 of the two networks, 6 of the provider's service, 3 of the consumer's endpoints */
const RESOURCES = 16;

skipWithoutTerraform('Terraform');

describe.runIf(RUN)('Terraform applies examples/terraform/main.tf against a spawned vpcepd', () => {
  let d: ChildDaemon;
  daemonLogOnFailure(() => d?.output() ?? '');
  let backend: TestBackend;
  let dir: string;
  let tf: TerraformDir;
  const listenerPort = randomPort();
  const publicPort = listenerPort + 1;
  let ec2: { provider: EC2Client; consumer: EC2Client };
  let elb: ElasticLoadBalancingV2Client;

  beforeAll(async () => {
    backend = await startBackend(echo);
    dir = tempDir('vpcep-terraform-');
    tf = new TerraformDir(dir, TF_STEP_MS, () => d?.output() ?? '');
    // the README's quickstart-aws.yaml plus the public s3 service: no VPCs, the stack makes its own
    const config = {
      accounts: ACCOUNTS,
      public_services: [{
        name: 's3', service_type: 'gateway', prefix_list: { id: 'pl-63a5400a', cidrs: ['100.125.0.8/29'] },
        ports: [{ port: publicPort, target: `127.0.0.1:${backend.port}` }],
      }],
    };
    d = await spawnDaemon(['--config', writeConfig(dir, config), '--data-dir', path.join(dir, 'data')], { VPCEP_TOKEN: '' });
    fs.copyFileSync(STACK, path.join(dir, 'main.tf'));
    fs.writeFileSync(path.join(dir, 'terraform.tfvars.json'), JSON.stringify({
      endpoint: d.url,
      ...KEY_VARS,
      backend_port: backend.port, listener_port: listenerPort, gateway_service_name: 'com.amazonaws.us-east-1.s3',
    }, null, 2));
    ({ ec2, elb } = sdkClients(d.url));
  }, 60_000);

  afterAll(async () => {
    ec2?.provider.destroy();
    ec2?.consumer.destroy();
    elb?.destroy();
    if (d && d.proc.exitCode === null) {
      d.proc.kill('SIGTERM');
      await d.exited;
    }
    await backend?.close();
    if (dir && tf && !tf.failed) fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('init installs the AWS provider offline from the mirror', async () => {
    const r = await tf.run(['init', '-input=false']);
    tf.expectCode(r, 0, 'init');
    console.log(`terraform init: ${seconds(r)}`);
    expect(r.stdout).toMatch(/Installed hashicorp\/aws v5\.\d+\.\d+/);
  }, TF_STEP_MS);

  it('apply creates the stack, its networks included; bytes go through the interface endpoint to the backend', async () => {
    const r = await tf.run(['apply', '-auto-approve', '-input=false']);
    tf.expectCode(r, 0, 'apply');
    console.log(`terraform apply (${RESOURCES} resources): ${seconds(r)}`);
    expect(r.stdout).toMatch(new RegExp(`Apply complete! Resources: ${RESOURCES} added, 0 changed, 0 destroyed`));
    const out = await tf.run(['output', '-json']);
    tf.expectCode(out, 0, 'output');
    const o = JSON.parse(out.stdout) as Record<string, { value: string }>;
    expect(o.interface_endpoint_id!.value).toMatch(/^vpce-[0-9a-f]{17}$/);
    expect(o.service_id!.value).toMatch(/^vpce-svc-[0-9a-f]{17}$/);

    // the networks Terraform made, each account's own
    const [pv] = (await ec2.provider.send(new DescribeVpcsCommand({}))).Vpcs!.filter((v) => v.VpcId === o.provider_vpc_id!.value);
    expect(pv).toMatchObject({ CidrBlock: '192.168.0.0/16', State: 'available', OwnerId: KEYS.provider.account_id });
    const consumerVpc = o.consumer_vpc_id!.value;
    expect((await ec2.consumer.send(new DescribeVpcsCommand({}))).Vpcs!.map((v) => v.VpcId)).toEqual([consumerVpc]);
    const [subnet] = (await ec2.consumer.send(new DescribeSubnetsCommand({}))).Subnets!;
    expect(subnet).toMatchObject({ VpcId: consumerVpc, CidrBlock: '10.0.1.0/24', AvailabilityZone: 'us-east-1a' });
    const groups = (await ec2.consumer.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: ['web-endpoint'] }] }))).SecurityGroups!;
    expect(groups).toHaveLength(1);
    expect(groups[0]!.IpPermissions).toEqual([expect.objectContaining({ IpProtocol: 'tcp', FromPort: listenerPort, ToPort: listenerPort, IpRanges: [expect.objectContaining({ CidrIp: '10.0.1.0/24' })] })]);

    // the endpoints, on those networks
    const [e] = (await ec2.consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [o.interface_endpoint_id!.value] }))).VpcEndpoints!;
    expect(e).toMatchObject({ State: 'available', VpcEndpointType: 'Interface', ServiceName: o.service_name!.value, VpcId: consumerVpc, SubnetIds: [subnet!.SubnetId] });
    expect(e!.Groups!.map((g) => g.GroupId)).toEqual([groups[0]!.GroupId]);
    const [g] = (await ec2.consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [o.gateway_endpoint_id!.value] }))).VpcEndpoints!;
    expect(g).toMatchObject({ State: 'available', VpcEndpointType: 'Gateway', ServiceName: 'com.amazonaws.us-east-1.s3' });
    expect(g!.RouteTableIds).toHaveLength(1);
    const [table] = (await ec2.consumer.send(new DescribeRouteTablesCommand({ RouteTableIds: g!.RouteTableIds }))).RouteTables!;
    expect(table!.Routes).toContainEqual(expect.objectContaining({ DestinationPrefixListId: 'pl-63a5400a', GatewayId: g!.VpcEndpointId }));
    expect(table!.Associations).toEqual([expect.objectContaining({ Main: false, SubnetId: subnet!.SubnetId })]);
    const [svc] = (await ec2.provider.send(new DescribeVpcEndpointServiceConfigurationsCommand({ ServiceIds: [o.service_id!.value] }))).ServiceConfigurations!;
    expect(svc).toMatchObject({ ServiceState: 'Available', AcceptanceRequired: false, PrivateDnsName: 'web.example.com' });
    expect(svc!.PrivateDnsNameConfiguration).toMatchObject({ State: 'pendingVerification', Type: 'TXT' });
    expect(svc!.NetworkLoadBalancerArns).toHaveLength(1);

    // real bytes: a client in the consumer's subnet to the endpoint's address (its host address from
    // the Huawei API); a client of the same VPC outside the security group's rule is reset
    const huawei = await new ApiClient(d.url, CONSUMER.token, CONSUMER.project_id).get(`/vpc-endpoints/${e!.VpcEndpointId}`);
    expect(huawei.status).toBe(200);
    expect(huawei.body.ip).toBe(o.interface_endpoint_ip!.value);
    expect(huawei.body.ip).toBe('10.0.1.4'); // the fifth address: AWS keeps the first four of a subnet made through the API
    const k = String(huawei.body.host_ip).split('.')[1];
    const accepted = backend.accepted;
    expect(await roundTrip(huawei.body.host_ip, listenerPort, `127.${k}.1.50`, 'bytes through terraform\'s endpoint')).toBe('bytes through terraform\'s endpoint');
    expect(await roundTrip(huawei.body.host_ip, listenerPort, `127.${k}.2.50`, 'outside the rule')).toMatch(/^(ECONNRESET|closed)$/);
    expect(backend.accepted).toBe(accepted + 1);
  }, TF_STEP_MS);

  it('a second plan finds nothing to change (exit 0 with -detailed-exitcode)', async () => {
    const r = await tf.run(['plan', '-detailed-exitcode', '-input=false']);
    tf.expectCode(r, 0, 'plan -detailed-exitcode');
    console.log(`terraform plan (no changes): ${seconds(r)}`);
    expect(r.stdout).toMatch(/No changes/);
  }, TF_STEP_MS);

  it('destroy leaves nothing the API can see, the VPCs included', async () => {
    const r = await tf.run(['destroy', '-auto-approve', '-input=false']);
    tf.expectCode(r, 0, 'destroy');
    console.log(`terraform destroy (${RESOURCES} resources): ${seconds(r)}`);
    expect(r.stdout).toMatch(new RegExp(`Destroy complete! Resources: ${RESOURCES} destroyed`));
    for (const client of [ec2.provider, ec2.consumer]) {
      expect((await client.send(new DescribeVpcsCommand({}))).Vpcs ?? []).toEqual([]);
      expect((await client.send(new DescribeSubnetsCommand({}))).Subnets ?? []).toEqual([]);
      expect((await client.send(new DescribeRouteTablesCommand({}))).RouteTables ?? []).toEqual([]);
      expect((await client.send(new DescribeSecurityGroupsCommand({}))).SecurityGroups ?? []).toEqual([]);
    }
    const endpoints = (await ec2.consumer.send(new DescribeVpcEndpointsCommand({}))).VpcEndpoints ?? [];
    expect(endpoints.filter((e) => e.State as string !== 'deleted')).toEqual([]);
    expect((await ec2.provider.send(new DescribeVpcEndpointServiceConfigurationsCommand({}))).ServiceConfigurations ?? []).toEqual([]);
    expect((await elb.send(new DescribeLoadBalancersCommand({}))).LoadBalancers ?? []).toEqual([]);
    expect((await elb.send(new DescribeTargetGroupsCommand({}))).TargetGroups ?? []).toEqual([]);
    // and through the Huawei API: the accounts have no VPC left
    for (const who of [PROVIDER, CONSUMER]) {
      const vpcs = await new ApiClient(d.url, who.token, who.project_id).get('/vpcs');
      expect(vpcs.status, JSON.stringify(vpcs.body)).toBe(200);
      expect(vpcs.body.vpcs).toEqual([]);
    }
  }, TF_STEP_MS);
});

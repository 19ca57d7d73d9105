// Terraform 1.11 with the AWS provider 5.100 drives a spawned vpcepd through the PrivateLink
// resources and data sources beyond the README's example: examples/terraform/privatelink-extras,
// as a user would (init offline from a filesystem mirror). The provider's service on a network
// load balancer made beforehand with the SDK (data "aws_lb" finds it) is accepted by
// aws_vpc_endpoint_connection_accepter (real bytes then pass) and notified through
// aws_vpc_endpoint_connection_notification (the webhook gets the Accept); its private DNS
// verification is asked for; the consumer's endpoints take their policy, route table and security
// group through the association resources and their groups' rules as resources of their own
// (aws_vpc_security_group_ingress_rule, _egress_rule, aws_security_group_rule); the data sources
// read it all back. Then `changed = true` changes tags, acceptance, events, a rule, a policy and
// adds a security group and a route table in place: each apply's count says nothing else drifted,
// and a `plan -detailed-exitcode` after each finds nothing to change; `destroy` leaves nothing.
// aws_vpc_endpoint_subnet_association is not in that stack: its provider code waits a minute before
// each ModifyVpcEndpoint (terraform-network.test.ts has one). Same skip and CI rules as terraform.test.ts.
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import {
  CreateSubnetCommand, CreateVpcCommand, DeleteSubnetCommand, DeleteVpcCommand, DescribeRouteTablesCommand, DescribeSecurityGroupRulesCommand,
  DescribeInternetGatewaysCommand, DescribeSecurityGroupsCommand, DescribeSubnetsCommand, DescribeVpcEndpointConnectionNotificationsCommand,
  DescribeVpcEndpointServiceConfigurationsCommand, DescribeVpcEndpointsCommand, DescribeVpcsCommand, EC2Client,
} from '@aws-sdk/client-ec2';
import {
  CreateListenerCommand, CreateLoadBalancerCommand, CreateTargetGroupCommand, DeleteListenerCommand, DeleteLoadBalancerCommand, DeleteTargetGroupCommand,
  ElasticLoadBalancingV2Client, RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, CONSUMER, ROOT, spawnDaemon, tempDir, waitFor, writeConfig, type ChildDaemon } from '../helpers.js';
import { echo, randomPort, startBackend, type TestBackend } from './backends.js';
import { ACCOUNTS, KEYS, KEY_VARS, RUN, TF_STEP_MS, TerraformDir, daemonLogOnFailure, roundTrip, sdkClients, seconds, skipWithoutTerraform } from './terraform-cli.js';

const STACK = path.join(ROOT, 'examples/terraform/privatelink-extras/main.tf');
const TOPIC = `arn:aws:sns:us-east-1:${KEYS.provider.account_id}:endpoint-events`;
/** the stack's resources: the provider's 5, the consumer's network 9, its endpoints 6 */
const RESOURCES = 20;
/** changed = true: a route table and its association added; the service, notification, VPC, web endpoint, policy and two rules changed */
const CHANGE = { added: 2, changed: 7 };

skipWithoutTerraform('Terraform, the other PrivateLink resources');

describe.runIf(RUN)('Terraform applies examples/terraform/privatelink-extras against a spawned vpcepd', () => {
  let d: ChildDaemon;
  daemonLogOnFailure(() => d?.output() ?? '');
  let backend: TestBackend;
  let hook: http.Server;
  const notified: Array<{ eventType: string; vpcEndpointId: string }> = [];
  let dir: string;
  let tf: TerraformDir;
  const listenerPort = randomPort();
  let ec2: { provider: EC2Client; consumer: EC2Client };
  let elb: ElasticLoadBalancingV2Client;
  const made: { vpc?: string; subnet?: string; lb?: string; tg?: string; listener?: string } = {};
  let reads: Record<string, unknown> = {};

  async function readOutputs(): Promise<Record<string, unknown>> {
    const out = await tf.run(['output', '-json', 'reads']);
    tf.expectCode(out, 0, 'output');
    return JSON.parse(out.stdout) as Record<string, unknown>;
  }

  beforeAll(async () => {
    backend = await startBackend(echo);
    // the notification topic's webhook: each SNS message's event
    hook = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => { body += String(c); });
      req.on('end', () => {
        try { notified.push(JSON.parse((JSON.parse(body) as { Message: string }).Message)); } catch { /* not a notification */ }
        res.end();
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    dir = tempDir('vpcep-terraform-extras-');
    tf = new TerraformDir(dir, TF_STEP_MS, () => d?.output() ?? '');
    const interfacePort = listenerPort + 1;
    const config = {
      accounts: ACCOUNTS,
      public_services: [
        { name: 's3', service_type: 'gateway', prefix_list: { id: 'pl-63a5400a', cidrs: ['100.125.0.8/29'] }, ports: [{ port: interfacePort + 1, target: `127.0.0.1:${backend.port}` }] },
        { name: 'ec2', service_type: 'interface', ports: [{ port: interfacePort, target: `127.0.0.1:${backend.port}` }] },
      ],
      aws: { sns_topics: [{ arn: TOPIC, url: `http://127.0.0.1:${(hook.address() as net.AddressInfo).port}/hook` }] },
    };
    d = await spawnDaemon(['--config', writeConfig(dir, config), '--data-dir', path.join(dir, 'data')], { VPCEP_TOKEN: '' });
    ({ ec2, elb } = sdkClients(d.url));
    // the provider's NLB, made beforehand (the stack reads it with data sources)
    made.vpc = (await ec2.provider.send(new CreateVpcCommand({ CidrBlock: '192.168.0.0/16' }))).Vpc!.VpcId!;
    made.subnet = (await ec2.provider.send(new CreateSubnetCommand({ VpcId: made.vpc, CidrBlock: '192.168.24.0/24', AvailabilityZone: 'us-east-1a' }))).Subnet!.SubnetId!;
    made.lb = (await elb.send(new CreateLoadBalancerCommand({ Name: 'extras', Type: 'network', Scheme: 'internal', Subnets: [made.subnet] }))).LoadBalancers![0]!.LoadBalancerArn!;
    made.tg = (await elb.send(new CreateTargetGroupCommand({ Name: 'extras', Protocol: 'TCP', Port: backend.port, VpcId: made.vpc, TargetType: 'ip' }))).TargetGroups![0]!.TargetGroupArn!;
    await elb.send(new RegisterTargetsCommand({ TargetGroupArn: made.tg, Targets: [{ Id: '127.0.0.1', Port: backend.port, AvailabilityZone: 'all' }] }));
    made.listener = (await elb.send(new CreateListenerCommand({
      LoadBalancerArn: made.lb, Protocol: 'TCP', Port: listenerPort, DefaultActions: [{ Type: 'forward', TargetGroupArn: made.tg }],
    }))).Listeners![0]!.ListenerArn!;

    fs.copyFileSync(STACK, path.join(dir, 'main.tf'));
    fs.writeFileSync(path.join(dir, 'terraform.tfvars.json'), JSON.stringify({
      endpoint: d.url,
      ...KEY_VARS,
      load_balancer_name: 'extras', notification_topic_arn: TOPIC, listener_port: listenerPort,
      interface_service_name: 'com.amazonaws.us-east-1.ec2', gateway_service_name: 'com.amazonaws.us-east-1.s3',
    }, null, 2));
  }, 60_000);

  afterAll(async () => {
    if (elb && made.listener) {
      await elb.send(new DeleteListenerCommand({ ListenerArn: made.listener })).catch(() => {});
      await elb.send(new DeleteLoadBalancerCommand({ LoadBalancerArn: made.lb })).catch(() => {});
      await elb.send(new DeleteTargetGroupCommand({ TargetGroupArn: made.tg })).catch(() => {});
    }
    ec2?.provider.destroy();
    ec2?.consumer.destroy();
    elb?.destroy();
    if (d && d.proc.exitCode === null) {
      d.proc.kill('SIGTERM');
      await d.exited;
    }
    await backend?.close();
    await new Promise((resolve) => (hook ? hook.close(resolve) : resolve(undefined)));
    if (dir && tf && !tf.failed) fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('init installs the AWS provider offline from the mirror', async () => {
    const r = await tf.run(['init', '-input=false']);
    tf.expectCode(r, 0, 'init');
    console.log(`terraform init: ${seconds(r)}`);
  }, TF_STEP_MS);

  it('apply: the provider accepts the connection itself and is notified; associations, rules and data sources all read back', async () => {
    const r = await tf.run(['apply', '-auto-approve', '-input=false']);
    tf.expectCode(r, 0, 'apply');
    console.log(`terraform apply (${RESOURCES} resources): ${seconds(r)}`);
    expect(r.stdout).toMatch(new RegExp(`Apply complete! Resources: ${RESOURCES} added, 0 changed, 0 destroyed`));
    reads = await readOutputs();
    // the data sources: what the resources made
    expect(reads).toMatchObject({
      web_state: 'available', web_ip: '10.0.1.4', web_eni_type: 'vpc_endpoint', consumer_enis: 2,
      gateway_by_filter: reads.gateway_endpoint_id, gateway_route_tables: 1, gateway_cidrs: ['100.125.0.8/29'],
      service_by_name: reads.service_id, service_by_filter: reads.service_id, service_acceptance: true, gateway_service_type: 'Gateway',
      prefix_list_id: 'pl-63a5400a', prefix_list_cidrs: ['100.125.0.8/29'], managed_prefix_list: 'com.amazonaws.us-east-1.s3',
      target_group_port: backend.port,
    });
    expect(reads.ingress_rule_id).toMatch(/^sgr-[0-9a-f]{17}$/);

    // accepted by the accepter: available, and real bytes pass from subnet a (its group's rule)
    const huawei = await new ApiClient(d.url, CONSUMER.token, CONSUMER.project_id).get(`/vpc-endpoints/${String(reads.web_endpoint_id)}`);
    expect(huawei.body).toMatchObject({ status: 'accepted', ip: '10.0.1.4' });
    const k = String(huawei.body.host_ip).split('.')[1];
    expect(await roundTrip(huawei.body.host_ip, listenerPort, `127.${k}.1.50`, 'accepted by terraform')).toBe('accepted by terraform');
    expect(await roundTrip(huawei.body.host_ip, listenerPort, `127.${k}.2.50`, 'outside the rule')).toMatch(/^(ECONNRESET|closed)$/);
    // the notification's topic was told of the acceptance
    await waitFor(() => notified.some((n) => n.eventType === 'Accept' && n.vpcEndpointId === reads.web_endpoint_id), 5_000, 'the Accept notification');
    const [n] = (await ec2.provider.send(new DescribeVpcEndpointConnectionNotificationsCommand({ ConnectionNotificationId: String(reads.notification_id) }))).ConnectionNotificationSet!;
    expect(n!.ConnectionEvents!.sort()).toEqual(['Accept', 'Reject']);
    // the verification was asked for: no TXT record is published, so it failed
    const [svc] = (await ec2.provider.send(new DescribeVpcEndpointServiceConfigurationsCommand({ ServiceIds: [String(reads.service_id)] }))).ServiceConfigurations!;
    expect(svc!.PrivateDnsNameConfiguration).toMatchObject({ State: 'failed', Type: 'TXT' });
    // the association replaced the public endpoint's default group
    const [pub] = (await ec2.consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [String(reads.public_endpoint_id)] }))).VpcEndpoints!;
    expect(pub!.Groups!.map((g) => g.GroupName)).toEqual(['two']);
  }, TF_STEP_MS);

  it('a second plan finds nothing to change', () => tf.planFindsNothing(), TF_STEP_MS);

  it('changed = true changes exactly what it says in place; a plan after it finds nothing', async () => {
    // the plan before just read everything back: no second refresh (each costs seconds of the provider's)
    const r = await tf.run(['apply', '-auto-approve', '-input=false', '-refresh=false', '-var', 'changed=true']);
    tf.expectCode(r, 0, 'apply -var changed=true');
    console.log(`terraform apply (changed): ${seconds(r)}`);
    expect(r.stdout).toMatch(new RegExp(`Apply complete! Resources: ${CHANGE.added} added, ${CHANGE.changed} changed, 0 destroyed`));
    const after = await readOutputs();
    expect(after).toMatchObject({ service_acceptance: false, gateway_route_tables: 2, ingress_rule_id: reads.ingress_rule_id, web_endpoint_id: reads.web_endpoint_id });
    const [web] = (await ec2.consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [String(reads.web_endpoint_id)] }))).VpcEndpoints!;
    expect(web!.Groups!.map((g) => g.GroupName).sort()).toEqual(['one', 'two']);
    expect(web!.Tags).toContainEqual({ Key: 'stage', Value: 'changed' });
    expect(JSON.parse(decodeURIComponent((await ec2.consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [String(reads.gateway_endpoint_id)] }))).VpcEndpoints![0]!.PolicyDocument!)).Statement[0].Action)
      .toEqual(['s3:GetObject', 's3:PutObject']);
    const [rule] = (await ec2.consumer.send(new DescribeSecurityGroupRulesCommand({ SecurityGroupRuleIds: [String(reads.ingress_rule_id)] }))).SecurityGroupRules!;
    expect(rule).toMatchObject({ FromPort: listenerPort, ToPort: listenerPort + 1, Description: 'subnet a, two ports', Tags: [{ Key: 'Name', Value: 'subnet-a-two-ports' }] });

    await tf.planFindsNothing(['-var', 'changed=true']);
  }, TF_STEP_MS);

  it('destroy leaves nothing of the stack the API can see', async () => {
    const r = await tf.run(['destroy', '-auto-approve', '-input=false', '-refresh=false', '-var', 'changed=true']);
    tf.expectCode(r, 0, 'destroy');
    console.log(`terraform destroy (${RESOURCES + CHANGE.added} resources): ${seconds(r)}`);
    expect(r.stdout).toMatch(new RegExp(`Destroy complete! Resources: ${RESOURCES + CHANGE.added} destroyed`));
    expect((await ec2.consumer.send(new DescribeVpcsCommand({}))).Vpcs ?? []).toEqual([]);
    expect((await ec2.consumer.send(new DescribeSecurityGroupsCommand({}))).SecurityGroups ?? []).toEqual([]);
    expect((await ec2.consumer.send(new DescribeRouteTablesCommand({}))).RouteTables ?? []).toEqual([]);
    expect(((await ec2.consumer.send(new DescribeVpcEndpointsCommand({}))).VpcEndpoints ?? []).filter((e) => e.State as string !== 'deleted')).toEqual([]);
    expect((await ec2.provider.send(new DescribeVpcEndpointServiceConfigurationsCommand({}))).ServiceConfigurations ?? []).toEqual([]);
    expect((await ec2.provider.send(new DescribeVpcEndpointConnectionNotificationsCommand({}))).ConnectionNotificationSet ?? []).toEqual([]);
    // what the test made beforehand goes too
    await elb.send(new DeleteListenerCommand({ ListenerArn: made.listener }));
    await elb.send(new DeleteLoadBalancerCommand({ LoadBalancerArn: made.lb }));
    await elb.send(new DeleteTargetGroupCommand({ TargetGroupArn: made.tg }));
    made.listener = undefined;
    await ec2.provider.send(new DeleteSubnetCommand({ SubnetId: made.subnet }));
    await ec2.provider.send(new DeleteVpcCommand({ VpcId: made.vpc }));
  }, TF_STEP_MS);
});

// The real aws CLI (botocore, Python: a client no one here wrote) against vpcepd on its one port,
// as the README's "The AWS API" tells a user to point it: --endpoint-url, credentials and region
// from the environment, no ~/.aws. CI installs Debian's awscli (.ci/run); elsewhere a missing aws
// skips these tests under a name that says why.
import { execFile, spawnSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  CreateSecurityGroupCommand, CreateSubnetCommand, CreateVpcCommand, CreateVpcEndpointCommand, CreateVpcEndpointServiceConfigurationCommand, DeleteVpcEndpointsCommand,
  DeleteVpcEndpointServiceConfigurationsCommand, DescribeSecurityGroupsCommand, EC2Client,
} from '@aws-sdk/client-ec2';
import {
  CreateListenerCommand, CreateLoadBalancerCommand, CreateTargetGroupCommand, DeleteLoadBalancerCommand, DeregisterTargetsCommand, ElasticLoadBalancingV2Client,
  ModifyTargetGroupAttributesCommand, RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMER, oneAccountConfig, PROVIDER, startTestDaemon, tempDir, twoAccountConfig, type TestDaemon } from '../helpers.js';
import { AWS_CLI } from './aws-sdk.js';

const run = promisify(execFile);
const HAVE_AWS = spawnSync(AWS_CLI, ['--version'], { stdio: 'ignore' }).status === 0;
const RUN = HAVE_AWS || process.env.CI === 'true';

const KEY = { id: 'AKIACLIPROVIDER00001', secret: 'cli-provider-secret' };

/** `aws <args> --endpoint-url <url> --output json` with credentials and region in the environment only */
async function aws(url: string, args: string[], key: { id: string; secret: string }, timeout = 20_000): Promise<{ code: number; stdout: string; stderr: string }> {
  const home = tempDir('vpcep-aws-home-');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '', HOME: home,
    AWS_ACCESS_KEY_ID: key.id, AWS_SECRET_ACCESS_KEY: key.secret, AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: path.join(home, 'none'), AWS_SHARED_CREDENTIALS_FILE: path.join(home, 'none'),
    AWS_MAX_ATTEMPTS: '1', AWS_PAGER: '',
  };
  try {
    const r = await run(AWS_CLI, [...args, '--endpoint-url', url, '--output', 'json'], { env, timeout });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

if (!RUN) {
  describe('the aws CLI', () => {
    it.skip('skipped: the aws CLI is not on PATH (install awscli; CI=true makes this test mandatory)', () => {});
  });
}

describe.runIf(RUN)('the aws CLI, lenient (one account, no key: any credentials act as it)', () => {
  let d: TestDaemon;
  beforeAll(async () => { d = await startTestDaemon(oneAccountConfig()); });
  afterAll(async () => { await d.stop(); });

  it('sts get-caller-identity', async () => {
    const r = await aws(d.url, ['sts', 'get-caller-identity'], { id: 'AKIAANYTHING', secret: 'anything' });
    expect(r.code, r.stderr).toBe(0);
    const id = d.daemon.control.awsIdOf('provider');
    expect(JSON.parse(r.stdout)).toEqual({ UserId: id, Account: id, Arn: `arn:aws:iam::${id}:root` });
  });

  it('ec2 describe-regions and describe-availability-zones', async () => {
    const key = { id: 'AKIAANYTHING', secret: 'anything' };
    const regions = await aws(d.url, ['ec2', 'describe-regions', '--all-regions'], key);
    expect(regions.code, regions.stderr).toBe(0);
    expect(JSON.parse(regions.stdout).Regions).toEqual([{ RegionName: 'us-east-1', Endpoint: 'ec2.us-east-1.amazonaws.com', OptInStatus: 'opt-in-not-required' }]);
    const zones = await aws(d.url, ['ec2', 'describe-availability-zones', '--filters', 'Name=zone-name,Values=us-east-1a,us-east-1c'], key);
    expect(zones.code, zones.stderr).toBe(0);
    expect(JSON.parse(zones.stdout).AvailabilityZones.map((z: { ZoneName: string; ZoneId: string }) => `${z.ZoneName} ${z.ZoneId}`))
      .toEqual(['us-east-1a use1-az1', 'us-east-1c use1-az3']);
  });

  it('--no-sign-request acts as the default account too', async () => {
    const r = await aws(d.url, ['ec2', 'describe-regions', '--no-sign-request'], { id: '', secret: '' });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).Regions).toHaveLength(1);
  });

  it('--dry-run answers DryRunOperation', async () => {
    const r = await aws(d.url, ['ec2', 'describe-regions', '--dry-run'], { id: 'AKIAANYTHING', secret: 'anything' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('(DryRunOperation)');
  });
});

// The stack is made through the SDK (a Python start of 1-3 s per aws call made this file the
// test run's costliest in CPU); the CLI runs what is under test: its waiters and paging.
describe.runIf(RUN)('the aws CLI scripting a stack: waiters, paging, malformed ids', () => {
  const key = { id: 'AKIAANYTHING', secret: 'anything' };
  let d: TestDaemon;
  let backend: net.Server;
  let ec2: EC2Client;
  let elb: ElasticLoadBalancingV2Client;
  beforeAll(async () => {
    d = await startTestDaemon(oneAccountConfig());
    backend = net.createServer((s) => s.end());
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    // a connection per call: between two calls an aws command may run past the API's keep-alive, and
    // a call on a kept connection the daemon is closing meets ECONNRESET (once in CI), which
    // maxAttempts 1 does not retry (as terraform-cli.ts's clients)
    const requestHandler = { httpAgent: new http.Agent({ keepAlive: false }) };
    const o = { region: 'us-east-1', endpoint: d.url, maxAttempts: 1, requestHandler, credentials: { accessKeyId: key.id, secretAccessKey: key.secret } };
    ec2 = new EC2Client(o);
    elb = new ElasticLoadBalancingV2Client(o);
  });
  afterAll(async () => {
    ec2?.destroy();
    elb?.destroy();
    await d.stop();
    await new Promise((resolve) => backend.close(resolve));
  });
  /** `aws <args>` that must succeed: its JSON */
  const ok = async (args: string[], timeout?: number) => {
    const r = await aws(d.url, args, key, timeout);
    expect(r.code, `aws ${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r.stdout.trim() ? JSON.parse(r.stdout) : null;
  };

  // botocore's waiters-2.json: each acceptor polls a Describe call; a waiter whose first poll
  // matches returns at once, else it sleeps its delay (15 s for most) before the next
  it('every ec2 and elbv2 waiter that applies returns on a stack a script made', async () => {
    const vpc = (await ec2.send(new CreateVpcCommand({ CidrBlock: '172.30.0.0/16' }))).Vpc!.VpcId!;
    await ok(['ec2', 'wait', 'vpc-available', '--vpc-ids', vpc]);
    await ok(['ec2', 'wait', 'vpc-exists', '--vpc-ids', vpc]);
    const subnet = (await ec2.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '172.30.1.0/24' }))).Subnet!.SubnetId!;
    await ok(['ec2', 'wait', 'subnet-available', '--subnet-ids', subnet]);
    const sg = (await ec2.send(new CreateSecurityGroupCommand({ VpcId: vpc, GroupName: 'web', Description: 'web' }))).GroupId!;
    await ok(['ec2', 'wait', 'security-group-exists', '--group-ids', sg]);
    await ok(['ec2', 'wait', 'security-group-exists', '--filters', `Name=vpc-id,Values=${vpc}`, 'Name=group-name,Values=default']);

    const lb = (await elb.send(new CreateLoadBalancerCommand({ Name: 'waited', Type: 'network', Scheme: 'internal', Subnets: [subnet] }))).LoadBalancers![0]!.LoadBalancerArn!;
    await ok(['elbv2', 'wait', 'load-balancer-exists', '--load-balancer-arns', lb]);
    await ok(['elbv2', 'wait', 'load-balancer-available', '--names', 'waited']);
    const port = (backend.address() as net.AddressInfo).port;
    const tg = (await elb.send(new CreateTargetGroupCommand({
      Name: 'waited', Protocol: 'TCP', Port: port, TargetType: 'ip', VpcId: vpc, HealthCheckIntervalSeconds: 5,
    }))).TargetGroups![0]!.TargetGroupArn!;
    await elb.send(new RegisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: '127.0.0.1', Port: port, AvailabilityZone: 'all' }] }));
    await elb.send(new CreateListenerCommand({ LoadBalancerArn: lb, Protocol: 'TCP', Port: 8000, DefaultActions: [{ Type: 'forward', TargetGroupArn: tg }] }));
    // targets are probed once a listener forwards to their group, before any endpoint service, as an
    // NLB's are (before, unused until an endpoint relayed: the waiter polled 40 times and failed).
    // The first health check of a real backend: healthy, perhaps one 15 s poll later.
    await ok(['elbv2', 'wait', 'target-in-service', '--target-group-arn', tg, '--targets', `Id=127.0.0.1,Port=${port}`], 60_000);
    const svc = (await ec2.send(new CreateVpcEndpointServiceConfigurationCommand({ NetworkLoadBalancerArns: [lb], AcceptanceRequired: false }))).ServiceConfiguration!;
    const vpce = (await ec2.send(new CreateVpcEndpointCommand({ VpcEndpointType: 'Interface', VpcId: vpc, ServiceName: svc.ServiceName, SubnetIds: [subnet] }))).VpcEndpoint!.VpcEndpointId!;
    await ec2.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [vpce] }));
    await ec2.send(new DeleteVpcEndpointServiceConfigurationsCommand({ ServiceIds: [svc.ServiceId!] }));
    await elb.send(new ModifyTargetGroupAttributesCommand({ TargetGroupArn: tg, Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: '0' }] }));
    await elb.send(new DeregisterTargetsCommand({ TargetGroupArn: tg, Targets: [{ Id: '127.0.0.1', Port: port }] }));
    await ok(['elbv2', 'wait', 'target-deregistered', '--target-group-arn', tg, '--targets', `Id=127.0.0.1,Port=${port}`]);
    await elb.send(new DeleteLoadBalancerCommand({ LoadBalancerArn: lb }));
    await ok(['elbv2', 'wait', 'load-balancers-deleted', '--load-balancer-arns', lb]);

    // a waiter's error acceptor: vpc-exists retries InvalidVpcID.NotFound (5 polls, 1 s apart), then gives up
    const gone = await aws(d.url, ['ec2', 'wait', 'vpc-exists', '--vpc-ids', 'vpc-0123456789abcdef0'], key);
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toContain('Max attempts exceeded');
    expect(gone.stderr).toContain('InvalidVpcID.NotFound');
  }, 180_000);

  it('--max-items with --starting-token walks every item once; --page-size and --no-paginate page on the server', async () => {
    const vpc = (await ec2.send(new CreateVpcCommand({ CidrBlock: '172.31.0.0/16' }))).Vpc!.VpcId!;
    const made: string[] = [];
    for (let i = 0; i < 6; i++) made.push((await ec2.send(new CreateSecurityGroupCommand({ VpcId: vpc, GroupName: `g${i}`, Description: 'paged' }))).GroupId!);
    const defaultGroup = (await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc] }, { Name: 'group-name', Values: ['default'] }] }))).SecurityGroups![0]!.GroupId!;
    const all = [...made, defaultGroup].sort();
    const inVpc = ['--filters', `Name=vpc-id,Values=${vpc}`];
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const page = await ok(['ec2', 'describe-security-groups', ...inVpc, '--max-items', '3', '--page-size', '5', ...(token ? ['--starting-token', token] : [])]);
      expect(page.SecurityGroups.length).toBeLessThanOrEqual(3);
      seen.push(...page.SecurityGroups.map((g: { GroupId: string }) => g.GroupId));
      token = page.NextToken;
    } while (token);
    expect(seen.sort()).toEqual(all);
    // the CLI walks the server's pages itself: all of them
    expect((await ok(['ec2', 'describe-security-groups', ...inVpc, '--page-size', '5'])).SecurityGroups).toHaveLength(7);
    // one server page and its token
    const first = await ok(['ec2', 'describe-security-groups', ...inVpc, '--no-paginate', '--max-results', '5']);
    expect(first.SecurityGroups).toHaveLength(5);
    const rest = await ok(['ec2', 'describe-security-groups', ...inVpc, '--no-paginate', '--max-results', '5', '--next-token', first.NextToken]);
    expect([...first.SecurityGroups, ...rest.SecurityGroups].map((g: { GroupId: string }) => g.GroupId).sort()).toEqual(all);
    expect(rest.NextToken).toBeUndefined();

    // ELBv2's Marker/PageSize behind the same options
    for (let i = 0; i < 3; i++) await elb.send(new CreateTargetGroupCommand({ Name: `paged-${i}`, Protocol: 'TCP', Port: 80, TargetType: 'ip', VpcId: vpc }));
    const names: string[] = [];
    token = undefined;
    do {
      const page = await ok(['elbv2', 'describe-target-groups', '--max-items', '2', ...(token ? ['--starting-token', token] : [])]);
      names.push(...page.TargetGroups.map((t: { TargetGroupName: string }) => t.TargetGroupName));
      token = page.NextToken;
    } while (token);
    expect(names.filter((n) => n.startsWith('paged-')).sort()).toEqual(['paged-0', 'paged-1', 'paged-2']);
    // ELBv2's own PageSize shadows the CLI's --page-size: one page of 2 and its NextMarker; the CLI
    // turns its paging off without a word (its "manual pagination arg" line is --debug's only)
    const one = await aws(d.url, ['elbv2', 'describe-target-groups', '--page-size', '2'], key);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stderr).not.toContain('pagination');
    expect(JSON.parse(one.stdout)).toEqual({ TargetGroups: [expect.anything(), expect.anything()], NextMarker: expect.any(String) });
    const text = await aws(d.url, ['ec2', 'describe-security-groups', ...inVpc, '--query', 'length(SecurityGroups)'], key);
    expect(text.stdout.trim()).toBe('7');
  }, 180_000);

  it('an id that cannot be of its kind is Malformed, one of the right shape NotFound', async () => {
    const malformed = await aws(d.url, ['ec2', 'describe-vpc-endpoints', '--vpc-endpoint-ids', 'vpce-xyz'], key);
    expect(malformed.stderr).toContain('(InvalidVpcEndpointId.Malformed)');
    const missing = await aws(d.url, ['ec2', 'describe-vpc-endpoints', '--vpc-endpoint-ids', 'vpce-0123456789abcdef0'], key);
    expect(missing.stderr).toContain('(InvalidVpcEndpointId.NotFound)');
    const group = await aws(d.url, ['ec2', 'describe-security-groups', '--group-ids', 'sg-xyz'], key);
    expect(group.stderr).toContain('(InvalidGroupId.Malformed)');
  });
});

describe.runIf(RUN)('the aws CLI, verify (accounts[].aws keys configured)', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon(twoAccountConfig({
      accounts: [{ ...PROVIDER, aws: { account_id: '111111111111', access_key_id: KEY.id, secret_access_key: KEY.secret } }, CONSUMER],
    }));
  });
  afterAll(async () => { await d.stop(); });

  it('the configured key is its account; a wrong secret and an unknown key are refused by code', async () => {
    const ok = await aws(d.url, ['sts', 'get-caller-identity'], KEY);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).Account).toBe('111111111111');
    const wrong = await aws(d.url, ['ec2', 'describe-regions'], { id: KEY.id, secret: 'not-the-secret' });
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain('(SignatureDoesNotMatch)');
    const unknown = await aws(d.url, ['ec2', 'describe-availability-zones'], { id: 'AKIAUNKNOWN000000000', secret: 'whatever' });
    expect(unknown.stderr).toContain('(AuthFailure)');
    const sts = await aws(d.url, ['sts', 'get-caller-identity'], { id: 'AKIAUNKNOWN000000000', secret: 'whatever' });
    expect(sts.stderr).toContain('(InvalidClientTokenId)');
    const unsigned = await aws(d.url, ['ec2', 'describe-regions', '--no-sign-request'], { id: '', secret: '' });
    expect(unsigned.stderr).toContain('(MissingAuthenticationToken)');
  });
});

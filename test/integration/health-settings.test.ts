// Health-check settings through both dialects against a real daemon: a target group's through the
// ELBv2 API (AWS SDK v3 client), a port-backed service's through the Huawei API, the config's
// daemon-wide default; out of AWS's ranges each is refused in the dialect's shape, nothing changed.
import {
  CreateTargetGroupCommand, DescribeTargetGroupAttributesCommand, DescribeTargetGroupsCommand, ElasticLoadBalancingV2Client,
  ModifyTargetGroupAttributesCommand, ModifyTargetGroupCommand, type CreateTargetGroupCommandInput, type ModifyTargetGroupCommandInput,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVICE_BODY, startTestDaemon, twoAccountConfig, type TestDaemon } from '../helpers.js';
import { AWS_KEYS, refused } from './aws-sdk.js';

const K = AWS_KEYS.provider;
let d: TestDaemon;
let elb: ElasticLoadBalancingV2Client;

beforeAll(async () => {
  const base = twoAccountConfig({ dataplane: { health_check: { interval: 20, timeout: 4, healthy_threshold: 3 } } });
  const accounts = (base.accounts as Array<Record<string, unknown>>).map((a) => (a.name === 'provider' ? { ...a, aws: K } : a));
  d = await startTestDaemon({ ...base, accounts });
  elb = new ElasticLoadBalancingV2Client({
    endpoint: d.url, region: 'us-east-1', maxAttempts: 1, credentials: { accessKeyId: K.access_key_id, secretAccessKey: K.secret_access_key },
  });
});
afterAll(async () => {
  elb?.destroy();
  await d?.stop();
});

const HEALTH_FIELDS = ['HealthCheckProtocol', 'HealthCheckPort', 'HealthCheckEnabled', 'HealthCheckIntervalSeconds', 'HealthCheckTimeoutSeconds', 'HealthyThresholdCount', 'UnhealthyThresholdCount'] as const;

async function healthOf(arn: string): Promise<Record<string, unknown>> {
  const tg = (await elb.send(new DescribeTargetGroupsCommand({ TargetGroupArns: [arn] }))).TargetGroups![0]!;
  return Object.fromEntries(HEALTH_FIELDS.map((f) => [f, tg[f]]));
}

const create = (name: string, extra: Partial<CreateTargetGroupCommandInput> = {}) =>
  elb.send(new CreateTargetGroupCommand({ Name: name, Protocol: 'TCP', Port: 8080, VpcId: 'vpc-app', TargetType: 'ip', ...extra }));

describe('ELBv2 target-group health checks', () => {
  it('stores AWS\'s defaults, or the settings given, and shows them in DescribeTargetGroups', async () => {
    const plain = (await create('hc-plain')).TargetGroups![0]!;
    expect(await healthOf(plain.TargetGroupArn!)).toEqual({
      HealthCheckProtocol: 'TCP', HealthCheckPort: 'traffic-port', HealthCheckEnabled: true,
      HealthCheckIntervalSeconds: 30, HealthCheckTimeoutSeconds: 10, HealthyThresholdCount: 5, UnhealthyThresholdCount: 2,
    });
    const set = (await create('hc-set', {
      HealthCheckProtocol: 'TCP', HealthCheckPort: '9090', HealthCheckIntervalSeconds: 10, HealthCheckTimeoutSeconds: 3,
      HealthyThresholdCount: 2, UnhealthyThresholdCount: 3,
    })).TargetGroups![0]!;
    expect(await healthOf(set.TargetGroupArn!)).toEqual({
      HealthCheckProtocol: 'TCP', HealthCheckPort: '9090', HealthCheckEnabled: true,
      HealthCheckIntervalSeconds: 10, HealthCheckTimeoutSeconds: 3, HealthyThresholdCount: 2, UnhealthyThresholdCount: 3,
    });
    // an interval at the default timeout, no timeout given: one second under the interval
    const short = (await create('hc-short', { HealthCheckIntervalSeconds: 5 })).TargetGroups![0]!;
    expect(short.HealthCheckTimeoutSeconds).toBe(4);
  });

  it('refuses out-of-range settings, HTTP checks and disabled checks with a ValidationError (400), creating nothing', async () => {
    const bad: Array<[Partial<CreateTargetGroupCommandInput>, RegExp]> = [
      [{ HealthCheckIntervalSeconds: 4 }, /HealthCheckIntervalSeconds.*5 to 300/],
      [{ HealthCheckIntervalSeconds: 301 }, /5 to 300/],
      [{ HealthCheckTimeoutSeconds: 1 }, /2 to 120/],
      [{ HealthyThresholdCount: 11 }, /2 to 10/],
      [{ UnhealthyThresholdCount: 1 }, /2 to 10/],
      [{ HealthCheckIntervalSeconds: 10, HealthCheckTimeoutSeconds: 10 }, /less than interval/],
      [{ HealthCheckProtocol: 'HTTP', HealthCheckPath: '/' }, /TCP health checks only/],
      [{ HealthCheckProtocol: 'HTTPS' }, /TCP health checks only/],
      [{ HealthCheckPort: '0' }, /HealthCheckPort/],
      [{ HealthCheckPort: 'tcp' }, /HealthCheckPort/],
      [{ HealthCheckEnabled: false }, /cannot be disabled/],
    ];
    for (const [params, message] of bad) {
      const e = await refused(create('hc-bad', params));
      expect([e.code, e.status], JSON.stringify(params)).toEqual(['ValidationError', 400]);
      expect(e.message).toMatch(message);
    }
    // a path or a matcher, which only HTTP and HTTPS checks take: AWS's InvalidConfigurationRequest (they were stored, unused)
    for (const [params, message] of [
      [{ HealthCheckPath: '/healthz' }, 'Health check paths are not supported for TCP health checks'],
      [{ Matcher: { HttpCode: '200' } }, 'Health check matchers are not supported for TCP health checks'],
    ] as Array<[Partial<CreateTargetGroupCommandInput>, string]>) {
      const e = await refused(create('hc-bad', params));
      // the SDK names the model's shape: InvalidConfigurationRequestException (code InvalidConfigurationRequest)
      expect([e.code, e.status, e.message], JSON.stringify(params)).toEqual(['InvalidConfigurationRequestException', 400, message]);
    }
    const names = (await elb.send(new DescribeTargetGroupsCommand({}))).TargetGroups!.map((t) => t.TargetGroupName);
    expect(names).not.toContain('hc-bad');
  });

  it('ModifyTargetGroup changes the settings given; a bad one changes nothing', async () => {
    const tg = (await create('hc-mod')).TargetGroups![0]!;
    const arn = tg.TargetGroupArn!;
    const modify = (p: Partial<ModifyTargetGroupCommandInput>) => elb.send(new ModifyTargetGroupCommand({ TargetGroupArn: arn, ...p }));
    const out = (await modify({ HealthCheckIntervalSeconds: 15, HealthyThresholdCount: 3 })).TargetGroups![0]!;
    expect([out.HealthCheckIntervalSeconds, out.HealthyThresholdCount, out.HealthCheckTimeoutSeconds]).toEqual([15, 3, 10]);
    const before = await healthOf(arn);
    for (const p of [{ HealthCheckIntervalSeconds: 10 }, { HealthCheckTimeoutSeconds: 200 }, { HealthCheckProtocol: 'HTTP' }, { UnhealthyThresholdCount: 0 }] as Array<Partial<ModifyTargetGroupCommandInput>>) {
      const e = await refused(modify(p));
      expect([e.code, e.status], JSON.stringify(p)).toEqual(['ValidationError', 400]);
    }
    expect(await healthOf(arn)).toEqual(before);
    expect(await refused(modify({ HealthCheckPath: '/other' }))).toMatchObject({ code: 'InvalidConfigurationRequestException', status: 400 });
    expect((await elb.send(new DescribeTargetGroupsCommand({ TargetGroupArns: [arn] }))).TargetGroups![0]!.HealthCheckPath).toBeUndefined();
    const other = await refused(elb.send(new ModifyTargetGroupCommand({ TargetGroupArn: arn.replace(/\/[0-9a-f]{16}$/, '/0123456789abcdef'), HealthCheckIntervalSeconds: 20 })));
    expect(other.code).toMatch(/^TargetGroupNotFound/);
  });

  it('checks deregistration_delay.timeout_seconds against 0-3600', async () => {
    const arn = (await create('hc-dereg')).TargetGroups![0]!.TargetGroupArn!;
    const set = (v: string) => elb.send(new ModifyTargetGroupAttributesCommand({ TargetGroupArn: arn, Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: v }] }));
    await set('0');
    await set('3600');
    for (const v of ['3601', '-1', '30s', '']) {
      const e = await refused(set(v));
      expect([e.code, e.status], v).toEqual(['ValidationError', 400]);
    }
    const attrs = (await elb.send(new DescribeTargetGroupAttributesCommand({ TargetGroupArn: arn }))).Attributes!;
    expect(attrs.find((a) => a.Key === 'deregistration_delay.timeout_seconds')?.Value).toBe('3600');
  });
});

describe('Huawei API: a port-backed service\'s health_check (vpcep-sim\'s extension)', () => {
  it('takes health_check on create over the config\'s default and shows it; a service without one shows none', async () => {
    const r = await d.provider.post('/vpc-endpoint-services', { ...SERVICE_BODY, service_name: 'hc1', health_check: { interval: 10, unhealthy_threshold: 4 } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    // the config's default gives timeout 4 and healthy_threshold 3
    expect(r.body.health_check).toEqual({ interval: 10, timeout: 4, healthy_threshold: 3, unhealthy_threshold: 4 });
    expect((await d.provider.get(`/vpc-endpoint-services/${r.body.id}`)).body.health_check).toEqual(r.body.health_check);
    const plain = await d.provider.post('/vpc-endpoint-services', { ...SERVICE_BODY, service_name: 'hc2', ports: [{ client_port: 81, server_port: 8080, protocol: 'TCP' }] });
    expect(plain.status, JSON.stringify(plain.body)).toBe(200);
    expect(plain.body.health_check).toBeUndefined();
  });

  it('refuses settings out of range, a timeout not under the interval and unknown keys: EndPoint.0002, nothing changed', async () => {
    const bads = [{ interval: 4 }, { timeout: 121 }, { healthy_threshold: 1 }, { unhealthy_threshold: 2.5 }, { interval: 10, timeout: 10 }, { interval: '10' }, { period: 10 }];
    const before = (await d.provider.get('/vpc-endpoint-services')).body.endpoint_services.length;
    for (const health_check of bads) {
      const r = await d.provider.post('/vpc-endpoint-services', { ...SERVICE_BODY, service_name: 'hcbad', ports: [{ client_port: 82, server_port: 8080, protocol: 'TCP' }], health_check });
      expect([r.status, r.body.error_code], JSON.stringify(health_check)).toEqual([400, 'EndPoint.0002']);
      expect(r.body.error_msg).toMatch(/health_check/);
    }
    expect((await d.provider.get('/vpc-endpoint-services')).body.endpoint_services.length).toBe(before);

    const svc = (await d.provider.post('/vpc-endpoint-services', { ...SERVICE_BODY, service_name: 'hc3', ports: [{ client_port: 83, server_port: 8080, protocol: 'TCP' }] })).body;
    const put = (health_check: unknown) => d.provider.put(`/vpc-endpoint-services/${svc.id}`, { health_check });
    const ok = await put({ interval: 60, timeout: 20 });
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(ok.body.health_check).toEqual({ interval: 60, timeout: 20, healthy_threshold: 3, unhealthy_threshold: 2 });
    for (const health_check of [...bads, { interval: 10 }]) {
      const r = await put(health_check);
      expect([r.status, r.body.error_code], JSON.stringify(health_check)).toEqual([400, 'EndPoint.0002']);
    }
    expect((await d.provider.get(`/vpc-endpoint-services/${svc.id}`)).body.health_check).toEqual(ok.body.health_check);
  });
});

// The AWS dialect's front door against a real daemon over real HTTP, driven by the AWS SDK v3
// (clients no one here wrote): SigV4 in verify and lenient mode, the error shapes, DryRun, the
// unknown actions, malformed forms, and the Huawei API answering on the same port.
import { CreateTagsCommand, CreateVpcCommand, DeleteTagsCommand, DeleteVpcCommand, DescribeAccountAttributesCommand, DescribeAvailabilityZonesCommand, DescribeRegionsCommand, DescribeTagsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { DescribeLoadBalancersCommand, DescribeSSLPoliciesCommand, ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMER, metricValue, NodeSha256, oneAccountConfig, PROVIDER, scrapeMetrics, spawnDaemon, startTestDaemon, twoAccountConfig, waitFor, type ChildDaemon, type TestDaemon } from '../helpers.js';

const KEY_PROVIDER = { accessKeyId: 'AKIAPROVIDER00000001', secretAccessKey: 'provider-aws-secret-key' };
const KEY_CONSUMER = { accessKeyId: 'AKIACONSUMER00000001', secretAccessKey: 'consumer-aws-secret-key' };
const ANY_KEY = { accessKeyId: 'AKIAANYTHING', secretAccessKey: 'anything-goes' };

function verifyConfig(): Record<string, unknown> {
  return twoAccountConfig({
    accounts: [
      { ...PROVIDER, aws: { account_id: '111111111111', access_key_id: KEY_PROVIDER.accessKeyId, secret_access_key: KEY_PROVIDER.secretAccessKey } },
      { ...CONSUMER, aws: { account_id: '222222222222', access_key_id: KEY_CONSUMER.accessKeyId, secret_access_key: KEY_CONSUMER.secretAccessKey } },
    ],
  });
}

type Credentials = { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
// maxAttempts 1: the SDK retries clock-skew and 5xx errors, which would hide what the daemon answered
const clientConfig = (url: string, credentials: Credentials, extra: Record<string, unknown> = {}) => ({ endpoint: url, region: 'us-east-1', credentials, maxAttempts: 1, ...extra });
const sts = (url: string, c: Credentials, extra?: Record<string, unknown>) => new STSClient(clientConfig(url, c, extra));
const ec2 = (url: string, c: Credentials, extra?: Record<string, unknown>) => new EC2Client(clientConfig(url, c, extra));
const elbv2 = (url: string, c: Credentials, extra?: Record<string, unknown>) => new ElasticLoadBalancingV2Client(clientConfig(url, c, extra));

/** the error the SDK threw: its name (the AWS code), HTTP status and request id */
async function failure(p: Promise<unknown>): Promise<{ code: string; status: number | undefined; requestId: string | undefined; message: string }> {
  try {
    await p;
  } catch (e) {
    const err = e as { name: string; message: string; $metadata?: { httpStatusCode?: number; requestId?: string } };
    return { code: err.name, status: err.$metadata?.httpStatusCode, requestId: err.$metadata?.requestId, message: err.message };
  }
  throw new Error('expected the call to fail');
}

/** a form POST to / signed for `service` with `credentials` (none: unsigned) */
async function post(url: string, form: string, o: { service?: string; credentials?: Credentials; contentType?: string } = {}): Promise<{ status: number; text: string; headers: Headers }> {
  const u = new URL(url);
  let headers: Record<string, string> = { host: u.host, 'content-type': o.contentType ?? 'application/x-www-form-urlencoded; charset=utf-8' };
  if (o.credentials) {
    const signer = new SignatureV4({ credentials: o.credentials, region: 'us-east-1', service: o.service ?? 'ec2', sha256: NodeSha256 });
    const signed = await signer.sign(new HttpRequest({ method: 'POST', protocol: 'http:', hostname: u.hostname, port: Number(u.port), path: '/', headers, body: form }));
    headers = signed.headers as Record<string, string>;
  }
  delete headers.host;
  const res = await fetch(`${url}/`, { method: 'POST', headers, body: form });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

/** writes `request` on a new connection and reads the answer until the daemon closes it */
async function rawExchange(url: string, request: string): Promise<string> {
  const u = new URL(url);
  const sock = net.connect({ host: u.hostname, port: Number(u.port) });
  let data = '';
  sock.on('data', (b) => { data += b; }).on('error', () => {});
  const closed = new Promise((resolve) => sock.once('close', resolve));
  await new Promise((resolve) => sock.once('connect', resolve));
  sock.write(request);
  await closed;
  return data;
}

describe('AWS API, lenient (one account, no key configured)', () => {
  let d: TestDaemon;
  beforeAll(async () => { d = await startTestDaemon(oneAccountConfig()); });
  afterAll(async () => { await d.stop(); });

  it('a session token is taken in lenient mode, as any credentials are', async () => {
    const r = await sts(d.url, { ...ANY_KEY, sessionToken: 'any-session-token' }).send(new GetCallerIdentityCommand({}));
    expect(r.Account).toBe(d.daemon.control.awsIdOf('provider'));
  });

  it('STS GetCallerIdentity: any credentials act as the first account, request id in the header', async () => {
    const r = await sts(d.url, ANY_KEY).send(new GetCallerIdentityCommand({}));
    const id = d.daemon.control.awsIdOf('provider');
    expect(id).toMatch(/^\d{12}$/);
    expect({ Account: r.Account, Arn: r.Arn, UserId: r.UserId }).toEqual({ Account: id, Arn: `arn:aws:iam::${id}:root`, UserId: id });
    expect(r.$metadata.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('EC2 DescribeRegions, DescribeAvailabilityZones and DescribeAccountAttributes answer the one region', async () => {
    const c = ec2(d.url, ANY_KEY);
    const regions = await c.send(new DescribeRegionsCommand({ AllRegions: true }));
    expect(regions.Regions).toEqual([{ RegionName: 'us-east-1', Endpoint: 'ec2.us-east-1.amazonaws.com', OptInStatus: 'opt-in-not-required' }]);
    expect((await c.send(new DescribeRegionsCommand({ Filters: [{ Name: 'region-name', Values: ['eu-*'] }] }))).Regions).toEqual([]);
    const zones = await c.send(new DescribeAvailabilityZonesCommand({}));
    expect(zones.AvailabilityZones!.map((z) => [z.ZoneName, z.ZoneId, z.State, z.RegionName])).toEqual([
      ['us-east-1a', 'use1-az1', 'available', 'us-east-1'],
      ['us-east-1b', 'use1-az2', 'available', 'us-east-1'],
      ['us-east-1c', 'use1-az3', 'available', 'us-east-1'],
    ]);
    const one = await c.send(new DescribeAvailabilityZonesCommand({ Filters: [{ Name: 'zone-id', Values: ['use1-az2'] }] }));
    expect(one.AvailabilityZones!.map((z) => z.ZoneName)).toEqual(['us-east-1b']);
    expect(await failure(c.send(new DescribeAvailabilityZonesCommand({ ZoneNames: ['us-west-2a'] })))).toMatchObject({ code: 'InvalidParameterValue', status: 400 });
    expect(await failure(c.send(new DescribeRegionsCommand({ Filters: [{ Name: 'no-such-filter', Values: ['x'] }] })))).toMatchObject({ code: 'InvalidParameterValue', status: 400 });
    const attrs = await c.send(new DescribeAccountAttributesCommand({ AttributeNames: ['supported-platforms', 'default-vpc'] }));
    expect(attrs.AccountAttributes).toEqual([
      { AttributeName: 'supported-platforms', AttributeValues: [{ AttributeValue: 'VPC' }] },
      { AttributeName: 'default-vpc', AttributeValues: [{ AttributeValue: 'none' }] },
    ]);
  });

  it('DryRun answers DryRunOperation (412) after the action is found', async () => {
    const e = await failure(ec2(d.url, ANY_KEY).send(new DescribeRegionsCommand({ DryRun: true })));
    expect(e).toMatchObject({ code: 'DryRunOperation', status: 412, message: 'Request would have succeeded, but DryRun flag is set.' });
    expect(e.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('an unknown action is InvalidAction (400) in each API\'s shape', async () => {
    const r = await post(d.url, 'Action=LaunchRockets&Version=2016-11-15', { credentials: ANY_KEY });
    expect(r.status).toBe(400);
    expect(r.headers.get('content-type')).toMatch(/^text\/xml/);
    const requestId = r.headers.get('x-amzn-requestid');
    expect(r.text).toContain('<Response><Errors><Error><Code>InvalidAction</Code><Message>The action LaunchRockets is not valid for this web service.</Message></Error></Errors>');
    expect(r.text).toContain(`<RequestID>${requestId}</RequestID>`);
    const s = await post(d.url, 'Action=AssumeRole&Version=2011-06-15', { credentials: ANY_KEY, service: 'sts' });
    expect(s.status).toBe(400);
    expect(s.text).toMatch(/<ErrorResponse xmlns="https:\/\/sts.amazonaws.com\/doc\/2011-06-15\/"><Error><Type>Sender<\/Type><Code>InvalidAction<\/Code>/);
    // an ELBv2 action vpcep-sim does not implement (TLS policies: its listeners are TCP): the SDK reads the code all the same
    expect(await failure(elbv2(d.url, ANY_KEY).send(new DescribeSSLPoliciesCommand({})))).toMatchObject({ code: 'InvalidAction', status: 400 });
    // the API request counter names AWS actions (its route is `/` for every one), unknown ones as one series
    expect(await metricValue(d.url, 'vpcep_api_requests_total', { method: 'POST', route: 'ec2:unknown', code: '400' })).toBeGreaterThanOrEqual(1);
    expect(await metricValue(d.url, 'vpcep_api_requests_total', { method: 'POST', route: 'sts:unknown', code: '400' })).toBeGreaterThanOrEqual(1);
    const samples = (await scrapeMetrics(d.url)).filter((x) => x.name === 'vpcep_api_requests_total');
    expect(samples.some((x) => x.labels.route === 'sts:GetCallerIdentity' && x.labels.code === '200')).toBe(true);
    expect(samples.some((x) => /LaunchRockets|AssumeRole/.test(x.labels.route ?? ''))).toBe(false);
  });

  it('malformed forms: always a 4xx in XML, never a 500', async () => {
    const cases: Array<[string, string, number, string]> = [
      ['no Action', 'Version=2016-11-15', 400, 'MissingParameter'],
      ['an empty body', '', 400, 'MissingParameter'],
      ['a bad percent escape', 'Action=DescribeRegions&Version=2016-11-15&RegionName.1=%zz', 400, 'InvalidParameterValue'],
      ['a list index of 0', 'Action=DescribeRegions&Version=2016-11-15&RegionName.0=x', 400, 'InvalidParameterValue'],
      ['a value and a list under one name', 'Action=DescribeRegions&Version=2016-11-15&RegionName=a&RegionName.1=b', 400, 'InvalidParameterValue'],
      ['a bad DryRun', 'Action=DescribeRegions&Version=2016-11-15&DryRun=maybe', 400, 'InvalidParameterValue'],
      ['another Version', 'Action=DescribeRegions&Version=2014-01-01', 400, 'NoSuchVersion'],
      ['Action twice', 'Action=DescribeRegions&Action=DescribeRegions&Version=2016-11-15', 400, 'InvalidParameterValue'],
      ['an Action of the prototype', 'Action=constructor&Version=2016-11-15', 400, 'InvalidAction'],
    ];
    for (const [what, form, status, code] of cases) {
      const r = await post(d.url, form, { credentials: ANY_KEY });
      expect(r.status, what).toBe(status);
      expect(r.text, what).toContain(`<Code>${code}</Code>`);
      expect(r.headers.get('content-type'), what).toMatch(/^text\/xml/);
    }
    const json = await post(d.url, '{"Action":"DescribeRegions"}', { credentials: ANY_KEY, contentType: 'application/json' });
    expect(json.status).toBe(415);
    expect(json.text).toContain('<Code>UnsupportedMediaType</Code>');
    const big = await post(d.url, `Action=DescribeRegions&Version=2016-11-15&RegionName.1=${'x'.repeat(2 * 1024 * 1024)}`, { credentials: ANY_KEY });
    expect(big.status).toBe(413);
    expect(big.text).toContain('<Code>RequestEntityTooLarge</Code>');
  });

  it('a parameter AWS\'s API does not have for the action is refused (EC2 UnknownParameter, ELBv2 and STS ValidationError, 400), changing nothing; one AWS has is taken', async () => {
    const EC2 = 'Version=2016-11-15';
    const ELB = 'Version=2015-12-01';
    const control = d.daemon.control;
    // one AWS has and vpcep-sim does not act on (Terraform's aws_vpc sends it): taken
    const made = await post(d.url, `Action=CreateVpc&${EC2}&CidrBlock=10.77.0.0%2F16&InstanceTenancy=default`, { credentials: ANY_KEY });
    expect(made.status, made.text).toBe(200);
    const vpc = /<vpcId>([^<]+)<\/vpcId>/.exec(made.text)![1]!;
    const cases: Array<[string, string, string, string]> = [
      ['ec2', `Action=CreateSubnet&${EC2}&VpcId=${vpc}&CidrBlock=10.77.1.0%2F24&VpcIdd=${vpc}`, 'UnknownParameter', 'The parameter VpcIdd is not recognized'],
      // a list or a structure under a name AWS has not: its top-level name is the one refused
      ['ec2', `Action=CreateSubnet&${EC2}&VpcId=${vpc}&CidrBlock=10.77.1.0%2F24&SubnetIdd.1=x`, 'UnknownParameter', 'The parameter SubnetIdd is not recognized'],
      ['ec2', `Action=CreateSubnet&${EC2}&VpcId=${vpc}&CidrBlock=10.77.1.0%2F24&Tags.1.Key=k`, 'UnknownParameter', 'The parameter Tags is not recognized'],
      // DryRun is AWS's where the action has it: ModifyVpcAttribute has not
      ['ec2', `Action=ModifyVpcAttribute&${EC2}&VpcId=${vpc}&EnableDnsHostnames.Value=true&DryRun=true`, 'UnknownParameter', 'The parameter DryRun is not recognized'],
      ['elasticloadbalancing', `Action=CreateTargetGroup&${ELB}&Name=tg-unk&Protocol=TCP&Port=80&VpcId=${vpc}&TargetType=ip&VpcIdd=${vpc}`, 'ValidationError', 'The parameter VpcIdd is not recognized'],
      ['elasticloadbalancing', `Action=CreateTargetGroup&${ELB}&Name=tg-unk&Protocol=TCP&Port=80&VpcId=${vpc}&TargetType=ip&Tag.member.1.Key=k`, 'ValidationError', 'The parameter Tag is not recognized'],
      ['sts', 'Action=GetCallerIdentity&Version=2011-06-15&RoleArn=x', 'ValidationError', 'The parameter RoleArn is not recognized'],
    ];
    for (const [service, form, code, message] of cases) {
      const before = control.revision;
      const r = await post(d.url, form, { credentials: ANY_KEY, service });
      expect(r.status, form).toBe(400);
      expect(r.headers.get('content-type'), form).toMatch(/^text\/xml/);
      expect(r.text, form).toContain(service === 'ec2'
        ? `<Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors>`
        : `<Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error>`);
      expect(control.revision, form).toBe(before);
    }
    const subnets = await post(d.url, `Action=DescribeSubnets&${EC2}&Filter.1.Name=vpc-id&Filter.1.Value.1=${vpc}`, { credentials: ANY_KEY });
    expect(subnets.text).not.toContain('<subnetId>');
    const groups = await post(d.url, `Action=DescribeTargetGroups&${ELB}&Names.member.1=tg-unk`, { credentials: ANY_KEY, service: 'elasticloadbalancing' });
    expect(groups.text).toContain('<Code>TargetGroupNotFound</Code>');
    // the same requests without the misspelt name are taken: the name alone was refused
    expect((await post(d.url, `Action=CreateSubnet&${EC2}&VpcId=${vpc}&CidrBlock=10.77.1.0%2F24`, { credentials: ANY_KEY })).status).toBe(200);
    const tg = await post(d.url, `Action=CreateTargetGroup&${ELB}&Name=tg-unk&Protocol=TCP&Port=80&VpcId=${vpc}&TargetType=ip`, { credentials: ANY_KEY, service: 'elasticloadbalancing' });
    expect(tg.status, tg.text).toBe(200);
  });

  it('a request node:http refuses before any route (headers too large, a malformed length) answers in XML when it speaks AWS', async () => {
    const signed = 'Authorization: AWS4-HMAC-SHA256 Credential=AKIAANYTHING/20261206/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0\r\n';
    const form = 'Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\n';
    const cases: Array<[string, string, number, RegExp]> = [
      ['signed, headers over the limit', `POST / HTTP/1.1\r\nHost: vpcepd\r\n${signed}X-Padding: ${'p'.repeat(70 * 1024)}\r\n\r\n`, 431, /<Code>RequestHeaderFieldsTooLarge<\/Code>/],
      ['Action= in the query, headers over the limit', `GET /?Action=DescribeRegions HTTP/1.1\r\nHost: vpcepd\r\nX-Padding: ${'p'.repeat(70 * 1024)}\r\n\r\n`, 431, /<Code>RequestHeaderFieldsTooLarge<\/Code>/],
      ['a form with a Content-Length of letters', `POST / HTTP/1.1\r\nHost: vpcepd\r\n${form}Content-Length: abc\r\n\r\n`, 400, /<Code>InvalidParameterValue<\/Code><Message>malformed HTTP request/],
      ['a form with both Content-Length and chunked', `POST / HTTP/1.1\r\nHost: vpcepd\r\n${form}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400, /<Code>InvalidParameterValue<\/Code>/],
    ];
    for (const [what, request, status, code] of cases) {
      // they were answered in the Huawei API's JSON, which an AWS SDK cannot read
      const [head, body] = (await rawExchange(d.url, request)).split('\r\n\r\n');
      expect(head, what).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
      expect(head, what).toMatch(/Content-Type: text\/xml/i);
      expect(body, what).toMatch(code);
    }
    // the Huawei API's own keep its shape
    const [head, body] = (await rawExchange(d.url, `GET /v1/x/vpc-endpoints HTTP/1.1\r\nHost: vpcepd\r\nX-Auth-Token: t\r\nX-Padding: ${'p'.repeat(70 * 1024)}\r\n\r\n`)).split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 431 /);
    expect(JSON.parse(body!).error_code).toMatch(/^EndPoint\./);
  });

  it('an AWS answer written outside fastify (headers too large, a malformed length, a bad Host, an Expect) carries x-amzn-requestid with the body\'s request id (it was in the body only)', async () => {
    const form = 'Content-Type: application/x-www-form-urlencoded\r\n';
    const cases: Array<[string, string, number]> = [
      ['headers over the limit', `POST / HTTP/1.1\r\nHost: vpcepd\r\n${form}X-Big: ${'a'.repeat(20_000)}\r\nContent-Length: 21\r\n\r\nAction=DescribeRegions`, 431],
      ['a Content-Length of letters', `POST / HTTP/1.1\r\nHost: vpcepd\r\n${form}Content-Length: abc\r\n\r\n`, 400],
      ['a bad Host', `POST / HTTP/1.1\r\nHost: bad host\r\n${form}Content-Length: 21\r\n\r\nAction=DescribeRegions`, 400],
      ['two Hosts', `POST / HTTP/1.1\r\nHost: a\r\nHost: b\r\n${form}Content-Length: 21\r\n\r\nAction=DescribeRegions`, 400],
      ['an Expect other than 100-continue', `POST / HTTP/1.1\r\nHost: vpcepd\r\n${form}Expect: 200-ok\r\nContent-Length: 21\r\n\r\nAction=DescribeRegions`, 417],
    ];
    for (const [what, request, status] of cases) {
      const [head, body] = (await rawExchange(d.url, request)).split('\r\n\r\n');
      expect(head, what).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
      const inBody = /<RequestID>([^<]+)<\/RequestID>/.exec(body!)?.[1];
      expect(inBody, what).toBeDefined();
      expect(/^x-amzn-requestid: (.+)$/im.exec(head!)?.[1], what).toBe(inBody);
    }
    // in the shape of the API the head claims: ELBv2's and STS's ErrorResponse (they were EC2's Response whatever the API)
    const scoped = (service: string) => `Authorization: AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20261207/us-east-1/${service}/aws4_request, SignedHeaders=host, Signature=00\r\n`;
    for (const service of ['elasticloadbalancing', 'sts']) {
      for (const [what, request, status] of [
        ['an Expect', `POST / HTTP/1.1\r\nHost: vpcepd\r\n${form}${scoped(service)}Expect: 200-ok\r\nContent-Length: 10\r\n\r\n`, 417],
        ['headers over the limit', `POST / HTTP/1.1\r\nHost: vpcepd\r\n${form}${scoped(service)}X-Big: ${'a'.repeat(20_000)}\r\nContent-Length: 0\r\n\r\n`, 431],
        ['a Content-Length of letters', `POST / HTTP/1.1\r\nHost: vpcepd\r\n${form}${scoped(service)}Content-Length: 1x\r\n\r\n`, 400],
      ] as const) {
        const [head, body] = (await rawExchange(d.url, request)).split('\r\n\r\n');
        expect(head, `${service}: ${what}`).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
        expect(body, `${service}: ${what}`).toMatch(/^(<\?xml[^>]*\?>\s*)?<ErrorResponse xmlns="[^"]+"><Error><Type>Sender<\/Type><Code>[A-Za-z.]+<\/Code>/);
        expect(/^x-amzn-requestid: (.+)$/im.exec(head!)?.[1]).toBe(/<RequestId>([^<]+)<\/RequestId>/.exec(body!)?.[1]);
      }
    }
  });

  it('a credential scope naming another service is a clear 4xx', async () => {
    const r = await post(d.url, 'Action=ListBuckets', { credentials: ANY_KEY, service: 's3' });
    expect(r.status).toBe(403);
    expect(r.text).toContain('<Code>SignatureDoesNotMatch</Code>');
    expect(r.text).toContain('vpcepd answers ec2, elasticloadbalancing, sts');
  });

  it('an unsigned request (aws --no-sign-request) acts as the default account, its API picked by Version', async () => {
    const r = await post(d.url, 'Action=GetCallerIdentity&Version=2011-06-15');
    expect(r.status).toBe(200);
    expect(r.text).toContain(`<Account>${d.daemon.control.awsIdOf('provider')}</Account>`);
    const g = await fetch(`${d.url}/?Action=DescribeRegions&Version=2016-11-15`);
    expect(g.status).toBe(200);
    expect(await g.text()).toContain('<regionName>us-east-1</regionName>');
  });

  it('an AWS request to an unknown path answers in AWS\'s shape; the Huawei API answers as before on the same port', async () => {
    const r = await fetch(`${d.url}/nowhere?Action=DescribeRegions`);
    expect(r.status).toBe(400);
    expect(await r.text()).toContain('<Code>InvalidAction</Code>');
    const versions = await fetch(`${d.url}/`);
    expect(versions.status).toBe(200);
    expect((await versions.json()).versions[0].id).toBe('v1');
    const list = await d.provider.get('/vpc-endpoint-services');
    expect(list.status).toBe(200);
    expect(list.body.total_count).toBe(0);
    const huaweiForm = await d.provider.request('POST', '/vpc-endpoint-services', 'a=b', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(huaweiForm.status).toBe(415);
    expect(huaweiForm.body.error_code).toMatch(/^EndPoint\./);
    const unknown = await fetch(`${d.url}/nowhere`);
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).error_code).toMatch(/^EndPoint\./);
  });
});

describe('AWS API: what its XML answers cannot carry, and a malformed signature\'s shape', () => {
  let d: TestDaemon;
  beforeAll(async () => { d = await startTestDaemon(oneAccountConfig()); });
  afterAll(async () => { await d.stop(); });

  it('a parameter with a control character is refused and nothing is made (a tag key read back as U+FFFD could not be deleted); a form body that is not UTF-8 too (its bytes were stored as U+FFFD)', async () => {
    const vpcs = async () => (await post(d.url, 'Action=DescribeVpcs&Version=2016-11-15', { credentials: ANY_KEY })).text.match(/<vpcId>/g)?.length ?? 0;
    const before = await vpcs();
    for (const value of ['k%00x', 'v%01w', 'x%1By', 'a%EF%BF%BEb']) {
      const r = await post(d.url, `Action=CreateVpc&Version=2016-11-15&CidrBlock=10.9.0.0/16&TagSpecification.1.ResourceType=vpc&TagSpecification.1.Tag.1.Key=${value}&TagSpecification.1.Tag.1.Value=v`, { credentials: ANY_KEY });
      expect([r.status, r.text.match(/<Code>([^<]+)<\/Code>/)?.[1]], value).toEqual([400, 'InvalidParameterValue']);
      expect(r.text).toContain('control character');
    }
    const elb = await post(d.url, 'Action=CreateTargetGroup&Version=2015-12-01&Name=tg&Protocol=TCP&Port=80&VpcId=vpc-x&Tags.member.1.Key=k%01&Tags.member.1.Value=v', { credentials: ANY_KEY, service: 'elasticloadbalancing' });
    expect([elb.status, /^<\?xml[^>]*>\s*<ErrorResponse/.test(elb.text), elb.text.match(/<Code>([^<]+)<\/Code>/)?.[1]]).toEqual([400, true, 'ValidationError']);
    // a raw byte 0xff (not UTF-8) in a signed form body
    const u = new URL(d.url);
    const body = Buffer.concat([Buffer.from('Action=CreateVpc&Version=2016-11-15&CidrBlock=10.9.0.0/16&TagSpecification.1.ResourceType=vpc&TagSpecification.1.Tag.1.Key=k&TagSpecification.1.Tag.1.Value=a'), Buffer.from([0xff]), Buffer.from('b')]);
    const signer = new SignatureV4({ credentials: ANY_KEY, region: 'us-east-1', service: 'ec2', sha256: NodeSha256 });
    const signed = await signer.sign(new HttpRequest({ method: 'POST', protocol: 'http:', hostname: u.hostname, port: Number(u.port), path: '/', headers: { host: u.host, 'content-type': 'application/x-www-form-urlencoded' }, body }));
    const headers = { ...signed.headers } as Record<string, string>;
    delete headers.host;
    const raw = await fetch(`${d.url}/`, { method: 'POST', headers, body });
    const text = await raw.text();
    expect([raw.status, text.match(/<Code>([^<]+)<\/Code>/)?.[1], text.includes('not UTF-8')]).toEqual([400, 'InvalidParameterValue', true]);
    expect(await vpcs()).toBe(before);
  });

  it('a tag key or value with a carriage return reads back with it through the SDK, and deletes with what was read (it read back as LF and could not be deleted)', async () => {
    const client = ec2(d.url, ANY_KEY);
    const vpc = (await client.send(new CreateVpcCommand({ CidrBlock: '10.8.0.0/16' }))).Vpc!.VpcId!;
    await client.send(new CreateTagsCommand({ Resources: [vpc], Tags: [{ Key: 'cr\rkey', Value: 'v\r\nw\r' }] }));
    const read = async () => (await client.send(new DescribeTagsCommand({ Filters: [{ Name: 'resource-id', Values: [vpc] }] }))).Tags!.map((t) => [t.Key, t.Value]);
    const tags = await read();
    expect(tags).toEqual([['cr\rkey', 'v\r\nw\r']]);
    await client.send(new DeleteTagsCommand({ Resources: [vpc], Tags: [{ Key: tags[0]![0] }] }));
    expect(await read()).toEqual([]);
    await client.send(new DeleteVpcCommand({ VpcId: vpc }));
    client.destroy();
  });

  it('an STS or ELBv2 request whose signature is malformed (its Signature, its X-Amz-Date missing) is answered in that API\'s ErrorResponse, as the credential scope names it (it was EC2\'s Response)', async () => {
    const date = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');
    for (const [service, form] of [['sts', 'Action=GetCallerIdentity&Version=2011-06-15'], ['elasticloadbalancing', 'Action=DescribeLoadBalancers&Version=2015-12-01']] as const) {
      for (const withDate of [true, false]) {
        const res = await fetch(`${d.url}/`, {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
            ...(withDate ? { 'x-amz-date': date } : {}),
            authorization: `AWS4-HMAC-SHA256 Credential=AKIAANYTHING/${date.slice(0, 8)}/us-east-1/${service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=zz`,
          },
          body: form,
        });
        const text = await res.text();
        expect([res.status >= 400 && res.status < 500, /^<\?xml[^>]*>\s*<ErrorResponse/.test(text)], `${service} ${withDate ? 'bad Signature' : 'no X-Amz-Date'}: ${text}`).toEqual([true, true]);
      }
    }
  });
});

describe('AWS API, closed (several accounts, no key configured)', () => {
  let d: TestDaemon;
  beforeAll(async () => { d = await startTestDaemon(); });
  afterAll(async () => { await d.stop(); });

  it('refuses every request, signed with any key or unsigned, saying which config keys to add; nothing changes; the Huawei tokens still work', async () => {
    // any key would have been the first account's (the provider's): any client its way in
    const signed = await post(d.url, 'Action=CreateVpc&Version=2016-11-15&CidrBlock=10.77.0.0%2F16', { credentials: ANY_KEY });
    expect(signed.status).toBe(401);
    expect(signed.text).toContain('<Code>AuthFailure</Code>');
    expect(signed.text).toMatch(/accounts\[\]\.aws\.access_key_id and secret_access_key/);
    const unsigned = await post(d.url, 'Action=DeleteVpcEndpointServiceConfigurations&Version=2016-11-15&ServiceId.1=vpce-svc-0123456789abcdef0');
    expect(unsigned.status).toBe(403);
    expect(unsigned.text).toContain('<Code>MissingAuthenticationToken</Code>');
    expect(unsigned.text).toMatch(/accounts\[\]\.aws/);
    const who = await post(d.url, 'Action=GetCallerIdentity&Version=2011-06-15', { service: 'sts', credentials: ANY_KEY });
    expect([who.status, who.text.includes('<Code>InvalidClientTokenId</Code>')]).toEqual([403, true]);
    expect([...d.daemon.control.routing().vpcs.values()].map((v) => v.cidr)).not.toContain('10.77.0.0/16');
    expect((await d.provider.get('/vpc-endpoint-services')).status).toBe(200);
    expect(d.daemon.control.awsMode).toBe('closed');
  });
});

describe('AWS API, verify (accounts[].aws keys configured)', () => {
  let d: TestDaemon;
  beforeAll(async () => { d = await startTestDaemon(verifyConfig()); });
  afterAll(async () => { await d.stop(); });

  it('the right key acts as its account, in STS and EC2', async () => {
    expect((await sts(d.url, KEY_PROVIDER).send(new GetCallerIdentityCommand({}))).Account).toBe('111111111111');
    expect((await sts(d.url, KEY_CONSUMER).send(new GetCallerIdentityCommand({}))).Arn).toBe('arn:aws:iam::222222222222:root');
    expect((await ec2(d.url, KEY_CONSUMER).send(new DescribeRegionsCommand({}))).Regions).toHaveLength(1);
  });

  it('a wrong secret is SignatureDoesNotMatch (403)', async () => {
    const wrong = { accessKeyId: KEY_PROVIDER.accessKeyId, secretAccessKey: 'not-the-secret' };
    expect(await failure(sts(d.url, wrong).send(new GetCallerIdentityCommand({})))).toMatchObject({ code: 'SignatureDoesNotMatch', status: 403 });
    expect(await failure(ec2(d.url, wrong).send(new DescribeRegionsCommand({})))).toMatchObject({ code: 'SignatureDoesNotMatch', status: 403 });
  });

  it('an unknown key is AuthFailure (401) for EC2, InvalidClientTokenId (403) for STS and ELBv2', async () => {
    expect(await failure(ec2(d.url, ANY_KEY).send(new DescribeRegionsCommand({})))).toMatchObject({ code: 'AuthFailure', status: 401 });
    expect(await failure(sts(d.url, ANY_KEY).send(new GetCallerIdentityCommand({})))).toMatchObject({ code: 'InvalidClientTokenId', status: 403 });
    expect(await failure(elbv2(d.url, ANY_KEY).send(new DescribeLoadBalancersCommand({})))).toMatchObject({ code: 'InvalidClientTokenId', status: 403 });
  });

  it('a session token signed with a configured long-term key is refused: EC2 AuthFailure (401), STS and ELBv2 InvalidClientTokenId (403), header or presigned (it was taken)', async () => {
    const withToken = { ...KEY_PROVIDER, sessionToken: 'FwoGZXIvYXdzEBogus-session-token' };
    const message = 'The security token included in the request is invalid.';
    expect(await failure(ec2(d.url, withToken).send(new DescribeRegionsCommand({})))).toMatchObject({ code: 'AuthFailure', status: 401, message });
    expect(await failure(sts(d.url, withToken).send(new GetCallerIdentityCommand({})))).toMatchObject({ code: 'InvalidClientTokenId', status: 403, message });
    expect(await failure(elbv2(d.url, withToken).send(new DescribeLoadBalancersCommand({})))).toMatchObject({ code: 'InvalidClientTokenId', status: 403, message });
    const u = new URL(d.url);
    const request = new HttpRequest({
      method: 'GET', protocol: 'http:', hostname: u.hostname, port: Number(u.port), path: '/',
      query: { Action: 'GetCallerIdentity', Version: '2011-06-15' }, headers: { host: u.host },
    });
    const p = await new SignatureV4({ credentials: withToken, region: 'us-east-1', service: 'sts', sha256: NodeSha256 }).presign(request, { expiresIn: 300 });
    expect(p.query?.['X-Amz-Security-Token']).toBe(withToken.sessionToken);
    const presigned = await fetch(`${d.url}/?${Object.entries(p.query ?? {}).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`).join('&')}`);
    expect(presigned.status).toBe(403);
    expect(await presigned.text()).toContain('<Code>InvalidClientTokenId</Code>');
    // the same key without a token is taken
    expect((await sts(d.url, KEY_PROVIDER).send(new GetCallerIdentityCommand({}))).Account).toBe('111111111111');
  });

  it('a clock 20 minutes off is RequestExpired for EC2, SignatureDoesNotMatch "Signature expired" for STS and ELBv2, as AWS answers', async () => {
    const skewed = { systemClockOffset: -20 * 60_000 };
    expect(await failure(ec2(d.url, KEY_PROVIDER, skewed).send(new DescribeRegionsCommand({})))).toMatchObject({ code: 'RequestExpired', status: 400 });
    const expired = { code: 'SignatureDoesNotMatch', status: 403, message: expect.stringMatching(/^Signature expired: /) };
    expect(await failure(sts(d.url, KEY_PROVIDER, skewed).send(new GetCallerIdentityCommand({})))).toMatchObject(expired);
    expect(await failure(elbv2(d.url, KEY_PROVIDER, skewed).send(new DescribeLoadBalancersCommand({})))).toMatchObject(expired);
  });

  it('a presigned GET (the signature in the query string) is verified too', async () => {
    const u = new URL(d.url);
    const request = new HttpRequest({
      method: 'GET', protocol: 'http:', hostname: u.hostname, port: Number(u.port), path: '/',
      query: { Action: 'GetCallerIdentity', Version: '2011-06-15' }, headers: { host: u.host },
    });
    const url = async (credentials: Credentials) => {
      const p = await new SignatureV4({ credentials, region: 'us-east-1', service: 'sts', sha256: NodeSha256 }).presign(request, { expiresIn: 300 });
      return `${d.url}/?${Object.entries(p.query ?? {}).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`).join('&')}`;
    };
    const ok = await fetch(await url(KEY_CONSUMER));
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('<Account>222222222222</Account>');
    const wrong = await fetch(await url({ accessKeyId: KEY_CONSUMER.accessKeyId, secretAccessKey: 'not-the-secret' }));
    expect(wrong.status).toBe(403);
    expect(await wrong.text()).toContain('<Code>SignatureDoesNotMatch</Code>');
  });

  it('an unsigned request is MissingAuthenticationToken (403); auth comes before the action and DryRun', async () => {
    const r = await post(d.url, 'Action=GetCallerIdentity&Version=2011-06-15');
    expect(r.status).toBe(403);
    expect(r.text).toContain('<Code>MissingAuthenticationToken</Code>');
    const dry = await post(d.url, 'Action=NoSuchAction&Version=2016-11-15&DryRun=true', { credentials: ANY_KEY });
    expect(dry.status).toBe(401);
    expect(dry.text).toContain('<Code>AuthFailure</Code>');
    const found = await post(d.url, 'Action=NoSuchAction&Version=2016-11-15&DryRun=true', { credentials: KEY_PROVIDER });
    expect(found.text).toContain('<Code>InvalidAction</Code>');
  });
});

describe('AWS API, a body that never completes', () => {
  let d: TestDaemon;
  beforeAll(async () => { d = await startTestDaemon(twoAccountConfig({ api: { request_timeout_ms: 400, headers_timeout_ms: 200 } })); });
  afterAll(async () => { await d.stop(); });

  it('is answered 408 RequestTimeout in EC2\'s XML, its request id in x-amzn-requestid too (it was in the body only), and cut', async () => {
    const u = new URL(d.url);
    const sock = net.connect({ host: u.hostname, port: Number(u.port) });
    let data = '';
    let closed = false;
    sock.on('data', (b) => { data += b; }).on('close', () => { closed = true; }).on('error', () => {});
    await new Promise((resolve) => sock.once('connect', resolve));
    sock.write('POST / HTTP/1.1\r\nHost: vpcepd\r\nContent-Type: application/x-www-form-urlencoded; charset=utf-8\r\n'
      + 'Content-Length: 100\r\n\r\nAction=DescribeRegions&Version=');
    await waitFor(() => closed, 5_000, 'the slow request to be cut');
    const [head, body] = data.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 408 /);
    expect(head).toMatch(/Content-Type: text\/xml/i);
    expect(body).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?><Response><Errors><Error><Code>RequestTimeout<\/Code>/);
    expect(/^x-amzn-requestid: (.+)$/im.exec(head!)?.[1]).toBe(/<RequestID>([^<]+)<\/RequestID>/.exec(body!)?.[1]);
  });
});

describe('AWS API, the embedded defaults (no config)', () => {
  let d: ChildDaemon;
  beforeAll(async () => { d = await spawnDaemon([], { VPCEP_TOKEN: '' }); });
  afterAll(async () => {
    d.proc.kill('SIGTERM');
    await d.exited;
  });

  it('any credentials act as the default account 000000000000', async () => {
    const r = await sts(d.url, ANY_KEY).send(new GetCallerIdentityCommand({}));
    expect({ Account: r.Account, Arn: r.Arn }).toEqual({ Account: '000000000000', Arn: 'arn:aws:iam::000000000000:root' });
  });
});

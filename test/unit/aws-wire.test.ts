// The AWS wire layer against clients no one here wrote: the AWS SDK for JavaScript v3 builds and
// signs real requests (captured by a request handler, no sockets) for the SigV4 verifier and the
// Query parser, and parses what the XML serializer answers. @smithy/signature-v4 signs the odd
// requests the SDK clients never make (GET with a query string, presigned URLs, odd headers).
import {
  CreateVpcEndpointCommand, DeleteVpcEndpointsCommand, DescribeVpcEndpointsCommand, EC2Client, ModifyVpcEndpointServicePermissionsCommand,
} from '@aws-sdk/client-ec2';
import {
  CreateLoadBalancerCommand, DescribeTargetHealthCommand, ElasticLoadBalancingV2Client, ModifyTargetGroupAttributesCommand, RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { HttpRequest, HttpResponse } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { NodeSha256 } from '../helpers.js';
import { QueryParams, type QueryProtocol } from '../../src/api/aws/query.js';
import { readCredentialScope, SigV4Verifier, type SignedRequest, type SigV4Result } from '../../src/api/aws/sigv4.js';
import {
  ec2Error, ec2Response, ELBV2_NAMESPACE, queryError, queryResponse, REQUEST_ID_HEADER, STS_NAMESPACE, XML_CONTENT_TYPE, type XmlFields,
} from '../../src/api/aws/xml.js';

const ACCOUNT_A = { accessKeyId: 'AKIAVPCEPSIMTEST0001', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const SECRETS = new Map([[ACCOUNT_A.accessKeyId, ACCOUNT_A.secretAccessKey]]);
const verifier = new SigV4Verifier({ secretFor: (id) => SECRETS.get(id) });
const ENDPOINT = 'http://127.0.0.1:9480';

interface Answer {
  readonly status?: number;
  readonly body: string;
}

/** a request handler that keeps each request the SDK signs and answers it with `answer` */
function capture(answer: (req: HttpRequest) => Answer): { handler: { handle(req: HttpRequest): Promise<{ response: HttpResponse }> }; requests: HttpRequest[] } {
  const requests: HttpRequest[] = [];
  return {
    requests,
    handler: {
      async handle(req: HttpRequest) {
        requests.push(req);
        const a = answer(req);
        const headers = { 'content-type': XML_CONTENT_TYPE, [REQUEST_ID_HEADER]: `req-${requests.length}` };
        return { response: new HttpResponse({ statusCode: a.status ?? 200, headers, body: Buffer.from(a.body) }) };
      },
    },
  };
}

/** what the verifier needs of a request an SDK or @smithy/signature-v4 built */
interface SdkRequest {
  readonly method: string;
  readonly path: string;
  readonly query?: Record<string, string | (string | null)[] | null>;
  readonly headers: Record<string, string>;
  readonly body?: unknown;
}

function rawQuery(query: SdkRequest['query']): string {
  const pairs: string[] = [];
  for (const [k, v] of Object.entries(query ?? {})) {
    for (const one of Array.isArray(v) ? v : [v]) pairs.push(one === null ? encodeURIComponent(k) : `${encodeURIComponent(k)}=${encodeURIComponent(one)}`);
  }
  return pairs.join('&');
}

/** the request as the daemon would see it on the wire */
function wire(req: SdkRequest): SignedRequest {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) headers[k.toLowerCase()] = v;
  const body = typeof req.body === 'string' ? req.body : req.body instanceof Uint8Array ? req.body : '';
  return { method: req.method, path: req.path, query: rawQuery(req.query), headers, body };
}

function params(req: HttpRequest, protocol: QueryProtocol): QueryParams {
  return QueryParams.parse(String(req.body), protocol);
}

const ok = (service: string): SigV4Result => ({ ok: true, accessKeyId: ACCOUNT_A.accessKeyId, region: 'us-east-1', service });

function clientConfig(handler: ReturnType<typeof capture>['handler'], extra: { credentials?: typeof ACCOUNT_A; systemClockOffset?: number } = {}) {
  return { region: 'us-east-1', endpoint: ENDPOINT, credentials: extra.credentials ?? ACCOUNT_A, requestHandler: handler, maxAttempts: 1, systemClockOffset: extra.systemClockOffset };
}

const ENDPOINT_A: XmlFields = {
  vpcEndpointId: 'vpce-0123456789abcdef0', vpcEndpointType: 'Interface', vpcId: 'vpc-0123456789abcdef0',
  serviceName: 'com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0', state: 'pendingAcceptance',
  routeTableIdSet: [], subnetIdSet: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'],
  groupSet: [{ groupId: 'sg-0123456789abcdef0', groupName: 'default' }], privateDnsEnabled: false, requesterManaged: false,
  networkInterfaceIdSet: ['eni-0123456789abcdef0'], dnsEntrySet: [{ dnsName: 'vpce-0123456789abcdef0.vpce-svc.us-east-1.vpce.amazonaws.com', hostedZoneId: 'Z7HUB22UULQXV' }],
  creationTimestamp: new Date('2026-12-03T07:00:47.000Z'), tagSet: [{ key: 'Name', value: 'a <b> & "c"' }, { key: 'team', value: '' }], ownerId: '111111111111',
};

describe('EC2 through the SDK', () => {
  it('CreateVpcEndpoint: the signature verifies, the lists, structures and tag specifications parse, the answer reads back', async () => {
    const c = capture(() => ({ body: ec2Response('CreateVpcEndpoint', 'req-1', { vpcEndpoint: ENDPOINT_A }) }));
    const out = await new EC2Client(clientConfig(c.handler)).send(new CreateVpcEndpointCommand({
      VpcId: 'vpc-0123456789abcdef0', ServiceName: 'com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0', VpcEndpointType: 'Interface',
      SubnetIds: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'], SecurityGroupIds: ['sg-0123456789abcdef0'],
      PrivateDnsEnabled: false, DnsOptions: { DnsRecordIpType: 'ipv4' },
      SubnetConfigurations: [{ SubnetId: 'subnet-0123456789abcdef0', Ipv4: '10.0.1.10' }],
      TagSpecifications: [{ ResourceType: 'vpc-endpoint', Tags: [{ Key: 'Name', Value: 'a b&c=d' }, { Key: 'empty', Value: '' }] }],
    }));
    const [req] = c.requests;
    expect(verifier.verify(wire(req!))).toEqual(ok('ec2'));
    const p = params(req!, 'ec2');
    expect(p.action).toBe('CreateVpcEndpoint');
    expect(p.string('Version')).toBe('2016-11-15');
    expect(p.stringList('SubnetId')).toEqual(['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1']);
    expect(p.stringList('SecurityGroupId')).toEqual(['sg-0123456789abcdef0']);
    expect(p.bool('PrivateDnsEnabled')).toBe(false);
    expect(p.string('DnsOptions.DnsRecordIpType')).toBe('ipv4');
    expect(p.structList('SubnetConfiguration').map((s) => [s.string('SubnetId'), s.string('Ipv4')])).toEqual([['subnet-0123456789abcdef0', '10.0.1.10']]);
    expect(p.tagSpecifications()).toEqual([{ resourceType: 'vpc-endpoint', tags: [{ key: 'Name', value: 'a b&c=d' }, { key: 'empty', value: '' }] }]);
    expect(p.stringList('RouteTableId')).toEqual([]);
    expect(out.VpcEndpoint).toMatchObject({
      VpcEndpointId: 'vpce-0123456789abcdef0', State: 'pendingAcceptance', SubnetIds: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'],
      RouteTableIds: [], Groups: [{ GroupId: 'sg-0123456789abcdef0', GroupName: 'default' }], PrivateDnsEnabled: false,
      CreationTimestamp: new Date('2026-12-03T07:00:47.000Z'), OwnerId: '111111111111',
    });
  });

  it('DescribeVpcEndpoints: filters and ids parse; a set of endpoints with their tags reads back as the SDK objects', async () => {
    const second = { ...ENDPOINT_A, vpcEndpointId: 'vpce-0123456789abcdef1', state: 'available', tagSet: [] };
    const c = capture(() => ({ body: ec2Response('DescribeVpcEndpoints', 'req-2', { vpcEndpointSet: [ENDPOINT_A, second], nextToken: undefined }) }));
    const out = await new EC2Client(clientConfig(c.handler)).send(new DescribeVpcEndpointsCommand({
      VpcEndpointIds: ['vpce-0123456789abcdef0', 'vpce-0123456789abcdef1'],
      Filters: [{ Name: 'vpc-endpoint-state', Values: ['available', 'pendingAcceptance'] }, { Name: 'tag:Name', Values: ['a b', 'c&d=e+f'] }],
      MaxResults: 100,
    }));
    const [req] = c.requests;
    expect(verifier.verify(wire(req!))).toEqual(ok('ec2'));
    const p = params(req!, 'ec2');
    expect(p.stringList('VpcEndpointId')).toEqual(['vpce-0123456789abcdef0', 'vpce-0123456789abcdef1']);
    expect(p.filters()).toEqual([{ name: 'vpc-endpoint-state', values: ['available', 'pendingAcceptance'] }, { name: 'tag:Name', values: ['a b', 'c&d=e+f'] }]);
    expect(p.int('MaxResults', { min: 5, max: 1000 })).toBe(100);
    expect(out.VpcEndpoints).toHaveLength(2);
    expect(out.VpcEndpoints![0]).toEqual({
      VpcEndpointId: 'vpce-0123456789abcdef0', VpcEndpointType: 'Interface', VpcId: 'vpc-0123456789abcdef0',
      ServiceName: 'com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0', State: 'pendingAcceptance',
      RouteTableIds: [], SubnetIds: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'],
      Groups: [{ GroupId: 'sg-0123456789abcdef0', GroupName: 'default' }], PrivateDnsEnabled: false, RequesterManaged: false,
      NetworkInterfaceIds: ['eni-0123456789abcdef0'],
      DnsEntries: [{ DnsName: 'vpce-0123456789abcdef0.vpce-svc.us-east-1.vpce.amazonaws.com', HostedZoneId: 'Z7HUB22UULQXV' }],
      CreationTimestamp: new Date('2026-12-03T07:00:47.000Z'), Tags: [{ Key: 'Name', Value: 'a <b> & "c"' }, { Key: 'team', Value: '' }],
      OwnerId: '111111111111',
    });
    expect(out.VpcEndpoints![1]).toMatchObject({ VpcEndpointId: 'vpce-0123456789abcdef1', State: 'available', Tags: [] });
    expect(out.NextToken).toBeUndefined();
  });

  it('ModifyVpcEndpointServicePermissions: an ARN list parses; <return>true</return> reads back as ReturnValue', async () => {
    const c = capture(() => ({ body: ec2Response('ModifyVpcEndpointServicePermissions', 'req-3', { return: true }) }));
    const out = await new EC2Client(clientConfig(c.handler)).send(new ModifyVpcEndpointServicePermissionsCommand({
      ServiceId: 'vpce-svc-0123456789abcdef0', AddAllowedPrincipals: ['arn:aws:iam::111122223333:root', '*'],
    }));
    const p = params(c.requests[0]!, 'ec2');
    expect(p.stringList('AddAllowedPrincipals')).toEqual(['arn:aws:iam::111122223333:root', '*']);
    expect(out.ReturnValue).toBe(true);
  });

  it('DeleteVpcEndpoints: partial failures in <unsuccessful> read back per item', async () => {
    const c = capture(() => ({ body: ec2Response('DeleteVpcEndpoints', 'req-3', {
      unsuccessful: [{ error: { code: 'InvalidVpcEndpoint.NotFound', message: "The VpcEndpoint Id 'vpce-x' does not exist" }, resourceId: 'vpce-x' }],
    }) }));
    const out = await new EC2Client(clientConfig(c.handler)).send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: ['vpce-0123456789abcdef0', 'vpce-x'] }));
    expect(params(c.requests[0]!, 'ec2').stringList('VpcEndpointId')).toEqual(['vpce-0123456789abcdef0', 'vpce-x']);
    expect(out.Unsuccessful).toEqual([{ Error: { Code: 'InvalidVpcEndpoint.NotFound', Message: "The VpcEndpoint Id 'vpce-x' does not exist" }, ResourceId: 'vpce-x' }]);
  });

  it('DryRun: the flag parses; DryRunOperation (412) surfaces as that error', async () => {
    const c = capture(() => ({ status: 412, body: ec2Error({ code: 'DryRunOperation', message: 'Request would have succeeded, but DryRun flag is set.' }, 'req-4') }));
    const err = await new EC2Client(clientConfig(c.handler)).send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: ['vpce-0123456789abcdef0'], DryRun: true })).catch((e: unknown) => e);
    expect(params(c.requests[0]!, 'ec2').bool('DryRun')).toBe(true);
    expect(err).toMatchObject({ name: 'DryRunOperation', $metadata: { httpStatusCode: 412 } });
  });

  it('an EC2 error body surfaces as the SDK error of that code, with the HTTP status', async () => {
    const c = capture(() => ({ status: 400, body: ec2Error({ code: 'InvalidVpcEndpointId.NotFound', message: "The VpcEndpoint Id 'vpce-x' does not exist" }, 'req-4') }));
    const err = await new EC2Client(clientConfig(c.handler)).send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: ['vpce-x'] })).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'InvalidVpcEndpointId.NotFound', Code: 'InvalidVpcEndpointId.NotFound', message: "The VpcEndpoint Id 'vpce-x' does not exist", $metadata: { httpStatusCode: 400 } });
    const auth = capture(() => ({ status: 401, body: ec2Error({ code: 'AuthFailure', message: 'AWS was not able to validate the provided access credentials' }, 'req-5') }));
    const err401 = await new EC2Client(clientConfig(auth.handler)).send(new DescribeVpcEndpointsCommand({})).catch((e: unknown) => e);
    expect(err401).toMatchObject({ name: 'AuthFailure', $metadata: { httpStatusCode: 401 } });
  });
});

describe('ELBv2 and STS through the SDK', () => {
  it('RegisterTargets: Targets.member.N parses into a list of structures, signed for elasticloadbalancing', async () => {
    const c = capture(() => ({ body: queryResponse('RegisterTargets', ELBV2_NAMESPACE, 'req-6') }));
    const tg = 'arn:aws:elasticloadbalancing:us-east-1:111111111111:targetgroup/tg-1/0123456789abcdef';
    await new ElasticLoadBalancingV2Client(clientConfig(c.handler)).send(new RegisterTargetsCommand({
      TargetGroupArn: tg, Targets: [{ Id: '10.0.1.5', Port: 8080 }, { Id: '127.0.0.1', Port: 9000, AvailabilityZone: 'all' }],
    }));
    const [req] = c.requests;
    expect(verifier.verify(wire(req!))).toEqual(ok('elasticloadbalancing'));
    const p = params(req!, 'query');
    expect(p.action).toBe('RegisterTargets');
    expect(p.string('Version')).toBe('2015-12-01');
    expect(p.string('TargetGroupArn')).toBe(tg);
    expect(p.structList('Targets').map((t) => ({ id: t.requiredString('Id'), port: t.int('Port', { min: 1, max: 65535 }), az: t.string('AvailabilityZone') })))
      .toEqual([{ id: '10.0.1.5', port: 8080, az: undefined }, { id: '127.0.0.1', port: 9000, az: 'all' }]);
  });

  it('CreateLoadBalancer: Subnets.member.N and Tags.member.N parse; nested member lists read back', async () => {
    const lbArn = 'arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/net/my-nlb/0123456789abcdef';
    const c = capture(() => ({ body: queryResponse('CreateLoadBalancer', ELBV2_NAMESPACE, 'req-6', {
      LoadBalancers: [{
        LoadBalancerArn: lbArn, DNSName: 'my-nlb-0123456789abcdef.elb.us-east-1.amazonaws.com', CanonicalHostedZoneId: 'Z26RNL4JYFTOTI',
        CreatedTime: new Date('2026-12-04T10:00:00.000Z'), LoadBalancerName: 'my-nlb', Scheme: 'internal', VpcId: 'vpc-0123456789abcdef0',
        State: { Code: 'provisioning' }, Type: 'network', IpAddressType: 'ipv4',
        AvailabilityZones: [
          { ZoneName: 'us-east-1a', SubnetId: 'subnet-0123456789abcdef0', LoadBalancerAddresses: [{ IpAddress: '10.0.1.4' }] },
          { ZoneName: 'us-east-1b', SubnetId: 'subnet-0123456789abcdef1', LoadBalancerAddresses: [] },
        ],
      }],
    }) }));
    const out = await new ElasticLoadBalancingV2Client(clientConfig(c.handler)).send(new CreateLoadBalancerCommand({
      Name: 'my-nlb', Type: 'network', Scheme: 'internal', Subnets: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'],
      Tags: [{ Key: 'Name', Value: 'my nlb' }, { Key: 'env' }],
    }));
    const p = params(c.requests[0]!, 'query');
    expect(p.stringList('Subnets')).toEqual(['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1']);
    expect(p.tags('Tags')).toEqual([{ key: 'Name', value: 'my nlb' }, { key: 'env', value: '' }]);
    expect(p.string('Type')).toBe('network');
    expect(out.LoadBalancers![0]).toMatchObject({
      LoadBalancerArn: lbArn, CreatedTime: new Date('2026-12-04T10:00:00.000Z'), State: { Code: 'provisioning' },
      AvailabilityZones: [
        { ZoneName: 'us-east-1a', SubnetId: 'subnet-0123456789abcdef0', LoadBalancerAddresses: [{ IpAddress: '10.0.1.4' }] },
        { ZoneName: 'us-east-1b', SubnetId: 'subnet-0123456789abcdef1', LoadBalancerAddresses: [] },
      ],
    });
  });

  it('ModifyTargetGroupAttributes: Attributes.member.N.Key/Value parse; the attributes read back', async () => {
    const attributes = [{ Key: 'proxy_protocol_v2.enabled', Value: 'true' }, { Key: 'deregistration_delay.timeout_seconds', Value: '30' }];
    const c = capture(() => ({ body: queryResponse('ModifyTargetGroupAttributes', ELBV2_NAMESPACE, 'req-7', { Attributes: attributes }) }));
    const out = await new ElasticLoadBalancingV2Client(clientConfig(c.handler)).send(new ModifyTargetGroupAttributesCommand({
      TargetGroupArn: 'arn:aws:elasticloadbalancing:us-east-1:111111111111:targetgroup/tg-1/0123456789abcdef', Attributes: attributes,
    }));
    const p = params(c.requests[0]!, 'query');
    expect(p.structList('Attributes').map((a) => [a.requiredString('Key'), a.string('Value')])).toEqual([['proxy_protocol_v2.enabled', 'true'], ['deregistration_delay.timeout_seconds', '30']]);
    expect(p.tags('Attributes')).toEqual([{ key: 'proxy_protocol_v2.enabled', value: 'true' }, { key: 'deregistration_delay.timeout_seconds', value: '30' }]);
    expect(out.Attributes).toEqual(attributes);
  });

  it('DescribeTargetHealth: nested structures in <member> lists read back', async () => {
    const c = capture(() => ({ body: queryResponse('DescribeTargetHealth', ELBV2_NAMESPACE, 'req-8', {
      TargetHealthDescriptions: [
        { Target: { Id: '10.0.1.5', Port: 8080 }, HealthCheckPort: '8080', TargetHealth: { State: 'healthy' } },
        { Target: { Id: '10.0.1.6', Port: 8080 }, HealthCheckPort: '8080', TargetHealth: { State: 'unhealthy', Reason: 'Target.FailedHealthChecks', Description: 'Health checks failed' } },
      ],
    }) }));
    const out = await new ElasticLoadBalancingV2Client(clientConfig(c.handler)).send(new DescribeTargetHealthCommand({
      TargetGroupArn: 'arn:aws:elasticloadbalancing:us-east-1:111111111111:targetgroup/tg-1/0123456789abcdef',
    }));
    expect(out.TargetHealthDescriptions).toEqual([
      { Target: { Id: '10.0.1.5', Port: 8080 }, HealthCheckPort: '8080', TargetHealth: { State: 'healthy' } },
      { Target: { Id: '10.0.1.6', Port: 8080 }, HealthCheckPort: '8080', TargetHealth: { State: 'unhealthy', Reason: 'Target.FailedHealthChecks', Description: 'Health checks failed' } },
    ]);
  });

  it('a query error body surfaces as the modeled SDK exception, with Code, Type and the HTTP status', async () => {
    const c = capture(() => ({ status: 400, body: queryError(ELBV2_NAMESPACE, { code: 'TargetGroupNotFound', message: 'One or more target groups not found' }, 'req-9') }));
    const err = await new ElasticLoadBalancingV2Client(clientConfig(c.handler)).send(new DescribeTargetHealthCommand({ TargetGroupArn: 'arn:aws:elasticloadbalancing:us-east-1:111111111111:targetgroup/x/0123456789abcdef' })).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'TargetGroupNotFoundException', Code: 'TargetGroupNotFound', Type: 'Sender', message: 'One or more target groups not found', $metadata: { httpStatusCode: 400 } });
    const sts = capture(() => ({ status: 403, body: queryError(STS_NAMESPACE, { code: 'SignatureDoesNotMatch', message: 'no' }, 'req-10') }));
    const err2 = await new STSClient(clientConfig(sts.handler)).send(new GetCallerIdentityCommand({})).catch((e: unknown) => e);
    expect(err2).toMatchObject({ name: 'SignatureDoesNotMatch', $metadata: { httpStatusCode: 403 } });
  });

  it('STS GetCallerIdentity: signed for sts; Account, Arn and UserId read back', async () => {
    const c = capture(() => ({ body: queryResponse('GetCallerIdentity', STS_NAMESPACE, 'req-11', {
      UserId: ACCOUNT_A.accessKeyId, Account: '111111111111', Arn: 'arn:aws:iam::111111111111:root',
    }) }));
    const out = await new STSClient(clientConfig(c.handler)).send(new GetCallerIdentityCommand({}));
    const [req] = c.requests;
    expect(verifier.verify(wire(req!))).toEqual(ok('sts'));
    expect(params(req!, 'query').action).toBe('GetCallerIdentity');
    expect(out).toMatchObject({ UserId: ACCOUNT_A.accessKeyId, Account: '111111111111', Arn: 'arn:aws:iam::111111111111:root' });
    // SDK v3 reads $metadata.requestId from the header, not from <RequestId>
    expect(out.$metadata.requestId).toBe('req-1');
  });
});

describe('SigV4 refusals of requests the SDK signed', () => {
  async function signedBy(extra: Parameters<typeof clientConfig>[1]): Promise<SignedRequest> {
    const c = capture(() => ({ body: queryResponse('GetCallerIdentity', STS_NAMESPACE, 'r', { Account: '111111111111' }) }));
    await new STSClient(clientConfig(c.handler, extra)).send(new GetCallerIdentityCommand({}));
    return wire(c.requests[0]!);
  }

  it('a wrong secret is SignatureDoesNotMatch (403)', async () => {
    const r = verifier.verify(await signedBy({ credentials: { ...ACCOUNT_A, secretAccessKey: 'not-the-secret' } }));
    expect(r).toMatchObject({ ok: false, reason: 'signatureMismatch', code: 'SignatureDoesNotMatch', status: 403 });
  });

  it('an unknown access key is AuthFailure (401)', async () => {
    const r = verifier.verify(await signedBy({ credentials: { accessKeyId: 'AKIAUNKNOWNKEY000000', secretAccessKey: 'x' } }));
    expect(r).toMatchObject({ ok: false, reason: 'unknownKey', code: 'AuthFailure', status: 401 });
  });

  it('a clock 20 minutes behind or ahead is RequestExpired, in AWS\'s words; 14 minutes is accepted', async () => {
    const words = { [-20 * 60_000]: /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 15 min\.\)$/, [20 * 60_000]: /^Signature not yet current: \d{8}T\d{6}Z is still later than \d{8}T\d{6}Z \(\d{8}T\d{6}Z \+ 15 min\.\)$/ };
    for (const [offset, message] of Object.entries(words)) {
      expect(verifier.verify(await signedBy({ systemClockOffset: Number(offset) }))).toMatchObject({ ok: false, reason: 'expired', code: 'RequestExpired', status: 400, message: expect.stringMatching(message) });
    }
    expect(verifier.verify(await signedBy({ systemClockOffset: -14 * 60_000 }))).toEqual(ok('sts'));
  });

  it('a body, a signed header or the method changed after signing is SignatureDoesNotMatch', async () => {
    const req = await signedBy({});
    const mismatch = { ok: false, reason: 'signatureMismatch' };
    expect(verifier.verify({ ...req, body: `${String(req.body)}&Extra=1` })).toMatchObject(mismatch);
    expect(verifier.verify({ ...req, headers: { ...req.headers, host: 'evil.example:9480' } })).toMatchObject(mismatch);
    expect(verifier.verify({ ...req, method: 'PUT' })).toMatchObject(mismatch);
    // an unsigned header may change (a proxy adds one)
    expect(verifier.verify({ ...req, headers: { ...req.headers, 'x-forwarded-for': '10.0.0.1' } })).toEqual(ok('sts'));
    // a signed header that is missing cannot be checked
    const { host: _host, ...noHost } = req.headers;
    expect(verifier.verify({ ...req, headers: noHost })).toMatchObject({ ok: false, reason: 'incomplete', code: 'IncompleteSignature' });
  });

  it('readCredentialScope reads the scope without verifying; no signature is MissingAuthenticationToken', async () => {
    const req = await signedBy({ credentials: { accessKeyId: 'LSIAQAAAAAAVNCBMPNSG', secretAccessKey: 'anything' } });
    expect(readCredentialScope(req)).toMatchObject({ ok: true, accessKeyId: 'LSIAQAAAAAAVNCBMPNSG', region: 'us-east-1', service: 'sts', signedBy: 'header' });
    expect(readCredentialScope(req)).toMatchObject({ date: String(req.headers['x-amz-date']).slice(0, 8) });
    const { authorization: _a, ...unsigned } = req.headers;
    expect(readCredentialScope({ ...req, headers: unsigned })).toMatchObject({ ok: false, reason: 'missing', code: 'MissingAuthenticationToken', status: 403 });
    expect(verifier.verify({ ...req, headers: unsigned })).toMatchObject({ ok: false, reason: 'missing' });
  });
});

describe('SigV4 against @smithy/signature-v4 on requests the clients never make', () => {
  const signer = (service = 'ec2', region = 'us-east-1') => new SignatureV4({ credentials: ACCOUNT_A, region, service, sha256: NodeSha256 });

  function fromSmithy(req: SdkRequest): SignedRequest {
    return wire(req);
  }

  it('a GET with the parameters in the query string (spaces, +, reserved and non-ASCII characters) and messy header values', async () => {
    const req = new HttpRequest({
      method: 'GET', protocol: 'http:', hostname: '127.0.0.1', port: 9480, path: '/',
      query: { Action: 'DescribeVpcEndpoints', Version: '2016-11-15', 'Filter.1.Name': 'tag:Name', 'Filter.1.Value.1': "a b+c/d?e=f&g~h*i'(é)", 'VpcEndpointId.1': 'vpce-1' },
      headers: { host: '127.0.0.1:9480', 'x-custom': '  two   spaces\tand tab  ' },
    });
    const signed = await signer().sign(req);
    const w = fromSmithy(signed);
    expect(verifier.verify(w)).toEqual(ok('ec2'));
    const p = QueryParams.parse(w.query, 'ec2');
    expect(p.filters()).toEqual([{ name: 'tag:Name', values: ["a b+c/d?e=f&g~h*i'(é)"] }]);
    // a changed parameter breaks the signature
    expect(verifier.verify({ ...w, query: w.query.replace('vpce-1', 'vpce-2') })).toMatchObject({ ok: false, reason: 'signatureMismatch' });
  });

  it('a path other than / is canonicalised as the SDK does (dot segments removed, each segment encoded once more)', async () => {
    const signed = await signer().sign(new HttpRequest({ method: 'POST', hostname: 'h', path: '/a/./x/../b%20c/', headers: { host: 'h', 'content-type': 'application/x-www-form-urlencoded' }, body: 'Action=X' }));
    expect(verifier.verify(fromSmithy(signed))).toEqual(ok('ec2'));
    expect(verifier.verify({ ...fromSmithy(signed), path: '/a/b%20c/' })).toEqual(ok('ec2'));
    expect(verifier.verify({ ...fromSmithy(signed), path: '/a/b%20d/' })).toMatchObject({ ok: false, reason: 'signatureMismatch' });
  });

  it('a presigned URL (X-Amz-Algorithm in the query string) verifies, and expires after X-Amz-Expires', async () => {
    const now = Date.now();
    const req = new HttpRequest({ method: 'GET', hostname: '127.0.0.1', port: 9480, path: '/', query: { Action: 'GetCallerIdentity', Version: '2011-06-15' }, headers: { host: '127.0.0.1:9480' } });
    const presigned = await signer('sts').presign(req, { expiresIn: 60, signingDate: new Date(now) });
    const w = fromSmithy(presigned);
    expect(w.headers.authorization).toBeUndefined();
    const at = (ms: number) => new SigV4Verifier({ secretFor: (id) => SECRETS.get(id), now: () => ms });
    expect(at(now).verify(w)).toEqual(ok('sts'));
    expect(readCredentialScope(w)).toMatchObject({ ok: true, service: 'sts', signedBy: 'query' });
    expect(at(now + 61_000).verify(w)).toMatchObject({ ok: false, reason: 'expired' });
    expect(at(now).verify({ ...w, query: w.query.replace('GetCallerIdentity', 'GetSessionToken') })).toMatchObject({ ok: false, reason: 'signatureMismatch' });
    // the signature's parameters are not request parameters
    expect(QueryParams.parse(w.query, 'query').root).toEqual({ Action: 'GetCallerIdentity', Version: '2011-06-15' });
  });

  it('the derived key cache keeps verifying when it overflows and across regions and services', async () => {
    const small = new SigV4Verifier({ secretFor: (id) => SECRETS.get(id), keyCacheSize: 1 });
    for (const [service, region] of [['ec2', 'us-east-1'], ['sts', 'eu-west-1'], ['ec2', 'us-east-1'], ['elasticloadbalancing', 'ap-south-1']] as const) {
      const signed = await signer(service, region).sign(new HttpRequest({ method: 'POST', hostname: 'h', path: '/', headers: { host: 'h' }, body: 'Action=X' }));
      expect(small.verify(fromSmithy(signed))).toEqual({ ok: true, accessKeyId: ACCOUNT_A.accessKeyId, region, service });
    }
  });
});

describe('SigV4 on hand-signed requests: what the SDKs never send but AWS takes', () => {
  const T0 = Date.UTC(2026, 11, 4, 12, 0, 0);
  const AMZ_DATE = '20261204T120000Z';
  const at = (ms: number) => new SigV4Verifier({ secretFor: (id) => SECRETS.get(id), now: () => ms });
  const uri = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

  /** the signature of a request whose canonical headers are CANONICAL (name -> value as signed), written out from the SigV4 documents */
  function signature(method: string, pairs: [string, string][], canonical: Record<string, string>, body: string): string {
    const names = Object.keys(canonical).sort();
    const query = pairs.map(([k, v]) => `${uri(k)}=${uri(v)}`).sort().join('&');
    const request = [method, '/', query, names.map((n) => `${n}:${canonical[n]}\n`).join(''), names.join(';'), createHash('sha256').update(body).digest('hex')].join('\n');
    const scope = '20261204/us-east-1/sts/aws4_request';
    const toSign = ['AWS4-HMAC-SHA256', AMZ_DATE, scope, createHash('sha256').update(request).digest('hex')].join('\n');
    let key: Buffer | string = `AWS4${ACCOUNT_A.secretAccessKey}`;
    for (const part of ['20261204', 'us-east-1', 'sts', 'aws4_request']) key = createHmac('sha256', key).update(part).digest();
    return createHmac('sha256', key).update(toSign).digest('hex');
  }
  const credential = `${ACCOUNT_A.accessKeyId}/20261204/us-east-1/sts/aws4_request`;
  const authorization = (names: string, sig: string) => `AWS4-HMAC-SHA256 Credential=${credential}, SignedHeaders=${names}, Signature=${sig}`;

  it('a query-signed request without X-Amz-Expires has the 15-minute window, not a week', () => {
    const pairs: [string, string][] = [['Action', 'GetCallerIdentity'], ['Version', '2011-06-15'], ['X-Amz-Algorithm', 'AWS4-HMAC-SHA256'], ['X-Amz-Credential', credential], ['X-Amz-Date', AMZ_DATE], ['X-Amz-SignedHeaders', 'host']];
    const sig = signature('GET', pairs, { host: 'h' }, '');
    const req: SignedRequest = { method: 'GET', path: '/', query: [...pairs, ['X-Amz-Signature', sig] as [string, string]].map(([k, v]) => `${k}=${uri(v)}`).join('&'), headers: { host: 'h' }, body: '' };
    expect(at(T0 + 14 * 60_000).verify(req)).toEqual(ok('sts'));
    expect(at(T0 - 14 * 60_000).verify(req)).toEqual(ok('sts'));
    for (const ms of [T0 + 16 * 60_000, T0 + 2 * 86_400_000, T0 - 16 * 60_000]) expect(at(ms).verify(req)).toMatchObject({ ok: false, reason: 'expired' });
  });

  it('a header sent twice is signed as its values joined by \',\' (node joins them with \', \' or keeps the first)', () => {
    const body = 'Action=GetCallerIdentity&Version=2011-06-15';
    const canonical = { 'content-type': 'application/x-www-form-urlencoded', host: 'h', 'x-amz-date': AMZ_DATE, 'x-foo': 'a,b c' };
    const sig = signature('POST', [], canonical, body);
    const rawHeaders = ['Host', 'h', 'Content-Type', 'application/x-www-form-urlencoded', 'X-Foo', ' a ', 'x-foo', 'b   c', 'X-Amz-Date', AMZ_DATE, 'Authorization', authorization('content-type;host;x-amz-date;x-foo', sig)];
    const headers = { host: 'h', 'content-type': 'application/x-www-form-urlencoded', 'x-foo': ' a , b   c', 'x-amz-date': AMZ_DATE, authorization: authorization('content-type;host;x-amz-date;x-foo', sig) };
    const req: SignedRequest = { method: 'POST', path: '/', query: '', headers, rawHeaders, body };
    expect(at(T0).verify(req)).toEqual(ok('sts'));
    // a second Content-Type, which node drops from its headers, is signed too
    const twoTypes = signature('POST', [], { ...canonical, 'content-type': 'application/x-www-form-urlencoded,text/plain' }, body);
    const auth2 = authorization('content-type;host;x-amz-date;x-foo', twoTypes);
    expect(at(T0).verify({ ...req, headers: { ...headers, authorization: auth2 }, rawHeaders: [...rawHeaders.slice(0, -2), 'Content-Type', 'text/plain', 'Authorization', auth2] })).toEqual(ok('sts'));
    expect(at(T0).verify({ ...req, rawHeaders: [...rawHeaders, 'X-Foo', 'd'] })).toMatchObject({ ok: false, reason: 'signatureMismatch' });
  });

  it('the signing date may come from a Date header in the ISO 8601 basic form or an X-Amz-Date parameter', () => {
    const body = 'Action=GetCallerIdentity&Version=2011-06-15';
    const withDate = signature('POST', [], { date: AMZ_DATE, host: 'h' }, body);
    expect(at(T0).verify({ method: 'POST', path: '/', query: '', headers: { host: 'h', date: AMZ_DATE, authorization: authorization('date;host', withDate) }, body })).toEqual(ok('sts'));
    const pairs: [string, string][] = [['Action', 'GetCallerIdentity'], ['Version', '2011-06-15'], ['X-Amz-Date', AMZ_DATE]];
    const inQuery = signature('GET', pairs, { host: 'h' }, '');
    const query = pairs.map(([k, v]) => `${k}=${v}`).join('&');
    expect(at(T0).verify({ method: 'GET', path: '/', query, headers: { host: 'h', authorization: authorization('host', inQuery) }, body: '' })).toEqual(ok('sts'));
    // an RFC 7231 Date is not a signing date
    const http = signature('POST', [], { date: 'Fri, 04 Dec 2026 12:00:00 GMT', host: 'h' }, body);
    expect(at(T0).verify({ method: 'POST', path: '/', query: '', headers: { host: 'h', date: 'Fri, 04 Dec 2026 12:00:00 GMT', authorization: authorization('date;host', http) }, body })).toMatchObject({ ok: false, reason: 'incomplete' });
  });
});

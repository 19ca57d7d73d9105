// A seeded fuzz of the AWS dialect's actions (the semantic layer; the form parser has its own in
// test/unit/aws-wire-malformed.test.ts): a real daemon with two accounts holding a small world each
// (VPC, subnets, security group, route table, network ACL, NLB, target group, listener, endpoint service,
// endpoints, connection notification, and resources made then deleted), then, for every action of
// the EC2, ELBv2 and STS tables, many signed requests whose parameters are the action's own names
// with hostile values (empty, huge, negative, non-numbers, booleans spelled otherwise, the other
// account's ids, deleted ids, ids of the wrong kind, malformed CIDRs, ports and ARNs, unicode and
// control characters, duplicated and out-of-order list items, lists where scalars go and back).
// Each answer must be below 500, XML in its API's envelope (an error with a Code and a Message, no
// stack trace, no HTML), and an error must change nothing: the control plane's revision, and on a
// sample of requests both accounts' Describe* answers, are the same after it; after a sample of
// accepted changes every Describe* still answers in shape, and after a restart on the same data both
// accounts read what they read before. FUZZ_SEED replays
// another sequence, FUZZ_PER_ACTION sets the requests per action, FUZZ_LOG names a file for what
// the run saw; a failure names the seed, the action and the request's form.
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { XMLValidator } from 'fast-xml-parser';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AWS_PARAMETER_NAMES } from '../../src/api/aws/parameter-names.js';
import { parseQuery } from '../../src/api/aws/query.js';
import { EC2_ACTIONS, ELBV2_ACTIONS, STS_ACTIONS } from '../../src/api/aws/tables.js';
import { CONSUMER, NodeSha256, PROVIDER, startTestDaemon, twoAccountConfig, type TestDaemon } from '../helpers.js';
import { AWS_KEYS } from './aws-sdk.js';

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed);
/** requests per action (each action's sequence is seeded from SEED and its name) */
const PER_ACTION = Number(process.env.FUZZ_PER_ACTION ?? 24);
const REGION = 'us-east-1';
const PREFIX_LIST = 'pl-63a5400a';
const GATEWAY_SERVICE = `com.amazonaws.${REGION}.s3`;
const TOPIC = `arn:aws:sns:${REGION}:${AWS_KEYS.provider.account_id}:fuzz-events`;

type Api = 'ec2' | 'elasticloadbalancing' | 'sts';
type Who = 'provider' | 'consumer';
const VERSION: Record<Api, string> = { ec2: '2016-11-15', elasticloadbalancing: '2015-12-01', sts: '2011-06-15' };

// ---- a deterministic generator (mulberry32)

class Rng {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0; }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  chance(p: number): boolean { return this.next() < p; }
  int(n: number): number { return Math.floor(this.next() * n); }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)]!; }
}

function hashName(s: string): number {
  let h = 2166136261;
  for (const c of s) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
  return h >>> 0;
}

// ---- requests: signed form POSTs, answers checked for their shape

interface Answer { status: number; text: string; contentType: string }

let d: TestDaemon;
const signers: Record<Who, SignatureV4 & { service?: string }> = {} as never;

function encodeForm(pairs: ReadonlyArray<readonly [string, string]>): string {
  return pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
}

async function send(who: Who, api: Api, pairs: ReadonlyArray<readonly [string, string]>): Promise<Answer> {
  const body = encodeForm(pairs);
  const u = new URL(d.url);
  const key = AWS_KEYS[who];
  const signer = new SignatureV4({
    credentials: { accessKeyId: key.access_key_id, secretAccessKey: key.secret_access_key }, region: REGION, service: api, sha256: NodeSha256,
  });
  const headers = { host: u.host, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' };
  const signed = await signer.sign(new HttpRequest({ method: 'POST', protocol: 'http:', hostname: u.hostname, port: Number(u.port), path: '/', headers, body }));
  const h = { ...(signed.headers as Record<string, string>) };
  delete h.host;
  const res = await fetch(`${d.url}/`, { method: 'POST', headers: h, body });
  return { status: res.status, text: await res.text(), contentType: res.headers.get('content-type') ?? '' };
}

/** parameters as wire pairs: lists by 1-based index, the API's way */
function flatten(api: Api, params: Record<string, unknown>): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  const flat = (prefix: string, v: unknown): void => {
    if (Array.isArray(v)) v.forEach((x, i) => flat(api === 'ec2' ? `${prefix}.${i + 1}` : `${prefix}.member.${i + 1}`, x));
    else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) flat(`${prefix}.${k}`, x);
    else pairs.push([prefix, String(v)]);
  };
  for (const [k, v] of Object.entries(params)) flat(k, v);
  return pairs;
}

/** an action that must succeed: its answer */
async function call(who: Who, api: Api, action: string, params: Record<string, unknown> = {}): Promise<string> {
  const pairs: Array<[string, string]> = [['Action', action], ['Version', VERSION[api]], ...flatten(api, params)];
  const r = await send(who, api, pairs);
  if (r.status !== 200) throw new Error(`${who} ${action} ${JSON.stringify(params)}: ${r.status} ${r.text}`);
  return r.text;
}

const tag = (xml: string, name: string): string => {
  const m = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml);
  if (!m) throw new Error(`no <${name}> in ${xml.slice(0, 400)}`);
  return m[1]!;
};

// characters XML 1.0 does not allow, even escaped (a lone surrogate too)
const NOT_XML = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const STACK = /\n\s+at [\w.<>[\] ]+ \(|node:internal|TypeError|ReferenceError|RangeError|SyntaxError|Cannot read propert|is not a function|\[object Object\]/;

/** the shape problems of an answer to `action` of `api` (none: an empty list) */
function shapeProblems(api: Api, action: string, a: Answer, form: string): string[] {
  const out: string[] = [];
  if (a.status >= 500) out.push(`status ${a.status}`);
  if (!/^text\/xml/.test(a.contentType)) out.push(`content-type ${a.contentType}`);
  if (/<html|<!doctype/i.test(a.text)) out.push('HTML');
  if (STACK.test(a.text)) out.push('a stack trace or a JavaScript error in the body');
  if (NOT_XML.test(a.text)) out.push('a character XML does not allow');
  else if (XMLValidator.validate(a.text) !== true) out.push(`not well-formed XML (${JSON.stringify(XMLValidator.validate(a.text))})`);
  const body = a.text.replace(/^<\?xml[^>]*\?>\s*/, '');
  if (a.status === 200) {
    const root = api === 'ec2' ? `<${action}Response xmlns="` : `<${action}Response xmlns="`;
    if (!body.startsWith(root)) out.push(`a 200 not in <${action}Response>`);
    if (api !== 'ec2' && !body.includes(`<${action}Result>`) && !body.includes(`<${action}Result/>`)) out.push(`no <${action}Result>`);
  } else if (api === 'ec2') {
    const m = /^<Response><Errors><Error><Code>([^<]+)<\/Code><Message>([^<]+)<\/Message><\/Error><\/Errors><RequestID>[0-9a-f-]{36}<\/RequestID><\/Response>$/.exec(body);
    if (!m) out.push('an error not in EC2\'s <Response><Errors><Error> with a Code and a Message');
  } else {
    const m = /^<ErrorResponse[^>]*><Error><Type>Sender<\/Type><Code>([^<]+)<\/Code><Message>([^<]+)<\/Message><\/Error><RequestId>[0-9a-f-]{36}<\/RequestId><\/ErrorResponse>$/.exec(body);
    if (!m) out.push('an error not in <ErrorResponse><Error> with Type Sender, a Code and a Message');
  }
  // a message that says undefined or NaN where the request did not (a value lost on the way)
  for (const word of ['undefined', 'NaN']) if (a.status !== 200 && body.includes(word) && !form.includes(word)) out.push(`an error message saying ${word}`);
  return out;
}

// ---- the world: each account's resources, and ids of resources deleted

interface World {
  vpc: string; subnets: string[]; sg: string; sgB: string; rtb: string; igw: string; gateway: string; assoc: string; sgRule: string;
  acl: string; defaultAcl: string; aclAssoc: string;
  lb: string; tg: string; listener: string; service: string; serviceName: string;
  endpoint: string; ownEndpoint: string; notification: string;
  deleted: { vpc: string; subnet: string; sg: string; rtb: string; igw: string; acl: string; lb: string; tg: string; endpoint: string; notification: string; service: string };
}
const world: Record<Who, World> = {} as never;

async function build(who: Who, octet: number): Promise<void> {
  const vpc = tag(await call(who, 'ec2', 'CreateVpc', { CidrBlock: `172.${octet}.0.0/16` }), 'vpcId');
  const subnets = [
    tag(await call(who, 'ec2', 'CreateSubnet', { VpcId: vpc, CidrBlock: `172.${octet}.1.0/24`, AvailabilityZone: `${REGION}a` }), 'subnetId'),
    tag(await call(who, 'ec2', 'CreateSubnet', { VpcId: vpc, CidrBlock: `172.${octet}.2.0/24`, AvailabilityZone: `${REGION}b` }), 'subnetId'),
  ];
  const sg = tag(await call(who, 'ec2', 'CreateSecurityGroup', { VpcId: vpc, GroupName: 'fuzz', GroupDescription: 'fuzz group' }), 'groupId');
  const sgRule = tag(await call(who, 'ec2', 'AuthorizeSecurityGroupIngress', {
    GroupId: sg, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 80, ToPort: 90, IpRanges: [{ CidrIp: '10.0.0.0/8', Description: 'web' }] }],
  }), 'securityGroupRuleId');
  const sgB = tag(await call(who, 'ec2', 'CreateSecurityGroup', { VpcId: vpc, GroupName: 'fuzz-b', GroupDescription: 'second group' }), 'groupId');
  const rtb = tag(await call(who, 'ec2', 'CreateRouteTable', { VpcId: vpc }), 'routeTableId');
  const assoc = tag(await call(who, 'ec2', 'AssociateRouteTable', { RouteTableId: rtb, SubnetId: subnets[0] }), 'associationId');
  const igw = tag(await call(who, 'ec2', 'CreateInternetGateway', {}), 'internetGatewayId');
  await call(who, 'ec2', 'AttachInternetGateway', { InternetGatewayId: igw, VpcId: vpc });
  await call(who, 'ec2', 'CreateRoute', { RouteTableId: rtb, DestinationCidrBlock: '0.0.0.0/0', GatewayId: igw });
  // a network ACL with a rule, holding the first subnet (its association with the default ACL moved)
  const acl = tag(await call(who, 'ec2', 'CreateNetworkAcl', { VpcId: vpc }), 'networkAclId');
  await call(who, 'ec2', 'CreateNetworkAclEntry', { NetworkAclId: acl, RuleNumber: 100, Egress: false, Protocol: '6', RuleAction: 'allow', CidrBlock: '10.0.0.0/8', PortRange: { From: 80, To: 90 } });
  const defaults = await call(who, 'ec2', 'DescribeNetworkAcls', { Filter: [{ Name: 'default', Value: ['true'] }, { Name: 'vpc-id', Value: [vpc] }] });
  const defaultAcl = tag(defaults, 'networkAclId');
  const aclAssoc = tag(await call(who, 'ec2', 'ReplaceNetworkAclAssociation', { AssociationId: tag(defaults, 'networkAclAssociationId'), NetworkAclId: acl }), 'newAssociationId');
  const lb = tag(await call(who, 'elasticloadbalancing', 'CreateLoadBalancer', { Name: `fuzz-${who}`, Type: 'network', Scheme: 'internal', Subnets: subnets }), 'LoadBalancerArn');
  const tg = tag(await call(who, 'elasticloadbalancing', 'CreateTargetGroup', { Name: `fuzz-${who}`, Protocol: 'TCP', Port: 8080, VpcId: vpc, TargetType: 'ip' }), 'TargetGroupArn');
  await call(who, 'elasticloadbalancing', 'RegisterTargets', { TargetGroupArn: tg, Targets: [{ Id: `172.${octet}.1.50`, Port: 8080 }] });
  const listener = tag(await call(who, 'elasticloadbalancing', 'CreateListener', {
    LoadBalancerArn: lb, Protocol: 'TCP', Port: 20000 + octet, DefaultActions: [{ Type: 'forward', TargetGroupArn: tg }],
  }), 'ListenerArn');
  const svcXml = await call(who, 'ec2', 'CreateVpcEndpointServiceConfiguration', { NetworkLoadBalancerArn: [lb], AcceptanceRequired: true, PrivateDnsName: `fuzz-${who}.example.com` });
  const service = tag(svcXml, 'serviceId');
  const serviceName = tag(svcXml, 'serviceName');
  const notification = tag(await call(who, 'ec2', 'CreateVpcEndpointConnectionNotification', {
    ServiceId: service, ConnectionNotificationArn: TOPIC, ConnectionEvents: ['Connect', 'Accept'],
  }), 'connectionNotificationId');
  // resources made and deleted: their ids are the "deleted" ones
  const vpc2 = tag(await call(who, 'ec2', 'CreateVpc', { CidrBlock: `172.${octet + 100}.0.0/16` }), 'vpcId');
  const subnet2 = tag(await call(who, 'ec2', 'CreateSubnet', { VpcId: vpc2, CidrBlock: `172.${octet + 100}.1.0/24` }), 'subnetId');
  const sg2 = tag(await call(who, 'ec2', 'CreateSecurityGroup', { VpcId: vpc2, GroupName: 'gone', GroupDescription: 'gone' }), 'groupId');
  const rtb2 = tag(await call(who, 'ec2', 'CreateRouteTable', { VpcId: vpc2 }), 'routeTableId');
  const igw2 = tag(await call(who, 'ec2', 'CreateInternetGateway', {}), 'internetGatewayId');
  await call(who, 'ec2', 'DeleteInternetGateway', { InternetGatewayId: igw2 });
  const acl2 = tag(await call(who, 'ec2', 'CreateNetworkAcl', { VpcId: vpc2 }), 'networkAclId');
  await call(who, 'ec2', 'DeleteNetworkAcl', { NetworkAclId: acl2 });
  const lb2 = tag(await call(who, 'elasticloadbalancing', 'CreateLoadBalancer', { Name: `gone-${who}`, Type: 'network', Subnets: [subnet2] }), 'LoadBalancerArn');
  const tg2 = tag(await call(who, 'elasticloadbalancing', 'CreateTargetGroup', { Name: `gone-${who}`, Protocol: 'TCP', Port: 81, VpcId: vpc2, TargetType: 'ip' }), 'TargetGroupArn');
  const svc2 = tag(await call(who, 'ec2', 'CreateVpcEndpointServiceConfiguration', { NetworkLoadBalancerArn: [lb2], AcceptanceRequired: false }), 'serviceId');
  const nfn2 = tag(await call(who, 'ec2', 'CreateVpcEndpointConnectionNotification', { ServiceId: svc2, ConnectionNotificationArn: TOPIC, ConnectionEvents: ['Delete'] }), 'connectionNotificationId');
  await call(who, 'ec2', 'DeleteVpcEndpointConnectionNotifications', { ConnectionNotificationId: [nfn2] });
  await call(who, 'ec2', 'DeleteVpcEndpointServiceConfigurations', { ServiceId: [svc2] });
  await call(who, 'elasticloadbalancing', 'DeleteTargetGroup', { TargetGroupArn: tg2 });
  await call(who, 'elasticloadbalancing', 'DeleteLoadBalancer', { LoadBalancerArn: lb2 });
  await call(who, 'ec2', 'DeleteRouteTable', { RouteTableId: rtb2 });
  await call(who, 'ec2', 'DeleteSecurityGroup', { GroupId: sg2 });
  await call(who, 'ec2', 'DeleteSubnet', { SubnetId: subnet2 });
  await call(who, 'ec2', 'DeleteVpc', { VpcId: vpc2 });
  world[who] = {
    vpc, subnets, sg, sgB, rtb, igw, assoc, gateway: '', sgRule, acl, defaultAcl, aclAssoc, lb, tg, listener, service, serviceName, notification, endpoint: '', ownEndpoint: '',
    deleted: { vpc: vpc2, subnet: subnet2, sg: sg2, rtb: rtb2, igw: igw2, acl: acl2, lb: lb2, tg: tg2, endpoint: '', notification: nfn2, service: svc2 },
  };
}

/** each account's endpoints: one to the other's service (awaiting acceptance), one to its own, one deleted */
async function connect(who: Who, other: Who): Promise<void> {
  const w = world[who];
  const iface = (serviceName: string) => ({ VpcEndpointType: 'Interface', VpcId: w.vpc, ServiceName: serviceName, SubnetId: [w.subnets[0]], SecurityGroupId: [w.sg] });
  w.endpoint = tag(await call(who, 'ec2', 'CreateVpcEndpoint', iface(world[other].serviceName)), 'vpcEndpointId');
  w.ownEndpoint = tag(await call(who, 'ec2', 'CreateVpcEndpoint', iface(w.serviceName)), 'vpcEndpointId');
  w.gateway = tag(await call(who, 'ec2', 'CreateVpcEndpoint', { VpcEndpointType: 'Gateway', VpcId: w.vpc, ServiceName: GATEWAY_SERVICE, RouteTableId: [w.rtb] }), 'vpcEndpointId');
  const gone = tag(await call(who, 'ec2', 'CreateVpcEndpoint', { ...iface(w.serviceName), SubnetId: [w.subnets[1]] }), 'vpcEndpointId');
  await call(who, 'ec2', 'DeleteVpcEndpoints', { VpcEndpointId: [gone] });
  w.deleted.endpoint = gone;
}

/** waits until the control plane's revision holds still for `quietMs` (the background transitions done) */
async function settle(quietMs = 15, maxMs = 3_000): Promise<void> {
  const until = Date.now() + maxMs;
  let last = d.daemon.control.revision;
  let since = Date.now();
  while (Date.now() < until) {
    await new Promise((r) => setTimeout(r, 5));
    const now = d.daemon.control.revision;
    if (now !== last) { last = now; since = Date.now(); } else if (Date.now() - since >= quietMs) return;
  }
}

/** both accounts' Describe* answers, request ids dropped: what an error must leave as it was; `problems` gets what is wrong with their shape */
async function snapshot(problems: string[] = []): Promise<string> {
  const parts: string[] = [];
  for (const who of ['provider', 'consumer'] as const) {
    const w = world[who];
    const reads: Array<[Api, string, Record<string, unknown>]> = [
      ['ec2', 'DescribeVpcs', {}], ['ec2', 'DescribeSubnets', {}], ['ec2', 'DescribeRouteTables', {}], ['ec2', 'DescribeSecurityGroups', {}],
      ['ec2', 'DescribeSecurityGroupRules', {}], ['ec2', 'DescribeNetworkAcls', {}], ['ec2', 'DescribeVpcEndpoints', {}], ['ec2', 'DescribeVpcEndpointServiceConfigurations', {}],
      ['ec2', 'DescribeVpcEndpointConnections', {}], ['ec2', 'DescribeVpcEndpointConnectionNotifications', {}], ['ec2', 'DescribeTags', {}],
      ['ec2', 'DescribeVpcAttribute', { VpcId: w.vpc, Attribute: 'enableDnsHostnames' }],
      ['ec2', 'DescribeVpcEndpointServicePermissions', { ServiceId: w.service }],
      ['elasticloadbalancing', 'DescribeLoadBalancers', {}], ['elasticloadbalancing', 'DescribeTargetGroups', {}],
      ['elasticloadbalancing', 'DescribeListeners', { LoadBalancerArn: w.lb }],
      ['elasticloadbalancing', 'DescribeLoadBalancerAttributes', { LoadBalancerArn: w.lb }],
      ['elasticloadbalancing', 'DescribeTargetGroupAttributes', { TargetGroupArn: w.tg }],
      ['elasticloadbalancing', 'DescribeListenerAttributes', { ListenerArn: w.listener }],
      ['elasticloadbalancing', 'DescribeTags', { ResourceArns: [w.lb, w.tg, w.listener] }],
    ];
    for (const [api, action, params] of reads) {
      // a resource of the world the fuzz deleted answers its NotFound: that too is the state
      const pairs = [['Action', action], ['Version', VERSION[api]], ...flatten(api, params)] as Array<[string, string]>;
      const a = await send(who, api, pairs);
      for (const p of shapeProblems(api, action, a, '')) problems.push(`${p}: ${who} ${action} -> ${a.status} ${a.text.slice(0, 300)}`);
      parts.push(`${a.status} ${a.text.replace(/<(requestId|RequestId|RequestID)>[^<]*<\/\1>/g, '')}`);
    }
  }
  return parts.join('\n');
}

// ---- the parameters of each action (read from its handler in src/api/aws/*.ts)

/** what a value stands for: picks a plausible one (an id of the world) or a hostile one */
type Kind =
  | 'vpc' | 'subnet' | 'sg' | 'rtb' | 'assoc' | 'sgrule' | 'vpce' | 'svc' | 'svcname' | 'nfn' | 'lb' | 'tg' | 'listener' | 'arn'
  | 'cidr' | 'ip' | 'port' | 'int' | 'bool' | 'str' | 'zone' | 'zoneid' | 'region' | 'principal' | 'policy' | 'topic' | 'event'
  | 'protocol' | 'lbattr' | 'tgattr' | 'lsattr' | 'attrval' | 'tagkey' | 'restype' | 'filter' | 'token' | 'name' | 'hcport'
  | 'igw' | 'acl' | 'aclassoc' | 'ruleno' | 'ruleaction' | 'aclprotocol' | 'lbtype' | 'scheme' | 'tgtype' | 'vpcetype' | 'iptype' | 'actiontype' | 'attribute' | 'accountattr' | 'prefixlist' | 'version';

/** a parameter: a scalar, a list of scalars (`list`), a structure or a list of structures (`fields`) */
interface P { readonly name: string; readonly kind?: Kind; readonly list?: boolean; readonly fields?: readonly P[]; readonly need?: Need }
/** how often a near-valid request carries a parameter: one the action requires, an ordinary one, or a rare one (refused, or an alternative to another) */
type Need = 'required' | 'rare';
const req = (p: P): P => ({ ...p, need: 'required' });
const rare = (p: P): P => ({ ...p, need: 'rare' });
const s = (name: string, kind: Kind): P => ({ name, kind });
const l = (name: string, kind: Kind): P => ({ name, kind, list: true });
const st = (name: string, fields: readonly P[]): P => ({ name, fields });
const sl = (name: string, fields: readonly P[]): P => ({ name, fields, list: true });

const FILTERS = rare(sl('Filter', [s('Name', 'filter'), l('Value', 'str')]));
const PAGE = [s('MaxResults', 'int'), rare(s('NextToken', 'token'))];
const TAG = [s('Key', 'tagkey'), s('Value', 'str')];
const TAG_SPEC = sl('TagSpecification', [s('ResourceType', 'restype'), sl('Tag', TAG)]);
const IP_PERMS = sl('IpPermissions', [
  s('IpProtocol', 'protocol'), s('FromPort', 'port'), s('ToPort', 'port'),
  sl('IpRanges', [s('CidrIp', 'cidr'), s('Description', 'str')]), rare(sl('Ipv6Ranges', [rare(s('CidrIpv6', 'str'))])),
  rare(sl('UserIdGroupPairs', [s('GroupId', 'sg')])), rare(sl('PrefixListIds', [s('PrefixListId', 'prefixlist')])),
]);
/** Authorize/Revoke Ingress/Egress: AWS's models give GroupName to the ingress ones only, SecurityGroupRuleId.N to the revokes only */
const ruleAction = (ingress: boolean, revoke: boolean): P[] => [
  s('GroupId', 'sg'), ...(ingress ? [rare(s('GroupName', 'name'))] : []), IP_PERMS,
  ...[s('IpProtocol', 'protocol'), s('FromPort', 'port'), s('ToPort', 'port'), s('CidrIp', 'cidr'), ...(revoke ? [l('SecurityGroupRuleId', 'sgrule')] : [])].map(rare),
];
const DESCRIPTIONS = [s('GroupId', 'sg'), rare(s('GroupName', 'name')), IP_PERMS, sl('SecurityGroupRuleDescription', [s('SecurityGroupRuleId', 'sgrule'), s('Description', 'str')])];
const HEALTH = [
  s('HealthCheckProtocol', 'protocol'), s('HealthCheckPort', 'hcport'), s('HealthCheckEnabled', 'bool'), s('HealthCheckIntervalSeconds', 'int'),
  s('HealthCheckTimeoutSeconds', 'int'), s('HealthyThresholdCount', 'int'), s('UnhealthyThresholdCount', 'int'), rare(s('HealthCheckPath', 'str')),
  rare(st('Matcher', [s('HttpCode', 'str'), s('GrpcCode', 'str')])),
];
const TAGS = sl('Tags', TAG);
const SUBNETS = [l('Subnets', 'subnet'), sl('SubnetMappings', [s('SubnetId', 'subnet'), s('PrivateIPv4Address', 'ip'), rare(s('AllocationId', 'str')), rare(s('IPv6Address', 'str'))])];
const DEFAULT_ACTIONS = sl('DefaultActions', [s('Type', 'actiontype'), s('TargetGroupArn', 'tg'), st('ForwardConfig', [sl('TargetGroups', [s('TargetGroupArn', 'tg'), s('Weight', 'int')])])]);
const ELB_PAGE = [rare(s('Marker', 'token')), s('PageSize', 'int')];
const TARGETS = sl('Targets', [s('Id', 'ip'), s('Port', 'port'), s('AvailabilityZone', 'zone')]);
const ATTRIBUTES = (k: Kind) => sl('Attributes', [s('Key', k), s('Value', 'attrval')]);
const ACL_ENTRY = [
  s('NetworkAclId', 'acl'), s('RuleNumber', 'ruleno'), s('Egress', 'bool'), s('Protocol', 'aclprotocol'), s('RuleAction', 'ruleaction'), s('CidrBlock', 'cidr'),
  rare(s('Ipv6CidrBlock', 'str')), st('PortRange', [s('From', 'port'), s('To', 'port')]), st('Icmp', [s('Type', 'int'), s('Code', 'int')]),
];
const SERVICE_OPTIONS = [l('SupportedIpAddressType', 'iptype'), l('SupportedRegion', 'region'), s('PrivateDnsName', 'name')];

const SPECS: Readonly<Record<Api, Readonly<Record<string, readonly P[]>>>> = {
  ec2: {
    DescribeRegions: [l('RegionName', 'region'), s('AllRegions', 'bool'), FILTERS],
    DescribeAvailabilityZones: [l('ZoneName', 'zone'), l('ZoneId', 'zoneid'), s('AllAvailabilityZones', 'bool'), FILTERS],
    DescribeAccountAttributes: [l('AttributeName', 'accountattr')],
    DescribeVpcEndpointServices: [l('ServiceName', 'svcname'), FILTERS, ...PAGE],
    DescribeVpcEndpointServiceConfigurations: [l('ServiceId', 'svc'), FILTERS, ...PAGE],
    DescribeVpcEndpointServicePermissions: [s('ServiceId', 'svc'), FILTERS, ...PAGE],
    ModifyVpcEndpointServicePermissions: [s('ServiceId', 'svc'), l('AddAllowedPrincipals', 'principal'), l('RemoveAllowedPrincipals', 'principal')],
    DescribeVpcEndpointConnections: [FILTERS, ...PAGE],
    AcceptVpcEndpointConnections: [s('ServiceId', 'svc'), l('VpcEndpointId', 'vpce')],
    RejectVpcEndpointConnections: [s('ServiceId', 'svc'), l('VpcEndpointId', 'vpce')],
    CreateVpcEndpoint: [
      s('VpcId', 'vpc'), s('ServiceName', 'svcname'), s('VpcEndpointType', 'vpcetype'), l('SubnetId', 'subnet'), l('SecurityGroupId', 'sg'),
      l('RouteTableId', 'rtb'), s('PolicyDocument', 'policy'), s('PrivateDnsEnabled', 'bool'), s('ClientToken', 'str'), TAG_SPEC,
      rare(s('IpAddressType', 'iptype')), rare(st('DnsOptions', [s('DnsRecordIpType', 'iptype')])), rare(s('ServiceRegion', 'region')),
      sl('SubnetConfiguration', [s('SubnetId', 'subnet'), s('Ipv4', 'ip'), rare(s('Ipv6', 'str'))]),
    ],
    DescribeVpcEndpoints: [l('VpcEndpointId', 'vpce'), FILTERS, ...PAGE],
    ModifyVpcEndpoint: [
      s('VpcEndpointId', 'vpce'), l('AddSubnetId', 'subnet'), l('RemoveSubnetId', 'subnet'), l('AddSecurityGroupId', 'sg'), l('RemoveSecurityGroupId', 'sg'),
      l('AddRouteTableId', 'rtb'), l('RemoveRouteTableId', 'rtb'), s('ResetPolicy', 'bool'), s('PolicyDocument', 'policy'), s('PrivateDnsEnabled', 'bool'),
      sl('SubnetConfiguration', [s('SubnetId', 'subnet'), s('Ipv4', 'ip')]),
    ],
    DeleteVpcEndpoints: [l('VpcEndpointId', 'vpce')],
    DescribeVpcs: [l('VpcId', 'vpc'), FILTERS, ...PAGE],
    DescribeVpcAttribute: [s('VpcId', 'vpc'), s('Attribute', 'attribute')],
    DescribeSubnets: [l('SubnetId', 'subnet'), FILTERS, ...PAGE],
    DescribeRouteTables: [l('RouteTableId', 'rtb'), FILTERS, ...PAGE],
    DescribeSecurityGroups: [l('GroupId', 'sg'), l('GroupName', 'name'), FILTERS, ...PAGE],
    DescribeSecurityGroupRules: [l('SecurityGroupRuleId', 'sgrule'), FILTERS, ...PAGE],
    DescribeNetworkAcls: [l('NetworkAclId', 'str'), FILTERS, ...PAGE],
    DescribeNetworkInterfaces: [l('NetworkInterfaceId', 'str'), FILTERS, ...PAGE],
    DescribePrefixLists: [l('PrefixListId', 'prefixlist'), FILTERS, ...PAGE],
    CreateVpc: [s('CidrBlock', 'cidr'), TAG_SPEC, rare(s('AmazonProvidedIpv6CidrBlock', 'bool')), rare(s('Ipv6CidrBlock', 'str')), rare(s('InstanceTenancy', 'str'))],
    DeleteVpc: [s('VpcId', 'vpc')],
    ModifyVpcAttribute: [s('VpcId', 'vpc'), st('EnableDnsSupport', [s('Value', 'bool')]), st('EnableDnsHostnames', [s('Value', 'bool')]), rare(st('EnableNetworkAddressUsageMetrics', [s('Value', 'bool')]))],
    CreateSubnet: [s('VpcId', 'vpc'), s('CidrBlock', 'cidr'), s('AvailabilityZone', 'zone'), rare(s('AvailabilityZoneId', 'zoneid')), TAG_SPEC, rare(s('Ipv6Native', 'bool')), rare(s('Ipv6CidrBlock', 'str'))],
    DeleteSubnet: [s('SubnetId', 'subnet')],
    ModifySubnetAttribute: [s('SubnetId', 'subnet'), st('MapPublicIpOnLaunch', [s('Value', 'bool')]), rare(st('AssignIpv6AddressOnCreation', [s('Value', 'bool')])), rare(st('EnableDns64', [s('Value', 'bool')])), rare(s('CustomerOwnedIpv4Pool', 'str'))],
    CreateInternetGateway: [TAG_SPEC],
    AttachInternetGateway: [s('InternetGatewayId', 'igw'), s('VpcId', 'vpc')],
    DetachInternetGateway: [s('InternetGatewayId', 'igw'), s('VpcId', 'vpc')],
    DeleteInternetGateway: [s('InternetGatewayId', 'igw')],
    DescribeInternetGateways: [l('InternetGatewayId', 'igw'), FILTERS, ...PAGE],
    CreateNetworkAcl: [s('VpcId', 'vpc'), TAG_SPEC, s('ClientToken', 'str')],
    DeleteNetworkAcl: [s('NetworkAclId', 'acl')],
    CreateNetworkAclEntry: ACL_ENTRY,
    ReplaceNetworkAclEntry: ACL_ENTRY,
    DeleteNetworkAclEntry: [s('NetworkAclId', 'acl'), s('RuleNumber', 'ruleno'), s('Egress', 'bool')],
    ReplaceNetworkAclAssociation: [s('AssociationId', 'aclassoc'), s('NetworkAclId', 'acl')],
    CreateRouteTable: [s('VpcId', 'vpc'), TAG_SPEC],
    DeleteRouteTable: [s('RouteTableId', 'rtb')],
    AssociateRouteTable: [s('RouteTableId', 'rtb'), s('SubnetId', 'subnet'), rare(s('GatewayId', 'igw'))],
    DisassociateRouteTable: [s('AssociationId', 'assoc')],
    ReplaceRouteTableAssociation: [s('AssociationId', 'assoc'), s('RouteTableId', 'rtb')],
    CreateRoute: [s('RouteTableId', 'rtb'), s('DestinationCidrBlock', 'cidr'), s('GatewayId', 'igw'), rare(s('NatGatewayId', 'str')), rare(s('VpcEndpointId', 'vpce')), rare(s('DestinationPrefixListId', 'prefixlist'))],
    DeleteRoute: [s('RouteTableId', 'rtb'), s('DestinationCidrBlock', 'cidr'), rare(s('DestinationPrefixListId', 'prefixlist'))],
    ReplaceRoute: [s('RouteTableId', 'rtb'), s('DestinationCidrBlock', 'cidr'), s('GatewayId', 'igw'), rare(s('NatGatewayId', 'str')), rare(s('LocalTarget', 'bool'))],
    CreateSecurityGroup: [s('VpcId', 'vpc'), s('GroupName', 'name'), s('GroupDescription', 'str'), TAG_SPEC],
    DeleteSecurityGroup: [s('GroupId', 'sg'), rare(s('GroupName', 'name'))],
    AuthorizeSecurityGroupIngress: [...ruleAction(true, false), TAG_SPEC],
    AuthorizeSecurityGroupEgress: [...ruleAction(false, false), TAG_SPEC],
    RevokeSecurityGroupIngress: ruleAction(true, true),
    RevokeSecurityGroupEgress: ruleAction(false, true),
    ModifySecurityGroupRules: [s('GroupId', 'sg'), sl('SecurityGroupRule', [s('SecurityGroupRuleId', 'sgrule'), st('SecurityGroupRule', [
      s('IpProtocol', 'protocol'), s('FromPort', 'port'), s('ToPort', 'port'), s('CidrIpv4', 'cidr'), s('Description', 'str'), rare(s('CidrIpv6', 'str')), rare(s('ReferencedGroupId', 'sg')),
    ])])],
    UpdateSecurityGroupRuleDescriptionsIngress: DESCRIPTIONS,
    UpdateSecurityGroupRuleDescriptionsEgress: DESCRIPTIONS,
    CreateTags: [l('ResourceId', 'vpc'), sl('Tag', TAG)],
    DeleteTags: [l('ResourceId', 'vpc'), sl('Tag', TAG)],
    DescribeTags: [FILTERS, ...PAGE],
    DescribeManagedPrefixLists: [l('PrefixListId', 'prefixlist'), FILTERS, ...PAGE],
    GetManagedPrefixListEntries: [s('PrefixListId', 'prefixlist'), s('TargetVersion', 'int'), ...PAGE],
    CreateVpcEndpointConnectionNotification: [s('ServiceId', 'svc'), rare(s('VpcEndpointId', 'vpce')), s('ConnectionNotificationArn', 'topic'), l('ConnectionEvents', 'event'), s('ClientToken', 'str')],
    DescribeVpcEndpointConnectionNotifications: [s('ConnectionNotificationId', 'nfn'), FILTERS, ...PAGE],
    ModifyVpcEndpointConnectionNotification: [s('ConnectionNotificationId', 'nfn'), s('ConnectionNotificationArn', 'topic'), l('ConnectionEvents', 'event')],
    DeleteVpcEndpointConnectionNotifications: [l('ConnectionNotificationId', 'nfn')],
    StartVpcEndpointServicePrivateDnsVerification: [s('ServiceId', 'svc')],
    CreateVpcEndpointServiceConfiguration: [
      l('NetworkLoadBalancerArn', 'lb'), rare(l('GatewayLoadBalancerArn', 'lb')), s('AcceptanceRequired', 'bool'), TAG_SPEC, s('ClientToken', 'str'), ...SERVICE_OPTIONS,
    ],
    ModifyVpcEndpointServiceConfiguration: [
      s('ServiceId', 'svc'), s('AcceptanceRequired', 'bool'), l('AddNetworkLoadBalancerArn', 'lb'), l('RemoveNetworkLoadBalancerArn', 'lb'),
      rare(l('AddGatewayLoadBalancerArn', 'lb')), s('PrivateDnsName', 'name'), rare(s('RemovePrivateDnsName', 'bool')),
      l('AddSupportedIpAddressType', 'iptype'), rare(l('RemoveSupportedIpAddressType', 'iptype')), l('AddSupportedRegion', 'region'), rare(l('RemoveSupportedRegion', 'region')),
    ],
    DeleteVpcEndpointServiceConfigurations: [l('ServiceId', 'svc')],
  },
  elasticloadbalancing: {
    CreateLoadBalancer: [s('Name', 'name'), s('Type', 'lbtype'), s('Scheme', 'scheme'), ...SUBNETS, TAGS, rare(s('IpAddressType', 'iptype')), rare(l('SecurityGroups', 'sg'))],
    DescribeLoadBalancers: [l('LoadBalancerArns', 'lb'), rare(l('Names', 'name')), ...ELB_PAGE],
    DeleteLoadBalancer: [s('LoadBalancerArn', 'lb')],
    SetSubnets: [s('LoadBalancerArn', 'lb'), ...SUBNETS],
    DescribeLoadBalancerAttributes: [s('LoadBalancerArn', 'lb')],
    ModifyLoadBalancerAttributes: [s('LoadBalancerArn', 'lb'), ATTRIBUTES('lbattr')],
    DescribeCapacityReservation: [s('LoadBalancerArn', 'lb')],
    CreateTargetGroup: [s('Name', 'name'), s('Protocol', 'protocol'), s('Port', 'port'), s('VpcId', 'vpc'), s('TargetType', 'tgtype'), ...HEALTH, TAGS],
    DescribeTargetGroups: [l('TargetGroupArns', 'tg'), l('Names', 'name'), s('LoadBalancerArn', 'lb'), ...ELB_PAGE],
    ModifyTargetGroup: [s('TargetGroupArn', 'tg'), ...HEALTH],
    DeleteTargetGroup: [s('TargetGroupArn', 'tg')],
    DescribeTargetGroupAttributes: [s('TargetGroupArn', 'tg')],
    ModifyTargetGroupAttributes: [s('TargetGroupArn', 'tg'), ATTRIBUTES('tgattr')],
    RegisterTargets: [s('TargetGroupArn', 'tg'), TARGETS],
    DeregisterTargets: [s('TargetGroupArn', 'tg'), TARGETS],
    DescribeTargetHealth: [s('TargetGroupArn', 'tg'), TARGETS],
    CreateListener: [s('LoadBalancerArn', 'lb'), s('Protocol', 'protocol'), s('Port', 'port'), DEFAULT_ACTIONS, TAGS, rare(l('AlpnPolicy', 'str'))],
    ModifyListener: [s('ListenerArn', 'listener'), s('Protocol', 'protocol'), s('Port', 'port'), DEFAULT_ACTIONS],
    DescribeListeners: [s('LoadBalancerArn', 'lb'), l('ListenerArns', 'listener'), ...ELB_PAGE],
    DeleteListener: [s('ListenerArn', 'listener')],
    DescribeListenerAttributes: [s('ListenerArn', 'listener')],
    ModifyListenerAttributes: [s('ListenerArn', 'listener'), ATTRIBUTES('lsattr')],
    AddTags: [l('ResourceArns', 'arn'), TAGS],
    RemoveTags: [l('ResourceArns', 'arn'), l('TagKeys', 'tagkey')],
    DescribeTags: [l('ResourceArns', 'arn')],
  },
  sts: {
    GetCallerIdentity: [],
  },
};

/** the parameters each action requires: a near-valid request nearly always carries them */
const REQUIRED: Readonly<Record<string, readonly string[]>> = {
  ModifyVpcEndpointServicePermissions: ['ServiceId'], AcceptVpcEndpointConnections: ['ServiceId', 'VpcEndpointId'], RejectVpcEndpointConnections: ['ServiceId', 'VpcEndpointId'],
  CreateVpcEndpoint: ['VpcId', 'ServiceName'], ModifyVpcEndpoint: ['VpcEndpointId'], DeleteVpcEndpoints: ['VpcEndpointId'], DescribeVpcAttribute: ['VpcId', 'Attribute'],
  CreateVpc: ['CidrBlock'], DeleteVpc: ['VpcId'], ModifyVpcAttribute: ['VpcId'], CreateSubnet: ['VpcId', 'CidrBlock'], DeleteSubnet: ['SubnetId'], ModifySubnetAttribute: ['SubnetId'],
  CreateNetworkAcl: ['VpcId'], DeleteNetworkAcl: ['NetworkAclId'], DeleteNetworkAclEntry: ['NetworkAclId', 'RuleNumber', 'Egress'],
  CreateNetworkAclEntry: ['NetworkAclId', 'RuleNumber', 'Egress', 'Protocol', 'RuleAction'], ReplaceNetworkAclEntry: ['NetworkAclId', 'RuleNumber', 'Egress', 'Protocol', 'RuleAction'],
  ReplaceNetworkAclAssociation: ['AssociationId', 'NetworkAclId'],
  AttachInternetGateway: ['InternetGatewayId', 'VpcId'], DetachInternetGateway: ['InternetGatewayId', 'VpcId'], DeleteInternetGateway: ['InternetGatewayId'],
  CreateRouteTable: ['VpcId'], DeleteRouteTable: ['RouteTableId'], AssociateRouteTable: ['RouteTableId', 'SubnetId'], DisassociateRouteTable: ['AssociationId'],
  ReplaceRouteTableAssociation: ['AssociationId', 'RouteTableId'], CreateRoute: ['RouteTableId', 'DestinationCidrBlock', 'GatewayId'], DeleteRoute: ['RouteTableId', 'DestinationCidrBlock'],
  ReplaceRoute: ['RouteTableId', 'DestinationCidrBlock', 'GatewayId'],
  CreateSecurityGroup: ['VpcId', 'GroupName', 'GroupDescription'], DeleteSecurityGroup: ['GroupId'],
  AuthorizeSecurityGroupIngress: ['GroupId', 'IpPermissions'], AuthorizeSecurityGroupEgress: ['GroupId', 'IpPermissions'],
  RevokeSecurityGroupIngress: ['GroupId', 'IpPermissions'], RevokeSecurityGroupEgress: ['GroupId', 'IpPermissions'],
  ModifySecurityGroupRules: ['GroupId', 'SecurityGroupRule'], UpdateSecurityGroupRuleDescriptionsIngress: ['GroupId'], UpdateSecurityGroupRuleDescriptionsEgress: ['GroupId'],
  CreateTags: ['ResourceId', 'Tag'], DeleteTags: ['ResourceId'], GetManagedPrefixListEntries: ['PrefixListId'],
  CreateVpcEndpointConnectionNotification: ['ServiceId', 'ConnectionNotificationArn', 'ConnectionEvents'], ModifyVpcEndpointConnectionNotification: ['ConnectionNotificationId'],
  DeleteVpcEndpointConnectionNotifications: ['ConnectionNotificationId'], StartVpcEndpointServicePrivateDnsVerification: ['ServiceId'],
  CreateVpcEndpointServiceConfiguration: ['NetworkLoadBalancerArn'], ModifyVpcEndpointServiceConfiguration: ['ServiceId'], DeleteVpcEndpointServiceConfigurations: ['ServiceId'],
  CreateLoadBalancer: ['Name', 'Type', 'Subnets'], DeleteLoadBalancer: ['LoadBalancerArn'], SetSubnets: ['LoadBalancerArn', 'Subnets'],
  DescribeLoadBalancerAttributes: ['LoadBalancerArn'], ModifyLoadBalancerAttributes: ['LoadBalancerArn', 'Attributes'], DescribeCapacityReservation: ['LoadBalancerArn'],
  CreateTargetGroup: ['Name', 'Port', 'VpcId'], ModifyTargetGroup: ['TargetGroupArn'], DeleteTargetGroup: ['TargetGroupArn'], DescribeTargetGroupAttributes: ['TargetGroupArn'],
  ModifyTargetGroupAttributes: ['TargetGroupArn', 'Attributes'], RegisterTargets: ['TargetGroupArn', 'Targets'], DeregisterTargets: ['TargetGroupArn', 'Targets'],
  DescribeTargetHealth: ['TargetGroupArn'], CreateListener: ['LoadBalancerArn', 'Port', 'DefaultActions'], ModifyListener: ['ListenerArn'], DeleteListener: ['ListenerArn'],
  DescribeListeners: ['LoadBalancerArn'], DescribeListenerAttributes: ['ListenerArn'], ModifyListenerAttributes: ['ListenerArn', 'Attributes'],
  AddTags: ['ResourceArns', 'Tags'], RemoveTags: ['ResourceArns', 'TagKeys'], DescribeTags: ['ResourceArns'],
};

// ---- values

const HUGE = 'A'.repeat(10_000);
const HOSTILE = [
  '', ' ', HUGE, '-1', '0', '-2147483649', '99999999999999999999', '1e309', 'NaN', 'Infinity', '0x1F', '1.5', ' 80', '08',
  'abc', 'true', 'yes', '1', 'TRUE', 'False', 'null', 'undefined', '__proto__', 'constructor', 'hasOwnProperty',
  'ü漢字😀\u202e', '\u0000', 'a\u0001b\u001b[31m\u007f', 'a\r\nb', '<x>&amp;</x>', ']]>', '%00', '../../etc/passwd', '*', '{"a":1}', '[]',
];

function values(w: World, o: World, kind: Kind): { good: string[]; odd: string[] } {
  const acct = AWS_KEYS;
  switch (kind) {
    case 'vpc': return { good: [w.vpc], odd: [o.vpc, w.deleted.vpc, 'vpc-client', 'vpc-app', w.subnets[0]!, 'vpc-', `vpc-${'f'.repeat(17)}`, w.vpc.toUpperCase(), w.sg, w.service, w.endpoint] };
    case 'subnet': return { good: [...w.subnets], odd: [...o.subnets, w.deleted.subnet, 'subnet-a', w.vpc, 'subnet-', w.subnets[0]! + ' '] };
    case 'sg': return { good: [w.sg, w.sgB], odd: [o.sg, w.deleted.sg, `sg-${'0'.repeat(17)}`, w.vpc, 'sg-'] };
    case 'rtb': return { good: [w.rtb], odd: [o.rtb, w.deleted.rtb, w.vpc, 'rtb-', 'rtb-0'] };
    case 'assoc': return { good: [w.assoc], odd: [o.assoc, 'rtbassoc-0', w.rtb, 'rtbassoc-'] };
    case 'sgrule': return { good: [w.sgRule], odd: [o.sgRule, 'sgr-0', w.sg] };
    case 'vpce': return { good: [w.endpoint, w.ownEndpoint, o.endpoint, w.gateway], odd: [o.ownEndpoint, w.deleted.endpoint, w.service, 'vpce-', 'vpce-svc-0', w.notification] };
    case 'svc': return { good: [w.service], odd: [o.service, w.deleted.service, w.endpoint, 'vpce-svc-', 'vpce-svc-0000'] };
    case 'svcname': return { good: [o.serviceName, w.serviceName, GATEWAY_SERVICE], odd: [`com.amazonaws.vpce.${REGION}.${w.deleted.service}`, `com.amazonaws.vpce.eu-west-1.${w.service}`, w.service, 'com.amazonaws.us-east-1.s3', 'com.amazonaws.'] };
    case 'nfn': return { good: [w.notification], odd: [o.notification, w.deleted.notification, 'vpce-nfn-', w.service] };
    case 'lb': return { good: [w.lb], odd: [o.lb, w.deleted.lb, w.tg, w.listener, w.lb.replace('/net/', '/app/'), w.lb + '/x', 'arn:aws:elasticloadbalancing:::loadbalancer/net/x/1', 'arn:'] };
    case 'tg': return { good: [w.tg], odd: [o.tg, w.deleted.tg, w.lb, w.listener, w.tg.replace(/\/[^/]+$/, '/0'), 'arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/'] };
    case 'listener': return { good: [w.listener], odd: [o.listener, w.lb, w.tg, w.listener + '0', w.listener.replace('listener/', 'listener/app/')] };
    case 'arn': return { good: [w.lb, w.tg, w.listener], odd: [o.lb, o.tg, o.listener, w.deleted.lb, w.deleted.tg, 'arn:aws:s3:::bucket', 'arn'] };
    case 'cidr': return { good: ['10.0.0.0/8', '172.31.0.0/16', '0.0.0.0/0', '172.16.3.0/24'], odd: ['10.0.0.0/33', '10.0.0.1/8', '256.0.0.0/8', '10.0.0.0', '10.0.0.0/-1', '::/0', '10.0.0.0/08', '1.2.3.4/32/1', '10.0.0.0/ 8'] };
    case 'ip': return { good: ['172.16.1.60', '172.17.1.61', '127.0.0.1'], odd: ['0.0.0.0', '255.255.255.255', '224.0.0.1', '1.2.3', '::1', '010.1.1.1', '1.2.3.4.5'] };
    case 'port': return { good: ['80', '443', '8080', '65535', '1'], odd: ['0', '65536', '-1', '70000', '1e3', '80.0'] };
    case 'int': return { good: ['5', '10', '30', '2', '300'], odd: ['0', '-5', '2147483648', '9007199254740993', '1.0'] };
    case 'bool': return { good: ['true', 'false'], odd: ['yes', '1', 'TRUE', 'on', 'no', '0'] };
    case 'str': return { good: ['fuzz', 'a description'], odd: [] };
    case 'zone': return { good: [`${REGION}a`, `${REGION}b`], odd: ['all', 'sim-1a', `${REGION}z`, 'us-west-2a'] };
    case 'zoneid': return { good: ['use1-az1', 'use1-az2'], odd: ['use1-az9', 'az1'] };
    case 'region': return { good: [REGION], odd: ['eu-west-1', 'sim-1', 'ipv6'] };
    case 'principal': return { good: [`arn:aws:iam::${acct.consumer.account_id}:root`, `arn:aws:iam::${acct.provider.account_id}:role/x`, '*'], odd: ['arn:aws:iam::333333333333:root', 'arn:aws:iam::1:root', 'arn:aws:iam::222222222222:group/x', 'iam:domain::x', 'arn:aws:iam::222222222222:'] };
    case 'policy': return { good: ['{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}'], odd: ['{', '{"Statement":null}', '{"Statement":[{}]}', '{"Statement":[{"Effect":"Maybe"}]}', '{"Statement":[],"Extra":1}', '{"Statement":[{"Effect":"Allow","Action":[1,2],"Resource":{}}]}', '"x"', '{"__proto__":{"Statement":1}}', `{"Statement":[${'{"Effect":"Allow","Action":"*","Resource":"*"},'.repeat(200)}{}]}`] };
    case 'topic': return { good: [TOPIC], odd: [`arn:aws:sns:${REGION}:${acct.consumer.account_id}:fuzz-events`, 'arn:aws:sns:us-east-1:111111111111:', 'arn:aws:sqs:x'] };
    case 'event': return { good: ['Connect', 'Accept', 'Reject', 'Delete'], odd: ['connect', 'Explode'] };
    case 'protocol': return { good: ['tcp', 'TCP', '-1', '6'], odd: ['udp', 'HTTP', 'HTTPS', 'TLS', '17', 'icmp', 'tcp '] };
    case 'lbattr': return { good: ['deletion_protection.enabled', 'load_balancing.cross_zone.enabled', 'access_logs.s3.bucket'], odd: ['nope', 'idle_timeout.timeout_seconds'] };
    case 'tgattr': return { good: ['proxy_protocol_v2.enabled', 'deregistration_delay.timeout_seconds', 'target_health_state.unhealthy.draining_interval_seconds', 'target_health_state.unhealthy.connection_termination.enabled', 'load_balancing.cross_zone.enabled'], odd: ['nope', 'stickiness.type'] };
    case 'lsattr': return { good: ['tcp.idle_timeout.seconds'], odd: ['tcp.idle_timeout', 'x'] };
    case 'attrval': return { good: ['true', 'false', '60', '0', '3600', '350', 'use_load_balancer_configuration'], odd: ['59', '6001', '3601', '-1', '360001'] };
    case 'tagkey': return { good: ['env', 'Name', 'k'], odd: ['aws:x', 'a'.repeat(129), 'AWS:y'] };
    case 'restype': return { good: ['vpc', 'subnet', 'vpc-endpoint', 'security-group', 'route-table', 'vpc-endpoint-service', 'internet-gateway', 'network-acl'], odd: ['instance', 'Vpc'] };
    case 'filter': return { good: ['vpc-id', 'tag:env', 'service-id', 'key', 'resource-id', 'tag-key', 'vpc-endpoint-state', 'group-name', 'cidr', 'owner-id', 'default', 'association.subnet-id', 'entry.rule-number'], odd: ['tag:', 'no-such-filter', 'Tag:env'] };
    case 'token': return { good: [], odd: ['bm9wZQ==', 'token', '-1'] };
    case 'name': return { good: ['fuzz', 'fuzz-two', 'web'], odd: ['-bad', 'bad-', 'a'.repeat(33), 'default', 'sg-x', 'Fuzz', 'a_b', 'internal-x'] };
    case 'hcport': return { good: ['traffic-port', '8080'], odd: ['0', '65536', 'port'] };
    case 'igw': return { good: [w.igw], odd: [o.igw, w.deleted.igw, 'igw-0123456789abcdef0', 'igw-1', 'igw-', 'nat-1', 'local', 'vgw-1', w.vpc] };
    case 'acl': return { good: [w.acl, w.defaultAcl], odd: [o.acl, o.defaultAcl, w.deleted.acl, 'acl-', 'acl-0', `acl-${'0'.repeat(17)}`, w.vpc, w.aclAssoc] };
    case 'aclassoc': return { good: [w.aclAssoc], odd: [o.aclAssoc, 'aclassoc-0', 'aclassoc-', w.acl, w.assoc] };
    case 'ruleno': return { good: ['100', '110', '200', '32766'], odd: ['0', '32767', '-1', '65536', '1.5'] };
    case 'ruleaction': return { good: ['allow', 'deny'], odd: ['Allow', 'reject', 'ALLOW'] };
    case 'aclprotocol': return { good: ['-1', '6', '17', '1', 'tcp'], odd: ['256', '-2', 'sctp', 'tcp ', '06'] };
    case 'lbtype': return { good: ['network'], odd: ['application', 'gateway', 'Network'] };
    case 'scheme': return { good: ['internal', 'internet-facing'], odd: ['external'] };
    case 'tgtype': return { good: ['ip', 'instance'], odd: ['lambda', 'alb', 'IP'] };
    case 'vpcetype': return { good: ['Interface', 'Gateway'], odd: ['GatewayLoadBalancer', 'interface', 'Resource'] };
    case 'iptype': return { good: ['ipv4'], odd: ['ipv6', 'dualstack', 'IPV4'] };
    case 'actiontype': return { good: ['forward'], odd: ['redirect', 'fixed-response', 'Forward'] };
    case 'attribute': return { good: ['enableDnsSupport', 'enableDnsHostnames'], odd: ['enableNetworkAddressUsageMetrics', 'EnableDnsSupport'] };
    case 'accountattr': return { good: ['supported-platforms', 'default-vpc'], odd: ['max-instances'] };
    case 'prefixlist': return { good: [PREFIX_LIST], odd: ['pl-0', 'pl-'] };
    case 'version': return { good: [], odd: [] };
  }
}

/**
 * how hostile a request is: a near-valid one (most values of the world, one or two wrong, shapes
 * mostly right: it reaches the rules behind the parameter checks) or a wild one
 */
interface Mood { readonly hostile: number; readonly shape: number; readonly include: number; readonly required: number; readonly rare: number }
const NEAR: Mood = { hostile: 0.07, shape: 0.15, include: 0.6, required: 0.97, rare: 0.04 };
const WILD: Mood = { hostile: 0.5, shape: 1, include: 0.6, required: 0.75, rare: 0.3 };
const includes = (r: Rng, m: Mood, p: P, required = false): boolean => r.chance(required ? m.required : p.need === 'rare' ? m.rare : m.include);

function value(r: Rng, w: World, o: World, kind: Kind, m: Mood): string {
  const { good, odd } = values(w, o, kind);
  if (good.length && !r.chance(m.hostile)) return r.pick(good);
  const x = r.next();
  if (odd.length && x < 0.5) return r.pick(odd);
  if (good.length && x < 0.6) return r.pick(good) + r.pick(['\u0000', ' ', 'x', '/', '\u00e9', HUGE.slice(0, 300)]);
  return r.pick(HOSTILE);
}

/** the wire pairs of one parameter, mixing in the shape mistakes (a list where a scalar goes, indexes out of order, ...) */
function emit(r: Rng, m: Mood, api: Api, prefix: string, p: P, w: World, o: World, out: Array<[string, string]>): void {
  const item = (i: number) => api === 'ec2' ? `${prefix}.${i}` : `${prefix}.member.${i}`;
  const shape = r.next() / m.shape;
  if (shape < 0.04) { out.push([`${prefix}.1`, value(r, w, o, p.kind ?? 'str', m)]); return; } // a list where a scalar goes (or a list of lists)
  if (shape < 0.07) { out.push([`${prefix}.Nested.Deeper`, 'x']); return; } // a structure where anything goes
  if (shape < 0.10 && (p.list || p.fields)) { out.push([prefix, value(r, w, o, p.kind ?? 'str', m)]); return; } // a scalar where a list or a structure goes
  if (!p.list) {
    if (p.fields) for (const f of p.fields) { if (includes(r, m, f, f.need !== 'rare')) emit(r, m, api, `${prefix}.${f.name}`, f, w, o, out); }
    else out.push([prefix, value(r, w, o, p.kind!, m)]);
    return;
  }
  const n = r.chance(0.1 * m.shape) ? 0 : r.chance(0.1 * m.shape) ? 25 : 1 + r.int(m === NEAR ? 2 : 3);
  const indexes = Array.from({ length: n }, (_, i) => i + 1);
  const order = r.next() / m.shape;
  if (order < 0.1) indexes.reverse();
  else if (order < 0.17) indexes.push(99_999);
  else if (order < 0.22) indexes.push(1000);
  else if (order < 0.27 && n) indexes[n - 1] = n + 7; // a gap
  let last = '';
  for (const i of indexes) {
    if (p.fields) {
      for (const f of p.fields) if (includes(r, m, f, f.need !== 'rare')) emit(r, m, api, `${item(i)}.${f.name}`, f, w, o, out);
    } else {
      const v = last && r.chance(0.2 * m.shape) ? last : value(r, w, o, p.kind!, m); // duplicated items
      out.push([item(i), v]);
      last = v;
    }
  }
}

function request(r: Rng, api: Api, action: string, spec: readonly P[], w: World, o: World): Array<[string, string]> {
  const out: Array<[string, string]> = [['Action', action]];
  const m = r.chance(0.6) ? NEAR : WILD;
  if (r.chance(0.9)) out.push(['Version', VERSION[api]]);
  for (const p of spec) if (includes(r, m, p, REQUIRED[action]?.includes(p.name))) emit(r, m, api, p.name, p, w, o, out);
  if (r.chance(0.08)) out.push([unknownName(r, api, action, spec), r.pick(HOSTILE)]);
  if (api === 'ec2' && r.chance(0.03)) out.push(['DryRun', r.pick(['true', 'false', 'maybe'])]);
  if (r.chance(0.05) && out.length > 2) out.push(out[2 + r.int(out.length - 2)]!); // a parameter twice
  return out;
}

/**
 * a top-level name AWS's API does not have for the action (as a list, a structure or a scalar): one
 * of its own misspelt (`VpcIdd`, `vpcId` as aws-cli#16 sent it, `SubnetIds` for `SubnetId.N`),
 * another action's, or an invented one
 */
function unknownName(r: Rng, api: Api, action: string, spec: readonly P[]): string {
  const own = spec.map((p) => p.name);
  const known = new Set(['Action', 'Version', ...AWS_PARAMETER_NAMES[api][action]!]);
  const others = Object.values(AWS_PARAMETER_NAMES[api]).flat().filter((n) => !known.has(n));
  for (let tries = 0; tries < 10; tries++) {
    const base = own.length ? r.pick(own) : 'Action';
    const name = r.pick([
      `${base}d`, base[0]!.toLowerCase() + base.slice(1), `${base}s`, base.toUpperCase(), others.length ? r.pick(others) : 'Foo', r.pick(['Unknown', 'Foo', 'Item', 'DryRunn']),
    ]);
    if (!known.has(name)) return `${name}${r.pick(['', '.1', '.member.1', '.1.Name', '.Value'])}`;
  }
  return 'Unknown';
}

/** the refusal a request with a parameter AWS's API has not must get, unless its form is malformed (the parser's refusal comes first) */
function unknownRefusal(api: Api, action: string, pairs: ReadonlyArray<readonly [string, string]>): string | null {
  const known = new Set(['Action', 'Version', ...AWS_PARAMETER_NAMES[api][action]!]);
  let form;
  try {
    form = parseQuery(encodeForm(pairs), api === 'ec2' ? 'ec2' : 'query');
  } catch {
    return null;
  }
  const first = Object.keys(form).find((n) => !known.has(n));
  if (first === undefined) return null;
  return `${api === 'ec2' ? 'UnknownParameter' : 'ValidationError'} The parameter ${first} is not recognized`;
}

const READ = /^(Describe|Get|List)/;
/** the order the actions run in: reads, then changes, then deletions (so the world lasts while it can) */
const rank = (action: string): number => READ.test(action) ? 0 : /^(Delete|Deregister|Remove|Revoke|Reject|Disassociate)/.test(action) ? 2 : 1;

// ---- the test

const CONFIG = twoAccountConfig({
  accounts: [{ ...PROVIDER, aws: AWS_KEYS.provider }, { ...CONSUMER, aws: AWS_KEYS.consumer }],
  public_services: [{
    name: 's3', service_type: 'gateway', prefix_list: { id: PREFIX_LIST, cidrs: ['100.125.0.8/29'] }, ports: [{ port: 20443, target: '127.0.0.1:9' }],
  }],
  aws: { sns_topics: [{ arn: TOPIC, url: 'http://127.0.0.1:9/hook', accounts: [AWS_KEYS.provider.account_id, AWS_KEYS.consumer.account_id] }] },
});

beforeAll(async () => {
  d = await startTestDaemon(CONFIG);
  await build('provider', 16);
  await build('consumer', 17);
  await call('provider', 'ec2', 'ModifyVpcEndpointServicePermissions', { ServiceId: world.provider.service, AddAllowedPrincipals: [`arn:aws:iam::${AWS_KEYS.consumer.account_id}:root`] });
  await call('consumer', 'ec2', 'ModifyVpcEndpointServicePermissions', { ServiceId: world.consumer.service, AddAllowedPrincipals: [`arn:aws:iam::${AWS_KEYS.provider.account_id}:root`] });
  await connect('provider', 'consumer');
  await connect('consumer', 'provider');
  await settle();
}, 30_000);

afterAll(async () => { await d?.stop(); });

// ---- what the fuzz found, each as its minimal request (run before the fuzz changes the world)

/** the answer of one request as `who`: status and code (none on a 200) */
async function attemptAs(who: Who, api: Api, action: string, params: Record<string, unknown>): Promise<{ status: number; code: string | undefined }> {
  const a = await send(who, api, [['Action', action], ['Version', VERSION[api]], ...flatten(api, params)]);
  return { status: a.status, code: /<Code>([^<]*)<\/Code>/.exec(a.text)?.[1] };
}

describe('regressions the fuzz found', () => {
  it('a target group\'s load_balancing.cross_zone.enabled other than true, false or use_load_balancer_configuration is a ValidationError (was stored: 350, 0)', async () => {
    const tg = world.provider.tg;
    for (const value of ['350', '0', 'yes', '']) {
      expect(await attemptAs('provider', 'elasticloadbalancing', 'ModifyTargetGroupAttributes', { TargetGroupArn: tg, Attributes: [{ Key: 'load_balancing.cross_zone.enabled', Value: value }] }), value)
        .toEqual({ status: 400, code: 'ValidationError' });
    }
    expect(await attemptAs('provider', 'elasticloadbalancing', 'ModifyTargetGroupAttributes', { TargetGroupArn: tg, Attributes: [{ Key: 'stickiness.type', Value: 'lb_cookie' }] }))
      .toEqual({ status: 400, code: 'ValidationError' });
    expect(await attemptAs('provider', 'elasticloadbalancing', 'ModifyLoadBalancerAttributes', { LoadBalancerArn: world.provider.lb, Attributes: [{ Key: 'dns_record.client_routing_policy', Value: 'nearest' }] }))
      .toEqual({ status: 400, code: 'ValidationError' });
    for (const value of ['true', 'false', 'use_load_balancer_configuration']) {
      expect(await attemptAs('provider', 'elasticloadbalancing', 'ModifyTargetGroupAttributes', { TargetGroupArn: tg, Attributes: [{ Key: 'load_balancing.cross_zone.enabled', Value: value }] }), value)
        .toEqual({ status: 200, code: undefined });
    }
  });
  it('SetSubnets and CreateLoadBalancer with both Subnets and SubnetMappings, or a PrivateIPv4Address that is no IPv4 address, are a ValidationError (were taken)', async () => {
    const w = world.provider;
    const asked: Array<[string, Record<string, unknown>]> = [
      ['SetSubnets', { LoadBalancerArn: w.lb, Subnets: [w.subnets[0]], SubnetMappings: [{ SubnetId: w.subnets[1] }] }],
      ['SetSubnets', { LoadBalancerArn: w.lb, SubnetMappings: [{ SubnetId: w.subnets[0], PrivateIPv4Address: '__proto__' }] }],
      ['SetSubnets', { LoadBalancerArn: w.lb, SubnetMappings: [{ SubnetId: w.subnets[0], PrivateIPv4Address: '172.16.1.300' }] }],
      ['CreateLoadBalancer', { Name: 'both', Type: 'network', Subnets: [w.subnets[0]], SubnetMappings: [{ SubnetId: w.subnets[1] }] }],
      ['CreateLoadBalancer', { Name: 'bad-ip', Type: 'network', SubnetMappings: [{ SubnetId: w.subnets[0], PrivateIPv4Address: 'x' }] }],
    ];
    for (const [action, params] of asked) {
      const revision = d.daemon.control.revision;
      expect(await attemptAs('provider', 'elasticloadbalancing', action, params), `${action} ${JSON.stringify(params)}`).toEqual({ status: 400, code: 'ValidationError' });
      expect(d.daemon.control.revision).toBe(revision);
    }
  });
  it('UpdateSecurityGroupRuleDescriptions* with both IpPermissions and SecurityGroupRuleDescription is InvalidParameterCombination (the IpPermissions, however malformed, were ignored)', async () => {
    const w = world.provider;
    for (const action of ['UpdateSecurityGroupRuleDescriptionsIngress', 'UpdateSecurityGroupRuleDescriptionsEgress']) {
      const revision = d.daemon.control.revision;
      expect(await attemptAs('provider', 'ec2', action, {
        GroupId: w.sg, IpPermissions: [{ IpProtocol: 'HTTPS' }], SecurityGroupRuleDescription: [{ SecurityGroupRuleId: w.sgRule, Description: 'new' }],
      }), action).toEqual({ status: 400, code: 'InvalidParameterCombination' });
      expect(d.daemon.control.revision).toBe(revision);
    }
  });
  it('ModifyVpcEndpointServiceConfiguration with an empty PrivateDnsName is InvalidParameterValue (was a 200 that changed the service\'s updated time and kept its name)', async () => {
    const revision = d.daemon.control.revision;
    expect(await attemptAs('provider', 'ec2', 'ModifyVpcEndpointServiceConfiguration', { ServiceId: world.provider.service, PrivateDnsName: '' }))
      .toEqual({ status: 400, code: 'InvalidParameterValue' });
    expect(d.daemon.control.revision).toBe(revision);
  });
  it('CreateSecurityGroup with a GroupName or GroupDescription outside AWS\'s characters (a NUL, a control character, non-ASCII) is InvalidParameterValue (was stored, and read back as U+FFFD)', async () => {
    for (const [name, description] of [['web\u0000', 'x'], ['web', 'a\u0001b'], ['ü漢字', 'x'], ['web', 'line\nbreak']]) {
      const revision = d.daemon.control.revision;
      expect(await attemptAs('provider', 'ec2', 'CreateSecurityGroup', { VpcId: world.provider.vpc, GroupName: name, GroupDescription: description }), JSON.stringify([name, description]))
        .toEqual({ status: 400, code: 'InvalidParameterValue' });
      expect(d.daemon.control.revision).toBe(revision);
    }
  });
});

describe('AWS actions under hostile parameters', () => {
  it('every action of every table has a parameter list here, of names AWS\'s API has for it (else a near-valid request stops at UnknownParameter)', () => {
    expect(Object.keys(SPECS.ec2).sort()).toEqual(Object.keys(EC2_ACTIONS).sort());
    expect(Object.keys(SPECS.elasticloadbalancing).sort()).toEqual(Object.keys(ELBV2_ACTIONS).sort());
    expect(Object.keys(SPECS.sts).sort()).toEqual(Object.keys(STS_ACTIONS).sort());
    const notAws = (Object.keys(SPECS) as Api[]).flatMap((api) => Object.entries(SPECS[api])
      .flatMap(([action, spec]) => spec.map((p) => p.name).filter((n) => !AWS_PARAMETER_NAMES[api][action]!.includes(n)).map((n) => `${api} ${action} ${n}`)));
    expect(notAws).toEqual([]);
  });

  const actions = (Object.keys(SPECS) as Api[]).flatMap((api) => Object.keys(SPECS[api]).map((action) => ({ api, action })))
    .sort((a, b) => rank(a.action) - rank(b.action));

  it(`answers every request in its API's shape, under 500, and changes nothing on an error (seed ${SEED}, ${PER_ACTION} per action)`, async () => {
    const failures: string[] = [];
    const errorCodes = new Map<string, number>();
    const log: string[] = [];
    let sent = 0;
    for (const { api, action } of actions) {
      const r = new Rng(SEED ^ hashName(`${api}:${action}`));
      const changes = !READ.test(action);
      for (let i = 0; i < PER_ACTION; i++) {
        const who: Who = r.chance(0.5) ? 'provider' : 'consumer';
        const pairs = request(r, api, action, SPECS[api][action]!, world[who], world[who === 'provider' ? 'consumer' : 'provider']);
        // a sample of the changing actions' requests also compares the Describe* answers
        const deep = changes && r.chance(0.03);
        const before = deep ? await snapshot() : '';
        const revision = d.daemon.control.revision;
        const a = await send(who, api, pairs);
        sent++;
        const what = () => `seed ${SEED} ${api} ${action} as ${who} #${i}: ${encodeForm(pairs).slice(0, 600)}\n  -> ${a.status} ${a.text.slice(0, 400)}`;
        for (const p of shapeProblems(api, action, a, encodeForm(pairs))) failures.push(`${p}: ${what()}`);
        // a name AWS's API has not for the action: refused as AWS refuses it, before anything else is read
        const refusal = unknownRefusal(api, action, pairs);
        if (refusal !== null) {
          const got = `${/<Code>([^<]*)<\/Code>/.exec(a.text)?.[1]} ${/<Message>([^<]*)<\/Message>/.exec(a.text)?.[1]}`;
          if (a.status !== 400 || got !== refusal) failures.push(`not refused as ${refusal} (400): ${what()}`);
        }
        if (a.status === 200) {
          errorCodes.set(`${action} OK`, (errorCodes.get(`${action} OK`) ?? 0) + 1);
          if (!changes) continue;
          log.push(`accepted ${action} as ${who}: ${encodeForm(pairs).slice(0, 700)}`);
          await settle(); // what it set going (an endpoint turning available) lands before the next request
          // what a change stored still reads back: every Describe* answers in shape
          if (r.chance(0.1)) {
            const problems: string[] = [];
            await snapshot(problems);
            for (const p of problems) failures.push(`after a change, a read answers ${p}\n  the change: ${what()}`);
          }
          continue;
        }
        const code = /<Code>([^<]*)<\/Code>/.exec(a.text)?.[1] ?? '?';
        errorCodes.set(`${action} ${code}`, (errorCodes.get(`${action} ${code}`) ?? 0) + 1);
        if (d.daemon.control.revision !== revision) failures.push(`an error changed the state (revision ${revision} -> ${d.daemon.control.revision}): ${what()}`);
        if (deep) {
          const after = await snapshot();
          if (after !== before) failures.push(`an error changed what Describe* answers: ${what()}`);
        }
      }
      // the daemon still answers after each action's requests
      expect(await call('consumer', 'sts', 'GetCallerIdentity')).toContain(AWS_KEYS.consumer.account_id);
      if (failures.length > 200) break;
    }
    // FUZZ_LOG=file: the problems, each action's answers by code, and every change accepted (what to read when hunting further)
    if (process.env.FUZZ_LOG) {
      const codes = [...errorCodes].sort().map(([k, n]) => `${k} ${n}`);
      writeFileSync(process.env.FUZZ_LOG, [...failures, ...codes, ...log].join('\n'));
    }
    expect(failures, `${failures.length} problems in ${sent} requests`).toEqual([]);
  }, Math.max(120_000, PER_ACTION * 4_000));

  it('what the fuzz stored loads again: after a restart on the same data, both accounts read the same', async () => {
    await settle();
    const before = await snapshot();
    await d.stop();
    d = await startTestDaemon(CONFIG, d.dataDir);
    await settle();
    const problems: string[] = [];
    const after = await snapshot(problems);
    expect(problems).toEqual([]);
    // each read that differs, from its first difference
    const was = before.split('\n');
    const differs = after.split('\n').flatMap((line, i) => {
      if (line === was[i]) return [];
      let at = 0;
      while (line[at] === was[i]?.[at]) at++;
      return [`${line.slice(0, 80)}...\n  was: ...${was[i]?.slice(Math.max(0, at - 300), at + 300)}\n  now: ...${line.slice(Math.max(0, at - 300), at + 300)}`];
    });
    expect(differs).toEqual([]);
  }, 30_000);
});

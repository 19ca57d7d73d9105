// EC2's VPC endpoint actions (aws-ec2-api.md §2.2, §4.2): Create/Describe/Modify/DeleteVpcEndpoints,
// over the domain's endpoints. An endpoint made here gets a `vpce-` id; one made through the Huawei
// API keeps its UUID and is shown under it. An interface endpoint has one ENI per subnet, at most
// one per zone (README "Zones"); what AWS allows beyond what the domain simulates is refused with a
// 4xx that says so (README "Supported actions").
import { createHash } from 'node:crypto';
import type { ControlPlane } from '../../control/control-plane.js';
import type { CreateEndpointCommand, SetChange, UpdateEndpointCommand } from '../../model/commands.js';
import { awsEndpointDnsNames, awsViewDnsNames } from '../../model/dns-names.js';
import { DomainError } from '../../model/errors.js';
import { isAwsPrincipal, validatePolicy, type PolicyOptions, type PolicyStatement } from '../../model/policy.js';
import type { Endpoint, EndpointService, SecurityGroup, Vpc } from '../../model/types.js';
import { AwsRequestError, type ActionTable, type AwsCall } from './actions.js';
import {
  applyFilters, awsServiceName, eachItem, malformedId, awsType, endpointState, page, requireIds, tagSet, tagsOfSpecifications,
  type FilterTable,
} from './aws-render.js';
import { clientTokenOf } from './client-token.js';
import { awsZone } from './ec2-base.js';
import { callerSecurityGroups, defaultSecurityGroupId, groupsOf } from './ec2-network.js';
import { endpointServiceName, ID_SHAPES, newAwsId } from './ids.js';
import type { QueryParams } from './query.js';
import type { XmlFields } from './xml.js';

/** AWS requires a Principal in an endpoint policy (validatePolicy's rule for this dialect) */
export const AWS_POLICY: PolicyOptions = { requirePrincipal: true };

/** the policy of an endpoint created without one: allow everything (AWS's default document) */
const DEFAULT_POLICY_VERSION = '2008-10-17';
/** the policy language version a given document is shown with */
const POLICY_VERSION = '2012-10-17';
const ALLOW_ALL = { Effect: 'Allow', Principal: '*', Action: '*', Resource: '*' } as const;
const DEFAULT_POLICY_DOCUMENT = JSON.stringify({ Version: DEFAULT_POLICY_VERSION, Statement: [ALLOW_ALL] });
const ALLOW_ALL_DOCUMENT = JSON.stringify({ Version: POLICY_VERSION, Statement: [ALLOW_ALL] });

/** the hosted zone AWS's regional endpoint names sit in (us-east-1's; vpcep-sim serves no public DNS) */
const VPCE_HOSTED_ZONE = 'Z7HUB22UULQXV';

/** the services by id, and the names AWS shows for them, for rendering many endpoints */
export interface ServiceNames {
  serviceOf(id: string): EndpointService | undefined;
  nameOf(id: string): string;
}

export function serviceNames(call: AwsCall): ServiceNames {
  const byId = new Map<string, EndpointService>();
  for (const s of call.control.allServices()) byId.set(s.id, s);
  const names = new Map<string, string>();
  return {
    serviceOf: (id) => byId.get(id),
    nameOf: (id) => {
      let name = names.get(id);
      if (name === undefined) {
        const s = byId.get(id);
        // a service deleted under its endpoints: they keep the name it had (a provider's service: from its id)
        name = s ? awsServiceName(s, call.region, call.control.region) : endpointServiceName(call.region, id);
        names.set(id, name);
      }
      return name;
    },
  };
}

/**
 * the private hosted zone AWS makes for an endpoint with private DNS, which it shows only as this
 * id: stable per endpoint (`Z` and 20 of A-Z 2-7, Route 53's shape)
 */
function privateHostedZoneId(endpointId: string): string {
  const hash = createHash('sha256').update(`phz\0${endpointId}`).digest();
  let id = 'Z';
  for (let i = 0; i < 20; i++) id += 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[hash[i]! & 31];
  return id;
}

/**
 * the DNS entries of an interface endpoint, as the DNS server answers them (src/model/dns-names.ts):
 * regional, then per zone, then (PRIVATE: the consumer's view, DescribeVpcEndpoints) the private DNS
 * name when private DNS applies, in the endpoint's private hosted zone
 */
export function dnsEntries(e: Endpoint, s: EndpointService | undefined, region: string, configRegion: string, withPrivate = true): XmlFields[] | undefined {
  if (e.service_type !== 'interface' || !s) return undefined;
  const c = { awsRegion: region, configRegion };
  const zones = e.enis.map((n) => n.zone);
  const names = withPrivate ? awsViewDnsNames(e, s, zones, c) : awsEndpointDnsNames(e, s, zones, c);
  return names.map((n) => ({ dnsName: n.name, hostedZoneId: n.scope === 'vpc' ? privateHostedZoneId(e.id) : VPCE_HOSTED_ZONE }));
}

function isAllowAll(p: readonly PolicyStatement[]): boolean {
  return p.length === 1 && p[0]!.Effect === 'Allow' && (p[0]!.Principal ?? '*') === '*' && !p[0]!.Condition
    && p[0]!.Action.length === 1 && p[0]!.Action[0] === '*' && p[0]!.Resource.length === 1 && p[0]!.Resource[0] === '*';
}

/**
 * the policy document AWS shows: the default one (no policy given, or ResetPolicy), or the stored
 * statements with their principals as AWS ARNs under `2012-10-17` (the statements are kept, not the
 * document's Version: a given allow-all document must read back as given, or Terraform's next
 * plan shows a diff)
 */
function policyDocument(e: Endpoint, control: ControlPlane): string {
  // written as a whole document through this API: shown as given, as AWS shows it
  if (e.policy_document !== undefined && e.policy_statement) return e.policy_document;
  const statements = (e.policy_statement ?? null) as readonly PolicyStatement[] | null;
  if (!statements) return DEFAULT_POLICY_DOCUMENT;
  if (isAllowAll(statements)) return ALLOW_ALL_DOCUMENT;
  return JSON.stringify({
    Version: POLICY_VERSION,
    Statement: statements.map((s) => ({ ...s, Principal: s.Principal === undefined || s.Principal === '*' ? '*' : principalOf(s.Principal.ID, control) })),
  });
}

/**
 * A statement's principals as AWS shows them: an account's root ARN, an AWS id kept as given, `*`;
 * a domain id of no account here (written through the Huawei API) stays under `ID`, which this
 * API reads back too: under `AWS` it was shown as no account id, and ModifyVpcEndpoint refused the
 * document it had just answered
 */
function principalOf(ids: readonly string[], control: ControlPlane): { AWS?: string[]; ID?: string[] } {
  const aws: string[] = [];
  const other: string[] = [];
  for (const d of ids) {
    const shown = d === '*' ? '*' : control.awsPrincipalOfPermission(`iam:domain::${d}`) ?? d;
    (isAwsPrincipal(shown) ? aws : other).push(shown);
  }
  return { ...(aws.length ? { AWS: aws } : {}), ...(other.length ? { ID: other } : {}) };
}

/** the `vpcEndpoint` of Create and the items of Describe */
export function endpointXml(e: Endpoint, call: AwsCall, names: ServiceNames): XmlFields {
  const s = names.serviceOf(e.service_id);
  const iface = e.service_type === 'interface';
  return {
    vpcEndpointId: e.id,
    vpcEndpointType: awsType(e.service_type),
    vpcId: e.vpc_id,
    serviceName: names.nameOf(e.service_id),
    state: endpointState(e.status),
    policyDocument: policyDocument(e, call.control),
    routeTableIdSet: [...e.routetables],
    subnetIdSet: e.enis.map((n) => n.subnet_id),
    groupSet: iface ? groupsOf(e).map((id) => ({ groupId: id, groupName: callerGroups(call).get(id)?.name ?? 'default' })) : [],
    ipAddressType: 'ipv4',
    dnsOptions: iface ? { dnsRecordIpType: 'ipv4' } : undefined,
    privateDnsEnabled: e.enable_dns,
    requesterManaged: false,
    networkInterfaceIdSet: e.enis.map((n) => n.id),
    dnsEntrySet: dnsEntries(e, s, call.region, call.control.region) ?? [],
    creationTimestamp: e.created_at,
    tagSet: tagSet(e.tags),
    ownerId: call.control.awsIdOf(e.owner),
    lastError: e.error ? { code: e.error.name, message: e.error.message } : undefined,
  };
}

/** an endpoint of the caller, or InvalidVpcEndpointId.NotFound */
export function ownEndpoint(call: AwsCall, id: string): Endpoint {
  const e = call.control.endpointById(id);
  if (e?.owner !== call.caller.name) {
    if (!ID_SHAPES.endpoint.wellFormed(id)) throw malformedId(ID_SHAPES.endpoint, 'VpcEndpoint Id', id);
    throw new AwsRequestError('InvalidVpcEndpointId.NotFound', `The VpcEndpoint Id '${id}' does not exist`);
  }
  return e;
}

/**
 * A service name as the caller may use it: `com.amazonaws.vpce.<region>.<service id>` of a service
 * it may connect to, or `com.amazonaws.<region>.<name>` of a public one; InvalidServiceName for
 * every other name, existing or not (§1.6: AWS says the same for a service that does not allow-list the caller).
 */
export function serviceByName(call: AwsCall, name: string): EndpointService {
  for (const s of call.control.allServices()) {
    if (s.status === 'deleting' || awsServiceName(s, call.region, call.control.region) !== name) continue;
    try {
      return call.control.describeService(call.caller, { id: s.id });
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
    }
  }
  throw new AwsRequestError('InvalidServiceName', `The Vpc Endpoint Service '${name}' does not exist`);
}

function ownVpc(call: AwsCall, id: string): Vpc {
  const vpc = call.control.vpcs(call.caller).find((v) => v.id === id);
  if (!vpc) throw new AwsRequestError('InvalidVpcID.NotFound', `The vpc ID '${id}' does not exist`);
  return vpc;
}

function checkRouteTables(vpc: Vpc, ids: readonly string[]): void {
  for (const id of ids) {
    if (!vpc.route_tables.some((t) => t.id === id)) throw new AwsRequestError('InvalidRouteTableID.NotFound', `The routeTable ID '${id}' does not exist in ${vpc.id}`);
  }
}

/**
 * the caller's groups by id, read once per request: endpointXml asks for every endpoint, and a
 * create checks the groups it is given then shows them (no action changes groups between the two)
 */
const groupsOfCall = new WeakMap<AwsCall, Map<string, SecurityGroup>>();

function callerGroups(call: AwsCall): Map<string, SecurityGroup> {
  let groups = groupsOfCall.get(call);
  if (!groups) {
    groups = new Map(callerSecurityGroups(call).map((g) => [g.id, g]));
    groupsOfCall.set(call, groups);
  }
  return groups;
}

function checkSecurityGroups(call: AwsCall, vpc: Vpc, ids: readonly string[]): void {
  for (const id of ids) {
    if (callerGroups(call).get(id)?.vpc_id !== vpc.id) throw new AwsRequestError('InvalidGroup.NotFound', `The security group '${id}' does not exist in VPC '${vpc.id}'`);
  }
}

/** the policy language versions IAM knows */
const POLICY_VERSIONS = ['2008-10-17', '2012-10-17'];

/** a policy document EC2 refuses: `InvalidPolicyDocument` (400), as EC2 answers CreateVpcEndpoint and ModifyVpcEndpoint */
const badDocument = (why: string): AwsRequestError => new AwsRequestError('InvalidPolicyDocument', `The policy document is not valid: ${why}`);

/**
 * `PolicyDocument`: a JSON policy `{ Version?, Id?, Statement }`, validated by the domain's rules
 * for AWS (its length, white space included, too); its statements, to enforce, and its text, kept
 * and shown back as given
 */
function readPolicyDocument(call: AwsCall, text: string): PolicyStatement[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw badDocument('it is not valid JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc) || !Object.hasOwn(doc, 'Statement')) {
    throw badDocument('it must be a JSON object with a Statement');
  }
  const unknown = Object.keys(doc).filter((k) => !['Version', 'Id', 'Statement'].includes(k));
  if (unknown.length) throw badDocument(`unknown keys: ${unknown.join(', ')}`);
  const version = (doc as { Version?: unknown }).Version;
  if (version !== undefined && !POLICY_VERSIONS.includes(version as string)) {
    throw badDocument(`Version ${JSON.stringify(version)?.slice(0, 40)} is none of ${POLICY_VERSIONS.join(', ')}`);
  }
  const id = (doc as { Id?: unknown }).Id;
  if (id !== undefined && typeof id !== 'string') throw badDocument('Id must be a string');
  const statement = (doc as { Statement: unknown }).Statement;
  try {
    return validatePolicy(Array.isArray(statement) ? statement : [statement], call.control.policyOptions(AWS_POLICY), text.length);
  } catch (err) {
    if (err instanceof DomainError) throw badDocument(err.message.replace(/^invalid policy: ?/, '').replace(/policy_statement/g, 'Statement'));
    throw err;
  }
}

/**
 * PrivateDnsEnabled as AWS takes it: an interface endpoint's private DNS needs a service with a
 * private DNS name (an AWS service's own, or a provider's verified one); absent, it is on when the
 * service has one (AWS's default true), else off. A gateway endpoint has no private DNS.
 */
function privateDnsEnabled(service: EndpointService | undefined, serviceName: string, asked: boolean | undefined, type: string): boolean {
  if (asked === false) return false;
  const name = service?.public ? 'own' : service?.private_dns?.state === 'verified' ? service.private_dns.name : null;
  if (asked === undefined) return type === 'Interface' && name !== null;
  if (type !== 'Interface') throw new AwsRequestError('InvalidParameter', 'PrivateDnsEnabled applies to Interface endpoints only');
  if (!service?.private_dns && !service?.public) {
    throw new AwsRequestError('InvalidParameter', `Private DNS can't be enabled because the service ${serviceName} does not provide a private DNS name.`);
  }
  if (name === null) {
    throw new AwsRequestError('InvalidParameter', `Private DNS can't be enabled because the private DNS name ${service!.private_dns!.name} of the service is ${service!.private_dns!.state}: its domain must be verified first`);
  }
  return true;
}

/** IpAddressType and DnsOptions.DnsRecordIpType: absent or ipv4 (endpoints here have IPv4 addresses only) */
function ipv4Only(p: QueryParams): void {
  for (const name of ['IpAddressType', 'DnsOptions.DnsRecordIpType']) {
    if (p.has(name) && p.string(name) !== 'ipv4') throw new AwsRequestError('InvalidParameter', `vpcep-sim endpoints are IPv4 only: ${name} ipv4`);
  }
}

/** ServiceRegion: the one region simulated (cross-region PrivateLink is not) */
function homeRegionOnly(call: AwsCall): void {
  const asked = call.params.string('ServiceRegion');
  if (asked !== undefined && asked !== call.region) {
    throw new AwsRequestError('InvalidParameterValue', `vpcep-sim simulates one region (${call.region}): ServiceRegion ${asked.slice(0, 64)} (cross-region access) is not simulated`);
  }
}

async function createVpcEndpoint(call: AwsCall): Promise<XmlFields> {
  const p = call.params;
  const token = clientTokenOf(p);
  ipv4Only(p);
  // a retry answers what the first call made, whatever changed since (its service deleted...); the
  // create checks it again in its mutation, for a retry racing the first call
  const made = token && await call.control.endpointOfClientToken(call.caller, token);
  if (made) return { vpcEndpoint: endpointXml(made, call, serviceNames(call)), clientToken: token.token };

  const service = serviceByName(call, p.requiredString('ServiceName'));
  const vpc = ownVpc(call, p.requiredString('VpcId'));
  const type = p.string('VpcEndpointType') ?? 'Gateway';
  if (type !== 'Interface' && type !== 'Gateway') {
    throw new AwsRequestError('InvalidParameterValue', `VpcEndpointType '${type}' is not supported: Interface or Gateway (vpcep-sim has no Gateway Load Balancers)`);
  }
  if (type !== awsType(service.service_type)) {
    throw new AwsRequestError('InvalidParameter', `Endpoint type (${type}) does not match available service types ([${awsType(service.service_type)}]).`);
  }
  const subnets = p.stringList('SubnetId');
  const groups = p.stringList('SecurityGroupId');
  const routeTables = p.stringList('RouteTableId');
  const subnetConfigs = subnetConfigurations(p);
  homeRegionOnly(call);
  const policyText = p.string('PolicyDocument');
  const cmd: { -readonly [K in keyof CreateEndpointCommand]: CreateEndpointCommand[K] } = {
    id: newAwsId('vpce'),
    serviceId: service.id,
    vpcId: vpc.id,
    dns: privateDnsEnabled(service, awsServiceName(service, call.region, call.control.region), p.bool('PrivateDnsEnabled'), type),
    tags: tagsOfSpecifications(p, 'vpc-endpoint'),
    ...(token ? { clientToken: token } : {}),
  };
  if (type === 'Interface') {
    if (routeTables.length) throw new AwsRequestError('InvalidParameter', 'RouteTableId applies to Gateway endpoints only');
    // none: AWS makes the endpoint without ENIs, subnets are added later (ModifyVpcEndpoint AddSubnetId.N)
    // SubnetConfiguration.N names SubnetId.N's subnets again (AWS pairs them); one subnet twice in
    // SubnetId.N is the domain's to refuse, as two of one zone (DuplicateSubnetsInSameZone)
    const wanted = [...subnets, ...new Set(subnetConfigs.map((c) => c.subnetId).filter((id) => !subnets.includes(id)))];
    for (const id of wanted) {
      if (!vpc.subnets.some((s) => s.id === id)) throw new AwsRequestError('InvalidSubnetID.NotFound', `The subnet ID '${id}' does not exist in ${vpc.id}`);
    }
    checkSecurityGroups(call, vpc, groups);
    // AWS: no group given, the VPC's default group
    cmd.securityGroups = groups.length ? [...new Set(groups)] : [defaultSecurityGroupId(vpc.id)];
    cmd.defaultGroup = defaultSecurityGroupId(vpc.id);
    if (policyText !== undefined && !isAllowAll(readPolicyDocument(call, policyText))) {
      throw new AwsRequestError('InvalidParameter', 'vpcep-sim enforces endpoint policies on Gateway endpoints only: an Interface endpoint takes the default (allow-all) policy');
    }
    // one ENI per subnet, in the order given; SubnetConfiguration.N.Ipv4: its private IP
    cmd.subnets = wanted.map((subnetId) => {
      const ip = subnetConfigs.find((c) => c.subnetId === subnetId && c.ipv4 !== undefined)?.ipv4;
      return ip !== undefined ? { subnetId, ip } : { subnetId };
    });
    // answered `available` when it needs no acceptance, rather than `pending`: one commit, not two
    cmd.upBeforeAnswer = true;
  } else {
    if (subnets.length || subnetConfigs.length) throw new AwsRequestError('InvalidParameter', 'SubnetId applies to Interface endpoints only');
    if (groups.length) throw new AwsRequestError('InvalidParameter', 'SecurityGroupId applies to Interface endpoints only');
    checkRouteTables(vpc, routeTables);
    // AWS: a gateway endpoint made without RouteTableId.N routes in no table until ModifyVpcEndpoint
    // adds one (Terraform's aws_vpc_endpoint_route_table_association)
    if (routeTables.length) cmd.routeTables = routeTables;
    cmd.noDefaultRouteTable = true;
    if (policyText !== undefined) {
      cmd.policy = readPolicyDocument(call, policyText);
      cmd.policyDocument = policyText;
    }
  }
  const e = await call.control.createEndpoint(call.caller, cmd, AWS_POLICY);
  return { vpcEndpoint: endpointXml(e, call, serviceNames(call)), ...(token ? { clientToken: token.token } : {}) };
}

const ENDPOINT_FILTERS: FilterTable<{ e: Endpoint; name: string; region: string }> = {
  'vpc-endpoint-id': (x) => x.e.id,
  'vpc-id': (x) => x.e.vpc_id,
  'service-name': (x) => x.name,
  'vpc-endpoint-state': (x) => endpointState(x.e.status),
  'vpc-endpoint-type': (x) => awsType(x.e.service_type),
  'ip-address-type': () => 'ipv4',
  // one region: every service an endpoint reaches is in it
  'service-region': (x) => x.region,
};

function describeVpcEndpoints(call: AwsCall): XmlFields {
  const names = serviceNames(call);
  const mine = call.control.listEndpoints(call.caller);
  const ids = call.params.stringList('VpcEndpointId');
  requireIds(ids, new Set(mine.map((e) => e.id)), 'InvalidVpcEndpointId.NotFound', 'VpcEndpoint Id', ID_SHAPES.endpoint);
  const chosen = (ids.length ? mine.filter((e) => ids.includes(e.id)) : mine).map((e) => ({ e, name: names.nameOf(e.service_id), region: call.region }));
  const kept = applyFilters(chosen, call.params.filters(), ENDPOINT_FILTERS, (x) => x.e.tags);
  const out = page(kept, (x) => x.e.id, call.params, { min: 1 });
  return { vpcEndpointSet: out.items.map((x) => endpointXml(x.e, call, names)), nextToken: out.nextToken };
}

/** SubnetConfiguration.N: a subnet and the private IPv4 address its ENI takes */
function subnetConfigurations(p: QueryParams): Array<{ subnetId: string; ipv4: string | undefined }> {
  return p.structList('SubnetConfiguration').map((c) => {
    if (c.has('Ipv6')) throw new AwsRequestError('InvalidParameter', 'vpcep-sim endpoints are IPv4 only: SubnetConfiguration.N.Ipv6 is not taken');
    return { subnetId: c.requiredString('SubnetId'), ipv4: c.string('Ipv4') };
  });
}

/** the ids of `Add<Name>.N` and `Remove<Name>.N` applied to `current` */
function changedSet(call: AwsCall, name: string, current: readonly string[]): { next: string[]; added: string[]; changed: boolean } {
  const add = call.params.stringList(`Add${name}`);
  const remove = new Set(call.params.stringList(`Remove${name}`));
  const next = [...new Set([...current.filter((x) => !remove.has(x)), ...add])];
  const changed = next.length !== current.length || next.some((x) => !current.includes(x));
  return { next, added: add, changed };
}

/** `Add<name>.N` and `Remove<name>.N` as the domain applies them */
function delta(call: AwsCall, name: string): SetChange {
  return { add: call.params.stringList(`Add${name}`), remove: call.params.stringList(`Remove${name}`) };
}

async function modifyVpcEndpoint(call: AwsCall): Promise<XmlFields> {
  const p = call.params;
  const e = ownEndpoint(call, p.requiredString('VpcEndpointId'));
  const vpc = ownVpc(call, e.vpc_id);
  const iface = e.service_type === 'interface';
  // everything is checked before anything changes
  const current = e.enis.map((n) => n.subnet_id);
  const subnets = changedSet(call, 'SubnetId', current);
  if (subnets.changed && !iface) throw new AwsRequestError('InvalidParameter', 'SubnetId applies to Interface endpoints only');
  for (const id of call.params.stringList('RemoveSubnetId')) {
    if (!current.includes(id)) throw new AwsRequestError('InvalidParameterValue', `The subnet ID '${id}' is not a subnet of VPC endpoint ${e.id}`);
  }
  for (const id of subnets.added) {
    if (!vpc.subnets.some((s) => s.id === id)) throw new AwsRequestError('InvalidSubnetID.NotFound', `The subnet ID '${id}' does not exist in ${vpc.id}`);
  }
  // SubnetConfiguration.N.Ipv4: the address of the ENI a subnet added here gets; an ENI's address does not change
  const configs = subnetConfigurations(p);
  for (const c of configs) {
    const eni = e.enis.find((n) => n.subnet_id === c.subnetId);
    if (eni ? c.ipv4 !== undefined && c.ipv4 !== eni.ip : !subnets.added.includes(c.subnetId)) {
      throw new AwsRequestError('InvalidParameterValue', eni
        ? `SubnetConfiguration: the ENI of VPC endpoint ${e.id} in subnet ${c.subnetId} has the address ${eni.ip}; vpcep-sim does not change it (remove the subnet, then add it with its new address)`
        : `SubnetConfiguration: the subnet ID '${c.subnetId.slice(0, 64)}' is neither a subnet of VPC endpoint ${e.id} nor added by AddSubnetId`);
    }
  }
  const groups = changedSet(call, 'SecurityGroupId', iface ? groupsOf(e) : []);
  checkSecurityGroups(call, vpc, groups.added);
  if (groups.changed && !iface) throw new AwsRequestError('InvalidParameter', 'SecurityGroupId applies to Interface endpoints only');
  if (groups.changed && !groups.next.length) throw new AwsRequestError('InvalidParameter', 'An interface endpoint keeps at least one security group');
  const tables = changedSet(call, 'RouteTableId', e.routetables);
  if (tables.changed && iface) throw new AwsRequestError('InvalidParameter', 'RouteTableId applies to Gateway endpoints only');
  checkRouteTables(vpc, tables.added);
  const reset = p.bool('ResetPolicy') ?? false;
  const text = p.string('PolicyDocument');
  if (reset && text !== undefined) throw new AwsRequestError('InvalidParameterCombination', 'ResetPolicy and PolicyDocument cannot be given together');
  // ResetPolicy: back to no policy (null), shown as AWS's default document
  const policy = text !== undefined ? readPolicyDocument(call, text) : reset ? null : undefined;
  if (iface && policy && !isAllowAll(policy)) {
    throw new AwsRequestError('InvalidParameter', 'vpcep-sim enforces endpoint policies on Gateway endpoints only: an Interface endpoint keeps the default (allow-all) policy');
  }
  const asked = p.bool('PrivateDnsEnabled');
  const names = serviceNames(call);
  const dns = asked === undefined || asked === e.enable_dns ? undefined
    : privateDnsEnabled(names.serviceOf(e.service_id), names.nameOf(e.service_id), asked, iface ? 'Interface' : 'Gateway');
  ipv4Only(p);
  // the groups and private DNS change with the subnets, in one commit: a refusal of either changes nothing
  const update: UpdateEndpointCommand | undefined = groups.changed || dns !== undefined ? {
    ...(groups.changed ? { securityGroups: delta(call, 'SecurityGroupId'), defaultGroup: defaultSecurityGroupId(e.vpc_id) } : {}), ...(dns !== undefined ? { dns } : {}),
  } : undefined;
  if (subnets.changed) {
    await call.control.changeEndpointSubnets(call.caller, e.id, {
      add: subnets.next.filter((id) => !current.includes(id)).map((subnetId) => {
        const ip = configs.find((c) => c.subnetId === subnetId && c.ipv4 !== undefined)?.ipv4;
        return ip !== undefined ? { subnetId, ip } : { subnetId };
      }),
      remove: current.filter((id) => !subnets.next.includes(id)),
      // AWS: its last subnet may go (Terraform's aws_vpc_endpoint_subnet_association removes it on destroy)
      mayRemoveAll: true,
      idempotentAdd: true,
      ...(update ? { update } : {}),
    });
  } else if (update) {
    await call.control.updateEndpoint(call.caller, e.id, update);
  }
  // the tables and groups added and removed, applied to the endpoint's as they are when the change
  // runs: Terraform's association resources send theirs in parallel, and each must count
  if (tables.changed) await call.control.setEndpointRouteTables(call.caller, e.id, delta(call, 'RouteTableId'));
  if (policy !== undefined && !iface) await call.control.setEndpointPolicy(call.caller, e.id, policy, AWS_POLICY, text);
  return { return: true };
}

function deleteVpcEndpoints(call: AwsCall): Promise<XmlFields> {
  return eachItem(call.params.stringList('VpcEndpointId'), 'VpcEndpointId.1', (id) => call.control.deleteEndpoint(call.caller, id), (err, id) => {
    if (!(err instanceof DomainError)) return null;
    if (err.name === 'BeingDeleted') return 'done';
    // §4.2: Terraform's delete tolerates this code in `unsuccessful`
    if (err.name === 'EndpointNotFound') return { code: 'InvalidVpcEndpoint.NotFound', message: `The VpcEndpoint Id '${id}' does not exist` };
    return null;
  });
}

export const EC2_ENDPOINT_ACTIONS: ActionTable = {
  CreateVpcEndpoint: createVpcEndpoint,
  DescribeVpcEndpoints: describeVpcEndpoints,
  ModifyVpcEndpoint: modifyVpcEndpoint,
  DeleteVpcEndpoints: deleteVpcEndpoints,
};


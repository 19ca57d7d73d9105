// EC2's PrivateLink actions of both sides (aws-ec2-api.md §2.2, §4.2) over the domain's services,
// whitelists and approvals: what a consumer may see (DescribeVpcEndpointServices), what a
// provider sees of its own services (configurations, allowed principals, connections) and its
// answer to an endpoint waiting on one (Accept/Reject). The endpoints themselves: ec2-endpoints.ts;
// creating, modifying and deleting service configurations with NLBs: the ELBv2 lane's.
import type { PermissionEntry } from '../../model/commands.js';
import { awsPublicServiceName } from '../../model/dns-names.js';
import { DomainError } from '../../model/errors.js';
import { mayConnect, samePermission } from '../../model/rules.js';
import type { Endpoint, EndpointService, Permission } from '../../model/types.js';
import { awsZone } from './ec2-base.js';
import { AwsRequestError, type ActionTable, type AwsCall } from './actions.js';
import {
  applyFilters, awsServiceName, awsType, baseEndpointDnsName, derivedId, eachItem, endpointState, page, requireIds, serviceState,
  tagSet, type FilterTable, type ItemRefusal,
} from './aws-render.js';
import { dnsEntries } from './ec2-endpoints.js';
import { loadBalancerArns, serviceConfigurationXml } from './ec2-services.js';
import { parsePrincipal } from './ids.js';
import type { XmlFields } from './xml.js';

/** a service of the caller, or InvalidVpcEndpointServiceId.NotFound (another's, or an operator's, does not exist for it) */
function ownService(call: AwsCall, id: string): EndpointService {
  const s = call.control.listServices(call.caller).find((x) => x.id === id);
  if (!s) throw new AwsRequestError('InvalidVpcEndpointServiceId.NotFound', `The VpcEndpointService Id '${id}' does not exist`);
  return s;
}

interface Named {
  readonly s: EndpointService;
  readonly name: string;
}

function named(call: AwsCall, services: Iterable<EndpointService>): Named[] {
  return [...services].map((s) => ({ s, name: awsServiceName(s, call.region, call.control.region) }));
}

// ---- the consumer's view

/** `serviceDetailSet` item */
function serviceDetailXml(call: AwsCall, x: Named): XmlFields {
  const { s } = x;
  return {
    serviceName: x.name,
    serviceId: s.id,
    serviceType: [{ serviceType: awsType(s.service_type) }],
    serviceRegion: call.region,
    availabilityZoneSet: call.control.serviceZones(s.id).map((z) => awsZone(call, z).name),
    owner: s.public ? 'amazon' : call.control.awsIdOf(s.owner),
    baseEndpointDnsNameSet: [baseEndpointDnsName(s, call.region, call.control.region)],
    ...privateDnsFields(call, s),
    vpcEndpointPolicySupported: s.service_type === 'gateway',
    acceptanceRequired: s.approval_enabled,
    managesVpcEndpoints: false,
    supportedIpAddressTypeSet: ['ipv4'],
    tagSet: s.public ? [] : tagSet(s.tags),
  };
}

/** a consumer's view of a service's private DNS name: a provider's with its verification state; an AWS interface service's own name, verified */
function privateDnsFields(call: AwsCall, s: EndpointService): XmlFields {
  const name = s.private_dns?.name ?? (s.public && s.service_type === 'interface' ? awsPublicServiceName(s, call.region, call.control.region) : undefined);
  if (name === undefined) return {};
  return { privateDnsName: name, privateDnsNameSet: [{ privateDnsName: name }], privateDnsNameVerificationState: s.private_dns?.state ?? 'verified' };
}

function describeVpcEndpointServices(call: AwsCall): XmlFields {
  // own services, those whose whitelist allows the caller, and the operator's public ones
  const visible = named(call, [...call.control.allServices()].filter((s) => s.status !== 'deleting' && mayConnect(s, call.caller)));
  const wanted = call.params.stringList('ServiceName');
  // §1.6: a name the caller may not see is InvalidServiceName, whether it exists or not
  const unknown = wanted.find((n) => !visible.some((x) => x.name === n));
  if (unknown !== undefined) throw new AwsRequestError('InvalidServiceName', `The Vpc Endpoint Service '${unknown}' does not exist`);
  const chosen = wanted.length ? visible.filter((x) => wanted.includes(x.name)) : visible;
  const table: FilterTable<Named> = {
    'service-name': (x) => x.name,
    'service-type': (x) => awsType(x.s.service_type),
    'service-region': () => call.region,
    'owner': (x) => (x.s.public ? 'amazon' : call.control.awsIdOf(x.s.owner)),
    'supported-ip-address-types': () => 'ipv4',
  };
  const out = page(applyFilters(chosen, call.params.filters(), table, (x) => x.s.tags), (x) => x.name, call.params, { min: 1 });
  return {
    serviceNameSet: out.items.map((x) => x.name),
    serviceDetailSet: out.items.map((x) => serviceDetailXml(call, x)),
    nextToken: out.nextToken,
  };
}

// ---- the provider's own services

function describeVpcEndpointServiceConfigurations(call: AwsCall): XmlFields {
  const mine = call.control.listServices(call.caller);
  const ids = call.params.stringList('ServiceId');
  requireIds(ids, new Set(mine.map((s) => s.id)), 'InvalidVpcEndpointServiceId.NotFound', 'VpcEndpointService Id');
  const chosen = named(call, ids.length ? mine.filter((s) => ids.includes(s.id)) : mine);
  const table: FilterTable<Named> = {
    'service-name': (x) => x.name,
    'service-id': (x) => x.s.id,
    'service-state': (x) => serviceState(x.s.status),
    'service-type': (x) => awsType(x.s.service_type),
    'supported-ip-address-types': () => 'ipv4',
  };
  const out = page(applyFilters(chosen, call.params.filters(), table, (x) => x.s.tags), (x) => x.s.id, call.params);
  return { serviceConfigurationSet: out.items.map((x) => serviceConfigurationXml(call, x.s)), nextToken: out.nextToken };
}

// ---- allowed principals

interface AllowedPrincipal {
  readonly permission: Permission;
  readonly principal: string;
  readonly type: PrincipalType;
}

type PrincipalType = 'All' | 'Account' | 'User' | 'Role';

/**
 * the whitelist as AWS principals: a role or user ARN as it was added, an account as its root, an
 * entry admitting every account as `*`; an entry with no AWS spelling (a pattern such as
 * `iam:domain::c0c0*`, another domain) as it is, of type `Account` (it admits accounts)
 */
function allowedPrincipals(call: AwsCall, s: EndpointService): AllowedPrincipal[] {
  return s.permissions.map((permission) => {
    const principal = permission.principal ?? call.control.awsAllowedPrincipalOf(permission.permission);
    return { permission, principal, type: parsePrincipal(principal)?.type ?? 'Account' };
  });
}

function principalXml(s: EndpointService, p: AllowedPrincipal): XmlFields {
  return { principalType: p.type, principal: p.principal, servicePermissionId: p.permission.id, serviceId: s.id };
}

function describeVpcEndpointServicePermissions(call: AwsCall): XmlFields {
  const s = ownService(call, call.params.requiredString('ServiceId'));
  const table: FilterTable<AllowedPrincipal> = {
    'principal': (p) => p.principal,
    'principal-type': (p) => p.type,
  };
  const out = page(applyFilters(allowedPrincipals(call, s), call.params.filters(), table), (p) => p.permission.id, call.params);
  return { allowedPrincipals: out.items.map((p) => ({ ...principalXml(s, p), tagSet: [] })), nextToken: out.nextToken };
}

/**
 * an allowed principal as the whitelist entry it stands for: its account (a role or user ARN kept
 * as its name, allowing its whole account); refused when it is no principal, or no account here has that id
 */
function permissionOf(call: AwsCall, principal: string, parameter: string): { permission: string; principal: string | null; type: PrincipalType } {
  const parsed = parsePrincipal(principal);
  if (!parsed) {
    throw new AwsRequestError('InvalidPrincipal', `Invalid Principal: '${principal}' (${parameter}): arn:aws:iam::<account id>:root (or :user/..., :role/...) or *`);
  }
  const permission = call.control.permissionOfAwsPrincipal(principal);
  if (permission === null) {
    // the whitelist admits accounts the simulator knows (README "Supported actions"); AWS, too,
    // refuses a principal that does not exist, with this code
    throw new AwsRequestError('InvalidPrincipal', `Invalid Principal: '${principal}' (${parameter}): no account of this simulator has its AWS id (accounts[].aws.account_id)`);
  }
  return { permission, principal: parsed.type === 'User' || parsed.type === 'Role' ? principal : null, type: parsed.type };
}

/**
 * a principal to remove: as permissionOf, or a whitelist entry with no AWS spelling as
 * DescribeVpcEndpointServicePermissions lists it (`iam:domain::c0c0*`), removed as the Huawei API removes it
 */
function removedPermissionOf(call: AwsCall, principal: string, parameter: string): PermissionEntry {
  const listed = parsePrincipal(principal) ? null : call.control.permissionToRemove(principal);
  return listed !== null ? { permission: listed } : permissionOf(call, principal, parameter);
}

async function modifyVpcEndpointServicePermissions(call: AwsCall): Promise<XmlFields> {
  const s = ownService(call, call.params.requiredString('ServiceId'));
  const add = call.params.stringList('AddAllowedPrincipals').map((p, i) => ({ asked: p, ...permissionOf(call, p, `AddAllowedPrincipals.${i + 1}`) }));
  const remove = call.params.stringList('RemoveAllowedPrincipals').map((p, i) => removedPermissionOf(call, p, `RemoveAllowedPrincipals.${i + 1}`));
  if (add.length) await call.control.changePermissions(call.caller, s.id, 'add', add);
  if (remove.length) await call.control.changePermissions(call.caller, s.id, 'remove', remove);
  // Terraform's aws_vpc_endpoint_service_allowed_principal takes its id from ServicePermissionId (§4.2)
  const after = await call.control.permissions(call.caller, s.id);
  const addedPrincipalSet = add.flatMap((a) => {
    const p = after.find((x) => samePermission(x.permission, a.permission) && (x.principal ?? null) === a.principal);
    return p ? [principalXml(s, { permission: p, principal: a.asked, type: a.type })] : [];
  });
  return { addedPrincipalSet: add.length ? addedPrincipalSet : undefined, return: true };
}

// ---- connections: the endpoints of the provider's services

interface Connection {
  readonly e: Endpoint;
  readonly s: EndpointService;
}

function connections(call: AwsCall): Connection[] {
  return call.control.listServices(call.caller).flatMap((s) => call.control.listConnections(call.caller, s.id).map((e) => ({ e, s })));
}

function describeVpcEndpointConnections(call: AwsCall): XmlFields {
  const table: FilterTable<Connection> = {
    'service-id': (c) => c.s.id,
    'vpc-endpoint-id': (c) => c.e.id,
    'vpc-endpoint-owner': (c) => call.control.awsIdOf(c.e.owner),
    'vpc-endpoint-state': (c) => endpointState(c.e.status),
    'ip-address-type': () => 'ipv4',
    'vpc-endpoint-region': () => call.region,
  };
  const out = page(applyFilters(connections(call), call.params.filters(), table), (c) => c.e.id, call.params);
  const arns = new Map<string, string[]>();
  const arnsOf = (s: EndpointService) => arns.get(s.id) ?? arns.set(s.id, loadBalancerArns(call, s)).get(s.id)!;
  return {
    vpcEndpointConnectionSet: out.items.map(({ e, s }) => ({
      serviceId: s.id,
      vpcEndpointId: e.id,
      vpcEndpointOwner: call.control.awsIdOf(e.owner),
      vpcEndpointState: endpointState(e.status),
      creationTimestamp: e.created_at,
      // the provider's view: the endpoint's own names (its private hosted zone is the consumer's)
      dnsEntrySet: dnsEntries(e, s, call.region, call.control.region, false) ?? [],
      networkLoadBalancerArnSet: arnsOf(s),
      gatewayLoadBalancerArnSet: [],
      ipAddressType: 'ipv4',
      vpcEndpointConnectionId: derivedId('vpce-con', e.id),
      vpcEndpointRegion: call.region,
      tagSet: [],
    })),
    nextToken: out.nextToken,
  };
}

/** a refusal of one endpoint of Accept/Reject, as its `unsuccessful` item */
function itemRefusal(err: unknown, id: string): ItemRefusal {
  if (!(err instanceof DomainError)) return null;
  switch (err.name) {
    case 'EndpointNotFound':
    case 'NotOfService':
      return { code: 'InvalidVpcEndpoint.NotFound', message: `The VpcEndpoint Id '${id}' does not exist for this service` };
    case 'InvalidState':
    case 'AlreadyConnected':
    case 'BeingCreated':
    case 'BeingDeleted':
    case 'ServiceUnavailable':
      // aws-ec2-api.md §1.6: AWS's exact code here is unverified
      return { code: 'IncorrectState', message: err.message };
    default:
      return null;
  }
}

function connectionAction(action: 'accept' | 'reject') {
  return (call: AwsCall): Promise<XmlFields> => {
    const s = ownService(call, call.params.requiredString('ServiceId'));
    return eachItem(call.params.stringList('VpcEndpointId'), 'VpcEndpointId.1', (id) => call.control.connectionAction(call.caller, s.id, action, id), itemRefusal);
  };
}

export const EC2_PRIVATELINK_ACTIONS: ActionTable = {
  DescribeVpcEndpointServices: describeVpcEndpointServices,
  DescribeVpcEndpointServiceConfigurations: describeVpcEndpointServiceConfigurations,
  DescribeVpcEndpointServicePermissions: describeVpcEndpointServicePermissions,
  ModifyVpcEndpointServicePermissions: modifyVpcEndpointServicePermissions,
  DescribeVpcEndpointConnections: describeVpcEndpointConnections,
  AcceptVpcEndpointConnections: connectionAction('accept'),
  RejectVpcEndpointConnections: connectionAction('reject'),
};

// EC2's network ACLs (Terraform's aws_network_acl, aws_network_acl_rule, aws_network_acl_association,
// aws_default_network_acl): CreateNetworkAcl, DeleteNetworkAcl, Create/Replace/DeleteNetworkAclEntry,
// ReplaceNetworkAclAssociation and DescribeNetworkAcls over the domain's ACLs
// (src/control/network-acls.ts), ids `acl-` + 17 hex. An association's id is derived from its ACL
// and subnet (`aclassoc-`), as route tables' are: moving a subnet gives it a new one.
import { CATCH_ALL_RULE, type NetworkAclEntryInput } from '../../model/network-acls.js';
import type { NetworkAclEntry } from '../../model/types.js';
import type { NetworkAclView } from '../../control/network-acls.js';
import { AwsRequestError, type ActionTable, type AwsCall } from './actions.js';
import { applyFilters, derivedId, page, requireIds, tagSet, tagsOfSpecifications, type FilterTable } from './aws-render.js';
import { clientTokenOf } from './client-token.js';
import { ID_SHAPES, newAwsId } from './ids.js';
import type { QueryParams } from './query.js';
import type { XmlFields } from './xml.js';

const associationId = (aclId: string, subnetId: string): string => derivedId('aclassoc', `${aclId}/${subnetId}`);

/** the last rule of each direction, every ACL's: deny the rest */
const CATCH_ALL: readonly NetworkAclEntry[] = [
  { rule_number: CATCH_ALL_RULE, egress: true, protocol: '-1', action: 'deny', cidr: '0.0.0.0/0' },
  { rule_number: CATCH_ALL_RULE, egress: false, protocol: '-1', action: 'deny', cidr: '0.0.0.0/0' },
];

/** the ACL's rules and the catch-all ones, egress first, each direction by number (as EC2 lists them) */
function withCatchAll(a: NetworkAclView): NetworkAclEntry[] {
  return [...a.entries, ...CATCH_ALL].sort((x, y) => Number(y.egress) - Number(x.egress) || x.rule_number - y.rule_number);
}

function entryXml(e: NetworkAclEntry): XmlFields {
  return {
    ruleNumber: e.rule_number,
    protocol: e.protocol,
    ruleAction: e.action,
    egress: e.egress,
    cidrBlock: e.cidr,
    ...(e.from_port !== undefined ? { portRange: { from: e.from_port, to: e.to_port } } : {}),
    ...(e.icmp_type !== undefined ? { icmpTypeCode: { type: e.icmp_type, code: e.icmp_code } } : {}),
  };
}

function aclXml(call: AwsCall, a: NetworkAclView): XmlFields {
  return {
    networkAclId: a.id,
    vpcId: a.vpc_id,
    default: a.default,
    entrySet: withCatchAll(a).map(entryXml),
    associationSet: a.subnets.map((s) => ({ networkAclAssociationId: associationId(a.id, s), networkAclId: a.id, subnetId: s })),
    tagSet: tagSet(a.tags),
    ownerId: call.accountId,
  };
}

async function createNetworkAcl(call: AwsCall): Promise<XmlFields> {
  const p = call.params;
  const token = clientTokenOf(p);
  const a = await call.control.createNetworkAcl(call.caller, {
    id: newAwsId('acl'), vpcId: p.requiredString('VpcId'), tags: tagsOfSpecifications(p, 'network-acl'), ...(token ? { clientToken: token } : {}),
  });
  return { networkAcl: aclXml(call, a), ...(token ? { clientToken: token.token } : {}) };
}

async function deleteNetworkAcl(call: AwsCall): Promise<XmlFields> {
  await call.control.deleteNetworkAcl(call.caller, call.params.requiredString('NetworkAclId'));
  return { return: true };
}

function required<T>(v: T | undefined, name: string): T {
  if (v === undefined) throw new AwsRequestError('MissingParameter', `The request must contain the parameter ${name}`);
  return v;
}

/** CreateNetworkAclEntry's and ReplaceNetworkAclEntry's rule: the domain checks it (model/network-acls.ts entryOf) */
function entryInput(p: QueryParams): NetworkAclEntryInput {
  const ports = p.struct('PortRange');
  const icmp = p.struct('Icmp');
  return {
    ruleNumber: required(p.int('RuleNumber'), 'RuleNumber'),
    egress: required(p.bool('Egress'), 'Egress'),
    protocol: p.requiredString('Protocol'),
    action: p.requiredString('RuleAction'),
    cidr: p.string('CidrBlock'),
    ipv6Cidr: p.string('Ipv6CidrBlock'),
    fromPort: ports?.int('From'),
    toPort: ports?.int('To'),
    icmpType: icmp?.int('Type'),
    icmpCode: icmp?.int('Code'),
  };
}

function entryAction(op: 'create' | 'replace') {
  return async (call: AwsCall): Promise<XmlFields> => {
    const p = call.params;
    await call.control.changeNetworkAclEntry(call.caller, p.requiredString('NetworkAclId'), { op, entry: entryInput(p) });
    return { return: true };
  };
}

async function deleteNetworkAclEntry(call: AwsCall): Promise<XmlFields> {
  const p = call.params;
  await call.control.changeNetworkAclEntry(call.caller, p.requiredString('NetworkAclId'), {
    op: 'delete', ruleNumber: required(p.int('RuleNumber'), 'RuleNumber'), egress: required(p.bool('Egress'), 'Egress'),
  });
  return { return: true };
}

async function replaceNetworkAclAssociation(call: AwsCall): Promise<XmlFields> {
  const p = call.params;
  const id = p.requiredString('AssociationId');
  const aclId = p.requiredString('NetworkAclId');
  const from = call.control.networkAcls(call.caller).flatMap((a) => a.subnets.map((s) => ({ acl: a.id, subnet: s }))).find((x) => associationId(x.acl, x.subnet) === id);
  if (!from) throw new AwsRequestError('InvalidAssociationID.NotFound', `The association ID '${id.slice(0, 60)}' does not exist`);
  await call.control.associateNetworkAcl(call.caller, from.subnet, aclId, { acl: from.acl, id });
  return { newAssociationId: associationId(aclId, from.subnet) };
}

/** a filter's values of every entry, the catch-all rules too */
const ofEntries = (f: (e: NetworkAclEntry) => string | number | boolean | undefined) => (a: NetworkAclView): string[] =>
  withCatchAll(a).map(f).filter((v) => v !== undefined).map(String);

const PROTOCOL_NAMES: Readonly<Record<string, string>> = { '6': 'tcp', '17': 'udp', '1': 'icmp', '-1': 'all' };

const FILTERS: FilterTable<NetworkAclView> = {
  'network-acl-id': (a) => a.id,
  'vpc-id': (a) => a.vpc_id,
  'default': (a) => String(a.default),
  'association.subnet-id': (a) => [...a.subnets],
  'association.association-id': (a) => a.subnets.map((s) => associationId(a.id, s)),
  'association.network-acl-id': (a) => (a.subnets.length ? a.id : null),
  'entry.rule-number': ofEntries((e) => e.rule_number),
  'entry.egress': ofEntries((e) => e.egress),
  'entry.rule-action': ofEntries((e) => e.action),
  // a number, or its name (tcp, udp, icmp, all)
  'entry.protocol': (a) => ofEntries((e) => e.protocol)(a).flatMap((n) => (PROTOCOL_NAMES[n] ? [n, PROTOCOL_NAMES[n]!] : [n])),
  'entry.cidr': ofEntries((e) => e.cidr),
  'entry.port-range.from': ofEntries((e) => e.from_port),
  'entry.port-range.to': ofEntries((e) => e.to_port),
  'entry.icmp.type': ofEntries((e) => e.icmp_type),
  'entry.icmp.code': ofEntries((e) => e.icmp_code),
  // entries here are IPv4: AWS's filter on an IPv6 one matches none
  'entry.ipv6-cidr': () => null,
};

function describeNetworkAcls(call: AwsCall): XmlFields {
  const all = call.control.networkAcls(call.caller);
  const ids = call.params.stringList('NetworkAclId');
  if (ids.length) requireIds(ids, new Set(all.map((a) => a.id)), 'InvalidNetworkAclID.NotFound', 'network ACL', ID_SHAPES.networkAcl);
  const chosen = ids.length ? all.filter((a) => ids.includes(a.id)) : all;
  const table: FilterTable<NetworkAclView> = { ...FILTERS, 'owner-id': () => call.accountId };
  const out = page(applyFilters(chosen, call.params.filters(), table, (a) => a.tags), (a) => a.id, call.params);
  return { networkAclSet: out.items.map((a) => aclXml(call, a)), nextToken: out.nextToken };
}

export const EC2_NETWORK_ACL_ACTIONS = {
  CreateNetworkAcl: createNetworkAcl,
  DeleteNetworkAcl: deleteNetworkAcl,
  CreateNetworkAclEntry: entryAction('create'),
  ReplaceNetworkAclEntry: entryAction('replace'),
  DeleteNetworkAclEntry: deleteNetworkAclEntry,
  ReplaceNetworkAclAssociation: replaceNetworkAclAssociation,
  DescribeNetworkAcls: describeNetworkAcls,
} as const satisfies ActionTable;

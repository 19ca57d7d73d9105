// EC2's tag actions (CreateTags, DeleteTags, DescribeTags) over every resource the domain tags:
// the caller's endpoints (`vpc-endpoint`) and endpoint services (`vpc-endpoint-service`), made
// through either dialect, and its VPCs, subnets, route tables, security groups, internet gateways and network ACLs (those of config
// VPCs are shown with none, and keep none: the config's). Tags go through the control plane's tag
// command, the one the Huawei tag actions use, so both APIs show the same tags. A request naming
// several resources is checked in full (existence, the tag limit) before any resource changes.
import type { Tag } from '../../model/types.js';
import { AwsRequestError, type ActionTable, type AwsCall } from './actions.js';
import { applyFilters, checkTag, page, type FilterTable } from './aws-render.js';
import { callerSecurityGroups, ruleRows } from './ec2-network.js';
import type { XmlFields } from './xml.js';

/** the domain's kinds of tagged resource and AWS's resource types for them */
const RESOURCE_TYPES = {
  endpoint: 'vpc-endpoint', endpoint_service: 'vpc-endpoint-service', vpc: 'vpc', subnet: 'subnet', route_table: 'route-table', security_group: 'security-group', internet_gateway: 'internet-gateway',
  network_acl: 'network-acl', security_group_rule: 'security-group-rule',
} as const;
type Kind = keyof typeof RESOURCE_TYPES;

interface Tagged {
  readonly kind: Kind;
  readonly id: string;
  readonly tags: readonly Tag[];
  /** a config VPC's default security group or network ACL, which the EC2 API shows without storing it: its tags do not change */
  readonly virtual?: boolean;
}

/** everything the caller owns that carries tags */
function taggedResources(call: AwsCall): Tagged[] {
  const vpcs = call.control.vpcs(call.caller);
  const stored = new Set(call.control.securityGroups(call.caller).map((g) => g.id));
  const apiVpcs = new Set(vpcs.filter((v) => v.origin === 'api').map((v) => v.id));
  return [
    ...call.control.listEndpoints(call.caller).map((e) => ({ kind: 'endpoint' as const, id: e.id, tags: e.tags })),
    ...call.control.listServices(call.caller).map((s) => ({ kind: 'endpoint_service' as const, id: s.id, tags: s.tags })),
    ...vpcs.map((v) => ({ kind: 'vpc' as const, id: v.id, tags: v.tags ?? [] })),
    ...vpcs.flatMap((v) => v.subnets.map((x) => ({ kind: 'subnet' as const, id: x.id, tags: x.tags ?? [] }))),
    ...vpcs.flatMap((v) => v.route_tables.map((x) => ({ kind: 'route_table' as const, id: x.id, tags: x.tags ?? [] }))),
    ...call.control.internetGateways(call.caller).map((g) => ({ kind: 'internet_gateway' as const, id: g.id, tags: g.tags })),
    ...callerSecurityGroups(call).map((g) => ({ kind: 'security_group' as const, id: g.id, tags: g.tags, virtual: !stored.has(g.id) })),
    // the rules made through the API (they keep their ids; a config group's and a default egress rule's are derived, untagged)
    ...call.control.securityGroups(call.caller).flatMap((g) => [...g.ingress, ...g.egress].flatMap((r) => (r.id ? [{ kind: 'security_group_rule' as const, id: r.id, tags: r.tags ?? [] }] : []))),
    ...call.control.networkAcls(call.caller).map((a) => ({ kind: 'network_acl' as const, id: a.id, tags: a.tags, virtual: !apiVpcs.has(a.vpc_id) })),
  ];
}

/** id prefixes and the NotFound AWS gives for an unknown id of that shape */
const NOT_FOUND: ReadonlyArray<readonly [RegExp, string, string]> = [
  [/^vpce-svc-/, 'InvalidVpcEndpointServiceId.NotFound', 'VpcEndpointService Id'],
  [/^vpce-[0-9a-f]/, 'InvalidVpcEndpointId.NotFound', 'VpcEndpoint Id'],
  [/^vpc-/, 'InvalidVpcID.NotFound', 'vpc ID'],
  [/^subnet-/, 'InvalidSubnetID.NotFound', 'subnet ID'],
  [/^rtb-/, 'InvalidRouteTableID.NotFound', 'routeTable ID'],
  [/^sgr-/, 'InvalidSecurityGroupRuleId.NotFound', 'security group rule'],
  [/^sg-/, 'InvalidGroup.NotFound', 'security group'],
  [/^igw-/, 'InvalidInternetGatewayID.NotFound', 'internetGateway ID'],
  [/^acl-/, 'InvalidNetworkAclID.NotFound', 'networkAcl ID'],
];

/** the caller's resource of that id, or the NotFound AWS gives for its shape (InvalidID for a kind vpcep-sim does not tag) */
function resourceOf(call: AwsCall, all: readonly Tagged[], id: string): Tagged {
  const r = all.find((x) => x.id === id);
  if (r) return r;
  // a rule DescribeSecurityGroupRules shows with an id derived from what it matches (a group's
  // allow-all egress rule made with it, a default group's rules): it keeps no tags
  if (id.startsWith('sgr-') && callerSecurityGroups(call).flatMap(ruleRows).some((row) => row.id === id)) {
    throw new AwsRequestError('InvalidParameterValue', `The security group rule '${id}' is one its group was made with (its id derived from what it matches): vpcep-sim keeps no tags on it; tag the rules made with AuthorizeSecurityGroupIngress/Egress`);
  }
  const shape = NOT_FOUND.find(([prefix]) => prefix.test(id));
  if (shape) throw new AwsRequestError(shape[1], `The ${shape[2]} '${id.slice(0, 100)}' does not exist`);
  throw new AwsRequestError('InvalidID', `The ID '${id.slice(0, 100)}' is not valid (vpcep-sim tags VPC endpoints, endpoint services, VPCs, subnets, route tables, security groups and their rules, internet gateways and network ACLs)`);
}

/** `ResourceId.N`, each resolved, none missing */
function resources(call: AwsCall): Tagged[] {
  const ids = [...new Set(call.params.stringList('ResourceId'))];
  if (!ids.length) throw new AwsRequestError('MissingParameter', 'The request must contain the parameter resourceIdSet');
  const all = taggedResources(call);
  return ids.map((id) => {
    const r = resourceOf(call, all, id);
    if (r.virtual) throw new AwsRequestError('UnauthorizedOperation', `The ${RESOURCE_TYPES[r.kind]} '${id}' is the default one of a VPC declared in the config file: its tags are the config's`, 403);
    return r;
  });
}

/** applies the change to every resource, all or nothing: the domain checks each (owner, a config VPC's, DuplicateTagKey, TagLimit) before any changes */
async function change(call: AwsCall, action: 'create' | 'delete', tags: readonly { key: string; value?: string }[]): Promise<XmlFields> {
  const targets = resources(call);
  for (const t of tags) checkTag(t.key, t.value, action === 'create');
  await call.control.tagAll(call.caller, targets, action, tags);
  return { return: true };
}

function createTags(call: AwsCall): Promise<XmlFields> {
  const tags = call.params.tags('Tag');
  if (!tags.length) throw new AwsRequestError('MissingParameter', 'The request must contain the parameter Tag');
  return change(call, 'create', tags);
}

function deleteTags(call: AwsCall): Promise<XmlFields> {
  // a Tag without Value deletes the key whatever its value; with one, only that value (AWS's DeleteTags);
  // no Tag at all deletes every tag of the resources
  const given = call.params.structList('Tag').map((t) => ({ key: t.requiredString('Key'), value: t.string('Value') }));
  if (given.length) return change(call, 'delete', given);
  const targets = resources(call);
  return (async () => {
    // every key any of them carries: a key a resource does not carry deletes nothing there
    const keys = [...new Set(targets.flatMap((r) => r.tags.map((t) => t.key)))].map((key) => ({ key }));
    if (keys.length) await call.control.tagAll(call.caller, targets, 'delete', keys);
    return { return: true };
  })();
}

interface TagItem {
  readonly r: Tagged;
  readonly tag: Tag;
}

const TAG_FILTERS: FilterTable<TagItem> = {
  'resource-id': (x) => x.r.id,
  'resource-type': (x) => RESOURCE_TYPES[x.r.kind],
  key: (x) => x.tag.key,
  value: (x) => x.tag.value,
};

function describeTags(call: AwsCall): XmlFields {
  const items = taggedResources(call).flatMap((r) => r.tags.map((tag) => ({ r, tag })));
  // tag:<key> keeps every tag of the resources that carry that tag with that value (AWS's DescribeTags)
  const kept = applyFilters(items, call.params.filters(), TAG_FILTERS, (x) => x.r.tags);
  // one resource's tags stay together, in key order
  const out = page(kept, (x) => `${x.r.id}\0${x.tag.key}`, call.params);
  return {
    tagSet: out.items.map((x) => ({ resourceId: x.r.id, resourceType: RESOURCE_TYPES[x.r.kind], key: x.tag.key, value: x.tag.value })),
    nextToken: out.nextToken,
  };
}

export const EC2_TAG_ACTIONS = {
  CreateTags: createTags,
  DeleteTags: deleteTags,
  DescribeTags: describeTags,
} as const satisfies ActionTable;

// EC2's managed prefix list reads (aws-ec2-api.md §2.2 DescribeManagedPrefixLists,
// GetManagedPrefixListEntries) over the operator's public gateway services' prefix lists. These
// are AWS-managed lists: OwnerId `AWS`, ARN `arn:aws:ec2:<region>:aws:prefix-list/<id>`, name
// `com.amazonaws.<region>.<service>`, IPv4, `create-complete`, and no MaxEntries or Version (§5:
// AWS shows neither for its own lists). Accounts make no prefix lists in vpcep-sim.
import { AwsRequestError, type ActionTable, type AwsCall } from './actions.js';
import { applyFilters, awsServiceName, page, requireIds, type FilterTable } from './aws-render.js';
import type { XmlFields } from './xml.js';

const OWNER = 'AWS';

interface ManagedList {
  readonly id: string;
  readonly name: string;
  readonly cidrs: readonly string[];
}

/** the public services' prefix lists, as AWS names them */
function managedLists(call: AwsCall): ManagedList[] {
  return call.control.publicServices()
    .filter((s) => s.public?.prefix_list)
    .map((s) => ({ id: s.public!.prefix_list!.id, name: awsServiceName(s, call.region, call.control.region), cidrs: s.public!.prefix_list!.cidrs }));
}

const LIST_FILTERS: FilterTable<ManagedList> = {
  'owner-id': () => OWNER,
  'prefix-list-id': (l) => l.id,
  'prefix-list-name': (l) => l.name,
};

function describeManagedPrefixLists(call: AwsCall): XmlFields {
  const lists = managedLists(call);
  const ids = call.params.stringList('PrefixListId');
  requireIds(ids, new Set(lists.map((l) => l.id)), 'InvalidPrefixListID.NotFound', 'prefix list ID');
  const chosen = ids.length ? lists.filter((l) => ids.includes(l.id)) : lists;
  const out = page(applyFilters(chosen, call.params.filters(), LIST_FILTERS), (l) => l.id, call.params, { min: 1, max: 100 });
  return {
    prefixListSet: out.items.map((l) => ({
      prefixListId: l.id,
      addressFamily: 'IPv4',
      state: 'create-complete',
      prefixListArn: `arn:aws:ec2:${call.region}:aws:prefix-list/${l.id}`,
      prefixListName: l.name,
      tagSet: [],
      ownerId: OWNER,
    })),
    nextToken: out.nextToken,
  };
}

function getManagedPrefixListEntries(call: AwsCall): XmlFields {
  const id = call.params.requiredString('PrefixListId');
  const list = managedLists(call).find((l) => l.id === id);
  if (!list) throw new AwsRequestError('InvalidPrefixListID.NotFound', `The prefix list ID '${id.slice(0, 100)}' does not exist`);
  // an AWS-managed list has one version here: asking for another is a version AWS does not have
  const version = call.params.int('TargetVersion', { min: 1, max: 2 ** 31 - 1 });
  if (version !== undefined && version !== 1) {
    throw new AwsRequestError('InvalidPrefixListVersion', `The prefix list '${id}' has no version ${version}: vpcep-sim keeps version 1 of an AWS-managed list`);
  }
  const out = page(list.cidrs, (c) => c, call.params, { min: 1, max: 100 });
  return { entrySet: out.items.map((cidr) => ({ cidr })), nextToken: out.nextToken };
}

export const EC2_PREFIX_LIST_ACTIONS = {
  DescribeManagedPrefixLists: describeManagedPrefixLists,
  GetManagedPrefixListEntries: getManagedPrefixListEntries,
} as const satisfies ActionTable;

// EC2's account-wide reads that the CLI, the SDKs and Terraform make before any resource
// (aws-ec2-api.md §2.1): the one region vpcep-sim simulates, its availability zones, the
// account's attributes. No state: everything follows from the config's region.
import { AwsRequestError, type ActionTable, type AwsCall } from './actions.js';
import { zoneInRegion } from '../../model/zones.js';
import { applyFilters } from './filters.js';

export interface AvailabilityZone {
  /** us-east-1a: the domain's zone with the config's region swapped for the AWS region (the same when it is one) */
  readonly name: string;
  /** use1-az1: AWS's zone ids abbreviate the region and number the zones by letter from 1 (a: az1, b: az2) */
  readonly id: string;
  /** the domain's zone (the config's name, src/model/zones.ts) */
  readonly zone: string;
}

const DIRECTIONS: Readonly<Record<string, string>> = {
  north: 'n', south: 's', east: 'e', west: 'w', central: 'c', northeast: 'ne', northwest: 'nw', southeast: 'se', southwest: 'sw',
};

/** AWS's short form of a region in zone ids: us-east-1 -> use1, ap-southeast-2 -> apse2, eu-central-1 -> euc1 */
export function regionAbbreviation(region: string): string {
  const parts = region.split('-');
  const number = parts.pop() ?? '';
  const [area = '', ...rest] = parts;
  return area + rest.map((p) => DIRECTIONS[p] ?? p.charAt(0)).join('') + number;
}

/** a domain zone as AWS shows it */
export function awsZone(call: Pick<AwsCall, 'region' | 'control'>, zone: string): AvailabilityZone {
  const name = zoneInRegion(zone, call.control.region, call.region);
  const letter = name.charCodeAt(name.length - 1) - 'a'.charCodeAt(0);
  return { name, id: `${regionAbbreviation(call.region)}-az${letter + 1}`, zone };
}

/** the config's zones, as AWS shows them */
export function availabilityZones(call: Pick<AwsCall, 'region' | 'control'>): AvailabilityZone[] {
  return call.control.zones().map((z) => awsZone(call, z));
}

/** the AWS name of a zone -> the domain's, or undefined when it is none of the config's */
export function zoneOfAwsName(call: Pick<AwsCall, 'region' | 'control'>, name: string): string | undefined {
  return availabilityZones(call).find((z) => z.name === name)?.zone;
}

function describeRegions({ params, region }: AwsCall) {
  const names = params.stringList('RegionName');
  const unknown = names.filter((n) => n !== region);
  if (unknown.length) throw new AwsRequestError('InvalidParameterValue', `Invalid region names: [${unknown.join(', ').slice(0, 200)}]`);
  params.bool('AllRegions'); // one region, opted in: all regions are this one
  const regions = applyFilters([region], params.filters(), ['endpoint', 'opt-in-status', 'region-name'], (r) => ({
    endpoint: `ec2.${r}.amazonaws.com`, 'opt-in-status': 'opt-in-not-required', 'region-name': r,
  }));
  return {
    regionInfo: regions.map((r) => ({ regionName: r, regionEndpoint: `ec2.${r}.amazonaws.com`, optInStatus: 'opt-in-not-required' })),
  };
}

/**
 * The config's zones; a zone taken down on demand shows `impaired` (of AWS's zone states
 * available, information, impaired, unavailable, constrained: the closest to "its ENIs refuse
 * connections, its backends are unreachable")
 */
function describeAvailabilityZones(call: AwsCall) {
  const { params, region } = call;
  const zones = availabilityZones(call);
  const down = new Set(call.control.zoneStates().filter((z) => !z.up).map((z) => z.zone));
  const state = (z: AvailabilityZone) => (down.has(z.zone) ? 'impaired' : 'available');
  const names = params.stringList('ZoneName');
  const ids = params.stringList('ZoneId');
  params.bool('AllAvailabilityZones');
  for (const n of names) if (!zones.some((z) => z.name === n)) throw new AwsRequestError('InvalidParameterValue', `The zone '${n.slice(0, 100)}' does not exist.`);
  for (const n of ids) if (!zones.some((z) => z.id === n)) throw new AwsRequestError('InvalidParameterValue', `The zone ID '${n.slice(0, 100)}' does not exist.`);
  const asked = zones.filter((z) => (names.length === 0 && ids.length === 0) || names.includes(z.name) || ids.includes(z.id));
  // no zone is a Local or Wavelength Zone: group-long-name is the region's, parent-zone-* match none
  const known = ['group-long-name', 'group-name', 'message', 'network-border-group', 'opt-in-status', 'parent-zone-id', 'parent-zone-name', 'region-name', 'state', 'zone-id', 'zone-name', 'zone-type'];
  const shown = applyFilters(asked, params.filters(), known, (z) => ({
    'group-name': region, 'group-long-name': region, 'network-border-group': region, 'opt-in-status': 'opt-in-not-required', 'region-name': region,
    state: state(z), 'zone-id': z.id, 'zone-name': z.name, 'zone-type': 'availability-zone',
  }));
  return {
    availabilityZoneInfo: shown.map((z) => ({
      zoneState: state(z), optInStatus: 'opt-in-not-required', messageSet: [], regionName: region, zoneName: z.name, zoneId: z.id,
      groupName: region, networkBorderGroup: region, zoneType: 'availability-zone',
    })),
  };
}

/** EC2-Classic is gone: VPC only; vpcep-sim makes no default VPC (VPCs come from the config or CreateVpc) */
const ACCOUNT_ATTRIBUTES: Readonly<Record<string, readonly string[]>> = {
  'supported-platforms': ['VPC'],
  'default-vpc': ['none'],
  'max-instances': ['20'],
  'vpc-max-security-groups-per-interface': ['5'],
  'max-elastic-ips': ['5'],
  'vpc-max-elastic-ips': ['5'],
};

function describeAccountAttributes({ params }: AwsCall) {
  const names = params.stringList('AttributeName');
  for (const n of names) {
    if (!Object.hasOwn(ACCOUNT_ATTRIBUTES, n)) {
      throw new AwsRequestError('InvalidParameterValue', `Value (${n.slice(0, 100)}) for parameter attributeName is invalid. Expected one of: ${Object.keys(ACCOUNT_ATTRIBUTES).join(', ')}`);
    }
  }
  const shown = names.length ? Object.keys(ACCOUNT_ATTRIBUTES).filter((n) => names.includes(n)) : Object.keys(ACCOUNT_ATTRIBUTES);
  return {
    accountAttributeSet: shown.map((n) => ({ attributeName: n, attributeValueSet: ACCOUNT_ATTRIBUTES[n]!.map((v) => ({ attributeValue: v })) })),
  };
}

export const EC2_BASE_ACTIONS = {
  DescribeRegions: describeRegions,
  DescribeAvailabilityZones: describeAvailabilityZones,
  DescribeAccountAttributes: describeAccountAttributes,
} as const satisfies ActionTable;

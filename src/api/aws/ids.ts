// AWS's names for things (aws-ec2-api.md §1.5, §6, §7): resource ids, account ids, ARNs, regions.
// An id never contains `_` or `/` (issue 12).
import { randomBytes } from 'node:crypto';

/** the prefixes of the ids this dialect makes: prefix + '-' + 17 lower-case hex digits */
export const AWS_ID_PREFIXES = ['vpce', 'vpce-svc', 'vpce-nfn', 'eni', 'pl', 'vpc', 'subnet', 'rtb', 'sg', 'sgr', 'igw', 'acl'] as const;
export type AwsIdPrefix = (typeof AWS_ID_PREFIXES)[number];

const ID_PATTERNS = Object.fromEntries(
  // 17 digits for ids made today, 8 for AWS's older ones (vpc-1a2b3c4d)
  AWS_ID_PREFIXES.map((p) => [p, new RegExp(`^${p}-(?:[0-9a-f]{17}|[0-9a-f]{8})$`)]),
) as Record<AwsIdPrefix, RegExp>;

function hex(digits: number): string {
  return randomBytes(Math.ceil(digits / 2)).toString('hex').slice(0, digits);
}

/** a new id, e.g. `vpce-0a1b2c3d4e5f67890` */
export function newAwsId(prefix: AwsIdPrefix): string {
  return `${prefix}-${hex(17)}`;
}

/** whether `id` is an AWS-shaped id of that prefix (`vpce-svc-…` is not a `vpce-` id) */
export function isAwsId(prefix: AwsIdPrefix, id: string): boolean {
  return ID_PATTERNS[prefix].test(id);
}

/**
 * How EC2 tells an id that cannot be of its kind (`<Kind>.Malformed`) from one of the right shape
 * that is not there (`.NotFound`): the codes as the EC2 API reference's error list spells them
 * (`InvalidVpcID` but `InvalidGroupId`, `InvalidRouteTableId`, `InvalidNetworkInterfaceId`).
 * vpcep-sim's own ids count as well formed: an endpoint made through the Huawei API keeps its UUID,
 * and a config's VPCs, subnets and route tables carry any id the operator gave (`vpc-app`,
 * `subnet-a`), so for those kinds only an id without the kind's prefix is malformed.
 */
export interface IdShape {
  readonly code: string;
  readonly wellFormed: (id: string) => boolean;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const ID_SHAPES = {
  endpoint: { code: 'InvalidVpcEndpointId.Malformed', wellFormed: (id: string) => isAwsId('vpce', id) || UUID.test(id) },
  securityGroup: { code: 'InvalidGroupId.Malformed', wellFormed: (id: string) => isAwsId('sg', id) },
  securityGroupRule: { code: 'InvalidSecurityGroupRuleId.Malformed', wellFormed: (id: string) => isAwsId('sgr', id) },
  networkInterface: { code: 'InvalidNetworkInterfaceId.Malformed', wellFormed: (id: string) => isAwsId('eni', id) },
  networkAcl: { code: 'InvalidNetworkAclId.Malformed', wellFormed: (id: string) => /^acl-[0-9a-f]{8}(?:[0-9a-f]{9})?$/.test(id) },
  vpc: { code: 'InvalidVpcID.Malformed', wellFormed: (id: string) => id.startsWith('vpc-') },
  subnet: { code: 'InvalidSubnetID.Malformed', wellFormed: (id: string) => id.startsWith('subnet-') },
  routeTable: { code: 'InvalidRouteTableId.Malformed', wellFormed: (id: string) => id.startsWith('rtb-') },
} as const satisfies Record<string, IdShape>;

// the default account's id (000000000000) and the generation of account ids live with the accounts
// (src/model/aws-identity.ts, src/control/inventory.ts)
export { DEFAULT_AWS_ACCOUNT_ID } from '../../model/aws-identity.js';

export function isAccountId(s: string): boolean {
  return /^\d{12}$/.test(s);
}

// ---- regions

// the region names AWS names carry live below the dialects (the DNS server names endpoints too)
export { awsRegion, isAwsRegion } from '../../model/aws-identity.js';

/** an endpoint service's name (§7) */
export function endpointServiceName(region: string, serviceId: string): string {
  return `com.amazonaws.vpce.${region}.${serviceId}`;
}

/** a public (operator's) service's name, `com.amazonaws.<region>.<name>` (§7) */
export function publicServiceName(region: string, name: string): string {
  return `com.amazonaws.${region}.${name}`;
}

// ---- ARNs

export interface Arn {
  readonly partition: string;
  readonly service: string;
  readonly region: string;
  readonly account: string;
  readonly resource: string;
}

/** splits `arn:partition:service:region:account:resource`; null when it is not an ARN */
export function parseArn(s: string): Arn | null {
  const parts = s.split(':');
  if (parts.length < 6 || parts[0] !== 'arn') return null;
  const [, partition, service, region, account] = parts as [string, string, string, string, string];
  const resource = parts.slice(5).join(':');
  if (!/^aws[a-z-]*$/.test(partition) || !/^[a-z0-9-]+$/.test(service) || !resource) return null;
  if (region !== '' && !/^[a-z0-9-]+$/.test(region)) return null;
  if (account !== '' && !isAccountId(account)) return null;
  return { partition, service, region, account, resource };
}

/** `arn:aws:iam::<account>:root`, the principal of a whole account */
export function accountRootArn(account: string): string {
  return `arn:aws:iam::${account}:root`;
}

/** an allowed principal, as AWS classifies it (§1.5 AllowedPrincipal.principalType) */
export type Principal =
  | { readonly type: 'All' }
  | { readonly type: 'Account' | 'User' | 'Role'; readonly account: string; readonly arn: string };

/** `*`, `arn:aws:iam::<acct>:root`, `…:user/<name>`, `…:role/<name>`; null for anything else */
export function parsePrincipal(s: string): Principal | null {
  if (s === '*') return { type: 'All' };
  const arn = parseArn(s);
  if (!arn || arn.service !== 'iam' || arn.region !== '' || arn.account === '') return null;
  if (arn.resource === 'root') return { type: 'Account', account: arn.account, arn: s };
  if (/^user\/[\w+=,.@/-]{1,512}$/.test(arn.resource)) return { type: 'User', account: arn.account, arn: s };
  if (/^role\/[\w+=,.@/-]{1,512}$/.test(arn.resource)) return { type: 'Role', account: arn.account, arn: s };
  return null;
}

/** ELBv2 names: 1-32 letters, digits and hyphens, no hyphen first or last */
export function isElbName(name: string): boolean {
  return /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$/.test(name) && !name.startsWith('internal-');
}

const ELB_ID = /^[0-9a-f]{16}$/;

function elbArn(region: string, account: string, resource: string): string {
  return `arn:aws:elasticloadbalancing:${region}:${account}:${resource}`;
}

/** a network load balancer's ARN: `…:loadbalancer/net/<name>/<16 hex>` */
export function loadBalancerArn(region: string, account: string, name: string, id: string = hex(16)): string {
  return elbArn(region, account, `loadbalancer/net/${name}/${id}`);
}

/** `…:targetgroup/<name>/<16 hex>` */
export function targetGroupArn(region: string, account: string, name: string, id: string = hex(16)): string {
  return elbArn(region, account, `targetgroup/${name}/${id}`);
}

/** a listener of a network load balancer: `…:listener/net/<lb name>/<lb id>/<16 hex>` */
export function listenerArn(region: string, account: string, loadBalancerName: string, loadBalancerId: string, id: string = hex(16)): string {
  return elbArn(region, account, `listener/net/${loadBalancerName}/${loadBalancerId}/${id}`);
}

export type ElbArn =
  | { readonly kind: 'loadbalancer'; readonly region: string; readonly account: string; readonly type: 'net' | 'app' | 'gwy'; readonly name: string; readonly id: string }
  | { readonly kind: 'targetgroup'; readonly region: string; readonly account: string; readonly name: string; readonly id: string }
  | { readonly kind: 'listener'; readonly region: string; readonly account: string; readonly type: 'net' | 'app' | 'gwy'; readonly loadBalancerName: string; readonly loadBalancerId: string; readonly id: string };

/** reads an ELBv2 ARN of a load balancer, target group or listener; null for anything else */
export function parseElbArn(s: string): ElbArn | null {
  const arn = parseArn(s);
  if (!arn || arn.service !== 'elasticloadbalancing' || arn.region === '' || arn.account === '') return null;
  const r = arn.resource.split('/');
  const { region, account } = arn;
  const lbType = (t: string | undefined): t is 'net' | 'app' | 'gwy' => t === 'net' || t === 'app' || t === 'gwy';
  if (r[0] === 'loadbalancer' && r.length === 4 && lbType(r[1]) && isElbName(r[2]!) && ELB_ID.test(r[3]!)) {
    return { kind: 'loadbalancer', region, account, type: r[1], name: r[2]!, id: r[3]! };
  }
  if (r[0] === 'targetgroup' && r.length === 3 && isElbName(r[1]!) && ELB_ID.test(r[2]!)) {
    return { kind: 'targetgroup', region, account, name: r[1]!, id: r[2]! };
  }
  if (r[0] === 'listener' && r.length === 5 && lbType(r[1]) && isElbName(r[2]!) && ELB_ID.test(r[3]!) && ELB_ID.test(r[4]!)) {
    return { kind: 'listener', region, account, type: r[1], loadBalancerName: r[2]!, loadBalancerId: r[3]!, id: r[4]! };
  }
  return null;
}

// ---- access keys

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/**
 * The account id a LocalStack-structured access key names (§6.2): `LSIA…`/`LKIA…`, base32 of the
 * rest, its first 6 bytes as an integer, `(x & 0x7fffffffff80) >> 7` (LSIAQAAAAAAVNCBMPNSG ->
 * 000000000042); a 12-digit key is itself an account id. Null otherwise: AKIA/ASIA keys are real
 * AWS keys, which LocalStack refuses to read as a safeguard.
 */
export function accountIdFromAccessKey(accessKeyId: string): string | null {
  if (isAccountId(accessKeyId)) return accessKeyId;
  if (!/^(?:LSIA|LKIA)[A-Z2-7]{12,}$/.test(accessKeyId)) return null;
  let x = 0n;
  for (const c of accessKeyId.slice(4, 14)) x = (x << 5n) | BigInt(BASE32.indexOf(c)); // 10 chars = 50 bits
  x >>= 2n; // the first 48 bits: 6 bytes
  return ((x & 0x7fffffffff80n) >> 7n).toString().padStart(12, '0');
}

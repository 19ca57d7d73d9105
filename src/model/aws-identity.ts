// Who an AWS caller is, and the principals of a service's whitelist in AWS's words. Pure: over the
// accounts the inventory built; SigV4 and the wire are the AWS dialect's (issue 12, "Accounts";
// aws-ec2-api.md 6.3).
import { admitsEveryAccount, isPermission } from './rules.js';
import type { Account } from './types.js';

// a region of the `aws` partition (the ARNs here say `arn:aws`): not China's cn-*, not GovCloud or ISO
const AWS_REGION = /^(?!cn-)[a-z]{2}-[a-z]+-\d{1,2}$/;

/** whether `s` names a region of the `aws` partition, e.g. `eu-central-2` */
export function isAwsRegion(s: string): boolean {
  return AWS_REGION.test(s);
}

/** the AWS region names and ARNs carry: the config's region when it looks like one, else us-east-1 (`sim-1`) */
export function awsRegion(configRegion: string): string {
  return isAwsRegion(configRegion) ? configRegion : 'us-east-1';
}

/** LocalStack's convention: the account any credentials act as when no key is configured */
export const DEFAULT_AWS_ACCOUNT_ID = '000000000000';

/** the caller an access key id stands for; `secret` null: lenient, the signature is not checked */
export interface AwsCaller {
  readonly account: Account;
  readonly secret: string | null;
}

export interface AwsIdentities {
  /**
   * verify as soon as one account has an access key; when none has, lenient with one account (the
   * embedded `default` one, or a config's only one: no other tenant to act as), closed with several
   * (any request could act as the first: one tenant would be every tenant's way in)
   */
  readonly mode: 'verify' | 'lenient' | 'closed';
  readonly byAccessKey: ReadonlyMap<string, AwsCaller>;
  readonly byAwsId: ReadonlyMap<string, Account>;
  readonly byDomain: ReadonlyMap<string, Account>;
  /** lenient: the first account (the embedded `default` one when the config declares none) */
  readonly lenientAccount: Account | null;
}

export function awsIdentities(accounts: Iterable<Account>): AwsIdentities {
  const byAccessKey = new Map<string, AwsCaller>();
  const byAwsId = new Map<string, Account>();
  const byDomain = new Map<string, Account>();
  let first: Account | null = null;
  let count = 0;
  for (const a of accounts) {
    first ??= a;
    count++;
    if (a.aws_access_key) byAccessKey.set(a.aws_access_key.id, { account: a, secret: a.aws_access_key.secret });
    byAwsId.set(a.aws_account_id, a);
    byDomain.set(a.domain_id, a);
  }
  const mode = byAccessKey.size ? 'verify' : count <= 1 ? 'lenient' : 'closed';
  return { mode, byAccessKey, byAwsId, byDomain, lenientAccount: mode === 'lenient' ? first : null };
}

/**
 * The account of an access key id. verify: a configured key -> its account and secret; an unknown
 * key -> null (AuthFailure). lenient: any key id -> the default account, secret null. closed: null.
 */
export function awsAccountFor(ids: AwsIdentities, accessKeyId: string): AwsCaller | null {
  if (ids.mode === 'lenient') return ids.lenientAccount && { account: ids.lenientAccount, secret: null };
  return ids.byAccessKey.get(accessKeyId) ?? null;
}

export function accountByAwsId(ids: AwsIdentities, awsAccountId: string): Account | undefined {
  return ids.byAwsId.get(awsAccountId);
}

/**
 * `arn:aws:iam::<id>:root`, `:user/<path/name>` or `:role/<path/name>` -> the account with that AWS
 * id, as the whitelist entry `iam:domain::<domain_id>`; `*` -> `*`. A user or role stands for its
 * whole account: the data plane admits accounts, not IAM principals. null: not a principal, or no
 * account here has that id.
 */
export function permissionOfPrincipal(ids: AwsIdentities, principal: string): string | null {
  if (principal === '*') return '*';
  const m = /^arn:aws:iam::(\d{12}):(?:root|(?:user|role)\/[\w+=,.@/-]{1,512})$/.exec(principal);
  const account = m ? ids.byAwsId.get(m[1]!) : undefined;
  return account ? `iam:domain::${account.domain_id}` : null;
}

/**
 * The other way: `iam:domain::<domain_id>` of an account -> `arn:aws:iam::<its AWS id>:root`;
 * `*` -> `*`. null for an entry that names no account here (another domain, a wildcard pattern).
 */
export function principalOfPermission(ids: AwsIdentities, permission: string): string | null {
  if (permission === '*') return '*';
  const account = permission.startsWith('iam:domain::') ? ids.byDomain.get(permission.slice('iam:domain::'.length)) : undefined;
  return account ? `arn:aws:iam::${account.aws_account_id}:root` : null;
}

/**
 * A whitelist entry as AWS's allowed principals list it: an entry admitting every account (`*`,
 * `iam:domain::*`) -> `*`; an account's -> its root ARN; any other (a pattern such as
 * `iam:domain::c0c0*`, a domain no account here has) has no AWS spelling and is listed as it is,
 * which a removal takes back (permissionToRemove): every entry is seen and removable in both dialects.
 */
export function allowedPrincipalOf(ids: AwsIdentities, permission: string): string {
  if (admitsEveryAccount(permission)) return '*';
  return principalOfPermission(ids, permission) ?? permission;
}

/**
 * A principal to remove from a whitelist -> the entry: an AWS principal's (permissionOfPrincipal),
 * or an entry allowedPrincipalOf lists as it is; null: neither.
 */
export function permissionToRemove(ids: AwsIdentities, principal: string): string | null {
  return permissionOfPrincipal(ids, principal) ?? (isPermission(principal) ? principal : null);
}

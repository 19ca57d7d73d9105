// The rules of the user guide that need no state beyond their arguments. Pure.
import { cidrContains, intToIp, ipToInt, isIpv4, lastAddress, parseCidr, type Cidr } from '../net/cidr.js';
import { reservedReason } from './config.js';
import type { ConnectionAction, SetChange } from './commands.js';
import { DomainError } from './errors.js';
import type { Account, ClientToken, EndpointService, EndpointStatus, Tag } from './types.js';

/** huawei-vpcep-api.md: `iam:domain::<domain_id>` (1-64 of [a-zA-Z0-9*]) or `*`. */
export function isPermission(text: string): boolean {
  return text === '*' || /^iam:domain::[a-zA-Z0-9*]{1,64}$/.test(text);
}

export function validatePermission(text: string): string {
  if (isPermission(text)) return text;
  throw new DomainError('InvalidPermission', `invalid permission ${JSON.stringify(text)}: iam:domain::<domain_id> or *`);
}

/**
 * Whether two whitelist entries are one: `iam:domain::` with asterisks only admits every account,
 * as `*` does (mayConnect), so it is `*` spelt another way; any other entry is itself.
 */
export function samePermission(a: string, b: string): boolean {
  return a === b || (admitsEveryAccount(a) && admitsEveryAccount(b));
}

/** `*`, or a domain pattern of asterisks only (`iam:domain::*`) */
export function admitsEveryAccount(permission: string): boolean {
  return permission === '*' || /^iam:domain::\*+$/.test(permission);
}

/**
 * 000_9af245a83013c30f.txt 3.6: the owner's own account is always allowed; `*` allows every account.
 * A domain id with asterisks is a pattern, each `*` any run of characters: `iam:domain::*` allows
 * every account (Huawei's AddOrRemoveServicePermissions: "If you enter an asterisk, this VPC
 * endpoint service allows access from any VPC endpoints").
 */
export function mayConnect(service: EndpointService, account: Account): boolean {
  if (service.public) return true;
  if (service.owner === account.name) return true;
  return service.permissions.some((p) => p.permission === '*' || domainMatches(p.permission, account.domain_id));
}

const DOMAIN_PREFIX = 'iam:domain::';

/** whether the whitelist entry `iam:domain::<id or pattern>` names DOMAIN */
function domainMatches(permission: string, domain: string): boolean {
  if (!permission.startsWith(DOMAIN_PREFIX)) return false;
  const id = permission.slice(DOMAIN_PREFIX.length);
  if (!id.includes('*')) return id === domain;
  // validatePermission let only [a-zA-Z0-9*] through: no other character to escape
  return new RegExp(`^${id.replaceAll('*', '.*')}$`).test(domain);
}

/** An endpoint whitelist entry: an IPv4 address or CIDR, normalised to CIDR text. */
export function normaliseWhitelist(entries: readonly string[]): string[] {
  const out: string[] = [];
  for (const e of entries) {
    const r = parseCidr(e, { allowBare: true });
    if (!r.ok) throw new DomainError('InvalidWhitelist', `invalid whitelist entry ${JSON.stringify(e)}: ${r.reason}`);
    if (!out.includes(r.cidr.text)) out.push(r.cidr.text);
  }
  return out;
}

/**
 * An endpoint's whitelist as it is kept and shown: each entry as given (Huawei's SDKs and
 * Terraform compare what they read with what they sent: `10.10.10.10` stays so, not `/32`), after
 * the checks of normaliseWhitelist; an entry naming a block an earlier one names is left out.
 * What admission matches is normaliseWhitelist's form of it.
 */
export function checkWhitelist(entries: readonly string[]): string[] {
  const seen = new Set<string>();
  return entries.filter((e) => {
    const block = normaliseWhitelist([e])[0]!;
    if (seen.has(block)) return false;
    seen.add(block);
    return true;
  });
}

/**
 * Picks the endpoint's private IP in its subnet: the requested one when free, else the lowest
 * free address. Never the network, gateway or broadcast address, never one in use.
 */
export function allocatePrivateIp(subnet: Cidr, used: ReadonlySet<string>, requested?: string): string {
  if (requested !== undefined) {
    if (!isIpv4(requested)) throw new DomainError('InvalidPortIp', `invalid port_ip ${JSON.stringify(requested)}: not an IPv4 address`);
    const ip = ipToInt(requested);
    if (!cidrContains(subnet, ip)) throw new DomainError('PortIpNotInSubnet', `port_ip ${requested} is not in subnet ${subnet.text}`);
    const reserved = reservedReason(subnet, ip);
    if (reserved) throw new DomainError('InvalidPortIp', `invalid port_ip ${requested}: it is ${reserved} of subnet ${subnet.text}`);
    if (used.has(requested)) throw new DomainError('PortIpInUse', `port_ip ${requested} is in use`);
    return requested;
  }
  const last = lastAddress(subnet);
  for (let ip = subnet.base + 2; ip < last; ip++) {
    const text = intToIp(ip);
    if (!used.has(text)) return text;
  }
  throw new DomainError('SubnetExhausted', `no free private IP left in subnet ${subnet.text}`);
}

/** huawei-vpcep-api.md "Statuses": which endpoint statuses a provider's action may start from. */
export function checkConnectionAction(action: ConnectionAction, status: EndpointStatus): void {
  if (status === 'deleting') throw new DomainError('BeingDeleted', 'the endpoint is being deleted');
  if (action === 'accept') {
    if (status === 'creating') throw new DomainError('BeingCreated', 'the endpoint is already being connected');
    if (status === 'accepted') throw new DomainError('AlreadyConnected', 'the endpoint is already accepted');
  } else if (status === 'rejected') {
    throw new DomainError('InvalidState', 'the endpoint is already rejected');
  }
}

export function fullServiceName(region: string, name: string | undefined, id: string): string {
  return name ? `${region}.${name}.${id}` : `${region}.${id}`;
}

/** Applies a tag action; the result is the resource's new tag list. */
export function applyTags(current: readonly Tag[], action: 'create' | 'delete', tags: ReadonlyArray<{ key: string; value?: string }>, max: number): Tag[] {
  const keys = new Set<string>();
  for (const t of tags) {
    if (keys.has(t.key)) throw new DomainError('DuplicateTagKey', `duplicate tag key ${JSON.stringify(t.key)}`);
    keys.add(t.key);
  }
  if (action === 'delete') {
    return current.filter((t) => !tags.some((d) => d.key === t.key && (d.value === undefined || d.value === t.value)));
  }
  const next = current.filter((t) => !keys.has(t.key));
  for (const t of tags) next.push({ key: t.key, value: t.value ?? '' });
  if (next.length > max) throw new DomainError('TagLimit', `tag limit reached: at most ${max} tags per resource`);
  return next;
}

/** CURRENT less CHANGE's removals, then its new members, in order (commands.ts SetChange) */
export function applySetChange(current: readonly string[], change: SetChange): string[] {
  const remove = new Set(change.remove);
  return [...new Set([...current.filter((x) => !remove.has(x)), ...change.add])];
}

/**
 * A create that carries a client token: what its account made with that token before (undefined:
 * nothing), which the create answers instead of making another; the same token with other
 * parameters is IdempotencyMismatch (aws-ec2-api.md §2.2; AWS's "Ensuring idempotency").
 */
export function sameRequest<T extends { readonly client_token?: ClientToken }>(made: T | undefined, asked: ClientToken): T | undefined {
  if (made && made.client_token?.digest !== asked.digest) {
    throw new DomainError('IdempotencyMismatch', `The client token '${asked.token}' was used with other parameters`);
  }
  return made;
}

/** what OWNER made with the client token ASKED among MADE (sameRequest); undefined: nothing */
export function madeWithToken<T extends { readonly owner: string; readonly client_token?: ClientToken }>(made: Iterable<T>, owner: string, asked: ClientToken): T | undefined {
  for (const x of made) if (x.owner === owner && x.client_token?.token === asked.token) return sameRequest(x, asked);
  return undefined;
}

/** a value as JSON with every object's keys sorted: the order its fields were set in does not count */
function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x)
    ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    : x));
}

/**
 * A create of a resource whose name (or port) another one of the caller holds, where a create with
 * the same settings is idempotent (ELBv2's; model/load-balancers.ts loadBalancerSettings): MADE,
 * the one that holds it, when SETTINGS reads the same of it and of WANTED (what the create would
 * make), else the refusal DUPLICATE.
 */
export function sameSettings<T>(made: T, wanted: T, settings: (x: T) => unknown, duplicate: () => DomainError): T {
  if (canonicalJson(settings(made)) !== canonicalJson(settings(wanted))) throw duplicate();
  return made;
}

// Gateway endpoint policies (`policy_statement`, huawei-vpcep-api.md; AWS "Control access to VPC
// endpoints using endpoint policies"): validation of the request field and evaluation per TCP
// connection. Pure: no I/O, no state.
//
// What the simulator enforces, and what it does not
// -------------------------------------------------
// A gateway endpoint's traffic passes through a TCP relay. The relay sees each connection's source
// address, the client VPC and that VPC's account (domain_id); it does not see the requests inside
// the connection (an OBS/S3 GetObject on some bucket). So a policy is evaluated once per
// connection, when it is opened:
//
// Enforced per connection:
// - Principal: absent or "*" matches every connection; { "ID": [...] } matches when the client
//   VPC's account domain_id is in the list, or the list holds "*"; { "AWS": [...] } names the
//   same accounts the AWS way ("<account id>" or "arn:aws:iam::<account id>:root", or "*"),
//   normalised into ID (an account's AWS id as its domain id: PolicyOptions.domainOfAwsAccount). Huawei's documented policy_statement has no Principal
//   (huawei-vpcep-api.md line 65): absent means everyone; AWS requires one in an endpoint policy
//   (validatePolicy's requirePrincipal: the dialect says which).
// - Condition (every operator and every key must match; the values of one key are alternatives):
//     IpAddress / NotIpAddress      vpcep:SourceIp          the connection's source address
//     StringEquals / StringNotEquals vpcep:SourceVpc        the client VPC's id
//     StringEquals / StringNotEquals vpcep:PrincipalAccount the client VPC's account domain_id
//   (aws:VpcSourceIp, aws:SourceVpc and aws:PrincipalAccount are accepted as aliases; condition
//   keys are case-insensitive, as in IAM; string comparisons are case-sensitive.)
//     IpAddress / NotIpAddress      aws:SourceIp            absent through an endpoint, as in AWS
//   (002_05e46307768ae273.txt: traffic through a VPC endpoint carries the client's private
//   address, and aws:SourceIp is only set for public ones): IpAddress never matches, and
//   NotIpAddress always does, as IAM treats a key missing from the request.
// - Explicit Deny wins: a Deny statement whose Principal and Conditions match and whose Action and
//   Resource both cover everything refuses the connection, whatever any Allow says.
// - Implicit deny: a connection that no Allow statement matches is refused.
//
// Not enforced (left to the service, which sees the requests):
// - Action and Resource. An Allow statement narrower than everything (say s3:GetObject on one
//   bucket) still lets the connection through: some requests on it may be allowed. A Deny
//   statement narrower than everything is not applied to connections at all, since it would also
//   block requests the policy allows; the decision's `reason` says so when such a Deny matched.
//   "Everything" is kept simple: an Action list covers everything when one entry is "*",
//   "<service>:*" or "<service>:*:*"; a Resource list when one entry is "*" or ends with ":*"
//   (so "obs:*:*:object:*" and "arn:aws:s3:::*" do, "arn:aws:s3:::bucket/*" does not).
// - Any other condition operator or key (aws:PrincipalArn, aws:SourceVpce, ...), NotAction,
//   NotResource and NotPrincipal: refused at validation (InvalidPolicy), never silently ignored.
//
// Accepted shape (validatePolicy): an array of 1 to 20 statements whose JSON text is at most
// 20,480 characters; each statement has exactly the keys
//   Sid?        string
//   Effect      "Allow" | "Deny"
//   Principal?  "*" | { "ID"?: string | string[], "AWS"?: string | string[] }  (at least one;
//               domain ids: 1-64 of A-Z a-z 0-9, or "*"; AWS: an id, arn:aws:iam::<id>:root or "*")
//   Action      string | string[]   (1-64 non-empty strings of at most 256 characters)
//   Resource    string | string[]   (likewise)
//   Condition?  { <operator>: { <key>: string | string[] } }   (the operators and keys above;
//               IP values are IPv4 addresses or CIDRs, host bits cleared, a bare address is a /32)
// The normalised form has arrays everywhere, CIDR text for IP values, vpcep:* key names (but
// aws:SourceIp, which is not vpcep:SourceIp) and principals as { "ID": [...] }.
import { cidrContains, intToIp, ipv6CidrText, lastAddress, parseCidr, type Cidr } from '../net/cidr.js';
import { DomainError } from './errors.js';

export type PolicyEffect = 'Allow' | 'Deny';
export type ConditionOperator = 'IpAddress' | 'NotIpAddress' | 'StringEquals' | 'StringNotEquals';
export type ConditionKey = 'vpcep:SourceIp' | 'vpcep:SourceVpc' | 'vpcep:PrincipalAccount' | 'aws:SourceIp';

/** operator -> key -> the key's alternative values (IP operators: CIDR text). */
export type PolicyCondition = Partial<Record<ConditionOperator, Partial<Record<ConditionKey, string[]>>>>;

/** "*" or a list of account domain ids ("*" in the list matches any account). */
export type PolicyPrincipal = '*' | { ID: string[] };

/** A statement in normalised form (the output of validatePolicy). */
export interface PolicyStatement {
  Sid?: string;
  Effect: PolicyEffect;
  Principal?: PolicyPrincipal;
  Action: string[];
  Resource: string[];
  Condition?: PolicyCondition;
}

/** What the relay knows about a connection. */
export interface PolicyRequest {
  /** the simulated source address, an unsigned 32-bit integer */
  sourceIp: number;
  /** the client VPC's id */
  sourceVpc: string;
  /** the client VPC's account domain_id */
  principalAccount: string;
}

export interface PolicyDecision {
  allowed: boolean;
  /** index in the policy of the statement that decided; null for the implicit deny */
  decidedBy: number | null;
  /** a short sentence naming the statement, e.g. 'statement 1 (Deny) matches: source 10.0.1.5 in 10.0.1.0/24' */
  reason: string;
}

export const POLICY_MAX_STATEMENTS = 20;
export const POLICY_MAX_CHARS = 20_480;

/** The default policy: full access (AWS: Allow, Principal *, Action *, Resource *). Frozen. */
export const DEFAULT_POLICY: readonly PolicyStatement[] = Object.freeze([
  Object.freeze({
    Effect: 'Allow',
    Principal: '*',
    Action: Object.freeze(['*']) as string[],
    Resource: Object.freeze(['*']) as string[],
  }) as PolicyStatement,
]);

// ---------------------------------------------------------------------------------------------
// Validation

const STATEMENT_KEYS = ['Sid', 'Effect', 'Principal', 'Action', 'Resource', 'Condition'] as const;
const OPERATORS: readonly ConditionOperator[] = ['IpAddress', 'NotIpAddress', 'StringEquals', 'StringNotEquals'];
const IP_OPERATORS: ReadonlySet<ConditionOperator> = new Set(['IpAddress', 'NotIpAddress']);

/** lower-case spelling -> canonical key; aws:* are aliases of vpcep:*, but aws:SourceIp (the public source address). */
const CONDITION_KEYS: ReadonlyMap<string, ConditionKey> = new Map([
  ['vpcep:sourceip', 'vpcep:SourceIp'],
  ['aws:vpcsourceip', 'vpcep:SourceIp'],
  ['aws:sourceip', 'aws:SourceIp'],
  ['vpcep:sourcevpc', 'vpcep:SourceVpc'],
  ['aws:sourcevpc', 'vpcep:SourceVpc'],
  ['vpcep:principalaccount', 'vpcep:PrincipalAccount'],
  ['aws:principalaccount', 'vpcep:PrincipalAccount'],
]);

const DOMAIN_ID = /^[A-Za-z0-9]{1,64}$/;
/** an AWS account: its 12-digit id, arn:aws:iam::<id>:root, or "*" (a domain id is an ID principal, not an AWS one) */
const AWS_ACCOUNT = /^(?:arn:aws:iam::(\d{12}):root|(\d{12}|\*))$/;

const AWS_ACCOUNT_ID = /^\d{12}$/;

/** whether P is a principal an `{"AWS": ...}` statement takes (a 12-digit account id, its root ARN, or "*") */
export const isAwsPrincipal = (p: string): boolean => AWS_ACCOUNT.test(p);
const IP_KEYS: ReadonlySet<ConditionKey> = new Set(['vpcep:SourceIp', 'aws:SourceIp']);

export interface PolicyOptions {
  /** a statement must name its Principal (AWS endpoint policies); else absent means everyone (Huawei) */
  readonly requirePrincipal: boolean;
  /**
   * the domain id of the account with this AWS account id, if one has it: an AWS principal and an
   * aws:PrincipalAccount value name an account by its AWS id, a connection's account is its domain id
   */
  readonly domainOfAwsAccount?: (awsAccountId: string) => string | undefined;
}

function invalid(path: string, what: string): never {
  throw new DomainError('InvalidPolicy', `${path}: ${what}`);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

function keyPath(path: string, key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/** A string or an array of strings, as a non-empty array. `max` bounds the entry count. */
function stringList(v: unknown, path: string, max?: number): { value: string; path: string }[] {
  const items = typeof v === 'string' ? [{ value: v as unknown, path }] : Array.isArray(v) ? v.map((x, i) => ({ value: x as unknown, path: `${path}[${i}]` })) : null;
  if (items === null) invalid(path, `must be a string or an array of strings, got ${typeName(v)}`);
  if (items.length === 0) invalid(path, 'must not be an empty array');
  if (max !== undefined && items.length > max) invalid(path, `at most ${max} entries, got ${items.length}`);
  for (const it of items) {
    if (typeof it.value !== 'string') invalid(it.path, `must be a string, got ${typeName(it.value)}`);
  }
  return items as { value: string; path: string }[];
}

// Entries and their lengths are bounded by the document's 20,480 characters alone, as in AWS (an
// S3 object's ARN runs past 1,024 characters; 64 entries of at most 256 were refused)
function actionOrResource(v: unknown, path: string): string[] {
  return stringList(v, path).map((it) => {
    if (it.value.length === 0) invalid(it.path, 'must not be empty');
    return it.value;
  });
}

/** an account named the AWS way (its AWS id), as the domain id connections carry; unknown ids as given */
function awsAccount(id: string, o: PolicyOptions): string {
  return id === '*' ? id : o.domainOfAwsAccount?.(id) ?? id;
}

function principal(v: unknown, path: string, o: PolicyOptions): PolicyPrincipal {
  if (v === '*') return '*';
  if (!isPlainObject(v)) invalid(path, `must be "*", {"ID": [domain ids]} or {"AWS": [account ids]}, got ${typeName(v)}`);
  for (const k of Object.keys(v)) {
    if (k !== 'ID' && k !== 'AWS') invalid(path, `unknown key ${JSON.stringify(k)} (only "ID", a list of account domain ids, and "AWS", a list of account ids or arn:aws:iam::<id>:root)`);
  }
  if (!Object.hasOwn(v, 'ID') && !Object.hasOwn(v, 'AWS')) invalid(path, 'missing ID or AWS');
  const ids = Object.hasOwn(v, 'ID') ? stringList(v.ID, `${path}.ID`).map((it) => {
    if (it.value !== '*' && !DOMAIN_ID.test(it.value)) invalid(it.path, `${JSON.stringify(it.value)} is not a domain id (1-64 of A-Z a-z 0-9) or "*"`);
    return it.value;
  }) : [];
  const accounts = Object.hasOwn(v, 'AWS') ? stringList(v.AWS, `${path}.AWS`).map((it) => {
    const m = AWS_ACCOUNT.exec(it.value);
    if (!m) invalid(it.path, `${JSON.stringify(it.value)} is not an account: a 12-digit account id, arn:aws:iam::<account id>:root or "*" (a connection has no finer principal; a domain id goes in "ID")`);
    return awsAccount((m[1] ?? m[2])!, o);
  }) : [];
  return { ID: [...new Set([...ids, ...accounts])] };
}

function condition(v: unknown, path: string, o: PolicyOptions): PolicyCondition {
  if (!isPlainObject(v)) invalid(path, `must be an object of operator -> {key -> values}, got ${typeName(v)}`);
  const ops = Object.keys(v);
  if (ops.length === 0) invalid(path, 'must name at least one operator');
  const out: PolicyCondition = {};
  for (const op of ops) {
    const opPath = keyPath(path, op);
    if (!(OPERATORS as readonly string[]).includes(op)) {
      invalid(path, `unknown operator ${JSON.stringify(op)} (supported: ${OPERATORS.join(', ')})`);
    }
    const operator = op as ConditionOperator;
    const block = v[op];
    if (!isPlainObject(block)) invalid(opPath, `must be an object of condition key -> values, got ${typeName(block)}`);
    const keys = Object.keys(block);
    if (keys.length === 0) invalid(opPath, 'must name at least one condition key');
    const normalised: Partial<Record<ConditionKey, string[]>> = {};
    const spelledAs = new Map<ConditionKey, string>();
    for (const k of keys) {
      const kPath = keyPath(opPath, k);
      const key = CONDITION_KEYS.get(k.toLowerCase());
      if (key === undefined) {
        invalid(opPath, `unknown condition key ${JSON.stringify(k)} (supported: vpcep:SourceIp, vpcep:SourceVpc, vpcep:PrincipalAccount, their aws:* aliases aws:VpcSourceIp, aws:SourceVpc, aws:PrincipalAccount, and aws:SourceIp)`);
      }
      const isIpKey = IP_KEYS.has(key);
      if (isIpKey !== IP_OPERATORS.has(operator)) {
        invalid(kPath, isIpKey ? `${key} takes IpAddress or NotIpAddress, not ${operator}` : `${key} takes StringEquals or StringNotEquals, not ${operator}`);
      }
      const earlier = spelledAs.get(key);
      if (earlier !== undefined) invalid(kPath, `${JSON.stringify(k)} repeats ${JSON.stringify(earlier)} (the same key ${key})`);
      spelledAs.set(key, k);
      const values = stringList(block[k], kPath).map((it) => {
        if (isIpKey) {
          const r = parseCidr(it.value, { allowBare: true });
          if (r.ok) return r.cidr.text;
          // IAM takes IPv6 too: kept, and it matches no client (every one here is IPv4)
          const v6 = ipv6CidrText(it.value);
          if (v6 === null) invalid(it.path, `${JSON.stringify(it.value)} is not an IPv4 or IPv6 address or CIDR`);
          return v6;
        }
        if (it.value.length === 0) invalid(it.path, 'must not be empty');
        // aws:PrincipalAccount is an AWS account id, as a Principal's AWS is (vpcep:PrincipalAccount, its normalised key, a domain id)
        if (k.toLowerCase() !== 'aws:principalaccount') return it.value;
        if (!AWS_ACCOUNT_ID.test(it.value)) invalid(it.path, `${JSON.stringify(it.value)} is not an AWS account id (12 digits; a domain id goes under vpcep:PrincipalAccount)`);
        return awsAccount(it.value, o);
      });
      normalised[key] = [...new Set(values)];
    }
    out[operator] = normalised;
  }
  return out;
}

function statement(v: unknown, path: string, o: PolicyOptions): PolicyStatement {
  if (!isPlainObject(v)) invalid(path, `must be an object, got ${typeName(v)}`);
  for (const k of Object.keys(v)) {
    if (!(STATEMENT_KEYS as readonly string[]).includes(k)) {
      invalid(path, `unknown key ${JSON.stringify(k)} (allowed: ${STATEMENT_KEYS.join(', ')})`);
    }
  }
  for (const k of ['Effect', 'Action', 'Resource'] as const) {
    if (!Object.hasOwn(v, k)) invalid(path, `missing ${k}`);
  }
  if (o.requirePrincipal && !Object.hasOwn(v, 'Principal')) invalid(path, 'missing Principal (an endpoint policy names who it applies to: "*" for everyone)');
  const out: PolicyStatement = { Effect: 'Allow', Action: [], Resource: [] };
  if (Object.hasOwn(v, 'Sid')) {
    if (typeof v.Sid !== 'string') invalid(`${path}.Sid`, `must be a string, got ${typeName(v.Sid)}`);
    out.Sid = v.Sid;
  }
  if (v.Effect !== 'Allow' && v.Effect !== 'Deny') invalid(`${path}.Effect`, `must be "Allow" or "Deny", got ${typeName(v.Effect)}`);
  out.Effect = v.Effect;
  if (Object.hasOwn(v, 'Principal')) out.Principal = principal(v.Principal, `${path}.Principal`, o);
  out.Action = actionOrResource(v.Action, `${path}.Action`);
  out.Resource = actionOrResource(v.Resource, `${path}.Resource`);
  if (Object.hasOwn(v, 'Condition')) out.Condition = condition(v.Condition, `${path}.Condition`, o);
  return out;
}

/**
 * Validates the request field `policy_statement` and returns its normalised form. Throws
 * DomainError('InvalidPolicy') naming the path of the first fault.
 */
/**
 * The statements of a policy, checked; DOCUMENT_LENGTH: the length of the whole document as the
 * caller wrote it, white space included (AWS's 20,480 characters count it), when it came as one
 */
export function validatePolicy(input: unknown, o: PolicyOptions, documentLength?: number): PolicyStatement[] {
  const path = 'policy_statement';
  if (!Array.isArray(input)) invalid(path, `must be an array of statements, got ${typeName(input)}`);
  if (input.length === 0 || input.length > POLICY_MAX_STATEMENTS) {
    invalid(path, `must hold 1 to ${POLICY_MAX_STATEMENTS} statements, got ${input.length}`);
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(input);
  } catch {
    invalid(path, 'is not representable as JSON');
  }
  if (text === undefined) invalid(path, 'is not representable as JSON');
  if (text.length > POLICY_MAX_CHARS) invalid(path, `its JSON text is ${text.length} characters, at most ${POLICY_MAX_CHARS}`);
  if (documentLength !== undefined && documentLength > POLICY_MAX_CHARS) {
    invalid(path, `the policy document is ${documentLength} characters, white space included, at most ${POLICY_MAX_CHARS}`);
  }
  return input.map((s, i) => statement(s, `${path}[${i}]`, o));
}

// ---------------------------------------------------------------------------------------------
// Evaluation

const BROAD_ACTION = /^(\*|[^:*]+:\*(:\*)?)$/;

/** the service an action names (`s3` of `s3:GetObject`), lower case; null: none (`*`) */
function actionService(a: string): string | null {
  const at = a.indexOf(':');
  return at < 0 ? null : a.slice(0, at).toLowerCase();
}

/** the service a resource names (`s3` of `arn:aws:s3:::b/*`, `obs` of `obs:*:*:object:*`); null: none (`*`) */
function resourceService(r: string): string | null {
  const parts = r.split(':');
  if (parts[0] === 'arn') return parts[2]?.toLowerCase() ?? null;
  return parts.length > 1 ? parts[0]!.toLowerCase() : null;
}

/** whether a service named in an action or resource may be SERVICE (none, the same, or a pattern) */
const mayName = (named: string | null, service: string): boolean => named === null || named === service || named.includes('*') || named.includes('?');

/**
 * Whether the statement can match any request through an endpoint of SERVICE (the action prefix of
 * the endpoint's service: `s3`, `obs`): one of its actions and one of its resources may be that
 * service's. One naming only another service's (`dynamodb:*`, `arn:aws:dynamodb:...`) matches no
 * request here, as in AWS, Allow or Deny. SERVICE undefined: every statement may.
 */
export function statementAppliesTo(s: PolicyStatement, service?: string): boolean {
  if (service === undefined) return true;
  return s.Action.some((a) => mayName(actionService(a), service)) && s.Resource.some((r) => mayName(resourceService(r), service));
}

/** An Action list covers everything when one entry is "*", "<service>:*" or "<service>:*:*" (SERVICE's, when given). */
export function actionCoversEverything(actions: readonly string[], service?: string): boolean {
  return actions.some((a) => a === '*' || (BROAD_ACTION.test(a) && (service === undefined || actionService(a) === service)));
}

/** A Resource list covers everything when one entry is "*" or ends with ":*" (naming SERVICE, when given). */
export function resourceCoversEverything(resources: readonly string[], service?: string): boolean {
  return resources.some((r) => r === '*' || (r.endsWith(':*') && (service === undefined || resourceService(r) === service)));
}

/** Whether the statement's Action and Resource both cover everything of SERVICE (so it is enforceable as a Deny). */
export function statementCoversEverything(s: PolicyStatement, service?: string): boolean {
  return actionCoversEverything(s.Action, service) && resourceCoversEverything(s.Resource, service);
}

const KEY_LABEL: Record<ConditionKey, string> = {
  'vpcep:SourceIp': 'source',
  'vpcep:SourceVpc': 'source VPC',
  'vpcep:PrincipalAccount': 'account',
  'aws:SourceIp': 'public source',
};

// evaluatePolicy runs once per connection: the CIDR texts of validated policies are parsed once.
const cidrCache = new Map<string, Cidr | undefined>();
function cidrCached(text: string): Cidr | undefined {
  let c = cidrCache.get(text);
  if (c === undefined && !cidrCache.has(text)) {
    const r = parseCidr(text, { allowBare: true });
    c = r.ok ? r.cidr : undefined;
    if (cidrCache.size >= 4096) cidrCache.clear();
    cidrCache.set(text, c);
  }
  return c;
}

type Match = { ok: true; because: string[] } | { ok: false; because: string };

function list(values: readonly string[]): string {
  return values.length === 1 ? values[0]! : `[${values.join(', ')}]`;
}

function checkKey(operator: ConditionOperator, key: ConditionKey, values: readonly string[], req: PolicyRequest): { ok: boolean; because: string } {
  if (key === 'aws:SourceIp') {
    return { ok: operator === 'NotIpAddress', because: 'aws:SourceIp is absent through an endpoint (the source is a private address: aws:VpcSourceIp)' };
  }
  if (key === 'vpcep:SourceIp') {
    const ip = intToIp(req.sourceIp);
    const hit = values.find((v) => {
      const c = cidrCached(v);
      return c !== undefined && cidrContains(c, req.sourceIp >>> 0);
    });
    const inside = hit !== undefined ? `source ${ip} in ${hit}` : `source ${ip} not in ${list(values)}`;
    return { ok: (hit !== undefined) === (operator === 'IpAddress'), because: inside };
  }
  const actual = key === 'vpcep:SourceVpc' ? req.sourceVpc : req.principalAccount;
  const found = values.includes(actual);
  const text = `${KEY_LABEL[key]} ${actual} ${found ? 'in' : 'not in'} ${list(values)}`;
  return { ok: found === (operator === 'StringEquals'), because: text };
}

function matchStatement(s: PolicyStatement, req: PolicyRequest): Match {
  const because: string[] = [];
  if (s.Principal !== undefined && s.Principal !== '*' && !s.Principal.ID.includes('*')) {
    const found = s.Principal.ID.includes(req.principalAccount);
    const text = `account ${req.principalAccount} ${found ? 'in' : 'not in'} Principal ${list(s.Principal.ID)}`;
    if (!found) return { ok: false, because: text };
    because.push(text);
  }
  for (const op of OPERATORS) {
    const block = s.Condition?.[op];
    if (block === undefined) continue;
    for (const key of Object.keys(block) as ConditionKey[]) {
      const r = checkKey(op, key, block[key] ?? [], req);
      if (!r.ok) return { ok: false, because: `${op} ${key}: ${r.because}` };
      because.push(r.because);
    }
  }
  return { ok: true, because };
}

function label(s: PolicyStatement, i: number): string {
  return s.Sid ? `statement ${i} ${JSON.stringify(s.Sid)} (${s.Effect})` : `statement ${i} (${s.Effect})`;
}

function matched(s: PolicyStatement, i: number, because: readonly string[]): string {
  return because.length === 0 ? `${label(s, i)} matches every connection` : `${label(s, i)} matches: ${because.join(', ')}`;
}

const NARROW = 'its Action/Resource is narrower than everything';

/**
 * Decides whether a connection may use the endpoint (see the comment at the top): an enforceable
 * Deny that matches wins; otherwise the first matching Allow allows; otherwise implicit deny.
 * Statements are numbered by their index in the policy, from 0, as `decidedBy` is.
 */
export function evaluatePolicy(policy: readonly PolicyStatement[], request: PolicyRequest, service?: string): PolicyDecision {
  let allow: { index: number; because: string[] } | undefined;
  const ignoredDenies: number[] = [];
  const allowMisses: string[] = [];
  for (let i = 0; i < policy.length; i++) {
    const s = policy[i]!;
    if (!statementAppliesTo(s, service)) {
      if (s.Effect === 'Allow') allowMisses.push(`${label(s, i)}: its Action/Resource names no ${service} action or resource`);
      continue;
    }
    const m = matchStatement(s, request);
    if (s.Effect === 'Deny') {
      if (!m.ok) continue;
      if (statementCoversEverything(s, service)) return { allowed: false, decidedBy: i, reason: matched(s, i, m.because) };
      ignoredDenies.push(i);
    } else if (m.ok) {
      allow ??= { index: i, because: m.because };
    } else {
      allowMisses.push(`${label(s, i)}: ${m.because}`);
    }
  }
  if (allow !== undefined) {
    const s = policy[allow.index]!;
    let reason = matched(s, allow.index, allow.because);
    if (!statementCoversEverything(s, service)) reason += `; ${NARROW}, so it allows the connection and leaves per-request checks to the service`;
    if (ignoredDenies.length > 0) {
      const which = ignoredDenies.map((i) => label(policy[i]!, i)).join(', ');
      reason += `; ${which} also ${ignoredDenies.length === 1 ? 'matches but is' : 'match but are'} not enforced per connection: ${NARROW}`;
    }
    return { allowed: true, decidedBy: allow.index, reason };
  }
  let reason = 'implicit deny: no Allow statement matches';
  if (allowMisses.length === 0) reason = 'implicit deny: the policy has no Allow statement';
  else {
    const shown = allowMisses.slice(0, 3).join('; ');
    reason += ` (${shown}${allowMisses.length > 3 ? `; and ${allowMisses.length - 3} more` : ''})`;
  }
  return { allowed: false, decidedBy: null, reason };
}

// ---------------------------------------------------------------------------------------------
// The data path's verdict: compiled once per policy change, no text per connection

/** one Condition key of a compiled statement: what it tests and which outcome passes */
type CompiledCheck =
  | { readonly kind: 'absent'; readonly pass: boolean }
  | { readonly kind: 'ip'; readonly inside: boolean; readonly cidrs: readonly Cidr[] }
  | { readonly kind: 'vpc' | 'account'; readonly equals: boolean; readonly values: ReadonlySet<string> };

interface CompiledStatement {
  /** it may match a request of the endpoint's service (statementAppliesTo) */
  readonly applies: boolean;
  readonly deny: boolean;
  /** Action and Resource cover everything: a matching Deny refuses */
  readonly enforced: boolean;
  /** the accounts it names; null: any (absent, "*", or "*" in the list) */
  readonly principals: ReadonlySet<string> | null;
  readonly checks: readonly CompiledCheck[];
  /** the verdict when it decides, made once */
  readonly verdict: PolicyVerdict;
}

/** A policy ready for policyVerdict(): sets and parsed CIDRs in place of texts. */
export interface CompiledPolicy {
  readonly statements: readonly CompiledStatement[];
}

/** evaluatePolicy()'s decision without its reason text (the path tracer words it with evaluatePolicy) */
export interface PolicyVerdict {
  readonly allowed: boolean;
  readonly decidedBy: number | null;
}

const IMPLICIT_DENY: PolicyVerdict = Object.freeze({ allowed: false, decidedBy: null });

/** compiles a validated policy once (per change of it), for policyVerdict() on every connection through an endpoint of SERVICE */
export function compilePolicy(policy: readonly PolicyStatement[], service?: string): CompiledPolicy {
  return {
    statements: policy.map((s, i) => {
      const checks: CompiledCheck[] = [];
      for (const op of OPERATORS) {
        const block = s.Condition?.[op];
        if (block === undefined) continue;
        for (const key of Object.keys(block) as ConditionKey[]) {
          const values = block[key] ?? [];
          if (key === 'aws:SourceIp') checks.push({ kind: 'absent', pass: op === 'NotIpAddress' });
          else if (key === 'vpcep:SourceIp') checks.push({ kind: 'ip', inside: op === 'IpAddress', cidrs: values.map(cidrCached).filter((c): c is Cidr => c !== undefined) });
          else checks.push({ kind: key === 'vpcep:SourceVpc' ? 'vpc' : 'account', equals: op === 'StringEquals', values: new Set(values) });
        }
      }
      const anyone = s.Principal === undefined || s.Principal === '*' || s.Principal.ID.includes('*');
      return {
        applies: statementAppliesTo(s, service),
        deny: s.Effect === 'Deny',
        enforced: statementCoversEverything(s, service),
        principals: anyone ? null : new Set((s.Principal as { ID: string[] }).ID),
        checks,
        verdict: Object.freeze({ allowed: s.Effect !== 'Deny', decidedBy: i }),
      };
    }),
  };
}

function statementMatches(s: CompiledStatement, req: PolicyRequest): boolean {
  if (!s.applies) return false;
  if (s.principals !== null && !s.principals.has(req.principalAccount)) return false;
  for (const c of s.checks) {
    switch (c.kind) {
      case 'absent':
        if (!c.pass) return false;
        break;
      case 'ip': {
        const ip = req.sourceIp >>> 0;
        let hit = false;
        for (const cidr of c.cidrs) if (cidrContains(cidr, ip)) { hit = true; break; }
        if (hit !== c.inside) return false;
        break;
      }
      default:
        if (c.values.has(c.kind === 'vpc' ? req.sourceVpc : req.principalAccount) !== c.equals) return false;
    }
  }
  return true;
}

/**
 * evaluatePolicy()'s allowed and decidedBy, on a compiled policy: no text built, nothing allocated
 * (the verdicts are made at compile time). A unit test holds the two to agreement.
 */
/**
 * The source addresses where policyVerdict() may change its answer (every IP condition's CIDR
 * starts one and ends one, at its last address + 1), sorted: between two, the verdict for one
 * VPC and account is the same for every address (the relay threads read it as ranges).
 */
export function policyIpBounds(policy: CompiledPolicy): number[] {
  const bounds = new Set<number>();
  for (const s of policy.statements) {
    for (const c of s.checks) {
      if (c.kind !== 'ip') continue;
      for (const cidr of c.cidrs) {
        bounds.add(cidr.base);
        bounds.add(lastAddress(cidr) + 1);
      }
    }
  }
  return [...bounds].sort((x, y) => x - y);
}

export function policyVerdict(policy: CompiledPolicy, request: PolicyRequest): PolicyVerdict {
  let allow: PolicyVerdict | null = null;
  for (const s of policy.statements) {
    if (s.deny) {
      if (s.enforced && statementMatches(s, request)) return s.verdict;
    } else if (allow === null && statementMatches(s, request)) {
      allow = s.verdict;
    }
  }
  return allow ?? IMPLICIT_DENY;
}

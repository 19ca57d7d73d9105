import { describe, expect, it } from 'vitest';
import { huaweiError } from '../../src/api/huawei/errors.js';
import { DomainError } from '../../src/model/errors.js';
import {
  DEFAULT_POLICY, actionCoversEverything, compilePolicy, evaluatePolicy, policyVerdict, resourceCoversEverything, statementAppliesTo, validatePolicy as validateWith,
  type PolicyRequest,
} from '../../src/model/policy.js';
import { ipToInt } from '../../src/net/cidr.js';

/** the Huawei dialect's rules: no Principal required (huawei-vpcep-api.md line 65) */
const validatePolicy = (input: unknown) => validateWith(input, { requirePrincipal: false });

const refusal = (input: unknown, requirePrincipal = false): { code: string; message: string } => {
  try {
    validateWith(input, { requirePrincipal });
  } catch (err) {
    if (err instanceof DomainError) return { code: huaweiError(err).body.error_code, message: err.message };
    throw err;
  }
  return { code: 'no error', message: '' };
};

const allowAll = { Effect: 'Allow', Action: '*', Resource: '*' };
const req = (ip: string, vpc = 'vpc-a', account = 'd1'): PolicyRequest => ({ sourceIp: ipToInt(ip), sourceVpc: vpc, principalAccount: account });

describe('validatePolicy: accepted policies', () => {
  it('accepts the default policy and returns it unchanged', () => {
    expect(validatePolicy(DEFAULT_POLICY)).toEqual(DEFAULT_POLICY);
    expect(validatePolicy(structuredClone(DEFAULT_POLICY))).toEqual([{ Effect: 'Allow', Principal: '*', Action: ['*'], Resource: ['*'] }]);
    expect(Object.isFrozen(DEFAULT_POLICY)).toBe(true);
  });

  it('accepts a Huawei OBS-style policy', () => {
    const p = [{ Effect: 'Allow', Action: ['obs:*:*'], Resource: ['obs:*:*:object:*'] }];
    expect(validatePolicy(p)).toEqual(p);
  });

  it('normalises: arrays everywhere, CIDRs, aws:* aliases, Principal ID lists', () => {
    const out = validatePolicy([{
      Sid: 'S1', Effect: 'Deny', Principal: { ID: 'abc123' }, Action: 's3:GetObject', Resource: 'arn:aws:s3:::b/*',
      Condition: {
        IpAddress: { 'aws:VpcSourceIp': ['10.0.1.5/24', '192.168.0.7'] },
        StringEquals: { 'aws:sourcevpc': 'vpc-a', 'vpcep:PrincipalAccount': ['d1', 'd1'] },
      },
    }]);
    expect(out).toEqual([{
      Sid: 'S1', Effect: 'Deny', Principal: { ID: ['abc123'] }, Action: ['s3:GetObject'], Resource: ['arn:aws:s3:::b/*'],
      Condition: {
        IpAddress: { 'vpcep:SourceIp': ['10.0.1.0/24', '192.168.0.7/32'] },
        StringEquals: { 'vpcep:SourceVpc': ['vpc-a'], 'vpcep:PrincipalAccount': ['d1'] },
      },
    }]);
  });

  it('accepts 20 statements, refuses 21; entries and their lengths are bounded by the document\'s 20,480 characters alone, as in AWS (65 entries, or one of 257, were refused)', () => {
    expect(validatePolicy(Array.from({ length: 20 }, () => allowAll))).toHaveLength(20);
    expect(refusal(Array.from({ length: 21 }, () => allowAll)).message).toMatch(/^policy_statement: must hold 1 to 20 statements, got 21/);
    expect(validatePolicy([{ ...allowAll, Action: Array.from({ length: 500 }, (_, i) => `s3:A${i}`) }])[0]!.Action).toHaveLength(500);
    // an S3 object's ARN with a key of 1,024 characters
    const object = `arn:aws:s3:::my-bucket/${'k'.repeat(1024)}`;
    expect(validatePolicy([{ ...allowAll, Resource: [object] }])[0]!.Resource).toEqual([object]);
    expect(validatePolicy([{ ...allowAll, Condition: { StringEquals: { 'vpcep:SourceVpc': ['v'.repeat(300)] } } }])).toHaveLength(1);
  });
});

describe('validatePolicy: refusals (EndPoint.2048, naming the path)', () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['not an array', { Effect: 'Allow' }, /^policy_statement: must be an array/],
    ['empty array', [], /^policy_statement: must hold 1 to 20 statements, got 0/],
    ['statement not an object', [allowAll, 'Allow'], /^policy_statement\[1\]: must be an object/],
    ['over 20,480 characters', [{ ...allowAll, Sid: 'x'.repeat(20_500) }], /^policy_statement: its JSON text is \d+ characters, at most 20480/],
    ['unknown statement key', [{ ...allowAll, NotAction: 's3:*' }], /^policy_statement\[0\]: unknown key "NotAction"/],
    ['missing Effect', [{ Action: '*', Resource: '*' }], /^policy_statement\[0\]: missing Effect/],
    ['missing Resource', [{ Effect: 'Allow', Action: '*' }], /^policy_statement\[0\]: missing Resource/],
    ['Effect wrong case', [{ ...allowAll, Effect: 'allow' }], /^policy_statement\[0\]\.Effect: must be "Allow" or "Deny"/],
    ['Action empty array', [{ ...allowAll, Action: [] }], /^policy_statement\[0\]\.Action: must not be an empty array/],
    ['Action entry not a string', [{ ...allowAll, Action: ['*', 7] }], /^policy_statement\[0\]\.Action\[1\]: must be a string, got number 7/],
    ['Action entry empty', [{ ...allowAll, Action: '' }], /^policy_statement\[0\]\.Action: must not be empty/],
    ['Resource an object', [{ ...allowAll, Resource: { a: 1 } }], /^policy_statement\[0\]\.Resource: must be a string or an array of strings, got an object/],
    ['Sid not a string', [{ ...allowAll, Sid: 1 }], /^policy_statement\[0\]\.Sid: must be a string/],
    ['Principal an AWS id that is no 12-digit account id (a domain id)', [{ ...allowAll, Principal: { AWS: 'dddd0000dddd0000dddd0000dddd0000' } }], /^policy_statement\[0\]\.Principal\.AWS: "dddd0000dddd0000dddd0000dddd0000" is not an account: a 12-digit account id/],
    ['Principal an AWS root ARN of no 12-digit id', [{ ...allowAll, Principal: { AWS: ['arn:aws:iam::abc:root'] } }], /^policy_statement\[0\]\.Principal\.AWS\[0\]: "arn:aws:iam::abc:root" is not an account/],
    ['Principal an AWS user, not an account', [{ ...allowAll, Principal: { AWS: ['111122223333', 'arn:aws:iam::111122223333:user/alice'] } }], /^policy_statement\[0\]\.Principal\.AWS\[1\]: "arn:aws:iam::111122223333:user\/alice" is not an account/],
    ['Principal an unknown key', [{ ...allowAll, Principal: { Service: 's3.amazonaws.com' } }], /^policy_statement\[0\]\.Principal: unknown key "Service"/],
    ['Principal bad id', [{ ...allowAll, Principal: { ID: ['abc', 'ab-c'] } }], /^policy_statement\[0\]\.Principal\.ID\[1\]: "ab-c" is not a domain id/],
    ['Principal a number', [{ ...allowAll, Principal: 5 }], /^policy_statement\[0\]\.Principal: must be "\*", \{"ID"/],
    ['Condition not an object', [{ ...allowAll, Condition: ['IpAddress'] }], /^policy_statement\[0\]\.Condition: must be an object/],
    ['unknown operator', [{ ...allowAll, Condition: { ArnEquals: { 'aws:PrincipalArn': 'x' } } }], /^policy_statement\[0\]\.Condition: unknown operator "ArnEquals"/],
    ['unknown condition key', [{ ...allowAll, Condition: { StringEquals: { 'aws:SourceVpce': 'vpce-1' } } }], /^policy_statement\[0\]\.Condition\.StringEquals: unknown condition key "aws:SourceVpce"/],
    ['IP key with a string operator', [{ ...allowAll, Condition: { StringEquals: { 'vpcep:SourceIp': '10.0.0.1' } } }], /^policy_statement\[0\]\.Condition\.StringEquals\["vpcep:SourceIp"\]: vpcep:SourceIp takes IpAddress or NotIpAddress/],
    ['string key with an IP operator', [{ ...allowAll, Condition: { IpAddress: { 'vpcep:SourceVpc': 'vpc-a' } } }], /^policy_statement\[0\]\.Condition\.IpAddress\["vpcep:SourceVpc"\]: vpcep:SourceVpc takes StringEquals or StringNotEquals/],
    ['bad CIDR', [allowAll, { ...allowAll, Condition: { IpAddress: { 'vpcep:SourceIp': ['10.0.0.0/8', '10.0.0/8'] } } }],
      /^policy_statement\[1\]\.Condition\.IpAddress\["vpcep:SourceIp"\]\[1\]: "10.0.0\/8" is not an IPv4 or IPv6 address or CIDR$/],
    ['prefix over 32', [{ ...allowAll, Condition: { NotIpAddress: { 'aws:SourceIp': '10.0.0.0/33' } } }], /^policy_statement\[0\]\.Condition\.NotIpAddress\["aws:SourceIp"\]: "10.0.0.0\/33" is not an IPv4 or IPv6 address or CIDR/],
    ['condition value a number', [{ ...allowAll, Condition: { StringEquals: { 'vpcep:SourceVpc': 42 } } }], /^policy_statement\[0\]\.Condition\.StringEquals\["vpcep:SourceVpc"\]: must be a string or an array of strings, got number 42/],
    ['empty operator block', [{ ...allowAll, Condition: { IpAddress: {} } }], /^policy_statement\[0\]\.Condition\.IpAddress: must name at least one condition key/],
    ['empty Condition', [{ ...allowAll, Condition: {} }], /^policy_statement\[0\]\.Condition: must name at least one operator/],
    ['alias and key together', [{ ...allowAll, Condition: { IpAddress: { 'vpcep:SourceIp': '10.0.0.0/8', 'aws:VpcSourceIp': '11.0.0.0/8' } } }],
      /^policy_statement\[0\]\.Condition\.IpAddress\["aws:VpcSourceIp"\]: "aws:VpcSourceIp" repeats "vpcep:SourceIp"/],
    ['null statement', [null], /^policy_statement\[0\]: must be an object, got null/],
  ];

  it('has at least 15 distinct cases', () => {
    expect(new Set(cases.map((c) => c[0])).size).toBeGreaterThanOrEqual(15);
  });

  it.each(cases)('refuses %s', (_name, input, message) => {
    const r = refusal(input);
    expect(r.code).toBe('EndPoint.2048');
    expect(r.message).toMatch(message);
  });

  it('answers 400 with the error table\'s code', () => {
    try {
      validatePolicy('nope');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(DomainError);
      expect(huaweiError(err as DomainError).status).toBe(400);
      expect((err as DomainError).name).toBe('InvalidPolicy');
    }
  });
});

describe('what covers everything', () => {
  it('Action: *, <service>:*, <service>:*:*', () => {
    for (const a of ['*', 'obs:*', 'obs:*:*', 's3:*']) expect(actionCoversEverything([a]), a).toBe(true);
    for (const a of ['s3:GetObject', 'obs:object:*', 's3:Get*', 'obs:*:GetObject']) expect(actionCoversEverything([a]), a).toBe(false);
    expect(actionCoversEverything(['s3:GetObject', 's3:*'])).toBe(true);
  });

  it('Resource: * or ending with :*', () => {
    for (const r of ['*', 'obs:*:*:object:*', 'arn:aws:s3:::*']) expect(resourceCoversEverything([r]), r).toBe(true);
    for (const r of ['arn:aws:s3:::bucket/*', 'obs:*:*:bucket:mybucket']) expect(resourceCoversEverything([r]), r).toBe(false);
  });

  it('of an endpoint\'s service: another service\'s actions and resources cover nothing of it, and a statement naming only those applies to none of its connections', () => {
    expect(actionCoversEverything(['dynamodb:*'], 's3')).toBe(false);
    expect(actionCoversEverything(['S3:*'], 's3')).toBe(true);
    expect(resourceCoversEverything(['arn:aws:dynamodb:us-east-1:111111111111:*'], 's3')).toBe(false);
    expect(resourceCoversEverything(['arn:aws:s3:::*'], 's3')).toBe(true);
    const [denyDynamo] = validatePolicy([{ Effect: 'Deny', Principal: '*', Action: 'dynamodb:*', Resource: '*' }]);
    expect([statementAppliesTo(denyDynamo!, 's3'), statementAppliesTo(denyDynamo!, 'dynamodb'), statementAppliesTo(denyDynamo!)]).toEqual([false, true, true]);
    const [denyArn] = validatePolicy([{ Effect: 'Deny', Action: '*', Resource: 'arn:aws:dynamodb:us-east-1:111111111111:*' }]);
    expect(statementAppliesTo(denyArn!, 's3')).toBe(false);
    // an allow-all and a Deny of another service: every connection through the S3 endpoint allowed, in both evaluators
    for (const deny of [denyDynamo!, denyArn!]) {
      const p = [validatePolicy([allowAll])[0]!, deny];
      expect(evaluatePolicy(p, req('10.0.1.5'), 's3')).toMatchObject({ allowed: true, decidedBy: 0 });
      expect(policyVerdict(compilePolicy(p, 's3'), { sourceIp: ipToInt('10.0.1.5'), sourceVpc: 'vpc-a', principalAccount: 'd1' })).toEqual({ allowed: true, decidedBy: 0 });
      // through a DynamoDB endpoint it is every connection's refusal
      expect(evaluatePolicy(p, req('10.0.1.5'), 'dynamodb')).toMatchObject({ allowed: false, decidedBy: 1 });
      expect(policyVerdict(compilePolicy(p, 'dynamodb'), { sourceIp: ipToInt('10.0.1.5'), sourceVpc: 'vpc-a', principalAccount: 'd1' })).toEqual({ allowed: false, decidedBy: 1 });
    }
    // an Allow of another service's actions only: implicit deny, saying why
    const other = evaluatePolicy(validatePolicy([{ Effect: 'Allow', Action: 'dynamodb:*', Resource: '*' }]), req('10.0.1.5'), 's3');
    expect(other).toMatchObject({ allowed: false, decidedBy: null });
    expect(other.reason).toMatch(/names no s3 action or resource/);
  });
});

describe('evaluatePolicy', () => {
  it('the default policy allows every connection', () => {
    const d = evaluatePolicy(DEFAULT_POLICY, req('10.0.1.5'));
    expect(d).toEqual({ allowed: true, decidedBy: 0, reason: 'statement 0 (Allow) matches every connection' });
    expect(evaluatePolicy(validatePolicy([{ Effect: 'Allow', Action: ['obs:*:*'], Resource: ['obs:*:*:object:*'] }]), req('172.16.0.9', 'vpc-z', 'dz')).allowed).toBe(true);
  });

  it('an explicit Deny on a source CIDR wins over an Allow *, whatever the order', () => {
    const deny = { Effect: 'Deny', Action: '*', Resource: '*', Condition: { IpAddress: { 'vpcep:SourceIp': '10.0.1.0/24' } } };
    const p = validatePolicy([allowAll, deny]);
    expect(evaluatePolicy(p, req('10.0.1.5'))).toEqual({ allowed: false, decidedBy: 1, reason: 'statement 1 (Deny) matches: source 10.0.1.5 in 10.0.1.0/24' });
    expect(evaluatePolicy(p, req('10.0.2.5'))).toMatchObject({ allowed: true, decidedBy: 0 });
    const q = validatePolicy([deny, allowAll]);
    expect(evaluatePolicy(q, req('10.0.1.200'))).toMatchObject({ allowed: false, decidedBy: 0 });
  });

  it('an Allow limited to a source VPC allows that VPC and implicitly denies another', () => {
    const p = validatePolicy([{ ...allowAll, Condition: { StringEquals: { 'aws:SourceVpc': 'vpc-a' } } }]);
    expect(evaluatePolicy(p, req('10.0.0.1', 'vpc-a'))).toEqual({ allowed: true, decidedBy: 0, reason: 'statement 0 (Allow) matches: source VPC vpc-a in vpc-a' });
    const d = evaluatePolicy(p, req('10.0.0.1', 'vpc-b'));
    expect(d.allowed).toBe(false);
    expect(d.decidedBy).toBeNull();
    expect(d.reason).toMatch(/^implicit deny: no Allow statement matches/);
    expect(d.reason).toContain('source VPC vpc-b not in vpc-a');
  });

  it('an IPv6 CIDR is taken, as IAM takes it, and matches no client (every one is IPv4)', () => {
    const p = validatePolicy([{ ...allowAll, Condition: { IpAddress: { 'aws:VpcSourceIp': ['10.0.1.0/24', '2001:DB8::/32', '2001:db8::1'] } } }]);
    expect(p[0]!.Condition!.IpAddress!['vpcep:SourceIp']).toEqual(['10.0.1.0/24', '2001:db8::/32', '2001:db8::1/128']);
    expect(evaluatePolicy(p, req('10.0.1.5')).allowed).toBe(true);
    expect(evaluatePolicy(p, req('10.0.2.5')).allowed).toBe(false);
    const only6 = validatePolicy([{ ...allowAll, Condition: { NotIpAddress: { 'vpcep:SourceIp': '2001:db8::/32' } } }]);
    expect(evaluatePolicy(only6, req('10.0.2.5')).allowed).toBe(true);
    expect(policyVerdict(compilePolicy(only6), req('10.0.2.5')).allowed).toBe(true);
  });

  it('NotIpAddress', () => {
    const p = validatePolicy([{ ...allowAll, Condition: { NotIpAddress: { 'vpcep:SourceIp': ['192.168.0.0/16', '10.9.9.9'] } } }]);
    expect(evaluatePolicy(p, req('10.0.0.1'))).toEqual({
      allowed: true, decidedBy: 0, reason: 'statement 0 (Allow) matches: source 10.0.0.1 not in [192.168.0.0/16, 10.9.9.9/32]',
    });
    expect(evaluatePolicy(p, req('192.168.3.4'))).toMatchObject({ allowed: false, decidedBy: null });
    expect(evaluatePolicy(p, req('10.9.9.9'))).toMatchObject({ allowed: false, decidedBy: null });
    const deny = validatePolicy([allowAll, { Effect: 'Deny', Action: '*', Resource: '*', Condition: { NotIpAddress: { 'aws:VpcSourceIp': '10.0.0.0/8' } } }]);
    expect(evaluatePolicy(deny, req('10.200.0.1')).allowed).toBe(true);
    expect(evaluatePolicy(deny, req('172.16.0.1'))).toEqual({ allowed: false, decidedBy: 1, reason: 'statement 1 (Deny) matches: source 172.16.0.1 not in 10.0.0.0/8' });
  });

  it('a Principal ID list matches the client VPC\'s account; "*" in the list matches any', () => {
    const p = validatePolicy([{ ...allowAll, Principal: { ID: ['d1', 'd2'] } }]);
    expect(evaluatePolicy(p, req('10.0.0.1', 'vpc-a', 'd2'))).toEqual({ allowed: true, decidedBy: 0, reason: 'statement 0 (Allow) matches: account d2 in Principal [d1, d2]' });
    const d = evaluatePolicy(p, req('10.0.0.1', 'vpc-a', 'd3'));
    expect(d).toMatchObject({ allowed: false, decidedBy: null });
    expect(d.reason).toContain('account d3 not in Principal [d1, d2]');
    const any = validatePolicy([{ ...allowAll, Principal: { ID: ['d1', '*'] } }]);
    expect(evaluatePolicy(any, req('10.0.0.1', 'vpc-a', 'd9')).allowed).toBe(true);
    const denyD3 = validatePolicy([allowAll, { Sid: 'NoD3', Effect: 'Deny', Principal: { ID: 'd3' }, Action: '*', Resource: '*' }]);
    expect(evaluatePolicy(denyD3, req('10.0.0.1', 'vpc-a', 'd3'))).toEqual({ allowed: false, decidedBy: 1, reason: 'statement 1 "NoD3" (Deny) matches: account d3 in Principal d3' });
  });

  it('StringNotEquals on vpcep:PrincipalAccount', () => {
    const p = validatePolicy([
      allowAll,
      { Effect: 'Deny', Action: 'obs:*', Resource: '*', Condition: { StringNotEquals: { 'vpcep:PrincipalAccount': ['d1', 'd2'] } } },
    ]);
    expect(evaluatePolicy(p, req('10.0.0.1', 'vpc-a', 'd1'))).toMatchObject({ allowed: true, decidedBy: 0 });
    expect(evaluatePolicy(p, req('10.0.0.1', 'vpc-a', 'd7'))).toEqual({ allowed: false, decidedBy: 1, reason: 'statement 1 (Deny) matches: account d7 not in [d1, d2]' });
  });

  it('every condition must match (AND across operators and keys, OR across values)', () => {
    const p = validatePolicy([{
      ...allowAll,
      Condition: { IpAddress: { 'vpcep:SourceIp': ['10.0.0.0/24', '10.0.5.0/24'] }, StringEquals: { 'vpcep:SourceVpc': ['vpc-a', 'vpc-b'] } },
    }]);
    expect(evaluatePolicy(p, req('10.0.5.1', 'vpc-b')).allowed).toBe(true);
    expect(evaluatePolicy(p, req('10.0.6.1', 'vpc-b')).allowed).toBe(false);
    expect(evaluatePolicy(p, req('10.0.5.1', 'vpc-c')).allowed).toBe(false);
  });

  it('a narrow-action Deny is not enforced per connection, and the reason says so', () => {
    const p = validatePolicy([allowAll, { Effect: 'Deny', Action: ['s3:DeleteObject'], Resource: '*', Condition: { IpAddress: { 'vpcep:SourceIp': '10.0.1.0/24' } } }]);
    const d = evaluatePolicy(p, req('10.0.1.5'));
    expect(d.allowed).toBe(true);
    expect(d.decidedBy).toBe(0);
    expect(d.reason).toContain('statement 1 (Deny) also matches but is not enforced per connection');
    expect(evaluatePolicy(p, req('10.0.2.5')).reason).toBe('statement 0 (Allow) matches every connection');
    const narrowResource = validatePolicy([allowAll, { Effect: 'Deny', Action: '*', Resource: 'arn:aws:s3:::secret/*' }]);
    expect(evaluatePolicy(narrowResource, req('10.0.1.5')).reason).toContain('not enforced per connection');
  });

  it('a narrow-action Allow allows the connection', () => {
    const p = validatePolicy([{ Effect: 'Allow', Action: ['s3:GetObject'], Resource: ['arn:aws:s3:::example-bucket/*'] }]);
    const d = evaluatePolicy(p, req('10.0.0.1'));
    expect(d).toMatchObject({ allowed: true, decidedBy: 0 });
    expect(d.reason).toContain('narrower than everything');
  });

  it('decidedBy is the index of the deciding statement: the first matching Allow, or a matching Deny', () => {
    const p = validatePolicy([
      { ...allowAll, Condition: { StringEquals: { 'vpcep:SourceVpc': 'vpc-x' } } },
      { Effect: 'Deny', Action: '*', Resource: '*', Condition: { StringEquals: { 'vpcep:SourceVpc': 'vpc-bad' } } },
      { ...allowAll, Condition: { IpAddress: { 'vpcep:SourceIp': '10.0.0.0/8' } } },
      allowAll,
    ]);
    expect(evaluatePolicy(p, req('10.1.1.1', 'vpc-a')).decidedBy).toBe(2);
    expect(evaluatePolicy(p, req('11.1.1.1', 'vpc-a')).decidedBy).toBe(3);
    expect(evaluatePolicy(p, req('10.1.1.1', 'vpc-x')).decidedBy).toBe(0);
    expect(evaluatePolicy(p, req('10.1.1.1', 'vpc-bad'))).toMatchObject({ allowed: false, decidedBy: 1 });
  });

  it('a policy of Deny statements only denies implicitly', () => {
    const p = validatePolicy([{ Effect: 'Deny', Action: '*', Resource: '*', Condition: { StringEquals: { 'vpcep:SourceVpc': 'vpc-x' } } }]);
    expect(evaluatePolicy(p, req('10.0.0.1'))).toEqual({ allowed: false, decidedBy: null, reason: 'implicit deny: the policy has no Allow statement' });
  });
});

describe('fidelity with AWS endpoint policies (issue 10 item 16)', () => {
  it('aws:SourceIp through an endpoint never matches: an IpAddress on it matches no connection, a NotIpAddress every one (the key is absent, as in AWS)', () => {
    const allow = validatePolicy([{ ...allowAll, Condition: { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } } }]);
    expect(allow[0]!.Condition).toEqual({ IpAddress: { 'aws:SourceIp': ['10.0.0.0/8'] } });
    const d = evaluatePolicy(allow, req('10.0.1.5'));
    expect(d.allowed).toBe(false);
    expect(d.reason).toContain('IpAddress aws:SourceIp: aws:SourceIp is absent through an endpoint');
    const denyOutside = validatePolicy([allowAll, { Effect: 'Deny', Action: '*', Resource: '*', Condition: { NotIpAddress: { 'aws:SourceIp': '10.0.0.0/8' } } }]);
    expect(evaluatePolicy(denyOutside, req('10.0.1.5'))).toMatchObject({ allowed: false, decidedBy: 1 });
  });

  it('aws:VpcSourceIp is the private source address: the alias of vpcep:SourceIp', () => {
    const p = validatePolicy([{ ...allowAll, Condition: { IpAddress: { 'aws:VpcSourceIp': '10.0.1.0/24' } } }]);
    expect(p[0]!.Condition).toEqual({ IpAddress: { 'vpcep:SourceIp': ['10.0.1.0/24'] } });
    expect(evaluatePolicy(p, req('10.0.1.5')).allowed).toBe(true);
    expect(evaluatePolicy(p, req('10.0.2.5')).allowed).toBe(false);
  });

  it('{"AWS": ...} principals (a 12-digit account id, arn:aws:iam::<id>:root, "*", a list) are accepted as the account domain ids', () => {
    const o = { requirePrincipal: false, domainOfAwsAccount: (id: string) => ({ 111111111111: 'd1', 222222222222: 'd2', 333333333333: 'd3' } as Record<string, string>)[id] };
    const p = validateWith([{ ...allowAll, Principal: { AWS: ['111111111111', 'arn:aws:iam::222222222222:root', '111111111111'] } }], o);
    expect(p[0]!.Principal).toEqual({ ID: ['d1', 'd2'] });
    expect(evaluatePolicy(p, req('10.0.0.1', 'vpc-a', 'd2')).allowed).toBe(true);
    expect(evaluatePolicy(p, req('10.0.0.1', 'vpc-a', 'd3')).allowed).toBe(false);
    expect(validateWith([{ ...allowAll, Principal: { AWS: 'arn:aws:iam::333333333333:root', ID: 'd4' } }], o)[0]!.Principal).toEqual({ ID: ['d4', 'd3'] });
    expect(evaluatePolicy(validatePolicy([{ ...allowAll, Principal: { AWS: '*' } }]), req('10.0.0.1', 'vpc-a', 'd9')).allowed).toBe(true);
  });

  it('an account named by its AWS id (an AWS principal, an aws:PrincipalAccount value) is stored as its domain id; vpcep:PrincipalAccount and ID are domain ids as given', () => {
    const o = { requirePrincipal: false, domainOfAwsAccount: (id: string) => (id === '222222222222' ? 'd2' : undefined) };
    const p = validateWith([{ ...allowAll, Principal: { AWS: ['arn:aws:iam::222222222222:root', '333333333333'], ID: '222222222222' } }], o);
    expect(p[0]!.Principal).toEqual({ ID: ['222222222222', 'd2', '333333333333'] });
    const c = validateWith([{ ...allowAll, Condition: { StringEquals: { 'aws:PrincipalAccount': ['222222222222', '444444444444'] }, StringNotEquals: { 'vpcep:PrincipalAccount': '222222222222' } } }], o);
    expect(c[0]!.Condition).toEqual({ StringEquals: { 'vpcep:PrincipalAccount': ['d2', '444444444444'] }, StringNotEquals: { 'vpcep:PrincipalAccount': ['222222222222'] } });
    expect(evaluatePolicy(c, req('10.0.0.1', 'vpc-a', 'd2')).allowed).toBe(true);
    // an aws:PrincipalAccount value that is not an AWS account id is refused, as under Principal.AWS (a domain id there matched its account)
    for (const value of ['d2', 'abcdef', '12345678901', '*']) {
      expect(() => validateWith([{ ...allowAll, Condition: { StringEquals: { 'aws:PrincipalAccount': ['222222222222', value] } } }], o), value)
        .toThrow(/Condition\.StringEquals\["aws:PrincipalAccount"\]\[1\]: .* is not an AWS account id \(12 digits; a domain id goes under vpcep:PrincipalAccount\)/);
    }
  });

  it('a Principal is required only when the dialect says so: absent means everyone (Huawei), refused (AWS)', () => {
    expect(evaluatePolicy(validateWith([allowAll], { requirePrincipal: false }), req('10.0.0.1')).allowed).toBe(true);
    expect(refusal([allowAll], true)).toEqual({ code: 'EndPoint.2048', message: expect.stringMatching(/^policy_statement\[0\]: missing Principal/) });
    expect(validateWith([{ ...allowAll, Principal: '*' }], { requirePrincipal: true })).toHaveLength(1);
  });
});

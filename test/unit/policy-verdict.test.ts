// The data path's policy verdict (policyVerdict on a policy compiled once per change) and the path
// tracer's worded decision (evaluatePolicy) cannot disagree: one table of policies and clients,
// covering every way a policy decides, run through both. src/model/policy.ts.
import { describe, expect, it } from 'vitest';
import { compilePolicy, evaluatePolicy, policyVerdict, validatePolicy, type PolicyRequest } from '../../src/model/policy.js';
import { ipToInt } from '../../src/net/cidr.js';

const v = (input: unknown) => validatePolicy(input, { requirePrincipal: false });
const all = { Action: '*', Resource: '*' };
const narrow = { Action: 'obs:object:GetObject', Resource: 'obs:*:*:object:bucket/*' };

const POLICIES: Record<string, ReturnType<typeof v>> = {
  allowAll: v([{ Effect: 'Allow', ...all }]),
  allowSubnet: v([{ Effect: 'Allow', ...all, Condition: { IpAddress: { 'vpcep:SourceIp': ['10.0.1.0/24', '10.0.3.7'] } } }]),
  denyThenAllow: v([{ Effect: 'Deny', ...all, Condition: { NotIpAddress: { 'vpcep:SourceIp': '10.0.0.0/16' } } }, { Effect: 'Allow', ...all }]),
  narrowDeny: v([{ Effect: 'Allow', ...all }, { Effect: 'Deny', ...narrow }]),
  narrowAllow: v([{ Effect: 'Allow', ...narrow, Condition: { StringEquals: { 'vpcep:SourceVpc': 'vpc-a' } } }]),
  principals: v([{ Effect: 'Allow', ...all, Principal: { ID: ['d1', 'd2'] } }, { Sid: 'NoD2', Effect: 'Deny', ...all, Principal: { ID: ['d2'] }, Condition: { StringNotEquals: { 'vpcep:SourceVpc': 'vpc-a' } } }]),
  anyPrincipal: v([{ Effect: 'Allow', ...all, Principal: { ID: ['d1', '*'] } }]),
  accounts: v([{ Effect: 'Allow', ...all, Condition: { StringEquals: { 'vpcep:PrincipalAccount': ['d1'] }, IpAddress: { 'vpcep:SourceIp': '10.0.0.0/8' } } }]),
  awsSourceIp: v([{ Effect: 'Allow', ...all, Condition: { IpAddress: { 'aws:SourceIp': '0.0.0.0/0' } } }, { Effect: 'Allow', ...all, Condition: { NotIpAddress: { 'aws:SourceIp': '10.0.0.0/8' } } }]),
  onlyDeny: v([{ Effect: 'Deny', ...all, Condition: { IpAddress: { 'vpcep:SourceIp': '10.0.9.0/24' } } }]),
  secondAllow: v([{ Effect: 'Allow', ...all, Condition: { StringEquals: { 'vpcep:SourceVpc': 'vpc-x' } } }, { Effect: 'Allow', ...all, Condition: { StringNotEquals: { 'vpcep:SourceVpc': 'vpc-bad' } } }]),
};

const REQUESTS: PolicyRequest[] = [
  ['10.0.1.5', 'vpc-a', 'd1'], ['10.0.3.7', 'vpc-a', 'd2'], ['10.0.2.9', 'vpc-b', 'd2'], ['172.16.0.1', 'vpc-x', 'd3'],
  ['10.0.9.1', 'vpc-bad', 'd1'], ['192.168.1.1', 'vpc-a', 'd1'],
].map(([ip, vpc, account]) => ({ sourceIp: ipToInt(ip!), sourceVpc: vpc!, principalAccount: account! }));

describe('policyVerdict (the data path) agrees with evaluatePolicy (the tracer)', () => {
  it('on every policy and client of the table, covering allow, enforced deny, ignored narrow deny and implicit deny', () => {
    const seen = new Set<string>();
    for (const [name, policy] of Object.entries(POLICIES)) {
      const compiled = compilePolicy(policy);
      for (const r of REQUESTS) {
        const worded = evaluatePolicy(policy, r);
        const verdict = policyVerdict(compiled, r);
        expect({ policy: name, request: r, ...verdict }).toEqual({ policy: name, request: r, allowed: worded.allowed, decidedBy: worded.decidedBy });
        seen.add(worded.decidedBy === null ? 'implicit deny' : worded.allowed ? 'allow' : 'deny');
        if (worded.reason.includes('not enforced per connection')) seen.add('ignored deny');
        if (worded.reason.includes('leaves per-request checks')) seen.add('narrow allow');
      }
    }
    expect([...seen].sort()).toEqual(['allow', 'deny', 'ignored deny', 'implicit deny', 'narrow allow']);
  });

  it('builds nothing per connection: the verdicts are made once, when the policy is compiled', () => {
    const compiled = compilePolicy(POLICIES.denyThenAllow!);
    const inside = { sourceIp: ipToInt('10.0.1.5'), sourceVpc: 'vpc-a', principalAccount: 'd1' };
    const outside = { ...inside, sourceIp: ipToInt('172.16.0.1') };
    expect(policyVerdict(compiled, inside)).toBe(policyVerdict(compiled, { ...inside, sourceIp: ipToInt('10.0.2.2') }));
    expect(policyVerdict(compiled, outside)).toEqual({ allowed: false, decidedBy: 0 });
    expect(policyVerdict(compilePolicy(POLICIES.onlyDeny!), inside)).toBe(policyVerdict(compilePolicy(POLICIES.allowSubnet!), outside));
  });
});

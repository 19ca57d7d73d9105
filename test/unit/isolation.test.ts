// The VPC isolation rule (src/model/isolation.ts) and the path tracer's decision on an interface
// endpoint (decideInterfaceEndpoint), with no sockets.
import { describe, expect, it } from 'vitest';
import { describeIsolation, isolationRefusal } from '../../src/model/isolation.js';
import { decideInterfaceEndpoint, type InterfaceTraceInput } from '../../src/model/routing.js';
import { cidrOf, ipToInt } from '../../src/net/cidr.js';

describe('isolation rule', () => {
  it('same VPC: allowed; another VPC: vpc; outside every VPC: allowed, or on_premises when denied', () => {
    expect(isolationRefusal('vpc-a', 'vpc-a', 'deny')).toBeNull();
    expect(isolationRefusal('vpc-b', 'vpc-a', 'allow')).toBe('vpc');
    expect(isolationRefusal(null, 'vpc-a', 'allow')).toBeNull();
    expect(isolationRefusal(null, 'vpc-a', 'deny')).toBe('on_premises');
    expect(isolationRefusal(3, 2, 'allow')).toBe('vpc');
  });

  it('says which rule decided, naming another account\'s VPC only as the caller may see it', () => {
    expect(describeIsolation('vpc-b', 'vpc-a', 'allow', 'of another account')).toEqual({
      allowed: false, rule: 'isolation: client VPC vpc-b is not the endpoint\'s VPC of another account',
    });
    expect(describeIsolation(null, 'vpc-a', 'deny')).toEqual({
      allowed: false, rule: 'isolation: an on-premises client (outside every VPC) is refused (dataplane.on_premises: deny)',
    });
  });
});

describe('decideInterfaceEndpoint: the data plane\'s order', () => {
  const input = (o: Partial<InterfaceTraceInput> = {}): InterfaceTraceInput => ({
    vpcId: 'vpc-a', sourceIp: ipToInt('10.0.1.50'), destinationIp: ipToInt('10.0.1.2'), destinationPort: 80,
    endpoint: { id: 'ep-1', status: 'accepted', cap: 3000, active: 0, snatIp: '198.19.128.1' },
    isolation: { allowed: true, rule: 'isolation: client VPC vpc-a is the endpoint\'s VPC' },
    service: { id: 'svc', name: 'sim-1.web', target: '127.0.0.1:8080' },
    whitelist: null,
    ...o,
  });

  it('relays when every rule passes', () => {
    expect(decideInterfaceEndpoint(input())).toMatchObject({
      target_type: 'interface_endpoint', verdict: 'relay', reason: 'relayed through interface endpoint ep-1', cap: { headroom: 3000 },
    });
  });

  it('isolation first, then status, the port, the cap, the whitelist', () => {
    const refused = { allowed: false, rule: 'isolation: client VPC vpc-b is not the endpoint\'s VPC vpc-a' };
    expect(decideInterfaceEndpoint(input({ isolation: refused, endpoint: { id: 'ep-1', status: 'rejected', cap: 1, active: 1, snatIp: null } })).reason).toBe(refused.rule);
    expect(decideInterfaceEndpoint(input({ endpoint: { id: 'ep-1', status: 'pendingAcceptance', cap: 1, active: 1, snatIp: null } })).reason).toBe('endpoint ep-1 is pendingAcceptance');
    expect(decideInterfaceEndpoint(input({ service: null })).reason).toBe('no port 80 on the endpoint');
    expect(decideInterfaceEndpoint(input({ endpoint: { id: 'ep-1', status: 'accepted', cap: 2, active: 2, snatIp: null } })).reason).toBe('the endpoint holds its cap of 2 connections');
    expect(decideInterfaceEndpoint(input({ whitelist: [cidrOf('10.0.2.0/24')] })).reason).toBe('whitelist: 10.0.1.50 is not in the endpoint\'s whitelist');
    expect(decideInterfaceEndpoint(input({ whitelist: [cidrOf('10.0.1.0/24')] })).verdict).toBe('relay');
  });

  it('an on-premises client is never in a whitelist (its entries are addresses of the endpoint\'s VPC)', () => {
    const d = decideInterfaceEndpoint(input({ vpcId: null, whitelist: [cidrOf('10.0.1.0/24')] }));
    expect(d).toMatchObject({ vpc_id: null, verdict: 'refuse' });
  });
});

// The VPC isolation rule (src/model/isolation.ts) and the path tracer's decision on an interface
// endpoint (decideInterfaceEndpoint, by the data plane's admit()), with no sockets.
import { describe, expect, it } from 'vitest';
import { describeIsolation, isolationRefusal } from '../../src/model/isolation.js';
import type { AclGateRule, DaemonLoad, EndpointGate } from '../../src/model/admission.js';
import type { LiveAdmission } from '../../src/model/events.js';
import { decideInterfaceEndpoint, type InterfaceTraceInput } from '../../src/model/interface-trace.js';
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

describe('decideInterfaceEndpoint: the data plane\'s order, by its admit()', () => {
  const gate = (o: Partial<EndpointGate> = {}): EndpointGate => ({
    active: 0, cap: 3000, whitelistEnabled: false, whitelist: [], vpcNumber: 2, vpcBase: ipToInt('10.0.0.0'), securityRules: null, ...o,
  });
  const load: DaemonLoad = { active: 0, maxConnections: 100, fdBudget: 1000, listeners: 1, onPremises: 'allow' };
  const live = (g: Partial<EndpointGate> = {}, l: Partial<DaemonLoad> = {}): LiveAdmission => ({
    gate: gate(g), networkAclAt: () => null, load: { ...load, ...l }, ports: [80], snatPortsFree: 64_512, snatMode: 'kernel',
  });
  const input = (o: Partial<InterfaceTraceInput> = {}): InterfaceTraceInput => ({
    vpcId: 'vpc-a', vpcNumber: 2, sourceIp: ipToInt('10.0.1.50'), clientHost: '127.2.1.50', destinationIp: ipToInt('10.0.1.2'), destinationPort: 80, sourcePort: null,
    endpoint: {
      id: 'ep-1', status: 'accepted', hostIp: '127.2.1.2', snatIp: '198.19.128.1', error: null, cap: 3000, whitelistEnabled: false, whitelist: [],
      eni: { zone: 'sim-1a', ip: '10.0.1.2', hostIp: '127.2.1.2', zoneUp: true },
    },
    service: { id: 'svc', name: 'sim-1.web', status: 'available', tcpProxy: 'close' },
    backend: { host: '127.0.0.1', port: 8080 },
    backendsShown: true,
    isolation: { allowed: true, rule: 'isolation: client VPC vpc-a is the endpoint\'s VPC' },
    live: live(),
    ...o,
  });

  it('relays when every rule passes, with the headroom of the cap, the daemon and the descriptors', () => {
    expect(decideInterfaceEndpoint(input())).toMatchObject({
      target_type: 'interface_endpoint', verdict: 'relay', outcome: 'relay', refusal: null, reason: 'relayed through interface endpoint ep-1',
      cap: { headroom: 3000 }, daemon: { headroom: 100, fd_in_use: 1, fd_headroom_connections: 499 },
      listener: { address: '127.2.1.2:80', bound: true, why: null }, whitelist: { enabled: false, matched: null },
      source: { snat_ip: '198.19.128.1', snat_mode: 'kernel', proxy_v2: false },
    });
  });

  it('the network ACL step names the inbound rule and the outbound rule deciding for the source port given, else for the ephemeral ports (all of them, or the first)', () => {
    const rule = (cidr: string, from: number, to: number, allow: boolean): AclGateRule => ({ cidr: cidrOf(cidr), from, to, allow });
    const withAcl = (outbound: AclGateRule[]): LiveAdmission => ({ ...live(), networkAclAt: () => ({ inbound: [rule('10.0.0.0/16', 80, 80, true)], outbound }) });
    const ephemeral = [rule('10.0.1.0/24', 1024, 65535, true)];
    expect(decideInterfaceEndpoint(input({ live: withAcl(ephemeral) }))).toMatchObject({
      verdict: 'relay',
      network_acl: {
        matched: 'allow tcp 80 from 10.0.0.0/16', egress_rules: ['allow tcp 1024-65535 to 10.0.1.0/24'], egress_matched: 'allow tcp 1024-65535 to 10.0.1.0/24', source_port: 32768,
        rule: 'inbound rule allow tcp 80 from 10.0.0.0/16 of the subnet\'s network ACL decides for 10.0.1.50 to port 80; '
          + 'outbound rule allow tcp 1024-65535 to 10.0.1.0/24 decides for the answers to 10.0.1.50 at its ephemeral ports 32768-60999 (no source_port given)',
      },
    });
    expect(decideInterfaceEndpoint(input({ live: withAcl(ephemeral), sourcePort: 1000 }))).toMatchObject({
      verdict: 'refuse', refusal: 'network_acl', network_acl: { egress_matched: null, source_port: 1000 },
      reason: expect.stringContaining('no outbound rule holds the answers to 10.0.1.50 port 1000: the * rule denies'),
    });
    // a deny of part of the ephemeral ports: the first decides, the step says others may not
    const split = [rule('0.0.0.0/0', 40000, 40100, false), ...ephemeral];
    expect(decideInterfaceEndpoint(input({ live: withAcl(split) })).network_acl!.rule).toContain('port 32768 (no source_port given: the first ephemeral port; other rules decide for others of 32768-60999, give source_port)');
    expect(decideInterfaceEndpoint(input({ live: withAcl(split), sourcePort: 40050 }))).toMatchObject({ refusal: 'network_acl', network_acl: { egress_matched: 'deny tcp 40000-40100 to 0.0.0.0/0' } });
    // a rule of another address decides nothing for this client
    expect(decideInterfaceEndpoint(input({ live: withAcl([rule('10.0.2.0/24', 0, 65535, false), ...ephemeral]) })).network_acl!.rule).toContain('at its ephemeral ports 32768-60999');
    expect(decideInterfaceEndpoint(input({ live: withAcl([]) })).network_acl!.rule).toContain('no outbound rule holds the answers to 10.0.1.50 at its ephemeral ports 32768-60999 (no source_port given): the * rule denies');
  });

  it('an ENI whose zone is down refuses zone_down before admit(), naming the ENI and its zone', () => {
    const down = { ...input().endpoint, eni: { zone: 'sim-1b', ip: '10.0.2.9', hostIp: '127.2.2.9', zoneUp: false } };
    expect(decideInterfaceEndpoint(input({ endpoint: down, live: live({ active: 3000 }) }))).toMatchObject({
      verdict: 'refuse', outcome: 'reset', refusal: 'zone_down', eni: { zone: 'sim-1b', host_ip: '127.2.2.9', zone_up: false },
      listener: { address: '127.2.2.9:80' }, reason: expect.stringContaining('zone sim-1b'),
    });
    expect(decideInterfaceEndpoint(input())).toMatchObject({ refusal: null, eni: { zone: 'sim-1a', ip: '10.0.1.2', zone_up: true } });
  });

  it('nothing listening comes first (the kernel refuses), then admit(): isolation, the daemon limit, descriptors, the cap, the whitelist; then SNAT ports', () => {
    const refused = { allowed: false, rule: 'isolation: client VPC vpc-b is not the endpoint\'s VPC vpc-a' };
    const pending = decideInterfaceEndpoint(input({ isolation: refused, vpcNumber: 3, clientHost: '127.3.1.50', live: null, endpoint: { ...input().endpoint, status: 'pendingAcceptance' } }));
    expect(pending).toMatchObject({ outcome: 'connection_refused', refusal: 'not_accepted', listener: { bound: false, why: 'endpoint ep-1 is pendingAcceptance' } });
    expect(decideInterfaceEndpoint(input({ destinationPort: 81, backend: null })).listener).toMatchObject({ bound: false, why: 'no port 81 on the endpoint\'s service' });
    expect(decideInterfaceEndpoint(input({ isolation: refused, vpcNumber: 3, clientHost: '127.3.1.50', live: live({ active: 3000 }) }))).toMatchObject({ refusal: 'vpc', reason: refused.rule });
    expect(decideInterfaceEndpoint(input({ live: live({ active: 3000 }, { active: 100 }) })).refusal).toBe('daemon_limit');
    expect(decideInterfaceEndpoint(input({ live: live({ active: 3000 }, { active: 99, listeners: 803 }) })).refusal).toBe('fd_limit');
    expect(decideInterfaceEndpoint(input({ live: live({ active: 3000, whitelistEnabled: true }) }))).toMatchObject({ refusal: 'cap', reason: 'the endpoint holds its cap of 3000 connections' });
    expect(decideInterfaceEndpoint(input({ live: live({ whitelistEnabled: true, whitelist: [cidrOf('10.0.2.0/24')] }) }))).toMatchObject({
      refusal: 'whitelist', outcome: 'reset', reason: 'whitelist: 10.0.1.50 is not in the endpoint\'s whitelist',
    });
    expect(decideInterfaceEndpoint(input({ live: live({ whitelistEnabled: true, whitelist: [cidrOf('10.0.2.0/24'), cidrOf('10.0.1.0/24')] }) }))).toMatchObject({
      verdict: 'relay', whitelist: { matched: '10.0.1.0/24' },
    });
    expect(decideInterfaceEndpoint(input({ live: { ...live(), snatPortsFree: 0 } })).refusal).toBe('snat_exhausted');
  });

  it('the source the backend sees: the SNAT address or the daemon\'s own, and whether a PROXY v2 header carries the client', () => {
    const proxied = decideInterfaceEndpoint(input({ service: { id: 'svc', name: 'sim-1.web', status: 'available', tcpProxy: 'proxy_open' } }));
    expect(proxied.source).toEqual({
      snat_ip: '198.19.128.1', snat_mode: 'kernel', proxy_v2: true,
      seen_as: '198.19.128.1 (the endpoint\'s SNAT address, one source port per connection); the PROXY v2 header carries the client 10.0.1.50',
    });
    const logical = decideInterfaceEndpoint(input({ live: { ...live(), snatMode: 'logical' } }));
    expect(logical.source).toMatchObject({ snat_mode: 'logical', proxy_v2: false });
    expect(logical.source!.seen_as).toMatch(/^the daemon's own address \(SNAT mode logical/);
  });

  it('backend_source in logical SNAT mode names the daemon\'s own address, as source does, not the SNAT address nothing binds', () => {
    expect(decideInterfaceEndpoint(input()).backend_source).toBe('198.19.128.1 (the endpoint\'s SNAT address)');
    const logical = decideInterfaceEndpoint(input({ live: { ...live(), snatMode: 'logical' } }));
    expect(logical.backend_source).toBe('the daemon\'s own address (SNAT mode logical)');
  });

  it('an on-premises client is never in a whitelist (its entries are addresses of the endpoint\'s VPC)', () => {
    const d = decideInterfaceEndpoint(input({ vpcId: null, vpcNumber: null, clientHost: '192.0.2.10', live: live({ whitelistEnabled: true, whitelist: [cidrOf('0.0.0.0/0')] }) }));
    expect(d).toMatchObject({ vpc_id: null, verdict: 'refuse', refusal: 'whitelist' });
  });

  it('a consumer of another account\'s service sees the service and the port it connects to, never the provider\'s backend', () => {
    // 000_9af245a83013c30f.txt 1.2: an endpoint reaches its service "without exposing server information"
    const chosen = { host: '192.168.24.7', port: 8443, zone: 'sim-1b', reason: 'failover' as const, why: 'a backend in sim-1b: the ENI\'s zone sim-1a has no eligible backend' };
    const provider = decideInterfaceEndpoint(input({ backend: chosen }));
    expect(provider).toMatchObject({ service: { target: '192.168.24.7:8443' }, backend: { target: '192.168.24.7:8443', zone: 'sim-1b', reason: 'failover' } });
    const consumer = decideInterfaceEndpoint(input({ backend: chosen, backendsShown: false }));
    expect(consumer).toMatchObject({ verdict: 'relay', service: { id: 'svc', name: 'sim-1.web', target: 'sim-1.web:80', status: 'available' } });
    expect(consumer.backend).toEqual({ target: 'sim-1.web:80', chosen_by: expect.stringMatching(/^a backend of service sim-1\.web/) });
    for (const hidden of ['192.168.24.7', '8443', 'sim-1b', 'failover']) expect(JSON.stringify(consumer)).not.toContain(hidden);
    // no backend to take the flow: the consumer learns that much, as its connect does (a reset)
    const none = decideInterfaceEndpoint(input({ backend: { host: '192.168.24.7', port: 8443, none: true, why: 'no backend: the last ones are draining (the connection is reset)' }, backendsShown: false }));
    expect(none.backend).toEqual({ target: 'sim-1.web:80', chosen_by: 'no backend of service sim-1.web can take the connection: it is reset' });
    expect(JSON.stringify(none)).not.toContain('192.168.24.7');
  });
});

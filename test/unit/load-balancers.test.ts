// Network load balancers in the domain, without sockets: where each target is reached (an IP inside
// the VPC at its host address, one outside as it is, an instance at its VM port), which listener
// relays to which target, and the refusals by name that keep the state unchanged.
import { describe, expect, it } from 'vitest';
import { ControlPlane } from '../../src/control/control-plane.js';
import { applyInventory } from '../../src/control/inventory.js';
import { loadBalancerBackends } from '../../src/control/lb-backends.js';
import * as elb from '../../src/control/load-balancers.js';
import { createService } from '../../src/control/services.js';
import { ControlState } from '../../src/control/state.js';
import { validateConfig } from '../../src/model/config.js';
import type { DomainError } from '../../src/model/errors.js';
import type { Change } from '../../src/store/store.js';
import { memoryStore, twoAccountConfig } from '../helpers.js';
import { snapshotOf } from './snapshot.js';

function world() {
  const inv = applyInventory(validateConfig(twoAccountConfig(), 'c.yaml'), snapshotOf([]), { defaultToken: 'default-token-0123', source: 'c.yaml', now: '2026-01-01T00:00:00.000Z' });
  const commits: Change[][] = [];
  const store = memoryStore((c) => { commits.push([...c]); });
  const dataPlane = { apply: async () => ({ ok: true as const }), endpointConnections: () => 0, admissionOf: () => null, daemonLoad: () => ({ active: 0, maxConnections: 1, fdBudget: 100, listeners: 0, onPremises: 'allow' as const }), publicListening: () => false };
  const o = { region: 'sim-1', store, dataPlane, inventory: inv, services: [], endpoints: [], log: { info: () => undefined, warn: () => undefined, error: () => undefined } };
  const control = new ControlPlane(o);
  const provider = control.accountByName('provider')!;
  const consumer = control.accountByName('consumer')!;
  return { control, provider, consumer, commits, inv, o };
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as DomainError).name;
  }
  throw new Error('not refused');
}

describe('network load balancers (domain)', () => {
  it('resolves each target: an IP inside the VPC to its host address, one outside as it is, an instance to its VM port', async () => {
    const { o, provider } = world();
    const st = new ControlState(o);
    const lb = await elb.createLoadBalancer(st, provider, { name: 'nlb', type: 'network', scheme: 'internal', subnets: ['subnet-app'], dnsSuffix: 'elb.test' });
    const inside = await elb.createTargetGroup(st, provider, { name: 'inside', protocol: 'TCP', port: 8080, vpcId: 'vpc-app', targetType: 'ip' });
    const outside = await elb.createTargetGroup(st, provider, { name: 'outside', protocol: 'TCP', port: 9000, vpcId: 'vpc-app', targetType: 'ip' });
    const vm = await elb.createTargetGroup(st, provider, { name: 'vm', protocol: 'TCP', port: 7000, vpcId: 'vpc-app', targetType: 'instance' });
    await elb.registerTargets(st, provider, inside.id, [{ id: '192.168.24.50' }, { id: '192.168.24.51', port: 8081 }]);
    await elb.registerTargets(st, provider, outside.id, [{ id: '127.0.0.1', port: 9001, zone: 'all' }]);
    await elb.registerTargets(st, provider, vm.id, [{ id: 'port-web' }]);
    await elb.modifyTargetGroupAttributes(st, provider, outside.id, [{ key: 'proxy_protocol_v2.enabled', value: 'true' }]);
    for (const [port, tg] of [[80, inside], [81, outside], [82, vm]] as const) {
      await elb.createListener(st, provider, { loadBalancerId: lb.id, protocol: 'TCP', port, targetGroupId: tg.id });
    }
    const s = await createService(st, provider, { vpcId: '', portId: '', serverType: 'LB', loadBalancers: [lb.id], ports: [], approvalRequired: false });
    expect(s.ports.map((p) => [p.client_port, p.server_port])).toEqual([[80, 8080], [81, 9001], [82, 7000]]);
    expect([s.port_id, s.vpc_id, s.tcp_proxy]).toEqual([null, 'vpc-app', 'proxy_open']);
    const vpcNumber = st.vpcs.get('vpc-app')!.number;
    // every registered target, in its zone (an IP outside the VPC: no zone), with the target group's settings
    const summary = (b: ReturnType<typeof loadBalancerBackends>[number]) => ({
      client_port: b.client_port, proxy_v2: b.proxy_v2, cross_zone: b.cross_zone, drain_ms: b.drain_ms,
      targets: b.targets!.map((t) => `${t.key}@${t.zone}`),
    });
    // drain_ms -1: a deregistered target's connections flow on (deregistration_delay.connection_termination.enabled false, AWS's default)
    expect(loadBalancerBackends(st, st.services.get(s.id)!).map(summary)).toEqual([
      { client_port: 80, proxy_v2: false, cross_zone: false, drain_ms: -1, targets: [`127.${vpcNumber}.24.50:8080@sim-1a`, `127.${vpcNumber}.24.51:8081@sim-1a`] },
      { client_port: 81, proxy_v2: true, cross_zone: false, drain_ms: -1, targets: ['127.0.0.1:9001@null'] },
      // port-web's configured real address, in its subnet's zone
      { client_port: 82, proxy_v2: false, cross_zone: false, drain_ms: -1, targets: ['127.0.0.1:7000@sim-1a'] },
    ]);
    expect(loadBalancerBackends(st, st.services.get(s.id)!)[0]!.health).toEqual({ interval_s: 30, timeout_s: 10, healthy_threshold: 5, unhealthy_threshold: 2 });
    await elb.deregisterTargets(st, provider, inside.id, [{ id: '192.168.24.50' }]);
    expect(summary(loadBalancerBackends(st, st.services.get(s.id)!)[0]!).targets).toEqual([`127.${vpcNumber}.24.51:8081@sim-1a`]);
    expect(st.services.get(s.id)!.ports[0]).toEqual({ client_port: 80, server_port: 8081, protocol: 'TCP' });
    // the IP of a port declared with a real backend (port-web: 192.168.24.246 -> 127.0.0.1) reaches that backend
    await elb.registerTargets(st, provider, outside.id, [{ id: '192.168.24.246' }]);
    await elb.deregisterTargets(st, provider, outside.id, [{ id: '127.0.0.1', port: 9001 }]);
    expect(summary(loadBalancerBackends(st, st.services.get(s.id)!)[1]!).targets).toEqual(['127.0.0.1:9000@sim-1a']);
    // cross-zone load balancing: the load balancer's attribute, unless the target group says otherwise
    await elb.modifyLoadBalancerAttributes(st, provider, lb.id, [{ key: 'load_balancing.cross_zone.enabled', value: 'true' }]);
    expect(loadBalancerBackends(st, st.services.get(s.id)!).map((b) => b.cross_zone)).toEqual([true, true, true]);
    await elb.modifyTargetGroupAttributes(st, provider, vm.id, [{ key: 'load_balancing.cross_zone.enabled', value: 'false' }]);
    expect(loadBalancerBackends(st, st.services.get(s.id)!).map((b) => b.cross_zone)).toEqual([true, true, false]);
  });

  it('refuses by name and changes nothing: other types, duplicates, bad targets, what is in use, another account\'s', async () => {
    const { control, provider, consumer, commits } = world();
    const lb = await control.createLoadBalancer(provider, { name: 'nlb', type: 'network', scheme: 'internal', subnets: ['subnet-app'], dnsSuffix: 'elb.test' });
    const tg = await control.createTargetGroup(provider, { name: 'tg', protocol: 'TCP', port: 8080, vpcId: 'vpc-app', targetType: 'ip' });
    const tg2 = await control.createTargetGroup(provider, { name: 'tg2', protocol: 'TCP', port: 8080, vpcId: 'vpc-app', targetType: 'ip' });
    await control.createListener(provider, { loadBalancerId: lb.id, protocol: 'TCP', port: 80, targetGroupId: tg.id });
    await control.createService(provider, { vpcId: '', portId: '', serverType: 'LB', loadBalancers: [lb.id], ports: [] });
    await control.settle(); // the service's creating -> available
    const before = commits.length;
    expect(await refusal(control.createLoadBalancer(provider, { name: 'alb', type: 'application', scheme: 'internal', subnets: ['subnet-app'], dnsSuffix: 'x' }))).toBe('Unsupported');
    expect(await refusal(control.createLoadBalancer(provider, { name: 'nlb', type: 'network', scheme: 'internet-facing', subnets: ['subnet-app'], dnsSuffix: 'x' }))).toBe('DuplicateLoadBalancerName');
    expect(await refusal(control.createLoadBalancer(provider, { name: 'two', type: 'network', scheme: 'internal', subnets: ['subnet-app', 'subnet-pc'], dnsSuffix: 'x' }))).toBe('InvalidSubnetId');
    expect(await refusal(control.createLoadBalancer(consumer, { name: 'theirs', type: 'network', scheme: 'internal', subnets: ['subnet-app'], dnsSuffix: 'x' }))).toBe('SubnetNotFound');
    expect(await refusal(control.createTargetGroup(provider, { name: 'tg', protocol: 'TCP', port: 1, vpcId: 'vpc-app', targetType: 'ip' }))).toBe('DuplicateTargetGroupName');
    expect(await refusal(control.createTargetGroup(provider, { name: 'udp', protocol: 'UDP', port: 1, vpcId: 'vpc-app', targetType: 'ip' }))).toBe('Unsupported');
    expect(await refusal(control.createTargetGroup(provider, { name: 'lambda', protocol: 'TCP', port: 1, vpcId: 'vpc-app', targetType: 'lambda' }))).toBe('Unsupported');
    expect(await refusal(control.registerTargets(provider, tg.id, [{ id: 'port-web' }]))).toBe('InvalidTarget');
    expect(await refusal(control.createListener(provider, { loadBalancerId: lb.id, protocol: 'TCP', port: 80, targetGroupId: tg2.id }))).toBe('DuplicateListener');
    expect(await refusal(control.createListener(provider, { loadBalancerId: lb.id, protocol: 'TLS', port: 443, targetGroupId: tg.id }))).toBe('Unsupported');
    expect(await refusal(control.deleteTargetGroup(provider, tg.id))).toBe('DependencyViolation');
    expect(await refusal(control.deleteLoadBalancer(provider, lb.id))).toBe('DependencyViolation');
    expect(await refusal(control.createService(provider, { vpcId: '', portId: '', serverType: 'LB', loadBalancers: [lb.id], ports: [] }))).toBe('DependencyViolation');
    expect(await refusal(control.deleteLoadBalancer(consumer, lb.id))).toBe('LoadBalancerNotFound');
    expect(await refusal(control.registerTargets(consumer, tg.id, [{ id: '127.0.0.1' }]))).toBe('TargetGroupNotFound');
    expect(await refusal(control.modifyTargetGroupAttributes(provider, tg.id, [{ key: 'proxy_protocol_v2.enabled', value: 'yes' }]))).toBe('InvalidParameter');
    expect(commits.length).toBe(before);
    expect(control.listLoadBalancers(consumer)).toEqual([]);
    expect(control.listTargetGroups(consumer)).toEqual([]);
  });

  it('ELBv2\'s creates are idempotent: the same settings answer the resource made, unchanged, without a commit; other settings are the Duplicate refusals', async () => {
    const { control, provider, commits } = world();
    const lbCmd = { name: 'nlb', type: 'network', scheme: 'internal', subnets: ['subnet-app'], dnsSuffix: 'elb.test', ipAddressType: 'dualstack' };
    const lb = await control.createLoadBalancer(provider, lbCmd);
    // the timeout AWS derives from a short interval, set or left out, is the same setting
    const tgCmd = { name: 'tg', protocol: 'TCP', port: 8080, vpcId: 'vpc-app', targetType: 'ip', healthCheck: { interval_seconds: 6 } };
    const tg = await control.createTargetGroup(provider, tgCmd);
    const tg2 = await control.createTargetGroup(provider, { ...tgCmd, name: 'tg2' });
    const lsCmd = { loadBalancerId: lb.id, protocol: 'TCP', port: 80, targetGroupId: tg.id };
    const { listener } = await control.createListener(provider, lsCmd);
    const before = commits.length;
    expect((await control.createLoadBalancer(provider, { ...lbCmd, tags: [{ key: 'not', value: 'compared' }] })).id).toBe(lb.id);
    expect((await control.createTargetGroup(provider, { ...tgCmd, healthCheck: { interval_seconds: 6, timeout_seconds: 5, protocol: 'TCP' } })).id).toBe(tg.id);
    expect((await control.createListener(provider, lsCmd)).listener.id).toBe(listener.id);
    expect(commits.length).toBe(before);
    expect(control.listLoadBalancers(provider).map((x) => [x.id, x.tags])).toEqual([[lb.id, []]]);
    expect(await refusal(control.createLoadBalancer(provider, { ...lbCmd, ipAddressType: undefined }))).toBe('DuplicateLoadBalancerName');
    expect(await refusal(control.createTargetGroup(provider, { ...tgCmd, healthCheck: { interval_seconds: 7 } }))).toBe('DuplicateTargetGroupName');
    expect(await refusal(control.createTargetGroup(provider, { ...tgCmd, targetType: 'instance' }))).toBe('DuplicateTargetGroupName');
    expect(await refusal(control.createListener(provider, { ...lsCmd, targetGroupId: tg2.id }))).toBe('DuplicateListener');
    expect(await refusal(control.createLoadBalancer(provider, { ...lbCmd, name: 'v6', ipAddressType: 'ipv6' }))).toBe('InvalidParameter');
    expect(commits.length).toBe(before);
  });

  it('an attribute key named like an object\'s own property (constructor, __proto__, toString) is unknown, said so', async () => {
    const { control, provider, commits } = world();
    const lb = await control.createLoadBalancer(provider, { name: 'nlb', type: 'network', scheme: 'internal', subnets: ['subnet-app'], dnsSuffix: 'elb.test' });
    const tg = await control.createTargetGroup(provider, { name: 'tg', protocol: 'TCP', port: 8080, vpcId: 'vpc-app', targetType: 'ip' });
    const before = commits.length;
    for (const key of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      for (const p of [control.modifyLoadBalancerAttributes(provider, lb.id, [{ key, value: '5' }]), control.modifyTargetGroupAttributes(provider, tg.id, [{ key, value: '5' }])]) {
        const err = await p.then(() => null, (e: DomainError) => e);
        expect(err?.name).toBe('InvalidParameter');
        // it said "must be an integer from undefined to undefined"
        expect(err?.message).toContain(`attribute key ${key} is not recognized`);
      }
    }
    expect(commits.length).toBe(before);
  });
});

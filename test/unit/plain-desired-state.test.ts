// What the control plane hands the data plane (a LiveEndpoint per interface endpoint, the
// RoutingView of route tables, public services and gateway endpoints) is plain data: no Map, class
// instance or function, so that a fleet node could receive it from the store. Every event the
// control plane sends while a load-balanced service, an interface endpoint with a whitelist and a
// security group, and a gateway endpoint with a policy are made survives structuredClone and a JSON
// round trip unchanged, and a view indexed from the copy decides as one indexed from the original.
import { describe, expect, it } from 'vitest';
import { ControlPlane } from '../../src/control/control-plane.js';
import type { ControlState } from '../../src/control/state.js';
import { applyInventory } from '../../src/control/inventory.js';
import { defaultSecurityGroupId } from '../../src/api/aws/ec2-network.js';
import { validateConfig } from '../../src/model/config.js';
import type { LiveEndpoint } from '../../src/model/events.js';
import { decide, indexRouting, type RoutingView } from '../../src/model/routing.js';
import { ipToInt } from '../../src/net/cidr.js';
import { memoryStore, recordingDataPlane, twoAccountConfig } from '../helpers.js';
import { snapshotOf } from './snapshot.js';

/** the paths in VALUE of anything that is not a plain object, an array or a primitive */
function notPlain(value: unknown, path = '$', out: string[] = []): string[] {
  if (value === null || ['string', 'number', 'boolean', 'undefined'].includes(typeof value)) return out;
  if (typeof value !== 'object') {
    out.push(`${path}: ${typeof value}`);
    return out;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== Array.prototype && proto !== null) {
    out.push(`${path}: ${proto?.constructor?.name ?? 'unknown'}`);
    return out;
  }
  for (const [k, v] of Object.entries(value)) notPlain(v, `${path}.${k}`, out);
  return out;
}

async function world() {
  const c = validateConfig(twoAccountConfig({
    vpcs: [
      ...(twoAccountConfig().vpcs as object[]).filter((v) => (v as { id: string }).id !== 'vpc-client'),
      {
        id: 'vpc-client', account: 'consumer', cidr: '10.0.0.0/16',
        subnets: [{ id: 'subnet-a', cidr: '10.0.1.0/24' }, { id: 'subnet-b', cidr: '10.0.2.0/29' }],
        route_tables: [{ id: 'rtb-main', default: true }, { id: 'rtb-a', subnets: ['subnet-a'] }],
      },
    ],
    public_services: [{ name: 'obs', service_type: 'gateway', prefix_list: { id: 'pl-obs', cidrs: ['100.125.0.0/24'] }, ports: [{ port: 443, target: '127.0.0.1:9443' }] }],
  }), 'c.yaml');
  const inv = applyInventory(c, snapshotOf([]), { defaultToken: 'default-token-0123', source: 'c.yaml', now: '2026-01-01T00:00:00.000Z' });
  const store = memoryStore();
  const dataPlane = recordingDataPlane();
  const events = dataPlane.events;
  const control = new ControlPlane({
    region: 'sim-1', zones: c.zones, store, dataPlane, inventory: inv, services: inv.publicServices, endpoints: [],
    log: { info: () => undefined, warn: () => undefined, error: () => undefined },
  });
  return { control, events, provider: control.accountByName('provider')!, consumer: control.accountByName('consumer')! };
}

describe('the data plane\'s desired state is plain data', () => {
  it('every LiveEndpoint and RoutingView sent survives structuredClone and JSON unchanged, and decides the same', async () => {
    const { control, events, provider, consumer } = await world();
    // a load-balanced service: several targets, health checks, PROXY v2, drain times
    const lb = await control.createLoadBalancer(provider, { name: 'nlb', type: 'network', scheme: 'internal', subnets: ['subnet-app'], dnsSuffix: 'elb.test' });
    const tg = await control.createTargetGroup(provider, { name: 'tg', protocol: 'TCP', port: 8080, vpcId: 'vpc-app', targetType: 'ip' });
    await control.registerTargets(provider, tg.id, [{ id: '192.168.24.50' }, { id: '192.168.24.51', port: 8081 }]);
    await control.modifyTargetGroupAttributes(provider, tg.id, [{ key: 'proxy_protocol_v2.enabled', value: 'true' }]);
    await control.createListener(provider, { loadBalancerId: lb.id, protocol: 'TCP', port: 80, targetGroupId: tg.id });
    const svc = await control.createService(provider, { vpcId: '', portId: '', serverType: 'LB', loadBalancers: [lb.id], ports: [], approvalRequired: false });
    await control.settle();
    await control.changePermissions(provider, svc.id, 'add', [{ permission: '*' }]);
    const sg = await control.createSecurityGroup(consumer, { id: 'sg-0123456789abcdef0', vpcId: 'vpc-client', name: 'web', description: 'web' });
    await control.changeSecurityGroupRules(consumer, sg.id, 'ingress', 'authorize', [{ protocol: 'tcp', fromPort: 80, toPort: 80, cidr: '10.0.1.0/24' }]);
    await control.createEndpoint(consumer, {
      serviceId: svc.id, vpcId: 'vpc-client', subnetId: 'subnet-a', whitelist: ['10.0.1.0/24'], whitelistEnabled: true, securityGroups: [sg.id],
    }, { requirePrincipal: false });
    const obs = control.publicServices().find((s) => s.service_type === 'gateway')!;
    await control.createEndpoint(consumer, {
      serviceId: obs.id, vpcId: 'vpc-client', routeTables: ['rtb-a'],
      policy: [{ Effect: 'Allow', Action: ['*'], Resource: ['*'], Condition: { IpAddress: { 'vpcep:SourceIp': ['10.0.1.0/25'] } } }],
    }, { requirePrincipal: false });
    await control.settle();

    const live = events.flatMap((e) => (e.kind === 'endpoint' && e.live !== null ? [e.live] : [])) as LiveEndpoint[];
    const views = events.flatMap((e) => (e.kind === 'routing' ? [e.view] : [])) as RoutingView[];
    // what the test covers: a load-balanced endpoint's targets, health and PROXY v2, and a view with a policy
    const lbLive = live.filter((l) => l.service_id === svc.id).at(-1)!;
    expect(lbLive.backends[0]!.targets!.length).toBe(2);
    expect(lbLive.backends[0]!.health).toBeTruthy();
    expect(lbLive.backends[0]!.proxy_v2).toBe(true);
    expect(lbLive.whitelist).toEqual(['10.0.1.0/24']);
    expect(lbLive.security_rules?.length).toBeGreaterThan(0);
    const last = views.at(-1)!;
    expect(last.endpoints.some((e) => e.policy !== null)).toBe(true);
    expect(last.services[0]!.targets).toEqual([{ port: 443, host: '127.0.0.1', hostPort: 9443 }]);

    for (const x of [...live, ...views]) {
      expect(notPlain(x)).toEqual([]);
      expect(structuredClone(x)).toEqual(x);
      expect(JSON.parse(JSON.stringify(x))).toEqual(x);
    }
    // a node that received the view over the wire decides as the one that made it
    const wire = JSON.parse(JSON.stringify(last)) as RoutingView;
    for (const src of ['10.0.1.5', '10.0.1.200', '10.0.2.3']) {
      const input = { vpcId: 'vpc-client', sourceIp: ipToInt(src), destinationIp: ipToInt('100.125.0.9'), destinationPort: 443 };
      const a = decide(indexRouting(last), input, () => 0);
      const b = decide(indexRouting(wire), input, () => 0);
      expect([b.target, b.refusal, b.endpoint?.id ?? null, b.policy]).toEqual([a.target, a.refusal, a.endpoint?.id ?? null, a.policy]);
    }
    // and the three clients are decided three ways: allowed by the policy, refused by it, routed to the igw or nowhere
    const refusals = ['10.0.1.5', '10.0.1.200'].map((src) => decide(indexRouting(wire), { vpcId: 'vpc-client', sourceIp: ipToInt(src), destinationIp: ipToInt('100.125.0.9'), destinationPort: 443 }, () => 0).refusal);
    expect(refusals).toEqual([null, 'policy']);
  });
});

describe('security groups in the desired state', () => {
  // a config VPC's default group is virtual and admits everything: with another group it added
  // nothing, so adding a group to an endpoint took access away
  it('a config VPC\'s virtual default group among an endpoint\'s groups: not enforced (their union admits everything); the other group alone: its rules', async () => {
    const { control, events, provider, consumer } = await world();
    const svc = await control.createService(provider, { vpcId: 'vpc-app', portId: 'port-web', serverType: 'VM', ports: [{ clientPort: 80, serverPort: 8080 }], approvalRequired: false });
    await control.settle();
    await control.changePermissions(provider, svc.id, 'add', [{ permission: '*' }]);
    const sg = await control.createSecurityGroup(consumer, { id: 'sg-0123456789abcdef1', vpcId: 'vpc-client', name: 'narrow', description: 'narrow' });
    await control.changeSecurityGroupRules(consumer, sg.id, 'ingress', 'authorize', [{ protocol: 'tcp', fromPort: 80, toPort: 80, cidr: '10.0.1.0/25' }]);
    const rulesOf = async (groups: string[]) => {
      const e = await control.createEndpoint(consumer, { serviceId: svc.id, vpcId: 'vpc-client', subnetId: 'subnet-a', securityGroups: groups, defaultGroup: defaultSecurityGroupId('vpc-client') }, { requirePrincipal: false });
      await control.settle();
      const live = events.flatMap((x) => (x.kind === 'endpoint' && x.id === e.id && x.live !== null ? [x.live as LiveEndpoint] : [])).at(-1)!;
      await control.deleteEndpoint(consumer, e.id);
      await control.settle();
      return live.security_rules;
    };
    expect(await rulesOf([defaultSecurityGroupId('vpc-client'), sg.id])).toBeNull();
    expect(await rulesOf([sg.id])).toEqual([{ cidr: '10.0.1.0/25', from_port: 80, to_port: 80 }]);
  });

  it('a group gone from an endpoint of a VPC made through the API (deleted through another node of a fleet at once) admits nothing: the other groups\' rules, or none (before: not enforced, everything admitted)', async () => {
    const { control, events, provider, consumer } = await world();
    const st = (control as unknown as { st: ControlState }).st;
    const svc = await control.createService(provider, { vpcId: 'vpc-app', portId: 'port-web', serverType: 'VM', ports: [{ clientPort: 80, serverPort: 8080 }], approvalRequired: false });
    await control.settle();
    await control.changePermissions(provider, svc.id, 'add', [{ permission: '*' }]);
    const vpc = await control.createVpc(consumer, { id: 'vpc-0123456789abcdef0', mainRouteTableId: 'rtb-0123456789abcdef0', defaultSecurityGroupId: 'sg-0123456789abcdef9', cidr: '10.60.0.0/16' });
    await control.createSubnet(consumer, { id: 'subnet-0123456789abcdef0', vpcId: vpc.id, cidr: '10.60.1.0/24' });
    const kept = await control.createSecurityGroup(consumer, { id: 'sg-0123456789abcdef2', vpcId: vpc.id, name: 'kept', description: 'kept' });
    await control.changeSecurityGroupRules(consumer, kept.id, 'ingress', 'authorize', [{ protocol: 'tcp', fromPort: 80, toPort: 80, cidr: '10.60.1.0/25' }]);
    const gone = await control.createSecurityGroup(consumer, { id: 'sg-0123456789abcdef3', vpcId: vpc.id, name: 'gone', description: 'gone' });
    const endpoint = (groups: string[]) => control.createEndpoint(consumer, { serviceId: svc.id, vpcId: vpc.id, subnetId: 'subnet-0123456789abcdef0', securityGroups: groups }, { requirePrincipal: false });
    const [both, alone] = [await endpoint([kept.id, gone.id]), await endpoint([gone.id])];
    await control.settle();
    // the group gone from this node's memory with the endpoints still naming it, as the race left it
    st.securityGroups.delete(gone.id);
    const rulesOf = async (id: string) => {
      await control.updateEndpoint(consumer, id, { whitelist: [] });
      await control.settle();
      return events.flatMap((x) => (x.kind === 'endpoint' && x.id === id && x.live !== null ? [x.live as LiveEndpoint] : [])).at(-1)!.security_rules;
    };
    expect(await rulesOf(both.id)).toEqual([{ cidr: '10.60.1.0/25', from_port: 80, to_port: 80 }]);
    expect(await rulesOf(alone.id)).toEqual([]);
  });
});

// The zone rules without sockets: zone names of a region, AWS's rendering, which zones a service
// is in (an NLB's subnets', a port's subnet's, a public service's every one), the ENIs an endpoint
// may have (one per zone, in the service's zones), and stored documents of before issue 13 (an
// endpoint without `enis` loads as one ENI; an EC2-made subnet's AWS zone name becomes the
// domain's zone).
import { describe, expect, it } from 'vitest';
import { ControlPlane } from '../../src/control/control-plane.js';
import { upgradedEndpoint, legacyEniId, upgradeDocuments } from '../../src/control/documents.js';
import { applyInventory } from '../../src/control/inventory.js';
import * as elb from '../../src/control/load-balancers.js';
import { createService } from '../../src/control/services.js';
import { ControlState } from '../../src/control/state.js';
import { newEnis, serviceZones } from '../../src/control/zones.js';
import { validateConfig } from '../../src/model/config.js';
import type { DomainError } from '../../src/model/errors.js';
import type { Endpoint } from '../../src/model/types.js';
import { defaultZones, zoneInRegion, zoneLetter, zonesProblem } from '../../src/model/zones.js';
import type { Change } from '../../src/store/store.js';
import { memoryStore, twoAccountConfig } from '../helpers.js';
import { snapshotOf } from './snapshot.js';

function world() {
  const config = twoAccountConfig({
    zones: ['sim-1a', 'sim-1b', 'sim-1c', 'sim-1d'],
    vpcs: [
      {
        id: 'vpc-app', account: 'provider', cidr: '192.168.0.0/16',
        subnets: [{ id: 'app-a', cidr: '192.168.1.0/24' }, { id: 'app-b', cidr: '192.168.2.0/24', zone: 'sim-1b' }, { id: 'app-c', cidr: '192.168.3.0/24', zone: 'sim-1c' }],
        ports: [{ id: 'port-web', subnet: 'app-b', ip: '192.168.2.10', type: 'VM', target: '127.0.0.1' }],
      },
      {
        id: 'vpc-client', account: 'consumer', cidr: '10.0.0.0/16',
        subnets: [{ id: 'c-a', cidr: '10.0.1.0/24' }, { id: 'c-b', cidr: '10.0.2.0/24', zone: 'sim-1b' }, { id: 'c-b2', cidr: '10.0.3.0/24', zone: 'sim-1b' }, { id: 'c-d', cidr: '10.0.4.0/24', zone: 'sim-1d' }],
      },
    ],
    public_services: [{ name: 'pub', service_type: 'interface', ports: [{ port: 9999, target: '127.0.0.1:9' }] }],
  });
  const c = validateConfig(config, 'c.yaml');
  const inv = applyInventory(c, snapshotOf([]), { defaultToken: 'default-token-0123', source: 'c.yaml', now: '2026-01-01T00:00:00.000Z' });
  const store = memoryStore();
  const dataPlane = { apply: async () => ({ ok: true as const }), endpointConnections: () => 0, admissionOf: () => null, daemonLoad: () => ({ active: 0, maxConnections: 1, fdBudget: 100, listeners: 0, onPremises: 'allow' as const }), publicListening: () => false };
  const o = { region: 'sim-1', zones: c.zones, store, dataPlane, inventory: inv, services: inv.publicServices, endpoints: [], log: { info: () => undefined, warn: () => undefined, error: () => undefined } };
  const st = new ControlState(o);
  return { st, o, provider: st.accountsByName.get('provider')!, consumer: st.accountsByName.get('consumer')! };
}

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return `${(err as DomainError).name}: ${(err as Error).message}`;
  }
  throw new Error('not refused');
}

describe('zone names', () => {
  it('a region\'s zones are `<region><letter>`, unique, 1 to 26; AWS shows them in its region', () => {
    expect(defaultZones('sim-1')).toEqual(['sim-1a', 'sim-1b', 'sim-1c']);
    expect(zonesProblem('sim-1', ['sim-1a', 'sim-1z'])).toBeNull();
    expect(zonesProblem('sim-1', [])).toMatch(/between 1 and 26/);
    expect(zonesProblem('sim-1', Array.from({ length: 27 }, (_, i) => `sim-1${i}`))).toMatch(/got 27/);
    expect(zonesProblem('sim-1', ['sim-1a', 'sim-1aa'])).toMatch(/"sim-1aa" is not a zone of region sim-1/);
    expect(zonesProblem('sim-1', ['sim-1A'])).toMatch(/one letter a-z/);
    expect(zonesProblem('sim-1', ['sim-1b', 'sim-1b'])).toMatch(/duplicate zone "sim-1b"/);
    expect(zoneLetter('sim-1', 'sim-1c')).toBe('c');
    expect(zoneLetter('sim-1', 'sim-2c')).toBeNull();
    expect(zoneInRegion('sim-1b', 'sim-1', 'us-east-1')).toBe('us-east-1b');
    expect(zoneInRegion('us-east-1b', 'us-east-1', 'us-east-1')).toBe('us-east-1b');
    expect(validateConfig({ region: 'eu-west-1' }, 'c.yaml').zones).toEqual(['eu-west-1a', 'eu-west-1b', 'eu-west-1c']);
  });
});

describe('the zones of a service and the ENIs of an endpoint', () => {
  it('a port-backed service is in its port\'s subnet\'s zone; an NLB-backed one in its subnets\' zones; a public one in every zone', async () => {
    const { st, provider } = world();
    const byPort = await createService(st, provider, { vpcId: 'vpc-app', portId: 'port-web', serverType: 'VM', ports: [{ clientPort: 80, serverPort: 8080 }], approvalRequired: false });
    expect([...serviceZones(st, byPort)]).toEqual(['sim-1b']);
    const lb = await elb.createLoadBalancer(st, provider, { name: 'nlb', type: 'network', scheme: 'internal', subnets: ['app-a', 'app-c'], dnsSuffix: 'elb.test' });
    const tg = await elb.createTargetGroup(st, provider, { name: 'tg', protocol: 'TCP', port: 8080, vpcId: 'vpc-app', targetType: 'ip' });
    await elb.registerTargets(st, provider, tg.id, [{ id: '127.0.0.1', port: 9, zone: 'all' }]);
    await elb.createListener(st, provider, { loadBalancerId: lb.id, protocol: 'TCP', port: 81, targetGroupId: tg.id });
    const byLb = await createService(st, provider, { vpcId: '', portId: '', serverType: 'LB', loadBalancers: [lb.id], ports: [], approvalRequired: false });
    expect([...serviceZones(st, byLb)].sort()).toEqual(['sim-1a', 'sim-1c']);
    const pub = [...st.services.values()].find((s) => s.public)!;
    expect([...serviceZones(st, pub)]).toEqual(['sim-1a', 'sim-1b', 'sim-1c', 'sim-1d']);
  });

  it('one ENI per zone, in zones of the service, each IP free; every refusal names what is wrong', async () => {
    const { st, provider, consumer } = world();
    const pub = [...st.services.values()].find((s) => s.public)!;
    const vpc = st.vpcs.get('vpc-client')!;
    const enis = newEnis(st, pub, vpc, [{ subnetId: 'c-a' }, { subnetId: 'c-b', ip: '10.0.2.9' }], [], consumer.name);
    expect(enis.map((n) => [n.zone, n.subnet_id, n.ip, n.host_ip])).toEqual([
      ['sim-1a', 'c-a', '10.0.1.2', `127.${vpc.number}.1.2`], ['sim-1b', 'c-b', '10.0.2.9', `127.${vpc.number}.2.9`],
    ]);
    expect(new Set(enis.map((n) => n.id)).size).toBe(2);
    expect(refusal(() => newEnis(st, pub, vpc, [{ subnetId: 'c-b' }, { subnetId: 'c-b2' }], [], consumer.name))).toBe('ZoneTaken: subnets c-b and c-b2 are both in zone sim-1b: an endpoint has at most one subnet per zone');
    expect(refusal(() => newEnis(st, pub, vpc, [{ subnetId: 'c-a' }, { subnetId: 'c-a' }], [], consumer.name))).toBe('ZoneTaken: subnet c-a is given twice: an endpoint has one ENI per subnet');
    expect(refusal(() => newEnis(st, pub, vpc, [{ subnetId: 'c-b2' }], enis, consumer.name))).toMatch(/^ZoneTaken: subnets c-b and c-b2 are both in zone sim-1b/);
    expect(refusal(() => newEnis(st, pub, vpc, [{ subnetId: 'nope' }], [], consumer.name))).toBe('SubnetNotFound: subnet nope does not exist');
    const byPort = await createService(st, provider, { vpcId: 'vpc-app', portId: 'port-web', serverType: 'VM', ports: [{ clientPort: 80, serverPort: 8080 }], approvalRequired: false });
    expect(refusal(() => newEnis(st, byPort, vpc, [{ subnetId: 'c-d' }], [], consumer.name))).toBe(`InvalidZone: subnet c-d is in zone sim-1d, where endpoint service ${byPort.id} is not (its zones: sim-1b)`);
  });

  it('creating through the control plane with two subnets of one zone changes nothing', async () => {
    const { o, consumer } = world();
    const control = new ControlPlane(o);
    const pub = control.publicServices()[0]!;
    await expect(control.createEndpoint(consumer, { serviceId: pub.id, vpcId: 'vpc-client', subnets: [{ subnetId: 'c-b' }, { subnetId: 'c-b2' }] }, { requirePrincipal: false }))
      .rejects.toMatchObject({ name: 'ZoneTaken' });
    expect(control.listEndpoints(consumer)).toEqual([]);
    const e = await control.createEndpoint(consumer, { serviceId: pub.id, vpcId: 'vpc-client', subnets: [{ subnetId: 'c-a' }, { subnetId: 'c-d' }] }, { requirePrincipal: false });
    expect(e.enis.map((n) => n.zone)).toEqual(['sim-1a', 'sim-1d']);
    expect(control.serviceZones(pub.id)).toEqual(['sim-1a', 'sim-1b', 'sim-1c', 'sim-1d']);
    await expect(control.setZoneDown('sim-1q', true)).rejects.toMatchObject({ name: 'InvalidZone' });
    expect(await control.setZoneDown('sim-1d', true)).toContainEqual({ zone: 'sim-1d', up: false });
  });
});

describe('documents stored before issue 13', () => {
  const legacy = {
    id: 'ep-old', owner: 'consumer', service_id: 's', service_name: 'n', service_type: 'interface', vpc_id: 'vpc-client',
    subnet_id: 'c-b', ip: '10.0.2.5', host_ip: '127.2.2.5', snat_ip: null, marker_id: 1, status: 'accepted', enable_dns: false,
    whitelist: [], enable_whitelist: false, routetables: [], description: '', tags: [], created_at: 't', updated_at: 't',
  } as unknown as Endpoint;

  it('an endpoint without enis loads as one ENI, its legacy fields\', in its subnet\'s zone, with the id AWS showed for it', () => {
    const { st, o } = world();
    const loaded = upgradedEndpoint(legacy, st.vpcs, st.zones);
    expect(loaded.enis).toEqual([{ id: legacyEniId('ep-old'), zone: 'sim-1b', subnet_id: 'c-b', ip: '10.0.2.5', host_ip: '127.2.2.5' }]);
    expect(legacyEniId('ep-old')).toMatch(/^eni-[0-9a-f]{17}$/);
    expect(upgradedEndpoint({ ...legacy, service_type: 'gateway', subnet_id: null, ip: null, host_ip: null } as Endpoint, st.vpcs, st.zones).enis).toEqual([]);
    // the control plane reads stored endpoints so
    const control = new ControlPlane({ ...o, endpoints: [legacy] });
    expect(control.allEndpoints().next().value!.enis).toEqual(loaded.enis);
  });

  it('a subnet made through the EC2 API keeps the domain\'s zone instead of AWS\'s name', () => {
    const snap = new Map([['apivpc' as const, new Map([['vpc-1', { id: 'vpc-1', subnets: [{ id: 's1', availability_zone: 'us-east-1b' }, { id: 's2' }] }]])]]);
    const out = upgradeDocuments(snap, () => undefined, (aws) => (aws === 'us-east-1b' ? 'sim-1b' : undefined));
    expect((out.get('apivpc')!.get('vpc-1') as { subnets: unknown[] }).subnets).toEqual([{ id: 's1', zone: 'sim-1b' }, { id: 's2' }]);
  });
});

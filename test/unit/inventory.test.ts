import { describe, expect, it } from 'vitest';
import { applyInventory, InventoryError } from '../../src/control/inventory.js';
import { validateConfig } from '../../src/model/config.js';
import { snapshotOf } from './snapshot.js';

const config = (vpcs: unknown[]) => validateConfig({ accounts: [{ name: 'a', token: 'a-secret-token' }], vpcs }, 'c.yaml');
const opts = { defaultToken: '', source: 'c.yaml', now: '2026-01-01T00:00:00.000Z' };

describe('applying the inventory', () => {
  it('generates missing ids once and keeps them, and numbers VPCs in order of first appearance', () => {
    const cfg = config([
      { account: 'a', cidr: '10.0.0.0/16', subnets: [{ cidr: '10.0.1.0/24' }] },
      { account: 'a', cidr: '10.1.0.0/16' },
    ]);
    const first = applyInventory(cfg, snapshotOf([]), opts);
    const snap = snapshotOf(first.changes);
    const second = applyInventory(cfg, snap, opts);
    expect(second.vpcs.map((v) => v.id)).toEqual(first.vpcs.map((v) => v.id));
    expect(second.vpcs[0]!.subnets[0]!.id).toBe(first.vpcs[0]!.subnets[0]!.id);
    expect(second.accounts[0]!.domain_id).toBe(first.accounts[0]!.domain_id);
    expect(first.vpcs.map((v) => v.number)).toEqual([1, 2]);
    // A VPC added in front later keeps the old numbers and takes the next one.
    const third = applyInventory(config([{ id: 'new', account: 'a', cidr: '10.2.0.0/16' }, ...cfg.vpcs.map((v) => ({ account: v.account, cidr: v.cidr, subnets: v.subnets.map((s) => ({ cidr: s.cidr })) }))]), snap, opts);
    expect(third.vpcs.map((v) => v.number)).toEqual([3, 1, 2]);
  });

  it('gives every VPC a default route table with its local route', () => {
    const inv = applyInventory(config([{ id: 'v', account: 'a', cidr: '10.0.0.0/16' }]), snapshotOf([]), opts);
    expect(inv.vpcs[0]!.route_tables).toEqual([expect.objectContaining({ default: true, routes: [{ destination: '10.0.0.0/16', type: 'local', owner: 'system' }] })]);
  });

  it('refuses to remove or re-address a VPC or subnet that an endpoint uses', () => {
    const cfg = config([{ id: 'v', account: 'a', cidr: '10.0.0.0/16', subnets: [{ id: 's', cidr: '10.0.1.0/24' }] }]);
    const snap = snapshotOf([
      ...applyInventory(cfg, snapshotOf([]), opts).changes,
      { kind: 'endpoint', id: 'e1', value: { id: 'e1', owner: 'a', service_id: 'x', vpc_id: 'v', subnet_id: 's', ip: '10.0.1.2' } },
    ]);
    expect(() => applyInventory(config([]), snap, opts)).toThrow(InventoryError);
    expect(() => applyInventory(config([]), snap, opts)).toThrow(/c\.yaml: .*VPC v is used by endpoint e1/s);
    expect(() => applyInventory(config([{ id: 'v', account: 'a', cidr: '10.9.0.0/16', subnets: [{ id: 's', cidr: '10.9.1.0/24' }] }]), snap, opts))
      .toThrow(/its cidr and account cannot change while in use/);
    expect(() => applyInventory(config([{ id: 'v', account: 'a', cidr: '10.0.0.0/16', subnets: [{ id: 's', cidr: '10.0.2.0/24' }] }]), snap, opts))
      .toThrow(/subnet s is used by endpoint e1 at 10\.0\.1\.2/);
    // An unused change is fine.
    expect(() => applyInventory(config([{ id: 'v', account: 'a', cidr: '10.0.0.0/16', subnets: [{ id: 's', cidr: '10.0.1.0/24' }, { id: 's2', cidr: '10.0.2.0/24' }] }]), snap, opts)).not.toThrow();
  });

  it('refuses to remove a route table a gateway endpoint names, or to move it to another VPC (the endpoint routed through it there, another tenant\'s too)', () => {
    const tables = [{ id: 'rtb-main', default: true }, { id: 'rtb-a' }];
    const cfg = config([{ id: 'v', account: 'a', cidr: '10.0.0.0/16', route_tables: tables }]);
    const snap = snapshotOf([
      ...applyInventory(cfg, snapshotOf([]), opts).changes,
      { kind: 'endpoint', id: 'g1', value: { id: 'g1', owner: 'a', service_id: 'x', vpc_id: 'v', service_type: 'gateway', routetables: ['rtb-a'] } },
    ]);
    expect(() => applyInventory(config([{ id: 'v', account: 'a', cidr: '10.0.0.0/16', route_tables: [tables[0]] }]), snap, opts))
      .toThrow(/route table rtb-a of VPC v is used by endpoint g1: it cannot be removed while in use/);
    expect(() => applyInventory(config([{ id: 'v', account: 'a', cidr: '10.0.0.0/16', route_tables: [tables[0]] }, { id: 'w', account: 'a', cidr: '10.9.0.0/16', route_tables: [{ id: 'rtb-a', default: true }] }]), snap, opts))
      .toThrow(/route table rtb-a of VPC v is used by endpoint g1/);
    expect(() => applyInventory(cfg, snap, opts)).not.toThrow();
  });

  it('refuses to remove a route table that holds routes added through the API, to move it to another VPC (they went along: another tenant\'s table held them), or to declare a config route to one\'s destination (it shadowed it, and it could not be deleted)', () => {
    const tables = [{ id: 'rtb-main', default: true }, { id: 'rtb-a' }];
    const cfg = config([{ id: 'v', account: 'a', cidr: '10.0.0.0/16', route_tables: tables }, { id: 'w', account: 'a', cidr: '172.16.0.0/16' }]);
    const snap = snapshotOf([
      ...applyInventory(cfg, snapshotOf([]), opts).changes,
      { kind: 'routetable', id: 'rtb-a', value: { id: 'rtb-a', routes: [{ destination: '172.16.1.0/24', type: 'blackhole', owner: 'user' }] } },
    ]);
    expect(() => applyInventory(cfg, snap, opts)).not.toThrow();
    expect(() => applyInventory(config([{ id: 'v', account: 'a', cidr: '10.0.0.0/16', route_tables: [tables[0]] }, { id: 'w', account: 'a', cidr: '172.16.0.0/16' }]), snap, opts))
      .toThrow(/route table rtb-a holds a route added through the API \(172\.16\.1\.0\/24\): it cannot be removed while it does; delete them through the API first/);
    expect(() => applyInventory(config([{ id: 'v', account: 'a', cidr: '10.0.0.0/16', route_tables: [tables[0]] }, { id: 'w', account: 'a', cidr: '172.16.0.0/16', route_tables: [{ id: 'rtb-w', default: true }, { id: 'rtb-a' }] }]), snap, opts))
      .toThrow(/route table rtb-a of VPC v holds a route added through the API \(172\.16\.1\.0\/24\): it cannot move to VPC w while it does/);
    expect(() => applyInventory(config([{ id: 'v', account: 'a', cidr: '10.0.0.0/16', route_tables: [tables[0], { id: 'rtb-a', routes: [{ destination: '172.16.1.0/24', type: 'igw' }] }] }, { id: 'w', account: 'a', cidr: '172.16.0.0/16' }]), snap, opts))
      .toThrow(/route table rtb-a has a route to 172\.16\.1\.0\/24 added through the API: the config cannot declare another to it/);
    // a VPC whose cidr now holds the route (a stored route table of a VPC the snapshot does not know)
    const inside = snapshotOf([...applyInventory(config([{ id: 'v', account: 'a', cidr: '10.0.0.0/16', route_tables: tables }]), snapshotOf([]), opts).changes.filter((c) => c.kind !== 'vpc'),
      { kind: 'routetable', id: 'rtb-a', value: { id: 'rtb-a', routes: [{ destination: '10.0.1.0/24', type: 'blackhole', owner: 'user' }] } }]);
    expect(() => applyInventory(config([{ id: 'v', account: 'a', cidr: '10.0.0.0/16', route_tables: tables }]), inside, opts))
      .toThrow(/route table rtb-a has a route to 10\.0\.1\.0\/24 added through the API, inside its VPC's 10\.0\.0\.0\/16/);
  });

  it('refuses to remove, re-address or retype a backend port of a service, each of its backends', () => {
    const vpc = (ports: unknown[]) => config([{ id: 'v', account: 'a', cidr: '10.0.0.0/16', subnets: [{ id: 's', cidr: '10.0.1.0/24' }], ports }]);
    const web = { id: 'web', subnet: 's', ip: '10.0.1.10', type: 'VM' };
    const web2 = { id: 'web2', subnet: 's', ip: '10.0.1.11', type: 'VM' };
    const snap = snapshotOf([
      ...applyInventory(vpc([web, web2]), snapshotOf([]), opts).changes,
      { kind: 'service', id: 'svc', value: { id: 'svc', owner: 'a', service_name: 'web', server_type: 'VM', vpc_id: 'v', port_id: 'web', backends: [{ port_id: 'web' }, { port_id: 'web2' }] } },
    ]);
    expect(() => applyInventory(vpc([web]), snap, opts)).toThrow(/port web2 is a backend of endpoint service svc \(web\): it cannot be removed while in use/);
    expect(() => applyInventory(vpc([web, { ...web2, ip: '10.0.1.12' }]), snap, opts)).toThrow(/port web2 is a backend of .*: its ip cannot change while in use/);
    expect(() => applyInventory(vpc([{ ...web, type: 'LB' }, web2]), snap, opts))
      .toThrow(/port web is a backend of endpoint service svc \(web\), server_type VM: its type cannot change to LB while in use/);
    // two backends of a service re-pointed at one real server (the data plane would take them for one backend)
    expect(() => applyInventory(vpc([{ ...web, target: '127.0.0.9' }, { ...web2, target: '127.0.0.9' }]), snap, opts))
      .toThrow(/ports web and web2 are backends of endpoint service svc \(web\): they cannot share the target 127\.0\.0\.9/);
    expect(() => applyInventory(vpc([{ ...web, target: '127.0.0.9' }, { ...web2, target: '127.0.0.8' }]), snap, opts)).not.toThrow();
    // a port no service uses may change
    expect(() => applyInventory(vpc([web, web2, { id: 'spare', subnet: 's', ip: '10.0.1.20', type: 'LB' }]), snap, opts)).not.toThrow();
  });
});

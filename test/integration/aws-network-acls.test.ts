// Network ACLs through the EC2 API (Terraform's aws_network_acl, aws_network_acl_rule,
// aws_network_acl_association, aws_default_network_acl), with @aws-sdk/client-ec2 over real HTTP
// against a real daemon, signatures verified: each VPC's default ACL, ACLs made and deleted, their
// rules created, replaced and deleted, subnets moved between them. Every refusal is AWS's code and
// changes nothing; another account sees none of it; a restart keeps it all. The inbound rules of an
// ENI's subnet's ACL (the client to the port) and its outbound rules (the answers to the client's
// address and source port: ACLs are stateless) admit or refuse real connections through an interface
// endpoint (network_acl, counted and traced), on the relay VPCEP_RELAY picks (scripts/test.mjs runs
// the file on both).
import { execFile } from 'node:child_process';
import path from 'node:path';
import {
  CreateVpcEndpointCommand, DeleteVpcEndpointsCommand,
  CreateNetworkAclCommand, CreateNetworkAclEntryCommand, CreateSubnetCommand, CreateTagsCommand, CreateVpcCommand, DeleteNetworkAclCommand,
  DeleteNetworkAclEntryCommand, DeleteSubnetCommand, DeleteVpcCommand, DescribeNetworkAclsCommand, DescribeTagsCommand, EC2Client,
  ReplaceNetworkAclAssociationCommand, ReplaceNetworkAclEntryCommand, type NetworkAcl,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROVIDER, CONSUMER, ROOT, metricValue, startTestDaemon, tempDir, twoAccountConfig, waitFor, type TestDaemon } from '../helpers.js';
import { AWS_KEYS, attempt, ec2Clients, refused } from './aws-sdk.js';
import { echo, randomPort, startBackend, type TestBackend } from './backends.js';

const PORT = randomPort();
let backend: TestBackend;
/** an interface public service relaying to an echo backend: what an endpoint's connections reach */
const config = () => twoAccountConfig({
  accounts: [{ ...PROVIDER, aws: AWS_KEYS.provider }, { ...CONSUMER, aws: AWS_KEYS.consumer }],
  public_services: [{ name: 'ec2', service_type: 'interface', ports: [{ port: PORT, target: `127.0.0.1:${backend.port}` }] }],
});

const ALL = { Protocol: '-1', CidrBlock: '0.0.0.0/0' };

describe('network ACLs through the EC2 API', () => {
  const dir = tempDir();
  let d: TestDaemon;
  let consumer: EC2Client;
  let provider: EC2Client;

  const start = async () => {
    d = await startTestDaemon(config(), dir);
    ({ consumer, provider } = ec2Clients(d.url, AWS_KEYS));
  };
  const stop = async () => {
    consumer?.destroy();
    provider?.destroy();
    await d?.stop();
  };
  beforeAll(async () => {
    backend = await startBackend(echo);
    await start();
  });
  afterAll(async () => {
    await stop();
    await backend?.close();
  });

  const acls = async (vpc: string): Promise<NetworkAcl[]> =>
    (await consumer.send(new DescribeNetworkAclsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc] }] }))).NetworkAcls!
      .sort((a, b) => Number(b.IsDefault) - Number(a.IsDefault));
  /** `vpcep trace ARGS` as the consumer, its text */
  const vpcepTrace = (args: string[]) => new Promise<string>((resolve, reject) => {
    execFile(process.execPath, [path.join(ROOT, 'bin/vpcep.js'), '--url', d.url, '--token', CONSUMER.token, '--project', CONSUMER.project_id, 'trace', ...args],
      { timeout: 15_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
  });
  const acl = async (id: string): Promise<NetworkAcl> => (await consumer.send(new DescribeNetworkAclsCommand({ NetworkAclIds: [id] }))).NetworkAcls![0]!;
  /** the rules short: [number, egress, protocol, action, cidr, from, to] */
  const rules = (a: NetworkAcl) => a.Entries!.map((e) => [e.RuleNumber, e.Egress, e.Protocol, e.RuleAction, e.CidrBlock, e.PortRange?.From, e.PortRange?.To]);

  it('a VPC\'s default ACL allows all and holds its subnets; an ACL is made, ruled, associated and deleted, with AWS\'s codes for each refusal and nothing changed by one', async () => {
    const vpc = (await consumer.send(new CreateVpcCommand({ CidrBlock: '10.40.0.0/16' }))).Vpc!.VpcId!;
    const other = (await consumer.send(new CreateVpcCommand({ CidrBlock: '10.41.0.0/16' }))).Vpc!.VpcId!;
    const s1 = (await consumer.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.40.1.0/24' }))).Subnet!.SubnetId!;
    const s2 = (await consumer.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.40.2.0/24' }))).Subnet!.SubnetId!;

    const [def] = await acls(vpc);
    expect(def).toMatchObject({ IsDefault: true, VpcId: vpc, OwnerId: AWS_KEYS.consumer.account_id });
    expect(rules(def!)).toEqual([
      [100, true, '-1', 'allow', '0.0.0.0/0', undefined, undefined], [32767, true, '-1', 'deny', '0.0.0.0/0', undefined, undefined],
      [100, false, '-1', 'allow', '0.0.0.0/0', undefined, undefined], [32767, false, '-1', 'deny', '0.0.0.0/0', undefined, undefined],
    ].sort((a, b) => Number(b[1]) - Number(a[1]) || Number(a[0]) - Number(b[0])));
    expect(def!.Associations!.map((a) => a.SubnetId).sort()).toEqual([s1, s2].sort());
    const byDefault = await consumer.send(new DescribeNetworkAclsCommand({ Filters: [{ Name: 'default', Values: ['true'] }, { Name: 'vpc-id', Values: [vpc] }] }));
    expect(byDefault.NetworkAcls!.map((a) => a.NetworkAclId)).toEqual([def!.NetworkAclId]);

    // made: no rules but the catch-all (AWS's new ACL denies everything), tagged as asked
    const made = (await consumer.send(new CreateNetworkAclCommand({ VpcId: vpc, TagSpecifications: [{ ResourceType: 'network-acl', Tags: [{ Key: 'Name', Value: 'edge' }] }] }))).NetworkAcl!;
    const id = made.NetworkAclId!;
    expect(id).toMatch(/^acl-[0-9a-f]{17}$/);
    expect(made).toMatchObject({ IsDefault: false, VpcId: vpc, Associations: [], Tags: [{ Key: 'Name', Value: 'edge' }] });
    expect(rules(made)).toEqual([[32767, true, '-1', 'deny', '0.0.0.0/0', undefined, undefined], [32767, false, '-1', 'deny', '0.0.0.0/0', undefined, undefined]]);
    expect(await refused(consumer.send(new CreateNetworkAclCommand({ VpcId: 'vpc-00000000000000000' })))).toMatchObject({ code: 'InvalidVpcID.NotFound', status: 400 });
    expect(await refused(consumer.send(new CreateNetworkAclCommand({ VpcId: 'vpc-client' })))).toMatchObject({ code: 'UnauthorizedOperation', status: 403 });

    // rules: TCP with ports, ICMP with type and code, all traffic; names and numbers alike
    await consumer.send(new CreateNetworkAclEntryCommand({ NetworkAclId: id, RuleNumber: 100, Egress: false, Protocol: '6', RuleAction: 'allow', CidrBlock: '10.0.0.0/8', PortRange: { From: 443, To: 443 } }));
    await consumer.send(new CreateNetworkAclEntryCommand({ NetworkAclId: id, RuleNumber: 110, Egress: false, Protocol: 'icmp', RuleAction: 'allow', CidrBlock: '0.0.0.0/0', IcmpTypeCode: { Type: 8, Code: -1 } }));
    await consumer.send(new CreateNetworkAclEntryCommand({ NetworkAclId: id, RuleNumber: 100, Egress: true, RuleAction: 'allow', ...ALL }));
    const ruled = await acl(id);
    expect(rules(ruled)).toEqual([
      [100, true, '-1', 'allow', '0.0.0.0/0', undefined, undefined], [32767, true, '-1', 'deny', '0.0.0.0/0', undefined, undefined],
      [100, false, '6', 'allow', '10.0.0.0/8', 443, 443], [110, false, '1', 'allow', '0.0.0.0/0', undefined, undefined], [32767, false, '-1', 'deny', '0.0.0.0/0', undefined, undefined],
    ]);
    expect(ruled.Entries!.find((e) => e.RuleNumber === 110)!.IcmpTypeCode).toEqual({ Type: 8, Code: -1 });

    // each refusal, and the ACL as it was after it
    const entry = { NetworkAclId: id, RuleNumber: 100, Egress: false, RuleAction: 'allow' as const, ...ALL };
    const refusals: Array<[() => Promise<unknown>, string]> = [
      [() => consumer.send(new CreateNetworkAclEntryCommand(entry)), 'NetworkAclEntryAlreadyExists'],
      [() => consumer.send(new ReplaceNetworkAclEntryCommand({ ...entry, RuleNumber: 120 })), 'InvalidNetworkAclEntry.NotFound'],
      [() => consumer.send(new DeleteNetworkAclEntryCommand({ NetworkAclId: id, RuleNumber: 110, Egress: true })), 'InvalidNetworkAclEntry.NotFound'],
      [() => consumer.send(new CreateNetworkAclEntryCommand({ ...entry, RuleNumber: 0 })), 'InvalidParameterValue'],
      [() => consumer.send(new CreateNetworkAclEntryCommand({ ...entry, RuleNumber: 32767 })), 'InvalidParameterValue'],
      [() => consumer.send(new CreateNetworkAclEntryCommand({ ...entry, RuleNumber: 130, RuleAction: 'maybe' as 'allow' })), 'InvalidParameterValue'],
      [() => consumer.send(new CreateNetworkAclEntryCommand({ ...entry, RuleNumber: 130, Protocol: 'sctp-ish' })), 'InvalidParameterValue'],
      [() => consumer.send(new CreateNetworkAclEntryCommand({ ...entry, RuleNumber: 130, CidrBlock: '10.0.0.0/33' })), 'InvalidParameterValue'],
      [() => consumer.send(new CreateNetworkAclEntryCommand({ ...entry, RuleNumber: 130, Protocol: '6', PortRange: { From: 90, To: 80 } })), 'InvalidParameterValue'],
      [() => consumer.send(new CreateNetworkAclEntryCommand({ ...entry, RuleNumber: 130, Protocol: '17' })), 'InvalidParameterValue'],
      [() => consumer.send(new CreateNetworkAclEntryCommand({ ...entry, NetworkAclId: 'acl-00000000000000000' })), 'InvalidNetworkAclID.NotFound'],
      [() => provider.send(new CreateNetworkAclEntryCommand({ ...entry, RuleNumber: 130 })), 'InvalidNetworkAclID.NotFound'],
      [() => consumer.send(new DeleteNetworkAclCommand({ NetworkAclId: def!.NetworkAclId })), 'Client.CannotDelete'],
    ];
    for (const [call, code] of refusals) expect(await refused(call())).toMatchObject({ code, status: 400 });
    expect(await acl(id)).toEqual(ruled);
    expect(await acls(vpc)).toEqual([def, ruled]);

    // replaced in place; deleted
    await consumer.send(new ReplaceNetworkAclEntryCommand({ NetworkAclId: id, RuleNumber: 100, Egress: false, Protocol: 'tcp', RuleAction: 'deny', CidrBlock: '10.1.0.0/16', PortRange: { From: 80, To: 90 } }));
    await consumer.send(new DeleteNetworkAclEntryCommand({ NetworkAclId: id, RuleNumber: 110, Egress: false }));
    expect(rules(await acl(id)).filter((r) => r[1] === false)).toEqual([[100, false, '6', 'deny', '10.1.0.0/16', 80, 90], [32767, false, '-1', 'deny', '0.0.0.0/0', undefined, undefined]]);

    // the entry filters (aws_network_acl_rule reads its rule so)
    const find = async (name: string, values: string[]) => (await consumer.send(new DescribeNetworkAclsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc] }, { Name: name, Values: values }] }))).NetworkAcls!.map((a) => a.NetworkAclId);
    expect(await find('entry.protocol', ['tcp'])).toEqual([id]);
    expect(await find('entry.rule-action', ['deny'])).toHaveLength(2);
    expect(await find('entry.port-range.from', ['80'])).toEqual([id]);
    expect(await find('entry.cidr', ['10.1.0.0/16'])).toEqual([id]);
    expect(await find('tag:Name', ['edge'])).toEqual([id]);

    // a subnet moves to it by its association with the default ACL; the new association is found by subnet and by id
    const assoc = def!.Associations!.find((a) => a.SubnetId === s1)!.NetworkAclAssociationId!;
    expect(assoc).toMatch(/^aclassoc-[0-9a-f]{17}$/);
    const otherAcl = (await consumer.send(new CreateNetworkAclCommand({ VpcId: other }))).NetworkAcl!.NetworkAclId!;
    expect(await refused(consumer.send(new ReplaceNetworkAclAssociationCommand({ AssociationId: assoc, NetworkAclId: otherAcl })))).toMatchObject({ code: 'InvalidParameterValue', status: 400 });
    expect(await refused(consumer.send(new ReplaceNetworkAclAssociationCommand({ AssociationId: 'aclassoc-00000000000000000', NetworkAclId: id })))).toMatchObject({ code: 'InvalidAssociationID.NotFound', status: 400 });
    expect(await refused(provider.send(new ReplaceNetworkAclAssociationCommand({ AssociationId: assoc, NetworkAclId: id })))).toMatchObject({ code: 'InvalidAssociationID.NotFound', status: 400 });
    expect(await acls(vpc)).toEqual([def, await acl(id)]);
    const moved = (await consumer.send(new ReplaceNetworkAclAssociationCommand({ AssociationId: assoc, NetworkAclId: id }))).NewAssociationId!;
    expect(moved).toMatch(/^aclassoc-[0-9a-f]{17}$/);
    const bySubnet = await consumer.send(new DescribeNetworkAclsCommand({ Filters: [{ Name: 'association.subnet-id', Values: [s1] }] }));
    expect(bySubnet.NetworkAcls!.map((a) => [a.NetworkAclId, a.Associations])).toEqual([[id, [{ NetworkAclAssociationId: moved, NetworkAclId: id, SubnetId: s1 }]]]);
    expect(await find('association.association-id', [moved])).toEqual([id]);
    expect((await acl(def!.NetworkAclId!)).Associations!.map((a) => a.SubnetId)).toEqual([s2]);

    // associated: neither it nor its VPC can go; the VPC waits for every ACL made in it
    expect(await refused(consumer.send(new DeleteNetworkAclCommand({ NetworkAclId: id })))).toMatchObject({ code: 'DependencyViolation', status: 400 });
    await consumer.send(new DeleteNetworkAclCommand({ NetworkAclId: otherAcl }));
    await consumer.send(new DeleteSubnetCommand({ SubnetId: s2 }));
    // back to the default ACL (what Terraform does before deleting an aws_network_acl)
    await consumer.send(new ReplaceNetworkAclAssociationCommand({ AssociationId: moved, NetworkAclId: def!.NetworkAclId }));
    expect((await acl(id)).Associations).toEqual([]);
    await consumer.send(new DeleteSubnetCommand({ SubnetId: s1 }));
    expect(await refused(consumer.send(new DeleteVpcCommand({ VpcId: vpc })))).toMatchObject({ code: 'DependencyViolation', status: 400 });
    await consumer.send(new DeleteNetworkAclCommand({ NetworkAclId: id }));
    expect(await refused(consumer.send(new DescribeNetworkAclsCommand({ NetworkAclIds: [id] })))).toMatchObject({ code: 'InvalidNetworkAclID.NotFound', status: 400 });
    await consumer.send(new DeleteVpcCommand({ VpcId: vpc }));
    await consumer.send(new DeleteVpcCommand({ VpcId: other }));
  });

  it('a config VPC\'s default ACL is shown and never changed; another account sees none of the caller\'s', async () => {
    const [def] = (await consumer.send(new DescribeNetworkAclsCommand({ Filters: [{ Name: 'vpc-id', Values: ['vpc-client'] }] }))).NetworkAcls!;
    expect(def!.Associations!.map((a) => a.SubnetId)).toEqual(['subnet-a', 'subnet-b']);
    const id = def!.NetworkAclId!;
    expect(await refused(consumer.send(new DeleteNetworkAclEntryCommand({ NetworkAclId: id, RuleNumber: 100, Egress: false })))).toMatchObject({ code: 'UnauthorizedOperation', status: 403 });
    expect(await refused(consumer.send(new CreateTagsCommand({ Resources: [id], Tags: [{ Key: 'k', Value: 'v' }] })))).toMatchObject({ code: 'UnauthorizedOperation', status: 403 });
    expect(await refused(consumer.send(new ReplaceNetworkAclAssociationCommand({ AssociationId: def!.Associations![0]!.NetworkAclAssociationId, NetworkAclId: id }))))
      .toMatchObject({ code: 'UnauthorizedOperation', status: 403 });
    expect((await consumer.send(new DescribeNetworkAclsCommand({ NetworkAclIds: [id] }))).NetworkAcls).toEqual([def]);
    expect(await refused(provider.send(new DescribeNetworkAclsCommand({ NetworkAclIds: [id] })))).toMatchObject({ code: 'InvalidNetworkAclID.NotFound', status: 400 });
    expect((await provider.send(new DescribeNetworkAclsCommand({}))).NetworkAcls!.map((a) => a.VpcId).sort()).toEqual(['vpc-app', 'vpc-provider-client']);
  });

  it('the default ACL\'s rules and tags changed (aws_default_network_acl), an ACL, its rules and its subnet survive a restart; the VPC\'s deletion takes its default ACL with it', async () => {
    const vpc = (await consumer.send(new CreateVpcCommand({ CidrBlock: '10.42.0.0/16' }))).Vpc!.VpcId!;
    const subnet = (await consumer.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.42.1.0/24' }))).Subnet!.SubnetId!;
    const [def] = await acls(vpc);
    const defId = def!.NetworkAclId!;
    // what aws_default_network_acl does: every rule removed, its own made, tagged
    await consumer.send(new DeleteNetworkAclEntryCommand({ NetworkAclId: defId, RuleNumber: 100, Egress: false }));
    await consumer.send(new DeleteNetworkAclEntryCommand({ NetworkAclId: defId, RuleNumber: 100, Egress: true }));
    await consumer.send(new CreateNetworkAclEntryCommand({ NetworkAclId: defId, RuleNumber: 200, Egress: false, Protocol: '6', RuleAction: 'allow', CidrBlock: '10.42.0.0/16', PortRange: { From: 0, To: 65535 } }));
    await consumer.send(new CreateTagsCommand({ Resources: [defId], Tags: [{ Key: 'Name', Value: 'default' }] }));
    const tags = (await consumer.send(new DescribeTagsCommand({ Filters: [{ Name: 'resource-type', Values: ['network-acl'] }] }))).Tags!;
    expect(tags.map((t) => [t.ResourceId, t.Key, t.Value])).toEqual([[defId, 'Name', 'default']]);

    const id = (await consumer.send(new CreateNetworkAclCommand({ VpcId: vpc }))).NetworkAcl!.NetworkAclId!;
    await consumer.send(new CreateNetworkAclEntryCommand({ NetworkAclId: id, RuleNumber: 10, Egress: false, RuleAction: 'deny', ...ALL }));
    await consumer.send(new ReplaceNetworkAclAssociationCommand({ AssociationId: def!.Associations![0]!.NetworkAclAssociationId, NetworkAclId: id }));
    const before = await acls(vpc);
    expect(before.map((a) => [a.NetworkAclId, a.Associations!.map((x) => x.SubnetId)])).toEqual([[defId, []], [id, [subnet]]]);
    await stop();
    await start();
    expect(await acls(vpc)).toEqual(before);

    // a subnet deleted leaves its ACL; the VPC takes its default ACL, stored since changed, with it
    await consumer.send(new DeleteSubnetCommand({ SubnetId: subnet }));
    expect((await acl(id)).Associations).toEqual([]);
    await consumer.send(new DeleteNetworkAclCommand({ NetworkAclId: id }));
    await consumer.send(new DeleteVpcCommand({ VpcId: vpc }));
    expect(await refused(consumer.send(new DescribeNetworkAclsCommand({ NetworkAclIds: [defId] })))).toMatchObject({ code: 'InvalidNetworkAclID.NotFound', status: 400 });
    await stop();
    await start();
    expect((await consumer.send(new DescribeNetworkAclsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc] }] }))).NetworkAcls).toEqual([]);
  });

  it('the inbound rules of an ENI\'s subnet\'s ACL admit or refuse real connections (network_acl: counted, traced), first match by number; a change reaches them at once and survives a restart', async () => {
    const vpc = (await consumer.send(new CreateVpcCommand({ CidrBlock: '10.43.0.0/16' }))).Vpc!.VpcId!;
    const subnet = (await consumer.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.43.1.0/24' }))).Subnet!.SubnetId!;
    const e = (await consumer.send(new CreateVpcEndpointCommand({ VpcEndpointType: 'Interface', VpcId: vpc, ServiceName: 'com.amazonaws.us-east-1.ec2', SubnetIds: [subnet] }))).VpcEndpoint!;
    const id = e.VpcEndpointId!;
    const trace = async (source: string) => (await d.consumer.post('/trace', { vpc_id: vpc, source_ip: source, destination_ip: '10.43.1.4', destination_port: PORT })).body.trace;
    await waitFor(async () => (await trace('10.43.1.50')).verdict === 'relay', 5_000, 'the endpoint relays');
    // the ENI's host address 127.k.1.4; a client 10.43.1.x of the VPC binds 127.k.1.x
    const host = String((await trace('10.43.1.50')).eni.host_ip);
    const client = (last: number) => host.replace(/\.4$/, `.${last}`);
    const refusedCount = async () => (await metricValue(d.url, 'vpcep_endpoint_rejected_connections_total', { endpoint_id: id, reason: 'network_acl' })) ?? 0;

    // AWS's default ACL, never changed: allow all, not even compiled
    expect(await attempt(host, PORT, client(50))).toBe('relay');
    expect(await trace('10.43.1.50')).not.toHaveProperty('network_acl');

    // an ACL allowing the subnet's lower half to the port: the rest meets the * rule; the answers allowed back to the ephemeral ports
    const acl = (await consumer.send(new CreateNetworkAclCommand({ VpcId: vpc }))).NetworkAcl!.NetworkAclId!;
    await consumer.send(new CreateNetworkAclEntryCommand({ NetworkAclId: acl, RuleNumber: 100, Egress: false, Protocol: 'tcp', RuleAction: 'allow', CidrBlock: '10.43.1.0/25', PortRange: { From: PORT, To: PORT } }));
    await consumer.send(new CreateNetworkAclEntryCommand({ NetworkAclId: acl, RuleNumber: 100, Egress: true, Protocol: 'tcp', RuleAction: 'allow', CidrBlock: '10.43.0.0/16', PortRange: { From: 1024, To: 65535 } }));
    // a UDP rule carries no TCP: it decides nothing here
    await consumer.send(new CreateNetworkAclEntryCommand({ NetworkAclId: acl, RuleNumber: 90, Egress: false, Protocol: 'udp', RuleAction: 'deny', CidrBlock: '0.0.0.0/0', PortRange: { From: PORT, To: PORT } }));
    const [def] = await acls(vpc);
    await consumer.send(new ReplaceNetworkAclAssociationCommand({ AssociationId: def!.Associations![0]!.NetworkAclAssociationId, NetworkAclId: acl }));
    expect(await attempt(host, PORT, client(50))).toBe('relay');
    const before = await refusedCount();
    // on the native relay the threads accept and refuse it themselves (the fast path), on the JavaScript relay the event loop
    const fastAccepted = async () => metricValue(d.url, 'vpcep_relay_fast_accepted_total');
    const fastBefore = await fastAccepted();
    expect(await attempt(host, PORT, client(200))).toBe('ECONNRESET');
    expect(await refusedCount()).toBe(before + 1);
    expect(await fastAccepted()).toBe((fastBefore ?? 0) + (process.env.VPCEP_RELAY === 'js' ? 0 : 1));
    expect(await trace('10.43.1.200')).toMatchObject({
      verdict: 'refuse', refusal: 'network_acl', network_acl: { enforced: true, rules: [`allow tcp ${PORT} from 10.43.1.0/25`], matched: null },
    });

    // a lower number denying the client decides first; deleted, the allow decides again
    await consumer.send(new CreateNetworkAclEntryCommand({ NetworkAclId: acl, RuleNumber: 50, Egress: false, Protocol: '-1', RuleAction: 'deny', CidrBlock: '10.43.1.48/28' }));
    expect(await attempt(host, PORT, client(50))).toBe('ECONNRESET');
    expect(await attempt(host, PORT, client(20))).toBe('relay');
    expect((await trace('10.43.1.50')).network_acl).toMatchObject({ matched: 'deny tcp 0-65535 from 10.43.1.48/28' });
    await consumer.send(new DeleteNetworkAclEntryCommand({ NetworkAclId: acl, RuleNumber: 50, Egress: false }));
    expect(await attempt(host, PORT, client(50))).toBe('relay');

    // a restart keeps it: refused and relayed as before
    await stop();
    await start();
    await waitFor(async () => (await trace('10.43.1.50')).verdict === 'relay', 5_000, 'the endpoint relays after the restart');
    expect(await attempt(host, PORT, client(50))).toBe('relay');
    expect(await attempt(host, PORT, client(200))).toBe('ECONNRESET');

    // back to the default ACL: all allowed; its inbound rule replaced by a deny (aws_default_network_acl), all refused
    const moved = (await acls(vpc))[1]!.Associations![0]!.NetworkAclAssociationId!;
    await consumer.send(new ReplaceNetworkAclAssociationCommand({ AssociationId: moved, NetworkAclId: def!.NetworkAclId }));
    expect(await attempt(host, PORT, client(200))).toBe('relay');
    await consumer.send(new ReplaceNetworkAclEntryCommand({ NetworkAclId: def!.NetworkAclId, RuleNumber: 100, Egress: false, Protocol: '-1', RuleAction: 'deny', CidrBlock: '0.0.0.0/0' }));
    expect(await attempt(host, PORT, client(50))).toBe('ECONNRESET');
    await consumer.send(new ReplaceNetworkAclEntryCommand({ NetworkAclId: def!.NetworkAclId, RuleNumber: 100, Egress: false, Protocol: '-1', RuleAction: 'allow', CidrBlock: '0.0.0.0/0' }));
    expect(await attempt(host, PORT, client(50))).toBe('relay');

    await consumer.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [id] }));
    await consumer.send(new DeleteNetworkAclCommand({ NetworkAclId: acl }));
    await waitFor(() => consumer.send(new DeleteSubnetCommand({ SubnetId: subnet })).then(() => true, () => false), 5_000, 'the subnet deleted');
    await consumer.send(new DeleteVpcCommand({ VpcId: vpc }));
  });

  it('the outbound rules of an ENI\'s subnet\'s ACL hold the answers to the client\'s address and source port (network_acl: counted, traced); a replaced rule reaches them at once', async () => {
    const vpc = (await consumer.send(new CreateVpcCommand({ CidrBlock: '10.45.0.0/16' }))).Vpc!.VpcId!;
    const subnet = (await consumer.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.45.1.0/24' }))).Subnet!.SubnetId!;
    const id = (await consumer.send(new CreateVpcEndpointCommand({ VpcEndpointType: 'Interface', VpcId: vpc, ServiceName: 'com.amazonaws.us-east-1.ec2', SubnetIds: [subnet] }))).VpcEndpoint!.VpcEndpointId!;
    const trace = async (source: string, sourcePort?: number) => (await d.consumer.post('/trace', {
      vpc_id: vpc, source_ip: source, destination_ip: '10.45.1.4', destination_port: PORT, ...(sourcePort === undefined ? {} : { source_port: sourcePort }),
    })).body.trace;
    await waitFor(async () => (await trace('10.45.1.50')).verdict === 'relay', 5_000, 'the endpoint relays');
    const host = String((await trace('10.45.1.50')).eni.host_ip);
    const client = (last: number) => host.replace(/\.4$/, `.${last}`);
    const refusedCount = async () => (await metricValue(d.url, 'vpcep_endpoint_rejected_connections_total', { endpoint_id: id, reason: 'network_acl' })) ?? 0;
    const fastAccepted = async () => (await metricValue(d.url, 'vpcep_relay_fast_accepted_total')) ?? 0;
    const onThreads = process.env.VPCEP_RELAY === 'js' ? 0 : 1;

    // every client in to the port; the answers out to the VPC's ephemeral ports 1024-65535 (AWS's advice)
    const acl = (await consumer.send(new CreateNetworkAclCommand({ VpcId: vpc }))).NetworkAcl!.NetworkAclId!;
    await consumer.send(new CreateNetworkAclEntryCommand({ NetworkAclId: acl, RuleNumber: 100, Egress: false, Protocol: 'tcp', RuleAction: 'allow', CidrBlock: '0.0.0.0/0', PortRange: { From: PORT, To: PORT } }));
    const [def] = await acls(vpc);
    await consumer.send(new ReplaceNetworkAclAssociationCommand({ AssociationId: def!.Associations![0]!.NetworkAclAssociationId, NetworkAclId: acl }));
    // no outbound rule yet: the * rule drops the answers, the connection fails
    let before = await refusedCount();
    expect(await attempt(host, PORT, client(50))).toBe('ECONNRESET');
    expect(await refusedCount()).toBe(before + 1);
    await consumer.send(new CreateNetworkAclEntryCommand({ NetworkAclId: acl, RuleNumber: 100, Egress: true, Protocol: 'tcp', RuleAction: 'allow', CidrBlock: '10.45.0.0/16', PortRange: { From: 1024, To: 65535 } }));
    const allowOut = 'allow tcp 1024-65535 to 10.45.0.0/16';
    // a client at an ephemeral port: relayed
    expect(await attempt(host, PORT, client(50))).toBe('relay');
    expect(await attempt(host, PORT, client(51), 40_001)).toBe('relay');
    expect((await trace('10.45.1.50')).network_acl).toMatchObject({ egress_rules: [allowOut], egress_matched: allowOut, source_port: 32768 });
    // a client bound to source port 1000 (root may): no outbound rule holds the answers to it
    before = await refusedCount();
    const fastBefore = await fastAccepted();
    expect(await attempt(host, PORT, client(52), 1_000)).toBe('ECONNRESET');
    expect(await refusedCount()).toBe(before + 1);
    expect(await fastAccepted()).toBe(fastBefore + onThreads);
    expect(await trace('10.45.1.52', 1_000)).toMatchObject({
      verdict: 'refuse', refusal: 'network_acl', network_acl: { matched: `allow tcp ${PORT} from 0.0.0.0/0`, egress_matched: null, source_port: 1_000 },
    });
    // vpcep trace --source-port prints the step as a row naming both directions' rules (it printed no such row before)
    const text = await vpcepTrace(['--vpc-id', vpc, '--source', '10.45.1.52', '--destination', '10.45.1.4', '--port', String(PORT), '--source-port', '1000']);
    expect(text).toMatch(new RegExp(`network acl +│ inbound rule allow tcp ${PORT} from 0\\.0\\.0\\.0/0 of the subnet's network ACL decides for 10\\.45\\.1\\.52 to port ${PORT}; `
      + 'no outbound rule holds the answers to 10\\.45\\.1\\.52 port 1000: the \\* rule denies'));
    expect(text).toMatch(/verdict +│ refuse \(reset\) \[network_acl\]/);

    // an outbound deny of the client's address, numbered first: refused whatever its port
    await consumer.send(new CreateNetworkAclEntryCommand({ NetworkAclId: acl, RuleNumber: 50, Egress: true, Protocol: '-1', RuleAction: 'deny', CidrBlock: '10.45.1.48/28' }));
    before = await refusedCount();
    expect(await attempt(host, PORT, client(53))).toBe('ECONNRESET');
    expect(await attempt(host, PORT, client(54), 40_002)).toBe('ECONNRESET');
    expect(await refusedCount()).toBe(before + 2);
    expect(await attempt(host, PORT, client(20))).toBe('relay');
    expect(await trace('10.45.1.53')).toMatchObject({ verdict: 'refuse', refusal: 'network_acl', network_acl: { egress_matched: 'deny tcp 0-65535 to 10.45.1.48/28' } });

    // ReplaceNetworkAclEntry of an outbound rule reaches admission before it answers: the deny now an allow, the allow now a deny
    await consumer.send(new ReplaceNetworkAclEntryCommand({ NetworkAclId: acl, RuleNumber: 50, Egress: true, Protocol: '-1', RuleAction: 'allow', CidrBlock: '10.45.1.48/28' }));
    expect(await attempt(host, PORT, client(53))).toBe('relay');
    await consumer.send(new ReplaceNetworkAclEntryCommand({ NetworkAclId: acl, RuleNumber: 100, Egress: true, Protocol: 'tcp', RuleAction: 'deny', CidrBlock: '10.45.0.0/16', PortRange: { From: 1024, To: 65535 } }));
    expect(await attempt(host, PORT, client(20))).toBe('ECONNRESET');
    expect(await attempt(host, PORT, client(53))).toBe('relay');

    await consumer.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [id] }));
    const moved = (await acls(vpc))[1]!.Associations![0]!.NetworkAclAssociationId!;
    await consumer.send(new ReplaceNetworkAclAssociationCommand({ AssociationId: moved, NetworkAclId: def!.NetworkAclId }));
    await consumer.send(new DeleteNetworkAclCommand({ NetworkAclId: acl }));
    await waitFor(() => consumer.send(new DeleteSubnetCommand({ SubnetId: subnet })).then(() => true, () => false), 5_000, 'the subnet deleted');
    await consumer.send(new DeleteVpcCommand({ VpcId: vpc }));
  });
});

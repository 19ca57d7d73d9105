// The PrivateLink workflow through @aws-sdk/client-ec2 over real HTTP against a real daemon, with
// signatures verified (every account has AWS keys), across accounts: a provider's service made
// through the Huawei API, allowed principals, an interface endpoint waiting on acceptance, real
// bytes through it, reject cutting them, delete; a gateway endpoint with its route and prefix
// list; the reads Terraform makes; every error these actions can give, as a 4xx that changes
// nothing; a third account that sees none of it; and one world for both dialects.
import {
  AcceptVpcEndpointConnectionsCommand, CreateRouteTableCommand, CreateSecurityGroupCommand, CreateSubnetCommand, CreateVpcCommand, CreateVpcEndpointCommand, DeleteRouteTableCommand,
  DeleteSecurityGroupCommand, DeleteSubnetCommand, DeleteVpcCommand, DeleteVpcEndpointsCommand, DescribeNetworkAclsCommand,
  DescribeNetworkInterfacesCommand, DescribePrefixListsCommand, DescribeRouteTablesCommand, DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand, DescribeVpcAttributeCommand, DescribeVpcEndpointConnectionsCommand, DescribeVpcEndpointServiceConfigurationsCommand,
  DescribeVpcEndpointServicePermissionsCommand, DescribeVpcEndpointServicesCommand, DescribeVpcEndpointsCommand, DescribeVpcsCommand, EC2Client,
  ModifyVpcEndpointCommand, ModifyVpcEndpointServicePermissionsCommand, RejectVpcEndpointConnectionsCommand,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ipToInt } from '../../src/net/cidr.js';
import { hostAddress } from '../../src/net/loopback.js';
import { CONSUMER, PROVIDER, SERVICE_BODY, startTestDaemon, tempDir, twoAccountConfig, waitFor, type TestDaemon } from '../helpers.js';
import { AWS_KEYS, attempt, ec2Clients, refused } from './aws-sdk.js';
import { echo, randomPort, startBackend, type TestBackend } from './backends.js';

const KEYS = {
  ...AWS_KEYS,
  stranger: { account_id: '333333333333', access_key_id: 'AKIASTRANGER00000003', secret_access_key: 'stranger-secret-key-0123456789abcdef' },
};
const STRANGER = { name: 'stranger', domain_id: '5151515151515151515151515151515a', project_id: '5252525252525252525252525252525b', token: 'stranger-secret' };
const REGION = 'us-east-1';
const PREFIX_LIST = 'pl-63a5400a';

let d: TestDaemon;
let backend: TestBackend;
let port: number;
let publicPort: number;
let k: number;
const ec2: Record<keyof typeof KEYS, EC2Client> = {} as never;

beforeAll(async () => {
  backend = await startBackend(echo);
  port = randomPort();
  publicPort = port + 1;
  d = await startTestDaemon(twoAccountConfig({
    accounts: [{ ...PROVIDER, aws: KEYS.provider }, { ...CONSUMER, aws: KEYS.consumer }, { ...STRANGER, aws: KEYS.stranger }],
    public_services: [{
      name: 's3', service_type: 'gateway', prefix_list: { id: PREFIX_LIST, cidrs: ['100.125.0.8/29'] },
      ports: [{ port: publicPort, target: `127.0.0.1:${backend.port}` }],
    }],
  }));
  k = d.daemon.control.routing().vpcs.get('vpc-client')!.number;
  Object.assign(ec2, ec2Clients(d.url, KEYS, REGION));
});

afterAll(async () => {
  for (const c of Object.values(ec2)) c.destroy();
  await d?.stop();
  await backend?.close();
});

/** the provider's service through the Huawei API, approval on, client port `port` -> the echo backend */
async function huaweiService(): Promise<{ id: string; awsName: string }> {
  const r = await d.provider.post('/vpc-endpoint-services', {
    ...SERVICE_BODY, approval_enabled: true, ports: [{ client_port: port, server_port: backend.port, protocol: 'TCP' }],
  });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  await waitFor(async () => (await d.provider.get(`/vpc-endpoint-services/${r.body.id}`)).body.status === 'available', 5_000, 'service available');
  return { id: r.body.id, awsName: `com.amazonaws.vpce.${REGION}.${r.body.id}` };
}

async function endpointState(id: string): Promise<string | undefined> {
  const out = await ec2.consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [id] }));
  return out.VpcEndpoints?.[0]?.State;
}

describe('the PrivateLink workflow across two accounts', () => {
  let service: { id: string; awsName: string };
  let vpceId = '';
  let hostIp = '';

  it('the provider sees its Huawei-made service as a service configuration', async () => {
    service = await huaweiService();
    const out = await ec2.provider.send(new DescribeVpcEndpointServiceConfigurationsCommand({ ServiceIds: [service.id] }));
    expect(out.ServiceConfigurations).toHaveLength(1);
    expect(out.ServiceConfigurations![0]).toMatchObject({
      ServiceId: service.id, ServiceName: service.awsName, ServiceState: 'Available', AcceptanceRequired: true,
      ServiceType: [{ ServiceType: 'Interface' }], AvailabilityZones: [`${REGION}a`],
    });
    const byName = await ec2.provider.send(new DescribeVpcEndpointServiceConfigurationsCommand({ Filters: [{ Name: 'service-name', Values: [service.awsName] }] }));
    expect(byName.ServiceConfigurations!.map((s) => s.ServiceId)).toEqual([service.id]);
  });

  it('before the provider allows it, the consumer can neither see nor use the service', async () => {
    const list = await ec2.consumer.send(new DescribeVpcEndpointServicesCommand({}));
    expect(list.ServiceNames).not.toContain(service.awsName);
    expect(await refused(ec2.consumer.send(new DescribeVpcEndpointServicesCommand({ ServiceNames: [service.awsName] }))))
      .toMatchObject({ code: 'InvalidServiceName', status: 400 });
    expect(await refused(ec2.consumer.send(new CreateVpcEndpointCommand({
      VpcEndpointType: 'Interface', VpcId: 'vpc-client', ServiceName: service.awsName, SubnetIds: ['subnet-a'],
    })))).toMatchObject({ code: 'InvalidServiceName', status: 400 });
  });

  it('the provider allows arn:aws:iam::<consumer>:root and gets its ServicePermissionId', async () => {
    const principal = `arn:aws:iam::${KEYS.consumer.account_id}:root`;
    const out = await ec2.provider.send(new ModifyVpcEndpointServicePermissionsCommand({ ServiceId: service.id, AddAllowedPrincipals: [principal] }));
    expect(out.ReturnValue).toBe(true);
    expect(out.AddedPrincipals).toHaveLength(1);
    expect(out.AddedPrincipals![0]).toMatchObject({ Principal: principal, PrincipalType: 'Account', ServiceId: service.id });
    const permissionId = out.AddedPrincipals![0]!.ServicePermissionId!;
    expect(permissionId).toMatch(/^[^_/]+$/);
    const described = await ec2.provider.send(new DescribeVpcEndpointServicePermissionsCommand({ ServiceId: service.id }));
    expect(described.AllowedPrincipals).toEqual([expect.objectContaining({ Principal: principal, PrincipalType: 'Account', ServicePermissionId: permissionId })]);
    // the same whitelist through the Huawei API
    const huawei = await d.provider.get(`/vpc-endpoint-services/${service.id}/permissions`);
    expect(huawei.body.permissions.map((p: { permission: string }) => p.permission)).toContain(`iam:domain::${CONSUMER.domain_id}`);
  });

  it('a role or user ARN is kept as named, beside the root: listed, filtered on and removed on its own (Terraform\'s allowed_principal reads it back)', async () => {
    const root = `arn:aws:iam::${KEYS.consumer.account_id}:root`;
    const role = `arn:aws:iam::${KEYS.consumer.account_id}:role/deployer`;
    const user = `arn:aws:iam::${KEYS.consumer.account_id}:user/ci`;
    const added = await ec2.provider.send(new ModifyVpcEndpointServicePermissionsCommand({ ServiceId: service.id, AddAllowedPrincipals: [role, user] }));
    expect(added.AddedPrincipals?.map((p) => [p.Principal, p.PrincipalType])).toEqual([[role, 'Role'], [user, 'User']]);
    const ids = new Set(added.AddedPrincipals!.map((p) => p.ServicePermissionId));
    const list = async (filters: Array<{ Name: string; Values: string[] }> = []) =>
      (await ec2.provider.send(new DescribeVpcEndpointServicePermissionsCommand({ ServiceId: service.id, Filters: filters }))).AllowedPrincipals!;
    const all = await list();
    expect(all.map((p) => [p.Principal, p.PrincipalType]).sort()).toEqual([[root, 'Account'], [role, 'Role'], [user, 'User']].sort());
    expect(new Set(all.map((p) => p.ServicePermissionId)).size).toBe(3);
    expect((await list([{ Name: 'principal', Values: [role] }])).map((p) => [p.Principal, p.ServicePermissionId])).toEqual([[role, added.AddedPrincipals![0]!.ServicePermissionId]]);
    expect((await list([{ Name: 'principal-type', Values: ['Role'] }])).map((p) => p.Principal)).toEqual([role]);
    expect(ids.has(all.find((p) => p.Principal === root)!.ServicePermissionId)).toBe(false);
    // added again: the same entry
    const again = await ec2.provider.send(new ModifyVpcEndpointServicePermissionsCommand({ ServiceId: service.id, AddAllowedPrincipals: [role] }));
    expect(again.AddedPrincipals?.[0]?.ServicePermissionId).toBe(added.AddedPrincipals![0]!.ServicePermissionId);
    // removing the role and the user leaves the root
    await ec2.provider.send(new ModifyVpcEndpointServicePermissionsCommand({ ServiceId: service.id, RemoveAllowedPrincipals: [role, user] }));
    expect((await list()).map((p) => [p.Principal, p.PrincipalType])).toEqual([[root, 'Account']]);
    // through the Huawei API an entry names the account: removing it removes the account's entries however named
    await ec2.provider.send(new ModifyVpcEndpointServicePermissionsCommand({ ServiceId: service.id, AddAllowedPrincipals: [role] }));
    expect((await d.provider.get(`/vpc-endpoint-services/${service.id}/permissions`)).body.permissions.map((p: { permission: string }) => p.permission))
      .toEqual([`iam:domain::${CONSUMER.domain_id}`, `iam:domain::${CONSUMER.domain_id}`]);
    const removed = await d.provider.post(`/vpc-endpoint-services/${service.id}/permissions/action`, { action: 'remove', permissions: [`iam:domain::${CONSUMER.domain_id}`] });
    expect(removed.status).toBe(200);
    expect(await list()).toEqual([]);
    // the root again, as the workflow goes on
    await ec2.provider.send(new ModifyVpcEndpointServicePermissionsCommand({ ServiceId: service.id, AddAllowedPrincipals: [root] }));
    expect((await list()).map((p) => p.Principal)).toEqual([root]);
  });

  it('the consumer sees the service, creates an Interface endpoint, pendingAcceptance with its ENI in the subnet', async () => {
    const seen = await ec2.consumer.send(new DescribeVpcEndpointServicesCommand({ ServiceNames: [service.awsName] }));
    expect(seen.ServiceNames).toEqual([service.awsName]);
    expect(seen.ServiceDetails![0]).toMatchObject({ ServiceName: service.awsName, Owner: KEYS.provider.account_id, AcceptanceRequired: true, ServiceType: [{ ServiceType: 'Interface' }] });
    const out = await ec2.consumer.send(new CreateVpcEndpointCommand({
      VpcEndpointType: 'Interface', VpcId: 'vpc-client', ServiceName: service.awsName, SubnetIds: ['subnet-a'],
      TagSpecifications: [{ ResourceType: 'vpc-endpoint', Tags: [{ Key: 'Name', Value: 'web' }] }],
    }));
    const e = out.VpcEndpoint!;
    expect(e.VpcEndpointId).toMatch(/^vpce-[0-9a-f]{17}$/);
    expect(e).toMatchObject({ VpcEndpointType: 'Interface', VpcId: 'vpc-client', ServiceName: service.awsName, State: 'pendingAcceptance', SubnetIds: ['subnet-a'], OwnerId: KEYS.consumer.account_id, Tags: [{ Key: 'Name', Value: 'web' }] });
    expect(e.NetworkInterfaceIds).toHaveLength(1);
    vpceId = e.VpcEndpointId!;
    const eni = (await ec2.consumer.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: e.NetworkInterfaceIds }))).NetworkInterfaces![0]!;
    expect(eni).toMatchObject({ InterfaceType: 'vpc_endpoint', RequesterManaged: true, SubnetId: 'subnet-a', VpcId: 'vpc-client', Status: 'in-use' });
    expect(eni.PrivateIpAddress).toMatch(/^10\.0\.1\.\d+$/);
    hostIp = hostAddress(k, ipToInt(eni.PrivateIpAddress!));
    // the same endpoint through the Huawei API, at the same address
    const huawei = await d.consumer.get(`/vpc-endpoints/${vpceId}`);
    expect(huawei.status).toBe(200);
    expect(huawei.body).toMatchObject({ id: vpceId, status: 'pendingAcceptance', ip: eni.PrivateIpAddress, host_ip: hostIp });
    // nothing passes before acceptance
    expect(await attempt(hostIp, port, `127.${k}.1.50`)).not.toBe('relay');
  });

  it('the provider sees the connection, accepts it, the endpoint turns available and real bytes flow', async () => {
    const conns = await ec2.provider.send(new DescribeVpcEndpointConnectionsCommand({ Filters: [{ Name: 'service-id', Values: [service.id] }] }));
    expect(conns.VpcEndpointConnections).toEqual([expect.objectContaining({
      ServiceId: service.id, VpcEndpointId: vpceId, VpcEndpointOwner: KEYS.consumer.account_id, VpcEndpointState: 'pendingAcceptance',
    })]);
    const accepted = await ec2.provider.send(new AcceptVpcEndpointConnectionsCommand({ ServiceId: service.id, VpcEndpointIds: [vpceId] }));
    expect(accepted.Unsuccessful).toEqual([]);
    await waitFor(async () => (await endpointState(vpceId)) === 'available', 5_000, 'endpoint available');
    const before = backend.accepted;
    expect(await attempt(hostIp, port, `127.${k}.1.50`)).toBe('relay');
    expect(backend.accepted).toBe(before + 1);
    // accepting again is an item's refusal, not the request's
    const again = await ec2.provider.send(new AcceptVpcEndpointConnectionsCommand({ ServiceId: service.id, VpcEndpointIds: [vpceId, 'vpce-00000000000000000'] }));
    expect(again.Unsuccessful!.map((u) => [u.ResourceId, u.Error?.Code])).toEqual([[vpceId, 'IncorrectState'], ['vpce-00000000000000000', 'InvalidVpcEndpoint.NotFound']]);
  });

  it('reject cuts it: rejected, and no bytes pass', async () => {
    const out = await ec2.provider.send(new RejectVpcEndpointConnectionsCommand({ ServiceId: service.id, VpcEndpointIds: [vpceId] }));
    expect(out.Unsuccessful).toEqual([]);
    expect(await endpointState(vpceId)).toBe('rejected');
    expect(await attempt(hostIp, port, `127.${k}.1.50`)).not.toBe('relay');
    const conns = await ec2.provider.send(new DescribeVpcEndpointConnectionsCommand({ Filters: [{ Name: 'vpc-endpoint-state', Values: ['rejected'] }] }));
    expect(conns.VpcEndpointConnections!.map((c) => c.VpcEndpointId)).toEqual([vpceId]);
  });

  it('DeleteVpcEndpoints: the endpoint goes, an unknown id is an unsuccessful item', async () => {
    const out = await ec2.consumer.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [vpceId, 'vpce-00000000000000000'] }));
    expect(out.Unsuccessful!.map((u) => [u.ResourceId, u.Error?.Code])).toEqual([['vpce-00000000000000000', 'InvalidVpcEndpoint.NotFound']]);
    await waitFor(async () => (await refused(endpointState(vpceId))).code === 'InvalidVpcEndpointId.NotFound', 5_000, 'endpoint gone');
    expect((await d.consumer.get(`/vpc-endpoints/${vpceId}`)).status).toBe(404);
  });
});

describe('one world for both dialects', () => {
  it('an endpoint made through Huawei shows under its UUID; one made through AWS is deleted through Huawei', async () => {
    const svc = await huaweiService();
    await ec2.provider.send(new ModifyVpcEndpointServicePermissionsCommand({ ServiceId: svc.id, AddAllowedPrincipals: ['*'] }));
    const perms = await ec2.provider.send(new DescribeVpcEndpointServicePermissionsCommand({ ServiceId: svc.id, Filters: [{ Name: 'principal-type', Values: ['All'] }] }));
    expect(perms.AllowedPrincipals!.map((p) => p.Principal)).toEqual(['*']);
    const viaHuawei = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: svc.id, vpc_id: 'vpc-client', subnet_id: 'subnet-b' });
    expect(viaHuawei.status, JSON.stringify(viaHuawei.body)).toBe(200);
    const shown = (await ec2.consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [viaHuawei.body.id] }))).VpcEndpoints![0]!;
    expect(shown).toMatchObject({ VpcEndpointId: viaHuawei.body.id, ServiceName: svc.awsName, State: 'pendingAcceptance', SubnetIds: ['subnet-b'] });

    const viaAws = (await ec2.consumer.send(new CreateVpcEndpointCommand({
      VpcEndpointType: 'Interface', VpcId: 'vpc-client', ServiceName: svc.awsName, SubnetIds: ['subnet-a'],
    }))).VpcEndpoint!;
    expect((await d.consumer.delete(`/vpc-endpoints/${viaAws.VpcEndpointId}`)).status).toBe(204);
    await waitFor(async () => (await refused(endpointState(viaAws.VpcEndpointId!))).code === 'InvalidVpcEndpointId.NotFound', 5_000, 'endpoint gone');
    await ec2.consumer.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [viaHuawei.body.id] }));
    await waitFor(async () => (await d.consumer.get(`/vpc-endpoints/${viaHuawei.body.id}`)).status === 404, 5_000, 'endpoint gone');
    await ec2.provider.send(new ModifyVpcEndpointServicePermissionsCommand({ ServiceId: svc.id, RemoveAllowedPrincipals: ['*'] }));
    expect((await ec2.provider.send(new DescribeVpcEndpointServicePermissionsCommand({ ServiceId: svc.id }))).AllowedPrincipals).toEqual([]);
  });
});

describe('a Huawei wildcard whitelist entry through AWS', () => {
  it('iam:domain::* is listed as * and RemoveAllowedPrincipals * removes it; a partial pattern is listed as it is and removed so (were listed as nothing, and * removed nothing)', async () => {
    const svc = await huaweiService();
    const principals = async () => (await ec2.provider.send(new DescribeVpcEndpointServicePermissionsCommand({ ServiceId: svc.id })))
      .AllowedPrincipals!.map((p) => `${p.Principal} ${p.PrincipalType}`).sort();
    const whitelist = async () => ((await d.provider.get(`/vpc-endpoint-services/${svc.id}/permissions`)).body.permissions as { permission: string }[]).map((p) => p.permission).sort();
    const strangerSees = async () => (await ec2.stranger.send(new DescribeVpcEndpointServicesCommand({}))).ServiceNames!.includes(svc.awsName);
    const consumerSees = async () => (await ec2.consumer.send(new DescribeVpcEndpointServicesCommand({}))).ServiceNames!.includes(svc.awsName);

    const added = await d.provider.post(`/vpc-endpoint-services/${svc.id}/permissions/action`, { action: 'add', permissions: ['iam:domain::*', 'iam:domain::c0c0*'] });
    expect(added.status, JSON.stringify(added.body)).toBe(200);
    expect(await principals()).toEqual(['* All', 'iam:domain::c0c0* Account']);
    expect([await strangerSees(), await consumerSees()]).toEqual([true, true]);

    // * and iam:domain::* are one entry: AWS's * is there already, with the entry's ServicePermissionId
    const listed = (await ec2.provider.send(new DescribeVpcEndpointServicePermissionsCommand({ ServiceId: svc.id, Filters: [{ Name: 'principal-type', Values: ['All'] }] }))).AllowedPrincipals!;
    const again = await ec2.provider.send(new ModifyVpcEndpointServicePermissionsCommand({ ServiceId: svc.id, AddAllowedPrincipals: ['*'] }));
    expect(again.AddedPrincipals!.map((p) => p.ServicePermissionId)).toEqual([listed[0]!.ServicePermissionId]);
    expect(await whitelist()).toEqual(['iam:domain::*', 'iam:domain::c0c0*']);

    await ec2.provider.send(new ModifyVpcEndpointServicePermissionsCommand({ ServiceId: svc.id, RemoveAllowedPrincipals: ['*'] }));
    expect(await whitelist()).toEqual(['iam:domain::c0c0*']);
    expect(await principals()).toEqual(['iam:domain::c0c0* Account']);
    expect([await strangerSees(), await consumerSees()]).toEqual([false, true]);

    await ec2.provider.send(new ModifyVpcEndpointServicePermissionsCommand({ ServiceId: svc.id, RemoveAllowedPrincipals: ['iam:domain::c0c0*'] }));
    expect(await whitelist()).toEqual([]);
    expect(await principals()).toEqual([]);
    expect(await consumerSees()).toBe(false);
    // a Huawei entry is taken back for removal only: AWS adds AWS principals
    expect(await refused(ec2.provider.send(new ModifyVpcEndpointServicePermissionsCommand({ ServiceId: svc.id, AddAllowedPrincipals: ['iam:domain::c0c0*'] }))))
      .toMatchObject({ code: 'InvalidPrincipal', status: 400 });
  });
});

describe('AWS messages name a service as AWS does', () => {
  it('PrivateDnsEnabled on a Huawei-made service without a private DNS name: the refusal names com.amazonaws.vpce.<region>.<id>, in CreateVpcEndpoint and ModifyVpcEndpoint (it named sim-1.web.<id>)', async () => {
    const svc = await huaweiService();
    await ec2.provider.send(new ModifyVpcEndpointServicePermissionsCommand({ ServiceId: svc.id, AddAllowedPrincipals: [`arn:aws:iam::${KEYS.consumer.account_id}:root`] }));
    const message = `Private DNS can't be enabled because the service ${svc.awsName} does not provide a private DNS name.`;
    const input = { VpcEndpointType: 'Interface' as const, VpcId: 'vpc-client', ServiceName: svc.awsName, SubnetIds: ['subnet-a'] };
    expect(await refused(ec2.consumer.send(new CreateVpcEndpointCommand({ ...input, PrivateDnsEnabled: true })))).toMatchObject({ code: 'InvalidParameter', status: 400, message });
    const e = (await ec2.consumer.send(new CreateVpcEndpointCommand(input))).VpcEndpoint!;
    expect(await refused(ec2.consumer.send(new ModifyVpcEndpointCommand({ VpcEndpointId: e.VpcEndpointId!, PrivateDnsEnabled: true })))).toMatchObject({ code: 'InvalidParameter', status: 400, message });
    await ec2.consumer.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [e.VpcEndpointId!] }));
    await waitFor(async () => (await d.consumer.get(`/vpc-endpoints/${e.VpcEndpointId}`)).status === 404, 5_000, 'endpoint gone');
  });
});

describe('a gateway endpoint to a public service', () => {
  it('its route (prefix list -> vpce id) is in the route table, its policy is kept, bytes reach the service', async () => {
    const s3 = `com.amazonaws.${REGION}.s3`;
    const seen = await ec2.consumer.send(new DescribeVpcEndpointServicesCommand({ Filters: [{ Name: 'service-type', Values: ['Gateway'] }] }));
    expect(seen.ServiceNames).toEqual([s3]);
    expect(seen.ServiceDetails![0]).toMatchObject({ Owner: 'amazon', BaseEndpointDnsNames: [`s3.${REGION}.vpce.amazonaws.com`], VpcEndpointPolicySupported: true });
    const pl = await ec2.consumer.send(new DescribePrefixListsCommand({ Filters: [{ Name: 'prefix-list-name', Values: [s3] }] }));
    expect(pl.PrefixLists).toEqual([{ PrefixListId: PREFIX_LIST, PrefixListName: s3, Cidrs: ['100.125.0.8/29'] }]);

    const main = (await ec2.consumer.send(new DescribeRouteTablesCommand({
      Filters: [{ Name: 'vpc-id', Values: ['vpc-client'] }, { Name: 'association.main', Values: ['true'] }],
    }))).RouteTables!;
    expect(main).toHaveLength(1);
    const table = main[0]!.RouteTableId!;
    const policy = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: 's3:GetObject', Resource: 'arn:aws:s3:::bucket/*' }] };
    const e = (await ec2.consumer.send(new CreateVpcEndpointCommand({
      VpcId: 'vpc-client', ServiceName: s3, RouteTableIds: [table], PolicyDocument: JSON.stringify(policy),
    }))).VpcEndpoint!;
    expect(e).toMatchObject({ VpcEndpointType: 'Gateway', RouteTableIds: [table], SubnetIds: [], NetworkInterfaceIds: [] });
    // no acceptance for a public service: pending, then available (Terraform's waitVPCEndpointAvailable)
    expect(['pending', 'available']).toContain(e.State);
    await waitFor(async () => (await endpointState(e.VpcEndpointId!)) === 'available', 5_000, 'gateway endpoint available');
    // the document as given, as AWS shows it (Terraform compares it with what it wrote)
    expect(e.PolicyDocument).toBe(JSON.stringify(policy));
    const routes = (await ec2.consumer.send(new DescribeRouteTablesCommand({ RouteTableIds: [table] }))).RouteTables![0]!.Routes!;
    expect(routes).toContainEqual(expect.objectContaining({ DestinationPrefixListId: PREFIX_LIST, GatewayId: e.VpcEndpointId, State: 'active' }));
    expect(await attempt('127.255.0.10', publicPort, `127.${k}.1.50`)).toBe('relay');

    // a given allow-all document reads back as given (2012-10-17), not as the default (2008-10-17):
    // Terraform's plan after apply showed a Version diff on every gateway endpoint with a policy
    const allowAll = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: '*', Resource: '*' }] };
    await ec2.consumer.send(new ModifyVpcEndpointCommand({ VpcEndpointId: e.VpcEndpointId, PolicyDocument: JSON.stringify(allowAll) }));
    const given = (await ec2.consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [e.VpcEndpointId!] }))).VpcEndpoints![0]!;
    expect(JSON.parse(given.PolicyDocument!)).toEqual(allowAll);
    // ResetPolicy: the default document again
    expect((await ec2.consumer.send(new ModifyVpcEndpointCommand({ VpcEndpointId: e.VpcEndpointId, ResetPolicy: true }))).Return).toBe(true);
    const reset = (await ec2.consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [e.VpcEndpointId!] }))).VpcEndpoints![0]!;
    expect(JSON.parse(reset.PolicyDocument!)).toEqual({ Version: '2008-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: '*', Resource: '*' }] });
    // RemoveRouteTableIds takes the route away, and the traffic with it
    await ec2.consumer.send(new ModifyVpcEndpointCommand({ VpcEndpointId: e.VpcEndpointId, RemoveRouteTableIds: [table] }));
    const after = (await ec2.consumer.send(new DescribeRouteTablesCommand({ RouteTableIds: [table] }))).RouteTables![0]!.Routes!;
    expect(after.some((r) => r.GatewayId === e.VpcEndpointId)).toBe(false);
    expect(await attempt('127.255.0.10', publicPort, `127.${k}.1.50`)).not.toBe('relay');
    await ec2.consumer.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [e.VpcEndpointId!] }));
  });

  it('a policy document written with CRLF reads back byte for byte through the SDK (its CRs were read back as LF: XML end-of-line handling)', async () => {
    const [main] = (await ec2.consumer.send(new DescribeRouteTablesCommand({
      Filters: [{ Name: 'vpc-id', Values: ['vpc-client'] }, { Name: 'association.main', Values: ['true'] }],
    }))).RouteTables!;
    const written = '{\r\n  "Version": "2012-10-17",\r\n  "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]\r\n}\r';
    const e = (await ec2.consumer.send(new CreateVpcEndpointCommand({
      VpcId: 'vpc-client', ServiceName: `com.amazonaws.${REGION}.s3`, RouteTableIds: [main!.RouteTableId!], PolicyDocument: written,
    }))).VpcEndpoint!;
    expect(e.PolicyDocument).toBe(written);
    expect((await ec2.consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [e.VpcEndpointId!] }))).VpcEndpoints![0]!.PolicyDocument).toBe(written);
    await ec2.consumer.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [e.VpcEndpointId!] }));
  });

  it('a policy naming an account by its AWS id (Principal arn:aws:iam::<id>:root, aws:PrincipalAccount) matches that account\'s connections (were reset: compared with its domain id)', async () => {
    const [main] = (await ec2.consumer.send(new DescribeRouteTablesCommand({
      Filters: [{ Name: 'vpc-id', Values: ['vpc-client'] }, { Name: 'association.main', Values: ['true'] }],
    }))).RouteTables!;
    const document = (statement: Record<string, unknown>) => JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*', ...statement }] });
    const own = `arn:aws:iam::${KEYS.consumer.account_id}:root`;
    const e = (await ec2.consumer.send(new CreateVpcEndpointCommand({
      VpcId: 'vpc-client', ServiceName: `com.amazonaws.${REGION}.s3`, RouteTableIds: [main!.RouteTableId!], PolicyDocument: document({ Principal: { AWS: own } }),
    }))).VpcEndpoint!;
    await waitFor(async () => (await endpointState(e.VpcEndpointId!)) === 'available', 5_000, 'gateway endpoint available');
    expect(JSON.parse(e.PolicyDocument!).Statement[0].Principal).toEqual({ AWS: own });
    expect(await attempt('127.255.0.10', publicPort, `127.${k}.1.50`)).toBe('relay');
    // a document with an Id, a Condition in AWS's keys and white space reads back byte for byte (its
    // keys were shown renamed, its Id dropped: Terraform planned a change after every apply)
    const written = `{\n  "Version": "2012-10-17",\n  "Id": "keep-me",\n  "Statement": [{"Sid": "A", "Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*",\n    "Condition": {"StringEquals": {"aws:SourceVpc": "vpc-client", "aws:PrincipalAccount": "${KEYS.consumer.account_id}"}}}]\n}`;
    await ec2.consumer.send(new ModifyVpcEndpointCommand({ VpcEndpointId: e.VpcEndpointId, PolicyDocument: written }));
    expect((await ec2.consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [e.VpcEndpointId!] }))).VpcEndpoints![0]!.PolicyDocument).toBe(written);
    expect(await attempt('127.255.0.10', publicPort, `127.${k}.1.50`)).toBe('relay');
    // AWS's size limit counts white space: a document of few statements padded past 20,480 characters is refused, nothing changed
    const padded = `{"Version": "2012-10-17",${' '.repeat(20_500)}"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}`;
    expect(padded.length).toBeGreaterThan(20_480);
    expect(await refused(ec2.consumer.send(new ModifyVpcEndpointCommand({ VpcEndpointId: e.VpcEndpointId, PolicyDocument: padded })))).toMatchObject({ code: 'InvalidPolicyDocument', status: 400 });
    const badVersion = JSON.stringify({ Version: 'banana', Statement: [{ Effect: 'Allow', Principal: '*', Action: '*', Resource: '*' }] });
    expect(await refused(ec2.consumer.send(new ModifyVpcEndpointCommand({ VpcEndpointId: e.VpcEndpointId, PolicyDocument: badVersion })))).toMatchObject({ code: 'InvalidPolicyDocument', status: 400 });
    expect((await ec2.consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [e.VpcEndpointId!] }))).VpcEndpoints![0]!.PolicyDocument).toBe(written);
    // through the Huawei API the policy is its statements; set there, the EC2 API shows them as a document of its own
    const huaweiSet = await d.consumer.put(`/vpc-endpoints/${e.VpcEndpointId}/policy`, { policy_statement: [{ Effect: 'Allow', Action: ['*'], Resource: ['*'], Principal: { ID: [CONSUMER.domain_id] } }] });
    expect(huaweiSet.status, JSON.stringify(huaweiSet.body)).toBe(200);
    expect(JSON.parse((await ec2.consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [e.VpcEndpointId!] }))).VpcEndpoints![0]!.PolicyDocument!).Statement[0].Principal).toEqual({ AWS: [own] });
    // a domain id of no account here (the Huawei API takes any): under ID, and the document shown is taken back as it is
    // (it was shown under AWS, and ModifyVpcEndpoint refused it as no account id)
    const stranger = '0123456789abcdef0123456789abcdef';
    await d.consumer.put(`/vpc-endpoints/${e.VpcEndpointId}/policy`, { policy_statement: [{ Effect: 'Allow', Action: ['*'], Resource: ['*'], Principal: { ID: [CONSUMER.domain_id, stranger] } }] });
    const shown = (await ec2.consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [e.VpcEndpointId!] }))).VpcEndpoints![0]!.PolicyDocument!;
    expect(JSON.parse(shown).Statement[0].Principal).toEqual({ AWS: [own], ID: [stranger] });
    expect((await ec2.consumer.send(new ModifyVpcEndpointCommand({ VpcEndpointId: e.VpcEndpointId, PolicyDocument: shown }))).Return).toBe(true);
    await ec2.consumer.send(new ModifyVpcEndpointCommand({ VpcEndpointId: e.VpcEndpointId, PolicyDocument: document({ Principal: { AWS: own } }) }));
    // the same account through the Huawei API: its domain id
    expect((await d.consumer.get(`/vpc-endpoints/${e.VpcEndpointId}`)).body.policy_statement[0].Principal).toEqual({ ID: [CONSUMER.domain_id] });
    // another account's AWS id lets nothing through
    await ec2.consumer.send(new ModifyVpcEndpointCommand({ VpcEndpointId: e.VpcEndpointId, PolicyDocument: document({ Principal: { AWS: KEYS.provider.account_id } }) }));
    expect(await attempt('127.255.0.10', publicPort, `127.${k}.1.50`)).not.toBe('relay');
    for (const [operator, account, outcome] of [['StringEquals', KEYS.consumer.account_id, 'relay'], ['StringNotEquals', KEYS.consumer.account_id, 'ECONNRESET'], ['StringEquals', KEYS.provider.account_id, 'ECONNRESET']] as const) {
      await ec2.consumer.send(new ModifyVpcEndpointCommand({
        VpcEndpointId: e.VpcEndpointId, PolicyDocument: document({ Principal: '*', Condition: { [operator]: { 'aws:PrincipalAccount': account } } }),
      }));
      expect(await attempt('127.255.0.10', publicPort, `127.${k}.1.50`), `${operator} ${account}`).toBe(outcome);
    }
    await ec2.consumer.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [e.VpcEndpointId!] }));
  });

  it('a subnet made after the endpoint route routes by it at once, as its trace says (was reset while traced relay, until another change)', async () => {
    const vpc = (await ec2.consumer.send(new CreateVpcCommand({ CidrBlock: '10.40.0.0/16' }))).Vpc!.VpcId!;
    const n = d.daemon.control.routing().vpcs.get(vpc)!.number;
    const [main] = (await ec2.consumer.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc] }] }))).RouteTables!;
    const e = (await ec2.consumer.send(new CreateVpcEndpointCommand({ VpcId: vpc, ServiceName: `com.amazonaws.${REGION}.s3`, RouteTableIds: [main!.RouteTableId!] }))).VpcEndpoint!;
    await waitFor(async () => (await endpointState(e.VpcEndpointId!)) === 'available', 5_000, 'gateway endpoint available');
    const subnet = (await ec2.consumer.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.40.1.0/24' }))).Subnet!.SubnetId!;
    const t = await d.consumer.post('/trace', { vpc_id: vpc, source_ip: '10.40.1.50', destination_ip: '100.125.0.10', destination_port: publicPort });
    expect(t.body.trace).toMatchObject({ subnet: { id: subnet }, verdict: 'relay', outcome: 'relay' });
    expect(await attempt('127.255.0.10', publicPort, `127.${n}.1.50`)).toBe('relay');
    await ec2.consumer.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [e.VpcEndpointId!] }));
    await ec2.consumer.send(new DeleteSubnetCommand({ SubnetId: subnet }));
    await waitFor(() => ec2.consumer.send(new DeleteVpcCommand({ VpcId: vpc })).then(() => true, () => false), 5_000, 'the VPC deleted');
  });

  it('made without RouteTableIds it routes in no table until ModifyVpcEndpoint adds one (Terraform\'s aws_vpc_endpoint_route_table_association)', async () => {
    const [main] = (await ec2.consumer.send(new DescribeRouteTablesCommand({
      Filters: [{ Name: 'vpc-id', Values: ['vpc-client'] }, { Name: 'association.main', Values: ['true'] }],
    }))).RouteTables!;
    const e = (await ec2.consumer.send(new CreateVpcEndpointCommand({ VpcId: 'vpc-client', ServiceName: `com.amazonaws.${REGION}.s3` }))).VpcEndpoint!;
    expect(e.RouteTableIds ?? []).toEqual([]);
    const routesOf = async () => (await ec2.consumer.send(new DescribeRouteTablesCommand({ RouteTableIds: [main!.RouteTableId!] }))).RouteTables![0]!.Routes!;
    expect((await routesOf()).some((r) => r.GatewayId === e.VpcEndpointId)).toBe(false);
    await ec2.consumer.send(new ModifyVpcEndpointCommand({ VpcEndpointId: e.VpcEndpointId, AddRouteTableIds: [main!.RouteTableId!] }));
    expect((await routesOf())).toContainEqual(expect.objectContaining({ DestinationPrefixListId: PREFIX_LIST, GatewayId: e.VpcEndpointId }));
    const [after] = (await ec2.consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [e.VpcEndpointId!] }))).VpcEndpoints!;
    expect(after!.RouteTableIds).toEqual([main!.RouteTableId]);
    await ec2.consumer.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [e.VpcEndpointId!] }));
  });
});

describe('association resources in parallel (Terraform applies them so): every change counts', () => {
  it('two route tables added and removed at once on a gateway endpoint; two security groups on an interface endpoint', async () => {
    const vpc = (await ec2.consumer.send(new CreateVpcCommand({ CidrBlock: '172.23.0.0/16' }))).Vpc!.VpcId!;
    const [a, b] = await Promise.all([1, 2].map(async () => (await ec2.consumer.send(new CreateRouteTableCommand({ VpcId: vpc }))).RouteTable!.RouteTableId!));
    const gw = (await ec2.consumer.send(new CreateVpcEndpointCommand({ VpcId: vpc, ServiceName: `com.amazonaws.${REGION}.s3` }))).VpcEndpoint!.VpcEndpointId!;
    const tables = async () => ((await ec2.consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [gw] }))).VpcEndpoints![0]!.RouteTableIds ?? []).sort();
    const modify = (input: Record<string, string[]>, id = gw) => ec2.consumer.send(new ModifyVpcEndpointCommand({ VpcEndpointId: id, ...input }));
    await Promise.all([modify({ AddRouteTableIds: [a!] }), modify({ AddRouteTableIds: [b!] })]);
    expect(await tables()).toEqual([a, b].sort());
    // the destroy of two aws_vpc_endpoint_route_table_association: one table was left, and Terraform waited for it to go
    await Promise.all([modify({ RemoveRouteTableIds: [a!] }), modify({ RemoveRouteTableIds: [b!] })]);
    expect(await tables()).toEqual([]);
    await ec2.consumer.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [gw] }));

    const svc = await huaweiService();
    await ec2.provider.send(new ModifyVpcEndpointServicePermissionsCommand({ ServiceId: svc.id, AddAllowedPrincipals: [`arn:aws:iam::${KEYS.consumer.account_id}:root`] }));
    const e = (await ec2.consumer.send(new CreateVpcEndpointCommand({ VpcEndpointType: 'Interface', VpcId: 'vpc-client', ServiceName: svc.awsName, SubnetIds: ['subnet-a'] }))).VpcEndpoint!;
    const [defaultGroup] = e.Groups!.map((g) => g.GroupId!);
    const [g1, g2] = await Promise.all(['assoc-1', 'assoc-2'].map(async (name) => (await ec2.consumer.send(new CreateSecurityGroupCommand({ VpcId: 'vpc-client', GroupName: name, Description: name }))).GroupId!));
    const groups = async () => (await ec2.consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [e.VpcEndpointId!] }))).VpcEndpoints![0]!.Groups!.map((g) => g.GroupId).sort();
    await Promise.all([modify({ AddSecurityGroupIds: [g1!] }, e.VpcEndpointId), modify({ AddSecurityGroupIds: [g2!] }, e.VpcEndpointId)]);
    expect(await groups()).toEqual([defaultGroup, g1, g2].sort());
    await Promise.all([modify({ RemoveSecurityGroupIds: [g1!] }, e.VpcEndpointId), modify({ RemoveSecurityGroupIds: [g2!] }, e.VpcEndpointId)]);
    expect(await groups()).toEqual([defaultGroup]);
    expect((await refused(modify({ RemoveSecurityGroupIds: [defaultGroup!] }, e.VpcEndpointId))).code).toBe('InvalidParameter');
    await ec2.consumer.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [e.VpcEndpointId!] }));
    for (const g of [g1, g2]) await ec2.consumer.send(new DeleteSecurityGroupCommand({ GroupId: g }));
    for (const t of [a, b]) await ec2.consumer.send(new DeleteRouteTableCommand({ RouteTableId: t }));
    // the gateway endpoint's deletion finishes after its answer: the VPC goes once it has
    await waitFor(() => ec2.consumer.send(new DeleteVpcCommand({ VpcId: vpc })).then(() => true, () => false), 5_000, 'the VPC deleted');
  });
});

describe('the reads Terraform and the CLI make', () => {
  it('VPCs, attributes, subnets, the default security group and network ACL', async () => {
    const vpcs = (await ec2.consumer.send(new DescribeVpcsCommand({}))).Vpcs!;
    expect(vpcs).toEqual([expect.objectContaining({ VpcId: 'vpc-client', CidrBlock: '10.0.0.0/16', State: 'available', OwnerId: KEYS.consumer.account_id, IsDefault: false })]);
    for (const Attribute of ['enableDnsSupport', 'enableDnsHostnames'] as const) {
      const a = await ec2.consumer.send(new DescribeVpcAttributeCommand({ VpcId: 'vpc-client', Attribute }));
      expect(a[Attribute === 'enableDnsSupport' ? 'EnableDnsSupport' : 'EnableDnsHostnames']).toEqual({ Value: true });
    }
    const subnets = (await ec2.consumer.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: ['vpc-client'] }] }))).Subnets!;
    expect(subnets.map((s) => [s.SubnetId, s.CidrBlock, s.AvailabilityZone])).toEqual([['subnet-a', '10.0.1.0/24', `${REGION}a`], ['subnet-b', '10.0.2.0/29', `${REGION}a`]]);
    const groups = (await ec2.consumer.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'vpc-id', Values: ['vpc-client'] }, { Name: 'group-name', Values: ['default'] }] }))).SecurityGroups!;
    expect(groups).toHaveLength(1);
    expect(groups[0]!.GroupId).toMatch(/^sg-[0-9a-f]{17}$/);
    const acls = (await ec2.consumer.send(new DescribeNetworkAclsCommand({ Filters: [{ Name: 'default', Values: ['true'] }, { Name: 'vpc-id', Values: ['vpc-client'] }] }))).NetworkAcls!;
    expect(acls).toHaveLength(1);
    expect(acls[0]!.Associations!.map((a) => a.SubnetId)).toEqual(['subnet-a', 'subnet-b']);
  });
});

describe('errors: a 4xx in EC2 shape, and nothing changes', () => {
  async function count(): Promise<number> {
    return (await ec2.consumer.send(new DescribeVpcEndpointsCommand({}))).VpcEndpoints!.length;
  }

  it('each mistake its code', async () => {
    const svc = await huaweiService();
    await ec2.provider.send(new ModifyVpcEndpointServicePermissionsCommand({ ServiceId: svc.id, AddAllowedPrincipals: [`arn:aws:iam::${KEYS.consumer.account_id}:root`] }));
    const before = await count();
    const create = (input: Record<string, unknown>) => ec2.consumer.send(new CreateVpcEndpointCommand({ VpcEndpointType: 'Interface', VpcId: 'vpc-client', ServiceName: svc.awsName, SubnetIds: ['subnet-a'], ...input }));
    const cases: Array<[string, () => Promise<unknown>, string]> = [
      ['unknown endpoint id', () => ec2.consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: ['vpce-00000000000000000'] })), 'InvalidVpcEndpointId.NotFound'],
      ['modify unknown endpoint', () => ec2.consumer.send(new ModifyVpcEndpointCommand({ VpcEndpointId: 'vpce-00000000000000000', ResetPolicy: true })), 'InvalidVpcEndpointId.NotFound'],
      ['unknown service name', () => create({ ServiceName: `com.amazonaws.vpce.${REGION}.vpce-svc-00000000000000000` }), 'InvalidServiceName'],
      ['no service name', () => create({ ServiceName: undefined }), 'MissingParameter'],
      ['no VPC id', () => create({ VpcId: undefined }), 'MissingParameter'],
      ['unknown VPC', () => create({ VpcId: 'vpc-00000000000000000' }), 'InvalidVpcID.NotFound'],
      ["another account's VPC", () => create({ VpcId: 'vpc-app' }), 'InvalidVpcID.NotFound'],
      ['unknown subnet', () => create({ SubnetIds: ['subnet-00000000000000000'] }), 'InvalidSubnetID.NotFound'],
      ['two subnets of one zone (AWS\'s code)', () => create({ SubnetIds: ['subnet-a', 'subnet-b'] }), 'DuplicateSubnetsInSameZone'],
      ['an unknown security group', () => create({ SecurityGroupIds: ['sg-00000000000000000'] }), 'InvalidGroup.NotFound'],
      ['type that the service does not offer', () => create({ VpcEndpointType: 'Gateway', SubnetIds: undefined }), 'InvalidParameter'],
      ['GatewayLoadBalancer', () => create({ VpcEndpointType: 'GatewayLoadBalancer' }), 'InvalidParameterValue'],
      ['bad tag resource type', () => create({ TagSpecifications: [{ ResourceType: 'vpc', Tags: [{ Key: 'a', Value: 'b' }] }] }), 'InvalidParameterValue'],
      ['unknown filter', () => ec2.consumer.send(new DescribeVpcEndpointsCommand({ Filters: [{ Name: 'colour', Values: ['red'] }] })), 'InvalidParameterValue'],
      ['bad NextToken', () => ec2.consumer.send(new DescribeVpcEndpointsCommand({ NextToken: 'bm9wZQ' })), 'InvalidNextToken'],
      ['bad MaxResults', () => ec2.consumer.send(new DescribeVpcEndpointServiceConfigurationsCommand({ MaxResults: 2 })), 'InvalidParameterValue'],
      ['unknown service id', () => ec2.provider.send(new DescribeVpcEndpointServiceConfigurationsCommand({ ServiceIds: ['vpce-svc-00000000000000000'] })), 'InvalidVpcEndpointServiceId.NotFound'],
      ['permissions of an unknown service', () => ec2.provider.send(new DescribeVpcEndpointServicePermissionsCommand({ ServiceId: 'vpce-svc-00000000000000000' })), 'InvalidVpcEndpointServiceId.NotFound'],
      ['not a principal', () => ec2.provider.send(new ModifyVpcEndpointServicePermissionsCommand({ ServiceId: svc.id, AddAllowedPrincipals: ['prin1'] })), 'InvalidPrincipal'],
      ['an account unknown here', () => ec2.provider.send(new ModifyVpcEndpointServicePermissionsCommand({ ServiceId: svc.id, AddAllowedPrincipals: ['arn:aws:iam::999999999999:root'] })), 'InvalidPrincipal'],
      ['accept on a service not own', () => ec2.consumer.send(new AcceptVpcEndpointConnectionsCommand({ ServiceId: svc.id, VpcEndpointIds: ['vpce-00000000000000000'] })), 'InvalidVpcEndpointServiceId.NotFound'],
      ['no VpcEndpointId to delete', () => ec2.consumer.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [] })), 'MissingParameter'],
      ['bad policy document', () => create({ VpcEndpointType: 'Gateway', ServiceName: `com.amazonaws.${REGION}.s3`, SubnetIds: undefined, PolicyDocument: '{not json' }), 'InvalidPolicyDocument'],
      ['unknown VPC attribute', () => ec2.consumer.send(new DescribeVpcAttributeCommand({ VpcId: 'vpc-client', Attribute: 'colour' as never })), 'InvalidParameterValue'],
      ['unknown ENI', () => ec2.consumer.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: ['eni-00000000000000000'] })), 'InvalidNetworkInterfaceID.NotFound'],
      ['unknown route table', () => ec2.consumer.send(new DescribeRouteTablesCommand({ RouteTableIds: ['rtb-00000000000000000'] })), 'InvalidRouteTableID.NotFound'],
      ['unknown prefix list', () => ec2.consumer.send(new DescribePrefixListsCommand({ PrefixListIds: ['pl-00000000'] })), 'InvalidPrefixListID.NotFound'],
      // an id that cannot be of its kind is Malformed, as EC2 answers it (was NotFound)
      ['malformed endpoint id', () => ec2.consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: ['vpce-xyz'] })), 'InvalidVpcEndpointId.Malformed'],
      ['modify a malformed endpoint id', () => ec2.consumer.send(new ModifyVpcEndpointCommand({ VpcEndpointId: 'vpce-xyz', ResetPolicy: true })), 'InvalidVpcEndpointId.Malformed'],
      ['malformed group id', () => ec2.consumer.send(new DescribeSecurityGroupsCommand({ GroupIds: ['sg-xyz'] })), 'InvalidGroupId.Malformed'],
      ['malformed ENI id', () => ec2.consumer.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: ['eni-xyz'] })), 'InvalidNetworkInterfaceId.Malformed'],
      ['a VPC id without vpc-', () => ec2.consumer.send(new DescribeVpcsCommand({ VpcIds: ['xyz'] })), 'InvalidVpcID.Malformed'],
      ['a subnet id without subnet-', () => ec2.consumer.send(new DescribeSubnetsCommand({ SubnetIds: ['xyz'] })), 'InvalidSubnetID.Malformed'],
      ['a route table id without rtb-', () => ec2.consumer.send(new DescribeRouteTablesCommand({ RouteTableIds: ['xyz'] })), 'InvalidRouteTableId.Malformed'],
    ];
    const got = [];
    for (const [what, call] of cases) got.push([what, await refused(call())] as const);
    expect(got.map(([what, r]) => [what, r.code, r.status])).toEqual(cases.map(([what, , code]) => [what, code, 400]));
    for (const [, r] of got) expect(r.message).not.toMatch(/^\s*$|<html|at .*\.js:\d+/);
    expect(await count()).toBe(before);
    const perms = await ec2.provider.send(new DescribeVpcEndpointServicePermissionsCommand({ ServiceId: svc.id }));
    expect(perms.AllowedPrincipals!.map((p) => p.Principal)).toEqual([`arn:aws:iam::${KEYS.consumer.account_id}:root`]);
  });
});

describe('describe filters, paging, idempotency and what ModifyVpcEndpoint refuses', () => {
  it('filters by tag, state and type; MaxResults pages; a ClientToken makes one endpoint', async () => {
    const svc = await huaweiService();
    await ec2.provider.send(new ModifyVpcEndpointServicePermissionsCommand({ ServiceId: svc.id, AddAllowedPrincipals: [`arn:aws:iam::${KEYS.consumer.account_id}:root`] }));
    const input = { VpcEndpointType: 'Interface' as const, VpcId: 'vpc-client', ServiceName: svc.awsName, SubnetIds: ['subnet-a'], ClientToken: 'token-one' };
    const first = (await ec2.consumer.send(new CreateVpcEndpointCommand({ ...input, TagSpecifications: [{ ResourceType: 'vpc-endpoint', Tags: [{ Key: 'team', Value: 'blue' }] }] }))).VpcEndpoint!;
    const again = (await ec2.consumer.send(new CreateVpcEndpointCommand({ ...input, TagSpecifications: [{ ResourceType: 'vpc-endpoint', Tags: [{ Key: 'team', Value: 'blue' }] }] }))).VpcEndpoint!;
    expect(again.VpcEndpointId).toBe(first.VpcEndpointId);
    expect((await refused(ec2.consumer.send(new CreateVpcEndpointCommand({ ...input, SubnetIds: ['subnet-b'] })))).code).toBe('IdempotentParameterMismatch');
    const second = (await ec2.consumer.send(new CreateVpcEndpointCommand({ ...input, ClientToken: undefined, SubnetIds: ['subnet-b'] }))).VpcEndpoint!;

    const ids = (filters: { Name: string; Values: string[] }[]) => ec2.consumer.send(new DescribeVpcEndpointsCommand({ Filters: filters }))
      .then((o) => o.VpcEndpoints!.map((e) => e.VpcEndpointId).sort());
    expect(await ids([{ Name: 'tag:team', Values: ['blue'] }])).toEqual([first.VpcEndpointId]);
    expect(await ids([{ Name: 'tag-key', Values: ['team'] }, { Name: 'vpc-endpoint-state', Values: ['pendingAcceptance'] }])).toEqual([first.VpcEndpointId]);
    expect(await ids([{ Name: 'service-name', Values: [svc.awsName] }])).toEqual([first.VpcEndpointId, second.VpcEndpointId].sort());
    expect(await ids([{ Name: 'service-name', Values: [svc.awsName] }, { Name: 'vpc-endpoint-type', Values: ['Gateway'] }])).toEqual([]);

    const pages: string[][] = [];
    let NextToken: string | undefined;
    do {
      const out = await ec2.consumer.send(new DescribeVpcEndpointsCommand({ Filters: [{ Name: 'service-name', Values: [svc.awsName] }], MaxResults: 1, NextToken }));
      pages.push(out.VpcEndpoints!.map((e) => e.VpcEndpointId!));
      NextToken = out.NextToken;
    } while (NextToken);
    const both = [first.VpcEndpointId!, second.VpcEndpointId!].sort();
    expect(pages).toEqual([[both[0]], [both[1]]]);
    // a token names its listing: DescribeVpcEndpoints' is no token of DescribeVpcs' (it listed what sorted after its key)
    const token = (await ec2.consumer.send(new DescribeVpcEndpointsCommand({ Filters: [{ Name: 'service-name', Values: [svc.awsName] }], MaxResults: 1 }))).NextToken;
    expect(token).toBeDefined();
    expect((await refused(ec2.consumer.send(new DescribeVpcsCommand({ MaxResults: 5, NextToken: token })))).code).toBe('InvalidNextToken');

    // refused changes move nothing: subnet-b is in subnet-a's zone (one subnet per zone), a gateway's route table, ...
    const modify = (extra: Record<string, unknown>) => refused(ec2.consumer.send(new ModifyVpcEndpointCommand({ VpcEndpointId: first.VpcEndpointId, ...extra })));
    expect((await modify({ AddSubnetIds: ['subnet-b'] })).code).toBe('DuplicateSubnetsInSameZone');
    expect((await modify({ AddRouteTableIds: ['rtb-00000000000000000'] })).code).toBe('InvalidParameter');
    expect((await modify({ AddSecurityGroupIds: ['sg-00000000000000000'] })).code).toBe('InvalidGroup.NotFound');
    expect((await modify({ ResetPolicy: true, PolicyDocument: '{}' })).code).toBe('InvalidParameterCombination');
    const same = (await ec2.consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [first.VpcEndpointId!] }))).VpcEndpoints![0]!;
    expect(same).toMatchObject({ SubnetIds: ['subnet-a'], RouteTableIds: [], Groups: first.Groups });
    // what it already is: accepted as it is (Terraform sends it)
    expect((await ec2.consumer.send(new ModifyVpcEndpointCommand({ VpcEndpointId: first.VpcEndpointId, AddSubnetIds: ['subnet-a'], ResetPolicy: true }))).Return).toBe(true);
    await ec2.consumer.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [first.VpcEndpointId!, second.VpcEndpointId!] }));
  });
});

describe('a third account sees none of it', () => {
  it('no services, endpoints, connections, VPCs or ENIs of others; their ids do not exist for it', async () => {
    const svc = await huaweiService();
    await ec2.provider.send(new ModifyVpcEndpointServicePermissionsCommand({ ServiceId: svc.id, AddAllowedPrincipals: [`arn:aws:iam::${KEYS.consumer.account_id}:root`] }));
    const e = (await ec2.consumer.send(new CreateVpcEndpointCommand({ VpcEndpointType: 'Interface', VpcId: 'vpc-client', ServiceName: svc.awsName, SubnetIds: ['subnet-a'] }))).VpcEndpoint!;
    const s = ec2.stranger;
    expect((await s.send(new DescribeVpcEndpointsCommand({}))).VpcEndpoints).toEqual([]);
    expect((await s.send(new DescribeVpcEndpointServiceConfigurationsCommand({}))).ServiceConfigurations).toEqual([]);
    expect((await s.send(new DescribeVpcEndpointConnectionsCommand({}))).VpcEndpointConnections).toEqual([]);
    expect((await s.send(new DescribeVpcEndpointServicesCommand({}))).ServiceNames).toEqual([`com.amazonaws.${REGION}.s3`]);
    expect((await s.send(new DescribeVpcsCommand({}))).Vpcs).toEqual([]);
    expect((await s.send(new DescribeNetworkInterfacesCommand({}))).NetworkInterfaces).toEqual([]);
    expect((await refused(s.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [e.VpcEndpointId!] })))).code).toBe('InvalidVpcEndpointId.NotFound');
    expect((await refused(s.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: e.NetworkInterfaceIds })))).code).toBe('InvalidNetworkInterfaceID.NotFound');
    expect((await refused(s.send(new AcceptVpcEndpointConnectionsCommand({ ServiceId: svc.id, VpcEndpointIds: [e.VpcEndpointId!] })))).code).toBe('InvalidVpcEndpointServiceId.NotFound');
    expect((await refused(s.send(new CreateVpcEndpointCommand({ VpcEndpointType: 'Interface', VpcId: 'vpc-client', ServiceName: svc.awsName, SubnetIds: ['subnet-a'] })))).code).toBe('InvalidServiceName');
    const del = await s.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [e.VpcEndpointId!] }));
    expect(del.Unsuccessful!.map((u) => u.Error?.Code)).toEqual(['InvalidVpcEndpoint.NotFound']);
    expect(await endpointState(e.VpcEndpointId!)).toBe('pendingAcceptance');
    await ec2.consumer.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [e.VpcEndpointId!] }));
  });
});

describe('across a restart', () => {
  it('an endpoint made through the EC2 API keeps its vpce id, ENI, address and state, and relays again', async () => {
    const dir = tempDir();
    const p2 = port + 2;
    const config = twoAccountConfig({ accounts: [{ ...PROVIDER, aws: KEYS.provider }, { ...CONSUMER, aws: KEYS.consumer }] });
    const client = (daemon: TestDaemon, key: { access_key_id: string; secret_access_key: string }) => new EC2Client({
      region: REGION, endpoint: daemon.url, maxAttempts: 1, credentials: { accessKeyId: key.access_key_id, secretAccessKey: key.secret_access_key },
    });
    let first: TestDaemon | undefined = await startTestDaemon(config, dir);
    let second: TestDaemon | undefined;
    try {
      const svc = await first.provider.post('/vpc-endpoint-services', { ...SERVICE_BODY, approval_enabled: false, ports: [{ client_port: p2, server_port: backend.port, protocol: 'TCP' }] });
      expect(svc.status, JSON.stringify(svc.body)).toBe(200);
      await waitFor(async () => (await first!.provider.get(`/vpc-endpoint-services/${svc.body.id}`)).body.status === 'available', 5_000, 'service available');
      const provider = client(first, KEYS.provider);
      await provider.send(new ModifyVpcEndpointServicePermissionsCommand({ ServiceId: svc.body.id, AddAllowedPrincipals: [`arn:aws:iam::${KEYS.consumer.account_id}:root`] }));
      provider.destroy();
      const consumer = client(first, KEYS.consumer);
      const made = (await consumer.send(new CreateVpcEndpointCommand({
        VpcEndpointType: 'Interface', VpcId: 'vpc-client', ServiceName: `com.amazonaws.vpce.${REGION}.${svc.body.id}`, SubnetIds: ['subnet-a'],
      }))).VpcEndpoint!;
      await waitFor(async () => (await consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [made.VpcEndpointId!] }))).VpcEndpoints![0]!.State as string === 'available', 5_000, 'available');
      const ip = (await consumer.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: made.NetworkInterfaceIds }))).NetworkInterfaces![0]!.PrivateIpAddress!;
      consumer.destroy();
      const kk = first.daemon.control.routing().vpcs.get('vpc-client')!.number;
      await first.stop();
      first = undefined;

      second = await startTestDaemon(config, dir);
      const again = client(second, KEYS.consumer);
      const after = (await again.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [made.VpcEndpointId!] }))).VpcEndpoints![0]!;
      expect(after).toMatchObject({ VpcEndpointId: made.VpcEndpointId, State: 'available', NetworkInterfaceIds: made.NetworkInterfaceIds, SubnetIds: ['subnet-a'] });
      const eni = (await again.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: made.NetworkInterfaceIds }))).NetworkInterfaces![0]!;
      expect(eni.PrivateIpAddress).toBe(ip);
      expect(await attempt(hostAddress(kk, ipToInt(ip)), p2, `127.${kk}.1.51`)).toBe('relay');
      await again.send(new DeleteVpcEndpointsCommand({ VpcEndpointIds: [made.VpcEndpointId!] }));
      again.destroy();
    } finally {
      await first?.stop();
      await second?.stop();
    }
  });
});

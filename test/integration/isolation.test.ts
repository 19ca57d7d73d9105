// VPC isolation on the data plane (issue 10 item 3), with real sockets bound to the clients'
// host addresses: 127.2.c.d is vpc-client (the consumer's), 127.1.c.d vpc-app and 127.3.c.d
// vpc-provider-client (the provider's), 127.0.0.1 the host (an on-premises client). Runs with both
// relays (npm run test:js-relay).
import { execFile } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CONSUMER, PROVIDER, ROOT, SERVICE_BODY, metricValue, startTestDaemon, twoAccountConfig, waitFor, type TestDaemon,
} from '../helpers.js';
import { echo, randomPort, startBackend, type TestBackend } from './backends.js';
import { AWS_KEYS, ec2Clients } from './aws-sdk.js';
import {
  AuthorizeSecurityGroupIngressCommand, CreateNetworkAclCommand, CreateNetworkAclEntryCommand, CreateSecurityGroupCommand, CreateSubnetCommand, CreateVpcCommand, CreateVpcEndpointCommand,
  DescribeNetworkAclsCommand, ReplaceNetworkAclAssociationCommand,
} from '@aws-sdk/client-ec2';

const daemons = new Set<TestDaemon>();
const backends = new Set<TestBackend>();
afterEach(async () => {
  for (const b of backends) await b.close();
  backends.clear();
  for (const d of daemons) await d.stop();
  daemons.clear();
});

/** the provider's echo service without approval, the consumer permitted; its client port */
async function echoService(d: TestDaemon): Promise<{ svc: any; port: number }> {
  const backend = await startBackend(echo);
  backends.add(backend);
  const port = randomPort();
  const svc = await d.provider.post('/vpc-endpoint-services', { ...SERVICE_BODY, approval_enabled: false, ports: [{ client_port: port, server_port: backend.port, protocol: 'TCP' }] });
  expect(svc.status).toBe(200);
  await waitFor(async () => (await d.provider.get(`/vpc-endpoint-services/${svc.body.id}`)).body.status === 'available', 5_000, 'service available');
  expect((await d.provider.post(`/vpc-endpoint-services/${svc.body.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] })).status).toBe(200);
  return { svc: svc.body, port };
}

/** a daemon with an echo service and an accepted endpoint of the consumer in vpc-client (127.2.1.2) */
async function world(dataplane: Record<string, unknown> = {}): Promise<{ d: TestDaemon; ep: any; port: number }> {
  const d = await startTestDaemon(twoAccountConfig({ dataplane }));
  daemons.add(d);
  const { svc, port } = await echoService(d);
  const created = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: svc.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
  expect(created.status).toBe(200);
  const ep = await waitFor(async () => {
    const r = await d.consumer.get(`/vpc-endpoints/${created.body.id}`);
    return r.body.status === 'accepted' ? r.body : null;
  }, 5_000, 'endpoint accepted');
  return { d, ep, port };
}

/** 'relayed' when bytes round-trip through the endpoint, else how the connection ended */
function attempt(host: string, port: number, localAddress: string | undefined): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, localAddress });
    const done = (r: string) => { s.destroy(); resolve(r); };
    s.on('connect', () => s.write('ping'));
    s.on('data', (b) => done(String(b) === 'ping' ? 'relayed' : `got ${String(b)}`));
    s.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
    s.on('close', () => done('closed'));
  });
}

const rejected = async (d: TestDaemon, ep: any, reason: string) =>
  (await metricValue(d.url, 'vpcep_endpoint_rejected_connections_total', { endpoint_id: ep.id, reason })) ?? 0;

describe('VPC isolation', () => {
  it('a client of another VPC (another account\'s or the provider\'s) reaches no interface endpoint: reset, counted as vpc', async () => {
    const { d, ep, port } = await world();
    expect(await attempt(ep.host_ip, port, '127.2.1.50')).toBe('relayed'); // its own VPC
    expect(await attempt(ep.host_ip, port, '127.3.1.50')).toBe('ECONNRESET'); // vpc-provider-client: same CIDR, another VPC
    expect(await attempt(ep.host_ip, port, '127.1.24.7')).toBe('ECONNRESET'); // vpc-app, the provider's
    expect(await rejected(d, ep, 'vpc')).toBe(2);
    // on-premises clients (outside every VPC) are allowed by default
    expect(await attempt(ep.host_ip, port, '127.0.0.1')).toBe('relayed');
    expect(await attempt(ep.host_ip, port, '127.9.0.1')).toBe('relayed'); // no VPC is numbered 9
    expect(await rejected(d, ep, 'on_premises')).toBe(0);
    await waitFor(async () => (await metricValue(d.url, 'vpcep_endpoint_active_connections', { endpoint_id: ep.id })) === 0, 2_000, 'no connection left');
  });

  it('dataplane.on_premises: deny refuses a client outside every VPC (127.0.0.1), counted as on_premises; the endpoint\'s VPC still relays', async () => {
    const { d, ep, port } = await world({ on_premises: 'deny' });
    expect(await attempt(ep.host_ip, port, '127.0.0.1')).toBe('ECONNRESET');
    expect(await attempt(ep.host_ip, port, '127.2.1.50')).toBe('relayed');
    expect(await rejected(d, ep, 'on_premises')).toBe(1);
    expect(await rejected(d, ep, 'vpc')).toBe(0);
  });

  it('the path tracer names the isolation rule that decided, without another account\'s ids', async () => {
    const { d, ep, port } = await world();
    const own = await d.consumer.post('/trace', { vpc_id: 'vpc-client', source_ip: '10.0.1.50', destination_ip: ep.ip, destination_port: port });
    expect(own.status, JSON.stringify(own.body)).toBe(200);
    expect(own.body.trace).toMatchObject({
      vpc_id: 'vpc-client', target_type: 'interface_endpoint', endpoint: { id: ep.id, status: 'accepted' },
      isolation: { allowed: true, rule: 'isolation: client VPC vpc-client is the endpoint\'s VPC' },
      verdict: 'relay', reason: `relayed through interface endpoint ${ep.id}`,
    });
    const other = await d.provider.post('/trace', { vpc_id: 'vpc-provider-client', source_ip: '10.0.1.50', destination_ip: ep.host_ip, destination_port: port });
    expect(other.body.trace).toMatchObject({
      target_type: 'interface_endpoint', endpoint: null, verdict: 'refuse',
      reason: 'isolation: client VPC vpc-provider-client is not the endpoint\'s VPC of another account',
    });
    expect(other.body.trace).toMatchObject({ service: null, cap: null, backend_source: null });
    expect(JSON.stringify(other.body)).not.toContain(ep.id);
    // on premises, another account's endpoint: isolation allows; the rest is its owner's to trace
    const foreign = await d.provider.post('/trace', { source_ip: '192.0.2.10', destination_ip: ep.host_ip, destination_port: port });
    expect(foreign.body.trace).toMatchObject({ endpoint: null, service: null, verdict: 'relay', reason: 'relayed through another account\'s interface endpoint' });
    expect(JSON.stringify(foreign.body)).not.toContain(ep.id);
    const onPrem = await d.consumer.post('/trace', { source_ip: '192.0.2.10', destination_ip: ep.host_ip, destination_port: port });
    expect(onPrem.status, JSON.stringify(onPrem.body)).toBe(200);
    expect(onPrem.body.trace).toMatchObject({
      vpc_id: null, verdict: 'relay', isolation: { allowed: true, rule: 'isolation: an on-premises client (outside every VPC) is allowed (dataplane.on_premises: allow)' },
    });
  });

  it('vpcep trace without --vpc-id traces an on-premises client; with on_premises: deny it says the rule refused it', async () => {
    const { d, ep, port } = await world({ on_premises: 'deny' });
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, [path.join(ROOT, 'bin/vpcep.js'), '--url', d.url, '--token', CONSUMER.token, '--project', CONSUMER.project_id,
        'trace', '--source', '192.0.2.10', '--destination', ep.host_ip, '--port', String(port)], { timeout: 15_000 },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
    });
    expect(out).toContain('isolation: an on-premises client (outside every VPC) is refused (dataplane.on_premises: deny)');
    expect(out).toMatch(/verdict\s.*refuse/);
    // another account's VPC is not the caller's to trace from
    const bad = await d.provider.post('/trace', { vpc_id: 'vpc-client', source_ip: '10.0.1.5', destination_ip: ep.host_ip, destination_port: port });
    expect(bad.status).toBe(404);
  });
});

describe('the path tracer and another account\'s endpoint', () => {
  it('shows no more than a connect does: no ENI address or zone, no security group or network ACL rules (before: the ACL\'s were shown); where nothing listens, no endpoint at all', async () => {
    const d = await startTestDaemon(twoAccountConfig({ accounts: [{ ...PROVIDER, aws: AWS_KEYS.provider }, { ...CONSUMER, aws: AWS_KEYS.consumer }] }));
    daemons.add(d);
    const { svc, port } = await echoService(d);
    // the consumer's endpoint in a VPC made through the EC2 API (VPC 4), behind a security group of its own
    const { consumer } = ec2Clients(d.url, { consumer: AWS_KEYS.consumer });
    const vpc = (await consumer.send(new CreateVpcCommand({ CidrBlock: '10.88.0.0/16' }))).Vpc!;
    const subnet = (await consumer.send(new CreateSubnetCommand({ VpcId: vpc.VpcId, CidrBlock: '10.88.3.0/24', AvailabilityZone: 'us-east-1a' }))).Subnet!;
    const sg = await consumer.send(new CreateSecurityGroupCommand({ VpcId: vpc.VpcId, GroupName: 'secret-rules', Description: 'x' }));
    await consumer.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: sg.GroupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: port, ToPort: port, IpRanges: [{ CidrIp: '10.88.3.0/27' }] }] }));
    // and a network ACL of its subnet's: rules of its own addresses, the rest allowed both ways
    const acl = (await consumer.send(new CreateNetworkAclCommand({ VpcId: vpc.VpcId }))).NetworkAcl!.NetworkAclId!;
    for (const egress of [false, true]) {
      await consumer.send(new CreateNetworkAclEntryCommand({ NetworkAclId: acl, RuleNumber: 90, Egress: egress, Protocol: '-1', RuleAction: 'deny', CidrBlock: '10.88.3.128/25' }));
      await consumer.send(new CreateNetworkAclEntryCommand({ NetworkAclId: acl, RuleNumber: 100, Egress: egress, Protocol: '-1', RuleAction: 'allow', CidrBlock: '0.0.0.0/0' }));
    }
    const [def] = (await consumer.send(new DescribeNetworkAclsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpc.VpcId!] }, { Name: 'default', Values: ['true'] }] }))).NetworkAcls!;
    await consumer.send(new ReplaceNetworkAclAssociationCommand({ AssociationId: def!.Associations![0]!.NetworkAclAssociationId, NetworkAclId: acl }));
    const made = (await consumer.send(new CreateVpcEndpointCommand({
      VpcEndpointType: 'Interface', VpcId: vpc.VpcId, ServiceName: `com.amazonaws.vpce.us-east-1.${svc.id}`, SubnetIds: [subnet.SubnetId!], SecurityGroupIds: [sg.GroupId!],
    }))).VpcEndpoint!;
    consumer.destroy();
    const ep = await waitFor(async () => {
      const r = await d.consumer.get(`/vpc-endpoints/${made.VpcEndpointId}`);
      return r.body.status === 'accepted' ? r.body : null;
    }, 5_000, 'endpoint accepted');
    expect(ep.ip).toBe('10.88.3.4');
    // its owner sees everything
    const own = (await d.consumer.post('/trace', { source_ip: '192.0.2.10', destination_ip: ep.host_ip, destination_port: port })).body.trace;
    expect(own).toMatchObject({
      eni: { ip: '10.88.3.4', zone: 'sim-1a' }, security_group: { rules: [`tcp ${port} from 10.88.3.0/27`] }, network_acl: { rules: ['deny tcp 0-65535 from 10.88.3.128/25', 'allow tcp 0-65535 from 0.0.0.0/0'] },
      outcome: 'reset', refusal: 'security_group',
    });

    // another account: what a connect shows (the listener resets it), nothing of the endpoint's own
    expect(await attempt(ep.host_ip, port, '127.3.1.50')).toBe('ECONNRESET');
    expect(await attempt(ep.host_ip, port, '127.0.0.1')).toBe('ECONNRESET');
    for (const body of [
      { vpc_id: 'vpc-provider-client', source_ip: '10.0.1.50', destination_ip: ep.host_ip, destination_port: port },
      { source_ip: '192.0.2.10', destination_ip: ep.host_ip, destination_port: port },
    ]) {
      const r = await d.provider.post('/trace', body);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.trace).toMatchObject({ target_type: 'interface_endpoint', endpoint: null, verdict: 'refuse', outcome: 'reset' });
      expect(r.body.trace).not.toHaveProperty('eni');
      expect(r.body.trace).not.toHaveProperty('security_group');
      expect(r.body.trace).not.toHaveProperty('network_acl');
      const text = JSON.stringify(r.body);
      for (const secret of [ep.id, '10.88.', 'sim-1a', sg.GroupId!, 'secret-rules']) expect(text).not.toContain(secret);
    }

    // a port the service has not: the connect is refused as where nothing is, and so is the trace
    const free = port === 65000 ? 65001 : 65000;
    expect(await attempt(ep.host_ip, free, '127.0.0.1')).toBe('ECONNREFUSED');
    const nowhere = '127.4.3.200';
    for (const [dst, vpcId, src] of [[ep.host_ip, 'vpc-provider-client', '10.0.1.50'], [nowhere, 'vpc-provider-client', '10.0.1.50'], [ep.host_ip, undefined, '192.0.2.10'], [nowhere, undefined, '192.0.2.10']] as const) {
      const r = (await d.provider.post('/trace', { ...(vpcId ? { vpc_id: vpcId } : {}), source_ip: src, destination_ip: dst, destination_port: free })).body.trace;
      const twin = (await d.provider.post('/trace', { ...(vpcId ? { vpc_id: vpcId } : {}), source_ip: src, destination_ip: dst === nowhere ? ep.host_ip : nowhere, destination_port: free })).body.trace;
      expect(r.target_type).toBe('none');
      expect(JSON.stringify(r).replaceAll(dst, 'X')).toBe(JSON.stringify(twin).replaceAll(dst === nowhere ? ep.host_ip : nowhere, 'X'));
    }
  });
});

describe('DNS: another account\'s names', () => {
  it('an account publishes no record at the cloud\'s names (another account\'s endpoint names): refused, nothing answered', async () => {
    const { d, ep } = await world();
    expect((await d.consumer.put(`/vpc-endpoints/${ep.id}`, { enable_dns: true })).status).toBe(200);
    const names: string[] = (await d.consumer.get(`/vpc-endpoints/${ep.id}`)).body.dns_names;
    expect(names.length).toBeGreaterThan(0);
    const port = d.daemon.dnsAddress!.port;
    const txt = async (name: string, from: string) => {
      const r = new Resolver({ timeout: 3_000, tries: 1 });
      r.setLocalAddress(from);
      r.setServers([`127.0.0.1:${port}`]);
      return r.resolveTxt(name).then((v) => v.flat(), (e: NodeJS.ErrnoException) => e.code);
    };
    const before = (await d.provider.get('/sim/dns/records')).body.records;
    for (const name of [...names, `${ep.id}.vpce.amazonaws.com`, 'x.vpcep.sim-1.internal', 'ep-1.privatelink.aliyuncs.com']) {
      const r = await d.provider.post('/sim/dns/records', { name, type: 'TXT', value: 'planted' });
      expect(r, name).toEqual({ status: 400, body: { error_code: 'EndPoint.0002', error_msg: expect.stringMatching(/are the cloud's own$/) } });
    }
    expect((await d.provider.get('/sim/dns/records')).body.records).toEqual(before);
    // in the endpoint's VPC and elsewhere, its name has no TXT record of another account's
    expect(await txt(names[0]!, '127.2.1.50')).toBe('ENODATA');
    expect(await txt(names[0]!, '127.1.24.9')).toBe('ENOTFOUND');
    // the provider's own domain is its to prove
    expect((await d.provider.post('/sim/dns/records', { name: '_proof.api.example.com', type: 'TXT', value: 'vpce:ok' })).status).toBe(200);
    expect(await txt('_proof.api.example.com', '127.1.24.9')).toEqual(['vpce:ok']);
  });
});

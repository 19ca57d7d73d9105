// Listeners that cannot bind: the endpoint or public service that depends on them turns `failed`
// with the reason and its own code, readiness says so, and `vpcep wait` exits 3. Ports below 1024
// are tried by a real vpcepd without CAP_NET_BIND_SERVICE (setpriv drops it from the bounding set).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { CreateVpcEndpointCommand } from '@aws-sdk/client-ec2';
import { afterEach, describe, expect, it } from 'vitest';
import { resourceErrorJson } from '../../src/api/huawei/serialize.js';
import {
  ApiClient, CONSUMER, PROVIDER, ROOT, SERVICE_BODY, spawnDaemon, startTestDaemon, tempDir, twoAccountConfig, waitFor,
  writeConfig, type ChildDaemon, type TestDaemon,
} from '../helpers.js';
import { AWS_KEYS, ec2Clients } from './aws-sdk.js';
import { randomPort } from './backends.js';

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** a listener of the test's own on host:port, holding the address the daemon will want */
async function squat(host: string, port: number): Promise<net.Server> {
  const s = net.createServer();
  await new Promise<void>((resolve, reject) => s.once('error', reject).listen(port, host, () => resolve()));
  cleanups.push(() => new Promise((r) => s.close(r)));
  return s;
}

/** a gateway public service on one address (100.125.P.9/32, at 127.255.P.9) and one port */
function withPublic(third: number, port: number): Record<string, unknown> {
  return twoAccountConfig({
    public_services: [{
      name: 'obs', service_type: 'gateway', prefix_list: { id: 'pl-obs', cidrs: [`100.125.${third}.9/32`] },
      ports: [{ port, target: '127.0.0.1:19000' }],
    }],
  });
}

async function publicService(api: ApiClient): Promise<any> {
  return (await api.get('/vpc-endpoint-services/public')).body.endpoint_services[0];
}

/** an available service of the provider on terminal PORT, open to the consumer, and the consumer's endpoint to it */
async function endpointOn(provider: ApiClient, consumer: ApiClient, port: number, portIp: string): Promise<any> {
  const svc = await provider.post('/vpc-endpoint-services', { ...SERVICE_BODY, approval_enabled: false, ports: [{ client_port: port, server_port: 8080, protocol: 'TCP' }] });
  expect(svc.status).toBe(200);
  await waitFor(async () => (await provider.get(`/vpc-endpoint-services/${svc.body.id}`)).body.status === 'available', 5_000, 'service available');
  await provider.post(`/vpc-endpoint-services/${svc.body.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] });
  const ep = await consumer.post('/vpc-endpoints', { endpoint_service_id: svc.body.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a', port_ip: portIp });
  expect(ep.status).toBe(200);
  return waitFor(async () => {
    const r = await consumer.get(`/vpc-endpoints/${ep.body.id}`);
    return r.body.status === 'failed' || r.body.status === 'accepted' ? r.body : null;
  }, 5_000, 'the endpoint to settle');
}

function vpcepWait(url: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(ROOT, 'bin/vpcep.js'), '--url', url, 'wait', '--timeout', '10'], { timeout: 20_000 }, (err, _o, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr });
    });
  });
}

describe('an address in use', () => {
  let d: TestDaemon;

  it('fails the public service whose listener cannot bind (EndPoint.0012), readiness and vpcep wait say so; it recovers once the address is free', async () => {
    const port = randomPort();
    const holder = await squat('127.255.211.9', port);
    d = await startTestDaemon(withPublic(211, port));
    cleanups.push(() => d.stop());
    const svc = await publicService(d.consumer);
    expect(svc.status).toBe('failed');
    // the control plane's record, as the Huawei API renders its error
    const own = { error: resourceErrorJson(d.daemon.control.publicServices()[0]!.error!) };
    expect(own.error?.error_code).toBe('EndPoint.0012');
    expect(own.error?.error_message).toContain(`cannot listen on 127.255.211.9:${port} for a public service: EADDRINUSE (address in use`);

    expect((await fetch(`${d.url}/`)).status).toBe(200); // the API itself is up
    const ready = await fetch(`${d.url}/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'failed', failed: [{ service: 'sim-1.obs', error_code: 'EndPoint.0012', error_msg: own.error?.error_message }] });
    const waited = await vpcepWait(d.url);
    expect(waited.code).toBe(3);
    expect(waited.stderr).toContain('sim-1.obs: EndPoint.0012: cannot listen on 127.255.211.9');
    // the tracer tells why nothing listens there: the failure's code and reason
    const t = (await d.consumer.post('/trace', { vpc_id: 'vpc-client', source_ip: '10.0.1.50', destination_ip: '100.125.211.9', destination_port: port })).body.trace;
    expect(t).toMatchObject({ outcome: 'connection_refused', listener: { address: `127.255.211.9:${port}`, bound: false } });
    expect(t.listener.why).toBe(`the public service's listener is not bound: EndPoint.0012: ${own.error?.error_message}`);

    // the other daemon (here: the test) lets go: the next convergence binds it
    await new Promise((r) => holder.close(r));
    await d.daemon.control.converge();
    expect((await publicService(d.consumer)).status).toBe('available');
    expect((await fetch(`${d.url}/ready`)).status).toBe(200);
    expect((await vpcepWait(d.url)).code).toBe(0);
  });

  it('fails an interface endpoint whose terminal port is taken on its host address (EndPoint.0012), with the address in the reason', async () => {
    d = await startTestDaemon();
    cleanups.push(() => d.stop());
    const k = (await d.consumer.get('/vpcs')).body.vpcs.find((v: any) => v.id === 'vpc-client').number;
    const port = randomPort();
    await squat(`127.${k}.1.213`, port);
    const ep = await endpointOn(d.provider, d.consumer, port, '10.0.1.213');
    expect(ep.status).toBe('failed');
    expect(ep.error[0].error_code).toBe('EndPoint.0012');
    expect(ep.error[0].error_message).toContain(`cannot listen on 127.${k}.1.213:${port}: EADDRINUSE`);
    // a tenant's endpoint is the tenant's: the daemon stays ready
    expect((await fetch(`${d.url}/ready`)).status).toBe(200);
  });

  it('CreateVpcEndpoint on a taken address answers failed with the reason (bound beside its commit, then stored failed), nothing listening', async () => {
    d = await startTestDaemon(twoAccountConfig({ accounts: [{ ...PROVIDER, aws: AWS_KEYS.provider }, { ...CONSUMER, aws: AWS_KEYS.consumer }] }));
    cleanups.push(() => d.stop());
    const k = (await d.consumer.get('/vpcs')).body.vpcs.find((v: any) => v.id === 'vpc-client').number;
    const port = randomPort();
    await squat(`127.${k}.1.215`, port);
    const svc = await d.provider.post('/vpc-endpoint-services', { ...SERVICE_BODY, approval_enabled: false, ports: [{ client_port: port, server_port: 8080, protocol: 'TCP' }] });
    await waitFor(async () => (await d.provider.get(`/vpc-endpoint-services/${svc.body.id}`)).body.status === 'available', 5_000, 'service available');
    await d.provider.post(`/vpc-endpoint-services/${svc.body.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] });
    const { consumer } = ec2Clients(d.url, AWS_KEYS);
    cleanups.push(() => consumer.destroy());
    const listeners = d.daemon.dataPlane.daemonLoad().listeners;
    const made = (await consumer.send(new CreateVpcEndpointCommand({
      VpcEndpointType: 'Interface', VpcId: 'vpc-client', ServiceName: `com.amazonaws.vpce.us-east-1.${svc.body.id}`,
      SubnetConfigurations: [{ SubnetId: 'subnet-a', Ipv4: '10.0.1.215' }],
    }))).VpcEndpoint!;
    expect(made.State).toBe('failed');
    expect(made.LastError?.Message).toContain(`cannot listen on 127.${k}.1.215:${port}: EADDRINUSE`);
    expect((await d.consumer.get(`/vpc-endpoints/${made.VpcEndpointId}`)).body.status).toBe('failed');
    expect(d.daemon.dataPlane.daemonLoad().listeners).toBe(listeners);
  });
});

describe('ports below 1024 without the privilege', () => {
  let child: ChildDaemon;
  /** vpcepd on CONFIG without CAP_NET_BIND_SERVICE (setpriv drops it from the bounding set), killed after the test; the two accounts' clients */
  async function unprivileged(config: Record<string, unknown>): Promise<{ provider: ApiClient; consumer: ApiClient }> {
    const dir = tempDir('vpcep-priv-');
    const file = writeConfig(dir, config);
    child = await spawnDaemon(['--config', file, '--data-dir', path.join(dir, 'data')], {}, undefined, ['setpriv', '--bounding-set', '-net_bind_service']);
    cleanups.push(async () => {
      child.proc.kill('SIGKILL');
      await child.exited;
    });
    return { provider: new ApiClient(child.url, PROVIDER.token, PROVIDER.project_id), consumer: new ApiClient(child.url, CONSUMER.token, CONSUMER.project_id) };
  }

  it('fail with EndPoint.0011 and the fix in the message: a public service (readiness says so) and an endpoint', async () => {
    // the precondition: ports below this need CAP_NET_BIND_SERVICE in this network namespace
    expect(Number(fs.readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8')),
      'net.ipv4.ip_unprivileged_port_start must be above 80 here (run the tests in a fresh network namespace: ip netns)').toBeGreaterThan(80);
    const { provider, consumer } = await unprivileged(withPublic(212, 80));

    const ready = await (await fetch(`${child.url}/ready`)).json();
    expect(ready.status).toBe('failed');
    expect(ready.failed[0]).toMatchObject({ service: 'sim-1.obs', error_code: 'EndPoint.0011' });
    expect(ready.failed[0].error_msg).toContain('cannot listen on 127.255.212.9:80 for a public service: permission denied: ports below 1024 need root or CAP_NET_BIND_SERVICE');
    expect((await publicService(consumer)).status).toBe('failed');

    const ep = await endpointOn(provider, consumer, 80, '10.0.1.214');
    expect(ep.status).toBe('failed');
    expect(ep.error[0].error_code).toBe('EndPoint.0011');
    expect(ep.error[0].error_message).toMatch(/cannot listen on 127\.\d+\.1\.214:80: permission denied: .*setcap cap_net_bind_service=\+ep.*or use a port above 1023/);
    expect(child.output()).toContain('"msg":"endpoint failed"');
  });

  it('a service changed to a port below 1024 fails its accepted endpoint with EndPoint.0011 and logs the endpoint failed warning with the reason', async () => {
    // the defect: the service-change path stored the endpoint failed and logged only "endpoint down"
    const { provider, consumer } = await unprivileged(twoAccountConfig());
    const ep = await endpointOn(provider, consumer, randomPort(), '10.0.1.216');
    expect(ep.status).toBe('accepted');
    expect(child.output()).not.toContain('"msg":"endpoint failed"');

    const put = await provider.put(`/vpc-endpoint-services/${ep.endpoint_service_id}`, { ports: [{ client_port: 80, server_port: 8080, protocol: 'TCP' }] });
    expect(put.status).toBe(200);
    const failed = await waitFor(async () => {
      const r = await consumer.get(`/vpc-endpoints/${ep.id}`);
      return r.body.status === 'failed' ? r.body : null;
    }, 5_000, 'the endpoint to fail');
    expect(failed.error[0].error_code).toBe('EndPoint.0011');
    const warning = await waitFor(async () => child.output().split('\n').find((l) => l.includes('"msg":"endpoint failed"')) ?? null, 5_000, 'the warning');
    const line = JSON.parse(warning);
    expect(line).toMatchObject({ level: 40, endpoint_id: ep.id }); // pino's warn
    expect(line.reason).toMatch(/cannot listen on 127\.\d+\.1\.216:80: permission denied: ports below 1024 need root or CAP_NET_BIND_SERVICE/);
  });
});

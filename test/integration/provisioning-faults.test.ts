// Provisioning faults (issue 15; README "Provisioning faults"): an activation delay that an AWS
// waiter (Terraform's waitVPCEndpointAvailable, driven here through @aws-sdk/client-ec2) sees as
// `pending`, and activation failures on demand, through the Huawei routes and seen by both
// dialects (Huawei `failed` with its error, AWS State `failed` with LastError), which the waiter
// fails on. Bad input is refused in Huawei's shape and changes nothing.
import { AcceptVpcEndpointConnectionsCommand, CreateVpcEndpointCommand, DescribeVpcEndpointsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSUMER, PROVIDER, SERVICE_BODY, metricValue, startTestDaemon, twoAccountConfig, waitFor, type TestDaemon } from '../helpers.js';
import { AWS_KEYS, ec2Clients } from './aws-sdk.js';
import { echo, randomPort, startBackend, type TestBackend } from './backends.js';

const REGION = 'us-east-1';
const DELAY_MS = 1_500;

let d: TestDaemon;
let backend: TestBackend;
let ec2: Record<keyof typeof AWS_KEYS, EC2Client>;
let nextPort = randomPort();

beforeAll(async () => {
  backend = await startBackend(echo);
  d = await startTestDaemon(twoAccountConfig({
    accounts: [{ ...PROVIDER, aws: AWS_KEYS.provider }, { ...CONSUMER, aws: AWS_KEYS.consumer }],
    faults: { provisioning_delay_ms: DELAY_MS },
  }));
  ec2 = ec2Clients(d.url, AWS_KEYS, REGION);
});

afterAll(async () => {
  for (const c of Object.values(ec2 ?? {})) c.destroy();
  await d?.stop();
  await backend?.close();
});

/** the provider's service (Huawei API), the consumer allowed; its AWS service name */
async function service(approval: boolean): Promise<{ id: string; awsName: string }> {
  const port = nextPort++;
  const r = await d.provider.post('/vpc-endpoint-services', {
    ...SERVICE_BODY, service_name: `pf${port}`, approval_enabled: approval, ports: [{ client_port: port, server_port: backend.port, protocol: 'TCP' }],
  });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  await waitFor(async () => (await d.provider.get(`/vpc-endpoint-services/${r.body.id}`)).body.status === 'available', 5_000, 'service available');
  await d.provider.post(`/vpc-endpoint-services/${r.body.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] });
  return { id: r.body.id, awsName: `com.amazonaws.vpce.${REGION}.${r.body.id}` };
}

/**
 * Terraform's waitVPCEndpointAvailable (aws-ec2-api.md 4.2) over the SDK, polling every 100 ms
 * instead of 5 s: pending `pending`, target `available` or `pendingAcceptance`; any other state
 * fails with it and the endpoint's LastError. Resolves with the states seen in order.
 */
async function waitAvailable(id: string, timeoutMs = 10_000): Promise<string[]> {
  const seen: string[] = [];
  const until = Date.now() + timeoutMs;
  for (;;) {
    const out = await ec2.consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [id] }));
    const e = out.VpcEndpoints![0]!;
    if (seen.at(-1) !== e.State) seen.push(e.State!);
    if (e.State as string === 'available' || e.State as string === 'pendingAcceptance') return seen;
    if (e.State as string !== 'pending') throw new Error(`unexpected state '${e.State}', wanted target 'available, pendingAcceptance'. last error: ${e.LastError?.Code}: ${e.LastError?.Message}`);
    if (Date.now() > until) throw new Error(`timeout while waiting for state to become 'available' (last state: 'pending')`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const createVpce = async (awsName: string): Promise<string> =>
  (await ec2.consumer.send(new CreateVpcEndpointCommand({ VpcEndpointType: 'Interface', VpcId: 'vpc-client', ServiceName: awsName, SubnetIds: ['subnet-a'] }))).VpcEndpoint!.VpcEndpointId!;

describe('provisioning faults', () => {
  it('an activation waits out faults.provisioning_delay_ms: the AWS waiter sees pending, then available', async () => {
    const s = await service(false);
    const before = (await metricValue(d.url, 'vpcep_provisioning_faults_total', { fault: 'delay' })) ?? 0;
    const t0 = performance.now();
    const id = await createVpce(s.awsName);
    const states = await waitAvailable(id);
    const elapsed = performance.now() - t0;
    expect(states).toEqual(['pending', 'available']);
    expect(elapsed).toBeGreaterThanOrEqual(DELAY_MS);
    expect(elapsed).toBeLessThan(2 * DELAY_MS);
    expect(await metricValue(d.url, 'vpcep_provisioning_faults_total', { fault: 'delay' })).toBe(before + 1);
  });

  it('PUT /sim/faults changes the delay from now on; a bad value is refused in Huawei\'s shape and changes nothing', async () => {
    for (const bad of [-1, 3_600_001, 1.5, 'soon']) {
      const r = await d.consumer.put('/sim/faults', { provisioning_delay_ms: bad });
      expect(r.status, String(bad)).toBe(400);
      expect(r.body.error_code).toBe('EndPoint.0002');
      expect(r.body.error_msg).toMatch(/^provisioning_delay_ms: /);
    }
    expect((await d.consumer.put('/sim/faults', { provisioning_delay_ms: 0, extra: 1 })).status).toBe(400);
    expect((await d.consumer.get('/sim/faults')).body.faults).toEqual({ provisioning_delay_ms: DELAY_MS, fail_next_activation: [] });
    try {
      expect((await d.consumer.put('/sim/faults', { provisioning_delay_ms: 0 })).body.faults.provisioning_delay_ms).toBe(0);
      const s = await service(false);
      const t0 = performance.now();
      expect(await waitAvailable(await createVpce(s.awsName))).toContain('available');
      expect(performance.now() - t0).toBeLessThan(DELAY_MS);
    } finally {
      await d.consumer.put('/sim/faults', { provisioning_delay_ms: DELAY_MS });
    }
  });

  it('fail-activation during the delay: Huawei failed with its error, AWS failed with LastError, the waiter fails', async () => {
    const s = await service(false);
    const ep = await d.consumer.post('/vpc-endpoints', { endpoint_service_id: s.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
    expect(ep.body.status).toBe('creating');
    const before = (await metricValue(d.url, 'vpcep_provisioning_faults_total', { fault: 'failure' })) ?? 0;
    const r = await d.consumer.post(`/sim/endpoints/${ep.body.id}/fail-activation`, { message: 'capacity: no ENI left in subnet-a' });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ id: ep.body.id, status: 'failed', error: [{ error_code: 'EndPoint.0001', error_message: 'capacity: no ENI left in subnet-a' }] });
    const aws = (await ec2.consumer.send(new DescribeVpcEndpointsCommand({ VpcEndpointIds: [ep.body.id] }))).VpcEndpoints![0]!;
    expect(aws.State).toBe('failed');
    expect(aws.LastError?.Message).toBe('capacity: no ENI left in subnet-a');
    await expect(waitAvailable(ep.body.id)).rejects.toThrow(/unexpected state 'failed'.*no ENI left/);
    expect(await metricValue(d.url, 'vpcep_provisioning_faults_total', { fault: 'failure' })).toBe(before + 1);
    // the delay's end changes nothing: it stays failed
    await new Promise((res) => setTimeout(res, DELAY_MS + 200));
    expect((await d.consumer.get(`/vpc-endpoints/${ep.body.id}`)).body.status).toBe('failed');
  });

  it('fail-next-activation of a service: the next acceptance (AWS) fails once, the one after succeeds', async () => {
    const s = await service(true);
    const set = await d.provider.post(`/sim/endpoint-services/${s.id}/fail-next-activation`, {});
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(set.body.faults.fail_next_activation).toEqual([s.id]);
    // the consumer sees no switch of a service not its own
    expect((await d.consumer.get('/sim/faults')).body.faults.fail_next_activation).toEqual([]);
    const first = await createVpce(s.awsName);
    const second = await createVpce(s.awsName);
    expect(await waitAvailable(first)).toEqual(['pendingAcceptance']);
    await ec2.provider.send(new AcceptVpcEndpointConnectionsCommand({ ServiceId: s.id, VpcEndpointIds: [first] }));
    await expect(waitAvailable(first)).rejects.toThrow(/unexpected state 'failed'.*SystemError: activation failed/);
    await ec2.provider.send(new AcceptVpcEndpointConnectionsCommand({ ServiceId: s.id, VpcEndpointIds: [second] }));
    expect(await waitAvailable(second)).toEqual(['pending', 'available']);
    expect((await d.provider.get('/sim/faults')).body.faults.fail_next_activation).toEqual([]);
  });

  it('refuses what has no activation to fail, and what the caller cannot see', async () => {
    const s = await service(false);
    const id = await createVpce(s.awsName);
    await waitAvailable(id);
    const accepted = await d.consumer.post(`/sim/endpoints/${id}/fail-activation`, {});
    expect(accepted.status).toBe(409);
    expect(accepted.body.error_code).toBe('EndPoint.3045');
    expect((await d.consumer.get(`/vpc-endpoints/${id}`)).body.status).toBe('accepted');
    expect((await d.consumer.post('/sim/endpoints/no-such-endpoint/fail-activation', {})).status).toBe(404);
    // the consumer cannot arm a switch on the provider's service
    const other = await d.consumer.post(`/sim/endpoint-services/${s.id}/fail-next-activation`, {});
    expect(other.status).toBe(404);
    expect((await d.provider.get('/sim/faults')).body.faults.fail_next_activation).toEqual([]);
    expect((await d.consumer.post(`/sim/endpoints/${id}/fail-activation`, { message: '' })).status).toBe(400);
  });
});

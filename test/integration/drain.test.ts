// The SIGTERM drain of a real vpcepd with a connection open through an endpoint: readiness says
// draining, /metrics and reads still answer (a scrape during the drain), writes are refused, the
// progress is logged, and the daemon ends as soon as the last connection does. Both relays.
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ApiClient, CONSUMER, METRICS_TOKEN, PROVIDER, SERVICE_BODY, parseMetrics, spawnDaemon, tempDir, twoAccountConfig, waitFor, writeConfig,
} from '../helpers.js';
import { CreateVpcCommand, DescribeRegionsCommand } from '@aws-sdk/client-ec2';
import { AWS_KEYS, ec2Clients, refused } from './aws-sdk.js';
import { hold, randomPort, startBackend, type TestBackend } from './backends.js';

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** the log lines with this msg */
const logged = (output: string, msg: string): any[] => output.split('\n').filter((l) => l.includes(`"msg":"${msg}`)).map((l) => JSON.parse(l));

describe('the drain', () => {
  let backend: TestBackend;

  /** a real vpcepd (drain timeout 60 s) with one client connection held open through an endpoint */
  async function heldConnection() {
    backend = await startBackend(hold);
    cleanups.push(() => backend.close());
    const dir = tempDir('vpcep-drain-');
    // AWS keys: two accounts without them would refuse every AWS request (closed)
    const file = writeConfig(dir, twoAccountConfig({
      dataplane: { drain_timeout_ms: 60_000 },
      accounts: [{ ...PROVIDER, aws: AWS_KEYS.provider }, { ...CONSUMER, aws: AWS_KEYS.consumer }],
    }));
    const d = await spawnDaemon(['--config', file, '--data-dir', path.join(dir, 'data')]);
    cleanups.push(async () => {
      if (d.proc.exitCode === null && d.proc.signalCode === null) d.proc.kill('SIGKILL');
      await d.exited;
    });
    const provider = new ApiClient(d.url, PROVIDER.token, PROVIDER.project_id);
    const consumer = new ApiClient(d.url, CONSUMER.token, CONSUMER.project_id);
    const port = randomPort();
    const svc = await provider.post('/vpc-endpoint-services', { ...SERVICE_BODY, approval_enabled: false, ports: [{ client_port: port, server_port: backend.port, protocol: 'TCP' }] });
    expect(svc.status).toBe(200);
    await waitFor(async () => (await provider.get(`/vpc-endpoint-services/${svc.body.id}`)).body.status === 'available');
    await provider.post(`/vpc-endpoint-services/${svc.body.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] });
    const ep = await consumer.post('/vpc-endpoints', { endpoint_service_id: svc.body.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
    expect(ep.status).toBe(200);
    const accepted = await waitFor(async () => {
      const r = await consumer.get(`/vpc-endpoints/${ep.body.id}`);
      return r.body.status === 'accepted' ? r.body : null;
    });

    const client = net.connect({ host: accepted.host_ip, port });
    cleanups.push(() => { client.destroy(); });
    await new Promise((resolve, reject) => client.once('connect', resolve).once('error', reject));
    await waitFor(() => backend.open === 1, 5_000, 'the connection to reach the backend');

    return { d, client, consumer, svc, ep };
  }

  it('keeps /metrics, readiness (503 draining) and reads up while a connection drains; refuses writes; logs its progress', async () => {
    const { d, client, consumer, svc, ep } = await heldConnection();

    d.proc.kill('SIGTERM');
    await waitFor(async () => (await (await fetch(`${d.url}/ready`)).json()).status === 'draining', 5_000, 'readiness to say draining');
    expect((await fetch(`${d.url}/`)).status).toBe(503);
    // the scrape during the drain: served, and it shows the connection still open
    const scraped = await fetch(`${d.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(scraped.status).toBe(200);
    expect(parseMetrics(await scraped.text()).find((m) => m.name === 'vpcep_active_connections')?.value).toBe(1);
    // reads answer; writes are refused with the daemon's own code
    expect((await consumer.get(`/vpc-endpoints/${ep.body.id}`)).status).toBe(200);
    const write = await consumer.post('/vpc-endpoints', { endpoint_service_id: svc.body.id, vpc_id: 'vpc-client', subnet_id: 'subnet-a' });
    expect(write.status).toBe(503);
    expect(write.body.error_code).toBe('EndPoint.0013');
    // AWS's reads are POSTs: answered; any other action is refused in AWS's shape
    const { provider: ec2 } = ec2Clients(d.url, { provider: AWS_KEYS.provider });
    expect((await ec2.send(new DescribeRegionsCommand({}))).Regions).toHaveLength(1);
    expect(await refused(ec2.send(new CreateVpcCommand({ CidrBlock: '10.9.0.0/16' })))).toMatchObject({ code: 'ServiceUnavailable', status: 503 });
    ec2.destroy();
    await waitFor(() => logged(d.output(), 'draining: connections still open').length > 0, 5_000, 'a progress line');
    expect(logged(d.output(), 'draining: connections still open')[0].active).toBe(1);

    // the last connection ends: the daemon finishes at once (well before the 60 s drain timeout)
    client.end();
    expect((await d.exited).code).toBe(0);
    expect(logged(d.output(), 'data plane drained')[0]).toMatchObject({ drained: 1, cut: 0 });
  });

  it('a request that completes while the API closes, on a connection kept alive, is answered by its dialect (it got fastify\'s own 503 body, in neither shape)', async () => {
    const dir = tempDir('vpcep-drain-');
    const file = writeConfig(dir, twoAccountConfig({ accounts: [{ ...PROVIDER, aws: AWS_KEYS.provider }, { ...CONSUMER, aws: AWS_KEYS.consumer }] }));
    const d = await spawnDaemon(['--config', file, '--data-dir', path.join(dir, 'data')]);
    cleanups.push(async () => {
      if (d.proc.exitCode === null && d.proc.signalCode === null) d.proc.kill('SIGKILL');
      await d.exited;
    });
    /** a kept-alive connection with HEAD sent, the rest of its request sent by finish(): the answer */
    const pending = async (head: string) => {
      const s = net.connect(Number(new URL(d.url).port), '127.0.0.1');
      cleanups.push(() => { s.destroy(); });
      let got = '';
      s.on('data', (b) => { got += String(b); });
      s.on('error', () => {});
      await new Promise((resolve) => s.once('connect', resolve));
      s.write('GET /ready HTTP/1.1\r\nHost: vpcepd\r\n\r\n');
      await waitFor(() => got.includes('"ready"'), 5_000, 'the first answer');
      got = '';
      s.write(head);
      return (rest: string) => {
        s.write(rest);
        return waitFor(() => (got.includes('\r\n\r\n') && /content-length: 0\r\n|[}>]$/i.test(got) ? got : null), 5_000, 'the answer');
      };
    };
    const huawei = await pending(`GET /v1/${CONSUMER.project_id}/vpc-endpoints?limit=1 HTTP/1.1\r\nHost: vpcepd\r\nX-Auth-Token: ${CONSUMER.token}\r\n`);
    const form = 'Action=DescribeAvailabilityZones&Version=2016-11-15';
    const aws = await pending(`POST / HTTP/1.1\r\nHost: vpcepd\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${form.length}\r\n`);
    d.proc.kill('SIGTERM');
    // the drain is done (no connection to wait for) and the API is closing: the requests complete now
    await waitFor(() => logged(d.output(), 'data plane drained').length > 0, 5_000, 'the drain to end');
    await new Promise((r) => setTimeout(r, 300));
    const [hh, hb] = (await huawei('\r\n')).split('\r\n\r\n');
    const [ah, ab] = (await aws(`\r\n${form}`)).split('\r\n\r\n');
    expect(hb).not.toContain('"statusCode":503');
    expect(ab).not.toContain('"statusCode":503');
    // a read is served to the end, in each dialect's shape
    expect(hh).toMatch(/^HTTP\/1\.1 200 /);
    expect(JSON.parse(hb!)).toHaveProperty('endpoints');
    // unsigned, the AWS request is refused (verify mode), in EC2's XML and with its request id
    expect(ah).toMatch(/^HTTP\/1\.1 4\d\d [\s\S]*\r\nx-amzn-requestid: /i);
    expect(ab).toMatch(/<Response><Errors><Error><Code>[A-Za-z.]+<\/Code>/);
    expect((await d.exited).code).toBe(0);
  });

  it('a second SIGTERM cuts the connections still open and stops at once', async () => {
    const { d, client } = await heldConnection();
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.on('error', () => {});
    d.proc.kill('SIGTERM');
    await waitFor(() => logged(d.output(), 'draining: readiness').length > 0, 5_000, 'the drain to start');
    d.proc.kill('SIGTERM');
    // well before the 60 s drain timeout: the client's connection is cut and the daemon exits 0
    expect((await d.exited).code).toBe(0);
    await closed;
    expect(logged(d.output(), 'second signal: cutting the connections still open')[0]).toMatchObject({ signal: 'SIGTERM', cut: 1 });
    expect(logged(d.output(), 'data plane drained')[0]).toMatchObject({ drained: 0, cut: 1 });
  });
});

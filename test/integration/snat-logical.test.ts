// The unprivileged mode: dataplane.snat logical binds nothing, and says so.
import net from 'node:net';
import { relayChoice } from '../../src/dataplane/native-relay.js';
import { afterEach, describe, expect, it } from 'vitest';
import { createAvailableService, metricValue, startTestDaemon, twoAccountConfig, waitFor, type TestDaemon } from '../helpers.js';

describe('logical SNAT mode', () => {
  let d: TestDaemon | undefined;
  let backend: net.Server | undefined;
  afterEach(async () => {
    await d?.stop();
    await new Promise((r) => (backend ? backend.close(r) : r(undefined)));
  });

  it('relays without binding the SNAT address, keeps snat_ip, and reports the mode', async () => {
    const seen: string[] = [];
    // Answers at once and closes when the client does: the connection is held in between.
    backend = net.createServer((s) => { seen.push(s.remoteAddress!); s.write('pong'); });
    await new Promise<void>((r) => backend!.listen(0, '127.0.0.1', r));
    const servicePort = (backend.address() as net.AddressInfo).port;
    const clientPort = 20000 + Math.floor(Math.random() * 20000);
    d = await startTestDaemon(twoAccountConfig({ dataplane: { snat: 'logical' } }));
    const svc = await createAvailableService(d, {
      port_id: 'port-web', vpc_id: 'vpc-app', server_type: 'VM', approval_enabled: false,
      ports: [{ client_port: clientPort, server_port: servicePort }],
    });
    const ep = await d.provider.post('/vpc-endpoints', { endpoint_service_id: svc.id, vpc_id: 'vpc-provider-client', subnet_id: 'subnet-pc' });
    const live = await waitFor(async () => {
      const e = await d!.provider.get(`/vpc-endpoints/${ep.body.id}`);
      return e.body.status === 'accepted' ? e.body : null;
    });
    expect(live.snat_ip).toMatch(/^198\.19\.(1[2-9]\d|2[0-5]\d)\.\d+$/);
    const c = net.connect({ host: live.host_ip, port: clientPort, localAddress: '127.3.1.9' });
    let got = '';
    c.on('data', (b) => { got += b; });
    const ended = new Promise<void>((resolve, reject) => { c.on('end', resolve); c.on('error', reject); });
    await waitFor(() => got === 'pong', 2_000, 'the backend\'s answer');
    // While it is held, the connection holds one SNAT source port of its endpoint.
    expect(await metricValue(d.url, 'vpcep_endpoint_snat_ports_in_use', { endpoint_id: live.id })).toBe(1);
    c.end();
    await ended;
    await waitFor(async () => (await metricValue(d!.url, 'vpcep_endpoint_snat_ports_in_use', { endpoint_id: live.id })) === 0, 2_000, 'the port back');
    const reply = got;
    expect(reply).toBe('pong');
    // Nothing was bound to the SNAT address: the backend sees the address the kernel picked
    // for the daemon's own connection.
    expect(seen).toEqual(['127.0.0.1']);
    const metrics = await (await fetch(`${d.url}/metrics`)).text();
    expect(metrics).toContain(`vpcep_dataplane_info{snat_mode="logical",relay="${relayChoice().relay}",relay_io="${relayChoice().io ?? 'none'}"} 1`);
    // the path tracer says what the backend saw
    const t = await d.provider.post('/trace', { vpc_id: 'vpc-provider-client', source_ip: '10.0.1.9', destination_ip: live.ip, destination_port: clientPort });
    expect(t.body.trace.source).toMatchObject({ snat_ip: live.snat_ip, snat_mode: 'logical', proxy_v2: false });
    expect(t.body.trace.source.seen_as).toMatch(/^the daemon's own address/);
    expect(t.body.trace.backend_source).toBe('the daemon\'s own address (SNAT mode logical)');
  });
});

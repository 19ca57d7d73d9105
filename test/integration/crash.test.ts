// Kill -9 in the middle of a stream of writes: every acknowledged write must be there after a
// restart, and nothing half-applied. The daemon runs with the default durability (process: SQLite's
// synchronous=NORMAL, no fsync per commit), which promises exactly this.
import path from 'node:path';
import { CreateVpcEndpointCommand, EC2Client } from '@aws-sdk/client-ec2';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { DB_FILE } from '../../src/store/sqlite.js';
import { ApiClient, CONSUMER, PROVIDER, SERVICE_BODY, spawnDaemon, tempDir, twoAccountConfig, waitFor, writeConfig } from '../helpers.js';
import { AWS_KEYS, attempt } from './aws-sdk.js';
import { echo, randomPort, startBackend } from './backends.js';

describe('crash safety', () => {
  it('keeps every acknowledged write after SIGKILL mid-stream', async () => {
    const dir = tempDir();
    const data = path.join(dir, 'data');
    const cfg = twoAccountConfig({
      accounts: [
        { ...PROVIDER, quotas: { endpoint_service: 1000, endpoint: 1000 } },
        { ...CONSUMER, quotas: { endpoint_service: 1000, endpoint: 1000 } },
      ],
    });
    (cfg.vpcs as any[])[0].subnets.push({ id: 'subnet-big', cidr: '192.168.64.0/18' });
    const file = writeConfig(dir, cfg);
    const port = await (await import('../helpers.js')).freePort();
    const d = await spawnDaemon(['--config', file, '--data-dir', data], {}, port);
    const provider = new ApiClient(d.url, PROVIDER.token, PROVIDER.project_id);
    const svc = await provider.post('/vpc-endpoint-services', {
      port_id: 'port-web', vpc_id: 'vpc-app', server_type: 'VM', ports: [{ client_port: 80, server_port: 8080 }], approval_enabled: false,
    });
    expect(svc.status).toBe(200);
    expect((await provider.get('/sim/config')).body.store_durability).toBe('process');
    await waitFor(async () => (await provider.get(`/vpc-endpoint-services/${svc.body.id}`)).body.status === 'available');

    // Four writers in parallel: endpoints (each a create plus a status change) and tag writes.
    const acked = { endpoints: new Map<string, string>(), tags: new Set<string>() };
    let stop = false;
    let n = 0;
    const writer = async (w: number) => {
      while (!stop) {
        const i = n++;
        try {
          if (w % 2 === 0) {
            const r = await provider.post('/vpc-endpoints', { endpoint_service_id: svc.body.id, vpc_id: 'vpc-app', subnet_id: 'subnet-big' });
            if (r.status === 200) acked.endpoints.set(r.body.id, r.body.ip);
          } else {
            const key = `k${i}`;
            const r = await provider.post(`/endpoint_service/${svc.body.id}/tags/action`, { action: 'create', tags: [{ key, value: 'v' }] });
            if (r.status === 204) acked.tags.add(key);
            if (acked.tags.size >= 18) {
              // Stay under the 20-tag limit. Tags being deleted are no longer promised either way.
              const del = [...acked.tags];
              acked.tags.clear();
              await provider.post(`/endpoint_service/${svc.body.id}/tags/action`, { action: 'delete', tags: del.map((k) => ({ key: k })) });
            }
          }
        } catch {
          return; // the daemon is gone: an unanswered request is not acknowledged
        }
      }
    };
    const writers = [0, 1, 2, 3].map(writer);
    await waitFor(() => acked.endpoints.size >= 150, 20_000, '150 endpoints written');
    d.proc.kill('SIGKILL');
    stop = true;
    await d.exited;
    await Promise.all(writers);
    const ackedEndpoints = new Map(acked.endpoints);
    const ackedTags = new Set(acked.tags);

    const again = await spawnDaemon(['--config', file, '--data-dir', data], {}, port);
    try {
      const p2 = new ApiClient(again.url, PROVIDER.token, PROVIDER.project_id);
      const list = await p2.get('/vpc-endpoints?limit=1000');
      expect(list.status).toBe(200);
      const byId = new Map<string, any>(list.body.endpoints.map((e: any) => [e.id, e]));
      for (const [id, ip] of ackedEndpoints) {
        expect(byId.get(id), `acknowledged endpoint ${id} lost`).toBeDefined();
        expect(byId.get(id).ip).toBe(ip);
      }
      // Nothing half-applied: unique IPs and marker ids, and the restart finishes every creating endpoint.
      const all = [...byId.values()];
      expect(new Set(all.map((e) => e.ip)).size).toBe(all.length);
      expect(new Set(all.map((e) => e.marker_id)).size).toBe(all.length);
      await waitFor(async () => (await p2.get('/vpc-endpoints?limit=1000')).body.endpoints.every((e: any) => e.status === 'accepted'), 10_000, 'all accepted');
      const s = await p2.get(`/vpc-endpoint-services/${svc.body.id}`);
      const keys = new Set(s.body.tags.map((t: any) => t.key));
      for (const k of ackedTags) expect(keys.has(k), `acknowledged tag ${k} lost`).toBe(true);
      const q = await p2.get('/quotas?type=endpoint');
      expect(q.body.quotas.resources[0].used).toBe(all.length);
    } finally {
      again.proc.kill('SIGKILL');
      await again.exited;
    }
  }, 60_000);

  it('CreateVpcEndpoint answered available is stored accepted: a SIGKILL right after the answer finds it so, no second commit needed', async () => {
    const dir = tempDir();
    const data = path.join(dir, 'data');
    const file = writeConfig(dir, twoAccountConfig({ accounts: [{ ...PROVIDER, aws: AWS_KEYS.provider }, { ...CONSUMER, aws: AWS_KEYS.consumer }] }));
    const backend = await startBackend(echo);
    const d = await spawnDaemon(['--config', file, '--data-dir', data]);
    const consumer = new EC2Client({
      region: 'us-east-1', endpoint: d.url, maxAttempts: 1,
      credentials: { accessKeyId: AWS_KEYS.consumer.access_key_id, secretAccessKey: AWS_KEYS.consumer.secret_access_key },
    });
    try {
      const provider = new ApiClient(d.url, PROVIDER.token, PROVIDER.project_id);
      const port = randomPort();
      const svc = await provider.post('/vpc-endpoint-services', { ...SERVICE_BODY, approval_enabled: false, ports: [{ client_port: port, server_port: backend.port, protocol: 'TCP' }] });
      expect(svc.status, JSON.stringify(svc.body)).toBe(200);
      await waitFor(async () => (await provider.get(`/vpc-endpoint-services/${svc.body.id}`)).body.status === 'available', 5_000, 'service available');
      expect((await provider.post(`/vpc-endpoint-services/${svc.body.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] })).status).toBe(200);

      const made = (await consumer.send(new CreateVpcEndpointCommand({
        VpcEndpointType: 'Interface', VpcId: 'vpc-client', ServiceName: `com.amazonaws.vpce.us-east-1.${svc.body.id}`, SubnetIds: ['subnet-a'],
      }))).VpcEndpoint!;
      // answered available: its listener is bound, bytes go through at once
      expect(made.State).toBe('available');
      const host = (await new ApiClient(d.url, CONSUMER.token, CONSUMER.project_id).get(`/vpc-endpoints/${made.VpcEndpointId}`)).body.host_ip;
      expect(await attempt(host, port, '127.2.1.50')).toBe('relay');
      d.proc.kill('SIGKILL');
      await d.exited;
    } finally {
      consumer.destroy();
      if (d.proc.exitCode === null && d.proc.signalCode === null) d.proc.kill('SIGKILL');
      await d.exited;
      await backend.close();
    }
    // what the store holds after the crash, before any restart could converge it: what was answered
    const db = new Database(path.join(data, DB_FILE));
    try {
      const rows = db.prepare("SELECT body FROM documents WHERE kind = 'endpoint'").all() as Array<{ body: string }>;
      expect(rows.map((r) => JSON.parse(r.body).status)).toEqual(['accepted']);
    } finally {
      db.close();
    }
  }, 30_000);
});

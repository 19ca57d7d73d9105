// What the fleet's tests share (fleet.test.ts, fleet-hardening.test.ts, fleet-follow.test.ts): a
// vpcepd child process as a node of a fleet, with its own data dir and node name, and both
// accounts' clients against it.
import path from 'node:path';
import { expect } from 'vitest';
import { ApiClient, CONSUMER, PROVIDER, spawnDaemon, tempDir, waitFor, type ChildDaemon } from '../helpers.js';

export interface FleetNode {
  readonly name: string;
  readonly child: ChildDaemon;
  readonly provider: ApiClient;
  readonly consumer: ApiClient;
}

/** a node on CONFIG_FILE named NAME (with vpcepd's ARGS too); one that exits at start throws with its output */
export async function spawnNode(configFile: string, name: string, args: readonly string[] = []): Promise<FleetNode> {
  // a start on etcd on a loaded 2-core machine may take longer than the helper's usual 15 s
  const child = await spawnDaemon(['--config', configFile, '--data-dir', path.join(tempDir(), 'data'), '--node-name', name, ...args], {}, undefined, [], 60_000);
  if (child.proc.exitCode !== null) throw new Error(`${name} did not start:\n${child.output()}`);
  return { name, child, provider: new ApiClient(child.url, PROVIDER.token, PROVIDER.project_id), consumer: new ApiClient(child.url, CONSUMER.token, CONSUMER.project_id) };
}

/** P, or its error with the logs of NODES appended (what they did when a wait on them timed out) */
export async function withLogs<T>(nodes: readonly FleetNode[], p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw new Error([(err as Error).message, ...nodes.map((n) => `${n.name}'s log:\n${n.child.output()}`)].join('\n'));
  }
}

/** a VM service made through N, its port 80 relaying to BACKEND_PORT (with EXTRA fields), available and open to the consumer: its id */
export async function openService(n: FleetNode, name: string, backendPort: number, extra: Record<string, unknown> = {}): Promise<string> {
  const svc = await n.provider.post('/vpc-endpoint-services', {
    port_id: 'port-web', vpc_id: 'vpc-app', server_type: 'VM', service_name: name, approval_enabled: false,
    ports: [{ client_port: 80, server_port: backendPort, protocol: 'TCP' }], ...extra,
  });
  expect(svc.status, JSON.stringify(svc.body)).toBe(200);
  await waitFor(async () => (await n.provider.get(`/vpc-endpoint-services/${svc.body.id}`)).body.status === 'available', 10_000, 'the service');
  expect((await n.provider.post(`/vpc-endpoint-services/${svc.body.id}/permissions/action`, { action: 'add', permissions: [`iam:domain::${CONSUMER.domain_id}`] })).status).toBe(200);
  return svc.body.id;
}

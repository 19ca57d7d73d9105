// What the fleet's tests share (fleet.test.ts, fleet-hardening.test.ts, fleet-follow.test.ts): a
// vpcepd child process as a node of a fleet, with its own data dir and node name, and both
// accounts' clients against it.
import path from 'node:path';
import { ApiClient, CONSUMER, PROVIDER, spawnDaemon, tempDir, type ChildDaemon } from '../helpers.js';

export interface FleetNode {
  readonly name: string;
  readonly child: ChildDaemon;
  readonly provider: ApiClient;
  readonly consumer: ApiClient;
}

/** a node on CONFIG_FILE named NAME; one that exits at start throws with its output */
export async function spawnNode(configFile: string, name: string): Promise<FleetNode> {
  // a start on etcd on a loaded 2-core machine may take longer than the helper's usual 15 s
  const child = await spawnDaemon(['--config', configFile, '--data-dir', path.join(tempDir(), 'data'), '--node-name', name], {}, undefined, [], 60_000);
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

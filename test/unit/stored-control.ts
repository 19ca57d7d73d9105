// A control plane over a real store (no sockets, a data plane that records what it is told): the
// consumer's endpoint quota as given, one public interface service, the endpoints, load balancers
// and target groups the store holds loaded as a daemon loads them at start.
import { ControlPlane } from '../../src/control/control-plane.js';
import { applyInventory } from '../../src/control/inventory.js';
import type { ControlState } from '../../src/control/state.js';
import { validateConfig } from '../../src/model/config.js';
import type { LoadBalancer, TargetGroup } from '../../src/model/load-balancers.js';
import type { Endpoint } from '../../src/model/types.js';
import type { Store } from '../../src/store/store.js';
import { CONSUMER, PROVIDER, recordingDataPlane, twoAccountConfig } from '../helpers.js';

/** NODE_ID: a node of a fleet (its allocations spread, as over etcd); none: the SQLite daemon's lowest free values */
export async function storedControl(store: Store, endpointQuota: number, nodeId?: string) {
  const c = validateConfig(twoAccountConfig({
    accounts: [PROVIDER, { ...CONSUMER, quotas: { endpoint_service: 10, endpoint: endpointQuota } }],
    public_services: [{ name: 'pub', service_type: 'interface', ports: [{ port: 9999, target: '127.0.0.1:9' }] }],
  }), 'c.yaml');
  const first = await store.load();
  const inv = applyInventory(c, first.documents, { defaultToken: 'default-token-0123', source: 'c.yaml', now: '2026-01-01T00:00:00.000Z' });
  await store.commit(inv.changes);
  const loaded = await store.load();
  const dataPlane = recordingDataPlane();
  const events = dataPlane.events;
  const control = new ControlPlane({
    region: 'sim-1', zones: c.zones, store, dataPlane, inventory: inv, services: inv.publicServices,
    endpoints: (loaded.documents.get('endpoint')?.values() ?? []) as Iterable<Endpoint>,
    loadBalancers: (loaded.documents.get('loadbalancer')?.values() ?? []) as Iterable<LoadBalancer>,
    targetGroups: (loaded.documents.get('targetgroup')?.values() ?? []) as Iterable<TargetGroup>,
    log: { info: () => undefined, warn: () => undefined, error: () => undefined },
    stored: { versions: loaded.versions, claims: loaded.documents.get('claim')!, revision: loaded.revision },
    ...(nodeId !== undefined ? { nodeId } : {}),
  });
  // the state behind the facade (the index tests compare it with a walk)
  const st = (control as unknown as { st: ControlState }).st;
  return { control, st, events, consumer: control.accountByName('consumer')!, pub: control.publicServices()[0]! };
}

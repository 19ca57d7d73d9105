// A daemon on a shared store follows it (issue 17): it watches the store from the revision it
// loaded and applies other daemons' committed batches to its memory, so that a read on any daemon
// shows what another acknowledged; an endpoint this daemon serves that another daemon changed (a
// provider's accept, a whitelist, a delete) is brought to the data plane here. After a compaction
// or a watch lost for good it lists again and reconciles, as the Kubernetes API server's watchers
// and Cilium do. Endpoints another daemon serves stay off this data plane (st.servedElsewhere).
// A change to what an endpoint this daemon serves depends on (its service, load balancer, target
// group, security group) is re-applied to it here as if the endpoint had changed, and the zones
// down, the toxics and proxies taken down (Toxiproxy's API; a proxy enabled again whose listener
// cannot bind here: fault-verdicts.ts), the routing view and the targets the load balancers'
// listeners forward to (probed on every node) are pushed when another writer changes them.
import { LIVE_ENDPOINT_STATUSES } from '../model/types.js';
import { StoreError, type Snapshot, type Store, type Watch } from '../store/store.js';
import { checkDocument, checkDocuments } from './documents.js';
import { followFaults } from './fault-verdicts.js';
import { listenersTo, servicesOf } from './load-balancers.js';
import type { ControlState, Watched } from './state.js';
import { bindOwned } from './placement.js';
import { activateEndpoint } from './provisioning-faults.js';
import { applyToDataPlane, failOrphans, finishEndpointDeletion, pushEndpoint, pushProbes, pushRouting, releaseMoved } from './transitions.js';
import { pushZones } from './zones.js';

/**
 * brings one endpoint this daemon serves to its stored status on the data plane; one placed on
 * another node (placement.ts) is torn down here
 */
export function react(st: ControlState, id: string): void {
  const e = st.endpoints.get(id);
  if (!e) return st.track(applyToDataPlane(st, { kind: 'endpoint', id, live: null, deleted: true }));
  if (st.servedElsewhere(id)) return st.track(releaseMoved(st, id));
  if (e.status === 'deleting') return st.track(finishEndpointDeletion(st, id));
  // placed here by its creator or the leader: activated here (with the provisioning delay, if any)
  if (e.status === 'creating') return st.faults.activations.has(id) ? undefined : st.track(activateEndpoint(st, id));
  if (LIVE_ENDPOINT_STATUSES.has(e.status)) return st.track(e.service_type === 'interface' ? bindOwned(st, id) : pushEndpoint(st, id));
  st.track(applyToDataPlane(st, { kind: 'endpoint', id, live: null }));
}

/** reacts to a watched batch: its endpoints, then what depends on its other documents */
export function reactWatched(st: ControlState, w: Watched): void {
  for (const id of w.endpoints) react(st, id);
  const services = new Set<string>();
  const groups = new Set<string>();
  /** VPCs whose network ACLs or subnets' associations changed: their interface endpoints admit by them */
  const vpcs = new Set<string>();
  let routing = false;
  let zones = false;
  let faults = false;
  let probes = false;
  for (const d of w.documents) {
    if (d.kind === 'service') {
      // deleted by another node: what this node serves of it (made here meanwhile) fails, and its
      // listeners close there; nothing is left to re-apply
      if (!st.services.has(d.id)) {
        st.track(failOrphans(st, d.id));
        continue;
      }
      services.add(d.id);
      const s = st.services.get(d.id);
      if (s && (s.public || s.service_type === 'gateway')) routing = true;
    } else if (d.kind === 'loadbalancer') {
      probes = true;
      for (const s of servicesOf(st, d.id)) services.add(s.id);
    } else if (d.kind === 'targetgroup') {
      probes = true;
      for (const { lb } of listenersTo(st, d.id)) for (const s of servicesOf(st, lb.id)) services.add(s.id);
    } else if (d.kind === 'securitygroup') {
      groups.add(d.id);
    } else if (d.kind === 'routetable' || d.kind === 'apivpc' || d.kind === 'internetgateway') {
      routing = true;
      if (d.kind === 'apivpc') vpcs.add(d.id);
    } else if (d.kind === 'networkacl') {
      const acl = st.networkAcls.get(d.id);
      if (acl) vpcs.add(acl.vpc_id);
    } else if (d.kind === 'meta' && d.id === 'zones_down') {
      zones = true;
    } else if (d.kind === 'fault') {
      faults = true;
    }
  }
  if (zones) st.track(pushZones(st));
  if (faults) st.track(followFaults(st));
  if (routing) st.track(pushRouting(st));
  if (probes) st.track(pushProbes(st));
  if (!services.size && !groups.size && !vpcs.size) return;
  const already = new Set(w.endpoints);
  for (const e of st.endpoints.values()) {
    if (already.has(e.id) || !LIVE_ENDPOINT_STATUSES.has(e.status) || st.servedElsewhere(e.id)) continue;
    if (services.has(e.service_id) || e.security_groups?.some((g) => groups.has(g)) || (e.service_type === 'interface' && vpcs.has(e.vpc_id))) react(st, e.id);
  }
}

export interface Follower {
  stop(): Promise<void>;
}

export function follow(st: ControlState, store: Store, relistDelayMs = 1_000): Follower {
  let watch: Watch | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  /** why the last listing failed, logged once until the reason changes (not a line a second while etcd is away) */
  let failing: string | undefined;
  st.watchedListener = (w) => reactWatched(st, w);
  const start = (from: number) => {
    let refused = false;
    // everything through FROM is in memory (loaded, or listed again): the watch brings the rest
    st.watchedThrough = from;
    const w = store.watch(from, {
      batch: (b) => {
        if (refused || stopped) return;
        // Another etcd client may write under the prefix. A document vpcepd would not write is
        // refused before any of its batch goes into memory, as a start refuses it: a claim of
        // null crashed every node at its next listing, and an endpoint of "hello" sat in memory.
        try {
          for (const c of b.changes) if (c.value !== null) checkDocument(c.kind, c.id, c.value, store.location, 'follow');
        } catch (err) {
          refused = true;
          void w.cancel();
          st.log.warn({ reason: (err as Error).message }, 'store watch lost: listing again');
          return void relist();
        }
        reactWatched(st, st.applyWatched(b));
      },
      compacted: (why) => {
        st.log.warn({ reason: why }, 'store watch lost: listing again');
        void relist();
      },
    });
    watch = w;
  };
  const relist = async () => {
    if (stopped) return;
    let snap: Snapshot;
    try {
      snap = await store.load();
      checkDocuments(snap.documents, store.location, 'follow');
    } catch (err) {
      if (stopped) return;
      const reason = (err as Error).message;
      // a document that cannot be read stays until someone fixes it: the node keeps its last state
      // meanwhile and says why, rather than calling the store unreachable
      if (reason !== failing) {
        if (err instanceof StoreError) st.log.warn({ err: reason }, 'store holds a document this node cannot read: it keeps what it knew and lists again until the document is fixed or deleted');
        else st.log.warn({ err: reason }, 'store unreachable: listing again soon');
      }
      failing = reason;
      timer = setTimeout(() => void relist(), relistDelayMs);
      timer.unref();
      return;
    }
    if (stopped) return;
    if (failing !== undefined) st.log.info({ revision: snap.revision }, 'store listed again: following it');
    failing = undefined;
    if (snap.reset) {
      // etcd restarted empty (or restored from an older backup): what it no longer holds is gone for
      // every node, which all follow the store as it is now (before, each kept serving its memory,
      // writes to what was gone answered a conflict for good, and no node saw another's new writes)
      const lost = st.missingFrom(snap);
      const byKind: Record<string, number> = {};
      for (const k of lost) byKind[k.slice(0, k.indexOf('/'))] = (byKind[k.slice(0, k.indexOf('/'))] ?? 0) + 1;
      st.log.error({ store: store.location, reason: snap.reset, revision: snap.revision, lost: byKind, lost_documents: lost.filter((k) => !k.startsWith('claim/')).slice(0, 50) },
        'store was reset under this node: what it no longer holds is lost, and this node drops it too (following the store as it is now)');
    }
    const servedHere = new Set([...st.endpoints.values()].filter((e) => !st.servedElsewhere(e.id)).map((e) => e.id));
    const services = [...st.services.keys()];
    st.replaceFrom(snap);
    st.storeObserver?.relisted();
    // placed elsewhere meanwhile: torn down here (react); gone from the store: torn down, and the
    // removal listeners told (as of a deletion watched)
    for (const e of [...st.endpoints.values()]) if (!st.servedElsewhere(e.id) || servedHere.has(e.id)) react(st, e.id);
    for (const id of servedHere) {
      if (st.endpoints.has(id)) continue;
      react(st, id);
      st.track(st.removed('endpoint', id));
    }
    for (const id of services) if (!st.services.has(id)) st.track(st.removed('service', id));
    // services deleted meanwhile by another node: what this node serves of them fails
    for (const id of new Set([...st.endpoints.values()].map((e) => e.service_id))) if (!st.services.has(id)) st.track(failOrphans(st, id));
    // what the listing may have changed of the region: the zones down, the toxics, the routing view
    st.track(pushZones(st));
    st.track(followFaults(st));
    st.track(pushRouting(st));
    st.track(pushProbes(st));
    start(snap.revision);
  };
  start(st.storeRevision);
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      st.watchedListener = undefined;
      await watch?.cancel();
    },
  };
}

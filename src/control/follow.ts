// A daemon on a shared store follows it (issue 17): it watches the store from the revision it
// loaded and applies other daemons' committed batches to its memory, so that a read on any daemon
// shows what another acknowledged; an endpoint this daemon serves that another daemon changed (a
// provider's accept, a whitelist, a delete) is brought to the data plane here. After a compaction
// or a watch lost for good it lists again and reconciles, as the Kubernetes API server's watchers
// and Cilium do. Endpoints another daemon serves stay off this data plane (st.servedElsewhere).
import { LIVE_ENDPOINT_STATUSES } from '../model/types.js';
import type { Store, Watch } from '../store/store.js';
import type { ControlState } from './state.js';
import { bindOwned } from './placement.js';
import { activateEndpoint } from './provisioning-faults.js';
import { applyToDataPlane, finishEndpointDeletion, pushEndpoint, releaseMoved } from './transitions.js';

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

export interface Follower {
  stop(): Promise<void>;
}

export function follow(st: ControlState, store: Store, relistDelayMs = 1_000): Follower {
  let watch: Watch | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  st.watchedListener = (id) => react(st, id);
  const start = (from: number) => {
    watch = store.watch(from, {
      batch: (b) => {
        for (const id of st.applyWatched(b)) react(st, id);
      },
      compacted: (why) => {
        st.log.warn({ reason: why }, 'store watch lost: listing again');
        relist();
      },
    });
  };
  const relist = () => {
    if (stopped) return;
    void store.load().then((snap) => {
      if (stopped) return;
      const servedHere = new Set([...st.endpoints.values()].filter((e) => !st.servedElsewhere(e.id)).map((e) => e.id));
      st.replaceFrom(snap);
      st.storeObserver?.relisted();
      // placed elsewhere meanwhile: torn down here (react)
      for (const e of [...st.endpoints.values()]) if (!st.servedElsewhere(e.id) || servedHere.has(e.id)) react(st, e.id);
      start(snap.revision);
    }, (err: Error) => {
      st.log.warn({ err: err.message }, 'store unreachable: listing again soon');
      timer = setTimeout(relist, relistDelayMs);
      timer.unref();
    });
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

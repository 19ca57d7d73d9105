// A proxy enabled again on a fleet (README "Fleet"): the node serving its endpoint decides, as a
// single node decides for its own (faults.ts publish). The node whose API took the change stores
// it; the owner tries it from its watch, and when a listener cannot bind there (its port taken
// meanwhile) it stores that proxy as still taken down (a compare-and-swap over the document it
// tried, the rest of it kept) and logs why. Then it publishes its verdict (kind `faultverdict`, one
// document per node, as `targethealth`): the store revision it tried and the proxies it refused,
// written only when the document enabled again a proxy it serves and another node is live. The
// answering node waits for the owners' verdicts (DEFAULTS.fleet.faultVerdictWaitMs at most) and
// answers the owner's refusal, or the change once every owner took it.
import { DEFAULTS } from '../model/defaults.js';
import { DomainError } from '../model/errors.js';
import type { Ack } from '../model/events.js';
import { proxyEndpoint, proxyName, type FaultVerdict, type InjectedFaults, type ProxyRefusal } from '../model/toxics.js';
import { FAULTS_DOCUMENT, type ControlState } from './state.js';
import { failureName, lastSentFaults, liveSpec, sendFaults } from './transitions.js';

const liveNodes = (st: ControlState): Set<string> => new Set((st.fleet?.nodes() ?? []).map((n) => n.id));

/** what a change owes its client: the store revision it landed at, and each proxy it enabled again by the live node serving it */
export interface VerdictsOwed {
  readonly revision: number;
  readonly owners: ReadonlyMap<string, string>;
}

/**
 * The verdicts a change of the faults from WAS to NEXT, stored at REVISION, waits for: undefined
 * when none (a single node, no proxy enabled again, none served by another live node)
 */
export function verdictsOwed(st: ControlState, was: InjectedFaults, next: InjectedFaults, revision: number): VerdictsOwed | undefined {
  if (st.nodeId === undefined) return undefined;
  const live = liveNodes(st);
  const still = new Set(next.disabled);
  const owners = new Map<string, string>();
  for (const proxy of was.disabled) {
    const node = still.has(proxy) ? undefined : st.endpoints.get(proxyEndpoint(proxy))?.node;
    if (node !== undefined && node !== st.nodeId && live.has(node)) owners.set(proxy, node);
  }
  return owners.size ? { revision, owners } : undefined;
}

/**
 * Waits until each owner's verdict covers the change (its revision or a later one), for at most
 * DEFAULTS.fleet.faultVerdictWaitMs, and throws an owner's refusal as its own API would have.
 * Past the bound (an owner busy, or gone), the change stands as stored and the caller answers it.
 */
export async function awaitVerdicts(st: ControlState, owed: VerdictsOwed | undefined): Promise<void> {
  if (!owed) return;
  const nodes = new Set(owed.owners.values());
  const pending = () => {
    const live = liveNodes(st);
    return [...nodes].filter((n) => live.has(n) && (st.faultVerdicts.get(n)?.revision ?? -1) < owed.revision);
  };
  const until = Date.now() + DEFAULTS.fleet.faultVerdictWaitMs;
  while (pending().length && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 10));
  for (const [proxy, node] of owed.owners) {
    const verdict = st.faultVerdicts.get(node);
    const refusal = verdict && verdict.revision >= owed.revision ? verdict.refused.find((r) => r.proxy === proxy) : undefined;
    if (refusal) throw new DomainError(refusal.name, refusal.message);
  }
  const late = pending();
  if (late.length) {
    st.log.warn({ nodes: late, revision: owed.revision, waited_ms: DEFAULTS.fleet.faultVerdictWaitMs }, 'fleet: no verdict from the node serving a proxy enabled again: answered as stored');
  }
}

/** each control state's followFaults under way: one at a time, so that its verdicts are written in order */
const following = new WeakMap<ControlState, Promise<void>>();
/** the nodes whose verdict was withdrawn at a clean stop: they write none after it */
const withdrawn = new WeakSet<ControlState>();

/**
 * Sends the faults document another node changed (follow.ts) to this node's data plane. On a
 * fleet, the proxies it serves that the document enables but whose listeners cannot bind here are
 * stored as taken down again, and its verdict goes to the store for the node whose API answered.
 */
export function followFaults(st: ControlState): Promise<void> {
  // what is tried is read now, with the revision it reflects, not once the previous one is done
  const tried = st.injectedFaults;
  const revision = st.storeRevision;
  const run = (following.get(st) ?? Promise.resolve()).then(() => tryFaults(st, tried, revision));
  following.set(st, run.catch(() => undefined));
  return run;
}

async function tryFaults(st: ControlState, tried: InjectedFaults, revision: number): Promise<void> {
  const before = lastSentFaults(st);
  const ack = await sendFaults(st, tried);
  if (ack.ok && !enablesAgainHere(st, before, tried)) return;
  const refused = ack.ok || st.nodeId === undefined ? [] : refusedProxies(st, tried, ack);
  if (!ack.ok && !refused.length) st.log.warn({ reason: ack.reason }, 'data plane did not take the toxics and proxies taken down');
  if (refused.length) {
    st.log.warn({ proxies: refused.map((r) => r.proxy), reason: ack.ok ? undefined : ack.reason }, 'proxy enabled again through another node stays taken down: its listener cannot bind on this node');
    await keepDown(st, tried, refused);
  }
  await publishVerdict(st, revision, refused);
}

/** whether TRIED enables again a proxy of an endpoint this node serves, taken down in what its data plane was told BEFORE */
function enablesAgainHere(st: ControlState, before: InjectedFaults | undefined, tried: InjectedFaults): boolean {
  if (!before || st.nodeId === undefined) return false;
  const still = new Set(tried.disabled);
  return before.disabled.some((p) => !still.has(p) && st.endpoints.has(proxyEndpoint(p)) && !st.servedElsewhere(proxyEndpoint(p)));
}

/** the proxies of the live endpoints this node serves that TRIED enables and whose listeners are not bound (the data plane binds an endpoint's new ports all or none) */
function refusedProxies(st: ControlState, tried: InjectedFaults, ack: Extract<Ack, { ok: false }>): ProxyRefusal[] {
  const disabled = new Set(tried.disabled);
  const out: ProxyRefusal[] = [];
  for (const e of st.endpoints.values()) {
    if (e.status !== 'accepted' || st.servedElsewhere(e.id)) continue;
    const spec = liveSpec(st, e);
    const bound = st.dataPlane.admissionOf(e.id)?.ports;
    if (!spec || !bound) continue;
    for (const b of spec.backends) {
      const proxy = proxyName(e.id, b.client_port);
      if (!disabled.has(proxy) && !bound.includes(b.client_port)) out.push({ proxy, name: failureName(ack.failure), message: ack.reason });
    }
  }
  return out;
}

/** stores the refused proxies as taken down, over the very document tried (a newer one is tried on its own), and tells the data plane */
async function keepDown(st: ControlState, tried: InjectedFaults, refused: readonly ProxyRefusal[]): Promise<void> {
  let stored = false;
  try {
    await st.serial(async () => {
      if (st.injectedFaults !== tried) return;
      const next: InjectedFaults = { toxics: tried.toxics, disabled: [...tried.disabled, ...refused.map((r) => r.proxy)] };
      await st.commit([{ kind: 'fault', id: FAULTS_DOCUMENT, value: next }], () => { st.injectedFaults = next; });
      stored = true;
    });
  } catch (err) {
    st.log.warn({ err: (err as Error).message }, 'fleet: the proxies whose listeners cannot bind could not be stored as taken down');
  }
  if (stored) await sendFaults(st, st.injectedFaults);
}

/** this node's verdict into the store (written only while another node is live to read it) */
async function publishVerdict(st: ControlState, revision: number, refused: readonly ProxyRefusal[]): Promise<void> {
  const node = st.nodeId;
  if (node === undefined || withdrawn.has(st) || !(st.fleet?.nodes() ?? []).some((n) => n.id !== node)) return;
  const verdict: FaultVerdict = { node, revision, refused };
  await st.writeOwn({ kind: 'faultverdict', id: node, value: verdict }).catch((err: unknown) => {
    st.log.warn({ err: (err as Error).message }, 'fleet: publishing this node\'s verdict on the proxies enabled again failed');
  });
}

/** a clean stop: this node's verdict goes (after the one under way, if any) */
export async function withdrawVerdict(st: ControlState): Promise<void> {
  withdrawn.add(st);
  await following.get(st);
  if (st.nodeId !== undefined && st.faultVerdicts.has(st.nodeId)) await st.writeOwn({ kind: 'faultverdict', id: st.nodeId, value: null }).catch(() => undefined);
}

// The data-plane side of the control plane: what a live endpoint is to the data plane, change
// events sent with a time limit, and the status changes that follow the data plane's answer
// (creating -> available or accepted, else failed; deleting -> gone). reconcile() brings the data
// plane to the stored state after a start or a crash.
import { bandwidthOf } from '../model/bandwidth.js';
import { DEFAULTS } from '../model/defaults.js';
import { DomainError, type ResourceError } from '../model/errors.js';
import type { Ack, ChangeEvent, ListenErrorName, ListenFailure, LiveEndpoint } from '../model/events.js';
import { normaliseWhitelist } from '../model/rules.js';
import type { InjectedFaults } from '../model/toxics.js';
import { admitsMembers, LIVE_ENDPOINT_STATUSES, type Endpoint, type EndpointService } from '../model/types.js';
import type { Change } from '../store/store.js';
import { enforcedAcl } from './network-acls.js';
import { listenerProbes, loadBalancerBackends, portBackends, publicBackends, subnetZone } from './lb-backends.js';
import { now, type ControlState } from './state.js';

/** the endpoint as the data plane runs it; null: it cannot run (its service, VPC or addresses missing) */
export function liveSpec(st: ControlState, e: Endpoint): LiveEndpoint | null {
  const s = st.services.get(e.service_id);
  const vpc = st.vpcs.get(e.vpc_id);
  if (!s || s.status !== 'available' || !vpc || !e.ip || !e.host_ip || !e.snat_ip || !e.enis.length) return null;
  return {
    id: e.id,
    marker_id: e.marker_id,
    service_id: s.id,
    ip: e.ip,
    host_ip: e.host_ip,
    enis: e.enis.map((n) => ({ zone: n.zone, ip: n.ip, host_ip: n.host_ip, network_acl: enforcedAcl(st, vpc, n.subnet_id) })),
    vpc_id: e.vpc_id,
    vpc_number: vpc.number,
    vpc_cidr: vpc.cidr,
    snat_ip: e.snat_ip,
    tcp_proxy: s.tcp_proxy,
    backends: backendsOf(st, s),
    zone_affinity: e.zone_affinity === true,
    bandwidth_mbps: bandwidthOf(e, s),
    enable_whitelist: e.enable_whitelist,
    // kept as given (rules.ts checkWhitelist), matched as CIDR blocks
    whitelist: normaliseWhitelist(e.whitelist),
    connection_cap: st.capOf(e.owner),
    account_id: st.accountsByName.get(e.owner)?.domain_id,
    security_rules: securityRules(st, e),
  };
}

/**
 * The ingress rules an endpoint's connections must match: those of its stored groups, a default
 * group's "from its members" read as from its VPC's addresses (clients have no group here). null:
 * not enforced: none given, or a config VPC's virtual default group among them (it admits everything).
 * A group of a VPC made through the API that is not stored (gone) admits nothing: never everything.
 */
function securityRules(st: ControlState, e: Endpoint): LiveEndpoint['security_rules'] {
  const ids = e.security_groups ?? [];
  if (!ids.length) return null;
  // a config VPC's virtual default group among them admits everything, so their union does too
  // (with another group it added nothing: adding a group took access away)
  const configVpc = st.vpcs.get(e.vpc_id)?.origin !== 'api';
  if (configVpc && ids.some((id) => !st.securityGroups.has(id))) return null;
  const groups = ids.flatMap((id) => st.securityGroups.get(id) ?? []);
  const out: Array<{ cidr: string; from_port: number; to_port: number }> = [];
  for (const g of groups) {
    if (admitsMembers(g)) out.push({ cidr: st.vpcs.get(g.vpc_id)?.cidr ?? '0.0.0.0/32', from_port: 0, to_port: 65535 });
    for (const r of g.ingress) out.push({ cidr: r.cidr, from_port: r.from_port, to_port: r.to_port });
  }
  return out;
}

/** the terminal ports a service opens on its endpoints: its port mappings', else its load balancers' listeners' (a public service's) */
export function clientPortsOf(st: ControlState, s: EndpointService): Set<number> {
  return new Set(s.public || s.load_balancers ? backendsOf(st, s).map((b) => b.client_port) : s.ports.map((m) => m.client_port));
}

/** the real addresses each terminal port relays to */
export function backendsOf(st: ControlState, s: EndpointService): LiveEndpoint['backends'] {
  if (s.public) return publicBackends(st, s);
  return s.load_balancers ? loadBalancerBackends(st, s) : portBackends(st, s);
}

/** an endpoint placed on another node (a fleet's placement): this node's listeners close and its connections are cut */
export async function releaseMoved(st: ControlState, id: string): Promise<void> {
  const ack = await st.dataPlane.apply({ kind: 'endpoint', id, live: null });
  if (!ack.ok) st.log.warn({ endpoint_id: id, reason: ack.reason }, 'fleet: the data plane did not confirm the teardown of an endpoint placed elsewhere');
}

export async function applyToDataPlane(st: ControlState, event: ChangeEvent): Promise<Ack> {
  // another daemon sharing the store serves it: its data plane acts (it follows the store)
  if (event.kind === 'endpoint' && st.servedElsewhere(event.id)) return { ok: true };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<{ ok: false; reason: string }>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, reason: `the data plane did not answer within ${DEFAULTS.api.dataPlaneAckTimeoutMs} ms` }), DEFAULTS.api.dataPlaneAckTimeoutMs);
  });
  try {
    return await Promise.race([st.dataPlane.apply(event), timeout]);
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

/** the error name of a data-plane failure: why a listener could not bind, else SystemError */
export function failureName(failure?: ListenFailure): ListenErrorName {
  return failure === 'privileged_port' ? 'PrivilegedPort' : failure === 'listen_failed' ? 'ListenFailed' : 'SystemError';
}

/** the `error` entry of a resource the data plane could not bring up */
function errorOf(reason: string, failure?: ListenFailure): ResourceError {
  return { name: failureName(failure), message: reason };
}

/** an endpoint the data plane could not bring up or keep: failed with the reason, its SNAT address given back */
export function failedEndpoint(e: Endpoint, ack: Extract<Ack, { ok: false }>): Endpoint {
  return { ...e, status: 'failed', snat_ip: null, updated_at: now(), error: errorOf(ack.reason, ack.failure) };
}

/** the toxics and proxies taken down last sent to each control state's data plane (fault-verdicts.ts: what a document enables again) */
const sentFaults = new WeakMap<ControlState, InjectedFaults>();

/** sends the toxics and the proxies taken down to the data plane, and keeps what it was told */
export function sendFaults(st: ControlState, f: InjectedFaults): Promise<Ack> {
  sentFaults.set(st, f);
  return applyToDataPlane(st, { kind: 'faults', id: 'faults', toxics: f.toxics, disabled: f.disabled });
}

/** what sendFaults last told this node's data plane (undefined: nothing yet) */
export const lastSentFaults = (st: ControlState): InjectedFaults | undefined => sentFaults.get(st);

/**
 * sends the toxics and the proxies taken down as stored, at start (a proxy of another node's change
 * its listener cannot bind: fault-verdicts.ts followFaults)
 */
export async function pushFaults(st: ControlState): Promise<void> {
  const ack = await sendFaults(st, st.injectedFaults);
  if (!ack.ok) st.log.warn({ reason: ack.reason }, 'data plane did not take the toxics and proxies taken down');
}

/**
 * sends the routing view; a public service whose listeners cannot bind turns failed, and available
 * again once they bind. On a fleet that is the node's own condition (another node of the machine
 * holds the listeners): logged and kept in st.publicUnbound, tried again by converge, the
 * service's stored state left as it is
 */
export async function pushRouting(st: ControlState): Promise<Ack> {
  const ack = await applyToDataPlane(st, { kind: 'routing', id: 'routing', view: st.routing() });
  if (!ack.ok) return ack;
  const failed = ack.failedServices ?? new Map();
  if (st.nodeId !== undefined) {
    for (const s of st.services.values()) {
      if (!s.public || s.service_type !== 'gateway') continue;
      const f = failed.get(s.id);
      if (f && st.publicUnbound.get(s.id) !== f.reason) {
        st.log.warn({ service: s.service_name, reason: f.reason }, 'public service\'s listeners cannot bind on this node (on one machine another node may hold them): tried again');
        st.publicUnbound.set(s.id, f.reason);
      } else if (!f && st.publicUnbound.delete(s.id)) {
        st.log.info({ service: s.service_name }, 'public service\'s listeners bound on this node');
      }
    }
  }
  // one node alone stores the service failed, and available again once its listeners bind (a
  // fleet's node stores nothing failed: one stored so by an earlier version turns available)
  await st.serial(async () => {
    const changes: Change[] = [];
    for (const s of st.services.values()) {
      if (!s.public || s.service_type !== 'gateway') continue;
      const f = failed.get(s.id);
      if (f && st.nodeId === undefined && (s.status !== 'failed' || s.error?.message !== f.reason)) {
        st.log.warn({ service: s.service_name, reason: f.reason }, 'public service failed: its listeners cannot bind');
        changes.push({ kind: 'service', id: s.id, value: { ...s, status: 'failed', updated_at: now(), error: errorOf(f.reason, f.failure) } });
      } else if (!f && s.status === 'failed') {
        st.log.info({ service: s.service_name }, 'public service available: its listeners are bound');
        changes.push({ kind: 'service', id: s.id, value: { ...s, status: 'available', updated_at: now(), error: undefined } });
      }
    }
    if (changes.length === 0) return;
    await st.commit(changes, () => { for (const c of changes) st.services.set(c.id, c.value as EndpointService); });
  });
  return ack;
}

/** a public gateway service whose listeners could not bind: the converge loop tries them again */
const anyPublicFailed = (st: ControlState): boolean => st.publicUnbound.size > 0 || [...st.services.values()].some((s) => s.public && s.status === 'failed');

export async function bringServiceUp(st: ControlState, id: string): Promise<void> {
  const ack = await applyToDataPlane(st, { kind: 'service', id, available: true });
  await st.serial(async () => {
    const s = st.services.get(id);
    if (!s || s.status !== 'creating') return;
    const next: EndpointService = ack.ok
      ? { ...s, status: 'available', updated_at: now() }
      : { ...s, status: 'failed', updated_at: now(), error: errorOf(ack.reason, ack.failure) };
    await st.commit([{ kind: 'service', id, value: next }], () => st.services.set(id, next));
  });
}

/** creating -> accepted on the data plane's ok; accepted stays accepted (restore); else failed */
export async function bringEndpointUp(st: ControlState, id: string): Promise<void> {
  const e = st.endpoints.get(id);
  if (!e) return;
  const live = e.service_type === 'gateway' ? null : liveSpec(st, e);
  // no spec: its service is gone (deleted meanwhile, on a fleet by another node) or not available;
  // the endpoint fails for that reason, not as vpcep-sim's own fault
  const service = st.services.get(e.service_id);
  const noService: ResourceError | null = e.service_type === 'gateway' || live ? null
    : !service || service.status === 'deleting'
      ? { name: 'ServiceNotFound', message: `endpoint service ${e.service_id} was deleted` }
      : service.status !== 'available' ? { name: 'ServiceUnavailable', message: `endpoint service ${e.service_id} is not available` } : null;
  // an interface endpoint without ENIs (AWS makes them: subnets come later) is up with nothing to bind
  const idle = e.service_type === 'interface' && e.enis.length === 0 && noService === null;
  const ack = e.service_type === 'gateway'
    ? await pushRouting(st)
    : live || idle
      ? await applyToDataPlane(st, { kind: 'endpoint', id, live })
      : { ok: false as const, reason: noService?.message ?? `endpoint ${id} cannot be brought up: its VPC or addresses are missing` };
  // restored as it was (accepted, and the data plane took it): nothing to store, no turn in the mutation queue
  if (ack.ok && e.service_type !== 'gateway' && st.endpoints.get(id)?.status === 'accepted') return;
  try {
    await st.serial(async () => {
      const cur = st.endpoints.get(id);
      // placed on another node meanwhile (a fleet's leader moved it): its owner activates it
      if (!cur || st.servedElsewhere(id) || (cur.status !== 'creating' && cur.status !== 'accepted')) return;
      if (ack.ok && cur.status === 'accepted') return;
      const next: Endpoint = ack.ok
        ? { ...cur, status: 'accepted', updated_at: now(), error: undefined }
        : noService ? { ...cur, status: 'failed', snat_ip: null, updated_at: now(), error: noService } : failedEndpoint(cur, ack);
      if (!ack.ok) st.log.warn({ endpoint_id: id, reason: ack.reason }, 'endpoint failed');
      await st.commit([{ kind: 'endpoint', id, value: next }], () => st.endpoints.set(id, next));
    }, { pipelined: true });
  } catch (err) {
    // The data plane acted but the store could not say so (a full disk): undo the data-plane side,
    // so that no endpoint relays while it is stored as creating; converge() brings it up later.
    if (ack.ok && live && st.endpoints.get(id)?.status === 'creating') await applyToDataPlane(st, { kind: 'endpoint', id, live: null });
    // other nodes kept changing it (its compare-and-swap lost every time): converge() tries again,
    // and a start goes on (a node restarting while the leader moves its endpoints)
    if (err instanceof DomainError && err.name === 'StoreConflict') {
      st.log.warn({ endpoint_id: id, err: err.message }, 'endpoint not brought up: the store kept changing under it; tried again later');
      return;
    }
    throw err;
  }
  if (ack.ok && live && st.servedElsewhere(id)) return releaseMoved(st, id);
  // A gateway endpoint's routes carry traffic once the view says accepted.
  if (e.service_type === 'gateway') await pushRouting(st);
}

/** sends a live endpoint's current spec; a data-plane failure turns it failed */
export async function pushEndpoint(st: ControlState, id: string): Promise<void> {
  const e = st.endpoints.get(id);
  if (!e) return;
  if (e.service_type === 'gateway') {
    await pushRouting(st);
    return;
  }
  const live = liveSpec(st, e);
  const ack = await applyToDataPlane(st, { kind: 'endpoint', id, live });
  if (ack.ok) return;
  await st.serial(async () => {
    const cur = st.endpoints.get(id);
    if (!cur || !LIVE_ENDPOINT_STATUSES.has(cur.status)) return;
    const next = failedEndpoint(cur, ack);
    st.log.warn({ endpoint_id: id, reason: ack.reason }, 'endpoint failed');
    await st.commit([{ kind: 'endpoint', id, value: next }], () => st.endpoints.set(id, next));
  });
  await applyToDataPlane(st, { kind: 'endpoint', id, live: null });
}

export async function finishEndpointDeletion(st: ControlState, id: string): Promise<void> {
  const gateway = st.endpoints.get(id)?.service_type === 'gateway';
  // A deleting gateway endpoint's routes are already out of the view: push it first.
  const ack = gateway ? await pushRouting(st) : await applyToDataPlane(st, { kind: 'endpoint', id, live: null, deleted: true });
  // the data plane forgets its counters (an interface endpoint's went with its teardown)
  if (gateway) await applyToDataPlane(st, { kind: 'endpoint', id, live: null, deleted: true });
  if (!ack.ok) st.log.warn({ endpoint_id: id, reason: ack.reason }, 'data plane did not confirm the endpoint teardown');
  const gone = await st.serial(async () => {
    if (st.endpoints.get(id)?.status !== 'deleting') return false;
    await st.commit([{ kind: 'endpoint', id, value: null }], () => st.endpoints.delete(id));
    return true;
  });
  if (gone) await st.removed('endpoint', id);
}

/** how long a stored deletion waits before its removal is tried again while the store refuses writes */
const REMOVAL_RETRY_MS = 1_000;

const storeTrouble = (err: unknown): boolean =>
  err instanceof DomainError && (err.name === 'StoreFull' || err.name === 'StoreUnavailable' || err.name === 'StoreConflict');

/**
 * Finishes a deletion whose `deleting` state is stored. A store that refuses the removal now (a
 * full disk, etcd away) does not turn the answer into an error: the deletion is taken (the resource
 * shows `deleting`, its listeners are closed), and its removal is tried again every
 * REMOVAL_RETRY_MS until it lands; a stop leaves it to the next start (restore() finishes it).
 */
export async function finishDeletion(st: ControlState, kind: 'endpoint' | 'service', id: string): Promise<void> {
  const finish = () => (kind === 'endpoint' ? finishEndpointDeletion(st, id) : finishServiceDeletion(st, id));
  try {
    await finish();
    return;
  } catch (err) {
    if (!storeTrouble(err)) throw err;
    st.log.warn({ [`${kind}_id`]: id, err: (err as Error).message }, `${kind} deletion taken: its removal waits for the store`);
  }
  st.track((async () => {
    while (!st.stopping) {
      await new Promise((resolve) => setTimeout(resolve, REMOVAL_RETRY_MS));
      if (st.stopping) return;
      try {
        await finish();
        return;
      } catch (err) {
        if (!storeTrouble(err)) throw err;
      }
    }
  })());
}

/** an endpoint whose service is gone: it can never connect now */
function orphaned(e: Endpoint, serviceId: string): Endpoint {
  return {
    ...e, status: 'failed', snat_ip: null, updated_at: now(),
    error: { name: 'ServiceNotFound', message: `endpoint service ${serviceId} was deleted` },
  };
}

/**
 * On a fleet, the endpoints this node serves of a service another node deleted (follow.ts): the
 * deleting node fails those it knows (finishServiceDeletion), but one made through this node at
 * the same moment may have been stored, and brought up here, before either node saw the other's
 * change. It fails here, for the same reason, and its listeners close.
 */
export async function failOrphans(st: ControlState, serviceId: string): Promise<void> {
  const failed = await st.serial(async () => {
    if (st.services.has(serviceId)) return null;
    const next = [...st.endpoints.values()]
      .filter((e) => e.service_id === serviceId && e.status !== 'deleting' && e.status !== 'failed' && !st.servedElsewhere(e.id))
      .map((e) => orphaned(e, serviceId));
    if (next.length) {
      await st.commit(next.map((e): Change => ({ kind: 'endpoint', id: e.id, value: e })), () => {
        for (const e of next) st.endpoints.set(e.id, e);
      });
    }
    return next;
  });
  if (failed === null) return;
  for (const e of failed) await applyToDataPlane(st, { kind: 'endpoint', id: e.id, live: null });
  // the service's backends' counters on this node go with it
  await applyToDataPlane(st, { kind: 'service', id: serviceId, available: false });
}

export async function finishServiceDeletion(st: ControlState, id: string): Promise<void> {
  await applyToDataPlane(st, { kind: 'service', id, available: false });
  const gone = await st.serial(async () => {
    if (st.services.get(id)?.status !== 'deleting') return false;
    // Endpoints left waiting on the service (pending, rejected, failed) can never connect now.
    const next = [...st.endpoints.values()].filter((e) => e.service_id === id && e.status !== 'deleting').map((e) => orphaned(e, id));
    const changes: Change[] = [{ kind: 'service', id, value: null }];
    for (const e of next) changes.push({ kind: 'endpoint', id: e.id, value: e });
    await st.commit(changes, () => {
      st.services.delete(id);
      for (const e of next) st.endpoints.set(e.id, e);
    });
    return true;
  });
  if (gone) await st.removed('service', id);
}

/** the listener probes last sent to each control state's data plane (as JSON): a push that changes nothing is not sent */
const sentProbes = new WeakMap<ControlState, string>();

/**
 * sends the data plane the targets the load balancers' listeners forward to (listenerProbes), to
 * probe whether or not an endpoint relays to them: after a change of a load balancer, listener or
 * target group made here, seen from another node, or listed again, and at start
 */
export async function pushProbes(st: ControlState): Promise<void> {
  const targets = listenerProbes(st);
  const text = JSON.stringify(targets);
  if (sentProbes.get(st) === text) return;
  sentProbes.set(st, text);
  const ack = await applyToDataPlane(st, { kind: 'probes', id: 'probes', targets });
  if (!ack.ok) st.log.warn({ reason: ack.reason }, 'data plane could not take the load balancers\' health checks');
}

/**
 * Brings the data plane to the stored state after a start or a crash: services and endpoints
 * that were on their way up are finished, live endpoints are restored, half-done deletions are
 * completed.
 */
export async function reconcile(st: ControlState, activate: Activate = bringEndpointUp): Promise<void> {
  // the zones down before a restart stay down: told before any endpoint is live
  const zones = await applyToDataPlane(st, { kind: 'zones', id: 'zones', down: [...st.zonesDown] });
  if (!zones.ok) st.log.warn({ reason: zones.reason }, 'data plane could not take the zones down');
  // the toxics and proxies taken down stored before a restart apply before any endpoint is live
  await pushFaults(st);
  const routed = await pushRouting(st);
  if (!routed.ok) st.log.warn({ reason: routed.reason }, 'data plane could not take the routing view');
  await pushProbes(st);
  await converge(st, true, activate);
}

/** how an endpoint stored `creating` is brought up (the provisioning faults' switches: provisioning-faults.ts) */
export type Activate = (st: ControlState, id: string) => Promise<void>;

/**
 * Finishes what is half-way (creating, deleting): after a start, and periodically, so that a
 * transition whose commit failed (a full disk) is retried until store and data plane agree.
 * RESTORE also re-sends what is stable (available services, accepted endpoints) after a start.
 */
export async function converge(st: ControlState, restore = false, activate: Activate = bringEndpointUp): Promise<void> {
  if (!restore && anyPublicFailed(st)) await pushRouting(st);
  for (const s of [...st.services.values()]) {
    if (s.status === 'creating') await bringServiceUp(st, s.id);
    else if (s.status === 'deleting') await finishServiceDeletion(st, s.id);
    else if (restore && s.status === 'available') await applyToDataPlane(st, { kind: 'service', id: s.id, available: true });
  }
  const restoring: string[] = [];
  for (const e of [...st.endpoints.values()]) {
    // an activation waiting out a provisioning delay is left to it (src/control/provisioning-faults.ts)
    if (st.faults.isWaiting(e.id)) continue;
    if (st.servedElsewhere(e.id)) continue;
    if (restore && e.status === 'accepted' && e.service_type === 'interface') restoring.push(e.id);
    else if (e.status === 'creating') await activate(st, e.id);
    else if (restore && e.status === 'accepted') await bringEndpointUp(st, e.id);
    else if (e.status === 'deleting') await finishEndpointDeletion(st, e.id);
  }
  // the live interface endpoints of a start, RESTORE_IN_FLIGHT at a time: the data plane binds
  // different endpoints independently (one at a time, 5,000 took seconds: issue 16)
  let next = 0;
  const worker = async () => {
    while (next < restoring.length) await bringEndpointUp(st, restoring[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(RESTORE_IN_FLIGHT, restoring.length) }, worker));
}

/** endpoints a start restores at once */
const RESTORE_IN_FLIGHT = 64;

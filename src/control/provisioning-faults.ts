// Provisioning faults on the way up (src/model/provisioning-faults.ts): an endpoint's activation
// waits out the configured delay (the API shows `creating`, AWS `pending`, meanwhile), then fails
// when asked to, else goes to the data plane as always. The delay and the failure switches are
// stored (meta documents), so that every node of a fleet holds them: an endpoint's owner runs its
// activation, whichever node was asked; a switch is taken in the commit of the failure it causes,
// so that it fires once in the fleet.
import { DomainError } from '../model/errors.js';
import { DEFAULT_FAILURE, type FailureSwitch } from '../model/provisioning-faults.js';
import type { Account, Endpoint } from '../model/types.js';
import type { Change } from '../store/store.js';
import { FAILURE_SWITCHES, now, PROVISIONING_DELAY, type ControlState } from './state.js';
import { applyToDataPlane, bringEndpointUp } from './transitions.js';

/** a fresh activation (create without approval, accept): the delay, then a failure asked for, or the data plane */
export function activateEndpoint(st: ControlState, id: string): Promise<void> {
  const run = activation(st, id).finally(() => {
    if (st.faults.activations.get(id) === run) st.faults.activations.delete(id);
  });
  st.faults.activations.set(id, run);
  return run;
}

/**
 * an activation found on its way (a start after a SIGKILL during the delay, a commit tried again):
 * no delay (a restart brings it up at once), but a switch armed for it or its service still takes
 * it (it came back accepted, the switch left armed for the next endpoint)
 */
export function activateEndpointNow(st: ControlState, id: string): Promise<void> {
  return activation(st, id, false);
}

async function activation(st: ControlState, id: string, delay = true): Promise<void> {
  const f = st.faults;
  const e = st.endpoints.get(id);
  if (!e) return;
  if (delay && f.delayMs > 0) {
    f.injected.delay++;
    await f.wait(id, f.delayMs);
  }
  // a switch taken meanwhile by another node's activation (its commit won): the next one, or up
  for (;;) {
    const failure = f.failureOf(id, e.service_id);
    if (failure === null) return bringEndpointUp(st, id);
    if ((await failActivation(st, id, failure.message, failure)) !== 'taken') return;
  }
}

/** the meta document of a kind of switch with one armed (a message) or taken (null) */
function switchChange(st: ControlState, kind: FailureSwitch['kind'], id: string, message: string | null): Change {
  const value = st.faults.switches(kind);
  if (message === null) delete value[id];
  else value[id] = message;
  return { kind: 'meta', id: FAILURE_SWITCHES[kind], value };
}

/**
 * creating -> failed with the error asked for, taking SW (the switch that asked) in the same
 * commit; what the data plane runs of it is torn down. 'taken': SW is not the switch the
 * activation meets any more (another node's activation took it first), nothing changed.
 */
async function failActivation(st: ControlState, id: string, message: string, sw?: FailureSwitch): Promise<'failed' | 'taken' | 'not creating'> {
  const outcome = await st.serial(async () => {
    const cur = st.endpoints.get(id);
    if (!cur || cur.status !== 'creating') return 'not creating' as const;
    const still = sw && st.faults.failureOf(id, cur.service_id);
    if (sw && (still?.kind !== sw.kind || still.id !== sw.id)) return 'taken' as const;
    const next: Endpoint = { ...cur, status: 'failed', snat_ip: null, updated_at: now(), error: { name: 'SystemError', message } };
    const taken = sw ? switchChange(st, sw.kind, sw.id, null) : undefined;
    await st.commit(taken ? [{ kind: 'endpoint', id, value: next }, taken] : [{ kind: 'endpoint', id, value: next }], () => {
      st.endpoints.set(id, next);
      if (sw) st.faults.setSwitches(sw.kind, taken!.value as Record<string, string>);
    });
    st.faults.injected.failure++;
    st.log.warn({ endpoint_id: id, reason: message }, 'endpoint failed: a provisioning fault');
    return 'failed' as const;
  });
  if (outcome === 'failed' && st.endpoints.get(id)?.service_type === 'interface') await applyToDataPlane(st, { kind: 'endpoint', id, live: null });
  return outcome;
}

/** arms a switch, stored: the node that activates the endpoint takes it, and one waiting out the delay wakes */
async function armSwitch(st: ControlState, kind: FailureSwitch['kind'], id: string, message: string): Promise<void> {
  await st.serial(async () => {
    const change = switchChange(st, kind, id, message);
    await st.commit([change], () => st.faults.setSwitches(kind, change.value as Record<string, string>));
  });
}

/** the switch of a deleted endpoint, to drop in its deletion's commit: none when it has none */
export function droppedSwitch(st: ControlState, endpointId: string): Change[] {
  return st.faults.switches('endpoint')[endpointId] === undefined ? [] : [switchChange(st, 'endpoint', endpointId, null)];
}

/**
 * POST /sim/endpoints/{id}/fail-activation: an endpoint the caller sees (its own, or a connection of
 * its service) fails its activation: now when it is creating, at its acceptance when pending.
 */
export async function failEndpointActivation(st: ControlState, caller: Account, id: string, message = DEFAULT_FAILURE): Promise<Endpoint> {
  const e = st.endpoints.get(id);
  const visible = e && (e.owner === caller.name || st.services.get(e.service_id)?.owner === caller.name);
  if (!e || !visible) throw new DomainError('EndpointNotFound', `endpoint ${id} does not exist`);
  // activated by another node (its owner), or waiting out the delay here: the switch, taken by the activation
  if (e.status === 'pendingAcceptance' || (e.status === 'creating' && (st.faults.isWaiting(id) || st.servedElsewhere(id)))) {
    await armSwitch(st, 'endpoint', id, message);
    // a waiting activation here wakes and fails: answer once it has (an owner elsewhere fails it once
    // its watch brings the switch: the answer may still say creating)
    if (e.status === 'creating') await st.faults.activations.get(id)?.catch(() => undefined);
  } else if (e.status === 'creating') {
    await failActivation(st, id, message);
  } else {
    throw new DomainError('InvalidState', `endpoint ${id} is ${e.status}: only an endpoint pending acceptance or creating has an activation to fail`);
  }
  return st.endpoints.get(id) ?? e;
}

/** POST /sim/endpoint-services/{id}/fail-next-activation: the next endpoint of the caller's service to activate fails, on whichever node */
export async function failNextActivation(st: ControlState, caller: Account, serviceId: string, message = DEFAULT_FAILURE): Promise<void> {
  const s = st.ownService(caller, serviceId);
  if (s.status === 'deleting') throw new DomainError('BeingDeleted', `endpoint service ${s.id} is being deleted`);
  await armSwitch(st, 'service', s.id, message);
}

/**
 * PUT /sim/faults: ms each activation waits from now on (0: none), the region's. Stored, so that
 * every node of a fleet follows it (an endpoint's owner runs its activation) and a restart keeps it.
 */
export async function setProvisioningDelay(st: ControlState, ms: number): Promise<void> {
  await st.serial(async () => {
    await st.commit([{ kind: 'meta', id: PROVISIONING_DELAY, value: { ms } }], () => {
      st.faults.delayMs = ms;
    });
  });
}

/** the provisioning faults as the caller may see them (its own services' switches only) */
export function faultsView(st: ControlState, caller: Account): { provisioning_delay_ms: number; fail_next_activation: string[] } {
  return {
    provisioning_delay_ms: st.faults.delayMs,
    fail_next_activation: Object.keys(st.faults.switches('service')).filter((id) => st.services.get(id)?.owner === caller.name),
  };
}

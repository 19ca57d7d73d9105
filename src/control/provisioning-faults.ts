// Provisioning faults on the way up (src/model/provisioning-faults.ts): an endpoint's activation
// waits out the configured delay (the API shows `creating`, AWS `pending`, meanwhile), then fails
// when asked to, else goes to the data plane as always.
import { DomainError } from '../model/errors.js';
import { DEFAULT_FAILURE } from '../model/provisioning-faults.js';
import type { Account, Endpoint } from '../model/types.js';
import { now, PROVISIONING_DELAY, type ControlState } from './state.js';
import { applyToDataPlane, bringEndpointUp } from './transitions.js';

/** a fresh activation (create without approval, accept): the delay, then a failure asked for, or the data plane */
export function activateEndpoint(st: ControlState, id: string): Promise<void> {
  const run = activation(st, id).finally(() => {
    if (st.faults.activations.get(id) === run) st.faults.activations.delete(id);
  });
  st.faults.activations.set(id, run);
  return run;
}

async function activation(st: ControlState, id: string): Promise<void> {
  const f = st.faults;
  const e = st.endpoints.get(id);
  if (!e) return;
  if (f.delayMs > 0) {
    f.injected.delay++;
    await f.wait(id, f.delayMs);
  }
  const failure = f.takeFailure(id, e.service_id);
  if (failure === null) return bringEndpointUp(st, id);
  f.injected.failure++;
  await failActivation(st, id, failure);
}

/** creating -> failed with the error asked for; what the data plane runs of it is torn down */
async function failActivation(st: ControlState, id: string, message: string): Promise<void> {
  const failed = await st.serial(async () => {
    const cur = st.endpoints.get(id);
    if (!cur || cur.status !== 'creating') return false;
    const next: Endpoint = { ...cur, status: 'failed', snat_ip: null, updated_at: now(), error: { name: 'SystemError', message } };
    st.log.warn({ endpoint_id: id, reason: message }, 'endpoint failed: a provisioning fault');
    await st.commit([{ kind: 'endpoint', id, value: next }], () => st.endpoints.set(id, next));
    return true;
  });
  if (failed && st.endpoints.get(id)?.service_type === 'interface') await applyToDataPlane(st, { kind: 'endpoint', id, live: null });
}

/**
 * POST /sim/endpoints/{id}/fail-activation: an endpoint the caller sees (its own, or a connection of
 * its service) fails its activation: now when it is creating, at its acceptance when pending.
 */
export async function failEndpointActivation(st: ControlState, caller: Account, id: string, message = DEFAULT_FAILURE): Promise<Endpoint> {
  const e = st.endpoints.get(id);
  const visible = e && (e.owner === caller.name || st.services.get(e.service_id)?.owner === caller.name);
  if (!e || !visible) throw new DomainError('EndpointNotFound', `endpoint ${id} does not exist`);
  if (e.status === 'pendingAcceptance' || st.faults.isWaiting(id)) {
    st.faults.failActivation(id, message);
    // a waiting activation wakes and fails: answer once it has
    if (e.status === 'creating') await st.faults.activations.get(id)?.catch(() => undefined);
  } else if (e.status === 'creating') {
    st.faults.injected.failure++;
    await failActivation(st, id, message);
  } else {
    throw new DomainError('InvalidState', `endpoint ${id} is ${e.status}: only an endpoint pending acceptance or creating has an activation to fail`);
  }
  return st.endpoints.get(id) ?? e;
}

/** POST /sim/endpoint-services/{id}/fail-next-activation: the next endpoint of the caller's service to activate fails */
export function failNextActivation(st: ControlState, caller: Account, serviceId: string, message = DEFAULT_FAILURE): void {
  const s = st.ownService(caller, serviceId);
  if (s.status === 'deleting') throw new DomainError('BeingDeleted', `endpoint service ${s.id} is being deleted`);
  st.faults.failNextActivation(s.id, message);
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
    fail_next_activation: st.faults.failingServices.filter((id) => st.services.get(id)?.owner === caller.name),
  };
}

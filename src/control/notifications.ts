// Connection notifications: an account's requests to hear about the connection events of its own
// service or endpoint (src/model/notifications.ts), persisted like every resource. The events
// themselves are emitted by ControlState.commit; delivering them is src/notify's.
import type { CreateNotificationCommand, ModifyNotificationCommand } from '../model/commands.js';
import { DomainError } from '../model/errors.js';
import type { ConnectionNotification } from '../model/notifications.js';
import { madeWithToken } from '../model/rules.js';
import type { Account } from '../model/types.js';
import { now, type ControlState } from './state.js';

/** a topic the config declares and lets the caller's AWS account publish to (the topic's policy, as the config says it) */
function checkTopic(st: ControlState, caller: Account, topic: string): void {
  const accounts = st.notificationTopics.get(topic);
  if (!accounts) throw new DomainError('InvalidParameter', `the topic ${topic.slice(0, 256)} is not declared in the config (aws.sns_topics)`);
  if (!accounts.has(caller.aws_account_id)) {
    throw new DomainError('InvalidParameter', `the topic ${topic.slice(0, 256)} does not let this account publish to it (aws.sns_topics[].accounts: by default the topic's own account only)`);
  }
}

/**
 * whether a notification's topic lets its owner's account publish now (the config's policy, read
 * again at each event: one narrowed since the notification was made stops it)
 */
export function mayPublish(st: ControlState, n: ConnectionNotification): boolean {
  const owner = st.accountsByName.get(n.owner);
  return owner !== undefined && st.notificationTopics.get(n.topic)?.has(owner.aws_account_id) === true;
}

function ownNotification(st: ControlState, caller: Account, id: string): ConnectionNotification {
  const n = st.notifications.get(id);
  if (!n || n.owner !== caller.name) throw new DomainError('InvalidParameter', `connection notification ${id} does not exist`);
  return n;
}

export function listNotifications(st: ControlState, caller: Account): ConnectionNotification[] {
  return [...st.notifications.values()].filter((n) => n.owner === caller.name);
}

export function createNotification(st: ControlState, caller: Account, cmd: CreateNotificationCommand): Promise<ConnectionNotification> {
  return st.serial(async () => {
    const before = cmd.clientToken && madeWithToken(st.notifications.values(), caller.name, cmd.clientToken);
    if (before) return before;
    if ((cmd.serviceId === undefined) === (cmd.endpointId === undefined)) throw new DomainError('InvalidParameter', 'give a service or an endpoint, not both');
    if (cmd.serviceId !== undefined) st.ownService(caller, cmd.serviceId);
    if (cmd.endpointId !== undefined) st.ownEndpoint(caller, cmd.endpointId);
    checkTopic(st, caller, cmd.topic);
    if (st.notifications.has(cmd.id)) throw new DomainError('InvalidParameter', `connection notification id ${cmd.id} is already taken`);
    const at = now();
    const n: ConnectionNotification = {
      id: cmd.id, owner: caller.name, service_id: cmd.serviceId ?? null, endpoint_id: cmd.endpointId ?? null,
      topic: cmd.topic, events: [...new Set(cmd.events)], enabled: true, created_at: at, updated_at: at,
      ...(cmd.clientToken ? { client_token: cmd.clientToken } : {}),
    };
    await st.commit([{ kind: 'notification', id: n.id, value: n }], () => st.notifications.set(n.id, n));
    return n;
  });
}

export function modifyNotification(st: ControlState, caller: Account, id: string, cmd: ModifyNotificationCommand): Promise<ConnectionNotification> {
  return st.serial(async () => {
    const n = ownNotification(st, caller, id);
    if (cmd.topic !== undefined) checkTopic(st, caller, cmd.topic);
    const next: ConnectionNotification = {
      ...n, topic: cmd.topic ?? n.topic, events: cmd.events ? [...new Set(cmd.events)] : n.events, updated_at: now(),
    };
    await st.commit([{ kind: 'notification', id, value: next }], () => st.notifications.set(id, next));
    return next;
  });
}

export function deleteNotification(st: ControlState, caller: Account, id: string): Promise<void> {
  return st.serial(async () => {
    ownNotification(st, caller, id);
    await st.commit([{ kind: 'notification', id, value: null }], () => st.notifications.delete(id));
  });
}

// Connection notifications: an account asks to hear about the connection events of one of its
// endpoint services (a provider) or of one of its endpoints (a consumer), delivered to a topic the
// operator declared in the config. The control plane emits the events (ConnectionEvent) when an
// endpoint's stored status changes; a deliverer outside the control plane sends them.
import type { ClientToken, Endpoint, EndpointStatus } from './types.js';

/** what happened to an endpoint's connection: it asked to connect, was accepted, rejected, or deleted */
export const CONNECTION_EVENTS = ['connect', 'accept', 'reject', 'delete'] as const;
export type ConnectionEventName = (typeof CONNECTION_EVENTS)[number];

export interface ConnectionNotification {
  readonly id: string;
  /** the account that made it: the service's owner or the endpoint's */
  readonly owner: string;
  /** one of them is set: the service whose endpoints it covers, or the one endpoint */
  readonly service_id: string | null;
  readonly endpoint_id: string | null;
  /** the topic the operator declared (config `aws.sns_topics[].arn`) */
  readonly topic: string;
  readonly events: readonly ConnectionEventName[];
  readonly enabled: boolean;
  readonly created_at: string;
  readonly updated_at: string;
  /** made by a create with a client token (EC2's ClientToken); absent: without one */
  readonly client_token?: ClientToken;
}

export interface ConnectionEvent {
  readonly event: ConnectionEventName;
  /** the endpoint as it is after the change (before it, for a deletion) */
  readonly endpoint: Endpoint;
  readonly at: string;
}

/**
 * The events a change of an endpoint's stored document makes (none when its connection did not
 * change): created = connect (and accept, when its service accepts without approval); out of
 * pendingAcceptance, rejected or failed into creating or accepted = accept; into rejected = reject; into deleting, or
 * gone without passing through it = delete.
 */
const ACCEPTED_FROM: ReadonlySet<EndpointStatus> = new Set(['pendingAcceptance', 'rejected', 'failed']);

export function connectionEventsOf(before: Endpoint | undefined, after: Endpoint | undefined): ConnectionEventName[] {
  if (!before && after) return after.status === 'creating' || after.status === 'accepted' ? ['connect', 'accept'] : ['connect'];
  if (before && !after) return before.status === 'deleting' ? [] : ['delete'];
  if (!before || !after || before.status === after.status) return [];
  if (after.status === 'deleting') return ['delete'];
  if (after.status === 'rejected') return ['reject'];
  // accepted: out of waiting, or a rejected or failed endpoint received again (only an acceptance takes them to creating)
  if (ACCEPTED_FROM.has(before.status) && (after.status === 'creating' || after.status === 'accepted')) return ['accept'];
  return [];
}

/** whether a notification covers an endpoint's event */
export function notificationCovers(n: ConnectionNotification, e: Endpoint, event: ConnectionEventName): boolean {
  if (!n.enabled || !n.events.includes(event)) return false;
  return n.endpoint_id !== null ? n.endpoint_id === e.id : n.service_id === e.service_id;
}

// Which connection events a change of an endpoint's stored document makes, and which
// notifications hear them (src/model/notifications.ts).
import { describe, expect, it } from 'vitest';
import { connectionEventsOf, notificationCovers, type ConnectionNotification } from '../../src/model/notifications.js';
import type { Endpoint, EndpointStatus } from '../../src/model/types.js';

const endpoint = (status: EndpointStatus, id = 'vpce-1', service_id = 'svc-1') => ({ id, service_id, status }) as unknown as Endpoint;

describe('connectionEventsOf', () => {
  it.each([
    ['created waiting on approval', undefined, 'pendingAcceptance', ['connect']],
    ['created on a service without approval', undefined, 'creating', ['connect', 'accept']],
    ['accepted by the provider', 'pendingAcceptance', 'creating', ['accept']],
    ['brought up after acceptance', 'creating', 'accepted', []],
    ['a rejected one accepted again', 'rejected', 'creating', ['accept']],
    ['a failed one accepted again', 'failed', 'creating', ['accept']],
    ['rejected while waiting', 'pendingAcceptance', 'rejected', ['reject']],
    ['rejected after acceptance', 'accepted', 'rejected', ['reject']],
    ['being deleted', 'accepted', 'deleting', ['delete']],
    ['gone after deleting', 'deleting', undefined, []],
    ['gone without deleting first', 'failed', undefined, ['delete']],
    ['failing', 'creating', 'failed', []],
    ['unchanged', 'accepted', 'accepted', []],
  ] as const)('%s', (_name, before, after, events) => {
    expect(connectionEventsOf(before && endpoint(before), after && endpoint(after))).toEqual(events);
  });
});

describe('notificationCovers', () => {
  const base: ConnectionNotification = {
    id: 'vpce-nfn-1', owner: 'p', service_id: 'svc-1', endpoint_id: null, topic: 't', events: ['connect', 'delete'], enabled: true, created_at: '', updated_at: '',
  };

  it('a service\'s notification hears the events it names of the service\'s endpoints only', () => {
    expect(notificationCovers(base, endpoint('pendingAcceptance'), 'connect')).toBe(true);
    expect(notificationCovers(base, endpoint('pendingAcceptance'), 'accept')).toBe(false);
    expect(notificationCovers(base, endpoint('pendingAcceptance', 'vpce-2', 'svc-2'), 'connect')).toBe(false);
    expect(notificationCovers({ ...base, enabled: false }, endpoint('pendingAcceptance'), 'connect')).toBe(false);
  });

  it('an endpoint\'s notification hears its endpoint only', () => {
    const n = { ...base, service_id: null, endpoint_id: 'vpce-2' };
    expect(notificationCovers(n, endpoint('deleting', 'vpce-2'), 'delete')).toBe(true);
    expect(notificationCovers(n, endpoint('deleting', 'vpce-1'), 'delete')).toBe(false);
  });
});

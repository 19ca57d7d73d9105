// The steps every trace shares (src/model/path-trace.ts), with no sockets: where nothing listens
// the kernel refuses; a refused route is counted as the gateway plane counts it; a relayed route
// still meets admission's daemon-wide limits.
import { describe, expect, it } from 'vitest';
import type { DaemonLoad } from '../../src/model/admission.js';
import { daemonHeadroom, routeTrace, type RouteTraceInput } from '../../src/model/path-trace.js';
import { routeRefusalReason } from '../../src/model/routing.js';

const load: DaemonLoad = { active: 0, maxConnections: 10, fdBudget: 100, listeners: 4, onPremises: 'allow' };
const bound = { address: '127.255.0.10:80', bound: true, why: null };
const relayed: RouteTraceInput = {
  vpc_id: 'vpc-a', source_ip: '10.0.1.50', destination_ip: '100.125.0.10', destination_port: 80,
  subnet: null, route_table: null, candidates: [], winner: null, target_type: 'gateway_endpoint',
  service: { id: 'svc', name: 'sim-1.obs', target: '127.0.0.1:9000' }, endpoint: { id: 'ep', status: 'accepted' },
  policy: { allowed: true, statement: null, reason: 'no policy' }, cap: { active: 1, cap: 5, headroom: 4 },
  backend_source: '10.0.1.50', isolation: null, verdict: 'relay', reason: 'relayed through gateway endpoint ep',
};

describe('routeTrace', () => {
  it('a relayed route with room: relay, with the daemon\'s headroom', () => {
    expect(routeTrace(relayed, null, load, bound)).toMatchObject({
      verdict: 'relay', outcome: 'relay', refusal: null, listener: bound,
      daemon: { active: 0, max_connections: 10, headroom: 10, fd_budget: 100, fd_in_use: 4, fd_headroom_connections: 48 },
    });
  });

  it('a relayed route meets admission: the daemon-wide limit, then the descriptor budget', () => {
    expect(routeTrace(relayed, null, { ...load, active: 10 }, bound)).toMatchObject({
      verdict: 'refuse', outcome: 'reset', refusal: 'daemon_limit', reason: 'the daemon holds dataplane.max_connections (10) connections',
    });
    expect(routeTrace(relayed, null, { ...load, active: 9, listeners: 83 }, bound)).toMatchObject({ outcome: 'reset', refusal: 'fd_limit' });
  });

  it('a refused route is counted by the reason of its decision: policy, cap, else not_accepted', () => {
    const denied = { ...relayed, verdict: 'refuse' as const, policy: { allowed: false, statement: 0, reason: 'denied' } };
    expect(routeTrace(denied, routeRefusalReason({ refusal: 'policy' }), load, bound)).toMatchObject({ outcome: 'reset', refusal: 'policy' });
    expect(routeRefusalReason({ refusal: 'cap' })).toBe('cap');
    expect(routeRefusalReason({ refusal: 'no_route' })).toBe('not_accepted');
    expect(routeRefusalReason({ refusal: 'not_accepted' })).toBe('not_accepted');
    expect(routeRefusalReason({ refusal: null })).toBe(null);
  });

  it('where nothing listens the kernel refuses the connect, whatever the route: nothing is counted', () => {
    const none = { address: '127.255.0.10:81', bound: false, why: 'no public service on that address and port' };
    expect(routeTrace(relayed, null, load, none)).toMatchObject({
      verdict: 'refuse', outcome: 'connection_refused', refusal: null, reason: '127.255.0.10:81: nothing listens: no public service on that address and port',
    });
  });

  it('descriptor headroom never goes below zero', () => {
    expect(daemonHeadroom({ ...load, active: 60 }).fd_headroom_connections).toBe(0);
  });
});

// The health of a service's backends as the APIs show it: DescribeTargetHealth's states and reasons
// for a target group's targets (aws-ec2-api.md; AWS's TargetHealth), and each backend port of a
// port-backed service (the Huawei API's `backend_health` extension). The probe state comes from
// the data plane's health view (DataPlane.targetHealth): the control plane never probes. On a
// fleet, a target this node does not probe shows what the live nodes probing it published (fleet-health.ts).
import { groupProbeKey } from '../model/health.js';
import { drainingTargets, type Target, type TargetGroup } from '../model/load-balancers.js';
import type { EndpointService } from '../model/types.js';
import { backendPortIds, loadBalancerZones, portTargets, targetHost, targetZone } from './lb-backends.js';
import { probeView } from './fleet-health.js';
import { listenersTo } from './load-balancers.js';
import type { ControlState } from './state.js';

/** AWS's target states (TargetHealthStateEnum) */
export type TargetState = 'initial' | 'healthy' | 'unhealthy' | 'unhealthy.draining' | 'unused' | 'draining' | 'unavailable';

export interface TargetHealthRow {
  readonly id: string;
  readonly port: number;
  readonly zone: string | null;
  readonly state: TargetState;
  readonly reason: string | null;
  readonly description: string | null;
}

const DESCRIPTIONS: Readonly<Record<string, string>> = {
  'Elb.InitialHealthChecking': 'Initial health checks in progress',
  'Target.FailedHealthChecks': 'Health checks failed',
  'Target.Timeout': 'Request timed out',
  'Elb.InternalError': 'Health checks failed with these codes: [internal error]',
  'Target.DeregistrationInProgress': 'Target deregistration is in progress',
  'Target.NotRegistered': 'Target is not registered to the target group',
  'Target.NotInUse': 'Target group is not configured to receive traffic from the load balancer',
  'Target.NotInUse.Zone': 'Target is in an Availability Zone that is not enabled for the load balancer',
  'Target.HealthCheckDisabled': 'Health checks are disabled',
};

const row = (id: string, port: number, zone: string | null, state: TargetState, reason: string | null, description?: string): TargetHealthRow =>
  ({ id, port, zone, state, reason, description: reason === null ? null : description ?? DESCRIPTIONS[reason] ?? null });

/** a probed backend's state from this node's data plane, else from the fleet's; probed by no node (a port no live endpoint reaches): unused */
function probedRow(st: ControlState, id: string, port: number, zone: string | null, key: string): TargetHealthRow {
  const h = probeView(st, key);
  if (h === null) return row(id, port, zone, 'unused', 'Target.NotInUse', 'No node probes it yet: a target is probed while a listener forwards to its group, a backend port while an endpoint relays to it');
  // unhealthy, its connections waiting out target_health_state.unhealthy.draining_interval_seconds
  return row(id, port, zone, h.unhealthyDraining ? 'unhealthy.draining' : h.state, h.reason);
}

/** DescribeTargetHealth: the registered targets (or those asked for), draining ones included */
export function targetGroupHealth(st: ControlState, tg: TargetGroup, asked?: ReadonlyArray<{ id: string; port?: number }>): TargetHealthRow[] {
  const draining = drainingTargets(tg);
  const all: Target[] = asked?.length ? asked.map((a) => ({ id: a.id, port: a.port ?? tg.port })) : [...tg.targets, ...draining];
  const users = listenersTo(st, tg.id);
  const inUse = users.length > 0;
  // the zones of the load balancers forwarding to it: a target in none of them gets no traffic
  const lbZones = new Set(users.flatMap((u) => [...loadBalancerZones(st, u.lb)]));
  return all.map((t) => {
    const zone = targetZone(st, tg, t);
    if (draining.some((d) => d.id === t.id && d.port === t.port)) return row(t.id, t.port, zone, 'draining', 'Target.DeregistrationInProgress');
    if (!tg.targets.some((x) => x.id === t.id && x.port === t.port)) return row(t.id, t.port, zone, 'unused', 'Target.NotRegistered');
    if (!inUse) return row(t.id, t.port, zone, 'unused', 'Target.NotInUse');
    if (zone !== null && !lbZones.has(zone)) return row(t.id, t.port, zone, 'unused', 'Target.NotInUse', DESCRIPTIONS['Target.NotInUse.Zone']);
    if (!tg.health_check.enabled) return row(t.id, t.port, zone, 'unavailable', 'Target.HealthCheckDisabled');
    const host = targetHost(st, tg, t);
    if (host === null) return row(t.id, t.port, zone, 'unused', 'Target.NotRegistered', 'The instance is gone from the VPC');
    return probedRow(st, t.id, t.port, zone, groupProbeKey(host, t.port, tg.id));
  });
}

/** each backend port of a port-backed service on its first server port, draining ones included (the Huawei API's backend_health) */
export function serviceBackendHealth(st: ControlState, s: EndpointService): TargetHealthRow[] {
  if (s.load_balancers || s.public || !s.ports.length) return [];
  const port = s.ports[0]!.server_port;
  const ids = backendPortIds(s);
  const at = Date.now();
  const draining = (s.draining ?? []).filter((d) => d.until === null || Date.parse(d.until) > at).filter((d) => !ids.includes(d.port_id));
  const out: TargetHealthRow[] = [];
  for (const id of ids) {
    const t = portTargets(st, s, port, [id])[0];
    out.push(t ? probedRow(st, id, port, t.zone, t.key) : row(id, port, null, 'unused', 'Target.NotRegistered', 'The port is gone from the VPC'));
  }
  for (const d of draining) {
    const t = portTargets(st, s, port, [d.port_id])[0];
    out.push(row(d.port_id, port, t?.zone ?? null, 'draining', 'Target.DeregistrationInProgress'));
  }
  return out;
}

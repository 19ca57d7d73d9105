// Health checks of a service's backends, as a network load balancer runs them: a TCP connect every
// interval, a target marked unhealthy after `unhealthy_threshold` failures in a row and healthy
// again after `healthy_threshold` successes (002_05e46307768ae273.txt; AWS's NLB defaults and
// ranges below). The data plane probes (src/dataplane/health-checker.ts) and keeps each target's
// state in memory; backend choice reads it, so a connection never waits on a probe.
import type { EndpointService } from './types.js';

/** how one backend is probed: seconds and counts, as a target group's HealthCheck* fields */
export interface HealthSettings {
  /** seconds between two probes of a target (HealthCheckIntervalSeconds) */
  readonly interval_s: number;
  /** seconds a probe's connect may take before it counts as failed (HealthCheckTimeoutSeconds) */
  readonly timeout_s: number;
  /** successes in a row that make an unhealthy target healthy (HealthyThresholdCount) */
  readonly healthy_threshold: number;
  /** failures in a row that make a healthy target unhealthy (UnhealthyThresholdCount) */
  readonly unhealthy_threshold: number;
}

/** a TCP target group's defaults on AWS: 30 s, 10 s, 5 and 2 */
export const NLB_HEALTH_DEFAULTS: HealthSettings = Object.freeze({
  interval_s: 30,
  timeout_s: 10,
  healthy_threshold: 5,
  unhealthy_threshold: 2,
});

/** the ranges AWS accepts for each setting, inclusive */
export const HEALTH_RANGES: Readonly<Record<keyof HealthSettings, readonly [number, number]>> = Object.freeze({
  interval_s: [5, 300],
  timeout_s: [2, 120],
  healthy_threshold: [2, 10],
  unhealthy_threshold: [2, 10],
});

/**
 * A probed target's state: `initial` until its first probe answers (a first success makes it
 * healthy at once: vpcep-sim does not make a new backend wait healthy_threshold intervals),
 * then `healthy` or `unhealthy` by the thresholds.
 */
export type ProbeState = 'initial' | 'healthy' | 'unhealthy';

/** why a target is not healthy, with AWS's reason codes (DescribeTargetHealth) */
export type ProbeReason = 'Elb.InitialHealthChecking' | 'Target.FailedHealthChecks' | 'Target.Timeout' | 'Elb.InternalError';

/** a fleet node's probe states as it publishes them (stored: kind `targethealth`, under its node id), by target key */
export interface PublishedTargetHealth {
  readonly node: string;
  readonly targets: Readonly<Record<string, { readonly state: ProbeState; readonly reason: ProbeReason | null; readonly unhealthy_draining?: boolean }>>;
}

/** one backend to probe: `key` names it (host:port; a target group's target: groupProbeKey), `zone` is where it sits (null: outside every zone) */
export interface ProbeTarget {
  readonly key: string;
  readonly host: string;
  readonly port: number;
  readonly zone: string | null;
  readonly settings: HealthSettings;
}

/**
 * Whether a backend asked probed with settings A (by one service) is probed with them rather than
 * with B (another's): it is probed once, at the shortest interval (at least as often as each asks),
 * with that service's whole settings, its timeout and thresholds too; of two equal intervals the
 * shorter timeout, then the fewer failures, then the fewer successes in a row (the one that sees a
 * change sooner), whatever order the services came in.
 */
export function probesSooner(a: HealthSettings, b: HealthSettings): boolean {
  return a.interval_s !== b.interval_s ? a.interval_s < b.interval_s
    : a.timeout_s !== b.timeout_s ? a.timeout_s < b.timeout_s
      : a.unhealthy_threshold !== b.unhealthy_threshold ? a.unhealthy_threshold < b.unhealthy_threshold
        : a.healthy_threshold < b.healthy_threshold;
}

/** the target a key asked probed by several (each service's ProbeTarget of it) is probed as: probesSooner's */
export function sharedProbe(targets: Iterable<ProbeTarget>): ProbeTarget | null {
  let best: ProbeTarget | null = null;
  for (const t of targets) if (best === null || probesSooner(t.settings, best.settings)) best = t;
  return best;
}

/** what backend choice reads: each target's state, from memory */
export interface HealthView {
  /** a target's state; a key never probed is `initial` */
  state(key: string): ProbeState;
  /** why it is not healthy (null when healthy) */
  reason(key: string): ProbeReason | null;
}

/** what runs the probes (src/dataplane/health-checker.ts): the targets to probe now, and state changes as they happen */
export interface HealthProber extends HealthView {
  /** the targets to probe from now on: new keys start `initial`, kept keys keep their state, others are forgotten */
  set(targets: readonly ProbeTarget[]): void;
  /** called on every change of a target's state */
  onChange(listener: (key: string, state: ProbeState, reason: ProbeReason | null) => void): void;
  /** stops every probe */
  close(): void;
}

/** the key of a backend: its real host address and port */
export function targetKey(host: string, port: number): string {
  return `${host}:${port}`;
}

/**
 * The key a target group's target is probed under: its address and its group. AWS checks a target
 * per target group: one address in two groups is checked by each with its own HealthCheckPort,
 * settings and unhealthy-termination attributes, and each group's listeners read its own check.
 */
export function groupProbeKey(host: string, port: number, targetGroupId: string): string {
  return `${targetKey(host, port)} ${targetGroupId}`;
}

/** the first setting outside AWS's range, as `name: value (low-high)`, or null when all are in range */
export function healthSettingsOutOfRange(s: HealthSettings): string | null {
  for (const k of Object.keys(HEALTH_RANGES) as Array<keyof HealthSettings>) {
    const [lo, hi] = HEALTH_RANGES[k];
    const v = s[k];
    if (!Number.isInteger(v) || v < lo || v > hi) return `${k}: ${v} (${lo}-${hi})`;
  }
  if (s.timeout_s >= s.interval_s) return `timeout_s: ${s.timeout_s} must be less than interval_s ${s.interval_s}`;
  return null;
}

/**
 * What happens to a target's live connections when it turns unhealthy: AWS's target-group
 * attributes target_health_state.unhealthy.connection_termination.enabled (default true on a TCP
 * target group) and target_health_state.unhealthy.draining_interval_seconds (0-360000, default 0,
 * settable above 0 only with termination off). Enabled: they are reset at once. Off with an
 * interval: they flow for the interval (AWS's `unhealthy.draining`), then are reset unless the
 * target turned healthy again. Off without one: they flow until they end.
 */
export interface UnhealthyTermination {
  readonly enabled: boolean;
  readonly draining_interval_s: number;
}

/** a TCP target group's defaults on AWS: connections to a target that turns unhealthy are reset at once */
export const NLB_UNHEALTHY_TERMINATION: UnhealthyTermination = Object.freeze({ enabled: true, draining_interval_s: 0 });

/** target_health_state.unhealthy.draining_interval_seconds: AWS's range, inclusive */
export const UNHEALTHY_DRAINING_RANGE: readonly [number, number] = [0, 360_000];

/** what is wrong with the setting, naming AWS's rule, or null */
export function unhealthyTerminationProblem(t: UnhealthyTermination): string | null {
  const [lo, hi] = UNHEALTHY_DRAINING_RANGE;
  const n = t.draining_interval_s;
  if (!Number.isInteger(n) || n < lo || n > hi) return `draining_interval: ${n} (${lo}-${hi})`;
  if (t.enabled && n > 0) return `draining_interval: ${n} can be set above 0 only with connection termination off (enabled: false), as on AWS`;
  return null;
}

/** ms after a target turns unhealthy that its connections are cut: 0 at once, -1 never (the data plane's Backend.unhealthy_cut_ms) */
export function unhealthyCutMs(t: UnhealthyTermination): number {
  if (t.enabled) return 0;
  return t.draining_interval_s > 0 ? t.draining_interval_s * 1000 : -1;
}

/** how long a removed backend's live connections flow (ms) after the service's last change: a migration's mode, else the deregistration delay (-1: until they end) */
export function removedBackendDrainMs(s: EndpointService, deregistrationDelayS: number): number {
  if (s.migration && s.migration.at === s.updated_at) return s.migration.mode === 'smooth' ? -1 : 0;
  return (s.deregistration_delay_s ?? deregistrationDelayS) * 1000;
}

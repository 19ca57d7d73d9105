// Which health-check settings probe a service's backends: a target group's own (ELBv2), a
// port-backed service's own (the Huawei API's health_check), else the daemon's default (the
// config's dataplane.health_check, AWS's NLB defaults unless set). The data plane's backend
// wiring calls healthSettingsOf when it builds the ProbeTargets of model/health.ts.
import { DomainError } from '../model/errors.js';
import { healthSettingsOutOfRange, unhealthyTerminationProblem, type HealthSettings, type UnhealthyTermination } from '../model/health.js';
import { healthSettingsOfCheck, type TargetGroup } from '../model/load-balancers.js';
import type { EndpointService } from '../model/types.js';
import type { ControlState } from './state.js';

/** the settings that probe the backends of `service` (those of `targetGroup` when it is load-balanced) */
export function healthSettingsOf(st: ControlState, service: EndpointService, targetGroup?: TargetGroup): HealthSettings {
  if (targetGroup) return healthSettingsOfCheck(targetGroup.health_check);
  return service.health_check ?? st.healthDefaults;
}

/**
 * The port a target's probes connect to: its target group's HealthCheckPort, or the traffic port
 * (`traffic-port`, and every port-backed service). The ProbeTarget's key stays the traffic port's.
 */
export function healthCheckPortOf(targetGroup: TargetGroup | undefined, trafficPort: number): number {
  const port = targetGroup?.health_check.port;
  return port === undefined || port === 'traffic-port' ? trafficPort : Number(port);
}

/** `given` over `base`, checked against AWS's ranges: InvalidParameter naming the first setting out of range */
export function checkedHealthSettings(base: HealthSettings, given: Partial<HealthSettings>): HealthSettings {
  const next: HealthSettings = {
    interval_s: given.interval_s ?? base.interval_s,
    timeout_s: given.timeout_s ?? base.timeout_s,
    healthy_threshold: given.healthy_threshold ?? base.healthy_threshold,
    unhealthy_threshold: given.unhealthy_threshold ?? base.unhealthy_threshold,
  };
  const bad = healthSettingsOutOfRange(next);
  // named as the health_check field names them (interval, not interval_s)
  if (bad) throw new DomainError('InvalidParameter', `health_check ${bad.replace(/_s\b/g, '')}`);
  return next;
}

/** `given` over `base`, checked against AWS's range and rule: InvalidParameter naming what is wrong */
export function checkedUnhealthyTermination(base: UnhealthyTermination, given: Partial<UnhealthyTermination>): UnhealthyTermination {
  const next: UnhealthyTermination = { enabled: given.enabled ?? base.enabled, draining_interval_s: given.draining_interval_s ?? base.draining_interval_s };
  const bad = unhealthyTerminationProblem(next);
  if (bad) throw new DomainError('InvalidParameter', `unhealthy_connection_termination ${bad}`);
  return next;
}

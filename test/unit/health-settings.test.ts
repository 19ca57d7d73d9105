// Health-check settings without a daemon: the config's default, a target group's health check
// checked against AWS's ranges, and which settings probe a service's backends.
import { describe, expect, it } from 'vitest';
import { checkedHealthSettings, healthCheckPortOf, healthSettingsOf } from '../../src/control/health.js';
import type { ControlState } from '../../src/control/state.js';
import { ConfigError, validateConfig } from '../../src/model/config.js';
import { DomainError } from '../../src/model/errors.js';
import { NLB_HEALTH_DEFAULTS } from '../../src/model/health.js';
import { DEFAULT_HEALTH_CHECK, healthCheckProblem, type TargetGroup } from '../../src/model/load-balancers.js';
import type { EndpointService } from '../../src/model/types.js';

const config = (health_check?: Record<string, unknown>) => ({
  accounts: [{ name: 'provider', token: 'provider-secret' }],
  ...(health_check ? { dataplane: { health_check } } : {}),
});

function configProblems(health_check: Record<string, unknown>): string[] {
  try {
    validateConfig(config(health_check), 'test.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).problems];
  }
  return [];
}

describe('dataplane.health_check in the config', () => {
  it('defaults to AWS\'s NLB defaults (30 s, 10 s, 5, 2) and takes the keys given over them', () => {
    expect(validateConfig(config(), 't').dataplane.healthCheck).toEqual(NLB_HEALTH_DEFAULTS);
    expect(validateConfig(config({ interval: 10, timeout: 5, healthy_threshold: 3 }), 't').dataplane.healthCheck)
      .toEqual({ interval_s: 10, timeout_s: 5, healthy_threshold: 3, unhealthy_threshold: 2 });
  });

  it('refuses settings out of AWS\'s ranges, a timeout not under the interval and unknown keys, naming the key', () => {
    expect(configProblems({ interval: 4 })).toEqual([expect.stringMatching(/^dataplane\.health_check: interval: 4 \(5-300\)/)]);
    expect(configProblems({ healthy_threshold: 11 })).toEqual([expect.stringMatching(/healthy_threshold: 11 \(2-10\)/)]);
    expect(configProblems({ interval: 10, timeout: 2.5 })).toEqual([expect.stringMatching(/timeout: 2\.5/)]);
    expect(configProblems({ interval: 10 })).toEqual([expect.stringMatching(/timeout: 10 must be less than interval 10/)]);
    expect(configProblems({ intervall: 10 })).toEqual([expect.stringMatching(/intervall/)]);
  });
});

describe('a target group\'s health check', () => {
  const ok = { ...DEFAULT_HEALTH_CHECK };
  it('accepts AWS\'s TCP defaults and a numbered port', () => {
    expect(healthCheckProblem(ok)).toBeNull();
    expect(healthCheckProblem({ ...ok, port: '8443' })).toBeNull();
  });

  it('refuses HTTP and HTTPS (not simulated), a bad port, checks disabled and figures out of range', () => {
    expect(healthCheckProblem({ ...ok, protocol: 'HTTP' })).toMatch(/TCP health checks only/);
    expect(healthCheckProblem({ ...ok, protocol: 'HTTPS' })).toMatch(/TCP health checks only/);
    expect(healthCheckProblem({ ...ok, protocol: 'UDP' })).toMatch(/must be TCP/);
    expect(healthCheckProblem({ ...ok, port: '70000' })).toMatch(/HealthCheckPort/);
    expect(healthCheckProblem({ ...ok, port: 'traffic' })).toMatch(/HealthCheckPort/);
    expect(healthCheckProblem({ ...ok, enabled: false })).toMatch(/cannot be disabled/);
    expect(healthCheckProblem({ ...ok, interval_seconds: 10, timeout_seconds: 10 })).toMatch(/less than interval/);
    expect(healthCheckProblem({ ...ok, unhealthy_threshold: 1 })).toMatch(/unhealthy_threshold: 1 \(2-10\)/);
  });
});

describe('healthSettingsOf', () => {
  const defaults = { interval_s: 20, timeout_s: 5, healthy_threshold: 3, unhealthy_threshold: 3 };
  const st = { healthDefaults: defaults } as ControlState;
  const service = { id: 's' } as EndpointService;

  it('is the target group\'s health check, else the service\'s own, else the daemon\'s default', () => {
    const tg = { health_check: { ...DEFAULT_HEALTH_CHECK, interval_seconds: 10, timeout_seconds: 6 } } as TargetGroup;
    expect(healthSettingsOf(st, service, tg)).toEqual({ interval_s: 10, timeout_s: 6, healthy_threshold: 5, unhealthy_threshold: 2 });
    const own = { interval_s: 60, timeout_s: 10, healthy_threshold: 2, unhealthy_threshold: 2 };
    expect(healthSettingsOf(st, { ...service, health_check: own })).toBe(own);
    expect(healthSettingsOf(st, service)).toBe(defaults);
  });

  it('probes the traffic port unless the target group names a HealthCheckPort', () => {
    const tg = (port: string) => ({ health_check: { ...DEFAULT_HEALTH_CHECK, port } }) as TargetGroup;
    expect(healthCheckPortOf(undefined, 8080)).toBe(8080);
    expect(healthCheckPortOf(tg('traffic-port'), 8080)).toBe(8080);
    expect(healthCheckPortOf(tg('9090'), 8080)).toBe(9090);
  });

  it('checks the settings given over a base: InvalidParameter named by the request\'s field names', () => {
    expect(checkedHealthSettings(defaults, { interval_s: 30 })).toEqual({ ...defaults, interval_s: 30 });
    expect(() => checkedHealthSettings(defaults, { timeout_s: 20 })).toThrow(DomainError);
    expect(() => checkedHealthSettings(defaults, { timeout_s: 20 })).toThrow(/health_check timeout: 20 must be less than interval 20/);
  });
});

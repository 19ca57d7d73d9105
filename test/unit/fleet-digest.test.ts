// The fleet-wide part of a config (src/config/fleet-digest.ts): what a reload changes in place, and
// each node's own keys, leave the digest alone; a rule every node must share changes it.
import { describe, expect, it } from 'vitest';
import { fleetConfigDigest } from '../../src/config/fleet-digest.js';
import { validateConfig } from '../../src/model/config.js';
import { twoAccountConfig } from '../helpers.js';

const digest = (overrides: Record<string, unknown>) => fleetConfigDigest(validateConfig(twoAccountConfig(overrides), 'c.yaml'));

describe('fleetConfigDigest', () => {
  it('the same for node-local and reloadable keys, another for a shared rule', () => {
    const base = digest({});
    expect(base).toMatch(/^[0-9a-f]{12}$/);
    expect(digest({ dataplane: { drain_timeout_ms: 5_000 } })).toBe(base);
    expect(digest({ metrics: { token: 'another-metrics-token-0123' } })).toBe(base);
    expect(digest({ api: { request_timeout_ms: 20_000 }, listen: '127.0.0.1:9999' })).toBe(base);
    expect(digest({ dataplane: { idle_timeout_ms: 5_000 } })).not.toBe(base);
    expect(digest({ region: 'sim-2' })).not.toBe(base);
  });
});

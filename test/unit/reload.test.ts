import { describe, expect, it } from 'vitest';
import { configChanges, RELOADABLE } from '../../src/config/reload.js';
import { validateConfig } from '../../src/model/config.js';
import { twoAccountConfig } from '../helpers.js';

const config = (overrides: Record<string, unknown> = {}) => validateConfig(twoAccountConfig(overrides), 'test');

describe('what a reload may change', () => {
  it('nothing changed: nothing to apply, nothing refused', () => {
    expect(configChanges(config(), config())).toEqual({ reloadable: [], restart: [] });
  });

  it('metrics.token and dataplane.drain_timeout_ms are reloadable, by their names in the file', () => {
    const next = config({ metrics: { token: 'another-token-0123456789' }, dataplane: { drain_timeout_ms: 5 } });
    expect(configChanges(config(), next)).toEqual({ reloadable: ['dataplane.drain_timeout_ms', 'metrics.token'], restart: [] });
    expect([...RELOADABLE].sort()).toEqual(['dataplane.drain_timeout_ms', 'metrics.token']);
  });

  it('anything else needs a restart, named key by key; an ignored key (listen under --listen) is not', () => {
    const next = config({ region: 'sim-2', listen: '127.0.0.1:9999', dataplane: { idle_timeout_ms: 1000 }, api: { max_connections: 64 }, vpcs: [] });
    // another region has other zones (`<region>a`..`c` unless given)
    expect(configChanges(config(), next).restart).toEqual(['api.max_connections', 'dataplane.idle_timeout_ms', 'listen', 'region', 'vpcs', 'zones']);
    expect(configChanges(config(), next, ['listen']).restart).not.toContain('listen');
  });

  it('a section whose name has two words is named as in the file: flow_logs, store_durability, public_services', () => {
    // before, the refusal named them as the code does (flowLogs, storeDurability): keys no config file has
    const next = config({ flow_logs: { destination: 'stdout' }, store_durability: 'power', public_services: [{ name: 'obs', service_type: 'interface', ports: [{ port: 80, target: '127.0.0.1:19000' }] }] });
    expect(configChanges(config(), next).restart).toEqual(['flow_logs', 'public_services', 'store_durability']);
  });

  it('a key whose field has another name in the code is named as in the file: dataplane.unhealthy_connection_termination', () => {
    const next = config({ dataplane: { unhealthy_connection_termination: { enabled: false } } });
    expect(configChanges(config(), next).restart).toEqual(['dataplane.unhealthy_connection_termination']);
  });
});

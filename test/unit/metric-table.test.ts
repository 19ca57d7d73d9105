import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { METRICS } from '../../src/telemetry/metric-table.js';
import { ROOT } from '../helpers.js';

/** the README's Metrics table: name, whether it needs the token, type, label names (explanations in parentheses left out) */
function documented(): Array<{ name: string; token: boolean; type: string; labels: string[] }> {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.split('<!-- metrics:start -->')[1]!.split('<!-- metrics:end -->')[0]!;
  return [...section.matchAll(/^\| `(vpcep_\w+)`( \(token\))? \| (\w+)[^|]*\|([^|]*)\|/gm)].map((m) => ({
    name: m[1]!,
    token: m[2] !== undefined,
    type: m[3]!,
    labels: [...m[4]!.replace(/\([^)]*\)/g, '').matchAll(/`(\w+)`/g)].map((l) => l[1]!),
  }));
}

describe('the metrics table', () => {
  it('is the README\'s Metrics table: name, token, type and labels', () => {
    const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
    expect(documented().sort(byName)).toEqual(METRICS.map((m) => ({ name: m.name, token: m.token, type: m.type, labels: [...m.labels] })).sort(byName));
  });

  it('names every metric once, with the one prefix, a unit or _total where Prometheus expects one, and a help', () => {
    expect(new Set(METRICS.map((m) => m.name)).size).toBe(METRICS.length);
    for (const m of METRICS) {
      expect(m.name, m.name).toMatch(/^vpcep_[a-z_]+$/);
      expect(m.name.endsWith('_total'), m.name).toBe(m.type === 'counter');
      expect(m.help.length, m.name).toBeGreaterThan(10);
      // a tenant's series (per endpoint, per service's backend) stay behind the token
      expect(m.token, m.name).toBe(m.labels.includes('endpoint_id') || m.labels.includes('service_id'));
    }
  });
});

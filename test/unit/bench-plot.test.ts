import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ES module of the benchmarks, without types
import { loadCharts, scrapeChart } from '../../bench/plot.mjs';

const figure = (key: string, label: string, unit: string, v: number, h: number | null, d: number) => ({
  key, label, unit, better: 'higher', digits: 0,
  paths: { vpcep: { median: v }, haproxy: { median: h }, direct: { median: d } },
  vpcep_over_haproxy: { median: h === null ? null : v / h }, vpcep_over_direct: { median: v / d },
});

const load = {
  command: 'npm run bench:load -- --duration 3 --rounds 1', when: '2026-12-04T10:42:47.926Z', machine: { cores: 2 },
  setup: { vpcep: { relay: 'native', snat_mode: 'kernel' } },
  scenarios: [{ name: 'rate', title: 'rate <wrk> & nginx', paths: ['vpcep', 'haproxy', 'direct'], figures: [figure('cps', 'connections/s', 'conn/s', 5083, 4922, 9641), figure('x', 'other', 'MiB', 12, null, 24)] }],
};

/** the elements of an SVG balance (no XML parser among the dependencies: tags counted) */
function balanced(svg: string): boolean {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-z]+)[^>]*?(\/?)>/g)) {
    if (m[3]) continue;
    if (!m[1]) stack.push(m[2]!);
    else if (stack.pop() !== m[2]) return false;
  }
  return stack.length === 0;
}

describe('bench/plot.mjs', () => {
  it('draws one SVG per load scenario: every path\'s median as a bar, the ratios, text escaped', () => {
    const charts = loadCharts(load);
    expect(Object.keys(charts)).toEqual(['load-rate.svg']);
    const svg: string = charts['load-rate.svg'];
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(balanced(svg)).toBe(true);
    expect(svg).toContain('rate &lt;wrk&gt; &amp; nginx');
    for (const v of ['5,083', '4,922', '9,641', 'vpcep/haproxy 1.03x', 'vpcep/direct 0.53x']) expect(svg).toContain(v);
    // a path without a figure gets no bar; the longest bar of a figure is the full width
    expect(svg.match(/<rect x="80"/g)!.length).toBe(5);
    expect(svg).toContain('width="480.0"');
  });

  it('draws the scrape benchmark with this build against the base', () => {
    const svg: string = scrapeChart({
      endpoints: 2000, scrapes: 30, relay: 'js', cores: 2,
      runs: [{ name: 'this', scrape_ms_median: 248.9, scrape_ms_p90: 332, bytes: 5743444, samples: 50136, rss_kib: 449044 },
        { name: 'base', scrape_ms_median: 246.7, scrape_ms_p90: 445.3, bytes: 5064473, samples: 48117, rss_kib: 462932 }],
    });
    expect(balanced(svg)).toBe(true);
    expect(svg).toContain('GET /metrics with the token at 2,000 endpoints');
    expect(svg).toContain('this/base 1.01x');
    expect(svg).toContain('this/base 1.13x');
  });
});

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ES module of the benchmarks, without types
import { loadCharts, scrapeChart } from '../../bench/plot.mjs';
import { ROOT, tempDir } from '../helpers.js';

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

/** every benchmark script that takes options (bench/routing-fixture.mjs is a module, not a script) */
const SCRIPTS = fs.readdirSync(path.join(ROOT, 'bench')).filter((f) => f.endsWith('.mjs') && f !== 'routing-fixture.mjs').sort();

/** runs `node bench/SCRIPT ARGS` with its own TMPDIR; a script that runs its benchmark is killed at 20 s */
function script(file: string, args: string[]): Promise<{ code: number | null, stdout: string, stderr: string, tmp: string[] }> {
  const tmp = tempDir('vpcep-bench-cli-');
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join('bench', file), ...args], { cwd: ROOT, timeout: 20_000, killSignal: 'SIGKILL', env: { ...process.env, TMPDIR: tmp } }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr, tmp: fs.readdirSync(tmp) });
    });
  });
}

/** one at a time at most two: the machine's 2 cores are shared */
async function each<T>(items: readonly string[], fn: (item: string) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < items.length; i += 2) out.push(...await Promise.all(items.slice(i, i + 2).map(fn)));
  return out;
}

describe('bench scripts: the command line (bench/lib/cli.mjs)', () => {
  it('--help prints every script\'s usage and exits 0 without running it (micro.mjs and sigv4.mjs ran their whole benchmark)', async () => {
    expect(SCRIPTS.length).toBeGreaterThan(20);
    const runs = await each(SCRIPTS, async (file) => ({ file, ...await script(file, ['--help']) }));
    for (const r of runs) {
      expect({ file: r.file, code: r.code, stderr: r.stderr, tmp: r.tmp }).toEqual({ file: r.file, code: 0, stderr: '', tmp: [] });
      expect(r.stdout, r.file).toMatch(/^usage: /);
    }
  });

  it('an unknown option is answered with the usage and exit 2, no stack trace (dns.mjs and others threw ERR_PARSE_ARGS_UNKNOWN_OPTION)', async () => {
    const runs = await each(SCRIPTS, async (file) => ({ file, ...await script(file, ['--no-such-option']) }));
    for (const r of runs) {
      expect({ file: r.file, code: r.code, tmp: r.tmp }).toEqual({ file: r.file, code: 2, tmp: [] });
      expect(r.stderr, r.file).toContain("Unknown option '--no-such-option'");
      expect(r.stderr, r.file).toContain('usage: ');
      expect(r.stderr, r.file).not.toMatch(/\n\s+at /);
    }
  });

  it('a bad value is refused before anything runs (accept-latency.mjs --count abc ran 30)', async () => {
    const cases: Array<[string, string[], string]> = [
      ['accept-latency.mjs', ['--count', 'abc'], '--count must be an integer'],
      ['accept-latency.mjs', ['--count=0'], '--count must be an integer'],
      ['dns.mjs', ['--rounds', 'x'], '--rounds must be an integer'],
      ['gateway-rate.mjs', ['--seconds', ''], '--seconds must be a number'],
      ['stalled-peer.mjs', ['--relay', 'fast'], '--relay must be native or js'],
      ['store-writes.mjs', ['--writers=-1'], '--writers must be an integer'],
      ['flow-logs.mjs', ['--duration', '0'], '--duration must be an integer'],
    ];
    const runs = await each(cases.map((_, i) => String(i)), async (i) => script(cases[+i]![0], cases[+i]![1]));
    runs.forEach((r, i) => {
      expect({ case: cases[i], code: r.code, tmp: r.tmp }).toEqual({ case: cases[i], code: 2, tmp: [] });
      expect(r.stderr).toContain(cases[i]![2]);
      expect(r.stderr).toContain('usage: ');
    });
  });

  it('a --baseline, --root or --base that is no built checkout is refused up front (flow-logs.mjs and restart.mjs ran, then died of ENOENT)', async () => {
    const missing = path.join(tempDir('vpcep-bench-cli-'), 'no-checkout');
    const cases: Array<[string, string]> = [
      ['flow-logs.mjs', '--baseline'], ['restart.mjs', '--root'], ['aws-api.mjs', '--baseline'], ['store-writes.mjs', '--root'],
      ['daemon-memory.mjs', '--root'], ['scrape.mjs', '--base'], ['route-decision.mjs', '--base'],
    ];
    const runs = await each(cases.map((_, i) => String(i)), async (i) => script(cases[+i]![0], [cases[+i]![1], missing]));
    runs.forEach((r, i) => {
      expect({ case: cases[i], code: r.code, tmp: r.tmp }).toEqual({ case: cases[i], code: 2, tmp: [] });
      expect(r.stderr).toMatch(new RegExp(`${cases[i]![1]} ${missing}: no \\S+ there \\(build that checkout first\\)\\nusage: `));
    });
  });

  it('bench:load --help gives --relay\'s default as the script has it (auto)', async () => {
    const r = await script('load.mjs', ['--help']);
    expect(r.stdout).toMatch(/--relay RELAY .*js, native or auto; default auto\n/);
  });
});

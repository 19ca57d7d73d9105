#!/usr/bin/env node
// Renders benchmark results as SVG plots (plain SVG, no dependency):
//   node bench/plot.mjs [--out DIR] [FILE.json ...]
// FILEs: results of `npm run bench:load` (load-*.json) and of `node bench/scrape.mjs` (scrape-*.json);
// none: the newest of each kind under bench/results/. Writes one SVG per load scenario
// (load-<scenario>.svg: each figure's median per path, vpcep, haproxy and direct, with the
// ratios) and scrape.svg, into DIR (default docs/bench/).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { commandLine } from './lib/cli.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const COLORS = { vpcep: '#1f77b4', haproxy: '#ff7f0e', direct: '#7f7f7f', this: '#1f77b4', base: '#7f7f7f' };
const ROW = 18;
const NAME_W = 80;
const BAR_W = 480;
const WIDTH = NAME_W + BAR_W + 200;

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const num = (v, digits = 0) => (v === null || v === undefined ? '—' : v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }));
const text = (x, y, s, attrs = '') => `<text x="${x}" y="${y}" ${attrs}>${esc(s)}</text>`;

/** `s` cut at spaces into lines of at most `width` characters */
function wrap(s, width) {
  const lines = [''];
  for (const word of s.split(' ')) {
    if (lines.at(-1).length && lines.at(-1).length + 1 + word.length > width) lines.push(word);
    else lines[lines.length - 1] += (lines.at(-1).length ? ' ' : '') + word;
  }
  return lines;
}

/**
 * A small-multiples bar chart: one group per figure (its label, unit and ratios above, one bar
 * per series with a value), each group scaled to its own largest value (figures of one chart have
 * different units).
 * groups: [{ label, unit, note, bars: [{ series, value, digits }] }]
 */
export function barChart(title, subtitle, groups, series) {
  const titleLines = wrap(title, 90);
  const top = (titleLines.length - 1) * 18;
  const out = [];
  let y = 84 + top;
  for (const g of groups) {
    const bars = g.bars.filter((b) => typeof b.value === 'number');
    const max = Math.max(0, ...bars.map((b) => b.value));
    out.push(text(10, y, g.label, 'font-weight="bold"'), text(10, y + 14, `${g.unit}${g.note ? `; ${g.note}` : ''}`, 'fill="#555"'));
    y += 20;
    for (const b of bars) {
      const w = max > 0 ? Math.max(1, (b.value / max) * BAR_W) : 1;
      const color = COLORS[b.series] ?? '#2ca02c';
      out.push(
        text(10, y + ROW - 7, b.series),
        `<rect x="${NAME_W}" y="${y}" width="${w.toFixed(1)}" height="${ROW - 4}" fill="${color}"><title>${esc(`${b.series}: ${num(b.value, b.digits)} ${g.unit}`)}</title></rect>`,
        text(NAME_W + w + 6, y + ROW - 7, num(b.value, b.digits)),
      );
      y += ROW;
    }
    y += 22;
  }
  const legend = series.map((s, i) => `<rect x="${10 + i * 110}" y="${54 + top}" width="12" height="12" fill="${COLORS[s] ?? '#2ca02c'}"/>${text(26 + i * 110, 64 + top, s)}`).join('');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y}" viewBox="0 0 ${WIDTH} ${y}" font-family="sans-serif" font-size="12">`,
    '<rect width="100%" height="100%" fill="white"/>',
    ...titleLines.map((line, i) => text(10, 20 + i * 18, line, 'font-size="14" font-weight="bold"')),
    text(10, 40 + top, subtitle, 'fill="#555" font-size="11"'),
    legend,
    ...out,
    '</svg>',
    '',
  ].join('\n');
}

const ratio = (r) => (typeof r?.median === 'number' ? `${r.median.toFixed(2)}x` : null);

/** one SVG per scenario of a load result */
export function loadCharts(result) {
  const charts = {};
  for (const s of result.scenarios) {
    const groups = s.figures.map((f) => ({
      label: f.label,
      unit: `${f.unit}${f.better ? ` (${f.better} is better)` : ''}`,
      note: [ratio(f.vpcep_over_haproxy) && `vpcep/haproxy ${ratio(f.vpcep_over_haproxy)}`, ratio(f.vpcep_over_direct) && `vpcep/direct ${ratio(f.vpcep_over_direct)}`].filter(Boolean).join(', '),
      bars: s.paths.map((p) => ({ series: p, value: f.paths[p]?.median ?? null, digits: f.digits ?? 0 })),
    }));
    const sub = `${result.command}; ${result.when.slice(0, 16).replace('T', ' ')} UTC; ${result.machine.cores} cores; relay ${result.setup.vpcep.relay}, SNAT ${result.setup.vpcep.snat_mode}`;
    charts[`load-${s.name}.svg`] = barChart(s.title, sub, groups, s.paths);
  }
  return charts;
}

/** a scrape result: this build against the base build */
export function scrapeChart(result) {
  const runs = result.runs;
  const figure = (label, unit, key, digits = 0) => ({
    label, unit, note: runs.length === 2 ? `this/base ${(result.this_over_base?.[key] ?? runs[0][key] / runs[1][key]).toFixed(2)}x` : '', bars: runs.map((r) => ({ series: r.name, value: r[key], digits })),
  });
  const groups = [
    figure('scrape time (median)', 'ms', 'scrape_ms_median', 1),
    figure('scrape time (p90)', 'ms', 'scrape_ms_p90', 1),
    ...(runs[0].cpu_ms_per_scrape === undefined ? [] : [figure('daemon CPU per scrape', 'ms', 'cpu_ms_per_scrape', 1)]),
    figure('scrape size', 'bytes', 'bytes'),
    figure('samples', 'lines', 'samples'),
    figure('daemon RSS', 'KiB', 'rss_kib'),
  ];
  const sub = `node bench/scrape.mjs --endpoints ${result.endpoints} --scrapes ${result.scrapes}${result.rounds ? ` --rounds ${result.rounds}` : ''}${runs.length > 1 ? ' --base <base>' : ''}; relay ${result.relay}; ${result.cores} cores${result.rounds > 1 ? '; medians of the rounds' : ''}`;
  return barChart(`GET /metrics with the token at ${num(result.endpoints)} endpoints`, sub, groups, runs.map((r) => r.name));
}

function newest(dir, prefix) {
  if (!fs.existsSync(dir)) return null;
  const files = fs.readdirSync(dir).filter((f) => f.startsWith(prefix) && f.endsWith('.json') && !f.includes('smoke')).sort();
  return files.length ? path.join(dir, files.at(-1)) : null;
}

function main() {
  const USAGE = `usage: node bench/plot.mjs [--out DIR] [FILE.json ...]

  FILE.json   results of npm run bench:load (load-*.json) or of node bench/scrape.mjs (scrape-*.json);
              default the newest of each kind under bench/results/
  --out DIR   where the SVGs go; default docs/bench/
  -h, --help  this text`;
  const line = commandLine('bench/plot', USAGE, { out: { type: 'string', default: path.join(ROOT, 'docs/bench') } }, { positionals: true });
  const { values: o, positionals } = line;
  for (const f of positionals) if (!fs.existsSync(f)) line.usage(`${f}: no such file`);
  const results = path.join(ROOT, 'bench/results');
  const files = positionals.length ? positionals : [newest(results, 'load-'), newest(results, 'scrape-')].filter(Boolean);
  if (!files.length) {
    process.stderr.write(`bench/plot: no results under ${results}: run npm run bench:load (and node bench/scrape.mjs) first, or name the files\n`);
    process.exit(1);
  }
  fs.mkdirSync(o.out, { recursive: true });
  for (const file of files) {
    const result = JSON.parse(fs.readFileSync(file, 'utf8'));
    const charts = result.scenarios ? loadCharts(result) : { 'scrape.svg': scrapeChart(result) };
    for (const [name, svg] of Object.entries(charts)) {
      fs.writeFileSync(path.join(o.out, name), svg);
      process.stdout.write(`${path.relative(process.cwd(), path.join(o.out, name))} (from ${path.relative(process.cwd(), file)})\n`);
    }
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();

// Medians, per-round ratios and the table of results.

export function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/**
 * Aggregates the runs of one scenario: per figure and path, the median over rounds; per figure,
 * the ratios vpcep/haproxy and vpcep/direct computed within each round, and their median.
 * runs: [{round, path, figures?: {key: number|null}, error?: string}]
 */
export function aggregate(scenario, runs) {
  const rounds = [...new Set(runs.map((r) => r.round))].sort((a, b) => a - b);
  const at = (path, round, key) => runs.find((r) => r.path === path && r.round === round)?.figures?.[key] ?? null;
  return scenario.figures.map((f) => {
    const perPath = {};
    for (const path of scenario.paths) {
      const values = rounds.map((round) => at(path, round, f.key));
      perPath[path] = { median: median(values), rounds: values };
    }
    const ratio = (other) => {
      if (!scenario.paths.includes(other)) return { median: null, rounds: [] };
      const values = rounds.map((round) => {
        const a = at('vpcep', round, f.key);
        const b = at(other, round, f.key);
        return typeof a === 'number' && typeof b === 'number' && b !== 0 ? a / b : null;
      });
      return { median: median(values), rounds: values };
    };
    return { ...f, paths: perPath, vpcep_over_haproxy: ratio('haproxy'), vpcep_over_direct: ratio('direct') };
  });
}

function fmt(v, digits) {
  if (v === null || v === undefined) return '—';
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function fmtRatio(v) {
  return v === null || v === undefined ? '—' : `${v.toFixed(v >= 10 ? 1 : 2)}x`;
}

/** a Markdown table: one row per figure, the median per path and the two ratios */
export function table(aggregates) {
  const header = ['scenario', 'figure', 'unit', 'better', 'vpcep', 'haproxy', 'direct', 'vpcep/haproxy', 'vpcep/direct'];
  const rows = [];
  for (const [scenario, figures] of aggregates) {
    for (const f of figures) {
      rows.push([
        scenario, f.label, f.unit, f.better ?? '',
        fmt(f.paths.vpcep?.median, f.digits), fmt(f.paths.haproxy?.median, f.digits), fmt(f.paths.direct?.median, f.digits),
        fmtRatio(f.vpcep_over_haproxy.median), fmtRatio(f.vpcep_over_direct.median),
      ]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const right = new Set([4, 5, 6, 7, 8]);
  const line = (cells) => `| ${cells.map((c, i) => (right.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (right.has(i) ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

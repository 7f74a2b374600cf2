/**
 * What a sweep writes beside its runs: aggregate.json, a Markdown summary
 * table (each series' last x: mean and 95% interval of every metric, with
 * the seeds), one figure per metric (means as lines, intervals as bands,
 * through @normlab/plot), and report.html: the same, self-contained (inline
 * SVG, no script, no external resource), for any browser.
 */
import { PALETTE, escapeXml, figure } from '@normlab/plot';
import type { SeriesAggregate, SweepAggregate } from './aggregate.js';

/** A number for a table: 4 significant digits. */
const num = (v: number): string => (Number.isFinite(v) ? String(Number(v.toPrecision(4))) : 'n/a');

/** "0.9123 [0.9011, 0.9235] (n 3)"; one seed: the value and "(n 1, no interval)". */
function cell(s: SeriesAggregate, m: string): string {
  const a = s.summary[m];
  if (!a) return 'n/a';
  return a.n === 1 ? `${num(a.mean)} (n 1, no interval)` : `${num(a.mean)} [${num(a.lo)}, ${num(a.hi)}] (n ${a.n})`;
}

/** What a run's number is, in words. */
export function describeSummary(agg: SweepAggregate): string {
  const what = { last: `its value at its last ${agg.x}`, median: `the median over its ${agg.x} values`, mean: `the mean over its ${agg.x} values`, min: `the minimum over its ${agg.x} values`, max: `the maximum over its ${agg.x} values` }[agg.summary];
  return `Each run's number is ${what}; the table gives their mean and 95% confidence interval over the seeds (Student's t, n - 1 degrees of freedom), then each seed's number.`;
}

function tableRows(agg: SweepAggregate): { header: string[]; rows: string[][] } {
  const header = ['series', ...agg.y.map((m) => `${m}: mean [95% CI]`), ...agg.y.map((m) => `${m} per seed`)];
  const rows = agg.series.map((s) => [
    s.label,
    ...agg.y.map((m) => cell(s, m)),
    ...agg.y.map((m) => s.summary[m]?.perSeed.map((v, i) => `${s.seeds[i]}: ${v === null ? 'n/a' : num(v)}`).join(', ') ?? 'n/a'),
  ]);
  return { header, rows };
}

/** The Markdown summary: one row per series. */
export function summaryMarkdown(agg: SweepAggregate): string {
  const { header, rows } = tableRows(agg);
  const esc = (c: string): string => c.replace(/\|/g, '\\|');
  return [
    `# Sweep ${agg.name} (${agg.example})`,
    '',
    describeSummary(agg),
    '',
    `| ${header.map(esc).join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
    '',
  ].join('\n');
}

/** One figure per metric: every series' mean, and its interval as a band. */
export function metricFigures(agg: SweepAggregate): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of agg.y) {
    const series = agg.series.map((s, i) => ({ name: s.label, x: s.x, y: s.metrics[m].mean, color: PALETTE[i % PALETTE.length], markers: s.x.length <= 12 }));
    const bands = agg.series.map((s, i) => ({ name: `${s.label} (95% CI)`, x: s.x, lo: s.metrics[m].lo, hi: s.metrics[m].hi, color: PALETTE[i % PALETTE.length], opacity: 0.18, hideInLegend: true }));
    out[m] = figure([{ xLabel: agg.x, yLabel: m, series, bands }], {
      title: `${agg.name}: ${m}`,
      subtitle: `mean over seeds ${agg.seeds.join(', ')}; bands: 95% confidence interval (t, n - 1 df)`,
      panelWidth: 760,
      panelHeight: 460,
    });
  }
  return out;
}

/** What report.html shows besides the aggregate: how the sweep was run, and each run's state. */
export interface ReportContext {
  command: string;
  executor: string;
  created: string;
  runs: readonly { id: string; state: string; seconds: number | null }[];
}

/** A self-contained HTML page: the table, the figures inline, the runs. */
export function reportHtml(agg: SweepAggregate, figures: Record<string, string>, ctx: ReportContext): string {
  const { header, rows } = tableRows(agg);
  const h = escapeXml;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Sweep ${h(agg.name)}</title>
<style>
body { font-family: DejaVu Sans, Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1.5em 0; }
code { background: #f4f4f4; padding: 1px 4px; }
</style>
</head>
<body>
<h1>Sweep ${h(agg.name)}</h1>
<p>Example <code>${h(agg.example)}</code>, seeds ${h(agg.seeds.join(', '))}, executor ${h(ctx.executor)}, ${h(ctx.created)}.<br>
Command: <code>${h(ctx.command)}</code></p>
<p>${h(describeSummary(agg))}</p>
<table id="summary">
<thead><tr>${header.map((c) => `<th>${h(c)}</th>`).join('')}</tr></thead>
<tbody>
${rows.map((r) => `<tr>${r.map((c, i) => `<td${i > 0 ? ' class="num"' : ''}>${h(c)}</td>`).join('')}</tr>`).join('\n')}
</tbody>
</table>
${agg.y.map((m) => `<figure id="figure-${h(m)}">\n${figures[m]}\n<figcaption>${h(m)} against ${h(agg.x)}: lines are means, bands 95% confidence intervals.</figcaption>\n</figure>`).join('\n')}
<h2>Runs</h2>
<table id="runs">
<thead><tr><th>run</th><th>state</th><th>seconds</th></tr></thead>
<tbody>
${ctx.runs.map((r) => `<tr><td>${h(r.id)}</td><td>${h(r.state)}</td><td class="num">${r.seconds === null ? '' : r.seconds.toFixed(1)}</td></tr>`).join('\n')}
</tbody>
</table>
</body>
</html>
`;
}

/** The figures of the ICS experiment, as SVG (drawn with @normlab/plot). */
import { type Band, type Chart, type Series, figure } from '@normlab/plot';
import { VARIANT_STYLE as STYLE, log10Format, logDomain, quantile } from '@normlab/example-kit';
import type { IcsRow, RunResult } from './experiment.js';

const lrLabel = (lr: number): string => `lr ${lr}`;
const log10 = (v: number): number => (v > 0 ? Math.log10(v) : NaN);

type Metric = 'l2' | 'cosine';
const METRIC: Record<Metric, { label: string; log: boolean }> = {
  l2: { label: "||G - G'||₂ (log scale)", log: true },
  cosine: { label: "cos(G, G')", log: false },
};

/** The steps of one run's measurements, the chosen layer's values, and a 10-90% band over all layers at each step. */
function overTime(rows: readonly IcsRow[], metric: Metric, layer: number): { x: number[]; y: number[]; lo: number[]; hi: number[] } {
  const steps = [...new Set(rows.map((r) => r.step))].sort((a, b) => a - b);
  const f = (v: number): number => (METRIC[metric].log ? log10(v) : v);
  const x: number[] = [];
  const y: number[] = [];
  const lo: number[] = [];
  const hi: number[] = [];
  for (const s of steps) {
    const at = rows.filter((r) => r.step === s);
    const vals = at.map((r) => f(r[metric])).filter(Number.isFinite);
    const mine = at.find((r) => r.layer === layer);
    if (!mine || vals.length === 0) continue;
    x.push(s);
    y.push(f(mine[metric]));
    lo.push(quantile(vals, 0.1));
    hi.push(quantile(vals, 0.9));
  }
  return { x, y, lo, hi };
}

/** ||G - G'|| and cos(G, G') over training: one column per learning rate, both variants; layer `layer` as a line, all layers' 10-90% as a band. */
export function icsFigure(runs: readonly RunResult[], lrs: readonly number[], layer: number, subtitle: string): string {
  const charts: Chart[] = [];
  for (const metric of ['l2', 'cosine'] as const) {
    const allValues = runs.flatMap((r) => r.rows.map((x) => x[metric]));
    const yDomain: [number, number] = METRIC[metric].log ? logDomain(allValues) : [Math.min(-0.2, Math.floor(Math.min(...allValues.filter(Number.isFinite), 0) * 5) / 5), 1.05];
    for (const lr of lrs) {
      const series: Series[] = [];
      const bands: Band[] = [];
      for (const run of runs.filter((r) => r.lr === lr)) {
        const t = overTime(run.rows, metric, layer);
        const { label, color } = STYLE[run.variant];
        bands.push({ name: `${label}: layers 10-90%`, x: t.x, lo: t.lo, hi: t.hi, color, opacity: 0.15, hideInLegend: true });
        series.push({ name: `${label}, layer ${layer}`, x: t.x, y: t.y, color, width: 2 });
      }
      charts.push({
        title: `${metric === 'l2' ? "l2 difference" : 'cosine'}, ${lrLabel(lr)}`,
        xLabel: 'training step (full-batch GD)',
        yLabel: METRIC[metric].label,
        series, bands, yDomain,
        yTickFormat: METRIC[metric].log ? log10Format : undefined,
        hLines: metric === 'cosine' ? [{ y: 1, color: '#999', dash: '4 3' }] : undefined,
      });
    }
  }
  return figure(charts, {
    columns: lrs.length, panelWidth: 460, panelHeight: 340,
    title: "Internal covariate shift in a deep linear network: G vs G' per layer",
    subtitle: `${subtitle}; line: layer ${layer}, band: 10th-90th percentile over all layers`,
  });
}

/** The median over training of ||G - G'|| and cos(G, G') per layer (x: layer 1..depth), both variants, one column per learning rate. */
export function perLayerFigure(runs: readonly RunResult[], lrs: readonly number[], depth: number, subtitle: string): string {
  const charts: Chart[] = [];
  for (const metric of ['l2', 'cosine'] as const) {
    const f = (v: number): number => (METRIC[metric].log ? log10(v) : v);
    const medians = runs.map((run) => ({
      run,
      y: Array.from({ length: depth }, (_, i) => quantile(run.rows.filter((r) => r.layer === i + 1).map((r) => f(r[metric])).filter(Number.isFinite), 0.5)),
    }));
    const all = medians.flatMap((m) => m.y).filter(Number.isFinite);
    const yDomain: [number, number] = METRIC[metric].log
      ? [Math.floor(Math.min(...all, 0) * 2) / 2 - 0.5, Math.ceil(Math.max(...all, 0) * 2) / 2 + 0.5]
      : [Math.min(-0.2, Math.floor(Math.min(...all, 0) * 5) / 5), 1.05];
    for (const lr of lrs) {
      charts.push({
        title: `median over training, ${lrLabel(lr)}`,
        xLabel: 'layer',
        yLabel: METRIC[metric].label,
        xDomain: [1, depth],
        yDomain,
        yTickFormat: METRIC[metric].log ? log10Format : undefined,
        series: medians.filter((m) => m.run.lr === lr).map((m) => ({
          name: STYLE[m.run.variant].label, color: STYLE[m.run.variant].color, x: m.y.map((_, i) => i + 1), y: m.y, markers: true,
        })),
      });
    }
  }
  return figure(charts, { columns: lrs.length, panelWidth: 460, panelHeight: 320, title: "ICS per layer (median over the measurements)", subtitle });
}

/** The training loss (log scale) against steps, both variants, one panel per learning rate. */
export function lossFigure(runs: readonly RunResult[], lrs: readonly number[], subtitle: string): string {
  const all = runs.flatMap((r) => r.losses);
  const yDomain = logDomain(all);
  const charts: Chart[] = lrs.map((lr) => ({
    title: lrLabel(lr),
    xLabel: 'training step (full-batch GD)',
    yLabel: 'training loss, MSE (log scale)',
    yDomain,
    yTickFormat: log10Format,
    series: runs.filter((r) => r.lr === lr).map((r) => ({
      name: STYLE[r.variant].label, color: STYLE[r.variant].color, x: r.losses.map((_, i) => i), y: r.losses.map(log10),
    })),
  }));
  return figure(charts, { columns: lrs.length, panelWidth: 460, panelHeight: 320, title: 'Training loss of the deep linear network', subtitle });
}

/** The figures of the noisy-BN experiment, as SVG (drawn with @normlab/plot). */
import { VARIANT_STYLE as STYLE } from '@normlab/example-kit';
import { type Chart, figure } from '@normlab/plot';
import { PERCENTILES, type RunResult } from './experiment.js';

const percent = (v: number): string => `${Number((v * 100).toPrecision(4))}%`;

/** (a) training loss (mean of 20 steps) and (b) test accuracy against steps, every variant. */
export function trainingFigure(runs: readonly RunResult[], subtitle: string): string {
  const smooth = (xs: readonly number[]): number[] => xs.map((_, i) => {
    const w = xs.slice(Math.max(0, i - 19), i + 1).filter(Number.isFinite);
    return w.length ? w.reduce((a, b) => a + b, 0) / w.length : NaN;
  });
  const accs = runs.flatMap((r) => r.evals.filter((e) => e.step > 0).map((e) => e.testAccuracy));
  const lo = accs.length ? Math.max(0, Math.floor((Math.min(...accs) - 0.01) * 20) / 20) : 0;
  const charts: Chart[] = [
    {
      title: '(a) training loss', xLabel: 'training step', yLabel: 'training loss (mean of 20 steps)',
      series: runs.map((r) => ({ name: STYLE[r.variant].label, color: STYLE[r.variant].color, dash: STYLE[r.variant].dash, x: r.losses.map((_, i) => i + 1), y: smooth(r.losses) })),
    },
    {
      title: '(b) test accuracy', xLabel: 'training step', yLabel: 'test accuracy', yDomain: [lo, 1], yTickFormat: percent,
      series: runs.map((r) => {
        const e = r.evals.filter((x) => x.step > 0);
        return { name: STYLE[r.variant].label, color: STYLE[r.variant].color, dash: STYLE[r.variant].dash, x: e.map((x) => x.step), y: e.map((x) => x.testAccuracy), markers: true };
      }),
    },
  ];
  return figure(charts, { panelWidth: 560, panelHeight: 400, title: 'Standard vs BatchNorm vs "noisy" BatchNorm', subtitle });
}

/** One panel per variant, shared y axis: the 5-95% and 15-85% bands and the median of the tracked pre-activation over training. */
export function activationsFigure(runs: readonly RunResult[], what: string, subtitle: string): string {
  const idx = (p: number): number => PERCENTILES.indexOf(p as (typeof PERCENTILES)[number]);
  const all = runs.flatMap((r) => r.stats.flatMap((s) => [s.percentiles[idx(5)], s.percentiles[idx(95)]])).filter(Number.isFinite);
  const span = all.length ? Math.max(...all) - Math.min(...all) || 1 : 1;
  const yDomain: [number, number] = all.length ? [Math.min(...all) - 0.05 * span, Math.max(...all) + 0.35 * span] : [-1, 1];
  const charts: Chart[] = runs.map((r, i) => {
    const x = r.stats.map((s) => s.step);
    const p = (q: number): number[] => r.stats.map((s) => s.percentiles[idx(q)]);
    const color = STYLE[r.variant].color;
    return {
      title: `(${'abc'[i] ?? String(i + 1)}) ${STYLE[r.variant].label}`,
      xLabel: 'training step', yLabel: `pre-activation, ${what}`, yDomain,
      bands: [
        { name: '5th-95th percentile', x, lo: p(5), hi: p(95), color, opacity: 0.15 },
        { name: '15th-85th percentile', x, lo: p(15), hi: p(85), color, opacity: 0.3 },
      ],
      series: [{ name: 'median', x, y: p(50), color, width: 2.2 }],
      hLines: [{ y: 0, color: '#999' }],
    };
  });
  return figure(charts, { panelWidth: 440, panelHeight: 400, title: `Distribution of a pre-activation (${what}) over training`, subtitle });
}

/** Figure 4 of Santurkar et al. (2018) from the probes, as SVG (drawn with @normlab/plot). */
import { type Band, type Chart, type Series, figure } from '@normlab/plot';
import { VARIANT_STYLE as STYLE, log10Format, logDomain } from '@normlab/example-kit';
import type { ProbeRow, RunResult } from './experiment.js';

const log10 = (v: number): number => (v > 0 ? Math.log10(v) : NaN);

interface Panel {
  title: string;
  yLabel: string;
  /** A band [lo, hi] per probe, or null for a line. */
  band: ((p: ProbeRow) => [number, number]) | null;
  line: (p: ProbeRow) => number;
}

const PANELS: Panel[] = [
  { title: '(a) loss landscape', yLabel: 'loss along the gradient (log scale)', band: (p) => [p.lossMin, p.lossMax], line: (p) => p.loss },
  { title: '(b) gradient predictiveness', yLabel: "||g - g(w - ηg)||₂ (log scale)", band: (p) => [p.gradDiffMin, p.gradDiffMax], line: (p) => p.gradDiffMax },
  { title: '(c) effective β-smoothness', yLabel: "max ||g - g(w - ηg)|| / ||ηg|| (log scale)", band: null, line: (p) => p.betaSmoothness },
];

/** Three rows (loss landscape, gradient predictiveness, effective beta-smoothness; log scales) x one column per learning rate; both variants in each panel. */
export function landscapeFigure(runs: readonly RunResult[], lrs: readonly number[], subtitle: string): string {
  const charts: Chart[] = [];
  for (const panel of PANELS) {
    const values = runs.flatMap((r) => r.probes.flatMap((p) => [panel.line(p), ...(panel.band ? panel.band(p) : [])]));
    const yDomain = logDomain(values);
    for (const lr of lrs) {
      const series: Series[] = [];
      const bands: Band[] = [];
      for (const run of runs.filter((r) => r.lr === lr)) {
        const { label, color } = STYLE[run.variant];
        const x = run.probes.map((p) => p.step);
        if (panel.band) {
          const b = run.probes.map(panel.band);
          bands.push({ name: `${label} (range over η)`, x, lo: b.map((v) => log10(v[0])), hi: b.map((v) => log10(v[1])), color, opacity: 0.25 });
          series.push({ name: label, x, y: run.probes.map((p) => log10(panel.line(p))), color, width: 1.2, hideInLegend: true });
        } else {
          series.push({ name: label, x, y: run.probes.map((p) => log10(panel.line(p))), color, width: 2 });
        }
      }
      charts.push({
        title: `${panel.title}, lr ${lr}`, xLabel: 'training step', yLabel: panel.yLabel, series, bands, yDomain,
        yTickFormat: log10Format,
      });
    }
  }
  return figure(charts, { columns: lrs.length, panelWidth: 460, panelHeight: 320, title: 'The optimization landscape along the gradient, with and without BatchNorm', subtitle });
}

/** The training loss (a moving average over 10 steps) against steps, both variants, one panel per learning rate. */
export function lossFigure(runs: readonly RunResult[], lrs: readonly number[], subtitle: string): string {
  const smooth = (xs: readonly number[]): number[] => xs.map((_, i) => {
    const w = xs.slice(Math.max(0, i - 9), i + 1).filter(Number.isFinite);
    return w.length ? w.reduce((a, b) => a + b, 0) / w.length : NaN;
  });
  const charts: Chart[] = lrs.map((lr) => ({
    title: `lr ${lr}`, xLabel: 'training step', yLabel: 'training loss (mean of 10 steps)',
    series: runs.filter((r) => r.lr === lr).map((r) => ({
      name: `${STYLE[r.variant].label}${Number.isFinite(r.testAccuracy) ? ` (test acc ${(r.testAccuracy * 100).toFixed(1)}%)` : ' (diverged)'}`,
      color: STYLE[r.variant].color, x: r.losses.map((_, i) => i + 1), y: smooth(r.losses),
    })),
  }));
  return figure(charts, { columns: lrs.length, panelWidth: 460, panelHeight: 320, title: 'Training loss', subtitle });
}

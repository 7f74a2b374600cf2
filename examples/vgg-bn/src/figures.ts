/** The figures of the VGG experiment, as SVG (drawn with @normlab/plot): Santurkar et al.'s Figure 1 (a, b) and the activation panels. */
import { VARIANT_STYLE } from '@normlab/example-kit';
import { type Band, type Chart, type Series, figure } from '@normlab/plot';
import { PERCENTILES, type RunResult, byVariantAndRate } from './experiment.js';

/** Percent ticks up to 100%; the axis goes on to 130% to leave the legend room above the curves, without ticks there. */
const percent = (v: number): string => (v <= 1 + 1e-9 ? `${Number((v * 100).toPrecision(4))}%` : '');
/** The dash of each learning rate, in the order given: solid for the first. */
const LR_DASH = [undefined, '7 4', '2 3', '10 3 2 3'];

/**
 * (a) training accuracy and (b) test accuracy against steps, every variant
 * at every learning rate (Figure 1 a-b of the paper; Figure 2's left panels
 * with noisy BN): the mean over the seeds, and with several seeds the band
 * from the lowest to the highest seed. The color is the variant (legend in
 * a), the dash the learning rate (legend in b), so that each legend fits
 * above the curves.
 */
export function accuracyFigure(runs: readonly RunResult[], lrs: readonly number[], subtitle: string): string {
  const dash = (lr: number): string | undefined => LR_DASH[lrs.indexOf(lr) % LR_DASH.length];
  const groups = byVariantAndRate(runs);
  // Each variant once in legend (a): its first group.
  const firstGroups = new Set(groups.filter((g, i) => groups.findIndex((x) => x[0].variant === g[0].variant) === i));
  const panel = (title: string, yLabel: string, pick: (e: RunResult['evals'][number]) => number | null, legendOf: 'variant' | 'lr'): Chart => {
    const series: Series[] = [];
    const bands: Band[] = [];
    for (const group of groups) {
      const { label, color } = VARIANT_STYLE[group[0].variant];
      // The steps every seed evaluated (a diverged run stops early).
      const steps = group[0].evals.map((e) => e.step).filter((step) => step > 0 && group.every((r) => r.evals.some((e) => e.step === step)));
      const at = (step: number): number[] => group.map((r) => pick(r.evals.find((e) => e.step === step)!) ?? NaN);
      const mean = steps.map((step) => at(step).reduce((a, b) => a + b, 0) / group.length);
      series.push({ name: label, color, dash: dash(group[0].lr), x: steps, y: mean, markers: true, hideInLegend: legendOf !== 'variant' || !firstGroups.has(group) });
      if (group.length > 1) bands.push({ name: 'min-max over seeds', x: steps, lo: steps.map((st) => Math.min(...at(st))), hi: steps.map((st) => Math.max(...at(st))), color, opacity: 0.15, hideInLegend: true });
    }
    if (legendOf === 'lr') series.push(...lrs.map((lr): Series => ({ name: `LR=${lr}`, color: '#555', dash: dash(lr), x: [], y: [] })));
    return { title, xLabel: 'training step', yLabel, yDomain: [0, 1.3], yTickFormat: percent, legend: 'top-left', series, bands };
  };
  return figure([
    panel('(a) training accuracy', 'training accuracy (batches since the last point)', (e) => e.trainAccuracy, 'variant'),
    panel('(b) test accuracy', 'test accuracy', (e) => e.testAccuracy, 'lr'),
  ], { panelWidth: 560, panelHeight: 420, title: 'VGG: Standard vs BatchNorm vs "noisy" BatchNorm', subtitle });
}

/**
 * The distribution of one channel of each tracked conv's pre-activation
 * (or, with track 'input', of the conv's output) over training, for the runs at one learning rate and seed: one row of panels per
 * conv, one column per variant, a shared y axis along each row (Figure 1c
 * and Figure 2's right panels of the paper).
 */
export function activationsFigure(
  runs: readonly RunResult[], layers: readonly number[], lr: number, seed: number, channel: number, track: 'output' | 'input', subtitle: string,
): string {
  const what = track === 'output' ? 'pre-activation' : 'conv output';
  const idx = (p: number): number => PERCENTILES.indexOf(p as (typeof PERCENTILES)[number]);
  const shown = runs.filter((r) => r.lr === lr && r.seed === seed);
  const charts: Chart[] = layers.flatMap((layer) => {
    const rows = shown.map((r) => r.stats.filter((s) => s.layer === layer));
    const all = rows.flat().flatMap((s) => [s.percentiles[idx(5)], s.percentiles[idx(95)]]).filter(Number.isFinite);
    const span = all.length ? Math.max(...all) - Math.min(...all) || 1 : 1;
    const yDomain: [number, number] = all.length ? [Math.min(...all) - 0.05 * span, Math.max(...all) + 0.35 * span] : [-1, 1];
    return shown.map((r, i): Chart => {
      const stats = rows[i];
      const x = stats.map((s) => s.step);
      const p = (q: number): number[] => stats.map((s) => s.percentiles[idx(q)]);
      const { color, label } = VARIANT_STYLE[r.variant];
      return {
        title: `${label}: conv ${layer}`, xLabel: 'training step', yLabel: `${what}, channel ${channel}`, yDomain,
        bands: [
          { name: '5th-95th percentile', x, lo: p(5), hi: p(95), color, opacity: 0.15 },
          { name: '15th-85th percentile', x, lo: p(15), hi: p(85), color, opacity: 0.3 },
        ],
        series: [{ name: 'median', x, y: p(50), color, width: 2.2 }],
        hLines: [{ y: 0, color: '#999' }],
      };
    });
  });
  return figure(charts, {
    // Wide enough for the title when there are only one or two variants.
    columns: Math.max(1, shown.length), panelWidth: Math.max(420, Math.ceil(1000 / Math.max(1, shown.length))), panelHeight: 340,
    title: `Distribution of one channel's ${what} over training (LR=${lr}, seed ${seed})`, subtitle,
  });
}

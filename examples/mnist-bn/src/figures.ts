/** Figure 1 of Ioffe & Szegedy (2015) from the metrics rows, as SVG. */
import type { Variant } from './args.js';
import { type Chart, PALETTE, figure } from '@normlab/plot';
import type { MetricsRow } from './train.js';

export const VARIANT_STYLE: Record<Variant, { label: string; color: string; dash?: string }> = {
  baseline: { label: 'Without BN', color: PALETTE[1] },
  bn: { label: 'With BN', color: PALETTE[0] },
  'noisy-bn': { label: 'Noisy BN', color: PALETTE[2], dash: '7 4' },
};

const byVariant = (rows: readonly MetricsRow[], v: Variant): MetricsRow[] => rows.filter((r) => r.variant === v).sort((a, b) => a.step - b.step);

const percent = (v: number): string => `${Number((v * 100).toPrecision(4))}%`;

/** (a) Test accuracy against training steps, one line per variant. */
export function figure1a(rows: readonly MetricsRow[], variants: readonly Variant[], subtitle: string): string {
  const series = variants.map((v) => {
    const rs = byVariant(rows, v);
    return { name: VARIANT_STYLE[v].label, color: VARIANT_STYLE[v].color, dash: VARIANT_STYLE[v].dash, x: rs.map((r) => r.step), y: rs.map((r) => r.testAccuracy) };
  });
  // As the paper, zoom on the upper range: from just under the lowest accuracy
  // after the first tenth of training (the first evaluations sit near chance).
  const steps = rows.map((r) => r.step);
  const maxStep = Math.max(1, ...steps);
  const later = rows.filter((r) => r.step >= 0.1 * maxStep).map((r) => r.testAccuracy);
  const lowest = later.length > 0 ? Math.min(...later) : 0;
  const lo = Math.max(0, Math.floor((lowest - 0.01) * 20) / 20);
  const chart: Chart = {
    title: '(a) Test accuracy',
    xLabel: 'training step',
    yLabel: 'test accuracy',
    series,
    xDomain: [0, maxStep],
    yDomain: [lo, 1],
    yTickFormat: percent,
  };
  return figure([chart], { panelWidth: 680, panelHeight: 460, title: 'MNIST, 3 x 100 sigmoid MLP', subtitle });
}

/** (b, c) The 15th, 50th and 85th percentiles of one sigmoid input over training, per variant, on a shared y axis. */
export function figure1bc(rows: readonly MetricsRow[], variants: readonly Variant[], unit: number, subtitle: string): string {
  const panels = variants.filter((v) => byVariant(rows, v).length > 0);
  const all = rows.filter((r) => panels.includes(r.variant));
  const ys = all.flatMap((r) => [r.p15, r.p85]);
  const yDomain: [number, number] = ys.length > 0 ? [Math.min(...ys), Math.max(...ys)] : [-1, 1];
  const span = yDomain[1] - yDomain[0] || 1;
  const maxStep = Math.max(1, ...all.map((r) => r.step));
  const letters = 'bcdefg';
  const charts: Chart[] = panels.map((v, i) => {
    const rs = byVariant(rows, v);
    const x = rs.map((r) => r.step);
    const color = VARIANT_STYLE[v].color;
    return {
      title: `(${letters[i]}) ${VARIANT_STYLE[v].label}`,
      xLabel: 'training step',
      yLabel: `input of sigmoid ${unit}, last hidden layer`,
      xDomain: [0, maxStep],
      // Headroom above the data for the legend.
      yDomain: niceDomain(yDomain[0] - 0.05 * span, yDomain[1] + 0.3 * span),
      bands: [{ name: '15th-85th percentile', x, lo: rs.map((r) => r.p15), hi: rs.map((r) => r.p85), color, opacity: 0.18, hideInLegend: true }],
      series: [
        { name: 'median', x, y: rs.map((r) => r.p50), color, width: 2.6 },
        { name: '15th, 85th percentiles', x, y: rs.map((r) => r.p85), color, width: 1.4, dash: '5 3' },
        { name: '15th percentile', x, y: rs.map((r) => r.p15), color, width: 1.4, dash: '5 3', hideInLegend: true },
      ],
      hLines: [{ y: 0, color: '#999' }],
    };
  });
  return figure(charts, { panelWidth: 520, panelHeight: 440, title: 'Distribution of a sigmoid input over training (15th, 50th, 85th percentiles)', subtitle });
}

function niceDomain(lo: number, hi: number): [number, number] {
  const span = hi - lo;
  const mag = 10 ** Math.floor(Math.log10(span || 1));
  const step = mag / 2;
  return [Math.floor(lo / step) * step, Math.ceil(hi / step) * step];
}

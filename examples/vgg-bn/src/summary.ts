/**
 * What a run of the experiment amounts to: each run's summary (accuracy
 * early and at the end, how much the tracked distributions move), their
 * mean and range over the seeds, the tables printed at the end, and the
 * paper's claims beside the measured figures.
 */
import { fmtNumber, fmtPercent, formatDuration, formatTable, median, percentileShift } from '@normlab/example-kit';
import type { Options, Variant } from './args.js';
import { PERCENTILES, type RunResult, byVariantAndRate } from './experiment.js';

export interface RunSummary {
  variant: Variant;
  lr: number;
  seed: number;
  steps: number;
  /** Training accuracy (of the batches since the previous evaluation) at the evaluation nearest a fifth of the run, and at the end. */
  earlyStep: number;
  earlyTrainAccuracy: number;
  finalTrainAccuracy: number;
  finalTestAccuracy: number;
  bestTestAccuracy: number;
  bestStep: number;
  /** Per tracked conv: mean |change| of the 15th, 50th and 85th percentiles between consecutive activation records (how much the distribution moves). */
  activationShift: number[];
  /** Per tracked conv: the median over training of the 15-85% spread. */
  activationSpread: number[];
  divergedAt: number | null;
  stepsPerSecond: number;
  seconds: number;
}

export function summarize(r: RunResult, o: Pick<Options, 'steps' | 'layers'>): RunSummary {
  const done = r.evals.filter((e) => e.step > 0);
  const last = done.at(-1) ?? r.evals[0];
  const early = done.reduce((a, b) => (Math.abs(b.step - o.steps / 5) < Math.abs(a.step - o.steps / 5) ? b : a), last);
  const best = done.reduce((a, b) => (b.testAccuracy > a.testAccuracy ? b : a), last);
  const [i15, i85] = [15, 85].map((p) => PERCENTILES.indexOf(p as (typeof PERCENTILES)[number]));
  const moves = o.layers.map((layer) => {
    const s = r.stats.filter((x) => x.layer === layer);
    return { shift: percentileShift(s.map((x) => x.percentiles), PERCENTILES), spread: median(s.map((x) => x.percentiles[i85] - x.percentiles[i15])) };
  });
  return {
    variant: r.variant, lr: r.lr, seed: r.seed, steps: r.losses.length, earlyStep: early.step, earlyTrainAccuracy: early.trainAccuracy ?? NaN,
    finalTrainAccuracy: last.trainAccuracy ?? NaN, finalTestAccuracy: last.testAccuracy, bestTestAccuracy: best.testAccuracy, bestStep: best.step,
    activationShift: moves.map((m) => m.shift), activationSpread: moves.map((m) => m.spread),
    divergedAt: r.divergedAt, stepsPerSecond: r.losses.length / Math.max(1e-9, r.trainSeconds), seconds: r.seconds,
  };
}

/** A figure over the seeds: the mean, the lowest and the highest. */
export interface Spread {
  mean: number;
  min: number;
  max: number;
}

/** The runs of one (variant, learning rate) over the seeds. */
export interface GroupSummary {
  variant: Variant;
  lr: number;
  seeds: number[];
  earlyStep: number;
  earlyTrainAccuracy: Spread;
  finalTrainAccuracy: Spread;
  finalTestAccuracy: Spread;
  /** Per tracked conv, the mean over the seeds. */
  activationShift: number[];
  /** How many seeds diverged. */
  diverged: number;
}

function spread(xs: readonly number[]): Spread {
  return { mean: xs.reduce((a, b) => a + b, 0) / xs.length, min: Math.min(...xs), max: Math.max(...xs) };
}

/** The summaries grouped by (variant, learning rate), in the order of their first run. */
export function aggregate(s: readonly RunSummary[]): GroupSummary[] {
  return byVariantAndRate(s).map((g) => ({
    variant: g[0].variant, lr: g[0].lr, seeds: g.map((x) => x.seed), earlyStep: g[0].earlyStep,
    earlyTrainAccuracy: spread(g.map((x) => x.earlyTrainAccuracy)), finalTrainAccuracy: spread(g.map((x) => x.finalTrainAccuracy)),
    finalTestAccuracy: spread(g.map((x) => x.finalTestAccuracy)),
    activationShift: g[0].activationShift.map((_, i) => g.reduce((a, x) => a + x.activationShift[i], 0) / g.length),
    diverged: g.filter((x) => x.divergedAt !== null).length,
  }));
}

const pct = fmtPercent;
const fmt = fmtNumber;
const perLayer = (xs: readonly number[]): string => xs.map((x) => fmt(x)).join(' / ');
/** A spread as "mean" for one seed, "mean [min, max]" for several. */
const pctSpread = (x: Spread, n: number): string => (n > 1 ? `${pct(x.mean)} [${pct(x.min)}, ${pct(x.max)}]` : pct(x.mean));

/** Every run: accuracy, the tracked distributions' movement and spread, speed. */
export function summaryTable(s: readonly RunSummary[], layers: readonly number[]): string {
  const convs = `conv ${layers.join(' / ')}`;
  const seeds = new Set(s.map((x) => x.seed)).size > 1;
  return formatTable(
    ['run', 'train acc early (step)', 'final train acc', 'final test acc', 'best test acc (step)', `activation shift/record (${convs})`, `15-85% spread (${convs})`, 'steps/s', 'wall time'],
    s.map((x) => [
      `${x.variant} LR=${x.lr}${seeds ? ` seed ${x.seed}` : ''}`, `${pct(x.earlyTrainAccuracy)} (${x.earlyStep})`,
      x.divergedAt === null ? pct(x.finalTrainAccuracy) : `diverged at ${x.divergedAt + 1}`, pct(x.finalTestAccuracy),
      `${pct(x.bestTestAccuracy)} (${x.bestStep})`, perLayer(x.activationShift), perLayer(x.activationSpread),
      x.stepsPerSecond.toFixed(1), formatDuration(x.seconds),
    ]),
  );
}

/** Each (variant, learning rate) over the seeds: mean [min, max]. */
export function seedTable(g: readonly GroupSummary[]): string {
  return formatTable(
    ['run', 'seeds', 'train acc early', 'final train acc', 'final test acc', 'diverged'],
    g.map((x) => [
      `${x.variant} LR=${x.lr}`, String(x.seeds.length), pctSpread(x.earlyTrainAccuracy, 2), pctSpread(x.finalTrainAccuracy, 2), pctSpread(x.finalTestAccuracy, 2),
      `${x.diverged} of ${x.seeds.length}`,
    ]),
  );
}

/** The paper's claims, each with the measured figures beside it (the mean and range over the seeds when there are several). */
export function claims(g: readonly GroupSummary[], lrs: readonly number[]): string {
  const at = (v: Variant, lr: number): GroupSummary | undefined => g.find((x) => x.variant === v && x.lr === lr);
  const val = (x: GroupSummary | undefined, f: (y: GroupSummary) => string): string => (x ? `${f(x)}${x.diverged ? ` (${x.diverged} of ${x.seeds.length} diverged)` : ''}` : 'not run');
  const n = Math.max(...g.map((x) => x.seeds.length));
  const lines = [
    'Paper (Santurkar et al. 2018, Figure 1, VGG on CIFAR-10): with BatchNorm the network trains faster and reaches a higher',
    'training and test accuracy, at LR=0.1 and at LR=0.5; yet the distributions of its layer inputs do not look markedly more',
    'stable than without BN. Figure 2: with "noisy" BN (time-varying noise after every BN) it trains almost exactly like BN,',
    `although its activation distributions are far less stable.${n > 1 ? ` Measured: mean [min, max] over ${n} seeds.` : ''}`,
  ];
  for (const lr of lrs) {
    const [std, bn, noisy] = [at('standard', lr), at('bn', lr), at('noisy-bn', lr)];
    const acc = (x: GroupSummary): string => `${pctSpread(x.finalTrainAccuracy, x.seeds.length)} / ${pctSpread(x.finalTestAccuracy, x.seeds.length)}`;
    lines.push(
      `  LR=${lr}: training accuracy at step ~${(std ?? bn ?? noisy)?.earlyStep}: standard ${val(std, (x) => pctSpread(x.earlyTrainAccuracy, x.seeds.length))}, BN ${val(bn, (x) => pctSpread(x.earlyTrainAccuracy, x.seeds.length))}, noisy BN ${val(noisy, (x) => pctSpread(x.earlyTrainAccuracy, x.seeds.length))}`,
      `          final training / test accuracy: standard ${val(std, acc)}, BN ${val(bn, acc)}, noisy BN ${val(noisy, acc)}`,
      `          activation shift per record (per tracked conv): standard ${val(std, (x) => perLayer(x.activationShift))}, BN ${val(bn, (x) => perLayer(x.activationShift))}, noisy BN ${val(noisy, (x) => perLayer(x.activationShift))}`,
    );
  }
  return lines.join('\n');
}

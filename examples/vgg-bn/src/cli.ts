/**
 * `pnpm example vgg-bn`: the command line around the experiment. `run`
 * returns the exit code instead of exiting, so tests can call it in-process.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type Io, Progress, defineCli, describeNoise, fmtNumber, fmtPercent, formatDuration, formatTable, grid, median, openRun, pathsWritten, toCsv, writeFigure, writeJson,
} from '@normlab/example-kit';
import { type Options, USAGE, type Variant, parseArgs } from './args.js';
import { loadImages } from './data.js';
import { PERCENTILES, type RunResult, trainRun } from './experiment.js';
import { accuracyFigure, activationsFigure } from './figures.js';

export const CSV_COLUMNS = ['variant', 'lr', 'step', 'train_loss', 'train_accuracy', 'test_loss', 'test_accuracy'] as const;
export const ACTIVATION_COLUMNS = ['variant', 'lr', 'layer', 'step', 'mean', 'variance', ...PERCENTILES.map((p) => `p${p}`)] as const;

/** The files a run writes: one activations figure per learning rate. */
export function filesOf(lrs: readonly number[]): string[] {
  return [
    'config.json', 'metrics.csv', 'metrics.json', 'activations.csv', 'accuracy.svg', 'accuracy.png',
    ...lrs.flatMap((lr) => [`activations-lr${lr}.svg`, `activations-lr${lr}.png`]),
  ];
}

/** Runs the CLI on `argv`; resolves to the exit code (0 ok, 1 failure, 2 usage error). */
export const run = defineCli({ name: 'vgg-bn', usage: USAGE, parse: parseArgs }, experiment);

export interface RunSummary {
  variant: Variant;
  lr: number;
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
  const [i15, i50, i85] = [15, 50, 85].map((p) => PERCENTILES.indexOf(p as (typeof PERCENTILES)[number]));
  const moves = o.layers.map((layer) => {
    const s = r.stats.filter((x) => x.layer === layer);
    let shift = 0;
    for (let k = 1; k < s.length; k++) {
      const [a, b] = [s[k - 1].percentiles, s[k].percentiles];
      shift += (Math.abs(b[i15] - a[i15]) + Math.abs(b[i50] - a[i50]) + Math.abs(b[i85] - a[i85])) / 3;
    }
    return { shift: s.length > 1 ? shift / (s.length - 1) : NaN, spread: median(s.map((x) => x.percentiles[i85] - x.percentiles[i15])) };
  });
  return {
    variant: r.variant, lr: r.lr, steps: r.losses.length, earlyStep: early.step, earlyTrainAccuracy: early.trainAccuracy ?? NaN,
    finalTrainAccuracy: last.trainAccuracy ?? NaN, finalTestAccuracy: last.testAccuracy, bestTestAccuracy: best.testAccuracy, bestStep: best.step,
    activationShift: moves.map((m) => m.shift), activationSpread: moves.map((m) => m.spread),
    divergedAt: r.divergedAt, stepsPerSecond: r.losses.length / Math.max(1e-9, r.trainSeconds), seconds: r.seconds,
  };
}

const pct = fmtPercent;
const fmt = fmtNumber;
const perLayer = (xs: readonly number[]): string => xs.map((x) => fmt(x)).join(' / ');

export function summaryTable(s: readonly RunSummary[], layers: readonly number[]): string {
  const convs = `conv ${layers.join(' / ')}`;
  return formatTable(
    ['run', 'train acc early (step)', 'final train acc', 'final test acc', 'best test acc (step)', `activation shift/record (${convs})`, `15-85% spread (${convs})`, 'steps/s', 'wall time'],
    s.map((x) => [
      `${x.variant} LR=${x.lr}`, `${pct(x.earlyTrainAccuracy)} (${x.earlyStep})`,
      x.divergedAt === null ? pct(x.finalTrainAccuracy) : `diverged at ${x.divergedAt + 1}`, pct(x.finalTestAccuracy),
      `${pct(x.bestTestAccuracy)} (${x.bestStep})`, perLayer(x.activationShift), perLayer(x.activationSpread),
      x.stepsPerSecond.toFixed(1), formatDuration(x.seconds),
    ]),
  );
}

/** The paper's claims, each with the measured figures beside it. */
export function claims(s: readonly RunSummary[], lrs: readonly number[]): string {
  const at = (v: Variant, lr: number): RunSummary | undefined => s.find((x) => x.variant === v && x.lr === lr);
  const val = (x: RunSummary | undefined, f: (y: RunSummary) => string): string => (x ? (x.divergedAt === null ? f(x) : `diverged at step ${x.divergedAt + 1}`) : 'not run');
  const lines = [
    'Paper (Santurkar et al. 2018, Figure 1, VGG on CIFAR-10): with BatchNorm the network trains faster and reaches a higher',
    'training and test accuracy, at LR=0.1 and at LR=0.5; yet the distributions of its layer inputs do not look markedly more',
    'stable than without BN. Figure 2: with "noisy" BN (time-varying noise after every BN) it trains almost exactly like BN,',
    'although its activation distributions are far less stable.',
  ];
  for (const lr of lrs) {
    const [std, bn, noisy] = [at('standard', lr), at('bn', lr), at('noisy-bn', lr)];
    lines.push(
      `  LR=${lr}: training accuracy at step ~${(std ?? bn ?? noisy)?.earlyStep}: standard ${val(std, (x) => pct(x.earlyTrainAccuracy))}, BN ${val(bn, (x) => pct(x.earlyTrainAccuracy))}, noisy BN ${val(noisy, (x) => pct(x.earlyTrainAccuracy))}`,
      `          final training / test accuracy: standard ${val(std, (x) => `${pct(x.finalTrainAccuracy)} / ${pct(x.finalTestAccuracy)}`)}, BN ${val(bn, (x) => `${pct(x.finalTrainAccuracy)} / ${pct(x.finalTestAccuracy)}`)}, noisy BN ${val(noisy, (x) => `${pct(x.finalTrainAccuracy)} / ${pct(x.finalTestAccuracy)}`)}`,
      `          activation shift per record (per tracked conv): standard ${val(std, (x) => perLayer(x.activationShift))}, BN ${val(bn, (x) => perLayer(x.activationShift))}, noisy BN ${val(noisy, (x) => perLayer(x.activationShift))}`,
    );
  }
  return lines.join('\n');
}

async function experiment(options: Options, argv: readonly string[], io: Io): Promise<number> {
  // The data first: a missing CIFAR folder is reported before a run directory exists.
  const data = loadImages(options);
  const { dir, progressMode, say } = openRun('vgg-bn', options, io);
  const runsToDo = grid(options.lrs, options.variants);
  const config = {
    command: ['pnpm example vgg-bn', ...argv].join(' '),
    options: { ...options, out: dir, help: undefined },
    optimizer: 'SGD (no momentum, no weight decay), softmax cross-entropy, constant learning rate',
    init: "torchvision's VGG init: conv weights He-normal (fan-out, ReLU gain), Linear weights N(0, 0.01^2), biases 0; the same draws for every run",
    noise: describeNoise('NoisyBatchNorm2d', options),
    data: data.describe,
    activations: `activationStats of @normlab/landscape on channel ${options.channel} of conv ${options.layers.join(', ')}'s pre-activations (the norm layer's output, noise included; the conv's output without a norm), over the training batch, percentiles ${PERCENTILES.join('/')}`,
    created: new Date().toISOString(),
  };
  writeJson(join(dir, 'config.json'), config);
  say(`vgg-bn: VGG-${options.depth} (width x${options.width}) on ${options.dataset}: ${runsToDo.map(([lr, v]) => `${v} LR=${lr}`).join(', ')}, ${options.steps} steps each (batch ${options.batchSize}, seed ${options.seed})`);
  say(`run directory: ${dir}`);
  say(`data: ${data.trainX.shape[0]} training images, ${data.testX.shape[0]} test images`);

  const runs: RunResult[] = [];
  const models: Record<string, string> = {};
  const writeMetrics = (summary: RunSummary[] | null): void => {
    const evals = runs.flatMap((r) => r.evals);
    const stats = runs.flatMap((r) => r.stats);
    writeFileSync(join(dir, 'metrics.csv'), toCsv(CSV_COLUMNS, evals.map((e) => [e.variant, e.lr, e.step, e.trainLoss, e.trainAccuracy, e.testLoss, e.testAccuracy])));
    writeFileSync(join(dir, 'activations.csv'), toCsv(ACTIVATION_COLUMNS, stats.map((s) => [s.variant, s.lr, s.layer, s.step, s.mean, s.variance, ...s.percentiles])));
    writeJson(join(dir, 'metrics.json'), { config, models, evals, activations: stats, losses: runs.map((r) => ({ variant: r.variant, lr: r.lr, losses: r.losses })), summary });
  };
  for (const [lr, variant] of runsToDo) {
    const label = `${variant} LR=${lr}`;
    const progress = new Progress(io.stdout, progressMode, label, options.steps);
    let accuracy: number | null = null;
    let shown: number | null = null;
    let sps = 0;
    const result = trainRun(variant, lr, options, data, {
      onEval(row, rate) {
        accuracy = row.testAccuracy;
        sps = rate;
        progress.evaluated({ step: row.step, loss: row.trainLoss, accuracy, stepsPerSecond: rate });
      },
      onStep(step, loss) {
        shown = shown === null ? loss : 0.95 * shown + 0.05 * loss;
        progress.tick({ step, loss: shown, accuracy, stepsPerSecond: sps });
      },
    });
    progress.finish({ step: result.losses.length, loss: result.evals.at(-1)?.trainLoss ?? null, accuracy, stepsPerSecond: sps });
    if (result.divergedAt !== null) progress.message(`${label}: the training loss is not finite at step ${result.divergedAt + 1}; stopped`);
    models[variant] = result.describe;
    runs.push(result);
    writeMetrics(null);
  }
  const summaries = runs.map((r) => summarize(r, options));
  writeMetrics(summaries);
  const subtitle = `${options.dataset}, VGG-${options.depth} width x${options.width}, SGD batch ${options.batchSize}, seed ${options.seed}, test on ${data.testX.shape[0]} images`;
  writeFigure(dir, 'accuracy', accuracyFigure(runs, options.lrs, subtitle));
  for (const lr of options.lrs) {
    writeFigure(dir, `activations-lr${lr}`, activationsFigure(runs, options.layers, lr, options.channel, `${subtitle}; bands: 5-95% and 15-85%, line: median, over the training batch`));
  }
  if (progressMode !== 'none') io.stdout.write(`\n${summaryTable(summaries, options.layers)}\n\n${claims(summaries, options.lrs)}\n\n${pathsWritten(dir, filesOf(options.lrs))}\n`);
  return 0;
}

/**
 * `pnpm example noisy-bn`: the command line around the experiment. `run`
 * returns the exit code instead of exiting, so tests can call it in-process.
 */
import { join } from 'node:path';
import {
  type Io, Progress, defineCli, describeNoise, percentileShift, formatDuration, fmtNumber, fmtPercent, formatTable, withRun, resumeOptions, runConfig, logResult, loadMnistTensors, pathsWritten, toCsv,
  writeFigure, writeJson,
} from '@normlab/example-kit';
import { type Options, USAGE, type Variant, parseArgs } from './args.js';
import { PERCENTILES, type RunResult, trainVariant } from './experiment.js';
import { activationsFigure, trainingFigure } from './figures.js';

export const CSV_COLUMNS = ['variant', 'step', 'train_loss', 'test_loss', 'test_accuracy'] as const;
export const ACTIVATION_COLUMNS = ['variant', 'step', 'mean', 'variance', ...PERCENTILES.map((p) => `p${p}`)] as const;
export const FILES = [
  'config.json', 'status.json', 'metrics.jsonl', 'metrics.csv', 'metrics.json', 'activations.csv', 'training.svg', 'training.png', 'activations.svg', 'activations.png',
] as const;

/** Runs the CLI on `argv`; resolves to the exit code (0 ok, 1 failure, 2 usage error). */
export const run = defineCli({ name: 'noisy-bn', usage: USAGE, parse: parseArgs }, experiment);

export interface VariantSummary {
  variant: Variant;
  steps: number;
  /** Test accuracy at the evaluation nearest a tenth of the run, and at the end; the best and its step. */
  earlyStep: number;
  earlyAccuracy: number;
  finalAccuracy: number;
  bestAccuracy: number;
  bestStep: number;
  /** Mean training loss of the last 10% of the steps. */
  finalTrainLoss: number;
  /** Mean |change| of the 15th, 50th and 85th percentiles between consecutive activation records: how much the distribution moves. */
  activationShift: number;
  /** Median over training of the 15-85% spread. */
  activationSpread: number;
  divergedAt: number | null;
  stepsPerSecond: number;
  seconds: number;
}

export function summarize(r: RunResult, steps: number): VariantSummary {
  const done = r.evals.filter((e) => e.step > 0);
  const last = done.at(-1) ?? r.evals[0];
  const early = done.reduce((a, b) => (Math.abs(b.step - steps / 10) < Math.abs(a.step - steps / 10) ? b : a), last);
  const best = done.reduce((a, b) => (b.testAccuracy > a.testAccuracy ? b : a), last);
  const tail = r.losses.slice(-Math.max(1, Math.round(r.losses.length / 10)));
  const [i15, i85] = [15, 85].map((p) => PERCENTILES.indexOf(p as (typeof PERCENTILES)[number]));
  const spreads = r.stats.map((s) => s.percentiles[i85] - s.percentiles[i15]).sort((a, b) => a - b);
  return {
    variant: r.variant, steps: r.losses.length, earlyStep: early.step, earlyAccuracy: early.testAccuracy, finalAccuracy: last.testAccuracy,
    bestAccuracy: best.testAccuracy, bestStep: best.step, finalTrainLoss: tail.reduce((a, b) => a + b, 0) / tail.length,
    activationShift: percentileShift(r.stats.map((x) => x.percentiles), PERCENTILES), activationSpread: spreads.length ? spreads[Math.floor(spreads.length / 2)] : NaN,
    divergedAt: r.divergedAt, stepsPerSecond: r.losses.length / Math.max(1e-9, r.trainSeconds), seconds: r.seconds,
  };
}

const pct = fmtPercent;
const fmt = fmtNumber;

export function summaryTable(s: readonly VariantSummary[]): string {
  return formatTable(
    ['variant', 'test acc early (step)', 'final test acc', 'best (step)', 'train loss (last 10%)', 'activation shift/record', '15-85% spread', 'steps/s', 'wall time'],
    s.map((x) => [
      x.variant, `${pct(x.earlyAccuracy)} (${x.earlyStep})`, pct(x.finalAccuracy), `${pct(x.bestAccuracy)} (${x.bestStep})`,
      x.divergedAt === null ? fmt(x.finalTrainLoss) : `diverged at ${x.divergedAt + 1}`, fmt(x.activationShift), fmt(x.activationSpread),
      x.stepsPerSecond.toFixed(0), formatDuration(x.seconds),
    ]),
  );
}

export function claims(s: readonly VariantSummary[]): string {
  const by = (v: Variant): VariantSummary | undefined => s.find((x) => x.variant === v);
  const [std, bn, noisy] = [by('standard'), by('bn'), by('noisy-bn')];
  const lines = [
    'Paper (Santurkar et al. 2018, sec. 2.1, Figure 2, VGG on CIFAR-10): BN with injected time-varying noise ("noisy BN") trains',
    'almost exactly like BN, and both faster and better than the standard network, although the noisy layer\'s activation',
    'distributions are far less stable: stable distributions (little ICS) are not what makes BN work.',
  ];
  const val = (x: VariantSummary | undefined, f: (y: VariantSummary) => string): string => (x ? f(x) : 'not run');
  lines.push(
    `  test accuracy early (step ~${std?.earlyStep ?? bn?.earlyStep ?? noisy?.earlyStep}): standard ${val(std, (x) => pct(x.earlyAccuracy))}, BN ${val(bn, (x) => pct(x.earlyAccuracy))}, noisy BN ${val(noisy, (x) => pct(x.earlyAccuracy))}`,
    `  final test accuracy: standard ${val(std, (x) => pct(x.finalAccuracy))}, BN ${val(bn, (x) => pct(x.finalAccuracy))}, noisy BN ${val(noisy, (x) => pct(x.finalAccuracy))}`,
    `  training loss, last 10% of the steps: standard ${val(std, (x) => fmt(x.finalTrainLoss))}, BN ${val(bn, (x) => fmt(x.finalTrainLoss))}, noisy BN ${val(noisy, (x) => fmt(x.finalTrainLoss))}`,
    `  activation distribution shift per record (mean |change| of p15/p50/p85): standard ${val(std, (x) => fmt(x.activationShift))}, BN ${val(bn, (x) => fmt(x.activationShift))}, noisy BN ${val(noisy, (x) => fmt(x.activationShift))}`,
  );
  return lines.join('\n');
}

async function experiment(cli: Options, argv: readonly string[], io: Io, given: Set<keyof Options>): Promise<number> {
  const options = resumeOptions(cli, given);
  return withRun('noisy-bn', options, io, async ({ dir, run, progressMode, say, between, restore }) => {
    const data = loadMnistTensors(options.model, options.trainLimit, options.testLimit);
    const config = {
      command: ['pnpm example noisy-bn', ...argv].join(' '),
      options: { ...options, out: dir, help: undefined },
      optimizer: 'SGD (no momentum, no weight decay), softmax cross-entropy',
      noise: describeNoise('NoisyBatchNorm1d/2d', options),
      data: `MNIST via @normlab/data, pixels in [0, 1]: ${data.trainX.shape[0]} training images, ${data.testX.shape[0]} test images`,
      activations: `activationStats of @normlab/landscape on ${options.model === 'mlp' ? 'unit' : 'channel'} ${options.unit} of hidden block ${options.layer}'s pre-activations (the BN layer's output, noise included, or the Linear/conv output without BN), over the training batch, percentiles ${PERCENTILES.join('/')}`,
      created: new Date().toISOString(),
    };
    run.writeConfig(runConfig(config));
    say(`noisy-bn: ${options.variants.join(', ')} (${options.model}) for ${options.steps} steps each (batch ${options.batchSize}, lr ${options.lr}, seed ${options.seed})`);
    say(`run directory: ${dir}`);
    say(`data: ${data.trainX.shape[0]} training images, ${data.testX.shape[0]} test images`);

    const runs: RunResult[] = [];
    const models: Record<string, string> = {};
    const writeMetrics = (summary: VariantSummary[] | null): void => {
      const evals = runs.flatMap((r) => r.evals);
      const stats = runs.flatMap((r) => r.stats);
      run.write('metrics.csv', toCsv(CSV_COLUMNS, evals.map((e) => [e.variant, e.step, e.trainLoss, e.testLoss, e.testAccuracy])));
      run.write('activations.csv', toCsv(ACTIVATION_COLUMNS, stats.map((s) => [s.variant, s.step, s.mean, s.variance, ...s.percentiles])));
      writeJson(run, 'metrics.json', { config, models, evals, activations: stats, losses: Object.fromEntries(runs.map((r) => [r.variant, r.losses])), summary });
    };
    for (const variant of options.variants) {
      const earlier = restore<RunResult>(variant, { variant });
      if (earlier) {
        models[variant] = earlier.describe;
        runs.push(earlier);
        continue;
      }
      const progress = new Progress(io.stdout, progressMode, variant, options.steps);
      let shown: number | null = null;
      let accuracy: number | null = null;
      let sps = 0;
      const result = await trainVariant(variant, options, data, (row, rate) => {
        accuracy = row.testAccuracy;
        sps = rate;
        progress.evaluated({ step: row.step, loss: row.trainLoss, accuracy, stepsPerSecond: rate });
      }, (step, loss) => {
        shown = shown === null ? loss : 0.95 * shown + 0.05 * loss;
        progress.tick({ step, loss: shown, accuracy, stepsPerSecond: sps });
      }, between(variant));
      progress.finish({ step: result.losses.length, loss: result.evals.at(-1)?.trainLoss ?? null, accuracy, stepsPerSecond: sps });
      if (result.divergedAt !== null) progress.message(`${variant}: the training loss is not finite at step ${result.divergedAt + 1}; stopped (try a smaller --lr)`);
      models[variant] = result.describe;
      runs.push(result);
      logResult(run, result);
      writeMetrics(null);
    }
    const summaries = runs.map((r) => summarize(r, options.steps));
    writeMetrics(summaries);
    const subtitle = `MNIST, ${options.model === 'mlp' ? 'MLP 784-100-100-100-10 ReLU' : 'VGG-style conv net'}, SGD lr ${options.lr}, batch ${options.batchSize}, seed ${options.seed}, test on ${data.testX.shape[0]} images`;
    writeFigure(dir, 'training', trainingFigure(runs, subtitle));
    writeFigure(dir, 'activations', activationsFigure(runs, `${options.model === 'mlp' ? 'unit' : 'channel'} ${options.unit} of hidden block ${options.layer}`, `${subtitle}; bands: 5-95% and 15-85%, line: median, over the training batch`));
    if (progressMode !== 'none') io.stdout.write(`\n${summaryTable(summaries)}\n\n${claims(summaries)}\n\n${pathsWritten(dir, FILES)}\n`);
    return 0;
  });
}

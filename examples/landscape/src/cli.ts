/**
 * `pnpm example landscape`: the command line around the experiment. `run`
 * returns the exit code instead of exiting, so tests can call it in-process.
 */
import { join } from 'node:path';
import {
  type Io, Progress, grid, rateMeter, defineCli, formatDuration, fmtNumber, fmtPercent, formatTable, withRun, resumeOptions, runConfig, logResult, standardVsBn, loadMnistTensors, median, pathsWritten, toCsv,
  writeFigure, writeJson,
} from '@normlab/example-kit';
import { type Options, USAGE, type Variant, parseArgs } from './args.js';
import { type RunResult, trainRun } from './experiment.js';
import { landscapeFigure, lossFigure } from './figures.js';

export const CSV_COLUMNS = [
  'lr', 'variant', 'step', 'loss', 'grad_norm', 'loss_min', 'loss_max', 'loss_range', 'grad_diff_min', 'grad_diff_max', 'beta_smoothness',
] as const;
export const LOSS_COLUMNS = ['lr', 'variant', 'step', 'train_loss'] as const;
export const FILES = ['config.json', 'status.json', 'metrics.jsonl', 'metrics.csv', 'metrics.json', 'loss.csv', 'landscape.svg', 'landscape.png', 'loss.svg', 'loss.png'] as const;

/** Runs the CLI on `argv`; resolves to the exit code (0 ok, 1 failure, 2 usage error). */
export const run = defineCli({ name: 'landscape', usage: USAGE, parse: parseArgs }, experiment);

export interface RunSummary {
  lr: number;
  variant: Variant;
  /** Medians over the probes of the loss range, the largest gradient change and the effective beta-smoothness. */
  lossRange: number;
  gradDiff: number;
  beta: number;
  /** Mean training loss of the last 10% of the steps. */
  finalTrainLoss: number;
  testAccuracy: number;
  divergedAt: number | null;
  seconds: number;
}

export function summarize(r: RunResult): RunSummary {
  const tail = r.losses.slice(-Math.max(1, Math.round(r.losses.length / 10)));
  return {
    lr: r.lr, variant: r.variant,
    lossRange: median(r.probes.map((p) => p.lossRange)), gradDiff: median(r.probes.map((p) => p.gradDiffMax)), beta: median(r.probes.map((p) => p.betaSmoothness)),
    finalTrainLoss: tail.reduce((a, b) => a + b, 0) / tail.length, testAccuracy: r.testAccuracy, divergedAt: r.divergedAt, seconds: r.seconds,
  };
}

const fmt = fmtNumber;
const pct = fmtPercent;

export function summaryTable(s: readonly RunSummary[]): string {
  return formatTable(
    ['lr', 'variant', 'loss range (median)', "max ||g-g'|| (median)", 'beta-smoothness (median)', 'train loss (last 10%)', 'test acc', 'time'],
    s.map((x) => [
      String(x.lr), x.variant, fmt(x.lossRange), fmt(x.gradDiff), fmt(x.beta),
      x.divergedAt === null ? fmt(x.finalTrainLoss) : `diverged at ${x.divergedAt}`, pct(x.testAccuracy), formatDuration(x.seconds),
    ]),
  );
}

/** The paper's claims next to what this run measured. */
export function claims(s: readonly RunSummary[], lrs: readonly number[]): string {
  const lines = [
    'Paper (Santurkar et al. 2018, sec. 3.1, Figure 4, VGG on CIFAR-10): with BatchNorm the loss changes less along the gradient,',
    'the gradient changes less (better gradient predictiveness) and the effective beta-smoothness is lower, throughout training.',
  ];
  for (const { lr, std, bn } of standardVsBn(s, lrs)) {
    const ratio = (a: number, b: number): string => (Number.isFinite(a / b) ? ` (standard/BN ${(a / b).toPrecision(2)}x)` : '');
    lines.push(
      `  lr ${lr}: loss range along the gradient, median over training: standard ${fmt(std.lossRange)}, BN ${fmt(bn.lossRange)}${ratio(std.lossRange, bn.lossRange)}`,
      `  lr ${lr}: gradient predictiveness, max ||g - g'||, median over training: standard ${fmt(std.gradDiff)}, BN ${fmt(bn.gradDiff)}${ratio(std.gradDiff, bn.gradDiff)}`,
      `  lr ${lr}: effective beta-smoothness, median over training: standard ${fmt(std.beta)}, BN ${fmt(bn.beta)}${ratio(std.beta, bn.beta)}`,
      `  lr ${lr}: test accuracy after training: standard ${pct(std.testAccuracy)}, BN ${pct(bn.testAccuracy)}`,
    );
  }
  return lines.join('\n');
}

async function experiment(cli: Options, argv: readonly string[], io: Io, given: Set<keyof Options>): Promise<number> {
  const options = resumeOptions(cli, given);
  return withRun('landscape', options, io, async ({ dir, run, progressMode, say, between, restore }) => {
    const data = loadMnistTensors(options.model, options.trainLimit, options.testLimit);
    const config = {
      command: ['pnpm example landscape', ...argv].join(' '),
      options: { ...options, out: dir, help: undefined },
      optimizer: 'SGD (no momentum, no weight decay), softmax cross-entropy',
      data: `MNIST via @normlab/data, pixels in [0, 1]: ${data.trainX.shape[0]} training images, test accuracy on ${data.testX.shape[0]}`,
      probe: 'lossLandscape of @normlab/landscape before the step, on the step\'s batch, training mode, step sizes eta = lr x multiplier',
      created: new Date().toISOString(),
    };
    run.writeConfig(runConfig(config));
    say(`landscape: ${options.variants.join(', ')} (${options.model}) at lr ${options.lrs.join(', ')}, ${options.steps} SGD steps each (batch ${options.batchSize}), probes every ${options.probeEvery} steps`);
    say(`run directory: ${dir}`);

    const runs: RunResult[] = [];
    const writeMetrics = (summary: RunSummary[] | null): void => {
      const probes = runs.flatMap((r) => r.probes);
      run.write('metrics.csv', toCsv(CSV_COLUMNS, probes.map((p) => [
        p.lr, p.variant, p.step, p.loss, p.gradNorm, p.lossMin, p.lossMax, p.lossRange, p.gradDiffMin, p.gradDiffMax, p.betaSmoothness,
      ])));
      run.write('loss.csv', toCsv(LOSS_COLUMNS, runs.flatMap((r) => r.losses.map((l, i) => [r.lr, r.variant, i + 1, l]))));
      writeJson(run, 'metrics.json', {
        config, probes, runs: runs.map((r) => ({ lr: r.lr, variant: r.variant, model: r.describe, losses: r.losses, divergedAt: r.divergedAt, testLoss: r.testLoss, testAccuracy: r.testAccuracy })), summary,
      });
    };
    for (const [lr, variant] of grid(options.lrs, options.variants)) {
      const label = `${variant} lr ${lr}`;
      const earlier = restore<RunResult>(label, { lr, variant });
      if (earlier) {
        runs.push(earlier);
        continue;
      }
      const progress = new Progress(io.stdout, progressMode, label, options.steps);
      const sps = rateMeter();
      const result = await trainRun(variant, lr, options, data, (step, loss, probe) => {
        if (probe) progress.evaluated({ step, loss, stepsPerSecond: sps(step), extra: `beta ${fmt(probe.betaSmoothness)}  loss range ${fmt(probe.lossRange)}` });
        else progress.tick({ step, loss, stepsPerSecond: sps(step) });
      }, between(label));
      progress.finish({ step: result.losses.length, loss: result.losses.at(-1) ?? null, accuracy: result.testAccuracy, stepsPerSecond: sps(result.losses.length) });
      if (result.divergedAt !== null) progress.message(`${label}: the training loss is not finite at step ${result.divergedAt + 1}; stopped`);
      runs.push(result);
      logResult(run, result);
      writeMetrics(null);
    }
    const summaries = runs.map(summarize);
    writeMetrics(summaries);
    const subtitle = `MNIST, ${options.model === 'vgg' ? `VGG-style conv net (width ${options.width})` : 'MLP'}, SGD batch ${options.batchSize}, η = lr x {${options.stepMultipliers.join(', ')}}, seed ${options.seed}`;
    writeFigure(dir, 'landscape', landscapeFigure(runs, options.lrs, subtitle));
    writeFigure(dir, 'loss', lossFigure(runs, options.lrs, subtitle));
    if (progressMode !== 'none') io.stdout.write(`\n${summaryTable(summaries)}\n\n${claims(summaries, options.lrs)}\n\n${pathsWritten(dir, FILES)}\n`);
    return 0;
  });
}

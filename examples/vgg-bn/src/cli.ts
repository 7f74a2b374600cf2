/**
 * `pnpm example vgg-bn`: the command line around the experiment. `run`
 * returns the exit code instead of exiting, so tests can call it in-process.
 */
import { join } from 'node:path';
import { type Io, Progress, defineCli, describeNoise, grid, withRun, resumeOptions, runConfig, logResult, pathsWritten, toCsv, writeFigure, writeJson } from '@normlab/example-kit';
import { type Options, USAGE, parseArgs, seedsOf } from './args.js';
import { loadImages } from './data.js';
import { PERCENTILES, type RunResult, trainRun } from './experiment.js';
import { accuracyFigure, activationsFigure } from './figures.js';
import { type RunSummary, aggregate, claims, seedTable, summarize, summaryTable } from './summary.js';

export const CSV_COLUMNS = ['variant', 'lr', 'seed', 'step', 'train_loss', 'train_accuracy', 'test_loss', 'test_accuracy'] as const;
export const ACTIVATION_COLUMNS = ['variant', 'lr', 'seed', 'layer', 'step', 'mean', 'variance', ...PERCENTILES.map((p) => `p${p}`)] as const;

/** The files a run writes: one activations figure per learning rate. */
export function filesOf(lrs: readonly number[]): string[] {
  return [
    'config.json', 'status.json', 'metrics.jsonl', 'metrics.csv', 'metrics.json', 'activations.csv', 'accuracy.svg', 'accuracy.png',
    ...lrs.flatMap((lr) => [`activations-lr${lr}.svg`, `activations-lr${lr}.png`]),
  ];
}

/** Runs the CLI on `argv`; resolves to the exit code (0 ok, 1 failure, 2 usage error). */
export const run = defineCli({ name: 'vgg-bn', usage: USAGE, parse: parseArgs }, experiment);

async function experiment(cli: Options, argv: readonly string[], io: Io, given: Set<keyof Options>): Promise<number> {
  const options = resumeOptions(cli, given);
  // The data first: a missing CIFAR folder is reported before a run directory exists.
  const data = loadImages(options);
  return withRun('vgg-bn', options, io, async ({ dir, run, progressMode, say, between, restore }) => {
    const seeds = seedsOf(options);
    // Seeds innermost: a grid interrupted midway has every seed of the runs it finished.
    const runsToDo = grid(options.lrs, options.variants).flatMap(([lr, variant]) => seeds.map((seed) => ({ lr, variant, seed })));
    const config = {
      command: ['pnpm example vgg-bn', ...argv].join(' '),
      options: { ...options, out: dir, help: undefined },
      optimizer: 'SGD (no momentum, no weight decay), softmax cross-entropy, constant learning rate',
      init: "torchvision's VGG init: conv weights He-normal (fan-out, ReLU gain), Linear weights N(0, 0.01^2), biases 0; the same draws for every run",
      noise: describeNoise('NoisyBatchNorm2d', options),
      data: data.describe,
      activations: `activationStats of @normlab/landscape on channel ${options.channel} of conv ${options.layers.join(', ')}'s ${options.track === 'output' ? "pre-activations (the norm layer's output, noise included; the conv's output without a norm)" : 'outputs (the norm layer\'s input, in every variant)'}, over the training batch, percentiles ${PERCENTILES.join('/')}`,
      created: new Date().toISOString(),
    };
    run.writeConfig(runConfig(config));
    say(`vgg-bn: VGG-${options.depth} (width x${options.width}) on ${options.dataset}: ${grid(options.lrs, options.variants).map(([lr, v]) => `${v} LR=${lr}`).join(', ')}, ${options.steps} steps each (batch ${options.batchSize}, seed${seeds.length > 1 ? 's' : ''} ${seeds.join(', ')})`);
    say(`run directory: ${dir}`);
    say(`data: ${data.trainX.shape[0]} training images, ${data.testX.shape[0]} test images`);

    const runs: RunResult[] = [];
    const models: Record<string, string> = {};
    const writeMetrics = (summary: RunSummary[] | null): void => {
      const evals = runs.flatMap((r) => r.evals);
      const stats = runs.flatMap((r) => r.stats);
      run.write('metrics.csv', toCsv(CSV_COLUMNS, evals.map((e) => [e.variant, e.lr, e.seed, e.step, e.trainLoss, e.trainAccuracy, e.testLoss, e.testAccuracy])));
      run.write('activations.csv', toCsv(ACTIVATION_COLUMNS, stats.map((s) => [s.variant, s.lr, s.seed, s.layer, s.step, s.mean, s.variance, ...s.percentiles])));
      const losses = runs.map((r) => ({ variant: r.variant, lr: r.lr, seed: r.seed, losses: r.losses }));
      writeJson(run, 'metrics.json', { config, models, evals, activations: stats, losses, summary, seeds: summary && aggregate(summary) });
    };
    for (const { lr, variant, seed } of runsToDo) {
      const label = `${variant} LR=${lr}${seeds.length > 1 ? ` seed ${seed}` : ''}`;
      const earlier = restore<RunResult>(label, { lr, variant, seed });
      if (earlier) {
        models[variant] = earlier.describe;
        runs.push(earlier);
        continue;
      }
      const progress = new Progress(io.stdout, progressMode, label, options.steps);
      let accuracy: number | null = null;
      let shown: number | null = null;
      let sps = 0;
      const result = await trainRun(variant, lr, seed, options, data, {
        between: between(label),
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
      logResult(run, result);
      writeMetrics(null);
    }
    const summaries = runs.map((r) => summarize(r, options));
    writeMetrics(summaries);
    const groups = aggregate(summaries);
    const base = `${options.dataset}, VGG-${options.depth} width x${options.width}, SGD batch ${options.batchSize}, test on ${data.testX.shape[0]} images`;
    const seedText = seeds.length > 1 ? `seeds ${seeds.join(', ')} (line: mean, band: min-max)` : `seed ${seeds[0]}`;
    writeFigure(dir, 'accuracy', accuracyFigure(runs, options.lrs, `${base}, ${seedText}`));
    for (const lr of options.lrs) {
      writeFigure(dir, `activations-lr${lr}`, activationsFigure(runs, options.layers, lr, seeds[0], options.channel, options.track, `${base}; bands: 5-95% and 15-85%, line: median, over the training batch`));
    }
    if (progressMode !== 'none') {
      const tables = seeds.length > 1 ? `${summaryTable(summaries, options.layers)}\n\n${seedTable(groups)}` : summaryTable(summaries, options.layers);
      io.stdout.write(`\n${tables}\n\n${claims(groups, options.lrs)}\n\n${pathsWritten(dir, filesOf(options.lrs))}\n`);
    }
    return 0;
  });
}

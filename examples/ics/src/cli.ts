/**
 * `pnpm example ics`: the command line around the experiment. `run` returns
 * the exit code instead of exiting, so tests can call it in-process.
 */
import { join } from 'node:path';
import {
  type Io, Progress, grid, rateMeter, defineCli, formatDuration, fmtNumber, formatTable, withRun, resumeOptions, runConfig, logResult, standardVsBn, median, pathsWritten, toCsv, writeFigure, writeJson,
} from '@normlab/example-kit';
import { type Options, USAGE, type Variant, parseArgs } from './args.js';
import { type IcsRow, type RunResult, makeData, trainRun } from './experiment.js';
import { icsFigure, lossFigure, perLayerFigure } from './figures.js';

export const CSV_COLUMNS = ['lr', 'variant', 'step', 'loss', 'layer', 'l2', 'relative_l2', 'cosine', 'grad_norm', 'grad_norm_after'] as const;
export const LOSS_COLUMNS = ['lr', 'variant', 'step', 'loss'] as const;
export const FILES = [
  'config.json', 'status.json', 'metrics.jsonl', 'metrics.csv', 'metrics.json', 'loss.csv', 'ics.svg', 'ics.png', 'ics-per-layer.svg', 'ics-per-layer.png', 'loss.svg', 'loss.png',
] as const;

/** Runs the CLI on `argv`; resolves to the exit code (0 ok, 1 failure, 2 usage error). */
export const run = defineCli({ name: 'ics', usage: USAGE, parse: parseArgs }, experiment);

/** The per-run numbers of the summary: medians over every layer and measurement. */
export interface RunSummary {
  lr: number;
  variant: Variant;
  initialLoss: number;
  finalLoss: number;
  divergedAt: number | null;
  medianL2: number;
  medianRelativeL2: number;
  medianCosine: number;
  /** The smallest of the per-layer medians of cos(G, G'). */
  worstLayerCosine: number;
  seconds: number;
}

export function summarize(r: RunResult, depth: number): RunSummary {
  // ICS is 0 / cos 1 for layer 1 by definition (no layer before it): leave it out.
  const later = r.rows.filter((x) => x.layer > 1);
  const perLayer = Array.from({ length: depth - 1 }, (_, i) => median(later.filter((x) => x.layer === i + 2).map((x) => x.cosine)));
  return {
    lr: r.lr, variant: r.variant, initialLoss: r.losses[0], finalLoss: r.losses.at(-1)!, divergedAt: r.divergedAt,
    medianL2: median(later.map((x) => x.l2)), medianRelativeL2: median(later.map((x) => x.relativeL2)), medianCosine: median(later.map((x) => x.cosine)),
    worstLayerCosine: Math.min(...perLayer.filter(Number.isFinite)), seconds: r.seconds,
  };
}

const fmt = fmtNumber;

export function summaryTable(s: readonly RunSummary[]): string {
  return formatTable(
    ['lr', 'variant', 'loss start -> end', "median ||G-G'||", "median ||G-G'||/||G||", "median cos(G,G')", 'worst layer cos', 'time'],
    s.map((x) => [
      String(x.lr), x.variant, `${fmt(x.initialLoss)} -> ${x.divergedAt === null ? fmt(x.finalLoss) : `diverged at ${x.divergedAt}`}`,
      fmt(x.medianL2), fmt(x.medianRelativeL2), fmt(x.medianCosine), fmt(x.worstLayerCosine), formatDuration(x.seconds),
    ]),
  );
}

/** The paper's claims next to what this run measured. */
export function claims(s: readonly RunSummary[], lrs: readonly number[], depth: number): string {
  const lines = [
    "Paper (Santurkar et al. 2018, sec. 2.2, deep linear network): the standard network shows almost no ICS (cos(G,G') ~ 1, ||G-G'|| ~ 0),",
    "while with BatchNorm G and G' seem almost uncorrelated; BN does not reduce ICS, yet trains to a lower loss.",
  ];
  for (const { lr, std, bn } of standardVsBn(s, lrs)) {
    lines.push(
      `  lr ${lr}: median cos(G,G') over layers 2-${depth} and training: standard ${fmt(std.medianCosine)}, BN ${fmt(bn.medianCosine)}; ` +
        `median ||G-G'||: standard ${fmt(std.medianL2)}, BN ${fmt(bn.medianL2)} (relative to ||G||: ${fmt(std.medianRelativeL2)} vs ${fmt(bn.medianRelativeL2)}); ` +
        `final loss: standard ${std.divergedAt === null ? fmt(std.finalLoss) : 'diverged'}, BN ${bn.divergedAt === null ? fmt(bn.finalLoss) : 'diverged'}`,
    );
  }
  return lines.join('\n');
}

async function experiment(cli: Options, argv: readonly string[], io: Io, given: Set<keyof Options>): Promise<number> {
  const options = resumeOptions(cli, given);
  return withRun('ics', options, io, async ({ dir, run, progressMode, say, between, restore }) => {
    const config = {
      command: ['pnpm example ics', ...argv].join(' '),
      options: { ...options, out: dir, help: undefined },
      model: `${options.depth} x Linear(${options.width}, ${options.width}, bias=false), weights ~ N(0, 1/${options.width}); bn: BatchNorm1d after every Linear but the last`,
      data: `${options.samples} samples x ~ N(0, I), y = x A + 0.1 e, A ~ N(0, 1/${options.width}), float64`,
      optimizer: 'full-batch gradient descent (SGD on the whole data set, no momentum)',
      loss: 'mean squared error',
      ics: "internalCovariateShift of @normlab/landscape with the GD step (lr): G = grad_Wi L(W^t), G' = grad_Wi L(W_1..i-1^(t+1), W_i..k^t); every layer with parameters steps (BN's gamma/beta too), the Linear layers are reported",
      created: new Date().toISOString(),
    };
    run.writeConfig(runConfig(config));
    say(`ics: ${options.variants.join(', ')} at lr ${options.lrs.join(', ')}, ${options.steps} full-batch GD steps each, ICS every ${options.icsEvery} steps (depth ${options.depth}, width ${options.width}, ${options.samples} samples, seed ${options.seed})`);
    say(`run directory: ${dir}`);

    const data = makeData(options);
    const runs: RunResult[] = [];
    const writeMetrics = (summary: RunSummary[] | null): void => {
      const rows: IcsRow[] = runs.flatMap((r) => r.rows);
      run.write('metrics.csv', toCsv(CSV_COLUMNS, rows.map((r) => [r.lr, r.variant, r.step, r.loss, r.layer, r.l2, r.relativeL2, r.cosine, r.gradNorm, r.gradNormAfter])));
      run.write('loss.csv', toCsv(LOSS_COLUMNS, runs.flatMap((r) => r.losses.map((l, step) => [r.lr, r.variant, step, l]))));
      writeJson(run, 'metrics.json', { config, rows, losses: runs.map((r) => ({ lr: r.lr, variant: r.variant, losses: r.losses, divergedAt: r.divergedAt })), summary });
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
      const result = await trainRun(variant, lr, options, data, (step, loss, ics) => {
        const later = ics?.filter((r) => r.layer > 1) ?? [];
        const extra = later.length > 0 ? `cos(G,G') median ${fmt(median(later.map((r) => r.cosine)))}` : undefined;
        if (ics) progress.evaluated({ step, loss, stepsPerSecond: sps(step), extra });
        else progress.tick({ step, loss, stepsPerSecond: sps(step) });
      }, between(label));
      progress.finish({ step: result.losses.length - 1, loss: result.losses.at(-1)!, stepsPerSecond: sps(result.losses.length - 1) });
      if (result.divergedAt !== null) progress.message(`${label}: the loss is not finite at step ${result.divergedAt}; stopped (try a smaller lr)`);
      runs.push(result);
      logResult(run, result);
      writeMetrics(null);
    }
    const summaries = runs.map((r) => summarize(r, options.depth));
    writeMetrics(summaries);
    const subtitle = `${options.depth} linear layers of width ${options.width}, ${options.samples} synthetic samples, full-batch GD, seed ${options.seed}`;
    writeFigure(dir, 'ics', icsFigure(runs, options.lrs, options.layer, subtitle));
    writeFigure(dir, 'ics-per-layer', perLayerFigure(runs, options.lrs, options.depth, subtitle));
    writeFigure(dir, 'loss', lossFigure(runs, options.lrs, subtitle));
    if (progressMode !== 'none') {
      io.stdout.write(`\n${summaryTable(summaries)}\n\n${claims(summaries, options.lrs, options.depth)}\n\n${pathsWritten(dir, FILES)}\n`);
    }
    return 0;
  });
}

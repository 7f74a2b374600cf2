/**
 * `pnpm example mnist-bn`: the command line around the experiment. `run`
 * returns the exit code instead of exiting, so tests can call it in-process.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { registeredDevices } from '@normlab/tensor';
import { type Options, USAGE, UsageError, type Variant, parseArgs } from './args.js';
import { figure1a, figure1bc } from './figures.js';
import { formatDuration, type Writer } from './progress.js';
import { writePng } from './render.js';
import { type MetricsRow, type VariantSummary, loadData, trainVariant, writeMetrics } from './train.js';

export interface Io {
  stdout: Writer & { isTTY?: boolean };
  stderr: Writer;
}

const defaultIo: Io = { stdout: process.stdout, stderr: process.stderr };

/** The repository root: this file is examples/mnist-bn/{src,dist}/cli.*. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Flags that may differ from the saved config when resuming. */
const RESUMABLE: ReadonlySet<keyof Options> = new Set(['steps', 'evalEvery', 'checkpointEvery', 'progress', 'resume']);

export const GPU_UNAVAILABLE = "device 'gpu' is not available: no GPU backend is registered (see the GPU backend issue)";

function runId(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
}

/** Runs the CLI on `argv`; resolves to the exit code (0 ok, 1 failure, 2 usage error). */
export async function run(argv: readonly string[], io: Io = defaultIo): Promise<number> {
  let options: Options;
  let given: Set<keyof Options>;
  try {
    ({ options, given } = parseArgs(argv));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.stderr.write(`mnist-bn: ${e.message}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  try {
    return await experiment(options, given, argv, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`mnist-bn: ${e.message}\n\n${USAGE}`);
      return 2;
    }
    io.stderr.write(`mnist-bn: ${(e as Error).stack ?? String(e)}\n`);
    return 1;
  }
}

async function experiment(cli: Options, given: Set<keyof Options>, argv: readonly string[], io: Io): Promise<number> {
  let options = cli;
  let dir: string;
  let previousRows: MetricsRow[] = [];
  let command = ['pnpm example mnist-bn', ...argv].join(' ');
  if (cli.resume) {
    dir = resolve(cli.resume);
    const configPath = join(dir, 'config.json');
    if (!existsSync(configPath)) throw new UsageError(`--resume ${cli.resume}: no config.json there (not a mnist-bn run directory)`);
    const fixed = [...given].filter((k) => !RESUMABLE.has(k) && k !== 'out');
    if (fixed.length > 0) throw new UsageError(`--resume keeps the run's settings; these flags cannot change: ${fixed.map(flagName).join(', ')}`);
    if (given.has('out') && resolve(cli.out!) !== dir) throw new UsageError('--out and --resume name different directories');
    const saved = JSON.parse(readFileSync(configPath, 'utf8')) as { command?: string; options: Options };
    command = saved.command ?? command;
    options = { ...saved.options, resume: cli.resume, out: dir };
    for (const k of RESUMABLE) if (given.has(k)) (options as unknown as Record<string, unknown>)[k] = cli[k];
    const metricsPath = join(dir, 'metrics.json');
    if (existsSync(metricsPath)) previousRows = (JSON.parse(readFileSync(metricsPath, 'utf8')) as { rows: MetricsRow[] }).rows;
  } else {
    dir = resolve(cli.out ?? join(REPO_ROOT, 'runs', 'mnist-bn', runId()));
  }
  if (options.device === 'gpu' && !registeredDevices().includes('gpu')) {
    io.stderr.write(`mnist-bn: ${GPU_UNAVAILABLE}\n`);
    return 1;
  }
  mkdirSync(dir, { recursive: true });
  const progressMode = options.progress === 'auto' ? (io.stdout.isTTY ? 'bar' : 'plain') : options.progress;
  const say = (s: string): void => {
    if (progressMode !== 'none') io.stdout.write(`${s}\n`);
  };
  const config = {
    command,
    options: { ...options, out: dir, help: undefined },
    model: '784-100-100-100-10, sigmoid; BN variants: Linear(bias=false) -> BatchNorm1d -> sigmoid',
    optimizer: 'SGD (no momentum, no weight decay)',
    loss: 'softmax cross-entropy',
    data: 'MNIST via @normlab/data (pixels in [0, 1], not standardized)',
    created: new Date().toISOString(),
  };
  writeFileSync(join(dir, 'config.json'), `${JSON.stringify(config, null, 1)}\n`);

  say(`mnist-bn: ${options.variants.join(', ')} for ${options.steps} steps each (batch ${options.batchSize}, lr ${options.lr}, init std ${options.initStd}, seed ${options.seed})`);
  say(`run directory: ${dir}`);
  const data = loadData(options);
  say(`data: ${data.train.length} training images, ${data.testX.shape[0]} test images`);

  const rows: MetricsRow[] = [];
  const summaries: VariantSummary[] = [];
  const ctx = { options, dir, out: io.stdout, progressMode, previousRows, onRows: () => writeMetrics(dir, config, rows, null) } as const;
  for (const variant of options.variants) summaries.push(await trainVariant(ctx, data, variant as Variant, rows));
  writeMetrics(dir, config, rows, summaries);

  const subtitle = `batch ${options.batchSize}, SGD lr ${options.lr}, N(0, ${options.initStd}²) init, seed ${options.seed}, test accuracy on ${data.testX.shape[0]} images`;
  const fig1a = figure1a(rows, options.variants, subtitle);
  const fig1bc = figure1bc(rows, options.variants, options.unit, `sigmoid ${options.unit} of the last hidden layer, over the first ${Math.min(options.percentileImages, data.testX.shape[0])} test images, eval mode`);
  writeFileSync(join(dir, 'figure1a.svg'), fig1a);
  writeFileSync(join(dir, 'figure1bc.svg'), fig1bc);
  writePng(join(dir, 'figure1a.png'), fig1a);
  writePng(join(dir, 'figure1bc.png'), fig1bc);

  if (progressMode !== 'none') io.stdout.write(`\n${summaryTable(summaries)}\n\n${pathsWritten(dir)}\n`);
  return 0;
}

function flagName(k: keyof Options): string {
  return `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

export function summaryTable(summaries: readonly VariantSummary[]): string {
  const header = ['variant', 'steps', 'final test acc', 'best test acc (step)', 'steps/s', 'wall time'];
  const body = summaries.map((s) => [
    s.variant, String(s.steps), `${(s.finalAccuracy * 100).toFixed(2)}%`, `${(s.bestAccuracy * 100).toFixed(2)}% (${s.bestStep})`,
    s.stepsPerSecond.toFixed(0), formatDuration(s.wallSeconds),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

function pathsWritten(dir: string): string {
  const rel = relative(process.cwd(), dir) || '.';
  const shown = rel.startsWith('..') ? dir : rel;
  const files = ['config.json', 'metrics.csv', 'metrics.json', 'figure1a.svg', 'figure1a.png', 'figure1bc.svg', 'figure1bc.png', 'checkpoints/'];
  return [`written to ${dir}:`, ...files.map((f) => `  ${join(shown, f)}`)].join('\n');
}

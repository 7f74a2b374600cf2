/**
 * `pnpm example mnist-bn`: the command line around the experiment. `run`
 * returns the exit code instead of exiting, so tests can call it in-process.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  type DeviceInfo, DeviceUnavailableError, type Io, REPO_ROOT, defaultIo, describeDevice, flagName, formatDuration, formatMemory, formatTable,
  pathsWritten, resolveProgressMode, runCli, runId, useDevice, writeFigure,
} from '@normlab/example-kit';
import { type Options, USAGE, UsageError, type Variant, parseArgs } from './args.js';
import { figure1a, figure1bc } from './figures.js';
import { type MetricsRow, type VariantSummary, loadData, trainVariant, writeMetrics } from './train.js';

export { type Io, REPO_ROOT };

/**
 * Flags that may differ from the saved config when resuming. The device may:
 * checkpoints hold host copies of every tensor, so a run saved on one device
 * continues on the other.
 */
const RESUMABLE: ReadonlySet<keyof Options> = new Set(['steps', 'evalEvery', 'checkpointEvery', 'progress', 'resume', 'device']);

/** Runs the CLI on `argv`; resolves to the exit code (0 ok, 1 failure, 2 usage error). */
export async function run(argv: readonly string[], io: Io = defaultIo): Promise<number> {
  return runCli({ name: 'mnist-bn', usage: USAGE, parse: parseArgs }, argv, io, (options, given) => experiment(options, given, argv, io));
}

async function experiment(cli: Options, given: Set<keyof Options>, argv: readonly string[], io: Io): Promise<number> {
  let options = cli;
  let dir: string;
  let previousRows: MetricsRow[] = [];
  let command = ['pnpm example mnist-bn', ...argv].join(' ');
  /** The devices the run has trained on, in order (a resumed run may change --device). */
  let deviceHistory: string[] = [];
  if (cli.resume) {
    dir = resolve(cli.resume);
    const configPath = join(dir, 'config.json');
    if (!existsSync(configPath)) throw new UsageError(`--resume ${cli.resume}: no config.json there (not a mnist-bn run directory)`);
    const fixed = [...given].filter((k) => !RESUMABLE.has(k) && k !== 'out');
    if (fixed.length > 0) throw new UsageError(`--resume keeps the run's settings; these flags cannot change: ${fixed.map(flagName).join(', ')}`);
    if (given.has('out') && resolve(cli.out!) !== dir) throw new UsageError('--out and --resume name different directories');
    const saved = JSON.parse(readFileSync(configPath, 'utf8')) as { command?: string; options: Options; deviceHistory?: string[]; device?: DeviceInfo };
    command = saved.command ?? command;
    deviceHistory = saved.deviceHistory ?? [saved.device?.name ?? saved.options.device];
    options = { ...saved.options, resume: cli.resume, out: dir };
    for (const k of RESUMABLE) if (given.has(k)) (options as unknown as Record<string, unknown>)[k] = cli[k];
    const metricsPath = join(dir, 'metrics.json');
    if (existsSync(metricsPath)) previousRows = (JSON.parse(readFileSync(metricsPath, 'utf8')) as { rows: MetricsRow[] }).rows;
  } else {
    dir = resolve(cli.out ?? join(REPO_ROOT, 'runs', 'mnist-bn', runId()));
  }
  let device: DeviceInfo;
  try {
    device = useDevice(options.device);
  } catch (e) {
    if (!(e instanceof DeviceUnavailableError)) throw e;
    io.stderr.write(`mnist-bn: ${e.message}\n`);
    return 1;
  }
  mkdirSync(dir, { recursive: true });
  const progressMode = resolveProgressMode(options.progress, io.stdout);
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
    device,
    deviceHistory: deviceHistory.at(-1) === device.name ? deviceHistory : [...deviceHistory, device.name],
    created: new Date().toISOString(),
  };
  writeFileSync(join(dir, 'config.json'), `${JSON.stringify(config, null, 1)}\n`);

  say(`mnist-bn: ${options.variants.join(', ')} for ${options.steps} steps each (batch ${options.batchSize}, lr ${options.lr}, init std ${options.initStd}, seed ${options.seed})`);
  say(`run directory: ${dir}`);
  say(describeDevice(device));
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
  writeFigure(dir, 'figure1a', fig1a);
  writeFigure(dir, 'figure1bc', fig1bc);

  const files = ['config.json', 'metrics.csv', 'metrics.json', 'figure1a.svg', 'figure1a.png', 'figure1bc.svg', 'figure1bc.png', 'checkpoints/'];
  const memoryNote = options.device === 'gpu' ? '\ndevice buffers: live gpu.memory() buffers after the first -> the last training step of this invocation (range), bytes after the last\n' : '';
  if (progressMode !== 'none') io.stdout.write(`\n${summaryTable(summaries, device)}\n${memoryNote}\n${pathsWritten(dir, files)}\n`);
  return 0;
}

/** The final table; on the gpu the steps/s are the device's (its name in the header) and a column gives the device buffers. */
export function summaryTable(summaries: readonly VariantSummary[], device?: DeviceInfo): string {
  const gpu = device?.device === 'gpu';
  const header = ['variant', 'steps', 'final test acc', 'best test acc (step)', gpu ? `steps/s (${device.name})` : 'steps/s', 'wall time'];
  if (gpu) header.push('device buffers');
  const body = summaries.map((s) => {
    const row = [
      s.variant, String(s.steps), `${(s.finalAccuracy * 100).toFixed(2)}%`, `${(s.bestAccuracy * 100).toFixed(2)}% (${s.bestStep})`,
      s.stepsPerSecond >= 10 ? s.stepsPerSecond.toFixed(0) : s.stepsPerSecond.toFixed(2), formatDuration(s.wallSeconds),
    ];
    if (gpu) row.push(formatMemory(s.deviceMemory));
    return row;
  });
  return formatTable(header, body);
}

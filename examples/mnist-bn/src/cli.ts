/**
 * `pnpm example mnist-bn`: the command line around the experiment. `run`
 * returns the exit code instead of exiting, so tests can call it in-process.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type DeviceInfo, DeviceUnavailableError, type Io, REPO_ROOT, defaultIo, describeDevice, formatDuration, formatMemory, formatTable,
  openRunToResume, pathsWritten, resolveProgressMode, runCli, runId, useDevice, writeFigure,
} from '@normlab/example-kit';
import { RunDir, RunError, codeVersion, watchInterrupt } from '@normlab/lab';
import { type Options, USAGE, type Variant, parseArgs } from './args.js';
import { checkpointPattern } from './checkpoint.js';
import { figure1a, figure1bc } from './figures.js';
import { Interrupted, type MetricsRow, type VariantSummary, loadData, materializeRows, trainVariant, writeMetrics } from './train.js';

export { type Io, REPO_ROOT };

/**
 * Flags that may differ from the saved config when resuming. The device may:
 * checkpoints hold host copies of every tensor, so a run saved on one device
 * continues on the other.
 */
const RESUMABLE: ReadonlySet<keyof Options> = new Set(['steps', 'evalEvery', 'checkpointEvery', 'progress', 'resume', 'device', 'startOver', 'debug']);

/** Runs the CLI on `argv`; resolves to the exit code (0 ok, 1 failure, 2 usage error, 130 after Ctrl-C). */
export async function run(argv: readonly string[], io: Io = defaultIo): Promise<number> {
  return runCli({ name: 'mnist-bn', usage: USAGE, parse: parseArgs }, argv, io, (options, given) => experiment(options, given, argv, io));
}

interface SavedConfig {
  command?: string;
  options: Options;
  deviceHistory?: string[];
  device?: DeviceInfo;
}

/** The run to continue and what it was made with; a RunError when --steps asks for less than it has done. */
function openForResume(cli: Options, given: Set<keyof Options>): { run: RunDir; saved: SavedConfig; previousRows: MetricsRow[]; torn: string | null } {
  const { run, saved } = openRunToResume(cli, given, {
    resumable: RESUMABLE,
    isConfig: (c): c is SavedConfig => typeof c === 'object' && c !== null && Array.isArray((c as Partial<SavedConfig>).options?.variants),
    what: 'a mnist-bn config (no options.variants)',
  });
  const steps = given.has('steps') ? cli.steps : saved.options.steps;
  for (const variant of saved.options.variants) {
    const newest = run.checkpoints.list(checkpointPattern(variant))[0];
    if (newest && newest.step > steps) {
      throw new RunError(`--resume: ${variant} is at step ${newest.step} (${newest.path}), past --steps ${steps}; give --steps ${newest.step} or more`);
    }
  }
  const read = run.metrics.read<MetricsRow & Record<string, unknown>>();
  let previousRows: MetricsRow[] = read.records;
  // Runs written before the metrics log kept their rows in metrics.json only.
  const legacy = join(run.dir, 'metrics.json');
  if (previousRows.length === 0 && !existsSync(run.metrics.path) && existsSync(legacy)) {
    try {
      previousRows = (JSON.parse(readFileSync(legacy, 'utf8')) as { rows: MetricsRow[] }).rows;
    } catch (e) {
      throw new RunError(`${legacy}: damaged, not valid JSON (${(e as Error).message})`);
    }
  }
  return { run, saved, previousRows, torn: read.torn };
}

async function experiment(cli: Options, given: Set<keyof Options>, argv: readonly string[], io: Io): Promise<number> {
  let options = cli;
  let previousRows: MetricsRow[] = [];
  let command = ['pnpm example mnist-bn', ...argv].join(' ');
  /** The devices the run has trained on, in order (a resumed run may change --device). */
  let deviceHistory: string[] = [];
  let resumed: ReturnType<typeof openForResume> | null = null;
  if (cli.resume) {
    resumed = openForResume(cli, given);
    const { saved } = resumed;
    command = saved.command ?? command;
    deviceHistory = saved.deviceHistory ?? [saved.device?.name ?? saved.options.device];
    options = { ...saved.options, resume: cli.resume, out: resumed.run.dir, force: false };
    for (const k of RESUMABLE) if (given.has(k)) (options as unknown as Record<string, unknown>)[k] = cli[k];
    previousRows = resumed.previousRows;
  }
  let device: DeviceInfo;
  try {
    device = useDevice(options.device);
  } catch (e) {
    if (!(e instanceof DeviceUnavailableError)) throw e;
    throw new RunError(e.message);
  }
  const progressMode = resolveProgressMode(options.progress, io.stdout);
  const say = (s: string): void => {
    if (progressMode !== 'none') io.stdout.write(`${s}\n`);
  };
  const run = resumed?.run ?? RunDir.create(cli.out ?? join(REPO_ROOT, 'runs', 'mnist-bn', runId()), { force: cli.force });
  const dir = run.dir;
  if (run.movedAside) say(`mnist-bn: the run that was in ${dir} is now in ${run.movedAside}`);
  if (resumed?.torn) say(`mnist-bn: ${resumed.torn}`);
  const config = {
    command,
    options: { ...options, out: dir, help: undefined },
    model: '784-100-100-100-10, sigmoid; BN variants: Linear(bias=false) -> BatchNorm1d -> sigmoid',
    optimizer: 'SGD (no momentum, no weight decay)',
    loss: 'softmax cross-entropy',
    data: 'MNIST via @normlab/data (pixels in [0, 1], not standardized)',
    device,
    deviceHistory: deviceHistory.at(-1) === device.name ? deviceHistory : [...deviceHistory, device.name],
    code: codeVersion(REPO_ROOT),
    created: new Date().toISOString(),
  };
  const interrupt = watchInterrupt();
  const rows: MetricsRow[] = [];
  const summaries: VariantSummary[] = [];
  const allRows = (): MetricsRow[] => materializeRows([...previousRows, ...rows], options.variants);
  let testImages = 0;
  try {
    run.writeConfig(config);
    run.setStatus('running');
    say(`mnist-bn: ${options.variants.join(', ')} for ${options.steps} steps each (batch ${options.batchSize}, lr ${options.lr}, init std ${options.initStd}, seed ${options.seed})`);
    say(`run directory: ${dir}`);
    say(describeDevice(device));
    const data = loadData(options);
    testImages = data.testX.shape[0];
    say(`data: ${data.train.length} training images, ${testImages} test images`);
    const ctx = { options, run, out: io.stdout, progressMode, previousRows, record: (row: MetricsRow) => run.metrics.append({ ...row }), interrupt } as const;
    for (const variant of options.variants) summaries.push(await trainVariant(ctx, data, variant as Variant, rows));
  } catch (e) {
    if (e instanceof Interrupted) {
      writeMetrics(run, config, allRows(), null);
      run.setStatus('interrupted', { message: e.message, checkpoint: e.checkpoint });
      io.stderr.write(`mnist-bn: interrupted; ${e.variant} saved at step ${e.step} in ${e.checkpoint}\ncontinue with: pnpm example mnist-bn --resume ${dir}\n`);
      return interrupt.exitCode;
    }
    if (!run.discardIfUnused()) {
      if (rows.length > 0 || previousRows.length > 0) writeMetrics(run, config, allRows(), null);
      run.setStatus('failed', { message: (e as Error).message });
    }
    throw e;
  } finally {
    interrupt.dispose();
  }
  const finalRows = allRows();
  writeMetrics(run, config, finalRows, summaries);

  const subtitle = `batch ${options.batchSize}, SGD lr ${options.lr}, N(0, ${options.initStd}²) init, seed ${options.seed}, test accuracy on ${testImages} images`;
  const fig1a = figure1a(finalRows, options.variants, subtitle);
  const fig1bc = figure1bc(finalRows, options.variants, options.unit, `sigmoid ${options.unit} of the last hidden layer, over the first ${Math.min(options.percentileImages, testImages)} test images, eval mode`);
  writeFigure(dir, 'figure1a', fig1a);
  writeFigure(dir, 'figure1bc', fig1bc);
  run.setStatus('done');

  const files = ['config.json', 'status.json', 'metrics.jsonl', 'metrics.csv', 'metrics.json', 'figure1a.svg', 'figure1a.png', 'figure1bc.svg', 'figure1bc.png', 'checkpoints/'];
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

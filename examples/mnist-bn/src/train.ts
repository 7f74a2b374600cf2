/**
 * The experiment: trains each variant in turn on MNIST with SGD, evaluating
 * every `evalEvery` steps (test accuracy with the running statistics, and
 * the 15/50/85th percentiles of one last-layer sigmoid input over a fixed
 * set of test images), checkpointing every `checkpointEvery` steps.
 *
 * On `--device gpu` the model, each mini-batch (uploaded inside its step)
 * and the test set (once, in chunks of at most 2^24 elements) are on the
 * device; every training step and every evaluation chunk runs in a `tidy`
 * scope, so the live device buffers stay flat (traced per step).
 */
import { Generator, type Tensor, noGrad } from '@normlab/autograd';
import { DataLoader, type TensorDataset, loadMnist } from '@normlab/data';
import { percentile } from '@normlab/landscape';
import { type Interrupt, RunDir, RunError } from '@normlab/lab';
import { crossEntropy, optim } from '@normlab/nn';
import { tidy } from '@normlab/tensor';
import type { Options, Variant } from './args.js';
import { type TrainingState, checkpointName, checkpointPattern, loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { ActivationRecorder, buildNet } from './model.js';
import {
  type DataChunk, type MemorySummary, MemoryTrace, Progress, type Writer, batchTo, disposeModule, moveModule, toDeviceChunks,
} from '@normlab/example-kit';

export interface MetricsRow {
  variant: Variant;
  step: number;
  epoch: number;
  /** Mean training loss since the previous evaluation on the eval-every grid (null at step 0). */
  trainLoss: number | null;
  testLoss: number;
  testAccuracy: number;
  p15: number;
  p50: number;
  p85: number;
  trainSeconds: number;
  wallSeconds: number;
}

export const CSV_COLUMNS = [
  'variant', 'step', 'epoch', 'train_loss', 'test_loss', 'test_accuracy',
  'sigmoid_input_p15', 'sigmoid_input_p50', 'sigmoid_input_p85', 'train_seconds', 'wall_seconds',
] as const;

export interface VariantSummary {
  variant: Variant;
  steps: number;
  finalAccuracy: number;
  bestAccuracy: number;
  bestStep: number;
  stepsPerSecond: number;
  wallSeconds: number;
  /** The step this invocation resumed from (null: trained from scratch or already complete). */
  resumedFrom: number | null;
  /** The live device buffers after each training step of this invocation (null on the CPU backend). */
  deviceMemory: MemorySummary | null;
}

export interface RunContext {
  options: Options;
  run: RunDir;
  out: Writer;
  progressMode: 'bar' | 'plain' | 'none';
  /** Rows of earlier invocations (when resuming), from the run's metrics log. */
  previousRows: MetricsRow[];
  /** Called with each new row (appended to the metrics log). */
  record: (row: MetricsRow) => void;
  /** Ctrl-C: checked after every step. */
  interrupt: Interrupt;
}

/** Thrown by `trainVariant` after Ctrl-C, once the checkpoint of the step it finished is saved. */
export class Interrupted extends Error {
  override name = 'Interrupted';
  constructor(readonly variant: Variant, readonly step: number, readonly checkpoint: string) {
    super(`${variant} interrupted at step ${step}; checkpoint ${checkpoint}`);
  }
}

export interface Data {
  /** The training images on the host: each mini-batch moves to the device inside its step. */
  train: TensorDataset;
  /** The test images and labels on the host. */
  testX: Tensor;
  testY: Tensor;
  /** The test set in chunks of `EVAL_CHUNK` rows, on the run's device (moved once). */
  test: DataChunk[];
}

/** Rows per evaluation chunk (2000 x 784 float32: 6.3 MB, far below gpu.js's 2^24 elements per array). */
export const EVAL_CHUNK = 2000;

export function loadData(options: Options): Data {
  const train = loadMnist({ split: 'train', limit: options.trainLimit || undefined });
  const test = loadMnist({ split: 'test', limit: options.testLimit || undefined });
  const [testX, testY] = test.tensors;
  return { train, testX, testY, test: toDeviceChunks(testX, testY, options.device, EVAL_CHUNK) };
}

export function toCsv(rows: readonly MetricsRow[]): string {
  const num = (v: number | null, digits: number): string => (v === null || !Number.isFinite(v) ? '' : v.toFixed(digits));
  const lines = rows.map((r) => [
    r.variant, r.step, r.epoch, num(r.trainLoss, 6), num(r.testLoss, 6), num(r.testAccuracy, 6),
    num(r.p15, 6), num(r.p50, 6), num(r.p85, 6), num(r.trainSeconds, 3), num(r.wallSeconds, 3),
  ].join(','));
  return `${CSV_COLUMNS.join(',')}\n${lines.join('\n')}\n`;
}

/**
 * Trains one variant (when resuming, from its newest checkpoint that loads,
 * naming the ones skipped); returns its summary. Ctrl-C: the step under way
 * finishes, its checkpoint is saved, and `Interrupted` is thrown.
 */
export async function trainVariant(ctx: RunContext, data: Data, variant: Variant, allRows: MetricsRow[]): Promise<VariantSummary> {
  const o = ctx.options;
  const build = (): { net: ReturnType<typeof buildNet>; optimizer: optim.SGD } => {
    const built = buildNet(variant, { seed: o.seed, initStd: o.initStd });
    moveModule(built.model, o.device);
    return { net: built, optimizer: new optim.SGD(built.model.parameters(), { lr: o.lr }) };
  };
  let { net, optimizer } = build();
  const memory = new MemoryTrace(o.device);
  const dataGenerator = new Generator(o.seed);
  const loader = new DataLoader(data.train, { batchSize: o.batchSize, shuffle: true, dropLast: true, generator: dataGenerator });
  const store = ctx.run.checkpoints;

  let state: TrainingState = {
    variant, step: 0, epoch: 0, batchInEpoch: 0, epochStartRng: dataGenerator.getState(),
    noiseRng: net.noiseGenerator ? net.noiseGenerator.getState() : null, lossSum: 0, lossCount: 0, trainSeconds: 0, wallSeconds: 0,
  };
  let resumedFrom: number | null = null;
  const rows = allRows;
  let latest: { path: string; step: number } | null = null;
  if (o.resume) {
    // In a scope, as moveModule: the loaded arrays are held by the model, freed when the first step replaces them.
    const found = store.newestValid(checkpointPattern(variant), (path) => tidy(() => loadCheckpoint(path, net.model, optimizer)));
    for (const s of found.skipped) ctx.out.write(`mnist-bn: ${variant}: skipping a checkpoint that does not load: ${s.reason}\n`);
    const started = ctx.previousRows.some((r) => r.variant === variant);
    if (found.loaded) {
      latest = found.loaded;
      state = found.loaded.value;
      if (net.noiseGenerator && state.noiseRng) net.noiseGenerator.setState(state.noiseRng);
      // Keep the rows of this variant up to the checkpoint; later ones are recomputed.
      for (const r of ctx.previousRows) if (r.variant === variant && r.step <= state.step) rows.push(r);
      resumedFrom = state.step;
    } else if (started && !o.startOver) {
      const why = found.skipped.length > 0 ? `none of its ${found.skipped.length} checkpoints loads` : `it has no checkpoint in ${store.dir}`;
      throw new RunError(`--resume: ${variant} has trained (metrics.jsonl has its rows) but ${why}; --start-over trains it again from step 0`);
    } else if (found.skipped.length > 0) {
      // A checkpoint that failed half-way may have written into the model: start from a fresh one.
      ({ net, optimizer } = build());
    }
  }
  const model = net.model;
  const recorder = new ActivationRecorder(net.tracked);
  dataGenerator.setState(state.epochStartRng);
  let epochIterator = loader[Symbol.iterator]();
  for (let b = 0; b < state.batchInEpoch; b++) epochIterator.next();

  const progress = new Progress(ctx.out, ctx.progressMode, variant, o.steps);
  if (latest) progress.message(`${variant}: resumed from ${latest.path} at step ${state.step}`);
  const started = performance.now() / 1000 - state.wallSeconds;
  const wall = (): number => performance.now() / 1000 - started;
  const resumedTrain = state.trainSeconds;
  // Steps per second of this invocation's training steps (evaluations excluded).
  const sps = (): number => (state.trainSeconds > resumedTrain ? (state.step - (resumedFrom ?? 0)) / (state.trainSeconds - resumedTrain) : 0);

  const evaluate = (): void => {
    model.eval();
    recorder.start(o.unit, o.percentileImages);
    let lossSum = 0;
    let correct = 0;
    noGrad(() => {
      for (const chunk of data.test) {
        // Each chunk's activations are freed at the end of its scope (on the device: at once).
        const [l, c] = tidy(() => {
          const logits = model.forward(chunk.x) as Tensor;
          return [crossEntropy(logits, chunk.y, { reduction: 'sum' }).item(), logits.argmax(1).eq(chunk.y).float().sum().item()];
        });
        lossSum += l;
        correct += c;
      }
    });
    const n = data.testX.shape[0];
    const loss = lossSum / n;
    const accuracy = correct / n;
    const [p15, p50, p85] = percentile(recorder.stop(), [15, 50, 85]);
    model.train();
    const row: MetricsRow = {
      variant, step: state.step, epoch: state.epoch, trainLoss: state.lossCount > 0 ? state.lossSum / state.lossCount : null,
      testLoss: loss, testAccuracy: accuracy, p15, p50, p85, trainSeconds: state.trainSeconds, wallSeconds: wall(),
    };
    // The loss window restarts on the --eval-every grid only, so that an extra
    // evaluation (at the end of a run later resumed) changes no later row.
    if (state.step % o.evalEvery === 0) {
      state.lossSum = 0;
      state.lossCount = 0;
    }
    rows.push(row);
    ctx.record(row);
    progress.evaluated({ step: state.step, loss: row.trainLoss, accuracy, stepsPerSecond: sps() });
  };
  let lastSaved: string | null = null;
  const checkpoint = async (): Promise<void> => {
    state.wallSeconds = wall();
    if (net.noiseGenerator) state.noiseRng = net.noiseGenerator.getState();
    lastSaved = await store.save(checkpointName(variant, state.step), (path) => saveCheckpoint(path, model, optimizer, state));
  };

  if (!latest) evaluate();
  let lastAccuracy = rows.filter((r) => r.variant === variant).at(-1)?.testAccuracy ?? null;
  let shownLoss: number | null = null;
  model.train();
  while (state.step < o.steps) {
    const t0 = performance.now();
    let next = epochIterator.next();
    if (next.done) {
      state.epoch++;
      state.batchInEpoch = 0;
      state.epochStartRng = dataGenerator.getState();
      epochIterator = loader[Symbol.iterator]();
      next = epochIterator.next();
    }
    state.batchInEpoch++;
    const [x, y] = next.value as Tensor[];
    // One scope per step: the uploaded batch, the activations and the intermediate
    // gradients are freed at its end; parameters, gradients and BN buffers stay.
    const lossValue = tidy(() => {
      const [xb, yb] = batchTo(o.device, x, y);
      const loss = crossEntropy(model.forward(xb) as Tensor, yb);
      optimizer.zeroGrad();
      loss.backward();
      optimizer.step();
      return loss.item();
    });
    memory.sample();
    if (!Number.isFinite(lossValue)) throw new RunError(`${variant}: the training loss is ${lossValue} at step ${state.step + 1}; try a smaller --lr`);
    state.step++;
    state.lossSum += lossValue;
    state.lossCount++;
    state.trainSeconds += (performance.now() - t0) / 1000;
    if (state.step % o.evalEvery === 0 || state.step === o.steps) {
      evaluate();
      lastAccuracy = rows.at(-1)!.testAccuracy;
    }
    // Signals are delivered through the event loop: one turn of it per step (microseconds) lets Ctrl-C in.
    await new Promise((resolve) => setImmediate(resolve));
    const due = (o.checkpointEvery > 0 && state.step % o.checkpointEvery === 0) || state.step === o.steps;
    if (due || ctx.interrupt.requested) await checkpoint();
    if (ctx.interrupt.requested) {
      progress.finish({ step: state.step, loss: shownLoss, accuracy: lastAccuracy, stepsPerSecond: sps() });
      recorder.remove();
      throw new Interrupted(variant, state.step, lastSaved!);
    }
    // The bar shows a smoothed loss (one batch's is noisy).
    shownLoss = shownLoss === null ? lossValue : 0.95 * shownLoss + 0.05 * lossValue;
    progress.tick({ step: state.step, loss: shownLoss, accuracy: lastAccuracy, stepsPerSecond: sps() });
  }
  if (latest && latest.step >= o.steps && !rows.some((r) => r.variant === variant && r.step === state.step)) evaluate();
  progress.finish({ step: state.step, loss: rows.at(-1)?.trainLoss ?? null, accuracy: lastAccuracy, stepsPerSecond: sps() });
  recorder.remove();
  // Free the device buffers of this variant now rather than whenever the garbage collector runs.
  if (o.device !== 'cpu') disposeModule(model);

  const mine = rows.filter((r) => r.variant === variant);
  const best = mine.reduce((a, b) => (b.testAccuracy > a.testAccuracy ? b : a));
  return {
    variant, steps: state.step, finalAccuracy: mine.at(-1)!.testAccuracy, bestAccuracy: best.testAccuracy, bestStep: best.step,
    stepsPerSecond: state.trainSeconds > 0 ? state.step / state.trainSeconds : 0, wallSeconds: wall(), resumedFrom,
    deviceMemory: memory.summary(),
  };
}

/** Writes metrics.csv and metrics.json (derived from the rows of the metrics log; written atomically). */
export function writeMetrics(run: RunDir, config: unknown, rows: readonly MetricsRow[], summary: readonly VariantSummary[] | null): void {
  run.write('metrics.csv', toCsv(rows));
  run.write('metrics.json', `${JSON.stringify({ config, rows, summary }, null, 1)}\n`);
}

/**
 * The rows of a metrics log in the order of `variants`, then by step; of two
 * records of one variant and step (a resumed run recomputes the evaluations
 * after its checkpoint) the later one counts.
 */
export function materializeRows(records: readonly MetricsRow[], variants: readonly string[]): MetricsRow[] {
  const byKey = new Map<string, MetricsRow>();
  for (const r of records) byKey.set(`${r.variant}\u0000${r.step}`, r);
  const order = (v: string): number => (variants.includes(v) ? variants.indexOf(v) : variants.length);
  return [...byKey.values()].sort((a, b) => order(a.variant) - order(b.variant) || a.step - b.step);
}

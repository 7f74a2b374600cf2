/**
 * The experiment: each variant trained in turn with SGD on the same batches,
 * the test accuracy every few steps, and the percentiles of one layer's
 * pre-activations on the training batch (noise included for noisy BN).
 */
import { type MnistTensors, buildMnistNet, evaluate, noiseLayerOptions, trainSgd } from '@normlab/example-kit';
import { activationStats } from '@normlab/landscape';
import type { Options, Variant } from './args.js';

export const PERCENTILES = [5, 15, 50, 85, 95] as const;

export interface EvalRow {
  variant: Variant;
  step: number;
  /** Mean training loss since the previous evaluation (null at step 0). */
  trainLoss: number | null;
  testLoss: number;
  testAccuracy: number;
}

export interface StatsRow {
  variant: Variant;
  step: number;
  mean: number;
  variance: number;
  /** At PERCENTILES. */
  percentiles: number[];
}

export interface RunResult {
  variant: Variant;
  describe: string;
  losses: number[];
  evals: EvalRow[];
  stats: StatsRow[];
  divergedAt: number | null;
  trainSeconds: number;
  seconds: number;
}

/** One variant's training; `between` is awaited after every step (the CLI's turn of the event loop, where Ctrl-C stops the run). */
export async function trainVariant(
  variant: Variant, o: Options, data: MnistTensors, onEval?: (row: EvalRow, stepsPerSecond: number) => void, onStep?: (step: number, loss: number) => void,
  between?: (step: number) => Promise<void>,
): Promise<RunResult> {
  const started = performance.now();
  const net = buildMnistNet(o.model, variant, {
    seed: o.seed, width: o.width || undefined,
    noise: noiseLayerOptions(o),
  });
  const tracked = net.preActivations[o.layer - 1];
  const rec = activationStats(net.model, { [`block ${o.layer}`]: tracked }, { percentiles: PERCENTILES, on: 'output', channel: o.unit });
  const losses: number[] = [];
  const evals: EvalRow[] = [];
  const stats: StatsRow[] = [];
  let evalTime = 0;
  let windowSum = 0;
  let windowCount = 0;
  const evalAt = (step: number): void => {
    const t = performance.now();
    const e = evaluate(net.model, data.testX, data.testY);
    evalTime += performance.now() - t;
    const row: EvalRow = { variant, step, trainLoss: windowCount ? windowSum / windowCount : null, testLoss: e.loss, testAccuracy: e.accuracy };
    windowSum = 0;
    windowCount = 0;
    evals.push(row);
    onEval?.(row, step / Math.max(1e-9, (performance.now() - started - evalTime) / 1000));
  };
  evalAt(0);
  const { divergedAt } = await trainSgd(net.model, data.trainX, data.trainY, { steps: o.steps, batchSize: o.batchSize, lr: o.lr, seed: o.seed + 7 }, {
    between,
    after(step, loss) {
      losses.push(loss);
      windowSum += loss;
      windowCount++;
      // The forward of this step ran on the weights after `step` updates.
      if (step % o.statsEvery === 0 || step === o.steps - 1) {
        for (const r of rec.record(step)) stats.push({ variant, step, mean: r.mean, variance: r.variance, percentiles: r.percentiles });
      }
      if (Number.isFinite(loss) && ((step + 1) % o.evalEvery === 0 || step + 1 === o.steps)) evalAt(step + 1);
      onStep?.(step + 1, loss);
    },
  });
  rec.remove();
  const seconds = (performance.now() - started) / 1000;
  return { variant, describe: net.describe, losses, evals, stats, divergedAt, trainSeconds: seconds - evalTime / 1000, seconds };
}

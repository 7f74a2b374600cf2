/**
 * The experiment: each (variant, learning rate) run of a VGG trained in
 * turn with SGD on the same batches from the same initial weights, the
 * training and test accuracy every few steps, and the percentiles of a few
 * convs' pre-activations on the training batch (noise included for noisy BN).
 */
import { Generator, type Tensor, noGrad } from '@normlab/autograd';
import { type NoiseFlagOptions, evaluate, noiseLayerOptions, trainSgd } from '@normlab/example-kit';
import { activationStats } from '@normlab/landscape';
import { type VGG, vgg } from '@normlab/models';
import { Conv2d, Linear, type Module, NoisyBatchNorm2d, init } from '@normlab/nn';
import type { Options, Variant } from './args.js';
import type { ImageData } from './data.js';

export const PERCENTILES = [5, 15, 50, 85, 95] as const;

export interface EvalRow {
  variant: Variant;
  lr: number;
  seed: number;
  step: number;
  /** Mean training loss and accuracy (on the training batches, train mode) since the previous evaluation (null at step 0). */
  trainLoss: number | null;
  trainAccuracy: number | null;
  testLoss: number;
  testAccuracy: number;
}

export interface StatsRow {
  variant: Variant;
  lr: number;
  seed: number;
  /** The conv (1-based) whose pre-activation this is. */
  layer: number;
  step: number;
  mean: number;
  variance: number;
  /** At PERCENTILES. */
  percentiles: number[];
}

export interface RunResult {
  variant: Variant;
  lr: number;
  seed: number;
  describe: string;
  losses: number[];
  evals: EvalRow[];
  stats: StatsRow[];
  divergedAt: number | null;
  trainSeconds: number;
  seconds: number;
}

/** Items of each (variant, learning rate), one per seed, in the order of their first item. */
export function byVariantAndRate<T extends { variant: Variant; lr: number }>(items: readonly T[]): T[][] {
  const groups = new Map<string, T[]>();
  for (const x of items) {
    const key = `${x.variant}@${x.lr}`;
    groups.set(key, [...(groups.get(key) ?? []), x]);
  }
  return [...groups.values()];
}

export interface VggNet {
  model: VGG;
  /** Each conv's pre-activation producer (its norm layer; the Identity that stands for it in 'standard'), in forward order. */
  preActivations: Module[];
  describe: string;
}

/**
 * The VGG of a variant: no norm ('standard'), BatchNorm2d ('bn') or
 * NoisyBatchNorm2d with the noise of the options and its own seeded
 * generator ('noisy-bn') after every conv. Initialized as torchvision's VGG (conv
 * weights He-normal over the fan-out, Linear weights N(0, 0.01^2), biases 0,
 * norm layers at identity), every weight drawn from one generator in the
 * same order, so all variants start from the same convs and head.
 */
export function buildVgg(variant: Variant, o: Pick<Options, 'depth' | 'width' | 'seed' | keyof NoiseFlagOptions>, inputShape: readonly [number, number, number]): VggNet {
  const noise = new Generator(o.seed + 1_000_003);
  const norm = variant === 'standard' ? 'none' as const : variant === 'bn' ? 'bn' as const : { norm: (c: number) => new NoisyBatchNorm2d(c, { ...noiseLayerOptions(o), generator: noise }) };
  const model = vgg(Number(o.depth) as 11 | 13 | 16 | 19, { norm, width: o.width, inputShape });
  const g = new Generator(o.seed);
  for (const m of model.modules()) {
    if (m instanceof Conv2d) init.kaimingNormal(m.weight, { mode: 'fanOut', nonlinearity: 'relu', generator: g });
    else if (m instanceof Linear) init.normal(m.weight, 0, 0.01, g);
    else continue;
    if (m.bias) init.zeros(m.bias);
  }
  const layers = [...model.features.children()];
  const preActivations = layers.flatMap((m, i) => (m instanceof Conv2d ? [layers[i + 1]] : []));
  const what = { standard: 'no normalization', bn: 'BatchNorm2d after every conv', 'noisy-bn': 'NoisyBatchNorm2d after every conv' }[variant];
  return { model, preActivations, describe: `VGG-${o.depth} (CIFAR variant, width x${o.width}, ${model.parameters().reduce((a, p) => a + p.size, 0)} parameters), ${what}` };
}

export interface RunHooks {
  onEval?(row: EvalRow, stepsPerSecond: number): void;
  onStep?(step: number, loss: number): void;
  /** Awaited after every step: the CLI's turn of the event loop, where Ctrl-C stops the run. */
  between?(step: number): Promise<void>;
}

/** One run: `variant` at learning rate `lr` from `seed` (its init, batches, augmentation and noise). */
export async function trainRun(variant: Variant, lr: number, seed: number, o: Options, data: ImageData, hooks: RunHooks = {}): Promise<RunResult> {
  const started = performance.now();
  const net = buildVgg(variant, { ...o, seed }, data.inputShape);
  const tracked = Object.fromEntries(o.layers.map((l) => [String(l), net.preActivations[l - 1]]));
  const rec = activationStats(net.model, tracked, { percentiles: PERCENTILES, on: o.track, channel: o.channel });
  const losses: number[] = [];
  const evals: EvalRow[] = [];
  const stats: StatsRow[] = [];
  let evalTime = 0;
  let window = { loss: 0, correct: 0, seen: 0, steps: 0 };
  let labels: Tensor | null = null;
  const evalAt = (step: number): void => {
    const t = performance.now();
    const e = evaluate(net.model, data.testX, data.testY, 500);
    evalTime += performance.now() - t;
    const row: EvalRow = {
      variant, lr, seed, step, trainLoss: window.steps ? window.loss / window.steps : null, trainAccuracy: window.seen ? window.correct / window.seen : null,
      testLoss: e.loss, testAccuracy: e.accuracy,
    };
    window = { loss: 0, correct: 0, seen: 0, steps: 0 };
    evals.push(row);
    hooks.onEval?.(row, step / Math.max(1e-9, (performance.now() - started - evalTime) / 1000));
  };
  evalAt(0);
  const { divergedAt } = await trainSgd(net.model, data.trainX, data.trainY, {
    steps: o.steps, batchSize: o.batchSize, lr, seed: seed + 7, transform: data.augmentation?.(seed + 2_000_003),
  }, {
    between: hooks.between,
    before(_step, _x, y) {
      labels = y;
    },
    after(step, loss, logits) {
      losses.push(loss);
      window.loss += loss;
      window.steps++;
      window.seen += logits.shape[0];
      window.correct += noGrad(() => logits.argmax(1).eq(labels!).float().sum().item());
      // The forward of this step ran on the weights after `step` updates.
      if (step % o.statsEvery === 0 || step === o.steps - 1) {
        for (const r of rec.record(step)) stats.push({ variant, lr, seed, layer: Number(r.layer), step, mean: r.mean, variance: r.variance, percentiles: r.percentiles });
      }
      if (Number.isFinite(loss) && ((step + 1) % o.evalEvery === 0 || step + 1 === o.steps)) evalAt(step + 1);
      hooks.onStep?.(step + 1, loss);
    },
  });
  rec.remove();
  const seconds = (performance.now() - started) / 1000;
  return { variant, lr, seed, describe: net.describe, losses, evals, stats, divergedAt, trainSeconds: seconds - evalTime / 1000, seconds };
}

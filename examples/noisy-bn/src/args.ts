/** Command-line flags of `pnpm example noisy-bn`: the flag table, validation and the usage text. */
import {
  type Arch, type CommonOptions, type DataOptions, type Flags, type ModelVariant, type NoiseFlagOptions, COMMON_DEFAULTS, ARCHS,
  MODEL_VARIANTS, NOISE_DEFAULTS, UsageError, checkBatch, checkNoise, commonFlags, commonUsage, dataFlags, noiseFlags, noiseUsage, parseFlags,
} from '@normlab/example-kit';

export { UsageError };

export type Variant = ModelVariant;
export const VARIANTS = MODEL_VARIANTS;

export interface Options extends CommonOptions, DataOptions, NoiseFlagOptions {
  model: Arch;
  steps: number;
  lr: number;
  variants: Variant[];
  width: number;
  evalEvery: number;
  statsEvery: number;
  /** The hidden block (1-based) whose pre-activations are tracked. */
  layer: number;
  /** The unit (MLP) or channel (VGG) of that layer whose distribution is tracked. */
  unit: number;
}

/** The default run (MLP): about 2 minutes on a 2-core machine (see the README). */
export const DEFAULTS: Options = {
  model: 'mlp',
  steps: 3_000,
  batchSize: 64,
  lr: 0.1,
  seed: 0,
  variants: ['standard', 'bn', 'noisy-bn'],
  width: 0,
  evalEvery: 200,
  statsEvery: 50,
  layer: 2,
  unit: 0,
  ...NOISE_DEFAULTS,
  trainLimit: 0,
  testLimit: 0,
  ...COMMON_DEFAULTS,
};

/** The hidden blocks of each model (Linear or conv layers followed by [BN] and ReLU). */
export const BLOCKS: Record<Arch, number> = { mlp: 3, vgg: 4 };

export const USAGE = `usage: pnpm example noisy-bn [flags]

Santurkar et al. (2018), section 2.1 and their Figure 2, on MNIST: the same
network trained without BatchNorm ('standard'), with BatchNorm ('bn'), and with
"noisy" BatchNorm ('noisy-bn': NoisyBatchNorm1d/2d, BN followed by random
noise of non-zero mean and non-unit variance that changes every step, a
deliberate internal covariate shift). Records the training loss, the test
accuracy, and the distribution (5/15/50/85/95th percentiles, via
@normlab/landscape's activationStats) of one pre-activation unit over
training: a unit of the BN output (with the noise for noisy-bn), or of the
Linear/conv output without BN.

flags:
  --model mlp|vgg     mlp: 784-100-100-100-10 ReLU (default); vgg: a small VGG-style conv net
                      (conv3x3 x2, maxpool, conv3x3 x2, maxpool, Linear), ~20x slower per step
  --steps N           SGD steps per variant (default ${DEFAULTS.steps})
  --batch-size N      mini-batch size (default ${DEFAULTS.batchSize})
  --lr X              SGD learning rate, the same for every variant (default ${DEFAULTS.lr})
  --seed N            seed of the init, the batch order and the noise (default ${DEFAULTS.seed}); every
                      variant starts from the same weights and sees the same batches
  --variants LIST     comma-separated subset of ${VARIANTS.join(',')} (default all three)
  --width N           hidden width of the MLP (default 100) or first-block channels of the VGG (default 8)
  --eval-every N      test accuracy every N steps (default ${DEFAULTS.evalEvery})
  --stats-every N     activation percentiles every N steps, on the training batch (default ${DEFAULTS.statsEvery})
  --layer N           the hidden block whose pre-activations are tracked, 1..3 (mlp) or 1..4 (vgg)
                      (default ${DEFAULTS.layer})
  --unit N            the unit (mlp) or channel (vgg) of that block whose distribution is tracked
                      (default ${DEFAULTS.unit}); over the batch (and the positions of a channel)
${noiseUsage(22)}  --train-limit N     use only the first N training images (default: all 60000)
  --test-limit N      test on the first N test images (default: all 10000 for mlp, 2000 for vgg)
${commonUsage('noisy-bn', 22)}`;

const FLAGS: Flags<Options> = {
  ...commonFlags<Options>(),
  ...dataFlags<Options>(),
  '--model': { key: 'model', kind: { oneOf: ARCHS } },
  '--steps': { key: 'steps', kind: 'posint' },
  '--lr': { key: 'lr', kind: 'posnumber' },
  '--variants': { key: 'variants', kind: { listOf: VARIANTS, item: 'variant' } },
  '--width': { key: 'width', kind: 'posint' },
  '--eval-every': { key: 'evalEvery', kind: 'posint' },
  '--stats-every': { key: 'statsEvery', kind: 'posint' },
  '--layer': { key: 'layer', kind: 'posint' },
  '--unit': { key: 'unit', kind: 'int' },
  ...noiseFlags<Options>(),
};

export function parseArgs(argv: readonly string[]): { options: Options; given: Set<keyof Options> } {
  const parsed = parseFlags(argv, FLAGS, DEFAULTS);
  const o = parsed.options;
  if (o.layer > BLOCKS[o.model]) throw new UsageError(`--layer must be in 1..${BLOCKS[o.model]} for --model ${o.model}, got ${o.layer}`);
  const units = o.model === 'mlp' ? o.width || 100 : (o.width || 8) * (o.layer > 2 ? 2 : 1);
  if (o.unit >= units) throw new UsageError(`--unit must be in 0..${units - 1} (block ${o.layer} has ${units} ${o.model === 'mlp' ? 'units' : 'channels'}), got ${o.unit}`);
  checkBatch(o);
  checkNoise(o);
  if (!parsed.given.has('testLimit') && o.model === 'vgg') o.testLimit = 2_000;
  return parsed;
}

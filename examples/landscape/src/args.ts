/** Command-line flags of `pnpm example landscape`: the flag table, validation and the usage text. */
import {
  type Arch, type CommonOptions, type DataOptions, type Flags, COMMON_DEFAULTS, ARCHS, UsageError, checkBatch, checkLearningRates, commonFlags,
  commonUsage, dataFlags, parseFlags,
} from '@normlab/example-kit';

export { UsageError };

export const VARIANTS = ['standard', 'bn'] as const;
export type Variant = (typeof VARIANTS)[number];

export interface Options extends CommonOptions, DataOptions {
  steps: number;
  lrs: number[];
  probeEvery: number;
  /** The probes move eta = lr * m along the gradient for each m. */
  stepMultipliers: number[];
  model: Arch;
  width: number;
  variants: Variant[];
}

/** The default run: about 3 minutes on a shared 2-core machine (see the README). */
export const DEFAULTS: Options = {
  steps: 200,
  batchSize: 32,
  lrs: [0.05, 0.2],
  probeEvery: 20,
  stepMultipliers: [0.25, 0.5, 1, 2, 4],
  model: 'vgg',
  width: 8,
  seed: 0,
  variants: ['standard', 'bn'],
  trainLimit: 0,
  testLimit: 2_000,
  ...COMMON_DEFAULTS,
};

export const USAGE = `usage: pnpm example landscape [flags]

The optimization landscape with and without BatchNorm (Santurkar et al. 2018,
section 3.1 and their Figure 4) on MNIST: a small VGG-style conv net trained
with SGD at two learning rates; every --probe-every steps, on the current batch,
@normlab/landscape's lossLandscape moves along the gradient g to w - eta g for
eta = lr x each step multiplier and measures the loss there (its range: "loss
landscape"), ||g - g(w - eta g)|| ("gradient predictiveness"), and the
largest ||g - g(w - eta g)|| / ||eta g|| ("effective beta-smoothness").

flags:
  --steps N               SGD steps per run (default ${DEFAULTS.steps}; the paper trains for thousands)
  --batch-size N          mini-batch size (default ${DEFAULTS.batchSize})
  --lrs LIST              comma-separated learning rates, one run per rate and variant
                          (default ${DEFAULTS.lrs.join(',')})
  --probe-every N         probe the landscape every N steps (default ${DEFAULTS.probeEvery}); a probe costs
                          one gradient per step multiplier, plus one
  --step-multipliers LIST the probes' step sizes as multiples of the lr (default ${DEFAULTS.stepMultipliers.join(',')})
  --model vgg|mlp         the network (default ${DEFAULTS.model}; mlp: 784-100-100-100-10 ReLU, much faster)
  --width N               VGG: channels of the first block, the second has 2N (default ${DEFAULTS.width});
                          MLP: hidden width
  --seed N                seed of the init and the batch order (default ${DEFAULTS.seed}); both variants
                          start from the same weights and see the same batches
  --variants LIST         comma-separated subset of ${VARIANTS.join(',')} (default ${DEFAULTS.variants.join(',')})
  --train-limit N         use only the first N training images (default: all 60000)
  --test-limit N          test accuracy on the first N test images (default ${DEFAULTS.testLimit}; 0: all 10000)
${commonUsage('landscape', 26)}`;

const FLAGS: Flags<Options> = {
  ...commonFlags<Options>(),
  ...dataFlags<Options>(),
  '--steps': { key: 'steps', kind: 'posint' },
  '--lrs': { key: 'lrs', kind: 'numbers' },
  '--probe-every': { key: 'probeEvery', kind: 'posint' },
  '--step-multipliers': { key: 'stepMultipliers', kind: 'numbers' },
  '--model': { key: 'model', kind: { oneOf: ARCHS } },
  '--width': { key: 'width', kind: 'posint' },
  '--variants': { key: 'variants', kind: { listOf: VARIANTS, item: 'variant' } },
};

export function parseArgs(argv: readonly string[]): { options: Options; given: Set<keyof Options> } {
  const parsed = parseFlags(argv, FLAGS, DEFAULTS);
  const o = parsed.options;
  checkLearningRates(o.lrs);
  for (const m of o.stepMultipliers) if (!(m > 0)) throw new UsageError(`--step-multipliers must be positive, got ${m}`);
  checkBatch(o);
  return parsed;
}

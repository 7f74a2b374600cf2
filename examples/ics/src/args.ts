/** Command-line flags of `pnpm example ics`: the flag table, validation and the usage text. */
import { type CommonOptions, type Flags, COMMON_DEFAULTS, UsageError, checkLearningRates, commonFlags, commonUsage, parseFlags } from '@normlab/example-kit';

export { UsageError };

export const VARIANTS = ['standard', 'bn'] as const;
export type Variant = (typeof VARIANTS)[number];

export interface Options extends CommonOptions {
  steps: number;
  lrs: number[];
  icsEvery: number;
  depth: number;
  width: number;
  samples: number;
  variants: Variant[];
  /** The layer (1-based) drawn as a line in the figure; the band covers all layers. */
  layer: number;
}

/** The default run: about 2 minutes on a shared 2-core machine (see the README). */
export const DEFAULTS: Options = {
  steps: 500,
  lrs: [1e-3, 1e-2],
  icsEvery: 25,
  depth: 25,
  width: 10,
  samples: 256,
  seed: 0,
  variants: ['standard', 'bn'],
  layer: 13,
  ...COMMON_DEFAULTS,
};

export const USAGE = `usage: pnpm example ics [flags]

Internal covariate shift in a deep linear network (Santurkar et al. 2018,
section 2.2, the deep-linear-network panels of their ICS figure): a
${DEFAULTS.depth}-layer linear network (Linear layers without bias, with BatchNorm1d after
each hidden one for 'bn'), trained with full-batch gradient descent on synthetic
regression data (mean squared error). Every --ics-every steps it measures, for
every layer i, G = grad_Wi L before the step and G' = grad_Wi L after layers
1..i-1 took theirs: ||G - G'|| and cos(G, G') (@normlab/landscape's
internalCovariateShift).

flags:
  --steps N          full-batch GD steps per run (default ${DEFAULTS.steps})
  --lrs LIST         comma-separated learning rates, one run per rate and variant
                     (default ${DEFAULTS.lrs.join(',')})
  --ics-every N      measure ICS every N steps (default ${DEFAULTS.icsEvery}); a measurement
                     costs one gradient per layer
  --depth N          number of Linear layers (default ${DEFAULTS.depth}, as in the paper)
  --width N          input, hidden and output width (default ${DEFAULTS.width})
  --samples N        synthetic samples, all in every step (default ${DEFAULTS.samples})
  --seed N           seed of the data and the init (default ${DEFAULTS.seed}); both variants start
                     from the same weights
  --variants LIST    comma-separated subset of ${VARIANTS.join(',')} (default ${DEFAULTS.variants.join(',')})
  --layer N          the layer drawn as a line in the figure, 1..depth (default ${DEFAULTS.layer})
${commonUsage('ics', 21)}`;

const FLAGS: Flags<Options> = {
  ...commonFlags<Options>(),
  '--steps': { key: 'steps', kind: 'posint' },
  '--lrs': { key: 'lrs', kind: 'numbers' },
  '--ics-every': { key: 'icsEvery', kind: 'posint' },
  '--depth': { key: 'depth', kind: 'posint' },
  '--width': { key: 'width', kind: 'posint' },
  '--samples': { key: 'samples', kind: 'posint' },
  '--variants': { key: 'variants', kind: { listOf: VARIANTS, item: 'variant' } },
  '--layer': { key: 'layer', kind: 'posint' },
};

export function parseArgs(argv: readonly string[]): { options: Options; given: Set<keyof Options> } {
  const parsed = parseFlags(argv, FLAGS, DEFAULTS);
  const o = parsed.options;
  checkLearningRates(o.lrs);
  if (o.depth < 2) throw new UsageError(`--depth must be at least 2 (ICS needs a layer before another), got ${o.depth}`);
  if (o.layer > o.depth) throw new UsageError(`--layer must be in 1..${o.depth} (--depth), got ${o.layer}`);
  if (o.samples < 2) throw new UsageError(`--samples must be at least 2 (BatchNorm needs a batch), got ${o.samples}`);
  return parsed;
}

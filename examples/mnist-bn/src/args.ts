/**
 * Command-line flags of `pnpm example mnist-bn`: the flag table, validation
 * and the usage text (parsed by @normlab/example-kit). Parsing never exits:
 * a bad flag throws `UsageError`, which the CLI turns into the message, the
 * usage and exit code 2.
 */
import { type Flags, type ProgressOption, COMMON_DEFAULTS, UsageError, checkBatch, commonFlags, dataFlags, parseFlags } from '@normlab/example-kit';

export { UsageError };

export const VARIANTS = ['baseline', 'bn', 'noisy-bn'] as const;
export type Variant = (typeof VARIANTS)[number];

export interface Options {
  steps: number;
  batchSize: number;
  lr: number;
  seed: number;
  initStd: number;
  device: 'cpu' | 'gpu';
  variants: Variant[];
  /** Run directory; null: runs/mnist-bn/<timestamp> at the repository root. */
  out: string | null;
  evalEvery: number;
  /** 0: only at the end. */
  checkpointEvery: number;
  resume: string | null;
  /** With --out: move an existing run folder aside instead of refusing it. */
  force: boolean;
  /** With --resume: train a variant from step 0 when none of its checkpoints loads. */
  startOver: boolean;
  /** Print the stack trace of an error too. */
  debug: boolean;
  /** The last-hidden-layer sigmoid whose input is tracked (Figure 1 b, c). */
  unit: number;
  /** How many of the first test images the percentiles are taken over. */
  percentileImages: number;
  /** Use only the first N training / test images (0: all); for quick runs and tests. */
  trainLimit: number;
  testLimit: number;
  /** 'auto': a progress bar when stdout is a TTY, plain lines otherwise. */
  progress: ProgressOption;
  help: boolean;
}

/** The default run: ~3 minutes for baseline + bn on a 2-core machine (see the README). */
export const DEFAULTS: Options = {
  steps: 15_000,
  batchSize: 60,
  lr: 0.25,
  seed: 0,
  initStd: 0.05,
  device: 'cpu',
  variants: ['baseline', 'bn'],
  evalEvery: 250,
  checkpointEvery: 2_500,
  startOver: false,
  unit: 0,
  percentileImages: 1_000,
  trainLimit: 0,
  testLimit: 0,
  ...COMMON_DEFAULTS,
};

export const USAGE = `usage: pnpm example mnist-bn [flags]

Reproduces Figure 1 of Ioffe & Szegedy (2015) on MNIST: a 784-100-100-100-10
sigmoid MLP trained with and without Batch Normalization (BN before every
sigmoid, the Linear bias dropped), plain SGD, softmax cross-entropy.

flags:
  --steps N             training steps per variant (default ${DEFAULTS.steps}, ~3 min for
                        baseline + bn on 2 cores; the paper trains 50000)
  --batch-size N        mini-batch size (default ${DEFAULTS.batchSize}, as in the paper)
  --lr X                SGD learning rate, the same for every variant (default ${DEFAULTS.lr}:
                        chosen so that BN's test accuracy is above the baseline's at
                        every evaluation of the default run, while the baseline
                        still converges; see the README)
  --init-std X          std of the Gaussian init of every weight, biases start at 0
                        (default ${DEFAULTS.initStd}: "small random Gaussian values")
  --seed N              seed of the init, the data order and the BN noise (default ${DEFAULTS.seed});
                        every variant starts from the same weights and sees the same batches
  --device cpu|gpu      where the model, the batches and the test set live (default cpu);
                        gpu: @normlab/gpu in the mode NORMLAB_GPU_MODE names, else webgpu,
                        falling back to webasm, cpu (the mode and adapter are printed)
  --variants LIST       comma-separated subset of ${VARIANTS.join(',')} (default ${DEFAULTS.variants.join(',')})
  --out DIR             run directory (default runs/mnist-bn/<timestamp> at the repository root)
  --eval-every N        evaluate every N steps (default ${DEFAULTS.evalEvery}): test accuracy on the
                        test set with the running statistics, and the 15/50/85th percentiles
                        of a last-layer sigmoid input
  --checkpoint-every N  checkpoint every N steps, 0 = only at the end (default ${DEFAULTS.checkpointEvery})
  --resume DIR          continue the run in DIR from its newest checkpoints that load (its
                        config.json fixes everything but --steps, --eval-every,
                        --checkpoint-every, --progress, --device); Ctrl-C during a run saves
                        a checkpoint first and says how to resume
  --start-over          with --resume: a variant none of whose checkpoints loads trains again
                        from step 0 (without it, that is an error)
  --force               --out names an existing run: move it aside (DIR.replaced-<time>) and
                        start a new one (without it, that is an error)
  --debug               print the stack trace of an error too
  --unit N              which sigmoid of the last hidden layer to track (default ${DEFAULTS.unit})
  --percentile-images N the percentiles are over the first N test images (default ${DEFAULTS.percentileImages})
  --train-limit N       use only the first N training images (default: all 60000)
  --test-limit N        use only the first N test images (default: all 10000)
  --progress MODE       auto|bar|plain|none (default auto: a bar on a TTY, plain lines otherwise)
  --help                print this and exit
`;

const FLAGS: Flags<Options> = {
  ...commonFlags<Options>(),
  ...dataFlags<Options>(),
  '--steps': { key: 'steps', kind: 'posint' },
  '--lr': { key: 'lr', kind: 'number' },
  '--init-std': { key: 'initStd', kind: 'number' },
  '--device': { key: 'device', kind: { oneOf: ['cpu', 'gpu'] } },
  '--variants': { key: 'variants', kind: { listOf: VARIANTS, item: 'variant' } },
  '--eval-every': { key: 'evalEvery', kind: 'posint' },
  '--checkpoint-every': { key: 'checkpointEvery', kind: 'int' },
  '--start-over': { key: 'startOver', kind: 'switch' },
  '--unit': { key: 'unit', kind: 'int' },
  '--percentile-images': { key: 'percentileImages', kind: 'posint' },
};

/** Parses `argv` (without node and the script); also returns which flags were given. */
export function parseArgs(argv: readonly string[]): { options: Options; given: Set<keyof Options> } {
  const parsed = parseFlags(argv, FLAGS, DEFAULTS);
  validate(parsed.options);
  return parsed;
}

function validate(o: Options): void {
  if (!(o.lr > 0)) throw new UsageError(`--lr must be positive, got ${o.lr}`);
  if (!(o.initStd > 0)) throw new UsageError(`--init-std must be positive, got ${o.initStd}`);
  if (o.unit >= 100) throw new UsageError(`--unit must be in 0..99 (the last hidden layer has 100 sigmoids), got ${o.unit}`);
  // BatchNorm's training statistics need two values per feature; the baseline trains on a batch of one.
  checkBatch(o, o.variants.some((v) => v !== 'baseline') ? 2 : 1);
  if (o.force && o.resume !== null) throw new UsageError('--force starts a new run; it cannot go with --resume');
  if (o.startOver && o.resume === null) throw new UsageError('--start-over goes with --resume DIR');
}

/**
 * Command-line flags of `pnpm example mnist-bn`: parsing, validation and the
 * usage text. Parsing never exits: a bad flag throws `UsageError`, which the
 * CLI turns into the message, the usage and exit code 2.
 */

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
  /** The last-hidden-layer sigmoid whose input is tracked (Figure 1 b, c). */
  unit: number;
  /** How many of the first test images the percentiles are taken over. */
  percentileImages: number;
  /** Use only the first N training / test images (0: all); for quick runs and tests. */
  trainLimit: number;
  testLimit: number;
  /** 'auto': a progress bar when stdout is a TTY, plain lines otherwise. */
  progress: 'auto' | 'bar' | 'plain' | 'none';
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
  out: null,
  evalEvery: 250,
  checkpointEvery: 2_500,
  resume: null,
  unit: 0,
  percentileImages: 1_000,
  trainLimit: 0,
  testLimit: 0,
  progress: 'auto',
  help: false,
};

export class UsageError extends Error {
  override name = 'UsageError';
}

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
  --device cpu|gpu      (default cpu; no GPU backend exists yet)
  --variants LIST       comma-separated subset of ${VARIANTS.join(',')} (default ${DEFAULTS.variants.join(',')})
  --out DIR             run directory (default runs/mnist-bn/<timestamp> at the repository root)
  --eval-every N        evaluate every N steps (default ${DEFAULTS.evalEvery}): test accuracy on the
                        test set with the running statistics, and the 15/50/85th percentiles
                        of a last-layer sigmoid input
  --checkpoint-every N  checkpoint every N steps, 0 = only at the end (default ${DEFAULTS.checkpointEvery})
  --resume DIR          continue the run in DIR from its latest checkpoints (its config.json
                        fixes everything but --steps, --eval-every, --checkpoint-every, --progress)
  --unit N              which sigmoid of the last hidden layer to track (default ${DEFAULTS.unit})
  --percentile-images N the percentiles are over the first N test images (default ${DEFAULTS.percentileImages})
  --train-limit N       use only the first N training images (default: all 60000)
  --test-limit N        use only the first N test images (default: all 10000)
  --progress MODE       auto|bar|plain|none (default auto: a bar on a TTY, plain lines otherwise)
  --help                print this and exit
`;

type Kind = 'int' | 'posint' | 'number' | 'string';
const FLAGS: Record<string, { key: keyof Options; kind: Kind | 'device' | 'variants' | 'progress' }> = {
  '--steps': { key: 'steps', kind: 'posint' },
  '--batch-size': { key: 'batchSize', kind: 'posint' },
  '--lr': { key: 'lr', kind: 'number' },
  '--init-std': { key: 'initStd', kind: 'number' },
  '--seed': { key: 'seed', kind: 'int' },
  '--device': { key: 'device', kind: 'device' },
  '--variants': { key: 'variants', kind: 'variants' },
  '--out': { key: 'out', kind: 'string' },
  '--eval-every': { key: 'evalEvery', kind: 'posint' },
  '--checkpoint-every': { key: 'checkpointEvery', kind: 'int' },
  '--resume': { key: 'resume', kind: 'string' },
  '--unit': { key: 'unit', kind: 'int' },
  '--percentile-images': { key: 'percentileImages', kind: 'posint' },
  '--train-limit': { key: 'trainLimit', kind: 'int' },
  '--test-limit': { key: 'testLimit', kind: 'int' },
  '--progress': { key: 'progress', kind: 'progress' },
};

/** Parses `argv` (without node and the script); also returns which flags were given. */
export function parseArgs(argv: readonly string[]): { options: Options; given: Set<keyof Options> } {
  const options: Options = { ...DEFAULTS, variants: [...DEFAULTS.variants] };
  const given = new Set<keyof Options>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      options.help = true;
      continue;
    }
    // --flag=value or --flag value
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const spec = FLAGS[name];
    if (!spec) throw new UsageError(arg.startsWith('-') ? `unknown flag '${name}'` : `unexpected argument '${arg}'`);
    let value: string;
    if (eq > 0 && arg.startsWith('--')) value = arg.slice(eq + 1);
    else {
      if (i + 1 >= argv.length) throw new UsageError(`flag '${name}' needs a value`);
      value = argv[++i];
    }
    (options as unknown as Record<string, unknown>)[spec.key] = parseValue(name, spec.kind, value);
    given.add(spec.key);
  }
  validate(options);
  return { options, given };
}

function parseValue(name: string, kind: Kind | 'device' | 'variants' | 'progress', value: string): unknown {
  const num = (): number => {
    const v = value.trim() === '' ? NaN : Number(value);
    if (!Number.isFinite(v)) throw new UsageError(`${name} expects a number, got '${value}'`);
    return v;
  };
  switch (kind) {
    case 'number':
      return num();
    case 'int':
    case 'posint': {
      const v = num();
      if (!Number.isSafeInteger(v) || v < (kind === 'posint' ? 1 : 0)) {
        throw new UsageError(`${name} expects a ${kind === 'posint' ? 'positive' : 'non-negative'} integer, got '${value}'`);
      }
      return v;
    }
    case 'string':
      if (value === '' || value.startsWith('--')) throw new UsageError(`${name} expects a value, got '${value}'`);
      return value;
    case 'device':
      if (value !== 'cpu' && value !== 'gpu') throw new UsageError(`--device expects cpu or gpu, got '${value}'`);
      return value;
    case 'progress':
      if (!['auto', 'bar', 'plain', 'none'].includes(value)) throw new UsageError(`--progress expects auto, bar, plain or none, got '${value}'`);
      return value;
    case 'variants': {
      const list = value.split(',').map((s) => s.trim()).filter(Boolean);
      if (list.length === 0) throw new UsageError('--variants expects a comma-separated list');
      for (const v of list) {
        if (!(VARIANTS as readonly string[]).includes(v)) throw new UsageError(`--variants: unknown variant '${v}' (known: ${VARIANTS.join(', ')})`);
      }
      if (new Set(list).size !== list.length) throw new UsageError(`--variants lists a variant twice: '${value}'`);
      return list;
    }
  }
}

function validate(o: Options): void {
  if (!(o.lr > 0)) throw new UsageError(`--lr must be positive, got ${o.lr}`);
  if (!(o.initStd > 0)) throw new UsageError(`--init-std must be positive, got ${o.initStd}`);
  if (o.unit >= 100) throw new UsageError(`--unit must be in 0..99 (the last hidden layer has 100 sigmoids), got ${o.unit}`);
  if (o.trainLimit !== 0 && o.trainLimit < o.batchSize) {
    throw new UsageError(`--train-limit ${o.trainLimit} is smaller than one batch (--batch-size ${o.batchSize})`);
  }
}

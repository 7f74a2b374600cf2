// The files of a new experiment. The same experiment, config and test serve
// both layouts: an example inside this repository (workspace packages,
// vitest, `pnpm example <name>`) and a standalone project outside it (the
// packed packages from vendor/, npm, tsc, node:test).

/** The config every new experiment starts from (config.json). */
export const CONFIG = {
  seed: 0,
  steps: 600,
  batchSize: 60,
  lr: 0.1,
  hidden: 100,
  trainSamples: 10000,
  testSamples: 2000,
  logEvery: 20,
};

const experimentTs = (name) => `/**
 * ${name}: the same MLP trained with and without BatchNorm1d, from the same
 * seed, on MNIST; records the training loss and the test accuracy of each.
 * Change the model, the variants or the data here; the settings live in
 * config.json (see README.md).
 */
import { manualSeed, noGrad } from '@normlab/autograd';
import { DataLoader, loadMnist } from '@normlab/data';
import { BatchNorm1d, Linear, type Module, ReLU, Sequential, crossEntropy, optim } from '@normlab/nn';
import { tidy } from '@normlab/tensor';

export const VARIANTS = ['plain', 'bn'] as const;
export type Variant = (typeof VARIANTS)[number];

export interface Config {
  /** Seeds the weights and the order of the batches (the same for every variant). */
  seed: number;
  /** SGD steps per variant. */
  steps: number;
  batchSize: number;
  lr: number;
  /** Width of the two hidden layers. */
  hidden: number;
  /** The first trainSamples / testSamples images of MNIST's training / test set. */
  trainSamples: number;
  testSamples: number;
  /** Record the loss every logEvery steps (and at step 1). */
  logEvery: number;
}

export interface VariantResult {
  variant: Variant;
  steps: number[];
  loss: number[];
  testAccuracy: number;
}

/** A user's mistake in the config or the flags: main prints its message alone. */
export class ConfigError extends Error {}

const INTEGER_KEYS = ['seed', 'steps', 'batchSize', 'hidden', 'trainSamples', 'testSamples', 'logEvery'] as const;

/** Checks a parsed config.json: every key present, known, and in range. */
export function checkConfig(raw: unknown): Config {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError('config: expected a JSON object');
  const c = raw as Record<string, unknown>;
  const keys = [...INTEGER_KEYS, 'lr'];
  for (const k of Object.keys(c)) if (!keys.includes(k)) throw new ConfigError(\`config: unknown key '\${k}' (keys: \${keys.join(', ')})\`);
  for (const k of keys) if (!(k in c)) throw new ConfigError(\`config: missing key '\${k}'\`);
  for (const k of INTEGER_KEYS) {
    const v = c[k];
    const min = k === 'seed' ? 0 : 1;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new ConfigError(\`config: \${k} must be an integer >= \${min}, got \${JSON.stringify(v)}\`);
  }
  if (typeof c.lr !== 'number' || !(c.lr > 0) || !Number.isFinite(c.lr)) throw new ConfigError(\`config: lr must be a positive number, got \${JSON.stringify(c.lr)}\`);
  if ((c.batchSize as number) < 2) throw new ConfigError('config: batchSize must be at least 2 (BatchNorm needs more than one sample per batch)');
  if ((c.batchSize as number) > (c.trainSamples as number)) throw new ConfigError(\`config: batchSize (\${c.batchSize}) is larger than trainSamples (\${c.trainSamples})\`);
  return c as unknown as Config;
}

/** 784 -> hidden -> hidden -> 10 with ReLUs; 'bn' puts BatchNorm1d after each hidden Linear (whose bias BN's beta replaces). */
export function buildModel(variant: Variant, hidden: number): Sequential {
  const bn = variant === 'bn';
  const block = (inFeatures: number): Module[] => bn
    ? [new Linear(inFeatures, hidden, { bias: false }), new BatchNorm1d(hidden), new ReLU()]
    : [new Linear(inFeatures, hidden), new ReLU()];
  return new Sequential(...block(784), ...block(hidden), new Linear(hidden, 10));
}

/** Trains one variant for config.steps SGD steps, each in a tidy (its temporaries freed at once). */
export function trainVariant(config: Config, variant: Variant): VariantResult {
  manualSeed(config.seed);
  const train = loadMnist({ split: 'train', standardize: true, limit: config.trainSamples });
  const test = loadMnist({ split: 'test', standardize: true, limit: config.testSamples });
  const model = buildModel(variant, config.hidden);
  const opt = new optim.SGD(model.parameters(), { lr: config.lr });
  const loader = new DataLoader(train, { batchSize: config.batchSize, shuffle: true, dropLast: true });
  const result: VariantResult = { variant, steps: [], loss: [], testAccuracy: NaN };
  for (let step = 1; step <= config.steps;) {
    for (const [x, y] of loader) {
      const loss = tidy(() => {
        opt.zeroGrad();
        const l = crossEntropy(model.forward(x), y);
        l.backward();
        opt.step();
        return l.item();
      });
      if (step === 1 || step % config.logEvery === 0) {
        result.steps.push(step);
        result.loss.push(loss);
      }
      if (++step > config.steps) break;
    }
  }
  model.eval();
  const [xt, yt] = test.tensors;
  result.testAccuracy = tidy(() => noGrad(() => model.forward(xt).argmax(1).eq(yt).float().mean().item()));
  return result;
}

/** Every variant, one after the other. */
export function runExperiment(config: Config): VariantResult[] {
  return VARIANTS.map((v) => trainVariant(config, v));
}
`;

const mainTs = (name, runCommand) => `/**
 * ${name}: \`${runCommand} [--config FILE] [--out DIR] [--<config key> VALUE ...]\`.
 * Reads config.json (flags override its values), trains every variant, and
 * writes config.json, metrics.json and loss.svg to the output folder.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lineChart } from '@normlab/plot';
import { type Config, ConfigError, checkConfig, runExperiment } from './experiment.js';

const USAGE = 'usage: ${runCommand} [--config FILE] [--out DIR] [--<config key> VALUE ...]';

/** The project's config.json: the nearest one above this file (src/ or dist/). */
function defaultConfigPath(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'config.json'))) return join(dir, 'config.json');
    if (dirname(dir) === dir) throw new ConfigError('no config.json found above ' + fileURLToPath(import.meta.url));
  }
}

function readConfig(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(\`cannot read the config \${path}: \${(e as Error).message}\`);
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new ConfigError(\`\${path} is not valid JSON: \${(e as Error).message}\`);
  }
}

function parseArgs(argv: string[]): { config: Config; out: string } | null {
  let configPath: string | null = null;
  let out = resolve('runs', '${name}');
  const overrides: Record<string, number> = {};
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--help' || flag === '-h') return null;
    const value = argv[i + 1];
    if (!flag.startsWith('--') || value === undefined) throw new ConfigError(\`unexpected argument '\${flag}'\${value === undefined && flag.startsWith('--') ? ' (it needs a value)' : ''}\\n\${USAGE}\`);
    i++;
    if (flag === '--config') configPath = resolve(value);
    else if (flag === '--out') out = resolve(value);
    else {
      const n = Number(value);
      if (value.trim() === '' || !Number.isFinite(n)) throw new ConfigError(\`\${flag} needs a number, got '\${value}'\`);
      overrides[flag.slice(2)] = n;
    }
  }
  return { config: checkConfig({ ...readConfig(configPath ?? defaultConfigPath()), ...overrides }), out };
}

function main(): number {
  let parsed;
  try {
    parsed = parseArgs(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    console.error(\`${name}: \${e.message}\`);
    return 2;
  }
  if (parsed === null) {
    console.log(USAGE);
    return 0;
  }
  const { config, out } = parsed;
  const results = runExperiment(config);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'config.json'), JSON.stringify(config, null, 2) + '\\n');
  writeFileSync(join(out, 'metrics.json'), JSON.stringify(results, null, 2) + '\\n');
  writeFileSync(join(out, 'loss.svg'), lineChart({
    title: '${name}: training loss (seed ' + config.seed + ')',
    xLabel: 'step',
    yLabel: 'cross-entropy',
    series: results.map((r) => ({ name: r.variant, x: r.steps, y: r.loss })),
  }));
  for (const r of results) {
    console.log(\`\${r.variant.padEnd(6)} final loss \${r.loss.at(-1)!.toFixed(4)}  test accuracy \${(100 * r.testAccuracy).toFixed(2)}%\`);
  }
  console.log(\`wrote \${join(out, 'config.json')}, metrics.json and loss.svg\`);
  return 0;
}

process.exitCode = main();
`;

/** The test: node:assert in both layouts; only where describe/it come from differs. */
const testTs = (name, runner) => `import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from '${runner}';
import { ConfigError, buildModel, checkConfig, runExperiment } from '../src/experiment.js';

const base = checkConfig(JSON.parse(readFileSync(new URL('../${runner === 'vitest' ? '' : '../'}config.json', import.meta.url), 'utf8')));
// A short run: enough for both variants to learn, fast enough for a test.
const small = { ...base, steps: 40, trainSamples: 1200, testSamples: 500, logEvery: 10 };

describe('${name}', () => {
  it('trains every variant: the loss falls and the test accuracy beats chance', () => {
    for (const r of runExperiment(small)) {
      assert.deepEqual(r.steps, [1, 10, 20, 30, 40]);
      assert.ok(r.loss.at(-1)! < r.loss[0] * 0.7, \`\${r.variant}: loss \${r.loss[0]} -> \${r.loss.at(-1)}\`);
      assert.ok(r.testAccuracy > 0.5, \`\${r.variant}: test accuracy \${r.testAccuracy}\`);
    }
  });

  it('is reproducible: the same seed gives the same curves', () => {
    const short = { ...small, steps: 10, logEvery: 5 };
    assert.deepEqual(runExperiment(short), runExperiment(short));
  });

  it('puts BatchNorm1d only in the bn variant', () => {
    const names = (variant: 'plain' | 'bn') => [...buildModel(variant, 8).namedModules()].map(([, m]) => m.constructor.name);
    assert.ok(names('bn').includes('BatchNorm1d'));
    assert.ok(!names('plain').includes('BatchNorm1d'));
  });

  it('rejects a bad config with a clear error', () => {
    assert.throws(() => checkConfig({ ...base, lr: -1 }), (e: unknown) => e instanceof ConfigError && /lr must be a positive number/.test(e.message));
    assert.throws(() => checkConfig({ ...base, stpes: 5 }), /unknown key 'stpes'/);
    assert.throws(() => checkConfig({ ...base, batchSize: 1 }), /batchSize must be at least 2/);
  });
});
`;

const readme = (name, layout) => {
  const run = layout === 'repo' ? `pnpm example ${name}` : 'npm start --';
  const test = layout === 'repo' ? `pnpm test examples/${name}` : 'npm test';
  const setup = layout === 'repo'
    ? `It lives in this repository's workspace (examples/${name}); \`pnpm install\` links it.`
    : `A standalone project: the normlab packages it uses are the tarballs in \`vendor/\` (made by \`pnpm release:pack\` in the normlab repository), installed with \`npm install\`. To update normlab, replace them and run \`npm install\` again.`;
  return `# ${name}

The same MLP (784 -> ${CONFIG.hidden} -> ${CONFIG.hidden} -> 10, ReLU) trained with and without
BatchNorm1d (Ioffe & Szegedy 2015) from the same seed on MNIST, with plain
SGD; it records the training loss and the test accuracy of each variant.
${setup}

\`\`\`sh
${layout === 'repo' ? '' : 'npm install\n'}${run}                      # the settings of config.json
${run} --steps 2000 --lr 0.05    # flags override config.json
${test}                           # the experiment's test
\`\`\`

It writes \`runs/${name}/\`: \`config.json\` (the settings used), \`metrics.json\`
(loss per logged step and test accuracy, per variant) and \`loss.svg\`.

| file | what to change there |
| --- | --- |
| \`config.json\` | seed, steps, batch size, learning rate, width, how much of MNIST |
| \`src/experiment.ts\` | the model, the variants (add one to \`VARIANTS\` and \`buildModel\`), the training loop |
| \`src/main.ts\` | what is written and plotted |
| \`test/${name}.test.ts\` | what must hold (the loss falls, runs are reproducible, bad configs are refused) |

Every training step runs inside \`tidy\`, which frees the step's temporary
tensors at once; keep that when you change the loop. One seed is one
sample: before concluding that one variant beats another, run several seeds.
`;
};

/** The files (relative path -> text) of an example inside the repository. */
export function repoExampleFiles(name) {
  const pkg = {
    name: `@normlab/example-${name}`,
    private: true,
    type: 'module',
    scripts: { build: 'tsc -b', typecheck: 'tsc -b && tsc -p test' },
    dependencies: Object.fromEntries(['autograd', 'data', 'nn', 'plot', 'tensor'].map((p) => [`@normlab/${p}`, 'workspace:*'])),
  };
  const tsconfig = {
    extends: '../../tsconfig.base.json',
    compilerOptions: { rootDir: 'src', outDir: 'dist' },
    include: ['src'],
    references: ['tensor', 'autograd', 'nn', 'data', 'plot'].map((p) => ({ path: `../../packages/${p}` })),
  };
  const testTsconfig = {
    extends: '../../../tsconfig.base.json',
    compilerOptions: { composite: false, declaration: false, declarationMap: false, sourceMap: false, noEmit: true, customConditions: ['source'] },
    include: ['*.ts'],
  };
  return {
    'package.json': json(pkg),
    'tsconfig.json': json(tsconfig),
    'config.json': json(CONFIG),
    'README.md': readme(name, 'repo'),
    'src/experiment.ts': experimentTs(name),
    'src/main.ts': mainTs(name, `pnpm example ${name}`),
    [`test/${name}.test.ts`]: testTs(name, 'vitest'),
    'test/tsconfig.json': json(testTsconfig),
  };
}

/**
 * The files of a standalone project using the packed packages in vendor/
 * (`tarballs`: { name, file } with file relative to the project). `versions`
 * holds the TypeScript and @types/node ranges the repository builds with.
 */
export function standaloneFiles(name, tarballs, versions) {
  const pkg = {
    name,
    version: '0.1.0',
    private: true,
    type: 'module',
    scripts: {
      build: 'tsc',
      start: 'tsc && node dist/src/main.js',
      // The shell expands the pattern (Node 22+ no longer takes a folder, and its own discovery would also run the .ts sources).
      test: 'tsc && node --test dist/test/*.test.js',
    },
    dependencies: Object.fromEntries(tarballs.map((t) => [t.name, `file:${t.file}`])),
    devDependencies: { '@types/node': versions.typesNode, typescript: versions.typescript },
  };
  const tsconfig = {
    compilerOptions: {
      target: 'es2022',
      lib: ['es2022'],
      module: 'nodenext',
      moduleResolution: 'nodenext',
      strict: true,
      skipLibCheck: true,
      types: ['node'],
      rootDir: '.',
      outDir: 'dist',
    },
    include: ['src', 'test'],
  };
  return {
    'package.json': json(pkg),
    'tsconfig.json': json(tsconfig),
    'config.json': json(CONFIG),
    'README.md': readme(name, 'standalone'),
    '.gitignore': 'node_modules/\ndist/\nruns/\n',
    'src/experiment.ts': experimentTs(name),
    'src/main.ts': mainTs(name, 'npm start --'),
    [`test/${name}.test.ts`]: testTs(name, 'node:test'),
  };
}

function json(value) {
  return JSON.stringify(value, null, 2) + '\n';
}

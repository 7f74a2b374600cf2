/**
 * Command-line flags of the examples: a table of flags, each with the key
 * it sets and the kind of its value, parsed into an options object.
 * Parsing never exits: a bad flag throws `UsageError`, which `runCli`
 * turns into the message, the usage and exit code 2.
 */

export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * A failure the user can fix that is not a bad flag (a missing or damaged
 * data file, a run folder that exists): `runCli` prints its message as one
 * line, without the usage or a stack trace (unless --debug), and exits 1.
 */
export { RunError } from '@normlab/lab';

/**
 * How a flag's value is read:
 * - 'switch': no value, sets the option to true (`--force`);
 * - 'int' (>= 0), 'posint' (>= 1), 'number' (finite), 'posnumber' (> 0), 'string';
 * - 'numbers': a comma-separated list of finite numbers;
 * - `{ oneOf }`: one of the given words;
 * - `{ listOf, item }`: a comma-separated subset of the given words, each at most once.
 */
export type FlagKind =
  | 'switch' | 'int' | 'posint' | 'number' | 'posnumber' | 'string' | 'numbers'
  | { oneOf: readonly string[] }
  | { listOf: readonly string[]; item: string };

export interface FlagSpec<O> {
  key: keyof O & string;
  kind: FlagKind;
}

export type Flags<O> = Record<string, FlagSpec<O>>;

/** Every options object has `help` (set by --help or -h). */
export interface HelpOption {
  help: boolean;
}

/** 'a', 'a or b', 'a, b or c'. */
export function orList(words: readonly string[]): string {
  return words.length <= 1 ? words.join('') : `${words.slice(0, -1).join(', ')} or ${words.at(-1)}`;
}

/**
 * Parses `argv` (without node and the script) against `flags`, starting
 * from a copy of `defaults` (arrays copied too); `--flag value` and
 * `--flag=value` both work. Also returns which option keys were given.
 */
export function parseFlags<O extends HelpOption>(argv: readonly string[], flags: Flags<O>, defaults: O): { options: O; given: Set<keyof O> } {
  const options = Object.fromEntries(Object.entries(defaults).map(([k, v]) => [k, Array.isArray(v) ? [...v] : v])) as O;
  const given = new Set<keyof O>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      options.help = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const inline = arg.startsWith('--') && eq > 0;
    const name = inline ? arg.slice(0, eq) : arg;
    const spec = Object.hasOwn(flags, name) ? flags[name] : undefined;
    if (!spec) throw new UsageError(arg.startsWith('-') ? `unknown flag '${name}'` : `unexpected argument '${arg}'`);
    if (spec.kind === 'switch') {
      if (inline) throw new UsageError(`flag '${name}' takes no value, got '${arg}'`);
      (options as Record<string, unknown>)[spec.key] = true;
      given.add(spec.key);
      continue;
    }
    let value: string;
    if (inline) value = arg.slice(eq + 1);
    else {
      if (i + 1 >= argv.length) throw new UsageError(`flag '${name}' needs a value`);
      value = argv[++i];
    }
    (options as Record<string, unknown>)[spec.key] = parseValue(name, spec.kind, value);
    given.add(spec.key);
  }
  return { options, given };
}

export function parseValue(name: string, kind: FlagKind, value: string): unknown {
  const num = (v: string): number => {
    const x = v.trim() === '' ? NaN : Number(v);
    if (!Number.isFinite(x)) throw new UsageError(`${name} expects a number, got '${v}'`);
    return x;
  };
  if (typeof kind === 'object') {
    if ('oneOf' in kind) {
      if (!kind.oneOf.includes(value)) throw new UsageError(`${name} expects ${orList(kind.oneOf)}, got '${value}'`);
      return value;
    }
    const list = value.split(',').map((s) => s.trim()).filter(Boolean);
    if (list.length === 0) throw new UsageError(`${name} expects a comma-separated list`);
    for (const v of list) {
      if (!kind.listOf.includes(v)) throw new UsageError(`${name}: unknown ${kind.item} '${v}' (known: ${kind.listOf.join(', ')})`);
    }
    if (new Set(list).size !== list.length) throw new UsageError(`${name} lists a ${kind.item} twice: '${value}'`);
    return list;
  }
  switch (kind) {
    case 'number':
      return num(value);
    case 'posnumber': {
      const v = num(value);
      if (!(v > 0)) throw new UsageError(`${name} must be positive, got ${value}`);
      return v;
    }
    case 'numbers': {
      const list = value.split(',').map((s) => s.trim());
      if (list.length === 0 || list.some((s) => s === '')) throw new UsageError(`${name} expects a comma-separated list of numbers, got '${value}'`);
      return list.map(num);
    }
    case 'int':
    case 'posint': {
      const v = num(value);
      if (!Number.isSafeInteger(v) || v < (kind === 'posint' ? 1 : 0)) {
        throw new UsageError(`${name} expects a ${kind === 'posint' ? 'positive' : 'non-negative'} integer, got '${value}'`);
      }
      return v;
    }
    case 'string':
      if (value === '' || value.startsWith('--')) throw new UsageError(`${name} expects a value, got '${value}'`);
      return value;
    case 'switch':
      throw new UsageError(`${name} takes no value, got '${value}'`);
  }
}

/** The flag that sets option `key` ('batchSize' -> '--batch-size'). */
export function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

export const PROGRESS_MODES = ['auto', 'bar', 'plain', 'none'] as const;
export type ProgressOption = (typeof PROGRESS_MODES)[number];

/** The options every example has (set by `commonFlags`, and --help). */
export interface CommonOptions extends HelpOption {
  seed: number;
  /** Run directory; null: runs/<example>/<timestamp> at the repository root. */
  out: string | null;
  /** 'auto': a progress bar when stdout is a TTY, plain lines otherwise. */
  progress: ProgressOption;
  /** --out names a folder that is not empty: move it aside and start a new run (else an error). */
  force: boolean;
  /** Continue the run in this folder (null: a new run). */
  resume: string | null;
  /** Print the stack trace of an error too. */
  debug: boolean;
}

/** The defaults of the options `commonFlags` sets, but --seed (each example has its own default seed). */
export const COMMON_DEFAULTS = {
  out: null, progress: 'auto', force: false, resume: null, debug: false, help: false,
} as const satisfies Omit<CommonOptions, 'seed'>;

/** The data options of the MNIST examples (set by `dataFlags`); the limits are 0 for all the images. */
export interface DataOptions {
  batchSize: number;
  trainLimit: number;
  testLimit: number;
}

/** The usage lines of --out, --progress and --help, their descriptions starting at `column`. */
export function commonUsage(example: string, column: number): string {
  const line = (flag: string, text: string): string => `  ${flag.padEnd(column - 2)}${text}\n`;
  return line('--out DIR', `run directory (default runs/${example}/<timestamp> at the repository root)`)
    + line('--force', '--out names a run: move it aside (DIR.replaced-<time>) and start a new one')
    + line('--resume DIR', 'continue the run in DIR: the runs it finished are kept, the others trained')
    + line('--progress MODE', 'auto|bar|plain|none (default auto: a bar on a TTY, plain lines otherwise)')
    + line('--debug', 'print the stack trace of an error too')
    + line('--help', 'print this and exit');
}

/** The flags every example has: --seed N, --out DIR, --force, --resume DIR, --progress auto|bar|plain|none, --debug. */
export function commonFlags<O extends CommonOptions>(): Flags<O> {
  return {
    '--seed': { key: 'seed', kind: 'int' },
    '--out': { key: 'out', kind: 'string' },
    '--force': { key: 'force', kind: 'switch' },
    '--resume': { key: 'resume', kind: 'string' },
    '--progress': { key: 'progress', kind: { oneOf: PROGRESS_MODES } },
    '--debug': { key: 'debug', kind: 'switch' },
  };
}

/** The data flags of the MNIST examples: --batch-size N, --train-limit N, --test-limit N (0: all). */
export function dataFlags<O extends DataOptions>(): Flags<O> {
  return {
    '--batch-size': { key: 'batchSize', kind: 'posint' },
    '--train-limit': { key: 'trainLimit', kind: 'int' },
    '--test-limit': { key: 'testLimit', kind: 'int' },
  };
}

/** A batch of at least `minBatch` (2 where BatchNorm needs a batch), and at least one batch of training data. */
export function checkBatch(o: { batchSize: number; trainLimit: number }, minBatch = 2): void {
  if (o.batchSize < minBatch) throw new UsageError(`--batch-size must be at least ${minBatch} (BatchNorm needs a batch), got ${o.batchSize}`);
  if (o.trainLimit !== 0 && o.trainLimit < o.batchSize) {
    throw new UsageError(`--train-limit ${o.trainLimit} is smaller than one batch (--batch-size ${o.batchSize})`);
  }
}

/** Positive learning rates, none twice. */
export function checkLearningRates(lrs: readonly number[], flag = '--lrs'): void {
  for (const lr of lrs) if (!(lr > 0)) throw new UsageError(`${flag}: every learning rate must be positive, got ${lr}`);
  if (new Set(lrs).size !== lrs.length) throw new UsageError(`${flag} lists a learning rate twice`);
}

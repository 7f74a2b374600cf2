/**
 * A sweep file: which example, the flags every run gets, the flags to vary
 * (a grid, every combination, and/or a list), the seeds, what to aggregate
 * from each run's metrics.jsonl, and the resources of a Slurm task. JSON, or
 * a JavaScript module whose default export is the object.
 *
 *     {
 *       "example": "mnist-bn",
 *       "args": { "steps": 200, "trainLimit": 6000, "evalEvery": 50 },
 *       "grid": { "lr": [0.1, 0.5], "variants": ["baseline", "bn"] },
 *       "seeds": [0, 1, 2],
 *       "metrics": { "x": "step", "y": ["testAccuracy"], "series": ["variant"] },
 *       "slurm": { "time": "00:10:00", "cpusPerTask": 1 }
 *     }
 *
 * A key is an option's name as the example's flag in camelCase (`trainLimit`
 * -> `--train-limit`); a value is a number, a string, a list (joined with
 * commas: `["baseline", "bn"]` -> `baseline,bn`) or true (a switch).
 */
import { RunError } from './errors.js';

/** A flag's value in a sweep file. */
export type FlagValue = number | string | boolean | readonly (number | string)[];

/** What `aggregate` takes from each run's metrics log. */
export interface MetricsSpec {
  /** The record field on the x axis (default 'step'). */
  x: string;
  /** The numeric fields to aggregate over seeds. */
  y: string[];
  /** Record fields that tell series apart within one run (e.g. 'variant' when a run trains several). */
  series: string[];
  /** Only records whose fields equal these (e.g. `{ "kind": "evals" }`). */
  where: Record<string, string | number | boolean>;
  /**
   * What one run contributes to the summary table: its value at its last x
   * ('last', the default), or the median, mean, min or max over its x values.
   */
  summary: RunSummary;
}

/** How a run's values along x become its one number in the summary table. */
export type RunSummary = 'last' | 'median' | 'mean' | 'min' | 'max';
const RUN_SUMMARIES: readonly RunSummary[] = ['last', 'median', 'mean', 'min', 'max'];

/** Resources of each Slurm array task (sbatch's options). */
export interface SlurmSpec {
  partition?: string;
  /** Wall-clock limit per run, e.g. '00:30:00'. */
  time?: string;
  cpusPerTask?: number;
  /** Memory per run, e.g. '4G'. */
  mem?: string;
  account?: string;
  /** More sbatch options, verbatim (e.g. '--qos=short'). */
  extra?: string[];
}

/** A validated sweep file. */
export interface SweepSpec {
  /** The example to run: a folder of examples/ (its dist/main.js). */
  example: string;
  /** The sweep's name (default: the file's name without extension). */
  name: string;
  /** Flags every run gets. */
  args: Record<string, FlagValue>;
  /** Flags to vary: every combination of the listed values is a config. */
  grid: Record<string, FlagValue[]>;
  /** Configs given one by one (each crossed with the grid); default one empty config. */
  list: Record<string, FlagValue>[];
  /** Each config runs once per seed (`--seed`). */
  seeds: number[];
  metrics: MetricsSpec;
  slurm: SlurmSpec;
}

const KEYS = ['example', 'name', 'args', 'grid', 'list', 'seeds', 'metrics', 'slurm', '$comment'];
/** Flags a sweep sets itself for every run. */
const RESERVED = ['seed', 'out', 'progress', 'force', 'resume', 'help'];

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function checkValue(where: string, v: unknown): FlagValue {
  const scalar = (x: unknown): x is number | string => (typeof x === 'number' && Number.isFinite(x)) || (typeof x === 'string' && x !== '');
  if (scalar(v) || v === true) return v;
  if (Array.isArray(v) && v.length > 0 && v.every(scalar)) return v;
  throw new RunError(`${where}: expected a number, a non-empty string, true, or a non-empty list of numbers and strings, got ${JSON.stringify(v)}`);
}

function checkFlags(file: string, field: string, v: unknown): Record<string, FlagValue> {
  if (!isRecord(v)) throw new RunError(`${file}: '${field}' must be an object of flags, got ${JSON.stringify(v)}`);
  const out: Record<string, FlagValue> = {};
  for (const [k, x] of Object.entries(v)) {
    if (!/^[a-z][a-zA-Z0-9]*$/.test(k)) throw new RunError(`${file}: '${field}.${k}': flag names are camelCase option names (trainLimit for --train-limit)`);
    if (RESERVED.includes(k)) throw new RunError(`${file}: '${field}.${k}': the sweep sets --${k} itself${k === 'seed' ? " (list the seeds in 'seeds')" : ''}`);
    out[k] = checkValue(`${file}: '${field}.${k}'`, x);
  }
  return out;
}

/** Validates a parsed sweep file; every error names the file and the field. */
export function parseSweep(value: unknown, file: string): SweepSpec {
  if (!isRecord(value)) throw new RunError(`${file}: a sweep file holds one object, got ${Array.isArray(value) ? 'a list' : typeof value}`);
  for (const k of Object.keys(value)) if (!KEYS.includes(k)) throw new RunError(`${file}: unknown field '${k}' (known: ${KEYS.filter((x) => x !== '$comment').join(', ')})`);
  const { example } = value;
  if (typeof example !== 'string' || !/^[a-z0-9][a-z0-9-]*$/.test(example)) throw new RunError(`${file}: 'example' must name an example folder (e.g. "mnist-bn"), got ${JSON.stringify(example)}`);
  const base = file.replace(/^.*\//, '').replace(/\.[^.]*$/, '');
  const name = value.name ?? base;
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new RunError(`${file}: 'name' must be a folder name of letters, digits, '.', '_' and '-', got ${JSON.stringify(name)}`);
  const args = value.args === undefined ? {} : checkFlags(file, 'args', value.args);
  const gridIn = value.grid === undefined ? {} : value.grid;
  if (!isRecord(gridIn)) throw new RunError(`${file}: 'grid' must map flags to lists of values, got ${JSON.stringify(gridIn)}`);
  const grid: Record<string, FlagValue[]> = {};
  for (const [k, vs] of Object.entries(gridIn)) {
    if (!Array.isArray(vs) || vs.length === 0) throw new RunError(`${file}: 'grid.${k}' must be a non-empty list of values, got ${JSON.stringify(vs)}`);
    if (k in args) throw new RunError(`${file}: '${k}' is both in 'args' and in 'grid'`);
    grid[k] = vs.map((v, i) => {
      if (vs.findIndex((w) => JSON.stringify(w) === JSON.stringify(v)) !== i) throw new RunError(`${file}: 'grid.${k}' lists ${JSON.stringify(v)} twice`);
      return checkFlags(file, 'grid', { [k]: v })[k];
    });
  }
  let list: Record<string, FlagValue>[] = [{}];
  if (value.list !== undefined) {
    if (!Array.isArray(value.list) || value.list.length === 0) throw new RunError(`${file}: 'list' must be a non-empty list of flag objects`);
    list = value.list.map((c, i) => checkFlags(file, `list[${i}]`, c));
    for (const [i, c] of list.entries()) {
      for (const k of Object.keys(c)) if (k in grid) throw new RunError(`${file}: 'list[${i}].${k}' is also in 'grid'`);
    }
  }
  const seeds = value.seeds ?? [0];
  if (!Array.isArray(seeds) || seeds.length === 0 || !seeds.every((s) => Number.isInteger(s) && s >= 0)) {
    throw new RunError(`${file}: 'seeds' must be a non-empty list of non-negative integers, got ${JSON.stringify(seeds)}`);
  }
  if (new Set(seeds).size !== seeds.length) throw new RunError(`${file}: 'seeds' lists a seed twice`);
  const m = value.metrics;
  if (!isRecord(m)) throw new RunError(`${file}: 'metrics' must say what to aggregate: { "y": ["testAccuracy"], "x": "step", "series": [...], "where": {...} }`);
  const strings = (field: string, v: unknown, dflt: string[]): string[] => {
    if (v === undefined) return dflt;
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string' && s !== '')) throw new RunError(`${file}: 'metrics.${field}' must be a list of field names, got ${JSON.stringify(v)}`);
    return v;
  };
  const y = strings('y', m.y, []);
  if (y.length === 0) throw new RunError(`${file}: 'metrics.y' must name at least one field to aggregate`);
  const x = m.x ?? 'step';
  if (typeof x !== 'string' || x === '') throw new RunError(`${file}: 'metrics.x' must be a field name, got ${JSON.stringify(x)}`);
  const where = m.where ?? {};
  if (!isRecord(where) || !Object.values(where).every((v) => ['string', 'number', 'boolean'].includes(typeof v))) {
    throw new RunError(`${file}: 'metrics.where' must map fields to a string, number or boolean, got ${JSON.stringify(where)}`);
  }
  const summary = m.summary ?? 'last';
  if (!RUN_SUMMARIES.includes(summary as RunSummary)) throw new RunError(`${file}: 'metrics.summary' must be one of ${RUN_SUMMARIES.join(', ')}, got ${JSON.stringify(summary)}`);
  for (const k of Object.keys(m)) if (!['x', 'y', 'series', 'where', 'summary'].includes(k)) throw new RunError(`${file}: unknown field 'metrics.${k}' (known: x, y, series, where, summary)`);
  const slurm = value.slurm ?? {};
  if (!isRecord(slurm)) throw new RunError(`${file}: 'slurm' must be an object of sbatch options`);
  for (const k of Object.keys(slurm)) if (!['partition', 'time', 'cpusPerTask', 'mem', 'account', 'extra'].includes(k)) throw new RunError(`${file}: unknown field 'slurm.${k}' (known: partition, time, cpusPerTask, mem, account, extra)`);
  if (slurm.cpusPerTask !== undefined && !(Number.isInteger(slurm.cpusPerTask) && (slurm.cpusPerTask as number) >= 1)) throw new RunError(`${file}: 'slurm.cpusPerTask' must be a positive integer`);
  for (const k of ['partition', 'time', 'mem', 'account']) if (slurm[k] !== undefined && (typeof slurm[k] !== 'string' || slurm[k] === '')) throw new RunError(`${file}: 'slurm.${k}' must be a string`);
  if (slurm.extra !== undefined && !(Array.isArray(slurm.extra) && slurm.extra.every((s) => typeof s === 'string'))) throw new RunError(`${file}: 'slurm.extra' must be a list of sbatch options`);
  return {
    example, name, args, grid, list, seeds: seeds as number[],
    metrics: { x, y, series: strings('series', m.series, []), where: where as MetricsSpec['where'], summary: summary as RunSummary },
    slurm: slurm as SlurmSpec,
  };
}

/** `trainLimit` -> `--train-limit`. */
export const flagOf = (key: string): string => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** A flag and its value as command-line arguments (a list joined with commas; true: the switch alone). */
export function flagArgs(key: string, value: FlagValue): string[] {
  if (value === true) return [flagOf(key)];
  return [flagOf(key), Array.isArray(value) ? value.join(',') : String(value)];
}

/** One run of a sweep: a config (the varied flags) and a seed. */
export interface SweepRun {
  /** The folder name under the sweep's runs/: the varied flags and the seed, e.g. `lr-0.1_variants-baseline+bn_seed-0`. */
  id: string;
  /** The varied flags (list entry, then grid values). */
  config: Record<string, FlagValue>;
  /** The config without the seed, as one string: the runs of one config share it. */
  configKey: string;
  seed: number;
  /** The example's arguments, without --out and --progress. */
  args: string[];
}

const part = (v: FlagValue): string => (Array.isArray(v) ? v.join('+') : String(v)).replace(/[^A-Za-z0-9.+-]/g, '_');

/** Every run of the sweep: configs (list x grid, grid in key order) x seeds, seeds innermost. */
export function expandSweep(spec: SweepSpec): SweepRun[] {
  let configs: Record<string, FlagValue>[] = spec.list.map((c) => ({ ...c }));
  for (const [k, vs] of Object.entries(spec.grid)) configs = configs.flatMap((c) => vs.map((v) => ({ ...c, [k]: v })));
  const runs: SweepRun[] = [];
  const ids = new Set<string>();
  for (const config of configs) {
    const configKey = Object.entries(config).map(([k, v]) => `${k}-${part(v)}`).join('_');
    for (const seed of spec.seeds) {
      const id = `${configKey ? `${configKey}_` : ''}seed-${seed}`;
      if (ids.has(id)) throw new RunError(`sweep ${spec.name}: two runs would share the folder ${id} (a config listed twice?)`);
      ids.add(id);
      const flags = { ...spec.args, ...config };
      runs.push({ id, config, configKey, seed, args: [...Object.entries(flags).flatMap(([k, v]) => flagArgs(k, v)), '--seed', String(seed)] });
    }
  }
  return runs;
}

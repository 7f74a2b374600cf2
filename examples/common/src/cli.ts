/**
 * The command line around an experiment: `runCli` parses the flags, prints
 * the usage for --help, turns usage errors into exit code 2 and other
 * errors into 1 (a `RunError` as its message alone, unless the options have
 * `debug` set, others with their stack; it returns the code instead of
 * exiting, so tests can call it in-process); run folders (`withRun`), CSV
 * and JSON files, figures as SVG and PNG, and the summary table.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CodeVersion, RunDir, codeVersion, watchInterrupt } from '@normlab/lab';
import { writePng } from '@normlab/plot';
import { type HelpOption, type ProgressOption, RunError, UsageError, flagName } from './args.js';
import { type ProgressMode, type Writer, resolveProgressMode } from './progress.js';

export interface Io {
  stdout: Writer & { isTTY?: boolean };
  stderr: Writer;
}

export const defaultIo: Io = { stdout: process.stdout, stderr: process.stderr };

/** The repository root: this file is examples/common/{src,dist}/cli.*. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export interface CliSpec<O extends HelpOption> {
  /** The example's name: the prefix of every error line. */
  name: string;
  usage: string;
  parse: (argv: readonly string[]) => { options: O; given: Set<keyof O> };
}

/** Runs `body` on the parsed flags; resolves to the exit code (0 ok, 1 failure, 2 usage error). */
export async function runCli<O extends HelpOption>(
  spec: CliSpec<O>, argv: readonly string[], io: Io, body: (options: O, given: Set<keyof O>) => Promise<number> | number,
): Promise<number> {
  const usageError = (e: UsageError): number => {
    io.stderr.write(`${spec.name}: ${e.message}\n\n${spec.usage}`);
    return 2;
  };
  let parsed: { options: O; given: Set<keyof O> };
  try {
    parsed = spec.parse(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    return usageError(e);
  }
  if (parsed.options.help) {
    io.stdout.write(spec.usage);
    return 0;
  }
  try {
    return await body(parsed.options, parsed.given);
  } catch (e) {
    if (e instanceof UsageError) return usageError(e);
    if (e instanceof RunError) {
      // One line; the stack only when asked for (an example with a --debug flag).
      const debug = (parsed.options as { debug?: boolean }).debug === true;
      io.stderr.write(`${spec.name}: ${debug ? (e.stack ?? e.message) : e.message}\n`);
      return 1;
    }
    io.stderr.write(`${spec.name}: ${(e as Error).stack ?? String(e)}\n`);
    return 1;
  }
}

/** The example's `run(argv, io?)`: `runCli` around `body`, which also gets the raw arguments and the Io. */
export function defineCli<O extends HelpOption>(
  spec: CliSpec<O>, body: (options: O, argv: readonly string[], io: Io, given: Set<keyof O>) => Promise<number> | number,
): (argv: readonly string[], io?: Io) => Promise<number> {
  return (argv, io = defaultIo) => runCli(spec, argv, io, (options, given) => body(options, argv, io, given));
}

/**
 * The entry point of an example's dist/main.js: runs `run` on the process
 * arguments and sets the exit code; `... --help | head` closing the pipe
 * early is not an error.
 */
export async function main(run: (argv: readonly string[]) => Promise<number>): Promise<void> {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  process.exitCode = await run(process.argv.slice(2));
}

/** A timestamp id for a run directory, e.g. 20261123-111842. */
export function runId(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
}

/** Writes `value` as JSON to the run folder's file `name` (atomically). */
export function writeJson(run: RunDir, name: string, value: unknown): void {
  run.write(name, `${JSON.stringify(value, null, 1)}\n`);
}

export type Cell = string | number | boolean | null | undefined;

/** A CSV document: the header, then one line per row (numbers as given, null / NaN / undefined empty; text with commas or quotes quoted). */
export function toCsv(columns: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const cell = (v: Cell): string => {
    if (v === null || v === undefined || (typeof v === 'number' && !Number.isFinite(v))) return '';
    const s = String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return `${columns.join(',')}\n${rows.map((r) => r.map(cell).join(',')).join('\n')}\n`;
}

/** Writes `<dir>/<base>.svg` and `<dir>/<base>.png` (rendered with resvg); returns the two file names. */
export function writeFigure(dir: string, base: string, svg: string): [string, string] {
  writeFileSync(join(dir, `${base}.svg`), svg);
  writePng(join(dir, `${base}.png`), svg);
  return [`${base}.svg`, `${base}.png`];
}

/** A plain-text table: the first column left-aligned, the others right-aligned. */
export function formatTable(header: readonly string[], body: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/** "written to DIR:" and the files, relative to the working directory when inside it. */
export function pathsWritten(dir: string, files: readonly string[]): string {
  const rel = relative(process.cwd(), dir) || '.';
  const shown = rel.startsWith('..') ? dir : rel;
  return [`written to ${dir}:`, ...files.map((f) => `  ${join(shown, f)}`)].join('\n');
}

/** An `Io` that collects what is written, for tests: `out()` and `err()` return it so far. */
export function captureIo(isTTY = false): { io: Io; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    io: { stdout: { write: (s: string) => void (out += s), isTTY }, stderr: { write: (s: string) => void (err += s) } },
    out: () => out,
    err: () => err,
  };
}

/** What an experiment's body gets from `withRun`. */
export interface RunContext {
  /** The run folder's path. */
  dir: string;
  /** The run folder: config, status, metrics log, checkpoints (@normlab/lab). */
  run: RunDir;
  progressMode: ProgressMode;
  /** Writes a line unless --progress none. */
  say: (line: string) => void;
  /**
   * The hook a training loop awaits after every step of the run `label`: one
   * turn of the event loop (where Ctrl-C arrives), then `RunInterrupted` if
   * it did, which `withRun` turns into status interrupted and exit code 130.
   */
  between: (label: string) => (step: number) => Promise<void>;
  /**
   * With --resume: the result of the run `label` if it finished before
   * (identity: its variant, lr, seed), saying that it is kept; else null.
   */
  restore: <R>(label: string, identity: Record<string, unknown>) => R | null;
}

/** Thrown by `RunContext.between` after Ctrl-C: the run under way stops after its step. */
export class RunInterrupted extends Error {
  override name = 'RunInterrupted';
}

/** Flags that may differ from the run's config.json when resuming. */
const RESUMABLE = new Set(['resume', 'out', 'progress', 'debug', 'help']);

/**
 * The run folder of `--resume DIR` (`cli.resume`) and its config.json,
 * checked: besides --resume, --out (naming the same folder), --progress,
 * --debug and --help, only the flags in `resumable` may be given (any other
 * is an error naming it), and `isConfig` must accept the file (else an
 * error saying it is not `what`).
 */
export function openRunToResume<O extends { resume: string | null; out: string | null }, C>(
  cli: O, given: ReadonlySet<keyof O>, check: { resumable?: ReadonlySet<keyof O>; isConfig: (config: unknown) => config is C; what: string },
): { run: RunDir; saved: C } {
  const fixed = [...given].filter((k) => !RESUMABLE.has(String(k)) && !check.resumable?.has(k));
  if (fixed.length > 0) throw new UsageError(`--resume keeps the run's settings; these flags cannot change: ${fixed.map((k) => flagName(String(k))).join(', ')}`);
  const run = RunDir.open(cli.resume!);
  if (given.has('out') && resolve(cli.out!) !== run.dir) throw new UsageError('--out and --resume name different directories');
  const saved = run.readConfig<unknown>();
  if (!check.isConfig(saved)) throw new RunError(`${join(run.dir, 'config.json')}: not ${check.what}`);
  return { run, saved };
}

/**
 * The options of this invocation: the flags as given, or with `--resume DIR`
 * the run's own options from its config.json (only --progress and --debug
 * may change; any other flag given is an error naming it).
 */
export function resumeOptions<O extends { resume: string | null; out: string | null; progress: ProgressOption; force: boolean; debug: boolean }>(
  cli: O, given: ReadonlySet<keyof O>,
): O {
  if (cli.resume === null) return cli;
  const { run, saved } = openRunToResume(cli, given, {
    isConfig: (c): c is { options: O } => typeof c === 'object' && c !== null && typeof (c as { options?: unknown }).options === 'object' && (c as { options?: unknown }).options !== null,
    what: "a run's config (no options)",
  });
  return { ...saved.options, help: false, resume: cli.resume, out: run.dir, progress: cli.progress, debug: cli.debug, force: false };
}

/**
 * Runs an experiment in a run folder of @normlab/lab: a new one (`--out
 * DIR`, default runs/<example>/<timestamp>, must not hold anything unless
 * `--force`, which moves it aside), or with `--resume DIR` the run there,
 * whose finished runs `restore` gives back. status.json says running, then
 * done, failed with the error (a new folder the run wrote no record into is
 * removed again), or interrupted after Ctrl-C (exit code 130).
 */
export async function withRun(
  example: string, options: { out: string | null; progress: ProgressOption; force: boolean; resume?: string | null }, io: Io,
  body: (ctx: RunContext) => Promise<number> | number,
): Promise<number> {
  const progressMode = resolveProgressMode(options.progress, io.stdout);
  const say = (line: string): void => {
    if (progressMode !== 'none') io.stdout.write(`${line}\n`);
  };
  const resuming = typeof options.resume === 'string';
  const run = resuming ? RunDir.open(options.resume!) : RunDir.create(options.out ?? join(REPO_ROOT, 'runs', example, runId()), { force: options.force });
  if (run.movedAside) say(`${example}: the run that was in ${run.dir} is now in ${run.movedAside}`);
  const earlier = resuming ? run.metrics.read().records : [];
  const restore = <R>(label: string, identity: Record<string, unknown>): R | null => {
    const result = restoreResult<R>(earlier, identity);
    if (result !== null) say(`${label}: finished before (${run.metrics.path}), kept`);
    return result;
  };
  run.setStatus('running');
  const interrupt = watchInterrupt();
  const between = (label: string) => async (step: number): Promise<void> => {
    await new Promise((resolve) => setImmediate(resolve));
    if (interrupt.requested) throw new RunInterrupted(`${label}, after step ${step + 1}`);
  };
  try {
    const code = await body({ dir: run.dir, run, progressMode, say, between, restore });
    run.setStatus(code === 0 ? 'done' : 'failed', code === 0 ? {} : { message: `exit code ${code}` });
    return code;
  } catch (e) {
    if (e instanceof RunInterrupted) {
      // The runs finished before are in metrics.jsonl; the one under way is trained again on --resume.
      run.setStatus('interrupted', { message: `stopped in ${e.message}` });
      io.stderr.write(`${example}: interrupted in ${e.message}; the runs finished before are in ${run.metrics.path}\ncontinue with: pnpm example ${example} --resume ${run.dir}\n`);
      return interrupt.exitCode;
    }
    if (!run.discardIfUnused()) run.setStatus('failed', { message: (e as Error).message });
    throw e;
  } finally {
    interrupt.dispose();
  }
}

/**
 * A finished run's result as `logResult` logged it: the `{ kind: 'run' }`
 * record whose identity fields (variant, lr, seed) equal `identity`, with
 * each kind of row records of the same identity as an array under its kind;
 * null when that run did not finish.
 */
export function restoreResult<R>(records: readonly Record<string, unknown>[], identity: Record<string, unknown>): R | null {
  const mine = (r: Record<string, unknown>): boolean => Object.entries(identity).every(([k, v]) => r[k] === v);
  const runRecord = [...records].reverse().find((r) => r.kind === 'run' && mine(r));
  if (!runRecord) return null;
  const { kind: _k, ...result } = runRecord;
  for (const r of records) {
    if (r.kind === 'run' || typeof r.kind !== 'string' || !mine(r)) continue;
    const { kind, ...row } = r;
    ((result[kind as string] ??= []) as unknown[]).push(row);
  }
  return result as R;
}

/**
 * Appends what one finished run of an experiment measured to the run
 * folder's metrics log: each row of its arrays of objects as one record
 * `{ kind: <field>, variant, lr, seed, ...row }` (the identity fields the
 * result has), and everything else (scalars, the per-step losses) as one
 * record `{ kind: 'run', ... }`.
 */
export function logResult(run: RunDir, result: object): void {
  const identity = Object.fromEntries(['variant', 'lr', 'seed'].filter((k) => k in result).map((k) => [k, (result as Record<string, unknown>)[k]]));
  const rest: Record<string, unknown> = {};
  const rows: [string, object[]][] = [];
  for (const [key, value] of Object.entries(result)) {
    if (Array.isArray(value) && value.length > 0 && value.every((v) => v !== null && typeof v === 'object' && !Array.isArray(v))) rows.push([key, value]);
    else rest[key] = value;
  }
  for (const [kind, list] of rows) for (const row of list) run.metrics.append({ kind, ...identity, ...row });
  run.metrics.append({ kind: 'run', ...rest });
}

/** The run's config as written to config.json: what the example describes, with the code version added. */
export function runConfig<C extends object>(config: C): C & { code: CodeVersion } {
  return { ...config, code: codeVersion(REPO_ROOT) };
}

/**
 * For tests: what `run` does with --help and with `badArgv` (exit codes and
 * output), to check against the usage and the expected error line.
 */
export async function usageBehaviour(run: (argv: readonly string[], io: Io) => Promise<number>, badArgv: readonly string[]): Promise<{ helpCode: number; helpOut: string; badCode: number; badErr: string }> {
  const help = captureIo();
  const helpCode = await run(['--help'], help.io);
  const bad = captureIo();
  const badCode = await run(badArgv, bad.io);
  return { helpCode, helpOut: help.out(), badCode, badErr: bad.err() };
}

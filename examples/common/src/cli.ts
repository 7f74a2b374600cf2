/**
 * The command line around an experiment: `runCli` parses the flags, prints
 * the usage for --help, turns usage errors into exit code 2 and other
 * errors into 1 (a `RunError` as its message alone, unless the options have
 * `debug` set, others with their stack; it returns the code instead of exiting, so tests can call it
 * in-process); run directories, CSV and JSON files, figures as SVG and
 * PNG, and the summary table.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writePng } from '@normlab/plot';
import { type HelpOption, type ProgressOption, RunError, UsageError } from './args.js';
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

/** `out`, or runs/<example>/<timestamp> at the repository root; created. */
export function makeRunDir(example: string, out: string | null): string {
  const dir = resolve(out ?? join(REPO_ROOT, 'runs', example, runId()));
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function writeJson(path: string, value: unknown): void {
  writeFileSync(path, `${JSON.stringify(value, null, 1)}\n`);
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

/** What an experiment needs to start: its run directory (created), the progress mode, and `say` for lines shown unless --progress none. */
export function openRun(example: string, options: { out: string | null; progress: ProgressOption }, io: Io): { dir: string; progressMode: ProgressMode; say: (line: string) => void } {
  const dir = makeRunDir(example, options.out);
  const progressMode = resolveProgressMode(options.progress, io.stdout);
  const say = (line: string): void => {
    if (progressMode !== 'none') io.stdout.write(`${line}\n`);
  };
  return { dir, progressMode, say };
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

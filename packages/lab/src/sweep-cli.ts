/**
 * `pnpm sweep <file>`: expands a sweep file into runs, runs those not done
 * yet (locally or on Slurm), and aggregates every done run: aggregate.json,
 * summary.md, one figure per metric, report.html. The repository's wrapper
 * (examples/sweep.mjs) builds the examples and says how to start one.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type SweepAggregate, aggregateSweep } from './aggregate.js';
import { writeFileAtomic } from './atomic-write.js';
import { codeVersion } from './code-version.js';
import { RunError } from './errors.js';
import { watchInterrupt } from './interrupt.js';
import { readMetrics } from './metrics-log.js';
import { type ExampleCommand, type ExecResult, type SweepLayout, type SweepProgress, runDir, runLocal, runSlurm, runState } from './sweep-exec.js';
import { metricFigures, reportHtml, summaryMarkdown } from './sweep-report.js';
import { type SweepSpec, expandSweep, parseSweep } from './sweep-spec.js';

/** The usage text of `pnpm sweep`. */
export const SWEEP_USAGE = `usage: pnpm sweep <file> [flags]

Runs the example a sweep file names over its grid and seeds, skipping the
runs that are done (a sweep started again resumes), and aggregates every
done run: mean and 95% confidence interval over the seeds of each metric
along x (aggregate.json, summary.md, <metric>.svg, report.html).

flags:
  --executor local|slurm  local (default): --jobs processes on this machine, one thread
                          each; slurm: one sbatch job array, followed with squeue
  --jobs N                local: runs at once (default: the number of cores)
  --retries N             slurm: resubmit the tasks that failed up to N times (default 0)
  --poll-seconds S        slurm: seconds between squeue polls (default 5)
  --out DIR               the sweep folder (default runs/sweeps/<name> at the repository root)
  --aggregate-only        run nothing; aggregate the runs that are done
  --progress MODE         auto|bar|plain|none (default auto: a bar on a TTY, plain lines otherwise)
  --debug                 print the stack trace of an error too
  --help                  print this and exit

The sweep file (JSON, or a .js/.mjs module exporting it, or .ts/.mts on
Node 23.6+): see docs/runs.md.
`;

/** The parsed flags of `pnpm sweep`. */
export interface SweepCliOptions {
  file: string;
  executor: 'local' | 'slurm';
  jobs: number;
  retries: number;
  pollSeconds: number;
  out: string | null;
  aggregateOnly: boolean;
  progress: 'auto' | 'bar' | 'plain' | 'none';
  debug: boolean;
}

/** A command-line mistake: the CLI prints it with the usage and exits 2. */
export class SweepUsageError extends Error {
  override name = 'SweepUsageError';
}

/** Parses the sweep command's arguments (`defaultJobs`: the number of cores). */
export function parseSweepArgs(argv: readonly string[], defaultJobs: number): SweepCliOptions | 'help' {
  const o: SweepCliOptions = { file: '', executor: 'local', jobs: defaultJobs, retries: 0, pollSeconds: 5, out: null, aggregateOnly: false, progress: 'auto', debug: false };
  const int = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < min) throw new SweepUsageError(`${flag} expects an integer >= ${min}, got '${v ?? ''}'`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [name, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = (): string | undefined => inline ?? argv[++i];
    switch (name) {
      case '--help': case '-h': return 'help';
      case '--executor': {
        const v = value();
        if (v !== 'local' && v !== 'slurm') throw new SweepUsageError(`--executor expects local or slurm, got '${v ?? ''}'`);
        o.executor = v;
        break;
      }
      case '--jobs': o.jobs = int('--jobs', value(), 1); break;
      case '--retries': o.retries = int('--retries', value(), 0); break;
      case '--poll-seconds': o.pollSeconds = int('--poll-seconds', value(), 1); break;
      case '--out': {
        const v = value();
        if (!v) throw new SweepUsageError('--out expects a folder');
        o.out = v;
        break;
      }
      case '--aggregate-only': o.aggregateOnly = true; break;
      case '--debug': o.debug = true; break;
      case '--progress': {
        const v = value();
        if (v !== 'auto' && v !== 'bar' && v !== 'plain' && v !== 'none') throw new SweepUsageError(`--progress expects auto, bar, plain or none, got '${v ?? ''}'`);
        o.progress = v;
        break;
      }
      default:
        if (a.startsWith('-')) throw new SweepUsageError(`unknown flag '${name}'`);
        if (o.file) throw new SweepUsageError(`one sweep file at a time, got '${o.file}' and '${a}'`);
        o.file = a;
    }
  }
  if (!o.file) throw new SweepUsageError('no sweep file given');
  return o;
}

/**
 * Reads and validates a sweep file: JSON, or a JavaScript or TypeScript
 * module whose default export is the sweep (TypeScript where Node strips
 * types itself: Node 23.6 and later).
 */
export async function loadSweepFile(file: string): Promise<SweepSpec> {
  if (!existsSync(file)) throw new RunError(`${file}: no such sweep file`);
  let value: unknown;
  if (/\.m?ts$/.test(file) && !(process.features as { typescript?: string }).typescript) {
    throw new RunError(`${file}: a TypeScript sweep file needs Node 23.6 or later (this is Node ${process.versions.node}); write it as .json or .mjs`);
  }
  if (/\.m?[jt]s$/.test(file)) {
    value = ((await import(pathToFileURL(resolve(file)).href)) as { default?: unknown }).default;
  } else {
    try {
      value = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new RunError(`${file}: not valid JSON (${(e as Error).message})`);
    }
  }
  return parseSweep(value, file);
}

/** Where `sweepCli` writes (process.stdout and stderr, or captures in tests). */
export interface SweepIo {
  stdout: { write(s: string): void; isTTY?: boolean };
  stderr: { write(s: string): void };
}

/** What `sweepCli` needs from the repository around it. */
export interface SweepEnv {
  /** The repository root (default sweep folders live in runs/sweeps/ there). */
  root: string;
  /** How to start an example (after building it). */
  exampleCommand: (example: string) => ExampleCommand;
  /** The number of cores (the default of --jobs). */
  cores: number;
}

const clock = (s: number | null): string => {
  if (s === null || !Number.isFinite(s)) return '--:--';
  const t = Math.round(s);
  return `${String(Math.floor(t / 60)).padStart(2, '0')}:${String(t % 60).padStart(2, '0')}`;
};

/** "5/12 done (3 skipped), 2 running, 1 failed, 00:42 elapsed, ETA 01:10". */
export function describeProgress(p: SweepProgress): string {
  return `${p.done}/${p.total} done${p.skipped > 0 ? ` (${p.skipped} skipped)` : ''}, ${p.running} running, ${p.failed} failed, ${clock(p.elapsed)} elapsed, ETA ${clock(p.eta)}`;
}

/** Aggregates the done runs and writes the sweep's files; returns the aggregate. */
export function writeAggregate(spec: SweepSpec, layout: SweepLayout, ctx: { command: string; executor: string; seconds: Map<string, number> }): SweepAggregate {
  const done = layout.runs.filter((r) => runState(layout, r) === 'done');
  const agg = aggregateSweep(spec, done.map((run) => ({ run, records: readMetrics(join(runDir(layout, run), 'metrics.jsonl')).records })));
  writeFileAtomic(join(layout.dir, 'aggregate.json'), `${JSON.stringify(agg, null, 1)}\n`);
  writeFileAtomic(join(layout.dir, 'summary.md'), summaryMarkdown(agg));
  const figures = metricFigures(agg);
  for (const [m, svg] of Object.entries(figures)) writeFileAtomic(join(layout.dir, `${m}.svg`), svg);
  const runs = layout.runs.map((r) => ({ id: r.id, state: runState(layout, r), seconds: ctx.seconds.get(r.id) ?? null }));
  writeFileAtomic(join(layout.dir, 'report.html'), reportHtml(agg, figures, { command: ctx.command, executor: ctx.executor, created: new Date().toISOString(), runs }));
  return agg;
}

/** The sweep command; resolves to the exit code (0 all done, 1 some failed, 2 usage error, 130 interrupted). */
export async function sweepCli(argv: readonly string[], io: SweepIo, env: SweepEnv): Promise<number> {
  let o: SweepCliOptions | 'help';
  try {
    o = parseSweepArgs(argv, env.cores);
  } catch (e) {
    if (!(e instanceof SweepUsageError)) throw e;
    io.stderr.write(`sweep: ${e.message}\n\n${SWEEP_USAGE}`);
    return 2;
  }
  if (o === 'help') {
    io.stdout.write(SWEEP_USAGE);
    return 0;
  }
  const options = o;
  try {
    return await sweep(options, argv, io, env);
  } catch (e) {
    if (e instanceof RunError) {
      io.stderr.write(`sweep: ${options.debug ? (e.stack ?? e.message) : e.message}\n`);
      return 1;
    }
    throw e;
  }
}

async function sweep(o: SweepCliOptions, argv: readonly string[], io: SweepIo, env: SweepEnv): Promise<number> {
  const spec = await loadSweepFile(o.file);
  const runs = expandSweep(spec);
  const dir = resolve(o.out ?? join(env.root, 'runs', 'sweeps', spec.name));
  const layout: SweepLayout = { dir, runs, command: env.exampleCommand(spec.example) };
  const mode = o.progress === 'auto' ? (io.stdout.isTTY ? 'bar' : 'plain') : o.progress;
  const say = (s: string): void => {
    if (mode !== 'none') io.stdout.write(`${s}\n`);
  };
  // The sweep's identity: another example or other fixed flags in the same folder would mix two sweeps.
  const recordPath = join(dir, 'sweep.json');
  if (o.aggregateOnly && !existsSync(recordPath)) throw new RunError(`--aggregate-only: no sweep in ${dir} (no sweep.json); run the sweep first`);
  if (existsSync(recordPath)) {
    let before: { spec?: SweepSpec };
    try {
      before = JSON.parse(readFileSync(recordPath, 'utf8'));
    } catch (e) {
      throw new RunError(`${recordPath}: damaged, not valid JSON (${(e as Error).message})`);
    }
    if (before.spec?.example !== spec.example || JSON.stringify(before.spec?.args) !== JSON.stringify(spec.args)) {
      throw new RunError(`${dir} holds a sweep of ${before.spec?.example ?? '?'} with other fixed flags (args); --out another folder`);
    }
  }
  const command = ['pnpm sweep', ...argv].join(' ');
  say(`sweep ${spec.name}: ${spec.example}, ${runs.length} runs (${runs.length / spec.seeds.length} configs x ${spec.seeds.length} seeds), ${o.aggregateOnly ? 'aggregating only' : `executor ${o.executor}${o.executor === 'local' ? `, ${o.jobs} at a time` : ''}`}`);
  say(`sweep folder: ${dir}`);
  let result: ExecResult = { states: new Map(runs.map((r) => [r.id, runState(layout, r)])), seconds: new Map() };
  let interrupted = false;
  if (!o.aggregateOnly) {
    mkdirSync(dir, { recursive: true });
    writeFileAtomic(recordPath, `${JSON.stringify({ spec, command, code: codeVersion(env.root), updated: new Date().toISOString() }, null, 1)}\n`);
    let last = '';
    // Plain lines only when a run finishes (not each time one starts).
    let lastCounts = '';
    const onProgress = (p: SweepProgress): void => {
      const line = `sweep: ${describeProgress(p)}`;
      if (mode === 'bar') io.stdout.write(`\r${line.padEnd(last.length)}`);
      else if (mode === 'plain' && `${p.done} ${p.failed}` !== lastCounts) io.stdout.write(`${line}\n`);
      last = line;
      lastCounts = `${p.done} ${p.failed}`;
    };
    const interrupt = watchInterrupt();
    try {
      result = o.executor === 'local'
        ? await runLocal(layout, { jobs: o.jobs, onProgress, stopRequested: () => interrupt.requested })
        : await runSlurm(layout, spec.name, { slurm: spec.slurm, retries: o.retries, pollSeconds: o.pollSeconds, onProgress, say });
    } finally {
      interrupt.dispose();
      if (mode === 'bar') io.stdout.write('\n');
    }
    interrupted = interrupt.requested;
  }
  const agg = writeAggregate(spec, layout, { command, executor: o.aggregateOnly ? 'none (aggregate only)' : o.executor, seconds: result.seconds });
  const notDone = runs.filter((r) => result.states.get(r.id) !== 'done' && runState(layout, r) !== 'done');
  say('');
  if (mode !== 'none') io.stdout.write(summaryMarkdown(agg));
  say(`\nwritten to ${dir}: aggregate.json, summary.md, ${agg.y.map((m) => `${m}.svg`).join(', ')}, report.html`);
  if (interrupted) {
    io.stderr.write(`sweep: interrupted; ${notDone.length} run${notDone.length === 1 ? '' : 's'} not done; the same command continues\n`);
    return 130;
  }
  if (notDone.length > 0) {
    io.stderr.write(`sweep: ${notDone.length} run${notDone.length === 1 ? '' : 's'} not done: ${notDone.slice(0, 5).map((r) => `${r.id} (${runState(layout, r)}; log ${join(dir, 'logs', o.executor === 'local' ? `${r.id}.log` : '')})`).join(', ')}${notDone.length > 5 ? ', ...' : ''}\n`);
    return 1;
  }
  return 0;
}


/**
 * Running a sweep's runs. Each run is one process of the example with
 * `--out <sweep>/runs/<id> --progress none`; its status.json says whether it
 * is done, so a sweep started again skips the runs that are (a run that
 * failed or was interrupted starts over, `--force` moving its folder aside).
 * Executors:
 * - local: up to `jobs` processes at once on this machine, one thread each;
 * - Slurm: one sbatch job array (a task per run), followed with squeue, the
 *   runs' folders shared with the compute nodes; failed tasks resubmitted
 *   up to `retries` times.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RunError } from './errors.js';
import type { RunStatus } from './run-dir.js';
import type { SlurmSpec, SweepRun } from './sweep-spec.js';

/** A run's state in the sweep: its status.json's, or 'pending' before it has one. */
export type SweepRunState = RunStatus['state'] | 'pending';

/** How to start the example: the program and the arguments before the run's own. */
export interface ExampleCommand {
  program: string;
  args: string[];
}

/** The runs of a sweep in its folder. */
export interface SweepLayout {
  /** The sweep's folder: runs/, logs/, slurm/ and the aggregate files. */
  dir: string;
  runs: readonly SweepRun[];
  command: ExampleCommand;
}

/** The run folder of `run`. */
export const runDir = (layout: SweepLayout, run: SweepRun): string => join(layout.dir, 'runs', run.id);

/** The state of a run from its status.json. */
export function runState(layout: SweepLayout, run: SweepRun): SweepRunState {
  try {
    const status = JSON.parse(readFileSync(join(runDir(layout, run), 'status.json'), 'utf8')) as RunStatus;
    return status.state;
  } catch {
    return 'pending';
  }
}

/** The full argument list of one run (a folder left by an earlier attempt is moved aside with --force). */
export function runArgs(layout: SweepLayout, run: SweepRun): string[] {
  const dir = runDir(layout, run);
  return [...layout.command.args, ...run.args, '--out', dir, '--progress', 'none', ...(existsSync(dir) ? ['--force'] : [])];
}

/** Counts for the progress display. */
export interface SweepProgress {
  total: number;
  done: number;
  running: number;
  failed: number;
  /** Runs already done when this invocation started (skipped). */
  skipped: number;
  /** Seconds since this invocation started. */
  elapsed: number;
  /** Estimated seconds left, or null before a run of this invocation has finished. */
  eta: number | null;
}

/** Options of `runLocal`. */
export interface LocalOptions {
  /** Processes at once (each on one thread, NORMLAB_THREADS=1). */
  jobs: number;
  onProgress?: (p: SweepProgress) => void;
  /** Checked between runs: when true, no new run starts (the running ones are waited for). */
  stopRequested?: () => boolean;
}

/** What an executor reports at the end. */
export interface ExecResult {
  states: Map<string, SweepRunState>;
  /** Seconds each run of this invocation took (from the executor's view). */
  seconds: Map<string, number>;
}

/** The progress of this invocation: `todo` runs were not done at its start, `doneHere` of them are now. */
function progressOf(layout: SweepLayout, todo: number, started: number, doneHere: number, running: number, failed: number): SweepProgress {
  const total = layout.runs.length;
  const skipped = total - todo;
  const elapsed = (performance.now() - started) / 1000;
  const left = todo - doneHere - failed;
  const eta = doneHere === 0 ? null : left <= 0 ? 0 : (elapsed / doneHere) * left;
  return { total, done: skipped + doneHere, running, failed, skipped, elapsed, eta };
}

/** Runs every run that is not done on this machine, `jobs` at a time. */
export async function runLocal(layout: SweepLayout, options: LocalOptions): Promise<ExecResult> {
  if (!Number.isInteger(options.jobs) || options.jobs < 1) throw new RunError(`sweep: --jobs must be a positive integer, got ${options.jobs}`);
  mkdirSync(join(layout.dir, 'logs'), { recursive: true });
  mkdirSync(join(layout.dir, 'runs'), { recursive: true });
  const todo = layout.runs.filter((r) => runState(layout, r) !== 'done');
  const started = performance.now();
  let finished = 0;
  const seconds = new Map<string, number>();
  let failed = 0;
  let running = 0;
  const report = (): void => options.onProgress?.(progressOf(layout, todo.length, started, finished, running, failed));
  report();
  let next = 0;
  const one = async (run: SweepRun): Promise<void> => {
    const t0 = performance.now();
    const log = openSync(join(layout.dir, 'logs', `${run.id}.log`), 'a');
    const code = await new Promise<number>((resolve) => {
      const child = spawn(layout.command.program, runArgs(layout, run), {
        stdio: ['ignore', log, log],
        env: { ...process.env, NORMLAB_THREADS: '1' },
      });
      child.on('error', () => resolve(-1));
      child.on('close', (c, signal) => resolve(c ?? (signal ? 128 : -1)));
    });
    closeSync(log);
    seconds.set(run.id, (performance.now() - t0) / 1000);
    if (code === 0 && runState(layout, run) === 'done') finished++;
    else failed++;
  };
  await Promise.all(Array.from({ length: Math.min(options.jobs, todo.length) }, async () => {
    while (next < todo.length && !(options.stopRequested?.() ?? false)) {
      const run = todo[next++];
      running++;
      report();
      await one(run);
      running--;
      report();
    }
  }));
  return { states: new Map(layout.runs.map((r) => [r.id, runState(layout, r)])), seconds };
}

/** A shell word: single-quoted unless it is plainly safe. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./=:,+@%-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Options of `runSlurm`. */
export interface SlurmOptions {
  slurm: SlurmSpec;
  /** Resubmissions of the tasks that failed (default 0). */
  retries: number;
  /** Seconds between squeue polls. */
  pollSeconds: number;
  onProgress?: (p: SweepProgress) => void;
  /** Lines about submissions, for the user. */
  say?: (line: string) => void;
  /** The sbatch and squeue programs (default from the PATH). */
  sbatch?: string;
  squeue?: string;
}

/** The sbatch script of a job array: task i runs `runs[i]`. */
export function slurmScript(layout: SweepLayout, runs: readonly SweepRun[], slurm: SlurmSpec, name: string): string {
  const lines = [
    '#!/bin/bash',
    `#SBATCH --job-name=${shellQuote(`normlab-${name}`)}`,
    `#SBATCH --output=${shellQuote(join(layout.dir, 'logs', 'slurm-%A_%a.log'))}`,
    `#SBATCH --cpus-per-task=${slurm.cpusPerTask ?? 1}`,
    ...(slurm.time ? [`#SBATCH --time=${shellQuote(slurm.time)}`] : []),
    ...(slurm.mem ? [`#SBATCH --mem=${shellQuote(slurm.mem)}`] : []),
    ...(slurm.partition ? [`#SBATCH --partition=${shellQuote(slurm.partition)}`] : []),
    ...(slurm.account ? [`#SBATCH --account=${shellQuote(slurm.account)}`] : []),
    ...(slurm.extra ?? []).map((o) => `#SBATCH ${o}`),
    '# One task per run; the runs write into the sweep folder, which the compute nodes share.',
    `export NORMLAB_THREADS=${slurm.cpusPerTask ?? 1}`,
    'case "$SLURM_ARRAY_TASK_ID" in',
    ...runs.map((r, i) => `  ${i}) exec ${[layout.command.program, ...runArgs(layout, r)].map(shellQuote).join(' ')} ;;`),
    '  *) echo "no run for array task $SLURM_ARRAY_TASK_ID" >&2; exit 2 ;;',
    'esac',
    '',
  ];
  return lines.join('\n');
}

function run(program: string, args: string[]): string {
  const r = spawnSync(program, args, { encoding: 'utf8' });
  if (r.error) throw new RunError(`sweep: cannot run ${program}: ${(r.error as NodeJS.ErrnoException).code ?? r.error.message} (is Slurm's client installed and on the PATH?)`);
  if (r.status !== 0) throw new RunError(`sweep: ${program} ${args.join(' ')} failed: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

/** The tasks of `job` still in the queue, as squeue's "id STATE" lines (none once the job has left it). */
function queuedTasks(squeue: string, job: string): string[] {
  const r = spawnSync(squeue, ['-h', '-j', job, '-o', '%i %T'], { encoding: 'utf8' });
  if (r.error) throw new RunError(`sweep: cannot run ${squeue}: ${(r.error as NodeJS.ErrnoException).code ?? r.error.message}`);
  // A job that has left the queue is unknown to squeue: an error, which means "none left" here.
  if (r.status !== 0) {
    if (/Invalid job id/i.test(r.stderr)) return [];
    throw new RunError(`sweep: ${squeue} -j ${job} failed: ${r.stderr.trim()}`);
  }
  return r.stdout.trim().split('\n').filter(Boolean);
}

const sleep = (s: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, s * 1000));

/** Submits every run that is not done as one job array, follows it to the end, and resubmits failures up to `retries` times. */
export async function runSlurm(layout: SweepLayout, name: string, options: SlurmOptions): Promise<ExecResult> {
  const sbatch = options.sbatch ?? 'sbatch';
  const squeue = options.squeue ?? 'squeue';
  mkdirSync(join(layout.dir, 'logs'), { recursive: true });
  mkdirSync(join(layout.dir, 'runs'), { recursive: true });
  mkdirSync(join(layout.dir, 'slurm'), { recursive: true });
  const started = performance.now();
  const seconds = new Map<string, number>();
  const todoAtStart = layout.runs.filter((r) => runState(layout, r) !== 'done').length;
  for (let attempt = 0; attempt <= options.retries; attempt++) {
    const todo = layout.runs.filter((r) => runState(layout, r) !== 'done');
    if (todo.length === 0) break;
    const script = join(layout.dir, 'slurm', `array-${attempt}.sh`);
    writeFileSync(script, slurmScript(layout, todo, options.slurm, name), { mode: 0o755 });
    writeFileSync(join(layout.dir, 'slurm', `array-${attempt}.runs.json`), `${JSON.stringify(todo.map((r) => r.id), null, 1)}\n`);
    const job = run(sbatch, ['--parsable', `--array=0-${todo.length - 1}`, script]).trim().split(';')[0];
    if (!/^\d+$/.test(job)) throw new RunError(`sweep: sbatch did not print a job id: '${job}'`);
    options.say?.(`sweep: submitted job array ${job} (${todo.length} task${todo.length === 1 ? '' : 's'}${attempt > 0 ? `, retry ${attempt}` : ''}): ${script}`);
    const t0 = performance.now();
    for (;;) {
      const queued = queuedTasks(squeue, job);
      const states = todo.map((r) => runState(layout, r));
      const finished = states.filter((s) => s === 'done').length;
      const failed = queued.length === 0 ? states.filter((s) => s !== 'done').length : states.filter((s) => s === 'failed').length;
      const runningNow = queued.filter((l) => / RUNNING$/.test(l)).length;
      options.onProgress?.(progressOf(layout, todoAtStart, started, finished + (todoAtStart - todo.length), runningNow, failed));
      if (queued.length === 0) break;
      await sleep(options.pollSeconds);
    }
    for (const r of todo) seconds.set(r.id, (performance.now() - t0) / 1000);
  }
  return { states: new Map(layout.runs.map((r) => [r.id, runState(layout, r)])), seconds };
}

/**
 * A run folder:
 *
 *     config.json     the full resolved config and the code version (written once per invocation)
 *     status.json     running | done | failed (with the error) | interrupted (with the checkpoint)
 *     metrics.jsonl   append-only, one record per line (see metrics-log.ts)
 *     checkpoints/    written atomically, stale temporary files removed at the next save
 *     ...             figures and tables, rewritten from the log at the end
 *
 * `create` refuses a folder that exists and is not empty, unless `force`
 * moves it aside (never deletes it); `open` is for resuming. A folder this
 * invocation created and wrote no metrics or checkpoint into is removed again
 * by `discardIfUnused` (a run that failed before it started leaves nothing).
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from './atomic-write.js';
import { CheckpointStore } from './checkpoints.js';
import { RunError } from './errors.js';
import { MetricsLog } from './metrics-log.js';

/** Where a run stands: training now, finished, stopped by an error, or stopped by Ctrl-C with a checkpoint to resume from. */
export type RunState = 'running' | 'done' | 'failed' | 'interrupted';

/** The content of status.json. */
export interface RunStatus {
  state: RunState;
  /** When the status was written (ISO 8601). */
  updated: string;
  /** The error of a failed run, or what an interrupted one saved. */
  message?: string;
  /** The checkpoint an interrupted run saved (to resume from). */
  checkpoint?: string;
}

/** Options of `RunDir.create`. */
export interface CreateOptions {
  /** Move an existing, non-empty folder aside to `<dir>.replaced-<timestamp>` instead of refusing it. */
  force?: boolean;
  /** How the CLI names --resume and --force in the refusal (defaults as written). */
  resumeFlag?: string;
  forceFlag?: string;
}

const stamp = (): string => new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');

/** A run folder (see the module comment): `create` for a new run, `open` to resume one. */
export class RunDir {
  readonly dir: string;
  readonly metrics: MetricsLog;
  readonly checkpoints: CheckpointStore;
  /** Where `create` with `force` moved the folder that was there (null otherwise). */
  readonly movedAside: string | null;
  private readonly created: boolean;

  private constructor(dir: string, created: boolean, movedAside: string | null) {
    this.dir = dir;
    this.created = created;
    this.movedAside = movedAside;
    this.metrics = new MetricsLog(join(dir, 'metrics.jsonl'));
    this.checkpoints = new CheckpointStore(join(dir, 'checkpoints'));
  }

  /** A new run in `dir` (created); refuses a non-empty existing folder unless `force`. */
  static create(dir: string, options: CreateOptions = {}): RunDir {
    const path = resolve(dir);
    let movedAside: string | null = null;
    if (existsSync(path)) {
      let entries: string[];
      try {
        entries = readdirSync(path);
      } catch (e) {
        throw new RunError(`${path} exists and is not a folder that can be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
      if (entries.length > 0) {
        if (!options.force) {
          const what = existsSync(join(path, 'config.json')) ? 'holds a run' : 'is not empty';
          throw new RunError(`${path} ${what}; ${options.resumeFlag ?? '--resume'} ${dir} continues it, ${options.forceFlag ?? '--force'} moves it aside and starts a new run`);
        }
        movedAside = `${path}.replaced-${stamp()}`;
        try {
          renameSync(path, movedAside);
        } catch (e) {
          throw new RunError(`cannot move ${path} aside to ${movedAside}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
      }
    }
    const existed = existsSync(path);
    try {
      mkdirSync(path, { recursive: true });
    } catch (e) {
      throw new RunError(`cannot create the run folder ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    return new RunDir(path, !existed, movedAside);
  }

  /** An existing run in `dir`, to resume; it must hold a config.json. */
  static open(dir: string): RunDir {
    const path = resolve(dir);
    if (!existsSync(join(path, 'config.json'))) throw new RunError(`${path}: no config.json there (not a run folder)`);
    return new RunDir(path, false, null);
  }

  /** config.json, parsed; a RunError naming the file when it is missing or damaged. */
  readConfig<C>(): C {
    const path = join(this.dir, 'config.json');
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new RunError(`${path}: cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    try {
      return JSON.parse(text) as C;
    } catch (e) {
      throw new RunError(`${path}: damaged, not valid JSON (${(e as Error).message}); restore it or start a new run`);
    }
  }

  writeConfig(config: unknown): void {
    this.write('config.json', `${JSON.stringify(config, null, 1)}\n`);
  }

  /** status.json, or null when there is none (or it is damaged: the status is advisory). */
  status(): RunStatus | null {
    try {
      return JSON.parse(readFileSync(join(this.dir, 'status.json'), 'utf8')) as RunStatus;
    } catch {
      return null;
    }
  }

  setStatus(state: RunState, extra: { message?: string; checkpoint?: string } = {}): void {
    const status: RunStatus = { state, updated: new Date().toISOString(), ...extra };
    this.write('status.json', `${JSON.stringify(status, null, 1)}\n`);
  }

  /** Writes a file of the run atomically (figures, tables). */
  write(name: string, data: string | Uint8Array): void {
    try {
      writeFileAtomic(join(this.dir, name), data);
    } catch (e) {
      throw new RunError(`cannot write ${join(this.dir, name)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }

  /**
   * Removes the folder when this invocation created it and no metrics or
   * checkpoint were written into it (a run that failed before training);
   * returns whether it did.
   */
  discardIfUnused(): boolean {
    if (!this.created) return false;
    if (existsSync(this.metrics.path) || (existsSync(this.checkpoints.dir) && readdirSync(this.checkpoints.dir).length > 0)) return false;
    rmSync(this.dir, { recursive: true, force: true });
    return true;
  }
}

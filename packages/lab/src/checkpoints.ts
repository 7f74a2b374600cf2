/**
 * A run's checkpoints: one folder of files whose names carry the step. Each
 * save first removes the temporary files that interrupted saves left there
 * (up to a model's size each); resuming takes the newest checkpoint that
 * loads, naming and skipping the damaged ones.
 */
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { removeStaleTempFiles } from './atomic-write.js';

/** A checkpoint file of a store: its name, path and the step its name carries. */
export interface CheckpointFile {
  name: string;
  path: string;
  step: number;
}

/** A checkpoint `newestValid` passed over, and why. */
export interface SkippedCheckpoint {
  path: string;
  /** Why it did not load (the loader's error message). */
  reason: string;
}

/** The checkpoint `newestValid` loaded, with what its loader returned. */
export interface LoadedCheckpoint<T> extends CheckpointFile {
  value: T;
}

/** The checkpoints folder of a run (see the module comment). */
export class CheckpointStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** The path of checkpoint `name` in this store. */
  path(name: string): string {
    return join(this.dir, name);
  }

  /**
   * Saves checkpoint `name` with `write(path)`, which must write atomically
   * (as @normlab/nn's `save` does); stale temporary files are removed first.
   * Resolves to the checkpoint's path.
   */
  async save(name: string, write: (path: string) => Promise<void> | void): Promise<string> {
    mkdirSync(this.dir, { recursive: true });
    removeStaleTempFiles(this.dir);
    const path = this.path(name);
    await write(path);
    return path;
  }

  /** The checkpoints whose names match `pattern` (its first group is the step), newest first. */
  list(pattern: RegExp): CheckpointFile[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    const found: CheckpointFile[] = [];
    for (const name of names) {
      const m = pattern.exec(name);
      if (m && m[1] !== undefined) found.push({ name, path: join(this.dir, name), step: Number(m[1]) });
    }
    return found.sort((a, b) => b.step - a.step);
  }

  /**
   * The newest checkpoint matching `pattern` that `load` reads without
   * throwing, with the newer ones it skipped and why; `loaded` is null when
   * none loads. `load` must leave nothing half-applied when it throws.
   */
  newestValid<T>(pattern: RegExp, load: (path: string) => T): { loaded: LoadedCheckpoint<T> | null; skipped: SkippedCheckpoint[] } {
    const skipped: SkippedCheckpoint[] = [];
    for (const file of this.list(pattern)) {
      try {
        return { loaded: { ...file, value: load(file.path) }, skipped };
      } catch (e) {
        skipped.push({ path: file.path, reason: (e as Error).message });
      }
    }
    return { loaded: null, skipped };
  }
}

/**
 * Files written so that a crash or Ctrl-C at any moment leaves either the old
 * content or the new, never a mix: the bytes go to a temporary file beside
 * the target (same directory, so the rename is atomic), are synced to disk,
 * then renamed over it.
 */
import { closeSync, fsyncSync, openSync, readdirSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Temporary files of a write: `.<name>.<pid>.<random>.tmp` (as @normlab/nn's `save` names them too). */
export const TEMP_FILE = /^\..+\.(\d+)\.[0-9a-f]+\.tmp$/;

/** Whether process `pid` exists (another live process may be writing its temporary file right now). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Writes `data` to `path` atomically and durably. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Math.random().toString(16).slice(2, 10)}.tmp`);
  let fd: number | null = null;
  try {
    fd = openSync(tmp, 'wx');
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at, bytes.length - at);
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== null) closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Removes the temporary files that interrupted writes left in `dir` (this
 * process's own, whose writes are over when it calls this, and those of
 * processes that no longer exist); returns their names.
 */
export function removeStaleTempFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const stale = names.filter((n) => {
    const m = TEMP_FILE.exec(n);
    return m !== null && (Number(m[1]) === process.pid || !alive(Number(m[1])));
  });
  for (const n of stale) {
    try {
      unlinkSync(join(dir, n));
    } catch {
      // removed meanwhile
    }
  }
  return stale;
}

/**
 * Garbage collection on demand for tests of FinalizationRegistry backstops
 * (vitest does not pass --expose-gc). Import it from a test file:
 * `import { gc, settle } from '../../tensor/test/gc.js'`.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
/** A full garbage collection, now. */
export const gc = runInNewContext('gc') as () => void;

/** Rounds of garbage collection, each followed by a pause in which queued finalizers run. */
export async function settle(rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 5));
  }
}

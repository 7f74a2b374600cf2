/**
 * Anomaly detection, as torch.autograd.detect_anomaly: inside
 * `detectAnomaly(fn)` every op records where its forward was called, and the
 * backward checks each gradient an op returns; the first one with a NaN or
 * an infinite value stops the backward with an error naming the op and that
 * place. A NaN batch otherwise poisons, say, BatchNorm's running statistics
 * without a word; this finds where it came from. Slow (a stack trace per op,
 * a read-back per gradient): for debugging only.
 */

let depth = 0;

/** Whether anomaly detection is on (inside `detectAnomaly`). */
export function isAnomalyEnabled(): boolean {
  return depth > 0;
}

/**
 * Runs `fn` with anomaly detection on (scopes nest; off again when `fn`
 * returns or throws, or, for a promise, when it settles). Both the forward
 * (which records the places) and the backward (which checks) should run
 * inside.
 */
export function detectAnomaly<T>(fn: () => T): T {
  depth++;
  let result: T;
  try {
    result = fn();
  } catch (e) {
    depth--;
    throw e;
  }
  if (result !== null && typeof result === 'object' && typeof (result as { then?: unknown }).then === 'function') {
    return (result as unknown as Promise<unknown>).finally(() => depth--) as T;
  }
  depth--;
  return result;
}

/** Where the forward of an op was called: the stack without the frames of autograd itself. */
export function forwardStack(): string {
  const lines = (new Error().stack ?? '').split('\n').slice(1);
  const user = lines.filter((l) => !/[\\/]autograd[\\/](src|dist)[\\/]/.test(l));
  return (user.length > 0 ? user : lines).map((l) => l.trim()).join('\n');
}

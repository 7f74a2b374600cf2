/** Whether ops record the graph: on by default, off inside `noGrad`. */
let enabled = true;

/** Whether ops record the graph now (false inside `noGrad`). */
export function isGradEnabled(): boolean {
  return enabled;
}

/** Runs `fn` with graph recording set to `on`, restoring the previous mode afterwards (also on throw). */
export function withGradMode<T>(on: boolean, fn: () => T): T {
  const prev = enabled;
  enabled = on;
  try {
    return fn();
  } finally {
    enabled = prev;
  }
}

/**
 * Runs `fn` without recording the graph: results do not require grad. Use it
 * for evaluation and for in-place parameter updates, as `torch.no_grad()`.
 */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn);
}

/** Runs `fn` with graph recording on, even inside `noGrad`. */
export function enableGrad<T>(fn: () => T): T {
  return withGradMode(true, fn);
}

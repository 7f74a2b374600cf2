/**
 * Helpers of the optimizer tests (SGD, Adagrad, RMSprop): float64 tensors
 * and parameters, a relative closeness check, the shared starting point and
 * gradient sequence, and the lock-step check of an update function against
 * its optimizer.
 */
import { expect } from 'vitest';
import { Tensor, tensor } from '@normlab/autograd';
import { Parameter, type optim } from '../src/index.js';

/** The values of a tensor as a plain number array (row-major). */
export const vals = (t: Tensor): number[] => Array.from(t.toTypedArray(), Number);
/** A float64 tensor of `xs`. */
export const f64 = (xs: number[]): Tensor => tensor(xs, { dtype: 'float64' });
/** A float64 parameter of `xs`. */
export const param = (xs: number[]): Parameter => new Parameter(f64(xs));

/** Checks |a - b| <= tol * (1 + |b|) entrywise; throws naming the first entry that is off. */
export function expectClose(a: readonly number[], b: readonly number[], tol = 1e-12): void {
  expect(a.length).toBe(b.length);
  a.forEach((v, i) => {
    if (!(Math.abs(v - b[i]) <= tol * (1 + Math.abs(b[i])))) throw new Error(`entry ${i}: got ${v}, expected ${b[i]}`);
  });
}

export const P0 = [1, -2, 0.5];
export const GRADS = [[0.3, -0.1, 2], [-1, 0.5, 0.25], [0.7, 0.7, -0.4], [0, 1, -1]];

/**
 * Applies GRADS in turn both through the pure `update` (from `P0` and state
 * `state0`) and through `opt.step()` on `q` (a parameter of P0 that `opt`
 * optimizes): after each step the function's parameters match
 * `refParams[k]` and the optimizer's equal the function's.
 */
export function expectUpdateMatchesOptimizer<S>(
  update: (p: Tensor, g: Tensor, s: S) => { param: Tensor; state: S },
  state0: S,
  opt: optim.Optimizer<object>,
  q: Parameter,
  refParams: readonly number[][],
): void {
  let p: Tensor = f64(P0);
  let s = state0;
  GRADS.forEach((g, k) => {
    const next = update(p, f64(g), s);
    p = next.param;
    s = next.state;
    q.grad = f64(g);
    opt.step();
    expectClose(vals(p), refParams[k]);
    expect(vals(q)).toEqual(vals(p));
  });
}

/**
 * Helpers of the normalization-layer tests. These mirror
 * packages/autograd/test/helpers.ts but build tensors from '@normlab/autograd'
 * as the nn sources see it: importing that file would load a second copy of
 * the autograd classes (vitest resolves the package here to its build), and
 * `instanceof Tensor` checks would fail across the two.
 */
import fc from 'fast-check';
import { Tensor, gradcheck, gradgradcheck } from '@normlab/autograd';
import { Generator, type Shape, fromTyped, sizeOf } from '@normlab/tensor';

fc.configureGlobal({ ...fc.readConfigureGlobal(), includeErrorInReport: true });

/** A 32-bit seed. */
export const seedArb = fc.integer({ min: 0, max: 0x7fffffff });

/** A seeded float64 leaf with N(0, scale^2) values. */
export function randT(shape: Shape, seed: number, options: { scale?: number; requiresGrad?: boolean } = {}): Tensor {
  const g = new Generator(seed);
  const scale = options.scale ?? 1;
  const data = Float64Array.from({ length: sizeOf(shape) }, () => scale * g.normal());
  return new Tensor(fromTyped(data, shape), { requiresGrad: options.requiresGrad ?? true });
}

/** Fills a parameter (if any) with seeded N(0, 1) values, in place. */
export function randomize(p: Tensor | null, seed: number): void {
  if (p) p.data = randT(p.shape, seed, { requiresGrad: false }).data.astype(p.dtype);
}

/** The values of a tensor as a plain number array (row-major). */
export function vals(t: Tensor): number[] {
  return Array.from(t.toTypedArray(), Number);
}

/** Float64 central differences (eps 1e-6): tight enough to catch a wrong factor or a missing term. */
export const GRAD_TOL = { eps: 1e-6, atol: 1e-6, rtol: 1e-5 } as const;
export const GRADGRAD_TOL = { eps: 1e-6, atol: 1e-5, rtol: 1e-4 } as const;

/** Full-Jacobian gradient check (every one-hot upstream gradient); throws on mismatch. */
export function checkGrad(fn: (...xs: Tensor[]) => Tensor, inputs: readonly Tensor[]): void {
  gradcheck(fn, inputs, { ...GRAD_TOL, raiseException: true, checkForwardAD: true });
}

/** Second derivatives, with a seeded random upstream gradient. */
export function checkGradGrad(fn: (...xs: Tensor[]) => Tensor, inputs: readonly Tensor[], seed = 1): void {
  gradgradcheck(fn, inputs, { ...GRADGRAD_TOL, seed, raiseException: true, checkForwardAD: true });
}

/** Elementwise closeness of two number arrays (throws with the first mismatch). */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol = 1e-10, rtol = 1e-10, what = 'value'): void {
  if (actual.length !== expected.length) throw new Error(`${what}: length ${actual.length} vs expected ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    if (!(Math.abs(actual[i] - expected[i]) <= atol + rtol * Math.abs(expected[i]))) {
      throw new Error(`${what}: entry ${i} is ${actual[i]}, expected ${expected[i]} (atol ${atol}, rtol ${rtol})`);
    }
  }
}

/** Mean and biased variance of a list. */
export function moments(xs: ArrayLike<number>): { mean: number; variance: number } {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  const mean = s / xs.length;
  let v = 0;
  for (let i = 0; i < xs.length; i++) v += (xs[i] - mean) ** 2;
  return { mean, variance: v / xs.length };
}

/** Consecutive blocks of `size` values of a list. */
export function blocks(xs: readonly number[], size: number): number[][] {
  return Array.from({ length: xs.length / size }, (_, i) => xs.slice(i * size, (i + 1) * size));
}

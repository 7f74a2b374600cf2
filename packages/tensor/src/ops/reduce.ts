import type { ReduceOp } from '../backend.js';
import { type DType, isFloat } from '../dtype.js';
import { NDArray } from '../ndarray.js';
import { backendFor } from '../registry.js';
import { fmtShape, normalizeDim, normalizeDims, sizeOf } from '../shape.js';
import { checkNotDisposed } from '../tidy.js';
import { add, div, exp, log, mul, sub, where, isNan, logicalNot } from './elementwise.js';

/** Which dims to reduce (all when absent) and whether to keep them as size 1. */
export interface ReduceOptions {
  keepdim?: boolean;
}

function dropDims(x: NDArray, dims: readonly number[], keepdim: boolean): NDArray {
  return keepdim ? x : x.reshape(x.shape.filter((_, i) => !dims.includes(i)));
}

function reduceOp(op: ReduceOp, name: string, x: NDArray, dim: number | readonly number[] | undefined, keepdim: boolean, dtype: DType): NDArray {
  checkNotDisposed(name, x.storage);
  const dims = normalizeDims(name, dim, x.ndim);
  if ((op === 'max' || op === 'min') && dims.some((d) => x.shape[d] === 0)) {
    throw new RangeError(`${name}: cannot reduce over a zero-size dim of ${fmtShape(x.shape)}`);
  }
  return dropDims(backendFor(x.device).reduce(op, x, dims, dtype), dims, keepdim);
}

/** Sum over `dim` (all dims when absent). Integer and bool inputs sum to int32. */
export function sum(x: NDArray, dim?: number | readonly number[], options: ReduceOptions = {}): NDArray {
  return reduceOp('sum', 'sum', x, dim, options.keepdim ?? false, x.dtype === 'bool' ? 'int32' : x.dtype);
}

/** Product over `dim` (all dims when absent). Integer and bool inputs multiply to int32. */
export function prod(x: NDArray, dim?: number | readonly number[], options: ReduceOptions = {}): NDArray {
  return reduceOp('prod', 'prod', x, dim, options.keepdim ?? false, x.dtype === 'bool' ? 'int32' : x.dtype);
}

/** Mean over `dim`; floating point only, as in PyTorch. */
export function mean(x: NDArray, dim?: number | readonly number[], options: ReduceOptions = {}): NDArray {
  if (!isFloat(x.dtype)) throw new TypeError(`mean: expected a floating point input, got ${x.dtype}`);
  checkNotDisposed('mean', x.storage);
  const dims = normalizeDims('mean', dim, x.ndim);
  const count = sizeOf(dims.map((d) => x.shape[d]));
  // Sum and divide in float64, then round once: sum then multiply by a float32
  // 1/count rounded twice (the mean of n copies of 0.1 was not 0.1).
  const total = backendFor(x.device).reduce('sum', x, dims, 'float64');
  const m = div(total, count).astype(x.dtype);
  return dropDims(m, dims, options.keepdim ?? false);
}

/** Largest value over `dim` (all dims when absent). */
export function amax(x: NDArray, dim?: number | readonly number[], options: ReduceOptions = {}): NDArray {
  return reduceOp('max', 'amax', x, dim, options.keepdim ?? false, x.dtype);
}

/** Smallest value over `dim` (all dims when absent). */
export function amin(x: NDArray, dim?: number | readonly number[], options: ReduceOptions = {}): NDArray {
  return reduceOp('min', 'amin', x, dim, options.keepdim ?? false, x.dtype);
}

export interface VarOptions extends ReduceOptions {
  /** Subtracted from the count in the denominator: 1 (default) is unbiased, 0 biased. */
  correction?: number;
}

/**
 * Variance over `dim` by two passes, sum((x - mean)^2) / (n - correction):
 * never E[x^2] - E[x]^2, which cancels catastrophically.
 */
export function variance(x: NDArray, dim?: number | readonly number[], options: VarOptions = {}): NDArray {
  if (!isFloat(x.dtype)) throw new TypeError(`var: expected a floating point input, got ${x.dtype}`);
  const dims = normalizeDims('var', dim, x.ndim);
  const correction = options.correction ?? 1;
  if (!(correction >= 0)) throw new RangeError(`var: correction must be non-negative, got ${correction}`);
  const n = sizeOf(dims.map((d) => x.shape[d]));
  // In float64 whatever the input, as PyTorch accumulates: with float32 the mean
  // itself is rounded to float32, and for data far from zero (1e4 + noise 0.01)
  // that rounding alone biased the variance by 5e-4 relative.
  const xd = x.dtype === 'float64' ? x : x.astype('float64');
  const centered = sub(xd, mean(xd, dims, { keepdim: true }));
  // Like PyTorch, n <= correction divides by zero or a negative count and gives inf/NaN.
  return div(sum(mul(centered, centered), dims, options), Math.max(n - correction, 0)).astype(x.dtype);
}

/** Standard deviation: sqrt of `variance`. */
export function std(x: NDArray, dim?: number | readonly number[], options: VarOptions = {}): NDArray {
  const v = variance(x, dim, options);
  return backendFor(v.device).unary('sqrt', v, v.dtype, []);
}

/** Values and int32 indices of the max along one dim (the first on ties). */
export function max(x: NDArray, dim: number, options: ReduceOptions = {}): { values: NDArray; indices: NDArray } {
  return { values: amax(x, dim, options), indices: argmax(x, dim, options) };
}

/** Values and int32 indices of the min along one dim (the first on ties). */
export function min(x: NDArray, dim: number, options: ReduceOptions = {}): { values: NDArray; indices: NDArray } {
  return { values: amin(x, dim, options), indices: argmin(x, dim, options) };
}

function argReduce(op: 'argmax' | 'argmin', x: NDArray, dim: number | undefined, keepdim: boolean): NDArray {
  checkNotDisposed(op, x.storage);
  if (dim === undefined) {
    if (x.size === 0) throw new RangeError(`${op}: expected a non-empty input, got shape ${fmtShape(x.shape)}`);
    const r = backendFor(x.device).argReduce(op, x.reshape([x.size]), 0);
    return keepdim ? r.reshape(x.shape.map(() => 1)) : r.reshape([]);
  }
  const d = normalizeDim(op, dim, x.ndim);
  if (x.ndim > 0 && x.shape[d] === 0) throw new RangeError(`${op}: cannot reduce over the zero-size dim ${d} of ${fmtShape(x.shape)}`);
  if (x.ndim === 0) return backendFor(x.device).fill([], 'int32', 0);
  return dropDims(backendFor(x.device).argReduce(op, x, d), [d], keepdim);
}

/** Index of the max along `dim`, or into the flattened array when `dim` is absent. */
export function argmax(x: NDArray, dim?: number, options: ReduceOptions = {}): NDArray {
  return argReduce('argmax', x, dim, options.keepdim ?? false);
}

/** Index of the min along `dim`, or into the flattened array when `dim` is absent. */
export function argmin(x: NDArray, dim?: number, options: ReduceOptions = {}): NDArray {
  return argReduce('argmin', x, dim, options.keepdim ?? false);
}

/** log(sum(exp(x))) over `dim`, shifted by the max so that it neither overflows nor underflows. */
export function logsumexp(x: NDArray, dim?: number | readonly number[], options: ReduceOptions = {}): NDArray {
  if (!isFloat(x.dtype)) throw new TypeError(`logsumexp: expected a floating point input, got ${x.dtype}`);
  const dims = normalizeDims('logsumexp', dim, x.ndim);
  if (dims.some((d) => x.shape[d] === 0)) {
    // log(sum of no terms) = log(0) = -inf, as torch.logsumexp (amax would throw here)
    const shape = x.shape.map((n, i) => (dims.includes(i) ? 1 : n));
    return dropDims(backendFor(x.device).fill(shape, x.dtype, -Infinity), dims, options.keepdim ?? false);
  }
  const m = amax(x, dims, { keepdim: true });
  // An all -inf (or +inf) slice would give inf - inf = NaN; shift by 0 there instead.
  const finite = logicalNot(isNan(sub(m, m)));
  const shift = where(finite, m, 0);
  const out = add(log(sum(exp(sub(x, shift)), dims, { keepdim: true })), shift);
  return dropDims(out, dims, options.keepdim ?? false);
}

/** exp(x) / sum(exp(x)) along `dim`, computed from the max-shifted values. */
export function softmax(x: NDArray, dim: number): NDArray {
  const d = normalizeDim('softmax', dim, x.ndim);
  const e = exp(sub(x, amax(x, d, { keepdim: true })));
  return mul(e, reciprocalOf(sum(e, d, { keepdim: true })));
}

/** x - logsumexp(x) along `dim`. */
export function logSoftmax(x: NDArray, dim: number): NDArray {
  const d = normalizeDim('logSoftmax', dim, x.ndim);
  return sub(x, logsumexp(x, d, { keepdim: true }));
}

function reciprocalOf(x: NDArray): NDArray {
  return backendFor(x.device).unary('reciprocal', x, x.dtype, []);
}

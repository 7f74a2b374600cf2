import * as nd from '@normlab/tensor';
import { record, saveForBackward } from '../function.js';
import { Tensor } from '../tensor.js';
import { where } from './elementwise.js';
import { gather } from './indexing.js';

/** Options of the reductions. */
export interface ReduceOptions {
  /** Keep reduced dims as size 1 (default false). */
  keepdim?: boolean;
}

/** Options of `variance` and `std`. */
export interface VarOptions extends ReduceOptions {
  /** Subtracted from the count in the denominator: 1 (default) unbiased, 0 biased. */
  correction?: number;
}

/** Re-inserts reduced dims (as size 1) so that a gradient broadcasts against the input. */
function restoreDims(g: Tensor, dims: readonly number[], keepdim: boolean): Tensor {
  if (keepdim) return g;
  let out = g;
  for (const d of dims) out = out.unsqueeze(d);
  return out;
}

/** Sum over `dim` (all dims when absent); the gradient broadcasts g back. */
export function sum(x: Tensor, dim?: number | readonly number[], options: ReduceOptions = {}): Tensor {
  const dims = nd.normalizeDims('sum', dim, x.ndim);
  const keepdim = options.keepdim ?? false;
  return record('sum', nd.sum(x.data, dims, { keepdim }), [x], (g) => [restoreDims(g, dims, keepdim).expand(x.shape)],
    ([tx]) => sum(tx as Tensor, dims, { keepdim }));
}

/** Mean over `dim` (all dims when absent); the gradient is g / count. */
export function mean(x: Tensor, dim?: number | readonly number[], options: ReduceOptions = {}): Tensor {
  const dims = nd.normalizeDims('mean', dim, x.ndim);
  const keepdim = options.keepdim ?? false;
  const count = nd.sizeOf(dims.map((d) => x.shape[d]));
  return record('mean', nd.mean(x.data, dims, { keepdim }), [x], (g) => [restoreDims(g, dims, keepdim).expand(x.shape).div(count)],
    ([tx]) => mean(tx as Tensor, dims, { keepdim }));
}

/** Two-pass variance, composed so that every order of derivative comes for free. */
export function variance(x: Tensor, dim?: number | readonly number[], options: VarOptions = {}): Tensor {
  const dims = nd.normalizeDims('var', dim, x.ndim);
  const correction = options.correction ?? 1;
  if (!(correction >= 0)) throw new RangeError(`var: correction must be non-negative, got ${correction}`);
  if (!nd.isFloat(x.dtype)) throw new TypeError(`var: expected a floating point input, got ${x.dtype}`);
  const n = nd.sizeOf(dims.map((d) => x.shape[d]));
  const centered = x.sub(mean(x, dims, { keepdim: true }));
  return sum(centered.square(), dims, options).div(Math.max(n - correction, 0));
}

/**
 * sqrt of `variance`. Where the deviation is 0 (a constant slice) the
 * gradient is 0 rather than inf * 0 = NaN, as PyTorch's std_backward.
 */
export function std(x: Tensor, dim?: number | readonly number[], options: VarOptions = {}): Tensor {
  const v = variance(x, dim, options);
  const rule = (g: Tensor, y: Tensor): Tensor => where(new Tensor(nd.eq(y.data, 0)), 0, g.div(y.mul(2)));
  const out: Tensor = record('std', nd.sqrt(v.data), [v], (g) => [rule(g, out)], ([tv], y) => rule(tv as Tensor, y));
  return saveForBackward(out, { output: out });
}

/** max/min over dims: the gradient is shared evenly among tied extrema, as in PyTorch's amax. */
function extremum(op: 'amax' | 'amin', x: Tensor, dim: number | readonly number[] | undefined, options: ReduceOptions): Tensor {
  const dims = nd.normalizeDims(op, dim, x.ndim);
  const keepdim = options.keepdim ?? false;
  const kept = (op === 'amax' ? nd.amax : nd.amin)(x.data, dims, { keepdim: true });
  const out = keepdim ? kept : kept.reshape(x.shape.filter((_, i) => !dims.includes(i)));
  const share = (): Tensor => {
    const mask = nd.eq(x.data, kept);
    // In x's dtype: a bool / int32 division would be float32 and round shares like 1/3.
    return new Tensor(nd.div(mask.astype(x.dtype), nd.sum(mask, dims, { keepdim: true })).astype(x.dtype));
  };
  // Forward mode: the tied extrema's tangents averaged, the same shares.
  const y = record(op, out, [x], (g) => [restoreDims(g, dims, keepdim).mul(share())], ([tx]) => sum((tx as Tensor).mul(share()), dims, { keepdim }));
  return saveForBackward(y, { 'input 0': x });
}

/** Largest value over `dim`; the gradient is shared equally by the tied maxima, as PyTorch. */
export const amax = (x: Tensor, dim?: number | readonly number[], options: ReduceOptions = {}): Tensor => extremum('amax', x, dim, options);
/** Smallest value over `dim`; the gradient is shared equally by the tied minima, as PyTorch. */
export const amin = (x: Tensor, dim?: number | readonly number[], options: ReduceOptions = {}): Tensor => extremum('amin', x, dim, options);

/**
 * Without `dim`, the largest value of all of x, a 0-D tensor (as torch.max(x);
 * the gradient shared equally by tied maxima). With `dim`, the values and
 * indices of the max along it; the gradient goes to the chosen index only.
 */
export function max(x: Tensor): Tensor;
export function max(x: Tensor, dim: number, options?: ReduceOptions): { values: Tensor; indices: Tensor };
export function max(x: Tensor, dim?: number, options: ReduceOptions = {}): Tensor | { values: Tensor; indices: Tensor } {
  if (dim === undefined) return amax(x);
  return selectByIndex(x, dim, nd.argmax(x.data, dim, { keepdim: true }), options.keepdim ?? false);
}

/** As `max`, for the smallest value: all of x without `dim`, values and indices along it with one. */
export function min(x: Tensor): Tensor;
export function min(x: Tensor, dim: number, options?: ReduceOptions): { values: Tensor; indices: Tensor };
export function min(x: Tensor, dim?: number, options: ReduceOptions = {}): Tensor | { values: Tensor; indices: Tensor } {
  if (dim === undefined) return amin(x);
  return selectByIndex(x, dim, nd.argmin(x.data, dim, { keepdim: true }), options.keepdim ?? false);
}

function selectByIndex(x: Tensor, dim: number, idx: nd.NDArray, keepdim: boolean): { values: Tensor; indices: Tensor } {
  const d = nd.normalizeDim('max', dim, x.ndim);
  let values = gather(x, d, new Tensor(idx));
  let indices = idx;
  if (!keepdim) {
    values = values.squeeze(d);
    indices = idx.squeeze(d);
  }
  return { values, indices: new Tensor(indices) };
}

/** Index of the max along `dim` (or into the flattened tensor); int32, outside the graph. */
export function argmax(x: Tensor, dim?: number, options: ReduceOptions = {}): Tensor {
  return new Tensor(nd.argmax(x.data, dim, options));
}

/** Index of the min along `dim` (or into the flattened tensor); int32, outside the graph. */
export function argmin(x: Tensor, dim?: number, options: ReduceOptions = {}): Tensor {
  return new Tensor(nd.argmin(x.data, dim, options));
}

/** log(sum(exp(x))): shifted by the (constant) max, which leaves its value and gradient unchanged. */
export function logsumexp(x: Tensor, dim?: number | readonly number[], options: ReduceOptions = {}): Tensor {
  const dims = nd.normalizeDims('logsumexp', dim, x.ndim);
  const m = nd.amax(x.data, dims, { keepdim: true });
  const shift = new Tensor(nd.where(nd.logicalNot(nd.isNan(nd.sub(m, m))), m, 0));
  const out = sum(x.sub(shift).exp(), dims, { keepdim: true }).log().add(shift);
  return options.keepdim ? out : out.reshape(x.shape.filter((_, i) => !dims.includes(i)));
}

/** exp(x) / sum(exp(x)) along `dim`, composed from differentiable ops. */
export function softmax(x: Tensor, dim: number): Tensor {
  const d = nd.normalizeDim('softmax', dim, x.ndim);
  const e = x.sub(new Tensor(nd.amax(x.data, d, { keepdim: true }))).exp();
  return e.div(sum(e, d, { keepdim: true }));
}

/** x - logsumexp(x) along `dim`. */
export function logSoftmax(x: Tensor, dim: number): Tensor {
  const d = nd.normalizeDim('logSoftmax', dim, x.ndim);
  return x.sub(logsumexp(x, d, { keepdim: true }));
}


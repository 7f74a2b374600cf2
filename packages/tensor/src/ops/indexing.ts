/**
 * Index-driven ops with PyTorch semantics: gather, scatterAdd, indexSelect,
 * indexAdd, oneHot. Indices are int32 (PyTorch uses int64) and are checked
 * on the host before a kernel runs, so kernels never read out of bounds.
 */
import type { DType } from '../dtype.js';
import { NDArray } from '../ndarray.js';
import { backendFor } from '../registry.js';
import { fmtShape, normalizeDim } from '../shape.js';
import { checkNotDisposed } from '../tidy.js';
import { mul } from './elementwise.js';

function checkArray(op: string, name: string, v: unknown): asserts v is NDArray {
  if (!(v instanceof NDArray)) throw new TypeError(`${op}: expected ${name} to be an NDArray, got ${v === null ? 'null' : typeof v}`);
  checkNotDisposed(op, v.storage);
}

function checkIndex(op: string, index: unknown, x: NDArray): asserts index is NDArray {
  checkArray(op, 'index', index);
  if (index.dtype !== 'int32') throw new TypeError(`${op}: expected an int32 index, got ${index.dtype}`);
  if (index.device !== x.device) throw new Error(`${op}: input is on '${x.device}' but index is on '${index.device}'`);
}

/**
 * Throws naming the first index value outside [0, size). Only for host
 * (cpu) indices: reading a device index back would stall the device, so on
 * other devices the kernels own the bounds (as CUDA's device-side asserts).
 */
function checkRange(op: string, index: NDArray, dim: number, size: number): void {
  if (index.size === 0 || index.device !== 'cpu') return;
  const values = index.toTypedArray();
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < 0 || v >= size) throw new RangeError(`${op}: index ${v} is out of bounds for dim ${dim} with size ${size}`);
  }
}

/** Rank with 0-D counted as 1, as PyTorch's index ops do. */
const rank1 = (x: NDArray): number => Math.max(x.ndim, 1);
const dimSize = (x: NDArray, d: number): number => (x.ndim === 0 ? 1 : x.shape[d]);

/**
 * out[i][j][k] = x[index[i][j][k]][j][k] (for dim 0; likewise for other dims), as torch.gather.
 *
 * @param x input of any dtype.
 * @param dim dim to index along (negative counts from the end).
 * @param index int32, same rank as x, index.shape[d] <= x.shape[d] for d != dim, values in [0, x.shape[dim]).
 * @returns an array of index's shape and x's dtype.
 * @example gather(fromArray([[1, 2], [3, 4]]), 1, fromArray([[0, 0], [1, 0]], { dtype: 'int32' })) // [[1, 1], [4, 3]]
 */
export function gather(x: NDArray, dim: number, index: NDArray): NDArray {
  const op = 'gather';
  checkArray(op, 'input', x);
  checkIndex(op, index, x);
  const d = normalizeDim(op, dim, x.ndim);
  if (rank1(index) !== rank1(x)) {
    throw new RangeError(`${op}: index ${fmtShape(index.shape)} must have the same number of dims as input ${fmtShape(x.shape)}`);
  }
  for (let k = 0; k < index.ndim; k++) {
    if (k !== d && index.shape[k] > dimSize(x, k)) {
      throw new RangeError(`${op}: index ${fmtShape(index.shape)} must not be larger than input ${fmtShape(x.shape)} apart from dim ${d} (dim ${k}: ${index.shape[k]} > ${x.shape[k]})`);
    }
  }
  checkRange(op, index, d, dimSize(x, d));
  return backendFor(x.device).gather(x, d, index);
}

/**
 * Out-of-place scatter-add, as torch.scatter_add: a copy of x with
 * out[index[i][j]][j] += src[i][j] (for dim 0; likewise for other dims);
 * repeated indices accumulate.
 *
 * @param x input; src must have its dtype.
 * @param index int32 of x's rank, index.shape[d] <= src.shape[d] for all d and <= x.shape[d] for d != dim.
 * @param src values; only its leading index.shape block is used.
 * @returns an array of x's shape and dtype.
 * @example scatterAdd(zeros([3]), 0, fromArray([0, 0, 2], { dtype: 'int32' }), ones([3])) // [2, 0, 1]
 */
export function scatterAdd(x: NDArray, dim: number, index: NDArray, src: NDArray): NDArray {
  const op = 'scatterAdd';
  checkArray(op, 'input', x);
  checkArray(op, 'src', src);
  checkIndex(op, index, x);
  if (src.dtype !== x.dtype) throw new TypeError(`${op}: expected src of the input's dtype ${x.dtype}, got ${src.dtype}`);
  if (src.device !== x.device) throw new Error(`${op}: input is on '${x.device}' but src is on '${src.device}'`);
  const d = normalizeDim(op, dim, x.ndim);
  if (rank1(index) !== rank1(x) || rank1(src) !== rank1(x)) {
    throw new RangeError(`${op}: index ${fmtShape(index.shape)}, src ${fmtShape(src.shape)} and input ${fmtShape(x.shape)} must have the same number of dims`);
  }
  for (let k = 0; k < index.ndim; k++) {
    if (index.shape[k] > dimSize(src, k) || (k !== d && index.shape[k] > dimSize(x, k))) {
      throw new RangeError(
        `${op}: index ${fmtShape(index.shape)} must not be larger than src ${fmtShape(src.shape)} in any dim, nor than input ${fmtShape(x.shape)} apart from dim ${d} (dim ${k})`,
      );
    }
  }
  checkRange(op, index, d, dimSize(x, d));
  const be = backendFor(x.device);
  return be.binary('add', x, be.scatterAdd(x.shape, d, index, src), x.dtype);
}

function checkVectorIndex(op: string, index: NDArray): void {
  if (index.ndim > 1) throw new RangeError(`${op}: index must be 1-D (or 0-D), got ${fmtShape(index.shape)}`);
}

/**
 * The slices of x at `index` along `dim`, in index order (repeats allowed), as torch.index_select.
 *
 * @param index 1-D (or 0-D) int32 with values in [0, x.shape[dim]).
 * @returns x's shape with dim `dim` of size index.size; a new array.
 * @example indexSelect(x, 0, fromArray([2, 0], { dtype: 'int32' })) // rows 2 and 0
 */
export function indexSelect(x: NDArray, dim: number, index: NDArray): NDArray {
  const op = 'indexSelect';
  checkArray(op, 'input', x);
  checkIndex(op, index, x);
  checkVectorIndex(op, index);
  const d = normalizeDim(op, dim, x.ndim);
  checkRange(op, index, d, dimSize(x, d));
  return backendFor(x.device).indexSelect(x, d, index);
}

/**
 * Out-of-place index-add, as torch.index_add: a copy of x with
 * alpha * src's slice t added to x's slice index[t] along `dim` (repeats accumulate).
 *
 * @param index 1-D (or 0-D) int32 with values in [0, x.shape[dim]).
 * @param src x's shape except src.shape[dim] = index.size, and x's dtype.
 * @param options alpha, 1 by default.
 * @example indexAdd(zeros([3, 2]), 0, fromArray([2, 2], { dtype: 'int32' }), ones([2, 2])) // row 2 = [2, 2]
 */
export function indexAdd(x: NDArray, dim: number, index: NDArray, src: NDArray, options: { alpha?: number } = {}): NDArray {
  const op = 'indexAdd';
  checkArray(op, 'input', x);
  checkArray(op, 'src', src);
  checkIndex(op, index, x);
  checkVectorIndex(op, index);
  if (src.dtype !== x.dtype) throw new TypeError(`${op}: expected src of the input's dtype ${x.dtype}, got ${src.dtype}`);
  if (src.device !== x.device) throw new Error(`${op}: input is on '${x.device}' but src is on '${src.device}'`);
  const d = normalizeDim(op, dim, x.ndim);
  const ok = rank1(src) === rank1(x)
    && (x.ndim === 0 ? src.size === index.size : x.shape.every((n, k) => (k === d ? src.shape[k] === index.size : src.shape[k] === n)));
  if (!ok) {
    throw new RangeError(`${op}: src ${fmtShape(src.shape)} must match input ${fmtShape(x.shape)} except in dim ${d}, which must equal the index size ${index.size}`);
  }
  checkRange(op, index, d, dimSize(x, d));
  const alpha = options.alpha ?? 1;
  const be = backendFor(x.device);
  const scaled = alpha === 1 ? src : mul(src, alpha).astype(x.dtype);
  return be.binary('add', x, be.indexAdd(x.shape, d, index, scaled), x.dtype);
}

/**
 * One-hot encoding, as torch.nn.functional.one_hot: int32 of shape
 * [...indices.shape, numClasses] with a 1 at each index.
 *
 * @param indices int32, non-negative.
 * @param numClasses number of classes; -1 (default) infers max + 1.
 * @example oneHot(fromArray([0, 2], { dtype: 'int32' }), 3) // [[1, 0, 0], [0, 0, 1]]
 */
export function oneHot(indices: NDArray, numClasses = -1): NDArray {
  const op = 'oneHot';
  checkArray(op, 'indices', indices);
  if (indices.dtype !== 'int32') throw new TypeError(`${op}: expected int32 indices, got ${indices.dtype}`);
  if (!Number.isInteger(numClasses) || numClasses < -1) throw new RangeError(`${op}: numClasses must be -1 or a non-negative integer, got ${numClasses}`);
  let n = numClasses;
  // Validating the classes reads them: only on the host, or when the count must be inferred
  // (a data-dependent shape, as in PyTorch). On a device the kernel owns the bounds.
  if (indices.device === 'cpu' || n === -1) {
    const values = indices.toTypedArray();
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < values.length; i++) {
      lo = Math.min(lo, values[i]);
      hi = Math.max(hi, values[i]);
    }
    if (values.length > 0 && lo < 0) throw new RangeError(`${op}: class values must be non-negative, got ${lo}`);
    if (n === -1) {
      if (values.length === 0) throw new RangeError(`${op}: cannot infer the number of classes from an empty array ${fmtShape(indices.shape)}`);
      n = hi + 1;
    } else if (values.length > 0 && hi >= n) {
      throw new RangeError(`${op}: class values must be smaller than numClasses=${n}, got ${hi}`);
    }
  }
  const dtype: DType = 'int32';
  const be = backendFor(indices.device);
  const shape = [...indices.shape, n];
  const idx = indices.unsqueeze(-1);
  return be.scatterAdd(shape, indices.ndim, idx, be.fill(idx.shape, dtype, 1));
}

/** Joining and splitting along a dim: cat, stack, split, chunk (PyTorch semantics). */
import { type DType, promoteTypes } from '../dtype.js';
import { NDArray } from '../ndarray.js';
import { backendFor } from '../registry.js';
import { fmtShape, normalizeDim, shapesEqual } from '../shape.js';
import { checkNotDisposed } from '../tidy.js';

function checkList(op: string, xs: readonly NDArray[]): void {
  if (!Array.isArray(xs) || xs.length === 0) throw new RangeError(`${op}: expected a non-empty list of arrays`);
  xs.forEach((x, i) => {
    if (!(x instanceof NDArray)) throw new TypeError(`${op}: element ${i} is not an NDArray (got ${x === null ? 'null' : typeof x})`);
  });
  const dev = xs[0].device;
  xs.forEach((x, i) => {
    if (x.device !== dev) throw new Error(`${op}: arrays are on different devices: element 0 is on '${dev}' but element ${i} is on '${x.device}'`);
    checkNotDisposed(op, x.storage);
  });
}

/**
 * Concatenates arrays along `dim`. All must have the same rank and agree on
 * every other dim; as in PyTorch, 1-D arrays of size 0 are skipped, and the
 * result has the promoted dtype of all inputs.
 *
 * @param xs non-empty list of arrays on one device.
 * @param dim dim to join (negative counts from the end); 0 by default.
 * @example cat([zeros([2, 3]), ones([1, 3])]) // [3, 3]
 */
export function cat(xs: readonly NDArray[], dim = 0): NDArray {
  const op = 'cat';
  checkList(op, xs);
  const dtype: DType = xs.map((x) => x.dtype).reduce(promoteTypes);
  // PyTorch's legacy rule: a 1-D empty array joins anything.
  const parts = xs.map((x, i) => [x, i] as const).filter(([x]) => !(x.ndim === 1 && x.size === 0));
  if (parts.length === 0) return backendFor(xs[0].device).fill([0], dtype, 0);
  const [first, i0] = parts[0];
  if (first.ndim === 0) throw new RangeError(`${op}: zero-dimensional array (element ${i0}) cannot be concatenated`);
  const d = normalizeDim(op, dim, first.ndim);
  for (const [x, i] of parts) {
    if (x.ndim !== first.ndim) {
      throw new RangeError(`${op}: arrays must have the same number of dims: element ${i0} is ${fmtShape(first.shape)} but element ${i} is ${fmtShape(x.shape)}`);
    }
    for (let k = 0; k < x.ndim; k++) {
      if (k !== d && x.shape[k] !== first.shape[k]) {
        throw new RangeError(
          `${op}: sizes must match except in dim ${d}: element ${i0} is ${fmtShape(first.shape)} but element ${i} is ${fmtShape(x.shape)} (dim ${k}: ${first.shape[k]} vs ${x.shape[k]})`,
        );
      }
    }
  }
  const arrays = parts.map(([x]) => x);
  if (arrays.length === 1) return backendFor(first.device).copy(arrays[0], dtype); // a new array, as torch.cat
  return backendFor(first.device).cat(arrays, d, dtype);
}

/**
 * Joins arrays of one shape along a new dim `dim` (in -ndim-1..ndim).
 *
 * @example stack([zeros([2, 3]), ones([2, 3])], 1) // [2, 2, 3]
 */
export function stack(xs: readonly NDArray[], dim = 0): NDArray {
  const op = 'stack';
  checkList(op, xs);
  const shape = xs[0].shape;
  xs.forEach((x, i) => {
    if (!shapesEqual(x.shape, shape)) {
      throw new RangeError(`${op}: expects each array to be equal size, but got ${fmtShape(shape)} at element 0 and ${fmtShape(x.shape)} at element ${i}`);
    }
  });
  const d = normalizeDim(op, dim, shape.length + 1);
  const dtype: DType = xs.map((x) => x.dtype).reduce(promoteTypes);
  return backendFor(xs[0].device).cat(xs.map((x) => x.unsqueeze(d)), d, dtype);
}

/**
 * Splits `x` along `dim` into views (no copies): pieces of `splitSize`
 * (the last one smaller when it does not divide), or of the listed sizes,
 * which must sum to the dim's size.
 *
 * @example split(arange(5), 2) // sizes 2, 2, 1
 * @example split(arange(5), [1, 4]) // sizes 1, 4
 */
export function split(x: NDArray, splitSizeOrSections: number | readonly number[], dim = 0): NDArray[] {
  const op = 'split';
  if (!(x instanceof NDArray)) throw new TypeError(`${op}: expected an NDArray, got ${typeof x}`);
  if (x.ndim === 0) throw new RangeError(`${op}: cannot split a zero-dimensional array`);
  const d = normalizeDim(op, dim, x.ndim);
  const n = x.shape[d];
  let sizes: number[];
  if (typeof splitSizeOrSections === 'number') {
    const s = splitSizeOrSections;
    if (!Number.isInteger(s) || s < 0 || (s === 0 && n !== 0)) {
      throw new RangeError(`${op}: split size must be a positive integer (0 only for an empty dim), got ${s} for dim ${d} of size ${n} in ${fmtShape(x.shape)}`);
    }
    const count = s === 0 ? 1 : Math.max(Math.ceil(n / s), 1);
    sizes = Array.from({ length: count }, (_, i) => Math.min(s, n - i * s));
  } else {
    sizes = [...splitSizeOrSections];
    if (!sizes.every((s) => Number.isInteger(s) && s >= 0)) {
      throw new RangeError(`${op}: split sizes must be non-negative integers, got [${sizes.join(',')}]`);
    }
    const total = sizes.reduce((a, b) => a + b, 0);
    if (total !== n) {
      throw new RangeError(`${op}: split sizes [${sizes.join(',')}] sum to ${total} but dim ${d} of ${fmtShape(x.shape)} has size ${n}`);
    }
  }
  const out: NDArray[] = [];
  let start = 0;
  for (const s of sizes) {
    out.push(x.narrow(d, start, s));
    start += s;
  }
  return out;
}

/**
 * Splits `x` along `dim` into at most `chunks` views of ceil(size/chunks)
 * elements each (the last smaller), as torch.chunk; fewer when the sizes
 * run out first.
 *
 * @example chunk(arange(6), 4) // sizes 2, 2, 2
 */
export function chunk(x: NDArray, chunks: number, dim = 0): NDArray[] {
  const op = 'chunk';
  if (!(x instanceof NDArray)) throw new TypeError(`${op}: expected an NDArray, got ${typeof x}`);
  if (!Number.isInteger(chunks) || chunks < 1) throw new RangeError(`${op}: chunks must be a positive integer, got ${chunks}`);
  if (x.ndim === 0) throw new RangeError(`${op}: cannot chunk a zero-dimensional array`);
  const d = normalizeDim(op, dim, x.ndim);
  const n = x.shape[d];
  // An empty dim gives `chunks` empty pieces, as in PyTorch.
  if (n === 0) return split(x, new Array<number>(chunks).fill(0), d);
  return split(x, Math.ceil(n / chunks), d);
}

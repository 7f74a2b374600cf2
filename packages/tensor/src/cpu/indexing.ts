/**
 * Joining and indexing kernels for the CPU backend. Ops validate shapes,
 * dtypes and index ranges before calling these, so the loops do not check.
 */
import type { DType } from '../dtype.js';
import type { NDArray } from '../ndarray.js';
import { type Shape, contiguousStrides, sizeOf } from '../shape.js';
import { allocUninit } from './alloc.js';
import { cpuData, operand, wrap } from './cpu-backend.js';
import { mapStrided } from './strided.js';

/** Concatenation along `dim`: each input is copied into its slab of the output. */
export function cat(xs: readonly NDArray[], dim: number, dtype: DType): NDArray {
  const shape = [...xs[0].shape];
  shape[dim] = xs.reduce((s, x) => s + x.shape[dim], 0);
  const out = allocUninit(dtype, sizeOf(shape)); // the slabs cover it
  const strides = contiguousStrides(shape);
  let start = 0;
  for (const x of xs) {
    // Write through a strided view of the output: the slab at `start` along `dim`.
    if (x.size > 0) mapStrided('x', ['x'], out, x.shape, [operand(x)], 0, 0, { offset: start * strides[dim], strides });
    start += x.shape[dim];
  }
  return wrap(out, shape);
}

/**
 * Visits every row (all dims but the last) of `shape`, calling `row(bases)`
 * with each operand's offset of the row's first element (the odometer keeps
 * them incrementally, so there is no per-element index arithmetic).
 */
function forEachRow(shape: Shape, strides: readonly (readonly number[])[], offsets: readonly number[], row: (bases: number[]) => void): void {
  if (sizeOf(shape) === 0) return;
  const r = shape.length;
  const outer = r <= 1 ? 1 : sizeOf(shape.slice(0, -1));
  const bases = [...offsets];
  const idx = new Array<number>(Math.max(r - 1, 0)).fill(0);
  for (let t = 0; t < outer; t++) {
    row(bases);
    for (let d = r - 2; d >= 0; d--) {
      idx[d]++;
      for (let k = 0; k < bases.length; k++) bases[k] += strides[k][d];
      if (idx[d] < shape[d]) break;
      for (let k = 0; k < bases.length; k++) bases[k] -= strides[k][d] * shape[d];
      idx[d] = 0;
    }
  }
}

/** Shape and strides with a 0-D array seen as 1-D of one element, so loops always have a last dim. */
function atLeast1d(shape: Shape, strides: Shape): [number[], number[]] {
  return shape.length === 0 ? [[1], [0]] : [[...shape], [...strides]];
}

/** out[c] = x[c with c[dim] replaced by index[c]]; the output has the index's shape. */
export function gather(x: NDArray, dim: number, index: NDArray): NDArray {
  const xd = cpuData(x);
  const id = cpuData(index);
  const out = allocUninit(x.dtype, index.size); // every element written below
  const [shape, is] = atLeast1d(index.shape, index.strides);
  const [, xs0] = atLeast1d(x.shape, x.strides);
  const xsDim = xs0[dim];
  const xs = [...xs0];
  xs[dim] = 0; // the dim's offset comes from the index value
  const os = contiguousStrides(shape);
  const last = shape.length - 1;
  const inner = shape[last];
  const xsI = xs[last];
  const isI = is[last];
  forEachRow(shape, [xs, is, os], [x.offset, index.offset, 0], ([xb, ib, ob]) => {
    for (let j = 0; j < inner; j++) out[ob + j] = xd[xb + j * xsI + id[ib + j * isI] * xsDim];
  });
  return wrap(out, index.shape);
}

/** zeros(shape), then out[c with c[dim] = index[c]] += src[c] for every c in the index's shape. */
export function scatterAdd(shape: Shape, dim: number, index: NDArray, src: NDArray): NDArray {
  const out = allocUninit(src.dtype, sizeOf(shape)).fill(0);
  const id = cpuData(index);
  const sd = cpuData(src);
  const [ishape, is] = atLeast1d(index.shape, index.strides);
  const [, ss] = atLeast1d(src.shape, src.strides);
  const os0 = shape.length === 0 ? [0] : contiguousStrides(shape);
  const osDim = os0[dim];
  const os = [...os0];
  os[dim] = 0;
  const last = ishape.length - 1;
  const inner = ishape[last];
  const osI = os[last];
  const isI = is[last];
  const ssI = ss[last];
  forEachRow(ishape, [os, is, ss], [0, index.offset, src.offset], ([ob, ib, sb]) => {
    for (let j = 0; j < inner; j++) out[ob + j * osI + id[ib + j * isI] * osDim] += sd[sb + j * ssI];
  });
  return wrap(out, shape);
}

/** The index values of a 1-D int32 array as a contiguous host array. */
function indexValues(index: NDArray): Int32Array {
  const ic = index.contiguous();
  const d = cpuData(ic);
  return d instanceof Int32Array ? d.subarray(ic.offset, ic.offset + ic.size) : Int32Array.from(d.subarray(ic.offset, ic.offset + ic.size));
}

/** Below this many elements per slice, a plain loop beats `TypedArray.set`. */
const SET_MIN = 32;

/** Selects the slices index[0], index[1], ... along `dim` (index 1-D int32). */
export function indexSelect(x: NDArray, dim: number, index: NDArray): NDArray {
  const xc = x.contiguous();
  const xd = cpuData(xc);
  const ids = indexValues(index);
  const k = ids.length;
  const shape = [...x.shape];
  if (shape.length === 0) shape.push(1);
  const n = shape[dim];
  const outer = sizeOf(shape.slice(0, dim));
  const inner = sizeOf(shape.slice(dim + 1));
  shape[dim] = k;
  const out = allocUninit(x.dtype, outer * k * inner); // every element written below
  for (let o = 0; o < outer; o++) {
    for (let t = 0; t < k; t++) {
      const src = xc.offset + (o * n + ids[t]) * inner;
      const dst = (o * k + t) * inner;
      if (inner >= SET_MIN) out.set(xd.subarray(src, src + inner), dst);
      else for (let i = 0; i < inner; i++) out[dst + i] = xd[src + i];
    }
  }
  return wrap(out, x.ndim === 0 ? [] : shape);
}

/** zeros(shape), then the slice index[t] along `dim` += src's slice t (src has shape[dim] = index size). */
export function indexAdd(shape: Shape, dim: number, index: NDArray, src: NDArray): NDArray {
  const out = allocUninit(src.dtype, sizeOf(shape)).fill(0);
  const sc = src.contiguous();
  const sd = cpuData(sc);
  const ids = indexValues(index);
  const k = ids.length;
  const full = shape.length === 0 ? [1] : shape;
  const n = full[dim];
  const outer = sizeOf(full.slice(0, dim));
  const inner = sizeOf(full.slice(dim + 1));
  for (let o = 0; o < outer; o++) {
    for (let t = 0; t < k; t++) {
      const dst = (o * n + ids[t]) * inner;
      const s = sc.offset + (o * k + t) * inner;
      for (let i = 0; i < inner; i++) out[dst + i] += sd[s + i];
    }
  }
  return wrap(out, shape);
}

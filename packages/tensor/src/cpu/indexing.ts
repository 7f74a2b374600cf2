import { type DType, allocTyped } from '../dtype.js';
import type { NDArray } from '../ndarray.js';
import { type Shape, contiguousStrides, sizeOf } from '../shape.js';
import { cpuData, operand, wrap } from './cpu-backend.js';
import { mapStrided } from './strided.js';

/** Concatenation along `dim`: each input is copied into its slab of the output. */
export function cat(xs: readonly NDArray[], dim: number, dtype: DType): NDArray {
  const shape = [...xs[0].shape];
  shape[dim] = xs.reduce((s, x) => s + x.shape[dim], 0);
  const out = allocTyped(dtype, sizeOf(shape));
  const strides = contiguousStrides(shape);
  let start = 0;
  for (const x of xs) {
    // Write through a strided view of the output: the slab at `start` along `dim`.
    mapStrided('x', ['x'], out, x.shape, [operand(x)], 0, 0, { offset: start * strides[dim], strides });
    start += x.shape[dim];
  }
  return wrap(out, shape);
}

/** Row-major coordinates helper: calls fn(flatIndex, coords) for every element of `shape`. */
function forEachIndex(shape: Shape, fn: (flat: number, coords: number[]) => void): void {
  const n = sizeOf(shape);
  const coords = new Array<number>(shape.length).fill(0);
  for (let f = 0; f < n; f++) {
    fn(f, coords);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++coords[d] < shape[d]) break;
      coords[d] = 0;
    }
  }
}

function offsetOf(x: NDArray, coords: readonly number[]): number {
  let o = x.offset;
  for (let d = 0; d < coords.length; d++) o += coords[d] * x.strides[d];
  return o;
}

/** out[c] = x[c with c[dim] replaced by index[c]]. */
export function gather(x: NDArray, dim: number, index: NDArray): NDArray {
  const xd = cpuData(x);
  const id = cpuData(index);
  const out = allocTyped(x.dtype, index.size);
  forEachIndex(index.shape, (f, c) => {
    const i = id[offsetOf(index, c)];
    const saved = c[dim];
    c[dim] = i;
    out[f] = xd[offsetOf(x, c)];
    c[dim] = saved;
  });
  return wrap(out, index.shape);
}

/** zeros(shape), then out[c with c[dim] = index[c]] += src[c]. */
export function scatterAdd(shape: Shape, dim: number, index: NDArray, src: NDArray): NDArray {
  const out = allocTyped(src.dtype, sizeOf(shape));
  const strides = contiguousStrides(shape);
  const id = cpuData(index);
  const sd = cpuData(src);
  forEachIndex(index.shape, (_, c) => {
    let o = 0;
    for (let d = 0; d < c.length; d++) o += (d === dim ? id[offsetOf(index, c)] : c[d]) * strides[d];
    out[o] += sd[offsetOf(src, c)];
  });
  return wrap(out, shape);
}

/** Selects the slices index[0], index[1], ... along `dim`. */
export function indexSelect(x: NDArray, dim: number, index: NDArray): NDArray {
  const ids = cpuData(index.contiguous());
  const io = index.contiguous().offset;
  const parts: NDArray[] = [];
  for (let k = 0; k < index.size; k++) parts.push(x.narrow(dim, ids[io + k], 1));
  const shape = [...x.shape];
  shape[dim] = index.size;
  if (parts.length === 0) return wrap(allocTyped(x.dtype, 0), shape);
  return cat(parts, dim, x.dtype);
}

/** zeros(shape), then the slice index[k] along `dim` += src's slice k. */
export function indexAdd(shape: Shape, dim: number, index: NDArray, src: NDArray): NDArray {
  const out = allocTyped(src.dtype, sizeOf(shape));
  const strides = contiguousStrides(shape);
  const ic = index.contiguous();
  const ids = cpuData(ic);
  const sd = cpuData(src);
  forEachIndex(src.shape, (_, c) => {
    let o = 0;
    for (let d = 0; d < c.length; d++) o += (d === dim ? ids[ic.offset + c[d]] : c[d]) * strides[d];
    out[o] += sd[offsetOf(src, c)];
  });
  return wrap(out, shape);
}

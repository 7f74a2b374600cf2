/**
 * The one mutation of stored values: `writeInto` copies values into an
 * existing array's elements, in its storage, so that every view sharing the
 * storage sees them (PyTorch's in-place semantics). Each write bumps the
 * storage's version, which autograd compares with the versions its saved
 * tensors had when the graph was recorded (PyTorch's version counter).
 */
import type { Storage } from '../backend.js';
import { type DType, isFloat } from '../dtype.js';
import { NDArray } from '../ndarray.js';
import { backendFor } from '../registry.js';
import { broadcastShapes, fmtShape, shapesEqual } from '../shape.js';
import { checkNotDisposed } from '../tidy.js';

const versions = new WeakMap<Storage, number>();
/** Until the first write every version is 0: autograd asks for one per saved value, so skip the lookup until then. */
let anyWrite = false;

/** How many times the storage was written in place (0 for a fresh one). Views share it. */
export function storageVersion(storage: Storage): number {
  return anyWrite ? versions.get(storage) ?? 0 : 0;
}

/** Throws unless `value` is exactly representable in `dtype` (an int32 integer, 0 or 1 for bool; any number for floats). */
export function checkScalarFits(op: string, value: number, dtype: DType): void {
  const fits = isFloat(dtype)
    || (dtype === 'int32' && Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31)
    || (dtype === 'bool' && (value === 0 || value === 1));
  if (!fits) throw new TypeError(`${op}: cannot write ${value} into a ${dtype} array (expected ${dtype === 'bool' ? '0 or 1' : 'an int32 integer'})`);
}

/**
 * Writes `src` into `dst`'s elements, in place: src (an array of dst's
 * dtype and device, or a number) is broadcast to dst's shape. dst may be a
 * strided view; one that repeats a memory location (an expanded view) is
 * refused, as PyTorch refuses it. Bumps the storage's version.
 */
export function writeInto(op: string, dst: NDArray, src: NDArray | number): void {
  checkNotDisposed(op, dst.storage);
  for (let d = 0; d < dst.ndim; d++) {
    if (dst.strides[d] === 0 && dst.shape[d] > 1) {
      throw new Error(`${op}: unsupported operation: more than one element of the written-to tensor ${fmtShape(dst.shape)} refers to a single memory location (an expanded view); clone() it first`);
    }
  }
  let values: NDArray;
  if (typeof src === 'number') {
    checkScalarFits(op, src, dst.dtype);
    values = backendFor(dst.device).fill(dst.shape, dst.dtype, src);
  } else {
    if (!(src instanceof NDArray)) throw new TypeError(`${op}: expected an NDArray or a number to write, got ${typeof src}`);
    checkNotDisposed(op, src.storage);
    if (src.dtype !== dst.dtype) throw new TypeError(`${op}: expected values of the destination's dtype ${dst.dtype}, got ${src.dtype}`);
    if (src.device !== dst.device) throw new Error(`${op}: expected values on the destination's device '${dst.device}', got '${src.device}'`);
    let fits: boolean;
    try {
      fits = shapesEqual(broadcastShapes(op, src.shape, dst.shape), dst.shape);
    } catch {
      fits = false;
    }
    if (!fits) throw new RangeError(`${op}: values of shape ${fmtShape(src.shape)} do not broadcast to the destination's shape ${fmtShape(dst.shape)}`);
    values = src.broadcastTo(dst.shape);
  }
  if (dst.size > 0) backendFor(dst.device).write(dst, values);
  versions.set(dst.storage, storageVersion(dst.storage) + 1);
  anyWrite = true;
}

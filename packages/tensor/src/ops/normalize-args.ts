// The argument checks the normalization ops share (not part of the package's exports).
import { NDArray } from '../ndarray.js';
import { fmtShape } from '../shape.js';
import { checkNotDisposed } from '../tidy.js';

/**
 * Checks a vector argument of a normalization kernel: [n] values
 * (`what` says for which input), on x's device, of x's dtype, not disposed.
 */
export function checkVector(op: string, name: string, v: NDArray, x: NDArray, n: number, what: string): void {
  if (!(v instanceof NDArray) || v.ndim !== 1 || v.shape[0] !== n) {
    throw new RangeError(`${op}: expected ${name} of shape [${n}] for ${what}, got ${v instanceof NDArray ? fmtShape(v.shape) : typeof v}`);
  }
  if (v.device !== x.device) throw new Error(`${op}: ${name} is on '${v.device}' but the input is on '${x.device}'`);
  if (v.dtype !== x.dtype) throw new TypeError(`${op}: ${name} is ${v.dtype} but the input is ${x.dtype}`);
  checkNotDisposed(op, v.storage);
}

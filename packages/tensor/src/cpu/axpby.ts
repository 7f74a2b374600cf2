/**
 * alpha * x + beta * y in one pass (see ops' axpby): float32 contiguous
 * arrays on the SIMD elementwise kernels (in place where resident, split
 * across the threads when large); otherwise the strided JS loop. Both round
 * each product to the dtype and then the sum, as separate mul, mul and add
 * kernels would.
 */
import type { NDArray } from '../ndarray.js';
import { allocUninit } from './alloc.js';
import { cpuData, operand, wrap } from './cpu-backend.js';
import { mapStrided } from './strided.js';
import { WASM_ELEMENTWISE_MIN, wasmAxpbyF32 } from './wasm/elementwise.js';

export function axpby(alpha: number, x: NDArray, beta: number, y: NDArray): NDArray {
  const out = allocUninit(x.dtype, x.size);
  const xd = cpuData(x);
  const yd = cpuData(y);
  if (out instanceof Float32Array) {
    const [a, b] = [Math.fround(alpha), Math.fround(beta)];
    if (xd instanceof Float32Array && yd instanceof Float32Array && x.size >= WASM_ELEMENTWISE_MIN && x.isContiguous() && y.isContiguous()
      && wasmAxpbyF32(a, xd, x.offset, b, yd, y.offset, out)) {
      return wrap(out, x.shape);
    }
    // The products rounded to float32; their sum is rounded by the store (exact in double first).
    mapStrided('Math.fround(a * p0) + Math.fround(b * p1)', ['a', 'b'], out, x.shape, [operand(x), operand(y)], a, b);
  } else {
    mapStrided('a * p0 + b * p1', ['a', 'b'], out, x.shape, [operand(x), operand(y)], alpha, beta);
  }
  return wrap(out, x.shape);
}

/**
 * alpha * x + beta * y in one pass (see ops' axpby): float32 contiguous
 * arrays on a SIMD kernel, in place where they are resident; otherwise the
 * strided JS loop. Both round each product to the dtype and then the sum,
 * as separate mul, mul and add kernels would.
 */
import type { NDArray } from '../ndarray.js';
import { allocUninit } from './alloc.js';
import { cpuData, operand, wrap } from './cpu-backend.js';
import { mapStrided } from './strided.js';
import { WASM_ELEMENTWISE_MIN } from './wasm/elementwise.js';
import { getKernels } from './wasm/kernels.js';
import { withAddresses, withStaging } from './wasm/resident.js';

export function axpby(alpha: number, x: NDArray, beta: number, y: NDArray): NDArray {
  const out = allocUninit(x.dtype, x.size);
  const xd = cpuData(x);
  const yd = cpuData(y);
  if (out instanceof Float32Array) {
    const [a, b] = [Math.fround(alpha), Math.fround(beta)];
    if (xd instanceof Float32Array && yd instanceof Float32Array && x.size >= WASM_ELEMENTWISE_MIN && x.isContiguous() && y.isContiguous()
      && wasmAxpby(a, xd, x.offset, b, yd, y.offset, out)) {
      return wrap(out, x.shape);
    }
    // The products rounded to float32; their sum is rounded by the store (exact in double first).
    mapStrided('Math.fround(a * p0) + Math.fround(b * p1)', ['a', 'b'], out, x.shape, [operand(x), operand(y)], a, b);
  } else {
    mapStrided('a * p0 + b * p1', ['a', 'b'], out, x.shape, [operand(x), operand(y)], alpha, beta);
  }
  return wrap(out, x.shape);
}

/** out = a * x + b * y over out.length floats on the kernel (the last n mod 4 in JS, the same expression); false where unavailable. */
function wasmAxpby(a: number, x: Float32Array, xo: number, b: number, y: Float32Array, yo: number, out: Float32Array): boolean {
  const k = getKernels();
  if (!k) return false;
  const n = out.length;
  const n4 = n & ~3;
  return withAddresses(k, [{ data: x, offset: xo, length: n }, { data: y, offset: yo, length: n }], [out], ([xAt, yAt], [oAt]) =>
    withStaging(k, 16, (c) => {
      new Float32Array(k.memory.buffer, c, 2).set([a, b]);
      k.axpby_f32(oAt, xAt, yAt, n4, c);
      const heap = new Float32Array(k.memory.buffer);
      for (let i = n4; i < n; i++) heap[(oAt >> 2) + i] = Math.fround(heap[(xAt >> 2) + i] * a) + Math.fround(heap[(yAt >> 2) + i] * b);
      return true;
    })) ?? false;
}

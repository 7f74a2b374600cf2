/**
 * 2x2, stride-2 max pooling on the WebAssembly SIMD kernel (`maxpool2x2_f32`):
 * four windows per vector, branch-free (a JS loop mispredicts its
 * comparisons on random data), with the JS loop's scan order and rule, so
 * values and indices are the same. Both directions run over ranges of
 * planes, split across the threads for large inputs.
 */
import { PARALLEL_ELEMENTWISE_MIN } from './elementwise.js';
import { type Kernels, getKernels } from './kernels.js';
import { withAddresses, withStaging } from './resident.js';
import { EW_MAXPOOL, EW_MAXPOOL_BWD, runRanges, splitThreads } from './thread-pool.js';

/**
 * Runs `kind` over planes [0, P) with `args(p0, p1)` its arguments: on this
 * thread, or split into one job per thread when the planes hold at least
 * PARALLEL_ELEMENTWISE_MIN values.
 */
function overPlanes(k: Kernels, kind: number, P: number, values: number, args: (p0: number, p1: number) => number[]): void {
  runRanges(k, kind, P, splitThreads(k, P, values >= PARALLEL_ELEMENTWISE_MIN), (_t, p0, p1) => args(p0, p1));
}

/**
 * Writes every output of the contiguous planes [P, H, W] at `offset` (values
 * and flat h * W + w indices, outputs [P, oh, ow]); false (nothing written)
 * where the kernels or the memory are unavailable, or ow < 4. When
 * ow is not a multiple of 4, one more group ends at the last column,
 * recomputing a few outputs (the same values) rather than leaving them to a
 * branchy JS loop.
 */
export function wasmMaxPool2x2(
  x: Float32Array, offset: number, P: number, H: number, W: number, oh: number, ow: number, values: Float32Array, indices: Int32Array,
): boolean {
  const k = getKernels();
  if (!k || ow < 4 || oh >= 65536 || ow >= 65536) return false;
  const outPlane = oh * ow;
  return withAddresses(k, [{ data: x, offset, length: P * H * W }], [values], ([xAt], [vAt]) =>
    withStaging(k, P * outPlane * 4, (iAt) => {
      overPlanes(k, EW_MAXPOOL, P, P * H * W, (p0, p1) => [xAt, vAt, iAt, p0, p1, H, W, (oh << 16) | ow]);
      indices.set(new Int32Array(k.memory.buffer, iAt, P * outPlane));
      return true;
    })) ?? false;
}

/**
 * The backward of `wasmMaxPool2x2`: dx [P, H, W] from the gradient [P, oh, ow]
 * (contiguous at `gOffset`) and the int32 indices (at `iOffset`), each
 * gradient written where its index points in its 2 x 2 block and +0 elsewhere,
 * as the JS loop's zeros += grad. False (dx unspecified) where the kernels or
 * memory are unavailable, ow < 4, oh or ow is not floor(H / 2) or floor(W / 2),
 * or some index lies outside its block (indices from another pooling).
 */
export function wasmMaxPool2x2Backward(
  g: Float32Array, gOffset: number, indices: Int32Array, iOffset: number, P: number, H: number, W: number, oh: number, ow: number, dx: Float32Array,
): boolean {
  const k = getKernels();
  if (!k || ow < 4 || oh !== H >> 1 || ow !== W >> 1 || oh >= 65536 || ow >= 65536) return false;
  const outPlane = oh * ow;
  return withAddresses(k, [{ data: g, offset: gOffset, length: P * outPlane }], [dx], ([gAt], [dAt]) =>
    withStaging(k, P * outPlane * 4 + 16, (iAt) => {
      const heap = new Int32Array(k.memory.buffer);
      heap.set(indices.subarray(iOffset, iOffset + P * outPlane), iAt >> 2);
      const flag = iAt + P * outPlane * 4;
      heap[flag >> 2] = 1;
      overPlanes(k, EW_MAXPOOL_BWD, P, P * H * W, (p0, p1) => [gAt, iAt, dAt, p0, p1, H, W, (oh << 16) | ow, flag]);
      if (new Int32Array(k.memory.buffer)[flag >> 2] === 0) return null;
      // An odd last column or row belongs to no window: zeros.
      const d = new Float32Array(k.memory.buffer, dAt, P * H * W);
      for (let p = 0; p < P; p++) {
        if (W % 2 !== 0) for (let r = 0; r < 2 * oh; r++) d[(p * H + r) * W + W - 1] = 0;
        if (H % 2 !== 0) d.fill(0, (p * H + H - 1) * W, (p + 1) * H * W);
      }
      return true;
    })) ?? false;
}

/**
 * 2x2, stride-2 max pooling on the WebAssembly SIMD kernel (`maxpool2x2_f32`):
 * four windows per vector, branch-free (a JS loop mispredicts its
 * comparisons on random data), with the JS loop's scan order and rule, so
 * values and indices are the same.
 */
import { getKernels } from './kernels.js';
import { withAddresses, withStaging } from './resident.js';

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
  const groups = ow >> 2;
  if (!k || groups === 0) return false;
  const outPlane = oh * ow;
  return withAddresses(k, [{ data: x, offset, length: P * H * W }], [values], ([xAt], [vAt]) =>
    withStaging(k, P * outPlane * 4, (iAt) => {
      for (let p = 0; p < P; p++) {
        const [xp, vp, ip] = [xAt + p * H * W * 4, vAt + p * outPlane * 4, iAt + p * outPlane * 4];
        k.maxpool2x2_f32(xp, W, oh, 0, groups, ow, vp, ip);
        if (ow % 4 !== 0) k.maxpool2x2_f32(xp, W, oh, ow - 4, 1, ow, vp, ip);
      }
      indices.set(new Int32Array(k.memory.buffer, iAt, P * outPlane));
      return true;
    })) ?? false;
}

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
  const groups = ow >> 2;
  if (!k || groups === 0 || oh !== H >> 1 || ow !== W >> 1) return false;
  const outPlane = oh * ow;
  return withAddresses(k, [{ data: g, offset: gOffset, length: P * outPlane }], [dx], ([gAt], [dAt]) =>
    withStaging(k, P * outPlane * 4, (iAt) => {
      new Int32Array(k.memory.buffer, iAt, P * outPlane).set(indices.subarray(iOffset, iOffset + P * outPlane));
      for (let p = 0; p < P; p++) {
        const [gp, ip, dp] = [gAt + p * outPlane * 4, iAt + p * outPlane * 4, dAt + p * H * W * 4];
        if (!k.maxpool2x2_bwd_f32(gp, ip, W, oh, 0, groups, ow, dp)) return null;
        if (ow % 4 !== 0 && !k.maxpool2x2_bwd_f32(gp, ip, W, oh, ow - 4, 1, ow, dp)) return null;
      }
      // An odd last column or row belongs to no window: zeros.
      const d = new Float32Array(k.memory.buffer, dAt, P * H * W);
      for (let p = 0; p < P; p++) {
        if (W % 2 !== 0) for (let r = 0; r < 2 * oh; r++) d[(p * H + r) * W + W - 1] = 0;
        if (H % 2 !== 0) d.fill(0, (p * H + H - 1) * W, (p + 1) * H * W);
      }
      return true;
    })) ?? false;
}

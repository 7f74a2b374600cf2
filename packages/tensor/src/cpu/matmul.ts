import { allocTyped } from '../dtype.js';
import type { NDArray } from '../ndarray.js';
import { cpuData, wrap } from './cpu-backend.js';

/**
 * a [B,M,K] @ b [B,K,N] -> [B,M,N] for strided views (batch strides may be 0
 * for broadcast batches). Each batch's operands are read in row-major order
 * (copied first only when their inner layout requires it).
 */
export function batchedMatmul(a: NDArray, b: NDArray): NDArray {
  const [B, M, K] = a.shape;
  const N = b.shape[2];
  const out = allocTyped(a.dtype, B * M * N);
  for (let t = 0; t < B; t++) {
    const ab = a.select(0, t).contiguous();
    const bb = b.select(0, t).contiguous();
    gemmRowMajor(M, N, K, cpuData(ab), ab.offset, cpuData(bb), bb.offset, out, t * M * N);
  }
  return wrap(out, [B, M, N]);
}

/** C[M,N] = A[M,K] @ B[K,N], all row-major, in the i-k-j order that streams B and C. */
function gemmRowMajor(
  M: number, N: number, K: number,
  A: ArrayLike<number>, ao: number, Bm: ArrayLike<number>, bo: number,
  C: { [i: number]: number }, co: number,
): void {
  for (let i = 0; i < M; i++) {
    const crow = co + i * N;
    for (let k = 0; k < K; k++) {
      const aik = A[ao + i * K + k];
      if (aik === 0) continue;
      const brow = bo + k * N;
      for (let j = 0; j < N; j++) C[crow + j] += aik * Bm[brow + j];
    }
  }
}

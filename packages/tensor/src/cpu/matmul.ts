import { allocTyped } from '../dtype.js';
import type { NDArray } from '../ndarray.js';
import { allocUninit } from './alloc.js';
import { cpuData, wrap } from './cpu-backend.js';
import { GEMM_MR, GEMM_NR, type Kernels, getKernels } from './wasm/kernels.js';
import { releaseResident, residentAddress } from './wasm/resident.js';
import { JOB_WORDS, MAX_JOBS, ensureWorkers, getNumThreads, runJobs, scratchAddress } from './wasm/thread-pool.js';

export { getNumThreads, setNumThreads } from './wasm/thread-pool.js';

/**
 * Products of at least this many flops (2*M*N*K over all batches) are split
 * across threads; below it, waking the pool costs more than it saves
 * (measured on a 2-core machine: no gain at 128^3, ~1.6-1.8x at 256^3).
 * The BN-paper MLP step, whose two largest products are 60x784x100 = 9.4
 * MFLOP, runs 5-9% faster on two threads than on one with them split
 * (1.05 against 1.12-1.19 ms; with the bound at 2*200^3, 1.10-1.16 ms: the
 * same work as on one thread). Once the pool has run a job its workers spin
 * briefly before sleeping, so a training step's back-to-back products find
 * them awake.
 */
export const PARALLEL_MIN_FLOPS = 2 * 150 * 150 * 150;

/**
 * a [B,M,K] @ b [B,K,N] -> [B,M,N] for strided views (batch strides may be 0
 * for broadcast batches). float32 runs on the WebAssembly SIMD GEMM, which
 * reads any strides (transposed views included) while packing its panels;
 * other dtypes use a plain JS kernel.
 */
export function batchedMatmul(a: NDArray, b: NDArray): NDArray {
  const [B, M, K] = a.shape;
  const N = b.shape[2];
  if (a.dtype === 'float32' && B * M * N > 0 && K > 0) {
    const k = getKernels();
    if (k) {
      const out = allocUninit('float32', B * M * N);
      if (wasmMatmul(k, a, b, out)) return wrap(out, [B, M, N]);
      releaseResident(out);
    }
  }
  return jsMatmul(a, b);
}

/** Elements from a view's first to its last element (strides are never negative). */
function extent(x: NDArray): number {
  let e = 1;
  for (let i = 0; i < x.ndim; i++) e += (x.shape[i] - 1) * x.strides[i];
  return e;
}

/** A view whose span is much larger than its size (a strided slice of a big array) is compacted first. */
function compact(x: NDArray): NDArray {
  return extent(x) > 2 * x.size + 4096 ? x.contiguous() : x;
}

const align16 = (n: number): number => Math.ceil(n / 16) * 16;

/**
 * Runs the wasm GEMM for all batches, in groups whose operands fit the wasm
 * memory. Returns false (and leaves `out` partial) when one batch alone
 * doesn't fit, so that the caller falls back to JS.
 */
function wasmMatmul(k: Kernels, a0: NDArray, b0: NDArray, out: Float32Array): boolean {
  const a = compact(a0);
  const b = compact(b0);
  const [B, M, K] = a.shape;
  const N = b.shape[2];
  const flops = 2 * B * M * N * K;
  let threads = flops >= PARALLEL_MIN_FLOPS ? getNumThreads() : 1;
  if (threads > 1) threads = ensureWorkers(k, threads);
  const aData = cpuData(a) as Float32Array;
  const bData = cpuData(b) as Float32Array;
  // Resident operands (in wasm memory already) are read in place, a resident output written in place.
  const aRes = residentAddress(aData);
  const bRes = residentAddress(bData);
  const cRes = residentAddress(out);
  const bytesFor = (g: number): number =>
    (aRes < 0 ? align16(extent(a.slice(0, 0, g)) * 4) : 0) + (bRes < 0 ? align16(extent(b.slice(0, 0, g)) * 4) : 0) + (cRes < 0 ? g * M * N * 4 : 0);
  let group = B;
  let base = k.arena.alloc(bytesFor(group));
  if (base < 0) {
    group = Math.max(1, Math.floor(B / Math.ceil(bytesFor(B) / (bytesFor(1) * 4))));
    base = k.arena.alloc(bytesFor(group));
    while (base < 0 && group > 1) {
      group >>= 1;
      base = k.arena.alloc(bytesFor(group));
    }
    if (base < 0) return false;
  }
  try {
    gemmGroups(k, a, b, aData, bData, aRes, bRes, cRes, out, group, base, threads);
  } finally {
    k.arena.release(base);
  }
  return true;
}

/** The batches of `a @ b` in groups of `group`, staging what is not resident at `base`. */
function gemmGroups(
  k: Kernels, a: NDArray, b: NDArray, aData: Float32Array, bData: Float32Array,
  aRes: number, bRes: number, cRes: number, out: Float32Array, group: number, base: number, threads: number,
): void {
  const [B, M, K] = a.shape;
  const N = b.shape[2];
  const [sa0, sa1, sa2] = a.strides;
  const [sb0, sb1, sb2] = b.strides;
  for (let t0 = 0; t0 < B; t0 += group) {
    const g = Math.min(group, B - t0);
    const ag = a.slice(0, t0, t0 + g);
    const bg = b.slice(0, t0, t0 + g);
    const ea = extent(ag);
    const eb = extent(bg);
    let next = base;
    const mem = new Float32Array(k.memory.buffer);
    let aPtr = aRes + ag.offset * 4;
    if (aRes < 0) {
      aPtr = next;
      next += align16(ea * 4);
      mem.set(aData.subarray(ag.offset, ag.offset + ea), aPtr / 4);
    }
    let bPtr = bRes + bg.offset * 4;
    if (bRes < 0) {
      bPtr = next;
      next += align16(eb * 4);
      mem.set(bData.subarray(bg.offset, bg.offset + eb), bPtr / 4);
    }
    const cPtr = cRes < 0 ? next : cRes + t0 * M * N * 4;
    if (threads === 1 || 2 * g * M * N * K < PARALLEL_MIN_FLOPS) {
      const scratch = scratchAddress(k, 0);
      for (let t = 0; t < g; t++) {
        k.gemm(M, N, K, aPtr + t * sa0 * 4, sa1, sa2, bPtr + t * sb0 * 4, sb1, sb2, cPtr + t * M * N * 4, N, 0, scratch);
      }
    } else {
      dispatch(k, threads, g, M, N, K, aPtr, sa0, sa1, sa2, bPtr, sb0, sb1, sb2, cPtr);
    }
    if (cRes < 0) out.set(new Float32Array(k.memory.buffer, cPtr, g * M * N), t0 * M * N);
  }
}

let jobBuf = new Int32Array(0);

/** Splits `g` batches into jobs (whole batches, or row/column strips of each) and runs them on the pool. */
function dispatch(
  k: Kernels, threads: number, g: number, M: number, N: number, K: number,
  aPtr: number, sa0: number, sa1: number, sa2: number,
  bPtr: number, sb0: number, sb1: number, sb2: number, cPtr: number,
): void {
  // Enough batches balance on their own; otherwise cut each product into `threads` strips
  // along its longer side (every strip packs all of the other operand, a lower-order cost).
  const parts = g >= 2 * threads ? 1 : threads;
  const alongM = M >= N;
  const len = alongM ? M : N;
  const unit = alongM ? GEMM_MR : GEMM_NR;
  const strip = Math.ceil(Math.ceil(len / parts) / unit) * unit;
  const perBatch = Math.ceil(len / strip);
  if (jobBuf.length < MAX_JOBS * JOB_WORDS) jobBuf = new Int32Array(MAX_JOBS * JOB_WORDS);
  let n = 0;
  const flush = (): void => {
    runJobs(k, jobBuf, n);
    n = 0;
  };
  for (let t = 0; t < g; t++) {
    const a = aPtr + t * sa0 * 4;
    const b = bPtr + t * sb0 * 4;
    const c = cPtr + t * M * N * 4;
    for (let p = 0; p < perBatch; p++) {
      const s = p * strip;
      const e = Math.min(len, s + strip);
      const o = n * JOB_WORDS;
      if (alongM) jobBuf.set([e - s, N, K, a + s * sa1 * 4, sa1, sa2, b, sb1, sb2, c + s * N * 4, N, 0], o);
      else jobBuf.set([M, e - s, K, a, sa1, sa2, b + s * sb2 * 4, sb1, sb2, c + s * 4, N, 0], o);
      if (++n === MAX_JOBS) flush();
    }
  }
  if (n > 0) flush();
}

/** Any dtype: each batch's operands are read in row-major order (copied first when needed). */
function jsMatmul(a: NDArray, b: NDArray): NDArray {
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

/** C[M,N] += A[M,K] @ B[K,N], all row-major, in the i-k-j order that streams B and C. */
function gemmRowMajor(
  M: number, N: number, K: number,
  A: ArrayLike<number>, ao: number, Bm: ArrayLike<number>, bo: number,
  C: { [i: number]: number }, co: number,
): void {
  for (let i = 0; i < M; i++) {
    const crow = co + i * N;
    for (let k = 0; k < K; k++) {
      const aik = A[ao + i * K + k];
      const brow = bo + k * N;
      for (let j = 0; j < N; j++) C[crow + j] += aik * Bm[brow + j];
    }
  }
}

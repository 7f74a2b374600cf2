import { allocTyped } from '../dtype.js';
import type { NDArray } from '../ndarray.js';
import { allocUninit } from './alloc.js';
import { cpuData, wrap } from './cpu-backend.js';
import { releaseResident } from './wasm/resident.js';
import { wasmColumnBackward, wasmColumnForward, wasmColumnStats } from './wasm/batch-norm-columns.js';
import { WASM_BN_MIN_RUN, WASM_BN_MIN_SIZE, wasmBatchNormBackward, wasmBatchNormForward, wasmBatchNormStats } from './wasm/batch-norm.js';

// BatchNorm kernels over contiguous x [N, C, S]: channel c's elements are the
// N runs x[n, c, 0..S). Sums accumulate in float64. Every loop walks memory in
// order, one run at a time, with the per-channel constants hoisted out of the
// inner loop; each kernel reads its inputs from memory once or twice at most.

/** Runs at least this long get the one-pass (per-run two-pass + merge) statistics. */
const MIN_RUN_FOR_MERGE = 32;

// The reductions below keep four independent accumulators: a single running
// sum is bound by the latency of the floating point add (about 4x slower).

/** sum(d[start..end)). */
function runSum(d: ArrayLike<number>, start: number, end: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = start;
  for (; i + 3 < end; i += 4) {
    s0 += d[i];
    s1 += d[i + 1];
    s2 += d[i + 2];
    s3 += d[i + 3];
  }
  for (; i < end; i++) s0 += d[i];
  return s0 + s1 + (s2 + s3);
}

/** sum((d[start..end) - mu)^2). */
function runSqDev(d: ArrayLike<number>, start: number, end: number, mu: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = start;
  for (; i + 3 < end; i += 4) {
    const t0 = d[i] - mu;
    const t1 = d[i + 1] - mu;
    const t2 = d[i + 2] - mu;
    const t3 = d[i + 3] - mu;
    s0 += t0 * t0;
    s1 += t1 * t1;
    s2 += t2 * t2;
    s3 += t3 * t3;
  }
  for (; i < end; i++) {
    const t = d[i] - mu;
    s0 += t * t;
  }
  return s0 + s1 + (s2 + s3);
}

function dims(x: NDArray): [number, number, number] {
  const [N, C, S] = x.shape;
  return [N, C, S];
}

/** @internal Host values of a (short) vector, as a float64 copy: the per-group or per-parameter constants of a kernel. */
export function hostVector(v: NDArray): Float64Array {
  const c = v.contiguous();
  return Float64Array.from(cpuData(c).subarray(c.offset, c.offset + c.size) as ArrayLike<number>);
}

/** Host values of a per-channel vector (or null), as a float64 copy: C values, cheap. */
function perChannel(v: NDArray | null): Float64Array | null {
  return v ? hostVector(v) : null;
}

/** @internal The data of x (a copy only when x is not contiguous) and the offset of its first element. */
export function contiguousData(x: NDArray): { d: ArrayLike<number>; o: number } {
  const c = x.contiguous();
  return { d: cpuData(c), o: c.offset };
}

/** float32 arrays with runs long enough go to the wasm SIMD kernels (wasm/batch-norm.ts). */
function useWasm(d: ArrayLike<number>, N: number, C: number, S: number): d is Float32Array {
  return d instanceof Float32Array && S >= WASM_BN_MIN_RUN && N * C * S >= WASM_BN_MIN_SIZE;
}

export function normalizeMoments(x: NDArray): [NDArray, NDArray] {
  const [N, C, S] = dims(x);
  const { d, o } = contiguousData(x);
  const mean = allocTyped(x.dtype, C);
  const variance = allocTyped(x.dtype, C);
  const m = N * S;
  if (useWasm(d, N, C, S)) {
    const mu = new Float64Array(C);
    const m2 = new Float64Array(C);
    if (wasmBatchNormStats(d, o, N, C, S, mu, m2)) {
      for (let c = 0; c < C; c++) {
        mean[c] = mu[c];
        variance[c] = m2[c] / m;
      }
      return [wrap(mean, [C]), wrap(variance, [C])];
    }
  }
  if (S >= MIN_RUN_FOR_MERGE) {
    // One pass over memory: each run's mean and centred sum of squares by two
    // passes over the run while it is in cache, merged across runs with Chan
    // et al.'s pairwise update (never E[x^2] - E[x]^2).
    const mu = new Float64Array(C);
    const m2 = new Float64Array(C);
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const start = o + (n * C + c) * S;
        const end = start + S;
        const rm = runSum(d, start, end) / S;
        const sq = runSqDev(d, start, end, rm);
        if (n === 0) {
          mu[c] = rm;
          m2[c] = sq;
        } else {
          // Merge (n*S values, mean mu, M2 m2) with (S values, mean rm, M2 sq).
          const na = n * S;
          const delta = rm - mu[c];
          const tot = na + S;
          mu[c] += (delta * S) / tot;
          m2[c] += sq + ((delta * delta * na) * S) / tot;
        }
      }
    }
    for (let c = 0; c < C; c++) {
      mean[c] = mu[c];
      variance[c] = m2[c] / m;
    }
    return [wrap(mean, [C]), wrap(variance, [C])];
  }
  if (S === 1) {
    // [N, C]: the same two passes, a row at a time (memory in order) with one
    // accumulator per channel, adding each channel's values in the same order
    // (float32 on the column kernels, the same sums).
    const sum = new Float64Array(C);
    const sq = new Float64Array(C);
    if (!(d instanceof Float32Array && wasmColumnStats(d, o, N, C, sum, sq))) {
      for (let n = 0; n < N; n++) {
        const row = o + n * C;
        for (let c = 0; c < C; c++) sum[c] += d[row + c];
      }
      const mu = sum.map((v) => v / m);
      for (let n = 0; n < N; n++) {
        const row = o + n * C;
        for (let c = 0; c < C; c++) {
          const t = d[row + c] - mu[c];
          sq[c] += t * t;
        }
      }
    }
    for (let c = 0; c < C; c++) {
      mean[c] = sum[c] / m;
      variance[c] = sq[c] / m;
    }
    return [wrap(mean, [C]), wrap(variance, [C])];
  }
  // Short runs (small spatial sizes): two passes over each channel.
  for (let c = 0; c < C; c++) {
    let sum = 0;
    for (let n = 0; n < N; n++) {
      const start = o + (n * C + c) * S;
      sum += runSum(d, start, start + S);
    }
    const mu = sum / m;
    let sq = 0;
    for (let n = 0; n < N; n++) {
      const start = o + (n * C + c) * S;
      sq += runSqDev(d, start, start + S, mu);
    }
    mean[c] = mu;
    variance[c] = sq / m;
  }
  return [wrap(mean, [C]), wrap(variance, [C])];
}

export function normalizeForward(x: NDArray, mean: NDArray, invstd: NDArray, weight: NDArray | null, bias: NDArray | null): [NDArray, NDArray] {
  const [N, C, S] = dims(x);
  const { d, o } = contiguousData(x);
  const mu = perChannel(mean)!;
  const is = perChannel(invstd)!;
  const w = perChannel(weight);
  const b = perChannel(bias);
  const xhat = allocUninit(x.dtype, N * C * S);
  if (useWasm(d, N, C, S)) {
    const y = w || b ? allocUninit('float32', N * C * S) : null;
    if (wasmBatchNormForward(d, o, N, C, S, mu, is, w, b, xhat as Float32Array, y)) {
      const h = wrap(xhat, [N, C, S]);
      return [y ? wrap(y, [N, C, S]) : h, h];
    }
    releaseResident(y);
  }
  if (S === 1) {
    // [N, C]: a row at a time (a loop over runs of one value costs several times more).
    const y = w || b ? allocUninit(x.dtype, N * C) : xhat;
    const h = wrap(xhat, [N, C, S]);
    if (d instanceof Float32Array && xhat instanceof Float32Array && wasmColumnForward(d, o, N, C, mu, is, w, b, xhat, y === xhat ? null : (y as Float32Array))) {
      return [y === xhat ? h : wrap(y, [N, C, S]), h];
    }
    for (let n = 0; n < N; n++) {
      const base = n * C;
      const ib = o + base;
      if (y === xhat) {
        for (let c = 0; c < C; c++) xhat[base + c] = (d[ib + c] - mu[c]) * is[c];
      } else {
        for (let c = 0; c < C; c++) {
          const v = (d[ib + c] - mu[c]) * is[c];
          xhat[base + c] = v;
          y[base + c] = v * (w ? w[c] : 1) + (b ? b[c] : 0);
        }
      }
    }
    return [y === xhat ? h : wrap(y, [N, C, S]), h];
  }
  if (!w && !b) {
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const base = (n * C + c) * S;
        const m0 = mu[c];
        const k = is[c];
        const ib = o + base;
        for (let s = 0; s < S; s++) xhat[base + s] = (d[ib + s] - m0) * k;
      }
    }
    const h = wrap(xhat, [N, C, S]);
    return [h, h];
  }
  const y = allocUninit(x.dtype, N * C * S);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const base = (n * C + c) * S;
      const m0 = mu[c];
      const k = is[c];
      const scale = w ? w[c] : 1;
      const shift = b ? b[c] : 0;
      const ib = o + base;
      for (let s = 0; s < S; s++) {
        const h = (d[ib + s] - m0) * k;
        xhat[base + s] = h;
        y[base + s] = h * scale + shift;
      }
    }
  }
  return [wrap(y, [N, C, S]), wrap(xhat, [N, C, S])];
}

export function normalizeBackward(dy: NDArray, xhat: NDArray, invstd: NDArray, weight: NDArray | null): [NDArray, NDArray, NDArray] {
  const [N, C, S] = dims(xhat);
  const { d: g, o: go } = contiguousData(dy);
  const { d: h, o: ho } = contiguousData(xhat);
  const is = perChannel(invstd)!;
  const w = perChannel(weight);
  const m = N * S;
  const dx = allocUninit(xhat.dtype, N * C * S);
  const dWeight = allocTyped(xhat.dtype, C);
  const dBias = allocTyped(xhat.dtype, C);
  if (useWasm(g, N, C, S) && h instanceof Float32Array) {
    if (wasmBatchNormBackward(g, go, h, ho, N, C, S, is, w, dx as Float32Array, dWeight as Float32Array, dBias as Float32Array)) {
      return [wrap(dx, [N, C, S]), wrap(dWeight, [C]), wrap(dBias, [C])];
    }
  }
  if (S === 1) {
    // [N, C]: the sums a row at a time (memory in order), in the order of the loop below.
    const A = new Float64Array(C);
    const B = new Float64Array(C);
    const D = new Float64Array(C);
    const coefficients = (sdyAcc: Float64Array, sdxAcc: Float64Array): [Float64Array, Float64Array, Float64Array] => {
      for (let c = 0; c < C; c++) {
        // + 0: the loop below adds its second (empty) accumulator, which turns -0 into +0.
        const sdy = sdyAcc[c] + 0;
        const sdx = sdxAcc[c] + 0;
        dWeight[c] = sdx;
        dBias[c] = sdy;
        const k = ((w ? w[c] : 1) * is[c]) / m;
        A[c] = k * m;
        B[c] = -k * sdx;
        D[c] = -k * sdy;
      }
      return [A, B, D];
    };
    if (g instanceof Float32Array && h instanceof Float32Array && dx instanceof Float32Array && wasmColumnBackward(g, go, h, ho, N, C, dx, coefficients)) {
      return [wrap(dx, [N, C, S]), wrap(dWeight, [C]), wrap(dBias, [C])];
    }
    const sdyAcc = new Float64Array(C);
    const sdxAcc = new Float64Array(C);
    for (let n = 0; n < N; n++) {
      const gr = go + n * C;
      const hr = ho + n * C;
      for (let c = 0; c < C; c++) {
        const v = g[gr + c];
        sdyAcc[c] += v;
        sdxAcc[c] += v * h[hr + c];
      }
    }
    coefficients(sdyAcc, sdxAcc);
    for (let n = 0; n < N; n++) {
      const base = n * C;
      for (let c = 0; c < C; c++) dx[base + c] = A[c] * g[go + base + c] + B[c] * h[ho + base + c] + D[c];
    }
    return [wrap(dx, [N, C, S]), wrap(dWeight, [C]), wrap(dBias, [C])];
  }
  // Channel by channel, so that a channel's values (N runs of S) are still in
  // cache when the second loop computes dx from the two reductions.
  for (let c = 0; c < C; c++) {
    let a0 = 0;
    let a1 = 0;
    let b0 = 0;
    let b1 = 0;
    for (let n = 0; n < N; n++) {
      const base = (n * C + c) * S;
      let i = go + base;
      let j = ho + base;
      const end = go + base + S;
      for (; i + 1 < end; i += 2, j += 2) {
        const v0 = g[i];
        const v1 = g[i + 1];
        a0 += v0;
        a1 += v1;
        b0 += v0 * h[j];
        b1 += v1 * h[j + 1];
      }
      if (i < end) {
        a0 += g[i];
        b0 += g[i] * h[j];
      }
    }
    const sdy = a0 + a1;
    const sdx = b0 + b1;
    dWeight[c] = sdx;
    dBias[c] = sdy;
    // dx = k (m dy - sum(dy) - xhat sum(dy xhat)) with k = weight * invstd / m, as A dy + B xhat + D.
    const k = ((w ? w[c] : 1) * is[c]) / m;
    const A = k * m;
    const B = -k * sdx;
    const D = -k * sdy;
    for (let n = 0; n < N; n++) {
      const base = (n * C + c) * S;
      const gb = go + base;
      const hb = ho + base;
      for (let s = 0; s < S; s++) dx[base + s] = A * g[gb + s] + B * h[hb + s] + D;
    }
  }
  return [wrap(dx, [N, C, S]), wrap(dWeight, [C]), wrap(dBias, [C])];
}

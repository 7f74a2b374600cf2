import { allocTyped } from '../dtype.js';
import type { NDArray } from '../ndarray.js';
import { cpuData, wrap } from './cpu-backend.js';

// BatchNorm kernels over contiguous x [N, C, S]: channel c's elements are the
// N runs x[n, c, 0..S). Sums accumulate in float64.

function dims(x: NDArray): [number, number, number] {
  const [N, C, S] = x.shape;
  return [N, C, S];
}

/** Host values of a per-channel vector (or null). */
function perChannel(v: NDArray | null): ArrayLike<number> | null {
  if (!v) return null;
  const c = v.contiguous();
  return c.offset === 0 ? cpuData(c) : cpuData(c).subarray(c.offset, c.offset + c.size);
}

function contiguousData(x: NDArray): { d: ArrayLike<number>; o: number } {
  const c = x.contiguous();
  return { d: cpuData(c), o: c.offset };
}

export function batchNormStats(x: NDArray): [NDArray, NDArray] {
  const [N, C, S] = dims(x);
  const { d, o } = contiguousData(x);
  const mean = allocTyped(x.dtype, C);
  const variance = allocTyped(x.dtype, C);
  const m = N * S;
  for (let c = 0; c < C; c++) {
    let sum = 0;
    for (let n = 0; n < N; n++) {
      const base = o + (n * C + c) * S;
      for (let s = 0; s < S; s++) sum += d[base + s];
    }
    const mu = sum / m;
    // Second pass over the centred values: never E[x^2] - E[x]^2.
    let sq = 0;
    for (let n = 0; n < N; n++) {
      const base = o + (n * C + c) * S;
      for (let s = 0; s < S; s++) {
        const t = d[base + s] - mu;
        sq += t * t;
      }
    }
    mean[c] = mu;
    variance[c] = sq / m;
  }
  return [wrap(mean, [C]), wrap(variance, [C])];
}

export function batchNormForward(x: NDArray, mean: NDArray, invstd: NDArray, weight: NDArray | null, bias: NDArray | null): [NDArray, NDArray] {
  const [N, C, S] = dims(x);
  const { d, o } = contiguousData(x);
  const mu = perChannel(mean)!;
  const is = perChannel(invstd)!;
  const w = perChannel(weight);
  const b = perChannel(bias);
  const xhat = allocTyped(x.dtype, N * C * S);
  const y = weight || bias ? allocTyped(x.dtype, N * C * S) : xhat;
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const base = (n * C + c) * S;
      const m0 = mu[c];
      const k = is[c];
      const scale = w ? w[c] : 1;
      const shift = b ? b[c] : 0;
      if (y === xhat) {
        for (let s = 0; s < S; s++) xhat[base + s] = (d[o + base + s] - m0) * k;
      } else {
        for (let s = 0; s < S; s++) {
          const h = (d[o + base + s] - m0) * k;
          xhat[base + s] = h;
          y[base + s] = h * scale + shift;
        }
      }
    }
  }
  return [wrap(y, [N, C, S]), wrap(xhat, [N, C, S])];
}

export function batchNormBackward(dy: NDArray, xhat: NDArray, invstd: NDArray, weight: NDArray | null): [NDArray, NDArray, NDArray] {
  const [N, C, S] = dims(xhat);
  const g = contiguousData(dy);
  const h = contiguousData(xhat);
  const is = perChannel(invstd)!;
  const w = perChannel(weight);
  const m = N * S;
  const sdy = new Float64Array(C);
  const sdx = new Float64Array(C);
  // The two reductions, in one pass.
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const base = (n * C + c) * S;
      let a = 0;
      let bsum = 0;
      for (let s = 0; s < S; s++) {
        const v = g.d[g.o + base + s];
        a += v;
        bsum += v * h.d[h.o + base + s];
      }
      sdy[c] += a;
      sdx[c] += bsum;
    }
  }
  const dx = allocTyped(xhat.dtype, N * C * S);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const base = (n * C + c) * S;
      const k = ((w ? w[c] : 1) * is[c]) / m;
      const mdy = sdy[c];
      const mdx = sdx[c];
      for (let s = 0; s < S; s++) dx[base + s] = k * (m * g.d[g.o + base + s] - mdy - h.d[h.o + base + s] * mdx);
    }
  }
  const dWeight = allocTyped(xhat.dtype, C);
  const dBias = allocTyped(xhat.dtype, C);
  dWeight.set(sdx);
  dBias.set(sdy);
  return [wrap(dx, [N, C, S]), wrap(dWeight, [C]), wrap(dBias, [C])];
}

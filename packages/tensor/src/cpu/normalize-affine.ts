import { allocTyped } from '../dtype.js';
import type { NDArray } from '../ndarray.js';
import type { AffineLayout } from '../backend.js';
import { allocUninit } from './alloc.js';
import { contiguousData, hostVector, normalizeForward } from './normalize.js';
import { cpuData, wrap } from './cpu-backend.js';
import { wasmLayerNormBackward, wasmLayerNormForward, wasmRunDx, wasmRunSums } from './wasm/normalize-rows.js';

// The normalizations of x [1, G, B] (each group one run of B contiguous
// values: LayerNorm's rows, GroupNorm's groups) whose affine map varies inside
// a group: entry (g % P) * (B / Q) + floor(b / Q) of weight and bias applies to
// x[0, g, b] (layout { period: P, span: Q }). LayerNorm is P = 1, Q = 1;
// GroupNorm P = groups, Q = H * W. As the BatchNorm kernels, in float64, with
// the wasm kernels for float32 where they apply and JS loops otherwise.

/** A vector's contiguous float32 values (a view when it already is one). */
function host32(v: NDArray): Float32Array {
  const c = v.contiguous();
  const d = cpuData(c);
  return d instanceof Float32Array ? d.subarray(c.offset, c.offset + c.size) : Float32Array.from(d.subarray(c.offset, c.offset + c.size) as ArrayLike<number>);
}

/** Runs of at least this many values take the per-span path (BatchNorm's kernels over spans); shorter ones the general loop. */
const MIN_SPAN = 16;

export function normalizeAffineForward(x: NDArray, mean: NDArray, invstd: NDArray, weight: NDArray, bias: NDArray, layout: AffineLayout): [NDArray, NDArray] {
  const [, G, B] = x.shape;
  const { period: P, span: Q } = layout;
  const per = B / Q;
  const mu = hostVector(mean);
  const is = hostVector(invstd);
  const { d, o } = contiguousData(x);
  if (P === 1 && Q === 1 && d instanceof Float32Array) {
    const xhat = allocUninit('float32', G * B) as Float32Array;
    const y = allocUninit('float32', G * B) as Float32Array;
    if (wasmLayerNormForward(d, o, G, B, mu, is, host32(weight), host32(bias), xhat, y)) return [wrap(y, [1, G, B]), wrap(xhat, [1, G, B])];
  }
  if (Q >= MIN_SPAN) {
    // Every span of Q values has constant statistics and affine parameters: BatchNorm's forward over [1, G * per, Q].
    const spans = G * per;
    const w = hostVector(weight);
    const b = hostVector(bias);
    const vec = (f: (g: number, j: number) => number): NDArray => {
      const a = allocTyped(x.dtype, spans);
      for (let g = 0, s = 0; g < G; g++) for (let j = 0; j < per; j++, s++) a[s] = f(g, j);
      return wrap(a, [spans]);
    };
    const [y, xhat] = normalizeForward(
      x.reshape([1, spans, Q]), vec((g) => mu[g]), vec((g) => is[g]),
      vec((g, j) => w[(g % P) * per + j]), vec((g, j) => b[(g % P) * per + j]),
    );
    return [y.reshape([1, G, B]), xhat.reshape([1, G, B])];
  }
  const w = hostVector(weight);
  const bb = hostVector(bias);
  const xhat = allocUninit(x.dtype, G * B);
  const y = allocUninit(x.dtype, G * B);
  for (let g = 0; g < G; g++) {
    const base = (g % P) * per;
    const m0 = mu[g];
    const k = is[g];
    for (let i = 0; i < B; i++) {
      const j = base + Math.floor(i / Q);
      const h = (d[o + g * B + i] - m0) * k;
      xhat[g * B + i] = h;
      y[g * B + i] = h * w[j] + bb[j];
    }
  }
  return [wrap(y, [1, G, B]), wrap(xhat, [1, G, B])];
}

export function normalizeAffineBackward(dy: NDArray, xhat: NDArray, invstd: NDArray, weight: NDArray, layout: AffineLayout, centered: boolean): [NDArray, NDArray, NDArray] {
  // Not centered (RMS norms): dx has no sum(g) term, the D coefficient below is 0.
  const meanTerm = centered ? 1 : 0;
  const [, G, B] = xhat.shape;
  const { period: P, span: Q } = layout;
  const per = B / Q;
  const is = hostVector(invstd);
  const { d: g, o: go } = contiguousData(dy);
  const { d: h, o: ho } = contiguousData(xhat);
  const n = P * per;
  const dx = allocUninit(xhat.dtype, G * B);
  const dWeight = allocTyped(xhat.dtype, n);
  const dBias = allocTyped(xhat.dtype, n);
  const done = (): [NDArray, NDArray, NDArray] => [wrap(dx, [1, G, B]), wrap(dWeight, [n]), wrap(dBias, [n])];
  const f32 = g instanceof Float32Array && h instanceof Float32Array && dx instanceof Float32Array;
  if (P === 1 && Q === 1 && f32 && wasmLayerNormBackward(g, go, h, ho, G, B, is, host32(weight), centered, dx, dWeight as Float32Array, dBias as Float32Array)) return done();
  const w = hostVector(weight);
  if (Q >= MIN_SPAN) {
    // Per span: sum(dy) and sum(dy xhat); per group the weighted sums S1 = sum_j w_j sum(dy) and
    // S2 = sum_j w_j sum(dy xhat); then dx = A dy + B xhat + D per span, A = invstd w_j,
    // B = -invstd S2 / B, D = -invstd S1 / B.
    const spans = G * per;
    const sums = new Float64Array(2 * spans);
    if (!(f32 && wasmRunSums(g, go, h, ho, spans, Q, sums))) {
      for (let s = 0; s < spans; s++) {
        let sdy = 0;
        let sdx = 0;
        for (let q = 0; q < Q; q++) {
          const v = g[go + s * Q + q];
          sdy += v;
          sdx += v * h[ho + s * Q + q];
        }
        sums[2 * s] = sdy;
        sums[2 * s + 1] = sdx;
      }
    }
    const coef = new Float64Array(3 * spans);
    const dw = new Float64Array(n);
    const db = new Float64Array(n);
    for (let gi = 0; gi < G; gi++) {
      const base = (gi % P) * per;
      let s1 = 0;
      let s2 = 0;
      for (let j = 0; j < per; j++) {
        const s = gi * per + j;
        s1 += w[base + j] * sums[2 * s];
        s2 += w[base + j] * sums[2 * s + 1];
        db[base + j] += sums[2 * s];
        dw[base + j] += sums[2 * s + 1];
      }
      const k = is[gi] / B;
      for (let j = 0; j < per; j++) {
        const s = gi * per + j;
        coef[3 * s] = is[gi] * w[base + j];
        coef[3 * s + 1] = -k * s2;
        coef[3 * s + 2] = -k * s1 * meanTerm;
      }
    }
    dWeight.set(dw);
    dBias.set(db);
    if (f32 && wasmRunDx(g, go, h, ho, spans, Q, coef, dx)) return done();
    for (let s = 0; s < spans; s++) {
      const [A, Bc, D] = [coef[3 * s], coef[3 * s + 1], coef[3 * s + 2]];
      for (let q = 0; q < Q; q++) dx[s * Q + q] = A * g[go + s * Q + q] + Bc * h[ho + s * Q + q] + D;
    }
    return done();
  }
  const dw = new Float64Array(n);
  const db = new Float64Array(n);
  for (let gi = 0; gi < G; gi++) {
    const base = (gi % P) * per;
    let s1 = 0;
    let s2 = 0;
    for (let i = 0; i < B; i++) {
      const j = base + Math.floor(i / Q);
      const v = g[go + gi * B + i];
      const hv = h[ho + gi * B + i];
      const gw = v * w[j];
      s1 += gw;
      s2 += gw * hv;
      dw[j] += v * hv;
      db[j] += v;
    }
    const k = is[gi] / B;
    for (let i = 0; i < B; i++) {
      const j = base + Math.floor(i / Q);
      dx[gi * B + i] = is[gi] * (g[go + gi * B + i] * w[j]) - k * s2 * h[ho + gi * B + i] - k * s1 * meanTerm;
    }
  }
  dWeight.set(dw);
  dBias.set(db);
  return done();
}

/**
 * The BatchNorm kernels normalizeMoments / normalizeForward / normalizeBackward
 * against direct float64 references: random shapes [N, C, ...] (rank 2..4),
 * float64 and float32, strided (non-contiguous) inputs and channel vectors,
 * numerical stability with a large offset, and validation errors.
 */
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { type NDArray, normalizeBackward, normalizeForward, normalizeMoments, fromTyped, zeros } from '../src/index.js';
import { randomData } from './helpers.js';
import { getKernels } from '../src/cpu/wasm/kernels.js';

const shapeArb: fc.Arbitrary<number[]> = fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 2, maxLength: 4 });
/** Also long runs (S >= 32 values per (n, c)): the statistics kernel merges per-run moments there. */
const statsShapeArb: fc.Arbitrary<number[]> = fc.oneof(
  shapeArb,
  fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 30, max: 70 })).map((t) => [...t]),
  fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 5, max: 9 }), fc.integer({ min: 5, max: 9 })).map((t) => [...t]),
);
const S_ = (shape: readonly number[]): number => shape.slice(2).reduce((a, b) => a * b, 1);
const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
const chanOf = (k: number, shape: readonly number[]): number => Math.floor(k / S_(shape)) % shape[1];
const vals = (a: NDArray): number[] => Array.from(a.toTypedArray(), Number);

/** Per-channel two-pass float64 mean and biased variance of row-major values. */
function refStats(v: ArrayLike<number>, shape: readonly number[]): { mean: number[]; variance: number[] } {
  const C = shape[1];
  const m = size(shape) / C;
  const mean = new Array<number>(C).fill(0);
  for (let k = 0; k < v.length; k++) mean[chanOf(k, shape)] += v[k];
  for (let c = 0; c < C; c++) mean[c] /= m;
  const variance = new Array<number>(C).fill(0);
  for (let k = 0; k < v.length; k++) variance[chanOf(k, shape)] += (v[k] - mean[chanOf(k, shape)]) ** 2;
  for (let c = 0; c < C; c++) variance[c] /= m;
  return { mean, variance };
}

function close(a: ArrayLike<number>, e: ArrayLike<number>, tol: number, what: string): void {
  expect(a.length).toBe(e.length);
  for (let i = 0; i < a.length; i++) {
    if (!(Math.abs(a[i] - e[i]) <= tol * (1 + Math.abs(e[i])))) throw new Error(`${what}[${i}]: ${a[i]} vs expected ${e[i]} (tol ${tol})`);
  }
}

const f64 = (v: ArrayLike<number>, shape: number[]): NDArray => fromTyped(Float64Array.from(v), shape);
const f32 = (v: ArrayLike<number>, shape: number[]): NDArray => fromTyped(Float32Array.from(v), shape);

/** x of `shape` as a non-contiguous view: a permuted copy permuted back, or a strided slice of a larger array. */
function strided(v: ArrayLike<number>, shape: number[], how: 'permute' | 'slice'): NDArray {
  if (how === 'permute') {
    // Store x transposed ([C, N, ...] in memory) and view it as [N, C, ...].
    const [N, C] = shape;
    const S = S_(shape);
    const t = new Float64Array(v.length);
    for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let s = 0; s < S; s++) t[(c * N + n) * S + s] = v[(n * C + c) * S + s];
    const a = fromTyped(t, [C, N, ...shape.slice(2)]).transpose(0, 1);
    expect(a.isContiguous()).toBe(shape[0] === 1 || shape[1] === 1);
    return a;
  }
  // Every other element of the last dim of a [.., 2 * last + 1] array, from offset 1.
  const last = shape[shape.length - 1];
  const big = [...shape.slice(0, -1), 2 * last + 1];
  const b = new Float64Array(size(big)).fill(Number.NaN);
  for (let k = 0; k < v.length; k++) b[Math.floor(k / last) * (2 * last + 1) + 1 + 2 * (k % last)] = v[k];
  return fromTyped(b, big).slice(-1, 1, undefined, 2);
}

/** A per-channel vector as a strided view (every other element of a longer array, offset 1). */
function stridedVec(v: ArrayLike<number>): NDArray {
  const b = new Float64Array(2 * v.length + 1).fill(Number.NaN);
  for (let i = 0; i < v.length; i++) b[1 + 2 * i] = v[i];
  return fromTyped(b, [b.length]).slice(0, 1, undefined, 2);
}

describe('normalizeMoments', () => {
  it('equals the two-pass float64 reference (float64 and float32)', () => {
    fc.assert(fc.property(statsShapeArb, fc.integer(), fc.boolean(), (shape, seed, single) => {
      const v = randomData(size(shape), seed).map((e, k) => 3 * e + chanOf(k, shape));
      const x = single ? f32(v, shape) : f64(v, shape);
      const [mean, variance] = normalizeMoments(x);
      expect(mean.shape).toEqual([shape[1]]);
      expect(variance.shape).toEqual([shape[1]]);
      expect(mean.dtype).toBe(x.dtype);
      const ref = refStats(x.toTypedArray(), shape);
      close(vals(mean), ref.mean, single ? 1e-6 : 1e-14, 'mean');
      close(vals(variance), ref.variance, single ? 1e-6 : 1e-13, 'variance');
    }), { numRuns: 40 });
  });

  it('[N, C] inputs: the statistics and the backward sums are the in-order float64 sums, bit for bit', () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 70 }), fc.integer({ min: 1, max: 40 }), fc.integer(), (N, C, seed) => {
      const v = Float64Array.from(randomData(N * C, seed), (x, i) => (i % 7 === 3 ? -0 : x * 3 + 1));
      const x = fromTyped(v, [N, C]);
      const [mean, variance] = normalizeMoments(x);
      const ref = refStats(v, [N, C]);
      expect(vals(mean)).toEqual(ref.mean);
      expect(vals(variance)).toEqual(ref.variance);
      const g = Float64Array.from(randomData(N * C, seed + 1));
      const [, dw, db] = normalizeBackward(fromTyped(g, [N, C]), x, fromTyped(new Float64Array(C).fill(1), [C]));
      const sdy = new Array<number>(C).fill(0);
      const sdx = new Array<number>(C).fill(0);
      for (let k = 0; k < v.length; k++) {
        sdy[k % C] += g[k];
        sdx[k % C] += g[k] * v[k];
      }
      expect(vals(db)).toEqual(sdy);
      expect(vals(dw)).toEqual(sdx);
    }), { numRuns: 50 });
  });

  it('[N, C] float32 (the column kernels): statistics, xhat, y, the backward sums and dx are the in-order float64 results, rounded once', () => {
    const k = getKernels();
    const spies = k ? (['colsqdev_f32', 'colnorm_f32', 'coldx_f32'] as const).map((name) => vi.spyOn(k, name)) : [];
    fc.assert(fc.property(fc.integer({ min: 2, max: 70 }), fc.integer({ min: 1, max: 16 }), fc.boolean(), fc.integer(), (N, C4, resident, seed) => {
      const C = 4 * C4;
      const v = Float32Array.from(randomData(N * C + 1, seed), (x) => x * 3 + 1);
      const host = fromTyped(v, [N * C + 1]).narrow(0, 1, N * C).reshape([N, C]);
      const x = resident ? host.clone() : host;
      const xv = v.subarray(1);
      const [mean, variance] = normalizeMoments(x);
      const ref = refStats(xv, [N, C]);
      expect(vals(mean)).toEqual(ref.mean.map(Math.fround));
      expect(vals(variance)).toEqual(ref.variance.map(Math.fround));
      const is = fromTyped(Float32Array.from(vals(variance), (q) => 1 / Math.sqrt(q + 1e-5)), [C]);
      const w = fromTyped(Float32Array.from(randomData(C, seed + 2)), [C]);
      const b = fromTyped(Float32Array.from(randomData(C, seed + 3)), [C]);
      const [mv, iv, wv, bv] = [mean, is, w, b].map(vals);
      const [y, xhat] = normalizeForward(x, mean, is, w, b);
      const hRef = Array.from(xv, (q, k) => (q - mv[k % C]) * iv[k % C]);
      expect(vals(xhat)).toEqual(hRef.map(Math.fround));
      expect(vals(y)).toEqual(hRef.map((h, k) => Math.fround(h * wv[k % C] + bv[k % C])));
      const gv = Float32Array.from(randomData(N * C, seed + 1));
      const hv = Float32Array.from(vals(xhat));
      const [dx, dw, db] = normalizeBackward(fromTyped(gv, [N, C]), xhat, is, w);
      const sdy = new Array<number>(C).fill(0);
      const sdx = new Array<number>(C).fill(0);
      for (let k = 0; k < gv.length; k++) {
        sdy[k % C] += gv[k];
        sdx[k % C] += gv[k] * hv[k];
      }
      expect(vals(db)).toEqual(sdy.map((q) => Math.fround(q + 0)));
      expect(vals(dw)).toEqual(sdx.map((q) => Math.fround(q + 0)));
      const kc = sdy.map((_, c) => (wv[c] * iv[c]) / N);
      expect(vals(dx)).toEqual(Array.from(gv, (g, k) => Math.fround(kc[k % C] * N * g + -kc[k % C] * sdx[k % C] * hv[k] + -kc[k % C] * sdy[k % C])));
    }), { numRuns: 40 });
    for (const spy of spies) expect(spy).toHaveBeenCalled();
    vi.restoreAllMocks();
  });

  it('is stable for a large offset: 1e4 + noise in float32', () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 32 }), fc.integer({ min: 1, max: 3 }), fc.constantFrom(1, 16, 64), fc.integer(), (N, C, S, seed) => {
      const shape = [N, C, S];
      const noise = randomData(size(shape), seed);
      const x = f32(Array.from(noise, (e) => 1e4 + e), shape);
      const [mean, variance] = normalizeMoments(x);
      // The reference from the float32 values themselves, in float64.
      const ref = refStats(x.toTypedArray(), shape);
      close(vals(mean), ref.mean, 1e-7, 'mean');
      // A one-pass E[x^2] - E[x]^2 in float32 would lose every digit here (and could go negative).
      ref.variance.forEach((r, c) => {
        expect(vals(variance)[c]).toBeGreaterThan(0);
        expect(Math.abs(vals(variance)[c] - r)).toBeLessThanOrEqual(1e-5 * r + 1e-9);
      });
    }), { numRuns: 20 });
  });

  it('constant channels have variance exactly 0', () => {
    const [mean, variance] = normalizeMoments(f32(new Array(12).fill(1e4 + 0.5), [2, 3, 2]));
    expect(vals(mean)).toEqual([10000.5, 10000.5, 10000.5]);
    expect(vals(variance)).toEqual([0, 0, 0]);
  });

  it('strided inputs give the same statistics as contiguous ones', () => {
    fc.assert(fc.property(statsShapeArb, fc.integer(), fc.constantFrom('permute', 'slice') as fc.Arbitrary<'permute' | 'slice'>, (shape, seed, how) => {
      const v = randomData(size(shape), seed);
      const [m0, v0] = normalizeMoments(f64(v, shape));
      const [m1, v1] = normalizeMoments(strided(v, shape, how));
      close(vals(m1), vals(m0), 1e-15, 'mean');
      close(vals(v1), vals(v0), 1e-15, 'variance');
    }), { numRuns: 30 });
  });
});

describe('normalizeForward / normalizeBackward', () => {
  const caseArb = fc.record({
    shape: shapeArb, seed: fc.integer(), affine: fc.constantFrom('both', 'weight', 'bias', 'none'),
    xs: fc.constantFrom('contiguous', 'permute', 'slice'), vs: fc.boolean(),
  });

  it('match a direct reference (values, shapes, strided x and channel vectors)', () => {
    fc.assert(fc.property(caseArb, ({ shape, seed, affine, xs, vs }) => {
      const C = shape[1];
      const n = size(shape);
      const v = randomData(n, seed);
      const mu = Array.from(randomData(C, seed + 1));
      const is = Array.from(randomData(C, seed + 2), (e) => 1.5 + e);
      const w = affine === 'both' || affine === 'weight' ? Array.from(randomData(C, seed + 3)) : null;
      const b = affine === 'both' || affine === 'bias' ? Array.from(randomData(C, seed + 4)) : null;
      const vec = (a: number[]): NDArray => (vs ? stridedVec(a) : f64(a, [C]));
      const x = xs === 'contiguous' ? f64(v, shape) : strided(v, shape, xs);
      const [y, xhat] = normalizeForward(x, vec(mu), vec(is), w && vec(w), b && vec(b));
      expect(y.shape).toEqual(shape);
      expect(xhat.shape).toEqual(shape);
      const refH = Array.from(v, (e, k) => (e - mu[chanOf(k, shape)]) * is[chanOf(k, shape)]);
      const refY = refH.map((h, k) => h * (w ? w[chanOf(k, shape)] : 1) + (b ? b[chanOf(k, shape)] : 0));
      close(vals(xhat), refH, 1e-15, 'xhat');
      close(vals(y), refY, 1e-15, 'y');

      // Backward from a strided dy too.
      const gv = randomData(n, seed + 5);
      const dy = xs === 'contiguous' ? f64(gv, shape) : strided(gv, shape, xs);
      const [dx, dw, db] = normalizeBackward(dy, xhat, vec(is), w && vec(w));
      expect(dx.shape).toEqual(shape);
      expect(dw.shape).toEqual([C]);
      expect(db.shape).toEqual([C]);
      const m = n / C;
      const sdy = new Array<number>(C).fill(0);
      const sdx = new Array<number>(C).fill(0);
      gv.forEach((g, k) => {
        sdy[chanOf(k, shape)] += g;
        sdx[chanOf(k, shape)] += g * refH[k];
      });
      const refDx = Array.from(gv, (g, k) => {
        const c = chanOf(k, shape);
        return ((w ? w[c] : 1) * is[c] / m) * (m * g - sdy[c] - refH[k] * sdx[c]);
      });
      close(vals(dx), refDx, 1e-13, 'dx');
      close(vals(dw), sdx, 1e-13, 'dweight');
      close(vals(db), sdy, 1e-13, 'dbias');
    }), { numRuns: 50 });
  });

  it('y equals xhat without weight and bias; float32 stays float32', () => {
    const x = f32([1, 2, 3, 4, 5, 6], [3, 2]);
    const [y, xhat] = normalizeForward(x, f32([0, 1], [2]), f32([1, 2], [2]));
    expect(vals(y)).toEqual(vals(xhat));
    expect(y.dtype).toBe('float32');
    expect(vals(y)).toEqual([1, 2, 3, 6, 5, 10]);
    const [dx, dw, db] = normalizeBackward(f32([1, 1, 1, 1, 1, 1], [3, 2]), xhat, f32([1, 2], [2]));
    expect([dx.dtype, dw.dtype, db.dtype]).toEqual(['float32', 'float32', 'float32']);
    expect(vals(db)).toEqual([3, 3]);
  });
});

describe('BatchNorm kernel validation', () => {
  const x = f64([1, 2, 3, 4, 5, 6], [3, 2]);
  const v2 = f64([0, 1], [2]);

  it('input rank, dtype and emptiness', () => {
    expect(() => normalizeMoments(f64([1, 2], [2]))).toThrow('normalizeMoments: expected input [N, C, ...] with at least 2 dims, got [2]');
    expect(() => normalizeMoments(fromTyped(Int32Array.from([1, 2, 3, 4]), [2, 2]))).toThrow(/floating point input, got int32/);
    expect(() => normalizeMoments(zeros([0, 3]))).toThrow('normalizeMoments: no values per channel in input [0,3]');
    expect(() => normalizeMoments(zeros([2, 3, 0]))).toThrow(/no values per channel in input \[2,3,0\]/);
    expect(() => normalizeMoments([1, 2] as unknown as NDArray)).toThrow(TypeError);
    expect(() => normalizeForward(f64([1], [1]), v2, v2)).toThrow(/at least 2 dims, got \[1\]/);
  });

  it('channel vectors: shape, dtype, type', () => {
    expect(() => normalizeForward(x, f64([0, 1, 2], [3]), v2)).toThrow('normalizeForward: expected mean of shape [2] for input [3,2], got [3]');
    expect(() => normalizeForward(x, v2, f64([1, 1], [1, 2]))).toThrow(/invstd of shape \[2\] for input \[3,2\], got \[1,2\]/);
    expect(() => normalizeForward(x, v2, v2, f32([1, 1], [2]))).toThrow('normalizeForward: weight is float32 but the input is float64');
    expect(() => normalizeForward(x, v2, v2, null, f64([1], [1]))).toThrow(/bias of shape \[2\]/);
    expect(() => normalizeForward(x, [0, 1] as unknown as NDArray, v2)).toThrow(/mean to be an NDArray or null/);
  });

  it('backward: dy must have xhat shape; invstd and weight checked', () => {
    expect(() => normalizeBackward(f64([1, 2], [1, 2]), x, v2)).toThrow('normalizeBackward: dy [1,2] must have xhat\'s shape [3,2]');
    expect(() => normalizeBackward(x, x, f64([1], [1]))).toThrow(/invstd of shape \[2\]/);
    expect(() => normalizeBackward(x, x, v2, f64([1, 2, 3], [3]))).toThrow(/weight of shape \[2\]/);
  });
});

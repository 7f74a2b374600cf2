/**
 * The float32 BatchNorm kernels on WebAssembly SIMD (src/cpu/wasm/batch-norm.ts):
 * arrays large enough to take that path, against float64 references. xhat and
 * y must be the float32 roundings of the float64 expressions (as the JS loops
 * give), the statistics float64-accurate, and the results the same on one and
 * on two threads. Shapes cover runs not a multiple of 4 long, runs longer than
 * a staged piece, and offset views. Each value test runs on host inputs (copied
 * into wasm memory whole), on host inputs with no room for such temporaries
 * (the kernels stage them piece by piece) and on resident ones (wasm memory,
 * read in place).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type NDArray, normalizeBackward, normalizeForward, normalizeMoments, fromTyped } from '../src/index.js';
import { WASM_BN_MIN_RUN, WASM_BN_MIN_SIZE } from '../src/cpu/wasm/batch-norm.js';
import { cpuData } from '../src/cpu/cpu-backend.js';
import { getKernels } from '../src/cpu/wasm/kernels.js';
import { residentAddress, setTemporaryBytesLimit } from '../src/cpu/wasm/resident.js';
import { getNumThreads, setNumThreads } from '../src/cpu/wasm/thread-pool.js';
import { randomData } from './helpers.js';

const threads = getNumThreads();
const temporaryLimit = setTemporaryBytesLimit(0);
setTemporaryBytesLimit(temporaryLimit);
afterEach(() => {
  setNumThreads(threads);
  setTemporaryBytesLimit(temporaryLimit);
});

const SHAPES: number[][] = [
  [4, 3, 70, 40], // S = 2800
  [3, 5, 2801], // S odd
  [2, 2, 70001], // runs longer than any staged piece
  [16, 2, 1, 1031], // S = 1031, runs spanning piece boundaries unevenly
];

/** Same length and values (a loop: toEqual on arrays this long is slow). */
function same(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < got.length; i++) {
    if (!Object.is(got[i], want[i])) throw new Error(`${what}[${i}]: got ${got[i]}, want ${want[i]}`);
  }
}
const vals = (a: NDArray): Float32Array => a.toTypedArray() as Float32Array;

const isResident = (a: NDArray): boolean => residentAddress(cpuData(a)) >= 0;

/**
 * Host inputs (fromTyped wraps the array), the same with no room for
 * temporaries (the staged path), then resident ones (a large float32 clone
 * lives in wasm memory).
 */
const VARIANTS = ['host', 'staged', 'resident'] as const;

/** Sets up `variant` for the test; true when its inputs are resident. */
function useVariant(variant: (typeof VARIANTS)[number]): boolean {
  if (variant === 'staged') setTemporaryBytesLimit(0);
  return variant === 'resident';
}

function data(shape: number[], seed: number, offset = 0, resident = false): { x: NDArray; v: Float32Array } {
  const n = shape.reduce((a, b) => a * b, 1);
  const r = randomData(n + 3, seed);
  const all = new Float32Array(n + 3);
  for (let i = 0; i < all.length; i++) all[i] = offset + 3 * r[i];
  // an offset view: narrow keeps the storage and moves the offset
  const t = fromTyped(all, [n + 3]);
  const x = (resident ? t.clone() : t).narrow(0, 3, n).reshape(shape);
  if (isResident(x) !== resident) throw new Error(`data(${shape}): expected ${resident ? 'a resident' : 'a host'} array`);
  return { x, v: all.subarray(3) };
}

function refStats(v: Float32Array, N: number, C: number, S: number): { mean: number[]; variance: number[] } {
  const mean = new Array<number>(C).fill(0);
  const variance = new Array<number>(C).fill(0);
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (let n = 0; n < N; n++) for (let i = 0; i < S; i++) s += v[(n * C + c) * S + i];
    const mu = s / (N * S);
    let q = 0;
    for (let n = 0; n < N; n++) for (let i = 0; i < S; i++) q += (v[(n * C + c) * S + i] - mu) ** 2;
    mean[c] = mu;
    variance[c] = q / (N * S);
  }
  return { mean, variance };
}

describe.skipIf(getKernels() === null)('float32 BatchNorm on the wasm kernels', () => {
  it('the test shapes take the wasm path', () => {
    for (const s of SHAPES) {
      expect(s.slice(2).reduce((a, b) => a * b, 1)).toBeGreaterThanOrEqual(WASM_BN_MIN_RUN);
      expect(s.reduce((a, b) => a * b, 1)).toBeGreaterThanOrEqual(WASM_BN_MIN_SIZE);
    }
  });

  it.each(VARIANTS)('statistics are float64-accurate, also for a large offset (%s input)', (variant) => {
    const resident = useVariant(variant);
    for (const [i, shape] of SHAPES.entries()) {
      for (const offset of [0, 1e4]) {
        const [N, C] = shape;
        const S = shape.slice(2).reduce((a, b) => a * b, 1);
        const { x, v } = data(shape, 10 + i, offset, resident);
        expect(isResident(x)).toBe(resident);
        const ref = refStats(v, N, C, S);
        for (const t of [1, 2]) {
          setNumThreads(t);
          const [mean, variance] = normalizeMoments(x);
          const m = vals(mean);
          const va = vals(variance);
          for (let c = 0; c < C; c++) {
            // float32 results: the reference rounded, within an ulp
            expect(Math.abs(m[c] - ref.mean[c])).toBeLessThanOrEqual(1.2e-7 * Math.abs(ref.mean[c]) + 1e-12);
            expect(Math.abs(va[c] - ref.variance[c])).toBeLessThanOrEqual(1.2e-7 * ref.variance[c]);
          }
        }
      }
    }
  });

  it.each(VARIANTS)('xhat and y are the float32 roundings of the float64 expressions; one and two threads agree (%s input)', (variant) => {
    const resident = useVariant(variant);
    for (const [i, shape] of SHAPES.entries()) {
      const [N, C] = shape;
      const S = shape.slice(2).reduce((a, b) => a * b, 1);
      const { x, v } = data(shape, 20 + i, 0, resident);
      expect(isResident(x)).toBe(resident);
      const mu = Float32Array.from(randomData(C, 30 + i));
      const is = Float32Array.from(randomData(C, 40 + i), (e) => 1.5 + e);
      const w = Float32Array.from(randomData(C, 50 + i));
      const b = Float32Array.from(randomData(C, 60 + i));
      const vec = (a: Float32Array): NDArray => fromTyped(a, [C]);
      const refH = new Float32Array(v.length);
      const refY = new Float32Array(v.length);
      for (let k = 0; k < v.length; k++) {
        const c = Math.floor(k / S) % C;
        const hd = (v[k] - mu[c]) * is[c];
        refH[k] = hd;
        refY[k] = hd * w[c] + b[c];
      }
      for (const t of [1, 2]) {
        setNumThreads(t);
        const [y, xhat] = normalizeForward(x, vec(mu), vec(is), vec(w), vec(b));
        // large float32 outputs are resident either way; with a resident input nothing is staged
        expect(isResident(xhat) && isResident(y)).toBe(true);
        same(vals(xhat), refH, 'xhat');
        same(vals(y), refY, 'y');
        const [y0, xhat0] = normalizeForward(x, vec(mu), vec(is));
        same(vals(xhat0), refH, 'xhat (no affine)');
        same(vals(y0), refH, 'y (no affine)');
      }
      expect(N * C * S).toBe(v.length);
    }
  });

  it.each(VARIANTS)('backward: dx, dweight and dbias against float64 sums; one and two threads agree bit for bit (%s inputs)', (variant) => {
    const resident = useVariant(variant);
    for (const [i, shape] of SHAPES.entries()) {
      const [N, C] = shape;
      const S = shape.slice(2).reduce((a, b) => a * b, 1);
      const m = N * S;
      const { x: dy, v: gv } = data(shape, 70 + i, 0, resident);
      const { x: xhat, v: hv } = data(shape, 80 + i, 0, resident);
      expect(isResident(dy) && isResident(xhat)).toBe(resident);
      const is = Float32Array.from(randomData(C, 90 + i), (e) => 1.5 + e);
      const w = Float32Array.from(randomData(C, 95 + i));
      const sdy = new Array<number>(C).fill(0);
      const sdx = new Array<number>(C).fill(0);
      for (let k = 0; k < gv.length; k++) {
        const c = Math.floor(k / S) % C;
        sdy[c] += gv[k];
        sdx[c] += gv[k] * hv[k];
      }
      let first: Float32Array | null = null;
      for (const t of [1, 2]) {
        setNumThreads(t);
        const [dx, dw, db] = normalizeBackward(dy, xhat, fromTyped(is, [C]), fromTyped(w, [C]));
        expect(isResident(dx)).toBe(true);
        const d = vals(dx);
        for (let k = 0; k < gv.length; k++) {
          const c = Math.floor(k / S) % C;
          const kc = (w[c] * is[c]) / m;
          const terms = Math.abs(kc * m * gv[k]) + Math.abs(kc * sdx[c] * hv[k]) + Math.abs(kc * sdy[c]);
          const want = kc * m * gv[k] - kc * sdx[c] * hv[k] - kc * sdy[c];
          if (!(Math.abs(d[k] - want) <= 1e-6 * terms + 1e-30)) throw new Error(`dx[${k}] = ${d[k]}, want ${want}`);
        }
        for (let c = 0; c < C; c++) {
          expect(Math.abs(vals(dw)[c] - sdx[c])).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(sdx[c])));
          expect(Math.abs(vals(db)[c] - sdy[c])).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(sdy[c])));
        }
        if (first) same(d, first, 'dx on two threads');
        else first = d;
      }
    }
  });
});

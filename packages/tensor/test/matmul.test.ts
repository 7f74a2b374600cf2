import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { type NDArray, fromTyped, matmul } from '../src/index.js';
import { PARALLEL_MIN_FLOPS, batchedMatmul, getNumThreads, setNumThreads } from '../src/cpu/matmul.js';
import { GEMM_SCRATCH_BYTES, type KernelVariant, cpuKernelVariant, instantiateKernels } from '../src/cpu/wasm/kernels.js';
import { rand64, randomData } from './helpers.js';

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
const rand32 = (shape: number[], seed: number): NDArray => fromTyped(Float32Array.from(randomData(size(shape), seed)), shape);

/** Element (i, j) of a 2-D view, read through its strides. */
function at(x: NDArray, i: number, j: number): number {
  const data = x.toTypedArray();
  return data[i * x.shape[1] + j];
}

/** Naive float64 product of two 2-D views, plus the sum of |a||b| per entry for the error bound. */
function reference(a: NDArray, b: NDArray): { c: Float64Array; mag: Float64Array } {
  const [M, K] = a.shape;
  const N = b.shape[1];
  const A = a.toTypedArray();
  const B = b.toTypedArray();
  const c = new Float64Array(M * N);
  const mag = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      let m = 0;
      for (let k = 0; k < K; k++) {
        s += A[i * K + k] * B[k * N + j];
        m += Math.abs(A[i * K + k] * B[k * N + j]);
      }
      c[i * N + j] = s;
      mag[i * N + j] = m;
    }
  }
  return { c, mag };
}

/** Checks a 2-D product against the float64 reference, with float32 accumulation error allowed. */
function expectProduct(out: NDArray, a: NDArray, b: NDArray, relTol = 1e-5): void {
  expect(out.shape).toEqual([a.shape[0], b.shape[1]]);
  const { c, mag } = reference(a, b);
  const got = out.toTypedArray();
  const K = a.shape[1];
  for (let i = 0; i < c.length; i++) {
    const tol = relTol * Math.sqrt(K + 1) * (mag[i] + 1e-30) + 1e-30;
    if (!(Math.abs(got[i] - c[i]) <= tol)) {
      throw new Error(`entry ${i} of ${out.shape.join('x')} (K=${K}): got ${got[i]}, expected ${c[i]} (tol ${tol})`);
    }
  }
}

const dim = fc.integer({ min: 1, max: 70 });
const defaultThreads = getNumThreads();

describe('matmul float32 (wasm GEMM)', () => {
  afterEach(() => setNumThreads(defaultThreads));

  it('matches a float64 reference on random shapes 1..70', () => {
    fc.assert(
      fc.property(dim, dim, dim, fc.integer(), (M, N, K, seed) => {
        const a = rand32([M, K], seed);
        const b = rand32([K, N], seed + 1);
        expectProduct(matmul(a, b), a, b);
      }),
      { numRuns: 60 },
    );
  });

  it('crosses block boundaries (sizes > 128, K > 256, N not a multiple of 8; few rows, whose B is read in place)', () => {
    for (const [M, N, K] of [[131, 67, 300], [5, 2053, 3], [257, 9, 513], [130, 130, 130], [37, 70, 600], [64, 2061, 300], [65, 17, 520]]) {
      const a = rand32([M, K], M + N);
      const b = rand32([K, N], K);
      expectProduct(matmul(a, b), a, b);
    }
  });

  it('reads transposed and sliced views without copying them first', () => {
    fc.assert(
      fc.property(dim, dim, dim, fc.boolean(), fc.boolean(), fc.integer(), (M, N, K, ta, tb, seed) => {
        const a = ta ? rand32([K, M], seed).mT : rand32([M, K], seed);
        const b = tb ? rand32([N, K], seed + 1).mT : rand32([K, N], seed + 1);
        expectProduct(matmul(a, b), a.contiguous(), b.contiguous());
        // step slices: strides 2 and 3 in both dims, with an offset
        const as = rand32([2 * M + 1, 3 * K + 2], seed + 2).slice(0, 1, undefined, 2).slice(1, 2, undefined, 3);
        const bs = rand32([K + 3, 2 * N], seed + 3).slice(0, 3).slice(1, 0, undefined, 2);
        expectProduct(matmul(as, bs), as.contiguous(), bs.contiguous());
      }),
      { numRuns: 30 },
    );
  });

  it('broadcasts batches (stride-0 batch dims) and matches per-batch products', () => {
    const a = rand32([3, 1, 17, 33], 1);
    const b = rand32([4, 33, 19], 2);
    const out = matmul(a, b);
    expect(out.shape).toEqual([3, 4, 17, 19]);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 4; j++) {
        expectProduct(out.select(0, i).select(0, j).contiguous(), a.select(0, i).select(0, 0).contiguous(), b.select(0, j).contiguous());
      }
    }
    // a weight shared by a batch, as conv2d does: [N, Cout, K] with batch stride 0
    const w = rand32([8, 20], 3);
    const cols = rand32([5, 20, 30], 4);
    const y = batchedMatmul(w.unsqueeze(0).expand([5, 8, 20]), cols);
    for (let t = 0; t < 5; t++) expectProduct(y.select(0, t).contiguous(), w, cols.select(0, t).contiguous());
  });

  it('handles vectors and empty dims', () => {
    const v = rand32([37], 5);
    const m = rand32([37, 11], 6);
    expect(matmul(v, m).shape).toEqual([11]);
    expectProduct(matmul(v.unsqueeze(0), m), v.unsqueeze(0), m);
    const d = matmul(v, v).item();
    const vd = Array.from(v.toTypedArray());
    expect(d).toBeCloseTo(vd.reduce((s, x) => s + x * x, 0), 4);
    expect(matmul(rand32([0, 4], 1), rand32([4, 3], 2)).shape).toEqual([0, 3]);
    const z = matmul(rand32([2, 0], 1), rand32([0, 3], 2));
    expect(Array.from(z.toTypedArray())).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('propagates NaN and Inf like a plain product', () => {
    const a = fromTyped(new Float32Array([0, 1, NaN, 2]), [2, 2]);
    const b = fromTyped(new Float32Array([Infinity, 0, 1, 1]), [2, 2]);
    const c = Array.from(matmul(a, b).toTypedArray());
    expect(c[0]).toBeNaN(); // 0 * Inf
    expect(c[1]).toBe(1);
    expect(c[2]).toBeNaN();
    expect(c[3]).toBeNaN();
  });
});

describe('both builds of the GEMM (relaxed SIMD and plain SIMD)', () => {
  // The test runner enables relaxed SIMD on Node 20 (vitest.config.ts), so both builds run in every test run.
  const variants: KernelVariant[] = ['relaxed-simd', 'simd128'];

  it('the process runs the relaxed SIMD build unless NORMLAB_WASM_RELAXED=0', () => {
    expect(cpuKernelVariant()).toBe(process.env.NORMLAB_WASM_RELAXED === '0' ? 'simd128' : 'relaxed-simd');
  });

  /** C = A @ B (or C += A @ B) on one build's own instance, A and B transposed or not, read through their strides. */
  function gemmOn(variant: KernelVariant, a: NDArray, b: NDArray, ta: boolean, tb: boolean, accumulate: boolean): Float32Array {
    const k = instantiateKernels(variant);
    const [M, K] = a.shape;
    const N = b.shape[1];
    const put = (x: NDArray, transposed: boolean): number => {
      const data = Float32Array.from(transposed ? x.transpose(0, 1).contiguous().toTypedArray() : x.toTypedArray());
      const at = k.arena.alloc(data.byteLength + 16);
      new Float32Array(k.memory.buffer, at, data.length).set(data);
      return at;
    };
    const aAt = put(a, ta);
    const bAt = put(b, tb);
    const cAt = k.arena.alloc(M * N * 4);
    const c = new Float32Array(k.memory.buffer, cAt, M * N).fill(accumulate ? 1 : Number.NaN);
    k.gemm(M, N, K, aAt, ta ? 1 : K, ta ? M : 1, bAt, tb ? 1 : N, tb ? K : 1, cAt, N, accumulate ? 1 : 0, k.arena.alloc(GEMM_SCRATCH_BYTES));
    return Float32Array.from(c, (v) => (accumulate ? v - 1 : v));
  }

  for (const variant of variants) {
    it(`${variant}: matches the float64 reference on few and many rows, edge tiles and K blocks, any strides, stored or accumulated`, () => {
      const shapes = [[1, 1, 1], [3, 5, 7], [4, 8, 256], [33, 197, 144], [64, 203, 9], [65, 31, 300], [130, 17, 520]];
      shapes.forEach(([M, N, K], i) => {
        const a = rand32([M, K], 7 * i + 1);
        const b = rand32([K, N], 7 * i + 2);
        const { c, mag } = reference(a, b);
        for (const [ta, tb, accumulate] of [[false, false, false], [true, false, true], [false, true, false], [true, true, true]]) {
          const got = gemmOn(variant, a, b, ta, tb, accumulate);
          for (let j = 0; j < c.length; j++) {
            // accumulate adds to 1 first: one more rounding of a value near 1
            const tol = 1e-5 * Math.sqrt(K + 1) * mag[j] + (accumulate ? 2 ** -22 * (1 + Math.abs(c[j])) : 1e-30);
            if (!(Math.abs(got[j] - c[j]) <= tol)) {
              throw new Error(`${variant} ${M}x${N}x${K} (ta ${ta}, tb ${tb}, accumulate ${accumulate}) entry ${j}: got ${got[j]}, expected ${c[j]}`);
            }
          }
        }
      });
    });
  }
});

describe('matmul threading', () => {
  afterEach(() => setNumThreads(defaultThreads));

  it('gives the same result on 1 and 2 threads for products above the parallel cutoff', () => {
    const shapes = [[250, 160, 210, 1], [9, 1300, 720, 1], [64, 150, 170, 6], [333, 33, 800, 1]];
    for (const [M, N, K, batch] of shapes) expect(2 * M * N * K * batch).toBeGreaterThan(PARALLEL_MIN_FLOPS);
    for (const [M, N, K, batch] of shapes) {
      const a = rand32([batch, M, K], M);
      const b = rand32([batch, K, N], N).mT.contiguous().mT; // transposed storage
      setNumThreads(1);
      const one = batchedMatmul(a, b).toTypedArray();
      setNumThreads(2);
      expect(getNumThreads()).toBe(2);
      const two = batchedMatmul(a, b).toTypedArray();
      // same kernel, same blocking along K: bitwise equal whatever the split
      expect(two).toEqual(one);
      expectProduct(fromTyped(two.slice(0, M * N), [M, N]), a.select(0, 0).contiguous(), b.select(0, 0).contiguous());
    }
  });

  it('repeats threaded products many times (pool reuse)', () => {
    setNumThreads(2);
    const a = rand32([200, 230], 11);
    const b = rand32([230, 190], 12);
    expect(2 * 200 * 230 * 190).toBeGreaterThan(PARALLEL_MIN_FLOPS);
    const first = matmul(a, b).toTypedArray();
    for (let i = 0; i < 20; i++) expect(matmul(a, b).toTypedArray()).toEqual(first);
    expectProduct(fromTyped(first, [200, 190]), a, b);
  });

  it('rejects invalid thread counts', () => {
    expect(() => setNumThreads(0)).toThrow(RangeError);
    expect(() => setNumThreads(1.5)).toThrow(RangeError);
  });
});

describe('matmul other dtypes (JS kernel)', () => {
  it('float64 matches the reference tightly, transposed views included', () => {
    fc.assert(
      fc.property(dim, dim, dim, fc.boolean(), fc.integer(), (M, N, K, tb, seed) => {
        const a = rand64([M, K], seed);
        const b = tb ? rand64([N, K], seed + 1).mT : rand64([K, N], seed + 1);
        const out = matmul(a, b);
        expect(out.dtype).toBe('float64');
        expectProduct(out, a, b.contiguous(), 1e-13);
      }),
      { numRuns: 25 },
    );
  });

  it('int32 products are exact', () => {
    const a = fromTyped(new Int32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
    const b = fromTyped(new Int32Array([7, 8, 9, 10, 11, 12]), [3, 2]);
    const c = matmul(a, b);
    expect(c.dtype).toBe('int32');
    expect(Array.from(c.toTypedArray())).toEqual([58, 64, 139, 154]);
    expect(at(c, 1, 0)).toBe(139);
  });
});

import { afterEach, describe, expect, it, vi } from 'vitest';
import { add, axpby, div, exp, fromTyped, mul, relu, reluBackward, sigmoid, sigmoidBackward, step, sub, sum } from '../src/index.js';
import { allocUninit } from '../src/cpu/alloc.js';
import { mapStrided, reduceStrided } from '../src/cpu/strided.js';
import { PARALLEL_ELEMENTWISE_MIN, WASM_ELEMENTWISE_MIN, wasmUnaryF32 } from '../src/cpu/wasm/elementwise.js';
import { getKernels } from '../src/cpu/wasm/kernels.js';
import { setResidentCapBytes } from '../src/cpu/wasm/resident.js';
import { getNumThreads, setNumThreads } from '../src/cpu/wasm/thread-pool.js';
import { randomData } from './helpers.js';

const threads = getNumThreads();
afterEach(() => setNumThreads(threads));

/** float32 values spread over many binades, with specials. */
function wideFloats(n: number, seed: number): Float32Array {
  const r = randomData(n, seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sign(r[i]) * 2 ** (r[(i * 7 + 3) % n] * 60) * Math.abs(r[i]);
  out.set([NaN, Infinity, -Infinity, 0, -0, 1e-40, -1e-40, 3.4e38, -3.4e38], 0);
  return out;
}

/** The JS loop's result: the expression in double, stored as float32. */
function reference(f: (a: number, b: number) => number, a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = f(a[i], b[i]);
  return out;
}

/** Distance in float32 ulps (0 for two NaNs). */
function ulps(x: number, y: number): number {
  if (Number.isNaN(x) || Number.isNaN(y)) return Number.isNaN(x) && Number.isNaN(y) ? 0 : Infinity;
  const i = new Int32Array(new Float32Array([x, y]).buffer);
  const key = (v: number): number => (v < 0 ? -0x80000000 - v : v);
  return Math.abs(key(i[0]) - key(i[1]));
}

const bits = (x: Float32Array): Int32Array => new Int32Array(x.buffer, x.byteOffset, x.length);

/** Same length and bit patterns (a loop: toEqual on arrays this long is slow). */
function expectSameBits(got: Float32Array, want: Float32Array): void {
  expect(got.length).toBe(want.length);
  const g = bits(got);
  const w = bits(want);
  for (let i = 0; i < g.length; i++) {
    if (g[i] !== w[i]) throw new Error(`element ${i}: got ${got[i]}, want ${want[i]}`);
  }
}

describe.skipIf(getKernels() === null)('float32 elementwise on the wasm kernels', () => {
  it('add/sub/mul/div, reluBackward and sigmoidBackward are bit-identical to the JS loop (lengths not a multiple of 4, offset views)', () => {
    for (const n of [WASM_ELEMENTWISE_MIN, 5003, 70001]) {
      const a = wideFloats(n + 3, 1);
      const b = wideFloats(n + 3, 2).reverse();
      // offset views: narrow() keeps the storage and moves the offset
      const ta = fromTyped(a, [n + 3]).narrow(0, 3, n);
      const tb = fromTyped(b, [n + 3]).narrow(0, 1, n);
      const a0 = a.subarray(3, n + 3);
      const b0 = b.subarray(1, n + 1);
      for (const [op, f] of [[add, (x: number, y: number) => x + y], [sub, (x: number, y: number) => x - y], [mul, (x: number, y: number) => x * y], [div, (x: number, y: number) => x / y],
        [reluBackward, (g: number, y: number) => (y <= 0 ? 0 : g)],
        [sigmoidBackward, (g: number, y: number) => Math.fround(g * y) * Math.fround(1 - y)]] as const) {
        const got = op(ta, tb).toTypedArray() as Float32Array;
        expectSameBits(got, reference(f, a0, b0));
      }
    }
  });

  it('axpby is bit-identical to mul, mul and add (kernel and JS loop, tails, offset and strided views, resident inputs, float64)', () => {
    const scalars = [[1, -0.1], [0.9, 0.1], [-3.7, 1e-30], [0, -0], [NaN, 2], [Infinity, 1]];
    for (const n of [7, WASM_ELEMENTWISE_MIN, 5003, 70001]) {
      const a = wideFloats(n + 3, 11);
      const b = wideFloats(2 * n + 2, 12).reverse();
      const xs = [fromTyped(a, [n + 3]).narrow(0, 3, n), fromTyped(a, [n + 3]).clone().narrow(0, 3, n)];
      const y = fromTyped(b, [2 * n + 2]).narrow(0, 1, 2 * n).reshape([n, 2]).select(1, 1); // stride 2: the JS loop
      const yc = y.contiguous();
      for (const x of xs) {
        for (const [alpha, beta] of scalars) {
          for (const other of [y, yc]) {
            const want = add(mul(x, alpha), mul(other, beta)).toTypedArray() as Float32Array;
            expectSameBits(axpby(alpha, x, beta, other).toTypedArray() as Float32Array, want);
            // a host output (resident cap 0): the staged path, its constants in the staging block
            const cap = setResidentCapBytes(0);
            try {
              expectSameBits(axpby(alpha, x, beta, other).toTypedArray() as Float32Array, want);
            } finally {
              setResidentCapBytes(cap);
            }
          }
          const want64 = add(mul(x.astype('float64'), alpha), mul(yc.astype('float64'), beta)).toTypedArray();
          expect(Array.from(axpby(alpha, x.astype('float64'), beta, yc.astype('float64')).toTypedArray())).toEqual(Array.from(want64));
        }
      }
    }
  });

  it('sigmoidBackward equals its three ops (mul, sub, mul) bit for bit: kernel, float32 and float64 loops, strided views', () => {
    for (const n of [9, WASM_ELEMENTWISE_MIN, 5003]) {
      const g = fromTyped(wideFloats(n, 21), [n]);
      const y = fromTyped(Float32Array.from(wideFloats(2 * n, 22), (v) => v % 1), [n, 2]).select(1, 0);
      for (const [gg, yy] of [[g, y], [g, y.contiguous()], [g.astype('float64'), y.astype('float64')]]) {
        const want = Array.from(mul(mul(gg, yy), sub(1, yy)).toTypedArray(), (v) => (Number.isNaN(v) ? 'NaN' : v));
        expect(Array.from(sigmoidBackward(gg, yy).toTypedArray(), (v) => (Number.isNaN(v) ? 'NaN' : v))).toEqual(want);
      }
    }
  });

  it('axpby rejects operands of other shapes, dtypes or kinds', () => {
    const x = fromTyped(new Float32Array(4), [4]);
    expect(() => axpby(1, x, 1, fromTyped(new Float32Array(3), [3]))).toThrow(/axpby: x \[4\] and y \[3\] must have the same shape/);
    expect(() => axpby(1, x, 1, x.astype('float64'))).toThrow(/axpby: expected x and y of one floating dtype, got float32 and float64/);
    expect(() => axpby(1, x.astype('int32'), 1, x.astype('int32'))).toThrow(/axpby: expected x and y of one floating dtype/);
    expect(() => axpby('1' as unknown as number, x, 1, x)).toThrow(/axpby: alpha must be a number, got string/);
  });

  it('strided and broadcast inputs take the JS loop and agree with it', () => {
    const a = wideFloats(4096, 3);
    const b = wideFloats(64, 4);
    const ta = fromTyped(a, [64, 64]);
    const tb = fromTyped(b, [64]);
    const got = add(ta, tb).toTypedArray() as Float32Array; // broadcast
    const want = new Float32Array(4096);
    for (let i = 0; i < 4096; i++) want[i] = a[i] + b[i % 64];
    expectSameBits(got, want);
    const gotT = mul(ta.transpose(0, 1), ta).toTypedArray() as Float32Array; // strided
    for (let i = 0; i < 64; i++) for (let j = 0; j < 64; j++) want[i * 64 + j] = a[j * 64 + i] * a[i * 64 + j];
    expectSameBits(gotT, want);
  });

  it('exp is within 1 ulp of Math.fround(Math.exp(x)) over the whole float32 range', () => {
    // every 4099th bit pattern: all signs and exponents, subnormal results, overflow, NaNs
    const n = Math.floor(2 ** 32 / 4099);
    const x = new Float32Array(n);
    const xb = bits(x);
    for (let i = 0; i < n; i++) xb[i] = (i * 4099) | 0;
    const got = exp(fromTyped(x, [n])).toTypedArray();
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, ulps(got[i], Math.fround(Math.exp(x[i]))));
    expect(worst).toBeLessThanOrEqual(1);
  });

  it('sigmoid is within 1 ulp of the JS expression over the whole float32 range (NaN, infinities, saturation)', () => {
    const n = Math.floor(2 ** 32 / 4099);
    const x = new Float32Array(n);
    const xb = bits(x);
    for (let i = 0; i < n; i++) xb[i] = (i * 4099) | 0;
    x.set([NaN, Infinity, -Infinity, 0, -0, 88.8, -88.8, 104, -104, 17, -17], 0);
    const got = sigmoid(fromTyped(x, [n])).toTypedArray();
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, ulps(got[i], Math.fround(1 / (1 + Math.exp(-x[i])))));
    expect(worst).toBeLessThanOrEqual(1);
  });

  it('exp special values and edges', () => {
    const xs = [NaN, Infinity, -Infinity, 0, -0, 88.72283, 88.7229, 89, 90, 1e30, -87.33, -100, -103.97, -103.98, -104, -110, -150, -1e30, 1e-30, -1e-45];
    const x = new Float32Array(WASM_ELEMENTWISE_MIN);
    x.set(xs);
    const got = exp(fromTyped(x, [x.length])).toTypedArray();
    for (let i = 0; i < xs.length; i++) {
      const want = Math.fround(Math.exp(x[i]));
      if (!(ulps(got[i], want) <= 1)) throw new Error(`exp(${x[i]}) = ${got[i]}, want ${want}`);
    }
    expect(got[1]).toBe(Infinity);
    expect(got[2]).toBe(0);
    expect(Number.isNaN(got[0])).toBe(true);
    expect(got[8]).toBe(Infinity);
    expect(got[17]).toBe(0);
  });

  it('exp across threads equals the single-thread result bit for bit', () => {
    const n = PARALLEL_ELEMENTWISE_MIN * 3 + 5;
    const x = wideFloats(n, 5);
    for (let i = 0; i < n; i++) x[i] = (x[i] % 200) - 50;
    const t = fromTyped(x, [n]).narrow(0, 1, n - 1);
    setNumThreads(1);
    const one = exp(t).toTypedArray() as Float32Array;
    setNumThreads(2);
    // the first call may run before the worker has started; later ones use it
    for (let r = 0; r < 3; r++) expectSameBits(exp(t).toTypedArray() as Float32Array, one);
  });

  it('in place on resident arrays, every kernel across threads equals the single-thread result bit for bit', () => {
    const n = PARALLEL_ELEMENTWISE_MIN * 2 + 7;
    const a = fromTyped(wideFloats(n, 31), [n]).clone().narrow(0, 3, n - 3);
    const b = fromTyped(wideFloats(n, 32).reverse(), [n]).clone().narrow(0, 1, n - 3);
    const ops = [
      () => add(a, b), () => sub(a, b), () => mul(a, b), () => div(a, b), () => relu(a), () => step(a), () => reluBackward(a, b), () => sigmoidBackward(a, b),
      () => axpby(0.9, a, -0.1, b),
    ];
    setNumThreads(1);
    const one = ops.map((f) => f().toTypedArray() as Float32Array);
    setNumThreads(2);
    for (let r = 0; r < 2; r++) ops.forEach((f, i) => expectSameBits(f().toTypedArray() as Float32Array, one[i]));
  });

  it('small arrays keep the exact JS expression', () => {
    const x = wideFloats(WASM_ELEMENTWISE_MIN - 1, 6);
    const got = exp(fromTyped(x, [x.length])).toTypedArray();
    for (let i = 0; i < x.length; i++) expect(Object.is(got[i], Math.fround(Math.exp(x[i])))).toBe(true);
  });

  it('relu and step equal the JS expressions exactly (NaN, -0, infinities; odd lengths, offset views, resident inputs)', () => {
    const jsRelu = (x: number): number => Math.max(x, 0);
    const jsStep = (x: number): number => (x > 0 ? 1 : 0);
    for (const n of [WASM_ELEMENTWISE_MIN + 1, 5003, 70001]) {
      const a = wideFloats(n + 3, 7);
      const host = fromTyped(a, [n + 3]).narrow(0, 3, n);
      const resident = fromTyped(a, [n + 3]).clone().narrow(0, 3, n);
      const a0 = a.subarray(3, n + 3);
      for (const x of [host, resident]) {
        for (const [op, f] of [[relu, jsRelu], [step, jsStep]] as const) {
          const got = op(x).toTypedArray() as Float32Array;
          const want = reference(f, a0, a0);
          // NaN payloads may differ (wasm canonicalizes); every other value to the bit.
          for (let i = 0; i < n; i++) if (Number.isNaN(want[i])) expect(Number.isNaN(got[i])).toBe(true);
          expectSameBits(got.map((v, i) => (Number.isNaN(want[i]) ? 0 : v)), want.map((v) => (Number.isNaN(v) ? 0 : v)));
        }
      }
    }
  });

  it('broadcast add/sub/mul/div (a repeated row, one value per row, a scalar, strided rows) are bit-identical to the JS loop', () => {
    const ops = [[add, 'a + b'], [sub, 'a - b'], [mul, 'a * b'], [div, 'a / b']] as const;
    for (const [R, L] of [[64, 16], [37, 1031], [3, 5003]]) {
      const full = fromTyped(wideFloats(R * L + 2, 11), [R * L + 2]).narrow(0, 2, R * L).reshape([R, L]);
      const wide = fromTyped(wideFloats(R * (L + 3), 12), [R, L + 3]).narrow(1, 1, L); // rows L + 3 apart
      const row = fromTyped(wideFloats(L, 13), [L]);
      const col = fromTyped(wideFloats(R + 9, 14).slice(9), [R, 1]);
      const scalar = fromTyped(wideFloats(10, 15).slice(9), []);
      for (const x of [full, full.clone(), wide]) {
        for (const y of [row, col, scalar, wide]) {
          for (const [op, expr] of ops) {
            for (const [a, b] of [[x, y], [y, x]]) {
              const got = op(a, b).toTypedArray() as Float32Array;
              const want = new Float32Array(R * L);
              const av = a.expand([R, L]);
              const bv = b.expand([R, L]);
              mapStrided(expr, ['a', 'b'], want, [R, L], [av, bv].map((v) => ({ data: v.toTypedArray() as Float32Array, offset: 0, strides: [L, 1] })));
              expectSameBits(got.map((v) => (Number.isNaN(v) ? 0 : v)), want.map((v) => (Number.isNaN(v) ? 0 : v)));
            }
          }
        }
      }
    }
  });

  it('a bias add and a per-row scale take the broadcast kernels, one call per row', () => {
    const k = getKernels()!;
    const x = fromTyped(wideFloats(64 * 100, 16), [64, 100]);
    const vv = vi.spyOn(k, 'add_f32');
    const vs = vi.spyOn(k.broadcast.mul, 'vs');
    add(x, fromTyped(wideFloats(100, 17), [100]));
    mul(x, fromTyped(wideFloats(64 + 9, 18).slice(9), [64, 1]));
    expect([vv.mock.calls.length, vs.mock.calls.length]).toEqual([64, 64]);
    vi.restoreAllMocks();
  });

  it('per-channel affine maps of NCHW arrays (rows under several outer dims) are bit-identical to the JS loop', () => {
    const k = getKernels()!;
    const [N, C, H, W] = [3, 5, 9, 11];
    const x = fromTyped(wideFloats(N * C * H * W + 1, 31), [N * C * H * W + 1]).narrow(0, 1, N * C * H * W).reshape([N, C, H, W]);
    const w = fromTyped(wideFloats(C + 9, 32).slice(9), [C, 1, 1]);
    const rowsCalled = vi.spyOn(k.broadcast.mul, 'vs');
    for (const [op, expr] of [[mul, 'a * b'], [sub, 'a - b'], [div, 'a / b']] as const) {
      for (const [a, b] of [[x, w], [w, x]]) {
        const got = op(a, b).toTypedArray() as Float32Array;
        const want = new Float32Array(N * C * H * W);
        mapStrided(expr, ['a', 'b'], want, [N, C, H, W], [a, b].map((v) => {
          const e = v.expand([N, C, H, W]);
          return { data: e.contiguous().toTypedArray() as Float32Array, offset: 0, strides: [C * H * W, H * W, W, 1] };
        }));
        expectSameBits(got.map((v) => (Number.isNaN(v) ? 0 : v)), want.map((v) => (Number.isNaN(v) ? 0 : v)));
      }
    }
    expect(rowsCalled).toHaveBeenCalledTimes(N * C); // one call per (n, c) row of H * W values
    vi.restoreAllMocks();
  });

  it('sums over inner dims (per channel of NCHW, over the last dim, strided views) are within float32 rounding of float64 sums', () => {
    const k = getKernels()!;
    const rows = vi.spyOn(k, 'rowsum_f32');
    for (const [shape, dims] of [[[4, 6, 9, 7], [0, 2, 3]], [[37, 1031], [1]], [[5, 3, 64], [0, 2]], [[2, 3, 40], [2]]] as [number[], number[]][]) {
      const n = shape.reduce((a, b) => a * b, 1);
      const v = wideFloats(n + 2, 41).map((x) => (Number.isFinite(x) ? x % 1e3 : 1));
      const base = fromTyped(v, [n + 2]).narrow(0, 2, n).reshape(shape);
      for (const x of [base, base.clone(), base.transpose(0, 1).contiguous().transpose(0, 1)]) {
        const got = sum(x, dims).toTypedArray() as Float32Array;
        const acc = new Float64Array(got.length);
        const xs = x.contiguous();
        reduceStrided('A + v', acc, { data: xs.toTypedArray() as Float32Array, offset: 0, strides: xs.strides }, shape, new Set(dims));
        for (let i = 0; i < got.length; i++) expect(ulps(got[i], Math.fround(acc[i]))).toBeLessThanOrEqual(1);
      }
    }
    expect(rows).toHaveBeenCalled();
    vi.restoreAllMocks();
  });

  it('sums over leading dims equal the JS reduction bit for bit (odd row lengths, offsets, resident inputs)', () => {
    for (const [R, L] of [[64, 16], [37, 1031], [300, 7]]) {
      const v = wideFloats(R * L + 1, 21).map((x) => (Number.isFinite(x) ? x % 1e6 : 1));
      for (const x of [fromTyped(v, [R * L + 1]).narrow(0, 1, R * L).reshape([R, L]), fromTyped(v, [R * L + 1]).clone().narrow(0, 1, R * L).reshape([R, L])]) {
        const got = sum(x, 0).toTypedArray() as Float32Array;
        const acc = new Float64Array(L);
        reduceStrided('A + v', acc, { data: v, offset: 1, strides: [L, 1] }, [R, L], new Set([0]));
        expectSameBits(got, Float32Array.from(acc));
        // a 3-D view reduced over its two leading dims is the same column sum
        expectSameBits(sum(x.reshape([1, R, L]), [0, 1]).toTypedArray() as Float32Array, Float32Array.from(acc));
      }
    }
  });

  it('wasmUnaryF32 (exp) reads a non-zero offset', () => {
    const x = new Float32Array([5, 0, 1, 2, 3]);
    const out = new Float32Array(4);
    expect(wasmUnaryF32('exp', out, x, 1)).toBe(true);
    expect(Array.from(out)).toEqual([1, Math.E, Math.exp(2), Math.exp(3)].map(Math.fround));
  });
});

describe('allocUninit', () => {
  it('gives arrays of the dtype and size, usable by the kernels', () => {
    for (const [dtype, ctor] of [['float32', Float32Array], ['float64', Float64Array], ['int32', Int32Array], ['bool', Uint8Array]] as const) {
      for (const n of [0, 10, 1 << 17]) {
        const a = allocUninit(dtype, n);
        expect(a.constructor).toBe(ctor);
        expect(a.length).toBe(n);
        mapStrided('x', ['x'], a, [n], [{ data: new Float64Array(n).fill(1), offset: 0, strides: [1] }]);
        expect(a.every((v) => v === 1)).toBe(true);
        // a plain typed array: slice() copies
        if (n > 0) {
          const s = a.slice(0, 1);
          s[0] = 0;
          expect(a[0]).toBe(1);
        }
      }
    }
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  NDArray, abs, add, clamp, cos, div, eq, erf, erfScalar, exp, fromArray, ge, gelu, gt, isNan, le, leakyRelu, log,
  log1p, logicalAnd, logicalNot, logicalOr, lt, maximum, minimum, mul, ne, neg, pow, reciprocal, relu, rsqrt, scalar,
  sigmoid, sign, sin, softplus, sqrt, square, sub, tanh, where, zeros,
} from '../src/index.js';

const f64 = (v: number[]): NDArray => fromArray(v, { dtype: 'float64' });
const vals = (a: NDArray): number[] => Array.from(a.toTypedArray());

/** Relative error in units of the last place of `want`. */
function ulps(got: number, want: number): number {
  if (got === want) return 0;
  const ulp = Math.max(Number.EPSILON * 2 ** Math.floor(Math.log2(Math.abs(want))), Number.MIN_VALUE);
  return Math.abs(got - want) / ulp;
}

describe('unary ops against Math', () => {
  const xs = [-3.5, -1, -0.25, 0, 0.5, 1, 2.75, 10];
  const cases: [string, (x: NDArray) => NDArray, (x: number) => number][] = [
    ['neg', neg, (x) => -x], ['abs', abs, Math.abs], ['exp', exp, Math.exp], ['log', log, Math.log], ['log1p', log1p, Math.log1p],
    ['sqrt', sqrt, Math.sqrt], ['rsqrt', rsqrt, (x) => 1 / Math.sqrt(x)], ['square', square, (x) => x * x],
    ['reciprocal', reciprocal, (x) => 1 / x], ['sin', sin, Math.sin], ['cos', cos, Math.cos], ['tanh', tanh, Math.tanh],
    ['sigmoid', sigmoid, (x) => 1 / (1 + Math.exp(-x))], ['relu', relu, (x) => Math.max(x, 0)], ['sign', sign, Math.sign],
    ['leakyRelu', (x) => leakyRelu(x), (x) => (x > 0 ? x : 0.01 * x)], ['pow 3', (x) => pow(x, 3), (x) => x ** 3],
  ];
  for (const [name, f, ref] of cases) {
    it(`${name} in float64 equals Math, and float32 is its rounding`, () => {
      expect(vals(f(f64(xs)))).toEqual(xs.map(ref));
      const x32 = fromArray(xs);
      const got = f(x32);
      expect(got.dtype).toBe('float32');
      expect(vals(got)).toEqual(xs.map((x) => Math.fround(ref(Math.fround(x)))));
    });
  }

  it('integer inputs of float-only ops are promoted to float32; int pow stays int', () => {
    const i = fromArray([1, 4], { dtype: 'int32' });
    expect(sqrt(i).dtype).toBe('float32');
    expect(vals(sqrt(i))).toEqual([1, 2]);
    expect(neg(i).dtype).toBe('int32');
    expect(abs(fromArray([true])).dtype).toBe('bool');
    expect(pow(i, 2).dtype).toBe('int32'); // as torch.pow(int_tensor, 2)
    expect(vals(pow(i, 2))).toEqual([1, 16]);
    expect(pow(i, 0.5).dtype).toBe('float32');
    expect(() => pow(i, -1)).toThrow(/pow: integers to negative integer powers are not allowed/);
    expect(vals(pow(f64([2, 9]), 0.5))).toEqual([Math.SQRT2, 3]);
    expect(vals(pow(2, f64([3, -1])))).toEqual([8, 0.5]);
  });

  it('NaN propagation: relu, maximum, minimum, clamp as torch', () => {
    expect(vals(relu(f64([NaN, -1])))).toEqual([NaN, 0]);
    expect(vals(maximum(f64([NaN, 1, 2]), f64([0, NaN, 1])))).toEqual([NaN, NaN, 2]);
    expect(vals(minimum(f64([NaN, 1, 2]), f64([0, NaN, 1])))).toEqual([NaN, NaN, 1]);
    expect(vals(clamp(f64([NaN, -5, 5, 0.5]), -1, 1))).toEqual([NaN, -1, 1, 0.5]);
    expect(vals(clamp(f64([NaN, -5, 5]), 0))).toEqual([NaN, 0, 5]);
    expect(vals(clamp(f64([NaN, -5, 5]), undefined, 0))).toEqual([NaN, -5, 0]);
    expect(vals(clamp(f64([3, -3]), 2, 1))).toEqual([1, 1]); // min > max: all max, as torch
    expect(vals(isNan(f64([NaN, 0, Infinity])))).toEqual([1, 0, 0]);
  });

  it('clamp and softplus on a strided view equal those on a contiguous copy', () => {
    // the bounds/threshold are the kernel's second parameter, which a strided loop must not clobber
    const x = fromArray([[-3, 0.5], [5, 25]], { dtype: 'float64' }).mT;
    expect(x.isContiguous()).toBe(false);
    expect(vals(clamp(x, -1, 1))).toEqual([-1, 1, 0.5, 1]);
    expect(vals(clamp(x, -1, 1))).toEqual(vals(clamp(x.contiguous(), -1, 1)));
    expect(vals(softplus(x))).toEqual(vals(softplus(x.contiguous())));
  });

  it('sigmoid saturates for large |x| without NaN', () => {
    const s = vals(sigmoid(f64([-1000, -745, -40, 0, 40, 745, 1000, Infinity, -Infinity])));
    expect(s).toEqual([0, 1 / (1 + Math.exp(745)), 1 / (1 + Math.exp(40)), 0.5, 1, 1, 1, 1, 0]);
    expect(vals(sigmoid(fromArray([-100, 100])))).toEqual([Math.fround(1 / (1 + Math.exp(100))), 1]);
  });

  it('softplus: log1p(exp(beta x))/beta below the threshold, x above it', () => {
    const x = [-30, -1, 0, 1, 19.9, 20, 20.5, 1000];
    const want = x.map((v) => (v > 20 ? v : Math.log1p(Math.exp(v))));
    expect(vals(softplus(f64(x)))).toEqual(want);
    expect(vals(softplus(f64([0]))) [0]).toBe(Math.LN2);
    // beta = 2, threshold 5: linear once 2x > 5
    expect(vals(softplus(f64([2, 2.6]), { beta: 2, threshold: 5 }))).toEqual([Math.log1p(Math.exp(4)) / 2, 2.6]);
    expect(Number.isFinite(vals(softplus(f64([1000]), { threshold: 1e6 }))[0])).toBe(false); // exp overflows without it
    expect(() => softplus(f64([1]), { beta: 0 })).toThrow(/softplus: beta must be a positive finite number, got 0/);
    expect(() => softplus(f64([1]), { beta: -1 })).toThrow(/softplus: beta/);
    expect(() => softplus(f64([1]), { beta: NaN })).toThrow(/softplus: beta/);
    expect(() => softplus(f64([1]), { threshold: Infinity })).toThrow(/softplus: threshold must be a finite number/);
  });

  it('gelu exact at known points, and the tanh formula', () => {
    const g = vals(gelu(f64([0, 1, -1, 2, -3, 10, -10])));
    // x * Phi(x) with Phi(1) = 0.8413447460685429, Phi(2) = 0.9772498680518208, Phi(-3) = 0.0013498980316301
    expect(g[0]).toBe(0);
    expect(ulps(g[1], 0.8413447460685429)).toBeLessThanOrEqual(2);
    expect(ulps(g[2], -1 + 0.8413447460685429)).toBeLessThanOrEqual(16); // cancellation in 1 + erf(-x/sqrt 2)
    expect(ulps(g[3], 2 * 0.9772498680518208)).toBeLessThanOrEqual(2);
    expect(Math.abs(g[4] - -3 * 0.0013498980316301)).toBeLessThan(1e-15);
    expect(g[5]).toBe(10);
    expect(g[6] === 0).toBe(true);
    const xs = [-4, -1.5, -0.1, 0, 0.3, 1, 2.2, 6];
    const tanhRef = xs.map((x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))));
    const got = vals(gelu(f64(xs), { approximate: 'tanh' }));
    got.forEach((v, i) => expect(Math.abs(v - tanhRef[i])).toBeLessThanOrEqual(1e-15 * Math.max(1, Math.abs(tanhRef[i]))));
    expect(vals(gelu(f64(xs), { approximate: 'none' }))).toEqual(vals(gelu(f64(xs))));
    expect(() => gelu(f64([1]), { approximate: 'foo' as 'tanh' })).toThrow(/gelu: approximate must be 'none' or 'tanh', got 'foo'/);
  });
});

describe('erf', () => {
  const known: [number, number][] = [
    [0.5, 0.5204998778130465], [1, 0.8427007929497149], [2, 0.9953222650189527], [3, 0.9999779095030014],
    [-1, -0.8427007929497149], [1e-10, 1.1283791670955126e-10], [6, 1], [2.5, 0.999593047982555], [0.1, 0.1124629160182849],
    [1.5, 0.9661051464753108], [4, 0.9999999845827421],
  ];
  it('matches known float64 values to 2 ulp', () => {
    for (const [x, want] of known) {
      expect(ulps(erfScalar(x), want), `erf(${x})`).toBeLessThanOrEqual(2);
      expect(ulps(vals(erf(f64([x])))[0], want)).toBeLessThanOrEqual(2);
    }
    expect(erfScalar(0)).toBe(0);
    expect(Object.is(erfScalar(-0), -0)).toBe(true);
    expect(erfScalar(Infinity)).toBe(1);
    expect(erfScalar(-Infinity)).toBe(-1);
    expect(erfScalar(NaN)).toBeNaN();
    expect(erfScalar(1e-300)).toBe(1.1283791670955126e-300);
    expect(vals(erf(fromArray([1])))).toEqual([Math.fround(0.8427007929497149)]);
  });

  it('is odd, bounded by 1 and increasing (property)', () => {
    fc.assert(
      fc.property(fc.double({ min: -8, max: 8, noNaN: true }), fc.double({ min: -8, max: 8, noNaN: true }), (a, b) => {
        expect(erfScalar(-a)).toBe(-erfScalar(a));
        expect(Math.abs(erfScalar(a))).toBeLessThanOrEqual(1);
        if (a < b) expect(erfScalar(a)).toBeLessThanOrEqual(erfScalar(b));
      }),
      { numRuns: 50 },
    );
  });
});

describe('binary ops', () => {
  it('broadcasting: scalars on either side, 0-D arrays, missing leading dims', () => {
    const m = f64([1, 2, 3, 4, 5, 6]).reshape(2, 3);
    expect(add(m, 10).toArray()).toEqual([[11, 12, 13], [14, 15, 16]]);
    expect(sub(10, m).toArray()).toEqual([[9, 8, 7], [6, 5, 4]]);
    expect(div(m, scalar(2, { dtype: 'float64' })).toArray()).toEqual([[0.5, 1, 1.5], [2, 2.5, 3]]);
    expect(mul(scalar(2, { dtype: 'float64' }), m).toArray()).toEqual([[2, 4, 6], [8, 10, 12]]);
    expect(add(m, f64([100, 200, 300])).toArray()).toEqual([[101, 202, 303], [104, 205, 306]]);
    expect(add(f64([10, 20]).reshape(2, 1), m).toArray()).toEqual([[11, 12, 13], [24, 25, 26]]);
    expect(add(f64([1, 2]).reshape(2, 1, 1), f64([1, 2, 3])).shape).toEqual([2, 1, 3]);
    expect(add(scalar(1), scalar(2)).shape).toEqual([]);
    expect(add(zeros([0, 3]), f64([1, 2, 3])).shape).toEqual([0, 3]);
    expect(add(zeros([2, 1]), zeros([1, 0])).shape).toEqual([2, 0]);
    expect(sub(m, m.select(0, 0)).toArray()).toEqual([[0, 0, 0], [3, 3, 3]]);
  });

  it('type promotion as torch', () => {
    const i = fromArray([1, 2, 3], { dtype: 'int32' });
    const f = fromArray([0.5, 0.5, 0.5]);
    const d = fromArray([0.5, 0.5, 0.5], { dtype: 'float64' });
    const b = fromArray([true, false, true]);
    expect(add(i, f).dtype).toBe('float32');
    expect(add(f, d).dtype).toBe('float64');
    expect(add(i, i).dtype).toBe('int32');
    expect(add(i, b).dtype).toBe('int32');
    expect(add(b, b).dtype).toBe('int32');
    expect(div(i, i).dtype).toBe('float32'); // true division, as torch.div
    expect(vals(div(i, fromArray([2, 2, 2], { dtype: 'int32' })))).toEqual([0.5, 1, 1.5]);
    expect(add(i, 1).dtype).toBe('int32');
    expect(add(i, 1.5).dtype).toBe('float32');
    expect(vals(add(i, 1.5))).toEqual([2.5, 3.5, 4.5]);
    expect(mul(f, 3).dtype).toBe('float32');
    expect(add(2, 3).dtype).toBe('float32');
    // A 0-D operand counts like a scalar (torch.result_type): only a higher category promotes.
    expect(add(f, scalar(1, { dtype: 'float64' })).dtype).toBe('float32');
    expect(add(i, scalar(1, { dtype: 'float64' })).dtype).toBe('float32');
    expect(add(b, scalar(1, { dtype: 'int32' })).dtype).toBe('int32');
    expect(add(scalar(1), scalar(1, { dtype: 'float64' })).dtype).toBe('float64');
    for (const op of [eq, ne, lt, le, gt, ge]) expect(op(i, f).dtype).toBe('bool');
    expect(vals(lt(i, 2))).toEqual([1, 0, 0]);
    expect(vals(le(i, 2))).toEqual([1, 1, 0]);
    expect(vals(gt(i, 2))).toEqual([0, 0, 1]);
    expect(vals(ge(i, 2))).toEqual([0, 1, 1]);
    expect(vals(eq(i, 2))).toEqual([0, 1, 0]);
    expect(vals(ne(i, 2))).toEqual([1, 0, 1]);
    expect(vals(eq(f64([NaN]), f64([NaN])))).toEqual([0]);
    expect(vals(logicalAnd(b, fromArray([true, true, false])))).toEqual([1, 0, 0]);
    expect(vals(logicalOr(b, fromArray([false, true, false])))).toEqual([1, 1, 1]);
    expect(vals(logicalNot(b))).toEqual([0, 1, 0]);
  });

  it('where broadcasts all three and promotes the values', () => {
    const c = fromArray([[true], [false]]);
    const w = where(c, f64([1, 2, 3]), 0);
    expect(w.dtype).toBe('float64');
    expect(w.toArray()).toEqual([[1, 2, 3], [0, 0, 0]]);
    expect(where(fromArray([true, false]), fromArray([1, 2], { dtype: 'int32' }), 0.5).dtype).toBe('float32');
    expect(() => where(fromArray([1, 0]), 1, 2)).toThrow(/where: condition must be a bool NDArray, got float32/);
    expect(() => where(fromArray([true, false, true]), f64([1, 2]), 0)).toThrow(/where: shapes \[3\] and \[2\] cannot be broadcast/);
  });

  it('non-broadcastable shapes: the message names the op and both shapes', () => {
    const a = zeros([2, 3]);
    const b = zeros([4]);
    expect(() => add(a, b)).toThrow(/add: shapes \[2,3\] and \[4\] cannot be broadcast together \(dim 1: 3 vs 4\)/);
    expect(() => mul(b, a)).toThrow(/mul: shapes \[4\] and \[2,3\]/);
    expect(() => maximum(a, zeros([3, 3]))).toThrow(/maximum: shapes \[2,3\] and \[3,3\]/);
    expect(() => eq(a, zeros([2, 2]))).toThrow(/eq: shapes/);
    expect(() => add(a, 'x' as unknown as number)).toThrow(/add: expected an NDArray or a number, got string/);
    expect(() => neg([1, 2] as unknown as NDArray)).toThrow(/neg: expected an NDArray, got object/);
  });

  it('device mismatch', () => {
    // Ops check devices before any kernel runs, so an array on a device with no backend is enough.
    const elsewhere = new NDArray({ device: 'other', dtype: 'float32', length: 2 }, [2]);
    expect(() => add(fromArray([1, 2]), elsewhere)).toThrow('add: tensors are on different devices: cpu and other');
    expect(() => where(fromArray([true, false]), elsewhere, elsewhere)).toThrow('where: tensors are on different devices: cpu (the condition) and other');
  });

  it('invalid options', () => {
    expect(() => clamp(f64([1]))).toThrow(/clamp: at least one of min and max must be given/);
    expect(() => clamp(f64([1]), NaN)).toThrow(/clamp: bounds must not be NaN/);
    expect(() => leakyRelu(f64([1]), NaN)).toThrow(/leakyRelu: negativeSlope must be a finite number/);
  });

  it('binary ops are elementwise Math on random shapes (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -100, max: 100, noNaN: true }), { minLength: 1, maxLength: 12 }),
        fc.double({ min: -100, max: 100, noNaN: true }),
        (xs, s) => {
          // compared with toEqual after + 0: a -0 scalar operand is filled as +0 (see the report)
          const vals = (a: NDArray): number[] => Array.from(a.toTypedArray(), (v) => v + 0);
          xs = xs.map((v) => v + 0);
          s += 0;
          const x = f64(xs);
          expect(vals(add(x, s))).toEqual(xs.map((v) => v + s + 0));
          expect(vals(sub(s, x))).toEqual(xs.map((v) => s - v + 0));
          expect(vals(mul(x, x))).toEqual(xs.map((v) => v * v + 0));
          expect(vals(div(x, s))).toEqual(xs.map((v) => v / s + 0));
          expect(vals(maximum(x, s))).toEqual(xs.map((v) => Math.max(v, s) + 0));
        },
      ),
      { numRuns: 30 },
    );
  });
});

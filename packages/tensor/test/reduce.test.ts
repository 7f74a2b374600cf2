import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type NDArray, Generator, amax, amin, argmax, argmin, fromArray, logSoftmax, logsumexp, max, mean, min, prod, randn, softmax,
  std, sum, variance, zeros,
} from '../src/index.js';

const f64 = (v: number[], shape?: number[]): NDArray => fromArray(v, { dtype: 'float64', shape });
const vals = (a: NDArray): number[] => Array.from(a.toTypedArray());

/** Float64 two-pass variance of plain numbers. */
function refVar(xs: readonly number[], correction: number): number {
  const m = xs.reduce((s, x) => s + x, 0) / xs.length;
  return xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - correction);
}

describe('sum, prod, mean, amax, amin', () => {
  const x = f64([1, 2, 3, 4, 5, 6], [2, 3]);

  it('over single dims, dim lists, negative dims, all dims, keepdim', () => {
    expect(sum(x).item()).toBe(21);
    expect(sum(x).shape).toEqual([]);
    expect(sum(x, 0).toArray()).toEqual([5, 7, 9]);
    expect(sum(x, 1).toArray()).toEqual([6, 15]);
    expect(sum(x, -1).toArray()).toEqual([6, 15]);
    expect(sum(x, [0, 1]).item()).toBe(21);
    expect(sum(x, [-1, 0]).item()).toBe(21);
    expect(sum(x, 1, { keepdim: true }).toArray()).toEqual([[6], [15]]);
    expect(sum(x, undefined, { keepdim: true }).shape).toEqual([1, 1]);
    expect(prod(x, 1).toArray()).toEqual([6, 120]);
    expect(prod(x).item()).toBe(720);
    expect(mean(x, 0).toArray()).toEqual([2.5, 3.5, 4.5]);
    expect(mean(x, [0, 1], { keepdim: true }).toArray()).toEqual([[3.5]]);
    expect(amax(x, 0).toArray()).toEqual([4, 5, 6]);
    expect(amax(x, -1, { keepdim: true }).toArray()).toEqual([[3], [6]]);
    expect(amin(x).item()).toBe(1);
    expect(amin(x, [1]).toArray()).toEqual([1, 4]);
    const y = randn([2, 3, 4], { generator: new Generator(1), dtype: 'float64' });
    expect(sum(y, [0, 2]).shape).toEqual([3]);
    expect(sum(y, [0, 2], { keepdim: true }).shape).toEqual([1, 3, 1]);
    expect(vals(sum(y, [0, 2]))[1]).toBeCloseTo(vals(sum(sum(y.select(1, 1), 0), 0))[0], 12);
    expect(sum(fromArray(5), 0).item()).toBe(5); // 0-D: dim 0 and -1 are allowed, as torch
    expect(sum(fromArray(5), -1).item()).toBe(5);
  });

  it('dtypes: bool and int32 sum to int32, mean needs floats, float32 keeps float32', () => {
    expect(sum(fromArray([true, true, false])).dtype).toBe('int32');
    expect(sum(fromArray([true, true, false])).item()).toBe(2);
    expect(sum(fromArray([1, 2], { dtype: 'int32' })).dtype).toBe('int32');
    expect(sum(fromArray([1, 2])).dtype).toBe('float32');
    expect(() => mean(fromArray([1, 2], { dtype: 'int32' }))).toThrow(/mean: expected a floating point input, got int32/);
    expect(() => variance(fromArray([true]))).toThrow(/var: expected a floating point input, got bool/);
  });

  it('mean of float32 is rounded once (mean of n copies of c is c)', () => {
    for (const n of [3, 7, 10, 100, 1000]) {
      expect(mean(fromArray(new Float32Array(n).fill(0.1))).item()).toBe(Math.fround(0.1));
    }
  });

  it('matches a float64 reference on random arrays (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }), fc.integer(), (shape, seed) => {
        const a = randn(shape, { generator: new Generator(seed), dtype: 'float64' });
        const flat = vals(a);
        const s = flat.reduce((p, v) => p + v, 0);
        expect(Math.abs(sum(a).item() - s)).toBeLessThan(1e-12 * flat.length);
        expect(Math.abs(mean(a).item() - s / flat.length)).toBeLessThan(1e-12);
        expect(amax(a).item()).toBe(Math.max(...flat));
        expect(amin(a).item()).toBe(Math.min(...flat));
        expect(flat[argmax(a).item()]).toBe(Math.max(...flat));
        expect(flat[argmin(a).item()]).toBe(Math.min(...flat));
        // reducing dim by dim equals reducing the list
        const both = vals(sum(a, a.ndim === 1 ? [0] : [0, -1]));
        const stepwise = a.ndim === 1 ? [sum(a).item()] : vals(sum(sum(a, -1), 0));
        both.forEach((v, i) => expect(Math.abs(v - stepwise[i])).toBeLessThan(1e-12 * flat.length));
      }),
      { numRuns: 30 },
    );
  });
});

describe('variance and std', () => {
  it('correction 0 and 1 against a float64 two-pass reference', () => {
    const g = new Generator(9);
    const a = randn([5, 7], { generator: g, dtype: 'float64' });
    const rows = a.toArray() as number[][];
    for (const correction of [0, 1]) {
      const v = vals(variance(a, 1, { correction }));
      v.forEach((x, i) => expect(Math.abs(x - refVar(rows[i], correction))).toBeLessThan(1e-14));
      const s = vals(std(a, 1, { correction }));
      s.forEach((x, i) => expect(Math.abs(x - Math.sqrt(refVar(rows[i], correction)))).toBeLessThan(1e-14));
      const all = vals(a);
      expect(Math.abs(variance(a, undefined, { correction }).item() - refVar(all, correction))).toBeLessThan(1e-14);
    }
    expect(variance(a).item()).toBe(variance(a, undefined, { correction: 1 }).item()); // unbiased by default
    expect(variance(a, 0, { keepdim: true }).shape).toEqual([1, 7]);
    expect(variance(f64([3]), 0).item()).toBeNaN(); // n - correction = 0: 0/0, as torch
    expect(variance(f64([3]), 0, { correction: 0 }).item()).toBe(0);
    expect(() => variance(a, 0, { correction: -1 })).toThrow(/var: correction must be non-negative, got -1/);
  });

  it('is numerically stable: float32 data with a large offset matches float64 to float32 precision', () => {
    for (const [seed, n, offset, noise] of [[123, 4096, 1e4, 0.1], [1, 1000, 1e4, 0.01], [3, 4096, 1e5, 1]]) {
      const g = new Generator(seed);
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = offset + noise * g.normal(); // exact float32 values
      const xs = Array.from(data);
      const want = refVar(xs, 1); // float64 two-pass on the same values
      // The naive E[x^2] - E[x]^2, even with float64 sums rounded to float32, is far off: the test can fail.
      const sumX = Math.fround(xs.reduce((s, v) => s + v, 0));
      const sumX2 = Math.fround(xs.reduce((s, v) => s + v * v, 0));
      const naive = Math.fround(Math.fround(sumX2 - Math.fround(sumX * sumX) / n) / (n - 1));
      expect(Math.abs(naive - want) / want).toBeGreaterThan(0.1);
      // float32 precision: a couple of float32 ulps
      const got = variance(fromArray(data)).item();
      expect(Math.abs(got - want) / want, `var of ${offset} + ${noise} z`).toBeLessThan(2 ** -22);
      const sd = std(fromArray(data), 0, { correction: 0 }).item();
      expect(Math.abs(sd - Math.sqrt(refVar(xs, 0))) / Math.sqrt(want)).toBeLessThan(2 ** -22);
      expect(variance(fromArray(data)).dtype).toBe('float32');
    }
  });
});

describe('logsumexp, softmax, logSoftmax', () => {
  it('logsumexp does not overflow and handles -Infinity', () => {
    expect(logsumexp(f64([1000, 1000])).item()).toBe(1000 + Math.LN2);
    expect(logsumexp(fromArray([1000, 1000])).item()).toBe(Math.fround(1000 + Math.LN2));
    expect(logsumexp(f64([-1000, -1000])).item()).toBe(-1000 + Math.LN2);
    expect(logsumexp(f64([-Infinity, -Infinity])).item()).toBe(-Infinity);
    expect(logsumexp(f64([-Infinity, 0])).item()).toBe(0);
    expect(logsumexp(f64([Infinity, 0])).item()).toBe(Infinity);
    const rows = vals(logsumexp(f64([1, 2, 3, 4], [2, 2]), 1));
    [2 + Math.log1p(Math.exp(-1)), 4 + Math.log1p(Math.exp(-1))].forEach((v, i) => expect(Math.abs(rows[i] - v)).toBeLessThan(1e-15));
    expect(logsumexp(f64([1, 2, 3, 4], [2, 2]), 0, { keepdim: true }).shape).toEqual([1, 2]);
    expect(logsumexp(zeros([2, 0]), 1).toArray()).toEqual([-Infinity, -Infinity]); // log of an empty sum, as torch
    expect(() => logsumexp(fromArray([1], { dtype: 'int32' }))).toThrow(/logsumexp: expected a floating point input/);
  });

  it('softmax rows sum to 1, with no NaN for large inputs', () => {
    const a = randn([4, 6], { generator: new Generator(3), dtype: 'float64' });
    const s = softmax(a, 1);
    for (const r of vals(sum(s, 1))) expect(Math.abs(r - 1)).toBeLessThan(1e-15);
    expect(vals(softmax(a, 0)).every((v) => v > 0 && v < 1)).toBe(true);
    expect(vals(softmax(f64([1000, 1000, 1000]), 0))).toEqual([1 / 3, 1 / 3, 1 / 3]);
    const big = vals(softmax(fromArray([1e4, 0, -1e4]), -1));
    expect(big).toEqual([1, 0, 0]);
    const inf = vals(softmax(f64([-Infinity, 0, 0]), 0));
    expect(inf).toEqual([0, 0.5, 0.5]);
    expect(() => softmax(a, 2)).toThrow(/softmax: dim 2 out of range for a tensor of rank 2/);
  });

  it('logSoftmax = x - logsumexp and exp(logSoftmax) = softmax', () => {
    const a = randn([3, 5], { generator: new Generator(4), dtype: 'float64' });
    const ls = vals(logSoftmax(a, -1));
    const sm = vals(softmax(a, -1));
    ls.forEach((v, i) => expect(Math.abs(Math.exp(v) - sm[i])).toBeLessThan(1e-15));
    expect(vals(logSoftmax(f64([1000, 0]), 0))).toEqual([0, -1000]);
    expect(() => logSoftmax(a, -3)).toThrow(/logSoftmax: dim -3 out of range/);
  });
});

describe('max/min with indices, argmax/argmin', () => {
  it('max and min return values and int32 indices', () => {
    const x = f64([3, 7, 7, 1, 0, 9], [2, 3]);
    const m = max(x, 1);
    expect(m.values.toArray()).toEqual([7, 9]);
    expect(m.indices.toArray()).toEqual([1, 2]);
    expect(m.indices.dtype).toBe('int32');
    const k = min(x, 0, { keepdim: true });
    expect(k.values.toArray()).toEqual([[1, 0, 7]]);
    expect(k.indices.toArray()).toEqual([[1, 1, 0]]);
  });

  it('argmax/argmin: first index on ties, flat index with no dim', () => {
    const x = f64([5, 1, 5, 1, 5, 1], [2, 3]);
    expect(argmax(x, 1).toArray()).toEqual([0, 1]);
    expect(argmin(x, 1).toArray()).toEqual([1, 0]);
    expect(argmax(x).item()).toBe(0);
    expect(argmin(x).item()).toBe(1);
    expect(argmax(x.mT).item()).toBe(0);
    expect(argmax(f64([0, 2, 9, 9], [2, 2])).item()).toBe(2);
    expect(argmax(f64([1, 2, 3, 4], [2, 2]), undefined, { keepdim: true }).shape).toEqual([1, 1]);
    expect(argmax(f64([1, 2, 3, 4], [2, 2]), 0, { keepdim: true }).toArray()).toEqual([[1, 1]]);
    expect(argmax(f64([1, NaN, 3])).item()).toBe(1); // NaN is the max, as torch
    expect(vals(amax(f64([1, NaN, 3])))).toEqual([NaN]);
    expect(argmax(fromArray(4)).item()).toBe(0);
    expect(argmax(fromArray(4), 0).item()).toBe(0);
  });
});

describe('errors and empty reductions', () => {
  it('reductions over zero-size dims', () => {
    expect(sum(zeros([0])).item()).toBe(0);
    expect(sum(zeros([2, 0]), 1).toArray()).toEqual([0, 0]);
    expect(sum(zeros([2, 0]), 0).shape).toEqual([0]);
    expect(prod(zeros([0])).item()).toBe(1);
    expect(mean(zeros([0])).item()).toBeNaN();
    expect(() => amax(zeros([2, 0]), 1)).toThrow(/amax: cannot reduce over a zero-size dim of \[2,0\]/);
    expect(() => amin(zeros([0]))).toThrow(/amin: cannot reduce over a zero-size dim/);
    expect(amax(zeros([2, 0]), 0).shape).toEqual([0]); // the reduced dim itself is not empty
    expect(() => argmax(zeros([0]))).toThrow(/argmax: expected a non-empty input, got shape \[0\]/);
    expect(() => argmin(zeros([3, 0]), 1)).toThrow(/argmin: cannot reduce over the zero-size dim 1 of \[3,0\]/);
  });

  it('duplicate and out-of-range dims name the op and the rank', () => {
    const x = zeros([2, 3]);
    expect(() => sum(x, [1, -1])).toThrow(/sum: dim 1 appears more than once in \[1,-1\]/);
    expect(() => mean(x, [0, 0])).toThrow(/mean: dim 0 appears more than once/);
    expect(() => amax(x, [0, -2])).toThrow(/amax: dim 0 appears more than once/);
    expect(() => sum(x, 2)).toThrow(/sum: dim 2 out of range for a tensor of rank 2 \(expected -2..1\)/);
    expect(() => prod(x, -3)).toThrow(/prod: dim -3 out of range for a tensor of rank 2/);
    expect(() => variance(x, 5)).toThrow(/var: dim 5 out of range for a tensor of rank 2/);
    expect(() => logsumexp(x, [0, 9])).toThrow(/logsumexp: dim 9 out of range for a tensor of rank 2/);
    expect(() => argmax(x, 2)).toThrow(/argmax: dim 2 out of range for a tensor of rank 2/);
    expect(() => max(x, -3)).toThrow(/out of range for a tensor of rank 2/);
    expect(() => sum(x, 0.5)).toThrow(/sum: dim 0.5 out of range/);
    expect(() => sum(fromArray(1), 1)).toThrow(/sum: dim 1 out of range for a tensor of rank 0/);
  });
});

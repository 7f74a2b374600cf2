import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type NDArray, arange, cat, chunk, fromArray, ones, split, stack, zeros } from '../src/index.js';
import { coordsOf, flatOf, seq } from './helpers.js';

/** Value at `coords` of a row-major host array of `shape`. */
const at = (data: ArrayLike<number>, shape: readonly number[], coords: number[]): number => data[flatOf(coords, shape)];

describe('cat', () => {
  it('places each input in its slab along dim (random shapes, strided inputs)', () => {
    fc.assert(fc.property(
      fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 4 }),
      fc.nat(), fc.boolean(),
      (shape, sizes, dimSeed, transposed) => {
        const dim = dimSeed % shape.length;
        const xs = sizes.map((s, i) => {
          const sh = [...shape];
          sh[dim] = s;
          const x = seq(sh, 100 * i);
          // a transposed-back view of a transposed copy: same values, non-contiguous strides
          return transposed && sh.length > 1 ? x.transpose(0, -1).contiguous().transpose(0, -1) : x;
        });
        const out = cat(xs, dim);
        const total = sizes.reduce((a, b) => a + b, 0);
        const outShape = [...shape];
        outShape[dim] = total;
        expect(out.shape).toEqual(outShape);
        const od = out.toTypedArray();
        for (let f = 0; f < od.length; f++) {
          const c = coordsOf(f, outShape);
          let k = 0;
          let off = c[dim];
          while (off >= sizes[k]) off -= sizes[k++];
          const cc = [...c];
          cc[dim] = off;
          expect(od[f]).toBe(at(xs[k].toTypedArray(), xs[k].shape, cc));
        }
      },
    ), { numRuns: 30 });
  });

  it('promotes dtypes, skips legacy empty 1-D arrays, accepts negative dims', () => {
    const a = fromArray([[1, 2]], { dtype: 'int32' });
    const b = fromArray([[0.5, 1.5]]);
    const c = cat([a, b], -2);
    expect(c.dtype).toBe('float32');
    expect(c.toArray()).toEqual([[1, 2], [0.5, 1.5]]);
    expect(cat([zeros([0]), ones([2, 2])], 1).shape).toEqual([2, 2]);
    const single = cat([b]);
    expect(single.toArray()).toEqual([[0.5, 1.5]]);
    expect(single.storage).not.toBe(b.storage);
    expect(cat([fromArray([true]), fromArray([false])]).dtype).toBe('bool');
  });

  it('rejects bad inputs naming the offending element', () => {
    expect(() => cat([])).toThrow(/cat: expected a non-empty list of arrays/);
    expect(() => cat([zeros([2, 3]), zeros([2, 4])], 0)).toThrow(/cat: sizes must match except in dim 0: element 0 is \[2,3\] but element 1 is \[2,4\] \(dim 1: 3 vs 4\)/);
    expect(() => cat([zeros([2, 3]), zeros([2, 3]), zeros([2])], 0)).toThrow(/cat: arrays must have the same number of dims: element 0 is \[2,3\] but element 2 is \[2\]/);
    expect(() => cat([zeros([2, 3])], 2)).toThrow(/cat: dim 2 out of range/);
    expect(() => cat([zeros([])])).toThrow(/cat: zero-dimensional array \(element 0\) cannot be concatenated/);
    const fake = Object.create(zeros([2])) as NDArray;
    Object.defineProperty(fake, 'device', { value: 'gpu' });
    expect(() => cat([zeros([2]), fake])).toThrow(/cat: arrays are on different devices: element 0 is on 'cpu' but element 1 is on 'gpu'/);
  });
});

describe('stack', () => {
  it('joins along a new dim', () => {
    const a = seq([2, 3]);
    const b = seq([2, 3], 10);
    expect(stack([a, b]).toArray()).toEqual([a.toArray(), b.toArray()]);
    const s1 = stack([a, b], 1);
    expect(s1.shape).toEqual([2, 2, 3]);
    expect(s1.toArray()).toEqual([[[0, 1, 2], [10, 11, 12]], [[3, 4, 5], [13, 14, 15]]]);
    expect(stack([a, b], -1).shape).toEqual([2, 3, 2]);
    expect(stack([fromArray([1]).reshape([]), fromArray([2]).reshape([])]).toArray()).toEqual([1, 2]);
  });

  it('rejects unequal shapes and bad dims', () => {
    expect(() => stack([zeros([2, 3]), zeros([3, 2])])).toThrow(/stack: expects each array to be equal size, but got \[2,3\] at element 0 and \[3,2\] at element 1/);
    expect(() => stack([])).toThrow(/stack: expected a non-empty list/);
    expect(() => stack([zeros([2])], 2)).toThrow(/stack: dim 2 out of range/);
  });
});

describe('split and chunk', () => {
  it('split by size returns views that tile the dim', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 1, max: 4 }), (n, s) => {
      const x = seq([3, n]);
      const parts = split(x, s, 1);
      expect(parts.length).toBe(Math.max(Math.ceil(n / s), 1));
      parts.forEach((p) => expect(p.storage).toBe(x.storage));
      expect(cat(parts, 1).toArray()).toEqual(x.toArray());
      parts.slice(0, -1).forEach((p) => expect(p.shape[1]).toBe(s));
    }), { numRuns: 30 });
  });

  it('split by sections and chunk follow PyTorch sizing', () => {
    expect(split(arange(5), [1, 4]).map((p) => p.toArray())).toEqual([[0], [1, 2, 3, 4]]);
    expect(split(arange(5), [0, 5]).map((p) => p.shape[0])).toEqual([0, 5]);
    expect(chunk(arange(6), 4).map((p) => p.shape[0])).toEqual([2, 2, 2]);
    expect(chunk(arange(5), 2).map((p) => p.shape[0])).toEqual([3, 2]);
    expect(chunk(arange(13), 6).map((p) => p.shape[0])).toEqual([3, 3, 3, 3, 1]);
    expect(chunk(zeros([0]), 3).map((p) => p.shape[0])).toEqual([0, 0, 0]);
    expect(chunk(seq([2, 4]), 2, -1).map((p) => p.toArray())).toEqual([[[0, 1], [4, 5]], [[2, 3], [6, 7]]]);
  });

  it('rejects bad sizes', () => {
    expect(() => split(arange(5), [1, 2])).toThrow(/split: split sizes \[1,2\] sum to 3 but dim 0 of \[5\] has size 5/);
    expect(() => split(arange(5), 0)).toThrow(/split: split size must be a positive integer .*got 0 for dim 0 of size 5 in \[5\]/);
    expect(() => split(arange(5), [-1, 6])).toThrow(/split: split sizes must be non-negative integers, got \[-1,6\]/);
    expect(() => chunk(arange(5), 0)).toThrow(/chunk: chunks must be a positive integer, got 0/);
    expect(() => split(zeros([]), 1)).toThrow(/split: cannot split a zero-dimensional array/);
  });
});

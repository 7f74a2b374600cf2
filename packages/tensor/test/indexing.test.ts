import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type NDArray, fromArray, fromTyped, gather, indexAdd, indexSelect, oneHot, ones, scatterAdd, zeros } from '../src/index.js';
import { coordsOf, flatOf, seq } from './helpers.js';

const int = (v: number[] | number[][]): NDArray => fromArray(v, { dtype: 'int32' });

/** Random x shape, dim, an index shape no larger than x off `dim`, and index values in range. */
const gatherArb = fc.record({
  shape: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }),
  dimSeed: fc.nat(), shrink: fc.array(fc.nat(), { minLength: 3, maxLength: 3 }), along: fc.integer({ min: 0, max: 5 }),
  values: fc.array(fc.nat(), { minLength: 200, maxLength: 200 }), transposed: fc.boolean(),
}).map(({ shape, dimSeed, shrink, along, values, transposed }) => {
  const dim = dimSeed % shape.length;
  const ishape = shape.map((n, d) => (d === dim ? along : 1 + (shrink[d] % n)));
  const size = ishape.reduce((a, b) => a * b, 1);
  const index = fromTyped(Int32Array.from({ length: size }, (_, i) => values[i % 200] % shape[dim]), ishape);
  return { shape, dim, index, transposed };
});

describe('gather / scatterAdd', () => {
  it('gather reads x at the index along dim (random shapes, strided x)', () => {
    fc.assert(fc.property(gatherArb, ({ shape, dim, index, transposed }) => {
      const base = seq(shape);
      const x = transposed && shape.length > 1 ? base.transpose(0, -1).contiguous().transpose(0, -1) : base;
      const out = gather(x, dim, index);
      expect(out.shape).toEqual(index.shape);
      const od = out.toTypedArray();
      const id = index.toTypedArray();
      for (let f = 0; f < od.length; f++) {
        const c = coordsOf(f, index.shape);
        c[dim] = id[f];
        expect(od[f]).toBe(flatOf(c, shape));
      }
    }), { numRuns: 30 });
  });

  it('scatterAdd is the adjoint of gather: <scatterAdd(0, g), x> = <g, gather(x)>', () => {
    fc.assert(fc.property(gatherArb, fc.integer(), ({ shape, dim, index }, seed) => {
      const x = seq(shape, seed % 7);
      const g = seq([...index.shape], 3).reshape(index.shape.slice());
      const s = scatterAdd(zeros(shape, { dtype: 'float64' }), dim, index, g);
      const lhs = Array.from(s.toTypedArray()).reduce((a, v, i) => a + v * x.toTypedArray()[i], 0);
      const gx = gather(x, dim, index).toTypedArray();
      const rhs = Array.from(g.toTypedArray()).reduce((a, v, i) => a + v * gx[i], 0);
      expect(lhs).toBeCloseTo(rhs, 9);
    }), { numRuns: 30 });
  });

  it('handles hand-checked cases', () => {
    const x = fromArray([[1, 2], [3, 4]]);
    expect(gather(x, 1, int([[0, 0], [1, 0]])).toArray()).toEqual([[1, 1], [4, 3]]);
    expect(gather(x, 0, int([[1, 0]])).toArray()).toEqual([[3, 2]]);
    expect(scatterAdd(zeros([3]), 0, int([0, 0, 2]), ones([3])).toArray()).toEqual([2, 0, 1]);
    // out-of-place: x is kept, result is x + scattered; src may be larger than index
    const base = ones([2, 3]);
    const r = scatterAdd(base, 1, int([[2], [0]]), fromArray([[5, 9], [7, 9]]));
    expect(r.toArray()).toEqual([[1, 1, 6], [8, 1, 1]]);
    expect(base.toArray()).toEqual([[1, 1, 1], [1, 1, 1]]);
  });

  it('rejects bad indices naming the value and dim size', () => {
    const x = zeros([2, 3]);
    expect(() => gather(x, 1, fromArray([[0]]))).toThrow(/gather: expected an int32 index, got float32/);
    expect(() => gather(x, 1, int([[0, 3]]))).toThrow(/gather: index 3 is out of bounds for dim 1 with size 3/);
    expect(() => gather(x, 1, int([[-1]]))).toThrow(/gather: index -1 is out of bounds for dim 1 with size 3/);
    expect(() => gather(x, 1, int([0]))).toThrow(/gather: index \[1\] must have the same number of dims as input \[2,3\]/);
    expect(() => gather(x, 1, int([[0], [0], [0]]))).toThrow(/gather: index \[3,1\] must not be larger than input \[2,3\] apart from dim 1/);
    expect(() => gather(x, 2, int([[0]]))).toThrow(/gather: dim 2 out of range/);
    expect(() => scatterAdd(x, 0, int([[2]]), ones([1, 1]))).toThrow(/scatterAdd: index 2 is out of bounds for dim 0 with size 2/);
    expect(() => scatterAdd(x, 0, int([[0, 0]]), ones([1, 1]))).toThrow(/scatterAdd: index \[1,2\] must not be larger than src \[1,1\]/);
    expect(() => scatterAdd(x, 0, int([[0]]), ones([1, 1], { dtype: 'float64' }))).toThrow(/scatterAdd: expected src of the input's dtype float32, got float64/);
  });
});

describe('indexSelect / indexAdd', () => {
  it('indexSelect picks slices in index order; indexAdd is its adjoint', () => {
    fc.assert(fc.property(
      fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }), fc.nat(), fc.array(fc.nat(), { maxLength: 6 }), fc.boolean(),
      (shape, dimSeed, raw, transposed) => {
        const dim = dimSeed % shape.length;
        const idx = raw.map((v) => v % shape[dim]);
        const index = fromTyped(Int32Array.from(idx), [idx.length]);
        const base = seq(shape);
        const x = transposed && shape.length > 1 ? base.transpose(0, -1).contiguous().transpose(0, -1) : base;
        const out = indexSelect(x, dim, index);
        const oshape = [...shape];
        oshape[dim] = idx.length;
        expect(out.shape).toEqual(oshape);
        const od = out.toTypedArray();
        for (let f = 0; f < od.length; f++) {
          const c = coordsOf(f, oshape);
          c[dim] = idx[c[dim]];
          expect(od[f]).toBe(flatOf(c, shape));
        }
        // <indexAdd(0, g), x> = <g, indexSelect(x)>
        const g = seq(oshape, 1);
        const s = indexAdd(zeros(shape, { dtype: 'float64' }), dim, index, g).toTypedArray();
        const xd = base.toTypedArray();
        const lhs = Array.from(s).reduce((a, v, i) => a + v * xd[i], 0);
        const gd = g.toTypedArray();
        const rhs = Array.from(od).reduce((a, v, i) => a + v * gd[i], 0);
        expect(lhs).toBeCloseTo(rhs, 9);
      },
    ), { numRuns: 30 });
  });

  it('handles hand-checked cases, alpha and long rows', () => {
    const x = seq([3, 2]);
    expect(indexSelect(x, 0, int([2, 0, 2])).toArray()).toEqual([[4, 5], [0, 1], [4, 5]]);
    expect(indexAdd(zeros([3, 2]), 0, int([2, 2]), ones([2, 2])).toArray()).toEqual([[0, 0], [0, 0], [2, 2]]);
    expect(indexAdd(ones([3]), 0, int([1]), fromArray([2]), { alpha: 3 }).toArray()).toEqual([1, 7, 1]);
    const wide = seq([3, 100]);
    expect(indexSelect(wide, 0, int([1])).toArray()).toEqual([wide.select(0, 1).toArray()]);
  });

  it('rejects bad indices', () => {
    const x = zeros([3, 2]);
    expect(() => indexSelect(x, 0, int([[0]]))).toThrow(/indexSelect: index must be 1-D \(or 0-D\), got \[1,1\]/);
    expect(() => indexSelect(x, 0, int([3]))).toThrow(/indexSelect: index 3 is out of bounds for dim 0 with size 3/);
    expect(() => indexSelect(x, 0, fromArray([0]))).toThrow(/indexSelect: expected an int32 index, got float32/);
    expect(() => indexAdd(x, 0, int([0]), ones([2, 2]))).toThrow(/indexAdd: src \[2,2\] must match input \[3,2\] except in dim 0, which must equal the index size 1/);
    expect(() => indexAdd(x, 1, int([5]), ones([3, 1]))).toThrow(/indexAdd: index 5 is out of bounds for dim 1 with size 2/);
  });
});

describe('oneHot', () => {
  it('encodes indices as int32 with inferred or given class counts', () => {
    const y = oneHot(int([0, 2]), 3);
    expect(y.dtype).toBe('int32');
    expect(y.toArray()).toEqual([[1, 0, 0], [0, 0, 1]]);
    expect(oneHot(int([[1], [0]])).toArray()).toEqual([[[0, 1]], [[1, 0]]]);
    expect(oneHot(fromArray([2], { dtype: 'int32' }).reshape([])).toArray()).toEqual([0, 0, 1]);
    expect(oneHot(int([]), 4).shape).toEqual([0, 4]);
  });

  it('rejects bad input', () => {
    expect(() => oneHot(fromArray([1]))).toThrow(/oneHot: expected int32 indices, got float32/);
    expect(() => oneHot(int([0, 3]), 3)).toThrow(/oneHot: class values must be smaller than numClasses=3, got 3/);
    expect(() => oneHot(int([-1]))).toThrow(/oneHot: class values must be non-negative, got -1/);
    expect(() => oneHot(int([]))).toThrow(/oneHot: cannot infer the number of classes from an empty array \[0\]/);
  });
});

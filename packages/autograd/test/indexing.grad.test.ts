import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Generator, type Shape, fromTyped, sizeOf } from '@normlab/tensor';
import { Tensor, gather, grad, indexAdd, indexSelect, oneHot, scatterAdd } from '../src/index.js';
import {
  RUNS, RUNS_SLOW, checkGrad, checkGradGrad, dotRandom, expectClose, randT, seedArb, shapeWithDimArb, stridesOf, unravel, vals,
} from './helpers.js';

/** An int32 tensor (never requires grad). */
const intT = (values: ArrayLike<number>, shape: Shape): Tensor => new Tensor(fromTyped(Int32Array.from(values), shape));

/** Seeded random int32 values in [0, n) (repeats likely), as a tensor of `shape`. */
function randIndex(shape: Shape, n: number, seed: number): Tensor {
  const g = new Generator(seed);
  return intT(Array.from({ length: sizeOf(shape) }, () => g.int(0, n)), shape);
}

/**
 * x of rank 1..3 (dims 1..4), a dim, and an index shape of x's rank with
 * index.shape[k] <= x.shape[k] for k != dim and index.shape[dim] in 1..4:
 * valid for gather(x, dim, index) and scatterAdd(x, dim, index, src of index's shape).
 */
const gatherCaseArb = shapeWithDimArb({ minRank: 1, maxRank: 3, maxDim: 4 }).chain(({ shape, dim }) => fc.record({
  shape: fc.constant(shape),
  dim: fc.constant(dim),
  negative: fc.boolean(),
  indexShape: fc.tuple(...shape.map((n, k) => fc.integer({ min: 1, max: k === dim ? 4 : n }))),
}));

/** The reference gradient of gather: up[p] added at x[p with p[dim] = index[p]]. */
function gatherGradRef(xShape: Shape, dim: number, index: Tensor, up: Tensor): Float64Array {
  const out = new Float64Array(sizeOf(xShape));
  const xs = stridesOf(xShape);
  const idx = vals(index);
  const u = vals(up);
  for (let k = 0; k < idx.length; k++) {
    const p = unravel(k, index.shape);
    p[dim] = idx[k];
    out[p.reduce((acc, v, i) => acc + v * xs[i], 0)] += u[k];
  }
  return out;
}

describe('gather', () => {
  it('gradient over random shapes, dims and indices (repeats accumulate)', () => {
    fc.assert(fc.property(gatherCaseArb, seedArb, ({ shape, dim, negative, indexShape }, seed) => {
      const d = negative ? dim - shape.length : dim;
      const x = randT(shape, seed);
      const index = randIndex(indexShape, shape[dim], seed + 1);
      const y = gather(x, d, index);
      expect(y.shape).toEqual(indexShape);
      checkGrad((t) => gather(t, d, index), [x]);
      checkGrad((t) => dotRandom(gather(t, d, index), seed + 2), [x]);
      const up = randT(indexShape, seed + 3, { requiresGrad: false });
      const [g] = grad([y], [x], { gradOutputs: [up] });
      expectClose(vals(g!), gatherGradRef(shape, dim, index, up), 1e-15, 1e-14, 'x gradient');
    }), { numRuns: RUNS });
  });

  it('second derivative (gradgradcheck of gather(x)^2)', () => {
    fc.assert(fc.property(gatherCaseArb, seedArb, ({ shape, dim, indexShape }, seed) => {
      const index = randIndex(indexShape, shape[dim], seed + 1);
      checkGradGrad((t) => gather(t, dim, index).square(), [randT(shape, seed)], seed);
    }), { numRuns: RUNS_SLOW });
  });

  it('gather and scatterAdd are adjoint: <gather(x, i), s> = <x, scatterAdd(0, i, s)>', () => {
    fc.assert(fc.property(gatherCaseArb, seedArb, ({ shape, dim, indexShape }, seed) => {
      const x = randT(shape, seed, { requiresGrad: false });
      const s = randT(indexShape, seed + 1, { requiresGrad: false });
      const index = randIndex(indexShape, shape[dim], seed + 2);
      const zeros = new Tensor(x.data.astype('float64')).mul(0);
      const lhs = gather(x, dim, index).mul(s).sum().item();
      const rhs = x.mul(scatterAdd(zeros, dim, index, s)).sum().item();
      expect(Math.abs(lhs - rhs)).toBeLessThan(1e-12 * (1 + Math.abs(lhs)));
    }), { numRuns: RUNS });
  });
});

describe('scatterAdd', () => {
  it('gradients w.r.t. x and src (index of src\'s shape): x gets the upstream gradient, src gathers it', () => {
    fc.assert(fc.property(gatherCaseArb, seedArb, fc.integer({ min: 0, max: 2 }), ({ shape, dim, negative, indexShape }, seed, which) => {
      const d = negative ? dim - shape.length : dim;
      // which: 0 both require grad, 1 only x, 2 only src.
      const x = randT(shape, seed, { requiresGrad: which !== 2 });
      const src = randT(indexShape, seed + 1, { requiresGrad: which !== 1 });
      const index = randIndex(indexShape, shape[dim], seed + 2);
      const y = scatterAdd(x, d, index, src);
      expect(y.shape).toEqual(shape);
      checkGrad((a, b) => scatterAdd(a, d, index, b), [x, src]);
      checkGrad((a, b) => dotRandom(scatterAdd(a, d, index, b), seed + 3), [x, src]);
      const up = randT(shape, seed + 4, { requiresGrad: false });
      const inputs = [x, src].filter((t) => t.requiresGrad);
      const gs = grad([y], inputs, { gradOutputs: [up] });
      inputs.forEach((t, k) => {
        const expected = t === x ? up : gather(up, dim, index);
        expectClose(vals(gs[k]!), vals(expected), 0, 0, t === x ? 'x gradient' : 'src gradient');
      });
    }), { numRuns: RUNS });
  });

  it('a src larger than index is fine without its gradient, and an error with it', () => {
    fc.assert(fc.property(gatherCaseArb, seedArb, ({ shape, dim, indexShape }, seed) => {
      const srcShape = indexShape.map((n) => n + 1);
      const index = randIndex(indexShape, shape[dim], seed + 2);
      const x = randT(shape, seed);
      const src = randT(srcShape, seed + 1, { requiresGrad: false });
      checkGrad((a) => dotRandom(scatterAdd(a, dim, index, src), seed + 3), [x]);
      const srcG = randT(srcShape, seed + 1);
      expect(() => scatterAdd(x, dim, index, srcG)).toThrow(RangeError);
    }), { numRuns: RUNS_SLOW });
  });

  it('second derivative (gradgradcheck of scatterAdd(x, src)^2 w.r.t. x and src)', () => {
    fc.assert(fc.property(gatherCaseArb, seedArb, ({ shape, dim, indexShape }, seed) => {
      const index = randIndex(indexShape, shape[dim], seed + 2);
      checkGradGrad((a, b) => scatterAdd(a, dim, index, b).square(), [randT(shape, seed), randT(indexShape, seed + 1)], seed);
    }), { numRuns: RUNS_SLOW });
  });
});

/** x of rank 1..3, a dim, and a 1-D index of length 1..5 into it (repeats likely). */
const selectCaseArb = shapeWithDimArb({ minRank: 1, maxRank: 3, maxDim: 3 }).chain(({ shape, dim }) => fc.record({
  shape: fc.constant(shape),
  dim: fc.constant(dim),
  negative: fc.boolean(),
  index: fc.array(fc.integer({ min: 0, max: shape[dim] - 1 }), { minLength: 1, maxLength: 5 }),
}));

describe('indexSelect', () => {
  it('gradient over random shapes, dims and repeated indices', () => {
    fc.assert(fc.property(selectCaseArb, seedArb, ({ shape, dim, negative, index }, seed) => {
      const d = negative ? dim - shape.length : dim;
      const x = randT(shape, seed);
      const idx = intT(index, [index.length]);
      const y = indexSelect(x, d, idx);
      expect(y.shape).toEqual(shape.map((n, k) => (k === dim ? index.length : n)));
      checkGrad((t) => indexSelect(t, d, idx), [x]);
      checkGrad((t) => dotRandom(indexSelect(t, d, idx), seed + 1), [x]);
      // Slice j of the gradient is the sum of the upstream slices t with index[t] = j.
      const up = randT(y.shape, seed + 2, { requiresGrad: false });
      const [g] = grad([y], [x], { gradOutputs: [up] });
      for (let j = 0; j < shape[dim]; j++) {
        let expected = x.detach().narrow(dim, 0, 1).mul(0);
        index.forEach((v, t) => { if (v === j) expected = expected.add(up.narrow(dim, t, 1)); });
        expectClose(vals(g!.narrow(dim, j, 1)), vals(expected), 1e-15, 1e-14, `gradient slice ${j}`);
      }
    }), { numRuns: RUNS });
  });

  it('an index repeating slice j k times gives k * upstream at slice j and zero elsewhere', () => {
    fc.assert(fc.property(shapeWithDimArb({ minRank: 1, maxRank: 3, maxDim: 3 }), fc.integer({ min: 1, max: 4 }), fc.nat(), seedArb, ({ shape, dim }, k, jRaw, seed) => {
      const j = jRaw % shape[dim];
      const x = randT(shape, seed);
      const y = indexSelect(x, dim, intT(new Array(k).fill(j), [k]));
      // The same upstream slice for every repeat.
      const slice = randT(shape.map((n, i) => (i === dim ? 1 : n)), seed + 1, { requiresGrad: false });
      const up = slice.expand(y.shape).contiguous();
      const [g] = grad([y], [x], { gradOutputs: [up] });
      for (let i = 0; i < shape[dim]; i++) {
        const expected = vals(slice).map((v) => (i === j ? k * v : 0));
        expectClose(vals(g!.narrow(dim, i, 1)), expected, 1e-15, 1e-14, `slice ${i}`);
      }
    }), { numRuns: RUNS });
  });

  it('second derivative (gradgradcheck of indexSelect(x)^2)', () => {
    fc.assert(fc.property(selectCaseArb, seedArb, ({ shape, dim, index }, seed) => {
      const idx = intT(index, [index.length]);
      checkGradGrad((t) => indexSelect(t, dim, idx).square(), [randT(shape, seed)], seed);
    }), { numRuns: RUNS_SLOW });
  });

  it('a 0-D index selects a slice of size 1', () => {
    const x = randT([3, 4], 2);
    const idx = new Tensor(fromTyped(Int32Array.from([2]), []));
    const y = indexSelect(x, 0, idx);
    expect(y.shape).toEqual([1, 4]);
    checkGrad((t) => indexSelect(t, 0, idx), [x]);
    checkGrad((t) => indexSelect(t, 1, idx), [x]);
  });
});

describe('indexAdd', () => {
  const alphaArb = fc.oneof(fc.constant(undefined), fc.constant(1), fc.double({ min: -3, max: 3, noNaN: true }));

  it('gradients w.r.t. x and src with a random alpha: x gets the upstream gradient, src alpha * indexSelect of it', () => {
    fc.assert(fc.property(selectCaseArb, alphaArb, seedArb, fc.integer({ min: 0, max: 2 }), ({ shape, dim, negative, index }, alpha, seed, which) => {
      const d = negative ? dim - shape.length : dim;
      const srcShape = shape.map((n, k) => (k === dim ? index.length : n));
      const x = randT(shape, seed, { requiresGrad: which !== 2 });
      const src = randT(srcShape, seed + 1, { requiresGrad: which !== 1 });
      const idx = intT(index, [index.length]);
      const opts = alpha === undefined ? undefined : { alpha };
      const y = indexAdd(x, d, idx, src, opts);
      expect(y.shape).toEqual(shape);
      checkGrad((a, b) => indexAdd(a, d, idx, b, opts), [x, src]);
      checkGrad((a, b) => dotRandom(indexAdd(a, d, idx, b, opts), seed + 2), [x, src]);
      const up = randT(shape, seed + 3, { requiresGrad: false });
      const inputs = [x, src].filter((t) => t.requiresGrad);
      const gs = grad([y], inputs, { gradOutputs: [up] });
      inputs.forEach((t, k) => {
        const expected = t === x ? vals(up) : vals(indexSelect(up, dim, idx)).map((v) => (alpha ?? 1) * v);
        expectClose(vals(gs[k]!), expected, 1e-15, 1e-14, t === x ? 'x gradient' : 'src gradient');
      });
    }), { numRuns: RUNS });
  });

  it('indexSelect and indexAdd are adjoint: <indexSelect(x, i), s> = <x, indexAdd(0, i, s)>', () => {
    fc.assert(fc.property(selectCaseArb, seedArb, ({ shape, dim, index }, seed) => {
      const idx = intT(index, [index.length]);
      const x = randT(shape, seed, { requiresGrad: false });
      const s = randT(shape.map((n, k) => (k === dim ? index.length : n)), seed + 1, { requiresGrad: false });
      const lhs = indexSelect(x, dim, idx).mul(s).sum().item();
      const rhs = x.mul(indexAdd(x.mul(0), dim, idx, s)).sum().item();
      expect(Math.abs(lhs - rhs)).toBeLessThan(1e-12 * (1 + Math.abs(lhs)));
    }), { numRuns: RUNS });
  });

  it('second derivative (gradgradcheck of indexAdd(x, src)^2 w.r.t. x and src)', () => {
    fc.assert(fc.property(selectCaseArb, alphaArb, seedArb, ({ shape, dim, index }, alpha, seed) => {
      const srcShape = shape.map((n, k) => (k === dim ? index.length : n));
      const idx = intT(index, [index.length]);
      checkGradGrad((a, b) => indexAdd(a, dim, idx, b, { alpha }).square(), [randT(shape, seed), randT(srcShape, seed + 1)], seed);
    }), { numRuns: RUNS_SLOW });
  });
});

describe('oneHot', () => {
  it('returns int32 without grad, of shape [...indices, numClasses], with one 1 per row', () => {
    fc.assert(fc.property(
      fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 0, maxLength: 2 }),
      fc.integer({ min: 1, max: 5 }), fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }), seedArb,
      (shape, n, extra, seed) => {
        const idx = randIndex(shape, n, seed);
        const numClasses = extra === undefined ? -1 : n + extra;
        const h = oneHot(idx, numClasses);
        const classes = extra === undefined ? Math.max(...vals(idx)) + 1 : numClasses;
        expect(h.dtype).toBe('int32');
        expect(h.requiresGrad).toBe(false);
        expect(h.gradFn).toBeNull();
        expect(h.shape).toEqual([...shape, classes]);
        const hv = vals(h);
        vals(idx).forEach((c, r) => {
          for (let k = 0; k < classes; k++) expect(hv[r * classes + k]).toBe(k === c ? 1 : 0);
        });
        expect(() => { h.requiresGrad = true; }).toThrow(TypeError);
      },
    ), { numRuns: RUNS });
  });

  it('oneHot as a float mask is a constant: gathering with it only differentiates the float operand', () => {
    const logits = randT([4, 3], 7);
    const target = intT([2, 0, 1, 2], [4]);
    const mask = oneHot(target, 3).astype('float64');
    expect(mask.requiresGrad).toBe(false);
    // sum(logits * oneHot) = sum of gather(logits, 1, target): same gradient.
    const [g1] = grad(logits.mul(mask).sum(), [logits]);
    const [g2] = grad(gather(logits, 1, target.reshape(4, 1)).sum(), [logits]);
    expectClose(vals(g1!), vals(g2!), 0, 0);
  });
});

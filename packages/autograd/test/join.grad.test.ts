import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Tensor, cat, chunk, grad, split, stack } from '../src/index.js';
import {
  RUNS, RUNS_SLOW, checkGrad, checkGradGrad, dotRandom, expectClose, randT, seedArb, shapeArb, shapeWithDimArb, vals,
} from './helpers.js';

/** A base shape of rank 1..3, a dim of it (maybe negative), 2-4 sizes along it (0 allowed) and which inputs require grad. */
const catCaseArb = shapeWithDimArb({ minRank: 1, maxRank: 3, maxDim: 3 }).chain(({ shape, dim }) => fc.record({
  shape: fc.constant(shape),
  dim: fc.constant(dim),
  negative: fc.boolean(),
  sizes: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 2, maxLength: 4 }),
  grads: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
})).filter(({ sizes, grads }) => sizes.some((s, i) => grads[i] && s > 0));

const withSize = (shape: readonly number[], dim: number, n: number): number[] => shape.map((d, i) => (i === dim ? n : d));

describe('cat', () => {
  it('random dim, 2-4 inputs of different sizes along it, mixed requiresGrad', () => {
    fc.assert(fc.property(catCaseArb, seedArb, ({ shape, dim, negative, sizes, grads }, seed) => {
      const d = negative ? dim - shape.length : dim;
      const xs = sizes.map((n, i) => randT(withSize(shape, dim, n), seed + i, { requiresGrad: grads[i] }));
      const y = cat(xs, d);
      expect(y.shape).toEqual(withSize(shape, dim, sizes.reduce((a, b) => a + b, 0)));
      checkGrad((...ts) => cat(ts, d), xs);
      checkGrad((...ts) => dotRandom(cat(ts, d), seed + 9), xs);
      // Each gradient is its slab of the upstream gradient.
      const up = randT(y.shape, seed + 10, { requiresGrad: false });
      const gs = grad([y], xs.filter((x) => x.requiresGrad), { gradOutputs: [up] });
      let start = 0;
      let k = 0;
      xs.forEach((x, i) => {
        if (grads[i]) {
          const g = gs[k++]!;
          expect(g.shape).toEqual(x.shape);
          expectClose(vals(g), vals(up.narrow(dim, start, sizes[i])), 0, 0, `gradient of input ${i}`);
        }
        start += sizes[i];
      });
    }), { numRuns: RUNS });
  });

  it('the same tensor several times: its gradient is the sum of its slabs', () => {
    fc.assert(fc.property(shapeWithDimArb({ minRank: 1, maxRank: 3, maxDim: 3 }), seedArb, fc.integer({ min: 2, max: 3 }), ({ shape, dim }, seed, k) => {
      const x = randT(shape, seed);
      const y = cat(Array.from({ length: k }, () => x), dim);
      const up = randT(y.shape, seed + 1, { requiresGrad: false });
      const [g] = grad([y], [x], { gradOutputs: [up] });
      let expected = up.narrow(dim, 0, shape[dim]);
      for (let i = 1; i < k; i++) expected = expected.add(up.narrow(dim, i * shape[dim], shape[dim]));
      expectClose(vals(g!), vals(expected), 1e-15, 1e-15);
      checkGrad((t) => cat([t, t.mul(2), t], dim), [x]);
    }), { numRuns: RUNS_SLOW });
  });

  it('second derivative (gradgradcheck of cat(xs)^2)', () => {
    fc.assert(fc.property(catCaseArb, seedArb, ({ shape, dim, sizes, grads }, seed) => {
      const xs = sizes.map((n, i) => randT(withSize(shape, dim, n), seed + i, { requiresGrad: grads[i] }));
      checkGradGrad((...ts) => cat(ts, dim).square(), xs, seed);
    }), { numRuns: RUNS_SLOW });
  });

  it('a legacy 1-D empty input is skipped and gets no gradient', () => {
    const e = new Tensor(randT([0], 1).data, { requiresGrad: true });
    const a = randT([2, 3], 2);
    const b = randT([1, 3], 3);
    const y = cat([a, e, b]);
    expect(y.shape).toEqual([3, 3]);
    checkGrad((p, q) => cat([p, e, q]), [a, b]);
    const [ge] = grad(dotRandom(cat([a, e, b]), 4), [e], { allowUnused: true });
    if (ge) expect(ge.size).toBe(0);
  });
});

describe('stack', () => {
  it('random dim (negative too), 2-4 inputs, mixed requiresGrad; the gradient of input i is select(dim, i)', () => {
    fc.assert(fc.property(
      shapeArb({ maxRank: 3, maxDim: 3 }).chain((shape) => fc.tuple(fc.constant(shape), fc.integer({ min: -shape.length - 1, max: shape.length }))),
      fc.array(fc.boolean(), { minLength: 2, maxLength: 4 }).filter((g) => g.some(Boolean)),
      seedArb,
      ([shape, dim], grads, seed) => {
        const xs = grads.map((rg, i) => randT(shape, seed + i, { requiresGrad: rg }));
        const y = stack(xs, dim);
        const d = dim < 0 ? dim + shape.length + 1 : dim;
        expect(y.shape).toEqual([...shape.slice(0, d), xs.length, ...shape.slice(d)]);
        checkGrad((...ts) => stack(ts, dim), xs);
        checkGrad((...ts) => dotRandom(stack(ts, dim), seed + 9), xs);
        const up = randT(y.shape, seed + 10, { requiresGrad: false });
        const gs = grad([y], xs.filter((x) => x.requiresGrad), { gradOutputs: [up] });
        let k = 0;
        xs.forEach((_, i) => {
          if (grads[i]) expectClose(vals(gs[k++]!), vals(up.select(d, i)), 0, 0, `gradient of input ${i}`);
        });
        checkGradGrad((...ts) => stack(ts, dim).square(), xs, seed);
      },
    ), { numRuns: RUNS });
  });

  it('stack(xs, d) equals cat of the unsqueezed inputs (same gradients)', () => {
    fc.assert(fc.property(shapeArb({ maxRank: 2, maxDim: 3 }).chain((shape) => fc.tuple(fc.constant(shape), fc.integer({ min: 0, max: shape.length }))), seedArb, ([shape, d], seed) => {
      const xs = [0, 1, 2].map((i) => randT(shape, seed + i));
      const g1 = grad(dotRandom(stack(xs, d), seed + 5), xs);
      const g2 = grad(dotRandom(cat(xs.map((x) => x.unsqueeze(d)), d), seed + 5), xs);
      g1.forEach((g, i) => expectClose(vals(g!), vals(g2[i]!), 0, 0));
    }), { numRuns: RUNS_SLOW });
  });
});

/** A shape of rank 1..3 and a dim with size 0..6, for split/chunk. */
const splitShapeArb = shapeWithDimArb({ minRank: 1, maxRank: 3, maxDim: 3 }).chain(({ shape, dim }) =>
  fc.integer({ min: 1, max: 6 }).map((n) => ({ shape: withSize(shape, dim, n), dim })));

/** Random sizes summing to n (zeros allowed). */
const sectionsArb = (n: number): fc.Arbitrary<number[]> =>
  fc.array(fc.integer({ min: 0, max: n }), { minLength: 0, maxLength: 3 }).map((cuts) => {
    const points = [0, ...cuts.sort((a, b) => a - b), n];
    return points.slice(1).map((p, i) => p - points[i]);
  });

/** sum_i <pieces[i], R_i> for fixed random R_i: a scalar involving every piece. */
const dotPieces = (pieces: Tensor[], seed: number): Tensor =>
  pieces.map((p, i) => dotRandom(p, seed + i)).reduce((a, b) => a.add(b));

describe('split and chunk', () => {
  it('split with an int size: pieces of that size (the last smaller), each piece\'s gradient lands at its slab', () => {
    fc.assert(fc.property(splitShapeArb, fc.integer({ min: 1, max: 7 }), seedArb, ({ shape, dim }, size, seed) => {
      const x = randT(shape, seed);
      const pieces = split(x, size, dim);
      expect(pieces.length).toBe(Math.ceil(shape[dim] / size));
      checkGrad((t) => split(t, size, dim), [x]);
      checkGrad((t) => dotPieces(split(t, size, dim), seed + 1), [x]);
      // Only some pieces used: the gradient is zero on the others.
      const used = pieces.filter((_, i) => i % 2 === 0);
      const ups = used.map((p, i) => randT(p.shape, seed + 20 + i, { requiresGrad: false }));
      const [g] = grad(used, [x], { gradOutputs: ups });
      const expected = cat(pieces.map((p, i) => (i % 2 === 0 ? ups[i / 2] : p.detach().mul(0))), dim);
      expectClose(vals(g!), vals(expected), 0, 0);
    }), { numRuns: RUNS });
  });

  it('split with a list of sizes (zeros allowed), negative dim', () => {
    fc.assert(fc.property(splitShapeArb.chain((c) => fc.tuple(fc.constant(c), sectionsArb(c.shape[c.dim]))), seedArb, ([{ shape, dim }, sections], seed) => {
      const x = randT(shape, seed);
      const neg = dim - shape.length;
      const pieces = split(x, sections, neg);
      expect(pieces.map((p) => p.shape[dim])).toEqual(sections);
      checkGrad((t) => split(t, sections, neg), [x]);
      checkGrad((t) => dotPieces(split(t, sections, neg), seed + 1), [x]);
      // cat(split(x)) = x: the gradient is the upstream gradient itself.
      const up = randT(shape, seed + 2, { requiresGrad: false });
      const [g] = grad([cat(split(x, sections, dim), dim)], [x], { gradOutputs: [up] });
      expectClose(vals(g!), vals(up), 0, 0);
    }), { numRuns: RUNS });
  });

  it('chunk: ceil(n/chunks)-sized pieces (fewer when they run out), gradients', () => {
    fc.assert(fc.property(splitShapeArb, fc.integer({ min: 1, max: 7 }), seedArb, ({ shape, dim }, chunks, seed) => {
      const x = randT(shape, seed);
      const pieces = chunk(x, chunks, dim);
      const n = shape[dim];
      const size = Math.ceil(n / chunks);
      expect(pieces.length).toBe(Math.ceil(n / size));
      expect(pieces.length).toBeLessThanOrEqual(chunks);
      checkGrad((t) => chunk(t, chunks, dim), [x]);
      checkGrad((t) => dotPieces(chunk(t, chunks, dim), seed + 1), [x]);
    }), { numRuns: RUNS });
  });

  it('second derivatives of split and chunk (gradgradcheck of sum of squared pieces times random weights)', () => {
    fc.assert(fc.property(splitShapeArb, fc.integer({ min: 1, max: 4 }), seedArb, ({ shape, dim }, k, seed) => {
      const x = randT(shape, seed);
      const weights = (pieces: Tensor[]): Tensor => cat(pieces.map((p, i) => p.square().mul(i + 1)), dim);
      checkGradGrad((t) => weights(split(t, k, dim)), [x], seed);
      checkGradGrad((t) => weights(chunk(t, k, dim)), [x], seed + 1);
      // Cross terms: the product of two pieces.
      const ps = split(x, k, dim);
      if (ps.length >= 2 && ps[0].shape[dim] === ps[1].shape[dim]) {
        checkGradGrad((t) => { const [a, b] = split(t, k, dim); return a.mul(b); }, [x], seed + 2);
      }
    }), { numRuns: RUNS_SLOW });
  });
});

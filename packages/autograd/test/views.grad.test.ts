import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sizeOf } from '@normlab/tensor';
import { Tensor, grad } from '../src/index.js';
import {
  RUNS, RUNS_SLOW, broadcastPairArb, broadcastShape, checkGrad, checkGradGrad, dotRandom, expectClose, randT, seedArb,
  shapeArb, shapeWithDimArb, stridesOf, unravel, vals,
} from './helpers.js';

/** The indices x[start:end:step] selects along a dim of size n (Python semantics, step > 0). */
function sliceIndices(n: number, start: number | undefined, end: number | undefined, step: number): number[] {
  const norm = (i: number): number => Math.min(Math.max(i < 0 ? i + n : i, 0), n);
  const s = norm(start ?? 0);
  const e = norm(end ?? n);
  const out: number[] = [];
  for (let i = s; i < e; i += step) out.push(i);
  return out;
}

/** A permutation of 0..n-1. */
const permArb = (n: number): fc.Arbitrary<number[]> =>
  fc.shuffledSubarray(Array.from({ length: n }, (_, i) => i), { minLength: n, maxLength: n });

describe('shape views', () => {
  it('reshape/view to random compatible shapes (incl. -1)', () => {
    fc.assert(fc.property(shapeArb(), seedArb, fc.integer({ min: 0, max: 4 }), (shape, seed, kind) => {
      const n = sizeOf(shape);
      const targets: number[][] = [[n], [-1], [...shape].reverse(), [1, ...shape, 1], [n, 1], shape.length ? [-1, shape[shape.length - 1]] : []];
      const target = targets[kind % targets.length];
      const x = randT(shape, seed);
      checkGrad((t) => t.reshape(target), [x]);
      checkGrad((t) => t.view(target), [x]);
      const [g] = grad(dotRandom(x.reshape(target), seed + 1), [x]);
      expect(g!.shape).toEqual(shape);
    }), { numRuns: RUNS });
  });

  it('flatten with random start/end dims', () => {
    fc.assert(fc.property(shapeArb({ minRank: 1 }).chain((shape) => fc.tuple(
      fc.constant(shape), fc.integer({ min: 0, max: shape.length - 1 }), fc.integer({ min: 0, max: shape.length - 1 }),
    )), seedArb, ([shape, a, b], seed) => {
      const [s, e] = a <= b ? [a, b] : [b, a];
      checkGrad((t) => t.flatten(s, e), [randT(shape, seed)]);
      checkGrad((t) => t.flatten(), [randT(shape, seed)]);
    }), { numRuns: RUNS });
  });

  it('permute with a random permutation: the gradient is the inverse permutation of the upstream one', () => {
    fc.assert(fc.property(shapeArb().chain((shape) => fc.tuple(fc.constant(shape), permArb(shape.length))), seedArb, ([shape, perm], seed) => {
      const x = randT(shape, seed);
      checkGrad((t) => t.permute(perm), [x]);
      const out = x.permute(perm);
      const up = randT(out.shape, seed + 1, { requiresGrad: false });
      const [g] = grad([out], [x], { gradOutputs: [up] });
      const u = vals(up);
      const os = stridesOf(out.shape);
      // x[idx] lands at out[idx permuted].
      const expected = Array.from({ length: sizeOf(shape) }, (_, k) => {
        const idx = unravel(k, shape);
        return u[perm.reduce((acc, d, i) => acc + idx[d] * os[i], 0)];
      });
      expectClose(vals(g!), expected, 0, 0);
    }), { numRuns: RUNS });
  });

  it('transpose (random dims, negatives) and mT', () => {
    fc.assert(fc.property(shapeWithDimArb().chain(({ shape, dim }) => fc.tuple(
      fc.constant(shape), fc.constant(dim), fc.integer({ min: -shape.length, max: shape.length - 1 }),
    )), seedArb, ([shape, d0, d1], seed) => {
      const x = randT(shape, seed);
      checkGrad((t) => t.transpose(d0, d1), [x]);
      if (shape.length >= 2) checkGrad((t) => t.mT, [x]);
    }), { numRuns: RUNS });
  });

  it('squeeze (all, one dim, a list) and unsqueeze (any position, negatives)', () => {
    fc.assert(fc.property(shapeArb({ maxDim: 2 }), seedArb, fc.integer({ min: -4, max: 3 }), (shape, seed, pos) => {
      const x = randT(shape, seed);
      checkGrad((t) => t.squeeze(), [x]);
      if (shape.length > 0) {
        checkGrad((t) => t.squeeze(shape.length - 1), [x]);
        checkGrad((t) => t.squeeze([0, -1]), [x]);
      }
      const d = Math.max(-shape.length - 1, Math.min(shape.length, pos));
      checkGrad((t) => t.unsqueeze(d), [x]);
      const [g] = grad(dotRandom(x.unsqueeze(d).squeeze(), seed), [x]);
      expect(g!.shape).toEqual(shape);
    }), { numRuns: RUNS });
  });

  it('expand and broadcastTo: the gradient sums over the broadcast dims', () => {
    fc.assert(fc.property(broadcastPairArb(), seedArb, ([sa, sb], seed) => {
      const target = broadcastShape(sa, sb);
      const x = randT(sa, seed);
      checkGrad((t) => t.expand(target), [x]);
      checkGrad((t) => t.broadcastTo(target), [x]);
      const up = randT(target, seed + 1, { requiresGrad: false });
      const [g] = grad([x.expand(target)], [x], { gradOutputs: [up] });
      expect(g!.shape).toEqual(sa);
      // Reference: the total is preserved.
      expect(g!.sum().item()).toBeCloseTo(up.sum().item(), 10);
    }), { numRuns: RUNS });
  });

  it('expand with -1 (keep) entries', () => {
    const x = randT([3, 1], 2);
    checkGrad((t) => t.expand([2, -1, 4]), [x]);
  });
});

describe('slicing views', () => {
  const sliceArgs = shapeWithDimArb().chain(({ shape, dim }) => {
    const n = shape[dim];
    const bound = fc.option(fc.integer({ min: -n - 2, max: n + 2 }), { nil: undefined });
    return fc.record({ shape: fc.constant(shape), dim: fc.constant(dim), start: bound, end: bound, step: fc.integer({ min: 1, max: 3 }) });
  });

  it('slice with random start/end/step (negatives, out of range, empty): gradient embeds the upstream gradient', () => {
    fc.assert(fc.property(sliceArgs, seedArb, ({ shape, dim, start, end, step }, seed) => {
      const x = randT(shape, seed);
      checkGrad((t) => t.slice(dim, start, end, step), [x]);
      const out = x.slice(dim, start, end, step);
      const picked = sliceIndices(shape[dim], start, end, step);
      expect(out.shape[dim]).toBe(picked.length);
      if (out.size === 0) return;
      const up = randT(out.shape, seed + 1, { requiresGrad: false });
      const [g] = grad([out], [x], { gradOutputs: [up] });
      const u = vals(up);
      const os = stridesOf(out.shape);
      const expected = Array.from({ length: sizeOf(shape) }, (_, k) => {
        const idx = unravel(k, shape);
        const j = picked.indexOf(idx[dim]);
        if (j < 0) return 0;
        idx[dim] = j;
        return u[idx.reduce((acc, v, i) => acc + v * os[i], 0)];
      });
      expectClose(vals(g!), expected, 0, 0);
    }), { numRuns: RUNS });
  });

  it('narrow with random (also negative) start and length', () => {
    fc.assert(fc.property(shapeWithDimArb().chain(({ shape, dim }) => {
      const n = shape[dim];
      return fc.integer({ min: -n, max: n - 1 }).chain((start) => {
        const s = start < 0 ? start + n : start;
        return fc.record({ shape: fc.constant(shape), dim: fc.constant(dim), start: fc.constant(start), length: fc.integer({ min: 0, max: n - s }) });
      });
    }), seedArb, ({ shape, dim, start, length }, seed) => {
      const x = randT(shape, seed);
      checkGrad((t) => t.narrow(dim, start, length), [x]);
      const s = start < 0 ? start + shape[dim] : start;
      expectClose(vals(x.narrow(dim, start, length)), vals(x.slice(dim, s, s + length)), 0, 0);
    }), { numRuns: RUNS });
  });

  it('select with positive and negative indices', () => {
    fc.assert(fc.property(shapeWithDimArb().chain(({ shape, dim }) => fc.tuple(
      fc.constant(shape), fc.constant(dim), fc.integer({ min: -shape[dim], max: shape[dim] - 1 }),
    )), seedArb, ([shape, dim, index], seed) => {
      const x = randT(shape, seed);
      checkGrad((t) => t.select(dim, index), [x]);
      checkGrad((t) => t.select(dim - shape.length, index), [x]);
      const out = x.select(dim, index);
      expect(out.shape).toEqual(shape.filter((_, i) => i !== dim));
      // Only the selected slice gets a gradient.
      const [g] = grad(dotRandom(out, seed), [x]);
      const i = index < 0 ? index + shape[dim] : index;
      vals(g!).forEach((v, k) => {
        if (unravel(k, shape)[dim] !== i) expect(v).toBe(0);
      });
    }), { numRuns: RUNS });
  });

  it('second derivatives through slice and select (embed/indexSelect pair)', () => {
    fc.assert(fc.property(sliceArgs, seedArb, ({ shape, dim, start, end, step }, seed) => {
      const x = randT(shape, seed);
      checkGradGrad((t) => t.slice(dim, start, end, step).square(), [x], seed);
      checkGradGrad((t) => t.select(dim, -1).exp().mul(t.select(dim, 0)), [x], seed);
      // Third order: the gradient of the second derivative.
      const y = randT(shape, seed + 1);
      const [g1] = grad(y.slice(dim, start, end, step).pow(3).sum(), [y], { createGraph: true });
      const [g2] = grad(g1!.sum(), [y], { createGraph: true });
      const [g3] = grad(g2!.sum(), [y], { allowUnused: true });
      const picked = new Set(sliceIndices(shape[dim], start, end, step));
      if (g3) expectClose(vals(g3), vals(y).map((_, k) => (picked.has(unravel(k, shape)[dim]) ? 6 : 0)), 1e-12, 0);
    }), { numRuns: RUNS_SLOW });
  });
});

describe('copies and conversions', () => {
  it('clone and contiguous (of a transposed view)', () => {
    fc.assert(fc.property(shapeArb({ minRank: 2 }), seedArb, (shape, seed) => {
      const x = randT(shape, seed);
      checkGrad((t) => t.clone(), [x]);
      checkGrad((t) => t.mT.contiguous(), [x]);
      checkGrad((t) => t.mT.contiguous().reshape([-1]), [x]);
      const c = x.clone();
      expect(c.data.storage).not.toBe(x.data.storage);
      expect(c.gradFn).not.toBeNull();
    }), { numRuns: RUNS });
  });

  it('astype float64 <-> float32: each gradient has its input\'s dtype', () => {
    fc.assert(fc.property(shapeArb(), seedArb, (shape, seed) => {
      const x = randT(shape, seed);
      const up = randT(shape, seed + 1, { requiresGrad: false });
      const y = x.astype('float32');
      expect(y.dtype).toBe('float32');
      const [g] = grad([y.mul(up.astype('float32'))], [x], { gradOutputs: [up.astype('float32')] });
      expect(g!.dtype).toBe('float64');
      // float32 products of float32-rounded values, widened.
      const u32 = Float32Array.from(vals(up));
      expectClose(vals(g!), Array.from(u32, (v) => Math.fround(v * v)), 0, 0);

      const x32 = x.detach().astype('float32').requiresGrad_();
      const z = x32.astype('float64');
      expect(z.dtype).toBe('float64');
      const [g32] = grad([z.mul(z)], [x32], { gradOutputs: [up] });
      expect(g32!.dtype).toBe('float32');
      const xv = vals(x32);
      expectClose(vals(g32!), vals(up).map((u, i) => Math.fround(2 * xv[i] * u)), 0, 0);
      // float64 -> float64 is the identity (no node).
      expect(x.astype('float64')).toBe(x);
      expect(x.double()).toBe(x);
    }), { numRuns: RUNS_SLOW });
  });

  it('astype round trip is differentiable (gradcheck with float32-level tolerance)', () => {
    const x = randT([2, 3], 3);
    checkGrad((t) => t.astype('float32').astype('float64').mul(2), [x], { eps: 1e-3, atol: 1e-4, rtol: 1e-4 });
  });
});

// ---- chains of views -----------------------------------------------------------

type ViewStep = (t: Tensor) => Tensor;

/** A random view op applicable to any tensor (it checks the rank itself). */
const viewStepArb: fc.Arbitrary<ViewStep> = fc.oneof(
  fc.constant<ViewStep>((t) => t.reshape([-1])),
  fc.constant<ViewStep>((t) => (t.ndim >= 2 ? t.mT : t.unsqueeze(0))),
  fc.constant<ViewStep>((t) => t.unsqueeze(-1)),
  fc.constant<ViewStep>((t) => t.squeeze()),
  // reshape of a transposed (non-contiguous) tensor: copies.
  fc.constant<ViewStep>((t) => (t.ndim >= 2 ? t.transpose(0, -1).reshape([...t.shape].reverse()) : t.reshape([-1]))),
  fc.constant<ViewStep>((t) => (t.ndim >= 1 && t.shape[0] > 1 ? t.slice(0, 1) : t)),
  fc.constant<ViewStep>((t) => (t.ndim >= 1 ? t.slice(-1, undefined, undefined, 2) : t)),
  fc.constant<ViewStep>((t) => (t.ndim >= 2 ? t.select(1, -1) : t)),
  fc.constant<ViewStep>((t) => (t.ndim >= 1 ? t.unsqueeze(0).expand([2, ...t.shape]) : t)),
  // Rotate the dims left by one (any rank >= 2).
  fc.constant<ViewStep>((t) => (t.ndim >= 2 ? t.permute([...Array.from({ length: t.ndim - 1 }, (_, i) => i + 1), 0]) : t.clone())),
  fc.constant<ViewStep>((t) => (t.ndim >= 1 && t.shape[t.ndim - 1] > 1 ? t.narrow(-1, 1, t.shape[t.ndim - 1] - 1) : t)),
  fc.constant<ViewStep>((t) => t.contiguous()),
);

describe('chains of views', () => {
  it('random chains of view ops followed by an elementwise op', () => {
    fc.assert(fc.property(shapeArb({ minRank: 1 }), fc.array(viewStepArb, { minLength: 1, maxLength: 6 }), seedArb, (shape, steps, seed) => {
      const x = randT(shape, seed);
      const f = (t: Tensor): Tensor => steps.reduce((acc, step) => step(acc), t);
      const out = f(x);
      const r = randT(out.shape, seed + 1, { requiresGrad: false });
      checkGrad((t) => f(t).mul(r), [x]);
      checkGrad((t) => f(t).square(), [x]);
    }), { numRuns: RUNS });
  });

  it('second derivative through a chain of views', () => {
    fc.assert(fc.property(shapeArb({ minRank: 1, maxRank: 2 }), fc.array(viewStepArb, { minLength: 1, maxLength: 4 }), seedArb, (shape, steps, seed) => {
      const f = (t: Tensor): Tensor => steps.reduce((acc, step) => step(acc), t);
      checkGradGrad((t) => f(t).sin(), [randT(shape, seed)], seed);
    }), { numRuns: RUNS_SLOW });
  });
});

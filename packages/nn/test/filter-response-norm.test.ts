/**
 * Filter Response Normalization and TLU (Singh & Krishnan 2019): values
 * against a loop, the identities (mean square of xhat, scale invariance,
 * independence of the other samples), learnable eps, gradients of first
 * and second order over random shapes, and errors.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { tensor } from '@normlab/autograd';
import { FilterResponseNorm2d, TLU, filterResponseNorm, tlu } from '../src/index.js';
import { checkGrad, checkGradGrad, expectClose, randT, randomize, seedArb, vals } from './norm-helpers.js';

/** [N, C], [N, C, L] or [N, C, H, W]. */
const shapeArb = fc.oneof(
  fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
  fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 })),
  fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
).map((s) => [...s]);

/** x / sqrt(mean(x^2 over the spatial dims) + eps) * w + b, by a loop. */
function reference(x: number[], shape: number[], eps: number, w: number[], b: number[]): number[] {
  const S = shape.slice(2).reduce((p, q) => p * q, 1);
  const out: number[] = [];
  for (let nc = 0; nc < x.length / S; nc++) {
    const c = nc % shape[1];
    const block = x.slice(nc * S, (nc + 1) * S);
    const nu2 = block.reduce((p, q) => p + q * q, 0) / S;
    for (const v of block) out.push((v / Math.sqrt(nu2 + eps)) * w[c] + b[c]);
  }
  return out;
}

describe('filterResponseNorm', () => {
  it('matches x / sqrt(nu^2 + eps) * w + b per sample and channel, computed by a loop', () => {
    fc.assert(fc.property(shapeArb, seedArb, fc.constantFrom(1e-6, 1e-2, 1), (shape, seed, eps) => {
      const x = randT(shape, seed, { scale: 3 });
      const w = randT([shape[1]], seed + 1);
      const b = randT([shape[1]], seed + 2);
      expectClose(vals(filterResponseNorm(x, w, b, eps)), reference(vals(x), shape, eps, vals(w), vals(b)), 1e-12, 1e-12);
    }), { numRuns: 40 });
  });

  it('gives each sample\'s channel the mean square nu^2 / (nu^2 + eps), is scale invariant per sample and channel, and ignores the other samples', () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 2, max: 9 }), seedArb, (N, C, S, seed) => {
      const x = randT([N, C, S], seed, { scale: 2 });
      const eps = 1e-3;
      const y = vals(filterResponseNorm(x, null, null, eps));
      const xs = vals(x);
      for (let nc = 0; nc < N * C; nc++) {
        const nu2 = xs.slice(nc * S, (nc + 1) * S).reduce((p, q) => p + q * q, 0) / S;
        const ms = y.slice(nc * S, (nc + 1) * S).reduce((p, q) => p + q * q, 0) / S;
        expect(Math.abs(ms - nu2 / (nu2 + eps))).toBeLessThan(1e-12);
      }
      // Positive per-(sample, channel) scales change nothing when eps is negligible.
      const scales = randT([N, C, 1], seed + 1, { requiresGrad: false }).abs().add(0.1);
      expectClose(vals(filterResponseNorm(x.mul(scales), null, null, 1e-300)), vals(filterResponseNorm(x, null, null, 1e-300)), 1e-12, 1e-12);
      // No batch dependence: the first sample alone gives the same output.
      expectClose(vals(filterResponseNorm(x.narrow(0, 0, 1), null, null, eps)), y.slice(0, C * S), 0, 0);
    }), { numRuns: 30 });
  });

  it('has gradients of first and second order in x, weight, bias and a learned eps', () => {
    fc.assert(fc.property(shapeArb, seedArb, (shape, seed) => {
      const x = randT(shape, seed);
      const C = shape[1];
      checkGrad((xi, w, b) => filterResponseNorm(xi, w, b, 0.1), [x, randT([C], seed + 1), randT([C], seed + 2)]);
      const epsL = randT([C], seed + 3, { requiresGrad: false }).abs().add(0.05).requiresGrad_();
      checkGrad((xi, e) => filterResponseNorm(xi, null, null, e), [x, epsL]);
    }), { numRuns: 20 });
    checkGradGrad((xi, w) => filterResponseNorm(xi, w, null, 0.1), [randT([2, 2, 3], 1), randT([2], 2)]);
  });

  it('rejects bad input with clear errors', () => {
    const x = randT([2, 3, 4], 1);
    expect(() => filterResponseNorm(randT([3], 1))).toThrow(/filterResponseNorm: expected input \[N, C, \.\.\.\] with at least 2 dims, got \[3\]/);
    expect(() => filterResponseNorm(x, randT([2], 1))).toThrow(/filterResponseNorm: expected weight of shape \[3\]/);
    expect(() => filterResponseNorm(x, null, null, 0)).toThrow(/filterResponseNorm: eps must be positive, got 0/);
    expect(() => filterResponseNorm(x, null, null, randT([2], 1))).toThrow(/filterResponseNorm: expected eps to be a positive number or a tensor of shape \[\] or \[3\]/);
  });
});

describe('tlu', () => {
  it('is max(x, tau) per channel, ReLU at tau = 0, with gradients to x and tau', () => {
    fc.assert(fc.property(shapeArb, seedArb, (shape, seed) => {
      const x = randT(shape, seed);
      const tau = randT([shape[1]], seed + 1);
      const S = shape.slice(2).reduce((p, q) => p * q, 1);
      const t = vals(tau);
      expect(vals(tlu(x, tau))).toEqual(vals(x).map((v, k) => Math.max(v, t[Math.floor(k / S) % shape[1]])));
      expectClose(vals(tlu(x, tau.mul(0))), vals(x.relu()), 0, 0); // up to the sign of 0
      checkGrad((xi, ti) => tlu(xi, ti), [x, tau]);
    }), { numRuns: 30 });
    // A tie splits the gradient between x and tau, as torch.max(x, tau).
    const x = tensor([[0.5, -1]], { dtype: 'float64', requiresGrad: true });
    const tau = tensor([0.5, 0], { dtype: 'float64', requiresGrad: true });
    tlu(x, tau).sum().backward();
    expect(vals(x.grad!)).toEqual([0.5, 0]);
    expect(vals(tau.grad!)).toEqual([0.5, 1]);
    expect(() => tlu(randT([2, 3], 1), randT([2], 1))).toThrow(/tlu: expected tau of shape \[3\]/);
  });
});

describe('FilterResponseNorm2d and TLU', () => {
  it('have the paper\'s parameters and defaults, and the same output in training and eval mode, for a batch of one', () => {
    const frn = new FilterResponseNorm2d(3, { dtype: 'float64' });
    expect(frn.eps).toBe(1e-6);
    expect([...frn.namedParameters()].map(([n]) => n)).toEqual(['weight', 'bias']);
    expect([...frn.namedBuffers()]).toHaveLength(0);
    const learned = new FilterResponseNorm2d(3, { dtype: 'float64', learnableEps: true });
    expect([...learned.namedParameters()].map(([n]) => n)).toEqual(['weight', 'bias', 'epsL']);
    expect(vals(learned.epsL!)).toEqual([0, 0, 0]);
    const act = new TLU(3, { dtype: 'float64' });
    expect(vals(act.tau)).toEqual([0, 0, 0]);
    randomize(frn.weight, 1);
    randomize(frn.bias, 2);
    const x = randT([1, 3, 4, 4], 3);
    const train = vals(act.forward(frn.forward(x)));
    frn.eval();
    act.eval();
    expect(vals(act.forward(frn.forward(x)))).toEqual(train);
    expectClose(train, reference(vals(x), [1, 3, 4, 4], 1e-6, vals(frn.weight!), vals(frn.bias!)).map((v) => Math.max(v, 0)), 1e-12, 1e-12);
  });

  it('learns eps as eps + |eps_l|: gradients reach eps_l', () => {
    const frn = new FilterResponseNorm2d(2, { dtype: 'float64', learnableEps: true, eps: 1e-3 });
    frn.epsL!.data = tensor([0.5, -0.25], { dtype: 'float64' }).data;
    const x = randT([2, 2, 1, 1], 4);
    expectClose(vals(frn.forward(x)), vals(filterResponseNorm(x, frn.weight, frn.bias, tensor([0.501, 0.251], { dtype: 'float64' }))), 1e-15, 1e-12);
    frn.forward(x).sum().backward();
    expect(vals(frn.epsL!.grad!).every((g) => g !== 0)).toBe(true);
    frn.resetParameters();
    expect(vals(frn.epsL!)).toEqual([0, 0]);
  });

  it('rejects bad options and inputs', () => {
    expect(() => new FilterResponseNorm2d(0)).toThrow(/FilterResponseNorm2d: numFeatures must be a positive integer, got 0/);
    expect(() => new FilterResponseNorm2d(2, { eps: -1 })).toThrow(/FilterResponseNorm2d: eps must be positive, got -1/);
    expect(() => new FilterResponseNorm2d(2).forward(randT([2, 2, 3], 1))).toThrow(/FilterResponseNorm2d: expected input \[N, 2, H, W\], got \[2,2,3\]/);
    expect(() => new TLU(1.5)).toThrow(/TLU: numFeatures must be a positive integer, got 1.5/);
  });
});

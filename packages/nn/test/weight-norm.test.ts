/**
 * weightNorm / removeWeightNorm on Linear and Conv2d: the reparameterization
 * keeps the output, ||w_i|| = g_i, parameters and state, gradients, errors.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Parameter } from '../src/parameter.js';
import { Linear } from '../src/linear.js';
import { Conv2d } from '../src/conv.js';
import { isWeightNormed, removeWeightNorm, weightNorm } from '../src/normalization/weight-norm.js';
import { blocks, checkGrad, checkGradGrad, expectClose, randT, randomize, seedArb, vals } from './norm-helpers.js';

const rowNorms = (w: number[], rowSize: number): number[] => blocks(w, rowSize).map((r) => Math.sqrt(r.reduce((a, v) => a + v * v, 0)));

describe('weightNorm', () => {
  it('reproduces the original output right after wrapping, and ||w_i|| = g_i (Linear, Conv2d)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), seedArb, (inF, outF, seed) => {
      const lin = new Linear(inF, outF, { dtype: 'float64' });
      randomize(lin.weight, seed);
      const x = randT([2, inF], seed + 1);
      const before = vals(lin.forward(x));
      const wn = weightNorm(lin);
      expectClose(vals(wn.forward(x)), before, 1e-12, 1e-12, 'Linear output');
      expectClose(rowNorms(vals(wn.weight), inF), vals(wn.weightG), 1e-12, 1e-12, 'norms');
      const conv = new Conv2d(2, outF, 2, { dtype: 'float64', padding: 1 });
      const xc = randT([1, 2, 3, 3], seed + 2);
      const cb = vals(conv.forward(xc));
      const wc = weightNorm(conv);
      expectClose(vals(wc.forward(xc)), cb, 1e-12, 1e-12, 'Conv2d output');
      expect(wc.weightG.shape).toEqual([outF, 1, 1, 1]);
    }), { numRuns: 10 });
  });

  it('parameters() and stateDict() list g and v, not w; weight is a plain Tensor recomputed from them', () => {
    const lin = weightNorm(new Linear(3, 2, { dtype: 'float64' }));
    expect([...lin.namedParameters()].map(([k, p]) => [k, p.shape])).toEqual([['bias', [2]], ['weightG', [2, 1]], ['weightV', [2, 3]]]);
    expect([...lin.stateDict().keys()]).toEqual(['bias', 'weightG', 'weightV']);
    expect(lin.weight).not.toBeInstanceOf(Parameter);
    expect(isWeightNormed(lin)).toBe(true);
    // A new g (as an optimizer step would set) changes the weight's row norms at the next read.
    const g = lin.weightG;
    g.data = randT([2, 1], 3, { requiresGrad: false }).abs().data;
    expectClose(rowNorms(vals(lin.weight), 3), vals(g), 1e-12, 1e-12);
  });

  it('dim 1 keeps one norm per column; dim null (or -1) one norm for the whole tensor', () => {
    const a = weightNorm(new Linear(3, 2), { dim: 1 });
    expect(a.weightG.shape).toEqual([1, 3]);
    const b = weightNorm(new Linear(3, 2), { dim: null });
    expect(b.weightG.shape).toEqual([1, 1]);
    const c = weightNorm(new Conv2d(2, 4, 3), { dim: -1 });
    expect(c.weightG.shape).toEqual([1, 1, 1, 1]);
  });

  it('removeWeightNorm restores a weight Parameter with the current value, in its place', () => {
    const lin = new Linear(3, 2, { dtype: 'float64' });
    const w0 = vals(lin.weight);
    weightNorm(lin);
    removeWeightNorm(lin);
    expect(lin.weight).toBeInstanceOf(Parameter);
    expectClose(vals(lin.weight), w0, 1e-12, 1e-12);
    expect([...lin.namedParameters()].map(([k]) => k)).toEqual(['weight', 'bias']);
    expect(isWeightNormed(lin)).toBe(false);
  });
});

describe('weightNorm gradients', () => {
  it('gradcheck for the input, bias, g and v through a weight-normed Linear and Conv2d (float64)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.boolean(), seedArb, (inF, outF, conv, seed) => {
      const m = conv ? new Conv2d(inF, outF, 2, { dtype: 'float64' }) : new Linear(inF, outF, { dtype: 'float64' });
      randomize(m.weight, seed);
      randomize(m.bias, seed + 1);
      weightNorm(m);
      const x = randT(conv ? [1, inF, 2, 3] : [2, inF], seed + 2);
      checkGrad(() => m.forward(x), [x, ...m.parameters()]);
    }), { numRuns: 8 });
  });

  it('gradgradcheck through a weight-normed Linear', () => {
    const lin = weightNorm(new Linear(3, 2, { dtype: 'float64' }));
    const x = randT([2, 3], 6, { requiresGrad: false });
    checkGradGrad(() => lin.forward(x).tanh(), [...lin.parameters()], 5);
  });
});

describe('weightNorm errors', () => {
  it('names the op for a missing parameter, a second application, a bad dim, and removal without it', () => {
    expect(() => weightNorm(new Linear(2, 2), { name: 'scale' })).toThrow("weightNorm: Linear has no parameter 'scale'");
    expect(() => weightNorm(weightNorm(new Linear(2, 2)))).toThrow(/weightNorm: 'weight' of Linear is already weight-normalized/);
    expect(() => weightNorm(new Linear(2, 2), { dim: 2 })).toThrow(/weightNorm: dim 2 out of range for 'weight' of shape \[2,2\]/);
    expect(() => removeWeightNorm(new Linear(2, 2))).toThrow(/removeWeightNorm: 'weight' of Linear is not weight-normalized/);
  });
});

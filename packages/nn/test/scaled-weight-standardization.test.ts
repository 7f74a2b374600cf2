/**
 * ScaledWeightStandardizedConv2d (Brock, De & Smith 2021): per-filter
 * moments of the scaled weight, unit output variance for unit inputs,
 * RELU_GAMMA, gradients (gain included) and errors.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { conv2d, randn, manualSeed } from '@normlab/autograd';
import { RELU_GAMMA, ScaledWeightStandardizedConv2d, WeightStandardizedConv2d, standardizeWeight } from '../src/index.js';
import { blocks, checkGrad, expectClose, moments, randT, randomize, seedArb, vals } from './norm-helpers.js';

describe('ScaledWeightStandardizedConv2d', () => {
  it('gives each filter mean 0 and variance gain^2 gamma^2 / fanIn * var / (var + eps)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), seedArb, (cin, cout, k, seed) => {
      const fanIn = cin * k * k;
      fc.pre(fanIn > 1);
      const conv = new ScaledWeightStandardizedConv2d(cin, cout, k, { dtype: 'float64', gamma: 1.5 });
      randomize(conv.weight, seed);
      randomize(conv.gain, seed + 1);
      const raw = blocks(vals(conv.weight), fanIn).map(moments);
      const scaled = blocks(vals(conv.standardizedWeight()), fanIn).map(moments);
      const gain = vals(conv.gain);
      expectClose(scaled.map((m) => m.mean), raw.map(() => 0), 1e-12, 0, 'mean');
      expectClose(scaled.map((m) => m.variance), raw.map((m, o) => (gain[o] ** 2 * 1.5 ** 2 / fanIn) * m.variance / (m.variance + 1e-6)), 1e-10, 1e-10, 'variance');
    }), { numRuns: 20 });
  });

  it('is WeightStandardizedConv2d with eps 1e-6 times gain * gamma / sqrt(fanIn), the gain a parameter of ones', () => {
    const conv = new ScaledWeightStandardizedConv2d(4, 6, [3, 2], { padding: 1, groups: 2, dtype: 'float64', gamma: RELU_GAMMA });
    expect(conv).toBeInstanceOf(WeightStandardizedConv2d);
    expect(conv.eps).toBe(1e-6);
    expect(vals(conv.gain)).toEqual([1, 1, 1, 1, 1, 1]);
    expect([...conv.namedParameters()].map(([n]) => n).sort()).toEqual(['bias', 'gain', 'weight']);
    expect(RELU_GAMMA).toBeCloseTo(1.71285, 4);
    const x = randT([2, 4, 5, 4], 1);
    const w = standardizeWeight(conv.weight, 1e-6).mul(RELU_GAMMA / Math.sqrt(2 * 3 * 2));
    expectClose(vals(conv.forward(x)), vals(conv2d(x, w, conv.bias, { padding: 1, groups: 2 })), 1e-12, 1e-12);
    expect(String(conv)).toContain(`gamma=${RELU_GAMMA}`);
  });

  it('keeps a unit-variance input at unit variance through the convolution (before the nonlinearity)', () => {
    manualSeed(3);
    const conv = new ScaledWeightStandardizedConv2d(64, 32, 3, { dtype: 'float64', bias: false });
    const y = vals(conv.forward(randn([8, 64, 6, 6], { dtype: 'float64' })));
    const { mean, variance } = moments(y);
    expect(Math.abs(mean)).toBeLessThan(0.05);
    expect(Math.abs(variance - 1)).toBeLessThan(0.1);
  });

  it('has gradients in the input, weight, gain and bias', () => {
    fc.assert(fc.property(seedArb, (seed) => {
      const conv = new ScaledWeightStandardizedConv2d(2, 3, 2, { dtype: 'float64', gamma: RELU_GAMMA });
      randomize(conv.weight, seed);
      randomize(conv.gain, seed + 1);
      randomize(conv.bias, seed + 2);
      const x = randT([1, 2, 3, 3], seed + 3);
      checkGrad(() => conv.forward(x), [x, ...conv.parameters()]);
    }), { numRuns: 6 });
  });

  it('rejects bad options and inputs, naming the layer', () => {
    expect(() => new ScaledWeightStandardizedConv2d(2, 3, 2, { gamma: 0 })).toThrow(/ScaledWeightStandardizedConv2d: gamma must be a positive number, got 0/);
    expect(() => new ScaledWeightStandardizedConv2d(2, 3, 2, { eps: 0 })).toThrow(/ScaledWeightStandardizedConv2d: eps must be positive/);
    expect(() => new ScaledWeightStandardizedConv2d(2, 3, 2).forward(randT([1, 3, 4, 4], 1))).toThrow(/ScaledWeightStandardizedConv2d: expected input \[N, 2, H, W\]/);
  });
});

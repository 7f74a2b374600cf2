/**
 * WeightStandardizedConv2d: standardized weights, the forward against a
 * plain conv2d, invariance to per-filter affine changes, gradients, errors.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { conv2d } from '@normlab/autograd';
import { Conv2d } from '../src/conv.js';
import { WeightStandardizedConv2d, standardizeWeight } from '../src/normalization/weight-standardization.js';
import { blocks, checkGrad, checkGradGrad, expectClose, moments, randT, randomize, seedArb, vals } from './norm-helpers.js';

describe('WeightStandardizedConv2d', () => {
  it('each output channel of the standardized weight has mean 0 and variance var / (var + eps)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), seedArb, (cin, cout, k, seed) => {
      const conv = new WeightStandardizedConv2d(cin, cout, k, { dtype: 'float64' });
      randomize(conv.weight, seed);
      const n = cin * k * k;
      fc.pre(n > 1);
      const raw = blocks(vals(conv.weight), n).map(moments);
      const std = blocks(vals(conv.standardizedWeight()), n).map(moments);
      expectClose(std.map((m) => m.mean), raw.map(() => 0), 1e-12, 0, 'mean');
      expectClose(std.map((m) => m.variance), raw.map((m) => m.variance / (m.variance + 1e-5)), 1e-10, 1e-10, 'variance');
    }), { numRuns: 10 });
  });

  it('is an extended Conv2d whose forward is conv2d with the standardized weight', () => {
    const conv = new WeightStandardizedConv2d(4, 6, [3, 2], { stride: 2, padding: 1, groups: 2, dtype: 'float64' });
    expect(conv).toBeInstanceOf(Conv2d);
    const x = randT([2, 4, 5, 4], 1);
    const expected = conv2d(x, standardizeWeight(conv.weight), conv.bias, { stride: 2, padding: 1, groups: 2 });
    expectClose(vals(conv.forward(x)), vals(expected), 1e-12, 1e-12);
    expect(conv.forward(randT([4, 5, 4], 2)).shape).toEqual([6, 3, 3]);
    expect(conv.toString()).toContain(`eps=${1e-5}`);
  });

  it('the output ignores a positive per-filter scale and a per-filter shift of the weight', () => {
    const conv = new WeightStandardizedConv2d(2, 3, 2, { dtype: 'float64', eps: 1e-12 });
    const x = randT([1, 2, 3, 3], 3);
    const before = vals(conv.forward(x));
    const scale = randT([3, 1, 1, 1], 4, { requiresGrad: false }).abs().add(0.5);
    conv.weight.data = conv.weight.detach().mul(scale).add(randT([3, 1, 1, 1], 5, { requiresGrad: false })).data;
    expectClose(vals(conv.forward(x)), before, 1e-9, 1e-9);
  });

  it('gradcheck for the input, weight and bias over random options (float64)', () => {
    const arb = fc.record({
      groups: fc.integer({ min: 1, max: 2 }),
      perGroupIn: fc.integer({ min: 1, max: 2 }),
      perGroupOut: fc.integer({ min: 1, max: 2 }),
      k: fc.integer({ min: 1, max: 2 }),
      stride: fc.integer({ min: 1, max: 2 }),
      padding: fc.integer({ min: 0, max: 1 }),
      bias: fc.boolean(),
      seed: seedArb,
    }).filter(({ perGroupIn, k }) => perGroupIn * k * k > 1);
    fc.assert(fc.property(arb, ({ groups, perGroupIn, perGroupOut, k, stride, padding, bias, seed }) => {
      const conv = new WeightStandardizedConv2d(groups * perGroupIn, groups * perGroupOut, k, { groups, stride, padding, bias, dtype: 'float64' });
      randomize(conv.weight, seed);
      randomize(conv.bias, seed + 1);
      const x = randT([1, groups * perGroupIn, 3, 3], seed + 2);
      checkGrad(() => conv.forward(x), [x, ...conv.parameters()]);
    }), { numRuns: 8 });
  });

  it('gradgradcheck (input and weight)', () => {
    const x = randT([1, 2, 3, 3], 6);
    const w = randT([2, 2, 2, 2], 7);
    checkGradGrad((xx, ww) => conv2d(xx, standardizeWeight(ww)), [x, w], 6);
  });

  it('errors name the op', () => {
    expect(() => new WeightStandardizedConv2d(2, 3, 2).forward(randT([1, 3, 4, 4], 1))).toThrow(/WeightStandardizedConv2d: expected input \[N, 2, H, W\]/);
    expect(() => new WeightStandardizedConv2d(2, 3, 2, { eps: 0 })).toThrow(/WeightStandardizedConv2d: eps must be positive/);
    expect(() => standardizeWeight(randT([3], 1))).toThrow(/standardizeWeight: expected a weight/);
  });
});

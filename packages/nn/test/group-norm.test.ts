/**
 * GroupNorm and groupNorm: values against a loop, the 1-group (LayerNorm)
 * and C-group (InstanceNorm) special cases, gradients, options and errors.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { GroupNorm } from '../src/normalization/group-norm.js';
import { groupNorm } from '../src/functional/group-norm.js';
import { layerNorm } from '../src/functional/layer-norm.js';
import { instanceNorm } from '../src/functional/instance-norm.js';
import { blocks, checkGrad, checkGradGrad, expectClose, moments, randT, randomize, seedArb, vals } from './norm-helpers.js';

describe('groupNorm forward', () => {
  it('matches a loop over (sample, group) blocks, with a per-channel affine', () => {
    const [N, C, L, G] = [2, 6, 3, 3];
    const x = randT([N, C, L], 1, { scale: 2 });
    const w = randT([C], 2);
    const b = randT([C], 3);
    const y = vals(groupNorm(x, G, w, b, 0.01));
    const ws = vals(w);
    const bs = vals(b);
    const groupSize = (C / G) * L;
    const expected = blocks(vals(x), groupSize).flatMap((block, k) => {
      const { mean, variance } = moments(block);
      return block.map((v, j) => {
        const c = (k % G) * (C / G) + Math.floor(j / L);
        return ((v - mean) / Math.sqrt(variance + 0.01)) * ws[c] + bs[c];
      });
    });
    expectClose(y, expected, 1e-12, 1e-12);
  });

  it('one group is LayerNorm over [C, *] (per-channel affine at identity); C groups is InstanceNorm', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 2, max: 3 }), seedArb, (N, C, H, seed) => {
      const x = randT([N, C, H, 2], seed);
      const gn1 = new GroupNorm(1, C, { dtype: 'float64' });
      expectClose(vals(gn1.forward(x)), vals(layerNorm(x, [C, H, 2])), 1e-12, 1e-12, '1 group');
      const gnC = new GroupNorm(C, C, { dtype: 'float64' });
      expectClose(vals(gnC.forward(x)), vals(instanceNorm(x)), 1e-12, 1e-12, 'C groups');
    }), { numRuns: 10 });
  });

  it('works on [N, C] (no spatial dims) and is the same in eval mode', () => {
    const gn = new GroupNorm(2, 4, { dtype: 'float64' });
    const x = randT([3, 4], 4);
    const a = vals(gn.forward(x));
    expectClose(blocks(a, 2).map((r) => moments(r).mean), [0, 0, 0, 0, 0, 0], 1e-12, 0);
    gn.eval();
    expect(vals(gn.forward(x))).toEqual(a);
  });
});

describe('GroupNorm options', () => {
  it('affine (default) gives weight ones and bias zeros of [numChannels]; affine: false none; no buffers', () => {
    const gn = new GroupNorm(2, 4);
    expect([...gn.namedParameters()].map(([k, p]) => [k, p.shape, vals(p)])).toEqual([['weight', [4], [1, 1, 1, 1]], ['bias', [4], [0, 0, 0, 0]]]);
    expect(gn.buffers()).toEqual([]);
    expect(new GroupNorm(2, 4, { affine: false }).parameters()).toEqual([]);
    expect(gn.toString()).toBe(`GroupNorm(2, 4, eps=${1e-5}, affine=true)`);
  });
});

describe('GroupNorm gradients', () => {
  it('gradcheck for the input, weight and bias over random shapes and group counts (float64)', () => {
    const arb = fc.record({
      N: fc.integer({ min: 1, max: 2 }),
      G: fc.integer({ min: 1, max: 3 }),
      perGroup: fc.integer({ min: 1, max: 2 }),
      spatial: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 0, maxLength: 2 }),
      affine: fc.boolean(),
      seed: seedArb,
    }).filter(({ N, G, perGroup, spatial }) => {
      const size = N * G * perGroup * spatial.reduce((a, b) => a * b, 1);
      return size <= 24 && perGroup * spatial.reduce((a, b) => a * b, 1) > 1;
    });
    fc.assert(fc.property(arb, ({ N, G, perGroup, spatial, affine, seed }) => {
      const C = G * perGroup;
      const gn = new GroupNorm(G, C, { affine, dtype: 'float64' });
      randomize(gn.weight, seed + 1);
      randomize(gn.bias, seed + 2);
      const x = randT([N, C, ...spatial], seed, { scale: 2 });
      checkGrad(() => gn.forward(x), [x, ...gn.parameters()]);
    }), { numRuns: 8 });
  });

  it('gradgradcheck (input, weight, bias)', () => {
    checkGradGrad((x, w, b) => groupNorm(x, 2, w, b), [randT([2, 4, 2], 5), randT([4], 6), randT([4], 7)], 2);
  });
});

describe('GroupNorm errors', () => {
  it('C not divisible by numGroups throws a clear error, in the layer and the function', () => {
    expect(() => new GroupNorm(3, 4)).toThrow('GroupNorm: numChannels (4) must be divisible by numGroups (3)');
    expect(() => groupNorm(randT([2, 4, 2], 1), 3)).toThrow(/groupNorm: expected the number of channels \(4.*divisible by numGroups \(3\)/);
  });

  it('bad input shapes, affine shapes and options throw, naming the op', () => {
    expect(() => new GroupNorm(2, 4).forward(randT([2, 6, 3], 1))).toThrow('GroupNorm: expected input [N, 4, *], got [2,6,3]');
    expect(() => groupNorm(randT([4], 1), 2)).toThrow(/groupNorm: expected input \[N, C, \*\]/);
    expect(() => groupNorm(randT([2, 4], 1), 2, randT([2], 2))).toThrow(/groupNorm: expected weight of shape \[4\]/);
    expect(() => new GroupNorm(0, 4)).toThrow(/GroupNorm: numGroups must be a positive integer/);
    expect(() => new GroupNorm(2, 4, { eps: -1 })).toThrow(/GroupNorm: eps must be positive/);
    expect(() => groupNorm(randT([2, 4], 1), 2.5)).toThrow(/groupNorm: numGroups/);
  });
});

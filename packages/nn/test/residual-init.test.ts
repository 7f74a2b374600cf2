/**
 * SkipInit (De & Smith 2020) and Fixup (Zhang, Dauphin & Ma 2019): the gate
 * starts at 0 and learns, the residual block starts as the identity,
 * Fixup's scale and weights, and errors.
 */
import { describe, expect, it } from 'vitest';
import { Generator } from '@normlab/tensor';
import { Conv2d, Linear, ReLU, SkipInit, fixupInit, fixupScale } from '../src/index.js';
import { checkGrad, expectClose, moments, randT, vals } from './norm-helpers.js';

describe('SkipInit', () => {
  it('starts at 0, so x + gate(branch(x)) is the identity, and has the gradients of alpha * x', () => {
    const branch = new Linear(4, 4, { dtype: 'float64' });
    const gate = new SkipInit({ dtype: 'float64' });
    expect(gate.alpha.shape).toEqual([]);
    expect(gate.alpha.item()).toBe(0);
    const x = randT([3, 4], 1);
    expect(vals(x.add(gate.forward(branch.forward(x))))).toEqual(vals(x));
    x.add(gate.forward(branch.forward(x))).sum().backward();
    expect(gate.alpha.grad!.item()).not.toBe(0); // the gate learns
    expect(vals(branch.weight.grad!).every((g) => g === 0)).toBe(true); // the branch waits for it
    checkGrad((xi, a) => xi.mul(a), [x, randT([], 2)]);
    expect(new SkipInit({ init: 1 }).alpha.item()).toBe(1);
    expect(() => new SkipInit({ init: Number.NaN })).toThrow(/SkipInit: init must be a finite number, got NaN/);
  });
});

describe('fixupInit', () => {
  it('scales all but the last layer of each branch by L^(-1/(2m-2)) after He init, and zeros the last', () => {
    expect(fixupScale(16, 2)).toBeCloseTo(1 / 4, 15);
    expect(fixupScale(8, 3)).toBeCloseTo(8 ** -0.25, 15);
    const L = 9;
    const branches = Array.from({ length: L }, () => [new Conv2d(16, 16, 3, { dtype: 'float64' }), new Conv2d(16, 16, 3, { dtype: 'float64' })]);
    const scale = fixupInit(branches, { generator: new Generator(0) });
    expect(scale).toBeCloseTo(1 / 3, 15); // 9^(-1/2)
    for (const [first, last] of branches) {
      const w = vals(first.weight);
      // He normal: std sqrt(2 / fanIn), fanIn = 16 * 3 * 3, then times the scale.
      const { variance } = moments(w);
      const std = Math.sqrt(variance) / (Math.sqrt(2 / 144) / 3);
      expect(std).toBeGreaterThan(0.85);
      expect(std).toBeLessThan(1.15);
      expect(vals(last.weight).every((v) => v === 0)).toBe(true);
    }
    // Seeded: the same generator state gives the same weights.
    const again = Array.from({ length: L }, () => [new Conv2d(16, 16, 3, { dtype: 'float64' }), new Conv2d(16, 16, 3, { dtype: 'float64' })]);
    fixupInit(again, { generator: new Generator(0) });
    expectClose(vals(again[0][0].weight), vals(branches[0][0].weight), 0, 0);
  });

  it('rejects branches it cannot rescale', () => {
    expect(() => fixupInit([])).toThrow(/fixupInit: expected at least one residual branch/);
    expect(() => fixupInit([[new Linear(2, 2)], [new Linear(2, 2)]])).toThrow(/layersPerBranch must be an integer >= 2/);
    expect(() => fixupInit([[new Linear(2, 2), new Linear(2, 2)], [new Linear(2, 2)]])).toThrow(/branch 0 has 2, branch 1 has 1/);
    expect(() => fixupInit([[new Linear(2, 2), new ReLU()]])).toThrow(/fixupInit: layer 1 of branch 0 \(ReLU\) has no weight/);
    expect(() => fixupScale(0, 2)).toThrow(/fixupScale: numBranches must be a positive integer, got 0/);
  });
});

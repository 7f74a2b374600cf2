/**
 * Ghost Batch Normalization (Hoffer et al. 2017): each virtual batch is
 * BatchNorm of that slice alone, the running statistics are updated once
 * per virtual batch in order, eval mode is BatchNorm's, gradients against
 * finite differences, and errors.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { cat } from '@normlab/autograd';
import { BatchNorm1d, BatchNorm2d, GhostBatchNorm1d, GhostBatchNorm2d } from '../src/index.js';
import { checkGrad, expectClose, randT, randomize, seedArb, vals } from './norm-helpers.js';

describe('GhostBatchNorm1d / GhostBatchNorm2d', () => {
  it('normalizes each virtual batch as BatchNorm would that slice alone, and updates the running statistics once per virtual batch', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 4 }), fc.integer({ min: 2, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.boolean(), seedArb,
      (k, v, C, spatial, seed) => {
        const shape = spatial ? [k * v, C, 2, 2] : [k * v, C];
        const ghost = spatial ? new GhostBatchNorm2d(C, { virtualBatchSize: v, dtype: 'float64', momentum: 0.2 }) : new GhostBatchNorm1d(C, { virtualBatchSize: v, dtype: 'float64', momentum: 0.2 });
        const bn = spatial ? new BatchNorm2d(C, { dtype: 'float64', momentum: 0.2 }) : new BatchNorm1d(C, { dtype: 'float64', momentum: 0.2 });
        randomize(ghost.weight, seed + 1);
        randomize(ghost.bias, seed + 2);
        bn.weight!.data = ghost.weight!.data;
        bn.bias!.data = ghost.bias!.data;
        const x = randT(shape, seed, { scale: 3 });
        const y = ghost.forward(x);
        const expected = cat(Array.from({ length: k }, (_, i) => bn.forward(x.narrow(0, i * v, v))), 0);
        expectClose(vals(y), vals(expected), 1e-12, 1e-12);
        expectClose(vals(ghost.runningMean!), vals(bn.runningMean!), 1e-12, 1e-12);
        expectClose(vals(ghost.runningVar!), vals(bn.runningVar!), 1e-12, 1e-12);
        expect(ghost.numBatchesTracked!.item()).toBe(k);
        // Eval: BatchNorm with the running statistics, for any batch size.
        ghost.eval();
        bn.eval();
        const z = randT([k * v + 1, ...shape.slice(1)], seed + 3);
        expectClose(vals(ghost.forward(z)), vals(bn.forward(z)), 1e-12, 1e-12);
      },
    ), { numRuns: 30 });
  });

  it('every virtual batch of the output has per-channel mean beta and variance gamma^2 var / (var + eps)', () => {
    const ghost = new GhostBatchNorm1d(2, { virtualBatchSize: 4, dtype: 'float64', eps: 1e-3 });
    const x = randT([12, 2], 4, { scale: 5 });
    const y = vals(ghost.forward(x));
    const xs = vals(x);
    for (let k = 0; k < 3; k++) {
      for (let c = 0; c < 2; c++) {
        const col = (a: number[]): number[] => [0, 1, 2, 3].map((i) => a[(k * 4 + i) * 2 + c]);
        const mean = (a: number[]): number => a.reduce((p, q) => p + q, 0) / a.length;
        const variance = (a: number[]): number => mean(a.map((t) => (t - mean(a)) ** 2));
        expect(Math.abs(mean(col(y)))).toBeLessThan(1e-12);
        const vx = variance(col(xs));
        expect(Math.abs(variance(col(y)) - vx / (vx + 1e-3))).toBeLessThan(1e-12);
      }
    }
  });

  it('a virtual batch of the whole batch is BatchNorm; frozen statistics and updateStats false behave as BatchNorm\'s', () => {
    const ghost = new GhostBatchNorm2d(2, { virtualBatchSize: 4, dtype: 'float64' });
    const bn = new BatchNorm2d(2, { dtype: 'float64' });
    const x = randT([4, 2, 3, 3], 5);
    expectClose(vals(ghost.forward(x)), vals(bn.forward(x)), 1e-12, 1e-12);
    const before = vals(ghost.runningMean!);
    ghost.forward(randT([8, 2, 3, 3], 6), { updateStats: false });
    expect(vals(ghost.runningMean!)).toEqual(before);
    expect(ghost.numBatchesTracked!.item()).toBe(1);
    ghost.freezeRunningStats();
    bn.freezeRunningStats();
    const z = randT([3, 2, 3, 3], 7); // not a multiple of 4: frozen statistics need no virtual batches
    expectClose(vals(ghost.forward(z)), vals(bn.forward(z)), 1e-12, 1e-12);
  });

  it('has the gradients of its function (finite differences over input, weight and bias)', () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 3 }), fc.integer({ min: 2, max: 3 }), seedArb, (k, v, seed) => {
      const ghost = new GhostBatchNorm1d(2, { virtualBatchSize: v, dtype: 'float64' });
      const x = randT([k * v, 2], seed);
      randomize(ghost.weight, seed + 1);
      checkGrad((xi, w, b) => {
        ghost.weight!.data = w.data;
        return cat(Array.from({ length: k }, (_, i) => {
          const xs = xi.narrow(0, i * v, v);
          const mu = xs.mean(0, { keepdim: true });
          const c = xs.sub(mu);
          return c.mul(c.square().mean(0, { keepdim: true }).add(1e-5).rsqrt()).mul(w).add(b);
        }), 0);
      }, [x, ghost.weight!.detach().requiresGrad_(), randT([2], seed + 2)]);
      // The layer's own gradient, against the composed function's.
      const xi = x.detach().requiresGrad_();
      const g = randT([k * v, 2], seed + 3, { requiresGrad: false });
      ghost.forward(xi, { updateStats: false }).mul(g).sum().backward();
      const xj = x.detach().requiresGrad_();
      cat(Array.from({ length: k }, (_, i) => {
        const xs = xj.narrow(0, i * v, v);
        const c = xs.sub(xs.mean(0, { keepdim: true }));
        return c.mul(c.square().mean(0, { keepdim: true }).add(1e-5).rsqrt()).mul(ghost.weight!.detach());
      }), 0).mul(g).sum().backward();
      expectClose(vals(xi.grad!), vals(xj.grad!), 1e-10, 1e-9);
    }), { numRuns: 15 });
  });

  it('rejects a batch that is not a multiple of the virtual batch size, naming both, and changes nothing', () => {
    const ghost = new GhostBatchNorm1d(3, { virtualBatchSize: 4 });
    expect(() => ghost.forward(randT([10, 3], 1))).toThrow(/GhostBatchNorm1d: the batch size 10 \(input \[10,3\]\) is not a multiple of virtualBatchSize 4/);
    expect(ghost.numBatchesTracked!.item()).toBe(0);
    expect(() => new GhostBatchNorm2d(3, { virtualBatchSize: 0 })).toThrow(/GhostBatchNorm2d: virtualBatchSize must be a positive integer, got 0/);
    expect(() => new GhostBatchNorm2d(3, {} as never)).toThrow(/virtualBatchSize must be a positive integer, got undefined/);
    expect(() => new GhostBatchNorm1d(3, { virtualBatchSize: 1 }).forward(randT([4, 3], 1))).toThrow(/more than 1 value per channel in each virtual batch of 1/);
    expect(() => new GhostBatchNorm2d(3, { virtualBatchSize: 2 }).forward(randT([4, 3, 2], 1))).toThrow(/GhostBatchNorm2d: expected 4D input/);
    expect(() => new GhostBatchNorm1d(3, { virtualBatchSize: 2 }).forward(randT([4, 2], 1))).toThrow(/GhostBatchNorm1d: expected 3 channels in dim 1/);
    expect(String(new GhostBatchNorm1d(3, { virtualBatchSize: 2 }))).toContain('virtualBatchSize=2');
  });
});

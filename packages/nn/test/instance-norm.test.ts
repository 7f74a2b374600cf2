/**
 * InstanceNorm1d/2d and instanceNorm: per-instance statistics, running
 * statistics (updates and eval), unbatched inputs, gradients, errors.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { InstanceNorm1d, InstanceNorm2d } from '../src/normalization/instance-norm.js';
import { instanceNorm } from '../src/functional/instance-norm.js';
import { blocks, checkGrad, checkGradGrad, expectClose, moments, randT, randomize, seedArb, vals } from './norm-helpers.js';

describe('instanceNorm forward', () => {
  it('normalizes each (sample, channel) over its spatial positions, then the per-channel affine', () => {
    const [N, C, H, W] = [2, 3, 2, 3];
    const x = randT([N, C, H, W], 1, { scale: 3 });
    const w = randT([C], 2);
    const b = randT([C], 3);
    const ws = vals(w);
    const bs = vals(b);
    const expected = blocks(vals(x), H * W).flatMap((block, k) => {
      const { mean, variance } = moments(block);
      return block.map((v) => ((v - mean) / Math.sqrt(variance + 1e-5)) * ws[k % C] + bs[k % C]);
    });
    expectClose(vals(instanceNorm(x, null, null, w, b)), expected, 1e-12, 1e-12);
  });

  it('every (sample, channel) of the output has mean 0 and variance var / (var + eps)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 2, max: 6 }), seedArb, (N, C, L, seed) => {
      const x = randT([N, C, L], seed, { scale: 2 });
      const y = new InstanceNorm1d(C, { dtype: 'float64' }).forward(x);
      const inp = blocks(vals(x), L).map(moments);
      const out = blocks(vals(y), L).map(moments);
      expectClose(out.map((m) => m.mean), inp.map(() => 0), 1e-12, 0, 'mean');
      expectClose(out.map((m) => m.variance), inp.map((m) => m.variance / (m.variance + 1e-5)), 1e-10, 1e-10, 'variance');
    }), { numRuns: 10 });
  });
});

describe('InstanceNorm modules', () => {
  it('defaults as PyTorch: no affine parameters, no running statistics, same output in eval mode', () => {
    const m = new InstanceNorm2d(3);
    expect(m.parameters()).toEqual([]);
    expect(m.buffers()).toEqual([]);
    expect(m.stateDict().size).toBe(0);
    const x = randT([2, 3, 2, 2], 1);
    const a = vals(m.forward(x));
    m.eval();
    expect(vals(m.forward(x))).toEqual(a);
  });

  it('unbatched [C, L] / [C, H, W] equal the batched result of one sample', () => {
    const x1 = randT([3, 5], 2);
    expectClose(vals(new InstanceNorm1d(3, { dtype: 'float64' }).forward(x1)), vals(instanceNorm(x1.unsqueeze(0))), 1e-12, 1e-12);
    expect(new InstanceNorm1d(3).forward(x1).shape).toEqual([3, 5]);
    const x2 = randT([2, 3, 2], 3);
    const y2 = new InstanceNorm2d(2, { affine: true, dtype: 'float64' }).forward(x2);
    expect(y2.shape).toEqual([2, 3, 2]);
    expectClose(vals(y2), vals(instanceNorm(x2.unsqueeze(0))), 1e-12, 1e-12);
  });

  it('trackRunningStats: a training forward moves the running stats to the batch mean of per-instance stats (unbiased var); eval uses them', () => {
    const [N, C, L] = [3, 2, 4];
    const m = new InstanceNorm1d(C, { trackRunningStats: true, momentum: 0.1, dtype: 'float64' });
    const x = randT([N, C, L], 4, { scale: 2 });
    m.forward(x);
    const stats = blocks(vals(x), L).map(moments);
    const batchMean = [0, 1].map((c) => stats.filter((_, k) => k % C === c).reduce((a, s) => a + s.mean, 0) / N);
    const batchVar = [0, 1].map((c) => stats.filter((_, k) => k % C === c).reduce((a, s) => a + (s.variance * L) / (L - 1), 0) / N);
    expectClose(vals(m.runningMean!), batchMean.map((v) => 0.1 * v), 1e-12, 1e-12, 'runningMean');
    expectClose(vals(m.runningVar!), batchVar.map((v) => 0.9 + 0.1 * v), 1e-12, 1e-12, 'runningVar');
    expect(m.numBatchesTracked!.item()).toBe(1);
    m.eval();
    const rm = vals(m.runningMean!);
    const rv = vals(m.runningVar!);
    const y = vals(m.forward(x));
    expectClose(y, vals(x).map((v, i) => {
      const c = Math.floor(i / L) % C;
      return (v - rm[c]) / Math.sqrt(rv[c] + 1e-5);
    }), 1e-12, 1e-12, 'eval');
    expect(vals(m.runningMean!)).toEqual(rm);
  });

  it('momentum null: the running statistics are the cumulative average of the batches', () => {
    const m = new InstanceNorm1d(1, { trackRunningStats: true, momentum: null, dtype: 'float64' });
    const xs = [randT([2, 1, 3], 5), randT([1, 1, 3], 6)];
    for (const x of xs) m.forward(x);
    const batchMeans = xs.map((x) => blocks(vals(x), 3).map((b) => moments(b).mean).reduce((a, b) => a + b, 0) / x.shape[0]);
    expectClose(vals(m.runningMean!), [(batchMeans[0] + batchMeans[1]) / 2], 1e-12, 1e-12);
  });
});

describe('InstanceNorm gradients', () => {
  it('gradcheck through the layers for the input and the affine parameters (training, and eval with running stats)', () => {
    const arb = fc.record({
      twoD: fc.boolean(),
      N: fc.integer({ min: 1, max: 2 }),
      C: fc.integer({ min: 1, max: 3 }),
      L: fc.integer({ min: 2, max: 4 }),
      track: fc.boolean(),
      evalMode: fc.boolean(),
      unbatched: fc.boolean(),
      seed: seedArb,
    }).filter(({ N, C, L }) => N * C * L <= 20);
    fc.assert(fc.property(arb, ({ twoD, N, C, L, track, evalMode, unbatched, seed }) => {
      const m = twoD
        ? new InstanceNorm2d(C, { affine: true, trackRunningStats: track, dtype: 'float64' })
        : new InstanceNorm1d(C, { affine: true, trackRunningStats: track, dtype: 'float64' });
      randomize(m.weight, seed + 1);
      randomize(m.bias, seed + 2);
      if (evalMode) m.eval();
      const spatial = twoD ? [L, 2] : [L];
      const x = randT(unbatched ? [C, ...spatial] : [N, C, ...spatial], seed, { scale: 2 });
      checkGrad(() => m.forward(x), [x, m.weight!, m.bias!]);
    }), { numRuns: 8 });
  });

  it('gradgradcheck (input, weight, bias)', () => {
    checkGradGrad((x, w, b) => instanceNorm(x, null, null, w, b), [randT([2, 2, 3], 7), randT([2], 8), randT([2], 9)], 4);
  });
});

describe('InstanceNorm errors', () => {
  it('bad ranks, channel counts and single spatial positions throw, naming the op', () => {
    expect(() => new InstanceNorm1d(2).forward(randT([1, 2, 3, 4], 1))).toThrow(/InstanceNorm1d: expected 2D \(unbatched\) or 3D \(batched\) input, got 4D/);
    expect(() => new InstanceNorm2d(2).forward(randT([2, 3], 1))).toThrow(/InstanceNorm2d: expected 3D/);
    expect(() => new InstanceNorm1d(2, { affine: true }).forward(randT([1, 3, 4], 1))).toThrow(/InstanceNorm1d: expected 2 channels in dim 1/);
    expect(() => new InstanceNorm1d(2).forward(randT([3, 2, 1], 1))).toThrow(/instanceNorm: expected more than 1 spatial element when training/);
    expect(() => instanceNorm(randT([2, 3], 1))).toThrow(/instanceNorm: expected input \[N, C, \*spatial\]/);
    expect(() => instanceNorm(randT([2, 3, 2], 1), null, null, null, null, { useInputStats: false })).toThrow(/instanceNorm: running statistics are required/);
    expect(() => instanceNorm(randT([2, 3, 2], 1), randT([2], 1), randT([2], 1))).toThrow(/instanceNorm: expected runningMean of shape \[3\]/);
    expect(() => new InstanceNorm1d(2, { momentum: 2 })).toThrow(/InstanceNorm1d: momentum must be in \[0, 1\]/);
  });
});

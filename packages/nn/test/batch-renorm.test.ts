/**
 * Batch Renormalization (Ioffe 2017): r and d against a loop, BatchNorm as
 * the limit rmax = 1, dmax = 0, clipping, r and d constant in the backward
 * (gradients against finite differences of the function with r and d
 * frozen), the running statistics as BatchNorm's, eval mode, schedules, and
 * errors.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { type Tensor, tensor } from '@normlab/autograd';
import { BatchNorm1d, BatchNorm2d, BatchRenorm1d, BatchRenorm2d, batchNorm, batchRenorm } from '../src/index.js';
import { batchRenormWithCorrection } from '../src/functional/batch-renorm.js';
import { checkGrad, checkGradGrad, expectClose, moments, randT, randomize, seedArb, vals } from './norm-helpers.js';

/** [N, C] or [N, C, H, W] shapes with at least two values per channel. */
const shapeArb = fc.oneof(
  fc.tuple(fc.integer({ min: 2, max: 6 }), fc.integer({ min: 1, max: 4 })),
  fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 2, max: 3 })),
).map((s) => [...s]);

/** Per-channel values of a flat [N, C, ...] array. */
function channels(v: number[], shape: number[]): number[][] {
  const S = shape.slice(2).reduce((a, b) => a * b, 1);
  const out: number[][] = Array.from({ length: shape[1] }, () => []);
  v.forEach((x, k) => out[Math.floor(k / S) % shape[1]].push(x));
  return out;
}

/** Running statistics far from the batch's, so that r and d are clipped in some channels. */
function runningStats(C: number, seed: number): [Tensor, Tensor] {
  const mean = randT([C], seed, { scale: 2, requiresGrad: false });
  const variance = randT([C], seed + 1, { requiresGrad: false }).abs().add(0.05);
  return [mean, variance];
}

describe('batchRenorm', () => {
  it('normalizes with the batch statistics, then applies r and d computed from the running ones by a loop', () => {
    fc.assert(fc.property(shapeArb, seedArb, fc.constantFrom(1, 1.5, 3), fc.constantFrom(0, 0.5, 5), (shape, seed, rmax, dmax) => {
      const x = randT(shape, seed, { scale: 2 });
      const C = shape[1];
      const [rm, rv] = runningStats(C, seed + 7);
      const w = randT([C], seed + 3);
      const b = randT([C], seed + 4);
      const eps = 1e-3;
      const rmv = vals(rm);
      const rvv = vals(rv);
      const y = batchRenorm(x, rm.clone(), rv.clone(), w, b, { training: true, eps, rmax, dmax });
      const expected = new Float64Array(x.size);
      const S = shape.slice(2).reduce((p, q) => p * q, 1);
      const xs = vals(x);
      const stats = channels(xs, shape).map(moments);
      xs.forEach((v, k) => {
        const c = Math.floor(k / S) % C;
        const sigmaB = Math.sqrt(stats[c].variance + eps);
        const sigma = Math.sqrt(rvv[c] + eps);
        const r = Math.min(rmax, Math.max(1 / rmax, sigmaB / sigma));
        const d = Math.min(dmax, Math.max(-dmax, (stats[c].mean - rmv[c]) / sigma));
        expected[k] = vals(w)[c] * (((v - stats[c].mean) / sigmaB) * r + d) + vals(b)[c];
      });
      expectClose(vals(y), expected, 1e-10, 1e-10);
    }), { numRuns: 40 });
  });

  it('is BatchNorm with rmax = 1, dmax = 0 (the defaults), running statistics updates included', () => {
    fc.assert(fc.property(shapeArb, seedArb, (shape, seed) => {
      const x = randT(shape, seed, { scale: 3 });
      const [rm, rv] = runningStats(shape[1], seed + 1);
      const [rm2, rv2] = [rm.clone(), rv.clone()];
      const w = randT([shape[1]], seed + 2);
      const y = batchRenorm(x, rm, rv, w, null, { training: true, momentum: 0.3 });
      const z = batchNorm(x, rm2, rv2, w, null, { training: true, momentum: 0.3 });
      expectClose(vals(y), vals(z), 1e-12, 1e-12);
      expect(vals(rm)).toEqual(vals(rm2));
      expect(vals(rv)).toEqual(vals(rv2));
    }), { numRuns: 30 });
  });

  it('with the running statistics equal to the batch\'s (r = 1, d = 0) training and eval give the same output', () => {
    const x = randT([8, 3], 5, { scale: 2 });
    const eps = 1e-5;
    const mean = x.mean(0).detach();
    const variance = x.var(0, { correction: 0 }).detach();
    const train = batchRenorm(x, mean.clone(), variance.clone(), null, null, { training: true, eps, rmax: 3, dmax: 5 });
    const evalOut = batchRenorm(x, mean, variance, null, null, { training: false, eps });
    expectClose(vals(train), vals(evalOut), 1e-12, 1e-12);
  });

  it('treats r and d as constants: gradients match finite differences of the function with r and d frozen', () => {
    fc.assert(fc.property(shapeArb, seedArb, (shape, seed) => {
      const x = randT(shape, seed, { scale: 2 });
      const C = shape[1];
      const [rm, rv] = runningStats(C, seed + 1);
      const w = randT([C], seed + 2);
      const b = randT([C], seed + 3);
      const opts = { training: true, eps: 1e-3, rmax: 2, dmax: 1, momentum: 0 };
      // r and d at x; then BatchNorm with weight w r and bias w d + b, r and d fixed.
      const { r: rT, d: dT } = batchRenormWithCorrection(x, rm.clone(), rv.clone(), null, null, opts);
      const frozen = (xi: Tensor, wi: Tensor, bi: Tensor): Tensor => batchNorm(xi, null, null, wi.mul(rT!), wi.mul(dT!).add(bi), { training: true, eps: 1e-3 });
      const renorm = (xi: Tensor, wi: Tensor, bi: Tensor): Tensor => batchRenorm(xi, rm.clone(), rv.clone(), wi, bi, opts);
      // The same analytic gradients as the frozen function, which finite differences check.
      checkGrad(frozen, [x, w, b]);
      const g = randT(shape, seed + 9, { requiresGrad: false });
      const grads = (f: typeof frozen): number[][] => {
        const xs = [x, w, b].map((t) => t.detach().requiresGrad_());
        f(xs[0], xs[1], xs[2]).mul(g).sum().backward();
        return xs.map((t) => vals(t.grad!));
      };
      const [a, e] = [grads(renorm), grads(frozen)];
      a.forEach((ga, i) => expectClose(ga, e[i], 1e-9, 1e-9, `gradient ${i}`));
    }), { numRuns: 25 });
  });

  it('has second derivatives (createGraph uses the composed backward)', () => {
    // Running statistics far from the batch's clip r and d in every channel: they are then
    // locally constant, and finite differences of the true function check the stop-gradient rule.
    const x = randT([4, 2], 3);
    const rm = tensor([1000, -1000], { dtype: 'float64' });
    const rv = tensor([1e4, 1e4], { dtype: 'float64' });
    checkGradGrad((xi, wi) => batchRenorm(xi, rm.clone(), rv.clone(), wi, null, { training: true, rmax: 1.5, dmax: 0.5, momentum: 0 }), [x, randT([2], 5)]);
  });

  it('rejects bad bounds and missing running statistics, naming them', () => {
    const x = randT([4, 2], 1);
    const [rm, rv] = runningStats(2, 2);
    expect(() => batchRenorm(x, rm, rv, null, null, { training: true, rmax: 0.5 })).toThrow(/batchRenorm: rmax must be a finite number >= 1, got 0.5/);
    expect(() => batchRenorm(x, rm, rv, null, null, { training: true, dmax: -1 })).toThrow(/batchRenorm: dmax must be a finite number >= 0, got -1/);
    expect(() => batchRenorm(x, null as never, rv, null, null, { training: true })).toThrow(/batchRenorm: runningMean and runningVar are required/);
    expect(() => batchRenorm(x, rm, randT([3], 1), null, null, { training: true })).toThrow(/batchRenorm: expected runningVar of shape \[2\]/);
    expect(() => batchRenorm(randT([1, 2], 1), rm, rv, null, null, { training: true })).toThrow(/more than 1 value per channel/);
  });
});

describe('BatchRenorm1d / BatchRenorm2d', () => {
  it('has BatchNorm\'s parameters, buffers and eval mode, and the paper\'s bounds rmax 3, dmax 5 by default', () => {
    const bn = new BatchNorm2d(3, { dtype: 'float64' });
    const rn = new BatchRenorm2d(3, { dtype: 'float64' });
    expect([...rn.namedBuffers()].map(([n]) => n)).toEqual([...bn.namedBuffers()].map(([n]) => n));
    expect([...rn.namedParameters()].map(([n]) => n)).toEqual(['weight', 'bias']);
    expect([rn.rmax, rn.dmax]).toEqual([3, 5]);
    expect(String(rn)).toContain('rmax=3, dmax=5');
    const x = randT([4, 3, 2, 2], 1, { scale: 2 });
    // Train both on the same batches: the running statistics are BatchNorm's.
    for (let i = 0; i < 3; i++) {
      const xi = randT([4, 3, 2, 2], 10 + i, { scale: 2 }).add(1);
      bn.forward(xi);
      rn.forward(xi);
    }
    expectClose(vals(rn.runningMean!), vals(bn.runningMean!), 1e-12, 1e-12);
    expectClose(vals(rn.runningVar!), vals(bn.runningVar!), 1e-12, 1e-12);
    expect(rn.numBatchesTracked!.item()).toBe(3);
    bn.eval();
    rn.eval();
    expectClose(vals(rn.forward(x)), vals(bn.forward(x)), 1e-12, 1e-12);
  });

  it('keeps the r and d of the last training forward; rmax 1 and dmax 0 make it BatchNorm', () => {
    const rn = new BatchRenorm1d(2, { dtype: 'float64', rmax: 1, dmax: 0 });
    const bn = new BatchNorm1d(2, { dtype: 'float64' });
    randomize(rn.weight, 1);
    bn.weight!.data = rn.weight!.data;
    const x = randT([5, 2], 2, { scale: 4 });
    expectClose(vals(rn.forward(x)), vals(bn.forward(x)), 1e-12, 1e-12);
    expect(vals(rn.lastCorrection!.r)).toEqual([1, 1]);
    expect(vals(rn.lastCorrection!.d)).toEqual([0, 0]);
    const wide = new BatchRenorm1d(2, { dtype: 'float64' });
    wide.forward(x);
    // Fresh running statistics (0, 1): r = sigma_B / 1 and d = mu_B / 1, within the bounds here.
    const st = channels(vals(x), [5, 2]).map(moments);
    expectClose(vals(wide.lastCorrection!.r), st.map((s) => Math.min(3, Math.sqrt(s.variance + 1e-5) / Math.sqrt(1 + 1e-5))), 1e-12, 1e-12);
    expectClose(vals(wide.lastCorrection!.d), st.map((s) => Math.max(-5, Math.min(5, s.mean / Math.sqrt(1 + 1e-5)))), 1e-12, 1e-12);
  });

  it('reads a schedule at the step before the batch, and leaves the statistics alone with updateStats false', () => {
    const seen: number[] = [];
    const rn = new BatchRenorm1d(2, { dtype: 'float64', rmax: (t) => (seen.push(t), 1 + t), dmax: 0 });
    for (let i = 0; i < 3; i++) rn.forward(randT([4, 2], i));
    expect(seen).toEqual([0, 1, 2]);
    const before = [vals(rn.runningMean!), vals(rn.runningVar!), rn.numBatchesTracked!.item()];
    rn.forward(randT([4, 2], 9), { updateStats: false });
    expect(seen.at(-1)).toBe(3);
    expect([vals(rn.runningMean!), vals(rn.runningVar!), rn.numBatchesTracked!.item()]).toEqual(before);
    const bad = new BatchRenorm1d(2, { rmax: () => 0.5 });
    expect(() => bad.forward(randT([4, 2], 1))).toThrow(/BatchRenorm1d: rmax must be a finite number >= 1 \(its schedule gave 0.5 at step 0\)/);
    expect(bad.numBatchesTracked!.item()).toBe(0);
  });

  it('rejects bad options and inputs with clear errors', () => {
    expect(() => new BatchRenorm2d(3, { trackRunningStats: false })).toThrow(/BatchRenorm2d: needs running statistics/);
    expect(() => new BatchRenorm2d(3, { rmax: 0.9 })).toThrow(/BatchRenorm2d: rmax must be a finite number >= 1, got 0.9/);
    expect(() => new BatchRenorm1d(3, { dmax: Number.NaN })).toThrow(/BatchRenorm1d: dmax must be a finite number >= 0/);
    expect(() => new BatchRenorm2d(3).forward(randT([2, 3, 4], 1))).toThrow(/BatchRenorm2d: expected 4D input/);
    expect(() => new BatchRenorm1d(3).forward(randT([2, 4], 1))).toThrow(/expected 3 channels in dim 1/);
  });
});

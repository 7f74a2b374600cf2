/**
 * NoisyBatchNorm1d/2d (Santurkar et al. 2018): BN plus time-varying noise in
 * training mode only; the noise's statistics, reproducibility, gradients.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Generator, defaultGenerator } from '@normlab/tensor';
import { BatchNorm, BatchNorm1d } from '../src/normalization/batch-norm.js';
import { NoisyBatchNorm1d, NoisyBatchNorm2d } from '../src/normalization/noisy-batch-norm.js';
import { checkGrad, expectClose, moments, randT, randomize, seedArb, vals } from './norm-helpers.js';

describe('NoisyBatchNorm forward', () => {
  it('in training: BN(x) * scale + shift, different at every forward; in eval: exactly BatchNorm', () => {
    const noisy = new NoisyBatchNorm1d(3, { dtype: 'float64', generator: new Generator(1) });
    const bn = new BatchNorm1d(3, { dtype: 'float64' });
    expect(noisy).toBeInstanceOf(BatchNorm);
    const x = randT([4, 3, 2], 1);
    const y1 = vals(noisy.forward(x));
    const clean = vals(bn.forward(x));
    const { scale, shift } = noisy.lastNoise!;
    expectClose(y1, clean.map((v, i) => v * vals(scale)[i] + vals(shift)[i]), 1e-12, 1e-12, 'y = BN * scale + shift');
    expect(vals(noisy.forward(x))).not.toEqual(y1);
    bn.forward(x);
    expectClose(vals(noisy.runningMean!), vals(bn.runningMean!), 1e-12, 1e-12, 'running stats are BN\'s');
    noisy.eval();
    bn.eval();
    const last = noisy.lastNoise;
    expect(vals(noisy.forward(x))).toEqual(vals(bn.forward(x)));
    expect(vals(noisy.forward(x))).toEqual(vals(noisy.forward(x)));
    expect(noisy.lastNoise).toBe(last);
  });

  it('is reproducible with a seeded generator, and differs across seeds', () => {
    const run = (seed: number): number[][] => {
      const m = new NoisyBatchNorm2d(2, { dtype: 'float64', generator: new Generator(seed) });
      const x = randT([2, 2, 2, 2], 3);
      return [vals(m.forward(x)), vals(m.forward(x))];
    };
    expect(run(7)).toEqual(run(7));
    expect(run(7)[0]).not.toEqual(run(8)[0]);
  });

  it('exposes its generator (read-only): the given one or the default; saving its state replays the noise', () => {
    const g = new Generator(5);
    const m = new NoisyBatchNorm1d(3, { dtype: 'float64', generator: g });
    expect(m.generator).toBe(g);
    expect(new NoisyBatchNorm2d(2).generator).toBe(defaultGenerator);
    expect(() => {
      (m as unknown as { generator: Generator }).generator = new Generator(1);
    }).toThrow(TypeError);
    const x = randT([4, 3], 9);
    const state = m.generator.getState();
    const y = vals(m.forward(x));
    m.generator.setState(state);
    expect(vals(m.forward(x))).toEqual(y);
  });

  it("noiseGranularity 'channel': one scale and shift per channel for the whole batch", () => {
    const m = new NoisyBatchNorm2d(3, { noiseGranularity: 'channel', generator: new Generator(2) });
    m.forward(randT([2, 3, 2, 2], 4).float());
    expect(m.lastNoise!.scale.shape).toEqual([1, 3, 1, 1]);
    expect(m.lastNoise!.shift.dtype).toBe('float32');
  });
});

describe('NoisyBatchNorm noise statistics', () => {
  it('with fixed distributions, scale ~ N(1, sigma^2) and shift ~ N(mu, shiftStd^2) within sample-size tolerances', () => {
    const m = new NoisyBatchNorm1d(2, { noiseMean: [0.3, 0.3], noiseStd: [2, 2], shiftStd: 0.5, dtype: 'float64', generator: new Generator(11) });
    m.forward(randT([50, 2, 50], 5));
    const n = 5000; // draws of each
    const s = moments(vals(m.lastNoise!.scale));
    const b = moments(vals(m.lastNoise!.shift));
    // 5 standard errors: sd/sqrt(n) for means, ~sd/sqrt(2n) for standard deviations (normal samples).
    expect(Math.abs(s.mean - 1)).toBeLessThan((5 * 2) / Math.sqrt(n));
    expect(Math.abs(Math.sqrt(s.variance) - 2)).toBeLessThan((5 * 2) / Math.sqrt(2 * n));
    expect(Math.abs(b.mean - 0.3)).toBeLessThan((5 * 0.5) / Math.sqrt(n));
    expect(Math.abs(Math.sqrt(b.variance) - 0.5)).toBeLessThan((5 * 0.5) / Math.sqrt(2 * n));
  });

  it('default distributions: per step and channel, mu ~ U(-0.5, 0.5) and sigma ~ U(1, 1.25), re-drawn each forward', () => {
    const m = new NoisyBatchNorm1d(4, { dtype: 'float64', generator: new Generator(12) });
    const x = randT([2, 4], 6);
    const mus: number[] = [];
    const sigmas: number[] = [];
    for (let t = 0; t < 250; t++) {
      m.forward(x);
      mus.push(...vals(m.lastNoise!.shiftMean));
      sigmas.push(...vals(m.lastNoise!.scaleStd));
    }
    const n = mus.length; // 1000
    expect(Math.min(...mus)).toBeGreaterThanOrEqual(-0.5);
    expect(Math.max(...mus)).toBeLessThanOrEqual(0.5);
    expect(Math.min(...sigmas)).toBeGreaterThanOrEqual(1);
    expect(Math.max(...sigmas)).toBeLessThanOrEqual(1.25);
    const mu = moments(mus);
    const sg = moments(sigmas);
    expect(Math.abs(mu.mean)).toBeLessThan((5 * Math.sqrt(1 / 12)) / Math.sqrt(n));
    expect(Math.abs(mu.variance - 1 / 12)).toBeLessThan(0.02);
    expect(Math.abs(sg.mean - 1.125)).toBeLessThan((5 * 0.25 * Math.sqrt(1 / 12)) / Math.sqrt(n));
    expect(new Set(mus).size).toBe(n);
  });

  it("within one step, each channel's shift has the mean drawn for it (many activations)", () => {
    const m = new NoisyBatchNorm1d(3, { noiseMean: 2, dtype: 'float64', generator: new Generator(13) });
    m.forward(randT([40, 3, 40], 7));
    const shift = vals(m.lastNoise!.shift);
    const mu = vals(m.lastNoise!.shiftMean);
    for (let c = 0; c < 3; c++) {
      const own = shift.filter((_, i) => Math.floor(i / 40) % 3 === c);
      expect(Math.abs(moments(own).mean - mu[c])).toBeLessThan(5 / Math.sqrt(own.length));
    }
  });
});

describe('NoisyBatchNorm gradients', () => {
  it('gradcheck for the input, weight and bias with the noise held fixed (generator reseeded per forward)', () => {
    fc.assert(fc.property(fc.boolean(), fc.integer({ min: 2, max: 3 }), fc.integer({ min: 1, max: 3 }), seedArb, (twoD, N, C, seed) => {
      const gen = new Generator(seed);
      const m = twoD ? new NoisyBatchNorm2d(C, { dtype: 'float64', generator: gen }) : new NoisyBatchNorm1d(C, { dtype: 'float64', generator: gen });
      randomize(m.weight, seed + 1);
      randomize(m.bias, seed + 2);
      const x = randT(twoD ? [N, C, 2, 1] : [N, C], seed + 3);
      checkGrad(() => {
        gen.manualSeed(seed);
        return m.forward(x, { updateStats: false });
      }, [x, m.weight!, m.bias!]);
    }), { numRuns: 8 });
  });
});

describe('NoisyBatchNorm errors', () => {
  it('bad noise options throw, naming the layer', () => {
    expect(() => new NoisyBatchNorm1d(2, { noiseStd: 0.5 })).toThrow(/NoisyBatchNorm1d: noiseStd must be a number >= 1 or a range/);
    expect(() => new NoisyBatchNorm2d(2, { noiseMean: [1, 0] })).toThrow(/NoisyBatchNorm2d: noiseMean range must be \[lo, hi\] with lo <= hi/);
    expect(() => new NoisyBatchNorm2d(2, { noiseStd: [-1, 2] })).toThrow(/NoisyBatchNorm2d: noiseStd range must be non-negative/);
    expect(() => new NoisyBatchNorm1d(2, { shiftStd: -1 })).toThrow(/NoisyBatchNorm1d: shiftStd/);
    expect(() => new NoisyBatchNorm1d(2, { noiseGranularity: 'sample' as 'channel' })).toThrow(/NoisyBatchNorm1d: noiseGranularity/);
    expect(() => new NoisyBatchNorm2d(2).forward(randT([2, 2], 1))).toThrow(/BatchNorm2d: expected 4D input/);
  });
});

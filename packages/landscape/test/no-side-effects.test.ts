/**
 * Every probe leaves the training state exactly as it found it (fast-check):
 * parameter values and objects, gradients (null stays null, set stays the
 * same bits), buffers (BatchNorm running statistics, numBatchesTracked),
 * train/eval modes, the optimizer's state (SGD momentum, Adam moments and
 * step counts), and the random generators (default, dropout, BN noise).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Tensor } from '@normlab/autograd';
import { BatchNorm1d, Dropout, Linear, type Module, NoisyBatchNorm1d, ReLU, Sequential, Tanh, crossEntropy, optim } from '@normlab/nn';
import { Generator, defaultGenerator, fromTyped, manualSeed } from '@normlab/tensor';
import {
  activationStats, flattenGrads, flattenParams, hessianQuadraticForm, internalCovariateShift, lipschitzBound, lossLandscape, restore, snapshot,
} from '../src/index.js';
import { expectSamePicture, initParams, picture, randn } from './helpers.js';

interface Setup {
  model: Sequential;
  opt: optim.Optimizer<object>;
  noiseGen: Generator;
  loss: (m: Module, x: Tensor) => Tensor;
  x: Tensor;
}

const setupArb = fc.record({
  dtype: fc.constantFrom('float32' as const, 'float64' as const),
  noisy: fc.boolean(),
  dropout: fc.boolean(),
  frozen: fc.boolean(),
  adam: fc.boolean(),
  steps: fc.integer({ min: 0, max: 2 }),
  nullGrads: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
  evalMode: fc.boolean(),
  seed: fc.integer({ min: 0, max: 1e6 }),
}).map((c): Setup => {
  const o = { dtype: c.dtype };
  const noiseGen = new Generator(c.seed);
  const layers: Module[] = [new Linear(3, 4, o), c.noisy ? new NoisyBatchNorm1d(4, { ...o, generator: noiseGen }) : new BatchNorm1d(4, o), new Tanh()];
  if (c.dropout) layers.push(new Dropout(0.3));
  const bn2 = new BatchNorm1d(3, o);
  layers.push(new Linear(4, 3, o), bn2, new ReLU(), new Linear(3, 2, o));
  const model = new Sequential(...layers);
  initParams(model, c.seed);
  manualSeed(c.seed);
  const x = randn([6, 3], c.seed + 1, { dtype: c.dtype });
  const labels = new Tensor(fromTyped(Int32Array.from([0, 1, 1, 0, 1, 0]), [6]));
  const loss = (m: Module, b: Tensor): Tensor => crossEntropy((m.forward as (t: Tensor) => Tensor)(b), labels);
  const opt = (c.adam ? new optim.Adam(model.parameters(), { lr: 0.01 }) : new optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 })) as optim.Optimizer<object>;
  for (let i = 0; i < c.steps; i++) {
    opt.zeroGrad();
    loss(model, x).backward();
    opt.step();
  }
  if (c.frozen) bn2.freezeRunningStats();
  // A fresh backward, then some gradients set to null and some left set.
  opt.zeroGrad();
  loss(model, x).backward();
  model.parameters().forEach((p, i) => {
    if (c.nullGrads[i % 8]) p.grad = null;
  });
  if (c.evalMode) model.eval();
  return { model, opt, noiseGen, loss, x };
});

const probes: [string, (s: Setup) => unknown][] = [
  ['flattenParams / flattenGrads', ({ model }) => [flattenParams(model), flattenGrads(model)]],
  ['internalCovariateShift (lr)', ({ model, loss, x, opt }) => internalCovariateShift(model, loss, x, 0.1, { optimizers: [opt] })],
  ['internalCovariateShift (optimizer)', ({ model, loss, x, opt }) => internalCovariateShift(model, loss, x, opt)],
  ['lossLandscape', ({ model, loss, x }) => lossLandscape(model, loss, x, { stepSizes: [0.01, 0.1, 1] })],
  ['hessianQuadraticForm', ({ model, loss, x }) => hessianQuadraticForm(model, loss, x)],
  ['lipschitzBound', ({ model, loss, x }) => lipschitzBound(model, loss, x)],
];

const state = (s: Setup): unknown => [picture(s.model, [s.opt]), s.noiseGen.getState()];

describe('no probe disturbs the training state', () => {
  for (const [name, run] of probes) {
    it(`${name}: parameters, gradients, buffers, modes, optimizer state and generators bit-identical`, () => {
      fc.assert(fc.property(setupArb, (s) => {
        const before = state(s);
        run(s);
        expectSamePicture(state(s), before);
      }), { numRuns: name.startsWith('flatten') ? 5 : 10 });
    });
  }

  it('activationStats: a forward with the recorder leaves the same state as one without it', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 1e6 }), (seed) => {
      const [a] = fc.sample(setupArb, { seed, numRuns: 1 });
      const [b] = fc.sample(setupArb, { seed, numRuns: 1 });
      const rec = activationStats(b.model, [b.model.at(0), b.model.at(1)]);
      // Both forwards draw from the default generator (dropout): start both from the same state.
      const gen = defaultGenerator.getState();
      const outA = a.loss(a.model, a.x);
      const genA = defaultGenerator.getState();
      defaultGenerator.setState(gen);
      const outB = b.loss(b.model, b.x);
      expect(defaultGenerator.getState()).toEqual(genA);
      expect(rec.record()).toHaveLength(2);
      rec.remove();
      expect(outB.item()).toBe(outA.item());
      // Fresh objects on each side: compare bits only.
      const bitsOf = (s: Setup): unknown => {
        const q = state(s) as [{ params: unknown[][]; buffers: unknown[][]; modes: unknown; generator: unknown; optimizers: unknown[] }, unknown];
        return [q[0].params.map((r) => [r[0], r[3], r[5], r[6]]), q[0].buffers.map((r) => [r[0], r[3]]), q[0].modes, q[0].generator, q[1]];
      };
      expectSamePicture(bitsOf(b), bitsOf(a));
    }), { numRuns: 8 });
  });

  it('a probe that throws midway still restores everything', () => {
    fc.assert(fc.property(setupArb, (s) => {
      const before = state(s);
      let calls = 0;
      const failing = (m: Module, b: Tensor): Tensor => {
        if (++calls === 2) throw new Error('boom');
        return s.loss(m, b);
      };
      expect(() => lossLandscape(s.model, failing, s.x, { stepSizes: [0.5] })).toThrow('boom');
      expectSamePicture(state(s), before);
    }), { numRuns: 5 });
  });

  it('training after a probe follows the same trajectory as training without one', () => {
    const train = (probeFirst: boolean): number[] => {
      const s = fc.sample(setupArb.filter(Boolean), { seed: 42, numRuns: 1 })[0];
      if (probeFirst) {
        lossLandscape(s.model, s.loss, s.x, { stepSizes: [0.1] });
        internalCovariateShift(s.model, s.loss, s.x, s.opt);
      }
      s.model.train();
      for (let i = 0; i < 2; i++) {
        s.opt.zeroGrad();
        s.loss(s.model, s.x).backward();
        s.opt.step();
      }
      return Array.from(flattenParams(s.model).toTypedArray());
    };
    expect(train(true)).toEqual(train(false));
  });

  it('snapshot / restore brings parameters, gradients and buffers back after training steps', () => {
    fc.assert(fc.property(setupArb, (s) => {
      const snap = snapshot(s.model);
      const before = picture(s.model);
      s.model.train();
      for (let i = 0; i < 2; i++) {
        s.opt.zeroGrad();
        s.loss(s.model, s.x).backward();
        s.opt.step();
      }
      restore(s.model, snap);
      const strip = (p: unknown): unknown => {
        const q = p as { params: unknown[][]; buffers: unknown[][] };
        // Restored values are fresh copies: compare names, bits and null-ness, not identities.
        return { params: q.params.map((r) => [r[0], r[3], r[5], r[6]]), buffers: q.buffers.map((r) => [r[0], r[3]]) };
      };
      expectSamePicture(strip(picture(s.model)), strip(before));
    }), { numRuns: 5 });
  });

  it('inside a probe the BatchNorm layers never update their running statistics (withoutStatsUpdates), and resume afterwards', () => {
    const bn = new BatchNorm1d(4, { dtype: 'float64' });
    const model = new Sequential(new Linear(3, 4, { dtype: 'float64' }), bn, new ReLU(), new Linear(4, 2, { dtype: 'float64' }));
    initParams(model, 3);
    const x = randn([6, 3], 4, { dtype: 'float64' });
    const labels = new Tensor(fromTyped(Int32Array.from([0, 1, 1, 0, 1, 0]), [6]));
    const seen: [boolean, unknown, number][] = [];
    const loss = (m: Module, b: Tensor): Tensor => {
      const out = crossEntropy((m.forward as (t: Tensor) => Tensor)(b), labels);
      seen.push([bn.statsUpdatesSuspended, bn.runningMean, bn.numBatchesTracked!.item()]);
      return out;
    };
    const mean = bn.runningMean;
    lossLandscape(model, loss, x, { stepSizes: [0.1, 0.2] });
    hessianQuadraticForm(model, loss, x);
    internalCovariateShift(model, loss, x, 0.1);
    expect(seen.length).toBeGreaterThan(5);
    for (const [suspended, m, count] of seen) expect([suspended, m, count]).toEqual([true, mean, 0]);
    expect(bn.statsUpdatesSuspended).toBe(false);
    model.train();
    loss(model, x);
    expect(bn.numBatchesTracked!.item()).toBe(1);
  });
});

/**
 * RMSprop against torch.optim.RMSprop's update rule computed here in
 * float64, for every option (centered, momentum...), groups and validation.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Tensor } from '@normlab/autograd';
import { Generator } from '@normlab/tensor';
import { optim } from '../src/index.js';
import { GRADS, P0, expectClose, expectUpdateMatchesOptimizer, f64, param, vals } from './optim-helpers.js';

type Options = Required<optim.RMSpropOptions>;

const defaults: Options = { lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, maximize: false };

function reference(p0: number[], grads: number[][], o: Options) {
  let p = p0.slice();
  let v = p0.map(() => 0);
  let gAvg = p0.map(() => 0);
  let buf = p0.map(() => 0);
  const params: number[][] = [];
  for (const grad of grads) {
    const g = grad.map((x, i) => (o.maximize ? -x : x) + o.weightDecay * p[i]);
    v = v.map((x, i) => o.alpha * x + (1 - o.alpha) * g[i] * g[i]);
    gAvg = gAvg.map((x, i) => o.alpha * x + (1 - o.alpha) * g[i]);
    const avg = v.map((x, i) => Math.sqrt(o.centered ? x - gAvg[i] * gAvg[i] : x) + o.eps);
    if (o.momentum > 0) {
      buf = buf.map((b, i) => o.momentum * b + g[i] / avg[i]);
      p = p.map((x, i) => x - o.lr * buf[i]);
    } else {
      p = p.map((x, i) => x - o.lr * g[i] / avg[i]);
    }
    params.push(p);
  }
  return { params, v, gAvg, buf };
}

describe('RMSprop', () => {
  const cases: [string, Partial<Options>][] = [
    ['defaults', {}],
    ['alpha', { alpha: 0.5 }],
    ['eps', { eps: 0.1 }],
    ['weightDecay', { weightDecay: 0.2 }],
    ['momentum', { momentum: 0.9 }],
    ['centered', { centered: true }],
    ['centered + momentum', { centered: true, momentum: 0.5 }],
    ['maximize', { maximize: true }],
    ['everything', { lr: 0.05, alpha: 0.8, eps: 1e-4, weightDecay: 0.1, momentum: 0.7, centered: true, maximize: true }],
  ];
  for (const [name, over] of cases) {
    it(`${name}: update function and optimizer match the update rule`, () => {
      const o: Options = { ...defaults, ...over };
      const ref = reference(P0, GRADS, o);
      const q = param(P0);
      const opt = new optim.RMSprop([q], o);
      expectUpdateMatchesOptimizer<optim.RMSpropState | null>((p, g, s) => optim.rmspropUpdate(p, g, s, o), null, opt, q, ref.params);
      const st = opt.state.get(q)!;
      expect(st.step).toBe(GRADS.length);
      expectClose(vals(st.squareAvg as Tensor), ref.v);
      if (o.centered) expectClose(vals(st.gradAvg as Tensor), ref.gAvg);
      else expect(st.gradAvg).toBeUndefined();
      if (o.momentum > 0) expectClose(vals(st.momentumBuffer as Tensor), ref.buf);
      else expect(st.momentumBuffer).toBeUndefined();
    });
  }

  it('hand values: one step with alpha 0.75', () => {
    const p = param([1]);
    const opt = new optim.RMSprop([p], { lr: 0.1, alpha: 0.75, eps: 0 });
    p.grad = f64([2]);
    opt.step(); // v = 0.25 * 4 = 1: p = 1 - 0.1 * 2 / 1
    expectClose(vals(p), [0.8]);
  });

  it('param groups with their own options', () => {
    const a = param([1, 2]);
    const b = param([3]);
    const opt = new optim.RMSprop([{ params: [a], centered: true }, { params: [b], momentum: 0.9 }], { lr: 0.05 });
    for (const [ga, gb] of [[[1, -1], [2]], [[0.5, 0.5], [-1]]]) {
      a.grad = f64(ga);
      b.grad = f64(gb);
      opt.step();
    }
    expectClose(vals(a), reference([1, 2], [[1, -1], [0.5, 0.5]], { ...defaults, lr: 0.05, centered: true }).params[1]);
    expectClose(vals(b), reference([3], [[2], [-1]], { ...defaults, lr: 0.05, momentum: 0.9 }).params[1]);
  });

  it('matches the update rule for random hyper-parameters', () => {
    fc.assert(
      fc.property(
        fc.record({
          lr: fc.double({ min: 0, max: 0.5, noNaN: true }),
          alpha: fc.constantFrom(0, 0.5, 0.99),
          eps: fc.constantFrom(1e-8, 1e-2),
          weightDecay: fc.constantFrom(0, 0.1),
          momentum: fc.constantFrom(0, 0.9),
          centered: fc.boolean(),
          maximize: fc.boolean(),
        }),
        fc.nat(1000),
        (o, seed) => {
          const g = new Generator(seed);
          const grads = Array.from({ length: 3 }, () => Array.from({ length: 3 }, () => g.normal()));
          const p0 = Array.from({ length: 3 }, () => g.normal());
          const p = param(p0);
          const opt = new optim.RMSprop([p], o);
          for (const gr of grads) {
            p.grad = f64(gr);
            opt.step();
          }
          expectClose(vals(p), reference(p0, grads, o).params[2], 1e-10);
        },
      ),
      { numRuns: 30 },
    );
  });

  it('constructor validation', () => {
    const p = param([1]);
    expect(() => new optim.RMSprop([p], { lr: -1 })).toThrow(/learning rate/);
    expect(() => new optim.RMSprop([p], { eps: -1 })).toThrow(/eps/);
    expect(() => new optim.RMSprop([p], { momentum: -1 })).toThrow(/momentum/);
    expect(() => new optim.RMSprop([p], { weightDecay: -1 })).toThrow(/weightDecay/);
    expect(() => new optim.RMSprop([p], { alpha: -1 })).toThrow(/alpha/);
    expect(new optim.RMSprop([p]).defaults).toEqual(defaults);
  });
});

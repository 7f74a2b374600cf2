/**
 * Adagrad against torch.optim.Adagrad's update rule computed here in
 * float64, for every option, plus its eager state, groups and validation.
 */
import { describe, expect, it } from 'vitest';
import type { Tensor } from '@normlab/autograd';
import { optim } from '../src/index.js';
import { GRADS, P0, expectClose, expectUpdateMatchesOptimizer, f64, param, vals } from './optim-helpers.js';

type Options = Required<optim.AdagradOptions>;

const defaults: Options = { lr: 1e-2, lrDecay: 0, weightDecay: 0, initialAccumulatorValue: 0, eps: 1e-10, maximize: false };

function reference(p0: number[], grads: number[][], o: Options) {
  let p = p0.slice();
  let sum = p0.map(() => o.initialAccumulatorValue);
  const params: number[][] = [];
  grads.forEach((grad, k) => {
    const t = k + 1;
    const g = grad.map((x, i) => (o.maximize ? -x : x) + o.weightDecay * p[i]);
    const clr = o.lr / (1 + (t - 1) * o.lrDecay);
    sum = sum.map((s, i) => s + g[i] * g[i]);
    p = p.map((x, i) => x - clr * g[i] / (Math.sqrt(sum[i]) + o.eps));
    params.push(p);
  });
  return { params, sum };
}

describe('Adagrad', () => {
  const cases: [string, Partial<Options>][] = [
    ['defaults', {}],
    ['lr', { lr: 0.5 }],
    ['lrDecay', { lr: 0.5, lrDecay: 0.3 }],
    ['weightDecay', { lr: 0.5, weightDecay: 0.2 }],
    ['initialAccumulatorValue', { lr: 0.5, initialAccumulatorValue: 0.7 }],
    ['eps', { lr: 0.5, eps: 0.1 }],
    ['maximize', { lr: 0.5, maximize: true }],
    ['everything', { lr: 0.3, lrDecay: 0.1, weightDecay: 0.05, initialAccumulatorValue: 0.1, eps: 1e-3, maximize: true }],
  ];
  for (const [name, over] of cases) {
    it(`${name}: update function and optimizer match the update rule`, () => {
      const o: Options = { ...defaults, ...over };
      const ref = reference(P0, GRADS, o);
      const q = param(P0);
      const opt = new optim.Adagrad([q], o);
      const s0 = optim.adagradInitialState(f64(P0), o.initialAccumulatorValue);
      expectUpdateMatchesOptimizer((p, g, s) => optim.adagradUpdate(p, g, s, o), s0, opt, q, ref.params);
      expect(opt.state.get(q)!.step).toBe(GRADS.length);
      expectClose(vals(opt.state.get(q)!.sum as Tensor), ref.sum);
    });
  }

  it('hand values: first step with a zero accumulator moves by lr * sign(g)', () => {
    const p = param([0, 0]);
    const opt = new optim.Adagrad([p], { lr: 0.5, eps: 0 });
    p.grad = f64([4, -0.25]);
    opt.step();
    expect(vals(p)).toEqual([-0.5, 0.5]);
    p.grad = f64([3, 0]);
    opt.step(); // sum = 16 + 9: 0.5 * 3 / 5
    expectClose(vals(p), [-0.8, 0.5]);
  });

  it('creates every parameter\'s state up front, as torch (also for added groups)', () => {
    const a = param([1, 2]);
    const opt = new optim.Adagrad([a], { initialAccumulatorValue: 0.25 });
    expect(opt.state.get(a)!.step).toBe(0);
    expect(vals(opt.state.get(a)!.sum as Tensor)).toEqual([0.25, 0.25]);
    const b = param([3]);
    opt.addParamGroup({ params: [b], initialAccumulatorValue: 2 });
    expect(vals(opt.state.get(b)!.sum as Tensor)).toEqual([2]);
  });

  it('param groups with their own options', () => {
    const a = param([1]);
    const b = param([1]);
    const opt = new optim.Adagrad([{ params: [a] }, { params: [b], lr: 0.1, lrDecay: 1 }], { lr: 0.01 });
    for (let k = 0; k < 3; k++) {
      a.grad = f64([1]);
      b.grad = f64([1]);
      opt.step();
    }
    expectClose(vals(a), reference([1], [[1], [1], [1]], { ...defaults, lr: 0.01 }).params[2]);
    expectClose(vals(b), reference([1], [[1], [1], [1]], { ...defaults, lr: 0.1, lrDecay: 1 }).params[2]);
  });

  it('constructor validation', () => {
    const p = param([1]);
    expect(() => new optim.Adagrad([p], { lr: -1 })).toThrow(/learning rate/);
    expect(() => new optim.Adagrad([p], { lrDecay: -1 })).toThrow(/lrDecay/);
    expect(() => new optim.Adagrad([p], { weightDecay: -1 })).toThrow(/weightDecay/);
    expect(() => new optim.Adagrad([p], { initialAccumulatorValue: -1 })).toThrow(/initialAccumulatorValue/);
    expect(() => new optim.Adagrad([p], { eps: -1 })).toThrow(/eps/);
    expect(new optim.Adagrad([p]).defaults).toEqual(defaults);
  });
});

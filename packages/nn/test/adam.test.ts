/**
 * Adam and AdamW against torch.optim's update rules computed here in
 * float64 on plain numbers, for every option, plus groups and validation.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Tensor, tensor } from '@normlab/autograd';
import { Generator } from '@normlab/tensor';
import { Parameter, optim } from '../src/index.js';

type Options = Required<optim.AdamOptions>;

const vals = (t: Tensor): number[] => Array.from(t.toTypedArray(), Number);
const f64 = (xs: number[]): Tensor => tensor(xs, { dtype: 'float64' });
const param = (xs: number[]): Parameter => new Parameter(f64(xs));

const adamDefaults: Options = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false };

/** torch's Adam / AdamW (decoupled) on plain numbers; returns the parameters after each step and the final state. */
function reference(p0: number[], grads: number[][], o: Options, decoupled: boolean) {
  const [b1, b2] = o.betas;
  let p = p0.slice();
  let m = p0.map(() => 0);
  let v = p0.map(() => 0);
  let vmax = p0.map(() => 0);
  const params: number[][] = [];
  grads.forEach((grad, k) => {
    const t = k + 1;
    let g = grad.map((x) => (o.maximize ? -x : x));
    if (decoupled) p = p.map((x) => x * (1 - o.lr * o.weightDecay));
    else g = g.map((x, i) => x + o.weightDecay * p[i]);
    m = m.map((x, i) => b1 * x + (1 - b1) * g[i]);
    v = v.map((x, i) => b2 * x + (1 - b2) * g[i] * g[i]);
    vmax = vmax.map((x, i) => Math.max(x, v[i]));
    const vh = o.amsgrad ? vmax : v;
    const bc1 = 1 - b1 ** t;
    const bc2 = 1 - b2 ** t;
    p = p.map((x, i) => x - (o.lr / bc1) * m[i] / (Math.sqrt(vh[i]) / Math.sqrt(bc2) + o.eps));
    params.push(p);
  });
  return { params, m, v, vmax };
}

function expectClose(a: readonly number[], b: readonly number[], tol = 1e-12): void {
  expect(a.length).toBe(b.length);
  a.forEach((v, i) => {
    if (!(Math.abs(v - b[i]) <= tol * (1 + Math.abs(b[i])))) throw new Error(`entry ${i}: got ${v}, expected ${b[i]}`);
  });
}

const P0 = [1, -2, 0.5];
// The sign flips and the shrinking gradient exercise amsgrad's maximum.
const GRADS = [[0.3, -0.1, 2], [-1, 0.5, 0.25], [0.7, 0.7, -0.4], [0, 1, -1], [0.01, -0.02, 0.03]];

const cases: [string, Partial<Options>][] = [
  ['defaults', {}],
  ['large lr', { lr: 0.1 }],
  ['betas', { lr: 0.05, betas: [0.5, 0.8] }],
  ['eps', { lr: 0.05, eps: 0.1 }],
  ['weightDecay', { lr: 0.05, weightDecay: 0.3 }],
  ['amsgrad', { lr: 0.05, amsgrad: true }],
  ['maximize', { lr: 0.05, maximize: true }],
  ['everything', { lr: 0.02, betas: [0.8, 0.9], eps: 1e-3, weightDecay: 0.1, amsgrad: true, maximize: true }],
];

for (const [label, decoupled, update, Ctor, wd] of [
  ['Adam', false, optim.adamUpdate, optim.Adam, 0],
  ['AdamW', true, optim.adamwUpdate, optim.AdamW, 1e-2],
] as const) {
  describe(label, () => {
    for (const [name, over] of cases) {
      it(`${name}: the update function over several steps matches the update rule`, () => {
        const o: Options = { ...adamDefaults, weightDecay: wd, ...over };
        const ref = reference(P0, GRADS, o, decoupled);
        let p: Tensor = f64(P0);
        let s: optim.AdamState | null = null;
        GRADS.forEach((g, k) => {
          const next = update(p, f64(g), s, o);
          p = next.param;
          s = next.state;
          expect(s.step).toBe(k + 1);
          expectClose(vals(p), ref.params[k]);
        });
      });

      it(`${name}: the optimizer's trajectory and state match`, () => {
        const o: Options = { ...adamDefaults, weightDecay: wd, ...over };
        const ref = reference(P0, GRADS, o, decoupled);
        const p = param(P0);
        const opt = new Ctor([p], o);
        GRADS.forEach((g, k) => {
          p.grad = f64(g);
          opt.step();
          expectClose(vals(p), ref.params[k]);
        });
        const s = opt.state.get(p)!;
        expect(s.step).toBe(GRADS.length);
        expectClose(vals(s.expAvg as Tensor), ref.m);
        expectClose(vals(s.expAvgSq as Tensor), ref.v);
        if (o.amsgrad) expectClose(vals(s.maxExpAvgSq as Tensor), ref.vmax);
        else expect(s.maxExpAvgSq).toBeUndefined();
      });
    }

    it('defaults are torch\'s', () => {
      const opt = new Ctor([param([1])]);
      expect(opt.defaults).toEqual({ ...adamDefaults, weightDecay: wd });
    });

    it('hand values: the first step moves every entry by lr (bias correction from step 1)', () => {
      // m1 = (1-b1) g, v1 = (1-b2) g^2: m1/(1-b1) / sqrt(v1/(1-b2)) = sign(g).
      const p = param([0, 0, 0]);
      const opt = new Ctor([p], { lr: 0.5, weightDecay: 0, eps: 0 });
      p.grad = f64([3, -0.001, 100]);
      opt.step();
      expectClose(vals(p), [-0.5, 0.5, -0.5], 1e-12);
    });

    it('param groups with their own options', () => {
      const a = param([1, 2]);
      const b = param([-1]);
      const opt = new Ctor([{ params: [a] }, { params: [b], lr: 0.1, amsgrad: true, betas: [0.5, 0.6] }], { lr: 0.01 });
      expect(opt.paramGroups[1].options).toEqual({ ...adamDefaults, weightDecay: wd, lr: 0.1, amsgrad: true, betas: [0.5, 0.6] });
      const ra = reference([1, 2], [[1, -1], [0.5, 2]], { ...adamDefaults, weightDecay: wd, lr: 0.01 }, decoupled);
      const rb = reference([-1], [[3], [-2]], { ...adamDefaults, weightDecay: wd, lr: 0.1, amsgrad: true, betas: [0.5, 0.6] }, decoupled);
      for (let k = 0; k < 2; k++) {
        a.grad = f64([[1, -1], [0.5, 2]][k]);
        b.grad = f64([[3], [-2]][k]);
        opt.step();
      }
      expectClose(vals(a), ra.params[1]);
      expectClose(vals(b), rb.params[1]);
    });

    it('skips parameters without a gradient, and keeps no state for them', () => {
      const a = param([1]);
      const b = param([2]);
      const opt = new Ctor([a, b], { lr: 0.1 });
      a.grad = f64([1]);
      opt.step();
      expect(vals(b)).toEqual([2]);
      expect(opt.state.has(b)).toBe(false);
      expect(opt.state.get(a)!.step).toBe(1);
    });

    it('float32 parameters stay float32', () => {
      const p = new Parameter(tensor([1, 2]));
      const opt = new Ctor([p], { lr: 0.1 });
      p.grad = tensor([1, 1]);
      opt.step();
      expect(p.dtype).toBe('float32');
      expect((opt.state.get(p)!.expAvg as Tensor).dtype).toBe('float32');
      expectClose(vals(p), reference([1, 2], [[1, 1]], { ...adamDefaults, weightDecay: wd, lr: 0.1 }, decoupled).params[0], 1e-6);
    });

    it('constructor validation', () => {
      const p = param([1]);
      expect(() => new Ctor([p], { lr: -1 })).toThrow(/learning rate/);
      expect(() => new Ctor([p], { lr: Number.NaN })).toThrow(/learning rate/);
      expect(() => new Ctor([p], { eps: -1e-8 })).toThrow(/eps/);
      expect(() => new Ctor([p], { betas: [1, 0.999] })).toThrow(/beta parameter at index 0/);
      expect(() => new Ctor([p], { betas: [-0.1, 0.999] })).toThrow(/beta parameter at index 0/);
      expect(() => new Ctor([p], { betas: [0.9, 1] })).toThrow(/beta parameter at index 1/);
      expect(() => new Ctor([p], { weightDecay: -0.1 })).toThrow(/weightDecay/);
      expect(() => new Ctor([{ params: [p], lr: -1 }])).toThrow(/learning rate/);
      expect(() => new Ctor([])).toThrow(/empty/);
      expect(() => new Ctor([p], { betas: [0, 0], eps: 0, lr: 0 })).not.toThrow();
    });

    it('matches the update rule for random hyper-parameters', () => {
      fc.assert(
        fc.property(
          fc.record({
            lr: fc.double({ min: 0, max: 1, noNaN: true }),
            b1: fc.constantFrom(0, 0.5, 0.9),
            b2: fc.constantFrom(0.9, 0.999),
            eps: fc.constantFrom(1e-8, 1e-3),
            weightDecay: fc.constantFrom(0, 0.01, 0.5),
            amsgrad: fc.boolean(),
            maximize: fc.boolean(),
          }),
          fc.nat(1000),
          ({ b1, b2, ...rest }, seed) => {
            const o: Options = { ...rest, betas: [b1, b2] };
            const g = new Generator(seed);
            const grads = Array.from({ length: 4 }, () => Array.from({ length: 3 }, () => g.normal()));
            const p0 = Array.from({ length: 3 }, () => g.normal());
            const ref = reference(p0, grads, o, decoupled);
            const p = param(p0);
            const opt = new Ctor([p], o);
            for (const gr of grads) {
              p.grad = f64(gr);
              opt.step();
            }
            expectClose(vals(p), ref.params[3], 1e-11);
          },
        ),
        { numRuns: 30 },
      );
    });
  });
}

describe('AdamW vs Adam', () => {
  it('without weight decay they are the same update', () => {
    const o: Options = { ...adamDefaults, lr: 0.1, amsgrad: true };
    let a: Tensor = f64(P0);
    let b: Tensor = f64(P0);
    let sa: optim.AdamState | null = null;
    let sb: optim.AdamState | null = null;
    for (const g of GRADS) {
      const na = optim.adamUpdate(a, f64(g), sa, o);
      const nb = optim.adamwUpdate(b, f64(g), sb, o);
      [a, sa, b, sb] = [na.param, na.state, nb.param, nb.state];
    }
    expect(vals(a)).toEqual(vals(b));
  });

  it('AdamW decays the parameter even with a zero gradient; Adam\'s L2 term goes through the moments', () => {
    const o: Options = { ...adamDefaults, lr: 0.1, weightDecay: 0.5 };
    const w = optim.adamwUpdate(f64([2]), f64([0]), null, o);
    expectClose(vals(w.param), [2 * (1 - 0.05)]); // m = 0: only the decay moves it
    const a = optim.adamUpdate(f64([2]), f64([0]), null, { ...o, eps: 0 });
    expectClose(vals(a.param), [2 - 0.1]); // g = 0.5 * 2: the first step moves by lr
  });
});

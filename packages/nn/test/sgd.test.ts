/**
 * SGD against torch.optim.SGD's pseudocode (computed here in float64), its
 * state, groups and validation, and a least-squares fit.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Tensor } from '@normlab/autograd';
import { Generator, fromTyped } from '@normlab/tensor';
import { Linear, Parameter, mseLoss, optim } from '../src/index.js';
import { GRADS, P0, expectClose as expectCloseTo, f64, param, vals } from './optim-helpers.js';

type Options = Required<optim.SGDOptions>;

const defaults: Options = { lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false };

/** torch.optim.SGD's documented algorithm on plain numbers, for a sequence of gradients. */
function reference(p0: number[], grads: number[][], o: Options): { params: number[][]; buf: number[] | null } {
  let p = p0.slice();
  let buf = null as number[] | null;
  const params: number[][] = [];
  for (const grad of grads) {
    let g = grad.map((v, i) => (o.maximize ? -v : v) + o.weightDecay * p[i]);
    if (o.momentum !== 0) {
      const b: number[] = buf === null ? g.slice() : buf.map((v, i) => o.momentum * v + (1 - o.dampening) * g[i]);
      buf = b;
      g = o.nesterov ? g.map((v, i) => v + o.momentum * b[i]) : b.slice();
    }
    p = p.map((v, i) => v - o.lr * g[i]);
    params.push(p);
  }
  return { params, buf };
}

/** The shared closeness check, 1e-13 by default here (SGD's updates round less). */
const expectClose = (a: readonly number[], b: readonly number[], tol = 1e-13): void => expectCloseTo(a, b, tol);

describe('sgdUpdate', () => {
  const cases: [string, Partial<Options>][] = [
    ['plain', {}],
    ['momentum', { momentum: 0.9 }],
    ['momentum + dampening', { momentum: 0.9, dampening: 0.3 }],
    ['nesterov', { momentum: 0.8, nesterov: true }],
    ['weightDecay', { weightDecay: 0.05 }],
    ['weightDecay + momentum', { weightDecay: 0.05, momentum: 0.5 }],
    ['maximize', { maximize: true }],
    ['everything', { lr: 0.02, momentum: 0.7, weightDecay: 0.1, nesterov: true, maximize: true }],
  ];
  for (const [name, over] of cases) {
    it(`${name}: several steps match the pseudocode`, () => {
      const o: Options = { ...defaults, ...over };
      const ref = reference(P0, GRADS, o);
      let p: Tensor = f64(P0);
      let buf: Tensor | null = null;
      GRADS.forEach((g, step) => {
        const next = optim.sgdUpdate(p, f64(g), buf, o);
        p = next.param;
        buf = next.buf;
        expectClose(vals(p), ref.params[step]);
      });
      if (o.momentum === 0) expect(buf).toBeNull();
      else expectClose(vals(buf!), ref.buf!);
    });
  }

  it('hand values: first step plain and with momentum, second step with momentum', () => {
    const o: Options = { ...defaults, lr: 0.5, momentum: 0.9 };
    const s1 = optim.sgdUpdate(f64([1]), f64([2]), null, o);
    expect(vals(s1.param)).toEqual([0]); // buf = g = 2; p = 1 - 0.5 * 2
    expect(vals(s1.buf!)).toEqual([2]);
    const s2 = optim.sgdUpdate(s1.param, f64([1]), s1.buf, o);
    expect(vals(s2.buf!)).toEqual([2.8]); // 0.9 * 2 + 1
    expect(vals(s2.param)).toEqual([-1.4]);
  });

  it('the first momentum buffer is a copy, not the gradient tensor', () => {
    const g = f64([1, 2]);
    const { buf } = optim.sgdUpdate(f64([0, 0]), g, null, { ...defaults, momentum: 0.9 });
    expect(buf).not.toBe(g);
    expect(buf!.data).not.toBe(g.data);
  });

  it('matches the pseudocode for random hyper-parameters', () => {
    fc.assert(
      fc.property(
        fc.record({
          lr: fc.double({ min: 0, max: 1, noNaN: true }),
          momentum: fc.constantFrom(0, 0.5, 0.9),
          dampening: fc.constantFrom(0, 0.1),
          weightDecay: fc.constantFrom(0, 0.01),
          nesterov: fc.boolean(),
          maximize: fc.boolean(),
        }),
        fc.nat(1000),
        (o, seed) => {
          const opts: Options = o.nesterov ? { ...o, momentum: o.momentum || 0.5, dampening: 0 } : o;
          const g = new Generator(seed);
          const grads = Array.from({ length: 3 }, () => Array.from({ length: 4 }, () => g.normal()));
          const p0 = Array.from({ length: 4 }, () => g.normal());
          const ref = reference(p0, grads, opts);
          const p = new Parameter(f64(p0));
          const opt = new optim.SGD([p], opts);
          for (const gr of grads) {
            p.grad = f64(gr);
            opt.step();
          }
          expectClose(vals(p), ref.params[2], 1e-12);
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('SGD', () => {
  it('step updates the parameters in place, keeping their identity and requiresGrad', () => {
    const p = param([1, 2]);
    const opt = new optim.SGD([p], { lr: 0.1 });
    p.grad = f64([1, -1]);
    opt.step();
    expectClose(vals(p), [0.9, 2.1]);
    expect(p.requiresGrad).toBe(true);
    expect(p.isLeaf).toBe(true);
    expect(opt.paramGroups[0].params[0]).toBe(p);
  });

  it('keeps the momentum buffer in optimizer.state, a Map keyed by parameter', () => {
    const p = param([1, 2]);
    const q = param([3]);
    const opt = new optim.SGD([p, q], { lr: 0.1, momentum: 0.9 });
    expect(opt.state).toBeInstanceOf(Map);
    expect(opt.state.size).toBe(0);
    p.grad = f64([1, 1]);
    q.grad = f64([2]);
    opt.step();
    expect(opt.state.size).toBe(2);
    expect(vals(opt.state.get(p)!.momentumBuffer as Tensor)).toEqual([1, 1]);
    p.grad = f64([0, 2]);
    q.grad = f64([0]);
    opt.step();
    expectClose(vals(opt.state.get(p)!.momentumBuffer as Tensor), [0.9, 2.9]);
    expectClose(vals(opt.state.get(q)!.momentumBuffer as Tensor), [1.8]);
    // Nothing is stored on the parameter itself.
    expect(Object.keys(p)).not.toContain('momentumBuffer');
  });

  it('plain SGD keeps no state (as torch)', () => {
    const p = param([1]);
    const opt = new optim.SGD([p], { lr: 0.1 });
    p.grad = f64([1]);
    opt.step();
    expect(opt.state.size).toBe(0);
  });

  it('skips parameters without a gradient', () => {
    const p = param([1, 2]);
    const q = param([3, 4]);
    const opt = new optim.SGD([p, q], { lr: 0.5, momentum: 0.9 });
    p.grad = f64([1, 1]);
    opt.step();
    expect(vals(q)).toEqual([3, 4]);
    expect(opt.state.has(q)).toBe(false);
    expectClose(vals(p), [0.5, 1.5]);
  });

  it('param groups with different lr (and other options falling back to the defaults)', () => {
    const a = param([1]);
    const b = param([1]);
    const opt = new optim.SGD([{ params: [a] }, { params: [b], lr: 0.01, momentum: undefined }], { lr: 0.1, momentum: 0.5 });
    expect(opt.paramGroups.map((g) => g.options.lr)).toEqual([0.1, 0.01]);
    expect(opt.paramGroups[1].options.momentum).toBe(0.5);
    a.grad = f64([1]);
    b.grad = f64([1]);
    opt.step();
    expectClose(vals(a), [0.9]);
    expectClose(vals(b), [0.99]);
  });

  it('zeroGrad: to null by default, to zeros with setToNone false', () => {
    const p = param([1, 2]);
    const opt = new optim.SGD([p], { lr: 0.1 });
    p.grad = f64([Number.NaN, 3]);
    opt.zeroGrad({ setToNone: false });
    expect(vals(p.grad)).toEqual([0, 0]);
    opt.zeroGrad();
    expect(p.grad).toBeNull();
  });

  it('constructor validation', () => {
    const p = param([1]);
    expect(() => new optim.SGD([p], { lr: -0.1 })).toThrow(/learning rate/);
    expect(() => new optim.SGD([p], { lr: Number.NaN })).toThrow(/learning rate/);
    expect(() => new optim.SGD([p], { lr: 0.1, momentum: -1 })).toThrow(/momentum/);
    expect(() => new optim.SGD([p], { lr: 0.1, weightDecay: -1 })).toThrow(/weightDecay/);
    expect(() => new optim.SGD([p], { lr: 0.1, nesterov: true })).toThrow(/Nesterov/);
    expect(() => new optim.SGD([p], { lr: 0.1, nesterov: true, momentum: 0.9, dampening: 0.1 })).toThrow(/Nesterov/);
    expect(() => new optim.SGD([], { lr: 0.1 })).toThrow(/empty/);
    expect(() => new optim.SGD([{ params: [p] }, { params: [p] }], { lr: 0.1 })).toThrow(/more than one group/);
    expect(() => new optim.SGD([{ params: [p], lr: -1 }], { lr: 0.1 })).toThrow(/learning rate/);
  });

  it('fits a linear regression: converges to the least-squares solution', () => {
    // y = X w + b + noise with 2 features; the least-squares solution solves
    // the normal equations A^T A theta = A^T y with A = [X, 1].
    const g = new Generator(123);
    const N = 32;
    const X: number[][] = Array.from({ length: N }, () => [g.normal(), g.normal()]);
    const y = X.map(([a, b]) => 1.5 * a - 2 * b + 0.7 + 0.1 * g.normal());
    const A = X.map(([a, b]) => [a, b, 1]);
    const M = [0, 1, 2].map((i) => [0, 1, 2].map((j) => A.reduce((s, r) => s + r[i] * r[j], 0)));
    const v = [0, 1, 2].map((i) => A.reduce((s, r, k) => s + r[i] * y[k], 0));
    const theta = solve3(M, v);

    const model = new Linear(2, 1, { dtype: 'float64' });
    const opt = new optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
    const xs = new Tensor(fromTyped(Float64Array.from(X.flat()), [N, 2]));
    const ys = new Tensor(fromTyped(Float64Array.from(y), [N, 1]));
    for (let step = 0; step < 300; step++) {
      opt.zeroGrad();
      mseLoss(model.forward(xs), ys).backward();
      opt.step();
    }
    // Momentum 0.9 contracts the error by about 0.95 a step: 300 steps leave ~1e-7.
    expectClose([...vals(model.weight), ...vals(model.bias!)], theta, 1e-6);
  });
});

/** Gaussian elimination with partial pivoting for a 3x3 system. */
function solve3(M: number[][], v: number[]): number[] {
  const a = M.map((row, i) => [...row, v[i]]);
  for (let c = 0; c < 3; c++) {
    let piv = c;
    for (let r = c + 1; r < 3; r++) if (Math.abs(a[r][c]) > Math.abs(a[piv][c])) piv = r;
    [a[c], a[piv]] = [a[piv], a[c]];
    for (let r = 0; r < 3; r++) {
      if (r === c) continue;
      const f = a[r][c] / a[c][c];
      for (let k = c; k < 4; k++) a[r][k] -= f * a[c][k];
    }
  }
  return [0, 1, 2].map((i) => a[i][3] / a[i][i]);
}

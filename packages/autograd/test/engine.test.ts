import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Tensor, backward, enableGrad, grad, isGradEnabled, matmul, noGrad, record, tensor, zeros,
} from '../src/index.js';
import { RUNS, dotRandom, expectClose, fromF64, randT, seedArb, shapeArb, vals } from './helpers.js';

describe('accumulation', () => {
  it('two backward calls (retainGraph) accumulate into .grad', () => {
    fc.assert(fc.property(shapeArb(), seedArb, (shape, seed) => {
      const x = randT(shape, seed);
      const y = dotRandom(x.exp(), seed + 1);
      y.backward(undefined, { retainGraph: true });
      const first = vals(x.grad!);
      y.backward();
      expectClose(vals(x.grad!), first.map((v) => 2 * v), 0, 1e-15);
      // A third graph adds again; .grad is a plain tensor (no graph) between calls.
      expect(x.grad!.requiresGrad).toBe(false);
      dotRandom(x.exp(), seed + 1).backward();
      expectClose(vals(x.grad!), first.map((v) => 3 * v), 0, 1e-15);
    }), { numRuns: RUNS });
  });

  it('a tensor used twice in one graph: d(x*x)/dx = 2x, d(x + x + x)/dx = 3', () => {
    fc.assert(fc.property(shapeArb(), seedArb, (shape, seed) => {
      const x = randT(shape, seed);
      x.mul(x).sum().backward();
      expectClose(vals(x.grad!), vals(x).map((v) => 2 * v), 0, 0);
      x.grad = null;
      x.add(x).add(x).sum().backward();
      expectClose(vals(x.grad!), vals(x).map(() => 3), 0, 0);
    }), { numRuns: RUNS });
  });

  it('gradients of leaves that broadcast are summed back to their shape and dtype', () => {
    const w = randT([3], 1);
    const x32 = randT([2, 3], 2).detach().astype('float32').requiresGrad_();
    const y = x32.mul(w).sum();
    y.backward();
    expect(w.grad!.shape).toEqual([3]);
    expect(w.grad!.dtype).toBe('float64');
    expect(x32.grad!.dtype).toBe('float32');
    expectClose(vals(w.grad!), [0, 1, 2].map((j) => vals(x32)[j] + vals(x32)[3 + j]), 0, 1e-15);
  });

  it('a diamond graph runs each node\'s backward once, with the summed gradient', () => {
    const calls: number[][] = [];
    const x = randT([3], 4);
    // An identity op that records every gradient it is handed.
    const spy = (t: Tensor): Tensor => record('spy', t.data.clone(), [t], (g) => {
      calls.push(vals(g));
      return [g];
    });
    const y = spy(x);
    const a = y.mul(2);
    const b = y.mul(3);
    const c = spy(y).mul(-1);
    a.add(b).add(c).sum().backward();
    // The inner spy once (gradient -1), the outer spy once (2 + 3 - 1 = 4).
    expect(calls).toEqual([[-1, -1, -1], [4, 4, 4]]);
    expect(vals(x.grad!)).toEqual([4, 4, 4]);
  });

  it('backward from several roots at once', () => {
    const x = randT([2], 5);
    const y1 = x.square().sum();
    const y2 = x.mul(3).sum();
    backward([y1, y2], undefined);
    expectClose(vals(x.grad!), vals(x).map((v) => 2 * v + 3), 0, 1e-15);
  });
});

describe('errors', () => {
  it('backward on a non-scalar without a gradient throws, naming the shape', () => {
    const y = randT([2, 3], 1).mul(2);
    expect(() => y.backward()).toThrow(/\[2,3\]/);
    expect(() => y.backward()).toThrow(/scalar/);
    // With a gradient of the right shape it works; of a wrong shape it throws.
    y.backward(randT([2, 3], 2, { requiresGrad: false }), { retainGraph: true });
    expect(() => y.backward(randT([3, 2], 2, { requiresGrad: false }))).toThrow(/\[3,2\]/);
  });

  it('a second backward through a freed graph throws a clear error; retainGraph keeps it', () => {
    const x = randT([3], 1);
    const y = x.exp().sum();
    y.backward();
    expect(() => y.backward()).toThrow(/second time/);
    expect(() => y.backward()).toThrow(/retainGraph: true/);

    const z = x.exp().sum();
    z.backward(undefined, { retainGraph: true });
    z.backward(undefined, { retainGraph: true });
    z.backward();
    expect(() => z.backward()).toThrow(/second time/);
    // The same for grad().
    const w = x.sin().sum();
    grad(w, [x]);
    expect(() => grad(w, [x])).toThrow(/second time/);
  });

  it('backward on a tensor that does not require grad throws', () => {
    const x = randT([2], 1, { requiresGrad: false });
    expect(() => x.sum().backward()).toThrow(/does not require grad/);
  });

  it('requiresGrad on integer and bool tensors throws', () => {
    const i = tensor([1, 2, 3], { dtype: 'int32' });
    expect(() => i.requiresGrad_()).toThrow(/floating point/);
    expect(() => { i.requiresGrad = true; }).toThrow(TypeError);
    expect(() => tensor([1, 2], { dtype: 'int32', requiresGrad: true })).toThrow(/int32/);
    expect(() => tensor([true, false], { requiresGrad: true })).toThrow(/bool/);
    // Turning it off is fine on a leaf, not on a non-leaf.
    const x = randT([2], 1);
    const y = x.mul(2);
    expect(() => { y.requiresGrad = false; }).toThrow(/non-leaf/);
    x.requiresGrad = false;
    expect(x.requiresGrad).toBe(false);
  });
});

describe('grad modes and detach', () => {
  it('noGrad results have requiresGrad false and no gradFn; the mode is restored (also on throw)', () => {
    const x = randT([2, 2], 1);
    const y = noGrad(() => x.mul(2).exp().matmul(x));
    expect(y.requiresGrad).toBe(false);
    expect(y.gradFn).toBeNull();
    expect(y.isLeaf).toBe(true);
    expect(isGradEnabled()).toBe(true);
    expect(() => noGrad(() => { throw new Error('boom'); })).toThrow('boom');
    expect(isGradEnabled()).toBe(true);
    const z = noGrad(() => enableGrad(() => x.mul(2)));
    expect(z.requiresGrad).toBe(true);
    expect(z.gradFn?.name).toBe('mul');
  });

  it('detach shares the data, cuts the graph', () => {
    const x = randT([3], 2);
    const y = x.exp();
    const d = y.detach();
    expect(d.requiresGrad).toBe(false);
    expect(d.gradFn).toBeNull();
    expect(d.data).toBe(y.data);
    // The detached factor is a constant: d(x * detach(x))/dx = detach(x).
    const [g] = grad(x.mul(x.detach()).sum(), [x]);
    expectClose(vals(g!), vals(x), 0, 0);
  });

  it('grad() returns gradients without touching .grad; allowUnused', () => {
    const x = randT([3], 1);
    const unused = randT([2], 2);
    const y = x.square().sum();
    const [g] = grad(y, [x], { retainGraph: true });
    expectClose(vals(g!), vals(x).map((v) => 2 * v), 0, 0);
    expect(x.grad).toBeNull();
    expect(() => grad(y, [x, unused], { retainGraph: true })).toThrow(/input 1 \(shape \[2\]\) was not used/);
    expect(() => grad(y, [x, unused], { retainGraph: true })).toThrow(/allowUnused/);
    const [gx, gu] = grad(y, [x, unused], { allowUnused: true, retainGraph: true });
    expect(gx).not.toBeNull();
    expect(gu).toBeNull();
    expect(unused.grad).toBeNull();
    expect(() => grad(y, [randT([2], 3, { requiresGrad: false })])).toThrow(/does not require grad/);
  });

  it('grad() with respect to a non-leaf and with gradOutputs', () => {
    fc.assert(fc.property(shapeArb(), seedArb, (shape, seed) => {
      const x = randT(shape, seed);
      const h = x.sin();
      const y = h.exp();
      const up = randT(shape, seed + 1, { requiresGrad: false });
      const [gh, gx] = grad([y], [h, x], { gradOutputs: [up] });
      expectClose(vals(gh!), vals(y).map((v, i) => v * vals(up)[i]), 0, 1e-15);
      expectClose(vals(gx!), vals(gh!).map((v, i) => v * Math.cos(vals(x)[i])), 0, 1e-14);
    }), { numRuns: RUNS });
  });
});

describe('higher order', () => {
  it('createGraph: d2/dx2 x^3 = 6x, d3/dx3 = 6', () => {
    fc.assert(fc.property(shapeArb(), seedArb, (shape, seed) => {
      const x = randT(shape, seed);
      const [g1] = grad(x.pow(3).sum(), [x], { createGraph: true });
      expect(g1!.requiresGrad).toBe(true);
      expectClose(vals(g1!), vals(x).map((v) => 3 * v * v), 0, 1e-14);
      const [g2] = grad(g1!.sum(), [x], { createGraph: true });
      expectClose(vals(g2!), vals(x).map((v) => 6 * v), 0, 1e-14);
      const [g3] = grad(g2!.sum(), [x]);
      expectClose(vals(g3!), vals(x).map(() => 6), 1e-13, 0);
    }), { numRuns: RUNS });
  });

  it('backward with createGraph leaves a differentiable .grad', () => {
    const x = randT([3], 3);
    x.pow(3).sum().backward(undefined, { createGraph: true });
    expect(x.grad!.requiresGrad).toBe(true);
    const [g2] = grad(x.grad!.sum(), [x]);
    expectClose(vals(g2!), vals(x).map((v) => 6 * v), 0, 1e-14);
  });

  it('Hessian-vector product of 0.5 x^T A x is A v', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 5 }), seedArb, (n, seed) => {
      const m = randT([n, n], seed, { requiresGrad: false });
      const A = m.add(m.mT).mul(0.5); // symmetric: the Hessian of 0.5 x^T A x
      const x = randT([n], seed + 1);
      const v = randT([n], seed + 2, { requiresGrad: false });
      const f = matmul(x, matmul(A, x)).mul(0.5);
      const [g] = grad(f, [x], { createGraph: true });
      expectClose(vals(g!), vals(matmul(A, x.detach())), 1e-14, 1e-13);
      const [hv] = grad(g!.mul(v).sum(), [x]);
      expectClose(vals(hv!), vals(matmul(A, v)), 1e-14, 1e-13);
    }), { numRuns: RUNS });
  });
});

describe('hooks and retainGrad', () => {
  it('a hook on a leaf sees the gradient, can replace it, and remove() works', () => {
    const x = randT([3], 1);
    const seen: number[][] = [];
    const h1 = x.registerHook((g) => {
      seen.push(vals(g));
    });
    const h2 = x.registerHook((g) => g.mul(10));
    x.mul(2).sum().backward();
    expect(seen).toEqual([[2, 2, 2]]);
    expect(vals(x.grad!)).toEqual([20, 20, 20]);
    h2.remove();
    x.grad = null;
    x.mul(2).sum().backward();
    expect(vals(x.grad!)).toEqual([2, 2, 2]);
    h1.remove();
    h1.remove(); // idempotent
    x.mul(2).sum().backward();
    expect(seen.length).toBe(2);
    expect(() => randT([2], 1, { requiresGrad: false }).registerHook(() => undefined)).toThrow(/does not require grad/);
  });

  it('a hook on a non-leaf sees its gradient and its replacement flows on', () => {
    const x = randT([3], 2);
    const y = x.mul(3);
    let seen: number[] = [];
    const h = y.registerHook((g) => {
      seen = vals(g);
      return g.mul(-1);
    });
    y.square().sum().backward();
    expectClose(seen, vals(y).map((v) => 2 * v), 0, 0);
    // dL/dx = 3 * (replaced gradient) = -3 * 2y.
    expectClose(vals(x.grad!), vals(y).map((v) => -6 * v), 0, 1e-15);
    h.remove();
    x.grad = null;
    x.mul(3).square().sum().backward();
    expectClose(vals(x.grad!), vals(y).map((v) => 6 * v), 0, 1e-15);
  });

  it('retainGrad keeps the gradient of a non-leaf; without it, .grad stays null', () => {
    const x = randT([2, 2], 3);
    const h = x.exp();
    const k = h.mul(2);
    h.retainGrad();
    expect(h.retainsGrad).toBe(true);
    const up = randT([2, 2], 4, { requiresGrad: false });
    k.sum().mul(1).backward();
    expectClose(vals(h.grad!), [2, 2, 2, 2], 0, 0);
    expect(h.grad!.requiresGrad).toBe(false);
    expect(k.grad).toBeNull();
    // The retained gradient is the one after the hooks, with a random upstream gradient.
    const y = x.sin();
    y.retainGrad();
    y.backward(up);
    expectClose(vals(y.grad!), vals(up), 0, 0);
    expect(() => randT([1], 0, { requiresGrad: false }).retainGrad()).toThrow(/does not require grad/);
  });

  it('retained gradients of a non-leaf accumulate across backward calls, as for leaves (PyTorch)', () => {
    const x = randT([3], 5);
    const h = x.mul(2);
    h.retainGrad();
    const y = h.square().sum();
    y.backward(undefined, { retainGraph: true });
    const first = vals(h.grad!);
    y.backward();
    expectClose(vals(h.grad!), first.map((v) => 2 * v), 0, 1e-15);
  });
});

describe('scale', () => {
  it('a deep chain of 5000 ops does not overflow the stack', () => {
    const x = fromF64([0.5], [1], true);
    let y: Tensor = x;
    for (let i = 0; i < 5000; i++) y = y.mul(1.0001).add(0);
    y.sum().backward();
    expect(x.grad!.item()).toBeCloseTo(1.0001 ** 5000, 8);
    // And a long second-order chain through grad(..., createGraph).
    const z = fromF64([0.3], [1], true);
    let w: Tensor = z;
    for (let i = 0; i < 2000; i++) w = w.sin();
    const [g] = grad(w.sum(), [z], { createGraph: true });
    const [g2] = grad(g!.sum(), [z]);
    expect(Number.isFinite(g2!.item())).toBe(true);
  });

  it('a wide graph: many uses of one tensor', () => {
    const x = randT([4], 6);
    let acc = zeros([4], { dtype: 'float64' });
    for (let i = 0; i < 500; i++) acc = acc.add(x.mul(i % 3));
    acc.sum().backward();
    // sum over i of (i mod 3) for i < 500: 166 * 3 + 0 + 1 = 499.
    expectClose(vals(x.grad!), [499, 499, 499, 499], 0, 1e-15);
  });
});

describe('backward(gradient, options) misuse', () => {
  it('names what it got when the first argument is not a gradient', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    expect(() => x.mul(2).sum().backward({ retainGraph: true } as never)).toThrow(/backward: the first argument is the gradient \(a Tensor of the output's shape, or null\), got an options object; options go second, as backward\(null, \{ retainGraph: true \}\)/);
    expect(() => x.mul(2).backward([1, 1] as never)).toThrow(/backward: the first argument is the gradient .*got an array/);
    x.mul(2).sum().backward(null, { retainGraph: true });
    expect(x.grad!.toArray()).toEqual([2, 2]);
  });
});

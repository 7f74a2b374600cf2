/**
 * vjp, jacrev, hessian and hvp (torch.func's, by reverse mode), jvp and
 * jacfwd (by forward mode): against closed forms, finite differences and
 * each other (hvp = H v, the Hessian symmetric, <u, J v> = <J^T u, v>,
 * jacfwd = jacrev, every nesting of the two modes), over random shapes;
 * nothing written to the inputs' .grad.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Tensor, grad, hessian, hvp, jacfwd, jacrev, jvp, record, stack, tensor, tidy, vjp } from '../src/index.js';
import * as nd from '@normlab/tensor';
import { expectClose, randT, seedArb, vals } from './helpers.js';

/** A smooth scalar function of x with a dense, non-trivial Hessian: logsumexp of W tanh(x) plus a cubic. */
const scalarFn = (W: Tensor) => (x: Tensor): Tensor => W.matmul(x.tanh().reshape([-1, 1])).reshape([-1]).logsumexp(0).add(x.pow(3).sum().mul(0.1));

/** Central differences of a vector function g at x: [...g's shape, ...x's shape]. */
function numericJacobian(g: (x: Tensor) => Tensor, x: Tensor, eps = 1e-6): number[] {
  const x0 = vals(x);
  const cols: number[][] = x0.map((_, j) => {
    const at = (d: number): number[] => vals(g(tensor(x0.map((v, k) => (k === j ? v + d : v)), { dtype: 'float64' }).reshape(x.shape)));
    const [p, m] = [at(eps), at(-eps)];
    return p.map((v, i) => (v - m[i]) / (2 * eps));
  });
  return cols[0].flatMap((_, i) => cols.map((c) => c[i]));
}

describe('vjp', () => {
  it('gives v^T J for each primal, differentiable again, without touching .grad', () => {
    const x = randT([2, 3], 1);
    const y = randT([2, 3], 2);
    const [out, vjpFn] = vjp((a, b) => a.mul(b).sin(), x, y);
    const v = randT([2, 3], 3, { requiresGrad: false });
    const [gx, gy] = vjpFn(v);
    const c = x.mul(y).cos();
    expectClose(vals(out), vals(x.mul(y).sin()), 1e-15, 0);
    expectClose(vals(gx), vals(v.mul(c).mul(y)), 1e-14, 1e-14);
    expectClose(vals(gy), vals(v.mul(c).mul(x)), 1e-14, 1e-14);
    expect(x.grad).toBeNull();
    expect(() => vjpFn(randT([3], 4))).toThrow(/vjp: the cotangent must have the output's shape \[2,3\], got \[3\]/);
    // An input the output does not depend on gets zeros, as torch.func.
    const [, f2] = vjp((a, _b) => a.exp(), x, y);
    expect(vals(f2(v)[1])).toEqual([0, 0, 0, 0, 0, 0]);
  });
});

describe('jacrev', () => {
  it('is the Jacobian [...out, ...in]: A for x -> A x, diag(2x) for x -> x^2, and matches finite differences', () => {
    const A = randT([3, 4], 5, { requiresGrad: false });
    const J = jacrev((x) => A.matmul(x))(randT([4], 6));
    expect(J.shape).toEqual([3, 4]);
    expectClose(vals(J), vals(A), 1e-15, 0);
    const x = randT([2, 2], 7);
    const J2 = jacrev((t) => t.square())(x);
    expect(J2.shape).toEqual([2, 2, 2, 2]);
    expectClose(vals(J2), vals(x).flatMap((v, i) => [0, 1, 2, 3].map((j) => (i === j ? 2 * v : 0))), 1e-15, 0);
    fc.assert(fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), seedArb, (m, n, seed) => {
      const W = randT([m, n], seed, { requiresGrad: false });
      const g = (t: Tensor): Tensor => W.matmul(t.tanh()).softmax(0);
      const at = randT([n], seed + 1);
      expectClose(vals(jacrev(g)(at)), numericJacobian(g, at), 1e-8, 1e-6);
    }), { numRuns: 20 });
  });

  it('differentiates the chosen argument', () => {
    const [a, b] = [randT([3], 8), randT([3], 9)];
    const J = jacrev((p, q) => p.mul(q), 1)(a, b);
    expectClose(vals(J), vals(a).flatMap((v, i) => [0, 1, 2].map((j) => (i === j ? v : 0))), 1e-15, 0);
    expect(() => jacrev((p) => p, 2)(a)).toThrow(/jacrev: argnum 2 out of range for 1 input/);
  });
});

describe('hessian and hvp', () => {
  it('the Hessian is symmetric, matches finite differences of the gradient, and hvp is H v', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), seedArb, (n, m, seed) => {
      const f = scalarFn(randT([m, n], seed, { requiresGrad: false }));
      const x = randT([n], seed + 1);
      const H = hessian(f)(x);
      expect(H.shape).toEqual([n, n]);
      const h = vals(H);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(Math.abs(h[i * n + j] - h[j * n + i])).toBeLessThan(1e-12);
      const gradient = (t: Tensor): Tensor => jacrev(f)(t);
      expectClose(h, numericJacobian(gradient, x), 1e-7, 1e-5);
      const v = randT([n], seed + 2, { requiresGrad: false });
      const [y, [hv]] = hvp(f, [x], [v]);
      expectClose(vals(y), vals(f(x)), 1e-15, 0);
      expectClose(vals(hv), vals(H.matmul(v)), 1e-12, 1e-12);
      expect(x.grad).toBeNull();
    }), { numRuns: 20 });
  });

  it('hvp over two primals is the full Hessian times the stacked tangent; errors name the problem', () => {
    const f = (a: Tensor, b: Tensor): Tensor => a.mul(b).sum().pow(2);
    const [a, b] = [randT([2], 10), randT([2], 11)];
    const [va, vb] = [randT([2], 12, { requiresGrad: false }), randT([2], 13, { requiresGrad: false })];
    const [, [ha, hb]] = hvp(f, [a, b], [va, vb]);
    // With s = a.b the gradients are 2 s b and 2 s a, so H v = (2 (b.va + a.vb) b + 2 s vb, 2 (b.va + a.vb) a + 2 s va).
    const s = vals(a.mul(b).sum())[0];
    const dot = (p: Tensor, q: Tensor): number => vals(p.mul(q).sum())[0];
    const expectA = vals(b.mul(2 * (dot(b, va) + dot(a, vb))).add(vb.mul(2 * s)));
    const expectB = vals(a.mul(2 * (dot(b, va) + dot(a, vb))).add(va.mul(2 * s)));
    expectClose(vals(ha), expectA, 1e-12, 1e-12);
    expectClose(vals(hb), expectB, 1e-12, 1e-12);
    expect(() => hvp(f, [a, b], [va])).toThrow(/hvp: 1 tangents for 2 primals/);
    expect(() => hessian((t) => t.square())(a)).toThrow(/hessian: the function must return a single value, got shape \[2\]/);
  });
});

/** A vector function of two inputs mixing broadcasting, views, reductions, matmul and joins. */
const vectorFn = (W: Tensor) => (x: Tensor, b: Tensor): Tensor => {
  const h = W.matmul(x.tanh()).add(b).sigmoid();
  const z = stack([h.mul(x.sum()), h.exp().div(h.square().add(1))], 0);
  return z.transpose(0, 1).reshape([-1]).softmax(0).log1p().mul(x.amax());
};

const dotOf = (p: Tensor, q: Tensor): number => vals(p.mul(q).sum())[0];

describe('jvp (forward mode)', () => {
  it('gives f(x) and J v in one pass: cos(x) v for sin, finite differences, and <u, J v> = <J^T u, v> with vjp', () => {
    const x = randT([2, 3], 1);
    const v = randT([2, 3], 2, { requiresGrad: false });
    const [y, dy] = jvp((t) => t.sin(), [x], [v]);
    expectClose(vals(y), vals(x.sin()), 0, 0);
    expectClose(vals(dy), vals(x.cos().mul(v)), 1e-15, 0);
    expect(x.grad).toBeNull();
    fc.assert(fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), seedArb, (n, m, seed) => {
      const f = vectorFn(randT([m, n], seed, { requiresGrad: false }));
      const [a, b] = [randT([n], seed + 1), randT([m], seed + 2)];
      const [va, vb] = [randT([n], seed + 3, { requiresGrad: false }), randT([m], seed + 4, { requiresGrad: false })];
      const [out, tangent] = jvp(f, [a, b], [va, vb]);
      expectClose(vals(out), vals(f(a, b)), 0, 0);
      // Central differences along (va, vb).
      const eps = 1e-6;
      const at = (s: number): number[] => vals(f(a.detach().add(va.mul(s)), b.detach().add(vb.mul(s))));
      const [plus, minus] = [at(eps), at(-eps)];
      expectClose(vals(tangent), plus.map((p, i) => (p - minus[i]) / (2 * eps)), 1e-7, 1e-6);
      // The transpose identity against reverse mode.
      const u = randT(out.shape, seed + 5, { requiresGrad: false });
      const [ga, gb] = vjp(f, a, b)[1](u);
      expectClose([dotOf(u, tangent)], [dotOf(ga, va) + dotOf(gb, vb)], 1e-12, 1e-10);
    }), { numRuns: 20 });
  });

  it('gives zeros for an output that does not depend on the primals, and keeps the tangent alive out of tidy', () => {
    const x = randT([3], 3);
    const c = randT([3], 4, { requiresGrad: false });
    const [, dz] = jvp(() => c.exp(), [x], [randT([3], 5, { requiresGrad: false })]);
    expect(vals(dz)).toEqual([0, 0, 0]);
    const v = randT([3], 6, { requiresGrad: false });
    const [y, dy] = tidy(() => jvp((t) => tidy(() => t.square().mul(2)), [x], [v]));
    expect(y.isDisposed || dy.isDisposed).toBe(false);
    expectClose(vals(dy), vals(x.mul(4).mul(v)), 1e-15, 0);
  });

  it('composes with reverse mode both ways and with itself: each second derivative is H v', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), seedArb, (n, m, seed) => {
      const f = scalarFn(randT([m, n], seed, { requiresGrad: false }));
      const x = randT([n], seed + 1);
      const [v, w] = [randT([n], seed + 2, { requiresGrad: false }), randT([n], seed + 3, { requiresGrad: false })];
      const [, [hv]] = hvp(f, [x], [v]);
      // Forward over reverse: the directional derivative of the gradient.
      const gradient = (t: Tensor): Tensor => grad(f(t), [t], { createGraph: true })[0]!;
      expectClose(vals(jvp(gradient, [x], [v])[1]), vals(hv), 1e-12, 1e-10);
      // The same with a backward that builds no graph (the fused rules must carry the tangent too).
      const plainGradient = (t: Tensor): Tensor => grad(f(t), [t])[0]!;
      expectClose(vals(jvp(plainGradient, [x], [v])[1]), vals(hv), 1e-12, 1e-10);
      // Reverse over forward: the gradient of the directional derivative.
      const directional = (t: Tensor): Tensor => jvp(f, [t], [v])[1];
      expectClose(vals(vjp(directional, x)[1](tensor(1, { dtype: 'float64' }))[0]), vals(hv), 1e-12, 1e-10);
      // Forward over forward: w^T H v, with each level's tangents kept apart.
      const wHv = jvp((t) => jvp(f, [t], [v])[1], [x], [w])[1];
      expectClose(vals(wHv), [dotOf(w, hv)], 1e-12, 1e-10);
    }), { numRuns: 20 });
  });

  it('rejects tangents that do not match the primals, and an op without a forward-mode rule, naming them', () => {
    const x = randT([2], 7);
    const v = randT([2], 8, { requiresGrad: false });
    expect(() => jvp((t) => t, [x], [randT([3], 9)])).toThrow(/jvp: tangent 0 must match primal 0 \(shape \[2\], float64, cpu\), got \[3\], float64, cpu/);
    expect(() => jvp((t) => t, [x], [v.astype('float32')])).toThrow(/jvp: tangent 0 must match primal 0/);
    expect(() => jvp((t) => t, [x], [])).toThrow(/jvp: 0 tangents for 1 primals/);
    expect(() => jvp((t) => t, x as unknown as Tensor[], [v])).toThrow(/jvp: primals and tangents must be arrays of Tensors/);
    const ints = new Tensor(nd.zeros([2], { dtype: 'int32' }));
    expect(() => jvp((t) => t, [ints], [ints])).toThrow(/jvp: primal 0 must be floating point, got int32/);
    const opaque = (t: Tensor): Tensor => record('opaque', nd.exp(t.data), [t], (g) => [g.mul(t.exp())]);
    expect(() => jvp(opaque, [x], [v])).toThrow(/jvp: 'opaque' has no forward-mode rule; .* use vjp or jacrev/);
    // Reverse mode still works through it.
    expectClose(vals(vjp(opaque, x)[1](v)[0]), vals(v.mul(x.exp())), 1e-15, 0);
  });
});

describe('jacfwd', () => {
  it('equals jacrev and finite differences, for the chosen argument; jacfwd(jacrev(f)) is the Hessian', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), seedArb, (n, m, seed) => {
      const f = vectorFn(randT([m, n], seed, { requiresGrad: false }));
      const [a, b] = [randT([n], seed + 1), randT([m], seed + 2)];
      for (const argnum of [0, 1]) {
        const Jf = jacfwd(f, argnum)(a, b);
        const Jr = jacrev(f, argnum)(a, b);
        expect(Jf.shape).toEqual(Jr.shape);
        expectClose(vals(Jf), vals(Jr), 1e-13, 1e-10);
      }
      expectClose(vals(jacfwd(f)(a, b)), numericJacobian((t) => f(t, b), a), 1e-7, 1e-6);
      const g = scalarFn(randT([m, n], seed + 3, { requiresGrad: false }));
      const x = randT([n], seed + 4);
      expectClose(vals(jacfwd(jacrev(g))(x)), vals(hessian(g)(x)), 1e-12, 1e-10);
    }), { numRuns: 15 });
    const x = randT([2, 2], 11);
    expect(jacfwd((t) => t.sum())(x).shape).toEqual([2, 2]);
    expect(jacfwd((t) => t.square())(x).shape).toEqual([2, 2, 2, 2]);
    expect(() => jacfwd((t) => t, 1)(x)).toThrow(/jacfwd: argnum 1 out of range for 1 input/);
  });
});

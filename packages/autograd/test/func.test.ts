/**
 * vjp, jacrev, hessian and hvp (torch.func's, by reverse mode): against
 * closed forms, finite differences and each other (hvp = H v, the Hessian
 * symmetric), over random shapes; nothing written to the inputs' .grad.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Tensor, hessian, hvp, jacrev, tensor, vjp } from '../src/index.js';
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

/**
 * A quadratic loss L(w) = w^T A w / 2 + b^T w has everything in closed form:
 * g = A w + b, H = A, g^T H g = g^T A g, grad L(w - eta g) = g - eta A g, so
 * the gradient change of every probe is |eta| ||A g|| and the effective
 * beta-smoothness is ||A g|| / ||g||.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Tensor } from '@normlab/autograd';
import { Module, Parameter } from '@normlab/nn';
import { fromTyped } from '@normlab/tensor';
import { flattenParams, hessianQuadraticForm, lossLandscape } from '../src/index.js';
import { expectClose } from './helpers.js';

class Quadratic extends Module {
  readonly w: Parameter;
  constructor(w0: readonly number[]) {
    super();
    this.w = new Parameter(fromTyped(Float64Array.from(w0), [w0.length]));
  }
  forward(): Tensor {
    return this.w;
  }
}

interface Problem { A: number[][]; b: number[] }
const lossOf = ({ A, b }: Problem) => (model: Quadratic): Tensor => {
  const n = b.length;
  const At = new Tensor(fromTyped(Float64Array.from(A.flat()), [n, n]));
  const bt = new Tensor(fromTyped(Float64Array.from(b), [n]));
  const w = model.forward();
  return w.reshape([1, n]).matmul(At).matmul(w.reshape([n, 1])).sum().mul(0.5).add(w.mul(bt).sum());
};

const matvec = (A: number[][], v: readonly number[]): number[] => A.map((row) => row.reduce((s, a, j) => s + a * v[j], 0));
const dotv = (a: readonly number[], b: readonly number[]): number => a.reduce((s, x, i) => s + x * b[i], 0);
const normv = (a: readonly number[]): number => Math.sqrt(dotv(a, a));
const quad = ({ A, b }: Problem, w: readonly number[]): number => 0.5 * dotv(w, matvec(A, w)) + dotv(b, w);

/** A random symmetric (possibly indefinite) A, b and w0. */
const problemArb = fc.integer({ min: 1, max: 5 }).chain((n) => fc.record({
  M: fc.array(fc.array(fc.double({ min: -2, max: 2, noNaN: true }), { minLength: n, maxLength: n }), { minLength: n, maxLength: n }),
  b: fc.array(fc.double({ min: -2, max: 2, noNaN: true }), { minLength: n, maxLength: n }),
  w0: fc.array(fc.double({ min: -2, max: 2, noNaN: true }), { minLength: n, maxLength: n }),
})).map(({ M, b, w0 }) => ({ A: M.map((row, i) => row.map((x, j) => (x + M[j][i]) / 2)), b, w0 }));

describe('quadratic loss: exact Hessian, g^T H g and beta-smoothness', () => {
  it('g^T H g = g^T A g and the normalized form, on a hand example', () => {
    // A = diag(2, 3), b = 0, w = (1, 1): g = (2, 3), g^T A g = 8 + 27 = 35, ||g||^2 = 13.
    const problem = { A: [[2, 0], [0, 3]], b: [0, 0] };
    const model = new Quadratic([1, 1]);
    const r = hessianQuadraticForm(model, lossOf(problem), null);
    expectClose(r.quadraticForm, 35);
    expectClose(r.gradNorm, Math.sqrt(13));
    expectClose(r.normalized, 35 / 13);
    expectClose(r.loss, 2.5);
  });

  it('a given direction v gives v^T A v', () => {
    const problem = { A: [[2, 1], [1, -3]], b: [1, 0] };
    const model = new Quadratic([0.5, -1]);
    const r = hessianQuadraticForm(model, lossOf(problem), null, { direction: new Tensor(fromTyped(Float64Array.from([1, 2]), [2])) });
    expectClose(r.quadraticForm, 2 + 4 - 12); // v^T A v = 2*1 + 2*1*2*1 + (-3)*4
    expectClose(r.normalized, -6 / 5);
  });

  it('matches the closed forms on random quadratics (fast-check)', () => {
    fc.assert(fc.property(problemArb, ({ A, b, w0 }) => {
      const model = new Quadratic(w0);
      const g = matvec(A, w0).map((x, i) => x + b[i]);
      const Ag = matvec(A, g);
      const r = hessianQuadraticForm(model, lossOf({ A, b }), null);
      const scale = dotv(g, g) * Math.max(1, ...A.flat().map(Math.abs));
      expectClose(r.quadraticForm, dotv(g, Ag), 1e-10, 1e-10 * scale, 'g^T H g');
      const stepSizes = [0, 0.01, 0.1, 0.5, -0.2];
      const land = lossLandscape(model, lossOf({ A, b }), null, { stepSizes });
      expectClose(land.loss, quad({ A, b }, w0), 1e-10, 1e-10, 'loss');
      stepSizes.forEach((eta, k) => {
        const w = w0.map((x, i) => x - eta * g[i]);
        expectClose(land.losses[k], quad({ A, b }, w), 1e-10, 1e-10, `loss at eta=${eta}`);
        expectClose(land.gradDiffs[k], Math.abs(eta) * normv(Ag), 1e-9, 1e-10, `gradient change at eta=${eta}`);
      });
      if (normv(g) > 1e-6) expectClose(land.betaSmoothness, normv(Ag) / normv(g), 1e-8, 1e-10, 'beta');
      expect(Number.isNaN(land.betas[0])).toBe(true); // eta = 0 moves nowhere
      expect(land.min).toBe(Math.min(...land.losses));
      expect(land.range).toBe(land.max - land.min);
      expect(land.maxGradDiff).toBe(Math.max(...land.gradDiffs));
      // The parameters are where they were.
      expect(Array.from(flattenParams(model).toTypedArray())).toEqual(w0);
    }), { numRuns: 30 });
  });

  it('beta-smoothness of A = diag(1, 10) along g = (1, 1) is ||A g|| / ||g|| = sqrt(101/2)', () => {
    const model = new Quadratic([0, 0]);
    const land = lossLandscape(model, lossOf({ A: [[1, 0], [0, 10]], b: [1, 1] }), null, { stepSizes: [0.05, 0.1] });
    expectClose(land.betaSmoothness, Math.sqrt(101 / 2));
    expectClose(land.gradDiffs[1], 0.1 * Math.sqrt(101));
    expectClose(land.losses[0], quad({ A: [[1, 0], [0, 10]], b: [1, 1] }, [-0.05, -0.05]));
  });

  it('rejects empty or non-finite step sizes', () => {
    const model = new Quadratic([1]);
    expect(() => lossLandscape(model, lossOf({ A: [[1]], b: [0] }), null, { stepSizes: [] })).toThrow(/at least one/);
    expect(() => lossLandscape(model, lossOf({ A: [[1]], b: [0] }), null, { stepSizes: [NaN] })).toThrow(/finite/);
  });
});

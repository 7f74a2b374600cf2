/**
 * hessianEigenvalues: the top-k eigenvalues of a least-squares loss against
 * a dense eigen-decomposition of its known Hessian (2/N X^T X), of a small
 * BatchNorm network against the dense Hessian from autograd's `hessian`,
 * eigenvectors orthonormal, and the model left bit-identical.
 */
import { describe, expect, it } from 'vitest';
import { Tensor, hessian } from '@normlab/autograd';
import { BatchNorm1d, Linear, Sequential, Tanh, functionalCall, mseLoss } from '@normlab/nn';
import { fromTyped } from '@normlab/tensor';
import { flattenParams, hessianEigenvalues } from '../src/index.js';
import { symmetricEigen } from '../src/symmetric-eigen.js';
import { initParams, randn } from './helpers.js';

const symmetricEigenvalues = (a: number[], n: number): number[] => symmetricEigen(a, n).values;

describe('symmetricEigen', () => {
  it('recovers the eigenpairs of Q diag(d) Q^T (Q a Householder reflection), by decreasing magnitude', () => {
    const d = [3, -7, 0.5, 2, -0.25];
    const n = d.length;
    const u = [1, -2, 0.5, 3, 1];
    const uu = u.reduce((s, x) => s + x * x, 0);
    const q = (i: number, j: number): number => (i === j ? 1 : 0) - (2 * u[i] * u[j]) / uu;
    const a = Array.from({ length: n * n }, (_, k) => {
      const [i, j] = [Math.floor(k / n), k % n];
      return d.reduce((s, dl, l) => s + q(i, l) * dl * q(j, l), 0);
    });
    const { values, vectors } = symmetricEigen(a, n);
    expect(values.map((v) => Number(v.toFixed(10)))).toEqual([-7, 3, 2, 0.5, -0.25]);
    values.forEach((lambda, e) => {
      for (let i = 0; i < n; i++) {
        const av = vectors[e].reduce((s, x, j) => s + a[i * n + j] * x, 0);
        expect(Math.abs(av - lambda * vectors[e][i])).toBeLessThan(1e-10);
      }
    });
    expect(() => symmetricEigen([1, 2, 3], 2)).toThrow(/symmetricEigen: expected 2 x 2 = 4 values, got 3/);
  });
});

describe('hessianEigenvalues', () => {
  it('finds the top eigenvalues of a least-squares loss, whose Hessian is 2/N X^T X', () => {
    const model = new Linear(5, 1, { dtype: 'float64', bias: false });
    initParams(model, 1, 1);
    const x = randn([20, 5], 2);
    const y = randn([20, 1], 3);
    const xv = Array.from(x.data.toTypedArray(), Number);
    const H = Array.from({ length: 25 }, (_, k) => {
      const [i, j] = [Math.floor(k / 5), k % 5];
      let s = 0;
      for (let r = 0; r < 20; r++) s += xv[r * 5 + i] * xv[r * 5 + j];
      return (2 / 20) * s;
    });
    const exact = symmetricEigenvalues(H, 5);
    const r = hessianEigenvalues(model, (m: Linear, b: Tensor) => mseLoss(m.forward(b), y), x, { k: 3, iterations: 500, tol: 1e-12 });
    r.eigenvalues.forEach((l, i) => expect(Math.abs(l - exact[i])).toBeLessThan(1e-6 * Math.abs(exact[0])));
    // Lanczos: the whole 5-dimensional Krylov space, so exact to rounding, in 5 products.
    const lz = hessianEigenvalues(model, (m: Linear, b: Tensor) => mseLoss(m.forward(b), y), x, { k: 3, method: 'lanczos' });
    lz.eigenvalues.forEach((l, i) => expect(Math.abs(l - exact[i])).toBeLessThan(1e-10 * Math.abs(exact[0])));
    expect(lz.iterations).toEqual([5, 5, 5]);
    for (let i = 0; i < 3; i++) expect(Math.abs(Math.abs(lz.eigenvectors[i].reduce((s, v, q) => s + v * r.eigenvectors[i][q], 0)) - 1)).toBeLessThan(1e-5);
    // Orthonormal eigenvectors.
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        const d = r.eigenvectors[i].reduce((s, v, q) => s + v * r.eigenvectors[j][q], 0);
        expect(Math.abs(d - (i === j ? 1 : 0))).toBeLessThan(1e-6);
      }
    }
  });

  it('matches the dense Hessian of a small BatchNorm network, and leaves the model bit-identical', () => {
    const model = new Sequential(new Linear(2, 3, { dtype: 'float64' }), new BatchNorm1d(3, { dtype: 'float64' }), new Tanh(), new Linear(3, 1, { dtype: 'float64' }));
    initParams(model, 4, 0.8);
    const x = randn([6, 2], 5);
    const y = randn([6, 1], 6);
    const loss = (m: Sequential, b: Tensor): Tensor => mseLoss(m.forward(b) as Tensor, y);
    const before = JSON.stringify([Array.from(flattenParams(model).toTypedArray()), [...model.namedBuffers()].map(([, b]) => Array.from(b.data.toTypedArray(), Number))]);
    const r = hessianEigenvalues(model, loss, x, { k: 2, iterations: 1000, tol: 1e-13 });
    expect(JSON.stringify([Array.from(flattenParams(model).toTypedArray()), [...model.namedBuffers()].map(([, b]) => Array.from(b.data.toTypedArray(), Number))])).toBe(before);
    expect(model.parameters().every((p) => p.grad === null)).toBe(true);
    // The dense Hessian over the flat parameters, through functionalCall and autograd's hessian.
    const names = [...model.namedParameters()].map(([k, p]) => [k, p.shape, p.size] as const);
    const flat = (w: Tensor): Tensor => {
      let o = 0;
      const params = Object.fromEntries(names.map(([k, shape, size]) => {
        const t = w.narrow(0, o, size).reshape(shape);
        o += size;
        return [k, t];
      }));
      return functionalCall<Tensor>(model, { params }, [x]).sub(y).square().mean();
    };
    const w0 = new Tensor(fromTyped(Float64Array.from(flattenParams(model).toTypedArray() as Float64Array), [flattenParams(model).size]));
    const n = w0.size;
    const dense = symmetricEigenvalues(Array.from(hessian(flat)(w0).data.toTypedArray(), Number), n);
    r.eigenvalues.forEach((l, i) => expect(Math.abs(l - dense[i])).toBeLessThan(1e-5 * Math.abs(dense[0])));
    const lz = hessianEigenvalues(model, loss, x, { k: 2, method: 'lanczos', iterations: 12 });
    lz.eigenvalues.forEach((l, i) => expect(Math.abs(l - dense[i])).toBeLessThan(1e-8 * Math.abs(dense[0])));
    expect(JSON.stringify([Array.from(flattenParams(model).toTypedArray()), [...model.namedBuffers()].map(([, b]) => Array.from(b.data.toTypedArray(), Number))])).toBe(before);
  });

  it('rejects bad options', () => {
    const model = new Linear(2, 1, { dtype: 'float64' });
    const loss = (m: Linear, b: Tensor): Tensor => m.forward(b).sum();
    expect(() => hessianEigenvalues(model, loss, randn([3, 2], 1), { k: 0 })).toThrow(/hessianEigenvalues: k must be a positive integer, got 0/);
    expect(() => hessianEigenvalues(model, loss, randn([3, 2], 1), { k: 4 })).toThrow(/k = 4 but the model has 3 trainable values/);
    expect(() => hessianEigenvalues(model, loss, randn([3, 2], 1), { method: 'arnoldi' as 'power' })).toThrow(/method must be 'power' or 'lanczos', got 'arnoldi'/);
    expect(() => hessianEigenvalues(model, loss, randn([3, 2], 1), { k: 3, method: 'lanczos', iterations: 2 })).toThrow(/k = 3 is more than the 2 Lanczos iterations/);
  });
});

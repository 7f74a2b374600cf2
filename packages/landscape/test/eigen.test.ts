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
import { initParams, randn } from './helpers.js';

/** Eigenvalues of a symmetric matrix (row-major, n x n) by cyclic Jacobi rotations, by decreasing magnitude. */
function symmetricEigenvalues(a: number[], n: number): number[] {
  const m = a.slice();
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p * n + q] ** 2;
    if (off < 1e-24) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        if (Math.abs(m[p * n + q]) < 1e-300) continue;
        const theta = (m[q * n + q] - m[p * n + p]) / (2 * m[p * n + q]);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = m[k * n + p];
          const akq = m[k * n + q];
          m[k * n + p] = c * akp - s * akq;
          m[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = m[p * n + k];
          const aqk = m[q * n + k];
          m[p * n + k] = c * apk - s * aqk;
          m[q * n + k] = s * apk + c * aqk;
        }
      }
    }
  }
  return Array.from({ length: n }, (_, i) => m[i * n + i]).sort((x, y) => Math.abs(y) - Math.abs(x));
}

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
  });

  it('rejects bad options', () => {
    const model = new Linear(2, 1, { dtype: 'float64' });
    const loss = (m: Linear, b: Tensor): Tensor => m.forward(b).sum();
    expect(() => hessianEigenvalues(model, loss, randn([3, 2], 1), { k: 0 })).toThrow(/hessianEigenvalues: k must be a positive integer, got 0/);
    expect(() => hessianEigenvalues(model, loss, randn([3, 2], 1), { k: 4 })).toThrow(/k = 4 but the model has 3 trainable values/);
  });
});

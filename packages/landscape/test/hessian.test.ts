/** g^T H g through double backward on networks, against finite differences of the gradient. */
import { describe, it } from 'vitest';
import { Tensor } from '@normlab/autograd';
import { BatchNorm1d, Linear, Module, Sequential, Tanh, crossEntropy } from '@normlab/nn';
import { fromTyped } from '@normlab/tensor';
import { flattenGrads, flattenParams, hessianQuadraticForm, unflattenParams } from '../src/index.js';
import { expectClose, initParams, randn } from './helpers.js';

/** (g(w + h g) - g(w - h g)) . g / (2h): g^T H g by central differences of the gradient. */
function finiteDifference(model: Module, loss: () => Tensor, h = 1e-5): number {
  const gradAt = (): Float64Array => {
    model.zeroGrad();
    loss().backward();
    return Float64Array.from(flattenGrads(model).toTypedArray());
  };
  const w = flattenParams(model);
  const g = gradAt();
  const shifted = (s: number): Float64Array => {
    unflattenParams(model, fromTyped(Float64Array.from(w.toTypedArray(), (x, i) => x + s * g[i]), w.shape));
    return gradAt();
  };
  const plus = shifted(h);
  const minus = shifted(-h);
  unflattenParams(model, w);
  return g.reduce((s, gi, i) => s + gi * (plus[i] - minus[i]), 0) / (2 * h);
}

describe('hessianQuadraticForm on networks', () => {
  it('matches finite differences through Linear, BatchNorm (training mode) and tanh', () => {
    for (const seed of [1, 2, 3]) {
      const model = new Sequential(new Linear(3, 5, { dtype: 'float64' }), new BatchNorm1d(5, { dtype: 'float64' }), new Tanh(), new Linear(5, 3, { dtype: 'float64' }));
      initParams(model, seed, 0.8);
      const x = randn([8, 3], seed + 10);
      const labels = new Tensor(fromTyped(Int32Array.from([0, 1, 2, 0, 1, 2, 0, 1]), [8]));
      const loss = (m: Sequential, b: Tensor): Tensor => crossEntropy(m.forward(b) as Tensor, labels);
      const r = hessianQuadraticForm(model, loss, x);
      const fd = finiteDifference(model, () => loss(model, x));
      expectClose(r.quadraticForm, fd, 1e-5, 1e-8, `g^T H g (seed ${seed})`);
      expectClose(r.normalized, fd / r.gradNorm ** 2, 1e-5, 1e-8, 'normalized');
    }
  });
});

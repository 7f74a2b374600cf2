/**
 * Forward mode through whole networks: jvp of a loss with respect to every
 * parameter (through functionalCall), for the normalizations' fused ops
 * (BatchNorm's training and eval paths, LayerNorm, GroupNorm, RMSNorm) in
 * conv and MLP nets, against central differences and against reverse mode by
 * the transpose identity <u, J v> = <J^T u, v>; and jvp under vmap
 * (per-sample directional derivatives) equal to the loop.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Tensor, jvp, stack, tensor, vjp, vmap } from '@normlab/autograd';
import {
  BatchNorm1d, BatchNorm2d, Conv2d, Flatten, GELU, GroupNorm, LayerNorm, Linear, MaxPool2d, type Module, RMSNorm, ReLU, Sequential, Tanh,
  crossEntropy, functionalCall,
} from '../src/index.js';
import { expectClose, randT, seedArb, vals } from './norm-helpers.js';

const NETS: [string, () => Module, number[]][] = [
  ['conv + BatchNorm2d + maxpool', () => new Sequential(new Conv2d(2, 3, 3, { padding: 1, dtype: 'float64' }), new BatchNorm2d(3, { dtype: 'float64' }),
    new ReLU(), new MaxPool2d(2), new Flatten(), new Linear(12, 3, { dtype: 'float64' })), [4, 2, 4, 4]],
  ['conv + GroupNorm', () => new Sequential(new Conv2d(2, 4, 3, { dtype: 'float64' }), new GroupNorm(2, 4, { dtype: 'float64' }), new Tanh(),
    new Flatten(), new Linear(16, 3, { dtype: 'float64' })), [3, 2, 4, 4]],
  ['MLP + LayerNorm + RMSNorm', () => new Sequential(new Linear(5, 6, { dtype: 'float64' }), new LayerNorm(6, { dtype: 'float64' }), new GELU(),
    new Linear(6, 4, { dtype: 'float64' }), new RMSNorm(4, { dtype: 'float64' }), new Linear(4, 3, { dtype: 'float64' })), [4, 5]],
  ['MLP + BatchNorm1d', () => new Sequential(new Linear(5, 6, { dtype: 'float64' }), new BatchNorm1d(6, { dtype: 'float64' }), new Tanh(),
    new Linear(6, 3, { dtype: 'float64' })), [6, 5]],
];

const dot = (ps: readonly Tensor[], qs: readonly Tensor[]): number => ps.reduce((s, p, i) => s + vals(p.mul(qs[i]).sum())[0], 0);

describe('jvp through networks (functionalCall over every parameter)', () => {
  for (const [name, make, inShape] of NETS) {
    for (const mode of ['train', 'eval'] as const) {
      it(`${name}, ${mode} mode: central differences and the transpose identity with vjp`, () => {
        fc.assert(fc.property(seedArb, (seed) => {
          const model = make();
          if (mode === 'eval') model.eval();
          const names = [...model.namedParameters()].map(([k]) => k);
          const params = [...model.parameters()].map((p) => p.detach());
          const x = randT(inShape, seed, { requiresGrad: false });
          const target = tensor(Array.from({ length: inShape[0] }, (_, i) => (seed + i) % 3), { dtype: 'int32' });
          const loss = (...ps: Tensor[]): Tensor =>
            crossEntropy(functionalCall<Tensor>(model, { params: Object.fromEntries(names.map((k, i) => [k, ps[i]])) }, [x]), target);
          const tangents = params.map((p, i) => randT(p.shape, seed + 10 + i, { requiresGrad: false }));
          const [value, directional] = jvp(loss, params, tangents);
          expectClose(vals(value), vals(loss(...params)), 0, 0);
          const eps = 1e-6;
          const at = (s: number): number => vals(loss(...params.map((p, i) => p.add(tangents[i].mul(s)))))[0];
          expectClose(vals(directional), [(at(eps) - at(-eps)) / (2 * eps)], 1e-7, 1e-6);
          const grads = vjp(loss, ...params)[1](tensor(1, { dtype: 'float64' }));
          expectClose(vals(directional), [dot(grads, tangents)], 1e-12, 1e-9);
          // Every parameter of the model is as it was (jvp touches nothing).
          expect([...model.parameters()].every((p, i) => vals(p).every((v, j) => v === vals(params[i])[j]) && p.grad === null)).toBe(true);
        }), { numRuns: 4 });
      });
    }
  }
});

describe('jvp under vmap', () => {
  it('per-sample directional derivatives of a LayerNorm MLP equal the loop over samples', () => {
    const model = new Sequential(new Linear(4, 5, { dtype: 'float64' }), new LayerNorm(5, { dtype: 'float64' }), new Tanh(), new Linear(5, 2, { dtype: 'float64' }));
    const x = randT([3, 4], 1, { requiresGrad: false });
    const v = randT([3, 4], 2, { requiresGrad: false });
    const f = (xi: Tensor): Tensor => model.forward(xi.unsqueeze(0)).squeeze(0);
    const batched = vmap((xi: Tensor, vi: Tensor) => jvp(f, [xi], [vi])[1])(x, v) as Tensor;
    const loop = stack([0, 1, 2].map((b) => jvp(f, [x.select(0, b)], [v.select(0, b)])[1]), 0);
    expect(vals(batched)).toEqual(vals(loop));
  });
});

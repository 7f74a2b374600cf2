/**
 * vmap against its definition: vmap(f)(x) is f of each slice, stacked
 * (random shapes, inDims and outDims, negative ones included), several
 * inputs and outputs, unmapped inputs, gradients through it, nesting, its
 * composition with jacrev and grad (per-sample gradients), torch.func's
 * randomness modes, and the errors.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Generator } from '@normlab/tensor';
import { Tensor, grad, isVmapping, jacrev, randn, stack, vmap } from '../src/index.js';
import { RUNS, expectClose, randT, seedArb, shapeWithDimArb, vals } from './helpers.js';

/** f over every slice of x along dim, stacked along outDim: the definition vmap must meet. */
function loop(f: (x: Tensor) => Tensor, x: Tensor, dim: number, outDim: number): Tensor {
  const d = dim < 0 ? dim + x.ndim : dim;
  const parts = Array.from({ length: x.shape[d] }, (_, b) => f(x.select(d, b)));
  return stack(parts, outDim < 0 ? outDim + parts[0].ndim + 1 : outDim);
}

describe('vmap equals stacking f over the batch', () => {
  it('any shape, mapped dimension and output dimension (negative ones too), for elementwise ops, reductions and products', () => {
    fc.assert(fc.property(shapeWithDimArb({ minRank: 1, maxRank: 4, maxDim: 4 }), seedArb, fc.boolean(), fc.nat(), (sd, seed, negative, o) => {
      const x = randT(sd.shape, seed);
      const dim = negative ? sd.dim - sd.shape.length : sd.dim;
      const fs: ((t: Tensor) => Tensor)[] = [
        (t) => t.sin().mul(t).add(1),
        (t) => t.sum(),
        (t) => (t.ndim > 0 ? t.softmax(-1) : t.exp()),
        (t) => (t.ndim >= 2 ? t.matmul(t.transpose(-2, -1)) : t.mul(t)),
      ];
      for (const f of fs) {
        const ref = f(x.select(dim < 0 ? dim + x.ndim : dim, 0));
        const outDim = (o % (ref.ndim + 1)) - (negative ? ref.ndim + 1 : 0);
        const got = vmap(f, { inDims: dim, outDims: outDim })(x);
        const want = loop(f, x, dim, outDim);
        expect(got.shape).toEqual(want.shape);
        expectClose(vals(got), vals(want), 0, 0);
      }
    }), { numRuns: RUNS });
  });

  it('several inputs, one unmapped (inDims null), and several outputs with their own outDims', () => {
    const xs = randT([5, 3], 1);
    const w = randT([3, 2], 2);
    const ys = randT([2, 5], 3); // batch on dim 1
    const [a, b] = vmap((x: Tensor, weight: Tensor, y: Tensor): Tensor[] => [x.matmul(weight).add(y), x.sum()], { inDims: [0, null, 1], outDims: [1, 0] })(xs, w, ys);
    expect(a.shape).toEqual([2, 5]);
    expectClose(vals(a), vals(xs.matmul(w).add(ys.transpose(0, 1)).transpose(0, 1)), 1e-12, 1e-12);
    expectClose(vals(b), vals(xs.sum(1)), 1e-12, 1e-12);
  });

  it('is differentiable: gradients through vmap are those of the loop', () => {
    const x = randT([4, 3], 5, { requiresGrad: true });
    const w = randT([3], 6, { requiresGrad: true });
    const f = (r: Tensor, weight: Tensor): Tensor => r.mul(weight).tanh().sum();
    const [gx, gw] = grad([vmap(f, { inDims: [0, null] })(x, w).pow(2).sum()], [x, w]);
    const [lx, lw] = grad([stack([0, 1, 2, 3].map((b) => f(x.select(0, b), w))).pow(2).sum()], [x, w]);
    expectClose(vals(gx!), vals(lx!), 1e-12, 1e-12);
    expectClose(vals(gw!), vals(lw!), 1e-12, 1e-12);
  });

  it('nests (a double batch) and composes with jacrev (per-example Jacobians)', () => {
    const x = randT([2, 3, 4], 7);
    const f = (t: Tensor): Tensor => t.mul(t).sum();
    const twice = vmap(vmap(f));
    expectClose(vals(twice(x)), vals(x.mul(x).sum(2)), 1e-12, 1e-12);
    const g = (t: Tensor): Tensor => t.sin().mul(t.sum());
    const jacs = vmap(jacrev(g))(x.select(0, 0)); // [3, 4, 4]
    for (let b = 0; b < 3; b++) expectClose(vals(jacs.select(0, b)), vals(jacrev(g)(x.select(0, 0).select(0, b))), 1e-12, 1e-12);
  });

  it('per-example gradients of a loss in one call, and isVmapping inside only', () => {
    const X = randT([6, 3], 8);
    const Y = randT([6], 9);
    const w = randT([3], 10);
    let inside = false;
    const perExample = vmap((x: Tensor, y: Tensor, weight: Tensor): Tensor => {
      inside = isVmapping();
      const p = weight.detach().requiresGrad_();
      return grad([x.mul(p).sum().sub(y).pow(2)], [p])[0]!;
    }, { inDims: [0, 0, null] })(X, Y, w);
    expect(inside).toBe(true);
    expect(isVmapping()).toBe(false);
    // d/dw (x.w - y)^2 = 2 (x.w - y) x, per example.
    const r = X.mul(w).sum(1).sub(Y).mul(2);
    expectClose(vals(perExample), vals(X.mul(r.unsqueeze(1))), 1e-12, 1e-12);
  });
});

describe("vmap's randomness modes (torch.func's)", () => {
  const x = randT([3, 4], 11);
  it("'error' (the default) refuses a random op, naming the modes", () => {
    const g = new Generator(1);
    expect(() => vmap((t: Tensor) => t.add(randn([4], { generator: g })))(x)).toThrow(/vmap: a random operation was called in randomness mode 'error'; pass \{ randomness: 'same' \} or \{ randomness: 'different' \}/);
    expect(isVmapping()).toBe(false);
  });

  it("'same' gives every example the same draws and advances the generator as one call would; 'different' draws anew", () => {
    const g = new Generator(2);
    const same = vmap((t: Tensor) => randn([4], { generator: g }).add(t.mul(0)), { randomness: 'same' })(x);
    for (let b = 1; b < 3; b++) expect(vals(same.select(0, b))).toEqual(vals(same.select(0, 0)));
    const h = new Generator(2);
    expect(vals(same.select(0, 0))).toEqual(vals(randn([4], { generator: h })));
    expect(g.getState()).toEqual(h.getState());
    const different = vmap((t: Tensor) => randn([4], { generator: g }).add(t.mul(0)), { randomness: 'different' })(x);
    expect(vals(different.select(0, 1))).not.toEqual(vals(different.select(0, 0)));
  });
});

describe('vmap rejects bad input with a clear error', () => {
  const x = randT([3, 2], 12);
  it.each([
    ['different batch sizes', () => vmap((a: Tensor, b: Tensor) => a.add(b))(x, randT([4, 2], 1)), /vmap: the mapped inputs have different batch sizes: 3 and 4 \(input 1, dim 0, shape \[4, 2\]\)/],
    ['nothing mapped', () => vmap((a: Tensor) => a, { inDims: null })(x), /at least one input must be mapped/],
    ['a mapped non-tensor', () => vmap((a: Tensor, k: number) => a.mul(k))(x, 2 as unknown as number), /input 1 is mapped \(inDims 0\) but is not a Tensor; give it inDims null/],
    ['a 0-d input', () => vmap((a: Tensor) => a)(x.sum()), /0-d tensor, which has no dimension to map over/],
    ['inDims out of range', () => vmap((a: Tensor) => a, { inDims: 2 })(x), /vmap: inDims of input 0: 2 is out of range for a tensor of 2 dimensions/],
    ['outDims out of range', () => vmap((a: Tensor) => a, { outDims: 3 })(x), /outDims of output 0: 3 is out of range/],
    ['inDims of the wrong length', () => vmap((a: Tensor) => a, { inDims: [0, 0] })(x), /vmap: inDims has 2 entries for 1 inputs/],
    ['a non-tensor result', () => vmap(((a: Tensor) => a.sum().item()) as unknown as (a: Tensor) => Tensor)(x), /must return a Tensor or an array of Tensors/],
    ['shapes that differ between examples', () => {
      let calls = 0;
      return vmap((a: Tensor) => (calls++ === 0 ? a : a.sum()))(x);
    }, /output 0 has different shapes/],
    ['a Tensor for one example and an array for another', () => {
      let calls = 0;
      return vmap(((a: Tensor) => (calls++ === 0 ? a : [a])) as (a: Tensor) => Tensor)(x);
    }, /returned a Tensor for one example and an array for another/],
    ['an unknown randomness mode', () => vmap((a: Tensor) => a, { randomness: 'sometimes' as 'same' })(x), /randomness must be 'error', 'different' or 'same', got 'sometimes'/],
    ['an empty batch', () => vmap((a: Tensor) => a)(randT([0, 2], 5)), /the batch is empty/],
  ])('%s', (_, call, message) => {
    expect(call).toThrow(message);
    expect(isVmapping()).toBe(false);
  });
});

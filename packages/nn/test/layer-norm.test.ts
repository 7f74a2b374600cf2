/**
 * LayerNorm and layerNorm: values against a plain loop, the per-row mean and
 * variance, gradients (first and second order) for the input and both
 * affine parameters, options and errors.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as nd from '@normlab/tensor';
import { LayerNorm } from '../src/normalization/layer-norm.js';
import { layerNorm } from '../src/functional/layer-norm.js';
import { checkGrad, checkGradGrad, expectClose, randT, randomize, seedArb, vals } from './norm-helpers.js';

/** Per-row mean and biased variance of the last `k` dims' values, by a plain loop. */
function rowStats(values: number[], rowSize: number): { mean: number[]; variance: number[] } {
  const mean: number[] = [];
  const variance: number[] = [];
  for (let r = 0; r < values.length / rowSize; r++) {
    const row = values.slice(r * rowSize, (r + 1) * rowSize);
    const m = row.reduce((a, b) => a + b, 0) / rowSize;
    mean.push(m);
    variance.push(row.reduce((a, b) => a + (b - m) ** 2, 0) / rowSize);
  }
  return { mean, variance };
}

describe('layerNorm forward', () => {
  it('matches (x - mu) / sqrt(var + eps) * w + b computed by a loop', () => {
    const x = randT([2, 3, 4], 1, { scale: 3 });
    const w = randT([3, 4], 2);
    const b = randT([3, 4], 3);
    const y = layerNorm(x, [3, 4], w, b, 1e-3);
    const xs = vals(x);
    const { mean, variance } = rowStats(xs, 12);
    const ws = vals(w);
    const bs = vals(b);
    const expected = xs.map((v, i) => ((v - mean[Math.floor(i / 12)]) / Math.sqrt(variance[Math.floor(i / 12)] + 1e-3)) * ws[i % 12] + bs[i % 12]);
    expectClose(vals(y), expected, 1e-12, 1e-12);
  });

  it('each normalized row has mean beta and biased variance var / (var + eps) (weight 1, constant bias)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 2, max: 6 }), seedArb, fc.double({ min: -2, max: 2, noNaN: true }), (rows, d, seed, beta) => {
      const ln = new LayerNorm(d, { dtype: 'float64' });
      ln.bias!.data = nd.add(ln.bias!.data, beta);
      const x = randT([rows, d], seed, { scale: 2 });
      const out = rowStats(vals(ln.forward(x)), d);
      const inp = rowStats(vals(x), d);
      expectClose(out.mean, inp.mean.map(() => beta), 1e-9, 0, 'row mean');
      expectClose(out.variance, inp.variance.map((v) => v / (v + 1e-5)), 1e-9, 1e-9, 'row variance');
    }), { numRuns: 10 });
  });

  it('eps positionally or as { eps } is the same; an int normalizedShape is [n]', () => {
    const x = randT([3, 5], 4);
    expect(vals(layerNorm(x, 5, null, null, 0.1))).toEqual(vals(layerNorm(x, [5], null, null, { eps: 0.1 })));
    expect(new LayerNorm(5).normalizedShape).toEqual([5]);
  });

  it('training and eval mode compute the same thing', () => {
    const ln = new LayerNorm([4], { dtype: 'float64' });
    const x = randT([2, 4], 5);
    const a = vals(ln.forward(x));
    ln.eval();
    expect(vals(ln.forward(x))).toEqual(a);
  });
});

describe('LayerNorm options', () => {
  it('has weight (ones) and bias (zeros) of normalizedShape by default, no buffers', () => {
    const ln = new LayerNorm([2, 3]);
    expect([...ln.namedParameters()].map(([k, p]) => [k, p.shape])).toEqual([['weight', [2, 3]], ['bias', [2, 3]]]);
    expect(vals(ln.weight!)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(vals(ln.bias!)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(ln.buffers()).toEqual([]);
    expect(ln.toString()).toBe('LayerNorm([2,3], eps=0.00001, elementwiseAffine=true)'.replace('0.00001', String(1e-5)));
  });

  it('bias: false keeps only the weight; elementwiseAffine: false has no parameters', () => {
    expect([...new LayerNorm(3, { bias: false }).namedParameters()].map(([k]) => k)).toEqual(['weight']);
    expect(new LayerNorm(3, { elementwiseAffine: false }).parameters()).toEqual([]);
  });
});

describe('LayerNorm gradients', () => {
  it('gradcheck for the input and every parameter over random shapes and options (float64)', () => {
    const arb = fc.record({
      lead: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 0, maxLength: 2 }),
      norm: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 2 }),
      affine: fc.boolean(),
      bias: fc.boolean(),
      eps: fc.constantFrom(1e-5, 0.1),
      seed: seedArb,
    }).filter(({ lead, norm }) => [...lead, ...norm].reduce((a, b) => a * b, 1) <= 18 && norm.reduce((a, b) => a * b, 1) > 1);
    fc.assert(fc.property(arb, ({ lead, norm, affine, bias, eps, seed }) => {
      const ln = new LayerNorm(norm, { elementwiseAffine: affine, bias, eps, dtype: 'float64' });
      randomize(ln.weight, seed + 1);
      randomize(ln.bias, seed + 2);
      const x = randT([...lead, ...norm], seed, { scale: 2 });
      checkGrad(() => ln.forward(x), [x, ...ln.parameters()]);
    }), { numRuns: 8 });
  });

  it('gradgradcheck (input, weight, bias)', () => {
    const x = randT([2, 4], 7);
    const w = randT([4], 8);
    const b = randT([4], 9);
    checkGradGrad((xx, ww, bb) => layerNorm(xx, [4], ww, bb), [x, w, b], 3);
  });
});

describe('LayerNorm errors', () => {
  it('a trailing shape other than normalizedShape throws, naming the op', () => {
    expect(() => new LayerNorm([3, 4]).forward(randT([2, 4, 3], 1))).toThrow(/LayerNorm: expected input with shape \[\*, 3, 4\]/);
    expect(() => new LayerNorm([3]).forward(randT([], 1))).toThrow(/LayerNorm/);
    expect(() => layerNorm(randT([2, 5], 1), [4])).toThrow(/layerNorm: given normalizedShape=\[4\]/);
  });

  it('bad weight / bias shapes, normalizedShape and eps throw', () => {
    expect(() => layerNorm(randT([2, 4], 1), [4], randT([3], 2))).toThrow(/layerNorm: expected weight of shape \[4\]/);
    expect(() => layerNorm(randT([2, 4], 1), [4], null, randT([2, 4], 2))).toThrow(/layerNorm: expected bias/);
    expect(() => new LayerNorm([])).toThrow(/LayerNorm: normalizedShape must have at least one dim/);
    expect(() => new LayerNorm([2, 0])).toThrow(/LayerNorm: normalizedShape must hold positive integers/);
    expect(() => new LayerNorm(2, { eps: 0 })).toThrow(/LayerNorm: eps must be positive/);
    expect(() => layerNorm(randT([2, 4], 1), 4, null, null, -1)).toThrow(/layerNorm: eps/);
  });
});

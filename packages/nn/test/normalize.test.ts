/**
 * The normalization core (src/functional/normalize.ts) on float32 arrays large
 * enough for the SIMD kernels: LayerNorm, GroupNorm, InstanceNorm and weight
 * standardization against float64 references of the same formulas, forward
 * and backward, and the fused backward against the composed one that
 * createGraph differentiates.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Tensor, grad } from '@normlab/autograd';
import * as nd from '@normlab/tensor';
import { groupNorm } from '../src/functional/group-norm.js';
import { instanceNorm } from '../src/functional/instance-norm.js';
import { layerNorm } from '../src/functional/layer-norm.js';
import { standardizeWeight } from '../src/normalization/weight-standardization.js';
import { seedArb } from './norm-helpers.js';

/** A float32 and a float64 leaf with the same (float32-representable) N(offset, scale^2) values. */
function pair(shape: number[], seed: number, offset = 0, scale = 1): [Tensor, Tensor] {
  const g = new nd.Generator(seed);
  const v = Float32Array.from({ length: nd.sizeOf(shape) }, () => offset + scale * g.normal());
  return [new Tensor(nd.fromTyped(v, shape), { requiresGrad: true }), new Tensor(nd.fromTyped(Float64Array.from(v), shape), { requiresGrad: true })];
}

/** Largest |a - b| / (atol + |b|) over the elements. */
function worst(a: Tensor, b: Tensor, atol: number): number {
  const x = a.toTypedArray();
  const y = b.toTypedArray();
  let w = 0;
  for (let i = 0; i < x.length; i++) w = Math.max(w, Math.abs(x[i] - y[i]) / (atol + Math.abs(y[i])));
  return w;
}

const CASES: [string, number[], (x: Tensor) => Tensor][] = [
  ['layerNorm', [37, 2, 300], (x) => layerNorm(x, [2, 300])],
  ['groupNorm', [3, 12, 9, 11], (x) => groupNorm(x, 4)],
  ['instanceNorm', [2, 5, 70, 3], (x) => instanceNorm(x)],
  ['standardizeWeight', [40, 16, 3, 3], (x) => standardizeWeight(x)],
];

describe('normalizeGroups on float32 (the SIMD kernels)', () => {
  it.each(CASES)('%s: forward and backward agree with float64 within float32 rounding', (_, shape, f) => {
    fc.assert(fc.property(seedArb, fc.constantFrom(0, 1e3), (seed, offset) => {
      const [x32, x64] = pair(shape, seed, offset);
      const [g32, g64] = pair(shape, seed + 1);
      const y32 = f(x32);
      const y64 = f(x64);
      expect(y32.dtype).toBe('float32');
      // float64 sums in both; the float32 path keeps the mean as float32 (as PyTorch does),
      // so xhat may be off by the mean's rounding over sigma (~1), plus its own rounding
      const meanUlp = 2 ** -24 * (offset + 8);
      expect(worst(y32, y64, meanUlp / 1e-6)).toBeLessThan(1e-6);
      const [dx32] = grad(y32, x32, { gradOutputs: [g32.detach()] });
      const [dx64] = grad(y64, x64, { gradOutputs: [g64.detach()] });
      // dx: a difference of sums; scale its error by the largest gradient
      const scale = Math.max(...Array.from(dx64!.toTypedArray(), Math.abs));
      expect(worst(dx32!, dx64!, scale)).toBeLessThan(1e-5);
    }), { numRuns: 3 });
  });

  it.each(CASES)('%s: the fused backward equals the composed one (createGraph) in float64', (_, shape, f) => {
    const [, x] = pair(shape, 5, 2, 3);
    const [, g] = pair(shape, 6);
    const y = f(x);
    const [fused] = grad(y, x, { gradOutputs: [g.detach()], retainGraph: true });
    const [composed] = grad(y, x, { gradOutputs: [g.detach()], createGraph: true });
    expect(composed!.requiresGrad).toBe(true);
    expect(worst(fused!, composed!.detach(), 1e-9)).toBeLessThan(1e-9);
  });

  it('an empty input gives an empty output that still backpropagates', () => {
    const x = new Tensor(nd.zeros([0, 4]), { requiresGrad: true });
    const y = layerNorm(x, [4]);
    expect(y.shape).toEqual([0, 4]);
    y.sum().backward();
    expect(x.grad!.shape).toEqual([0, 4]);
  });
});

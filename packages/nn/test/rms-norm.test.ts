/**
 * RMSNorm and rmsNorm (Zhang & Sennrich 2019, as torch.nn.RMSNorm): values
 * against a plain loop, the identities (mean square of the output, scale
 * invariance, no centering), PyTorch's defaults (eps from the dtype),
 * gradients of first and second order, and errors.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RMSNorm } from '../src/normalization/rms-norm.js';
import { machineEpsilon, rmsNorm } from '../src/functional/rms-norm.js';
import { checkGrad, checkGradGrad, expectClose, randT, randomize, seedArb, vals } from './norm-helpers.js';

/** x / sqrt(mean(x^2) + eps) * w per row of `n` values, by a loop. */
function reference(x: number[], n: number, eps: number, w: number[] | null): number[] {
  const out: number[] = [];
  for (let r = 0; r < x.length / n; r++) {
    const row = x.slice(r * n, (r + 1) * n);
    const rms = Math.sqrt(row.reduce((a, b) => a + b * b, 0) / n + eps);
    row.forEach((v, i) => out.push((v / rms) * (w ? w[i] : 1)));
  }
  return out;
}

describe('rmsNorm forward', () => {
  it('matches x / sqrt(mean(x^2) + eps) * w computed by a loop, over the last one or two dims', () => {
    for (const [shape, norm] of [[[2, 3, 4], [4]], [[3, 2, 5], [2, 5]]] as const) {
      const x = randT([...shape], 1, { scale: 3 });
      const w = randT([...norm], 2);
      const n = norm.reduce((a, b) => a * b, 1);
      expectClose(vals(rmsNorm(x, norm, w, 1e-6)), reference(vals(x), n, 1e-6, vals(w)), 1e-12, 1e-12);
      expectClose(vals(rmsNorm(x, norm)), reference(vals(x), n, 2 ** -52, null), 1e-12, 1e-12);
    }
  });

  it('every row of the output has mean square ms / (ms + eps), keeps the signs, and is scale invariant', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 2, max: 9 }), seedArb, fc.double({ min: 0.01, max: 100, noNaN: true }), (rows, d, seed, c) => {
      const x = randT([rows, d], seed);
      const eps = 1e-3;
      const y = vals(rmsNorm(x, d, null, eps));
      const xv = vals(x);
      for (let r = 0; r < rows; r++) {
        const ms = xv.slice(r * d, (r + 1) * d).reduce((a, b) => a + b * b, 0) / d;
        const ys = y.slice(r * d, (r + 1) * d).reduce((a, b) => a + b * b, 0) / d;
        expect(Math.abs(ys - ms / (ms + eps))).toBeLessThan(1e-12);
      }
      y.forEach((v, i) => expect(Math.sign(v)).toBe(Math.sign(xv[i])));
      // eps tiny against the mean square: rmsNorm(c x) = rmsNorm(x) for c > 0
      expectClose(vals(rmsNorm(x.mul(c), d, null, 1e-300)), vals(rmsNorm(x, d, null, 1e-300)), 1e-12, 1e-12);
    }), { numRuns: 30 });
  });

  it('has PyTorch\'s defaults: eps = the dtype\'s machine epsilon, weight ones of normalizedShape, no bias, no buffers', () => {
    expect(machineEpsilon('float32')).toBe(1.1920928955078125e-7);
    expect(machineEpsilon('float64')).toBe(2.220446049250313e-16);
    const norm = new RMSNorm([3, 4]);
    expect(norm.eps).toBeNull();
    expect(norm.weight!.shape).toEqual([3, 4]);
    expect(vals(norm.weight!).every((v) => v === 1)).toBe(true);
    expect(norm.parameters()).toHaveLength(1);
    expect([...norm.namedBuffers()]).toHaveLength(0);
    expect(new RMSNorm(4, { elementwiseAffine: false }).parameters()).toHaveLength(0);
    expect(String(norm)).toContain('eps=None');
    // eps null, a number or { eps } positionally
    const x = randT([2, 4], 3);
    expectClose(vals(new RMSNorm(4, { dtype: 'float64' }).forward(x)), vals(rmsNorm(x, 4, null, 2 ** -52)), 0, 0);
    expectClose(vals(rmsNorm(x, [4], null, { eps: 0.5 })), vals(rmsNorm(x, 4, null, 0.5)), 0, 0);
    // float32 uses float32's epsilon
    const x32 = x.astype('float32');
    expectClose(vals(rmsNorm(x32, 4)), vals(rmsNorm(x32, 4, null, 2 ** -23)), 0, 0);
  });

  it('training and eval mode compute the same thing', () => {
    const norm = new RMSNorm(5, { dtype: 'float64' });
    const x = randT([3, 5], 4);
    const a = vals(norm.forward(x));
    norm.eval();
    expect(vals(norm.forward(x))).toEqual(a);
  });
});

describe('rmsNorm gradients', () => {
  it('gradcheck for the input and the weight over random shapes and options (float64)', () => {
    const arb = fc.record({
      lead: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 0, maxLength: 2 }),
      norm: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 2 }),
      affine: fc.boolean(),
      eps: fc.constantFrom(null, 1e-5, 0.1),
      seed: seedArb,
    }).filter(({ lead, norm }) => [...lead, ...norm].reduce((a, b) => a * b, 1) <= 18);
    fc.assert(fc.property(arb, ({ lead, norm, affine, eps, seed }) => {
      const layer = new RMSNorm(norm, { elementwiseAffine: affine, eps, dtype: 'float64' });
      randomize(layer.weight, seed + 1);
      const x = randT([...lead, ...norm], seed, { scale: 2 });
      checkGrad(() => layer.forward(x), [x, ...layer.parameters()]);
    }), { numRuns: 8 });
  });

  it('gradgradcheck (input, weight)', () => {
    checkGradGrad((xx, ww) => rmsNorm(xx, [4], ww, 1e-3), [randT([2, 4], 7), randT([4], 8)], 3);
  });
});

describe('RMSNorm errors', () => {
  it('a trailing shape other than normalizedShape, a bad weight, eps or dtype throws, naming the op', () => {
    expect(() => new RMSNorm([3, 4]).forward(randT([2, 4, 3], 1))).toThrow(/rmsNorm: given normalizedShape=\[3,4\], expected input with shape \[\*, 3, 4\]/);
    expect(() => rmsNorm(randT([2, 4], 1), [4], randT([3], 2))).toThrow(/rmsNorm: expected weight of shape \[4\]/);
    expect(() => new RMSNorm([])).toThrow(/RMSNorm: normalizedShape must have at least one dim/);
    expect(() => new RMSNorm(2, { eps: 0 })).toThrow(/RMSNorm: eps must be positive or null/);
    expect(() => rmsNorm(randT([2, 4], 1), 4, null, -1)).toThrow(/rmsNorm: eps must be positive/);
    expect(() => rmsNorm(randT([2, 4], 1).astype('int32'), 4)).toThrow(/rmsNorm: expected a floating point input, got int32/);
  });
});

/**
 * Dropout: inverted scaling, statistics of the mask, eval / p = 0 identity,
 * p = 1 zeros, reproducibility from a seed, gradients and validation.
 */
import { describe, expect, it } from 'vitest';
import { Tensor, manualSeed, ones, tensor } from '@normlab/autograd';
import { Generator } from '@normlab/tensor';
import { Dropout, dropout } from '../src/dropout.js';

const vals = (t: Tensor): number[] => Array.from(t.toTypedArray(), Number);

describe('Dropout in training mode', () => {
  const n = 100_000;

  for (const p of [0.1, 0.5, 0.8]) {
    it(`p=${p}: kept values are x / (1 - p), the zero fraction is p and the mean is preserved within 5 sd of the sample`, () => {
      const x = ones([n], { dtype: 'float64' });
      const y = vals(new Dropout(p, { generator: new Generator(1) }).forward(x));
      const zerosCount = y.filter((v) => v === 0).length;
      expect(y.every((v) => v === 0 || v === 1 / (1 - p))).toBe(true);
      // Binomial(n, p) zeros: sd sqrt(n p (1 - p)).
      expect(Math.abs(zerosCount - n * p)).toBeLessThan(5 * Math.sqrt(n * p * (1 - p)));
      // Each output is Bernoulli(1 - p) / (1 - p): mean 1, variance p / (1 - p).
      const mean = y.reduce((a, v) => a + v, 0) / n;
      expect(Math.abs(mean - 1)).toBeLessThan(5 * Math.sqrt(p / (1 - p) / n));
    });
  }

  it('keeps the dtype and shape; float32 inputs are scaled in float32', () => {
    const x = ones([3, 4, 5]);
    const y = new Dropout(0.3, { generator: new Generator(2) }).forward(x);
    expect(y.shape).toEqual([3, 4, 5]);
    expect(y.dtype).toBe('float32');
    expect(vals(y).every((v) => v === 0 || v === Math.fround(1 / 0.7))).toBe(true);
  });

  it('the same seed gives the same mask; another seed another one; successive calls differ', () => {
    const x = ones([200], { dtype: 'float64' });
    const a = new Dropout(0.5, { generator: new Generator(42) });
    const b = new Dropout(0.5, { generator: new Generator(42) });
    const first = vals(a.forward(x));
    expect(vals(b.forward(x))).toEqual(first);
    expect(vals(a.forward(x))).not.toEqual(first);
    expect(vals(new Dropout(0.5, { generator: new Generator(43) }).forward(x))).not.toEqual(first);
    // Without a generator: the default one, seeded by manualSeed.
    manualSeed(7);
    const c = vals(new Dropout(0.5).forward(x));
    manualSeed(7);
    expect(vals(new Dropout(0.5).forward(x))).toEqual(c);
  });

  it('the gradient is the mask scaled by 1 / (1 - p)', () => {
    const x = tensor([1, -2, 3, 4, -5, 6, 7, 8], { dtype: 'float64', requiresGrad: true });
    const y = new Dropout(0.25, { generator: new Generator(3) }).forward(x);
    y.sum().backward();
    const g = vals(x.grad!);
    const yv = vals(y);
    const xv = vals(x);
    g.forEach((gi, i) => expect(gi).toBe(yv[i] === 0 ? 0 : 1 / 0.75));
    yv.forEach((v, i) => expect(v).toBe(xv[i] * g[i]));
  });

  it('p = 1 gives zeros (and zero gradients); p = 0 returns the input itself', () => {
    const x = tensor([1, -2, 3], { dtype: 'float64', requiresGrad: true });
    const y = new Dropout(1).forward(x);
    expect(vals(y).map((v) => v + 0)).toEqual([0, 0, 0]);
    y.sum().backward();
    expect(vals(x.grad!)).toEqual([0, 0, 0]);
    expect(new Dropout(0).forward(x)).toBe(x);
  });
});

describe('Dropout in eval mode and the functional form', () => {
  it('eval() makes it the identity (the same tensor); train() turns it back on', () => {
    const d = new Dropout(0.9, { generator: new Generator(5) });
    const x = ones([50]);
    d.eval();
    expect(d.training).toBe(false);
    expect(d.forward(x)).toBe(x);
    d.train();
    expect(vals(d.forward(x)).some((v) => v === 0)).toBe(true);
  });

  it('dropout(x, p, { training: false }) is the identity; training defaults to true', () => {
    const x = ones([50]);
    expect(dropout(x, 0.5, { training: false })).toBe(x);
    expect(vals(dropout(x, 0.5, { generator: new Generator(1) })).some((v) => v === 0)).toBe(true);
    expect(dropout(ones([0]), 0.5).shape).toEqual([0]);
  });

  it('p is validated in [0, 1]; repr shows p', () => {
    for (const p of [-0.1, 1.5, Number.NaN]) expect(() => new Dropout(p)).toThrow(/between 0 and 1/);
    expect(() => dropout(ones([1]), 2)).toThrow(/between 0 and 1/);
    expect(new Dropout().p).toBe(0.5);
    expect(new Dropout().toString()).toBe('Dropout(p=0.5)');
    expect(new Dropout(0.1).parameters()).toEqual([]);
  });
});

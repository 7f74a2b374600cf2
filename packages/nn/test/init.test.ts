/**
 * torch.nn.init semantics: gains, fans, bounds and spreads of the random
 * initializations (tolerances from the sample size), seeding, and errors.
 */
import { describe, expect, it } from 'vitest';
import { type Tensor, zeros } from '@normlab/autograd';
import { Generator } from '@normlab/tensor';
import { Linear, type init as initNs, init } from '../src/index.js';

type Nonlinearity = initNs.Nonlinearity;

const vals = (t: Tensor): number[] => Array.from(t.toTypedArray(), Number);

function stats(xs: readonly number[]): { mean: number; std: number; min: number; max: number } {
  let s = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const x of xs) {
    s += x;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  const mean = s / xs.length;
  let v = 0;
  for (const x of xs) v += (x - mean) ** 2;
  return { mean, std: Math.sqrt(v / (xs.length - 1)), min, max };
}

/**
 * Checks the sample mean and std against the law's, within 6 standard errors:
 * se(mean) = sigma / sqrt(n), se(std) ~ sigma * sqrt((kurtosis - 1) / (4 n)).
 */
function expectSpread(xs: readonly number[], mean: number, sigma: number, kurtosis: number): void {
  const n = xs.length;
  const s = stats(xs);
  expect(Math.abs(s.mean - mean)).toBeLessThan((6 * sigma) / Math.sqrt(n));
  expect(Math.abs(s.std - sigma)).toBeLessThan(6 * sigma * Math.sqrt((kurtosis - 1) / (4 * n)));
}
const UNIFORM_KURTOSIS = 1.8;
const NORMAL_KURTOSIS = 3;

describe('calculateGain', () => {
  it('matches torch.nn.init.calculate_gain', () => {
    const cases: [Nonlinearity, number | undefined, number][] = [
      ['linear', undefined, 1],
      ['conv1d', undefined, 1],
      ['conv2d', undefined, 1],
      ['conv3d', undefined, 1],
      ['convTranspose2d', undefined, 1],
      ['sigmoid', undefined, 1],
      ['tanh', undefined, 5 / 3],
      ['relu', undefined, Math.sqrt(2)],
      ['leakyRelu', undefined, Math.sqrt(2 / (1 + 0.01 ** 2))],
      ['leakyRelu', 0.2, Math.sqrt(2 / 1.04)],
      ['leakyRelu', 0, Math.sqrt(2)],
      ['leakyRelu', Math.sqrt(5), Math.sqrt(1 / 3)],
      ['selu', undefined, 0.75],
    ];
    for (const [nl, param, gain] of cases) expect(init.calculateGain(nl, param)).toBeCloseTo(gain, 14);
  });

  it('rejects an unknown nonlinearity or a bad slope', () => {
    expect(() => init.calculateGain('softmax' as Nonlinearity)).toThrow(/nonlinearity/);
    expect(() => init.calculateGain('leakyRelu', Number.NaN)).toThrow(/slope/);
  });
});

describe('calculateFans', () => {
  it('Linear weights [out, in]', () => {
    expect(init.calculateFans(zeros([3, 5]))).toEqual({ fanIn: 5, fanOut: 3 });
  });
  it('conv weights [out, in, kh, kw] multiply by the receptive field', () => {
    expect(init.calculateFans(zeros([8, 3, 5, 5]))).toEqual({ fanIn: 75, fanOut: 200 });
    expect(init.calculateFans(zeros([4, 2, 3]))).toEqual({ fanIn: 6, fanOut: 12 });
  });
  it('needs at least 2 dims', () => {
    expect(() => init.calculateFans(zeros([5]))).toThrow(/at least 2 dims/);
    expect(() => init.xavierUniform(zeros([5]))).toThrow(RangeError);
    expect(() => init.kaimingNormal(zeros([]))).toThrow(RangeError);
  });
});

describe('kaiming', () => {
  const [OUT, IN] = [400, 500];
  const n = OUT * IN;

  it('kaimingUniform: default gain sqrt 2 (leaky ReLU with a = 0), bound sqrt(6 / fanIn)', () => {
    const w = init.kaimingUniform(zeros([OUT, IN]), { generator: new Generator(1) });
    const bound = Math.sqrt(6 / IN);
    const xs = vals(w);
    const s = stats(xs);
    expect(s.min).toBeGreaterThanOrEqual(-bound);
    expect(s.max).toBeLessThanOrEqual(bound);
    // The extremes come close to the bound: P(no sample in the top 0.1%) = 0.999^n.
    expect(s.max).toBeGreaterThan(bound * 0.998);
    expect(s.min).toBeLessThan(-bound * 0.998);
    expectSpread(xs, 0, Math.sqrt(2 / IN), UNIFORM_KURTOSIS);
    expect(n).toBe(xs.length);
  });

  it('kaimingUniform fanOut mode and a tanh gain', () => {
    const w = init.kaimingUniform(zeros([OUT, IN]), { mode: 'fanOut', nonlinearity: 'tanh', generator: new Generator(2) });
    const std = 5 / 3 / Math.sqrt(OUT);
    const s = stats(vals(w));
    expect(Math.max(-s.min, s.max)).toBeLessThanOrEqual(Math.sqrt(3) * std);
    expectSpread(vals(w), 0, std, UNIFORM_KURTOSIS);
  });

  it('kaimingNormal: std = gain / sqrt(fan)', () => {
    const w = init.kaimingNormal(zeros([OUT, IN]), { nonlinearity: 'relu', generator: new Generator(3) });
    expectSpread(vals(w), 0, Math.sqrt(2 / IN), NORMAL_KURTOSIS);
  });

  it('a = sqrt 5 gives exactly bound 1/sqrt(fanIn)', () => {
    const w = init.kaimingUniform(zeros([200, 50]), { a: Math.sqrt(5), generator: new Generator(4) });
    const s = stats(vals(w));
    const bound = 1 / Math.sqrt(50);
    expect(Math.max(-s.min, s.max)).toBeLessThanOrEqual(bound);
    expect(Math.max(-s.min, s.max)).toBeGreaterThan(bound * 0.99);
  });

  it('rejects a bad mode', () => {
    expect(() => init.kaimingUniform(zeros([2, 2]), { mode: 'fan_in' as 'fanIn' })).toThrow(/mode/);
  });
});

describe('xavier', () => {
  it('xavierUniform: bound gain * sqrt(6 / (fanIn + fanOut))', () => {
    const w = init.xavierUniform(zeros([300, 500]), 2, new Generator(5));
    const std = 2 * Math.sqrt(2 / 800);
    const s = stats(vals(w));
    expect(Math.max(-s.min, s.max)).toBeLessThanOrEqual(2 * Math.sqrt(6 / 800));
    expectSpread(vals(w), 0, std, UNIFORM_KURTOSIS);
  });

  it('xavierNormal: std gain * sqrt(2 / (fanIn + fanOut))', () => {
    const w = init.xavierNormal(zeros([300, 500]), 1, new Generator(6));
    expectSpread(vals(w), 0, Math.sqrt(2 / 800), NORMAL_KURTOSIS);
  });
});

describe('uniform, normal, constant', () => {
  it('uniform(a, b) stays in [a, b) with the right spread', () => {
    const t = init.uniform(zeros([100_000]), -3, 5, new Generator(7));
    const s = stats(vals(t));
    expect(s.min).toBeGreaterThanOrEqual(-3);
    expect(s.max).toBeLessThan(5);
    expectSpread(vals(t), 1, 8 / Math.sqrt(12), UNIFORM_KURTOSIS);
  });

  it('normal(mean, std)', () => {
    const t = init.normal(zeros([100_000], { dtype: 'float64' }), 2, 0.5, new Generator(8));
    expect(t.dtype).toBe('float64');
    expectSpread(vals(t), 2, 0.5, NORMAL_KURTOSIS);
  });

  it('constant, zeros, ones fill in place and return the tensor', () => {
    const t = zeros([2, 3]);
    expect(init.constant(t, 0.5)).toBe(t);
    expect(vals(t)).toEqual([0.5, 0.5, 0.5, 0.5, 0.5, 0.5]);
    expect(vals(init.ones(t))).toEqual([1, 1, 1, 1, 1, 1]);
    expect(vals(init.zeros(t))).toEqual([0, 0, 0, 0, 0, 0]);
    expect(t.shape).toEqual([2, 3]);
  });

  it('works on parameters that require grad, leaving them leaves', () => {
    const lin = new Linear(3, 2);
    init.constant(lin.weight, 1);
    expect(lin.weight.requiresGrad).toBe(true);
    expect(lin.weight.isLeaf).toBe(true);
    lin.forward(zeros([1, 3])).sum().backward();
    expect(vals(lin.weight.grad!)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('argument errors', () => {
    expect(() => init.uniform(zeros([2]), 1, 0)).toThrow(/a <= b/);
    expect(() => init.normal(zeros([2]), 0, -1)).toThrow(/std/);
  });
});

describe('seeding', () => {
  it('the same generator seed gives the same values; another seed does not', () => {
    const a = vals(init.kaimingUniform(zeros([4, 5]), { generator: new Generator(42) }));
    const b = vals(init.kaimingUniform(zeros([4, 5]), { generator: new Generator(42) }));
    const c = vals(init.kaimingUniform(zeros([4, 5]), { generator: new Generator(43) }));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    const n1 = vals(init.normal(zeros([10]), 0, 1, new Generator(9)));
    const n2 = vals(init.normal(zeros([10]), 0, 1, new Generator(9)));
    expect(n1).toEqual(n2);
    expect(vals(init.xavierUniform(zeros([3, 3]), 1, new Generator(1)))).toEqual(vals(init.xavierUniform(zeros([3, 3]), 1, new Generator(1))));
  });
});

describe("Linear's default init", () => {
  it('weight and bias within 1/sqrt(inFeatures), filling most of the range', () => {
    const lin = new Linear(64, 256);
    const bound = 1 / Math.sqrt(64);
    const w = stats(vals(lin.weight));
    const b = stats(vals(lin.bias!));
    for (const s of [w, b]) {
      expect(s.min).toBeGreaterThanOrEqual(-bound);
      expect(s.max).toBeLessThanOrEqual(bound);
    }
    // 16384 weights: the extremes are within 0.1% of the bound (P(miss) ~ 1e-7).
    expect(w.max).toBeGreaterThan(bound * 0.999);
    expect(w.min).toBeLessThan(-bound * 0.999);
    expect(b.max - b.min).toBeGreaterThan(bound);
    expectSpread(vals(lin.weight), 0, bound / Math.sqrt(3), UNIFORM_KURTOSIS);
  });

  it('resetParameters redraws; dtype option is honored', () => {
    const lin = new Linear(3, 2, { dtype: 'float64' });
    expect(lin.weight.dtype).toBe('float64');
    expect(lin.bias!.dtype).toBe('float64');
    const before = vals(lin.weight);
    lin.resetParameters();
    expect(vals(lin.weight)).not.toEqual(before);
  });
});

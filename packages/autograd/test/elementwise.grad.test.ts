import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromTyped, gt as ndGt, sizeOf } from '@normlab/tensor';
import {
  Tensor, abs, add, clamp, cos, div, erf, exp, gelu, grad, leakyRelu, log, log1p, maximum, minimum, mul, neg, pow,
  reciprocal, relu, tensor, rsqrt, sigmoid, sign, sin, softplus, sqrt, square, sub, tanh, where,
} from '../src/index.js';
import {
  RUNS, RUNS_SLOW, type RandOptions, broadcastPairArb, broadcastShape, broadcastShapesArb, checkGrad, checkGradGrad,
  dotRandom, expectClose, fromF64, randT, randValues, seedArb, shapeArb, vals,
} from './helpers.js';

interface UnarySpec {
  name: string;
  fn: (x: Tensor) => Tensor;
  /** Where to sample x: inside the domain, away from kinks. */
  sample: RandOptions;
  /** Smooth enough for a second-derivative check. */
  smooth?: boolean;
}

const UNARY: UnarySpec[] = [
  { name: 'neg', fn: neg, sample: {} },
  { name: 'abs', fn: abs, sample: { avoid: [0], margin: 0.05 } },
  { name: 'exp', fn: exp, sample: { lo: -3, hi: 3 }, smooth: true },
  { name: 'log', fn: log, sample: { lo: 0.2, hi: 4 }, smooth: true },
  { name: 'log1p', fn: log1p, sample: { lo: -0.7, hi: 4 }, smooth: true },
  { name: 'sqrt', fn: sqrt, sample: { lo: 0.2, hi: 4 }, smooth: true },
  { name: 'rsqrt', fn: rsqrt, sample: { lo: 0.3, hi: 4 }, smooth: true },
  { name: 'square', fn: square, sample: { scale: 2 }, smooth: true },
  { name: 'reciprocal', fn: reciprocal, sample: { lo: -3, hi: 3, avoid: [0], margin: 0.3 }, smooth: true },
  { name: 'sin', fn: sin, sample: { scale: 2 }, smooth: true },
  { name: 'cos', fn: cos, sample: { scale: 2 }, smooth: true },
  { name: 'tanh', fn: tanh, sample: { scale: 1.5 }, smooth: true },
  { name: 'sigmoid', fn: sigmoid, sample: { scale: 2 }, smooth: true },
  { name: 'relu', fn: relu, sample: { avoid: [0], margin: 0.05 } },
  { name: 'gelu (exact)', fn: (x) => gelu(x), sample: { lo: -4, hi: 4 }, smooth: true },
  { name: 'gelu (tanh)', fn: (x) => gelu(x, { approximate: 'tanh' }), sample: { lo: -4, hi: 4 }, smooth: true },
  { name: 'erf', fn: erf, sample: { lo: -3, hi: 3 }, smooth: true },
  { name: 'softplus (defaults)', fn: (x) => softplus(x), sample: { lo: -6, hi: 6 }, smooth: true },
  { name: 'sign', fn: sign, sample: { avoid: [0], margin: 0.05 } },
];

describe('unary ops: analytic gradient vs central differences', () => {
  for (const spec of UNARY) {
    it(spec.name, () => {
      fc.assert(fc.property(shapeArb(), seedArb, (shape, seed) => {
        checkGrad(spec.fn, [randT(shape, seed, spec.sample)]);
      }), { numRuns: RUNS });
    });
  }

  it('leakyRelu with a random slope', () => {
    fc.assert(fc.property(shapeArb(), seedArb, fc.double({ min: -0.5, max: 2, noNaN: true, noDefaultInfinity: true }), (shape, seed, slope) => {
      checkGrad((x) => leakyRelu(x, slope), [randT(shape, seed, { avoid: [0], margin: 0.05 })]);
    }), { numRuns: RUNS });
  });

  it('leakyRelu default slope is 0.01 on the negative side', () => {
    const x = randT([6], 3, { avoid: [0], margin: 0.05 });
    const [g] = grad(dotRandom(leakyRelu(x), 9), [x]);
    const r = vals(randT([6], 9, { requiresGrad: false }));
    // Exactly the float64 slope (not a float32-rounded one).
    expectClose(vals(g!), vals(x).map((v, i) => (v > 0 ? 1 : 0.01) * r[i]), 0, 1e-15);
    const y = fromF64([-1, -2, 3], [3], true);
    const [h] = grad(leakyRelu(y, 0.1).sum(), [y]);
    expect(vals(h!)).toEqual([0.1, 0.1, 1]);
  });

  it('softplus with random beta and threshold, points on both sides of the threshold', () => {
    fc.assert(fc.property(
      shapeArb({ minRank: 1 }), seedArb,
      fc.double({ min: 0.5, max: 3, noNaN: true, noDefaultInfinity: true }),
      fc.double({ min: 0.5, max: 5, noNaN: true, noDefaultInfinity: true }),
      (shape, seed, beta, threshold) => {
        const kink = threshold / beta;
        // The op switches to the identity above beta x = threshold (not continuous there): keep away from it.
        const x = randT(shape, seed, { lo: -4, hi: 2 * kink + 1, avoid: [kink], margin: 0.05 });
        checkGrad((t) => softplus(t, { beta, threshold }), [x]);
        // Above the threshold the op is the identity, so the gradient is exactly the upstream gradient.
        const [g] = grad(dotRandom(softplus(x, { beta, threshold }), seed + 1), [x]);
        const r = vals(randT(shape, seed + 1, { requiresGrad: false }));
        vals(x).forEach((v, i) => {
          const expected = v * beta > threshold ? r[i] : r[i] / (1 + Math.exp(-beta * v));
          expect(vals(g!)[i]).toBeCloseTo(expected, 12);
        });
      },
    ), { numRuns: RUNS });
  });

  it('clamp with random bounds (either may be missing), gradient zero outside', () => {
    const bound = fc.option(fc.double({ min: -2, max: 2, noNaN: true, noDefaultInfinity: true }), { nil: undefined });
    fc.assert(fc.property(shapeArb(), seedArb, bound, bound, (shape, seed, b0, b1) => {
      let lo = b0;
      let hi = b1;
      if (lo === undefined && hi === undefined) lo = -0.5;
      if (lo !== undefined && hi !== undefined && lo > hi) [lo, hi] = [hi, lo];
      const avoid = [lo, hi].filter((v): v is number => v !== undefined);
      const x = randT(shape, seed, { lo: -3, hi: 3, avoid, margin: 0.05 });
      checkGrad((t) => clamp(t, lo, hi), [x]);
      const [g] = grad(dotRandom(clamp(x, lo, hi), seed ^ 1), [x]);
      const r = vals(randT(shape, seed ^ 1, { requiresGrad: false }));
      const expected = vals(x).map((v, i) => ((lo === undefined || v >= lo) && (hi === undefined || v <= hi) ? r[i] : 0));
      expectClose(vals(g!), expected, 0, 0);
    }), { numRuns: RUNS });
  });

  it("relu's gradient is torch's threshold_backward: +0 where the output is <= 0 (whatever the upstream gradient), the gradient where it is > 0 or NaN", () => {
    for (const dtype of ['float64', 'float32'] as const) {
      const n = 2048; // float32 arrays this long run on the SIMD kernel
      const xs = Array.from({ length: n }, (_, i) => [-2, -0, 0, 0.5, NaN, 3][i % 6]);
      const gs = Array.from({ length: n }, (_, i) => [-1, Infinity, NaN, -2.5, 7, -0][i % 5]);
      const x = tensor(xs, { dtype, requiresGrad: true });
      const [g] = grad(relu(x), [x], { gradOutputs: [tensor(gs, { dtype })] });
      const want = xs.map((v, i) => (v > 0 || Number.isNaN(v) ? gs[i] : 0));
      const key = (v: number): number | string => (Number.isNaN(v) ? 'NaN' : Object.is(v, -0) ? '-0' : v);
      expect(vals(g!).map(key)).toEqual(want.map(key));
    }
  });

  it('sign has a zero gradient everywhere (also at 0)', () => {
    const x = new Tensor(fromTyped(Float64Array.from([-2, -0.1, 0, 0.3, 5]), [5]), { requiresGrad: true });
    const [g] = grad(dotRandom(sign(x), 4), [x]);
    expect(vals(g!).every((v) => v === 0)).toBe(true);
  });

  it('pow with a random scalar exponent (positive base)', () => {
    const exponent = fc.oneof(
      fc.double({ min: -2.5, max: 3.5, noNaN: true, noDefaultInfinity: true }),
      fc.integer({ min: -3, max: 4 }),
      fc.constantFrom(0, 0.5, 1, -1),
    );
    fc.assert(fc.property(shapeArb(), seedArb, exponent, (shape, seed, p) => {
      checkGrad((x) => pow(x, p), [randT(shape, seed, { lo: 0.3, hi: 3 })]);
    }), { numRuns: RUNS });
  });

  it('pow with an integer exponent on a base of any sign', () => {
    fc.assert(fc.property(shapeArb(), seedArb, fc.integer({ min: 1, max: 4 }), (shape, seed, p) => {
      checkGrad((x) => pow(x, p), [randT(shape, seed, { scale: 1.5 })]);
    }), { numRuns: RUNS });
  });

  it('pow(x, 0) has a zero gradient and pow(x, 1) the identity gradient', () => {
    const x = randT([2, 3], 5);
    const [g0] = grad(dotRandom(pow(x, 0), 6), [x]);
    expect(vals(g0!).every((v) => v === 0)).toBe(true);
    const [g1] = grad(dotRandom(pow(x, 1), 6), [x]);
    expectClose(vals(g1!), vals(randT([2, 3], 6, { requiresGrad: false })));
  });
});

describe('unary ops: second derivatives (gradgradcheck)', () => {
  for (const spec of UNARY.filter((s) => s.smooth)) {
    it(spec.name, () => {
      fc.assert(fc.property(shapeArb({ maxRank: 2 }), seedArb, (shape, seed) => {
        checkGradGrad(spec.fn, [randT(shape, seed, spec.sample)], seed);
      }), { numRuns: RUNS_SLOW });
    });
  }

  it('softplus with random beta/threshold', () => {
    fc.assert(fc.property(
      shapeArb({ maxRank: 2 }), seedArb,
      fc.double({ min: 0.5, max: 3, noNaN: true, noDefaultInfinity: true }),
      fc.double({ min: 0.5, max: 5, noNaN: true, noDefaultInfinity: true }),
      (shape, seed, beta, threshold) => {
        const kink = threshold / beta;
        const x = randT(shape, seed, { lo: -4, hi: 2 * kink + 1, avoid: [kink], margin: 0.05 });
        checkGradGrad((t) => softplus(t, { beta, threshold }), [x], seed);
      },
    ), { numRuns: RUNS_SLOW });
  });

  it('pow with a scalar exponent', () => {
    fc.assert(fc.property(shapeArb({ maxRank: 2 }), seedArb, fc.double({ min: -2.5, max: 3.5, noNaN: true, noDefaultInfinity: true }), (shape, seed, p) => {
      checkGradGrad((x) => pow(x, p), [randT(shape, seed, { lo: 0.4, hi: 3 })], seed);
    }), { numRuns: RUNS_SLOW });
  });

  it('analytic second derivatives at sample points', () => {
    const x = randT([5], 11, { lo: 0.3, hi: 2 });
    const xs = vals(x);
    const second = (f: (t: Tensor) => Tensor): number[] => {
      const [g] = grad(f(x).sum(), [x], { createGraph: true });
      const [h] = grad(g!.sum(), [x]);
      return vals(h!);
    };
    expectClose(second(exp), xs.map(Math.exp), 1e-12, 1e-12, 'exp\'\'');
    expectClose(second(log), xs.map((v) => -1 / (v * v)), 1e-12, 1e-12, 'log\'\'');
    expectClose(second(sin), xs.map((v) => -Math.sin(v)), 1e-12, 1e-12, 'sin\'\'');
    expectClose(second(sqrt), xs.map((v) => -0.25 * v ** -1.5), 1e-12, 1e-12, 'sqrt\'\'');
    expectClose(second(reciprocal), xs.map((v) => 2 / v ** 3), 1e-12, 1e-12, 'reciprocal\'\'');
    expectClose(second(tanh), xs.map((v) => -2 * Math.tanh(v) * (1 - Math.tanh(v) ** 2)), 1e-12, 1e-12, 'tanh\'\'');
  });
});

// ---- binary ops -------------------------------------------------------------

interface BinarySpec {
  name: string;
  fn: (a: Tensor, b: Tensor) => Tensor;
  a: RandOptions;
  b: RandOptions;
  smooth?: boolean;
}

const BINARY: BinarySpec[] = [
  { name: 'add', fn: add, a: {}, b: {}, smooth: true },
  { name: 'sub', fn: sub, a: {}, b: {}, smooth: true },
  { name: 'mul', fn: mul, a: {}, b: {}, smooth: true },
  { name: 'div', fn: div, a: {}, b: { lo: -3, hi: 3, avoid: [0], margin: 0.4 }, smooth: true },
  { name: 'pow (tensor exponent)', fn: pow, a: { lo: 0.3, hi: 3 }, b: { lo: -2, hi: 2.5 }, smooth: true },
];

describe('binary ops with broadcasting in both directions', () => {
  for (const spec of BINARY) {
    it(spec.name, () => {
      fc.assert(fc.property(broadcastPairArb(), seedArb, ([sa, sb], seed) => {
        const a = randT(sa, seed, spec.a);
        const b = randT(sb, seed + 7, spec.b);
        checkGrad(spec.fn, [a, b]);
        // Each gradient has its operand's shape (summed over broadcast dims).
        const [ga, gb] = grad(dotRandom(spec.fn(a, b), seed + 3), [a, b]);
        expect(ga!.shape).toEqual(sa);
        expect(gb!.shape).toEqual(sb);
      }), { numRuns: RUNS });
    });
  }

  for (const [name, fn] of [['maximum', maximum], ['minimum', minimum]] as const) {
    it(`${name} (no ties)`, () => {
      fc.assert(fc.property(broadcastPairArb(), seedArb, ([sa, sb], seed) => {
        const a = randT(sa, seed);
        // b avoids every value of a, so no broadcast pair is (nearly) tied.
        const b = randT(sb, seed + 7, { avoid: vals(a), margin: 0.02 });
        checkGrad(fn, [a, b]);
      }), { numRuns: RUNS });
    });
  }

  it('maximum/minimum split the gradient evenly on ties', () => {
    const a = new Tensor(fromTyped(Float64Array.from([1, 2, 3]), [3]), { requiresGrad: true });
    const b = new Tensor(fromTyped(Float64Array.from([1, 5, 0]), [3]), { requiresGrad: true });
    const up = new Tensor(fromTyped(Float64Array.from([4, 8, 16]), [3]));
    const [ga, gb] = grad([maximum(a, b)], [a, b], { gradOutputs: [up] });
    expect(vals(ga!)).toEqual([2, 0, 16]);
    expect(vals(gb!)).toEqual([2, 8, 0]);
    const [ha, hb] = grad([minimum(a, b)], [a, b], { gradOutputs: [up] });
    expect(vals(ha!)).toEqual([2, 8, 0]);
    expect(vals(hb!)).toEqual([2, 0, 16]);
  });

  it('only one operand requiring grad', () => {
    fc.assert(fc.property(broadcastPairArb(), seedArb, ([sa, sb], seed) => {
      const a = randT(sa, seed);
      const b = randT(sb, seed + 7, { lo: 0.5, hi: 2, requiresGrad: false });
      checkGrad((x) => div(mul(x, b), b.add(1)), [a]);
      checkGrad((x) => pow(b, x), [a]);
    }), { numRuns: RUNS_SLOW });
  });

  it('a number operand on either side', () => {
    fc.assert(fc.property(shapeArb(), seedArb, fc.double({ min: 0.5, max: 3, noNaN: true, noDefaultInfinity: true }), (shape, seed, k) => {
      const x = randT(shape, seed, { lo: 0.4, hi: 3 });
      const cases: Array<(t: Tensor) => Tensor> = [
        (t) => add(t, k), (t) => add(k, t), (t) => sub(t, k), (t) => sub(k, t),
        (t) => mul(t, -k), (t) => mul(k, t), (t) => div(t, k), (t) => div(k, t),
        (t) => pow(k, t), (t) => pow(t, k),
      ];
      for (const f of cases) checkGrad(f, [x]);
      const y = randT(shape, seed + 1, { avoid: [0.3], margin: 0.02 });
      checkGrad((t) => maximum(t, 0.3), [y]);
      checkGrad((t) => minimum(0.3, t), [y]);
    }), { numRuns: RUNS_SLOW });
  });

  it('the gradients of a + a, a * a, a / a use the operand twice', () => {
    fc.assert(fc.property(shapeArb(), seedArb, (shape, seed) => {
      const a = randT(shape, seed, { lo: 0.5, hi: 2 });
      checkGrad((t) => add(t, t), [a]);
      checkGrad((t) => mul(t, t), [a]);
      const [g] = grad(dotRandom(mul(a, a), seed), [a]);
      const r = vals(randT(shape, seed, { requiresGrad: false }));
      expectClose(vals(g!), vals(a).map((v, i) => 2 * v * r[i]), 1e-12, 1e-12);
      const [h] = grad(dotRandom(div(a, a), seed), [a]);
      expectClose(vals(h!), vals(a).map(() => 0), 1e-12, 0);
    }), { numRuns: RUNS_SLOW });
  });
});

describe('binary ops: second derivatives', () => {
  for (const spec of BINARY.filter((s) => s.smooth && s.name !== 'add' && s.name !== 'sub')) {
    it(spec.name, () => {
      fc.assert(fc.property(broadcastPairArb({ maxRank: 2 }), seedArb, ([sa, sb], seed) => {
        checkGradGrad(spec.fn, [randT(sa, seed, spec.a), randT(sb, seed + 7, spec.b)], seed);
      }), { numRuns: RUNS_SLOW });
    });
  }

  it('mixed partial of mul is the upstream gradient; d2/da2 of a/b is 0', () => {
    const a = randT([3], 1);
    const b = randT([3], 2, { lo: 0.5, hi: 2 });
    const [ga] = grad(mul(a, b).sum(), [a], { createGraph: true });
    const [gab] = grad(ga!.sum(), [b]);
    expectClose(vals(gab!), [1, 1, 1]);
    const [da] = grad(div(a, b).sum(), [a], { createGraph: true });
    expect(da!.requiresGrad).toBe(true);
    const [daa] = grad(da!.sum(), [a], { allowUnused: true });
    // da = 1/b does not depend on a: either unused or zero.
    if (daa) expectClose(vals(daa), [0, 0, 0]);
  });
});

// ---- where ------------------------------------------------------------------

function boolMask(shape: number[], seed: number): Tensor {
  const u = randValues(sizeOf(shape), seed, { lo: 0, hi: 1 });
  return new Tensor(ndGt(fromTyped(u, shape), 0.5));
}

describe('where', () => {
  it('where(cond, a, b) with cond, a and b broadcasting together', () => {
    fc.assert(fc.property(broadcastShapesArb(3), seedArb, ([sc, sa, sb], seed) => {
      const cond = boolMask(sc, seed);
      const a = randT(sa, seed + 1);
      const b = randT(sb, seed + 2);
      checkGrad((x, y) => where(cond, x, y), [a, b]);
      // The gradient of a is the upstream gradient where cond holds, summed back to a's shape.
      const out = broadcastShape(broadcastShape(sc, sa), sb);
      const up = randT(out, seed + 3, { requiresGrad: false });
      const [ga, gb] = grad([where(cond, a, b)], [a, b], { gradOutputs: [up] });
      // Every upstream element goes to exactly one of a and b.
      expect(ga!.sum().item() + gb!.sum().item()).toBeCloseTo(up.sum().item(), 10);
    }), { numRuns: RUNS });
  });

  it('where with a number operand', () => {
    fc.assert(fc.property(broadcastPairArb(), seedArb, ([sc, sa], seed) => {
      const cond = boolMask(sc, seed);
      checkGrad((x) => where(cond, x, 0.5), [randT(sa, seed + 1)]);
      checkGrad((x) => where(cond, -2, x), [randT(sa, seed + 1)]);
    }), { numRuns: RUNS_SLOW });
  });

  it('second derivative through where', () => {
    fc.assert(fc.property(broadcastShapesArb(3, { maxRank: 2 }), seedArb, ([sc, sa, sb], seed) => {
      const cond = boolMask(sc, seed);
      checkGradGrad((x, y) => where(cond, x.mul(x), y.exp()), [randT(sa, seed + 1), randT(sb, seed + 2)], seed);
    }), { numRuns: RUNS_SLOW });
  });
});

// ---- identities ---------------------------------------------------------------

describe('identities between elementwise ops', () => {
  it('tanh(x) = 2 sigmoid(2x) - 1 has the same gradient', () => {
    fc.assert(fc.property(shapeArb(), seedArb, (shape, seed) => {
      const x = randT(shape, seed, { scale: 2 });
      const [g1] = grad(dotRandom(tanh(x), seed), [x]);
      const [g2] = grad(dotRandom(sigmoid(x.mul(2)).mul(2).sub(1), seed), [x]);
      expectClose(vals(g1!), vals(g2!), 1e-12, 1e-10);
    }), { numRuns: RUNS });
  });

  it('sin^2 + cos^2 has a zero gradient; exp(log x) and sqrt(x)^2 have gradient 1', () => {
    fc.assert(fc.property(shapeArb(), seedArb, (shape, seed) => {
      const x = randT(shape, seed, { lo: 0.2, hi: 3 });
      const [g0] = grad(sin(x).square().add(cos(x).square()).sum(), [x]);
      expectClose(vals(g0!), vals(x).map(() => 0), 1e-12, 0);
      const [g1] = grad(exp(log(x)).sum(), [x]);
      expectClose(vals(g1!), vals(x).map(() => 1), 1e-12, 1e-12);
      const [g2] = grad(sqrt(x).square().sum(), [x]);
      expectClose(vals(g2!), vals(x).map(() => 1), 1e-12, 1e-12);
    }), { numRuns: RUNS });
  });

  it('softplus\' is the sigmoid below the threshold; erf\' = 2/sqrt(pi) exp(-x^2); gelu\' at 0 is 1/2', () => {
    const x = randT([7], 21, { lo: -3, hi: 3 });
    const [gs] = grad(softplus(x).sum(), [x]);
    expectClose(vals(gs!), vals(x).map((v) => 1 / (1 + Math.exp(-v))), 1e-14, 1e-12);
    const [ge] = grad(erf(x).sum(), [x]);
    expectClose(vals(ge!), vals(x).map((v) => (2 / Math.sqrt(Math.PI)) * Math.exp(-v * v)), 1e-14, 1e-12);
    const z = new Tensor(fromTyped(new Float64Array([0]), [1]), { requiresGrad: true });
    for (const mode of ['none', 'tanh'] as const) {
      const [g] = grad(gelu(z, { approximate: mode }).sum(), [z]);
      expectClose(vals(g!), [0.5], 1e-15, 0);
    }
  });

  it('gradients of float32 inputs are float32', () => {
    const x = randT([2, 3], 4).astype('float32').detach().requiresGrad_();
    const y = exp(x).mul(randT([3], 5, { requiresGrad: false })).sum();
    y.backward();
    expect(x.grad!.dtype).toBe('float32');
    expect(x.grad!.shape).toEqual([2, 3]);
  });
});

describe('pow(a, b) at a = 0', () => {
  it('gives zero gradients where PyTorch masks 0 * inf and 0 * log 0', () => {
    const a = tensor([0, 0, 2], { requiresGrad: true, dtype: 'float64' });
    const b = tensor([0, 2, 3], { requiresGrad: true, dtype: 'float64' });
    a.pow(b).sum().backward();
    expect(a.grad!.toArray()).toEqual([0, 0, 12]);
    const gb = b.grad!.toArray() as number[];
    expect(gb.slice(0, 2)).toEqual([0, 0]);
    expect(gb[2]).toBeCloseTo(8 * Math.log(2), 12);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AvgPool2dOptions, type MaxPool2dOptions, pool2dGeometry, sizeOf } from '@normlab/tensor';
import { Tensor, adaptiveAvgPool2d, avgPool2d, gather, grad, maxPool2d, maxPool2dWithIndices } from '../src/index.js';
import {
  RUNS, RUNS_SLOW, checkGrad, checkGradGrad, distinctT, dotRandom, expectClose, randT, seedArb, vals,
} from './helpers.js';

type Pair = number | [number, number];
type MaxOptions = Omit<MaxPool2dOptions, 'returnIndices'>;

interface PoolCase<O> {
  shape: number[];
  kernel: Pair;
  options: O;
  desc: string;
}

/** [N,C,H,W] with N, C in 1..2, or unbatched [C,H,W]; H, W in 1..6. */
const inputShapeArb = (maxSpatial = 6): fc.Arbitrary<number[]> => fc.record({
  n: fc.integer({ min: 0, max: 2 }),
  c: fc.integer({ min: 1, max: 2 }),
  h: fc.integer({ min: 1, max: maxSpatial }),
  w: fc.integer({ min: 1, max: maxSpatial }),
}).map(({ n, c, h, w }) => (n === 0 ? [c, h, w] : [n, c, h, w]));

const axisArb = fc.record({
  k: fc.integer({ min: 1, max: 3 }),
  stride: fc.integer({ min: 1, max: 3 }),
  padFrac: fc.integer({ min: 0, max: 1 }),
  dilation: fc.integer({ min: 1, max: 2 }),
});

const pairOf = (a: number, b: number, asPair: boolean): Pair => (asPair || a !== b ? [a, b] : a);

/** Geometry the forward accepts (the output is at least 1x1). */
function valid(shape: number[], kernel: Pair, options: MaxOptions | AvgPool2dOptions): boolean {
  try {
    pool2dGeometry(shape, kernel, options as MaxOptions);
    return true;
  } catch {
    return false;
  }
}

/** Random max-pool geometry: kernel, stride (or the default), padding <= kernel/2, dilation, ceilMode. */
function maxCaseArb(maxSpatial = 6): fc.Arbitrary<PoolCase<MaxOptions>> {
  return fc.record({
    shape: inputShapeArb(maxSpatial), h: axisArb, w: axisArb, asPair: fc.boolean(), defaultStride: fc.boolean(), ceilMode: fc.boolean(),
  }).map(({ shape, h, w, asPair, defaultStride, ceilMode }) => {
    const kernel = pairOf(h.k, w.k, asPair);
    const options: MaxOptions = { ceilMode };
    if (!defaultStride) options.stride = pairOf(h.stride, w.stride, asPair);
    const ph = h.padFrac * Math.floor(h.k / 2);
    const pw = w.padFrac * Math.floor(w.k / 2);
    if (ph || pw) options.padding = pairOf(ph, pw, asPair);
    if (h.dilation !== 1 || w.dilation !== 1) options.dilation = pairOf(h.dilation, w.dilation, asPair);
    return { shape, kernel, options, desc: `x [${shape}] kernel ${JSON.stringify(kernel)} ${JSON.stringify(options)}` };
  }).filter((c) => valid(c.shape, c.kernel, c.options));
}

/** Random average-pool geometry: kernel, stride, padding <= kernel/2, ceilMode, countIncludePad, divisorOverride. */
function avgCaseArb(maxSpatial = 6): fc.Arbitrary<PoolCase<AvgPool2dOptions>> {
  return fc.record({
    shape: inputShapeArb(maxSpatial), h: axisArb, w: axisArb, asPair: fc.boolean(), defaultStride: fc.boolean(),
    ceilMode: fc.boolean(), countIncludePad: fc.option(fc.boolean(), { nil: undefined }),
    divisor: fc.option(fc.oneof(fc.integer({ min: 1, max: 5 }), fc.double({ min: -3, max: 3, noNaN: true }).filter((d) => Math.abs(d) > 0.3)), { nil: undefined, freq: 3 }),
  }).map(({ shape, h, w, asPair, defaultStride, ceilMode, countIncludePad, divisor }) => {
    const kernel = pairOf(h.k, w.k, asPair);
    const options: AvgPool2dOptions = { ceilMode };
    if (!defaultStride) options.stride = pairOf(h.stride, w.stride, asPair);
    const ph = h.padFrac * Math.floor(h.k / 2);
    const pw = w.padFrac * Math.floor(w.k / 2);
    if (ph || pw) options.padding = pairOf(ph, pw, asPair);
    if (countIncludePad !== undefined) options.countIncludePad = countIncludePad;
    if (divisor !== undefined) options.divisorOverride = divisor;
    return { shape, kernel, options, desc: `x [${shape}] kernel ${JSON.stringify(kernel)} ${JSON.stringify(options)}` };
  }).filter((c) => valid(c.shape, c.kernel, c.options));
}

function withCase<T>(desc: string, body: () => T): T {
  try {
    return body();
  } catch (e) {
    if (fc.PreconditionFailure.isFailure(e)) throw e;
    throw new Error(`${desc}: ${(e as Error).message}`);
  }
}

/** No ties anywhere (a permutation of well separated levels), and every window holds at least one input element. */
function maxInput(c: PoolCase<MaxOptions>, seed: number): Tensor | null {
  const x = distinctT(c.shape, seed, { gap: 0.05 });
  const y = maxPool2d(x, c.kernel, c.options);
  return vals(y).every(Number.isFinite) ? x : null;
}

describe('maxPool2d', () => {
  it('gradient over random kernel/stride/padding/dilation/ceilMode (full Jacobian and a random upstream gradient)', () => {
    fc.assert(fc.property(maxCaseArb(), seedArb, (c, seed) => withCase(c.desc, () => {
      const x = maxInput(c, seed);
      fc.pre(x !== null);
      checkGrad((t) => maxPool2d(t, c.kernel, c.options), [x!]);
      checkGrad((t) => dotRandom(maxPool2d(t, c.kernel, c.options), seed + 1), [x!]);
    })), { numRuns: RUNS });
  });

  it('the gradient routes each upstream entry to its window max (indices), accumulating over overlapping windows', () => {
    fc.assert(fc.property(maxCaseArb(), seedArb, (c, seed) => withCase(c.desc, () => {
      const x = maxInput(c, seed);
      fc.pre(x !== null);
      const { values, indices } = maxPool2dWithIndices(x!, c.kernel, c.options);
      expect(indices.dtype).toBe('int32');
      expect(indices.requiresGrad).toBe(false);
      expect(indices.shape).toEqual(values.shape);
      // The values are x at the indices.
      const picked = gather(x!.detach().flatten(-2), -1, indices.flatten(-2)).reshape(values.shape);
      expectClose(vals(picked), vals(values), 0, 0, 'values at indices');
      const up = randT(values.shape, seed + 1, { requiresGrad: false });
      const [g] = grad([values], [x!], { gradOutputs: [up] });
      const [H, W] = c.shape.slice(-2);
      const planes = sizeOf(c.shape) / (H * W);
      const perPlane = values.size / planes;
      const expected = new Float64Array(sizeOf(c.shape));
      const idx = vals(indices);
      const u = vals(up);
      for (let k = 0; k < idx.length; k++) expected[Math.floor(k / perPlane) * H * W + idx[k]] += u[k];
      expectClose(vals(g!), expected, 1e-14, 1e-14, 'x gradient');
    })), { numRuns: RUNS });
  });

  it('maxPool2dWithIndices: the values gradient; the indices are not differentiable', () => {
    fc.assert(fc.property(maxCaseArb(), seedArb, (c, seed) => withCase(c.desc, () => {
      const x = maxInput(c, seed);
      fc.pre(x !== null);
      checkGrad((t) => dotRandom(maxPool2dWithIndices(t, c.kernel, c.options).values, seed + 2), [x!]);
      const { values, indices } = maxPool2dWithIndices(x!, c.kernel, c.options);
      expect(values.requiresGrad).toBe(true);
      expect(indices.gradFn).toBeNull();
      expect(() => { indices.requiresGrad = true; }).toThrow();
      // Same values and gradient as maxPool2d.
      expectClose(vals(values), vals(maxPool2d(x!, c.kernel, c.options)), 0, 0);
    })), { numRuns: RUNS_SLOW });
  });

  it('second derivative of sum(maxPool2d(x)^2 * R) (gradgradcheck; the backward is recorded as maxPool2dBackward)', () => {
    fc.assert(fc.property(maxCaseArb(4), seedArb, (c, seed) => withCase(c.desc, () => {
      const x = maxInput(c, seed);
      fc.pre(x !== null);
      checkGradGrad((t) => maxPool2d(t, c.kernel, c.options).square(), [x!], seed);
      // With createGraph the gradient is itself differentiable (it depends on x through the pooled values).
      const [g] = grad(maxPool2d(x!, c.kernel, c.options).square().sum(), [x!], { createGraph: true });
      expect(g!.requiresGrad).toBe(true);
    })), { numRuns: RUNS_SLOW });
  });

  it('unbatched [C,H,W] input: the gradient equals that of the batch of one', () => {
    fc.assert(fc.property(maxCaseArb().filter((c) => c.shape.length === 3), seedArb, (c, seed) => withCase(c.desc, () => {
      const x = maxInput(c, seed);
      fc.pre(x !== null);
      const up = randT(maxPool2d(x!, c.kernel, c.options).shape, seed + 1, { requiresGrad: false });
      const [g3] = grad([maxPool2d(x!, c.kernel, c.options)], [x!], { gradOutputs: [up] });
      const x4 = x!.detach().unsqueeze(0).requiresGrad_();
      const [g4] = grad([maxPool2d(x4, c.kernel, c.options)], [x4], { gradOutputs: [up.unsqueeze(0)] });
      expect(g3!.shape).toEqual(c.shape);
      expectClose(vals(g3!), vals(g4!), 0, 0);
    })), { numRuns: RUNS_SLOW });
  });
});

describe('maxPool2d: windows wholly in the padding', () => {
  it('give -inf with index -1, a zero gradient, and a zero (not an error) second derivative', () => {
    // H = 2, kernel 2, padding 1, dilation 3: the taps -1 and 2 both miss the input.
    const x = distinctT([1, 2, 3], 3);
    const w = randT([1, 1, 2], 4);
    const opts = { stride: 1, padding: [1, 0] as [number, number], dilation: [3, 1] as [number, number] };
    const { values, indices } = maxPool2dWithIndices(x, [2, 2], opts);
    expect(values.shape).toEqual([1, 1, 2]);
    expect(vals(values)).toEqual([-Infinity, -Infinity]);
    expect(vals(indices)).toEqual([-1, -1]);
    const [gx] = grad(maxPool2d(x, [2, 2], opts).mul(w).sum(), [x], { createGraph: true });
    expect(vals(gx!).every((v) => v === 0)).toBe(true);
    // The mixed partial d/dw <dL/dx, V> reads V at the max positions: there are none.
    const [gw] = grad(gx!.mul(randT([1, 2, 3], 5, { requiresGrad: false })).sum(), [w]);
    expect(vals(gw!).map(Math.abs)).toEqual([0, 0]);
  });
});

describe('avgPool2d', () => {
  it('gradient over random kernel/stride/padding/ceilMode/countIncludePad/divisorOverride', () => {
    fc.assert(fc.property(avgCaseArb(), seedArb, (c, seed) => withCase(c.desc, () => {
      const x = randT(c.shape, seed);
      checkGrad((t) => avgPool2d(t, c.kernel, c.options), [x]);
      checkGrad((t) => dotRandom(avgPool2d(t, c.kernel, c.options), seed + 1), [x]);
    })), { numRuns: RUNS });
  });

  it('second derivative of sum(avgPool2d(x)^2 * R) (gradgradcheck through avgPool2dBackward)', () => {
    fc.assert(fc.property(avgCaseArb(4), seedArb, (c, seed) => withCase(c.desc, () => {
      checkGradGrad((t) => avgPool2d(t, c.kernel, c.options).square(), [randT(c.shape, seed)], seed);
    })), { numRuns: RUNS_SLOW });
  });

  it('identities: without counted padding each window averages, so the gradient of sum(out) sums to numel(out); divisorOverride d scales the plain sums', () => {
    fc.assert(fc.property(avgCaseArb(), seedArb, (c, seed) => withCase(c.desc, () => {
      const x = randT(c.shape, seed);
      const base: AvgPool2dOptions = { ...c.options, divisorOverride: undefined, countIncludePad: false };
      const y = avgPool2d(x, c.kernel, base);
      const [g] = grad(y.sum(), [x]);
      expect(g!.sum().item()).toBeCloseTo(y.size, 10);
      // divisorOverride d: out * d is the plain window sum, whatever the other options.
      const d = 1.75;
      const yd = avgPool2d(x, c.kernel, { ...c.options, divisorOverride: d });
      const up = randT(yd.shape, seed + 1, { requiresGrad: false });
      const [gd] = grad([yd], [x], { gradOutputs: [up] });
      const [gs] = grad([avgPool2d(x, c.kernel, { ...c.options, divisorOverride: 1 })], [x], { gradOutputs: [up] });
      expectClose(vals(gd!), vals(gs!).map((v) => v / d), 1e-14, 1e-12, 'divisorOverride gradient');
    })), { numRuns: RUNS });
  });

  it('kernel = stride dividing H and W, no padding: every input gets upstream / (kh*kw) of its window', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 }), seedArb,
      (kh, kw, oh, ow, seed) => {
        const x = randT([2, 2, kh * oh, kw * ow], seed);
        const y = avgPool2d(x, [kh, kw]);
        const up = randT(y.shape, seed + 1, { requiresGrad: false });
        const [g] = grad([y], [x], { gradOutputs: [up] });
        const u = vals(up);
        const expected = Array.from({ length: x.size }, (_, k) => {
          const w = k % (kw * ow);
          const h = Math.floor(k / (kw * ow)) % (kh * oh);
          const plane = Math.floor(k / (kh * oh * kw * ow));
          return u[plane * oh * ow + Math.floor(h / kh) * ow + Math.floor(w / kw)] / (kh * kw);
        });
        expectClose(vals(g!), expected, 1e-14, 1e-12);
      }), { numRuns: RUNS });
  });
});

describe('adaptiveAvgPool2d', () => {
  const sizeArb = fc.oneof(
    fc.integer({ min: 1, max: 7 }),
    fc.tuple(fc.option(fc.integer({ min: 1, max: 7 }), { nil: null }), fc.option(fc.integer({ min: 1, max: 7 }), { nil: null })),
  );

  it('gradient for output sizes that do and do not divide the input (and larger than it, and null)', () => {
    fc.assert(fc.property(inputShapeArb(), sizeArb, seedArb, (shape, size, seed) => withCase(`x [${shape}] size ${JSON.stringify(size)}`, () => {
      const x = randT(shape, seed);
      const y = adaptiveAvgPool2d(x, size);
      const [oh, ow] = typeof size === 'number' ? [size, size] : [size[0] ?? shape.at(-2)!, size[1] ?? shape.at(-1)!];
      expect(y.shape).toEqual([...shape.slice(0, -2), oh, ow]);
      checkGrad((t) => adaptiveAvgPool2d(t, size), [x]);
      checkGrad((t) => dotRandom(adaptiveAvgPool2d(t, size), seed + 1), [x]);
      // Each output averages its window: the gradient of sum(out) sums to numel(out).
      const [g] = grad(y.sum(), [x]);
      expect(g!.sum().item()).toBeCloseTo(y.size, 10);
    })), { numRuns: RUNS });
  });

  it('second derivative of sum(adaptiveAvgPool2d(x)^2 * R)', () => {
    fc.assert(fc.property(inputShapeArb(4), sizeArb, seedArb, (shape, size, seed) => withCase(`x [${shape}] size ${JSON.stringify(size)}`, () => {
      checkGradGrad((t) => adaptiveAvgPool2d(t, size).square(), [randT(shape, seed)], seed);
    })), { numRuns: RUNS_SLOW });
  });

  it('an output size dividing the input is avgPool2d with kernel = stride = input/output (same gradient)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 }), seedArb,
      (oh, ow, fh, fw, seed) => {
        const x = randT([1, 2, oh * fh, ow * fw], seed);
        const up = randT([1, 2, oh, ow], seed + 1, { requiresGrad: false });
        const [ga] = grad([adaptiveAvgPool2d(x, [oh, ow])], [x], { gradOutputs: [up] });
        const [gp] = grad([avgPool2d(x, [fh, fw])], [x], { gradOutputs: [up] });
        expectClose(vals(ga!), vals(gp!), 1e-14, 1e-12);
      }), { numRuns: RUNS });
  });

  it('global pooling (size 1): the gradient is upstream / (H*W) everywhere in the plane', () => {
    const x = randT([2, 3, 3, 5], 4);
    const y = adaptiveAvgPool2d(x, 1);
    expect(y.shape).toEqual([2, 3, 1, 1]);
    const up = randT(y.shape, 5, { requiresGrad: false });
    const [g] = grad([y], [x], { gradOutputs: [up] });
    const u = vals(up);
    expectClose(vals(g!), Array.from({ length: x.size }, (_, k) => u[Math.floor(k / 15)] / 15), 1e-15, 1e-13);
  });
});

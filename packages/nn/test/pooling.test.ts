/**
 * MaxPool2d, AvgPool2d and AdaptiveAvgPool2d: forward equals the functional
 * ops, hand values, gradients over random geometry in float64, defaults,
 * returnIndices, repr, and a small conv net end to end.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Tensor, adaptiveAvgPool2d, avgPool2d, gradcheck, maxPool2d, maxPool2dWithIndices, tensor, zeros } from '@normlab/autograd';
import { type AvgPool2dOptions, Generator, type MaxPool2dOptions, type Shape, fromTyped, pool2dGeometry, sizeOf } from '@normlab/tensor';
import { AdaptiveAvgPool2d, AvgPool2d, MaxPool2d } from '../src/pooling.js';
import { Conv2d } from '../src/conv.js';
import { Flatten, ReLU } from '../src/activation.js';
import { Linear } from '../src/linear.js';
import { Sequential } from '../src/containers.js';

fc.configureGlobal({ ...fc.readConfigureGlobal(), includeErrorInReport: true });

const vals = (t: Tensor): number[] => Array.from(t.toTypedArray(), Number);
const f64 = (v: number[], shape: Shape, requiresGrad = false): Tensor => new Tensor(fromTyped(Float64Array.from(v), shape), { requiresGrad });

function randT(shape: Shape, seed: number): Tensor {
  const g = new Generator(seed);
  return f64(Array.from({ length: sizeOf(shape) }, () => g.normal()), shape, true);
}

/** Well separated values in random order (no ties, so max pooling is differentiable at x). */
function distinctT(shape: Shape, seed: number): Tensor {
  const g = new Generator(seed);
  const n = sizeOf(shape);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = g.int(0, i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return f64(order.map((k) => (k - n / 2) * 0.1), shape, true);
}

const checkGrad = (fn: (x: Tensor) => Tensor, x: Tensor): boolean => gradcheck(fn, [x], { eps: 1e-6, atol: 1e-6, rtol: 1e-5, raiseException: true, checkForwardAD: true });

type Pair = number | [number, number];

interface Geometry {
  shape: number[];
  kernel: Pair;
  stride: Pair | undefined;
  padding: Pair;
  dilation: Pair;
  ceilMode: boolean;
}

/** [N, C, H, W] (or unbatched [C, H, W]) with random kernel, stride (or the default), padding <= k/2, dilation, ceilMode; only valid ones. */
const geometryArb: fc.Arbitrary<Geometry> = fc.record({
  n: fc.integer({ min: 0, max: 2 }),
  c: fc.integer({ min: 1, max: 2 }),
  h: fc.integer({ min: 1, max: 6 }),
  w: fc.integer({ min: 1, max: 6 }),
  kh: fc.integer({ min: 1, max: 3 }),
  kw: fc.integer({ min: 1, max: 3 }),
  s: fc.option(fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })), { nil: undefined }),
  pad: fc.boolean(),
  d: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
  ceilMode: fc.boolean(),
}).map((r): Geometry => ({
  shape: r.n === 0 ? [r.c, r.h, r.w] : [r.n, r.c, r.h, r.w],
  kernel: r.kh === r.kw ? r.kh : [r.kh, r.kw],
  stride: r.s,
  padding: r.pad ? [Math.floor(r.kh / 2), Math.floor(r.kw / 2)] : 0,
  dilation: r.d,
  ceilMode: r.ceilMode,
})).filter((g) => {
  try {
    pool2dGeometry(g.shape, g.kernel, { stride: g.stride, padding: g.padding, dilation: g.dilation, ceilMode: g.ceilMode });
    return true;
  } catch {
    return false;
  }
});

describe('MaxPool2d', () => {
  it('hand values: 2x2 windows of a 4x4 plane', () => {
    const x = f64([1, 2, 5, 6, 3, 4, 7, 8, -1, -2, 0, 9, -3, -4, 10, 1], [1, 1, 4, 4]);
    expect(vals(new MaxPool2d(2).forward(x))).toEqual([4, 8, -1, 10]);
    const { values, indices } = new MaxPool2d(2, { returnIndices: true }).forward(x);
    expect(vals(values)).toEqual([4, 8, -1, 10]);
    // Flat index h*W + w of each max within its plane.
    expect(vals(indices)).toEqual([5, 7, 8, 14]);
    expect(indices.dtype).toBe('int32');
  });

  it('forward equals the functional maxPool2d (and WithIndices) over random geometry; stride defaults to the kernel', () => {
    fc.assert(
      fc.property(geometryArb, fc.nat(10_000), (g, seed) => {
        const x = randT(g.shape, seed);
        const opts: Omit<MaxPool2dOptions, 'returnIndices'> = { padding: g.padding, dilation: g.dilation, ceilMode: g.ceilMode, ...(g.stride ? { stride: g.stride } : {}) };
        const m = new MaxPool2d(g.kernel, opts);
        expect(m.stride).toEqual(g.stride ?? g.kernel);
        expect(vals(m.forward(x))).toEqual(vals(maxPool2d(x, g.kernel, opts)));
        const ref = maxPool2dWithIndices(x, g.kernel, opts);
        const both = new MaxPool2d(g.kernel, { ...opts, returnIndices: true }).forward(x);
        expect(vals(both.values)).toEqual(vals(ref.values));
        expect(vals(both.indices)).toEqual(vals(ref.indices));
      }),
      { numRuns: 40 },
    );
  });

  it('gradient wrt the input passes gradcheck over random geometry (inputs without ties)', () => {
    fc.assert(
      fc.property(geometryArb, fc.nat(10_000), (g, seed) => {
        const x = distinctT(g.shape, seed);
        const opts = { stride: g.stride, padding: g.padding, dilation: g.dilation, ceilMode: g.ceilMode };
        const m = new MaxPool2d(g.kernel, opts);
        // A window wholly in the padding gives -inf (no gradient to check there).
        fc.pre(vals(m.forward(x)).every(Number.isFinite));
        checkGrad((xi) => m.forward(xi), x);
        checkGrad((xi) => new MaxPool2d(g.kernel, { ...opts, returnIndices: true }).forward(xi).values, x);
      }),
      { numRuns: 15 },
    );
  });

  it('repr as PyTorch (values as given, stride the kernel size by default)', () => {
    expect(new MaxPool2d(2).toString()).toBe('MaxPool2d(kernelSize=2, stride=2, padding=0, dilation=1, ceilMode=false)');
    expect(new MaxPool2d([3, 2], { stride: 1, padding: [1, 0], dilation: 2, ceilMode: true }).extraRepr())
      .toBe('kernelSize=[3,2], stride=1, padding=[1,0], dilation=2, ceilMode=true');
    expect(new MaxPool2d(2).parameters()).toEqual([]);
  });

  it('errors of the functional op surface at forward', () => {
    expect(() => new MaxPool2d(2, { padding: 2 }).forward(zeros([1, 1, 4, 4]))).toThrow(/half of the kernel/);
    expect(() => new MaxPool2d(2).forward(zeros([4, 4]))).toThrow(RangeError);
  });
});

describe('AvgPool2d', () => {
  it('hand values: mean of each window; countIncludePad and divisorOverride', () => {
    const x = f64([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]);
    expect(vals(new AvgPool2d(2, { stride: 1 }).forward(x))).toEqual([3, 4, 6, 7]);
    // Padding 1, stride 2: corner windows hold one input and three padded zeros.
    expect(vals(new AvgPool2d(2, { stride: 2, padding: 1 }).forward(x))).toEqual([1 / 4, (2 + 3) / 4, (4 + 7) / 4, (5 + 6 + 8 + 9) / 4]);
    expect(vals(new AvgPool2d(2, { stride: 2, padding: 1, countIncludePad: false }).forward(x))).toEqual([1, 2.5, 5.5, 7]);
    expect(vals(new AvgPool2d(2, { stride: 1, divisorOverride: 2 }).forward(x))).toEqual([6, 8, 12, 14]);
  });

  it('forward equals the functional avgPool2d over random geometry', () => {
    fc.assert(
      fc.property(geometryArb, fc.boolean(), fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }), fc.nat(10_000), (g, countIncludePad, divisor, seed) => {
        const x = randT(g.shape, seed);
        const opts: AvgPool2dOptions = { stride: g.stride, padding: g.padding, ceilMode: g.ceilMode, countIncludePad, ...(divisor ? { divisorOverride: divisor } : {}) };
        fc.pre(safeAvg(g.shape, g.kernel, opts));
        expect(vals(new AvgPool2d(g.kernel, opts).forward(x))).toEqual(vals(avgPool2d(x, g.kernel, opts)));
      }),
      { numRuns: 40 },
    );
  });

  it('gradient wrt the input passes gradcheck over random geometry', () => {
    fc.assert(
      fc.property(geometryArb, fc.boolean(), fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }), fc.nat(10_000), (g, countIncludePad, divisor, seed) => {
        const opts: AvgPool2dOptions = { stride: g.stride, padding: g.padding, ceilMode: g.ceilMode, countIncludePad, ...(divisor ? { divisorOverride: divisor } : {}) };
        fc.pre(safeAvg(g.shape, g.kernel, opts));
        const m = new AvgPool2d(g.kernel, opts);
        checkGrad((xi) => m.forward(xi), randT(g.shape, seed));
      }),
      { numRuns: 15 },
    );
  });

  it('repr and validation', () => {
    expect(new AvgPool2d(2).toString()).toBe('AvgPool2d(kernelSize=2, stride=2, padding=0)');
    expect(new AvgPool2d([2, 3], { stride: [1, 2], padding: 1 }).extraRepr()).toBe('kernelSize=[2,3], stride=[1,2], padding=1');
    const m = new AvgPool2d(3);
    expect([m.ceilMode, m.countIncludePad, m.divisorOverride]).toEqual([false, true, null]);
    expect(() => new AvgPool2d(2, { divisorOverride: 0 })).toThrow(/divisorOverride/);
    expect(() => new AvgPool2d(2, { divisorOverride: Number.NaN })).toThrow(/divisorOverride/);
  });
});

/** Pool geometry without dilation that the functional op accepts. */
function safeAvg(shape: number[], kernel: Pair, opts: AvgPool2dOptions): boolean {
  try {
    avgPool2d(zeros(shape), kernel, opts);
    return true;
  } catch {
    return false;
  }
}

describe('AdaptiveAvgPool2d', () => {
  it('global pooling (size 1) is the mean of each plane; null keeps a dim', () => {
    const x = f64([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 2, 2]);
    const y = new AdaptiveAvgPool2d(1).forward(x);
    expect(y.shape).toEqual([1, 2, 1, 1]);
    expect(vals(y)).toEqual([2.5, 6.5]);
    const z = new AdaptiveAvgPool2d([null, 1]).forward(x);
    expect(z.shape).toEqual([1, 2, 2, 1]);
    expect(vals(z)).toEqual([1.5, 3.5, 5.5, 7.5]);
  });

  it('forward equals the functional op and the gradient passes gradcheck (sizes that do and do not divide the input)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 4 }), fc.option(fc.integer({ min: 1, max: 4 }), { nil: null }), fc.nat(10_000),
        (h, w, oh, ow, seed) => {
          const x = randT([2, 1, h, w], seed);
          const m = new AdaptiveAvgPool2d([oh, ow]);
          expect(vals(m.forward(x))).toEqual(vals(adaptiveAvgPool2d(x, [oh, ow])));
          checkGrad((xi) => m.forward(xi), x);
        },
      ),
      { numRuns: 15 },
    );
  });

  it('repr', () => {
    expect(new AdaptiveAvgPool2d(7).toString()).toBe('AdaptiveAvgPool2d(outputSize=7)');
    expect(new AdaptiveAvgPool2d([null, 3]).toString()).toBe('AdaptiveAvgPool2d(outputSize=[null,3])');
  });
});

describe('a small conv net', () => {
  it('Conv2d -> ReLU -> MaxPool2d -> AdaptiveAvgPool2d -> Flatten -> Linear: shapes, and every parameter gets a gradient', () => {
    const net = new Sequential(new Conv2d(1, 4, 3, { padding: 1 }), new ReLU(), new MaxPool2d(2), new AdaptiveAvgPool2d(2), new Flatten(), new Linear(16, 3));
    const x = tensor(Array.from({ length: 2 * 64 }, (_, i) => Math.sin(i))).reshape(2, 1, 8, 8);
    const y = net.forward(x);
    expect(y.shape).toEqual([2, 3]);
    y.sum().backward();
    expect(net.parameters().every((p) => p.grad !== null && p.grad.shape.join() === p.shape.join())).toBe(true);
    expect([...net.namedParameters()].map(([k]) => k)).toEqual(['0.weight', '0.bias', '5.weight', '5.bias']);
  });
});

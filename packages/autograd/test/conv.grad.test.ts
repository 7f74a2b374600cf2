import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Conv2dOptions, conv2dOutputShape } from '@normlab/tensor';
import { Tensor, conv2d, grad } from '../src/index.js';
import { RUNS, RUNS_SLOW, checkGrad, checkGradGrad, dotRandom, expectClose, randT, seedArb, vals } from './helpers.js';

type Pair = number | [number, number];

/** A random valid conv2d problem: shapes, options (every padding form) and whether it is batched. */
interface ConvCase {
  xShape: number[];
  wShape: number[];
  options: Conv2dOptions;
  /** Compact description for failure reports. */
  desc: string;
}

const pairOf = (a: number, b: number, asPair: boolean): Pair => (asPair || a !== b ? [a, b] : a);

/**
 * Small random geometry: N in {unbatched, 1, 2}, groups 1-2 (channels per group 1-2 in and out),
 * kernel 1-3, stride 1-2, dilation 1-2, padding a number, a pair, 'same' (stride 1) or 'valid',
 * and H, W in 1..6 chosen so that the padded input holds the dilated kernel.
 */
function convCaseArb(options: { maxN?: number; maxSpatial?: number; maxCg?: number } = {}): fc.Arbitrary<ConvCase> {
  const { maxN = 2, maxSpatial = 6, maxCg = 2 } = options;
  const axis = fc.record({
    k: fc.integer({ min: 1, max: 3 }),
    stride: fc.integer({ min: 1, max: 2 }),
    dilation: fc.integer({ min: 1, max: 2 }),
    pad: fc.integer({ min: 0, max: 2 }),
    extra: fc.integer({ min: 0, max: 3 }),
  });
  return fc.record({
    n: fc.integer({ min: 0, max: maxN }), // 0: unbatched
    groups: fc.integer({ min: 1, max: 2 }),
    cg: fc.integer({ min: 1, max: maxCg }),
    cog: fc.integer({ min: 1, max: 2 }),
    h: axis,
    w: axis,
    padKind: fc.constantFrom('number', 'pair', 'same', 'valid', 'default'),
    asPair: fc.boolean(),
  }).map(({ n, groups, cg, cog, h, w, padKind, asPair }) => {
    const same = padKind === 'same';
    const strideH = same ? 1 : h.stride;
    const strideW = same ? 1 : w.stride;
    const padH = padKind === 'pair' ? h.pad : padKind === 'number' ? h.pad : 0;
    const padW = padKind === 'pair' ? w.pad : padKind === 'number' ? h.pad : 0;
    const extentH = h.dilation * (h.k - 1) + 1;
    const extentW = w.dilation * (w.k - 1) + 1;
    // 'same' pads extent-1 in total, so any size works; otherwise the padded input must hold the kernel.
    const minH = same ? 1 : Math.max(1, extentH - 2 * padH);
    const minW = same ? 1 : Math.max(1, extentW - 2 * padW);
    const H = Math.min(maxSpatial, minH + h.extra);
    const W = Math.min(maxSpatial, minW + w.extra);
    const C = cg * groups;
    const Cout = cog * groups;
    const opts: Conv2dOptions = {};
    if (strideH !== 1 || strideW !== 1 || asPair) opts.stride = pairOf(strideH, strideW, asPair);
    if (h.dilation !== 1 || w.dilation !== 1 || asPair) opts.dilation = pairOf(h.dilation, w.dilation, asPair);
    if (groups !== 1) opts.groups = groups;
    if (padKind === 'number') opts.padding = padH;
    else if (padKind === 'pair') opts.padding = [padH, padW];
    else if (padKind === 'same' || padKind === 'valid') opts.padding = padKind;
    const xShape = n === 0 ? [C, H, W] : [n, C, H, W];
    const wShape = [Cout, cg, h.k, w.k];
    return { xShape, wShape, options: opts, desc: `x [${xShape}] w [${wShape}] ${JSON.stringify(opts)}` };
  }).filter((c) => {
    // Keep only geometries the forward accepts (a minimum-size input can still be too small when maxSpatial caps it).
    try {
      conv2dOutputShape(c.xShape, c.wShape, c.options);
      return true;
    } catch {
      return false;
    }
  });
}

/** Reports the geometry of a failing case in the thrown error. */
function withCase<T>(c: ConvCase, body: () => T): T {
  try {
    return body();
  } catch (e) {
    if (fc.PreconditionFailure.isFailure(e)) throw e;
    throw new Error(`${c.desc}: ${(e as Error).message}`);
  }
}

describe('conv2d: analytic gradients vs central differences', () => {
  it('gradients w.r.t. x, weight and bias over random geometry (full Jacobian and a random upstream gradient)', () => {
    fc.assert(fc.property(convCaseArb(), seedArb, fc.boolean(), (c, seed, withBias) => withCase(c, () => {
      const x = randT(c.xShape, seed);
      const w = randT(c.wShape, seed + 1);
      const b = randT([c.wShape[0]], seed + 2);
      const outShape = conv2dOutputShape(c.xShape, c.wShape, c.options);
      const y = conv2d(x, w, withBias ? b : null, c.options);
      expect(y.shape).toEqual(outShape);
      if (withBias) {
        checkGrad((xx, ww, bb) => conv2d(xx, ww, bb, c.options), [x, w, b]);
        checkGrad((xx, ww, bb) => dotRandom(conv2d(xx, ww, bb, c.options), seed + 3), [x, w, b]);
      } else {
        checkGrad((xx, ww) => conv2d(xx, ww, null, c.options), [x, w]);
        checkGrad((xx, ww) => dotRandom(conv2d(xx, ww, undefined, c.options), seed + 3), [x, w]);
      }
    })), { numRuns: RUNS });
  });

  it('only some operands requiring grad (x alone, weight alone, bias alone)', () => {
    fc.assert(fc.property(convCaseArb({ maxN: 1 }), seedArb, fc.integer({ min: 0, max: 2 }), (c, seed, which) => withCase(c, () => {
      const x = randT(c.xShape, seed, { requiresGrad: which === 0 });
      const w = randT(c.wShape, seed + 1, { requiresGrad: which === 1 });
      const b = randT([c.wShape[0]], seed + 2, { requiresGrad: which === 2 });
      checkGrad((xx, ww, bb) => dotRandom(conv2d(xx, ww, bb, c.options), seed + 3), [x, w, b]);
      const [g] = grad(dotRandom(conv2d(x, w, b, c.options), seed + 3), [[x, w, b][which]]);
      expect(g!.shape).toEqual([c.xShape, c.wShape, [c.wShape[0]]][which]);
    })), { numRuns: RUNS_SLOW });
  });

  it('unbatched [C,H,W] input: the gradients are those of the batch of one', () => {
    fc.assert(fc.property(convCaseArb({ maxN: 0 }), seedArb, (c, seed) => withCase(c, () => {
      expect(c.xShape.length).toBe(3);
      const x = randT(c.xShape, seed);
      const w = randT(c.wShape, seed + 1);
      const b = randT([c.wShape[0]], seed + 2);
      const y = conv2d(x, w, b, c.options);
      expect(y.ndim).toBe(3);
      const up = randT(y.shape, seed + 3, { requiresGrad: false });
      const [gx, gw, gb] = grad([y], [x, w, b], { gradOutputs: [up] });
      const x4 = x.detach().unsqueeze(0).requiresGrad_();
      const y4 = conv2d(x4, w, b, c.options);
      expectClose(vals(y4), vals(y), 1e-12, 1e-12, 'batched forward');
      const [gx4, gw4, gb4] = grad([y4], [x4, w, b], { gradOutputs: [up.unsqueeze(0)] });
      expect(gx!.shape).toEqual(c.xShape);
      expectClose(vals(gx!), vals(gx4!), 1e-12, 1e-12, 'x gradient');
      expectClose(vals(gw!), vals(gw4!), 1e-12, 1e-12, 'weight gradient');
      expectClose(vals(gb!), vals(gb4!), 1e-12, 1e-12, 'bias gradient');
    })), { numRuns: RUNS_SLOW });
  });

  it('the bias gradient is the upstream gradient summed over N, H, W', () => {
    fc.assert(fc.property(convCaseArb(), seedArb, (c, seed) => withCase(c, () => {
      const x = randT(c.xShape, seed, { requiresGrad: false });
      const w = randT(c.wShape, seed + 1);
      const b = randT([c.wShape[0]], seed + 2);
      const y = conv2d(x, w, b, c.options);
      const up = randT(y.shape, seed + 3, { requiresGrad: false });
      const [gb] = grad([y], [b], { gradOutputs: [up] });
      const expected = up.sum(y.ndim === 4 ? [0, 2, 3] : [1, 2]);
      expect(gb!.shape).toEqual([c.wShape[0]]);
      expectClose(vals(gb!), vals(expected), 1e-12, 1e-12, 'bias gradient');
    })), { numRuns: RUNS });
  });

  it('conv2d is bilinear: <conv(x, w), g> = <x, dL/dx> = <w, dL/dw>', () => {
    fc.assert(fc.property(convCaseArb(), seedArb, (c, seed) => withCase(c, () => {
      const x = randT(c.xShape, seed);
      const w = randT(c.wShape, seed + 1);
      const loss = dotRandom(conv2d(x, w, null, c.options), seed + 2);
      const [gx, gw] = grad(loss, [x, w]);
      const l = loss.item();
      const tol = 1e-10 * (1 + Math.abs(l));
      expect(Math.abs(x.mul(gx!).sum().item() - l)).toBeLessThan(tol);
      expect(Math.abs(w.mul(gw!).sum().item() - l)).toBeLessThan(tol);
    })), { numRuns: RUNS });
  });

  it('a grouped conv equals the per-group convs concatenated (gradients too)', () => {
    fc.assert(fc.property(convCaseArb({ maxN: 1 }).filter((c) => (c.options.groups ?? 1) === 2), seedArb, (c, seed) => withCase(c, () => {
      const x = randT(c.xShape, seed);
      const w = randT(c.wShape, seed + 1);
      const cdim = c.xShape.length - 3;
      const [cg, cog] = [c.wShape[1], c.wShape[0] / 2];
      const single = { ...c.options, groups: 1 };
      const loss1 = dotRandom(conv2d(x, w, null, c.options), seed + 2);
      const r = randT(conv2dOutputShape(c.xShape, c.wShape, c.options), seed + 2, { requiresGrad: false });
      const parts = [0, 1].map((k) => conv2d(x.narrow(cdim, k * cg, cg), w.narrow(0, k * cog, cog), null, single)
        .mul(r.narrow(cdim, k * cog, cog)).sum());
      const loss2 = parts[0].add(parts[1]);
      expect(loss2.item()).toBeCloseTo(loss1.item(), 10);
      const g1 = grad(loss1, [x, w]);
      const g2 = grad(loss2, [x, w]);
      expectClose(vals(g1[0]!), vals(g2[0]!), 1e-12, 1e-10, 'x gradient');
      expectClose(vals(g1[1]!), vals(g2[1]!), 1e-12, 1e-10, 'weight gradient');
    })), { numRuns: RUNS_SLOW });
  });
});

describe('conv2d: second derivatives', () => {
  it('gradgradcheck w.r.t. (x, weight) through conv2dBackwardInput/conv2dBackwardWeight', () => {
    fc.assert(fc.property(convCaseArb({ maxN: 1, maxSpatial: 4, maxCg: 1 }), seedArb, (c, seed) => withCase(c, () => {
      const x = randT(c.xShape, seed);
      const w = randT(c.wShape, seed + 1);
      const b = randT([c.wShape[0]], seed + 2, { requiresGrad: false });
      checkGradGrad((xx, ww) => conv2d(xx, ww, b, c.options), [x, w], seed);
    })), { numRuns: RUNS_SLOW });
  });

  it('gradgradcheck of a non-linear loss sum(conv2d(x, w, b)^2) w.r.t. x, weight and bias', () => {
    fc.assert(fc.property(convCaseArb({ maxN: 1, maxSpatial: 4, maxCg: 1 }), seedArb, (c, seed) => withCase(c, () => {
      const x = randT(c.xShape, seed);
      const w = randT(c.wShape, seed + 1);
      const b = randT([c.wShape[0]], seed + 2);
      checkGradGrad((xx, ww, bb) => conv2d(xx, ww, bb, c.options).square(), [x, w, b], seed);
    })), { numRuns: RUNS_SLOW });
  });

  it('the mixed partial d/dw (dL/dx) of L = <conv(x, w), R> is the weight gradient of <conv(x, w), R> with x replaced', () => {
    // L is bilinear: d/dw <dL/dx, V> = dL/dw evaluated at x = V.
    fc.assert(fc.property(convCaseArb({ maxN: 1 }), seedArb, (c, seed) => withCase(c, () => {
      const x = randT(c.xShape, seed);
      const w = randT(c.wShape, seed + 1);
      const v = randT(c.xShape, seed + 2, { requiresGrad: false });
      const [gx] = grad(dotRandom(conv2d(x, w, null, c.options), seed + 3), [x], { createGraph: true });
      expect(gx!.requiresGrad).toBe(true);
      const [mixed] = grad(gx!.mul(v).sum(), [w], { retainGraph: true });
      const [direct] = grad(dotRandom(conv2d(v, w, null, c.options), seed + 3), [w]);
      expectClose(vals(mixed!), vals(direct!), 1e-12, 1e-10, 'mixed partial');
      // d2L/dx2 = 0: the x gradient does not depend on x.
      const [gxx] = grad(gx!.mul(v).sum(), [x], { allowUnused: true });
      if (gxx) expectClose(vals(gxx), vals(gxx).map(() => 0), 0, 0, 'd2L/dx2');
    })), { numRuns: RUNS_SLOW });
  });
});

describe('conv2d: fixed cases', () => {
  it("'same' padding with an even kernel keeps the size and puts the extra row/column at the end", () => {
    const x = randT([1, 1, 4, 5], 3);
    const w = randT([2, 1, 2, 4], 4);
    const y = conv2d(x, w, null, { padding: 'same' });
    expect(y.shape).toEqual([1, 2, 4, 5]);
    checkGrad((xx, ww) => conv2d(xx, ww, null, { padding: 'same' }), [x, w]);
    checkGradGrad((xx, ww) => conv2d(xx, ww, null, { padding: 'same' }).square(), [x, w], 5);
  });

  it('a 1x1 kernel is a channel matmul: the weight gradient is sum over pixels of g x^T', () => {
    const x = randT([2, 3, 2, 2], 7);
    const w = randT([4, 3, 1, 1], 8);
    const y = conv2d(x, w);
    const up = randT(y.shape, 9, { requiresGrad: false });
    const [gw] = grad([y], [w], { gradOutputs: [up] });
    // dw[o][c] = sum_{n,h,w} up[n][o][h][w] x[n][c][h][w]
    const xs = x.detach().permute(1, 0, 2, 3).reshape(3, -1);
    const us = up.permute(1, 0, 2, 3).reshape(4, -1);
    const expected = us.matmul(xs.transpose(0, 1));
    expectClose(vals(gw!), vals(expected), 1e-12, 1e-12, 'weight gradient');
  });

  it('gradients of float32 inputs are float32 and have the input shapes', () => {
    const x = randT([1, 2, 4, 4], 1).astype('float32').detach().requiresGrad_();
    const w = randT([3, 2, 3, 3], 2).astype('float32').detach().requiresGrad_();
    const b = randT([3], 3).astype('float32').detach().requiresGrad_();
    conv2d(x, w, b, { stride: 2, padding: 1 }).sum().backward();
    for (const [t, shape] of [[x, [1, 2, 4, 4]], [w, [3, 2, 3, 3]], [b, [3]]] as [Tensor, number[]][]) {
      expect(t.grad!.dtype).toBe('float32');
      expect(t.grad!.shape).toEqual(shape);
    }
  });
});

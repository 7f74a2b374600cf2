/**
 * Conv2d: forward against the functional conv2d and a direct float64 loop,
 * gradients wrt input, weight and bias over random geometry (groups, 'same',
 * stride, dilation), PyTorch's default init bounds, validation and repr.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Tensor, conv2d, gradcheck, manualSeed, randn, zeros } from '@normlab/autograd';
import { Generator, type Shape, conv2dOutputShape, fromTyped, sizeOf } from '@normlab/tensor';
import { Conv2d, type Conv2dModuleOptions } from '../src/conv.js';
import * as init from '../src/init.js';

fc.configureGlobal({ ...fc.readConfigureGlobal(), includeErrorInReport: true });

// (The autograd package's test helpers import its sources by path, a second copy of Tensor: not usable here.)
const vals = (t: Tensor): number[] => Array.from(t.toTypedArray(), Number);

/** A seeded float64 N(0, 1) tensor, a leaf requiring grad unless told. */
function randT(shape: Shape, seed: number, options: { requiresGrad?: boolean } = {}): Tensor {
  const g = new Generator(seed);
  const data = Float64Array.from({ length: sizeOf(shape) }, () => g.normal());
  return new Tensor(fromTyped(data, shape), { requiresGrad: options.requiresGrad ?? true });
}

/** Full-Jacobian gradcheck; float64 central differences err ~1e-9, so atol 1e-6 / rtol 1e-5 still catch a wrong term. */
const checkGrad = (fn: (...xs: Tensor[]) => Tensor, inputs: readonly Tensor[]): boolean =>
  gradcheck(fn, inputs, { eps: 1e-6, atol: 1e-6, rtol: 1e-5, raiseException: true, checkForwardAD: true });

function expectClose(actual: readonly number[], expected: readonly number[], atol: number, rtol: number): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => {
    if (!(Math.abs(a - expected[i]) <= atol + rtol * Math.abs(expected[i]))) throw new Error(`entry ${i}: got ${a}, expected ${expected[i]}`);
  });
}

type Pair = [number, number];

/**
 * conv2d by its definition in float64: out[n, o, i, j] = b[o] + sum over the
 * group's channels and taps of w * x at (i*s - padTop + ky*d, j*s - padLeft + kx*d).
 * 'same' pads (extent - 1) in total per axis, the odd one at the bottom/right.
 */
function convRef(x: Tensor, w: Tensor, b: Tensor | null, stride: Pair, padding: Pair | 'same', dilation: Pair, groups: number): number[] {
  const [N, C, H, W] = x.shape;
  const [O, Cg, kh, kw] = w.shape;
  const xv = vals(x);
  const wv = vals(w);
  const bv = b ? vals(b) : null;
  const extent: Pair = [dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1];
  const padBefore: Pair = padding === 'same' ? [Math.floor((extent[0] - 1) / 2), Math.floor((extent[1] - 1) / 2)] : padding;
  const padTotal: Pair = padding === 'same' ? [extent[0] - 1, extent[1] - 1] : [2 * padding[0], 2 * padding[1]];
  const OH = Math.floor((H + padTotal[0] - extent[0]) / stride[0]) + 1;
  const OW = Math.floor((W + padTotal[1] - extent[1]) / stride[1]) + 1;
  const out: number[] = [];
  const perGroup = O / groups;
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) {
      const g = Math.floor(o / perGroup);
      for (let i = 0; i < OH; i++) {
        for (let j = 0; j < OW; j++) {
          let s = bv ? bv[o] : 0;
          for (let c = 0; c < Cg; c++) {
            for (let ky = 0; ky < kh; ky++) {
              for (let kx = 0; kx < kw; kx++) {
                const y = i * stride[0] - padBefore[0] + ky * dilation[0];
                const xx = j * stride[1] - padBefore[1] + kx * dilation[1];
                if (y < 0 || y >= H || xx < 0 || xx >= W) continue;
                s += wv[((o * Cg + c) * kh + ky) * kw + kx] * xv[((n * C + g * Cg + c) * H + y) * W + xx];
              }
            }
          }
          out.push(s);
        }
      }
    }
  }
  return out;
}

interface ConvCase {
  n: number;
  inC: number;
  outC: number;
  groups: number;
  kernel: Pair;
  h: number;
  w: number;
  options: Conv2dModuleOptions;
  stride: Pair;
  padding: Pair | 'same';
  dilation: Pair;
}

/** Random small geometry the forward accepts: groups 1..2, kernels 1..3, stride/dilation 1..2, padding 0..1 or 'same'. */
const convCaseArb: fc.Arbitrary<ConvCase> = fc.record({
  n: fc.integer({ min: 1, max: 2 }),
  groups: fc.integer({ min: 1, max: 2 }),
  inPer: fc.integer({ min: 1, max: 2 }),
  outPer: fc.integer({ min: 1, max: 2 }),
  kh: fc.integer({ min: 1, max: 3 }),
  kw: fc.integer({ min: 1, max: 3 }),
  h: fc.integer({ min: 1, max: 5 }),
  w: fc.integer({ min: 1, max: 5 }),
  sh: fc.integer({ min: 1, max: 2 }),
  sw: fc.integer({ min: 1, max: 2 }),
  dh: fc.integer({ min: 1, max: 2 }),
  dw: fc.integer({ min: 1, max: 2 }),
  pad: fc.constantFrom<'same' | 0 | 1>('same', 0, 1),
  bias: fc.boolean(),
}).map((r) => {
  const stride: Pair = r.pad === 'same' ? [1, 1] : [r.sh, r.sw];
  const padding: Pair | 'same' = r.pad === 'same' ? 'same' : [r.pad, r.pad];
  const dilation: Pair = [r.dh, r.dw];
  const options: Conv2dModuleOptions = { stride, padding, dilation, groups: r.groups, bias: r.bias, dtype: 'float64' };
  return {
    n: r.n, inC: r.groups * r.inPer, outC: r.groups * r.outPer, groups: r.groups, kernel: [r.kh, r.kw] as Pair,
    h: r.h, w: r.w, options, stride, padding, dilation,
  };
}).filter((c) => {
  try {
    conv2dOutputShape([c.n, c.inC, c.h, c.w], [c.outC, c.inC / c.groups, ...c.kernel], c);
    return true;
  } catch {
    return false;
  }
});

/** A float64 Conv2d of the case with N(0, 1) parameters from `seed`. */
function convOf(c: ConvCase, seed: number): Conv2d {
  const conv = new Conv2d(c.inC, c.outC, c.kernel, c.options);
  init.normal(conv.weight, 0, 1, new Generator(seed));
  if (conv.bias) init.normal(conv.bias, 0, 1, new Generator(seed + 1));
  return conv;
}

describe('Conv2d forward', () => {
  it('equals the functional conv2d and a direct float64 loop over random geometry', () => {
    fc.assert(
      fc.property(convCaseArb, fc.nat(10_000), (c, seed) => {
        const conv = convOf(c, seed);
        const x = randT([c.n, c.inC, c.h, c.w], seed + 2, { requiresGrad: false });
        const y = conv.forward(x);
        const f = conv2d(x, conv.weight, conv.bias, { stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups });
        expect(y.shape).toEqual(f.shape);
        expect(vals(y)).toEqual(vals(f));
        expectClose(vals(y), convRef(x, conv.weight, conv.bias, c.stride, c.padding, c.dilation, c.groups), 1e-12, 1e-12);
        if (c.padding === 'same') expect(y.shape.slice(2)).toEqual([c.h, c.w]);
      }),
      { numRuns: 40 },
    );
  });

  it('an unbatched input [C, H, W] gives the batch of one without the batch dim', () => {
    const conv = new Conv2d(2, 3, 3, { padding: 1, dtype: 'float64' });
    const x = randT([2, 4, 5], 3, { requiresGrad: false });
    const y = conv.forward(x);
    expect(y.shape).toEqual([3, 4, 5]);
    expect(vals(y)).toEqual(vals(conv.forward(x.unsqueeze(0))));
  });

  it("'same' with an even kernel and dilation keeps H and W (extra padding at the bottom/right)", () => {
    const conv = new Conv2d(1, 1, [2, 4], { padding: 'same', dilation: [1, 2], bias: false, dtype: 'float64' });
    const x = randT([1, 1, 5, 6], 4, { requiresGrad: false });
    const y = conv.forward(x);
    expect(y.shape).toEqual([1, 1, 5, 6]);
    expectClose(vals(y), convRef(x, conv.weight, null, [1, 1], 'same', [1, 2], 1), 1e-12, 1e-12);
  });

  it("stride, padding and 'valid' give PyTorch's output sizes", () => {
    const x = zeros([2, 3, 9, 7]);
    expect(new Conv2d(3, 4, 3, { stride: 2, padding: 1 }).forward(x).shape).toEqual([2, 4, 5, 4]);
    expect(new Conv2d(3, 4, [3, 1], { padding: 'valid' }).forward(x).shape).toEqual([2, 4, 7, 7]);
    expect(new Conv2d(3, 6, 1, { groups: 3 }).forward(x).shape).toEqual([2, 6, 9, 7]);
    expect(new Conv2d(3, 4, 3, { dilation: 2 }).forward(x).shape).toEqual([2, 4, 5, 3]);
  });
});

describe('Conv2d gradients', () => {
  it('wrt input, weight and bias pass gradcheck in float64 (random geometry incl. groups and same)', () => {
    fc.assert(
      fc.property(convCaseArb, fc.nat(10_000), (c, seed) => {
        const conv = convOf(c, seed);
        const x = randT([c.n, c.inC, c.h, c.w], seed + 2);
        const params = conv.bias ? [conv.weight, conv.bias] : [conv.weight];
        checkGrad((xi) => conv.forward(xi), [x, ...params]);
      }),
      { numRuns: 12 },
    );
  });

  it('backward fills weight.grad and bias.grad (bias grad = sum of the upstream gradient)', () => {
    const conv = new Conv2d(2, 3, 3, { padding: 1, dtype: 'float64' });
    conv.forward(randT([2, 2, 4, 4], 8, { requiresGrad: false })).sum().backward();
    expect(conv.weight.grad!.shape).toEqual([3, 2, 3, 3]);
    expect(vals(conv.bias!.grad!)).toEqual([32, 32, 32]);
  });
});

describe('Conv2d parameters', () => {
  it('shapes [out, in/groups, kh, kw] and [out], float32 by default, names weight and bias', () => {
    const conv = new Conv2d(4, 6, [3, 2], { groups: 2 });
    expect(conv.weight.shape).toEqual([6, 2, 3, 2]);
    expect(conv.bias!.shape).toEqual([6]);
    expect(conv.weight.dtype).toBe('float32');
    expect([...conv.stateDict().keys()]).toEqual(['weight', 'bias']);
    const noBias = new Conv2d(4, 6, 3, { bias: false });
    expect(noBias.bias).toBeNull();
    expect(noBias.parameters()).toHaveLength(1);
  });

  it('default init: weight and bias in U(-1/sqrt(fanIn), 1/sqrt(fanIn)), fanIn = in/groups * kh * kw, filling the range', () => {
    for (const [inC, outC, k, groups] of [[8, 16, 3, 1], [8, 16, [3, 5], 4], [3, 64, 1, 1]] as const) {
      const conv = new Conv2d(inC, outC, k, { groups });
      const [kh, kw] = typeof k === 'number' ? [k, k] : k;
      const bound = 1 / Math.sqrt((inC / groups) * kh * kw);
      const w = vals(conv.weight);
      const b = vals(conv.bias!);
      // float32 storage rounds the bound itself by up to one ulp.
      expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound * (1 + 1e-6));
      expect(Math.max(...b.map(Math.abs))).toBeLessThanOrEqual(bound * (1 + 1e-6));
      // With >= 576 samples the extremes come within 2% of the bound (probability of failure < 1e-5).
      expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(0.98 * bound);
      // Mean near 0: sd of the mean is bound / sqrt(3 n).
      const mean = w.reduce((a, v) => a + v, 0) / w.length;
      expect(Math.abs(mean)).toBeLessThan(5 * bound / Math.sqrt(3 * w.length));
    }
  });

  it('resetParameters draws from the default generator (reproducible with manualSeed)', () => {
    manualSeed(5);
    const a = new Conv2d(2, 2, 2);
    manualSeed(5);
    const b = new Conv2d(2, 2, 2);
    expect(vals(a.weight)).toEqual(vals(b.weight));
    expect(vals(a.bias!)).toEqual(vals(b.bias!));
  });
});

describe('Conv2d validation and repr', () => {
  it('rejects bad channels, groups, kernel, padding and paddingMode when built', () => {
    // Values outside the declared types, as plain JS callers could pass.
    const str = (s: string): string => s;
    expect(() => new Conv2d(3, 4, 3, { groups: 2 })).toThrow(/inChannels \(3\) must be divisible by groups \(2\)/);
    expect(() => new Conv2d(4, 3, 3, { groups: 2 })).toThrow(/outChannels \(3\) must be divisible by groups \(2\)/);
    expect(() => new Conv2d(4, 4, 3, { groups: 0 })).toThrow(/groups/);
    expect(() => new Conv2d(0, 4, 3)).toThrow(/inChannels/);
    expect(() => new Conv2d(2, 1.5, 3)).toThrow(/outChannels/);
    expect(() => new Conv2d(2, 2, 0)).toThrow(/kernelSize/);
    expect(() => new Conv2d(2, 2, 3, { stride: 0 })).toThrow(/stride/);
    expect(() => new Conv2d(2, 2, 3, { padding: -1 })).toThrow(/padding/);
    expect(() => new Conv2d(2, 2, 3, { padding: str('full') as 'same' })).toThrow(/'same', 'valid'/);
    expect(() => new Conv2d(2, 2, 3, { padding: 'same', stride: 2 })).toThrow(/strided/);
    expect(() => new Conv2d(2, 2, 3, { paddingMode: str('reflect') as 'zeros' })).toThrow(/paddingMode 'reflect' is not implemented/);
    expect(() => new Conv2d(2, 2, 3, { paddingMode: str('mirror') as 'zeros' })).toThrow(/paddingMode 'mirror' is not one of/);
  });

  it('rejects an input with the wrong channel count or rank', () => {
    const conv = new Conv2d(3, 4, 3);
    expect(() => conv.forward(zeros([1, 2, 5, 5]))).toThrow(/expected input \[N, 3, H, W\]/);
    expect(() => conv.forward(zeros([3, 5]))).toThrow(RangeError);
    expect(() => conv.forward(zeros([1, 3, 2, 2]))).toThrow(/smaller than the dilated kernel/);
  });

  it("extraRepr as PyTorch's: kernelSize and stride always, the rest when not default", () => {
    expect(new Conv2d(3, 16, 3).toString()).toBe('Conv2d(3, 16, kernelSize=[3,3], stride=[1,1])');
    expect(new Conv2d(3, 16, [3, 5], { stride: 2, padding: [1, 2], dilation: 2, bias: false }).toString())
      .toBe('Conv2d(3, 16, kernelSize=[3,5], stride=[2,2], padding=[1,2], dilation=[2,2], bias=false)');
    expect(new Conv2d(4, 8, 3, { padding: 'same', groups: 4 }).extraRepr()).toBe("4, 8, kernelSize=[3,3], stride=[1,1], padding='same', groups=4");
    expect(new Conv2d(4, 8, 1, { padding: 'valid' }).extraRepr()).toBe("4, 8, kernelSize=[1,1], stride=[1,1], padding='valid'");
  });

  it('float32 forward matches float64 within float32 rounding', () => {
    const conv = new Conv2d(2, 3, 3, { padding: 1 });
    const x = randn([1, 2, 4, 4], { generator: new Generator(9) });
    const y = conv.forward(x);
    expect(y.dtype).toBe('float32');
    const ref = conv2d(x.double(), conv.weight.double(), conv.bias!.double(), { padding: 1 });
    expectClose(vals(y), vals(ref), 1e-5, 1e-5);
  });
});

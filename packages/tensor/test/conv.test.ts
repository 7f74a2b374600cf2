import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Conv2dOptions, type NDArray, conv2d, conv2dBackwardBias, conv2dBackwardInput, conv2dBackwardWeight,
  conv2dGeometry, conv2dOutputShape, cpuBackend, fromArray, getNumThreads, ones, profile, setNumThreads, zeros,
} from '../src/index.js';
import { dot, expectClose as expectCloseTo, rand64 } from './helpers.js';
import { SIM } from './sim-backend.js';

const expectClose = (actual: NDArray, expected: ArrayLike<number>, shape: number[], tol = 1e-9): void =>
  expectCloseTo(actual, expected, shape, tol);


interface Case {
  N: number; G: number; cinG: number; coutG: number; H: number; W: number; kh: number; kw: number;
  sh: number; sw: number; ph: number; pw: number; dh: number; dw: number; bias: boolean; seed: number;
}

const caseArb = fc.record({
  N: fc.integer({ min: 1, max: 2 }), G: fc.integer({ min: 1, max: 2 }), cinG: fc.integer({ min: 1, max: 3 }),
  coutG: fc.integer({ min: 1, max: 3 }), H: fc.integer({ min: 1, max: 7 }), W: fc.integer({ min: 1, max: 7 }),
  kh: fc.integer({ min: 1, max: 3 }), kw: fc.integer({ min: 1, max: 3 }), sh: fc.integer({ min: 1, max: 3 }),
  sw: fc.integer({ min: 1, max: 3 }), ph: fc.integer({ min: 0, max: 2 }), pw: fc.integer({ min: 0, max: 2 }),
  dh: fc.integer({ min: 1, max: 2 }), dw: fc.integer({ min: 1, max: 2 }), bias: fc.boolean(), seed: fc.integer(),
}).filter((c) => c.H + 2 * c.ph >= c.dh * (c.kh - 1) + 1 && c.W + 2 * c.pw >= c.dw * (c.kw - 1) + 1);

/**
 * Direct convolution in float64: pads (top, left, bottom, right) then slides the
 * dilated kernel with the stride, group by group.
 */
function refConv(
  x: Float64Array, xs: number[], w: Float64Array, ws: number[], b: Float64Array | null,
  stride: number[], pad: number[], dil: number[], groups: number,
): { data: Float64Array; shape: number[] } {
  const [N, C, H, W] = xs;
  const [Cout, Cg, kh, kw] = ws;
  const [pt, pl, pb, pr] = pad;
  const oh = Math.floor((H + pt + pb - dil[0] * (kh - 1) - 1) / stride[0]) + 1;
  const ow = Math.floor((W + pl + pr - dil[1] * (kw - 1) - 1) / stride[1]) + 1;
  const out = new Float64Array(N * Cout * oh * ow);
  const coutG = Cout / groups;
  for (let n = 0; n < N; n++) {
    for (let co = 0; co < Cout; co++) {
      const g = Math.floor(co / coutG);
      for (let i = 0; i < oh; i++) {
        for (let j = 0; j < ow; j++) {
          let s = b ? b[co] : 0;
          for (let c = 0; c < Cg; c++) {
            for (let ki = 0; ki < kh; ki++) {
              for (let kj = 0; kj < kw; kj++) {
                const ih = i * stride[0] - pt + ki * dil[0];
                const iw = j * stride[1] - pl + kj * dil[1];
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                s += x[((n * C + g * Cg + c) * H + ih) * W + iw] * w[((co * Cg + c) * kh + ki) * kw + kj];
              }
            }
          }
          out[((n * Cout + co) * oh + i) * ow + j] = s;
        }
      }
    }
  }
  return { data: out, shape: [N, Cout, oh, ow] };
}

function setup(c: Case) {
  const xShape = [c.N, c.G * c.cinG, c.H, c.W];
  const wShape = [c.G * c.coutG, c.cinG, c.kh, c.kw];
  const x = rand64(xShape, c.seed);
  const w = rand64(wShape, c.seed + 1);
  const b = c.bias ? rand64([c.G * c.coutG], c.seed + 2) : undefined;
  const options: Conv2dOptions = { stride: [c.sh, c.sw], padding: [c.ph, c.pw], dilation: [c.dh, c.dw], groups: c.G };
  return { xShape, wShape, x, w, b, options };
}

describe('im2col / col2im', () => {
  it('im2col matches a direct gather of the windows', () => {
    fc.assert(fc.property(caseArb, (c) => {
      const { x, xShape, options } = setup(c);
      const plan = conv2dGeometry(xShape, [1, xShape[1], c.kh, c.kw], { ...options, groups: 1 });
      const [oh, ow] = plan.outSize;
      const cols = cpuBackend.im2col(x, plan.geometry, plan.outSize);
      const [N, C, H, W] = xShape;
      const xd = x.toTypedArray();
      const expected = new Float64Array(N * C * c.kh * c.kw * oh * ow);
      let k = 0;
      for (let n = 0; n < N; n++) for (let ch = 0; ch < C; ch++) for (let ki = 0; ki < c.kh; ki++) for (let kj = 0; kj < c.kw; kj++) {
        for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) {
          const ih = i * c.sh - c.ph + ki * c.dh;
          const iw = j * c.sw - c.pw + kj * c.dw;
          expected[k++] = ih >= 0 && ih < H && iw >= 0 && iw < W ? xd[((n * C + ch) * H + ih) * W + iw] : 0;
        }
      }
      expectClose(cols, expected, [N, C * c.kh * c.kw, oh * ow], 0);
    }), { numRuns: 30 });
  });

  it('col2im is the adjoint of im2col: <col2im(g), x> = <g, im2col(x)>', () => {
    fc.assert(fc.property(caseArb, (c) => {
      const { x, xShape, options } = setup(c);
      const plan = conv2dGeometry(xShape, [1, xShape[1], c.kh, c.kw], { ...options, groups: 1 });
      const cols = cpuBackend.im2col(x, plan.geometry, plan.outSize);
      const g = rand64([...cols.shape], c.seed + 7);
      const back = cpuBackend.col2im(g, plan.geometry, xShape, plan.outSize);
      expect(back.shape).toEqual(xShape);
      const lhs = dot(back, x);
      const rhs = dot(g, cols);
      expect(Math.abs(lhs - rhs)).toBeLessThan(1e-9 * (1 + Math.abs(rhs)));
    }), { numRuns: 30 });
  });

  it('float32 (the wasm kernel: bulk copies and fills) gives the JS loop\'s columns exactly, on host, resident and offset inputs', () => {
    fc.assert(fc.property(caseArb, fc.boolean(), (c, resident) => {
      const { x, xShape } = setup(c);
      const plan = conv2dGeometry(xShape, [1, xShape[1], c.kh, c.kw], { stride: [c.sh, c.sw], padding: [c.ph, c.pw], dilation: [c.dh, c.dw] });
      const n = x.size;
      // an offset view of float32 values (exact in float64, so the JS loop's columns compare bit for bit)
      const flat = fromArray([0.5, ...Array.from(x.toTypedArray(), Math.fround)], { dtype: 'float32' });
      const x32 = (resident ? flat.clone() : flat).narrow(0, 1, n).reshape(xShape);
      const got = cpuBackend.im2col(x32, plan.geometry, plan.outSize).toTypedArray();
      const want = cpuBackend.im2col(x32.astype('float64'), plan.geometry, plan.outSize).toTypedArray();
      expect(Array.from(got)).toEqual(Array.from(want));
    }), { numRuns: 60 });
  });

  it('float32 stride-1 windows as wide as the input (one block copy per kernel offset) give the JS loop\'s columns', () => {
    for (const [k, p, d] of [[3, 1, 1], [5, 2, 1], [3, 2, 2], [2, 0, 1], [1, 0, 1]]) {
      for (const resident of [false, true]) {
        const xs = [2, 3, 9, 7 + p * 0];
        const n = xs.reduce((a, b) => a * b, 1);
        const flat = fromArray([0.5, ...Array.from(rand64([n], k * 10 + p).toTypedArray(), Math.fround)], { dtype: 'float32' });
        const x32 = (resident ? flat.clone() : flat).narrow(0, 1, n).reshape(xs);
        const plan = conv2dGeometry(xs, [1, 3, k, k], { padding: 'same', dilation: d });
        const got = cpuBackend.im2col(x32, plan.geometry, plan.outSize).toTypedArray();
        const want = cpuBackend.im2col(x32.astype('float64'), plan.geometry, plan.outSize).toTypedArray();
        expect(Array.from(got)).toEqual(Array.from(want));
      }
    }
  });

  it('reads strided (non-contiguous) inputs', () => {
    const x = rand64([1, 3, 4, 2], 5).permute(0, 1, 3, 2); // [1,3,2,4] view
    const g = { stride: [1, 1] as [number, number], padding: [1, 0] as [number, number], dilation: [1, 1] as [number, number], kernel: [2, 2] as [number, number] };
    const a = cpuBackend.im2col(x, g, [3, 3]);
    const b = cpuBackend.im2col(x.contiguous(), g, [3, 3]);
    expect(Array.from(a.toTypedArray())).toEqual(Array.from(b.toTypedArray()));
  });
});

describe('conv2d forward', () => {
  it('matches direct convolution over random shapes and options', () => {
    fc.assert(fc.property(caseArb, (c) => {
      const { x, w, b, xShape, wShape, options } = setup(c);
      const ref = refConv(x.toTypedArray() as Float64Array, xShape, w.toTypedArray() as Float64Array, wShape,
        b ? (b.toTypedArray() as Float64Array) : null, [c.sh, c.sw], [c.ph, c.pw, c.ph, c.pw], [c.dh, c.dw], c.G);
      const out = conv2d(x, w, b, options);
      expectClose(out, ref.data, ref.shape);
      expect(conv2dOutputShape(xShape, wShape, options)).toEqual(ref.shape);
    }), { numRuns: 30 });
  });

  it("padding 'same' keeps the size, with the odd pad at the bottom/right for even kernels", () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 }), fc.integer(),
      (H, W, kh, kw, dh, dw, seed) => {
        const x = rand64([1, 2, H, W], seed);
        const w = rand64([3, 2, kh, kw], seed + 1);
        const th = dh * (kh - 1);
        const tw = dw * (kw - 1);
        const pt = Math.floor(th / 2);
        const pl = Math.floor(tw / 2);
        const ref = refConv(x.toTypedArray() as Float64Array, [1, 2, H, W], w.toTypedArray() as Float64Array, [3, 2, kh, kw], null,
          [1, 1], [pt, pl, th - pt, tw - pl], [dh, dw], 1);
        const out = conv2d(x, w, undefined, { padding: 'same', dilation: [dh, dw] });
        expectClose(out, ref.data, [1, 3, H, W]);
      },
    ), { numRuns: 30 });
  });

  it("padding 'valid' is no padding", () => {
    const x = rand64([1, 1, 5, 5], 1);
    const w = rand64([1, 1, 3, 3], 2);
    expect(Array.from(conv2d(x, w, null, { padding: 'valid' }).toTypedArray())).toEqual(Array.from(conv2d(x, w).toTypedArray()));
  });

  it('computes a hand-checked case with bias', () => {
    const x = fromArray([[[[1, 2, 3], [4, 5, 6], [7, 8, 9]]]]);
    const w = fromArray([[[[1, 1], [1, 1]]], [[[1, 0], [0, -1]]]]);
    const out = conv2d(x, w, fromArray([0, 10]));
    expect(out.shape).toEqual([1, 2, 2, 2]);
    expect(out.toArray()).toEqual([[[[12, 16], [24, 28]], [[6, 6], [6, 6]]]]);
    // stride 2 with padding 1: windows centred on the corners
    const s = conv2d(x, ones([1, 1, 3, 3]), undefined, { stride: 2, padding: 1 });
    expect(s.toArray()).toEqual([[[[12, 16], [24, 28]]]]);
  });

  it('accepts unbatched input, float32, and strided views', () => {
    const x = rand64([2, 5, 4], 3);
    const w = rand64([3, 2, 2, 2], 4);
    const batched = conv2d(x.unsqueeze(0), w, undefined, { padding: 1 });
    const un = conv2d(x, w, undefined, { padding: 1 });
    expect(un.shape).toEqual([3, 6, 5]);
    expectClose(un, batched.toTypedArray(), [3, 6, 5]);
    const x32 = x.astype('float32');
    const w32 = w.astype('float32');
    expectClose(conv2d(x32, w32, undefined, { padding: 1 }), un.toTypedArray(), [3, 6, 5], 1e-5);
    const xt = rand64([2, 4, 5], 3).transpose(1, 2); // a [2,5,4] view
    expectClose(conv2d(xt, w), conv2d(xt.contiguous(), w).toTypedArray(), [3, 4, 3]);
  });

  it('1x1 convolutions (the im2col-free path) and depthwise groups', () => {
    const x = rand64([2, 4, 3, 3], 8);
    const w = rand64([6, 4, 1, 1], 9);
    const ref = refConv(x.toTypedArray() as Float64Array, [2, 4, 3, 3], w.toTypedArray() as Float64Array, [6, 4, 1, 1], null, [1, 1], [0, 0, 0, 0], [1, 1], 1);
    expectClose(conv2d(x, w), ref.data, ref.shape);
    const wd = rand64([4, 1, 3, 3], 10);
    const refd = refConv(x.toTypedArray() as Float64Array, [2, 4, 3, 3], wd.toTypedArray() as Float64Array, [4, 1, 3, 3], null, [1, 1], [1, 1, 1, 1], [1, 1], 4);
    expectClose(conv2d(x, wd, undefined, { padding: 1, groups: 4 }), refd.data, refd.shape);
  });
});

describe('conv2d backward helpers', () => {
  it('conv2dBackwardInput is the transpose: <dX(g), dx> = <g, conv2d(dx, w)>', () => {
    fc.assert(fc.property(caseArb, (c) => {
      const { w, xShape, options } = setup(c);
      const dx = rand64(xShape, c.seed + 3);
      const y = conv2d(dx, w, undefined, options);
      const g = rand64([...y.shape], c.seed + 4);
      const gx = conv2dBackwardInput(g, w, xShape, options);
      expect(gx.shape).toEqual(xShape);
      const lhs = dot(gx, dx);
      const rhs = dot(g, y);
      expect(Math.abs(lhs - rhs)).toBeLessThan(1e-9 * (1 + Math.abs(rhs)));
    }), { numRuns: 30 });
  });

  it('conv2dBackwardWeight is the transpose: <dW(g), dw> = <g, conv2d(x, dw)>', () => {
    fc.assert(fc.property(caseArb, (c) => {
      const { x, wShape, options } = setup(c);
      const dw = rand64(wShape, c.seed + 5);
      const y = conv2d(x, dw, undefined, options);
      const g = rand64([...y.shape], c.seed + 6);
      const gw = conv2dBackwardWeight(g, x, wShape, options);
      expect(gw.shape).toEqual(wShape);
      const lhs = dot(gw, dw);
      const rhs = dot(g, y);
      expect(Math.abs(lhs - rhs)).toBeLessThan(1e-9 * (1 + Math.abs(rhs)));
    }), { numRuns: 30 });
  });

  it('the weight gradient of a batch with few output positions (one GEMM over images and positions) is the sum of the per-image ones', () => {
    for (const dtype of ['float64', 'float32'] as const) {
      const x = rand64([6, 8, 4, 4], 11).astype(dtype); // Kg = 72, Cog = 16, L = 2 x 2: 1152 > 4 * 88
      const w = [16, 8, 3, 3];
      const g = rand64([6, 16, 2, 2], 12).astype(dtype);
      const batched = Array.from(conv2dBackwardWeight(g, x, w).toTypedArray(), Number);
      const sum = new Array<number>(batched.length).fill(0);
      for (let n = 0; n < 6; n++) {
        Array.from(conv2dBackwardWeight(g.narrow(0, n, 1), x.narrow(0, n, 1), w).toTypedArray(), Number).forEach((v, i) => (sum[i] += v));
      }
      const tol = dtype === 'float64' ? 1e-12 : 1e-4;
      batched.forEach((v, i) => expect(Math.abs(v - sum[i])).toBeLessThan(tol * (1 + Math.abs(sum[i]))));
    }
  });

  it('a batch with few output positions (one GEMM over the batch, columns as one matrix) gives each image\'s own conv and gradients', () => {
    for (const dtype of ['float64', 'float32'] as const) {
      for (const options of [{ padding: 1 }, { stride: 2, padding: 1 }, { dilation: 2, padding: 2 }, {}] as Conv2dOptions[]) {
        const x = rand64([5, 3, 6, 7], 21).astype(dtype);
        const w = rand64([4, 3, 3, 3], 22).astype(dtype);
        const y = conv2d(x, w, undefined, options);
        const g = rand64([...y.shape], 23).astype(dtype);
        const gx = conv2dBackwardInput(g, w, [5, 3, 6, 7], options);
        const tol = dtype === 'float64' ? 1e-12 : 1e-4;
        for (let n = 0; n < 5; n++) {
          const one = (a: NDArray): number[] => Array.from(a.narrow(0, n, 1).toTypedArray(), Number);
          const yn = Array.from(conv2d(x.narrow(0, n, 1), w, undefined, options).toTypedArray(), Number);
          const gxn = Array.from(conv2dBackwardInput(g.narrow(0, n, 1), w, [1, 3, 6, 7], options).toTypedArray(), Number);
          one(y).forEach((v, i) => expect(Math.abs(v - yn[i])).toBeLessThan(tol * (1 + Math.abs(yn[i]))));
          one(gx).forEach((v, i) => expect(Math.abs(v - gxn[i])).toBeLessThan(tol * (1 + Math.abs(gxn[i]))));
        }
      }
    }
  });

  it("handles padding 'same' with even kernels and unbatched input", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 4 }), fc.integer(), (H, W, k, seed) => {
      const options: Conv2dOptions = { padding: 'same' };
      const xShape = [2, H, W];
      const wShape = [3, 2, k, k + 1];
      const x = rand64(xShape, seed);
      const w = rand64(wShape, seed + 1);
      const y = conv2d(x, w, undefined, options);
      expect(y.shape).toEqual([3, H, W]);
      const g = rand64([3, H, W], seed + 2);
      const dx = rand64(xShape, seed + 3);
      const dw = rand64(wShape, seed + 4);
      const gx = conv2dBackwardInput(g, w, xShape, options);
      const gw = conv2dBackwardWeight(g, x, wShape, options);
      expect(Math.abs(dot(gx, dx) - dot(g, conv2d(dx, w, undefined, options)))).toBeLessThan(1e-9);
      expect(Math.abs(dot(gw, dw) - dot(g, conv2d(x, dw, undefined, options)))).toBeLessThan(1e-9);
    }), { numRuns: 20 });
  });

  it('conv2dBackwardBias sums over batch and space', () => {
    expect(Array.from(conv2dBackwardBias(ones([2, 4, 3, 3])).toTypedArray())).toEqual([18, 18, 18, 18]);
    expect(Array.from(conv2dBackwardBias(ones([4, 3, 3])).toTypedArray())).toEqual([9, 9, 9, 9]);
  });

  it('computes hand-checked gradients', () => {
    // y = conv(x, w) with a 2x2 kernel of ones on 3x3 input: each input position feeds
    // as many outputs as windows cover it.
    const gx = conv2dBackwardInput(ones([1, 1, 2, 2]), ones([1, 1, 2, 2]), [1, 1, 3, 3]);
    expect(gx.toArray()).toEqual([[[[1, 2, 1], [2, 4, 2], [1, 2, 1]]]]);
    const x = fromArray([[[[1, 2, 3], [4, 5, 6], [7, 8, 9]]]]);
    const gw = conv2dBackwardWeight(ones([1, 1, 2, 2]), x, [1, 1, 2, 2]);
    expect(gw.toArray()).toEqual([[[[12, 16], [24, 28]]]]);
  });
});

describe('conv2d image by image (float32: im2col and GEMM per image on the wasm kernels)', () => {
  // Sizes that reach the kernels' edges: K beyond one 256-deep GEMM slice (Kg = 288, L = 400),
  // more images than threads, odd channel counts (edge tiles), strides, dilation, offset views.
  const cases: { x: number[]; w: number[]; options: Conv2dOptions }[] = [
    { x: [5, 32, 20, 20], w: [16, 32, 3, 3], options: { padding: 1 } },
    { x: [3, 1, 28, 28], w: [16, 1, 3, 3], options: { padding: 1 } },
    { x: [4, 3, 11, 9], w: [5, 3, 3, 2], options: { stride: [2, 1], padding: [1, 0] } },
    { x: [2, 6, 12, 13], w: [7, 6, 3, 3], options: { dilation: 2, padding: 2 } },
    { x: [3, 2, 9, 9], w: [9, 2, 2, 2], options: { padding: 'same' } },
  ];

  it('conv2d (bias added in the kernel) and both gradients match float64 within float32 rounding, on one and two threads, host and strided inputs', () => {
    const threads = getNumThreads();
    try {
      for (const n of [1, 2]) {
        setNumThreads(n);
        for (const [i, { x: xs, w: ws, options }] of cases.entries()) {
          const x64 = rand64(xs, 100 + i).astype('float32').astype('float64');
          const w64 = rand64(ws, 200 + i).astype('float32').astype('float64');
          const b64 = rand64([ws[0]], 400 + i).astype('float32').astype('float64');
          const y64 = conv2d(x64, w64, b64, options);
          const g64 = rand64([...y64.shape], 300 + i).astype('float32').astype('float64');
          const gx64 = conv2dBackwardInput(g64, w64, xs, options);
          const gw64 = conv2dBackwardWeight(g64, x64, ws, options);
          // float32 inputs: a plain array, and the same values as an offset, permuted view
          const x32 = x64.astype('float32');
          const xView = fromArray([0, ...Array.from(x32.permute(0, 1, 3, 2).contiguous().toTypedArray())], { dtype: 'float32' })
            .narrow(0, 1, x32.size).reshape([xs[0], xs[1], xs[3], xs[2]]).permute(0, 1, 3, 2);
          for (const x of [x32, xView]) {
            const w = w64.astype('float32');
            const b = b64.astype('float32');
            const g = g64.astype('float32');
            const p = profile(() => [conv2d(x, w, b, options), conv2dBackwardInput(g, w, xs, options), conv2dBackwardWeight(g, x, ws, options)]);
            const names = p.rows.map((r) => r.name);
            expect(names).toContain('im2colMatmul');
            expect(names).toContain('im2colWeightProducts');
            const [y, gx, gw] = p.result;
            // Sums of up to a few thousand float32 products: relative to the size of the terms.
            const tol = 2e-5;
            expectClose(y, y64.toTypedArray(), [...y64.shape], tol);
            expectClose(gx, gx64.toTypedArray(), [...gx64.shape], tol * 4);
            expectClose(gw, gw64.toTypedArray(), [...gw64.shape], tol * 40);
            // The generic path (im2col of the batch, then matmul and a sum over images), on the 'sim' device
            // that lacks these kernels: the same values bit for bit.
            const [xs2, w2, g2, b2] = [x, w, g, b].map((a) => a.to(SIM));
            const generic = [conv2d(xs2, w2, b2, options), conv2dBackwardInput(g2, w2, xs, options), conv2dBackwardWeight(g2, xs2, ws, options)];
            generic.forEach((a, j) => expect(Array.from(a.toTypedArray())).toEqual(Array.from(p.result[j].toTypedArray())));
          }
        }
      }
    } finally {
      setNumThreads(threads);
    }
  });
});

describe('conv2d validation', () => {
  const x = zeros([1, 4, 5, 5]);
  const w = zeros([2, 4, 3, 3]);
  const cases: [string, () => unknown, RegExp][] = [
    ['rank of input', () => conv2d(zeros([2, 3]), w), /conv2d: expected input with 4 dims \[N,C,H,W\] \(or 3 unbatched\), got \[2,3\]/],
    ['rank of weight', () => conv2d(x, zeros([2, 4, 3])), /conv2d: expected weight with 4 dims .*got \[2,4,3\]/],
    ['channel mismatch', () => conv2d(x, zeros([2, 3, 3, 3])), /conv2d: input \[1,4,5,5\] has 4 channels but weight \[2,3,3,3\] with groups=1 expects 3/],
    ['out channels not divisible by groups', () => conv2d(x, zeros([3, 2, 3, 3]), undefined, { groups: 2 }), /conv2d: out channels 3 of weight \[3,2,3,3\] are not divisible by groups=2/],
    ['in channels vs groups', () => conv2d(x, zeros([4, 1, 3, 3]), undefined, { groups: 2 }), /conv2d: input \[1,4,5,5\] has 4 channels but weight \[4,1,3,3\] with groups=2 expects 2/],
    ['bad groups', () => conv2d(x, w, undefined, { groups: 0 }), /conv2d: groups must be a positive integer, got 0/],
    ['kernel larger than padded input', () => conv2d(zeros([1, 4, 2, 2]), w), /conv2d: padded input size per channel \(2x2\) is smaller than the dilated kernel size \(3x3\): input \[1,4,2,2\], weight \[2,4,3,3\]/],
    ['dilated kernel too large', () => conv2d(x, w, undefined, { dilation: 3 }), /conv2d: padded input size per channel \(5x5\) is smaller than the dilated kernel size \(7x7\)/],
    ['zero stride', () => conv2d(x, w, undefined, { stride: 0 }), /conv2d: stride must be a positive integer or a pair of them, got 0/],
    ['negative dilation', () => conv2d(x, w, undefined, { dilation: [1, -1] }), /conv2d: dilation must be a positive integer .*got \[1,-1\]/],
    ['negative padding', () => conv2d(x, w, undefined, { padding: -1 }), /conv2d: padding must be a non-negative integer .*got -1/],
    ['same with stride', () => conv2d(x, w, undefined, { padding: 'same', stride: 2 }), /conv2d: padding='same' is not supported for strided convolutions/],
    ['dtype mismatch', () => conv2d(x, w.astype('float64')), /conv2d: dtypes differ: input is float32 but weight is float64/],
    ['integer input', () => conv2d(x.astype('int32'), w.astype('int32')), /conv2d: expected a floating point input, got int32/],
    ['bias shape', () => conv2d(x, w, zeros([3])), /conv2d: expected bias of shape \[2\] for weight \[2,4,3,3\], got \[3\]/],
    ['bias dtype', () => conv2d(x, w, zeros([2], { dtype: 'float64' })), /conv2d: dtypes differ: input is float32 but bias is float64/],
    ['gradOut shape', () => conv2dBackwardInput(zeros([1, 2, 4, 4]), w, [1, 4, 5, 5]), /conv2dBackwardInput: expected gradOut of shape \[1,2,3,3\], got \[1,2,4,4\]/],
    ['weight grad shape', () => conv2dBackwardWeight(zeros([1, 2, 3, 3]), x, [2, 3, 3, 3]), /conv2dBackwardWeight: input \[1,4,5,5\] has 4 channels but weight \[2,3,3,3\]/],
    ['bias grad rank', () => conv2dBackwardBias(zeros([2, 3])), /conv2dBackwardBias: expected gradOut with 4 dims .*got \[2,3\]/],
  ];
  for (const [name, f, re] of cases) {
    it(`rejects ${name}`, () => {
      expect(f).toThrow(re);
    });
  }

  it('rejects arrays on different devices', () => {
    const fake = Object.create(w) as NDArray;
    Object.defineProperty(fake, 'device', { value: 'gpu' });
    expect(() => conv2d(x, fake)).toThrow(/conv2d: input is on 'cpu' but weight is on 'gpu'/);
  });
});

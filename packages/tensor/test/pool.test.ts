import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  adaptiveAvgPool2d, adaptiveAvgPool2dBackward, avgPool2d, avgPool2dBackward, fromArray,
  getNumThreads, maxPool2d, maxPool2dBackward, pool2dGeometry, setNumThreads, zeros,
} from '../src/index.js';
import { dot, expectClose, rand64 } from './helpers.js';


/** PyTorch's output size rule, written independently of the implementation. */
function outLen(n: number, k: number, s: number, p: number, d: number, ceil: boolean): number {
  const span = n + 2 * p - d * (k - 1) - 1;
  let o = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  if (ceil && (o - 1) * s >= n + p) o--;
  return o;
}

const poolArb = fc.record({
  N: fc.integer({ min: 1, max: 2 }), C: fc.integer({ min: 1, max: 2 }), H: fc.integer({ min: 1, max: 8 }), W: fc.integer({ min: 1, max: 8 }),
  kh: fc.integer({ min: 1, max: 4 }), kw: fc.integer({ min: 1, max: 4 }), sh: fc.integer({ min: 1, max: 3 }), sw: fc.integer({ min: 1, max: 3 }),
  ph: fc.integer({ min: 0, max: 2 }), pw: fc.integer({ min: 0, max: 2 }), dh: fc.integer({ min: 1, max: 2 }), dw: fc.integer({ min: 1, max: 2 }),
  ceil: fc.boolean(), include: fc.boolean(), seed: fc.integer(),
}).filter((c) => c.ph <= c.kh / 2 && c.pw <= c.kw / 2
  && outLen(c.H, c.kh, c.sh, c.ph, c.dh, c.ceil) >= 1 && outLen(c.W, c.kw, c.sw, c.pw, c.dw, c.ceil) >= 1
  && outLen(c.H, c.kh, c.sh, c.ph, 1, c.ceil) >= 1 && outLen(c.W, c.kw, c.sw, c.pw, 1, c.ceil) >= 1);

describe('maxPool2d', () => {
  it('matches direct max pooling (values and argmax indices)', () => {
    fc.assert(fc.property(poolArb, (c) => {
      const x = rand64([c.N, c.C, c.H, c.W], c.seed);
      const xd = x.toTypedArray();
      const oh = outLen(c.H, c.kh, c.sh, c.ph, c.dh, c.ceil);
      const ow = outLen(c.W, c.kw, c.sw, c.pw, c.dw, c.ceil);
      const vals: number[] = [];
      const idx: number[] = [];
      for (let p = 0; p < c.N * c.C; p++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) {
        let best = -Infinity;
        let bi = -1;
        for (let a = 0; a < c.kh; a++) for (let b = 0; b < c.kw; b++) {
          const h = i * c.sh - c.ph + a * c.dh;
          const w = j * c.sw - c.pw + b * c.dw;
          if (h < 0 || h >= c.H || w < 0 || w >= c.W) continue;
          const v = xd[p * c.H * c.W + h * c.W + w];
          if (v > best) { best = v; bi = h * c.W + w; }
        }
        vals.push(best);
        idx.push(bi);
      }
      const { values, indices } = maxPool2d(x, [c.kh, c.kw], {
        stride: [c.sh, c.sw], padding: [c.ph, c.pw], dilation: [c.dh, c.dw], ceilMode: c.ceil, returnIndices: true,
      });
      expectClose(values, vals, [c.N, c.C, oh, ow], 0);
      expect(indices.dtype).toBe('int32');
      expect(Array.from(indices.toTypedArray())).toEqual(idx);
    }), { numRuns: 30 });
  });

  it('2x2 stride-2 float32 windows (the SIMD kernel) give the JS loop\'s values and indices: ties, NaN, -inf, +-0, odd sizes, ceil mode, offset views', () => {
    const specials = [NaN, -Infinity, Infinity, 0, -0, 1, 1, -1];
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 3 }), fc.integer({ min: 2, max: 19 }), fc.integer({ min: 2, max: 41 }), fc.boolean(), fc.integer(), fc.double({ min: 0, max: 0.5 }),
      (P, H, W, ceilMode, seed, pSpecial) => {
        const n = P * H * W;
        const r = rand64([n + 1], seed).toTypedArray();
        // few distinct values, so that windows tie; some specials
        const v = Float32Array.from(r, (x, i) => (Math.abs(x) % 1 < pSpecial ? specials[i % specials.length] : Math.round(x * 2)));
        const x32 = fromArray(Array.from(v), { dtype: 'float32' }).narrow(0, 1, n).reshape([P, 1, H, W]);
        const x64 = x32.astype('float64'); // the JS loop
        const opts = { stride: 2, ceilMode, returnIndices: true } as const;
        const { values: a, indices: ia } = maxPool2d(x32, 2, opts);
        const { values: b, indices: ib } = maxPool2d(x64, 2, opts);
        expect(Array.from(ia.toTypedArray())).toEqual(Array.from(ib.toTypedArray()));
        const av = Array.from(a.toTypedArray(), (z) => (Number.isNaN(z) ? 'NaN' : Object.is(z, -0) ? '-0' : z));
        const bv = Array.from(b.toTypedArray(), (z) => (Number.isNaN(z) ? 'NaN' : Object.is(z, -0) ? '-0' : z));
        expect(av).toEqual(bv);
      },
    ), { numRuns: 150 });
  });

  it('2x2 stride-2 float32 maxPool2dBackward (the SIMD kernel) gives the JS loop\'s dx bit for bit: odd sizes, -0 and NaN gradients, indices of other poolings', () => {
    const key = (z: number): number | string => (Number.isNaN(z) ? 'NaN' : Object.is(z, -0) ? '-0' : z);
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 3 }), fc.integer({ min: 2, max: 19 }), fc.integer({ min: 8, max: 41 }), fc.boolean(), fc.integer(),
      (P, H, W, overlapping, seed) => {
        const x = rand64([P, 1, H, W], seed);
        // 3x3 stride-2 windows (padding 1 keeps floor(H / 2) rows) put some indices outside the 2x2 blocks: the JS loop runs.
        const { values, indices } = overlapping
          ? maxPool2d(x, 3, { stride: 2, padding: 1, returnIndices: true })
          : maxPool2d(x, 2, { stride: 2, returnIndices: true });
        const r = rand64([...values.shape], seed + 1).toTypedArray();
        const specials = [-0, NaN, Infinity];
        const g = Float32Array.from(r, (v, i) => (i % 7 === 3 ? specials[i % 3] : v));
        const g32 = fromArray(Array.from(g), { dtype: 'float32' }).reshape([...values.shape]);
        const a = maxPool2dBackward(g32, indices, [P, 1, H, W]);
        // The loop the kernel replaces: float32 zeros += each gradient at its index (rounded at each step).
        const b = new Float32Array(P * H * W);
        const id = indices.toTypedArray();
        const per = values.shape[2] * values.shape[3];
        for (let k = 0; k < g.length; k++) b[Math.floor(k / per) * H * W + id[k]] += g[k];
        expect(Array.from(a.toTypedArray(), key)).toEqual(Array.from(b, key));
      },
    ), { numRuns: 100 });
  });

  it('2x2 stride-2 float32 pooling of large inputs (planes split across threads) gives the JS loop\'s values, indices and dx on one and two threads', () => {
    const threads = getNumThreads();
    try {
      const [N, C, H, W] = [6, 8, 63, 90]; // 272K values: split from 256K; odd H, ow = 45 not a multiple of 4
      const x32 = rand64([N, C, H, W], 3).astype('float32');
      const { values: v64, indices: i64 } = maxPool2d(x32.astype('float64'), 2, { returnIndices: true });
      const g32 = rand64([...v64.shape], 4).astype('float32');
      const dx64 = maxPool2dBackward(g32.astype('float64'), i64, [N, C, H, W]);
      for (const n of [1, 2]) {
        setNumThreads(n);
        for (let r = 0; r < 2; r++) { // the first two-thread call may run before the worker has started
          const { values, indices } = maxPool2d(x32, 2, { returnIndices: true });
          expect(Array.from(indices.toTypedArray())).toEqual(Array.from(i64.toTypedArray()));
          expect(Array.from(values.toTypedArray())).toEqual(Array.from(v64.toTypedArray()));
          expect(Array.from(maxPool2dBackward(g32, indices, [N, C, H, W]).toTypedArray())).toEqual(Array.from(dx64.toTypedArray()));
        }
      }
    } finally {
      setNumThreads(threads);
    }
  });

  it('maxPool2dBackward is the adjoint of gathering at the indices', () => {
    fc.assert(fc.property(poolArb, (c) => {
      const x = rand64([c.N, c.C, c.H, c.W], c.seed);
      const { values, indices } = maxPool2d(x, [c.kh, c.kw], { stride: [c.sh, c.sw], padding: [c.ph, c.pw], dilation: [c.dh, c.dw], ceilMode: c.ceil, returnIndices: true });
      const g = rand64([...values.shape], c.seed + 1);
      const dx = rand64(x.shape.slice(), c.seed + 2);
      const back = maxPool2dBackward(g, indices, x.shape);
      // the linearisation of max pooling at x is dx -> dx[indices]
      const dd = dx.toTypedArray();
      const id = indices.toTypedArray();
      const plane = c.H * c.W;
      const per = values.shape[2] * values.shape[3];
      let rhs = 0;
      const gd = g.toTypedArray();
      for (let k = 0; k < gd.length; k++) {
        // -1: a window with no position inside the input (possible with dilation) passes no gradient
        if (id[k] >= 0) rhs += gd[k] * dd[Math.floor(k / per) * plane + id[k]];
      }
      expect(Math.abs(dot(back, dx) - rhs)).toBeLessThan(1e-9);
    }), { numRuns: 30 });
  });

  it('handles hand-checked cases, NaN, and unbatched input', () => {
    const x = fromArray([[[1, 5, 2, 0], [3, 4, 8, 1], [0, 1, 2, 3], [9, 1, 1, 7]]]);
    expect(maxPool2d(x, 2).toArray()).toEqual([[[5, 8], [9, 7]]]);
    const r = maxPool2d(x, 2, { returnIndices: true });
    expect(r.indices.toArray()).toEqual([[[1, 6], [12, 15]]]);
    expect(maxPool2dBackward(fromArray([[[1, 2], [3, 4]]]), r.indices, [1, 4, 4]).toArray())
      .toEqual([[[0, 1, 0, 0], [0, 0, 2, 0], [0, 0, 0, 0], [3, 0, 0, 4]]]);
    // ceil mode keeps a partial last window: 5 -> 3 with k=2, s=2
    expect(maxPool2d(fromArray([[[1, 2, 3, 4, 5]]]), [1, 2], { ceilMode: true }).toArray()).toEqual([[[2, 4, 5]]]);
    const n = maxPool2d(fromArray([[[1, Number.NaN], [3, 4]]]), 2);
    expect(Number.isNaN(n.item())).toBe(true);
    // overlapping windows route the gradient twice to a shared max
    const o = maxPool2d(fromArray([[[0, 9, 0]]]), [1, 2], { stride: 1, returnIndices: true });
    expect(maxPool2dBackward(fromArray([[[1, 1]]]), o.indices, [1, 1, 3]).toArray()).toEqual([[[0, 2, 0]]]);
  });
});

describe('avgPool2d', () => {
  it('matches direct average pooling (countIncludePad both ways, ceil mode)', () => {
    fc.assert(fc.property(poolArb, (c) => {
      const x = rand64([c.N, c.C, c.H, c.W], c.seed);
      const xd = x.toTypedArray();
      const oh = outLen(c.H, c.kh, c.sh, c.ph, 1, c.ceil);
      const ow = outLen(c.W, c.kw, c.sw, c.pw, 1, c.ceil);
      const expected: number[] = [];
      for (let p = 0; p < c.N * c.C; p++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) {
        let s = 0;
        let inside = 0;
        let padded = 0;
        for (let a = 0; a < c.kh; a++) for (let b = 0; b < c.kw; b++) {
          const h = i * c.sh - c.ph + a;
          const w = j * c.sw - c.pw + b;
          // positions past the padded input (ceil mode) are not counted at all
          if (h >= c.H + c.ph || w >= c.W + c.pw) continue;
          padded++;
          if (h < 0 || h >= c.H || w < 0 || w >= c.W) continue;
          inside++;
          s += xd[p * c.H * c.W + h * c.W + w];
        }
        expected.push(inside === 0 ? 0 : s / (c.include ? padded : inside));
      }
      const y = avgPool2d(x, [c.kh, c.kw], { stride: [c.sh, c.sw], padding: [c.ph, c.pw], ceilMode: c.ceil, countIncludePad: c.include });
      expectClose(y, expected, [c.N, c.C, oh, ow]);
    }), { numRuns: 30 });
  });

  it('avgPool2dBackward is the adjoint of avgPool2d (with and without divisorOverride)', () => {
    fc.assert(fc.property(poolArb, fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }), (c, divisorOverride) => {
      const opts = { stride: [c.sh, c.sw] as [number, number], padding: [c.ph, c.pw] as [number, number], ceilMode: c.ceil, countIncludePad: c.include, divisorOverride };
      const dx = rand64([c.N, c.C, c.H, c.W], c.seed);
      const y = avgPool2d(dx, [c.kh, c.kw], opts);
      const g = rand64([...y.shape], c.seed + 1);
      const back = avgPool2dBackward(g, dx.shape, [c.kh, c.kw], opts);
      expect(Math.abs(dot(back, dx) - dot(g, y))).toBeLessThan(1e-9);
    }), { numRuns: 30 });
  });

  it('handles hand-checked cases and divisorOverride', () => {
    const x = fromArray([[[1, 2, 3], [4, 5, 6], [7, 8, 9]]]);
    expect(avgPool2d(x, 2, { stride: 1 }).toArray()).toEqual([[[3, 4], [6, 7]]]);
    // padding 1 counts the zeros by default: corner window holds only x[0,0] = 1 of 4 cells
    expect(avgPool2d(x, 2, { padding: 1 }).toArray()).toEqual([[[0.25, 1.25], [2.75, 7]]]);
    expect(avgPool2d(x, 2, { padding: 1, countIncludePad: false }).toArray()).toEqual([[[1, 2.5], [5.5, 7]]]);
    expect(avgPool2d(x, 2, { stride: 1, divisorOverride: 2 }).toArray()).toEqual([[[6, 8], [12, 14]]]);
    // ceil mode: the last window holds 1 column and only 1 counted position (no padding)
    expect(avgPool2d(fromArray([[[1, 2, 3]]]), [1, 2], { ceilMode: true }).toArray()).toEqual([[[1.5, 3]]]);
    expect(avgPool2dBackward(fromArray([[[4, 8]]]), [1, 1, 3], [1, 2], { ceilMode: true }).toArray()).toEqual([[[2, 2, 8]]]);
  });
});

describe('adaptiveAvgPool2d', () => {
  it("matches PyTorch's windows floor(i*H/out)..ceil((i+1)*H/out)", () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.integer(),
      (H, W, oh, ow, seed) => {
        const x = rand64([2, 3, H, W], seed);
        const xd = x.toTypedArray();
        const expected: number[] = [];
        for (let p = 0; p < 6; p++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) {
          const h0 = Math.floor((i * H) / oh); const h1 = Math.ceil(((i + 1) * H) / oh);
          const w0 = Math.floor((j * W) / ow); const w1 = Math.ceil(((j + 1) * W) / ow);
          let s = 0;
          for (let h = h0; h < h1; h++) for (let w = w0; w < w1; w++) s += xd[p * H * W + h * W + w];
          expected.push(s / ((h1 - h0) * (w1 - w0)));
        }
        const y = adaptiveAvgPool2d(x, [oh, ow]);
        expectClose(y, expected, [2, 3, oh, ow], 1e-12);
        const g = rand64([2, 3, oh, ow], seed + 1);
        const back = adaptiveAvgPool2dBackward(g, x.shape);
        expect(Math.abs(dot(back, x) - dot(g, y))).toBeLessThan(1e-9);
      },
    ), { numRuns: 30 });
  });

  it('supports a single size, null sizes and unbatched input', () => {
    const x = fromArray([[[1, 2], [3, 4]]]);
    expect(adaptiveAvgPool2d(x, 1).toArray()).toEqual([[[2.5]]]);
    expect(adaptiveAvgPool2d(x, [1, null]).toArray()).toEqual([[[2, 3]]]);
    expect(adaptiveAvgPool2dBackward(fromArray([[[4]]]), [1, 2, 2]).toArray()).toEqual([[[1, 1], [1, 1]]]);
  });
});

describe('pooling validation', () => {
  const x = zeros([1, 2, 5, 5]);
  const cases: [string, () => unknown, RegExp][] = [
    ['rank', () => maxPool2d(zeros([5, 5]), 2), /maxPool2d: expected input with 4 dims \[N,C,H,W\] \(or 3 unbatched\), got \[5,5\]/],
    ['empty spatial dims', () => avgPool2d(zeros([1, 2, 0, 5]), 2), /avgPool2d: expected non-zero channel and spatial sizes, got input \[1,2,0,5\]/],
    ['zero kernel', () => maxPool2d(x, 0), /maxPool2d: kernelSize must be a positive integer or a pair of them, got 0/],
    ['zero stride', () => maxPool2d(x, 2, { stride: [1, 0] }), /maxPool2d: stride must be a positive integer .*got \[1,0\]/],
    ['zero dilation', () => maxPool2d(x, 2, { dilation: 0 }), /maxPool2d: dilation must be a positive integer/],
    ['negative padding', () => avgPool2d(x, 2, { padding: -1 }), /avgPool2d: padding must be a non-negative integer/],
    ['padding over half the kernel', () => maxPool2d(x, 2, { padding: 2 }), /maxPool2d: padding should be at most half of the kernel size, got padding \[2,2\] and kernel size \[2,2\]/],
    ['output too small', () => maxPool2d(zeros([1, 1, 2, 2]), 3), /maxPool2d: output size is too small: input \[1,1,2,2\] with kernel \[3,3\].* gives 0x0/],
    ['integer input', () => maxPool2d(x.astype('int32'), 2), /maxPool2d: expected a floating point input, got int32/],
    ['zero divisor', () => avgPool2d(x, 2, { divisorOverride: 0 }), /avgPool2d: divisorOverride must be a non-zero number, got 0/],
    ['indices dtype', () => maxPool2dBackward(zeros([1, 2, 2, 2]), zeros([1, 2, 2, 2]), [1, 2, 5, 5]), /maxPool2dBackward: expected int32 indices, got float32/],
    ['grad/indices mismatch', () => maxPool2dBackward(zeros([1, 2, 2, 2]), zeros([1, 2, 2, 3], { dtype: 'int32' }), [1, 2, 5, 5]), /maxPool2dBackward: grad \[1,2,2,2\], indices \[1,2,2,3\] and input shape \[1,2,5,5\] do not agree/],
    ['avg grad shape', () => avgPool2dBackward(zeros([1, 2, 3, 3]), [1, 2, 5, 5], 2), /avgPool2dBackward: expected grad of shape \[1,2,2,2\] for input \[1,2,5,5\], got \[1,2,3,3\]/],
    ['adaptive size', () => adaptiveAvgPool2d(x, 0), /adaptiveAvgPool2d: outputSize must be positive integers, got \[0,0\]/],
    ['adaptive rank', () => adaptiveAvgPool2d(zeros([5]), 1), /adaptiveAvgPool2d: expected input with 4 dims .*got \[5\]/],
    ['adaptive grad', () => adaptiveAvgPool2dBackward(zeros([2, 2, 1, 1]), [1, 2, 5, 5]), /adaptiveAvgPool2dBackward: grad \[2,2,1,1\] does not match input shape \[1,2,5,5\]/],
  ];
  for (const [name, f, re] of cases) {
    it(`rejects ${name}`, () => {
      expect(f).toThrow(re);
    });
  }

  it('pool2dGeometry resolves defaults (stride = kernel size)', () => {
    expect(pool2dGeometry([1, 1, 5, 5], 2)).toMatchObject({ stride: [2, 2], padding: [0, 0], dilation: [1, 1], outSize: [2, 2], ceilMode: false });
    expect(pool2dGeometry([1, 1, 5, 5], 2, { ceilMode: true }).outSize).toEqual([3, 3]);
  });
});

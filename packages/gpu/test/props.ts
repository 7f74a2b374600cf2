/**
 * fast-check properties: every device kernel against the CPU backend on the
 * same float32 inputs, within float32 tolerances. One suite per gpu.js mode
 * (webgpu.props.test.ts, webasm.props.test.ts, cpu.props.test.ts), so the
 * modes run in parallel; sizes and run counts are per mode (lavapipe
 * compiles each new shape's kernels, ~0.1 s each).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  BOOL_RESULT, type BinaryOp, type DType, Generator, type NDArray, type ReduceOp, type UnaryOp, backendFor, cpuBackend, fromTyped, pool2dGeometry, randn,
} from '@normlab/tensor';
import { type GpuMode, gpu } from '../src/index.js';
import { BLOCKED_MIN, DEVICE_BINARY, DEVICE_UNARY } from '../src/codegen.js';
import { modeAvailable, useMode } from './helpers.js';

export interface Budget {
  /** fast-check runs per property. */
  runs: number;
  /** Largest inner dimension of the random matmuls. */
  maxK: number;
  /** Largest M and N of the random matmuls. */
  maxMN: number;
}

const dev = () => backendFor('gpu');

function sample(shape: readonly number[], seed: number, scale = 1, shift = 0): NDArray {
  const g = new Generator(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = shift + scale * g.normal();
  return fromTyped(d, shape);
}

/** A cpu array and the same values on the gpu, optionally as a transposed (strided) view of a permuted buffer. */
function pair(shape: readonly number[], seed: number, strided: boolean, scale = 1, shift = 0): [NDArray, NDArray] {
  if (!strided || shape.length < 2) {
    const c = sample(shape, seed, scale, shift);
    return [c, c.to('gpu')];
  }
  const rev = [...shape].reverse();
  const c = sample(rev, seed, scale, shift);
  const perm = shape.map((_, i) => shape.length - 1 - i);
  return [c.permute(perm), c.to('gpu').permute(perm)];
}

function values(x: NDArray): number[] {
  return Array.from(x.device === 'cpu' ? cpuBackend.read(x) : dev().read(x));
}

/** |gpu - cpu| <= atol + rtol |cpu| elementwise (NaN matches NaN; infinities must match). */
function expectClose(gpuX: NDArray, cpuX: NDArray, rtol: number, atol: number, what: string): void {
  expect(gpuX.device).toBe('gpu');
  expect([...gpuX.shape]).toEqual([...cpuX.shape]);
  expect(gpuX.dtype).toBe(cpuX.dtype === 'float64' ? 'float32' : cpuX.dtype);
  const g = values(gpuX);
  const c = values(cpuX);
  for (let i = 0; i < c.length; i++) {
    const a = g[i];
    const b = c[i];
    if (Number.isNaN(b) && Number.isNaN(a)) continue;
    if (!Number.isFinite(b) && a === b) continue;
    if (!(Math.abs(a - b) <= atol + rtol * Math.abs(b))) {
      throw new Error(`${what}: element ${i}: gpu ${a} vs cpu ${b} (|diff| ${Math.abs(a - b)} > ${atol} + ${rtol}*|cpu|)`);
    }
  }
}

const shapeArb = (maxRank: number, maxDim: number) => fc.array(fc.integer({ min: 1, max: maxDim }), { minLength: 1, maxLength: maxRank });
const seedArb = fc.integer({ min: 0, max: 2 ** 31 - 1 });

type Domain = 'any' | 'positive' | 'gtMinus1';
/**
 * The ops that need parameters or a restricted domain, with the cases to
 * test; every other op of the device's tables is tested with no parameters
 * on any values. The lists below are derived from DEVICE_UNARY and
 * DEVICE_BINARY, so an op added there is tested without a change here.
 */
const UNARY_CASES: Partial<Record<UnaryOp, [number[], Domain][]>> = {
  log: [[[], 'positive']], log1p: [[[], 'gtMinus1']], sqrt: [[[], 'positive']], rsqrt: [[[], 'positive']], reciprocal: [[[], 'positive']],
  leakyRelu: [[[0.07], 'any']], softplus: [[[1.5, 2], 'any']], clamp: [[[-0.5, 0.75], 'any']],
  powScalar: [[[2.5], 'positive'], [[3], 'any'], [[-1.5], 'positive']],
};
const UNARY: [UnaryOp, number[], Domain][] = (Object.keys(DEVICE_UNARY) as UnaryOp[])
  .flatMap((op) => (UNARY_CASES[op] ?? [[[], 'any']]).map(([p, d]) => [op, p, d] as [UnaryOp, number[], Domain]));
const BINARY = Object.keys(DEVICE_BINARY) as BinaryOp[];

export function kernelProperties(mode: GpuMode, budget: Budget): void {
  describe(`device kernels vs the CPU backend (${mode})`, () => {
    const avail = modeAvailable(mode);
    const test = avail.ok ? it : it.skip;
    const suffix = avail.ok ? '' : ` [skipped: ${avail.reason}]`;
    const params = { numRuns: budget.runs };
    beforeAll(() => {
      if (avail.ok) useMode(mode);
    });

    test(`unary ops on strided views${suffix}`, () => {
      fc.assert(fc.property(shapeArb(3, 6), seedArb, fc.boolean(), (shape, seed, strided) => {
        for (const [op, p, domain] of UNARY) {
          const shift = domain === 'positive' ? 2.5 : domain === 'gtMinus1' ? 1.5 : 0;
          let [c, g] = pair(shape, seed, strided, 1, shift);
          if (domain !== 'any') {
            c = cpuBackend.unary('abs', c, 'float32', []);
            g = dev().unary('abs', g, 'float32', []);
            if (domain === 'gtMinus1') {
              c = cpuBackend.binary('sub', c, cpuBackend.fill(c.shape, 'float32', 0.9), 'float32');
              g = dev().binary('sub', g, dev().fill(g.shape, 'float32', 0.9), 'float32');
            }
          }
          const dtype: DType = BOOL_RESULT.has(op) ? 'bool' : 'float32';
          expectClose(dev().unary(op, g, dtype, p), cpuBackend.unary(op, c, dtype, p), 2e-6, 1e-6, `${op}(${p})`);
        }
      }), params);
    });

    test(`binary ops with broadcasting${suffix}`, () => {
      fc.assert(fc.property(shapeArb(3, 5), seedArb, fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }), fc.boolean(), (shape, seed, bcast, strided) => {
        const bShape = shape.map((d, i) => (bcast[i] ? 1 : d));
        for (const op of BINARY) {
          let [ca, ga] = pair(shape, seed, strided);
          let [cb, gb] = pair(bShape, seed + 1, false);
          if (op === 'pow') {
            ca = cpuBackend.unary('abs', ca, 'float32', []);
            ga = dev().unary('abs', ga, 'float32', []);
          }
          if (op === 'div') {
            cb = cpuBackend.unary('exp', cb, 'float32', []);
            gb = dev().unary('exp', gb, 'float32', []);
          }
          if (['eq', 'ne', 'le', 'ge'].includes(op)) {
            // Equal elements too: compare a with a copy of itself where the seed says so.
            cb = cpuBackend.where(cpuBackend.binary('gt', cb, cpuBackend.fill(cb.shape, 'float32', 0), 'bool').expand(shape), ca, cb.expand(shape), 'float32');
            gb = dev().where(dev().binary('gt', gb, dev().fill(gb.shape, 'float32', 0), 'bool').expand(shape), ga, gb.expand(shape), 'float32');
          }
          const dtype: DType = BOOL_RESULT.has(op) ? 'bool' : 'float32';
          expectClose(dev().binary(op, ga, gb.expand(shape), dtype), cpuBackend.binary(op, ca, cb.expand(shape), dtype), 2e-6, 1e-6, op);
        }
      }), params);
    });

    test(`copy (strided -> contiguous, dtype conversions), fill, where${suffix}`, () => {
      fc.assert(fc.property(shapeArb(4, 4), seedArb, (shape, seed) => {
        const [c, g] = pair(shape, seed, true, 3);
        for (const dtype of ['float32', 'int32', 'bool'] as DType[]) {
          expectClose(dev().copy(g, dtype), cpuBackend.copy(c, dtype), 0, 0, `copy to ${dtype}`);
        }
        const ci = cpuBackend.copy(c, 'int32');
        expectClose(dev().copy(ci.to('gpu'), 'float32'), cpuBackend.copy(ci, 'float32'), 0, 0, 'int32 -> float32');
        expectClose(dev().fill(shape, 'float32', -2.5), cpuBackend.fill(shape, 'float32', -2.5), 0, 0, 'fill');
        const cond = cpuBackend.binary('gt', c, cpuBackend.fill(shape, 'float32', 0), 'bool');
        const [c2, g2] = pair(shape, seed + 7, false);
        expectClose(dev().where(cond.to('gpu'), g, g2, 'float32'), cpuBackend.where(cond, c, c2, 'float32'), 0, 0, 'where');
        // Constant operands (fill, plain numbers) go to the kernel as scalars.
        const k = (v: number) => [dev().fill(shape, 'float32', v), cpuBackend.fill(shape, 'float32', v)] as const;
        const [gz, cz] = k(0);
        const [gh, ch] = k(-1.5);
        expectClose(dev().where(cond.to('gpu'), g, gz, 'float32'), cpuBackend.where(cond, c, cz, 'float32'), 0, 0, 'where(c, x, 0)');
        expectClose(dev().where(cond.to('gpu'), gh, g2, 'float32'), cpuBackend.where(cond, ch, c2, 'float32'), 0, 0, 'where(c, -1.5, y)');
        expectClose(dev().where(cond.to('gpu'), gh, gz, 'float32'), cpuBackend.where(cond, ch, cz, 'float32'), 0, 0, 'where(c, -1.5, 0)');
        expectClose(dev().binary('sub', gh, g, 'float32'), cpuBackend.binary('sub', ch, c, 'float32'), 0, 0, '-1.5 - x');
      }), params);
    });

    test(`reduce sum/max/min/prod over random dims${suffix}`, () => {
      fc.assert(fc.property(shapeArb(4, 6), seedArb, fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), fc.boolean(), (shape, seed, pick, strided) => {
        const dims = shape.map((_, i) => i).filter((i) => pick[i]);
        for (const op of ['sum', 'max', 'min', 'prod'] as ReduceOp[]) {
          const [c, g] = op === 'prod' ? pair(shape, seed, strided, 0.1, 1) : pair(shape, seed, strided);
          const scale = op === 'sum' ? Math.sqrt(c.size) * 1e-6 : 0;
          expectClose(dev().reduce(op, g, dims, 'float32'), cpuBackend.reduce(op, c, dims, 'float32'), 2e-6, 1e-7 + scale, `${op} over [${dims}]`);
        }
      }), params);
    });

    test(`blocked (two-stage) reductions: reduce and BatchNorm sums over >= ${BLOCKED_MIN} elements${suffix}`, () => {
      // Fixed shapes (each compiles its kernels once): a contiguous row, a transposed 2-D extent, everything.
      const cases: [number[], number[], boolean][] = [[[2, BLOCKED_MIN + 3], [1], false], [[3, 70, 66], [1, 2], true], [[BLOCKED_MIN + 100], [0], false]];
      const ops: ReduceOp[] = ['sum', 'max', 'min', 'prod'];
      for (const [k, [shape, dims, strided]] of cases.entries()) {
        // Few runs (webgpu, a compile per kernel): one op per shape, in turn.
        for (const op of budget.runs <= 3 ? [ops[k], ops[(k + 3) % 4]] : ops) {
          const [c, g] = op === 'prod' ? pair(shape, 5, strided, 0.01, 1) : pair(shape, 5, strided);
          const n = dims.reduce((a, d) => a * shape[d], 1);
          expectClose(dev().reduce(op, g, dims, 'float32'), cpuBackend.reduce(op, c, dims, 'float32'), op === 'prod' ? 1e-4 : 2e-6, op === 'sum' ? Math.sqrt(n) * 1e-6 : 0, `blocked ${op} [${shape}] over [${dims}]`);
        }
      }
      const [N, C, S] = [64, 3, 70];
      const [c, g] = pair([N, C, S], 9, true, 0.01, 1e4);
      const [cm, cv] = cpuBackend.normalizeMoments(c.contiguous());
      const [gm, gv] = dev().normalizeMoments(g);
      expectClose(gm, cm, 1e-7, 0, 'blocked mean');
      expectClose(gv, cv, 1e-3, 0, 'blocked variance');
      const [cx, gx] = pair([N, C, S], 10, false, 2, 0.5);
      const [cdy, gdy] = pair([N, C, S], 11, true);
      const invstd = cpuBackend.fill([C], 'float32', 0.7);
      const [, ch] = cpuBackend.normalizeForward(cx, cm, invstd, null, null);
      const [cdx, cdw, cdb] = cpuBackend.normalizeBackward(cdy.contiguous(), ch, invstd, null);
      const [gdx, gdw, gdb] = dev().normalizeBackward(gdy, ch.to('gpu'), invstd.to('gpu'), null);
      const tol = 1e-5 * Math.sqrt(N * S);
      expectClose(gdb, cdb, 1e-5, tol, 'blocked sum(dy)');
      expectClose(gdw, cdw, 1e-5, tol, 'blocked sum(dy * xhat)');
      expectClose(gdx, cdx, 1e-4, 1e-4, 'blocked dx');
      void gx;
    });

    test(`argmax/argmin (first on ties)${suffix}`, () => {
      fc.assert(fc.property(shapeArb(3, 6), seedArb, fc.nat(), fc.boolean(), (shape, seed, d, ties) => {
        const dim = d % shape.length;
        let [c, g] = pair(shape, seed, true);
        if (ties) {
          c = cpuBackend.unary('step', c, 'float32', []);
          g = dev().unary('step', g, 'float32', []);
        }
        for (const op of ['argmax', 'argmin'] as const) expectClose(dev().argReduce(op, g, dim), cpuBackend.argReduce(op, c, dim), 0, 0, `${op} dim ${dim}`);
      }), params);
    });

    test(`matmul: random shapes (K up to ${budget.maxK}), transposed and broadcast operands${suffix}`, () => {
      const dimArb = fc.integer({ min: 1, max: budget.maxMN });
      fc.assert(fc.property(
        fc.integer({ min: 1, max: 3 }), dimArb, fc.integer({ min: 1, max: budget.maxK }), dimArb, seedArb, fc.boolean(), fc.boolean(), fc.boolean(),
        (B, M, K, N, seed, ta, tb, bcast) => {
          checkMatmul(B, M, K, N, seed, ta, tb, bcast);
        },
      ), params);
    });

    test(`matmul: all four transpose forms at K = ${Math.min(budget.maxK, 2003)} (no loop truncated)${suffix}`, () => {
      const K = Math.min(budget.maxK, 2003);
      for (const ta of [false, true]) for (const tb of [false, true]) checkMatmul(2, 5, K, 3, 17, ta, tb, false);
    });

    test(`normalizeMoments: mean and variance of 1e4 + 0.01 noise (two passes)${suffix}`, () => {
      fc.assert(fc.property(fc.integer({ min: 2, max: 24 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 9 }), seedArb, fc.boolean(), (N, C, S, seed, strided) => {
        const [c, g] = pair([N, C, S], seed, strided, 0.01, 1e4);
        const [cm, cv] = cpuBackend.normalizeMoments(c.contiguous());
        const [gm, gv] = dev().normalizeMoments(g);
        expectClose(gm, cm, 1e-7, 0, 'mean');
        expectClose(gv, cv, 1e-3, 0, 'variance');
      }), params);
    });

    test(`normalizeForward / normalizeBackward, with and without affine${suffix}`, () => {
      fc.assert(fc.property(fc.integer({ min: 2, max: 16 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 6 }), seedArb, fc.boolean(), fc.boolean(), (N, C, S, seed, strided, affine) => {
        const [c, g] = pair([N, C, S], seed, strided, 2, 0.5);
        const [mean, variance] = cpuBackend.normalizeMoments(c.contiguous());
        const invstd = cpuBackend.unary('rsqrt', cpuBackend.binary('add', variance, cpuBackend.fill([C], 'float32', 1e-5), 'float32'), 'float32', []);
        const w = affine ? sample([C], seed + 1) : null;
        const b = affine ? sample([C], seed + 2) : null;
        const [cy, ch] = cpuBackend.normalizeForward(c.contiguous(), mean, invstd, w, b);
        const [gy, gh] = dev().normalizeForward(g, mean.to('gpu'), invstd.to('gpu'), w?.to('gpu') ?? null, b?.to('gpu') ?? null);
        expectClose(gy, cy, 1e-5, 1e-5, 'y');
        expectClose(gh, ch, 1e-5, 1e-5, 'xhat');
        const [cdy, gdy] = pair([N, C, S], seed + 3, !strided);
        const [cdx, cdw, cdb] = cpuBackend.normalizeBackward(cdy.contiguous(), ch, invstd, w);
        const [gdx, gdw, gdb] = dev().normalizeBackward(gdy, gh, invstd.to('gpu'), w?.to('gpu') ?? null);
        const tol = 1e-5 * Math.sqrt(N * S);
        expectClose(gdb, cdb, 1e-5, tol, 'sum(dy)');
        expectClose(gdw, cdw, 1e-5, tol, 'sum(dy * xhat)');
        expectClose(gdx, cdx, 1e-4, 1e-4, 'dx');
      }), params);
    });

    /** normalizeAffineForward / Backward on the device against the CPU's kernels, x [1, G, B] with G = P k and B = (B / Q) Q. */
    const checkAffine = (P: number, k: number, span: number, Q: number, seed: number, strided: boolean, centered: boolean, what: string): void => {
      const [G, B] = [P * k, span * Q];
      const [c, g] = pair([1, G, B], seed, strided, 2, 0.5);
      const [mean, variance] = cpuBackend.normalizeMoments(c.contiguous().reshape([1, G, B]));
      const invstd = cpuBackend.unary('rsqrt', cpuBackend.binary('add', variance, cpuBackend.fill([G], 'float32', 1e-5), 'float32'), 'float32', []);
      const layout = { period: P, span: Q };
      const w = sample([P * span], seed + 1);
      const b = sample([P * span], seed + 2);
      const [cy, ch] = cpuBackend.normalizeAffineForward!(c.contiguous(), mean, invstd, w, b, layout);
      const [gy, gh] = dev().normalizeAffineForward!(g, mean.to('gpu'), invstd.to('gpu'), w.to('gpu'), b.to('gpu'), layout);
      expectClose(gy, cy, 1e-5, 1e-5, `${what}: y`);
      expectClose(gh, ch, 1e-5, 1e-5, `${what}: xhat`);
      const [cdy, gdy] = pair([1, G, B], seed + 3, !strided);
      const [cdx, cdw, cdb] = cpuBackend.normalizeAffineBackward!(cdy.contiguous(), ch, invstd, w, layout, centered);
      const [gdx, gdw, gdb] = dev().normalizeAffineBackward!(gdy, gh, invstd.to('gpu'), w.to('gpu'), layout, centered);
      const tol = 1e-5 * Math.sqrt(k * Q);
      expectClose(gdb, cdb, 1e-5, tol, `${what}: dbias`);
      expectClose(gdw, cdw, 1e-5, tol, `${what}: dweight`);
      expectClose(gdx, cdx, 1e-4, 1e-4, `${what}: dx`);
    };

    test(`normalizeAffineForward / normalizeAffineBackward: any layout, strided, centered or not${suffix}`, () => {
      fc.assert(fc.property(
        fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 6 }), seedArb, fc.boolean(), fc.boolean(),
        (P, k, span, Q, seed, strided, centered) => checkAffine(P, k, span, Q, seed, strided, centered, `P ${P}, G ${P * k}, Q ${Q}, B ${span * Q}`),
      ), params);
    });

    test(`normalizeAffine: blocked (two-stage) group and parameter sums${suffix}`, () => {
      // Few long groups (GroupNorm of one image): the per-group sums go in blocks.
      checkAffine(2, 1, 2, BLOCKED_MIN / 2 + 5, 31, true, true, 'few long groups');
      // Many groups, few parameters (LayerNorm over few features): the parameter sums go in blocks.
      checkAffine(1, BLOCKED_MIN + 7, 3, 1, 32, false, false, 'many short rows');
    });

    test(`cat, gather, indexSelect, scatterAdd, indexAdd${suffix}`, () => {
      fc.assert(fc.property(shapeArb(3, 5), seedArb, fc.nat(), fc.integer({ min: 1, max: 4 }), (shape, seed, d, k) => {
        const dim = d % shape.length;
        const [c1, g1] = pair(shape, seed, true);
        const s2 = shape.map((n, i) => (i === dim ? n + 1 : n));
        const [c2, g2] = pair(s2, seed + 1, false);
        expectClose(dev().cat([g1, g2], dim, 'float32'), cpuBackend.cat([c1, c2], dim, 'float32'), 0, 0, 'cat');
        const g = new Generator(seed);
        const idx = new Int32Array(c1.size);
        for (let i = 0; i < idx.length; i++) idx[i] = g.int(0, s2[dim]);
        const index = fromTyped(idx, shape);
        expectClose(dev().gather(g2, dim, index.to('gpu')), cpuBackend.gather(c2, dim, index), 0, 0, 'gather');
        const sel = fromTyped(Int32Array.from([0, s2[dim] - 1, 0]), [3]);
        expectClose(dev().indexSelect(g2, dim, sel.to('gpu')), cpuBackend.indexSelect(c2, dim, sel), 0, 0, 'indexSelect');
        // scatterAdd into s2 with an index (and src, a strided view) of `shape`: repeated targets add up, in the CPU's order.
        // Sums: gpu.js's cpu mode adds in float64 and rounds once; the CPU backend rounds each addition to float32.
        expectClose(dev().scatterAdd(s2, dim, index.to('gpu'), g1), cpuBackend.scatterAdd(s2, dim, index, c1), 1e-6, 1e-6, 'scatterAdd');
        // indexAdd of k slices (repeats included) into s2.
        const ids = fromTyped(Int32Array.from({ length: k }, () => g.int(0, s2[dim])), [k]);
        const [cs, gs] = pair(s2.map((n, i) => (i === dim ? k : n)), seed + 2, true);
        expectClose(dev().indexAdd(s2, dim, ids.to('gpu'), gs), cpuBackend.indexAdd(s2, dim, ids, cs), 1e-6, 1e-6, 'indexAdd');
      }), params);
    });

    test(`im2col / col2im (stride, padding, dilation)${suffix}`, () => {
      const small = fc.integer({ min: 1, max: 3 });
      fc.assert(fc.property(fc.integer({ min: 1, max: 2 }), small, fc.integer({ min: 3, max: 7 }), fc.integer({ min: 3, max: 7 }), small, small, fc.integer({ min: 1, max: 2 }), fc.integer({ min: 0, max: 1 }), fc.integer({ min: 1, max: 2 }), seedArb, fc.boolean(),
        (N, C, H, W, kh, kw, s, p, dl, seed, strided) => {
          const g = { kernel: [kh, kw] as [number, number], stride: [s, 1] as [number, number], padding: [p, p] as [number, number], dilation: [dl, 1] as [number, number] };
          const oh = Math.floor((H + 2 * p - dl * (kh - 1) - 1) / s) + 1;
          const ow = Math.floor((W + 2 * p - (kw - 1) - 1) / 1) + 1;
          if (oh < 1 || ow < 1) return;
          const [cx, gx] = pair([N, C, H, W], seed, strided);
          expectClose(dev().im2col(gx, g, [oh, ow]), cpuBackend.im2col(cx, g, [oh, ow]), 0, 0, 'im2col');
          const [cc, gc] = pair([N, C * kh * kw, oh * ow], seed + 1, false);
          expectClose(dev().col2im(gc, g, [N, C, H, W], [oh, ow]), cpuBackend.col2im(cc, g, [N, C, H, W], [oh, ow]), 1e-6, 1e-6, 'col2im');
        }), params);
    });

    test(`maxPool2d / avgPool2d and their backward passes (ceil mode, padding, ties)${suffix}`, () => {
      fc.assert(fc.property(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 2, max: 7 }), fc.integer({ min: 2, max: 7 }),
        fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 1 }), fc.boolean(), fc.boolean(), fc.boolean(), seedArb,
        (N, C, H, W, k, s, p, ceilMode, countIncludePad, ties, seed) => {
          const pad = Math.min(p, Math.floor(k / 2));
          const dilation = ties ? 1 : 2 - (k % 2);
          if ((k - 1) * dilation + 1 > Math.min(H, W) + 2 * pad) return;
          const geo = pool2dGeometry([N, C, H, W], k, { stride: s, padding: pad, dilation, ceilMode, countIncludePad });
          let [cx, gx] = pair([N, C, H, W], seed, !ties);
          if (ties) {
            cx = cpuBackend.unary('step', cx, 'float32', []);
            gx = dev().unary('step', gx, 'float32', []);
          }
          const [cv, ci] = cpuBackend.maxPool2d(cx, geo);
          const [gv, gi] = dev().maxPool2d(gx, geo);
          expectClose(gv, cv, 0, 0, 'maxPool2d values');
          expectClose(gi, ci, 0, 0, 'maxPool2d indices');
          const [cg, gg] = pair(cv.shape, seed + 1, false);
          expectClose(dev().maxPool2dBackward(gg, gi, [N, C, H, W]), cpuBackend.maxPool2dBackward(cg, ci, [N, C, H, W]), 1e-6, 1e-6, 'maxPool2dBackward');
          expectClose(dev().avgPool2d(gx, geo), cpuBackend.avgPool2d(cx, geo), 1e-6, 1e-7, 'avgPool2d');
          expectClose(dev().avgPool2dBackward(gg, [N, C, H, W], geo), cpuBackend.avgPool2dBackward(cg, [N, C, H, W], geo), 1e-6, 1e-7, 'avgPool2dBackward');
        }), params);
    });

    test(`no CPU fallbacks: a maxPool2dBackward with foreign indices is the only one, counted${suffix}`, () => {
      gpu.resetProfile();
      const geo = pool2dGeometry([1, 1, 4, 4], 2);
      const grad = randn([1, 1, 2, 2]);
      const idx = fromTyped(Int32Array.from([0, 3, 9, 15]), [1, 1, 2, 2]);
      expectClose(dev().maxPool2dBackward(grad.to('gpu'), idx.to('gpu'), [1, 1, 4, 4]), cpuBackend.maxPool2dBackward(grad, idx, [1, 1, 4, 4]), 0, 0, 'foreign indices');
      expect(gpu.profile().fallbacks).toEqual({ maxPool2dBackward: { calls: 1, bytesRead: 32, bytesUploaded: 64 } });
      expect(geo.outSize).toEqual([2, 2]);
    });
  });
}

function checkMatmul(B: number, M: number, K: number, N: number, seed: number, ta: boolean, tb: boolean, bcast: boolean): void {
  const mk = (rows: number, cols: number, t: boolean, s: number, batch: number): [NDArray, NDArray] => {
    const [c, g] = t ? pair([batch, cols, rows], s, false) : pair([batch, rows, cols], s, false);
    const view = (x: NDArray) => {
      const v = t ? x.transpose(1, 2) : x;
      return batch === B ? v : v.expand([B, rows, cols]);
    };
    return [view(c), view(g)];
  };
  const [ca, ga] = mk(M, K, ta, seed, B);
  const [cb, gb] = mk(K, N, tb, seed + 1, bcast ? 1 : B);
  const got = values(dev().matmul(ga, gb));
  // Reference in float64 and the scale sum_k |a||b| of each entry, for the tolerance.
  const f64 = (x: NDArray) => cpuBackend.copy(x, 'float64');
  const abs = (x: NDArray) => cpuBackend.unary('abs', f64(x), 'float64', []);
  const want = values(cpuBackend.matmul(f64(ca), f64(cb)));
  const scale = values(cpuBackend.matmul(abs(ca), abs(cb)));
  for (let i = 0; i < want.length; i++) {
    const tol = 2e-7 * Math.sqrt(K) * scale[i] + 1e-7 * scale[i] + 1e-30;
    if (!(Math.abs(got[i] - want[i]) <= tol * 8)) {
      throw new Error(`matmul B=${B} M=${M} K=${K} N=${N} ta=${ta} tb=${tb}: element ${i}: gpu ${got[i]} vs ${want[i]} (tol ${tol * 8})`);
    }
  }
}

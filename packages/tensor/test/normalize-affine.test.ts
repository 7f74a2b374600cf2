/**
 * normalizeAffineForward / normalizeAffineBackward (LayerNorm's and
 * GroupNorm's fused kernels over [1, G, B]) against a float64 loop of the
 * definition, for LayerNorm's layout (period 1, span 1), GroupNorm's (period
 * groups, span H * W, short and long spans) and others, in float64 and
 * float32 (the wasm kernels, also on arrays large enough to be split over
 * the threads), and the validation errors.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AffineLayout, type NDArray, fromTyped, normalizeAffineBackward, normalizeAffineForward, zeros } from '../src/index.js';
import { randomData } from './helpers.js';

const vals = (a: NDArray): number[] => Array.from(a.toTypedArray(), Number);

interface Case { G: number; B: number; layout: AffineLayout; seed: number; centered?: boolean }

/** Layouts that fit [1, G, B]: LayerNorm's, GroupNorm's (short and long spans), and period > 1 with span 1. */
const caseArb: fc.Arbitrary<Case> = fc.oneof(
  fc.record({ G: fc.integer({ min: 1, max: 6 }), F: fc.integer({ min: 1, max: 70 }), seed: fc.nat() }).map(({ G, F, seed }) => ({ G, B: F, layout: { period: 1, span: 1 }, seed })),
  fc.record({ N: fc.integer({ min: 1, max: 3 }), groups: fc.integer({ min: 1, max: 3 }), cg: fc.integer({ min: 1, max: 3 }), hw: fc.constantFrom(1, 3, 16, 40), seed: fc.nat() })
    .map(({ N, groups, cg, hw, seed }) => ({ G: N * groups, B: cg * hw, layout: { period: groups, span: hw }, seed })),
  fc.record({ k: fc.integer({ min: 1, max: 3 }), P: fc.integer({ min: 1, max: 3 }), B: fc.integer({ min: 1, max: 9 }), seed: fc.nat() })
    .map(({ k, P, B, seed }) => ({ G: k * P, B, layout: { period: P, span: 1 }, seed })),
);

/** The definition, in float64; not `centered`: RMS normalization (mean 0, invstd from the mean square). */
function reference(x: number[], dy: number[], G: number, B: number, w: number[], b: number[], { period: P, span: Q }: AffineLayout, centered: boolean) {
  const at = (g: number, i: number): number => (g % P) * (B / Q) + Math.floor(i / Q);
  const y: number[] = [];
  const xhat: number[] = [];
  const invstd: number[] = [];
  const mean: number[] = [];
  for (let g = 0; g < G; g++) {
    const row = x.slice(g * B, (g + 1) * B);
    const mu = centered ? row.reduce((p, q) => p + q, 0) / B : 0;
    const is = 1 / Math.sqrt(row.reduce((p, q) => p + (q - mu) ** 2, 0) / B + 1e-5);
    mean.push(mu);
    invstd.push(is);
    row.forEach((v, i) => {
      xhat.push((v - mu) * is);
      y.push((v - mu) * is * w[at(g, i)] + b[at(g, i)]);
    });
  }
  const dx: number[] = [];
  const dw = new Array<number>(w.length).fill(0);
  const db = new Array<number>(w.length).fill(0);
  for (let g = 0; g < G; g++) {
    let s1 = 0;
    let s2 = 0;
    for (let i = 0; i < B; i++) {
      const k = g * B + i;
      s1 += dy[k] * w[at(g, i)];
      s2 += dy[k] * w[at(g, i)] * xhat[k];
      dw[at(g, i)] += dy[k] * xhat[k];
      db[at(g, i)] += dy[k];
    }
    for (let i = 0; i < B; i++) {
      const k = g * B + i;
      dx.push((invstd[g] / B) * (B * dy[k] * w[at(g, i)] - (centered ? s1 : 0) - xhat[k] * s2));
    }
  }
  return { y, xhat, mean, invstd, dx, dw, db };
}

function close(a: ArrayLike<number>, e: ArrayLike<number>, atol: number, rtol: number, what: string): void {
  expect(a.length, what).toBe(e.length);
  for (let i = 0; i < a.length; i++) {
    if (!(Math.abs(a[i] - e[i]) <= atol + rtol * Math.abs(e[i]))) throw new Error(`${what}[${i}]: ${a[i]} vs ${e[i]}`);
  }
}

function run({ G, B, layout, seed, centered = true }: Case, dtype: 'float32' | 'float64', tol: number): void {
  const n = (layout.period * B) / layout.span;
  const x = Array.from(randomData(G * B, seed), (v) => 3 * v + 1);
  const dy = Array.from(randomData(G * B, seed + 1));
  const w = Array.from(randomData(n, seed + 2));
  const b = Array.from(randomData(n, seed + 3));
  const T = dtype === 'float32' ? Float32Array : Float64Array;
  // Round the inputs to the dtype first, so that the reference sees what the kernels see.
  const [xs, dys, ws, bs] = [x, dy, w, b].map((a) => Array.from(T.from(a)));
  const r = reference(xs, dys, G, B, ws, bs, layout, centered);
  const arr = (a: number[], shape: number[]): NDArray => fromTyped(T.from(a), shape);
  const [y, xhat] = normalizeAffineForward(arr(xs, [1, G, B]), arr(r.mean, [G]), arr(r.invstd, [G]), arr(ws, [n]), arr(bs, [n]), layout);
  expect(y.shape).toEqual([1, G, B]);
  close(vals(xhat), r.xhat, tol, tol, 'xhat');
  close(vals(y), r.y, tol, tol, 'y');
  const [dx, dw, db] = normalizeAffineBackward(arr(dys, [1, G, B]), arr(r.xhat, [1, G, B]), arr(r.invstd, [G]), arr(ws, [n]), layout, { centered });
  close(vals(dx), r.dx, tol * 10, tol * 10, 'dx');
  close(vals(dw), r.dw, tol * 10, tol * 10, 'dweight');
  close(vals(db), r.db, tol * 10, tol * 10, 'dbias');
}

describe('normalizeAffineForward / normalizeAffineBackward', () => {
  it('match the definition in float64 for LayerNorm\'s, GroupNorm\'s and other layouts', () => {
    fc.assert(fc.property(caseArb, (c) => run(c, 'float64', 1e-12)), { numRuns: 80 });
  });

  it('match it in float32 (the wasm kernels: rows with and without a tail of 1-3 values, spans short and long)', () => {
    fc.assert(fc.property(caseArb, (c) => run(c, 'float32', 2e-5)), { numRuns: 80 });
  });

  it('without centering (RMS norms) the backward drops the mean\'s term, in float64 and float32', () => {
    fc.assert(fc.property(caseArb, (c) => {
      run({ ...c, centered: false }, 'float64', 1e-12);
      run({ ...c, centered: false }, 'float32', 2e-5);
    }), { numRuns: 60 });
    run({ G: 300, B: 257, layout: { period: 1, span: 1 }, seed: 3, centered: false }, 'float32', 2e-5);
  });

  it('match it on arrays large enough for several jobs over the threads', () => {
    run({ G: 300, B: 257, layout: { period: 1, span: 1 }, seed: 1 }, 'float32', 2e-5); // LayerNorm
    run({ G: 64, B: 4 * 64, layout: { period: 8, span: 64 }, seed: 2 }, 'float32', 2e-5); // GroupNorm
  });

  it('rejects inputs and layouts that do not fit, naming them', () => {
    const x = zeros([1, 4, 6]);
    const v4 = zeros([4]);
    expect(() => normalizeAffineForward(zeros([2, 4, 6]), v4, v4, zeros([6]), zeros([6]), { period: 1, span: 1 })).toThrow(/normalizeAffineForward: expected an input \[1, G, B\]/);
    expect(() => normalizeAffineForward(x, v4, v4, zeros([6]), zeros([6]), { period: 3, span: 1 })).toThrow(/layout \{ period: 3, span: 1 \} does not fit an input \[1, 4, 6\]/);
    expect(() => normalizeAffineForward(x, v4, v4, zeros([5]), zeros([6]), { period: 1, span: 1 })).toThrow(/expected weight of shape \[6\]/);
    expect(() => normalizeAffineForward(x, v4, v4, zeros([6], { dtype: 'float64' }), zeros([6]), { period: 1, span: 1 })).toThrow(/weight is float64 but the input is float32/);
    expect(() => normalizeAffineBackward(zeros([1, 4, 5]), x, v4, zeros([6]), { period: 1, span: 1 })).toThrow(/normalizeAffineBackward: dy \[1,4,5\] must have xhat's shape/);
  });
});

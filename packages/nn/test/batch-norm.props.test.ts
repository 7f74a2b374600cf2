/**
 * Mathematical properties of Batch Normalization in training mode, checked
 * with fast-check over random shapes ([N, C], [N, C, L], [N, C, H, W]),
 * values and options, in float64:
 *
 * - per-channel output moments (mean beta, variance gamma^2 var/(var+eps));
 * - invariance to per-channel shifts and positive scalings of the input;
 * - the input gradient sums to zero per channel and is orthogonal to xhat
 *   (exactly up to the factor eps/(var+eps), which the tests state);
 * - gamma = sqrt(var + eps), beta = mean gives the identity;
 * - Theorem 4.1 of Santurkar et al. (2018), with sigma^2 = var + eps, and the
 *   exact equality it becomes for BN's gradient.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Tensor } from '@normlab/autograd';
import { fromTyped } from '@normlab/tensor';
import { BatchNorm1d, BatchNorm2d, type BatchNorm } from '../src/index.js';
import { RUNS, randValues, seedArb, vals } from '../../autograd/test/helpers.js';

// ---- arbitraries and references ------------------------------------------------

/** [N, C], [N, C, L] (BatchNorm1d) or [N, C, H, W] (BatchNorm2d), with at least 2 values per channel. */
const bnShapeArb: fc.Arbitrary<number[]> = fc.oneof(
  fc.tuple(fc.integer({ min: 2, max: 6 }), fc.integer({ min: 1, max: 4 })),
  fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 })),
  fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
).map((s) => [...s]).filter((s) => (s[0] * s.slice(2).reduce((a, b) => a * b, 1)) >= 2);

const epsArb = fc.constantFrom(1e-5, 1e-3, 0.1);

interface Case { shape: number[]; seed: number; eps: number }
const caseArb: fc.Arbitrary<Case> = fc.record({ shape: bnShapeArb, seed: seedArb, eps: epsArb });

const C_ = (shape: readonly number[]): number => shape[1];
const S_ = (shape: readonly number[]): number => shape.slice(2).reduce((a, b) => a * b, 1);
const chanOf = (k: number, shape: readonly number[]): number => Math.floor(k / S_(shape)) % C_(shape);

/** The values of each channel of a flat [N, C, ...] array. */
function perChannel(v: ArrayLike<number>, shape: readonly number[]): number[][] {
  const out: number[][] = Array.from({ length: C_(shape) }, () => []);
  for (let k = 0; k < v.length; k++) out[chanOf(k, shape)].push(v[k]);
  return out;
}

/** Two-pass float64 mean and biased variance. */
function moments(v: readonly number[]): { mean: number; variance: number } {
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  return { mean, variance: v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length };
}

const dot = (a: readonly number[], b: readonly number[]): number => a.reduce((s, x, i) => s + x * b[i], 0);
const sum = (a: readonly number[]): number => a.reduce((s, x) => s + x, 0);

/** Input values with a random offset and scale per channel (offsets up to 50, scales 0.2..5). */
function inputValues(shape: readonly number[], seed: number): Float64Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const z = randValues(n, seed);
  const off = randValues(C_(shape), seed + 1, { lo: -50, hi: 50 });
  const sc = randValues(C_(shape), seed + 2, { lo: 0.2, hi: 5 });
  return z.map((v, k) => off[chanOf(k, shape)] + sc[chanOf(k, shape)] * v);
}

const t64 = (v: Float64Array, shape: readonly number[], requiresGrad = false): Tensor => new Tensor(fromTyped(v, shape), { requiresGrad });

/** A float64 BatchNorm layer for `shape` with the given (or random) gamma and beta. */
function makeLayer(shape: readonly number[], eps: number, seed: number, gamma?: ArrayLike<number>, beta?: ArrayLike<number>): BatchNorm {
  const C = C_(shape);
  const Cls = shape.length === 4 ? BatchNorm2d : BatchNorm1d;
  const layer = new Cls(C, { eps, dtype: 'float64' });
  const g = gamma ?? randValues(C, seed + 3, { lo: -2, hi: 2, avoid: [0], margin: 0.05 });
  const b = beta ?? randValues(C, seed + 4, { lo: -3, hi: 3 });
  layer.weight!.data = fromTyped(Float64Array.from(g), [C]);
  layer.bias!.data = fromTyped(Float64Array.from(b), [C]);
  return layer;
}

function close(a: number, e: number, atol: number, rtol: number, what: string): void {
  if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) throw new Error(`${what}: ${a} vs expected ${e}`);
}

function closeArrays(a: ArrayLike<number>, e: ArrayLike<number>, atol: number, rtol: number, what: string): void {
  expect(a.length).toBe(e.length);
  for (let i = 0; i < a.length; i++) close(a[i], e[i], atol, rtol, `${what}[${i}]`);
}

// ---- forward -------------------------------------------------------------------

describe('BatchNorm training-mode forward (properties)', () => {
  it('each output channel has mean beta and biased variance gamma^2 var/(var+eps)', () => {
    fc.assert(fc.property(caseArb, ({ shape, seed, eps }) => {
      const xv = inputValues(shape, seed);
      const layer = makeLayer(shape, eps, seed);
      const y = layer.forward(t64(xv, shape));
      expect(y.shape).toEqual(shape);
      expect(y.dtype).toBe('float64');
      const xs = perChannel(xv, shape);
      const ys = perChannel(vals(y), shape);
      const gamma = vals(layer.weight!);
      const beta = vals(layer.bias!);
      ys.forEach((yc, c) => {
        const { variance } = moments(xs[c]);
        const my = moments(yc);
        close(my.mean, beta[c], 1e-10, 1e-10, `mean of channel ${c}`);
        close(my.variance, (gamma[c] ** 2 * variance) / (variance + eps), 1e-10, 1e-9, `variance of channel ${c}`);
      });
    }), { numRuns: RUNS });
  });

  it('is invariant to adding a constant per channel', () => {
    fc.assert(fc.property(caseArb, ({ shape, seed, eps }) => {
      const xv = inputValues(shape, seed);
      const shift = randValues(C_(shape), seed + 7, { lo: -100, hi: 100 });
      const layer = makeLayer(shape, eps, seed);
      const y0 = vals(layer.forward(t64(xv, shape)));
      const y1 = vals(layer.forward(t64(xv.map((v, k) => v + shift[chanOf(k, shape)]), shape)));
      closeArrays(y1, y0, 1e-8, 1e-8, 'shifted');
    }), { numRuns: RUNS });
  });

  it('is invariant to a positive scale per channel when eps is tiny against the variance', () => {
    fc.assert(fc.property(caseArb, ({ shape, seed }) => {
      const xv = inputValues(shape, seed);
      const scale = randValues(C_(shape), seed + 8, { lo: 0.01, hi: 100 });
      const layer = makeLayer(shape, 1e-200, seed);
      const y0 = vals(layer.forward(t64(xv, shape)));
      const y1 = vals(layer.forward(t64(xv.map((v, k) => v * scale[chanOf(k, shape)]), shape)));
      closeArrays(y1, y0, 1e-9, 1e-9, 'scaled');
    }), { numRuns: RUNS });
  });

  it('with eps: scaling x by s equals the layer with eps/s^2 on x (the exact eps effect)', () => {
    fc.assert(fc.property(caseArb, fc.double({ min: 0.05, max: 20, noNaN: true }), ({ shape, seed, eps }, s) => {
      const xv = inputValues(shape, seed);
      const a = makeLayer(shape, eps, seed);
      const b = makeLayer(shape, eps / (s * s), seed);
      const y1 = vals(a.forward(t64(xv.map((v) => v * s), shape)));
      const y0 = vals(b.forward(t64(xv, shape)));
      closeArrays(y1, y0, 1e-9, 1e-9, 'scaled with eps');
    }), { numRuns: RUNS });
  });

  it('gamma = sqrt(var + eps) and beta = mean give the identity', () => {
    fc.assert(fc.property(caseArb, ({ shape, seed, eps }) => {
      const xv = inputValues(shape, seed);
      const st = perChannel(xv, shape).map(moments);
      const layer = makeLayer(shape, eps, seed, st.map((m) => Math.sqrt(m.variance + eps)), st.map((m) => m.mean));
      closeArrays(vals(layer.forward(t64(xv, shape))), xv, 1e-10, 1e-11, 'identity');
    }), { numRuns: RUNS });
  });
});

// ---- input gradient ---------------------------------------------------------------

/** Runs the layer forward and backward with a random upstream gradient g; returns per-channel pieces. */
function gradPieces(shape: number[], seed: number, eps: number) {
  const xv = inputValues(shape, seed);
  const layer = makeLayer(shape, eps, seed);
  const x = t64(xv, shape, true);
  const y = layer.forward(x);
  const gv = randValues(xv.length, seed + 11);
  y.backward(t64(gv, shape));
  const xs = perChannel(xv, shape);
  const st = xs.map(moments);
  const xhat = xs.map((v, c) => v.map((e) => (e - st[c].mean) / Math.sqrt(st[c].variance + eps)));
  return {
    m: xs[0].length,
    gamma: vals(layer.weight!),
    st,
    xhat,
    g: perChannel(gv, shape),
    dx: perChannel(vals(x.grad!), shape),
  };
}

describe('BatchNorm input gradient (properties)', () => {
  it('sums to zero over each channel', () => {
    fc.assert(fc.property(caseArb, ({ shape, seed, eps }) => {
      const { dx, g } = gradPieces(shape, seed, eps);
      dx.forEach((d, c) => close(sum(d), 0, 1e-10 * (1 + Math.sqrt(dot(g[c], g[c]))), 0, `sum of dx, channel ${c}`));
    }), { numRuns: RUNS });
  });

  it('is orthogonal to xhat per channel, exactly up to eps: <dx, xhat> = gamma/sigma * <g, xhat> * eps/sigma^2', () => {
    fc.assert(fc.property(caseArb, ({ shape, seed, eps }) => {
      const { dx, g, xhat, gamma, st } = gradPieces(shape, seed, eps);
      dx.forEach((d, c) => {
        const s2 = st[c].variance + eps;
        const expected = (gamma[c] / Math.sqrt(s2)) * dot(g[c], xhat[c]) * (eps / s2);
        const scale = (Math.abs(gamma[c]) / Math.sqrt(s2)) * Math.sqrt(dot(g[c], g[c]) * dot(xhat[c], xhat[c]));
        close(dot(d, xhat[c]), expected, 1e-10 * (1 + scale), 0, `<dx, xhat>, channel ${c}`);
      });
    }), { numRuns: RUNS });
  });

  it('is orthogonal to xhat per channel when eps is tiny against the variance', () => {
    fc.assert(fc.property(caseArb, ({ shape, seed }) => {
      const { dx, g, xhat, gamma, st } = gradPieces(shape, seed, 1e-200);
      dx.forEach((d, c) => {
        const scale = (Math.abs(gamma[c]) / Math.sqrt(st[c].variance)) * Math.sqrt(dot(g[c], g[c]) * dot(xhat[c], xhat[c]));
        close(dot(d, xhat[c]), 0, 1e-10 * (1 + scale), 0, `<dx, xhat>, channel ${c}`);
      });
    }), { numRuns: RUNS });
  });

  it("Santurkar et al. Theorem 4.1: ||dL/dx||^2 <= gamma^2/sigma^2 (||g||^2 - <1,g>^2/m - <g,yhat>^2/m), sigma^2 = var + eps; equality up to eps", () => {
    // With sigma^2 = var_B + eps and yhat = (x - mu)/sigma (so ||yhat||^2 = m var/sigma^2):
    //   ||dx||^2 = gamma^2/sigma^2 (||g||^2 - <1,g>^2/m - <g,yhat>^2/m (1 + eps/sigma^2))
    // which is the bound minus gamma^2/sigma^2 * eps/sigma^2 * <g,yhat>^2/m >= 0: the bound holds,
    // and is an equality as eps -> 0.
    fc.assert(fc.property(caseArb, ({ shape, seed, eps }) => {
      const { m, dx, g, xhat, gamma, st } = gradPieces(shape, seed, eps);
      dx.forEach((d, c) => {
        const s2 = st[c].variance + eps;
        const k = gamma[c] ** 2 / s2;
        const gy = dot(g[c], xhat[c]);
        const bound = k * (dot(g[c], g[c]) - sum(g[c]) ** 2 / m - gy ** 2 / m);
        const lhs = dot(d, d);
        const tol = 1e-10 * (1 + k * dot(g[c], g[c]));
        expect(lhs).toBeLessThanOrEqual(bound + tol);
        close(lhs, bound - k * (eps / s2) * (gy ** 2 / m), tol, 0, `||dx||^2 (exact), channel ${c}`);
      });
    }), { numRuns: RUNS });
  });

  it('Theorem 4.1 is an equality when eps is tiny against the variance', () => {
    fc.assert(fc.property(caseArb, ({ shape, seed }) => {
      const { m, dx, g, xhat, gamma, st } = gradPieces(shape, seed, 1e-200);
      dx.forEach((d, c) => {
        const k = gamma[c] ** 2 / st[c].variance;
        const bound = k * (dot(g[c], g[c]) - sum(g[c]) ** 2 / m - dot(g[c], xhat[c]) ** 2 / m);
        close(dot(d, d), bound, 1e-10 * (1 + k * dot(g[c], g[c])), 0, `||dx||^2 = bound, channel ${c}`);
      });
    }), { numRuns: RUNS });
  });
});

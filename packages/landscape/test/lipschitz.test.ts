/**
 * lipschitzBound: Theorem 4.1 of Santurkar et al. (2018) on random BatchNorm
 * networks (fast-check), the exact identity behind it, and its near-equality
 * when eps is negligible.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Tensor, grad } from '@normlab/autograd';
import {
  BatchNorm1d, BatchNorm2d, Conv2d, Flatten, Linear, Module, NoisyBatchNorm1d, ReLU, Sequential, Sigmoid, Tanh, crossEntropy, mseLoss,
} from '@normlab/nn';
import { Generator, fromTyped } from '@normlab/tensor';
import { lipschitzBound } from '../src/index.js';
import { expectClose, initParams, randn } from './helpers.js';

interface Net { model: Module; x: Tensor; loss: (m: Module, x: Tensor) => Tensor }

const acts = [() => new ReLU(), () => new Tanh(), () => new Sigmoid()];

/** A random MLP with BatchNorm1d after each hidden Linear (affine or not, random eps), or a small conv net with BatchNorm2d. */
const netArb: fc.Arbitrary<Net> = fc.record({
  conv: fc.boolean(),
  n: fc.integer({ min: 2, max: 6 }),
  d: fc.integer({ min: 1, max: 4 }),
  widths: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 3 }),
  act: fc.integer({ min: 0, max: 2 }),
  affine: fc.boolean(),
  eps: fc.constantFrom(1e-5, 1e-3, 0.1),
  seed: fc.integer({ min: 0, max: 1e6 }),
  gammaScale: fc.constantFrom(0.5, 1, 3),
}).map(({ conv, n, d, widths, act, affine, eps, seed, gammaScale }): Net => {
  const o = { dtype: 'float64' as const };
  const layers: Module[] = [];
  if (conv) {
    layers.push(new Conv2d(2, widths[0], 3, { padding: 1, ...o }), new BatchNorm2d(widths[0], { affine, eps, ...o }), acts[act](), new Flatten(), new Linear(widths[0] * 9, 3, o));
  } else {
    let w = d;
    for (const h of widths) {
      layers.push(new Linear(w, h, o), new BatchNorm1d(h, { affine, eps, ...o }), acts[act]());
      w = h;
    }
    layers.push(new Linear(w, 3, o));
  }
  const model = new Sequential(...layers);
  initParams(model, seed, gammaScale);
  const x = conv ? randn([n, 2, 3, 3], seed + 1, { scale: 2, shift: 1 }) : randn([n, d], seed + 1, { scale: 2, shift: 1 });
  const g = new Generator(seed + 2);
  const labels = new Tensor(fromTyped(Int32Array.from({ length: n }, () => g.int(0, 3)), [n]));
  return { model, x, loss: (m, b) => crossEntropy(m.forward(b as never) as Tensor, labels) };
});

describe('lipschitzBound (Theorem 4.1)', () => {
  it('holds in every channel of random BatchNorm networks, and equals its exact identity (fast-check)', () => {
    fc.assert(fc.property(netArb, ({ model, x, loss }) => {
      const bounds = lipschitzBound(model, loss, x);
      const bns = model.modules().filter((m) => m instanceof BatchNorm1d || m instanceof BatchNorm2d);
      expect(bounds).toHaveLength(bns.length);
      for (const b of bounds) {
        expect(b.holds).toBe(true);
        for (const ch of b.channels) {
          expect(ch.lhs).toBeLessThanOrEqual(ch.rhs + 1e-9 * ch.scale * ch.gradNormSq + 1e-300);
          // The exact value: ||grad L_hat||^2 = scale (||g||^2 - <1,g>^2/m - (2 - r) <g,yhat>^2/m), r = var/(var+eps).
          const r = 1 - (model.modules().find((m) => m instanceof BatchNorm1d || m instanceof BatchNorm2d) as BatchNorm1d).eps / ch.sigma2;
          const exact = ch.scale * (ch.gradNormSq - ch.meanTerm - (2 - r) * ch.corrTerm);
          expectClose(ch.lhs, exact, 1e-7, 1e-9 * ch.scale * ch.gradNormSq + 1e-300, 'lhs vs exact identity');
        }
        expectClose(b.lhs, b.channels.reduce((s, c) => s + c.lhs, 0), 1e-12, 0);
      }
    }), { numRuns: 25 });
  });

  it('is an equality up to eps/(var + eps) when eps is negligible', () => {
    const model = new Sequential(new Linear(3, 4, { dtype: 'float64' }), new BatchNorm1d(4, { eps: 1e-12, dtype: 'float64' }), new Tanh(), new Linear(4, 2, { dtype: 'float64' }));
    initParams(model, 3, 1);
    const t = randn([10, 2], 4);
    const bounds = lipschitzBound(model, (m, x: Tensor) => mseLoss(m.forward(x) as Tensor, t), randn([10, 3], 5));
    expect(bounds).toHaveLength(1);
    expect(bounds[0].name).toBe('1');
    expect(bounds[0].m).toBe(10);
    for (const ch of bounds[0].channels) {
      expectClose(ch.lhs, ch.rhs, 1e-8, 1e-14);
      expect(ch.ratio).toBeLessThanOrEqual(1 + 1e-8);
    }
  });

  it('reports gamma, sigma^2 and both sides by hand for a BN layer right before the loss', () => {
    // L = sum_i c_i z_i over one channel: g = c. y = (0, 1, 2, 3): mu = 1.5, var = 1.25.
    const bn = new BatchNorm1d(1, { eps: 1e-5, dtype: 'float64' });
    bn.weight!.data = fromTyped(Float64Array.from([2]), [1]);
    const model = new Sequential(bn);
    const c = [1, -2, 0.5, 3];
    const loss = (m: Sequential, y: Tensor): Tensor => (m.forward(y) as Tensor).mul(new Tensor(fromTyped(Float64Array.from(c), [4, 1]))).sum();
    const [b] = lipschitzBound(model, loss, new Tensor(fromTyped(Float64Array.from([0, 1, 2, 3]), [4, 1])));
    const ch = b.channels[0];
    const sigma2 = 1.25 + 1e-5;
    const yhat = [0, 1, 2, 3].map((y) => (y - 1.5) / Math.sqrt(sigma2));
    const g1 = c.reduce((s, x) => s + x, 0);
    const gy = c.reduce((s, x, i) => s + x * yhat[i], 0);
    const gg = c.reduce((s, x) => s + x * x, 0);
    expectClose(ch.gamma, 2);
    expectClose(ch.sigma2, sigma2, 1e-12);
    expectClose(ch.gradNormSq, gg);
    expectClose(ch.meanTerm, (g1 * g1) / 4);
    expectClose(ch.corrTerm, (gy * gy) / 4);
    expectClose(ch.rhs, (4 / sigma2) * (gg - (g1 * g1) / 4 - (gy * gy) / 4));
    // dL/dy = (gamma / sigma) (g - mean(g) - yhat mean(g yhat)).
    const dy = c.map((x, i) => (2 / Math.sqrt(sigma2)) * (x - g1 / 4 - (yhat[i] * gy) / 4));
    expectClose(ch.lhs, dy.reduce((s, v) => s + v * v, 0), 1e-10);
    expect(b.holds).toBe(true);
  });

  it('covers NoisyBatchNorm (g taken before the noise), float32 models, and leaves frozen layers out', () => {
    const noisy = new NoisyBatchNorm1d(4, { generator: new Generator(1) });
    const frozen = new BatchNorm1d(3).freezeRunningStats();
    const model = new Sequential(new Linear(3, 4), noisy, new ReLU(), new Linear(4, 3), frozen, new ReLU(), new Linear(3, 2));
    const x = randn([8, 3], 21, { dtype: 'float32' });
    const labels = new Tensor(fromTyped(Int32Array.from([0, 1, 0, 1, 1, 0, 0, 1]), [8]));
    const bounds = lipschitzBound(model, (m, b: Tensor) => crossEntropy(m.forward(b) as Tensor, labels), x);
    expect(bounds.map((b) => b.name)).toEqual(['1']);
    expect(bounds[0].holds).toBe(true);
    for (const ch of bounds[0].channels) if (ch.gradNormSq > 0) expect(ch.ratio).toBeLessThanOrEqual(1 + 1e-4);
    // The left side is the gradient the BN input really gets in the network (noise included): the
    // probe left the noise generator where it was, so a plain forward draws the same noise.
    let y: Tensor | null = null;
    const h = model.at(0).registerForwardHook((_m, _i, out) => void (y = out as Tensor));
    const loss = crossEntropy(model.forward(x) as Tensor, labels);
    h.remove();
    const [dy] = grad(loss, y!);
    const v = Array.from(dy!.toTypedArray());
    bounds[0].channels.forEach((ch, j) => {
      const direct = v.filter((_, k) => k % 4 === j).reduce((s, a) => s + a * a, 0);
      expectClose(ch.lhs, direct, 1e-4, 1e-10);
    });
  });

  it('reports each call of a layer applied twice', () => {
    const bn = new BatchNorm1d(2, { dtype: 'float64' });
    class Twice extends Module {
      bn = bn;
      lin = new Linear(2, 2, { dtype: 'float64' });
      forward(x: Tensor): Tensor {
        return this.bn.forward(this.lin.forward(this.bn.forward(x)).tanh());
      }
    }
    const model = new Twice();
    initParams(model, 2, 1);
    const bounds = lipschitzBound(model, (m, x: Tensor) => m.forward(x).square().sum(), randn([5, 2], 3));
    expect(bounds.map((b) => [b.name, b.call])).toEqual([['bn', 0], ['bn', 1]]);
    for (const b of bounds) expect(b.holds).toBe(true);
  });
});

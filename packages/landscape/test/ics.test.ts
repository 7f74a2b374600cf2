/**
 * internalCovariateShift on cases with known answers: a two-layer linear
 * network where G and G' are written out by hand, layers that do not
 * interact (ICS exactly 0), and the equivalence of the ways to give the step.
 */
import { describe, expect, it } from 'vitest';
import { Tensor } from '@normlab/autograd';
import { BatchNorm1d, Linear, Module, ReLU, Sequential, mseLoss, optim } from '@normlab/nn';
import { internalCovariateShift } from '../src/index.js';
import { expectClose, expectSamePicture, initParams, picture, randn } from './helpers.js';

type M = number[][];
const mm = (a: M, b: M): M => a.map((row) => b[0].map((_, j) => row.reduce((s, x, k) => s + x * b[k][j], 0)));
const tr = (a: M): M => a[0].map((_, j) => a.map((row) => row[j]));
const sub = (a: M, b: M): M => a.map((row, i) => row.map((x, j) => x - b[i][j]));
const scl = (a: M, s: number): M => a.map((row) => row.map((x) => x * s));
const fro = (a: M): number => Math.sqrt(a.flat().reduce((s, x) => s + x * x, 0));
const toM = (t: Tensor): M => t.toArray() as M;

interface Batch { x: Tensor; t: Tensor }
/** L = 1/2 sum (y - t)^2. */
const halfSse = (model: Module, b: Batch): Tensor => (model.forward as (x: Tensor) => Tensor)(b.x).sub(b.t).square().sum().mul(0.5);

describe('internalCovariateShift', () => {
  it('a two-layer linear network: G and G\' by hand', () => {
    const model = new Sequential(new Linear(3, 2, { bias: false, dtype: 'float64' }), new Linear(2, 1, { bias: false, dtype: 'float64' }));
    initParams(model, 1, 0.8);
    const batch = { x: randn([4, 3], 2), t: randn([4, 1], 3) };
    const lr = 0.3;
    const W1 = toM(model.parameters()[0]);
    const W2 = toM(model.parameters()[1]);
    const X = toM(batch.x);
    const T = toM(batch.t);
    // y = X W1^T W2^T, r = y - t; G2 = r^T h, G1 = W2^T r^T X.
    const h = mm(X, tr(W1));
    const r = sub(mm(h, tr(W2)), T);
    const G2 = mm(tr(r), h);
    const G1 = mm(mm(tr(W2), tr(r)), X);
    const W1n = sub(W1, scl(G1, lr));
    const hn = mm(X, tr(W1n));
    const rn = sub(mm(hn, tr(W2)), T);
    const G2n = mm(tr(rn), hn);

    const ics = internalCovariateShift(model, halfSse, batch, lr);
    expect(ics.map((l) => l.name)).toEqual(['0', '1']);
    expect(ics.map((l) => l.params)).toEqual([['0.weight'], ['1.weight']]);
    // Layer 1 has no layer before it: G' = G.
    expect(ics[0].l2).toBe(0);
    expectClose(ics[0].cosine, 1, 1e-14);
    expectClose(ics[0].gradNorm, fro(G1));
    expectClose(ics[1].gradNorm, fro(G2));
    expectClose(ics[1].gradNormAfter, fro(G2n));
    expectClose(ics[1].l2, fro(sub(G2, G2n)));
    const cos = G2.flat().reduce((s, x, i) => s + x * G2n.flat()[i], 0) / (fro(G2) * fro(G2n));
    expectClose(ics[1].cosine, cos);
    expect(ics[1].l2).toBeGreaterThan(1e-3);
  });

  it('layers that do not interact have no internal covariate shift', () => {
    class TwoBranches extends Module {
      a = new Linear(3, 2, { dtype: 'float64' });
      b = new Linear(3, 2, { dtype: 'float64' });
      c = new Linear(3, 1, { dtype: 'float64' });
      forward(x: Tensor): Tensor {
        return this.a.forward(x).sum(1, { keepdim: true }).add(this.b.forward(x).sum(1, { keepdim: true })).add(this.c.forward(x));
      }
    }
    const model = new TwoBranches();
    initParams(model, 5);
    // A loss that is a sum over the branches' parameters separately: (a + b + c)(x) is linear, so with
    // mse the layers would interact; the sum of the outputs (a linear loss) makes every gradient independent of the others.
    const loss = (m: TwoBranches, x: Tensor): Tensor => m.forward(x).sum();
    const ics = internalCovariateShift(model, loss, randn([5, 3], 6), 0.5);
    expect(ics).toHaveLength(3);
    for (const l of ics) {
      expect(l.l2).toBe(0);
      expectClose(l.cosine, 1, 1e-14);
    }
  });

  it('independent sub-networks with a nonlinear loss: ICS 0 across them, not within them', () => {
    class Parallel extends Module {
      left = new Sequential(new Linear(2, 3, { dtype: 'float64' }), new ReLU(), new Linear(3, 1, { dtype: 'float64' }));
      right = new Linear(2, 1, { dtype: 'float64' });
      forward(x: Tensor): [Tensor, Tensor] {
        return [this.left.forward(x) as Tensor, this.right.forward(x)];
      }
    }
    const model = new Parallel();
    initParams(model, 8);
    const x = randn([6, 2], 9);
    const t = randn([6, 1], 10);
    const loss = (m: Parallel, b: Tensor): Tensor => {
      const [l, r] = m.forward(b);
      return mseLoss(l, t).add(mseLoss(r, t));
    };
    const ics = internalCovariateShift(model, loss, x, 0.5);
    expect(ics.map((l) => l.name)).toEqual(['left.0', 'left.2', 'right']);
    expect(ics[0].l2).toBe(0);
    expect(ics[1].l2).toBeGreaterThan(0); // left.2 sees left.0 move
    expect(ics[2].l2).toBe(0); // right never sees the left branch
    expect(ics[0].params).toEqual(['left.0.weight', 'left.0.bias']);
  });

  it('a learning rate, { lr }, a step function and an SGD optimizer give the same step', () => {
    const model = new Sequential(new Linear(3, 4, { dtype: 'float64' }), new BatchNorm1d(4, { dtype: 'float64' }), new ReLU(), new Linear(4, 2, { dtype: 'float64' }));
    initParams(model, 11);
    const batch = { x: randn([8, 3], 12), t: randn([8, 2], 13) };
    const a = internalCovariateShift(model, halfSse, batch, 0.1);
    const b = internalCovariateShift(model, halfSse, batch, { lr: 0.1 });
    const c = internalCovariateShift(model, halfSse, batch, (p, g) => p.detach().sub(g.mul(0.1)));
    const sgd = new optim.SGD(model.parameters(), { lr: 0.1 });
    const d = internalCovariateShift(model, halfSse, batch, sgd);
    expect(b).toEqual(a);
    expect(c).toEqual(a);
    expect(d).toEqual(a);
    expect(a.map((l) => l.name)).toEqual(['0', '1', '3']);
  });

  it('an Adam optimizer: its first step, and its moments left bit-identical', () => {
    const model = new Sequential(new Linear(3, 4, { dtype: 'float64' }), new ReLU(), new Linear(4, 2, { dtype: 'float64' }));
    initParams(model, 14);
    const batch = { x: randn([8, 3], 15), t: randn([8, 2], 16) };
    const adam = new optim.Adam(model.parameters(), { lr: 0.01 });
    // Adam's first step is -lr * g / (|g| + eps) (m_hat = g, v_hat = g^2).
    const viaAdam = internalCovariateShift(model, halfSse, batch, adam);
    const byHand = internalCovariateShift(model, halfSse, batch, (p, g) => p.detach().sub(g.div(g.abs().add(1e-8)).mul(0.01)));
    viaAdam.forEach((l, i) => {
      expectClose(l.l2, byHand[i].l2, 1e-9, 1e-15);
      expectClose(l.cosine, byHand[i].cosine, 1e-9, 1e-15);
    });
    // After real steps, Adam's state must survive the probe.
    for (let i = 0; i < 2; i++) {
      adam.zeroGrad();
      halfSse(model, batch).backward();
      adam.step();
    }
    const before = picture(model, [adam]);
    internalCovariateShift(model, halfSse, batch, adam);
    expectSamePicture(picture(model, [adam]), before);
  });

  it('explicit layers: only they step, in the given order', () => {
    const l1 = new Linear(2, 2, { dtype: 'float64' });
    const l2 = new Linear(2, 2, { dtype: 'float64' });
    const l3 = new Linear(2, 1, { dtype: 'float64' });
    const model = new Sequential(l1, l2, l3);
    initParams(model, 17);
    const x = randn([5, 2], 18);
    const loss = (m: Sequential, b: Tensor): Tensor => (m.forward(b) as Tensor).square().mean();
    const only = internalCovariateShift(model, loss, x, 0.5, { layers: [l1, l3] });
    expect(only.map((l) => l.name)).toEqual(['0', '2']);
    const all = internalCovariateShift(model, loss, x, 0.5);
    // l3 after l1 only (l2 fixed) differs from l3 after l1 and l2.
    expect(only[1].l2).not.toBe(all[2].l2);
    expect(() => internalCovariateShift(model, loss, x, 0.5, { layers: [new Linear(1, 1)] })).toThrow(/not a module of the model/);
    expect(() => internalCovariateShift(model, loss, x, (p) => p.detach().reshape([p.size]))).toThrow(/shape/);
    expect(() => internalCovariateShift(model, loss, x, new optim.SGD(l1.parameters(), { lr: 0.1 }))).toThrow(/not in the optimizer/);
  });

  it('accepts float32 models', () => {
    const model = new Sequential(new Linear(3, 4), new BatchNorm1d(4), new ReLU(), new Linear(4, 1));
    const x = randn([6, 3], 19, { dtype: 'float32' });
    const t = randn([6, 1], 20, { dtype: 'float32' });
    const ics = internalCovariateShift(model, (m, b: Tensor) => mseLoss(m.forward(b) as Tensor, t), x, 0.1);
    expect(ics).toHaveLength(3);
    for (const l of ics) expect(Number.isFinite(l.l2)).toBe(true);
  });
});

/**
 * The loss additions: crossEntropy / nllLoss with class weights (incl.
 * ignoreIndex and label smoothing), crossEntropy with probability targets,
 * l1Loss, binaryCrossEntropyWithLogits (weight, posWeight, logits of +-1000),
 * each against a float64 reference written here from PyTorch's definitions,
 * their gradients, and the module forms.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Tensor, gradcheck, tensor } from '@normlab/autograd';
import { Generator, type NestedArray, type Shape, fromTyped, sizeOf } from '@normlab/tensor';
import {
  BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss, type Reduction,
  binaryCrossEntropyWithLogits, crossEntropy, l1Loss, mseLoss, nllLoss,
} from '../src/loss.js';

fc.configureGlobal({ ...fc.readConfigureGlobal(), includeErrorInReport: true });

// `+ 0` turns -0 into 0 (toEqual tells them apart).
const vals = (t: Tensor): number[] => Array.from(t.toTypedArray(), (v) => Number(v) + 0);
const f64 = (data: NestedArray, requiresGrad = false): Tensor => tensor(data, { dtype: 'float64', requiresGrad });
const i32 = (data: number[] | number): Tensor => tensor(data, { dtype: 'int32' });
const fromArr = (v: ArrayLike<number>, shape: Shape, requiresGrad = false): Tensor => new Tensor(fromTyped(Float64Array.from(v), shape), { requiresGrad });
const checkGrad = (fn: (...xs: Tensor[]) => Tensor, inputs: readonly Tensor[]): boolean =>
  gradcheck(fn, inputs, { eps: 1e-6, atol: 1e-6, rtol: 1e-5, raiseException: true, checkForwardAD: true });

function expectClose(actual: readonly number[], expected: readonly number[], tol = 1e-12): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => {
    const e = expected[i];
    if (!(Math.abs(a - e) <= tol * (1 + Math.abs(e)) || (Number.isNaN(a) && Number.isNaN(e)))) throw new Error(`entry ${i}: got ${a}, expected ${e} (tolerance ${tol})`);
  });
}

const reduceRef = (per: number[], reduction: Reduction, denominator: number): number[] =>
  reduction === 'none' ? per : [per.reduce((a, b) => a + b, 0) / (reduction === 'sum' ? 1 : denominator)];

/** Random classification problem: logits N(0, 2^2) [N, C, (D)], int targets with some ignored, weights U(0.1, 2.1), probabilities. */
interface Problem {
  shape: number[];
  logits: Float64Array;
  target: Int32Array;
  probs: Float64Array;
  weight: Float64Array;
}

function problem(shape: number[], seed: number, ignoreIndex: number, ignoreFraction: number): Problem {
  const g = new Generator(seed);
  const size = sizeOf(shape);
  const C = shape[1];
  const logits = Float64Array.from({ length: size }, () => 2 * g.normal());
  const target = Int32Array.from({ length: size / C }, () => (g.uniform() < ignoreFraction ? ignoreIndex : Math.floor(g.uniform() * C)));
  const weight = Float64Array.from({ length: C }, () => 0.1 + 2 * g.uniform());
  // Rows of the probabilities sum to 1 over the class dim.
  const raw = Float64Array.from({ length: size }, () => g.uniform());
  const D = size / (shape[0] * C);
  const probs = new Float64Array(size);
  for (let n = 0; n < shape[0]; n++) {
    for (let k = 0; k < D; k++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += raw[(n * C + c) * D + k];
      for (let c = 0; c < C; c++) probs[(n * C + c) * D + k] = raw[(n * C + c) * D + k] / s;
    }
  }
  return { shape, logits, target, probs, weight };
}

/** log-softmax over dim 1 by logsumexp: logp(n, c, k). */
function logSoftmaxRef(p: Problem): (n: number, c: number, k: number) => number {
  const [N, C] = p.shape;
  const D = p.logits.length / (N * C);
  return (n, c, k) => {
    let m = -Infinity;
    for (let j = 0; j < C; j++) m = Math.max(m, p.logits[(n * C + j) * D + k]);
    let s = 0;
    for (let j = 0; j < C; j++) s += Math.exp(p.logits[(n * C + j) * D + k] - m);
    return p.logits[(n * C + c) * D + k] - m - Math.log(s);
  };
}

/**
 * PyTorch's cross_entropy with class indices: per element
 * (1 - s) w[t] (-log p_t) + s / C sum_c w[c] (-log p_c), 0 where ignored;
 * the mean divides by the sum of w[t] over the targets not ignored.
 */
function ceIndexRef(p: Problem, o: { weighted: boolean; ignoreIndex: number; smoothing: number; reduction: Reduction }): number[] {
  const [N, C] = p.shape;
  const D = p.logits.length / (N * C);
  const w = (c: number): number => (o.weighted ? p.weight[c] : 1);
  const logp = logSoftmaxRef(p);
  const per: number[] = [];
  let wsum = 0;
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < D; k++) {
      const t = p.target[n * D + k];
      if (t === o.ignoreIndex) {
        per.push(0);
        continue;
      }
      wsum += w(t);
      let smooth = 0;
      for (let c = 0; c < C; c++) smooth -= w(c) * logp(n, c, k);
      per.push((1 - o.smoothing) * w(t) * -logp(n, t, k) + (o.smoothing / C) * smooth);
    }
  }
  return reduceRef(per, o.reduction, wsum);
}

/** PyTorch's cross_entropy with probabilities: -sum_c w[c] q_c log p_c, q = (1 - s) target + s / C; the mean over N * D. */
function ceProbRef(p: Problem, o: { weighted: boolean; smoothing: number; reduction: Reduction }): number[] {
  const [N, C] = p.shape;
  const D = p.logits.length / (N * C);
  const logp = logSoftmaxRef(p);
  const per: number[] = [];
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < D; k++) {
      let s = 0;
      for (let c = 0; c < C; c++) {
        const q = (1 - o.smoothing) * p.probs[(n * C + c) * D + k] + o.smoothing / C;
        s -= (o.weighted ? p.weight[c] : 1) * q * logp(n, c, k);
      }
      per.push(s);
    }
  }
  return reduceRef(per, o.reduction, N * D);
}

const logitsOf = (p: Problem, requiresGrad = false): Tensor => fromArr(p.logits, p.shape, requiresGrad);
const targetOf = (p: Problem): Tensor => new Tensor(fromTyped(p.target.slice(), [p.shape[0], ...p.shape.slice(2)]));
const probsOf = (p: Problem, requiresGrad = false): Tensor => fromArr(p.probs, p.shape, requiresGrad);
const weightOf = (p: Problem): Tensor => fromArr(p.weight, [p.shape[1]]);

/** [N, C] or [N, C, D] with N, C, D in 1..4. */
const shapeArb = fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }))
  .map(([n, c, d]) => (d === undefined ? [n, c] : [n, c, d]));
const reductionArb = fc.constantFrom<Reduction>('mean', 'sum', 'none');

describe('crossEntropy / nllLoss with class weights', () => {
  it('match the float64 reference (weights, ignoreIndex incl. a class index, label smoothing, every reduction)', () => {
    fc.assert(
      fc.property(shapeArb, fc.nat(10_000), reductionArb, fc.constantFrom(0, 0.15), fc.boolean(), (shape, seed, reduction, smoothing, ignoreIsClass) => {
        const ignoreIndex = ignoreIsClass ? 0 : -100;
        const p = problem(shape, seed, ignoreIndex, 0.25);
        const o = { weighted: true, ignoreIndex, smoothing, reduction };
        const out = crossEntropy(logitsOf(p), targetOf(p), { weight: weightOf(p), ignoreIndex, labelSmoothing: smoothing, reduction });
        expectClose(vals(out), ceIndexRef(p, o));
        if (smoothing === 0) {
          const nll = nllLoss(logitsOf(p).logSoftmax(1), targetOf(p), { weight: weightOf(p), ignoreIndex, reduction });
          expectClose(vals(nll), ceIndexRef(p, o));
        }
      }),
      { numRuns: 60 },
    );
  });

  it('hand values: the weighted mean divides by the sum of the weights of the targets not ignored', () => {
    // log-probabilities given directly to nllLoss.
    const logp = f64([[-1, -2, -3], [-0.5, -1.5, -2.5], [-4, -0.1, -3]]);
    const weight = f64([1, 2, 3]);
    // Targets 2, 0, 1: losses 3*3, 1*0.5, 2*0.1.
    expect(nllLoss(logp, i32([2, 0, 1]), { weight }).item()).toBeCloseTo((9 + 0.5 + 0.2) / (3 + 1 + 2), 14);
    expect(nllLoss(logp, i32([2, 0, 1]), { weight, reduction: 'sum' }).item()).toBeCloseTo(9.7, 14);
    expect(vals(nllLoss(logp, i32([2, 0, 1]), { weight, reduction: 'none' }))).toEqual([9, 0.5, 0.2]);
    // The ignored row counts neither in the sum nor in the weight sum.
    expect(nllLoss(logp, i32([2, -100, 1]), { weight }).item()).toBeCloseTo((9 + 0.2) / (3 + 2), 14);
    expect(vals(nllLoss(logp, i32([2, -100, 1]), { weight, reduction: 'none' }))).toEqual([9, 0, 0.2]);
    // All ignored: 0 / 0 = NaN, as PyTorch.
    expect(nllLoss(logp, i32([-100, -100, -100]), { weight }).item()).toBeNaN();
  });

  it('uniform weights give the unweighted loss; an unbatched input takes the weight too', () => {
    const p = problem([4, 3], 5, -100, 0.25);
    p.target[0] = 1;
    const ones = f64([1, 1, 1]);
    expectClose(vals(crossEntropy(logitsOf(p), targetOf(p), { weight: ones, labelSmoothing: 0.1 })), vals(crossEntropy(logitsOf(p), targetOf(p), { labelSmoothing: 0.1 })), 1e-14);
    const w = f64([0.5, 2, 1]);
    const single = crossEntropy(f64([2, 1, 0]), i32(1), { weight: w, reduction: 'none' });
    expect(single.shape).toEqual([]);
    expect(single.item()).toBeCloseTo(2 * -(1 - Math.log(Math.exp(2) + Math.exp(1) + 1)), 14);
    // A mean over one element divides by its own weight.
    expect(crossEntropy(f64([2, 1, 0]), i32(1), { weight: w }).item()).toBeCloseTo(-(1 - Math.log(Math.exp(2) + Math.exp(1) + 1)), 14);
  });

  it('gradient wrt the logits passes gradcheck (weights, ignored targets, smoothing)', () => {
    fc.assert(
      fc.property(shapeArb, fc.nat(10_000), fc.constantFrom<Reduction>('mean', 'sum', 'none'), fc.constantFrom(0, 0.2), (shape, seed, reduction, smoothing) => {
        const p = problem(shape, seed, -100, 0.2);
        if (p.target.every((t) => t === -100)) p.target[0] = 0;
        const t = targetOf(p);
        const w = weightOf(p);
        checkGrad((x) => crossEntropy(x, t, { weight: w, reduction, labelSmoothing: smoothing }), [logitsOf(p, true)]);
      }),
      { numRuns: 15 },
    );
  });

  it('validates the weight', () => {
    const x = f64([[1, 2, 3]]);
    expect(() => crossEntropy(x, i32([0]), { weight: f64([1, 2]) })).toThrow(/all 3 classes/);
    expect(() => crossEntropy(x, i32([0]), { weight: f64([[1, 2, 3]]) })).toThrow(/all 3 classes/);
    expect(() => nllLoss(x, i32([0]), { weight: i32([1, 2, 3]) })).toThrow(/floating point/);
  });

  it('float32 logits with float64 weights compute in float32', () => {
    const p = problem([3, 4], 8, -100, 0);
    const x = new Tensor(fromTyped(Float32Array.from(p.logits), [3, 4]));
    const out = crossEntropy(x, targetOf(p), { weight: weightOf(p) });
    expect(out.dtype).toBe('float32');
    const p32 = { ...p, logits: Float64Array.from(Float32Array.from(p.logits)) };
    expectClose([out.item()], ceIndexRef(p32, { weighted: true, ignoreIndex: -100, smoothing: 0, reduction: 'mean' }), 1e-5);
  });
});

describe('crossEntropy with probability targets', () => {
  it('matches the float64 reference (weights, label smoothing, every reduction)', () => {
    fc.assert(
      fc.property(shapeArb, fc.nat(10_000), reductionArb, fc.constantFrom(0, 0.2), fc.boolean(), (shape, seed, reduction, smoothing, weighted) => {
        const p = problem(shape, seed, -100, 0);
        const out = crossEntropy(logitsOf(p), probsOf(p), { weight: weighted ? weightOf(p) : null, labelSmoothing: smoothing, reduction });
        expectClose(vals(out), ceProbRef(p, { weighted, smoothing, reduction }));
      }),
      { numRuns: 60 },
    );
  });

  it('one-hot probabilities give the index loss (the weighted mean divides by N here, not by the weight sum, as PyTorch)', () => {
    const p = problem([5, 3], 2, -100, 0);
    const oneHot = new Float64Array(15);
    p.target.forEach((t, n) => { oneHot[n * 3 + t] = 1; });
    const q = fromArr(oneHot, [5, 3]);
    const idx = targetOf(p);
    expectClose(vals(crossEntropy(logitsOf(p), q)), vals(crossEntropy(logitsOf(p), idx)), 1e-14);
    expectClose(vals(crossEntropy(logitsOf(p), q, { labelSmoothing: 0.3 })), vals(crossEntropy(logitsOf(p), idx, { labelSmoothing: 0.3 })), 1e-14);
    const w = weightOf(p);
    const sumIdx = crossEntropy(logitsOf(p), idx, { weight: w, reduction: 'sum' }).item();
    expect(crossEntropy(logitsOf(p), q, { weight: w, reduction: 'sum' }).item()).toBeCloseTo(sumIdx, 12);
    expect(crossEntropy(logitsOf(p), q, { weight: w }).item()).toBeCloseTo(sumIdx / 5, 12);
  });

  it('an unbatched input [C] with a target [C]; a float32 target with float64 logits', () => {
    const x = f64([1, 2, 0.5]);
    const q = f64([0.2, 0.5, 0.3]);
    const lse = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(0.5));
    const expected = -(0.2 * (1 - lse) + 0.5 * (2 - lse) + 0.3 * (0.5 - lse));
    expect(crossEntropy(x, q).item()).toBeCloseTo(expected, 14);
    expect(crossEntropy(x, q, { reduction: 'none' }).shape).toEqual([]);
    expect(crossEntropy(x, tensor([0.2, 0.5, 0.3])).item()).toBeCloseTo(expected, 6);
  });

  it('gradient wrt the logits and the target passes gradcheck', () => {
    fc.assert(
      fc.property(shapeArb, fc.nat(10_000), reductionArb, fc.constantFrom(0, 0.2), fc.boolean(), (shape, seed, reduction, smoothing, weighted) => {
        const p = problem(shape, seed, -100, 0);
        const w = weighted ? weightOf(p) : null;
        checkGrad((x, q) => crossEntropy(x, q, { weight: w, labelSmoothing: smoothing, reduction }), [logitsOf(p, true), probsOf(p, true)]);
      }),
      { numRuns: 15 },
    );
  });

  it('validation: the target shape, ignoreIndex, large logits stay finite', () => {
    const x = f64([[1, 2], [3, 4]]);
    expect(() => crossEntropy(x, f64([0.5, 0.5]))).toThrow(/int32 class indices, or float probabilities of the input's shape \[2,2\]/);
    expect(() => crossEntropy(x, f64([[0.5, 0.5], [1, 0]]), { ignoreIndex: 0 })).toThrow(/ignoreIndex is not supported/);
    const big = crossEntropy(f64([[1000, -1000], [-1000, 1000]]), f64([[1, 0], [0.5, 0.5]]), { reduction: 'none' });
    expect(vals(big)).toEqual([0, 1000]);
  });
});

describe('l1Loss', () => {
  it('hand values and reductions', () => {
    const x = f64([[1, 2], [3, 4]]);
    const y = f64([[0, 2], [5, 1.5]]);
    expect(l1Loss(x, y).item()).toBe((1 + 0 + 2 + 2.5) / 4);
    expect(l1Loss(x, y, { reduction: 'sum' }).item()).toBe(5.5);
    expect(vals(l1Loss(x, y, { reduction: 'none' }))).toEqual([1, 0, 2, 2.5]);
    expect(() => l1Loss(x, f64([1, 2]))).toThrow(/same shape/);
    expect(() => l1Loss(x, y, { reduction: 'avg' as Reduction })).toThrow(/reduction/);
  });

  it('matches the reference; the gradient passes gradcheck away from ties and is 0 at a tie (sign(0))', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -5, max: 5, noNaN: true }), { minLength: 1, maxLength: 8 }), fc.nat(1000), reductionArb, (xs, seed, reduction) => {
        const g = new Generator(seed);
        // Targets at least 0.05 from the inputs: |x - y| is smooth there.
        const ys = xs.map((v) => v + (g.uniform() < 0.5 ? -1 : 1) * (0.05 + g.uniform()));
        const per = xs.map((v, i) => Math.abs(v - ys[i]));
        expectClose(vals(l1Loss(fromArr(xs, [xs.length]), fromArr(ys, [xs.length]), { reduction })), reduceRef(per, reduction, xs.length));
        checkGrad((x, y) => l1Loss(x, y, { reduction }), [fromArr(xs, [xs.length], true), fromArr(ys, [xs.length], true)]);
      }),
      { numRuns: 20 },
    );
    const x = f64([1, 2], true);
    l1Loss(x, f64([1, 0])).backward();
    expect(vals(x.grad!)).toEqual([0, 0.5]);
  });
});

/** log sigmoid(v) in float64 without overflow. */
const logSigmoid = (v: number): number => (v >= 0 ? -Math.log1p(Math.exp(-v)) : v - Math.log1p(Math.exp(v)));

/** PyTorch's BCEWithLogits by its definition: -w [pw y log s(x) + (1 - y) log(1 - s(x))]. */
function bceRef(x: number[], y: number[], w: (i: number) => number, pw: (i: number) => number): number[] {
  return x.map((xi, i) => -w(i) * (pw(i) * y[i] * logSigmoid(xi) + (1 - y[i]) * logSigmoid(-xi)));
}

describe('binaryCrossEntropyWithLogits', () => {
  it('matches the float64 reference with weight [N, C] or [C] and posWeight [C], every reduction', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.nat(10_000), reductionArb, fc.constantFrom('none', 'full', 'row'), fc.boolean(), (N, C, seed, reduction, weightKind, withPos) => {
        const g = new Generator(seed);
        const x = Array.from({ length: N * C }, () => 4 * g.normal());
        const y = Array.from({ length: N * C }, () => (g.uniform() < 0.3 ? g.uniform() : Math.round(g.uniform())));
        const wv = Array.from({ length: weightKind === 'full' ? N * C : C }, () => 0.1 + 2 * g.uniform());
        const pv = Array.from({ length: C }, () => 0.2 + 3 * g.uniform());
        const weight = weightKind === 'none' ? null : fromArr(wv, weightKind === 'full' ? [N, C] : [C]);
        const posWeight = withPos ? fromArr(pv, [C]) : null;
        const out = binaryCrossEntropyWithLogits(fromArr(x, [N, C]), fromArr(y, [N, C]), { weight, posWeight, reduction });
        const per = bceRef(x, y, (i) => (weightKind === 'none' ? 1 : weightKind === 'full' ? wv[i] : wv[i % C]), (i) => (withPos ? pv[i % C] : 1));
        expectClose(vals(out), reduceRef(per, reduction, N * C));
      }),
      { numRuns: 60 },
    );
  });

  it('logits of +-1000 give finite, exact losses and gradients (float64 and float32)', () => {
    for (const dtype of ['float64', 'float32'] as const) {
      const x = tensor([1000, -1000, 1000, -1000, 0], { dtype, requiresGrad: true });
      const y = tensor([1, 0, 0, 1, 1], { dtype });
      const loss = binaryCrossEntropyWithLogits(x, y, { reduction: 'none' });
      expect(vals(loss).slice(0, 4)).toEqual([0, 0, 1000, 1000]);
      expect(vals(loss)[4]).toBeCloseTo(Math.log(2), 6);
      loss.sum().backward();
      // d/dx = sigmoid(x) - y.
      expect(vals(x.grad!)).toEqual([0, 0, 1, -1, -0.5]);
      const pw = binaryCrossEntropyWithLogits(x.detach(), y, { posWeight: tensor([3], { dtype }), reduction: 'none' });
      expect(vals(pw).slice(0, 4)).toEqual([0, 0, 1000, 3000]);
    }
  });

  it('gradient wrt input and target passes gradcheck (weight and posWeight)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.nat(10_000), fc.constantFrom<Reduction>('mean', 'sum', 'none'), fc.boolean(), (N, C, seed, reduction, withWeights) => {
        const g = new Generator(seed);
        const x = fromArr(Array.from({ length: N * C }, () => 3 * g.normal()), [N, C], true);
        const y = fromArr(Array.from({ length: N * C }, () => g.uniform()), [N, C], true);
        const weight = withWeights ? fromArr(Array.from({ length: C }, () => 0.5 + g.uniform()), [C]) : null;
        const posWeight = withWeights ? fromArr(Array.from({ length: C }, () => 0.5 + 2 * g.uniform()), [C]) : null;
        checkGrad((xi, yi) => binaryCrossEntropyWithLogits(xi, yi, { weight, posWeight, reduction }), [x, y]);
      }),
      { numRuns: 15 },
    );
  });

  it('validation', () => {
    const x = f64([[1, 2], [3, 4]]);
    expect(() => binaryCrossEntropyWithLogits(x, f64([1, 0]))).toThrow(/must be the same as input size/);
    expect(() => binaryCrossEntropyWithLogits(x, tensor([[1, 0], [0, 1]], { dtype: 'int32' }))).toThrow(/floating point/);
    expect(() => binaryCrossEntropyWithLogits(x, x, { weight: f64([1, 2, 3]) })).toThrow(RangeError);
    expect(() => binaryCrossEntropyWithLogits(x, x, { posWeight: f64([[[1]]]) })).toThrow(/does not broadcast/);
  });
});

describe('loss modules', () => {
  const p = problem([4, 3], 21, -100, 0.25);
  p.target[0] = 2;

  it('equal the functions with the options they hold', () => {
    const w = weightOf(p);
    expect(vals(new CrossEntropyLoss({ weight: w, labelSmoothing: 0.1, reduction: 'sum' }).forward(logitsOf(p), targetOf(p))))
      .toEqual(vals(crossEntropy(logitsOf(p), targetOf(p), { weight: w, labelSmoothing: 0.1, reduction: 'sum' })));
    expect(vals(new CrossEntropyLoss().forward(logitsOf(p), probsOf(p)))).toEqual(vals(crossEntropy(logitsOf(p), probsOf(p))));
    const logp = logitsOf(p).logSoftmax(1);
    // Class 1 as the ignored index instead of -100.
    const t1 = new Tensor(fromTyped(Int32Array.from(p.target, (t) => (t === -100 ? 1 : t)), [4]));
    const viaModule = vals(new NLLLoss({ weight: w, ignoreIndex: 1, reduction: 'none' }).forward(logp, t1));
    expect(viaModule).toEqual(vals(nllLoss(logp, t1, { weight: w, ignoreIndex: 1, reduction: 'none' })));
    expect(viaModule.filter((_, i) => p.target[i] === -100 || p.target[i] === 1).every((v) => v === 0)).toBe(true);
    const a = logitsOf(p);
    const b = probsOf(p);
    expect(new MSELoss().forward(a, b).item()).toBe(mseLoss(a, b).item());
    expect(vals(new L1Loss({ reduction: 'none' }).forward(a, b))).toEqual(vals(l1Loss(a, b, { reduction: 'none' })));
    const pw = f64([1, 2, 3]);
    expect(new BCEWithLogitsLoss({ posWeight: pw, weight: w }).forward(a, b).item())
      .toBe(binaryCrossEntropyWithLogits(a, b, { posWeight: pw, weight: w }).item());
  });

  it('hold their options (PyTorch defaults) and keep weights as buffers in the state dict', () => {
    const ce = new CrossEntropyLoss();
    expect([ce.weight, ce.ignoreIndex, ce.reduction, ce.labelSmoothing]).toEqual([null, -100, 'mean', 0]);
    expect([...ce.stateDict().keys()]).toEqual([]);
    const w = f64([1, 2, 3]);
    const weighted = new CrossEntropyLoss({ weight: w });
    expect([...weighted.stateDict().keys()]).toEqual(['weight']);
    expect(weighted.buffers()).toEqual([w]);
    expect(weighted.parameters()).toEqual([]);
    expect([...new BCEWithLogitsLoss({ weight: w, posWeight: w }).stateDict().keys()]).toEqual(['weight', 'posWeight']);
    expect([...new NLLLoss({ weight: w }).stateDict().keys()]).toEqual(['weight']);
    expect(new MSELoss().reduction).toBe('mean');
    expect(ce.toString()).toBe('CrossEntropyLoss()');
  });

  it('validate their options when built', () => {
    const bad = (s: string): Reduction => s as Reduction;
    expect(() => new MSELoss({ reduction: bad('avg') })).toThrow(/MSELoss: reduction/);
    expect(() => new L1Loss({ reduction: bad('avg') })).toThrow(/L1Loss: reduction/);
    expect(() => new CrossEntropyLoss({ reduction: bad('x') })).toThrow(/reduction/);
    expect(() => new CrossEntropyLoss({ labelSmoothing: 2 })).toThrow(/labelSmoothing/);
    expect(() => new NLLLoss({ weight: f64([[1, 2]]) })).toThrow(/1-D/);
    expect(() => new BCEWithLogitsLoss({ reduction: bad('mean ') })).toThrow(/reduction/);
  });
});

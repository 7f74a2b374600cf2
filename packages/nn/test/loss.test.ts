/**
 * mseLoss, nllLoss and crossEntropy against float64 references computed here
 * (logsumexp formulation), torch's ignoreIndex / labelSmoothing / reduction
 * semantics, target validation, stability, and gradients.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Tensor, gradcheck, tensor } from '@normlab/autograd';
import { Generator, type NestedArray, fromTyped } from '@normlab/tensor';
import { type Reduction, crossEntropy, mseLoss, nllLoss } from '../src/index.js';

fc.configureGlobal({ ...fc.readConfigureGlobal(), includeErrorInReport: true });

// `+ 0` turns -0 into 0 (toEqual tells them apart).
const vals = (t: Tensor): number[] => Array.from(t.toTypedArray(), (v) => Number(v) + 0);
const f64 = (data: NestedArray, requiresGrad = false): Tensor => tensor(data, { dtype: 'float64', requiresGrad });
const i32 = (data: number[] | number[][] | number): Tensor => tensor(data, { dtype: 'int32' });

interface Problem {
  shape: number[]; // [N, C, ...rest]
  logits: Float64Array;
  target: Int32Array; // [N, ...rest]
}

/** Random logits N(0, 2^2) and targets in [0, C), a fraction of them replaced by `ignoreIndex`. */
function problem(shape: number[], seed: number, ignoreIndex: number, ignoreFraction: number): Problem {
  const g = new Generator(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  const logits = Float64Array.from({ length: size }, () => 2 * g.normal());
  const C = shape[1];
  const target = Int32Array.from({ length: size / C }, () => (g.uniform() < ignoreFraction ? ignoreIndex : Math.floor(g.uniform() * C)));
  return { shape, logits, target };
}

const logitsOf = (p: Problem, requiresGrad = false): Tensor => new Tensor(fromTyped(p.logits.slice(), p.shape), { requiresGrad });
const targetOf = (p: Problem): Tensor => new Tensor(fromTyped(p.target, [p.shape[0], ...p.shape.slice(2)]));

/** log-softmax over dim 1 by logsumexp, in float64: logp[n][c][k]. */
function logSoftmaxRef(p: Problem): (n: number, c: number, k: number) => number {
  const [N, C] = p.shape;
  const D = p.logits.length / (N * C);
  const lse = new Float64Array(N * D);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < D; k++) {
      let m = -Infinity;
      for (let c = 0; c < C; c++) m = Math.max(m, p.logits[(n * C + c) * D + k]);
      let s = 0;
      for (let c = 0; c < C; c++) s += Math.exp(p.logits[(n * C + c) * D + k] - m);
      lse[n * D + k] = m + Math.log(s);
    }
  }
  return (n, c, k) => p.logits[(n * C + c) * D + k] - lse[n * D + k];
}

/**
 * torch.nn.functional.cross_entropy by its definition: per element
 * (1 - s) * (-log p[target]) + s * mean_c(-log p_c), 0 where ignored; the
 * mean divides by the number of elements not ignored.
 */
function crossEntropyRef(p: Problem, o: { reduction: Reduction; ignoreIndex: number; smoothing: number }): number[] {
  const [N, C] = p.shape;
  const D = p.logits.length / (N * C);
  const logp = logSoftmaxRef(p);
  const per: number[] = [];
  let count = 0;
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < D; k++) {
      const t = p.target[n * D + k];
      if (t === o.ignoreIndex) {
        per.push(0);
        continue;
      }
      count++;
      let uniform = 0;
      for (let c = 0; c < C; c++) uniform -= logp(n, c, k) / C;
      per.push((1 - o.smoothing) * -logp(n, t, k) + o.smoothing * uniform);
    }
  }
  const total = per.reduce((a, b) => a + b, 0);
  if (o.reduction === 'none') return per;
  return [o.reduction === 'sum' ? total : total / count];
}

function expectClose(actual: readonly number[], expected: readonly number[], tol = 1e-12): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => {
    if (!(Math.abs(a - expected[i]) <= tol * (1 + Math.abs(expected[i])))) {
      throw new Error(`entry ${i}: got ${a}, expected ${expected[i]} (tolerance ${tol})`);
    }
  });
}

describe('mseLoss', () => {
  const x = f64([[1, 2], [3, 4]]);
  const y = f64([[0, 2], [5, 1]]);
  it('mean, sum and none', () => {
    // Squared errors 1, 0, 4, 9.
    expect(mseLoss(x, y).item()).toBe(3.5);
    expect(mseLoss(x, y, { reduction: 'sum' }).item()).toBe(14);
    const none = mseLoss(x, y, { reduction: 'none' });
    expect(none.shape).toEqual([2, 2]);
    expect(vals(none)).toEqual([1, 0, 4, 9]);
  });
  it('gradient 2 (x - y) / n', () => {
    const xg = f64([[1, 2], [3, 4]], true);
    mseLoss(xg, y).backward();
    expect(vals(xg.grad!)).toEqual([0.5, 0, -1, 1.5]);
  });
  it('errors: shape mismatch, unknown reduction', () => {
    expect(() => mseLoss(x, f64([1, 2]))).toThrow(/same shape/);
    expect(() => mseLoss(x, y, { reduction: 'avg' as Reduction })).toThrow(/reduction/);
  });
});

describe('nllLoss', () => {
  const logp = f64([[-0.5, -1, -2], [-3, -0.1, -0.7]]);
  it('picks -logp[target]; mean, sum, none', () => {
    expect(nllLoss(logp, i32([2, 1])).item()).toBeCloseTo(1.05, 14);
    expect(nllLoss(logp, i32([2, 1]), { reduction: 'sum' }).item()).toBeCloseTo(2.1, 14);
    expect(vals(nllLoss(logp, i32([2, 1]), { reduction: 'none' }))).toEqual([2, 0.1]);
  });
  it('ignoreIndex: ignored targets give 0 and are left out of the mean', () => {
    expect(nllLoss(logp, i32([-100, 0])).item()).toBe(3);
    expect(vals(nllLoss(logp, i32([-100, 0]), { reduction: 'none' }))).toEqual([0, 3]);
    // A custom ignoreIndex may be a class index.
    expect(nllLoss(logp, i32([1, 0]), { ignoreIndex: 1 }).item()).toBe(3);
    // Every target ignored: mean is 0/0 = NaN, as in torch; sum is 0.
    expect(nllLoss(logp, i32([-100, -100])).item()).toBeNaN();
    expect(nllLoss(logp, i32([-100, -100]), { reduction: 'sum' }).item()).toBe(0);
  });
  it('[N, C, d] input with [N, d] target', () => {
    // N = 1, C = 2, d = 3: logp[0][c][k].
    const lp = f64([[[-1, -2, -3], [-4, -5, -6]]]);
    const out = nllLoss(lp, i32([[0, 1, 0]]), { reduction: 'none' });
    expect(out.shape).toEqual([1, 3]);
    expect(vals(out)).toEqual([1, 5, 3]);
  });
  it('an unbatched input [C] with a 0-d target, as torch', () => {
    expect(nllLoss(f64([-1, -2, -3]), i32(1)).item()).toBe(2);
    const none = nllLoss(f64([-1, -2, -3]), i32(2), { reduction: 'none' });
    expect(none.shape).toEqual([]);
    expect(none.item()).toBe(3);
  });
  it('-inf log-probabilities of other classes do not make NaN', () => {
    const lp = f64([[0, Number.NEGATIVE_INFINITY], [Number.NEGATIVE_INFINITY, 0]], true);
    const loss = nllLoss(lp, i32([0, 1]));
    expect(loss.item()).toBe(0);
    loss.backward();
    expect(vals(lp.grad!)).toEqual([-0.5, 0, 0, -0.5]);
  });
  it('target validation', () => {
    expect(() => nllLoss(logp, tensor([0, 1]))).toThrow(/int32/);
    expect(() => nllLoss(logp, i32([0, 3]))).toThrow(/\[0, 2\]/);
    expect(() => nllLoss(logp, i32([0, -1]))).toThrow(RangeError);
    expect(() => nllLoss(logp, i32([0, 1, 2]))).toThrow(/shape/);
    expect(() => nllLoss(logp, i32([[0, 1]]))).toThrow(/shape/);
    expect(() => nllLoss(f64([-1, -2]), i32([0]))).toThrow(/0-d target/);
    expect(() => nllLoss(logp, i32([0, 1]), { reduction: 'avg' as Reduction })).toThrow(/reduction/);
  });
});

describe('crossEntropy', () => {
  const shapeArb = fc.oneof(
    fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 5 })).map(([n, c]) => [n, c]),
    fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 })).map(([n, c, d]) => [n, c, d]),
    fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 2, max: 3 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 3 })).map(
      ([n, c, d1, d2]) => [n, c, d1, d2],
    ),
  );

  it('matches the float64 reference: shapes, reductions, ignoreIndex, labelSmoothing', () => {
    fc.assert(
      fc.property(
        shapeArb,
        fc.nat(10_000),
        fc.constantFrom<Reduction>('mean', 'sum', 'none'),
        fc.constantFrom(0, 0.1, 0.35, 1),
        fc.constantFrom(-100, 0),
        fc.constantFrom(0, 0.3),
        (shape, seed, reduction, smoothing, ignoreIndex, ignoreFraction) => {
          const p = problem(shape, seed, ignoreIndex, ignoreFraction);
          // Keep at least one target for the mean (0/0 is tested on its own).
          if (reduction === 'mean' && p.target.every((t) => t === ignoreIndex)) p.target[0] = ignoreIndex === 0 ? shape[1] - 1 : 0;
          if (p.target[0] === 0 && ignoreIndex === 0 && shape[1] === 1 && reduction === 'mean') return;
          const out = crossEntropy(logitsOf(p), targetOf(p), { reduction, labelSmoothing: smoothing, ignoreIndex });
          const expected = crossEntropyRef(p, { reduction, ignoreIndex, smoothing });
          expect(out.shape).toEqual(reduction === 'none' ? [shape[0], ...shape.slice(2)] : []);
          expectClose(vals(out), expected, 1e-12);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('hand value: log(1 + e^-1 ...) for a 2-class row', () => {
    // logits [2, 1], target 0: -log(e^2 / (e^2 + e^1)) = log(1 + e^-1).
    expect(crossEntropy(f64([[2, 1]]), i32([0])).item()).toBeCloseTo(Math.log1p(Math.exp(-1)), 15);
    // Label smoothing 0.2 on the same row: 0.8 * nll + 0.2 * mean(-logp).
    const lp0 = -Math.log1p(Math.exp(-1));
    const lp1 = lp0 - 1;
    expect(crossEntropy(f64([[2, 1]]), i32([0]), { labelSmoothing: 0.2 }).item()).toBeCloseTo(0.8 * -lp0 + 0.2 * (-(lp0 + lp1) / 2), 15);
  });

  it('mean with ignoreIndex divides by the count of targets not ignored', () => {
    const logits = f64([[1, 2, 3], [1, 1, 1], [0, 5, 0]]);
    const lse = (a: number[]): number => Math.log(a.reduce((s, v) => s + Math.exp(v), 0));
    const l0 = lse([1, 2, 3]) - 1;
    const l2 = lse([0, 5, 0]) - 5;
    expect(crossEntropy(logits, i32([0, -100, 1])).item()).toBeCloseTo((l0 + l2) / 2, 14);
    expect(crossEntropy(logits, i32([0, 2, 1]), { ignoreIndex: 2 }).item()).toBeCloseTo((l0 + l2) / 2, 14);
    // With smoothing too: the ignored row adds nothing to either term.
    const s = 0.3;
    const u0 = (3 * lse([1, 2, 3]) - 6) / 3;
    const u2 = (3 * lse([0, 5, 0]) - 5) / 3;
    expect(crossEntropy(logits, i32([0, -100, 1]), { labelSmoothing: s }).item()).toBeCloseTo(((1 - s) * (l0 + l2) + s * (u0 + u2)) / 2, 14);
    expect(vals(crossEntropy(logits, i32([0, -100, 1]), { labelSmoothing: s, reduction: 'none' }))[1]).toBe(0);
    expect(crossEntropy(logits, i32([-100, -100, -100])).item()).toBeNaN();
  });

  it('float32 logits agree with the float64 reference', () => {
    const p = problem([5, 7], 3, -100, 0);
    const x32 = new Tensor(fromTyped(Float32Array.from(p.logits), [5, 7]));
    const out = crossEntropy(x32, targetOf(p), { labelSmoothing: 0.1 });
    expect(out.dtype).toBe('float32');
    const p32 = { ...p, logits: Float64Array.from(Float32Array.from(p.logits)) };
    expectClose([out.item()], crossEntropyRef(p32, { reduction: 'mean', ignoreIndex: -100, smoothing: 0.1 }), 1e-5);
  });

  it('large logits stay finite', () => {
    const x = tensor([[1000, 0, -1000], [-1000, 1000, 0]]);
    expect(vals(crossEntropy(x, i32([0, 1]), { reduction: 'none' }))).toEqual([0, 0]);
    const far = vals(crossEntropy(x, i32([2, 0]), { reduction: 'none' }));
    expect(far).toEqual([2000, 2000]);
    const smooth = crossEntropy(x, i32([0, 1]), { labelSmoothing: 0.1 });
    expect(Number.isFinite(smooth.item())).toBe(true);
    const xg = tensor([[1000, 0, -1000]], { requiresGrad: true });
    crossEntropy(xg, i32([1])).backward();
    expect(vals(xg.grad!).every(Number.isFinite)).toBe(true);
    expect(vals(xg.grad!)).toEqual([1, -1, 0]);
  });

  it('-inf logits (masked classes) give a finite loss and gradient, as torch', () => {
    const x = f64([[0, Number.NEGATIVE_INFINITY, 0]], true);
    const loss = crossEntropy(x, i32([0]));
    expect(loss.item()).toBeCloseTo(Math.log(2), 15);
    loss.backward();
    expect(vals(x.grad!)).toEqual([-0.5, 0, 0.5]);
  });

  it('an unbatched input [C] with a 0-d target', () => {
    const x = f64([2, 1, 0]);
    const batched = crossEntropy(f64([[2, 1, 0]]), i32([1])).item();
    expect(crossEntropy(x, i32(1)).item()).toBe(batched);
    expect(crossEntropy(x, i32(1), { reduction: 'none' }).shape).toEqual([]);
  });

  it('argument and target validation', () => {
    const x = f64([[1, 2], [3, 4]]);
    expect(() => crossEntropy(x, tensor([0, 1]))).toThrow(TypeError);
    expect(() => crossEntropy(x, i32([0, 2]))).toThrow(/\[0, 1\]/);
    expect(() => crossEntropy(x, i32([0]))).toThrow(/shape/);
    expect(() => crossEntropy(x, i32([0, 1]), { labelSmoothing: 1.5 })).toThrow(/labelSmoothing/);
    expect(() => crossEntropy(x, i32([0, 1]), { labelSmoothing: -0.1 })).toThrow(/labelSmoothing/);
    expect(() => crossEntropy(f64([1, 2]), tensor([0]))).toThrow(TypeError);
    expect(() => crossEntropy(tensor(1), i32(0))).toThrow(RangeError);
  });

  it('gradient wrt the logits passes gradcheck (random shapes and targets)', () => {
    fc.assert(
      fc.property(shapeArb, fc.nat(10_000), fc.constantFrom<Reduction>('mean', 'sum'), fc.constantFrom(0, 0.2), (shape, seed, reduction, smoothing) => {
        const p = problem(shape, seed, -100, 0.2);
        if (p.target.every((t) => t === -100)) p.target[0] = 0;
        const t = targetOf(p);
        expect(gradcheck((x) => crossEntropy(x, t, { reduction, labelSmoothing: smoothing }), [logitsOf(p, true)], { checkForwardAD: true })).toBe(true);
      }),
      { numRuns: 15 },
    );
  });

  it('d crossEntropy / d logits = (softmax - onehot) / N for mean reduction', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.nat(10_000), (N, C, seed) => {
        const p = problem([N, C], seed, -100, 0);
        const x = logitsOf(p, true);
        crossEntropy(x, targetOf(p)).backward();
        const logp = logSoftmaxRef(p);
        const expected: number[] = [];
        for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) expected.push((Math.exp(logp(n, c, 0)) - (p.target[n] === c ? 1 : 0)) / N);
        expectClose(vals(x.grad!), expected, 1e-12);
      }),
      { numRuns: 30 },
    );
  });

  it('ignored rows get zero gradient; the others divide by the count not ignored', () => {
    const p = problem([4, 3], 11, -100, 0);
    p.target[1] = -100;
    const x = logitsOf(p, true);
    crossEntropy(x, targetOf(p)).backward();
    const g = vals(x.grad!);
    expect(g.slice(3, 6)).toEqual([0, 0, 0]);
    const logp = logSoftmaxRef(p);
    expect(g[0]).toBeCloseTo((Math.exp(logp(0, 0, 0)) - (p.target[0] === 0 ? 1 : 0)) / 3, 14);
  });
});

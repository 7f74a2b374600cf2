/**
 * Shared helpers of the property-based gradient tests: shape arbitraries,
 * seeded float64 tensors and thin wrappers around `gradcheck`/`gradgradcheck`
 * with tolerances tight enough to catch a wrong factor or a missing term.
 */
import fc from 'fast-check';
import { Generator, type Shape, fromTyped, sizeOf } from '@normlab/tensor';
import { Tensor, gradcheck, gradgradcheck } from '../src/index.js';

// Show the error a failing property threw, not only its counterexample.
fc.configureGlobal({ ...fc.readConfigureGlobal(), includeErrorInReport: true });

/**
 * Default numbers of fast-check runs: small, the whole suite must stay fast.
 * NORMLAB_FC_SCALE=10 multiplies them for an occasional soak run.
 */
const SCALE = Math.max(1, Number(process.env.NORMLAB_FC_SCALE ?? 1) || 1);
export const RUNS = 15 * SCALE;
export const RUNS_SLOW = 8 * SCALE;

// ---- shapes ------------------------------------------------------------------

/** A shape of rank minRank..maxRank with every dim in minDim..maxDim. */
export function shapeArb(options: { minRank?: number; maxRank?: number; minDim?: number; maxDim?: number } = {}): fc.Arbitrary<number[]> {
  const { minRank = 0, maxRank = 3, minDim = 1, maxDim = 4 } = options;
  return fc.array(fc.integer({ min: minDim, max: maxDim }), { minLength: minRank, maxLength: maxRank });
}

/** NumPy broadcasting of two shapes (the tests only build compatible ones). */
export function broadcastShape(a: Shape, b: Shape): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = i < rank - a.length ? 1 : a[i - (rank - a.length)];
    const db = i < rank - b.length ? 1 : b[i - (rank - b.length)];
    if (da !== db && da !== 1 && db !== 1) throw new RangeError(`broadcastShape: [${a.join(',')}] vs [${b.join(',')}]`);
    out.push(Math.max(da, db));
  }
  return out;
}

/**
 * Two shapes that broadcast together: both derived from a common full shape
 * by dropping some leading dims and setting some dims to 1 (in either operand,
 * so broadcasting happens in both directions).
 */
export function broadcastPairArb(options: { maxRank?: number; maxDim?: number } = {}): fc.Arbitrary<[number[], number[]]> {
  return broadcastShapesArb(2, options).map(([a, b]): [number[], number[]] => [a, b]);
}

/** `count` shapes that broadcast together (each derived from a common full shape, as above). */
export function broadcastShapesArb(count: number, options: { maxRank?: number; maxDim?: number } = {}): fc.Arbitrary<number[][]> {
  const { maxRank = 3, maxDim = 4 } = options;
  return shapeArb({ minRank: 0, maxRank, minDim: 1, maxDim }).chain((full) => {
    const derived = fc.record({
      drop: fc.integer({ min: 0, max: full.length }),
      ones: fc.array(fc.boolean(), { minLength: full.length, maxLength: full.length }),
    }).map(({ drop, ones }) => full.map((d, i) => (ones[i] ? 1 : d)).slice(drop));
    return fc.array(derived, { minLength: count, maxLength: count });
  });
}

/** A shape paired with a sorted list of distinct dims of it (possibly all or none). */
export function shapeWithDimsArb(options: { minRank?: number; maxRank?: number; minDim?: number; maxDim?: number } = {}): fc.Arbitrary<{ shape: number[]; dims: number[] }> {
  return shapeArb(options).chain((shape) =>
    fc.subarray(shape.map((_, i) => i)).map((dims) => ({ shape, dims })));
}

/** A shape of rank >= 1 and one dim of it. */
export function shapeWithDimArb(options: { minRank?: number; maxRank?: number; minDim?: number; maxDim?: number } = {}): fc.Arbitrary<{ shape: number[]; dim: number }> {
  return shapeArb({ minRank: 1, ...options }).chain((shape) =>
    fc.integer({ min: 0, max: shape.length - 1 }).map((dim) => ({ shape, dim })));
}

/** A 32-bit seed for the seeded tensor makers. */
export const seedArb = fc.integer({ min: 0, max: 0x7fffffff });

// ---- seeded float64 tensors --------------------------------------------------

export interface RandOptions {
  /** Uniform samples in [lo, hi) instead of standard normal ones. */
  lo?: number;
  hi?: number;
  /** Resample any value within `margin` of one of these points (kinks, ties, poles). */
  avoid?: readonly number[];
  margin?: number;
  requiresGrad?: boolean;
  /** Multiplies normal samples (ignored for uniform ones). */
  scale?: number;
}

/** Seeded float64 samples as a plain array. */
export function randValues(n: number, seed: number, options: RandOptions = {}): Float64Array {
  const g = new Generator(seed);
  const { lo, hi, avoid = [], margin = 0.02, scale = 1 } = options;
  const uniform = lo !== undefined && hi !== undefined;
  const draw = (): number => (uniform ? lo + (hi - lo) * g.uniform() : scale * g.normal());
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let v = draw();
    for (let tries = 0; avoid.some((p) => Math.abs(v - p) < margin); tries++) {
      if (tries > 1000) throw new Error('randValues: could not avoid the given points');
      v = draw();
    }
    out[i] = v;
  }
  return out;
}

/** A seeded float64 tensor (standard normal, or uniform in [lo, hi)), a leaf. */
export function randT(shape: Shape, seed: number, options: RandOptions = {}): Tensor {
  const data = fromTyped(randValues(sizeOf(shape), seed, options), shape);
  return new Tensor(data, { requiresGrad: options.requiresGrad ?? true });
}

/** Samples in [lo, hi) whose pairwise distances all exceed `gap` (no ties, for max/min). */
export function distinctT(shape: Shape, seed: number, options: { gap?: number; requiresGrad?: boolean } = {}): Tensor {
  const n = sizeOf(shape);
  const gap = options.gap ?? 0.05;
  const g = new Generator(seed);
  // A random permutation of well separated levels, plus a small jitter.
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = g.int(0, i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const v = Float64Array.from(order, (k) => (k - n / 2) * gap * 2 + (g.uniform() - 0.5) * gap * 0.5);
  return new Tensor(fromTyped(v, shape), { requiresGrad: options.requiresGrad ?? true });
}

/** A tensor from a float64 typed array. */
export function fromF64(values: ArrayLike<number>, shape: Shape, requiresGrad = false): Tensor {
  return new Tensor(fromTyped(Float64Array.from(values), shape), { requiresGrad });
}

/** The values of a tensor as a plain number array (row-major). */
export function vals(t: Tensor): number[] {
  return Array.from(t.toTypedArray(), Number);
}

// ---- gradient checks ---------------------------------------------------------

/**
 * Float64 central differences with eps 1e-6 have an error around 1e-9 for the
 * magnitudes used here; atol 1e-6 and rtol 1e-5 leave room for that while any
 * wrong factor or missing term (errors of order 1e-2 and more) fails.
 */
export const GRAD_TOL = { eps: 1e-6, atol: 1e-6, rtol: 1e-5 } as const;
/** Second derivatives differentiate an analytic gradient numerically: slightly looser. */
export const GRADGRAD_TOL = { eps: 1e-6, atol: 1e-5, rtol: 1e-4 } as const;

/**
 * Full-Jacobian gradient check (one backward per output element, each with a
 * one-hot upstream gradient, so every entry of the Jacobian is compared).
 * Throws a descriptive error on mismatch.
 */
export function checkGrad(fn: (...xs: Tensor[]) => Tensor | Tensor[], inputs: readonly Tensor[], tol: { eps?: number; atol?: number; rtol?: number } = {}): void {
  gradcheck(fn, inputs, { ...GRAD_TOL, ...tol, raiseException: true, checkForwardAD: true });
}

/** Second-derivative check with a random upstream gradient (seeded). */
export function checkGradGrad(fn: (...xs: Tensor[]) => Tensor, inputs: readonly Tensor[], seed = 1, tol: { eps?: number; atol?: number; rtol?: number } = {}): void {
  gradgradcheck(fn, inputs, { ...GRADGRAD_TOL, ...tol, seed, raiseException: true, checkForwardAD: true });
}

/**
 * sum(fn(x) * R) for a fixed random R of fn's output shape: a scalar whose
 * gradient, with a random upstream gradient, involves every output element.
 */
export function dotRandom(out: Tensor, seed: number): Tensor {
  const r = randT(out.shape, seed, { requiresGrad: false });
  return out.mul(r).sum();
}

/** Elementwise closeness of two number arrays (throws with the first mismatch). */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol = 1e-10, rtol = 1e-10, what = 'value'): void {
  if (actual.length !== expected.length) throw new Error(`${what}: length ${actual.length} vs expected ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      throw new Error(`${what}: entry ${i} is ${a}, expected ${e} (atol ${atol}, rtol ${rtol})`);
    }
  }
}

/** Row-major strides of a shape. */
export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** The multi-index of flat position `k` in a row-major array of `shape`. */
export function unravel(k: number, shape: Shape): number[] {
  const idx = new Array<number>(shape.length);
  let r = k;
  for (let i = shape.length - 1; i >= 0; i--) {
    idx[i] = r % shape[i];
    r = Math.floor(r / shape[i]);
  }
  return idx;
}

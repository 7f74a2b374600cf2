/**
 * BatchNorm1d / BatchNorm2d as modules: running statistics (closed-form
 * moving and cumulative averages), eval mode, the (training x
 * trackRunningStats) table, affine false, freezeRunningStats, per-call
 * `updateStats: false`, recomputeBatchNormStats, state dicts, errors, and
 * gradients (gradcheck / gradgradcheck through the module, fused vs composed
 * backward). Property-based with fast-check, in float64.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Tensor, grad, gradcheck, gradgradcheck, noGrad } from '@normlab/autograd';
import { Generator, fromTyped, zeros as ndZeros } from '@normlab/tensor';
import {
  BatchNorm1d, BatchNorm2d, type BatchNorm, BatchRenorm1d, GhostBatchNorm1d, InstanceNorm1d, Linear, NoisyBatchNorm1d, ReLU, Sequential, batchNorm,
  recomputeBatchNormStats, withoutStatsUpdates,
} from '../src/index.js';
// Only the plain helpers: checkGrad/checkGradGrad would run a second instance of the autograd
// sources (imported by a relative path), whose Tensor class is not this one.
import { GRADGRAD_TOL, GRAD_TOL, RUNS, RUNS_SLOW, randValues, seedArb, vals } from '../../autograd/test/helpers.js';

const checkGrad = (fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[]): boolean => gradcheck(fn, inputs, { ...GRAD_TOL, raiseException: true, checkForwardAD: true });
const checkGradGrad = (fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], seed: number): boolean =>
  gradgradcheck(fn, inputs, { ...GRADGRAD_TOL, seed, raiseException: true, checkForwardAD: true });

// ---- helpers ---------------------------------------------------------------------

type Kind = '1d' | '1d3' | '2d';
const kindArb = fc.constantFrom<Kind>('1d', '1d3', '2d');

/** A shape of the given kind: [N, C], [N, C, L] or [N, C, H, W]; N >= 2 unless minN says otherwise. */
function shapeArb(kind: Kind, maxDim = 4, minN = 2): fc.Arbitrary<number[]> {
  const d = fc.integer({ min: 1, max: maxDim });
  const n = fc.integer({ min: minN, max: maxDim + 1 });
  const c = fc.integer({ min: 1, max: 4 });
  if (kind === '1d') return fc.tuple(n, c).map((s) => [...s]);
  if (kind === '1d3') return fc.tuple(n, c, d).map((s) => [...s]);
  return fc.tuple(n, c, d, d).map((s) => [...s]);
}
const anyShapeArb = kindArb.chain((k) => shapeArb(k));

const C_ = (shape: readonly number[]): number => shape[1];
const S_ = (shape: readonly number[]): number => shape.slice(2).reduce((a, b) => a * b, 1);
const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
const chanOf = (k: number, shape: readonly number[]): number => Math.floor(k / S_(shape)) % C_(shape);

function t64(v: ArrayLike<number>, shape: readonly number[], requiresGrad = false): Tensor {
  return new Tensor(fromTyped(Float64Array.from(v), shape), { requiresGrad });
}

/** Seeded input with a random offset and scale per channel. */
function input(shape: readonly number[], seed: number, requiresGrad = false): Tensor {
  const z = randValues(size(shape), seed);
  const off = randValues(C_(shape), seed + 1, { lo: -3, hi: 3 });
  const sc = randValues(C_(shape), seed + 2, { lo: 0.5, hi: 2 });
  return t64(z.map((v, k) => off[chanOf(k, shape)] + sc[chanOf(k, shape)] * v), shape, requiresGrad);
}

function makeLayer(shape: readonly number[], seed: number, options: ConstructorParameters<typeof BatchNorm1d>[1] = {}): BatchNorm {
  const C = C_(shape);
  const layer = shape.length === 4 ? new BatchNorm2d(C, { dtype: 'float64', ...options }) : new BatchNorm1d(C, { dtype: 'float64', ...options });
  if (layer.affine) {
    layer.weight!.data = fromTyped(randValues(C, seed + 3, { lo: 0.5, hi: 2 }), [C]);
    layer.bias!.data = fromTyped(randValues(C, seed + 4, { lo: -1, hi: 1 }), [C]);
  }
  return layer;
}

/** Per-channel mean and biased variance (two-pass float64). */
function channelStats(x: Tensor): { mean: number[]; variance: number[]; m: number } {
  const v = vals(x);
  const C = C_(x.shape);
  const groups: number[][] = Array.from({ length: C }, () => []);
  v.forEach((e, k) => groups[chanOf(k, x.shape)].push(e));
  const mean = groups.map((g) => g.reduce((a, b) => a + b, 0) / g.length);
  const variance = groups.map((g, c) => g.reduce((a, b) => a + (b - mean[c]) ** 2, 0) / g.length);
  return { mean, variance, m: groups[0].length };
}

/** y = gamma (x - mean) / sqrt(var + eps) + beta per channel, from given statistics. */
function reference(x: Tensor, mean: readonly number[], variance: readonly number[], eps: number, gamma: readonly number[] | null, beta: readonly number[] | null): number[] {
  return vals(x).map((e, k) => {
    const c = chanOf(k, x.shape);
    return ((e - mean[c]) / Math.sqrt(variance[c] + eps)) * (gamma ? gamma[c] : 1) + (beta ? beta[c] : 0);
  });
}

function expectClose(a: ArrayLike<number>, e: ArrayLike<number>, tol = 1e-10, what = 'value'): void {
  expect(a.length).toBe(e.length);
  for (let i = 0; i < a.length; i++) {
    if (!(Math.abs(a[i] - e[i]) <= tol * (1 + Math.abs(e[i])))) throw new Error(`${what}[${i}]: ${a[i]} vs expected ${e[i]}`);
  }
}

/** Bit patterns of a tensor's values (for "unchanged" checks). */
const bits = (t: Tensor | null): string => (t ? Array.from(t.toTypedArray(), (v) => Object.is(v, -0) ? '-0' : String(v)).join() : 'null');
const buffersBits = (l: BatchNorm): string[] => [bits(l.runningMean), bits(l.runningVar), bits(l.numBatchesTracked)];

const params = (l: BatchNorm): { gamma: number[] | null; beta: number[] | null } => ({ gamma: l.weight ? vals(l.weight) : null, beta: l.bias ? vals(l.bias) : null });

// ---- running statistics ------------------------------------------------------------

describe('BatchNorm running statistics', () => {
  it('after k steps equal the closed-form exponential moving average (unbiased variance), numBatchesTracked = k', () => {
    const arb = fc.record({
      kind: kindArb, seed: seedArb, k: fc.integer({ min: 1, max: 5 }),
      momentum: fc.double({ min: 0, max: 1, noNaN: true }),
      ns: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 5, maxLength: 5 }),
    }).chain((r) => shapeArb(r.kind, 3).map((shape) => ({ ...r, shape })));
    fc.assert(fc.property(arb, ({ shape, seed, k, momentum, ns }) => {
      const layer = makeLayer(shape, seed, { momentum });
      const C = C_(shape);
      // A random initial state, loaded as a checkpoint would be.
      const init = { mean: randValues(C, seed + 5), var: randValues(C, seed + 6, { lo: 0.1, hi: 3 }) };
      layer.loadStateDict({ ...Object.fromEntries(layer.stateDict()), runningMean: t64(init.mean, [C]), runningVar: t64(init.var, [C]) });
      const expMean = Array.from(init.mean, (v) => (1 - momentum) ** k * v);
      const expVar = Array.from(init.var, (v) => (1 - momentum) ** k * v);
      for (let i = 1; i <= k; i++) {
        // Batches of different sizes: N varies, with at least 2 values per channel.
        const bshape = [Math.max(ns[i - 1], S_(shape) === 1 ? 2 : 1), ...shape.slice(1)];
        const x = input(bshape, seed + 10 * i);
        layer.forward(x);
        const st = channelStats(x);
        const w = momentum * (1 - momentum) ** (k - i);
        for (let c = 0; c < C; c++) {
          expMean[c] += w * st.mean[c];
          expVar[c] += w * ((st.m / (st.m - 1)) * st.variance[c]);
        }
      }
      expectClose(vals(layer.runningMean!), expMean, 1e-12, 'runningMean');
      expectClose(vals(layer.runningVar!), expVar, 1e-12, 'runningVar');
      expect(layer.numBatchesTracked!.item()).toBe(k);
      expect(layer.numBatchesTracked!.dtype).toBe('int32');
      expect(layer.runningMean!.dtype).toBe('float64');
    }), { numRuns: RUNS });
  });

  it('momentum null: the cumulative average of the batch statistics', () => {
    const arb = fc.record({ kind: kindArb, seed: seedArb, k: fc.integer({ min: 1, max: 6 }) })
      .chain((r) => shapeArb(r.kind, 3).map((shape) => ({ ...r, shape })));
    fc.assert(fc.property(arb, ({ shape, seed, k }) => {
      const layer = makeLayer(shape, seed, { momentum: null });
      const C = C_(shape);
      const sm = new Array<number>(C).fill(0);
      const sv = new Array<number>(C).fill(0);
      for (let i = 1; i <= k; i++) {
        const x = input(shape, seed + 10 * i);
        layer.forward(x);
        const st = channelStats(x);
        for (let c = 0; c < C; c++) {
          sm[c] += st.mean[c] / k;
          sv[c] += (st.m / (st.m - 1)) * st.variance[c] / k;
        }
      }
      expectClose(vals(layer.runningMean!), sm, 1e-12, 'runningMean');
      expectClose(vals(layer.runningVar!), sv, 1e-12, 'runningVar');
      expect(layer.numBatchesTracked!.item()).toBe(k);
      expect(layer.momentum).toBeNull();
    }), { numRuns: RUNS });
  });

  it('defaults: running mean 0, variance 1, count 0; resetRunningStats restores them', () => {
    const l = new BatchNorm2d(3);
    expect(vals(l.runningMean!)).toEqual([0, 0, 0]);
    expect(vals(l.runningVar!)).toEqual([1, 1, 1]);
    expect(l.numBatchesTracked!.item()).toBe(0);
    expect(l.runningMean!.dtype).toBe('float32');
    l.forward(input([2, 3, 2, 2], 1).float());
    expect(l.numBatchesTracked!.item()).toBe(1);
    l.resetRunningStats();
    expect(vals(l.runningMean!)).toEqual([0, 0, 0]);
    expect(vals(l.runningVar!)).toEqual([1, 1, 1]);
    expect(l.numBatchesTracked!.item()).toBe(0);
    expect(l.momentum).toBe(0.1);
    expect(l.eps).toBe(1e-5);
  });
});

// ---- eval mode and the mode table ---------------------------------------------------

describe('BatchNorm eval mode and the (training x trackRunningStats) table', () => {
  /** A layer with random running statistics. */
  function withRunning(shape: readonly number[], seed: number, options = {}): BatchNorm {
    const layer = makeLayer(shape, seed, options);
    if (layer.trackRunningStats) {
      const C = C_(shape);
      layer.runningMean = t64(randValues(C, seed + 5), [C]);
      layer.runningVar = t64(randValues(C, seed + 6, { lo: 0.1, hi: 3 }), [C]);
    }
    return layer;
  }

  it('eval uses the running statistics, and one sample does not depend on the others', () => {
    const arb = kindArb.chain((k) => shapeArb(k)).chain((shape) => fc.record({ shape: fc.constant(shape), seed: seedArb, i: fc.integer({ min: 0, max: shape[0] - 1 }) }));
    fc.assert(fc.property(arb, ({ shape, seed, i }) => {
      const layer = withRunning(shape, seed).eval();
      const x = input(shape, seed);
      const before = buffersBits(layer);
      const y = layer.forward(x);
      const { gamma, beta } = params(layer);
      expectClose(vals(y), reference(x, vals(layer.runningMean!), vals(layer.runningVar!), layer.eps, gamma, beta), 1e-12, 'eval output');
      // Sample i alone gives the same row.
      const row = layer.forward(x.narrow(0, i, 1));
      const per = size(shape) / shape[0];
      expect(vals(row)).toEqual(vals(y).slice(i * per, (i + 1) * per));
      // Changing the other samples changes nothing in row i.
      const other = input(shape, seed + 99);
      const mixed = vals(other).map((v, k) => (Math.floor(k / per) === i ? vals(x)[k] : v));
      expect(vals(layer.forward(t64(mixed, shape))).slice(i * per, (i + 1) * per)).toEqual(vals(row));
      expect(buffersBits(layer)).toEqual(before);
    }), { numRuns: RUNS });
  });

  it('the four cells of the table', () => {
    const arb = fc.record({ shape: anyShapeArb, seed: seedArb, training: fc.boolean(), track: fc.boolean() });
    fc.assert(fc.property(arb, ({ shape, seed, training, track }) => {
      const layer = withRunning(shape, seed, { trackRunningStats: track }).train(training);
      expect(layer.training).toBe(training);
      const x = input(shape, seed);
      const before = buffersBits(layer);
      const y = vals(layer.forward(x));
      const { gamma, beta } = params(layer);
      const st = channelStats(x);
      if (!track) {
        // Batch statistics in both modes; no buffers at all.
        expect(layer.runningMean).toBeNull();
        expect(layer.runningVar).toBeNull();
        expect(layer.numBatchesTracked).toBeNull();
        expect(layer.buffers()).toEqual([]);
        expect([...layer.stateDict().keys()]).toEqual(['weight', 'bias']);
        expectClose(y, reference(x, st.mean, st.variance, layer.eps, gamma, beta), 1e-10, 'batch-stats output');
      } else if (training) {
        expectClose(y, reference(x, st.mean, st.variance, layer.eps, gamma, beta), 1e-10, 'training output');
        expect(layer.numBatchesTracked!.item()).toBe(1);
        expect(buffersBits(layer)[0]).not.toEqual(before[0]);
      } else {
        const rm = before[0].split(',').map(Number);
        const rv = before[1].split(',').map(Number);
        expectClose(y, reference(x, rm, rv, layer.eps, gamma, beta), 1e-12, 'eval output');
        expect(buffersBits(layer)).toEqual(before);
      }
    }), { numRuns: RUNS });
  });

  it('eval with trackRunningStats false still needs more than one value per channel (batch statistics)', () => {
    const l = new BatchNorm1d(3, { trackRunningStats: false }).eval();
    expect(() => l.forward(t64([1, 2, 3], [1, 3]))).toThrow('Expected more than 1 value per channel when training, got input size [1,3]');
  });

  it('affine false: no parameters, the output is xhat', () => {
    fc.assert(fc.property(anyShapeArb, seedArb, (shape, seed) => {
      const layer = makeLayer(shape, seed, { affine: false });
      expect(layer.weight).toBeNull();
      expect(layer.bias).toBeNull();
      expect(layer.parameters()).toEqual([]);
      expect([...layer.stateDict().keys()]).toEqual(['runningMean', 'runningVar', 'numBatchesTracked']);
      const x = input(shape, seed, true);
      const y = layer.forward(x);
      const st = channelStats(x);
      expectClose(vals(y), reference(x, st.mean, st.variance, layer.eps, null, null), 1e-10, 'xhat');
      y.mul(input(shape, seed + 1)).sum().backward();
      expect(x.grad!.shape).toEqual(shape);
      layer.eval();
      expectClose(vals(layer.forward(x)), reference(x, vals(layer.runningMean!), vals(layer.runningVar!), layer.eps, null, null), 1e-12, 'eval xhat');
    }), { numRuns: RUNS });
  });

  it('freezeRunningStats survives train()/eval(); training mode then uses the running statistics with no update', () => {
    fc.assert(fc.property(anyShapeArb, seedArb, (shape, seed) => {
      const model = new Sequential(withRunning(shape, seed));
      const layer = model.modules()[1] as BatchNorm;
      expect(layer.freezeRunningStats()).toBe(layer);
      model.eval();
      model.train();
      expect(layer.runningStatsFrozen).toBe(true);
      expect(layer.training).toBe(true);
      const before = buffersBits(layer);
      const x = input(shape, seed, true);
      const y = layer.forward(x);
      const { gamma, beta } = params(layer);
      expectClose(vals(y), reference(x, vals(layer.runningMean!), vals(layer.runningVar!), layer.eps, gamma, beta), 1e-12, 'frozen training output');
      expect(buffersBits(layer)).toEqual(before);
      // The affine parameters still train.
      y.sum().backward();
      expect(layer.weight!.grad).not.toBeNull();
      expect(vals(layer.bias!.grad!)).toEqual(new Array(C_(shape)).fill(size(shape) / C_(shape)));
      model.eval();
      expect(vals(layer.forward(x))).toEqual(vals(y));
      layer.unfreezeRunningStats();
      model.train();
      expect(layer.runningStatsFrozen).toBe(false);
      layer.forward(x);
      expect(layer.numBatchesTracked!.item()).toBe(1);
    }), { numRuns: RUNS });
  });

  it('freezing a layer that tracks no statistics throws', () => {
    expect(() => new BatchNorm1d(2, { trackRunningStats: false }).freezeRunningStats()).toThrow(/trackRunningStats is false/);
  });

  it('updateStats false: batch statistics, buffers bit-identical', () => {
    fc.assert(fc.property(anyShapeArb, seedArb, fc.integer({ min: 0, max: 3 }), (shape, seed, warm) => {
      const a = withRunning(shape, seed);
      const b = withRunning(shape, seed);
      for (let i = 0; i < warm; i++) {
        a.forward(input(shape, seed + i + 50));
        b.forward(input(shape, seed + i + 50));
      }
      const before = buffersBits(a);
      const refs = [a.runningMean, a.runningVar, a.numBatchesTracked];
      const x = input(shape, seed);
      const y = a.forward(x, { updateStats: false });
      expect(buffersBits(a)).toEqual(before);
      expect([a.runningMean, a.runningVar, a.numBatchesTracked]).toEqual(refs);
      // The same output as a normal training step (which does update).
      expect(vals(y)).toEqual(vals(b.forward(x)));
      expect(buffersBits(b)).not.toEqual(before);
    }), { numRuns: RUNS });
  });

  it('recomputeBatchNormStats: cumulative average over the batches; modes and momenta restored', () => {
    fc.assert(fc.property(seedArb, fc.integer({ min: 1, max: 4 }), fc.boolean(), (seed, k, firstTraining) => {
      const bn1 = new BatchNorm1d(3, { dtype: 'float64', momentum: 0.3 });
      const lin = new Linear(3, 2, { dtype: 'float64' });
      const bn2 = new BatchNorm1d(2, { dtype: 'float64', momentum: null });
      const model = new Sequential(bn1, lin, new ReLU(), bn2);
      model.forward(input([4, 3], seed + 77)); // some prior state
      model.eval();
      bn1.training = firstTraining;
      const modes = model.modules().map((m) => m.training);
      const batches = Array.from({ length: k }, (_, i) => input([5, 3], seed + 10 * i));
      recomputeBatchNormStats(model, batches);
      // Expected: bn1 sees the batches; bn2 sees relu(lin(bn1(batch))) in training mode.
      const ref1 = { m: [0, 0, 0], v: [0, 0, 0] };
      const ref2 = { m: [0, 0], v: [0, 0] };
      const chk1 = new BatchNorm1d(3, { dtype: 'float64' });
      for (const b of batches) {
        const s1 = channelStats(b);
        s1.mean.forEach((v, c) => (ref1.m[c] += v / k));
        s1.variance.forEach((v, c) => (ref1.v[c] += ((s1.m / (s1.m - 1)) * v) / k));
        const h = noGrad(() => lin.forward(chk1.forward(b)).relu());
        const s2 = channelStats(h);
        s2.mean.forEach((v, c) => (ref2.m[c] += v / k));
        s2.variance.forEach((v, c) => (ref2.v[c] += ((s2.m / (s2.m - 1)) * v) / k));
      }
      expectClose(vals(bn1.runningMean!), ref1.m, 1e-12, 'bn1 mean');
      expectClose(vals(bn1.runningVar!), ref1.v, 1e-12, 'bn1 var');
      expectClose(vals(bn2.runningMean!), ref2.m, 1e-10, 'bn2 mean');
      expectClose(vals(bn2.runningVar!), ref2.v, 1e-10, 'bn2 var');
      expect(bn1.numBatchesTracked!.item()).toBe(k);
      expect(bn2.numBatchesTracked!.item()).toBe(k);
      expect(model.modules().map((m) => m.training)).toEqual(modes);
      expect(bn1.momentum).toBe(0.3);
      expect(bn2.momentum).toBeNull();
    }), { numRuns: RUNS_SLOW });
  });

  it('recomputeBatchNormStats restores modes and momenta when a forward throws', () => {
    const bn = new BatchNorm1d(3, { dtype: 'float64', momentum: 0.2 });
    const model = new Sequential(bn).eval();
    expect(() => recomputeBatchNormStats(model, [t64([1, 2, 3], [1, 3])])).toThrow(/more than 1 value/);
    expect(bn.training).toBe(false);
    expect(bn.momentum).toBe(0.2);
  });

  it('stateDict holds the buffers; save -> loadStateDict into a fresh model reproduces eval outputs', () => {
    fc.assert(fc.property(anyShapeArb, seedArb, (shape, seed) => {
      const a = makeLayer(shape, seed);
      for (let i = 0; i < 3; i++) a.forward(input(shape, seed + i));
      const sd = a.stateDict();
      expect([...sd.keys()]).toEqual(['weight', 'bias', 'runningMean', 'runningVar', 'numBatchesTracked']);
      expect(sd.get('numBatchesTracked')!.item()).toBe(3);
      const b = shape.length === 4 ? new BatchNorm2d(C_(shape), { dtype: 'float64' }) : new BatchNorm1d(C_(shape), { dtype: 'float64' });
      b.loadStateDict(sd);
      a.eval();
      b.eval();
      const x = input(shape, seed + 40);
      expect(vals(b.forward(x))).toEqual(vals(a.forward(x)));
      expect(b.numBatchesTracked!.item()).toBe(3);
      expect(b.numBatchesTracked!.dtype).toBe('int32');
      // The loaded state is a copy: training b further leaves a unchanged.
      const before = buffersBits(a);
      b.train().forward(x);
      expect(buffersBits(a)).toEqual(before);
    }), { numRuns: RUNS });
  });
});

// ---- errors -------------------------------------------------------------------------

describe('BatchNorm errors', () => {
  it('an input that throws leaves the layer unchanged (numBatchesTracked not counted)', () => {
    const l = new BatchNorm1d(3);
    const before = buffersBits(l);
    expect(() => l.forward(new Tensor(ndZeros([1, 3])))).toThrow(/more than 1 value/);
    expect(buffersBits(l)).toEqual(before);
    expect(l.numBatchesTracked!.item()).toBe(0);
  });

  it('one value per channel in training throws with the input size', () => {
    expect(() => new BatchNorm1d(3).forward(new Tensor(ndZeros([1, 3])))).toThrow('Expected more than 1 value per channel when training, got input size [1,3]');
    expect(() => new BatchNorm2d(2).forward(new Tensor(ndZeros([1, 2, 1, 1])))).toThrow('Expected more than 1 value per channel when training, got input size [1,2,1,1]');
    // Eval mode with running statistics accepts a single sample.
    expect(new BatchNorm1d(3).eval().forward(new Tensor(ndZeros([1, 3]))).shape).toEqual([1, 3]);
    // [1, C, L] with L > 1 has L values per channel.
    expect(new BatchNorm1d(3).forward(new Tensor(ndZeros([1, 3, 2]))).shape).toEqual([1, 3, 2]);
  });

  it('wrong rank and wrong channel count name the shape', () => {
    expect(() => new BatchNorm1d(3).forward(new Tensor(ndZeros([2, 3, 4, 4])))).toThrow('BatchNorm1d: expected 2D or 3D input (got 4D input of shape [2,3,4,4])');
    expect(() => new BatchNorm1d(3).forward(new Tensor(ndZeros([3])))).toThrow(/\[3\]/);
    expect(() => new BatchNorm2d(3).forward(new Tensor(ndZeros([2, 3])))).toThrow('BatchNorm2d: expected 4D input (got 2D input of shape [2,3])');
    expect(() => new BatchNorm2d(3).forward(new Tensor(ndZeros([2, 4, 2, 2])))).toThrow('BatchNorm2d: expected 3 channels in dim 1, got input of shape [2,4,2,2]');
    expect(() => new BatchNorm1d(3).forward(new Tensor(ndZeros([2, 5])))).toThrow(/\[2,5\]/);
  });

  it('bad constructor arguments', () => {
    for (const eps of [0, -1e-5, Number.NaN]) expect(() => new BatchNorm1d(2, { eps })).toThrow(/eps must be positive/);
    for (const momentum of [-0.1, 1.5, Number.NaN]) expect(() => new BatchNorm2d(2, { momentum })).toThrow(/momentum must be in \[0, 1\]/);
    for (const n of [0, -1, 2.5]) expect(() => new BatchNorm1d(n)).toThrow(/numFeatures/);
    expect(new BatchNorm1d(2, { momentum: null }).momentum).toBeNull();
  });

  it('functional errors', () => {
    const x = new Tensor(ndZeros([2, 3]));
    expect(() => batchNorm(x, null, null)).toThrow(/running statistics are required/);
    expect(() => batchNorm(x, new Tensor(ndZeros([2])), new Tensor(ndZeros([2])), null, null, { training: true })).toThrow(/runningMean of shape \[3\]/);
    expect(() => batchNorm(x, new Tensor(ndZeros([3])), null, null, null, { training: true })).toThrow(/given together/);
    expect(() => batchNorm(new Tensor(ndZeros([3])), null, null, null, null, { training: true })).toThrow(/at least 2 dims/);
  });

  it('toString', () => {
    expect(new BatchNorm2d(4).toString()).toBe('BatchNorm2d(4, eps=0.00001, momentum=0.1, affine=true, trackRunningStats=true)');
  });
});

// ---- gradients ---------------------------------------------------------------------------

describe('BatchNorm gradients', () => {
  /** x, weight and bias as float64 leaves; fn runs the module (its parameters are the given leaves). */
  function setup(shape: readonly number[], seed: number, training: boolean) {
    const layer = makeLayer(shape, seed);
    if (!training) {
      const C = C_(shape);
      layer.runningMean = t64(randValues(C, seed + 5), [C]);
      layer.runningVar = t64(randValues(C, seed + 6, { lo: 0.1, hi: 3 }), [C]);
      layer.eval();
    }
    const x = input(shape, seed, true);
    const fn = (xx: Tensor): Tensor => layer.forward(xx);
    return { layer, x, fn };
  }

  const smallShapeArb = kindArb.chain((k) => shapeArb(k, 2, 2));

  it('gradcheck through the module (input, weight, bias), training and eval mode', () => {
    fc.assert(fc.property(smallShapeArb, seedArb, fc.boolean(), (shape, seed, training) => {
      const { layer, x, fn } = setup(shape, seed, training);
      checkGrad((xx) => fn(xx), [x, layer.weight!, layer.bias!]);
    }), { numRuns: RUNS_SLOW });
  });

  it('gradgradcheck through the createGraph fallback', () => {
    fc.assert(fc.property(smallShapeArb, seedArb, fc.boolean(), (shape, seed, training) => {
      const { layer, x, fn } = setup(shape, seed, training);
      checkGradGrad((xx) => fn(xx), [x, layer.weight!, layer.bias!], seed);
    }), { numRuns: RUNS_SLOW });
  });

  it('the fused backward equals the composed (createGraph) backward to 1e-12', () => {
    fc.assert(fc.property(anyShapeArb, seedArb, fc.boolean(), (shape, seed, affine) => {
      const layer = makeLayer(shape, seed, { affine });
      const x = input(shape, seed, true);
      const g = input(shape, seed + 20);
      const leaves = affine ? [x, layer.weight!, layer.bias!] : [x];
      layer.forward(x).backward(g);
      const fused = leaves.map((t) => vals(t.grad!));
      const composed = grad([layer.forward(x)], leaves, { gradOutputs: [g], createGraph: true });
      // dx (and dweight) depend on x under createGraph; dbias = sum(g) does not.
      expect(composed[0]!.requiresGrad).toBe(true);
      composed.forEach((c, i) => {
        expectClose(vals(c!), fused[i], 1e-12, `grad ${i}`);
      });
    }), { numRuns: RUNS });
  });

  it('float32: the fused backward keeps the dtype', () => {
    const layer = new BatchNorm2d(2);
    const x = input([2, 2, 3, 3], 5, false).float();
    x.requiresGrad = true;
    layer.forward(x).sum().backward();
    expect(x.grad!.dtype).toBe('float32');
    expect(layer.weight!.grad!.dtype).toBe('float32');
    expect(layer.bias!.grad!.dtype).toBe('float32');
  });
});

describe('withoutStatsUpdates', () => {
  it('every BN layer of the model: training-mode outputs and gradients, buffers bit-identical; updates resume afterwards', () => {
    fc.assert(fc.property(seedArb, fc.integer({ min: 0, max: 2 }), (seed, warm) => {
      const build = (): Sequential => {
        const lin = new Linear(3, 4, { dtype: 'float64' });
        lin.weight.data = fromTyped(randValues(12, seed + 5), [4, 3]);
        return new Sequential(new BatchNorm1d(3, { dtype: 'float64', momentum: 0.3 }), lin, new BatchNorm1d(4, { dtype: 'float64', momentum: null }), new ReLU());
      };
      const a = build();
      const b = build();
      for (let i = 0; i < warm; i++) {
        a.forward(input([5, 3], seed + 10 + i));
        b.forward(input([5, 3], seed + 10 + i));
      }
      const bns = (m: Sequential): BatchNorm[] => [m.at(0) as BatchNorm, m.at(2) as BatchNorm];
      const before = bns(a).map(buffersBits);
      const refs = bns(a).map((l) => [l.runningMean, l.runningVar, l.numBatchesTracked]);
      const x = input([5, 3], seed, true);
      const xb = input([5, 3], seed, true);
      const ya = withoutStatsUpdates(a, () => {
        expect(bns(a).every((l) => l.statsUpdatesSuspended && l.training)).toBe(true);
        const y = a.forward(x) as Tensor;
        a.forward(input([5, 3], seed + 99)); // a second forward changes nothing either
        return y;
      });
      expect(bns(a).map(buffersBits)).toEqual(before);
      expect(bns(a).map((l) => [l.runningMean, l.runningVar, l.numBatchesTracked])).toEqual(refs);
      expect(bns(a).some((l) => l.statsUpdatesSuspended)).toBe(false);
      // The same function as an ordinary training forward (which does update).
      const yb = b.forward(xb) as Tensor;
      // (Equal up to rounding: the updating kernel computes the statistics on another path.)
      expectClose(vals(ya), vals(yb), 1e-12, 'output');
      const [ga] = grad(ya.sum(), [x]);
      const [gb] = grad(yb.sum(), [xb]);
      expectClose(vals(ga!), vals(gb!), 1e-12, 'input gradient');
      expect(bns(b).map(buffersBits)).not.toEqual(before);
      // Afterwards the updates resume.
      a.forward(input([5, 3], seed + 1));
      expect(bns(a).map(buffersBits)).not.toEqual(before);
    }), { numRuns: RUNS });
  });

  it('nests, resumes after a throw, leaves modes and frozen layers alone, and covers InstanceNorm with running stats', () => {
    const bn = new BatchNorm1d(2, { dtype: 'float64' });
    const inorm = new InstanceNorm1d(2, { dtype: 'float64', trackRunningStats: true });
    const model = new Sequential(bn, inorm);
    const x = input([4, 2, 3], 1);
    const snap = (): unknown => [buffersBits(bn), buffersBits(inorm as unknown as BatchNorm)];
    const before = snap();
    expect(() => withoutStatsUpdates(model, () => {
      withoutStatsUpdates(bn, () => model.forward(x));
      expect(bn.statsUpdatesSuspended).toBe(true); // still inside the outer scope
      model.forward(x);
      throw new Error('boom');
    })).toThrow('boom');
    expect(snap()).toEqual(before);
    expect(bn.statsUpdatesSuspended || inorm.statsUpdatesSuspended).toBe(false);
    expect(bn.training && inorm.training).toBe(true);
    model.eval();
    expect(withoutStatsUpdates(model, () => bn.training)).toBe(false);
    model.train();
    model.forward(x);
    expect(snap()).not.toEqual(before);
  });

  it('an async function: suspended until its promise settles', async () => {
    const bn = new BatchNorm1d(2, { dtype: 'float64' });
    const x = input([4, 2], 2);
    const before = buffersBits(bn);
    const p = withoutStatsUpdates(bn, async () => {
      await Promise.resolve();
      bn.forward(x);
      return 7;
    });
    expect(bn.statsUpdatesSuspended).toBe(true);
    expect(await p).toBe(7);
    expect(bn.statsUpdatesSuspended).toBe(false);
    expect(buffersBits(bn)).toEqual(before);
  });
});

describe('a forward that throws leaves the layer as it was', () => {
  it('a float64 input to a float32 BatchNorm, BatchRenorm, GhostBatchNorm or NoisyBatchNorm (affine or not): an error naming both dtypes, buffers and counter untouched', () => {
    const layers = [
      new BatchNorm1d(3), new BatchNorm1d(3, { affine: false }), new BatchRenorm1d(3), new GhostBatchNorm1d(3, { virtualBatchSize: 2 }),
      new NoisyBatchNorm1d(3, { generator: new Generator(1) }),
    ];
    for (const layer of layers) {
      const before = [...layer.stateDict()].map(([k, v]) => [k, v.dtype, Array.from(v.data.toTypedArray(), Number)]);
      expect(() => layer.forward(t64([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [4, 3])), layer.constructor.name)
        .toThrow(/: expected (weight|runningMean) of the input's dtype float64, got float32/);
      expect([...layer.stateDict()].map(([k, v]) => [k, v.dtype, Array.from(v.data.toTypedArray(), Number)]), layer.constructor.name).toEqual(before);
    }
    // A batch of one value per channel fails first, as in PyTorch, and also leaves everything as it was.
    const bn = new BatchNorm1d(3);
    expect(() => bn.forward(t64([1, 2, 3], [1, 3]))).toThrow('Expected more than 1 value per channel when training, got input size [1,3]');
    expect(bn.numBatchesTracked!.item()).toBe(0);
  });
});

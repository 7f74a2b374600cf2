import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sizeOf } from '@normlab/tensor';
import {
  Tensor, amax, tensor, amin, grad, logSoftmax, logsumexp, max, mean, min, softmax, std, sum, variance,
} from '../src/index.js';
import {
  RUNS, RUNS_SLOW, checkGrad, checkGradGrad, distinctT, dotRandom, expectClose, fromF64, randT, seedArb, shapeArb,
  shapeWithDimArb, shapeWithDimsArb, stridesOf, unravel, vals,
} from './helpers.js';

/** `dims` as the op receives them: undefined for "all", sometimes negative indices. */
const dimsArg = (dims: number[], rank: number, negate: boolean): number[] | undefined =>
  dims.length === 0 ? undefined : dims.map((d) => (negate ? d - rank : d));

/** The reduced dims of `dims` as given (undefined = all). */
const reducedDims = (dims: number[] | undefined, rank: number): number[] =>
  dims === undefined ? Array.from({ length: rank }, (_, i) => i) : dims.map((d) => (d < 0 ? d + rank : d));

const keptShape = (shape: number[], dims: number[], keepdim: boolean): number[] =>
  keepdim ? shape.map((s, i) => (dims.includes(i) ? 1 : s)) : shape.filter((_, i) => !dims.includes(i));

/** For each element of x: the flat index of its reduction group in the keepdim output. */
function groupOf(shape: number[], dims: number[]): number[] {
  const outShape = keptShape(shape, dims, true);
  const os = stridesOf(outShape);
  return Array.from({ length: sizeOf(shape) }, (_, k) => unravel(k, shape).reduce((acc, v, i) => acc + (dims.includes(i) ? 0 : v * os[i]), 0));
}

const reduceArgs = fc.record({ sd: shapeWithDimsArb(), keepdim: fc.boolean(), negate: fc.boolean(), seed: seedArb });

describe('sum and mean over random dims', () => {
  for (const [name, op] of [['sum', sum], ['mean', mean]] as const) {
    it(`${name}: gradient, with keepdim true/false`, () => {
      fc.assert(fc.property(reduceArgs, ({ sd: { shape, dims }, keepdim, negate, seed }) => {
        const x = randT(shape, seed);
        const d = dimsArg(dims, shape.length, negate);
        const out = op(x, d, { keepdim });
        expect(out.shape).toEqual(keptShape(shape, reducedDims(d, shape.length), keepdim));
        checkGrad((t) => op(t, d, { keepdim }), [x]);
      }), { numRuns: RUNS });
    });
  }

  it('the gradient of sum is the upstream gradient broadcast; of mean, divided by the count', () => {
    fc.assert(fc.property(reduceArgs, ({ sd: { shape, dims }, keepdim, seed }) => {
      const x = randT(shape, seed);
      const d = dims.length === 0 ? undefined : dims;
      const red = reducedDims(d, shape.length);
      const n = sizeOf(red.map((i) => shape[i]));
      const up = randT(keptShape(shape, red, keepdim), seed + 1, { requiresGrad: false });
      const group = groupOf(shape, red);
      const u = vals(up);
      const [gs] = grad([sum(x, d, { keepdim })], [x], { gradOutputs: [up] });
      expectClose(vals(gs!), group.map((k) => u[k]), 0, 0);
      const [gm] = grad([mean(x, d, { keepdim })], [x], { gradOutputs: [up] });
      expectClose(vals(gm!), group.map((k) => u[k] / n), 1e-15, 1e-14);
    }), { numRuns: RUNS });
  });

  it('mean: second derivative', () => {
    fc.assert(fc.property(reduceArgs, ({ sd: { shape, dims }, keepdim, seed }) => {
      const d = dims.length === 0 ? undefined : dims;
      // mean is linear: compose with a square so that the second derivative is not trivially zero.
      checkGradGrad((t) => mean(t.square(), d, { keepdim }), [randT(shape, seed)], seed);
    }), { numRuns: RUNS_SLOW });
  });
});

describe('var and std', () => {
  const varArgs = fc.record({ sd: shapeWithDimsArb(), keepdim: fc.boolean(), correction: fc.constantFrom(0, 1), seed: seedArb });

  for (const [name, op] of [['var', variance], ['std', std]] as const) {
    it(`${name}: gradient over random dims, correction 0 and 1`, () => {
      fc.assert(fc.property(varArgs, ({ sd: { shape, dims }, keepdim, correction, seed }) => {
        const d = dims.length === 0 ? undefined : dims;
        const n = sizeOf(reducedDims(d, shape.length).map((i) => shape[i]));
        fc.pre(n > correction && (name === 'var' || n > 1));
        checkGrad((t) => op(t, d, { keepdim, correction }), [randT(shape, seed)]);
      }), { numRuns: RUNS });
    });
  }

  it('var: value and gradient 2 (x - mean) / (n - correction)', () => {
    fc.assert(fc.property(varArgs, ({ sd: { shape, dims }, keepdim, correction, seed }) => {
      const d = dims.length === 0 ? undefined : dims;
      const red = reducedDims(d, shape.length);
      const n = sizeOf(red.map((i) => shape[i]));
      fc.pre(n > correction);
      const x = randT(shape, seed);
      const xs = vals(x);
      const group = groupOf(shape, red);
      const groups = sizeOf(keptShape(shape, red, true));
      const means = new Array<number>(groups).fill(0);
      xs.forEach((v, k) => (means[group[k]] += v / n));
      const vars = new Array<number>(groups).fill(0);
      xs.forEach((v, k) => (vars[group[k]] += (v - means[group[k]]) ** 2 / (n - correction)));
      const out = variance(x, d, { keepdim, correction });
      expectClose(vals(out), vars, 1e-12, 1e-10, 'var');
      const up = randT(out.shape, seed + 1, { requiresGrad: false });
      const u = vals(up);
      const [g] = grad([out], [x], { gradOutputs: [up] });
      expectClose(vals(g!), xs.map((v, k) => (2 * (v - means[group[k]]) / (n - correction)) * u[group[k]]), 1e-12, 1e-10, 'dvar/dx');
      // std = sqrt(var): its gradient is the var gradient over 2 std.
      const [gstd] = grad([std(x, d, { keepdim, correction })], [x], { gradOutputs: [up] });
      if (n > 1) {
        expectClose(vals(gstd!), xs.map((v, k) => ((v - means[group[k]]) / (n - correction) / Math.sqrt(vars[group[k]])) * u[group[k]]), 1e-10, 1e-8, 'dstd/dx');
      }
    }), { numRuns: RUNS });
  });

  it('var: second derivative', () => {
    fc.assert(fc.property(varArgs, ({ sd: { shape, dims }, keepdim, correction, seed }) => {
      const d = dims.length === 0 ? undefined : dims;
      const n = sizeOf(reducedDims(d, shape.length).map((i) => shape[i]));
      fc.pre(n > correction);
      checkGradGrad((t) => variance(t, d, { keepdim, correction }), [randT(shape, seed)], seed);
    }), { numRuns: RUNS_SLOW });
  });

  it('the Hessian of var over all n elements is 2 (I - 1/n) / (n - correction)', () => {
    const x = randT([4], 3);
    const [g] = grad(variance(x), [x], { createGraph: true });
    const rows: number[][] = [];
    for (let i = 0; i < 4; i++) {
      const e = fromF64([0, 1, 2, 3].map((j) => (j === i ? 1 : 0)), [4]);
      const [h] = grad([g!], [x], { gradOutputs: [e], retainGraph: true });
      rows.push(vals(h!));
    }
    expectClose(rows.flat(), [0, 1, 2, 3].flatMap((i) => [0, 1, 2, 3].map((j) => (2 * ((i === j ? 1 : 0) - 0.25)) / 3)), 1e-14, 1e-12);
  });
});

describe('amax/amin and max/min with dim', () => {
  for (const [name, op] of [['amax', amax], ['amin', amin]] as const) {
    it(`${name}: gradient without ties`, () => {
      fc.assert(fc.property(reduceArgs, ({ sd: { shape, dims }, keepdim, negate, seed }) => {
        const d = dimsArg(dims, shape.length, negate);
        checkGrad((t) => op(t, d, { keepdim }), [distinctT(shape, seed)]);
      }), { numRuns: RUNS });
    });
  }

  for (const [name, op] of [['max', max], ['min', min]] as const) {
    it(`${name}(dim): gradient of the values, indices agree`, () => {
      fc.assert(fc.property(shapeWithDimArb(), fc.boolean(), fc.boolean(), seedArb, ({ shape, dim }, keepdim, negate, seed) => {
        const x = distinctT(shape, seed);
        const d = negate ? dim - shape.length : dim;
        checkGrad((t) => op(t, d, { keepdim }).values, [x]);
        const { values, indices } = op(x, d, { keepdim });
        const ref = (name === 'max' ? amax : amin)(x, d, { keepdim });
        expect(values.shape).toEqual(ref.shape);
        expect(indices.shape).toEqual(ref.shape);
        expectClose(vals(values), vals(ref), 0, 0);
        expect(indices.requiresGrad).toBe(false);
      }), { numRuns: RUNS });
    });
  }

  it('max/min values: second derivative (gather/scatter pair)', () => {
    fc.assert(fc.property(shapeWithDimArb({ maxRank: 2 }), fc.boolean(), seedArb, ({ shape, dim }, keepdim, seed) => {
      checkGradGrad((t) => max(t.square(), dim, { keepdim }).values, [distinctT(shape, seed).add(10).detach().requiresGrad_()], seed);
      checkGradGrad((t) => min(t, dim, { keepdim }).values.exp(), [distinctT(shape, seed)], seed);
    }), { numRuns: RUNS_SLOW });
  });

  it('amax/amin split the gradient evenly among tied extrema (as PyTorch)', () => {
    const x = fromF64([1, 3, 3, 2, 5, 0, 5, 5], [2, 4], true);
    const up = fromF64([10, 6], [2]);
    const [g] = grad([amax(x, 1)], [x], { gradOutputs: [up] });
    expectClose(vals(g!), [0, 5, 5, 0, 2, 0, 2, 2], 1e-15, 0);
    const y = fromF64([4, 1, 1, 1], [4], true);
    const [h] = grad(amin(y), [y]);
    expectClose(vals(h!), [0, 1 / 3, 1 / 3, 1 / 3], 1e-15, 0);
    // max(dim) sends the gradient to one index only.
    const [gm] = grad([max(x, 1).values], [x], { gradOutputs: [up] });
    const gv = vals(gm!);
    expect(gv.filter((v) => v !== 0).length).toBe(2);
    expect(gv[1] + gv[2]).toBe(10);
    expect(gv[4] + gv[6] + gv[7]).toBe(6);
  });
});

describe('logsumexp, softmax, logSoftmax', () => {
  it('logsumexp: gradient over random dims and keepdim', () => {
    fc.assert(fc.property(reduceArgs, ({ sd: { shape, dims }, keepdim, negate, seed }) => {
      const d = dimsArg(dims, shape.length, negate);
      checkGrad((t) => logsumexp(t, d, { keepdim }), [randT(shape, seed, { scale: 2 })]);
    }), { numRuns: RUNS });
  });

  it('logsumexp: stable for large offsets (+1000, -1000), value vs a float64 reference, gradient is softmax', () => {
    fc.assert(fc.property(reduceArgs, fc.constantFrom(1000, -1000, 700, 0), ({ sd: { shape, dims }, keepdim, seed }, offset) => {
      const d = dims.length === 0 ? undefined : dims;
      const red = reducedDims(d, shape.length);
      const x = randT(shape, seed, { scale: 2 }).add(offset).detach().requiresGrad_();
      const xs = vals(x);
      const group = groupOf(shape, red);
      const groups = sizeOf(keptShape(shape, red, true));
      const m = new Array<number>(groups).fill(-Infinity);
      xs.forEach((v, k) => (m[group[k]] = Math.max(m[group[k]], v)));
      const s = new Array<number>(groups).fill(0);
      xs.forEach((v, k) => (s[group[k]] += Math.exp(v - m[group[k]])));
      const ref = m.map((mi, j) => mi + Math.log(s[j]));
      const out = logsumexp(x, d, { keepdim });
      expect(vals(out).every(Number.isFinite)).toBe(true);
      expectClose(vals(out), ref, 1e-12, 1e-14, 'logsumexp');
      const up = randT(out.shape, seed + 1, { requiresGrad: false });
      const u = vals(up);
      const [g] = grad([out], [x], { gradOutputs: [up] });
      expectClose(vals(g!), xs.map((v, k) => Math.exp(v - ref[group[k]]) * u[group[k]]), 1e-12, 1e-10, 'dlogsumexp');
      checkGrad((t) => logsumexp(t, d, { keepdim }), [x], { eps: 1e-5 });
    }), { numRuns: RUNS });
  });

  it('logsumexp of a row of -Infinity is -Infinity (no NaN)', () => {
    const x = fromF64([-Infinity, -Infinity, 0, 1], [2, 2]);
    const out = vals(logsumexp(x, 1));
    expect(out[0]).toBe(-Infinity);
    expect(out[1]).toBeCloseTo(Math.log(1 + Math.E), 14);
  });

  for (const [name, op] of [['softmax', softmax], ['logSoftmax', logSoftmax]] as const) {
    it(`${name}: gradient over a random dim`, () => {
      fc.assert(fc.property(shapeWithDimArb(), fc.boolean(), seedArb, ({ shape, dim }, negate, seed) => {
        const d = negate ? dim - shape.length : dim;
        checkGrad((t) => op(t, d), [randT(shape, seed, { scale: 2 })]);
      }), { numRuns: RUNS });
    });
  }

  it('softmax sums to 1 along its dim and the gradient of sum(softmax) is ~0; logSoftmax = log(softmax)', () => {
    fc.assert(fc.property(shapeWithDimArb(), seedArb, fc.constantFrom(0, 1000, -1000), ({ shape, dim }, seed, offset) => {
      const x = randT(shape, seed, { scale: 3 }).add(offset).detach().requiresGrad_();
      const p = softmax(x, dim);
      expectClose(vals(p.sum(dim)), new Array<number>(sizeOf(shape) / shape[dim]).fill(1), 1e-14, 1e-14, 'rows');
      const [g] = grad(p.sum(), [x], { retainGraph: true });
      expectClose(vals(g!), new Array<number>(sizeOf(shape)).fill(0), 1e-14, 0, 'd sum(softmax)');
      expectClose(vals(logSoftmax(x, dim)), vals(p).map(Math.log), 1e-12, 1e-12, 'logSoftmax');
      // The gradient of logsumexp is softmax.
      const [gl] = grad(logsumexp(x, dim).sum(), [x]);
      expectClose(vals(gl!), vals(p), 1e-15, 1e-12, 'dlogsumexp = softmax');
      // Jacobian-vector identity: d<softmax, r>/dx = p * (r - <p, r>).
      const r = randT(shape, seed + 1, { requiresGrad: false });
      const [gr] = grad(p.mul(r).sum(), [x]);
      const expected = p.mul(r.sub(p.mul(r).sum(dim, { keepdim: true })));
      expectClose(vals(gr!), vals(expected), 1e-14, 1e-10, 'softmax vjp');
    }), { numRuns: RUNS });
  });

  it('second derivatives: logsumexp, softmax, logSoftmax', () => {
    fc.assert(fc.property(shapeWithDimArb({ maxRank: 2 }), fc.boolean(), seedArb, ({ shape, dim }, keepdim, seed) => {
      const x = randT(shape, seed, { scale: 2 });
      checkGradGrad((t) => logsumexp(t, dim, { keepdim }), [x], seed);
      checkGradGrad((t) => softmax(t, dim), [x], seed);
      checkGradGrad((t) => logSoftmax(t, dim), [x], seed);
    }), { numRuns: RUNS_SLOW });
  });

  it('with a random upstream gradient, sum(logSoftmax * R) matches a float64 reference gradient', () => {
    fc.assert(fc.property(shapeArb({ minRank: 2, maxRank: 2 }), seedArb, (shape, seed) => {
      const x = randT(shape, seed, { scale: 2 });
      const [g] = grad(dotRandom(logSoftmax(x, 1), seed + 5), [x]);
      const r = vals(randT(shape, seed + 5, { requiresGrad: false }));
      const xs = vals(x);
      const [rows, cols] = shape;
      const expected: number[] = [];
      for (let i = 0; i < rows; i++) {
        const row = xs.slice(i * cols, (i + 1) * cols);
        const m = Math.max(...row);
        const z = row.reduce((a, v) => a + Math.exp(v - m), 0);
        const rs = r.slice(i * cols, (i + 1) * cols).reduce((a, v) => a + v, 0);
        row.forEach((v, j) => expected.push(r[i * cols + j] - (Math.exp(v - m) / z) * rs));
      }
      expectClose(vals(g!), expected, 1e-13, 1e-10);
    }), { numRuns: RUNS });
  });
});

describe('reductions of tensors built from other ops', () => {
  it('sum of a 0-d tensor and of broadcast views', () => {
    const s = randT([], 1);
    const [g] = grad(sum(s).mul(3), [s]);
    expect(g!.shape).toEqual([]);
    expect(g!.item()).toBe(3);
    fc.assert(fc.property(shapeArb({ minRank: 1 }), seedArb, (shape, seed) => {
      const row = randT(shape.slice(1), seed);
      checkGrad((t: Tensor) => mean(t.expand(shape).mul(randT(shape, seed + 1, { requiresGrad: false })), 0), [row]);
    }), { numRuns: RUNS_SLOW });
  });
});

describe('std at a constant slice', () => {
  it('has a zero gradient there instead of NaN, as PyTorch', () => {
    const x = tensor([[1, 1, 1], [1, 2, 4]], { requiresGrad: true, dtype: 'float64' });
    x.std(1).sum().backward();
    const g = x.grad!.toArray() as number[][];
    expect(g[0]).toEqual([0, 0, 0]);
    expect(g[1].every((v) => Number.isFinite(v) && v !== 0)).toBe(true);
  });
});

describe('max() and min() without a dim (torch.max(x))', () => {
  it('reduce all of x to a 0-D tensor, the gradient shared equally by tied extrema', () => {
    const x = tensor([[1, 5, 5], [-2, 0, -2]], { dtype: 'float64', requiresGrad: true });
    const m = x.max();
    expect(m.shape).toEqual([]);
    expect(m.item()).toBe(5);
    m.backward();
    expect(x.grad!.toArray()).toEqual([[0, 0.5, 0.5], [0, 0, 0]]);
    const y = tensor([[1, 5, 5], [-2, 0, -2]], { dtype: 'float64', requiresGrad: true });
    y.min().mul(3).backward();
    expect(y.grad!.toArray()).toEqual([[0, 0, 0], [1.5, 0, 1.5]]);
    // With a dim, values and indices as before.
    const { values, indices } = x.detach().max(1);
    expect([values.toArray(), indices.toArray()]).toEqual([[5, 0], [1, 1]]);
  });

  it('have the gradients of amax and amin (finite differences, distinct values)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer(), (r, c, seed) => {
      const x = distinctT([r, c], seed);
      checkGrad((t) => t.max(), [x]);
      checkGrad((t) => t.min(), [x]);
    }), { numRuns: 20 });
  });
});

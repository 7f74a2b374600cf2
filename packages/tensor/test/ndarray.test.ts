import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type DType, Generator, NDArray, type NestedArray, abs, add, amax, amin, argmax, arange, cos, div, eq, exp, fromArray,
  full, gelu, gt, logsumexp, matmul, maximum, mean, minimum, mul, neg, ones, randn, relu, sigmoid, sin, softmax,
  softplus, sqrt, square, sub, sum, tanh, variance, where, zeros, log, erf, clamp, leakyRelu, pow, sign, rsqrt,
  reciprocal, log1p, lt,
} from '../src/index.js';

/** 0..n-1 as a float64 array of `shape`. */
function iota(shape: number[], dtype: DType = 'float64'): NDArray {
  return arange(shape.reduce((p, d) => p * d, 1), undefined, 1, { dtype }).reshape(shape);
}

describe('view ops: values and shared storage', () => {
  const x = iota([2, 3, 4]);

  it('view/reshape share storage when the layout allows', () => {
    const v = x.view(6, 4);
    expect(v.storage).toBe(x.storage);
    expect(v.shape).toEqual([6, 4]);
    expect(v.toArray()).toEqual(Array.from({ length: 6 }, (_, i) => [0, 1, 2, 3].map((j) => i * 4 + j)));
    expect(x.view([4, -1]).shape).toEqual([4, 6]);
    expect(x.reshape(-1).storage).toBe(x.storage);
    expect(x.reshape(2, 12).shape).toEqual([2, 12]);
    // merging dims that stay contiguous inside a non-contiguous array is a view
    const sl = x.slice(0, 1, 2); // [1,3,4]
    expect(sl.view(12).storage).toBe(x.storage);
    expect(sl.view(12).toArray()).toEqual(Array.from({ length: 12 }, (_, i) => 12 + i));
    // splitting a dim of a transposed array is still a view
    const t = x.transpose(0, 2); // [4,3,2]
    const split = t.view(2, 2, 3, 2);
    expect(split.storage).toBe(x.storage);
    expect(split.toArray()).toEqual(t.contiguous().view(2, 2, 3, 2).toArray());
  });

  it('view throws on a non-viewable layout and suggests reshape; reshape copies', () => {
    const t = iota([2, 3]).transpose(0, 1);
    expect(() => t.view(6)).toThrow(/view.*\[3,2\].*reshape/);
    expect(() => t.view(-1)).toThrow(/reshape\(\)/);
    const r = t.reshape(6);
    expect(r.storage).not.toBe(t.storage);
    expect(r.toArray()).toEqual([0, 3, 1, 4, 2, 5]);
    const rows = x.reshape(2, 12).toArray() as NestedArray[];
    const e = x.expand(2, 2, 3, 4).reshape(4, 12); // stride-0 dim: not viewable, copied
    expect(e.storage).not.toBe(x.storage);
    expect(e.toArray()).toEqual([...rows, ...rows]);
  });

  it('-1 inference and its errors', () => {
    expect(x.reshape(-1, 2).shape).toEqual([12, 2]);
    expect(x.view(2, -1, 2).shape).toEqual([2, 6, 2]);
    expect(() => x.view(-1, -1)).toThrow(/view: only one dimension can be -1/);
    expect(() => x.reshape(5, -1)).toThrow(/reshape: shape \[5,-1\] is invalid for input of shape \[2,3,4\] \(24 elements\)/);
    expect(() => x.reshape(5, 5)).toThrow(/reshape.*\[5,5\].*\[2,3,4\]/);
    expect(() => x.view(-2, 12)).toThrow(/view: invalid size -2/);
    expect(() => x.view(2.5, 2)).toThrow(/invalid size 2.5/);
    // -1 is ambiguous with 0 elements, as in PyTorch
    expect(() => zeros([2, 0]).reshape(-1, 0)).toThrow(/reshape/);
    expect(() => zeros([2, 0]).reshape(0, -1, 3)).toThrow(/reshape/);
    expect(zeros([2, 0]).reshape(0, 5, 3).shape).toEqual([0, 5, 3]);
    expect(fromArray([7]).reshape([]).shape).toEqual([]);
    expect(fromArray(7).reshape(1, 1).toArray()).toEqual([[7]]);
  });

  it('slice: negative and clamped start/end, steps', () => {
    const v = iota([10]);
    const vals = (a: NDArray): NestedArray => a.toArray();
    expect(vals(v.slice(0, 2, 8, 3))).toEqual([2, 5]);
    expect(vals(v.slice(0, -3))).toEqual([7, 8, 9]);
    expect(vals(v.slice(0, -100, 3))).toEqual([0, 1, 2]);
    expect(vals(v.slice(0, 8, 100))).toEqual([8, 9]);
    expect(vals(v.slice(0, 0, -1, 4))).toEqual([0, 4, 8]);
    expect(vals(v.slice(0, 6, 3))).toEqual([]);
    expect(vals(v.slice(0, 100, 200))).toEqual([]);
    expect(v.slice(0, 1, 9, 2).storage).toBe(v.storage);
    const m = iota([3, 4]);
    expect(vals(m.slice(1, 1, undefined, 2))).toEqual([[1, 3], [5, 7], [9, 11]]);
    expect(vals(m.slice(-2, -2))).toEqual([[4, 5, 6, 7], [8, 9, 10, 11]]);
    expect(() => v.slice(0, 0, 5, 0)).toThrow(/slice: step must be a positive integer, got 0/);
    expect(() => v.slice(0, 0, 5, -1)).toThrow(/step/);
    expect(() => v.slice(0, 0.5)).toThrow(/slice: start and end must be integers/);
    expect(() => v.slice(1)).toThrow(/slice: dim 1 out of range for a tensor of rank 1/);
    expect(() => fromArray(3).slice(0)).toThrow(/slice.*0-D/);
  });

  it('narrow and select, with range errors', () => {
    const m = iota([3, 4]);
    expect(m.narrow(1, 1, 2).toArray()).toEqual([[1, 2], [5, 6], [9, 10]]);
    expect(m.narrow(0, -1, 1).toArray()).toEqual([[8, 9, 10, 11]]);
    expect(m.narrow(0, 3, 0).shape).toEqual([0, 4]);
    expect(m.narrow(1, 1, 2).storage).toBe(m.storage);
    expect(() => m.narrow(1, 3, 2)).toThrow(/narrow: start 3 and length 2 exceed dim 1 of size 4 in \[3,4\]/);
    expect(() => m.narrow(0, -4, 1)).toThrow(/narrow/);
    expect(() => m.narrow(0, 0, -1)).toThrow(/narrow/);
    expect(() => m.narrow(0, 0.5, 1)).toThrow(/narrow/);
    expect(m.select(1, 2).toArray()).toEqual([2, 6, 10]);
    expect(m.select(0, -1).toArray()).toEqual([8, 9, 10, 11]);
    expect(m.select(0, 1).storage).toBe(m.storage);
    expect(m.select(0, 1).select(0, 3).toArray()).toBe(7);
    expect(() => m.select(0, 3)).toThrow(/select: index 3 is out of range for dim 0 of size 3 in \[3,4\]/);
    expect(() => m.select(1, -5)).toThrow(/select: index -5/);
    expect(() => m.select(2, 0)).toThrow(/select: dim 2 out of range/);
    expect(() => fromArray(3).select(0, 0)).toThrow(/select.*0-D/);
    expect(() => fromArray(3).narrow(0, 0, 1)).toThrow(/narrow.*0-D/);
  });

  it('expand and broadcastTo: rules and errors', () => {
    const c = fromArray([[1], [2]], { dtype: 'float64' }); // [2,1]
    const e = c.expand(3, 2, 4);
    expect(e.storage).toBe(c.storage);
    expect(e.strides).toEqual([0, 1, 0]);
    expect(e.toArray()).toEqual(Array(3).fill([[1, 1, 1, 1], [2, 2, 2, 2]]));
    expect(c.expand(-1, 3).toArray()).toEqual([[1, 1, 1], [2, 2, 2]]);
    expect(c.expand([2, 0]).shape).toEqual([2, 0]);
    expect(() => c.expand(3, 3)).toThrow(/expand: cannot expand \[2,1\] to \[3,3\] \(dim 0: size 2 is not 1 and differs from 3\)/);
    expect(() => c.expand(4)).toThrow(/expand: the target \[4\] has fewer dims than the input \[2,1\]/);
    expect(() => c.expand(-1, 2, 3)).toThrow(/expand: invalid size -1 for new leading dim 0/);
    expect(c.broadcastTo([5, 2, 3]).shape).toEqual([5, 2, 3]);
    expect(fromArray(4).broadcastTo([2, 2]).toArray()).toEqual([[4, 4], [4, 4]]);
    expect(() => c.broadcastTo([3, 3])).toThrow(/broadcastTo: shapes \[2,1\] and \[3,3\] cannot be broadcast together/);
    expect(() => c.broadcastTo([1, 3])).toThrow(/broadcastTo: \[2,1\] does not broadcast to \[1,3\]/);
  });

  it('squeeze and unsqueeze', () => {
    const a = iota([1, 3, 1, 2]);
    expect(a.squeeze().shape).toEqual([3, 2]);
    expect(a.squeeze(0).shape).toEqual([3, 1, 2]);
    expect(a.squeeze(-2).shape).toEqual([1, 3, 2]);
    expect(a.squeeze(1).shape).toEqual([1, 3, 1, 2]); // not size 1: kept, as PyTorch
    expect(a.squeeze([0, 2]).shape).toEqual([3, 2]);
    expect(a.squeeze().storage).toBe(a.storage);
    expect(a.squeeze().toArray()).toEqual([[0, 1], [2, 3], [4, 5]]);
    expect(() => a.squeeze(4)).toThrow(/squeeze: dim 4 out of range/);
    const b = iota([2, 3]);
    expect(b.unsqueeze(0).shape).toEqual([1, 2, 3]);
    expect(b.unsqueeze(2).shape).toEqual([2, 3, 1]);
    expect(b.unsqueeze(-1).shape).toEqual([2, 3, 1]);
    expect(b.unsqueeze(-3).shape).toEqual([1, 2, 3]);
    expect(b.unsqueeze(1).isContiguous()).toBe(true);
    expect(b.unsqueeze(1).storage).toBe(b.storage);
    expect(b.mT.unsqueeze(1).toArray()).toEqual([[[0, 3]], [[1, 4]], [[2, 5]]]);
    expect(() => b.unsqueeze(3)).toThrow(/unsqueeze: dim 3 out of range for a tensor of rank 3/);
    expect(() => b.unsqueeze(-4)).toThrow(/unsqueeze/);
    expect(fromArray(5).unsqueeze(0).shape).toEqual([1]);
  });

  it('permute, transpose, mT and their errors', () => {
    const a = iota([2, 3, 4]);
    const p = a.permute(2, 0, 1);
    expect(p.shape).toEqual([4, 2, 3]);
    expect(p.strides).toEqual([1, 12, 4]);
    expect(p.storage).toBe(a.storage);
    expect((p.toArray() as number[][][])[3][1][2]).toBe(1 * 12 + 2 * 4 + 3);
    expect(a.permute([-1, -3, -2]).shape).toEqual([4, 2, 3]);
    expect(() => a.permute(0, 1)).toThrow(/permute: \[0,1\] is not a permutation of the 3 dims of \[2,3,4\]/);
    expect(() => a.permute(0, 1, 1)).toThrow(/not a permutation/);
    expect(() => a.permute(0, 1, -3)).toThrow(/not a permutation/);
    expect(() => a.permute(0, 1, 3)).toThrow(/permute: dim 3 out of range/);
    expect(a.transpose(0, 2).toArray()).toEqual(a.permute(2, 1, 0).toArray());
    expect(a.transpose(-1, 1).shape).toEqual([2, 4, 3]);
    expect(a.transpose(1, 1).strides).toEqual(a.strides);
    expect(() => a.transpose(0, 3)).toThrow(/transpose: dim 3 out of range/);
    expect(a.mT.shape).toEqual([2, 4, 3]);
    expect(iota([3]).mT.shape).toEqual([3]);
    expect(fromArray(2).transpose(0, -1).toArray()).toBe(2);
    expect(() => fromArray(2).transpose(0, 1)).toThrow(/transpose: dim 1 out of range/);
  });

  it('flatten', () => {
    const a = iota([2, 3, 4]);
    expect(a.flatten().shape).toEqual([24]);
    expect(a.flatten(1).shape).toEqual([2, 12]);
    expect(a.flatten(0, 1).shape).toEqual([6, 4]);
    expect(a.flatten(-2, -1).shape).toEqual([2, 12]);
    expect(a.flatten(1).storage).toBe(a.storage);
    expect(a.transpose(0, 2).flatten().toArray()).toEqual(a.transpose(0, 2).contiguous().view(-1).toArray());
    expect(fromArray(3).flatten().shape).toEqual([1]);
    expect(() => a.flatten(2, 1)).toThrow(/flatten: startDim 2 comes after endDim 1/);
    expect(() => a.flatten(0, 3)).toThrow(/flatten: dim 3 out of range/);
  });

  it('isContiguous and contiguous copy only when needed', () => {
    const a = iota([3, 4]);
    expect(a.isContiguous()).toBe(true);
    expect(a.contiguous()).toBe(a);
    expect(a.slice(0, 1).isContiguous()).toBe(true); // rows at an offset
    const rows = a.slice(0, 1);
    expect(rows.contiguous()).toBe(rows);
    expect(a.slice(1, 1).isContiguous()).toBe(false);
    expect(a.mT.isContiguous()).toBe(false);
    expect(a.select(1, 0).isContiguous()).toBe(false);
    expect(a.unsqueeze(0).expand(2, 3, 4).isContiguous()).toBe(false);
    expect(fromArray([1]).expand(1).isContiguous()).toBe(true);
    expect(a.slice(1, 1, 2).isContiguous()).toBe(false); // [3,1] with stride 4: size-1 dims do not matter, but 4 != 1
    expect(a.select(1, 0).unsqueeze(1).isContiguous()).toBe(false);
    expect(zeros([3, 0]).mT.isContiguous()).toBe(true); // empty arrays are contiguous, as PyTorch
    const t = a.mT;
    const c = t.contiguous();
    expect(c).not.toBe(t);
    expect(c.storage).not.toBe(t.storage);
    expect(c.isContiguous()).toBe(true);
    expect(c.toArray()).toEqual(t.toArray());
    const k = a.clone();
    expect(k.storage).not.toBe(a.storage);
    expect(k.toArray()).toEqual(a.toArray());
  });

  it('astype: float->int32 truncates toward zero, bool is nonzero', () => {
    const f = fromArray([1.7, -1.7, 2.5, -0.5, 0, 3], { dtype: 'float64' });
    const i = f.astype('int32');
    expect(i.dtype).toBe('int32');
    expect(i.toArray()).toEqual([1, -1, 2, 0, 0, 3]);
    expect(fromArray([0, 0.5, -1, NaN, -0, Infinity]).astype('bool').toArray()).toEqual([0, 1, 1, 1, 0, 1]);
    expect(fromArray([0, 2, -3], { dtype: 'int32' }).astype('bool').toArray()).toEqual([0, 1, 1]);
    expect(fromArray([true, false]).astype('float32').toArray()).toEqual([1, 0]);
    expect(fromArray([0.1], { dtype: 'float64' }).astype('float32').item()).toBe(Math.fround(0.1));
    expect(f.astype('float64')).toBe(f);
    expect(iota([2, 3]).mT.astype('int32').toArray()).toEqual([[0, 3], [1, 4], [2, 5]]);
    expect(iota([2, 3]).mT.astype('bool').toArray()).toEqual([[0, 1], [1, 1], [1, 1]]);
  });

  it('toArray, item and toString', () => {
    expect(iota([2, 0]).toArray()).toEqual([[], []]);
    expect(iota([0]).toArray()).toEqual([]);
    expect(fromArray(3.5).toArray()).toBe(3.5);
    expect(fromArray([[3.5]]).item()).toBe(3.5);
    expect(() => iota([2, 3]).item()).toThrow(/item: .*one element.*shape \[2,3\] \(6 elements\)/);
    expect(() => iota([0]).item()).toThrow(/\[0\]/);
    expect(iota([2, 2]).mT.toArray()).toEqual([[0, 2], [1, 3]]);
    expect(fromArray([[1, 2], [3, 4]], { dtype: 'int32' }).toString()).toBe('NDArray([[1,2],[3,4]], shape=[2,2], dtype=int32, device=cpu)');
    expect(fromArray([true, false]).toString()).toBe('NDArray([1,0], shape=[2], dtype=bool, device=cpu)');
    expect(String(zeros([40, 30]))).toBe('NDArray(<1200 elements>, shape=[40,30], dtype=float32, device=cpu)');
    expect(full([], 2).toString()).toContain('NDArray(2, shape=[]');
    const a = ones([2]);
    expect(a.numel()).toBe(2);
    expect(a.ndim).toBe(1);
    expect(a.to('cpu')).toBe(a);
  });
});

// ---------------------------------------------------------------------------
// Property: a view and its contiguous copy give the same results in every op.

interface Step { kind: number; a: number; b: number; c: number }

const stepArb: fc.Arbitrary<Step> = fc.record({
  kind: fc.integer({ min: 0, max: 7 }), a: fc.nat(1000), b: fc.nat(1000), c: fc.nat(1000),
});

/** Applies step `s` to `v` (parameters reduced modulo the current shape), keeping the array non-empty and small. */
function applyStep(v: NDArray, s: Step): NDArray {
  const nd = v.ndim;
  const d = nd > 0 ? s.a % nd : 0;
  const n = nd > 0 ? v.shape[d] : 0;
  switch (s.kind) {
    case 0: { // permute
      if (nd < 2) return v;
      const order = v.shape.map((_, i) => i);
      let seed = s.b + 1;
      for (let i = order.length - 1; i > 0; i--) {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        const j = seed % (i + 1);
        [order[i], order[j]] = [order[j], order[i]];
      }
      return v.permute(order);
    }
    case 1: return nd < 2 ? v : v.transpose(d, s.b % nd);
    case 2: { // slice with a step, negative starts allowed, never empty
      if (nd === 0) return v;
      const start = (s.b % n) - (s.c % 2 === 0 ? 0 : n); // same element, negative spelling half of the time
      const len = 1 + (s.c % n);
      const end = Math.min((start < 0 ? start + n : start) + len, n) + (s.c % 3 === 0 ? 100 : 0); // past the end: clamped
      return v.slice(d, start, end, 1 + (s.b % 3));
    }
    case 3: { // expand a size-1 dim, or a new leading dim
      if (v.size * 3 > 300) return v;
      const target = v.shape.map((k) => (k === 1 ? 1 + (s.b % 3) : k));
      return s.c % 2 === 0 ? v.expand([2, ...target]) : v.expand(target);
    }
    case 4: return nd < 2 ? v : v.select(d, s.b % n);
    case 5: { // narrow
      if (nd === 0) return v;
      const len = 1 + (s.c % n);
      return v.narrow(d, s.b % (n - len + 1), len);
    }
    case 6: return nd >= 4 ? v : v.unsqueeze(s.b % (nd + 1));
    default: return nd === 0 ? v : v.squeeze();
  }
}

/** Equal as numbers, NaN equal to NaN, -0 distinct from 0 when `exact`. */
function expectSame(a: NDArray, b: NDArray, what: string, tol = 0): void {
  expect(a.shape, what).toEqual(b.shape);
  expect(a.dtype, what).toBe(b.dtype);
  const x = a.toTypedArray();
  const y = b.toTypedArray();
  for (let i = 0; i < x.length; i++) {
    const p = x[i];
    const q = y[i];
    if (Number.isNaN(p) && Number.isNaN(q)) continue;
    if (tol === 0 ? Object.is(p, q) : (p === q || Math.abs(p - q) <= tol * Math.max(1, Math.abs(p), Math.abs(q)))) continue;
    expect.fail(`${what}: element ${i} differs: ${p} vs ${q} (tol ${tol}); shape ${a.shape.join('x')}`);
  }
}

/** A random array broadcastable to `shape`, contiguous, and the same values as a strided view. */
function partner(shape: readonly number[], g: Generator, dtype: DType): [NDArray, NDArray] {
  const drop = shape.length > 0 ? g.int(0, shape.length) : 0;
  const pShape = shape.slice(drop).map((k) => (g.uniform() < 0.3 ? 1 : k));
  const contiguous = randn(pShape, { generator: g, dtype });
  // The same values with a gap: every other element of a wider array.
  const data = zeros([...pShape, 2], { dtype }).toTypedArray();
  const vals = contiguous.toTypedArray();
  for (let i = 0; i < vals.length; i++) data[2 * i + 1] = vals[i];
  const strided = fromArray(data, { dtype, shape: [...pShape, 2] }).select(-1, 1);
  return [contiguous, strided];
}

const UNARY: [string, (x: NDArray) => NDArray][] = [
  ['neg', neg], ['abs', abs], ['exp', exp], ['log', log], ['log1p', log1p], ['sqrt', sqrt], ['rsqrt', rsqrt],
  ['square', square], ['reciprocal', reciprocal], ['sin', sin], ['cos', cos], ['tanh', tanh], ['sigmoid', sigmoid],
  ['relu', relu], ['leakyRelu', (x) => leakyRelu(x, 0.2)], ['gelu', gelu], ['geluTanh', (x) => gelu(x, { approximate: 'tanh' })],
  // softplus (threshold) and clamp (max) read the second scalar parameter p1 of the strided kernel
  ['erf', erf], ['softplus', softplus], ['clamp', (x) => clamp(x, -0.5, 0.7)], ['sign', sign], ['pow', (x) => pow(x, 3)],
  ['astype', (x) => x.astype('int32')],
];

const BINARY: [string, (a: NDArray, b: NDArray) => NDArray][] = [
  ['add', add], ['sub', sub], ['mul', mul], ['div', div], ['maximum', maximum], ['minimum', minimum],
  ['eq', eq], ['gt', gt], ['lt', lt], ['pow', (a, b) => pow(abs(a), b)], ['where', (a, b) => where(gt(a, b), a, b)],
];

describe('property: a view and its contiguous copy give the same results in every op', () => {
  it('unary, binary, reductions and matmul agree on views and on copies', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }),
        fc.array(stepArb, { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.constantFrom<DType>('float64', 'float32'),
        (baseShape, steps, seed, dtype) => {
          const g = new Generator(seed);
          const base = randn(baseShape, { generator: g, dtype });
          let v = base;
          for (const s of steps) {
            v = applyStep(v, s);
            expect(v.storage).toBe(base.storage); // every step is a view
          }
          const c = v.contiguous();
          const k = v.clone();
          expect(k.storage).not.toBe(base.storage);
          expect(c.toArray()).toEqual(k.toArray());
          const tol = dtype === 'float64' ? 1e-12 : 2 ** -23;

          for (const [name, f] of UNARY) expectSame(f(v), f(k), `${name} on ${v.shape.join('x')}`);

          const [pc, ps] = partner(v.shape, g, dtype);
          expectSame(ps, pc, 'partner');
          for (const [name, f] of BINARY) {
            const want = f(k, pc);
            expectSame(f(v, pc), want, `${name}(view, contiguous)`);
            expectSame(f(v, ps), want, `${name}(view, strided)`);
            expectSame(f(ps, v), f(pc, k), `${name}(strided, view)`);
          }
          expectSame(add(v, 1.5), add(k, 1.5), 'add scalar');

          // reductions over a random set of dims
          const nd = v.ndim;
          const dims = v.shape.map((_, i) => i).filter((i) => ((seed >> i) & 1) === 1);
          const keepdim = (seed & 16) !== 0;
          const dimArg = dims.length === 0 ? undefined : dims.map((i) => (i % 2 === 0 ? i : i - nd));
          const opts = { keepdim };
          expectSame(sum(v, dimArg, opts), sum(k, dimArg, opts), 'sum', tol);
          expectSame(mean(v, dimArg, opts), mean(k, dimArg, opts), 'mean', tol);
          expectSame(variance(v, dimArg, { ...opts, correction: 0 }), variance(k, dimArg, { ...opts, correction: 0 }), 'var', tol);
          expectSame(amax(v, dimArg, opts), amax(k, dimArg, opts), 'amax');
          expectSame(amin(v, dimArg, opts), amin(k, dimArg, opts), 'amin');
          expectSame(logsumexp(v, dimArg, opts), logsumexp(k, dimArg, opts), 'logsumexp', tol);
          if (nd > 0) {
            const d = seed % nd;
            expectSame(argmax(v, d, opts), argmax(k, d, opts), 'argmax');
            expectSame(softmax(v, d - nd), softmax(k, d - nd), 'softmax', tol);
          }
          expectSame(argmax(v), argmax(k), 'argmax (flat)');

          if (nd === 2) {
            expectSame(matmul(v, v.mT), matmul(k, k.mT), 'matmul(v, v.mT)');
            expectSame(matmul(v.mT, v), matmul(c.mT, c), 'matmul(v.mT, v)');
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});

/**
 * In-place ops (add_, sub_, mul_, div_, clamp_, copy_, fill_, zero_,
 * normal_, uniform_): the values of the out-of-place op, written into the
 * tensor's storage (views and detached aliases see them), gradients in
 * both modes checked against finite differences over random shapes and
 * broadcasting, PyTorch's version-counter error when a saved value was
 * overwritten (and none when nothing saved was), and the errors for leaves,
 * views in the graph, dtypes and shapes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as nd from '@normlab/tensor';
import { Tensor, jvp, maxPool2dWithIndices, noGrad, tensor } from '../src/index.js';
import { RUNS, broadcastPairArb, broadcastShape, checkGrad, expectClose, randT, seedArb, vals } from './helpers.js';

interface Case {
  name: string;
  /** x op_ y on a non-leaf copy of x, returned. */
  inPlace: (t: Tensor, y: Tensor) => Tensor;
  outOfPlace: (x: Tensor, y: Tensor) => Tensor;
  /** Where to sample y (divisors away from 0). */
  y?: { lo: number; hi: number };
}

const CASES: Case[] = [
  { name: 'add_ (alpha 0.5)', inPlace: (t, y) => t.add_(y, { alpha: 0.5 }), outOfPlace: (x, y) => x.add(y.mul(0.5)) },
  { name: 'sub_', inPlace: (t, y) => t.sub_(y), outOfPlace: (x, y) => x.sub(y) },
  { name: 'mul_', inPlace: (t, y) => t.mul_(y), outOfPlace: (x, y) => x.mul(y) },
  { name: 'div_', inPlace: (t, y) => t.div_(y), outOfPlace: (x, y) => x.div(y), y: { lo: 0.5, hi: 2 } },
  { name: 'copy_', inPlace: (t, y) => t.copy_(y), outOfPlace: (x, y) => y.expand(x.shape).add(x.mul(0)) },
];

describe('in-place ops: values and gradients', () => {
  for (const c of CASES) {
    it(`${c.name}: the out-of-place values in place; both modes' gradients against finite differences`, () => {
      fc.assert(fc.property(broadcastPairArb(), seedArb, ([a, b], seed) => {
        const xShape = broadcastShape(a, b);
        const x = randT(xShape, seed);
        const y = randT(b, seed + 1, c.y ?? {});
        const t = x.mul(1);
        const same = t.detach();
        const before = t.version;
        expect(c.inPlace(t, y)).toBe(t);
        expect(t.version).toBe(before + 1);
        expectClose(vals(t), vals(c.outOfPlace(x, y)), 0, 0);
        // A detached alias shares the storage: it sees the values too.
        expect(vals(same)).toEqual(vals(t));
        checkGrad((p, q) => c.inPlace(p.mul(1), q), [x, y]);
      }), { numRuns: RUNS });
    });
  }

  it('clamp_ and fill_ with a 0-D tensor: values and gradients; zero_ gives the overwritten tensor a zero gradient', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 3 }), seedArb, (shape, seed) => {
      const x = randT(shape, seed, { avoid: [-0.5, 0.5], margin: 0.02 });
      checkGrad((p) => p.mul(1).clamp_(-0.5, 0.5), [x]);
      const v = randT([], seed + 1);
      checkGrad((p, q) => p.mul(2).fill_(q).mul(p), [x, v]);
      const z = x.mul(3).zero_();
      expect(vals(z).every((e) => e === 0)).toBe(true);
      z.add(x).sum().backward();
      expect(vals(x.grad!).every((e) => e === 1)).toBe(true);
    }), { numRuns: RUNS });
  });

  it('matches PyTorch where the graph continues from the written tensor: b = 2a; b *= a gives d sum(b)/da = 4a', () => {
    const a = randT([3], 1);
    const b = a.mul(2);
    b.mul_(a);
    b.sum().backward();
    expectClose(vals(a.grad!), vals(a).map((v) => 4 * v), 1e-15, 0);
  });

  it('writes through views: a row, a column, a strided slice of a plain tensor', () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]]);
    x.select(0, 1).fill_(0);
    x.transpose(0, 1).select(0, 2).add_(10);
    x.slice(1, 0, 3, 2).mul_(2);
    expect(x.toArray()).toEqual([[2, 2, 26], [0, 0, 20]]);
    expect(x.version).toBe(3);
  });

  it('forward mode: the tangent follows the written tensor (jvp equals the out-of-place one)', () => {
    fc.assert(fc.property(broadcastPairArb(), seedArb, ([a, b], seed) => {
      const xShape = broadcastShape(a, b);
      const [x, y] = [randT(xShape, seed), randT(b, seed + 1)];
      const [vx, vy] = [randT(xShape, seed + 2, { requiresGrad: false }), randT(b, seed + 3, { requiresGrad: false })];
      const [, inPlace] = jvp((p, q) => p.mul(1).mul_(q).add_(q.square()), [x, y], [vx, vy]);
      const [, outOfPlace] = jvp((p, q) => p.mul(q).add(q.square()), [x, y], [vx, vy]);
      expectClose(vals(inPlace), vals(outOfPlace), 1e-15, 1e-15);
    }), { numRuns: RUNS });
  });
});

describe('the version counter', () => {
  const overwritten: [string, RegExp, () => Tensor][] = [
    ['the output of sigmoid', /saved by 'sigmoid' \(its output\), is at version 1; expected version 0 instead/, () => {
      const y = randT([3], 1).sigmoid();
      y.mul_(2);
      return y;
    }],
    ['an input of mul', /modified by an inplace operation: \[float64 \[3\]\], saved by 'mul' \(its input 1\), is at version 1; expected version 0/, () => {
      const x = randT([3], 2);
      const w = randT([3], 3).mul(1);
      const y = x.mul(w);
      w.add_(1);
      return y;
    }],
    ['an operand of matmul, through a detached alias', /saved by 'matmul' \(its input 0\)/, () => {
      const a = randT([2, 3], 4);
      const y = a.matmul(randT([3, 2], 5));
      noGrad(() => a.detach().zero_());
      return y;
    }],
    ['the indices of maxPool2d', /saved by 'maxPool2d' \(its indices\)/, () => {
      const { values, indices } = maxPool2dWithIndices(randT([1, 1, 4, 4], 6), 2);
      indices.fill_(0);
      return values;
    }],
  ];
  for (const [what, message, build] of overwritten) {
    it(`backward refuses when ${what} was written in place since, naming the op`, () => {
      const y = build();
      expect(() => y.sum().backward()).toThrow(/^backward: one of the variables needed for gradient computation has been modified by an inplace operation/);
      expect(() => build().sum().backward()).toThrow(message);
    });
  }

  it('does not refuse where nothing saved was written (add reads no value), and the gradient is right', () => {
    const x = randT([3], 7);
    const t = x.mul(1);
    const y = t.add(2).sum();
    t.mul_(5);
    y.backward();
    expect(vals(x.grad!)).toEqual([1, 1, 1]);
    // A constant that an in-place op later puts in the graph: the ops that read it before send it nothing.
    const c = tensor([1, 2, 3], { dtype: 'float64' });
    const w = randT([3], 8);
    const before = c.add(w).sum();
    c.add_(w);
    expect(c.requiresGrad && c.gradFn !== null).toBe(true);
    before.add(c.sum()).backward();
    expect(vals(w.grad!)).toEqual([2, 2, 2]);
  });
});

describe('in-place errors', () => {
  it('a leaf that requires grad only inside noGrad; a view in the graph not at all; shapes and dtypes as PyTorch', () => {
    const w = randT([3], 8);
    expect(() => w.add_(1)).toThrow(/add_: a leaf Variable that requires grad is being used in an in-place operation; do it inside noGrad\(\)/);
    const v0 = w.version;
    noGrad(() => w.mul_(2).add_(1));
    expect(w.version).toBe(v0 + 2);
    expect(w.isLeaf && w.requiresGrad).toBe(true);
    const h = w.mul(1);
    expect(() => h.reshape([3, 1]).add_(1)).toThrow(/add_: the tensor \[3,1\] shares its storage with a view recorded in the graph .*: clone\(\) it first/);
    expect(() => h.add_(1)).toThrow(/shares its storage with a view recorded in the graph/);
    const x = tensor([1, 2, 3], { dtype: 'float64' });
    expect(() => x.add_(tensor([[1, 2, 3], [4, 5, 6]], { dtype: 'float64' }))).toThrow(/add_: output with shape \[3\] doesn't match the broadcast shape \[2,3\]/);
    const i = tensor([1, 2, 3], { dtype: 'int32' });
    expect(() => i.add_(0.5)).toThrow(/add_: result type float32 can't be cast to the desired output type int32/);
    expect(() => i.fill_(1.5)).toThrow(/fill_: cannot write 1.5 into a int32 array/);
    expect(() => i.copy_(tensor([1, 2, 3]))).toThrow(/copy_: cannot copy float32 values into a int32 tensor/);
    expect(() => i.normal_()).toThrow(/normal_: expected a floating point tensor, got int32/);
    expect(() => x.normal_(0, -1)).toThrow(/normal_: expects std >= 0.0, but found std -1/);
    expect(() => x.uniform_(2, 1)).toThrow(/uniform_: expects to return a \[from, to\) range, but found from=2 > to=1/);
    expect(() => x.clamp_()).toThrow(/clamp_: at least one of min and max must be given/);
    expect(() => x.fill_(tensor([1, 2]))).toThrow(/fill_: only supports 0-dimension value tensor but got tensor with 1 dimensions/);
    expect(() => x.add_('1' as unknown as number)).toThrow(/add_: expected a Tensor or a number, got string/);
    // No failed call changed anything.
    expect(vals(x)).toEqual([1, 2, 3]);
    expect(x.version).toBe(0);
    expect(i.toArray()).toEqual([1, 2, 3]);
  });

  it('normal_ and uniform_ draw what randn and rand draw from the same generator, in place', () => {
    const x = tensor([[0, 0, 0], [0, 0, 0]], { dtype: 'float64' });
    const view = x.select(0, 1);
    x.normal_(1, 2, { generator: new nd.Generator(5) });
    const z = nd.randn([2, 3], { dtype: 'float64', generator: new nd.Generator(5) });
    expect(vals(x)).toEqual(Array.from(nd.add(nd.mul(z, 2), 1).toTypedArray()));
    expect(vals(view)).toEqual(vals(x).slice(3));
    x.uniform_(-1, 3, { generator: new nd.Generator(6) });
    const u = nd.rand([2, 3], { dtype: 'float64', generator: new nd.Generator(6) });
    expect(vals(x)).toEqual(Array.from(nd.add(nd.mul(u, 4), -1).toTypedArray()));
    expect(vals(x).every((v) => v >= -1 && v < 3)).toBe(true);
  });
});

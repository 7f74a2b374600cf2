/**
 * Linear (values, shapes, errors, gradients), the activation modules,
 * Flatten / Identity, and the containers Sequential / ModuleList.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Tensor, gradcheck, tensor, zeros } from '@normlab/autograd';
import { Generator, fromTyped } from '@normlab/tensor';
import {
  Flatten, GELU, Identity, LeakyReLU, Linear, LogSoftmax, Module, ModuleList, ReLU, Sequential, Sigmoid, Softmax, Softplus, Tanh, init,
} from '../src/index.js';

const vals = (t: Tensor): number[] => Array.from(t.toTypedArray(), Number);

/** A float64 tensor of the given shape with N(0, 1) values from `seed`. */
function randn64(shape: number[], seed: number, requiresGrad = false): Tensor {
  const g = new Generator(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return new Tensor(fromTyped(Float64Array.from({ length: n }, () => g.normal()), shape), { requiresGrad });
}

/** A Linear with hand-picked weights W [[1, 2, 3], [-1, 0.5, 0]] and bias [0.5, -2]. */
function handLinear(bias = true): Linear {
  const lin = new Linear(3, 2, { bias, dtype: 'float64' });
  lin.loadStateDict(bias ? { weight: tensor([[1, 2, 3], [-1, 0.5, 0]]), bias: tensor([0.5, -2]) } : { weight: tensor([[1, 2, 3], [-1, 0.5, 0]]) });
  return lin;
}

describe('Linear forward', () => {
  it('equals x W^T + b on hand values, [N, in]', () => {
    const y = handLinear().forward(tensor([[1, 1, 1], [2, 0, -1]], { dtype: 'float64' }));
    expect(y.shape).toEqual([2, 2]);
    // Row 1: [1+2+3+0.5, -1+0.5+0-2]; row 2: [2+0-3+0.5, -2+0+0-2].
    expect(vals(y)).toEqual([6.5, -2.5, -0.5, -4]);
    expect(y.dtype).toBe('float64');
  });

  it('a 1-D input [in] gives [out]', () => {
    const y = handLinear().forward(tensor([1, 1, 1], { dtype: 'float64' }));
    expect(y.shape).toEqual([2]);
    expect(vals(y)).toEqual([6.5, -2.5]);
  });

  it('batched input [B, N, in] gives [B, N, out], each row as the 2-D case', () => {
    const lin = new Linear(4, 3, { dtype: 'float64' });
    const x = randn64([2, 5, 4], 1);
    const y = lin.forward(x);
    expect(y.shape).toEqual([2, 5, 3]);
    const flat = lin.forward(x.reshape(10, 4));
    const a = vals(y);
    const b = vals(flat);
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i], 12);
  });

  it('bias false: x W^T, one parameter', () => {
    const lin = handLinear(false);
    expect(lin.bias).toBeNull();
    expect([...lin.namedParameters()].map(([k]) => k)).toEqual(['weight']);
    expect([...lin.stateDict().keys()]).toEqual(['weight']);
    expect(vals(lin.forward(tensor([[1, 1, 1]], { dtype: 'float64' })))).toEqual([6, -0.5]);
    expect(lin.toString()).toBe('Linear(inFeatures=3, outFeatures=2, bias=false)');
  });

  it('shapes of the parameters and argument errors', () => {
    const lin = new Linear(5, 7);
    expect(lin.weight.shape).toEqual([7, 5]);
    expect(lin.bias!.shape).toEqual([7]);
    expect(lin.weight.dtype).toBe('float32');
    expect(() => lin.forward(zeros([2, 4]))).toThrow(/last dim 5/);
    expect(() => lin.forward(tensor(1))).toThrow(RangeError);
    expect(() => new Linear(-1, 2)).toThrow(/inFeatures/);
    expect(() => new Linear(2, 1.5)).toThrow(/outFeatures/);
  });

  it('inFeatures 0 (as torch): zero bias bound, output all zeros', () => {
    const lin = new Linear(0, 2);
    expect(vals(lin.bias!)).toEqual([0, 0]);
    const y = lin.forward(zeros([3, 0]));
    expect(y.shape).toEqual([3, 2]);
    expect(vals(y).every((v) => v === 0)).toBe(true);
  });

  it('gradients wrt input, weight and bias pass gradcheck in float64', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.nat(1000), (n, inF, outF, seed) => {
        const lin = new Linear(inF, outF, { dtype: 'float64' });
        init.normal(lin.weight, 0, 1, new Generator(seed));
        init.normal(lin.bias!, 0, 1, new Generator(seed + 1));
        const x = randn64([n, inF], seed + 2, true);
        expect(gradcheck((xi) => lin.forward(xi), [x, lin.weight, lin.bias!])).toBe(true);
      }),
      { numRuns: 10 },
    );
  });

  it('backward gives dW = g^T x and db = sum of g on hand values', () => {
    const lin = handLinear();
    const x = tensor([[1, 2, 3], [4, 5, 6]], { dtype: 'float64' });
    lin.forward(x).sum().backward();
    expect(vals(lin.weight.grad!)).toEqual([5, 7, 9, 5, 7, 9]);
    expect(vals(lin.bias!.grad!)).toEqual([2, 2]);
  });
});

describe('activations', () => {
  const x = tensor([-3, -1, -0.5, 0, 0.5, 1, 3, 25], { dtype: 'float64' });

  it('match the autograd ops', () => {
    const pairs: [Module, Tensor][] = [
      [new ReLU(), x.relu()],
      [new LeakyReLU(), x.leakyRelu(0.01)],
      [new LeakyReLU(0.2), x.leakyRelu(0.2)],
      [new Sigmoid(), x.sigmoid()],
      [new Tanh(), x.tanh()],
      [new GELU(), x.gelu()],
      [new GELU('tanh'), x.gelu({ approximate: 'tanh' })],
      [new Softplus(), x.softplus()],
      [new Softplus(2, 1), x.softplus({ beta: 2, threshold: 1 })],
    ];
    for (const [m, expected] of pairs) expect(vals((m.forward as (t: Tensor) => Tensor)(x))).toEqual(vals(expected));
  });

  it('hand values', () => {
    expect(vals(new ReLU().forward(x))).toEqual([0, 0, 0, 0, 0.5, 1, 3, 25]);
    expect(vals(new LeakyReLU(0.1).forward(tensor([-2, 3], { dtype: 'float64' })))).toEqual([-0.2, 3]);
    expect(new Sigmoid().forward(tensor([0], { dtype: 'float64' })).item()).toBe(0.5);
    expect(new Tanh().forward(tensor([1], { dtype: 'float64' })).item()).toBeCloseTo(Math.tanh(1), 15);
    // GELU(1) = Phi(1) = 0.8413447460685429.
    expect(new GELU().forward(tensor([1], { dtype: 'float64' })).item()).toBeCloseTo(0.8413447460685429, 7);
    // Softplus is linear above threshold / beta: x = 25 > 20.
    expect(new Softplus().forward(tensor([25, 0], { dtype: 'float64' })).toArray()).toEqual([25, Math.log(2)]);
  });

  it('Softmax and LogSoftmax along a dim', () => {
    const m = tensor([[1, 2, 3], [0, 0, 0]], { dtype: 'float64' });
    const s = vals(new Softmax(1).forward(m));
    const e = [Math.exp(1), Math.exp(2), Math.exp(3)];
    const z = e[0] + e[1] + e[2];
    [e[0] / z, e[1] / z, e[2] / z, 1 / 3, 1 / 3, 1 / 3].forEach((v, i) => expect(s[i]).toBeCloseTo(v, 14));
    const ls = vals(new LogSoftmax(1).forward(m));
    s.forEach((v, i) => expect(ls[i]).toBeCloseTo(Math.log(v), 13));
    const s0 = vals(new Softmax(0).forward(m));
    expect(s0[0] + s0[3]).toBeCloseTo(1, 14);
    expect(vals(new Softmax(-1).forward(m))).toEqual(s);
  });

  it('repr of settings', () => {
    expect(new LeakyReLU(0.2).toString()).toBe('LeakyReLU(negativeSlope=0.2)');
    expect(new Softmax(1).toString()).toBe('Softmax(dim=1)');
    expect(new ReLU().toString()).toBe('ReLU()');
  });

  it('gradients flow through the modules', () => {
    const t = tensor([-1, 2], { dtype: 'float64', requiresGrad: true });
    new ReLU().forward(t).sum().backward();
    expect(vals(t.grad!)).toEqual([0, 1]);
  });
});

describe('Flatten and Identity', () => {
  it('Flatten keeps the batch dim by default (startDim 1, endDim -1)', () => {
    const f = new Flatten();
    expect(f.startDim).toBe(1);
    expect(f.endDim).toBe(-1);
    const x = tensor(Array.from({ length: 24 }, (_, i) => i)).reshape(2, 3, 4);
    const y = f.forward(x);
    expect(y.shape).toEqual([2, 12]);
    expect(vals(y)).toEqual(vals(x));
    expect(new Flatten(0).forward(x).shape).toEqual([24]);
    expect(new Flatten(1, 2).forward(zeros([2, 3, 4, 5])).shape).toEqual([2, 12, 5]);
    expect(f.toString()).toBe('Flatten(startDim=1, endDim=-1)');
  });

  it('Identity returns its input', () => {
    const x = tensor([1, 2]);
    expect(new Identity().forward(x)).toBe(x);
    expect(new Identity().parameters()).toEqual([]);
  });
});

describe('Sequential', () => {
  it('runs its modules in order', () => {
    const seq = new Sequential(handLinear(), new ReLU());
    expect(vals(seq.forward(tensor([[1, 1, 1]], { dtype: 'float64' })))).toEqual([6.5, 0]);
  });

  it('at (negative from the end), length, add', () => {
    const a = new Linear(2, 3);
    const r = new ReLU();
    const b = new Linear(3, 1);
    const seq = new Sequential(a, r);
    expect(seq.length).toBe(2);
    expect(seq.at(0)).toBe(a);
    expect(seq.at(-1)).toBe(r);
    expect(seq.at(-2)).toBe(a);
    expect(() => seq.at(2)).toThrow(RangeError);
    expect(() => seq.at(-3)).toThrow(RangeError);
    expect(seq.add(b)).toBe(seq);
    expect(seq.length).toBe(3);
    expect(seq.at(2)).toBe(b);
    expect([...seq.namedParameters()].map(([k]) => k)).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
    expect(seq.forward(zeros([4, 2])).shape).toEqual([4, 1]);
    expect(() => seq.add({} as Module)).toThrow(TypeError);
  });

  it('an empty Sequential is the identity', () => {
    const x = tensor([1]);
    expect(new Sequential().forward(x)).toBe(x);
    expect(new Sequential().length).toBe(0);
  });

  it('named modules keep their insertion order (as torch add_module)', () => {
    const seq = new Sequential();
    seq.add(new Identity(), 'first');
    seq.add(new ReLU());
    expect([...seq.namedChildren()].map(([k]) => k)).toEqual(['first', '1']);
    expect(seq.at(0)).toBeInstanceOf(Identity);
  });
});

describe('ModuleList', () => {
  it('iterates its modules and registers their parameters', () => {
    const layers = [new Linear(2, 2), new Linear(2, 3)];
    const list = new ModuleList(layers);
    expect([...list]).toEqual(layers);
    expect(list.length).toBe(2);
    expect(list.at(-1)).toBe(layers[1]);
    expect(list.parameters()).toHaveLength(4);
    list.push(new Linear(3, 1));
    expect(list.length).toBe(3);
    class Stack extends Module {
      readonly blocks = list;
      forward(x: Tensor): Tensor {
        let out = x;
        for (const m of this.blocks) out = (m as Linear).forward(out);
        return out;
      }
    }
    const net = new Stack();
    expect([...net.namedParameters()].map(([k]) => k)).toEqual([
      'blocks.0.weight', 'blocks.0.bias', 'blocks.1.weight', 'blocks.1.bias', 'blocks.2.weight', 'blocks.2.bias',
    ]);
    net.forward(zeros([1, 2])).sum().backward();
    expect(net.parameters().every((p) => p.grad !== null)).toBe(true);
    expect(() => list.forward()).toThrow(/no forward/);
    expect(() => list.push({} as Module)).toThrow(TypeError);
  });
});

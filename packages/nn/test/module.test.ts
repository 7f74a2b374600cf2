/**
 * Module against torch.nn.Module: parameter discovery and names, buffers,
 * stateDict / loadStateDict, modes, zeroGrad, apply, forward hooks, repr, to().
 */
import { describe, expect, it } from 'vitest';
import { Tensor, randn, tensor, zeros } from '@normlab/autograd';
import { Generator } from '@normlab/tensor';
import {
  BatchNorm1d, Linear, Module, ModuleList, Parameter, ReLU, Sequential, Tanh, deserialize, init, pytorchKey, serialize, weightNorm,
} from '../src/index.js';

/** A custom module holding a Sequential, like a typical model. */
class Net extends Module {
  readonly features: Sequential;
  readonly head: Linear;
  constructor(seed = 0) {
    super();
    this.features = new Sequential(new Linear(4, 3), new ReLU());
    this.head = new Linear(3, 2, { bias: false });
    const g = new Generator(seed);
    for (const p of this.parameters()) init.uniform(p, -1, 1, g);
  }
  forward(x: Tensor): Tensor {
    return this.head.forward(this.features.forward(x));
  }
}

/** A module with running statistics kept in buffers, as BatchNorm. */
class WithStats extends Module {
  readonly fc = new Linear(2, 2);
  declare runningMean: Tensor;
  declare scratch: Tensor;
  declare optional: Tensor | null;
  constructor() {
    super();
    this.registerBuffer('runningMean', tensor([0.5, -0.5]));
    this.registerBuffer('scratch', tensor([9]), { persistent: false });
    this.registerBuffer('optional', null);
  }
  forward(x: Tensor): Tensor {
    return this.fc.forward(x).sub(this.runningMean);
  }
}

const vals = (t: Tensor): number[] => Array.from(t.toTypedArray(), Number);

describe('parameter discovery', () => {
  it('finds parameters in assignment order with dotted names', () => {
    const net = new Net();
    expect([...net.namedParameters()].map(([k]) => k)).toEqual(['features.0.weight', 'features.0.bias', 'head.weight']);
    expect(net.parameters()).toHaveLength(3);
    expect(net.parameters()[0]).toBe((net.features.at(0) as Linear).weight);
    expect(net.parameters().every((p) => p instanceof Parameter && p.requiresGrad)).toBe(true);
  });

  it('names modules and children like named_modules / named_children', () => {
    const net = new Net();
    expect([...net.namedModules()].map(([k]) => k)).toEqual(['', 'features', 'features.0', 'features.1', 'head']);
    expect([...net.namedChildren()].map(([k]) => k)).toEqual(['features', 'head']);
    expect(net.children()).toEqual([net.features, net.head]);
  });

  it("a module's own parameters come before its submodules", () => {
    class Scale extends Module {
      readonly inner = new Linear(2, 2);
      readonly gain = new Parameter(zeros([2]));
      forward(x: Tensor): Tensor {
        return this.inner.forward(x).mul(this.gain);
      }
    }
    expect([...new Scale().namedParameters()].map(([k]) => k)).toEqual(['gain', 'inner.weight', 'inner.bias']);
  });

  it('counts a shared parameter once, under its first name', () => {
    const shared = new Linear(3, 3);
    class Tied extends Module {
      readonly a = shared;
      readonly b = new Linear(3, 3);
      constructor() {
        super();
        Reflect.set(this.b, 'weight', shared.weight);
      }
      forward(x: Tensor): Tensor {
        return this.b.forward(this.a.forward(x));
      }
    }
    const m = new Tied();
    expect([...m.namedParameters()].map(([k]) => k)).toEqual(['a.weight', 'a.bias', 'b.bias']);
    // A module reached twice is counted once too.
    const twice = new Sequential(shared, shared);
    expect(twice.parameters()).toHaveLength(2);
    expect(twice.modules()).toEqual([twice, shared]);
    expect([...twice.namedModules()].map(([k]) => k)).toEqual(['', '0']);
    expect(twice.children()).toEqual([shared]);
    // ... but the container still holds and runs it twice, and stateDict saves both names.
    expect(twice.length).toBe(2);
    expect([...twice.stateDict().keys()]).toEqual(['0.weight', '0.bias', '1.weight', '1.bias']);
    const x = tensor([[1, 2, 3]]);
    expect(vals(twice.forward(x))).toEqual(vals(shared.forward(shared.forward(x))));
    // A shared buffer is listed once.
    const stats = new WithStats();
    expect(new Sequential(stats, stats).buffers()).toHaveLength(2);
  });

  it('a tensor that is not a Parameter is not a parameter', () => {
    class Plain extends Module {
      readonly w = new Parameter(zeros([2]));
      readonly notTrained = tensor([1, 2]);
      forward(): Tensor {
        return this.w;
      }
    }
    expect([...new Plain().namedParameters()].map(([k]) => k)).toEqual(['w']);
  });
});

describe('buffers', () => {
  it('registerBuffer: persistent, non-persistent and null buffers', () => {
    const m = new WithStats();
    expect([...m.namedBuffers()].map(([k]) => k)).toEqual(['runningMean', 'scratch']);
    expect(m.buffers()).toEqual([m.runningMean, m.scratch]);
    expect(m.optional).toBeNull();
    // Buffers are not parameters.
    expect([...m.namedParameters()].map(([k]) => k)).toEqual(['fc.weight', 'fc.bias']);
  });

  it('nested buffers get dotted names; a null buffer set later appears', () => {
    const outer = new Sequential(new WithStats());
    expect([...outer.namedBuffers()].map(([k]) => k)).toEqual(['0.runningMean', '0.scratch']);
    const inner = outer.at(0) as WithStats;
    inner.optional = tensor([1]);
    expect([...outer.namedBuffers()].map(([k]) => k)).toEqual(['0.runningMean', '0.scratch', '0.optional']);
    expect([...outer.stateDict().keys()]).toContain('0.optional');
  });

  it('rejects a Parameter or a non-tensor as buffer', () => {
    const m = new WithStats();
    expect(() => m.registerBuffer('p', new Parameter(zeros([1])))).toThrow(/Parameter/);
    expect(() => m.registerBuffer('n', 3 as unknown as Tensor)).toThrow(TypeError);
  });
});

describe('stateDict / loadStateDict', () => {
  it('holds parameters and persistent buffers (not non-persistent or null ones)', () => {
    const m = new WithStats();
    const sd = m.stateDict();
    // As torch: a module's own parameters, then its own buffers, then its children's.
    expect([...sd.keys()]).toEqual(['runningMean', 'fc.weight', 'fc.bias']);
    // The running statistics are part of a checkpoint.
    expect(vals(sd.get('runningMean')!)).toEqual([0.5, -0.5]);
    // Detached, sharing values.
    expect(sd.get('fc.weight')!.requiresGrad).toBe(false);
    expect(vals(sd.get('fc.weight')!)).toEqual(vals(m.fc.weight));
  });

  it('keys of a nested model', () => {
    expect([...new Net().stateDict().keys()]).toEqual(['features.0.weight', 'features.0.bias', 'head.weight']);
  });

  it('round trip into a fresh model gives identical outputs', () => {
    const a = new Net(1);
    const b = new Net(2);
    const x = tensor([[0.1, -0.2, 0.3, 0.4], [1, 2, -3, 0.5]]);
    expect(vals(b.forward(x))).not.toEqual(vals(a.forward(x)));
    const weightBefore = b.head.weight;
    const result = b.loadStateDict(a.stateDict());
    expect(result).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(vals(b.forward(x))).toEqual(vals(a.forward(x)));
    // Parameters keep their identity (optimizers hold them), and still require grad.
    expect(b.head.weight).toBe(weightBefore);
    expect(b.head.weight.requiresGrad).toBe(true);
    // The loaded values are copies: changing the source afterwards does not leak.
    init.constant(a.head.weight, 7);
    expect(vals(b.head.weight)).not.toContain(7);
  });

  it('round trip restores buffers', () => {
    const a = new WithStats();
    a.registerBuffer('runningMean', tensor([3, 4]));
    const b = new WithStats();
    b.loadStateDict(a.stateDict());
    expect(vals(b.runningMean)).toEqual([3, 4]);
    // Non-persistent buffers are left alone.
    expect(vals(b.scratch)).toEqual([9]);
  });

  it('accepts a plain object', () => {
    const a = new Linear(2, 1);
    const b = new Linear(2, 1);
    b.loadStateDict({ weight: a.weight.detach(), bias: a.bias!.detach() });
    expect(vals(b.weight)).toEqual(vals(a.weight));
  });

  it('strict mode lists missing and unexpected keys', () => {
    const m = new WithStats();
    const sd = m.stateDict();
    sd.delete('fc.bias');
    sd.set('extra.thing', tensor([1]));
    expect(() => m.loadStateDict(sd)).toThrow(/missing keys \[fc\.bias\].*unexpected keys \[extra\.thing\]/);
  });

  it('non-strict mode loads what matches and reports the rest', () => {
    const m = new WithStats();
    const sd = new Map<string, Tensor>([['runningMean', tensor([7, 8])], ['bogus', tensor([1])]]);
    const r = m.loadStateDict(sd, { strict: false });
    expect(r.missingKeys).toEqual(['fc.weight', 'fc.bias']);
    expect(r.unexpectedKeys).toEqual(['bogus']);
    expect(vals(m.runningMean)).toEqual([7, 8]);
  });

  it('a shape mismatch names the key and both shapes', () => {
    const m = new Linear(3, 2);
    const sd = m.stateDict();
    sd.set('weight', zeros([2, 4]));
    expect(() => m.loadStateDict(sd)).toThrow(/'weight'.*\[2, ?4\].*\[2, ?3\]/);
  });
});

describe('modes, zeroGrad, apply', () => {
  it('train() / eval() reach every submodule', () => {
    const net = new Net();
    expect(net.modules().every((m) => m.training)).toBe(true);
    expect(net.eval()).toBe(net);
    expect(net.modules().every((m) => !m.training)).toBe(true);
    net.train();
    expect(net.modules().every((m) => m.training)).toBe(true);
    net.features.train(false);
    expect(net.training).toBe(true);
    expect(net.features.at(0).training).toBe(false);
  });

  it('zeroGrad sets gradients to null by default, to zeros with setToNone false', () => {
    const net = new Net();
    net.forward(tensor([[1, 2, 3, 4]])).sum().backward();
    expect(net.parameters().every((p) => p.grad !== null)).toBe(true);
    net.zeroGrad({ setToNone: false });
    for (const p of net.parameters()) {
      expect(p.grad!.shape).toEqual(p.shape);
      expect(p.grad!.dtype).toBe(p.dtype);
      expect(vals(p.grad!).every((v) => v === 0)).toBe(true);
    }
    // Gradients accumulate from zero again.
    net.forward(tensor([[1, 2, 3, 4]])).sum().backward();
    const g1 = vals(net.head.weight.grad!);
    net.zeroGrad();
    expect(net.parameters().every((p) => p.grad === null)).toBe(true);
    net.forward(tensor([[1, 2, 3, 4]])).sum().backward();
    expect(vals(net.head.weight.grad!)).toEqual(g1);
  });

  it('zeroGrad with setToNone false clears non-finite gradients too', () => {
    const lin = new Linear(1, 1);
    lin.weight.grad = tensor([[Number.NaN]]);
    lin.bias!.grad = tensor([Number.POSITIVE_INFINITY]);
    lin.zeroGrad({ setToNone: false });
    expect(vals(lin.weight.grad)).toEqual([0]);
    expect(vals(lin.bias!.grad!)).toEqual([0]);
  });

  it('apply visits children first, then the module itself', () => {
    const net = new Net();
    const names = new Map([...net.namedModules()].map(([k, m]) => [m, k === '' ? '<root>' : k] as const));
    const order: string[] = [];
    expect(net.apply((m) => order.push(names.get(m)!))).toBe(net);
    expect(order).toEqual(['features.0', 'features.1', 'features', 'head', '<root>']);
  });

  it('apply can re-initialize every Linear', () => {
    const net = new Net();
    net.apply((m) => {
      if (m instanceof Linear) init.constant(m.weight, 0.25);
    });
    expect(vals(net.head.weight).every((v) => v === 0.25)).toBe(true);
    expect(vals((net.features.at(0) as Linear).weight).every((v) => v === 0.25)).toBe(true);
  });
});

describe('forward hooks', () => {
  it('see the module, its inputs and its output; remove() unregisters', () => {
    const lin = new Linear(2, 1);
    const seen: [Module, readonly unknown[], unknown][] = [];
    const handle = lin.registerForwardHook((m, inputs, output) => {
      seen.push([m, inputs, output]);
    });
    const x = tensor([[1, 2]]);
    const y = lin.forward(x);
    expect(seen).toHaveLength(1);
    expect(seen[0][0]).toBe(lin);
    expect(seen[0][1]).toEqual([x]);
    expect(seen[0][1][0]).toBe(x);
    expect(seen[0][2]).toBe(y);
    handle.remove();
    lin.forward(x);
    expect(seen).toHaveLength(1);
    handle.remove(); // a second remove is harmless
  });

  it('run for nested modules, innermost first', () => {
    const net = new Net();
    const calls: string[] = [];
    for (const [name, m] of net.namedModules()) m.registerForwardHook(() => {
      calls.push(name || '<root>');
    });
    net.forward(tensor([[1, 2, 3, 4]]));
    expect(calls).toEqual(['features.0', 'features.1', 'features', 'head', '<root>']);
  });

  it('a hook that returns a value replaces the output (as PyTorch)', () => {
    const relu = new ReLU();
    relu.registerForwardHook((_m, _inputs, output) => (output as Tensor).mul(2));
    expect(vals(relu.forward(tensor([-1, 3])))).toEqual([0, 6]);
  });
});

describe('printing', () => {
  it('prints the tree like PyTorch repr', () => {
    expect(new Net().toString()).toBe(
      [
        'Net(',
        '  (features): Sequential(',
        '    (0): Linear(inFeatures=4, outFeatures=3, bias=true)',
        '    (1): ReLU()',
        '  )',
        '  (head): Linear(inFeatures=3, outFeatures=2, bias=false)',
        ')',
      ].join('\n'),
    );
    expect(String(new Tanh())).toBe('Tanh()');
    expect(new ModuleList([new ReLU()]).toString()).toBe('ModuleList(\n  (0): ReLU()\n)');
  });

  it('a module with settings and children puts the settings on their own line', () => {
    class Block extends Module {
      readonly fc = new Linear(2, 2);
      forward(x: Tensor): Tensor {
        return this.fc.forward(x);
      }
      override extraRepr(): string {
        return 'scale=2';
      }
    }
    expect(new Block().toString()).toBe('Block(\n  scale=2\n  (fc): Linear(inFeatures=2, outFeatures=2, bias=true)\n)');
    class Multi extends Module {
      forward(x: Tensor): Tensor {
        return x;
      }
      override extraRepr(): string {
        return 'a=1\nb=2';
      }
    }
    expect(new Multi().toString()).toBe('Multi(\n  a=1\n  b=2\n)');
  });
});

describe('to()', () => {
  it("to('cpu') keeps values, parameters, buffers and gradients", () => {
    const m = new WithStats();
    const before = m.stateDict();
    const w = m.fc.weight;
    m.fc.forward(tensor([[1, 1]])).sum().backward();
    const grad = vals(w.grad!);
    expect(m.to('cpu')).toBe(m);
    expect(m.fc.weight).toBe(w);
    expect(w.requiresGrad).toBe(true);
    for (const [k, v] of m.stateDict()) {
      expect(v.device).toBe('cpu');
      expect(vals(v)).toEqual(vals(before.get(k)!));
    }
    expect(vals(w.grad!)).toEqual(grad);
  });
});

describe('Module.to({ dtype }), double(), float()', () => {
  it('cast parameters, their gradients and floating buffers; integer buffers keep their type; parameters keep their identity', async () => {
    const { BatchNorm1d, optim } = await import('../src/index.js');
    const model = new Sequential(new Linear(3, 4), new BatchNorm1d(4));
    const [w] = model.parameters();
    const opt = new optim.SGD(model.parameters(), { lr: 0.1 });
    model.forward(tensor([[1, 2, 3], [4, 5, 6]])).sum().backward();
    expect(model.double()).toBe(model);
    expect(model.parameters()[0]).toBe(w);
    expect(model.parameters().every((p) => p.dtype === 'float64' && p.grad!.dtype === 'float64')).toBe(true);
    const bn = model.modules()[2] as InstanceType<typeof BatchNorm1d>;
    expect([bn.runningMean!.dtype, bn.runningVar!.dtype, bn.numBatchesTracked!.dtype]).toEqual(['float64', 'float64', 'int32']);
    // Values are kept (float32 -> float64 is exact), and training goes on in float64.
    const y = model.forward(tensor([[1, 2, 3], [4, 5, 6]], { dtype: 'float64' }));
    expect(y.dtype).toBe('float64');
    opt.zeroGrad();
    y.sum().backward();
    opt.step();
    expect(w.dtype).toBe('float64');
    model.float();
    expect(model.parameters().every((p) => p.dtype === 'float32')).toBe(true);
    expect(bn.numBatchesTracked!.dtype).toBe('int32');
    expect(model.to({ device: 'cpu', dtype: 'float64' }).parameters()[0].dtype).toBe('float64');
    expect(model.to('cpu').parameters()[0].dtype).toBe('float64');
    expect(() => model.to({ dtype: 'int32' })).toThrow(/Sequential\.to: dtype must be a floating point type \(float32 or float64\), got int32/);
  });
});

describe('loadStateDict with a bad state', () => {
  it('loads nothing and names every problem at once', async () => {
    const { BatchNorm1d } = await import('../src/index.js');
    const model = new Sequential(new Linear(3, 2), new BatchNorm1d(2));
    const before = [...model.stateDict()].map(([k, v]) => [k, Array.from(v.data.toTypedArray(), Number)]);
    const state = new Map([...model.stateDict()].map(([k, v]) => [k, new Tensor(v.data.clone())]));
    state.set('0.bias', zeros([2]).add(7)); // fine on its own, but must not be loaded
    state.set('0.weight', zeros([2, 4]));
    state.set('1.numBatchesTracked', zeros([]));
    expect(() => model.loadStateDict(state)).toThrow(/loadStateDict: nothing was loaded: '0\.weight' has shape \[2,4\] in the state but \[2,3\] in the module; '1\.numBatchesTracked' is float32 in the state but int32 in the module/);
    expect([...model.stateDict()].map(([k, v]) => [k, Array.from(v.data.toTypedArray(), Number)])).toEqual(before);
    // float64 values load into float32 parameters, as PyTorch's copy_.
    state.set('0.weight', zeros([2, 3], { dtype: 'float64' }));
    state.set('1.numBatchesTracked', zeros([], { dtype: 'int32' }));
    model.loadStateDict(state);
    expect(model.stateDict().get('0.bias')!.toArray()).toEqual([7, 7]);
    expect(model.stateDict().get('0.weight')!.dtype).toBe('float32');
  });
});

describe("PyTorch's names", () => {
  it('pytorchKey puts each camelCase segment in snake_case and leaves the rest', () => {
    expect(['1.runningMean', 'features.3.numBatchesTracked', 'fc.weightG', 'layer1.0.bn1.runningVar', 'head.weight', '0', 'W', 'conv1x1.bias'].map(pytorchKey))
      .toEqual(['1.running_mean', 'features.3.num_batches_tracked', 'fc.weight_g', 'layer1.0.bn1.running_var', 'head.weight', '0', 'W', 'conv1x1.bias']);
  });

  it("stateDict({ naming: 'pytorch' }) gives torch's keys, in the same order, sharing the same tensors' values", () => {
    const model = new Sequential(new Linear(3, 4), new BatchNorm1d(4), new ReLU(), weightNorm(new Linear(4, 2)));
    expect([...model.stateDict({ naming: 'pytorch' }).keys()]).toEqual([
      '0.weight', '0.bias', '1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked', '3.bias', '3.weight_g', '3.weight_v',
    ]);
    const own = [...model.stateDict().values()].map((t) => t.toArray());
    expect([...model.stateDict({ naming: 'pytorch' }).values()].map((t) => t.toArray())).toEqual(own);
    expect(() => model.stateDict({ naming: 'torch' as 'pytorch' })).toThrow(/stateDict: naming must be 'normlab' or 'pytorch', got 'torch'/);
  });

  it('two fields with the same PyTorch name are an error naming both', () => {
    class Twins extends Module {
      readonly runningMean = new Parameter(zeros([1]));
      readonly running_mean = new Parameter(zeros([1]));
      forward(x: Tensor): Tensor {
        return x;
      }
    }
    expect(() => new Twins().stateDict({ naming: 'pytorch' })).toThrow(/stateDict: 'runningMean' and 'running_mean' both have the PyTorch name 'running_mean'/);
    expect([...new Twins().stateDict().keys()]).toEqual(['runningMean', 'running_mean']);
  });

  it('loadStateDict takes either naming, mixed; a key given in both is an error, and nothing loads', () => {
    const a = new Sequential(new Linear(3, 4), new BatchNorm1d(4));
    a.forward(randn([8, 3], { generator: new Generator(1) }));
    const b = new Sequential(new Linear(3, 4), new BatchNorm1d(4));
    expect(b.loadStateDict(a.stateDict({ naming: 'pytorch' }))).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect([...b.stateDict()].map(([k, v]) => [k, v.toArray()])).toEqual([...a.stateDict()].map(([k, v]) => [k, v.toArray()]));
    const mixed = new Map([...a.stateDict()].map(([k, v]) => [k === '1.runningVar' ? '1.running_var' : k, v]));
    expect(new Sequential(new Linear(3, 4), new BatchNorm1d(4)).loadStateDict(mixed).missingKeys).toEqual([]);
    const both = new Map([...a.stateDict(), ['1.running_mean', zeros([4]).add(5)]]);
    const c = new Sequential(new Linear(3, 4), new BatchNorm1d(4));
    expect(() => c.loadStateDict(both)).toThrow(/loadStateDict: nothing was loaded: '1\.runningMean' and '1\.running_mean' both name '1\.runningMean'/);
    expect(c.stateDict().get('1.runningMean')!.toArray()).toEqual([0, 0, 0, 0]);
    // Unknown PyTorch-style keys are reported as given.
    expect(() => c.loadStateDict(new Map([...a.stateDict({ naming: 'pytorch' }), ['1.running_median', zeros([4])]]))).toThrow(/unexpected keys \[1\.running_median\]/);
  });

  it('a PyTorch-named checkpoint with an int64 num_batches_tracked round-trips through safetensors', () => {
    const a = new Sequential(new Linear(3, 4), new BatchNorm1d(4));
    a.forward(randn([8, 3], { generator: new Generator(2) }));
    const bytes = serialize(a.stateDict({ naming: 'pytorch' }), { format: 'pt' }, { int64: true });
    const header = new TextDecoder().decode(bytes.subarray(8, 8 + Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true))));
    expect(header).toMatch(/"1\.num_batches_tracked":\{"dtype":"I64","shape":\[\]/);
    const b = new Sequential(new Linear(3, 4), new BatchNorm1d(4));
    b.loadStateDict(deserialize(bytes).tensors);
    expect([...b.stateDict()].map(([k, v]) => [k, v.dtype, v.toArray()])).toEqual([...a.stateDict()].map(([k, v]) => [k, v.dtype, v.toArray()]));
  });
});

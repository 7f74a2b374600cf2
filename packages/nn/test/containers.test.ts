/**
 * ModuleDict: insertion order (integer-like names included), Map-like access,
 * registration of parameters (names, stateDict round trip, modes), printing
 * and name validation.
 */
import { describe, expect, it } from 'vitest';
import { Tensor, tensor, zeros } from '@normlab/autograd';
import { ModuleDict } from '../src/containers.js';
import { Module } from '../src/module.js';
import { Linear } from '../src/linear.js';
import { Identity, ReLU } from '../src/activation.js';
import { Dropout } from '../src/dropout.js';

const vals = (t: Tensor): number[] => Array.from(t.toTypedArray(), Number);

describe('ModuleDict', () => {
  it('keeps insertion order, integer-like names included (JS objects would list them first)', () => {
    const d = new ModuleDict();
    d.set('b', new ReLU()).set('1', new Identity()).set('a', new ReLU()).set('0', new Identity());
    expect(d.keys()).toEqual(['b', '1', 'a', '0']);
    expect([...d].map(([k]) => k)).toEqual(['b', '1', 'a', '0']);
    expect(d.values().map((m) => m.constructor.name)).toEqual(['ReLU', 'Identity', 'ReLU', 'Identity']);
    expect([...d.namedChildren()].map(([k]) => k)).toEqual(['b', '1', 'a', '0']);
    expect(d.length).toBe(4);
  });

  it('get, has, set (replacing keeps the position), delete, pop, clear', () => {
    const r = new ReLU();
    const i = new Identity();
    const d = new ModuleDict([['r', r], ['i', i]]);
    expect(d.get('r')).toBe(r);
    expect(d.get('missing')).toBeUndefined();
    expect(d.has('i')).toBe(true);
    expect(d.has('x')).toBe(false);
    const j = new Identity();
    d.set('r', j);
    expect(d.keys()).toEqual(['r', 'i']);
    expect(d.get('r')).toBe(j);
    expect(d.delete('r')).toBe(true);
    expect(d.delete('r')).toBe(false);
    expect(d.keys()).toEqual(['i']);
    expect(d.children()).toEqual([i]);
    expect(d.pop('i')).toBe(i);
    expect(() => d.pop('i')).toThrow(/no module named 'i'/);
    d.update({ a: new ReLU(), b: new ReLU() });
    expect(d.entries().map(([k]) => k)).toEqual(['a', 'b']);
    d.clear();
    expect(d.length).toBe(0);
    expect(d.get('a')).toBeUndefined();
  });

  it('registers the parameters of its modules under name.param, in order, and nested in a model', () => {
    const heads = new ModuleDict({ cls: new Linear(4, 3), box: new Linear(4, 2, { bias: false }) });
    expect([...heads.namedParameters()].map(([k]) => k)).toEqual(['cls.weight', 'cls.bias', 'box.weight']);
    class Model extends Module {
      readonly trunk = new Linear(2, 4);
      readonly heads = heads;
      forward(x: Tensor): Tensor[] {
        const f = this.trunk.forward(x);
        return heads.values().map((m) => (m as Linear).forward(f));
      }
    }
    const model = new Model();
    expect([...model.namedParameters()].map(([k]) => k)).toEqual(['trunk.weight', 'trunk.bias', 'heads.cls.weight', 'heads.cls.bias', 'heads.box.weight']);
    const outs = model.forward(zeros([5, 2]));
    expect(outs.map((o) => o.shape)).toEqual([[5, 3], [5, 2]]);
    outs[0].sum().add(outs[1].sum()).backward();
    expect(model.parameters().every((p) => p.grad !== null)).toBe(true);
  });

  it('stateDict / loadStateDict round trip through the names; train / eval reach its modules', () => {
    const a = new ModuleDict({ fc: new Linear(2, 2, { dtype: 'float64' }), 7: new Linear(2, 1, { dtype: 'float64' }), drop: new Dropout() });
    const b = new ModuleDict({ fc: new Linear(2, 2, { dtype: 'float64' }), 7: new Linear(2, 1, { dtype: 'float64' }), drop: new Dropout() });
    // A Record lists '7' first; the dict keeps that order.
    expect([...a.stateDict().keys()]).toEqual(['7.weight', '7.bias', 'fc.weight', 'fc.bias']);
    b.loadStateDict(a.stateDict());
    for (const [k, v] of a.stateDict()) expect(vals(b.stateDict().get(k)!)).toEqual(vals(v));
    b.eval();
    expect(b.get('drop')!.training).toBe(false);
    const x = tensor([[1, 2]], { dtype: 'float64' });
    expect(vals((b.get('fc') as Linear).forward(x))).toEqual(vals((a.get('fc') as Linear).forward(x)));
  });

  it('prints its modules by name', () => {
    const d = new ModuleDict({ act: new ReLU(), fc: new Linear(2, 3) });
    expect(d.toString()).toBe('ModuleDict(\n  (act): ReLU()\n  (fc): Linear(inFeatures=2, outFeatures=3, bias=true)\n)');
    expect(new ModuleDict().toString()).toBe('ModuleDict()');
  });

  it("rejects empty names, names with '.', names of its own properties, and non-modules; has no forward", () => {
    const d = new ModuleDict();
    expect(() => d.set('', new ReLU())).toThrow(TypeError);
    expect(() => d.set('a.b', new ReLU())).toThrow(/must not contain '\.'/);
    for (const name of ['get', 'training', 'forward', 'order', 'constructor']) {
      expect(() => d.set(name, new ReLU())).toThrow(/already an attribute/);
    }
    expect(() => d.set('x', {} as Module)).toThrow(TypeError);
    expect(d.length).toBe(0);
    expect(() => d.forward()).toThrow(/no forward/);
  });
});

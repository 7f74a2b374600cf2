/**
 * functionalCall (torch.func.functional_call): substituted parameters get
 * the gradients, the module's own tensors stay bit-identical, BatchNorm's
 * running statistics go to copies (or to given buffers), tied weights are
 * replaced under every name, and bad names are errors.
 */
import { describe, expect, it } from 'vitest';
import { Tensor, grad } from '@normlab/autograd';
import { BatchNorm1d, Linear, Module, Sequential, functionalCall } from '../src/index.js';
import { randT, vals } from './norm-helpers.js';

/** Every parameter's values and gradient and every buffer's values, by name. */
function snapshot(m: Module): string {
  return JSON.stringify([
    [...m.namedParameters()].map(([k, p]) => [k, vals(p), p.grad ? vals(p.grad) : null]),
    [...m.namedBuffers()].map(([k, b]) => [k, vals(b)]),
  ]);
}

describe('functionalCall', () => {
  it('computes with the given parameters, sends the gradients to them, and leaves the module as it was', () => {
    const layer = new Linear(3, 2, { dtype: 'float64' });
    const before = snapshot(layer);
    const x = randT([4, 3], 1);
    const w = randT([2, 3], 2);
    const y = functionalCall<Tensor>(layer, { params: { weight: w } }, [x]);
    expect(vals(y)).toEqual(vals(x.matmul(w.mT).add(layer.bias!)));
    const [gw] = grad(y.sum(), [w]);
    expect(vals(gw!)).toEqual(vals(x.sum(0).unsqueeze(0).expand([2, 3])));
    expect(snapshot(layer)).toBe(before);
    expect(layer.weight.grad).toBeNull();
  });

  it('keeps a training-mode BatchNorm\'s statistics out of the module: copies by default, the given buffers when given', () => {
    const model = new Sequential(new Linear(3, 4, { dtype: 'float64' }), new BatchNorm1d(4, { dtype: 'float64' }));
    const before = snapshot(model);
    const x = randT([8, 3], 3, { scale: 3 });
    const { output, buffers } = functionalCall<Tensor>(model, {}, [x], { returnBuffers: true });
    expect(snapshot(model)).toBe(before);
    expect(buffers.get('1.numBatchesTracked')!.item()).toBe(1);
    // The same computation as the module's own forward (which does update it).
    const own = model.forward(x);
    expect(vals(output)).toEqual(vals(own));
    expect(vals((model.modules()[2] as BatchNorm1d).runningMean!)).toEqual(vals(buffers.get('1.runningMean')!));
    // Given buffers are updated in place.
    const rm = new Tensor(randT([4], 4, { requiresGrad: false }).data);
    const initial = vals(rm);
    const after = snapshot(model);
    functionalCall(model, { buffers: { '1.runningMean': rm } }, [x]);
    expect(vals(rm)).not.toEqual(initial);
    expect(snapshot(model)).toBe(after);
  });

  it('replaces a tied weight under every name it is held by', () => {
    const a = new Linear(3, 3, { dtype: 'float64', bias: false });
    const b = new Linear(3, 3, { dtype: 'float64', bias: false });
    (b as unknown as { weight: unknown }).weight = a.weight; // tied
    const model = new Sequential(a, b);
    expect([...model.namedParameters()].map(([k]) => k)).toEqual(['0.weight']);
    const w = randT([3, 3], 5);
    const x = randT([2, 3], 6);
    const y = functionalCall<Tensor>(model, { params: { '0.weight': w } }, [x]);
    expect(vals(y)).toEqual(vals(x.matmul(w.mT).matmul(w.mT)));
    expect(b.weight).toBe(a.weight);
  });

  it('names what it does not know, and puts everything back when the forward throws', () => {
    const layer = new Linear(3, 2, { dtype: 'float64' });
    const before = snapshot(layer);
    expect(() => functionalCall(layer, { params: { wieght: randT([2, 3], 1) } }, [randT([1, 3], 2)])).toThrow(/functionalCall: Linear has no params\.wieght \(its parameters: weight, bias; buffers: none\)/);
    expect(() => functionalCall(layer, { params: { weight: randT([2, 3], 1) } }, [randT([1, 3], 2)], { strict: true })).toThrow(/functionalCall: strict, and bias not given/);
    expect(() => functionalCall(layer, { params: { weight: randT([2, 3], 1) } }, [randT([1, 5], 2)])).toThrow(/Linear: expected input with last dim 3/);
    expect(snapshot(layer)).toBe(before);
    expect(layer.weight).toBeInstanceOf(Tensor);
    expect(() => functionalCall(layer, {}, randT([1, 3], 2) as never)).toThrow(/functionalCall: args must be an array/);
  });
});

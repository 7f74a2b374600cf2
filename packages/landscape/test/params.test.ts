/** flattenParams / unflattenParams / flattenGrads, snapshot / restore. */
import { describe, expect, it } from 'vitest';
import { Tensor } from '@normlab/autograd';
import { BatchNorm1d, Linear, ReLU, Sequential, mseLoss } from '@normlab/nn';
import { fromTyped } from '@normlab/tensor';
import { flattenGrads, flattenParams, restore, snapshot, unflattenParams } from '../src/index.js';
import { randn } from './helpers.js';

const build = (): Sequential => new Sequential(new Linear(3, 2), new BatchNorm1d(2), new ReLU(), new Linear(2, 1, { bias: false }));

describe('flattenParams / unflattenParams', () => {
  it('lays the parameters out in namedParameters order, row-major', () => {
    const model = build();
    const flat = flattenParams(model);
    expect(flat.shape).toEqual([6 + 2 + 2 + 2 + 2]);
    expect(flat.requiresGrad).toBe(false);
    const expected = model.parameters().flatMap((p) => Array.from(p.toTypedArray()));
    expect(Array.from(flat.toTypedArray())).toEqual(expected);
  });

  it('unflatten writes back, and round-trips', () => {
    const model = build();
    const before = model.parameters().map((p) => p.data);
    const v = Float32Array.from({ length: 14 }, (_, i) => i - 7);
    unflattenParams(model, new Tensor(fromTyped(v, [14])));
    expect(Array.from(flattenParams(model).toTypedArray())).toEqual(Array.from(v));
    expect(model.parameters()[0].toArray()).toEqual([[-7, -6, -5], [-4, -3, -2]]);
    expect(model.parameters()[4].shape).toEqual([1, 2]);
    // New arrays: the old ones are untouched.
    expect(model.parameters().every((p, i) => p.data !== before[i])).toBe(true);
    // Float64 input is cast to each parameter's dtype.
    unflattenParams(model, fromTyped(Float64Array.from(v, (x) => x / 2), [14]));
    expect(model.parameters()[0].dtype).toBe('float32');
    expect(model.parameters()[0].toArray()).toEqual([[-3.5, -3, -2.5], [-2, -1.5, -1]]);
    expect(() => unflattenParams(model, fromTyped(new Float32Array(13), [13]))).toThrow(/14 values/);
    expect(() => unflattenParams(model, fromTyped(new Float32Array(14), [2, 7]))).toThrow(/1-D/);
  });

  it('flattenGrads: zeros where .grad is null', () => {
    const model = build();
    mseLoss(model.forward(randn([4, 3], 1, { dtype: 'float32' })) as Tensor, randn([4, 1], 2, { dtype: 'float32' })).backward();
    model.parameters()[1].grad = null;
    const g = Array.from(flattenGrads(model).toTypedArray());
    expect(g.slice(6, 8)).toEqual([0, 0]);
    expect(g.slice(0, 6)).toEqual(Array.from(model.parameters()[0].grad!.toTypedArray()));
  });

  it('an empty model flattens to an empty vector', () => {
    const model = new Sequential(new ReLU());
    expect(flattenParams(model).shape).toEqual([0]);
    unflattenParams(model, fromTyped(new Float32Array(0), [0]));
  });
});

describe('snapshot / restore', () => {
  it('restores parameters, gradients (null included) and buffers, into the same or a twin model', () => {
    const model = build();
    const x = randn([5, 3], 3, { dtype: 'float32' });
    model.forward(x);
    (model.forward(x) as Tensor).sum().backward();
    model.parameters()[2].grad = null;
    const snap = snapshot(model);
    const values = (m: Sequential): unknown => [
      m.parameters().map((p) => [Array.from(p.toTypedArray()), p.grad ? Array.from(p.grad.toTypedArray()) : null]),
      [...m.namedBuffers()].map(([n, b]) => [n, Array.from(b.toTypedArray())]),
    ];
    const before = values(model);
    // Change everything, in place too.
    (model.forward(x) as Tensor).sum().backward();
    model.parameters()[2].grad = model.parameters()[2].detach();
    unflattenParams(model, fromTyped(new Float32Array(14).fill(3), [14]));
    expect(values(model)).not.toEqual(before);
    restore(model, snap);
    expect(values(model)).toEqual(before);
    expect(model.parameters()[2].grad).toBeNull();
    // A twin model with other values takes the snapshot too.
    const twin = build();
    restore(twin, snap);
    expect(values(twin)).toEqual(before);
    // Restoring twice gives fresh copies each time.
    expect(twin.parameters()[0].data).not.toBe(model.parameters()[0].data);
    expect(() => restore(new Sequential(new Linear(3, 2)), snap)).toThrow(/no parameter/);
  });
});

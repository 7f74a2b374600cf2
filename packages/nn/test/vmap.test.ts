/**
 * vmap (@normlab/autograd) over networks: per-example gradients in one call
 * through functionalCall, for conv, LayerNorm, GroupNorm and Linear layers,
 * equal to one backward per example; BatchNorm as torch.func treats it
 * (refused while it would update running statistics, fine in eval mode or
 * without running statistics).
 */
import { describe, expect, it } from 'vitest';
import { Tensor, grad, manualSeed, randint, randn, vmap } from '@normlab/autograd';
import {
  BatchNorm2d, Conv2d, Flatten, GroupNorm, LayerNorm, Linear, type Module, ReLU, Sequential, crossEntropy, functionalCall,
} from '../src/index.js';

const flat = (t: Tensor): number[] => Array.from(t.data.toTypedArray(), Number);

function expectClose(a: number[], b: number[], tol: number): void {
  expect(a.length).toBe(b.length);
  a.forEach((v, i) => expect(Math.abs(v - b[i]), `entry ${i}: ${v} vs ${b[i]}`).toBeLessThanOrEqual(tol * (1 + Math.abs(b[i]))));
}

/** Each example's gradient of its own loss, by vmap over functionalCall. */
function perExampleGrads(model: Module, x: Tensor, y: Tensor): Tensor[] {
  const names = [...model.namedParameters()].map(([n]) => n);
  const params = [...model.parameters()].map((p) => p.detach());
  return vmap((xi: Tensor, yi: Tensor, ...ps: Tensor[]): Tensor[] => {
    const leaves = ps.map((p) => p.detach().requiresGrad_());
    const out = functionalCall<Tensor>(model, { params: Object.fromEntries(names.map((n, i) => [n, leaves[i]])) }, [xi.unsqueeze(0)]);
    return grad([crossEntropy(out, yi.unsqueeze(0))], leaves).map((g) => g!);
  }, { inDims: [0, 0, ...params.map(() => null)] })(x, y, ...params);
}

/** The same by one backward per example on the module itself. */
function loopGrads(model: Module, x: Tensor, y: Tensor): number[][][] {
  return Array.from({ length: x.shape[0] }, (_, b) => {
    model.zeroGrad();
    crossEntropy((model.forward as (t: Tensor) => Tensor)(x.slice(0, b, b + 1)), y.slice(0, b, b + 1)).backward();
    return model.parameters().map((p) => flat(p.grad!));
  });
}

function checkAgainstLoop(model: Module, x: Tensor, y: Tensor): void {
  const per = perExampleGrads(model, x, y);
  const loop = loopGrads(model, x, y);
  per.forEach((g, k) => {
    expect(g.shape).toEqual([x.shape[0], ...model.parameters()[k].shape]);
    for (let b = 0; b < x.shape[0]; b++) expectClose(flat(g.select(0, b)), loop[b][k], 1e-10);
  });
}

describe('per-example gradients with vmap and functionalCall', () => {
  it('a conv net with GroupNorm and LayerNorm: equal to one backward per example', () => {
    manualSeed(3);
    const model = new Sequential(
      new Conv2d(2, 4, 3, { padding: 1 }), new GroupNorm(2, 4), new ReLU(), new Flatten(), new Linear(4 * 4 * 4, 5), new LayerNorm(5), new Linear(5, 3),
    ).double();
    const x = randn([5, 2, 4, 4], { dtype: 'float64' });
    const y = randint(0, 3, [5]);
    checkAgainstLoop(model, x, y);
  });

  it('BatchNorm: refused while it would update running statistics; fine in eval mode and without running statistics', () => {
    manualSeed(4);
    const make = (bn: BatchNorm2d): Sequential => new Sequential(new Conv2d(2, 3, 3), bn, new ReLU(), new Flatten(), new Linear(3 * 2 * 2, 2)).double();
    const x = randn([4, 2, 4, 4], { dtype: 'float64' });
    const y = randint(0, 2, [4]);
    const training = make(new BatchNorm2d(3));
    expect(() => perExampleGrads(training, x, y)).toThrow(/batchNorm: cannot update running statistics inside vmap/);
    const evalMode = make(new BatchNorm2d(3));
    evalMode.forward(randn([8, 2, 4, 4], { dtype: 'float64' })); // running statistics that are not the defaults
    evalMode.eval();
    checkAgainstLoop(evalMode, x, y);
    // Without running statistics each example is normalized over its own batch of one, as the loop does.
    checkAgainstLoop(make(new BatchNorm2d(3, { trackRunningStats: false })), x, y);
  });
});

/**
 * Optimizer.stateDict / loadStateDict (resuming training exactly) and
 * addParamGroup, for every optimizer.
 */
import { describe, expect, it } from 'vitest';
import { Tensor, tensor } from '@normlab/autograd';
import { Generator, fromTyped } from '@normlab/tensor';
import { Linear, Parameter, Sequential, Tanh, deserialize, mseLoss, optim, pytorchOptimizerFromTensors, pytorchOptimizerTensors, serialize } from '../src/index.js';

const vals = (t: Tensor): number[] => Array.from(t.toTypedArray(), Number);
const f64 = (xs: number[]): Tensor => tensor(xs, { dtype: 'float64' });
const param = (xs: number[]): Parameter => new Parameter(f64(xs));

type AnyOptimizer = optim.Optimizer<object>;

function makeModel(): Sequential {
  return new Sequential(new Linear(3, 4, { dtype: 'float64' }), new Tanh(), new Linear(4, 1, { dtype: 'float64' }));
}

const g = new Generator(7);
const N = 8;
const xs = new Tensor(fromTyped(Float64Array.from({ length: N * 3 }, () => g.normal()), [N, 3]));
const ys = new Tensor(fromTyped(Float64Array.from({ length: N }, () => g.normal()), [N, 1]));

function train(model: Sequential, opt: AnyOptimizer, steps: number): void {
  for (let k = 0; k < steps; k++) {
    opt.zeroGrad();
    mseLoss(model.forward(xs) as Tensor, ys).backward();
    opt.step();
  }
}

const flatParams = (m: Sequential): number[] => m.parameters().flatMap(vals);

/** Two groups (first Linear, rest) so that indices run across groups. */
function groupsOf(m: Sequential) {
  const ps = m.parameters();
  return [{ params: ps.slice(0, 2) }, { params: ps.slice(2), lr: 0.02 }];
}

const makers: [string, (m: Sequential) => AnyOptimizer][] = [
  ['SGD (momentum, nesterov)', (m) => new optim.SGD(groupsOf(m), { lr: 0.05, momentum: 0.9, nesterov: true })],
  ['Adam (amsgrad, weightDecay)', (m) => new optim.Adam(groupsOf(m), { lr: 0.01, amsgrad: true, weightDecay: 0.01 })],
  ['AdamW', (m) => new optim.AdamW(groupsOf(m), { lr: 0.01 })],
  ['Adagrad (lrDecay)', (m) => new optim.Adagrad(groupsOf(m), { lr: 0.05, lrDecay: 0.1, initialAccumulatorValue: 0.1 })],
  ['RMSprop (centered, momentum)', (m) => new optim.RMSprop(groupsOf(m), { lr: 0.01, centered: true, momentum: 0.5 })],
];

describe('Optimizer.stateDict / loadStateDict', () => {
  for (const [name, make] of makers) {
    it(`${name}: resuming from a state dict gives the same trajectory bit for bit`, () => {
      const model = makeModel();
      const opt = make(model);
      train(model, opt, 3);
      const sd = opt.stateDict();

      const clone = makeModel();
      clone.loadStateDict(model.stateDict());
      const opt2 = make(clone);
      opt2.loadStateDict(sd);
      expect(opt2.state.size).toBe(opt.state.size);

      for (let k = 0; k < 4; k++) {
        train(model, opt, 1);
        train(clone, opt2, 1);
        expect(flatParams(clone)).toEqual(flatParams(model));
      }
      // And the states themselves still agree.
      const a = opt.stateDict();
      const b = opt2.stateDict();
      expect([...b.state.keys()]).toEqual([...a.state.keys()]);
      for (const [i, s] of a.state) {
        for (const [k, v] of Object.entries(s)) {
          const w = b.state.get(i)![k];
          if (v instanceof Tensor) expect(vals(w as Tensor)).toEqual(vals(v));
          else expect(w).toBe(v);
        }
      }
    });
  }

  it('the layout: state keyed by index across groups, groups with options and indices', () => {
    const a = param([1, 2]);
    const b = param([3]);
    const c = param([4]);
    const opt = new optim.Adam([{ params: [a, b] }, { params: [c], lr: 0.5 }], { lr: 0.1 });
    b.grad = f64([1]);
    c.grad = f64([1]);
    opt.step();
    const sd = opt.stateDict();
    expect(sd.paramGroups.map((grp) => grp.params)).toEqual([[0, 1], [2]]);
    expect(sd.paramGroups[1].options.lr).toBe(0.5);
    expect([...sd.state.keys()]).toEqual([1, 2]);
    expect(sd.state.get(1)!.step).toBe(1);
  });

  it('restores the options, a changed lr included, and copies them', () => {
    const p = param([1]);
    const opt = new optim.SGD([p], { lr: 0.1, momentum: 0.9 });
    opt.paramGroups[0].options.lr = 0.025;
    const sd = opt.stateDict();
    const q = param([1]);
    const opt2 = new optim.SGD([q], { lr: 0.1 });
    opt2.loadStateDict(sd);
    expect(opt2.paramGroups[0].options).toEqual({ ...opt.paramGroups[0].options });
    sd.paramGroups[0].options.lr = 7;
    expect(opt2.paramGroups[0].options.lr).toBe(0.025);
    expect(opt.paramGroups[0].options.lr).toBe(0.025);
  });

  it('copies the state tensors: later changes to the loaded state do not reach the source', () => {
    const p = param([1, 2]);
    const opt = new optim.Adam([p], { lr: 0.1 });
    p.grad = f64([1, 1]);
    opt.step();
    const sd = opt.stateDict();
    const q = param([1, 2]);
    const opt2 = new optim.Adam([q], { lr: 0.1 });
    opt2.loadStateDict(sd);
    const mine = opt2.state.get(q)!.expAvg as Tensor;
    const theirs = opt.state.get(p)!.expAvg as Tensor;
    expect(mine).not.toBe(theirs);
    expect(mine.data).not.toBe(theirs.data);
    expect(vals(mine)).toEqual(vals(theirs));
    // The state is keyed by the new optimizer's parameters.
    expect(opt2.state.has(q)).toBe(true);
    expect(opt2.state.has(p)).toBe(false);
  });

  it('casts state tensors to the parameter dtype, as torch', () => {
    const p = param([1, 2]);
    const opt = new optim.Adam([p], { lr: 0.1 });
    p.grad = f64([1, 1]);
    opt.step();
    const q = new Parameter(tensor([1, 2]));
    const opt2 = new optim.Adam([q], { lr: 0.1 });
    opt2.loadStateDict(opt.stateDict());
    expect((opt2.state.get(q)!.expAvgSq as Tensor).dtype).toBe('float32');
  });

  it('loading replaces state the optimizer had', () => {
    const p = param([1]);
    const opt = new optim.SGD([p], { lr: 0.1, momentum: 0.9 });
    p.grad = f64([1]);
    opt.step();
    const fresh = new optim.SGD([param([1])], { lr: 0.1, momentum: 0.9 }).stateDict();
    opt.loadStateDict(fresh);
    expect(opt.state.size).toBe(0);
  });

  it('clear errors for a different number of groups or group sizes, or a shape mismatch; nothing is changed', () => {
    const two = new optim.SGD([{ params: [param([1])] }, { params: [param([2])] }], { lr: 0.1 });
    const one = new optim.SGD([param([1]), param([2])], { lr: 0.3 });
    expect(() => one.loadStateDict(two.stateDict())).toThrow(/2 parameter groups but the optimizer has 1/);
    const three = new optim.SGD([param([1]), param([2]), param([3])], { lr: 0.1 });
    expect(() => one.loadStateDict(three.stateDict())).toThrow(/group 0 has 3 parameters in the state but 2/);
    const p = param([1, 2]);
    const big = new optim.SGD([p, param([3])], { lr: 0.1, momentum: 0.9 });
    p.grad = f64([1, 1]);
    big.step();
    expect(() => one.loadStateDict(big.stateDict())).toThrow(/shape \[2\] but the parameter has \[1\]/);
    expect(one.paramGroups[0].options.lr).toBe(0.3);
  });
});

describe('Optimizer.addParamGroup', () => {
  it('adds a group with the defaults filled in, trained from then on', () => {
    const a = param([1]);
    const b = param([1]);
    const opt = new optim.SGD([a], { lr: 0.1, momentum: 0.5 });
    opt.addParamGroup({ params: [b], lr: 0.01 });
    expect(opt.paramGroups).toHaveLength(2);
    expect(opt.paramGroups[1].options).toEqual({ lr: 0.01, momentum: 0.5, dampening: 0, weightDecay: 0, nesterov: false, maximize: false });
    a.grad = f64([1]);
    b.grad = f64([1]);
    opt.step();
    expect(vals(b)).toEqual([0.99]);
  });

  it('accepts a single parameter', () => {
    const opt = new optim.Adam([param([1])]);
    const b = param([2, 3]);
    opt.addParamGroup({ params: b });
    expect(opt.paramGroups[1].params).toEqual([b]);
  });

  it('rejects a parameter already in a group, and invalid options', () => {
    const a = param([1]);
    const opt = new optim.Adam([a]);
    expect(() => opt.addParamGroup({ params: [a] })).toThrow(/more than one group/);
    expect(() => opt.addParamGroup({ params: [param([1])], betas: [0.9, 1.5] })).toThrow(/beta parameter at index 1/);
    expect(opt.paramGroups).toHaveLength(1);
  });

  it('the added group takes part in stateDict', () => {
    const opt = new optim.RMSprop([param([1])], { momentum: 0.1 });
    const b = param([2]);
    opt.addParamGroup({ params: [b], lr: 0.5 });
    b.grad = f64([1]);
    opt.step();
    const sd = opt.stateDict();
    expect(sd.paramGroups.map((grp) => grp.params)).toEqual([[0], [1]]);
    expect([...sd.state.keys()]).toEqual([1]);
  });
});

describe("optimizer state in PyTorch's layout", () => {
  it("stateDict({ naming: 'pytorch' }) has torch's names and layout, and loads back (also through its safetensors form)", () => {
    const a = param([1, 2]);
    const b = param([3]);
    const opt = new optim.Adam([{ params: [a] }, { params: [b], lr: 0.5 }], { lr: 0.1, amsgrad: true });
    a.grad = f64([0.5, -1]);
    b.grad = f64([2]);
    opt.step();
    const sd = opt.stateDict({ naming: 'pytorch' });
    expect(sd.param_groups).toEqual([
      { lr: 0.1, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0, amsgrad: true, maximize: false, params: [0] },
      { lr: 0.5, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0, amsgrad: true, maximize: false, params: [1] },
    ]);
    expect(Object.keys(sd.state.get(0)!).sort()).toEqual(['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq', 'step']);
    const file = pytorchOptimizerTensors(sd);
    expect(Object.keys(file.tensors).sort()).toEqual(['state.0.exp_avg', 'state.0.exp_avg_sq', 'state.0.max_exp_avg_sq', 'state.1.exp_avg', 'state.1.exp_avg_sq', 'state.1.max_exp_avg_sq']);
    const back = pytorchOptimizerFromTensors(deserialize(serialize(file.tensors, file.metadata)));
    const c = param([1, 2]);
    const d = param([3]);
    const other = new optim.Adam([{ params: [c] }, { params: [d] }]);
    other.loadStateDict(back);
    expect(other.paramGroups.map((gr) => gr.options.lr)).toEqual([0.1, 0.5]);
    expect(vals(other.stateDict().state.get(1)!.expAvg as Tensor)).toEqual(vals(opt.stateDict().state.get(1)!.expAvg as Tensor));
    expect(other.stateDict().state.get(0)!.step).toBe(1);
  });

  it("accepts PyTorch's implementation switches at their neutral values and a 0-d tensor step; refuses other options, missing ones and foreign files", () => {
    const p = param([1]);
    const torchState = {
      state: new Map([[0, { step: f64([4]).reshape([]), momentum_buffer: f64([0.25]) }]]),
      param_groups: [{ lr: 0.1, momentum: 0.9, dampening: 0, weight_decay: 0, nesterov: false, maximize: false, foreach: null, differentiable: false, params: [0] }],
    };
    const sgd = new optim.SGD([p], { lr: 1 });
    sgd.loadStateDict(torchState);
    expect(sgd.paramGroups[0].options.momentum).toBe(0.9);
    expect(sgd.stateDict().state.get(0)!.step).toBe(4);
    expect(() => sgd.loadStateDict({ ...torchState, param_groups: [{ ...torchState.param_groups[0], foreach: true }] })).toThrow(/SGD: a PyTorch optimizer state: param_groups\[0\] has 'foreach' = true, which SGD does not have/);
    const { nesterov: _, ...withoutNesterov } = torchState.param_groups[0];
    expect(() => sgd.loadStateDict({ ...torchState, param_groups: [withoutNesterov] })).toThrow(/param_groups\[0\] lacks 'nesterov'/);
    expect(() => pytorchOptimizerFromTensors(deserialize(serialize({ x: f64([1]) })))).toThrow(/no 'param_groups' or 'state_numbers' metadata/);
    expect(() => sgd.stateDict({ naming: 'torch' as 'pytorch' })).toThrow(/SGD.stateDict: naming must be 'normlab' or 'pytorch', got 'torch'/);
  });
});

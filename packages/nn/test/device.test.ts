/**
 * Training on a device: every model, loss, optimizer and utility runs on the
 * strict 'sim' device (tensor/test/sim-backend.ts) without reading anything
 * back to the host except the explicit item()/toArray()/to('cpu') calls,
 * with results equal to the CPU run; and `tidy` keeps a training loop's
 * device memory flat.
 */
import { describe, expect, it } from 'vitest';
import { Tensor, randint, randn, tidy } from '@normlab/autograd';
import { type Device, manualSeed } from '@normlab/tensor';
import { SIM, sim } from '../../tensor/test/sim-backend.js';
import {
  AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten, GELU, GroupNorm, InstanceNorm2d, LayerNorm, LeakyReLU, Linear,
  LogSoftmax, MaxPool2d, type Module, NoisyBatchNorm2d, ReLU, Sequential, Sigmoid, Softmax, Softplus, Tanh, WeightStandardizedConv2d,
  binaryCrossEntropyWithLogits, crossEntropy, l1Loss, mseLoss, nllLoss, optim, recomputeBatchNormStats, weightNorm,
} from '../src/index.js';

const values = (t: Tensor): number[] => Array.from(t.toTypedArray(), Number);

function mlp(device: Device): Sequential {
  manualSeed(0);
  const m = new Sequential(
    new Linear(784, 100), new BatchNorm1d(100), new Sigmoid(),
    new Linear(100, 100), new BatchNorm1d(100), new Sigmoid(),
    new Linear(100, 10),
  );
  return m.to(device);
}

function convNet(device: Device): Sequential {
  manualSeed(0);
  return new Sequential(
    new Conv2d(1, 4, 3, { padding: 1, device }), new BatchNorm2d(4, { device }), new ReLU(), new MaxPool2d(2), new Flatten(), new Linear(4 * 4 * 4, 10, { device }),
  );
}

type MakeOpt = (ps: ReturnType<Module['parameters']>) => optim.Optimizer<object>;

interface Run {
  losses: number[];
  params: number[][];
  buffers: number[][];
  /** sim reads during the training loop (before any explicit read). */
  reads: number;
}

/** `steps` steps of crossEntropy on one fixed batch; the losses are read only after the loop. */
function train(model: Module, device: Device, makeOpt: MakeOpt, inputShape: number[], steps = 20, useTidy = false): Run {
  manualSeed(1);
  const x = randn(inputShape, { device });
  const y = randint(0, 10, [inputShape[0]], { device });
  const opt = makeOpt(model.parameters());
  const losses: Tensor[] = [];
  sim.reset();
  const step = (): Tensor => {
    opt.zeroGrad();
    const loss = crossEntropy((model.forward as (x: Tensor) => Tensor)(x), y);
    loss.backward();
    opt.step();
    return loss.detach();
  };
  for (let i = 0; i < steps; i++) losses.push(useTidy ? tidy(step) : step());
  const reads = sim.reads;
  return {
    losses: losses.map((l) => l.item()),
    params: model.parameters().map(values),
    buffers: model.buffers().map(values),
    reads,
  };
}

function expectSameRun(onSim: Run, onCpu: Run): void {
  expect(onSim.reads).toBe(0);
  expect(onSim.losses).toEqual(onCpu.losses);
  expect(onSim.params).toEqual(onCpu.params);
  expect(onSim.buffers).toEqual(onCpu.buffers);
  expect(onCpu.losses[onCpu.losses.length - 1]).toBeLessThan(onCpu.losses[0]);
}

const sgd: MakeOpt = (ps) => new optim.SGD(ps, { lr: 0.1 });
const momentum: MakeOpt = (ps) => new optim.SGD(ps, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-4 });
const adam: MakeOpt = (ps) => new optim.Adam(ps, { lr: 1e-3, amsgrad: true });

describe("training on the 'sim' device: zero reads, results equal to the cpu run", () => {
  for (const [name, makeOpt] of [['SGD', sgd], ['SGD with momentum', momentum], ['Adam', adam]] as const) {
    it(`BatchNorm MLP 784-100-100-10, sigmoid, crossEntropy, ${name}, 20 steps`, () => {
      const onCpu = train(mlp('cpu'), 'cpu', makeOpt, [16, 784]);
      const model = mlp(SIM);
      expect(model.parameters().every((p) => p.device === SIM)).toBe(true);
      const onSim = train(model, SIM, makeOpt, [16, 784]);
      expectSameRun(onSim, onCpu);
      // The optimizer's state was created on the device too.
    });
  }

  it('conv net Conv2d-BatchNorm2d-ReLU-MaxPool2d-Linear, crossEntropy, Adam', () => {
    const onCpu = train(convNet('cpu'), 'cpu', adam, [8, 1, 8, 8], 10);
    const onSim = train(convNet(SIM), SIM, adam, [8, 1, 8, 8], 10);
    expectSameRun(onSim, onCpu);
  });

  it('optimizer state lives on the device', () => {
    const model = mlp(SIM);
    const opt = new optim.Adam(model.parameters());
    const x = randn([4, 784], { device: SIM });
    crossEntropy(model.forward(x) as Tensor, randint(0, 10, [4], { device: SIM })).backward();
    opt.step();
    for (const s of opt.state.values()) for (const v of Object.values(s)) if (v instanceof Tensor) expect(v.device).toBe(SIM);
  });
});

describe("every layer and loss on the 'sim' device", () => {
  it('forward and backward read nothing back and equal the cpu', () => {
    const build = (device: Device): Sequential => {
      manualSeed(4);
      return new Sequential(
        new WeightStandardizedConv2d(2, 4, 3, { padding: 1, device }),
        new NoisyBatchNorm2d(4, { device }),
        new InstanceNorm2d(4, { affine: true, trackRunningStats: true, momentum: null, device }),
        new GroupNorm(2, 4, { device }), new GELU(), new AvgPool2d(2, { stride: 1, padding: 1, countIncludePad: false }),
        new LayerNorm([4, 5, 5], { device }), new Tanh(), new MaxPool2d(3, { stride: 2, padding: 1, dilation: 2 }),
        new AdaptiveAvgPool2d(2), new LeakyReLU(0.1), new Softplus(2), new Flatten(),
        weightNorm(new Linear(16, 6, { device })), new Softmax(1), new LogSoftmax(1),
      );
    };
    const run = (device: Device): { out: number[][]; reads: number } => {
      const model = build(device);
      manualSeed(5);
      const x = randn([3, 2, 4, 4], { device, requiresGrad: true });
      const target = randint(0, 6, [3], { device });
      const probs = randn([3, 6], { device }).softmax(1);
      const weight = randn([6], { device }).abs();
      sim.reset();
      const y = model.forward(x) as Tensor;
      const losses = [
        crossEntropy(y, target, { labelSmoothing: 0.1, weight, ignoreIndex: 2 }), crossEntropy(y, probs), nllLoss(y, target, { reduction: 'sum' }),
        mseLoss(y, probs), l1Loss(y, probs), binaryCrossEntropyWithLogits(y, probs, { posWeight: weight }),
      ];
      losses.reduce((a, b) => a.add(b)).backward();
      model.eval();
      const yEval = model.forward(x.detach()) as Tensor;
      model.train();
      recomputeBatchNormStats(model, [x.detach()]);
      const reads = sim.reads;
      return { out: [...losses, yEval, x.grad!, ...model.parameters(), ...model.buffers()].map(values), reads };
    };
    const a = run(SIM);
    const b = run('cpu');
    expect(a.reads).toBe(0);
    expect(a.out).toEqual(b.out);
  });
});

describe("module utilities on the 'sim' device", () => {
  it('to(), stateDict / loadStateDict across devices, zeroGrad, eval mode', () => {
    const onSim = mlp(SIM);
    const onCpu = mlp('cpu');
    sim.reset();
    const x = randn([8, 784]);
    const xs = x.to(SIM); // an upload, not a read
    (onSim.forward(xs) as Tensor).sum().backward();
    (onCpu.forward(x) as Tensor).sum().backward();
    onSim.zeroGrad({ setToNone: false });
    for (const p of onSim.parameters()) {
      expect(p.grad!.device).toBe(SIM);
    }
    onSim.eval();
    const ySim = onSim.forward(xs) as Tensor;
    expect(ySim.device).toBe(SIM);
    expect(sim.reads).toBe(0);
    onCpu.eval();
    expect(values(ySim)).toEqual(values(onCpu.forward(x) as Tensor));

    // sim -> cpu reads each tensor once; cpu -> sim reads nothing.
    const fresh = mlp('cpu');
    sim.reset();
    fresh.loadStateDict(onSim.stateDict());
    expect(sim.reads).toBe(onSim.stateDict().size);
    expect(fresh.parameters().every((p) => p.device === 'cpu')).toBe(true);
    const back = mlp(SIM);
    sim.reset();
    back.loadStateDict(fresh.stateDict());
    back.loadStateDict(onSim.stateDict());
    expect(sim.reads).toBe(0);
    expect(back.buffers().every((b) => b.device === SIM)).toBe(true);
    // to('cpu') brings everything home, gradients included.
    onSim.to('cpu');
    expect([...onSim.parameters(), ...onSim.buffers()].every((t) => t.device === 'cpu')).toBe(true);
  });

  it('clipGradNorm keeps the total norm on the device; clipGradValue; equal to cpu', () => {
    const run = (device: Device): { total: Tensor; grads: number[][]; reads: number } => {
      const model = mlp(device);
      manualSeed(2);
      const x = randn([8, 784], { device });
      crossEntropy(model.forward(x) as Tensor, randint(0, 10, [8], { device })).mul(100).backward();
      sim.reset();
      const total = optim.clipGradNorm(model.parameters(), 0.5);
      optim.clipGradNorm(model.parameters(), 0.1, { normType: Infinity });
      optim.clipGradValue(model.parameters(), 0.01);
      const reads = sim.reads;
      return { total, grads: model.parameters().map((p) => values(p.grad!)), reads };
    };
    const a = run(SIM);
    const b = run('cpu');
    expect(a.reads).toBe(0);
    expect(a.total.device).toBe(SIM);
    expect(a.total.item()).toBe(b.total.item());
    expect(a.total.item()).toBeGreaterThan(0.5);
    expect(a.grads).toEqual(b.grads);
  });

  it('LR schedulers, BatchNorm running statistics (momentum and cumulative), Dropout', () => {
    const run = (device: Device): { bn: number[][]; count: number; out: number[]; reads: number } => {
      manualSeed(3);
      const bn = new BatchNorm1d(5, { momentum: null, device });
      const bn2 = new BatchNorm1d(5, { device });
      const lin = new Linear(5, 5, { device });
      const opt = new optim.SGD(lin.parameters(), { lr: 0.5, momentum: 0.5 });
      const sched = new optim.StepLR(opt, 2, 0.5);
      const drop = new Dropout(0.3);
      sim.reset();
      for (let i = 0; i < 4; i++) {
        const x = randn([6, 5], { device });
        const y = drop.forward(bn2.forward(bn.forward(lin.forward(x))));
        opt.zeroGrad();
        y.square().mean().backward();
        opt.step();
        sched.step();
      }
      bn.eval();
      const out = bn.forward(randn([2, 5], { device }));
      const reads = sim.reads;
      return {
        bn: [bn.runningMean!, bn.runningVar!, bn2.runningMean!, bn2.runningVar!, ...lin.parameters()].map(values),
        count: bn.numBatchesTracked!.item(),
        out: values(out),
        reads,
      };
    };
    const a = run(SIM);
    const b = run('cpu');
    expect(a.reads).toBe(0);
    expect(a.count).toBe(4);
    expect(a.bn).toEqual(b.bn);
    expect(a.out).toEqual(b.out);
  });

  it('optimizer stateDict / loadStateDict across devices', () => {
    const model = mlp(SIM);
    const opt = new optim.Adam(model.parameters());
    crossEntropy(model.forward(randn([4, 784], { device: SIM })) as Tensor, randint(0, 10, [4], { device: SIM })).backward();
    opt.step();
    const cpuModel = mlp('cpu');
    const cpuOpt = new optim.Adam(cpuModel.parameters());
    cpuOpt.loadStateDict(opt.stateDict());
    for (const s of cpuOpt.state.values()) for (const v of Object.values(s)) if (v instanceof Tensor) expect(v.device).toBe('cpu');
    sim.reset();
    opt.loadStateDict(cpuOpt.stateDict());
    expect(sim.reads).toBe(0);
  });
});

describe('tidy around a training step', () => {
  for (const [name, makeOpt] of [['SGD with momentum', momentum], ['Adam', adam]] as const) {
    it(`keeps the returned loss, the parameters, their grads, the buffers and the optimizer state; frees the rest (${name})`, () => {
      const model = mlp(SIM);
      const opt = makeOpt(model.parameters());
      const x = randn([8, 784], { device: SIM });
      const y = randint(0, 10, [8], { device: SIM });
      const liveAfter: number[] = [];
      const losses: Tensor[] = [];
      for (let i = 0; i < 5; i++) {
        losses.push(tidy(() => {
          opt.zeroGrad();
          const loss = crossEntropy(model.forward(x) as Tensor, y);
          loss.backward();
          opt.step();
          return loss.detach();
        }));
        liveAfter.push(sim.live);
      }
      // Flat but for the one loss each step returns: each step frees its activations, the gradients
      // of the step before, and the parameter values, buffers and optimizer state it replaced.
      expect(new Set(liveAfter.map((n, i) => n - i)).size).toBe(1);
      for (const p of model.parameters()) {
        expect(p.isDisposed).toBe(false);
        expect(p.grad!.isDisposed).toBe(false);
        const state = Object.values(opt.state.get(p)!).filter((v): v is Tensor => v instanceof Tensor);
        expect(state.length).toBeGreaterThan(0);
        expect(state.every((t) => !t.isDisposed)).toBe(true);
      }
      for (const b of model.buffers()) expect(b.isDisposed).toBe(false);
      expect(losses.every((l) => !l.isDisposed)).toBe(true);
      // Same numbers as without tidy.
      const plain = train(mlp(SIM), SIM, makeOpt, [16, 784], 5);
      const tidied = train(mlp(SIM), SIM, makeOpt, [16, 784], 5, true);
      expect(tidied).toEqual(plain);
    });
  }

  it('a tidy that does not return the loss frees its graph: backward outside fails clearly', () => {
    const model = mlp(SIM);
    const loss = tidy(() => crossEntropy(model.forward(randn([4, 784], { device: SIM })) as Tensor, randint(0, 10, [4], { device: SIM })));
    expect(loss.isDisposed).toBe(false);
    expect(() => loss.backward()).toThrow(/was disposed/);
  });
});

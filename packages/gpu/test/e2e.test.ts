/**
 * End to end: the same BatchNorm MLP trained with SGD for 20 steps from the
 * same seed on 'cpu' and on 'gpu' gives the same loss at every step; a
 * small BN conv net trained with Adam runs entirely on the device; and the
 * forward mode (jvp through the conv net) and in-place ops with their
 * version counter work on the device as on the CPU.
 */
import { describe, expect, it } from 'vitest';
import { Tensor, jvp } from '@normlab/autograd';
import { BatchNorm1d, BatchNorm2d, Conv2d, Flatten, GroupNorm, Linear, MaxPool2d, ReLU, Sequential, crossEntropy, functionalCall, optim } from '@normlab/nn';
import { argmax, manualSeed, matmul, randn, tidy } from '@normlab/tensor';
import { gpu } from '../src/index.js';
import { modeAvailable, useMode } from './helpers.js';

function train(device: 'cpu' | 'gpu', steps: number): number[] {
  manualSeed(1234);
  const model = new Sequential(new Linear(20, 32), new BatchNorm1d(32), new ReLU(), new Linear(32, 32), new BatchNorm1d(32), new ReLU(), new Linear(32, 5));
  const xs = Array.from({ length: steps }, () => randn([64, 20]));
  // A learnable task: the class is the argmax of a fixed linear map of x.
  const teacher = randn([20, 5]);
  const ys = xs.map((x) => argmax(matmul(x, teacher), 1));
  model.to(device);
  model.train();
  const opt = new optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const x = new Tensor(xs[s].to(device));
    const y = new Tensor(ys[s].to(device));
    opt.zeroGrad();
    const loss = crossEntropy(model.forward(x), y);
    loss.backward();
    opt.step();
    losses.push(loss.item());
  }
  return losses;
}

for (const mode of ['webgpu', 'webasm'] as const) {
  describe(`BN MLP, cpu vs gpu (${mode})`, () => {
    const avail = modeAvailable(mode);
    it.skipIf(!avail.ok)(`20 SGD steps agree at every step${avail.ok ? '' : ` (skipped: ${avail.reason})`}`, () => {
      useMode(mode);
      const cpu = train('cpu', 20);
      const dev = train('gpu', 20);
      const worst = Math.max(...cpu.map((c, s) => Math.abs(dev[s] - c) / Math.max(1, Math.abs(c))));
      console.log(`[normlab/gpu] ${mode}: losses ${cpu[0].toFixed(4)} -> ${cpu[19].toFixed(4)}, worst relative difference cpu vs gpu ${worst.toExponential(2)}`);
      for (let s = 0; s < 20; s++) expect(Math.abs(dev[s] - cpu[s])).toBeLessThan(1e-4 * Math.max(1, Math.abs(cpu[s])));
      expect(cpu[19]).toBeLessThan(cpu[0]);
      expect(gpu.info().mode).toBe(mode);
    });
  });
}

/** A small BN conv net (Conv2d -> BatchNorm2d -> ReLU -> MaxPool2d -> Linear) trained with Adam: the losses per step, and the CPU fallbacks on 'gpu'. */
function trainConv(device: 'cpu' | 'gpu', steps: number): { losses: number[]; fallbacks: string[] } {
  manualSeed(99);
  const model = new Sequential(new Conv2d(2, 4, 3, { padding: 1 }), new BatchNorm2d(4), new ReLU(), new MaxPool2d(2), new Flatten(), new Linear(4 * 4 * 4, 3));
  const xs = Array.from({ length: steps }, () => randn([8, 2, 8, 8]));
  const teacher = randn([2 * 8 * 8, 3]);
  const ys = xs.map((x) => argmax(matmul(x.reshape([8, 2 * 8 * 8]), teacher), 1));
  model.to(device);
  model.train();
  const opt = new optim.Adam(model.parameters(), { lr: 0.01 });
  if (device === 'gpu') gpu.resetProfile();
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    losses.push(tidy(() => {
      opt.zeroGrad();
      const loss = crossEntropy(model.forward(new Tensor(xs[s].to(device))), new Tensor(ys[s].to(device)));
      loss.backward();
      opt.step();
      return loss.item();
    }));
  }
  return { losses, fallbacks: device === 'gpu' ? Object.keys(gpu.profile().fallbacks) : [] };
}

for (const mode of ['webgpu', 'webasm'] as const) {
  describe(`BN conv net with Adam, cpu vs gpu (${mode})`, () => {
    const avail = modeAvailable(mode);
    it.skipIf(!avail.ok)(`8 Adam steps agree at every step, with no CPU fallback${avail.ok ? '' : ` (skipped: ${avail.reason})`}`, () => {
      useMode(mode);
      const cpu = trainConv('cpu', 8);
      const dev = trainConv('gpu', 8);
      console.log(`[normlab/gpu] ${mode}: conv net losses ${cpu.losses[0].toFixed(4)} -> ${cpu.losses[7].toFixed(4)} (gpu ${dev.losses[7].toFixed(4)})`);
      expect(dev.fallbacks).toEqual([]);
      for (let s = 0; s < 8; s++) expect(Math.abs(dev.losses[s] - cpu.losses[s])).toBeLessThan(1e-3 * Math.max(1, Math.abs(cpu.losses[s])));
      expect(cpu.losses[7]).toBeLessThan(cpu.losses[0]);
    });
  });
}

for (const mode of ['webgpu', 'webasm'] as const) {
  describe(`forward mode and in-place ops, cpu vs gpu (${mode})`, () => {
    const avail = modeAvailable(mode);
    it.skipIf(!avail.ok)(`jvp through a BN/GroupNorm conv net agrees; add_ and mul_ write through views and bump the version${avail.ok ? '' : ` (skipped: ${avail.reason})`}`, () => {
      useMode(mode);
      const directional = (device: 'cpu' | 'gpu'): [number, number] => {
        manualSeed(7);
        const model = new Sequential(new Conv2d(2, 4, 3, { padding: 1 }), new BatchNorm2d(4), new ReLU(), new GroupNorm(2, 4), new MaxPool2d(2), new Flatten(), new Linear(4 * 4 * 4, 3));
        const x = randn([4, 2, 8, 8]);
        const y = argmax(randn([4, 3]), 1);
        const names = [...model.namedParameters()].map(([k]) => k);
        const tangents = [...model.parameters()].map((p) => new Tensor(randn([...p.shape]).to(device)));
        model.to(device);
        const loss = (...ps: Tensor[]): Tensor =>
          crossEntropy(functionalCall<Tensor>(model, { params: Object.fromEntries(names.map((k, i) => [k, ps[i]])) }, [new Tensor(x.to(device))]), new Tensor(y.to(device)));
        const [value, slope] = jvp(loss, [...model.parameters()].map((p) => p.detach()), tangents);
        return [value.item(), slope.item()];
      };
      const [cpuLoss, cpuSlope] = directional('cpu');
      const [devLoss, devSlope] = directional('gpu');
      expect(Math.abs(devLoss - cpuLoss)).toBeLessThan(1e-4 * Math.max(1, Math.abs(cpuLoss)));
      expect(Math.abs(devSlope - cpuSlope)).toBeLessThan(1e-3 * Math.max(1, Math.abs(cpuSlope)));
      const a = new Tensor(randn([2, 3]).to('gpu'));
      const row = a.select(0, 1);
      const before = a.toArray() as number[][];
      row.add_(1);
      a.mul_(2);
      expect(a.version).toBe(2);
      const after = a.toArray() as number[][];
      before.forEach((r, i) => r.forEach((v, j) => expect(after[i][j]).toBeCloseTo(2 * (v + i), 5)));
      const w = new Tensor(randn([3]).to('gpu'), { requiresGrad: true });
      const s = w.sigmoid();
      s.mul_(2);
      expect(() => s.sum().backward()).toThrow(/saved by 'sigmoid' \(its output\), is at version 1; expected version 0/);
    });
  });
}

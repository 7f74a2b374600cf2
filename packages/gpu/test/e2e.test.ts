/**
 * End to end: the same BatchNorm MLP trained with SGD for 20 steps from the
 * same seed on 'cpu' and on 'gpu' gives the same loss at every step.
 */
import { describe, expect, it } from 'vitest';
import { Tensor } from '@normlab/autograd';
import { BatchNorm1d, Linear, ReLU, Sequential, crossEntropy, optim } from '@normlab/nn';
import { argmax, manualSeed, matmul, randn } from '@normlab/tensor';
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

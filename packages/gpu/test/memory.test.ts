/**
 * Device memory stays flat over a training loop. Two ways of freeing:
 * explicit dispose() of every intermediate in a synchronous loop, and the
 * FinalizationRegistry backstop, which only runs between tasks: in a
 * synchronous loop nothing is collected until the loop yields (the lead's
 * tidy() in @normlab/tensor is the answer there), so the backstop test
 * awaits each step and forces GC (through v8.setFlagsFromString, as vitest
 * does not pass --expose-gc).
 */
import { describe, expect, it } from 'vitest';
import { Tensor } from '@normlab/autograd';
import { BatchNorm1d, Linear, ReLU, Sequential, crossEntropy, optim } from '@normlab/nn';
import { type NDArray, argmax, full, manualSeed, matmul, mul, randn, sub, tidy } from '@normlab/tensor';
import { GpuStorage, gpu } from '../src/index.js';
import { modeAvailable, useMode } from './helpers.js';
import { settle } from '../../tensor/test/gc.js';

const free = (...xs: NDArray[]) => xs.forEach((x) => (x.storage as GpuStorage).dispose());

for (const [mode, steps] of [['webasm', 1000], ['webgpu', 200]] as const) {
  const avail = modeAvailable(mode);
  const skip = avail.ok ? '' : ` [skipped: ${avail.reason}]`;
  describe(`memory (${mode})`, () => {
    it.skipIf(!avail.ok)(`a synchronous loop that disposes its intermediates keeps the buffer count flat${skip}`, () => {
      useMode(mode);
      // Least squares by gradient descent, every temporary disposed. (The learning rate is a
      // constant array: like a plain-number operand, it has no buffer; mul passes it as a scalar.)
      const lr = full([], 0.001, { device: 'gpu' });
      let w = randn([16, 1]).to('gpu');
      const x = randn([64, 16]).to('gpu');
      const y = matmul(x, randn([16, 1]).to('gpu'));
      const counts: number[] = [];
      for (let s = 0; s < steps; s++) {
        const p = matmul(x, w);
        const r = sub(p, y);
        const g = matmul(x.mT, r);
        const step = mul(g, lr);
        const next = sub(w, step);
        free(p, r, g, step, w);
        w = next;
        if (s % 100 === 99) {
          gpu.synchronize();
          counts.push(gpu.memory().buffers);
        }
      }
      expect(new Set(counts).size).toBe(1);
    });

    it.skipIf(!avail.ok)(`a synchronous training loop in tidy() scopes keeps the buffer count flat without GC${skip}`, () => {
      useMode(mode);
      manualSeed(8);
      const model = new Sequential(new Linear(12, 16), new BatchNorm1d(16), new ReLU(), new Linear(16, 3)).to('gpu');
      const opt = new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
      const x = new Tensor(randn([32, 12]).to('gpu'));
      const y = new Tensor(argmax(randn([32, 3]), 1).to('gpu'));
      const counts: number[] = [];
      for (let s = 0; s < Math.min(steps, 300); s++) {
        const loss = tidy(() => {
          opt.zeroGrad();
          const l = crossEntropy(model.forward(x), y);
          l.backward();
          opt.step();
          return l.item();
        });
        expect(Number.isFinite(loss)).toBe(true);
        if (s % 50 === 49) counts.push(gpu.memory().buffers);
      }
      expect(new Set(counts.slice(1)).size).toBe(1);
    });

    it.skipIf(!avail.ok)(`${steps} training steps of a BN MLP (autograd, SGD) keep the buffer count flat, freed by the FinalizationRegistry${skip}`, async () => {
      useMode(mode);
      manualSeed(7);
      const model = new Sequential(new Linear(12, 16), new BatchNorm1d(16), new ReLU(), new Linear(16, 3)).to('gpu');
      const opt = new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
      const teacher = randn([12, 3]);
      const xs = Array.from({ length: 4 }, () => randn([32, 12]));
      const batches = xs.map((x) => [new Tensor(x.to('gpu')), new Tensor(argmax(matmul(x, teacher), 1).to('gpu'))] as const);
      const counts: number[] = [];
      let first = 0;
      let last = 0;
      for (let s = 0; s < steps; s++) {
        const [x, y] = batches[s % batches.length];
        opt.zeroGrad();
        const loss = crossEntropy(model.forward(x), y);
        loss.backward();
        opt.step();
        if (s === 0) first = loss.item();
        if (s % 50 === 49) {
          last = loss.item();
          // Collect, then let the finalizers run (they are tasks), then count.
          await settle(3);
          counts.push(gpu.memory().buffers);
        }
      }
      console.log(`[normlab/gpu] ${mode}: ${steps} steps, loss ${first.toFixed(3)} -> ${last.toFixed(3)}, live buffers every 50 steps: ${counts.join(' ')}`);
      expect(last).toBeLessThan(first);
      // No growth. Finalizers run some time after the collection that queued them, and under
      // load a sample can catch them behind (a spike), never ahead: so the floor of the samples
      // must not creep up (a leak of one buffer per step would raise it by 50 per sample), and
      // once everything has settled the count is back at that floor.
      const half = counts.length >> 1;
      const floor = Math.min(...counts.slice(0, half));
      expect(Math.min(...counts.slice(half))).toBeLessThanOrEqual(floor + 2);
      await settle(20);
      expect(gpu.memory().buffers).toBeLessThanOrEqual(floor + 2);
    });
  });
}

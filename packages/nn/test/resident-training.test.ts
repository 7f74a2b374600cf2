/**
 * End to end over the CPU backend's resident arrays (float32 outputs in the
 * kernels' wasm memory, reused as soon as they are freed): a BN conv net
 * trained with Adam, sized so that its activations, im2col buffers and
 * gradients are resident. Freed blocks are handed out again at once, so a
 * use after free (a storage disposed by `tidy` while something still reads
 * it) would surface as different numbers between the runs:
 *
 * - in `tidy` (blocks recycled every step) and without it (blocks left to
 *   the garbage collector) the paths are the same, so every loss and every
 *   parameter must agree bit for bit;
 * - with resident arrays off (cap 0, every kernel staged), BatchNorm's
 *   backward groups its sums differently, so the runs agree to float32
 *   rounding, not necessarily bit for bit.
 *
 * Freed blocks are poisoned (filled with NaN) throughout, so that a read
 * after a free cannot pass for the values of whatever reuses the block.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Tensor, randint, randn, tidy } from '@normlab/autograd';
import { cpuMemory, manualSeed } from '@normlab/tensor';
import { cpuData } from '../../tensor/src/cpu/cpu-backend.js';
import { getKernels } from '../../tensor/src/cpu/wasm/kernels.js';
import { residentAddress, setResidentCapBytes, setResidentPoison } from '../../tensor/src/cpu/wasm/resident.js';
import { BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential, crossEntropy, optim } from '../src/index.js';

const cap = cpuMemory().residentCapBytes;
beforeEach(() => setResidentPoison(true));
afterEach(() => {
  setResidentCapBytes(cap);
  setResidentPoison(false);
});

const STEPS = 12;

function net(): Sequential {
  manualSeed(7);
  return new Sequential(
    new Conv2d(3, 16, 3, { padding: 1 }), new BatchNorm2d(16), new ReLU(), new MaxPool2d(2),
    new Conv2d(16, 16, 3, { padding: 1 }), new BatchNorm2d(16), new ReLU(), new MaxPool2d(2),
    new Flatten(), new Linear(16 * 8 * 8, 10),
  );
}

interface Run {
  losses: number[];
  params: Float32Array[];
  /** How many of the first step's BatchNorm outputs were resident. */
  residentBnOutputs: number;
}

function train(useTidy: boolean): Run {
  const model = net();
  const opt = new optim.Adam(model.parameters(), { lr: 1e-2 });
  manualSeed(11);
  const x = randn([16, 3, 32, 32]);
  const y = randint(0, 10, [16]);
  const losses: number[] = [];
  let residentBnOutputs = 0;
  const bns = model.modules().filter((m) => m instanceof BatchNorm2d);
  const seen = bns.map((m) => m.registerForwardHook((_m, _in, out) => {
    if (losses.length === 0 && out instanceof Tensor && residentAddress(cpuData(out.data)) >= 0) residentBnOutputs++;
    return undefined;
  }));
  const step = (): number => {
    opt.zeroGrad();
    // A fresh input each step (an op's output, so resident too).
    const xi = x.mul(1 + losses.length / 100);
    const loss = crossEntropy(model.forward(xi), y);
    loss.backward();
    opt.step();
    return loss.item();
  };
  for (let s = 0; s < STEPS; s++) losses.push(useTidy ? tidy(step) : step());
  for (const h of seen) h.remove();
  return { losses, params: model.parameters().map((p) => Float32Array.from(p.toTypedArray() as Float32Array)), residentBnOutputs };
}

describe.skipIf(getKernels() === null)('training on resident arrays', () => {
  it('tidy (blocks reused every step) and no tidy agree bit for bit; staged kernels (cap 0) agree to rounding', () => {
    const inTidy = train(true);
    const noTidy = train(false);
    setResidentCapBytes(0);
    const staged = train(true);
    setResidentCapBytes(cap);

    expect(inTidy.residentBnOutputs).toBe(2);
    expect(staged.residentBnOutputs).toBe(0);
    // It trains: the loss falls, and no NaN from a poisoned block got in.
    expect(inTidy.losses.every(Number.isFinite) && noTidy.losses.every(Number.isFinite)).toBe(true);
    expect(inTidy.losses.at(-1)!).toBeLessThan(inTidy.losses[0] * 0.8);

    expect(noTidy.losses).toEqual(inTidy.losses);
    for (const [i, p] of inTidy.params.entries()) {
      const q = noTidy.params[i];
      for (let k = 0; k < p.length; k++) if (!Object.is(p[k], q[k])) throw new Error(`param ${i}[${k}]: ${p[k]} in tidy, ${q[k]} without`);
    }

    for (const [s, l] of inTidy.losses.entries()) expect(Math.abs(l - staged.losses[s])).toBeLessThanOrEqual(1e-4 * Math.abs(l));
    for (const [i, p] of inTidy.params.entries()) {
      const q = staged.params[i];
      let worst = 0;
      let scale = 0;
      for (let k = 0; k < p.length; k++) {
        worst = Math.max(worst, Math.abs(p[k] - q[k]));
        scale = Math.max(scale, Math.abs(q[k]));
      }
      expect(worst).toBeLessThanOrEqual(1e-4 * scale + 1e-6);
    }
  });

  it('a tidy training loop keeps the resident bytes flat', () => {
    const model = net();
    const opt = new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
    manualSeed(3);
    const x = randn([16, 3, 32, 32]);
    const y = randint(0, 10, [16]);
    const step = (): void => {
      opt.zeroGrad();
      crossEntropy(model.forward(x), y).backward();
      opt.step();
    };
    // The first steps allocate what lives across steps (momentum buffers, gradients).
    for (let s = 0; s < 3; s++) tidy(step);
    const before = cpuMemory().residentBytes;
    const during: number[] = [];
    for (let s = 0; s < 10; s++) {
      tidy(step);
      during.push(cpuMemory().residentBytes);
    }
    expect(during.every((b) => b === before)).toBe(true);
  });
});

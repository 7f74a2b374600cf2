/**
 * Every probe on a device: the strict 'sim' device of the tensor tests (its
 * arrays can only be read back through the backend) gives the CPU's results
 * and leaves the state as it was.
 */
import { describe, expect, it } from 'vitest';
import { Tensor } from '@normlab/autograd';
import { BatchNorm1d, BatchNorm2d, Conv2d, Flatten, Linear, Module, ReLU, Sequential, Sigmoid, crossEntropy, optim } from '@normlab/nn';
import { type Device, fromTyped } from '@normlab/tensor';
import { SIM } from '../../tensor/test/sim-backend.js';
import {
  activationStats, flattenParams, hessianQuadraticForm, internalCovariateShift, lipschitzBound, lossLandscape, snapshot, restore, unflattenParams,
} from '../src/index.js';
import { expectSamePicture, initParams, picture, randn } from './helpers.js';

function setup(device: Device): { model: Sequential; x: Tensor; loss: (m: Module, x: Tensor) => Tensor; opt: optim.Optimizer<object> } {
  const model = new Sequential(
    new Conv2d(2, 3, 3, { padding: 1 }), new BatchNorm2d(3), new ReLU(), new Flatten(), new Linear(27, 4), new BatchNorm1d(4), new Sigmoid(), new Linear(4, 3),
  );
  initParams(model, 7, 0.5);
  model.to(device);
  const x = randn([5, 2, 3, 3], 8, { dtype: 'float32' }).to(device);
  const labels = new Tensor(fromTyped(Int32Array.from([0, 1, 2, 1, 0]), [5]).to(device));
  const loss = (m: Module, b: Tensor): Tensor => crossEntropy((m.forward as (t: Tensor) => Tensor)(b), labels);
  const opt = new optim.Adam(model.parameters(), { lr: 0.01 }) as optim.Optimizer<object>;
  opt.zeroGrad();
  loss(model, x).backward();
  opt.step();
  return { model, x, loss, opt };
}

const close = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-4 * (1 + Math.abs(b));

describe('probes on a device (sim)', () => {
  it('give the CPU results and leave the state untouched', () => {
    const results = (device: Device): number[] => {
      const { model, x, loss, opt } = setup(device);
      const before = picture(model, [opt]);
      const ics = internalCovariateShift(model, loss, x, opt);
      const land = lossLandscape(model, loss, x, { stepSizes: [0.01, 0.1] });
      const hess = hessianQuadraticForm(model, loss, x);
      const lip = lipschitzBound(model, loss, x);
      expect(lip.map((b) => b.holds)).toEqual([true, true]);
      expectSamePicture(picture(model, [opt]), before);
      const flat = flattenParams(model);
      expect(flat.device).toBe(device);
      unflattenParams(model, flat);
      const snap = snapshot(model);
      restore(model, snap);
      expect(model.parameters()[0].device).toBe(device);
      const rec = activationStats(model, ['6'], { on: 'input' });
      loss(model, x);
      const [row] = rec.record();
      return [
        ...ics.flatMap((l) => [l.l2, l.cosine]), ...land.losses, ...land.gradDiffs, land.betaSmoothness,
        hess.quadraticForm, hess.normalized, ...lip.flatMap((b) => [b.lhs, b.rhs]), row.mean, row.variance, ...row.percentiles,
      ];
    };
    const cpu = results('cpu');
    const dev = results(SIM);
    expect(dev.length).toBe(cpu.length);
    dev.forEach((v, i) => expect(close(v, cpu[i]), `value ${i}: ${v} vs ${cpu[i]}`).toBe(true));
  });
});

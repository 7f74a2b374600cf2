/**
 * Every normalization layer of @normlab/nn on the 'gpu' device: forward and
 * backward agree with the CPU backend (outputs, input gradients and parameter
 * gradients, float32 tolerances), and nothing falls back to the CPU. LayerNorm,
 * GroupNorm, InstanceNorm and RMSNorm run the device's normalizeAffine
 * kernels (codegen/normalize-affine.ts).
 */
import { describe, expect, it } from 'vitest';
import { Tensor } from '@normlab/autograd';
import {
  BatchNorm2d, BatchRenorm2d, FilterResponseNorm2d, GhostBatchNorm2d, GroupNorm, InstanceNorm2d, LayerNorm, type Module, RMSNorm,
  ScaledWeightStandardizedConv2d, Sequential, TLU, WeightStandardizedConv2d,
} from '@normlab/nn';
import { add, manualSeed, mul, randn } from '@normlab/tensor';
import { gpu } from '../src/index.js';
import { modeAvailable, useMode } from './helpers.js';

const LAYERS: readonly [string, () => Module][] = [
  ['BatchNorm2d', () => new BatchNorm2d(8)],
  ['GhostBatchNorm2d', () => new GhostBatchNorm2d(8, { virtualBatchSize: 2 })],
  ['BatchRenorm2d', () => new BatchRenorm2d(8)],
  ['LayerNorm', () => new LayerNorm([8, 5, 5])],
  ['GroupNorm', () => new GroupNorm(4, 8)],
  ['InstanceNorm2d', () => new InstanceNorm2d(8, { affine: true })],
  ['RMSNorm', () => new RMSNorm([5, 5], { eps: 1e-6 })],
  ['FilterResponseNorm2d + TLU', () => new Sequential(new FilterResponseNorm2d(8, { learnableEps: true }), new TLU(8))],
  ['WeightStandardizedConv2d', () => new WeightStandardizedConv2d(8, 4, 3, { padding: 1 })],
  ['ScaledWeightStandardizedConv2d', () => new ScaledWeightStandardizedConv2d(8, 4, 3, { padding: 1 })],
];

/** Output, input gradient and parameter gradients of one training forward + backward with a fixed upstream gradient. */
function step(make: () => Module, device: 'cpu' | 'gpu'): number[][] {
  manualSeed(7);
  const layer = make();
  const x0 = add(mul(randn([4, 8, 5, 5]), 2), 0.5);
  const y0 = (layer.forward as (x: Tensor) => Tensor)(new Tensor(x0)).data;
  const up = randn(y0.shape);
  layer.to(device);
  layer.zeroGrad();
  const x = new Tensor(x0.to(device), { requiresGrad: true });
  const y = (layer.forward as (x: Tensor) => Tensor)(x);
  y.mul(new Tensor(up.to(device))).sum().backward();
  const out = [y, x.grad!, ...layer.parameters().map((p) => p.grad!)].map((t) => Array.from(t.data.to('cpu').toTypedArray(), Number));
  layer.to('cpu');
  return out;
}

for (const mode of ['webgpu', 'webasm'] as const) {
  describe(`every normalization layer on the gpu device (${mode})`, () => {
    const avail = modeAvailable(mode);
    it.skipIf(!avail.ok)(`forward and backward agree with the CPU, with no CPU fallback${avail.ok ? '' : ` (skipped: ${avail.reason})`}`, () => {
      useMode(mode);
      for (const [name, make] of LAYERS) {
        const cpu = step(make, 'cpu');
        gpu.resetProfile();
        const dev = step(make, 'gpu');
        expect(Object.keys(gpu.profile().fallbacks), `${name}: CPU fallbacks`).toEqual([]);
        expect(dev.length, name).toBe(cpu.length);
        cpu.forEach((c, i) => {
          const scale = Math.max(1, ...c.map(Math.abs));
          c.forEach((v, k) => {
            if (!(Math.abs(dev[i][k] - v) <= 2e-4 * scale)) throw new Error(`${name}: tensor ${i} (0 output, 1 input gradient, then parameter gradients) entry ${k}: gpu ${dev[i][k]} vs cpu ${v}`);
          });
        });
      }
    }, 180_000);
  });
}

/**
 * The networks of Figure 1 of Ioffe & Szegedy (2015): 784 -> 100 -> 100 -> 100
 * -> 10 with sigmoid units, every weight drawn from N(0, initStd^2) and every
 * bias started at 0; with BN, a BatchNorm1d sits between each Linear (its bias
 * dropped: BN's beta takes its role) and the sigmoid.
 */
import { Generator, type Tensor } from '@normlab/autograd';
import { BatchNorm1d, Linear, type Module, NoisyBatchNorm1d, Sequential, Sigmoid, init } from '@normlab/nn';
import type { Variant } from './args.js';

export const HIDDEN = [100, 100, 100] as const;
export const INPUTS = 784;
export const CLASSES = 10;

export interface Net {
  model: Sequential;
  /** The module whose output is the input of the last hidden layer's sigmoids (Figure 1 b, c). */
  tracked: Module;
  /** The generator of the noisy-BN noise (null for the other variants): its state is checkpointed. */
  noiseGenerator: Generator | null;
}

/**
 * Builds `variant` from `seed`: the weights are drawn from one generator in
 * the same order (layer by layer) for every variant, so baseline and BN
 * start from the same weight matrices.
 */
export function buildNet(variant: Variant, options: { seed: number; initStd: number }): Net {
  const g = new Generator(options.seed);
  const normalized = variant !== 'baseline';
  // A stream of its own, so that the noise never shifts the weights' draws.
  const noiseGenerator = variant === 'noisy-bn' ? new Generator(options.seed + 1_000_003) : null;
  const layers: Module[] = [];
  let tracked: Module | null = null;
  let fanIn = INPUTS;
  for (const width of HIDDEN) {
    const linear = new Linear(fanIn, width, { bias: !normalized });
    init.normal(linear.weight, 0, options.initStd, g);
    if (linear.bias) init.zeros(linear.bias);
    layers.push(linear);
    let feeding: Module = linear;
    if (variant === 'bn') feeding = new BatchNorm1d(width);
    if (variant === 'noisy-bn') feeding = new NoisyBatchNorm1d(width, { generator: noiseGenerator! });
    if (feeding !== linear) layers.push(feeding);
    tracked = feeding;
    layers.push(new Sigmoid());
    fanIn = width;
  }
  const head = new Linear(fanIn, CLASSES);
  init.normal(head.weight, 0, options.initStd, g);
  init.zeros(head.bias!);
  layers.push(head);
  return { model: new Sequential(...layers), tracked: tracked!, noiseGenerator };
}

/**
 * Records column `unit` of the output of `module` (a [N, 100] tensor) over
 * the first `rows` rows that pass through it between `start` and `stop`:
 * the hook reads (downloads from the device) only while recording, i.e. at
 * evaluation time, never during training steps. An evaluation in chunks
 * records across chunks, in order.
 */
export class ActivationRecorder {
  private wanted = 0;
  private unit = 0;
  private values: number[] = [];
  private readonly handle: { remove(): void };

  constructor(module: Module) {
    this.handle = module.registerForwardHook((_m, _inputs, output) => {
      const need = this.wanted - this.values.length;
      if (need <= 0) return;
      const out = output as Tensor;
      const k = Math.min(need, out.shape[0]);
      const column = out.narrow(0, 0, k).select(1, this.unit).contiguous().toTypedArray();
      for (let i = 0; i < k; i++) this.values.push(column[i]);
    });
  }

  /** Starts recording column `unit` of the next outputs, up to `rows` rows in all. */
  start(unit: number, rows: number): void {
    this.unit = unit;
    this.wanted = rows;
    this.values = [];
  }

  /** Stops recording; returns the values recorded since `start`. */
  stop(): Float64Array {
    this.wanted = 0;
    const out = Float64Array.from(this.values);
    this.values = [];
    if (out.length === 0) throw new Error('ActivationRecorder: nothing recorded');
    return out;
  }

  remove(): void {
    this.handle.remove();
  }
}

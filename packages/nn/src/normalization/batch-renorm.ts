import { Tensor } from '@normlab/autograd';
import * as nd from '@normlab/tensor';
import { batchRenormWithCorrection } from '../functional/batch-renorm.js';
import { BatchNorm, type BatchNormOptions, checkInput1d, checkInput2d } from './batch-norm.js';

/** A clipping bound: a number, or a function of the training step (the number of batches counted before this one). */
export type ClipSchedule = number | ((step: number) => number);

/** Options of BatchRenorm1d/2d: BatchNorm's, plus the bounds of r and d. */
export interface BatchRenormOptions extends BatchNormOptions {
  /** r is clipped to [1 / rmax, rmax]; 3 by default (the paper's value after its warm-up). */
  rmax?: ClipSchedule;
  /** d is clipped to [-dmax, dmax]; 5 by default (the paper's value after its warm-up). */
  dmax?: ClipSchedule;
}

/**
 * Batch Renormalization (Ioffe 2017): in training, BatchNorm's output is
 * corrected by per-channel r and d that map the batch statistics onto the
 * running ones, xhat = (x - mu_B) / sigma_B * r + d, with r and d clipped
 * and held constant in the backward (see `batchRenorm`). With r = 1 and
 * d = 0 (rmax 1, dmax 0) it is BatchNorm; with the running statistics equal
 * to the batch's, training and inference compute the same function. Eval
 * mode is BatchNorm's. Running statistics are required (trackRunningStats).
 *
 * The paper starts from rmax = 1, dmax = 0 and relaxes them; pass a
 * function of the step for that, e.g.
 * `rmax: (t) => 1 + 2 * Math.min(1, Math.max(0, (t - 5000) / 35000))`.
 * The step is `numBatchesTracked` before the batch (saved in checkpoints).
 */
abstract class BatchRenorm extends BatchNorm {
  readonly rmax: ClipSchedule;
  readonly dmax: ClipSchedule;
  /** The r and d of the last training forward, [C] each (null before one). */
  lastCorrection: { r: Tensor; d: Tensor } | null = null;

  constructor(numFeatures: number, options: BatchRenormOptions = {}) {
    super(numFeatures, options);
    if (!this.trackRunningStats) throw new RangeError(`${this.constructor.name}: needs running statistics (r and d are defined by them); trackRunningStats cannot be false`);
    this.rmax = options.rmax ?? 3;
    this.dmax = options.dmax ?? 5;
    for (const [name, v] of [['rmax', this.rmax], ['dmax', this.dmax]] as const) {
      if (typeof v !== 'function') this.bound(name, 0, v);
    }
  }

  /** The bound `name` at `step`, checked (rmax >= 1, dmax >= 0, finite). */
  private bound(name: 'rmax' | 'dmax', step: number, v: ClipSchedule): number {
    const value = typeof v === 'function' ? v(step) : v;
    const min = name === 'rmax' ? 1 : 0;
    if (typeof value !== 'number' || !(value >= min) || !Number.isFinite(value)) {
      throw new RangeError(`${this.constructor.name}: ${name} must be a finite number >= ${min}${typeof v === 'function' ? ` (its schedule gave ${value} at step ${step})` : `, got ${value}`}`);
    }
    return value;
  }

  protected override normalizeBatch(x: Tensor, momentum: number | nd.NDArray | null): Tensor {
    const schedule = typeof this.rmax === 'function' || typeof this.dmax === 'function';
    // The count was already incremented for this batch when the statistics are updated.
    const step = schedule ? Number(this.numBatchesTracked!.item()) - (momentum === null ? 0 : 1) : 0;
    const rmax = this.bound('rmax', step, this.rmax);
    const dmax = this.bound('dmax', step, this.dmax);
    // Without an update, r and d still come from the running statistics: pass copies that the call may update.
    const [mean, variance] = momentum === null
      ? [this.runningMean!.detach().clone(), this.runningVar!.detach().clone()]
      : [this.runningMean!, this.runningVar!];
    const { y, r, d } = batchRenormWithCorrection(x, mean, variance, this.weight, this.bias, { training: true, momentum: momentum ?? 0, eps: this.eps, rmax, dmax });
    this.lastCorrection = { r: r!, d: d! };
    return y;
  }

  override extraRepr(): string {
    const fmt = (v: ClipSchedule): string => (typeof v === 'function' ? 'schedule' : String(v));
    return `${super.extraRepr()}, rmax=${fmt(this.rmax)}, dmax=${fmt(this.dmax)}`;
  }
}

/** Batch Renormalization over [N, C] or [N, C, L] inputs (Ioffe 2017): see BatchRenorm2d. */
export class BatchRenorm1d extends BatchRenorm {
  protected checkInputDim(x: Tensor): void {
    checkInput1d('BatchRenorm1d', x);
  }
}

/**
 * Batch Renormalization over [N, C, H, W] (Ioffe 2017): BatchNorm2d whose
 * training output is corrected towards the running statistics by the
 * clipped, constant r and d; eval mode as BatchNorm2d.
 */
export class BatchRenorm2d extends BatchRenorm {
  protected checkInputDim(x: Tensor): void {
    checkInput2d('BatchRenorm2d', x);
  }
}

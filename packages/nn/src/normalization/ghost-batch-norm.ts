import { type Tensor, cat } from '@normlab/autograd';
import * as nd from '@normlab/tensor';
import { BatchNorm, type BatchNormForwardOptions, type BatchNormOptions, checkInput1d, checkInput2d } from './batch-norm.js';

/** Options of GhostBatchNorm1d/2d: BatchNorm's, plus the size of the virtual batches. */
export interface GhostBatchNormOptions extends BatchNormOptions {
  /** Samples per virtual ("ghost") batch: the batch statistics are computed over each such slice of the batch. Required. */
  virtualBatchSize: number;
}

/**
 * Ghost Batch Normalization (Hoffer, Hubara & Soudry 2017, "Train longer,
 * generalize better"): in training, the batch of N samples is cut into
 * N / virtualBatchSize consecutive virtual batches, and each is batch
 * normalized with its own statistics, as BatchNorm would with that batch
 * alone. The running statistics are updated once per virtual batch, in
 * order (so `numBatchesTracked` counts virtual batches), and eval mode
 * normalizes with them exactly as BatchNorm (any batch size). A training
 * batch whose size is not a multiple of `virtualBatchSize` is an error
 * naming both; a virtual batch of the whole batch is plain BatchNorm.
 */
abstract class GhostBatchNorm extends BatchNorm {
  readonly virtualBatchSize: number;

  constructor(numFeatures: number, options: GhostBatchNormOptions) {
    super(numFeatures, options);
    const v = options?.virtualBatchSize;
    if (!Number.isInteger(v) || v <= 0) throw new RangeError(`${this.constructor.name}: virtualBatchSize must be a positive integer, got ${v}`);
    this.virtualBatchSize = v;
  }

  override forward(x: Tensor, options: BatchNormForwardOptions = {}): Tensor {
    const usesBatchStats = !this.runningStatsFrozen && (this.training || !this.trackRunningStats);
    if (!usesBatchStats) return super.forward(x, options);
    this.checkInputDim(x);
    const n = x.shape[0];
    const v = this.virtualBatchSize;
    // Checked before any virtual batch updates the running statistics, so that a bad input changes nothing.
    if (n % v !== 0) {
      throw new RangeError(`${this.constructor.name}: the batch size ${n} (input ${nd.fmtShape(x.shape)}) is not a multiple of virtualBatchSize ${v}`);
    }
    if (n === v) return super.forward(x, options);
    const perChannel = (v * x.size) / (n * x.shape[1]);
    if (perChannel <= 1) {
      throw new RangeError(`${this.constructor.name}: expected more than 1 value per channel in each virtual batch of ${v}, got input ${nd.fmtShape(x.shape)}`);
    }
    // A wrong channel count is BatchNorm's error, thrown by the first virtual batch before anything is updated.
    const parts: Tensor[] = [];
    for (let k = 0; k < n; k += v) parts.push(super.forward(x.narrow(0, k, v), options));
    return cat(parts, 0);
  }

  override extraRepr(): string {
    return `${super.extraRepr()}, virtualBatchSize=${this.virtualBatchSize}`;
  }
}

/** Ghost BatchNorm over [N, C] or [N, C, L] inputs: BatchNorm1d per virtual batch (see GhostBatchNorm2d). */
export class GhostBatchNorm1d extends GhostBatchNorm {
  protected checkInputDim(x: Tensor): void {
    checkInput1d('GhostBatchNorm1d', x);
  }
}

/**
 * Ghost Batch Normalization over [N, C, H, W] (Hoffer et al. 2017): the
 * batch is cut into virtual batches of `virtualBatchSize` samples, each
 * normalized per channel with its own mean and variance (over its samples,
 * H and W); the running statistics are updated once per virtual batch and
 * used in eval mode as BatchNorm2d does.
 */
export class GhostBatchNorm2d extends GhostBatchNorm {
  protected checkInputDim(x: Tensor): void {
    checkInput2d('GhostBatchNorm2d', x);
  }
}

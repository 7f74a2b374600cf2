import { Tensor } from '@normlab/autograd';
import * as nd from '@normlab/tensor';
import { instanceNorm } from '../functional/instance-norm.js';
import { type BatchNormOptions, NormBase } from './batch-norm.js';

/** As BatchNormOptions, with PyTorch's InstanceNorm defaults: affine and trackRunningStats false. */
export type InstanceNormOptions = BatchNormOptions;

/**
 * Instance Normalization (Ulyanov et al. 2016), as torch.nn.InstanceNorm*d:
 * statistics per (sample, channel) over the spatial dims (see
 * `instanceNorm`). Defaults differ from BatchNorm's, as PyTorch: no affine
 * parameters and no running statistics.
 *
 * With `trackRunningStats`, training-mode forwards update the running
 * statistics with the mean over the batch of the per-instance statistics
 * (the variance unbiased), and eval mode normalizes with them, as PyTorch.
 * `momentum: null` is a cumulative average over the batches seen (counted
 * in `numBatchesTracked`), as in BatchNorm; PyTorch's InstanceNorm instead
 * passes momentum 0 (no update) in that case. A frozen layer
 * (`freezeRunningStats()`) normalizes with the running statistics in both
 * modes.
 *
 * Unbatched inputs ([C, L] for 1d, [C, H, W] for 2d) are accepted, as
 * PyTorch. Without affine parameters or running statistics the channel
 * count of the input is not checked against numFeatures (PyTorch warns).
 */
export abstract class InstanceNorm extends NormBase {
  protected abstract readonly spatialDims: number;

  constructor(numFeatures: number, options: InstanceNormOptions = {}) {
    super(numFeatures, { ...options, affine: options.affine ?? false, trackRunningStats: options.trackRunningStats ?? false });
  }

  forward(x: Tensor): Tensor {
    this.checkInputDim(x);
    const unbatched = x.ndim === this.spatialDims + 1;
    const featureDim = unbatched ? 0 : 1;
    if (x.shape[featureDim] !== this.numFeatures && (this.affine || this.trackRunningStats)) {
      throw new RangeError(`${this.constructor.name}: expected ${this.numFeatures} channels in dim ${featureDim}, got input of shape ${nd.fmtShape(x.shape)}`);
    }
    const input = unbatched ? x.unsqueeze(0) : x;
    const eps = this.eps;
    const useInputStats = !this.runningStatsFrozen && (this.training || !this.trackRunningStats);
    const update = useInputStats && this.training && this.trackRunningStats && !this.statsUpdatesSuspended;
    let momentum: number | nd.NDArray = 0;
    if (update) momentum = this.countBatch();
    const y = useInputStats
      ? instanceNorm(input, update ? this.runningMean : null, update ? this.runningVar : null, this.weight, this.bias, { momentum, eps })
      : instanceNorm(input, this.runningMean, this.runningVar, this.weight, this.bias, { useInputStats: false, eps });
    return unbatched ? y.squeeze(0) : y;
  }
}

/** InstanceNorm over [N, C, L] (or unbatched [C, L]) inputs: statistics per (sample, channel) over L. */
export class InstanceNorm1d extends InstanceNorm {
  protected readonly spatialDims = 1;

  protected checkInputDim(x: Tensor): void {
    if (x.ndim !== 2 && x.ndim !== 3) throw new RangeError(`InstanceNorm1d: expected 2D (unbatched) or 3D (batched) input, got ${x.ndim}D input of shape ${nd.fmtShape(x.shape)}`);
  }
}

/** InstanceNorm over [N, C, H, W] (or unbatched [C, H, W]) inputs: statistics per (sample, channel) over H and W. */
export class InstanceNorm2d extends InstanceNorm {
  protected readonly spatialDims = 2;

  protected checkInputDim(x: Tensor): void {
    if (x.ndim !== 3 && x.ndim !== 4) throw new RangeError(`InstanceNorm2d: expected 3D (unbatched) or 4D (batched) input, got ${x.ndim}D input of shape ${nd.fmtShape(x.shape)}`);
  }
}

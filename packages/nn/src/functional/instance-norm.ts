import { Tensor, noGrad } from '@normlab/autograd';
import * as nd from '@normlab/tensor';
import { batchNorm, updateRunning } from './batch-norm.js';
import { checkChannelVectors, normalizeGroupsAffine } from './normalize.js';

/** Options of the functional `instanceNorm`. */
export interface InstanceNormFunctionalOptions {
  /**
   * Normalize with each instance's own statistics (default true); false
   * normalizes with the running statistics, which are then required.
   */
  useInputStats?: boolean;
  /** Weight of the new batch in the running averages; 0.1 by default (or a 0-D array, as batchNorm's). */
  momentum?: number | nd.NDArray;
  /** Added to the variance before the square root; 1e-5 by default. */
  eps?: number;
}

/**
 * Instance Normalization (Ulyanov et al. 2016), as
 * torch.nn.functional.instance_norm: each (sample, channel) of
 * x [N, C, *spatial] is normalized over its spatial positions alone,
 *
 *     mu[n,c], var[n,c] = mean and biased variance over the spatial dims
 *     y = (x - mu[n,c]) / sqrt(var[n,c] + eps) * weight[c] + bias[c]
 *
 * With `useInputStats` (default) and running statistics given, those are
 * updated in place as PyTorch does: running = (1 - momentum) * running +
 * momentum * (the mean over the batch of the per-instance statistics), the
 * variance with each instance's unbiased estimate var * m/(m-1), m the
 * number of spatial positions. With `useInputStats: false` the running
 * statistics normalize, as an eval-mode BatchNorm.
 */
export function instanceNorm(
  x: Tensor, runningMean: Tensor | null = null, runningVar: Tensor | null = null, weight: Tensor | null = null, bias: Tensor | null = null,
  options: InstanceNormFunctionalOptions = {},
): Tensor {
  const useInputStats = options.useInputStats ?? true;
  const momentum = options.momentum ?? 0.1;
  const eps = options.eps ?? 1e-5;
  if (!(x instanceof Tensor)) throw new TypeError('instanceNorm: expected a Tensor input');
  if (x.ndim < 3) throw new RangeError(`instanceNorm: expected input [N, C, *spatial] with at least 3 dims, got ${nd.fmtShape(x.shape)}`);
  if (!(eps > 0)) throw new RangeError(`instanceNorm: eps must be positive, got ${eps}`);
  if (typeof momentum === 'number' && !(momentum >= 0 && momentum <= 1)) throw new RangeError(`instanceNorm: momentum must be in [0, 1], got ${momentum}`);
  checkChannelVectors('instanceNorm', x, [['runningMean', runningMean], ['runningVar', runningVar], ['weight', weight], ['bias', bias]]);
  if ((runningMean === null) !== (runningVar === null)) throw new Error('instanceNorm: runningMean and runningVar must be given together');
  if (!useInputStats) {
    if (!runningMean || !runningVar) throw new Error('instanceNorm: running statistics are required when useInputStats is false');
    return batchNorm(x, runningMean, runningVar, weight, bias, { training: false, eps });
  }
  const m = x.size / (x.shape[0] * x.shape[1]);
  if (m <= 1) throw new RangeError(`instanceNorm: expected more than 1 spatial element when training, got input of shape ${nd.fmtShape(x.shape)}`);
  const dims = x.shape.map((_, i) => i).slice(2);
  if (runningMean && runningVar) {
    noGrad(() => {
      const xd = x.detach();
      const mean = xd.mean(dims).mean(0);
      const unbiased = xd.var(dims, { correction: 1 }).mean(0);
      updateRunning(runningMean, mean.data, momentum);
      updateRunning(runningVar, unbiased.data, momentum);
    });
  }
  const [N, C] = x.shape;
  return normalizeGroupsAffine('instanceNorm', x, [1, N * C, m], eps, weight, bias, { period: C, span: m });
}

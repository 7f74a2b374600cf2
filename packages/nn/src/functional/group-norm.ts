import { Tensor } from '@normlab/autograd';
import * as nd from '@normlab/tensor';
import { type EpsArg, checkChannelVectors, epsOf, normalizeGroupsAffine } from './normalize.js';

/**
 * Group Normalization (Wu & He 2018), as torch.nn.functional.group_norm:
 * the C channels of x [N, C, *] are split into `numGroups` groups of
 * C / numGroups consecutive channels, and each (sample, group) is normalized
 * over its channels and all the spatial positions,
 *
 *     mu, var = mean and biased variance over (C / G) * prod(*) values
 *     y = (x - mu) / sqrt(var + eps) * weight[c] + bias[c]
 *
 * with the optional affine `weight` and `bias` per channel ([C]), not per
 * group. One group is LayerNorm over [C, *] (with a per-channel affine);
 * C groups is InstanceNorm. Same in training and eval mode.
 *
 * `eps` (1e-5) may be given positionally, as PyTorch, or as `{ eps }`.
 */
export function groupNorm(x: Tensor, numGroups: number, weight: Tensor | null = null, bias: Tensor | null = null, eps: EpsArg = 1e-5): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError('groupNorm: expected a Tensor input');
  const e = epsOf('groupNorm', eps);
  if (x.ndim < 2) throw new RangeError(`groupNorm: expected input [N, C, *] with at least 2 dims, got ${nd.fmtShape(x.shape)}`);
  if (!Number.isInteger(numGroups) || numGroups < 1) throw new RangeError(`groupNorm: numGroups must be a positive integer, got ${numGroups}`);
  const [N, C] = x.shape;
  if (C % numGroups !== 0) {
    throw new RangeError(`groupNorm: expected the number of channels (${C}, dim 1 of input ${nd.fmtShape(x.shape)}) to be divisible by numGroups (${numGroups})`);
  }
  checkChannelVectors('groupNorm', x, [['weight', weight], ['bias', bias]]);
  const S = x.size / (N * C);
  return normalizeGroupsAffine('groupNorm', x, [1, N * numGroups, (C / numGroups) * S], e, weight, bias, { period: numGroups, span: S });
}

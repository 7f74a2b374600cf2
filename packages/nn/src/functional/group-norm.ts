import { Tensor } from '@normlab/autograd';
import * as nd from '@normlab/tensor';
import { type EpsArg, epsOf, standardize } from './layer-norm.js';

/** [1, C, 1, ...]: a per-channel vector shaped to broadcast against x [N, C, ...]. */
export function channelShape(x: Tensor): number[] {
  return x.shape.map((d, i) => (i === 1 ? d : 1));
}

/** @internal y * weight + bias with per-channel [C] weight and bias (either may be null). */
export function channelAffine(y: Tensor, weight: Tensor | null, bias: Tensor | null): Tensor {
  const shape = channelShape(y);
  let out = y;
  if (weight) out = out.mul(weight.reshape(shape));
  if (bias) out = out.add(bias.reshape(shape));
  return out;
}

/** @internal Checks optional per-channel tensors against C. */
export function checkChannelVectors(op: string, x: Tensor, tensors: readonly (readonly [string, Tensor | null])[]): void {
  const C = x.shape[1];
  for (const [name, t] of tensors) {
    if (t && (t.ndim !== 1 || t.shape[0] !== C)) {
      throw new RangeError(`${op}: expected ${name} of shape [${C}] for input ${nd.fmtShape(x.shape)}, got ${nd.fmtShape(t.shape)}`);
    }
  }
}

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
  const perGroup = x.size / (N * numGroups);
  const grouped = x.reshape([N, numGroups, perGroup]);
  const y = standardize(grouped, [2], e).reshape(x.shape);
  return channelAffine(y, weight, bias);
}

import { Tensor, maximum } from '@normlab/autograd';
import * as nd from '@normlab/tensor';
import { channelAffine, channelShape, checkChannelVectors, normalizeGroupsAffine } from './normalize.js';

/**
 * Filter Response Normalization of x [N, C, ...] (Singh & Krishnan 2019,
 * "Filter Response Normalization Layer: Eliminating Batch Dependence in the
 * Training of Deep Neural Networks"): per sample and channel, with nu^2 the
 * mean of x^2 over the spatial dims (no mean is subtracted),
 *
 *     xhat = x / sqrt(nu^2 + eps)        y = weight * xhat + bias
 *
 * with per-channel [C] weight and bias. It uses no batch statistics, so
 * training and eval compute the same function. For [N, C] inputs nu^2 is x^2
 * itself and xhat ~ sign(x) unless eps is large: the paper then learns eps
 * (pass a Tensor: eps may be a number, or a [C] or 0-D Tensor of positive
 * values, differentiated like any input). Follow it by `tlu`, the paper's
 * activation: FRN does not center its output. With a number eps it runs on
 * the fused normalization kernels (a mean square per (sample, channel), the
 * per-channel affine folded in); a learned eps is composed from
 * differentiable ops.
 */
export function filterResponseNorm(x: Tensor, weight: Tensor | null = null, bias: Tensor | null = null, eps: number | Tensor = 1e-6): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError('filterResponseNorm: expected a Tensor input');
  if (x.ndim < 2) throw new RangeError(`filterResponseNorm: expected input [N, C, ...] with at least 2 dims, got ${nd.fmtShape(x.shape)}`);
  checkChannelVectors('filterResponseNorm', x, [['weight', weight], ['bias', bias]]);
  const [N, C] = x.shape;
  // A fixed eps: the mean square per (sample, channel) and the per-channel affine on the fused kernels (uncentered).
  if (typeof eps === 'number') {
    if (!(eps > 0)) throw new RangeError(`filterResponseNorm: eps must be positive, got ${eps}`);
    const S = nd.sizeOf(x.shape.slice(2));
    return normalizeGroupsAffine('filterResponseNorm', x, [1, N * C, S], eps, weight, bias, { period: C, span: S }, false);
  }
  if (!(eps instanceof Tensor) || !(eps.ndim === 0 || (eps.ndim === 1 && eps.shape[0] === C))) {
    throw new RangeError(`filterResponseNorm: expected eps to be a positive number or a tensor of shape [] or [${C}] for input ${nd.fmtShape(x.shape)}, got ${eps instanceof Tensor ? nd.fmtShape(eps.shape) : typeof eps}`);
  }
  const epsT = eps.ndim === 0 ? eps : eps.reshape(channelShape(x));
  const spatial = Array.from({ length: x.ndim - 2 }, (_, i) => i + 2);
  const nu2 = spatial.length > 0 ? x.square().mean(spatial, { keepdim: true }) : x.square();
  return channelAffine(x.mul(nu2.add(epsT).rsqrt()), weight, bias);
}

/**
 * The Thresholded Linear Unit of Singh & Krishnan (2019), FRN's activation:
 * z = max(y, tau) per channel, tau [C] learned (a ReLU whose threshold is
 * learned; tau = 0 gives ReLU). On ties the gradient is split between y
 * and tau, as torch.max(y, tau).
 */
export function tlu(x: Tensor, tau: Tensor): Tensor {
  if (!(x instanceof Tensor) || !(tau instanceof Tensor)) throw new TypeError('tlu: expected Tensors x and tau');
  if (x.ndim < 2) throw new RangeError(`tlu: expected input [N, C, ...] with at least 2 dims, got ${nd.fmtShape(x.shape)}`);
  checkChannelVectors('tlu', x, [['tau', tau]]);
  return maximum(x, tau.reshape(channelShape(x)));
}

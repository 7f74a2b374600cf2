import { Tensor } from '@normlab/autograd';
import * as nd from '@normlab/tensor';
import { type EpsArg, checkNormalizedInput, epsOf, normalizeGroupsAffine, normalizedShapeOf } from './normalize.js';

export type { EpsArg } from './normalize.js';

/** Options of the functional `layerNorm`. */
export interface LayerNormFunctionalOptions {
  /** Added to the variance before the square root; 1e-5 by default. */
  eps?: number;
}

/**
 * Layer Normalization (Ba et al. 2016), as torch.nn.functional.layer_norm:
 * every sample is normalized over its last `normalizedShape.length` dims,
 *
 *     mu = mean over the last dims      var = the biased variance over them
 *     y = (x - mu) / sqrt(var + eps) * weight + bias
 *
 * with `weight` and `bias` (optional) of shape `normalizedShape`, applied
 * elementwise. The trailing dims of x must equal `normalizedShape`. The
 * statistics are the same in training and eval mode; nothing is tracked.
 *
 * `eps` (1e-5) may be given positionally, as PyTorch, or as `{ eps }`.
 *
 * @example layerNorm(x, [4]) // x [N, T, 4]: each of the N*T rows gets mean 0, variance ~1
 */
export function layerNorm(
  x: Tensor, normalizedShape: number | readonly number[], weight: Tensor | null = null, bias: Tensor | null = null, eps: EpsArg = 1e-5,
): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError('layerNorm: expected a Tensor input');
  const shape = normalizedShapeOf('layerNorm', normalizedShape);
  const e = epsOf('layerNorm', eps);
  checkNormalizedInput('layerNorm', x, shape, [['weight', weight], ['bias', bias]]);
  const features = nd.sizeOf(shape);
  return normalizeGroupsAffine('layerNorm', x, [1, x.size / features, features], e, weight, bias, { period: 1, span: 1 });
}

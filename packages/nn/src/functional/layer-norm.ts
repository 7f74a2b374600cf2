import { Tensor } from '@normlab/autograd';
import * as nd from '@normlab/tensor';
import { type EpsArg, epsOf, normalizeGroups } from './normalize.js';

export type { EpsArg } from './normalize.js';

/** Options of the functional `layerNorm`. */
export interface LayerNormFunctionalOptions {
  /** Added to the variance before the square root; 1e-5 by default. */
  eps?: number;
}

/** @internal A normalized shape given as one integer or a list, checked. */
export function normalizedShapeOf(op: string, normalizedShape: number | readonly number[]): number[] {
  const shape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
  if (shape.length === 0) throw new RangeError(`${op}: normalizedShape must have at least one dim, got []`);
  if (!shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new RangeError(`${op}: normalizedShape must hold positive integers, got ${nd.fmtShape(shape)}`);
  }
  return shape;
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
  const k = shape.length;
  if (x.ndim < k || !nd.shapesEqual(x.shape.slice(x.ndim - k), shape)) {
    throw new RangeError(`layerNorm: given normalizedShape=${nd.fmtShape(shape)}, expected input with shape [*, ${shape.join(', ')}], but got input of shape ${nd.fmtShape(x.shape)}`);
  }
  for (const [name, t] of [['weight', weight], ['bias', bias]] as const) {
    if (t && !nd.shapesEqual(t.shape, shape)) {
      throw new RangeError(`layerNorm: expected ${name} of shape ${nd.fmtShape(shape)} (normalizedShape), got ${nd.fmtShape(t.shape)}`);
    }
  }
  const features = nd.sizeOf(shape);
  let y = normalizeGroups('layerNorm', x, [1, x.size / features, features], e);
  if (weight) y = y.mul(weight);
  if (bias) y = y.add(bias);
  return y;
}

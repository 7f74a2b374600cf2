import { Tensor } from '@normlab/autograd';
import * as nd from '@normlab/tensor';

/** Options of the functional `layerNorm`. */
export interface LayerNormFunctionalOptions {
  /** Added to the variance before the square root; 1e-5 by default. */
  eps?: number;
}

/** A number or an options object: `eps` may be passed positionally, as PyTorch's `F.layer_norm`. */
export type EpsArg = number | { eps?: number };

/** @internal The eps of a positional-or-options argument, checked positive. */
export function epsOf(op: string, arg: EpsArg | undefined): number {
  const eps = typeof arg === 'number' ? arg : arg?.eps ?? 1e-5;
  if (!(eps > 0)) throw new RangeError(`${op}: eps must be positive, got ${eps}`);
  return eps;
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
 * (x - mean) / sqrt(var + eps) over `dims`, with the biased variance: the
 * normalization every layer here shares, composed from differentiable ops
 * so that derivatives of every order come for free.
 */
export function standardize(x: Tensor, dims: readonly number[], eps: number): Tensor {
  const centered = x.sub(x.mean(dims, { keepdim: true }));
  return centered.mul(centered.square().mean(dims, { keepdim: true }).add(eps).rsqrt());
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
  const dims = shape.map((_, i) => x.ndim - k + i);
  let y = standardize(x, dims, e);
  if (weight) y = y.mul(weight);
  if (bias) y = y.add(bias);
  return y;
}

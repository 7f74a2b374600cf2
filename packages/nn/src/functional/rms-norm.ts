import { Tensor } from '@normlab/autograd';
import * as nd from '@normlab/tensor';
import { checkNormalizedInput, normalizeGroupsAffine, normalizedShapeOf } from './normalize.js';

/** `eps` of `rmsNorm`: a number, null (the dtype's machine epsilon), or `{ eps }`. */
export type RmsEpsArg = number | null | { eps?: number | null };

/** The machine epsilon of a floating dtype, as `torch.finfo(dtype).eps`. */
export function machineEpsilon(dtype: nd.DType): number {
  if (dtype === 'float32') return 2 ** -23;
  if (dtype === 'float64') return 2 ** -52;
  throw new TypeError(`machineEpsilon: expected a floating point dtype (float32 or float64), got ${dtype}`);
}

/**
 * Root Mean Square Layer Normalization (Zhang & Sennrich 2019), as
 * torch.nn.functional.rms_norm: every sample is scaled by the root mean
 * square of its last `normalizedShape.length` dims, without centering,
 *
 *     rms = sqrt(mean(x^2 over the last dims) + eps)
 *     y   = x / rms * weight                          weight: [...normalizedShape]
 *
 * There is no bias and no mean subtraction: the output keeps the input's
 * direction and sign pattern, only its scale is normalized. `eps` defaults to
 * the machine epsilon of x's dtype (PyTorch's `eps=None`). The same in
 * training and eval mode.
 *
 * @example rmsNorm(x, [64]) // x [N, T, 64]: every row of 64 has root mean square ~1
 */
export function rmsNorm(x: Tensor, normalizedShape: number | readonly number[], weight: Tensor | null = null, eps: RmsEpsArg = null): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError('rmsNorm: expected a Tensor input');
  const shape = normalizedShapeOf('rmsNorm', normalizedShape);
  if (!nd.isFloat(x.dtype)) throw new TypeError(`rmsNorm: expected a floating point input, got ${x.dtype}`);
  const given = typeof eps === 'object' && eps !== null ? eps.eps ?? null : eps;
  const e = given ?? machineEpsilon(x.dtype);
  if (!(e > 0)) throw new RangeError(`rmsNorm: eps must be positive, got ${e}`);
  checkNormalizedInput('rmsNorm', x, shape, [['weight', weight]]);
  const features = nd.sizeOf(shape);
  // The mean square per row and the weight per feature, on the fused kernels (uncentered).
  return normalizeGroupsAffine('rmsNorm', x, [1, x.size / features, features], e, weight, null, { period: 1, span: 1 }, false);
}

import { Tensor } from '@normlab/autograd';
import { fmtShape } from '@normlab/tensor';

/**
 * x @ weight^T + bias, as torch.nn.functional.linear: x [..., in], weight
 * [out, in], bias [out] (optional); the result is [..., out].
 */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  if (!(x instanceof Tensor) || !(weight instanceof Tensor)) throw new TypeError('linear: expected Tensors input and weight');
  if (weight.ndim !== 2) throw new RangeError(`linear: expected weight [out, in], got ${fmtShape(weight.shape)}`);
  const [out, inFeatures] = weight.shape;
  if (x.ndim === 0 || x.shape[x.ndim - 1] !== inFeatures) {
    throw new RangeError(`linear: expected input with last dim ${inFeatures} (weight ${fmtShape(weight.shape)}), got shape ${fmtShape(x.shape)}`);
  }
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== out)) throw new RangeError(`linear: expected bias of shape [${out}], got ${fmtShape(bias.shape)}`);
  const y = x.matmul(weight.mT);
  return bias ? y.add(bias) : y;
}

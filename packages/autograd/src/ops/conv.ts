import * as nd from '@normlab/tensor';
import { record, saveForBackward, sumTangents } from '../function.js';
import { Tensor } from '../tensor.js';

/**
 * 2-D convolution (torch.nn.functional.conv2d). x [N,Cin,H,W] (or [Cin,H,W]),
 * weight [Cout, Cin/groups, kH, kW], bias [Cout].
 *
 * The gradient with respect to x is a transposed convolution and the one with
 * respect to the weight a correlation of x with the output gradient; both are
 * recorded ops whose own gradients are convolutions again, so double
 * backward works.
 */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, options: nd.Conv2dOptions = {}): Tensor {
  const out = nd.conv2d(x.data, weight.data, bias?.data ?? null, options);
  const batched = x.ndim === 4;
  const y = record('conv2d', out, [x, weight, bias ?? null], (g) => [
    x.requiresGrad ? conv2dInputGrad(g, weight, x.shape, options) : null,
    weight.requiresGrad ? conv2dWeightGrad(g, x, weight.shape, options) : null,
    bias?.requiresGrad ? g.sum(batched ? [0, 2, 3] : [1, 2]) : null,
  ], ([tx, tw, tb]) => sumTangents(
    tx ? conv2d(tx, weight, null, options) : null,
    tw ? conv2d(x, tw, null, options) : null,
    tb ? tb.reshape([tb.shape[0], 1, 1]) : null,
  ));
  return saveForBackward(y, { 'input 0': x, 'input 1': weight });
}

/** d conv2d / d x applied to g; linear in g and in weight. */
function conv2dInputGrad(g: Tensor, weight: Tensor, inputShape: nd.Shape, options: nd.Conv2dOptions): Tensor {
  const out = nd.conv2dBackwardInput(g.data, weight.data, inputShape, options);
  const y = record('conv2dBackwardInput', out, [g, weight], (u) => [
    g.requiresGrad ? conv2d(u, weight, null, options) : null,
    weight.requiresGrad ? conv2dWeightGrad(g, u, weight.shape, options) : null,
  ], ([tg, tw]) => sumTangents(tg ? conv2dInputGrad(tg, weight, inputShape, options) : null, tw ? conv2dInputGrad(g, tw, inputShape, options) : null));
  return saveForBackward(y, { 'input 0': g, 'input 1': weight });
}

/** d conv2d / d weight applied to g; linear in g and in x. */
function conv2dWeightGrad(g: Tensor, x: Tensor, weightShape: nd.Shape, options: nd.Conv2dOptions): Tensor {
  const out = nd.conv2dBackwardWeight(g.data, x.data, weightShape, options);
  const y = record('conv2dBackwardWeight', out, [g, x], (u) => [
    g.requiresGrad ? conv2d(x, u, null, options) : null,
    x.requiresGrad ? conv2dInputGrad(g, u, x.shape, options) : null,
  ], ([tg, tx]) => sumTangents(tg ? conv2dWeightGrad(tg, x, weightShape, options) : null, tx ? conv2dWeightGrad(g, tx, weightShape, options) : null));
  return saveForBackward(y, { 'input 0': g, 'input 1': x });
}

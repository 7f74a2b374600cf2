import * as nd from '@normlab/tensor';
import { record, saveForBackward } from '../function.js';
import { Tensor } from '../tensor.js';
import { gather } from './indexing.js';

type Pair = number | readonly [number, number];

// Pooling is linear in its input once the max positions are fixed, so each
// backward is a recorded op whose gradient is the forward pooling again.

/** Max pooling over [N,C,H,W] (or [C,H,W]); the gradient goes to each window's max. */
export function maxPool2d(x: Tensor, kernelSize: Pair, options: Omit<nd.MaxPool2dOptions, 'returnIndices'> = {}): Tensor {
  return maxPool2dWithIndices(x, kernelSize, options).values;
}

/** Max pooling that also returns the int32 flat index (h*W+w) of each max in its plane. */
export function maxPool2dWithIndices(x: Tensor, kernelSize: Pair, options: Omit<nd.MaxPool2dOptions, 'returnIndices'> = {}): { values: Tensor; indices: Tensor } {
  const { values, indices } = nd.maxPool2d(x.data, kernelSize, { ...options, returnIndices: true });
  const out = record('maxPool2d', values, [x], (g) => [maxUnpool(g, indices, x.shape)], ([tx]) => readAtIndices(tx as Tensor, indices).reshape(values.shape));
  // The indices returned share their storage with the ones the backward reads.
  saveForBackward(out, { indices });
  return { values: out, indices: new Tensor(indices) };
}

function maxUnpool(g: Tensor, indices: nd.NDArray, inputShape: nd.Shape): Tensor {
  const out = nd.maxPool2dBackward(g.data, indices, inputShape);
  // Its adjoint reads the gradient at the max positions.
  const y = record('maxPool2dBackward', out, [g], (u) => [readAtIndices(u, indices).reshape(g.shape)], ([tg]) => maxUnpool(tg as Tensor, indices, inputShape));
  return saveForBackward(y, { indices });
}

/**
 * u (of the input's shape) read at each window's max position. A window that
 * lies wholly in the padding (possible with dilation) has no max position: its
 * index is -1 and its value -inf whatever x is, so it reads 0. The mask is
 * applied on the device (multiplying by 1 changes no value), so the indices
 * are never read back.
 */
function readAtIndices(u: Tensor, indices: nd.NDArray): Tensor {
  const flat = indices.flatten(-2);
  const uf = u.flatten(-2);
  const safe = nd.maximum(flat, 0).astype('int32');
  const mask = new Tensor(nd.ge(flat, 0).astype(u.dtype));
  return gather(uf, -1, new Tensor(safe)).mul(mask);
}

/** Average pooling over [N,C,H,W] (or [C,H,W]). */
export function avgPool2d(x: Tensor, kernelSize: Pair, options: nd.AvgPool2dOptions = {}): Tensor {
  const out = nd.avgPool2d(x.data, kernelSize, options);
  return record('avgPool2d', out, [x], (g) => [avgPoolGrad(g, x.shape, kernelSize, options)], ([tx]) => avgPool2d(tx as Tensor, kernelSize, options));
}

function avgPoolGrad(g: Tensor, inputShape: nd.Shape, kernelSize: Pair, options: nd.AvgPool2dOptions): Tensor {
  const out = nd.avgPool2dBackward(g.data, inputShape, kernelSize, options);
  return record('avgPool2dBackward', out, [g], (u) => [avgPool2d(u, kernelSize, options)], ([tg]) => avgPoolGrad(tg as Tensor, inputShape, kernelSize, options));
}

/** Averages over windows chosen so that the output has `outputSize` (torch's adaptive_avg_pool2d). */
export function adaptiveAvgPool2d(x: Tensor, outputSize: nd.AdaptiveSize): Tensor {
  const out = nd.adaptiveAvgPool2d(x.data, outputSize);
  const size: [number, number] = [out.shape[out.ndim - 2], out.shape[out.ndim - 1]];
  return record('adaptiveAvgPool2d', out, [x], (g) => [adaptiveGrad(g, x.shape, size)], ([tx]) => adaptiveAvgPool2d(tx as Tensor, outputSize));
}

function adaptiveGrad(g: Tensor, inputShape: nd.Shape, outputSize: [number, number]): Tensor {
  const out = nd.adaptiveAvgPool2dBackward(g.data, inputShape);
  return record('adaptiveAvgPool2dBackward', out, [g], (u) => [adaptiveAvgPool2d(u, outputSize)], ([tg]) => adaptiveGrad(tg as Tensor, inputShape, outputSize));
}

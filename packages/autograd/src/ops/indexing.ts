import * as nd from '@normlab/tensor';
import { record, saveForBackward, tangentsOrZeros } from '../function.js';
import { Tensor } from '../tensor.js';

// Index ops come in adjoint pairs: gather/scatterAdd and indexSelect/indexAdd.
// Each one's gradient is the other, so derivatives of any order work.

function checkIndexTensor(op: string, index: Tensor): void {
  if (!(index instanceof Tensor)) throw new TypeError(`${op}: expected index to be a Tensor, got ${typeof index}`);
}

const zerosOf = (shape: nd.Shape, like: Tensor): Tensor => new Tensor(nd.zeros(shape, { dtype: like.dtype, device: like.device }));

/** out[..i..] = x[..index[..i..]..] along `dim`, as torch.gather. */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  checkIndexTensor('gather', index);
  const out = nd.gather(x.data, dim, index.data);
  const y = record('gather', out, [x], (g) => [scatterAdd(zerosOf(x.shape, g), dim, index, g)], ([tx]) => gather(tx as Tensor, dim, index));
  return saveForBackward(y, { index });
}

/**
 * x with src[..i..] added at out[..index[..i..]..] along `dim` (out of place),
 * as torch.scatter_add. The gradient of src needs index and src of one shape.
 */
export function scatterAdd(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  checkIndexTensor('scatterAdd', index);
  const out = nd.scatterAdd(x.data, dim, index.data, src.data);
  if (src.requiresGrad && !nd.shapesEqual(index.shape, src.shape)) {
    throw new RangeError(`scatterAdd: the gradient with respect to src needs index ${nd.fmtShape(index.shape)} and src ${nd.fmtShape(src.shape)} of the same shape`);
  }
  const y = record('scatterAdd', out, [x, src], (g) => [g, src.requiresGrad ? gather(g, dim, index) : null], (ts) => {
    const [tx, tsrc] = tangentsOrZeros(ts, [x, src]);
    return scatterAdd(tx, dim, index, tsrc);
  });
  return saveForBackward(y, { index });
}

/** The slices index[0], index[1], ... of x along `dim` (index: 1-D int32). */
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  checkIndexTensor('indexSelect', index);
  const out = nd.indexSelect(x.data, dim, index.data);
  const y = record('indexSelect', out, [x], (g) => [indexAdd(zerosOf(x.shape, g), dim, index, g)], ([tx]) => indexSelect(tx as Tensor, dim, index));
  return saveForBackward(y, { index });
}

/** x with alpha * src's slice k added at slice index[k] along `dim` (out of place). */
export function indexAdd(x: Tensor, dim: number, index: Tensor, src: Tensor, options: { alpha?: number } = {}): Tensor {
  checkIndexTensor('indexAdd', index);
  const alpha = options.alpha ?? 1;
  const out = nd.indexAdd(x.data, dim, index.data, src.data, { alpha });
  const y = record('indexAdd', out, [x, src], (g) => [g, src.requiresGrad ? indexSelect(g, dim, index).mul(alpha) : null], (ts) => {
    const [tx, tsrc] = tangentsOrZeros(ts, [x, src]);
    return indexAdd(tx, dim, index, tsrc, { alpha });
  });
  return saveForBackward(y, { index });
}

/** One-hot int32 encoding of int32 class indices (not differentiable). */
export function oneHot(indices: Tensor, numClasses = -1): Tensor {
  return new Tensor(nd.oneHot(indices.data, numClasses));
}

import { matmul as ndMatmul } from '@normlab/tensor';
import { record, saveForBackward, sumTangents } from '../function.js';
import { Tensor } from '../tensor.js';

/**
 * torch.matmul: 1-D operands are promoted to a row (left) or a column
 * (right) and the added dim removed; batch dims broadcast. The gradients are
 * g @ b^T and a^T @ g; the engine sums them over broadcast batch dims.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (!(a instanceof Tensor) || !(b instanceof Tensor)) throw new TypeError('matmul: both operands must be Tensors');
  if (a.ndim === 0 || b.ndim === 0) ndMatmul(a.data, b.data); // throws the shape error
  const a2 = a.ndim === 1 ? a.unsqueeze(0) : a;
  const b2 = b.ndim === 1 ? b.unsqueeze(1) : b;
  let out = record('matmul', ndMatmul(a2.data, b2.data), [a2, b2], (g) => [
    // A transposed operand (Linear's weight.mT) gets its gradient in its own layout, (b g^T)^T rather than
    // g b^T, so that the transpose's backward hands the leaf a contiguous gradient; the same products are
    // summed in the same order, so the values are identical (as PyTorch's mm backward does).
    a2.requiresGrad ? (isTransposed(a2) && g.ndim === 2 ? b2.matmul(g.mT).mT : g.matmul(b2.mT)) : null,
    b2.requiresGrad ? (isTransposed(b2) && g.ndim === 2 ? g.mT.matmul(a2).mT : a2.mT.matmul(g)) : null,
  ], ([ta, tb]) => sumTangents(ta?.matmul(b2) ?? null, tb ? a2.matmul(tb) : null));
  saveForBackward(out, { 'input 0': a2, 'input 1': b2 });
  if (a.ndim === 1) out = out.squeeze(-2);
  if (b.ndim === 1) out = out.squeeze(-1);
  return out;
}

/** A 2-D view laid out column by column (the transpose of a contiguous matrix), rows and columns both longer than 1. */
function isTransposed(t: Tensor): boolean {
  const [r, c] = t.shape;
  return t.ndim === 2 && r > 1 && c > 1 && t.data.strides[0] === 1 && t.data.strides[1] === r;
}

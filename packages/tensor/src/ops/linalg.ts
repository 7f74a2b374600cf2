import type { NDArray } from '../ndarray.js';
import { backendFor } from '../registry.js';
import { broadcastShapes, fmtShape } from '../shape.js';
import { checkNotDisposed } from '../tidy.js';

/**
 * Matrix product with torch.matmul's rules: 1-D x 1-D is a dot product;
 * a 1-D operand is promoted to a matrix (a row on the left, a column on the
 * right) and the added dim removed; batch dims broadcast.
 *
 * @example matmul(zeros([10, 2, 3]), zeros([3, 4])) // shape [10, 2, 4]
 */
export function matmul(a: NDArray, b: NDArray): NDArray {
  if (a.ndim === 0 || b.ndim === 0) {
    throw new RangeError(`matmul: both arguments need at least 1 dim, got ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`);
  }
  if (a.device !== b.device) throw new Error(`matmul: tensors are on different devices: ${a.device} and ${b.device}`);
  checkNotDisposed('matmul', a.storage);
  checkNotDisposed('matmul', b.storage);
  if (a.dtype !== b.dtype) throw new TypeError(`matmul: dtypes differ: ${a.dtype} @ ${b.dtype}`);
  const a2 = a.ndim === 1 ? a.unsqueeze(0) : a;
  const b2 = b.ndim === 1 ? b.unsqueeze(1) : b;
  const [m, k] = a2.shape.slice(-2);
  const [k2, n] = b2.shape.slice(-2);
  if (k !== k2) throw new RangeError(`matmul: inner dimensions differ: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`);
  const batch = broadcastShapes('matmul', a2.shape.slice(0, -2), b2.shape.slice(0, -2));
  const batchSize = batch.reduce((p, d) => p * d, 1);
  const a3 = a2.expand([...batch, m, k]).reshape([batchSize, m, k]);
  const b3 = b2.expand([...batch, k, n]).reshape([batchSize, k, n]);
  let out = backendFor(a.device).matmul(a3, b3).reshape([...batch, m, n]);
  if (a.ndim === 1) out = out.squeeze(-2);
  if (b.ndim === 1) out = out.squeeze(-1);
  return out;
}

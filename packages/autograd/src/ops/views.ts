import { type DType, type Device, type Shape, arange, fmtShape, normalizeDim, sum as ndSum, zeros } from '@normlab/tensor';
import { isForwardADActive } from '../forward-ad.js';
import { record } from '../function.js';
import { Tensor } from '../tensor.js';
import { noteGraphView } from './in-place.js';
import { indexAdd } from './indexing.js';

// Views share storage with their input; their gradients reshape, permute or
// re-embed the incoming gradient, so they are differentiable to any order.

/** A recorded view of x, noted so that an in-place write to x (or to it) while recording is refused. */
function viewOf(x: Tensor, out: Tensor): Tensor {
  noteGraphView(x, out);
  return out;
}

/** x with a new shape (a view when the strides allow, as PyTorch); the gradient is reshaped back. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const out = x.data.reshape(shape);
  return viewOf(x, record('reshape', out, [x], (g) => [g.reshape(x.shape)], ([tx]) => (tx as Tensor).reshape(out.shape)));
}

/** x with a new shape, sharing storage (throws where the strides cannot express it). */
export function view(x: Tensor, shape: Shape): Tensor {
  const out = x.data.view(shape);
  // The tangent need not have x's strides (an expanded zero, say): reshaped, not viewed.
  return viewOf(x, record('view', out, [x], (g) => [g.reshape(x.shape)], ([tx]) => (tx as Tensor).reshape(out.shape)));
}

/** Dims startDim..endDim merged into one. */
export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  const out = x.data.flatten(startDim, endDim);
  return viewOf(x, record('flatten', out, [x], (g) => [g.reshape(x.shape)], ([tx]) => (tx as Tensor).reshape(out.shape)));
}

/** The dims reordered (a view); the gradient is permuted back. */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  const out = x.data.permute([...dims]);
  const order = dims.map((d) => normalizeDim('permute', d, x.ndim));
  const inverse = new Array<number>(order.length);
  order.forEach((d, i) => (inverse[d] = i));
  return viewOf(x, record('permute', out, [x], (g) => [g.permute(inverse)], ([tx]) => (tx as Tensor).permute(order)));
}

/** Dims dim0 and dim1 swapped (a view). */
export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  return viewOf(x, record('transpose', x.data.transpose(dim0, dim1), [x], (g) => [g.transpose(dim0, dim1)], ([tx]) => (tx as Tensor).transpose(dim0, dim1)));
}

/** Size-1 dims stretched to `shape` (a stride-0 view); the engine sums the gradient back. */
export function expand(x: Tensor, shape: Shape): Tensor {
  // The engine sums the gradient back over the expanded dims.
  return viewOf(x, record('expand', x.data.expand([...shape]), [x], (g) => [g], ([tx]) => (tx as Tensor).expand(shape)));
}

/** x broadcast to `shape` (a view), NumPy's rules; the engine sums the gradient back. */
export function broadcastTo(x: Tensor, shape: Shape): Tensor {
  return viewOf(x, record('broadcastTo', x.data.broadcastTo(shape), [x], (g) => [g], ([tx]) => (tx as Tensor).broadcastTo(shape)));
}

/** Size-1 dims removed (`dim`, or all of them). */
export function squeeze(x: Tensor, dim?: number | readonly number[]): Tensor {
  const out = x.data.squeeze(dim);
  return viewOf(x, record('squeeze', out, [x], (g) => [g.reshape(x.shape)], ([tx]) => (tx as Tensor).reshape(out.shape)));
}

/** A size-1 dim inserted at `dim`. */
export function unsqueeze(x: Tensor, dim: number): Tensor {
  const out = x.data.unsqueeze(dim);
  return viewOf(x, record('unsqueeze', out, [x], (g) => [g.reshape(x.shape)], ([tx]) => (tx as Tensor).reshape(out.shape)));
}

/** x[start:end:step] along `dim`; its gradient is scattered back into zeros of x's shape. */
export function slice(x: Tensor, dim: number, start?: number, end?: number, step?: number): Tensor {
  const out = x.data.slice(dim, start, end, step);
  if (!x.requiresGrad && !isForwardADActive()) return new Tensor(out);
  const d = normalizeDim('slice', dim, x.ndim);
  const n = x.shape[d];
  const s0 = start ?? 0;
  const first = Math.min(Math.max(s0 < 0 ? s0 + n : s0, 0), n);
  const by = step ?? 1;
  const positions = arange(first, first + out.shape[d] * by, by, { dtype: 'int32', device: x.device });
  // The gradient is the adjoint of selecting those positions: adding g at them into zeros.
  return viewOf(x, record('slice', out, [x], (g) => [indexAdd(new Tensor(zeros(x.shape, { dtype: g.dtype, device: g.device })), d, new Tensor(positions), g)],
    ([tx]) => (tx as Tensor).slice(dim, start, end, step)));
}

/** `length` elements of `dim` from `start` (a view). */
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  const d = normalizeDim('narrow', dim, x.ndim);
  x.data.narrow(d, start, length); // validates
  const s = start < 0 ? start + x.shape[d] : start;
  return slice(x, d, s, s + length);
}

/** Index `index` of `dim`, which is removed (a view). */
export function select(x: Tensor, dim: number, index: number): Tensor {
  const d = normalizeDim('select', dim, x.ndim);
  x.data.select(d, index); // validates
  const i = index < 0 ? index + x.shape[d] : index;
  return squeeze(slice(x, d, i, i + 1), d);
}

/** x copied to `device` (x itself when already there); the gradient goes back to x's device. */
export function toDevice(x: Tensor, device: Device): Tensor {
  if (device === x.device) return x;
  const from = x.device;
  return record('to', x.data.to(device), [x], (g) => [g.to(from)], ([tx]) => (tx as Tensor).to(device));
}

/** x converted to `dtype` (x itself when already of it); the gradient is converted back. */
export function astype(x: Tensor, dtype: DType): Tensor {
  if (dtype === x.dtype) return x;
  const from = x.dtype;
  return record('astype', x.data.astype(dtype), [x], (g) => [g.astype(from)], ([tx]) => (tx as Tensor).astype(dtype));
}

/** A copy of x in new storage, still in the graph. */
export function clone(x: Tensor): Tensor {
  return record('clone', x.data.clone(), [x], (g) => [g], ([tx]) => (tx as Tensor).clone());
}

/**
 * Sums `g` over the dims that broadcasting added or expanded, so that it has
 * `shape` again. Differentiable (its gradient expands back).
 */
export function sumToShape(g: Tensor, shape: Shape, what: string): Tensor {
  const lead = g.ndim - shape.length;
  if (lead < 0) throw new RangeError(`backward: gradient of ${what} has shape ${fmtShape(g.shape)}, which does not broadcast to the input's ${fmtShape(shape)}`);
  const dims: number[] = [];
  for (let i = 0; i < g.ndim; i++) {
    if (i < lead) dims.push(i);
    else if (shape[i - lead] === 1 && g.shape[i] !== 1) dims.push(i);
    else if (shape[i - lead] !== g.shape[i]) {
      throw new RangeError(`backward: gradient of ${what} has shape ${fmtShape(g.shape)}, which does not broadcast to the input's ${fmtShape(shape)}`);
    }
  }
  if (dims.length === 0) return g.reshape(shape);
  const summed = record('sumToShape', ndSum(g.data, dims, { keepdim: true }), [g], (gg) => [gg.expand(g.shape)], ([tg]) => (tg as Tensor).sum(dims, { keepdim: true }));
  return summed.reshape(shape);
}

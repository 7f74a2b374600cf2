/**
 * The normalizations whose groups are whole runs of x [1, G, B] (LayerNorm's
 * rows, GroupNorm's groups) with their affine map folded in: the forward
 * writes y and xhat in one pass, the backward computes dx, dweight and dbias
 * together, as PyTorch's fused LayerNorm and GroupNorm kernels do. A backend
 * without these kernels gets the same maps composed from its BatchNorm
 * kernels, elementwise ops and reductions (still on its device).
 */
import type { AffineLayout } from '../backend.js';
import { isFloat } from '../dtype.js';
import { NDArray } from '../ndarray.js';
import { backendFor } from '../registry.js';
import { fmtShape } from '../shape.js';
import { checkNotDisposed } from '../tidy.js';
import { normalizeBackward, normalizeForward } from './normalize.js';
import { checkVector } from './normalize-args.js';
import { add, div, mul } from './elementwise.js';
import { sum } from './reduce.js';

function check(op: string, x: NDArray, vectors: readonly (readonly [string, NDArray])[], layout: AffineLayout): void {
  if (!(x instanceof NDArray) || x.ndim !== 3 || x.shape[0] !== 1) throw new RangeError(`${op}: expected an input [1, G, B], got ${x instanceof NDArray ? fmtShape(x.shape) : typeof x}`);
  if (!isFloat(x.dtype)) throw new TypeError(`${op}: expected a floating point input, got ${x.dtype}`);
  checkNotDisposed(op, x.storage);
  const [, G, B] = x.shape;
  const { period: P, span: Q } = layout;
  if (!(Number.isInteger(P) && P >= 1 && G % P === 0) || !(Number.isInteger(Q) && Q >= 1 && B % Q === 0)) {
    throw new RangeError(`${op}: layout { period: ${P}, span: ${Q} } does not fit an input [1, ${G}, ${B}] (period must divide G, span must divide B)`);
  }
  for (const [name, v] of vectors) {
    const n = name === 'weight' || name === 'bias' ? (P * B) / Q : G;
    checkVector(op, name, v, x, n, `input [1, ${G}, ${B}] and layout { period: ${P}, span: ${Q} }`);
  }
}

/** x [1, G, B] as [G / P, P, B / Q, Q], and a weight of P * B / Q values as [1, P, B / Q, 1], for the composed forms. */
function views(x: NDArray, v: NDArray, { period: P, span: Q }: AffineLayout): [NDArray, NDArray] {
  const [, G, B] = x.shape;
  return [x.reshape([G / P, P, B / Q, Q]), v.reshape([1, P, B / Q, 1])];
}

/**
 * xhat = (x - mean) * invstd per group g of x [1, G, B] (mean and invstd
 * [G]) and y = xhat * weight + bias with the parameters mapped by `layout`.
 * Returns [y, xhat].
 */
export function normalizeAffineForward(x: NDArray, mean: NDArray, invstd: NDArray, weight: NDArray, bias: NDArray, layout: AffineLayout): [NDArray, NDArray] {
  const op = 'normalizeAffineForward';
  check(op, x, [['mean', mean], ['invstd', invstd], ['weight', weight], ['bias', bias]], layout);
  const backend = backendFor(x.device);
  if (backend.normalizeAffineForward) return backend.normalizeAffineForward(x, mean, invstd, weight, bias, layout);
  const [, xhat] = normalizeForward(x, mean, invstd);
  const [h4, w4] = views(xhat, weight, layout);
  const [, b4] = views(xhat, bias, layout);
  return [add(mul(h4, w4), b4).reshape(x.shape), xhat];
}

/**
 * The fused backward of `normalizeAffineForward` from dy and the saved xhat
 * and invstd: with g = dy * weight (mapped by `layout`) and B values per
 * group, dx = invstd / B * (B g - sum(g) - xhat sum(g xhat)); dweight and
 * dbias are the sums of dy * xhat and dy over the entries each parameter
 * applies to. Returns [dx, dweight, dbias].
 *
 * `centered: false` is the backward of an RMS normalization (xhat = x *
 * invstd, invstd from the mean square, mean 0): dx loses its sum(g) term.
 */
export function normalizeAffineBackward(
  dy: NDArray, xhat: NDArray, invstd: NDArray, weight: NDArray, layout: AffineLayout, options: { centered?: boolean } = {},
): [NDArray, NDArray, NDArray] {
  const centered = options.centered ?? true;
  const op = 'normalizeAffineBackward';
  check(op, xhat, [['invstd', invstd], ['weight', weight]], layout);
  if (!(dy instanceof NDArray) || dy.shape.join() !== xhat.shape.join()) {
    throw new RangeError(`${op}: dy ${dy instanceof NDArray ? fmtShape(dy.shape) : typeof dy} must have xhat's shape ${fmtShape(xhat.shape)}`);
  }
  const g = dy.astype(xhat.dtype);
  const backend = backendFor(xhat.device);
  if (backend.normalizeAffineBackward) return backend.normalizeAffineBackward(g, xhat, invstd, weight, layout, centered);
  const [g4, w4] = views(g, weight, layout);
  const [h4] = views(xhat, weight, layout);
  const gw = mul(g4, w4).reshape(xhat.shape);
  let [dx] = normalizeBackward(gw, xhat, invstd);
  // Not centered: add back invstd / B * sum(g) per group, the term of the mean that was never subtracted.
  if (!centered) dx = add(dx, mul(invstd.reshape([1, xhat.shape[1], 1]), div(sum(gw, 2, { keepdim: true }), xhat.shape[2])));
  const n = weight.shape[0];
  return [dx, sum(mul(g4, h4), [0, 3]).reshape([n]), sum(g4, [0, 3]).reshape([n])];
}

/**
 * The normalization kernels every norm layer runs on, as ops on x viewed as
 * [A, G, B, ...]: statistics per G over every other dim (moments), the
 * normalize-and-affine map with a per-G affine, and the fused backward.
 * BatchNorm is x [N, C, H, W] as is (G = C); LayerNorm, GroupNorm,
 * InstanceNorm and weight standardization pass their own views
 * ([1, rows, features], [1, N * groups, rest], ...; see
 * nn/src/functional/normalize.ts), and normalize-affine.ts adds the affine
 * maps that vary inside a group.
 */
import { isFloat } from '../dtype.js';
import { NDArray } from '../ndarray.js';
import { backendFor } from '../registry.js';
import { fmtShape, sizeOf } from '../shape.js';
import { checkNotDisposed } from '../tidy.js';
import { checkVector } from './normalize-args.js';

/** x [N, C, ...] viewed as [N, C, S]. */
function asNCS(op: string, x: NDArray): NDArray {
  if (!(x instanceof NDArray)) throw new TypeError(`${op}: expected an NDArray input`);
  if (x.ndim < 2) throw new RangeError(`${op}: expected input [N, C, ...] with at least 2 dims, got ${fmtShape(x.shape)}`);
  if (!isFloat(x.dtype)) throw new TypeError(`${op}: expected a floating point input, got ${x.dtype}`);
  checkNotDisposed(op, x.storage);
  return x.reshape([x.shape[0], x.shape[1], sizeOf(x.shape.slice(2))]);
}

function checkChannelVector(op: string, name: string, v: NDArray | null, x: NDArray): void {
  if (v === null) return;
  if (!(v instanceof NDArray)) throw new TypeError(`${op}: expected ${name} to be an NDArray or null`);
  checkVector(op, name, v, x, x.shape[1], `input ${fmtShape(x.shape)}`);
}

/**
 * Mean and biased variance of each group G of x [A, G, ...] (a channel of
 * BatchNorm's [N, C, H, W], a row of LayerNorm's [1, rows, features]) over
 * every dim but 1, by two passes (never E[x^2] - E[x]^2). Returns
 * [mean [G], var [G]].
 */
export function normalizeMoments(x: NDArray): [NDArray, NDArray] {
  const v = asNCS('normalizeMoments', x);
  if (v.shape[0] * v.shape[2] === 0) throw new RangeError(`normalizeMoments: no values per channel in input ${fmtShape(x.shape)}`);
  return backendFor(x.device).normalizeMoments(v);
}

/**
 * xhat = (x - mean) * invstd and y = xhat * weight + bias, per group G of
 * x [A, G, ...]. Returns [y, xhat], both of x's shape (y is xhat itself when
 * there is neither weight nor bias).
 */
export function normalizeForward(x: NDArray, mean: NDArray, invstd: NDArray, weight: NDArray | null = null, bias: NDArray | null = null): [NDArray, NDArray] {
  const op = 'normalizeForward';
  const v = asNCS(op, x);
  for (const [name, t] of [['mean', mean], ['invstd', invstd], ['weight', weight], ['bias', bias]] as const) checkChannelVector(op, name, t, x);
  const [y, xhat] = backendFor(x.device).normalizeForward(v, mean, invstd, weight, bias);
  return [y.reshape(x.shape), xhat.reshape(x.shape)];
}

/**
 * BatchNorm's backward in one fused pass, from the upstream gradient dy and
 * the saved xhat and invstd (Ioffe & Szegedy 2015's formulas, with m values per
 * group G, m = A * B for x viewed as [A, G, B]):
 *
 *     dweight = sum(dy * xhat)        dbias = sum(dy)
 *     dx = weight * invstd / m * (m * dy - dbias - xhat * dweight)
 *
 * Returns [dx (x's shape), dweight [G], dbias [G]].
 */
export function normalizeBackward(dy: NDArray, xhat: NDArray, invstd: NDArray, weight: NDArray | null = null): [NDArray, NDArray, NDArray] {
  const op = 'normalizeBackward';
  const h = asNCS(op, xhat);
  if (!(dy instanceof NDArray) || dy.shape.join() !== xhat.shape.join()) {
    throw new RangeError(`${op}: dy ${dy instanceof NDArray ? fmtShape(dy.shape) : typeof dy} must have xhat's shape ${fmtShape(xhat.shape)}`);
  }
  checkChannelVector(op, 'invstd', invstd, xhat);
  checkChannelVector(op, 'weight', weight, xhat);
  const [dx, dw, db] = backendFor(xhat.device).normalizeBackward(dy.reshape(h.shape).astype(xhat.dtype), h, invstd, weight);
  return [dx.reshape(xhat.shape), dw, db];
}

/**
 * 2-D max, average and adaptive average pooling with PyTorch's semantics
 * (output size, ceil mode, padding rules and checks), and the backward
 * helpers their gradients need.
 */
import { checkNotDisposed } from '../tidy.js';
import type { Pool2dGeometry } from '../backend.js';
import { allocTyped, isFloat } from '../dtype.js';
import { NDArray } from '../ndarray.js';
import { backendFor } from '../registry.js';
import { type Shape, fmtShape, shapesEqual } from '../shape.js';
import { fromTyped } from '../creation.js';
import { mul } from './elementwise.js';
import { matmul } from './linalg.js';

/** One integer for both spatial dims, or [height, width]. */
type Pair = number | readonly [number, number];

/** Options of `maxPool2d`, as in torch.nn.functional.max_pool2d. */
export interface MaxPool2dOptions {
  /** Step between windows; the kernel size by default. */
  stride?: Pair;
  /** Implicit -inf on both sides, at most half the kernel size; 0 by default. */
  padding?: Pair;
  /** Spacing between window taps; 1 by default. */
  dilation?: Pair;
  /** Round the output size up instead of down (the last window must start inside the input or the left padding); false by default. */
  ceilMode?: boolean;
  /** Also return the flat index h*W+w of each max within its plane; false by default. */
  returnIndices?: boolean;
}

/** Options of `avgPool2d`, as in torch.nn.functional.avg_pool2d. */
export interface AvgPool2dOptions {
  /** Step between windows; the kernel size by default. */
  stride?: Pair;
  /** Zeros on both sides, at most half the kernel size; 0 by default. */
  padding?: Pair;
  /** Round the output size up instead of down; false by default. */
  ceilMode?: boolean;
  /** Count padded positions in the divisor (not those past the padded input in ceil mode); true by default. */
  countIncludePad?: boolean;
  /** Divide every window sum by this instead; absent by default. */
  divisorOverride?: number;
}

interface PoolGeometryOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  ceilMode?: boolean;
  countIncludePad?: boolean;
}

function pair(op: string, name: string, v: Pair | undefined, dflt: readonly [number, number], min: number): [number, number] {
  const p: readonly number[] = v === undefined ? dflt : typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(p) || p.length !== 2 || !p.every((e) => Number.isInteger(e) && e >= min)) {
    const what = min > 0 ? 'positive' : 'non-negative';
    throw new RangeError(`${op}: ${name} must be a ${what} integer or a pair of them, got ${Array.isArray(v) ? fmtShape(v) : String(v)}`);
  }
  return [p[0], p[1]];
}

/** PyTorch's pooling_output_shape for one axis. */
function pooledSize(size: number, k: number, pad: number, stride: number, dilation: number, ceil: boolean): number {
  let out = Math.floor((size + 2 * pad - dilation * (k - 1) - 1 + (ceil ? stride - 1 : 0)) / stride) + 1;
  // In ceil mode the last window must start inside the input or the left padding.
  if (ceil && (out - 1) * stride >= size + pad) out--;
  return out;
}

function checkPoolInput(op: string, x: unknown): asserts x is NDArray {
  if (!(x instanceof NDArray)) throw new TypeError(`${op}: expected an NDArray input, got ${x === null ? 'null' : typeof x}`);
  if (!isFloat(x.dtype)) throw new TypeError(`${op}: expected a floating point input, got ${x.dtype}`);
  checkNotDisposed(op, x.storage);
}

/**
 * Validates a 2-D pooling and resolves its geometry, output size included.
 *
 * @param inputShape [N, C, H, W] or [C, H, W], with C, H, W non-zero.
 * @param kernelSize window size, positive.
 * @param options stride (= kernel size), padding 0 (at most kernel/2), dilation 1, ceilMode false, countIncludePad true.
 * @example pool2dGeometry([1, 1, 5, 5], 2).outSize // [2, 2]
 */
export function pool2dGeometry(inputShape: Shape, kernelSize: Pair, options: PoolGeometryOptions = {}, op = 'pool2d'): Pool2dGeometry {
  if (inputShape.length !== 3 && inputShape.length !== 4) {
    throw new RangeError(`${op}: expected input with 4 dims [N,C,H,W] (or 3 unbatched), got ${fmtShape(inputShape)}`);
  }
  const [C, H, W] = inputShape.slice(-3);
  if (C === 0 || H === 0 || W === 0) {
    throw new RangeError(`${op}: expected non-zero channel and spatial sizes, got input ${fmtShape(inputShape)}`);
  }
  const kernel = pair(op, 'kernelSize', kernelSize, [1, 1], 1);
  const stride = pair(op, 'stride', options.stride, kernel, 1);
  const padding = pair(op, 'padding', options.padding, [0, 0], 0);
  const dilation = pair(op, 'dilation', options.dilation, [1, 1], 1);
  if (padding[0] > Math.floor(kernel[0] / 2) || padding[1] > Math.floor(kernel[1] / 2)) {
    throw new RangeError(`${op}: padding should be at most half of the kernel size, got padding ${fmtShape(padding)} and kernel size ${fmtShape(kernel)}`);
  }
  const ceilMode = options.ceilMode ?? false;
  const outSize: [number, number] = [
    pooledSize(H, kernel[0], padding[0], stride[0], dilation[0], ceilMode),
    pooledSize(W, kernel[1], padding[1], stride[1], dilation[1], ceilMode),
  ];
  if (outSize[0] < 1 || outSize[1] < 1) {
    throw new RangeError(
      `${op}: output size is too small: input ${fmtShape(inputShape)} with kernel ${fmtShape(kernel)}, stride ${fmtShape(stride)}, padding ${fmtShape(padding)}, dilation ${fmtShape(dilation)} gives ${outSize[0]}x${outSize[1]}`,
    );
  }
  return { kernel, stride, padding, dilation, ceilMode, countIncludePad: options.countIncludePad ?? true, outSize };
}

const to4d = (x: NDArray): NDArray => (x.ndim === 4 ? x : x.unsqueeze(0));

/**
 * 2-D max pooling over [N, C, H, W] (or [C, H, W]) with implicit -inf padding; NaN propagates.
 *
 * @returns [N, C, outH, outW], out = floor((H + 2*padding - dilation*(k-1) - 1) / stride) + 1
 *   (ceil in ceilMode); with `returnIndices`, also the int32 flat index h*W+w of each max in its plane.
 * @example maxPool2d(x, 2) // halves H and W
 * @example const { values, indices } = maxPool2d(x, 3, { stride: 2, padding: 1, returnIndices: true })
 */
export function maxPool2d(x: NDArray, kernelSize: Pair, options: MaxPool2dOptions & { returnIndices: true }): { values: NDArray; indices: NDArray };
export function maxPool2d(x: NDArray, kernelSize: Pair, options?: MaxPool2dOptions & { returnIndices?: false }): NDArray;
export function maxPool2d(x: NDArray, kernelSize: Pair, options: MaxPool2dOptions = {}): NDArray | { values: NDArray; indices: NDArray } {
  checkPoolInput('maxPool2d', x);
  const g = pool2dGeometry(x.shape, kernelSize, { ...options, countIncludePad: false }, 'maxPool2d');
  let [values, indices] = backendFor(x.device).maxPool2d(to4d(x), g);
  if (x.ndim === 3) {
    values = values.squeeze(0);
    indices = indices.squeeze(0);
  }
  return options.returnIndices ? { values, indices } : values;
}

/**
 * Gradient of maxPool2d: each gradient entry added at the input position its max came from.
 *
 * @param grad gradient of the pooled values, [N, C, outH, outW] or [C, outH, outW].
 * @param indices the int32 indices maxPool2d returned, of grad's shape.
 * @param inputShape the pooled input's shape, of grad's rank.
 * @example maxPool2dBackward(onesLike(values), indices, x.shape)
 */
export function maxPool2dBackward(grad: NDArray, indices: NDArray, inputShape: Shape): NDArray {
  const op = 'maxPool2dBackward';
  checkPoolInput(op, grad);
  if (!(indices instanceof NDArray) || indices.dtype !== 'int32') {
    throw new TypeError(`${op}: expected int32 indices, got ${indices instanceof NDArray ? indices.dtype : typeof indices}`);
  }
  if (indices.device !== grad.device) throw new Error(`${op}: grad is on '${grad.device}' but indices are on '${indices.device}'`);
  checkNotDisposed(op, indices.storage);
  if ((grad.ndim !== 3 && grad.ndim !== 4) || !shapesEqual(grad.shape, indices.shape) || inputShape.length !== grad.ndim
    || !shapesEqual(grad.shape.slice(0, -2), inputShape.slice(0, -2))) {
    throw new RangeError(`${op}: grad ${fmtShape(grad.shape)}, indices ${fmtShape(indices.shape)} and input shape ${fmtShape(inputShape)} do not agree`);
  }
  const in4 = inputShape.length === 4 ? inputShape : [1, ...inputShape];
  const out = backendFor(grad.device).maxPool2dBackward(to4d(grad), to4d(indices), in4);
  return grad.ndim === 4 ? out : out.squeeze(0);
}

/** Scale per output window turning countIncludePad averages into sums divided by `divisor`, or a number when uniform. */
function overrideScale(g: Pool2dGeometry, H: number, W: number, divisor: number): number[] | number {
  const sizes = (out: number, s: number, p: number, k: number, n: number): number[] =>
    Array.from({ length: out }, (_, i) => Math.min(i * s - p + k, n + p) - (i * s - p));
  const hs = sizes(g.outSize[0], g.stride[0], g.padding[0], g.kernel[0], H);
  const ws = sizes(g.outSize[1], g.stride[1], g.padding[1], g.kernel[1], W);
  const scale = hs.flatMap((h) => ws.map((w) => (h * w) / divisor));
  return scale.every((v) => v === scale[0]) ? scale[0] : scale;
}

function applyScale(x: NDArray, scale: number[] | number, outSize: [number, number]): NDArray {
  if (typeof scale === 'number') return scale === 1 ? x : mul(x, scale);
  const data = allocTyped(x.dtype, scale.length);
  data.set(scale);
  return mul(x, fromTyped(data, outSize, x.device));
}

function checkDivisor(op: string, d: number | undefined): void {
  if (d !== undefined && (!Number.isFinite(d) || d === 0)) throw new RangeError(`${op}: divisorOverride must be a non-zero number, got ${d}`);
}

/**
 * 2-D average pooling over [N, C, H, W] (or [C, H, W]) with zero padding.
 *
 * @returns [N, C, outH, outW]; each value is its window's sum over the input divided by the
 *   window size clipped to the padded input (countIncludePad, default), to the input, or by divisorOverride.
 * @example avgPool2d(x, 2) // 2x2 means
 * @example avgPool2d(x, 3, { stride: 1, padding: 1, countIncludePad: false })
 */
export function avgPool2d(x: NDArray, kernelSize: Pair, options: AvgPool2dOptions = {}): NDArray {
  const op = 'avgPool2d';
  checkPoolInput(op, x);
  checkDivisor(op, options.divisorOverride);
  const { divisorOverride, ...rest } = options;
  const g = pool2dGeometry(x.shape, kernelSize, { ...rest, dilation: 1, countIncludePad: divisorOverride !== undefined ? true : rest.countIncludePad }, op);
  let out = backendFor(x.device).avgPool2d(to4d(x), g);
  if (divisorOverride !== undefined) out = applyScale(out, overrideScale(g, x.shape[x.ndim - 2], x.shape[x.ndim - 1], divisorOverride), g.outSize);
  return x.ndim === 4 ? out : out.squeeze(0);
}

/**
 * Gradient of avgPool2d: each gradient entry divided by its window's divisor and spread over the window.
 *
 * @param grad [N, C, outH, outW] or [C, outH, outW].
 * @param inputShape the pooled input's shape.
 * @param kernelSize and `options`: those the forward avgPool2d was called with.
 * @example avgPool2dBackward(onesLike(y), x.shape, 2)
 */
export function avgPool2dBackward(grad: NDArray, inputShape: Shape, kernelSize: Pair, options: AvgPool2dOptions = {}): NDArray {
  const op = 'avgPool2dBackward';
  checkPoolInput(op, grad);
  checkDivisor(op, options.divisorOverride);
  const { divisorOverride, ...rest } = options;
  const g = pool2dGeometry(inputShape, kernelSize, { ...rest, dilation: 1, countIncludePad: divisorOverride !== undefined ? true : rest.countIncludePad }, op);
  const expected = [...inputShape.slice(0, -2), ...g.outSize];
  if (!shapesEqual(grad.shape, expected)) {
    throw new RangeError(`${op}: expected grad of shape ${fmtShape(expected)} for input ${fmtShape(inputShape)}, got ${fmtShape(grad.shape)}`);
  }
  let g4 = to4d(grad);
  if (divisorOverride !== undefined) g4 = applyScale(g4, overrideScale(g, inputShape[inputShape.length - 2], inputShape[inputShape.length - 1], divisorOverride), g.outSize);
  const in4 = inputShape.length === 4 ? inputShape : [1, ...inputShape];
  const out = backendFor(grad.device).avgPool2dBackward(g4, in4, g);
  return inputShape.length === 4 ? out : out.squeeze(0);
}

/** Output size of adaptive pooling: a number, or [h, w] where null keeps that input size. */
export type AdaptiveSize = number | readonly [number | null, number | null];

function adaptiveSize(op: string, inputShape: Shape, outputSize: AdaptiveSize): [number, number] {
  if (inputShape.length !== 3 && inputShape.length !== 4) {
    throw new RangeError(`${op}: expected input with 4 dims [N,C,H,W] (or 3 unbatched), got ${fmtShape(inputShape)}`);
  }
  const [C, H, W] = inputShape.slice(-3);
  if (C === 0 || H === 0 || W === 0) throw new RangeError(`${op}: expected non-zero channel and spatial sizes, got input ${fmtShape(inputShape)}`);
  const raw = typeof outputSize === 'number' ? [outputSize, outputSize] : outputSize;
  if (!Array.isArray(raw) || raw.length !== 2) throw new RangeError(`${op}: outputSize must be a number or a pair, got ${String(outputSize)}`);
  const out: [number, number] = [raw[0] ?? H, raw[1] ?? W];
  if (!out.every((v) => Number.isInteger(v) && v >= 1)) {
    throw new RangeError(`${op}: outputSize must be positive integers, got ${fmtShape(out)}`);
  }
  return out;
}

/** [out, n] averaging matrix: row i is 1/len over PyTorch's window floor(i*n/out) .. ceil((i+1)*n/out). */
function adaptiveMatrix(x: NDArray, out: number, n: number): NDArray {
  const data = allocTyped(x.dtype, out * n);
  for (let i = 0; i < out; i++) {
    const s = Math.floor((i * n) / out);
    const e = Math.ceil(((i + 1) * n) / out);
    for (let j = s; j < e; j++) data[i * n + j] = 1 / (e - s);
  }
  return fromTyped(data, [out, n], x.device);
}

/**
 * Adaptive average pooling to a fixed output size, with PyTorch's windows
 * start = floor(i*H/outH), end = ceil((i+1)*H/outH). Pooling is separable, so
 * it is computed as A_h @ x @ A_w^T with small averaging matrices.
 *
 * @param x [N, C, H, W] or [C, H, W], floating point.
 * @param outputSize a number or [outH, outW] (null keeps that input size).
 * @returns [N, C, outH, outW] or [C, outH, outW].
 * @example adaptiveAvgPool2d(x, 1) // global average pooling, [N, C, 1, 1]
 */
export function adaptiveAvgPool2d(x: NDArray, outputSize: AdaptiveSize): NDArray {
  const op = 'adaptiveAvgPool2d';
  checkPoolInput(op, x);
  const [oh, ow] = adaptiveSize(op, x.shape, outputSize);
  const lead = x.shape.slice(0, -2);
  const [H, W] = x.shape.slice(-2);
  const planes = lead.reduce((p, d) => p * d, 1);
  if (planes === 0) return backendFor(x.device).fill([...lead, oh, ow], x.dtype, 0);
  const aw = adaptiveMatrix(x, ow, W).transpose(0, 1); // [W, ow]
  const ah = adaptiveMatrix(x, oh, H); // [oh, H]
  const rows = matmul(x.reshape([planes * H, W]), aw).reshape([planes, H, ow]);
  return matmul(ah, rows).reshape([...lead, oh, ow]);
}

/**
 * Gradient of adaptiveAvgPool2d: A_h^T @ grad @ A_w.
 *
 * @param grad [N, C, outH, outW] or [C, outH, outW].
 * @param inputShape the pooled input's shape.
 * @example adaptiveAvgPool2dBackward(onesLike(y), x.shape)
 */
export function adaptiveAvgPool2dBackward(grad: NDArray, inputShape: Shape): NDArray {
  const op = 'adaptiveAvgPool2dBackward';
  checkPoolInput(op, grad);
  if (grad.ndim !== inputShape.length) {
    throw new RangeError(`${op}: grad ${fmtShape(grad.shape)} and input shape ${fmtShape(inputShape)} have different ranks`);
  }
  const [oh, ow] = adaptiveSize(op, inputShape, [grad.shape[grad.ndim - 2], grad.shape[grad.ndim - 1]]);
  const lead = inputShape.slice(0, -2);
  if (!shapesEqual(grad.shape.slice(0, -2), lead)) {
    throw new RangeError(`${op}: grad ${fmtShape(grad.shape)} does not match input shape ${fmtShape(inputShape)}`);
  }
  const [H, W] = inputShape.slice(-2);
  const planes = lead.reduce((p, d) => p * d, 1);
  if (planes === 0) return backendFor(grad.device).fill(inputShape, grad.dtype, 0);
  const aw = adaptiveMatrix(grad, ow, W); // [ow, W]
  const ahT = adaptiveMatrix(grad, oh, H).transpose(0, 1); // [H, oh]
  const rows = matmul(grad.reshape([planes * oh, ow]), aw).reshape([planes, oh, W]);
  return matmul(ahT, rows).reshape(inputShape);
}

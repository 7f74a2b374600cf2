/**
 * 2-D convolution as im2col + GEMM, with PyTorch's conv2d semantics, and
 * the two products its gradients need (with respect to the input and to the
 * weight). Everything goes through the device's backend kernels.
 */
import { checkNotDisposed } from '../tidy.js';
import type { Conv2dGeometry } from '../backend.js';
import { isFloat } from '../dtype.js';
import { NDArray } from '../ndarray.js';
import { backendFor } from '../registry.js';
import { type Shape, fmtShape, shapesEqual } from '../shape.js';
import { add } from './elementwise.js';

/** One integer for both spatial dims, or [height, width]. */
export type IntPair = number | readonly [number, number];

/** Options of `conv2d`, as in torch.nn.functional.conv2d. */
export interface Conv2dOptions {
  /** Step between windows; 1 by default. */
  stride?: IntPair;
  /**
   * Zeros added on both sides (0 by default); `'valid'` is 0, `'same'` keeps
   * the input size (stride 1 only; an odd total puts the extra row/column at
   * the bottom/right, as PyTorch does).
   */
  padding?: IntPair | 'same' | 'valid';
  /** Spacing between kernel taps; 1 by default. */
  dilation?: IntPair;
  /** Number of blocked connections from input to output channels; 1 by default. */
  groups?: number;
}

/** The resolved geometry of one conv2d call. */
export interface Conv2dPlan {
  /** Stride, symmetric padding, dilation and kernel size passed to im2col/col2im. */
  geometry: Conv2dGeometry;
  /** Output height and width. */
  outSize: [number, number];
  /** Zero rows and columns added at the bottom and right before the conv ('same' with an even kernel extent). */
  extraPadding: [number, number];
  groups: number;
  /** False for an unbatched [C,H,W] input. */
  batched: boolean;
  /** [N, Cout, outH, outW], or [Cout, outH, outW] unbatched. */
  outputShape: number[];
}

function intPair(op: string, name: string, v: IntPair | undefined, dflt: number, min: number): [number, number] {
  const p: readonly number[] = v === undefined ? [dflt, dflt] : typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(p) || p.length !== 2 || !p.every((e) => Number.isInteger(e) && e >= min)) {
    const what = min > 0 ? 'positive' : 'non-negative';
    throw new RangeError(`${op}: ${name} must be a ${what} integer or a pair of them, got ${Array.isArray(v) ? fmtShape(v) : String(v)}`);
  }
  return [p[0], p[1]];
}

/**
 * Validates shapes and options of a conv2d and resolves its geometry.
 *
 * @param inputShape [N, Cin, H, W], or [Cin, H, W] unbatched.
 * @param weightShape [Cout, Cin/groups, kH, kW].
 * @param options stride 1, padding 0, dilation 1, groups 1 by default.
 * @param op the op name used in error messages.
 * @example conv2dGeometry([8, 3, 32, 32], [16, 3, 3, 3], { padding: 1 }).outputShape // [8, 16, 32, 32]
 */
export function conv2dGeometry(inputShape: Shape, weightShape: Shape, options: Conv2dOptions = {}, op = 'conv2d'): Conv2dPlan {
  if (inputShape.length !== 3 && inputShape.length !== 4) {
    throw new RangeError(`${op}: expected input with 4 dims [N,C,H,W] (or 3 unbatched), got ${fmtShape(inputShape)}`);
  }
  if (weightShape.length !== 4) {
    throw new RangeError(`${op}: expected weight with 4 dims [Cout,Cin/groups,kH,kW], got ${fmtShape(weightShape)}`);
  }
  const batched = inputShape.length === 4;
  const [N, C, H, W] = batched ? inputShape : [1, ...inputShape];
  const [Cout, Cg, kh, kw] = weightShape;
  const groups = options.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1) throw new RangeError(`${op}: groups must be a positive integer, got ${groups}`);
  if (Cout % groups !== 0) {
    throw new RangeError(`${op}: out channels ${Cout} of weight ${fmtShape(weightShape)} are not divisible by groups=${groups}`);
  }
  if (Cg * groups !== C) {
    throw new RangeError(
      `${op}: input ${fmtShape(inputShape)} has ${C} channels but weight ${fmtShape(weightShape)} with groups=${groups} expects ${Cg * groups} (weight.shape[1] * groups)`,
    );
  }
  if (kh < 1 || kw < 1) throw new RangeError(`${op}: kernel size must be positive, got weight ${fmtShape(weightShape)}`);
  if (H < 1 || W < 1) throw new RangeError(`${op}: input ${fmtShape(inputShape)} has an empty spatial dim`);
  const stride = intPair(op, 'stride', options.stride, 1, 1);
  const dilation = intPair(op, 'dilation', options.dilation, 1, 1);
  const extent: [number, number] = [dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1];
  let padding: [number, number];
  const extra: [number, number] = [0, 0];
  const pad = options.padding ?? 0;
  if (pad === 'valid') padding = [0, 0];
  else if (pad === 'same') {
    if (stride[0] !== 1 || stride[1] !== 1) {
      throw new RangeError(`${op}: padding='same' is not supported for strided convolutions, got stride ${fmtShape(stride)}`);
    }
    // Total padding extent-1 per axis; PyTorch puts the odd one at the end.
    const total = [extent[0] - 1, extent[1] - 1];
    padding = [Math.floor(total[0] / 2), Math.floor(total[1] / 2)];
    extra[0] = total[0] - 2 * padding[0];
    extra[1] = total[1] - 2 * padding[1];
  } else if (typeof pad === 'string') {
    throw new RangeError(`${op}: padding must be 'same', 'valid', or non-negative integers, got '${pad}'`);
  } else padding = intPair(op, 'padding', pad, 0, 0);
  const padded = [H + 2 * padding[0] + extra[0], W + 2 * padding[1] + extra[1]];
  if (padded[0] < extent[0] || padded[1] < extent[1]) {
    throw new RangeError(
      `${op}: padded input size per channel (${padded[0]}x${padded[1]}) is smaller than the dilated kernel size (${extent[0]}x${extent[1]}): input ${fmtShape(inputShape)}, weight ${fmtShape(weightShape)}, padding ${fmtShape(padding)}, dilation ${fmtShape(dilation)}`,
    );
  }
  const outSize: [number, number] = [
    Math.floor((padded[0] - extent[0]) / stride[0]) + 1,
    Math.floor((padded[1] - extent[1]) / stride[1]) + 1,
  ];
  const outputShape = batched ? [N, Cout, ...outSize] : [Cout, ...outSize];
  return { geometry: { stride, padding, dilation, kernel: [kh, kw] }, outSize, extraPadding: extra, groups, batched, outputShape };
}

/**
 * The shape conv2d returns for these shapes and options.
 *
 * @example conv2dOutputShape([1, 1, 5, 5], [2, 1, 3, 3], { stride: 2 }) // [1, 2, 2, 2]
 */
export function conv2dOutputShape(inputShape: Shape, weightShape: Shape, options: Conv2dOptions = {}): number[] {
  return conv2dGeometry(inputShape, weightShape, options).outputShape;
}

function checkArray(op: string, name: string, v: unknown): asserts v is NDArray {
  if (!(v instanceof NDArray)) throw new TypeError(`${op}: expected ${name} to be an NDArray, got ${v === null ? 'null' : typeof v}`);
  checkNotDisposed(op, v.storage);
}

/** Same floating dtype and device for all arrays, with errors naming the op. */
function checkSame(op: string, named: readonly [string, NDArray][]): void {
  const [n0, a0] = named[0];
  if (!isFloat(a0.dtype)) throw new TypeError(`${op}: expected a floating point ${n0}, got ${a0.dtype}`);
  for (const [n, a] of named.slice(1)) {
    if (a.dtype !== a0.dtype) throw new TypeError(`${op}: dtypes differ: ${n0} is ${a0.dtype} but ${n} is ${a.dtype}`);
    if (a.device !== a0.device) throw new Error(`${op}: ${n0} is on '${a0.device}' but ${n} is on '${a.device}'`);
  }
}

/** x [N,C,H,W] with `extra` zero rows/columns appended at the bottom/right. */
function padEnd(x: NDArray, extra: [number, number]): NDArray {
  const be = backendFor(x.device);
  let y = x;
  if (extra[0] > 0) y = be.cat([y, be.fill([y.shape[0], y.shape[1], extra[0], y.shape[3]], y.dtype, 0)], 2, y.dtype);
  if (extra[1] > 0) y = be.cat([y, be.fill([y.shape[0], y.shape[1], y.shape[2], extra[1]], y.dtype, 0)], 3, y.dtype);
  return y;
}

/** True when im2col is the identity (1x1 kernel, stride 1, no padding): the columns are a reshape. */
function isPointwise(g: Conv2dGeometry): boolean {
  return g.kernel[0] === 1 && g.kernel[1] === 1 && g.stride[0] === 1 && g.stride[1] === 1 && g.padding[0] === 0 && g.padding[1] === 0;
}

/** Columns [N, C*kh*kw, L] of an already end-padded x [N,C,H,W]. */
function columns(xp: NDArray, g: Conv2dGeometry, outSize: [number, number]): NDArray {
  const [N, C, H, W] = xp.shape;
  if (isPointwise(g)) return xp.reshape([N, C, H * W]);
  return backendFor(xp.device).im2col(xp, g, outSize);
}

/** Convolution of a batched, end-padded x [N,C,H,W] with weight: per group, weight @ im2col(x), plus bias [Cout] when given. */
function gemmConv(xp: NDArray, weight: NDArray, g: Conv2dGeometry, outSize: [number, number], G: number, bias: NDArray | null = null): NDArray {
  const be = backendFor(xp.device);
  const N = xp.shape[0];
  const Cout = weight.shape[0];
  if (G === 1 && !isPointwise(g)) {
    const out = be.im2colMatmul?.(xp, weight.reshape([Cout, weight.size / Cout]), g, outSize, bias);
    if (out) return out.reshape([N, Cout, ...outSize]);
  }
  const cols = columns(xp, g, outSize);
  const Kg = cols.shape[1] / G;
  const Cog = Cout / G;
  const w2 = weight.reshape([Cout, Kg]);
  const parts: NDArray[] = [];
  for (let k = 0; k < G; k++) {
    // The weight is broadcast over the batch (stride 0): one [Cog,Kg] @ [Kg,L] product per image.
    const wg = w2.narrow(0, k * Cog, Cog).unsqueeze(0).expand([N, Cog, Kg]);
    parts.push(be.matmul(wg, G === 1 ? cols : cols.narrow(1, k * Kg, Kg)));
  }
  const out = (G === 1 ? parts[0] : be.cat(parts, 1, xp.dtype)).reshape([N, Cout, ...outSize]);
  return bias ? add(out, bias.reshape([Cout, 1, 1])) : out;
}

function toBatched(op: string, plan: Conv2dPlan, name: string, a: NDArray, expected: Shape): NDArray {
  if (!shapesEqual(a.shape, expected)) {
    throw new RangeError(`${op}: expected ${name} of shape ${fmtShape(expected)}, got ${fmtShape(a.shape)}`);
  }
  return plan.batched ? a : a.unsqueeze(0);
}

/**
 * 2-D convolution (cross-correlation, as in PyTorch) of x with weight, plus bias.
 *
 * @param x [N, Cin, H, W], or [Cin, H, W] unbatched; floating point.
 * @param weight [Cout, Cin/groups, kH, kW], same dtype and device as x.
 * @param bias optional [Cout].
 * @param options stride 1, padding 0, dilation 1, groups 1 by default; see {@link Conv2dOptions}.
 * @returns [N, Cout, outH, outW] (or [Cout, outH, outW]) with
 *   out = floor((H + 2*padding - dilation*(kH-1) - 1) / stride) + 1.
 * @example conv2d(randn([8, 3, 32, 32]), randn([16, 3, 3, 3]), undefined, { padding: 'same' }) // [8, 16, 32, 32]
 */
export function conv2d(x: NDArray, weight: NDArray, bias?: NDArray | null, options: Conv2dOptions = {}): NDArray {
  const op = 'conv2d';
  checkArray(op, 'input', x);
  checkArray(op, 'weight', weight);
  const named: [string, NDArray][] = [['input', x], ['weight', weight]];
  if (bias !== undefined && bias !== null) {
    checkArray(op, 'bias', bias);
    named.push(['bias', bias]);
  }
  checkSame(op, named);
  const plan = conv2dGeometry(x.shape, weight.shape, options, op);
  const Cout = weight.shape[0];
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== Cout)) {
    throw new RangeError(`${op}: expected bias of shape [${Cout}] for weight ${fmtShape(weight.shape)}, got ${fmtShape(bias.shape)}`);
  }
  const x4 = padEnd(plan.batched ? x : x.unsqueeze(0), plan.extraPadding);
  const out = gemmConv(x4, weight, plan.geometry, plan.outSize, plan.groups, bias ?? null);
  return plan.batched ? out : out.squeeze(0);
}

/**
 * Gradient of conv2d with respect to its input: weight^T @ gradOut per
 * image and group, then col2im (the adjoint of im2col).
 *
 * @param gradOut the gradient of the conv2d output, of its shape.
 * @param weight [Cout, Cin/groups, kH, kW].
 * @param inputShape the shape of the conv2d input ([N,Cin,H,W] or [Cin,H,W]).
 * @param options the options the forward conv2d was called with.
 * @returns an array of `inputShape`.
 * @example conv2dBackwardInput(ones([1, 2, 3, 3]), w, [1, 1, 5, 5]) // [1, 1, 5, 5]
 */
export function conv2dBackwardInput(gradOut: NDArray, weight: NDArray, inputShape: Shape, options: Conv2dOptions = {}): NDArray {
  const op = 'conv2dBackwardInput';
  checkArray(op, 'gradOut', gradOut);
  checkArray(op, 'weight', weight);
  checkSame(op, [['gradOut', gradOut], ['weight', weight]]);
  const plan = conv2dGeometry(inputShape, weight.shape, options, op);
  const g4 = toBatched(op, plan, 'gradOut', gradOut, plan.outputShape);
  const be = backendFor(gradOut.device);
  const [N, C, H, W] = plan.batched ? inputShape : [1, ...inputShape];
  const [Cout, Cg, kh, kw] = weight.shape;
  const G = plan.groups;
  const Cog = Cout / G;
  const Kg = Cg * kh * kw;
  const L = plan.outSize[0] * plan.outSize[1];
  const paddedShape = [N, C, H + plan.extraPadding[0], W + plan.extraPadding[1]];
  const { stride, padding, dilation } = plan.geometry;
  const fullPad: [number, number] = [dilation[0] * (kh - 1) - padding[0], dilation[1] * (kw - 1) - padding[1]];
  let dx: NDArray;
  if (stride[0] === 1 && stride[1] === 1 && fullPad[0] >= 0 && fullPad[1] >= 0) {
    // Stride 1: the input gradient is the "full" correlation of gradOut with the
    // flipped, transposed kernel. That is one more im2col + GEMM, and im2col
    // copies whole blocks where col2im would have to add element by element.
    const flipIdx = backendFor(weight.device).upload(Int32Array.from({ length: kh * kw }, (_, i) => kh * kw - 1 - i));
    const flip = new NDArray(flipIdx, [kh * kw]);
    const wf = be.indexSelect(weight.reshape([G, Cog, Cg, kh * kw]), 3, flip) // both kernel axes reversed
      .permute(0, 2, 1, 3).reshape([G * Cg, Cog, kh, kw]);
    const g2: Conv2dGeometry = { stride: [1, 1], padding: fullPad, dilation, kernel: [kh, kw] };
    dx = gemmConv(g4, wf, g2, [paddedShape[2], paddedShape[3]], G);
  } else {
    const g3 = g4.reshape([N, Cout, L]);
    const w2 = weight.reshape([Cout, Kg]);
    const parts: NDArray[] = [];
    for (let g = 0; g < G; g++) {
      // Transposed once, then broadcast over the batch without further copies.
      const wt = w2.narrow(0, g * Cog, Cog).transpose(0, 1).contiguous().unsqueeze(0).expand([N, Kg, Cog]);
      parts.push(be.matmul(wt, G === 1 ? g3 : g3.narrow(1, g * Cog, Cog)));
    }
    const dcols = G === 1 ? parts[0] : be.cat(parts, 1, gradOut.dtype);
    dx = isPointwise(plan.geometry) ? dcols.reshape(paddedShape) : be.col2im(dcols, plan.geometry, paddedShape, plan.outSize);
  }
  if (plan.extraPadding[0] > 0 || plan.extraPadding[1] > 0) dx = dx.narrow(2, 0, H).narrow(3, 0, W).contiguous();
  return plan.batched ? dx : dx.squeeze(0);
}

/**
 * Gradient of conv2d with respect to its weight: sum over the batch of
 * gradOut @ im2col(x)^T, per group.
 *
 * @param gradOut the gradient of the conv2d output, of its shape.
 * @param x the conv2d input.
 * @param weightShape [Cout, Cin/groups, kH, kW].
 * @param options the options the forward conv2d was called with.
 * @returns an array of `weightShape`.
 * @example conv2dBackwardWeight(ones([1, 2, 3, 3]), x, [2, 1, 3, 3]) // [2, 1, 3, 3]
 */
export function conv2dBackwardWeight(gradOut: NDArray, x: NDArray, weightShape: Shape, options: Conv2dOptions = {}): NDArray {
  const op = 'conv2dBackwardWeight';
  checkArray(op, 'gradOut', gradOut);
  checkArray(op, 'input', x);
  checkSame(op, [['gradOut', gradOut], ['input', x]]);
  const plan = conv2dGeometry(x.shape, weightShape, options, op);
  const g4 = toBatched(op, plan, 'gradOut', gradOut, plan.outputShape);
  const be = backendFor(x.device);
  const x4 = padEnd(plan.batched ? x : x.unsqueeze(0), plan.extraPadding);
  const N = x4.shape[0];
  const [Cout, Cg, kh, kw] = weightShape;
  const G = plan.groups;
  const Cog = Cout / G;
  const Kg = Cg * kh * kw;
  const L = plan.outSize[0] * plan.outSize[1];
  const g3 = g4.reshape([N, Cout, L]);
  // Image by image where the backend can (each image's product, summed as below), unless few positions per
  // image make one GEMM over the batch better (below).
  if (G === 1 && !isPointwise(plan.geometry) && !(N > 1 && Kg * Cog > L * (Kg + Cog))) {
    const r = be.im2colWeightProducts?.(g3, x4, plan.geometry, plan.outSize);
    if (r) {
      const dw = be.reduce('sum', r.products, [0], x.dtype);
      return (r.transposed ? dw.reshape([Kg, Cog]).transpose(0, 1).contiguous() : dw).reshape(weightShape);
    }
  }
  const cols = columns(x4, plan.geometry, plan.outSize);
  const parts: NDArray[] = [];
  for (let g = 0; g < G; g++) {
    const cg = G === 1 ? cols : cols.narrow(1, g * Kg, Kg);
    const gg = G === 1 ? g3 : g3.narrow(1, g * Cog, Cog);
    // Transpose whichever operand is smaller (a batched GEMM may have to copy a transposed operand).
    let dw: NDArray;
    if (N > 1 && Kg * Cog > L * (Kg + Cog)) {
      // Few positions per image (deep layers): per-image products [Cog, L] @ [L, Kg] would be tiny GEMMs whose
      // N partial results [Kg, Cog] outweigh the operands. One GEMM over images and positions together instead,
      // [Cog, N*L] @ [N*L, Kg], after copying both operands to that layout.
      const g2 = gg.transpose(0, 1).contiguous().reshape([1, Cog, N * L]);
      const c2 = cg.transpose(0, 1).contiguous().reshape([1, Kg, N * L]);
      dw = be.matmul(g2, c2.transpose(1, 2)).reshape([Cog, Kg]);
    } else if (Cog <= Kg) {
      const t = be.reduce('sum', be.matmul(cg, gg.transpose(1, 2)), [0], x.dtype); // [1, Kg, Cog]
      dw = t.reshape([Kg, Cog]).transpose(0, 1);
    } else {
      dw = be.reduce('sum', be.matmul(gg, cg.transpose(1, 2)), [0], x.dtype).reshape([Cog, Kg]);
    }
    parts.push(dw);
  }
  const dw2 = G === 1 ? parts[0].contiguous() : be.cat(parts, 0, x.dtype);
  return dw2.reshape(weightShape);
}

/**
 * Gradient of conv2d with respect to its bias: gradOut summed over batch and space.
 *
 * @param gradOut [N, Cout, outH, outW] or [Cout, outH, outW].
 * @returns [Cout].
 * @example conv2dBackwardBias(ones([2, 4, 3, 3])) // [4] filled with 18
 */
export function conv2dBackwardBias(gradOut: NDArray): NDArray {
  const op = 'conv2dBackwardBias';
  checkArray(op, 'gradOut', gradOut);
  if (gradOut.ndim !== 3 && gradOut.ndim !== 4) {
    throw new RangeError(`${op}: expected gradOut with 4 dims [N,Cout,H,W] (or 3 unbatched), got ${fmtShape(gradOut.shape)}`);
  }
  const dims = gradOut.ndim === 4 ? [0, 2, 3] : [1, 2];
  const cdim = gradOut.ndim - 3;
  return backendFor(gradOut.device).reduce('sum', gradOut, dims, gradOut.dtype).reshape([gradOut.shape[cdim]]);
}

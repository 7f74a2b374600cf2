import type { DType, TypedArray } from './dtype.js';
import type { NDArray } from './ndarray.js';
import type { Shape } from './shape.js';

/** Where a tensor's data lives: `'cpu'`, or a device a backend registers (e.g. `'gpu'`). */
export type Device = string;

/**
 * A block of elements on one device. Backends subclass it with their own
 * handle. The framework tags each storage with a symbol-keyed property (its
 * tidy scope), so a storage object must stay extensible (not frozen/sealed).
 */
export interface Storage {
  readonly device: Device;
  readonly dtype: DType;
  readonly length: number;
  /**
   * Frees the device memory now (called once, by `NDArray.dispose()` or at
   * the end of a `tidy` scope). Optional: without it the memory goes with
   * the garbage collector. The framework rejects any later use of the
   * storage itself, before a kernel sees it.
   */
  dispose?(): void;
}

/** Elementwise ops of one input. Their formulas are in `elementwise-table.ts`. */
export type UnaryOp =
  | 'neg' | 'abs' | 'exp' | 'log' | 'log1p' | 'sqrt' | 'rsqrt' | 'square' | 'reciprocal'
  | 'sin' | 'cos' | 'tanh' | 'sigmoid' | 'relu' | 'leakyRelu' | 'gelu' | 'geluTanh' | 'erf'
  | 'softplus' | 'clamp' | 'sign' | 'powScalar' | 'step' | 'logicalNot' | 'isNan';

/** Elementwise ops of two inputs (already broadcast to one shape). */
export type BinaryOp =
  | 'add' | 'sub' | 'mul' | 'div' | 'maximum' | 'minimum' | 'pow'
  | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge' | 'logicalAnd' | 'logicalOr'
  /** a where b <= 0 is false, else 0: relu's gradient a from its output b (torch's threshold_backward at 0). */
  | 'reluBackward'
  /** (a * b) * (1 - b), each step rounded to the dtype: sigmoid's gradient a from its output b. */
  | 'sigmoidBackward';

export type ReduceOp = 'sum' | 'prod' | 'max' | 'min';

/** Geometry of a 2-D convolution, all resolved to two integers (height, width). */
export interface Conv2dGeometry {
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  kernel: [number, number];
}

/** Geometry of a 2-D pooling window. */
export interface Pool2dGeometry extends Conv2dGeometry {
  ceilMode: boolean;
  countIncludePad: boolean;
  outSize: [number, number];
}

/**
 * The kernels a device must provide. Every kernel takes arrays that live on
 * this backend's device (possibly strided views) and returns new contiguous
 * arrays on the same device. Ops validate arguments before calling a kernel,
 * so kernels may assume well-formed input.
 */
export interface Backend {
  readonly device: Device;
  /**
   * Writes src into the elements of dst in dst's own storage (dst may be a
   * strided view; src has dst's shape and dtype, may be any view, and may
   * share dst's storage). The one kernel that mutates: in-place ops use it.
   */
  write(dst: NDArray, src: NDArray): void;
  /** Takes ownership of host data as device storage. */
  upload(data: TypedArray): Storage;
  /** Reads a (possibly strided) array into a new contiguous host array. */
  read(x: NDArray): TypedArray;
  /**
   * `read` without blocking (e.g. a GPU download); optional: `toArrayAsync`,
   * `itemAsync` and `toTypedArrayAsync` fall back to `read`.
   */
  readAsync?(x: NDArray): Promise<TypedArray>;

  /** Contiguous copy, converting to `dtype`. */
  copy(x: NDArray, dtype: DType): NDArray;
  fill(shape: Shape, dtype: DType, value: number): NDArray;
  /** `params` are the op's scalar parameters (slope, bounds, exponent). */
  unary(op: UnaryOp, x: NDArray, dtype: DType, params: readonly number[]): NDArray;
  /** `a` and `b` have the output's shape (broadcast views with zero strides). */
  binary(op: BinaryOp, a: NDArray, b: NDArray, dtype: DType): NDArray;
  /** Optional: alpha * x + beta * y in one pass, x and y of one shape and floating dtype (see ops' axpby); else a mul, a mul and an add. */
  axpby?(alpha: number, x: NDArray, beta: number, y: NDArray): NDArray;
  /** `cond`, `a`, `b` have the output's shape. */
  where(cond: NDArray, a: NDArray, b: NDArray, dtype: DType): NDArray;
  /** Reduces `dims` (sorted, unique), keeping them as size 1. */
  reduce(op: ReduceOp, x: NDArray, dims: readonly number[], dtype: DType): NDArray;
  /** Index of the max/min along `dim` (first on ties), kept as size 1, int32. */
  argReduce(op: 'argmax' | 'argmin', x: NDArray, dim: number): NDArray;
  /** Batched product: a [B,M,K] @ b [B,K,N] -> [B,M,N]; a and b may be strided views. */
  matmul(a: NDArray, b: NDArray): NDArray;
  /** Concatenation along `dim` of arrays that agree elsewhere. */
  cat(xs: readonly NDArray[], dim: number, dtype: DType): NDArray;
  /** out[..i..] = x[..index[..i..]..] along `dim`; `index` int32 of the output's shape. */
  gather(x: NDArray, dim: number, index: NDArray): NDArray;
  /** zeros(shape) with out[..index[..i..]..] += src[..i..] along `dim`. */
  scatterAdd(shape: Shape, dim: number, index: NDArray, src: NDArray): NDArray;
  /** Selects entries `index` (1-D int32) along `dim`. */
  indexSelect(x: NDArray, dim: number, index: NDArray): NDArray;
  /** zeros(shape) with slices of `src` added at `index` along `dim`. */
  indexAdd(shape: Shape, dim: number, index: NDArray, src: NDArray): NDArray;
  /** x [N,C,H,W] -> columns [N, C*kh*kw, outH*outW]. */
  im2col(x: NDArray, g: Conv2dGeometry, outSize: [number, number]): NDArray;
  /** Adjoint of im2col: columns back to [N,C,H,W], overlapping entries summed. */
  col2im(cols: NDArray, g: Conv2dGeometry, inputShape: Shape, outSize: [number, number]): NDArray;
  /**
   * Optional, a convolution's products without the whole batch's columns:
   * out[n] = weight [Cout, Kg] @ im2col(x)[n] (+ bias [Cout] per row, when
   * given), [N, Cout, L]. Null where the backend cannot for these arrays; the
   * op then runs im2col, matmul and add.
   */
  im2colMatmul?(x: NDArray, weight: NDArray, g: Conv2dGeometry, outSize: [number, number], bias?: NDArray | null): NDArray | null;
  /**
   * Optional, as im2colMatmul: each image's gradOut[n] [Cout, L] @ im2col(x)[n]^T,
   * as [N, Cout, Kg] or (`transposed`) [N, Kg, Cout]; the op sums over n.
   */
  im2colWeightProducts?(gradOut: NDArray, x: NDArray, g: Conv2dGeometry, outSize: [number, number]): { products: NDArray; transposed: boolean } | null;
  /** Max pooling: values and the flat (h*W+w) input index of each max, int32. */
  maxPool2d(x: NDArray, g: Pool2dGeometry): [NDArray, NDArray];
  /** Routes `grad` to the argmax positions recorded by maxPool2d. */
  maxPool2dBackward(grad: NDArray, indices: NDArray, inputShape: Shape): NDArray;
  avgPool2d(x: NDArray, g: Pool2dGeometry): NDArray;
  avgPool2dBackward(grad: NDArray, inputShape: Shape, g: Pool2dGeometry): NDArray;

  // The normalization kernels, over x viewed as [A, G, B] (BatchNorm: [N, C,
  // H*W], statistics per channel; LayerNorm: [1, rows, features], per row;
  // GroupNorm: [1, N * groups, rest]). Statistics are float64-accurate.

  /** Mean and biased variance per G over A and B, by two passes: [mean [G], var [G]]. */
  normalizeMoments(x: NDArray): [NDArray, NDArray];
  /** xhat = (x - mean) * invstd and y = xhat * weight + bias (each optional), all per G: [y, xhat]. */
  normalizeForward(x: NDArray, mean: NDArray, invstd: NDArray, weight: NDArray | null, bias: NDArray | null): [NDArray, NDArray];
  /**
   * The fused backward from dy and the saved xhat and invstd: with
   * sdy = sum(dy), sdx = sum(dy * xhat) per G and m = A*B,
   * dx = weight * invstd / m * (m * dy - sdy - xhat * sdx). Returns [dx, sdx, sdy]
   * (sdx and sdy are the gradients of weight and bias).
   */
  normalizeBackward(dy: NDArray, xhat: NDArray, invstd: NDArray, weight: NDArray | null): [NDArray, NDArray, NDArray];

  // The normalizations whose groups are whole runs, x viewed as [1, G, B]
  // (LayerNorm's rows, GroupNorm's groups), with an affine map that varies
  // inside a group (see AffineLayout). Optional: where a backend lacks them,
  // the ops compose the same maps from normalizeForward/Backward and its
  // elementwise ops and reductions (ops/normalize-affine.ts).

  /** xhat = (x - mean) * invstd per group, y = xhat * weight + bias by `layout`: [y, xhat]. */
  normalizeAffineForward?(x: NDArray, mean: NDArray, invstd: NDArray, weight: NDArray, bias: NDArray, layout: AffineLayout): [NDArray, NDArray];
  /**
   * The fused backward: per group, with g = dy * weight (by `layout`) and
   * m = B, dx = invstd / m * (m * g - sum(g) - xhat * sum(g * xhat)); without
   * the sum(g) term when not `centered` (RMS norms: no mean was subtracted).
   * Returns [dx, dweight, dbias], the last two of weight's length.
   */
  normalizeAffineBackward?(dy: NDArray, xhat: NDArray, invstd: NDArray, weight: NDArray, layout: AffineLayout, centered: boolean): [NDArray, NDArray, NDArray];
}

/**
 * How a weight and bias of `period * B / span` values map onto x [1, G, B]:
 * entry (g % period) * (B / span) + floor(b / span) applies to x[0, g, b].
 * LayerNorm is { period: 1, span: 1 } (one value per feature); GroupNorm
 * { period: groups, span: H * W } (one per channel).
 */
export interface AffineLayout {
  period: number;
  span: number;
}

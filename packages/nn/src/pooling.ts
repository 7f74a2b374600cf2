import { type Tensor, adaptiveAvgPool2d, avgPool2d, maxPool2dWithIndices } from '@normlab/autograd';
import type { AdaptiveSize } from '@normlab/tensor';
import { Module } from './module.js';

/** One integer for both spatial dims, or [height, width]. */
export type PoolPair = number | readonly [number, number];

/** A pair printed as [a,b], an integer as itself (PyTorch prints the value as given). */
const fmt = (v: PoolPair | AdaptiveSize): string => (typeof v === 'number' ? String(v) : `[${v.map(String).join(',')}]`);

/** Options of `MaxPool2d` (torch.nn.MaxPool2d's, in camelCase); `returnIndices` types the result. */
export interface MaxPool2dModuleOptions<R extends boolean = false> {
  /** Step between windows; the kernel size by default. */
  stride?: PoolPair;
  /** Implicit -inf on both sides, at most half the kernel size; 0 by default. */
  padding?: PoolPair;
  /** Spacing between window taps; 1 by default. */
  dilation?: PoolPair;
  /** Round the output size up instead of down; false by default. */
  ceilMode?: boolean;
  /** Also return the int32 flat index h*W+w of each max within its plane; false by default. */
  returnIndices?: R;
}

/** What MaxPool2d returns: the pooled values, or with `returnIndices` the values and the argmax indices. */
export type MaxPool2dResult<R extends boolean> = R extends true ? { values: Tensor; indices: Tensor } : Tensor;

/**
 * 2-D max pooling (torch.nn.MaxPool2d): x [N, C, H, W] (or [C, H, W]) ->
 * [N, C, outH, outW], outH = floor((H + 2 padding - dilation (k - 1) - 1) / stride) + 1
 * (ceil with `ceilMode`). The gradient goes to each window's max.
 *
 * @example
 * new MaxPool2d(2).forward(x); // [N, C, 32, 32] -> [N, C, 16, 16]
 * const { values, indices } = new MaxPool2d(3, { stride: 2, padding: 1, returnIndices: true }).forward(x);
 */
export class MaxPool2d<R extends boolean = false> extends Module {
  readonly kernelSize: PoolPair;
  /** The kernel size unless given, as PyTorch stores it. */
  readonly stride: PoolPair;
  readonly padding: PoolPair;
  readonly dilation: PoolPair;
  readonly ceilMode: boolean;
  readonly returnIndices: R;

  constructor(kernelSize: PoolPair, options: MaxPool2dModuleOptions<R> = {}) {
    super();
    this.kernelSize = kernelSize;
    this.stride = options.stride ?? kernelSize;
    this.padding = options.padding ?? 0;
    this.dilation = options.dilation ?? 1;
    this.ceilMode = options.ceilMode ?? false;
    // `R` is false whenever returnIndices is left out (the type parameter's default).
    this.returnIndices = (options.returnIndices ?? false) as R;
  }

  forward(x: Tensor): MaxPool2dResult<R> {
    const { values, indices } = maxPool2dWithIndices(x, this.kernelSize, {
      stride: this.stride, padding: this.padding, dilation: this.dilation, ceilMode: this.ceilMode,
    });
    const out: { values: Tensor; indices: Tensor } | Tensor = this.returnIndices ? { values, indices } : values;
    return out as MaxPool2dResult<R>;
  }

  override extraRepr(): string {
    return `kernelSize=${fmt(this.kernelSize)}, stride=${fmt(this.stride)}, padding=${fmt(this.padding)}, dilation=${fmt(this.dilation)}, ceilMode=${this.ceilMode}`;
  }
}

/** Options of `AvgPool2d` (torch.nn.AvgPool2d's, in camelCase). */
export interface AvgPool2dModuleOptions {
  /** Step between windows; the kernel size by default. */
  stride?: PoolPair;
  /** Zeros on both sides, at most half the kernel size; 0 by default. */
  padding?: PoolPair;
  /** Round the output size up instead of down; false by default. */
  ceilMode?: boolean;
  /** Count padded positions in the divisor; true by default. */
  countIncludePad?: boolean;
  /** Divide every window sum by this instead; absent by default. */
  divisorOverride?: number;
}

/**
 * 2-D average pooling (torch.nn.AvgPool2d): x [N, C, H, W] (or [C, H, W])
 * -> [N, C, outH, outW], outH = floor((H + 2 padding - k) / stride) + 1.
 *
 * @example new AvgPool2d(2).forward(x); // [N, C, 8, 8] -> [N, C, 4, 4]
 */
export class AvgPool2d extends Module {
  readonly kernelSize: PoolPair;
  readonly stride: PoolPair;
  readonly padding: PoolPair;
  readonly ceilMode: boolean;
  readonly countIncludePad: boolean;
  readonly divisorOverride: number | null;

  constructor(kernelSize: PoolPair, options: AvgPool2dModuleOptions = {}) {
    super();
    const d = options.divisorOverride;
    if (d !== undefined && !(Number.isFinite(d) && d !== 0)) throw new RangeError(`AvgPool2d: divisorOverride must be a non-zero number, got ${d}`);
    this.kernelSize = kernelSize;
    this.stride = options.stride ?? kernelSize;
    this.padding = options.padding ?? 0;
    this.ceilMode = options.ceilMode ?? false;
    this.countIncludePad = options.countIncludePad ?? true;
    this.divisorOverride = d ?? null;
  }

  forward(x: Tensor): Tensor {
    return avgPool2d(x, this.kernelSize, {
      stride: this.stride, padding: this.padding, ceilMode: this.ceilMode, countIncludePad: this.countIncludePad,
      ...(this.divisorOverride !== null ? { divisorOverride: this.divisorOverride } : {}),
    });
  }

  /** As PyTorch's: kernel size, stride and padding only. */
  override extraRepr(): string {
    return `kernelSize=${fmt(this.kernelSize)}, stride=${fmt(this.stride)}, padding=${fmt(this.padding)}`;
  }
}

/**
 * Adaptive 2-D average pooling (torch.nn.AdaptiveAvgPool2d): x [N, C, H, W]
 * (or [C, H, W]) -> [N, C, outH, outW] whatever H and W; `outputSize` is one
 * integer, or [outH, outW] where null keeps that input dim.
 *
 * @example new AdaptiveAvgPool2d(1).forward(x); // global average pooling: [N, C, H, W] -> [N, C, 1, 1]
 */
export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: AdaptiveSize) {
    super();
  }

  forward(x: Tensor): Tensor {
    return adaptiveAvgPool2d(x, this.outputSize);
  }

  override extraRepr(): string {
    return `outputSize=${fmt(this.outputSize)}`;
  }
}

import { type Tensor, conv2d } from '@normlab/autograd';
import { type IntPair, fmtShape } from '@normlab/tensor';
import { type DType, type Device, empty } from './tensor-util.js';
import * as init from './init.js';
import { Module } from './module.js';
import { Parameter } from './parameter.js';

export type { IntPair };

/** Options of `Conv2d` (torch.nn.Conv2d's, in camelCase). */
export interface Conv2dModuleOptions {
  /** Step between windows; 1 by default. */
  stride?: IntPair;
  /**
   * Zeros added on both sides (0 by default); 'valid' is no padding, 'same'
   * keeps H and W (stride 1 only; an odd total padding puts the extra
   * row/column at the bottom/right, as PyTorch).
   */
  padding?: IntPair | 'same' | 'valid';
  /** Spacing between kernel taps; 1 by default. */
  dilation?: IntPair;
  /** Channel groups: each output channel sees inChannels / groups inputs; 1 by default. */
  groups?: number;
  /** Add a learned bias per output channel (default true). */
  bias?: boolean;
  /** Only 'zeros' (the default) is implemented; PyTorch's 'reflect', 'replicate' and 'circular' are rejected. */
  paddingMode?: 'zeros';
  dtype?: DType;
  device?: Device;
}

function pairOf(name: string, v: IntPair, min: number): [number, number] {
  const p: readonly number[] = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(p) || p.length !== 2 || !p.every((e) => Number.isInteger(e) && e >= min)) {
    throw new RangeError(`Conv2d: ${name} must be ${min > 0 ? 'a positive' : 'a non-negative'} integer or a pair of them, got ${Array.isArray(v) ? fmtShape(v) : String(v)}`);
  }
  return [p[0], p[1]];
}

const PADDING_MODES = ['zeros', 'reflect', 'replicate', 'circular'];

/**
 * 2-D convolution layer (torch.nn.Conv2d): x [N, inChannels, H, W] (or
 * unbatched [inChannels, H, W]) -> [N, outChannels, outH, outW] with
 * outH = floor((H + 2 padding - dilation (k - 1) - 1) / stride) + 1.
 *
 * weight [outChannels, inChannels / groups, kH, kW] starts
 * kaiming_uniform(a = sqrt(5)), i.e. U(-1/sqrt(fanIn), 1/sqrt(fanIn)) with
 * fanIn = inChannels / groups * kH * kW, and bias [outChannels] from the same
 * range, as PyTorch.
 *
 * @example
 * const conv = new Conv2d(3, 16, 3, { padding: 'same' });
 * conv.forward(x); // x [8, 3, 32, 32] -> [8, 16, 32, 32]
 */
export class Conv2d extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  /** Resolved pair, or the string 'same' / 'valid' as given (as PyTorch keeps it). */
  readonly padding: [number, number] | 'same' | 'valid';
  readonly dilation: [number, number];
  readonly groups: number;
  readonly paddingMode: 'zeros';

  constructor(readonly inChannels: number, readonly outChannels: number, kernelSize: IntPair, options: Conv2dModuleOptions = {}) {
    super();
    for (const [name, v] of [['inChannels', inChannels], ['outChannels', outChannels]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`Conv2d: ${name} must be a positive integer, got ${v}`);
    }
    const groups = options.groups ?? 1;
    if (!Number.isInteger(groups) || groups < 1) throw new RangeError(`Conv2d: groups must be a positive integer, got ${groups}`);
    if (inChannels % groups !== 0) throw new RangeError(`Conv2d: inChannels (${inChannels}) must be divisible by groups (${groups})`);
    if (outChannels % groups !== 0) throw new RangeError(`Conv2d: outChannels (${outChannels}) must be divisible by groups (${groups})`);
    const mode: string = options.paddingMode ?? 'zeros';
    if (mode !== 'zeros') {
      const why = PADDING_MODES.includes(mode) ? 'is not implemented (only \'zeros\' is)' : `is not one of ${PADDING_MODES.map((m) => `'${m}'`).join(', ')}`;
      throw new RangeError(`Conv2d: paddingMode '${mode}' ${why}`);
    }
    this.kernelSize = pairOf('kernelSize', kernelSize, 1);
    this.stride = pairOf('stride', options.stride ?? 1, 1);
    this.dilation = pairOf('dilation', options.dilation ?? 1, 1);
    const padding = options.padding ?? 0;
    if (typeof padding === 'string') {
      if (padding !== 'same' && padding !== 'valid') throw new RangeError(`Conv2d: padding must be 'same', 'valid' or non-negative integers, got '${String(padding)}'`);
      // Checked here (not only at forward) so that a bad layer fails where it is built, as PyTorch.
      if (padding === 'same' && (this.stride[0] !== 1 || this.stride[1] !== 1)) {
        throw new RangeError(`Conv2d: padding='same' is not supported for strided convolutions, got stride ${fmtShape(this.stride)}`);
      }
      this.padding = padding;
    } else this.padding = pairOf('padding', padding, 0);
    this.groups = groups;
    this.paddingMode = 'zeros';
    this.weight = new Parameter(empty([outChannels, inChannels / groups, ...this.kernelSize], options));
    this.bias = options.bias ?? true ? new Parameter(empty([outChannels], options)) : null;
    this.resetParameters();
  }

  /** PyTorch's default: kaiming_uniform(a = sqrt(5)) for the weight, U(-1/sqrt(fanIn), 1/sqrt(fanIn)) for the bias. */
  resetParameters(): void {
    init.kaimingUniform(this.weight, { a: Math.sqrt(5) });
    if (this.bias) {
      const { fanIn } = init.calculateFans(this.weight);
      const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
      init.uniform(this.bias, -bound, bound);
    }
  }

  forward(x: Tensor): Tensor {
    if ((x.ndim !== 3 && x.ndim !== 4) || x.shape[x.ndim - 3] !== this.inChannels) {
      throw new RangeError(`Conv2d: expected input [N, ${this.inChannels}, H, W] or [${this.inChannels}, H, W], got ${fmtShape(x.shape)}`);
    }
    return conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups });
  }

  /** As PyTorch: settings that differ from their defaults, kernelSize and stride always. */
  override extraRepr(): string {
    let s = `${this.inChannels}, ${this.outChannels}, kernelSize=${fmtShape(this.kernelSize)}, stride=${fmtShape(this.stride)}`;
    if (typeof this.padding === 'string') s += `, padding='${this.padding}'`;
    else if (this.padding[0] !== 0 || this.padding[1] !== 0) s += `, padding=${fmtShape(this.padding)}`;
    if (this.dilation[0] !== 1 || this.dilation[1] !== 1) s += `, dilation=${fmtShape(this.dilation)}`;
    if (this.groups !== 1) s += `, groups=${this.groups}`;
    if (!this.bias) s += ', bias=false';
    return s;
  }
}

import type { Tensor } from '@normlab/autograd';
import * as nd from '@normlab/tensor';
import { groupNorm } from '../functional/group-norm.js';
import * as init from '../init.js';
import { Module } from '../module.js';
import { Parameter } from '../parameter.js';

/** Options of GroupNorm (eps 1e-5, affine). */
export interface GroupNormOptions {
  /** Added to the variance for stability; 1e-5 by default. */
  eps?: number;
  /** Learn a per-channel scale (weight, ones) and shift (bias, zeros); true by default. */
  affine?: boolean;
  dtype?: nd.DType;
  device?: nd.Device;
}

/**
 * Group Normalization (Wu & He 2018), as torch.nn.GroupNorm: x [N, C, *]
 * with C = numChannels; the statistics are per (sample, group of
 * C / numGroups consecutive channels), over those channels and every
 * spatial position, with the biased variance; the affine map is per
 * channel. See `groupNorm` for the formula. Independent of the batch, so
 * training and eval mode compute the same thing; there are no buffers.
 *
 * @example new GroupNorm(8, 32).forward(x) // x [N, 32, H, W], 8 groups of 4 channels
 */
export class GroupNorm extends Module {
  readonly eps: number;
  readonly affine: boolean;
  readonly weight: Parameter | null;
  readonly bias: Parameter | null;

  constructor(readonly numGroups: number, readonly numChannels: number, options: GroupNormOptions = {}) {
    super();
    if (!Number.isInteger(numGroups) || numGroups < 1) throw new RangeError(`GroupNorm: numGroups must be a positive integer, got ${numGroups}`);
    if (!Number.isInteger(numChannels) || numChannels < 1) throw new RangeError(`GroupNorm: numChannels must be a positive integer, got ${numChannels}`);
    if (numChannels % numGroups !== 0) throw new RangeError(`GroupNorm: numChannels (${numChannels}) must be divisible by numGroups (${numGroups})`);
    this.eps = options.eps ?? 1e-5;
    if (!(this.eps > 0)) throw new RangeError(`GroupNorm: eps must be positive, got ${this.eps}`);
    this.affine = options.affine ?? true;
    const opts = { dtype: options.dtype ?? 'float32', device: options.device ?? 'cpu' };
    this.weight = this.affine ? new Parameter(nd.ones([numChannels], opts)) : null;
    this.bias = this.affine ? new Parameter(nd.zeros([numChannels], opts)) : null;
  }

  /** The affine parameters back to weight = 1, bias = 0. */
  resetParameters(): void {
    if (this.weight) init.ones(this.weight);
    if (this.bias) init.zeros(this.bias);
  }

  forward(x: Tensor): Tensor {
    if (x.ndim < 2 || x.shape[1] !== this.numChannels) {
      throw new RangeError(`GroupNorm: expected input [N, ${this.numChannels}, *], got ${nd.fmtShape(x.shape)}`);
    }
    return groupNorm(x, this.numGroups, this.weight, this.bias, this.eps);
  }

  override extraRepr(): string {
    return `${this.numGroups}, ${this.numChannels}, eps=${this.eps}, affine=${this.affine}`;
  }
}

import { type Tensor, conv2d } from '@normlab/autograd';
import { fmtShape, ones } from '@normlab/tensor';
import { Conv2d, type Conv2dModuleOptions, type IntPair } from '../conv.js';
import { normalizeGroups } from '../functional/normalize.js';
import { Parameter } from '../parameter.js';

export interface WeightStandardizedConv2dOptions extends Conv2dModuleOptions {
  /** Added to the weights' variance before the square root; 1e-5 by default. */
  eps?: number;
}

/**
 * Standardizes a convolution weight [out, in / groups, kH, kW] per output
 * channel: w_hat = (w - mean) / sqrt(var + eps), the mean and the biased
 * variance over the in / groups * kH * kW weights of each filter.
 */
export function standardizeWeight(weight: Tensor, eps = 1e-5): Tensor {
  if (weight.ndim < 2) throw new RangeError(`standardizeWeight: expected a weight [out, in, ...], got ${fmtShape(weight.shape)}`);
  if (!(eps > 0)) throw new RangeError(`standardizeWeight: eps must be positive, got ${eps}`);
  const out = weight.shape[0];
  return normalizeGroups('standardizeWeight', weight, [1, out, weight.size / out], eps);
}

/**
 * Conv2d with Weight Standardization (Qiao et al. 2019, "Micro-Batch
 * Training with Batch-Channel Normalization and Weight Standardization"):
 * before every convolution each output channel's filter is standardized,
 *
 *     w_hat[o] = (w[o] - mean(w[o])) / sqrt(var(w[o]) + eps)
 *
 * over its in / groups * kH * kW weights, then y = conv2d(x, w_hat) + bias.
 * Convention: eps (1e-5) is added to the biased variance inside the square
 * root (as timm's StdConv2d); the paper's reference code instead divides by
 * the unbiased std plus 1e-5, which differs by a factor sqrt(n / (n - 1))
 * for n weights per filter. The stored `weight` is the raw parameter;
 * `standardizedWeight()` gives what the convolution uses. Gradients flow
 * through the standardization. A filter of a single weight standardizes
 * to 0.
 */
export class WeightStandardizedConv2d extends Conv2d {
  readonly eps: number;

  constructor(inChannels: number, outChannels: number, kernelSize: IntPair, options: WeightStandardizedConv2dOptions = {}) {
    super(inChannels, outChannels, kernelSize, options);
    this.eps = options.eps ?? 1e-5;
    if (!(this.eps > 0)) throw new RangeError(`${this.constructor.name}: eps must be positive, got ${this.eps}`);
  }

  /** The weight the convolution uses: standardized per output channel. */
  standardizedWeight(): Tensor {
    return standardizeWeight(this.weight, this.eps);
  }

  override forward(x: Tensor): Tensor {
    if ((x.ndim !== 3 && x.ndim !== 4) || x.shape[x.ndim - 3] !== this.inChannels) {
      throw new RangeError(`${this.constructor.name}: expected input [N, ${this.inChannels}, H, W] or [${this.inChannels}, H, W], got ${fmtShape(x.shape)}`);
    }
    return conv2d(x, this.standardizedWeight(), this.bias, { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups });
  }

  override extraRepr(): string {
    return `${super.extraRepr()}, eps=${this.eps}`;
  }
}

/**
 * The gamma of the scaled weight standardization for ReLU networks (Brock,
 * De & Smith 2021): sqrt(2 / (1 - 1/pi)) ~ 1.7129, which restores unit
 * variance after a ReLU of unit Gaussian inputs. (timm uses the empirical
 * 1.7139588594436646.)
 */
export const RELU_GAMMA = Math.sqrt(2 / (1 - 1 / Math.PI));

export interface ScaledWeightStandardizedConv2dOptions extends Conv2dModuleOptions {
  /** The nonlinearity's gamma (1 by default; `RELU_GAMMA` before a ReLU). */
  gamma?: number;
  /** Added to the weights' variance before the square root; 1e-6 by default (timm's ScaledStdConv2d). */
  eps?: number;
}

/**
 * Conv2d with Scaled Weight Standardization (Brock, De & Smith 2021,
 * "Characterizing signal propagation to close the performance gap in
 * unnormalized ResNets", the NF-ResNets; used by NFNets): every filter is
 * standardized and scaled by a learned per-channel gain,
 *
 *     w_hat[o] = gain[o] * gamma * (w[o] - mean(w[o])) / (sqrt(var(w[o]) + eps) * sqrt(fanIn))
 *
 * with fanIn = in / groups * kH * kW, so that a unit-variance input gives a
 * unit-variance response before the nonlinearity, and gamma the
 * nonlinearity's correction (`RELU_GAMMA` for ReLU). `gain` ([out], ones)
 * is a parameter; the stored `weight` is the raw one. Without BatchNorm,
 * this and `clipGradAdaptive` are what normalizer-free networks train with.
 */
export class ScaledWeightStandardizedConv2d extends WeightStandardizedConv2d {
  readonly gamma: number;
  readonly gain: Parameter;

  constructor(inChannels: number, outChannels: number, kernelSize: IntPair, options: ScaledWeightStandardizedConv2dOptions = {}) {
    super(inChannels, outChannels, kernelSize, { ...options, eps: options.eps ?? 1e-6 });
    this.gamma = options.gamma ?? 1;
    if (!(this.gamma > 0) || !Number.isFinite(this.gamma)) throw new RangeError(`ScaledWeightStandardizedConv2d: gamma must be a positive number, got ${this.gamma}`);
    this.gain = new Parameter(ones([outChannels], { dtype: this.weight.dtype, device: this.weight.device }));
  }

  /** The weight the convolution uses: standardized per output channel, times gain * gamma / sqrt(fanIn). */
  override standardizedWeight(): Tensor {
    const w = this.weight;
    const fanIn = w.size / w.shape[0];
    return super.standardizedWeight().mul(this.gain.mul(this.gamma / Math.sqrt(fanIn)).reshape([w.shape[0], 1, 1, 1]));
  }

  override extraRepr(): string {
    return `${super.extraRepr()}, gamma=${this.gamma}`;
  }
}

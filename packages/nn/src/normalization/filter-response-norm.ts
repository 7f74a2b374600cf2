import type { Tensor } from '@normlab/autograd';
import * as nd from '@normlab/tensor';
import { filterResponseNorm, tlu } from '../functional/filter-response-norm.js';
import * as init from '../init.js';
import { Module } from '../module.js';
import { Parameter } from '../parameter.js';

/** Options of FilterResponseNorm2d. */
export interface FilterResponseNormOptions {
  /** The fixed part of eps; 1e-6 by default (the paper's). */
  eps?: number;
  /** Learn a per-channel eps_l as well, eps = eps + |eps_l| (eps_l starts at 0); false by default. */
  learnableEps?: boolean;
  /** Learn a per-channel scale (weight, gamma: ones) and shift (bias, beta: zeros); true by default. */
  affine?: boolean;
  dtype?: nd.DType;
  device?: nd.Device;
}

/** Options of TLU. */
export interface TLUOptions {
  dtype?: nd.DType;
  device?: nd.Device;
}

/**
 * Filter Response Normalization over [N, C, H, W] (Singh & Krishnan 2019):
 * each sample's channel is divided by the root mean square of its H x W
 * responses, then scaled and shifted per channel (see
 * `filterResponseNorm`). No batch statistics: training and eval compute the
 * same function, for any batch size, 1 included. The paper pairs it with
 * `TLU` (its "FRN layer" is both): `new Sequential(conv, new
 * FilterResponseNorm2d(C), new TLU(C))`.
 */
export class FilterResponseNorm2d extends Module {
  readonly eps: number;
  readonly weight: Parameter | null;
  readonly bias: Parameter | null;
  /** The learned part of eps, [C] (null unless `learnableEps`). */
  readonly epsL: Parameter | null;

  constructor(readonly numFeatures: number, options: FilterResponseNormOptions = {}) {
    super();
    if (!Number.isInteger(numFeatures) || numFeatures <= 0) throw new RangeError(`FilterResponseNorm2d: numFeatures must be a positive integer, got ${numFeatures}`);
    this.eps = options.eps ?? 1e-6;
    if (!(this.eps > 0)) throw new RangeError(`FilterResponseNorm2d: eps must be positive, got ${this.eps}`);
    const opts = { dtype: options.dtype ?? 'float32', device: options.device ?? 'cpu' };
    const affine = options.affine ?? true;
    this.weight = affine ? new Parameter(nd.ones([numFeatures], opts)) : null;
    this.bias = affine ? new Parameter(nd.zeros([numFeatures], opts)) : null;
    this.epsL = options.learnableEps ? new Parameter(nd.zeros([numFeatures], opts)) : null;
  }

  forward(x: Tensor): Tensor {
    if (x.ndim !== 4 || x.shape[1] !== this.numFeatures) {
      throw new RangeError(`FilterResponseNorm2d: expected input [N, ${this.numFeatures}, H, W], got ${nd.fmtShape(x.shape)}`);
    }
    const eps = this.epsL ? this.epsL.abs().add(this.eps) : this.eps;
    return filterResponseNorm(x, this.weight, this.bias, eps);
  }

  /** gamma = 1, beta = 0, eps_l = 0. */
  resetParameters(): void {
    if (this.weight) init.ones(this.weight);
    if (this.bias) init.zeros(this.bias);
    if (this.epsL) init.zeros(this.epsL);
  }

  override extraRepr(): string {
    return `${this.numFeatures}, eps=${this.eps}, learnableEps=${this.epsL !== null}, affine=${this.weight !== null}`;
  }
}

/**
 * The Thresholded Linear Unit (Singh & Krishnan 2019): z = max(x, tau) per
 * channel of x [N, C, ...], with tau [C] learned, starting at 0 (ReLU).
 */
export class TLU extends Module {
  readonly tau: Parameter;

  constructor(readonly numFeatures: number, options: TLUOptions = {}) {
    super();
    if (!Number.isInteger(numFeatures) || numFeatures <= 0) throw new RangeError(`TLU: numFeatures must be a positive integer, got ${numFeatures}`);
    this.tau = new Parameter(nd.zeros([numFeatures], { dtype: options.dtype ?? 'float32', device: options.device ?? 'cpu' }));
  }

  forward(x: Tensor): Tensor {
    return tlu(x, this.tau);
  }

  override extraRepr(): string {
    return `${this.numFeatures}`;
  }
}

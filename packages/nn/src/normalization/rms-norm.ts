import type { Tensor } from '@normlab/autograd';
import * as nd from '@normlab/tensor';
import { normalizedShapeOf } from '../functional/normalize.js';
import { rmsNorm } from '../functional/rms-norm.js';
import * as init from '../init.js';
import { Module } from '../module.js';
import { Parameter } from '../parameter.js';

/** Options of RMSNorm (eps null: the dtype's machine epsilon; elementwiseAffine). */
export interface RMSNormOptions {
  /** Added to the mean square inside the square root; null (default) uses the input dtype's machine epsilon, as PyTorch's `eps=None`. */
  eps?: number | null;
  /** Learn an elementwise scale (`weight`, ones) of shape normalizedShape; true by default. */
  elementwiseAffine?: boolean;
  dtype?: nd.DType;
  device?: nd.Device;
}

/**
 * Root Mean Square Layer Normalization (Zhang & Sennrich 2019), as
 * torch.nn.RMSNorm: scales each sample by the root mean square of its last
 * `normalizedShape.length` dims, then by an elementwise `weight` (no bias,
 * no centering). See `rmsNorm` for the formula. Training and eval mode
 * compute the same thing; there are no buffers.
 *
 * @example
 * const norm = new RMSNorm(64);
 * norm.forward(x); // x [N, T, 64]
 */
export class RMSNorm extends Module {
  readonly normalizedShape: number[];
  readonly eps: number | null;
  readonly elementwiseAffine: boolean;
  readonly weight: Parameter | null;

  constructor(normalizedShape: number | readonly number[], options: RMSNormOptions = {}) {
    super();
    this.normalizedShape = normalizedShapeOf('RMSNorm', normalizedShape);
    this.eps = options.eps ?? null;
    if (this.eps !== null && !(this.eps > 0)) throw new RangeError(`RMSNorm: eps must be positive or null, got ${this.eps}`);
    this.elementwiseAffine = options.elementwiseAffine ?? true;
    const opts = { dtype: options.dtype ?? 'float32', device: options.device ?? 'cpu' };
    this.weight = this.elementwiseAffine ? new Parameter(nd.ones(this.normalizedShape, opts)) : null;
  }

  /** The scale back to ones. */
  resetParameters(): void {
    if (this.weight) init.ones(this.weight);
  }

  forward(x: Tensor): Tensor {
    return rmsNorm(x, this.normalizedShape, this.weight, this.eps);
  }

  override extraRepr(): string {
    return `${nd.fmtShape(this.normalizedShape)}, eps=${this.eps ?? 'None'}, elementwiseAffine=${this.elementwiseAffine}`;
  }
}

import type { Tensor } from '@normlab/autograd';
import * as nd from '@normlab/tensor';
import { layerNorm } from '../functional/layer-norm.js';
import { normalizedShapeOf } from '../functional/normalize.js';
import * as init from '../init.js';
import { Module } from '../module.js';
import { Parameter } from '../parameter.js';

/** Options of LayerNorm (eps 1e-5, elementwiseAffine). */
export interface LayerNormOptions {
  /** Added to the variance for stability; 1e-5 by default. */
  eps?: number;
  /** Learn an elementwise scale (weight, ones) and shift (bias, zeros) of shape normalizedShape; true by default. */
  elementwiseAffine?: boolean;
  /** With elementwiseAffine, also learn the shift (bias); true by default (PyTorch >= 2.1). */
  bias?: boolean;
  dtype?: nd.DType;
  device?: nd.Device;
}

/**
 * Layer Normalization (Ba et al. 2016), as torch.nn.LayerNorm: normalizes
 * each sample over its last `normalizedShape.length` dims (which must equal
 * `normalizedShape`) with the biased variance, then applies an elementwise
 * affine map of shape `normalizedShape`. See `layerNorm` for the formula.
 * Training and eval mode compute the same thing; there are no buffers.
 *
 * @example
 * const ln = new LayerNorm([16]);
 * ln.forward(x); // x [N, T, 16]: each row of 16 normalized
 */
export class LayerNorm extends Module {
  readonly normalizedShape: number[];
  readonly eps: number;
  readonly elementwiseAffine: boolean;
  readonly weight: Parameter | null;
  readonly bias: Parameter | null;

  constructor(normalizedShape: number | readonly number[], options: LayerNormOptions = {}) {
    super();
    this.normalizedShape = normalizedShapeOf('LayerNorm', normalizedShape);
    this.eps = options.eps ?? 1e-5;
    if (!(this.eps > 0)) throw new RangeError(`LayerNorm: eps must be positive, got ${this.eps}`);
    this.elementwiseAffine = options.elementwiseAffine ?? true;
    const opts = { dtype: options.dtype ?? 'float32', device: options.device ?? 'cpu' };
    this.weight = this.elementwiseAffine ? new Parameter(nd.ones(this.normalizedShape, opts)) : null;
    this.bias = this.elementwiseAffine && (options.bias ?? true) ? new Parameter(nd.zeros(this.normalizedShape, opts)) : null;
  }

  /** The affine parameters back to weight = 1, bias = 0. */
  resetParameters(): void {
    if (this.weight) init.ones(this.weight);
    if (this.bias) init.zeros(this.bias);
  }

  forward(x: Tensor): Tensor {
    const k = this.normalizedShape.length;
    if (x.ndim < k || !nd.shapesEqual(x.shape.slice(x.ndim - k), this.normalizedShape)) {
      throw new RangeError(`LayerNorm: expected input with shape [*, ${this.normalizedShape.join(', ')}] (normalizedShape), got ${nd.fmtShape(x.shape)}`);
    }
    return layerNorm(x, this.normalizedShape, this.weight, this.bias, this.eps);
  }

  override extraRepr(): string {
    return `${nd.fmtShape(this.normalizedShape)}, eps=${this.eps}, elementwiseAffine=${this.elementwiseAffine}${this.elementwiseAffine && !this.bias ? ', bias=false' : ''}`;
  }
}

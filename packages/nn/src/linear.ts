import type { Tensor } from '@normlab/autograd';
import { type DType, type Device, empty } from './tensor-util.js';
import { linear } from './functional/linear.js';
import * as init from './init.js';
import { Module } from './module.js';
import { Parameter } from './parameter.js';

/** Options of `Linear`. */
export interface LinearOptions {
  /** Add a learned bias (default true). */
  bias?: boolean;
  dtype?: DType;
  device?: Device;
}

/**
 * y = x W^T + b over the last dim: x [..., inFeatures] -> y [..., outFeatures].
 * W and b start U(-1/sqrt(inFeatures), 1/sqrt(inFeatures)), as in PyTorch.
 *
 * @example new Linear(784, 100).forward(x) // x [N, 784] -> [N, 100]
 */
export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, options: LinearOptions = {}) {
    super();
    for (const [name, v] of [['inFeatures', inFeatures], ['outFeatures', outFeatures]] as const) {
      if (!Number.isInteger(v) || v < 0) throw new RangeError(`Linear: ${name} must be a non-negative integer, got ${v}`);
    }
    this.weight = new Parameter(empty([outFeatures, inFeatures], options));
    this.bias = options.bias ?? true ? new Parameter(empty([outFeatures], options)) : null;
    this.resetParameters();
  }

  /** PyTorch's default: kaiming_uniform(a = sqrt(5)) for W, U(-1/sqrt(fanIn), 1/sqrt(fanIn)) for b. */
  resetParameters(): void {
    init.kaimingUniform(this.weight, { a: Math.sqrt(5) });
    if (this.bias) {
      const bound = this.inFeatures > 0 ? 1 / Math.sqrt(this.inFeatures) : 0;
      init.uniform(this.bias, -bound, bound);
    }
  }

  forward(x: Tensor): Tensor {
    if (x.ndim === 0 || x.shape[x.ndim - 1] !== this.inFeatures) {
      throw new RangeError(`Linear: expected input with last dim ${this.inFeatures}, got shape [${x.shape.join(',')}]`);
    }
    return linear(x, this.weight, this.bias);
  }

  override extraRepr(): string {
    return `inFeatures=${this.inFeatures}, outFeatures=${this.outFeatures}, bias=${this.bias !== null}`;
  }
}


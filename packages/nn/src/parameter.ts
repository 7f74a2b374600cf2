import { Tensor } from '@normlab/autograd';
import type { NDArray } from '@normlab/tensor';

/**
 * A trainable tensor of a module: a leaf that requires grad by default.
 * Modules find their parameters by looking for `Parameter` fields.
 */
export class Parameter extends Tensor {
  constructor(data: NDArray | Tensor, requiresGrad = true) {
    super(data instanceof Tensor ? data.data : data, { requiresGrad });
  }

  override toString(): string {
    return `Parameter(${super.toString()})`;
  }
}

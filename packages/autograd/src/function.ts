import type { NDArray } from '@normlab/tensor';
import { forwardStack, isAnomalyEnabled } from './anomaly.js';
import { isGradEnabled } from './grad-mode.js';
import { type BackwardFn, Node } from './node.js';
import { Tensor } from './tensor.js';

/**
 * Wraps the result of a forward kernel as a Tensor and, when grad mode is on
 * and some input requires grad, records the op in the graph. `backward`
 * returns one gradient per input (null for inputs with no gradient), in the
 * output's shape or any shape that broadcasts to the input's: the engine sums
 * it back to the input's shape. Rules are written with Tensor ops, so that a
 * backward run with `createGraph` is itself differentiable.
 */
export function record(name: string, out: NDArray, inputs: readonly (Tensor | null)[], backward: BackwardFn): Tensor {
  const needsGrad = isGradEnabled() && inputs.some((t) => t !== null && t.requiresGrad);
  if (!needsGrad) return new Tensor(out);
  const node = new Node(name, inputs, backward, out.shape);
  if (isAnomalyEnabled()) node.forwardStack = forwardStack();
  return Tensor.fromNode(out, node);
}

/** A number operand becomes a constant (no grad) 0-D tensor. */
export type TensorLike = Tensor | number;

export function constantOf(v: TensorLike): Tensor | null {
  return v instanceof Tensor ? v : null;
}

import { NDArray, zerosLike } from '@normlab/tensor';
import { forwardStack, isAnomalyEnabled } from './anomaly.js';
import { type ForwardFn, isForwardADActive, propagateTangents } from './forward-ad.js';
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
 *
 * `forward` is the op's forward-mode rule (forward-ad.ts): inside `jvp` it
 * gives the output's tangent from the inputs' tangents, whatever the grad
 * mode; an op recorded without one cannot be differentiated in forward mode.
 */
export function record(name: string, out: NDArray, inputs: readonly (Tensor | null)[], backward: BackwardFn, forward?: ForwardFn): Tensor {
  const needsGrad = isGradEnabled() && inputs.some((t) => t !== null && t.requiresGrad);
  let result: Tensor;
  if (!needsGrad) result = new Tensor(out);
  else {
    const node = new Node(name, inputs, backward, out.shape);
    if (isAnomalyEnabled()) node.forwardStack = forwardStack();
    result = Tensor.fromNode(out, node);
  }
  if (isForwardADActive()) propagateTangents(name, result, inputs, forward);
  return result;
}

/**
 * Declares the values the backward rule of `out`'s op reads (its saved
 * tensors), each with a label such as 'input 0' or 'output': a write in
 * place to one of them before the backward makes the backward an error
 * (PyTorch's version counter). Nothing happens when no graph was recorded.
 */
export function saveForBackward(out: Tensor, values: Readonly<Record<string, Tensor | NDArray | number | null | undefined>>): Tensor {
  const node = out.gradFn;
  if (!node) return out;
  for (const which in values) {
    const v = values[which];
    if (v instanceof Tensor) node.save(which, v.data);
    else if (v instanceof NDArray) node.save(which, v);
  }
  return out;
}

/** The tangents of an op's inputs with the nulls replaced by zeros of each input's shape: for rules that need every one. */
export function tangentsOrZeros(tangents: readonly (Tensor | null)[], inputs: readonly (Tensor | null)[]): Tensor[] {
  return tangents.map((t, i) => {
    const x = inputs[i];
    if (t) return t;
    if (!x) throw new Error('tangentsOrZeros: no input to take a shape from');
    return new Tensor(zerosLike(x.data));
  });
}

/** The sum of the non-null terms of a forward rule (at least one is non-null). */
export function sumTangents(...terms: readonly (Tensor | null)[]): Tensor {
  const present = terms.filter((t): t is Tensor => t !== null);
  if (present.length === 0) throw new Error('sumTangents: no term');
  return present.reduce((a, b) => a.add(b));
}

/** A number operand becomes a constant (no grad) 0-D tensor. */
export type TensorLike = Tensor | number;

export function constantOf(v: TensorLike): Tensor | null {
  return v instanceof Tensor ? v : null;
}

import { Tensor, isGradEnabled } from '@normlab/autograd';
import * as nd from '@normlab/tensor';
import type { Parameter } from '../parameter.js';
import { Optimizer, type ParamGroupInput, type ParamState, stateTensor } from './optimizer.js';

/** Hyper-parameters of `SGD` (torch.optim.SGD's, in camelCase); `lr` is required. */
export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
  maximize?: boolean;
}

/**
 * One SGD update of `param` with gradient `grad` (torch.optim.SGD):
 *
 *     g = grad (negated when maximize) + weightDecay * param
 *     if momentum != 0:
 *         buf = g                                   (first step)
 *         buf = momentum * buf + (1 - dampening) * g (later steps)
 *         g = nesterov ? g + momentum * buf : buf
 *     param = param - lr * g
 *
 * Returns the new parameter values and momentum buffer.
 */
export function sgdUpdate(param: Tensor, grad: Tensor, buf: Tensor | null, o: Required<SGDOptions>): { param: Tensor; buf: Tensor | null } {
  let g = o.maximize ? grad.neg() : grad;
  if (o.weightDecay !== 0) g = g.add(param.mul(o.weightDecay));
  let nextBuf = buf;
  if (o.momentum !== 0) {
    // The first buffer is a copy of g (torch.clone(grad).detach()), never the gradient itself.
    nextBuf = buf ? buf.mul(o.momentum).add(g.mul(1 - o.dampening)) : new Tensor(g.data.clone());
    g = o.nesterov ? g.add(nextBuf.mul(o.momentum)) : nextBuf;
  }
  // Outside autograd (an optimizer's step) in one pass, the same values as the two ops.
  const fused = (!isGradEnabled() || !(param.requiresGrad || g.requiresGrad))
    && nd.isFloat(param.dtype) && g.dtype === param.dtype && g.device === param.device && nd.shapesEqual(g.shape, param.shape);
  return { param: fused ? new Tensor(nd.axpby(1, param.data, -o.lr, g.data)) : param.sub(g.mul(o.lr)), buf: nextBuf };
}

/** Stochastic gradient descent with optional momentum, dampening, Nesterov and weight decay. */
export class SGD extends Optimizer<Required<SGDOptions>> {
  /**
   * `params`: parameters, or groups `{ params, ...options }` whose options
   * override `options` (e.g. a different lr per group).
   */
  constructor(params: Iterable<Parameter> | Iterable<ParamGroupInput<SGDOptions>>, options: SGDOptions) {
    const o: Required<SGDOptions> = {
      lr: options.lr, momentum: options.momentum ?? 0, dampening: options.dampening ?? 0,
      weightDecay: options.weightDecay ?? 0, nesterov: options.nesterov ?? false, maximize: options.maximize ?? false,
    };
    validate(o);
    super(params, o);
  }

  protected override validateOptions(options: Required<SGDOptions>): void {
    validate(options);
  }

  protected updateParam(param: Tensor, grad: Tensor, s: ParamState | undefined, o: Required<SGDOptions>): { param: Tensor; state: ParamState | null } {
    const state = s ?? {};
    const next = sgdUpdate(param, grad, stateTensor(state, 'momentumBuffer'), o);
    // As torch: state only where there is some (the momentum buffer).
    if (!next.buf) return { param: next.param, state: null };
    state.momentumBuffer = next.buf;
    return { param: next.param, state };
  }
}

function validate(o: Required<SGDOptions>): void {
  if (!(o.lr >= 0)) throw new RangeError(`SGD: invalid learning rate ${o.lr}`);
  if (!(o.momentum >= 0)) throw new RangeError(`SGD: invalid momentum ${o.momentum}`);
  if (!(o.weightDecay >= 0)) throw new RangeError(`SGD: invalid weightDecay ${o.weightDecay}`);
  if (o.nesterov && (o.momentum <= 0 || o.dampening !== 0)) throw new RangeError('SGD: Nesterov momentum requires a momentum and zero dampening');
}

import { Tensor } from '@normlab/autograd';
import { fullLike } from '@normlab/tensor';
import type { Parameter } from '../parameter.js';
import { Optimizer, type ParamGroupInput, type ParamState, stateNumber, stateTensor } from './optimizer.js';

/** Hyper-parameters of `Adagrad` (torch.optim.Adagrad's, in camelCase, with its defaults). */
export interface AdagradOptions {
  lr?: number;
  lrDecay?: number;
  weightDecay?: number;
  initialAccumulatorValue?: number;
  eps?: number;
  maximize?: boolean;
}

/** Adagrad's per-parameter state: the step count and the running sum of squared gradients. */
export type AdagradState = { step: number; sum: Tensor };

/**
 * One Adagrad update of `param` with gradient `grad` (torch.optim.Adagrad);
 * `state.sum` starts at `initialAccumulatorValue` and `state.step` at 0:
 *
 *     t = t + 1
 *     g = grad (negated when maximize) + weightDecay * param
 *     clr = lr / (1 + (t - 1) * lrDecay)
 *     sum = sum + g * g
 *     param = param - clr * g / (sqrt(sum) + eps)
 *
 * Returns the new parameter values and state.
 */
export function adagradUpdate(param: Tensor, grad: Tensor, state: AdagradState, o: Required<AdagradOptions>): { param: Tensor; state: AdagradState } {
  const step = state.step + 1;
  let g = o.maximize ? grad.neg() : grad;
  if (o.weightDecay !== 0) g = g.add(param.mul(o.weightDecay));
  const clr = o.lr / (1 + (step - 1) * o.lrDecay);
  const sum = state.sum.add(g.mul(g));
  const std = sum.sqrt().add(o.eps);
  return { param: param.add(g.div(std).mul(-clr)), state: { step, sum } };
}

/** The state Adagrad starts from: step 0 and the accumulator filled with `initialAccumulatorValue`. */
export function adagradInitialState(param: Tensor, initialAccumulatorValue: number): AdagradState {
  return { step: 0, sum: new Tensor(fullLike(param.data, initialAccumulatorValue)) };
}

/** Adagrad (Duchi et al.), as torch.optim.Adagrad. See `adagradUpdate`. */
export class Adagrad extends Optimizer<Required<AdagradOptions>> {
  /**
   * `params`: parameters, or groups `{ params, ...options }` whose options
   * override `options`. As torch, the state of every parameter is created
   * here (step 0, accumulator at `initialAccumulatorValue`).
   */
  constructor(params: Iterable<Parameter> | Iterable<ParamGroupInput<AdagradOptions>>, options: AdagradOptions = {}) {
    const o: Required<AdagradOptions> = {
      lr: options.lr ?? 1e-2, lrDecay: options.lrDecay ?? 0, weightDecay: options.weightDecay ?? 0,
      initialAccumulatorValue: options.initialAccumulatorValue ?? 0, eps: options.eps ?? 1e-10, maximize: options.maximize ?? false,
    };
    validate(o);
    super(params, o);
  }

  override addParamGroup(group: ParamGroupInput<Required<AdagradOptions>>): void {
    super.addParamGroup(group);
    // The base constructor adds its groups through here too, so every parameter gets its state up front.
    const g = this.paramGroups[this.paramGroups.length - 1];
    for (const p of g.params) this.state.set(p, adagradInitialState(p, g.options.initialAccumulatorValue));
  }

  protected override validateOptions(options: Required<AdagradOptions>): void {
    validate(options);
  }

  protected updateParam(param: Tensor, grad: Tensor, s: ParamState | undefined, o: Required<AdagradOptions>): { param: Tensor; state: AdagradState } {
    const state = { step: stateNumber(s, 'step'), sum: stateTensor(s, 'sum') ?? adagradInitialState(param, o.initialAccumulatorValue).sum };
    return adagradUpdate(param, grad, state, o);
  }
}

function validate(o: Required<AdagradOptions>): void {
  if (!(o.lr >= 0)) throw new RangeError(`Adagrad: invalid learning rate ${o.lr}`);
  if (!(o.lrDecay >= 0)) throw new RangeError(`Adagrad: invalid lrDecay ${o.lrDecay}`);
  if (!(o.weightDecay >= 0)) throw new RangeError(`Adagrad: invalid weightDecay ${o.weightDecay}`);
  if (!(o.initialAccumulatorValue >= 0)) throw new RangeError(`Adagrad: invalid initialAccumulatorValue ${o.initialAccumulatorValue}`);
  if (!(o.eps >= 0)) throw new RangeError(`Adagrad: invalid eps ${o.eps}`);
}

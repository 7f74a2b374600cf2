import { Tensor } from '@normlab/autograd';
import type { Parameter } from '../parameter.js';
import { lerp } from './adam.js';
import { Optimizer, type ParamGroupInput, type ParamState, stateNumber, stateTensor, zerosLikeTensor } from './optimizer.js';

/** Hyper-parameters of `RMSprop` (torch.optim.RMSprop's, in camelCase, with its defaults). */
export interface RMSpropOptions {
  lr?: number;
  alpha?: number;
  eps?: number;
  weightDecay?: number;
  momentum?: number;
  centered?: boolean;
  maximize?: boolean;
}

/**
 * RMSprop's per-parameter state: the step count, the running mean of the
 * squared gradient, with momentum the buffer, and when centered the running
 * mean of the gradient.
 */
export type RMSpropState = { step: number; squareAvg: Tensor; momentumBuffer?: Tensor; gradAvg?: Tensor };

/**
 * One RMSprop update of `param` with gradient `grad` (torch.optim.RMSprop);
 * with `state` null this is the first step (every buffer starts at zero):
 *
 *     g = grad (negated when maximize) + weightDecay * param
 *     v = alpha * v + (1 - alpha) * g * g
 *     if centered:
 *         gAvg = lerp(gAvg, g, 1 - alpha)         (= alpha * gAvg + (1 - alpha) * g)
 *         avg = sqrt(v - gAvg * gAvg) + eps
 *     else:
 *         avg = sqrt(v) + eps
 *     if momentum > 0:
 *         buf = momentum * buf + g / avg
 *         param = param - lr * buf
 *     else:
 *         param = param - lr * g / avg
 *
 * Returns the new parameter values and state.
 */
export function rmspropUpdate(param: Tensor, grad: Tensor, state: RMSpropState | null, o: Required<RMSpropOptions>): { param: Tensor; state: RMSpropState } {
  let g = o.maximize ? grad.neg() : grad;
  if (o.weightDecay !== 0) g = g.add(param.mul(o.weightDecay));
  const squareAvg = (state?.squareAvg ?? zerosLikeTensor(param)).mul(o.alpha).add(g.mul(g).mul(1 - o.alpha));
  const next: RMSpropState = { step: (state?.step ?? 0) + 1, squareAvg };
  let avg: Tensor;
  if (o.centered) {
    const gradAvg = lerp(state?.gradAvg ?? zerosLikeTensor(param), g, 1 - o.alpha);
    next.gradAvg = gradAvg;
    avg = squareAvg.sub(gradAvg.mul(gradAvg)).sqrt();
  } else {
    avg = squareAvg.sqrt();
  }
  avg = avg.add(o.eps);
  if (o.momentum > 0) {
    const buf = (state?.momentumBuffer ?? zerosLikeTensor(param)).mul(o.momentum).add(g.div(avg));
    next.momentumBuffer = buf;
    return { param: param.add(buf.mul(-o.lr)), state: next };
  }
  return { param: param.add(g.div(avg).mul(-o.lr)), state: next };
}

/** Reads an RMSprop state back from the optimizer's map (null before the first step). */
export function rmspropStateOf(s: ParamState | undefined): RMSpropState | null {
  const squareAvg = stateTensor(s, 'squareAvg');
  if (!squareAvg) return null;
  const out: RMSpropState = { step: stateNumber(s, 'step'), squareAvg };
  const buf = stateTensor(s, 'momentumBuffer');
  const gradAvg = stateTensor(s, 'gradAvg');
  if (buf) out.momentumBuffer = buf;
  if (gradAvg) out.gradAvg = gradAvg;
  return out;
}

/** RMSprop (Hinton), as torch.optim.RMSprop, optionally centered and with momentum. See `rmspropUpdate`. */
export class RMSprop extends Optimizer<Required<RMSpropOptions>> {
  /**
   * `params`: parameters, or groups `{ params, ...options }` whose options
   * override `options` (e.g. a different lr per group).
   */
  constructor(params: Iterable<Parameter> | Iterable<ParamGroupInput<RMSpropOptions>>, options: RMSpropOptions = {}) {
    const o: Required<RMSpropOptions> = {
      lr: options.lr ?? 1e-2, alpha: options.alpha ?? 0.99, eps: options.eps ?? 1e-8, weightDecay: options.weightDecay ?? 0,
      momentum: options.momentum ?? 0, centered: options.centered ?? false, maximize: options.maximize ?? false,
    };
    validate(o);
    super(params, o);
  }

  protected override validateOptions(options: Required<RMSpropOptions>): void {
    validate(options);
  }

  protected updateParam(param: Tensor, grad: Tensor, s: ParamState | undefined, o: Required<RMSpropOptions>): { param: Tensor; state: RMSpropState } {
    return rmspropUpdate(param, grad, rmspropStateOf(s), o);
  }
}

function validate(o: Required<RMSpropOptions>): void {
  if (!(o.lr >= 0)) throw new RangeError(`RMSprop: invalid learning rate ${o.lr}`);
  if (!(o.eps >= 0)) throw new RangeError(`RMSprop: invalid eps ${o.eps}`);
  if (!(o.momentum >= 0)) throw new RangeError(`RMSprop: invalid momentum ${o.momentum}`);
  if (!(o.weightDecay >= 0)) throw new RangeError(`RMSprop: invalid weightDecay ${o.weightDecay}`);
  if (!(o.alpha >= 0)) throw new RangeError(`RMSprop: invalid alpha ${o.alpha}`);
}

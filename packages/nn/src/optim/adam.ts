import { Tensor } from '@normlab/autograd';
import type { Parameter } from '../parameter.js';
import { Optimizer, type ParamGroupInput, type ParamState, stateNumber, stateTensor, zerosLikeTensor } from './optimizer.js';

/** Hyper-parameters of `Adam` and `AdamW` (torch.optim.Adam's, in camelCase, with its defaults). */
export interface AdamOptions {
  lr?: number;
  betas?: readonly [number, number];
  eps?: number;
  weightDecay?: number;
  amsgrad?: boolean;
  maximize?: boolean;
}

/**
 * Adam's per-parameter state (torch names in camelCase): the step count
 * (from 1 after the first step), the first and second moments, and with
 * amsgrad the running maximum of the second moment.
 */
export type AdamState = {
  step: number;
  expAvg: Tensor;
  expAvgSq: Tensor;
  maxExpAvgSq?: Tensor;
};

/** Adds `w * (end - start)` to `start` the way torch's lerp does (the branch keeps it exact at both ends). */
export function lerp(start: Tensor, end: Tensor, w: number): Tensor {
  return w < 0.5 ? start.add(end.sub(start).mul(w)) : end.sub(end.sub(start).mul(1 - w));
}

/**
 * One Adam update of `param` with gradient `grad` (torch.optim.Adam); with
 * `state` null this is the first step:
 *
 *     g = grad (negated when maximize) + weightDecay * param
 *     t = t + 1                                  (t = 0 before the first step)
 *     m = lerp(m, g, 1 - beta1)                  (= beta1 * m + (1 - beta1) * g)
 *     v = beta2 * v + (1 - beta2) * g * g        (m = v = 0 before the first step)
 *     vHat = amsgrad ? (vMax = max(vMax, v)) : v
 *     denom = sqrt(vHat) / sqrt(1 - beta2^t) + eps
 *     param = param - lr / (1 - beta1^t) * m / denom
 *
 * Returns the new parameter values and state.
 */
export function adamUpdate(param: Tensor, grad: Tensor, state: AdamState | null, o: Required<AdamOptions>): { param: Tensor; state: AdamState } {
  let g = o.maximize ? grad.neg() : grad;
  if (o.weightDecay !== 0) g = g.add(param.mul(o.weightDecay));
  return adamCore(param, g, state, o);
}

/**
 * One AdamW update (torch.optim.AdamW): Adam with the weight decay
 * decoupled from the gradient, applied to the parameter first:
 *
 *     param = param * (1 - lr * weightDecay)
 *     then Adam's update (above) with g = grad (negated when maximize), no L2 term
 */
export function adamwUpdate(param: Tensor, grad: Tensor, state: AdamState | null, o: Required<AdamOptions>): { param: Tensor; state: AdamState } {
  const g = o.maximize ? grad.neg() : grad;
  const decayed = o.weightDecay !== 0 ? param.mul(1 - o.lr * o.weightDecay) : param;
  return adamCore(decayed, g, state, o);
}

function adamCore(param: Tensor, g: Tensor, state: AdamState | null, o: Required<AdamOptions>): { param: Tensor; state: AdamState } {
  const [beta1, beta2] = o.betas;
  const step = (state?.step ?? 0) + 1;
  const m0 = state?.expAvg ?? zerosLikeTensor(param);
  const v0 = state?.expAvgSq ?? zerosLikeTensor(param);
  const expAvg = lerp(m0, g, 1 - beta1);
  const expAvgSq = v0.mul(beta2).add(g.mul(g).mul(1 - beta2));
  const next: AdamState = { step, expAvg, expAvgSq };
  let vHat = expAvgSq;
  if (o.amsgrad) {
    // torch keeps the maximum of the raw (not bias-corrected) second moments.
    next.maxExpAvgSq = (state?.maxExpAvgSq ?? zerosLikeTensor(param)).maximum(expAvgSq);
    vHat = next.maxExpAvgSq;
  }
  const biasCorrection1 = 1 - beta1 ** step;
  const biasCorrection2Sqrt = Math.sqrt(1 - beta2 ** step);
  const stepSize = o.lr / biasCorrection1;
  const denom = vHat.sqrt().div(biasCorrection2Sqrt).add(o.eps);
  return { param: param.add(expAvg.div(denom).mul(-stepSize)), state: next };
}

/** Reads an Adam state back from the optimizer's map (null before the first step). */
export function adamStateOf(s: ParamState | undefined): AdamState | null {
  const expAvg = stateTensor(s, 'expAvg');
  const expAvgSq = stateTensor(s, 'expAvgSq');
  if (!expAvg || !expAvgSq) return null;
  const out: AdamState = { step: stateNumber(s, 'step'), expAvg, expAvgSq };
  const max = stateTensor(s, 'maxExpAvgSq');
  if (max) out.maxExpAvgSq = max;
  return out;
}

function resolve(options: AdamOptions, weightDecay: number): Required<AdamOptions> {
  return {
    lr: options.lr ?? 1e-3, betas: options.betas ?? [0.9, 0.999], eps: options.eps ?? 1e-8,
    weightDecay: options.weightDecay ?? weightDecay, amsgrad: options.amsgrad ?? false, maximize: options.maximize ?? false,
  };
}

function validate(name: string, o: Required<AdamOptions>): void {
  if (!(o.lr >= 0)) throw new RangeError(`${name}: invalid learning rate ${o.lr}`);
  if (!(o.eps >= 0)) throw new RangeError(`${name}: invalid eps ${o.eps}`);
  o.betas.forEach((b, i) => {
    if (!(b >= 0 && b < 1)) throw new RangeError(`${name}: invalid beta parameter at index ${i}: ${b} (must be in [0, 1))`);
  });
  if (o.betas.length !== 2) throw new RangeError(`${name}: betas must have two entries`);
  if (!(o.weightDecay >= 0)) throw new RangeError(`${name}: invalid weightDecay ${o.weightDecay}`);
}

abstract class AdamBase extends Optimizer<Required<AdamOptions>> {
  protected abstract update(param: Tensor, grad: Tensor, state: AdamState | null, o: Required<AdamOptions>): { param: Tensor; state: AdamState };

  protected updateParam(param: Tensor, grad: Tensor, s: ParamState | undefined, o: Required<AdamOptions>): { param: Tensor; state: AdamState } {
    return this.update(param, grad, adamStateOf(s), o);
  }

  protected override validateOptions(options: Required<AdamOptions>): void {
    validate(this.constructor.name, options);
  }
}

/**
 * Adam (Kingma & Ba), as torch.optim.Adam: L2 weight decay added to the
 * gradient, optional AMSGrad and maximize. See `adamUpdate`.
 */
export class Adam extends AdamBase {
  /**
   * `params`: parameters, or groups `{ params, ...options }` whose options
   * override `options` (e.g. a different lr per group).
   */
  constructor(params: Iterable<Parameter> | Iterable<ParamGroupInput<AdamOptions>>, options: AdamOptions = {}) {
    const o = resolve(options, 0);
    validate('Adam', o);
    super(params, o);
  }

  protected update(param: Tensor, grad: Tensor, state: AdamState | null, o: Required<AdamOptions>): { param: Tensor; state: AdamState } {
    return adamUpdate(param, grad, state, o);
  }
}

/**
 * AdamW (Loshchilov & Hutter), as torch.optim.AdamW: Adam with decoupled
 * weight decay (default 1e-2). See `adamwUpdate`.
 */
export class AdamW extends AdamBase {
  constructor(params: Iterable<Parameter> | Iterable<ParamGroupInput<AdamOptions>>, options: AdamOptions = {}) {
    const o = resolve(options, 1e-2);
    validate('AdamW', o);
    super(params, o);
  }

  protected update(param: Tensor, grad: Tensor, state: AdamState | null, o: Required<AdamOptions>): { param: Tensor; state: AdamState } {
    return adamwUpdate(param, grad, state, o);
  }
}

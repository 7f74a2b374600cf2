import { Tensor, grad, noGrad } from '@normlab/autograd';
import type { Module } from '@normlab/nn';
import * as nd from '@normlab/tensor';
import { type LossFn, type ProbeOptions, diffNorm, dot, hostConcat, lossAndGrads, norm, probe, trainable } from './guard.js';

export interface LossLandscapeOptions extends ProbeOptions {
  /** The step sizes eta of the probes w - eta g (any finite numbers; 0 is the current point). */
  stepSizes: readonly number[];
}

/** What `lossLandscape` measures along the gradient. */
export interface LossLandscape {
  /** L(w) and ||g||_2 = ||grad L(w)||_2 at the current parameters. */
  loss: number;
  gradNorm: number;
  stepSizes: number[];
  /** L(w - eta g) for each step size. */
  losses: number[];
  /** min, max and max - min of `losses`: the variation of the loss along the gradient. */
  min: number;
  max: number;
  range: number;
  /** Gradient predictiveness: ||grad L(w) - grad L(w - eta g)||_2 for each step size, and the largest. */
  gradDiffs: number[];
  maxGradDiff: number;
  /** ||grad L(w) - grad L(w - eta g)||_2 / ||eta g||_2 for each step size (NaN where eta g = 0). */
  betas: number[];
  /** Effective beta-smoothness: the largest of `betas` (NaN when every one is). */
  betaSmoothness: number;
}

/**
 * The landscape along the gradient, as Santurkar et al. (2018, section 3.1,
 * figure 4) probe it at a training step: with g = grad L(w) on `batch`, for
 * each step size eta the point w_eta = w - eta g, and
 *
 *     loss variation          L(w_eta)                         (min, max, range)
 *     gradient predictiveness ||grad L(w) - grad L(w_eta)||_2  (and the max)
 *     effective beta-smoothness  max_eta ||grad L(w) - grad L(w_eta)||_2 / ||eta g||_2
 *
 * over every trainable parameter of `model` at once. For a quadratic
 * L = w^T A w / 2 + b^T w, grad L(w_eta) = g - eta A g, so the beta of every
 * probe is ||A g|| / ||g||. 1 + stepSizes.length gradient evaluations, all with
 * the same random numbers (dropout masks, BatchNorm noise). Training mode;
 * the model, gradients, buffers and optimizers are left exactly as they were.
 */
export function lossLandscape<M extends Module, B>(model: M, lossFn: LossFn<M, B>, batch: B, options: LossLandscapeOptions): LossLandscape {
  const stepSizes = [...(options?.stepSizes ?? [])];
  if (stepSizes.length === 0) throw new RangeError('lossLandscape: options.stepSizes must hold at least one step size');
  for (const eta of stepSizes) if (!Number.isFinite(eta)) throw new RangeError(`lossLandscape: step sizes must be finite numbers, got ${eta}`);
  return probe(model, options, (guard) => {
    const params = trainable(model).map(([, p]) => p);
    const w = params.map((p) => p.data);
    const at = lossAndGrads(guard, lossFn, batch, params);
    const g = hostConcat(at.grads);
    const gradNorm = norm(g);
    const losses: number[] = [];
    const gradDiffs: number[] = [];
    const betas: number[] = [];
    for (const eta of stepSizes) {
      noGrad(() => params.forEach((p, i) => (p.data = new Tensor(w[i]).sub(at.grads[i].mul(eta)).data)));
      const probeAt = lossAndGrads(guard, lossFn, batch, params);
      const d = diffNorm(g, hostConcat(probeAt.grads));
      const moved = Math.abs(eta) * gradNorm;
      losses.push(probeAt.loss);
      gradDiffs.push(d);
      betas.push(moved > 0 ? d / moved : NaN);
    }
    const finiteBetas = betas.filter((b) => !Number.isNaN(b));
    const min = Math.min(...losses);
    const max = Math.max(...losses);
    return {
      loss: at.loss, gradNorm, stepSizes, losses, min, max, range: max - min,
      gradDiffs, maxGradDiff: Math.max(...gradDiffs),
      betas, betaSmoothness: finiteBetas.length ? Math.max(...finiteBetas) : NaN,
    };
  });
}

export interface HessianQuadraticFormOptions extends ProbeOptions {
  /**
   * The direction v of v^T H v, laid out as `flattenParams(model)` lays out
   * the parameters (entries of parameters without requiresGrad are ignored).
   * Default: the gradient g.
   */
  direction?: Tensor | nd.NDArray;
}

/** The result of `hessianQuadraticForm`: g^T H g along the gradient (or a given direction), and its normalized form. */
export interface HessianQuadraticForm {
  loss: number;
  /** ||g||_2. */
  gradNorm: number;
  /** v^T H v (g^T H g by default), with H the Hessian of the loss in the trainable parameters. */
  quadraticForm: number;
  /** ||v||_2 (equal to gradNorm by default). */
  directionNorm: number;
  /** v^T H v / ||v||^2: the curvature along v (g^T H g / ||g||^2, Theorem 4.2's quantity); NaN when v = 0. */
  normalized: number;
}

/**
 * The Hessian's quadratic form along the gradient, g^T H g, and its
 * normalized form g^T H g / ||g||^2 (the curvature of the loss along the
 * direction gradient descent moves in; Santurkar et al. 2018, Theorem 4.2),
 * by a Hessian-vector product through double backward:
 *
 *     g  = grad(L, w, createGraph)       H v = grad(<g, stopgrad(v)>, w)      v^T H v = <H v, v>
 *
 * The Hessian is never formed: two backward passes. Training mode; the
 * model, gradients, buffers and optimizers are left exactly as they were.
 */
export function hessianQuadraticForm<M extends Module, B>(
  model: M, lossFn: LossFn<M, B>, batch: B, options: HessianQuadraticFormOptions = {},
): HessianQuadraticForm {
  return probe(model, options, (guard) => {
    const named = trainable(model);
    const params = named.map(([, p]) => p);
    const at = lossAndGrads(guard, lossFn, batch, params, { createGraph: true });
    const v = options.direction ? directionSlices(model, params, options.direction) : at.grads.map((g) => g.detach());
    const gHost = hostConcat(at.grads.map((g) => g.detach()));
    const vHost = hostConcat(v);
    let quadraticForm = 0;
    const terms = at.grads.flatMap((g, i) => (g.requiresGrad ? [g.mul(v[i]).sum()] : []));
    if (terms.length > 0) {
      const s = terms.reduce((a, b) => a.add(b));
      const hv = grad(s, params, { allowUnused: true });
      quadraticForm = dot(hostConcat(hv.map((h, i) => h ?? new Tensor(nd.zeros(params[i].shape, { dtype: params[i].dtype, device: params[i].device })))), vHost);
    }
    const directionNorm = norm(vHost);
    return {
      loss: at.loss,
      gradNorm: norm(gHost),
      quadraticForm,
      directionNorm,
      normalized: directionNorm > 0 ? quadraticForm / (directionNorm * directionNorm) : NaN,
    };
  });
}

/** Cuts a flat direction (flattenParams layout) into one tensor per trainable parameter. */
function directionSlices(model: Module, params: readonly Tensor[], direction: Tensor | nd.NDArray): Tensor[] {
  const data = direction instanceof Tensor ? direction.data : direction;
  const all = model.parameters();
  const total = all.reduce((s, p) => s + p.size, 0);
  if (data.ndim !== 1 || data.size !== total) {
    throw new RangeError(`hessianQuadraticForm: direction must be a 1-D vector of ${total} values (flattenParams layout), got shape ${nd.fmtShape(data.shape)}`);
  }
  const byParam = new Map<Tensor, Tensor>();
  let offset = 0;
  for (const p of all) {
    byParam.set(p, new Tensor(data.slice(0, offset, offset + p.size).reshape(p.shape).astype(p.dtype).to(p.device)));
    offset += p.size;
  }
  return params.map((p) => byParam.get(p)!);
}

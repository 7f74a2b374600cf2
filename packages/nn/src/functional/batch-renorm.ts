import { Tensor, noGrad } from '@normlab/autograd';
import * as nd from '@normlab/tensor';
import { type BatchNormFunctionalOptions, batchNorm, checkBatchNormArgs, normalizeWithBatchStats, updateRunning } from './batch-norm.js';

/** Options of the functional `batchRenorm`: BatchNorm's, plus the clipping bounds of r and d. */
export interface BatchRenormFunctionalOptions extends BatchNormFunctionalOptions {
  /** r is clipped to [1 / rmax, rmax]; rmax >= 1 (1 by default: r = 1). */
  rmax?: number;
  /** d is clipped to [-dmax, dmax]; dmax >= 0 (0 by default: d = 0). */
  dmax?: number;
}

/**
 * Batch Renormalization of x [N, C, ...] per channel C (Ioffe 2017, "Batch
 * Renormalization: Towards Reducing Minibatch Dependence in
 * Batch-Normalized Models", Algorithm 1). In training, with the batch's
 * mean mu_B and sigma_B = sqrt(var_B + eps), and the running mean mu and
 * sigma = sqrt(runningVar + eps) as they were before this batch:
 *
 *     r = clip(sigma_B / sigma, 1/rmax, rmax)     d = clip((mu_B - mu) / sigma, -dmax, dmax)
 *     xhat = (x - mu_B) / sigma_B * r + d         y = weight * xhat + bias
 *
 * r and d are constants for the gradient (stop_gradient in the paper); the
 * gradient with respect to x is BatchNorm's with weight * r. The running
 * statistics are then updated as BatchNorm's (momentum, unbiased variance),
 * so eval mode, which normalizes with them, is BatchNorm's. rmax = 1 and
 * dmax = 0 give BatchNorm exactly. Unlike `batchNorm`, training needs the
 * running statistics (r and d are defined by them).
 */
export function batchRenorm(
  x: Tensor, runningMean: Tensor, runningVar: Tensor, weight: Tensor | null = null, bias: Tensor | null = null,
  options: BatchRenormFunctionalOptions = {},
): Tensor {
  return batchRenormWithCorrection(x, runningMean, runningVar, weight, bias, options).y;
}

/**
 * @internal `batchRenorm`, also returning the r and d [C] it applied (in
 * training; null in eval mode), which the layers keep for inspection.
 */
export function batchRenormWithCorrection(
  x: Tensor, runningMean: Tensor, runningVar: Tensor, weight: Tensor | null, bias: Tensor | null,
  options: BatchRenormFunctionalOptions,
): { y: Tensor; r: Tensor | null; d: Tensor | null } {
  const { rmax = 1, dmax = 0 } = options;
  if (!(rmax >= 1) || !Number.isFinite(rmax)) throw new RangeError(`batchRenorm: rmax must be a finite number >= 1, got ${rmax}`);
  if (!(dmax >= 0) || !Number.isFinite(dmax)) throw new RangeError(`batchRenorm: dmax must be a finite number >= 0, got ${dmax}`);
  if (!(runningMean instanceof Tensor) || !(runningVar instanceof Tensor)) throw new TypeError('batchRenorm: runningMean and runningVar are required (r and d are defined by them)');
  const { training, momentum, eps, m } = checkBatchNormArgs('batchRenorm', x, runningMean, runningVar, weight, bias, options);
  if (!training) return { y: batchNorm(x, runningMean, runningVar, weight, bias, { eps }), r: null, d: null };

  const [mean, variance] = nd.normalizeMoments(x.data);
  const sigma = nd.sqrt(nd.add(runningVar.data, eps));
  const r = nd.clamp(nd.div(nd.sqrt(nd.add(variance, eps)), sigma), 1 / rmax, rmax).astype(x.dtype);
  const d = nd.clamp(nd.div(nd.sub(mean, runningMean.data), sigma), -dmax, dmax).astype(x.dtype);
  noGrad(() => {
    updateRunning(runningMean, mean, momentum);
    updateRunning(runningVar, variance, momentum, m);
  });
  // y = weight * (xhat_B * r + d) + bias = (weight * r) * xhat_B + (weight * d + bias), r and d constants.
  const rT = new Tensor(r);
  const dT = new Tensor(d);
  const scale = weight ? weight.mul(rT) : rT;
  let shift = weight ? weight.mul(dT) : dT;
  if (bias) shift = shift.add(bias);
  return { y: normalizeWithBatchStats('batchRenorm', x, mean, variance, scale, shift, eps), r: rT, d: dT };
}

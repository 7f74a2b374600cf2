import { Tensor, isForwardADActive, isGradEnabled, isVmapping, noGrad, record, saveForBackward, sumTangents } from '@normlab/autograd';
import * as nd from '@normlab/tensor';
import { channelShape, composedNormalizeBackward, normalizeTangent } from './normalize.js';

/** Options of the functional `batchNorm`. */
export interface BatchNormFunctionalOptions {
  /** Normalize with the batch statistics (and update the running ones, when given); default false. */
  training?: boolean;
  /**
   * Weight of the new batch in the running averages; 0.1 by default. May be
   * a 0-D float64 array on the input's device (the layers pass 1/count for a
   * cumulative average, so that the count is never read back to the host).
   */
  momentum?: number | nd.NDArray;
  /** Added to the variance before the square root; 1e-5 by default. */
  eps?: number;
}

/**
 * Batch Normalization of x [N, C, ...] per channel C (Ioffe & Szegedy 2015),
 * as torch.nn.functional.batch_norm:
 *
 *     mu_B = mean over N and the spatial dims      var_B = the biased variance
 *     xhat = (x - mu_B) / sqrt(var_B + eps)        y = weight * xhat + bias
 *
 * In training mode the batch statistics normalize, and the running ones (if
 * given) are updated in place: running = (1 - momentum) * running +
 * momentum * batch, the variance with the unbiased estimate var_B * m/(m-1).
 * Otherwise the running statistics normalize.
 *
 * The backward is fused: one pass over dy and the saved xhat computes the
 * reductions sum(dy) and sum(dy * xhat), then dx. Under `createGraph` it
 * falls back to the same formula written in differentiable ops, so that
 * second derivatives (Hessian-vector products) work.
 */
export function batchNorm(
  x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, weight: Tensor | null = null, bias: Tensor | null = null,
  options: BatchNormFunctionalOptions = {},
): Tensor {
  const { training, momentum, eps, m } = checkBatchNormArgs('batchNorm', x, runningMean, runningVar, weight, bias, options);
  if (!training) return normalizeWithRunningStats(x, runningMean!, runningVar!, weight, bias, eps);

  const [mean, variance] = nd.normalizeMoments(x.data);
  if (runningMean && runningVar) {
    noGrad(() => {
      updateRunning(runningMean, mean, momentum);
      updateRunning(runningVar, variance, momentum, m);
    });
  }
  return normalizeWithBatchStats('batchNorm', x, mean, variance, weight, bias, eps);
}

/**
 * @internal Checks batchNorm's arguments (the input [N, C, ...], the [C]
 * vectors, eps, momentum; running statistics in eval mode; more than one
 * value per channel in training) with errors naming `op`, and returns the
 * options with their defaults and m, the values per channel.
 */
export function checkBatchNormArgs(
  op: string, x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, weight: Tensor | null, bias: Tensor | null,
  options: BatchNormFunctionalOptions,
): { training: boolean; momentum: number | nd.NDArray; eps: number; m: number } {
  const training = options.training ?? false;
  const momentum = options.momentum ?? 0.1;
  const eps = options.eps ?? 1e-5;
  if (!(x instanceof Tensor)) throw new TypeError(`${op}: expected a Tensor input`);
  if (training && runningMean && isVmapping()) {
    // As torch.func: every example would write the shared running statistics in place.
    throw new Error(`${op}: cannot update running statistics inside vmap (each example would overwrite the shared buffers, as torch.func refuses): use eval mode, a BatchNorm with trackRunningStats false (statistics of each example's own batch), or withoutStatsUpdates`);
  }
  if (x.ndim < 2) throw new RangeError(`${op}: expected input [N, C, ...] with at least 2 dims, got ${nd.fmtShape(x.shape)}`);
  if (!(eps > 0)) throw new RangeError(`${op}: eps must be positive, got ${eps}`);
  if (typeof momentum === 'number' && !(momentum >= 0 && momentum <= 1)) throw new RangeError(`${op}: momentum must be in [0, 1], got ${momentum}`);
  const C = x.shape[1];
  for (const [name, t] of [['runningMean', runningMean], ['runningVar', runningVar], ['weight', weight], ['bias', bias]] as const) {
    if (t && (t.ndim !== 1 || t.shape[0] !== C)) {
      throw new RangeError(`${op}: expected ${name} of shape [${C}] for input ${nd.fmtShape(x.shape)}, got ${nd.fmtShape(t.shape)}`);
    }
  }
  if ((runningMean === null) !== (runningVar === null)) throw new Error(`${op}: runningMean and runningVar must be given together`);
  if (!training && (!runningMean || !runningVar)) throw new Error(`${op}: running statistics are required when training is false`);
  const m = x.size / C;
  if (training && m <= 1) throw new RangeError(`Expected more than 1 value per channel when training, got input size ${nd.fmtShape(x.shape)}`);
  // Before the running statistics are touched, and after the batch-size check (PyTorch's order): no promotion, a float64
  // input to a float32 layer is an error.
  for (const [name, t] of [['weight', weight], ['bias', bias], ['runningMean', runningMean], ['runningVar', runningVar]] as const) {
    if (t && t.dtype !== x.dtype) throw new TypeError(`${op}: expected ${name} of the input's dtype ${x.dtype}, got ${t.dtype} (convert the input, or the layer with .to({ dtype }))`);
  }
  return { training, momentum, eps, m };
}

/**
 * @internal weight * (x - mean) / sqrt(variance + eps) + bias per channel of
 * x [N, C, ...], with the batch's mean and biased variance [C] computed by
 * the caller, recorded as one op `name` whose backward is BatchNorm's (the
 * statistics depend on x): the fused kernel, or under `createGraph` the
 * composed formula.
 */
export function normalizeWithBatchStats(
  name: string, x: Tensor, mean: nd.NDArray, variance: nd.NDArray, weight: Tensor | null, bias: Tensor | null, eps: number,
): Tensor {
  const invstd = nd.rsqrt(nd.add(variance, eps));
  const [y, xhat] = nd.normalizeForward(x.data, mean, invstd, weight?.data ?? null, bias?.data ?? null);
  const view = [x.shape[0], x.shape[1], x.size / (x.shape[0] * x.shape[1])];
  const C = [1, x.shape[1], 1];
  const out = record(name, y, [x, weight, bias], (g) => {
    // Rules run with grad mode on only under createGraph (or inside jvp): then differentiate the composed form.
    if (isGradEnabled() || isForwardADActive()) {
      const [dx, dw, db] = composedNormalizeBackward(g.reshape(view), x.reshape(view), weight, eps);
      return [dx.reshape(x.shape), dw, bias ? db : null];
    }
    const [dx, dw, db] = nd.normalizeBackward(g.data, xhat, invstd, weight?.data ?? null);
    return [new Tensor(dx), weight ? new Tensor(dw) : null, bias ? new Tensor(db) : null];
  }, ([tx, tw, tb]) => {
    // d(w xhat + b) = w dxhat + dw xhat + db, per channel.
    const x3 = x.reshape(view);
    const [dxhat, xhatT] = normalizeTangent(tx?.reshape(view) ?? null, x3, eps, true);
    return sumTangents(
      dxhat && (weight ? dxhat.mul(weight.reshape(C)) : dxhat),
      tw ? xhatT.mul(tw.reshape(C)) : null,
      tb ? tb.reshape(C) : null,
    ).broadcastTo(view).reshape(x.shape);
  });
  // Without an affine map xhat is the output itself.
  return saveForBackward(out, { 'input 0': x, 'input 1': weight, [xhat.storage === y.storage ? 'output' : 'normalized input']: xhat });
}

/**
 * @internal running = (1 - momentum) * running + w * stat, on the device,
 * with w = momentum, or momentum * m / (m - 1) (the unbiased variance) when
 * `m` is given. A 0-D array momentum is rounded exactly as a number would be.
 */
export function updateRunning(running: Tensor, stat: nd.NDArray, momentum: number | nd.NDArray, m?: number): void {
  let keepW: number | nd.NDArray;
  let newW: number | nd.NDArray;
  if (typeof momentum === 'number') {
    keepW = 1 - momentum;
    newW = m === undefined ? momentum : (momentum * m) / (m - 1);
    if (stat.dtype === running.dtype) {
      running.data = nd.axpby(keepW, running.data, newW, stat);
      return;
    }
  } else {
    const mom = momentum.astype('float64');
    keepW = nd.sub(1, mom).astype(running.dtype);
    newW = (m === undefined ? mom : nd.div(nd.mul(mom, m), m - 1)).astype(stat.dtype);
  }
  running.data = nd.add(nd.mul(running.data, keepW), nd.mul(stat, newW)).astype(running.dtype);
}

/** Eval mode: a per-channel affine map with constants from the running statistics. */
function normalizeWithRunningStats(x: Tensor, runningMean: Tensor, runningVar: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number): Tensor {
  const shape = channelShape(x);
  const invstd = new Tensor(nd.rsqrt(nd.add(runningVar.data, eps)));
  let scale: Tensor = invstd;
  if (weight) scale = scale.mul(weight);
  let shift = scale.mul(runningMean.detach()).neg();
  if (bias) shift = shift.add(bias);
  return x.mul(scale.reshape(shape)).add(shift.reshape(shape));
}

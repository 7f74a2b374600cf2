import { Tensor } from '@normlab/autograd';
import { arange, eq, fmtShape, ge, logicalAnd, logicalNot, lt, ne, shapesEqual, sum as ndSum } from '@normlab/tensor';

export type Reduction = 'mean' | 'sum' | 'none';

function reduce(op: string, loss: Tensor, reduction: Reduction): Tensor {
  switch (reduction) {
    case 'mean':
      return loss.mean();
    case 'sum':
      return loss.sum();
    case 'none':
      return loss;
    default:
      throw new RangeError(`${op}: reduction must be 'mean', 'sum' or 'none', got '${String(reduction)}'`);
  }
}

/** Mean squared error between `input` and `target` of the same shape. */
export function mseLoss(input: Tensor, target: Tensor, options: { reduction?: Reduction } = {}): Tensor {
  if (!shapesEqual(input.shape, target.shape)) {
    throw new RangeError(`mseLoss: input ${fmtShape(input.shape)} and target ${fmtShape(target.shape)} must have the same shape`);
  }
  return reduce('mseLoss', input.sub(target).square(), options.reduction ?? 'mean');
}

export interface NllOptions {
  reduction?: Reduction;
  /** Targets equal to this are skipped (and left out of the mean); -100 by default. */
  ignoreIndex?: number;
}

/**
 * Negative log-likelihood of class indices: input [N, C] (or [N, C, d...])
 * holds log-probabilities, target [N] (or [N, d...]) int32 class indices.
 * `mean` divides by the number of targets not ignored, as in PyTorch.
 */
export function nllLoss(input: Tensor, target: Tensor, options: NllOptions = {}): Tensor {
  const ignoreIndex = options.ignoreIndex ?? -100;
  if (input.ndim < 2) throw new RangeError(`nllLoss: expected input [N, C, ...], got ${fmtShape(input.shape)}`);
  if (target.dtype !== 'int32') throw new TypeError(`nllLoss: target must hold int32 class indices, got ${target.dtype}`);
  const expected = [input.shape[0], ...input.shape.slice(2)];
  if (!shapesEqual(target.shape, expected)) {
    throw new RangeError(`nllLoss: target shape ${fmtShape(target.shape)} does not match input ${fmtShape(input.shape)} (expected ${fmtShape(expected)})`);
  }
  const classes = input.shape[1];
  const t = target.data;
  const valid = ne(t, ignoreIndex);
  const inRange = logicalAnd(ge(t, 0), lt(t, classes));
  if (ndSum(logicalAnd(valid, logicalNot(inRange))).item() > 0) {
    throw new RangeError(`nllLoss: target values must lie in [0, ${classes - 1}] or equal ignoreIndex ${ignoreIndex}`);
  }
  // A one-hot mask over the class dim picks -log p[target]; ignored targets match no class.
  const classShape = [1, classes, ...input.shape.slice(2).map(() => 1)];
  const mask = eq(arange(classes, undefined, 1, { dtype: 'int32', device: input.device }).reshape(classShape), t.unsqueeze(1));
  const picked = input.mul(new Tensor(mask.astype(input.dtype))).sum(1).neg();
  const reduction = options.reduction ?? 'mean';
  if (reduction === 'mean') return picked.sum().div(ndSum(valid).item());
  return reduce('nllLoss', picked, reduction);
}

export interface CrossEntropyOptions extends NllOptions {
  /** Mixes the one-hot target with the uniform distribution (0 by default). */
  labelSmoothing?: number;
}

/**
 * Softmax cross-entropy from unnormalized scores: input [N, C] (or
 * [N, C, d...]) logits, target int32 class indices. Computed through
 * logSoftmax, so large logits do not overflow.
 */
export function crossEntropy(input: Tensor, target: Tensor, options: CrossEntropyOptions = {}): Tensor {
  const smoothing = options.labelSmoothing ?? 0;
  if (!(smoothing >= 0 && smoothing <= 1)) throw new RangeError(`crossEntropy: labelSmoothing must be in [0, 1], got ${smoothing}`);
  if (input.ndim < 2) throw new RangeError(`crossEntropy: expected input [N, C, ...], got ${fmtShape(input.shape)}`);
  const logp = input.logSoftmax(1);
  const nll = nllLoss(logp, target, options);
  if (smoothing === 0) return nll;
  // PyTorch: (1 - s) * nll + s * mean over classes of -log p, over the targets not ignored.
  const valid = new Tensor(ne(target.data, options.ignoreIndex ?? -100).astype(input.dtype));
  const uniform = logp.mean(1).neg().mul(valid);
  const reduction = options.reduction ?? 'mean';
  const smooth = reduction === 'mean' ? uniform.sum().div(ndSum(valid.data).item()) : reduce('crossEntropy', uniform, reduction);
  return nll.mul(1 - smoothing).add(smooth.mul(smoothing));
}

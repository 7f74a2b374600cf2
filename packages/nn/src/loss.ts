import { Tensor, where } from '@normlab/autograd';
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
  if (input.ndim < 1) throw new RangeError(`nllLoss: expected input [N, C, ...] or [C], got ${fmtShape(input.shape)}`);
  if (target.dtype !== 'int32') throw new TypeError(`nllLoss: target must hold int32 class indices, got ${target.dtype}`);
  if (input.ndim === 1) return unbatched('nllLoss', input, target, options.reduction, (i, t) => nllLoss(i, t, options));
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
  // A one-hot mask over the class dim picks -log p[target]; ignored targets match no class
  // (ignoreIndex may itself be a class index, so they are masked out explicitly).
  const classShape = [1, classes, ...input.shape.slice(2).map(() => 1)];
  const oneHot = eq(arange(classes, undefined, 1, { dtype: 'int32', device: input.device }).reshape(classShape), t.unsqueeze(1));
  const mask = logicalAnd(oneHot, valid.unsqueeze(1));
  // `where`, not a product with the mask: -inf log-probabilities of other classes must not give NaN.
  const picked = where(new Tensor(mask), input, 0).sum(1).neg();
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
  if (input.ndim < 1) throw new RangeError(`crossEntropy: expected input [N, C, ...] or [C], got ${fmtShape(input.shape)}`);
  if (input.ndim === 1) {
    if (target.dtype !== 'int32') throw new TypeError(`crossEntropy: target must hold int32 class indices, got ${target.dtype}`);
    return unbatched('crossEntropy', input, target, options.reduction, (i, t) => crossEntropy(i, t, options));
  }
  const logp = input.logSoftmax(1);
  const nll = nllLoss(logp, target, options);
  if (smoothing === 0) return nll;
  // PyTorch: (1 - s) * nll + s * mean over classes of -log p, over the targets not ignored.
  const valid = ne(target.data, options.ignoreIndex ?? -100);
  const uniform = where(new Tensor(valid), logp.mean(1).neg(), 0);
  const reduction = options.reduction ?? 'mean';
  const smooth = reduction === 'mean' ? uniform.sum().div(ndSum(valid).item()) : reduce('crossEntropy', uniform, reduction);
  return nll.mul(1 - smoothing).add(smooth.mul(smoothing));
}

/** An unbatched input [C] with a 0-d target, as a batch of one (torch accepts both). */
function unbatched(op: string, input: Tensor, target: Tensor, reduction: Reduction | undefined, batched: (i: Tensor, t: Tensor) => Tensor): Tensor {
  if (target.ndim !== 0) throw new RangeError(`${op}: an unbatched input ${fmtShape(input.shape)} needs a 0-d target, got ${fmtShape(target.shape)}`);
  const out = batched(input.unsqueeze(0), new Tensor(target.data.reshape([1])));
  return (reduction ?? 'mean') === 'none' ? out.reshape([]) : out;
}

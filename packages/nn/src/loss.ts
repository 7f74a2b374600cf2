import { Tensor, gather, where } from '@normlab/autograd';
import { type NDArray, arange, broadcastShapes, eq, fmtShape, isFloat, logicalAnd, ne, shapesEqual, sum as ndSum, where as ndWhere } from '@normlab/tensor';
import { Module } from './module.js';

/** How a loss reduces its per-element values: 'mean' (the default), 'sum', or 'none' (unreduced). */
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

/**
 * Mean squared error between `input` and `target` of the same shape.
 *
 * @example mseLoss(pred, y) // mean of (pred - y)^2
 */
export function mseLoss(input: Tensor, target: Tensor, options: { reduction?: Reduction } = {}): Tensor {
  if (!shapesEqual(input.shape, target.shape)) {
    throw new RangeError(`mseLoss: input ${fmtShape(input.shape)} and target ${fmtShape(target.shape)} must have the same shape`);
  }
  return reduce('mseLoss', input.sub(target).square(), options.reduction ?? 'mean');
}

/** Options of `nllLoss` and `NLLLoss`. */
export interface NllOptions {
  reduction?: Reduction;
  /** Targets equal to this are skipped (and left out of the mean); -100 by default. */
  ignoreIndex?: number;
  /**
   * A rescaling weight per class, [C] (none by default). Each element's loss
   * is multiplied by weight[target], and `mean` divides by the sum of the
   * weights of the targets not ignored, as in PyTorch. Not differentiated.
   */
  weight?: Tensor | null;
}

/** The class weights [C] as an array of the input's dtype and device, or null. */
function classWeight(op: string, weight: Tensor | null | undefined, classes: number, input: Tensor): NDArray | null {
  if (weight === undefined || weight === null) return null;
  if (!(weight instanceof Tensor)) throw new TypeError(`${op}: weight must be a Tensor, got ${typeof weight}`);
  if (weight.ndim !== 1 || weight.shape[0] !== classes) {
    throw new RangeError(`${op}: weight should be defined for all ${classes} classes, got shape ${fmtShape(weight.shape)}`);
  }
  if (!isFloat(weight.dtype)) throw new TypeError(`${op}: weight must be floating point, got ${weight.dtype}`);
  return weight.data.astype(input.dtype).to(input.device);
}

/** [1, C, 1, ...]: a per-class array broadcast over an input [N, C, d...]. */
const classShape = (input: Tensor): number[] => input.shape.map((d, i) => (i === 1 ? d : 1));

/**
 * The target as a one-hot mask over the class dim, false for ignored targets,
 * and the per-element weight (weight[target], 0 where ignored; 1/0 without weights).
 */
function targetMask(input: Tensor, target: Tensor, ignoreIndex: number, weight: NDArray | null): { mask: NDArray; valid: NDArray; perElement: NDArray } {
  const classes = input.shape[1];
  const t = target.data;
  const valid = ne(t, ignoreIndex);
  // Ignored targets match no class (ignoreIndex may itself be a class index, so they are masked out explicitly).
  const oneHot = eq(arange(classes, undefined, 1, { dtype: 'int32', device: input.device }).reshape(classShape(input)), t.unsqueeze(1));
  const mask = logicalAnd(oneHot, valid.unsqueeze(1));
  const perElement = weight ? ndSum(ndWhere(mask, weight.reshape(classShape(input)), 0), 1) : valid.astype(input.dtype);
  return { mask, valid, perElement };
}

/**
 * The divisor of a `mean` reduction: the count of targets not ignored (or the
 * sum of their weights) as a 0-D constant on the input's device, so that the
 * loss never reads back to the host. The sum is exact in float64 and rounded
 * once, as a number divisor would be.
 */
function denominator(perElement: NDArray, input: Tensor): Tensor {
  return new Tensor(ndSum(perElement.astype('float64')).astype(input.dtype));
}

/**
 * Negative log-likelihood of class indices: input [N, C] (or [N, C, d...])
 * holds log-probabilities, target [N] (or [N, d...]) int32 class indices.
 * Per element -weight[t] * input[n, t]; `mean` divides by the number of
 * targets not ignored (by the sum of their weights with `weight`), as PyTorch.
 *
 * @example nllLoss(x.logSoftmax(1), tensor([0, 2], { dtype: 'int32' }), { weight: tensor([1, 2, 0.5]) })
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
  const weight = classWeight('nllLoss', options.weight, classes, input);
  const t = target.data;
  if (target.device !== input.device) throw new Error(`nllLoss: tensors are on different devices: ${input.device} (input) and ${target.device} (target)`);
  // Checking the targets reads them: on the host only. On a device an out-of-range
  // target matches no class (a zero loss term), where PyTorch's CUDA kernels assert.
  if (t.device === 'cpu') {
    let ignored = false;
    for (const v of t.toTypedArray()) {
      if (v === ignoreIndex) ignored = true;
      else if (!(v >= 0 && v < classes)) throw new RangeError(`nllLoss: target values must lie in [0, ${classes - 1}] or equal ignoreIndex ${ignoreIndex}`);
    }
    // The common case, every target a class and no weights: each element's term is the input at its target, one gather.
    if (!ignored && !weight) {
      const picked = gather(input, 1, new Tensor(t.unsqueeze(1))).squeeze(1).neg();
      const reduction = options.reduction ?? 'mean';
      return reduction === 'mean' ? picked.sum().div(t.size) : reduce('nllLoss', picked, reduction);
    }
  }
  const { mask, valid, perElement } = targetMask(input, target, ignoreIndex, weight);
  // `where`, not a product with the mask: -inf log-probabilities of other classes must not give NaN.
  let picked = where(new Tensor(mask), input, 0).sum(1).neg();
  if (weight) picked = picked.mul(new Tensor(perElement));
  const reduction = options.reduction ?? 'mean';
  if (reduction === 'mean') return picked.sum().div(denominator(weight ? perElement : valid, input));
  return reduce('nllLoss', picked, reduction);
}

/** Options of `crossEntropy` and `CrossEntropyLoss`. */
export interface CrossEntropyOptions extends NllOptions {
  /** Mixes the target with the uniform distribution over the C classes (0 by default). */
  labelSmoothing?: number;
}

/**
 * Softmax cross-entropy from unnormalized scores (torch.nn.functional.cross_entropy):
 * input [N, C] (or [N, C, d...], or unbatched [C]) logits; target either
 * int32 class indices [N] (or [N, d...], or 0-d) or class probabilities of
 * the input's shape and a float dtype. Computed through logSoftmax, so large
 * logits do not overflow.
 *
 * - indices: `weight`, `ignoreIndex` and `labelSmoothing` as nllLoss; with
 *   smoothing s, (1 - s) * nll + s / C * sum_c -weight[c] log p_c, whose mean
 *   divides by the same weight sum as the nll term.
 * - probabilities: per element -sum_c weight[c] q_c log p_c with
 *   q = (1 - s) target + s / C; `mean` divides by the number of elements
 *   (N * d...), weighted or not; `ignoreIndex` is not supported.
 *
 * @example crossEntropy(logits, tensor([1, 0], { dtype: 'int32' }), { labelSmoothing: 0.1 })
 */
export function crossEntropy(input: Tensor, target: Tensor, options: CrossEntropyOptions = {}): Tensor {
  const smoothing = options.labelSmoothing ?? 0;
  if (!(smoothing >= 0 && smoothing <= 1)) throw new RangeError(`crossEntropy: labelSmoothing must be in [0, 1], got ${smoothing}`);
  if (input.ndim < 1) throw new RangeError(`crossEntropy: expected input [N, C, ...] or [C], got ${fmtShape(input.shape)}`);
  // As PyTorch: a target of the input's shape holds probabilities, any other class indices.
  if (shapesEqual(input.shape, target.shape) && isFloat(target.dtype)) return crossEntropyProbabilities(input, target, options, smoothing);
  if (target.dtype !== 'int32') {
    throw new TypeError(`crossEntropy: target must hold int32 class indices, or float probabilities of the input's shape ${fmtShape(input.shape)}; got ${target.dtype} ${fmtShape(target.shape)}`);
  }
  if (input.ndim === 1) {
    return unbatched('crossEntropy', input, target, options.reduction, (i, t) => crossEntropy(i, t, options));
  }
  const logp = input.logSoftmax(1);
  const nll = nllLoss(logp, target, options);
  if (smoothing === 0) return nll;
  const classes = input.shape[1];
  const weight = classWeight('crossEntropy', options.weight, classes, input);
  const { valid, perElement } = targetMask(input, target, options.ignoreIndex ?? -100, weight);
  const weighted = weight ? logp.mul(new Tensor(weight.reshape(classShape(input)))) : logp;
  const uniform = where(new Tensor(valid), weighted.sum(1).neg(), 0);
  const reduction = options.reduction ?? 'mean';
  // The mean divides by the same count (or weight sum) as the nll term, as PyTorch.
  const smooth = reduction === 'mean' ? uniform.sum().div(denominator(weight ? perElement : valid, input)) : reduce('crossEntropy', uniform, reduction);
  return nll.mul(1 - smoothing).add(smooth.mul(smoothing / classes));
}

/** PyTorch's cross_entropy_loss_prob_target: target holds class probabilities of the input's shape. */
function crossEntropyProbabilities(input: Tensor, target: Tensor, options: CrossEntropyOptions, smoothing: number): Tensor {
  if ((options.ignoreIndex ?? -100) >= 0) throw new RangeError('crossEntropy: ignoreIndex is not supported for probability targets');
  const classDim = input.ndim === 1 ? 0 : 1;
  const classes = input.shape[classDim];
  const weight = classWeight('crossEntropy', options.weight, classes, input);
  const logp = input.logSoftmax(classDim);
  const q = smoothing > 0 ? target.mul(1 - smoothing).add(smoothing / classes) : target;
  let prod = logp.mul(q);
  if (weight) prod = prod.mul(new Tensor(weight.reshape(input.shape.map((d, i) => (i === classDim ? d : 1)))));
  const reduction = options.reduction ?? 'mean';
  switch (reduction) {
    case 'mean':
      // Over the N * d... elements whatever the weights (0 / 0 = NaN for an empty batch, as PyTorch).
      return prod.sum().neg().div(input.size / classes);
    case 'sum':
      return prod.sum().neg();
    case 'none':
      return prod.sum(classDim).neg();
    default:
      return reduce('crossEntropy', prod, reduction);
  }
}

/** An unbatched input [C] with a 0-d target, as a batch of one (torch accepts both). */
function unbatched(op: string, input: Tensor, target: Tensor, reduction: Reduction | undefined, batched: (i: Tensor, t: Tensor) => Tensor): Tensor {
  if (target.ndim !== 0) throw new RangeError(`${op}: an unbatched input ${fmtShape(input.shape)} needs a 0-d target, got ${fmtShape(target.shape)}`);
  const out = batched(input.unsqueeze(0), new Tensor(target.data.reshape([1])));
  return (reduction ?? 'mean') === 'none' ? out.reshape([]) : out;
}

/**
 * Mean absolute error between `input` and `target` of the same shape
 * (torch.nn.functional.l1_loss); the gradient at input = target is 0.
 *
 * @example l1Loss(pred, y, { reduction: 'sum' })
 */
export function l1Loss(input: Tensor, target: Tensor, options: { reduction?: Reduction } = {}): Tensor {
  if (!shapesEqual(input.shape, target.shape)) {
    throw new RangeError(`l1Loss: input ${fmtShape(input.shape)} and target ${fmtShape(target.shape)} must have the same shape`);
  }
  return reduce('l1Loss', input.sub(target).abs(), options.reduction ?? 'mean');
}

/** Options of `binaryCrossEntropyWithLogits` and `BCEWithLogitsLoss`. */
export interface BceWithLogitsOptions {
  /** Multiplies each element's loss; broadcast to the input's shape (none by default). */
  weight?: Tensor | null;
  /**
   * Weight of the positive term, broadcast to the input's shape, typically
   * [C] for the last dim: pos_weight > 1 raises recall (none by default).
   */
  posWeight?: Tensor | null;
  reduction?: Reduction;
}

function checkBroadcastWeight(op: string, name: string, w: Tensor | null | undefined, shape: readonly number[]): Tensor | null {
  if (w === undefined || w === null) return null;
  if (!(w instanceof Tensor)) throw new TypeError(`${op}: ${name} must be a Tensor, got ${typeof w}`);
  const b = broadcastShapes(op, w.shape, shape);
  if (!shapesEqual(b, shape)) throw new RangeError(`${op}: ${name} ${fmtShape(w.shape)} does not broadcast to the input's shape ${fmtShape(shape)}`);
  return w;
}

/**
 * Binary cross-entropy on logits (torch.nn.functional.binary_cross_entropy_with_logits):
 * input x and target y in [0, 1] of the same shape; per element
 * w * ((1 - y) x + (1 + (posWeight - 1) y) * softplus(-x)), which without
 * posWeight is max(x, 0) - x y + log(1 + exp(-|x|)). Written so that logits
 * of any size stay finite (no exp of a positive number).
 *
 * @example binaryCrossEntropyWithLogits(logits, labels, { posWeight: tensor([3]) })
 */
export function binaryCrossEntropyWithLogits(input: Tensor, target: Tensor, options: BceWithLogitsOptions = {}): Tensor {
  const op = 'binaryCrossEntropyWithLogits';
  if (!shapesEqual(input.shape, target.shape)) {
    throw new RangeError(`${op}: target size ${fmtShape(target.shape)} must be the same as input size ${fmtShape(input.shape)}`);
  }
  if (!isFloat(input.dtype) || !isFloat(target.dtype)) throw new TypeError(`${op}: input and target must be floating point, got ${input.dtype} and ${target.dtype}`);
  const weight = checkBroadcastWeight(op, 'weight', options.weight, input.shape);
  const posWeight = checkBroadcastWeight(op, 'posWeight', options.posWeight, input.shape);
  // softplus(-x) = -log sigmoid(x) = max(-x, 0) + log1p(exp(-|x|)): exp only of non-positive numbers.
  const softplusNeg = input.neg().maximum(0).add(input.abs().neg().exp().log1p());
  const positive = posWeight ? softplusNeg.mul(posWeight.sub(1).mul(target).add(1)) : softplusNeg;
  let loss = target.neg().add(1).mul(input).add(positive);
  if (weight) loss = loss.mul(weight);
  return reduce(op, loss, options.reduction ?? 'mean');
}

// ---- module forms -------------------------------------------------------------

const REDUCTIONS: readonly string[] = ['mean', 'sum', 'none'];

function checkReduction(op: string, reduction: Reduction | undefined): Reduction {
  const r = reduction ?? 'mean';
  if (!REDUCTIONS.includes(r)) throw new RangeError(`${op}: reduction must be 'mean', 'sum' or 'none', got '${String(r)}'`);
  return r;
}

function checkClassWeight(op: string, weight: Tensor | null | undefined): Tensor | null {
  if (weight === undefined || weight === null) return null;
  if (!(weight instanceof Tensor) || weight.ndim !== 1) throw new RangeError(`${op}: weight must be a 1-D Tensor [C]`);
  return weight;
}

/**
 * `mseLoss` as a module: forward(input, target) with the reduction it holds.
 *
 * @example new MSELoss({ reduction: 'sum' }).forward(pred, y)
 */
export class MSELoss extends Module {
  readonly reduction: Reduction;
  constructor(options: { reduction?: Reduction } = {}) {
    super();
    this.reduction = checkReduction('MSELoss', options.reduction);
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return mseLoss(input, target, { reduction: this.reduction });
  }
}

/**
 * `l1Loss` as a module.
 *
 * @example new L1Loss().forward(pred, y)
 */
export class L1Loss extends Module {
  readonly reduction: Reduction;
  constructor(options: { reduction?: Reduction } = {}) {
    super();
    this.reduction = checkReduction('L1Loss', options.reduction);
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return l1Loss(input, target, { reduction: this.reduction });
  }
}

/**
 * `nllLoss` as a module; the class weight is a buffer (in stateDict when set,
 * moved by `to()`), as PyTorch's.
 *
 * @example new NLLLoss({ ignoreIndex: 0 }).forward(logProbs, target)
 */
export class NLLLoss extends Module {
  declare readonly weight: Tensor | null;
  readonly ignoreIndex: number;
  readonly reduction: Reduction;
  constructor(options: NllOptions = {}) {
    super();
    this.registerBuffer('weight', checkClassWeight('NLLLoss', options.weight));
    this.ignoreIndex = options.ignoreIndex ?? -100;
    this.reduction = checkReduction('NLLLoss', options.reduction);
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return nllLoss(input, target, { weight: this.weight, ignoreIndex: this.ignoreIndex, reduction: this.reduction });
  }
}

/**
 * `crossEntropy` as a module; the class weight is a buffer, as PyTorch's.
 *
 * @example new CrossEntropyLoss({ labelSmoothing: 0.1 }).forward(logits, target)
 */
export class CrossEntropyLoss extends Module {
  declare readonly weight: Tensor | null;
  readonly ignoreIndex: number;
  readonly reduction: Reduction;
  readonly labelSmoothing: number;
  constructor(options: CrossEntropyOptions = {}) {
    super();
    const s = options.labelSmoothing ?? 0;
    if (!(s >= 0 && s <= 1)) throw new RangeError(`CrossEntropyLoss: labelSmoothing must be in [0, 1], got ${s}`);
    this.registerBuffer('weight', checkClassWeight('CrossEntropyLoss', options.weight));
    this.ignoreIndex = options.ignoreIndex ?? -100;
    this.reduction = checkReduction('CrossEntropyLoss', options.reduction);
    this.labelSmoothing = s;
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return crossEntropy(input, target, { weight: this.weight, ignoreIndex: this.ignoreIndex, reduction: this.reduction, labelSmoothing: this.labelSmoothing });
  }
}

/**
 * `binaryCrossEntropyWithLogits` as a module; weight and posWeight are buffers.
 *
 * @example new BCEWithLogitsLoss({ posWeight: tensor([2]) }).forward(logits, labels)
 */
export class BCEWithLogitsLoss extends Module {
  declare readonly weight: Tensor | null;
  declare readonly posWeight: Tensor | null;
  readonly reduction: Reduction;
  constructor(options: BceWithLogitsOptions = {}) {
    super();
    this.registerBuffer('weight', options.weight ?? null);
    this.registerBuffer('posWeight', options.posWeight ?? null);
    this.reduction = checkReduction('BCEWithLogitsLoss', options.reduction);
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return binaryCrossEntropyWithLogits(input, target, { weight: this.weight, posWeight: this.posWeight, reduction: this.reduction });
  }
}

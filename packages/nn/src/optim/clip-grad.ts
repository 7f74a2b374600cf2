import { Tensor, noGrad } from '@normlab/autograd';

export interface ClipGradNormOptions {
  /** The order of the norm: a positive number, or Infinity for the max-norm. */
  normType?: number;
  /** Throw when the total norm is NaN or infinite (instead of scaling by it). */
  errorIfNonfinite?: boolean;
}

function gradsOf(parameters: Tensor | Iterable<Tensor>): Tensor[] {
  const list = parameters instanceof Tensor ? [parameters] : [...parameters];
  return list.flatMap((p) => (p.grad ? [p.grad] : []));
}

/** The p-norm (or max-norm for p = Infinity) of a list of numbers, in float64. */
function vectorNorm(xs: Iterable<number>, p: number): number {
  let acc = 0;
  if (p === Infinity) {
    for (const x of xs) {
      const a = Math.abs(x);
      // Math.max keeps NaN, as torch's max does.
      acc = Number.isNaN(a) ? NaN : Math.max(acc, a);
      if (Number.isNaN(acc)) return NaN;
    }
    return acc;
  }
  if (p === 2) {
    for (const x of xs) acc += x * x;
    return Math.sqrt(acc);
  }
  for (const x of xs) acc += Math.abs(x) ** p;
  return acc ** (1 / p);
}

/**
 * Scales the gradients of `parameters` in place so that their total norm
 * (the norm of the vector of all gradients together) is at most `maxNorm`,
 * as torch.nn.utils.clip_grad_norm_; returns the total norm before
 * clipping (0 when no parameter has a gradient):
 *
 *     total = norm([norm(g_1), ..., norm(g_n)])      (p-norm, or max |g| for Infinity)
 *     coef = min(maxNorm / (total + 1e-6), 1)
 *     g_i = g_i * coef                               (for every gradient)
 *
 * So gradients are only shrunk, when total > maxNorm - 1e-6 (the 1e-6
 * keeps the division finite); a NaN or infinite total makes them NaN / 0
 * unless `errorIfNonfinite`, which throws instead. The norm is accumulated
 * in float64. Each gradient tensor keeps its identity; its data is replaced.
 */
export function clipGradNorm(parameters: Tensor | Iterable<Tensor>, maxNorm: number, options: ClipGradNormOptions = {}): number {
  const normType = options.normType ?? 2;
  if (!(normType > 0)) throw new RangeError(`clipGradNorm: normType must be positive or Infinity, got ${normType}`);
  const grads = gradsOf(parameters);
  if (grads.length === 0) return 0;
  const norms = grads.map((g) => vectorNorm(Array.from(g.toTypedArray(), Number), normType));
  const total = vectorNorm(norms, normType);
  if ((options.errorIfNonfinite ?? false) && !Number.isFinite(total)) {
    throw new RangeError(
      `clipGradNorm: the total norm of order ${normType} for gradients from \`parameters\` is non-finite, so it cannot be clipped. `
      + 'To disable this error and scale the gradients by the non-finite norm anyway, set errorIfNonfinite to false',
    );
  }
  // torch clamps the coefficient at 1 and multiplies always; multiplying by 1 changes nothing, so skip it.
  const coef = Math.min(maxNorm / (total + 1e-6), 1);
  if (coef !== 1) {
    noGrad(() => {
      for (const g of grads) g.data = g.mul(coef).data;
    });
  }
  return total;
}

/**
 * Clamps every gradient of `parameters` to [-clipValue, clipValue] in place
 * (torch.nn.utils.clip_grad_value_): g = clamp(g, -clipValue, clipValue).
 */
export function clipGradValue(parameters: Tensor | Iterable<Tensor>, clipValue: number): void {
  noGrad(() => {
    for (const g of gradsOf(parameters)) g.data = g.clamp(-clipValue, clipValue).data;
  });
}

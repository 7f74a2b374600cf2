import { Tensor, noGrad } from '@normlab/autograd';
import { type NDArray, abs, add, amax, cat, div, minimum, mul, pow, sqrt, sum, zeros } from '@normlab/tensor';

/** Options of `clipGradNorm`. */
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

/**
 * The p-norm (or max-norm for p = Infinity) of all the elements of `x`, in
 * float64, on x's device: a 0-D float64 array.
 */
function vectorNorm(x: NDArray, p: number): NDArray {
  const a = abs(x.astype('float64'));
  // amax keeps NaN, as torch's max does; the max of no elements is 0 here.
  if (p === Infinity) return a.size === 0 ? zeros([], { dtype: 'float64', device: x.device }) : amax(a);
  if (p === 2) return sqrt(sum(mul(a, a)));
  return pow(sum(pow(a, p)), 1 / p);
}

/**
 * Scales the gradients of `parameters` in place so that their total norm
 * (the norm of the vector of all gradients together) is at most `maxNorm`,
 * as torch.nn.utils.clip_grad_norm_; returns the total norm before
 * clipping, a 0-D float64 tensor on the gradients' device (0 on the cpu
 * when no parameter has a gradient), as PyTorch keeps it on the device:
 *
 *     total = norm([norm(g_1), ..., norm(g_n)])      (p-norm, or max |g| for Infinity)
 *     coef = min(maxNorm / (total + 1e-6), 1)
 *     g_i = g_i * coef                               (for every gradient)
 *
 * So gradients are only shrunk, when total > maxNorm - 1e-6 (the 1e-6
 * keeps the division finite); a NaN or infinite total makes them NaN / 0
 * unless `errorIfNonfinite`, which throws instead (and so reads the total
 * back to the host). The norm is accumulated in float64 and computed on the
 * device, so nothing is read back otherwise. Each gradient tensor keeps its
 * identity; its data is replaced.
 */
export function clipGradNorm(parameters: Tensor | Iterable<Tensor>, maxNorm: number, options: ClipGradNormOptions = {}): Tensor {
  const normType = options.normType ?? 2;
  if (!(normType > 0)) throw new RangeError(`clipGradNorm: normType must be positive or Infinity, got ${normType}`);
  const grads = gradsOf(parameters);
  if (grads.length === 0) return new Tensor(zeros([], { dtype: 'float64' }));
  const device = grads[0].device;
  grads.forEach((g, i) => {
    if (g.device !== device) throw new Error(`clipGradNorm: gradients are on different devices: ${device} (gradient 0) and ${g.device} (gradient ${i})`);
  });
  const norms = grads.map((g) => vectorNorm(g.data, normType).reshape([1]));
  const total = vectorNorm(norms.length === 1 ? norms[0] : cat(norms), normType);
  if ((options.errorIfNonfinite ?? false) && !Number.isFinite(total.item())) {
    throw new RangeError(
      `clipGradNorm: the total norm of order ${normType} for gradients from \`parameters\` is non-finite, so it cannot be clipped. `
      + 'To disable this error and scale the gradients by the non-finite norm anyway, set errorIfNonfinite to false',
    );
  }
  // coef = min(maxNorm / (total + 1e-6), 1), in float64; torch multiplies always (by 1 when not clipping).
  const coef = minimum(div(maxNorm, add(total, 1e-6)), 1);
  noGrad(() => {
    for (const g of grads) g.data = mul(g.data, coef.astype(g.dtype));
  });
  return new Tensor(total);
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

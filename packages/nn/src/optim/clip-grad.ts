import { Tensor, noGrad } from '@normlab/autograd';
import { type NDArray, abs, add, amax, cat, div, lt, maximum, minimum, mul, pow, sqrt, sum, where, zeros } from '@normlab/tensor';

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

/** Options of `clipGradAdaptive`. */
export interface ClipGradAdaptiveOptions {
  /** lambda: a unit's gradient norm may be at most clipFactor times its weight norm; 0.01 by default. */
  clipFactor?: number;
  /** The smallest weight norm a unit counts with, so that units at 0 (a zero-initialized bias) can still move; 1e-3 by default. */
  eps?: number;
}

/**
 * The norms of `x` per unit, shaped to broadcast against it: per row of a
 * matrix (an output unit of Linear), per output channel of a conv weight
 * (over dims 1, ...), and over the whole tensor for a vector or a scalar.
 */
function unitwiseNorm(x: NDArray): NDArray {
  const dims = x.ndim <= 1 ? undefined : Array.from({ length: x.ndim - 1 }, (_, i) => i + 1);
  return sqrt(sum(mul(x, x), dims, { keepdim: true }));
}

/**
 * Adaptive gradient clipping (Brock, De, Smith & Simonyan 2021, "High-
 * Performance Large-Scale Image Recognition Without Normalization", NFNets):
 * per unit i of each parameter W (a row of a Linear weight, an output
 * channel of a conv weight, a whole bias vector), in place,
 *
 *     g_i = g_i * lambda * max(||W_i||, eps) / ||g_i||   when ||g_i|| / max(||W_i||, eps) > lambda
 *
 * with lambda = clipFactor and Frobenius norms; other units keep their
 * gradient. This is what lets NFNets train at large batch sizes without
 * BatchNorm. The paper does not clip the final classifier layer: leave its
 * parameters out of `parameters`. Norms are taken in the gradient's dtype
 * on its device (nothing is read back); ||g_i|| counts as at least 1e-6 in
 * the division, as in timm's `adaptive_clip_grad`.
 */
export function clipGradAdaptive(parameters: Tensor | Iterable<Tensor>, options: ClipGradAdaptiveOptions = {}): void {
  const clipFactor = options.clipFactor ?? 0.01;
  const eps = options.eps ?? 1e-3;
  if (!(clipFactor > 0) || !Number.isFinite(clipFactor)) throw new RangeError(`clipGradAdaptive: clipFactor must be a positive number, got ${clipFactor}`);
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new RangeError(`clipGradAdaptive: eps must be a non-negative number, got ${eps}`);
  const list = parameters instanceof Tensor ? [parameters] : [...parameters];
  noGrad(() => {
    for (const p of list) {
      const g = p.grad;
      if (!g) continue;
      const maxNorm = mul(maximum(unitwiseNorm(p.data), eps), clipFactor);
      const gradNorm = unitwiseNorm(g.data);
      const clipped = mul(g.data, div(maxNorm, maximum(gradNorm, 1e-6)));
      g.data = where(lt(gradNorm, maxNorm), g.data, clipped);
    }
  });
}

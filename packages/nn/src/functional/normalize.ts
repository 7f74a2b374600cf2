/**
 * The normalization every layer here shares. Each norm is the same map over
 * a view of its input as [A, G, B]: per group g, the mean and the biased
 * variance over A and B, and
 *
 *     xhat = (x - mean) / sqrt(var + eps)
 *
 * BatchNorm is [N, C, H*W] (G = C); LayerNorm [1, rows, features];
 * GroupNorm [1, N * groups, rest]; InstanceNorm [1, N * C, H*W]; weight
 * standardization [1, out, in * kH * kW]. The backend's BatchNorm kernels
 * compute exactly this on [N, C, S] (float64 statistics by two passes, a
 * fused backward), so every layer gets them through `normalizeGroups`.
 * The affine maps differ (per G, per B, per channel) and stay with the layers.
 */
import { Tensor, isForwardADActive, isGradEnabled, record, saveForBackward, sumTangents } from '@normlab/autograd';
import * as nd from '@normlab/tensor';

/** A number or an options object: `eps` may be passed positionally, as PyTorch's `F.layer_norm`. */
export type EpsArg = number | { eps?: number };

/** @internal The eps of a positional-or-options argument, checked positive. */
export function epsOf(op: string, arg: EpsArg | undefined): number {
  const eps = typeof arg === 'number' ? arg : arg?.eps ?? 1e-5;
  if (!(eps > 0)) throw new RangeError(`${op}: eps must be positive, got ${eps}`);
  return eps;
}

/** @internal A normalized shape given as one integer or a list, checked. */
export function normalizedShapeOf(op: string, normalizedShape: number | readonly number[]): number[] {
  const shape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
  if (shape.length === 0) throw new RangeError(`${op}: normalizedShape must have at least one dim, got []`);
  if (!shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new RangeError(`${op}: normalizedShape must hold positive integers, got ${nd.fmtShape(shape)}`);
  }
  return shape;
}

/**
 * @internal Checks that x ends with the dims `shape` (LayerNorm's and
 * RMSNorm's normalizedShape) and that the optional affine tensors have that shape.
 */
export function checkNormalizedInput(op: string, x: Tensor, shape: readonly number[], affine: readonly (readonly [string, Tensor | null])[]): void {
  const k = shape.length;
  if (x.ndim < k || !nd.shapesEqual(x.shape.slice(x.ndim - k), shape)) {
    throw new RangeError(`${op}: given normalizedShape=${nd.fmtShape(shape)}, expected input with shape [*, ${shape.join(', ')}], but got input of shape ${nd.fmtShape(x.shape)}`);
  }
  for (const [name, t] of affine) {
    if (t && !nd.shapesEqual(t.shape, shape)) {
      throw new RangeError(`${op}: expected ${name} of shape ${nd.fmtShape(shape)} (normalizedShape), got ${nd.fmtShape(t.shape)}`);
    }
  }
}

/** @internal [1, C, 1, ...]: a per-channel vector shaped to broadcast against x [N, C, ...]. */
export function channelShape(x: Tensor): number[] {
  return x.shape.map((d, i) => (i === 1 ? d : 1));
}

/** @internal y * weight + bias with per-channel [C] weight and bias (either may be null). */
export function channelAffine(y: Tensor, weight: Tensor | null, bias: Tensor | null): Tensor {
  const shape = channelShape(y);
  let out = y;
  if (weight) out = out.mul(weight.reshape(shape));
  if (bias) out = out.add(bias.reshape(shape));
  return out;
}

/** @internal Checks optional per-channel tensors against C. */
export function checkChannelVectors(op: string, x: Tensor, tensors: readonly (readonly [string, Tensor | null])[]): void {
  const C = x.shape[1];
  for (const [name, t] of tensors) {
    if (t && (t.ndim !== 1 || t.shape[0] !== C)) {
      throw new RangeError(`${op}: expected ${name} of shape [${C}] for input ${nd.fmtShape(x.shape)}, got ${nd.fmtShape(t.shape)}`);
    }
  }
}

/**
 * @internal xhat of x viewed as `view` = [A, G, B] (statistics per G over A
 * and B), in x's shape, recorded as one op named `name`. Forward and backward
 * run the fused kernels; under `createGraph` the backward is the same
 * formula in differentiable ops, so derivatives of every order work.
 */
export function normalizeGroups(name: string, x: Tensor, view: readonly [number, number, number], eps: number): Tensor {
  // An empty input: an empty output, still in the graph (the kernels reject empty groups).
  if (x.size === 0) return x.mul(0);
  const x3 = x.data.reshape([...view]);
  const [mean, variance] = nd.normalizeMoments(x3);
  const invstd = nd.rsqrt(nd.add(variance, eps));
  const [, xhat] = nd.normalizeForward(x3, mean, invstd);
  const out = record(name, xhat.reshape(x.shape), [x], (g) => {
    if (isGradEnabled() || isForwardADActive()) return [composedNormalizeBackward(g.reshape([...view]), x.reshape([...view]), null, eps)[0].reshape(x.shape)];
    const [dx] = nd.normalizeBackward(g.data.reshape([...view]), xhat, invstd);
    return [new Tensor(dx.reshape(x.shape))];
  }, ([tx]) => (normalizeTangent((tx as Tensor).reshape([...view]), x.reshape([...view]), eps, true)[0] as Tensor).reshape(x.shape));
  return saveForBackward(out, { 'input 0': x, output: out });
}

/**
 * @internal The fused backward's formula in differentiable ops, for x and the
 * upstream gradient g viewed as [A, G, B] and an optional weight [G]: xhat
 * and 1/sigma are recomputed from x so that their own dependence on x is
 * differentiated too. With m = A * B values per group,
 *
 *     dx = weight * invstd / m * (m * g - sum(g) - xhat * sum(g * xhat))
 *
 * Returns [dx, dweight (or null), dbias], the last two of shape [G].
 */
export function composedNormalizeBackward(g: Tensor, x: Tensor, weight: Tensor | null, eps: number): [Tensor, Tensor | null, Tensor] {
  const dims = [0, 2];
  const G = x.shape[1];
  const m = x.size / G;
  const mu = x.mean(dims, { keepdim: true });
  const centered = x.sub(mu);
  const invstd = centered.square().mean(dims, { keepdim: true }).add(eps).rsqrt();
  const xhat = centered.mul(invstd);
  const sdy = g.sum(dims, { keepdim: true });
  const sdx = g.mul(xhat).sum(dims, { keepdim: true });
  const scale = weight ? invstd.mul(weight.reshape([1, G, 1])) : invstd;
  const dx = scale.div(m).mul(g.mul(m).sub(sdy).sub(xhat.mul(sdx)));
  return [dx, weight ? sdx.reshape([G]) : null, sdy.reshape([G])];
}

/**
 * @internal `normalizeGroups` followed by an affine map whose parameters
 * vary inside a group, as one recorded op: x viewed as `view` = [1, G, B]
 * (every group one run: LayerNorm's rows, GroupNorm's and InstanceNorm's
 * groups), weight and bias (either may be null) holding period * B / span
 * values placed by `layout` (see nd.AffineLayout). Not `centered` is an RMS
 * normalization: xhat = x / sqrt(mean(x^2) + eps), no mean subtracted.
 * Forward and backward run the fused kernels (y and xhat in one pass; dx,
 * dweight and dbias together); under `createGraph` the backward is composed
 * from differentiable ops, so derivatives of every order work.
 */
export function normalizeGroupsAffine(
  name: string, x: Tensor, view: readonly [1, number, number], eps: number, weight: Tensor | null, bias: Tensor | null, layout: nd.AffineLayout,
  centered = true,
): Tensor {
  if (centered && !weight && !bias) return normalizeGroups(name, x, view, eps);
  const [, G, B] = view;
  const { period: P, span: Q } = layout;
  const n = (P * B) / Q;
  // An empty input: the composed form (the kernels reject empty groups).
  if (x.size === 0) return affineComposed(x.mul(0), view, weight, bias, layout);
  const opts = { dtype: x.dtype, device: x.device };
  const w = weight ? weight.data.reshape([n]) : nd.ones([n], opts);
  const b = bias ? bias.data.reshape([n]) : nd.zeros([n], opts);
  const x3 = x.data.reshape([...view]);
  let [mean, variance] = nd.normalizeMoments(x3);
  if (!centered) {
    // The mean square, from the same float64-accurate moments: E[x^2] = var + mean^2.
    variance = nd.add(variance, nd.mul(mean, mean));
    mean = nd.zeros([G], opts);
  }
  const invstd = nd.rsqrt(nd.add(variance, eps));
  const [y, xhat] = nd.normalizeAffineForward(x3, mean, invstd, w, b, layout);
  const out = record(name, y.reshape(x.shape), [x, weight, bias], (g) => {
    if (isGradEnabled() || isForwardADActive()) {
      const four = [G / P, P, B / Q, Q];
      const g4 = g.reshape(four);
      const gw = (weight ? g4.mul(weight.reshape([1, P, B / Q, 1])) : g4).reshape([...view]);
      const xs = x.reshape([...view]);
      const xhatT = centered ? normalizeComposed(xs, eps) : xs.mul(rmsComposed(xs, eps));
      const dx = centered
        ? composedNormalizeBackward(gw, xs, null, eps)[0]
        : rmsComposed(xs, eps).div(B).mul(gw.mul(B).sub(xhatT.mul(gw.mul(xhatT).sum([0, 2], { keepdim: true }))));
      return [
        dx.reshape(x.shape),
        weight ? g4.mul(xhatT.reshape(four)).sum([0, 3]).reshape(weight.shape) : null,
        bias ? g4.sum([0, 3]).reshape(bias.shape) : null,
      ];
    }
    const [dx, dw, db] = nd.normalizeAffineBackward(g.data.reshape([...view]), xhat, invstd, w, layout, { centered });
    return [new Tensor(dx.reshape(x.shape)), weight ? new Tensor(dw.reshape(weight.shape)) : null, bias ? new Tensor(db.reshape(bias.shape)) : null];
  }, ([tx, tw, tb]) => {
    // d(w xhat + b) = w dxhat + dw xhat + db, each placed by the layout.
    const [dxhat, xhatT] = normalizeTangent(tx?.reshape([...view]) ?? null, x.reshape([...view]), eps, centered);
    const terms = [
      dxhat && affineComposed(dxhat, view, weight, null, layout),
      tw ? affineComposed(xhatT, view, tw, null, layout) : null,
    ].filter((t): t is Tensor => t !== null);
    const withBias = tb ? affineComposed(terms.length > 0 ? sumTangents(...terms) : xhatT.mul(0), view, null, tb, layout) : sumTangents(...terms);
    return withBias.reshape(x.shape);
  });
  return saveForBackward(out, { 'input 0': x, 'input 1': weight, [xhat.storage === y.storage ? 'output' : 'normalized input']: xhat });
}

/**
 * @internal The forward-mode rule of xhat for x [A, G, B] with statistics per
 * G: [d xhat (null without a tangent tx), xhat], both composed from x so
 * that they are differentiable again. Centered (mean and variance):
 * d xhat = invstd (tx - mean(tx) - xhat mean(xhat tx)); RMS (not centered):
 * d xhat = r (tx - xhat mean(xhat tx)) with r = 1 / sqrt(mean(x^2) + eps).
 */
export function normalizeTangent(tx: Tensor | null, x: Tensor, eps: number, centered: boolean): [Tensor | null, Tensor] {
  const dims = [0, 2];
  const c = centered ? x.sub(x.mean(dims, { keepdim: true })) : x;
  const scale = c.square().mean(dims, { keepdim: true }).add(eps).rsqrt();
  const xhat = c.mul(scale);
  if (!tx) return [null, xhat];
  const tc = centered ? tx.sub(tx.mean(dims, { keepdim: true })) : tx;
  return [scale.mul(tc.sub(xhat.mul(xhat.mul(tx).mean(dims, { keepdim: true })))), xhat];
}

/** 1 / sqrt(mean(x^2) + eps) per group of x [1, G, B] ([1, G, 1]), in differentiable ops. */
function rmsComposed(x: Tensor, eps: number): Tensor {
  return x.square().mean([0, 2], { keepdim: true }).add(eps).rsqrt();
}

/** xhat of x [1, G, B] per group in differentiable ops. */
function normalizeComposed(x: Tensor, eps: number): Tensor {
  const centered = x.sub(x.mean([0, 2], { keepdim: true }));
  return centered.mul(centered.square().mean([0, 2], { keepdim: true }).add(eps).rsqrt());
}

/** y * weight + bias with the parameters placed by `layout` over `view`, in differentiable ops. */
function affineComposed(y: Tensor, view: readonly [1, number, number], weight: Tensor | null, bias: Tensor | null, { period: P, span: Q }: nd.AffineLayout): Tensor {
  const [, G, B] = view;
  const four = [G / P, P, B / Q, Q];
  const shape = [1, P, B / Q, 1];
  let out = y.reshape(four);
  if (weight) out = out.mul(weight.reshape(shape));
  if (bias) out = out.add(bias.reshape(shape));
  return out.reshape(y.shape);
}

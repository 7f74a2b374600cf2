import { Tensor, grad } from '@normlab/autograd';
import { BatchNorm, type Module, NoisyBatchNorm1d, NoisyBatchNorm2d, batchNorm } from '@normlab/nn';
import * as nd from '@normlab/tensor';
import { type LossFn, type ProbeOptions, checkLoss, host, probe } from './guard.js';

export interface LipschitzBoundOptions extends ProbeOptions {
  /**
   * Slack allowed by `holds`, relative to the scale of the bound
   * (gamma^2/sigma^2) ||g||^2: 1e-4 for float32 activations, 1e-9 for float64
   * by default (the bound is nearly tight: with eps = 0 it is an equality).
   */
  tolerance?: number;
}

/** Both sides of Theorem 4.1 for one channel j of one BatchNorm layer. */
export interface ChannelBound {
  /** Left side: ||grad_{y_j} L_hat||^2, the squared gradient norm of the BN network's loss w.r.t. the layer's input y_j (the m pre-BN activations of channel j). */
  lhs: number;
  /** Right side: (gamma^2 / sigma_j^2) (||g||^2 - <1, g>^2 / m - <g, yhat_j>^2 / m). */
  rhs: number;
  /** ||g||^2 with g = grad_{z_j} L, the gradient at the layer's output: the gradient y_j would get in the same network without this BN layer (z_j = y_j). */
  gradNormSq: number;
  /** <1, g>^2 / m: what BN removes along the mean direction. */
  meanTerm: number;
  /** <g, yhat_j>^2 / m: what BN removes along the activations themselves. */
  corrTerm: number;
  /** gamma_j (1 without affine parameters). */
  gamma: number;
  /** sigma_j^2 = var_B(y_j) + eps, the variance BN divides by. */
  sigma2: number;
  /** gamma^2 / sigma_j^2. */
  scale: number;
  /** lhs / rhs (<= 1 when the bound holds; NaN when both are 0, e.g. a channel the loss does not depend on). */
  ratio: number;
}

/** Theorem 4.1 for one BatchNorm layer (one call of it, when it runs more than once per forward). */
export interface BatchNormBound {
  /** Dotted name of the layer in the model. */
  name: string;
  /** Which call of the layer in the forward (0 unless it is applied several times). */
  call: number;
  /** m: the values per channel (N, or N x L, or N x H x W). */
  m: number;
  channels: ChannelBound[];
  /** Sums over the channels: ||grad_y L_hat||^2 of the whole layer, and its bound. */
  lhs: number;
  rhs: number;
  /** Largest per-channel lhs / rhs. */
  maxRatio: number;
  /** Whether lhs <= rhs (up to `tolerance`) in every channel. */
  holds: boolean;
}

interface Call {
  name: string;
  call: number;
  module: BatchNorm;
  x: Tensor;
  out: Tensor;
  noiseScale: Tensor | null;
}

/**
 * Both sides of Theorem 4.1 of Santurkar et al. (2018), "the effect of
 * BatchNorm on the Lipschitzness of the loss", for every BatchNorm layer of
 * `model` on `batch`, per channel j:
 *
 *     ||grad_{y_j} L_hat||^2  <=  (gamma^2 / sigma_j^2) ( ||g_j||^2 - <1, g_j>^2 / m - <g_j, yhat_j>^2 / m )
 *
 * y_j: the layer's input in channel j over the batch (m values); yhat_j =
 * (y_j - mu_j) / sigma_j its normalization; z_j = gamma yhat_j + beta the
 * layer's output; L_hat the loss of the network, with BN; g_j = grad_{z_j} L,
 * which is grad_{y_j} L in the "standard" network where this layer is removed
 * (z_j = y_j) and everything after it kept, as in the paper. The left side is
 * measured: g_j is pulled back through the layer by autograd (BatchNorm's own
 * backward), so it is the gradient y_j receives through BN; the right side is
 * computed from g_j, y_j and gamma in float64.
 *
 * sigma_j^2 = var_B(y_j) + eps, the variance the layer divides by. With eps > 0
 * the bound still holds (||yhat_j||^2 = m var/(var+eps) < m makes the left
 * side smaller by (eps/(var+eps)) <g_j, yhat_j>^2 / m); with eps = 0 it is an
 * equality. For NoisyBatchNorm, z_j is BN's output before the noise (g_j is
 * the output gradient times the noise's scale).
 *
 * Layers that do not normalize with batch statistics in the probe (frozen
 * running statistics, or eval mode with tracked statistics) are affine maps
 * to which the theorem does not apply: they are left out. Training mode by
 * default; the model, gradients, buffers and optimizers are left exactly as
 * they were.
 */
export function lipschitzBound<M extends Module, B>(model: M, lossFn: LossFn<M, B>, batch: B, options: LipschitzBoundOptions = {}): BatchNormBound[] {
  return probe(model, options, (guard) => {
    const calls: Call[] = [];
    const counts = new Map<Module, number>();
    const handles = [...model.namedModules()]
      .filter((e): e is [string, BatchNorm] => e[1] instanceof BatchNorm)
      .map(([name, module]) => module.registerForwardHook((m, inputs, output) => {
        const bn = m as BatchNorm;
        if (bn.runningStatsFrozen || (!bn.training && bn.trackRunningStats)) return undefined;
        const x = inputs[0];
        if (!(x instanceof Tensor) || !(output instanceof Tensor)) return undefined;
        const call = counts.get(m) ?? 0;
        counts.set(m, call + 1);
        const noisy = (bn instanceof NoisyBatchNorm1d || bn instanceof NoisyBatchNorm2d) && bn.training ? bn.lastNoise : null;
        calls.push({ name, call, module: bn, x, out: output, noiseScale: noisy ? noisy.scale : null });
        return undefined;
      }));
    let loss: Tensor;
    try {
      guard.resetRandom();
      loss = (lossFn as LossFn<Module, unknown>)(model, batch);
    } finally {
      for (const h of handles) h.remove();
    }
    checkLoss(loss);
    if (calls.length === 0) return [];
    const used = calls.filter((c) => c.out.requiresGrad);
    const gOuts = loss.requiresGrad && used.length ? grad(loss, used.map((c) => c.out), { allowUnused: true }) : [];
    const gOf = new Map(used.map((c, i) => [c, gOuts[i] ?? null]));
    return calls.map((c) => bound(c, gOf.get(c) ?? null, options.tolerance));
  });
}

function bound(c: Call, gOut: Tensor | null, tolerance: number | undefined): BatchNormBound {
  const { x, module } = c;
  const shape = x.shape;
  const C = shape[1];
  const inner = nd.sizeOf(shape.slice(2));
  const m = x.size / C;
  let g = gOut ?? new Tensor(nd.zeros(c.out.shape, { dtype: c.out.dtype, device: c.out.device }));
  if (c.noiseScale) g = g.mul(c.noiseScale);
  // The left side, measured: g pulled back through the layer's normalization by autograd.
  const xLeaf = new Tensor(x.data, { requiresGrad: true });
  const z = batchNorm(xLeaf, null, null, module.weight?.detach() ?? null, module.bias?.detach() ?? null, { training: true, eps: module.eps });
  const [dy] = grad(z, xLeaf, { gradOutputs: [g.detach()] });
  const xs = host(x);
  const gs = host(g);
  const dys = host(dy!);
  const gammas = module.weight ? host(module.weight) : null;
  const tol = tolerance ?? (x.dtype === 'float64' ? 1e-9 : 1e-4);

  // Per-channel sums over the m values (channel of flat index k: floor(k / inner) % C).
  const sum = new Float64Array(C);
  for (let k = 0; k < xs.length; k++) sum[Math.floor(k / inner) % C] += xs[k];
  const mu = sum.map((s) => s / m);
  const ss = new Float64Array(C);
  for (let k = 0; k < xs.length; k++) {
    const d = xs[k] - mu[Math.floor(k / inner) % C];
    ss[Math.floor(k / inner) % C] += d * d;
  }
  const sigma2 = ss.map((s) => s / m + module.eps);
  const g1 = new Float64Array(C);
  const gy = new Float64Array(C);
  const gg = new Float64Array(C);
  const dd = new Float64Array(C);
  for (let k = 0; k < xs.length; k++) {
    const j = Math.floor(k / inner) % C;
    const yhat = (xs[k] - mu[j]) / Math.sqrt(sigma2[j]);
    g1[j] += gs[k];
    gy[j] += gs[k] * yhat;
    gg[j] += gs[k] * gs[k];
    dd[j] += dys[k] * dys[k];
  }
  const channels: ChannelBound[] = [];
  let holds = true;
  for (let j = 0; j < C; j++) {
    const gamma = gammas ? gammas[j] : 1;
    const scale = (gamma * gamma) / sigma2[j];
    const meanTerm = (g1[j] * g1[j]) / m;
    const corrTerm = (gy[j] * gy[j]) / m;
    const rhs = scale * (gg[j] - meanTerm - corrTerm);
    const lhs = dd[j];
    if (!(lhs <= rhs + tol * scale * gg[j])) holds = false;
    channels.push({ lhs, rhs, gradNormSq: gg[j], meanTerm, corrTerm, gamma, sigma2: sigma2[j], scale, ratio: lhs / rhs });
  }
  const ratios = channels.map((ch) => ch.ratio).filter((r) => !Number.isNaN(r));
  return {
    name: c.name, call: c.call, m, channels,
    lhs: channels.reduce((s, ch) => s + ch.lhs, 0),
    rhs: channels.reduce((s, ch) => s + ch.rhs, 0),
    maxRatio: ratios.length ? Math.max(...ratios) : NaN,
    holds,
  };
}

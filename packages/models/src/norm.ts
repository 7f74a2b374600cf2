/**
 * The normalization a model is built with: one option names it, and the
 * models ask for a conv, a norm after it and the activation after that, so
 * that every normalization of @normlab/nn (and a user's own) drops into the
 * same architecture.
 */
import type { Tensor } from '@normlab/autograd';
import {
  BatchNorm2d, BatchRenorm2d, Conv2d, type Conv2dModuleOptions, FilterResponseNorm2d, GhostBatchNorm2d, GroupNorm, Identity, type Module,
  NoisyBatchNorm2d, RELU_GAMMA, ReLU, ScaledWeightStandardizedConv2d, TLU, WeightStandardizedConv2d,
} from '@normlab/nn';

/** A module that maps a tensor to a tensor (what a model's norm and activation slots hold). */
export type Layer = Module & { forward(x: Tensor): Tensor };

/**
 * The normalization after every conv of a model:
 *
 * | norm | layer |
 * | --- | --- |
 * | `'bn'` | BatchNorm2d |
 * | `'noisy-bn'` | NoisyBatchNorm2d (Santurkar et al. 2018; its defaults) |
 * | `'ghost-bn'` | GhostBatchNorm2d with `virtualBatchSize` (32) |
 * | `'batch-renorm'` | BatchRenorm2d (rmax 3, dmax 5) |
 * | `'gn'` | GroupNorm with `groups` (32) groups, fewer where a layer has fewer channels (the largest divisor of C up to `groups`) |
 * | `'ln'` | GroupNorm(1, C): LayerNorm over C, H, W, as the GroupNorm paper's LN |
 * | `'in'` | GroupNorm(C, C): InstanceNorm with a per-channel affine |
 * | `'ws-gn'` | WeightStandardizedConv2d followed by GroupNorm (Qiao et al. 2019) |
 * | `'frn'` | FilterResponseNorm2d, and TLU in place of the ReLU (Singh & Krishnan 2019) |
 * | `'none'` | nothing (the convs get a bias) |
 * | `'nf'` | normalization-free: ScaledWeightStandardizedConv2d with ReLU's gamma, no norm, and in a ResNet a SkipInit gate at 0 on every residual branch (Brock et al. 2021; De & Smith 2020; train with clipGradAdaptive) |
 *
 * or an object `{ norm: (channels) => Layer }` for any other layer.
 */
export type NormKind = 'bn' | 'noisy-bn' | 'ghost-bn' | 'batch-renorm' | 'gn' | 'ln' | 'in' | 'ws-gn' | 'frn' | 'none' | 'nf';

/** The `norm` option of the models. */
export type NormSpec = NormKind | { norm: (channels: number) => Layer };

/** Options of the norm layers that take one. */
export interface NormOptions {
  /** GroupNorm's groups ('gn', 'ws-gn'); 32 by default. */
  groups?: number;
  /** GhostBatchNorm2d's virtual batch size ('ghost-bn'); 32 by default. */
  virtualBatchSize?: number;
}

const KINDS: readonly NormKind[] = ['bn', 'noisy-bn', 'ghost-bn', 'batch-renorm', 'gn', 'ln', 'in', 'ws-gn', 'frn', 'none', 'nf'];

/** @internal Checks a `norm` option, naming the model. */
export function checkNorm(model: string, norm: NormSpec): void {
  if (typeof norm === 'object' && norm !== null && typeof norm.norm === 'function') return;
  if (!KINDS.includes(norm as NormKind)) {
    throw new RangeError(`${model}: unknown norm ${JSON.stringify(norm)}; expected one of ${KINDS.join(', ')} or { norm: (channels) => Layer }`);
  }
}

/** The largest divisor of `channels` that is at most `groups`. */
function groupsFor(channels: number, groups: number): number {
  for (let g = Math.min(groups, channels); g > 1; g--) if (channels % g === 0) return g;
  return 1;
}

/**
 * @internal The conv a model uses before its norm: weight-standardized for
 * 'ws-gn' and 'nf'; with a bias when `options.bias` says so, else only
 * without a norm (a norm's shift replaces it).
 */
export function makeConv(norm: NormSpec, inChannels: number, outChannels: number, kernelSize: number, options: Conv2dModuleOptions = {}): Conv2d {
  const bias = options.bias ?? (norm === 'none' || norm === 'nf');
  if (norm === 'ws-gn') return new WeightStandardizedConv2d(inChannels, outChannels, kernelSize, { ...options, bias });
  if (norm === 'nf') return new ScaledWeightStandardizedConv2d(inChannels, outChannels, kernelSize, { ...options, bias, gamma: RELU_GAMMA });
  return new Conv2d(inChannels, outChannels, kernelSize, { ...options, bias });
}

/** @internal The norm layer over `channels` channels (Identity for 'none' and 'nf'). */
export function makeNorm(norm: NormSpec, channels: number, options: NormOptions = {}): Layer {
  if (typeof norm === 'object') return norm.norm(channels);
  const groups = options.groups ?? 32;
  switch (norm) {
    case 'bn': return new BatchNorm2d(channels);
    case 'noisy-bn': return new NoisyBatchNorm2d(channels);
    case 'ghost-bn': return new GhostBatchNorm2d(channels, { virtualBatchSize: options.virtualBatchSize ?? 32 });
    case 'batch-renorm': return new BatchRenorm2d(channels);
    case 'gn':
    case 'ws-gn': return new GroupNorm(groupsFor(channels, groups), channels);
    case 'ln': return new GroupNorm(1, channels);
    case 'in': return new GroupNorm(channels, channels);
    case 'frn': return new FilterResponseNorm2d(channels);
    case 'none':
    case 'nf': return new Identity();
  }
}

/** @internal The activation after a norm: TLU with FRN (the paper's FRN layer), ReLU otherwise. */
export function makeActivation(norm: NormSpec, channels: number): Layer {
  return norm === 'frn' ? new TLU(channels) : new ReLU();
}

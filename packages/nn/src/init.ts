import { noGrad } from '@normlab/autograd';
import { type Generator, defaultGenerator, fmtShape } from '@normlab/tensor';
import type { Tensor } from '@normlab/autograd';
import { fromTyped } from '@normlab/tensor';

/**
 * Parameter initializations, as torch.nn.init: each fills `t` in place
 * (under noGrad) and returns it. Random ones take an optional generator.
 */

export type Nonlinearity =
  | 'linear' | 'conv1d' | 'conv2d' | 'conv3d' | 'convTranspose1d' | 'convTranspose2d' | 'convTranspose3d'
  | 'sigmoid' | 'tanh' | 'relu' | 'leakyRelu' | 'selu';

/** The recommended gain for a nonlinearity (torch.nn.init.calculate_gain). */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear':
    case 'conv1d':
    case 'conv2d':
    case 'conv3d':
    case 'convTranspose1d':
    case 'convTranspose2d':
    case 'convTranspose3d':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leakyRelu': {
      const slope = param ?? 0.01;
      if (typeof slope !== 'number' || !Number.isFinite(slope)) throw new RangeError(`calculateGain: negative slope ${String(slope)} is not a valid number`);
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu':
      return 3 / 4;
    default:
      throw new RangeError(`calculateGain: unsupported nonlinearity '${String(nonlinearity)}'`);
  }
}

/** fan_in and fan_out of a weight [out, in, ...kernel]. */
export function calculateFans(t: Tensor): { fanIn: number; fanOut: number } {
  if (t.ndim < 2) throw new RangeError(`init: fan in and fan out need a tensor with at least 2 dims, got ${fmtShape(t.shape)}`);
  const receptive = t.shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: t.shape[1] * receptive, fanOut: t.shape[0] * receptive };
}

function fill(t: Tensor, sample: (i: number) => number): Tensor {
  const values = new Float64Array(t.size);
  for (let i = 0; i < values.length; i++) values[i] = sample(i);
  noGrad(() => {
    t.data = fromTyped(values, t.shape).astype(t.dtype).to(t.device);
  });
  return t;
}

/** Fills t with U(a, b) samples (in place, without recording) and returns it. */
export function uniform(t: Tensor, a = 0, b = 1, generator: Generator = defaultGenerator): Tensor {
  if (!(a <= b)) throw new RangeError(`uniform: expected a <= b, got a=${a}, b=${b}`);
  return fill(t, () => a + (b - a) * generator.uniform());
}

/** Fills t with N(mean, std^2) samples (in place, without recording) and returns it. */
export function normal(t: Tensor, mean = 0, std = 1, generator: Generator = defaultGenerator): Tensor {
  if (!(std >= 0)) throw new RangeError(`normal: std must be non-negative, got ${std}`);
  return fill(t, () => mean + std * generator.normal());
}

/** Fills t with `value` (in place, without recording) and returns it. */
export function constant(t: Tensor, value: number): Tensor {
  return fill(t, () => value);
}

/** Fills t with 0 and returns it. */
export const zeros = (t: Tensor): Tensor => constant(t, 0);
/** Fills t with 1 and returns it. */
export const ones = (t: Tensor): Tensor => constant(t, 1);

/** U(-a, a) with a = gain * sqrt(6 / (fanIn + fanOut)), Glorot & Bengio 2010. */
export function xavierUniform(t: Tensor, gain = 1, generator?: Generator): Tensor {
  const { fanIn, fanOut } = calculateFans(t);
  const a = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform(t, -a, a, generator);
}

/** N(0, std^2) with std = gain * sqrt(2 / (fanIn + fanOut)), Glorot & Bengio 2010. */
export function xavierNormal(t: Tensor, gain = 1, generator?: Generator): Tensor {
  const { fanIn, fanOut } = calculateFans(t);
  return normal(t, 0, gain * Math.sqrt(2 / (fanIn + fanOut)), generator);
}

/** Options of `kaimingUniform` and `kaimingNormal` (torch.nn.init.kaiming_*). */
export interface KaimingOptions {
  /** The negative slope of the following leaky ReLU (0 for ReLU). */
  a?: number;
  /** 'fanIn' (default) keeps the forward variance, 'fanOut' the backward one. */
  mode?: 'fanIn' | 'fanOut';
  nonlinearity?: Nonlinearity;
  generator?: Generator;
}

function kaimingStd(t: Tensor, options: KaimingOptions): number {
  const { fanIn, fanOut } = calculateFans(t);
  const mode = options.mode ?? 'fanIn';
  if (mode !== 'fanIn' && mode !== 'fanOut') throw new RangeError(`kaiming: mode must be 'fanIn' or 'fanOut', got '${String(mode)}'`);
  const gain = calculateGain(options.nonlinearity ?? 'leakyRelu', options.a ?? 0);
  return gain / Math.sqrt(mode === 'fanIn' ? fanIn : fanOut);
}

/** U(-b, b) with b = gain * sqrt(3 / fan), He et al. 2015. */
export function kaimingUniform(t: Tensor, options: KaimingOptions = {}): Tensor {
  const bound = Math.sqrt(3) * kaimingStd(t, options);
  return uniform(t, -bound, bound, options.generator);
}

/** N(0, std^2) with std = gain / sqrt(fan), He et al. 2015. */
export function kaimingNormal(t: Tensor, options: KaimingOptions = {}): Tensor {
  return normal(t, 0, kaimingStd(t, options), options.generator);
}

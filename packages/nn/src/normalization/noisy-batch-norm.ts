import { Tensor } from '@normlab/autograd';
import * as nd from '@normlab/tensor';
import { type BatchNorm, BatchNorm1d, BatchNorm2d, type BatchNormForwardOptions, type BatchNormOptions } from './batch-norm.js';

/** A range [lo, hi] for a uniform draw, or one number for the symmetric default range of the option. */
export type NoiseRange = number | readonly [number, number];

/** Options of NoisyBatchNorm1d/2d: BatchNorm's, plus the ranges of the injected noise and its generator. */
export interface NoisyBatchNormOptions extends BatchNormOptions {
  /**
   * Where the mean of the additive noise is drawn from, per channel and
   * per training forward: U(-n, n) for a number n, U(lo, hi) for [lo, hi].
   * 0.5 by default (n_mu).
   */
  noiseMean?: NoiseRange;
  /**
   * Where the standard deviation of the multiplicative noise is drawn
   * from, per channel and per training forward: U(1, n) for a number n >= 1,
   * U(lo, hi) for [lo, hi]. 1.25 by default (n_sigma).
   */
  noiseStd?: NoiseRange;
  /** Standard deviation of the additive noise around its mean; 1 by default. */
  shiftStd?: number;
  /**
   * 'activation' (default): every activation of every sample gets its own
   * i.i.d. scale and shift, as in the paper. 'channel': one scale and one
   * shift per channel, shared by the whole batch and all positions.
   */
  noiseGranularity?: 'activation' | 'channel';
  /** Source of the noise (the default generator when absent): seed it for reproducible runs. */
  generator?: nd.Generator;
}

/** The noise of the last training forward: y' = y * scale + shift (shapes of y, or [1, C, 1, ...] per channel). */
export interface InjectedNoise {
  scale: Tensor;
  shift: Tensor;
  /** The per-channel means of the shift drawn for that forward, [C]. */
  shiftMean: Tensor;
  /** The per-channel standard deviations of the scale drawn for that forward, [C]. */
  scaleStd: Tensor;
}

function rangeOf(layer: string, option: string, v: NoiseRange, symmetric: boolean): [number, number] {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || (symmetric ? v < 0 : v < 1)) {
      throw new RangeError(`${layer}: ${option} must be ${symmetric ? 'a non-negative number' : 'a number >= 1'} or a range [lo, hi], got ${v}`);
    }
    return symmetric ? [-v, v] : [1, v];
  }
  if (!Array.isArray(v) || v.length !== 2 || !v.every(Number.isFinite) || !(v[0] <= v[1])) {
    throw new RangeError(`${layer}: ${option} range must be [lo, hi] with lo <= hi, got ${String(v)}`);
  }
  if (!symmetric && v[0] < 0) throw new RangeError(`${layer}: ${option} range must be non-negative (a standard deviation), got [${v[0]}, ${v[1]}]`);
  return [v[0], v[1]];
}

/** The settings both noisy layers share, checked once. */
class NoiseSettings {
  readonly noiseMean: [number, number];
  readonly noiseStd: [number, number];
  readonly shiftStd: number;
  readonly granularity: 'activation' | 'channel';
  readonly generator: nd.Generator;

  constructor(layer: string, options: NoisyBatchNormOptions) {
    this.noiseMean = rangeOf(layer, 'noiseMean', options.noiseMean ?? 0.5, true);
    this.noiseStd = rangeOf(layer, 'noiseStd', options.noiseStd ?? 1.25, false);
    this.shiftStd = options.shiftStd ?? 1;
    if (!(this.shiftStd >= 0) || !Number.isFinite(this.shiftStd)) throw new RangeError(`${layer}: shiftStd must be a non-negative number, got ${this.shiftStd}`);
    this.granularity = options.noiseGranularity ?? 'activation';
    if (this.granularity !== 'activation' && this.granularity !== 'channel') {
      throw new RangeError(`${layer}: noiseGranularity must be 'activation' or 'channel', got '${String(this.granularity)}'`);
    }
    this.generator = options.generator ?? nd.defaultGenerator;
  }

  /** Draws this step's distributions, then the noise, and applies it to y [N, C, ...]. */
  inject(y: Tensor): { out: Tensor; noise: InjectedNoise } {
    const g = this.generator;
    const C = y.shape[1];
    const uniform = ([lo, hi]: [number, number]): number => lo + (hi - lo) * g.uniform();
    const mu = Float64Array.from({ length: C }, () => uniform(this.noiseMean));
    const sigma = Float64Array.from({ length: C }, () => uniform(this.noiseStd));
    const shape = this.granularity === 'channel' ? y.shape.map((d, i) => (i === 1 ? d : 1)) : [...y.shape];
    const n = nd.sizeOf(shape);
    const inner = nd.sizeOf(shape.slice(2));
    // Drawn straight into y's dtype (the same values as float64 then rounded), in the order i = 0..n-1.
    const Typed = y.dtype === 'float64' ? Float64Array : Float32Array;
    const scale = new Typed(n);
    const shift = new Typed(n);
    const shiftStd = this.shiftStd;
    for (let i = 0; i < n;) {
      for (let c = 0; c < C; c++) {
        const sc = sigma[c];
        const m = mu[c];
        for (const end = i + inner; i < end; i++) {
          scale[i] = 1 + sc * g.normal();
          shift[i] = m + shiftStd * g.normal();
        }
      }
    }
    const wrap = (a: Float32Array | Float64Array, s: readonly number[]): Tensor => new Tensor(nd.fromTyped(a, s).astype(y.dtype).to(y.device));
    const noise = { scale: wrap(scale, shape), shift: wrap(shift, shape), shiftMean: wrap(mu, [C]), scaleStd: wrap(sigma, [C]) };
    return { out: y.mul(noise.scale).add(noise.shift), noise };
  }
}


/** What NoisyBatchNorm1d and NoisyBatchNorm2d add to their BatchNorm base. */
export interface NoisyBatchNormMembers {
  /** The noise of the last training forward (null before one, and never set in eval mode). */
  lastNoise: InjectedNoise | null;
  /** The generator the noise is drawn from (`options.generator`, or the default generator): checkpoint it with `getState()` / `setState()`. */
  readonly generator: nd.Generator;
}

/**
 * The noisy subclass of a BatchNorm class, written once for both. The
 * result is typed by the signature: an anonymous class type would put the
 * base's protected members into the declarations, which TypeScript refuses.
 */
function withNoise<T extends BatchNorm>(Base: new (numFeatures: number, options?: BatchNormOptions) => T): new (numFeatures: number, options?: NoisyBatchNormOptions) => T & NoisyBatchNormMembers {
  // Seen as BatchNorm1d inside: a class expression needs a concrete base, and both bases are.
  const Noisy = class extends (Base as unknown as typeof BatchNorm1d) implements NoisyBatchNormMembers {
    lastNoise: InjectedNoise | null = null;
    private readonly noise: NoiseSettings;

    constructor(numFeatures: number, options: NoisyBatchNormOptions = {}) {
      super(numFeatures, options);
      this.noise = new NoiseSettings(this.constructor.name, options);
    }

    get generator(): nd.Generator {
      return this.noise.generator;
    }

    override forward(x: Tensor, options: BatchNormForwardOptions = {}): Tensor {
      const y = super.forward(x, options);
      if (!this.training) return y;
      const { out, noise } = this.noise.inject(y);
      this.lastNoise = noise;
      return out;
    }

    override extraRepr(): string {
      return `${super.extraRepr()}, ${noiseRepr(this.noise)}`;
    }
  };
  return Noisy as unknown as new (numFeatures: number, options?: NoisyBatchNormOptions) => T & NoisyBatchNormMembers;
}

/**
 * BatchNorm1d followed, in training mode only, by the time-varying noise of
 * Santurkar et al. 2018 ("How Does Batch Normalization Help Optimization?",
 * section 2.1, "noisy BatchNorm"): each batch-normalized activation is
 * perturbed by i.i.d. noise of non-zero mean and non-unit variance, from a
 * distribution that itself changes at every step, so that the layer's
 * output distribution is unstable (a severe "internal covariate shift")
 * although BatchNorm's smoothing effect is kept. At every training forward:
 *
 *     per channel c:  mu_c ~ U(noiseMean)         sigma_c ~ U(noiseStd)
 *     per activation: scale ~ N(1, sigma_c^2)     shift ~ N(mu_c, shiftStd^2)
 *     y' = BN(x) * scale + shift
 *
 * so the multiplicative noise has variance sigma_c^2 (>= 1 with the default
 * U(1, 1.25)) and the additive noise a non-zero mean (U(-0.5, 0.5) by
 * default); `noiseGranularity: 'channel'` draws one scale and shift per
 * channel instead. Eval mode is plain BatchNorm. The noise is a constant
 * for autograd (gradients flow through BN(x) * scale), and `lastNoise`
 * keeps what the last training forward drew. The running statistics are
 * BatchNorm's, of the noiseless BN input. Pass a seeded `generator` for
 * reproducible noise.
 */
export class NoisyBatchNorm1d extends withNoise(BatchNorm1d) {}

/** BatchNorm2d followed, in training mode only, by Santurkar et al.'s noise: see NoisyBatchNorm1d. */
export class NoisyBatchNorm2d extends withNoise(BatchNorm2d) {}

function noiseRepr(s: NoiseSettings): string {
  return `noiseMean=[${s.noiseMean.join(', ')}], noiseStd=[${s.noiseStd.join(', ')}], shiftStd=${s.shiftStd}, noiseGranularity=${s.granularity}`;
}

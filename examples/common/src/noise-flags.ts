/**
 * The flags of the noisy-BN examples that set NoisyBatchNorm's noise
 * (--noise-mean, --noise-std, --shift-std): the options, their defaults (the
 * layer's), validation, usage lines, and the layer options they give.
 */
import type { NoisyBatchNormOptions } from '@normlab/nn';
import { type Flags, UsageError } from './args.js';

export interface NoiseFlagOptions {
  /** The shift's mean is drawn from U(-noiseMean, noiseMean) per channel and step. */
  noiseMean: number;
  /** The scale's std is drawn from U(1, n) for [n], or U(lo, hi) for [lo, hi]. */
  noiseStd: number[];
  /** Std of the shift around its mean. */
  shiftStd: number;
}

/** NoisyBatchNorm's defaults. */
export const NOISE_DEFAULTS: NoiseFlagOptions = { noiseMean: 0.5, noiseStd: [1.25], shiftStd: 1 };

export function noiseFlags<O extends NoiseFlagOptions>(): Flags<O> {
  return {
    '--noise-mean': { key: 'noiseMean', kind: 'number' },
    '--noise-std': { key: 'noiseStd', kind: 'numbers' },
    '--shift-std': { key: 'shiftStd', kind: 'number' },
  };
}

export function checkNoise(o: NoiseFlagOptions): void {
  if (!(o.noiseMean >= 0)) throw new UsageError(`--noise-mean must be non-negative, got ${o.noiseMean}`);
  if (o.noiseStd.length > 2 || (o.noiseStd.length === 1 ? !(o.noiseStd[0] >= 1) : !(o.noiseStd[0] >= 0 && o.noiseStd[0] <= o.noiseStd[1]))) {
    throw new UsageError(`--noise-std expects N >= 1 or LO,HI with 0 <= LO <= HI, got ${o.noiseStd.join(',')}`);
  }
  if (!(o.shiftStd >= 0)) throw new UsageError(`--shift-std must be non-negative, got ${o.shiftStd}`);
}

/** The usage lines of the three flags, their descriptions starting at `column`. */
export function noiseUsage(column: number): string {
  const line = (flag: string, text: string): string => `  ${flag.padEnd(column - 2)}${text}\n`;
  return line('--noise-mean N', `noisy BN: the shift's mean is drawn from U(-N, N) per channel and step (default ${NOISE_DEFAULTS.noiseMean})`)
    + line('--noise-std N|LO,HI', `noisy BN: the scale's std is drawn from U(1, N), or U(LO, HI) (default ${NOISE_DEFAULTS.noiseStd.join(',')})`)
    + line('--shift-std X', `noisy BN: std of the shift around its mean (default ${NOISE_DEFAULTS.shiftStd})`);
}

/** The noise options of NoisyBatchNorm1d/2d the flags set. */
export function noiseLayerOptions(o: NoiseFlagOptions): Pick<NoisyBatchNormOptions, 'noiseMean' | 'noiseStd' | 'shiftStd'> {
  return { noiseMean: o.noiseMean, noiseStd: o.noiseStd.length === 1 ? o.noiseStd[0] : [o.noiseStd[0], o.noiseStd[1]], shiftStd: o.shiftStd };
}

/** The noise in words, for a run's config.json. */
export function describeNoise(layer: string, o: NoiseFlagOptions): string {
  const sigma = o.noiseStd.length === 1 ? `1, ${o.noiseStd[0]}` : o.noiseStd.join(', ');
  return `${layer}: per activation, scale ~ N(1, sigma^2), shift ~ N(mu, ${o.shiftStd}^2), with mu ~ U(-${o.noiseMean}, ${o.noiseMean}) and sigma ~ U(${sigma}) per channel, re-drawn every training forward`;
}

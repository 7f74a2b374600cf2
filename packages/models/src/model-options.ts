/** The options every model takes: the norm, the width, the input shape and the classes. */
import { type NormOptions, type NormSpec, checkNorm } from './norm.js';

/** Options of `vgg`, and of `resnet` for the shared ones. */
export interface ModelOptions extends NormOptions {
  /** The normalization after every conv; 'bn' by default (see NormSpec). */
  norm?: NormSpec;
  /** Multiplies every width (64 -> 64 * width, rounded, at least 1); 1 by default. */
  width?: number;
  /** The input's [channels, height, width]; [3, 32, 32] (CIFAR) by default. */
  inputShape?: readonly [number, number, number];
  /** Classes of the Linear head; 10 by default. */
  numClasses?: number;
}

/** @internal Checks the shared options and returns them with their defaults. */
export function modelOptions(model: string, options: ModelOptions): Required<Pick<ModelOptions, 'norm' | 'width' | 'inputShape' | 'numClasses'>> {
  const { norm = 'bn', width = 1, inputShape = [3, 32, 32], numClasses = 10 } = options;
  checkNorm(model, norm);
  if (!(width > 0) || !Number.isFinite(width)) throw new RangeError(`${model}: width must be a positive number, got ${width}`);
  if (inputShape.length !== 3 || !inputShape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new RangeError(`${model}: inputShape must be [channels, height, width] of positive integers, got [${inputShape.join(', ')}]`);
  }
  if (!(Number.isInteger(numClasses) && numClasses > 0)) throw new RangeError(`${model}: numClasses must be a positive integer, got ${numClasses}`);
  return { norm, width, inputShape, numClasses };
}

/** @internal A width scaled by the multiplier, at least 1. */
export function scaled(channels: number, width: number): number {
  return Math.max(1, Math.round(channels * width));
}

import * as nd from '@normlab/tensor';
import { Tensor } from './tensor.js';

/** Creation options of @normlab/tensor plus `requiresGrad`. */
export interface TensorCreateOptions extends nd.CreateOptions {
  requiresGrad?: boolean;
}

/** Random creation options of @normlab/tensor plus `requiresGrad`. */
export interface TensorRandomOptions extends nd.RandomOptions {
  requiresGrad?: boolean;
}

const wrap = (a: nd.NDArray, options: { requiresGrad?: boolean }): Tensor => new Tensor(a, { requiresGrad: options.requiresGrad });

/**
 * A leaf tensor from nested arrays, a typed array or an NDArray (copied).
 *
 * @example tensor([[1, 2], [3, 4]], { requiresGrad: true })
 */
export function tensor(
  data: nd.NestedArray | boolean | readonly unknown[] | nd.TypedArray | nd.NDArray,
  options: TensorCreateOptions & { shape?: nd.Shape } = {},
): Tensor {
  const arr = data instanceof nd.NDArray
    ? data.clone().astype(options.dtype ?? data.dtype).to(options.device ?? data.device)
    : nd.fromArray(data, options);
  return wrap(arr, options);
}

/** A Tensor of `shape` filled with 0. */
export const zeros = (shape: nd.Shape, options: TensorCreateOptions = {}): Tensor => wrap(nd.zeros(shape, options), options);
/** A Tensor of `shape` filled with 1. */
export const ones = (shape: nd.Shape, options: TensorCreateOptions = {}): Tensor => wrap(nd.ones(shape, options), options);
/** A Tensor of `shape` filled with `value`. */
export const full = (shape: nd.Shape, value: number, options: TensorCreateOptions = {}): Tensor => wrap(nd.full(shape, value, options), options);
/** Zeros of x's shape, dtype and device. */
export const zerosLike = (x: Tensor, options: TensorCreateOptions = {}): Tensor => wrap(nd.zerosLike(x.data, options), options);
/** Ones of x's shape, dtype and device. */
export const onesLike = (x: Tensor, options: TensorCreateOptions = {}): Tensor => wrap(nd.onesLike(x.data, options), options);
/** `value` in x's shape, dtype and device. */
export const fullLike = (x: Tensor, value: number, options: TensorCreateOptions = {}): Tensor => wrap(nd.fullLike(x.data, value, options), options);
/** Values start, start + step, ... below end (torch.arange). */
export const arange = (start: number, end?: number, step?: number, options: TensorCreateOptions = {}): Tensor =>
  wrap(nd.arange(start, end, step, options), options);
/** `steps` evenly spaced values from start to end inclusive. */
export const linspace = (start: number, end: number, steps: number, options: TensorCreateOptions = {}): Tensor =>
  wrap(nd.linspace(start, end, steps, options), options);
/** The n x m identity (m = n by default). */
export const eye = (n: number, m?: number, options: TensorCreateOptions = {}): Tensor => wrap(nd.eye(n, m, options), options);
/** Uniform samples in [0, 1). */
export const rand = (shape: nd.Shape, options: TensorRandomOptions = {}): Tensor => wrap(nd.rand(shape, options), options);
/** Standard normal samples. */
export const randn = (shape: nd.Shape, options: TensorRandomOptions = {}): Tensor => wrap(nd.randn(shape, options), options);
/** Uniform integers in [low, high), int32 by default. */
export const randint = (low: number, high: number, shape: nd.Shape, options: TensorRandomOptions = {}): Tensor =>
  wrap(nd.randint(low, high, shape, options), options);
/** Standard normal samples of x's shape, dtype and device. */
export const randnLike = (x: Tensor, options: TensorRandomOptions = {}): Tensor =>
  wrap(nd.randn(x.shape, { dtype: x.dtype, device: x.device, ...options }), options);
/** Uniform samples in [0, 1) of x's shape, dtype and device. */
export const randLike = (x: Tensor, options: TensorRandomOptions = {}): Tensor =>
  wrap(nd.rand(x.shape, { dtype: x.dtype, device: x.device, ...options }), options);
export { manualSeed, Generator } from '@normlab/tensor';

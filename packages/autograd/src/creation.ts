import * as nd from '@normlab/tensor';
import { Tensor } from './tensor.js';

/** Creation options of @normlab/tensor plus `requiresGrad`. */
export interface TensorCreateOptions extends nd.CreateOptions {
  requiresGrad?: boolean;
}

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

export const zeros = (shape: nd.Shape, options: TensorCreateOptions = {}): Tensor => wrap(nd.zeros(shape, options), options);
export const ones = (shape: nd.Shape, options: TensorCreateOptions = {}): Tensor => wrap(nd.ones(shape, options), options);
export const full = (shape: nd.Shape, value: number, options: TensorCreateOptions = {}): Tensor => wrap(nd.full(shape, value, options), options);
export const zerosLike = (x: Tensor, options: TensorCreateOptions = {}): Tensor => wrap(nd.zerosLike(x.data, options), options);
export const onesLike = (x: Tensor, options: TensorCreateOptions = {}): Tensor => wrap(nd.onesLike(x.data, options), options);
export const fullLike = (x: Tensor, value: number, options: TensorCreateOptions = {}): Tensor => wrap(nd.fullLike(x.data, value, options), options);
export const arange = (start: number, end?: number, step?: number, options: TensorCreateOptions = {}): Tensor =>
  wrap(nd.arange(start, end, step, options), options);
export const linspace = (start: number, end: number, steps: number, options: TensorCreateOptions = {}): Tensor =>
  wrap(nd.linspace(start, end, steps, options), options);
export const eye = (n: number, m?: number, options: TensorCreateOptions = {}): Tensor => wrap(nd.eye(n, m, options), options);
export const rand = (shape: nd.Shape, options: TensorRandomOptions = {}): Tensor => wrap(nd.rand(shape, options), options);
export const randn = (shape: nd.Shape, options: TensorRandomOptions = {}): Tensor => wrap(nd.randn(shape, options), options);
export const randint = (low: number, high: number, shape: nd.Shape, options: TensorRandomOptions = {}): Tensor =>
  wrap(nd.randint(low, high, shape, options), options);
export const randnLike = (x: Tensor, options: TensorRandomOptions = {}): Tensor =>
  wrap(nd.randn(x.shape, { dtype: x.dtype, device: x.device, ...options }), options);
export const randLike = (x: Tensor, options: TensorRandomOptions = {}): Tensor =>
  wrap(nd.rand(x.shape, { dtype: x.dtype, device: x.device, ...options }), options);
export { manualSeed, Generator } from '@normlab/tensor';

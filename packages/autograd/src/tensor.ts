import {
  type DType, type Device, NDArray, type NestedArray, type Shape, TIDY_CHILDREN, type TypedArray, fmtShape, isFloat, noteHolderWrite, storageVersion,
} from '@normlab/tensor';
import { backward as runBackward, type BackwardOptions } from './engine.js';
import { isForwardADActive, visibleTangents } from './forward-ad.js';
import type { GradHook, Node } from './node.js';
import * as ew from './ops/elementwise.js';
import * as ip from './ops/in-place.js';
import * as ix from './ops/indexing.js';
import * as jn from './ops/join.js';
import * as lin from './ops/linalg.js';
import * as red from './ops/reduce.js';
import * as vw from './ops/views.js';
import type { TensorLike } from './function.js';

export interface TensorOptions {
  requiresGrad?: boolean;
}

/** What `registerHook` returns: call `remove()` to unregister. */
export interface HookHandle {
  remove(): void;
}

/**
 * A differentiable tensor: an `NDArray` plus its place in the autograd graph.
 * Leaves are created by the user (with `requiresGrad: true` they collect
 * gradients in `.grad`); results of ops on tensors that require grad carry
 * the op that made them in `.gradFn`.
 *
 * @example
 * const w = tensor([[1, 2], [3, 4]], { requiresGrad: true });
 * w.matmul(w).sum().backward();
 * w.grad; // d(sum(w @ w))/dw
 */
export class Tensor {
  private _data: NDArray;
  private _grad: Tensor | null = null;
  private _requiresGrad = false;
  private _gradFn: Node | null = null;
  private leafHooks: GradHook[] | null = null;
  private _retainsGrad = false;

  constructor(data: NDArray, options: TensorOptions = {}) {
    if (!(data instanceof NDArray)) throw new TypeError(`Tensor: expected an NDArray, got ${typeof data}`);
    this._data = data;
    if (options.requiresGrad) this.requiresGrad = true;
  }

  /** The values. Optimizers replace it under `noGrad` (inside `tidy`, the tensor then holds the new values past the scope). */
  get data(): NDArray {
    return this._data;
  }

  set data(value: NDArray) {
    if (!(value instanceof NDArray)) throw new TypeError(`Tensor.data: expected an NDArray, got ${typeof value}`);
    const old = this._data.storage;
    this._data = value;
    // Inside tidy this tensor now holds `value` past the scope; the old values may be freed.
    noteHolderWrite(this, old, old !== value.storage ? old : null);
  }

  /** The accumulated gradient of a leaf, or of a tensor that called `retainGrad()`. */
  get grad(): Tensor | null {
    return this._grad;
  }

  set grad(value: Tensor | null) {
    const old = this._grad ? this._grad._data.storage : null;
    this._grad = value;
    noteHolderWrite(this, this._data.storage, old !== null && old !== value?._data.storage ? old : null);
  }

  /** @internal What `tidy` visits: the values, the gradient, and inside `jvp` the tangents. */
  [TIDY_CHILDREN](): unknown[] {
    return isForwardADActive() ? [this._data, this._grad, ...visibleTangents(this)] : [this._data, this._grad];
  }

  /**
   * Frees the values' storage now (and the gradient's), as tfjs's dispose:
   * every tensor or array sharing the storage (views, `detach()`) becomes
   * unusable. PyTorch has no counterpart; see `tidy`.
   */
  dispose(): void {
    this._data.dispose();
    this._grad?.dispose();
    this._grad = null;
  }

  /** True once the values' storage was disposed. */
  get isDisposed(): boolean {
    return this._data.isDisposed;
  }

  /**
   * @internal Makes this tensor the output of `result`'s op (its values were
   * just written into this tensor's storage): an in-place op's graph.
   */
  rebase_(result: Tensor): void {
    this._gradFn = result._gradFn;
    this._requiresGrad = result._requiresGrad;
  }

  /**
   * How many times the values' storage was written in place (PyTorch's
   * `_version`); views and `detach()`ed tensors share it.
   */
  get version(): number {
    return storageVersion(this._data.storage);
  }

  /** @internal Creates the output of a recorded op. */
  static fromNode(data: NDArray, node: Node): Tensor {
    const t = new Tensor(data);
    t._requiresGrad = true;
    t._gradFn = node;
    return t;
  }

  // ---- graph -----------------------------------------------------------------

  get requiresGrad(): boolean {
    return this._requiresGrad;
  }

  set requiresGrad(on: boolean) {
    if (this._gradFn && !on) {
      throw new Error(`requiresGrad: cannot turn off requiresGrad on a non-leaf tensor (made by '${this._gradFn.name}'); use detach()`);
    }
    if (on && !isFloat(this.data.dtype)) {
      throw new TypeError(`requiresGrad: only floating point tensors can require gradients, got ${this.data.dtype}`);
    }
    this._requiresGrad = on;
  }

  /** Sets `requiresGrad` in place and returns this tensor. */
  requiresGrad_(on = true): this {
    this.requiresGrad = on;
    return this;
  }

  /** The recorded op that produced this tensor (null for leaves). */
  get gradFn(): Node | null {
    return this._gradFn;
  }

  /** True for tensors the user created (not produced by a recorded op). */
  get isLeaf(): boolean {
    return this._gradFn === null;
  }

  get retainsGrad(): boolean {
    return this._retainsGrad;
  }

  /** Keeps `.grad` on this non-leaf tensor after backward (leaves always keep it). */
  retainGrad(): this {
    if (!this._requiresGrad) throw new Error('retainGrad: the tensor does not require grad');
    if (this._gradFn) {
      this._gradFn.retainedBy = this;
      this._retainsGrad = true;
    }
    return this;
  }

  /**
   * Registers `hook(grad)`, called with this tensor's gradient whenever one is
   * computed; a returned tensor replaces the gradient.
   */
  registerHook(hook: GradHook): HookHandle {
    if (!this._requiresGrad) throw new Error('registerHook: cannot register a hook on a tensor that does not require grad');
    const list = this._gradFn ? this._gradFn.hooks : (this.leafHooks ??= []);
    list.push(hook);
    return {
      remove: () => {
        const i = list.indexOf(hook);
        if (i >= 0) list.splice(i, 1);
      },
    };
  }

  /** @internal The hooks of a leaf. */
  get hooksOfLeaf(): readonly GradHook[] {
    return this.leafHooks ?? [];
  }

  /**
   * Accumulates the gradient of this tensor into the leaves of its graph.
   * A scalar needs no `gradient`; otherwise pass one of this tensor's shape.
   */
  backward(gradient?: Tensor | null, options: BackwardOptions = {}): void {
    if (gradient !== undefined && gradient !== null && !(gradient instanceof Tensor)) {
      const what = Array.isArray(gradient) ? 'an array' : typeof gradient === 'object' ? 'an options object' : typeof gradient;
      throw new TypeError(`backward: the first argument is the gradient (a Tensor of the output's shape, or null), got ${what}; `
        + 'options go second, as backward(null, { retainGraph: true })');
    }
    runBackward([this], gradient ? [gradient] : undefined, options);
  }

  /** A new tensor sharing the data, cut from the graph. */
  detach(): Tensor {
    return new Tensor(this.data);
  }

  // ---- properties ----------------------------------------------------------------

  get shape(): readonly number[] {
    return this.data.shape;
  }

  get dtype(): DType {
    return this.data.dtype;
  }

  get device(): Device {
    return this.data.device;
  }

  get ndim(): number {
    return this.data.ndim;
  }

  /** Number of elements. */
  get size(): number {
    return this.data.size;
  }

  numel(): number {
    return this.data.size;
  }

  /** Size of `dim`, or the whole shape. */
  dimSize(dim: number): number {
    const d = dim < 0 ? dim + this.ndim : dim;
    if (d < 0 || d >= this.ndim) throw new RangeError(`size: dim ${dim} out of range for shape ${fmtShape(this.shape)}`);
    return this.shape[d];
  }

  item(): number {
    return this.data.item();
  }

  toArray(): NestedArray {
    return this.data.toArray();
  }

  toTypedArray(): TypedArray {
    return this.data.toTypedArray();
  }

  /** `item()` as a Promise: reads through the backend's `readAsync` when it has one (no blocking download). */
  itemAsync(): Promise<number> {
    return this.data.itemAsync();
  }

  /** `toArray()` as a Promise: reads through the backend's `readAsync` when it has one. */
  toArrayAsync(): Promise<NestedArray> {
    return this.data.toArrayAsync();
  }

  toTypedArrayAsync(): Promise<TypedArray> {
    return this.data.toTypedArrayAsync();
  }

  toString(): string {
    if (this.isDisposed) return `Tensor(<disposed>, shape=${fmtShape(this.shape)}, dtype=${this.dtype}, device=${this.device})`;
    const grad = this._gradFn ? `, gradFn=${this._gradFn}` : this._requiresGrad ? ', requiresGrad=true' : '';
    const body = this.size <= 1000 ? JSON.stringify(this.toArray()) : `<${this.size} elements>`;
    return `Tensor(${body}, shape=${fmtShape(this.shape)}, dtype=${this.dtype}${this.device === 'cpu' ? '' : `, device=${this.device}`}${grad})`;
  }

  // ---- conversions -----------------------------------------------------------

  /** A differentiable copy on `device`. */
  to(device: Device): Tensor {
    return vw.toDevice(this, device);
  }

  /** A differentiable conversion to `dtype`. */
  astype(dtype: DType): Tensor {
    return vw.astype(this, dtype);
  }

  float(): Tensor {
    return this.astype('float32');
  }

  double(): Tensor {
    return this.astype('float64');
  }

  clone(): Tensor {
    return vw.clone(this);
  }

  contiguous(): Tensor {
    return this.data.isContiguous() ? this : vw.clone(this);
  }

  // ---- views -----------------------------------------------------------------

  reshape(...shape: number[] | [Shape]): Tensor {
    return vw.reshape(this, flat(shape));
  }

  view(...shape: number[] | [Shape]): Tensor {
    return vw.view(this, flat(shape));
  }

  flatten(startDim = 0, endDim = -1): Tensor {
    return vw.flatten(this, startDim, endDim);
  }

  permute(...dims: number[] | [Shape]): Tensor {
    return vw.permute(this, flat(dims));
  }

  transpose(dim0: number, dim1: number): Tensor {
    return vw.transpose(this, dim0, dim1);
  }

  /** Transpose of the last two dims. */
  get mT(): Tensor {
    return this.ndim < 2 ? this : vw.transpose(this, -2, -1);
  }

  slice(dim: number, start?: number, end?: number, step?: number): Tensor {
    return vw.slice(this, dim, start, end, step);
  }

  narrow(dim: number, start: number, length: number): Tensor {
    return vw.narrow(this, dim, start, length);
  }

  select(dim: number, index: number): Tensor {
    return vw.select(this, dim, index);
  }

  expand(...shape: number[] | [Shape]): Tensor {
    return vw.expand(this, flat(shape));
  }

  broadcastTo(shape: Shape): Tensor {
    return vw.broadcastTo(this, shape);
  }

  squeeze(dim?: number | readonly number[]): Tensor {
    return vw.squeeze(this, dim);
  }

  unsqueeze(dim: number): Tensor {
    return vw.unsqueeze(this, dim);
  }

  // ---- elementwise -------------------------------------------------------------

  add(other: TensorLike): Tensor { return ew.add(this, other); }
  sub(other: TensorLike): Tensor { return ew.sub(this, other); }
  mul(other: TensorLike): Tensor { return ew.mul(this, other); }
  div(other: TensorLike): Tensor { return ew.div(this, other); }
  pow(exponent: TensorLike): Tensor { return ew.pow(this, exponent); }
  maximum(other: TensorLike): Tensor { return ew.maximum(this, other); }
  minimum(other: TensorLike): Tensor { return ew.minimum(this, other); }
  neg(): Tensor { return ew.neg(this); }
  abs(): Tensor { return ew.abs(this); }
  exp(): Tensor { return ew.exp(this); }
  log(): Tensor { return ew.log(this); }
  log1p(): Tensor { return ew.log1p(this); }
  sqrt(): Tensor { return ew.sqrt(this); }
  rsqrt(): Tensor { return ew.rsqrt(this); }
  square(): Tensor { return ew.square(this); }
  reciprocal(): Tensor { return ew.reciprocal(this); }
  sin(): Tensor { return ew.sin(this); }
  cos(): Tensor { return ew.cos(this); }
  tanh(): Tensor { return ew.tanh(this); }
  sigmoid(): Tensor { return ew.sigmoid(this); }
  relu(): Tensor { return ew.relu(this); }
  leakyRelu(negativeSlope?: number): Tensor { return ew.leakyRelu(this, negativeSlope); }
  gelu(options?: { approximate?: 'none' | 'tanh' }): Tensor { return ew.gelu(this, options); }
  erf(): Tensor { return ew.erf(this); }
  softplus(options?: { beta?: number; threshold?: number }): Tensor { return ew.softplus(this, options); }
  clamp(min?: number, max?: number): Tensor { return ew.clamp(this, min, max); }
  sign(): Tensor { return ew.sign(this); }
  eq(other: TensorLike): Tensor { return ew.eq(this, other); }
  ne(other: TensorLike): Tensor { return ew.ne(this, other); }
  lt(other: TensorLike): Tensor { return ew.lt(this, other); }
  le(other: TensorLike): Tensor { return ew.le(this, other); }
  gt(other: TensorLike): Tensor { return ew.gt(this, other); }
  ge(other: TensorLike): Tensor { return ew.ge(this, other); }

  // ---- in place (PyTorch's trailing-underscore methods; see ops/in-place.ts) ----

  /** this += alpha * other, in place; returns this. */
  add_(other: TensorLike, options?: ip.AlphaOptions): this { ip.add_(this, other, options); return this; }
  /** this -= alpha * other, in place; returns this. */
  sub_(other: TensorLike, options?: ip.AlphaOptions): this { ip.sub_(this, other, options); return this; }
  /** this *= other, in place; returns this. */
  mul_(other: TensorLike): this { ip.mul_(this, other); return this; }
  /** this /= other, in place; returns this. */
  div_(other: TensorLike): this { ip.div_(this, other); return this; }
  /** Clamped to [min, max] in place; returns this. */
  clamp_(min?: number, max?: number): this { ip.clamp_(this, min, max); return this; }
  /** Every element set to `value`, in place; returns this. */
  fill_(value: number | Tensor): this { ip.fill_(this, value); return this; }
  /** Every element set to 0, in place; returns this. */
  zero_(): this { ip.zero_(this); return this; }
  /** src's values (broadcast, converted to this dtype and device) written in place; returns this. */
  copy_(src: Tensor): this { ip.copy_(this, src); return this; }
  /** Values drawn from N(mean, std^2) in place; returns this. */
  normal_(mean?: number, std?: number, options?: ip.InPlaceRandomOptions): this { ip.normal_(this, mean, std, options); return this; }
  /** Values drawn uniformly from [from, to) in place; returns this. */
  uniform_(from?: number, to?: number, options?: ip.InPlaceRandomOptions): this { ip.uniform_(this, from, to, options); return this; }

  // ---- reductions --------------------------------------------------------------

  sum(dim?: number | readonly number[], options?: red.ReduceOptions): Tensor { return red.sum(this, dim, options); }
  mean(dim?: number | readonly number[], options?: red.ReduceOptions): Tensor { return red.mean(this, dim, options); }
  var(dim?: number | readonly number[], options?: red.VarOptions): Tensor { return red.variance(this, dim, options); }
  std(dim?: number | readonly number[], options?: red.VarOptions): Tensor { return red.std(this, dim, options); }
  amax(dim?: number | readonly number[], options?: red.ReduceOptions): Tensor { return red.amax(this, dim, options); }
  amin(dim?: number | readonly number[], options?: red.ReduceOptions): Tensor { return red.amin(this, dim, options); }
  /** The largest value of all elements (0-D), or with `dim` the values and indices of the max along it, as torch's `max`. */
  max(): Tensor;
  max(dim: number, options?: red.ReduceOptions): { values: Tensor; indices: Tensor };
  max(dim?: number, options?: red.ReduceOptions): Tensor | { values: Tensor; indices: Tensor } { return dim === undefined ? red.max(this) : red.max(this, dim, options); }
  /** The smallest value of all elements (0-D), or with `dim` the values and indices of the min along it, as torch's `min`. */
  min(): Tensor;
  min(dim: number, options?: red.ReduceOptions): { values: Tensor; indices: Tensor };
  min(dim?: number, options?: red.ReduceOptions): Tensor | { values: Tensor; indices: Tensor } { return dim === undefined ? red.min(this) : red.min(this, dim, options); }
  argmax(dim?: number, options?: red.ReduceOptions): Tensor { return red.argmax(this, dim, options); }
  argmin(dim?: number, options?: red.ReduceOptions): Tensor { return red.argmin(this, dim, options); }
  logsumexp(dim?: number | readonly number[], options?: red.ReduceOptions): Tensor { return red.logsumexp(this, dim, options); }
  softmax(dim: number): Tensor { return red.softmax(this, dim); }
  logSoftmax(dim: number): Tensor { return red.logSoftmax(this, dim); }

  // ---- linear algebra ----------------------------------------------------------

  matmul(other: Tensor): Tensor { return lin.matmul(this, other); }

  // ---- indexing and joining ------------------------------------------------------

  gather(dim: number, index: Tensor): Tensor { return ix.gather(this, dim, index); }
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor { return ix.scatterAdd(this, dim, index, src); }
  indexSelect(dim: number, index: Tensor): Tensor { return ix.indexSelect(this, dim, index); }
  indexAdd(dim: number, index: Tensor, src: Tensor, options?: { alpha?: number }): Tensor { return ix.indexAdd(this, dim, index, src, options); }
  split(splitSizeOrSections: number | readonly number[], dim?: number): Tensor[] { return jn.split(this, splitSizeOrSections, dim); }
  chunk(chunks: number, dim?: number): Tensor[] { return jn.chunk(this, chunks, dim); }
}

function flat(args: number[] | [Shape]): number[] {
  return args.length === 1 && Array.isArray(args[0]) ? [...(args[0] as Shape)] : (args as number[]);
}

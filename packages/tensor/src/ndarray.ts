import type { Device, Storage } from './backend.js';
import { type DType, type TypedArray } from './dtype.js';
import { backendFor } from './registry.js';
import { MARK, checkNotDisposed, disposeStorage, isDisposed, markNewStorage, setArrayPredicate } from './tidy.js';
import {
  type Shape, broadcastShapes, contiguousStrides, fmtShape, inferShape, normalizeDim, shapesEqual, sizeOf,
} from './shape.js';

/** A nested array of numbers, as `toArray()` returns and `fromArray` accepts. */
export type NestedArray = number | NestedArray[];

/**
 * An n-dimensional array: a storage on some device, viewed through a shape,
 * strides (in elements) and an offset. View methods (reshape, permute, slice,
 * expand, ...) share the storage and copy nothing; `contiguous()` copies when
 * the layout is not row-major. It carries no gradient: `@normlab/autograd`
 * wraps it in a differentiable `Tensor`.
 */
export class NDArray {
  readonly shape: readonly number[];
  readonly strides: readonly number[];

  constructor(
    readonly storage: Storage,
    shape: Shape,
    strides: Shape = contiguousStrides(shape),
    readonly offset = 0,
  ) {
    this.shape = shape.slice();
    this.strides = strides.slice();
    // The first array on a storage registers it with the active tidy scope (one property test otherwise).
    if ((storage as { [MARK]?: unknown })[MARK] === undefined) markNewStorage(storage);
  }

  /**
   * Frees the storage now, without waiting for the garbage collector (on a
   * device backend, its device memory). Every array sharing the storage
   * (views, reshapes, `detach()`ed tensors) becomes unusable: ops on them
   * throw `... was disposed`. Calling it twice is harmless.
   */
  dispose(): void {
    disposeStorage(this.storage);
  }

  /** True once the storage was disposed (by `dispose()` or a `tidy` scope). */
  get isDisposed(): boolean {
    return isDisposed(this.storage);
  }

  get dtype(): DType {
    return this.storage.dtype;
  }

  get device(): Device {
    return this.storage.device;
  }

  get ndim(): number {
    return this.shape.length;
  }

  /** Number of elements. */
  get size(): number {
    return sizeOf(this.shape);
  }

  numel(): number {
    return this.size;
  }

  /** True when the elements are laid out row-major without gaps. */
  isContiguous(): boolean {
    if (this.size === 0) return true; // no elements, no layout (as PyTorch)
    let expected = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      if (this.shape[i] === 1) continue;
      if (this.strides[i] !== expected) return false;
      expected *= this.shape[i];
    }
    return true;
  }

  /** This array if it is contiguous, else a contiguous copy. */
  contiguous(): NDArray {
    checkNotDisposed('contiguous', this.storage);
    return this.isContiguous() ? this : backendFor(this.device).copy(this, this.dtype);
  }

  /** A copy converted to `dtype` (this array itself when it already has it). */
  astype(dtype: DType): NDArray {
    if (dtype === this.dtype) return this;
    checkNotDisposed('astype', this.storage);
    const backend = backendFor(this.device);
    // bool(x) is x != 0, so NaN is true as in PyTorch (a plain `x ? 1 : 0` makes it false).
    if (dtype === 'bool') return backend.binary('ne', this, backend.fill([], this.dtype, 0).expand(this.shape), 'bool');
    return backend.copy(this, dtype);
  }

  /** A contiguous copy with its own storage. */
  clone(): NDArray {
    checkNotDisposed('clone', this.storage);
    return backendFor(this.device).copy(this, this.dtype);
  }

  /** A copy on `device` (this array itself when already there). */
  to(device: Device): NDArray {
    if (device === this.device) return this;
    checkNotDisposed('to', this.storage);
    const target = backendFor(device);
    return new NDArray(target.upload(backendFor(this.device).read(this)), this.shape);
  }

  // ---- views ---------------------------------------------------------------

  /** Indexing ops need a dim to index: a 0-D array has none (normalizeDim lets dim 0 through). */
  private requireDims(op: string): void {
    if (this.ndim === 0) throw new RangeError(`${op}: cannot be applied to a 0-D array`);
  }

  private withView(shape: Shape, strides: Shape, offset = this.offset): NDArray {
    return new NDArray(this.storage, shape, strides, offset);
  }

  /**
   * A view with the new shape (one dim may be -1) that shares this storage,
   * or an error when the strides do not allow it (use `reshape` then).
   */
  view(...shape: number[] | [Shape]): NDArray {
    const target = inferShape('view', flatArgs(shape), this.size, this.shape);
    const strides = viewStrides(this.shape, this.strides, target);
    if (!strides) {
      throw new RangeError(
        `view: size and strides of the input ${fmtShape(this.shape)} (strides ${fmtShape(this.strides)}) are not compatible with shape ${fmtShape(target)}; use reshape()`,
      );
    }
    return this.withView(target, strides);
  }

  /** Like `view`, but copies when the layout does not allow a view. */
  reshape(...shape: number[] | [Shape]): NDArray {
    const target = inferShape('reshape', flatArgs(shape), this.size, this.shape);
    const strides = viewStrides(this.shape, this.strides, target);
    if (strides) return this.withView(target, strides);
    const c = this.contiguous();
    return c.withView(target, contiguousStrides(target), c.offset);
  }

  /** Flattens dims `startDim..endDim` (inclusive) into one. */
  flatten(startDim = 0, endDim = -1): NDArray {
    if (this.ndim === 0) return this.reshape([1]);
    const s = normalizeDim('flatten', startDim, this.ndim);
    const e = normalizeDim('flatten', endDim, this.ndim);
    if (s > e) throw new RangeError(`flatten: startDim ${startDim} comes after endDim ${endDim} for rank ${this.ndim}`);
    const shape = [...this.shape.slice(0, s), sizeOf(this.shape.slice(s, e + 1)), ...this.shape.slice(e + 1)];
    return this.reshape(shape);
  }

  /** Reorders the dims: `dims` must be a permutation of 0..ndim-1 (negatives allowed). */
  permute(...dims: number[] | [Shape]): NDArray {
    const order = flatArgs(dims).map((d) => normalizeDim('permute', d, this.ndim));
    if (order.length !== this.ndim || new Set(order).size !== order.length) {
      throw new RangeError(`permute: [${flatArgs(dims).join(',')}] is not a permutation of the ${this.ndim} dims of ${fmtShape(this.shape)}`);
    }
    return this.withView(order.map((d) => this.shape[d]), order.map((d) => this.strides[d]));
  }

  /** Swaps two dims. */
  transpose(dim0: number, dim1: number): NDArray {
    if (this.ndim === 0) {
      normalizeDim('transpose', dim0, 0);
      normalizeDim('transpose', dim1, 0);
      return this;
    }
    const a = normalizeDim('transpose', dim0, this.ndim);
    const b = normalizeDim('transpose', dim1, this.ndim);
    const order = this.shape.map((_, i) => i);
    order[a] = b;
    order[b] = a;
    return this.permute(order);
  }

  /** Matrix transpose of the last two dims (a 1-D or 0-D array is returned as is). */
  get mT(): NDArray {
    return this.ndim < 2 ? this : this.transpose(-2, -1);
  }

  /**
   * Elements `start, start+step, ...` below `end` along `dim`, as Python's
   * `x[start:end:step]` (negative start/end count from the end and are clamped).
   */
  slice(dim: number, start = 0, end: number = Number.MAX_SAFE_INTEGER, step = 1): NDArray {
    const d = normalizeDim('slice', dim, this.ndim);
    this.requireDims('slice');
    if (!Number.isInteger(step) || step <= 0) throw new RangeError(`slice: step must be a positive integer, got ${step}`);
    if (!Number.isInteger(start) || !Number.isInteger(end)) throw new RangeError(`slice: start and end must be integers, got ${start}, ${end}`);
    const n = this.shape[d];
    const clamp = (i: number): number => Math.min(Math.max(i < 0 ? i + n : i, 0), n);
    const s = clamp(start);
    const e = Math.max(clamp(end), s);
    const shape = [...this.shape];
    shape[d] = Math.ceil((e - s) / step);
    const strides = [...this.strides];
    strides[d] = this.strides[d] * step;
    return this.withView(shape, strides, this.offset + s * this.strides[d]);
  }

  /** `length` elements from `start` along `dim`; both must lie inside the dim. */
  narrow(dim: number, start: number, length: number): NDArray {
    const d = normalizeDim('narrow', dim, this.ndim);
    this.requireDims('narrow');
    const n = this.shape[d];
    const s = start < 0 ? start + n : start;
    if (!Number.isInteger(s) || !Number.isInteger(length) || s < 0 || length < 0 || s + length > n) {
      throw new RangeError(`narrow: start ${start} and length ${length} exceed dim ${d} of size ${n} in ${fmtShape(this.shape)}`);
    }
    return this.slice(d, s, s + length);
  }

  /** The slice at `index` along `dim`, with that dim removed. */
  select(dim: number, index: number): NDArray {
    const d = normalizeDim('select', dim, this.ndim);
    this.requireDims('select');
    const n = this.shape[d];
    if (!Number.isInteger(index) || index < -n || index >= n) {
      throw new RangeError(`select: index ${index} is out of range for dim ${d} of size ${n} in ${fmtShape(this.shape)}`);
    }
    const i = index < 0 ? index + n : index;
    const shape = this.shape.filter((_, k) => k !== d);
    const strides = this.strides.filter((_, k) => k !== d);
    return this.withView(shape, strides, this.offset + i * this.strides[d]);
  }

  /**
   * A broadcast view with size-1 dims repeated (stride 0) and new leading
   * dims; -1 keeps a dim's size. Non-size-1 dims must match.
   */
  expand(...shape: number[] | [Shape]): NDArray {
    const target = flatArgs(shape);
    if (target.length < this.ndim) {
      throw new RangeError(`expand: the target ${fmtShape(target)} has fewer dims than the input ${fmtShape(this.shape)}`);
    }
    const lead = target.length - this.ndim;
    const outShape: number[] = [];
    const outStrides: number[] = [];
    for (let i = 0; i < target.length; i++) {
      const want = target[i];
      if (i < lead) {
        if (!Number.isInteger(want) || want < 0) throw new RangeError(`expand: invalid size ${want} for new leading dim ${i} in ${fmtShape(target)}`);
        outShape.push(want);
        outStrides.push(0);
        continue;
      }
      const have = this.shape[i - lead];
      if (want === -1 || want === have) {
        outShape.push(have);
        outStrides.push(this.strides[i - lead]);
      } else if (have === 1 && Number.isInteger(want) && want >= 0) {
        outShape.push(want);
        outStrides.push(0);
      } else {
        throw new RangeError(`expand: cannot expand ${fmtShape(this.shape)} to ${fmtShape(target)} (dim ${i}: size ${have} is not 1 and differs from ${want})`);
      }
    }
    return this.withView(outShape, outStrides);
  }

  /** `expand` to a shape that this one broadcasts to under NumPy rules. */
  broadcastTo(shape: Shape): NDArray {
    const out = broadcastShapes('broadcastTo', this.shape, shape);
    if (!shapesEqual(out, shape)) {
      throw new RangeError(`broadcastTo: ${fmtShape(this.shape)} does not broadcast to ${fmtShape(shape)}`);
    }
    return this.expand(shape);
  }

  /** Removes size-1 dims: all of them, or the given ones (a given dim of another size is kept, as in PyTorch). */
  squeeze(dim?: number | readonly number[]): NDArray {
    const dims = dim === undefined
      ? this.shape.map((_, i) => i)
      : (typeof dim === 'number' ? [dim] : dim).map((d) => normalizeDim('squeeze', d, this.ndim));
    const drop = new Set(dims.filter((d) => this.shape[d] === 1));
    return this.withView(this.shape.filter((_, i) => !drop.has(i)), this.strides.filter((_, i) => !drop.has(i)));
  }

  /** Inserts a size-1 dim at `dim` (in -ndim-1..ndim). */
  unsqueeze(dim: number): NDArray {
    const d = normalizeDim('unsqueeze', dim, this.ndim + 1);
    const shape = [...this.shape];
    const strides = [...this.strides];
    shape.splice(d, 0, 1);
    strides.splice(d, 0, d < this.ndim ? this.strides[d] * this.shape[d] : 1);
    return this.withView(shape, strides);
  }

  // ---- reading -------------------------------------------------------------

  /** The elements in row-major order, as a new host typed array. */
  toTypedArray(): TypedArray {
    checkNotDisposed('toTypedArray', this.storage);
    return backendFor(this.device).read(this);
  }

  /**
   * The elements as a new host typed array, without blocking: the backend's
   * `readAsync` when it has one (a GPU download), else the synchronous read.
   */
  toTypedArrayAsync(): Promise<TypedArray> {
    try {
      checkNotDisposed('toTypedArrayAsync', this.storage);
      const backend = backendFor(this.device);
      return backend.readAsync ? backend.readAsync(this) : Promise.resolve(backend.read(this));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** The elements as nested arrays of numbers (a number for a 0-D array). */
  toArray(): NestedArray {
    checkNotDisposed('toArray', this.storage);
    return nest(this.shape, backendFor(this.device).read(this));
  }

  /** `toArray()` as a Promise, reading through the backend's `readAsync` when it has one. */
  async toArrayAsync(): Promise<NestedArray> {
    checkNotDisposed('toArrayAsync', this.storage);
    return nest(this.shape, await this.toTypedArrayAsync());
  }

  /** The value of a one-element array. */
  item(): number {
    this.checkItem('item');
    return backendFor(this.device).read(this)[0];
  }

  /** `item()` as a Promise, reading through the backend's `readAsync` when it has one. */
  async itemAsync(): Promise<number> {
    this.checkItem('itemAsync');
    return (await this.toTypedArrayAsync())[0];
  }

  private checkItem(op: string): void {
    if (this.size !== 1) throw new RangeError(`${op}: expected a tensor with one element, got shape ${fmtShape(this.shape)} (${this.size} elements)`);
    checkNotDisposed(op, this.storage);
  }

  toString(): string {
    if (this.isDisposed) return `NDArray(<disposed>, shape=${fmtShape(this.shape)}, dtype=${this.dtype}, device=${this.device})`;
    const body = this.size <= 1000 ? JSON.stringify(this.toArray()) : `<${this.size} elements>`;
    return `NDArray(${body}, shape=${fmtShape(this.shape)}, dtype=${this.dtype}, device=${this.device})`;
  }
}

setArrayPredicate((v) => v instanceof NDArray);

/** Row-major host data as nested arrays (a number for 0-D). */
function nest(shape: readonly number[], flat: TypedArray): NestedArray {
  if (shape.length === 0) return flat[0];
  const build = (dim: number, base: number): NestedArray[] => {
    const n = shape[dim];
    const step = sizeOf(shape.slice(dim + 1));
    const out: NestedArray[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = dim === shape.length - 1 ? flat[base + i] : build(dim + 1, base + i * step);
    return out;
  };
  return build(0, 0);
}

/** Accepts `f(2, 3)` and `f([2, 3])` alike. */
function flatArgs(args: number[] | [Shape]): number[] {
  return args.length === 1 && Array.isArray(args[0]) ? [...(args[0] as Shape)] : (args as number[]);
}

/**
 * Strides that view `shape`/`strides` as `target` without copying, or null
 * (PyTorch's computeStride: each run of merged dims must be contiguous).
 */
function viewStrides(shape: Shape, strides: Shape, target: Shape): number[] | null {
  if (sizeOf(shape) === 0 || shape.length === 0 || target.length === 0) return contiguousStrides(target);
  const out = new Array<number>(target.length);
  let viewD = target.length - 1;
  let chunkBase = strides[strides.length - 1];
  let tensorNumel = 1;
  let viewNumel = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    tensorNumel *= shape[d];
    if (d === 0 || (shape[d - 1] !== 1 && strides[d - 1] !== tensorNumel * chunkBase)) {
      while (viewD >= 0 && (viewNumel < tensorNumel || target[viewD] === 1)) {
        out[viewD] = viewNumel * chunkBase;
        viewNumel *= target[viewD];
        viewD--;
      }
      if (viewNumel !== tensorNumel) return null;
      if (d > 0) {
        chunkBase = strides[d - 1];
        tensorNumel = 1;
        viewNumel = 1;
      }
    }
  }
  if (viewD !== -1) return null;
  return out;
}

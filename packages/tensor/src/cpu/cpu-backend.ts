import type { AffineLayout, Backend, BinaryOp, Conv2dGeometry, Pool2dGeometry, ReduceOp, Storage, UnaryOp } from '../backend.js';
import { type DType, type TypedArray, allocTyped, dtypeOfTyped } from '../dtype.js';
import { BINARY_EXPR, FLOAT32_BINARY_EXPR, UNARY_EXPR } from '../elementwise-table.js';
import { NDArray } from '../ndarray.js';
import { type Shape, contiguousStrides, sizeOf } from '../shape.js';
import { writeStrided } from '../strided-write.js';
import { allocUninit } from './alloc.js';
import { normalizeBackward, normalizeForward, normalizeMoments } from './normalize.js';
import { normalizeAffineBackward, normalizeAffineForward } from './normalize-affine.js';
import { axpby } from './axpby.js';
import { col2im, im2col } from './conv.js';
import { im2colMatmul, im2colWeightProducts } from './conv-gemm.js';
import { cat, gather, indexAdd, indexSelect, scatterAdd } from './indexing.js';
import { batchedMatmul } from './matmul.js';
import { avgPool2d, avgPool2dBackward, maxPool2d, maxPool2dBackward } from './pool.js';
import { MARK } from '../tidy.js';
import { type Operand, mapStrided, reduceStrided } from './strided.js';
import { broadcastRows, innerSums, leadingSums } from './broadcast-reduce.js';
import { hasBroadcastKernel } from './wasm/broadcast.js';
import { claimResident, noteMovable, releaseResident } from './wasm/resident.js';
import { WASM_ELEMENTWISE_MIN, hasWasmBinary, hasWasmUnary, wasmBinaryF32, wasmUnaryF32 } from './wasm/elementwise.js';

/** Host memory: a typed array. */
export class CpuStorage implements Storage {
  readonly device = 'cpu';
  readonly dtype: DType;
  readonly length: number;
  private _data: TypedArray | null;
  /** The tidy mark, declared so that setting it keeps the object's shape. */
  [MARK]: unknown = undefined;
  constructor(data: TypedArray) {
    claimResident(data);
    noteMovable(data, this);
    this._data = data;
    this.dtype = dtypeOfTyped(data);
    this.length = data.length;
  }

  /** @internal Takes a resident copy of its float32 values in place of the host array (see `noteMovable`). */
  adoptResident(resident: Float32Array): void {
    claimResident(resident);
    this._data = resident;
  }

  /** The typed array; throws once the storage was disposed. */
  get data(): TypedArray {
    const d = this._data;
    if (d === null) throw new Error('cpu backend: the storage was disposed');
    return d;
  }

  /** Frees a resident array's wasm memory now; otherwise drops the typed array (the garbage collector frees it). */
  dispose(): void {
    releaseResident(this._data);
    this._data = null;
  }
}

/** The typed array behind a CPU array (an error for arrays on other devices). */
export function cpuData(x: NDArray): TypedArray {
  if (!(x.storage instanceof CpuStorage)) throw new Error(`cpu backend: expected a cpu array, got one on '${x.device}'`);
  return x.storage.data;
}

export function operand(x: NDArray): Operand {
  return { data: cpuData(x), offset: x.offset, strides: x.strides };
}

/** Wraps a new host array of `shape` as a contiguous NDArray. */
export function wrap(data: TypedArray, shape: Shape): NDArray {
  return new NDArray(new CpuStorage(data), shape, contiguousStrides(shape), 0);
}

const REDUCE_COMBINE: Record<ReduceOp, { combine: string; init: number }> = {
  sum: { combine: 'A + v', init: 0 },
  prod: { combine: 'A * v', init: 1 },
  // NaN wins, as in torch.max/min.
  max: { combine: '(v > A || v !== v) ? v : A', init: -Infinity },
  min: { combine: '(v < A || v !== v) ? v : A', init: Infinity },
};

/** The reference backend: plain typed arrays, compiled strided loops, WebAssembly GEMM. */
export class CpuBackend implements Backend {
  readonly device = 'cpu';

  upload(data: TypedArray): Storage {
    return new CpuStorage(data);
  }

  read(x: NDArray): TypedArray {
    // The copy is a temporary (resident when large): free it now, not at the next GC.
    const c = this.copy(x, x.dtype);
    const out = cpuData(c).slice();
    c.dispose();
    return out;
  }

  copy(x: NDArray, dtype: DType): NDArray {
    const out = allocUninit(dtype, x.size);
    if (dtype === 'bool') mapStrided('(x ? 1 : 0)', ['x'], out, x.shape, [operand(x)]);
    else mapStrided('x', ['x'], out, x.shape, [operand(x)]);
    return wrap(out, x.shape);
  }

  write(dst: NDArray, src: NDArray): void {
    const out = cpuData(dst);
    // Contiguous into contiguous: one TypedArray.set, which copies correctly even when the two overlap.
    if (dst.isContiguous() && src.isContiguous()) {
      out.set(cpuData(src).subarray(src.offset, src.offset + src.size), dst.offset);
      return;
    }
    // Otherwise a private contiguous copy of src first: src may overlap dst.
    const v = cpuData(this.copy(src, dst.dtype)).subarray(0, dst.size);
    if (dst.isContiguous()) out.set(v, dst.offset);
    else writeStrided(out, dst.shape, dst.strides, dst.offset, v);
  }

  fill(shape: Shape, dtype: DType, value: number): NDArray {
    const out = allocTyped(dtype, sizeOf(shape));
    if (!Object.is(value, 0)) out.fill(value);
    return wrap(out, shape);
  }

  unary(op: UnaryOp, x: NDArray, dtype: DType, params: readonly number[]): NDArray {
    const out = allocUninit(dtype, x.size);
    const data = cpuData(x);
    // Contiguous float32 exp, sigmoid, relu, step: the SIMD kernels (exp and sigmoid within 1 ulp of the JS expression, the others exact).
    if (hasWasmUnary(op) && out instanceof Float32Array && data instanceof Float32Array && x.size >= WASM_ELEMENTWISE_MIN && x.isContiguous()) {
      if (wasmUnaryF32(op, out, data, x.offset)) return wrap(out, x.shape);
    }
    mapStrided(UNARY_EXPR[op], ['x'], out, x.shape, [operand(x)], params[0] ?? 0, params[1] ?? 0);
    return wrap(out, x.shape);
  }

  binary(op: BinaryOp, a: NDArray, b: NDArray, dtype: DType): NDArray {
    const out = allocUninit(dtype, a.size);
    // Contiguous float32 +-*/ without broadcasting: the SIMD kernels (same IEEE results).
    if (hasWasmBinary(op) && out instanceof Float32Array && a.size >= WASM_ELEMENTWISE_MIN) {
      const ad = cpuData(a);
      const bd = cpuData(b);
      if (ad instanceof Float32Array && bd instanceof Float32Array && a.isContiguous() && b.isContiguous()) {
        if (wasmBinaryF32(op, out, ad, a.offset, bd, b.offset)) return wrap(out, a.shape);
      }
    }
    if (hasBroadcastKernel(op) && out instanceof Float32Array && a.size >= WASM_ELEMENTWISE_MIN && broadcastRows(op, out, a, b)) return wrap(out, a.shape);
    const expr = (out instanceof Float32Array ? FLOAT32_BINARY_EXPR[op] : undefined) ?? BINARY_EXPR[op];
    mapStrided(expr, ['a', 'b'], out, a.shape, [operand(a), operand(b)]);
    return wrap(out, a.shape);
  }

  where(cond: NDArray, a: NDArray, b: NDArray, dtype: DType): NDArray {
    const out = allocUninit(dtype, a.size);
    mapStrided('(c ? a : b)', ['c', 'a', 'b'], out, a.shape, [operand(cond), operand(a), operand(b)]);
    return wrap(out, a.shape);
  }

  reduce(op: ReduceOp, x: NDArray, dims: readonly number[], dtype: DType): NDArray {
    const outShape = x.shape.map((d, i) => (dims.includes(i) ? 1 : d));
    const { combine, init } = REDUCE_COMBINE[op];
    // Accumulate in float64 whatever the dtype: sums of float32 keep their precision.
    const acc = new Float64Array(sizeOf(outShape)).fill(init);
    if (x.size > 0 && !(op === 'sum' && (leadingSums(x, dims, acc) || innerSums(x, dims, acc)))) reduceStrided(combine, acc, operand(x), x.shape, new Set(dims));
    const out = allocTyped(dtype, acc.length);
    out.set(acc);
    return wrap(out, outShape);
  }

  argReduce(op: 'argmax' | 'argmin', x: NDArray, dim: number): NDArray {
    const moved = x.transpose(dim, -1).contiguous();
    const data = cpuData(moved);
    const n = x.shape[dim];
    const rows = n === 0 ? 0 : x.size / n;
    const out = new Int32Array(rows);
    const better = op === 'argmax' ? (v: number, best: number) => v > best : (v: number, best: number) => v < best;
    for (let r = 0; r < rows; r++) {
      const base = moved.offset + r * n;
      let bi = 0;
      let bv = data[base];
      if (bv === bv) {
        for (let j = 1; j < n; j++) {
          const v = data[base + j];
          if (v !== v) {
            bi = j; // NaN is the max and the min, as in PyTorch
            break;
          }
          if (better(v, bv)) {
            bv = v;
            bi = j;
          }
        }
      }
      out[r] = bi;
    }
    const movedShape = [...moved.shape];
    movedShape[movedShape.length - 1] = 1;
    return wrap(out, movedShape).transpose(dim, -1).contiguous();
  }

  matmul(a: NDArray, b: NDArray): NDArray {
    return batchedMatmul(a, b);
  }

  cat(xs: readonly NDArray[], dim: number, dtype: DType): NDArray {
    return cat(xs, dim, dtype);
  }

  gather(x: NDArray, dim: number, index: NDArray): NDArray {
    return gather(x, dim, index);
  }

  scatterAdd(shape: Shape, dim: number, index: NDArray, src: NDArray): NDArray {
    return scatterAdd(shape, dim, index, src);
  }

  indexSelect(x: NDArray, dim: number, index: NDArray): NDArray {
    return indexSelect(x, dim, index);
  }

  indexAdd(shape: Shape, dim: number, index: NDArray, src: NDArray): NDArray {
    return indexAdd(shape, dim, index, src);
  }

  im2col(x: NDArray, g: Conv2dGeometry, outSize: [number, number]): NDArray {
    return im2col(x, g, outSize);
  }

  col2im(cols: NDArray, g: Conv2dGeometry, inputShape: Shape, outSize: [number, number]): NDArray {
    return col2im(cols, g, inputShape, outSize);
  }

  axpby(alpha: number, x: NDArray, beta: number, y: NDArray): NDArray {
    return axpby(alpha, x, beta, y);
  }

  im2colMatmul(x: NDArray, weight: NDArray, g: Conv2dGeometry, outSize: [number, number], bias: NDArray | null = null): NDArray | null {
    return im2colMatmul(x, weight, g, outSize, bias);
  }

  im2colWeightProducts(gradOut: NDArray, x: NDArray, g: Conv2dGeometry, outSize: [number, number]): { products: NDArray; transposed: boolean } | null {
    return im2colWeightProducts(gradOut, x, g, outSize);
  }

  maxPool2d(x: NDArray, g: Pool2dGeometry): [NDArray, NDArray] {
    return maxPool2d(x, g);
  }

  maxPool2dBackward(grad: NDArray, indices: NDArray, inputShape: Shape): NDArray {
    return maxPool2dBackward(grad, indices, inputShape);
  }

  avgPool2d(x: NDArray, g: Pool2dGeometry): NDArray {
    return avgPool2d(x, g);
  }

  avgPool2dBackward(grad: NDArray, inputShape: Shape, g: Pool2dGeometry): NDArray {
    return avgPool2dBackward(grad, inputShape, g);
  }

  normalizeMoments(x: NDArray): [NDArray, NDArray] {
    return normalizeMoments(x);
  }

  normalizeForward(x: NDArray, mean: NDArray, invstd: NDArray, weight: NDArray | null, bias: NDArray | null): [NDArray, NDArray] {
    return normalizeForward(x, mean, invstd, weight, bias);
  }

  normalizeBackward(dy: NDArray, xhat: NDArray, invstd: NDArray, weight: NDArray | null): [NDArray, NDArray, NDArray] {
    return normalizeBackward(dy, xhat, invstd, weight);
  }

  normalizeAffineForward(x: NDArray, mean: NDArray, invstd: NDArray, weight: NDArray, bias: NDArray, layout: AffineLayout): [NDArray, NDArray] {
    return normalizeAffineForward(x, mean, invstd, weight, bias, layout);
  }

  normalizeAffineBackward(dy: NDArray, xhat: NDArray, invstd: NDArray, weight: NDArray, layout: AffineLayout, centered: boolean): [NDArray, NDArray, NDArray] {
    return normalizeAffineBackward(dy, xhat, invstd, weight, layout, centered);
  }
}

/** The CPU backend (device 'cpu'), registered by default; other backends may delegate to it. */
export const cpuBackend = new CpuBackend();

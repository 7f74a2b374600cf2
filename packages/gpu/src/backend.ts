import {
  type AffineLayout, type Backend, type BinaryOp, type Conv2dGeometry, type DType, NDArray, type Pool2dGeometry, type ReduceOp, type Shape, type Storage,
  type TypedArray, type UnaryOp, contiguousStrides, cpuBackend, fmtShape, sizeOf, writeStrided,
} from '@normlab/tensor';
import {
  DEVICE_BINARY, DEVICE_UNARY, MAX_ELEMENTS, type NCS, type View, argReduceKernel, binaryKernel, bnAffineKernel, bnBackwardDxKernel,
  bnBackwardSumKernel, bnMeanKernel, bnVarKernel, bnXhatKernel, binaryScalarKernel, catKernel, col2imKernel, gatherKernel, im2colKernel, indexAddKernel,
  indexSelectKernel, matmulKernel, maxPoolBackwardKernel, maxPoolKernel, avgPoolBackwardKernel, avgPoolKernel, reduceKernel, scatterAddKernel,
  shapeKey, unaryKernel, whereConstKernel, whereKernel, blockPlan, reduceStage1Kernel, bnMeanStage1Kernel, bnMeanStage2Kernel, bnVarStage1Kernel,
  bnVarStage2Kernel, bnBackwardSumStage1Kernel, type AffineGB, affineForwardKernel, affineGroupSumKernel, affineGroupSumStage1Kernel,
  affineBackwardDxKernel, affineParamSumKernel, affineParamSumStage1Kernel,
} from './codegen.js';
import type { DeviceClient, KernelArg, KernelDef } from './device.js';
import { GpuStorage } from './storage.js';

const FLOAT64_ERROR = "gpu: float64 tensors are not supported on the device; use .astype('float32') first";

/** The dtype a kernel result is stored as: the device computes in float32, so a float64 request gets float32. */
function stored(dtype: DType): DType {
  return dtype === 'float64' ? 'float32' : dtype;
}

function view(x: NDArray): View {
  return { strides: x.strides, offset: x.offset };
}

function geomKey(g: Conv2dGeometry): string {
  return [g.kernel, g.stride, g.padding, g.dilation].map((p) => p.join(',')).join(';');
}

function isDense(x: NDArray): boolean {
  return x.offset === 0 && x.isContiguous() && x.size === x.storage.length;
}

/**
 * The gpu.js backend: every kernel runs on the device worker; results stay
 * there as GpuStorage buffers (constants from `fill` stay on the host until
 * a kernel needs their buffer). Reductions over long extents run in two
 * stages. The one CPU fallback left (maxPool2dBackward with indices that
 * this backend's maxPool2d did not produce) reads its inputs back, runs on
 * the CPU backend and uploads the result, counted in `gpu.profile()`.
 */
export class GpuBackend implements Backend {
  readonly device = 'gpu';

  /** The window geometry of each maxPool2d's indices (the backward pass is given none). */
  private readonly poolGeometry = new WeakMap<Storage, Conv2dGeometry>();

  constructor(readonly client: DeviceClient) {}

  // ---- buffers --------------------------------------------------------------

  private storageOf(x: NDArray, op: string): GpuStorage {
    const s = x.storage;
    if (!(s instanceof GpuStorage)) throw new Error(`gpu: ${op}: expected an array on 'gpu', got one on '${x.device}'`);
    if (s.disposed) throw new Error(`gpu: ${op}: the array was disposed`);
    if (s.client !== this.client) throw new Error(`gpu: ${op}: the array belongs to a device that was shut down`);
    return s;
  }

  private id(x: NDArray, op: string): KernelArg {
    return { b: this.storageOf(x, op).id };
  }

  private wrap(id: number, shape: Shape, dtype: DType): NDArray {
    const n = sizeOf(shape);
    return new NDArray(new GpuStorage(id, n, stored(dtype), this.client), shape, contiguousStrides(shape), 0);
  }

  private empty(shape: Shape, dtype: DType): NDArray {
    return new NDArray(new GpuStorage(0, 0, stored(dtype), this.client), shape);
  }

  /** The value of a constant array (every element equal, known on the host), or undefined. */
  private constantOf(x: NDArray, op: string): number | undefined {
    return this.storageOf(x, op).constant;
  }

  private check(op: string, n: number): void {
    if (n > MAX_ELEMENTS) {
      throw new RangeError(`gpu: ${op}: ${n} elements exceed the device's limit of ${MAX_ELEMENTS} per array (float32 index arithmetic)`);
    }
  }

  /** Runs a kernel (compiled once per key) into a new array of `shape`. */
  private run(op: string, key: string, def: () => KernelDef, args: KernelArg[], shape: Shape, dtype: DType): NDArray {
    const n = sizeOf(shape);
    this.check(op, n);
    return this.wrap(this.client.run(key, def, op, args), shape, dtype);
  }

  /** The buffer of x as a dense vector (element i at index i): x's own, or a contiguous copy freed by `done`. */
  private dense(x: NDArray, op: string): { arg: KernelArg; done: () => void } {
    if (isDense(x)) return { arg: this.id(x, op), done: () => {} };
    const c = this.copy(x, x.dtype);
    return { arg: this.id(c, op), done: () => (c.storage as GpuStorage).dispose() };
  }

  write(dst: NDArray, src: NDArray): void {
    const s = this.storageOf(dst, 'write');
    if (isDense(dst)) {
      // The whole buffer: a device copy of src becomes its contents.
      s.adopt(this.storageOf(this.copy(src, dst.dtype), 'write'));
      return;
    }
    // A strided part of it: patched on the host (one read and one upload of the buffer), then adopted.
    const whole = this.read(new NDArray(s, [s.length], [1], 0));
    writeStrided(whole, dst.shape, dst.strides, dst.offset, this.read(src));
    s.adopt(this.storageOf(new NDArray(this.upload(whole), [s.length], [1], 0), 'write'));
  }

  upload(data: TypedArray): Storage {
    if (data instanceof Float64Array) throw new TypeError(FLOAT64_ERROR);
    const dtype: DType = data instanceof Float32Array ? 'float32' : data instanceof Int32Array ? 'int32' : 'bool';
    if (data.length === 0) return new GpuStorage(0, 0, dtype, this.client);
    this.check('upload', data.length);
    let f: Float32Array;
    if (data instanceof Float32Array) f = data;
    else if (data instanceof Int32Array) {
      for (let i = 0; i < data.length; i++) {
        const v = data[i];
        if (v > MAX_ELEMENTS || v < -MAX_ELEMENTS) throw new RangeError(`gpu: int32 value ${v} cannot be stored exactly on the device (|v| <= 2^24)`);
      }
      f = Float32Array.from(data);
    } else {
      f = new Float32Array(data.length);
      for (let i = 0; i < data.length; i++) f[i] = data[i] ? 1 : 0;
    }
    return new GpuStorage(this.client.upload(f), data.length, dtype, this.client);
  }

  private fromDevice(values: Float32Array, dtype: DType): TypedArray {
    if (dtype === 'int32') return Int32Array.from(values);
    if (dtype === 'bool') {
      const out = new Uint8Array(values.length);
      for (let i = 0; i < values.length; i++) out[i] = values[i] !== 0 ? 1 : 0;
      return out;
    }
    return values;
  }

  private readable(x: NDArray): { id: number; temp: GpuStorage | null } {
    const s = this.storageOf(x, 'read');
    if (isDense(x)) return { id: s.id, temp: null };
    const c = this.copy(x, x.dtype);
    return { id: (c.storage as GpuStorage).id, temp: c.storage as GpuStorage };
  }

  /** Blocks until x is computed; the errors raised on the device since the last read surface here. */
  read(x: NDArray): TypedArray {
    if (x.size === 0) return this.fromDevice(new Float32Array(0), x.dtype);
    const c = this.constantOf(x, 'read');
    if (c !== undefined) return this.fromDevice(new Float32Array(x.size).fill(c), x.dtype);
    const { id, temp } = this.readable(x);
    try {
      return this.fromDevice(this.client.read(id, `a read of ${x.dtype} ${fmtShape(x.shape)}`), x.dtype);
    } finally {
      temp?.dispose();
    }
  }

  /** The same as read, without blocking the thread. */
  async readAsync(x: NDArray): Promise<TypedArray> {
    if (x.size === 0) return this.fromDevice(new Float32Array(0), x.dtype);
    const c = this.constantOf(x, 'readAsync');
    if (c !== undefined) return this.fromDevice(new Float32Array(x.size).fill(c), x.dtype);
    const { id, temp } = this.readable(x);
    try {
      return this.fromDevice(await this.client.readAsync(id, `an async read of ${x.dtype} ${fmtShape(x.shape)}`), x.dtype);
    } finally {
      temp?.dispose();
    }
  }

  // ---- elementwise ----------------------------------------------------------

  copy(x: NDArray, dtype: DType): NDArray {
    if (x.size === 0) return this.empty(x.shape, dtype);
    const to = stored(dtype);
    const c = this.constantOf(x, 'copy');
    if (c !== undefined) {
      // A copy of a constant is a constant (converted as the copy kernel converts).
      const v = to === 'int32' ? (c === c ? Math.trunc(c) : 0) : to === 'bool' ? (c !== 0 && c === c ? 1 : 0) : c;
      return new NDArray(new GpuStorage(0, x.size, to, this.client, v), x.shape, contiguousStrides(x.shape), 0);
    }
    let expr = 'x';
    if (to === 'int32' && (x.dtype === 'float32' || x.dtype === 'float64')) expr = '(x === x ? Math.trunc(x) : 0.0)';
    else if (to === 'bool') expr = '((x !== 0.0 && x === x) ? 1.0 : 0.0)';
    const key = `copy:${expr}:${shapeKey(x.shape, [view(x)])}`;
    return this.run('copy', key, () => unaryKernel(expr, x.shape, view(x)), [this.id(x, 'copy')], x.shape, to);
  }

  fill(shape: Shape, dtype: DType, value: number): NDArray {
    const n = sizeOf(shape);
    if (n === 0) return this.empty(shape, dtype);
    // A constant storage: no buffer until a kernel needs one (binary ops take the value as a scalar).
    const to = stored(dtype);
    const v = to === 'float32' ? Math.fround(value) : to === 'int32' ? Math.trunc(value) : value !== 0 && value === value ? 1 : 0;
    return new NDArray(new GpuStorage(0, n, to, this.client, v), shape, contiguousStrides(shape), 0);
  }

  unary(op: UnaryOp, x: NDArray, dtype: DType, params: readonly number[]): NDArray {
    if (x.size === 0) return this.empty(x.shape, dtype);
    let expr = DEVICE_UNARY[op];
    if (stored(dtype) === 'int32' && op === 'powScalar') expr = `Math.round(${expr})`;
    const key = `u:${expr}:${shapeKey(x.shape, [view(x)])}`;
    const args: KernelArg[] = [this.id(x, op)];
    if (/\bp1\b/.test(expr)) args.push(params[0] ?? 0, params[1] ?? 0);
    else if (/\bp0\b/.test(expr)) args.push(params[0] ?? 0);
    return this.run(op, key, () => unaryKernel(expr, x.shape, view(x)), args, x.shape, dtype);
  }

  binary(op: BinaryOp, a: NDArray, b: NDArray, dtype: DType): NDArray {
    if (a.size === 0) return this.empty(a.shape, dtype);
    let expr = DEVICE_BINARY[op];
    if (stored(dtype) === 'int32' && op === 'pow') expr = `Math.round(${expr})`;
    const ca = this.constantOf(a, op);
    const cb = this.constantOf(b, op);
    if (cb !== undefined || ca !== undefined) {
      // A constant operand (a plain number, full(), zeros()) goes to the kernel as a scalar parameter.
      const side = cb !== undefined ? 'b' : 'a';
      const x = side === 'b' ? a : b;
      const c = (side === 'b' ? cb : ca) as number;
      const k = `bs:${side}:${expr}:${shapeKey(a.shape, [view(x)])}`;
      return this.run(op, k, () => binaryScalarKernel(expr, a.shape, view(x), side), [this.id(x, op), c], a.shape, dtype);
    }
    const key = `b:${expr}:${shapeKey(a.shape, [view(a), view(b)])}`;
    return this.run(op, key, () => binaryKernel(expr, a.shape, view(a), view(b)), [this.id(a, op), this.id(b, op)], a.shape, dtype);
  }

  where(cond: NDArray, a: NDArray, b: NDArray, dtype: DType): NDArray {
    if (a.size === 0) return this.empty(a.shape, dtype);
    const ca = this.constantOf(a, 'where');
    const cb = this.constantOf(b, 'where');
    if (ca !== undefined || cb !== undefined) {
      // where(mask, x, 0) and the like: the constant goes to the kernel as a scalar.
      const va = ca === undefined ? view(a) : null;
      const vb = cb === undefined ? view(b) : null;
      const k = `whereC:${shapeKey(a.shape, [view(cond), ...(va ? [va] : []), ...(vb ? [vb] : [])])}:${!!va}:${!!vb}`;
      const args: KernelArg[] = [this.id(cond, 'where'), va ? this.id(a, 'where') : (ca as number), vb ? this.id(b, 'where') : (cb as number)];
      return this.run('where', k, () => whereConstKernel(a.shape, view(cond), va, vb), args, a.shape, dtype);
    }
    const key = `where:${shapeKey(a.shape, [view(cond), view(a), view(b)])}`;
    return this.run('where', key, () => whereKernel(a.shape, view(cond), view(a), view(b)),
      [this.id(cond, 'where'), this.id(a, 'where'), this.id(b, 'where')], a.shape, dtype);
  }

  // ---- reductions -----------------------------------------------------------

  reduce(op: ReduceOp, x: NDArray, dims: readonly number[], dtype: DType): NDArray {
    const outShape = x.shape.map((d, i) => (dims.includes(i) ? 1 : d));
    if (sizeOf(outShape) === 0) return this.empty(outShape, dtype);
    if (x.size === 0) return this.fill(outShape, dtype, op === 'prod' ? 1 : op === 'sum' ? 0 : NaN);
    this.check(op, x.size);
    const gk = `${op}:${dims.join(',')}:${shapeKey(x.shape, [view(x)])}`;
    const plan = blockPlan(sizeOf(dims.map((d) => x.shape[d])), sizeOf(outShape));
    if (!plan) return this.run(op, `r:${gk}`, () => reduceKernel(op, x.shape, view(x), dims), [this.id(x, op)], outShape, dtype);
    // Two stages: P partials per output (one thread each), then one thread per output over its partials.
    const O = sizeOf(outShape);
    const { B, P } = plan;
    const part = this.run(op, `r1:${gk}`, () => reduceStage1Kernel(op, x.shape, view(x), dims, B, P), [this.id(x, op)], [O, P], dtype);
    const out = this.partials(op, part, outShape, dtype);
    return out;
  }

  /** Stage 2 of a blocked reduction: reduces the [O, P] partials (freed here) over P into outShape. */
  private partials(op: ReduceOp, part: NDArray, outShape: Shape, dtype: DType): NDArray {
    const [O, P] = part.shape;
    const pv: View = { strides: [P, 1], offset: 0 };
    const out = this.run(op, `r2:${op}:${O}x${P}`, () => reduceKernel(op, [O, P], pv, [1]), [this.id(part, op)], outShape, dtype);
    (part.storage as GpuStorage).dispose();
    return out;
  }

  argReduce(op: 'argmax' | 'argmin', x: NDArray, dim: number): NDArray {
    const outShape = x.shape.map((d, i) => (i === dim ? 1 : d));
    if (sizeOf(outShape) === 0) return this.empty(outShape, 'int32');
    this.check(op, x.size);
    const key = `${op}:${dim}:${shapeKey(x.shape, [view(x)])}`;
    return this.run(op, key, () => argReduceKernel(op, x.shape, view(x), dim), [this.id(x, op)], outShape, 'int32');
  }

  matmul(a: NDArray, b: NDArray): NDArray {
    const [B, M, K] = a.shape;
    const N = b.shape[2];
    const outShape = [B, M, N];
    if (B * M * N === 0) return this.empty(outShape, a.dtype);
    if (K === 0) return this.fill(outShape, a.dtype, 0);
    this.check('matmul', Math.max(a.storage.length, b.storage.length));
    const key = `mm:${B},${M},${K},${N}|${a.offset}:${a.strides.join(',')}|${b.offset}:${b.strides.join(',')}`;
    return this.run('matmul', key, () => matmulKernel(B, M, K, N, view(a), view(b)), [this.id(a, 'matmul'), this.id(b, 'matmul')], outShape, a.dtype);
  }

  // ---- BatchNorm ------------------------------------------------------------

  private ncs(x: NDArray): NCS {
    const [N, C, S] = x.shape;
    return { N, C, S, x: view(x) };
  }

  normalizeMoments(x: NDArray): [NDArray, NDArray] {
    const g = this.ncs(x);
    this.check('normalizeMoments', x.storage.length);
    const op = 'normalizeMoments';
    const gk = shapeKey(x.shape, [view(x)]);
    const plan = blockPlan(g.N * g.S, g.C);
    if (!plan) {
      const mean = this.run(op, `bn.mean:${gk}`, () => bnMeanKernel(g), [this.id(x, op)], [g.C], x.dtype);
      const variance = this.run(op, `bn.var:${gk}`, () => bnVarKernel(g), [this.id(x, op), this.id(mean, op)], [g.C], x.dtype);
      return [mean, variance];
    }
    // Blocked: per channel P partial sums (one thread each), then one thread per channel; the
    // variance is still the second pass, relative to the mean of the first.
    const { B, P } = plan;
    const pm = this.run(op, `bn.mean1:${B}:${gk}`, () => bnMeanStage1Kernel(g, B, P), [this.id(x, op)], [g.C, P], x.dtype);
    const mean = this.run(op, `bn.mean2:${P}:${gk}`, () => bnMeanStage2Kernel(g, P), [this.id(x, op), this.id(pm, op)], [g.C], x.dtype);
    (pm.storage as GpuStorage).dispose();
    const pv = this.run(op, `bn.var1:${B}:${gk}`, () => bnVarStage1Kernel(g, B, P), [this.id(x, op), this.id(mean, op)], [g.C, P, 2], x.dtype);
    const variance = this.run(op, `bn.var2:${P}:${g.C}:${g.N * g.S}`, () => bnVarStage2Kernel(g, P), [this.id(pv, op)], [g.C], x.dtype);
    (pv.storage as GpuStorage).dispose();
    return [mean, variance];
  }

  normalizeForward(x: NDArray, mean: NDArray, invstd: NDArray, weight: NDArray | null, bias: NDArray | null): [NDArray, NDArray] {
    const op = 'normalizeForward';
    const g = this.ncs(x);
    const shape = [g.N, g.C, g.S];
    const m = this.dense(mean, op);
    const s = this.dense(invstd, op);
    const xhat = this.run(op, `bn.xhat:${shapeKey(x.shape, [view(x)])}`, () => bnXhatKernel(g), [this.id(x, op), m.arg, s.arg], shape, x.dtype);
    m.done();
    s.done();
    if (!weight && !bias) return [xhat, xhat];
    const w = weight ? this.dense(weight, op) : null;
    const b = bias ? this.dense(bias, op) : null;
    const args: KernelArg[] = [this.id(xhat, op)];
    if (w) args.push(w.arg);
    if (b) args.push(b.arg);
    const y = this.run(op, `bn.affine:${!!w}:${!!b}:${shape.join('x')}`, () => bnAffineKernel(g, !!w, !!b), args, shape, x.dtype);
    w?.done();
    b?.done();
    return [y, xhat];
  }

  normalizeBackward(dy: NDArray, xhat: NDArray, invstd: NDArray, weight: NDArray | null): [NDArray, NDArray, NDArray] {
    const op = 'normalizeBackward';
    const h = this.ncs(xhat);
    const g: NCS = { ...h, x: view(dy) };
    const shape = [g.N, g.C, g.S];
    const key = shapeKey(shape, [view(dy), view(xhat)]);
    const plan = blockPlan(g.N * g.S, g.C);
    let sdy: NDArray;
    let sdx: NDArray;
    if (!plan) {
      sdy = this.run(op, `bn.sdy:${shapeKey(shape, [view(dy)])}`, () => bnBackwardSumKernel(g, null), [this.id(dy, op)], [g.C], xhat.dtype);
      sdx = this.run(op, `bn.sdx:${key}`, () => bnBackwardSumKernel(g, view(xhat)), [this.id(dy, op), this.id(xhat, op)], [g.C], xhat.dtype);
    } else {
      const { B, P } = plan;
      const py = this.run(op, `bn.sdy1:${B}:${shapeKey(shape, [view(dy)])}`, () => bnBackwardSumStage1Kernel(g, null, B, P), [this.id(dy, op)], [g.C, P], xhat.dtype);
      sdy = this.partials('sum', py, [g.C], xhat.dtype);
      const px = this.run(op, `bn.sdx1:${B}:${key}`, () => bnBackwardSumStage1Kernel(g, view(xhat), B, P), [this.id(dy, op), this.id(xhat, op)], [g.C, P], xhat.dtype);
      sdx = this.partials('sum', px, [g.C], xhat.dtype);
    }
    const s = this.dense(invstd, op);
    const w = weight ? this.dense(weight, op) : null;
    const args: KernelArg[] = [this.id(dy, op), this.id(xhat, op), s.arg, this.id(sdy, op), this.id(sdx, op)];
    if (w) args.push(w.arg);
    const dx = this.run(op, `bn.dx:${!!w}:${key}`, () => bnBackwardDxKernel(g, view(xhat), !!w), args, shape, xhat.dtype);
    s.done();
    w?.done();
    return [dx, sdx, sdy];
  }

  // ---- normalization with the affine map folded in (LayerNorm, GroupNorm, RMSNorm) ----

  private affineGB(x: NDArray, layout: AffineLayout): AffineGB {
    const [, G, B] = x.shape;
    return { G, B, P: layout.period, Q: layout.span, x: view(x) };
  }

  normalizeAffineForward(x: NDArray, mean: NDArray, invstd: NDArray, weight: NDArray, bias: NDArray, layout: AffineLayout): [NDArray, NDArray] {
    const op = 'normalizeAffineForward';
    const a = this.affineGB(x, layout);
    const shape = [1, a.G, a.B];
    const vectors = [mean, invstd, weight, bias].map((v) => this.dense(v, op));
    const key = `${shapeKey(x.shape, [view(x)])}:${a.P}:${a.Q}`;
    const xhat = this.run(op, `na.xhat:${key}`, () => bnXhatKernel({ N: 1, C: a.G, S: a.B, x: a.x }), [this.id(x, op), vectors[0].arg, vectors[1].arg], shape, x.dtype);
    const y = this.run(op, `na.y:${key}`, () => affineForwardKernel(a), [this.id(x, op), ...vectors.map((v) => v.arg)], shape, x.dtype);
    for (const v of vectors) v.done();
    return [y, xhat];
  }

  normalizeAffineBackward(dy: NDArray, xhat: NDArray, invstd: NDArray, weight: NDArray, layout: AffineLayout, centered: boolean): [NDArray, NDArray, NDArray] {
    const op = 'normalizeAffineBackward';
    const a = this.affineGB(dy, layout);
    const h = view(xhat);
    const shape = [1, a.G, a.B];
    const key = `${shapeKey(shape, [a.x, h])}:${a.P}:${a.Q}`;
    const dtype = xhat.dtype;
    const w = this.dense(weight, op);
    // Per group: sum of dy * weight and of dy * weight * xhat (in blocks when the groups are few and long).
    const groupSum = (withXhat: boolean): NDArray => {
      const args = withXhat ? [this.id(dy, op), this.id(xhat, op), w.arg] : [this.id(dy, op), w.arg];
      const hv = withXhat ? h : null;
      const plan = blockPlan(a.B, a.G);
      if (!plan) return this.run(op, `na.gsum:${withXhat}:${key}`, () => affineGroupSumKernel(a, hv), args, [a.G], dtype);
      const part = this.run(op, `na.gsum1:${withXhat}:${plan.B}:${key}`, () => affineGroupSumStage1Kernel(a, hv, plan.B, plan.P), args, [a.G, plan.P], dtype);
      return this.partials('sum', part, [a.G], dtype);
    };
    const sdy = groupSum(false);
    const sdx = groupSum(true);
    const s = this.dense(invstd, op);
    const dx = this.run(op, `na.dx:${centered}:${key}`, () => affineBackwardDxKernel(a, h, centered), [this.id(dy, op), this.id(xhat, op), s.arg, this.id(sdy, op), this.id(sdx, op), w.arg], shape, dtype);
    s.done();
    w.done();
    (sdy.storage as GpuStorage).dispose();
    (sdx.storage as GpuStorage).dispose();
    // Per parameter: sums of dy * xhat (dweight) and of dy (dbias) over the elements it applies to.
    const n = weight.shape[0];
    const paramSum = (withXhat: boolean): NDArray => {
      const args = withXhat ? [this.id(dy, op), this.id(xhat, op)] : [this.id(dy, op)];
      const hv = withXhat ? h : null;
      const plan = blockPlan((a.G / a.P) * a.Q, n);
      if (!plan) return this.run(op, `na.psum:${withXhat}:${key}`, () => affineParamSumKernel(a, hv), args, [n], dtype);
      const part = this.run(op, `na.psum1:${withXhat}:${plan.B}:${key}`, () => affineParamSumStage1Kernel(a, hv, plan.B, plan.P), args, [n, plan.P], dtype);
      return this.partials('sum', part, [n], dtype);
    };
    return [dx, paramSum(true), paramSum(false)];
  }

  // ---- joins and indexing ---------------------------------------------------

  cat(xs: readonly NDArray[], dim: number, dtype: DType): NDArray {
    const outShape = [...xs[0].shape];
    outShape[dim] = xs.reduce((s, x) => s + x.shape[dim], 0);
    if (sizeOf(outShape) === 0) return this.empty(outShape, dtype);
    const parts = xs.filter((x) => x.size > 0);
    const narrowing = parts.some((x) => stored(dtype) !== stored(x.dtype) && (stored(dtype) === 'int32' || stored(dtype) === 'bool') && stored(x.dtype) === 'float32');
    const ps = narrowing ? parts.map((x) => this.copy(x, dtype)) : parts;
    const key = `cat:${dim}:${outShape.join('x')}:${ps.map((p) => shapeKey(p.shape, [view(p)])).join('/')}`;
    const out = this.run('cat', key, () => catKernel(outShape, dim, ps.map((p) => ({ shape: p.shape, view: view(p) }))), ps.map((p) => this.id(p, 'cat')), outShape, dtype);
    if (narrowing) for (const p of ps) (p.storage as GpuStorage).dispose();
    return out;
  }

  gather(x: NDArray, dim: number, index: NDArray): NDArray {
    if (index.size === 0) return this.empty(index.shape, x.dtype);
    const key = `gather:${dim}:${shapeKey(x.shape, [view(x)])}:${shapeKey(index.shape, [view(index)])}`;
    return this.run('gather', key, () => gatherKernel(index.shape, dim, view(x), view(index)), [this.id(x, 'gather'), this.id(index, 'gather')], index.shape, x.dtype);
  }

  indexSelect(x: NDArray, dim: number, index: NDArray): NDArray {
    const outShape = [...x.shape];
    outShape[dim] = index.size;
    if (sizeOf(outShape) === 0) return this.empty(outShape, x.dtype);
    const key = `isel:${dim}:${shapeKey(x.shape, [view(x)])}:${shapeKey(index.shape, [view(index)])}`;
    return this.run('indexSelect', key, () => indexSelectKernel(outShape, dim, view(x), view(index)), [this.id(x, 'indexSelect'), this.id(index, 'indexSelect')], outShape, x.dtype);
  }

  // ---- CPU fallbacks --------------------------------------------------------

  /** Runs `f` on the CPU backend: reads `inputs` back, uploads the results; counted in gpu.profile(). */
  private onCpu<T extends NDArray | NDArray[]>(op: string, inputs: readonly NDArray[], f: (cpu: NDArray[]) => T): T {
    let bytesRead = 0;
    const host = inputs.map((x) => {
      const data = this.read(x);
      bytesRead += data.byteLength;
      return new NDArray(cpuBackend.upload(data), x.shape);
    });
    const out = f(host);
    let bytesUploaded = 0;
    const up = (y: NDArray): NDArray => {
      const data = cpuBackend.read(y);
      bytesUploaded += data.byteLength;
      return new NDArray(this.upload(data), y.shape);
    };
    const result = (Array.isArray(out) ? out.map(up) : up(out)) as T;
    this.client.countFallback(op, bytesRead, bytesUploaded);
    return result;
  }

  // ---- scatter, convolution and pooling ---------------------------------------

  scatterAdd(shape: Shape, dim: number, index: NDArray, src: NDArray): NDArray {
    const dtype = stored(src.dtype);
    if (sizeOf(shape) === 0) return this.empty(shape, dtype);
    if (index.size === 0) return this.fill(shape, dtype, 0);
    // Rank 0 as rank 1 (one element).
    const sh = shape.length === 0 ? [1] : [...shape];
    const ish = index.ndim === 0 ? [1] : [...index.shape];
    const iv: View = index.ndim === 0 ? { strides: [0], offset: index.offset } : view(index);
    const sv: View = src.ndim === 0 ? { strides: [0], offset: src.offset } : { strides: src.strides, offset: src.offset };
    const key = `scatterAdd:${dim}:${sh.join('x')}:${shapeKey(ish, [iv, sv])}`;
    return this.run('scatterAdd', key, () => scatterAddKernel(sh, dim, ish, iv, sv), [this.id(index, 'scatterAdd'), this.id(src, 'scatterAdd')], shape, dtype);
  }

  indexAdd(shape: Shape, dim: number, index: NDArray, src: NDArray): NDArray {
    const dtype = stored(src.dtype);
    if (sizeOf(shape) === 0) return this.empty(shape, dtype);
    if (index.size === 0) return this.fill(shape, dtype, 0);
    const sh = shape.length === 0 ? [1] : [...shape];
    const iv: View = index.ndim === 0 ? { strides: [0], offset: index.offset } : view(index);
    const sv: View = src.ndim === 0 ? { strides: [0], offset: src.offset } : view(src);
    const key = `indexAdd:${dim}:${index.size}:${sh.join('x')}:${shapeKey(sh, [iv, sv])}`;
    return this.run('indexAdd', key, () => indexAddKernel(sh, dim, index.size, iv, sv), [this.id(index, 'indexAdd'), this.id(src, 'indexAdd')], shape, dtype);
  }

  im2col(x: NDArray, g: Conv2dGeometry, outSize: [number, number]): NDArray {
    const [N, C] = x.shape;
    const outShape = [N, C * g.kernel[0] * g.kernel[1], outSize[0] * outSize[1]];
    if (sizeOf(outShape) === 0) return this.empty(outShape, x.dtype);
    if (x.size === 0) return this.fill(outShape, x.dtype, 0);
    const key = `im2col:${geomKey(g)}:${outSize.join('x')}:${shapeKey(x.shape, [view(x)])}`;
    return this.run('im2col', key, () => im2colKernel(x.shape, view(x), g, outSize), [this.id(x, 'im2col')], outShape, x.dtype);
  }

  col2im(cols: NDArray, g: Conv2dGeometry, inputShape: Shape, outSize: [number, number]): NDArray {
    if (sizeOf(inputShape) === 0) return this.empty(inputShape, cols.dtype);
    if (cols.size === 0) return this.fill(inputShape, cols.dtype, 0);
    const key = `col2im:${geomKey(g)}:${outSize.join('x')}:${inputShape.join('x')}:${shapeKey(cols.shape, [view(cols)])}`;
    return this.run('col2im', key, () => col2imKernel(inputShape, view(cols), g, outSize), [this.id(cols, 'col2im')], inputShape, cols.dtype);
  }

  maxPool2d(x: NDArray, g: Pool2dGeometry): [NDArray, NDArray] {
    const [N, C] = x.shape;
    const outShape = [N, C, g.outSize[0], g.outSize[1]];
    if (sizeOf(outShape) === 0) return [this.empty(outShape, x.dtype), this.empty(outShape, 'int32')];
    const key = `${geomKey(g)}:${shapeKey(x.shape, [view(x)])}`;
    const args = [this.id(x, 'maxPool2d')];
    const values = this.run('maxPool2d', `maxPool.v:${key}`, () => maxPoolKernel(x.shape, view(x), g, g.outSize, 'value'), args, outShape, x.dtype);
    const indices = this.run('maxPool2d', `maxPool.i:${key}`, () => maxPoolKernel(x.shape, view(x), g, g.outSize, 'index'), args, outShape, 'int32');
    this.poolGeometry.set(indices.storage, g);
    return [values, indices];
  }

  maxPool2dBackward(grad: NDArray, indices: NDArray, inputShape: Shape): NDArray {
    const op = 'maxPool2dBackward';
    if (sizeOf(inputShape) === 0) return this.empty(inputShape, grad.dtype);
    if (grad.size === 0) return this.fill(inputShape, grad.dtype, 0);
    // The interface passes no geometry: maxPool2d records it per indices storage. Indices from
    // elsewhere (uploaded by the user) have no known windows: those run on the CPU, counted.
    const g = this.poolGeometry.get(indices.storage);
    if (!g) return this.onCpu(op, [grad, indices], ([gr, i]) => cpuBackend.maxPool2dBackward(gr, i, inputShape));
    const outSize: [number, number] = [grad.shape[2], grad.shape[3]];
    const key = `maxPoolB:${geomKey(g)}:${inputShape.join('x')}:${shapeKey(grad.shape, [view(grad), view(indices)])}`;
    return this.run(op, key, () => maxPoolBackwardKernel(inputShape, view(grad), view(indices), g, outSize), [this.id(grad, op), this.id(indices, op)], inputShape, grad.dtype);
  }

  avgPool2d(x: NDArray, g: Pool2dGeometry): NDArray {
    const [N, C] = x.shape;
    const outShape = [N, C, g.outSize[0], g.outSize[1]];
    if (sizeOf(outShape) === 0) return this.empty(outShape, x.dtype);
    const key = `avgPool:${geomKey(g)}:${g.countIncludePad}:${shapeKey(x.shape, [view(x)])}`;
    return this.run('avgPool2d', key, () => avgPoolKernel(x.shape, view(x), g, g.outSize), [this.id(x, 'avgPool2d')], outShape, x.dtype);
  }

  avgPool2dBackward(grad: NDArray, inputShape: Shape, g: Pool2dGeometry): NDArray {
    if (sizeOf(inputShape) === 0) return this.empty(inputShape, grad.dtype);
    const key = `avgPoolB:${geomKey(g)}:${g.countIncludePad}:${inputShape.join('x')}:${shapeKey(grad.shape, [view(grad)])}`;
    return this.run('avgPool2dBackward', key, () => avgPoolBackwardKernel(inputShape, view(grad), g, g.outSize), [this.id(grad, 'avgPool2dBackward')], inputShape, grad.dtype);
  }
}

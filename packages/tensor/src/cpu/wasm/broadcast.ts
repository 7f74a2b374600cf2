/**
 * Broadcast float32 arithmetic, column sums and row sums on the WebAssembly
 * SIMD kernels: the patterns of a bias add, a LayerNorm or per-channel affine
 * map and their gradients' reductions, which the same-shape kernels
 * (elementwise.ts) do not cover.
 *
 * An op over a loop [...outer, L] (the op's dims merged, as the strided loops
 * merge them) runs row by row: in each operand a row is L contiguous values
 * or one value splat over the row, and rows are anywhere (a full array, a
 * row repeated for every row, a value per channel of an NCHW array).
 * Inputs not in wasm memory are copied in whole (`withAddresses`). The
 * kernels work on whole vectors of 4; the last L mod 4 elements of each row
 * are computed in JavaScript, whose double result rounded to float32 equals
 * the float32 IEEE op, so every element is bit-identical to the JS loop.
 */
import type { BinaryOp } from '../../backend.js';
import { type Kernels, getKernels } from './kernels.js';
import { withAddresses, withStaging } from './resident.js';

/** Rows shorter than this stay on the JS loop (a kernel call per row would cost more). */
export const BROADCAST_MIN_ROW = 16;

/**
 * One operand of a row-wise op: element (i..., j) is data[offset + sum(i_d *
 * outerStrides[d]) + j * step], step 0 or 1.
 */
export interface RowOperand {
  data: Float32Array;
  offset: number;
  outerStrides: readonly number[];
  step: 0 | 1;
}

type ArithOp = 'add' | 'sub' | 'mul' | 'div';
const JS_OP: Record<ArithOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
};

/** True for the ops with broadcast kernels. */
export function hasBroadcastKernel(op: BinaryOp): op is ArithOp {
  return op in JS_OP;
}

/** Elements from the first to the last over [...outer, L]: rows at the outer `strides` (never negative), elements `step` apart. */
function span(outer: readonly number[], strides: readonly number[], L: number, step: number): number {
  let e = (L - 1) * step + 1;
  for (let d = 0; d < outer.length; d++) e += (outer[d] - 1) * strides[d];
  return e;
}

/**
 * out (contiguous [...outer, L]) = a op b, elementwise; at least one operand
 * has step 1. False (nothing written that the caller keeps) where the kernels
 * or the memory are unavailable.
 */
export function wasmBinaryRowsF32(op: ArithOp, out: Float32Array, a: RowOperand, b: RowOperand, outer: readonly number[], L: number): boolean {
  const k = getKernels();
  if (!k || (a.step === 0 && b.step === 0)) return false;
  const inputs = [a, b].map((x) => ({ data: x.data, offset: x.offset, length: span(outer, x.outerStrides, L, x.step) }));
  return withAddresses(k, inputs, [out], ([aAt, bAt], [oAt]) => {
    rows(k, op, oAt, aAt, a, bAt, b, outer, L);
    return true;
  }) ?? false;
}

function rows(k: Kernels, op: ArithOp, oAt: number, aAt: number, a: RowOperand, bAt: number, b: RowOperand, outer: readonly number[], L: number): void {
  const L4 = L & ~3;
  const same = { add: k.add_f32, sub: k.sub_f32, mul: k.mul_f32, div: k.div_f32 }[op];
  const kernel = a.step && b.step ? same : a.step ? k.broadcast[op].vs : k.broadcast[op].sv;
  const f = JS_OP[op];
  const heap = new Float32Array(k.memory.buffer);
  const R = outer.reduce((p, d) => p * d, 1);
  const idx = new Array<number>(outer.length).fill(0);
  // Element offsets of the current row in a and b, advanced like an odometer over the outer dims
  // (written out here and in wasmRowSumsF32: a shared walker with a callback per row cost ~5% of
  // GroupNorm, whose affine map has 8192 rows of 256).
  let ai = 0;
  let bi = 0;
  for (let r = 0; r < R; r++) {
    const ar = aAt + ai * 4;
    const br = bAt + bi * 4;
    const or = oAt + r * L * 4;
    kernel(or, ar, br, L4);
    for (let j = L4; j < L; j++) heap[(or >> 2) + j] = f(heap[(ar >> 2) + j * a.step], heap[(br >> 2) + j * b.step]);
    for (let d = outer.length - 1; d >= 0; d--) {
      ai += a.outerStrides[d];
      bi += b.outerStrides[d];
      if (++idx[d] < outer[d]) break;
      ai -= a.outerStrides[d] * outer[d];
      bi -= b.outerStrides[d] * outer[d];
      idx[d] = 0;
    }
  }
}

/**
 * acc[j] = the sum over r < R of x[offset + r * L + j] (j < L), rows added in
 * order in float64, as the JS reduction loop adds them. False where the
 * kernels or the memory are unavailable.
 */
export function wasmColumnSumsF32(x: Float32Array, offset: number, R: number, L: number, acc: Float64Array): boolean {
  const k = getKernels();
  if (!k) return false;
  return withAddresses(k, [{ data: x, offset, length: R * L }], [], ([xAt]) => withStaging(k, L * 8, (sums) => {
    const f64 = new Float64Array(k.memory.buffer, sums, L);
    f64.fill(0);
    const L4 = L & ~3;
    k.colsum_f32(sums, xAt, R, L4, L * 4);
    if (L4 < L) {
      const heap = new Float32Array(k.memory.buffer);
      for (let r = 0; r < R; r++) for (let j = L4; j < L; j++) f64[j] += heap[(xAt >> 2) + r * L + j];
    }
    acc.set(f64);
    return true;
  })) ?? false;
}

/**
 * acc[o] += the sum of each row of L contiguous floats of x, over the loop
 * [...outer, L] with x's strides `xs` and acc's `os` for the outer dims:
 * rows are added in the loop's order, each row's own sum in float64 in no
 * fixed order (so within float32 rounding of the in-order sums, not bit for
 * bit). False where the kernels or the memory are unavailable.
 */
export function wasmRowSumsF32(x: Float32Array, offset: number, outer: readonly number[], xs: readonly number[], os: readonly number[], L: number, acc: Float64Array): boolean {
  const k = getKernels();
  if (!k) return false;
  return withAddresses(k, [{ data: x, offset, length: span(outer, xs, L, 1) }], [], ([xAt]) => {
    const heap = new Float32Array(k.memory.buffer);
    const L8 = L & ~7;
    const R = outer.reduce((p, d) => p * d, 1);
    const idx = new Array<number>(outer.length).fill(0);
    let px = 0;
    let po = 0;
    for (let r = 0; r < R; r++) {
      let s = k.rowsum_f32(xAt + px * 4, L8);
      for (let j = L8; j < L; j++) s += heap[(xAt >> 2) + px + j];
      acc[po] += s;
      for (let d = outer.length - 1; d >= 0; d--) {
        px += xs[d];
        po += os[d];
        if (++idx[d] < outer[d]) break;
        px -= xs[d] * outer[d];
        po -= os[d] * outer[d];
        idx[d] = 0;
      }
    }
    return true;
  }) ?? false;
}

/**
 * Which float32 broadcast ops and sums of the CPU backend run on the SIMD
 * kernels of wasm/broadcast.ts: each function reads an op's layout and runs
 * the kernel when the layout fits, returning false (nothing written) when it
 * does not, so that the backend falls back to its strided JS loops.
 */
import type { NDArray } from '../ndarray.js';
import { contiguousStrides } from '../shape.js';
import { cpuData } from './cpu-backend.js';
import { collapseDims, reductionLoop } from './strided.js';
import { BROADCAST_MIN_ROW, type RowOperand, wasmBinaryRowsF32, wasmColumnSumsF32, wasmRowSumsF32 } from './wasm/broadcast.js';
import { WASM_ELEMENTWISE_MIN } from './wasm/elementwise.js';

/**
 * a op b on the broadcast kernels when, in the op's merged loop, each
 * operand's innermost dim is contiguous or splat (a bias add, an affine map
 * per feature or per channel); false (nothing written) otherwise.
 */
export function broadcastRows(op: 'add' | 'sub' | 'mul' | 'div', out: Float32Array, a: NDArray, b: NDArray): boolean {
  const ad = cpuData(a);
  const bd = cpuData(b);
  if (!(ad instanceof Float32Array && bd instanceof Float32Array)) return false;
  const { shape, strides } = collapseDims(a.shape, [contiguousStrides(a.shape), a.strides, b.strides]);
  if (shape.length === 0) return false;
  const L = shape[shape.length - 1];
  if (L < BROADCAST_MIN_ROW) return false;
  const outer = shape.slice(0, -1);
  const rowOperand = (data: Float32Array, offset: number, s: number[]): RowOperand | null => {
    const step = s[s.length - 1];
    if (step !== 0 && step !== 1) return null;
    return { data, offset, outerStrides: s.slice(0, -1), step };
  };
  const ra = rowOperand(ad, a.offset, strides[1]);
  const rb = rowOperand(bd, b.offset, strides[2]);
  return ra !== null && rb !== null && wasmBinaryRowsF32(op, out, ra, rb, outer, L);
}

/**
 * Sums of a contiguous float32 x over leading dims (the kept dims trailing:
 * a bias gradient) into acc, by the column-sum kernel; false otherwise.
 */
export function leadingSums(x: NDArray, dims: readonly number[], acc: Float64Array): boolean {
  const d = cpuData(x);
  if (!(d instanceof Float32Array) || x.size < WASM_ELEMENTWISE_MIN || !x.isContiguous()) return false;
  // Every reduced dim of size > 1 must come before every kept one of size > 1.
  let R = 1;
  let seenKept = false;
  for (let i = 0; i < x.ndim; i++) {
    if (x.shape[i] === 1) continue;
    if (dims.includes(i)) {
      if (seenKept) return false;
      R *= x.shape[i];
    } else seenKept = true;
  }
  const L = x.size / R;
  return L >= 4 && R > 1 && wasmColumnSumsF32(d, x.offset, R, L, acc);
}

/**
 * Sums of float32 x whose innermost dim (in memory order) is reduced and
 * contiguous (a per-channel gradient over [N, C, H, W], a mean over
 * features) on the row-sum kernel; false otherwise. Rows are added in the
 * JS loop's order, each row summed in float64 in another order.
 */
export function innerSums(x: NDArray, dims: readonly number[], acc: Float64Array): boolean {
  const d = cpuData(x);
  if (!(d instanceof Float32Array) || x.size < WASM_ELEMENTWISE_MIN) return false;
  const { shape, xs, os } = reductionLoop(x.shape, x.strides, new Set(dims));
  const last = shape.length - 1;
  if (xs[last] !== 1 || os[last] !== 0 || shape[last] < BROADCAST_MIN_ROW) return false;
  return wasmRowSumsF32(d, x.offset, shape.slice(0, last), xs.slice(0, last), os.slice(0, last), shape[last], acc);
}

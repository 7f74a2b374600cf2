/**
 * BatchNorm on [N, C] float32 arrays (BatchNorm1d over features) on the
 * WebAssembly SIMD kernels: per-column float64 passes over the rows, four
 * columns per step, each column's values added in row order. So the
 * statistics, xhat, y, the backward sums and dx are exactly what the JS
 * loops of ../batch-norm.ts compute. Inputs not in wasm memory are copied in
 * whole (`withAddresses`). Each function returns false (nothing written that
 * the caller keeps) where the kernels or the memory are unavailable, or C is
 * not a multiple of 4.
 */
import { getKernels } from './kernels.js';
import { withAddresses, withStaging } from './resident.js';

/** Whether [N, C] arrays of this width run on the column kernels. */
export function hasColumnKernels(C: number): boolean {
  return C % 4 === 0 && C > 0 && getKernels() !== null;
}

/** f64 arrays copied to consecutive blocks of C values at `base`; their addresses. */
function putF64(heap: Float64Array, base: number, C: number, arrays: readonly Float64Array[]): number[] {
  return arrays.map((a, i) => {
    heap.set(a, (base >> 3) + i * C);
    return base + i * C * 8;
  });
}

/** Per-column sum and sum of squared deviations from the mean sum / N (in row order). */
export function wasmColumnStats(x: Float32Array, o: number, N: number, C: number, sum: Float64Array, sq: Float64Array): boolean {
  const k = getKernels();
  if (!k || !hasColumnKernels(C)) return false;
  return withAddresses(k, [{ data: x, offset: o, length: N * C }], [], ([xAt]) => withStaging(k, C * 24, (t) => {
    const heap = new Float64Array(k.memory.buffer);
    const [sumAt, sqAt, muAt] = putF64(heap, t, C, [new Float64Array(C), new Float64Array(C), new Float64Array(C)]);
    k.colsum_f32(sumAt, xAt, N, C, C * 4);
    sum.set(heap.subarray(sumAt >> 3, (sumAt >> 3) + C));
    heap.set(sum.map((v) => v / N), muAt >> 3);
    k.colsqdev_f32(sqAt, xAt, N, C, C * 4, muAt);
    sq.set(heap.subarray(sqAt >> 3, (sqAt >> 3) + C));
    return true;
  })) ?? false;
}

/** xhat = (x - mu) * is, and y = xhat * w + b (w, b of ones and zeros when missing) when `y` is given. */
export function wasmColumnForward(
  x: Float32Array, o: number, N: number, C: number, mu: Float64Array, is: Float64Array, w: Float64Array | null, b: Float64Array | null,
  xhat: Float32Array, y: Float32Array | null,
): boolean {
  const k = getKernels();
  if (!k || !hasColumnKernels(C)) return false;
  return withAddresses(k, [{ data: x, offset: o, length: N * C }], y ? [xhat, y] : [xhat], ([xAt], [hAt, yAt = hAt]) => withStaging(k, C * 32, (t) => {
    const scale = w ?? new Float64Array(C).fill(1);
    const shift = b ?? new Float64Array(C);
    const [muAt, isAt, scaleAt, shiftAt] = putF64(new Float64Array(k.memory.buffer), t, C, [mu, is, scale, shift]);
    k.colnorm_f32(yAt, hAt, xAt, muAt, isAt, scaleAt, shiftAt, y ? 1 : 0, N, C, C * 4);
    return true;
  })) ?? false;
}

/**
 * The backward sums sdy = sum(g), sdx = sum(g * h) per column (in row order),
 * then dx = A * g + B * h + D with the per-column A, B, D that `coefficients`
 * computes from them.
 */
export function wasmColumnBackward(
  g: Float32Array, go: number, h: Float32Array, ho: number, N: number, C: number, dx: Float32Array,
  coefficients: (sdy: Float64Array, sdx: Float64Array) => [Float64Array, Float64Array, Float64Array],
): boolean {
  const k = getKernels();
  if (!k || !hasColumnKernels(C)) return false;
  const inputs = [{ data: g, offset: go, length: N * C }, { data: h, offset: ho, length: N * C }];
  return withAddresses(k, inputs, [dx], ([gAt, hAt], [dxAt]) => withStaging(k, C * 40, (t) => {
    let heap = new Float64Array(k.memory.buffer);
    const [sdyAt, sdxAt] = putF64(heap, t, C, [new Float64Array(C), new Float64Array(C)]);
    k.colsumprod_f32(sdyAt, sdxAt, gAt, hAt, N, C, C * 4);
    heap = new Float64Array(k.memory.buffer);
    const [A, B, D] = coefficients(heap.slice(sdyAt >> 3, (sdyAt >> 3) + C), heap.slice(sdxAt >> 3, (sdxAt >> 3) + C));
    const [aAt, bAt, dAt] = putF64(heap, t + C * 16, C, [A, B, D]);
    k.coldx_f32(dxAt, gAt, hAt, aAt, bAt, dAt, N, C, C * 4);
    return true;
  })) ?? false;
}

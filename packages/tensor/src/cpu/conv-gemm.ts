/**
 * A convolution's products image by image on the wasm kernels: each image's
 * columns are built by im2col into a buffer that stays in cache and are
 * multiplied at once (`conv_images_f32`). The generic path builds every
 * image's columns first ([N, Kg, L], tens of MiB for a batch) and then runs
 * the GEMMs, which read them back from memory: on a small conv net the same
 * GEMMs ran at half the speed they reach on cached operands. Images are split
 * between the threads, each with its own columns buffer. Each image's product
 * is the one the generic path computes, so the results are the same.
 */
import type { Conv2dGeometry } from '../backend.js';
import type { NDArray } from '../ndarray.js';
import { allocUninit } from './alloc.js';
import { im2colTable } from './conv.js';
import { cpuData, wrap } from './cpu-backend.js';
import { PARALLEL_MIN_FLOPS } from './matmul.js';
import { GEMM_MR, GEMM_NR, type Kernels, getKernels } from './wasm/kernels.js';
import { releaseResident, withAddresses, withStaging } from './wasm/resident.js';
import { EW_CONV_IMAGES, runRanges, splitThreads } from './wasm/thread-pool.js';

/** i32 words of the geometry block `conv_images_f32` reads (the word of each field below). */
const CONV_IMAGE_WORDS = 20;
const FORWARD = 0;
const WEIGHT_GRAD = 1;
const WEIGHT_GRAD_TRANSPOSED = 2;

const align16 = (n: number): number => Math.ceil(n / 16) * 16;

/** Micro-tiles of an M x N product: the kernel pads edge tiles, so fewer tiles is less wasted work. */
const tiles = (M: number, N: number): number => Math.ceil(M / GEMM_MR) * Math.ceil(N / GEMM_NR);

/**
 * out [N, Cout, L] with out[n] = weight [Cout, Kg] @ im2col(x[n]) (+ bias
 * [Cout] per row, the values of a separate add) for float32 x [N, C, H, W]
 * (Kg = C * kh * kw); null where the kernels or their memory are unavailable
 * or the dtype is not float32 (the caller runs im2col and matmul instead).
 */
export function im2colMatmul(x: NDArray, weight: NDArray, g: Conv2dGeometry, outSize: [number, number], bias: NDArray | null = null): NDArray | null {
  const k = getKernels();
  if (!k || x.dtype !== 'float32' || weight.dtype !== 'float32' || (bias && bias.dtype !== 'float32')) return null;
  const [N] = x.shape;
  const M = weight.shape[0];
  const L = outSize[0] * outSize[1];
  const out = allocUninit('float32', N * M * L);
  if (!runImages(k, FORWARD, x, weight.contiguous(), M, g, outSize, out, bias?.contiguous() ?? null)) {
    releaseResident(out);
    return null;
  }
  return wrap(out, [N, M, L]);
}

/**
 * Each image's weight gradient, gradOut[n] [Cout, L] @ im2col(x[n])^T, as
 * [N, Cout, Kg] or, when that product has fewer edge tiles, as [N, Kg, Cout]
 * (`transposed`), for float32; null as for im2colMatmul. The caller sums
 * over images.
 */
export function im2colWeightProducts(gradOut: NDArray, x: NDArray, g: Conv2dGeometry, outSize: [number, number]): { products: NDArray; transposed: boolean } | null {
  const k = getKernels();
  if (!k || x.dtype !== 'float32' || gradOut.dtype !== 'float32') return null;
  const [N, M] = gradOut.shape;
  const Kg = x.shape[1] * g.kernel[0] * g.kernel[1];
  const transposed = tiles(Kg, M) < tiles(M, Kg);
  const out = allocUninit('float32', N * M * Kg);
  if (!runImages(k, transposed ? WEIGHT_GRAD_TRANSPOSED : WEIGHT_GRAD, x, gradOut.contiguous(), M, g, outSize, out)) {
    releaseResident(out);
    return null;
  }
  return { products: wrap(out, transposed ? [N, Kg, M] : [N, M, Kg]), transposed };
}

/**
 * Runs `conv_images_f32` over all images of x in `mode`, with `operand` the
 * weight [M, Kg] (forward, with `bias` [M] added when given) or gradOut
 * [N, M, L] (weight gradient), each image's product to its place in `out`;
 * false where memory cannot hold its buffers.
 */
function runImages(
  k: Kernels, mode: number, x0: NDArray, operand: NDArray, M: number, g: Conv2dGeometry, outSize: [number, number], out: Float32Array,
  bias: NDArray | null = null,
): boolean {
  const x = x0.contiguous();
  const [N, C, H, W] = x.shape;
  const [kh, kw] = g.kernel;
  const L = outSize[0] * outSize[1];
  const Kg = C * kh * kw;
  const threads = splitThreads(k, N, 2 * N * M * Kg * L >= PARALLEL_MIN_FLOPS);
  const table = im2colTable(g, H, W, outSize);
  const colsBytes = align16(Kg * L * 4);
  const tableAt = align16(CONV_IMAGE_WORDS * 4);
  const colsAt = tableAt + align16(table.byteLength);
  const bytes = colsAt + threads * colsBytes;
  const inputs = [x, operand, ...(bias ? [bias] : [])].map((a) => ({ data: cpuData(a) as Float32Array, offset: a.offset, length: a.size }));
  return withAddresses(k, inputs, [out], ([xAt, opAt, biasAt], [outAt]) =>
    withStaging(k, bytes, (s) => {
      const words = new Int32Array(k.memory.buffer, s, CONV_IMAGE_WORDS);
      words.set([
        xAt, C * H * W * 4, C, H * W, W, g.stride[0], g.stride[1], kh, kw, outSize[0], outSize[1], s + tableAt,
        opAt, M, Kg, opAt, M * L * 4, mode, (mode === FORWARD ? M * L : M * Kg) * 4, biasAt ?? 0,
      ]);
      new Int32Array(k.memory.buffer, s + tableAt, table.length).set(table);
      runRanges(k, EW_CONV_IMAGES, N, threads, (t, lo, hi) => [s, lo, hi, s + colsAt + t * colsBytes, outAt]);
      return true;
    })) ?? false;
}

/**
 * Loads the WebAssembly kernels (built from `kernels-wat.mjs` by
 * `scripts/build-wasm.mjs`) over one shared memory, which the GEMM thread pool
 * shares too. Layout of the memory: a control block (the pool's job table),
 * then the blocks of an `Arena`: each thread's packing scratch, per-call
 * staging, and resident arrays (see resident.ts).
 */
import { Arena } from './arena.js';
import { EXP_CONSTS, GEMM_MR, GEMM_NR, GEMM_SCRATCH_BYTES, KERNELS_FMA_WASM_BASE64, KERNELS_WASM_BASE64 } from './kernels-wasm.generated.js';

export { EXP_CONSTS, GEMM_MR, GEMM_NR, GEMM_SCRATCH_BYTES };

/** Signature of the exported GEMM; pointers in bytes, strides in floats. */
export type GemmFn = (
  M: number, N: number, K: number,
  a: number, rsa: number, csa: number,
  b: number, rsb: number, csb: number,
  c: number, ldc: number, accumulate: number, scratch: number,
) => void;

/** The parts of a `WebAssembly.Memory` we use (the es2022 lib has no WebAssembly types). */
export interface WasmMemory {
  readonly buffer: SharedArrayBuffer;
  grow(pages: number): number;
}

/** The parts of the WebAssembly JS API we use; a compiled module stays opaque. */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  validate(bytes: Uint8Array): boolean;
  Memory: new (desc: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}

/** A float32 binary kernel: out[i] = a[i] op b[i] for ceil(n / 4) vectors of 4; byte addresses. */
export type BinaryF32Fn = (out: number, a: number, b: number, n: number) => void;
/** float32 exp over ceil(n / 4) vectors of 4; `consts` is where EXP_CONSTS are stored as float32. */
export type ExpF32Fn = (out: number, x: number, n: number, consts: number) => void;

/** Per-run mean and M2 (f64 pairs at `out`) of `count` runs of `len` floats from `x`. */
export type BnStatsFn = (x: number, count: number, len: number, out: number) => void;
/** xhat (and y when `affine`) of `count` runs of `len` floats; run i uses the f64 constants of channel (c + i) mod C. */
export type BnForwardFn = (x: number, y: number, h: number, count: number, len: number, params: number, C: number, c: number, affine: number) => void;
/**
 * One channel of the fused backward over `len` gathered floats of dy (at g) and
 * xhat (at h): reads f64 (kc, m) at p, writes f64 (sum(dy), sum(dy xhat)) at p + 16
 * and dx = kc (m dy - sum(dy) - xhat sum(dy xhat)) over dy.
 */
export type BnBackwardChannelFn = (g: number, h: number, len: number, p: number) => void;
/**
 * One channel of the fused backward in place: `N` runs of `len` floats, `stride`
 * bytes apart, of dy (at g) and xhat (at h); dx to the same places under `dx`.
 * The f64 words at p as for BnBackwardChannelFn; p + 32 is 16 bytes of scratch.
 */
export type BnBackwardChannelStridedFn = (g: number, h: number, dx: number, N: number, len: number, stride: number, p: number) => void;

/**
 * The two builds of the kernels: 'relaxed-simd' has the GEMM on relaxed SIMD's
 * fused multiply-add (about 1.2x the plain GEMM's speed on large products),
 * 'simd128' is plain WebAssembly SIMD for runtimes without relaxed SIMD
 * (Node 20 unless started with --experimental-wasm-relaxed-simd).
 */
export type KernelVariant = 'relaxed-simd' | 'simd128';

export interface Kernels {
  /** The compiled module, sent to workers to instantiate over the same memory. */
  readonly module: object;
  /** Which build this is. */
  readonly variant: KernelVariant;
  readonly memory: WasmMemory;
  /** Allocator of everything above the control block. */
  readonly arena: Arena;
  readonly gemm: GemmFn;
  readonly add_f32: BinaryF32Fn;
  readonly sub_f32: BinaryF32Fn;
  readonly mul_f32: BinaryF32Fn;
  readonly div_f32: BinaryF32Fn;
  /** relu's gradient: out = b <= 0 ? +0 : a (NaN b passes a), a the gradient, b relu's output. */
  readonly relu_bwd_f32: BinaryF32Fn;
  /** sigmoid's gradient: out = (a * b) * (1 - b), a the gradient, b sigmoid's output. */
  readonly sigmoid_bwd_f32: BinaryF32Fn;
  /** (out, x, y, n, c): out = x * alpha + y * beta over ceil(n / 4) vectors, the float32 alpha and beta at c. */
  readonly axpby_f32: (out: number, x: number, y: number, n: number, c: number) => void;
  readonly exp_f32: ExpF32Fn;
  /** 1 / (1 + exp(-x)) within 1 ulp; `consts` as for exp. */
  readonly sigmoid_f32: ExpF32Fn;
  /** max(x, 0), NaN passed through (the 4th argument is unused). */
  readonly relu_f32: ExpF32Fn;
  /** x > 0 ? 1 : 0 (the 4th argument is unused). */
  readonly step_f32: ExpF32Fn;
  /** The binary kernels with one operand splat: vs splats b's first float over a, sv a's over b. */
  readonly broadcast: Record<'add' | 'sub' | 'mul' | 'div', { vs: BinaryF32Fn; sv: BinaryF32Fn }>;
  /** acc[j] += x[r * stride + j] (acc f64 at `acc`, stride in bytes) for r < rows, j < n4 (a multiple of 4). */
  readonly colsum_f32: (acc: number, x: number, rows: number, n4: number, stride: number) => void;
  /**
   * im2col of `planes` float32 planes (see kernels-wat.mjs): (x, planes, planeIn, W, sh, sw, kh, kw, oh, ow, out,
   * planeOut, table) with per-ki (ohLo, ohHi, hoff) then per-kj (owLo, owHi, woff) int32 triples at `table`.
   */
  readonly im2col_f32: (...args: number[]) => void;
  /**
   * A convolution's GEMMs image by image, each image's columns built in `cols` (see kernels-wat.mjs,
   * convImagesWat): (params, n0, n1, cols, out, 0, 0, 0, 0, scratch) with the geometry at `params`.
   */
  readonly conv_images_f32: (p: number, n0: number, n1: number, cols: number, out: number, u5: number, u6: number, u7: number, u8: number, scratch: number) => void;
  /** BatchNorm on [N, C] (see kernels-wat.mjs, columnsWat): per-column float64 passes in row order. */
  readonly colsqdev_f32: (acc: number, x: number, rows: number, n4: number, stride: number, mu: number) => void;
  readonly colsumprod_f32: (sdy: number, sdx: number, g: number, h: number, rows: number, n4: number, stride: number) => void;
  readonly colnorm_f32: (y: number, h: number, x: number, mu: number, k: number, scale: number, shift: number, affine: number, rows: number, n4: number, stride: number) => void;
  readonly coldx_f32: (dx: number, g: number, h: number, A: number, B: number, D: number, rows: number, n4: number, stride: number) => void;
  /** The float64 sum of n floats at x (n a multiple of 8), in no fixed order. */
  readonly rowsum_f32: (x: number, n: number) => number;
  /** 2x2 stride-2 max pooling of one plane: (x, W, oh, first column, groups of 4 outputs per row, ow, values, int32 indices). */
  readonly maxpool2x2_f32: (x: number, W: number, oh: number, c0: number, groups: number, ow: number, v: number, i: number) => void;
  /** Its backward for one plane: (g, int32 indices, W, oh, c0, groups, ow, dx); 0 when an index lies outside its 2 x 2 block. */
  readonly maxpool2x2_bwd_f32: (g: number, i: number, W: number, oh: number, c0: number, groups: number, ow: number, dx: number) => number;
  /** Both over planes p0 <= p < p1 (ow >= 4, ohow = oh << 16 | ow): (x, v, i, p0, p1, H, W, ohow) and (g, i, dx, p0, p1, H, W, ohow, flag), 0 stored at flag for an index outside its block. */
  readonly maxpool2x2_planes_f32: (x: number, v: number, i: number, p0: number, p1: number, H: number, W: number, ohow: number) => void;
  readonly maxpool2x2_bwd_planes_f32: (g: number, i: number, dx: number, p0: number, p1: number, H: number, W: number, ohow: number, flag: number) => void;
  readonly bn_stats_f32: BnStatsFn;
  readonly bn_fwd_f32: BnForwardFn;
  readonly bn_bwd_chan_f32: BnBackwardChannelFn;
  readonly bn_bwd_chan_strided_f32: BnBackwardChannelStridedFn;
  /** (g, h, count, len, out): per run of `len` floats, (sum(g), sum(g h)) as f64 pairs at `out`. */
  readonly norm_sums_f32: (g: number, h: number, count: number, len: number, out: number) => void;
  /** (dx, g, h, count, len, coef): per run, dx = A g + B h + D with the run's f64 (A, B, D) at `coef` (24 bytes per run). */
  readonly norm_dx_f32: (dx: number, g: number, h: number, count: number, len: number, coef: number) => void;
  /** (x, y, h, rows, F, stats, w, b): LayerNorm's forward, per row (mean, invstd) f64 pairs at `stats`, w and b float32 [F]. */
  readonly ln_fwd_f32: (x: number, y: number, h: number, rows: number, F: number, stats: number, w: number, b: number) => void;
  /** (g, h, dx, rows, F, stats, w, acc, centered): LayerNorm's fused backward (RMSNorm's when centered is 0); adds dweight and dbias to the f64 [2F] at `acc`. */
  readonly ln_bwd_f32: (g: number, h: number, dx: number, rows: number, F: number, stats: number, w: number, acc: number, centered: number) => void;
}

const PAGE = 65536;
/** Bytes reserved at address 0 for the thread pool's control words and job table. */
export const CONTROL_BYTES = 65536;
/** Largest memory we let the kernels use (wasm32 addresses stay below 2^31 so i32 math is safe). */
export const MAX_MEMORY_BYTES = 2 ** 31 - PAGE;

let kernels: Kernels | null | undefined;

function isFn<F>(f: unknown): f is F {
  return typeof f === 'function';
}

function wasmApi(): WasmApi | undefined {
  return (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
}

/**
 * The build these kernels use: relaxed SIMD where the runtime validates it,
 * unless NORMLAB_WASM_RELAXED=0 asks for the plain build (to compare the two).
 */
function preferredVariant(wasm: WasmApi): KernelVariant {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.NORMLAB_WASM_RELAXED;
  if (env === '0') return 'simd128';
  return wasm.validate(base64ToBytes(KERNELS_FMA_WASM_BASE64)) ? 'relaxed-simd' : 'simd128';
}

/** The kernels, instantiated on first use; null where WebAssembly SIMD or shared memory is unavailable. */
export function getKernels(): Kernels | null {
  if (kernels !== undefined) return kernels;
  const wasm = wasmApi();
  try {
    kernels = wasm ? instantiateKernels(preferredVariant(wasm)) : null;
  } catch {
    // No SIMD or no SharedArrayBuffer (e.g. a browser page without cross-origin isolation): JS kernels.
    kernels = null;
  }
  return kernels;
}

/** The build of the kernels this process runs (see {@link KernelVariant}), or null where the JS loops run instead. */
export function cpuKernelVariant(): KernelVariant | null {
  return getKernels()?.variant ?? null;
}

/**
 * A new instance of one build of the kernels over a memory of its own (the
 * process-wide kernels are `getKernels()`; tests compare the two builds).
 * Throws where the runtime cannot compile the build.
 */
export function instantiateKernels(variant: KernelVariant): Kernels {
  const wasm = wasmApi();
  if (!wasm) throw new Error('kernels: this runtime has no WebAssembly');
  const module = new wasm.Module(base64ToBytes(variant === 'relaxed-simd' ? KERNELS_FMA_WASM_BASE64 : KERNELS_WASM_BASE64));
  const memory = new wasm.Memory({ initial: 256, maximum: MAX_MEMORY_BYTES / PAGE, shared: true });
  const exports = new wasm.Instance(module, { env: { memory } }).exports;
  // Every export checked by name: a stale build fails here, and the JS kernels run instead.
  const fn = <F>(name: string): F => {
    const f = exports[name];
    if (!isFn<F>(f)) throw new Error(`kernels: ${name} export missing`);
    return f;
  };
  const arith = ['add', 'sub', 'mul', 'div'] as const;
  const [add_f32, sub_f32, mul_f32, div_f32] = arith.map((op) => fn<BinaryF32Fn>(`${op}_f32`));
  return {
    module, variant, memory, arena: new Arena(memory, CONTROL_BYTES, MAX_MEMORY_BYTES),
    gemm: fn<GemmFn>('gemm'), add_f32, sub_f32, mul_f32, div_f32, relu_bwd_f32: fn<BinaryF32Fn>('relu_bwd_f32'), sigmoid_bwd_f32: fn<BinaryF32Fn>('sigmoid_bwd_f32'),
    axpby_f32: fn<Kernels['axpby_f32']>('axpby_f32'),
    exp_f32: fn<ExpF32Fn>('exp_f32'), sigmoid_f32: fn<ExpF32Fn>('sigmoid_f32'), relu_f32: fn<ExpF32Fn>('relu_f32'), step_f32: fn<ExpF32Fn>('step_f32'),
    broadcast: Object.fromEntries(arith.map((op) => [op, { vs: fn<BinaryF32Fn>(`${op}_f32_vs`), sv: fn<BinaryF32Fn>(`${op}_f32_sv`) }])) as Kernels['broadcast'],
    colsum_f32: fn<Kernels['colsum_f32']>('colsum_f32'),
    rowsum_f32: fn<Kernels['rowsum_f32']>('rowsum_f32'),
    im2col_f32: fn<Kernels['im2col_f32']>('im2col_f32'),
    conv_images_f32: fn<Kernels['conv_images_f32']>('conv_images_f32'),
    colsqdev_f32: fn<Kernels['colsqdev_f32']>('colsqdev_f32'),
    colsumprod_f32: fn<Kernels['colsumprod_f32']>('colsumprod_f32'),
    colnorm_f32: fn<Kernels['colnorm_f32']>('colnorm_f32'),
    coldx_f32: fn<Kernels['coldx_f32']>('coldx_f32'),
    maxpool2x2_f32: fn<Kernels['maxpool2x2_f32']>('maxpool2x2_f32'),
    maxpool2x2_bwd_f32: fn<Kernels['maxpool2x2_bwd_f32']>('maxpool2x2_bwd_f32'),
    maxpool2x2_planes_f32: fn<Kernels['maxpool2x2_planes_f32']>('maxpool2x2_planes_f32'),
    maxpool2x2_bwd_planes_f32: fn<Kernels['maxpool2x2_bwd_planes_f32']>('maxpool2x2_bwd_planes_f32'),
    bn_stats_f32: fn<BnStatsFn>('bn_stats_f32'),
    bn_fwd_f32: fn<BnForwardFn>('bn_fwd_f32'),
    bn_bwd_chan_f32: fn<BnBackwardChannelFn>('bn_bwd_chan_f32'),
    bn_bwd_chan_strided_f32: fn<BnBackwardChannelStridedFn>('bn_bwd_chan_strided_f32'),
    norm_sums_f32: fn<Kernels['norm_sums_f32']>('norm_sums_f32'),
    norm_dx_f32: fn<Kernels['norm_dx_f32']>('norm_dx_f32'),
    ln_fwd_f32: fn<Kernels['ln_fwd_f32']>('ln_fwd_f32'),
    ln_bwd_f32: fn<Kernels['ln_bwd_f32']>('ln_bwd_f32'),
  };
}

function base64ToBytes(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

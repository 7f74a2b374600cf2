/**
 * float32 elementwise ops on the WebAssembly SIMD kernels. WebAssembly only
 * reads its own memory, so contiguous inputs are staged through it in chunks
 * small enough to stay in cache: copy the chunk in (TypedArray.set, a
 * memcpy), run the kernel, copy the result out. Even single-threaded that
 * beats a scalar JS loop over float32 (whose loads and stores convert to and
 * from double one element at a time) by ~2x, and exp by ~7x.
 *
 * With worker threads, the staging is double-buffered: while the workers run
 * the kernel on chunk c, the calling thread copies chunk c-1 out and chunk
 * c+1 in, then helps with what is left of chunk c. Only the calling thread
 * can touch the caller's arrays (they need not be shared memory).
 */
import type { BinaryOp } from '../../backend.js';
import { EXP_CONSTS, type Kernels, ensureMemory, getKernels } from './kernels.js';
import {
  EW_ADD, EW_DIV, EW_EXP, EW_MUL, EW_SUB, JOB_WORDS, MAX_JOBS, ensureWorkers, finishJobs, getNumThreads, scratchAddress, startJobs,
} from './thread-pool.js';

/** Floats per staging chunk on one thread: two inputs and one output (192 KiB) stay in L2. */
const CHUNK_SERIAL = 16384;
/** Floats per staging chunk with workers: fewer hand-offs (each costs microseconds). */
const CHUNK_PARALLEL = 131072;
/** Floats per job: a chunk is split so that the threads balance. */
const PIECE = 16384;
/** Bytes kept for the exp constants before the staging buffers. */
const CONSTS_BYTES = 64;

/**
 * Smallest arrays sent to the wasm kernels; below, the call and copies cost
 * about what they save (measured crossover: a few hundred elements).
 */
export const WASM_ELEMENTWISE_MIN = 1024;
/**
 * Smallest exp split across threads: waking a worker costs tens of
 * microseconds, a 256K-element exp takes ~0.8 ms on one thread. Only exp is
 * worth it: for add/sub/mul/div the calling thread's copies are the bottleneck, and a
 * worker competing for memory bandwidth slows them down.
 */
export const PARALLEL_ELEMENTWISE_MIN = 1 << 18;

const BINARY_KIND = { add: EW_ADD, sub: EW_SUB, mul: EW_MUL, div: EW_DIV } as const;

/** True for the binary ops with a float32 SIMD kernel (bit-identical to the JS expression). */
export function hasWasmBinary(op: BinaryOp): op is keyof typeof BINARY_KIND {
  return op in BINARY_KIND;
}

/** out[i] = a[ao + i] op b[bo + i] for i < out.length; false where the kernels are unavailable. */
export function wasmBinaryF32(op: keyof typeof BINARY_KIND, out: Float32Array, a: Float32Array, ao: number, b: Float32Array, bo: number): boolean {
  return staged(BINARY_KIND[op], out, [a, b], [ao, bo]);
}

/** out[i] = exp(x[xo + i]) within 1 ulp of Math.fround(Math.exp(x)); false where the kernels are unavailable. */
export function wasmExpF32(out: Float32Array, x: Float32Array, xo: number): boolean {
  return staged(EW_EXP, out, [x], [xo]);
}

const jobBuf = new Int32Array(MAX_JOBS * JOB_WORDS);

function run(k: Kernels, kind: number, o: number, a: number, b: number, n: number, consts: number): void {
  if (kind === EW_EXP) k.exp_f32(o, a, n, consts);
  else if (kind === EW_ADD) k.add_f32(o, a, b, n);
  else if (kind === EW_SUB) k.sub_f32(o, a, b, n);
  else if (kind === EW_MUL) k.mul_f32(o, a, b, n);
  else k.div_f32(o, a, b, n);
}

function staged(kind: number, out: Float32Array, ins: Float32Array[], offs: number[], threads = getNumThreads()): boolean {
  const k = getKernels();
  if (!k) return false;
  const n = out.length;
  const parallel = kind === EW_EXP && threads > 1 && n >= PARALLEL_ELEMENTWISE_MIN;
  const CHUNK = parallel ? CHUNK_PARALLEL : CHUNK_SERIAL;
  // Past every thread's GEMM scratch: no worker writes there during these jobs.
  const base = scratchAddress(Math.max(threads, getNumThreads()));
  const nin = ins.length;
  const slotBytes = (nin + 1) * CHUNK * 4;
  if (!ensureMemory(k, base + CONSTS_BYTES + 2 * slotBytes)) return false;
  const heap = new Float32Array(k.memory.buffer);
  if (kind === EW_EXP) heap.set(EXP_CONSTS, base >> 2);
  const inAddr = (slot: number, i: number): number => base + CONSTS_BYTES + slot * slotBytes + i * CHUNK * 4;
  const outAddr = (slot: number): number => inAddr(slot, nin);
  const copyIn = (c: number, slot: number): void => {
    const start = c * CHUNK;
    const m = Math.min(CHUNK, n - start);
    for (let i = 0; i < nin; i++) heap.set(ins[i].subarray(offs[i] + start, offs[i] + start + m), inAddr(slot, i) >> 2);
  };
  const copyOut = (c: number, slot: number): void => {
    const start = c * CHUNK;
    const m = Math.min(CHUNK, n - start);
    out.set(heap.subarray(outAddr(slot) >> 2, (outAddr(slot) >> 2) + m), start);
  };
  const chunks = Math.ceil(n / CHUNK);
  if (!parallel) {
    for (let c = 0; c < chunks; c++) {
      copyIn(c, 0);
      run(k, kind, outAddr(0), inAddr(0, 0), inAddr(0, nin - 1), Math.min(CHUNK, n - c * CHUNK), base);
      copyOut(c, 0);
    }
    return true;
  }
  ensureWorkers(k, threads);
  copyIn(0, 0);
  for (let c = 0; c < chunks; c++) {
    const slot = c & 1;
    const m = Math.min(CHUNK, n - c * CHUNK);
    let jobs = 0;
    for (let p = 0; p < m; p += PIECE, jobs++) {
      const w = jobs * JOB_WORDS;
      jobBuf[w] = -kind;
      jobBuf[w + 1] = outAddr(slot) + p * 4;
      jobBuf[w + 2] = inAddr(slot, 0) + p * 4;
      jobBuf[w + 3] = inAddr(slot, nin - 1) + p * 4;
      jobBuf[w + 4] = Math.min(PIECE, m - p);
      jobBuf[w + 5] = base;
    }
    startJobs(k, jobBuf, jobs);
    if (c > 0) copyOut(c - 1, 1 - slot);
    if (c + 1 < chunks) copyIn(c + 1, 1 - slot);
    finishJobs(k);
  }
  copyOut(chunks - 1, (chunks - 1) & 1);
  return true;
}

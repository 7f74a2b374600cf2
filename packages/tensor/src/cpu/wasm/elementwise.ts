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
 *
 * When the output is resident (in wasm memory already, see resident.ts)
 * nothing is staged: the kernels run in place, from PARALLEL_ELEMENTWISE_MIN
 * elements split across the threads in one dispatch; a host input is first
 * copied into a temporary block whole (one memcpy). Only host outputs (the
 * resident cap is full) are staged.
 */
import type { BinaryOp, UnaryOp } from '../../backend.js';
import { EXP_CONSTS, type Kernels, getKernels } from './kernels.js';
import { residentAddress, withAddresses, withStaging } from './resident.js';
import {
  EW_ADD, EW_AXPBY, EW_DIV, EW_EXP, EW_MUL, EW_RELU, EW_RELU_BWD, EW_SIGMOID_BWD, EW_SIGMOID, EW_STEP, EW_SUB, JOB_WORDS, MAX_JOBS, elementwiseJob, ensureWorkers, finishJobs, getNumThreads, putJob, startJobs,
} from './thread-pool.js';

/** Floats per staging chunk on one thread: two inputs and one output (192 KiB) stay in L2. */
const CHUNK_SERIAL = 16384;
/** Floats per staging chunk with workers: fewer hand-offs (each costs microseconds). */
const CHUNK_PARALLEL = 131072;
/** Floats per job: a chunk is split so that the threads balance. */
const PIECE = 16384;
/** Bytes kept for the exp constants before the staging buffers. */
const CONSTS_BYTES = 64;
/** Jobs per thread of an in-place exp: enough to balance when one core is also busy elsewhere. */
const JOBS_PER_THREAD = 4;

/**
 * Smallest arrays sent to the wasm kernels; below, the call and copies cost
 * about what they save (measured crossover: a few hundred elements).
 */
export const WASM_ELEMENTWISE_MIN = 1024;
/**
 * Smallest elementwise op split across threads: waking a worker costs tens
 * of microseconds, a 256K-element exp takes ~0.8 ms on one thread. In place
 * (resident arrays) every kernel gains (4M floats on two threads: add 1.4 ->
 * 0.9-1.4 ms, relu 1.0 -> 0.5 ms). Staged, only exp and sigmoid are split:
 * for the others the calling thread's copies are the bottleneck, and a
 * worker competing for memory bandwidth slows them down.
 */
export const PARALLEL_ELEMENTWISE_MIN = 1 << 18;

const BINARY_KIND = { add: EW_ADD, sub: EW_SUB, mul: EW_MUL, div: EW_DIV, reluBackward: EW_RELU_BWD, sigmoidBackward: EW_SIGMOID_BWD } as const;

/** True for the binary ops with a float32 SIMD kernel (bit-identical to the JS expression: IEEE float32 arithmetic, or a select). */
export function hasWasmBinary(op: BinaryOp): op is keyof typeof BINARY_KIND {
  return op in BINARY_KIND;
}

/** out[i] = a[ao + i] op b[bo + i] for i < out.length; false where the kernels are unavailable. */
export function wasmBinaryF32(op: keyof typeof BINARY_KIND, out: Float32Array, a: Float32Array, ao: number, b: Float32Array, bo: number): boolean {
  return onKernels(BINARY_KIND[op], out, [a, b], [ao, bo]);
}

const UNARY_KIND = { exp: EW_EXP, sigmoid: EW_SIGMOID, relu: EW_RELU, step: EW_STEP } as const;

/** exp and sigmoid: they read the exp constants (their 4th argument), and are slow enough to split across threads. */
const isExpBased = (kind: number): boolean => kind === EW_EXP || kind === EW_SIGMOID;

/** True for the unary ops with a float32 SIMD kernel (exp and sigmoid within 1 ulp of the JS expression, relu and step exact). */
export function hasWasmUnary(op: UnaryOp): op is keyof typeof UNARY_KIND {
  return op in UNARY_KIND;
}

/** out[i] = op(x[xo + i]); false where the kernels are unavailable. */
export function wasmUnaryF32(op: keyof typeof UNARY_KIND, out: Float32Array, x: Float32Array, xo: number): boolean {
  return onKernels(UNARY_KIND[op], out, [x], [xo]);
}

/** out[i] = x[xo + i] * alpha + y[yo + i] * beta, alpha and beta float32 (see ops' axpby); false where the kernels are unavailable. */
export function wasmAxpbyF32(alpha: number, x: Float32Array, xo: number, beta: number, y: Float32Array, yo: number, out: Float32Array): boolean {
  return onKernels(EW_AXPBY, out, [x, y], [xo, yo], getNumThreads(), [alpha, beta]);
}

const jobBuf = new Int32Array(MAX_JOBS * JOB_WORDS);

/** One job's words, for the kernels run directly on this thread. */
const oneJob = new Int32Array(JOB_WORDS);

function run(k: Kernels, kind: number, o: number, a: number, b: number, n: number, consts: number): void {
  putJob(oneJob, 0, kind, o, a, b, n, consts);
  elementwiseJob(k, oneJob, 0);
}

/** Address of a permanent copy of EXP_CONSTS (for the in-place path). */
let expConsts = -1;
function expConstsAddress(k: Kernels): number {
  if (expConsts < 0) {
    const addr = k.arena.alloc(CONSTS_BYTES);
    if (addr < 0) return -1;
    new Float32Array(k.memory.buffer).set(EXP_CONSTS, addr >> 2);
    expConsts = addr;
  }
  return expConsts;
}

/**
 * Runs `fn` with the wasm address of the float32 constants a kernel reads
 * (its last argument): none (0), EXP_CONSTS's permanent copy, or a staging
 * block holding `consts`; null where memory cannot hold them.
 */
function withConstants<T>(k: Kernels, consts: readonly number[], fn: (at: number) => T | null): T | null {
  if (consts.length === 0) return fn(0);
  if (consts === EXP_CONSTS) {
    const at = expConstsAddress(k);
    return at < 0 ? null : fn(at);
  }
  return withStaging(k, CONSTS_BYTES, (at) => {
    new Float32Array(k.memory.buffer, at, consts.length).set(consts);
    return fn(at);
  });
}

/**
 * Runs `kind` in place on resident arrays (host inputs copied in whole first,
 * when the output is resident), else staged; false where the kernels or the
 * memory are unavailable. `consts`: the float32 constants the kernel reads
 * (exp's, or a call's own, such as axpby's alpha and beta).
 */
function onKernels(
  kind: number, out: Float32Array, ins: Float32Array[], offs: number[], threads = getNumThreads(),
  consts: readonly number[] = isExpBased(kind) ? EXP_CONSTS : [],
): boolean {
  const k = getKernels();
  if (!k) return false;
  const outAt = residentAddress(out);
  if (outAt >= 0) {
    // One memcpy per host input beats staging it in cache-sized pieces (and lets exp use the threads).
    const inputs = ins.map((data, i) => ({ data, offset: offs[i], length: out.length }));
    const inPlaceRun = (inAt: number[]): true | null =>
      withConstants(k, consts, (c) => (inPlace(k, kind, out, outAt, ins, offs, inAt, threads, c) ? true : null));
    if (withAddresses(k, inputs, [], inPlaceRun)) return true;
  }
  const nin = ins.length;
  const parallel = isExpBased(kind) && threads > 1 && out.length >= PARALLEL_ELEMENTWISE_MIN;
  const chunk = parallel ? CHUNK_PARALLEL : CHUNK_SERIAL;
  const bytes = CONSTS_BYTES + 2 * (nin + 1) * chunk * 4;
  return withStaging(k, bytes, (base) => {
    stagedAt(k, base, kind, out, ins, offs, parallel ? threads : 1, chunk, consts);
    return true;
  }) ?? false;
}

/** The kernel over resident arrays at their addresses, its constants at `consts` (false, having written nothing the caller keeps, where memory runs out). */
function inPlace(
  k: Kernels, kind: number, out: Float32Array, outAt: number, ins: Float32Array[], offs: number[], inAt: number[], threads: number, consts: number,
): boolean {
  const n = out.length;
  const n4 = n & ~3;
  const a = inAt[0];
  const b = inAt[inAt.length - 1];
  if (threads > 1 && n >= PARALLEL_ELEMENTWISE_MIN) {
    threads = ensureWorkers(k, threads);
    const jobs = Math.min(MAX_JOBS, threads * JOBS_PER_THREAD);
    const per = Math.ceil(n4 / jobs / 4) * 4;
    let count = 0;
    for (let p = 0; p < n4; p += per, count++) {
      putJob(jobBuf, count * JOB_WORDS, kind, outAt + p * 4, a + p * 4, b + p * 4, Math.min(per, n4 - p), consts);
    }
    startJobs(k, jobBuf, count);
    finishJobs(k);
  } else if (n4 > 0) {
    run(k, kind, outAt, a, b, n4, consts);
  }
  if (n4 === n) return true;
  // The last n mod 4 elements through one staged vector: the kernel reads and writes whole
  // vectors, which in place could pass the end of a block (and the same kernel keeps exp's bits).
  return withStaging(k, 16 * (ins.length + 1), (t) => {
    const heap = new Float32Array(k.memory.buffer);
    for (let i = 0; i < ins.length; i++) heap.set(ins[i].subarray(offs[i] + n4, offs[i] + n), (t >> 2) + 4 * i);
    const o = t + 16 * ins.length;
    run(k, kind, o, t, t + 16 * (ins.length - 1), n - n4, consts);
    out.set(heap.subarray(o >> 2, (o >> 2) + (n - n4)), n4);
    return true;
  }) ?? false;
}

/** The chunked, staged loop of the header comment, with its buffers at `base` (the kernel's constants first). */
function stagedAt(
  k: Kernels, base: number, kind: number, out: Float32Array, ins: Float32Array[], offs: number[], threads: number, CHUNK: number, consts: readonly number[],
): void {
  const n = out.length;
  const nin = ins.length;
  const slotBytes = (nin + 1) * CHUNK * 4;
  const heap = new Float32Array(k.memory.buffer);
  heap.set(consts, base >> 2);
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
  if (threads === 1) {
    for (let c = 0; c < chunks; c++) {
      copyIn(c, 0);
      run(k, kind, outAddr(0), inAddr(0, 0), inAddr(0, nin - 1), Math.min(CHUNK, n - c * CHUNK), base);
      copyOut(c, 0);
    }
    return;
  }
  ensureWorkers(k, threads);
  copyIn(0, 0);
  for (let c = 0; c < chunks; c++) {
    const slot = c & 1;
    const m = Math.min(CHUNK, n - c * CHUNK);
    let jobs = 0;
    for (let p = 0; p < m; p += PIECE, jobs++) {
      putJob(jobBuf, jobs * JOB_WORDS, kind, outAddr(slot) + p * 4, inAddr(slot, 0) + p * 4, inAddr(slot, nin - 1) + p * 4, Math.min(PIECE, m - p), base);
    }
    startJobs(k, jobBuf, jobs);
    if (c > 0) copyOut(c - 1, 1 - slot);
    if (c + 1 < chunks) copyIn(c + 1, 1 - slot);
    finishJobs(k);
  }
  copyOut(chunks - 1, (chunks - 1) & 1);
}

/**
 * A pool of worker threads that run GEMM and elementwise jobs on the kernels' shared memory.
 * The calling thread publishes a job table in the memory's control block,
 * wakes the workers, takes jobs itself and blocks (Atomics.wait) until every
 * job is done, so the API stays synchronous. Workers are unref'd and never
 * keep the process alive.
 */
import { CONTROL_BYTES, GEMM_SCRATCH_BYTES, type Kernels } from './kernels.js';

// Control words (Int32 indices into the control block).
const GEN = 0; // bumped for each batch of jobs; workers wait on it
const NEXT = 1; // next job to claim
const NJOBS = 2; // jobs in the current batch
const DONE = 3; // jobs finished in the current batch
const JOB_BASE = 16;
/** Int32 words per job: the 12 GEMM arguments before `scratch`. */
export const JOB_WORDS = 12;
/**
 * Elementwise jobs are tagged by a negative first word (a GEMM's M is >= 1):
 * [-kind, out, a, b, n, consts] with byte addresses, run by `elementwiseJob`.
 */
export const EW_EXP = 1;
export const EW_ADD = 2;
export const EW_SUB = 3;
export const EW_MUL = 4;
export const EW_DIV = 5;
/** BatchNorm jobs: [-kind, ...the kernel's arguments] (see kernels.ts). */
export const EW_BN_STATS = 6;
export const EW_BN_FWD = 7;
export const EW_BN_CHAN = 8;
export const EW_BN_CHAN_STRIDED = 9;
/** Unary jobs other than exp, with exp's layout [-kind, out, x, unused, n, unused]. */
export const EW_RELU = 10;
export const EW_STEP = 11;
export const EW_SIGMOID = 12;
/** Jobs of the normalizations with whole-run groups (see kernels.ts): [-kind, ...the kernel's arguments]. */
export const EW_NORM_SUMS = 13;
export const EW_NORM_DX = 14;
export const EW_LN_FWD = 15;
export const EW_LN_BWD = 16;
/** A convolution's images (see conv-gemm.ts): [-kind, params, n0, n1, cols, out]; the thread's GEMM scratch is appended. */
export const EW_CONV_IMAGES = 17;
/** relu's gradient from its output, with the binary jobs' layout [-kind, out, grad, output, n]. */
export const EW_RELU_BWD = 18;
/** sigmoid's gradient from its output, with the binary jobs' layout. */
export const EW_SIGMOID_BWD = 19;
/** 2x2 max pooling and its backward over a range of planes (see wasm/pool.ts): [-kind, ...the kernel's arguments]. */
export const EW_MAXPOOL = 20;
export const EW_MAXPOOL_BWD = 21;
/** out = a * alpha + b * beta, with the binary jobs' layout and the two float32 constants at the consts word. */
export const EW_AXPBY = 22;
/**
 * The wasm export each job kind runs, by kind: the one table the workers,
 * the calling thread and the staged BatchNorm pipelines dispatch through.
 */
export const EW_KERNELS = [
  null, 'exp_f32', 'add_f32', 'sub_f32', 'mul_f32', 'div_f32', 'bn_stats_f32', 'bn_fwd_f32', 'bn_bwd_chan_f32', 'bn_bwd_chan_strided_f32',
  'relu_f32', 'step_f32', 'sigmoid_f32', 'norm_sums_f32', 'norm_dx_f32', 'ln_fwd_f32', 'ln_bwd_f32', 'conv_images_f32', 'relu_bwd_f32', 'sigmoid_bwd_f32', 'maxpool2x2_planes_f32', 'maxpool2x2_bwd_planes_f32', 'axpby_f32',
] as const;
/** The unary kinds, whose jobs have exp's layout and take words 1, 2, 4 and 5. */
const EW_UNARY = [EW_EXP, EW_RELU, EW_STEP, EW_SIGMOID];
/** Most jobs one dispatch can hold. */
export const MAX_JOBS = Math.floor((CONTROL_BYTES / 4 - JOB_BASE) / JOB_WORDS);

/** Writes elementwise/BatchNorm job `kind` at word `w` of `jobs`: its negative tag, then the kernel's arguments in order. */
export function putJob(jobs: Int32Array, w: number, kind: number, ...args: number[]): void {
  jobs[w] = -kind;
  for (let i = 0; i < args.length; i++) jobs[w + 1 + i] = args[i];
}

// Plain JS so that it runs as an eval'd worker from src/ (vitest) and dist/ alike.
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
// Not 'module': Deno's worker_threads wrapper already declares that name.
const { module: wasmModule, memory, scratch } = workerData;
const exports = new WebAssembly.Instance(wasmModule, { env: { memory } }).exports;
const gemm = exports.gemm;
const ew = ${JSON.stringify(EW_KERNELS)}.map((name) => name && exports[name]);
const unary = new Set(${JSON.stringify(EW_UNARY)});
const ctl = new Int32Array(memory.buffer, 0, ${CONTROL_BYTES / 4});
let gen = Atomics.load(ctl, ${GEN});
for (;;) {
  // Spin briefly before sleeping: back-to-back products (conv batches, training steps)
  // then start without a futex round trip.
  for (let s = 0; s < 20000 && Atomics.load(ctl, ${GEN}) === gen; s++);
  Atomics.wait(ctl, ${GEN}, gen);
  gen = Atomics.load(ctl, ${GEN});
  for (;;) {
    const j = Atomics.load(ctl, ${NEXT});
    if (j >= Atomics.load(ctl, ${NJOBS})) break;
    if (Atomics.compareExchange(ctl, ${NEXT}, j, j + 1) !== j) continue;
    const o = ${JOB_BASE} + j * ${JOB_WORDS};
    if (ctl[o] < 0) {
      if (unary.has(-ctl[o])) ew[-ctl[o]](ctl[o + 1], ctl[o + 2], ctl[o + 4], ctl[o + 5]);
      // The thread's scratch after the nine words: kernels with fewer parameters ignore it.
      else ew[-ctl[o]](ctl[o + 1], ctl[o + 2], ctl[o + 3], ctl[o + 4], ctl[o + 5], ctl[o + 6], ctl[o + 7], ctl[o + 8], ctl[o + 9], scratch);
    } else gemm(ctl[o], ctl[o + 1], ctl[o + 2], ctl[o + 3], ctl[o + 4], ctl[o + 5], ctl[o + 6], ctl[o + 7], ctl[o + 8], ctl[o + 9], ctl[o + 10], ctl[o + 11], scratch);
    Atomics.add(ctl, ${DONE}, 1);
    Atomics.notify(ctl, ${DONE});
  }
}
`;

type WorkerThreads = typeof import('node:worker_threads');
type Os = typeof import('node:os');

function builtin<T>(name: string): T | null {
  // getBuiltinModule keeps this file loadable where node: modules don't exist (browsers).
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  return (proc?.getBuiltinModule?.(name) as T | undefined) ?? null;
}

function defaultThreads(): number {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.NORMLAB_THREADS;
  const n = env === undefined || env === '' ? NaN : Number(env);
  if (Number.isInteger(n) && n >= 1) return n;
  return builtin<Os>('node:os')?.availableParallelism() ?? 1;
}

let numThreads: number | undefined;
const workers: import('node:worker_threads').Worker[] = [];

/** Threads a product may use (the calling thread included). */
export function getNumThreads(): number {
  numThreads ??= defaultThreads();
  return numThreads;
}

/** Sets the threads a product may use; 1 keeps everything on the calling thread. */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`setNumThreads: expected a positive integer, got ${n}`);
  numThreads = n;
}

/** Each thread's packing scratch, allocated on first use and kept (workers hold their address). */
const scratch: number[] = [];

/** Byte address of thread `tid`'s packing scratch (thread 0 is the caller). */
export function scratchAddress(k: Kernels, tid: number): number {
  while (scratch.length <= tid) {
    const addr = k.arena.alloc(GEMM_SCRATCH_BYTES);
    if (addr < 0) throw new Error('thread pool: wasm memory exhausted allocating GEMM scratch');
    scratch.push(addr);
  }
  return scratch[tid];
}

/**
 * Starts workers up to `threads - 1` (fewer where worker_threads is missing)
 * and returns the number of threads available, the caller included.
 */
export function ensureWorkers(k: Kernels, threads: number): number {
  if (workers.length >= threads - 1) return threads;
  const wt = builtin<WorkerThreads>('node:worker_threads');
  if (!wt) return 1 + workers.length;
  while (workers.length < threads - 1) {
    const tid = workers.length + 1;
    const w = new wt.Worker(WORKER_SOURCE, { eval: true, workerData: { module: k.module, memory: k.memory, scratch: scratchAddress(k, tid) } });
    w.unref();
    workers.push(w);
  }
  return threads;
}

/**
 * Threads for `count` independent parts of work (images, planes): the pool's
 * threads (started), at most one per part, when `split`; else 1.
 */
export function splitThreads(k: Kernels, count: number, split: boolean): number {
  const threads = split ? Math.min(count, getNumThreads()) : 1;
  return threads > 1 ? ensureWorkers(k, threads) : 1;
}

/**
 * Runs job `kind` over parts [0, count) in `threads` contiguous ranges, one
 * job each (a single one on the calling thread when `threads` is 1):
 * `args(t, lo, hi)` gives job t's kernel arguments for parts lo <= i < hi.
 */
export function runRanges(k: Kernels, kind: number, count: number, threads: number, args: (t: number, lo: number, hi: number) => number[]): void {
  const jobs = new Int32Array(threads * JOB_WORDS);
  for (let t = 0; t < threads; t++) putJob(jobs, t * JOB_WORDS, kind, ...args(t, Math.floor((t * count) / threads), Math.floor(((t + 1) * count) / threads)));
  if (threads === 1) elementwiseJob(k, jobs, 0);
  else runJobs(k, jobs, threads);
}

/**
 * Runs `jobs` (JOB_WORDS each, at most MAX_JOBS) on the pool and the calling
 * thread, returning when all are done. Workers still starting simply join later.
 */
export function runJobs(k: Kernels, jobs: Int32Array, count: number): void {
  startJobs(k, jobs, count);
  finishJobs(k);
}

/**
 * Publishes `jobs` and wakes the workers without waiting: the caller can do
 * other work (on memory the jobs don't touch) before `finishJobs`.
 */
export function startJobs(k: Kernels, jobs: Int32Array, count: number): void {
  const ctl = new Int32Array(k.memory.buffer, 0, CONTROL_BYTES / 4);
  // Close the table first so no late worker claims a job while it is rewritten.
  Atomics.store(ctl, NJOBS, 0);
  ctl.set(jobs.subarray(0, count * JOB_WORDS), JOB_BASE);
  Atomics.store(ctl, DONE, 0);
  Atomics.store(ctl, NEXT, 0);
  Atomics.store(ctl, NJOBS, count);
  Atomics.add(ctl, GEN, 1);
  Atomics.notify(ctl, GEN);
}

/** Runs the published jobs no worker has claimed yet and waits until all are done. */
export function finishJobs(k: Kernels): void {
  const ctl = new Int32Array(k.memory.buffer, 0, CONTROL_BYTES / 4);
  const count = Atomics.load(ctl, NJOBS);
  const scratch0 = scratchAddress(k, 0);
  for (;;) {
    const j = Atomics.load(ctl, NEXT);
    if (j >= count) break;
    if (Atomics.compareExchange(ctl, NEXT, j, j + 1) !== j) continue;
    const o = JOB_BASE + j * JOB_WORDS;
    if (ctl[o] < 0) elementwiseJob(k, ctl, o);
    else k.gemm(ctl[o], ctl[o + 1], ctl[o + 2], ctl[o + 3], ctl[o + 4], ctl[o + 5], ctl[o + 6], ctl[o + 7], ctl[o + 8], ctl[o + 9], ctl[o + 10], ctl[o + 11], scratch0);
    Atomics.add(ctl, DONE, 1);
  }
  for (let d = Atomics.load(ctl, DONE); d < count; d = Atomics.load(ctl, DONE)) Atomics.wait(ctl, DONE, d);
}

/** Runs the elementwise job at word `o` of `words` (the control block, or a job table run on this thread). */
export function elementwiseJob(k: Kernels, words: Int32Array, o: number): void {
  const kind = -words[o];
  const f = k[EW_KERNELS[kind] as Exclude<(typeof EW_KERNELS)[number], null>] as (...args: number[]) => void;
  if (EW_UNARY.includes(kind)) return f(words[o + 1], words[o + 2], words[o + 4], words[o + 5]);
  f(words[o + 1], words[o + 2], words[o + 3], words[o + 4], words[o + 5], words[o + 6], words[o + 7], words[o + 8], words[o + 9], scratchAddress(k, 0));
}

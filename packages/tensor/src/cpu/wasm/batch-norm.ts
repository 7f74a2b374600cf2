/**
 * BatchNorm on the WebAssembly SIMD kernels, for contiguous float32 x viewed
 * as [N, C, S]. As for the elementwise ops, the caller's arrays live in JS
 * memory, so values are staged through wasm memory (TypedArray.set, a memcpy)
 * and the kernels run there. The kernels compute in float64 exactly as the JS
 * loops in ../batch-norm.ts do, so xhat, y and dx are the same float32 values;
 * the sums only group their terms differently.
 *
 * With worker threads the staging is double-buffered as for exp: while a
 * worker runs the kernel on piece i, the calling thread copies piece i-1 out
 * and piece i+1 in (only it can touch the caller's arrays), then helps with
 * what is left of piece i. On one thread the same loop runs the jobs itself.
 *
 * The kernels run in place on arrays in wasm memory, each phase one dispatch
 * over the threads (runs for the statistics and the forward, channels for
 * the backward, whose kernel reads a channel's strided runs twice, the second
 * time from cache). Resident arrays (see resident.ts) are read where they
 * are; any other input is copied in whole first (one memcpy, far cheaper than
 * the piecewise staging below, and it lets the threads share the work), so
 * the speed does not depend on where an array came from. The staged path
 * remains for arrays the memory cannot hold at once.
 *
 * Each function returns false (having written nothing the caller keeps) where
 * the kernels or the memory are unavailable; the caller then runs the JS loops.
 */
import { type Kernels, getKernels } from './kernels.js';
import { withAddresses, withStaging } from './resident.js';
import {
  EW_BN_CHAN, EW_BN_CHAN_STRIDED, EW_BN_FWD, EW_BN_STATS, JOB_WORDS, MAX_JOBS, elementwiseJob, ensureWorkers, finishJobs, getNumThreads, putJob, startJobs,
} from './thread-pool.js';

/** Floats per staged piece on one thread (64 KiB): input and outputs stay in L2. */
const CHUNK_SERIAL = 16384;
/** Floats per staged piece with workers: fewer hand-offs (each costs microseconds). */
const CHUNK_PARALLEL = 65536;
/** Jobs a piece is split into with workers, so that the calling thread can help once its copies are done. */
const JOBS_PER_PIECE = 4;
/** Runs shorter than this stay on the JS loops (a kernel call and a copy per run would cost more). */
export const WASM_BN_MIN_RUN = 64;
/** Arrays smaller than this stay on the JS loops. */
export const WASM_BN_MIN_SIZE = 1 << 15;
/**
 * Most staging memory a call may claim (wasm memory never shrinks): the
 * backward stages two channels of dy and xhat, N * S floats each; beyond
 * this the JS loops run.
 */
const MAX_STAGING_BYTES = 1 << 28;

/** The job table of the in-place phases here and in normalize-rows.ts (filled by `runOverRuns`' callers). */
export const jobBuf = new Int32Array(MAX_JOBS * JOB_WORDS);
/** Whether the staged pipelines below use the worker pool (measured slower on 2 cores; see staging). */
const BN_USE_WORKERS = false;
/** Jobs per thread of an in-place phase: enough to balance when one core is also busy elsewhere. */
const JOBS_PER_THREAD = 4;

/** Runs the first `count` jobs of jobBuf on this thread, without the pool's control block. */
function runHere(k: Kernels, count: number): void {
  for (let j = 0; j < count; j++) elementwiseJob(k, jobBuf, j * JOB_WORDS);
}

/** Starts `count` jobs: on the pool with workers, else runs them now (no worker may take them). */
function start(at: Setup, count: number): void {
  if (at.threads > 1) startJobs(at.k, jobBuf, count);
  else runHere(at.k, count);
}

function finish(at: Setup): void {
  if (at.threads > 1) finishJobs(at.k);
}

interface Setup {
  k: Kernels;
  base: number;
  threads: number;
  chunk: number;
}

/**
 * Runs `fn` with the kernels, a staging block of `bytes(chunk)` bytes at
 * `base`, and the thread count; false where the kernels or the memory are
 * unavailable.
 */
function staging(bytes: (chunk: number) => number, fn: (at: Setup) => void): boolean {
  const k = getKernels();
  if (!k) return false;
  // Workers are off by default (BN_USE_WORKERS): on the 2-core VM the ~200
  // hand-offs of one forward + backward (a futex wake-up each, tens of
  // microseconds or more when the other core is busy) cost more than the
  // kernels they overlap; the calling thread's copies are the bottleneck.
  const threads = BN_USE_WORKERS ? getNumThreads() : 1;
  const chunk = threads > 1 ? CHUNK_PARALLEL : CHUNK_SERIAL;
  if (bytes(chunk) > MAX_STAGING_BYTES) return false;
  if (threads > 1) ensureWorkers(k, threads);
  return withStaging(k, bytes(chunk), (base) => {
    fn({ k, base, threads, chunk });
    return true;
  }) ?? false;
}

/** The threads of an in-place phase (one dispatch, so the pool pays even on 2 cores). */
function inPlaceThreads(k: Kernels): number {
  const t = getNumThreads();
  return t > 1 ? ensureWorkers(k, t) : 1;
}

/** Runs the first `count` jobs of jobBuf on `threads` threads and waits for them. */
function runAll(k: Kernels, threads: number, count: number): void {
  if (threads > 1) {
    startJobs(k, jobBuf, count);
    finishJobs(k);
  } else {
    runHere(k, count);
  }
}

/**
 * Splits `runs` runs into at most `threads * JOBS_PER_THREAD` jobs of whole
 * runs, writes each with `job(word, firstRun, count)` and runs them; returns
 * the number of jobs.
 */
export function runOverRuns(k: Kernels, runs: number, job: (w: number, first: number, count: number) => void): number {
  const threads = inPlaceThreads(k);
  const per = Math.ceil(runs / Math.min(MAX_JOBS, threads * JOBS_PER_THREAD));
  let count = 0;
  for (let r = 0; r < runs; r += per, count++) job(count * JOB_WORDS, r, Math.min(per, runs - r));
  runAll(k, threads, count);
  return count;
}

/** The number of jobs `runOverRuns` splits `runs` runs into (to size per-job scratch before it runs). */
export function jobsOverRuns(k: Kernels, runs: number): number {
  const per = Math.ceil(runs / Math.min(MAX_JOBS, inPlaceThreads(k) * JOBS_PER_THREAD));
  return Math.ceil(runs / per);
}

/**
 * Merges `count` runs' (mean, M2) pairs, f64 words from `at64` of `f64`, into
 * the per-channel accumulators (values so far in `cnt`), with Chan et al.'s
 * pairwise update; the first run is in channel `c`.
 */
function mergeRuns(f64: Float64Array, at64: number, count: number, len: number, c: number, C: number, mu: Float64Array, m2: Float64Array, cnt: Float64Array): void {
  for (let r = 0; r < count; r++) {
    const rm = f64[at64 + 2 * r];
    const sq = f64[at64 + 2 * r + 1];
    const na = cnt[c];
    if (na === 0) {
      mu[c] = rm;
      m2[c] = sq;
    } else {
      // Merge (na values, mean mu, M2 m2) with (len values, mean rm, M2 sq).
      const delta = rm - mu[c];
      const tot = na + len;
      mu[c] += (delta * len) / tot;
      m2[c] += sq + ((delta * delta * na) * len) / tot;
    }
    cnt[c] = na + len;
    if (++c === C) c = 0;
  }
}

/**
 * A contiguous stretch of the [N, C, S] array handled as one unit: `count`
 * pieces of `len` floats from element `start`, the first in channel `c`.
 * Whole runs are grouped up to `chunk` floats; longer runs are split.
 */
interface Piece {
  start: number;
  count: number;
  len: number;
  c: number;
}

function pieces(N: number, C: number, S: number, chunk: number): Piece[] {
  const out: Piece[] = [];
  const runs = N * C;
  if (S <= chunk) {
    const per = Math.floor(chunk / S);
    for (let r = 0; r < runs; r += per) out.push({ start: r * S, count: Math.min(per, runs - r), len: S, c: r % C });
    return out;
  }
  for (let r = 0; r < runs; r++) {
    for (let s = 0; s < S; s += chunk) out.push({ start: r * S + s, count: 1, len: Math.min(chunk, S - s), c: r % C });
  }
  return out;
}

/** Splits piece `p` into up to `parts` jobs of whole runs: calls `job(firstRun, runs)` for each, returns the count. */
function splitRuns(p: Piece, parts: number, job: (w: number, first: number, runs: number) => void): number {
  const per = Math.ceil(p.count / parts);
  let jobs = 0;
  for (let r = 0; r < p.count; r += per, jobs++) job(jobs * JOB_WORDS, r, Math.min(per, p.count - r));
  return jobs;
}

/**
 * Per-channel mean and M2 (sum of squared deviations) of x: each run's (or
 * piece's) two-pass moments from the kernel, merged across runs in memory
 * order with Chan et al.'s pairwise update.
 */
export function wasmBatchNormStats(d: Float32Array, o: number, N: number, C: number, S: number, mu: Float64Array, m2: Float64Array): boolean {
  const k = getKernels();
  if (!k) return false;
  const cnt = new Float64Array(C);
  const inPlace = withAddresses(k, [{ data: d, offset: o, length: N * C * S }], [], ([x]) => withStaging(k, N * C * 16, (out) => {
    runOverRuns(k, N * C, (w, first, count) => {
      putJob(jobBuf, w, EW_BN_STATS, x + first * S * 4, count, S, out + first * 16);
    });
    mergeRuns(new Float64Array(k.memory.buffer), out >> 3, N * C, S, 0, C, mu, m2, cnt);
    return true;
  }));
  if (inPlace !== null) return inPlace;
  // Per slot: the piece's floats, then its runs' (mean, M2) pairs.
  const slotBytes = (chunk: number): number => chunk * 4 + Math.max(1, Math.floor(chunk / S)) * 16;
  return staging((chunk) => 2 * slotBytes(chunk), (at) => {
    const { base, threads, chunk } = at;
    const slot = slotBytes(chunk);
    const ps = pieces(N, C, S, chunk);
    const heap = new Float32Array(k.memory.buffer);
    const f64 = new Float64Array(k.memory.buffer);
    const xAddr = (i: number): number => base + (i & 1) * slot;
    const outAddr = (i: number): number => xAddr(i) + chunk * 4;
    const copyIn = (i: number): void => {
      const { start, count, len } = ps[i];
      heap.set(d.subarray(o + start, o + start + count * len), xAddr(i) >> 2);
    };
    const merge = (i: number): void => mergeRuns(f64, outAddr(i) >> 3, ps[i].count, ps[i].len, ps[i].c, C, mu, m2, cnt);
    const parts = threads > 1 ? JOBS_PER_PIECE : 1;
    copyIn(0);
    for (let i = 0; i < ps.length; i++) {
      const p = ps[i];
      const jobs = splitRuns(p, parts, (w, first, runs) => {
        putJob(jobBuf, w, EW_BN_STATS, xAddr(i) + first * p.len * 4, runs, p.len, outAddr(i) + first * 16);
      });
      start(at, jobs);
      if (i > 0) merge(i - 1);
      if (i + 1 < ps.length) copyIn(i + 1);
      finish(at);
    }
    merge(ps.length - 1);
  });
}

/** The per-channel f64 constants (mean, invstd, scale, shift) of the forward kernel, at `base`. */
function writeParams(k: Kernels, base: number, C: number, mu: Float64Array, is: Float64Array, w: Float64Array | null, b: Float64Array | null): void {
  const params = new Float64Array(k.memory.buffer, base, C * 4);
  for (let c = 0; c < C; c++) {
    params[4 * c] = mu[c];
    params[4 * c + 1] = is[c];
    params[4 * c + 2] = w ? w[c] : 1;
    params[4 * c + 3] = b ? b[c] : 0;
  }
}

/**
 * xhat = (x - mu) * is per channel into `xhat`, and y = xhat * scale + shift
 * into `y` when `y` is given.
 */
export function wasmBatchNormForward(
  d: Float32Array, o: number, N: number, C: number, S: number,
  mu: Float64Array, is: Float64Array, w: Float64Array | null, b: Float64Array | null,
  xhat: Float32Array, y: Float32Array | null,
): boolean {
  const k = getKernels();
  if (!k) return false;
  const paramBytes = C * 32;
  const affine = y ? 1 : 0;
  const inPlace = withAddresses(k, [{ data: d, offset: o, length: N * C * S }], y ? [xhat, y] : [xhat], ([x], [hAt, yAt = hAt]) =>
    withStaging(k, paramBytes, (params) => {
      writeParams(k, params, C, mu, is, w, b);
      runOverRuns(k, N * C, (wd, first, count) => {
        const off = first * S * 4;
        putJob(jobBuf, wd, EW_BN_FWD, x + off, yAt + off, hAt + off, count, S, params, C, first % C, affine);
      });
      return true;
    }));
  if (inPlace !== null) return inPlace;
  return staging((chunk) => paramBytes + 2 * 3 * chunk * 4, (at) => {
    const { base, threads, chunk } = at;
    writeParams(k, base, C, mu, is, w, b);
    const ps = pieces(N, C, S, chunk);
    const heap = new Float32Array(k.memory.buffer);
    const xAddr = (i: number): number => base + paramBytes + (i & 1) * 3 * chunk * 4;
    const hAddr = (i: number): number => xAddr(i) + chunk * 4;
    const yAddr = (i: number): number => hAddr(i) + chunk * 4;
    const copyIn = (i: number): void => {
      const { start, count, len } = ps[i];
      heap.set(d.subarray(o + start, o + start + count * len), xAddr(i) >> 2);
    };
    const copyOut = (i: number): void => {
      const { start, count, len } = ps[i];
      const m = count * len;
      xhat.set(heap.subarray(hAddr(i) >> 2, (hAddr(i) >> 2) + m), start);
      if (y) y.set(heap.subarray(yAddr(i) >> 2, (yAddr(i) >> 2) + m), start);
    };
    const parts = threads > 1 ? JOBS_PER_PIECE : 1;
    copyIn(0);
    for (let i = 0; i < ps.length; i++) {
      const p = ps[i];
      const jobs = splitRuns(p, parts, (wd, first, runs) => {
        const off = first * p.len * 4;
        putJob(jobBuf, wd, EW_BN_FWD, xAddr(i) + off, yAddr(i) + off, hAddr(i) + off, runs, p.len, base, C, (p.c + first) % C, affine);
      });
      start(at, jobs);
      if (i > 0) copyOut(i - 1);
      if (i + 1 < ps.length) copyIn(i + 1);
      finish(at);
    }
    copyOut(ps.length - 1);
  });
}

/**
 * The fused backward, channel by channel: the channel's N runs of dy and xhat
 * are gathered into wasm memory once, reduced, turned into dx there (over the
 * staged dy) and scattered back, so each input is read from memory once. With
 * workers, a worker runs channel c while the calling thread scatters channel
 * c-1 and gathers channel c+1. Resident arrays skip the gathering: the
 * strided kernel reads them in place.
 */
export function wasmBatchNormBackward(
  g: Float32Array, go: number, h: Float32Array, ho: number, N: number, C: number, S: number,
  is: Float64Array, w: Float64Array | null, dx: Float32Array, dWeight: Float32Array, dBias: Float32Array,
): boolean {
  const k = getKernels();
  if (!k) return false;
  const m = N * S;
  // dx = k (m dy - sum(dy) - xhat sum(dy xhat)) with k = weight * invstd / m.
  const kc = (c: number): number => ((w ? w[c] : 1) * is[c]) / m;
  const n = N * C * S;
  const inputs = [{ data: g, offset: go, length: n }, { data: h, offset: ho, length: n }];
  const inPlace = withAddresses(k, inputs, [dx], ([gAt, hAt], [dxAt]) =>
    // Per channel 48 bytes: (kc, m, sum(dy), sum(dy xhat)) and the kernel's scratch.
    withStaging(k, C * 48, (p) => {
      const f64 = new Float64Array(k.memory.buffer);
      const threads = inPlaceThreads(k);
      for (let c0 = 0; c0 < C; c0 += MAX_JOBS) {
        const count = Math.min(MAX_JOBS, C - c0);
        for (let j = 0; j < count; j++) {
          const c = c0 + j;
          const pc = p + c * 48;
          f64[pc >> 3] = kc(c);
          f64[(pc >> 3) + 1] = m;
          putJob(jobBuf, j * JOB_WORDS, EW_BN_CHAN_STRIDED, gAt + c * S * 4, hAt + c * S * 4, dxAt + c * S * 4, N, S, C * S * 4, pc);
        }
        runAll(k, threads, count);
      }
      for (let c = 0; c < C; c++) {
        dBias[c] = f64[((p + c * 48) >> 3) + 2];
        dWeight[c] = f64[((p + c * 48) >> 3) + 3];
      }
      return true;
    }));
  if (inPlace !== null) return inPlace;
  const per = m;
  // Per slot: 32 bytes of (kc, m, sum(dy), sum(dy xhat)), then the channel's dy and xhat.
  const slot = 32 + 2 * per * 4;
  return staging(() => 2 * slot, (at) => {
    const { base } = at;
    const heap = new Float32Array(k.memory.buffer);
    const f64 = new Float64Array(k.memory.buffer);
    const pAddr = (c: number): number => base + (c & 1) * slot;
    const gAddr = (c: number): number => pAddr(c) + 32;
    const hAddr = (c: number): number => gAddr(c) + per * 4;
    const stride = C * S;
    const gather = (c: number): void => {
      const gi = gAddr(c) >> 2;
      const hi = hAddr(c) >> 2;
      for (let n = 0; n < N; n++) {
        const src = n * stride + c * S;
        heap.set(g.subarray(go + src, go + src + S), gi + n * S);
        heap.set(h.subarray(ho + src, ho + src + S), hi + n * S);
      }
      f64[pAddr(c) >> 3] = kc(c);
      f64[(pAddr(c) >> 3) + 1] = m;
    };
    const scatter = (c: number): void => {
      dBias[c] = f64[(pAddr(c) >> 3) + 2];
      dWeight[c] = f64[(pAddr(c) >> 3) + 3];
      const gi = gAddr(c) >> 2;
      for (let n = 0; n < N; n++) dx.set(heap.subarray(gi + n * S, gi + (n + 1) * S), n * stride + c * S);
    };
    gather(0);
    for (let c = 0; c < C; c++) {
      putJob(jobBuf, 0, EW_BN_CHAN, gAddr(c), hAddr(c), per, pAddr(c));
      start(at, 1);
      if (c > 0) scatter(c - 1);
      if (c + 1 < C) gather(c + 1);
      finish(at);
    }
    scatter(C - 1);
  });
}

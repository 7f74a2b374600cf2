/**
 * The normalizations whose groups are whole runs of contiguous float32 values
 * (LayerNorm's rows, GroupNorm's and InstanceNorm's groups) with an affine map
 * that varies inside a group, on the WebAssembly SIMD kernels: LayerNorm's
 * forward and fused backward with a weight and bias per element, and the
 * per-run sums and dx of a backward whose affine parameters are constant
 * over spans of a run. The arrays are used where they are when resident,
 * else copied in whole (see resident.ts); the runs are split into jobs over
 * the threads. Each function returns false where the kernels or the memory
 * are unavailable, having written nothing the caller keeps.
 */
import { type Kernels, getKernels } from './kernels.js';
import { jobBuf, jobsOverRuns, runOverRuns } from './batch-norm.js';
import { withAddresses, withStaging } from './resident.js';
import { EW_LN_BWD, EW_LN_FWD, EW_NORM_DX, EW_NORM_SUMS, JOB_WORDS, putJob } from './thread-pool.js';

/** f64 (mean, invstd) pairs per row, written at `at`. */
function writeStats(k: Kernels, at: number, mean: Float64Array, invstd: Float64Array): void {
  const f64 = new Float64Array(k.memory.buffer, at, 2 * mean.length);
  for (let r = 0; r < mean.length; r++) {
    f64[2 * r] = mean[r];
    f64[2 * r + 1] = invstd[r];
  }
}

/** LayerNorm's forward over `rows` rows of F floats of d (from o): xhat and y = xhat w + b. */
export function wasmLayerNormForward(
  d: Float32Array, o: number, rows: number, F: number, mean: Float64Array, invstd: Float64Array,
  w: Float32Array, b: Float32Array, xhat: Float32Array, y: Float32Array,
): boolean {
  const k = getKernels();
  if (!k) return false;
  const inputs = [{ data: d, offset: o, length: rows * F }, { data: w, offset: 0, length: F }, { data: b, offset: 0, length: F }];
  return withAddresses(k, inputs, [xhat, y], ([x, wAt, bAt], [hAt, yAt]) => withStaging(k, rows * 16, (stats) => {
    writeStats(k, stats, mean, invstd);
    runOverRuns(k, rows, (wd, first, count) => {
      const off = first * F * 4;
      putJob(jobBuf, wd, EW_LN_FWD, x + off, yAt + off, hAt + off, count, F, stats + first * 16, wAt, bAt);
    });
    return true;
  })) ?? false;
}

/**
 * LayerNorm's fused backward over `rows` rows of F floats: dx from dy (g),
 * xhat (h), the rows' invstd and the weight w (without the mean's term when
 * not `centered`: RMSNorm); dWeight and dBias [F] are the
 * column sums of dy xhat and dy (each job sums its rows in f64, then the
 * jobs' sums are added in job order).
 */
export function wasmLayerNormBackward(
  g: Float32Array, go: number, h: Float32Array, ho: number, rows: number, F: number, invstd: Float64Array,
  w: Float32Array, centered: boolean, dx: Float32Array, dWeight: Float32Array, dBias: Float32Array,
): boolean {
  const k = getKernels();
  if (!k) return false;
  const n = rows * F;
  const jobs = jobsOverRuns(k, rows);
  const accBytes = 16 * F; // dweight [F] then dbias [F], f64
  const inputs = [{ data: g, offset: go, length: n }, { data: h, offset: ho, length: n }, { data: w, offset: 0, length: F }];
  return withAddresses(k, inputs, [dx], ([gAt, hAt, wAt], [dxAt]) => withStaging(k, rows * 16 + jobs * accBytes, (stats) => {
    writeStats(k, stats, new Float64Array(rows), invstd);
    const acc = stats + rows * 16;
    new Float64Array(k.memory.buffer, acc, jobs * 2 * F).fill(0);
    const ran = runOverRuns(k, rows, (wd, first, count) => {
      const off = first * F * 4;
      putJob(jobBuf, wd, EW_LN_BWD, gAt + off, hAt + off, dxAt + off, count, F, stats + first * 16, wAt, acc + (wd / JOB_WORDS) * accBytes, centered ? 1 : 0);
    });
    const sums = new Float64Array(k.memory.buffer, acc, ran * 2 * F);
    for (let f = 0; f < F; f++) {
      let sw = 0;
      let sb = 0;
      for (let j = 0; j < ran; j++) {
        sw += sums[j * 2 * F + f];
        sb += sums[j * 2 * F + F + f];
      }
      dWeight[f] = sw;
      dBias[f] = sb;
    }
    return true;
  })) ?? false;
}

/** (sum(g), sum(g h)) of each of `count` runs of `len` floats (from go and ho), as f64 pairs in `out`. */
export function wasmRunSums(g: Float32Array, go: number, h: Float32Array, ho: number, count: number, len: number, out: Float64Array): boolean {
  const k = getKernels();
  if (!k) return false;
  const n = count * len;
  return withAddresses(k, [{ data: g, offset: go, length: n }, { data: h, offset: ho, length: n }], [], ([gAt, hAt]) => withStaging(k, count * 16, (at) => {
    runOverRuns(k, count, (wd, first, runs) => {
      putJob(jobBuf, wd, EW_NORM_SUMS, gAt + first * len * 4, hAt + first * len * 4, runs, len, at + first * 16);
    });
    out.set(new Float64Array(k.memory.buffer, at, 2 * count));
    return true;
  })) ?? false;
}

/** dx = A g + B h + D over each of `count` runs of `len` floats, with the run's (A, B, D) in `coef` (3 per run). */
export function wasmRunDx(g: Float32Array, go: number, h: Float32Array, ho: number, count: number, len: number, coef: Float64Array, dx: Float32Array): boolean {
  const k = getKernels();
  if (!k) return false;
  const n = count * len;
  return withAddresses(k, [{ data: g, offset: go, length: n }, { data: h, offset: ho, length: n }], [dx], ([gAt, hAt], [dxAt]) => withStaging(k, count * 24, (at) => {
    new Float64Array(k.memory.buffer, at, 3 * count).set(coef);
    runOverRuns(k, count, (wd, first, runs) => {
      const off = first * len * 4;
      putJob(jobBuf, wd, EW_NORM_DX, dxAt + off, gAt + off, hAt + off, runs, len, at + first * 24);
    });
    return true;
  })) ?? false;
}

/** Reductions (sum, prod, max, min, arg-reductions), with Kahan-compensated sums, and their two-stage (blocked) form for long reduced extents. */
import type { ReduceOp } from '@normlab/tensor';
import type { KernelDef } from '../device.js';
import { type View, coalesce, divmodChain, fn, linear, size } from './common.js';

/** Kahan-compensated accumulation of `v` into s (compensation c); p keeps the plain sum for non-finite values. */
export const KAHAN = ['const ky = v - kc;', 'const kt = ks + ky;', 'kc = (kt - ks) - ky;', 'ks = kt;', 'kp = kp + v;'];
export const KAHAN_INIT = ['let ks = 0.0;', 'let kc = 0.0;', 'let kp = 0.0;'];
/** The compensated sum where the plain sum is finite (Kahan gives NaN once a term is infinite). */
export const KAHAN_RESULT = '(kp - kp === 0.0 ? ks : kp)';

/** Nested loops over `shape` (literal bounds) around `inner`, with the running index `base + sum(j_d * stride_d)` in `idxName`. */
export function loops(shape: readonly number[], strides: readonly number[], base: string, idxName: string, inner: string[], lines: string[]): void {
  const names = shape.map((_, d) => `j${d}`);
  let indent = '';
  shape.forEach((n, d) => {
    lines.push(`${indent}for (let ${names[d]} = 0; ${names[d]} < ${n}; ${names[d]}++) {`);
    indent += '  ';
  });
  lines.push(`${indent}const ${idxName} = ${[base, ...names.map((nm, d) => (strides[d] === 0 ? '' : strides[d] === 1 ? nm : `${nm} * ${strides[d]}`)).filter((s) => s)].join(' + ')};`);
  for (const l of inner) lines.push(indent + l);
  for (let d = shape.length - 1; d >= 0; d--) {
    indent = indent.slice(2);
    lines.push(`${indent}}`);
  }
}

/**
 * Reduces x (shape, strides, offset) over `dims` (kept as size 1): one thread
 * per output element loops over the reduced elements (bounded by literals).
 */
export function reduceKernel(op: ReduceOp, shape: readonly number[], x: View, dims: readonly number[]): KernelDef {
  const keptDims = shape.map((_, d) => d).filter((d) => !dims.includes(d));
  const kept = coalesce(keptDims.map((d) => shape[d]), [{ strides: keptDims.map((d) => x.strides[d]), offset: 0 }]);
  const red = coalesce(dims.map((d) => shape[d]), [{ strides: dims.map((d) => x.strides[d]), offset: 0 }]);
  const lines: string[] = ['const t = this.thread.x;'];
  const names = kept.shape.length === 1 ? ['t'] : divmodChain(kept.shape, 't', 'i', lines);
  lines.push(`const base = ${linear(x.offset, names, kept.strides[0])};`);
  let init: string[];
  let step: string[];
  let result: string;
  switch (op) {
    case 'sum':
      init = KAHAN_INIT;
      step = KAHAN;
      result = KAHAN_RESULT;
      break;
    case 'prod':
      init = ['let acc = 1.0;'];
      step = ['acc = acc * v;'];
      result = 'acc';
      break;
    case 'max':
    case 'min':
      // Starts from the first element (gpu.js writes Infinity as the largest finite float);
      // a NaN wins and stays (once acc is NaN, the comparison is false).
      init = ['let acc = a0[base];'];
      step = [`if (acc === acc && (v ${op === 'max' ? '>' : '<'} acc || v !== v)) { acc = v; }`];
      result = 'acc';
      break;
  }
  lines.push(...init);
  loops(red.shape, red.strides[0], 'base', 'ix', [`const v = a0[ix];`, ...step], lines);
  lines.push(`return ${result};`);
  return { src: fn(1, lines), loopMax: Math.max(0, ...red.shape), args: ['Array'], n: size(shape.map((d, i) => (dims.includes(i) ? 1 : d))) };
}

/** Index of the max/min along `dim` (first on ties; a NaN wins), as a float holding an integer. */
export function argReduceKernel(op: 'argmax' | 'argmin', shape: readonly number[], x: View, dim: number): KernelDef {
  const outShape = shape.map((d, i) => (i === dim ? 1 : d));
  const c = coalesce(outShape, [x]);
  const lines: string[] = ['const t = this.thread.x;'];
  const names = c.shape.length === 1 ? ['t'] : divmodChain(c.shape, 't', 'i', lines);
  const n = shape[dim];
  const sd = x.strides[dim];
  lines.push(
    `const base = ${linear(x.offset, names, c.strides[0])};`,
    'let bv = a0[base];',
    'let bi = 0.0;',
    'let done = bv !== bv ? 1.0 : 0.0;',
    `for (let j = 1; j < ${n}; j++) {`,
    `  if (done === 0.0) {`,
    `    const v = a0[base + j * ${sd}];`,
    `    if (v !== v) { bi = j; done = 1.0; }`,
    `    else if (v ${op === 'argmax' ? '>' : '<'} bv) { bv = v; bi = j; }`,
    '  }',
    '}',
    'return bi;',
  );
  return { src: fn(1, lines), loopMax: n, args: ['Array'], n: size(outShape) };
}


/** Reduced extents at least this long are reduced in two stages (when the outputs alone give too few threads). */
export const BLOCKED_MIN = 4096;
/** Outputs from which one thread per output already fills a GPU. */
const BLOCKED_MAX_OUTPUTS = 16384;

/** The block length B and block count P of a two-stage reduction of R elements into O outputs, or null for one stage. */
export function blockPlan(R: number, O: number): { B: number; P: number } | null {
  if (R < BLOCKED_MIN || O >= BLOCKED_MAX_OUTPUTS) return null;
  const B = Math.max(256, Math.ceil(Math.sqrt(R)));
  return { B, P: Math.ceil(R / B) };
}

/**
 * Stage 1 skeleton: thread t = (o, p) of [O, P]; `head(o)` sets up per
 * output o; then a loop over block p's indices j < R, where `body(j)` adds
 * element j. The caller's `init`/`result` wrap the accumulation.
 */
export function blockedStage1(O: number, P: number, B: number, R: number, head: (o: string) => string[], body: (j: string) => string[], init: string[], result: string, params: number, args: KernelDef['args']): KernelDef {
  const lines = ['const t = this.thread.x;'];
  if (O === 1) lines.push('const o = 0;', 'const p = t;');
  else {
    lines.push(
      `let o = Math.floor((t + 0.5) / ${P});`,
      `let p = t - o * ${P};`,
      `if (p < 0) { o = o - 1; p = p + ${P}; }`,
      `if (p >= ${P}) { o = o + 1; p = p - ${P}; }`,
    );
  }
  lines.push(...head('o'), ...init);
  lines.push(`for (let jj = 0; jj < ${B}; jj++) {`, `  const j = p * ${B} + jj;`, `  if (j < ${R}) {`, ...body('j').map((l) => `    ${l}`), '  }', '}', `return ${result};`);
  return { src: fn(params, lines), loopMax: B, args, n: O * P };
}

/** Statements giving `ix`, the buffer index of reduced element j (over the coalesced reduced shape and strides) from `base`. */
function reducedIndex(shape: readonly number[], strides: readonly number[], j: string): string[] {
  const lines: string[] = [];
  if (shape.length === 1) {
    lines.push(`const ix = base + ${j}${strides[0] === 1 ? '' : ` * ${strides[0]}`};`);
    return lines;
  }
  const names = divmodChain(shape, j, 'k', lines);
  lines.push(`const ix = base + ${linear(0, names, strides)};`);
  return lines;
}

/** Stage 1 of reduce: partials [O, P] of x over `dims` (P blocks of B reduced elements each). */
export function reduceStage1Kernel(op: ReduceOp, shape: readonly number[], x: View, dims: readonly number[], B: number, P: number): KernelDef {
  const keptDims = shape.map((_, d) => d).filter((d) => !dims.includes(d));
  const kept = coalesce(keptDims.map((d) => shape[d]), [{ strides: keptDims.map((d) => x.strides[d]), offset: 0 }]);
  const red = coalesce(dims.map((d) => shape[d]), [{ strides: dims.map((d) => x.strides[d]), offset: 0 }]);
  const R = size(red.shape);
  const O = size(kept.shape);
  const head = (o: string) => {
    const lines: string[] = [];
    const names = kept.shape.length === 0 ? [] : kept.shape.length === 1 ? [o] : divmodChain(kept.shape, o, 'i', lines);
    lines.push(`const base = ${linear(x.offset, names, kept.strides[0] ?? [])};`);
    return lines;
  };
  let init: string[];
  let step: string[];
  let result: string;
  switch (op) {
    case 'sum':
      [init, step, result] = [KAHAN_INIT, KAHAN, KAHAN_RESULT];
      break;
    case 'prod':
      [init, step, result] = [['let acc = 1.0;'], ['acc = acc * v;'], 'acc'];
      break;
    case 'max':
    case 'min': {
      // The block's first element (always < R) starts the running max/min.
      const first = reducedIndex(red.shape, red.strides[0], `(p * ${B})`).map((l) => l.replace('const ix', 'const ix0'));
      init = [...first, 'let acc = a0[ix0];'];
      step = [`if (acc === acc && (v ${op === 'max' ? '>' : '<'} acc || v !== v)) { acc = v; }`];
      result = 'acc';
      break;
    }
  }
  // divmodChain names in `first` and in the loop body would clash: give the first's its own prefix.
  init = init.map((l) => l.replace(/\bk(q?\d+|r)\b/g, 'f$1'));
  return blockedStage1(O, P, B, R, head, (j) => [...reducedIndex(red.shape, red.strides[0], j), 'const v = a0[ix];', ...step], init, result, 1, ['Array']);
}

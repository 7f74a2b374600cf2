/**
 * Kernel sources for gpu.js, generated per op and shape: every shape, stride
 * and offset is a literal, so each loop is bounded by a constant and the
 * index arithmetic folds. Sources are JavaScript functions with parameters
 * a0, a1, ... (device buffers or scalars) and a flat 1-D output; the worker
 * compiles them with gpu.js (WGSL on webgpu, WebAssembly on webasm, JS on cpu).
 *
 * Index arithmetic: gpu.js computes in float32, so indices are exact below
 * 2^24. Division is not exact on every GPU (WGSL allows 2.5 ulp), so each
 * div/mod is floor((i + 0.5) / d) with a remainder correction; results are
 * exact for i < 2^24 (MAX_ELEMENTS).
 */
import type { BinaryOp, ReduceOp, UnaryOp } from '@normlab/tensor';
import type { KernelDef } from './device.js';

/** Largest buffer (and index) the float32 index arithmetic addresses exactly. */
export const MAX_ELEMENTS = 2 ** 24;

/** A strided view of a buffer over some iteration shape. */
export interface View {
  strides: readonly number[];
  offset: number;
}

/**
 * Drops size-1 dims and merges dims that every view walks contiguously,
 * so that a contiguous or simply broadcast operand needs few div/mods.
 */
export function coalesce(shape: readonly number[], views: readonly View[]): { shape: number[]; strides: number[][] } {
  const keep = shape.map((_, d) => d).filter((d) => shape[d] !== 1);
  const outShape: number[] = [];
  const outStrides: number[][] = views.map(() => []);
  for (const d of keep) {
    const last = outShape.length - 1;
    if (last >= 0 && views.every((v, k) => outStrides[k][last] === v.strides[d] * shape[d])) {
      outShape[last] *= shape[d];
      views.forEach((v, k) => {
        outStrides[k][last] = v.strides[d];
      });
    } else {
      outShape.push(shape[d]);
      views.forEach((v, k) => outStrides[k].push(v.strides[d]));
    }
  }
  return { shape: outShape, strides: outStrides };
}

/** Statements that split `src` (a flat index) into per-dim indices i0..i{n-1} over `shape`; returns the names. */
export function divmodChain(shape: readonly number[], src: string, prefix: string, lines: string[]): string[] {
  const n = shape.length;
  if (n === 0) return [];
  if (n === 1) {
    lines.push(`const ${prefix}0 = ${src};`);
    return [`${prefix}0`];
  }
  const names = shape.map((_, d) => `${prefix}${d}`);
  lines.push(`let ${prefix}r = ${src};`);
  for (let d = n - 1; d >= 1; d--) {
    const s = shape[d];
    const q = `${prefix}q${d}`;
    const i = names[d];
    lines.push(
      `let ${q} = Math.floor((${prefix}r + 0.5) / ${s});`,
      `let ${i} = ${prefix}r - ${q} * ${s};`,
      `if (${i} < 0) { ${q} = ${q} - 1; ${i} = ${i} + ${s}; }`,
      `if (${i} >= ${s}) { ${q} = ${q} + 1; ${i} = ${i} - ${s}; }`,
    );
    if (d > 1) lines.push(`${prefix}r = ${q};`);
  }
  lines.push(`const ${names[0]} = ${prefix}q1;`);
  return names;
}

/** offset + sum(index_d * stride_d), skipping zero strides. */
export function linear(offset: number, names: readonly string[], strides: readonly number[]): string {
  const terms: string[] = [];
  if (offset !== 0) terms.push(String(offset));
  names.forEach((name, d) => {
    const s = strides[d];
    if (s === 0) return;
    terms.push(s === 1 ? name : `${name} * ${s}`);
  });
  return terms.length ? terms.join(' + ') : '0';
}

function fn(params: number, body: string[]): string {
  const names = Array.from({ length: params }, (_, i) => `a${i}`);
  return `function(${names.join(', ')}) {\n  ${body.join('\n  ')}\n}`;
}

/** Per-element access of each view at the flat output index: the shared prelude and one index expression per view. */
function elementIndex(shape: readonly number[], views: readonly View[], lines: string[]): string[] {
  const c = coalesce(shape, views);
  // A view that walks the output contiguously from 0 reads at the thread index itself.
  if (c.shape.length <= 1) {
    lines.push('const t = this.thread.x;');
    return views.map((v, k) => linear(v.offset, c.shape.length ? ['t'] : [], c.strides[k]));
  }
  lines.push('const t = this.thread.x;');
  const names = divmodChain(c.shape, 't', 'i', lines);
  return views.map((v, k) => linear(v.offset, names, c.strides[k]));
}

// ---- elementwise -------------------------------------------------------------

/**
 * The device's formulas for elementwise ops: the same semantics as
 * @normlab/tensor's elementwise-table.ts, written for gpu.js (no truthiness
 * of numbers, helpers for log1p, tanh, erf and pow that are accurate in float32).
 */
export const DEVICE_UNARY: Record<UnaryOp, string> = {
  neg: '-x',
  abs: 'Math.abs(x)',
  exp: 'Math.exp(x)',
  log: 'Math.log(x)',
  log1p: 'nl_log1p(x)',
  sqrt: 'Math.sqrt(x)',
  rsqrt: '1.0 / Math.sqrt(x)',
  square: 'x * x',
  reciprocal: '1.0 / x',
  sin: 'Math.sin(x)',
  cos: 'Math.cos(x)',
  tanh: 'nl_tanh(x)',
  sigmoid: '1.0 / (1.0 + Math.exp(-x))',
  relu: '(x > 0.0 ? x : (x !== x ? x : 0.0))',
  leakyRelu: '(x > 0.0 ? x : p0 * x)',
  gelu: '0.5 * x * (1.0 + nl_erf(x * 0.7071067811865476))',
  geluTanh: '0.5 * x * (1.0 + nl_tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))',
  erf: 'nl_erf(x)',
  softplus: '(x * p0 > p1 ? x : nl_log1p(Math.exp(x * p0)) / p0)',
  clamp: '(x < p0 ? p0 : (x > p1 ? p1 : x))',
  sign: '(x > 0.0 ? 1.0 : (x < 0.0 ? -1.0 : x))',
  powScalar: 'nl_pow(x, p0)',
  step: '(x > 0.0 ? 1.0 : 0.0)',
  logicalNot: '(x === 0.0 || x !== x ? 1.0 : 0.0)',
  isNan: '(x !== x ? 1.0 : 0.0)',
};

export const DEVICE_BINARY: Record<BinaryOp, string> = {
  add: 'a + b',
  sub: 'a - b',
  mul: 'a * b',
  div: 'a / b',
  maximum: '(a !== a ? a : (b !== b ? b : Math.max(a, b)))',
  minimum: '(a !== a ? a : (b !== b ? b : Math.min(a, b)))',
  pow: 'nl_pow(a, b)',
  eq: '(a === b ? 1.0 : 0.0)',
  ne: '(a !== b ? 1.0 : 0.0)',
  lt: '(a < b ? 1.0 : 0.0)',
  le: '(a <= b ? 1.0 : 0.0)',
  gt: '(a > b ? 1.0 : 0.0)',
  ge: '(a >= b ? 1.0 : 0.0)',
  // JavaScript truthiness (the CPU's formulas): 0 and NaN are false.
  logicalAnd: '((a !== 0.0 && a === a) && (b !== 0.0 && b === b) ? 1.0 : 0.0)',
  logicalOr: '((a !== 0.0 && a === a) || (b !== 0.0 && b === b) ? 1.0 : 0.0)',
};

export function shapeKey(shape: readonly number[], v: readonly View[]): string {
  return `${shape.join('x')}|${v.map((w) => `${w.offset}:${w.strides.join(',')}`).join('|')}`;
}

/** y = f(x) elementwise, with parameters p0, p1 as scalars. */
export function unaryKernel(expr: string, shape: readonly number[], x: View): KernelDef {
  const lines: string[] = [];
  const [ix] = elementIndex(shape, [x], lines);
  const usesP0 = /\bp0\b/.test(expr);
  const usesP1 = /\bp1\b/.test(expr);
  lines.push(`const x = a0[${ix}];`);
  if (usesP0) lines.push('const p0 = a1;');
  if (usesP1) lines.push('const p1 = a2;');
  lines.push(`return ${expr};`);
  const params = 1 + (usesP1 ? 2 : usesP0 ? 1 : 0);
  const args: KernelDef['args'] = ['Array'];
  for (let i = 1; i < params; i++) args.push('Float');
  return { src: fn(params, lines), loopMax: 0, args, n: size(shape) };
}

export function binaryKernel(expr: string, shape: readonly number[], a: View, b: View): KernelDef {
  const lines: string[] = [];
  const [ia, ib] = elementIndex(shape, [a, b], lines);
  lines.push(`const a = a0[${ia}];`, `const b = a1[${ib}];`);
  lines.push(`return ${expr};`);
  return { src: fn(2, lines), loopMax: 0, args: ['Array', 'Array'], n: size(shape) };
}

export function whereKernel(shape: readonly number[], c: View, a: View, b: View): KernelDef {
  const lines: string[] = [];
  const [ic, ia, ib] = elementIndex(shape, [c, a, b], lines);
  lines.push(`const c = a0[${ic}];`, `if (c !== 0.0) { return a1[${ia}]; }`, `return a2[${ib}];`);
  return { src: fn(3, lines), loopMax: 0, args: ['Array', 'Array', 'Array'], n: size(shape) };
}

export function fillKernel(n: number): KernelDef {
  return { src: fn(1, ['return a0;']), loopMax: 0, args: ['Float'], n };
}

// ---- reductions --------------------------------------------------------------

/** Kahan-compensated accumulation of `v` into s (compensation c); p keeps the plain sum for non-finite values. */
const KAHAN = ['const ky = v - kc;', 'const kt = ks + ky;', 'kc = (kt - ks) - ky;', 'ks = kt;', 'kp = kp + v;'];
const KAHAN_INIT = ['let ks = 0.0;', 'let kc = 0.0;', 'let kp = 0.0;'];
/** The compensated sum where the plain sum is finite (Kahan gives NaN once a term is infinite). */
const KAHAN_RESULT = '(kp - kp === 0.0 ? ks : kp)';

/** Nested loops over `shape` (literal bounds) around `inner`, with the running index `base + sum(j_d * stride_d)` in `idxName`. */
function loops(shape: readonly number[], strides: readonly number[], base: string, idxName: string, inner: string[], lines: string[]): void {
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

// ---- matmul ------------------------------------------------------------------

/** Unrolled this many times with independent accumulators (latency-bound otherwise). */
const MATMUL_UNROLL = 4;

/** c[b, m, n] = sum_k a[b, m, k] * b[b, k, n], a and b strided views (transposes and broadcast batches included). */
export function matmulKernel(B: number, M: number, K: number, N: number, a: View, b: View): KernelDef {
  const lines: string[] = ['const t = this.thread.x;'];
  const outShape = [B, M, N];
  const names = divmodChain(outShape, 't', 'i', lines);
  const [ib, im, in_] = names;
  lines.push(
    `const ba = ${linear(a.offset, [ib, im], [B === 1 ? 0 : a.strides[0], a.strides[1]])};`,
    `const bb = ${linear(b.offset, [ib, in_], [B === 1 ? 0 : b.strides[0], b.strides[2]])};`,
  );
  const sak = a.strides[2];
  const sbk = b.strides[1];
  const at = (k: string) => `a0[ba + ${k} * ${sak}] * a1[bb + ${k} * ${sbk}]`;
  const blocks = Math.floor(K / MATMUL_UNROLL);
  const rest = K - blocks * MATMUL_UNROLL;
  lines.push('let s0 = 0.0;', 'let s1 = 0.0;', 'let s2 = 0.0;', 'let s3 = 0.0;');
  if (blocks > 0) {
    lines.push(
      `for (let kb = 0; kb < ${blocks}; kb++) {`,
      `  const k = kb * ${MATMUL_UNROLL};`,
      `  s0 = s0 + ${at('k')};`,
      `  s1 = s1 + ${at('(k + 1)')};`,
      `  s2 = s2 + ${at('(k + 2)')};`,
      `  s3 = s3 + ${at('(k + 3)')};`,
      '}',
    );
  }
  for (let r = 0; r < rest; r++) lines.push(`s${r} = s${r} + ${at(String(blocks * MATMUL_UNROLL + r))};`);
  lines.push('return (s0 + s1) + (s2 + s3);');
  return { src: fn(2, lines), loopMax: blocks, args: ['Array', 'Array'], n: B * M * N };
}

// ---- BatchNorm ---------------------------------------------------------------

/** [N, C, S] view of x. */
export interface NCS {
  N: number;
  C: number;
  S: number;
  x: View;
}

function channelLoops(g: NCS, inner: string[], lines: string[]): void {
  const [sn, , ss] = g.x.strides;
  const shape: number[] = [];
  const strides: number[] = [];
  if (g.N > 1) {
    shape.push(g.N);
    strides.push(sn);
  }
  if (g.S > 1) {
    shape.push(g.S);
    strides.push(ss);
  }
  const c = coalesce(shape, [{ strides, offset: 0 }]);
  if (c.shape.length === 0) {
    lines.push('const ix = base;', ...inner);
    return;
  }
  loops(c.shape, c.strides[0], 'base', 'ix', inner, lines);
}

/** Per-channel mean over N and S (compensated sum). */
export function bnMeanKernel(g: NCS): KernelDef {
  // Summed relative to the channel's first value K0: for data far from zero
  // (1e4 + noise) the differences are small and nearly exact, so the mean
  // comes out within one rounding even if a shader compiler drops Kahan's
  // compensation.
  const lines = ['const c = this.thread.x;', `const base = ${linear(g.x.offset, ['c'], [g.x.strides[1]])};`, 'const K0 = a0[base];', ...KAHAN_INIT];
  channelLoops(g, ['const v = a0[ix] - K0;', ...KAHAN], lines);
  lines.push(`return K0 + ${KAHAN_RESULT} / ${g.N * g.S};`);
  return { src: fn(1, lines), loopMax: Math.max(g.N, g.S, g.N * g.S), args: ['Array'], n: g.C };
}

/**
 * Per-channel biased variance, the second pass: with the mean K of the
 * first, var = mean((x - K)^2) - mean(x - K)^2. The correction term is
 * (mean - K)^2, the square of the first pass's rounding error: tiny, so no
 * cancellation (this is not E[x^2] - E[x]^2), and it removes the bias that
 * the float32 rounding of K would otherwise leave.
 */
export function bnVarKernel(g: NCS): KernelDef {
  const lines = [
    'const c = this.thread.x;',
    `const base = ${linear(g.x.offset, ['c'], [g.x.strides[1]])};`,
    'const K = a1[c];',
    ...KAHAN_INIT,
    'let d1 = 0.0;',
    'let e1 = 0.0;',
  ];
  channelLoops(g, ['const d = a0[ix] - K;', 'const v = d * d;', ...KAHAN, 'const y1 = d - e1;', 'const t1 = d1 + y1;', 'e1 = (t1 - d1) - y1;', 'd1 = t1;'], lines);
  const m = g.N * g.S;
  lines.push(`const mu = d1 / ${m};`, `const v2 = ${KAHAN_RESULT} / ${m} - mu * mu;`, 'return v2 > 0.0 ? v2 : 0.0;');
  return { src: fn(2, lines), loopMax: Math.max(g.N, g.S, g.N * g.S), args: ['Array', 'Array'], n: g.C };
}

/** Per element of [N, C, S]: the channel index c and x's index. */
function perElement(g: NCS, views: readonly View[], lines: string[]): string[] {
  lines.push('const t = this.thread.x;');
  const names = divmodChain([g.N, g.C, g.S], 't', 'i', lines);
  lines.push(`const c = ${names[1]};`);
  return views.map((v) => linear(v.offset, names, v.strides));
}

/** xhat = (x - mean) * invstd, contiguous [N, C, S]. */
export function bnXhatKernel(g: NCS): KernelDef {
  const lines: string[] = [];
  const [ix] = perElement(g, [g.x], lines);
  lines.push(`return (a0[${ix}] - a1[c]) * a2[c];`);
  return { src: fn(3, lines), loopMax: 0, args: ['Array', 'Array', 'Array'], n: g.N * g.C * g.S };
}

/** y = xhat * weight + bias (either may be absent) from the contiguous xhat. */
export function bnAffineKernel(g: NCS, hasWeight: boolean, hasBias: boolean): KernelDef {
  const lines: string[] = [];
  perElement(g, [], lines);
  const args: KernelDef['args'] = ['Array'];
  let expr = 'a0[t]';
  if (hasWeight) {
    args.push('Array');
    expr = `${expr} * a${args.length - 1}[c]`;
  }
  if (hasBias) {
    args.push('Array');
    expr = `${expr} + a${args.length - 1}[c]`;
  }
  lines.push(`return ${expr};`);
  return { src: fn(args.length, lines), loopMax: 0, args, n: g.N * g.C * g.S };
}

/** Per channel sum(dy) (withXhat false) or sum(dy * xhat) (true); dy is `g.x`, xhat the view `h`. */
export function bnBackwardSumKernel(g: NCS, h: View | null): KernelDef {
  const lines = ['const c = this.thread.x;', `const base = ${linear(g.x.offset, ['c'], [g.x.strides[1]])};`];
  if (h) lines.push(`const hbase = ${linear(h.offset, ['c'], [h.strides[1]])};`);
  lines.push(...KAHAN_INIT);
  if (!h) {
    channelLoops(g, ['const v = a0[ix];', ...KAHAN], lines);
  } else {
    // Walk dy and xhat with their own strides: loop over n and s explicitly.
    const [sn, , ss] = g.x.strides;
    const [hn, , hs] = h.strides;
    lines.push(
      `for (let n = 0; n < ${g.N}; n++) {`,
      `  for (let s = 0; s < ${g.S}; s++) {`,
      `    const v = a0[base + n * ${sn} + s * ${ss}] * a1[hbase + n * ${hn} + s * ${hs}];`,
      ...KAHAN.map((l) => `    ${l}`),
      '  }',
      '}',
    );
  }
  lines.push(`return ${KAHAN_RESULT};`);
  return { src: fn(h ? 2 : 1, lines), loopMax: Math.max(g.N, g.S, g.N * g.S), args: h ? ['Array', 'Array'] : ['Array'], n: g.C };
}

/** dx = k (m dy - sdy - xhat sdx), k = weight * invstd / m; args dy, xhat, invstd, sdy, sdx[, weight]. */
export function bnBackwardDxKernel(g: NCS, h: View, hasWeight: boolean): KernelDef {
  const lines: string[] = [];
  const [idy, ih] = perElement(g, [g.x, h], lines);
  const m = g.N * g.S;
  lines.push(
    `const k = ${hasWeight ? 'a5[c] * ' : ''}a2[c] / ${m};`,
    `return k * ${m} * a0[${idy}] - k * a4[c] * a1[${ih}] - k * a3[c];`,
  );
  return { src: fn(hasWeight ? 6 : 5, lines), loopMax: 0, args: hasWeight ? ['Array', 'Array', 'Array', 'Array', 'Array', 'Array'] : ['Array', 'Array', 'Array', 'Array', 'Array'], n: g.N * g.C * g.S };
}

// ---- joins and indexing ------------------------------------------------------

/** Concatenation along `dim` of views over `shapes` into the output shape. */
export function catKernel(outShape: readonly number[], dim: number, parts: readonly { shape: readonly number[]; view: View }[]): KernelDef {
  const lines = ['const t = this.thread.x;'];
  const names = divmodChain(outShape, 't', 'i', lines);
  let start = 0;
  const branches: string[] = [];
  parts.forEach((p, k) => {
    const len = p.shape[dim];
    const local = names.map((nm, d) => (d === dim ? `(${nm} - ${start})` : nm));
    const idx = linear(p.view.offset, local, p.view.strides);
    branches.push(k === parts.length - 1 ? `return a${k}[${idx}];` : `if (${names[dim]} < ${start + len}) { return a${k}[${idx}]; }`);
    start += len;
  });
  lines.push(...branches);
  return { src: fn(parts.length, lines), loopMax: 0, args: parts.map(() => 'Array' as const), n: size(outShape) };
}

/** out[..i..] = x[..index[..i..]..] along dim; index a view of the output's shape. */
export function gatherKernel(outShape: readonly number[], dim: number, x: View, index: View): KernelDef {
  const lines = ['const t = this.thread.x;'];
  const names = divmodChain(outShape, 't', 'i', lines);
  lines.push(`const g = a1[${linear(index.offset, names, index.strides)}];`);
  const local = names.map((nm, d) => (d === dim ? 'g' : nm));
  lines.push(`return a0[${linear(x.offset, local, x.strides)}];`);
  return { src: fn(2, lines), loopMax: 0, args: ['Array', 'Array'], n: size(outShape) };
}

/** Selects entries `index` (1-D view) along `dim` of x. */
export function indexSelectKernel(outShape: readonly number[], dim: number, x: View, index: View): KernelDef {
  const lines = ['const t = this.thread.x;'];
  const names = divmodChain(outShape, 't', 'i', lines);
  lines.push(`const g = a1[${linear(index.offset, [names[dim]], [index.strides[0]])}];`);
  const local = names.map((nm, d) => (d === dim ? 'g' : nm));
  lines.push(`return a0[${linear(x.offset, local, x.strides)}];`);
  return { src: fn(2, lines), loopMax: 0, args: ['Array', 'Array'], n: size(outShape) };
}

export function size(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

// ---- convolution and pooling -------------------------------------------------

/** Geometry of conv/pool windows, as the Backend interface resolves it (height, width pairs). */
export interface Geom2d {
  stride: readonly [number, number];
  padding: readonly [number, number];
  dilation: readonly [number, number];
  kernel: readonly [number, number];
}

/**
 * Statements computing `${name}` = the output position o with o*s + off = v
 * along one axis, and `${name}ok` = 1.0 when there is one in [0, n)
 * (v - off divisible by s); float-exact division as in divmodChain.
 */
function inverseIndex(name: string, v: string, s: number, n: number, lines: string[]): void {
  if (s === 1) {
    lines.push(`const ${name} = ${v};`);
  } else {
    lines.push(
      `const ${name}v = ${v};`,
      `const ${name} = Math.floor((${name}v + 0.5) / ${s});`,
    );
  }
  const exact = s === 1 ? '' : `${name}v === ${name} * ${s} && `;
  lines.push(`const ${name}ok = (${exact}${name} >= 0 && ${name} < ${n}) ? 1.0 : 0.0;`);
}

/** x [N,C,H,W] (a view) -> columns [N, C*kh*kw, oh*ow], zero where the window covers padding. */
export function im2colKernel(shape: readonly number[], x: View, g: Geom2d, outSize: readonly [number, number]): KernelDef {
  const [N, C, H, W] = shape;
  const [kh, kw] = g.kernel;
  const [oh, ow] = outSize;
  const lines = ['const t = this.thread.x;'];
  const [n, c, ki, kj, r, q] = divmodChain([N, C, kh, kw, oh, ow], 't', 'i', lines);
  lines.push(
    `const ih = ${r} * ${g.stride[0]} - ${g.padding[0]} + ${ki} * ${g.dilation[0]};`,
    `const iw = ${q} * ${g.stride[1]} - ${g.padding[1]} + ${kj} * ${g.dilation[1]};`,
    `if (ih < 0 || ih >= ${H} || iw < 0 || iw >= ${W}) { return 0.0; }`,
    `return a0[${linear(x.offset, [n, c, 'ih', 'iw'], x.strides)}];`,
  );
  return { src: fn(1, lines), loopMax: 0, args: ['Array'], n: N * C * kh * kw * oh * ow };
}

/**
 * Adjoint of im2col: per input element, the sum over (ki, kj) (in the CPU
 * backend's order, so the float32 sums agree) of the column entries that
 * read it.
 */
export function col2imKernel(inputShape: readonly number[], cols: View, g: Geom2d, outSize: readonly [number, number]): KernelDef {
  const [N, C, H, W] = inputShape;
  const [kh, kw] = g.kernel;
  const [oh, ow] = outSize;
  const lines = ['const t = this.thread.x;'];
  const [n, c, h, w] = divmodChain([N, C, H, W], 't', 'i', lines);
  lines.push('let s = 0.0;', `for (let ki = 0; ki < ${kh}; ki++) {`, `  for (let kj = 0; kj < ${kw}; kj++) {`);
  const inner: string[] = [];
  inverseIndex('r', `${h} + ${g.padding[0]} - ki * ${g.dilation[0]}`, g.stride[0], oh, inner);
  inverseIndex('q', `${w} + ${g.padding[1]} - kj * ${g.dilation[1]}`, g.stride[1], ow, inner);
  inner.push(`if (rok * qok > 0.0) { s = s + a0[${linear(cols.offset, [n, `((${c} * ${kh} + ki) * ${kw} + kj)`, `(r * ${ow} + q)`], cols.strides)}]; }`);
  lines.push(...inner.map((l) => `    ${l}`), '  }', '}', 'return s;');
  return { src: fn(1, lines), loopMax: Math.max(kh, kw), args: ['Array'], n: N * C * H * W };
}

/**
 * Max pooling of x [N,C,H,W] (a view): the max (what 'value') or the flat
 * h*W+w index of the max within its plane (what 'index'), NaN winning (the
 * last NaN), as the CPU backend's loop.
 */
export function maxPoolKernel(shape: readonly number[], x: View, g: Geom2d, outSize: readonly [number, number], what: 'value' | 'index'): KernelDef {
  const [N, C, H, W] = shape;
  const [kh, kw] = g.kernel;
  const [oh, ow] = outSize;
  const lines = ['const t = this.thread.x;'];
  const [n, c, r, q] = divmodChain([N, C, oh, ow], 't', 'i', lines);
  lines.push(
    `const base = ${linear(x.offset, [n, c], x.strides.slice(0, 2))};`,
    'let bv = 0.0;',
    'let best = -1.0;',
    'let have = 0.0;',
    `for (let ki = 0; ki < ${kh}; ki++) {`,
    `  const ih = ${r} * ${g.stride[0]} - ${g.padding[0]} + ki * ${g.dilation[0]};`,
    `  for (let kj = 0; kj < ${kw}; kj++) {`,
    `    const iw = ${q} * ${g.stride[1]} - ${g.padding[1]} + kj * ${g.dilation[1]};`,
    `    if (ih >= 0 && ih < ${H} && iw >= 0 && iw < ${W}) {`,
    `      const v = a0[base + ${linear(0, ['ih', 'iw'], x.strides.slice(2))}];`,
    '      if (have === 0.0 || v > bv || v !== v) { bv = v; best = ih * ' + W + ' + iw; have = 1.0; }',
    '    }',
    '  }',
    '}',
    what === 'value' ? 'return bv;' : 'return best;',
  );
  return { src: fn(1, lines), loopMax: Math.max(kh, kw), args: ['Array'], n: N * C * oh * ow };
}

/**
 * Backward of max pooling: per input element, the sum of the gradients of
 * the outputs whose recorded argmax it is, in output order (as the CPU
 * backend adds them). Args: grad, indices (views of [N,C,oh,ow]).
 */
export function maxPoolBackwardKernel(inputShape: readonly number[], grad: View, indices: View, g: Geom2d, outSize: readonly [number, number]): KernelDef {
  const [N, C, H, W] = inputShape;
  const [kh, kw] = g.kernel;
  const [oh, ow] = outSize;
  const lines = ['const t = this.thread.x;'];
  const [n, c, h, w] = divmodChain([N, C, H, W], 't', 'i', lines);
  lines.push(`const self = ${h} * ${W} + ${w};`, 'let s = 0.0;', `for (let kk = 0; kk < ${kh}; kk++) {`, `  for (let ll = 0; ll < ${kw}; ll++) {`);
  // ki descending gives r ascending: the outputs in row-major order.
  const inner: string[] = [`const ki = ${kh - 1} - kk;`, `const kj = ${kw - 1} - ll;`];
  inverseIndex('r', `${h} + ${g.padding[0]} - ki * ${g.dilation[0]}`, g.stride[0], oh, inner);
  inverseIndex('q', `${w} + ${g.padding[1]} - kj * ${g.dilation[1]}`, g.stride[1], ow, inner);
  inner.push(
    'if (rok * qok > 0.0) {',
    `  if (a1[${linear(indices.offset, [n, c, 'r', 'q'], indices.strides)}] === self) { s = s + a0[${linear(grad.offset, [n, c, 'r', 'q'], grad.strides)}]; }`,
    '}',
  );
  lines.push(...inner.map((l) => `    ${l}`), '  }', '}', 'return s;');
  return { src: fn(2, lines), loopMax: Math.max(kh, kw), args: ['Array', 'Array'], n: N * C * H * W };
}

/** Statements for the divisor of output (r, q) of average pooling, into `dv` (the CPU backend's windows()). */
function avgDivisor(r: string, q: string, H: number, W: number, g: Geom2d & { countIncludePad: boolean }, lines: string[]): void {
  const axis = (o: string, s: number, p: number, k: number, size: number, tag: string) => {
    lines.push(
      `const ${tag}s = ${o} * ${s} - ${p};`,
      `const ${tag}e = Math.min(${tag}s + ${k}, ${size + p});`,
      `const ${tag}n = Math.min(${tag}e, ${size}) - Math.max(${tag}s, 0);`,
    );
  };
  axis(r, g.stride[0], g.padding[0], g.kernel[0], H, 'h');
  axis(q, g.stride[1], g.padding[1], g.kernel[1], W, 'w');
  lines.push(g.countIncludePad ? 'const dv = (he - hs) * (we - ws);' : 'const dv = hn * wn;');
}

/** Average pooling of x [N,C,H,W] (a view); an empty window gives 0. */
export function avgPoolKernel(shape: readonly number[], x: View, g: Geom2d & { countIncludePad: boolean }, outSize: readonly [number, number]): KernelDef {
  const [N, C, H, W] = shape;
  const [kh, kw] = g.kernel;
  const [oh, ow] = outSize;
  const lines = ['const t = this.thread.x;'];
  const [n, c, r, q] = divmodChain([N, C, oh, ow], 't', 'i', lines);
  avgDivisor(r, q, H, W, g, lines);
  lines.push(
    'if (hn <= 0 || wn <= 0) { return 0.0; }',
    `const base = ${linear(x.offset, [n, c], x.strides.slice(0, 2))};`,
    'let s = 0.0;',
    `for (let ki = 0; ki < ${kh}; ki++) {`,
    '  const ih = hs + ki;',
    `  for (let kj = 0; kj < ${kw}; kj++) {`,
    '    const iw = ws + kj;',
    `    if (ih >= 0 && ih < ${H} && iw >= 0 && iw < ${W}) { s = s + a0[base + ${linear(0, ['ih', 'iw'], x.strides.slice(2))}]; }`,
    '  }',
    '}',
    'return s / dv;',
  );
  return { src: fn(1, lines), loopMax: Math.max(kh, kw), args: ['Array'], n: N * C * oh * ow };
}

/** Adjoint of average pooling: per input element, the sum over the windows that cover it of grad / divisor, in output order. */
export function avgPoolBackwardKernel(inputShape: readonly number[], grad: View, g: Geom2d & { countIncludePad: boolean }, outSize: readonly [number, number]): KernelDef {
  const [N, C, H, W] = inputShape;
  const [kh, kw] = g.kernel;
  const [oh, ow] = outSize;
  const lines = ['const t = this.thread.x;'];
  const [n, c, h, w] = divmodChain([N, C, H, W], 't', 'i', lines);
  lines.push('let s = 0.0;', `for (let kk = 0; kk < ${kh}; kk++) {`, `  for (let ll = 0; ll < ${kw}; ll++) {`);
  const inner: string[] = [`const ki = ${kh - 1} - kk;`, `const kj = ${kw - 1} - ll;`];
  inverseIndex('r', `${h} + ${g.padding[0]} - ki`, g.stride[0], oh, inner);
  inverseIndex('q', `${w} + ${g.padding[1]} - kj`, g.stride[1], ow, inner);
  inner.push('if (rok * qok > 0.0) {');
  const div: string[] = [];
  avgDivisor('r', 'q', H, W, g, div);
  inner.push(...div.map((l) => `  ${l}`), `  s = s + a0[${linear(grad.offset, [n, c, 'r', 'q'], grad.strides)}] / dv;`, '}');
  lines.push(...inner.map((l) => `    ${l}`), '  }', '}', 'return s;');
  return { src: fn(1, lines), loopMax: Math.max(kh, kw), args: ['Array'], n: N * C * H * W };
}

// ---- scatter -----------------------------------------------------------------

/**
 * zeros(shape) with out[..index[..j..]..] += src[..j..] along dim: per
 * output element, a loop over j along dim (in the CPU backend's order).
 * index and src are views over index's shape (rank >= 1).
 */
export function scatterAddKernel(shape: readonly number[], dim: number, ishape: readonly number[], index: View, src: View): KernelDef {
  const lines = ['const t = this.thread.x;'];
  const names = divmodChain(shape, 't', 'i', lines);
  const outside = names.map((nm, d) => (d === dim || ishape[d] === shape[d] ? '' : `${nm} >= ${ishape[d]}`)).filter((s) => s);
  if (outside.length) lines.push(`if (${outside.join(' || ')}) { return 0.0; }`);
  const local = names.map((nm, d) => (d === dim ? 'j' : nm));
  lines.push(
    'let s = 0.0;',
    `for (let j = 0; j < ${ishape[dim]}; j++) {`,
    `  if (a0[${linear(index.offset, local, index.strides)}] === ${names[dim]}) { s = s + a1[${linear(src.offset, local, src.strides)}]; }`,
    '}',
    'return s;',
  );
  return { src: fn(2, lines), loopMax: ishape[dim], args: ['Array', 'Array'], n: size(shape) };
}

/** zeros(shape) with slice t of src (a view, src.shape[dim] = k) added at index[t] along dim, t ascending. */
export function indexAddKernel(shape: readonly number[], dim: number, k: number, index: View, src: View): KernelDef {
  const lines = ['const t = this.thread.x;'];
  const names = divmodChain(shape, 't', 'i', lines);
  const local = names.map((nm, d) => (d === dim ? 'j' : nm));
  lines.push(
    'let s = 0.0;',
    `for (let j = 0; j < ${k}; j++) {`,
    `  if (a0[${linear(index.offset, ['j'], index.strides)}] === ${names[dim]}) { s = s + a1[${linear(src.offset, local, src.strides)}]; }`,
    '}',
    'return s;',
  );
  return { src: fn(2, lines), loopMax: k, args: ['Array', 'Array'], n: size(shape) };
}

// ---- blocked (two-stage) reductions ------------------------------------------

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
function blockedStage1(O: number, P: number, B: number, R: number, head: (o: string) => string[], body: (j: string) => string[], init: string[], result: string, params: number, args: KernelDef['args']): KernelDef {
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

/** Stage 1 of the BN mean: partial sums of x - K0 (K0 the channel's first value) per [C, P]. */
export function bnMeanStage1Kernel(g: NCS, B: number, P: number): KernelDef {
  return blockedStage1(g.C, P, B, g.N * g.S, (o) => [`const base = ${linear(g.x.offset, [o], [g.x.strides[1]])};`, 'const K0 = a0[base];'],
    (j) => [...bnIndex(g, g.x, j, 'ix'), 'const v = a0[ix] - K0;', ...KAHAN], KAHAN_INIT, KAHAN_RESULT, 1, ['Array']);
}

/** Stage 2 of the BN mean: K0 + sum(partials) / m per channel; args x, partials [C, P]. */
export function bnMeanStage2Kernel(g: NCS, P: number): KernelDef {
  const lines = ['const c = this.thread.x;', `const K0 = a0[${linear(g.x.offset, ['c'], [g.x.strides[1]])}];`, ...KAHAN_INIT,
    `for (let p = 0; p < ${P}; p++) {`, `  const v = a1[c * ${P} + p];`, ...KAHAN.map((l) => `  ${l}`), '}', `return K0 + ${KAHAN_RESULT} / ${g.N * g.S};`];
  return { src: fn(2, lines), loopMax: P, args: ['Array', 'Array'], n: g.C };
}

/** Statements giving `name`, the index in view v of element m = n*S + s of channel c (`base` of v set by the caller). */
function bnIndex(g: NCS, v: View, m: string, name: string): string[] {
  const [sn, , ss] = v.strides;
  if (g.S === 1) return [`const ${name} = base + ${m}${sn === 1 ? '' : ` * ${sn}`};`];
  if (g.N === 1) return [`const ${name} = base + ${m}${ss === 1 ? '' : ` * ${ss}`};`];
  const lines: string[] = [];
  const [n, s] = divmodChain([g.N, g.S], m, `${name}k`, lines);
  lines.push(`const ${name} = base + ${linear(0, [n, s], [sn, ss])};`);
  return lines;
}

/**
 * Stage 1 of the BN variance (two-pass: relative to the mean of the first
 * pass): per [C, P, 2], the block's sum of (x - K)^2 (slot 0) and of x - K (slot 1).
 */
export function bnVarStage1Kernel(g: NCS, B: number, P: number): KernelDef {
  const R = g.N * g.S;
  const lines = [
    'const t = this.thread.x;',
    'const w = t - Math.floor((t + 0.5) / 2) * 2;',
    'const u = (t - w) / 2;',
    `let c = Math.floor((u + 0.5) / ${P});`,
    `let p = u - c * ${P};`,
    `if (p < 0) { c = c - 1; p = p + ${P}; }`,
    `if (p >= ${P}) { c = c + 1; p = p - ${P}; }`,
    `const base = ${linear(g.x.offset, ['c'], [g.x.strides[1]])};`,
    'const K = a1[c];',
    ...KAHAN_INIT,
    `for (let jj = 0; jj < ${B}; jj++) {`,
    `  const j = p * ${B} + jj;`,
    `  if (j < ${R}) {`,
    ...bnIndex(g, g.x, 'j', 'ix').map((l) => `    ${l}`),
    '    const d = a0[ix] - K;',
    '    let v = d;',
    '    if (w === 0.0) { v = d * d; }',
    ...KAHAN.map((l) => `    ${l}`),
    '  }',
    '}',
    `return ${KAHAN_RESULT};`,
  ];
  return { src: fn(2, lines), loopMax: B, args: ['Array', 'Array'], n: g.C * P * 2 };
}

/** Stage 2 of the BN variance: mean((x - K)^2) - mean(x - K)^2 per channel from the [C, P, 2] partials. */
export function bnVarStage2Kernel(g: NCS, P: number): KernelDef {
  const m = g.N * g.S;
  const lines = ['const c = this.thread.x;', ...KAHAN_INIT, 'let d1 = 0.0;', 'let e1 = 0.0;',
    `for (let p = 0; p < ${P}; p++) {`,
    `  const v = a0[(c * ${P} + p) * 2];`,
    `  const d = a0[(c * ${P} + p) * 2 + 1];`,
    ...KAHAN.map((l) => `  ${l}`),
    '  const y1 = d - e1;', '  const t1 = d1 + y1;', '  e1 = (t1 - d1) - y1;', '  d1 = t1;',
    '}',
    `const mu = d1 / ${m};`, `const v2 = ${KAHAN_RESULT} / ${m} - mu * mu;`, 'return v2 > 0.0 ? v2 : 0.0;'];
  return { src: fn(1, lines), loopMax: P, args: ['Array'], n: g.C };
}

/** Stage 1 of the BN backward sums: per [C, P], the block's sum of dy (h null) or of dy * xhat (h the xhat view). */
export function bnBackwardSumStage1Kernel(g: NCS, h: View | null, B: number, P: number): KernelDef {
  const head = (o: string) => {
    const l = [`const base = ${linear(g.x.offset, [o], [g.x.strides[1]])};`];
    if (h) l.push(`const hbase = ${linear(h.offset, [o], [h.strides[1]])};`);
    return l;
  };
  const body = (j: string) => {
    const l = bnIndex(g, g.x, j, 'ix');
    if (!h) return [...l, 'const v = a0[ix];', ...KAHAN];
    const hl = bnIndex(g, h, j, 'ih').map((s) => s.replace('base +', 'hbase +'));
    return [...l, ...hl, 'const v = a0[ix] * a1[ih];', ...KAHAN];
  };
  return blockedStage1(g.C, P, B, g.N * g.S, head, body, KAHAN_INIT, KAHAN_RESULT, h ? 2 : 1, h ? ['Array', 'Array'] : ['Array']);
}

/** A binary op with one operand a scalar parameter (a constant array): the other operand's view is a0, the scalar a1. */
export function binaryScalarKernel(expr: string, shape: readonly number[], x: View, scalarSide: 'a' | 'b'): KernelDef {
  const lines: string[] = [];
  const [ix] = elementIndex(shape, [x], lines);
  if (scalarSide === 'b') lines.push(`const a = a0[${ix}];`, 'const b = a1;');
  else lines.push('const a = a1;', `const b = a0[${ix}];`);
  lines.push(`return ${expr};`);
  return { src: fn(2, lines), loopMax: 0, args: ['Array', 'Float'], n: size(shape) };
}

/** where(cond, a, b) with a and/or b constants: each a view (an Array parameter) or null (a Float parameter), in order cond, a, b. */
export function whereConstKernel(shape: readonly number[], c: View, a: View | null, b: View | null): KernelDef {
  const lines: string[] = [];
  const views = [c, ...(a ? [a] : []), ...(b ? [b] : [])];
  const idx = elementIndex(shape, views, lines);
  const aExpr = a ? `a1[${idx[1]}]` : 'a1';
  const bExpr = b ? `a2[${idx[a ? 2 : 1]}]` : 'a2';
  lines.push(`const c = a0[${idx[0]}];`, `if (c !== 0.0) { return ${aExpr}; }`, `return ${bExpr};`);
  return { src: fn(3, lines), loopMax: 0, args: ['Array', a ? 'Array' : 'Float', b ? 'Array' : 'Float'], n: size(shape) };
}

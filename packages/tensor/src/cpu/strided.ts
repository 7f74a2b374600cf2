/**
 * Strided loops for the CPU backend. An elementwise op over views of one
 * shape is one loop nest; to keep it fast, dims that are laid out
 * contiguously in every operand are merged first, so a contiguous op becomes
 * a single flat loop and most broadcasts become two nested loops.
 */
import type { TypedArray } from '../dtype.js';
import { erf } from '../erf.js';
import { contiguousStrides } from '../shape.js';

/** An operand: its data, offset and strides over the common loop shape. */
export interface Operand {
  data: TypedArray;
  offset: number;
  strides: readonly number[];
}

/** Merges adjacent dims that are contiguous in every operand; drops size-1 dims. */
export function collapseDims(shape: readonly number[], strideSets: readonly (readonly number[])[]): {
  shape: number[];
  strides: number[][];
} {
  const outShape: number[] = [];
  const outStrides: number[][] = strideSets.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = outShape.length - 1;
    if (last >= 0 && strideSets.every((s, k) => outStrides[k][last] === s[d] * shape[d])) {
      outShape[last] *= shape[d];
      strideSets.forEach((s, k) => (outStrides[k][last] = s[d]));
    } else {
      outShape.push(shape[d]);
      strideSets.forEach((s, k) => outStrides[k].push(s[d]));
    }
  }
  return { shape: outShape, strides: outStrides };
}

type MapKernel = (
  out: TypedArray, oo: number, ins: TypedArray[], offs: number[], shape: number[], strides: number[][],
  p0: number, p1: number, erf: (x: number) => number,
) => void;

/**
 * Compiled kernels by expression, then by the constructor of each typed array
 * (output first): a kernel compiled once per combination of array kinds keeps
 * its element accesses monomorphic (one shared by every dtype runs several
 * times slower in V8). Lookups build no strings: they run on every op.
 */
interface KernelCache {
  names: readonly string[];
  byKind: Map<unknown, unknown>;
}

function cached<K>(cache: Map<string, KernelCache>, expr: string, names: readonly string[], arrays: readonly TypedArray[], compile: () => K): K {
  let entry = cache.get(expr);
  if (!entry) {
    entry = { names, byKind: new Map() };
    cache.set(expr, entry);
  } else if (entry.names.length !== names.length || entry.names.some((n, i) => n !== names[i])) {
    throw new Error(`strided kernels: internal error: '${expr}' compiled with inputs ${entry.names.join(', ')}, now ${names.join(', ')}`);
  }
  let level = entry.byKind;
  for (let i = 0; i < arrays.length - 1; i++) {
    let next = level.get(arrays[i].constructor) as Map<unknown, unknown> | undefined;
    if (!next) {
      next = new Map();
      level.set(arrays[i].constructor, next);
    }
    level = next;
  }
  const last = arrays[arrays.length - 1].constructor;
  let k = level.get(last) as K | undefined;
  if (!k) {
    k = compile();
    level.set(last, k);
  }
  return k;
}

const mapCache = new Map<string, KernelCache>();

/**
 * Compiles `out[..] = expr(in0[..], in1[..], ...)` over a collapsed loop nest.
 * Inputs are named by `names` inside `expr`; `strides[0]` is the output's,
 * `strides[i + 1]` input i's.
 */
function compileMap(expr: string, names: readonly string[]): MapKernel {
  const ids = names.map((_, i) => i + 1);
  const src = `
${names.map((v, i) => `const d${i + 1} = ins[${i}], o${i + 1} = offs[${i}];`).join('\n')}
const rank = shape.length;
let total = 1; for (let d = 0; d < rank; d++) total *= shape[d];
if (rank === 1 && strides[0][0] === 1 && ${ids.map((i) => `strides[${i}][0] === 1`).join(' && ') || 'true'}) {
  for (let i = 0; i < total; i++) { ${names.map((v, i) => `const ${v} = d${i + 1}[o${i + 1} + i];`).join(' ')} out[oo + i] = ${expr}; }
  return;
}
const inner = shape[rank - 1];
const is0 = strides[0][rank - 1];
${ids.map((i) => `const is${i} = strides[${i}][rank - 1];`).join('\n')}
const idx = new Int32Array(rank);
let b0 = oo; ${ids.map((i) => `let b${i} = o${i};`).join(' ')}
const outer = total / inner;
for (let t = 0; t < outer; t++) {
  let q0 = b0; ${ids.map((i) => `let q${i} = b${i};`).join(' ')}
  for (let j = 0; j < inner; j++) {
    ${names.map((v, i) => `const ${v} = d${i + 1}[q${i + 1}];`).join(' ')}
    out[q0] = ${expr};
    q0 += is0; ${ids.map((i) => `q${i} += is${i};`).join(' ')}
  }
  for (let d = rank - 2; d >= 0; d--) {
    idx[d]++;
    b0 += strides[0][d]; ${ids.map((i) => `b${i} += strides[${i}][d];`).join(' ')}
    if (idx[d] < shape[d]) break;
    b0 -= strides[0][d] * shape[d]; ${ids.map((i) => `b${i} -= strides[${i}][d] * shape[d];`).join(' ')}
    idx[d] = 0;
  }
}`;
  return new Function('out', 'oo', 'ins', 'offs', 'shape', 'strides', 'p0', 'p1', 'erf', src) as MapKernel;
}

/**
 * Runs `out = expr(inputs...)` where every input is viewed with `shape`. The
 * output is contiguous, or the strided destination `dst` when given.
 */
export function mapStrided(
  expr: string, names: readonly string[], out: TypedArray, shape: readonly number[], inputs: readonly Operand[],
  p0 = 0, p1 = 0, dst: { offset: number; strides: readonly number[] } = { offset: 0, strides: contiguousStrides(shape) },
): void {
  const { shape: cs, strides } = collapseDims(shape, [dst.strides, ...inputs.map((x) => x.strides)]);
  if (cs.length === 0) {
    // every dim has size 1: a single element
    cs.push(1);
    strides.forEach((s) => s.push(1));
  }
  const datas = inputs.map((x) => x.data);
  const kernel = cached(mapCache, expr, names, [out, ...datas], () => compileMap(expr, names));
  kernel(out, dst.offset, datas, inputs.map((x) => x.offset), cs, strides, p0, p1, erf);
}

type ReduceKernel = (
  acc: Float64Array, x: TypedArray, xo: number, shape: number[], xs: number[], os: number[],
) => void;

const reduceCache = new Map<string, KernelCache>();

/**
 * Compiles `acc[o] = combine(acc[o], x[i])` over a loop nest in which reduced
 * dims have output stride 0. When the innermost dim is reduced, the running
 * value stays in a local variable.
 */
function compileReduce(combine: string): ReduceKernel {
  const src = `
const rank = shape.length;
let total = 1; for (let d = 0; d < rank; d++) total *= shape[d];
if (total === 0) return;
const inner = shape[rank - 1], ix = xs[rank - 1], io = os[rank - 1];
const idx = new Int32Array(rank);
let bx = xo, bo = 0;
const outer = total / inner;
for (let t = 0; t < outer; t++) {
  let px = bx, po = bo;
  if (io === 0) {
    let s = acc[po];
    for (let j = 0; j < inner; j++) { const v = x[px]; s = ${combine.replace(/A/g, 's')}; px += ix; }
    acc[po] = s;
  } else {
    for (let j = 0; j < inner; j++) { const v = x[px]; const s = acc[po]; acc[po] = ${combine.replace(/A/g, 's')}; px += ix; po += io; }
  }
  for (let d = rank - 2; d >= 0; d--) {
    idx[d]++; bx += xs[d]; bo += os[d];
    if (idx[d] < shape[d]) break;
    bx -= xs[d] * shape[d]; bo -= os[d] * shape[d]; idx[d] = 0;
  }
}`;
  return new Function('acc', 'x', 'xo', 'shape', 'xs', 'os', src) as ReduceKernel;
}

/**
 * The loop nest of a reduction of x (`shape`, `strides`) over `reduced` into
 * an accumulator row-major over the kept dims: dims ordered by x's strides,
 * largest first (so memory is read in order whichever dims are reduced), then
 * merged where contiguous. `xs` are x's strides, `os` the accumulator's (0
 * on reduced dims).
 */
export function reductionLoop(shape: readonly number[], strides: readonly number[], reduced: ReadonlySet<number>): { shape: number[]; xs: number[]; os: number[] } {
  const outShape = shape.map((d, i) => (reduced.has(i) ? 1 : d));
  const outStrides: number[] = new Array(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    outStrides[i] = reduced.has(i) ? 0 : s;
    s *= outShape[i];
  }
  const order = shape.map((_, i) => i).sort((a, b) => Math.abs(strides[b]) - Math.abs(strides[a]) || a - b);
  const { shape: cs, strides: st } = collapseDims(order.map((i) => shape[i]), [order.map((i) => strides[i]), order.map((i) => outStrides[i])]);
  if (cs.length === 0) {
    cs.push(1);
    st[0].push(1);
    st[1].push(0);
  }
  return { shape: cs, xs: st[0], os: st[1] };
}

/**
 * Reduces `x` (shape/strides/offset) into `acc` (row-major over the kept
 * dims, reduced dims of size 1), in the loop order of `reductionLoop`.
 */
export function reduceStrided(
  combine: string, acc: Float64Array, x: Operand, shape: readonly number[], reduced: ReadonlySet<number>,
): void {
  const { shape: cs, xs, os } = reductionLoop(shape, x.strides, reduced);
  const kernel = cached(reduceCache, combine, ['v'], [acc, x.data], () => compileReduce(combine));
  kernel(acc, x.data, x.offset, cs, xs, os);
}

/** Joins and indexing: cat, gather, indexSelect, scatterAdd, indexAdd. */
import type { KernelDef } from '../device.js';
import { type View, divmodChain, fn, linear, size } from './common.js';

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

/** What every kernel source shares: the view of a buffer, index arithmetic exact in float32 (coalescing, div/mod chains), the function wrapper, the cache key of a shape. */


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

export function fn(params: number, body: string[]): string {
  const names = Array.from({ length: params }, (_, i) => `a${i}`);
  return `function(${names.join(', ')}) {\n  ${body.join('\n  ')}\n}`;
}

/** Per-element access of each view at the flat output index: the shared prelude and one index expression per view. */
export function elementIndex(shape: readonly number[], views: readonly View[], lines: string[]): string[] {
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

export function shapeKey(shape: readonly number[], v: readonly View[]): string {
  return `${shape.join('x')}|${v.map((w) => `${w.offset}:${w.strides.join(',')}`).join('|')}`;
}

export function size(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * The normalization kernels over x [1, G, B] with the affine map folded in
 * (LayerNorm's rows, GroupNorm's and InstanceNorm's groups, RMSNorm): the
 * output y straight from x, and the backward's per-group sums, dx and the
 * parameter gradients, each reading dy * weight where it needs it instead of
 * a materialized product. The parameter of element (g, b) is
 * (g mod P) * (B / Q) + floor(b / Q) for the layout { period: P, span: Q }.
 * Each kernel does the float32 operations of the composed form in the same
 * order, so the two agree to the summation order of the sums.
 */
import type { KernelDef } from '../device.js';
import { type View, divmodChain, fn, linear } from './common.js';
import { KAHAN, KAHAN_INIT, KAHAN_RESULT, blockedStage1 } from './reduce.js';

/** x [1, G, B] (its view) with the layout's period P and span Q. */
export interface AffineGB {
  G: number;
  B: number;
  P: number;
  Q: number;
  x: View;
}

/** Per element t of the contiguous [G, B] output: `g`, `b`, the parameter index `pi`, and each view's index. */
function perElement(a: AffineGB, views: readonly View[], lines: string[]): string[] {
  lines.push('const t = this.thread.x;');
  const [g, b] = divmodChain([a.G, a.B], 't', 'i', lines);
  lines.push(`const g = ${g};`, `const b = ${b};`, ...paramIndex(a, 'g', 'b'));
  return views.map((v) => linear(v.offset, ['g', 'b'], v.strides.slice(1)));
}

/** Statements giving `pi`, the parameter index of element (g, b). */
function paramIndex(a: AffineGB, g: string, b: string): string[] {
  const lines: string[] = [];
  const pg = a.P === 1 ? '0' : divmodChain([a.G / a.P, a.P], g, 'pg', lines)[1];
  const bq = a.Q === 1 ? b : divmodChain([a.B / a.Q, a.Q], b, 'pb', lines)[0];
  lines.push(`const pi = ${a.P === 1 ? bq : `${pg} * ${a.B / a.Q} + ${bq}`};`);
  return lines;
}

/** y = ((x - mean) * invstd) * weight + bias, contiguous [1, G, B]; args x, mean, invstd, weight, bias (dense). */
export function affineForwardKernel(a: AffineGB): KernelDef {
  const lines: string[] = [];
  const [ix] = perElement(a, [a.x], lines);
  lines.push(`const h = (a0[${ix}] - a1[g]) * a2[g];`, 'return h * a3[pi] + a4[pi];');
  return { src: fn(5, lines), loopMax: 0, args: ['Array', 'Array', 'Array', 'Array', 'Array'], n: a.G * a.B };
}

/**
 * Per group g: sum over b of dy * weight (withXhat false) or of
 * dy * weight * xhat (true); dy is `a.x`, xhat the view `h`; args dy,
 * [xhat,] weight. The loop runs over (b / Q, b mod Q), so the parameter
 * index needs no division.
 */
export function affineGroupSumKernel(a: AffineGB, h: View | null): KernelDef {
  const span = a.B / a.Q;
  const w = h ? 'a2' : 'a1';
  const [, sg, sb] = a.x.strides;
  const lines = ['const g = this.thread.x;', `const base = ${linear(a.x.offset, ['g'], [sg])};`];
  if (h) lines.push(`const hbase = ${linear(h.offset, ['g'], [h.strides[1]])};`);
  const pg = a.P === 1 ? '0' : divmodChain([a.G / a.P, a.P], 'g', 'pg', lines)[1];
  lines.push(...KAHAN_INIT,
    `for (let bq = 0; bq < ${span}; bq++) {`,
    `  const wv = ${w}[${pg} * ${span} + bq];`,
    `  for (let bs = 0; bs < ${a.Q}; bs++) {`,
    `    const b = bq * ${a.Q} + bs;`,
    `    const gv = a0[base + b * ${sb}] * wv;`,
    `    const v = ${h ? `gv * a1[hbase + b * ${h.strides[2]}]` : 'gv'};`,
    ...KAHAN.map((l) => `    ${l}`),
    '  }',
    '}',
    `return ${KAHAN_RESULT};`);
  return { src: fn(h ? 3 : 2, lines), loopMax: Math.max(span, a.Q), args: h ? ['Array', 'Array', 'Array'] : ['Array', 'Array'], n: a.G };
}

/** Stage 1 of `affineGroupSumKernel` for few, long groups: partial sums [G, P'] over blocks of BB elements of each group. */
export function affineGroupSumStage1Kernel(a: AffineGB, h: View | null, BB: number, PP: number): KernelDef {
  const w = h ? 'a2' : 'a1';
  const head = (o: string): string[] => {
    const l = [`const g = ${o};`, `const base = ${linear(a.x.offset, ['g'], [a.x.strides[1]])};`];
    if (h) l.push(`const hbase = ${linear(h.offset, ['g'], [h.strides[1]])};`);
    return l;
  };
  const body = (j: string): string[] => {
    const l = paramIndex(a, 'g', j);
    l.push(`const gv = a0[base + ${j} * ${a.x.strides[2]}] * ${w}[pi];`, `const v = ${h ? `gv * a1[hbase + ${j} * ${h.strides[2]}]` : 'gv'};`, ...KAHAN);
    return l;
  };
  return blockedStage1(a.G, PP, BB, a.B, head, body, KAHAN_INIT, KAHAN_RESULT, h ? 3 : 2, h ? ['Array', 'Array', 'Array'] : ['Array', 'Array']);
}

/**
 * dx = k B gv - k sdx xhat - k sdy with gv = dy * weight and k = invstd / B
 * (as the BatchNorm backward's dx with dy * weight for dy); not centered
 * (RMS norms), plus invstd (sdy / B). Args dy, xhat, invstd, sdy, sdx, weight.
 */
export function affineBackwardDxKernel(a: AffineGB, h: View, centered: boolean): KernelDef {
  const lines: string[] = [];
  const [idy, ih] = perElement(a, [a.x, h], lines);
  const m = a.B;
  lines.push(
    `const gv = a0[${idy}] * a5[pi];`,
    `const k = a2[g] / ${m};`,
    `const dx = k * ${m} * gv - k * a4[g] * a1[${ih}] - k * a3[g];`,
    centered ? 'return dx;' : `return dx + a2[g] * (a3[g] / ${m});`,
  );
  return { src: fn(6, lines), loopMax: 0, args: ['Array', 'Array', 'Array', 'Array', 'Array', 'Array'], n: a.G * a.B };
}

/**
 * The parameter gradients: per parameter p, the sum of dy * xhat (withXhat)
 * or of dy over the elements p applies to: groups g = i P + (p div (B / Q))
 * for i < G / P, positions b in [(p mod (B / Q)) Q, + Q). Args dy[, xhat].
 */
export function affineParamSumKernel(a: AffineGB, h: View | null): KernelDef {
  const span = a.B / a.Q;
  const lines = ['const p = this.thread.x;'];
  const [pg, bq] = a.P === 1 ? ['0', 'p'] : divmodChain([a.P, span], 'p', 'pp', lines);
  lines.push(...KAHAN_INIT,
    `for (let i = 0; i < ${a.G / a.P}; i++) {`,
    `  const g = i * ${a.P} + ${pg};`,
    `  for (let bs = 0; bs < ${a.Q}; bs++) {`,
    `    const b = ${bq} * ${a.Q} + bs;`,
    `    const v = ${h ? `a0[${linear(a.x.offset, ['g', 'b'], a.x.strides.slice(1))}] * a1[${linear(h.offset, ['g', 'b'], h.strides.slice(1))}]` : `a0[${linear(a.x.offset, ['g', 'b'], a.x.strides.slice(1))}]`};`,
    ...KAHAN.map((l) => `    ${l}`),
    '  }',
    '}',
    `return ${KAHAN_RESULT};`);
  return { src: fn(h ? 2 : 1, lines), loopMax: Math.max(a.G / a.P, a.Q), args: h ? ['Array', 'Array'] : ['Array'], n: a.P * span };
}

/** Stage 1 of `affineParamSumKernel` when each parameter covers many elements: partial sums [P * B / Q, P'] over blocks of BB. */
export function affineParamSumStage1Kernel(a: AffineGB, h: View | null, BB: number, PP: number): KernelDef {
  const span = a.B / a.Q;
  const R = (a.G / a.P) * a.Q;
  const head = (o: string): string[] => {
    const l: string[] = [];
    const [pg, bq] = a.P === 1 ? ['0', o] : divmodChain([a.P, span], o, 'pp', l);
    l.push(`const pg = ${pg};`, `const bq = ${bq};`);
    return l;
  };
  const body = (j: string): string[] => {
    const l: string[] = [];
    const [i, bs] = a.Q === 1 ? [j, '0'] : divmodChain([a.G / a.P, a.Q], j, 'ri', l);
    l.push(`const g = ${i} * ${a.P} + pg;`, `const b = bq * ${a.Q} + ${bs};`);
    const dy = `a0[${linear(a.x.offset, ['g', 'b'], a.x.strides.slice(1))}]`;
    l.push(`const v = ${h ? `${dy} * a1[${linear(h.offset, ['g', 'b'], h.strides.slice(1))}]` : dy};`, ...KAHAN);
    return l;
  };
  return blockedStage1(a.P * span, PP, BB, R, head, body, KAHAN_INIT, KAHAN_RESULT, h ? 2 : 1, h ? ['Array', 'Array'] : ['Array']);
}

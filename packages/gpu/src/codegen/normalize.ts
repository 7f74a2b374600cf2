/** The normalization kernels over [N, C, S] (every norm's view): moments by two passes, xhat and the per-channel affine map, the fused backward, and their two-stage forms. */
import type { KernelDef } from '../device.js';
import { type View, coalesce, divmodChain, fn, linear } from './common.js';
import { KAHAN, KAHAN_INIT, KAHAN_RESULT, blockedStage1, loops } from './reduce.js';

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

/** Convolution (im2col, col2im) and pooling (max with indices, average, and their backwards). */
import type { KernelDef } from '../device.js';
import { type View, divmodChain, fn, linear } from './common.js';

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

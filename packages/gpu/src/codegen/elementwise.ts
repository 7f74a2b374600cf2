/** The elementwise kernels and the device's formulas for them (DEVICE_UNARY, DEVICE_BINARY): the same ops as @normlab/tensor's elementwise-table.ts, in gpu.js syntax. */
import type { BinaryOp, UnaryOp } from '@normlab/tensor';
import type { KernelDef } from '../device.js';
import { type View, elementIndex, fn, size } from './common.js';

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
  reluBackward: '(b <= 0.0 ? 0.0 : a)',
  sigmoidBackward: '(a * b) * (1.0 - b)',
};

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

import type { BinaryOp, UnaryOp } from './backend.js';

/**
 * One declaration per elementwise op: a JavaScript expression in `x` (unary)
 * or `a`, `b` (binary), with scalar parameters `p0`, `p1` and the helper
 * `erf`. The CPU backend compiles these into strided loops; a device backend
 * can translate the same expressions into its kernel language.
 */
export const UNARY_EXPR: Record<UnaryOp, string> = {
  neg: '-x',
  abs: 'Math.abs(x)',
  exp: 'Math.exp(x)',
  log: 'Math.log(x)',
  log1p: 'Math.log1p(x)',
  sqrt: 'Math.sqrt(x)',
  rsqrt: '1 / Math.sqrt(x)',
  square: 'x * x',
  reciprocal: '1 / x',
  sin: 'Math.sin(x)',
  cos: 'Math.cos(x)',
  tanh: 'Math.tanh(x)',
  // exp(-x) overflows to Infinity for very negative x, which gives the right limit 0.
  sigmoid: '1 / (1 + Math.exp(-x))',
  // Math.max propagates NaN, as torch.relu does.
  relu: 'Math.max(x, 0)',
  leakyRelu: '(x > 0 ? x : p0 * x)',
  gelu: '0.5 * x * (1 + erf(x * 0.7071067811865476))',
  geluTanh: '0.5 * x * (1 + Math.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))',
  erf: 'erf(x)',
  // PyTorch's softplus(beta=p0, threshold=p1): linear above the threshold to avoid overflow.
  softplus: '(x * p0 > p1 ? x : Math.log1p(Math.exp(x * p0)) / p0)',
  // NaN passes through, as in torch.clamp.
  clamp: '(x < p0 ? p0 : x > p1 ? p1 : x)',
  sign: 'Math.sign(x)',
  powScalar: 'Math.pow(x, p0)',
  // Heaviside step at 0 (used by relu's gradient): 1 where x > 0.
  step: '(x > 0 ? 1 : 0)',
  logicalNot: '(x ? 0 : 1)',
  isNan: '(x !== x ? 1 : 0)',
};

export const BINARY_EXPR: Record<BinaryOp, string> = {
  add: 'a + b',
  sub: 'a - b',
  mul: 'a * b',
  div: 'a / b',
  // NaN-propagating, as torch.maximum/minimum.
  maximum: 'Math.max(a, b)',
  minimum: 'Math.min(a, b)',
  pow: 'Math.pow(a, b)',
  eq: '(a === b ? 1 : 0)',
  ne: '(a !== b ? 1 : 0)',
  lt: '(a < b ? 1 : 0)',
  le: '(a <= b ? 1 : 0)',
  gt: '(a > b ? 1 : 0)',
  ge: '(a >= b ? 1 : 0)',
  logicalAnd: '(a && b ? 1 : 0)',
  logicalOr: '(a || b ? 1 : 0)',
  reluBackward: '(b <= 0 ? 0 : a)',
  sigmoidBackward: '(a * b) * (1 - b)',
};

/**
 * float32 expressions of the binary ops whose formula has several steps:
 * each intermediate rounded as a chain of float32 kernels would (the table
 * above, evaluated in double, is float64's).
 */
export const FLOAT32_BINARY_EXPR: Partial<Record<BinaryOp, string>> = {
  sigmoidBackward: 'Math.fround(a * b) * Math.fround(1 - b)',
};

/** Ops whose result is bool whatever the input dtype. */
export const BOOL_RESULT = new Set<UnaryOp | BinaryOp>(['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'logicalAnd', 'logicalOr', 'logicalNot', 'isNan']);

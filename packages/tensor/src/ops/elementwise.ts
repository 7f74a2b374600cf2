import type { BinaryOp, UnaryOp } from '../backend.js';
import { type DType, isFloat, resultType } from '../dtype.js';
import { BOOL_RESULT } from '../elementwise-table.js';
import { NDArray } from '../ndarray.js';
import { backendFor } from '../registry.js';
import { broadcastShapes, fmtShape, shapesEqual } from '../shape.js';
import { full } from '../creation.js';
import { checkNotDisposed } from '../tidy.js';

/** A tensor or a plain number, which is treated as a 0-D tensor of a matching dtype. */
export type Operand = NDArray | number;

/** Ops that only make sense on floating point: integer inputs are promoted to float32, as in PyTorch. */
const FLOAT_ONLY = new Set<UnaryOp>([
  'exp', 'log', 'log1p', 'sqrt', 'rsqrt', 'reciprocal', 'sin', 'cos', 'tanh', 'sigmoid', 'gelu', 'geluTanh', 'erf', 'softplus', 'powScalar',
]);

/** Runs the elementwise kernel `op` of the backend on `x` (with the op's numeric `params`, e.g. a slope): the building block of every unary op below. */
export function unaryOp(op: UnaryOp, x: NDArray, params: readonly number[] = []): NDArray {
  if (!(x instanceof NDArray)) throw new TypeError(`${op}: expected an NDArray, got ${typeof x}`);
  checkNotDisposed(op, x.storage);
  let dtype: DType = x.dtype;
  if (BOOL_RESULT.has(op)) dtype = 'bool';
  else if (FLOAT_ONLY.has(op) && !isFloat(x.dtype)) dtype = 'float32';
  else if (x.dtype === 'bool' && op !== 'abs') dtype = 'int32';
  return backendFor(x.device).unary(op, x, dtype, params);
}

function toArrayLike(op: string, v: Operand, other: Operand): NDArray {
  if (v instanceof NDArray) {
    checkNotDisposed(op, v.storage);
    return v;
  }
  if (typeof v !== 'number') throw new TypeError(`${op}: expected an NDArray or a number, got ${typeof v}`);
  const ref = other instanceof NDArray ? other : null;
  let dtype: DType = ref ? ref.dtype : 'float32';
  if (!isFloat(dtype) && !Number.isInteger(v)) dtype = 'float32';
  if (dtype === 'bool' && v !== 0 && v !== 1) dtype = 'int32';
  return full([], v, { dtype, device: ref?.device ?? 'cpu' });
}

/** Broadcasts and promotes two operands for a binary op, checking devices. */
export function prepareBinary(op: string, a: Operand, b: Operand): [NDArray, NDArray, DType] {
  const x = toArrayLike(op, a, b);
  const y = toArrayLike(op, b, a);
  if (x.device !== y.device) throw new Error(`${op}: tensors are on different devices: ${x.device} and ${y.device}`);
  const shape = broadcastShapes(op, x.shape, y.shape);
  return [x.expand(shape), y.expand(shape), resultType(x.dtype, x.ndim, y.dtype, y.ndim)];
}

/** Broadcasts `a` and `b`, promotes their dtypes and runs the backend's elementwise kernel `op`: the building block of every binary op below. */
export function binaryOp(op: BinaryOp, a: Operand, b: Operand): NDArray {
  const [x, y, common] = prepareBinary(op, a, b);
  let dtype = BOOL_RESULT.has(op) ? 'bool' : common;
  if (op === 'div' && !isFloat(common)) dtype = 'float32'; // true division, as torch.div
  if (dtype === 'bool' && !BOOL_RESULT.has(op)) dtype = 'int32';
  return backendFor(x.device).binary(op, x, y, dtype);
}

/**
 * alpha * x + beta * y (BLAS's axpby) for x and y of one shape, floating
 * dtype and device: each product rounded to the dtype, then their sum, the
 * values mul(x, alpha), mul(y, beta) and add give, in one pass and one array
 * (an SGD update, a running average).
 *
 * @example axpby(1, param, -0.1, grad) // param - 0.1 * grad
 */
export function axpby(alpha: number, x: NDArray, beta: number, y: NDArray): NDArray {
  const op = 'axpby';
  for (const [name, s] of [['alpha', alpha], ['beta', beta]] as const) {
    if (typeof s !== 'number') throw new TypeError(`${op}: ${name} must be a number, got ${typeof s}`);
  }
  for (const [name, a] of [['x', x], ['y', y]] as const) {
    if (!(a instanceof NDArray)) throw new TypeError(`${op}: expected ${name} to be an NDArray, got ${typeof a}`);
    checkNotDisposed(op, a.storage);
  }
  if (!shapesEqual(x.shape, y.shape)) throw new RangeError(`${op}: x ${fmtShape(x.shape)} and y ${fmtShape(y.shape)} must have the same shape`);
  if (!isFloat(x.dtype) || y.dtype !== x.dtype) throw new TypeError(`${op}: expected x and y of one floating dtype, got ${x.dtype} and ${y.dtype}`);
  if (x.device !== y.device) throw new Error(`${op}: tensors are on different devices: ${x.device} and ${y.device}`);
  const backend = backendFor(x.device);
  if (backend.axpby) return backend.axpby(alpha, x, beta, y);
  return add(mul(x, alpha), mul(y, beta));
}

/** -x, elementwise. */
export const neg = (x: NDArray): NDArray => unaryOp('neg', x);
/** |x|, elementwise. */
export const abs = (x: NDArray): NDArray => unaryOp('abs', x);
/** e^x, elementwise. */
export const exp = (x: NDArray): NDArray => unaryOp('exp', x);
/** The natural logarithm, elementwise (NaN below 0, -Infinity at 0). */
export const log = (x: NDArray): NDArray => unaryOp('log', x);
/** log(1 + x), elementwise, accurate near 0. */
export const log1p = (x: NDArray): NDArray => unaryOp('log1p', x);
/** The square root, elementwise. */
export const sqrt = (x: NDArray): NDArray => unaryOp('sqrt', x);
/** 1 / sqrt(x), elementwise. */
export const rsqrt = (x: NDArray): NDArray => unaryOp('rsqrt', x);
/** x^2, elementwise. */
export const square = (x: NDArray): NDArray => unaryOp('square', x);
/** 1 / x, elementwise. */
export const reciprocal = (x: NDArray): NDArray => unaryOp('reciprocal', x);
/** The sine, elementwise (radians). */
export const sin = (x: NDArray): NDArray => unaryOp('sin', x);
/** The cosine, elementwise (radians). */
export const cos = (x: NDArray): NDArray => unaryOp('cos', x);
/** The hyperbolic tangent, elementwise. */
export const tanh = (x: NDArray): NDArray => unaryOp('tanh', x);
/** 1 / (1 + e^-x), elementwise. */
export const sigmoid = (x: NDArray): NDArray => unaryOp('sigmoid', x);
/** max(x, 0), elementwise. */
export const relu = (x: NDArray): NDArray => unaryOp('relu', x);
/** 1 where x > 0, else 0 (NaN gives 0), in x's dtype: the Heaviside step, relu's derivative. */
export const step = (x: NDArray): NDArray => unaryOp('step', x);
/** The error function, elementwise. */
export const erf = (x: NDArray): NDArray => unaryOp('erf', x);
/** -1, 0 or 1 by the sign of x, elementwise. */
export const sign = (x: NDArray): NDArray => unaryOp('sign', x);
/** Logical not of a bool array (any nonzero value counts as true); returns bool. */
export const logicalNot = (x: NDArray): NDArray => unaryOp('logicalNot', x);
/** Whether each element is NaN; returns bool. */
export const isNan = (x: NDArray): NDArray => unaryOp('isNan', x);

/** max(0, x) + negativeSlope * min(0, x); slope 0.01 by default, as in PyTorch. */
export function leakyRelu(x: NDArray, negativeSlope = 0.01): NDArray {
  checkFinite('leakyRelu', 'negativeSlope', negativeSlope);
  return unaryOp('leakyRelu', x, [negativeSlope]);
}

/**
 * GELU: x * Phi(x). `approximate: 'none'` (default) uses the exact erf;
 * `'tanh'` the tanh approximation of Hendrycks & Gimpel.
 */
export function gelu(x: NDArray, options: { approximate?: 'none' | 'tanh' } = {}): NDArray {
  const mode = options.approximate ?? 'none';
  if (mode !== 'none' && mode !== 'tanh') throw new RangeError(`gelu: approximate must be 'none' or 'tanh', got '${String(mode)}'`);
  return unaryOp(mode === 'none' ? 'gelu' : 'geluTanh', x);
}

/** log(1 + exp(beta x)) / beta, linear where beta x > threshold (defaults 1 and 20, as PyTorch). */
export function softplus(x: NDArray, options: { beta?: number; threshold?: number } = {}): NDArray {
  const beta = options.beta ?? 1;
  const threshold = options.threshold ?? 20;
  if (!(beta > 0) || !Number.isFinite(beta)) throw new RangeError(`softplus: beta must be a positive finite number, got ${beta}`);
  checkFinite('softplus', 'threshold', threshold);
  return unaryOp('softplus', x, [beta, threshold]);
}

/** Limits values to [min, max]; either bound may be omitted. */
export function clamp(x: NDArray, min?: number, max?: number): NDArray {
  if (min === undefined && max === undefined) throw new RangeError('clamp: at least one of min and max must be given');
  const lo = min ?? -Infinity;
  const hi = max ?? Infinity;
  if (Number.isNaN(lo) || Number.isNaN(hi)) throw new RangeError(`clamp: bounds must not be NaN, got min=${min}, max=${max}`);
  // PyTorch sets every element to max when min > max; min(max(x, lo), hi) does the same.
  return lo > hi ? full(x.shape, hi, { dtype: x.dtype, device: x.device }) : unaryOp('clamp', x, [lo, hi]);
}

/** x ** exponent, elementwise; the exponent may be a number or a broadcastable array. */
export function pow(x: Operand, exponent: Operand): NDArray {
  if (x instanceof NDArray && typeof exponent === 'number') {
    if (!isFloat(x.dtype) && Number.isInteger(exponent)) {
      // An integer tensor to an integer power stays integer, as torch.pow.
      checkNotDisposed('pow', x.storage);
      if (exponent < 0) throw new RangeError(`pow: integers to negative integer powers are not allowed (exponent ${exponent} on ${x.dtype})`);
      return backendFor(x.device).unary('powScalar', x, 'int32', [exponent]);
    }
    return unaryOp('powScalar', x, [exponent]);
  }
  return binaryOp('pow', x, exponent);
}

/** a + b, broadcast and type-promoted. */
export const add = (a: Operand, b: Operand): NDArray => binaryOp('add', a, b);
/** a - b, broadcast and type-promoted. */
export const sub = (a: Operand, b: Operand): NDArray => binaryOp('sub', a, b);
/** a * b, broadcast and type-promoted. */
export const mul = (a: Operand, b: Operand): NDArray => binaryOp('mul', a, b);
/** a / b, broadcast; true division, so integers divide to floating point. */
export const div = (a: Operand, b: Operand): NDArray => binaryOp('div', a, b);
/** The larger of a and b, elementwise (broadcast). */
export const maximum = (a: Operand, b: Operand): NDArray => binaryOp('maximum', a, b);
/** The smaller of a and b, elementwise (broadcast). */
export const minimum = (a: Operand, b: Operand): NDArray => binaryOp('minimum', a, b);
/** a == b, elementwise (broadcast); returns bool. */
export const eq = (a: Operand, b: Operand): NDArray => binaryOp('eq', a, b);
/** a != b, elementwise (broadcast); returns bool. */
export const ne = (a: Operand, b: Operand): NDArray => binaryOp('ne', a, b);
/** a < b, elementwise (broadcast); returns bool. */
export const lt = (a: Operand, b: Operand): NDArray => binaryOp('lt', a, b);
/** a <= b, elementwise (broadcast); returns bool. */
export const le = (a: Operand, b: Operand): NDArray => binaryOp('le', a, b);
/** a > b, elementwise (broadcast); returns bool. */
export const gt = (a: Operand, b: Operand): NDArray => binaryOp('gt', a, b);
/** a >= b, elementwise (broadcast); returns bool. */
export const ge = (a: Operand, b: Operand): NDArray => binaryOp('ge', a, b);
/** a && b, elementwise (broadcast); returns bool. */
export const logicalAnd = (a: Operand, b: Operand): NDArray => binaryOp('logicalAnd', a, b);
/** a || b, elementwise (broadcast); returns bool. */
export const logicalOr = (a: Operand, b: Operand): NDArray => binaryOp('logicalOr', a, b);
/**
 * relu's gradient from its output: grad where output <= 0 is false (NaN
 * included), else 0, as torch's threshold_backward(grad, output, 0).
 */
export const reluBackward = (grad: Operand, output: Operand): NDArray => binaryOp('reluBackward', grad, output);
/** sigmoid's gradient from its output: (grad * output) * (1 - output), each step rounded to the dtype (one pass for three ops). */
export const sigmoidBackward = (grad: Operand, output: Operand): NDArray => binaryOp('sigmoidBackward', grad, output);

/** `a` where `cond` is true, else `b`, broadcasting all three. `cond` must be bool. */
export function where(cond: NDArray, a: Operand, b: Operand): NDArray {
  if (!(cond instanceof NDArray) || cond.dtype !== 'bool') {
    throw new TypeError(`where: condition must be a bool NDArray, got ${cond instanceof NDArray ? cond.dtype : typeof cond}`);
  }
  checkNotDisposed('where', cond.storage);
  const [x, y, dtype] = prepareBinary('where', a, b);
  if (cond.device !== x.device) throw new Error(`where: tensors are on different devices: ${cond.device} (the condition) and ${x.device}`);
  const shape = broadcastShapes('where', cond.shape, x.shape);
  return backendFor(x.device).where(cond.expand(shape), x.expand(shape), y.expand(shape), dtype);
}

function checkFinite(op: string, name: string, v: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new RangeError(`${op}: ${name} must be a finite number, got ${v}`);
}

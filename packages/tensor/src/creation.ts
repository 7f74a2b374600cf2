import type { Device } from './backend.js';
import { DTYPES, type DType, type TypedArray, allocTyped, dtypeOfTyped } from './dtype.js';
import { NDArray, type NestedArray } from './ndarray.js';
import { type Generator, defaultGenerator } from './random.js';
import { backendFor } from './registry.js';
import { type Shape, checkShape, fmtShape, sizeOf } from './shape.js';

/** Options every creation function takes. */
export interface CreateOptions {
  /** Element type; float32 unless the data says otherwise. */
  dtype?: DType;
  /** Device to create on; 'cpu' by default. */
  device?: Device;
}

/** Options of the random creation functions: those of every creation function, plus the generator to draw from. */
export interface RandomOptions extends CreateOptions {
  /** Source of randomness; the default generator (seeded by `manualSeed`) when absent. */
  generator?: Generator;
}

/** Wraps host data (taken over, not copied) as an array of `shape` on `device`. */
export function fromTyped(data: TypedArray, shape: Shape, device: Device = 'cpu'): NDArray {
  checkShape('fromTyped', shape);
  if (sizeOf(shape) !== data.length) {
    throw new RangeError(`fromTyped: ${data.length} values do not fill shape ${fmtShape(shape)} (${sizeOf(shape)} elements)`);
  }
  return new NDArray(backendFor(device).upload(data), shape);
}

/**
 * An array from nested arrays of numbers/booleans, or from a typed array with
 * an optional shape (1-D by default). The data is copied.
 *
 * @example fromArray([[1, 2], [3, 4]]) // shape [2, 2], float32
 */
export function fromArray(data: NestedArray | boolean | readonly unknown[] | TypedArray, options: CreateOptions & { shape?: Shape } = {}): NDArray {
  if (ArrayBuffer.isView(data)) {
    const typed = data as TypedArray;
    const dtype = options.dtype ?? dtypeOfTyped(typed);
    const shape = options.shape ?? [typed.length];
    const out = allocTyped(dtype, typed.length);
    if (dtype === 'bool') for (let i = 0; i < typed.length; i++) out[i] = toBool(typed[i]);
    else out.set(typed);
    return fromTyped(out, shape, options.device);
  }
  const shape = inferNestedShape(data);
  if (options.shape && sizeOf(options.shape) !== sizeOf(shape)) {
    throw new RangeError(`fromArray: data of shape ${fmtShape(shape)} does not fit shape ${fmtShape(options.shape)}`);
  }
  const flat: number[] = [];
  let sawBool = false;
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) for (const e of v) walk(e);
    else if (typeof v === 'boolean') {
      sawBool = true;
      flat.push(v ? 1 : 0);
    } else flat.push(v as number);
  };
  walk(data);
  const dtype = options.dtype ?? (sawBool ? 'bool' : 'float32');
  if (!DTYPES.includes(dtype)) throw new TypeError(`fromArray: unknown dtype ${JSON.stringify(dtype)}; expected one of ${DTYPES.join(', ')}`);
  const out = allocTyped(dtype, flat.length);
  if (dtype === 'int32') {
    // Nothing silently truncated or wrapped around (PyTorch raises on overflow).
    for (let i = 0; i < flat.length; i++) {
      const v = flat[i];
      if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) throw new RangeError(`fromArray: element ${i} (${v}) is not an int32 (an integer in -2^31 .. 2^31 - 1)`);
    }
  }
  if (dtype === 'bool') for (let i = 0; i < flat.length; i++) out[i] = toBool(flat[i]);
  else for (let i = 0; i < flat.length; i++) out[i] = flat[i];
  return fromTyped(out, options.shape ?? shape, options.device);
}

/** A number as a bool element: 1 for any non-zero value (NaN included), as `bool(x)` in PyTorch. */
function toBool(v: number): number {
  return v !== 0 ? 1 : 0;
}

function inferNestedShape(data: unknown): number[] {
  const shape: number[] = [];
  let v: unknown = data;
  while (Array.isArray(v)) {
    shape.push(v.length);
    v = v[0];
  }
  const check = (x: unknown, dim: number, path: string): void => {
    if (dim === shape.length) {
      if (typeof x !== 'number' && typeof x !== 'boolean') {
        throw new TypeError(`fromArray: expected a number at ${path || 'the top level'}, got ${Array.isArray(x) ? 'an array' : typeof x}`);
      }
      return;
    }
    if (!Array.isArray(x) || x.length !== shape[dim]) {
      throw new RangeError(`fromArray: ragged nested array: expected length ${shape[dim]} at ${path || 'the top level'}, got ${Array.isArray(x) ? x.length : typeof x}`);
    }
    x.forEach((e, i) => check(e, dim + 1, `${path}[${i}]`));
  };
  check(data, 0, '');
  return shape;
}

/** An array of `shape` filled with `value` (float32 on 'cpu' by default). */
export function full(shape: Shape, value: number, options: CreateOptions = {}): NDArray {
  checkShape('full', shape);
  const dtype = options.dtype ?? 'float32';
  return backendFor(options.device ?? 'cpu').fill(shape, dtype, dtype === 'bool' ? toBool(value) : value);
}

/** An array of `shape` filled with 0. */
export function zeros(shape: Shape, options: CreateOptions = {}): NDArray {
  return full(shape, 0, options);
}

/** An array of `shape` filled with 1. */
export function ones(shape: Shape, options: CreateOptions = {}): NDArray {
  return full(shape, 1, options);
}

/** A 0-D array holding `value`. */
export function scalar(value: number, options: CreateOptions = {}): NDArray {
  return full([], value, options);
}

/** Zeros of x's shape, dtype and device (each overridable by `options`). */
export function zerosLike(x: NDArray, options: CreateOptions = {}): NDArray {
  return zeros(x.shape, { dtype: x.dtype, device: x.device, ...options });
}

/** Ones of x's shape, dtype and device (each overridable by `options`). */
export function onesLike(x: NDArray, options: CreateOptions = {}): NDArray {
  return ones(x.shape, { dtype: x.dtype, device: x.device, ...options });
}

/** `value` in x's shape, dtype and device (each overridable by `options`). */
export function fullLike(x: NDArray, value: number, options: CreateOptions = {}): NDArray {
  return full(x.shape, value, { dtype: x.dtype, device: x.device, ...options });
}

/** Values start, start+step, ... below end (as torch.arange). */
export function arange(start: number, end?: number, step = 1, options: CreateOptions = {}): NDArray {
  if (end === undefined) [start, end] = [0, start];
  if (step === 0 || !Number.isFinite(step)) throw new RangeError(`arange: step must be finite and non-zero, got ${step}`);
  if (!Number.isFinite(start) || !Number.isFinite(end)) throw new RangeError(`arange: start and end must be finite, got ${start}, ${end}`);
  if ((end - start) / step < 0) throw new RangeError(`arange: step ${step} has the wrong sign for start ${start} and end ${end}`);
  const n = Math.max(0, Math.ceil((end - start) / step));
  const out = allocTyped(options.dtype ?? 'float32', n);
  for (let i = 0; i < n; i++) out[i] = start + i * step;
  return fromTyped(out, [n], options.device);
}

/** `steps` evenly spaced values from start to end inclusive. */
export function linspace(start: number, end: number, steps: number, options: CreateOptions = {}): NDArray {
  if (!Number.isInteger(steps) || steps < 0) throw new RangeError(`linspace: steps must be a non-negative integer, got ${steps}`);
  const out = allocTyped(options.dtype ?? 'float32', steps);
  const step = steps > 1 ? (end - start) / (steps - 1) : 0;
  // Fill from both ends, as PyTorch does, so the last value is exactly `end`;
  // a single step is `start` (PyTorch fills it so), not `end`.
  const half = Math.floor(steps / 2);
  if (steps === 1) out[0] = start;
  else for (let i = 0; i < steps; i++) out[i] = i < half ? start + i * step : end - (steps - 1 - i) * step;
  return fromTyped(out, [steps], options.device);
}

/** The n x m identity (m = n by default). */
export function eye(n: number, m = n, options: CreateOptions = {}): NDArray {
  checkShape('eye', [n, m]);
  const out = allocTyped(options.dtype ?? 'float32', n * m);
  for (let i = 0; i < Math.min(n, m); i++) out[i * m + i] = 1;
  return fromTyped(out, [n, m], options.device);
}

function randomFill(op: string, shape: Shape, options: RandomOptions, sample: (g: Generator) => number): NDArray {
  checkShape(op, shape);
  const g = options.generator ?? defaultGenerator;
  const out = allocTyped(options.dtype ?? 'float32', sizeOf(shape));
  for (let i = 0; i < out.length; i++) out[i] = sample(g);
  // Sampled on the host, so a seed gives the same numbers on every device.
  return fromTyped(out, shape, options.device);
}

/** The largest float32 below 1. */
const BELOW_ONE_F32 = 1 - 2 ** -24;

/** Uniform samples in [0, 1). */
export function rand(shape: Shape, options: RandomOptions = {}): NDArray {
  // A double in [1 - 2^-25, 1) rounds to 1 in float32: clamp so float32 samples stay below 1 too.
  const top = (options.dtype ?? 'float32') === 'float32' ? BELOW_ONE_F32 : 1;
  return randomFill('rand', shape, options, top === 1 ? (g) => g.uniform() : (g) => Math.min(g.uniform(), top));
}

/** Standard normal samples. */
export function randn(shape: Shape, options: RandomOptions = {}): NDArray {
  return randomFill('randn', shape, options, (g) => g.normal());
}

/** Uniform integers in [low, high), int32 by default. */
export function randint(low: number, high: number, shape: Shape, options: RandomOptions = {}): NDArray {
  if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low) {
    throw new RangeError(`randint: expected integers low < high, got low=${low}, high=${high}`);
  }
  return randomFill('randint', shape, { dtype: 'int32', ...options }, (g) => g.int(low, high));
}

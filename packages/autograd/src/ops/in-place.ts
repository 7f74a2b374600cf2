/**
 * In-place ops, as PyTorch's trailing-underscore methods (`add_`, `mul_`,
 * `clamp_`, `copy_`, `fill_`, `zero_`, `normal_`, `uniform_`, ...): the
 * result is written into the tensor's own storage, so every view of it
 * and every `detach()`ed alias sees the new values, and the storage's
 * version goes up by one. A backward that needs a value written since its
 * op ran raises PyTorch's error (node.ts) instead of a wrong gradient.
 *
 * In the graph, the tensor becomes the output of the op (its old value, a
 * copy, is the op's input), as PyTorch rebases it. As in PyTorch, a leaf
 * that requires grad may only be written inside `noGrad` (an optimizer
 * step, an initializer). Unlike PyTorch, a tensor whose storage a view in
 * the graph shares cannot be written while recording: PyTorch rewrites the
 * views' graphs, normlab refuses (the error says to clone first).
 */
import * as nd from '@normlab/tensor';
import { isForwardADActive, moveTangents, shareTangents, visibleTangents } from '../forward-ad.js';
import { type TensorLike, record } from '../function.js';
import { isGradEnabled } from '../grad-mode.js';
import { zerosLike } from '../creation.js';
import { Tensor } from '../tensor.js';

/** Storages that a view recorded in the graph shares: a write to them would leave the view's graph stale. */
const viewedInGraph = new WeakSet<nd.Storage>();

/** @internal Called by the view ops when they record a view of `base` that shares its storage. */
export function noteGraphView(base: Tensor, view: Tensor): void {
  if (view.gradFn && view.data.storage === base.data.storage) viewedInGraph.add(base.data.storage);
}

const hasTangent = (v: unknown): boolean => v instanceof Tensor && visibleTangents(v).length > 0;

/**
 * Computes `compute(old)` out of place (differentiably, from a copy of x's
 * values standing in x's place in the graph), checks that it has x's shape
 * and a dtype x can hold, writes it into x's storage and makes x its output.
 */
function inPlace(op: string, x: Tensor, operands: readonly unknown[], compute: (old: Tensor) => Tensor): Tensor {
  if (!(x instanceof Tensor)) throw new TypeError(`${op}: expected a Tensor, got ${typeof x}`);
  const recording = isGradEnabled() && (x.requiresGrad || operands.some((o) => o instanceof Tensor && o.requiresGrad));
  const dual = isForwardADActive() && (hasTangent(x) || operands.some(hasTangent));
  if (isGradEnabled() && x.isLeaf && x.requiresGrad) {
    throw new Error(`${op}: a leaf Variable that requires grad is being used in an in-place operation; do it inside noGrad() (as an optimizer step or an initializer does), or on a clone()`);
  }
  if (recording && viewedInGraph.has(x.data.storage)) {
    throw new Error(`${op}: the tensor ${nd.fmtShape(x.shape)} shares its storage with a view recorded in the graph (or is one); an in-place write would leave that view's gradient stale (PyTorch rewrites the view's graph, normlab does not): clone() it first`);
  }
  if (!recording && !dual) {
    write(op, x, compute(new Tensor(x.data)));
    return x;
  }
  // x's old value, in x's place in the graph: a copy, since x's storage is about to change.
  const old = x.gradFn ? Tensor.fromNode(x.data.clone(), x.gradFn) : new Tensor(x.data.clone());
  shareTangents(x, old);
  const result = write(op, x, compute(old));
  x.rebase_(result);
  moveTangents(result, x);
  return x;
}

/** Checks the result against x (shape, dtype), casts it to x's dtype, writes it into x's storage; returns it. */
function write(op: string, x: Tensor, result: Tensor): Tensor {
  if (!nd.shapesEqual(result.shape, x.shape)) {
    throw new RangeError(`${op}: output with shape ${nd.fmtShape(x.shape)} doesn't match the broadcast shape ${nd.fmtShape(result.shape)}`);
  }
  let r = result;
  if (r.dtype !== x.dtype) {
    if (!nd.isFloat(x.dtype) && nd.isFloat(r.dtype)) throw new TypeError(`${op}: result type ${r.dtype} can't be cast to the desired output type ${x.dtype}`);
    r = r.astype(x.dtype);
  }
  nd.writeInto(op, x.data, r.data);
  return r;
}

/**
 * `values` (of x's shape and dtype) in place of `old`: old gets a zero
 * gradient (it was overwritten), values their gradient, as PyTorch's
 * fill_/copy_ backward.
 */
function overwrite(op: string, old: Tensor, values: Tensor): Tensor {
  return record(op, values.data, [old, values], (g) => [zerosLike(old), g], ([, tv]) => tv ?? zerosLike(values));
}

function checkOperand(op: string, v: unknown): void {
  if (!(v instanceof Tensor) && typeof v !== 'number') throw new TypeError(`${op}: expected a Tensor or a number, got ${typeof v}`);
}

/** Options of `add_` and `sub_`. */
export interface AlphaOptions {
  /** The multiplier of `other` (default 1), as PyTorch's `alpha`. */
  alpha?: number;
}

const scaled = (other: TensorLike, alpha: number): TensorLike =>
  (alpha === 1 ? other : typeof other === 'number' ? other * alpha : other.mul(alpha));

/** x += alpha * other, in place (other broadcasts to x's shape). */
export function add_(x: Tensor, other: TensorLike, options: AlphaOptions = {}): Tensor {
  checkOperand('add_', other);
  return inPlace('add_', x, [other], (old) => old.add(scaled(other, options.alpha ?? 1)));
}

/** x -= alpha * other, in place. */
export function sub_(x: Tensor, other: TensorLike, options: AlphaOptions = {}): Tensor {
  checkOperand('sub_', other);
  return inPlace('sub_', x, [other], (old) => old.sub(scaled(other, options.alpha ?? 1)));
}

/** x *= other, in place. */
export function mul_(x: Tensor, other: TensorLike): Tensor {
  checkOperand('mul_', other);
  return inPlace('mul_', x, [other], (old) => old.mul(other));
}

/** x /= other, in place. */
export function div_(x: Tensor, other: TensorLike): Tensor {
  checkOperand('div_', other);
  return inPlace('div_', x, [other], (old) => old.div(other));
}

/** x clamped to [min, max], in place (either bound may be left out). */
export function clamp_(x: Tensor, min?: number, max?: number): Tensor {
  if (min === undefined && max === undefined) throw new RangeError('clamp_: at least one of min and max must be given');
  return inPlace('clamp_', x, [], (old) => old.clamp(min, max));
}

/** Every element set to `value` (a number or a 0-D tensor, whose gradient is the sum of x's), in place. */
export function fill_(x: Tensor, value: number | Tensor): Tensor {
  if (value instanceof Tensor) {
    if (value.ndim !== 0) throw new RangeError(`fill_: only supports 0-dimension value tensor but got tensor with ${value.ndim} dimensions`);
  } else if (typeof value !== 'number') throw new TypeError(`fill_: expected a number or a 0-D Tensor, got ${typeof value}`);
  return inPlace('fill_', x, [value], (old) => {
    if (typeof value === 'number') {
      nd.checkScalarFits('fill_', value, x.dtype);
      return overwrite('fill_', old, new Tensor(nd.full(x.shape, value, { dtype: x.dtype, device: x.device })));
    }
    return overwrite('fill_', old, value.astype(x.dtype).to(x.device).expand(x.shape));
  });
}

/** Every element set to 0, in place. */
export function zero_(x: Tensor): Tensor {
  return inPlace('zero_', x, [], (old) => overwrite('zero_', old, zerosLike(x)));
}

/**
 * src's values (broadcast to x's shape, converted to x's dtype and device)
 * written into x, in place; the gradient goes back to src.
 */
export function copy_(x: Tensor, src: Tensor): Tensor {
  if (!(src instanceof Tensor)) throw new TypeError(`copy_: expected a Tensor source, got ${typeof src}`);
  if (!nd.isFloat(x.dtype) && nd.isFloat(src.dtype)) {
    // PyTorch truncates; normlab's integer conversions are explicit.
    throw new TypeError(`copy_: cannot copy ${src.dtype} values into a ${x.dtype} tensor; convert them first (src.astype('${x.dtype}'))`);
  }
  return inPlace('copy_', x, [src], (old) => overwrite('copy_', old, src.astype(x.dtype).to(x.device).broadcastTo(x.shape)));
}

/** Options of `normal_` and `uniform_`. */
export interface InPlaceRandomOptions {
  /** The source of randomness (the default generator when absent). */
  generator?: nd.Generator;
}

function checkFloatTarget(op: string, x: Tensor): void {
  if (!(x instanceof Tensor)) throw new TypeError(`${op}: expected a Tensor, got ${typeof x}`);
  if (!nd.isFloat(x.dtype)) throw new TypeError(`${op}: expected a floating point tensor, got ${x.dtype}`);
}

/** Values drawn from N(mean, std^2), in place (torch's `normal_`). */
export function normal_(x: Tensor, mean = 0, std = 1, options: InPlaceRandomOptions = {}): Tensor {
  checkFloatTarget('normal_', x);
  if (!(std >= 0)) throw new RangeError(`normal_: expects std >= 0.0, but found std ${std}`);
  if (!Number.isFinite(mean)) throw new RangeError(`normal_: expects a finite mean, got ${mean}`);
  return inPlace('normal_', x, [], (old) => {
    const z = nd.randn(x.shape, { dtype: x.dtype, device: x.device, generator: options.generator });
    return overwrite('normal_', old, new Tensor(nd.add(nd.mul(z, std), mean)));
  });
}

/** Values drawn uniformly from [from, to), in place (torch's `uniform_`). */
export function uniform_(x: Tensor, from = 0, to = 1, options: InPlaceRandomOptions = {}): Tensor {
  checkFloatTarget('uniform_', x);
  if (!(Number.isFinite(from) && Number.isFinite(to) && from <= to)) {
    throw new RangeError(`uniform_: expects to return a [from, to) range, but found from=${from} > to=${to}`);
  }
  return inPlace('uniform_', x, [], (old) => {
    const u = nd.rand(x.shape, { dtype: x.dtype, device: x.device, generator: options.generator });
    return overwrite('uniform_', old, new Tensor(nd.add(nd.mul(u, to - from), from)));
  });
}

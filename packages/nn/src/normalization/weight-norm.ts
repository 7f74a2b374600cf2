import { type Tensor, noGrad } from '@normlab/autograd';
import * as nd from '@normlab/tensor';
import type { Module } from '../module.js';
import { Parameter } from '../parameter.js';

/** Options of `weightNorm`: which parameter to reparametrize and the dim kept by the norm. */
export interface WeightNormOptions<N extends string = 'weight'> {
  /** The parameter to reparameterize; 'weight' by default. */
  name?: N;
  /**
   * The dim that keeps its own magnitude g (0 by default: one per output
   * unit of Linear and Conv2d, whose weights are [out, ...]); null, or -1
   * as PyTorch, takes one norm over the whole tensor (g a scalar of shape
   * [1, 1, ...]). Other negative dims count from the end.
   */
  dim?: number | null;
}

/** A module after `weightNorm`: its g and v parameters typed (`weightG`, `weightV` for the default name). */
export type WeightNormed<M extends Module, N extends string = 'weight'> = M & { [K in `${N}G` | `${N}V`]: Parameter };

interface WeightNormState {
  /** The dim the norm is not taken over, resolved (null: the whole tensor). */
  dim: number | null;
  /** The original property of the parameter, to put back. */
  descriptor: PropertyDescriptor;
}

const applied = new WeakMap<Module, Map<string, WeightNormState>>();

/** sqrt of the sum of squares over every dim except `dim` (all for null), kept as size-1 dims. */
function normExceptDim(v: Tensor, dim: number | null): Tensor {
  const dims = v.shape.map((_, i) => i).filter((i) => i !== dim);
  return v.square().sum(dims, { keepdim: true }).sqrt();
}

/** w = g * v / ||v||, the norm over every dim except `dim`. */
function compose(g: Tensor, v: Tensor, dim: number | null): Tensor {
  return v.mul(g.div(normExceptDim(v, dim)));
}

/**
 * Weight Normalization (Salimans & Kingma 2016), as
 * torch.nn.utils.weight_norm: reparameterizes the parameter `name` of
 * `module` as
 *
 *     w = g * v / ||v||      (the norm over every dim except `dim`)
 *
 * decoupling the length g of each weight vector (for dim 0, each output
 * unit's row of a Linear or filter of a Conv2d) from its direction v. The
 * parameter is replaced by two: `${name}G` (g, the norms, shape [out, 1, ...]
 * for dim 0) and `${name}V` (v, a copy of the weight), initialized so that w
 * is unchanged. `parameters()` and `stateDict()` then list g and v, not w.
 *
 * `module[name]` stays readable as a plain Tensor (not a Parameter),
 * recomputed from g and v at every read, so each forward uses the current g
 * and v and gradients flow to them. (It is a getter rather than a value set
 * before each forward: Module fixes `forward` on the instance, so it cannot
 * be wrapped from outside.) A forward that reads the weight twice builds
 * two copies of the graph; the gradients are still exact.
 *
 * Returns the module. `removeWeightNorm` undoes it.
 *
 * @example
 * const lin = weightNorm(new Linear(20, 40));
 * lin.parameters(); // [bias, weightG [40, 1], weightV [40, 20]]
 */
export function weightNorm<M extends Module, N extends string = 'weight'>(module: M, options: WeightNormOptions<N> = {}): WeightNormed<M, N> {
  const name: string = options.name ?? 'weight';
  const states = applied.get(module) ?? new Map<string, WeightNormState>();
  if (states.has(name)) throw new Error(`weightNorm: '${name}' of ${module.constructor.name} is already weight-normalized`);
  const descriptor = Object.getOwnPropertyDescriptor(module, name);
  const weight: unknown = descriptor?.value;
  if (!descriptor || !(weight instanceof Parameter)) {
    throw new TypeError(`weightNorm: ${module.constructor.name} has no parameter '${name}'`);
  }
  for (const suffix of ['G', 'V']) {
    if (`${name}${suffix}` in module) throw new Error(`weightNorm: ${module.constructor.name} already has a field '${name}${suffix}'`);
  }
  if (weight.ndim === 0) throw new RangeError(`weightNorm: '${name}' is a scalar; nothing to normalize`);
  let dim = options.dim === undefined ? 0 : options.dim;
  if (dim === -1) dim = null; // PyTorch: -1 is the whole tensor
  if (dim !== null) {
    if (!Number.isInteger(dim) || dim < -weight.ndim || dim >= weight.ndim) {
      throw new RangeError(`weightNorm: dim ${dim} out of range for '${name}' of shape ${nd.fmtShape(weight.shape)}`);
    }
    if (dim < 0) dim += weight.ndim;
  }
  const resolved = dim;
  const { g, v } = noGrad(() => {
    const v0 = weight.detach().clone();
    return { g: new Parameter(normExceptDim(v0, resolved)), v: new Parameter(v0) };
  });
  const fields = module as unknown as Record<string, unknown>;
  fields[`${name}G`] = g;
  fields[`${name}V`] = v;
  // Redefining the property in place keeps its position among the fields.
  Object.defineProperty(module, name, {
    configurable: true,
    enumerable: false,
    get: (): Tensor => compose(fields[`${name}G`] as Tensor, fields[`${name}V`] as Tensor, resolved),
  });
  states.set(name, { dim: resolved, descriptor });
  applied.set(module, states);
  return module as WeightNormed<M, N>;
}

/**
 * Undoes `weightNorm`: `module[name]` becomes a Parameter again holding the
 * current g * v / ||v||, and `${name}G` and `${name}V` are removed.
 */
export function removeWeightNorm<M extends Module>(module: M, name = 'weight'): M {
  const states = applied.get(module);
  const state = states?.get(name);
  if (!states || !state) throw new Error(`removeWeightNorm: '${name}' of ${module.constructor.name} is not weight-normalized`);
  const fields = module as unknown as Record<string, unknown>;
  const w = noGrad(() => compose(fields[`${name}G`] as Tensor, fields[`${name}V`] as Tensor, state.dim));
  Object.defineProperty(module, name, { ...state.descriptor, value: new Parameter(w.detach()) });
  delete fields[`${name}G`];
  delete fields[`${name}V`];
  states.delete(name);
  return module;
}

/** Whether `module[name]` is currently weight-normalized. */
export function isWeightNormed(module: Module, name = 'weight'): boolean {
  return applied.get(module)?.has(name) ?? false;
}

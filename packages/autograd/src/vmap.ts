/**
 * `vmap`, as torch.func.vmap: a function of single examples applied to a
 * batch, the batch dimension of each input chosen by `inDims` and of each
 * output by `outDims`. It runs the function once per example on slices of
 * the inputs and stacks the results, which is what torch.func does for an
 * op without a batching rule (its slow path, with a warning): the same
 * values, differentiable, composable with itself, `grad`, `vjp`, `jacrev`
 * and `functionalCall` (per-sample gradients in one call), but no faster
 * than the loop. Random ops follow torch.func's `randomness` modes, and a
 * BatchNorm in training mode, whose statistics couple the examples, is
 * refused inside it as torch.func refuses it.
 */
import { type Generator, type GeneratorState, watchDraws } from '@normlab/tensor';
import { stack } from './ops/join.js';
import { Tensor } from './tensor.js';

/** The batch dimension of an input (null: not mapped, passed whole to every call) or of an output. */
export type VmapDims = number | null | readonly (number | null)[];

/** Options of `vmap`. */
export interface VmapOptions {
  /** The batch dimension of each input: one for all, or one per argument (null: not mapped). 0 by default. */
  inDims?: VmapDims;
  /** Where the batch dimension goes in each output: one for all, or one per output. 0 by default. */
  outDims?: number | readonly number[];
  /**
   * What random ops (dropout, noisy BatchNorm, randn with a generator) do
   * inside: 'error' (the default, as torch.func) refuses them, 'different'
   * draws anew for every example, 'same' gives every example the same draws.
   */
  randomness?: 'error' | 'different' | 'same';
}

let depth = 0;

/** True while a `vmap`ped function runs (layers whose statistics couple the examples refuse to run then). */
export function isVmapping(): boolean {
  return depth > 0;
}

/** A function's result: one tensor, or a list of tensors. */
type Outputs = Tensor | readonly Tensor[];

function perArgument<T>(what: string, dims: T | readonly T[], n: number): T[] {
  if (!Array.isArray(dims)) return Array.from({ length: n }, () => dims as T);
  if (dims.length !== n) throw new RangeError(`vmap: ${what} has ${dims.length} entries for ${n} ${what === 'inDims' ? 'inputs' : 'outputs'}`);
  return [...(dims as readonly T[])];
}

function normalizeDim(what: string, dim: number, ndim: number): number {
  if (!Number.isInteger(dim) || dim < -ndim || dim >= ndim) throw new RangeError(`vmap: ${what} ${dim} is out of range for a tensor of ${ndim} dimension${ndim === 1 ? '' : 's'}`);
  return dim < 0 ? dim + ndim : dim;
}

/**
 * `f` over a batch: `vmap(f, { inDims, outDims })(...args)` calls
 * `f` with the b-th slice of every mapped input (the others whole) for each
 * b of the batch, and stacks the results along `outDims`. Every mapped input
 * must have the same batch size; at least one must be mapped.
 *
 * @example
 * // Per-example dot products: [B, n] x [B, n] -> [B].
 * const dots = vmap((a: Tensor, b: Tensor) => a.mul(b).sum())(xs, ys);
 */
export function vmap<A extends unknown[], R extends Outputs>(f: (...args: A) => R, options: VmapOptions = {}): (...args: A) => R {
  if (typeof f !== 'function') throw new TypeError('vmap: expected a function');
  const randomness = options.randomness ?? 'error';
  if (!['error', 'different', 'same'].includes(randomness)) throw new RangeError(`vmap: randomness must be 'error', 'different' or 'same', got '${String(randomness)}'`);
  return (...args: A): R => {
    const inDims = perArgument<number | null>('inDims', options.inDims === undefined ? 0 : options.inDims, args.length);
    let size = -1;
    const dims = args.map((a, i) => {
      const d = inDims[i];
      if (d === null) return null;
      if (!(a instanceof Tensor)) throw new TypeError(`vmap: input ${i} is mapped (inDims ${d}) but is not a Tensor; give it inDims null`);
      if (a.ndim === 0) throw new RangeError(`vmap: input ${i} is a 0-d tensor, which has no dimension to map over; give it inDims null`);
      const dim = normalizeDim(`inDims of input ${i}:`, d, a.ndim);
      if (size >= 0 && a.shape[dim] !== size) {
        throw new RangeError(`vmap: the mapped inputs have different batch sizes: ${size} and ${a.shape[dim]} (input ${i}, dim ${dim}, shape [${a.shape.join(', ')}])`);
      }
      size = a.shape[dim];
      return dim;
    });
    if (size < 0) throw new RangeError('vmap: at least one input must be mapped (every inDims is null)');
    if (size === 0) throw new RangeError('vmap: the batch is empty (size 0 along the mapped dimension)');
    const results: Tensor[][] = [];
    let single = false;
    // 'same': each generator goes back, before every example, to its state at its first draw in the first one.
    const starts = new Map<Generator, GeneratorState>();
    const watcher = randomness === 'error'
      ? (): void => {
        throw new Error("vmap: a random operation was called in randomness mode 'error'; pass { randomness: 'same' } or { randomness: 'different' } to vmap, or draw outside it");
      }
      : randomness === 'same'
        ? (g: Generator): void => {
          if (!starts.has(g)) starts.set(g, g.getState());
        }
        : null;
    depth++;
    try {
      for (let b = 0; b < size; b++) {
        for (const [g, state] of starts) g.setState(state);
        const slice = args.map((a, i) => (dims[i] === null ? a : (a as Tensor).select(dims[i]!, b))) as A;
        const y: unknown = watcher ? watchDraws(watcher, () => f(...slice)) : f(...slice);
        if (results.length > 0 && single !== (y instanceof Tensor)) throw new TypeError('vmap: the function returned a Tensor for one example and an array for another');
        single = y instanceof Tensor;
        const list: unknown[] | null = y instanceof Tensor ? [y] : Array.isArray(y) ? [...(y as unknown[])] : null;
        if (!list || !list.every((t) => t instanceof Tensor)) throw new TypeError('vmap: the function must return a Tensor or an array of Tensors');
        if (results.length > 0 && list.length !== results[0].length) throw new RangeError(`vmap: the function returned ${results[0].length} outputs for one example and ${list.length} for another`);
        results.push(list as Tensor[]);
      }
    } finally {
      depth--;
    }
    const count = results[0].length;
    const outDims = perArgument<number>('outDims', options.outDims ?? 0, count);
    const stacked = outDims.map((d, k) => {
      const parts = results.map((r) => r[k]);
      const shape = parts[0].shape.join();
      if (!parts.every((p) => p.shape.join() === shape)) throw new RangeError(`vmap: output ${k} has different shapes for different examples ([${parts[0].shape.join(', ')}] and others)`);
      return stack(parts, normalizeDim(`outDims of output ${k}:`, d, parts[0].ndim + 1));
    });
    return (single ? stacked[0] : stacked) as unknown as R;
  };
}

import { Tensor } from '@normlab/autograd';
import type { Module } from './module.js';

/** The tensors `functionalCall` substitutes, by the dotted names of `namedParameters()` / `namedBuffers()`. */
export interface FunctionalCallTensors {
  params?: Record<string, Tensor> | ReadonlyMap<string, Tensor>;
  buffers?: Record<string, Tensor> | ReadonlyMap<string, Tensor>;
}

/** Options of `functionalCall`. */
export interface FunctionalCallOptions {
  /** Every parameter and buffer must be given (false by default: the others are the module's own). */
  strict?: boolean;
  /** Also return the buffers as the call left them (BatchNorm's running statistics after a training forward). */
  returnBuffers?: boolean;
}

const entriesOf = (m: FunctionalCallTensors['params']): [string, Tensor][] =>
  m === undefined ? [] : m instanceof Map ? [...m] : Object.entries(m as Record<string, Tensor>);

/**
 * Runs `module.forward(...args)` with some of its parameters and buffers
 * replaced by the given tensors, as torch.func.functional_call: gradients
 * flow to the given tensors, and the module's own tensors are left
 * bit-identical (values, gradients, buffers). Parameters not given are the
 * module's own. Buffers not given are copies of the module's, so that a
 * training-mode BatchNorm updates the copies, never the module; given
 * buffers are updated in place, as in PyTorch. With `returnBuffers`, the
 * result is `{ output, buffers }`, the buffers (given or copied) as the call
 * left them. A tensor held under several names (tied weights) is replaced
 * everywhere it is held. Names that are not the module's are an error
 * listing them; with `strict`, so are missing ones.
 */
export function functionalCall<T = unknown>(module: Module, tensors: FunctionalCallTensors, args: readonly unknown[], options?: { strict?: boolean; returnBuffers?: false }): T;
export function functionalCall<T = unknown>(module: Module, tensors: FunctionalCallTensors, args: readonly unknown[], options: { strict?: boolean; returnBuffers: true }): { output: T; buffers: Map<string, Tensor> };
export function functionalCall<T = unknown>(
  module: Module, tensors: FunctionalCallTensors, args: readonly unknown[], options: FunctionalCallOptions = {},
): T | { output: T; buffers: Map<string, Tensor> } {
  if (!Array.isArray(args)) throw new TypeError('functionalCall: args must be an array of the forward\'s arguments, e.g. [x]');
  const ownParams = new Map<string, Tensor>(module.namedParameters());
  const ownBuffers = new Map<string, Tensor>(module.namedBuffers());
  const params = entriesOf(tensors?.params);
  const buffers = entriesOf(tensors?.buffers);
  const unknown = [...params.filter(([k]) => !ownParams.has(k)).map(([k]) => `params.${k}`), ...buffers.filter(([k]) => !ownBuffers.has(k)).map(([k]) => `buffers.${k}`)];
  if (unknown.length > 0) {
    throw new Error(`functionalCall: ${module.constructor.name} has no ${unknown.join(', ')} (its parameters: ${[...ownParams.keys()].join(', ') || 'none'}; buffers: ${[...ownBuffers.keys()].join(', ') || 'none'})`);
  }
  for (const [k, t] of [...params, ...buffers]) if (!(t instanceof Tensor)) throw new TypeError(`functionalCall: '${k}' is not a Tensor`);
  if (options.strict) {
    const given = new Set([...params, ...buffers].map(([k]) => k));
    const missing = [...ownParams.keys(), ...ownBuffers.keys()].filter((k) => !given.has(k));
    if (missing.length > 0) throw new Error(`functionalCall: strict, and ${missing.join(', ')} not given`);
  }
  // The module's tensor -> its substitute; buffers not given get copies.
  const substitute = new Map<Tensor, Tensor>();
  for (const [k, t] of params) substitute.set(ownParams.get(k)!, t);
  const usedBuffers = new Map<string, Tensor>();
  const givenBuffers = new Map(buffers);
  for (const [k, own] of ownBuffers) {
    const b = givenBuffers.get(k) ?? new Tensor(own.data.clone());
    substitute.set(own, b);
    usedBuffers.set(k, b);
  }
  // Swap every field that holds a substituted tensor (all its names: tied weights), and put them all back after.
  const swapped: [Module, string, Tensor][] = [];
  let output: T;
  try {
    for (const m of module.modules()) {
      for (const [key, value] of Object.entries(m)) {
        const sub = value instanceof Tensor ? substitute.get(value) : undefined;
        if (sub) {
          swapped.push([m, key, value]);
          Reflect.set(m, key, sub);
        }
      }
    }
    output = (module.forward as (...a: unknown[]) => T)(...args);
  } finally {
    for (const [m, key, value] of swapped.reverse()) Reflect.set(m, key, value);
  }
  return options.returnBuffers ? { output, buffers: usedBuffers } : output;
}

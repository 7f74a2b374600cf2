/**
 * An optimizer's state as PyTorch's `optimizer.state_dict()` lays it out
 * (`{ state: { 0: { momentum_buffer } }, param_groups: [{ lr, weight_decay,
 * ..., params: [0, 1] }] }`, snake_case names), and a safetensors form of it:
 * the state's tensors under `state.<index>.<name>`, everything else as JSON
 * in the metadata, so that a training run moves between normlab and PyTorch
 * with its momentum buffers and Adam moments.
 */
import { Tensor } from '@normlab/autograd';
import type { Optimizer, OptimizerStateDict, ParamState } from '../optim/optimizer.js';
import { camelName, pytorchKey } from './pytorch-names.js';
import type { Deserialized } from './safetensors.js';

/** `optimizer.state_dict()` as PyTorch has it: per-parameter state by index, and the groups with their option names and parameter indices. */
export interface PytorchOptimizerState {
  state: Map<number, Record<string, Tensor | number>>;
  param_groups: Record<string, unknown>[];
}

/** PyTorch's group options normlab has no counterpart of, with the values that change nothing (a state carrying others is refused). */
const PYTORCH_ONLY: Record<string, readonly unknown[]> = { foreach: [null, false], differentiable: [false], capturable: [false], fused: [null, false] };

/** An optimizer's `stateDict()` with PyTorch's layout and names. */
export function toPytorchOptimizerState<H extends object>(sd: OptimizerStateDict<H>): PytorchOptimizerState {
  const state = new Map<number, Record<string, Tensor | number>>();
  for (const [i, s] of sd.state) state.set(i, Object.fromEntries(Object.entries(s).map(([k, v]) => [pytorchKey(k), v])));
  const param_groups = sd.paramGroups.map((g) => ({
    ...Object.fromEntries(Object.entries(g.options as Record<string, unknown>).map(([k, v]) => [pytorchKey(k), Array.isArray(v) ? [...v] : v])),
    params: [...g.params],
  }));
  return { state, param_groups };
}

/**
 * A PyTorch-laid-out state as `optimizer.loadStateDict` takes it: names in
 * camelCase, each group's options checked against the optimizer's (an
 * option it does not have is an error, except PyTorch's implementation
 * switches at their neutral values: foreach, differentiable, capturable,
 * fused), step counts as numbers (PyTorch keeps some as 0-d tensors).
 */
export function fromPytorchOptimizerState<H extends object>(sd: PytorchOptimizerState, optimizer: Optimizer<H>): OptimizerStateDict<H> {
  const op = `${optimizer.constructor.name}: a PyTorch optimizer state`;
  if (!sd || !(sd.state instanceof Map) || !Array.isArray(sd.param_groups)) throw new TypeError(`${op} needs 'state' (a Map) and 'param_groups' (an array)`);
  const known = new Set(Object.keys(optimizer.defaults));
  const paramGroups = sd.param_groups.map((g, gi) => {
    const { params, ...rest } = g as { params?: unknown } & Record<string, unknown>;
    if (!Array.isArray(params) || !params.every((p) => Number.isInteger(p))) throw new TypeError(`${op}: param_groups[${gi}].params must be a list of parameter indices`);
    const options: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(rest)) {
      const name = camelName(k);
      if (known.has(name)) options[name] = Array.isArray(v) ? [...v] : v;
      else if (!(k in PYTORCH_ONLY && PYTORCH_ONLY[k].includes(v))) throw new RangeError(`${op}: param_groups[${gi}] has '${k}' = ${JSON.stringify(v)}, which ${optimizer.constructor.name} does not have`);
    }
    const missing = [...known].filter((k) => !(k in options));
    if (missing.length) throw new RangeError(`${op}: param_groups[${gi}] lacks ${missing.map((k) => `'${pytorchKey(k)}'`).join(', ')}`);
    return { params: params as number[], options: options as H };
  });
  const state = new Map<number, ParamState>();
  for (const [i, s] of sd.state) {
    state.set(i, Object.fromEntries(Object.entries(s).map(([k, v]) => [camelName(k), k === 'step' && v instanceof Tensor ? v.item() : v])));
  }
  return { state, paramGroups };
}

/** The safetensors form: `state.<index>.<name>` for the state's tensors; the groups and the state's numbers as JSON metadata. */
export function pytorchOptimizerTensors(sd: PytorchOptimizerState): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  const tensors: Record<string, Tensor> = {};
  const numbers: Record<string, Record<string, number>> = {};
  for (const [i, s] of sd.state) {
    for (const [k, v] of Object.entries(s)) {
      if (v instanceof Tensor) tensors[`state.${i}.${k}`] = v;
      else (numbers[i] ??= {})[k] = v;
    }
  }
  return { tensors, metadata: { param_groups: JSON.stringify(sd.param_groups), state_numbers: JSON.stringify(numbers) } };
}

/** The inverse of `pytorchOptimizerTensors`, from a deserialized file (`deserialize`, or `load` with its metadata). */
export function pytorchOptimizerFromTensors(file: Deserialized): PytorchOptimizerState {
  const { tensors, metadata } = file;
  if (metadata.param_groups === undefined || metadata.state_numbers === undefined) {
    throw new TypeError("pytorchOptimizerFromTensors: the file has no 'param_groups' or 'state_numbers' metadata (not written by pytorchOptimizerTensors)");
  }
  const state = new Map<number, Record<string, Tensor | number>>();
  const entry = (i: number): Record<string, Tensor | number> => {
    if (!state.has(i)) state.set(i, {});
    return state.get(i)!;
  };
  for (const [key, t] of tensors) {
    const m = /^state\.(\d+)\.(.+)$/.exec(key);
    if (!m) throw new RangeError(`pytorchOptimizerFromTensors: unexpected tensor '${key}' (expected state.<index>.<name>)`);
    entry(Number(m[1]))[m[2]] = t;
  }
  for (const [i, s] of Object.entries(JSON.parse(metadata.state_numbers) as Record<string, Record<string, number>>)) Object.assign(entry(Number(i)), s);
  return { state: new Map([...state].sort(([a], [b]) => a - b)), param_groups: JSON.parse(metadata.param_groups) as Record<string, unknown>[] };
}

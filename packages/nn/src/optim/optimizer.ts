import { Tensor, noGrad } from '@normlab/autograd';
import { type NDArray, TIDY_CHILDREN, isTidyActive, noteHolder, noteHolderWrite, recordFunction, zeros, zerosLike } from '@normlab/tensor';
import type { Parameter } from '../parameter.js';
import { type PytorchOptimizerState, fromPytorchOptimizerState, toPytorchOptimizerState } from '../serialization/pytorch-optimizer.js';

/** A set of parameters with its own hyper-parameters (e.g. a different lr). */
export interface ParamGroup<H> {
  params: Parameter[];
  options: H;
}

/** Per-parameter state: step counts as numbers, moment buffers as tensors. */
export type ParamState = Record<string, Tensor | number>;

/** A group as given to the constructor or `addParamGroup`: its parameters and option overrides. */
export type ParamGroupInput<H> = { params: Parameter | Iterable<Parameter> } & Partial<H>;

/**
 * What `Optimizer.stateDict()` returns, as torch's `state_dict()`: the state
 * keyed by the parameter's index (counted across groups, in order) and each
 * group's options with the indices of its parameters.
 */
export interface OptimizerStateDict<H> {
  state: Map<number, ParamState>;
  paramGroups: { params: number[]; options: H }[];
}

/**
 * Base of the optimizers: parameter groups, per-parameter state kept in a
 * map keyed by parameter (never on the tensor), `zeroGrad`, `addParamGroup`
 * and `stateDict` / `loadStateDict`.
 */
export abstract class Optimizer<H extends object> {
  readonly paramGroups: ParamGroup<H>[] = [];
  readonly state = new Map<Parameter, ParamState>();

  constructor(params: Iterable<Parameter> | Iterable<ParamGroupInput<H>>, readonly defaults: H) {
    const list = [...(params as Iterable<Parameter | ParamGroupInput<H>>)];
    if (list.length === 0) throw new RangeError(`${this.constructor.name}: got an empty parameter list`);
    const groups = list.every((p) => 'params' in p && !('data' in p))
      ? (list as ParamGroupInput<H>[])
      // A plain list: one group with every option at its default.
      : [{ ...({} as Partial<H>), params: list as Parameter[] }];
    for (const g of groups) this.addParamGroup(g);
  }

  /**
   * Adds a group (as torch's `add_param_group`), e.g. to train layers
   * unfrozen mid-training; options it leaves out (or sets to undefined)
   * take the optimizer's defaults.
   */
  addParamGroup(group: ParamGroupInput<H>): void {
    const { params, ...rest } = group;
    // A Parameter is iterable over nothing useful; treat it as a one-element list.
    const list: Parameter[] = isParameter(params) ? [params] : [...params];
    // A group's explicit `undefined` keeps the default rather than erasing it.
    const overrides = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) as Partial<H>;
    const options: H = { ...structuredClone(this.defaults), ...overrides };
    this.validateOptions(options);
    const seen = new Set<Parameter>();
    for (const g of this.paramGroups) for (const p of g.params) seen.add(p);
    for (const p of list) {
      if (seen.has(p)) throw new Error(`${this.constructor.name}: a parameter appears in more than one group`);
      seen.add(p);
    }
    this.paramGroups.push({ params: list, options });
  }

  /** Checks one group's options; subclasses throw a RangeError naming the bad one. */
  protected validateOptions(options: H): void {
    void options;
  }

  /** Clears the gradients of every parameter (to null by default, as PyTorch). */
  zeroGrad(options: { setToNone?: boolean } = {}): void {
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        if (options.setToNone ?? true) p.grad = null;
        // Fresh zeros (not grad * 0, which keeps NaN and Inf), as torch's grad.zero_().
        else if (p.grad) p.grad = new Tensor(zeros(p.grad.shape, { dtype: p.grad.dtype, device: p.grad.device }));
      }
    }
  }

  /**
   * The optimizer's state, with parameters replaced by their index across
   * groups (as torch). The tensors are shared with the optimizer (they are
   * never changed in place by `step`); `loadStateDict` copies them. With
   * `naming: 'pytorch'`, PyTorch's layout and names (`param_groups`,
   * `momentum_buffer`, `exp_avg`, `weight_decay`; see docs/checkpoints.md).
   */
  stateDict(): OptimizerStateDict<H>;
  stateDict(options: { naming: 'pytorch' }): PytorchOptimizerState;
  stateDict(options: { naming?: 'normlab' | 'pytorch' }): OptimizerStateDict<H> | PytorchOptimizerState;
  stateDict(options: { naming?: 'normlab' | 'pytorch' } = {}): OptimizerStateDict<H> | PytorchOptimizerState {
    const naming = options.naming ?? 'normlab';
    if (naming !== 'normlab' && naming !== 'pytorch') throw new RangeError(`${this.constructor.name}.stateDict: naming must be 'normlab' or 'pytorch', got '${String(naming)}'`);
    const index = new Map<Parameter, number>();
    const paramGroups = this.paramGroups.map((g) => ({
      options: structuredClone(g.options),
      params: g.params.map((p) => {
        index.set(p, index.size);
        return index.size - 1;
      }),
    }));
    const state = new Map<number, ParamState>();
    for (const [p, i] of index) {
      const s = this.state.get(p);
      if (s) state.set(i, { ...s });
    }
    return naming === 'pytorch' ? toPytorchOptimizerState({ state, paramGroups }) : { state, paramGroups };
  }

  /**
   * Restores a `stateDict()`: the groups' options (a changed lr included)
   * and every parameter's state, copied (cast to the parameter's dtype and
   * device, as torch) so that the two optimizers never alias. The groups
   * must have the same number of parameters, in the same order. A state in
   * PyTorch's layout (`stateDict({ naming: 'pytorch' })`, or one PyTorch
   * wrote) is taken as well.
   */
  loadStateDict(given: OptimizerStateDict<H> | PytorchOptimizerState): void {
    const sd = 'param_groups' in given ? fromPytorchOptimizerState(given, this) : given;
    const name = `${this.constructor.name}.loadStateDict`;
    if (sd.paramGroups.length !== this.paramGroups.length) {
      throw new RangeError(`${name}: the state has ${sd.paramGroups.length} parameter groups but the optimizer has ${this.paramGroups.length}`);
    }
    const byIndex = new Map<number, Parameter>();
    sd.paramGroups.forEach((saved, gi) => {
      const own = this.paramGroups[gi];
      if (saved.params.length !== own.params.length) {
        throw new RangeError(`${name}: parameter group ${gi} has ${saved.params.length} parameters in the state but ${own.params.length} in the optimizer`);
      }
      saved.params.forEach((id, k) => byIndex.set(id, own.params[k]));
      this.validateOptions(saved.options);
    });
    for (const [id, s] of sd.state) {
      const p = byIndex.get(id);
      if (!p) throw new RangeError(`${name}: the state has an entry for parameter ${id}, which no group lists`);
      for (const v of Object.values(s)) {
        if (v instanceof Tensor && v.shape.join() !== p.shape.join()) {
          throw new RangeError(`${name}: the state of parameter ${id} has shape [${v.shape.join(', ')}] but the parameter has [${p.shape.join(', ')}]`);
        }
      }
    }
    // All checks passed: only now change anything.
    sd.paramGroups.forEach((saved, gi) => {
      this.paramGroups[gi].options = structuredClone(saved.options);
    });
    for (const s of this.state.values()) for (const a of stateArrays(s)) noteHolderWrite(this, null, a.storage);
    this.state.clear();
    noteHolder(this);
    for (const [id, s] of sd.state) {
      const p = byIndex.get(id)!;
      const copy: ParamState = {};
      for (const [k, v] of Object.entries(s)) {
        copy[k] = v instanceof Tensor ? new Tensor(v.data.astype(p.dtype).to(p.device).clone()) : v;
      }
      this.state.set(p, copy);
    }
  }

  /**
   * Applies one update to every parameter that has a gradient: `updateParam`
   * gives its new values and state, which replaces the stored one unless null.
   */
  step(): void {
    recordFunction('optimizer.step', () => noGrad(() => {
      for (const group of this.paramGroups) {
        for (const p of group.params) {
          if (!p.grad) continue;
          const before = this.state.get(p);
          // Inside tidy: the old state tensors (replaced by the update) may be freed at the scope's end.
          const old = before && isTidyActive() ? stateArrays(before) : null;
          const next = this.updateParam(p, p.grad, before, group.options);
          p.data = next.param.data;
          if (next.state) this.state.set(p, next.state);
          if (old) {
            const now = new Set(stateArrays(this.state.get(p)!).map((a) => a.storage));
            for (const a of old) if (!now.has(a.storage)) noteHolderWrite(this, null, a.storage);
          }
        }
      }
      noteHolder(this);
    }));
  }

  /** @internal What `tidy` visits: the state tensors (the optimizer keeps them past a scope). */
  [TIDY_CHILDREN](): unknown[] {
    return [this.state];
  }

  /**
   * One parameter's update for `step`, from its stored state (undefined
   * before any): the new values, and the state to store (null stores none).
   */
  protected abstract updateParam(param: Tensor, grad: Tensor, state: ParamState | undefined, options: H): { param: Tensor; state: ParamState | null };
}

function isParameter(x: Parameter | Iterable<Parameter>): x is Parameter {
  return x instanceof Tensor;
}

/** The arrays of the tensors of one parameter's state. */
function stateArrays(s: ParamState): NDArray[] {
  return Object.values(s).flatMap((v) => (v instanceof Tensor ? [v.data] : []));
}

/** Zeros shaped, typed and placed like `p` (torch.zeros_like). */
export function zerosLikeTensor(p: Tensor): Tensor {
  return new Tensor(zerosLike(p.data));
}

/** The tensor `state[key]`, or null when absent (state values are tensors or numbers). */
export function stateTensor(state: ParamState | undefined, key: string): Tensor | null {
  const v = state?.[key];
  return v instanceof Tensor ? v : null;
}

/** The number `state[key]`, or 0 when absent. */
export function stateNumber(state: ParamState | undefined, key: string): number {
  const v = state?.[key];
  return typeof v === 'number' ? v : 0;
}

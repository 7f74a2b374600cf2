import { Tensor, grad } from '@normlab/autograd';
import { Module, NoisyBatchNorm1d, NoisyBatchNorm2d, type Parameter, type optim, withoutStatsUpdates } from '@normlab/nn';
import * as nd from '@normlab/tensor';

/** A loss of `model` on `batch`: a scalar tensor computed by running the model (e.g. `crossEntropy(model.forward(b.x), b.y)`). */
export type LossFn<M extends Module = Module, B = unknown> = (model: M, batch: B) => Tensor;

/** Any optimizer of `@normlab/nn`'s `optim` namespace. */
export type AnyOptimizer = optim.Optimizer<object>;

/** Options every probe takes. */
export interface ProbeOptions {
  /**
   * Optimizers whose state (`state` map, parameter groups) the probe must
   * leave as it found it. The probes never call an optimizer's `step` unless
   * given one as `optimizerStep`, so this is belt and braces.
   */
  optimizers?: readonly AnyOptimizer[];
  /**
   * Run the model in training mode during the probe (default true): BatchNorm
   * normalizes with the batch statistics, as when the gradient of a training
   * step is computed. The modes are restored afterwards either way.
   */
  training?: boolean;
}

interface TensorState {
  tensor: Tensor;
  data: nd.NDArray;
  grad: Tensor | null;
  requiresGrad: boolean;
}

/**
 * Everything a probe could disturb, recorded by reference before it runs and
 * written back afterwards (in a `finally`), so that the model, its
 * gradients, its buffers and the optimizers end exactly as they were:
 *
 * - every own field of every module (buffers such as `runningMean` and
 *   `numBatchesTracked`, which BatchNorm replaces when it updates its
 *   statistics; `training`; NoisyBatchNorm's `lastNoise`; ...), fields added
 *   during the probe removed;
 * - the values, `.grad` (null included) and `requiresGrad` of every tensor
 *   held in a module field (parameters and buffers);
 * - the state of every random generator the model can reach (the default
 *   generator, and those of Dropout or NoisyBatchNorm layers), so the
 *   training run draws the same random numbers as without the probe;
 * - the optimizers' per-parameter state and parameter groups.
 *
 * The probe itself never writes into an existing array: parameters get new
 * arrays (`p.data = ...`), gradients are computed with `grad()` (never
 * `backward`, so `.grad` is never accumulated into), and the running
 * statistics are not updated (`probe` runs under `withoutStatsUpdates`) and
 * would be put back anyway, which is exact because in training mode
 * BatchNorm's output does not depend on them.
 */
export class ProbeGuard {
  private readonly fields: { module: Module; entries: Map<string, unknown> }[] = [];
  private readonly tensors: TensorState[] = [];
  private readonly generators: { gen: nd.Generator; state: nd.GeneratorState }[] = [];
  private readonly optimizers: { opt: AnyOptimizer; state: [Parameter, optim.ParamState, optim.ParamState, Map<Tensor, nd.NDArray>][]; groups: { group: optim.ParamGroup<object>; params: Parameter[]; options: object }[] }[] = [];
  private restored = false;

  constructor(readonly model: Module, options: ProbeOptions = {}) {
    const seenTensors = new Set<Tensor>();
    const gens = new Set<nd.Generator>([nd.defaultGenerator]);
    for (const module of model.modules()) {
      const entries = new Map<string, unknown>();
      for (const [k, v] of Object.entries(module)) {
        entries.set(k, v);
        if (v instanceof Tensor && !seenTensors.has(v)) {
          seenTensors.add(v);
          this.tensors.push({ tensor: v, data: v.data, grad: v.grad, requiresGrad: v.requiresGrad });
        }
        if (v instanceof nd.Generator) gens.add(v); // Dropout's
      }
      if (module instanceof NoisyBatchNorm1d || module instanceof NoisyBatchNorm2d) gens.add(module.generator);
      this.fields.push({ module, entries });
    }
    for (const gen of gens) this.generators.push({ gen, state: gen.getState() });
    for (const opt of options.optimizers ?? []) this.addOptimizer(opt);
    if (options.training ?? true) model.train();
  }

  /** Also restores `opt`'s state at the end (called by probes that step it). */
  addOptimizer(opt: AnyOptimizer): void {
    if (this.optimizers.some((o) => o.opt === opt)) return;
    this.optimizers.push({
      opt,
      // The record (SGD writes its momentum buffer into it), a copy of its entries, and the values of its tensors.
      state: [...opt.state].map(([p, s]) => [p, s, { ...s }, new Map(Object.values(s).flatMap((v) => (v instanceof Tensor ? [[v, v.data] as const] : [])))]),
      groups: opt.paramGroups.map((group) => ({ group, params: [...group.params], options: group.options })),
    });
  }

  /**
   * Puts every random generator back to its state at the start of the probe:
   * called before each evaluation of the loss, so that all the evaluations
   * of one probe see the same dropout masks and the same BatchNorm noise
   * (common random numbers), and differences measure the landscape only.
   */
  resetRandom(): void {
    for (const { gen, state } of this.generators) gen.setState(state);
  }

  /** Writes everything back (idempotent). */
  restore(): void {
    if (this.restored) return;
    this.restored = true;
    this.resetRandom();
    for (const { module, entries } of this.fields) {
      for (const key of Object.keys(module)) {
        if (!entries.has(key)) {
          const d = Object.getOwnPropertyDescriptor(module, key);
          if (d?.configurable) Reflect.deleteProperty(module, key);
        }
      }
      for (const [key, value] of entries) {
        if (Object.is(Reflect.get(module, key), value)) continue;
        const d = Object.getOwnPropertyDescriptor(module, key);
        if (d && !d.writable && !d.set) continue;
        Reflect.set(module, key, value);
      }
    }
    for (const t of this.tensors) {
      if (t.tensor.data !== t.data) t.tensor.data = t.data;
      if (t.tensor.grad !== t.grad) t.tensor.grad = t.grad;
      if (t.tensor.requiresGrad !== t.requiresGrad) t.tensor.requiresGrad = t.requiresGrad;
    }
    for (const { opt, state, groups } of this.optimizers) {
      for (const [, record, entries, values] of state) {
        for (const key of Object.keys(record)) if (!(key in entries)) Reflect.deleteProperty(record, key);
        for (const [key, v] of Object.entries(entries)) if (record[key] !== v) record[key] = v;
        for (const [t, data] of values) if (t.data !== data) t.data = data;
      }
      const now = [...opt.state];
      const same = now.length === state.length && now.every(([p, s], i) => state[i][0] === p && state[i][1] === s);
      if (!same) {
        opt.state.clear();
        for (const [p, s] of state) opt.state.set(p, s);
      }
      opt.paramGroups.length = 0;
      for (const { group, params, options } of groups) {
        group.params.splice(0, group.params.length, ...params);
        group.options = options;
        opt.paramGroups.push(group);
      }
    }
  }
}

/**
 * Runs `fn` under a `ProbeGuard` and restores the model, its gradients,
 * buffers and optimizers afterwards, also on a throw. The BatchNorm layers'
 * running-statistics updates are suspended meanwhile (`withoutStatsUpdates`
 * of @normlab/nn): in training mode they normalize with the batch
 * statistics and leave their buffers alone (the guard would put them back
 * anyway).
 */
export function probe<T>(model: Module, options: ProbeOptions, fn: (guard: ProbeGuard) => T): T {
  const guard = new ProbeGuard(model, options);
  try {
    return withoutStatsUpdates(model, () => fn(guard));
  } finally {
    guard.restore();
  }
}

/** The trainable parameters of `model` with their names (`namedParameters()` order). */
export function trainable(model: Module): [string, Parameter][] {
  return [...model.namedParameters()].filter(([, p]) => p.requiresGrad);
}

/** Zeros shaped, typed and placed like `p`, without a graph. */
export function zerosOf(p: Tensor): Tensor {
  return new Tensor(nd.zeros(p.shape, { dtype: p.dtype, device: p.device }));
}

/**
 * Runs the loss (after resetting the random generators) and returns it as a
 * number, with the gradients of `params` (detached unless `createGraph`;
 * zeros for a parameter the loss does not use).
 */
export function lossAndGrads(
  guard: ProbeGuard, lossFn: LossFn<never, never>, batch: unknown, params: readonly Parameter[], options: { createGraph?: boolean } = {},
): { lossTensor: Tensor; loss: number; grads: Tensor[] } {
  guard.resetRandom();
  const lossTensor = (lossFn as LossFn<Module, unknown>)(guard.model, batch);
  checkLoss(lossTensor);
  const loss = lossTensor.item();
  if (params.length === 0) return { lossTensor, loss, grads: [] };
  if (!lossTensor.requiresGrad) return { lossTensor, loss, grads: params.map(zerosOf) };
  const gs = grad(lossTensor, params, { allowUnused: true, createGraph: options.createGraph ?? false, retainGraph: options.createGraph ?? false });
  return { lossTensor, loss, grads: gs.map((g, i) => g ?? zerosOf(params[i])) };
}

export function checkLoss(loss: unknown): asserts loss is Tensor {
  if (!(loss instanceof Tensor)) throw new TypeError('landscape: the loss function must return a Tensor');
  if (loss.size !== 1) throw new RangeError(`landscape: the loss function must return a scalar, got shape ${nd.fmtShape(loss.shape)}`);
}

/** Values of a tensor on the host, in float64. */
export function host(t: Tensor | nd.NDArray): Float64Array {
  const a = t instanceof Tensor ? t.data : t;
  return Float64Array.from(a.toTypedArray() as ArrayLike<number>);
}

/** Concatenated host values of several tensors, in float64. */
export function hostConcat(ts: readonly Tensor[]): Float64Array {
  const n = ts.reduce((s, t) => s + t.size, 0);
  const out = new Float64Array(n);
  let o = 0;
  for (const t of ts) {
    out.set(host(t), o);
    o += t.size;
  }
  return out;
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

export function norm(a: ArrayLike<number>): number {
  return Math.sqrt(dot(a, a));
}

export function diffNorm(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    s += d * d;
  }
  return Math.sqrt(s);
}

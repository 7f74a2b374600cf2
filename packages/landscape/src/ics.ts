import { Tensor, noGrad } from '@normlab/autograd';
import { Module, Parameter, optim } from '@normlab/nn';
import type * as nd from '@normlab/tensor';
import {
  type AnyOptimizer, type LossFn, type ProbeGuard, type ProbeOptions, diffNorm, dot, hostConcat, lossAndGrads, norm, probe, trainable,
} from './guard.js';

/**
 * A step of one parameter: its new values from its current ones and its
 * gradient on the batch (`name` is its dotted name in the model).
 */
export type StepFn = (param: Parameter, grad: Tensor, name: string) => Tensor | nd.NDArray;

/**
 * The optimizer step that takes the layers from W^t to W^(t+1):
 *
 * - a number `lr`: plain gradient descent, W - lr * G (the paper's setting
 *   for its deep linear networks, full-batch GD);
 * - `{ lr }`: the same;
 * - a function `(param, grad, name) => newValue`;
 * - an optimizer of `@normlab/nn` (`optim.SGD`, `optim.Adam`, ...): the step
 *   that optimizer would take now, with its momentum buffers or moments,
 *   given the batch gradient. Its state (moments, step counts) is left as it
 *   was: the step is taken on copies and rolled back.
 */
export type OptimizerStep = number | { lr: number } | StepFn | AnyOptimizer;

export interface InternalCovariateShiftOptions extends ProbeOptions {
  /**
   * The layers W_1..W_k, in the order the network applies them. Default:
   * every module that owns trainable parameters itself (not through a
   * submodule), in `model.modules()` order, which is the forward order for
   * `Sequential` and for modules that assign their layers in the order they
   * use them. A layer's W is all its own trainable parameters (a Linear's
   * weight and bias, a BatchNorm's gamma and beta). Parameters outside the
   * listed layers never step.
   */
  layers?: readonly Module[];
}

/** ICS of one layer. */
export interface LayerShift {
  /** The module's dotted name in the model ('' for the model itself). */
  name: string;
  /** The layer's parameters, by dotted name, in the order G concatenates them. */
  params: string[];
  /** ||G - G'||_2. */
  l2: number;
  /** cos(G, G') = <G, G'> / (||G|| ||G'||); NaN when either gradient is zero. */
  cosine: number;
  /** ||G||_2 and ||G'||_2. */
  gradNorm: number;
  gradNormAfter: number;
}

/**
 * The internal covariate shift of every layer as Santurkar et al. (2018,
 * section 2.2) measure it through gradients. For layer i, on one batch:
 *
 *     G_i  = grad_{W_i} L(W_1^t, ..., W_k^t)
 *     G'_i = grad_{W_i} L(W_1^(t+1), ..., W_(i-1)^(t+1), W_i^t, ..., W_k^t)
 *     ICS_i = ||G_i - G'_i||_2,  and cos(G_i, G'_i)
 *
 * where W^(t+1) = W^t after the step `optimizerStep` describes, taken with the
 * gradients G at W^t. G' is how the gradient of layer i changes when only the
 * layers before it have moved: the shift of its input distribution as
 * felt by the optimization. k + 1 gradient evaluations.
 *
 * Runs in training mode (BatchNorm with batch statistics) and leaves the
 * model, its gradients, buffers (running statistics) and the optimizer's
 * state exactly as they were.
 */
export function internalCovariateShift<M extends Module, B>(
  model: M, lossFn: LossFn<M, B>, batch: B, optimizerStep: OptimizerStep, options: InternalCovariateShiftOptions = {},
): LayerShift[] {
  const moduleNames = new Map([...model.namedModules()].map(([n, m]) => [m, n]));
  const paramNames = new Map([...model.namedParameters()].map(([n, p]) => [p, n]));
  const layers = options.layers ?? model.modules().filter((m) => ownTrainable(m).length > 0);
  for (const l of layers) if (!moduleNames.has(l)) throw new Error('internalCovariateShift: a layer in options.layers is not a module of the model');
  const units = layers.map((m) => ({ module: m, name: moduleNames.get(m)!, params: ownTrainable(m) })).filter((u) => u.params.length > 0);
  const optimizers = [...(options.optimizers ?? [])];
  if (optimizerStep instanceof optim.Optimizer) optimizers.push(optimizerStep as AnyOptimizer);

  return probe(model, { ...options, optimizers }, (guard) => {
    const all = trainable(model).map(([, p]) => p);
    const { grads } = lossAndGrads(guard, lossFn, batch, all);
    const gradOf = new Map(all.map((p, i) => [p, grads[i]]));
    const unitParams = units.flatMap((u) => u.params);
    const before = new Map(unitParams.map((p) => [p, p.data]));
    const after = stepped(guard, unitParams, gradOf, paramNames, optimizerStep);

    const out: LayerShift[] = [];
    units.forEach((u, i) => {
      // Layers 0..i-1 at W^(t+1); the others at W^t.
      noGrad(() => {
        for (const [j, v] of units.entries()) for (const p of v.params) p.data = j < i ? after.get(p)! : before.get(p)!;
      });
      const g = hostConcat(u.params.map((p) => gradOf.get(p)!));
      const gAfter = hostConcat(lossAndGrads(guard, lossFn, batch, u.params).grads);
      const gradNorm = norm(g);
      const gradNormAfter = norm(gAfter);
      out.push({
        name: u.name,
        params: u.params.map((p) => paramNames.get(p)!),
        l2: diffNorm(g, gAfter),
        cosine: gradNorm > 0 && gradNormAfter > 0 ? dot(g, gAfter) / (gradNorm * gradNormAfter) : NaN,
        gradNorm,
        gradNormAfter,
      });
    });
    return out;
  });
}

/** The trainable parameters a module holds in its own fields. */
function ownTrainable(m: Module): Parameter[] {
  const out: Parameter[] = [];
  for (const v of Object.values(m)) if (v instanceof Parameter && v.requiresGrad && !out.includes(v)) out.push(v);
  return out;
}

/** W^(t+1) of each parameter, by the rule of `step`; the parameters themselves are left at W^t. */
function stepped(
  guard: ProbeGuard, params: readonly Parameter[], gradOf: Map<Parameter, Tensor>, names: Map<Parameter, string>, step: OptimizerStep,
): Map<Parameter, nd.NDArray> {
  const out = new Map<Parameter, nd.NDArray>();
  if (step instanceof optim.Optimizer) {
    const opt = step as AnyOptimizer;
    guard.addOptimizer(opt);
    const inOpt = new Set(opt.paramGroups.flatMap((g) => g.params));
    for (const p of params) {
      if (!inOpt.has(p)) throw new Error(`internalCovariateShift: parameter '${names.get(p)}' is not in the optimizer`);
    }
    const saved = new Map([...inOpt].map((p) => [p, { data: p.data, grad: p.grad }]));
    try {
      // Every parameter the optimizer holds steps with its batch gradient (none for one outside the model).
      for (const p of inOpt) p.grad = gradOf.get(p) ?? null;
      opt.step();
      for (const p of params) out.set(p, p.data);
    } finally {
      for (const [p, s] of saved) {
        p.data = s.data;
        p.grad = s.grad;
      }
    }
    return out;
  }
  noGrad(() => {
    for (const p of params) {
      const g = gradOf.get(p)!;
      if (typeof step === 'function') {
        const next = (step as StepFn)(p, g, names.get(p)!);
        const data = next instanceof Tensor ? next.data : next;
        if (data.shape.join() !== p.shape.join()) throw new RangeError(`internalCovariateShift: the step of '${names.get(p)}' returned shape [${data.shape.join(', ')}] for a parameter of shape [${p.shape.join(', ')}]`);
        out.set(p, data.astype(p.dtype).to(p.device));
      } else {
        const lr = typeof step === 'number' ? step : step.lr;
        if (!Number.isFinite(lr)) throw new RangeError(`internalCovariateShift: the learning rate must be a finite number, got ${lr}`);
        out.set(p, p.detach().sub(g.mul(lr)).data);
      }
    }
  });
  return out;
}

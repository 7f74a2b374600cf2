import * as nd from '@normlab/tensor';
import { fmtShape, isFloat, isProfiling, ones, recordFunction, shapesEqual } from '@normlab/tensor';
import { isAnomalyEnabled } from './anomaly.js';
import { withGradMode } from './grad-mode.js';
import { Node } from './node.js';
import { Tensor } from './tensor.js';
import { sumToShape } from './ops/views.js';

/** Options of `Tensor.backward` and `backward`. */
export interface BackwardOptions {
  /** Keep the saved tensors so that the graph can be differentiated again (default: createGraph). */
  retainGraph?: boolean;
  /** Record the backward pass itself, for higher-order gradients (default false). */
  createGraph?: boolean;
}

/** Options of `grad`. */
export interface GradOptions extends BackwardOptions {
  /** Gradients of the outputs (required for non-scalar outputs). */
  gradOutputs?: readonly (Tensor | null)[];
  /** Return null for inputs the outputs do not depend on, instead of throwing. */
  allowUnused?: boolean;
}

/** Backward from `roots`: accumulates into `.grad` of the leaves (and of tensors that retain grad). */
export function backward(roots: readonly Tensor[], grads: readonly (Tensor | null)[] | undefined, options: BackwardOptions = {}): void {
  const seeds = seedGrads('backward', roots, grads);
  const createGraph = options.createGraph ?? false;
  const leafGrads = run(roots, seeds, options.retainGraph ?? createGraph, createGraph, null);
  withGradMode(createGraph, () => {
    for (const [leaf, g] of leafGrads) accumulate(leaf, g, createGraph);
  });
}

/**
 * The gradients of `outputs` with respect to `inputs`, returned rather than
 * accumulated into `.grad`. With `createGraph`, the results are themselves
 * differentiable (Hessian-vector products: `grad([dot(grad(f, x), v)], [x])`).
 */
export function grad(outputs: Tensor | readonly Tensor[], inputs: Tensor | readonly Tensor[], options: GradOptions = {}): (Tensor | null)[] {
  const outs = outputs instanceof Tensor ? [outputs] : outputs;
  const ins = inputs instanceof Tensor ? [inputs] : inputs;
  ins.forEach((t, i) => {
    if (!(t instanceof Tensor) || !t.requiresGrad) throw new Error(`grad: input ${i} does not require grad`);
  });
  const seeds = seedGrads('grad', outs, options.gradOutputs);
  const createGraph = options.createGraph ?? false;
  const captured = run(outs, seeds, options.retainGraph ?? createGraph, createGraph, new Set(ins));
  return ins.map((t, i) => {
    const g = captured.get(t);
    if (g) return g;
    if (options.allowUnused) return null;
    throw new Error(`grad: input ${i} (shape ${fmtShape(t.shape)}) was not used to compute the outputs; pass { allowUnused: true } to get null`);
  });
}

function seedGrads(op: string, roots: readonly Tensor[], grads: readonly (Tensor | null)[] | undefined): Tensor[] {
  if (grads && grads.length !== roots.length) throw new RangeError(`${op}: got ${grads.length} gradients for ${roots.length} outputs`);
  return roots.map((r, i) => {
    if (!(r instanceof Tensor)) throw new TypeError(`${op}: output ${i} is not a Tensor`);
    if (!r.requiresGrad) throw new Error(`${op}: output ${i} does not require grad and has no gradFn (was it computed under noGrad, or from tensors without requiresGrad?)`);
    const g = grads?.[i];
    if (g) {
      if (!shapesEqual(g.shape, r.shape)) throw new RangeError(`${op}: gradient ${i} has shape ${fmtShape(g.shape)} but the output has shape ${fmtShape(r.shape)}`);
      return g;
    }
    if (r.size !== 1) throw new Error(`${op}: gradient can be implicitly created only for scalar outputs; output ${i} has shape ${fmtShape(r.shape)}, pass a gradient`);
    return new Tensor(ones(r.shape, { dtype: r.dtype, device: r.device }));
  });
}

/**
 * Runs the graph backwards in topological order (Kahn's algorithm over the
 * number of consumers of each node; no recursion). Returns the summed
 * gradient of every leaf reached, or, when `wanted` is given, of the wanted
 * tensors (leaves or not) only.
 */
function run(
  roots: readonly Tensor[], seeds: readonly Tensor[], retainGraph: boolean, createGraph: boolean, wanted: Set<Tensor> | null,
): Map<Tensor, Tensor> {
  // Count, for every node, how many gradient contributions it will receive.
  const pending = new Map<Node, number>();
  const stack: Node[] = [];
  for (const r of roots) if (r.gradFn && !pending.has(r.gradFn)) {
    pending.set(r.gradFn, 0);
    stack.push(r.gradFn);
  }
  while (stack.length) {
    const node = stack.pop()!;
    for (const next of node.edges) {
      if (!(next instanceof Node)) continue;
      const seen = pending.has(next);
      pending.set(next, (pending.get(next) ?? 0) + 1);
      if (!seen) stack.push(next);
    }
  }
  const wantedByNode = new Map<Node, Tensor>();
  if (wanted) for (const t of wanted) if (t.gradFn) wantedByNode.set(t.gradFn, t);

  const buffers = new Map<Node, Tensor>();
  const leafGrads = new Map<Tensor, Tensor>();
  const addTo = <K>(map: Map<K, Tensor>, key: K, g: Tensor): void => {
    const prev = map.get(key);
    map.set(key, prev ? prev.add(g) : g);
  };
  const ready: Node[] = [];

  return withGradMode(createGraph, () => {
    roots.forEach((r, i) => {
      if (r.gradFn) addTo(buffers, r.gradFn, seeds[i]);
      else addTo(leafGrads, r, seeds[i]);
    });
    for (const [node, n] of pending) if (n === 0) ready.push(node);
    const applyNode = (node: Node, gradOut: Tensor): readonly (Tensor | null)[] => {
      let g = gradOut;
      for (const hook of node.hooks) g = hook(g) ?? g;
      if (node.retainedBy) {
        // Accumulates across backward calls, as for leaves (and as PyTorch's retain_grad).
        const held = node.retainedBy;
        const fresh = createGraph ? g : g.detach();
        held.grad = held.grad ? (createGraph ? held.grad.add(fresh) : new Tensor(held.grad.add(fresh).data)) : fresh;
      }
      const target = wantedByNode.get(node);
      if (target) leafGrads.set(target, g);
      // Profiles show each node's backward as a scope (its kernels nested in it), named apart
      // from the kernels (a 'batchNorm' node's backward runs the 'normalizeBackward' kernel).
      return isProfiling() ? recordFunction(`backward:${node.name}`, () => node.apply(g)) : node.apply(g);
    };

    while (ready.length) {
      const node = ready.pop()!;
      const buffered = buffers.get(node);
      buffers.delete(node);
      // A node that no gradient reached (every path to it was null) still releases its inputs' counts.
      const inputGrads = buffered ? applyNode(node, buffered) : [];
      if (isAnomalyEnabled()) checkFinite(node, inputGrads);
      if (!retainGraph) node.release();
      node.edges.forEach((edge, i) => {
        if (!edge) return;
        const gi = inputGrads[i];
        const next = edge instanceof Node ? edge : null;
        if (gi) {
          const fitted = fitGrad(node, i, gi, node.inputs[i] as Tensor);
          if (next) addTo(buffers, next, fitted);
          else if (!wanted || wanted.has(edge as Tensor)) addTo(leafGrads, edge as Tensor, fitted);
        }
        if (next) {
          const left = pending.get(next)! - 1;
          pending.set(next, left);
          if (left === 0) ready.push(next);
        }
      });
    }
    if (wanted) {
      const out = new Map<Tensor, Tensor>();
      for (const t of wanted) {
        const g = leafGrads.get(t);
        if (g) out.set(t, g);
      }
      return out;
    }
    return leafGrads;
  });
}

/** Inside detectAnomaly: the first gradient with a NaN or an infinite value stops the backward, naming the op and its forward's place. */
function checkFinite(node: Node, grads: readonly (Tensor | null)[]): void {
  grads.forEach((g, i) => {
    // x - x is 0 for every finite x and NaN otherwise: one sum says whether all are finite.
    if (!g || !isFloat(g.dtype) || g.size === 0 || !Number.isNaN(Number(nd.sum(nd.sub(g.data, g.data)).item()))) return;
    const where = node.forwardStack ? `; its forward was called at:\n${node.forwardStack}` : ' (its forward ran outside detectAnomaly, so its place is unknown)';
    throw new Error(`backward: detectAnomaly: the gradient '${node.name}' returned for its input ${i} (shape ${fmtShape(g.shape)}) has NaN or infinite values${where}`);
  });
}

/** Sums a gradient back to its input's shape (after broadcasting) and dtype. */
function fitGrad(node: Node, i: number, g: Tensor, input: Tensor): Tensor {
  let out = g;
  if (!shapesEqual(g.shape, input.shape)) out = sumToShape(g, input.shape, `${node.name} (input ${i})`);
  if (out.dtype !== input.dtype) out = out.astype(input.dtype);
  if (out.device !== input.device) out = out.to(input.device);
  return out;
}

function accumulate(leaf: Tensor, g: Tensor, createGraph: boolean): void {
  let grad = g;
  for (const hook of leaf.hooksOfLeaf) grad = hook(grad) ?? grad;
  if (!createGraph) grad = grad.detach();
  leaf.grad = leaf.grad ? (createGraph ? leaf.grad.add(grad) : new Tensor(leaf.grad.add(grad).data)) : grad;
}

/**
 * Forward-mode differentiation by dual numbers, the machinery under `jvp`
 * and `jacfwd` (func.ts), as torch.autograd.forward_ad. Inside a dual level
 * a tensor may carry a tangent; every op computes its output's tangent from
 * its inputs' with its forward-mode rule (passed to `record`), as the op
 * runs, so one forward pass gives f(x) and J v together.
 *
 * Levels nest (`jvp` of a `jvp`): each keeps its own tangents, and while the
 * rule of one level runs the levels from it inwards are hidden, so the rule's
 * own ops carry only the outer levels' tangents (no perturbation confusion).
 * Tangent ops are ordinary ops: under grad mode they are recorded in the
 * reverse graph too, so reverse over forward works, and backward rules run
 * inside a level carry tangents, so forward over reverse works.
 */
import { shapesEqual } from '@normlab/tensor';
import type { Tensor } from './tensor.js';

/**
 * An op's forward-mode rule: its output's tangent from its inputs' tangents
 * (null for an input with none; at least one is not null), in the output's
 * shape or one that broadcasts to it. `out` is the op's output (its values
 * and its own tangents at outer levels), for rules that reuse it.
 */
export type ForwardFn = (tangents: readonly (Tensor | null)[], out: Tensor) => Tensor;

/** One dual level: the tangents of the tensors made inside it. */
export interface DualLevel {
  readonly tangents: WeakMap<Tensor, Tensor>;
}

const levels: DualLevel[] = [];
/** How many levels (from the outermost) ops propagate now: fewer than `levels.length` while a rule runs. */
let visible = 0;

/** Whether some dual level is open and visible: ops then look for tangents on their inputs. */
export function isForwardADActive(): boolean {
  return visible > 0;
}

/** Runs `fn` with a new innermost dual level, closed when `fn` returns or throws. */
export function withDualLevel<T>(fn: (level: DualLevel) => T): T {
  if (visible !== levels.length) {
    throw new Error('jvp: cannot open a dual level inside a forward-mode rule');
  }
  const level: DualLevel = { tangents: new WeakMap() };
  levels.push(level);
  visible = levels.length;
  try {
    return fn(level);
  } finally {
    levels.pop();
    visible = levels.length;
  }
}

/** The tangent of `t` at `level`, or null. */
export function tangentAt(level: DualLevel, t: Tensor): Tensor | null {
  return level.tangents.get(t) ?? null;
}

/** Attaches `tangent` to `t` at `level` (the caller made `t` fresh for it). */
export function setTangent(level: DualLevel, t: Tensor, tangent: Tensor): void {
  level.tangents.set(t, tangent);
}

/**
 * @internal Gives `to` the tangents `from` carries at the visible levels:
 * for a copy cut from the reverse graph (a transform's own leaf) that is
 * still the same value in forward mode, so that `jvp` over `jacrev` works.
 */
export function shareTangents(from: Tensor, to: Tensor): void {
  for (let k = 0; k < visible; k++) {
    const tangent = levels[k].tangents.get(from);
    if (tangent) levels[k].tangents.set(to, tangent);
  }
}

/**
 * @internal Moves `from`'s tangents to `to` at the visible levels (removing
 * `to`'s own where `from` has none): an in-place op's result becomes the
 * tensor it wrote.
 */
export function moveTangents(from: Tensor, to: Tensor): void {
  for (let k = 0; k < visible; k++) {
    const tangent = levels[k].tangents.get(from);
    if (tangent) levels[k].tangents.set(to, tangent);
    else levels[k].tangents.delete(to);
  }
}

/** @internal The tangents `t` carries at the visible levels (what `tidy` must keep with it). */
export function visibleTangents(t: Tensor): Tensor[] {
  const out: Tensor[] = [];
  for (let k = 0; k < visible; k++) {
    const tangent = levels[k].tangents.get(t);
    if (tangent) out.push(tangent);
  }
  return out;
}

/**
 * @internal Gives `out`, just computed by op `name` from `inputs`, its
 * tangent at every visible level where some input has one, by the op's
 * forward rule; an op without one is an error naming it.
 */
export function propagateTangents(name: string, out: Tensor, inputs: readonly (Tensor | null)[], forward: ForwardFn | undefined): void {
  const upTo = visible;
  for (let k = 0; k < upTo; k++) {
    const level = levels[k];
    let any = false;
    const tangents = inputs.map((x) => {
      const t = x ? level.tangents.get(x) ?? null : null;
      if (t) any = true;
      return t;
    });
    if (!any) continue;
    if (!forward) {
      throw new Error(`jvp: '${name}' has no forward-mode rule; forward-mode derivatives (jvp, jacfwd) cannot pass through it, use vjp or jacrev`);
    }
    visible = k;
    try {
      let tangent = forward(tangents, out);
      if (!shapesEqual(tangent.shape, out.shape)) tangent = tangent.broadcastTo(out.shape);
      level.tangents.set(out, tangent);
    } finally {
      visible = upTo;
    }
  }
}

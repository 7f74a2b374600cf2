/**
 * Function transforms in the spirit of torch.func: `vjp`, `jacrev`,
 * `hessian` and `hvp` by reverse mode, `jvp` and `jacfwd` by forward mode
 * (forward-ad.ts). Each takes a function of tensors and returns derivatives
 * as tensors, without touching any `.grad`. They compose (a Hessian is
 * `jacrev` of a `jacrev` or `jacfwd` of one, every product is built with
 * `createGraph` so it can be differentiated again, `jvp` of a gradient is a
 * Hessian-vector product) and work with `functionalCall` of @normlab/nn for
 * a model's parameters, and with `vmap` (vmap.ts).
 */
import { fromTyped, shapesEqual, zeros } from '@normlab/tensor';
import { grad } from './engine.js';
import { type DualLevel, setTangent, shareTangents, tangentAt, withDualLevel } from './forward-ad.js';
import { record } from './function.js';
import { enableGrad } from './grad-mode.js';
import { noteGraphView } from './ops/in-place.js';
import { stack } from './ops/join.js';
import { Tensor } from './tensor.js';

/**
 * Fresh leaves requiring grad with the primals' values, so that each
 * transform differentiates its own copy; inside `jvp` they keep the primals'
 * tangents (the same values in forward mode).
 */
function leaves(op: string, primals: readonly Tensor[]): Tensor[] {
  if (primals.length === 0) throw new RangeError(`${op}: expected at least one input tensor`);
  return primals.map((p, i) => {
    if (!(p instanceof Tensor)) throw new TypeError(`${op}: input ${i} is not a Tensor`);
    const leaf = p.detach().requiresGrad_();
    shareTangents(p, leaf);
    return leaf;
  });
}

function output(op: string, y: unknown): Tensor {
  if (!(y instanceof Tensor)) throw new TypeError(`${op}: the function must return one Tensor, got ${y === null ? 'null' : typeof y}`);
  return y;
}

/** d(output)/d(input) as a tensor: zeros where the output does not depend on the input (torch.func's convention). */
function orZeros(g: Tensor | null, like: Tensor): Tensor {
  return g ?? new Tensor(zeros(like.shape, { dtype: like.dtype, device: like.device }));
}

/**
 * f(...primals) and its vector-Jacobian product function, as
 * torch.func.vjp: `vjpFn(v)` returns, for each primal, v^T d f / d primal
 * (v of the output's shape), differentiable again. The primals are not
 * modified and their `.grad` is not written.
 *
 * @example
 * const [y, vjpFn] = vjp((x) => x.sin(), x);
 * const [gx] = vjpFn(ones(y.shape)); // cos(x)
 */
export function vjp(f: (...xs: Tensor[]) => Tensor, ...primals: Tensor[]): [Tensor, (v: Tensor) => Tensor[]] {
  const xs = leaves('vjp', primals);
  const y = output('vjp', enableGrad(() => f(...xs)));
  const vjpFn = (v: Tensor): Tensor[] => {
    if (!(v instanceof Tensor) || v.shape.join() !== y.shape.join()) {
      throw new RangeError(`vjp: the cotangent must have the output's shape [${y.shape.join(',')}], got ${v instanceof Tensor ? `[${v.shape.join(',')}]` : typeof v}`);
    }
    if (!y.requiresGrad) return xs.map((x) => orZeros(null, x));
    return grad([y], xs, { gradOutputs: [v], createGraph: true, retainGraph: true, allowUnused: true }).map((g, i) => orZeros(g, xs[i]));
  };
  return [y, vjpFn];
}

/**
 * The Jacobian of f with respect to its argument `argnum` (0), by reverse
 * mode, as torch.func.jacrev: a function of the same arguments returning
 * d f / d x of shape [...output shape, ...input shape], one backward per
 * output element. Differentiable again (so `jacrev(jacrev(f))` is a Hessian).
 */
export function jacrev(f: (...xs: Tensor[]) => Tensor, argnum = 0): (...xs: Tensor[]) => Tensor {
  return (...primals: Tensor[]) => {
    if (!(Number.isInteger(argnum) && argnum >= 0 && argnum < primals.length)) {
      throw new RangeError(`jacrev: argnum ${argnum} out of range for ${primals.length} input(s)`);
    }
    const xs = leaves('jacrev', primals);
    const x = xs[argnum];
    const y = output('jacrev', enableGrad(() => f(...xs)));
    const rows: Tensor[] = [];
    for (let k = 0; k < y.size; k++) {
      const e = new Float64Array(y.size);
      e[k] = 1;
      const onehot = new Tensor(fromTyped(e, y.shape).astype(y.dtype).to(y.device));
      const [g] = y.requiresGrad
        ? grad([y], [x], { gradOutputs: [onehot], createGraph: true, retainGraph: true, allowUnused: true })
        : [null];
      rows.push(orZeros(g, x));
    }
    const jac = rows.length > 0 ? stack(rows, 0) : new Tensor(zeros([0, ...x.shape], { dtype: x.dtype, device: x.device }));
    return jac.reshape([...y.shape, ...x.shape]);
  };
}

/** The Hessian of a scalar function f at its argument `argnum`: jacrev of its gradient, [...x.shape, ...x.shape] (torch.func.hessian). */
export function hessian(f: (...xs: Tensor[]) => Tensor, argnum = 0): (...xs: Tensor[]) => Tensor {
  const gradient = (...xs: Tensor[]): Tensor => {
    const y = f(...xs);
    if (y.size !== 1) throw new RangeError(`hessian: the function must return a single value, got shape [${y.shape.join(',')}]`);
    const [g] = grad([y], [xs[argnum]], { createGraph: true, allowUnused: true });
    return orZeros(g, xs[argnum]);
  };
  return jacrev(gradient, argnum);
}

/**
 * f(...primals) and the Hessian-vector products H v of the scalar f, one
 * per primal (tangents of the primals' shapes), by double backward, as
 * torch.func.hvp: [f, [Hv for each primal]] with H the full Hessian over
 * all primals.
 */
export function hvp(f: (...xs: Tensor[]) => Tensor, primals: readonly Tensor[], tangents: readonly Tensor[]): [Tensor, Tensor[]] {
  const xs = leaves('hvp', primals);
  if (tangents.length !== xs.length) throw new RangeError(`hvp: ${tangents.length} tangents for ${xs.length} primals`);
  tangents.forEach((t, i) => {
    if (!(t instanceof Tensor) || t.shape.join() !== xs[i].shape.join()) {
      throw new RangeError(`hvp: tangent ${i} must have primal ${i}'s shape [${xs[i].shape.join(',')}]`);
    }
  });
  const y = output('hvp', enableGrad(() => f(...xs)));
  if (y.size !== 1) throw new RangeError(`hvp: the function must return a single value, got shape [${y.shape.join(',')}]`);
  if (!y.requiresGrad) return [y, xs.map((x) => orZeros(null, x))];
  const gs = enableGrad(() => grad([y], xs, { createGraph: true, allowUnused: true }).map((g, i) => orZeros(g, xs[i])));
  const dot = enableGrad(() => gs.map((g, i) => g.mul(tangents[i]).sum()).reduce((a, b) => a.add(b)));
  if (!dot.requiresGrad) return [y, xs.map((x) => orZeros(null, x))];
  const hv = grad([dot], xs, { createGraph: true, allowUnused: true }).map((g, i) => orZeros(g, xs[i]));
  return [y, hv];
}

/**
 * A fresh tensor with `primal`'s values (in the graph of `primal`, so
 * reverse mode differentiates through it) carrying `tangent` at `level`.
 */
function makeDual(op: string, level: DualLevel, primal: Tensor, tangent: Tensor, i: number): Tensor {
  if (!(primal instanceof Tensor)) throw new TypeError(`${op}: primal ${i} is not a Tensor`);
  if (!(tangent instanceof Tensor)) throw new TypeError(`${op}: tangent ${i} is not a Tensor`);
  if (!shapesEqual(primal.shape, tangent.shape) || primal.dtype !== tangent.dtype || primal.device !== tangent.device) {
    throw new RangeError(`${op}: tangent ${i} must match primal ${i} (shape [${primal.shape.join(',')}], ${primal.dtype}, ${primal.device}), `
      + `got [${tangent.shape.join(',')}], ${tangent.dtype}, ${tangent.device}`);
  }
  if (primal.dtype !== 'float32' && primal.dtype !== 'float64') throw new TypeError(`${op}: primal ${i} must be floating point, got ${primal.dtype}`);
  // It shares primal's storage: a view, for the in-place ops' check.
  const dual = record('makeDual', primal.data, [primal], (g) => [g], ([t]) => t as Tensor);
  noteGraphView(primal, dual);
  setTangent(level, dual, tangent);
  return dual;
}

/** The output's tangent at `level`: zeros where it does not depend on the primals. */
function outputTangent(level: DualLevel, y: Tensor): Tensor {
  return tangentAt(level, y) ?? orZeros(null, y);
}

/**
 * f(...primals) and its Jacobian-vector product J v in one forward pass, by
 * forward mode, as torch.func.jvp: `tangents` holds one v per primal (same
 * shape, dtype and device); the result is [f(primals), sum_i J_i v_i].
 * Every op carries the tangents with its forward-mode rule; an op without
 * one is an error naming it. Differentiable again by either mode.
 *
 * @example
 * const [y, dy] = jvp((x) => x.sin(), [x], [v]); // dy = cos(x) * v
 */
export function jvp(f: (...xs: Tensor[]) => Tensor, primals: readonly Tensor[], tangents: readonly Tensor[]): [Tensor, Tensor] {
  if (!Array.isArray(primals) || !Array.isArray(tangents)) throw new TypeError('jvp: primals and tangents must be arrays of Tensors, as jvp(f, [x], [v])');
  if (primals.length === 0) throw new RangeError('jvp: expected at least one primal');
  if (tangents.length !== primals.length) throw new RangeError(`jvp: ${tangents.length} tangents for ${primals.length} primals`);
  return withDualLevel((level) => {
    const xs = primals.map((p, i) => makeDual('jvp', level, p, tangents[i], i));
    const y = output('jvp', f(...xs));
    return [y, outputTangent(level, y)];
  });
}

/**
 * The Jacobian of f with respect to its argument `argnum` (0), by forward
 * mode, as torch.func.jacfwd: a function of the same arguments returning
 * d f / d x of shape [...output shape, ...input shape], one forward pass per
 * input element (cheaper than `jacrev` when the input is the smaller side).
 */
export function jacfwd(f: (...xs: Tensor[]) => Tensor, argnum = 0): (...xs: Tensor[]) => Tensor {
  return (...primals: Tensor[]) => {
    if (!(Number.isInteger(argnum) && argnum >= 0 && argnum < primals.length)) {
      throw new RangeError(`jacfwd: argnum ${argnum} out of range for ${primals.length} input(s)`);
    }
    const x = primals[argnum];
    if (!(x instanceof Tensor)) throw new TypeError(`jacfwd: input ${argnum} is not a Tensor`);
    const withX = (xi: Tensor): Tensor => f(...primals.map((p, i) => (i === argnum ? xi : p)));
    if (x.size === 0) {
      const y = output('jacfwd', withX(x));
      return new Tensor(zeros([...y.shape, ...x.shape], { dtype: y.dtype, device: y.device }));
    }
    const columns: Tensor[] = [];
    let outShape: readonly number[] = [];
    for (let j = 0; j < x.size; j++) {
      const e = new Float64Array(x.size);
      e[j] = 1;
      const onehot = new Tensor(fromTyped(e, x.shape).astype(x.dtype).to(x.device));
      const [y, column] = jvp(withX, [x], [onehot]);
      outShape = y.shape;
      columns.push(column);
    }
    return stack(columns, outShape.length).reshape([...outShape, ...x.shape]);
  };
}

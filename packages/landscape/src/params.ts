import { Tensor, noGrad } from '@normlab/autograd';
import { type Module, Parameter } from '@normlab/nn';
import * as nd from '@normlab/tensor';

/**
 * The parameters of `model` in `namedParameters()` order (dotted names,
 * shared parameters once): the order every function of this package uses
 * to lay parameters out in one flat vector.
 */
export function namedParams(model: Module, options: { trainableOnly?: boolean } = {}): [string, Parameter][] {
  const all = [...model.namedParameters()];
  return options.trainableOnly ? all.filter(([, p]) => p.requiresGrad) : all;
}

function flatOf(arrays: readonly nd.NDArray[], like: nd.NDArray | undefined): Tensor {
  const dtype = like?.dtype ?? 'float32';
  const device = like?.device ?? 'cpu';
  if (arrays.length === 0) return new Tensor(nd.zeros([0], { dtype, device }));
  return new Tensor(nd.cat(arrays.map((a) => a.astype(dtype).to(device).reshape([a.size])), 0));
}

/**
 * Every parameter of `model` (`namedParameters()` order), flattened row-major
 * and concatenated into one 1-D tensor, detached from the graph, in the
 * first parameter's dtype and on its device. The parameters are not changed.
 */
export function flattenParams(model: Module): Tensor {
  const ps = model.parameters();
  return flatOf(ps.map((p) => p.data), ps[0]?.data);
}

/**
 * The gradients of `model`'s parameters laid out as `flattenParams` lays out
 * the parameters (a parameter whose `.grad` is null contributes zeros).
 */
export function flattenGrads(model: Module): Tensor {
  const ps = model.parameters();
  return flatOf(ps.map((p) => p.grad?.data ?? nd.zeros(p.shape, { dtype: p.dtype, device: p.device })), ps[0]?.data);
}

/**
 * Writes a flat vector (as `flattenParams` returns) back into the parameters
 * of `model`: each parameter gets new values (its slice, reshaped, cast to
 * its dtype and moved to its device); `.grad` and the graph are untouched.
 * Throws when the length differs from the number of parameter elements.
 */
export function unflattenParams(model: Module, flat: Tensor | nd.NDArray): void {
  const data = flat instanceof Tensor ? flat.data : flat;
  const ps = model.parameters();
  const total = ps.reduce((s, p) => s + p.size, 0);
  if (data.ndim !== 1 || data.size !== total) {
    throw new RangeError(`unflattenParams: expected a 1-D vector of ${total} values (the model's parameter count), got shape ${nd.fmtShape(data.shape)}`);
  }
  let offset = 0;
  noGrad(() => {
    for (const p of ps) {
      p.data = data.slice(0, offset, offset + p.size).reshape(p.shape).astype(p.dtype).to(p.device).clone();
      offset += p.size;
    }
  });
}

/** What `snapshot` keeps: copies of every parameter's values and gradient (null kept as null), and of every buffer. */
export interface Snapshot {
  readonly params: ReadonlyMap<string, { readonly data: nd.NDArray; readonly grad: nd.NDArray | null; readonly requiresGrad: boolean }>;
  readonly buffers: ReadonlyMap<string, nd.NDArray>;
}

/**
 * Copies the parameters (values, `.grad` including null, requiresGrad) and
 * buffers (running statistics, `numBatchesTracked`, ...) of `model`, by
 * dotted name. The copies share no storage with the model, so later in-place
 * changes cannot reach them; `restore` writes them back.
 */
export function snapshot(model: Module): Snapshot {
  const params = new Map<string, { data: nd.NDArray; grad: nd.NDArray | null; requiresGrad: boolean }>();
  for (const [name, p] of model.namedParameters()) {
    params.set(name, { data: p.data.clone(), grad: p.grad ? p.grad.data.clone() : null, requiresGrad: p.requiresGrad });
  }
  const buffers = new Map<string, nd.NDArray>();
  for (const [name, b] of model.namedBuffers()) buffers.set(name, b.data.clone());
  return { params, buffers };
}

/**
 * Writes a `snapshot` back into `model` (the same model, or one with the same
 * parameter and buffer names and shapes): values and gradients (a gradient
 * that was null becomes null again) of every parameter, and every buffer.
 * Each restore writes fresh copies, so one snapshot can be restored often.
 */
export function restore(model: Module, snap: Snapshot): void {
  const params = new Map(model.namedParameters());
  const buffers = ownedBuffers(model);
  for (const name of snap.params.keys()) if (!params.has(name)) throw new Error(`restore: the model has no parameter '${name}'`);
  for (const name of params.keys()) if (!snap.params.has(name)) throw new Error(`restore: the snapshot has no parameter '${name}'`);
  for (const name of snap.buffers.keys()) if (!buffers.has(name)) throw new Error(`restore: the model has no buffer '${name}'`);
  for (const [name, s] of snap.params) {
    const p = params.get(name)!;
    if (!nd.shapesEqual(p.shape, s.data.shape)) throw new RangeError(`restore: '${name}' has shape ${nd.fmtShape(s.data.shape)} in the snapshot but ${nd.fmtShape(p.shape)} in the model`);
  }
  noGrad(() => {
    for (const [name, s] of snap.params) {
      const p = params.get(name)!;
      p.data = s.data.clone();
      p.grad = s.grad ? new Tensor(s.grad.clone()) : null;
      if (p.requiresGrad !== s.requiresGrad) p.requiresGrad = s.requiresGrad;
    }
    for (const [name, data] of snap.buffers) {
      const { module, key } = buffers.get(name)!;
      Reflect.set(module, key, new Tensor(data.clone()));
    }
  });
}

/** Every buffer of `model` by dotted name, with the module and field that hold it. */
function ownedBuffers(model: Module): Map<string, { module: Module; key: string }> {
  const modules = new Map(model.namedModules());
  const out = new Map<string, { module: Module; key: string }>();
  for (const [name] of model.namedBuffers()) {
    const dot = name.lastIndexOf('.');
    const module = modules.get(dot < 0 ? '' : name.slice(0, dot))!;
    out.set(name, { module, key: dot < 0 ? name : name.slice(dot + 1) });
  }
  return out;
}


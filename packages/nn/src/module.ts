import { Tensor, noGrad } from '@normlab/autograd';
import { type DType, type Device, type NDArray, TIDY_CHILDREN, fmtShape, isFloat, noteHolderWrite, shapesEqual, zeros } from '@normlab/tensor';
import { Parameter } from './parameter.js';
import { pytorchKey } from './serialization/pytorch-names.js';

/** What `stateDict()` returns: parameters and persistent buffers by dotted name. */
export type StateDict = Map<string, Tensor>;

/** Options of `stateDict()`. */
export interface StateDictOptions {
  /** 'normlab' (default): the fields' own names (`runningMean`); 'pytorch': PyTorch's (`running_mean`). */
  naming?: 'normlab' | 'pytorch';
}

/**
 * Called after a module's forward with its inputs and output. As in PyTorch,
 * a hook that returns a value (anything but undefined) replaces the output.
 */
export type ForwardHook = (module: Module, inputs: readonly unknown[], output: unknown) => unknown;

/**
 * Base class of every layer, as torch.nn.Module. Submodules and parameters
 * are found by looking at the object's own fields (`Module` and `Parameter`
 * values, in the order they were assigned); buffers, the state that is not
 * trained, such as BatchNorm's running statistics, are declared with
 * `registerBuffer`. `stateDict()` holds both.
 *
 * Subclasses implement `forward`; calling it runs the registered forward
 * hooks. Define `forward` as a method (not an arrow-function field).
 */
export abstract class Module {
  /** True in training mode (the default); `eval()` sets it to false. */
  training = true;
  private readonly bufferNames = new Map<string, { persistent: boolean }>();
  private readonly forwardHooks: ForwardHook[] = [];

  constructor() {
    // Wrap the subclass's forward so that hooks see every call.
    const inner = this.forward;
    Object.defineProperty(this, 'forward', {
      enumerable: false,
      value: (...args: unknown[]): unknown => {
        let out = (inner as (...a: unknown[]) => unknown).apply(this, args);
        for (const hook of [...this.forwardHooks]) {
          const replaced = hook(this, args, out);
          if (replaced !== undefined) out = replaced;
        }
        return out;
      },
    });
  }

  abstract forward(...inputs: never[]): unknown;

  // ---- structure -------------------------------------------------------------

  /**
   * Every submodule field, in order, a module held twice included (what
   * containers iterate over and `stateDict` saves, as torch's `_modules`).
   */
  protected *submoduleEntries(): Generator<[string, Module]> {
    for (const [k, v] of Object.entries(this)) if (v instanceof Module) yield [k, v];
  }

  /** Direct submodules by field name; a module held twice is listed once (as torch). */
  *namedChildren(): Generator<[string, Module]> {
    const seen = new Set<Module>();
    for (const [k, m] of this.submoduleEntries()) {
      if (seen.has(m)) continue;
      seen.add(m);
      yield [k, m];
    }
  }

  children(): Module[] {
    return [...this.namedChildren()].map(([, m]) => m);
  }

  /**
   * This module and all below it, depth first, with dotted names ('' for
   * this one); a module reached twice is listed once, under its first name.
   */
  *namedModules(prefix = '', memo: Set<Module> = new Set()): Generator<[string, Module]> {
    if (memo.has(this)) return;
    memo.add(this);
    yield [prefix, this];
    for (const [k, m] of this.submoduleEntries()) yield* m.namedModules(prefix ? `${prefix}.${k}` : k, memo);
  }

  /** Every (prefix, module) pair, a shared module under each of its names (for stateDict). */
  private *allNamedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [k, m] of this.submoduleEntries()) yield* m.allNamedModules(prefix ? `${prefix}.${k}` : k);
  }

  modules(): Module[] {
    return [...this.namedModules()].map(([, m]) => m);
  }

  /** Parameters of this module and its submodules, with dotted names. */
  *namedParameters(): Generator<[string, Parameter]> {
    const seen = new Set<Parameter>();
    for (const [prefix, m] of this.namedModules()) {
      for (const [k, v] of Object.entries(m)) {
        if (v instanceof Parameter && !seen.has(v)) {
          seen.add(v);
          yield [prefix ? `${prefix}.${k}` : k, v];
        }
      }
    }
  }

  parameters(): Parameter[] {
    return [...this.namedParameters()].map(([, p]) => p);
  }

  /**
   * Declares field `name` a buffer: state saved in `stateDict` (when
   * persistent) and moved by `to()`, but not trained. `value` may be null.
   */
  registerBuffer(name: string, value: Tensor | null, options: { persistent?: boolean } = {}): void {
    if (value !== null && !(value instanceof Tensor)) throw new TypeError(`registerBuffer: '${name}' must be a Tensor or null`);
    if (value instanceof Parameter) throw new TypeError(`registerBuffer: '${name}' is a Parameter; buffers hold state that is not trained`);
    this.bufferNames.set(name, { persistent: options.persistent ?? true });
    this.setField(name, value);
  }

  /** Buffers of this module and its submodules, with dotted names (null buffers skipped, shared ones once). */
  *namedBuffers(): Generator<[string, Tensor]> {
    const seen = new Set<Tensor>();
    for (const [prefix, m] of this.namedModules()) {
      for (const name of m.bufferNames.keys()) {
        const v = m.getField(name);
        if (v instanceof Tensor && !seen.has(v)) {
          seen.add(v);
          yield [prefix ? `${prefix}.${name}` : name, v];
        }
      }
    }
  }

  buffers(): Tensor[] {
    return [...this.namedBuffers()].map(([, b]) => b);
  }

  private getField(name: string): unknown {
    return Reflect.get(this, name);
  }

  private setField(name: string, value: unknown): void {
    const old = Reflect.get(this, name);
    Reflect.set(this, name, value);
    // Inside tidy the module now holds the new buffer past the scope; the old one may be freed.
    const oldStorage = old instanceof Tensor ? old.data.storage : null;
    noteHolderWrite(this, null, value instanceof Tensor && value.data.storage === oldStorage ? null : oldStorage);
  }

  /** @internal What `tidy` visits: the parameters and buffers of this module and those below. */
  [TIDY_CHILDREN](): unknown[] {
    return [...this.parameters(), ...this.buffers()];
  }

  // ---- modes -----------------------------------------------------------------

  /** Sets training mode on this module and every submodule. */
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  /** Evaluation mode: `train(false)`. */
  eval(): this {
    return this.train(false);
  }

  /** Sets every parameter's gradient to null (`setToNone`, PyTorch's default) or to zeros. */
  zeroGrad(options: { setToNone?: boolean } = {}): void {
    for (const p of this.parameters()) {
      if (options.setToNone ?? true) p.grad = null;
      // Fresh zeros (not grad * 0, which keeps NaN and Inf), as torch's grad.zero_().
      else if (p.grad) p.grad = new Tensor(zeros(p.grad.shape, { dtype: p.grad.dtype, device: p.grad.device }));
    }
  }

  /** Calls `fn` on every module, children first, then this one (as torch's apply). */
  apply(fn: (m: Module) => void): this {
    for (const c of this.children()) c.apply(fn);
    fn(this);
    return this;
  }

  /**
   * Moves and/or casts parameters and buffers in place, as torch's
   * `Module.to`: `to('gpu')`, `to({ dtype: 'float64' })`, or both in one
   * options object. A dtype must be floating point and applies to the
   * parameters, their gradients and the floating buffers (running
   * statistics); integer buffers such as `numBatchesTracked` keep their type.
   * Parameters keep their identity (an optimizer holding them still does),
   * but an optimizer's own state is not converted.
   */
  to(target: Device | { device?: Device; dtype?: DType }): this {
    const { device, dtype } = typeof target === 'string' ? { device: target, dtype: undefined } : target ?? {};
    if (dtype !== undefined && !isFloat(dtype)) {
      throw new TypeError(`${this.constructor.name}.to: dtype must be a floating point type (float32 or float64), got ${dtype}`);
    }
    const convert = (a: NDArray, floating: boolean): NDArray => {
      const cast = dtype !== undefined && floating && a.dtype !== dtype ? a.astype(dtype) : a;
      return device !== undefined ? cast.to(device) : cast;
    };
    noGrad(() => {
      for (const [, m] of this.namedModules()) {
        for (const [, v] of Object.entries(m)) if (v instanceof Parameter) v.data = convert(v.data, true);
        for (const name of m.bufferNames.keys()) {
          const b = m.getField(name);
          if (b instanceof Tensor) m.setField(name, new Tensor(convert(b.data, isFloat(b.dtype))));
        }
      }
    });
    for (const p of this.parameters()) if (p.grad) p.grad = new Tensor(convert(p.grad.data, true));
    return this;
  }

  /** Casts the parameters and floating buffers to float64 (torch's `double()`). */
  double(): this {
    return this.to({ dtype: 'float64' });
  }

  /** Casts the parameters and floating buffers to float32 (torch's `float()`). */
  float(): this {
    return this.to({ dtype: 'float32' });
  }

  /** Registers `hook(module, inputs, output)`, run after every forward; returns a remover. */
  registerForwardHook(hook: ForwardHook): { remove(): void } {
    this.forwardHooks.push(hook);
    return {
      remove: () => {
        const i = this.forwardHooks.indexOf(hook);
        if (i >= 0) this.forwardHooks.splice(i, 1);
      },
    };
  }

  // ---- state -----------------------------------------------------------------

  /**
   * Parameters and persistent buffers by dotted name, detached (sharing
   * storage). `naming: 'pytorch'` gives the keys PyTorch's twin of the model
   * has (`1.running_mean`, `1.num_batches_tracked`, weight norm's
   * `weight_g`: each camelCase field in snake_case, see docs/checkpoints.md).
   */
  stateDict(options: StateDictOptions = {}): StateDict {
    const naming = options.naming ?? 'normlab';
    if (naming !== 'normlab' && naming !== 'pytorch') throw new RangeError(`stateDict: naming must be 'normlab' or 'pytorch', got '${String(naming)}'`);
    const out: StateDict = new Map();
    const from = new Map<string, string>();
    const put = (key: string, t: Tensor): void => {
      const name = naming === 'pytorch' ? pytorchKey(key) : key;
      const earlier = from.get(name);
      if (earlier !== undefined) throw new Error(`stateDict: '${earlier}' and '${key}' both have the PyTorch name '${name}'; rename one of the fields`);
      from.set(name, key);
      out.set(name, t);
    };
    for (const [prefix, m] of this.allNamedModules()) {
      const name = (k: string): string => (prefix ? `${prefix}.${k}` : k);
      for (const [k, v] of Object.entries(m)) if (v instanceof Parameter) put(name(k), v.detach());
      for (const [k, { persistent }] of m.bufferNames) {
        const b = m.getField(k);
        if (persistent && b instanceof Tensor) put(name(k), b.detach());
      }
    }
    return out;
  }

  /**
   * Copies values from `state` into the parameters and buffers of the same
   * names, given as `stateDict()` names them or as PyTorch does
   * (`running_mean`, `num_batches_tracked`; the two may mix). With `strict`
   * (default) missing or unexpected keys throw; shapes must always match,
   * and floating values go to floating tensors only (float32 and float64
   * convert; an int64 `num_batches_tracked` read from a file is int32
   * already). Every entry is checked first: on any problem nothing is
   * loaded, and the error lists all of them.
   */
  loadStateDict(state: StateDict | Record<string, Tensor>, options: { strict?: boolean } = {}): { missingKeys: string[]; unexpectedKeys: string[] } {
    const given = state instanceof Map ? state : new Map(Object.entries(state));
    const own = this.stateDict();
    const byPytorchName = new Map([...own.keys()].map((k) => [pytorchKey(k), k]));
    // Each given key resolved to the module's own name: as is, or through its PyTorch name.
    const entries = new Map<string, { given: string; value: Tensor }>();
    const unexpectedKeys: string[] = [];
    const problems: string[] = [];
    for (const [key, value] of given) {
      const target = own.has(key) ? key : byPytorchName.get(key);
      if (target === undefined) {
        unexpectedKeys.push(key);
        continue;
      }
      const earlier = entries.get(target);
      if (earlier) problems.push(`'${earlier.given}' and '${key}' both name '${target}'`);
      entries.set(target, { given: key, value });
    }
    const missingKeys = [...own.keys()].filter((k) => !entries.has(k));
    if ((options.strict ?? true) && (missingKeys.length || unexpectedKeys.length)) {
      throw new Error(`loadStateDict: missing keys [${missingKeys.join(', ')}], unexpected keys [${unexpectedKeys.join(', ')}]`);
    }
    // Every entry is checked before anything is copied, so that a bad state loads nothing and names every problem.
    for (const [key, { given: name, value }] of entries) {
      const target = own.get(key)!;
      if (!(value instanceof Tensor)) problems.push(`'${name}' is not a Tensor`);
      else if (!shapesEqual(target.shape, value.shape)) problems.push(`'${name}' has shape ${fmtShape(value.shape)} in the state but ${fmtShape(target.shape)} in the module`);
      // float32 and float64 convert into each other (as PyTorch's copy_); a floating value for an integer buffer, or back, does not.
      else if (isFloat(value.dtype) !== isFloat(target.dtype)) problems.push(`'${name}' is ${value.dtype} in the state but ${target.dtype} in the module`);
    }
    if (problems.length > 0) throw new RangeError(`loadStateDict: nothing was loaded: ${problems.join('; ')}`);
    for (const [key, { value }] of entries) {
      const target = own.get(key)!;
      this.assign(key, value.data.astype(target.dtype).to(target.device).clone());
    }
    return { missingKeys, unexpectedKeys };
  }

  private assign(dotted: string, data: NDArray): void {
    const parts = dotted.split('.');
    const leaf = parts.pop()!;
    let m: Module = this;
    for (const p of parts) m = m.getField(p) as Module;
    const current = m.getField(leaf);
    if (current instanceof Parameter) current.data = data;
    else m.setField(leaf, new Tensor(data));
  }

  // ---- printing --------------------------------------------------------------

  /** One line of this module's own settings, e.g. `in_features=4, out_features=2`. */
  extraRepr(): string {
    return '';
  }

  /** The module tree, printed like PyTorch's repr. */
  toString(): string {
    const extra = this.extraRepr();
    const extraLines = extra ? extra.split('\n') : [];
    // Every field, a shared module under each name, as torch's __repr__.
    const childLines = [...this.submoduleEntries()].map(([k, m]) => `(${k}): ${m.toString().split('\n').join('\n  ')}`);
    const lines = [...extraLines, ...childLines];
    const name = this.constructor.name;
    if (lines.length === 0) return `${name}()`;
    // A single line of settings and no children stays on one line.
    if (extraLines.length === 1 && childLines.length === 0) return `${name}(${extraLines[0]})`;
    return `${name}(\n  ${lines.join('\n  ')}\n)`;
  }
}

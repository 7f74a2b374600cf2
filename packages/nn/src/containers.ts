import type { Tensor } from '@normlab/autograd';
import { Module } from './module.js';

/** Shared by the ordered containers: their modules as a list, by position. */
abstract class OrderedModules extends Module {
  /** Every module in order, one held twice included (as torch's `_modules.values()`). */
  protected list(): Module[] {
    return [...this.submoduleEntries()].map(([, m]) => m);
  }

  get length(): number {
    return this.list().length;
  }

  /** The i-th module (negative counts from the end). */
  at(i: number): Module {
    const list = this.list();
    const m = list[i < 0 ? i + list.length : i];
    if (!m) throw new RangeError(`${this.constructor.name}: index ${i} out of range for ${list.length} modules`);
    return m;
  }
}

/** Applies its modules in order: `new Sequential(new Linear(4, 8), new ReLU(), new Linear(8, 1))`. */
export class Sequential extends OrderedModules {
  // Names in insertion order: JS lists integer-like keys ('1') before others ('fc').
  private readonly order: string[] = [];

  constructor(...modules: Module[]) {
    super();
    modules.forEach((m, i) => this.add(m, String(i)));
  }

  /** Appends a module under `name` (its index by default). */
  add(module: Module, name = String(this.length)): this {
    if (!(module instanceof Module)) throw new TypeError(`Sequential: item ${name} is not a Module`);
    if (!this.order.includes(name)) this.order.push(name);
    Reflect.set(this, name, module);
    return this;
  }

  protected override *submoduleEntries(): Generator<[string, Module]> {
    for (const name of this.order) {
      const m: unknown = Reflect.get(this, name);
      if (m instanceof Module) yield [name, m];
    }
  }

  forward(x: Tensor): Tensor {
    let out = x;
    for (const m of this.list()) out = (m.forward as (t: Tensor) => Tensor)(out);
    return out;
  }
}

/** Holds submodules in a list, registered so that their parameters are found. */
export class ModuleList extends OrderedModules {
  constructor(modules: Iterable<Module> = []) {
    super();
    for (const m of modules) this.push(m);
  }

  push(module: Module): this {
    if (!(module instanceof Module)) throw new TypeError(`ModuleList: item ${this.length} is not a Module`);
    Reflect.set(this, String(this.length), module);
    return this;
  }

  [Symbol.iterator](): Iterator<Module> {
    return this.list()[Symbol.iterator]();
  }

  forward(): never {
    throw new Error('ModuleList: it has no forward; iterate over its modules');
  }
}

/**
 * Holds submodules by name (torch.nn.ModuleDict), in insertion order, so that
 * their parameters are registered under `name.param`. Map-like: `get`, `set`,
 * `has`, `delete`, `keys`, `values`, `entries`; iterating yields
 * [name, module] pairs (as a Map; `keys()` gives torch's iteration order).
 * Names must be non-empty, contain no '.', and not shadow a property of the
 * dict itself (such as 'get' or 'training'), as torch's add_module.
 *
 * @example
 * const heads = new ModuleDict({ cls: new Linear(16, 10), box: new Linear(16, 4) });
 * heads.get('cls')!.forward(features);
 */
export class ModuleDict extends Module {
  // Names in insertion order: JS lists integer-like keys ('1') before others ('fc').
  private readonly order: string[] = [];

  constructor(modules: Iterable<readonly [string, Module]> | Record<string, Module> = {}) {
    super();
    this.update(modules);
  }

  get length(): number {
    return this.order.length;
  }

  /** The module under `name`, undefined if there is none. */
  get(name: string): Module | undefined {
    if (!this.order.includes(name)) return undefined;
    const m: unknown = Reflect.get(this, name);
    return m instanceof Module ? m : undefined;
  }

  /** Adds or replaces (keeping its position) the module under `name`. */
  set(name: string, module: Module): this {
    if (typeof name !== 'string' || name === '') throw new TypeError(`ModuleDict: a name must be a non-empty string, got ${JSON.stringify(name)}`);
    if (name.includes('.')) throw new RangeError(`ModuleDict: name '${name}' must not contain '.'`);
    if (!(module instanceof Module)) throw new TypeError(`ModuleDict: item '${name}' is not a Module`);
    if (!this.order.includes(name)) {
      // Stored as a field (parameter paths and loadStateDict resolve names as fields), so it must not shadow one.
      if (name in this) throw new RangeError(`ModuleDict: name '${name}' is already an attribute of the dict`);
      this.order.push(name);
    }
    Reflect.set(this, name, module);
    return this;
  }

  has(name: string): boolean {
    return this.order.includes(name);
  }

  /** Removes `name`; true if it was there. */
  delete(name: string): boolean {
    const i = this.order.indexOf(name);
    if (i < 0) return false;
    this.order.splice(i, 1);
    Reflect.deleteProperty(this, name);
    return true;
  }

  /** Removes `name` and returns its module (throws if absent, as torch's pop). */
  pop(name: string): Module {
    const m = this.get(name);
    if (!m) throw new RangeError(`ModuleDict: no module named '${name}'`);
    this.delete(name);
    return m;
  }

  clear(): void {
    for (const name of [...this.order]) this.delete(name);
  }

  /** Sets every [name, module] of `modules`, in its order. */
  update(modules: Iterable<readonly [string, Module]> | Record<string, Module>): this {
    const entries = Symbol.iterator in modules ? modules : Object.entries(modules);
    for (const [name, m] of entries) this.set(name, m);
    return this;
  }

  keys(): string[] {
    return [...this.order];
  }

  values(): Module[] {
    return [...this.submoduleEntries()].map(([, m]) => m);
  }

  entries(): [string, Module][] {
    return [...this.submoduleEntries()];
  }

  [Symbol.iterator](): Iterator<[string, Module]> {
    return this.entries()[Symbol.iterator]();
  }

  protected override *submoduleEntries(): Generator<[string, Module]> {
    for (const name of this.order) {
      const m: unknown = Reflect.get(this, name);
      if (m instanceof Module) yield [name, m];
    }
  }

  forward(): never {
    throw new Error('ModuleDict: it has no forward; look its modules up by name');
  }
}

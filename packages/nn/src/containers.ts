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

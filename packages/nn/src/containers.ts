import type { Tensor } from '@normlab/autograd';
import { Module } from './module.js';

/** Applies its modules in order: `new Sequential(new Linear(4, 8), new ReLU(), new Linear(8, 1))`. */
export class Sequential extends Module {
  constructor(...modules: Module[]) {
    super();
    modules.forEach((m, i) => this.add(m, String(i)));
  }

  /** Appends a module under `name` (its index by default). */
  add(module: Module, name = String(this.length)): this {
    if (!(module instanceof Module)) throw new TypeError(`Sequential: item ${name} is not a Module`);
    Reflect.set(this, name, module);
    return this;
  }

  get length(): number {
    return this.children().length;
  }

  /** The i-th module (negative counts from the end). */
  at(i: number): Module {
    const list = this.children();
    const m = list[i < 0 ? i + list.length : i];
    if (!m) throw new RangeError(`Sequential: index ${i} out of range for ${list.length} modules`);
    return m;
  }

  forward(x: Tensor): Tensor {
    let out = x;
    for (const m of this.children()) out = (m.forward as (t: Tensor) => Tensor)(out);
    return out;
  }
}

/** Holds submodules in a list, registered so that their parameters are found. */
export class ModuleList extends Module {
  constructor(modules: Iterable<Module> = []) {
    super();
    for (const m of modules) this.push(m);
  }

  push(module: Module): this {
    if (!(module instanceof Module)) throw new TypeError(`ModuleList: item ${this.length} is not a Module`);
    Reflect.set(this, String(this.length), module);
    return this;
  }

  get length(): number {
    return this.children().length;
  }

  at(i: number): Module {
    const list = this.children();
    const m = list[i < 0 ? i + list.length : i];
    if (!m) throw new RangeError(`ModuleList: index ${i} out of range for ${list.length} modules`);
    return m;
  }

  [Symbol.iterator](): Iterator<Module> {
    return this.children()[Symbol.iterator]();
  }

  forward(): never {
    throw new Error('ModuleList: it has no forward; iterate over its modules');
  }
}

/** Shared helpers of the landscape tests: small models, seeded data, and a bit-exact picture of a model's state. */
import fc from 'fast-check';
import { Tensor } from '@normlab/autograd';
import { type Module, NormBase, optim } from '@normlab/nn';
import { Generator, type NDArray, defaultGenerator, fromTyped } from '@normlab/tensor';

fc.configureGlobal({ ...fc.readConfigureGlobal(), includeErrorInReport: true });

/** Seeded normal values. */
export function randn(shape: readonly number[], seed: number, options: { dtype?: 'float32' | 'float64'; scale?: number; shift?: number } = {}): Tensor {
  const g = new Generator(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const v = Float64Array.from({ length: n }, () => (options.shift ?? 0) + (options.scale ?? 1) * g.normal());
  return new Tensor(fromTyped(v, shape).astype(options.dtype ?? 'float64'));
}

export function f64(values: readonly number[], shape: readonly number[]): Tensor {
  return new Tensor(fromTyped(Float64Array.from(values), shape));
}

/** Overwrites every parameter of `model` with seeded normal values times `scale`. */
export function initParams(model: Module, seed: number, scale = 0.5): void {
  const g = new Generator(seed);
  for (const p of model.parameters()) {
    const v = Float64Array.from({ length: p.size }, () => scale * g.normal());
    p.data = fromTyped(v, p.shape).astype(p.dtype);
  }
}

function bits(a: NDArray): string {
  const t = a.toTypedArray();
  return `${a.dtype}[${a.shape.join(',')}]:${Buffer.from(t.buffer, t.byteOffset, t.byteLength).toString('hex')}`;
}

/** Everything a probe must not change, as bit strings (and object identities). */
export function picture(model: Module, optimizers: readonly optim.Optimizer<object>[] = []): unknown {
  return {
    params: [...model.namedParameters()].map(([n, p]) => [n, p, p.data, bits(p.data), p.grad, p.grad ? bits(p.grad.data) : null, p.requiresGrad]),
    buffers: [...model.namedBuffers()].map(([n, b]) => [n, b, b.data, bits(b.data)]),
    modes: model.modules().map((m) => m.training),
    // No BatchNorm left with its running-statistics updates suspended.
    suspended: model.modules().map((m) => (m instanceof NormBase ? m.statsUpdatesSuspended : null)),
    generator: defaultGenerator.getState(),
    optimizers: optimizers.map((o) => ({
      groups: o.paramGroups.map((g) => [g.params.slice(), JSON.stringify(g.options)]),
      state: [...o.state].map(([p, s]) => [p, s, Object.entries(s).map(([k, v]) => [k, v instanceof Tensor ? bits(v.data) : v])]),
    })),
  };
}

/** Bit-exact comparison of two pictures (identities included). */
export function expectSamePicture(after: unknown, before: unknown): void {
  const eq = (a: unknown, b: unknown, path: string): void => {
    if (Object.is(a, b)) return;
    if (Array.isArray(a) && Array.isArray(b)) {
      if (a.length !== b.length) throw new Error(`${path}: length ${a.length} != ${b.length}`);
      a.forEach((x, i) => eq(x, b[i], `${path}[${i}]`));
      return;
    }
    if (a && b && typeof a === 'object' && typeof b === 'object' && Object.getPrototypeOf(a) === Object.prototype && Object.getPrototypeOf(b) === Object.prototype) {
      const ka = Object.keys(a);
      const kb = Object.keys(b);
      eq(ka, kb, `${path}.keys`);
      for (const k of ka) eq((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`);
      return;
    }
    throw new Error(`${path}: ${String(a)} !== ${String(b)}`);
  };
  eq(after, before, 'state');
}

export function expectClose(actual: number, expected: number, rtol = 1e-10, atol = 1e-12, what = 'value'): void {
  if (!(Math.abs(actual - expected) <= atol + rtol * Math.abs(expected))) {
    throw new Error(`${what}: got ${actual}, expected ${expected} (diff ${actual - expected})`);
  }
}

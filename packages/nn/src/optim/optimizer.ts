import { Tensor } from '@normlab/autograd';
import { zeros } from '@normlab/tensor';
import type { Parameter } from '../parameter.js';

/** A set of parameters with its own hyper-parameters (e.g. a different lr). */
export interface ParamGroup<H> {
  params: Parameter[];
  options: H;
}

/**
 * Base of the optimizers: parameter groups, per-parameter state kept in a
 * map keyed by parameter (never on the tensor), and `zeroGrad`.
 */
export abstract class Optimizer<H extends object> {
  readonly paramGroups: ParamGroup<H>[];
  readonly state = new Map<Parameter, Record<string, Tensor | number>>();

  constructor(params: Iterable<Parameter> | Iterable<{ params: Iterable<Parameter> } & Partial<H>>, readonly defaults: H) {
    const list = [...(params as Iterable<Parameter | ({ params: Iterable<Parameter> } & Partial<H>)>)];
    if (list.length === 0) throw new RangeError(`${this.constructor.name}: got an empty parameter list`);
    const groups = list.every((p) => 'params' in p && !('data' in p))
      ? (list as ({ params: Iterable<Parameter> } & Partial<H>)[])
      : [{ params: list as Parameter[] }];
    this.paramGroups = groups.map((g) => {
      const { params, ...rest } = g;
      // A group's explicit `undefined` keeps the default rather than erasing it.
      const overrides = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) as Partial<H>;
      return { params: [...params], options: { ...defaults, ...overrides } };
    });
    const seen = new Set<Parameter>();
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        if (seen.has(p)) throw new Error(`${this.constructor.name}: a parameter appears in more than one group`);
        seen.add(p);
      }
    }
  }

  /** Clears the gradients of every parameter (to null by default, as PyTorch). */
  zeroGrad(options: { setToNone?: boolean } = {}): void {
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        if (options.setToNone ?? true) p.grad = null;
        // Fresh zeros (not grad * 0, which keeps NaN and Inf), as torch's grad.zero_().
        else if (p.grad) p.grad = new Tensor(zeros(p.grad.shape, { dtype: p.grad.dtype, device: p.grad.device }));
      }
    }
  }

  /** Applies one update to every parameter that has a gradient. */
  abstract step(): void;
}

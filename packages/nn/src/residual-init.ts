/**
 * The normalization-free baselines' initializations of residual networks:
 * SkipInit's learned gate (De & Smith 2020) and Fixup's rescaling (Zhang,
 * Dauphin & Ma 2019). Both make each residual block start as (nearly) the
 * identity, which is what BatchNorm does implicitly in a deep ResNet.
 */
import { Tensor, noGrad } from '@normlab/autograd';
import * as nd from '@normlab/tensor';
import * as init from './init.js';
import { Module } from './module.js';
import { Parameter } from './parameter.js';

/** Options of SkipInit. */
export interface SkipInitOptions {
  /** The gate's initial value; 0 by default (the block starts as the identity). */
  init?: number;
  dtype?: nd.DType;
  device?: nd.Device;
}

/**
 * A learned scalar gate alpha on a residual branch (De & Smith 2020, "Batch
 * Normalization Biases Residual Blocks Towards the Identity Function in Deep
 * Networks"): forward(x) = alpha * x, alpha a 0-D parameter starting at 0,
 * so that `x + skipInit.forward(branch(x))` is the identity at
 * initialization and deep unnormalized ResNets train. With `init: 1` it is
 * Fixup's scalar multiplier.
 */
export class SkipInit extends Module {
  readonly alpha: Parameter;

  constructor(options: SkipInitOptions = {}) {
    super();
    const value = options.init ?? 0;
    if (!Number.isFinite(value)) throw new RangeError(`SkipInit: init must be a finite number, got ${value}`);
    this.alpha = new Parameter(nd.full([], value, { dtype: options.dtype ?? 'float32', device: options.device ?? 'cpu' }));
  }

  forward(x: Tensor): Tensor {
    return x.mul(this.alpha);
  }

  override extraRepr(): string {
    return `alpha=${this.alpha.item()}`;
  }
}

/**
 * Fixup's scale of the weights inside residual branches: L^(-1/(2m-2)) for
 * L residual branches of m layers each (m >= 2).
 */
export function fixupScale(numBranches: number, layersPerBranch: number): number {
  if (!Number.isInteger(numBranches) || numBranches < 1) throw new RangeError(`fixupScale: numBranches must be a positive integer, got ${numBranches}`);
  if (!Number.isInteger(layersPerBranch) || layersPerBranch < 2) {
    throw new RangeError(`fixupScale: layersPerBranch must be an integer >= 2 (Fixup rescales all but the last layer of a branch), got ${layersPerBranch}`);
  }
  return numBranches ** (-1 / (2 * layersPerBranch - 2));
}

/** Options of `fixupInit`. */
export interface FixupInitOptions {
  /** Source of the He-normal draws; the default generator when absent. */
  generator?: nd.Generator;
}

/**
 * Fixup's initialization (Zhang, Dauphin & Ma 2019, "Fixup Initialization:
 * Residual Learning Without Normalization", rules 1 and 2) of the weight
 * layers of L residual branches, given in forward order per branch (each a
 * layer with a `weight`, e.g. Conv2d or Linear; all branches with the same
 * number m >= 2 of layers): every layer but the last gets He-normal weights
 * (fan in, ReLU gain) times L^(-1/(2m-2)); the last layer's weight is set
 * to 0. Biases are left as they are. Rule 3 (a scalar multiplier, e.g.
 * `new SkipInit({ init: 1 })`, and scalar biases in each branch) and the
 * zero-initialized classifier are the model's to add. Returns the scale.
 */
export function fixupInit(branches: readonly (readonly Module[])[], options: FixupInitOptions = {}): number {
  if (branches.length === 0) throw new RangeError('fixupInit: expected at least one residual branch');
  const m = branches[0].length;
  branches.forEach((b, i) => {
    if (b.length !== m) throw new RangeError(`fixupInit: every branch must have the same number of weight layers; branch 0 has ${m}, branch ${i} has ${b.length}`);
  });
  const scale = fixupScale(branches.length, m);
  const weights = branches.map((b, i) => b.map((layer, k) => {
    const w = (layer as Module & { weight?: unknown }).weight;
    if (!(w instanceof Tensor) || w.ndim < 2) throw new TypeError(`fixupInit: layer ${k} of branch ${i} (${layer.constructor.name}) has no weight matrix or kernel`);
    return w;
  }));
  noGrad(() => {
    for (const ws of weights) {
      ws.forEach((w, k) => {
        if (k === m - 1) init.zeros(w);
        else w.data = nd.mul(init.kaimingNormal(w, { nonlinearity: 'relu', generator: options.generator }).data, scale).astype(w.dtype);
      });
    }
  });
  return scale;
}

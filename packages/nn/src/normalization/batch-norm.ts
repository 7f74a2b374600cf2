import { Tensor, noGrad } from '@normlab/autograd';
import * as nd from '@normlab/tensor';
import { batchNorm } from '../functional/batch-norm.js';
import * as init from '../init.js';
import { Module } from '../module.js';
import { Parameter } from '../parameter.js';

/** Options of BatchNorm1d/2d (PyTorch's defaults: eps 1e-5, momentum 0.1, affine, trackRunningStats). */
export interface BatchNormOptions {
  /** Added to the variance for stability; 1e-5 by default. */
  eps?: number;
  /** Weight of each new batch in the running statistics (0.1); null for a cumulative average. */
  momentum?: number | null;
  /** Learn a per-channel scale (weight, gamma) and shift (bias, beta); true by default. */
  affine?: boolean;
  /** Keep running statistics for eval mode; true by default. */
  trackRunningStats?: boolean;
  dtype?: nd.DType;
  device?: nd.Device;
}

/** Per-call options of a BatchNorm forward. */
export interface BatchNormForwardOptions {
  /**
   * In training mode, update the running statistics (default true). Pass
   * false to normalize with the batch statistics without changing the layer,
   * e.g. to probe a network between steps.
   */
  updateStats?: boolean;
}

/**
 * The state every normalization layer with running statistics shares (as
 * PyTorch's _NormBase): the affine parameters `weight` (gamma, ones) and
 * `bias` (beta, zeros), and the buffers `runningMean` (zeros), `runningVar`
 * (ones) and `numBatchesTracked`. Subclasses only check the input's rank.
 */
export abstract class NormBase extends Module {
  readonly eps: number;
  momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;
  readonly weight: Parameter | null;
  readonly bias: Parameter | null;
  declare runningMean: Tensor | null;
  declare runningVar: Tensor | null;
  declare numBatchesTracked: Tensor | null;
  private frozen = false;
  /** How many `withoutStatsUpdates` scopes hold this layer (they nest). */
  private statsSuspensions = 0;

  constructor(readonly numFeatures: number, options: BatchNormOptions = {}) {
    super();
    const name = this.constructor.name;
    if (!Number.isInteger(numFeatures) || numFeatures <= 0) throw new RangeError(`${name}: numFeatures must be a positive integer, got ${numFeatures}`);
    this.eps = options.eps ?? 1e-5;
    this.momentum = options.momentum === undefined ? 0.1 : options.momentum;
    this.affine = options.affine ?? true;
    this.trackRunningStats = options.trackRunningStats ?? true;
    if (!(this.eps > 0)) throw new RangeError(`${name}: eps must be positive, got ${this.eps}`);
    if (this.momentum !== null && !(this.momentum >= 0 && this.momentum <= 1)) {
      throw new RangeError(`${name}: momentum must be in [0, 1] or null, got ${this.momentum}`);
    }
    const dtype = options.dtype ?? 'float32';
    const device = options.device ?? 'cpu';
    this.weight = this.affine ? new Parameter(nd.ones([numFeatures], { dtype, device })) : null;
    this.bias = this.affine ? new Parameter(nd.zeros([numFeatures], { dtype, device })) : null;
    if (this.trackRunningStats) {
      this.registerBuffer('runningMean', new Tensor(nd.zeros([numFeatures], { dtype, device })));
      this.registerBuffer('runningVar', new Tensor(nd.ones([numFeatures], { dtype, device })));
      this.registerBuffer('numBatchesTracked', new Tensor(nd.zeros([], { dtype: 'int32', device })));
    } else {
      this.registerBuffer('runningMean', null);
      this.registerBuffer('runningVar', null);
      this.registerBuffer('numBatchesTracked', null);
    }
  }

  /** Running mean to 0, running variance to 1, the batch count to 0. */
  resetRunningStats(): void {
    if (!this.trackRunningStats) return;
    noGrad(() => {
      // New values in the same buffer tensors (a tidy scope sees them written).
      const opts = { dtype: this.runningMean!.dtype, device: this.runningMean!.device };
      this.runningMean!.data = nd.zeros([this.numFeatures], opts);
      this.runningVar!.data = nd.ones([this.numFeatures], opts);
      this.numBatchesTracked!.data = nd.zeros([], { dtype: 'int32', device: opts.device });
    });
  }

  /**
   * Counts one more batch in `numBatchesTracked`, on its device, and returns
   * the momentum of this update: the layer's, or for a cumulative average
   * (momentum null) 1 / count as a 0-D float64 array, never read back.
   */
  protected countBatch(): number | nd.NDArray {
    const counter = this.numBatchesTracked!;
    const tracked = nd.add(counter.data, 1);
    counter.data = tracked;
    return this.momentum ?? nd.reciprocal(tracked.astype('float64'));
  }

  /** Resets the running statistics and the affine parameters (gamma = 1, beta = 0). */
  resetParameters(): void {
    this.resetRunningStats();
    if (this.weight) init.ones(this.weight);
    if (this.bias) init.zeros(this.bias);
  }

  /**
   * Freezes the running statistics: the layer then normalizes with them and
   * never updates them, in training and eval mode alike, until
   * `unfreezeRunningStats()`. `train()` and `eval()` do not change this.
   * The affine parameters still train.
   */
  freezeRunningStats(): this {
    if (!this.trackRunningStats) throw new Error(`${this.constructor.name}: cannot freeze running statistics that are not tracked (trackRunningStats is false)`);
    this.frozen = true;
    return this;
  }

  unfreezeRunningStats(): this {
    this.frozen = false;
    return this;
  }

  get runningStatsFrozen(): boolean {
    return this.frozen;
  }

  /**
   * True inside `withoutStatsUpdates(...)`: a training-mode forward still
   * normalizes with the batch statistics but leaves the running statistics
   * and `numBatchesTracked` unchanged (as `updateStats: false` on every call).
   */
  get statsUpdatesSuspended(): boolean {
    return this.statsSuspensions > 0;
  }

  /** @internal Used by `withoutStatsUpdates`; nests. */
  suspendStatsUpdates(): () => void {
    this.statsSuspensions++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.statsSuspensions--;
    };
  }

  protected abstract checkInputDim(x: Tensor): void;

  override extraRepr(): string {
    return `${this.numFeatures}, eps=${this.eps}, momentum=${this.momentum}, affine=${this.affine}, trackRunningStats=${this.trackRunningStats}`;
  }
}

/**
 * Batch Normalization's forward for every rank. The four cells of
 * (training x trackRunningStats):
 *
 * | mode     | trackRunningStats | normalizes with | updates running stats |
 * | -------- | ----------------- | --------------- | --------------------- |
 * | training | true              | batch stats     | yes (unless `updateStats: false`, `withoutStatsUpdates` or frozen) |
 * | training | false             | batch stats     | none kept             |
 * | eval     | true              | running stats   | no                    |
 * | eval     | false             | batch stats     | none kept             |
 *
 * A frozen layer (`freezeRunningStats()`) normalizes with the running
 * statistics in both modes and never updates them.
 */
export abstract class BatchNorm extends NormBase {
  forward(x: Tensor, options: BatchNormForwardOptions = {}): Tensor {
    this.checkInputDim(x);
    if (x.shape[1] !== this.numFeatures) {
      throw new RangeError(`${this.constructor.name}: expected ${this.numFeatures} channels in dim 1, got input of shape ${nd.fmtShape(x.shape)}`);
    }
    const eps = this.eps;
    if (this.runningStatsFrozen) {
      return batchNorm(x, this.runningMean, this.runningVar, this.weight, this.bias, { training: false, eps });
    }
    const useBatchStats = this.training || !this.trackRunningStats;
    if (!useBatchStats) return batchNorm(x, this.runningMean, this.runningVar, this.weight, this.bias, { training: false, eps });
    const update = this.training && this.trackRunningStats && (options.updateStats ?? true) && !this.statsUpdatesSuspended;
    if (!update) return this.normalizeBatch(x, null);
    // momentum null: a cumulative moving average, as PyTorch (1 / count, computed on the device).
    const counter = this.numBatchesTracked!;
    const before = counter.data;
    const momentum = this.countBatch();
    try {
      return this.normalizeBatch(x, momentum);
    } catch (e) {
      counter.data = before; // counted only once the batch was accepted (an input that throws leaves the layer unchanged)
      throw e;
    }
  }

  /**
   * Normalizes x with its batch statistics; with a `momentum`, also updates
   * the running statistics by it (null: leaves them as they are).
   */
  protected normalizeBatch(x: Tensor, momentum: number | nd.NDArray | null): Tensor {
    if (momentum === null) return batchNorm(x, null, null, this.weight, this.bias, { training: true, eps: this.eps });
    return batchNorm(x, this.runningMean, this.runningVar, this.weight, this.bias, { training: true, momentum, eps: this.eps });
  }
}

/** @internal The input check of the 1d layers: [N, C] or [N, C, L]. */
export function checkInput1d(layer: string, x: Tensor): void {
  if (x.ndim !== 2 && x.ndim !== 3) throw new RangeError(`${layer}: expected 2D or 3D input (got ${x.ndim}D input of shape ${nd.fmtShape(x.shape)})`);
}

/** @internal The input check of the 2d layers: [N, C, H, W]. */
export function checkInput2d(layer: string, x: Tensor): void {
  if (x.ndim !== 4) throw new RangeError(`${layer}: expected 4D input (got ${x.ndim}D input of shape ${nd.fmtShape(x.shape)})`);
}

/** BatchNorm over [N, C] or [N, C, L] inputs, per channel C. */
export class BatchNorm1d extends BatchNorm {
  protected checkInputDim(x: Tensor): void {
    checkInput1d('BatchNorm1d', x);
  }
}

/** BatchNorm over [N, C, H, W] inputs, per channel C (statistics over N, H and W: m = N*H*W). */
export class BatchNorm2d extends BatchNorm {
  protected checkInputDim(x: Tensor): void {
    checkInput2d('BatchNorm2d', x);
  }
}

/**
 * Re-estimates the population statistics of every BatchNorm layer in
 * `model` with the weights fixed ("precise BN", as torch's update_bn): the
 * running statistics are reset and replaced by the cumulative average over
 * `batches`, in training mode and without gradients. The model's modes and
 * the layers' momenta are restored afterwards.
 */
export function recomputeBatchNormStats(model: Module, batches: Iterable<Tensor>): void {
  const layers = model.modules().filter((m): m is BatchNorm => m instanceof BatchNorm && m.trackRunningStats && !m.runningStatsFrozen);
  if (layers.length === 0) return;
  const modes = new Map(model.modules().map((m) => [m, m.training]));
  const momenta = layers.map((l) => l.momentum);
  try {
    for (const l of layers) {
      l.resetRunningStats();
      l.momentum = null;
    }
    model.train();
    noGrad(() => {
      for (const batch of batches) (model.forward as (x: Tensor) => unknown)(batch);
    });
  } finally {
    layers.forEach((l, i) => (l.momentum = momenta[i]));
    for (const [m, mode] of modes) m.training = mode;
  }
}

/**
 * Runs `fn` with the running-statistics updates of every normalization layer
 * of `model` (BatchNorm1d/2d, NoisyBatchNorm, InstanceNorm with
 * `trackRunningStats`: every `NormBase` in `model.modules()`) suspended,
 * and returns its result. The modes do not change: in training mode the
 * layers still normalize with the batch statistics (the training-mode
 * function, its gradients included), but `runningMean`, `runningVar` and
 * `numBatchesTracked` stay as they are, bit for bit, whatever forwards `fn`
 * runs, as if every call passed `{ updateStats: false }`. This is what a
 * probe between training steps needs (`updateStats` is per call, so it
 * cannot reach the layers inside a user's loss function;
 * `freezeRunningStats()` would normalize with the running statistics).
 *
 * Scopes nest, and the updates resume when `fn` returns or throws; when `fn`
 * returns a promise, when it settles (other code running in the meantime
 * sees the updates suspended too). Layers added to the model inside `fn` are
 * not affected.
 */
export function withoutStatsUpdates<T>(model: Module, fn: () => T): T {
  const resumes = model.modules().filter((m): m is NormBase => m instanceof NormBase).map((m) => m.suspendStatsUpdates());
  const resume = (): void => resumes.forEach((r) => r());
  let result: T;
  try {
    result = fn();
  } catch (e) {
    resume();
    throw e;
  }
  if (result !== null && typeof result === 'object' && typeof (result as { then?: unknown }).then === 'function') {
    return (result as unknown as Promise<unknown>).finally(resume) as T;
  }
  resume();
  return result;
}

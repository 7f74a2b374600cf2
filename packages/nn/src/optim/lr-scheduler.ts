import type { Optimizer, ParamGroup } from './optimizer.js';

/** The options every optimizer shares: schedulers read and write `lr`. */
export type LrOptions = { lr: number };

/** What a scheduler's `stateDict()` returns: its fields (all but the optimizer), deep-copied. */
export type SchedulerStateDict = Record<string, unknown>;

/**
 * The lr a group had when the first scheduler was attached (torch's
 * `group['initial_lr']`, set with setdefault): a second scheduler on the
 * same optimizer starts from the same base lrs, not from the scheduled ones.
 */
const initialLrs = new WeakMap<ParamGroup<LrOptions>, number>();

/**
 * What every scheduler shares (the epoch-driven ones and ReduceLROnPlateau):
 * the lrs its last step set, and a state dict of every field but the
 * optimizer (as torch's `__dict__`).
 */
export abstract class Scheduler {
  protected lastLr: number[];

  constructor(readonly optimizer: Optimizer<LrOptions>) {
    this.lastLr = this.groupLrs();
  }

  /** The lr of every group now. */
  protected groupLrs(): number[] {
    return this.optimizer.paramGroups.map((g) => g.options.lr);
  }

  /** The lrs the last `step()` (or the constructor) set, one per group. */
  getLastLr(): number[] {
    return [...this.lastLr];
  }

  /** Every field but the optimizer (as torch's `__dict__`), deep-copied. */
  stateDict(): SchedulerStateDict {
    const out: SchedulerStateDict = {};
    for (const [k, v] of Object.entries(this)) if (k !== 'optimizer') out[k] = structuredClone(v);
    return out;
  }

  /** Restores a `stateDict()`; the optimizer's lrs are restored by its own `loadStateDict`. */
  loadStateDict(sd: SchedulerStateDict): void {
    for (const [k, v] of Object.entries(sd)) if (k !== 'optimizer') Reflect.set(this, k, structuredClone(v));
  }
}

/**
 * Base of the epoch-driven learning-rate schedulers, as
 * torch.optim.lr_scheduler.LRScheduler. Constructing one records each
 * group's lr as `baseLrs` and sets the lr of step 0 (`lastEpoch` becomes 0);
 * each `step()` advances `lastEpoch` by one and writes `getLr()` into the
 * groups.
 *
 * The subclasses use torch's closed forms (`_get_closed_form_lr`) of lr as a
 * function of `lastEpoch` and `baseLrs`, so a scheduler overwrites the lr
 * rather than multiplying the current one: unlike torch's recursive forms,
 * two schedulers on one optimizer do not compose.
 */
export abstract class LRScheduler extends Scheduler {
  /** The number of `step()` calls so far minus one: 0 right after construction. */
  lastEpoch = -1;
  /** Each group's lr when the scheduler was attached. */
  baseLrs: number[];
  protected stepCount = 0;

  constructor(optimizer: Optimizer<LrOptions>) {
    super(optimizer);
    this.baseLrs = optimizer.paramGroups.map((g) => {
      if (!initialLrs.has(g)) initialLrs.set(g, g.options.lr);
      return initialLrs.get(g)!;
    });
  }

  /** The lr of every group for `lastEpoch` (already advanced). */
  protected abstract getLr(): number[];

  /** Subclasses call this at the end of their constructor, once their fields are set (torch's `_initial_step`). */
  protected initialStep(): void {
    this.step();
  }

  /** Advances one epoch (or iteration) and sets the groups' lr. */
  step(): void {
    this.stepCount += 1;
    this.lastEpoch += 1;
    const lrs = this.getLr();
    this.optimizer.paramGroups.forEach((g, i) => {
      g.options.lr = lrs[i];
    });
    this.lastLr = this.groupLrs();
  }
}

function positiveInteger(name: string, what: string, v: number): void {
  if (!(Number.isInteger(v) && v > 0)) throw new RangeError(`${name}: ${what} must be a positive integer, got ${v}`);
}

/**
 * Multiplies the lr by `gamma` every `stepSize` epochs (torch StepLR):
 *
 *     lr = baseLr * gamma^floor(lastEpoch / stepSize)
 */
export class StepLR extends LRScheduler {
  constructor(optimizer: Optimizer<LrOptions>, public stepSize: number, public gamma = 0.1) {
    super(optimizer);
    positiveInteger('StepLR', 'stepSize', stepSize);
    this.initialStep();
  }

  protected getLr(): number[] {
    return this.baseLrs.map((b) => b * this.gamma ** Math.floor(this.lastEpoch / this.stepSize));
  }
}

/**
 * Multiplies the lr by `gamma` at each milestone (torch MultiStepLR; a
 * milestone listed twice counts twice):
 *
 *     lr = baseLr * gamma^(number of milestones <= lastEpoch)
 */
export class MultiStepLR extends LRScheduler {
  milestones: number[];

  constructor(optimizer: Optimizer<LrOptions>, milestones: readonly number[], public gamma = 0.1) {
    super(optimizer);
    this.milestones = [...milestones].sort((a, b) => a - b);
    this.initialStep();
  }

  protected getLr(): number[] {
    // bisect_right: milestones already reached, the current epoch included.
    const passed = this.milestones.filter((m) => m <= this.lastEpoch).length;
    return this.baseLrs.map((b) => b * this.gamma ** passed);
  }
}

/**
 * Multiplies the lr by `gamma` every epoch (torch ExponentialLR):
 *
 *     lr = baseLr * gamma^lastEpoch
 */
export class ExponentialLR extends LRScheduler {
  constructor(optimizer: Optimizer<LrOptions>, public gamma: number) {
    super(optimizer);
    this.initialStep();
  }

  protected getLr(): number[] {
    return this.baseLrs.map((b) => b * this.gamma ** this.lastEpoch);
  }
}

/**
 * Cosine annealing from the base lr down to `etaMin` over `tMax` epochs
 * (torch CosineAnnealingLR, SGDR without restarts). torch's recursive
 * update solves to this closed form, which is what is computed:
 *
 *     lr = etaMin + (baseLr - etaMin) * (1 + cos(pi * lastEpoch / tMax)) / 2
 *
 * Past `tMax` it rises again (period 2 tMax), as torch.
 */
export class CosineAnnealingLR extends LRScheduler {
  constructor(optimizer: Optimizer<LrOptions>, public tMax: number, public etaMin = 0) {
    super(optimizer);
    if (!(tMax > 0)) throw new RangeError(`CosineAnnealingLR: tMax must be positive, got ${tMax}`);
    this.initialStep();
  }

  protected getLr(): number[] {
    return this.baseLrs.map((b) => this.etaMin + ((b - this.etaMin) * (1 + Math.cos((Math.PI * this.lastEpoch) / this.tMax))) / 2);
  }
}

/** Options of `LinearLR` (torch.optim.lr_scheduler.LinearLR's). */
export interface LinearLROptions {
  startFactor?: number;
  endFactor?: number;
  totalIters?: number;
}

/**
 * Scales the lr by a factor going linearly from `startFactor` to
 * `endFactor` over `totalIters` epochs, then constant (torch LinearLR):
 *
 *     lr = baseLr * (startFactor + (endFactor - startFactor) * min(totalIters, lastEpoch) / totalIters)
 */
export class LinearLR extends LRScheduler {
  startFactor: number;
  endFactor: number;
  totalIters: number;

  constructor(optimizer: Optimizer<LrOptions>, options: LinearLROptions = {}) {
    super(optimizer);
    this.startFactor = options.startFactor ?? 1 / 3;
    this.endFactor = options.endFactor ?? 1;
    this.totalIters = options.totalIters ?? 5;
    if (!(this.startFactor > 0 && this.startFactor <= 1)) throw new RangeError(`LinearLR: startFactor must be in (0, 1], got ${this.startFactor}`);
    if (!(this.endFactor >= 0 && this.endFactor <= 1)) throw new RangeError(`LinearLR: endFactor must be in [0, 1], got ${this.endFactor}`);
    positiveInteger('LinearLR', 'totalIters', this.totalIters);
    this.initialStep();
  }

  protected getLr(): number[] {
    const t = Math.min(this.totalIters, this.lastEpoch);
    return this.baseLrs.map((b) => b * (this.startFactor + ((this.endFactor - this.startFactor) * t) / this.totalIters));
  }
}

/** Options of `OneCycleLR` (torch.optim.lr_scheduler.OneCycleLR's). */
export interface OneCycleLROptions {
  /** The peak lr, for all groups or one per group. */
  maxLr: number | readonly number[];
  /** The number of `step()` calls of the cycle; or give `epochs` and `stepsPerEpoch`. */
  totalSteps?: number;
  epochs?: number;
  stepsPerEpoch?: number;
  /** The fraction of the cycle spent raising the lr. */
  pctStart?: number;
  annealStrategy?: 'cos' | 'linear';
  /** Cycle the momentum (SGD, RMSprop) or beta1 (Adam) inversely to the lr. */
  cycleMomentum?: boolean;
  baseMomentum?: number | readonly number[];
  maxMomentum?: number | readonly number[];
  /** initialLr = maxLr / divFactor. */
  divFactor?: number;
  /** minLr = initialLr / finalDivFactor. */
  finalDivFactor?: number;
  threePhase?: boolean;
}

interface Phase {
  endStep: number;
  startLr: 'initialLr' | 'maxLr' | 'minLr';
  endLr: 'initialLr' | 'maxLr' | 'minLr';
  startMomentum: 'maxMomentum' | 'baseMomentum';
  endMomentum: 'maxMomentum' | 'baseMomentum';
}

/**
 * The 1cycle policy (Smith & Topin), as torch OneCycleLR; step it after
 * every batch. The lr goes from `maxLr / divFactor` up to `maxLr` over the
 * first `pctStart` of the steps, then down to `initialLr / finalDivFactor`
 * (with `threePhase`: back to the initial lr by `2 pctStart`, then down to
 * the minimum). Phase i runs to step `end_i` with torch's boundaries
 * `pctStart * totalSteps - 1`, (`2 pctStart * totalSteps - 2`),
 * `totalSteps - 1`, and within a phase
 *
 *     pct = (step - previousEnd) / (end - previousEnd)
 *     cos:    lr = end + (start - end) / 2 * (1 + cos(pi * pct))
 *     linear: lr = start + (end - start) * pct
 *
 * With `cycleMomentum` (the default) the momentum (or beta1) moves the
 * other way between `maxMomentum` and `baseMomentum` on the same schedule;
 * it throws when the optimizer has neither.
 */
export class OneCycleLR extends LRScheduler {
  totalSteps: number;
  phases: Phase[];
  annealStrategy: 'cos' | 'linear';
  cycleMomentum: boolean;
  useBeta1: boolean;
  initialLrs: number[];
  maxLrs: number[];
  minLrs: number[];
  maxMomentums: number[];
  baseMomentums: number[];

  constructor(optimizer: Optimizer<LrOptions>, options: OneCycleLROptions) {
    const groups = optimizer.paramGroups;
    const perGroup = (name: string, v: number | readonly number[]): number[] => {
      if (typeof v === 'number') return groups.map(() => v);
      if (v.length !== groups.length) throw new RangeError(`OneCycleLR: expected ${groups.length} values for ${name}, got ${v.length}`);
      return [...v];
    };
    let totalSteps: number;
    if (options.totalSteps !== undefined) {
      totalSteps = options.totalSteps;
      positiveInteger('OneCycleLR', 'totalSteps', totalSteps);
    } else if (options.epochs !== undefined && options.stepsPerEpoch !== undefined) {
      positiveInteger('OneCycleLR', 'epochs', options.epochs);
      positiveInteger('OneCycleLR', 'stepsPerEpoch', options.stepsPerEpoch);
      totalSteps = options.epochs * options.stepsPerEpoch;
    } else {
      throw new RangeError('OneCycleLR: give either totalSteps or (epochs and stepsPerEpoch)');
    }
    const pctStart = options.pctStart ?? 0.3;
    if (!(pctStart >= 0 && pctStart <= 1)) throw new RangeError(`OneCycleLR: pctStart must be in [0, 1], got ${pctStart}`);
    const annealStrategy = options.annealStrategy ?? 'cos';
    if (annealStrategy !== 'cos' && annealStrategy !== 'linear') throw new RangeError(`OneCycleLR: annealStrategy must be 'cos' or 'linear', got ${String(annealStrategy)}`);
    const maxLrs = perGroup('maxLr', options.maxLr);
    const divFactor = options.divFactor ?? 25;
    const finalDivFactor = options.finalDivFactor ?? 1e4;
    const initial = maxLrs.map((m) => m / divFactor);
    // As torch, the cycle starts from maxLr / divFactor whatever lr the groups had (initial_lr is overwritten).
    groups.forEach((g, i) => initialLrs.set(g, initial[i]));
    super(optimizer);
    this.totalSteps = totalSteps;
    this.annealStrategy = annealStrategy;
    this.initialLrs = initial;
    this.maxLrs = maxLrs;
    this.minLrs = initial.map((l) => l / finalDivFactor);
    this.phases = options.threePhase
      ? [
        { endStep: pctStart * totalSteps - 1, startLr: 'initialLr', endLr: 'maxLr', startMomentum: 'maxMomentum', endMomentum: 'baseMomentum' },
        { endStep: 2 * pctStart * totalSteps - 2, startLr: 'maxLr', endLr: 'initialLr', startMomentum: 'baseMomentum', endMomentum: 'maxMomentum' },
        { endStep: totalSteps - 1, startLr: 'initialLr', endLr: 'minLr', startMomentum: 'maxMomentum', endMomentum: 'maxMomentum' },
      ]
      : [
        { endStep: pctStart * totalSteps - 1, startLr: 'initialLr', endLr: 'maxLr', startMomentum: 'maxMomentum', endMomentum: 'baseMomentum' },
        { endStep: totalSteps - 1, startLr: 'maxLr', endLr: 'minLr', startMomentum: 'baseMomentum', endMomentum: 'maxMomentum' },
      ];
    this.cycleMomentum = options.cycleMomentum ?? true;
    this.useBeta1 = 'betas' in optimizer.defaults;
    this.maxMomentums = perGroup('maxMomentum', options.maxMomentum ?? 0.95);
    this.baseMomentums = perGroup('baseMomentum', options.baseMomentum ?? 0.85);
    if (this.cycleMomentum) {
      if (!this.useBeta1 && !('momentum' in optimizer.defaults)) {
        throw new RangeError('OneCycleLR: the optimizer must have a momentum or betas option when cycleMomentum is true');
      }
      groups.forEach((g, i) => setMomentum(g.options, this.useBeta1, this.maxMomentums[i]));
    }
    this.initialStep();
  }

  protected getLr(): number[] {
    const stepNum = this.lastEpoch;
    if (stepNum > this.totalSteps) throw new RangeError(`OneCycleLR: tried to step ${stepNum} times; the specified number of total steps is ${this.totalSteps}`);
    const anneal = this.annealStrategy === 'cos'
      ? (start: number, end: number, pct: number): number => end + ((start - end) / 2) * (Math.cos(Math.PI * pct) + 1)
      : (start: number, end: number, pct: number): number => (end - start) * pct + start;
    return this.optimizer.paramGroups.map((g, gi) => {
      const value = { initialLr: this.initialLrs[gi], maxLr: this.maxLrs[gi], minLr: this.minLrs[gi], maxMomentum: this.maxMomentums[gi], baseMomentum: this.baseMomentums[gi] };
      let startStep = 0;
      for (let i = 0; i < this.phases.length; i++) {
        const phase = this.phases[i];
        if (stepNum <= phase.endStep || i === this.phases.length - 1) {
          const pct = (stepNum - startStep) / (phase.endStep - startStep);
          if (this.cycleMomentum) setMomentum(g.options, this.useBeta1, anneal(value[phase.startMomentum], value[phase.endMomentum], pct));
          return anneal(value[phase.startLr], value[phase.endLr], pct);
        }
        startStep = phase.endStep;
      }
      throw new Error('OneCycleLR: unreachable');
    });
  }
}

/** Sets the momentum, or beta1 of the betas (keeping beta2), of one group's options. */
function setMomentum(o: LrOptions, useBeta1: boolean, m: number): void {
  if (useBeta1 && 'betas' in o) {
    const betas = o.betas;
    const beta2: unknown = Array.isArray(betas) ? betas[1] : undefined;
    if (typeof beta2 !== 'number') throw new TypeError('OneCycleLR: the betas option is not a pair of numbers');
    o.betas = [m, beta2];
  } else if ('momentum' in o) {
    o.momentum = m;
  }
}

/** Options of `ReduceLROnPlateau` (torch.optim.lr_scheduler.ReduceLROnPlateau's). */
export interface ReduceLROnPlateauOptions {
  /** 'min': lower metrics are better (a loss); 'max': higher are (an accuracy). */
  mode?: 'min' | 'max';
  /** new lr = lr * factor. */
  factor?: number;
  /** Epochs without improvement tolerated before reducing. */
  patience?: number;
  threshold?: number;
  thresholdMode?: 'rel' | 'abs';
  /** Epochs to wait after a reduction before counting bad epochs again. */
  cooldown?: number;
  /** A floor on the lr, for all groups or one per group. */
  minLr?: number | readonly number[];
  /** Reductions smaller than eps are skipped. */
  eps?: number;
}

/**
 * Reduces the lr when a metric stops improving (torch ReduceLROnPlateau).
 * Each `step(metric)`:
 *
 *     better = mode min, rel: metric < best * (1 - threshold)   (abs: metric < best - threshold)
 *              mode max, rel: metric > best * (1 + threshold)   (abs: metric > best + threshold)
 *     if better: best = metric, badEpochs = 0 else badEpochs += 1
 *     if cooldownCounter > 0: cooldownCounter -= 1, badEpochs = 0
 *     if badEpochs > patience:
 *         for each group: newLr = max(lr * factor, minLr); if lr - newLr > eps: lr = newLr
 *         cooldownCounter = cooldown, badEpochs = 0
 *
 * It does not change the lr when constructed.
 */
export class ReduceLROnPlateau extends Scheduler {
  mode: 'min' | 'max';
  factor: number;
  patience: number;
  threshold: number;
  thresholdMode: 'rel' | 'abs';
  cooldown: number;
  minLrs: number[];
  eps: number;
  /** The number of `step(metric)` calls. */
  lastEpoch = 0;
  best: number;
  numBadEpochs = 0;
  cooldownCounter = 0;

  constructor(optimizer: Optimizer<LrOptions>, options: ReduceLROnPlateauOptions = {}) {
    super(optimizer);
    this.mode = options.mode ?? 'min';
    this.factor = options.factor ?? 0.1;
    this.patience = options.patience ?? 10;
    this.threshold = options.threshold ?? 1e-4;
    this.thresholdMode = options.thresholdMode ?? 'rel';
    this.cooldown = options.cooldown ?? 0;
    this.eps = options.eps ?? 1e-8;
    if (!(this.factor < 1)) throw new RangeError(`ReduceLROnPlateau: factor must be < 1, got ${this.factor}`);
    if (this.mode !== 'min' && this.mode !== 'max') throw new RangeError(`ReduceLROnPlateau: unknown mode ${String(this.mode)}`);
    if (this.thresholdMode !== 'rel' && this.thresholdMode !== 'abs') throw new RangeError(`ReduceLROnPlateau: unknown thresholdMode ${String(this.thresholdMode)}`);
    const groups = optimizer.paramGroups;
    const minLr = options.minLr ?? 0;
    if (typeof minLr !== 'number' && minLr.length !== groups.length) throw new RangeError(`ReduceLROnPlateau: expected ${groups.length} minLr values, got ${minLr.length}`);
    this.minLrs = typeof minLr === 'number' ? groups.map(() => minLr) : [...minLr];
    this.best = this.modeWorse();
  }

  private modeWorse(): number {
    return this.mode === 'min' ? Infinity : -Infinity;
  }

  /** Whether `a` improves on `best` by more than the threshold. */
  isBetter(a: number, best: number): boolean {
    if (this.mode === 'min') return this.thresholdMode === 'rel' ? a < best * (1 - this.threshold) : a < best - this.threshold;
    return this.thresholdMode === 'rel' ? a > best * (this.threshold + 1) : a > best + this.threshold;
  }

  /** Records one epoch's metric and reduces the lr after `patience` epochs without improvement. */
  step(metric: number): void {
    this.lastEpoch += 1;
    if (this.isBetter(metric, this.best)) {
      this.best = metric;
      this.numBadEpochs = 0;
    } else {
      this.numBadEpochs += 1;
    }
    if (this.cooldownCounter > 0) {
      this.cooldownCounter -= 1;
      this.numBadEpochs = 0; // bad epochs during cooldown are ignored
    }
    if (this.numBadEpochs > this.patience) {
      this.optimizer.paramGroups.forEach((g, i) => {
        const old = g.options.lr;
        const next = Math.max(old * this.factor, this.minLrs[i]);
        if (old - next > this.eps) g.options.lr = next;
      });
      this.cooldownCounter = this.cooldown;
      this.numBadEpochs = 0;
    }
    this.lastLr = this.groupLrs();
  }
}

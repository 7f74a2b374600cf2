export {
  Optimizer, type ParamGroup, type ParamGroupInput, type ParamState, type OptimizerStateDict,
} from './optimizer.js';
export { SGD, type SGDOptions, sgdUpdate } from './sgd.js';
export { Adam, AdamW, type AdamOptions, type AdamState, adamUpdate, adamwUpdate } from './adam.js';
export { Adagrad, type AdagradOptions, type AdagradState, adagradUpdate, adagradInitialState } from './adagrad.js';
export { RMSprop, type RMSpropOptions, type RMSpropState, rmspropUpdate } from './rmsprop.js';
export {
  Scheduler, LRScheduler, StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, LinearLR, OneCycleLR, ReduceLROnPlateau,
  type LrOptions, type SchedulerStateDict, type LinearLROptions, type OneCycleLROptions, type ReduceLROnPlateauOptions,
} from './lr-scheduler.js';
export { clipGradNorm, clipGradValue, clipGradAdaptive, type ClipGradNormOptions, type ClipGradAdaptiveOptions } from './clip-grad.js';

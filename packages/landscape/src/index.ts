/**
 * @normlab/landscape: probes of the optimization landscape of any model, as
 * Santurkar et al. (2018), "How Does Batch Normalization Help
 * Optimization?", measure it: internal covariate shift through gradients,
 * the loss and the gradient along the gradient direction (gradient
 * predictiveness, effective beta-smoothness), g^T H g by double backward,
 * both sides of Theorem 4.1 per BatchNorm channel, and activation
 * percentiles over training. Every probe runs in training mode and leaves
 * parameters, gradients, buffers and optimizer state exactly as it found them.
 */
export { flattenParams, flattenGrads, unflattenParams, snapshot, restore, type Snapshot } from './params.js';
export { ProbeGuard, probe, type LossFn, type ProbeOptions, type AnyOptimizer } from './guard.js';
export { internalCovariateShift, type OptimizerStep, type StepFn, type InternalCovariateShiftOptions, type LayerShift } from './ics.js';
export {
  lossLandscape, hessianQuadraticForm,
  type LossLandscapeOptions, type LossLandscape, type HessianQuadraticFormOptions, type HessianQuadraticForm,
} from './landscape.js';
export { lipschitzBound, type LipschitzBoundOptions, type ChannelBound, type BatchNormBound } from './lipschitz.js';
export {
  activationStats, percentile, summarize,
  type ActivationStatsOptions, type ActivationRow, type ActivationRecorder, type LayerSelection,
} from './activations.js';
export { hessianEigenvalues, type HessianEigenOptions, type HessianEigen } from './eigen.js';

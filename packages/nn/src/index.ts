/**
 * @normlab/nn: modules, layers, every normalization layer, losses,
 * optimizers and safetensors checkpoints, on @normlab/autograd.
 */
export { Module, type StateDict, type StateDictOptions, type ForwardHook } from './module.js';
export { pytorchKey } from './serialization/pytorch-names.js';
export {
  toPytorchOptimizerState, fromPytorchOptimizerState, pytorchOptimizerTensors, pytorchOptimizerFromTensors, type PytorchOptimizerState,
} from './serialization/pytorch-optimizer.js';
export { Parameter } from './parameter.js';
export { functionalCall, type FunctionalCallTensors, type FunctionalCallOptions } from './functional-call.js';
/** Parameter initializers (torch.nn.init): uniform, normal, constant, Xavier, Kaiming; each fills a tensor in place and returns it. */
export * as init from './init.js';
export { Linear, type LinearOptions } from './linear.js';
export { Sequential, ModuleList, ModuleDict } from './containers.js';
export { ReLU, LeakyReLU, Sigmoid, Tanh, GELU, Softplus, Softmax, LogSoftmax, Identity, Flatten } from './activation.js';
export {
  mseLoss, nllLoss, crossEntropy, l1Loss, binaryCrossEntropyWithLogits,
  MSELoss, L1Loss, NLLLoss, CrossEntropyLoss, BCEWithLogitsLoss,
  type Reduction, type NllOptions, type CrossEntropyOptions, type BceWithLogitsOptions,
} from './loss.js';
export { Conv2d, type Conv2dModuleOptions, type IntPair } from './conv.js';
export {
  MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, type MaxPool2dModuleOptions, type MaxPool2dResult, type AvgPool2dModuleOptions, type PoolPair,
} from './pooling.js';
export { Dropout, dropout, type DropoutOptions } from './dropout.js';
/** Every functional form (torch.nn.functional): functional.batchNorm, functional.layerNorm, functional.crossEntropy, functional.conv2d, ... */
export * as functional from './functional/index.js';
/** `functional` under PyTorch users' usual name: F.batchNorm, F.layerNorm, F.crossEntropy, F.conv2d, F.relu, F.linear, ... */
export * as F from './functional/index.js';
export { linear } from './functional/linear.js';
/** Optimizers (SGD, Adam, AdamW, Adagrad, RMSprop), learning-rate schedulers and gradient clipping (torch.optim). */
export * as optim from './optim/index.js';
export { batchNorm, type BatchNormFunctionalOptions } from './functional/batch-norm.js';
export {
  NormBase, BatchNorm, BatchNorm1d, BatchNorm2d, recomputeBatchNormStats, withoutStatsUpdates, type BatchNormOptions, type BatchNormForwardOptions,
} from './normalization/batch-norm.js';
export {
  save, saveSync, load, loadSync, serialize, deserialize, SafetensorsError,
  type SafetensorsState, type SafetensorsValue, type SaveOptions, type SerializeOptions, type Deserialized,
} from './serialization/safetensors.js';
export { layerNorm, type LayerNormFunctionalOptions } from './functional/layer-norm.js';
export { groupNorm } from './functional/group-norm.js';
export { instanceNorm, type InstanceNormFunctionalOptions } from './functional/instance-norm.js';
export { LayerNorm, type LayerNormOptions } from './normalization/layer-norm.js';
export { rmsNorm, machineEpsilon, type RmsEpsArg } from './functional/rms-norm.js';
export { RMSNorm, type RMSNormOptions } from './normalization/rms-norm.js';
export { GroupNorm, type GroupNormOptions } from './normalization/group-norm.js';
export { InstanceNorm, InstanceNorm1d, InstanceNorm2d, type InstanceNormOptions } from './normalization/instance-norm.js';
export { weightNorm, removeWeightNorm, isWeightNormed, type WeightNormOptions, type WeightNormed } from './normalization/weight-norm.js';
export {
  WeightStandardizedConv2d, ScaledWeightStandardizedConv2d, standardizeWeight, RELU_GAMMA,
  type WeightStandardizedConv2dOptions, type ScaledWeightStandardizedConv2dOptions,
} from './normalization/weight-standardization.js';
export { batchRenorm, type BatchRenormFunctionalOptions } from './functional/batch-renorm.js';
export { BatchRenorm1d, BatchRenorm2d, type BatchRenormOptions, type ClipSchedule } from './normalization/batch-renorm.js';
export { GhostBatchNorm1d, GhostBatchNorm2d, type GhostBatchNormOptions } from './normalization/ghost-batch-norm.js';
export { filterResponseNorm, tlu } from './functional/filter-response-norm.js';
export { FilterResponseNorm2d, TLU, type FilterResponseNormOptions, type TLUOptions } from './normalization/filter-response-norm.js';
export { SkipInit, fixupInit, fixupScale, type SkipInitOptions, type FixupInitOptions } from './residual-init.js';
export {
  NoisyBatchNorm1d, NoisyBatchNorm2d, type NoisyBatchNormMembers, type NoisyBatchNormOptions, type NoiseRange, type InjectedNoise,
} from './normalization/noisy-batch-norm.js';
export { clipGradNorm, clipGradValue, clipGradAdaptive, type ClipGradNormOptions, type ClipGradAdaptiveOptions } from './optim/clip-grad.js';

/**
 * Every functional form in one namespace, as torch.nn.functional:
 * `import { F } from '@normlab/nn'`, then `F.batchNorm`, `F.layerNorm`,
 * `F.crossEntropy`, `F.conv2d`, `F.relu`, ... The same functions are also
 * exported under their own names (from @normlab/nn, or @normlab/autograd for
 * the ops).
 */
export { batchNorm, type BatchNormFunctionalOptions } from './batch-norm.js';
export { batchRenorm, type BatchRenormFunctionalOptions } from './batch-renorm.js';
export { layerNorm, type LayerNormFunctionalOptions } from './layer-norm.js';
export { groupNorm } from './group-norm.js';
export { instanceNorm, type InstanceNormFunctionalOptions } from './instance-norm.js';
export { rmsNorm } from './rms-norm.js';
export { filterResponseNorm, tlu } from './filter-response-norm.js';
export { linear } from './linear.js';
export { dropout } from '../dropout.js';
export { mseLoss, l1Loss, nllLoss, crossEntropy, binaryCrossEntropyWithLogits } from '../loss.js';
export {
  conv2d, maxPool2d, avgPool2d, adaptiveAvgPool2d, relu, leakyRelu, gelu, sigmoid, tanh, softplus, softmax, logSoftmax,
} from '@normlab/autograd';

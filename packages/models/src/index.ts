/**
 * @normlab/models: VGG and ResNet for CIFAR-size images with a pluggable
 * normalization (`norm`: BN, GN, LN, IN, WS + GN, FRN, batch renorm, ghost
 * and noisy BN, none, normalization-free), a width multiplier and the input
 * shape; module names as torchvision's, so state-dict keys line up.
 */
export { type Layer, type NormKind, type NormSpec, type NormOptions } from './norm.js';
export { type ModelOptions } from './model-options.js';
export { VGG, VGG_CONFIGS, vgg } from './vgg.js';
export { ResNet, BasicBlock, resnet, type ResNetOptions, type Shortcut } from './resnet.js';

import type { Tensor } from '@normlab/autograd';
import { AdaptiveAvgPool2d, Flatten, Linear, MaxPool2d, Module, Sequential } from '@normlab/nn';
import { type ModelOptions, modelOptions, scaled } from './model-options.js';
import { makeActivation, makeConv, makeNorm } from './norm.js';

/** The conv widths of each VGG, 'M' a 2x2 max pooling (Simonyan & Zisserman 2015, configurations A, B, D, E). */
export const VGG_CONFIGS = {
  vgg11: [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
  vgg13: [64, 64, 'M', 128, 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'],
  vgg16: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'],
  vgg19: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M', 512, 512, 512, 512, 'M'],
} as const satisfies Record<string, readonly (number | 'M')[]>;

/**
 * VGG for small images, the CIFAR variant most normalization studies use
 * (Santurkar et al. 2018 among them): the 3x3 conv stacks of VGG-11/13/16/19,
 * each conv followed by the chosen norm and a ReLU, 2x2 max pooling between
 * the stages, then global average pooling and one Linear head. Attributes
 * `features` (a Sequential) and `classifier` (the Linear), so state-dict keys
 * read `features.0.weight`, `features.1.runningMean`, ..., `classifier.weight`.
 *
 * A pooling that would shrink the feature map below 1 x 1 is left out (on
 * 28 x 28 Fashion-MNIST images the fifth one); on 32 x 32 inputs the layout
 * is the usual one and the average pooling sees 1 x 1. VGG-16 with BatchNorm
 * on CIFAR-10 has 14,728,266 parameters.
 */
export class VGG extends Module {
  readonly features: Sequential;
  readonly classifier: Linear;

  constructor(readonly config: keyof typeof VGG_CONFIGS, options: ModelOptions = {}) {
    super();
    const layers = VGG_CONFIGS[config];
    if (!layers) throw new RangeError(`VGG: unknown configuration '${String(config)}'; expected one of ${Object.keys(VGG_CONFIGS).join(', ')}`);
    const { norm, width, inputShape, numClasses } = modelOptions('VGG', options);
    const modules: Module[] = [];
    let channels = inputShape[0];
    let size = Math.min(inputShape[1], inputShape[2]);
    for (const layer of layers) {
      if (layer === 'M') {
        if (size >= 2) {
          modules.push(new MaxPool2d(2));
          size = Math.floor(size / 2);
        }
        continue;
      }
      const out = scaled(layer, width);
      // Every conv keeps its bias, as torchvision's and the CIFAR VGGs' (vgg16_bn's features.0.bias).
      modules.push(makeConv(norm, channels, out, 3, { padding: 1, bias: true }), makeNorm(norm, out, options), makeActivation(norm, out));
      channels = out;
    }
    modules.push(new AdaptiveAvgPool2d(1), new Flatten());
    this.features = new Sequential(...modules);
    this.classifier = new Linear(channels, numClasses);
  }

  forward(x: Tensor): Tensor {
    return this.classifier.forward(this.features.forward(x));
  }

  override extraRepr(): string {
    return this.config;
  }
}

/** VGG-11, -13, -16 or -19 for small images (see VGG). */
export function vgg(depth: 11 | 13 | 16 | 19, options: ModelOptions = {}): VGG {
  if (![11, 13, 16, 19].includes(depth)) throw new RangeError(`vgg: depth must be 11, 13, 16 or 19, got ${depth}`);
  return new VGG(`vgg${depth}`, options);
}

import { type Tensor, cat, zeros } from '@normlab/autograd';
import { AdaptiveAvgPool2d, type Conv2d, Linear, MaxPool2d, Module, Sequential, SkipInit } from '@normlab/nn';
import { type Layer, type NormSpec, makeActivation, makeConv, makeNorm } from './norm.js';
import { type ModelOptions, modelOptions, scaled } from './model-options.js';

/**
 * How a block's shortcut matches a change of shape: 'A' subsamples and pads
 * the new channels with zeros (no parameters; He et al.'s CIFAR ResNets),
 * 'B' is a 1x1 conv with stride and a norm (ResNet-18's `downsample`).
 */
export type Shortcut = 'A' | 'B';

/**
 * The basic residual block of He et al. (2016): conv3x3 - norm - act -
 * conv3x3 - norm, plus the shortcut, then the activation. Attributes as
 * torchvision's BasicBlock: `conv1`, `bn1`, `conv2`, `bn2`, `downsample`
 * (the norm is in `bn1` / `bn2` whichever it is).
 */
export class BasicBlock extends Module {
  readonly conv1: Conv2d;
  readonly bn1: Layer;
  readonly act1: Layer;
  readonly conv2: Conv2d;
  readonly bn2: Layer;
  readonly act2: Layer;
  /** The shortcut's projection with shortcut 'B' when the shape changes (a Sequential of conv1x1 and norm), else null. */
  readonly downsample: Sequential | null;
  /** With norm 'nf': SkipInit's gate on the residual branch (alpha = 0: the block starts as the identity), else null. */
  readonly skipInit: SkipInit | null;
  /** Channels the 'A' shortcut pads on each side (0 when the shape is kept or with 'B'). */
  private readonly padChannels: number;
  private readonly stride: number;

  constructor(inPlanes: number, planes: number, stride: number, norm: NormSpec, shortcut: Shortcut, options: ModelOptions = {}) {
    super();
    this.conv1 = makeConv(norm, inPlanes, planes, 3, { stride, padding: 1 });
    this.bn1 = makeNorm(norm, planes, options);
    this.act1 = makeActivation(norm, planes);
    this.conv2 = makeConv(norm, planes, planes, 3, { padding: 1 });
    this.bn2 = makeNorm(norm, planes, options);
    this.act2 = makeActivation(norm, planes);
    this.stride = stride;
    const changes = stride !== 1 || inPlanes !== planes;
    this.downsample = changes && shortcut === 'B' ? new Sequential(makeConv(norm, inPlanes, planes, 1, { stride }), makeNorm(norm, planes, options)) : null;
    if (changes && shortcut === 'A' && (planes - inPlanes) % 2 !== 0) {
      throw new RangeError(`BasicBlock: shortcut 'A' pads the channels evenly on both sides; ${inPlanes} -> ${planes} channels cannot be`);
    }
    this.padChannels = changes && shortcut === 'A' ? (planes - inPlanes) / 2 : 0;
    this.skipInit = norm === 'nf' ? new SkipInit() : null;
  }

  forward(x: Tensor): Tensor {
    let out = this.bn2.forward(this.conv2.forward(this.act1.forward(this.bn1.forward(this.conv1.forward(x)))));
    if (this.skipInit) out = this.skipInit.forward(out);
    return this.act2.forward(out.add(this.shortcut(x)));
  }

  private shortcut(x: Tensor): Tensor {
    if (this.downsample) return this.downsample.forward(x);
    if (this.stride === 1 && this.padChannels === 0) return x;
    const s = this.stride;
    const sub = s === 1 ? x : x.slice(2, 0, undefined, s).slice(3, 0, undefined, s);
    if (this.padChannels === 0) return sub;
    const [n, , h, w] = sub.shape;
    const pad = zeros([n, this.padChannels, h, w], { dtype: sub.dtype, device: sub.device });
    return cat([pad, sub, pad], 1);
  }
}

/** Options of `resnet`. */
export interface ResNetOptions extends ModelOptions {
  /** The shortcut of the blocks that change shape; 'A' for the CIFAR ResNets, 'B' for ResNet-18 by default. */
  shortcut?: Shortcut;
  /** ResNet-18's stem: 'cifar' (conv3x3, stride 1, no pooling; default) or 'imagenet' (conv7x7 stride 2 and a 3x3 max pooling, torchvision's). */
  stem?: 'cifar' | 'imagenet';
}

/** The stages of each ResNet: blocks per stage and their widths. */
const RESNETS = {
  20: { blocks: [3, 3, 3], widths: [16, 32, 64] },
  32: { blocks: [5, 5, 5], widths: [16, 32, 64] },
  56: { blocks: [9, 9, 9], widths: [16, 32, 64] },
  18: { blocks: [2, 2, 2, 2], widths: [64, 128, 256, 512] },
} as const;

/**
 * A residual network of basic blocks (He et al. 2016), with attributes as
 * torchvision's ResNet: `conv1`, `bn1` (the stem's conv and norm),
 * `layer1` ... `layerK` (Sequentials of BasicBlocks), `fc` (the head after
 * global average pooling), so state-dict keys read `layer2.0.conv1.weight`,
 * `layer2.0.downsample.0.weight`, `fc.bias`, ...
 */
export class ResNet extends Module {
  readonly conv1: Conv2d;
  readonly bn1: Layer;
  readonly act1: Layer;
  readonly maxpool: MaxPool2d | null;
  // Declared in torchvision's order: fields are created in declaration order, and state-dict keys follow them.
  readonly layer1: Sequential;
  readonly layer2: Sequential;
  readonly layer3: Sequential;
  /** The fourth stage (ResNet-18); null for the three-stage CIFAR ResNets. */
  readonly layer4: Sequential | null;
  readonly avgpool: AdaptiveAvgPool2d;
  readonly fc: Linear;

  constructor(readonly depth: 18 | 20 | 32 | 56, options: ResNetOptions = {}) {
    super();
    const spec = RESNETS[depth];
    if (!spec) throw new RangeError(`ResNet: depth must be 18, 20, 32 or 56, got ${depth}`);
    const { norm, width, inputShape, numClasses } = modelOptions('ResNet', options);
    const shortcut = options.shortcut ?? (depth === 18 ? 'B' : 'A');
    if (shortcut !== 'A' && shortcut !== 'B') throw new RangeError(`ResNet: shortcut must be 'A' or 'B', got ${String(shortcut)}`);
    const stem = options.stem ?? 'cifar';
    if (stem !== 'cifar' && stem !== 'imagenet') throw new RangeError(`ResNet: stem must be 'cifar' or 'imagenet', got ${String(stem)}`);
    const widths = spec.widths.map((c) => scaled(c, width));
    this.conv1 = stem === 'imagenet'
      ? makeConv(norm, inputShape[0], widths[0], 7, { stride: 2, padding: 3 })
      : makeConv(norm, inputShape[0], widths[0], 3, { padding: 1 });
    this.bn1 = makeNorm(norm, widths[0], options);
    this.act1 = makeActivation(norm, widths[0]);
    this.maxpool = stem === 'imagenet' ? new MaxPool2d(3, { stride: 2, padding: 1 }) : null;
    let inPlanes = widths[0];
    const stages = spec.blocks.map((count, s) => new Sequential(...Array.from({ length: count }, (_, b) => {
      const block = new BasicBlock(inPlanes, widths[s], b === 0 && s > 0 ? 2 : 1, norm, shortcut, options);
      inPlanes = widths[s];
      return block;
    })));
    [this.layer1, this.layer2, this.layer3] = stages;
    this.layer4 = stages[3] ?? null;
    this.avgpool = new AdaptiveAvgPool2d(1);
    this.fc = new Linear(inPlanes, numClasses);
  }

  /** The stages in order: layer1, layer2, layer3 (and layer4). */
  get layers(): Sequential[] {
    return [this.layer1, this.layer2, this.layer3, ...(this.layer4 ? [this.layer4] : [])];
  }

  forward(x: Tensor): Tensor {
    let h = this.act1.forward(this.bn1.forward(this.conv1.forward(x)));
    if (this.maxpool) h = this.maxpool.forward(h);
    for (const layer of this.layers) h = layer.forward(h);
    return this.fc.forward(this.avgpool.forward(h).flatten(1));
  }

  override extraRepr(): string {
    return `depth=${this.depth}`;
  }
}

/**
 * ResNet-20, -32 or -56 for CIFAR (He et al. 2016, section 4.2: three stages
 * of 16, 32 and 64 channels, shortcut 'A'; 0.27M, 0.46M and 0.85M
 * parameters with BatchNorm), or ResNet-18 (four stages of 64 to 512
 * channels, shortcut 'B'; with the 'cifar' stem, as most CIFAR studies use
 * it, 11.17M parameters).
 */
export function resnet(depth: 18 | 20 | 32 | 56, options: ResNetOptions = {}): ResNet {
  return new ResNet(depth, options);
}

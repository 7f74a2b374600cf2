/**
 * VGG and ResNet: parameter counts against the published ones, state-dict
 * keys and shapes against torchvision's layouts (`stateDict({ naming:
 * 'pytorch' })`), every norm option building and running (on CIFAR's
 * 32 x 32 and Fashion-MNIST's 28 x 28 inputs), the normalization-free
 * configuration starting as the identity, a training step, and errors.
 */
import { describe, expect, it } from 'vitest';
import { Tensor, manualSeed, randint, randn } from '@normlab/autograd';
import { BatchNorm2d, GroupNorm, type Module, SkipInit, crossEntropy, optim } from '@normlab/nn';
import { type NormKind, VGG, resnet, vgg } from '../src/index.js';

const count = (m: Module): number => m.parameters().reduce((a, p) => a + p.size, 0);
const keys = (m: Module): string[] => [...m.stateDict({ naming: 'pytorch' }).keys()];

describe('parameter counts', () => {
  it('VGG-16 with BatchNorm on CIFAR-10: 14,728,266 (~14.7M); the others by their configurations', () => {
    expect(count(vgg(16))).toBe(14728266);
    // Each conv: in * out * 9 + out (bias) + 2 out (BN); the head 512 * 10 + 10.
    const expected = (widths: number[]): number => {
      let total = 512 * 10 + 10;
      let cin = 3;
      for (const w of widths) {
        total += cin * w * 9 + w + 2 * w;
        cin = w;
      }
      return total;
    };
    expect(count(vgg(11))).toBe(expected([64, 128, 256, 256, 512, 512, 512, 512]));
    expect(count(vgg(19))).toBe(expected([64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512]));
  });

  it('ResNet-20/32/56 (shortcut A): 0.27M, 0.46M, 0.85M as published; ResNet-18: 11.17M (CIFAR stem), 11,689,512 (torchvision\'s, 1000 classes)', () => {
    expect(count(resnet(20))).toBe(269722);
    expect(count(resnet(32))).toBe(464154);
    expect(count(resnet(56))).toBe(853018);
    expect(count(resnet(18))).toBe(11173962);
    expect(count(resnet(18, { stem: 'imagenet', numClasses: 1000, inputShape: [3, 224, 224] }))).toBe(11689512);
  });
});

describe('state-dict layouts', () => {
  it('ResNet-18 has torchvision\'s keys, in its order, with its shapes', () => {
    const expected: string[] = ['conv1.weight', ...bn('bn1')];
    for (let l = 1; l <= 4; l++) {
      for (let b = 0; b < 2; b++) {
        const p = `layer${l}.${b}`;
        expected.push(`${p}.conv1.weight`, ...bn(`${p}.bn1`), `${p}.conv2.weight`, ...bn(`${p}.bn2`));
        if (l > 1 && b === 0) expected.push(`${p}.downsample.0.weight`, ...bn(`${p}.downsample.1`));
      }
    }
    expected.push('fc.weight', 'fc.bias');
    const model = resnet(18, { stem: 'imagenet', numClasses: 1000 });
    expect(keys(model)).toEqual(expected);
    const sd = model.stateDict();
    expect(sd.get('conv1.weight')!.shape).toEqual([64, 3, 7, 7]);
    expect(sd.get('layer3.0.downsample.0.weight')!.shape).toEqual([256, 128, 1, 1]);
    expect(sd.get('fc.weight')!.shape).toEqual([1000, 512]);
  });

  it('the CIFAR VGG has features.N (conv, norm, ReLU, pools as torchvision numbers them) and one classifier', () => {
    const k = keys(vgg(11));
    expect(k.slice(0, 7)).toEqual(['features.0.weight', 'features.0.bias', ...bn('features.1')]);
    expect(k).toContain('features.4.weight'); // conv 2 after the pooling at 3
    expect(k.slice(-2)).toEqual(['classifier.weight', 'classifier.bias']);
  });

  function bn(prefix: string): string[] {
    return ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'].map((n) => `${prefix}.${n}`);
  }
});

describe('every norm option', () => {
  const kinds: NormKind[] = ['bn', 'noisy-bn', 'ghost-bn', 'batch-renorm', 'gn', 'ln', 'in', 'ws-gn', 'frn', 'none', 'nf'];

  it('builds VGG-11 and ResNet-20 that run forward and backward on CIFAR-size and Fashion-MNIST-size inputs', () => {
    manualSeed(0);
    for (const norm of kinds) {
      for (const [model, x] of [
        [vgg(11, { norm, width: 1 / 16, virtualBatchSize: 2 }), randn([4, 3, 32, 32])],
        [resnet(20, { norm, width: 0.5, virtualBatchSize: 2, inputShape: [1, 28, 28] }), randn([4, 1, 28, 28])],
      ] as const) {
        const y = model.forward(x);
        expect(y.shape, `${norm}`).toEqual([4, 10]);
        const loss = y.square().mean();
        loss.backward();
        expect(Number.isFinite(loss.item()), norm).toBe(true);
        expect(model.parameters().every((p) => p.grad !== null), `${norm}: every parameter gets a gradient`).toBe(true);
      }
    }
  });

  it('puts the right layers in: GroupNorm groups that divide the channels, no norm for none and nf, SkipInit gates for nf', () => {
    const groupsOf = (m: Module): number[] => m.modules().filter((l): l is GroupNorm => l instanceof GroupNorm).map((g) => g.numGroups);
    expect(new Set(groupsOf(resnet(20, { norm: 'gn', groups: 32 })))).toEqual(new Set([16, 32]));
    expect(new Set(groupsOf(resnet(20, { norm: 'ln' })))).toEqual(new Set([1]));
    expect(resnet(20, { norm: 'none' }).modules().some((m) => m instanceof BatchNorm2d || m instanceof GroupNorm)).toBe(false);
    const nf = resnet(20, { norm: 'nf' });
    expect(nf.modules().filter((m) => m instanceof SkipInit)).toHaveLength(9);
    // At initialization every residual branch is gated off: each block is relu(shortcut(x)).
    const x = randn([2, 3, 32, 32]);
    const block = nf.layers[0].modules()[1];
    const h = randn([2, 16, 32, 32]);
    expect(Array.from((block as unknown as { forward(t: Tensor): Tensor }).forward(h).data.toTypedArray())).toEqual(Array.from(h.relu().data.toTypedArray()));
    expect(Number.isFinite(nf.forward(x).sum().item())).toBe(true);
  });

  it('trains: a few SGD steps of a narrow ResNet-20 with BatchNorm lower the loss on a fixed batch', () => {
    manualSeed(1);
    const model = resnet(20, { width: 0.5 });
    const x = randn([16, 3, 32, 32]);
    const y = randint(0, 10, [16]);
    const opt = new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
    const losses: number[] = [];
    for (let i = 0; i < 8; i++) {
      opt.zeroGrad();
      const loss = crossEntropy(model.forward(x), y);
      loss.backward();
      opt.step();
      losses.push(loss.item());
    }
    expect(losses[7]).toBeLessThan(losses[0]);
  });
});

describe('options', () => {
  it('scale the widths, take the input shape and the classes, and accept a custom norm', () => {
    const narrow = vgg(11, { width: 0.25, inputShape: [1, 28, 28], numClasses: 7 });
    expect(narrow.classifier.inFeatures).toBe(128);
    expect(narrow.forward(randn([2, 1, 28, 28])).shape).toEqual([2, 7]);
    const custom = vgg(11, { norm: { norm: (c) => new GroupNorm(1, c) }, width: 1 / 16 });
    expect(custom.modules().filter((m) => m instanceof GroupNorm)).toHaveLength(8);
    expect(String(new VGG('vgg13', { width: 1 / 16 }))).toContain('vgg13');
  });

  it('reject what they cannot build, naming the model', () => {
    expect(() => vgg(12 as never)).toThrow(/vgg: depth must be 11, 13, 16 or 19, got 12/);
    expect(() => vgg(11, { norm: 'batchnorm' as never })).toThrow(/VGG: unknown norm "batchnorm"; expected one of bn, noisy-bn/);
    expect(() => resnet(50 as never)).toThrow(/ResNet: depth must be 18, 20, 32 or 56, got 50/);
    expect(() => resnet(20, { width: 0 })).toThrow(/ResNet: width must be a positive number, got 0/);
    expect(() => resnet(20, { inputShape: [3, 32] as never })).toThrow(/ResNet: inputShape must be \[channels, height, width\]/);
    expect(() => resnet(20, { shortcut: 'C' as never })).toThrow(/ResNet: shortcut must be 'A' or 'B'/);
    expect(() => resnet(20, { width: 0.3 })).toThrow(/BasicBlock: shortcut 'A' pads the channels evenly on both sides; 5 -> 10 channels cannot be/);
  });
});

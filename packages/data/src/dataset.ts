import { Tensor } from '@normlab/autograd';
import { fmtShape } from '@normlab/tensor';

/**
 * A map-style dataset, as torch.utils.data.Dataset: `length` samples, read
 * by index with `get(i)` for i in 0..length-1.
 *
 * @example
 * const squares: Dataset<[Tensor, Tensor]> = {
 *   length: 10,
 *   get: (i) => [tensor([i]), tensor([i * i])],
 * };
 */
export interface Dataset<T> {
  readonly length: number;
  get(index: number): T;
}

/**
 * A dataset of tensors that share their first dim (the sample dim), as
 * torch.utils.data.TensorDataset: sample i is the tuple of each tensor's
 * slice i along dim 0 (views, not copies). `DataLoader` batches it with one
 * `indexSelect` per tensor instead of stacking samples.
 *
 * @example
 * const ds = new TensorDataset(randn([100, 3]), randint(0, 2, [100]));
 * ds.length; // 100
 * const [x, y] = ds.get(0); // shapes [3] and []
 */
export class TensorDataset<T extends Tensor[] = Tensor[]> implements Dataset<T> {
  /** The tensors, as given (shared, not copied). */
  readonly tensors: Readonly<T>;

  /**
   * @param tensors At least one tensor, each with at least one dim, all with
   *   the same size of dim 0.
   */
  constructor(...tensors: T) {
    if (tensors.length === 0) throw new RangeError('TensorDataset: expected at least one tensor');
    tensors.forEach((t, i) => {
      if (!(t instanceof Tensor)) throw new TypeError(`TensorDataset: argument ${i} is not a Tensor`);
      if (t.ndim === 0) throw new RangeError(`TensorDataset: tensor ${i} is 0-D; every tensor needs a first dim to index samples by`);
    });
    const n = tensors[0].shape[0];
    tensors.forEach((t, i) => {
      if (t.shape[0] !== n) {
        throw new RangeError(
          `TensorDataset: size mismatch between tensors: tensor 0 has ${n} samples (shape ${fmtShape(tensors[0].shape)}) but tensor ${i} has ${t.shape[0]} (shape ${fmtShape(t.shape)})`,
        );
      }
    });
    this.tensors = tensors;
  }

  /** The number of samples (the size of every tensor's dim 0). */
  get length(): number {
    return this.tensors[0].shape[0];
  }

  /**
   * Sample `index` (negative counts from the end, as in Python): each
   * tensor's slice along dim 0, a view.
   */
  get(index: number): T {
    const n = this.length;
    if (!Number.isInteger(index) || index < -n || index >= n) {
      throw new RangeError(`TensorDataset.get: index ${index} is out of range for a dataset of ${n} samples`);
    }
    const i = index < 0 ? index + n : index;
    return this.tensors.map((t) => t.select(0, i)) as T;
  }
}

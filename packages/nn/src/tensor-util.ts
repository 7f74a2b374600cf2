import { type DType, type Device, type NDArray, type Shape, zeros } from '@normlab/tensor';

export type { DType, Device };

/** Storage for a parameter that an init function fills right after. */
export function empty(shape: Shape, options: { dtype?: DType; device?: Device }): NDArray {
  return zeros(shape, { dtype: options.dtype ?? 'float32', device: options.device ?? 'cpu' });
}

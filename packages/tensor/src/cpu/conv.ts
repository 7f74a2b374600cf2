import type { Conv2dGeometry } from '../backend.js';
import type { NDArray } from '../ndarray.js';
import type { Shape } from '../shape.js';

export function im2col(_x: NDArray, _g: Conv2dGeometry, _outSize: [number, number]): NDArray {
  throw new Error('im2col: not implemented yet');
}

export function col2im(_cols: NDArray, _g: Conv2dGeometry, _inputShape: Shape, _outSize: [number, number]): NDArray {
  throw new Error('col2im: not implemented yet');
}

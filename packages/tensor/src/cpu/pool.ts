import type { Pool2dGeometry } from '../backend.js';
import type { NDArray } from '../ndarray.js';
import type { Shape } from '../shape.js';

export function maxPool2d(_x: NDArray, _g: Pool2dGeometry): [NDArray, NDArray] {
  throw new Error('maxPool2d: not implemented yet');
}
export function maxPool2dBackward(_grad: NDArray, _indices: NDArray, _inputShape: Shape): NDArray {
  throw new Error('maxPool2dBackward: not implemented yet');
}
export function avgPool2d(_x: NDArray, _g: Pool2dGeometry): NDArray {
  throw new Error('avgPool2d: not implemented yet');
}
export function avgPool2dBackward(_grad: NDArray, _inputShape: Shape, _g: Pool2dGeometry): NDArray {
  throw new Error('avgPool2dBackward: not implemented yet');
}

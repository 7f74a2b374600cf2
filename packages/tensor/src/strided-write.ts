/**
 * @internal Host-side scatter of `values` (row-major, dst's size) into the
 * elements of a strided view (shape, strides, offset) of `out`, the view's
 * whole storage: what a backend's `write` does for a non-contiguous view.
 */
export function writeStrided(out: { [i: number]: number }, shape: readonly number[], strides: readonly number[], offset: number, values: ArrayLike<number>): void {
  const rank = shape.length;
  const index = new Array<number>(rank).fill(0);
  let at = offset;
  for (let k = 0; k < values.length; k++) {
    out[at] = values[k];
    // Odometer over the multi-index, moving `at` by the strides.
    for (let d = rank - 1; d >= 0; d--) {
      if (++index[d] < shape[d]) {
        at += strides[d];
        break;
      }
      at -= strides[d] * (shape[d] - 1);
      index[d] = 0;
    }
  }
}

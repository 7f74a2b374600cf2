import { Tensor } from '@normlab/autograd';
import { fromTyped } from '@normlab/tensor';
import { TensorDataset } from './dataset.js';
import { type IdxArray, readIdxFile, readIdxHeader } from './idx.js';

/** The side of MNIST's (and Fashion-MNIST's) square images. */
export const IMAGE_SIDE = 28;

/** @internal How `loadIdxImages` turns bytes into pixels and shapes the images. */
export interface IdxImagesOptions {
  /** Map pixels p in [0, 1] to (p - mean) / std; null keeps p. */
  normalize: { mean: number; std: number } | null;
  /** [N, 784] rows, or [N, 1, 28, 28] images. */
  flatten: boolean;
  /** Only the first `limit` samples (checked by the caller). */
  limit?: number;
  /** What a label is, in errors: MNIST's are digits, Fashion-MNIST's classes. */
  labelKind: 'digit' | 'class';
}

/**
 * @internal The (image, label) pairs of MNIST's file layout: an IDX file of
 * `n` 28 x 28 uint8 images and one of `n` uint8 labels 0..9. Both headers
 * are checked before any data is read, and every error names the file and
 * `op`. Images become float32 pixels in [0, 1] (or normalized), labels int32.
 */
export function loadIdxImages(op: string, imagesPath: string, labelsPath: string, n: number, options: IdxImagesOptions): TensorDataset<[Tensor, Tensor]> {
  const S = IMAGE_SIDE;
  const ih = withPath(op, imagesPath, () => readIdxHeader(imagesPath));
  if (ih.dtype !== 'uint8' || ih.dims.length !== 3 || ih.dims[0] !== n || ih.dims[1] !== S || ih.dims[2] !== S) {
    throw new RangeError(`${op}: ${imagesPath}: expected ${n} x ${S} x ${S} uint8 images, got ${ih.dtype} [${ih.dims.join(', ')}]`);
  }
  const lh = withPath(op, labelsPath, () => readIdxHeader(labelsPath));
  if (lh.dtype !== 'uint8' || lh.dims.length !== 1 || lh.dims[0] !== n) {
    throw new RangeError(`${op}: ${labelsPath}: expected ${n} uint8 labels (one per image), got ${lh.dtype} [${lh.dims.join(', ')}]`);
  }
  const count = options.limit ?? n;
  const images = withPath(op, imagesPath, () => readIdxFile(imagesPath, { limit: count }));
  const labels = withPath(op, labelsPath, () => readIdxFile(labelsPath, { limit: count }));
  const labelData = new Int32Array(labels.data as Uint8Array);
  for (let i = 0; i < count; i++) {
    if (labelData[i] > 9) throw new RangeError(`${op}: ${labelsPath}: label ${i} is ${labelData[i]}, expected a ${options.labelKind} 0..9`);
  }
  const x = new Tensor(fromTyped(pixels(images, options.normalize), options.flatten ? [count, S * S] : [count, 1, S, S]));
  const y = new Tensor(fromTyped(labelData, [count]));
  return new TensorDataset(x, y);
}

/** Pixels as float32 in [0, 1], or normalized; a lookup table since there are only 256 byte values. */
function pixels(images: IdxArray, normalize: { mean: number; std: number } | null): Float32Array {
  const lut = new Float32Array(256);
  for (let v = 0; v < 256; v++) lut[v] = normalize ? (v / 255 - normalize.mean) / normalize.std : v / 255;
  const src = images.data as Uint8Array;
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = lut[src[i]];
  return out;
}

/** Runs `read`, turning a file-system error (a missing file, say) into one that says what was being loaded. */
function withPath<R>(op: string, path: string, read: () => R): R {
  try {
    return read();
  } catch (e) {
    if (e instanceof Error && 'code' in e) throw new Error(`${op}: cannot read ${path}: ${e.message}`, { cause: e });
    throw e;
  }
}

/**
 * Image transforms for data augmentation, after torchvision.transforms, on
 * float32 images [C, H, W] or batches [N, C, H, W] on the cpu (each image of
 * a batch gets its own random draw). Random ones draw from a `Generator`
 * (the default generator, seeded by `manualSeed`, when none is given), so a
 * seeded run augments identically. A transform is a plain function; compose
 * them with `compose`.
 */
import { Tensor } from '@normlab/autograd';
import { type Generator, defaultGenerator, fmtShape, fromTyped } from '@normlab/tensor';
import { CIFAR10_MEAN, CIFAR10_STD } from './cifar.js';

/** A transform of an image [C, H, W] or a batch [N, C, H, W]. */
export type Transform = (x: Tensor) => Tensor;

/** The float32 values of x (an image or a batch on the cpu) and its batch view [N, C, H, W]. */
function images(op: string, x: Tensor): { data: Float32Array; n: number; c: number; h: number; w: number } {
  if (!(x instanceof Tensor)) throw new TypeError(`${op}: expected a Tensor image [C, H, W] or batch [N, C, H, W]`);
  if (x.ndim !== 3 && x.ndim !== 4) throw new RangeError(`${op}: expected an image [C, H, W] or a batch [N, C, H, W], got ${fmtShape(x.shape)}`);
  if (x.dtype !== 'float32') throw new TypeError(`${op}: expected float32 images, got ${x.dtype}`);
  if (x.device !== 'cpu') throw new Error(`${op}: expects images on the cpu (augment before moving a batch to '${x.device}')`);
  const [n, c, h, w] = x.ndim === 4 ? x.shape : [1, ...x.shape];
  const v = x.data.contiguous();
  return { data: (v.toTypedArray() as Float32Array), n, c, h, w };
}

function wrap(data: Float32Array, like: Tensor, n: number, c: number, h: number, w: number): Tensor {
  return new Tensor(fromTyped(data, like.ndim === 4 ? [n, c, h, w] : [c, h, w]));
}

/** Applies the transforms in order. */
export function compose(...transforms: Transform[]): Transform {
  for (const [i, t] of transforms.entries()) if (typeof t !== 'function') throw new TypeError(`compose: transform ${i} is not a function`);
  return (x) => transforms.reduce((y, t) => t(y), x);
}

/**
 * Pads the last two dims by `padding` on every side (a number) or [top,
 * right, bottom, left], with the constant `fill` (0), as
 * torchvision.transforms.Pad in constant mode.
 */
export function pad(padding: number | readonly [number, number, number, number], options: { fill?: number } = {}): Transform {
  const [top, right, bottom, left] = typeof padding === 'number' ? [padding, padding, padding, padding] : padding;
  if (![top, right, bottom, left].every((p) => Number.isInteger(p) && p >= 0)) throw new RangeError(`pad: padding must be non-negative integers, got ${String(padding)}`);
  const fill = options.fill ?? 0;
  return (x) => {
    const { data, n, c, h, w } = images('pad', x);
    const H = h + top + bottom;
    const W = w + left + right;
    const out = new Float32Array(n * c * H * W).fill(fill);
    for (let p = 0; p < n * c; p++) {
      for (let i = 0; i < h; i++) out.set(data.subarray((p * h + i) * w, (p * h + i + 1) * w), (p * H + i + top) * W + left);
    }
    return wrap(out, x, n, c, H, W);
  };
}

/** Options of `randomCrop`. */
export interface RandomCropOptions {
  /** Zero padding on every side before cropping (CIFAR's 4); 0 by default. */
  padding?: number;
  /** The value padded in; 0 by default. */
  fill?: number;
  generator?: Generator;
}

/**
 * Crops each image to `size` x `size` (or [height, width]) at a uniformly
 * drawn position, after padding it by `padding` on every side, as
 * torchvision.transforms.RandomCrop. Without padding and at the image's own
 * size it is the identity.
 */
export function randomCrop(size: number | readonly [number, number], options: RandomCropOptions = {}): Transform {
  const [th, tw] = typeof size === 'number' ? [size, size] : size;
  if (![th, tw].every((s) => Number.isInteger(s) && s > 0)) throw new RangeError(`randomCrop: size must be positive integers, got ${String(size)}`);
  const padding = options.padding ?? 0;
  if (!(Number.isInteger(padding) && padding >= 0)) throw new RangeError(`randomCrop: padding must be a non-negative integer, got ${padding}`);
  const fill = options.fill ?? 0;
  const g = options.generator ?? defaultGenerator;
  return (x) => {
    const { data, n, c, h, w } = images('randomCrop', x);
    const H = h + 2 * padding;
    const W = w + 2 * padding;
    if (th > H || tw > W) throw new RangeError(`randomCrop: the crop ${th} x ${tw} is larger than the padded image ${H} x ${W} (input ${fmtShape(x.shape)}, padding ${padding})`);
    const out = new Float32Array(n * c * th * tw);
    for (let s = 0; s < n; s++) {
      // The crop's top-left corner in the padded image, both drawn uniformly.
      const top = Math.floor(g.uniform() * (H - th + 1));
      const left = Math.floor(g.uniform() * (W - tw + 1));
      for (let ch = 0; ch < c; ch++) {
        const plane = (s * c + ch) * h * w;
        const o = (s * c + ch) * th * tw;
        for (let i = 0; i < th; i++) {
          const si = i + top - padding;
          for (let j = 0; j < tw; j++) {
            const sj = j + left - padding;
            out[o + i * tw + j] = si >= 0 && si < h && sj >= 0 && sj < w ? data[plane + si * w + sj] : fill;
          }
        }
      }
    }
    return wrap(out, x, n, c, th, tw);
  };
}

/** Mirrors each image left to right with probability `p` (0.5), as torchvision.transforms.RandomHorizontalFlip. */
export function randomHorizontalFlip(options: { p?: number; generator?: Generator } = {}): Transform {
  const p = options.p ?? 0.5;
  if (!(p >= 0 && p <= 1)) throw new RangeError(`randomHorizontalFlip: p must be in [0, 1], got ${p}`);
  const g = options.generator ?? defaultGenerator;
  return (x) => {
    const { data, n, c, h, w } = images('randomHorizontalFlip', x);
    const out = new Float32Array(data);
    for (let s = 0; s < n; s++) {
      if (!(g.uniform() < p)) continue;
      for (let row = s * c * h; row < (s + 1) * c * h; row++) out.subarray(row * w, (row + 1) * w).reverse();
    }
    return wrap(out, x, n, c, h, w);
  };
}

/**
 * (x - mean[c]) / std[c] per channel c, as torchvision.transforms.Normalize
 * (e.g. with CIFAR10_MEAN and CIFAR10_STD). Differentiable: it is made of
 * Tensor ops, so it also works on images that require grad.
 */
export function normalize(mean: readonly number[], std: readonly number[]): Transform {
  if (mean.length !== std.length || mean.length === 0) throw new RangeError(`normalize: mean and std need one value per channel each, got ${mean.length} and ${std.length}`);
  if (!std.every((s) => s > 0)) throw new RangeError(`normalize: every std must be positive, got [${std.join(', ')}]`);
  return (x) => {
    if (!(x instanceof Tensor) || (x.ndim !== 3 && x.ndim !== 4)) throw new RangeError(`normalize: expected an image [C, H, W] or a batch [N, C, H, W], got ${x instanceof Tensor ? fmtShape(x.shape) : typeof x}`);
    const c = x.shape[x.ndim - 3];
    if (c !== mean.length) throw new RangeError(`normalize: ${mean.length} channel statistics for an input with ${c} channels (${fmtShape(x.shape)})`);
    const shape = [c, 1, 1];
    const m = new Tensor(fromTyped(Float64Array.from(mean), shape).astype(x.dtype));
    const s = new Tensor(fromTyped(Float64Array.from(std), shape).astype(x.dtype));
    return x.sub(m).div(s);
  };
}

/**
 * An image of bytes in height x width x channels order (how image files and
 * canvases store pixels) as a float32 [C, H, W] tensor in [0, 1], as
 * torchvision.transforms.ToTensor.
 */
export function toTensor(bytes: Uint8Array | Uint8ClampedArray, shape: readonly [number, number, number]): Tensor {
  const [h, w, c] = shape;
  if (!shape.every((d) => Number.isInteger(d) && d > 0)) throw new RangeError(`toTensor: shape must be [H, W, C] of positive integers, got ${fmtShape(shape)}`);
  if (bytes.length !== h * w * c) throw new RangeError(`toTensor: ${bytes.length} bytes for an image ${fmtShape(shape)} (H x W x C = ${h * w * c})`);
  const out = new Float32Array(c * h * w);
  for (let i = 0; i < h * w; i++) for (let ch = 0; ch < c; ch++) out[ch * h * w + i] = bytes[i * c + ch] / 255;
  return new Tensor(fromTyped(out, [c, h, w]));
}

/**
 * The standard CIFAR training augmentation (He et al. 2016 and most CIFAR
 * papers since): a random 32 x 32 crop of the image padded by 4, a random
 * horizontal flip, then `normalize(mean, std)` (CIFAR-10's statistics by
 * default), for images in [0, 1] (load them without `standardize`: the
 * padding is black, as torchvision's). For test images use `normalize` alone.
 */
export function cifarTrainTransform(options: { mean?: readonly number[]; std?: readonly number[]; generator?: Generator } = {}): Transform {
  const { generator } = options;
  return compose(
    randomCrop(32, { padding: 4, generator }),
    randomHorizontalFlip({ generator }),
    normalize(options.mean ?? CIFAR10_MEAN, options.std ?? CIFAR10_STD),
  );
}

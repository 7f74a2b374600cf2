/**
 * The augmentation transforms: flips twice are the identity, a full-size crop
 * without padding is the identity, crops are windows of the padded image,
 * each image of a batch gets its own draw, seeded runs repeat, normalize with
 * a dataset's statistics gives mean 0 and std 1 per channel, toTensor's
 * layout, and the errors.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Tensor } from '@normlab/autograd';
import { Generator, fromTyped } from '@normlab/tensor';
import { cifarTrainTransform, compose, normalize, pad, randomCrop, randomHorizontalFlip, toTensor } from '../src/index.js';

/** A float32 batch [n, c, h, w] of seeded values. */
function batch(n: number, c: number, h: number, w: number, seed: number): Tensor {
  const g = new Generator(seed);
  return new Tensor(fromTyped(Float32Array.from({ length: n * c * h * w }, () => g.normal()), [n, c, h, w]));
}
const vals = (t: Tensor): number[] => Array.from(t.data.toTypedArray(), Number);
const dimsArb = fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.nat());

describe('transforms', () => {
  it('a flip with p = 1 twice is the identity, and mirrors every row once', () => {
    fc.assert(fc.property(dimsArb, ([n, c, h, w, seed]) => {
      const x = batch(n, c, h, w, seed);
      const flip = randomHorizontalFlip({ p: 1 });
      const once = vals(flip(x));
      expect(vals(flip(flip(x)))).toEqual(vals(x));
      const v = vals(x);
      expect(once[w - 1]).toBe(v[0]);
    }), { numRuns: 40 });
    const x = batch(2, 1, 2, 3, 1);
    expect(vals(randomHorizontalFlip({ p: 0 })(x))).toEqual(vals(x));
  });

  it('a crop of the full size without padding is the identity; with padding every crop is a window of the padded image', () => {
    fc.assert(fc.property(dimsArb, fc.integer({ min: 0, max: 3 }), ([n, c, h, w, seed], p) => {
      const x = batch(n, c, h, w, seed);
      expect(vals(randomCrop([h, w], { generator: new Generator(seed) })(x))).toEqual(vals(x));
      const y = randomCrop([h, w], { padding: p, generator: new Generator(seed) })(x);
      expect(y.shape).toEqual([n, c, h, w]);
      const padded = pad(p)(x);
      const P = vals(padded);
      const Y = vals(y);
      const [H, W] = [h + 2 * p, w + 2 * p];
      for (let s = 0; s < n; s++) {
        // Some offset (top, left) in the padded image reproduces this image's crop, the same for every channel.
        const found = Array.from({ length: (H - h + 1) * (W - w + 1) }, (_, k) => [Math.floor(k / (W - w + 1)), k % (W - w + 1)])
          .some(([top, left]) => Array.from({ length: c * h * w }, (_, q) => {
            const [ch, i, j] = [Math.floor(q / (h * w)), Math.floor(q / w) % h, q % w];
            return Y[((s * c + ch) * h + i) * w + j] === P[((s * c + ch) * H + i + top) * W + j + left];
          }).every(Boolean));
        expect(found).toBe(true);
      }
    }), { numRuns: 40 });
  });

  it('draws per image, and repeats with the same seed', () => {
    const x = batch(64, 1, 4, 4, 3);
    const a = vals(randomCrop(4, { padding: 2, generator: new Generator(9) })(x));
    const b = vals(randomCrop(4, { padding: 2, generator: new Generator(9) })(x));
    expect(a).toEqual(b);
    const flipped = vals(randomHorizontalFlip({ generator: new Generator(5) })(x));
    const v = vals(x);
    const changed = Array.from({ length: 64 }, (_, s) => flipped[s * 16] !== v[s * 16]).filter(Boolean).length;
    expect(changed).toBeGreaterThan(16); // about half of 64 flipped
    expect(changed).toBeLessThan(48);
  });

  it('normalize with a dataset\'s per-channel statistics gives mean 0 and std 1 per channel', () => {
    const x = batch(50, 3, 4, 4, 7).mul(tensor3([2, 0.5, 3])).add(tensor3([1, -2, 0.25]));
    const v = vals(x);
    const stats = [0, 1, 2].map((c) => {
      const xs = v.filter((_, k) => Math.floor(k / 16) % 3 === c);
      const m = xs.reduce((p, q) => p + q, 0) / xs.length;
      return [m, Math.sqrt(xs.reduce((p, q) => p + (q - m) ** 2, 0) / xs.length)];
    });
    const y = vals(normalize(stats.map((s) => s[0]), stats.map((s) => s[1]))(x));
    for (let c = 0; c < 3; c++) {
      const ys = y.filter((_, k) => Math.floor(k / 16) % 3 === c);
      const m = ys.reduce((p, q) => p + q, 0) / ys.length;
      expect(Math.abs(m)).toBeLessThan(1e-5);
      expect(Math.abs(Math.sqrt(ys.reduce((p, q) => p + (q - m) ** 2, 0) / ys.length) - 1)).toBeLessThan(1e-5);
    }
  });

  it('toTensor turns H x W x C bytes into [C, H, W] in [0, 1]; the CIFAR pipeline keeps the shape', () => {
    const bytes = Uint8Array.from([0, 10, 20, 255, 30, 40]); // 1 x 2 pixels, 3 channels
    const t = toTensor(bytes, [1, 2, 3]);
    expect(t.shape).toEqual([3, 1, 2]);
    expect(vals(t).map((p) => Math.round(p * 255))).toEqual([0, 255, 10, 30, 20, 40]);
    const augment = cifarTrainTransform({ generator: new Generator(1) });
    expect(augment(batch(2, 3, 32, 32, 1)).shape).toEqual([2, 3, 32, 32]);
    expect(augment(batch(1, 3, 32, 32, 1).reshape([3, 32, 32])).shape).toEqual([3, 32, 32]);
    expect(compose()(t)).toBe(t);
  });

  it('rejects what it cannot transform, naming the transform', () => {
    expect(() => randomCrop(5)(batch(1, 1, 4, 4, 1))).toThrow(/randomCrop: the crop 5 x 5 is larger than the padded image 4 x 4/);
    expect(() => randomHorizontalFlip({ p: 2 })).toThrow(/randomHorizontalFlip: p must be in \[0, 1\], got 2/);
    expect(() => pad(-1)).toThrow(/pad: padding must be non-negative integers/);
    expect(() => normalize([0, 0], [1, 1])(batch(1, 3, 2, 2, 1))).toThrow(/normalize: 2 channel statistics for an input with 3 channels/);
    expect(() => normalize([0], [0])).toThrow(/normalize: every std must be positive/);
    expect(() => randomCrop(2)(batch(1, 1, 4, 4, 1).reshape([16]))).toThrow(/randomCrop: expected an image \[C, H, W\] or a batch \[N, C, H, W\], got \[16\]/);
    expect(() => toTensor(new Uint8Array(5), [1, 2, 3])).toThrow(/toTensor: 5 bytes for an image \[1,2,3\]/);
    expect(() => compose(1 as never)).toThrow(/compose: transform 0 is not a function/);
  });
});

function tensor3(v: number[]): Tensor {
  return new Tensor(fromTyped(Float32Array.from(v), [3, 1, 1]));
}

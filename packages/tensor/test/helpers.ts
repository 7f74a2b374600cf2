import { expect } from 'vitest';
import { type NDArray, arange, fromTyped } from '../src/index.js';

/** Deterministic uniform(-1, 1) values (mulberry32), independent of the package's generator. */
export function randomData(n: number, seed: number): Float64Array {
  let s = seed >>> 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

/** A float64 array of `shape` with `randomData` values. */
export const rand64 = (shape: number[], seed: number): NDArray => fromTyped(randomData(shape.reduce((a, b) => a * b, 1), seed), shape);

/** An array of `shape` whose values are `base + flat index`. */
export const seq = (shape: number[], base = 0): NDArray =>
  arange(base, base + shape.reduce((a, b) => a * b, 1), 1, { dtype: 'float64' }).reshape(shape);

/** <a, b> over all elements; the shapes must agree. */
export function dot(a: NDArray, b: NDArray): number {
  expect(a.shape).toEqual(b.shape);
  const x = a.toTypedArray();
  const y = b.toTypedArray();
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * y[i];
  return s;
}

/** Checks shape and values (relative tolerance; equal values, infinities included, always pass). */
export function expectClose(actual: NDArray, expected: ArrayLike<number>, shape: number[], tol = 1e-12): void {
  expect(actual.shape).toEqual(shape);
  const a = actual.toTypedArray();
  expect(a.length).toBe(expected.length);
  for (let i = 0; i < a.length; i++) {
    if (a[i] === expected[i]) continue;
    if (!(Math.abs(a[i] - expected[i]) <= tol * (1 + Math.abs(expected[i])))) throw new Error(`element ${i}: ${a[i]} vs expected ${expected[i]}`);
  }
}

/** Row-major flat index of `coords` in `shape`. */
export function flatOf(coords: readonly number[], shape: readonly number[]): number {
  let f = 0;
  for (let d = 0; d < shape.length; d++) f = f * shape[d] + coords[d];
  return f;
}

/** Row-major coordinates of flat index `f` in `shape`. */
export function coordsOf(f: number, shape: readonly number[]): number[] {
  const c = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    c[d] = f % shape[d];
    f = Math.floor(f / shape[d]);
  }
  return c;
}

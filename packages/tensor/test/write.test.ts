/**
 * writeInto, the one mutation of stored values: into contiguous arrays and
 * strided views (every view of the storage sees the values), from any view
 * (overlapping the destination included), broadcast, with the version
 * bumped once per write; and the errors (an expanded destination, another
 * dtype or device, a number the dtype cannot hold, a disposed array).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NDArray, arange, fromArray, storageVersion, writeInto, zeros } from '../src/index.js';
import { SIM } from './sim-backend.js';
import { rand64, seq } from './helpers.js';

/** A random view of an array of `shape`: a permutation, then a step-2 or offset slice where a dim allows. */
const viewArb = fc.record({
  shape: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }),
  perm: fc.boolean(),
  slice: fc.boolean(),
  seed: fc.integer({ min: 0, max: 1000 }),
});

function viewOf(base: NDArray, perm: boolean, slice: boolean): NDArray {
  let v = perm ? base.permute(base.shape.map((_, i) => base.ndim - 1 - i)) : base;
  if (slice && v.shape[0] > 1) v = v.slice(0, 1, undefined, 2);
  return v;
}

describe('writeInto', () => {
  for (const device of ['cpu', SIM]) {
    it(`writes into strided views in place, visible through the base (${device}): the same as a host model`, () => {
      fc.assert(fc.property(viewArb, ({ shape, perm, slice, seed }) => {
        const base = seq(shape).to(device);
        const v = viewOf(base, perm, slice);
        const src = rand64([...v.shape], seed).to(device);
        // The model: the base's flat values with src written at the view's positions.
        const model = Array.from(seq(shape).toTypedArray());
        const expected = Array.from(src.toTypedArray());
        const index = new Array<number>(v.ndim).fill(0);
        for (let k = 0; k < expected.length; k++) {
          model[v.offset + index.reduce((s, i, d) => s + i * v.strides[d], 0)] = expected[k];
          for (let d = v.ndim - 1; d >= 0; d--) {
            if (++index[d] < v.shape[d]) break;
            index[d] = 0;
          }
        }
        const before = storageVersion(base.storage);
        writeInto('test', v, src);
        expect(Array.from(base.toTypedArray())).toEqual(model);
        expect(Array.from(v.toTypedArray())).toEqual(expected);
        expect(storageVersion(base.storage)).toBe(before + 1);
      }), { numRuns: 40 });
    });
  }

  it('broadcasts the source and numbers, and reads a source that overlaps the destination before writing', () => {
    const a = zeros([2, 3], { dtype: 'float64' });
    writeInto('test', a, fromArray([1, 2, 3], { dtype: 'float64' }));
    expect(a.toArray()).toEqual([[1, 2, 3], [1, 2, 3]]);
    writeInto('test', a.select(0, 1), 7);
    expect(a.toArray()).toEqual([[1, 2, 3], [7, 7, 7]]);
    const m = arange(0, 9, 1, { dtype: 'float64' }).reshape([3, 3]);
    writeInto('test', m, m.transpose(0, 1));
    expect(m.toArray()).toEqual([[0, 3, 6], [1, 4, 7], [2, 5, 8]]);
    expect(storageVersion(m.storage)).toBe(1);
    // Contiguous ranges of one storage that overlap, both ways.
    const r = arange(0, 8, 1, { dtype: 'float64' });
    writeInto('test', r.narrow(0, 0, 5), r.narrow(0, 2, 5));
    expect(Array.from(r.toTypedArray())).toEqual([2, 3, 4, 5, 6, 5, 6, 7]);
    writeInto('test', r.narrow(0, 3, 5), r.narrow(0, 0, 5));
    expect(Array.from(r.toTypedArray())).toEqual([2, 3, 4, 2, 3, 4, 5, 6]);
  });

  it('refuses an expanded destination, another dtype or device, a number the dtype cannot hold, and a disposed array', () => {
    const a = zeros([3], { dtype: 'float64' });
    expect(() => writeInto('fill_', a.reshape([1, 3]).expand([2, 3]), 1)).toThrow(/fill_: unsupported operation: more than one element of the written-to tensor \[2,3\] refers to a single memory location/);
    expect(() => writeInto('copy_', a, zeros([3]))).toThrow(/copy_: expected values of the destination's dtype float64, got float32/);
    expect(() => writeInto('copy_', a, zeros([3], { dtype: 'float64', device: SIM }))).toThrow(/copy_: expected values on the destination's device 'cpu', got 'sim'/);
    expect(() => writeInto('copy_', a, zeros([2], { dtype: 'float64' }))).toThrow(/copy_: values of shape \[2\] do not broadcast to the destination's shape \[3\]/);
    expect(() => writeInto('fill_', zeros([2], { dtype: 'int32' }), 1.5)).toThrow(/fill_: cannot write 1.5 into a int32 array \(expected an int32 integer\)/);
    expect(() => writeInto('fill_', zeros([2], { dtype: 'bool' }), 2)).toThrow(/expected 0 or 1/);
    const d = zeros([2], { dtype: 'float64' });
    d.dispose();
    expect(() => writeInto('fill_', d, 1)).toThrow(/fill_/);
    expect(storageVersion(a.storage)).toBe(0);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  arange, eye, fromArray, fromTyped, full, fullLike, linspace, ones, onesLike, rand, randn, randint, scalar, zeros, zerosLike,
} from '../src/index.js';

describe('fromArray', () => {
  it('nested numbers give a float32 array of the nested shape', () => {
    const a = fromArray([[1, 2, 3], [4, 5, 6]]);
    expect(a.shape).toEqual([2, 3]);
    expect(a.dtype).toBe('float32');
    expect(a.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(fromArray(2.5).shape).toEqual([]);
    expect(fromArray(2.5).item()).toBe(2.5);
    expect(fromArray([]).shape).toEqual([0]);
    expect(fromArray([[], []]).shape).toEqual([2, 0]);
    expect(fromArray([[[1]], [[2]]]).shape).toEqual([2, 1, 1]);
    expect(fromArray([0.1]).item()).toBe(Math.fround(0.1));
    expect(fromArray([0.1], { dtype: 'float64' }).item()).toBe(0.1);
    // Non-integers are refused for int32 rather than truncated (see 'creation errors' below); integers convert exactly.
    expect(fromArray([1, -2], { dtype: 'int32' }).toArray()).toEqual([1, -2]);
    expect(fromArray([1, 2, 3, 4], { shape: [2, 2] }).toArray()).toEqual([[1, 2], [3, 4]]);
    expect(() => fromArray([1, 2, 3], { shape: [2, 2] })).toThrow(/fromArray: data of shape \[3\] does not fit shape \[2,2\]/);
  });

  it('booleans give a bool array; bool dtype stores 0/1 for any nonzero', () => {
    const b = fromArray([[true, false], [false, true]]);
    expect(b.dtype).toBe('bool');
    expect(b.toArray()).toEqual([[1, 0], [0, 1]]);
    expect(fromArray(true).dtype).toBe('bool');
    expect(fromArray([true, false], { dtype: 'float32' }).toArray()).toEqual([1, 0]);
    expect(fromArray([0, 2, -1, 0.5, NaN], { dtype: 'bool' }).toArray()).toEqual([0, 1, 1, 1, 1]);
    expect(fromArray(new Uint8Array([0, 7, 255])).toArray()).toEqual([0, 1, 1]);
  });

  it('typed arrays with a shape; the data is copied', () => {
    const src = new Float64Array([1, 2, 3, 4, 5, 6]);
    const a = fromArray(src, { shape: [3, 2] });
    expect(a.dtype).toBe('float64');
    expect(a.toArray()).toEqual([[1, 2], [3, 4], [5, 6]]);
    src[0] = 100;
    expect((a.toArray() as number[][])[0][0]).toBe(1);
    expect(fromArray(new Int32Array([1, 2])).dtype).toBe('int32');
    expect(fromArray(new Float32Array(3)).shape).toEqual([3]);
    expect(fromArray(new Int32Array([1, 2]), { dtype: 'float32' }).dtype).toBe('float32');
    expect(() => fromArray(new Float32Array(5), { shape: [2, 2] })).toThrow(/fromTyped: 5 values do not fill shape \[2,2\] \(4 elements\)/);
    expect(() => fromArray(new Int16Array(2) as unknown as Float32Array)).toThrow(/unsupported typed array Int16Array/);
    // fromTyped takes the data over without copying
    const t = new Float32Array([1, 2]);
    const w = fromTyped(t, [2]);
    t[0] = 9;
    expect(w.toArray()).toEqual([9, 2]);
    expect(() => fromTyped(t, [3])).toThrow(/fromTyped/);
  });

  it('ragged arrays are rejected with a clear message', () => {
    expect(() => fromArray([[1, 2], [3]])).toThrow(/fromArray: ragged nested array: expected length 2 at \[1\], got 1/);
    expect(() => fromArray([[1, 2], 3])).toThrow(/ragged.*expected length 2 at \[1\], got number/);
    expect(() => fromArray([1, [2, 3]])).toThrow(/fromArray: expected a number at \[1\], got an array/);
    expect(() => fromArray([[[1], [2]], [[3], [4, 5]]])).toThrow(/ragged.*at \[1\]\[1\]/);
  });

  it('non-number leaves are rejected', () => {
    expect(() => fromArray(['a', 'b'] as unknown as number[])).toThrow(/fromArray: expected a number at \[0\], got string/);
    expect(() => fromArray([1, null] as unknown as number[])).toThrow(/expected a number at \[1\], got object/);
    expect(() => fromArray([[1, undefined]] as unknown as number[][])).toThrow(/at \[0\]\[1\], got undefined/);
    expect(() => fromArray('x' as unknown as number)).toThrow(/expected a number at the top level, got string/);
  });

  it('round-trips random nested arrays (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 3 }).chain((shape) => {
          const build = (d: number): fc.Arbitrary<unknown> => (d === shape.length
            ? fc.integer({ min: -1000, max: 1000 })
            : fc.array(build(d + 1), { minLength: shape[d], maxLength: shape[d] }));
          return fc.tuple(fc.constant(shape), build(0));
        }),
        ([shape, data]) => {
          const a = fromArray(data as number, { dtype: 'int32' });
          // dims after a 0 cannot be seen in the data: [] is shape [0], as torch.tensor([])
          const zero = shape.indexOf(0);
          expect(a.shape).toEqual(zero < 0 ? shape : shape.slice(0, zero + 1));
          expect(a.toArray()).toEqual(data);
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('filled arrays', () => {
  it('zeros, ones, full, scalar and *Like', () => {
    expect(zeros([2, 3]).toArray()).toEqual([[0, 0, 0], [0, 0, 0]]);
    expect(ones([2], { dtype: 'int32' }).toArray()).toEqual([1, 1]);
    expect(ones([2], { dtype: 'int32' }).dtype).toBe('int32');
    expect(full([2, 2], 7.5).toArray()).toEqual([[7.5, 7.5], [7.5, 7.5]]);
    expect(full([2], 0.1, { dtype: 'float64' }).toArray()).toEqual([0.1, 0.1]);
    expect(full([3], NaN).toArray()).toEqual([NaN, NaN, NaN]);
    expect(full([2], 2, { dtype: 'bool' }).toArray()).toEqual([1, 1]);
    expect(full([0, 3], 1).shape).toEqual([0, 3]);
    const s = scalar(4, { dtype: 'int32' });
    expect(s.shape).toEqual([]);
    expect(s.item()).toBe(4);
    expect(s.dtype).toBe('int32');
    const x = fromArray([[1, 2]], { dtype: 'float64' });
    expect(zerosLike(x).dtype).toBe('float64');
    expect(zerosLike(x).shape).toEqual([1, 2]);
    expect(onesLike(x, { dtype: 'int32' }).dtype).toBe('int32');
    expect(fullLike(x, 3).toArray()).toEqual([[3, 3]]);
    expect(zeros([]).item()).toBe(0);
  });

  it('invalid shapes are rejected naming the op', () => {
    expect(() => zeros([2, -1])).toThrow(/full: invalid shape \[2,-1\]: sizes must be non-negative integers/);
    expect(() => ones([1.5])).toThrow(/full: invalid shape \[1.5\]/);
    expect(() => full([NaN], 1)).toThrow(/full: invalid shape/);
    expect(() => eye(-1)).toThrow(/eye: invalid shape \[-1,-1\]/);
    expect(() => eye(2, 1.5)).toThrow(/eye: invalid shape \[2,1.5\]/);
    expect(() => rand([2, -3])).toThrow(/rand: invalid shape \[2,-3\]/);
    expect(() => randn([0.5])).toThrow(/randn: invalid shape/);
    expect(() => randint(0, 3, [-1])).toThrow(/randint: invalid shape/);
    expect(() => fromTyped(new Float32Array(0), [-1])).toThrow(/fromTyped: invalid shape/);
  });
});

describe('arange', () => {
  it('integer and fractional steps', () => {
    expect(arange(5).toArray()).toEqual([0, 1, 2, 3, 4]);
    expect(arange(2, 6).toArray()).toEqual([2, 3, 4, 5]);
    expect(arange(1, 10, 3).toArray()).toEqual([1, 4, 7]);
    expect(arange(0, 1, 0.25).toArray()).toEqual([0, 0.25, 0.5, 0.75]);
    expect(arange(0, 1, 0.1, { dtype: 'float64' }).size).toBe(10); // as torch.arange
    expect(arange(0, 1, 0.1, { dtype: 'float64' }).toArray()).toEqual(Array.from({ length: 10 }, (_, i) => i * 0.1));
    expect(arange(0, 0.95, 0.1).size).toBe(10);
    expect(arange(5, undefined, 1, { dtype: 'int32' }).dtype).toBe('int32');
    expect(arange(0).shape).toEqual([0]);
    expect(arange(3, 3).shape).toEqual([0]);
    expect(arange(3, 3, -1).shape).toEqual([0]);
  });

  it('negative steps', () => {
    expect(arange(5, 0, -1).toArray()).toEqual([5, 4, 3, 2, 1]);
    expect(arange(1, -1, -0.5).toArray()).toEqual([1, 0.5, 0, -0.5]);
    expect(arange(10, 0, -4).toArray()).toEqual([10, 6, 2]);
  });

  it('wrong-sign, zero and non-finite steps are errors', () => {
    expect(() => arange(0, 5, -1)).toThrow(/arange: step -1 has the wrong sign for start 0 and end 5/);
    expect(() => arange(5, 0)).toThrow(/arange: step 1 has the wrong sign/);
    expect(() => arange(0, 5, 0)).toThrow(/arange: step must be finite and non-zero, got 0/);
    expect(() => arange(0, 5, Infinity)).toThrow(/arange: step must be finite/);
    expect(() => arange(0, Infinity)).toThrow(/arange: start and end must be finite/);
    expect(() => arange(NaN)).toThrow(/arange/);
  });
});

describe('linspace', () => {
  it('endpoints are exact and values evenly spaced', () => {
    const l = linspace(0, 1, 5, { dtype: 'float64' });
    expect(l.toArray()).toEqual([0, 0.25, 0.5, 0.75, 1]);
    fc.assert(
      fc.property(
        fc.double({ min: -1e3, max: 1e3, noNaN: true }), fc.double({ min: -1e3, max: 1e3, noNaN: true }), fc.integer({ min: 2, max: 50 }),
        (a, b, n) => {
          const v = linspace(a, b, n, { dtype: 'float64' }).toArray() as number[];
          expect(v[0] === a).toBe(true); // === : the sign of a zero endpoint may differ
          expect(v[n - 1] === b).toBe(true);
          const step = (b - a) / (n - 1);
          for (let i = 0; i < n; i++) expect(Math.abs(v[i] - (a + i * step))).toBeLessThanOrEqual(1e-12 * (Math.abs(a) + Math.abs(b) + 1));
        },
      ),
      { numRuns: 50 },
    );
    expect(linspace(-1, 1, 3).toArray()).toEqual([-1, 0, 1]);
    expect(linspace(1, 0, 3).toArray()).toEqual([1, 0.5, 0]);
    expect((linspace(0.1, 0.7, 7).toArray() as number[])[6]).toBe(Math.fround(0.7));
  });

  it('steps 0 and 1, and bad steps', () => {
    expect(linspace(0, 10, 0).shape).toEqual([0]);
    expect(linspace(3, 10, 1).toArray()).toEqual([3]); // start, as torch.linspace
    expect(linspace(3, 10, 2).toArray()).toEqual([3, 10]);
    expect(linspace(0, 3, 4, { dtype: 'int32' }).toArray()).toEqual([0, 1, 2, 3]);
    expect(() => linspace(0, 1, -1)).toThrow(/linspace: steps must be a non-negative integer, got -1/);
    expect(() => linspace(0, 1, 2.5)).toThrow(/linspace: steps/);
  });
});

describe('eye', () => {
  it('square and rectangular', () => {
    expect(eye(3).toArray()).toEqual([[1, 0, 0], [0, 1, 0], [0, 0, 1]]);
    expect(eye(2, 3).toArray()).toEqual([[1, 0, 0], [0, 1, 0]]);
    expect(eye(3, 2).toArray()).toEqual([[1, 0], [0, 1], [0, 0]]);
    expect(eye(0).shape).toEqual([0, 0]);
    expect(eye(2, 2, { dtype: 'int32' }).dtype).toBe('int32');
    expect(eye(2, undefined, { dtype: 'bool' }).toArray()).toEqual([[1, 0], [0, 1]]);
  });
});

describe('creation errors a PyTorch user meets', () => {
  it('an unknown dtype lists the dtypes; int32 from non-integers or out of range values is refused, not truncated', () => {
    expect(() => fromArray([1, 2], { dtype: 'float16' as never })).toThrow(/fromArray: unknown dtype "float16"; expected one of float32, float64, int32, bool/);
    expect(() => zeros([2], { dtype: 'int64' as never })).toThrow(/unknown dtype "int64"; expected one of float32, float64, int32, bool/);
    expect(() => fromArray([1.5], { dtype: 'int32' })).toThrow(/fromArray: element 0 \(1\.5\) is not an int32/);
    expect(() => fromArray([[1], [2 ** 31]], { dtype: 'int32' })).toThrow(/element 1 \(2147483648\) is not an int32 \(an integer in -2\^31 \.\. 2\^31 - 1\)/);
    expect(Array.from(fromArray([-(2 ** 31), 2 ** 31 - 1], { dtype: 'int32' }).toTypedArray())).toEqual([-(2 ** 31), 2 ** 31 - 1]);
  });
});

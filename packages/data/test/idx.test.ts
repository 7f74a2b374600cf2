/**
 * IDX decoding: round trips of hand-encoded files for every type code and
 * several ranks, big-endian byte order, and every kind of corruption
 * (bad magic, unknown type, zero dims, truncation anywhere, trailing bytes),
 * in memory and from files (readIdxFile with and without a limit, readIdxHeader).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { IDX_TYPE_CODES, IdxFormatError, type IdxDType, parseIdx, readIdxFile, readIdxHeader } from '../src/index.js';

const ELEMENT_BYTES: Record<IdxDType, number> = { uint8: 1, int8: 1, int16: 2, int32: 4, float32: 4, float64: 8 };

/** A minimal IDX encoder, independent of the decoder under test. */
function encodeIdx(dtype: IdxDType, dims: readonly number[], values: readonly number[]): Uint8Array {
  const header = 4 + 4 * dims.length;
  const size = ELEMENT_BYTES[dtype];
  const out = new Uint8Array(header + values.length * size);
  const v = new DataView(out.buffer);
  v.setUint8(2, IDX_TYPE_CODES[dtype]);
  v.setUint8(3, dims.length);
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
  values.forEach((x, i) => {
    const at = header + i * size;
    if (dtype === 'uint8') v.setUint8(at, x);
    else if (dtype === 'int8') v.setInt8(at, x);
    else if (dtype === 'int16') v.setInt16(at, x, false);
    else if (dtype === 'int32') v.setInt32(at, x, false);
    else if (dtype === 'float32') v.setFloat32(at, x, false);
    else v.setFloat64(at, x, false);
  });
  return out;
}

/** Representative values of each type, extremes included (all exact in the type). */
const SAMPLES: Record<IdxDType, number[]> = {
  uint8: [0, 1, 7, 128, 254, 255],
  int8: [-128, -1, 0, 1, 100, 127],
  int16: [-32768, -300, -1, 0, 258, 32767],
  int32: [-(2 ** 31), -70000, -1, 0, 16909060, 2 ** 31 - 1],
  float32: [0, -0.5, 1.5, Math.fround(0.1), -Math.fround(3.4e38), Infinity],
  float64: [0, -0.1, 1 / 3, 1e-300, -1.7976931348623157e308, -Infinity],
};

const CTOR = { uint8: Uint8Array, int8: Int8Array, int16: Int16Array, int32: Int32Array, float32: Float32Array, float64: Float64Array };

const product = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);
const valuesFor = (dtype: IdxDType, n: number): number[] => Array.from({ length: n }, (_, i) => SAMPLES[dtype][(i * 5) % 6]);

describe('parseIdx', () => {
  const ranks: number[][] = [[6], [2, 3], [3, 2, 1], [1, 2, 3, 2], [0], [2, 0, 3]];
  for (const dtype of Object.keys(CTOR) as IdxDType[]) {
    it(`round-trips ${dtype} (type code 0x${IDX_TYPE_CODES[dtype].toString(16)}) at ranks 1 to 4 and with empty dims`, () => {
      for (const dims of ranks) {
        const values = valuesFor(dtype, product(dims));
        const out = parseIdx(encodeIdx(dtype, dims, values));
        expect(out.dtype).toBe(dtype);
        expect(out.dims).toEqual(dims);
        expect(out.data).toBeInstanceOf(CTOR[dtype]);
        expect(Array.from(out.data)).toEqual(values);
      }
    });
  }

  it('reads the data big-endian, whatever the alignment of the input', () => {
    const bytes = new Uint8Array([0, 0, 0x0b, 1, 0, 0, 0, 2, 0x01, 0x02, 0xff, 0xfe]);
    expect(Array.from(parseIdx(bytes).data)).toEqual([0x0102, -2]);
    // The same int32 file at an odd byte offset inside a larger buffer (as Node Buffers often are).
    const file = encodeIdx('int32', [2], [0x01020304, -5]);
    const big = new Uint8Array(file.length + 3);
    big.set(file, 3);
    expect(Array.from(parseIdx(big.subarray(3)).data)).toEqual([0x01020304, -5]);
    expect(Array.from(parseIdx(Buffer.from(file)).data)).toEqual([0x01020304, -5]);
  });

  it('returns data that does not alias the input', () => {
    const bytes = encodeIdx('uint8', [3], [1, 2, 3]);
    const out = parseIdx(bytes);
    bytes[4 + 4] = 99;
    expect(Array.from(out.data)).toEqual([1, 2, 3]);
    const bytes8 = encodeIdx('int8', [2], [-1, 1]);
    const out8 = parseIdx(bytes8);
    bytes8[8] = 5;
    expect(Array.from(out8.data)).toEqual([-1, 1]);
  });

  it('rejects a bad magic number, naming the input', () => {
    const good = encodeIdx('uint8', [2], [1, 2]);
    for (const at of [0, 1]) {
      const bad = good.slice();
      bad[at] = 1;
      expect(() => parseIdx(bad, 'my.idx')).toThrow(/^my\.idx: bad magic number/);
    }
    // A still-gzipped file, and a short one that is not IDX at all.
    expect(() => parseIdx(new Uint8Array([0x1f, 0x8b, 0x08, 0x00, 0, 0]), 'x.gz')).toThrow(/x\.gz: bad magic number \(first bytes 0x1f 0x8b 0x08 0x00\).*gzip/);
    expect(() => parseIdx(new Uint8Array([7]))).toThrow(/IDX data: bad magic number/);
    expect(() => parseIdx(good.slice(), 'f')).not.toThrow();
  });

  it('rejects unknown type codes', () => {
    for (const code of [0x00, 0x07, 0x0a, 0x0f, 0xff]) {
      const bad = encodeIdx('uint8', [2], [1, 2]);
      bad[2] = code;
      expect(() => parseIdx(bad, 'f')).toThrow(new RegExp(`^f: unknown type code 0x${code.toString(16).padStart(2, '0')}`));
    }
  });

  it('rejects zero dims', () => {
    expect(() => parseIdx(new Uint8Array([0, 0, 8, 0]), 'f')).toThrow(/^f: the header declares zero dims/);
    expect(() => parseIdx(new Uint8Array([0, 0, 8, 0, 1, 2]), 'f')).toThrow(IdxFormatError);
  });

  it('rejects a file truncated anywhere: in the magic, the dims or the data', () => {
    const file = encodeIdx('int16', [2, 3], [1, 2, 3, 4, 5, 6]); // 12 header bytes + 12 data bytes
    for (let len = 0; len < file.length; len++) {
      const cut = file.slice(0, len);
      const expected = len < 12 ? /^cut: truncated header/ : /^cut: truncated data: dims \[2, 3\] of int16 need 12 data bytes, got \d+$/;
      expect(() => parseIdx(cut, 'cut'), `length ${len}`).toThrow(expected);
      expect(() => parseIdx(cut, 'cut')).toThrow(IdxFormatError);
    }
    // Dims whose product is beyond any real file are reported as truncation too (not an allocation failure).
    expect(() => parseIdx(new Uint8Array([0, 0, 0x0e, 2, 255, 255, 255, 255, 255, 255, 255, 255]))).toThrow(/truncated data/);
  });

  it('rejects trailing bytes after the data', () => {
    const file = encodeIdx('float32', [2], [1, 2]);
    for (const extra of [1, 4, 9]) {
      const long = new Uint8Array(file.length + extra);
      long.set(file);
      expect(() => parseIdx(long, 'f')).toThrow(new RegExp(`^f: ${extra} trailing bytes after the data: dims \\[2\\] of float32 need 8 data bytes, got ${8 + extra}$`));
    }
  });

  it('rejects input that is not a Uint8Array', () => {
    expect(() => parseIdx([0, 0, 8, 1] as unknown as Uint8Array)).toThrow(TypeError);
  });
});

describe('readIdxFile / readIdxHeader', () => {
  const dir = mkdtempSync(join(tmpdir(), 'normlab-idx-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, bytes: Uint8Array): string => {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    return path;
  };

  it('reads a file whole, or only its first entries with a limit', () => {
    const values = valuesFor('float64', 4 * 3);
    const path = write('a.idx', encodeIdx('float64', [4, 3], values));
    expect(readIdxFile(path)).toEqual({ dtype: 'float64', dims: [4, 3], data: Float64Array.from(values) });
    expect(readIdxFile(path, { limit: 2 })).toEqual({ dtype: 'float64', dims: [2, 3], data: Float64Array.from(values.slice(0, 6)) });
    expect(readIdxFile(path, { limit: 0 }).dims).toEqual([0, 3]);
    expect(readIdxFile(path, { limit: 99 }).dims).toEqual([4, 3]);
    expect(readIdxHeader(path)).toEqual({ dtype: 'float64', dims: [4, 3] });
    expect(() => readIdxFile(path, { limit: -1 })).toThrow(/limit must be a non-negative integer/);
    expect(() => readIdxFile(path, { limit: 1.5 })).toThrow(RangeError);
  });

  it('names the path in errors, and checks the file size even when reading a prefix', () => {
    const file = encodeIdx('uint8', [4, 2], [1, 2, 3, 4, 5, 6, 7, 8]);
    const short = write('short.idx', file.subarray(0, file.length - 1));
    const long = write('long.idx', Uint8Array.from([...file, 0]));
    const bad = write('bad.idx', Uint8Array.from([1, ...file.subarray(1)]));
    const empty = write('empty.idx', new Uint8Array(0));
    for (const read of [(p: string) => readIdxFile(p), (p: string) => readIdxFile(p, { limit: 1 }), readIdxHeader]) {
      expect(() => read(short)).toThrow(`${short}: truncated data`);
      expect(() => read(long)).toThrow(`${long}: 1 trailing bytes`);
      expect(() => read(bad)).toThrow(`${bad}: bad magic number`);
      expect(() => read(empty)).toThrow(`${empty}: truncated header`);
      expect(() => read(join(dir, 'missing.idx'))).toThrow(/ENOENT/);
    }
  });
});

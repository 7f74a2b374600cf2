/**
 * The IDX file format of the MNIST distribution (http://yann.lecun.com/exdb/mnist/):
 *
 * | bytes         | meaning                                                      |
 * | ------------- | ------------------------------------------------------------ |
 * | 0-1           | magic: two zero bytes                                        |
 * | 2             | type code: 0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int, 0x0D float, 0x0E double |
 * | 3             | number of dims, 1..255                                       |
 * | 4..4+4*ndims  | each dim as a big-endian uint32                              |
 * | then          | the elements in row-major order, big-endian                  |
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';

/** Element types of IDX files, named after the typed arrays that hold them. */
export type IdxDType = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

/** The typed array each IDX element type decodes to (in the platform's byte order). */
export interface IdxTypedArrayMap {
  uint8: Uint8Array;
  int8: Int8Array;
  int16: Int16Array;
  int32: Int32Array;
  float32: Float32Array;
  float64: Float64Array;
}

/** A decoded IDX array: row-major `data` of `dims` (product of dims = data.length). */
export interface IdxArray {
  dtype: IdxDType;
  dims: number[];
  data: IdxTypedArrayMap[IdxDType];
}

/** What `parseIdx` and `readIdxFile` throw for malformed input. */
export class IdxFormatError extends Error {
  override name = 'IdxFormatError';
}

const TYPE_CODES: Record<number, { dtype: IdxDType; bytes: number }> = {
  0x08: { dtype: 'uint8', bytes: 1 },
  0x09: { dtype: 'int8', bytes: 1 },
  0x0b: { dtype: 'int16', bytes: 2 },
  0x0c: { dtype: 'int32', bytes: 4 },
  0x0d: { dtype: 'float32', bytes: 4 },
  0x0e: { dtype: 'float64', bytes: 8 },
};

/** The IDX type code of each element type (the inverse of the table above). */
export const IDX_TYPE_CODES: Readonly<Record<IdxDType, number>> = Object.freeze({
  uint8: 0x08, int8: 0x09, int16: 0x0b, int32: 0x0c, float32: 0x0d, float64: 0x0e,
});

const hex = (b: number): string => `0x${b.toString(16).padStart(2, '0')}`;

/** A parsed header: where the data starts and how many bytes it must have. */
interface IdxHeader {
  dtype: IdxDType;
  elementBytes: number;
  dims: number[];
  headerBytes: number;
  /** Elements per entry along dim 0 (product of dims[1:]). */
  rowElements: number;
}

/** Parses and checks the magic, type code and dims; `bytes` may hold only a prefix of the file. */
function parseHeader(bytes: Uint8Array, what: string): IdxHeader {
  // Check the magic on whatever bytes there are first: a short non-IDX file
  // should be reported as not IDX rather than as a truncated one.
  for (let i = 0; i < Math.min(2, bytes.length); i++) {
    if (bytes[i] !== 0) {
      const got = Array.from(bytes.subarray(0, Math.min(4, bytes.length)), hex).join(' ');
      throw new IdxFormatError(`${what}: bad magic number (first bytes ${got}); an IDX file starts with two zero bytes, a type code and a dim count (is it still gzip-compressed?)`);
    }
  }
  if (bytes.length < 4) throw new IdxFormatError(`${what}: truncated header: ${bytes.length} bytes, need at least 4 (magic, type code, dim count)`);
  const code = bytes[2];
  const type = TYPE_CODES[code];
  if (!type) {
    throw new IdxFormatError(`${what}: unknown type code ${hex(code)}; expected 0x08 (ubyte), 0x09 (byte), 0x0b (short), 0x0c (int), 0x0d (float) or 0x0e (double)`);
  }
  const ndims = bytes[3];
  if (ndims === 0) throw new IdxFormatError(`${what}: the header declares zero dims; an IDX array needs at least one`);
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) {
    throw new IdxFormatError(`${what}: truncated header: ${bytes.length} bytes, but ${ndims} dims need ${headerBytes}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, headerBytes);
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i, false));
  let rowElements = 1;
  for (let i = 1; i < ndims; i++) rowElements *= dims[i];
  return { dtype: type.dtype, elementBytes: type.bytes, dims, headerBytes, rowElements };
}

/** Checks that `dataBytes` bytes after the header are exactly what the dims need. */
function checkDataLength(h: IdxHeader, dataBytes: number, what: string): void {
  // Products of up to 255 uint32 dims can pass 2^53; they then are only
  // approximate, but still far larger than any real file, which is all the
  // comparison needs.
  const expected = h.dims[0] * h.rowElements * h.elementBytes;
  const desc = `dims [${h.dims.join(', ')}] of ${h.dtype} need ${expected} data bytes`;
  if (dataBytes < expected) throw new IdxFormatError(`${what}: truncated data: ${desc}, got ${dataBytes}`);
  if (dataBytes > expected) throw new IdxFormatError(`${what}: ${dataBytes - expected} trailing bytes after the data: ${desc}, got ${dataBytes}`);
}

/** Decodes `count` big-endian elements starting at `bytes[offset]` into a new typed array. */
function decode(bytes: Uint8Array, offset: number, count: number, dtype: IdxDType): IdxTypedArrayMap[IdxDType] {
  // The single-byte types are copied so the result never aliases the input
  // (a Node Buffer may even share a pooled ArrayBuffer with other data).
  if (dtype === 'uint8') return new Uint8Array(bytes.subarray(offset, offset + count));
  if (dtype === 'int8') return new Int8Array(bytes.buffer, bytes.byteOffset + offset, count).slice();
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset);
  switch (dtype) {
    case 'int16': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(2 * i, false);
      return out;
    }
    case 'int32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(4 * i, false);
      return out;
    }
    case 'float32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, false);
      return out;
    }
    case 'float64': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, false);
      return out;
    }
  }
}

/**
 * Decodes an IDX file held in memory (the format of the MNIST files).
 *
 * @param bytes The whole file; the result does not alias it.
 * @param what Names the input in error messages (a file path, say); 'IDX data' by default.
 * @returns The element type, the dims and the row-major elements as a typed
 *   array of that type (uint8 → Uint8Array, int8 → Int8Array, int16 → Int16Array,
 *   int32 → Int32Array, float32 → Float32Array, float64 → Float64Array).
 * @throws IdxFormatError on a bad magic number, an unknown type code, zero
 *   dims, a truncated header, or data shorter (truncated) or longer (trailing
 *   bytes) than the dims say.
 * @example
 * const { dtype, dims, data } = parseIdx(readFileSync('t10k-labels-idx1-ubyte'));
 * // 'uint8', [10000], Uint8Array [7, 2, 1, 0, ...]
 */
export function parseIdx(bytes: Uint8Array, what = 'IDX data'): IdxArray {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`parseIdx: expected a Uint8Array, got ${bytes === null ? 'null' : typeof bytes}`);
  const h = parseHeader(bytes, what);
  checkDataLength(h, bytes.length - h.headerBytes, what);
  return { dtype: h.dtype, dims: h.dims, data: decode(bytes, h.headerBytes, h.dims[0] * h.rowElements, h.dtype) };
}

/** Options of `readIdxFile`. */
export interface ReadIdxOptions {
  /**
   * Read only the first `limit` entries along dim 0 (dims[0] becomes
   * min(limit, dims[0])). The file's size is still checked against its header,
   * but only the needed bytes are read. All entries by default.
   */
  limit?: number;
}

/**
 * Reads and decodes an IDX file synchronously (see `parseIdx`); error
 * messages name the path.
 *
 * @example
 * const images = readIdxFile('train-images-idx3-ubyte', { limit: 100 });
 * images.dims; // [100, 28, 28]
 */
export function readIdxFile(path: string, options: ReadIdxOptions = {}): IdxArray {
  const { limit } = options;
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0)) {
    throw new RangeError(`readIdxFile: limit must be a non-negative integer, got ${limit}`);
  }
  if (limit === undefined) return parseIdx(readFileSync(path), path);
  return withIdxFile(path, (fd, h) => {
    const rows = Math.min(limit, h.dims[0]);
    const count = rows * h.rowElements;
    const body = new Uint8Array(count * h.elementBytes);
    let done = 0;
    while (done < body.length) {
      const n = readSync(fd, body, done, body.length - done, h.headerBytes + done);
      if (n === 0) throw new IdxFormatError(`${path}: the file shrank while being read`);
      done += n;
    }
    return { dtype: h.dtype, dims: [rows, ...h.dims.slice(1)], data: decode(body, 0, count, h.dtype) };
  });
}

/**
 * The element type and dims of an IDX file, reading only its header (the
 * file's size is checked against them, as `parseIdx` would).
 *
 * @example readIdxHeader('t10k-images-idx3-ubyte') // { dtype: 'uint8', dims: [10000, 28, 28] }
 */
export function readIdxHeader(path: string): { dtype: IdxDType; dims: number[] } {
  return withIdxFile(path, (_, h) => ({ dtype: h.dtype, dims: h.dims }));
}

/** Opens `path`, parses and checks its header against the file size, and runs `use`. */
function withIdxFile<R>(path: string, use: (fd: number, header: IdxHeader) => R): R {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    // The header is at most 4 + 4 * 255 bytes; read that much (or the whole file) to parse it.
    const head = new Uint8Array(Math.min(size, 4 + 4 * 255));
    let got = 0;
    while (got < head.length) {
      const n = readSync(fd, head, got, head.length - got, got);
      if (n === 0) break;
      got += n;
    }
    const h = parseHeader(head.subarray(0, got), path);
    checkDataLength(h, size - h.headerBytes, path);
    return use(fd, h);
  } finally {
    closeSync(fd);
  }
}

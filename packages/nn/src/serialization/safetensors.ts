/**
 * Checkpoints in the safetensors format (https://github.com/huggingface/safetensors),
 * so that files written here open in PyTorch, JAX, candle, ... and back.
 *
 * Layout of a file:
 *
 * ```text
 * [8 bytes]  N, unsigned 64-bit little-endian: the length of the header
 * [N bytes]  UTF-8 JSON header, padded with spaces so that N % 8 == 0:
 *            {"__metadata__": {"key": "value", ...},            (optional, strings only)
 *             "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
 * [rest]     the tensors' bytes, little-endian, row-major; offsets are relative
 *            to the first byte after the header, and the tensors tile the data
 *            section exactly: no gaps, no overlaps, the last one ends at end of file.
 * ```
 *
 * Writing follows the reference implementation byte for byte: compact JSON,
 * `__metadata__` first, tensors ordered by descending dtype alignment
 * (F64, F32, I32, BOOL) and then by name (code point order), laid out in that
 * order. Reading enforces the same rules as the reference reader (header at most
 * 100 MB, offsets tiling the data, sizes matching dtype x shape) plus unique keys,
 * and decodes everything before returning, so a bad file is never half-loaded.
 *
 * normlab's dtypes map to F32, F64, I32 and BOOL; with `int64`, int32 tensors
 * are written as I64 (PyTorch's integer type, e.g. BatchNorm's
 * num_batches_tracked). Reading also accepts F16 and
 * BF16 (as float32, exactly) and I8, U8, I16, U16, U32, I64, U64 (as int32, when
 * every value fits).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, fsyncSync, openSync, promises as fsp, readSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Tensor } from '@normlab/autograd';
import { type DType, NDArray, type TypedArray, fmtShape, fromTyped } from '@normlab/tensor';

/** A tensor, or a bare array, to save. */
export type SafetensorsValue = Tensor | NDArray;

/** What `serialize` and `save` accept: a state dict (`module.stateDict()`) or a plain record. */
export type SafetensorsState = ReadonlyMap<string, SafetensorsValue> | Readonly<Record<string, SafetensorsValue>>;

/** Options of `save` / `saveSync`. */
export interface SaveOptions extends SerializeOptions {
  /** Free-form string pairs stored under `__metadata__` (e.g. `{ format: 'pt' }`). */
  metadata?: Record<string, string>;
}

/** Options of `serialize` (and of `save` / `saveSync`). */
export interface SerializeOptions {
  /**
   * Write int32 tensors as I64, sign-extended: PyTorch's integer tensors are
   * int64 (BatchNorm's `num_batches_tracked`), so a checkpoint for PyTorch
   * has them so. false by default (I32). Reading takes either back as int32.
   */
  int64?: boolean;
}

/** What `deserialize` returns. */
export interface Deserialized {
  /** The tensors, in file order. */
  tensors: Map<string, Tensor>;
  /** The `__metadata__` pairs ({} when the file has none). */
  metadata: Record<string, string>;
}

/** A file or buffer that is not valid safetensors, or a state that cannot be written as one. */
export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

// ---- dtypes ------------------------------------------------------------------

/** The reference reader's limit: a larger header is taken as corruption (or an attack). */
const MAX_HEADER_SIZE = 100_000_000;
const METADATA_KEY = '__metadata__';

const TO_CODE: Record<DType, string> = { float64: 'F64', float32: 'F32', int32: 'I32', bool: 'BOOL' };

/** Bytes per element of every dtype we can read. */
const ITEM_SIZE: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8,
};

/** Codes of the format that exist but that normlab has no dtype for. */
const UNSUPPORTED = new Set(['F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'F6_E2M3', 'F6_E3M2', 'F4', 'C64']);

/**
 * Write order: the reference sorts by descending position in its Dtype enum,
 * which lists the types by increasing alignment (..., I32, U32, F32, F64, I64, U64).
 */
const WRITE_RANK: Record<string, number> = { I64: 0, F64: 1, F32: 2, I32: 3, BOOL: 4 };

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---- writing -----------------------------------------------------------------

interface Prepared {
  /** The 8-byte length and the padded header. */
  head: Uint8Array;
  /** Each tensor's bytes, in file order. */
  chunks: Uint8Array[];
}

/** Code point order, as Rust compares strings (JS `<` compares UTF-16 units). */
function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return x.done ? (y.done ? 0 : -1) : 1;
    const d = (x.value.codePointAt(0) ?? 0) - (y.value.codePointAt(0) ?? 0);
    if (d !== 0) return d;
  }
}

/** Lone surrogates cannot be encoded as UTF-8, so other readers would reject the header. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function checkText(what: string, s: string): void {
  if (LONE_SURROGATE.test(s)) throw new SafetensorsError(`safetensors: ${what} ${JSON.stringify(s)} contains a lone UTF-16 surrogate, which UTF-8 cannot encode`);
}

/** The little-endian bytes of an array's elements in row-major order (a fresh copy); int32 as I64 when `int64`. */
function bytesOf(arr: NDArray, int64: boolean): Uint8Array {
  const typed: TypedArray = arr.toTypedArray();
  if (int64 && typed instanceof Int32Array) {
    const wide = new Uint8Array(typed.length * 8);
    const view = new DataView(wide.buffer);
    for (let i = 0; i < typed.length; i++) view.setBigInt64(i * 8, BigInt(typed[i]), true);
    return wide;
  }
  const bytes = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
  if (!LITTLE_ENDIAN && typed.BYTES_PER_ELEMENT > 1) swapBytes(bytes, typed.BYTES_PER_ELEMENT);
  return bytes;
}

/** Reverses each `width`-byte group in place (host order <-> little-endian on big-endian hosts). */
function swapBytes(bytes: Uint8Array, width: number): void {
  for (let i = 0; i < bytes.length; i += width) bytes.subarray(i, i + width).reverse();
}

function prepare(state: SafetensorsState, metadata: Record<string, string> | undefined, options: SerializeOptions): Prepared {
  const codeOf = (arr: NDArray): string => (options.int64 && arr.dtype === 'int32' ? 'I64' : TO_CODE[arr.dtype]);
  const entries: [string, SafetensorsValue][] = state instanceof Map ? [...state.entries()] : Object.entries(state);
  const items = entries.map(([name, value]) => {
    if (name === METADATA_KEY) throw new SafetensorsError(`safetensors: '${METADATA_KEY}' is reserved for metadata and cannot name a tensor`);
    checkText('tensor name', name);
    const arr = value instanceof Tensor ? value.data : value;
    if (!(arr instanceof NDArray)) throw new SafetensorsError(`safetensors: '${name}' is not a Tensor or NDArray`);
    return { name, arr };
  });
  items.sort((a, b) => WRITE_RANK[codeOf(a.arr)] - WRITE_RANK[codeOf(b.arr)] || compareCodePoints(a.name, b.name));

  // Built by hand, not with JSON.stringify(object): objects move integer-like keys ('0', '1') first.
  const fields: string[] = [];
  if (metadata !== undefined) {
    const pairs = Object.entries(metadata).map(([k, v]) => {
      if (typeof v !== 'string') throw new SafetensorsError(`safetensors: metadata value of '${k}' must be a string, got ${typeof v}`);
      checkText('metadata key', k);
      checkText('metadata value', v);
      return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
    });
    fields.push(`${JSON.stringify(METADATA_KEY)}:{${pairs.join(',')}}`);
  }
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const { name, arr } of items) {
    const bytes = bytesOf(arr, options.int64 === true);
    fields.push(`${JSON.stringify(name)}:{"dtype":"${codeOf(arr)}","shape":[${arr.shape.join(',')}],"data_offsets":[${offset},${offset + bytes.length}]}`);
    offset += bytes.length;
    chunks.push(bytes);
  }
  const json = new TextEncoder().encode(`{${fields.join(',')}}`);
  // Padding to 8 bytes keeps every tensor's data 8-byte aligned in the file (for mmap readers).
  const n = Math.ceil(json.length / 8) * 8;
  const head = new Uint8Array(8 + n).fill(0x20, 8 + json.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(n), true);
  head.set(json, 8);
  return { head, chunks };
}

/**
 * The safetensors bytes of `state` (a state dict or a record of tensors),
 * with `metadata` under `__metadata__` when given. The output is what the
 * reference implementation writes for the same tensors.
 */
export function serialize(state: SafetensorsState, metadata?: Record<string, string>, options: SerializeOptions = {}): Uint8Array {
  const { head, chunks } = prepare(state, metadata, options);
  const out = new Uint8Array(head.length + chunks.reduce((s, c) => s + c.length, 0));
  out.set(head, 0);
  let at = head.length;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

// ---- reading -----------------------------------------------------------------

interface Entry {
  name: string;
  code: string;
  shape: number[];
  begin: number;
  end: number;
}

/** A validated header: where each tensor lies in the data section. */
interface Plan {
  /** Bytes before the data section (8 + N). */
  dataStart: number;
  /** Entries sorted by offset. */
  entries: Entry[];
  metadata: Record<string, string>;
}

/** Thrown inside the reader; the callers prefix the file name. */
function fail(problem: string): never {
  throw new SafetensorsError(problem);
}

/** The header length N from the first 8 bytes, checked against the limit and the file size. */
function headerLength(first8: Uint8Array, fileSize: number): number {
  if (fileSize < 8) fail(`file is ${fileSize} bytes, too short for the 8-byte header length (truncated?)`);
  const n = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_SIZE)) fail(`header length ${n} exceeds the ${MAX_HEADER_SIZE}-byte limit (corrupted length?)`);
  const len = Number(n);
  if (8 + len > fileSize) fail(`header length ${len} runs past the end of the ${fileSize}-byte file (truncated or corrupted length)`);
  return len;
}

/**
 * Rejects a repeated key in any JSON object of the header: JSON.parse keeps
 * the last silently, while other readers may keep the first or fail.
 */
function checkUniqueKeys(json: string): void {
  const stack: (Set<string> | null)[] = []; // a Set per open object, null per open array
  let expectKey = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '"') {
      let j = i + 1;
      while (j < json.length && json[j] !== '"') j += json[j] === '\\' ? 2 : 1;
      const keys = stack[stack.length - 1];
      if (expectKey && keys) {
        let key: unknown;
        try {
          key = JSON.parse(json.slice(i, j + 1));
        } catch {
          return; // malformed: JSON.parse reports it properly
        }
        if (typeof key === 'string') {
          if (keys.has(key)) fail(`header repeats the key ${JSON.stringify(key)}`);
          keys.add(key);
        }
      }
      expectKey = false;
      i = j;
    } else if (c === '{') {
      stack.push(new Set());
      expectKey = true;
    } else if (c === '[') {
      stack.push(null);
      expectKey = false;
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',') {
      expectKey = stack[stack.length - 1] instanceof Set;
    }
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Parses and checks the header bytes (everything short of decoding data) against the file size. */
function parseHeader(headerBytes: Uint8Array, fileSize: number): Plan {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    fail('header is not valid UTF-8');
  }
  if (!text.startsWith('{')) fail(`header does not start with '{' (got ${JSON.stringify(text.slice(0, 16))})`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    fail(`header is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!isRecord(parsed)) fail('header is not a JSON object');
  checkUniqueKeys(text);

  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, info] of Object.entries(parsed)) {
    if (name === METADATA_KEY) {
      if (!isRecord(info)) fail(`'${METADATA_KEY}' is not an object of strings`);
      for (const [k, v] of Object.entries(info)) {
        if (typeof v !== 'string') fail(`'${METADATA_KEY}' value of ${JSON.stringify(k)} is not a string`);
      }
      // fromEntries defines properties, so even a '__proto__' key is kept (assignment would drop it).
      metadata = Object.fromEntries(Object.entries(info).map(([k, v]) => [k, String(v)]));
      continue;
    }
    const where = `tensor ${JSON.stringify(name)}`;
    if (!isRecord(info)) fail(`${where}: entry is not an object`);
    const { dtype: code, shape, data_offsets: offsets } = info;
    if (typeof code !== 'string') fail(`${where}: 'dtype' is missing or not a string`);
    if (UNSUPPORTED.has(code)) fail(`${where}: dtype ${code} is not supported (normlab has float32, float64, int32 and bool)`);
    if (!Object.hasOwn(ITEM_SIZE, code)) fail(`${where}: unknown dtype ${JSON.stringify(code)}`);
    if (!Array.isArray(shape) || !shape.every(isIndex)) fail(`${where}: 'shape' must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex)) {
      fail(`${where}: 'data_offsets' must be [begin, end] with non-negative integers, got ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets;
    if (end < begin) fail(`${where}: data_offsets [${begin}, ${end}] end before they begin`);
    let count = 1;
    for (const d of shape) count *= d;
    const bytes = count * ITEM_SIZE[code];
    if (!Number.isSafeInteger(bytes)) fail(`${where}: shape ${fmtShape(shape)} is too large`);
    if (bytes !== end - begin) {
      fail(`${where}: ${code} ${fmtShape(shape)} needs ${bytes} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`);
    }
    entries.push({ name, code, shape, begin, end });
  }

  // The tensors must tile the data section: each begins where the previous one ended.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (const e of entries) {
    if (e.begin < pos) fail(`tensor ${JSON.stringify(e.name)}: data_offsets [${e.begin}, ${e.end}] overlap the previous tensor, which ends at ${pos}`);
    if (e.begin > pos) fail(`tensor ${JSON.stringify(e.name)}: data_offsets [${e.begin}, ${e.end}] leave a hole after byte ${pos}`);
    pos = e.end;
  }
  const dataStart = 8 + headerBytes.length;
  const dataSize = fileSize - dataStart;
  if (pos > dataSize) fail(`data section is ${dataSize} bytes but the header describes ${pos} (truncated file)`);
  if (pos < dataSize) fail(`data section is ${dataSize} bytes but the header describes only ${pos} (trailing bytes)`);
  return { dataStart, entries, metadata };
}

/** Reads `count` little-endian elements of `width` bytes with `get` (DataView accessor). */
function readEach(bytes: Uint8Array, count: number, width: number, get: (view: DataView, at: number) => number): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Array<number>(count);
  for (let i = 0; i < count; i++) out[i] = get(view, i * width);
  return out;
}

/** Big-endian scratch for bit casts. */
const scratch = new DataView(new ArrayBuffer(4));

/** IEEE half to float (exact in float32). */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Widens integers to int32, or fails naming the first value that does not fit. */
function toInt32(values: ArrayLike<number | bigint>, where: string, code: string): Int32Array {
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < -2147483648 || v > 2147483647) fail(`${where}: ${code} value ${v} at index ${i} does not fit in int32, normlab's only integer dtype`);
    out[i] = Number(v);
  }
  return out;
}

/**
 * The tensor for `bytes` (a fresh buffer, at offset 0, that the result may
 * take over). Native dtypes wrap the buffer without copying on little-endian hosts.
 */
function decode(e: Entry, bytes: Uint8Array): NDArray {
  const where = `tensor ${JSON.stringify(e.name)}`;
  const n = bytes.length / ITEM_SIZE[e.code];
  const aligned = LITTLE_ENDIAN && bytes.byteOffset === 0;
  let data: TypedArray;
  switch (e.code) {
    case 'F32':
      data = aligned ? new Float32Array(bytes.buffer, 0, n) : Float32Array.from(readEach(bytes, n, 4, (v, at) => v.getFloat32(at, true)));
      break;
    case 'F64':
      data = aligned ? new Float64Array(bytes.buffer, 0, n) : Float64Array.from(readEach(bytes, n, 8, (v, at) => v.getFloat64(at, true)));
      break;
    case 'I32':
      data = aligned ? new Int32Array(bytes.buffer, 0, n) : Int32Array.from(readEach(bytes, n, 4, (v, at) => v.getInt32(at, true)));
      break;
    case 'BOOL': {
      // Our bool storage is 0/1 and ops rely on it; anything else is corruption.
      const bad = bytes.findIndex((b) => b > 1);
      if (bad >= 0) fail(`${where}: BOOL byte ${bytes[bad]} at index ${bad} is neither 0 nor 1`);
      data = bytes;
      break;
    }
    case 'F16':
      data = Float32Array.from(readEach(bytes, n, 2, (v, at) => halfToFloat(v.getUint16(at, true))));
      break;
    case 'BF16':
      // bfloat16 is the top half of a float32.
      data = Float32Array.from(readEach(bytes, n, 2, (v, at) => {
        scratch.setUint16(0, v.getUint16(at, true));
        scratch.setUint16(2, 0);
        return scratch.getFloat32(0);
      }));
      break;
    case 'U8':
      data = Int32Array.from(bytes);
      break;
    case 'I8':
      data = Int32Array.from(new Int8Array(bytes.buffer, bytes.byteOffset, n));
      break;
    case 'I16':
      data = Int32Array.from(readEach(bytes, n, 2, (v, at) => v.getInt16(at, true)));
      break;
    case 'U16':
      data = Int32Array.from(readEach(bytes, n, 2, (v, at) => v.getUint16(at, true)));
      break;
    case 'U32':
      data = toInt32(readEach(bytes, n, 4, (v, at) => v.getUint32(at, true)), where, e.code);
      break;
    case 'I64':
    case 'U64': {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const wide = new Array<bigint>(n);
      for (let i = 0; i < n; i++) wide[i] = e.code === 'I64' ? view.getBigInt64(i * 8, true) : view.getBigUint64(i * 8, true);
      data = toInt32(wide, where, e.code);
      break;
    }
    default:
      fail(`${where}: unknown dtype ${e.code}`);
  }
  return fromTyped(data, e.shape);
}

/**
 * Parses safetensors bytes into tensors and metadata. The bytes are copied,
 * so the input may be reused. Throws a `SafetensorsError` naming the problem
 * for anything that is not a well-formed file.
 */
export function deserialize(bytes: Uint8Array): Deserialized {
  try {
    const n = headerLength(bytes.subarray(0, 8), bytes.length);
    const plan = parseHeader(bytes.subarray(8, 8 + n), bytes.length);
    const tensors = new Map<string, Tensor>();
    for (const e of plan.entries) {
      tensors.set(e.name, new Tensor(decode(e, bytes.slice(plan.dataStart + e.begin, plan.dataStart + e.end))));
    }
    return { tensors, metadata: plan.metadata };
  } catch (e) {
    if (e instanceof SafetensorsError) throw new SafetensorsError(`safetensors: ${e.message}`);
    throw e;
  }
}

// ---- files -------------------------------------------------------------------

function wrapFileError(action: 'load' | 'save', path: string, e: unknown): SafetensorsError {
  const problem = e instanceof Error ? e.message : String(e);
  return new SafetensorsError(`safetensors: cannot ${action} '${path}': ${problem}`, { cause: e });
}

/** Fills `buf` from the file at `position`, or fails when the file is shorter (changed under us). */
function readFullySync(fd: number, buf: Uint8Array, position: number): void {
  let done = 0;
  while (done < buf.length) {
    const got = readSync(fd, buf, done, buf.length - done, position + done);
    if (got === 0) fail(`file ended at byte ${position + done} while reading (truncated during load?)`);
    done += got;
  }
}

/**
 * Loads a safetensors file as a state dict, ready for `module.loadStateDict`.
 * The file is read tensor by tensor (no whole-file buffer), after the header
 * has been validated against the file size. Throws a `SafetensorsError`
 * naming the file and the problem; nothing is returned from a bad file.
 */
export function loadSync(path: string): Map<string, Tensor> {
  let fd = -1;
  try {
    fd = openSync(path, 'r');
    const size = fstatSync(fd).size;
    const first8 = new Uint8Array(8);
    if (size >= 8) readFullySync(fd, first8, 0);
    const n = headerLength(first8, size);
    const header = new Uint8Array(n);
    readFullySync(fd, header, 8);
    const plan = parseHeader(header, size);
    const tensors = new Map<string, Tensor>();
    for (const e of plan.entries) {
      const buf = new Uint8Array(e.end - e.begin);
      readFullySync(fd, buf, plan.dataStart + e.begin);
      tensors.set(e.name, new Tensor(decode(e, buf)));
    }
    return tensors;
  } catch (e) {
    throw wrapFileError('load', path, e);
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/** `loadSync` with non-blocking reads. */
export async function load(path: string): Promise<Map<string, Tensor>> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(path, 'r');
    const handle = fh;
    const size = (await handle.stat()).size;
    const readFully = async (buf: Uint8Array, position: number): Promise<void> => {
      let done = 0;
      while (done < buf.length) {
        const { bytesRead } = await handle.read(buf, done, buf.length - done, position + done);
        if (bytesRead === 0) fail(`file ended at byte ${position + done} while reading (truncated during load?)`);
        done += bytesRead;
      }
    };
    const first8 = new Uint8Array(8);
    if (size >= 8) await readFully(first8, 0);
    const n = headerLength(first8, size);
    const header = new Uint8Array(n);
    await readFully(header, 8);
    const plan = parseHeader(header, size);
    const tensors = new Map<string, Tensor>();
    for (const e of plan.entries) {
      const buf = new Uint8Array(e.end - e.begin);
      await readFully(buf, plan.dataStart + e.begin);
      tensors.set(e.name, new Tensor(decode(e, buf)));
    }
    return tensors;
  } catch (e) {
    throw wrapFileError('load', path, e);
  } finally {
    await fh?.close();
  }
}

/** A name beside `path` (same directory, so the rename stays on one filesystem and is atomic). */
function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/** Makes the rename itself durable; best effort, since some platforms cannot open a directory. */
function syncDirSync(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // not supported here (e.g. Windows); the data itself was synced
  }
}

/**
 * Writes `state` to `path` atomically: the bytes go to a temporary file in
 * the same directory, which is synced to disk and then renamed over `path`.
 * A crash or error leaves either the old file or the new one, never a mix,
 * and the temporary file is removed on failure.
 */
export function saveSync(path: string, state: SafetensorsState, options: SaveOptions = {}): void {
  const { head, chunks } = prepare(state, options.metadata, options); // invalid state: fail before touching disk
  const tmp = tempPathFor(path);
  let fd = -1;
  try {
    fd = openSync(tmp, 'wx');
    for (const chunk of [head, ...chunks]) {
      for (let done = 0; done < chunk.length; ) done += writeSync(fd, chunk, done, chunk.length - done);
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    renameSync(tmp, path);
  } catch (e) {
    if (fd >= 0) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // never created, or already renamed
    }
    throw wrapFileError('save', path, e);
  }
  syncDirSync(dirname(path));
}

/** `saveSync` with non-blocking writes. */
export async function save(path: string, state: SafetensorsState, options: SaveOptions = {}): Promise<void> {
  const { head, chunks } = prepare(state, options.metadata, options);
  const tmp = tempPathFor(path);
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(tmp, 'wx');
    for (const chunk of [head, ...chunks]) {
      for (let done = 0; done < chunk.length; ) done += (await fh.write(chunk, done, chunk.length - done)).bytesWritten;
    }
    await fh.sync();
    await fh.close();
    fh = undefined;
    await fsp.rename(tmp, path);
  } catch (e) {
    await fh?.close().catch(() => undefined);
    await fsp.unlink(tmp).catch(() => undefined);
    throw wrapFileError('save', path, e);
  }
  syncDirSync(dirname(path));
}

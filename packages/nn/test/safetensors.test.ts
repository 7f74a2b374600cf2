/**
 * safetensors checkpoints: bit-exact round trips, module state, byte-level
 * golden files (the reference implementation's own test vectors), rejection of
 * corrupted files, and atomic writes.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Tensor, tensor } from '@normlab/autograd';
import { Generator, type NDArray, type TypedArray, fromTyped } from '@normlab/tensor';
import { Linear, Module, ReLU, Sequential, init } from '../src/index.js';
import { SafetensorsError, deserialize, load, loadSync, save, saveSync, serialize } from '../src/serialization/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'normlab-safetensors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const enc = new TextEncoder();

/** The raw bytes of a typed array, to compare bit for bit (NaN payloads, -0). */
const rawBytes = (t: TypedArray): number[] => Array.from(new Uint8Array(t.buffer, t.byteOffset, t.byteLength));

/** A file built by hand: length prefix (N by default), header text, data bytes. */
function file(header: string, data: ArrayLike<number> = [], n?: number): Uint8Array {
  const h = enc.encode(header);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(n ?? h.length), true);
  out.set(h, 8);
  out.set(Array.from(data), 8 + h.length);
  return out;
}

const le = (ctor: Float32ArrayConstructor | Float64ArrayConstructor | Int32ArrayConstructor, values: number[]): number[] => rawBytes(ctor.from(values));

function expectSame(a: NDArray, b: NDArray): void {
  expect(b.dtype).toBe(a.dtype);
  expect(b.shape).toEqual(a.shape);
  expect(rawBytes(b.toTypedArray())).toEqual(rawBytes(a.toTypedArray()));
}

describe('round trip', () => {
  const nanBits = new Float32Array(new Uint32Array([0x7fc00001, 0xffc00000]).buffer);
  const cases: Record<string, NDArray> = {
    f32: fromTyped(Float32Array.from([1.5, -0, 0, NaN, Infinity, -Infinity, 3.4e38, 1e-45, nanBits[0], nanBits[1], Math.PI, -7]), [3, 4]),
    f64: fromTyped(Float64Array.from([-0, NaN, Infinity, -Infinity, Number.MIN_VALUE, Number.MAX_VALUE]), [2, 3]),
    i32: fromTyped(Int32Array.from([-2147483648, 2147483647, 0, -1, 7]), [5]),
    bool: fromTyped(Uint8Array.from([1, 0, 0, 1, 1, 0]), [2, 1, 3]),
    scalarF32: fromTyped(Float32Array.from([-0]), []),
    scalarF64: fromTyped(Float64Array.from([2.5]), []),
    scalarI32: fromTyped(Int32Array.from([-9]), []),
    scalarBool: fromTyped(Uint8Array.from([1]), []),
    emptyF32: fromTyped(new Float32Array(0), [0]),
    emptyF64: fromTyped(new Float64Array(0), [2, 0, 3]),
    emptyI32: fromTyped(new Int32Array(0), [0, 4]),
    emptyBool: fromTyped(new Uint8Array(0), [0]),
  };

  it('keeps every dtype, shape and bit, 0-D and empty tensors included', () => {
    const { tensors, metadata } = deserialize(serialize(cases, { note: 'hi ✓', empty: '' }));
    expect(metadata).toEqual({ note: 'hi ✓', empty: '' });
    expect(Object.keys(deserialize(serialize({}, Object.fromEntries([['__proto__', 'x']]))).metadata)).toEqual(['__proto__']);
    expect([...tensors.keys()].sort()).toEqual(Object.keys(cases).sort());
    for (const [k, v] of Object.entries(cases)) expectSame(v, tensors.get(k)!.data);
    expect(Object.is(tensors.get('scalarF32')!.item(), -0)).toBe(true);
  });

  it('writes views in logical row-major order and accepts Tensors and Maps', () => {
    const base = fromTyped(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
    const t = base.transpose(0, 1);
    const out = deserialize(serialize(new Map([['t', new Tensor(t)]]))).tensors.get('t')!;
    expect(out.shape).toEqual([3, 2]);
    expect(Array.from(out.data.toTypedArray())).toEqual([1, 4, 2, 5, 3, 6]);
    expect(out.requiresGrad).toBe(false);
  });

  it('an empty state gives an empty map and no metadata', () => {
    expect(deserialize(serialize({}))).toEqual({ tensors: new Map(), metadata: {} });
  });

  it('rejects what cannot be written', () => {
    expect(() => serialize({ __metadata__: tensor([1]) })).toThrow(/reserved/);
    expect(() => serialize({ x: tensor([1]) }, { k: 'bad \uD800' })).toThrow(/surrogate/);
  });
});

/** A module with buffers of three dtypes, as BatchNorm keeps running statistics. */
class Stats extends Module {
  readonly net = new Sequential(new Linear(3, 4), new ReLU(), new Linear(4, 2));
  declare mean: Tensor;
  declare steps: Tensor;
  declare mask: Tensor;
  constructor(seed: number) {
    super();
    const g = new Generator(seed);
    for (const p of this.parameters()) init.uniform(p, -1, 1, g);
    this.registerBuffer('mean', tensor([seed, -seed]));
    this.registerBuffer('steps', tensor([seed * 10], { dtype: 'int32' }));
    this.registerBuffer('mask', tensor([true, seed % 2 === 1]));
  }
  forward(x: Tensor): Tensor {
    return this.net.forward(x).sub(this.mean).mul(this.mask);
  }
}

describe('modules', () => {
  const x = tensor([[0.5, -1, 2], [3, 0.25, -0.75]]);

  it('a saved Sequential loads into a fresh one with identical outputs', async () => {
    const a = new Sequential(new Linear(3, 5), new ReLU(), new Linear(5, 2));
    const b = new Sequential(new Linear(3, 5), new ReLU(), new Linear(5, 2));
    const path = join(dir, 'seq.safetensors');
    await save(path, a.stateDict(), { metadata: { format: 'pt' } });
    b.loadStateDict(await load(path));
    expect(rawBytes(b.forward(x).data.toTypedArray())).toEqual(rawBytes(a.forward(x).data.toTypedArray()));
  });

  it('parameters and buffers come back through saveSync / loadSync', () => {
    const a = new Stats(3);
    const b = new Stats(8);
    const path = join(dir, 'stats.safetensors');
    saveSync(path, a.stateDict());
    const state = loadSync(path);
    expect([...state.keys()].sort()).toEqual([...a.stateDict().keys()].sort());
    b.loadStateDict(state);
    for (const [k, v] of a.stateDict()) expectSame(v.data, b.stateDict().get(k)!.data);
    expect(b.steps.dtype).toBe('int32');
    expect(b.mask.dtype).toBe('bool');
    expect(rawBytes(b.forward(x).data.toTypedArray())).toEqual(rawBytes(a.forward(x).data.toTypedArray()));
  });
});

describe('golden bytes', () => {
  it('matches the reference implementation for one F32 tensor', () => {
    const out = serialize({ 'attn.0': fromTyped(Float32Array.from([0, 1, 2, 3, 4, 5]), [1, 2, 3]) });
    // From safetensors' own test_serialization: 64-byte header, no padding needed.
    expect(Array.from(out)).toEqual([
      64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100,
      116, 121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34,
      58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102, 115,
      101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63,
      0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
    ]);
  });

  it('pads the header with spaces to 8 bytes', () => {
    const out = serialize({ attn0: fromTyped(Float32Array.from([0, 1, 2, 3, 4, 5]), [1, 1, 2, 3]) });
    const header = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}' + ' '.repeat(7);
    expect(Array.from(out)).toEqual([72, 0, 0, 0, 0, 0, 0, 0, ...enc.encode(header), ...le(Float32Array, [0, 1, 2, 3, 4, 5])]);
    // The reference's empty files, without and with metadata.
    expect(Array.from(serialize({}))).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
    expect(Array.from(serialize({}, { framework: 'pt' }))).toEqual([40, 0, 0, 0, 0, 0, 0, 0, ...enc.encode('{"__metadata__":{"framework":"pt"}}     ')]);
  });

  it('orders tensors by dtype alignment, then name, with metadata first', () => {
    const out = serialize(
      {
        a: fromTyped(Uint8Array.from([1, 0, 1]), [3]),
        b: fromTyped(Int32Array.from([-1, 258]), [2]),
        d: fromTyped(Float32Array.from([0.5]), [1]),
        c: fromTyped(Float64Array.from([-2.5]), []),
      },
      { format: 'pt' },
    );
    const header =
      '{"__metadata__":{"format":"pt"},' +
      '"c":{"dtype":"F64","shape":[],"data_offsets":[0,8]},' +
      '"d":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},' +
      '"b":{"dtype":"I32","shape":[2],"data_offsets":[12,20]},' +
      '"a":{"dtype":"BOOL","shape":[3],"data_offsets":[20,23]}}' +
      '       '; // 249 bytes + 7 spaces = 256
    const data = [0, 0, 0, 0, 0, 0, 4, 192, /* -2.5 */ 0, 0, 0, 63, /* 0.5 */ 255, 255, 255, 255, 2, 1, 0, 0, /* -1, 258 */ 1, 0, 1];
    expect(Array.from(out)).toEqual([0, 1, 0, 0, 0, 0, 0, 0, ...enc.encode(header), ...data]);
  });

  it('with int64, writes int32 tensors as I64 (sign-extended, first: the widest alignment), and reads them back as int32', () => {
    const out = serialize({ n: fromTyped(Int32Array.from([-2, 7]), [2]), w: fromTyped(Float64Array.from([-2.5]), []) }, undefined, { int64: true });
    const header = '{"n":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},"w":{"dtype":"F64","shape":[],"data_offsets":[16,24]}}'; // 109 bytes + 3 spaces
    const data = [254, 255, 255, 255, 255, 255, 255, 255, 7, 0, 0, 0, 0, 0, 0, 0, /* -2.5 */ 0, 0, 0, 0, 0, 0, 4, 192];
    expect(Array.from(out)).toEqual([112, 0, 0, 0, 0, 0, 0, 0, ...enc.encode(header), 32, 32, 32, ...data]);
    const back = deserialize(out).tensors.get('n')!;
    expect([back.dtype, ...back.toArray() as number[]]).toEqual(['int32', -2, 7]);
  });

  it('names sort by code point and integer-like names keep that order', () => {
    const one = fromTyped(Int32Array.from([1]), []);
    const names = [...deserialize(serialize({ b: one, '10': one, '9': one, '\u{1F600}': one, '\uFFFD': one, A: one })).tensors.keys()];
    expect(names).toEqual(['10', '9', 'A', 'b', '\uFFFD', '\u{1F600}']);
  });

  it('reads files of other writers: the reference doc example, any key order, padding', () => {
    const doc = file('{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}', new Uint8Array(16));
    expect(doc[0]).toBe(60);
    expect(Array.from(deserialize(doc).tensors.get('test')!.data.toTypedArray())).toEqual([0, 0, 0, 0]);
    const unsorted = file(
      '{"z":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"__metadata__":{"k":"v"},"y":{"shape":[1],"data_offsets":[0,4],"dtype":"I32"}}   ',
      [...le(Int32Array, [7]), ...le(Float32Array, [0.25])],
    );
    const { tensors, metadata } = deserialize(unsorted);
    expect(metadata).toEqual({ k: 'v' });
    expect(tensors.get('y')!.item()).toBe(7);
    expect(tensors.get('z')!.item()).toBe(0.25);
  });

  it('converts F16, BF16 and narrow or wide integers', () => {
    const f16 = [0x3c00, 0xc000, 0x0001, 0x7c00, 0xfc00, 0x7e00, 0x8000, 0x7bff]; // 1, -2, 2^-24, inf, -inf, nan, -0, 65504
    const bf16 = [0x3f80, 0xc0a0, 0x7f80, 0x8000]; // 1, -5, inf, -0
    const u16 = (vs: number[]): number[] => vs.flatMap((v) => [v & 0xff, v >> 8]);
    const i64 = new BigInt64Array([-5n, 2147483647n, -2147483648n]);
    const header = JSON.stringify({
      h: { dtype: 'F16', shape: [8], data_offsets: [0, 16] },
      b: { dtype: 'BF16', shape: [4], data_offsets: [16, 24] },
      l: { dtype: 'I64', shape: [3], data_offsets: [24, 48] },
      s: { dtype: 'I16', shape: [2], data_offsets: [48, 52] },
      u: { dtype: 'U8', shape: [2], data_offsets: [52, 54] },
      i: { dtype: 'I8', shape: [2], data_offsets: [54, 56] },
    });
    const data = [...u16(f16), ...u16(bf16), ...new Uint8Array(i64.buffer), ...u16([0xffff, 300]), 255, 1, 255, 1];
    const t = deserialize(file(header, data)).tensors;
    expect(t.get('h')!.dtype).toBe('float32');
    const h = Array.from(t.get('h')!.data.toTypedArray());
    expect(h.slice(0, 5)).toEqual([1, -2, 2 ** -24, Infinity, -Infinity]);
    expect(Number.isNaN(h[5]) && Object.is(h[6], -0) && h[7] === 65504).toBe(true);
    expect(Array.from(t.get('b')!.data.toTypedArray())).toEqual([1, -5, Infinity, -0]);
    expect(t.get('l')!.dtype).toBe('int32');
    expect(Array.from(t.get('l')!.data.toTypedArray())).toEqual([-5, 2147483647, -2147483648]);
    expect(Array.from(t.get('s')!.data.toTypedArray())).toEqual([-1, 300]);
    expect(Array.from(t.get('u')!.data.toTypedArray())).toEqual([255, 1]);
    expect(Array.from(t.get('i')!.data.toTypedArray())).toEqual([-1, 1]);
    const big = file('{"l":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}', new Uint8Array(new BigInt64Array([1n, 2n ** 40n]).buffer));
    expect(() => deserialize(big)).toThrow(/I64 value 1099511627776 at index 1 does not fit in int32/);
  });
});

describe('corrupted files', () => {
  const good = serialize(
    { w: fromTyped(Float32Array.from([1, 2, 3]), [3]), n: fromTyped(Int32Array.from([4, 5]), [2]), m: fromTyped(Uint8Array.from([1]), [1]) },
    { format: 'pt' },
  );
  const n = Number(new DataView(good.buffer).getBigUint64(0, true));

  it('the intact file loads', () => {
    expect(deserialize(good).tensors.size).toBe(3);
  });

  it('rejects truncation at any point', () => {
    for (const at of [0, 3, 7, 8, 9, 20, 8 + n - 1, 8 + n, 8 + n + 1, 8 + n + 12, good.length - 1]) {
      expect(() => deserialize(good.subarray(0, at)), `truncated at ${at}`).toThrow(SafetensorsError);
    }
    expect(() => deserialize(good.subarray(0, 5))).toThrow(/5 bytes, too short/);
    expect(() => deserialize(good.subarray(0, 40))).toThrow(/runs past the end of the 40-byte file/);
    expect(() => deserialize(good.subarray(0, good.length - 1))).toThrow(/data section is 20 bytes but the header describes 21 \(truncated/);
  });

  it('rejects trailing bytes', () => {
    expect(() => deserialize(Uint8Array.from([...good, 0]))).toThrow(/describes only 21 \(trailing/);
  });

  it('rejects a damaged header length', () => {
    const withN = (len: bigint): Uint8Array => {
      const b = good.slice();
      new DataView(b.buffer).setBigUint64(0, len, true);
      return b;
    };
    expect(() => deserialize(withN(2n ** 63n))).toThrow(/exceeds the 100000000-byte limit/);
    expect(() => deserialize(withN(100_000_001n))).toThrow(/limit/);
    expect(() => deserialize(withN(BigInt(good.length)))).toThrow(/runs past the end/);
    expect(() => deserialize(withN(BigInt(n + 8)))).toThrow(SafetensorsError);
    expect(() => deserialize(withN(BigInt(n - 8)))).toThrow(/not valid JSON/);
    expect(() => deserialize(withN(0n))).toThrow(/does not start with '\{'/);
    // Dropping one padding space still parses, but leaves the data section a byte too long.
    expect(() => deserialize(withN(BigInt(n - 1)))).toThrow(/trailing/);
  });

  it('rejects bad headers', () => {
    const entry = '"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}';
    const cases: [string, ArrayLike<number>, RegExp][] = [
      ['{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}', new Uint8Array(8), /not valid JSON/],
      ['[1,2]', [], /does not start with '\{'/],
      ['{"x":1}', [], /entry is not an object/],
      [`{${entry},${entry}}`, new Uint8Array(8), /repeats the key "x"/],
      [`{"__metadata__":{"a":"1","a":"2"},${entry}}`, new Uint8Array(8), /repeats the key "a"/],
      [`{"__metadata__":{"a":1},${entry}}`, new Uint8Array(8), /value of "a" is not a string/],
      ['{"x":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}}', new Uint8Array(8), /unknown dtype "F33"/],
      ['{"x":{"dtype":"constructor","shape":[2],"data_offsets":[0,8]}}', new Uint8Array(8), /unknown dtype "constructor"/],
      ['{"x":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}', new Uint8Array(2), /F8_E4M3 is not supported/],
      ['{"x":{"shape":[2],"data_offsets":[0,8]}}', new Uint8Array(8), /'dtype' is missing/],
      ['{"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', new Uint8Array(8), /'shape' must be/],
      ['{"x":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}', new Uint8Array(8), /'shape' must be/],
      ['{"x":{"dtype":"F32","shape":[2],"data_offsets":[0]}}', new Uint8Array(8), /'data_offsets' must be/],
      ['{"x":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}', new Uint8Array(8), /end before they begin/],
      // Wrong dtype size: 3 float32 need 12 bytes, or F64 needs 16.
      ['{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', new Uint8Array(8), /F32 \[3\] needs 12 bytes but data_offsets \[0, 8\] hold 8/],
      ['{"x":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}}', new Uint8Array(8), /needs 16 bytes/],
      ['{"x":{"dtype":"F32","shape":[9007199254740991,2],"data_offsets":[0,8]}}', new Uint8Array(8), /too large|needs/],
      // Overlap, hole, and data not starting at 0.
      ['{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', new Uint8Array(12), /"b".*overlap/],
      ['{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}', new Uint8Array(12), /"b".*hole after byte 4/],
      ['{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', new Uint8Array(8), /"a".*hole after byte 0/],
      ['{"m":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}}', [1, 2], /BOOL byte 2 at index 1/],
    ];
    for (const [header, data, error] of cases) expect(() => deserialize(file(header, data)), header).toThrow(error);
    const badUtf8 = file('{"x":{}}');
    badUtf8[10] = 0xff;
    expect(() => deserialize(badUtf8)).toThrow(/not valid UTF-8/);
  });

  it('names the file, and loads nothing from it', async () => {
    const path = join(dir, 'broken.safetensors');
    writeFileSync(path, good.subarray(0, good.length - 3));
    expect(() => loadSync(path)).toThrow(new RegExp(`cannot load '${path.replace(/[.\\]/g, '\\$&')}': data section is 18 bytes`));
    await expect(load(path)).rejects.toThrow(/broken\.safetensors.*truncated/);
    const badJson = Uint8Array.from(good);
    badJson[8 + 1] = 0x7b; // '{{' where '{"' was
    writeFileSync(path, badJson);
    expect(() => loadSync(path)).toThrow(/broken\.safetensors.*not valid JSON/);
    expect(() => loadSync(join(dir, 'missing.safetensors'))).toThrow(/cannot load .*missing\.safetensors.*ENOENT/);
  });
});

describe('atomic save', () => {
  const state = { w: tensor([1, 2, 3]) };

  it('replaces an existing file and leaves no temporary file', async () => {
    const sub = mkdtempSync(join(dir, 'atomic-'));
    const path = join(sub, 'model.safetensors');
    writeFileSync(path, 'old contents');
    saveSync(path, state);
    expect(readdirSync(sub)).toEqual(['model.safetensors']);
    expect(Array.from(readFileSync(path))).toEqual(Array.from(serialize(state)));
    await save(path, { w: tensor([4, 5]) }, { metadata: { step: '2' } });
    expect(readdirSync(sub)).toEqual(['model.safetensors']);
    expect(Array.from(loadSync(path).get('w')!.data.toTypedArray())).toEqual([4, 5]);
  });

  it('fails cleanly in a directory that does not exist', async () => {
    const path = join(dir, 'no-such-dir', 'model.safetensors');
    expect(() => saveSync(path, state)).toThrow(/cannot save .*no-such-dir.*ENOENT/);
    await expect(save(path, state)).rejects.toThrow(SafetensorsError);
    expect(existsSync(join(dir, 'no-such-dir'))).toBe(false);
  });

  it('does not clobber the target when the final rename fails, and removes the temporary file', async () => {
    const sub = mkdtempSync(join(dir, 'clobber-'));
    // A non-empty directory at the target path: the rename onto it must fail.
    const path = join(sub, 'model.safetensors');
    mkdirSync(path);
    writeFileSync(join(path, 'keep'), 'precious');
    expect(() => saveSync(path, state)).toThrow(SafetensorsError);
    await expect(save(path, state)).rejects.toThrow(SafetensorsError);
    expect(readdirSync(sub)).toEqual(['model.safetensors']);
    expect(readFileSync(join(path, 'keep'), 'utf8')).toBe('precious');
  });

  it('an invalid state fails before the existing file is touched', () => {
    const sub = mkdtempSync(join(dir, 'invalid-'));
    const path = join(sub, 'model.safetensors');
    saveSync(path, state);
    const before = readFileSync(path);
    expect(() => saveSync(path, { ...state, __metadata__: tensor([0]) })).toThrow(/reserved/);
    expect(readFileSync(path)).toEqual(before);
    expect(readdirSync(sub)).toEqual(['model.safetensors']);
  });
});

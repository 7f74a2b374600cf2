/**
 * Resident arrays (src/cpu/wasm/resident.ts): large float32 kernel outputs
 * allocated in the kernels' wasm memory and read/written there in place.
 * Which outputs are resident; that dispose(), tidy() and the garbage
 * collector free their blocks; that a disposed storage cannot be read
 * through another view; and that the in-place paths (elementwise, matmul,
 * BatchNorm) give the same values as the staged ones, on one and two
 * threads, for lengths not a multiple of 4 and offset views.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  CpuStorage, type NDArray, add, avgPool2d, avgPool2dBackward, normalizeBackward, normalizeForward, normalizeMoments, cat, conv2d,
  conv2dBackwardInput, conv2dBackwardWeight, cpuMemory, div, exp, fromTyped, gather, indexAdd, indexSelect, matmul, maxPool2d,
  maxPool2dBackward, mul, scatterAdd, sub, tidy,
} from '../src/index.js';
import { cpuData } from '../src/cpu/cpu-backend.js';
import { getKernels } from '../src/cpu/wasm/kernels.js';
import { residentAddress, setResidentCapBytes, setResidentPoison, setTemporaryBytesLimit } from '../src/cpu/wasm/resident.js';
import { getNumThreads, setNumThreads } from '../src/cpu/wasm/thread-pool.js';
import { randomData } from './helpers.js';
import { settle } from './gc.js';

const threads = getNumThreads();
const cap = cpuMemory().residentCapBytes;
afterEach(async () => {
  setNumThreads(threads);
  setResidentCapBytes(cap);
  vi.restoreAllMocks();
  // Free what the test dropped, so that the next one starts well under the cap.
  await settle(2);
});

/** Runs `fn` with resident outputs off (cap 0), restoring the cap after. */
function hostOutputs<T>(fn: () => T): T {
  const prev = setResidentCapBytes(0);
  try {
    return fn();
  } finally {
    setResidentCapBytes(prev);
  }
}

const f32 = (x: NDArray): Float32Array => cpuData(x) as Float32Array;
const addressOf = (x: NDArray): number => residentAddress(cpuData(x));
const isResident = (x: NDArray): boolean => addressOf(x) >= 0;

/** The bytes the arena gave `x`'s storage. */
const blockOf = (x: NDArray): number => getKernels()!.arena.blockSize(addressOf(x))!;

/** Values r * scale with r uniform in (-1, 1). */
function floats(n: number, seed: number, scale = 1): Float32Array {
  const r = randomData(n, seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = r[i] * scale;
  return out;
}

/** A view of `all` from element `off` of `n` elements: of a resident copy, or of `all` itself (a host array). */
function view(all: Float32Array, off: number, n: number, resident: boolean): NDArray {
  const t = fromTyped(all, [all.length]);
  const v = (resident ? t.clone() : t).narrow(0, off, n);
  expect(isResident(v)).toBe(resident);
  return v;
}

/** The values of a contiguous float32 array (its storage from its offset). */
const valuesOf = (x: NDArray): Float32Array => f32(x).subarray(x.offset, x.offset + x.size);

/** Same length and bit patterns (a loop: toEqual on arrays this long is slow). */
function sameBits(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length).toBe(want.length);
  const g = new Int32Array(got.buffer, got.byteOffset, got.length);
  const w = new Int32Array(want.buffer, want.byteOffset, want.length);
  for (let i = 0; i < g.length; i++) {
    if (g[i] !== w[i]) throw new Error(`${what}[${i}]: got ${got[i]}, want ${want[i]}`);
  }
}

/** Elementwise inputs: 1_000_003 elements (not a multiple of 4, so the JS tail of the in-place path runs). */
const N_EW = 1_000_003;

describe.skipIf(getKernels() === null)('resident arrays', () => {
  it('large float32 outputs of exp, add/sub/mul/div, matmul, clone and normalizeForward are resident', () => {
    const host = floats(N_EW, 1, 4);
    const xh = fromTyped(host, [N_EW]);
    expect(isResident(xh)).toBe(false); // fromTyped wraps the host array
    const x = xh.clone();
    const outs: [string, NDArray][] = [
      ['clone', x],
      ['exp', exp(x)],
      ['add', add(x, x)],
      ['sub (host inputs)', sub(xh, xh)],
      ['mul', mul(x, xh)],
      ['div', div(xh, x)],
      ['matmul', matmul(x.narrow(0, 0, 300 * 200).reshape([300, 200]), x.narrow(0, 7, 200 * 100).reshape([200, 100]))],
    ];
    const [y, xhat] = normalizeForward(x.narrow(0, 1, 4 * 3 * 2801).reshape([4, 3, 2801]), fromTyped(new Float32Array(3), [3]), fromTyped(new Float32Array(3).fill(2), [3]), fromTyped(new Float32Array(3).fill(3), [3]));
    outs.push(['normalizeForward y', y], ['normalizeForward xhat', xhat]);
    const seen = new Set<number>();
    for (const [what, o] of outs) {
      const d = f32(o);
      const at = residentAddress(d);
      if (at < 0) throw new Error(`${what}: not resident`);
      // The typed array is a view of the kernels' shared memory at its address.
      expect(d.buffer).toBeInstanceOf(SharedArrayBuffer);
      expect(d.byteOffset).toBe(at);
      expect(at % 64).toBe(0);
      expect(getKernels()!.arena.blockSize(at)).toBeGreaterThanOrEqual(d.byteLength);
      seen.add(at);
    }
    expect(seen.size).toBe(outs.length);
    // and the values are right
    const e = f32(outs[1][1]);
    const s = f32(outs[2][1]);
    for (const i of [0, 1, 12345, N_EW - 1]) {
      expect(Math.abs(e[i] - Math.exp(host[i]))).toBeLessThanOrEqual(2.4e-7 * Math.exp(host[i]));
      expect(s[i]).toBe(Math.fround(host[i] + host[i]));
    }
    expect(f32(y)[5]).toBe(Math.fround(host[6] * 2 * 3 + 0)); // y from the float64 xhat
  });

  it('small, float64 and int32 outputs are not resident (1024 floats is the smallest resident size)', () => {
    const before = cpuMemory().residentBytes;
    const small = exp(fromTyped(floats(1023, 2), [1023]));
    expect(isResident(small)).toBe(false);
    expect(isResident(fromTyped(floats(1023, 2), [1023]).clone())).toBe(false);
    const d64 = fromTyped(Float64Array.from(randomData(1 << 18, 3)), [1 << 18]);
    const o64 = [exp(d64), add(d64, d64), d64.clone(), matmul(d64.narrow(0, 0, 200 * 200).reshape([200, 200]), d64.narrow(0, 0, 200 * 200).reshape([200, 200]))];
    const i32 = fromTyped(new Int32Array(1 << 18).fill(7), [1 << 18]);
    const o32 = [add(i32, i32), i32.clone()];
    for (const o of [...o64, ...o32]) expect(isResident(o)).toBe(false);
    expect(o64[0].dtype).toBe('float64');
    expect(o32[0].dtype).toBe('int32');
    expect(cpuMemory().residentBytes).toBe(before);
    const edgeInput = fromTyped(floats(1024, 2), [1024]);
    const edge = exp(edgeInput);
    expect(isResident(edge)).toBe(true);
    // The input moved into wasm memory at the kernel that read it, the output was made there.
    expect(isResident(edgeInput)).toBe(true);
    expect(cpuMemory().residentBytes).toBe(before + 2 * 1024 * 4);
    edge.dispose();
    edgeInput.dispose();
  });

  it('a host float32 input (fromTyped) moves into wasm memory at the first kernel that reads it, values kept, and stays there', () => {
    const host = floats(N_EW, 9);
    const x = fromTyped(host, [N_EW]);
    const view = x.narrow(0, 3, 1000);
    expect(isResident(x)).toBe(false);
    const y1 = exp(x);
    expect(isResident(x)).toBe(true);
    const at = addressOf(x);
    // Views share the moved storage; the values are the host array's.
    expect(residentAddress(cpuData(view))).toBe(at);
    expect(Array.from(f32(x).subarray(0, 5))).toEqual(Array.from(host.subarray(0, 5)));
    expect(Array.from(f32(exp(x)))).toEqual(Array.from(f32(y1)));
    expect(addressOf(x)).toBe(at);
    // A float32 input below the resident size, and inputs past the cap, stay where they are.
    const small = fromTyped(floats(100, 1), [100]);
    exp(small);
    expect(isResident(small)).toBe(false);
    const prevCap = setResidentCapBytes(0);
    const capped = fromTyped(floats(N_EW, 3), [N_EW]);
    const y2 = exp(capped);
    expect(isResident(capped)).toBe(false);
    setResidentCapBytes(prevCap);
    expect(f32(y2)[7]).toBeCloseTo(Math.exp(f32(capped)[7]), 5);
    x.dispose();
    expect(x.isDisposed && view.isDisposed).toBe(true);
  });

  it('dispose() frees the block now, and the next output of that size reuses its address', () => {
    const x = fromTyped(floats(N_EW, 4), [N_EW]).clone();
    exp(x).dispose(); // warm up: the exp constants' block is allocated once
    const before = cpuMemory().residentBytes;
    const used = getKernels()!.arena.usedBytes;
    const y = exp(x);
    const at = addressOf(y);
    const block = blockOf(y);
    expect(block).toBeGreaterThanOrEqual(N_EW * 4);
    expect(cpuMemory().residentBytes).toBe(before + block);
    expect(getKernels()!.arena.usedBytes).toBe(used + block);
    y.dispose();
    expect(cpuMemory().residentBytes).toBe(before);
    expect(getKernels()!.arena.usedBytes).toBe(used);
    expect(getKernels()!.arena.blockSize(at)).toBeUndefined();
    y.dispose(); // twice is harmless: the block is not released again
    expect(cpuMemory().residentBytes).toBe(before);
    const z = add(x, x);
    expect(addressOf(z)).toBe(at);
    z.dispose();
  });

  it('a tidy() loop over 1M-element resident inputs keeps resident memory flat', () => {
    const x = fromTyped(floats(1 << 20, 5), [1 << 20]).clone();
    const k = getKernels()!;
    const step = (): void => {
      const y = exp(add(x, x));
      // the temporaries really are resident while the scope runs
      if (!isResident(y)) throw new Error('exp(add(x, x)) is not resident');
    };
    tidy(step); // warm up
    const before = cpuMemory().residentBytes;
    const pages = k.memory.buffer.byteLength;
    let inside = 0;
    for (let i = 0; i < 50; i++) {
      tidy(() => {
        step();
        inside = cpuMemory().residentBytes;
      });
      expect(inside).toBe(before + 2 * (1 << 22));
      if (cpuMemory().residentBytes !== before) throw new Error(`iteration ${i}: ${cpuMemory().residentBytes} resident bytes, ${before} before`);
    }
    expect(k.memory.buffer.byteLength).toBe(pages);
    // What a scope returns is kept (and resident); the rest is freed.
    const kept = tidy(() => exp(add(x, x)));
    expect(isResident(kept)).toBe(true);
    expect(cpuMemory().residentBytes).toBe(before + blockOf(kept));
    kept.dispose();
    expect(cpuMemory().residentBytes).toBe(before);
  });

  it('disposing one view frees the storage: every other view of it throws `was disposed`', () => {
    const x = fromTyped(floats(1 << 20, 6), [1 << 20]).clone();
    const y = exp(x);
    const at = addressOf(y);
    const a = y.reshape([1024, 1024]);
    const b = y.narrow(0, 5, 1000);
    const c = a.transpose(0, 1);
    const before = cpuMemory().residentBytes;
    a.dispose();
    expect(cpuMemory().residentBytes).toBe(before - (1 << 22));
    for (const v of [y, b, c]) {
      expect(v.isDisposed).toBe(true);
      expect(() => exp(v)).toThrow(/was disposed/);
      expect(() => add(v, 1)).toThrow(/was disposed/);
      expect(() => v.toTypedArray()).toThrow(/was disposed/);
      expect(() => cpuData(v)).toThrow(/was disposed/);
    }
    // The block is handed out again: reading through a stale view would see another array's values.
    const z = exp(x);
    expect(addressOf(z)).toBe(at);
    expect(() => b.clone()).toThrow(/was disposed/);
    z.dispose();
  });

  it('a resident array wrapped by a second storage throws', () => {
    const y = exp(fromTyped(floats(1 << 18, 7), [1 << 18]).clone());
    const arr = f32(y);
    expect(() => fromTyped(arr, [1 << 18])).toThrow(/internal error: a wasm-resident array was wrapped by two storages/);
    expect(() => new CpuStorage(arr)).toThrow(/wrapped by two storages/);
    // y still owns its block and reads fine
    expect(y.isDisposed).toBe(false);
    expect(isResident(y)).toBe(true);
    // a host array may be wrapped any number of times
    const host = floats(1 << 18, 7);
    expect(() => [fromTyped(host, [1 << 18]), fromTyped(host, [1 << 18])]).not.toThrow();
    y.dispose();
  });

  it('the cap bounds the resident bytes; past it outputs are host arrays', () => {
    expect(() => setResidentCapBytes(-1)).toThrow(RangeError);
    expect(() => setResidentCapBytes(NaN)).toThrow(RangeError);
    expect(cpuMemory().residentCapBytes).toBe(cap);
    const x = fromTyped(floats(1 << 18, 8), [1 << 18]).clone();
    const base = cpuMemory().residentBytes;
    expect(setResidentCapBytes(base + (1 << 20))).toBe(cap);
    expect(cpuMemory().residentCapBytes).toBe(base + (1 << 20));
    const a = exp(x);
    const b = exp(x);
    expect(isResident(a)).toBe(true);
    expect(isResident(b)).toBe(false);
    sameBits(f32(b), f32(a), 'exp past the cap');
    a.dispose();
    const c = exp(x);
    expect(isResident(c)).toBe(true);
    c.dispose();
    setResidentCapBytes(0);
    expect(isResident(exp(x))).toBe(false);
    expect(isResident(x.clone())).toBe(false);
    expect(cpuMemory().residentBytes).toBe(base);
  });

  it('the in-place paths are taken when the output is resident (host inputs copied in whole), staged otherwise (kernel addresses)', () => {
    setNumThreads(1);
    const k = getKernels()!;
    const all = floats(N_EW + 3, 9);
    const x = view(all, 3, N_EW, true);
    const xh = view(all, 3, N_EW, false);
    const spy = vi.spyOn(k, 'exp_f32');
    const y = exp(x);
    // one call over the whole vectors at the arrays' addresses, one for the last n mod 4 elements staged
    expect(N_EW % 4).not.toBe(0);
    expect(spy).toHaveBeenCalledTimes(2);
    expect(spy.mock.calls[0][0]).toBe(addressOf(y));
    expect(spy.mock.calls[0][1]).toBe(addressOf(x) + 3 * 4);
    expect(spy.mock.calls[0][2]).toBe(N_EW & ~3);
    expect(spy.mock.calls[1][2]).toBe(N_EW % 4);
    expect(spy.mock.calls[1][0]).not.toBe(addressOf(y) + (N_EW & ~3) * 4);
    // a host input, a resident output: one call in place over a temporary copy of the input, one for the tail
    spy.mockClear();
    const yh = exp(xh);
    expect(spy).toHaveBeenCalledTimes(2);
    expect(spy.mock.calls[0][0]).toBe(addressOf(yh));
    expect(spy.mock.calls[0][1]).not.toBe(addressOf(x) + 3 * 4);
    expect(Array.from(f32(yh))).toEqual(Array.from(f32(y)));
    // a host output (cap 0): chunk by chunk through a staging block
    spy.mockClear();
    const o = hostOutputs(() => exp(x));
    expect(spy.mock.calls.length).toBeGreaterThan(1);
    expect(residentAddress(f32(o))).toBe(-1);
    for (const call of spy.mock.calls) expect(call[1] === addressOf(x) + 12).toBe(false);
    const gemm = vi.spyOn(k, 'gemm');
    const a = x.narrow(0, 0, 200 * 150).reshape([200, 150]);
    const b = x.narrow(0, 1, 150 * 120).reshape([150, 120]);
    const c = matmul(a, b);
    expect(gemm).toHaveBeenCalledTimes(1);
    expect(gemm.mock.calls[0][3]).toBe(addressOf(x) + 3 * 4); // a read in place
    expect(gemm.mock.calls[0][6]).toBe(addressOf(x) + 4 * 4); // b read in place
    expect(gemm.mock.calls[0][9]).toBe(addressOf(c)); // c written in place
    const strided = vi.spyOn(k, 'bn_bwd_chan_strided_f32');
    const gathered = vi.spyOn(k, 'bn_bwd_chan_f32');
    const h = x.narrow(0, 0, 3 * 5 * 2801).reshape([3, 5, 2801]);
    const g = x.narrow(0, 1, 3 * 5 * 2801).reshape([3, 5, 2801]);
    const is = fromTyped(new Float32Array(5).fill(1), [5]);
    const [dx] = normalizeBackward(g, h, is);
    expect(isResident(dx)).toBe(true);
    expect([strided.mock.calls.length, gathered.mock.calls.length]).toEqual([5, 0]);
    strided.mockClear();
    // Host outputs: the same kernel, through a temporary block copied out once.
    const [dxHost] = hostOutputs(() => normalizeBackward(g, h, is));
    expect(isResident(dxHost)).toBe(false);
    expect([strided.mock.calls.length, gathered.mock.calls.length]).toEqual([5, 0]);
    strided.mockClear();
    // No room for temporaries: staged channel by channel.
    const prevLimit = setTemporaryBytesLimit(0);
    try {
      hostOutputs(() => normalizeBackward(g, h, is));
    } finally {
      setTemporaryBytesLimit(prevLimit);
    }
    expect([strided.mock.calls.length, gathered.mock.calls.length]).toEqual([0, 5]);
  });

  for (const [name, op, f] of [
    ['add', add, (a: number, b: number) => a + b],
    ['sub', sub, (a: number, b: number) => a - b],
    ['mul', mul, (a: number, b: number) => a * b],
    ['div', div, (a: number, b: number) => a / b],
  ] as const) {
    it(`${name}: resident, staged and mixed runs are bit-identical, on 1 and 2 threads (offset views, n mod 4 = 3)`, () => {
      const a = floats(N_EW + 3, 10, 1e3);
      const b = floats(N_EW + 1, 11, 1e-3);
      b.set([0, -0, Infinity, NaN], N_EW - 3); // the JS tail sees specials
      a.set([5, Infinity, -Infinity, 1e30], N_EW - 1);
      const ar = view(a, 3, N_EW, true);
      const br = view(b, 1, N_EW, true);
      const ah = view(a, 3, N_EW, false);
      const bh = view(b, 1, N_EW, false);
      const ref = new Float32Array(N_EW);
      for (let i = 0; i < N_EW; i++) ref[i] = f(a[i + 3], b[i + 1]);
      for (const t of [1, 2]) {
        setNumThreads(t);
        const all = op(ar, br);
        expect(isResident(all)).toBe(true);
        sameBits(f32(all), ref, `${name} resident (${t} threads)`);
        const hostOut = hostOutputs(() => op(ar, br));
        expect(isResident(hostOut)).toBe(false);
        sameBits(f32(hostOut), ref, `${name} resident inputs, host output (${t} threads)`);
        const hostIn = op(ah, bh);
        expect(isResident(hostIn)).toBe(true);
        sameBits(f32(hostIn), ref, `${name} host inputs, resident output (${t} threads)`);
        const half = op(ar, bh); // one input resident: staged
        expect(isResident(half)).toBe(true);
        sameBits(f32(half), ref, `${name} one resident input (${t} threads)`);
        const none = hostOutputs(() => op(ah, bh));
        sameBits(f32(none), ref, `${name} all host (${t} threads)`);
        for (const o of [all, hostIn, half]) o.dispose();
      }
    });
  }

  it('exp: resident, staged and mixed runs are bit-identical, on 1 and 2 threads, the n mod 4 tail included', () => {
    // Inputs whose staged (SIMD) exp differs from Math.fround(Math.exp(x)) by an ulp (the
    // kernel's documented error) go to the last n mod 4 places, where the in-place path
    // computes in JS: both paths must still agree. (As written, src/cpu/wasm/elementwise.ts
    // `inPlace` computes that tail with Math.exp, so the all-resident run differs there.)
    const probe = floats(1 << 16, 12, 80);
    const probed = hostOutputs(() => exp(fromTyped(probe, [probe.length])));
    const off: number[] = [];
    for (let i = 0; i < probe.length && off.length < 3; i++) if (f32(probed)[i] !== Math.fround(Math.exp(probe[i]))) off.push(probe[i]);
    expect(off.length).toBe(3);
    const a = floats(N_EW + 3, 13, 90); // overflow and underflow too
    a.set(off, N_EW); // the last three elements of the view
    const ar = view(a, 3, N_EW, true);
    const ah = view(a, 3, N_EW, false);
    setNumThreads(1);
    const ref = f32(hostOutputs(() => exp(ah))).slice(); // staged: the kernel everywhere
    for (let i = 0; i < N_EW; i += 997) {
      const want = Math.fround(Math.exp(a[i + 3]));
      if (!(ref[i] === want || Math.abs(ref[i] - want) <= 1.2e-7 * want + 1.5e-45)) throw new Error(`exp(${a[i + 3]}) = ${ref[i]}, want ${want}`);
    }
    for (const t of [1, 2]) {
      setNumThreads(t);
      const hostOut = hostOutputs(() => exp(ar));
      expect(isResident(hostOut)).toBe(false);
      sameBits(f32(hostOut), ref, `exp resident input, host output (${t} threads)`);
      const hostIn = exp(ah);
      expect(isResident(hostIn)).toBe(true);
      sameBits(f32(hostIn), ref, `exp host input, resident output (${t} threads)`);
      const all = exp(ar);
      expect(isResident(all)).toBe(true);
      sameBits(f32(all), ref, `exp resident (${t} threads)`);
      for (const o of [hostIn, all]) o.dispose();
    }
  });

  it('matmul: a resident output and resident operands (offset, transposed) give the staged bits, on 1 and 2 threads', () => {
    const all = floats(200_003, 14);
    const xr = view(all, 3, 200_000, true);
    const xh = view(all, 3, 200_000, false);
    // [301, 203] @ [203, 101] (a transposed view): 2*301*203*101 flops, above the threads' threshold
    const operands = (x: NDArray): [NDArray, NDArray] => [
      x.narrow(0, 1, 301 * 203).reshape([301, 203]),
      x.narrow(0, 5, 101 * 203).reshape([101, 203]).mT,
    ];
    // batched, with a broadcast right operand: [3, 64, 100] @ [100, 90]
    const batched = (x: NDArray): [NDArray, NDArray] => [x.narrow(0, 2, 3 * 64 * 100).reshape([3, 64, 100]), x.narrow(0, 9, 100 * 90).reshape([100, 90])];
    for (const pick of [operands, batched]) {
      setNumThreads(1);
      const ref = f32(hostOutputs(() => matmul(...pick(xh)))).slice();
      for (const t of [1, 2]) {
        setNumThreads(t);
        const res = matmul(...pick(xr));
        expect(isResident(res)).toBe(true);
        sameBits(f32(res), ref, `matmul resident (${t} threads)`);
        const hostOut = hostOutputs(() => matmul(...pick(xr)));
        expect(isResident(hostOut)).toBe(false);
        sameBits(f32(hostOut), ref, `matmul resident operands, host output (${t} threads)`);
        const hostIn = matmul(...pick(xh));
        expect(isResident(hostIn)).toBe(true);
        sameBits(f32(hostIn), ref, `matmul host operands, resident output (${t} threads)`);
        res.dispose();
        hostIn.dispose();
      }
    }
  });

  describe('BatchNorm: resident (in place) against staged', () => {
    // S odd and at most a staged piece (16384 floats), so that the staged statistics merge the same runs
    const SHAPES = [[3, 5, 2801], [16, 2, 1031], [2, 3, 16381]];
    const vec = (a: Float32Array): NDArray => fromTyped(a, [a.length]);

    /** An offset view of `shape` over values offset + 3 r, resident or on the host. */
    function input(shape: number[], seed: number, resident: boolean, offset = 0): NDArray {
      const n = shape.reduce((a, b) => a * b, 1);
      const all = floats(n + 3, seed, 3).map((v) => v + offset);
      return view(all, 3, n, resident).reshape(shape);
    }

    it('statistics of a resident input equal the staged ones bit for bit, on 1 and 2 threads', () => {
      for (const [i, shape] of SHAPES.entries()) {
        for (const offset of [0, 100]) {
          setNumThreads(1);
          const [m0, v0] = normalizeMoments(input(shape, 20 + i, false, offset));
          for (const t of [1, 2]) {
            setNumThreads(t);
            const [m, v] = normalizeMoments(input(shape, 20 + i, true, offset));
            sameBits(f32(m), f32(m0), `mean ${shape} (${t} threads)`);
            sameBits(f32(v), f32(v0), `variance ${shape} (${t} threads)`);
          }
        }
      }
    });

    it('forward: resident, staged and mixed runs are bit-identical, on 1 and 2 threads', () => {
      for (const [i, shape] of SHAPES.entries()) {
        const C = shape[1];
        const mu = vec(floats(C, 30 + i));
        const is = vec(floats(C, 31 + i).map((v) => 1.5 + v));
        const w = vec(floats(C, 32 + i));
        const b = vec(floats(C, 33 + i));
        const xr = input(shape, 34 + i, true);
        const xh = input(shape, 34 + i, false);
        setNumThreads(1);
        const [y0, h0] = hostOutputs(() => normalizeForward(xh, mu, is, w, b));
        const [n0] = hostOutputs(() => normalizeForward(xh, mu, is));
        for (const t of [1, 2]) {
          setNumThreads(t);
          const runs: [string, () => [NDArray, NDArray], boolean][] = [
            ['resident', () => normalizeForward(xr, mu, is, w, b), true],
            ['resident input, host outputs', () => hostOutputs(() => normalizeForward(xr, mu, is, w, b)), false],
            ['host input, resident outputs', () => normalizeForward(xh, mu, is, w, b), true],
          ];
          for (const [what, run, resident] of runs) {
            const [y, h] = run();
            expect([isResident(y), isResident(h)]).toEqual([resident, resident]);
            sameBits(valuesOf(h), valuesOf(h0), `xhat ${shape} ${what} (${t} threads)`);
            sameBits(valuesOf(y), valuesOf(y0), `y ${shape} ${what} (${t} threads)`);
          }
          const [n1, h1] = normalizeForward(xr, mu, is); // no affine: y is xhat
          expect(isResident(n1)).toBe(true);
          expect(n1.storage).toBe(h1.storage);
          sameBits(valuesOf(n1), valuesOf(n0), `xhat (no affine) ${shape} (${t} threads)`);
        }
      }
    });

    it('backward: resident (strided kernel) against staged: dx, dweight, dbias within 1e-6; 1 and 2 threads agree bit for bit', () => {
      for (const [i, shape] of SHAPES.entries()) {
        const [N, C] = shape;
        const S = shape.slice(2).reduce((a, b) => a * b, 1);
        const m = N * S;
        const isv = floats(C, 40 + i).map((v) => 1.5 + v);
        const wv = floats(C, 41 + i);
        const dyh = input(shape, 42 + i, false);
        const hh = input(shape, 43 + i, false);
        const dyr = input(shape, 42 + i, true);
        const hr = input(shape, 43 + i, true);
        setNumThreads(1);
        const [dx0, dw0, db0] = hostOutputs(() => normalizeBackward(dyh, hh, vec(isv), vec(wv)));
        const g = valuesOf(dyh);
        const h = valuesOf(hh);
        let first: Float32Array | null = null;
        for (const t of [1, 2]) {
          setNumThreads(t);
          for (const [what, resident, run] of [
            ['resident', true, () => normalizeBackward(dyr, hr, vec(isv), vec(wv))],
            ['resident inputs, host dx', false, () => hostOutputs(() => normalizeBackward(dyr, hr, vec(isv), vec(wv)))],
            ['host inputs, resident dx', true, () => normalizeBackward(dyh, hh, vec(isv), vec(wv))],
          ] as const) {
            const [dx, dw, db] = run();
            expect(isResident(dx)).toBe(resident);
            for (let c = 0; c < C; c++) {
              const [sdx, sdy] = [f32(dw0)[c], f32(db0)[c]];
              expect(Math.abs(f32(dw)[c] - sdx)).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(sdx)));
              expect(Math.abs(f32(db)[c] - sdy)).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(sdy)));
            }
            const d = f32(dx);
            const d0 = f32(dx0);
            for (let k = 0; k < d.length; k++) {
              const c = Math.floor(k / S) % C;
              const kc = (wv[c] * isv[c]) / m;
              const terms = Math.abs(kc * m * g[k]) + Math.abs(kc * f32(dw0)[c] * h[k]) + Math.abs(kc * f32(db0)[c]);
              if (!(Math.abs(d[k] - d0[k]) <= 1e-6 * terms + 1e-30)) throw new Error(`dx[${k}] ${what} (${t} threads): ${d[k]} vs staged ${d0[k]}`);
            }
            if (what === 'resident') {
              if (first) sameBits(d, first, `dx ${shape} on two threads`);
              else first = d.slice();
            }
          }
        }
      }
    });
  });

  it('the garbage collector frees the blocks of dropped resident arrays', async () => {
    const x = fromTyped(floats(1 << 18, 50), [1 << 18]).clone();
    exp(x).dispose(); // warm up
    await settle(3); // what earlier tests dropped
    const start = cpuMemory().residentBytes;
    const used = getKernels()!.arena.usedBytes;
    ((): void => {
      for (let i = 0; i < 20; i++) {
        const y = exp(x);
        if (!isResident(y)) throw new Error('exp(x) is not resident');
      }
    })();
    expect(cpuMemory().residentBytes).toBe(start + 20 * (1 << 20));
    for (let r = 0; r < 50 && cpuMemory().residentBytes > start; r++) await settle(1);
    expect(cpuMemory().residentBytes).toBeLessThanOrEqual(start);
    expect(getKernels()!.arena.usedBytes).toBeLessThanOrEqual(used);
    expect(isResident(x)).toBe(true); // still reachable: kept
    expect(f32(x)[0]).toBe(Math.fround(randomData(1, 50)[0]));
  });
});

describe('cpuMemory', () => {
  it('reports the resident bytes, the cap and the wasm memory, and a tidy loop keeps the bytes flat', () => {
    const m0 = cpuMemory();
    const k = getKernels();
    expect(m0.wasmMemoryBytes).toBe(k ? k.memory.buffer.byteLength : 0);
    const prevCap = setResidentCapBytes(123 << 20);
    expect(cpuMemory().residentCapBytes).toBe(k ? 123 << 20 : 0);
    setResidentCapBytes(prevCap);
    expect(cpuMemory().residentCapBytes).toBe(k ? prevCap : 0);
    const input = fromTyped(new Float32Array(1 << 18), [1 << 18]);
    const x = exp(input);
    input.dispose();
    const held = cpuMemory().residentBytes;
    if (k) expect(held - m0.residentBytes).toBe(1 << 20);
    for (let i = 0; i < 5; i++) {
      tidy(() => {
        exp(add(x, x));
      });
    }
    expect(cpuMemory().residentBytes).toBe(held);
    x.dispose();
    expect(cpuMemory().residentBytes).toBe(m0.residentBytes);
  });
});

/**
 * Allocates and frees 64 MiB of resident arrays with poisoning on, so that
 * the outputs that follow land on NaN-filled memory (a block freed at the
 * top of the arena lowers the top, and the next blocks start there).
 */
function poisonArena(): void {
  tidy(() => void exp(fromTyped(new Float32Array(1 << 24), [1 << 24])));
}

/**
 * `run()` with poisoning on, over NaN-filled blocks, then with resident
 * arrays off (cap 0): an element an uninitialized output forgot to write
 * shows as NaN or as a difference.
 */
function expectSameOnPoisonedBlocks(run: () => Float32Array[]): void {
  const prev = setResidentPoison(true);
  try {
    poisonArena();
    const resident = run();
    setResidentCapBytes(0);
    const host = run();
    for (const [i, r] of resident.entries()) {
      expect(r.some(Number.isNaN)).toBe(false);
      sameBits(r, host[i], `output ${i}`);
    }
  } finally {
    setResidentPoison(prev);
  }
}

describe.skipIf(getKernels() === null)('uninitialized resident outputs are written in full', () => {
  it('im2col and col2im: conv2d and its gradients on poisoned (NaN-filled) blocks equal the cap-0 results bit for bit', () => {
    const x = fromTyped(Float32Array.from(randomData(4 * 5 * 23 * 19, 71)), [4, 5, 23, 19]);
    const w = fromTyped(Float32Array.from(randomData(6 * 5 * 3 * 3, 72)), [6, 5, 3, 3]);
    const cases = [
      { padding: 1 }, // stride 1, outW == W: the block-copy path
      { padding: 2, stride: 2 }, // strided rows
      { padding: [0, 3] as [number, number], dilation: 2 }, // windows wholly in the padding
    ];
    const run = (): Float32Array[] => cases.flatMap((o) => {
      const y = conv2d(x, w, null, o);
      const gy = mul(y, 0.5);
      return [y, conv2dBackwardInput(gy, w, x.shape, o), conv2dBackwardWeight(gy, x, w.shape, o)].map((a) => a.toTypedArray() as Float32Array);
    });
    expectSameOnPoisonedBlocks(run);
  });

  it('pooling, cat, gather, indexSelect, scatterAdd and indexAdd on poisoned blocks equal the cap-0 results bit for bit', () => {
    const x = fromTyped(Float32Array.from(randomData(8 * 6 * 41 * 37, 81)), [8, 6, 41, 37]);
    const idx = (n: number, hi: number, seed: number): NDArray => fromTyped(Int32Array.from(randomData(n, seed), (v) => Math.floor(Math.abs(v) * 1e6) % hi), [n]);
    const run = (): Float32Array[] => {
      const outs: NDArray[] = [];
      const { values, indices } = maxPool2d(x, 3, { stride: 2, padding: 1, ceilMode: true, returnIndices: true });
      outs.push(values, maxPool2dBackward(values, indices, x.shape));
      // ceil mode with padding: partial windows at both ends
      const a = avgPool2d(x, 2, { stride: 2, padding: 1, ceilMode: true, countIncludePad: false });
      outs.push(a, avgPool2dBackward(a, x.shape, 2, { stride: 2, padding: 1, ceilMode: true, countIncludePad: false }));
      outs.push(cat([x, mul(x, 2)], 1), cat([x, x, x], 3));
      const flat = x.reshape([8 * 6 * 41, 37]);
      const rows = idx(20000, 8 * 6 * 41, 82);
      outs.push(indexSelect(flat, 0, rows), indexAdd(flat, 0, rows, indexSelect(flat, 0, rows)));
      const g = fromTyped(Int32Array.from({ length: flat.size }, (_, i) => (i * 7919) % 37), flat.shape);
      outs.push(gather(flat, 1, g), scatterAdd(flat, 1, g, flat));
      return outs.map((o) => Float32Array.from(o.toTypedArray() as ArrayLike<number>));
    };
    expectSameOnPoisonedBlocks(run);
  });
});

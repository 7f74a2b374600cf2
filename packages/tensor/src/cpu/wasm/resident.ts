/**
 * Resident arrays: float32 kernel outputs allocated in the kernels' wasm
 * memory (an `Arena` block viewed as a Float32Array), so that the wasm
 * kernels read and write them in place: no staging copies, and no fresh
 * pages (a new 16 MB ArrayBuffer costs thousands of page faults; a reused
 * block none).
 *
 * A host float32 array that a storage wraps (`fromTyped`) moves into wasm
 * memory at the first kernel that reads it (`noteMovable`), so that an op
 * runs at the same speed whatever made its input.
 *
 * Ownership: the typed array returned by `allocResident` is the handle. Its
 * one CpuStorage frees the block on dispose (`releaseResident`); otherwise a
 * FinalizationRegistry frees it once the array is collected. So nothing may
 * keep a derived view (`subarray`, another typed array on its buffer) beyond
 * the life of the array itself, and no two storages may share it
 * (`claimResident` enforces the second).
 */
import { type Kernels, getKernels } from './kernels.js';

/** Default cap on the bytes that resident arrays hold at once (wasm memory never shrinks). */
const DEFAULT_CAP_MB = 256;

function capFromEnv(): number {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.NORMLAB_WASM_RESIDENT_MB;
  const mb = env === undefined || env === '' ? NaN : Number(env);
  return (Number.isFinite(mb) && mb >= 0 ? mb : DEFAULT_CAP_MB) * 2 ** 20;
}

let capBytes = capFromEnv();
let residentBytes = 0;
/** Block address of each live resident array. */
const addresses = new WeakMap<Float32Array, number>();
/** Resident arrays already wrapped by a storage. */
const claimed = new WeakSet<Float32Array>();

/** Whether freed blocks are filled with NaN (see setResidentPoison). */
let poison = false;

function free(k: Kernels, addr: number): void {
  const size = k.arena.blockSize(addr) ?? 0;
  if (poison) new Float32Array(k.memory.buffer, addr, size >> 2).fill(NaN);
  residentBytes -= size;
  k.arena.release(addr);
}

const registry = new FinalizationRegistry<number>((addr) => {
  const k = getKernels();
  if (k) free(k, addr);
});

/** A float32 array of `n` elements in wasm memory (contents unspecified), or null where the kernels or the cap do not allow it. */
export function allocResident(n: number): Float32Array | null {
  const bytes = n * 4;
  if (residentBytes + bytes > capBytes) return null;
  const k = getKernels();
  if (!k) return null;
  const addr = k.arena.alloc(bytes);
  if (addr < 0) return null;
  residentBytes += k.arena.blockSize(addr)!;
  const arr = new Float32Array(k.memory.buffer, addr, n);
  addresses.set(arr, addr);
  registry.register(arr, addr, arr);
  return arr;
}

/** The byte address of `arr`'s first element in wasm memory, or -1 when `arr` is not resident. */
export function residentAddress(arr: unknown): number {
  return arr instanceof Float32Array ? (addresses.get(arr) ?? -1) : -1;
}

/** Frees `arr`'s block now (nothing when `arr` is not resident); `arr` must not be used afterwards. */
export function releaseResident(arr: unknown): void {
  if (!(arr instanceof Float32Array)) return;
  const addr = addresses.get(arr);
  if (addr === undefined) return;
  addresses.delete(arr);
  registry.unregister(arr);
  free(getKernels()!, addr);
}

/**
 * Records that a storage took `arr` over; throws when another storage did
 * already (the first one's dispose would free the second's memory).
 */
export function claimResident(arr: unknown): void {
  if (!(arr instanceof Float32Array) || !addresses.has(arr)) return;
  if (claimed.has(arr)) throw new Error('cpu backend: internal error: a wasm-resident array was wrapped by two storages');
  claimed.add(arr);
}

/** What `cpuMemory()` reports. */
export interface CpuMemoryInfo {
  /** Bytes of the float32 outputs that live in the kernels' wasm memory now (resident arrays). */
  residentBytes: number;
  /** The most bytes resident arrays may hold at once (`NORMLAB_WASM_RESIDENT_MB`; 0 when the kernels are unavailable). */
  residentCapBytes: number;
  /** Size of the kernels' wasm memory (it grows, never shrinks; 0 when the kernels are unavailable). */
  wasmMemoryBytes: number;
}

/**
 * The CPU backend's wasm memory, as `gpu.memory()` reports the device's:
 * in a loop of `tidy(step)` `residentBytes` stays flat. Arrays in ordinary
 * JS memory (small ones, float64, `fromTyped` inputs no kernel has read
 * yet) are not counted.
 */
export function cpuMemory(): CpuMemoryInfo {
  const k = getKernels();
  return { residentBytes, residentCapBytes: k ? capBytes : 0, wasmMemoryBytes: k ? k.memory.buffer.byteLength : 0 };
}

/** Sets the cap on resident bytes (0 turns resident outputs off); returns the previous cap. For tests and benchmarks. */
export function setResidentCapBytes(bytes: number): number {
  if (!(bytes >= 0)) throw new RangeError(`setResidentCapBytes: expected a non-negative number of bytes, got ${bytes}`);
  const prev = capBytes;
  capBytes = bytes;
  return prev;
}

/**
 * For tests: fill every resident block with NaN as it is freed, so that
 * reading an array after its storage was disposed shows as NaN instead of
 * as the values of whatever reuses the block. Returns the previous setting.
 */
export function setResidentPoison(on: boolean): boolean {
  const prev = poison;
  poison = on;
  return prev;
}

/**
 * Runs `fn` with a staging block of `bytes` bytes (its address), freed when
 * `fn` returns or throws; returns null without calling `fn` where the
 * memory cannot hold it.
 */
export function withStaging<T>(k: Kernels, bytes: number, fn: (addr: number) => T): T | null {
  const addr = k.arena.alloc(bytes);
  if (addr < 0) return null;
  try {
    return fn(addr);
  } finally {
    k.arena.release(addr);
  }
}

/** Most bytes `withAddresses` copies into temporary blocks for one call (wasm memory never shrinks). */
let maxTemporaryBytes = 1 << 28;

/** Sets the most bytes `withAddresses` may copy into temporaries (0: only resident arrays run in place); returns the previous limit. For tests. */
export function setTemporaryBytesLimit(bytes: number): number {
  const prev = maxTemporaryBytes;
  maxTemporaryBytes = bytes;
  return prev;
}

/** What holds a host float32 array that may move into wasm memory: the CPU storage that wraps it. */
export interface MovableHolder {
  /** Takes `resident` (a copy of the held array, in wasm memory) in its place, as its own. */
  adoptResident(resident: Float32Array): void;
}

/** Host float32 arrays (not resident) wrapped by a storage, with that storage. */
const movable = new WeakMap<Float32Array, MovableHolder>();

/** Smallest array that moves into wasm memory at its first use by a kernel (the size from which outputs are resident). */
const MOVABLE_MIN_BYTES = 1 << 12;

/**
 * Records that `holder` wraps the host array `data` (a `fromTyped` input, an
 * output made while the cap was reached): the first kernel that reads it
 * through `withAddresses` moves it into wasm memory for good, instead of
 * copying it in at every call (the speed of an op no longer depends on
 * where its input came from).
 */
export function noteMovable(data: unknown, holder: MovableHolder): void {
  if (data instanceof Float32Array && data.length * 4 >= MOVABLE_MIN_BYTES && !addresses.has(data)) movable.set(data, holder);
}

/** Moves `data` into wasm memory for its holder, if it has one and the cap allows; its address, or -1. */
function moveIn(data: Float32Array): number {
  const holder = movable.get(data);
  if (!holder) return -1;
  const resident = allocResident(data.length);
  if (!resident) return -1;
  resident.set(data);
  movable.delete(data);
  holder.adoptResident(resident);
  return addresses.get(resident)!;
}

/** A float32 range an in-place kernel reads: `length` elements of `data` from `offset`. */
export interface InputRange {
  data: Float32Array;
  offset: number;
  length: number;
}

/**
 * Runs `fn` with the wasm byte addresses of `inputs` and `outputs`, so that a
 * kernel written for resident arrays serves every array: a resident array is
 * used where it is, any other goes through a temporary block (one copy in
 * for an input, before `fn`; one copy out for an output, after). Returns
 * null without calling `fn` where memory cannot hold the temporaries; `fn`
 * returning null means it failed, and nothing is copied out.
 */
export function withAddresses<T>(k: Kernels, inputs: readonly InputRange[], outputs: readonly Float32Array[], fn: (ins: number[], outs: number[]) => T | null): T | null {
  const temps: number[] = [];
  let tempBytes = 0;
  const temp = (bytes: number): number => {
    tempBytes += bytes;
    const addr = tempBytes > maxTemporaryBytes ? -1 : k.arena.alloc(bytes);
    if (addr >= 0) temps.push(addr);
    return addr;
  };
  try {
    const ins: number[] = [];
    for (const { data, offset, length } of inputs) {
      const at = residentAddress(data) >= 0 ? residentAddress(data) : moveIn(data);
      if (at >= 0) {
        ins.push(at + offset * 4);
        continue;
      }
      const addr = temp(length * 4);
      if (addr < 0) return null;
      new Float32Array(k.memory.buffer, addr, length).set(data.subarray(offset, offset + length));
      ins.push(addr);
    }
    const outs: number[] = [];
    for (const out of outputs) {
      const at = residentAddress(out);
      const addr = at >= 0 ? at : temp(out.length * 4);
      if (addr < 0) return null;
      outs.push(addr);
    }
    const result = fn(ins, outs);
    if (result === null) return null;
    outputs.forEach((out, i) => {
      if (residentAddress(out) < 0) out.set(new Float32Array(k.memory.buffer, outs[i], out.length));
    });
    return result;
  } finally {
    for (const addr of temps) k.arena.release(addr);
  }
}

/**
 * @normlab/gpu: a gpu.js backend for @normlab/tensor, registered as device
 * 'gpu'. Kernels run in a device worker (webgpu through Dawn, webasm, or
 * gpu.js's cpu mode); tensors stay on the device until read.
 *
 * @example
 * import { registerGpuBackend, gpu } from '@normlab/gpu';
 * registerGpuBackend();            // or { mode: 'webasm' }, { fallback: true }; env NORMLAB_GPU_MODE
 * console.log(gpu.info().name);    // 'webgpu / llvmpipe'
 */
import { type NDArray, type TypedArray, backendFor, registerBackend } from '@normlab/tensor';
import { GpuBackend } from './backend.js';
import { DeviceClient, type FallbackCount, GPU_MODES, type GpuMode } from './device.js';
import { GpuStorage } from './storage.js';

export { GpuBackend } from './backend.js';
export { GpuStorage } from './storage.js';
export { MAX_ELEMENTS } from './codegen.js';
export type { FallbackCount, GpuMode } from './device.js';

/** Options of `registerGpuBackend`. */
export interface GpuOptions {
  /** The gpu.js mode: 'webgpu' (default; Dawn), 'webasm', 'cpu', or 'headlessgl' (needs the optional 'gl' package). Env: NORMLAB_GPU_MODE. */
  mode?: GpuMode;
  /**
   * When the mode does not work, try the next of webgpu -> webasm -> cpu
   * instead of throwing (env NORMLAB_GPU_FALLBACK=1). `gpu.info()` says what ran.
   */
  fallback?: boolean;
}

/** What `gpu.info()` reports: the mode and adapter that actually run. */
export interface GpuInfo {
  /** The gpu.js mode that actually runs. */
  mode: GpuMode;
  /** The adapter: 'llvmpipe', 'NVIDIA H100 ...', 'WebAssembly SIMD', 'JavaScript'. */
  adapter: string;
  /** The adapter's full description. */
  adapterDescription: string;
  /** `${mode} / ${adapter}`, e.g. 'webgpu / llvmpipe'. */
  name: string;
  /** Why each mode tried before this one failed (with fallback). */
  fallbackReasons: readonly string[];
}

const FALLBACK_CHAIN: readonly GpuMode[] = ['webgpu', 'webasm', 'cpu'];

let client: DeviceClient | null = null;
let backend: GpuBackend | null = null;

function parseMode(m: string, from: string): GpuMode {
  if (!(GPU_MODES as readonly string[]).includes(m)) throw new RangeError(`gpu: unknown mode '${m}' (${from}); expected one of ${GPU_MODES.join(', ')}`);
  return m as GpuMode;
}

function modesFor(mode: GpuMode, fallback: boolean): GpuMode[] {
  if (!fallback) return [mode];
  const i = FALLBACK_CHAIN.indexOf(mode);
  return i < 0 ? [mode, ...FALLBACK_CHAIN] : FALLBACK_CHAIN.slice(i);
}

/**
 * Starts the device worker and registers the backend as device 'gpu'.
 * Throws, saying why, when the mode does not work (no WebGPU adapter:
 * install lavapipe ...) unless `fallback` is set. Calling it again returns
 * the running device's info (a different mode needs `gpu.shutdown()` first).
 */
export function registerGpuBackend(options: GpuOptions = {}): GpuInfo {
  const env = process.env.NORMLAB_GPU_MODE;
  const mode = options.mode ?? (env ? parseMode(env, 'NORMLAB_GPU_MODE') : 'webgpu');
  parseMode(mode, 'options.mode');
  const fallback = options.fallback ?? process.env.NORMLAB_GPU_FALLBACK === '1';
  if (client && !client.closed) {
    if (options.mode && options.mode !== client.mode && !fallback) {
      throw new Error(`gpu: the device already runs in mode '${client.mode}'; call gpu.shutdown() before registering mode '${options.mode}'`);
    }
    return gpu.info();
  }
  client = new DeviceClient(modesFor(mode, fallback), fallback);
  backend = new GpuBackend(client);
  registerBackend(backend);
  return gpu.info();
}

function current(): DeviceClient {
  if (!client || client.closed) throw new Error("gpu: no device; call registerGpuBackend() from '@normlab/gpu' first");
  return client;
}

/** Whether `mode` works here, and why not: starts a worker in that mode and shuts it down again. */
export function probeGpuMode(mode: GpuMode): { ok: true; info: Omit<GpuInfo, 'fallbackReasons'> } | { ok: false; reason: string } {
  try {
    const c = new DeviceClient([mode], false);
    const info = { mode: c.mode, adapter: c.adapter, adapterDescription: c.adapterDescription, name: `${c.mode} / ${c.adapter}` };
    c.shutdown();
    return { ok: true, info };
  } catch (e) {
    return { ok: false, reason: e instanceof Error ? e.message : String(e) };
  }
}

/** The device: what runs, memory, CPU fallbacks, synchronization. */
export const gpu = {
  info(): GpuInfo {
    const c = current();
    return { mode: c.mode, adapter: c.adapter, adapterDescription: c.adapterDescription, name: `${c.mode} / ${c.adapter}`, fallbackReasons: c.tried };
  },

  /** Live device buffers and their bytes (freed at dispose() or when their arrays are collected). */
  memory(): { buffers: number; bytes: number } {
    return current().memory();
  },

  /** Ops that ran on the CPU because the device has no kernel for them: calls and bytes moved, per op; and the kernels compiled. */
  profile(): { fallbacks: Record<string, FallbackCount>; kernelsCompiled: number } {
    const c = current();
    return { fallbacks: Object.fromEntries([...c.fallbacks].map(([k, v]) => [k, { ...v }])), kernelsCompiled: c.kernelsCompiled };
  },

  resetProfile(): void {
    current().fallbacks.clear();
  },

  /** Blocks until every queued op ran; throws the errors raised on the device since the last synchronization. */
  synchronize(): void {
    current().synchronize();
  },

  synchronizeAsync(): Promise<void> {
    return current().synchronizeAsync();
  },

  /** The values of a gpu array without blocking the thread (an array on another device is read as usual). */
  readAsync(x: NDArray): Promise<TypedArray> {
    if (x.storage instanceof GpuStorage) return (backendFor('gpu') as GpuBackend).readAsync(x);
    return Promise.resolve(backendFor(x.device).read(x));
  },

  /** Frees the device buffer of x now (every view of it becomes unusable). */
  dispose(x: NDArray): void {
    if (x.storage instanceof GpuStorage) x.storage.dispose();
  },

  /** Frees every buffer and ends the worker; arrays still on 'gpu' become unusable. */
  shutdown(): void {
    if (client && !client.closed) client.shutdown();
    client = null;
    backend = null;
  },
};

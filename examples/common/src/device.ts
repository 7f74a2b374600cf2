/**
 * `--device cpu|gpu` for the examples: registering the GPU backend of
 * @normlab/gpu (the mode from NORMLAB_GPU_MODE, else webgpu with fallback
 * to webasm and cpu), what runs (mode and adapter, for the logs and
 * config.json), data moved to the device in chunks (gpu.js arrays hold at
 * most 2^24 elements), and a trace of the live device buffers (each
 * training step belongs in a `tidy` scope) to show that device memory stays flat.
 */
import type { Tensor } from '@normlab/autograd';
import type { Module } from '@normlab/nn';
import { tidy } from '@normlab/tensor';
import { MAX_ELEMENTS, type GpuMode, gpu, probeGpuMode, registerGpuBackend } from '@normlab/gpu';

export const DEVICES = ['cpu', 'gpu'] as const;
export type DeviceName = (typeof DEVICES)[number];

/** What runs: printed at the start of a run and recorded in its config.json. */
export interface DeviceInfo {
  device: DeviceName;
  /** The gpu.js mode ('webgpu', 'webasm', 'cpu'); null on the CPU backend. */
  mode: string | null;
  /** 'llvmpipe', 'NVIDIA H100 80GB HBM3', 'WebAssembly SIMD', ...; null on the CPU backend. */
  adapter: string | null;
  adapterDescription: string | null;
  /** 'cpu', or gpu.info().name ('webgpu / llvmpipe'). */
  name: string;
  /** Why each gpu.js mode tried before the one that runs failed. */
  fallbackReasons: string[];
  /** Where the mode came from: the NORMLAB_GPU_MODE variable, or the default chain webgpu -> webasm -> cpu. */
  modeSource: 'NORMLAB_GPU_MODE' | 'default (webgpu, falling back to webasm, cpu)' | null;
}

/** `--device gpu` when no gpu.js mode works here (or NORMLAB_GPU_MODE names one that does not): the message says why. */
export class DeviceUnavailableError extends Error {
  override name = 'DeviceUnavailableError';
}

/**
 * Makes `device` usable and says what runs there. For 'gpu': registers
 * @normlab/gpu's backend (once per process; a later call returns the
 * running device), in the mode NORMLAB_GPU_MODE names (strict, unless
 * NORMLAB_GPU_FALLBACK=1), else webgpu with fallback to webasm and cpu.
 * Throws `DeviceUnavailableError` with the reason when that fails.
 */
export function useDevice(device: DeviceName): DeviceInfo {
  if (device === 'cpu') return { device, mode: null, adapter: null, adapterDescription: null, name: 'cpu', fallbackReasons: [], modeSource: null };
  const envMode = process.env.NORMLAB_GPU_MODE?.trim() || undefined;
  try {
    // A device already running in another mode than the one asked for now (tests switch modes): start over.
    if (envMode && runningMode() !== null && runningMode() !== envMode) gpu.shutdown();
    const info = registerGpuBackend(envMode ? {} : { fallback: true });
    return {
      device, mode: info.mode, adapter: info.adapter, adapterDescription: info.adapterDescription, name: info.name,
      fallbackReasons: [...info.fallbackReasons], modeSource: envMode ? 'NORMLAB_GPU_MODE' : 'default (webgpu, falling back to webasm, cpu)',
    };
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    const hint = envMode
      ? `NORMLAB_GPU_MODE=${envMode} asks for that mode only; unset it to try webgpu, webasm and cpu in turn`
      : 'see docs/gpu.md#troubleshooting (webgpu without a GPU needs lavapipe: packages/gpu/scripts/install-lavapipe.sh)';
    throw new DeviceUnavailableError(`device 'gpu' is not available: ${why.replace(/^gpu: /, '')} (${hint})`);
  }
}

/** The mode of the running gpu device, or null when none runs. */
function runningMode(): string | null {
  try {
    return gpu.info().mode;
  } catch {
    return null;
  }
}

/** One line for the log: "device: gpu (webgpu / llvmpipe: <description>)". */
export function describeDevice(info: DeviceInfo): string {
  if (info.device === 'cpu') return 'device: cpu (the CPU backend)';
  const fell = info.fallbackReasons.length > 0 ? `; tried before: ${info.fallbackReasons.join('; ')}` : '';
  const cpuNote = info.adapter === 'llvmpipe' || info.mode === 'webasm' || info.mode === 'cpu' ? ' [runs on the CPU: proves the path, not GPU speed]' : '';
  const full = info.adapterDescription ?? '';
  const rest = full.startsWith(`${info.adapter}: `) ? full.slice(`${info.adapter}: `.length) : full;
  const description = rest && rest !== info.adapter ? `, ${rest}` : '';
  return `device: gpu (${info.name}${description}; mode from ${info.modeSource})${cpuNote}${fell}`;
}

/** Whether a gpu.js mode works here, with the reason when not (for tests that skip visibly). */
export function gpuModeAvailable(mode: GpuMode): { ok: boolean; reason: string } {
  const r = probeGpuMode(mode);
  return r.ok ? { ok: true, reason: '' } : { ok: false, reason: r.reason };
}

/** The live buffers and bytes on `device` (null on the CPU backend, which has no such count). */
export function deviceMemory(device: DeviceName): { buffers: number; bytes: number } | null {
  return device === 'gpu' ? gpu.memory() : null;
}

/** The largest number of rows of a [rows, ...rowShape] array that fits one device array (2^24 elements). */
export function maxRowsPerArray(rowElements: number): number {
  return Math.max(1, Math.floor(MAX_ELEMENTS / Math.max(1, rowElements)));
}

/** A chunk of a dataset: rows [start, start + x.shape[0]) of x and y, on the device. */
export interface DataChunk {
  start: number;
  x: Tensor;
  y: Tensor;
}

/**
 * x and y cut into chunks of at most `rows` rows (and at most 2^24
 * elements each), moved to `device`. On 'cpu' the chunks are views (no
 * copy). Call it outside `tidy` for data that lives for the whole run.
 */
export function toDeviceChunks(x: Tensor, y: Tensor, device: DeviceName, rows: number): DataChunk[] {
  const n = x.shape[0];
  const per = Math.max(1, Math.min(rows, maxRowsPerArray(x.numel() / Math.max(1, n))));
  const chunks: DataChunk[] = [];
  for (let start = 0; start < n; start += per) {
    const m = Math.min(per, n - start);
    let xc = x.narrow(0, start, m);
    let yc = y.narrow(0, start, m);
    if (device !== 'cpu') [xc, yc] = [xc.contiguous().to(device), yc.contiguous().to(device)];
    chunks.push({ start, x: xc, y: yc });
  }
  return chunks;
}

/** Moves a mini-batch to `device` (no copy on 'cpu'); call it inside the step's `tidy` so the upload is freed with it. */
export function batchTo(device: DeviceName, ...tensors: Tensor[]): Tensor[] {
  return device === 'cpu' ? tensors : tensors.map((t) => t.to(device));
}

/**
 * `model.to(device)` in a `tidy` scope: the device copies are then "held"
 * by the model rather than unscoped, so the first training step's `tidy`
 * frees each one as soon as the step replaces it (an SGD update, a BN
 * running statistic); moved outside a scope they would stay on the device
 * until the garbage collector runs. Returns the model.
 */
export function moveModule<M extends Module>(model: M, device: DeviceName): M {
  if (device !== 'cpu') tidy(() => void model.to(device));
  return model;
}

/** Frees a model's parameters, gradients and buffers on the device now (when a run is done with it), instead of at garbage collection. */
export function disposeModule(model: Module): void {
  for (const p of model.parameters()) p.dispose();
  for (const t of model.stateDict().values()) t.dispose();
}

/**
 * The live device buffers over a run: `sample()` after each step;
 * `summary()` gives the counts after the first and the last step and the
 * range in between. Flat (`grew` 0) when every step frees what it made.
 */
export class MemoryTrace {
  private first: { buffers: number; bytes: number } | null = null;
  private last: { buffers: number; bytes: number } | null = null;
  private minBuffers = Infinity;
  private maxBuffers = -Infinity;
  private maxBytes = 0;
  private samples = 0;

  constructor(private readonly device: DeviceName) {}

  sample(): void {
    const m = deviceMemory(this.device);
    if (!m) return;
    this.first ??= m;
    this.last = m;
    this.minBuffers = Math.min(this.minBuffers, m.buffers);
    this.maxBuffers = Math.max(this.maxBuffers, m.buffers);
    this.maxBytes = Math.max(this.maxBytes, m.bytes);
    this.samples++;
  }

  /** null on the CPU backend or before the first sample. */
  summary(): MemorySummary | null {
    if (!this.first || !this.last) return null;
    return {
      samples: this.samples,
      buffersAfterFirstStep: this.first.buffers,
      buffersAfterLastStep: this.last.buffers,
      buffersMin: this.minBuffers,
      buffersMax: this.maxBuffers,
      bytesAfterFirstStep: this.first.bytes,
      bytesAfterLastStep: this.last.bytes,
      bytesMax: this.maxBytes,
      grew: this.last.buffers - this.first.buffers,
    };
  }
}

/** The device memory of a run (`gpu.memory()` sampled after every training step). */
export interface MemorySummary {
  samples: number;
  buffersAfterFirstStep: number;
  buffersAfterLastStep: number;
  buffersMin: number;
  buffersMax: number;
  bytesAfterFirstStep: number;
  bytesAfterLastStep: number;
  bytesMax: number;
  /** Buffers after the last step minus after the first (0: flat). */
  grew: number;
}

/** "buffers 47 -> 47 (range 47..47), 1.2 MB": the summary's cell. */
export function formatMemory(m: MemorySummary | null): string {
  if (!m) return '-';
  const mb = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;
  const range = m.buffersMin === m.buffersMax ? '' : ` (${m.buffersMin}..${m.buffersMax})`;
  return `${m.buffersAfterFirstStep} -> ${m.buffersAfterLastStep}${range}, ${mb(m.bytesAfterLastStep)}`;
}

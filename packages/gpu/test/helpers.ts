/** Shared setup for the gpu tests: which gpu.js modes work here, and switching the device between them. */
import { type GpuMode, gpu, probeGpuMode, registerGpuBackend } from '../src/index.js';

const probes = new Map<GpuMode, { ok: boolean; reason: string }>();

/** Whether `mode` works on this machine (probed once per test file), with the reason when not. */
export function modeAvailable(mode: GpuMode): { ok: boolean; reason: string } {
  let p = probes.get(mode);
  if (!p) {
    const r = probeGpuMode(mode);
    p = r.ok ? { ok: true, reason: '' } : { ok: false, reason: r.reason };
    probes.set(mode, p);
    if (!p.ok && required().includes(mode)) throw new Error(`gpu tests: mode ${mode} is required here (NORMLAB_GPU_REQUIRE) but unavailable: ${p.reason}`);
    if (!p.ok) console.warn(`[normlab/gpu] skipping ${mode} tests: ${p.reason}`);
  }
  return p;
}

/** Modes that must work (CI sets NORMLAB_GPU_REQUIRE=webgpu,webasm): their tests fail instead of skipping. */
function required(): string[] {
  return (process.env.NORMLAB_GPU_REQUIRE ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

/** Runs the device in `mode` (shutting down another mode first). */
export function useMode(mode: GpuMode): void {
  try {
    if (gpu.info().mode === mode) return;
    gpu.shutdown();
  } catch {
    // no device yet
  }
  registerGpuBackend({ mode });
}

/** Modes the property tests run on: all that work here (webgpu needs lavapipe or a GPU). */
export const TEST_MODES: GpuMode[] = ['webgpu', 'webasm', 'cpu'];

/**
 * 'sim': a strict simulated device for tests. It computes with the CPU
 * kernels, but its storage is opaque (the host data sits behind a private
 * field that only the backend reaches), so any code path of tensor,
 * autograd or nn that reads a device array's data without going through
 * `read` fails, and every `read` is counted. Kernels reject arrays of other
 * devices, so device mixing that slips past an op's own check fails too.
 * It counts uploads, reads, live storages and disposals.
 *
 * Import it from a test file: `import { sim, SIM } from '../../tensor/test/sim-backend.js'`.
 */
import {
  type Backend, type CpuStorage, type Device, type Storage, NDArray, type TypedArray, cpuBackend, keep, registerBackend,
} from '../src/index.js';

export const SIM: Device = 'sim';

/** Counters of the sim device; `reset()` zeroes the event counts (not the live count). */
export const sim = {
  /** `read` calls (host downloads): item(), toArray(), to('cpu'), ... */
  reads: 0,
  /** `readAsync` calls. */
  asyncReads: 0,
  uploads: 0,
  /** Storages created and not yet disposed. */
  live: 0,
  disposed: 0,
  reset(): void {
    this.reads = 0;
    this.asyncReads = 0;
    this.uploads = 0;
    this.disposed = 0;
  },
};

/** Device memory: a CPU storage hidden behind a private field. */
export class SimStorage implements Storage {
  readonly device = SIM;
  readonly dtype;
  readonly length: number;
  #inner: CpuStorage | null;

  constructor(inner: CpuStorage) {
    this.#inner = inner;
    this.dtype = inner.dtype;
    this.length = inner.length;
    sim.live++;
  }

  /** @internal Only the backend below calls this. */
  static inner(s: SimStorage): CpuStorage {
    const d = s.#inner;
    if (d === null) throw new Error('sim backend: the storage was disposed');
    return d;
  }

  dispose(): void {
    if (this.#inner === null) return;
    this.#inner = null;
    sim.live--;
    sim.disposed++;
  }
}

/** One SimStorage per CPU storage, so that a kernel that returns an input's storage does not wrap it twice. */
const wrapped = new WeakMap<CpuStorage, SimStorage>();

function toCpu(op: string, x: NDArray): NDArray {
  if (!(x.storage instanceof SimStorage)) throw new Error(`sim backend: ${op} got an array on '${x.device}'`);
  return new NDArray(SimStorage.inner(x.storage), x.shape, x.strides, x.offset);
}

function toSim(y: NDArray): NDArray {
  // The CPU storage lives as long as its SimStorage: exempt it from tidy scopes (the sim one is tracked).
  keep(y);
  const cpu = y.storage as CpuStorage;
  let s = wrapped.get(cpu);
  if (!s) {
    s = new SimStorage(cpu);
    wrapped.set(cpu, s);
  }
  return new NDArray(s, y.shape, y.strides, y.offset);
}

type Arg = NDArray | readonly NDArray[] | null | unknown;

function argToCpu(op: string, a: Arg): Arg {
  if (a instanceof NDArray) return toCpu(op, a);
  if (Array.isArray(a) && a.length > 0 && a.every((v) => v instanceof NDArray)) return a.map((v) => toCpu(op, v as NDArray));
  return a;
}

function resultToSim(r: unknown): unknown {
  if (r instanceof NDArray) return toSim(r);
  if (Array.isArray(r)) return r.map((v) => (v instanceof NDArray ? toSim(v) : v));
  return r;
}

const KERNELS = [
  'copy', 'fill', 'unary', 'binary', 'where', 'reduce', 'argReduce', 'matmul', 'cat', 'gather', 'scatterAdd', 'indexSelect', 'indexAdd',
  'im2col', 'col2im', 'maxPool2d', 'maxPool2dBackward', 'avgPool2d', 'avgPool2dBackward', 'normalizeMoments', 'normalizeForward', 'normalizeBackward',
] as const;

function makeSimBackend(): Backend {
  const be: Record<string, unknown> = {
    device: SIM,
    upload(data: TypedArray): Storage {
      sim.uploads++;
      const cpu = cpuBackend.upload(data) as CpuStorage;
      // Tag the hidden CPU storage now, outside of any scope's reach (its views are made inside kernels).
      keep(new NDArray(cpu, [data.length]));
      return new SimStorage(cpu);
    },
    read(x: NDArray): TypedArray {
      sim.reads++;
      return cpuBackend.read(toCpu('read', x));
    },
    write(dst: NDArray, src: NDArray): void {
      cpuBackend.write(toCpu('write', dst), toCpu('write', src));
    },
    readAsync(x: NDArray): Promise<TypedArray> {
      sim.asyncReads++;
      const data = cpuBackend.read(toCpu('readAsync', x));
      return new Promise((resolve) => setTimeout(() => resolve(data), 0));
    },
  };
  for (const name of KERNELS) {
    const kernel = (cpuBackend as unknown as Record<string, (...a: unknown[]) => unknown>)[name].bind(cpuBackend);
    be[name] = (...args: unknown[]): unknown => resultToSim(kernel(...args.map((a) => argToCpu(name, a))));
  }
  return be as unknown as Backend;
}

export const simBackend = makeSimBackend();
registerBackend(simBackend);

import type { Backend, Device } from './backend.js';
import { cpuBackend } from './cpu/cpu-backend.js';
import { isProfiling, profiledBackend } from './profiler.js';

const backends = new Map<Device, Backend>([['cpu', cpuBackend]]);

/** Makes a backend available under its device name (e.g. the gpu.js backend as `'gpu'`). */
export function registerBackend(backend: Backend): void {
  backends.set(backend.device, backend);
}

/** The backend that owns `device`, or an error listing the devices there are. */
export function backendFor(device: Device): Backend {
  const b = backends.get(device);
  if (!b) {
    throw new Error(`no backend for device '${device}'; registered devices: ${[...backends.keys()].join(', ')}`);
  }
  return isProfiling() ? profiledBackend(b) : b;
}

/** The device names that have a registered backend ('cpu' always). */
export function registeredDevices(): Device[] {
  return [...backends.keys()];
}

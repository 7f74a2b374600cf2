/**
 * Output buffers for kernels that write every element. Zero-filling a large
 * typed array costs as much as a third of a fast elementwise op (a memset of
 * the whole buffer, or page faults on fresh memory), so on Node large outputs
 * come from Buffer.allocUnsafeSlow: its own uninitialized ArrayBuffer.
 * Large float32 outputs first try wasm memory (resident arrays, see
 * wasm/resident.ts), which the SIMD kernels read and write in place.
 */
import { DTYPE_BYTES, type DType, type TypedArrayMap, allocTyped } from '../dtype.js';
import { allocResident } from './wasm/resident.js';

/**
 * Outputs below this many bytes are zero-filled as usual (cheap, and no
 * malloc per op). From 4 KiB a float32 output goes to wasm memory: a
 * training step's activations of a few thousand floats are then read in
 * place by the next kernel (the BN-paper MLP step ran ~20% faster than with
 * a 64 KiB threshold).
 */
const UNINIT_MIN_BYTES = 1 << 12;

type AllocUnsafeSlow = (size: number) => Uint8Array;
const allocUnsafeSlow = (globalThis as { Buffer?: { allocUnsafeSlow?: AllocUnsafeSlow } }).Buffer?.allocUnsafeSlow;

/**
 * A typed array for `dtype` whose contents are unspecified: the caller must
 * write every element before anyone reads it.
 */
export function allocUninit<D extends DType>(dtype: D, size: number): TypedArrayMap[D];
export function allocUninit(dtype: DType, size: number): TypedArrayMap[DType] {
  const bytes = size * DTYPE_BYTES[dtype];
  if (bytes < UNINIT_MIN_BYTES) return allocTyped(dtype, size);
  if (dtype === 'float32') {
    const resident = allocResident(size);
    if (resident) return resident;
  }
  if (allocUnsafeSlow === undefined) return allocTyped(dtype, size);
  // A Buffer is a Uint8Array subclass with other slice() semantics: view its ArrayBuffer instead.
  const { buffer, byteOffset } = allocUnsafeSlow(bytes);
  switch (dtype) {
    case 'float32':
      return new Float32Array(buffer, byteOffset, size);
    case 'float64':
      return new Float64Array(buffer, byteOffset, size);
    case 'int32':
      return new Int32Array(buffer, byteOffset, size);
    case 'bool':
      return new Uint8Array(buffer, byteOffset, size);
  }
}

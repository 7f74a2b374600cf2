/**
 * Output buffers for kernels that write every element. Zero-filling a large
 * typed array costs as much as a third of a fast elementwise op (a memset of
 * the whole buffer, or page faults on fresh memory), so on Node large outputs
 * come from Buffer.allocUnsafeSlow: its own uninitialized ArrayBuffer.
 */
import { type DType, type TypedArrayMap, allocTyped } from '../dtype.js';

/** Outputs below this many bytes are zero-filled as usual (cheap, and no malloc per op). */
const UNINIT_MIN_BYTES = 1 << 16;

const BYTES: Record<DType, number> = { float32: 4, float64: 8, int32: 4, bool: 1 };

type AllocUnsafeSlow = (size: number) => Uint8Array;
const allocUnsafeSlow = (globalThis as { Buffer?: { allocUnsafeSlow?: AllocUnsafeSlow } }).Buffer?.allocUnsafeSlow;

/**
 * A typed array for `dtype` whose contents are unspecified: the caller must
 * write every element before anyone reads it.
 */
export function allocUninit<D extends DType>(dtype: D, size: number): TypedArrayMap[D];
export function allocUninit(dtype: DType, size: number): TypedArrayMap[DType] {
  const bytes = size * BYTES[dtype];
  if (allocUnsafeSlow === undefined || bytes < UNINIT_MIN_BYTES) return allocTyped(dtype, size);
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

/**
 * Element types. `float32` is the default; `float64` exists for checking
 * gradients; `int32` holds indices (argmax, gather, randint); `bool` holds the
 * results of comparisons (stored as 0/1 bytes).
 */
export type DType = 'float32' | 'float64' | 'int32' | 'bool';

/** The typed array that stores each dtype on the CPU. */
export interface TypedArrayMap {
  float32: Float32Array;
  float64: Float64Array;
  int32: Int32Array;
  bool: Uint8Array;
}

/** The typed array of any dtype: Float32Array, Float64Array, Int32Array or Uint8Array (bool). */
export type TypedArray = TypedArrayMap[DType];

/** Every dtype normlab has: float32, float64, int32, bool. */
export const DTYPES: readonly DType[] = ['float32', 'float64', 'int32', 'bool'];

/** Bytes per element of each dtype's typed array. */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = { float32: 4, float64: 8, int32: 4, bool: 1 };

/** Whether `dtype` is a floating-point type (float32 or float64). */
export function isFloat(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64';
}

/** Allocates a zero-filled typed array for `dtype`. */
export function allocTyped<D extends DType>(dtype: D, size: number): TypedArrayMap[D];
export function allocTyped(dtype: DType, size: number): TypedArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(size);
    case 'float64':
      return new Float64Array(size);
    case 'int32':
      return new Int32Array(size);
    case 'bool':
      return new Uint8Array(size);
  }
  // A dtype from a user's options that the type system did not catch (plain JS, a cast).
  throw new TypeError(`unknown dtype ${JSON.stringify(dtype)}; expected one of ${DTYPES.join(', ')}`);
}

/** The dtype whose storage a typed array is, or an error for other arrays. */
export function dtypeOfTyped(data: ArrayBufferView): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Uint8Array) return 'bool';
  throw new TypeError(`fromArray: unsupported typed array ${data.constructor.name}; expected Float32Array, Float64Array, Int32Array or Uint8Array`);
}

const RANK: Record<DType, number> = { bool: 0, int32: 1, float32: 2, float64: 3 };

/** Type promotion for binary arithmetic, as in PyTorch for these four types. */
export function promoteTypes(a: DType, b: DType): DType {
  return RANK[a] >= RANK[b] ? a : b;
}

const CATEGORY: Record<DType, number> = { bool: 0, int32: 1, float32: 2, float64: 2 };

/**
 * The result dtype of a binary op, as PyTorch's result_type: a 0-D operand
 * beside an n-D one only matters when it is of a higher category (bool <
 * integer < float), and then gives the default float32 or int32; otherwise
 * the usual promotion applies. So float32 + (0-D float64) stays float32.
 */
export function resultType(a: DType, aRank: number, b: DType, bRank: number): DType {
  if ((aRank === 0) === (bRank === 0)) return promoteTypes(a, b);
  const [dimmed, zero] = aRank === 0 ? [b, a] : [a, b];
  if (CATEGORY[zero] <= CATEGORY[dimmed]) return dimmed;
  return CATEGORY[zero] === 2 ? 'float32' : 'int32';
}

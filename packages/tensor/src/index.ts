/**
 * @normlab/tensor: n-dimensional arrays on pluggable devices, and the kernels
 * behind every op. No gradients here: `@normlab/autograd` builds on it.
 */
export type { AffineLayout, Backend, BinaryOp, Conv2dGeometry, Device, Pool2dGeometry, ReduceOp, Storage, UnaryOp } from './backend.js';
export { BOOL_RESULT } from './elementwise-table.js';
export { type DType, type TypedArray, DTYPES, isFloat, promoteTypes, resultType } from './dtype.js';
export { erf as erfScalar } from './erf.js';
export { NDArray, type NestedArray } from './ndarray.js';
export { Generator, type GeneratorState, defaultGenerator, manualSeed, watchDraws } from './random.js';
export { backendFor, registerBackend, registeredDevices } from './registry.js';
export { type Profile, type ProfileRow, isProfiling, profile, recordFunction } from './profiler.js';
export {
  TIDY_CHILDREN, type TidyHolder, checkNotDisposed, dispose, isDisposed, isTidyActive, keep, noteHolder, noteHolderWrite, reachableStorages, tidy,
} from './tidy.js';
export { type Shape, broadcastShapes, contiguousStrides, fmtShape, normalizeDim, normalizeDims, shapesEqual, sizeOf } from './shape.js';
export * from './creation.js';
export * from './ops/elementwise.js';
export * from './ops/reduce.js';
export * from './ops/linalg.js';
export { CpuBackend, CpuStorage, cpuBackend } from './cpu/cpu-backend.js';
export { getNumThreads, setNumThreads } from './cpu/matmul.js';
export { type CpuMemoryInfo, cpuMemory } from './cpu/wasm/resident.js';
export { type KernelVariant, cpuKernelVariant } from './cpu/wasm/kernels.js';
export * from './ops/conv.js';
export * from './ops/pool.js';
export * from './ops/join.js';
export * from './ops/indexing.js';
export * from './ops/normalize.js';
export * from './ops/normalize-affine.js';
export * from './ops/write.js';
export { writeStrided } from './strided-write.js';

/**
 * Kernel sources for gpu.js, generated per op and shape: every shape, stride
 * and offset is a literal, so each loop is bounded by a constant and the
 * index arithmetic folds. Sources are JavaScript functions with parameters
 * a0, a1, ... (device buffers or scalars) and a flat 1-D output; the worker
 * compiles them with gpu.js (WGSL on webgpu, WebAssembly on webasm, JS on cpu).
 *
 * Index arithmetic: gpu.js computes in float32, so indices are exact below
 * 2^24. Division is not exact on every GPU (WGSL allows 2.5 ulp), so each
 * div/mod is floor((i + 0.5) / d) with a remainder correction; results are
 * exact for i < 2^24 (MAX_ELEMENTS).
 */
// One file per kernel family, as the CPU backend's kernels are split.
export * from './codegen/common.js';
export * from './codegen/elementwise.js';
export * from './codegen/reduce.js';
export * from './codegen/matmul.js';
export * from './codegen/normalize.js';
export * from './codegen/normalize-affine.js';
export * from './codegen/indexing.js';
export * from './codegen/conv-pool.js';

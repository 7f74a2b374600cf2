// Node 20 compiles relaxed SIMD (the CPU kernels' FMA build) only under this
// flag, which Node 22+ (where it is on by default) rejects as unknown.
export const RELAXED_SIMD_FLAGS = Number(process.versions.node.split('.')[0]) < 22 ? ['--experimental-wasm-relaxed-simd'] : [];

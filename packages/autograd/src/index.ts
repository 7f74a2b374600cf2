/**
 * @normlab/autograd: define-by-run reverse-mode differentiation over
 * @normlab/tensor arrays, to any order.
 */
export { Tensor, type TensorOptions, type HookHandle } from './tensor.js';
export { Node, type BackwardFn, type GradHook } from './node.js';
export { backward, grad, type BackwardOptions, type GradOptions } from './engine.js';
export { noGrad, enableGrad, isGradEnabled } from './grad-mode.js';
export { isForwardADActive, type ForwardFn } from './forward-ad.js';
export { detectAnomaly, isAnomalyEnabled } from './anomaly.js';
export { vjp, jvp, jacrev, jacfwd, hessian, hvp } from './func.js';
export { vmap, isVmapping, type VmapOptions, type VmapDims } from './vmap.js';
export { record, saveForBackward, sumTangents, type TensorLike } from './function.js';
export { gradcheck, gradgradcheck, type GradcheckOptions } from './gradcheck.js';
export * from './ops/elementwise.js';
export * from './ops/reduce.js';
export * from './ops/linalg.js';
export * from './ops/views.js';
export * from './creation.js';
export * from './ops/indexing.js';
export * from './ops/join.js';
export * from './ops/conv.js';
export * from './ops/pool.js';
export { add_, sub_, mul_, div_, clamp_, fill_, zero_, copy_, normal_, uniform_, type AlphaOptions, type InPlaceRandomOptions } from './ops/in-place.js';
export { tidy, keep, dispose, isDisposed, TIDY_CHILDREN, type TidyHolder } from '@normlab/tensor';

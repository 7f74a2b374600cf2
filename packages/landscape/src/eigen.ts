import { Tensor, grad } from '@normlab/autograd';
import type { Module } from '@normlab/nn';
import * as nd from '@normlab/tensor';
import { type LossFn, type ProbeOptions, dot, hostConcat, lossAndGrads, norm, probe, trainable, zerosOf } from './guard.js';

/** Options of `hessianEigenvalues`. */
export interface HessianEigenOptions extends ProbeOptions {
  /** How many eigenvalues, largest in magnitude first; 1 by default (the sharpness). */
  k?: number;
  /** Most power iterations per eigenvalue; 100 by default. */
  iterations?: number;
  /** Stop an eigenvalue when it changes by less than tol * |lambda| between iterations; 1e-6 by default. */
  tol?: number;
  /** Seed of the random starting vectors (their own generator: the model's and the default one are untouched); 0 by default. */
  seed?: number;
}

/** What `hessianEigenvalues` measures. */
export interface HessianEigen {
  /** The loss at the current parameters. */
  loss: number;
  /** The eigenvalues found, by decreasing magnitude (the first is the sharpness researchers report). */
  eigenvalues: number[];
  /** Their unit eigenvectors over the trainable parameters (`namedParameters()` order, requiring grad), in float64. */
  eigenvectors: Float64Array[];
  /** Power iterations each eigenvalue took. */
  iterations: number[];
}

/**
 * The top-k eigenvalues of the loss's Hessian with respect to the trainable
 * parameters (the sharpness λ_max, and the next ones), by power iteration
 * with deflation on Hessian-vector products through double backward (the
 * Hessian is never formed): for each eigenvalue, v <- (H - Σ λ_j u_j u_j^T) v
 * / ||.|| until λ = v^T H v settles. Power iteration finds eigenvalues by
 * magnitude, so a large negative curvature would come before a smaller
 * positive one. Training mode by default (BatchNorm with batch statistics,
 * as when a training step's gradient is computed); the model, gradients,
 * buffers, generators and optimizers are left exactly as they were.
 */
export function hessianEigenvalues<M extends Module, B>(model: M, lossFn: LossFn<M, B>, batch: B, options: HessianEigenOptions = {}): HessianEigen {
  const k = options.k ?? 1;
  const iterations = options.iterations ?? 100;
  const tol = options.tol ?? 1e-6;
  if (!(Number.isInteger(k) && k >= 1)) throw new RangeError(`hessianEigenvalues: k must be a positive integer, got ${k}`);
  if (!(Number.isInteger(iterations) && iterations >= 1)) throw new RangeError(`hessianEigenvalues: iterations must be a positive integer, got ${iterations}`);
  if (!(tol >= 0)) throw new RangeError(`hessianEigenvalues: tol must be non-negative, got ${tol}`);
  return probe(model, options, (guard) => {
    const params = trainable(model).map(([, p]) => p);
    const n = params.reduce((s, p) => s + p.size, 0);
    if (k > n) throw new RangeError(`hessianEigenvalues: k = ${k} but the model has ${n} trainable values`);
    const at = lossAndGrads(guard, lossFn, batch, params, { createGraph: true });
    const differentiable = at.grads.some((g) => g.requiresGrad);
    /** H v on the host: v cut into the parameters' shapes, <g, v> differentiated once more. */
    const hv = (v: Float64Array): Float64Array => {
      if (!differentiable) return new Float64Array(n);
      let offset = 0;
      const terms: Tensor[] = [];
      params.forEach((p, i) => {
        const slice = new Tensor(nd.fromTyped(v.slice(offset, offset + p.size), p.shape).astype(p.dtype).to(p.device));
        offset += p.size;
        if (at.grads[i].requiresGrad) terms.push(at.grads[i].mul(slice).sum());
      });
      const hs = grad(terms.reduce((a, b) => a.add(b)), params, { allowUnused: true, retainGraph: true });
      return hostConcat(hs.map((h, i) => h ?? zerosOf(params[i])));
    };
    const gen = new nd.Generator(options.seed ?? 0);
    const found: { value: number; vector: Float64Array; iterations: number }[] = [];
    for (let j = 0; j < k; j++) {
      let v: Float64Array = Float64Array.from({ length: n }, () => gen.normal());
      let lambda = 0;
      let it = 0;
      for (; it < iterations; it++) {
        deflate(v, found);
        const vn = norm(v);
        if (vn === 0) break;
        for (let i = 0; i < n; i++) v[i] /= vn;
        const w = hv(v);
        // (H - Σ λ_j u_j u_j^T) v: earlier eigenvectors contribute nothing again.
        for (const f of found) {
          const c = f.value * dot(f.vector, v);
          for (let i = 0; i < n; i++) w[i] -= c * f.vector[i];
        }
        const next = dot(v, w);
        const settled = it > 0 && Math.abs(next - lambda) <= tol * Math.abs(next);
        lambda = next;
        v = w;
        if (settled) break;
      }
      deflate(v, found);
      const vn = norm(v);
      found.push({ value: lambda, vector: vn > 0 ? v.map((x) => x / vn) : v, iterations: Math.min(it + 1, iterations) });
    }
    return { loss: at.loss, eigenvalues: found.map((f) => f.value), eigenvectors: found.map((f) => f.vector), iterations: found.map((f) => f.iterations) };
  });
}

/** Removes from v its components along the eigenvectors found so far (Gram-Schmidt), in place. */
function deflate(v: Float64Array, found: readonly { vector: Float64Array }[]): void {
  for (const f of found) {
    const c = dot(f.vector, v);
    for (let i = 0; i < v.length; i++) v[i] -= c * f.vector[i];
  }
}

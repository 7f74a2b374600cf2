import { Tensor, grad } from '@normlab/autograd';
import type { Module } from '@normlab/nn';
import * as nd from '@normlab/tensor';
import { type LossFn, type ProbeOptions, dot, hostConcat, lossAndGrads, norm, probe, trainable, zerosOf } from './guard.js';
import { symmetricEigen } from './symmetric-eigen.js';

/** Options of `hessianEigenvalues`. */
export interface HessianEigenOptions extends ProbeOptions {
  /** How many eigenvalues, largest in magnitude first; 1 by default (the sharpness). */
  k?: number;
  /** Most power iterations per eigenvalue (100 by default); with Lanczos, the subspace's dimension. */
  iterations?: number;
  /** Power iteration: stop an eigenvalue when it changes by less than tol * |lambda| between iterations; 1e-6 by default. */
  tol?: number;
  /** Seed of the random starting vectors (their own generator: the model's and the default one are untouched); 0 by default. */
  seed?: number;
  /**
   * 'power' (default): power iteration with deflation, eigenvalue by
   * eigenvalue. 'lanczos': one Krylov subspace of `iterations` Hessian-vector
   * products (default min(n, max(30, 3k))) with full reorthogonalization,
   * its tridiagonal matrix diagonalized exactly; the k largest Ritz values.
   */
  method?: 'power' | 'lanczos';
}

/** What `hessianEigenvalues` measures. */
export interface HessianEigen {
  /** The loss at the current parameters. */
  loss: number;
  /** The eigenvalues found, by decreasing magnitude (the first is the sharpness researchers report). */
  eigenvalues: number[];
  /** Their unit eigenvectors over the trainable parameters (`namedParameters()` order, requiring grad), in float64. */
  eigenvectors: Float64Array[];
  /** Power iterations each eigenvalue took; with Lanczos, the subspace's dimension (the Hessian-vector products), for each. */
  iterations: number[];
}

/**
 * The top-k eigenvalues of the loss's Hessian with respect to the trainable
 * parameters (the sharpness λ_max, and the next ones), by power iteration
 * with deflation on Hessian-vector products through double backward (the
 * Hessian is never formed): for each eigenvalue, v <- (H - Σ λ_j u_j u_j^T) v
 * / ||.|| until λ = v^T H v settles; or, with `method: 'lanczos'`, by
 * Lanczos iteration (all k from one Krylov subspace, usually in fewer
 * products). Both find eigenvalues by magnitude, so a large negative
 * curvature would come before a smaller positive one. Training mode by default (BatchNorm with batch statistics,
 * as when a training step's gradient is computed); the model, gradients,
 * buffers, generators and optimizers are left exactly as they were.
 */
export function hessianEigenvalues<M extends Module, B>(model: M, lossFn: LossFn<M, B>, batch: B, options: HessianEigenOptions = {}): HessianEigen {
  const k = options.k ?? 1;
  const method = options.method ?? 'power';
  const tol = options.tol ?? 1e-6;
  if (method !== 'power' && method !== 'lanczos') throw new RangeError(`hessianEigenvalues: method must be 'power' or 'lanczos', got '${String(method)}'`);
  if (!(Number.isInteger(k) && k >= 1)) throw new RangeError(`hessianEigenvalues: k must be a positive integer, got ${k}`);
  if (options.iterations !== undefined && !(Number.isInteger(options.iterations) && options.iterations >= 1)) {
    throw new RangeError(`hessianEigenvalues: iterations must be a positive integer, got ${options.iterations}`);
  }
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
    const start = (): Float64Array => Float64Array.from({ length: n }, () => gen.normal());
    if (method === 'lanczos') {
      const m = Math.min(n, options.iterations ?? Math.max(30, 3 * k));
      if (k > m) throw new RangeError(`hessianEigenvalues: k = ${k} is more than the ${m} Lanczos iterations`);
      const r = lanczos(hv, start(), m, k);
      return { loss: at.loss, ...r };
    }
    const iterations = options.iterations ?? 100;
    const found: { value: number; vector: Float64Array; iterations: number }[] = [];
    for (let j = 0; j < k; j++) {
      let v: Float64Array = start();
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

/**
 * Lanczos with full reorthogonalization: an orthonormal basis V of the
 * Krylov subspace of H from v0 (m products, fewer if it becomes invariant),
 * T = V^T H V tridiagonal, and the k Ritz pairs of T largest in magnitude.
 */
function lanczos(hv: (v: Float64Array) => Float64Array, v0: Float64Array, m: number, k: number): Pick<HessianEigen, 'eigenvalues' | 'eigenvectors' | 'iterations'> {
  const basis: Float64Array[] = [];
  const alpha: number[] = [];
  const beta: number[] = [];
  let v = v0.map((x) => x / norm(v0));
  for (let j = 0; j < m; j++) {
    basis.push(v);
    const w = hv(v);
    alpha.push(dot(w, v));
    // Twice against the whole basis: the three-term recurrence alone loses orthogonality in floating point.
    for (let pass = 0; pass < 2; pass++) deflate(w, basis.map((vector) => ({ vector })));
    const b = norm(w);
    const scale = Math.max(...alpha.map(Math.abs), ...beta, 1e-300);
    if (j === m - 1 || b <= 1e-12 * scale) break;
    beta.push(b);
    v = w.map((x) => x / b);
  }
  const size = alpha.length;
  const t = new Float64Array(size * size);
  for (let i = 0; i < size; i++) {
    t[i * size + i] = alpha[i];
    if (i + 1 < size) t[i * size + i + 1] = t[(i + 1) * size + i] = beta[i];
  }
  const { values, vectors } = symmetricEigen(t, size);
  const top = Math.min(k, size);
  const n = v0.length;
  const ritz = vectors.slice(0, top).map((y) => {
    const u = new Float64Array(n);
    y.forEach((c, i) => {
      for (let q = 0; q < n; q++) u[q] += c * basis[i][q];
    });
    const un = norm(u);
    return un > 0 ? u.map((x) => x / un) : u;
  });
  return { eigenvalues: values.slice(0, top), eigenvectors: ritz, iterations: Array.from({ length: top }, () => size) };
}

/** Removes from v its components along the eigenvectors found so far (Gram-Schmidt), in place. */
function deflate(v: Float64Array, found: readonly { vector: Float64Array }[]): void {
  for (const f of found) {
    const c = dot(f.vector, v);
    for (let i = 0; i < v.length; i++) v[i] -= c * f.vector[i];
  }
}

import { type NDArray, fmtShape, fromTyped } from '@normlab/tensor';
import { grad } from './engine.js';
import { setTangent, tangentAt, withDualLevel } from './forward-ad.js';
import { Tensor } from './tensor.js';

/** Step and tolerances of `gradcheck` and `gradgradcheck` (torch.autograd.gradcheck's). */
export interface GradcheckOptions {
  /** Finite-difference step (default 1e-6). */
  eps?: number;
  /** Absolute tolerance (default 1e-5). */
  atol?: number;
  /** Relative tolerance (default 1e-3). */
  rtol?: number;
  /** Throw on failure with a report (default true); otherwise return false. */
  raiseException?: boolean;
  /**
   * Also check forward mode: the Jacobian built column by column from
   * tangents (one forward per input element) against the same finite
   * differences (default false, as PyTorch's `check_forward_ad`).
   */
  checkForwardAD?: boolean;
}

/**
 * Compares the analytic Jacobian of `fn` at `inputs` with central finite
 * differences, as `torch.autograd.gradcheck`. Inputs that require grad must
 * be float64 (float32 differences are too coarse to check anything).
 * The analytic side uses one backward per output element; the numeric side
 * two forwards per input element: keep the tensors small.
 */
export function gradcheck(fn: (...xs: Tensor[]) => Tensor | Tensor[], inputs: readonly Tensor[], options: GradcheckOptions = {}): boolean {
  const eps = options.eps ?? 1e-6;
  const atol = options.atol ?? 1e-5;
  const rtol = options.rtol ?? 1e-3;
  const diffInputs = inputs.filter((t) => t.requiresGrad);
  if (diffInputs.length === 0) throw new Error('gradcheck: no input requires grad');
  for (const [i, t] of inputs.entries()) {
    if (t.requiresGrad && t.dtype !== 'float64') {
      throw new TypeError(`gradcheck: input ${i} is ${t.dtype}; use float64 inputs (x.double()) for finite differences`);
    }
  }
  const asList = (r: Tensor | Tensor[]): Tensor[] => (Array.isArray(r) ? r : [r]);
  const outputs = asList(fn(...inputs));
  const forward = options.checkForwardAD ? forwardJacobians(fn, inputs, diffInputs, outputs) : null;
  for (const [oi, out] of outputs.entries()) {
    const analytic = analyticJacobian(out, diffInputs);
    // Not under noGrad: fn may itself differentiate (gradgradcheck).
    const numeric = numericJacobian(() => asList(fn(...inputs))[oi].data, diffInputs, eps);
    const modes: [string, Float64Array[]][] = [['analytic', analytic]];
    if (forward) modes.push(['forward-mode', forward[oi]]);
    for (const [mode, jacobian] of modes) {
      for (let k = 0; k < diffInputs.length; k++) {
        const a = jacobian[k];
        const n = numeric[k];
        for (let j = 0; j < a.length; j++) {
          if (!(Math.abs(a[j] - n[j]) <= atol + rtol * Math.abs(n[j]))) {
            const msg = `gradcheck: ${mode === 'analytic' ? '' : 'forward-mode '}Jacobian mismatch for output ${oi} with respect to input ${inputs.indexOf(diffInputs[k])} (shape ${fmtShape(diffInputs[k].shape)}) at flat entry ${j}: ${mode} ${a[j]}, numeric ${n[j]}`;
            if (options.raiseException ?? true) throw new Error(msg);
            return false;
          }
        }
      }
    }
  }
  return true;
}

/**
 * The Jacobians by forward mode, one forward per input element with a
 * one-hot tangent on that input: result[output][input][o * nIn + i]. The
 * tangent goes on the input tensor itself (for the level's lifetime), so
 * that a function reading it from its closure sees it, as the numeric side does.
 */
function forwardJacobians(fn: (...xs: Tensor[]) => Tensor | Tensor[], inputs: readonly Tensor[], diffInputs: readonly Tensor[], outputs: readonly Tensor[]): Float64Array[][] {
  const jac = outputs.map((out) => diffInputs.map((x) => new Float64Array(out.size * x.size)));
  diffInputs.forEach((x, k) => {
    for (let i = 0; i < x.size; i++) {
      withDualLevel((level) => {
        const e = new Float64Array(x.size);
        e[i] = 1;
        setTangent(level, x, new Tensor(fromTyped(e, x.shape, x.device)));
        const result = fn(...inputs);
        (Array.isArray(result) ? result : [result]).forEach((out, oi) => {
          const t = tangentAt(level, out);
          if (!t) return;
          const v = t.toTypedArray();
          for (let o = 0; o < v.length; o++) jac[oi][k][o * x.size + i] = Number(v[o]);
        });
      });
    }
  });
  return jac;
}

/** Jacobian rows by one backward per output element: result[k][o * nIn + i]. */
function analyticJacobian(out: Tensor, inputs: readonly Tensor[]): Float64Array[] {
  const jac = inputs.map((x) => new Float64Array(out.size * x.size));
  if (!out.requiresGrad) return jac;
  for (let o = 0; o < out.size; o++) {
    const seed = new Float64Array(out.size);
    seed[o] = 1;
    const gs = grad([out], inputs, { gradOutputs: [new Tensor(fromTyped(seed, out.shape, out.device).astype(out.dtype))], retainGraph: true, allowUnused: true });
    gs.forEach((g, k) => {
      if (!g) return;
      const v = g.toTypedArray();
      for (let i = 0; i < v.length; i++) jac[k][o * inputs[k].size + i] = v[i];
    });
  }
  return jac;
}

/** Central differences, perturbing each input element in place. */
function numericJacobian(f: () => NDArray, inputs: readonly Tensor[], eps: number): Float64Array[] {
  return inputs.map((x) => {
    const original = x.data;
    const base = original.toTypedArray() as Float64Array;
    const outSize = f().size;
    const jac = new Float64Array(outSize * x.size);
    for (let i = 0; i < x.size; i++) {
      const probe = (delta: number): Float64Array => {
        const v = base.slice();
        v[i] += delta;
        x.data = fromTyped(v, original.shape, original.device);
        return f().astype('float64').toTypedArray() as Float64Array;
      };
      const plus = probe(eps);
      const minus = probe(-eps);
      for (let o = 0; o < outSize; o++) jac[o * x.size + i] = (plus[o] - minus[o]) / (2 * eps);
    }
    x.data = original;
    return jac;
  });
}

/**
 * Checks second derivatives: the gradient of `fn` (with random upstream
 * gradients) is itself gradient-checked, as `torch.autograd.gradgradcheck`.
 */
export function gradgradcheck(fn: (...xs: Tensor[]) => Tensor, inputs: readonly Tensor[], options: GradcheckOptions & { seed?: number } = {}): boolean {
  const diffInputs = inputs.filter((t) => t.requiresGrad);
  const out = fn(...inputs);
  let state = options.seed ?? 1;
  const rnd = (): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32 - 0.5;
  };
  const up = Float64Array.from({ length: out.size }, rnd);
  const v = new Tensor(fromTyped(up, out.shape, out.device));
  const gradFn = (...xs: Tensor[]): Tensor[] => {
    const o = fn(...xs);
    const gs = grad([o], xs.filter((t) => t.requiresGrad), { gradOutputs: [v], createGraph: true, allowUnused: true });
    return gs.map((g, k) => g ?? new Tensor(fromTyped(new Float64Array(diffInputs[k].size), diffInputs[k].shape, diffInputs[k].device)));
  };
  return gradcheck(gradFn, inputs, options);
}
